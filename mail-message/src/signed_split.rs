//! Splitting a `multipart/signed` body read from a stream: the signed
//! part goes to a writer as it is read (exactly the bytes
//! [`crate::Multipart::split`] would give: the line break before a
//! delimiter belongs to the delimiter), the signature part is collected up
//! to a limit, later parts are counted. S/MIME and PGP/MIME verification in
//! bounded memory both rest on it.

use std::io::{self, BufRead, Read, Write};

use crate::mime::MimeError;

/// Why a `multipart/signed` body could not be split.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// The closing delimiter is missing.
    #[error(transparent)]
    Mime(#[from] MimeError),
    /// Reading the body or writing the signed part failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A delimiter line padded with white space beyond 8 KiB:
    /// whether it is a delimiter depends on bytes not read yet, so it is
    /// refused rather than guessed (the spooled part can never differ from
    /// what `Multipart::split` gives).
    #[error("a delimiter line of the multipart/signed is longer than {limit} bytes")]
    DelimiterTooLong {
        /// The limit in bytes.
        limit: u64,
    },
    /// The signature part is larger than the caller's limit.
    #[error("the signature part is larger than {limit} bytes")]
    SignatureTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
}

/// What [`split_multipart_signed`] found after the signed part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedParts {
    /// The raw signature part (header fields and body).
    pub signature_part: Vec<u8>,
    /// Parts after the second (a `multipart/signed` has exactly two).
    pub extra_parts: usize,
}

/// Lines longer than this are handled in pieces; no delimiter line is that
/// long (RFC 2046: boundaries have at most 70 characters).
pub(crate) const MAX_LINE: u64 = 8 * 1024;

/// Reads a `multipart/signed` body: the first part goes to `content`
/// (without the line break before the next delimiter), the second is
/// returned (at most `max_signature_part` bytes), later parts are counted.
/// `None` when the body has fewer than two parts (it is not a signed
/// message). Errors like [`crate::Multipart::split`] when the closing
/// delimiter is missing.
///
/// ```
/// let body = b"--B\r\nContent-Type: text/plain\r\n\r\nsigned\r\n--B\r\n\r\nSIG\r\n--B--\r\n";
/// let mut content = Vec::new();
/// let parts = mail_message::split_multipart_signed(&mut &body[..], "B", &mut content, 1024)?;
/// assert_eq!(content, b"Content-Type: text/plain\r\n\r\nsigned");
/// assert_eq!(parts.unwrap().signature_part, b"\r\nSIG");
/// # Ok::<(), mail_message::SplitError>(())
/// ```
pub fn split_multipart_signed(
    reader: &mut impl BufRead,
    boundary: &str,
    content: &mut impl Write,
    max_signature_part: u64,
) -> Result<Option<SignedParts>, SplitError> {
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
                    return Err(SplitError::DelimiterTooLong { limit: MAX_LINE });
                }
                // The line break before the delimiter belongs to it.
                pending_break.clear();
                if part == 2 {
                    strip_line_break(&mut signature_part);
                }
                if closing {
                    return Ok((part >= 2).then(|| SignedParts {
                        signature_part,
                        extra_parts: part - 2,
                    }));
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
                if signature_part.len() as u64 + line.len() as u64 > max_signature_part {
                    return Err(SplitError::SignatureTooLarge {
                        limit: max_signature_part,
                    });
                }
                signature_part.extend_from_slice(&line);
            }
            _ => {}
        }
    }
}

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
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn split(body: &[u8], content: &mut Vec<u8>) -> Result<Option<SignedParts>, SplitError> {
        split_multipart_signed(&mut &body[..], "B", content, 1024 * 1024)
    }

    #[test]
    fn split_gives_what_multipart_split_gives() {
        let long = "y".repeat(3 * MAX_LINE as usize);
        for body in [
            "pre\r\n--B\r\nContent-Type: text/plain\r\n\r\nsigned\r\n\r\n--B\r\nContent-Type: application/pgp-signature\r\n\r\nSIG\r\n--B--\r\nepilogue".to_owned(),
            "--B\nA: b\n\nlf only\n--B\n\nS\n--B--\n".to_owned(),
            format!("--B  \r\n\r\n{long}--B\r\nx\r\n--B\t\r\n\r\nS\r\n--B\r\nextra\r\n--B--  \r\n"),
            "--B\r\n\r\n--Bx\r\n--B\r\n\r\nS\r\n--B--".to_owned(),
        ] {
            let expected = crate::Multipart::split(body.as_bytes(), "B").unwrap();
            let mut content = Vec::new();
            let parts = split(body.as_bytes(), &mut content).unwrap().unwrap();
            assert_eq!(content, expected.parts()[0], "{body:?}");
            assert_eq!(parts.signature_part, expected.parts()[1], "{body:?}");
            assert_eq!(parts.extra_parts, expected.parts().len() - 2, "{body:?}");
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
            let result = split(body.as_bytes(), &mut Vec::new());
            assert!(
                matches!(result, Err(SplitError::DelimiterTooLong { .. })),
                "{tail:?}"
            );
        }
        // Padding that fits is a delimiter, as for `Multipart::split`.
        let body = format!(
            "--B\r\n\r\nsigned\r\n--B{}\r\n\r\nS\r\n--B--\r\n",
            " ".repeat(100)
        );
        let mut sink = Vec::new();
        let parts = split(body.as_bytes(), &mut sink).unwrap().unwrap();
        assert_eq!(parts.extra_parts, 0);
        assert_eq!(sink, b"\r\nsigned");
    }

    #[test]
    fn unterminated_short_and_oversized_bodies() {
        let result = split(b"--B\r\n\r\ntext\r\n--B\r\n", &mut Vec::new());
        assert!(matches!(
            result,
            Err(SplitError::Mime(MimeError::UnterminatedMultipart { .. }))
        ));
        let result = split(b"--B\r\n\r\ntext\r\n--B--\r\n", &mut Vec::new());
        assert!(matches!(result, Ok(None)));
        let result = split_multipart_signed(
            &mut &b"--B\r\n\r\ntext\r\n--B\r\n\r\nSIGNATURE\r\n--B--\r\n"[..],
            "B",
            &mut Vec::new(),
            4,
        );
        assert!(matches!(
            result,
            Err(SplitError::SignatureTooLarge { limit: 4 })
        ));
    }
}
