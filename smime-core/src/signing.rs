//! Creating CMS SignedData (RFC 5652 section 5) and S/MIME signed messages
//! (RFC 8551 section 3.5).

use std::sync::Arc;
use std::time::SystemTime;

use cms::cert::IssuerAndSerialNumber;
use const_oid::ObjectIdentifier;
use const_oid::db::rfc2985::{
    PKCS_9_AT_CONTENT_TYPE, PKCS_9_AT_MESSAGE_DIGEST, PKCS_9_AT_SIGNING_TIME,
    PKCS_9_AT_SMIME_CAPABILITIES,
};
use const_oid::db::rfc5911::{ID_DATA, ID_SIGNED_DATA};
use der::Encode;
use rsa::signature::hazmat::PrehashSigner;
use spki::AlgorithmIdentifierOwned;
use x509_cert::time::Time;

use crate::certificate::{Certificate, Curve, PublicKeyAlgorithm};
use crate::digest::DigestAlgorithm;
use crate::error::Error;
use crate::external_key::ExternalKey;
use crate::key_agreement::EcPrivateKey;
use crate::private_key::{KeyMaterial, PrivateKey};
use crate::rsa_backend::RsaSigningKey;
use crate::signature_algorithm::{self, SignatureScheme};
use mail_message::{self as mime, Envelope};

/// The content ciphers we decrypt, most preferred first: what our
/// SMIMECapabilities attribute advertises (RFC 8551 section 2.5.2).
const CAPABILITIES: [&str; 4] = [
    "2.16.840.1.101.3.4.1.46", // AES-256-GCM
    "2.16.840.1.101.3.4.1.6",  // AES-128-GCM
    "2.16.840.1.101.3.4.1.42", // AES-256-CBC
    "2.16.840.1.101.3.4.1.2",  // AES-128-CBC
];

/// A private key ready to sign.
enum SigningKey {
    Rsa(RsaSigningKey),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    /// A key in a token or key store; its signatures are checked against
    /// the certificate before they are used.
    External(Arc<dyn ExternalKey>),
}

/// How the signature travels with the content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureForm {
    /// `multipart/signed`: the content stays readable by clients without
    /// S/MIME; the signature is a second body part (RFC 8551 section 3.5.3).
    #[default]
    Detached,
    /// `application/pkcs7-mime; smime-type=signed-data`: the content is
    /// inside the CMS object, which survives gateways that rewrite MIME
    /// (RFC 8551 section 3.5.2).
    Opaque,
}

/// A signing identity: certificate, private key, the chain to send along,
/// and the algorithms to use.
///
/// ```
/// # let alice = testkit::pki().smime("alice@example.org", testkit::KeyKind::P256);
/// # let (cert_pem, key_pem) = (alice.certificate_pem(), alice.private_key_pem());
/// use smime_core::{Certificate, DigestAlgorithm, PrivateKey, SignatureForm, Signer};
///
/// let certificate = Certificate::load(cert_pem.as_bytes())?.remove(0);
/// let key = PrivateKey::load(key_pem.as_bytes(), None)?;
/// let signer = Signer::new(certificate, &key)?.with_digest(DigestAlgorithm::Sha384);
/// let signed = signer.sign_message(
///     b"From: alice@example.org\r\nSubject: Hi\r\n\r\nHello\r\n",
///     SignatureForm::Detached,
/// )?;
/// assert!(signed.windows(17).any(|w| w == b"multipart/signed;"));
/// # Ok::<(), smime_core::Error>(())
/// ```
pub struct Signer {
    certificate: Certificate,
    chain: Vec<Certificate>,
    key: SigningKey,
    digest: DigestAlgorithm,
    scheme: SignatureScheme,
    /// The DER that is the same in every signature, encoded once.
    fixed: FixedParts,
}

/// The parts of our SignedData that do not change between signatures.
struct FixedParts {
    /// `certificates [0] IMPLICIT CertificateSet`: the signer's certificate
    /// and the chain, as loaded (never re-encoded), deduplicated and in DER
    /// SET OF order.
    certificates: Vec<u8>,
    /// The SignerIdentifier (IssuerAndSerialNumber).
    sid: Vec<u8>,
    /// The content-type and SMIMECapabilities signed attributes.
    content_type: Vec<u8>,
    capabilities: Vec<u8>,
}

