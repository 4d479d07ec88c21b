//! OCSP (RFC 6960): requests, responses and their checks, independent of
//! how the bytes travel ([`OcspTransport`]; [`crate::revocation::HttpOcsp`]
//! posts them over plain HTTP).
//!
//! A response counts only when:
//! - its status is `successful` and it is a `BasicOCSPResponse`;
//! - it is signed by the certificate's issuer itself, or by a responder
//!   certificate that the issuer signed, that carries `id-kp-OCSPSigning`
//!   and is valid at the time (RFC 6960 section 4.2.2.2; the responder is
//!   named by the responderID, by name or key hash); any other signer is
//!   refused, whatever certificates the response brings along;
//! - it answers our CertID (issuer name hash, issuer key hash, serial);
//! - thisUpdate is not after the verification time and nextUpdate not
//!   before it (with [`CLOCK_SKEW`] allowed either way, as responders and
//!   gateways keep different clocks); without nextUpdate, thisUpdate may be
//!   at most [`MAX_AGE_WITHOUT_NEXT_UPDATE`] old;
//! - a nonce, when we sent one and the response carries one, is ours; a
//!   missing nonce is accepted unless the source requires it (many
//!   responders send pre-produced responses without one).
//!
//! The CertID uses SHA-1: RFC 6960 makes SHA-1 the algorithm every
//! responder must understand, and OpenSSL's responder, like most CA
//! responders, matches requests by SHA-1 hashes (RFC 5019 profile). The
//! hashes only identify the certificate; nothing is trusted because of
//! them, so SHA-1's collision weakness does not matter here.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use const_oid::ObjectIdentifier;
use der::asn1::{BitString, GeneralizedTime, Null, OctetString};
use der::{Any, Decode, Encode, Sequence, Tag, TagNumber, Tagged};
use sha1::{Digest, Sha1};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::crl::CrlReason;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AccessDescription, AuthorityInfoAccessSyntax};
use x509_cert::ext::{Extension, Extensions};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;

use super::failures::{FailureMemory, RETRY_FAILED_AFTER};
use super::{KnownStatus, RevocationError, RevocationSource, SourcedStatus, StatusSource};
use crate::certificate::Certificate;

const ID_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_PKIX_OCSP_BASIC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.1");
const ID_PKIX_OCSP_NONCE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1.2");
const ID_AD_OCSP: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.48.1");
const ID_KP_OCSP_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.9");

/// How far thisUpdate may lie after, and nextUpdate before, the
/// verification time.
pub const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// How old a response without nextUpdate may be.
pub const MAX_AGE_WITHOUT_NEXT_UPDATE: Duration = Duration::from_secs(24 * 60 * 60);
/// The largest response accepted (OpenSSL's responder sends about 2 KiB;
/// a response with a few certificates stays far below).
pub const MAX_RESPONSE: usize = 64 * 1024;

/// `CertID` (RFC 6960 section 4.1.1).
#[derive(Debug, Clone, PartialEq, Eq, Sequence)]
pub struct CertId {
    /// The hash algorithm of the two hashes.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// Hash of the issuer's distinguished name (DER).
    pub issuer_name_hash: OctetString,
    /// Hash of the issuer's public key (the BIT STRING's contents).
    pub issuer_key_hash: OctetString,
    /// The certificate's serial number.
    pub serial_number: SerialNumber,
}

#[derive(Sequence)]
struct Request {
    req_cert: CertId,
}

#[derive(Sequence)]
struct TbsRequest {
    request_list: Vec<Request>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    request_extensions: Option<Extensions>,
}

#[derive(Sequence)]
struct OcspRequest {
    tbs_request: TbsRequest,
}

#[derive(Sequence)]
struct OcspResponseRaw {
    /// ENUMERATED, read as its tag and contents (any value must be
    /// reportable, not only the ones RFC 6960 lists).
    response_status: Any,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    response_bytes: Option<ResponseBytes>,
}

#[derive(Sequence)]
struct ResponseBytes {
    response_type: ObjectIdentifier,
    response: OctetString,
}

#[derive(Sequence)]
struct BasicOcspResponseRaw {
    tbs_response_data: Any,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    certs: Option<Vec<Any>>,
}

#[derive(Sequence)]
struct ResponseData {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    version: Option<u8>,
    responder_id: Any,
    produced_at: GeneralizedTime,
    responses: Vec<SingleResponseRaw>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    response_extensions: Option<Extensions>,
}

