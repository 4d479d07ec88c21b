//! Creating CMS SignedData (RFC 5652 section 5) and S/MIME signed messages
//! (RFC 8551 section 3.5).

use std::sync::Arc;
use std::time::SystemTime;

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc2985::{
    PKCS_9_AT_CONTENT_TYPE, PKCS_9_AT_MESSAGE_DIGEST, PKCS_9_AT_SIGNING_TIME,
    PKCS_9_AT_SMIME_CAPABILITIES,
};
use const_oid::db::rfc5911::{ID_DATA, ID_SIGNED_DATA};
use der::asn1::{OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use rsa::signature::hazmat::PrehashSigner;
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
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
            SignatureForm::Opaque => Some(
                Any::encode_from(&OctetString::new(content).map_err(Error::InvalidCms)?)
                    .map_err(Error::InvalidCms)?,
            ),
        };
        let signed_data = self.signed_data(&self.digest.digest(content), econtent, time)?;
        ContentInfo {
            content_type: ID_SIGNED_DATA,
            content: Any::encode_from(&signed_data).map_err(Error::InvalidCms)?,
        }
        .to_der()
        .map_err(Error::InvalidCms)
    }

    /// SignedData over content whose digest (with [`Signer::digest`]) is
    /// `content_digest`, with `econtent` encapsulated or detached (`None`).
    pub(crate) fn signed_data(
        &self,
        content_digest: &[u8],
        econtent: Option<Any>,
        time: SystemTime,
    ) -> Result<SignedData, Error> {
        let digest_id = AlgorithmIdentifierOwned {
            oid: self.digest.oid(),
            parameters: None,
        };
        let signed_attrs = self.signed_attributes(content_digest, time)?;
        // The signature covers the DER encoding of the attributes as a SET OF
        // (RFC 5652 section 5.4), which is how `SetOfVec` encodes.
        let signature = self.sign_bytes(&signed_attrs.to_der().map_err(Error::InvalidCms)?)?;
        let tbs = self.certificate.x509().tbs_certificate();
        let signer_info = SignerInfo {
            version: CmsVersion::V1,
            sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                issuer: tbs.issuer().clone(),
                serial_number: tbs.serial_number().clone(),
            }),
            digest_alg: digest_id.clone(),
            signed_attrs: Some(signed_attrs),
            signature_algorithm: signature_algorithm::identifier(self.scheme, self.digest)?,
            signature: OctetString::new(signature).map_err(Error::InvalidCms)?,
            unsigned_attrs: None,
        };
        let mut certificates = SetOfVec::new();
        for certificate in std::iter::once(&self.certificate).chain(&self.chain) {
            // A chain that repeats the signer's certificate is not an error.
            let choice = CertificateChoices::Certificate(certificate.x509().clone());
            if !certificates.iter().any(|c| *c == choice) {
                certificates.insert(choice).map_err(Error::InvalidCms)?;
            }
        }
        Ok(SignedData {
            version: CmsVersion::V1,
            digest_algorithms: SetOfVec::try_from(vec![digest_id]).map_err(Error::InvalidCms)?,
            encap_content_info: EncapsulatedContentInfo {
                econtent_type: ID_DATA,
                econtent,
            },
            certificates: Some(CertificateSet(certificates)),
            crls: None,
            signer_infos: SignerInfos(
                SetOfVec::try_from(vec![signer_info]).map_err(Error::InvalidCms)?,
            ),
        })
    }

    fn signed_attributes(
        &self,
        message_digest: &[u8],
        time: SystemTime,
    ) -> Result<SetOfVec<Attribute>, Error> {
        let attribute = |oid: ObjectIdentifier, value: Any| -> Result<Attribute, Error> {
            Ok(Attribute {
                oid,
                values: SetOfVec::try_from(vec![value]).map_err(Error::InvalidCms)?,
            })
        };
        let capabilities: Vec<AlgorithmIdentifierOwned> = CAPABILITIES
            .iter()
            .filter_map(|oid| ObjectIdentifier::new(oid).ok())
            .map(|oid| AlgorithmIdentifierOwned {
                oid,
                parameters: None,
            })
            .collect();
        let signing_time = Time::try_from(time).map_err(Error::InvalidCms)?;
        SetOfVec::try_from(vec![
            attribute(PKCS_9_AT_CONTENT_TYPE, any(&ID_DATA)?)?,
            attribute(PKCS_9_AT_SIGNING_TIME, any(&signing_time)?)?,
            attribute(
                PKCS_9_AT_MESSAGE_DIGEST,
                any(&OctetString::new(message_digest).map_err(Error::InvalidCms)?)?,
            )?,
            attribute(PKCS_9_AT_SMIME_CAPABILITIES, any(&capabilities)?)?,
        ])
        .map_err(Error::InvalidCms)
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

fn any(value: &impl Encode) -> Result<Any, Error> {
    Any::from_der(&value.to_der().map_err(Error::InvalidCms)?).map_err(Error::InvalidCms)
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
