//! Certificate revocation: CRLs (RFC 5280 section 5) and OCSP (RFC 6960)
//! for every certificate of a validated path, the end entity and the
//! intermediates (a trust anchor is trusted as configured, not checked).
//!
//! The core works offline: CRLs come from the caller ([`Crl::load`]), and
//! anything that needs the network sits behind [`RevocationSource`] (the
//! HTTP OCSP client `HttpOcsp` and the CRL distribution point client
//! `HttpCrl`, both with the `ocsp-http` feature, are implementations over
//! [`OcspTransport`] and [`CrlFetcher`]; both cache answers until their
//! nextUpdate and remember failed requests for [`RETRY_FAILED_AFTER`]). A
//! [`Revocation`] holds both and a [`RevocationMode`]:
//!
//! | mode | revoked | status unknown |
//! |---|---|---|
//! | `require` | invalid | invalid ([`crate::SignatureStatus::RevocationUnknown`]) |
//! | `prefer` | invalid | valid, reported ([`crate::Verification::revocation_unknown`]) |
//! | `off` | not checked | not checked |
//!
//! A revoked certificate never makes a signature valid, whatever the mode
//! (other than `off`) and whenever it was revoked: deciding that a
//! signature was made before the revocation needs a trusted timestamp
//! (RFC 3161), which is out of scope; the signing-time attribute is the
//! signer's claim and proves nothing.
//!
//! What counts as a status: a CRL whose signature verifies with the key of
//! the certificate's issuer (which must be allowed to sign CRLs), whose
//! issuer is the certificate's issuer, that is current at the verification
//! time (thisUpdate not after it, nextUpdate not before it) and that covers
//! the certificate (an issuingDistributionPoint limited to CA or user
//! certificates, or to some reasons, does not vouch for the others; delta
//! and indirect CRLs and unknown critical extensions are refused, as RFC
//! 5280 section 5.2 asks of a client that does not process them). Or an
//! OCSP response that passes the checks in [`ocsp`]. Anything else is
//! unknown, with the reason recorded.

pub(crate) mod crl;
pub mod crl_dp;
mod failures;
#[cfg(feature = "ocsp-http")]
mod http;
pub mod ocsp;

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912::{
    ECDSA_WITH_SHA_256, ECDSA_WITH_SHA_384, ECDSA_WITH_SHA_512, ID_RSASSA_PSS,
    SHA_256_WITH_RSA_ENCRYPTION, SHA_384_WITH_RSA_ENCRYPTION, SHA_512_WITH_RSA_ENCRYPTION,
};
use spki::AlgorithmIdentifierOwned;

pub use crl::Crl;
pub use crl_dp::{CrlDpSource, CrlFetcher};
pub use failures::RETRY_FAILED_AFTER;
#[cfg(feature = "ocsp-http")]
pub use http::{HttpCrl, HttpOcsp, HttpTransport};
pub use ocsp::{OcspSource, OcspTransport, Responders};

use crate::certificate::Certificate;
use crate::digest::DigestAlgorithm;
use crate::signature_algorithm::{self, SignatureScheme};

/// How much a missing revocation status counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevocationMode {
    /// Every certificate of the path needs a known status; unknown is a
    /// failure.
    Require,
    /// Revoked is a failure; unknown is reported beside a valid signature.
    Prefer,
    /// No revocation checks.
    Off,
}

impl RevocationMode {
    /// The name used in configuration and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            RevocationMode::Require => "require",
            RevocationMode::Prefer => "prefer",
            RevocationMode::Off => "off",
        }
    }
}

impl fmt::Display for RevocationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A revocation mode name that is not `require`, `prefer` or `off`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown revocation mode {0:?}: expected require, prefer or off")]
pub struct UnknownRevocationMode(pub String);

impl std::str::FromStr for RevocationMode {
    type Err = UnknownRevocationMode;

    fn from_str(s: &str) -> Result<RevocationMode, UnknownRevocationMode> {
        match s.to_ascii_lowercase().as_str() {
            "require" => Ok(RevocationMode::Require),
            "prefer" => Ok(RevocationMode::Prefer),
            "off" => Ok(RevocationMode::Off),
            _ => Err(UnknownRevocationMode(s.to_owned())),
        }
    }
}