impl FixedParts {
    fn new(certificate: &Certificate) -> Result<FixedParts, Error> {
        let tbs = certificate.x509().tbs_certificate();
        let sid = IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }
        .to_der()
        .map_err(Error::InvalidCms)?;
        let capabilities: Vec<AlgorithmIdentifierOwned> = CAPABILITIES
            .iter()
            .filter_map(|oid| ObjectIdentifier::new(oid).ok())
            .map(|oid| AlgorithmIdentifierOwned {
                oid,
                parameters: None,
            })
            .collect();
        let capabilities = capabilities.to_der().map_err(Error::InvalidCms)?;
        Ok(FixedParts {
            certificates: certificate_set(certificate, &[]),
            sid,
            content_type: attribute(PKCS_9_AT_CONTENT_TYPE, &oid_der(ID_DATA)),
            capabilities: attribute(PKCS_9_AT_SMIME_CAPABILITIES, &capabilities),
        })
    }
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("certificate", &self.certificate)
            .field("chain", &self.chain.len())
            .field("digest", &self.digest)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer for `certificate` with its private key: RSA keys sign with
    /// PKCS#1 v1.5, EC keys with ECDSA; the digest is SHA-256.
    ///
    /// Refuses a key that does not belong to the certificate, and RSA keys
    /// under 2048 bits (which verifiers refuse).
    pub fn new(certificate: Certificate, key: &PrivateKey) -> Result<Signer, Error> {
        // The signing keys are built once: building an ECDSA key derives the
        // public point, which costs as much as a signature; AWS-LC's RSA key
        // precomputes its Montgomery contexts.
        let (key, scheme) = match KeyMaterial::for_certificate(key.pkcs8_der(), &certificate)? {
            KeyMaterial::Rsa(rsa) => {
                let rsa = RsaSigningKey::new(key.pkcs8_der(), rsa);
                let bits = rsa.bits();
                if bits < 2048 {
                    return Err(Error::WeakKey { bits });
                }
                (SigningKey::Rsa(rsa), SignatureScheme::RsaPkcs1v15)
            }
            KeyMaterial::Ec(EcPrivateKey::P256(secret)) => (
                SigningKey::P256(p256::ecdsa::SigningKey::from(&secret)),
                SignatureScheme::Ecdsa,
            ),
            KeyMaterial::Ec(EcPrivateKey::P384(secret)) => (
                SigningKey::P384(p384::ecdsa::SigningKey::from(&secret)),
                SignatureScheme::Ecdsa,
            ),
        };
        Ok(Signer {
            fixed: FixedParts::new(&certificate)?,
            certificate,
            chain: Vec::new(),
            key,
            digest: DigestAlgorithm::default(),
            scheme,
        })
    }

    /// A signer for `certificate` whose private key is held elsewhere (an
    /// HSM, see [`ExternalKey`]): RSA certificates sign with PKCS#1 v1.5,
    /// P-256 and P-384 certificates with ECDSA; the digest is SHA-256.
    ///
    /// Refuses RSA keys under 2048 bits and other key types. Whether the
    /// external key belongs to the certificate shows at the first
    /// signature: each one is verified with the certificate before it is
    /// used, and a mismatch is [`Error::SigningFailed`].
    ///
    /// ```no_run
    /// # fn run(certificate: smime_core::Certificate, token_key: std::sync::Arc<dyn smime_core::ExternalKey>) -> Result<(), smime_core::Error> {
    /// use smime_core::{SignatureForm, Signer};
    ///
    /// let signer = Signer::with_external_key(certificate, token_key)?;
    /// let signed = signer.sign_message(b"From: a@example.org\r\n\r\nHi\r\n", SignatureForm::Detached)?;
    /// # Ok(()) }
    /// ```
    pub fn with_external_key(
        certificate: Certificate,
        key: Arc<dyn ExternalKey>,
    ) -> Result<Signer, Error> {
        let scheme = match certificate.public_key_algorithm() {
            PublicKeyAlgorithm::Rsa { bits } if *bits < 2048 => {
                return Err(Error::WeakKey { bits: *bits });
            }
            PublicKeyAlgorithm::Rsa { .. } => SignatureScheme::RsaPkcs1v15,
            PublicKeyAlgorithm::Ec {
                curve: Curve::P256 | Curve::P384,
            } => SignatureScheme::Ecdsa,
            _ => return Err(Error::UnsupportedPrivateKey),
        };
        Ok(Signer {
            fixed: FixedParts::new(&certificate)?,
            certificate,
            chain: Vec::new(),
            key: SigningKey::External(key),
            digest: DigestAlgorithm::default(),
            scheme,
        })
    }

    /// Certificates to include besides the signer's (its issuing CAs), so
    /// recipients can build the path.
    pub fn with_chain(mut self, chain: impl IntoIterator<Item = Certificate>) -> Signer {
        self.chain.extend(chain);
        self.fixed.certificates = certificate_set(&self.certificate, &self.chain);
        self
    }

    /// The digest algorithm.
    pub fn with_digest(mut self, digest: DigestAlgorithm) -> Signer {
        self.digest = digest;
        self
    }

    /// Signs with RSASSA-PSS instead of PKCS#1 v1.5; refused for EC keys
    /// (an external key may refuse it when signing).
    pub fn with_rsa_pss(mut self) -> Result<Signer, Error> {
        let rsa = match &self.key {
            SigningKey::Rsa(_) => true,
            SigningKey::P256(_) | SigningKey::P384(_) => false,
            SigningKey::External(_) => matches!(
                self.certificate.public_key_algorithm(),
                PublicKeyAlgorithm::Rsa { .. }
            ),
        };
        if !rsa {
            return Err(Error::PssNeedsRsa);
        }
        self.scheme = SignatureScheme::RsaPss;
        Ok(self)
    }

    /// The signer's certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    /// The digest algorithm in use.
    pub fn digest(&self) -> DigestAlgorithm {
        self.digest
    }

    /// CMS SignedData (DER) over `content`: detached (the content is not
    /// included) or with the content encapsulated, signed at `time`.
    pub fn sign_cms(
        &self,
        content: &[u8],
        form: SignatureForm,
        time: SystemTime,
    ) -> Result<Vec<u8>, Error> {
        let econtent = match form {
            SignatureForm::Detached => None,
            SignatureForm::Opaque => Some(content),
        };
        self.signed_data_der(&self.digest.digest(content), econtent, time, true)
    }

    /// SignedData (DER) over content whose digest (with [`Signer::digest`])
    /// is `content_digest`, with `econtent` encapsulated or detached
    /// (`None`); inside a ContentInfo if `content_info`.
    ///
    /// The DER is assembled here from parts (the fixed ones encoded once in
    /// [`FixedParts`]) rather than through the `cms` types, which would
    /// clone and re-encode every certificate per signature and copy the
    /// content several times; a test checks the result against the `cms`
    /// types' encoding.
    pub(crate) fn signed_data_der(
        &self,
        content_digest: &[u8],
        econtent: Option<&[u8]>,
        time: SystemTime,
        content_info: bool,
    ) -> Result<Vec<u8>, Error> {
        let attributes = self.signed_attributes(content_digest, time)?;
        // The signature covers the DER encoding of the attributes as a SET
        // OF (RFC 5652 section 5.4); in the SignerInfo they are [0] IMPLICIT.
        let signature = self.sign_bytes(&attributes)?;
        let implicit_attributes = attributes.split_first().map_or(&[][..], |(_, rest)| rest);
        let digest_id = AlgorithmIdentifierOwned {
            oid: self.digest.oid(),
            parameters: None,
        }
        .to_der()
        .map_err(Error::InvalidCms)?;
        let signature_algorithm = signature_algorithm::identifier(self.scheme, self.digest)?
            .to_der()
            .map_err(Error::InvalidCms)?;
        let signer_info = tlv(
            SEQUENCE,
            &[
                VERSION_1,
                &self.fixed.sid,
                &digest_id,
                &[CONTEXT_0],
                implicit_attributes,
                &signature_algorithm,
                &tlv(OCTET_STRING, &[&signature]),
            ],
        );
        let digest_algorithms = tlv(SET, &[&digest_id]);
        let signer_infos = tlv(SET, &[&signer_info]);
        let id_data = oid_der(ID_DATA);

        // Lengths first, so the content is copied once.
        let octets_len = econtent.map_or(0, |c| tlv_len(c.len()));
        let explicit_len = econtent.map_or(0, |_| tlv_len(octets_len));
        let encap_len = id_data.len() + explicit_len;
        let signed_data_len = VERSION_1.len()
            + digest_algorithms.len()
            + tlv_len(encap_len)
            + self.fixed.certificates.len()
            + signer_infos.len();
        let id_signed_data = oid_der(ID_SIGNED_DATA);
        let info_len = id_signed_data.len() + tlv_len(tlv_len(signed_data_len));

        let mut out = Vec::with_capacity(tlv_len(info_len));
        if content_info {
            push_header(&mut out, SEQUENCE, info_len);
            out.extend_from_slice(&id_signed_data);
            push_header(&mut out, CONTEXT_0, tlv_len(signed_data_len));
        }
        push_header(&mut out, SEQUENCE, signed_data_len);
        out.extend_from_slice(VERSION_1);
        out.extend_from_slice(&digest_algorithms);
        push_header(&mut out, SEQUENCE, encap_len);
        out.extend_from_slice(&id_data);
        if let Some(content) = econtent {
            push_header(&mut out, CONTEXT_0, octets_len);
            push_header(&mut out, OCTET_STRING, content.len());
            out.extend_from_slice(content);
        }
        out.extend_from_slice(&self.fixed.certificates);
        out.extend_from_slice(&signer_infos);
        Ok(out)
    }

    /// The signed attributes (DER, a SET OF): content-type,
    /// signing-time, message-digest and SMIMECapabilities.
    fn signed_attributes(&self, message_digest: &[u8], time: SystemTime) -> Result<Vec<u8>, Error> {
        let signing_time = Time::try_from(time)
            .and_then(|t| t.to_der())
            .map_err(Error::InvalidCms)?;
        let mut attributes = [
            self.fixed.content_type.as_slice(),
            &attribute(PKCS_9_AT_SIGNING_TIME, &signing_time),
            &attribute(
                PKCS_9_AT_MESSAGE_DIGEST,
                &tlv(OCTET_STRING, &[message_digest]),
            ),
            &self.fixed.capabilities,
        ];
        // DER orders a SET OF by the encodings (X.690 section 11.6);
        // byte-wise comparison is that order.
        attributes.sort_unstable();
        Ok(tlv(SET, &attributes))
    }

    /// The signature value over `data` with our scheme and digest.
    fn sign_bytes(&self, data: &[u8]) -> Result<Vec<u8>, Error> {
        let failed = |_| Error::SigningFailed;
        match (&self.key, self.scheme) {
            (SigningKey::Rsa(key), scheme) => key.sign(scheme, self.digest, data),
            // ECDSA signs the digest (RFC 5753 section 7.2; truncated to the
            // curve order by the primitive when longer).
            (SigningKey::P256(key), _) => {
                let signature: p256::ecdsa::Signature = key
                    .sign_prehash(&self.digest.digest(data))
                    .map_err(failed)?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
            (SigningKey::P384(key), _) => {
                let signature: p384::ecdsa::Signature = key
                    .sign_prehash(&self.digest.digest(data))
                    .map_err(failed)?;
                Ok(signature.to_der().as_bytes().to_vec())
            }
            (SigningKey::External(key), scheme) => {
                let digest = self.digest.digest(data);
                let signature = key
                    .sign_digest(scheme, self.digest, &digest)
                    .map_err(|e| e.into_error(Error::SigningFailed))?;
                // We cannot compare a token's key with the certificate up
                // front; a signature that does not verify (wrong key
                // label, faulty token) must not leave as if it were valid.
                let salt = (scheme == SignatureScheme::RsaPss).then_some(digest.len());
                crate::verification::check_signature_value(
                    &self.certificate,
                    scheme,
                    salt,
                    self.digest,
                    &digest,
                    &signature,
                )
                .map_err(|_| Error::SigningFailed)?;
                Ok(signature)
            }
        }
    }

    /// Signs a whole RFC 5322 message: the outer header fields (From, To,
    /// Subject, ...) stay outside; the body entity with its `Content-*`
    /// fields is made 7-bit safe and canonical (CRLF; binary parts
    /// base64-encoded byte for byte, see [`Envelope::signable`]) and signed.
    pub fn sign_message(&self, message: &[u8], form: SignatureForm) -> Result<Vec<u8>, Error> {
        let envelope = Envelope::split(message)?;
        let entity = envelope.signable()?;
        let cms = self.sign_cms(&entity, form, SystemTime::now())?;
        let signature = mime::encode_base64(&cms, mime::LineBreak::Crlf);
        let mut out = Vec::with_capacity(entity.len() + signature.len() + 512);
        match form {
            SignatureForm::Detached => {
                let boundary = boundary_for(&entity);
                out.extend_from_slice(&detached_head(&boundary, self.digest));
                out.extend_from_slice(&entity);
                out.extend_from_slice(&detached_tail(&boundary, &signature));
            }
            SignatureForm::Opaque => {
                out.extend_from_slice(OPAQUE_HEAD);
                out.extend_from_slice(&signature);
            }
        }
        Ok(envelope.rebuild(&out))
    }
}

