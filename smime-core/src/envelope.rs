//! Opening CMS EnvelopedData ([RFC 5652 section 6](https://www.rfc-editor.org/rfc/rfc5652#section-6))
//! and AuthEnvelopedData ([RFC 5083](https://www.rfc-editor.org/rfc/rfc5083),
//! AES-GCM per [RFC 5084](https://www.rfc-editor.org/rfc/rfc5084)).
//!
//! Input may be DER or BER. We find our recipientInfo by issuer and serial
//! number or by subject key identifier, recover the content-encryption key
//! (RSA PKCS#1 v1.5 or RSA-OAEP key transport, or ECDH key agreement per
//! RFC 5753) and decrypt the content with AES-CBC or AES-GCM.
//!
//! Every failure after a recipientInfo has been found is reported as the same
//! [`Error::Decryption`]: wrong key, bad padding, and a failed GCM tag look
//! alike, so the error is no padding oracle. PKCS#1 v1.5 uses implicit
//! rejection (a bad block yields a synthetic key, which then fails at the
//! content layer). AES-GCM plaintext is released only after the tag has been
//! checked.
//!
//! This is the in-memory path for messages that fit in memory; the streaming
//! path for large messages follows.

use std::sync::Arc;

use aes_gcm::aead::consts::{U12, U16};
use aes_gcm::aead::{Aead, KeyInit, Payload};
use cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::ContentInfo;
use cms::enveloped_data::{
    EncryptedContentInfo, KeyAgreeRecipientIdentifier, OriginatorIdentifierOrKey,
    RecipientIdentifier, RecipientInfo, RecipientInfos,
};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911::{ID_CT_AUTH_ENVELOPED_DATA, ID_ENVELOPED_DATA};
use const_oid::db::rfc5912::{ID_RSAES_OAEP, ID_SHA_1, ID_SHA_256, RSA_ENCRYPTION};
use der::asn1::OctetString;
use der::{Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::ext::pkix::SubjectKeyIdentifier;
use zeroize::Zeroizing;

use crate::certificate::{Certificate, PublicKeyAlgorithm};
use crate::error::Error;
use crate::external_key::{ExternalKey, KeyOperationError, KeyTransport};
use crate::key_agreement::{EcPrivateKey, unwrap_content_key};
use crate::private_key::KeyMaterial;
use crate::rsa_backend::RsaDecryptionKey;

/// des-ede3-cbc (RSA DSI, RFC 3370 section 5.1).
const DES_EDE3_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.3.7");
const AES128_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.2");
const AES192_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.22");
const AES256_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");
const AES128_GCM: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.6");
const AES256_GCM: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.46");

/// The content-encryption algorithm a message used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ContentEncryption {
    /// AES-128-CBC in EnvelopedData.
    Aes128Cbc,
    /// AES-192-CBC in EnvelopedData.
    Aes192Cbc,
    /// AES-256-CBC in EnvelopedData.
    Aes256Cbc,
    /// AES-128-GCM in AuthEnvelopedData.
    Aes128Gcm,
    /// AES-256-GCM in AuthEnvelopedData.
    Aes256Gcm,
    /// Three-key Triple DES (DES-EDE3-CBC, RFC 3370 section 5.1) in
    /// EnvelopedData: decrypt only, for legacy mail (archives, S/MIME 3
    /// agents). It is obsolete ([`ContentEncryption::is_obsolete`]): 64-bit
    /// blocks, withdrawn by NIST in 2023. [`Encryptor`](crate::Encryptor)
    /// refuses it and [`ContentEncryption::negotiate`] never picks it.
    DesEde3Cbc,
}

