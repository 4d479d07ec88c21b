//! The header of what `mailgate smime decrypt` and `mailgate pgp decrypt`
//! write: fields from inside the encrypted entity sorted out by
//! [`mail_message::merge_inner_header`], the function the gateway uses, so
//! that a `From` or an `X-Mailgate-Signature: valid` planted inside the
//! ciphertext never reaches the reader as a header field.

use std::io::{self, BufRead, Write};

use mail_message::stream::read_header_section;
use zeroize::Zeroizing;

/// The longest header section accepted, received or decrypted.
pub(crate) const MAX_HEADER: usize = 1024 * 1024;

/// Reads the received message's header section from `input`, which then
/// goes on with the body: the decryptor reads the header again from the
/// returned bytes chained before `input`.
pub(crate) fn received_header(input: &mut impl BufRead) -> io::Result<Vec<u8>> {
    read_header_section(input, MAX_HEADER)
}

/// A writer that holds back the decrypted message's header section until
/// it is complete, writes it merged, then passes the body through.
///
/// The decryptors write only authenticated plaintext, so nothing here sees
/// bytes that may not be released; [`finish`](Self::finish) writes a
/// header that never ended (a message without body).
pub(crate) struct InnerHeaderFilter<W: Write> {
    received_header: Vec<u8>,
    /// The decrypted header section so far: plaintext, zeroized on drop.
    header: Zeroizing<Vec<u8>>,
    /// Whether the header section has been written.
    passing: bool,
    output: W,
}

impl<W: Write> InnerHeaderFilter<W> {
    pub(crate) fn new(received_header: Vec<u8>, output: W) -> Self {
        InnerHeaderFilter {
            received_header,
            header: Zeroizing::new(Vec::new()),
            passing: false,
            output,
        }
    }

    /// Writes what is held back and flushes; returns the output.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        if !self.passing {
            self.release(self.header.len())?;
        }
        self.output.flush()?;
        Ok(self.output)
    }

    /// Writes the header section (the first `end` held-back bytes) merged,
    /// and what followed it unchanged.
    fn release(&mut self, end: usize) -> io::Result<()> {
        let header = self.header.get(..end).unwrap_or_default();
        let (merged, _) = mail_message::merge_inner_header(&self.received_header, header)
            .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?;
        let merged = Zeroizing::new(merged);
        self.output.write_all(&merged)?;
        self.output
            .write_all(self.header.get(end..).unwrap_or_default())?;
        self.passing = true;
        self.header = Zeroizing::new(Vec::new());
        Ok(())
    }
}

/// Where the header section of `bytes` ends (after its empty line), read as
/// `Entity::parse` reads it: a line is empty when nothing but an optional
/// CR stands before its LF.
fn header_end(bytes: &[u8]) -> Option<usize> {
    let mut start = 0;
    while let Some(length) = bytes
        .get(start..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
    {
        let line = bytes.get(start..start + length).unwrap_or_default();
        start += length + 1;
        if line.is_empty() || line == b"\r" {
            return Some(start);
        }
    }
    None
}

impl<W: Write> Write for InnerHeaderFilter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.passing {
            return self.output.write(buf);
        }
        // Only the new bytes and the line they continue need scanning.
        let scan_from = self
            .header
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |n| n + 1);
        self.header.extend_from_slice(buf);
        match self
            .header
            .get(scan_from..)
            .and_then(header_end)
            .map(|end| scan_from + end)
        {
            Some(end) => self.release(end)?,
            None if self.header.len() > MAX_HEADER => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("the decrypted header section is longer than {MAX_HEADER} bytes"),
                ));
            }
            None => {}
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // Held-back bytes wait for the end of the header section.
        self.output.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECEIVED: &[u8] =
        b"From: a@x.example\r\nContent-Type: application/pkcs7-mime\r\n\r\nMIA=\r\n";
    const DECRYPTED: &[u8] = b"From: a@x.example\r\nMIME-Version: 1.0\r\n\
        From: ceo@x.example\r\nX-Mailgate-Signature: valid\r\nContent-Type: text/plain\r\n\
        \r\nFrom: the body\r\n\r\nmore\r\n";

    fn filtered(chunk: usize, decrypted: &[u8]) -> io::Result<Vec<u8>> {
        let mut filter = InnerHeaderFilter::new(RECEIVED.to_vec(), Vec::new());
        for piece in decrypted.chunks(chunk.max(1)) {
            filter.write_all(piece)?;
        }
        filter.finish()
    }

    #[test]
    fn written_in_any_pieces_the_result_is_the_merge() -> io::Result<()> {
        let (expected, _) = mail_message::merge_inner_header(RECEIVED, DECRYPTED)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        assert!(expected.starts_with(
            b"From: a@x.example\r\nMIME-Version: 1.0\r\nX-Mailgate-Inner-From: ceo@x.example\r\n"
        ));
        for chunk in 1..=DECRYPTED.len() {
            assert_eq!(filtered(chunk, DECRYPTED)?, expected, "pieces of {chunk}");
        }
        Ok(())
    }

    #[test]
    fn a_message_without_body_is_merged_at_the_end() -> io::Result<()> {
        let header_only = b"From: a@x.example\nMIME-Version: 1.0\nFrom: ceo@x.example\n";
        let out = filtered(7, header_only)?;
        assert_eq!(
            out,
            b"From: a@x.example\nMIME-Version: 1.0\nX-Mailgate-Inner-From: ceo@x.example\n"
        );
        Ok(())
    }

    #[test]
    fn an_endless_header_is_refused() {
        let mut filter = InnerHeaderFilter::new(RECEIVED.to_vec(), Vec::new());
        let line = b"X-Filler: 0123456789012345678901234567890123456789\r\n";
        let result = (0..=MAX_HEADER / line.len() + 1).try_for_each(|_| filter.write_all(line));
        assert!(result.is_err());
    }
}