/// The `multipart/signed` entity up to the signed part (CRLF).
pub(crate) fn detached_head(boundary: &str, digest: DigestAlgorithm) -> Vec<u8> {
    format!(
        "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n\tmicalg={}; boundary=\"{boundary}\"\r\n\r\n\
         This is an S/MIME signed message.\r\n\r\n--{boundary}\r\n",
        digest.micalg()
    )
    .into_bytes()
}

/// The `multipart/signed` entity after the signed part: the signature part
/// with `signature` (base64 lines, CRLF) and the closing delimiter.
pub(crate) fn detached_tail(boundary: &str, signature: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "\r\n--{boundary}\r\n\
         Content-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"smime.p7s\"\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(signature);
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// The header of an opaque signed entity; the base64 CMS follows.
pub(crate) const OPAQUE_HEAD: &[u8] =
    b"Content-Type: application/pkcs7-mime; smime-type=signed-data; name=\"smime.p7m\"\r\n\
      Content-Transfer-Encoding: base64\r\n\
      Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n";

const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;
const OCTET_STRING: u8 = 0x04;
/// `[0]`, constructed (EXPLICIT, or IMPLICIT over a SET OF).
const CONTEXT_0: u8 = 0xa0;
/// `INTEGER 1`: CMSVersion v1 of SignedData and SignerInfo.
const VERSION_1: &[u8] = &[0x02, 0x01, 0x01];

/// The length of a DER TLV whose value is `len` bytes long.
fn tlv_len(len: usize) -> usize {
    let length_octets = if len < 0x80 {
        0
    } else {
        (usize::BITS - len.leading_zeros()).div_ceil(8) as usize
    };
    2 + length_octets + len
}

/// A DER tag and definite length.
fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.push(tag);
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let significant = bytes
            .iter()
            .position(|b| *b != 0)
            .and_then(|first| bytes.get(first..))
            .unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

/// A DER TLV whose value is `parts` in order.
fn tlv(tag: u8, parts: &[&[u8]]) -> Vec<u8> {
    let len = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(tlv_len(len));
    push_header(&mut out, tag, len);
    for part in parts {
        out.extend_from_slice(part);
    }
    out
}

fn oid_der(oid: ObjectIdentifier) -> Vec<u8> {
    tlv(0x06, &[oid.as_bytes()])
}

/// An `Attribute` with one value (already DER).
fn attribute(oid: ObjectIdentifier, value: &[u8]) -> Vec<u8> {
    tlv(SEQUENCE, &[&oid_der(oid), &tlv(SET, &[value])])
}

/// `certificates [0] IMPLICIT CertificateSet` with `certificate` and
/// `chain`: the certificates as loaded, a repeated one once (a chain that
/// repeats the signer's certificate is not an error), in DER SET OF order.
fn certificate_set(certificate: &Certificate, chain: &[Certificate]) -> Vec<u8> {
    let mut certificates: Vec<&[u8]> = std::iter::once(certificate)
        .chain(chain)
        .map(Certificate::to_der)
        .collect();
    certificates.sort_unstable();
    certificates.dedup();
    tlv(CONTEXT_0, &certificates)
}

/// A boundary that does not occur in `content` (RFC 2046 section 5.1.1).
pub(crate) fn boundary_for(content: &[u8]) -> String {
    let mut counter = 0u64;
    loop {
        let mut random = [0u8; 12];
        // Without randomness, a counter still yields a boundary we check.
        let _ = getrandom::fill(&mut random);
        let boundary = format!(
            "----=_mailgate_{}_{counter}",
            crate::certificate::hex(&random)
        );
        if !content
            .windows(boundary.len())
            .any(|w| w == boundary.as_bytes())
        {
            return boundary;
        }
        counter += 1;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use cms::cert::CertificateChoices;
    use cms::content_info::{CmsVersion, ContentInfo};
    use cms::signed_data::{
        CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo,
        SignerInfos,
    };
    use der::asn1::{OctetString, SetOfVec};
    use der::{Any, Decode};
    use x509_cert::attr::Attribute;

    use super::*;

    fn any(value: &impl Encode) -> Any {
        Any::from_der(&value.to_der().unwrap()).unwrap()
    }

    /// The SignedData as the `cms` types encode it (how `Signer` built it
    /// before it assembled the DER itself), with the signature value
    /// `signature`.
    fn reference(
        signer: &Signer,
        content: &[u8],
        form: SignatureForm,
        time: SystemTime,
        signature: &[u8],
    ) -> Vec<u8> {
        let digest_id = AlgorithmIdentifierOwned {
            oid: signer.digest.oid(),
            parameters: None,
        };
        let attribute = |oid, value| Attribute {
            oid,
            values: SetOfVec::try_from(vec![value]).unwrap(),
        };
        let capabilities: Vec<AlgorithmIdentifierOwned> = CAPABILITIES
            .iter()
            .map(|oid| AlgorithmIdentifierOwned {
                oid: ObjectIdentifier::new(oid).unwrap(),
                parameters: None,
            })
            .collect();
        let signed_attrs = SetOfVec::try_from(vec![
            attribute(PKCS_9_AT_CONTENT_TYPE, any(&ID_DATA)),
            attribute(PKCS_9_AT_SIGNING_TIME, any(&Time::try_from(time).unwrap())),
            attribute(
                PKCS_9_AT_MESSAGE_DIGEST,
                any(&OctetString::new(signer.digest.digest(content)).unwrap()),
            ),
            attribute(PKCS_9_AT_SMIME_CAPABILITIES, any(&capabilities)),
        ])
        .unwrap();
        let tbs = signer.certificate.x509().tbs_certificate();
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer().clone(),
                serial_number: tbs.serial_number().clone(),
            }),
            digest_alg: digest_id.clone(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: signature_algorithm::identifier(signer.scheme, signer.digest)
                .unwrap(),
            signature: OctetString::new(signature).unwrap(),
            unsigned_attrs: None,
        };
        let mut certificates = SetOfVec::new();
        for certificate in std::iter::once(&signer.certificate).chain(&signer.chain) {
            let choice = CertificateChoices::Certificate(certificate.x509().clone());
            if !certificates.iter().any(|c| *c == choice) {
                certificates.insert(choice).unwrap();
            }
        }
        let econtent = (form == SignatureForm::Opaque)
            .then(|| Any::encode_from(&OctetString::new(content).unwrap()).unwrap());
        let signed_data = SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![digest_id]).unwrap(),
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_DATA,
                econtent,
            },
            certificates: Some(CertificateSet(certificates)),
            crls: None,
            signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info]).unwrap()),
        };
        ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(&signed_data).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    /// The signature value in our encoding (the one part that may differ
    /// between two signatures: ECDSA and PSS are randomised).
    fn signature_of(cms: &[u8]) -> Vec<u8> {
        let info = ContentInfo::from_der(cms).unwrap();
        let data: SignedData = info.content.decode_as().unwrap();
        let info = data.signer_infos.0.iter().next().unwrap();
        info.signature.as_bytes().to_vec()
    }

    fn signer(kind: testkit::KeyKind) -> Signer {
        let id = testkit::pki().smime("a@example.org", kind);
        let certificate = Certificate::from_der(id.certificate_der()).unwrap();
        let key = PrivateKey::load(id.private_key_der(), None).unwrap();
        let chain: Vec<Certificate> = id
            .chain_der()
            .iter()
            .map(|d| Certificate::from_der(d).unwrap())
            .collect();
        Signer::new(certificate.clone(), &key)
            .unwrap()
            // The signer's own certificate again: included once.
            .with_chain(std::iter::once(certificate).chain(chain))
    }

    /// The hand-assembled DER is byte for byte what the `cms` types encode,
    /// for every key kind, digest and form, short and long (multi-byte
    /// lengths) content.
    #[test]
    fn assembled_der_is_what_the_cms_types_encode() {
        let time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_764_800_000);
        for kind in [testkit::KeyKind::Rsa2048, testkit::KeyKind::P256] {
            for digest in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512] {
                let signer = signer(kind).with_digest(digest);
                for content in [&b"Hi"[..], &[b'x'; 70_000][..]] {
                    for form in [SignatureForm::Detached, SignatureForm::Opaque] {
                        let ours = signer.sign_cms(content, form, time).unwrap();
                        let expected =
                            reference(&signer, content, form, time, &signature_of(&ours));
                        assert!(ours == expected, "{kind:?} {digest:?} {form:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn der_lengths() {
        for len in [0, 1, 127, 128, 255, 256, 65_535, 65_536, 16_777_216] {
            let mut out = Vec::new();
            push_header(&mut out, OCTET_STRING, len);
            assert_eq!(out.len() + len, tlv_len(len), "{len}");
            let header = der::Header::decode(&mut der::SliceReader::new(&out).unwrap()).unwrap();
            assert_eq!(usize::try_from(header.length()).unwrap(), len);
        }
    }
}
