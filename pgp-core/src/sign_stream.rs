//! Signing messages as PGP/MIME `multipart/signed` in memory that does not
//! grow with the message.
//!
//! The inner entity is spooled to a temporary file in the form it is signed
//! in ([`mail_message::SpooledEntity`]: canonical, 7-bit safe, `binary`
//! parts base64-encoded byte for byte; multiparts with 8-bit or binary parts
//! re-encoded in memory up to [`MAX_REENCODE_IN_MEMORY`] bytes, refused
//! beyond) and hashed on the way by Sequoia's detached signer (a large
//! entity on a second core); then the outer header fields, the spooled
//! entity and the signature part are written, so nothing is written when
//! signing fails. Seekable input that is already canonical and 7-bit safe
//! needs no spool: it is read once to be hashed and its body copied to the
//! output after ([`Signer::sign_message_seekable`]).

use std::io::{BufReader, Read, Seek, SeekFrom, Write};

use mail_message::stream::{BackgroundWriter, LineBreakWriter, Watch, read_header_section};
use mail_message::{Entity, LineBreak, SpooledEntity, signable_as_is};

use crate::error::Error;
use crate::pgp_mime::{self, MAX_HEADER, STREAM_BUFFER};
use crate::signing::Signer;

pub use mail_message::MAX_REENCODE_IN_MEMORY;

impl Signer {
    /// Signs a message read from `input` as PGP/MIME `multipart/signed` and
    /// writes it to `output`, in memory that does not grow with the message.
    /// The result is the same as [`Signer::sign_message`]'s, up to the
    /// random boundary and the signature's time stamp and salt.
    ///
    /// The inner entity is spooled in canonical form to a temporary file.
    /// A 7-bit clean entity is signed as it is; a single part with 8-bit
    /// or `binary` content is re-encoded as base64 from the spool; a
    /// multipart with 8-bit or `binary` parts is re-encoded in memory up to
    /// [`MAX_REENCODE_IN_MEMORY`] bytes and refused with
    /// [`Error::ReencodeTooLarge`] beyond. Nothing is written to `output`
    /// when signing fails.
    ///
    /// ```
    /// # let key = testkit::openpgp_key("Alice <alice@example.org>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
    /// use pgp_core::{Signer, Verdict, Verifier};
    ///
    /// let message = b"From: alice@example.org\r\nContent-Type: text/plain\r\n\r\nHi\r\n";
    /// let mut signed = Vec::new();
    /// Signer::new(key.cert(), None)?.sign_message_stream(&message[..], &mut signed)?;
    /// let report = Verifier::new([key.cert().clone()]).verify_message(&signed)?;
    /// assert_eq!(report.verdict(), Verdict::SignedByFrom);
    /// # Ok::<(), pgp_core::Error>(())
    /// ```
    pub fn sign_message_stream(
        &self,
        input: impl Read,
        mut output: impl Write,
    ) -> Result<(), Error> {
        let mut reader = BufReader::with_capacity(STREAM_BUFFER, input);
        let header = read_header_section(&mut reader, MAX_HEADER)?;
        let message = Entity::parse(&header)?;
        // The entity is hashed while it is spooled (a large one on a second
        // core, `BackgroundWriter`), and the boundary (picked first) looked
        // for in the same pass; only an entity re-encoded after spooling is
        // read again for both.
        let mut boundary = pgp_mime::boundary(b"")?;
        let mut sink = Vec::new();
        let signer = self.detached_signer(&mut sink)?;
        let (spooled, hashed) = std::thread::scope(|scope| {
            let mut hasher = BackgroundWriter::new(scope, Watch::new(signer, boundary.as_bytes()));
            let spooled = SpooledEntity::signable_observed(&header, reader, &mut hasher);
            // The hasher's result matters only when the spool succeeded.
            (spooled, hasher.finish())
        });
        let (spooled, exact) = spooled?;
        if spooled.has_bare_cr() && message.line_break() == LineBreak::Lf {
            return Err(bare_cr_error());
        }
        let mut signed = spooled.into_file();
        let (signature, micalg, found) = if exact {
            let (signer, found) = hashed?.into_inner();
            signer.finalize().map_err(Error::sequoia)?;
            let (signature, micalg) = self.finish_detached(sink)?;
            (signature, micalg, found)
        } else {
            drop(hashed);
            signed.seek(SeekFrom::Start(0))?;
            let mut watched = Watch::new(
                BufReader::with_capacity(STREAM_BUFFER, &signed),
                boundary.as_bytes(),
            );
            let (signature, micalg) = self.sign_detached_reader(&mut watched)?;
            (signature, micalg, watched.found())
        };
        if found {
            boundary = loop {
                let candidate = pgp_mime::boundary(b"")?;
                signed.seek(SeekFrom::Start(0))?;
                if !reader_contains(&mut signed, candidate.as_bytes())? {
                    break candidate;
                }
            };
        }
        signed.seek(SeekFrom::Start(0))?;
        let signed_message = SignedMessage {
            message: &message,
            boundary: &boundary,
            micalg: &micalg,
            signature: &signature,
        };
        if message.line_break() == LineBreak::Crlf {
            signed_message.write(&mut output, b"", &mut signed)?;
        } else {
            let mut body = LineBreakWriter::new(&mut output, message.line_break());
            signed_message.write(
                &mut body,
                b"",
                &mut BufReader::with_capacity(STREAM_BUFFER, &signed),
            )?;
            body.finish()?;
        }
        output.flush()?;
        Ok(())
    }

