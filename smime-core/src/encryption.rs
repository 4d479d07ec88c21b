//! Creating CMS EnvelopedData (AES-CBC) and AuthEnvelopedData (AES-GCM,
//! RFC 5083/5084), and S/MIME encrypted messages (RFC 8551 section 3.3).
//!
//! Recipients: RSA key transport (PKCS#1 v1.5, or RSA-OAEP with SHA-256 per
//! RFC 3560/8017) and ECDH P-256/P-384 key agreement (RFC 5753,
//! ephemeral-static, implemented in `key_agreement`). Every recipient gets
//! the same fresh content-encryption key.

use std::io::{BufReader, Read, Seek, SeekFrom, Write};

use cipher::{BlockModeEncrypt, KeyIvInit};
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
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use crate::certificate::{Certificate, Curve, PublicKeyAlgorithm};
use crate::envelope::{ContentEncryption, GcmParameters, RsaesOaepParams};
use crate::error::Error;
use crate::gcm_stream::{Authenticator, GcmKey, Keystream};
use crate::key_agreement::wrap_content_key;
use crate::rsa_backend::RsaRecipientKey;
use mail_message::Entity;
use mail_message::stream::{Base64Writer, produce_on_worker, read_header_section};

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
        let prepared = self.prepare()?;
        let mut encryptor = ContentEncryptor::new(&prepared, Vec::new())?;
        encryptor.write_all(content).map_err(Error::Io)?;
        let (ciphertext, tag) = encryptor.finish().map_err(Error::Io)?;
        let encrypted_content = EncryptedContentInfo {
            content_type: ID_DATA,
            content_enc_alg: prepared.algorithm.clone(),
            encrypted_content: Some(OctetString::new(ciphertext).map_err(Error::InvalidCms)?),
        };
        let (content_type, content) = match tag {
            Some(tag) => {
                let data = AuthEnvelopedData {
                    version: CmsVersion::V0,
                    originator_info: None,
                    recip_infos: prepared.recipient_infos,
                    auth_encrypted_content_info: encrypted_content,
                    auth_attrs: None,
                    mac: OctetString::new(tag.to_vec()).map_err(Error::InvalidCms)?,
                    unauth_attrs: None,
                };
                (
                    ID_CT_AUTH_ENVELOPED_DATA,
                    Any::encode_from(&data).map_err(Error::InvalidCms)?,
                )
            }
            None => {
                let data = EnvelopedData {
                    version: prepared.version,
                    originator_info: None,
                    recip_infos: prepared.recipient_infos,
                    encrypted_content,
                    unprotected_attrs: None,
                };
                (
                    ID_ENVELOPED_DATA,
                    Any::encode_from(&data).map_err(Error::InvalidCms)?,
                )
            }
        };
        ContentInfo {
            content_type,
            content,
        }
        .to_der()
        .map_err(Error::InvalidCms)
    }

    /// A fresh content-encryption key, wrapped for every recipient, and the
    /// content algorithm with a fresh IV or nonce.
    fn prepare(&self) -> Result<Prepared, Error> {
        if self.cipher.is_obsolete() {
            return Err(Error::ObsoleteCipher(self.cipher));
        }
        let mut cek = Zeroizing::new(vec![0u8; self.cipher.key_len()]);
        getrandom::fill(&mut cek).map_err(|_| Error::Randomness)?;
        let recipient_infos = self
            .recipients
            .iter()
            .map(|certificate| self.recipient_info(certificate, &cek))
            .collect::<Result<Vec<_>, _>>()?;
        // RFC 5652 section 6.1: version 2 when a recipientInfo is not version
        // 0 (KARI is version 3), else 0.
        let version = if recipient_infos
            .iter()
            .any(|r| matches!(r, RecipientInfo::Kari(_)))
        {
            CmsVersion::V2
        } else {
            CmsVersion::V0
        };
        let mut iv = [0u8; 16];
        let parameters = if self.cipher.is_authenticated() {
            getrandom::fill(&mut iv[..12]).map_err(|_| Error::Randomness)?;
            let params = GcmParameters {
                nonce: OctetString::new(&iv[..12]).map_err(Error::InvalidCms)?,
                icv_len: 16,
            };
            Any::encode_from(&params).map_err(Error::InvalidCms)?
        } else {
            getrandom::fill(&mut iv).map_err(|_| Error::Randomness)?;
            Any::encode_from(&OctetString::new(iv.to_vec()).map_err(Error::InvalidCms)?)
                .map_err(Error::InvalidCms)?
        };
        Ok(Prepared {
            cipher: self.cipher,
            cek,
            iv,
            version,
            recipient_infos: RecipientInfos(
                SetOfVec::try_from(recipient_infos).map_err(Error::InvalidCms)?,
            ),
            algorithm: AlgorithmIdentifierOwned {
                oid: self.cipher.oid(),
                parameters: Some(parameters),
            },
        })
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
                let key = RsaRecipientKey::from_spki(&spki)
                    .ok_or_else(|| unusable(certificate, "the RSA key cannot be decoded"))?;
                let (key_enc_alg, encrypted) = match self.rsa {
                    RsaKeyTransport::Pkcs1v15 => (
                        AlgorithmIdentifierOwned {
                            oid: RSA_ENCRYPTION,
                            parameters: Some(Any::from(Null)),
                        },
                        key.encrypt(false, cek)?,
                    ),
                    RsaKeyTransport::OaepSha256 => {
                        (oaep_sha256_identifier()?, key.encrypt(true, cek)?)
                    }
                };
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
    /// `Content-*` fields is encrypted in canonical CRLF form with `binary`
    /// parts base64-encoded byte for byte
    /// ([`mail_message::Envelope::encryptable`]). RFC 8551 section 3.1.2
    /// allows binary inner entities, but a decrypted message must travel on
    /// over SMTP hops that cannot take them (few offer BINARYMIME), and an
    /// attachment must come out exactly as it went in.
    pub fn encrypt_message(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let envelope = mail_message::Envelope::split(message)?;
        let entity = envelope.encryptable()?;
        let mut out = Vec::with_capacity(entity.len() * 4 / 3 + 4096);
        self.write_encrypted(
            envelope.message(),
            &entity[..],
            entity.len() as u64,
            &mut out,
        )?;
        Ok(out)
    }

    /// [`Encryptor::encrypt_message`] from a reader to a writer, in bounded
    /// memory whatever the message size: the inner entity is first spooled
    /// to a temporary file ([`mail_message::SpooledEntity`]; a multipart
    /// with a `binary` part larger than
    /// [`mail_message::MAX_REENCODE_IN_MEMORY`] is refused with
    /// [`Error::ReencodeTooLarge`], and nothing is written), then the CMS is
    /// written as BER with indefinite lengths (as OpenSSL `-stream`, NSS and
    /// Outlook write it), the content in 64 KiB segments.
    pub fn encrypt_message_stream(
        &self,
        input: impl Read,
        output: impl Write,
    ) -> Result<(), Error> {
        let mut reader = BufReader::with_capacity(SEGMENT, input);
        let header = read_header_section(&mut reader, MAX_HEADER).map_err(Error::Io)?;
        let message = Entity::parse(&header)?;
        let entity = mail_message::SpooledEntity::encryptable(&header, reader)?.into_file();
        let length = entity.metadata().map_err(Error::Io)?.len();
        self.write_encrypted(
            &message,
            BufReader::with_capacity(SEGMENT, entity),
            length,
            output,
        )
    }

    /// [`Encryptor::encrypt_message_stream`] for input that can be read
    /// twice (a file): when the inner entity is encrypted as it stands
    /// (canonical CRLF, no `binary` part; [`mail_message::encryptable_as_is`])
    /// one pass checks that and a second encrypts straight from the input,
    /// with no temporary file; other messages take the streaming path from
    /// where `input` stood. The input must not change while it is
    /// encrypted.
    ///
    /// ```
    /// # let bob = testkit::pki().smime("bob@example.org", testkit::KeyKind::P256);
    /// use std::io::{Seek, Write};
    /// use smime_core::{Certificate, DecryptionIdentity, Encryptor, decrypt_message};
    ///
    /// let certificate = Certificate::from_der(bob.certificate_der())?;
    /// let message = b"From: alice@example.org\r\nTo: bob@example.org\r\n\r\nHello\r\n";
    /// let mut file = tempfile::tempfile()?;
    /// file.write_all(message)?;
    /// file.rewind()?;
    /// let mut encrypted = Vec::new();
    /// Encryptor::new([certificate.clone()])?.encrypt_message_seekable(&mut file, &mut encrypted)?;
    /// let identity = DecryptionIdentity::new(certificate, bob.private_key_der())?;
    /// let decrypted = decrypt_message(&encrypted, &identity)?;
    /// assert!(decrypted.message().ends_with(b"\r\n\r\nHello\r\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn encrypt_message_seekable<R: Read + Seek + Send>(
        &self,
        mut input: R,
        output: impl Write,
    ) -> Result<(), Error> {
        let start = input.stream_position().map_err(Error::Io)?;
        let mut reader = BufReader::with_capacity(SEGMENT, &mut input);
        let header = read_header_section(&mut reader, MAX_HEADER).map_err(Error::Io)?;
        let message = Entity::parse(&header)?;
        if let Some(as_is) = mail_message::encryptable_as_is(&header, reader)? {
            let body_start = start + header.len() as u64;
            input.seek(SeekFrom::Start(body_start)).map_err(Error::Io)?;
            let body = BufReader::with_capacity(SEGMENT, (&mut input).take(as_is.body_len));
            let length = as_is.header.len() as u64 + as_is.body_len;
            return self.write_encrypted(
                &message,
                as_is.header.as_slice().chain(body),
                length,
                output,
            );
        }
        input.seek(SeekFrom::Start(start)).map_err(Error::Io)?;
        self.encrypt_message_stream(input, output)
    }

    /// Writes `message`'s outer header fields and the S/MIME entity that
    /// encrypts `entity` (the prepared inner entity, `length` bytes).
    fn write_encrypted(
        &self,
        message: &Entity<'_>,
        mut entity: impl Read + Send,
        length: u64,
        mut output: impl Write,
    ) -> Result<(), Error> {
        let line_break = message.line_break();
        let smime_type = if self.cipher.is_authenticated() {
            "authEnveloped-data"
        } else {
            "enveloped-data"
        };
        let mut head = message.outer_header();
        for line in [
            format!(
                "Content-Type: application/pkcs7-mime; smime-type={smime_type}; name=\"smime.p7m\""
            ),
            "Content-Transfer-Encoding: base64".to_owned(),
            "Content-Disposition: attachment; filename=\"smime.p7m\"".to_owned(),
            String::new(),
        ] {
            head.extend_from_slice(line.as_bytes());
            head.extend_from_slice(line_break.as_bytes());
        }
        output.write_all(&head).map_err(Error::Io)?;

        let prepared = self.prepare()?;
        // Ciphertext is public: the fast encoder.
        let mut base64 = Base64Writer::for_public_data(output, line_break);
        base64
            .write_all(&ber_prefix(&prepared)?)
            .map_err(Error::Io)?;
        let tag = if length >= PARALLEL_FROM {
            // Encryption on a second core; base64 and output on this one.
            produce_on_worker(
                |segments| encrypt_content(&prepared, &mut entity, segments),
                &mut base64,
            )
            .map_err(Error::Io)??
        } else {
            encrypt_content(&prepared, &mut entity, &mut base64)?
        };
        let mut suffix = vec![0, 0, 0, 0]; // end of [0] content, of EncryptedContentInfo
        if let Some(tag) = tag {
            suffix.extend_from_slice(&[0x04, 16]);
            suffix.extend_from_slice(&tag);
        }
        suffix.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // (Auth)EnvelopedData, [0], ContentInfo
        base64.write_all(&suffix).map_err(Error::Io)?;
        base64
            .finish()
            .and_then(|mut out| out.flush())
            .map_err(Error::Io)
    }
}

