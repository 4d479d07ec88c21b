//! DANE for SMTP: TLSA records matched against a presented chain
//! ([RFC 7672](https://www.rfc-editor.org/rfc/rfc7672), with the rules of
//! [RFC 7671](https://www.rfc-editor.org/rfc/rfc7671) and the record format
//! of [RFC 6698](https://www.rfc-editor.org/rfc/rfc6698)).
//!
//! SMTP uses only certificate usages 2 (DANE-TA) and 3 (DANE-EE); records
//! with usages 0 and 1 (PKIX-TA, PKIX-EE) and unknown selectors or matching
//! types are unusable and ignored (RFC 7672 section 3.1.3). Only records
//! from a DNSSEC-secure answer count: [`dane_state`] takes the
//! [`Answer`](crate::Answer) as the resolver gave it.
//!
//! - **DANE-EE**: the end-entity certificate (selector 0) or its public key
//!   (selector 1) matches; its names and validity dates are not checked
//!   (RFC 7672 section 3.1.1).
//! - **DANE-TA**: a certificate the server sent after the end entity matches;
//!   the chain must lead from the end entity to that certificate as trust
//!   anchor, and the end entity must carry the MX host name (RFC 7672
//!   section 3.1.2). Servers should send the anchor (RFC 7671 section
//!   5.2.2); when they do not, a record that carries it whole (`2 0 0`
//!   the certificate, `2 1 0` its public key) is the anchor itself, and the
//!   same rules apply to the path from the end entity to it. A digest
//!   record (`2 x 1`, `2 x 2`) of an anchor that was not sent matches
//!   nothing: there is no key to check a signature with.
//!
//! ```
//! use tls_policy::TlsaRecord;
//! let record: TlsaRecord = "3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".parse()?;
//! assert!(record.is_usable());
//! assert_eq!(record.to_string(), "3 1 1 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
//! assert!(!"1 1 1 00".parse::<TlsaRecord>()?.is_usable()); // PKIX-EE: not for SMTP
//! # Ok::<(), tls_policy::InvalidTlsa>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::SystemTime;

use der::{Decode, Encode};
use rustls::pki_types::{CertificateDer, Der, ServerName, TrustAnchor, UnixTime};
use sha2::{Digest, Sha256, Sha512};

use crate::dns::{Answer, Dns, DnsError, expand_cname, normalize};
use crate::observation::DaneState;

/// Certificate usage 2: the record names a trust anchor (RFC 7218 name).
pub const DANE_TA: u8 = 2;
/// Certificate usage 3: the record names the end-entity certificate or key.
pub const DANE_EE: u8 = 3;

/// Largest certificate association data accepted from text (a SHA-512
/// digest is 64 bytes; full certificates are rarely above a few KiB).
const MAX_ASSOCIATION_DATA: usize = 16 * 1024;

/// One TLSA record (RFC 6698 section 2.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TlsaRecord {
    /// Certificate usage: 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.
    pub usage: u8,
    /// Selector: 0 the full certificate, 1 the SubjectPublicKeyInfo.
    pub selector: u8,
    /// Matching type: 0 exact, 1 SHA-256, 2 SHA-512.
    pub matching: u8,
    /// Certificate association data.
    pub data: Vec<u8>,
}

impl TlsaRecord {
    /// Whether RFC 7672 lets SMTP use the record: usage DANE-TA or DANE-EE,
    /// a known selector and matching type, and data of the digest's length.
    pub fn is_usable(&self) -> bool {
        let length_ok = match self.matching {
            0 => !self.data.is_empty(),
            1 => self.data.len() == 32,
            2 => self.data.len() == 64,
            _ => false,
        };
        matches!(self.usage, DANE_TA | DANE_EE) && matches!(self.selector, 0 | 1) && length_ok
    }

    /// Whether the record matches this certificate (selector and matching
    /// type applied; usage not considered). A certificate that cannot be
    /// parsed matches no SPKI record.
    pub fn matches_certificate(&self, certificate: &[u8]) -> bool {
        let selected = match self.selector {
            0 => certificate.to_vec(),
            1 => match subject_public_key_info(certificate) {
                Some(spki) => spki,
                None => return false,
            },
            _ => return false,
        };
        match self.matching {
            0 => selected == self.data,
            1 => Sha256::digest(&selected).as_slice() == self.data.as_slice(),
            2 => Sha512::digest(&selected).as_slice() == self.data.as_slice(),
            _ => false,
        }
    }
}

