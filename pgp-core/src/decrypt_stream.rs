//! Decrypting PGP/MIME `multipart/encrypted` messages in memory that does
//! not grow with the message.
//!
//! The message is read once: the header section is kept, the armored
//! payload (the second part, RFC 3156 section 4) streams into Sequoia's
//! decryptor, and the plaintext goes, in canonical form, to an anonymous
//! temporary file. Only when the whole OpenPGP message has been read, its
//! integrity check (MDC or AEAD tags) has passed and its signatures are
//! checked does [`SpooledDecryption`] exist; the caller then decides
//! whether to release the plaintext ([`SpooledDecryption::write_message`]).
//! Other structures (inline blocks, encrypted parts nested in other parts)
//! are decrypted in memory by [`Decryptor::decrypt_message`].

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use mail_message::stream::{Base64Reader, CanonicalWriter, read_header_section};
use mail_message::{BinaryFieldScan, Entity, LineBreak, MAX_REENCODE_IN_MEMORY};
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::parse::stream::DecryptorBuilder;
use zeroize::{Zeroize, Zeroizing};

use crate::decryption::{Decryptor, Helper, Protection, check_outcome};
use crate::error::Error;
use crate::framing::Framed;
use crate::guard;
use crate::pgp_mime::{MAX_HEADER, STREAM_BUFFER};
use crate::verification::{Coverage, Verification};

/// Decrypted spools up to this size are verified (RFC 3156 section 6.1,
/// inline signatures) exactly as in memory; larger ones only when they
/// show a signature marker in their raw text.
const IN_MEMORY_VERIFY: u64 = 8 * 1024 * 1024;

/// A decrypted message held back until the caller releases it: the
/// plaintext passed its integrity check, the report is complete.
#[derive(Debug)]
pub struct SpooledDecryption {
    /// The outer header fields (in the message's line-break style, with
    /// `MIME-Version: 1.0`).
    outer_header: Vec<u8>,
    line_break: LineBreak,
    body: Body,
    coverage: Coverage,
    verification: Verification,
    protection: Protection,
}

#[derive(Debug)]
enum Body {
    /// The canonical decrypted entity, in a temporary file.
    Spool(File),
    /// A whole decrypted message (outer fields and entity), from the
    /// in-memory path.
    Message(Zeroizing<Vec<u8>>),
}

impl SpooledDecryption {
    /// How much of the message was encrypted.
    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }

    /// The signatures inside (see [`crate::Decrypted::verification`]).
    pub fn verification(&self) -> &Verification {
        &self.verification
    }

    /// Which key decrypted it, with which cipher.
    pub fn protection(&self) -> &Protection {
        &self.protection
    }

    /// Writes the decrypted message (outer header fields, then the
    /// decrypted entity, in the input's line-break style) to `output`.
    pub fn write_message(self, mut output: impl Write) -> Result<(), Error> {
        match self.body {
            Body::Message(message) => output.write_all(&message)?,
            Body::Spool(file) => {
                write_entity(&self.outer_header, self.line_break, file, &mut output)?;
            }
        }
        output.flush()?;
        Ok(())
    }
}

/// The decrypted entity on its way to the canonical spool: also scanned
/// for a `binary` part, and copied while it fits in
/// [`MAX_REENCODE_IN_MEMORY`] bytes so such a part can be re-encoded.
struct Plaintext<W: Write> {
    canonical: CanonicalWriter<W>,
    scan: BinaryFieldScan,
    copy: Option<PlaintextCopy>,
}

/// The copy of the plaintext, reserved once at its full size. On drop only
/// its written bytes are zeroized: the vector never reallocates, so the spare
/// capacity never held plaintext, and zeroizing it (as `Zeroizing<Vec<u8>>`
/// does) wrote all 4 MiB of the reservation for every message, however
/// small: most of the time of a small inbound mail (issue 16, fuzzing
/// campaign).
struct PlaintextCopy(Vec<u8>);

impl Drop for PlaintextCopy {
    fn drop(&mut self) {
        self.0.as_mut_slice().zeroize();
    }
}

