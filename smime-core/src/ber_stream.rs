//! A small streaming BER reader: CMS structures of any size are read once,
//! their small elements kept, their content copied to a sink, in bounded
//! memory. Used by streaming decryption and streaming verification of
//! opaque signed data.

use std::io::{self, Read, Write};

use mail_message::MimeError;

use crate::error::Error;

/// Bytes per read and write.
pub(crate) const CHUNK: usize = 64 * 1024;
/// The longest header section, and the largest non-content CMS element
/// (recipientInfos, certificates, attributes), we accept.
pub(crate) const LIMIT: usize = 1024 * 1024;

/// A BER reader over a byte stream that counts what it consumed.
pub(crate) struct BerReader<R: Read> {
    pub(crate) inner: R,
    pub(crate) position: u64,
}

/// Where a constructed value opened by [`BerReader::open`] ends (`None`:
/// indefinite length, ended by end-of-contents octets).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Container {
    pub(crate) end: Option<u64>,
}

/// A TLV header: tag and definite length (`None`: indefinite).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Header {
    pub(crate) tag: u8,
    pub(crate) length: Option<u64>,
}

pub(crate) fn malformed() -> Error {
    Error::MalformedCms(crate::ber::BerError::Truncated { offset: 0 })
}

impl<R: Read> BerReader<R> {
    fn byte(&mut self) -> Result<u8, Error> {
        let mut byte = [0u8];
        self.inner.read_exact(&mut byte).map_err(read_error)?;
        self.position += 1;
        Ok(byte[0])
    }

    pub(crate) fn header(&mut self) -> Result<Header, Error> {
        let tag = self.byte()?;
        if tag & 0x1f == 0x1f {
            return Err(malformed()); // high tag numbers do not occur in CMS
        }
        let first = self.byte()?;
        let length = match first {
            0x80 => None,
            short if short < 0x80 => Some(u64::from(short)),
            long => {
                let count = long & 0x7f;
                if count > 8 {
                    return Err(malformed());
                }
                let mut length = 0u64;
                for _ in 0..count {
                    length = (length << 8) | u64::from(self.byte()?);
                }
                Some(length)
            }
        };
        if length.is_none() && tag & 0x20 == 0 {
            return Err(malformed()); // indefinite length needs a constructed value
        }
        Ok(Header { tag, length })
    }

    pub(crate) fn expect(&mut self, tag: u8) -> Result<Header, Error> {
        let header = self.header()?;
        if header.tag == tag {
            Ok(header)
        } else {
            Err(malformed())
        }
    }

    /// Reads the header of a constructed value with `tag` and returns where
    /// it ends, for [`BerReader::close`].
    pub(crate) fn open(&mut self, tag: u8) -> Result<Container, Error> {
        let header = self.expect(tag)?;
        Ok(Container {
            end: header.length.map(|length| self.position + length),
        })
    }

    /// Whether a definite-length container's contents are all read.
    pub(crate) fn at_end(&self, container: Container) -> bool {
        container.end.is_some_and(|end| self.position >= end)
    }

    /// Ends a container: its end-of-contents octets when the length was
    /// indefinite, else the contents must have ended exactly at its length
    /// (an element that runs past its parent is malformed, as for
    /// [`crate::ber::to_der`]).
    pub(crate) fn close(&mut self, container: Container) -> Result<(), Error> {
        match container.end {
            None => end_of_contents(self),
            Some(end) if self.position == end => Ok(()),
            Some(_) => Err(malformed()),
        }
    }

    /// The contents of a value whose header was read, up to `LIMIT` bytes.
    pub(crate) fn contents(
        &mut self,
        header: Header,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), Error> {
        if depth > crate::ber::MAX_DEPTH || out.len() > LIMIT {
            return Err(malformed());
        }
        match header.length {
            Some(length) => {
                if length > (LIMIT - out.len()) as u64 {
                    return Err(malformed());
                }
                let start = out.len();
                out.resize(start + length as usize, 0);
                let target = out.get_mut(start..).unwrap_or_default();
                self.inner.read_exact(target).map_err(read_error)?;
                self.position += length;
            }
            None => loop {
                let inner = self.header()?;
                if inner.tag == 0 && inner.length == Some(0) {
                    break;
                }
                write_header(inner, out);
                self.contents(inner, out, depth + 1)?;
            },
        }
        Ok(())
    }

    /// A whole TLV (BER as found), up to `LIMIT` bytes.
    pub(crate) fn tlv(&mut self) -> Result<(Header, Vec<u8>), Error> {
        let header = self.header()?;
        let mut out = Vec::new();
        write_header(header, &mut out);
        self.contents(header, &mut out, 0)?;
        if header.length.is_none() {
            out.extend_from_slice(&[0, 0]);
        }
        Ok((header, out))
    }

    /// Copies the contents of an OCTET STRING (primitive or constructed,
    /// with the given header already read) to `sink`.
    pub(crate) fn octets(
        &mut self,
        header: Header,
        sink: &mut impl Write,
        depth: usize,
    ) -> Result<(), Error> {
        if depth > crate::ber::MAX_DEPTH {
            return Err(malformed());
        }
        if header.tag & 0x20 == 0 {
            let length = header.length.ok_or_else(malformed)?;
            let copied = io::copy(&mut (&mut self.inner).take(length), sink).map_err(read_error)?;
            if copied != length {
                return Err(malformed());
            }
            self.position += length;
            return Ok(());
        }
        let end = header.length.map(|length| self.position + length);
        loop {
            match end {
                Some(end) if self.position == end => return Ok(()),
                // A segment ran past the string's end.
                Some(end) if self.position > end => return Err(malformed()),
                _ => {}
            }
            let segment = self.header()?;
            match (segment.tag, segment.length) {
                (0, Some(0)) if end.is_none() => return Ok(()),
                (0x04 | 0x24, _) => self.octets(segment, sink, depth + 1)?,
                _ => return Err(malformed()),
            }
        }
    }
}

fn read_error(error: io::Error) -> Error {
    match error.kind() {
        io::ErrorKind::UnexpectedEof => malformed(),
        io::ErrorKind::InvalidData => Error::Mime(MimeError::Base64),
        _ => Error::Io(error),
    }
}

fn write_header(header: Header, out: &mut Vec<u8>) {
    out.push(header.tag);
    match header.length {
        None => out.push(0x80),
        Some(length) if length < 0x80 => out.push(length as u8),
        Some(length) => {
            let bytes = length.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            let significant = bytes.get(skip..).unwrap_or_default();
            out.push(0x80 | significant.len() as u8);
            out.extend_from_slice(significant);
        }
    }
}

/// Nothing but white space may follow the structure: `decrypt_message`,
/// which decodes the whole body, refuses what does not decode, and the two
/// must accept the same messages. Read to the end, in bounded memory.
pub(crate) fn end_of_input(ber: &mut BerReader<impl Read>) -> Result<(), Error> {
    let mut rest = [0u8; 512];
    loop {
        let count = ber.inner.read(&mut rest).map_err(Error::Io)?;
        if count == 0 {
            return Ok(());
        }
        if !rest
            .get(..count)
            .unwrap_or_default()
            .iter()
            .all(u8::is_ascii_whitespace)
        {
            return Err(malformed());
        }
    }
}

pub(crate) fn end_of_contents(ber: &mut BerReader<impl Read>) -> Result<(), Error> {
    let header = ber.header()?;
    if header.tag == 0 && header.length == Some(0) {
        Ok(())
    } else {
        Err(malformed())
    }
}
