//! DNS for mail delivery: MX resolution (RFC 5321 section 5.1, RFC 7505),
//! CNAME expansion of MX host names (RFC 7672 section 2.2.2) and TLSA
//! lookups, each answer with whether DNSSEC authenticated it.
//!
//! The lookups go through the [`Dns`] trait so callers (and tests) can put
//! their own resolver in; [`HickoryDns`] is the real one, a validating stub
//! resolver built on `hickory-resolver` with DNSSEC validation against the
//! root trust anchors or anchors the caller gives.
//!
//! ```
//! use tls_policy::{Answer, Dns, DnsError, Mx, RouteKind, TlsaRecord, resolve_mx};
//!
//! /// A resolver answering from a table (as tests do).
//! #[derive(Debug)]
//! struct Table;
//! impl Dns for Table {
//!     fn mx(&self, domain: &str) -> Result<Answer<Mx>, DnsError> {
//!         Ok(Answer::secure(vec![
//!             Mx { preference: 20, exchange: "backup.example.net".into() },
//!             Mx { preference: 10, exchange: "mx.example.net".into() },
//!         ]))
//!     }
//!     fn tlsa(&self, name: &str) -> Result<Answer<TlsaRecord>, DnsError> {
//!         Ok(Answer::secure(Vec::new()))
//!     }
//! }
//! let route = resolve_mx(&Table, "example.net")?;
//! assert_eq!(route.kind, RouteKind::Mx);
//! assert_eq!(route.hosts[0].exchange, "mx.example.net");
//! # Ok::<(), DnsError>(())
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
#[cfg(feature = "hickory")]
use std::str::FromStr;
#[cfg(feature = "hickory")]
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "hickory")]
use hickory_resolver::TokioResolver;
#[cfg(feature = "hickory")]
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
#[cfg(feature = "hickory")]
use hickory_resolver::net::{DnsError as HickoryDnsError, NetError, runtime::TokioRuntimeProvider};
#[cfg(feature = "hickory")]
use hickory_resolver::proto::dnssec::{Proof, TrustAnchors};
#[cfg(feature = "hickory")]
use hickory_resolver::proto::op::ResponseCode;
#[cfg(feature = "hickory")]
use hickory_resolver::proto::rr::{RData, Record, RecordType};

use crate::dane::TlsaRecord;

/// A DNS answer: the records (empty for "no such record") and whether
/// DNSSEC validated the answer (or the denial).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer<T> {
    /// The records of the asked type.
    pub records: Vec<T>,
    /// Whether the answer was DNSSEC-authenticated (secure, not merely
    /// signed): only then may DANE use it.
    pub secure: bool,
}

impl<T> Answer<T> {
    /// A DNSSEC-validated answer.
    pub fn secure(records: Vec<T>) -> Answer<T> {
        Answer {
            records,
            secure: true,
        }
    }

    /// An answer without DNSSEC validation (unsigned zone).
    pub fn insecure(records: Vec<T>) -> Answer<T> {
        Answer {
            records,
            secure: false,
        }
    }
}

/// One MX record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mx {
    /// Lower is preferred.
    pub preference: u16,
    /// The mail exchanger's host name, lower case, without the final dot;
    /// `.` for a null MX (RFC 7505).
    pub exchange: String,
}

/// Why a lookup gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// NXDOMAIN: the name does not exist.
    #[error("{name}: no such domain")]
    NoSuchDomain {
        /// The name asked for.
        name: String,
        /// Whether the denial was DNSSEC-validated.
        secure: bool,
    },
    /// No answer within the time limit.
    #[error("{name} {record_type}: no answer in time")]
    Timeout {
        /// The name asked for.
        name: String,
        /// `MX`, `TLSA`, ...
        record_type: &'static str,
    },
    /// DNSSEC validation failed: the answer must not be used.
    #[error("{name} {record_type}: DNSSEC validation failed (bogus): {reason}")]
    Bogus {
        /// The name asked for.
        name: String,
        /// `MX`, `TLSA`, ...
        record_type: &'static str,
        /// What the validator said.
        reason: String,
    },
    /// SERVFAIL, REFUSED, a network error: try again later.
    #[error("{name} {record_type}: lookup failed: {reason}")]
    Failed {
        /// The name asked for.
        name: String,
        /// `MX`, `TLSA`, ...
        record_type: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The name is not a valid domain name.
    #[error("invalid domain name '{0}'")]
    InvalidName(String),
    /// The resolver could not be set up (configuration, trust anchors).
    #[error("DNS resolver unusable: {0}")]
    Setup(String),
}