    /// [`Signer::sign_message_stream`] for input that can be read twice (a
    /// file): a message that is already canonical (CRLF) and 7-bit safe,
    /// the usual case, is read once to be signed and its body then copied
    /// from the input to `output` (by the kernel, when both are files or
    /// pipes) instead of through a temporary file. Other messages take the
    /// streaming path from where `input` stood. The input must not change
    /// while it is signed.
    ///
    /// ```
    /// # let key = testkit::openpgp_key("Alice <alice@example.org>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
    /// use std::io::{Seek, Write};
    /// use pgp_core::{Signer, Verdict, Verifier};
    ///
    /// let mut file = tempfile::tempfile()?;
    /// file.write_all(b"From: alice@example.org\r\nContent-Type: text/plain\r\n\r\nHi\r\n")?;
    /// file.rewind()?;
    /// let mut signed = Vec::new();
    /// Signer::new(key.cert(), None)?.sign_message_seekable(&mut file, &mut signed)?;
    /// let report = Verifier::new([key.cert().clone()]).verify_message(&signed)?;
    /// assert_eq!(report.verdict(), Verdict::SignedByFrom);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sign_message_seekable<R: Read + Seek>(
        &self,
        mut input: R,
        mut output: impl Write,
    ) -> Result<(), Error> {
        let start = input.stream_position()?;
        let mut reader = BufReader::with_capacity(STREAM_BUFFER, &mut input);
        let header = read_header_section(&mut reader, MAX_HEADER)?;
        let message = Entity::parse(&header)?;
        if message.line_break() == LineBreak::Crlf {
            let boundary = pgp_mime::boundary(b"")?;
            let mut sink = Vec::new();
            let signer = self.detached_signer(&mut sink)?;
            let (as_is, hashed) = std::thread::scope(|scope| {
                let mut hasher =
                    BackgroundWriter::new(scope, Watch::new(signer, boundary.as_bytes()));
                let as_is = signable_as_is(&header, reader, &mut hasher);
                (as_is, hasher.finish())
            });
            if let Some(as_is) = as_is? {
                let (signer, found) = hashed?.into_inner();
                signer.finalize().map_err(Error::sequoia)?;
                let (signature, micalg) = self.finish_detached(sink)?;
                let body_start = start + header.len() as u64;
                let mut boundary = boundary;
                if found {
                    boundary = loop {
                        let candidate = pgp_mime::boundary(b"")?;
                        input.seek(SeekFrom::Start(body_start))?;
                        let entity = as_is
                            .header
                            .as_slice()
                            .chain((&mut input).take(as_is.body_len));
                        if !reader_contains(entity, candidate.as_bytes())? {
                            break candidate;
                        }
                    };
                }
                input.seek(SeekFrom::Start(body_start))?;
                let signed_message = SignedMessage {
                    message: &message,
                    boundary: &boundary,
                    micalg: &micalg,
                    signature: &signature,
                };
                let mut body = (&mut input).take(as_is.body_len);
                let copied = signed_message.write(&mut output, &as_is.header, &mut body)?;
                if copied != as_is.body_len {
                    return Err(Error::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the message changed while it was signed",
                    )));
                }
                output.flush()?;
                return Ok(());
            }
        } else {
            drop(reader);
        }
        input.seek(SeekFrom::Start(start))?;
        self.sign_message_stream(input, output)
    }
}