impl<W: Write> Plaintext<W> {
    fn new(canonical: CanonicalWriter<W>) -> Self {
        Plaintext {
            canonical,
            scan: BinaryFieldScan::default(),
            // Reserved at once: a growing vector would leave copies of
            // plaintext behind that are never zeroized (untouched pages of
            // the reservation cost no memory).
            copy: Some(PlaintextCopy(Vec::with_capacity(
                MAX_REENCODE_IN_MEMORY as usize,
            ))),
        }
    }
}

impl<W: Write> Write for Plaintext<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.canonical.write(buf)?;
        let passed = buf.get(..written).unwrap_or_default();
        self.scan.write_all(passed)?;
        if let Some(copy) = &mut self.copy {
            if (copy.0.len() + passed.len()) as u64 > MAX_REENCODE_IN_MEMORY {
                self.copy = None;
            } else {
                copy.0.extend_from_slice(passed);
            }
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.canonical.flush()
    }
}

/// Writes `outer_header`, then the canonical entity spooled in `file`
/// without its own `MIME-Version` field, in the `line_break` style.
pub(crate) fn write_entity(
    outer_header: &[u8],
    line_break: LineBreak,
    mut file: File,
    output: &mut impl Write,
) -> Result<(), Error> {
    file.seek(SeekFrom::Start(0))?;
    mail_message::stream::write_rebuilt(outer_header, line_break, file, output)?;
    Ok(())
}