impl DnsError {
    /// Whether to defer rather than bounce: timeouts, server failures and
    /// bogus answers (which may be an attack or a signing accident; RFC 7672
    /// section 2.1.1 says delay delivery).
    pub fn is_temporary(&self) -> bool {
        matches!(
            self,
            DnsError::Timeout { .. } | DnsError::Bogus { .. } | DnsError::Failed { .. }
        )
    }
}

/// A resolver for what mail delivery needs.
///
/// Implementations report a name that exists without records of the type as
/// `Ok` with no records, NXDOMAIN as [`DnsError::NoSuchDomain`], and a DNSSEC
/// failure as [`DnsError::Bogus`] (never as an insecure answer).
pub trait Dns: Send + Sync + fmt::Debug {
    /// The MX records of `domain`.
    fn mx(&self, domain: &str) -> Result<Answer<Mx>, DnsError>;
    /// The TLSA records at `name` (for SMTP `_25._tcp.HOST`).
    fn tlsa(&self, name: &str) -> Result<Answer<TlsaRecord>, DnsError>;
    /// The IPv4 and IPv6 addresses of `host` (A and AAAA records), IPv4
    /// first.
    ///
    /// The default asks the system's resolver (`getaddrinfo`), without
    /// DNSSEC, for implementations that only answer MX and TLSA questions.
    fn addresses(&self, host: &str) -> Result<Answer<IpAddr>, DnsError> {
        let name = normalize(host)?;
        let found = (name.as_str(), 0u16)
            .to_socket_addrs()
            .map_err(|error| DnsError::Failed {
                name: name.clone(),
                record_type: "A",
                reason: error.to_string(),
            })?;
        let mut records: Vec<IpAddr> = found.map(|address| address.ip()).collect();
        records.sort_by_key(IpAddr::is_ipv6);
        records.dedup();
        Ok(Answer::insecure(records))
    }

    /// The TXT records at `name`, each one's strings joined (as RFC 8460
    /// and RFC 8461 read them).
    ///
    /// The default knows none: implementations that only answer MX and
    /// TLSA questions report a failure.
    fn txt(&self, name: &str) -> Result<Answer<String>, DnsError> {
        Err(DnsError::Failed {
            name: name.to_owned(),
            record_type: "TXT",
            reason: "this resolver does not look up TXT records".to_owned(),
        })
    }

    /// The target of the CNAME record at `name` (one link of an alias
    /// chain, not followed further): no records when `name` is not an
    /// alias. `secure` says whether DNSSEC validated the CNAME record, or
    /// the proof that there is none.
    ///
    /// The default knows no aliases (and proves nothing), so TLSA records
    /// are then looked up at the MX host name as given, as before RFC 7672
    /// section 2.2.2 was implemented; a resolver that can answer should.
    fn cname(&self, name: &str) -> Result<Answer<String>, DnsError> {
        let _ = name;
        Ok(Answer::insecure(Vec::new()))
    }
}

/// How many CNAME links [`expand_cname`] follows before it gives up
/// (resolvers stop at similar depths; real chains have one or two links).
pub const MAX_CNAME_LINKS: usize = 8;

/// Where a host name leads through CNAME records (RFC 7672 section 2.2.2,
/// RFC 7671 section 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CnameExpansion {
    /// The name asked for (lower case, no final dot).
    pub name: String,
    /// The name at the end of the chain: `name` itself when it is not an
    /// alias.
    pub target: String,
    /// Whether every answer along the way was DNSSEC-secure, including the
    /// last one, which shows that `target` is not an alias in turn. Only a
    /// secure expansion may move the TLSA base domain to `target`.
    pub secure: bool,
}

impl CnameExpansion {
    /// Whether `name` is an alias of another name.
    pub fn is_alias(&self) -> bool {
        self.name != self.target
    }
}