/// Content from this size on is encrypted on a second core: below it a
/// thread costs more than it saves.
const PARALLEL_FROM: u64 = 1024 * 1024;

/// Encrypts what `entity` reads and writes the ciphertext to `output` as
/// BER OCTET STRING segments; returns the GCM tag.
fn encrypt_content(
    prepared: &Prepared,
    entity: &mut impl Read,
    output: &mut dyn Write,
) -> Result<Option<[u8; 16]>, Error> {
    let mut encryptor = ContentEncryptor::new(prepared, BerSegments { inner: output })?;
    std::io::copy(entity, &mut encryptor).map_err(Error::Io)?;
    let (_, tag) = encryptor.finish().map_err(Error::Io)?;
    Ok(tag)
}

/// Everything the content encryption and the CMS framing need.
struct Prepared {
    cipher: ContentEncryption,
    cek: Zeroizing<Vec<u8>>,
    /// The CBC IV, or the GCM nonce in the first 12 bytes.
    iv: [u8; 16],
    version: CmsVersion,
    recipient_infos: RecipientInfos,
    algorithm: AlgorithmIdentifierOwned,
}

/// Bytes per BER content segment and per read.
const SEGMENT: usize = 64 * 1024;
/// The longest header section we accept.
const MAX_HEADER: usize = 1024 * 1024;