impl ContentEncryption {
    /// The algorithm's object identifier.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            ContentEncryption::Aes128Cbc => AES128_CBC,
            ContentEncryption::Aes192Cbc => AES192_CBC,
            ContentEncryption::Aes256Cbc => AES256_CBC,
            ContentEncryption::Aes128Gcm => AES128_GCM,
            ContentEncryption::Aes256Gcm => AES256_GCM,
            ContentEncryption::DesEde3Cbc => DES_EDE3_CBC,
        }
    }

    /// The key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            ContentEncryption::Aes128Cbc | ContentEncryption::Aes128Gcm => 16,
            ContentEncryption::Aes192Cbc => 24,
            ContentEncryption::Aes256Cbc | ContentEncryption::Aes256Gcm => 32,
            ContentEncryption::DesEde3Cbc => 24,
        }
    }

    /// The block length in bytes: the IV length and padding unit of CBC.
    pub fn block_len(self) -> usize {
        match self {
            ContentEncryption::DesEde3Cbc => 8,
            _ => 16,
        }
    }

    /// Whether the cipher is obsolete: decrypted for legacy mail, never
    /// used to encrypt, and worth a finding wherever a person reads the
    /// result.
    ///
    /// ```
    /// use smime_core::ContentEncryption;
    /// assert!(ContentEncryption::DesEde3Cbc.is_obsolete());
    /// assert!(!ContentEncryption::Aes128Cbc.is_obsolete());
    /// ```
    pub fn is_obsolete(self) -> bool {
        self == ContentEncryption::DesEde3Cbc
    }

    /// The cipher for an object identifier (as in SMIMECapabilities).
    pub fn from_oid(oid: ObjectIdentifier) -> Option<ContentEncryption> {
        Some(match oid {
            AES128_CBC => ContentEncryption::Aes128Cbc,
            AES192_CBC => ContentEncryption::Aes192Cbc,
            AES256_CBC => ContentEncryption::Aes256Cbc,
            AES128_GCM => ContentEncryption::Aes128Gcm,
            AES256_GCM => ContentEncryption::Aes256Gcm,
            DES_EDE3_CBC => ContentEncryption::DesEde3Cbc,
            _ => return None,
        })
    }

    /// The cipher for mail to recipients whose SMIMECapabilities are known
    /// (`Some`, most preferred first) or unknown (`None`), following RFC 8551
    /// section 2.7: the strongest cipher every recipient with known
    /// capabilities lists; AES-256-GCM when nothing is known (rule 2: S/MIME
    /// 4.0 requires it); AES-128-CBC, the one cipher every S/MIME 3 and 4
    /// agent must decrypt, when the known lists have nothing stronger in
    /// common.
    ///
    /// ```
    /// use smime_core::ContentEncryption;
    ///
    /// assert_eq!(ContentEncryption::negotiate(&[None]), ContentEncryption::Aes256Gcm);
    /// let outlook_2016 = [ContentEncryption::Aes256Cbc.oid(), ContentEncryption::Aes128Cbc.oid()];
    /// assert_eq!(
    ///     ContentEncryption::negotiate(&[None, Some(&outlook_2016[..])]),
    ///     ContentEncryption::Aes256Cbc
    /// );
    /// ```
    pub fn negotiate(recipients: &[Option<&[ObjectIdentifier]>]) -> ContentEncryption {
        const PREFERENCE: [ContentEncryption; 4] = [
            ContentEncryption::Aes256Gcm,
            ContentEncryption::Aes128Gcm,
            ContentEncryption::Aes256Cbc,
            ContentEncryption::Aes128Cbc,
        ];
        PREFERENCE
            .into_iter()
            .find(|cipher| {
                recipients
                    .iter()
                    .flatten()
                    .all(|known| known.contains(&cipher.oid()))
            })
            .unwrap_or(ContentEncryption::Aes128Cbc)
    }

    /// Whether the algorithm authenticates the content (AuthEnvelopedData).
    pub fn is_authenticated(self) -> bool {
        matches!(
            self,
            ContentEncryption::Aes128Gcm | ContentEncryption::Aes256Gcm
        )
    }
}

impl ContentEncryption {
    /// The name used on command lines: `aes-128-gcm`, `aes-256-cbc`, ...
    pub fn name(self) -> &'static str {
        match self {
            ContentEncryption::Aes128Cbc => "aes-128-cbc",
            ContentEncryption::Aes192Cbc => "aes-192-cbc",
            ContentEncryption::Aes256Cbc => "aes-256-cbc",
            ContentEncryption::Aes128Gcm => "aes-128-gcm",
            ContentEncryption::Aes256Gcm => "aes-256-gcm",
            ContentEncryption::DesEde3Cbc => "des-ede3-cbc",
        }
    }
}

impl std::fmt::Display for ContentEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A cipher name that [`ContentEncryption`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown cipher `{0}`: expected aes-128-gcm, aes-256-gcm, aes-128-cbc or aes-256-cbc")]
pub struct UnknownCipher(String);

impl std::str::FromStr for ContentEncryption {
    type Err = UnknownCipher;

    /// Parses the names [`ContentEncryption::name`] gives.
    ///
    /// ```
    /// use smime_core::ContentEncryption;
    /// assert_eq!("AES-256-GCM".parse(), Ok(ContentEncryption::Aes256Gcm));
    /// ```
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let all = [
            ContentEncryption::Aes128Cbc,
            ContentEncryption::Aes192Cbc,
            ContentEncryption::Aes256Cbc,
            ContentEncryption::Aes128Gcm,
            ContentEncryption::Aes256Gcm,
        ];
        all.into_iter()
            .find(|cipher| cipher.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| UnknownCipher(name.to_owned()))
    }
}

