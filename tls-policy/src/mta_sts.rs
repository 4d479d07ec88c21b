//! SMTP MTA Strict Transport Security (RFC 8461): a domain announces in a
//! `_mta-sts` TXT record that it has a policy, and serves the policy over
//! HTTPS from `mta-sts.DOMAIN`; in mode `enforce` mail may go only to the MX
//! hosts the policy lists, over TLS with a valid certificate for the MX
//! name ([`Profile::mta_sts`](crate::Profile::mta_sts)).
//!
//! ```
//! use tls_policy::{StsMode, StsPolicy};
//!
//! let policy = StsPolicy::parse("version: STSv1\r\nmode: enforce\r\nmx: *.mail.example.net\r\nmax_age: 86400\r\n")?;
//! assert_eq!(policy.mode, StsMode::Enforce);
//! assert!(policy.permits_mx("mx1.mail.example.net"));
//! assert!(!policy.permits_mx("evil.example.org"));
//! # Ok::<(), tls_policy::MtaStsError>(())
//! ```

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::dns::{Dns, DnsError};
use crate::handshake::TrustAnchors;

/// The largest policy body read (RFC 8461 section 3.3: 64 KiB).
const MAX_POLICY: usize = 64 * 1024;
/// The largest response head (status line and header fields) read.
const MAX_HEAD: usize = 16 * 1024;
/// The longest a policy may be cached (RFC 8461 section 3.2: one year).
const MAX_AGE: u64 = 31_557_600;

/// What the policy asks of senders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StsMode {
    /// Deliver only to listed MX hosts over validated TLS.
    Enforce,
    /// Deliver as usual; report what enforcing would have refused.
    Testing,
    /// The domain withdrew its policy.
    None,
}

/// An MTA-STS policy (RFC 8461 section 3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsPolicy {
    /// What senders must do.
    pub mode: StsMode,
    /// MX host patterns (`mx.example.net`, `*.example.net`), lower case.
    pub mx: Vec<String>,
    /// How long the policy may be cached.
    pub max_age: Duration,
}

/// Why no policy could be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MtaStsError {
    /// The TXT lookup failed (not: there is no record).
    #[error("MTA-STS record lookup: {0}")]
    Dns(#[from] DnsError),
    /// The HTTPS fetch of the policy failed.
    #[error("fetching the MTA-STS policy of {domain}: {reason}")]
    Fetch {
        /// The policy domain.
        domain: String,
        /// What went wrong.
        reason: String,
    },
    /// The policy text is not a valid STSv1 policy.
    #[error("invalid MTA-STS policy: {0}")]
    Policy(String),
}

impl StsPolicy {
    /// Parses a policy body: `key: value` lines (CRLF or LF), `version:
    /// STSv1`, `mode`, `max_age`, and `mx` (unless the mode is `none`);
    /// unknown keys are ignored (RFC 8461 section 3.2).
    pub fn parse(text: &str) -> Result<StsPolicy, MtaStsError> {
        let invalid = |what: &str| MtaStsError::Policy(what.to_owned());
        let mut version = None;
        let mut mode = None;
        let mut max_age = None;
        let mut mx = Vec::new();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let (key, value) = line
                .split_once(':')
                .ok_or_else(|| invalid("a line without 'key: value'"))?;
            let value = value.trim();
            match key.trim() {
                "version" => version = Some(value.to_owned()),
                "mode" => {
                    mode = Some(match value {
                        "enforce" => StsMode::Enforce,
                        "testing" => StsMode::Testing,
                        "none" => StsMode::None,
                        _ => return Err(invalid("mode is not enforce, testing or none")),
                    });
                }
                "max_age" => {
                    let seconds: u64 = value
                        .parse()
                        .ok()
                        .filter(|_| value.len() <= 10 && value.bytes().all(|b| b.is_ascii_digit()))
                        .ok_or_else(|| invalid("max_age is not a number of seconds"))?;
                    max_age = Some(Duration::from_secs(seconds.min(MAX_AGE)));
                }
                "mx" => {
                    let pattern = value.trim_end_matches('.').to_ascii_lowercase();
                    let host = pattern.strip_prefix("*.").unwrap_or(&pattern);
                    if host.is_empty()
                        || host.contains('*')
                        || !host
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                    {
                        return Err(invalid("an mx pattern is not a host name"));
                    }
                    mx.push(pattern);
                }
                _ => {}
            }
        }
        if version.as_deref() != Some("STSv1") {
            return Err(invalid("version is not STSv1"));
        }
        let mode = mode.ok_or_else(|| invalid("no mode"))?;
        let max_age = max_age.ok_or_else(|| invalid("no max_age"))?;
        if mx.is_empty() && mode != StsMode::None {
            return Err(invalid("no mx"));
        }
        Ok(StsPolicy { mode, mx, max_age })
    }

    /// Whether `host` (an MX host name) matches one of the policy's
    /// patterns; `*.` stands for exactly one label (RFC 8461 section 4.1).
    pub fn permits_mx(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx
            .iter()
            .any(|pattern| match pattern.strip_prefix("*.") {
                Some(parent) => host
                    .strip_suffix(parent)
                    .and_then(|rest| rest.strip_suffix('.'))
                    .is_some_and(|label| !label.is_empty() && !label.contains('.')),
                None => *pattern == host,
            })
    }
}

