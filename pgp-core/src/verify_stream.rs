//! Verifying PGP/MIME `multipart/signed` messages in memory that does not
//! grow with the message.
//!
//! The message is read once: the header section is kept, the signed part
//! goes, in canonical form, to an anonymous temporary file (exactly the
//! bytes [`mail_message::Multipart::split`] would give: the line break
//! before a delimiter belongs to the delimiter), the signature part is
//! collected (at most [`MAX_SIGNATURE_PART`]), and the signature is checked
//! over the spooled part with Sequoia's streaming detached verifier. Other
//! structures (inline cleartext signatures, signed parts nested in other
//! parts) are verified in memory by [`Verifier::verify_message`].

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use mail_message::stream::{CanonicalWriter, read_header_section};
use mail_message::{Entity, LineBreak, MimeError};

use crate::decrypt_stream::write_entity;
use crate::decryption::DEFAULT_MAX_PLAINTEXT;
use crate::error::Error;
use crate::pgp_mime::{MAX_HEADER, STREAM_BUFFER};
use crate::verification::{Coverage, Verification, Verifier, addresses};

/// The largest signature part accepted (a detached signature is a few
/// hundred bytes; many signatures stay far below this).
pub const MAX_SIGNATURE_PART: u64 = 1024 * 1024;

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
    /// The report: coverage, signatures, verdict.
    pub fn verification(&self) -> &Verification {
        &self.verification
    }

    /// Whether [`SpooledVerification::write_unwrapped`] has a message to
    /// write: the whole message is covered and every signature holds, as
    /// for [`Verification::unwrapped_message`]. (The report's own
    /// `unwrapped_message` is `None` on the streaming path; the content
    /// stays in the temporary file.)
    pub fn has_unwrapped(&self) -> bool {
        !matches!(self.unwrapped, Unwrapped::None)
    }

    /// Writes the message with the OpenPGP layer removed (as
    /// [`Verification::unwrapped_message`]) to `output`, when the whole
    /// message is covered by signatures that hold; returns whether it wrote
    /// anything.
    pub fn write_unwrapped(self, mut output: impl Write) -> Result<bool, Error> {
        match self.unwrapped {
            Unwrapped::None => return Ok(false),
            Unwrapped::Message(message) => output.write_all(&message)?,
            Unwrapped::Spool {
                outer_header,
                line_break,
                entity,
            } => write_entity(&outer_header, line_break, entity, &mut output)?,
        }
        output.flush()?;
        Ok(true)
    }
}

impl Verifier {
    /// Verifies a message read from `input` in bounded memory: a top-level
    /// PGP/MIME `multipart/signed` streams; any other structure is read into
    /// memory (at most 512 MiB) and verified by
    /// [`Verifier::verify_message`], with the same result.
    ///
    /// ```
    /// # let key = testkit::openpgp_key("Alice <alice@example.org>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
    /// use pgp_core::{Signer, Verdict, Verifier};
    ///
    /// let signed = Signer::new(key.cert(), None)?.sign_message(b"From: alice@example.org\r\n\r\nHi\r\n")?;
    /// let report = Verifier::new([key.cert().clone()]).verify_message_spooled(&signed[..])?;
    /// assert_eq!(report.verification().verdict(), Verdict::SignedByFrom);
    /// let mut unwrapped = Vec::new();
    /// assert!(report.write_unwrapped(&mut unwrapped)?);
    /// assert!(unwrapped.ends_with(b"\r\n\r\nHi\r\n"));
    /// # Ok::<(), pgp_core::Error>(())
    /// ```
    pub fn verify_message_spooled(&self, input: impl Read) -> Result<SpooledVerification, Error> {
        let mut reader = BufReader::with_capacity(STREAM_BUFFER, input);
        let header = read_header_section(&mut reader, MAX_HEADER)?;
        let entity = Entity::parse(&header)?;
        let content_type = entity.content_type()?;
        let streamable = content_type.mime_type() == "multipart/signed"
            && content_type
                .parameter("protocol")
                .is_some_and(|p| p.eq_ignore_ascii_case("application/pgp-signature"));
        let boundary = content_type.parameter("boundary").map(str::to_owned);
        let (true, Some(boundary)) = (streamable, boundary) else {
            return self.verify_in_memory(&header, reader);
        };
        let spool = tempfile::tempfile()?;
        let mut sink = CanonicalWriter::new(BufWriter::with_capacity(STREAM_BUFFER, spool));
        let split = split_signed(&mut reader, &boundary, &mut sink)?;
        let mut spool = sink
            .into_inner()
            .into_inner()
            .map_err(|error| Error::Io(error.into_error()))?;
        let (signature_part, extra_parts) = match split {
            Split::Signed {
                signature_part,
                extra_parts,
            } => (signature_part, extra_parts),
            // Fewer than two parts: not a signed message at all.
            Split::TooFewParts => {
                return Ok(SpooledVerification {
                    verification: Verification::unsigned(addresses(&entity, "from")),
                    unwrapped: Unwrapped::None,
                });
            }
        };
        let signature = Entity::parse(&signature_part)?.decoded_body()?;
        spool.seek(SeekFrom::Start(0))?;
        let signers = self.verify_detached_reader(
            BufReader::with_capacity(STREAM_BUFFER, spool.try_clone()?),
            &signature,
        );
        let coverage = if extra_parts > 0 {
            Coverage::Partial {
                part: "1".to_owned(),
                reason: "multipart/signed with more than the content and the signature".to_owned(),
            }
        } else {
            Coverage::Whole
        };
        let verification =
            Verification::new(coverage, signers, addresses(&entity, "from"), None, self);
        // As in memory: only a wholly covered message whose signatures all
        // hold is released.
        let unwrapped = if verification.releases_content() {
            Unwrapped::Spool {
                outer_header: entity.outer_header(),
                line_break: entity.line_break(),
                entity: spool,
            }
        } else {
            Unwrapped::None
        };
        Ok(SpooledVerification {
            verification,
            unwrapped,
        })
    }

