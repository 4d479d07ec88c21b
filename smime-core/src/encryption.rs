//! Creating CMS EnvelopedData (AES-CBC) and AuthEnvelopedData (AES-GCM,
//! RFC 5083/5084), and S/MIME encrypted messages (RFC 8551 section 3.3).
//!
//! Recipients: RSA key transport (PKCS#1 v1.5, or RSA-OAEP with SHA-256 per
//! RFC 3560/8017) and ECDH P-256/P-384 key agreement (RFC 5753,
//! ephemeral-static, implemented in `key_agreement`). Every recipient gets
//! the same fresh content-encryption key.

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{AeadInOut, KeyInit};
use cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use cms::authenveloped_data::AuthEnvelopedData;
use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyAgreeRecipientIdentifier, KeyAgreeRecipientInfo,
    KeyTransRecipientInfo, OriginatorIdentifierOrKey, OriginatorPublicKey, RecipientEncryptedKey,
    RecipientIdentifier, RecipientInfo, RecipientInfos,
};
use const_oid::db::rfc5911::{ID_CT_AUTH_ENVELOPED_DATA, ID_DATA, ID_ENVELOPED_DATA};
use const_oid::db::rfc5912::{
    ID_EC_PUBLIC_KEY, ID_MGF_1, ID_RSAES_OAEP, ID_SHA_256, RSA_ENCRYPTION,
};
use der::asn1::{BitString, Null, OctetString, SetOfVec};
use der::{Any, Encode};
use pkcs8::DecodePublicKey;
use rsa::traits::PaddingScheme;
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use crate::certificate::{Certificate, Curve, PublicKeyAlgorithm};
use crate::envelope::{ContentEncryption, GcmParameters, RsaesOaepParams};
use crate::error::Error;
use crate::key_agreement::wrap_content_key;
use mail_message::{self as mime, Envelope};

/// How RSA recipients get the content-encryption key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RsaKeyTransport {
    /// RSAES-PKCS1-v1_5: what every client decrypts.
    #[default]
    Pkcs1v15,
    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256 (RFC 8551 recommends it;
    /// immune to the padding-oracle family of attacks).
    OaepSha256,
}

/// Encrypts messages to a set of recipients.
///
/// ```
/// # let bob = testkit::pki().smime("bob@example.org", testkit::KeyKind::P256);
/// use smime_core::{Certificate, ContentEncryption, DecryptionIdentity, Encryptor, PrivateKey, decrypt_message};
///
/// let certificate = Certificate::from_der(bob.certificate_der())?;
/// let encryptor = Encryptor::new([certificate.clone()])?.with_cipher(ContentEncryption::Aes128Gcm);
/// let message = b"From: alice@example.org\r\nTo: bob@example.org\r\nContent-Type: text/plain\r\n\r\nSecret\r\n";
/// let encrypted = encryptor.encrypt_message(message)?;
///
/// let identity = DecryptionIdentity::new(certificate, bob.private_key_der())?;
/// let decrypted = decrypt_message(&encrypted, &identity)?;
/// assert!(decrypted.message().ends_with(b"Content-Type: text/plain\r\n\r\nSecret\r\n"));
/// # Ok::<(), smime_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Encryptor {
    recipients: Vec<Certificate>,
    cipher: ContentEncryption,
    rsa: RsaKeyTransport,
}

impl Encryptor {
    /// An encryptor for `recipients` (include the sender's own certificate to
    /// keep sent mail readable). The cipher is negotiated as
    /// [`ContentEncryption::negotiate`] does without capability knowledge:
    /// AES-256-GCM.
    ///
    /// Refuses an empty list and certificates whose key cannot receive mail:
    /// RSA under 2048 bits, curves other than P-256 and P-384, or a keyUsage
    /// without keyEncipherment (RSA) or keyAgreement (EC).
    pub fn new(recipients: impl IntoIterator<Item = Certificate>) -> Result<Encryptor, Error> {
        let recipients: Vec<Certificate> = recipients.into_iter().collect();
        if recipients.is_empty() {
            return Err(Error::NoRecipients);
        }
        for certificate in &recipients {
            check_recipient(certificate)?;
        }
        Ok(Encryptor {
            recipients,
            cipher: ContentEncryption::negotiate(&[None]),
            rsa: RsaKeyTransport::default(),
        })
    }

