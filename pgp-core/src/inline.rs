//! Inline OpenPGP: ASCII-armored blocks inside `text/plain`
//! ([RFC 9580 section 6](https://www.rfc-editor.org/rfc/rfc9580#section-6),
//! cleartext signatures in
//! [section 7](https://www.rfc-editor.org/rfc/rfc9580#section-7)).
//!
//! Mail clients still send encrypted blocks and cleartext signatures in the
//! body of a plain text message. Text outside the block is not protected,
//! so a block with anything but white space around it only ever counts as
//! *partially* signed or encrypted.

const BEGIN_MESSAGE: &[u8] = b"-----BEGIN PGP MESSAGE-----";
const END_MESSAGE: &[u8] = b"-----END PGP MESSAGE-----";
const BEGIN_SIGNED: &[u8] = b"-----BEGIN PGP SIGNED MESSAGE-----";
const END_SIGNATURE: &[u8] = b"-----END PGP SIGNATURE-----";

/// Where an armored block sits in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Block {
    start: usize,
    end: usize,
}

impl Block {
    /// The block's bytes, armor lines included.
    pub(crate) fn bytes<'t>(&self, text: &'t [u8]) -> &'t [u8] {
        text.get(self.start..self.end).unwrap_or_default()
    }

    /// The text before the block.
    pub(crate) fn before<'t>(&self, text: &'t [u8]) -> &'t [u8] {
        text.get(..self.start).unwrap_or_default()
    }

    /// The text after the block.
    pub(crate) fn after<'t>(&self, text: &'t [u8]) -> &'t [u8] {
        text.get(self.end..).unwrap_or_default()
    }

    /// Whether this block starts before `other`.
    pub(crate) fn starts_before(&self, other: &Block) -> bool {
        self.start < other.start
    }

    /// Whether anything but white space surrounds the block.
    pub(crate) fn has_text_outside(&self, text: &[u8]) -> bool {
        !self.before(text).iter().all(u8::is_ascii_whitespace)
            || !self.after(text).iter().all(u8::is_ascii_whitespace)
    }
}

/// The first `-----BEGIN PGP MESSAGE-----` block.
pub(crate) fn find_encrypted(text: &[u8]) -> Option<Block> {
    find(text, BEGIN_MESSAGE, END_MESSAGE)
}

/// The first cleartext-signed block, from `-----BEGIN PGP SIGNED
/// MESSAGE-----` to the end of its signature.
pub(crate) fn find_signed(text: &[u8]) -> Option<Block> {
    find(text, BEGIN_SIGNED, END_SIGNATURE)
}

/// A block whose armor lines start at the beginning of a line.
fn find(text: &[u8], begin: &[u8], end: &[u8]) -> Option<Block> {
    let start = line_starts(text).find(|&s| starts_with_at(text, s, begin))?;
    let end_line = line_starts(text)
        .filter(|&s| s > start)
        .find(|&s| starts_with_at(text, s, end))?;
    let after_end = end_line + end.len();
    let rest = text.get(after_end..).unwrap_or_default();
    let line_end = rest
        .iter()
        .position(|b| *b == b'\n')
        .map_or(text.len(), |n| after_end + n + 1);
    Some(Block {
        start,
        end: line_end,
    })
}

fn starts_with_at(text: &[u8], at: usize, prefix: &[u8]) -> bool {
    text.get(at..).is_some_and(|rest| rest.starts_with(prefix))
}

fn line_starts(text: &[u8]) -> impl Iterator<Item = usize> + '_ {
    std::iter::once(0).chain(
        text.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i + 1)
            .filter(move |&i| i < text.len()),
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn blocks_are_found_at_line_starts_only() {
        let text =
            b"Hi\r\n-----BEGIN PGP MESSAGE-----\r\n\r\nabc\r\n-----END PGP MESSAGE-----\r\nbye\r\n";
        let block = find_encrypted(text).unwrap();
        assert!(block.bytes(text).starts_with(BEGIN_MESSAGE));
        assert!(
            block
                .bytes(text)
                .ends_with(b"-----END PGP MESSAGE-----\r\n")
        );
        assert_eq!(block.before(text), b"Hi\r\n");
        assert_eq!(block.after(text), b"bye\r\n");
        assert!(block.has_text_outside(text));
        assert!(
            find_encrypted(b"x -----BEGIN PGP MESSAGE-----\n-----END PGP MESSAGE-----").is_none()
        );
        assert!(find_encrypted(b"-----BEGIN PGP MESSAGE-----\nno end").is_none());
    }

    #[test]
    fn white_space_around_a_block_is_not_text() {
        let text =
            b"\r\n  \r\n-----BEGIN PGP SIGNED MESSAGE-----\r\nx\r\n-----END PGP SIGNATURE-----";
        let block = find_signed(text).unwrap();
        assert!(!block.has_text_outside(text));
    }
}