/// Our certificate and its private key: what it takes to open mail sent to us.
///
/// ```
/// use smime_core::{Certificate, DecryptionIdentity};
///
/// # let bob = testkit::pki().smime("bob@example.org", testkit::KeyKind::P256);
/// # let (cert_pem, key_der) = (bob.certificate_pem(), bob.private_key_der().to_vec());
/// let certificate = Certificate::load(cert_pem.as_bytes())?.remove(0);
/// let identity = DecryptionIdentity::new(certificate, &key_der)?;
/// # Ok::<(), smime_core::Error>(())
/// ```
pub struct DecryptionIdentity {
    certificate: Certificate,
    key: DecryptionKey,
}

/// Where the private key of a [`DecryptionIdentity`] is.
enum DecryptionKey {
    Rsa(RsaDecryptionKey),
    Ec(EcPrivateKey),
    External(Arc<dyn ExternalKey>),
}

impl DecryptionIdentity {
    /// Pairs a certificate with its PKCS#8 private key (DER), refusing a key
    /// that does not belong to the certificate.
    pub fn new(certificate: Certificate, private_key_pkcs8: &[u8]) -> Result<Self, Error> {
        let key = match KeyMaterial::for_certificate(private_key_pkcs8, &certificate)? {
            KeyMaterial::Rsa(rsa) => {
                DecryptionKey::Rsa(RsaDecryptionKey::new(private_key_pkcs8, rsa))
            }
            KeyMaterial::Ec(ec) => DecryptionKey::Ec(ec),
        };
        Ok(DecryptionIdentity { certificate, key })
    }

    /// Pairs an RSA certificate with a private key held elsewhere (an HSM,
    /// see [`ExternalKey`]), which decrypts the content-encryption keys of
    /// key-transport recipientInfos (RSA PKCS#1 v1.5 and OAEP). EC
    /// certificates are refused: ECDH key agreement is not an
    /// [`ExternalKey`] operation.
    ///
    /// ```no_run
    /// # fn run(certificate: smime_core::Certificate, token_key: std::sync::Arc<dyn smime_core::ExternalKey>, message: &[u8]) -> Result<(), smime_core::Error> {
    /// use smime_core::{DecryptionIdentity, decrypt_message};
    ///
    /// let identity = DecryptionIdentity::with_external_key(certificate, token_key)?;
    /// let decrypted = decrypt_message(message, &identity)?;
    /// # Ok(()) }
    /// ```
    pub fn with_external_key(
        certificate: Certificate,
        key: Arc<dyn ExternalKey>,
    ) -> Result<Self, Error> {
        if !matches!(
            certificate.public_key_algorithm(),
            PublicKeyAlgorithm::Rsa { .. }
        ) {
            return Err(Error::KeyUnsupported(
                "decryption with a non-RSA certificate (ECDH key agreement)".into(),
            ));
        }
        Ok(DecryptionIdentity {
            certificate,
            key: DecryptionKey::External(key),
        })
    }

    /// The certificate.
    pub fn certificate(&self) -> &Certificate {
        &self.certificate
    }

    fn is_issuer_and_serial(&self, id: &IssuerAndSerialNumber) -> bool {
        let tbs = self.certificate.x509().tbs_certificate();
        id.issuer == *tbs.issuer() && id.serial_number == *tbs.serial_number()
    }

    fn is_key_identifier(&self, id: &SubjectKeyIdentifier) -> bool {
        matches!(
            self.certificate.x509().tbs_certificate().get_extension::<SubjectKeyIdentifier>(),
            Ok(Some((_, ours))) if ours == *id
        )
    }
}

/// Decrypted content and how it was protected.
pub struct Decrypted {
    /// The content (for S/MIME, a MIME entity). Zeroized when dropped.
    pub content: Zeroizing<Vec<u8>>,
    /// The content-encryption algorithm the sender chose.
    pub encryption: ContentEncryption,
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("content_len", &self.content.len())
            .field("encryption", &self.encryption)
            .finish()
    }
}