#[derive(Sequence)]
struct SingleResponseRaw {
    cert_id: CertId,
    cert_status: Any,
    this_update: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    next_update: Option<GeneralizedTime>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    single_extensions: Option<Extensions>,
}

#[derive(Sequence)]
struct RevokedInfo {
    revocation_time: GeneralizedTime,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    revocation_reason: Option<CrlReason>,
}

/// Who signed a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponderId {
    /// By distinguished name.
    ByName(Name),
    /// By the SHA-1 hash of its public key.
    ByKey(Vec<u8>),
}

/// A certificate's status as one SingleResponse gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertStatus {
    /// good.
    Good,
    /// revoked, when and why.
    Revoked {
        /// revocationTime.
        time: SystemTime,
        /// The CRLReason name, if given.
        reason: Option<&'static str>,
    },
    /// unknown: the responder does not know the certificate.
    Unknown,
}

/// One SingleResponse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SingleResponse {
    /// Which certificate.
    pub cert_id: CertId,
    /// Its status.
    pub status: CertStatus,
    /// thisUpdate.
    pub this_update: SystemTime,
    /// nextUpdate.
    pub next_update: Option<SystemTime>,
}

/// A parsed `OCSPResponse` whose status is `successful`, holding a
/// `BasicOCSPResponse`. Parsing checks structure only; [`check_response`]
/// does the rest.
#[derive(Debug, Clone)]
pub struct OcspResponse {
    tbs: Vec<u8>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: Vec<u8>,
    /// Certificates the responder included (its own, usually).
    pub certificates: Vec<Certificate>,
    /// The responderID.
    pub responder: ResponderId,
    /// producedAt.
    pub produced_at: SystemTime,
    /// The answers.
    pub responses: Vec<SingleResponse>,
    /// The nonce extension's value, if present.
    pub nonce: Option<Vec<u8>>,
}

fn malformed(origin: &str, reason: impl fmt::Display) -> RevocationError {
    RevocationError::MalformedOcsp {
        origin: origin.to_owned(),
        reason: reason.to_string(),
    }
}

impl OcspResponse {
    /// Parses an `OCSPResponse` (DER). A responder error status
    /// (malformedRequest, tryLater, ...) is [`RevocationError::OcspStatus`].
    pub fn from_der(der: &[u8], origin: &str) -> Result<OcspResponse, RevocationError> {
        let bad = |error: der::Error| malformed(origin, error);
        let raw = OcspResponseRaw::from_der(der).map_err(bad)?;
        if raw.response_status.tag() != Tag::Enumerated {
            return Err(malformed(origin, "responseStatus is not ENUMERATED"));
        }
        let status = match raw.response_status.value() {
            [0] => None,
            [1] => Some("malformedRequest"),
            [2] => Some("internalError"),
            [3] => Some("tryLater"),
            [5] => Some("sigRequired"),
            [6] => Some("unauthorized"),
            _ => Some("invalid status"),
        };
        if let Some(status) = status {
            return Err(RevocationError::OcspStatus {
                origin: origin.to_owned(),
                status,
            });
        }
        let bytes = raw
            .response_bytes
            .ok_or_else(|| malformed(origin, "successful without responseBytes"))?;
        if bytes.response_type != ID_PKIX_OCSP_BASIC {
            return Err(RevocationError::Unsupported {
                origin: origin.to_owned(),
                what: format!("OCSP response type {}", bytes.response_type),
            });
        }
        let basic = BasicOcspResponseRaw::from_der(bytes.response.as_bytes()).map_err(bad)?;
        let tbs = basic.tbs_response_data.to_der().map_err(bad)?;
        let data = ResponseData::from_der(&tbs).map_err(bad)?;
        if data.version.is_some_and(|v| v != 0) {
            return Err(malformed(origin, "unsupported ResponseData version"));
        }
        let signature = basic
            .signature
            .as_bytes()
            .ok_or_else(|| malformed(origin, "signature is not whole octets"))?
            .to_vec();
        let mut certificates = Vec::new();
        for any in basic.certs.unwrap_or_default() {
            let der = any.to_der().map_err(bad)?;
            certificates.push(
                Certificate::from_der(&der)
                    .map_err(|error| malformed(origin, format!("certificate: {error}")))?,
            );
        }
        let responder = responder_id(&data.responder_id).map_err(bad)?;
        let mut responses = Vec::new();
        for single in data.responses {
            responses.push(SingleResponse {
                status: cert_status(&single.cert_status).map_err(bad)?,
                cert_id: single.cert_id,
                this_update: single.this_update.to_system_time(),
                next_update: single.next_update.map(|t| t.to_system_time()),
            });
            // Critical single extensions we do not know would change the
            // meaning of the answer (RFC 5280 rules, RFC 6960 section 4.4).
            if let Some(extension) = single
                .single_extensions
                .iter()
                .flatten()
                .find(|e| e.critical)
            {
                return Err(RevocationError::Unsupported {
                    origin: origin.to_owned(),
                    what: format!("critical single response extension {}", extension.extn_id),
                });
            }
        }
        let mut nonce = None;
        for extension in data.response_extensions.iter().flatten() {
            if extension.extn_id == ID_PKIX_OCSP_NONCE {
                nonce = Some(nonce_value(extension));
            } else if extension.critical {
                return Err(RevocationError::Unsupported {
                    origin: origin.to_owned(),
                    what: format!("critical response extension {}", extension.extn_id),
                });
            }
        }
        Ok(OcspResponse {
            tbs,
            signature_algorithm: basic.signature_algorithm,
            signature,
            certificates,
            responder,
            produced_at: data.produced_at.to_system_time(),
            responses,
            nonce,
        })
    }
}

