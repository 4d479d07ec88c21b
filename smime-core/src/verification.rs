//! Verifying CMS SignedData (RFC 5652 section 5.6) and S/MIME signed
//! messages (RFC 8551 section 3.5, RFC 8550 section 3), with certificate path
//! validation.
//!
//! A message counts as signed by its author only when every check holds:
//! the signature covers the whole message body (not one part of it), every
//! signerInfo verifies, each signer's certificate chains to a caller-given
//! trust anchor at the verification time and may sign mail (keyUsage,
//! extendedKeyUsage), no weak algorithm or key is involved, and a signer's
//! certificate names the single `From` address. [`Verification::verdict`]
//! folds the report into one answer; the report keeps every detail.

use std::time::{Duration, SystemTime};

use cms::content_info::ContentInfo;
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc2985::{
    PKCS_9_AT_CONTENT_TYPE, PKCS_9_AT_MESSAGE_DIGEST, PKCS_9_AT_SIGNING_TIME,
    PKCS_9_AT_SMIME_CAPABILITIES,
};
use const_oid::db::rfc5911::{ID_DATA, ID_SIGNED_DATA};
use der::asn1::OctetString;
use der::{Decode, Encode};
use rsa::signature::hazmat::PrehashVerifier;
use rustls_pki_types::{CertificateDer, UnixTime};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use x509_cert::time::Time;

use crate::certificate::{Certificate, Curve, PublicKeyAlgorithm};
use crate::digest::DigestAlgorithm;
use crate::error::Error;
use crate::revocation::{CertificateStatus, Revocation, RevocationMode, StatusOutcome};
use crate::signature_algorithm::{self, SignatureScheme};
use mail_message::{self as mime, ContentType, Entity, Envelope, MimeError, Multipart};
pub use mail_message::{Coverage, DEFAULT_DATE_TOLERANCE, Finding, Verdict};
use mail_message::{EmailAddress, HeaderIdentity};

/// DER contents of the emailProtection and anyExtendedKeyUsage OIDs, as
/// `rustls-webpki` takes them.
const EMAIL_PROTECTION: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x04];
const ANY_EXTENDED_KEY_USAGE: &[u8] = &[0x55, 0x1d, 0x25, 0x00];
const ID_KP_EMAIL_PROTECTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.4");
const ANY_EKU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37.0");

/// Checks signatures against trust anchors chosen by the caller.
///
/// ```
/// # let alice = testkit::pki().smime("alice@example.org", testkit::KeyKind::P256);
/// # let root_pem = testkit::pki().root().certificate_pem();
/// # let chain = alice.chain_der().iter().map(|d| smime_core::Certificate::from_der(d)).collect::<Result<Vec<_>, _>>()?;
/// use smime_core::{Certificate, PrivateKey, SignatureForm, Signer, Verdict, Verifier};
///
/// # let certificate = Certificate::from_der(alice.certificate_der())?;
/// # let key = PrivateKey::load(alice.private_key_der(), None)?;
/// let signer = Signer::new(certificate, &key)?.with_chain(chain);
/// let signed = signer.sign_message(b"From: alice@example.org\r\n\r\nHello\r\n", SignatureForm::Detached)?;
///
/// let verifier = Verifier::new(Certificate::load(root_pem.as_bytes())?);
/// let report = verifier.verify_message(&signed)?;
/// assert_eq!(report.verdict(), Verdict::SignedByFrom);
/// # Ok::<(), smime_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Verifier {
    anchors: Vec<Certificate>,
    intermediates: Vec<Certificate>,
    time: Option<SystemTime>,
    revocation: Option<Revocation>,
}

impl Verifier {
    /// A verifier trusting `anchors` (root certificates), checking validity
    /// now.
    pub fn new(anchors: impl IntoIterator<Item = Certificate>) -> Verifier {
        Verifier {
            anchors: anchors.into_iter().collect(),
            intermediates: Vec::new(),
            time: None,
            revocation: None,
        }
    }

    /// Checks the revocation status of every certificate of each signer's
    /// path (end entity and intermediates) as `revocation` says: a revoked
    /// one makes the signature invalid ([`SignatureStatus::Revoked`]), an
    /// unknown one too in [`RevocationMode::Require`]
    /// ([`SignatureStatus::RevocationUnknown`]) and is reported in
    /// [`RevocationMode::Prefer`] ([`Signature::revocation`],
    /// [`Verification::revocation_unknown`]). Without this call nothing is
    /// checked.
    pub fn with_revocation(mut self, revocation: Revocation) -> Self {
        self.revocation = Some(revocation);
        self
    }

    /// CA certificates to build paths with, besides those in the message.
    pub fn with_intermediates(
        mut self,
        certificates: impl IntoIterator<Item = Certificate>,
    ) -> Self {
        self.intermediates.extend(certificates);
        self
    }

    /// Checks validity at `time` instead of now: archives verify old mail as
    /// of its receipt.
    pub fn at(mut self, time: SystemTime) -> Self {
        self.time = Some(time);
        self
    }