/// `RSAES-OAEP-params` (RFC 8017 appendix A.2.1).
#[derive(Sequence)]
pub(crate) struct RsaesOaepParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) mask_gen: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    pub(crate) p_source: Option<AlgorithmIdentifierOwned>,
}

/// `GCMParameters` (RFC 5084 section 3.2).
#[derive(Sequence)]
pub(crate) struct GcmParameters {
    pub(crate) nonce: OctetString,
    #[asn1(default = "default_icv_len")]
    pub(crate) icv_len: u8,
}

fn default_icv_len() -> u8 {
    12
}

/// Decrypts a CMS ContentInfo holding EnvelopedData or AuthEnvelopedData.
///
/// ```no_run
/// # fn run(identity: &smime_core::DecryptionIdentity, cms_der: &[u8]) -> Result<(), smime_core::Error> {
/// let decrypted = smime_core::decrypt_cms(cms_der, identity)?;
/// println!("{} bytes, {:?}", decrypted.content.len(), decrypted.encryption);
/// # Ok(()) }
/// ```
pub fn decrypt_cms(input: &[u8], identity: &DecryptionIdentity) -> Result<Decrypted, Error> {
    let envelope = decode_envelope(input)?;
    let cek = recover_content_key(
        &envelope.recipients,
        identity,
        content_key_len(envelope.content.content_enc_alg.oid),
    )?;
    decrypt_content(
        &envelope.content,
        &cek,
        envelope.mac.as_ref().map(OctetString::as_bytes),
        envelope.aad.as_deref(),
    )
}

/// An EnvelopedData or AuthEnvelopedData as one decoder reads it.
///
/// Both decryption paths read every field but the encrypted content from
/// this: the streaming path hands [`decode_envelope`] the structure with an
/// empty content, so what a message means cannot depend on which path
/// (which message size) reads it.
pub(crate) struct Envelope {
    pub(crate) recipients: RecipientInfos,
    pub(crate) content: EncryptedContentInfo,
    /// The AuthEnvelopedData MAC; `None` for EnvelopedData.
    pub(crate) mac: Option<OctetString>,
    /// The additional authenticated data: the authenticated attributes, DER
    /// encoded with their SET OF tag (RFC 5083 section 2.2).
    pub(crate) aad: Option<Vec<u8>>,
}

/// Decodes a ContentInfo holding EnvelopedData or AuthEnvelopedData (DER
/// or BER).
pub(crate) fn decode_envelope(input: &[u8]) -> Result<Envelope, Error> {
    let der = crate::ber::enveloped_to_der(input).map_err(Error::MalformedCms)?;
    let info = ContentInfo::from_der(&der).map_err(Error::InvalidCms)?;
    match info.content_type {
        ID_ENVELOPED_DATA => {
            let data: cms::enveloped_data::EnvelopedData =
                info.content.decode_as().map_err(Error::InvalidCms)?;
            Ok(Envelope {
                recipients: data.recip_infos,
                content: data.encrypted_content,
                mac: None,
                aad: None,
            })
        }
        ID_CT_AUTH_ENVELOPED_DATA => {
            let data: cms::authenveloped_data::AuthEnvelopedData =
                info.content.decode_as().map_err(Error::InvalidCms)?;
            let aad = match &data.auth_attrs {
                Some(attributes) => Some(attributes.to_der().map_err(Error::InvalidCms)?),
                None => None,
            };
            Ok(Envelope {
                recipients: data.recip_infos,
                content: data.auth_encrypted_content_info,
                mac: Some(data.mac),
                aad,
            })
        }
        other => Err(Error::NotEncrypted(other)),
    }
}

/// The AES-GCM tag lengths both decryption paths accept (RFC 5084 section
/// 3.2 allows 12 to 16 octets; OpenSSL, NSS and gpgsm write 16, and 12 is
/// the RFC's default).
pub(crate) fn gcm_tag_len_supported(icv_len: u8, mac_len: usize) -> bool {
    matches!((icv_len, mac_len), (12, 12) | (16, 16))
}

/// The key length of the content cipher `oid`, for the stand-in key of a
/// failed external decryption (unknown ciphers fail later anyway).
pub(crate) fn content_key_len(oid: ObjectIdentifier) -> usize {
    ContentEncryption::from_oid(oid).map_or(32, ContentEncryption::key_len)
}