/// What went wrong with revocation data: a CRL or OCSP response that
/// cannot be used, or a source that could not be asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevocationError {
    /// A PEM block could not be decoded.
    #[error("{origin}: {source}")]
    Pem {
        /// Where the data came from.
        origin: String,
        /// What the PEM decoder reported.
        source: crate::PemError,
    },
    /// The input holds no CRL.
    #[error("{0}: no CRL found (expected PEM `X509 CRL` blocks or one DER CRL)")]
    NoCrl(String),
    /// Not a DER-encoded RFC 5280 CertificateList.
    #[error("{origin}: not a valid DER-encoded CRL ({source})")]
    MalformedCrl {
        /// Where the CRL came from.
        origin: String,
        /// What the DER decoder reported.
        source: der::Error,
    },
    /// A CRL version other than v1 or v2.
    #[error("{0}: unsupported CRL version")]
    CrlVersion(String),
    /// The CRL names another issuer than the certificate's.
    #[error("{origin}: issued by {crl_issuer}, not by {certificate_issuer}")]
    WrongIssuer {
        /// Where the CRL came from.
        origin: String,
        /// The CRL's issuer.
        crl_issuer: String,
        /// The certificate's issuer.
        certificate_issuer: String,
    },
    /// The signature of a CRL or OCSP response does not verify.
    #[error("{origin}: the signature does not verify ({reason})")]
    BadSignature {
        /// Where the data came from.
        origin: String,
        /// Why (bad value, weak or unsupported algorithm, wrong key).
        reason: String,
    },
    /// The issuer's keyUsage does not allow signing CRLs.
    #[error("{0}: the issuer's key usage does not include cRLSign")]
    IssuerMayNotSignCrls(String),
    /// thisUpdate lies after the verification time.
    #[error("{0}: not yet valid (thisUpdate after the verification time)")]
    NotYetValid(String),
    /// nextUpdate lies before the verification time.
    #[error("{0}: expired (nextUpdate before the verification time)")]
    Expired(String),
    /// An extension that the data depends on and we do not process
    /// (delta and indirect CRLs, unknown critical extensions).
    #[error("{origin}: unsupported {what}")]
    Unsupported {
        /// Where the data came from.
        origin: String,
        /// What is not supported.
        what: String,
    },
    /// The CRL does not cover this kind of certificate (an
    /// issuingDistributionPoint scope).
    #[error("{origin}: does not cover {what}")]
    NotCovering {
        /// Where the CRL came from.
        origin: String,
        /// What it leaves out.
        what: &'static str,
    },
    /// An OCSP response that is not well-formed.
    #[error("OCSP {origin}: malformed response ({reason})")]
    MalformedOcsp {
        /// The responder.
        origin: String,
        /// What is wrong.
        reason: String,
    },
    /// The responder answered with an error status (RFC 6960 section
    /// 4.2.1: malformedRequest, internalError, tryLater, ...).
    #[error("OCSP {origin}: responder status {status}")]
    OcspStatus {
        /// The responder.
        origin: String,
        /// The status name.
        status: &'static str,
    },
    /// The response is signed by neither the CA nor a responder the CA
    /// delegated to (id-kp-OCSPSigning, issued by the CA).
    #[error("OCSP {origin}: signed by an unauthorised responder ({reason})")]
    UnauthorisedResponder {
        /// The responder.
        origin: String,
        /// Why it is not authorised.
        reason: String,
    },
    /// The response does not answer the question asked (another CertID,
    /// another nonce).
    #[error("OCSP {origin}: the response does not match the request ({reason})")]
    Mismatch {
        /// The responder.
        origin: String,
        /// What differs.
        reason: String,
    },
    /// The responder could not be reached or its HTTP answer is unusable.
    #[error("OCSP {origin}: {reason}")]
    Unreachable {
        /// The responder.
        origin: String,
        /// What failed.
        reason: String,
    },
    /// A CRL distribution point could not be reached, or its answer is no
    /// single CRL (an HTTP error, larger than the limit, several CRLs).
    #[error("CRL {origin}: {reason}")]
    CrlUnavailable {
        /// The distribution point's URL.
        origin: String,
        /// What failed.
        reason: String,
    },
}

/// Where a status came from, for reports ("status source").
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusSource {
    /// A CRL.
    Crl {
        /// Where the CRL came from: the file name the caller gave, or the
        /// distribution point's URL.
        origin: String,
        /// The CRL's issuer (RFC 4514).
        issuer: String,
        /// Its thisUpdate.
        this_update: SystemTime,
        /// Its nextUpdate, if any.
        next_update: Option<SystemTime>,
        /// Whether a downloaded CRL came from the cache (always false for
        /// files).
        cached: bool,
    },
    /// An OCSP response.
    Ocsp {
        /// The responder's URL.
        responder: String,
        /// The response's thisUpdate.
        this_update: SystemTime,
        /// Its nextUpdate, if any.
        next_update: Option<SystemTime>,
        /// Whether the response came from the cache.
        cached: bool,
    },
}