    /// Verifies an S/MIME signed message (`multipart/signed` or
    /// `application/pkcs7-mime; smime-type=signed-data`) and reports what it
    /// covers and who signed it.
    ///
    /// Errors are for input that cannot be judged (broken MIME or CMS); a
    /// well-formed message with a bad signature is a report whose verdict
    /// says so.
    pub fn verify_message(&self, message: &[u8]) -> Result<Verification, Error> {
        let entity = Entity::parse(message)?;
        let from = addresses(&entity, "from");
        let sender = addresses(&entity, "sender");
        let identity = HeaderIdentity::of(&entity);
        let Some((path, signed)) = find_signed(&entity, 0, String::new())? else {
            return Ok(Verification {
                coverage: Coverage::Unsigned,
                signers: Vec::new(),
                certificates: Vec::new(),
                from,
                sender,
                identity,
                protected: None,
                unwrapped: None,
            });
        };
        let (content, cms) = match &signed {
            SignedPart::Detached {
                content, signature, ..
            } => (Some(mime::canonicalize(content)), signature.clone()),
            SignedPart::Opaque { cms } => (None, cms.clone()),
        };
        let cms_result = self.verify_cms(&cms, content.as_deref())?;
        let coverage = match (path.is_empty(), &signed) {
            (true, SignedPart::Detached { extra_parts: 0, .. } | SignedPart::Opaque { .. }) => {
                Coverage::Whole
            }
            (true, SignedPart::Detached { .. }) => Coverage::Partial {
                part: "1".to_owned(),
                reason: "multipart/signed with more than the content and the signature".to_owned(),
            },
            (false, _) => Coverage::Partial {
                part: path,
                reason: "the signed part is inside an unsigned MIME structure".to_owned(),
            },
        };
        let unwrapped = match coverage {
            Coverage::Whole => Some(Envelope::split(message)?.rebuild(&cms_result.content)),
            _ => None,
        };
        let protected = match &signed {
            SignedPart::Detached { content, .. } => HeaderIdentity::protected_in(content),
            SignedPart::Opaque { .. } => HeaderIdentity::protected_in(&cms_result.content),
        };
        let mut verification = Verification {
            protected,
            coverage,
            signers: cms_result.signers,
            certificates: cms_result.certificates,
            from,
            sender,
            identity,
            unwrapped,
        };
        // Content whose signature does not hold is never handed out as
        // signed content (the rule OpenPGP verification follows too).
        if !verification.verdict().releases_content() {
            verification.unwrapped = None;
        }
        Ok(verification)
    }

    /// Verifies CMS SignedData (DER or BER): with `detached` content for a
    /// detached signature, or the encapsulated content otherwise.
    pub fn verify_cms(&self, cms: &[u8], detached: Option<&[u8]>) -> Result<SignedContent, Error> {
        let der = crate::ber::to_der(cms).map_err(Error::MalformedCms)?;
        let info = ContentInfo::from_der(&der).map_err(Error::InvalidCms)?;
        if info.content_type != ID_SIGNED_DATA {
            return Err(Error::NotSigned(info.content_type));
        }
        let data: SignedData = info.content.decode_as().map_err(Error::InvalidCms)?;
        let encapsulated = match &data.encap_content_info.econtent {
            Some(any) => Some(
                any.decode_as::<OctetString>()
                    .map_err(Error::InvalidCms)?
                    .as_bytes()
                    .to_vec(),
            ),
            None => None,
        };
        let content = match (encapsulated, detached) {
            (Some(_), Some(_)) => return Err(Error::ContentConfusion),
            (None, None) => return Err(Error::DetachedContentMissing),
            (Some(inside), None) => inside,
            (None, Some(outside)) => outside.to_vec(),
        };
        let (signers, certificates) =
            self.verify_signed_data(&data, &CoveredContent::Memory(&content))?;
        Ok(SignedContent {
            content,
            signers,
            certificates,
        })
    }

    /// Verifies detached CMS SignedData (DER or BER) over the content that
    /// `spool` holds, without reading it into memory: each signer's digest
    /// is computed by reading the file.
    pub(crate) fn verify_cms_spooled(
        &self,
        cms: &[u8],
        spool: &std::fs::File,
    ) -> Result<(Vec<Signature>, Vec<Certificate>), Error> {
        let der = crate::ber::to_der(cms).map_err(Error::MalformedCms)?;
        let info = ContentInfo::from_der(&der).map_err(Error::InvalidCms)?;
        if info.content_type != ID_SIGNED_DATA {
            return Err(Error::NotSigned(info.content_type));
        }
        let data: SignedData = info.content.decode_as().map_err(Error::InvalidCms)?;
        if data.encap_content_info.econtent.is_some() {
            return Err(Error::ContentConfusion);
        }
        let mut algorithms = Vec::new();
        for info in data.signer_infos.0.iter() {
            // Unknown or weak algorithms are reported per signer below.
            if let Ok(algorithm) = signature_algorithm::parse_digest(&info.digest_alg)
                && !algorithms.contains(&algorithm)
            {
                algorithms.push(algorithm);
            }
        }
        let digests = digest_file(spool, &algorithms).map_err(Error::Io)?;
        self.verify_signed_data(&data, &CoveredContent::Digests(digests))
    }

