//! Decrypting PGP/MIME `multipart/encrypted`
//! ([RFC 3156 section 4](https://www.rfc-editor.org/rfc/rfc3156#section-4))
//! and inline `-----BEGIN PGP MESSAGE-----` blocks, and verifying the
//! signatures inside (section 6.1 and 6.2).
//!
//! No plaintext leaves this module before the integrity check of the
//! encrypted data (the MDC of SEIPD v1, the AEAD tags of SEIPD v2) has
//! passed: the plaintext is collected in a buffer that is wiped and dropped
//! when the check fails.

use std::io::Read;

use mail_message::{Entity, Envelope};
use sequoia_openpgp::Packet;
use sequoia_openpgp::crypto::{Password, SessionKey};
use sequoia_openpgp::packet::{PKESK, SKESK};
use sequoia_openpgp::parse::stream::{
    DecryptionHelper, DecryptorBuilder, MessageStructure, VerificationHelper,
};
use sequoia_openpgp::parse::{PacketParser, Parse};
use sequoia_openpgp::types::{AEADAlgorithm, SymmetricAlgorithm};
use sequoia_openpgp::{Cert, KeyHandle};
use zeroize::Zeroizing;

use crate::constant_time_rsa::SecretKeyBackend;
use crate::error::Error;
use crate::framing::{Framed, FramingReport};
use crate::guard;
use crate::keys;
use crate::pgp_mime::{self, Found, STREAM_BUFFER};
use crate::verification::{Coverage, Recorder, Signature, Verification, Verifier};

/// Decrypts messages with the caller's secret keys.
///
/// ```
/// # let bob = testkit::openpgp_key("Bob <bob@example.net>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
/// # let encrypted = pgp_core::Encryptor::new([bob.cert().clone()]).encrypt_message(b"From: a@example.org\r\n\r\nhi\r\n")?;
/// use pgp_core::{Coverage, Decryptor, Verdict, parse_certificates};
///
/// let decryptor = Decryptor::new(parse_certificates(&bob.secret_armored())?);
/// let decrypted = decryptor.decrypt_message(&encrypted)?;
/// assert_eq!(decrypted.message(), b"From: a@example.org\r\nMIME-Version: 1.0\r\n\r\nhi\r\n");
/// assert_eq!(decrypted.coverage(), &Coverage::Whole);
/// assert_eq!(decrypted.verification().verdict(), Verdict::Unsigned);
/// # Ok::<(), pgp_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Decryptor {
    keys: Vec<Cert>,
    passphrase: Option<Password>,
    pub(crate) verifier: Verifier,
    pub(crate) max_plaintext: u64,
    pub(crate) max_in_memory: u64,
}

/// The default limit on decrypted (and decompressed) data: a small
/// compressed message must not expand without end. The streaming path
/// ([`Decryptor::decrypt_message_spooled`]) holds this much on disk, not
/// in memory.
pub const DEFAULT_MAX_PLAINTEXT: u64 = 512 * 1024 * 1024;

/// The default limit on what decryption holds in memory: the plaintext of
/// [`Decryptor::decrypt_message`], and the whole message when
/// [`Decryptor::decrypt_message_spooled`] meets a structure it cannot
/// stream (an inline block, an encrypted part inside other parts).
/// Decompressed bytes are counted as they are read, so a compression bomb
/// stops here, not at [`DEFAULT_MAX_PLAINTEXT`].
pub const DEFAULT_MAX_IN_MEMORY: u64 = 16 * 1024 * 1024;

/// The most compressed packets nested in one another that a message may
/// have. Every implementation writes one compression layer (`gpg`
/// compresses once, under the encryption and any signature); the second
/// is slack for a signed-and-compressed message compressed again by an
/// encrypting tool. Each further layer only multiplies a decompression
/// bomb's work, so a deeper message is refused before it is decompressed.
pub const MAX_COMPRESSION_LAYERS: usize = 2;

impl Decryptor {
    /// A decryptor with `keys` (certificates with secret key material).
    pub fn new(keys: impl IntoIterator<Item = Cert>) -> Decryptor {
        Decryptor {
            keys: keys.into_iter().collect(),
            passphrase: None,
            verifier: Verifier::new([]),
            max_plaintext: DEFAULT_MAX_PLAINTEXT,
            max_in_memory: DEFAULT_MAX_IN_MEMORY,
        }
    }

