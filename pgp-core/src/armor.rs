//! ASCII-armored `PGP MESSAGE`s
//! ([RFC 9580 section 6.2](https://www.rfc-editor.org/rfc/rfc9580#section-6.2))
//! as streams: a fast reading path, and a writer in constant memory.
//!
//! Sequoia's armor reader handles every armor kind and every oddity, byte by
//! byte; on large messages it took more than half of the time of a
//! decryption. Armor as OpenPGP implementations write it (the `BEGIN` line,
//! `Key: Value` headers, an empty line, base64 lines, an optional `=CRC24`
//! line, the `END` line) is decoded here in bulk; anything else goes to
//! Sequoia unchanged, so nothing it accepts is refused. The checksum is not
//! checked: RFC 9580 makes it optional, and the decrypted data is
//! authenticated (MDC or AEAD) anyway.

use std::io::{self, BufRead, Cursor, Read, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const BEGIN: &[u8] = b"-----BEGIN PGP MESSAGE-----";
const END: &[u8] = b"-----END PGP MESSAGE-----";

/// Bytes per armor line: 64 base64 characters, as Sequoia and GnuPG write.
const LINE_BYTES: usize = 48;

/// Writes binary OpenPGP data as an armored `PGP MESSAGE` while it streams
/// through: 64 characters per line, LF line breaks, and the CRC24 footer
/// (RFC 9580 section 6.1 lets writers omit it, but GnuPG 2.2 reads the `END`
/// line as data without it). Sequoia's armor writer holds whole
/// partial-body chunks (4 MiB and more) in growing buffers; this one holds
/// at most a line of input and 64 KiB of output. Call
/// [`ArmorWriter::finish`] at the end.
pub(crate) struct ArmorWriter<W: Write> {
    inner: W,
    crc: u32,
    /// Input that does not fill a line yet.
    pending: Vec<u8>,
    /// Encoded lines waiting to be written.
    out: Vec<u8>,
}

const CRC24_INIT: u32 = 0x00B7_04CE;
const CRC24_POLY: u32 = 0x0186_4CFB;

/// The CRC24 table (RFC 9580 section 6.1.1), one entry per byte value.
// Built at compile time: an index out of range would fail the build.
#[allow(clippy::indexing_slicing)]
const CRC24_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut crc = (byte as u32) << 16;
        let mut bit = 0;
        while bit < 8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= CRC24_POLY;
            }
            bit += 1;
        }
        table[byte] = crc & 0x00FF_FFFF;
        byte += 1;
    }
    table
};

/// `crc` continued over `data`.
fn crc24(crc: u32, data: &[u8]) -> u32 {
    data.iter().fold(crc, |crc, &b| {
        let index = ((crc >> 16) ^ u32::from(b)) & 0xFF;
        ((crc << 8) ^ CRC24_TABLE.get(index as usize).copied().unwrap_or(0)) & 0x00FF_FFFF
    })
}

/// Input encoded per batch of lines (64 KiB of output).
const BATCH: usize = LINE_BYTES * 1024;

impl<W: Write> ArmorWriter<W> {
    /// Writes the armor header.
    pub(crate) fn new(mut inner: W) -> io::Result<ArmorWriter<W>> {
        inner.write_all(BEGIN)?;
        inner.write_all(b"\n\n")?;
        Ok(ArmorWriter {
            inner,
            crc: CRC24_INIT,
            pending: Vec::with_capacity(LINE_BYTES),
            out: Vec::with_capacity(BATCH / 3 * 4 + BATCH / LINE_BYTES),
        })
    }

    /// Encodes whole lines of `data` (a multiple of [`LINE_BYTES`], at most
    /// [`BATCH`]) and writes them.
    fn lines(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.clear();
        let mut line = [0u8; 64];
        for group in data.chunks(LINE_BYTES) {
            let length = STANDARD
                .encode_slice(group, &mut line)
                .map_err(io::Error::other)?;
            self.out
                .extend_from_slice(line.get(..length).unwrap_or_default());
            self.out.push(b'\n');
        }
        self.inner.write_all(&self.out)
    }

