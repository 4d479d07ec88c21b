//! Signing messages as PGP/MIME `multipart/signed` in memory that does not
//! grow with the message.
//!
//! The message is read once: the header section is kept, the inner entity
//! (the `Content-*` fields and the body) goes in canonical CRLF form to an
//! anonymous temporary file, and on the way a scan notes whether the body is
//! already safe for 7-bit transport. A safe entity is signed as it is (what
//! [`mail_message::seven_bit_safe`] returns unchanged); a single part with
//! 8-bit content is re-encoded as base64 from the spool into a second
//! temporary file, exactly as `seven_bit_safe` would; a single part with
//! `Content-Transfer-Encoding: binary` is spooled byte for byte (binary data
//! has no line breaks to canonicalise) and re-encoded the same way; a
//! multipart with 8-bit content or a part that may be `binary` is signed
//! from its original bytes in memory, as [`Signer::sign_message`] does, when
//! it is at most [`MAX_REENCODE_IN_MEMORY`] bytes and refused otherwise. The
//! signature is computed over the spool with Sequoia's detached signer, then
//! the outer header fields, the spooled entity and the signature part are
//! written, so nothing is written when signing fails.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use mail_message::stream::{Base64Writer, CanonicalWriter, LineBreakWriter, read_header_section};
use mail_message::{Entity, LineBreak, MimeError};

use crate::error::Error;
use crate::pgp_mime::{self, MAX_HEADER, STREAM_BUFFER};
use crate::signing::Signer;