    /// The content cipher.
    pub fn with_cipher(mut self, cipher: ContentEncryption) -> Encryptor {
        self.cipher = cipher;
        self
    }

    /// The key transport for RSA recipients.
    pub fn with_rsa_key_transport(mut self, transport: RsaKeyTransport) -> Encryptor {
        self.rsa = transport;
        self
    }

    /// The content cipher in use.
    pub fn cipher(&self) -> ContentEncryption {
        self.cipher
    }

    /// CMS (DER): AuthEnvelopedData for GCM, EnvelopedData for CBC.
    pub fn encrypt_cms(&self, content: &[u8]) -> Result<Vec<u8>, Error> {
        let mut cek = Zeroizing::new(vec![0u8; self.cipher.key_len()]);
        getrandom::fill(&mut cek).map_err(|_| Error::Randomness)?;
        let recipient_infos = self
            .recipients
            .iter()
            .map(|certificate| self.recipient_info(certificate, &cek))
            .collect::<Result<Vec<_>, _>>()?;
        let any_kari = recipient_infos
            .iter()
            .any(|r| matches!(r, RecipientInfo::Kari(_)));
        let recip_infos =
            RecipientInfos(SetOfVec::try_from(recipient_infos).map_err(Error::InvalidCms)?);
        let (content_type, content) = if self.cipher.is_authenticated() {
            let mut nonce = [0u8; 12];
            getrandom::fill(&mut nonce).map_err(|_| Error::Randomness)?;
            let (ciphertext, tag) = gcm_encrypt(self.cipher, &cek, &nonce, content)?;
            let params = GcmParameters {
                nonce: OctetString::new(nonce.to_vec()).map_err(Error::InvalidCms)?,
                icv_len: 16,
            };
            let data = AuthEnvelopedData {
                version: CmsVersion::V0,
                originator_info: None,
                recip_infos,
                auth_encrypted_content_info: EncryptedContentInfo {
                    content_type: ID_DATA,
                    content_enc_alg: AlgorithmIdentifierOwned {
                        oid: self.cipher.oid(),
                        parameters: Some(Any::encode_from(&params).map_err(Error::InvalidCms)?),
                    },
                    encrypted_content: Some(
                        OctetString::new(ciphertext).map_err(Error::InvalidCms)?,
                    ),
                },
                auth_attrs: None,
                mac: OctetString::new(tag).map_err(Error::InvalidCms)?,
                unauth_attrs: None,
            };
            (
                ID_CT_AUTH_ENVELOPED_DATA,
                Any::encode_from(&data).map_err(Error::InvalidCms)?,
            )
        } else {
            let mut iv = [0u8; 16];
            getrandom::fill(&mut iv).map_err(|_| Error::Randomness)?;
            let ciphertext = cbc_encrypt(self.cipher, &cek, &iv, content)?;
            let data = EnvelopedData {
                // RFC 5652 section 6.1: version 2 when a recipientInfo is not
                // version 0 (KARI is version 3), else 0.
                version: if any_kari {
                    CmsVersion::V2
                } else {
                    CmsVersion::V0
                },
                originator_info: None,
                recip_infos,
                encrypted_content: EncryptedContentInfo {
                    content_type: ID_DATA,
                    content_enc_alg: AlgorithmIdentifierOwned {
                        oid: self.cipher.oid(),
                        parameters: Some(
                            Any::encode_from(
                                &OctetString::new(iv.to_vec()).map_err(Error::InvalidCms)?,
                            )
                            .map_err(Error::InvalidCms)?,
                        ),
                    },
                    encrypted_content: Some(
                        OctetString::new(ciphertext).map_err(Error::InvalidCms)?,
                    ),
                },
                unprotected_attrs: None,
            };
            (
                ID_ENVELOPED_DATA,
                Any::encode_from(&data).map_err(Error::InvalidCms)?,
            )
        };
        ContentInfo {
            content_type,
            content,
        }
        .to_der()
        .map_err(Error::InvalidCms)
    }

