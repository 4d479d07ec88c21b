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
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mailgate_https::{Client, Response};

use crate::dns::{Dns, DnsError};
use crate::handshake::TrustAnchors;

/// The largest policy body read (RFC 8461 section 3.3: 64 KiB).
const MAX_POLICY: usize = 64 * 1024;
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
                    let label_ok = |label: &str| {
                        !label.is_empty()
                            && label.len() <= 63
                            && label
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    };
                    if host.len() > 253 || !host.split('.').all(label_ok) {
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
    /// `text/plain`, no redirects, at most 64 KiB (RFC 8461 section 3.3),
    /// from an address the resolver gave.
    fn fetch(&self, domain: &str) -> Result<StsPolicy, MtaStsError> {
        let host = format!("mta-sts.{domain}");
        let failed = |reason: String| MtaStsError::Fetch {
            domain: domain.to_owned(),
            reason,
        };
        let address = self
            .dns
            .addresses(&host)
            .map_err(|error| failed(error.to_string()))?
            .records
            .first()
            .copied()
            .ok_or_else(|| failed(format!("{host} has no address")))?;
        let client = Client::new(self.anchors.root_store())
            .map_err(|error| failed(error.to_string()))?
            .with_timeout(self.timeout)
            .with_max_body(MAX_POLICY)
            .connect_to(SocketAddr::new(address, self.port));
        let response = client
            .get(&host, "/.well-known/mta-sts.txt", "text/plain")
            .map_err(|error| failed(error.to_string()))?;
        let body = policy_body(response).map_err(failed)?;
        let text = String::from_utf8(body)
            .map_err(|_| MtaStsError::Policy("the policy is not UTF-8".to_owned()))?;
        StsPolicy::parse(&text)
    }
}

/// The policy in a response: only a `200` served as `text/plain` counts
/// (redirects are not followed, RFC 8461 section 3.3).
fn policy_body(response: Response) -> Result<Vec<u8>, String> {
    if response.status != 200 {
        return Err(format!(
            "the server answered {} (only 200 counts, no redirects)",
            response.status
        ));
    }
    if !response.has_content_type("text/plain") {
        return Err("the policy is not served as text/plain".to_owned());
    }
    Ok(response.body)
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
            "version: STSv1\nmode: enforce\nmx: *..example\nmax_age: 1\n",
            "version: STSv1\nmode: enforce\nmx: a..example\nmax_age: 1\n",
            "version: STSv1\nmode: enforce\nmx: *.\nmax_age: 1\n",
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
    fn only_a_plain_text_200_is_a_policy() {
        let response = |status, content_type: &str| Response {
            status,
            content_type: Some(content_type.to_owned()),
            body: b"policy".to_vec(),
        };
        assert_eq!(
            policy_body(response(200, "text/plain; charset=utf-8")).unwrap(),
            b"policy"
        );
        assert!(
            policy_body(response(301, "text/plain"))
                .unwrap_err()
                .contains("301")
        );
        assert!(policy_body(response(200, "text/html")).is_err());
    }
}