    /// The signer reports and the certificates of `data`, whose signatures
    /// cover `content`.
    fn verify_signed_data(
        &self,
        data: &SignedData,
        content: &CoveredContent<'_>,
    ) -> Result<(Vec<Signature>, Vec<Certificate>), Error> {
        let mut certificates = Vec::new();
        if let Some(set) = &data.certificates {
            for choice in set.0.iter() {
                if let cms::cert::CertificateChoices::Certificate(certificate) = choice {
                    let der = certificate.to_der().map_err(Error::InvalidCms)?;
                    certificates.push(Certificate::from_der(&der)?);
                }
            }
        }
        if data.signer_infos.0.is_empty() {
            return Err(Error::NoSignerInfo);
        }
        let content_type = data.encap_content_info.econtent_type;
        let signers = data
            .signer_infos
            .0
            .iter()
            .map(|info| self.verify_signer(info, content_type, content, &certificates))
            .collect();
        Ok((signers, certificates))
    }

    fn verify_signer(
        &self,
        info: &SignerInfo,
        content_type: ObjectIdentifier,
        content: &CoveredContent<'_>,
        message_certificates: &[Certificate],
    ) -> Signature {
        let mut signature = Signature {
            certificate: None,
            digest: None,
            scheme: None,
            signing_time: None,
            capabilities: Vec::new(),
            status: SignatureStatus::Valid,
            revocation: Vec::new(),
        };
        if let Err(status) = self.check_signer(
            info,
            content_type,
            content,
            message_certificates,
            &mut signature,
        ) {
            signature.status = status;
        }
        signature
    }

    fn check_signer(
        &self,
        info: &SignerInfo,
        content_type: ObjectIdentifier,
        content: &CoveredContent<'_>,
        message_certificates: &[Certificate],
        report: &mut Signature,
    ) -> Result<(), SignatureStatus> {
        let certificate = message_certificates
            .iter()
            .chain(&self.intermediates)
            .chain(&self.anchors)
            .find(|c| identifies(&info.sid, c))
            .cloned()
            .ok_or(SignatureStatus::CertificateNotFound)?;
        report.certificate = Some(certificate.clone());
        let digest =
            signature_algorithm::parse_digest(&info.digest_alg).map_err(algorithm_status)?;
        report.digest = Some(digest);
        let (scheme, salt) = signature_algorithm::parse(&info.signature_algorithm, digest)
            .map_err(algorithm_status)?;
        report.scheme = Some(scheme);
        let content_digest = content.digest(digest).ok_or(SignatureStatus::Malformed)?;
        let signed_digest = match &info.signed_attrs {
            Some(set) => {
                let attributes: &[Attribute] = set.as_slice();
                let declared_type: ObjectIdentifier =
                    single_value(attributes, PKCS_9_AT_CONTENT_TYPE)?;
                if declared_type != content_type {
                    return Err(SignatureStatus::ContentTypeMismatch);
                }
                let declared_digest: OctetString =
                    single_value(attributes, PKCS_9_AT_MESSAGE_DIGEST)?;
                if declared_digest.as_bytes() != content_digest.as_slice() {
                    return Err(SignatureStatus::ContentChanged);
                }
                report.signing_time = optional_value::<Time>(attributes, PKCS_9_AT_SIGNING_TIME)?
                    .map(|t| t.to_system_time());
                report.capabilities = optional_value::<Vec<AlgorithmIdentifierOwned>>(
                    attributes,
                    PKCS_9_AT_SMIME_CAPABILITIES,
                )?
                .unwrap_or_default()
                .into_iter()
                .map(|a| a.oid)
                .collect();
                // The signature covers the attributes' DER with the SET OF
                // tag, not the IMPLICIT [0] they travel under (RFC 5652
                // section 5.4): exactly how the set encodes on its own.
                digest.digest(&set.to_der().map_err(|_| SignatureStatus::Malformed)?)
            }
            None if content_type == ID_DATA => content_digest,
            // RFC 5652 section 5.3: other content types need attributes.
            None => return Err(SignatureStatus::MissingAttribute("content-type")),
        };
        check_signature_value(
            &certificate,
            scheme,
            salt,
            digest,
            &signed_digest,
            info.signature.as_bytes(),
        )?;
        check_usage(&certificate)?;
        let path = self.check_path(&certificate, message_certificates)?;
        self.check_revocation(&path, report)
    }

    /// Judges a certificate on its own, as a recipient certificate before
    /// encrypting to it: its path to an anchor (with `extra` CA
    /// certificates besides the verifier's intermediates), validity at the
    /// verification time, emailProtection, and revocation as
    /// [`Verifier::with_revocation`] configured. `Ok` holds the revocation
    /// status of each certificate of the path (empty without revocation
    /// checks); the error says why the certificate must not be used
    /// ([`SignatureStatus::Revoked`], [`SignatureStatus::RevocationUnknown`]
    /// in `require` mode, [`SignatureStatus::Untrusted`], ...).
    ///
    /// A revoked certificate is never to be encrypted to: whoever holds its
    /// key may no longer be the recipient.
    pub fn check_certificate(
        &self,
        certificate: &Certificate,
        extra: &[Certificate],
    ) -> Result<Vec<CertificateStatus>, SignatureStatus> {
        if !certificate.allows_email_protection() {
            return Err(SignatureStatus::ExtendedKeyUsage);
        }
        let path = self.check_path(certificate, extra)?;
        let mut report = Signature {
            certificate: Some(certificate.clone()),
            digest: None,
            scheme: None,
            signing_time: None,
            capabilities: Vec::new(),
            status: SignatureStatus::Valid,
            revocation: Vec::new(),
        };
        self.check_revocation(&path, &mut report)?;
        Ok(report.revocation)
    }