    fn verify_in_memory(
        &self,
        header: &[u8],
        mut rest: impl Read,
    ) -> Result<SpooledVerification, Error> {
        let mut message = header.to_vec();
        rest.by_ref()
            .take(DEFAULT_MAX_PLAINTEXT + 1)
            .read_to_end(&mut message)?;
        if message.len() as u64 > DEFAULT_MAX_PLAINTEXT + header.len() as u64 {
            return Err(Error::TooLarge {
                limit: DEFAULT_MAX_PLAINTEXT,
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

enum Split {
    Signed {
        /// The raw signature part (header fields and body).
        signature_part: Vec<u8>,
        /// Parts after the second.
        extra_parts: usize,
    },
    TooFewParts,
}

/// Reads a `multipart/signed` body: the first part goes to `content`
/// (without the line break before the next delimiter), the second is
/// returned, later parts are counted. Errors like
/// [`mail_message::Multipart::split`] when the closing delimiter is missing.
fn split_signed(
    reader: &mut impl BufRead,
    boundary: &str,
    content: &mut impl Write,
) -> Result<Split, Error> {
    let delimiter = [b"--", boundary.as_bytes()].concat();
    // 0: preamble, 1: content, 2: signature, 3..: extra parts.
    let mut part = 0usize;
    let mut signature_part = Vec::new();
    let mut pending_break: Vec<u8> = Vec::new();
    let mut at_line_start = true;
    loop {
        let mut line = Vec::new();
        let read = reader
            .by_ref()
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)?;
        if read == 0 {
            return Err(MimeError::UnterminatedMultipart {
                boundary: boundary.to_owned(),
            }
            .into());
        }
        let line_start = at_line_start;
        at_line_start = line.ends_with(b"\n");
        if line_start && let Some(after) = line.strip_prefix(delimiter.as_slice()) {
            let closing = after.starts_with(b"--");
            let padding = if closing {
                after.get(2..).unwrap_or_default()
            } else {
                after
            };
            if padding.iter().all(u8::is_ascii_whitespace) {
                if !at_line_start && read as u64 == MAX_LINE {
                    // A delimiter padded past MAX_LINE: whether it is one
                    // depends on bytes not read yet. Refused rather than
                    // guessed, so the spooled part can never differ from
                    // what `Multipart::split` gives.
                    return Err(Error::OpenPgp {
                        reason: format!(
                            "a delimiter line of the multipart/signed is longer than {MAX_LINE} bytes"
                        ),
                    });
                }
                // The line break before the delimiter belongs to it.
                pending_break.clear();
                if part == 2 {
                    strip_line_break(&mut signature_part);
                }
                if closing {
                    return Ok(if part >= 2 {
                        Split::Signed {
                            signature_part,
                            extra_parts: part - 2,
                        }
                    } else {
                        Split::TooFewParts
                    });
                }
                part += 1;
                continue;
            }
        }
        match part {
            1 => {
                // Hold back the line break (or a CR that may start one in
                // the next piece of a long line) until the next line shows
                // whether a delimiter owns it.
                let mut combined = std::mem::take(&mut pending_break);
                combined.extend_from_slice(&line);
                let mut body_end = line_without_break(&combined);
                if body_end == combined.len() && combined.last() == Some(&b'\r') {
                    body_end -= 1;
                }
                content.write_all(combined.get(..body_end).unwrap_or_default())?;
                pending_break = combined.get(body_end..).unwrap_or_default().to_vec();
            }
            2 => {
                if signature_part.len() as u64 + line.len() as u64 > MAX_SIGNATURE_PART {
                    return Err(Error::OpenPgp {
                        reason: format!(
                            "the signature part is larger than {MAX_SIGNATURE_PART} bytes"
                        ),
                    });
                }
                signature_part.extend_from_slice(&line);
            }
            _ => {}
        }
    }
}

/// Lines longer than this are handled in pieces; no delimiter line is that
/// long (RFC 2046: boundaries have at most 70 characters).
const MAX_LINE: u64 = 8 * 1024;

/// Where the line break at the end of `line` starts (its length if none).
fn line_without_break(line: &[u8]) -> usize {
    match line {
        [.., b'\r', b'\n'] => line.len() - 2,
        [.., b'\n'] => line.len() - 1,
        _ => line.len(),
    }
}

fn strip_line_break(bytes: &mut Vec<u8>) {
    let end = line_without_break(bytes);
    bytes.truncate(end);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn split_gives_what_multipart_split_gives() {
        let long = "y".repeat(3 * MAX_LINE as usize);
        for body in [
            "pre\r\n--B\r\nContent-Type: text/plain\r\n\r\nsigned\r\n\r\n--B\r\nContent-Type: application/pgp-signature\r\n\r\nSIG\r\n--B--\r\nepilogue".to_owned(),
            "--B\nA: b\n\nlf only\n--B\n\nS\n--B--\n".to_owned(),
            format!("--B  \r\n\r\n{long}--B\r\nx\r\n--B\t\r\n\r\nS\r\n--B\r\nextra\r\n--B--  \r\n"),
            "--B\r\n\r\n--Bx\r\n--B\r\n\r\nS\r\n--B--".to_owned(),
        ] {
            let expected = mail_message::Multipart::split(body.as_bytes(), "B").unwrap();
            let mut content = Vec::new();
            let split = split_signed(&mut body.as_bytes(), "B", &mut content).unwrap();
            assert_eq!(content, expected.parts()[0], "{body:?}");
            let Split::Signed {
                signature_part,
                extra_parts,
            } = split
            else {
                panic!("{body:?}");
            };
            assert_eq!(signature_part, expected.parts()[1], "{body:?}");
            assert_eq!(extra_parts, expected.parts().len() - 2, "{body:?}");
        }
    }

    #[test]
    fn an_overlong_padded_delimiter_is_refused_not_guessed() {
        let padding = " ".repeat(MAX_LINE as usize);
        for tail in [
            "\r\nsmuggled\r\n--B\r\n\r\nS\r\n--B--\r\n",
            "x\r\n--B\r\n\r\nS\r\n--B\r\n\r\nT\r\n--B--\r\n",
        ] {
            let body = format!("--B\r\n\r\nsigned\r\n--B{padding}{tail}");
            let mut sink = Vec::new();
            let result = split_signed(&mut body.as_bytes(), "B", &mut sink);
            assert!(matches!(result, Err(Error::OpenPgp { .. })), "{tail:?}");
        }
        // Padding that fits is a delimiter, as for `Multipart::split`.
        let body = format!(
            "--B\r\n\r\nsigned\r\n--B{}\r\n\r\nS\r\n--B--\r\n",
            " ".repeat(100)
        );
        let mut sink = Vec::new();
        assert!(matches!(
            split_signed(&mut body.as_bytes(), "B", &mut sink),
            Ok(Split::Signed { extra_parts: 0, .. })
        ));
        assert_eq!(sink, b"\r\nsigned");
    }

    #[test]
    fn unterminated_and_short_bodies() {
        let mut sink = Vec::new();
        let result = split_signed(&mut &b"--B\r\n\r\ntext\r\n--B\r\n"[..], "B", &mut sink);
        assert!(matches!(
            result,
            Err(Error::Mime(MimeError::UnterminatedMultipart { .. }))
        ));
        let result = split_signed(&mut &b"--B\r\n\r\ntext\r\n--B--\r\n"[..], "B", &mut sink);
        assert!(matches!(result, Ok(Split::TooFewParts)));
    }
}