    /// Writes the last line and the armor footer; returns the inner writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        let pending = std::mem::take(&mut self.pending);
        if !pending.is_empty() {
            self.lines(&pending)?;
        }
        let crc = self.crc.to_be_bytes();
        let mut footer = [0u8; 4];
        STANDARD
            .encode_slice(crc.get(1..).unwrap_or_default(), &mut footer)
            .map_err(io::Error::other)?;
        self.inner.write_all(b"=")?;
        self.inner.write_all(&footer)?;
        self.inner.write_all(b"\n")?;
        self.inner.write_all(END)?;
        self.inner.write_all(b"\n")?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ArmorWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.crc = crc24(self.crc, buf);
        let mut data = buf;
        if !self.pending.is_empty() {
            let take = (LINE_BYTES - self.pending.len()).min(data.len());
            let (head, rest) = data.split_at(take);
            self.pending.extend_from_slice(head);
            data = rest;
            if self.pending.len() < LINE_BYTES {
                return Ok(buf.len());
            }
            let line = std::mem::take(&mut self.pending);
            self.lines(&line)?;
            self.pending = line;
            self.pending.clear();
        }
        let whole = data.len() / LINE_BYTES * LINE_BYTES;
        let (lines, rest) = data.split_at(whole);
        for batch in lines.chunks(BATCH) {
            self.lines(batch)?;
        }
        self.pending.extend_from_slice(rest);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The longest armor line the fast path reads as one (base64 lines have
/// 76 characters; headers are short).
const MAX_LINE: usize = 4096;

/// The binary OpenPGP data of an armored message, or the input as it is
/// (with what was looked at put back) when it is not armor of the usual
/// form.
pub(crate) fn dearmor<'a, R: BufRead + Send + Sync + 'a>(
    mut input: R,
) -> io::Result<Box<dyn Read + Send + Sync + 'a>> {
    let mut seen = Vec::new();
    // Leading blank lines, the BEGIN line, headers up to the empty line.
    let mut begun = false;
    loop {
        let start = seen.len();
        let read = (&mut input)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut seen)?;
        let line = seen.get(start..).unwrap_or_default();
        let complete = line.ends_with(b"\n");
        let text = line.trim_ascii();
        let usual = read > 0
            && complete
            && if !begun {
                text.is_empty() || text == BEGIN
            } else {
                text.is_empty() || is_header(text)
            };
        if !usual {
            return Ok(Box::new(Cursor::new(seen).chain(input)));
        }
        if begun && text.is_empty() {
            break;
        }
        begun |= text == BEGIN;
    }
    Ok(Box::new(ArmorBody {
        inner: input,
        text: Vec::with_capacity(DECODE_RUN + MAX_LINE),
        decoded: Vec::with_capacity(DECODE_RUN),
        position: 0,
        done: false,
    }))
}

/// How much base64 text is decoded at once.
const DECODE_RUN: usize = 64 * 1024;