    /// Revocation of every certificate of the validated `path` (end entity
    /// first, anchor last), recorded in `report`.
    fn check_revocation(
        &self,
        path: &[Certificate],
        report: &mut Signature,
    ) -> Result<(), SignatureStatus> {
        let Some(revocation) = &self.revocation else {
            return Ok(());
        };
        if revocation.mode() == RevocationMode::Off {
            return Ok(());
        }
        let time = self.time.unwrap_or_else(SystemTime::now);
        report.revocation = revocation.check_path(path, time);
        if let Some((status, source, reason)) =
            report
                .revocation
                .iter()
                .find_map(|status| match &status.outcome {
                    StatusOutcome::Revoked { source, reason, .. } => Some((status, source, reason)),
                    _ => None,
                })
        {
            return Err(SignatureStatus::Revoked {
                subject: status.subject.clone(),
                serial: status.serial.clone(),
                by: source.to_string(),
                reason: *reason,
            });
        }
        if revocation.mode() == RevocationMode::Require
            && let Some(status) = report
                .revocation
                .iter()
                .find(|status| matches!(status.outcome, StatusOutcome::Unknown { .. }))
        {
            return Err(SignatureStatus::RevocationUnknown {
                subject: status.subject.clone(),
                serial: status.serial.clone(),
            });
        }
        Ok(())
    }

    /// Validates the path of `certificate` and returns it: the end entity,
    /// the intermediates webpki chose, the anchor.
    fn check_path(
        &self,
        certificate: &Certificate,
        message_certificates: &[Certificate],
    ) -> Result<Vec<Certificate>, SignatureStatus> {
        let anchor_ders: Vec<CertificateDer<'_>> = self
            .anchors
            .iter()
            .map(|c| CertificateDer::from(c.to_der()))
            .collect();
        let anchors: Vec<_> = anchor_ders
            .iter()
            .filter_map(|der| webpki::anchor_from_trusted_cert(der).ok())
            .collect();
        let intermediates: Vec<CertificateDer<'_>> = message_certificates
            .iter()
            .chain(&self.intermediates)
            .filter(|c| *c != certificate)
            .map(|c| CertificateDer::from(c.to_der()))
            .collect();
        let end_entity_der = CertificateDer::from(certificate.to_der());
        let end_entity = webpki::EndEntityCert::try_from(&end_entity_der)
            .map_err(|e| SignatureStatus::Untrusted(e.to_string()))?;
        let time = self.time.unwrap_or_else(SystemTime::now);
        let since_epoch = time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let purpose = match certificate.extended_key_usage() {
            Some(purposes)
                if !purposes.contains(&ID_KP_EMAIL_PROTECTION) && purposes.contains(&ANY_EKU) =>
            {
                ANY_EXTENDED_KEY_USAGE
            }
            _ => EMAIL_PROTECTION,
        };
        end_entity
            .verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                &anchors,
                &intermediates,
                UnixTime::since_unix_epoch(since_epoch),
                webpki::KeyUsage::required_if_present(purpose),
                None,
                None,
            )
            .map(|path| {
                let mut chain = vec![certificate.clone()];
                // webpki hands back the certificates it used; ours are the
                // same bytes, so they are found by their DER.
                for used in path.intermediate_certificates() {
                    let der = used.der();
                    if let Some(found) = message_certificates
                        .iter()
                        .chain(&self.intermediates)
                        .find(|c| c.to_der() == der.as_ref())
                    {
                        chain.push(found.clone());
                    }
                }
                let anchor = path.anchor();
                if let Some(found) = self.anchors.iter().find(|c| {
                    webpki::anchor_from_trusted_cert(&CertificateDer::from(c.to_der())).is_ok_and(
                        |ours| {
                            ours.subject == anchor.subject
                                && ours.subject_public_key_info == anchor.subject_public_key_info
                        },
                    )
                }) {
                    chain.push(found.clone());
                }
                chain
            })
            .map_err(|error| match error {
                webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. } => {
                    SignatureStatus::NotValidAt
                }
                webpki::Error::UnknownIssuer => {
                    SignatureStatus::Untrusted("no path to a trust anchor".to_owned())
                }
                other => SignatureStatus::Untrusted(format!("{other:?}")),
            })
    }
}

