//! Streaming forms of the transformations, for messages too large to hold in
//! memory: each adapter keeps at most a few bytes of state between writes.

use std::fs::File;
use std::io::{self, BufRead, Read, Write};

use base64ct::{Base64, Encoding};

use crate::mime::{LineBreak, MimeError, push_base64_line};

pub use crate::background_writer::{BackgroundWriter, produce_on_worker};
pub use crate::watch::Watch;

/// A new temporary file for mail in clear (a spooled entity, decrypted
/// content): it has no name, so no other process can open it and nothing
/// is left in `$TMPDIR` when this process ends, `kill -9` included; its
/// mode is `0600` whatever the umask.
///
/// On Linux this is `O_TMPFILE` in `$TMPDIR` (mode given explicitly:
/// `tempfile::tempfile()` leaves it to the umask, `0644` under the usual
/// `022`). Where the file system has no `O_TMPFILE`, a file is created
/// `0600` and unlinked before any byte is written.
///
/// ```
/// use std::io::{Read, Seek, Write};
/// use std::os::unix::fs::{MetadataExt, PermissionsExt};
///
/// let mut file = mail_message::stream::private_tempfile()?;
/// file.write_all(b"decrypted")?;
/// let metadata = file.metadata()?;
/// assert_eq!((metadata.nlink(), metadata.permissions().mode() & 0o777), (0, 0o600));
/// file.rewind()?;
/// let mut back = String::new();
/// file.read_to_string(&mut back)?;
/// assert_eq!(back, "decrypted");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn private_tempfile() -> io::Result<File> {
    let dir = std::env::temp_dir();
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let unnamed = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .mode(0o600)
            // Not combined with create: O_TMPFILE creates by itself.
            .custom_flags(rustix::fs::OFlags::TMPFILE.bits().cast_signed())
            .open(&dir);
        if let Ok(file) = unnamed {
            return Ok(file);
        }
        // No O_TMPFILE here (an old kernel, a file system without it):
        // the portable way below. A real failure (no space, no access)
        // fails there again and is reported from there.
    }
    // Created 0600 and removed from the directory at once (tempfile).
    tempfile::tempfile_in(dir)
}

/// Writes the canonical form of what passes through: every bare LF becomes
/// CRLF (as [`crate::canonicalize`] does, across write boundaries).
#[derive(Debug)]
pub struct CanonicalWriter<W: Write> {
    inner: W,
    previous: u8,
    converted: bool,
}