/// The BER (indefinite-length) CMS up to the first content segment.
fn ber_prefix(prepared: &Prepared) -> Result<Vec<u8>, Error> {
    let der = |value: &dyn DerEncode| value.encode_der();
    let mut out = vec![0x30, 0x80];
    let content_type = if prepared.cipher.is_authenticated() {
        ID_CT_AUTH_ENVELOPED_DATA
    } else {
        ID_ENVELOPED_DATA
    };
    out.extend_from_slice(&der(&content_type)?);
    out.extend_from_slice(&[0xa0, 0x80, 0x30, 0x80]);
    let version = if prepared.cipher.is_authenticated() {
        CmsVersion::V0
    } else {
        prepared.version
    };
    out.extend_from_slice(&der(&version)?);
    out.extend_from_slice(&der(&prepared.recipient_infos)?);
    out.extend_from_slice(&[0x30, 0x80]);
    out.extend_from_slice(&der(&ID_DATA)?);
    out.extend_from_slice(&der(&prepared.algorithm)?);
    // encryptedContent: [0] IMPLICIT OCTET STRING, constructed.
    out.extend_from_slice(&[0xa0, 0x80]);
    Ok(out)
}

/// DER encoding behind a trait object (the `der` traits are not object safe).
trait DerEncode {
    fn encode_der(&self) -> Result<Vec<u8>, Error>;
}

