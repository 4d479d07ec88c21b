//! Looking for a string in data on its way through.

use std::io::{self, Read, Write};

/// A reader or writer that notes whether a string passes through it, also
/// across reads and writes (a signer looks for its MIME boundary in the
/// entity while it hashes it).
///
/// ```
/// use std::io::Write;
/// use mail_message::stream::Watch;
///
/// let mut watch = Watch::new(Vec::new(), b"--boundary");
/// watch.write_all(b"text --bound")?;
/// watch.write_all(b"ary more")?;
/// let (written, found) = watch.into_inner();
/// assert!(found);
/// assert_eq!(written, b"text --boundary more");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Watch<'n, T> {
    inner: T,
    finder: memchr::memmem::Finder<'n>,
    /// The last bytes read, which could start a match across reads.
    tail: Vec<u8>,
    found: bool,
}

impl<'n, T> Watch<'n, T> {
    /// Wraps `inner`, looking for `needle`.
    pub fn new(inner: T, needle: &'n [u8]) -> Self {
        Watch {
            inner,
            finder: memchr::memmem::Finder::new(needle),
            tail: Vec::with_capacity(2 * needle.len()),
            found: false,
        }
    }

    /// Whether the needle has passed so far.
    pub fn found(&self) -> bool {
        self.found
    }

    /// The wrapped reader or writer, and whether the needle passed.
    pub fn into_inner(self) -> (T, bool) {
        (self.inner, self.found)
    }
}

impl<T> Watch<'_, T> {
    /// Notes whether the needle is in `data`, or across from the data
    /// seen before.
    fn observe(&mut self, data: &[u8]) {
        if self.found {
            return;
        }
        let keep = self.finder.needle().len().saturating_sub(1);
        // Matches that cross from the previous data into this.
        self.tail
            .extend_from_slice(data.get(..keep.min(data.len())).unwrap_or_default());
        self.found = self.finder.find(&self.tail).is_some() || self.finder.find(data).is_some();
        let source = if data.len() >= keep {
            data
        } else {
            &self.tail[..]
        };
        let start = source.len().saturating_sub(keep);
        let last = source.get(start..).unwrap_or_default().to_vec();
        self.tail.clear();
        self.tail.extend_from_slice(&last);
    }
}

impl<R: Read> Read for Watch<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.observe(buf.get(..read).unwrap_or_default());
        Ok(read)
    }
}

impl<W: Write> Write for Watch<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.observe(buf.get(..written).unwrap_or_default());
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_watch_sees_a_needle_across_reads() {
        for split in 0..=8 {
            let data = b"xxneedlexx";
            let (a, b) = data.split_at(split.min(data.len()));
            let mut watch = Watch::new(Read::chain(a, b), b"needle");
            let mut sink = Vec::new();
            // Tiny reads: every byte its own read.
            let mut byte = [0u8; 1];
            while watch.read(&mut byte).unwrap() == 1 {
                sink.push(byte[0]);
            }
            assert!(watch.found(), "split at {split}");
            assert_eq!(sink, data);
        }
        let mut watch = Watch::new(&b"needl needl"[..], b"needle");
        io::copy(&mut watch, &mut io::sink()).unwrap();
        assert!(!watch.found());
    }
}