    /// Refuses messages whose plaintext exceeds `bytes` (default
    /// [`DEFAULT_MAX_PLAINTEXT`]), so that a compression bomb cannot
    /// exhaust memory.
    pub fn with_max_plaintext(mut self, bytes: u64) -> Decryptor {
        self.max_plaintext = bytes;
        self
    }

    /// Holds at most `bytes` of plaintext (or, for structures that cannot
    /// stream, of the message) in memory (default
    /// [`DEFAULT_MAX_IN_MEMORY`]); beyond it decryption stops with
    /// [`Error::InMemoryLimit`] while reading, before the bytes are held.
    pub fn with_max_in_memory(mut self, bytes: u64) -> Decryptor {
        self.max_in_memory = bytes;
        self
    }

    /// Unlocks passphrase-protected secret keys with `passphrase`.
    pub fn with_passphrase(mut self, passphrase: Password) -> Decryptor {
        self.passphrase = Some(passphrase);
        self
    }

    /// Checks signatures inside the encrypted message with `verifier`
    /// (its certificates and time). Without one, every signature is
    /// reported as [`crate::SignatureStatus::CertificateNotFound`].
    pub fn with_verifier(mut self, verifier: Verifier) -> Decryptor {
        self.verifier = verifier;
        self
    }

    /// Decrypts an OpenPGP message (armored or binary), returning the
    /// literal data and the signatures found inside.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<(Vec<u8>, Vec<Signature>), Error> {
        let (plaintext, signatures, _) = self.decrypt_with_details(ciphertext)?;
        Ok((plaintext, signatures))
    }

    fn decrypt_with_details(
        &self,
        ciphertext: &[u8],
    ) -> Result<(Vec<u8>, Vec<Signature>, Protection), Error> {
        let mut helper = Helper::new(self);
        let mut plaintext = Zeroizing::new(Vec::new());
        let (binary, framing) = Framed::new(crate::armor::dearmor(ciphertext)?);
        // Counted while reading: no more than one byte past the limit is
        // ever decompressed into the buffer.
        let limit = self.max_plaintext.min(self.max_in_memory);
        let outcome = guard::sequoia(|| {
            DecryptorBuilder::from_reader(binary)
                // Sequoia reads ahead (and decompresses) its whole buffer
                // before releasing a byte: 25 MiB by default, which would
                // defeat the limit below.
                .map(|b| b.buffer_size(STREAM_BUFFER))
                .and_then(|b| {
                    b.with_policy(self.verifier.policy(), self.verifier.time(), &mut helper)
                })
                .and_then(|d| {
                    Ok(d.take(limit.saturating_add(1))
                        .read_to_end(&mut plaintext)?)
                })
        })
        .map_err(|reason| Error::Decryption { reason })?;
        check_outcome(outcome.map(|n| n as u64), &framing, &mut helper)?;
        if plaintext.len() as u64 > limit {
            return Err(if limit < self.max_plaintext {
                Error::InMemoryLimit { limit }
            } else {
                Error::TooLarge { limit }
            });
        }
        let protection = helper.protection();
        Ok((
            std::mem::take(&mut *plaintext),
            helper.recorder.results,
            protection,
        ))
    }

    /// Decrypts a message: PGP/MIME `multipart/encrypted`, or an inline
    /// encrypted block in a `text/plain` part. The result is the message
    /// with the outer header fields and the decrypted entity, and the
    /// verification of any signature inside (combined, RFC 3156 section
    /// 6.2, or a signed entity inside, section 6.1).
    pub fn decrypt_message(&self, message: &[u8]) -> Result<Decrypted, Error> {
        let entity = Entity::parse(message)?;
        let Some((path, found)) = pgp_mime::find(&entity, 0, "", true)? else {
            return Err(Error::UnexpectedContent {
                expected: "PGP/MIME multipart/encrypted or an inline PGP MESSAGE block",
                found: entity.content_type()?.mime_type().to_owned(),
            });
        };
        let envelope = Envelope::split(message)?;
        let (inner, signatures, coverage, protection) = match found {
            Found::Encrypted { payload } => {
                let (plaintext, signatures, protection) = self.decrypt_with_details(&payload)?;
                let coverage = nested(
                    &path,
                    "the encrypted part is inside an unencrypted MIME structure",
                );
                // A peer's `binary` parts become base64 (byte for byte)
                // before line breaks are made canonical.
                (
                    mail_message::canonicalize(&mail_message::without_binary_parts(&plaintext)),
                    signatures,
                    coverage,
                    protection,
                )
            }
            Found::Inline { text, block } => {
                let (plaintext, signatures, protection) =
                    self.decrypt_with_details(block.bytes(&text))?;
                let coverage = if block.has_text_outside(&text) {
                    Coverage::Partial {
                        part: if path.is_empty() {
                            "1".to_owned()
                        } else {
                            path
                        },
                        reason: "text outside the encrypted block".to_owned(),
                    }
                } else {
                    nested(
                        &path,
                        "the encrypted text is inside an unencrypted MIME structure",
                    )
                };
                let mut body = block.before(&text).to_vec();
                body.extend_from_slice(&plaintext);
                body.extend_from_slice(block.after(&text));
                let mut inner = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".to_vec();
                inner.extend_from_slice(&mail_message::canonicalize(&body));
                (inner, signatures, coverage, protection)
            }
            Found::Signed { .. } => {
                return Err(Error::UnexpectedContent {
                    expected: "an encrypted message",
                    found: "a signed message".to_owned(),
                });
            }
        };
        let decrypted = envelope.rebuild(&inner);
        let verification = if signatures.is_empty() {
            // Sign-then-encrypt (section 6.1): the decrypted entity may be a
            // signed one; or a signed inline block inside.
            self.verifier.verify_message(&decrypted)?
        } else {
            // Signed inside the encrypted data (section 6.2): the signature
            // covers exactly what the encryption covers.
            Verification::new(coverage.clone(), signatures, &entity, None, &self.verifier)
        };
        Ok(Decrypted {
            message: decrypted,
            coverage,
            verification,
            protection,
        })
    }
}