impl<T: Encode> DerEncode for T {
    fn encode_der(&self) -> Result<Vec<u8>, Error> {
        self.to_der().map_err(Error::InvalidCms)
    }
}

/// Writes each chunk as one primitive OCTET STRING segment.
pub(crate) struct BerSegments<W: Write> {
    pub(crate) inner: W,
}

impl<W: Write> Write for BerSegments<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let mut header = vec![0x04];
        let len = buf.len();
        if len < 0x80 {
            header.push(len as u8);
        } else {
            let bytes = len.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            let significant = bytes.get(skip..).unwrap_or_default();
            header.push(0x80 | significant.len() as u8);
            header.extend_from_slice(significant);
        }
        self.inner.write_all(&header)?;
        self.inner.write_all(buf)?;
        Ok(len)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// Encrypts what is written to it and passes the ciphertext on in segments
/// of at most [`SEGMENT`] bytes; [`ContentEncryptor::finish`] pads (CBC) or
/// produces the tag (GCM).
struct ContentEncryptor<W: Write> {
    inner: W,
    mode: Mode,
    buffer: Zeroizing<Vec<u8>>,
}

enum Mode {
    Cbc128(cbc::Encryptor<aes::Aes128>),
    Cbc192(cbc::Encryptor<aes::Aes192>),
    Cbc256(cbc::Encryptor<aes::Aes256>),
    Gcm(Box<(Keystream, Authenticator)>),
}