/// Follows the CNAME chain from `host` to its end, link by link with
/// [`Dns::cname`], noting whether every step was DNSSEC-secure.
///
/// A name that does not exist ends the chain (what comes next, address or
/// TLSA lookup, sees the NXDOMAIN itself). A loop or a chain longer than
/// [`MAX_CNAME_LINKS`] is [`DnsError::Failed`]; a bogus link is
/// [`DnsError::Bogus`]. Several CNAME records at one name (not valid DNS,
/// RFC 2181 section 10.1) end the chain there, as insecure.
pub fn expand_cname(dns: &dyn Dns, host: &str) -> Result<CnameExpansion, DnsError> {
    let name = normalize(host)?;
    let mut target = name.clone();
    let mut secure = true;
    let mut seen = vec![name.clone()];
    loop {
        let answer = match dns.cname(&target) {
            Ok(answer) => answer,
            Err(DnsError::NoSuchDomain { secure: proven, .. }) => {
                secure &= proven;
                break;
            }
            Err(error) => return Err(error),
        };
        secure &= answer.secure;
        let mut records = answer.records.into_iter();
        let Some(next) = records.next() else {
            break;
        };
        if records.next().is_some() {
            secure = false;
            break;
        }
        let next = normalize(&next)?;
        if seen.contains(&next) || seen.len() > MAX_CNAME_LINKS {
            return Err(DnsError::Failed {
                name,
                record_type: "CNAME",
                reason: format!(
                    "CNAME chain loops or is longer than {MAX_CNAME_LINKS} links (at {next})"
                ),
            });
        }
        seen.push(next.clone());
        target = next;
    }
    Ok(CnameExpansion {
        name,
        target,
        secure,
    })
}

/// How a domain's mail is routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// MX records name the exchangers.
    Mx,
    /// No MX records: the domain itself is the exchanger (RFC 5321 section
    /// 5.1, the implicit MX).
    Implicit,
    /// A null MX (`MX 0 .`, RFC 7505): the domain accepts no mail.
    NullMx,
}

/// The mail exchangers of a domain, in the order to try them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailRoute {
    /// The domain asked for.
    pub domain: String,
    /// How the route was found.
    pub kind: RouteKind,
    /// The exchangers, lowest preference first (empty for a null MX).
    pub hosts: Vec<Mx>,
    /// Whether the MX answer was DNSSEC-validated; RFC 7672 section 2.2.1:
    /// DANE applies to the exchangers only when it was.
    pub secure: bool,
}

/// Resolves the mail exchangers of `domain` (RFC 5321 section 5.1): MX
/// records sorted by preference (equal preferences keep the order of the
/// answer's names, sorted, so results are reproducible), the domain itself
/// when there is no MX record, nothing for a null MX. NXDOMAIN is an error.
pub fn resolve_mx(dns: &dyn Dns, domain: &str) -> Result<MailRoute, DnsError> {
    let domain = normalize(domain)?;
    let answer = dns.mx(&domain)?;
    let mut hosts: Vec<Mx> = answer
        .records
        .into_iter()
        .map(|mx| Mx {
            preference: mx.preference,
            exchange: if mx.exchange == "." || mx.exchange.is_empty() {
                ".".to_owned()
            } else {
                mx.exchange.trim_end_matches('.').to_ascii_lowercase()
            },
        })
        .collect();
    hosts.sort_by(|a, b| (a.preference, &a.exchange).cmp(&(b.preference, &b.exchange)));
    // A host listed twice is tried once, at its best preference.
    let mut seen = std::collections::HashSet::new();
    hosts.retain(|mx| seen.insert(mx.exchange.clone()));
    let (kind, hosts) = if hosts.is_empty() {
        let implicit = Mx {
            preference: 0,
            exchange: domain.clone(),
        };
        (RouteKind::Implicit, vec![implicit])
    } else if hosts.iter().all(|mx| mx.exchange == ".") {
        (RouteKind::NullMx, Vec::new())
    } else {
        // RFC 7505 section 3: a null MX among real ones is a misconfiguration;
        // the real exchangers are still usable.
        hosts.retain(|mx| mx.exchange != ".");
        (RouteKind::Mx, hosts)
    };
    Ok(MailRoute {
        domain,
        kind,
        hosts,
        secure: answer.secure,
    })
}

/// Lower case, no final dot, only characters of host names (and `_` for
/// service labels).
pub(crate) fn normalize(name: &str) -> Result<String, DnsError> {
    let trimmed = name.trim_end_matches('.');
    let valid = !trimmed.is_empty()
        && trimmed.len() <= 253
        && trimmed.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if !valid {
        return Err(DnsError::InvalidName(name.chars().take(255).collect()));
    }
    Ok(trimmed.to_ascii_lowercase())
}