    fn recipient_info(
        &self,
        certificate: &Certificate,
        cek: &[u8],
    ) -> Result<RecipientInfo, Error> {
        let tbs = certificate.x509().tbs_certificate();
        let issuer_and_serial = IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        };
        match certificate.public_key_algorithm() {
            PublicKeyAlgorithm::Rsa { .. } => {
                let spki = tbs
                    .subject_public_key_info()
                    .to_der()
                    .map_err(Error::InvalidCms)?;
                let key = rsa::RsaPublicKey::from_public_key_der(&spki)
                    .map_err(|_| unusable(certificate, "the RSA key cannot be decoded"))?;
                let mut rng = getrandom::SysRng;
                let (key_enc_alg, encrypted) = match self.rsa {
                    RsaKeyTransport::Pkcs1v15 => (
                        AlgorithmIdentifierOwned {
                            oid: RSA_ENCRYPTION,
                            parameters: Some(Any::from(Null)),
                        },
                        rsa::Pkcs1v15Encrypt.encrypt(&mut rng, &key, cek),
                    ),
                    RsaKeyTransport::OaepSha256 => (
                        oaep_sha256_identifier()?,
                        rsa::Oaep::<sha2::Sha256>::new().encrypt(&mut rng, &key, cek),
                    ),
                };
                let encrypted = encrypted.map_err(|_| Error::Randomness)?;
                Ok(RecipientInfo::Ktri(KeyTransRecipientInfo {
                    version: CmsVersion::V0,
                    rid: RecipientIdentifier::IssuerAndSerialNumber(issuer_and_serial),
                    key_enc_alg,
                    enc_key: OctetString::new(encrypted).map_err(Error::InvalidCms)?,
                }))
            }
            PublicKeyAlgorithm::Ec { curve } => {
                let point = tbs.subject_public_key_info().subject_public_key.raw_bytes();
                let wrapped = wrap_content_key(*curve, point, cek)
                    .map_err(|error| unusable(certificate, &error.to_string()))?;
                Ok(RecipientInfo::Kari(KeyAgreeRecipientInfo {
                    version: CmsVersion::V3,
                    originator: OriginatorIdentifierOrKey::OriginatorKey(OriginatorPublicKey {
                        // RFC 5753 section 3.1.1: id-ecPublicKey, parameters
                        // absent (the curve is the recipient's).
                        algorithm: AlgorithmIdentifierOwned {
                            oid: ID_EC_PUBLIC_KEY,
                            parameters: None,
                        },
                        public_key: BitString::from_bytes(&wrapped.originator_point)
                            .map_err(Error::InvalidCms)?,
                    }),
                    ukm: None,
                    key_enc_alg: wrapped.key_encryption_algorithm,
                    recipient_enc_keys: vec![RecipientEncryptedKey {
                        rid: KeyAgreeRecipientIdentifier::IssuerAndSerialNumber(issuer_and_serial),
                        enc_key: OctetString::new(wrapped.encrypted_key)
                            .map_err(Error::InvalidCms)?,
                    }],
                }))
            }
            _ => Err(unusable(
                certificate,
                "the key is neither RSA nor P-256/P-384",
            )),
        }
    }

    /// Encrypts a whole RFC 5322 message: the outer header fields stay
    /// readable (they are needed for delivery), the body entity with its
    /// `Content-*` fields is encrypted.
    pub fn encrypt_message(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let envelope = Envelope::split(message)?;
        let cms = self.encrypt_cms(envelope.inner())?;
        let smime_type = if self.cipher.is_authenticated() {
            "authEnveloped-data"
        } else {
            "enveloped-data"
        };
        let mut entity = format!(
            "Content-Type: application/pkcs7-mime; smime-type={smime_type}; name=\"smime.p7m\"\r\n\
             Content-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=\"smime.p7m\"\r\n\r\n"
        )
        .into_bytes();
        entity.extend_from_slice(&mime::encode_base64(&cms, mime::LineBreak::Crlf));
        Ok(envelope.rebuild(&entity))
    }
}