/// Whether a SignerIdentifier names `certificate`.
fn identifies(sid: &SignerIdentifier, certificate: &Certificate) -> bool {
    let tbs = certificate.x509().tbs_certificate();
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(id) => {
            id.issuer == *tbs.issuer() && id.serial_number == *tbs.serial_number()
        }
        SignerIdentifier::SubjectKeyIdentifier(id) => matches!(
            tbs.get_extension::<SubjectKeyIdentifier>(),
            Ok(Some((_, ours))) if ours == *id
        ),
    }
}

fn algorithm_status(error: Error) -> SignatureStatus {
    match error {
        Error::WeakAlgorithm(oid) => SignatureStatus::WeakAlgorithm(oid),
        Error::UnsupportedAlgorithm(oid) => SignatureStatus::UnsupportedAlgorithm(oid),
        Error::InconsistentDigest => SignatureStatus::Malformed,
        _ => SignatureStatus::Malformed,
    }
}

/// The value of an attribute that must occur exactly once with one value
/// (RFC 5652 section 11).
fn single_value<T: for<'a> Decode<'a>>(
    attributes: &[Attribute],
    oid: ObjectIdentifier,
) -> Result<T, SignatureStatus> {
    optional_value(attributes, oid)?.ok_or(SignatureStatus::MissingAttribute(attribute_name(oid)))
}

fn optional_value<T: for<'a> Decode<'a>>(
    attributes: &[Attribute],
    oid: ObjectIdentifier,
) -> Result<Option<T>, SignatureStatus> {
    let mut matching = attributes.iter().filter(|a| a.oid == oid);
    let Some(attribute) = matching.next() else {
        return Ok(None);
    };
    if matching.next().is_some() || attribute.values.len() != 1 {
        return Err(SignatureStatus::Malformed);
    }
    let value = attribute.values.get(0).ok_or(SignatureStatus::Malformed)?;
    let der = value.to_der().map_err(|_| SignatureStatus::Malformed)?;
    T::from_der(&der)
        .map(Some)
        .map_err(|_| SignatureStatus::Malformed)
}

fn attribute_name(oid: ObjectIdentifier) -> &'static str {
    match oid {
        PKCS_9_AT_CONTENT_TYPE => "content-type",
        PKCS_9_AT_MESSAGE_DIGEST => "message-digest",
        _ => "signed attribute",
    }
}

/// Checks the signature value with the certificate's public key;
/// `signed_digest` is the digest (with `digest`) of the signed bytes.
pub(crate) fn check_signature_value(
    certificate: &Certificate,
    scheme: SignatureScheme,
    salt: Option<usize>,
    digest: DigestAlgorithm,
    signed_digest: &[u8],
    value: &[u8],
) -> Result<(), SignatureStatus> {
    let spki = certificate
        .x509()
        .tbs_certificate()
        .subject_public_key_info();
    let key_bytes = spki.subject_public_key.raw_bytes();
    let bad = |_| SignatureStatus::BadSignature;
    match (certificate.public_key_algorithm(), scheme) {
        (
            PublicKeyAlgorithm::Rsa { bits },
            SignatureScheme::RsaPkcs1v15 | SignatureScheme::RsaPss,
        ) => {
            if *bits < 2048 {
                return Err(SignatureStatus::WeakKey { bits: *bits });
            }
            let key =
                <rsa::RsaPublicKey as rsa::pkcs1::DecodeRsaPublicKey>::from_pkcs1_der(key_bytes)
                    .map_err(|_| SignatureStatus::Malformed)?;
            if scheme == SignatureScheme::RsaPss {
                let signature = rsa::pss::Signature::try_from(value).map_err(bad)?;
                let salt = salt.unwrap_or(0);
                match digest {
                    DigestAlgorithm::Sha256 => {
                        rsa::pss::VerifyingKey::<sha2::Sha256>::new_with_salt_len(key, salt)
                            .verify_prehash(signed_digest, &signature)
                    }
                    DigestAlgorithm::Sha384 => {
                        rsa::pss::VerifyingKey::<sha2::Sha384>::new_with_salt_len(key, salt)
                            .verify_prehash(signed_digest, &signature)
                    }
                    DigestAlgorithm::Sha512 => {
                        rsa::pss::VerifyingKey::<sha2::Sha512>::new_with_salt_len(key, salt)
                            .verify_prehash(signed_digest, &signature)
                    }
                }
                .map_err(bad)
            } else {
                let signature = rsa::pkcs1v15::Signature::try_from(value).map_err(bad)?;
                match digest {
                    DigestAlgorithm::Sha256 => {
                        rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key)
                            .verify_prehash(signed_digest, &signature)
                    }
                    DigestAlgorithm::Sha384 => {
                        rsa::pkcs1v15::VerifyingKey::<sha2::Sha384>::new(key)
                            .verify_prehash(signed_digest, &signature)
                    }
                    DigestAlgorithm::Sha512 => {
                        rsa::pkcs1v15::VerifyingKey::<sha2::Sha512>::new(key)
                            .verify_prehash(signed_digest, &signature)
                    }
                }
                .map_err(bad)
            }
        }
        (PublicKeyAlgorithm::Ec { curve: Curve::P256 }, SignatureScheme::Ecdsa) => {
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                .map_err(|_| SignatureStatus::Malformed)?;
            let signature = p256::ecdsa::Signature::from_der(value).map_err(bad)?;
            key.verify_prehash(signed_digest, &signature).map_err(bad)
        }
        (PublicKeyAlgorithm::Ec { curve: Curve::P384 }, SignatureScheme::Ecdsa) => {
            let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(key_bytes)
                .map_err(|_| SignatureStatus::Malformed)?;
            let signature = p384::ecdsa::Signature::from_der(value).map_err(bad)?;
            key.verify_prehash(signed_digest, &signature).map_err(bad)
        }
        _ => Err(SignatureStatus::KeyDoesNotFitAlgorithm),
    }
}

