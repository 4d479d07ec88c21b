//! A fast path for ASCII-armored `PGP MESSAGE`s
//! ([RFC 9580 section 6.2](https://www.rfc-editor.org/rfc/rfc9580#section-6.2))
//! read as a stream.
//!
//! Sequoia's armor reader handles every armor kind and every oddity, byte by
//! byte; on large messages it took more than half of the time of a
//! decryption. Armor as OpenPGP implementations write it (the `BEGIN` line,
//! `Key: Value` headers, an empty line, base64 lines, an optional `=CRC24`
//! line, the `END` line) is decoded here in bulk; anything else goes to
//! Sequoia unchanged, so nothing it accepts is refused. The checksum is not
//! checked: RFC 9580 makes it optional, and the decrypted data is
//! authenticated (MDC or AEAD) anyway.

use std::io::{self, BufRead, Cursor, Read};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

const BEGIN: &[u8] = b"-----BEGIN PGP MESSAGE-----";

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
        let available = self.decoded.get(self.position..).unwrap_or_default();
        let count = available.len().min(buf.len());
        if let (Some(target), Some(source)) = (buf.get_mut(..count), available.get(..count)) {
            target.copy_from_slice(source);
        }
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