impl<W: Write> CanonicalWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W) -> Self {
        CanonicalWriter {
            inner,
            previous: 0,
            converted: false,
        }
    }

    /// Whether everything written so far was already canonical (went
    /// through unchanged).
    pub fn is_unchanged(&self) -> bool {
        !self.converted
    }

    /// The wrapped writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for CanonicalWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Fast path for input that is already canonical (the usual case):
        // memchr's SIMD search finds every LF, none is bare, and the buffer
        // goes through as it is.
        let bare_lf = memchr::memchr_iter(b'\n', buf).any(|at| {
            let before = match at.checked_sub(1) {
                Some(index) => buf.get(index).copied(),
                None => Some(self.previous),
            };
            before != Some(b'\r')
        });
        if !bare_lf {
            self.inner.write_all(buf)?;
            if let Some(&last) = buf.last() {
                self.previous = last;
            }
            return Ok(buf.len());
        }
        self.converted = true;
        let mut start = 0;
        for (index, &byte) in buf.iter().enumerate() {
            let previous = if index == 0 {
                self.previous
            } else {
                buf.get(index - 1).copied().unwrap_or_default()
            };
            if byte == b'\n' && previous != b'\r' {
                self.inner
                    .write_all(buf.get(start..index).unwrap_or_default())?;
                self.inner.write_all(b"\r")?;
                start = index;
            }
        }
        self.inner.write_all(buf.get(start..).unwrap_or_default())?;
        if let Some(&last) = buf.last() {
            self.previous = last;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes CRLF line breaks as `line_break` (the streaming
/// [`crate::with_line_breaks`]); call [`LineBreakWriter::finish`] at the end.
#[derive(Debug)]
pub struct LineBreakWriter<W: Write> {
    inner: W,
    line_break: LineBreak,
    pending_cr: bool,
}

impl<W: Write> LineBreakWriter<W> {
    /// Wraps `inner`.
    pub fn new(inner: W, line_break: LineBreak) -> Self {
        LineBreakWriter {
            inner,
            line_break,
            pending_cr: false,
        }
    }

    /// Writes a trailing lone CR, if any, and returns the wrapped writer.
    pub fn finish(mut self) -> io::Result<W> {
        if self.pending_cr {
            self.inner.write_all(b"\r")?;
        }
        Ok(self.inner)
    }
}

impl<W: Write> Write for LineBreakWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.line_break == LineBreak::Crlf {
            self.inner.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut out = Vec::with_capacity(buf.len() + 1);
        for &byte in buf {
            if self.pending_cr {
                self.pending_cr = false;
                if byte != b'\n' {
                    out.push(b'\r');
                }
            }
            if byte == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(byte);
            }
        }
        self.inner.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Base64 in lines of 76 characters, as mail carries it; call
/// [`Base64Writer::finish`] at the end.
#[derive(Debug)]
pub struct Base64Writer<W: Write> {
    inner: W,
    line_break: LineBreak,
    /// Whether the data is public: see [`Base64Writer::for_public_data`].
    public: bool,
    /// Input short of a whole line.
    pending: Vec<u8>,
    /// Encoded lines not yet written: `inner` gets them in large writes.
    encoded: Vec<u8>,
}

/// Input bytes per output line (57 bytes make 76 characters).
const LINE_INPUT: usize = 57;
/// Encoded lines gathered before they are written.
const ENCODED_BUFFER: usize = 64 * 1024;

impl<W: Write> Base64Writer<W> {
    /// Wraps `inner`, encoding in constant time (`base64ct`: memory
    /// accesses do not depend on the data), as plaintext deserves.
    pub fn new(inner: W, line_break: LineBreak) -> Self {
        Base64Writer {
            inner,
            line_break,
            public: false,
            pending: Vec::with_capacity(LINE_INPUT),
            encoded: Vec::with_capacity(ENCODED_BUFFER + 80),
        }
    }

    /// Wraps `inner` for data that is public anyway (ciphertext,
    /// signatures): a table-driven encoder, about twice as fast, whose
    /// memory accesses depend on the data. The output is the same.
    pub fn for_public_data(inner: W, line_break: LineBreak) -> Self {
        Base64Writer {
            public: true,
            ..Base64Writer::new(inner, line_break)
        }
    }

    fn write_encoded(&mut self) -> io::Result<()> {
        self.inner.write_all(&self.encoded)?;
        self.encoded.clear();
        Ok(())
    }

    /// Encodes the pending input as a line of its own.
    fn encode_pending(&mut self) {
        push_base64_line(
            &mut self.encoded,
            &self.pending,
            self.line_break,
            self.public,
        );
        self.pending.clear();
    }

    /// Writes the last, shorter line and returns the wrapped writer.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.pending.is_empty() {
            self.encode_pending();
        }
        self.write_encoded()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for Base64Writer<W> {
    fn write(&mut self, mut buf: &[u8]) -> io::Result<usize> {
        let written = buf.len();
        if !self.pending.is_empty() {
            let take = (LINE_INPUT - self.pending.len()).min(buf.len());
            let (head, rest) = buf.split_at(take);
            self.pending.extend_from_slice(head);
            buf = rest;
            if self.pending.len() == LINE_INPUT {
                self.encode_pending();
            }
        }
        let mut lines = buf.chunks_exact(LINE_INPUT);
        for chunk in &mut lines {
            push_base64_line(&mut self.encoded, chunk, self.line_break, self.public);
            if self.encoded.len() >= ENCODED_BUFFER {
                self.write_encoded()?;
            }
        }
        self.pending.extend_from_slice(lines.remainder());
        if self.encoded.len() >= ENCODED_BUFFER {
            self.write_encoded()?;
        }
        Ok(written)
    }

    /// Writes the whole lines encoded so far (a partial line waits for
    /// more input or [`Base64Writer::finish`]).
    fn flush(&mut self) -> io::Result<()> {
        self.write_encoded()?;
        self.inner.flush()
    }
}

/// Decodes base64 as mail carries it (lines, whitespace) from a reader.
#[derive(Debug)]
pub struct Base64Reader<R: BufRead> {
    inner: R,
    quad: Vec<u8>,
    decoded: Vec<u8>,
    position: usize,
    finished: bool,
}

impl<R: BufRead> Base64Reader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        Base64Reader {
            inner,
            quad: Vec::with_capacity(4096),
            decoded: Vec::new(),
            position: 0,
            finished: false,
        }
    }

    /// Decodes the next run of input into `decoded`.
    fn refill(&mut self) -> io::Result<()> {
        self.decoded.clear();
        self.position = 0;
        while self.decoded.is_empty() && !self.finished {
            let available = self.inner.fill_buf()?;
            if available.is_empty() {
                self.finished = true;
            }
            let consumed = available.len();
            self.quad.extend(
                available
                    .iter()
                    .copied()
                    .filter(|b| !b.is_ascii_whitespace()),
            );
            self.inner.consume(consumed);
            // Decode whole groups of four; keep the rest for the next round,
            // except at the end, where everything must decode.
            let usable = if self.finished {
                self.quad.len()
            } else {
                self.quad.len() - self.quad.len() % 4
            };
            if usable > 0 {
                let text = std::str::from_utf8(self.quad.get(..usable).unwrap_or_default())
                    .map_err(|_| invalid())?;
                self.decoded = Base64::decode_vec(text).map_err(|_| invalid())?;
                self.quad.drain(..usable);
            }
        }
        Ok(())
    }
}