impl Decryptor {
    /// Decrypts a message read from `input` in bounded memory, holding the
    /// plaintext back in a temporary file until everything is checked.
    ///
    /// A top-level PGP/MIME `multipart/encrypted` message streams (the
    /// plaintext, up to [`Decryptor::with_max_plaintext`], goes to disk);
    /// any other structure (inline blocks, nested parts) is read into
    /// memory, at most [`Decryptor::with_max_in_memory`] bytes of message
    /// and again of plaintext, and decrypted by
    /// [`Decryptor::decrypt_message`], with the same result. Beyond
    /// either limit it stops with [`Error::TooLarge`] or
    /// [`Error::InMemoryLimit`] while reading.
    ///
    /// ```
    /// # let bob = testkit::openpgp_key("Bob <bob@example.net>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
    /// use pgp_core::{Decryptor, Encryptor, Verdict};
    ///
    /// let encrypted = Encryptor::new([bob.cert().clone()])
    ///     .encrypt_message(b"From: a@example.org\r\n\r\nhi\r\n")?;
    /// let spooled = Decryptor::new([bob.cert().clone()]).decrypt_message_spooled(&encrypted[..])?;
    /// assert_eq!(spooled.verification().verdict(), Verdict::Unsigned);
    /// let mut message = Vec::new();
    /// spooled.write_message(&mut message)?;
    /// assert_eq!(message, b"From: a@example.org\r\nMIME-Version: 1.0\r\n\r\nhi\r\n");
    /// # Ok::<(), pgp_core::Error>(())
    /// ```
    pub fn decrypt_message_spooled(
        &self,
        input: impl Read + Send + Sync,
    ) -> Result<SpooledDecryption, Error> {
        let mut reader = BufReader::with_capacity(STREAM_BUFFER, input);
        let header = read_header_section(&mut reader, MAX_HEADER)?;
        let entity = Entity::parse(&header)?;
        let content_type = entity.content_type()?;
        let streamable = content_type.mime_type() == "multipart/encrypted"
            && content_type
                .parameter("protocol")
                .is_some_and(|p| p.eq_ignore_ascii_case("application/pgp-encrypted"));
        let boundary = content_type.parameter("boundary").map(str::to_owned);
        let (true, Some(boundary)) = (streamable, boundary) else {
            return self.decrypt_in_memory(&header, reader);
        };
        let payload = PayloadReader::new(reader, &boundary, 2);
        let mut payload = BufReader::with_capacity(STREAM_BUFFER, payload);
        let part_header = read_header_section(&mut payload, MAX_HEADER)?;
        let part = Entity::parse(&part_header)?;
        let armored: Box<dyn Read + Send + Sync> =
            if part.transfer_encoding().eq_ignore_ascii_case("base64") {
                Box::new(Base64Reader::new(payload))
            } else {
                Box::new(payload)
            };

        let mut helper = Helper::new(self);
        let spool = mail_message::stream::private_tempfile()?;
        let mut sink = Plaintext::new(CanonicalWriter::new(BufWriter::with_capacity(
            STREAM_BUFFER,
            spool,
        )));
        let limit = self.max_plaintext;
        let (binary, framing) = Framed::new(crate::armor::dearmor(BufReader::with_capacity(
            STREAM_BUFFER,
            armored,
        ))?);
        let outcome = guard::sequoia(|| {
            DecryptorBuilder::from_reader(binary)
                .map(|b| b.buffer_size(STREAM_BUFFER))
                .and_then(|b| {
                    b.with_policy(self.verifier.policy(), self.verifier.time(), &mut helper)
                })
                .and_then(|d| Ok(io::copy(&mut d.take(limit.saturating_add(1)), &mut sink)?))
        })
        .map_err(|reason| Error::Decryption { reason })?;
        let written = check_outcome(outcome, &framing, &mut helper)?;
        if written > limit {
            return Err(Error::TooLarge { limit });
        }
        let Plaintext {
            canonical,
            scan,
            copy,
        } = sink;
        let mut spool = canonical
            .into_inner()
            .into_inner()
            .map_err(|error| Error::Io(error.into_error()))?;
        let mut written = written;
        // A peer's `binary` part goes out as base64 of its exact bytes, as
        // `decrypt_message` delivers it, when the entity was small enough
        // to keep a copy of.
        if let (true, Some(copy)) = (scan.found(), copy) {
            let entity = Zeroizing::new(mail_message::canonicalize(
                &mail_message::without_binary_parts(&copy.0),
            ));
            spool = mail_message::stream::private_tempfile()?;
            spool.write_all(&entity)?;
            spool.seek(SeekFrom::Start(0))?;
            written = entity.len() as u64;
        }
        let protection = helper.protection();
        let signatures = std::mem::take(&mut helper.recorder.results);
        let verification = if signatures.is_empty() {
            self.verify_spooled(&mut spool, &header, written)?
        } else {
            Verification::new(Coverage::Whole, signatures, &entity, None, &self.verifier)
        };
        Ok(SpooledDecryption {
            outer_header: entity.outer_header(),
            line_break: entity.line_break(),
            body: Body::Spool(spool),
            coverage: Coverage::Whole,
            verification,
            protection,
        })
    }

    /// Any structure other than top-level `multipart/encrypted`.
    fn decrypt_in_memory(
        &self,
        header: &[u8],
        mut rest: impl Read,
    ) -> Result<SpooledDecryption, Error> {
        let limit = self.max_in_memory.min(self.max_plaintext);
        let mut message = Zeroizing::new(header.to_vec());
        rest.by_ref()
            .take(limit.saturating_add(1))
            .read_to_end(&mut message)?;
        if message.len() as u64 > limit.saturating_add(header.len() as u64) {
            return Err(if limit < self.max_plaintext {
                Error::InMemoryLimit { limit }
            } else {
                Error::TooLarge { limit }
            });
        }
        let decrypted = self.decrypt_message(&message)?;
        let entity = Entity::parse(header)?;
        Ok(SpooledDecryption {
            outer_header: entity.outer_header(),
            line_break: entity.line_break(),
            coverage: decrypted.coverage().clone(),
            verification: decrypted.verification().clone(),
            protection: decrypted.protection().clone(),
            body: Body::Message(Zeroizing::new(decrypted.message().to_vec())),
        })
    }