/// The nonce: RFC 8954 wraps it in an OCTET STRING inside the extension's
/// OCTET STRING; some responders send it bare. Either way the same bytes
/// are compared with what we sent the same way.
fn nonce_value(extension: &Extension) -> Vec<u8> {
    let value = extension.extn_value.as_bytes();
    OctetString::from_der(value)
        .map(|inner| inner.as_bytes().to_vec())
        .unwrap_or_else(|_| value.to_vec())
}

fn responder_id(any: &Any) -> der::Result<ResponderId> {
    match any.tag() {
        Tag::ContextSpecific {
            constructed: true,
            number: TagNumber(1),
        } => Ok(ResponderId::ByName(Name::from_der(any.value())?)),
        Tag::ContextSpecific {
            constructed: true,
            number: TagNumber(2),
        } => Ok(ResponderId::ByKey(
            OctetString::from_der(any.value())?.as_bytes().to_vec(),
        )),
        tag => Err(der::ErrorKind::TagUnexpected {
            expected: None,
            actual: tag,
        }
        .into()),
    }
}

fn cert_status(any: &Any) -> der::Result<CertStatus> {
    match any.tag() {
        Tag::ContextSpecific {
            number: TagNumber(0),
            ..
        } => Ok(CertStatus::Good),
        Tag::ContextSpecific {
            constructed: true,
            number: TagNumber(1),
        } => {
            // [1] IMPLICIT RevokedInfo: the SEQUENCE with its tag replaced.
            let mut der = Vec::new();
            Tag::Sequence.encode(&mut der)?;
            der::Length::try_from(any.value().len())?.encode(&mut der)?;
            der.extend_from_slice(any.value());
            let info = RevokedInfo::from_der(&der)?;
            Ok(CertStatus::Revoked {
                time: info.revocation_time.to_system_time(),
                reason: info.revocation_reason.map(super::crl::reason_name),
            })
        }
        Tag::ContextSpecific {
            number: TagNumber(2),
            ..
        } => Ok(CertStatus::Unknown),
        tag => Err(der::ErrorKind::TagUnexpected {
            expected: None,
            actual: tag,
        }
        .into()),
    }
}

/// The SHA-1 CertID of `certificate`, issued by `issuer`.
pub fn cert_id(certificate: &Certificate, issuer: &Certificate) -> Result<CertId, der::Error> {
    cert_id_with(certificate, issuer, ID_SHA1)
}

fn cert_id_with(
    certificate: &Certificate,
    issuer: &Certificate,
    algorithm: ObjectIdentifier,
) -> Result<CertId, der::Error> {
    let hash = |data: &[u8]| -> Vec<u8> {
        if algorithm == ID_SHA256 {
            sha2::Sha256::digest(data).to_vec()
        } else {
            Sha1::digest(data).to_vec()
        }
    };
    let name = certificate.x509().tbs_certificate().issuer().to_der()?;
    let key = issuer
        .x509()
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes();
    Ok(CertId {
        hash_algorithm: AlgorithmIdentifierOwned {
            oid: algorithm,
            // SHA-1 with NULL parameters, as OpenSSL writes and expects.
            parameters: Some(Any::from(Null)),
        },
        issuer_name_hash: OctetString::new(hash(&name))?,
        issuer_key_hash: OctetString::new(hash(key))?,
        serial_number: certificate.x509().tbs_certificate().serial_number().clone(),
    })
}