/// End-entity key usage for signing mail (RFC 8550 section 4.4.2 and
/// 4.4.4).
fn check_usage(certificate: &Certificate) -> Result<(), SignatureStatus> {
    if let Some(usage) = certificate.key_usage()
        && !usage.digital_signature()
        && !usage.non_repudiation()
    {
        return Err(SignatureStatus::KeyUsage);
    }
    if !certificate.allows_email_protection() {
        return Err(SignatureStatus::ExtendedKeyUsage);
    }
    if certificate.is_ca() {
        return Err(SignatureStatus::KeyUsage);
    }
    Ok(())
}

/// The addresses of the single field `name`; empty when the field is absent,
/// repeated, or unparsable (an ambiguous From binds no one).
fn addresses(entity: &Entity<'_>, name: &str) -> Vec<EmailAddress> {
    if entity.count(name) != 1 {
        return Vec::new();
    }
    entity
        .field(name)
        .and_then(|f| EmailAddress::parse_mailboxes(&f.value()).ok())
        .unwrap_or_default()
}

/// The content signatures cover: in memory, or the digests of a spooled
/// content computed beforehand.
pub(crate) enum CoveredContent<'a> {
    Memory(&'a [u8]),
    Digests(Vec<(DigestAlgorithm, Vec<u8>)>),
}

impl CoveredContent<'_> {
    fn digest(&self, algorithm: DigestAlgorithm) -> Option<Vec<u8>> {
        match self {
            CoveredContent::Memory(bytes) => Some(algorithm.digest(bytes)),
            CoveredContent::Digests(digests) => digests
                .iter()
                .find(|(a, _)| *a == algorithm)
                .map(|(_, d)| d.clone()),
        }
    }
}

/// The digests of what `file` holds with each of `algorithms`, in one pass.
fn digest_file(
    file: &std::fs::File,
    algorithms: &[DigestAlgorithm],
) -> std::io::Result<Vec<(DigestAlgorithm, Vec<u8>)>> {
    use std::io::{Read, Seek};
    let mut file = file;
    file.seek(std::io::SeekFrom::Start(0))?;
    let mut hashers: Vec<_> = algorithms.iter().map(|a| (*a, a.hasher())).collect();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let read = file.read(&mut chunk)?;
        match chunk.get(..read) {
            Some(data) if !data.is_empty() => {
                for (_, hasher) in &mut hashers {
                    hasher.update(data);
                }
            }
            _ => break,
        }
    }
    Ok(hashers
        .into_iter()
        .map(|(algorithm, hasher)| (algorithm, hasher.finish()))
        .collect())
}

/// A signed structure found in a message.
enum SignedPart {
    /// `multipart/signed`: the content part's bytes and the signature.
    Detached {
        content: Vec<u8>,
        signature: Vec<u8>,
        extra_parts: usize,
    },
    /// `application/pkcs7-mime; smime-type=signed-data`.
    Opaque { cms: Vec<u8> },
}

/// Depth-first search for the first signed structure; the path is empty
/// when the entity itself is signed, else the MIME part number ("1.2").
fn find_signed(
    entity: &Entity<'_>,
    depth: usize,
    path: String,
) -> Result<Option<(String, SignedPart)>, Error> {
    if depth > mime::MAX_DEPTH {
        return Err(MimeError::TooDeep.into());
    }
    let content_type = entity.content_type()?;
    if let Some(part) = signed_part(entity, &content_type)? {
        return Ok(Some((path, part)));
    }
    if content_type.is_multipart() {
        let boundary = content_type
            .parameter("boundary")
            .ok_or(MimeError::MissingBoundary)?;
        let multipart = Multipart::split(entity.body(), boundary)?;
        for (index, part) in multipart.parts().iter().enumerate() {
            let child = Entity::parse(part)?;
            let child_path = if path.is_empty() {
                format!("{}", index + 1)
            } else {
                format!("{path}.{}", index + 1)
            };
            if let Some(found) = find_signed(&child, depth + 1, child_path)? {
                return Ok(Some(found));
            }
        }
    }
    Ok(None)
}