/// The largest multipart entity with 8-bit or binary content that is
/// re-encoded (in memory) for signing; larger ones are refused with
/// [`Error::ReencodeTooLarge`].
pub const MAX_REENCODE_IN_MEMORY: u64 = 4 * 1024 * 1024;

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
        let content_type = message.content_type()?;
        let boundary = content_type.parameter("boundary").map(str::to_owned);
        if content_type.is_multipart() && boundary.is_none() {
            return Err(MimeError::MissingBoundary.into());
        }

        // The inner entity, canonical, as `Envelope::split` makes it.
        let mut inner_header = message.content_header();
        inner_header.extend_from_slice(message.line_break().as_bytes());
        let inner_header = mail_message::canonicalize(&inner_header);
        let mut file = BufWriter::with_capacity(STREAM_BUFFER, tempfile::tempfile()?);
        file.write_all(&inner_header)?;
        let mut scan = Scan::new(file, boundary.as_deref());
        // Binary content is bytes, not lines: spooled as it is.
        let leaf_binary = !content_type.is_multipart() && message.transfer_encoding() == "binary";
        let original = if leaf_binary {
            std::io::copy(&mut reader, &mut scan)?;
            None
        } else {
            // A multipart's original bytes, while they fit, for the parts
            // that must not be canonicalised.
            let limit = if content_type.is_multipart() {
                MAX_REENCODE_IN_MEMORY
            } else {
                0
            };
            let mut sink = OriginalCopy::new(CanonicalWriter::new(&mut scan), limit);
            std::io::copy(&mut reader, &mut sink)?;
            sink.into_copy()
        };
        let needs_encoding = scan.needs_encoding();
        scan.bare_cr |= scan.previous == b'\r';
        let closed = scan.closed();
        let spool = scan
            .inner
            .into_inner()
            .map_err(|error| Error::Io(error.into_error()))?;

        let bare_cr = scan.bare_cr;
        let signed = if leaf_binary {
            reencode_leaf(spool, &inner_header, message.transfer_encoding())?
        } else if content_type.is_multipart() && (needs_encoding || scan.maybe_binary) {
            let body = original.ok_or(Error::ReencodeTooLarge {
                limit: MAX_REENCODE_IN_MEMORY,
            })?;
            drop(spool);
            reencode_in_memory(&header, &body, message.line_break())?
        } else if !needs_encoding {
            if let (false, Some(boundary)) = (closed, boundary) {
                return Err(MimeError::UnterminatedMultipart { boundary }.into());
            }
            spool
        } else if content_type.mime_type().starts_with("message/") {
            // message/* cannot take a transfer encoding (RFC 2046 5.2).
            if bare_cr && message.line_break() == LineBreak::Lf {
                return Err(bare_cr_error());
            }
            spool
        } else {
            reencode_leaf(spool, &inner_header, message.transfer_encoding())?
        };
        self.write_signed(
            signed,
            &message.outer_header(),
            message.line_break(),
            &mut output,
        )
    }

    /// Signs the canonical entity in `signed` and writes the message.
    fn write_signed(
        &self,
        mut signed: File,
        outer_header: &[u8],
        line_break: LineBreak,
        output: &mut impl Write,
    ) -> Result<(), Error> {
        signed.seek(SeekFrom::Start(0))?;
        let (signature, micalg) =
            self.sign_detached_reader(BufReader::with_capacity(STREAM_BUFFER, &signed))?;
        let boundary = loop {
            let candidate = pgp_mime::boundary(b"")?;
            signed.seek(SeekFrom::Start(0))?;
            if !file_contains(&mut signed, candidate.as_bytes())? {
                break candidate;
            }
        };
        signed.seek(SeekFrom::Start(0))?;
        output.write_all(outer_header)?;
        let mut body = LineBreakWriter::new(&mut *output, line_break);
        body.write_all(&pgp_mime::multipart_signed_head(&boundary, &micalg))?;
        std::io::copy(
            &mut BufReader::with_capacity(STREAM_BUFFER, &signed),
            &mut body,
        )?;
        body.write_all(&pgp_mime::multipart_signed_tail(&boundary, &signature))?;
        body.finish()?;
        output.flush()?;
        Ok(())
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

/// The signable form of a multipart message small enough to hold, from its
/// original bytes (`header`, the header section, and `body`), exactly as
/// [`Signer::sign_message`] makes it.
fn reencode_in_memory(header: &[u8], body: &[u8], line_break: LineBreak) -> Result<File, Error> {
    let message = [header, body].concat();
    let safe = mail_message::Envelope::split(&message)?.signable()?;
    drop(message);
    check_line_breaks(&safe, line_break)?;
    let mut out = tempfile::tempfile()?;
    out.write_all(&safe)?;
    Ok(out)
}

/// `seven_bit_safe` on a single part: its fields without
/// `Content-Transfer-Encoding`, then its body as base64.
fn reencode_leaf(mut spool: File, inner_header: &[u8], encoding: String) -> Result<File, Error> {
    if encoding == "base64" || encoding == "quoted-printable" {
        return Err(MimeError::EightBitInEncodedPart { encoding }.into());
    }
    let entity = Entity::parse(inner_header)?;
    let mut out = BufWriter::with_capacity(STREAM_BUFFER, tempfile::tempfile()?);
    for field in entity.fields() {
        if !field.is("content-transfer-encoding") {
            out.write_all(field.raw())?;
        }
    }
    out.write_all(b"Content-Transfer-Encoding: base64\r\n\r\n")?;
    spool.seek(SeekFrom::Start(inner_header.len() as u64))?;
    let mut encoder = Base64Writer::new(out, LineBreak::Crlf);
    std::io::copy(
        &mut BufReader::with_capacity(STREAM_BUFFER, spool),
        &mut encoder,
    )?;
    encoder
        .finish()?
        .into_inner()
        .map_err(|error| Error::Io(error.into_error()))
}

/// Whether `needle` occurs in what `file` holds from its position on.
fn file_contains(file: &mut File, needle: &[u8]) -> Result<bool, Error> {
    let mut reader = BufReader::with_capacity(STREAM_BUFFER, file);
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

/// Passes what it is written through and keeps a copy of the first `limit`
/// bytes; a write beyond the limit drops the copy.
struct OriginalCopy<W: Write> {
    inner: W,
    copy: Option<Vec<u8>>,
    limit: u64,
}

impl<W: Write> OriginalCopy<W> {
    fn new(inner: W, limit: u64) -> OriginalCopy<W> {
        OriginalCopy {
            inner,
            copy: Some(Vec::new()),
            limit,
        }
    }

    /// The copy, unless what passed through was longer than the limit.
    fn into_copy(self) -> Option<Vec<u8>> {
        self.copy
    }
}

impl<W: Write> Write for OriginalCopy<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        let passed = buf.get(..written).unwrap_or_default();
        if let Some(copy) = &mut self.copy {
            if (copy.len() + passed.len()) as u64 > self.limit {
                self.copy = None;
            } else {
                copy.extend_from_slice(passed);
            }
        }
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The start of a line kept to tell a `Content-Transfer-Encoding` field's
/// value.
const FIELD_HEAD: usize = 64;

/// Whether a line (its first [`FIELD_HEAD`] bytes) is a
/// `Content-Transfer-Encoding` field that may say `binary`: any value but
/// the four that need no byte-exact handling counts, so a folded or cut-off
/// value errs towards the exact path.
fn may_name_binary(line: &[u8]) -> bool {
    const NAME: &[u8] = b"content-transfer-encoding:";
    match line.get(..NAME.len()) {
        Some(name) if name.eq_ignore_ascii_case(NAME) => {
            let value = line.get(NAME.len()..).unwrap_or_default().trim_ascii();
            !["7bit", "8bit", "base64", "quoted-printable"]
                .iter()
                .any(|known| value.eq_ignore_ascii_case(known.as_bytes()))
        }
        _ => false,
    }
}

/// Passes the canonical body through and notes what
/// `mail_message::seven_bit_safe` decides on: whether the body needs a
/// transfer encoding (8-bit bytes, NUL, bare CR, lines over 998 octets),
/// whether a part may be `binary` and, for a multipart, whether its closing
/// delimiter line occurs.
struct Scan<W: Write> {
    inner: W,
    line_length: usize,
    previous: u8,
    eight_bit: bool,
    /// A CR not followed by LF.
    bare_cr: bool,
    /// `--BOUNDARY--` when the entity is a multipart.
    closing: Option<Vec<u8>>,
    /// The start of the current line, up to the closing delimiter's length.
    line_start: Vec<u8>,
    /// Whether the current line after `line_start` is all white space.
    rest_blank: bool,
    closed: bool,
    /// The start of the current line, up to [`FIELD_HEAD`] bytes.
    field_head: Vec<u8>,
    /// A line that may be `Content-Transfer-Encoding: binary` occurred.
    maybe_binary: bool,
}

impl<W: Write> Scan<W> {
    fn new(inner: W, boundary: Option<&str>) -> Scan<W> {
        Scan {
            inner,
            line_length: 0,
            previous: 0,
            eight_bit: false,
            bare_cr: false,
            closing: boundary.map(|b| [b"--", b.as_bytes(), b"--"].concat()),
            line_start: Vec::new(),
            rest_blank: true,
            closed: false,
            field_head: Vec::new(),
            maybe_binary: false,
        }
    }

    fn needs_encoding(&self) -> bool {
        self.eight_bit || self.previous == b'\r'
    }

    /// Whether the closing delimiter occurred (the last line counts even
    /// without a line break, as for `Multipart::split`).
    fn closed(&self) -> bool {
        self.closed || self.line_closes()
    }

    fn line_closes(&self) -> bool {
        self.rest_blank
            && self.closing.as_ref().is_some_and(|closing| {
                self.line_start.len() == closing.len() && self.line_start == *closing
            })
    }
}

impl<W: Write> Write for Scan<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buf)?;
        let limit = self.closing.as_ref().map_or(0, Vec::len);
        let mut rest = buf.get(..written).unwrap_or_default();
        // Line by line rather than byte by byte: the checks below run over
        // whole segments, which is what keeps large messages fast.
        while !rest.is_empty() {
            let newline = rest.iter().position(|&b| b == b'\n');
            let segment = rest
                .get(..newline.unwrap_or(rest.len()))
                .unwrap_or_default();
            // Branch-free folds, which the compiler vectorises.
            let (high, carriage_returns) =
                segment.iter().fold((false, 0usize), |(high, crs), &b| {
                    (high | (b >= 0x80) | (b == 0), crs + usize::from(b == b'\r'))
                });
            self.eight_bit |= high;
            // A CR is bare unless it is the last byte before an LF; one that
            // ended the previous write is bare unless this one starts with LF.
            if self.previous == b'\r' && !segment.is_empty() {
                self.bare_cr = true;
            }
            if carriage_returns > 1 || (carriage_returns == 1 && segment.last() != Some(&b'\r')) {
                self.bare_cr = true;
            }
            if self.bare_cr {
                self.eight_bit = true;
            }
            self.line_length += segment.len();
            if self.line_length > 998 {
                self.eight_bit = true;
            }
            let take = limit
                .saturating_sub(self.line_start.len())
                .min(segment.len());
            let (head, tail) = segment.split_at(take);
            self.line_start.extend_from_slice(head);
            let field_take = FIELD_HEAD
                .saturating_sub(self.field_head.len())
                .min(segment.len());
            self.field_head
                .extend_from_slice(segment.get(..field_take).unwrap_or_default());
            if self.rest_blank && !tail.iter().all(u8::is_ascii_whitespace) {
                self.rest_blank = false;
            }
            match newline {
                Some(at) => {
                    if self.line_closes() {
                        self.closed = true;
                    }
                    if may_name_binary(&self.field_head) {
                        self.maybe_binary = true;
                    }
                    self.field_head.clear();
                    self.line_length = 0;
                    self.line_start.clear();
                    self.rest_blank = true;
                    self.previous = b'\n';
                    rest = rest.get(at + 1..).unwrap_or_default();
                }
                None => {
                    if let Some(&last) = segment.last() {
                        self.previous = last;
                    }
                    rest = &[];
                }
            }
        }
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn scan(body: &[u8], boundary: Option<&str>) -> (bool, bool) {
        let mut results = Vec::new();
        for size in [1, 2, 3, 7, body.len().max(1)] {
            let mut scan = Scan::new(Vec::new(), boundary);
            for piece in body.chunks(size) {
                scan.write_all(piece).unwrap();
            }
            assert_eq!(scan.inner, body);
            results.push((scan.needs_encoding(), scan.closed()));
        }
        assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
        results[0]
    }

    #[test]
    fn scan_decides_like_seven_bit_safe() {
        assert_eq!(scan(b"plain\r\ntext\r\n", None), (false, false));
        assert!(scan("Grüße\r\n".as_bytes(), None).0);
        assert!(scan(b"nul\0\r\n", None).0);
        assert!(scan(b"bare\rcr\r\n", None).0);
        assert!(scan(b"ends in cr\r", None).0);
        assert!(scan(b"cr\r\r\n", None).0);
        assert!(scan(b"cr\r\nthen \r\n\rx\r\n", None).0);
        assert!(!scan(b"crlf\r\n\r\nonly\r\n", None).0);
        assert!(!scan(&[&[b'x'; 996][..], b"\r\n"].concat(), None).0);
        assert!(scan(&[&[b'x'; 998][..], b"\r\n"].concat(), None).0);
        assert!(!scan(&[b'x'; 998], None).0);
        assert!(scan(&[b'x'; 999], None).0);
    }

    #[test]
    fn scan_finds_the_closing_delimiter_on_its_own_line() {
        let b = Some("b");
        assert!(scan(b"--b\r\nx\r\n--b--\r\n", b).1);
        assert!(scan(b"--b\r\nx\r\n--b--  \r\nepilogue", b).1);
        assert!(scan(b"--b\r\nx\r\n--b--", b).1);
        assert!(!scan(b"--b\r\nx --b--\r\n", b).1);
        assert!(!scan(b"--b\r\nx\r\n--b--x\r\n", b).1);
        assert!(!scan(b"--b\r\nx\r\n--b\r\n", b).1);
        assert!(!scan(b"--b\r\nx\r\n--bb--\r\n", b).1);
    }

    #[test]
    fn binary_fields_are_noticed_in_any_spelling() {
        let binary = |body: &[u8]| {
            let mut scan = Scan::new(Vec::new(), Some("b"));
            for piece in body.chunks(5) {
                scan.write_all(piece).unwrap();
            }
            scan.maybe_binary
        };
        assert!(binary(
            b"--b\r\nContent-Transfer-Encoding: binary\r\n\r\nx\r\n"
        ));
        assert!(binary(
            b"--b\r\ncontent-transfer-encoding:BINARY  \r\n\r\nx\r\n"
        ));
        // Folded or unknown values take the exact path too.
        assert!(binary(
            b"--b\r\nContent-Transfer-Encoding:\r\n binary\r\n\r\nx\r\n"
        ));
        assert!(!binary(
            b"--b\r\nContent-Transfer-Encoding: base64\r\n\r\nAA==\r\n"
        ));
        assert!(!binary(
            b"--b\r\nContent-Transfer-Encoding: 8bit\r\n\r\nx\r\n"
        ));
        assert!(!binary(
            b"--b\r\nX-Content-Transfer-Encoding: binary\r\n\r\nx\r\n"
        ));
    }

    #[test]
    fn boundary_search_spans_reads() {
        let mut file = tempfile::tempfile().unwrap();
        let mut data = vec![b'a'; STREAM_BUFFER - 3];
        data.extend_from_slice(b"needle");
        file.write_all(&data).unwrap();
        file.seek(SeekFrom::Start(0)).unwrap();
        assert!(file_contains(&mut file, b"needle").unwrap());
        file.seek(SeekFrom::Start(0)).unwrap();
        assert!(!file_contains(&mut file, b"needles").unwrap());
    }
}