/// Turns the outcome of reading a Sequoia decryptor into the error that
/// says what went wrong: a key that could not be unlocked, no key for
/// the message, or data that failed its integrity check.
pub(crate) fn check_outcome(
    outcome: sequoia_openpgp::Result<u64>,
    framing: &FramingReport,
    helper: &mut Helper<'_>,
) -> Result<u64, Error> {
    // Junk between packets fails whatever Sequoia made of the error the
    // reader gave it.
    if let Some(junk) = framing.junk() {
        return Err(Error::Decryption {
            reason: junk.to_string(),
        });
    }
    let error = match outcome {
        Ok(read) => return Ok(read),
        Err(error) => error,
    };
    if let Some(refused) = helper.refused.take() {
        return Err(refused);
    }
    if let Some(unlock) = helper.unlock_error.take() {
        return Err(unlock);
    }
    let missing = matches!(
        error.downcast_ref::<sequoia_openpgp::Error>(),
        Some(sequoia_openpgp::Error::MissingSessionKey(_))
    );
    Err(if missing && !helper.session_key_found {
        Error::NoDecryptionKey
    } else if missing {
        // A key opened the session key, but the encrypted data did
        // not check out (an AEAD tag or the quick check failed).
        Error::Decryption {
            reason: "the encrypted data fails its integrity check".to_owned(),
        }
    } else {
        Error::Decryption {
            reason: format!("{error:#}"),
        }
    })
}

fn nested(path: &str, reason: &str) -> Coverage {
    if path.is_empty() {
        Coverage::Whole
    } else {
        Coverage::Partial {
            part: path.to_owned(),
            reason: reason.to_owned(),
        }
    }
}

/// A decrypted message.
#[derive(Debug, Clone)]
pub struct Decrypted {
    message: Vec<u8>,
    coverage: Coverage,
    verification: Verification,
    protection: Protection,
}

/// How a message was protected: for the audit record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Protection {
    /// The fingerprint (hex) of the certificate whose key decrypted it.
    pub recipient: Option<String>,
    /// The symmetric cipher.
    pub cipher: Option<SymmetricAlgorithm>,
    /// The AEAD mode (SEIPD v2), or `None` for SEIPD v1 with MDC.
    pub aead: Option<AEADAlgorithm>,
    /// The code that performed the secret-key operation: RSA keys go
    /// through [`SecretKeyBackend::ConstantTimeRsa`] (feature
    /// `constant-time-rsa`, on by default).
    pub secret_key_backend: Option<SecretKeyBackend>,
}

impl Decrypted {
    /// The message: the outer header fields and the decrypted entity.
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// How much of the message was encrypted: [`Coverage::Whole`], or
    /// partial when the encrypted part sat inside unencrypted content.
    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }

    /// The signatures inside: combined in the OpenPGP message, or a signed
    /// entity inside the encrypted one; [`crate::Verdict::Unsigned`] when
    /// there are none.
    pub fn verification(&self) -> &Verification {
        &self.verification
    }

    /// Which key decrypted it, with which cipher and integrity protection.
    pub fn protection(&self) -> &Protection {
        &self.protection
    }
}