/// An `OCSPRequest` (DER) for one certificate, with a nonce extension when
/// `nonce` is given.
pub fn request(
    certificate: &Certificate,
    issuer: &Certificate,
    nonce: Option<&[u8]>,
) -> Result<Vec<u8>, der::Error> {
    let request_extensions = match nonce {
        Some(nonce) => Some(vec![Extension {
            extn_id: ID_PKIX_OCSP_NONCE,
            critical: false,
            extn_value: OctetString::new(OctetString::new(nonce)?.to_der()?)?,
        }]),
        None => None,
    };
    OcspRequest {
        tbs_request: TbsRequest {
            request_list: vec![Request {
                req_cert: cert_id(certificate, issuer)?,
            }],
            request_extensions,
        },
    }
    .to_der()
}

/// Whether a response's CertID names `certificate` of `issuer` (SHA-1 or
/// SHA-256 hashes; parameters of the hash algorithm are not compared:
/// responders write SHA-1 with and without NULL).
fn matches(id: &CertId, certificate: &Certificate, issuer: &Certificate) -> bool {
    let algorithm = id.hash_algorithm.oid;
    if algorithm != ID_SHA1 && algorithm != ID_SHA256 {
        return false;
    }
    cert_id_with(certificate, issuer, algorithm).is_ok_and(|ours| {
        ours.issuer_name_hash == id.issuer_name_hash
            && ours.issuer_key_hash == id.issuer_key_hash
            && ours.serial_number == id.serial_number
    })
}

fn key_hash(certificate: &Certificate) -> Vec<u8> {
    Sha1::digest(
        certificate
            .x509()
            .tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .raw_bytes(),
    )
    .to_vec()
}

fn names(responder: &ResponderId, certificate: &Certificate) -> bool {
    match responder {
        ResponderId::ByName(name) => certificate.x509().tbs_certificate().subject() == name,
        ResponderId::ByKey(hash) => key_hash(certificate) == *hash,
    }
}

/// Checks `response` as the answer about `certificate` (issued by
/// `issuer`) at `time`: signer authorised, signature, CertID, times, nonce
/// (see the module documentation). `origin` names the responder.
pub fn check_response(
    response: &OcspResponse,
    certificate: &Certificate,
    issuer: &Certificate,
    time: SystemTime,
    nonce: Option<&[u8]>,
    origin: &str,
) -> Result<SourcedStatus, RevocationError> {
    let unauthorised = |reason: String| RevocationError::UnauthorisedResponder {
        origin: origin.to_owned(),
        reason,
    };
    // The signer: the issuer itself, or a delegated responder it certified.
    let signer = if names(&response.responder, issuer) {
        issuer
    } else {
        let delegate = response
            .certificates
            .iter()
            .find(|c| names(&response.responder, c))
            .ok_or_else(|| {
                unauthorised("neither the CA nor a responder certificate in the response".into())
            })?;
        check_delegate(delegate, issuer, time).map_err(unauthorised)?;
        delegate
    };
    super::verify_x509_signature(
        signer,
        &response.signature_algorithm,
        &response.tbs,
        &response.signature,
    )
    .map_err(|reason| RevocationError::BadSignature {
        origin: origin.to_owned(),
        reason,
    })?;
    if let (Some(sent), Some(received)) = (nonce, &response.nonce)
        && sent != received.as_slice()
    {
        return Err(RevocationError::Mismatch {
            origin: origin.to_owned(),
            reason: "another nonce (a replayed response)".to_owned(),
        });
    }
    let single = response
        .responses
        .iter()
        .find(|single| matches(&single.cert_id, certificate, issuer))
        .ok_or_else(|| RevocationError::Mismatch {
            origin: origin.to_owned(),
            reason: "no answer for this certificate".to_owned(),
        })?;
    if single.this_update > later(time, CLOCK_SKEW) {
        return Err(RevocationError::NotYetValid(format!("OCSP {origin}")));
    }
    match single.next_update {
        Some(next) if later(next, CLOCK_SKEW) < time => {
            return Err(RevocationError::Expired(format!("OCSP {origin}")));
        }
        None if later(single.this_update, MAX_AGE_WITHOUT_NEXT_UPDATE) < time => {
            return Err(RevocationError::Expired(format!(
                "OCSP {origin} (no nextUpdate, older than a day)"
            )));
        }
        _ => {}
    }
    let status = match single.status {
        CertStatus::Good => KnownStatus::Good,
        CertStatus::Revoked { time, reason } => KnownStatus::Revoked { time, reason },
        CertStatus::Unknown => {
            return Err(RevocationError::Mismatch {
                origin: origin.to_owned(),
                reason: "the responder does not know the certificate (status unknown)".to_owned(),
            });
        }
    };
    Ok(SourcedStatus {
        status,
        source: StatusSource::Ocsp {
            responder: origin.to_owned(),
            this_update: single.this_update,
            next_update: single.next_update,
            cached: false,
        },
    })
}