/// The content-encryption key from our recipientInfo. `content_key_len` is
/// the length the content cipher expects: when an external key refuses a
/// PKCS#1 v1.5 block, a random key of that length stands in (implicit
/// rejection, as `rsa` does in memory), so the failure shows only at the
/// content layer, like every other one.
pub(crate) fn recover_content_key(
    recipients: &RecipientInfos,
    identity: &DecryptionIdentity,
    content_key_len: usize,
) -> Result<Zeroizing<Vec<u8>>, Error> {
    for recipient in recipients.0.iter() {
        match (recipient, &identity.key) {
            (
                RecipientInfo::Ktri(ktri),
                key @ (DecryptionKey::Rsa(_) | DecryptionKey::External(_)),
            ) => {
                let ours = match &ktri.rid {
                    RecipientIdentifier::IssuerAndSerialNumber(id) => {
                        identity.is_issuer_and_serial(id)
                    }
                    RecipientIdentifier::SubjectKeyIdentifier(id) => identity.is_key_identifier(id),
                };
                if !ours {
                    continue;
                }
                let transport = key_transport(&ktri.key_enc_alg)?;
                let encrypted = ktri.enc_key.as_bytes();
                return match key {
                    DecryptionKey::Rsa(key) => key.decrypt(transport, encrypted),
                    DecryptionKey::External(key) => {
                        match key.decrypt_key_transport(transport, encrypted) {
                            Ok(cek) => Ok(cek),
                            Err(KeyOperationError::Failed)
                                if transport == KeyTransport::RsaPkcs1v15 =>
                            {
                                let mut stand_in = Zeroizing::new(vec![0u8; content_key_len]);
                                getrandom::fill(&mut stand_in).map_err(|_| Error::Decryption)?;
                                Ok(stand_in)
                            }
                            Err(error) => Err(error.into_error(Error::Decryption)),
                        }
                    }
                    DecryptionKey::Ec(_) => Err(Error::NotForUs),
                };
            }
            (RecipientInfo::Kari(kari), DecryptionKey::Ec(key)) => {
                let ours = kari
                    .recipient_enc_keys
                    .iter()
                    .find(|entry| match &entry.rid {
                        KeyAgreeRecipientIdentifier::IssuerAndSerialNumber(id) => {
                            identity.is_issuer_and_serial(id)
                        }
                        KeyAgreeRecipientIdentifier::RKeyId(id) => {
                            identity.is_key_identifier(&id.subject_key_identifier)
                        }
                    });
                if let Some(entry) = ours {
                    let OriginatorIdentifierOrKey::OriginatorKey(originator) = &kari.originator
                    else {
                        // Static-static ECDH (originator by certificate) is not in S/MIME 4.0.
                        return Err(Error::Decryption);
                    };
                    return unwrap_content_key(
                        key,
                        &kari.key_enc_alg,
                        originator.public_key.raw_bytes(),
                        kari.ukm.as_ref(),
                        entry.enc_key.as_bytes(),
                    )
                    .map_err(|_| Error::Decryption);
                }
            }
            _ => {}
        }
    }
    Err(Error::NotForUs)
}

/// The key transport a KeyTransRecipientInfo names.
fn key_transport(algorithm: &AlgorithmIdentifierOwned) -> Result<KeyTransport, Error> {
    match algorithm.oid {
        RSA_ENCRYPTION => Ok(KeyTransport::RsaPkcs1v15),
        ID_RSAES_OAEP => {
            let params = match &algorithm.parameters {
                Some(any) => any
                    .decode_as::<RsaesOaepParams>()
                    .map_err(|_| Error::Decryption)?,
                None => RsaesOaepParams {
                    hash: None,
                    mask_gen: None,
                    p_source: None,
                },
            };
            let hash = params.hash.as_ref().map_or(ID_SHA_1, |h| h.oid);
            // MGF1 must use the same hash; a label (pSource) is not used by CMS.
            let mgf_hash = match &params.mask_gen {
                Some(mgf) => mgf
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as::<AlgorithmIdentifierOwned>().ok())
                    .map(|h| h.oid),
                None => Some(ID_SHA_1),
            };
            let unsupported = |parameter| Error::UnsupportedParameters {
                algorithm: crate::AlgorithmName(ID_RSAES_OAEP),
                parameter,
            };
            if params.p_source.is_some() {
                return Err(unsupported(
                    "a label (pSourceFunc) is not supported; CMS uses none (RFC 3560 section 3)",
                ));
            }
            if mgf_hash != Some(hash) {
                return Err(unsupported(
                    "MGF1 must use the same hash as OAEP itself (RFC 3560 section 3)",
                ));
            }
            match hash {
                ID_SHA_1 => Ok(KeyTransport::RsaOaepSha1),
                ID_SHA_256 => Ok(KeyTransport::RsaOaepSha256),
                other => Err(Error::UnsupportedAlgorithm(other)),
            }
        }
        other => Err(Error::UnsupportedAlgorithm(other)),
    }
}