impl StatusSource {
    /// `crl` or `ocsp`.
    pub fn kind(&self) -> &'static str {
        match self {
            StatusSource::Crl { .. } => "crl",
            StatusSource::Ocsp { .. } => "ocsp",
        }
    }

    /// Whether the status came from a cache of an earlier download or
    /// response.
    pub fn cached(&self) -> bool {
        match self {
            StatusSource::Crl { cached, .. } | StatusSource::Ocsp { cached, .. } => *cached,
        }
    }

    /// The file, distribution point or responder.
    pub fn origin(&self) -> &str {
        match self {
            StatusSource::Crl { origin, .. } => origin,
            StatusSource::Ocsp { responder, .. } => responder,
        }
    }
}

impl fmt::Display for StatusSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatusSource::Crl { origin, cached, .. } => {
                write!(f, "CRL {origin}{}", if *cached { " (cached)" } else { "" })
            }
            StatusSource::Ocsp {
                responder, cached, ..
            } => write!(
                f,
                "OCSP {responder}{}",
                if *cached { " (cached)" } else { "" }
            ),
        }
    }
}

/// A status one source knows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum KnownStatus {
    /// Not revoked.
    Good,
    /// Revoked.
    Revoked {
        /// When, as the CA says.
        time: SystemTime,
        /// The CRLReason name (RFC 5280 section 5.3.1), if given.
        reason: Option<&'static str>,
    },
}

/// A known status and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcedStatus {
    /// The status.
    pub status: KnownStatus,
    /// Its source.
    pub source: StatusSource,
}

/// The outcome for one certificate of the path.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatusOutcome {
    /// Not revoked, according to `source`.
    Good {
        /// Who says so.
        source: StatusSource,
    },
    /// Revoked, according to `source`.
    Revoked {
        /// Who says so.
        source: StatusSource,
        /// When it was revoked.
        time: SystemTime,
        /// The CRLReason name, if given.
        reason: Option<&'static str>,
    },
    /// No usable source knew; `reasons` says what was tried and why it did
    /// not count (empty: nothing was available).
    Unknown {
        /// One line per source that did not give a status.
        reasons: Vec<String>,
    },
}

/// The revocation result for one certificate of a signer's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateStatus {
    /// The certificate's subject (RFC 4514).
    pub subject: String,
    /// Its serial number (hex).
    pub serial: String,
    /// What was found.
    pub outcome: StatusOutcome,
}

/// An online (or cached) source of certificate status, such as an OCSP
/// client. The core calls it only for certificates no CRL answered, so a
/// caller who wants to stay offline passes none.
pub trait RevocationSource: Send + Sync + fmt::Debug {
    /// The status of `certificate`, issued by `issuer`, at `time`:
    /// `Ok(None)` when this source has nothing to say about the
    /// certificate (no responder for it), an error when asking failed or
    /// the answer cannot be trusted.
    fn status(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        time: SystemTime,
    ) -> Result<Option<SourcedStatus>, RevocationError>;
}

/// Revocation checking for a [`crate::Verifier`]: a mode, CRLs, online
/// sources.
///
/// ```
/// use smime_core::revocation::{Revocation, RevocationMode};
///
/// let revocation = Revocation::new(RevocationMode::Require);
/// assert_eq!(revocation.mode(), RevocationMode::Require);
/// ```
#[derive(Debug, Clone)]
pub struct Revocation {
    mode: RevocationMode,
    crls: Vec<Crl>,
    sources: Vec<Arc<dyn RevocationSource>>,
}

impl Revocation {
    /// Checks in `mode`, with no CRL and no source yet.
    pub fn new(mode: RevocationMode) -> Revocation {
        Revocation {
            mode,
            crls: Vec::new(),
            sources: Vec::new(),
        }
    }

    /// Adds CRLs (from files the caller loaded).
    pub fn with_crls(mut self, crls: impl IntoIterator<Item = Crl>) -> Revocation {
        self.crls.extend(crls);
        self
    }

    /// Adds an online source, asked in the order added, after the CRLs.
    pub fn with_source(mut self, source: Arc<dyn RevocationSource>) -> Revocation {
        self.sources.push(source);
        self
    }

    /// The mode.
    pub fn mode(&self) -> RevocationMode {
        self.mode
    }