/// The real resolver: `hickory-resolver` with DNSSEC validation, driven on
/// its own single-threaded Tokio runtime so the rest of the crate stays
/// blocking.
#[cfg(feature = "hickory")]
pub struct HickoryDns {
    runtime: tokio::runtime::Runtime,
    resolver: TokioResolver,
    servers: String,
}

#[cfg(feature = "hickory")]
impl fmt::Debug for HickoryDns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HickoryDns")
            .field("servers", &self.servers)
            .finish_non_exhaustive()
    }
}

/// Where a [`HickoryDns`] sends its queries and which keys it trusts.
#[derive(Debug, Clone, Default)]
pub struct ResolverSetup {
    /// Name servers (IP and port); empty means the system's
    /// (`/etc/resolv.conf`).
    pub servers: Vec<SocketAddr>,
    /// DNSSEC trust anchors as DNSKEY records in zone-file format (`NAME
    /// [TTL] [IN] DNSKEY FLAGS 3 ALG BASE64`), at the root or at any zone;
    /// `None` means the IANA root keys.
    pub trust_anchors: Option<String>,
    /// Time limit per query (default 5 s).
    pub timeout: Option<Duration>,
}

#[cfg(feature = "hickory")]
impl HickoryDns {
    /// A validating resolver over the system's name servers and the root
    /// trust anchors.
    pub fn system() -> Result<HickoryDns, DnsError> {
        HickoryDns::new(&ResolverSetup::default())
    }

    /// A validating resolver as `setup` says.
    pub fn new(setup: &ResolverSetup) -> Result<HickoryDns, DnsError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| DnsError::Setup(error.to_string()))?;
        let provider = TokioRuntimeProvider::default();
        let mut builder = if setup.servers.is_empty() {
            TokioResolver::builder(provider).map_err(|error| DnsError::Setup(error.to_string()))?
        } else {
            let servers = setup
                .servers
                .iter()
                .map(|address| {
                    let mut server = NameServerConfig::udp_and_tcp(address.ip());
                    for connection in &mut server.connections {
                        connection.port = address.port();
                    }
                    server
                })
                .collect();
            TokioResolver::builder_with_config(ResolverConfig::from_name_servers(servers), provider)
        };
        let options = builder.options_mut();
        options.validate = true;
        options.timeout = setup.timeout.unwrap_or(Duration::from_secs(5));
        options.attempts = 2;
        options.use_hosts_file = ResolveHosts::Never;
        options.ndots = 0;
        let anchors = match &setup.trust_anchors {
            Some(text) => TrustAnchors::from_str(text)
                .map_err(|error| DnsError::Setup(format!("trust anchors: {error}")))?,
            None => TrustAnchors::default(),
        };
        let resolver = builder
            .with_trust_anchor(Arc::new(anchors))
            .build()
            .map_err(|error| DnsError::Setup(error.to_string()))?;
        let servers = if setup.servers.is_empty() {
            "system".to_owned()
        } else {
            setup
                .servers
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        Ok(HickoryDns {
            runtime,
            resolver,
            servers,
        })
    }

    /// Looks up `name`/`record_type`: the answer records of that type and
    /// whether all of them were proven secure.
    fn lookup(
        &self,
        name: &str,
        record_type: RecordType,
        label: &'static str,
    ) -> Result<(Vec<Record>, bool), DnsError> {
        let name = normalize(name)?;
        let fqdn = format!("{name}.");
        let result = self
            .runtime
            .block_on(self.resolver.lookup(fqdn.as_str(), record_type));
        match result {
            Ok(lookup) => {
                let records: Vec<Record> = lookup
                    .answers()
                    .iter()
                    .filter(|record| record.record_type() == record_type)
                    .cloned()
                    .collect();
                if let Some(bad) = records
                    .iter()
                    .find(|record| matches!(record.proof, Proof::Bogus | Proof::Indeterminate))
                {
                    return Err(DnsError::Bogus {
                        name,
                        record_type: label,
                        reason: format!("answer record proven {}", bad.proof),
                    });
                }
                let secure = !records.is_empty()
                    && records.iter().all(|record| record.proof == Proof::Secure);
                Ok((records, secure))
            }
            Err(error) => translate(error, name, label),
        }
    }
}