fn decrypt_content(
    info: &EncryptedContentInfo,
    cek: &[u8],
    mac: Option<&[u8]>,
    aad: Option<&[u8]>,
) -> Result<Decrypted, Error> {
    let algorithm = &info.content_enc_alg;
    let encryption = ContentEncryption::from_oid(algorithm.oid)
        .ok_or(Error::UnsupportedAlgorithm(algorithm.oid))?;
    let key_len = encryption.key_len();
    // A wrong key length is what a failed PKCS#1 v1.5 unwrap looks like:
    // report it as every other decryption failure.
    if cek.len() != key_len || encryption.is_authenticated() != mac.is_some() {
        return Err(Error::Decryption);
    }
    let ciphertext = info
        .encrypted_content
        .as_ref()
        .map(OctetString::as_bytes)
        .ok_or(Error::DetachedEncryptedContent)?;
    let parameters = algorithm.parameters.as_ref().ok_or(Error::Decryption)?;
    let content = if let Some(mac) = mac {
        let params: GcmParameters = parameters.decode_as().map_err(|_| Error::Decryption)?;
        let mut sealed = Vec::with_capacity(ciphertext.len() + mac.len());
        sealed.extend_from_slice(ciphertext);
        sealed.extend_from_slice(mac);
        let payload = Payload {
            msg: &sealed,
            aad: aad.unwrap_or_default(),
        };
        let nonce = params.nonce.as_bytes();
        match (encryption, params.icv_len, mac.len()) {
            (ContentEncryption::Aes128Gcm, 16, 16) => gcm::<aes::Aes128, U16>(cek, nonce, payload),
            (ContentEncryption::Aes256Gcm, 16, 16) => gcm::<aes::Aes256, U16>(cek, nonce, payload),
            (ContentEncryption::Aes128Gcm, 12, 12) => gcm::<aes::Aes128, U12>(cek, nonce, payload),
            (ContentEncryption::Aes256Gcm, 12, 12) => gcm::<aes::Aes256, U12>(cek, nonce, payload),
            _ => Err(Error::Decryption),
        }?
    } else {
        let iv: OctetString = parameters.decode_as().map_err(|_| Error::Decryption)?;
        let iv = iv.as_bytes();
        match encryption {
            ContentEncryption::Aes128Cbc => cbc_decrypt::<aes::Aes128>(cek, iv, ciphertext),
            ContentEncryption::Aes192Cbc => cbc_decrypt::<aes::Aes192>(cek, iv, ciphertext),
            ContentEncryption::DesEde3Cbc => cbc_decrypt::<des::TdesEde3>(cek, iv, ciphertext),
            _ => cbc_decrypt::<aes::Aes256>(cek, iv, ciphertext),
        }?
    };
    Ok(Decrypted {
        content,
        encryption,
    })
}

fn gcm<C, Tag>(
    key: &[u8],
    nonce: &[u8],
    payload: Payload<'_, '_>,
) -> Result<Zeroizing<Vec<u8>>, Error>
where
    C: cipher::BlockCipherEncrypt + cipher::BlockSizeUser<BlockSize = U16> + KeyInit,
    Tag: aes_gcm::TagSize,
{
    let cipher =
        aes_gcm::AesGcm::<C, U12, Tag>::new_from_slice(key).map_err(|_| Error::Decryption)?;
    let nonce = aes_gcm::Nonce::<U12>::try_from(nonce).map_err(|_| Error::Decryption)?;
    // `decrypt` checks the tag before it returns any plaintext.
    cipher
        .decrypt(&nonce, payload)
        .map(Zeroizing::new)
        .map_err(|_| Error::Decryption)
}

fn cbc_decrypt<C>(key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error>
where
    C: cipher::BlockCipherDecrypt + KeyInit,
{
    let decryptor = cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| Error::Decryption)?;
    decryptor
        .decrypt_padded_vec::<Pkcs7>(ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| Error::Decryption)
}