    /// The status of `certificate`, issued by `issuer`, at `time`.
    ///
    /// Every CRL of the issuer is consulted; any one that lists the
    /// certificate makes it revoked. Online sources are asked only when no
    /// CRL gave a status, and the first that knows answers.
    pub fn check(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        time: SystemTime,
    ) -> StatusOutcome {
        let mut reasons = Vec::new();
        let mut good = None;
        for crl in &self.crls {
            if crl.issuer() != certificate.x509().tbs_certificate().issuer() {
                continue; // another CA's CRL: not an attempt worth reporting
            }
            match crl.status(certificate, issuer, time) {
                Ok(SourcedStatus {
                    status: KnownStatus::Revoked { time, reason },
                    source,
                }) => {
                    return StatusOutcome::Revoked {
                        source,
                        time,
                        reason,
                    };
                }
                Ok(SourcedStatus { source, .. }) => {
                    good.get_or_insert(source);
                }
                Err(error) => reasons.push(error.to_string()),
            }
        }
        if let Some(source) = good {
            return StatusOutcome::Good { source };
        }
        for source in &self.sources {
            match source.status(certificate, issuer, time) {
                Ok(Some(SourcedStatus {
                    status: KnownStatus::Revoked { time, reason },
                    source,
                })) => {
                    return StatusOutcome::Revoked {
                        source,
                        time,
                        reason,
                    };
                }
                Ok(Some(SourcedStatus { source, .. })) => return StatusOutcome::Good { source },
                Ok(None) => {}
                Err(error) => reasons.push(error.to_string()),
            }
        }
        StatusOutcome::Unknown { reasons }
    }

    /// Checks each certificate of `path` (end entity first, each followed
    /// by its issuer, ending with the trust anchor, which is not checked).
    pub fn check_path(&self, path: &[Certificate], time: SystemTime) -> Vec<CertificateStatus> {
        path.windows(2)
            .filter_map(|pair| match pair {
                [certificate, issuer] => Some(CertificateStatus {
                    subject: certificate.subject(),
                    serial: certificate.serial_hex(),
                    outcome: self.check(certificate, issuer, time),
                }),
                _ => None,
            })
            .collect()
    }
}

/// The scheme, digest and PSS salt length of an X.509 signatureAlgorithm
/// (certificates, CRLs, OCSP responses): the algorithms certificate path
/// validation accepts, SHA-1 and MD5 refused.
pub(crate) fn x509_signature_algorithm(
    algorithm: &AlgorithmIdentifierOwned,
) -> Result<(SignatureScheme, DigestAlgorithm, Option<usize>), crate::Error> {
    let digest = match algorithm.oid {
        SHA_256_WITH_RSA_ENCRYPTION | ECDSA_WITH_SHA_256 => DigestAlgorithm::Sha256,
        SHA_384_WITH_RSA_ENCRYPTION | ECDSA_WITH_SHA_384 => DigestAlgorithm::Sha384,
        SHA_512_WITH_RSA_ENCRYPTION | ECDSA_WITH_SHA_512 => DigestAlgorithm::Sha512,
        ID_RSASSA_PSS => pss_digest(algorithm)?,
        // Weak ones (SHA-1, MD5) and unknown ones are judged by the CMS
        // parser, which names them.
        _ => DigestAlgorithm::Sha256,
    };
    let (scheme, salt) = signature_algorithm::parse(algorithm, digest)?;
    if algorithm.oid == const_oid::db::rfc5912::RSA_ENCRYPTION {
        // Bare rsaEncryption is a CMS convention; X.509 names the digest.
        return Err(crate::Error::UnsupportedAlgorithm(algorithm.oid));
    }
    Ok((scheme, digest, salt))
}

fn pss_digest(algorithm: &AlgorithmIdentifierOwned) -> Result<DigestAlgorithm, crate::Error> {
    use der::{Decode, Encode};
    const ID_SHA_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
    let params = algorithm
        .parameters
        .as_ref()
        .ok_or(crate::Error::UnsupportedAlgorithm(ID_RSASSA_PSS))?;
    let params = signature_algorithm::RsassaPssParams::from_der(
        &params.to_der().map_err(crate::Error::InvalidCms)?,
    )
    .map_err(crate::Error::InvalidCms)?;
    let hash = params
        .hash_algorithm()
        .ok_or(crate::Error::WeakAlgorithm(ID_SHA_1))?;
    signature_algorithm::parse_digest(hash)
}

/// Verifies `signature` over `signed` (the DER of a TBS structure) with
/// `signer`'s key; the error says why not.
pub(crate) fn verify_x509_signature(
    signer: &Certificate,
    algorithm: &AlgorithmIdentifierOwned,
    signed: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    let (scheme, digest, salt) = x509_signature_algorithm(algorithm).map_err(|e| e.to_string())?;
    crate::verification::check_signature_value(
        signer,
        scheme,
        salt,
        digest,
        &digest.digest(signed),
        signature,
    )
    .map_err(|status| status.to_string())
}
