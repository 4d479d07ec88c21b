//! Encrypting: PGP/MIME `multipart/encrypted`
//! ([RFC 3156 section 4](https://www.rfc-editor.org/rfc/rfc3156#section-4))
//! and armored OpenPGP messages for inline use.
//!
//! With a [`Signer`], the signature goes inside the same OpenPGP message
//! (RFC 3156 section 6.2, what GnuPG and Thunderbird do). For
//! sign-then-encrypt (section 6.1), encrypt the output of
//! [`Signer::sign_message`]: the encrypted entity is then the
//! `multipart/signed` one.

use std::io::{BufReader, Read, Write};
use std::time::SystemTime;

use mail_message::stream::{CanonicalWriter, LineBreakWriter, read_header_section};
use mail_message::{Entity, Envelope, SpooledEntity};
use sequoia_openpgp::cert::Preferences;
use sequoia_openpgp::cert::amalgamation::ValidAmalgamation;
use sequoia_openpgp::cert::amalgamation::key::ValidErasedKeyAmalgamation;
use sequoia_openpgp::packet::key::PublicParts;
use sequoia_openpgp::policy::StandardPolicy;
use sequoia_openpgp::serialize::stream::{
    self, Encryptor as OpenPgpEncryptor, LiteralWriter, Message, Recipient,
};
use sequoia_openpgp::types::Features;
use sequoia_openpgp::{Cert, KeyHandle};

use crate::error::Error;
use crate::pgp_mime;
use crate::pgp_mime::{MAX_HEADER, STREAM_BUFFER};
use crate::selection;
use crate::signing::Signer;

/// The recipient entry for a key. Version 4 keys get SEIPD v1 (MDC) even
/// when their certificate advertises SEIPD v2: Sequoia-made v4 keys do, and
/// GnuPG 2.2, still the common reader, cannot decrypt SEIPD v2 ("packet(1)
/// with unknown version 6", found in our gpg interop tests). SEIPD v2
/// (AEAD) is used when every recipient key is a v6 key that supports it.
fn recipient<'a>(ka: &ValidErasedKeyAmalgamation<'a, PublicParts>) -> Recipient<'a> {
    let features = ka.valid_cert().features().unwrap_or_else(Features::empty);
    let key = ka.key();
    if key.version() >= 6 && features.supports_seipdv2() {
        Recipient::new(features, Some(KeyHandle::from(key.fingerprint())), key)
    } else {
        Recipient::new(
            features.clear_seipdv2(),
            Some(KeyHandle::from(key.keyid())),
            key,
        )
    }
}

/// Encrypts messages to a set of recipient certificates.
///
/// ```
/// # let bob = testkit::openpgp_key("Bob <bob@example.net>", testkit::PgpSuite::Rsa3072, testkit::PgpVersion::V4);
/// use pgp_core::{Decryptor, Encryptor, parse_certificates};
///
/// let encrypted = Encryptor::new(parse_certificates(&bob.public_armored())?)
///     .encrypt_message(b"From: alice@example.org\r\nSubject: s\r\n\r\nsecret\r\n")?;
/// assert!(String::from_utf8_lossy(&encrypted).contains("multipart/encrypted"));
/// assert!(!String::from_utf8_lossy(&encrypted).contains("secret\r\n"));
///
/// let decrypted = Decryptor::new([bob.cert().clone()]).decrypt_message(&encrypted)?;
/// assert!(decrypted.message().ends_with(b"\r\n\r\nsecret\r\n"));
/// # Ok::<(), pgp_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Encryptor {
    recipients: Vec<Cert>,
    signer: Option<Signer>,
    time: Option<SystemTime>,
}

impl Encryptor {
    /// An encryptor for `recipients` (each must have a valid
    /// encryption-capable key now).
    pub fn new(recipients: impl IntoIterator<Item = Cert>) -> Encryptor {
        Encryptor {
            recipients: recipients.into_iter().collect(),
            signer: None,
            time: None,
        }
    }

    /// Adds a recipient, for example the sender's own certificate so the
    /// sender can read the sent copy.
    pub fn with_recipient(mut self, cert: Cert) -> Encryptor {
        self.recipients.push(cert);
        self
    }

    /// Signs inside the encrypted message (RFC 3156 section 6.2).
    pub fn with_signer(mut self, signer: Signer) -> Encryptor {
        self.signer = Some(signer);
        self
    }

    /// Judges the recipients' keys as of `time` instead of now.
    pub fn at(mut self, time: SystemTime) -> Encryptor {
        self.time = Some(time);
        self
    }

    /// Encrypts `data` into an ASCII-armored OpenPGP message (usable as an
    /// inline block in a `text/plain` body).
    pub fn encrypt(&self, data: &[u8]) -> Result<Vec<u8>, Error> {
        let mut sink = Vec::new();
        self.encrypt_to(&mut sink, |plaintext| plaintext.write_all(data))?;
        Ok(sink)
    }

    /// Fails when there are no recipients or one has no usable encryption
    /// key.
    fn check_recipients(&self) -> Result<(), Error> {
        if self.recipients.is_empty() {
            return Err(Error::NoRecipients);
        }
        let policy = StandardPolicy::new();
        let time = self.time.unwrap_or_else(SystemTime::now);
        for cert in &self.recipients {
            selection::encryption_keys(cert, &policy, time)?;
        }
        Ok(())
    }