/// The `id` of the one `v=STSv1` TXT record among `records` (RFC 8461
/// section 3.1), or `None` (no record, or several: no policy).
pub fn sts_record_id(records: &[String]) -> Option<String> {
    let mut matching = records
        .iter()
        .filter(|record| record.trim_start().starts_with("v=STSv1"));
    let record = matching.next()?;
    if matching.next().is_some() {
        return None;
    }
    record
        .split(';')
        .filter_map(|field| field.trim().split_once('='))
        .find(|(name, _)| name.trim() == "id")
        .map(|(_, id)| id.trim().to_owned())
        .filter(|id| {
            !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// A cached policy with the record id it was fetched under.
#[derive(Debug)]
struct Cached {
    id: String,
    until: Instant,
    policy: Arc<StsPolicy>,
}

/// Finds and caches the MTA-STS policies of recipient domains.
///
/// ```no_run
/// use std::sync::Arc;
/// use tls_policy::{HickoryDns, MtaSts, TrustAnchors};
///
/// let sts = MtaSts::new(Arc::new(HickoryDns::system()?), TrustAnchors::system()?);
/// if let Some(policy) = sts.policy("gmail.com")? {
///     println!("{:?}: {:?}", policy.mode, policy.mx);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MtaSts {
    dns: Arc<dyn Dns>,
    anchors: TrustAnchors,
    port: u16,
    timeout: Duration,
    cache: Mutex<HashMap<String, Cached>>,
}

impl MtaSts {
    /// Policies fetched over HTTPS (port 443) with chains validated against
    /// `anchors`.
    pub fn new(dns: Arc<dyn Dns>, anchors: TrustAnchors) -> MtaSts {
        MtaSts {
            dns,
            anchors,
            port: 443,
            timeout: Duration::from_secs(30),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Another HTTPS port (tests).
    pub fn with_port(mut self, port: u16) -> MtaSts {
        self.port = port;
        self
    }

    /// The time allowed for the fetch.
    pub fn with_timeout(mut self, timeout: Duration) -> MtaSts {
        self.timeout = timeout;
        self
    }

    /// The policy of `domain`: `None` when it publishes none. A cached
    /// policy is used while it is fresh and its record id is unchanged,
    /// and also when the record lookup or the fetch fails (RFC 8461 section
    /// 5.1); without one, such a failure is an error, which RFC 8461 says
    /// not to treat as a reason to refuse delivery.
    pub fn policy(&self, domain: &str) -> Result<Option<Arc<StsPolicy>>, MtaStsError> {
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        let cached = self.cached(&domain);
        let id = match self.dns.txt(&format!("_mta-sts.{domain}")) {
            Ok(answer) => sts_record_id(&answer.records),
            Err(DnsError::NoSuchDomain { .. }) => None,
            Err(error) => return cached.map(|(_, p)| Some(p)).ok_or(error.into()),
        };
        let Some(id) = id else {
            // No record: a fresh cached policy still holds.
            return Ok(cached.map(|(_, policy)| policy));
        };
        if let Some((cached_id, policy)) = &cached
            && *cached_id == id
        {
            return Ok(Some(Arc::clone(policy)));
        }
        match self.fetch(&domain) {
            Ok(policy) => {
                let policy = Arc::new(policy);
                self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(
                    domain,
                    Cached {
                        id,
                        until: Instant::now() + policy.max_age,
                        policy: Arc::clone(&policy),
                    },
                );
                Ok(Some(policy))
            }
            Err(error) => cached.map(|(_, p)| Some(p)).ok_or(error),
        }
    }

    fn cached(&self, domain: &str) -> Option<(String, Arc<StsPolicy>)> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .get(domain)
            .filter(|entry| entry.until > Instant::now())
            .map(|entry| (entry.id.clone(), Arc::clone(&entry.policy)))
    }

    /// `GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt`: status 200,
    /// `text/plain`, no redirects, at most 64 KiB (RFC 8461 section 3.3).
    fn fetch(&self, domain: &str) -> Result<StsPolicy, MtaStsError> {
        let host = format!("mta-sts.{domain}");
        let failed = |reason: String| MtaStsError::Fetch {
            domain: domain.to_owned(),
            reason,
        };
        let addresses: Vec<IpAddr> = self
            .dns
            .addresses(&host)
            .map_err(|error| failed(error.to_string()))?
            .records;
        let address = addresses
            .first()
            .ok_or_else(|| failed(format!("{host} has no address")))?;
        let socket = SocketAddr::new(*address, self.port);
        let tcp = TcpStream::connect_timeout(&socket, self.timeout.min(Duration::from_secs(10)))
            .map_err(|error| failed(format!("connecting to {socket}: {error}")))?;
        let _ = tcp.set_read_timeout(Some(self.timeout));
        let _ = tcp.set_write_timeout(Some(self.timeout));
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .map_err(|error| failed(error.to_string()))?
                .with_root_certificates(self.anchors.root_store())
                .with_no_client_auth();
        let name = ServerName::try_from(host.clone())
            .map_err(|_| failed(format!("{host} is not a valid server name")))?;
        let connection = ClientConnection::new(Arc::new(config), name)
            .map_err(|error| failed(error.to_string()))?;
        let mut stream = StreamOwned::new(connection, tcp);
        let request = format!(
            "GET /.well-known/mta-sts.txt HTTP/1.1\r\nHost: {host}\r\n\
             User-Agent: mailgate\r\nAccept: text/plain\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|error| failed(format!("sending the request: {error}")))?;
        let mut response = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    response.extend_from_slice(chunk.get(..n).unwrap_or_default());
                    if response.len() > MAX_HEAD + MAX_POLICY {
                        return Err(failed("the response exceeds 64 KiB".to_owned()));
                    }
                }
                // A server that closes without close_notify has still sent
                // everything Content-Length announced; the parser checks.
                Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(error) => return Err(failed(format!("reading the response: {error}"))),
            }
        }
        let body = http_body(&response).map_err(failed)?;
        let text = String::from_utf8(body)
            .map_err(|_| MtaStsError::Policy("the policy is not UTF-8".to_owned()))?;
        StsPolicy::parse(&text)
    }
}

/// The body of a complete HTTP/1.1 response that must be `200` and
/// `text/plain` (Content-Length, chunked, or up to the close).
fn http_body(response: &[u8]) -> Result<Vec<u8>, String> {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .filter(|at| *at <= MAX_HEAD)
        .ok_or("no complete response head")?;
    let (head, rest) = response.split_at(split);
    let body = rest.get(4..).unwrap_or_default();
    let head = String::from_utf8_lossy(head);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    let code = status.split_whitespace().nth(1).unwrap_or_default();
    if !status.starts_with("HTTP/1.") || code != "200" {
        return Err(format!(
            "the server answered '{status}' (only 200 counts, no redirects)"
        ));
    }
    let mut content_type = None;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-type" => content_type = Some(value.to_ascii_lowercase()),
            "content-length" => length = value.parse::<usize>().ok(),
            "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
            _ => {}
        }
    }
    if !content_type.is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|m| m.trim() == "text/plain")
    }) {
        return Err("the policy is not served as text/plain".to_owned());
    }
    let body = if chunked {
        dechunk(body)?
    } else if let Some(length) = length {
        body.get(..length)
            .ok_or("the body is shorter than its Content-Length")?
            .to_vec()
    } else {
        body.to_vec()
    };
    if body.len() > MAX_POLICY {
        return Err("the policy exceeds 64 KiB".to_owned());
    }
    Ok(body)
}

