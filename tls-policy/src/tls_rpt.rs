//! The SMTP TLS reporting record (RFC 8460 section 3): where a domain
//! wants aggregate reports about TLS sessions to its mail servers.
//!
//! ```
//! use tls_policy::TlsRptRecord;
//!
//! let record = TlsRptRecord::parse(&["v=TLSRPTv1; rua=mailto:tls@example.net".to_owned()]).unwrap();
//! assert_eq!(record.mail, ["tls@example.net"]);
//! ```

/// The report destinations of a `_smtp._tls` TXT record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsRptRecord {
    /// `mailto:` addresses.
    pub mail: Vec<String>,
    /// `https:` endpoints.
    pub https: Vec<String>,
}

impl TlsRptRecord {
    /// Reads the TXT records at `_smtp._tls.DOMAIN`: `None` unless exactly
    /// one has the `v=TLSRPTv1` tag and it names a destination in `rua`.
    pub fn parse(records: &[String]) -> Option<TlsRptRecord> {
        let mut matching = records
            .iter()
            .filter(|record| record.trim_start().starts_with("v=TLSRPTv1"));
        let record = matching.next()?;
        if matching.next().is_some() {
            // RFC 8460 section 3: several records mean none applies.
            return None;
        }
        let rua = record
            .split(';')
            .filter_map(|field| field.trim().split_once('='))
            .find(|(name, _)| name.trim() == "rua")?
            .1;
        let mut destinations = TlsRptRecord {
            mail: Vec::new(),
            https: Vec::new(),
        };
        for uri in rua.split(',').map(str::trim) {
            if let Some(address) = uri.strip_prefix("mailto:") {
                // No query part (`?subject=...`) is used, and no
                // percent-encoding beyond `%40`.
                let address = address.split('?').next().unwrap_or("").replace("%40", "@");
                if address.contains('@')
                    && !address
                        .chars()
                        .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>')
                {
                    destinations.mail.push(address);
                }
            } else if uri.starts_with("https://") {
                destinations.https.push(uri.to_owned());
            }
        }
        (!destinations.mail.is_empty() || !destinations.https.is_empty()).then_some(destinations)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn records_name_mail_and_https_destinations() {
        let parsed = TlsRptRecord::parse(&[
            "v=spf1 -all".into(),
            "v=TLSRPTv1; rua=mailto:tls%40example.net,mailto:b@example.net?subject=x, https://r.example.net/tlsrpt".into(),
        ])
        .unwrap();
        assert_eq!(parsed.mail, ["tls@example.net", "b@example.net"]);
        assert_eq!(parsed.https, ["https://r.example.net/tlsrpt"]);
        assert_eq!(TlsRptRecord::parse(&["v=spf1 -all".into()]), None);
        let twice = [
            "v=TLSRPTv1; rua=mailto:a@x.example".to_owned(),
            "v=TLSRPTv1; rua=mailto:b@x.example".to_owned(),
        ];
        assert_eq!(
            TlsRptRecord::parse(&twice),
            None,
            "two records: none applies"
        );
        assert_eq!(TlsRptRecord::parse(&["v=TLSRPTv1; ruf=x".into()]), None);
        assert_eq!(
            TlsRptRecord::parse(&["v=TLSRPTv1; rua=mailto:a b@x.example".into()]),
            None,
            "an address with a space could inject into an SMTP command"
        );
    }
}