fn signed_part(
    entity: &Entity<'_>,
    content_type: &ContentType,
) -> Result<Option<SignedPart>, Error> {
    match content_type.mime_type() {
        "multipart/signed" => {
            let protocol = content_type
                .parameter("protocol")
                .map(str::to_ascii_lowercase);
            if !matches!(
                protocol.as_deref(),
                Some("application/pkcs7-signature" | "application/x-pkcs7-signature")
            ) {
                return Ok(None); // PGP/MIME or something else: not ours
            }
            let boundary = content_type
                .parameter("boundary")
                .ok_or(MimeError::MissingBoundary)?;
            let multipart = Multipart::split(entity.body(), boundary)?;
            let [content, signature, extra @ ..] = multipart.parts() else {
                return Err(Error::MalformedSignedMessage);
            };
            let signature = Entity::parse(signature)?;
            Ok(Some(SignedPart::Detached {
                content: content.to_vec(),
                signature: signature.decoded_body()?,
                extra_parts: extra.len(),
            }))
        }
        "application/pkcs7-mime" | "application/x-pkcs7-mime" => {
            let smime_type = content_type
                .parameter("smime-type")
                .map(str::to_ascii_lowercase);
            match smime_type.as_deref() {
                Some("signed-data") => Ok(Some(SignedPart::Opaque {
                    cms: entity.decoded_body()?,
                })),
                _ => Ok(None),
            }
        }
        _ => Ok(None),
    }
}

/// The outcome of [`Verifier::verify_cms`].
#[derive(Debug, Clone)]
pub struct SignedContent {
    /// The content the signatures cover.
    pub content: Vec<u8>,
    /// One result per signerInfo, in order.
    pub signers: Vec<Signature>,
    /// Certificates found in the CMS object (for harvesting).
    pub certificates: Vec<Certificate>,
}

/// The result of one signerInfo.
#[derive(Debug, Clone)]
pub struct Signature {
    /// The signer's certificate, if it was found.
    pub certificate: Option<Certificate>,
    /// The digest algorithm.
    pub digest: Option<DigestAlgorithm>,
    /// The signature scheme.
    pub scheme: Option<SignatureScheme>,
    /// The signing-time attribute (the signer's claim, not proof).
    pub signing_time: Option<SystemTime>,
    /// The content ciphers the signer says it can decrypt, most preferred
    /// first (SMIMECapabilities).
    pub capabilities: Vec<ObjectIdentifier>,
    /// Whether the signature holds, and if not, why.
    pub status: SignatureStatus,
    /// The revocation status of each certificate of the signer's path (end
    /// entity first), when revocation is checked and the path validated.
    pub revocation: Vec<CertificateStatus>,
}

/// Why a signature does or does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureStatus {
    /// Signature, path, usage and validity all check out.
    #[error("valid")]
    Valid,
    /// The signer's certificate is neither in the message nor given.
    #[error("the signer's certificate is not in the message")]
    CertificateNotFound,
    /// The signed content was changed after signing.
    #[error("the content does not match the signed digest (altered after signing)")]
    ContentChanged,
    /// The signature value does not verify.
    #[error("the signature value does not verify")]
    BadSignature,
    /// A weak algorithm (MD5, SHA-1).
    #[error("weak algorithm {} refused", crate::AlgorithmName(*.0))]
    WeakAlgorithm(ObjectIdentifier),
    /// An algorithm we do not implement.
    #[error("unsupported algorithm {}", crate::AlgorithmName(*.0))]
    UnsupportedAlgorithm(ObjectIdentifier),
    /// An RSA key under 2048 bits.
    #[error("RSA key of {bits} bits refused")]
    WeakKey {
        /// The modulus size.
        bits: usize,
    },
    /// The signature algorithm does not fit the certificate's key.
    #[error("the signature algorithm does not fit the certificate's key")]
    KeyDoesNotFitAlgorithm,
    /// A required signed attribute is missing.
    #[error("signed attribute {0} missing")]
    MissingAttribute(&'static str),
    /// The content-type attribute names another type than the content.
    #[error("the content-type attribute does not match the content")]
    ContentTypeMismatch,
    /// The signerInfo is malformed.
    #[error("malformed signerInfo")]
    Malformed,
    /// The certificate does not allow signing (keyUsage, or a CA).
    #[error("the certificate's key usage does not allow signing mail")]
    KeyUsage,
    /// The certificate is not for e-mail (extendedKeyUsage).
    #[error("the certificate is not for e-mail protection (extended key usage)")]
    ExtendedKeyUsage,
    /// The certificate (or one in its path) is not valid at the time.
    #[error("the certificate is expired or not yet valid at the verification time")]
    NotValidAt,
    /// No path to a trust anchor.
    #[error("untrusted: {0}")]
    Untrusted(String),
    /// A certificate of the path is revoked.
    #[error("certificate {subject} (serial {serial}) is revoked{} (source: {by})", .reason.map(|r| format!(": {r}")).unwrap_or_default())]
    Revoked {
        /// The revoked certificate's subject.
        subject: String,
        /// Its serial number (hex).
        serial: String,
        /// Where that was found (a CRL file, an OCSP responder).
        by: String,
        /// The CRLReason, if given.
        reason: Option<&'static str>,
    },
    /// In [`RevocationMode::Require`]: no source knew the status of a
    /// certificate of the path.
    #[error("the revocation status of {subject} (serial {serial}) is unknown")]
    RevocationUnknown {
        /// The certificate's subject.
        subject: String,
        /// Its serial number (hex).
        serial: String,
    },
}