/// The parts of a PGP/MIME signed message around its signed entity.
struct SignedMessage<'a> {
    message: &'a Entity<'a>,
    boundary: &'a str,
    micalg: &'a str,
    signature: &'a [u8],
}

impl SignedMessage<'_> {
    /// Writes the outer header fields, the `multipart/signed` head,
    /// `entity_head` and what `entity` reads (a plain `io::copy`, which the
    /// kernel does with `copy_file_range` or `sendfile` from a file to a
    /// file or a pipe), then the signature part; returns the bytes copied
    /// from `entity`.
    fn write(
        &self,
        output: &mut impl Write,
        entity_head: &[u8],
        entity: &mut impl Read,
    ) -> Result<u64, Error> {
        output.write_all(&self.message.outer_header())?;
        output.write_all(&pgp_mime::multipart_signed_head(self.boundary, self.micalg))?;
        output.write_all(entity_head)?;
        let copied = std::io::copy(entity, output)?;
        output.write_all(&pgp_mime::multipart_signed_tail(
            self.boundary,
            self.signature,
        ))?;
        Ok(copied)
    }
}

/// Refuses a signed entity with a bare CR (only `message/*` parts keep
/// one) for output with LF line breaks: CR CR LF would come back as CR LF
/// and the signature would not hold.
pub(crate) fn check_line_breaks(entity: &[u8], line_break: LineBreak) -> Result<(), Error> {
    if line_break == LineBreak::Crlf {
        return Ok(());
    }
    let mut previous = 0u8;
    let bare_cr = entity.iter().any(|&b| {
        let bare = previous == b'\r' && b != b'\n';
        previous = b;
        bare
    }) || previous == b'\r';
    if bare_cr {
        return Err(bare_cr_error());
    }
    Ok(())
}

fn bare_cr_error() -> Error {
    Error::UnexpectedContent {
        expected: "CRLF input, or no bare CR in message/* parts of LF input",
        found: "a bare CR in a message/* part of a message with LF line breaks".to_owned(),
    }
}

/// Whether `needle` occurs in what `reader` reads.
fn reader_contains(reader: impl Read, needle: &[u8]) -> Result<bool, Error> {
    let mut reader = BufReader::with_capacity(STREAM_BUFFER, reader);
    let mut window: Vec<u8> = Vec::with_capacity(STREAM_BUFFER + needle.len());
    let mut chunk = vec![0u8; STREAM_BUFFER];
    loop {
        let read = reader.read(&mut chunk)?;
        if read == 0 {
            return Ok(false);
        }
        window.extend_from_slice(chunk.get(..read).unwrap_or_default());
        if pgp_mime::contains(&window, needle) {
            return Ok(true);
        }
        // Keep what could start a match across the next read.
        let keep = needle.len().saturating_sub(1).min(window.len());
        window.drain(..window.len() - keep);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn boundary_search_spans_reads() {
        let mut file = tempfile::tempfile().unwrap();
        let mut data = vec![b'a'; STREAM_BUFFER - 3];
        data.extend_from_slice(b"needle");
        file.write_all(&data).unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        assert!(reader_contains(&mut file, b"needle").unwrap());
        file.seek(SeekFrom::Start(0)).unwrap();
        assert!(!reader_contains(&mut file, b"needles").unwrap());
    }
}