fn subject_public_key_info(certificate: &[u8]) -> Option<Vec<u8>> {
    let certificate = x509_cert::Certificate::from_der(certificate).ok()?;
    certificate
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .ok()
}

/// A TLSA record in presentation format could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid TLSA record '{text}': {reason}")]
pub struct InvalidTlsa {
    /// The text (cut to 80 characters).
    pub text: String,
    /// What was wrong.
    pub reason: &'static str,
}

impl FromStr for TlsaRecord {
    type Err = InvalidTlsa;

    /// Reads `USAGE SELECTOR MATCHING HEX` (RFC 6698 section 2.2); the hex
    /// may be split by white space.
    fn from_str(text: &str) -> Result<TlsaRecord, InvalidTlsa> {
        let invalid = |reason| InvalidTlsa {
            text: text.chars().take(80).collect(),
            reason,
        };
        let mut fields = text.split_ascii_whitespace();
        let mut number = |what| -> Result<u8, InvalidTlsa> {
            fields
                .next()
                .ok_or_else(|| invalid(what))?
                .parse()
                .map_err(|_| invalid(what))
        };
        let usage = number("usage is not a number 0-255")?;
        let selector = number("selector is not a number 0-255")?;
        let matching = number("matching type is not a number 0-255")?;
        let hex: String = fields.collect();
        if hex.is_empty() {
            return Err(invalid("no certificate association data"));
        }
        if !hex.len().is_multiple_of(2) || hex.len() / 2 > MAX_ASSOCIATION_DATA {
            return Err(invalid("association data is not hex of a sane length"));
        }
        let mut data = Vec::with_capacity(hex.len() / 2);
        for pair in hex.as_bytes().chunks(2) {
            let digits = std::str::from_utf8(pair).map_err(|_| invalid("not hex"))?;
            data.push(u8::from_str_radix(digits, 16).map_err(|_| invalid("not hex"))?);
        }
        Ok(TlsaRecord {
            usage,
            selector,
            matching,
            data,
        })
    }
}

impl fmt::Display for TlsaRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {} {}",
            self.usage,
            self.selector,
            self.matching,
            crate::certificate::hex(&self.data)
        )
    }
}

/// Which usable record matched a chain, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaneMatch {
    /// The record that matched.
    pub record: TlsaRecord,
    /// Position in the chain of the matching certificate (0 = end entity);
    /// the chain's length when the record carried a DANE-TA trust anchor the
    /// server did not send (RFC 7671 section 5.2.2).
    pub position: usize,
}