/// Maps a hickory error: a denial that is an answer (the name exists, no
/// records of the type) becomes `Ok` with no records, the rest errors.
#[cfg(feature = "hickory")]
fn translate(
    error: NetError,
    name: String,
    label: &'static str,
) -> Result<(Vec<Record>, bool), DnsError> {
    let failed = |reason: String| {
        Err(DnsError::Failed {
            name: name.clone(),
            record_type: label,
            reason,
        })
    };
    match error {
        NetError::Timeout => Err(DnsError::Timeout {
            name,
            record_type: label,
        }),
        NetError::Dns(HickoryDnsError::NoRecordsFound(no_records)) => {
            let secure = no_records.authorities.as_deref().is_some_and(|records| {
                records.iter().any(|record| {
                    matches!(record.record_type(), RecordType::NSEC | RecordType::NSEC3)
                        && record.proof == Proof::Secure
                })
            });
            if no_records.response_code == ResponseCode::NXDomain {
                Err(DnsError::NoSuchDomain { name, secure })
            } else {
                Ok((Vec::new(), secure))
            }
        }
        NetError::Dns(HickoryDnsError::Nsec {
            proof, response, ..
        }) => match proof {
            // A denial from a zone without DNSSEC: an answer, not validated.
            Proof::Insecure if response.response_code == ResponseCode::NXDomain => {
                Err(DnsError::NoSuchDomain {
                    name,
                    secure: false,
                })
            }
            Proof::Insecure => Ok((Vec::new(), false)),
            other => Err(DnsError::Bogus {
                name,
                record_type: label,
                reason: format!("denial of existence proven {other}"),
            }),
        },
        NetError::Dns(HickoryDnsError::DnssecBogus) => Err(DnsError::Bogus {
            name,
            record_type: label,
            reason: "signatures do not validate".to_owned(),
        }),
        NetError::Dns(HickoryDnsError::ResponseCode(code)) => {
            failed(format!("server answered {code}"))
        }
        other => failed(other.to_string()),
    }
}

#[cfg(feature = "hickory")]
impl Dns for HickoryDns {
    fn mx(&self, domain: &str) -> Result<Answer<Mx>, DnsError> {
        let (records, secure) = self.lookup(domain, RecordType::MX, "MX")?;
        let records = records
            .iter()
            .filter_map(|record| match &record.data {
                RData::MX(mx) => Some(Mx {
                    preference: mx.preference,
                    exchange: if mx.exchange.is_root() {
                        ".".to_owned()
                    } else {
                        mx.exchange
                            .to_ascii()
                            .trim_end_matches('.')
                            .to_ascii_lowercase()
                    },
                }),
                _ => None,
            })
            .collect();
        Ok(Answer { records, secure })
    }

    fn tlsa(&self, name: &str) -> Result<Answer<TlsaRecord>, DnsError> {
        let (records, secure) = self.lookup(name, RecordType::TLSA, "TLSA")?;
        let records = records
            .iter()
            .filter_map(|record| match &record.data {
                RData::TLSA(tlsa) => Some(TlsaRecord {
                    usage: tlsa.cert_usage.into(),
                    selector: tlsa.selector.into(),
                    matching: tlsa.matching.into(),
                    data: tlsa.cert_data.clone(),
                }),
                _ => None,
            })
            .collect();
        Ok(Answer { records, secure })
    }

    fn addresses(&self, host: &str) -> Result<Answer<IpAddr>, DnsError> {
        let (v4, v4_secure) = self.lookup(host, RecordType::A, "A")?;
        // A host with IPv4 only is common; an AAAA failure then does not
        // make the host unreachable.
        let (v6, v6_secure) = match self.lookup(host, RecordType::AAAA, "AAAA") {
            Ok(found) => found,
            Err(error) if v4.is_empty() => return Err(error),
            Err(_) => (Vec::new(), true),
        };
        let records: Vec<IpAddr> = v4
            .iter()
            .chain(v6.iter())
            .filter_map(|record| match &record.data {
                RData::A(a) => Some(IpAddr::V4(a.0)),
                RData::AAAA(aaaa) => Some(IpAddr::V6(aaaa.0)),
                _ => None,
            })
            .collect();
        let secure =
            !records.is_empty() && (v4.is_empty() || v4_secure) && (v6.is_empty() || v6_secure);
        Ok(Answer { records, secure })
    }
    fn cname(&self, name: &str) -> Result<Answer<String>, DnsError> {
        // Asking for the CNAME type itself gives the one link at `name`,
        // with its own proof, without the resolver chasing the chain.
        let (records, secure) = self.lookup(name, RecordType::CNAME, "CNAME")?;
        let records = records
            .iter()
            .filter_map(|record| match &record.data {
                RData::CNAME(cname) => Some(
                    cname
                        .0
                        .to_ascii()
                        .trim_end_matches('.')
                        .to_ascii_lowercase(),
                ),
                _ => None,
            })
            .collect();
        Ok(Answer { records, secure })
    }