/// `time + by`, saturating instead of panicking at the end of
/// `SystemTime` (times come from responses and callers).
fn later(time: SystemTime, by: Duration) -> SystemTime {
    time.checked_add(by).unwrap_or(time)
}

/// A delegated responder (RFC 6960 section 4.2.2.2): issued and signed by
/// the CA, id-kp-OCSPSigning, valid at `time`.
fn check_delegate(
    delegate: &Certificate,
    issuer: &Certificate,
    time: SystemTime,
) -> Result<(), String> {
    let tbs = delegate.x509().tbs_certificate();
    if tbs.issuer() != issuer.x509().tbs_certificate().subject() {
        return Err(format!(
            "responder certificate {} is not issued by the CA",
            delegate.subject()
        ));
    }
    if !delegate
        .extended_key_usage()
        .is_some_and(|purposes| purposes.contains(&ID_KP_OCSP_SIGNING))
    {
        return Err(format!(
            "responder certificate {} lacks id-kp-OCSPSigning",
            delegate.subject()
        ));
    }
    if !delegate.is_valid_at(time) {
        return Err(format!(
            "responder certificate {} is not valid at the time",
            delegate.subject()
        ));
    }
    let signed = tbs.to_der().map_err(|error| error.to_string())?;
    let signature = delegate
        .x509()
        .signature()
        .as_bytes()
        .ok_or("responder certificate signature is not whole octets")?;
    super::verify_x509_signature(
        issuer,
        delegate.x509().signature_algorithm(),
        &signed,
        signature,
    )
    .map_err(|reason| format!("responder certificate not signed by the CA: {reason}"))
}

/// The OCSP responder URLs a certificate names (authorityInfoAccess,
/// id-ad-ocsp, `http:` URIs).
pub fn responders(certificate: &Certificate) -> Vec<String> {
    let Ok(Some((_, access))) = certificate
        .x509()
        .tbs_certificate()
        .get_extension::<AuthorityInfoAccessSyntax>()
    else {
        return Vec::new();
    };
    access
        .0
        .iter()
        .filter_map(
            |AccessDescription {
                 access_method,
                 access_location,
             }| {
                match (access_method, access_location) {
                    (method, GeneralName::UniformResourceIdentifier(uri))
                        if *method == ID_AD_OCSP =>
                    {
                        Some(uri.as_str().to_owned())
                    }
                    _ => None,
                }
            },
        )
        .filter(|uri| uri.to_ascii_lowercase().starts_with("http://"))
        .collect()
}

/// Carries an OCSP request to a responder and brings back the response
/// bytes. [`crate::revocation::HttpOcsp`] does it over HTTP; tests and
/// hosts with their own HTTP stack implement it themselves.
pub trait OcspTransport: Send + Sync + fmt::Debug {
    /// Sends `request` (DER `OCSPRequest`) to `url`; the DER
    /// `OCSPResponse`, or why there is none.
    fn send(&self, url: &str, request: &[u8]) -> Result<Vec<u8>, String>;
}

/// Where to ask.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Responders {
    /// This responder, for every certificate.
    Fixed(String),
    /// The responders the certificates name (authorityInfoAccess).
    FromCertificates,
}

/// An OCSP [`RevocationSource`] over any [`OcspTransport`], with a cache
/// that keeps each answer until its nextUpdate and a memory of failed
/// requests.
///
/// A request that failed to get an answer (responder unreachable, a
/// timeout, an HTTP error, an error status such as `tryLater`) is not
/// repeated for the same certificate for [`RETRY_FAILED_AFTER`] (see
/// [`OcspSource::with_failure_memory`]): the same error is returned at
/// once, so a silent responder costs one timeout per certificate and
/// minute, not one per mail. An answer refused on its merits (signature,
/// responder, mismatch) is not remembered: the next one may be good.
/// Clones share the cache and the memory.
#[derive(Debug, Clone)]
pub struct OcspSource<T> {
    transport: T,
    responders: Responders,
    nonce: bool,
    require_nonce: bool,
    cache: Arc<Mutex<HashMap<Vec<u8>, SourcedStatus>>>,
    failures: FailureMemory,
}