    /// No signature inside the OpenPGP message: the decrypted entity may
    /// be a signed one (RFC 3156 section 6.1) or hold an inline signature.
    fn verify_spooled(
        &self,
        spool: &mut File,
        header: &[u8],
        length: u64,
    ) -> Result<Verification, Error> {
        let entity = Entity::parse(header)?;
        if length > IN_MEMORY_VERIFY && !has_signature_marker(spool)? {
            return Ok(Verification::unsigned(&entity));
        }
        spool.seek(SeekFrom::Start(0))?;
        if length > self.max_in_memory {
            // Too large to hold: a signed entity (section 6.1) is verified
            // as a stream; an inline signature in so much text is not
            // looked for (it would have to be held).
            return self.verify_spooled_stream(spool, &entity);
        }
        // The decrypted message as `Decryptor::decrypt_message` verifies
        // it: the outer fields, then the decrypted entity (canonical).
        let mut message = Zeroizing::new(mail_message::canonicalize(&entity.outer_header()));
        spool.take(self.max_plaintext).read_to_end(&mut message)?;
        self.verifier.verify_message(&message)
    }
}

impl Decryptor {
    /// The decrypted entity in `spool`, too large for memory: verified as
    /// a stream when it is `multipart/signed`, else reported unsigned.
    fn verify_spooled_stream(
        &self,
        spool: &mut File,
        entity: &Entity<'_>,
    ) -> Result<Verification, Error> {
        let inner = read_header_section(
            &mut BufReader::with_capacity(STREAM_BUFFER, &mut *spool),
            MAX_HEADER,
        )?;
        let signed = Entity::parse(&inner)?
            .content_type()
            .is_ok_and(|t| t.mime_type().eq_ignore_ascii_case("multipart/signed"));
        if !signed {
            return Ok(Verification::unsigned(entity));
        }
        spool.seek(SeekFrom::Start(0))?;
        let outer = mail_message::canonicalize(&entity.outer_header());
        let message = io::Cursor::new(outer)
            .chain(BufReader::with_capacity(STREAM_BUFFER, spool.try_clone()?));
        Ok(self
            .verifier
            .verify_message_spooled(message)?
            .verification()
            .clone())
    }
}

/// Whether the raw decrypted text names a PGP/MIME signature or holds a
/// cleartext-signed block (case-insensitive, across read boundaries).
fn has_signature_marker(spool: &mut File) -> Result<bool, Error> {
    // Both markers hold a `-`, which is rare in the bulk of mail (base64
    // has none): candidates are found with memchr, then compared.
    const MARKERS: [(&[u8], usize); 2] = [
        (b"application/pgp-signature", 15),
        (b"-----begin pgp signed message", 0),
    ];
    const OVERLAP: usize = 32;
    spool.seek(SeekFrom::Start(0))?;
    let mut reader = BufReader::with_capacity(STREAM_BUFFER, spool);
    let mut window: Vec<u8> = Vec::with_capacity(STREAM_BUFFER + OVERLAP);
    loop {
        let chunk = reader.fill_buf()?;
        if chunk.is_empty() {
            return Ok(false);
        }
        let read = chunk.len();
        window.extend_from_slice(chunk);
        reader.consume(read);
        let found = memchr::memchr_iter(b'-', &window).any(|dash| {
            MARKERS.iter().any(|(marker, at)| {
                dash.checked_sub(*at)
                    .and_then(|start| window.get(start..start + marker.len()))
                    .is_some_and(|candidate| candidate.eq_ignore_ascii_case(marker))
            })
        });
        if found {
            return Ok(true);
        }
        let keep = window.len().saturating_sub(OVERLAP);
        window.drain(..keep);
    }
}

/// The raw bytes of one part of a multipart body (header fields and body),
/// read line by line without holding more than a line.
struct PayloadReader<R: BufRead> {
    inner: R,
    /// `--` and the boundary.
    delimiter: Vec<u8>,
    /// The part wanted (1-based).
    wanted: usize,
    /// The part being read (0: preamble).
    current: usize,
    done: bool,
    at_line_start: bool,
    line: Vec<u8>,
    position: usize,
}

/// Lines longer than this are passed on in pieces; no delimiter line is
/// that long (RFC 2046: boundaries have at most 70 characters).
const MAX_LINE: u64 = 8 * 1024;