fn invalid() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, MimeError::Base64)
}

impl<R: BufRead> Read for Base64Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.decoded.len() {
            self.refill()?;
        }
        let count = self
            .decoded
            .get(self.position..)
            .unwrap_or_default()
            .read(buf)?;
        self.position += count;
        Ok(count)
    }
}

/// Reads a message's header section (up to and including the empty line that
/// ends it) from `reader`, refusing more than `limit` bytes.
pub fn read_header_section(reader: &mut impl BufRead, limit: usize) -> io::Result<Vec<u8>> {
    let mut header = Vec::new();
    loop {
        let start = header.len();
        let remaining = (limit + 1).saturating_sub(start) as u64;
        let read = reader
            .by_ref()
            .take(remaining)
            .read_until(b'\n', &mut header)?;
        if read == 0 {
            return Ok(header); // all header, no body
        }
        if header.len() > limit {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("header section longer than {limit} bytes"),
            ));
        }
        let line = header.get(start..).unwrap_or_default();
        if line == b"\n" || line == b"\r\n" {
            return Ok(header);
        }
    }
}

/// The streaming [`crate::Envelope::rebuild`]: writes `outer_header` (from
/// [`crate::Entity::outer_header`], which ends with `MIME-Version`), then
/// the canonical entity that `entity` reads, without its own `MIME-Version`
/// field, in the `line_break` style. Header sections longer than 1 MiB are
/// refused.
///
/// ```
/// use mail_message::{Entity, LineBreak, stream::write_rebuilt};
///
/// let message = Entity::parse(b"From: a@example.org\nContent-Type: text/plain\n\nold\n")?;
/// let mut out = Vec::new();
/// let entity = b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nnew\r\n";
/// write_rebuilt(&message.outer_header(), LineBreak::Lf, &entity[..], &mut out)?;
/// assert_eq!(out, b"From: a@example.org\nMIME-Version: 1.0\nContent-Type: text/plain\n\nnew\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_rebuilt(
    outer_header: &[u8],
    line_break: LineBreak,
    entity: impl Read,
    output: &mut impl Write,
) -> io::Result<()> {
    let mut reader = io::BufReader::with_capacity(64 * 1024, entity);
    let header = read_header_section(&mut reader, 1024 * 1024)?;
    output.write_all(outer_header)?;
    let mut body = LineBreakWriter::new(output, line_break);
    match crate::Entity::parse(&header) {
        Ok(entity) => {
            for field in entity.fields() {
                if !field.is("mime-version") {
                    body.write_all(field.raw())?;
                }
            }
            if header.ends_with(b"\r\n\r\n") || header == b"\r\n" {
                body.write_all(b"\r\n")?;
            }
        }
        Err(_) => body.write_all(&header)?,
    }
    io::copy(&mut reader, &mut body)?;
    body.finish()?;
    Ok(())
}