impl<T: OcspTransport> OcspSource<T> {
    /// Asks `responders` through `transport`, sending a nonce.
    pub fn new(transport: T, responders: Responders) -> OcspSource<T> {
        OcspSource {
            transport,
            responders,
            nonce: true,
            require_nonce: false,
            cache: Arc::new(Mutex::new(HashMap::new())),
            failures: FailureMemory::new(RETRY_FAILED_AFTER),
        }
    }

    /// How long a failed request is answered from memory (default
    /// [`RETRY_FAILED_AFTER`]); zero asks again every time.
    pub fn with_failure_memory(mut self, retry_after: Duration) -> OcspSource<T> {
        self.failures = self.failures.with_retry_after(retry_after);
        self
    }

    /// Whether to send a nonce (default yes), and whether a response must
    /// echo it (default no; with it, nothing is cached).
    pub fn with_nonce(mut self, send: bool, require: bool) -> OcspSource<T> {
        self.nonce = send || require;
        self.require_nonce = require;
        self
    }

    fn ask(
        &self,
        url: &str,
        certificate: &Certificate,
        issuer: &Certificate,
        time: SystemTime,
    ) -> Result<SourcedStatus, RevocationError> {
        let nonce = if self.nonce {
            let mut nonce = [0u8; 16];
            getrandom::fill(&mut nonce).map_err(|_| RevocationError::Unreachable {
                origin: url.to_owned(),
                reason: "no randomness for the nonce".to_owned(),
            })?;
            Some(nonce)
        } else {
            None
        };
        let request = request(certificate, issuer, nonce.as_ref().map(|n| n.as_slice()))
            .map_err(|error| malformed(url, format!("request: {error}")))?;
        let bytes =
            self.transport
                .send(url, &request)
                .map_err(|reason| RevocationError::Unreachable {
                    origin: url.to_owned(),
                    reason,
                })?;
        let response = OcspResponse::from_der(&bytes, url)?;
        if self.require_nonce && response.nonce.is_none() {
            return Err(RevocationError::Mismatch {
                origin: url.to_owned(),
                reason: "no nonce in the response".to_owned(),
            });
        }
        check_response(
            &response,
            certificate,
            issuer,
            time,
            nonce.as_ref().map(|n| n.as_slice()),
            url,
        )
    }
}

impl<T: OcspTransport> RevocationSource for OcspSource<T> {
    fn status(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        time: SystemTime,
    ) -> Result<Option<SourcedStatus>, RevocationError> {
        let urls = match &self.responders {
            Responders::Fixed(url) => vec![url.clone()],
            Responders::FromCertificates => responders(certificate),
        };
        if urls.is_empty() {
            return Ok(None);
        }
        let key = cert_id(certificate, issuer)
            .and_then(|id| id.to_der())
            .map_err(|error| malformed("request", error))?;
        if !self.require_nonce {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(cached) = cache.get(&key)
                && let StatusSource::Ocsp {
                    this_update,
                    next_update: Some(next),
                    ..
                } = &cached.source
                && *this_update <= later(time, CLOCK_SKEW)
                && time <= *next
            {
                let mut hit = cached.clone();
                if let StatusSource::Ocsp { cached, .. } = &mut hit.source {
                    *cached = true;
                }
                return Ok(Some(hit));
            }
        }
        if let Some(error) = self.failures.recent(&key) {
            return Err(error);
        }
        let result = self.ask_each(&urls, certificate, issuer, time);
        self.failures.record(&key, &result, |error| {
            matches!(
                error,
                RevocationError::Unreachable { .. } | RevocationError::OcspStatus { .. }
            )
        });
        let status = result?;
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, status.clone());
        Ok(Some(status))
    }
}

impl<T: OcspTransport> OcspSource<T> {
    /// Asks each responder in turn; the first answer that passes the
    /// checks, or the last error.
    fn ask_each(
        &self,
        urls: &[String],
        certificate: &Certificate,
        issuer: &Certificate,
        time: SystemTime,
    ) -> Result<SourcedStatus, RevocationError> {
        let mut last_error = None;
        for url in urls {
            match self.ask(url, certificate, issuer, time) {
                Ok(status) => return Ok(status),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| RevocationError::Unreachable {
            origin: "OCSP".to_owned(),
            reason: "no responder".to_owned(),
        }))
    }
}
