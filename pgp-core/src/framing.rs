//! The top-level packet framing of binary OpenPGP data
//! ([RFC 9580 section 4.2](https://www.rfc-editor.org/rfc/rfc9580#section-4.2)),
//! checked while the bytes stream to Sequoia.
//!
//! Every packet starts with a packet tag whose bit 7 is set. When Sequoia
//! finds a byte without it where a packet must start (after at least one
//! good packet), it recovers: it tries to read a header at every following
//! byte, up to 32 KiB, building and formatting an error for each try; the
//! skipped bytes then become a packet of the reserved tag 0, which its
//! policy rejects (junk at the end fails as a truncated packet). The message
//! is refused either way; the search only costs time, a quarter of what the
//! `gateway_process` fuzz target spent. [`Framed`] refuses the message at
//! the first such byte instead, and says where, so both decryption paths
//! (in memory and streaming) fail at once with a reason a person can read.
//!
//! Only the top level is checked: the bodies of packets, including
//! compressed and encrypted containers, stream through untouched, and so
//! does input that does not start with a packet tag (armor Sequoia reads
//! itself, or no OpenPGP at all, which Sequoia refuses without recovering).

use std::io::{self, Read};
use std::sync::{Arc, OnceLock};

/// Where the framing broke: the offset of the first byte at which a packet
/// header should start but cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "not an OpenPGP packet at byte {offset} (bit 7 of a packet tag is always set): junk between or after packets"
)]
pub(crate) struct Junk {
    pub(crate) offset: u64,
}

/// What [`Framed`] found, readable after the reader has been handed to
/// Sequoia (which may hide the I/O error behind its own).
#[derive(Debug, Clone, Default)]
pub(crate) struct FramingReport(Arc<OnceLock<Junk>>);

impl FramingReport {
    /// The junk found, if any.
    pub(crate) fn junk(&self) -> Option<Junk> {
        self.0.get().copied()
    }
}

/// Where the reader is in the top-level packet sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing read yet: binary OpenPGP or not is decided by the first byte.
    Start,
    /// Reading a packet header: the octets so far (tag, then length).
    Header { octets: [u8; 6], have: u8 },
    /// Inside a packet body (or a partial-body chunk); `partial` when a
    /// chunk length follows it.
    Body { remaining: u64, partial: bool },
    /// Reading the length of the next partial-body chunk.
    ChunkLength { octets: [u8; 5], have: u8 },
    /// Not checked any further: an old-format packet of indeterminate
    /// length runs to the end, or the input is not binary OpenPGP.
    Unchecked,
    /// Junk was found; the reader only returns the error from here.
    Broken(Junk),
}

/// An [`io::Read`] filter over binary OpenPGP data that fails with
/// [`Junk`] (as [`io::ErrorKind::InvalidData`]) where a top-level packet
/// header is not one.
pub(crate) struct Framed<R> {
    inner: R,
    state: State,
    offset: u64,
    report: FramingReport,
}

impl<R: Read> Framed<R> {
    /// Wraps `inner`; the report tells afterwards whether junk was found.
    pub(crate) fn new(inner: R) -> (Framed<R>, FramingReport) {
        let report = FramingReport::default();
        (
            Framed {
                inner,
                state: State::Start,
                offset: 0,
                report: report.clone(),
            },
            report,
        )
    }

    /// Advances the state over `bytes`, or finds junk in them.
    fn walk(&mut self, bytes: &[u8]) -> Result<(), Junk> {
        let mut rest = bytes;
        while let Some((&byte, tail)) = rest.split_first() {
            match self.state {
                State::Unchecked => return Ok(()),
                State::Broken(junk) => return Err(junk),
                State::Body { remaining, partial } => {
                    // Skip as much of the body as this buffer holds.
                    let here = u64::try_from(rest.len()).unwrap_or(u64::MAX);
                    let skipped = remaining.min(here);
                    let skipped_len = usize::try_from(skipped).unwrap_or(rest.len());
                    rest = rest.get(skipped_len..).unwrap_or_default();
                    self.offset = self.offset.saturating_add(skipped);
                    let left = remaining - skipped;
                    self.state = match (left, partial) {
                        (0, true) => State::ChunkLength {
                            octets: [0; 5],
                            have: 0,
                        },
                        (0, false) => State::Header {
                            octets: [0; 6],
                            have: 0,
                        },
                        (left, partial) => State::Body {
                            remaining: left,
                            partial,
                        },
                    };
                    continue;
                }
                State::Start => {
                    self.state = if byte & 0x80 == 0 {
                        State::Unchecked
                    } else {
                        State::Header {
                            octets: [0; 6],
                            have: 0,
                        }
                    };
                    continue;
                }
                State::Header { mut octets, have } => {
                    if have == 0 && byte & 0x80 == 0 {
                        let junk = Junk {
                            offset: self.offset,
                        };
                        self.state = State::Broken(junk);
                        return Err(junk);
                    }
                    let index = usize::from(have);
                    if let Some(slot) = octets.get_mut(index) {
                        *slot = byte;
                    }
                    self.state = header(octets, have + 1);
                }
                State::ChunkLength { mut octets, have } => {
                    let index = usize::from(have);
                    if let Some(slot) = octets.get_mut(index) {
                        *slot = byte;
                    }
                    self.state = chunk_length(octets, have + 1);
                }
            }
            self.offset = self.offset.saturating_add(1);
            rest = tail;
        }
        Ok(())
    }
}