/// A message a streaming operation holds back until its caller decides to
/// release it: nothing, a message in memory, or the outer header fields
/// plus an entity in a temporary file, written as [`write_rebuilt`] does.
#[derive(Debug)]
pub enum HeldMessage {
    /// Nothing to release.
    Nothing,
    /// A whole message in memory.
    InMemory(Vec<u8>),
    /// Outer header fields (from [`crate::Entity::outer_header`]) and an
    /// entity spooled to a file.
    Spooled {
        /// The outer header fields, ending with `MIME-Version`.
        outer_header: Vec<u8>,
        /// The line-break style to write in.
        line_break: LineBreak,
        /// The entity; read from its start.
        entity: File,
        /// Whether the entity is canonical (CRLF) already; if not, it is
        /// canonicalised on the way out, as [`crate::Envelope::rebuild`]
        /// does.
        canonical: bool,
    },
}

/// The report of a verification read from a stream (S/MIME's or
/// OpenPGP's `Verification`, `V`), with the signed content held back in a
/// temporary file: the one shape both engines return from
/// `verify_message_spooled`, so callers treat them alike.
///
/// What it holds is the message with the signature layer removed, and only
/// when the verdict releases it ([`crate::Verdict::releases_content`]):
/// the rule is kept here, once for both engines.
#[derive(Debug)]
pub struct SpooledVerification<V> {
    verification: V,
    unwrapped: HeldMessage,
}

impl<V> SpooledVerification<V> {
    /// The report `verification`, whose verdict is `verdict`, holding
    /// `unwrapped` back when that verdict releases content; otherwise
    /// `unwrapped` is dropped here (a temporary file with it).
    pub fn new(
        verification: V,
        verdict: crate::Verdict,
        unwrapped: HeldMessage,
    ) -> SpooledVerification<V> {
        let unwrapped = if verdict.releases_content() {
            unwrapped
        } else {
            HeldMessage::Nothing
        };
        SpooledVerification {
            verification,
            unwrapped,
        }
    }

    /// The report: coverage, signatures, verdict. Its own unwrapped
    /// message is `None` on the streaming path (the content stays in the
    /// temporary file): use [`SpooledVerification::write_unwrapped`].
    pub fn verification(&self) -> &V {
        &self.verification
    }

    /// Whether [`SpooledVerification::write_unwrapped`] has a message to
    /// write: the whole message is covered and every signature holds.
    pub fn has_unwrapped(&self) -> bool {
        self.unwrapped.is_some()
    }

    /// Writes the message with the signature layer removed (outer header
    /// fields and the signed entity) to `output`, when there is one;
    /// returns whether it wrote anything.
    pub fn write_unwrapped(self, output: impl Write) -> io::Result<bool> {
        self.unwrapped.write_to(output)
    }
}