/// The report on a message: coverage, signers, addresses.
#[derive(Debug, Clone)]
pub struct Verification {
    coverage: Coverage,
    signers: Vec<Signature>,
    certificates: Vec<Certificate>,
    from: Vec<EmailAddress>,
    sender: Vec<EmailAddress>,
    identity: HeaderIdentity,
    /// The signed entity's RFC 9788 protected header, if it has one.
    protected: Option<HeaderIdentity>,
    unwrapped: Option<Vec<u8>>,
}

impl Verification {
    /// A report from the streaming path (which keeps the content in a
    /// spool, so `unwrapped` stays `None`).
    pub(crate) fn new(
        coverage: Coverage,
        signers: Vec<Signature>,
        certificates: Vec<Certificate>,
        message: &Entity<'_>,
    ) -> Verification {
        Verification {
            coverage,
            signers,
            certificates,
            from: addresses(message, "from"),
            sender: addresses(message, "sender"),
            identity: HeaderIdentity::of(message),
            protected: None,
            unwrapped: None,
        }
    }

    /// What the signature covers.
    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }

    /// Each signerInfo's result.
    pub fn signers(&self) -> &[Signature] {
        &self.signers
    }

    /// Certificates found in the message, for harvesting.
    pub fn certificates(&self) -> &[Certificate] {
        &self.certificates
    }

    /// The From address (empty if absent, repeated or not exactly one).
    pub fn from(&self) -> &[EmailAddress] {
        &self.from
    }

    /// Whether a valid signer certifies the single From address.
    pub fn signed_by_from(&self) -> bool {
        let [from] = self.from.as_slice() else {
            return false;
        };
        self.valid_signers().any(|c| c.certifies(from))
    }

    /// Whether a valid signer certifies the Sender address but none the
    /// From address: reported, never taken as the author's signature.
    pub fn signed_by_sender_only(&self) -> bool {
        !self.signed_by_from()
            && self
                .sender
                .iter()
                .any(|sender| self.valid_signers().any(|c| c.certifies(sender)))
    }

    fn valid_signers(&self) -> impl Iterator<Item = &Certificate> {
        self.signers
            .iter()
            .filter(|s| s.status == SignatureStatus::Valid)
            .filter_map(|s| s.certificate.as_ref())
    }

    /// Whether a valid signature rests on a certificate whose revocation
    /// status no source knew ([`RevocationMode::Prefer`]): the signature
    /// counts, and this says it was not confirmed.
    pub fn revocation_unknown(&self) -> bool {
        self.signers
            .iter()
            .filter(|s| s.status == SignatureStatus::Valid)
            .flat_map(|s| &s.revocation)
            .any(|status| matches!(status.outcome, StatusOutcome::Unknown { .. }))
    }

    /// The folded answer ([`Verdict::fold`], the one fold OpenPGP shares).
    pub fn verdict(&self) -> Verdict {
        let valid = self
            .signers
            .iter()
            .map(|s| s.status == SignatureStatus::Valid);
        Verdict::fold(&self.coverage, valid, self.signed_by_from())
    }

    /// The message with the S/MIME layer removed (outer header fields and
    /// the signed entity), when the whole message is covered and every
    /// signature holds ([`Verdict::releases_content`]); `None` for a
    /// tampered or badly signed message, whose content must not pass for
    /// signed.
    pub fn unwrapped_message(&self) -> Option<&[u8]> {
        self.unwrapped.as_deref()
    }

    /// What the header fields say beside the signature, with the `Date`
    /// field allowed [`DEFAULT_DATE_TOLERANCE`] (one hour) from the
    /// signing-time attribute: see [`Verification::findings_with`].
    pub fn findings(&self) -> Vec<Finding> {
        self.findings_with(DEFAULT_DATE_TOLERANCE)
    }

    /// What the header fields say beside the signature, judged against
    /// the valid signers of a wholly signed message: a `From` display name
    /// showing an address none of their certificates carries, a `Sender`
    /// other than the From mailbox, a `Reply-To` outside the signer's
    /// domain, a `Date` more than `date_tolerance` from a signing-time
    /// attribute. Empty for a message that is not signed as a whole by
    /// signatures that all hold (its verdict says so already).
    ///
    /// A finding with [`Finding::is_identity_mismatch`] means the reader
    /// is shown someone other than the signer: treat it like a signature by
    /// someone else. The others are warnings.
    pub fn findings_with(&self, date_tolerance: Duration) -> Vec<Finding> {
        if !self.verdict().releases_content() {
            return Vec::new();
        }
        let addresses: Vec<EmailAddress> = self
            .valid_signers()
            .flat_map(|c| c.email_addresses().iter().cloned())
            .collect();
        let times: Vec<SystemTime> = self.signers.iter().filter_map(|s| s.signing_time).collect();
        self.identity.findings_with_protected(
            self.protected.as_ref(),
            &addresses,
            &times,
            date_tolerance,
        )
    }

    /// The report with the protected header read from the signed entity
    /// that `spool` holds (the streaming paths).
    pub(crate) fn with_protected_from(mut self, spool: &std::fs::File) -> Verification {
        self.protected = HeaderIdentity::protected_in_file(spool, 1024 * 1024);
        self
    }
}