/// Joins the chunks of a chunked body.
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a chunk size line is cut off")?;
        let size_text = String::from_utf8_lossy(body.get(..line_end).unwrap_or_default());
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "a bad chunk size")?;
        body = body.get(line_end + 2..).unwrap_or_default();
        if size == 0 {
            return Ok(out);
        }
        if size > MAX_POLICY || out.len() + size > MAX_POLICY {
            return Err("the policy exceeds 64 KiB".to_owned());
        }
        out.extend_from_slice(body.get(..size).ok_or("a chunk is cut off")?);
        body = body.get(size + 2..).unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn policies_parse_as_rfc_8461_writes_them() {
        let policy = StsPolicy::parse(
            "version: STSv1\nmode: testing\nmx: mx1.example.net.\nmx: *.Backup.Example.net\nmax_age: 9999999999\nextension: ignored\n",
        )
        .unwrap();
        assert_eq!(policy.mode, StsMode::Testing);
        assert_eq!(policy.mx, ["mx1.example.net", "*.backup.example.net"]);
        assert_eq!(policy.max_age, Duration::from_secs(MAX_AGE));
        assert!(policy.permits_mx("MX1.example.net."));
        assert!(policy.permits_mx("a.backup.example.net"));
        assert!(!policy.permits_mx("backup.example.net"));
        assert!(!policy.permits_mx("a.b.backup.example.net"));
        assert!(!policy.permits_mx("xbackup.example.net"));
        assert!(StsPolicy::parse("version: STSv1\nmode: none\nmax_age: 1\n").is_ok());
        for bad in [
            "mode: enforce\nmx: a.example\nmax_age: 1\n",
            "version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n",
            "version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n",
            "version: STSv1\nmode: enforce\nmax_age: 1\n",
            "version: STSv1\nmode: enforce\nmx: a.example\n",
            "version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n",
            "version: STSv1\nmode: enforce\nmx: *.*.example\nmax_age: 1\n",
            "version: STSv1\nmode enforce\n",
        ] {
            assert!(StsPolicy::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_record_names_one_id() {
        let id = |records: &[&str]| {
            sts_record_id(&records.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>())
        };
        assert_eq!(
            id(&["v=STSv1; id=20261203T1200;"]),
            Some("20261203T1200".into())
        );
        assert_eq!(id(&["v=spf1 -all"]), None);
        assert_eq!(id(&["v=STSv1; id=a", "v=STSv1; id=b"]), None);
        assert_eq!(id(&["v=STSv1;"]), None);
        assert_eq!(id(&["v=STSv1; id=has space"]), None);
    }

    #[test]
    fn responses_must_be_200_text_plain_and_bounded() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 5\r\n\r\nhelloEXTRA";
        assert_eq!(http_body(ok).unwrap(), b"hello");
        let chunked = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\n\r\n";
        assert_eq!(http_body(chunked).unwrap(), b"hello");
        assert!(http_body(b"HTTP/1.1 301 Moved\r\nLocation: x\r\n\r\n").is_err());
        assert!(http_body(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\nx").is_err());
        assert!(
            http_body(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nshort"
            )
            .is_err()
        );
        assert!(http_body(b"garbage").is_err());
        assert!(dechunk(b"fffffffff\r\n").is_err());
        assert!(dechunk(b"zz\r\n").is_err());
    }
}