pub(crate) struct Helper<'a> {
    pub(crate) recorder: Recorder<'a>,
    keys: &'a [Cert],
    passphrase: Option<&'a Password>,
    unlock_error: Option<Error>,
    /// Whether a secret key recovered a session key (so a failure after
    /// that is corrupt data, not a missing key).
    session_key_found: bool,
    /// The certificate whose key opened the session key.
    recipient: Option<String>,
    /// The code that opened the session key.
    backend: Option<SecretKeyBackend>,
    /// The recursion depths of the compressed packets that enclose the
    /// packet being parsed.
    compression: Vec<isize>,
    /// Why the message was refused while it was parsed.
    refused: Option<Error>,
}

impl<'a> Helper<'a> {
    pub(crate) fn new(decryptor: &'a Decryptor) -> Helper<'a> {
        Helper {
            recorder: Recorder::new(decryptor.verifier.certificates()),
            keys: &decryptor.keys,
            passphrase: decryptor.passphrase.as_ref(),
            unlock_error: None,
            session_key_found: false,
            recipient: None,
            backend: None,
            compression: Vec::new(),
            refused: None,
        }
    }

    /// How the message was protected, once it has been read.
    pub(crate) fn protection(&mut self) -> Protection {
        Protection {
            recipient: self.recipient.take(),
            cipher: self.recorder.encryption.map(|(s, _)| s),
            aead: self.recorder.encryption.and_then(|(_, a)| a),
            secret_key_backend: self.backend.take(),
        }
    }
}

impl VerificationHelper for &mut Helper<'_> {
    fn get_certs(&mut self, ids: &[KeyHandle]) -> sequoia_openpgp::Result<Vec<Cert>> {
        (&mut self.recorder).get_certs(ids)
    }

    fn check(&mut self, structure: MessageStructure<'_>) -> sequoia_openpgp::Result<()> {
        (&mut self.recorder).check(structure)
    }

    /// Sees every packet before Sequoia descends into it: a compressed
    /// packet inside [`MAX_COMPRESSION_LAYERS`] others is refused before a
    /// byte of it is decompressed.
    fn inspect(&mut self, pp: &PacketParser<'_>) -> sequoia_openpgp::Result<()> {
        let depth = pp.recursion_depth();
        // Packets at this depth or deeper are no longer open containers.
        while self.compression.last().is_some_and(|&open| open >= depth) {
            self.compression.pop();
        }
        if let Packet::CompressedData(_) = pp.packet {
            self.compression.push(depth);
            if self.compression.len() > MAX_COMPRESSION_LAYERS {
                let error = Error::NestedCompression {
                    limit: MAX_COMPRESSION_LAYERS,
                };
                let message = error.to_string();
                self.refused = Some(error);
                return Err(sequoia_openpgp::Error::MalformedMessage(message).into());
            }
        }
        Ok(())
    }
}

impl DecryptionHelper for &mut Helper<'_> {
    fn decrypt(
        &mut self,
        pkesks: &[PKESK],
        _skesks: &[SKESK],
        sym_algo: Option<SymmetricAlgorithm>,
        decrypt: &mut dyn FnMut(Option<SymmetricAlgorithm>, &SessionKey) -> bool,
    ) -> sequoia_openpgp::Result<Option<Cert>> {
        for pkesk in pkesks {
            let recipient = pkesk.recipient();
            for cert in self.keys {
                // Not filtered by policy or time: old mail stays readable
                // with expired keys.
                for ka in cert.keys().secret() {
                    if let Some(recipient) = &recipient
                        && !recipient.aliases(ka.key().key_handle())
                    {
                        continue;
                    }
                    let (mut pair, backend) = match keys::decryptor(
                        ka.key().clone().role_into_unspecified(),
                        self.passphrase,
                    ) {
                        Ok(decryptor) => decryptor,
                        Err(error) => {
                            self.unlock_error.get_or_insert(error);
                            continue;
                        }
                    };
                    let Some((algo, key)) = pkesk.decrypt(&mut pair, sym_algo) else {
                        continue;
                    };
                    self.session_key_found = true;
                    if decrypt(algo, &key) {
                        self.unlock_error = None;
                        self.recipient = Some(cert.fingerprint().to_hex());
                        self.backend = Some(backend);
                        return Ok(Some(cert.clone()));
                    }
                }
            }
        }
        Ok(None)
    }
}