fn unusable(certificate: &Certificate, reason: &str) -> Error {
    Error::UnusableRecipient {
        subject: certificate.subject(),
        reason: reason.to_owned(),
    }
}

fn check_recipient(certificate: &Certificate) -> Result<(), Error> {
    let usage = certificate.key_usage();
    match certificate.public_key_algorithm() {
        PublicKeyAlgorithm::Rsa { bits } if *bits < 2048 => Err(unusable(
            certificate,
            &format!("RSA key of {bits} bits (at least 2048 required)"),
        )),
        PublicKeyAlgorithm::Rsa { .. } => match usage {
            Some(usage) if !usage.key_encipherment() => {
                Err(unusable(certificate, "keyUsage lacks keyEncipherment"))
            }
            _ => Ok(()),
        },
        PublicKeyAlgorithm::Ec {
            curve: Curve::P256 | Curve::P384,
        } => match usage {
            Some(usage) if !usage.key_agreement() => {
                Err(unusable(certificate, "keyUsage lacks keyAgreement"))
            }
            _ => Ok(()),
        },
        _ => Err(unusable(
            certificate,
            "the key is neither RSA nor P-256/P-384",
        )),
    }
}

fn oaep_sha256_identifier() -> Result<AlgorithmIdentifierOwned, Error> {
    let sha256 = AlgorithmIdentifierOwned {
        oid: ID_SHA_256,
        parameters: None,
    };
    let params = RsaesOaepParams {
        hash: Some(sha256.clone()),
        mask_gen: Some(AlgorithmIdentifierOwned {
            oid: ID_MGF_1,
            parameters: Some(Any::encode_from(&sha256).map_err(Error::InvalidCms)?),
        }),
        p_source: None,
    };
    Ok(AlgorithmIdentifierOwned {
        oid: ID_RSAES_OAEP,
        parameters: Some(Any::encode_from(&params).map_err(Error::InvalidCms)?),
    })
}

fn cbc_encrypt(
    cipher: ContentEncryption,
    key: &[u8],
    iv: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>, Error> {
    fn run<C>(key: &[u8], iv: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, Error>
    where
        C: cipher::BlockCipherEncrypt + KeyInit,
    {
        let encryptor =
            cbc::Encryptor::<C>::new_from_slices(key, iv).map_err(|_| Error::Randomness)?;
        Ok(encryptor.encrypt_padded_vec::<Pkcs7>(plaintext))
    }
    match cipher {
        ContentEncryption::Aes128Cbc => run::<aes::Aes128>(key, iv, plaintext),
        ContentEncryption::Aes192Cbc => run::<aes::Aes192>(key, iv, plaintext),
        _ => run::<aes::Aes256>(key, iv, plaintext),
    }
}

/// AES-GCM with a 12-byte nonce and a 16-byte tag; returns ciphertext and tag.
fn gcm_encrypt(
    cipher: ContentEncryption,
    key: &[u8],
    nonce: &[u8; 12],
    plaintext: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), Error> {
    let mut buffer = plaintext.to_vec();
    let nonce = aes_gcm::aead::Nonce::<aes_gcm::AesGcm<aes::Aes128, U12>>::from(*nonce);
    let tag = match cipher {
        ContentEncryption::Aes128Gcm => aes_gcm::Aes128Gcm::new_from_slice(key)
            .map_err(|_| Error::Randomness)?
            .encrypt_inout_detached(&nonce, &[], buffer.as_mut_slice().into())
            .map(|tag| tag.to_vec()),
        _ => aes_gcm::Aes256Gcm::new_from_slice(key)
            .map_err(|_| Error::Randomness)?
            .encrypt_inout_detached(&nonce, &[], buffer.as_mut_slice().into())
            .map(|tag| tag.to_vec()),
    }
    .map_err(|_| Error::Randomness)?;
    Ok((buffer, tag))
}