impl HeldMessage {
    /// The message whose header section is `message`'s, rebuilt around the
    /// inner entity in `entity` ([`HeldMessage::Spooled`]), in `message`'s
    /// line-break style; `canonical` says whether `entity` is CRLF already.
    pub fn spooled(message: &crate::Entity<'_>, entity: File, canonical: bool) -> HeldMessage {
        HeldMessage::Spooled {
            outer_header: message.outer_header(),
            line_break: message.line_break(),
            entity,
            canonical,
        }
    }

    /// Whether there is a message to release.
    pub fn is_some(&self) -> bool {
        !matches!(self, HeldMessage::Nothing)
    }

    /// Writes the message to `output`; returns whether there was one.
    pub fn write_to(self, mut output: impl Write) -> io::Result<bool> {
        match self {
            HeldMessage::Nothing => return Ok(false),
            HeldMessage::InMemory(message) => output.write_all(&message)?,
            HeldMessage::Spooled {
                outer_header,
                line_break,
                mut entity,
                canonical,
            } => {
                use std::io::{Seek, SeekFrom};
                entity.seek(SeekFrom::Start(0))?;
                let reader = io::BufReader::with_capacity(64 * 1024, entity);
                if canonical {
                    write_rebuilt(&outer_header, line_break, reader, &mut output)?;
                } else {
                    write_rebuilt(
                        &outer_header,
                        line_break,
                        CanonicalReader::new(reader),
                        &mut output,
                    )?;
                }
            }
        }
        output.flush()?;
        Ok(true)
    }
}

/// Reads what the wrapped reader gives in canonical form (every bare LF
/// becomes CRLF), as [`CanonicalWriter`] writes it.
struct CanonicalReader<R: BufRead> {
    inner: R,
    previous: u8,
    /// An LF owed after a CR was inserted at the end of the last read.
    pending_lf: bool,
}

impl<R: BufRead> CanonicalReader<R> {
    fn new(inner: R) -> Self {
        CanonicalReader {
            inner,
            previous: 0,
            pending_lf: false,
        }
    }
}