impl<R: BufRead> PayloadReader<R> {
    fn new(inner: R, boundary: &str, wanted: usize) -> PayloadReader<R> {
        PayloadReader {
            inner,
            delimiter: format!("--{boundary}").into_bytes(),
            wanted,
            current: 0,
            done: false,
            at_line_start: true,
            line: Vec::new(),
            position: 0,
        }
    }

    /// Reads the next line (or piece of a long line) of the wanted part
    /// into `self.line`; an empty line buffer means the part has ended.
    fn next_line(&mut self) -> io::Result<()> {
        self.line.clear();
        self.position = 0;
        while !self.done {
            let mut line = Vec::new();
            let read = self
                .inner
                .by_ref()
                .take(MAX_LINE)
                .read_until(b'\n', &mut line)?;
            if read == 0 {
                self.done = true;
                break;
            }
            let line_start = self.at_line_start;
            self.at_line_start = line.ends_with(b"\n");
            if line_start && let Some(rest) = line.strip_prefix(self.delimiter.as_slice()) {
                let rest = trim_end(rest);
                if rest == b"--" {
                    self.done = true;
                    break;
                }
                if rest.is_empty() {
                    self.current += 1;
                    if self.current > self.wanted {
                        self.done = true;
                    }
                    continue;
                }
            }
            if self.current == self.wanted {
                self.line = line;
                return Ok(());
            }
        }
        Ok(())
    }
}

fn trim_end(bytes: &[u8]) -> &[u8] {
    let end = bytes
        .iter()
        .rposition(|b| !b" \t\r\n".contains(b))
        .map_or(0, |i| i + 1);
    bytes.get(..end).unwrap_or_default()
}

impl<R: BufRead> Read for PayloadReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.position >= self.line.len() {
            self.next_line()?;
        }
        let count = self
            .line
            .get(self.position..)
            .unwrap_or_default()
            .read(buf)?;
        self.position += count;
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn payload_reader_yields_exactly_the_wanted_part() {
        let body = b"preamble\r\n--B\r\nContent-Type: a\r\n\r\none\r\n--B  \r\nContent-Type: b\r\n\r\ntwo\r\n--Bx\r\nstill two\r\n--B--\r\nepilogue\r\n--B\r\nnot a part\r\n";
        for wanted in [1, 2, 3] {
            let mut out = Vec::new();
            PayloadReader::new(&body[..], "B", wanted)
                .read_to_end(&mut out)
                .unwrap();
            let expected: &[u8] = match wanted {
                1 => b"Content-Type: a\r\n\r\none\r\n",
                2 => b"Content-Type: b\r\n\r\ntwo\r\n--Bx\r\nstill two\r\n",
                _ => b"",
            };
            assert_eq!(out, expected, "part {wanted}");
        }
    }

    #[test]
    fn payload_reader_passes_long_lines_in_pieces() {
        let long = vec![b'x'; 3 * MAX_LINE as usize + 5];
        let mut body = b"--B\r\n\r\n".to_vec();
        body.extend_from_slice(&long);
        body.extend_from_slice(b"--B--\r\n\r\n--B--\r\n");
        let mut out = Vec::new();
        PayloadReader::new(&body[..], "B", 1)
            .read_to_end(&mut out)
            .unwrap();
        // A delimiter glued to the end of a long line is not at a line start.
        let mut expected = b"\r\n".to_vec();
        expected.extend_from_slice(&long);
        expected.extend_from_slice(b"--B--\r\n\r\n");
        assert_eq!(out, expected);
    }

    #[test]
    fn markers_are_found_across_reads() {
        let mut text = vec![b'a'; STREAM_BUFFER - 10];
        text.extend_from_slice(b"-----BEGIN PGP SIGNED MESSAGE-----\r\n");
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&text).unwrap();
        assert!(has_signature_marker(&mut file).unwrap());
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&vec![b'a'; 3 * STREAM_BUFFER]).unwrap();
        assert!(!has_signature_marker(&mut file).unwrap());
    }
}