/// `Key: Value`, as armor headers are.
fn is_header(line: &[u8]) -> bool {
    line.windows(2).any(|w| w == b": ")
        && line
            .iter()
            .take_while(|&&b| b != b':')
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

/// The decoded base64 lines of an armor body: up to the checksum line
/// (`=`...) or the `END` line.
struct ArmorBody<R: BufRead> {
    inner: R,
    /// Base64 text not yet decoded (white space removed).
    text: Vec<u8>,
    decoded: Vec<u8>,
    position: usize,
    done: bool,
}

impl<R: BufRead> ArmorBody<R> {
    /// Decodes the next run of lines into `decoded`.
    fn refill(&mut self) -> io::Result<()> {
        self.decoded.clear();
        self.position = 0;
        let mut line = Vec::with_capacity(128);
        while !self.done && self.text.len() < DECODE_RUN {
            line.clear();
            let read = (&mut self.inner)
                .take(MAX_LINE as u64)
                .read_until(b'\n', &mut line)?;
            let text = line.trim_ascii();
            if read == 0 || text.starts_with(b"=") || text.starts_with(b"-----") {
                self.done = true;
            } else {
                self.text.extend_from_slice(text);
            }
        }
        // Whole groups of four, but everything at the end (where padding
        // or a truncated group is the decoder's to judge).
        let usable = if self.done {
            self.text.len()
        } else {
            self.text.len() - self.text.len() % 4
        };
        let text = self.text.get(..usable).unwrap_or_default();
        self.decoded.resize(usable / 4 * 3 + 3, 0);
        let length = STANDARD
            .decode_slice(text, &mut self.decoded)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.decoded.truncate(length);
        self.text.drain(..usable);
        Ok(())
    }
}

impl<R: BufRead> Read for ArmorBody<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.position >= self.decoded.len() {
            if self.done && self.text.is_empty() {
                return Ok(0);
            }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn read_all(input: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        dearmor(input).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn written_armor_reads_back_at_every_split() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        for split in [1, 5, 47, 48, 49, 100, 1000] {
            let mut writer = ArmorWriter::new(Vec::new()).unwrap();
            for piece in data.chunks(split) {
                writer.write_all(piece).unwrap();
            }
            let armored = writer.finish().unwrap();
            let text = String::from_utf8(armored.clone()).unwrap();
            assert!(text.starts_with("-----BEGIN PGP MESSAGE-----\n\n"));
            assert!(text.ends_with("\n-----END PGP MESSAGE-----\n"));
            assert!(text.lines().all(|l| l.len() <= 64));
            assert_eq!(read_all(&armored), data, "split {split}");
        }
        let empty = ArmorWriter::new(Vec::new()).unwrap().finish().unwrap();
        assert_eq!(read_all(&empty), b"");
    }

    #[test]
    fn the_checksum_is_rfc_9580s() {
        // The CRC24 of nothing is the initial value; of "a" as computed by
        // the bitwise definition in RFC 9580 section 6.1.1.
        let bitwise = |data: &[u8]| {
            let mut crc = CRC24_INIT;
            for &b in data {
                crc ^= u32::from(b) << 16;
                for _ in 0..8 {
                    crc <<= 1;
                    if crc & 0x0100_0000 != 0 {
                        crc ^= CRC24_POLY;
                    }
                }
            }
            crc & 0x00FF_FFFF
        };
        for data in [&b""[..], b"a", b"hello world", &[0xff; 300]] {
            assert_eq!(crc24(CRC24_INIT, data), bitwise(data));
        }
        // Split anywhere, the same.
        let data = b"split me anywhere";
        let (a, b) = data.split_at(5);
        assert_eq!(crc24(crc24(CRC24_INIT, a), b), bitwise(data));
    }

    #[test]
    fn usual_armor_is_decoded() {
        let armored = b"\r\n-----BEGIN PGP MESSAGE-----\r\nComment: x\r\n\r\nAAEC\r\nAwQF\r\n=abcd\r\n-----END PGP MESSAGE-----\r\ntrailing\r\n";
        assert_eq!(read_all(armored), [0, 1, 2, 3, 4, 5]);
        let without_checksum =
            b"-----BEGIN PGP MESSAGE-----\n\nAAECAwQF\n-----END PGP MESSAGE-----\n";
        assert_eq!(read_all(without_checksum), [0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn anything_else_is_passed_on_unchanged() {
        for input in [
            &b"\x85\x01binary packet"[..],
            b"-----BEGIN PGP MESSAGE-----\nAAECAw==\n-----END PGP MESSAGE-----\n",
            b"junk before\n-----BEGIN PGP MESSAGE-----\n\nAAEC\n",
            b"-----BEGIN PGP SIGNATURE-----\n\nAAEC\n",
            b"",
        ] {
            assert_eq!(read_all(input), input);
        }
    }
}