/// The state after `have` octets of a packet header.
fn header(octets: [u8; 6], have: u8) -> State {
    let incomplete = State::Header { octets, have };
    let read = octets.get(..usize::from(have)).unwrap_or_default();
    let Some((&tag, length)) = read.split_first() else {
        return incomplete;
    };
    if tag & 0x40 != 0 {
        // New format: the length octets as in a partial-body chunk.
        return new_length(length).unwrap_or(incomplete);
    }
    // Old format: the two low bits of the tag say how many length octets.
    let needed = match tag & 0x03 {
        0 => 1,
        1 => 2,
        2 => 4,
        _ => return State::Unchecked,
    };
    match length.get(..needed) {
        Some(length) => body(
            length
                .iter()
                .fold(0u64, |length, &octet| (length << 8) | u64::from(octet)),
            false,
        ),
        None => incomplete,
    }
}

/// The state after `have` octets of a partial-body chunk length.
fn chunk_length(octets: [u8; 5], have: u8) -> State {
    let read = octets.get(..usize::from(have)).unwrap_or_default();
    new_length(read).unwrap_or(State::ChunkLength { octets, have })
}

/// A new-format body length (RFC 9580 section 4.2.1) from its octets, or
/// `None` while more are needed.
fn new_length(octets: &[u8]) -> Option<State> {
    match *octets {
        [first @ 0..=191, ..] => Some(body(u64::from(first), false)),
        [first @ 192..=223, second, ..] => Some(body(
            ((u64::from(first) - 192) << 8) + u64::from(second) + 192,
            false,
        )),
        [first @ 224..=254, ..] => Some(body(1 << (first & 0x1F), true)),
        [255, a, b, c, d, ..] => Some(body(u64::from(u32::from_be_bytes([a, b, c, d])), false)),
        _ => None,
    }
}

fn body(remaining: u64, partial: bool) -> State {
    match (remaining, partial) {
        (0, false) => State::Header {
            octets: [0; 6],
            have: 0,
        },
        (0, true) => State::ChunkLength {
            octets: [0; 5],
            have: 0,
        },
        (remaining, partial) => State::Body { remaining, partial },
    }
}