    fn txt(&self, name: &str) -> Result<Answer<String>, DnsError> {
        let (records, secure) = self.lookup(name, RecordType::TXT, "TXT")?;
        let records = records
            .iter()
            .filter_map(|record| match &record.data {
                RData::TXT(txt) => Some(
                    txt.txt_data
                        .iter()
                        .map(|part| String::from_utf8_lossy(part))
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect();
        Ok(Answer { records, secure })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[derive(Debug)]
    struct Fixed(Result<Answer<Mx>, DnsError>);

    impl Dns for Fixed {
        fn mx(&self, _: &str) -> Result<Answer<Mx>, DnsError> {
            self.0.clone()
        }
        fn tlsa(&self, _: &str) -> Result<Answer<TlsaRecord>, DnsError> {
            Ok(Answer::insecure(Vec::new()))
        }
    }

    fn mx(preference: u16, exchange: &str) -> Mx {
        Mx {
            preference,
            exchange: exchange.to_owned(),
        }
    }

    #[test]
    fn exchangers_come_in_preference_order() {
        let dns = Fixed(Ok(Answer::secure(vec![
            mx(20, "B.example."),
            mx(10, "c.example"),
            mx(20, "a.example"),
            mx(30, "c.example"),
        ])));
        let route = resolve_mx(&dns, "Example.NET.").unwrap();
        assert_eq!(route.domain, "example.net");
        assert_eq!(route.kind, RouteKind::Mx);
        assert!(route.secure);
        let names: Vec<(u16, &str)> = route
            .hosts
            .iter()
            .map(|h| (h.preference, h.exchange.as_str()))
            .collect();
        assert_eq!(
            names,
            [(10, "c.example"), (20, "a.example"), (20, "b.example")]
        );
    }

    #[test]
    fn no_mx_means_the_domain_itself() {
        let route = resolve_mx(&Fixed(Ok(Answer::insecure(Vec::new()))), "example.org").unwrap();
        assert_eq!(route.kind, RouteKind::Implicit);
        assert_eq!(route.hosts, [mx(0, "example.org")]);
        assert!(!route.secure);
    }

    #[test]
    fn null_mx_accepts_no_mail_and_is_ignored_beside_real_ones() {
        let route =
            resolve_mx(&Fixed(Ok(Answer::secure(vec![mx(0, ".")]))), "example.org").unwrap();
        assert_eq!(route.kind, RouteKind::NullMx);
        assert!(route.hosts.is_empty());
        let mixed = Fixed(Ok(Answer::secure(vec![
            mx(0, "."),
            mx(10, "mx.example.org"),
        ])));
        let route = resolve_mx(&mixed, "example.org").unwrap();
        assert_eq!(route.kind, RouteKind::Mx);
        assert_eq!(route.hosts, [mx(10, "mx.example.org")]);
    }

    #[test]
    fn errors_pass_through_with_their_temporariness() {
        let timeout = DnsError::Timeout {
            name: "example.org".into(),
            record_type: "MX",
        };
        let error = resolve_mx(&Fixed(Err(timeout.clone())), "example.org").unwrap_err();
        assert_eq!(error, timeout);
        assert!(error.is_temporary());
        let nx = DnsError::NoSuchDomain {
            name: "example.org".into(),
            secure: true,
        };
        assert!(
            !resolve_mx(&Fixed(Err(nx)), "example.org")
                .unwrap_err()
                .is_temporary()
        );
        for bad in ["", ".", "a..b", "a b.example", "x/y"] {
            assert!(matches!(
                resolve_mx(&Fixed(Ok(Answer::secure(Vec::new()))), bad),
                Err(DnsError::InvalidName(_))
            ));
        }
    }
}