/// Matches the usable records against a chain as the server sent it (end
/// entity first), for the MX host `name`, as of `time` (DANE-TA only).
///
/// Returns the first record that authenticates the server, or `None`.
/// Unusable records are skipped.
pub fn match_chain(
    records: &[TlsaRecord],
    chain: &[CertificateDer<'_>],
    name: &str,
    time: SystemTime,
) -> Option<DaneMatch> {
    match_chain_for_names(records, chain, &[name], time)
}

/// [`match_chain`] with several reference identifiers: a DANE-TA match
/// needs the end entity to carry one of `names` (RFC 7672 section 3.2.2:
/// the MX host name and, after a secure CNAME expansion, the expanded
/// name; [`DaneLookup::reference_names`] gives them).
pub fn match_chain_for_names(
    records: &[TlsaRecord],
    chain: &[CertificateDer<'_>],
    names: &[&str],
    time: SystemTime,
) -> Option<DaneMatch> {
    let end_entity = chain.first()?;
    for record in records.iter().filter(|record| record.is_usable()) {
        match record.usage {
            DANE_EE if record.matches_certificate(end_entity) => {
                return Some(DaneMatch {
                    record: record.clone(),
                    position: 0,
                });
            }
            DANE_TA => {
                for (position, anchor) in chain.iter().enumerate().skip(1) {
                    if record.matches_certificate(anchor)
                        && chain_leads_to(chain, position, names, time)
                    {
                        return Some(DaneMatch {
                            record: record.clone(),
                            position,
                        });
                    }
                }
                // Only when the server did not send the anchor: a sent one
                // brings its name constraints, which the bare key would not.
                let sent = chain
                    .iter()
                    .skip(1)
                    .any(|certificate| record.matches_certificate(certificate));
                if !sent && unsent_anchor_leads(record, chain, names, time) {
                    return Some(DaneMatch {
                        record: record.clone(),
                        position: chain.len(),
                    });
                }
            }
            _ => {}
        }
    }
    None
}

/// Whether a DANE-TA record that carries the trust anchor itself (matching
/// type 0: `2 0 0` the certificate, `2 1 0` its public key) anchors a
/// valid path from the end entity through the presented certificates,
/// although the server did not send the anchor (RFC 7671 section 5.2.2,
/// RFC 7672 section 3.2.2). webpki checks the signatures, the path and the
/// dates as for a sent anchor; the names are checked as always.
///
/// A digest (matching types 1 and 2) cannot anchor anything: there is no
/// key to verify a signature with, so such a record needs its anchor in
/// the chain. A record for the end entity's own key is not an anchor
/// (DANE-EE is the record for that).
fn unsent_anchor_leads(
    record: &TlsaRecord,
    chain: &[CertificateDer<'_>],
    names: &[&str],
    time: SystemTime,
) -> bool {
    let Some(end_entity) = chain.first() else {
        return false;
    };
    if record.matching != 0 || record.matches_certificate(end_entity) {
        return false;
    }
    let intermediates = chain.get(1..).unwrap_or_default();
    match record.selector {
        0 => {
            let certificate = CertificateDer::from(record.data.as_slice());
            match webpki::anchor_from_trusted_cert(&certificate) {
                Ok(anchor) => path_is_valid(end_entity, intermediates, &[anchor], names, time),
                Err(_) => false,
            }
        }
        1 => {
            let Some(key) = spki_contents(&record.data) else {
                return false;
            };
            // The record has no subject name; webpki joins a path to an
            // anchor by name, so offer the key under the issuer name of
            // every presented certificate: one of them names the anchor if
            // the key signed it. Which one is found by the signature check.
            let mut issuers: Vec<Vec<u8>> = chain.iter().filter_map(issuer_contents).collect();
            issuers.sort();
            issuers.dedup();
            let anchors: Vec<TrustAnchor<'_>> = issuers
                .iter()
                .map(|issuer| TrustAnchor {
                    subject: Der::from(issuer.as_slice()),
                    subject_public_key_info: Der::from(key),
                    name_constraints: None,
                })
                .collect();
            path_is_valid(end_entity, intermediates, &anchors, names, time)
        }
        _ => false,
    }
}

/// The contents (without tag and length) of a DER SubjectPublicKeyInfo,
/// as webpki's anchors hold it; `None` unless `der` is exactly one
/// well-formed SubjectPublicKeyInfo.
fn spki_contents(der: &[u8]) -> Option<&[u8]> {
    x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(der).ok()?;
    Some(der::asn1::AnyRef::from_der(der).ok()?.value())
}

/// The contents (without tag and length) of a certificate's issuer name.
fn issuer_contents(certificate: &CertificateDer<'_>) -> Option<Vec<u8>> {
    let certificate = x509_cert::Certificate::from_der(certificate).ok()?;
    let issuer = certificate.tbs_certificate().issuer().to_der().ok()?;
    Some(der::asn1::AnyRef::from_der(&issuer).ok()?.value().to_vec())
}

/// Whether the end entity chains (through the certificates before
/// `position`) to the certificate at `position` as trust anchor, and
/// carries one of `names`.
fn chain_leads_to(
    chain: &[CertificateDer<'_>],
    position: usize,
    names: &[&str],
    time: SystemTime,
) -> bool {
    let (Some(end_entity), Some(anchor), Some(intermediates)) =
        (chain.first(), chain.get(position), chain.get(1..position))
    else {
        return false;
    };
    let Ok(anchor) = webpki::anchor_from_trusted_cert(anchor) else {
        return false;
    };
    path_is_valid(end_entity, intermediates, &[anchor], names, time)
}

/// Whether webpki finds a valid server-auth path from the end entity
/// through `intermediates` to one of `anchors` at `time`, and the end
/// entity carries one of `names`.
fn path_is_valid(
    end_entity: &CertificateDer<'_>,
    intermediates: &[CertificateDer<'_>],
    anchors: &[TrustAnchor<'_>],
    names: &[&str],
    time: SystemTime,
) -> bool {
    let Ok(certificate) = webpki::EndEntityCert::try_from(end_entity) else {
        return false;
    };
    let Ok(since_epoch) = time.duration_since(SystemTime::UNIX_EPOCH) else {
        return false;
    };
    certificate
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            anchors,
            intermediates,
            UnixTime::since_unix_epoch(since_epoch),
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .is_ok()
        && carries_a_name(&certificate, names)
}

/// Whether the end entity is valid for one of `names` (DNS-IDs, wildcards
/// as webpki matches them).
fn carries_a_name(certificate: &webpki::EndEntityCert<'_>, names: &[&str]) -> bool {
    names.iter().any(|name| {
        ServerName::try_from(*name).is_ok_and(|server_name| {
            certificate
                .verify_is_valid_for_subject_name(&server_name)
                .is_ok()
        })
    })
}

/// The TLSA lookup's meaning for DANE, before any connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsaLookup {
    /// DANE does not apply (validated denial, or no DNSSEC): the state to
    /// report.
    NotApplicable(DaneState),
    /// Validated usable records: the chain must match one.
    Usable(Vec<TlsaRecord>),
    /// The answer was bogus: do not use the host.
    Bogus(String),
}

impl TlsaLookup {
    /// Interprets a TLSA answer (or error) per RFC 7672 section 2.2:
    /// insecure answers are not used, a secure answer with no usable record
    /// means DANE does not apply, bogus means the host must not be used.
    /// Temporary DNS failures stay errors (defer).
    pub fn from_answer(
        answer: Result<Answer<TlsaRecord>, DnsError>,
    ) -> Result<TlsaLookup, DnsError> {
        match answer {
            Ok(answer) if !answer.secure => {
                Ok(TlsaLookup::NotApplicable(if answer.records.is_empty() {
                    DaneState::NoRecords
                } else {
                    DaneState::Insecure
                }))
            }
            Ok(answer) => {
                let usable: Vec<TlsaRecord> = answer
                    .records
                    .into_iter()
                    .filter(TlsaRecord::is_usable)
                    .collect();
                if usable.is_empty() {
                    Ok(TlsaLookup::NotApplicable(DaneState::NoRecords))
                } else {
                    Ok(TlsaLookup::Usable(usable))
                }
            }
            // A name that does not exist has no TLSA records.
            Err(DnsError::NoSuchDomain { .. }) => {
                Ok(TlsaLookup::NotApplicable(DaneState::NoRecords))
            }
            Err(DnsError::Bogus { reason, .. }) => Ok(TlsaLookup::Bogus(reason)),
            Err(error) => Err(error),
        }
    }
}

/// The DANE state of a connection: the TLSA lookup judged against the chain
/// the server presented (`None` when no TLS session was established).
pub fn dane_state(
    lookup: &TlsaLookup,
    chain: Option<&[CertificateDer<'_>]>,
    name: &str,
    time: SystemTime,
) -> DaneState {
    match lookup {
        TlsaLookup::NotApplicable(state) => state.clone(),
        TlsaLookup::Bogus(_) => DaneState::Bogus,
        TlsaLookup::Usable(records) => DaneState::Usable {
            records: records.len(),
            matched: chain.is_some_and(|chain| match_chain(records, chain, name, time).is_some()),
        },
    }
}

/// The TLSA query name for an SMTP server: `_PORT._tcp.HOST`.
pub fn tlsa_name(host: &str, port: u16) -> String {
    format!("_{port}._tcp.{}", host.trim_end_matches('.'))
}

/// The TLSA records of an MX host, looked up at its TLSA base domain (RFC
/// 7672 section 2.2.2, RFC 7671 section 7), and the names DANE-TA accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaneLookup {
    /// The MX host name as the MX record gave it (lower case, no final
    /// dot).
    pub host: String,
    /// The name at the end of the host's CNAME chain, only when the host is
    /// an alias and every step of the expansion was DNSSEC-secure.
    pub expanded: Option<String>,
    /// The TLSA base domain: the name whose `_PORT._tcp` TLSA records
    /// `lookup` judges (`expanded` when records were found there, else
    /// `host`). It is also the name to send in SNI (RFC 7672 section 8.1).
    pub base_domain: String,
    /// What the records found there mean for DANE.
    pub lookup: TlsaLookup,
}

impl DaneLookup {
    /// The reference identifiers for the DANE-TA name check (RFC 7672
    /// section 3.2.2): the MX host name and, after a secure CNAME
    /// expansion, the expanded name. An insecure expansion adds nothing: an
    /// attacker could have forged it.
    pub fn reference_names(&self) -> Vec<&str> {
        let mut names = vec![self.host.as_str()];
        if let Some(expanded) = &self.expanded {
            names.push(expanded);
        }
        names
    }

    /// The name for SNI: the TLSA base domain.
    pub fn server_name(&self) -> &str {
        &self.base_domain
    }

    /// The DANE state of a connection that presented `chain` (`None` when
    /// no TLS session was established), as of `time`.
    pub fn state(&self, chain: Option<&[CertificateDer<'_>]>, time: SystemTime) -> DaneState {
        match &self.lookup {
            TlsaLookup::NotApplicable(state) => state.clone(),
            TlsaLookup::Bogus(_) => DaneState::Bogus,
            TlsaLookup::Usable(records) => DaneState::Usable {
                records: records.len(),
                matched: chain.is_some_and(|chain| {
                    match_chain_for_names(records, chain, &self.reference_names(), time).is_some()
                }),
            },
        }
    }
}

/// Looks up the TLSA records of the SMTP server `host` on `port` (RFC 7672
/// section 2.2.2).
///
/// When `host` is an alias and every step of its CNAME expansion is
/// DNSSEC-secure, the records are looked up first at
/// `_PORT._tcp.EXPANDED`, and only when there are none (NODATA, NXDOMAIN,
/// or an answer that is not secure) at `_PORT._tcp.HOST`. After an
/// insecure expansion only `_PORT._tcp.HOST` is asked. A bogus CNAME is a
/// bogus lookup (do not use the host); timeouts and server failures are
/// errors (defer). A `host` that is not a domain name (an IP address) is
/// not expanded.
pub fn lookup_tlsa(dns: &dyn Dns, host: &str, port: u16) -> Result<DaneLookup, DnsError> {
    let host = normalize(host).unwrap_or_else(|_| host.trim_end_matches('.').to_owned());
    let expansion = match expand_cname(dns, &host) {
        Ok(expansion) => Some(expansion),
        Err(DnsError::InvalidName(_)) => None,
        Err(DnsError::Bogus { reason, .. }) => {
            return Ok(DaneLookup {
                base_domain: host.clone(),
                host,
                expanded: None,
                lookup: TlsaLookup::Bogus(format!("CNAME expansion: {reason}")),
            });
        }
        Err(error) => return Err(error),
    };
    let expanded = expansion
        .filter(|expansion| expansion.secure && expansion.is_alias())
        .map(|expansion| expansion.target);
    if let Some(target) = &expanded {
        let answer = dns.tlsa(&tlsa_name(target, port));
        let found = match &answer {
            Ok(answer) => answer.secure && !answer.records.is_empty(),
            Err(DnsError::NoSuchDomain { .. }) => false,
            // Bogus and temporary failures at the expanded name decide:
            // falling back would let an attacker who can break one answer
            // pick which records apply.
            Err(_) => true,
        };
        if found {
            return Ok(DaneLookup {
                host,
                base_domain: target.clone(),
                expanded,
                lookup: TlsaLookup::from_answer(answer)?,
            });
        }
    }
    let lookup = TlsaLookup::from_answer(dns.tlsa(&tlsa_name(&host, port)))?;
    Ok(DaneLookup {
        base_domain: host.clone(),
        host,
        expanded,
        lookup,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn presentation_format_round_trips_and_rejects_garbage() {
        let record: TlsaRecord = "2 0 1 AB cd".parse().unwrap();
        assert_eq!(record.data, vec![0xab, 0xcd]);
        assert_eq!(record.to_string(), "2 0 1 abcd");
        for bad in [
            "",
            "3",
            "3 1",
            "3 1 1",
            "3 1 1 abc",
            "3 1 1 zz",
            "256 1 1 00",
            "-1 1 1 00",
            "3 1 1 é0",
        ] {
            assert!(bad.parse::<TlsaRecord>().is_err(), "{bad}");
        }
    }

    #[test]
    fn usability_follows_rfc7672() {
        let record = |usage, selector, matching, len| TlsaRecord {
            usage,
            selector,
            matching,
            data: vec![0; len],
        };
        assert!(record(3, 1, 1, 32).is_usable());
        assert!(record(2, 0, 2, 64).is_usable());
        assert!(record(3, 0, 0, 500).is_usable());
        assert!(!record(0, 1, 1, 32).is_usable(), "PKIX-TA is not for SMTP");
        assert!(!record(1, 1, 1, 32).is_usable(), "PKIX-EE is not for SMTP");
        assert!(!record(3, 2, 1, 32).is_usable(), "unknown selector");
        assert!(!record(3, 1, 3, 32).is_usable(), "unknown matching type");
        assert!(
            !record(3, 1, 1, 31).is_usable(),
            "SHA-256 of the wrong length"
        );
        assert_eq!(tlsa_name("mx.example.", 25), "_25._tcp.mx.example");
    }
}
