//! Verifying S/MIME `multipart/signed` messages in memory that does not
//! grow with the message.
//!
//! The message is read once: the header section is kept, the signed part
//! goes, in canonical form, to an anonymous temporary file (exactly the
//! bytes [`mail_message::Multipart::split`] would give), the signature part
//! is collected (at most [`MAX_SIGNATURE_PART`]), and each signature is
//! checked against digests computed over the spool. Other structures
//! (opaque `signed-data`, signed parts nested in other parts) are verified
//! in memory by [`Verifier::verify_message`], up to [`MAX_IN_MEMORY`]
//! bytes.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use mail_message::stream::{CanonicalWriter, read_header_section, write_rebuilt};
use mail_message::{Coverage, Entity, LineBreak};

use crate::error::Error;
use crate::verification::{Verification, Verifier};

/// The largest signature part accepted (a signature with a certificate
/// chain is a few kilobytes).
pub const MAX_SIGNATURE_PART: u64 = 4 * 1024 * 1024;

/// The largest message verified in memory, for structures that do not
/// stream (opaque `signed-data`, nested signed parts).
pub const MAX_IN_MEMORY: u64 = 512 * 1024 * 1024;

/// Bytes per read.
const BUFFER: usize = 64 * 1024;
/// The longest header section we accept.
const MAX_HEADER: usize = 1024 * 1024;

/// The report on a message verified from a stream, with the signed entity
/// held back in a temporary file.
#[derive(Debug)]
pub struct SpooledVerification {
    verification: Verification,
    unwrapped: Unwrapped,
}

#[derive(Debug)]
enum Unwrapped {
    /// Nothing to unwrap (not wholly signed).
    None,
    /// The outer header fields and the canonical signed entity.
    Spool {
        outer_header: Vec<u8>,
        line_break: LineBreak,
        entity: File,
    },
    /// From the in-memory path.
    Message(Vec<u8>),
}

impl SpooledVerification {
    /// The report: coverage, signatures, verdict. Its
    /// [`Verification::unwrapped_message`] is `None` on the streaming path
    /// (the content stays in the temporary file): use
    /// [`SpooledVerification::write_unwrapped`].
    pub fn verification(&self) -> &Verification {
        &self.verification
    }

    /// Whether [`SpooledVerification::write_unwrapped`] has a message to
    /// write: the whole message is signed, as for
    /// [`Verification::unwrapped_message`].
    pub fn has_unwrapped(&self) -> bool {
        !matches!(self.unwrapped, Unwrapped::None)
    }

    /// Writes the message with the S/MIME layer removed (outer header
    /// fields and the signed entity, as [`Verification::unwrapped_message`])
    /// to `output` when the whole message is signed; returns whether it
    /// wrote anything.
    pub fn write_unwrapped(self, mut output: impl Write) -> Result<bool, Error> {
        match self.unwrapped {
            Unwrapped::None => return Ok(false),
            Unwrapped::Message(message) => output.write_all(&message).map_err(Error::Io)?,
            Unwrapped::Spool {
                outer_header,
                line_break,
                mut entity,
            } => {
                entity.seek(SeekFrom::Start(0)).map_err(Error::Io)?;
                let entity = BufReader::with_capacity(BUFFER, entity);
                write_rebuilt(&outer_header, line_break, entity, &mut output).map_err(Error::Io)?;
            }
        }
        output.flush().map_err(Error::Io)?;
        Ok(true)
    }
}