impl<R: BufRead> Read for CanonicalReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut written = 0;
        if self.pending_lf {
            let Some(slot) = out.first_mut() else {
                return Ok(0);
            };
            *slot = b'\n';
            self.pending_lf = false;
            self.previous = b'\n';
            written = 1;
        }
        let available = self.inner.fill_buf()?;
        let mut consumed = 0;
        for &byte in available {
            if written >= out.len() {
                break;
            }
            if byte == b'\n' && self.previous != b'\r' {
                if let Some(slot) = out.get_mut(written) {
                    *slot = b'\r';
                }
                written += 1;
                match out.get_mut(written) {
                    Some(slot) => {
                        *slot = b'\n';
                        written += 1;
                    }
                    None => self.pending_lf = true,
                }
            } else if let Some(slot) = out.get_mut(written) {
                *slot = byte;
                written += 1;
            }
            self.previous = byte;
            consumed += 1;
        }
        self.inner.consume(consumed);
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn canonical_reader_matches_canonicalize_at_every_read_size() {
        let input = b"a\nb\r\nc\rd\n\n\r\n\nend\n";
        for buffer in 1..8 {
            for read_size in 1..5 {
                let mut reader =
                    CanonicalReader::new(io::BufReader::with_capacity(buffer, &input[..]));
                let mut out = Vec::new();
                let mut chunk = vec![0u8; read_size];
                loop {
                    let n = reader.read(&mut chunk).unwrap();
                    if n == 0 {
                        break;
                    }
                    out.extend_from_slice(&chunk[..n]);
                }
                assert_eq!(out, crate::canonicalize(input), "{buffer} {read_size}");
            }
        }
    }

    #[test]
    fn held_messages_are_written_as_rebuild_writes_them() {
        use std::io::Seek;
        let message = b"From: a@example.org\nContent-Type: text/plain\n\nold\n";
        let envelope = crate::Envelope::split(message).unwrap();
        let entity = b"Content-Type: text/plain\n\nnew\nlines\r\n";
        for canonical in [false, true] {
            let mut file = tempfile::tempfile().unwrap();
            let spooled: Vec<u8> = if canonical {
                crate::canonicalize(entity)
            } else {
                entity.to_vec()
            };
            file.write_all(&spooled).unwrap();
            file.rewind().unwrap();
            let held = HeldMessage::Spooled {
                outer_header: envelope.message().outer_header(),
                line_break: LineBreak::Lf,
                entity: file,
                canonical,
            };
            assert!(held.is_some());
            let mut out = Vec::new();
            assert!(held.write_to(&mut out).unwrap());
            assert_eq!(out, envelope.rebuild(entity));
        }
        assert!(!HeldMessage::Nothing.write_to(Vec::new()).unwrap());
    }

    #[test]
    fn adapters_match_the_in_memory_forms_at_every_split() {
        let text = b"a\nb\r\nc\rd\n\n\r\ne".to_vec();
        for split in 0..=text.len() {
            let (left, right) = text.split_at(split);
            let mut canonical = CanonicalWriter::new(Vec::new());
            canonical.write_all(left).unwrap();
            canonical.write_all(right).unwrap();
            assert_eq!(
                canonical.into_inner(),
                crate::canonicalize(&text),
                "split {split}"
            );

            let crlf = crate::canonicalize(&text);
            let (left, right) = crlf.split_at(split.min(crlf.len()));
            let mut lf = LineBreakWriter::new(Vec::new(), LineBreak::Lf);
            lf.write_all(left).unwrap();
            lf.write_all(right).unwrap();
            assert_eq!(
                lf.finish().unwrap(),
                crate::with_line_breaks(&crlf, LineBreak::Lf)
            );
        }
    }

    #[test]
    fn base64_round_trips_in_pieces() {
        // More than the encoded-line buffer holds, in pieces of every kind.
        let data: Vec<u8> = (0..150_000u32).map(|i| (i * 7 % 256) as u8).collect();
        for (piece, line_break) in [
            (1, LineBreak::Crlf),
            (3, LineBreak::Lf),
            (56, LineBreak::Crlf),
            (57, LineBreak::Crlf),
            (58, LineBreak::Lf),
            (400, LineBreak::Crlf),
            (70_001, LineBreak::Crlf),
        ] {
            let mut writer = Base64Writer::new(Vec::new(), line_break);
            let mut public = Base64Writer::for_public_data(Vec::new(), line_break);
            for chunk in data.chunks(piece) {
                writer.write_all(chunk).unwrap();
                public.write_all(chunk).unwrap();
            }
            let encoded = writer.finish().unwrap();
            assert_eq!(encoded, crate::encode_base64(&data, line_break), "{piece}");
            assert_eq!(public.finish().unwrap(), encoded, "{piece}");
            let mut decoded = Vec::new();
            Base64Reader::new(io::BufReader::with_capacity(piece.max(2), &encoded[..]))
                .read_to_end(&mut decoded)
                .unwrap();
            assert_eq!(decoded, data);
        }
        let mut out = Vec::new();
        assert!(
            Base64Reader::new(&b"QUJD*A=="[..])
                .read_to_end(&mut out)
                .is_err()
        );
    }

    #[test]
    fn header_sections_end_at_the_empty_line() {
        let mut input = &b"From: a\r\n b\r\n\r\nbody\r\n"[..];
        assert_eq!(
            read_header_section(&mut input, 100).unwrap(),
            b"From: a\r\n b\r\n\r\n"
        );
        assert_eq!(input, b"body\r\n");
        let mut long = &b"X: aaaaaaaaaaaaaaaaaaaa\n\n"[..];
        assert!(read_header_section(&mut long, 10).is_err());
    }
}