impl<R: Read> Read for Framed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let State::Broken(junk) = self.state {
            return Err(io::Error::new(io::ErrorKind::InvalidData, junk));
        }
        let read = self.inner.read(buf)?;
        let bytes = buf.get(..read).unwrap_or_default();
        match self.walk(bytes) {
            Ok(()) => Ok(read),
            Err(junk) => {
                let _ = self.report.0.set(junk);
                Err(io::Error::new(io::ErrorKind::InvalidData, junk))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn read_all(data: &[u8], chunk: usize) -> (Result<Vec<u8>, io::Error>, Option<Junk>) {
        struct Chunks<'a>(&'a [u8], usize);
        impl Read for Chunks<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(self.1);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let (mut framed, report) = Framed::new(Chunks(data, chunk.max(1)));
        let mut out = Vec::new();
        let result = framed.read_to_end(&mut out).map(|_| out);
        (result, report.junk())
    }

    /// A new-format packet of `tag` around `body`.
    fn packet(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![0xC0 | tag];
        match body.len() {
            len @ 0..=191 => out.push(len as u8),
            len @ 192..=8383 => {
                let len = len - 192;
                out.push((len >> 8) as u8 + 192);
                out.push((len & 0xFF) as u8);
            }
            len => {
                out.push(255);
                out.extend_from_slice(&(len as u32).to_be_bytes());
            }
        }
        out.extend_from_slice(body);
        out
    }

    /// An old-format packet with a two-octet length.
    fn old_packet(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![0x80 | (tag << 2) | 1];
        out.extend_from_slice(&(body.len() as u16).to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    /// A new-format packet with partial-body chunks of 512 bytes.
    fn partial_packet(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![0xC0 | tag];
        let mut rest = body;
        while rest.len() > 512 {
            out.push(224 | 9);
            out.extend_from_slice(&rest[..512]);
            rest = &rest[512..];
        }
        let last = packet(0, rest);
        out.extend_from_slice(&last[1..]);
        out
    }

    #[test]
    fn well_framed_packets_pass_in_any_chunking() {
        let body = vec![0x80u8; 2000];
        let mut message = packet(1, &[0x55; 300]);
        message.extend(old_packet(3, &[0x00; 40]));
        message.extend(partial_packet(18, &body));
        message.extend(packet(19, &[0x11; 20]));
        message.extend(packet(2, &[]));
        for chunk in [1, 2, 3, 7, 511, 512, 513, 4096] {
            let (result, junk) = read_all(&message, chunk);
            assert_eq!(result.expect("well framed"), message, "chunk {chunk}");
            assert_eq!(junk, None);
        }
    }

    #[test]
    fn junk_between_packets_is_found_at_its_offset() {
        let first = packet(1, &[0x55; 10]);
        let mut message = first.clone();
        message.extend_from_slice(b"\x01\x02junk");
        message.extend(packet(18, &[0x42; 30]));
        for chunk in [1, 5, 64] {
            let (result, junk) = read_all(&message, chunk);
            let error = result.expect_err("junk is refused");
            assert_eq!(error.kind(), io::ErrorKind::InvalidData);
            assert_eq!(
                junk,
                Some(Junk {
                    offset: first.len() as u64
                })
            );
        }
    }

    #[test]
    fn junk_after_the_last_packet_and_after_a_partial_body_is_found() {
        let mut message = partial_packet(18, &[0x99; 1500]);
        let end = message.len() as u64;
        message.push(b'\n');
        let (_, junk) = read_all(&message, 100);
        assert_eq!(junk, Some(Junk { offset: end }));
    }

    #[test]
    fn input_that_is_not_binary_openpgp_streams_unchecked() {
        let armor = b"-----BEGIN PGP MESSAGE-----\n\nwcBMA...\n";
        let (result, junk) = read_all(armor, 3);
        assert_eq!(result.expect("unchecked"), armor);
        assert_eq!(junk, None);
    }

    #[test]
    fn an_indeterminate_old_format_packet_runs_to_the_end() {
        let mut message = vec![0x80 | (11 << 2) | 3];
        message.extend_from_slice(b"\x00\x01anything at all");
        let (result, junk) = read_all(&message, 4);
        assert_eq!(result.expect("unchecked"), message);
        assert_eq!(junk, None);
    }

    proptest! {
        /// Any sequence of well-framed packets passes whole, in any
        /// chunking; a byte without bit 7 put where a header starts is
        /// reported at exactly that offset.
        #[test]
        fn framing_is_read_exactly(
            bodies in proptest::collection::vec(
                (1u8..20, proptest::collection::vec(any::<u8>(), 0..1200), 0u8..3), 1..6),
            chunk in 1usize..700,
            junk_at in any::<prop::sample::Index>(),
            junk in 0u8..0x80,
        ) {
            let mut message = Vec::new();
            let mut starts = Vec::new();
            for (tag, body, form) in &bodies {
                starts.push(message.len());
                message.extend(match form {
                    0 => packet(*tag, body),
                    1 => old_packet(*tag & 0x0F, body),
                    _ => partial_packet(*tag, body),
                });
            }
            let (result, found) = read_all(&message, chunk);
            prop_assert_eq!(result.expect("well framed"), message.clone());
            prop_assert_eq!(found, None);

            // Junk where a later header starts (not the first: input that
            // does not start with a packet tag is not checked).
            starts.push(message.len());
            let at = starts[1..][junk_at.index(starts.len() - 1)];
            let mut broken = message[..at].to_vec();
            broken.push(junk);
            broken.extend_from_slice(&message[at..]);
            let (result, found) = read_all(&broken, chunk);
            prop_assert!(result.is_err());
            prop_assert_eq!(found, Some(Junk { offset: at as u64 }));
        }
    }
}