impl Verifier {
    /// Verifies a message read from `input` in bounded memory: a top-level
    /// S/MIME `multipart/signed` streams; any other structure is read into
    /// memory (at most [`MAX_IN_MEMORY`] bytes) and verified by
    /// [`Verifier::verify_message`]. The verdict, coverage and signer
    /// reports are the same as `verify_message`'s.
    ///
    /// ```
    /// # let alice = testkit::pki().smime("alice@example.org", testkit::KeyKind::P256);
    /// # let roots = smime_core::Certificate::load(testkit::pki().root().certificate_pem().as_bytes())?;
    /// # let certificate = smime_core::Certificate::load(alice.certificate_pem().as_bytes())?.remove(0);
    /// # let key = smime_core::PrivateKey::load(alice.private_key_pem().as_bytes(), None)?;
    /// use smime_core::{SignatureForm, Signer, Verdict, Verifier};
    ///
    /// let message = b"From: alice@example.org\r\nSubject: Hi\r\n\r\nHello\r\n";
    /// let signed = Signer::new(certificate, &key)?.sign_message(message, SignatureForm::Detached)?;
    /// let report = Verifier::new(roots).verify_message_spooled(&signed[..])?;
    /// assert_eq!(report.verification().verdict(), Verdict::SignedByFrom);
    /// let mut unwrapped = Vec::new();
    /// assert!(report.write_unwrapped(&mut unwrapped)?);
    /// assert!(unwrapped.ends_with(b"\r\n\r\nHello\r\n"));
    /// # Ok::<(), smime_core::Error>(())
    /// ```
    pub fn verify_message_spooled(&self, input: impl Read) -> Result<SpooledVerification, Error> {
        let mut reader = BufReader::with_capacity(BUFFER, input);
        let header = read_header_section(&mut reader, MAX_HEADER).map_err(Error::Io)?;
        let message = Entity::parse(&header)?;
        let content_type = message.content_type()?;
        let streamable = content_type.mime_type() == "multipart/signed"
            && content_type.parameter("protocol").is_some_and(|p| {
                p.eq_ignore_ascii_case("application/pkcs7-signature")
                    || p.eq_ignore_ascii_case("application/x-pkcs7-signature")
            });
        let boundary = content_type.parameter("boundary").map(str::to_owned);
        let (true, Some(boundary)) = (streamable, boundary) else {
            return self.verify_in_memory(&header, reader);
        };
        let spool = tempfile::tempfile().map_err(Error::Io)?;
        let mut sink = CanonicalWriter::new(BufWriter::with_capacity(BUFFER, spool));
        let parts = mail_message::split_multipart_signed(
            &mut reader,
            &boundary,
            &mut sink,
            MAX_SIGNATURE_PART,
        )?
        .ok_or(Error::MalformedSignedMessage)?;
        let spool = sink
            .into_inner()
            .into_inner()
            .map_err(|error| Error::Io(error.into_error()))?;
        let signature = Entity::parse(&parts.signature_part)?.decoded_body()?;
        let (signers, certificates) = self.verify_cms_spooled(&signature, &spool)?;
        let coverage = if parts.extra_parts > 0 {
            Coverage::Partial {
                part: "1".to_owned(),
                reason: "multipart/signed with more than the content and the signature".to_owned(),
            }
        } else {
            Coverage::Whole
        };
        let unwrapped = match coverage {
            Coverage::Whole => Unwrapped::Spool {
                outer_header: message.outer_header(),
                line_break: message.line_break(),
                entity: spool,
            },
            _ => Unwrapped::None,
        };
        Ok(SpooledVerification {
            verification: Verification::new(coverage, signers, certificates, &message),
            unwrapped,
        })
    }

    fn verify_in_memory(
        &self,
        header: &[u8],
        rest: impl Read,
    ) -> Result<SpooledVerification, Error> {
        let mut message = header.to_vec();
        rest.take(MAX_IN_MEMORY + 1)
            .read_to_end(&mut message)
            .map_err(Error::Io)?;
        if message.len() as u64 > MAX_IN_MEMORY + header.len() as u64 {
            return Err(Error::MessageTooLarge {
                limit: MAX_IN_MEMORY,
            });
        }
        let verification = self.verify_message(&message)?;
        let unwrapped = verification
            .unwrapped_message()
            .map_or(Unwrapped::None, |m| Unwrapped::Message(m.to_vec()));
        Ok(SpooledVerification {
            verification,
            unwrapped,
        })
    }
}