impl<W: Write> ContentEncryptor<W> {
    fn new(prepared: &Prepared, inner: W) -> Result<Self, Error> {
        let key = prepared.cek.as_slice();
        let iv = &prepared.iv;
        let failed = |_| Error::Randomness;
        let mode = match prepared.cipher {
            ContentEncryption::Aes128Cbc => {
                Mode::Cbc128(cbc::Encryptor::new_from_slices(key, iv).map_err(failed)?)
            }
            ContentEncryption::Aes192Cbc => {
                Mode::Cbc192(cbc::Encryptor::new_from_slices(key, iv).map_err(failed)?)
            }
            ContentEncryption::Aes256Cbc => {
                Mode::Cbc256(cbc::Encryptor::new_from_slices(key, iv).map_err(failed)?)
            }
            ContentEncryption::DesEde3Cbc => return Err(Error::ObsoleteCipher(prepared.cipher)),
            ContentEncryption::Aes128Gcm | ContentEncryption::Aes256Gcm => {
                let mut nonce = [0u8; 12];
                nonce.copy_from_slice(&iv[..12]);
                let gcm = GcmKey::new(key)?;
                Mode::Gcm(Box::new((
                    gcm.keystream(&nonce)?,
                    gcm.authenticator(&nonce, &[]),
                )))
            }
        };
        Ok(ContentEncryptor {
            inner,
            mode,
            buffer: Zeroizing::new(Vec::with_capacity(SEGMENT + 16)),
        })
    }

    /// Encrypts the buffered whole blocks (all of them for GCM) and passes
    /// them on; CBC keeps a partial block back.
    fn drain(&mut self, everything: bool) -> std::io::Result<()> {
        let ready = match self.mode {
            Mode::Gcm(..) => self.buffer.len(),
            _ if everything => self.buffer.len(),
            _ => self.buffer.len() - self.buffer.len() % 16,
        };
        if ready == 0 {
            return Ok(());
        }
        let chunk = self.buffer.get_mut(..ready).unwrap_or_default();
        match &mut self.mode {
            Mode::Cbc128(cbc) => encrypt_blocks(cbc, chunk),
            Mode::Cbc192(cbc) => encrypt_blocks(cbc, chunk),
            Mode::Cbc256(cbc) => encrypt_blocks(cbc, chunk),
            Mode::Gcm(gcm) => {
                let (keystream, authenticator) = &mut **gcm;
                keystream.apply(chunk);
                authenticator.update(chunk);
            }
        }
        self.inner.write_all(chunk)?;
        self.buffer.drain(..ready);
        Ok(())
    }

    /// Pads (CBC) or computes the tag (GCM); returns the inner writer and
    /// the tag.
    fn finish(mut self) -> std::io::Result<(W, Option<[u8; 16]>)> {
        if !matches!(self.mode, Mode::Gcm(..)) {
            // PKCS#7 padding: 1 to 16 bytes, each the padding length.
            let pad = 16 - self.buffer.len() % 16;
            self.buffer.extend(std::iter::repeat_n(pad as u8, pad));
        }
        self.drain(true)?;
        let tag = match self.mode {
            Mode::Gcm(gcm) => Some(gcm.1.tag()),
            _ => None,
        };
        Ok((self.inner, tag))
    }
}

fn encrypt_blocks<C: cipher::BlockCipherEncrypt>(cbc: &mut cbc::Encryptor<C>, data: &mut [u8]) {
    let (blocks, _) = cipher::Block::<cbc::Encryptor<C>>::slice_as_chunks_mut(data);
    cbc.encrypt_blocks(blocks);
}

impl<W: Write> Write for ContentEncryptor<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        if self.buffer.len() >= SEGMENT {
            self.drain(false)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
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