    /// The Sequoia writer stack (armor, encryption, optional signature,
    /// literal data) over `sink`; `write_plaintext` writes the data through
    /// it, in as many pieces as it likes.
    fn encrypt_to(
        &self,
        sink: impl Write + Send + Sync,
        write_plaintext: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
    ) -> Result<(), Error> {
        if self.recipients.is_empty() {
            return Err(Error::NoRecipients);
        }
        let policy = StandardPolicy::new();
        let time = self.time.unwrap_or_else(SystemTime::now);
        let mut recipients: Vec<Recipient<'_>> = Vec::new();
        for cert in &self.recipients {
            let keys = selection::encryption_keys(cert, &policy, time)?;
            recipients.extend(keys.into_iter().map(|ka| recipient(&ka)));
        }
        // Our armor writer, not Sequoia's: it streams in constant memory.
        let mut armored = crate::armor::ArmorWriter::new(sink)?;
        let message = Message::new(&mut armored);
        let message = OpenPgpEncryptor::for_recipients(message, recipients)
            .build()
            .map_err(Error::openpgp)?;
        let message = match &self.signer {
            Some(signer) => stream::Signer::new(message, signer.signing_key())
                .map_err(Error::openpgp)?
                .hash_algo(signer.hash_algorithm())
                .map_err(Error::openpgp)?
                .build()
                .map_err(Error::openpgp)?,
            None => message,
        };
        let mut literal = LiteralWriter::new(message)
            .build()
            .map_err(Error::openpgp)?;
        write_plaintext(&mut literal)?;
        literal.finalize().map_err(Error::sequoia)?;
        armored.finish()?;
        Ok(())
    }

    /// Encrypts a message (RFC 5322 bytes) as PGP/MIME
    /// `multipart/encrypted`: the outer header fields stay, the inner entity
    /// (its `Content-*` fields and body) is encrypted in canonical CRLF
    /// form with `binary` parts base64-encoded byte for byte
    /// ([`Envelope::encryptable`]), so an attachment comes out exactly as
    /// it went in and the decrypted message can travel on over SMTP.
    pub fn encrypt_message(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let envelope = Envelope::split(message)?;
        let armored = self.encrypt(&envelope.encryptable()?)?;
        let entity = pgp_mime::multipart_encrypted(&armored)?;
        Ok(envelope.rebuild(&entity))
    }

    /// Encrypts a message read from `input` as PGP/MIME
    /// `multipart/encrypted` onto `output`, in memory that does not grow
    /// with the message: the same result as
    /// [`Encryptor::encrypt_message`] (with another boundary), for messages
    /// of any size. The inner entity is first spooled to a temporary file
    /// ([`mail_message::SpooledEntity`]); a multipart with a `binary` part
    /// larger than [`crate::MAX_REENCODE_IN_MEMORY`] is refused with
    /// [`Error::ReencodeTooLarge`]. Nothing is written when that fails.
    ///
    /// ```
    /// # let bob = testkit::openpgp_key("Bob <bob@example.net>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
    /// use pgp_core::{Decryptor, Encryptor};
    ///
    /// let message = &b"From: alice@example.org\r\nSubject: s\r\n\r\nsecret\r\n"[..];
    /// let mut encrypted = Vec::new();
    /// Encryptor::new([bob.cert().clone()]).encrypt_message_stream(message, &mut encrypted)?;
    /// let decrypted = Decryptor::new([bob.cert().clone()]).decrypt_message(&encrypted)?;
    /// assert!(decrypted.message().ends_with(b"\r\n\r\nsecret\r\n"));
    /// # Ok::<(), pgp_core::Error>(())
    /// ```
    pub fn encrypt_message_stream(
        &self,
        input: impl Read,
        mut output: impl Write + Send + Sync,
    ) -> Result<(), Error> {
        // Refuse unusable recipients before anything is written.
        self.check_recipients()?;
        let mut reader = BufReader::with_capacity(STREAM_BUFFER, input);
        let header = read_header_section(&mut reader, MAX_HEADER)?;
        let message = Entity::parse(&header)?;
        let line_break = message.line_break();
        let entity = SpooledEntity::encryptable(&header, reader)?.into_file();
        output.write_all(&message.outer_header())?;
        // Armored data never holds the boundary: `-` is not in the base64
        // alphabet, and the armor lines do not say "pgp-".
        let boundary = pgp_mime::boundary(b"")?;
        let mut body = LineBreakWriter::new(output, line_break);
        body.write_all(&pgp_mime::multipart_encrypted_head(&boundary))?;
        // Sequoia's armor writes LF; the canonical writer makes it CRLF and
        // the line-break writer gives it the message's style.
        self.encrypt_to(CanonicalWriter::new(&mut body), |plaintext| {
            std::io::copy(
                &mut BufReader::with_capacity(STREAM_BUFFER, &entity),
                plaintext,
            )
            .map(drop)
        })?;
        body.write_all(pgp_mime::multipart_encrypted_tail(&boundary).as_bytes())?;
        let mut output = body.finish()?;
        output.flush()?;
        Ok(())
    }
}
