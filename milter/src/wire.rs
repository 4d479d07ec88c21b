//! Packet framing: a 4-byte big-endian length, a command byte, the data.
//!
//! Both directions use the same framing; the length counts the command byte.

use std::io::{self, Read, Write};

use crate::error::Error;

/// The largest packet this implementation accepts.
///
/// Postfix and Sendmail send body chunks of at most 65,535 bytes; header
/// fields are bounded by the MTA's header size limit (Postfix: 100 KiB by
/// default). Anything larger is not a milter peer talking.
pub const MAX_PACKET: usize = 1024 * 1024;

/// Reads one packet: `Ok(None)` when the peer closed the connection between
/// packets, an error when it closed in the middle of one or sent a length
/// that no peer sends.
pub(crate) fn read_packet<R: Read>(reader: &mut R) -> Result<Option<(u8, Vec<u8>)>, Error> {
    let mut length = [0u8; 4];
    let mut filled = 0;
    while filled < length.len() {
        let buffer = length.get_mut(filled..).unwrap_or_default();
        match reader.read(buffer) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(Error::Truncated),
            Ok(n) => filled += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(Error::Io(error)),
        }
    }
    let length = usize::try_from(u32::from_be_bytes(length)).unwrap_or(usize::MAX);
    if length == 0 || length > MAX_PACKET {
        return Err(Error::PacketLength(length));
    }
    let mut packet = vec![0u8; length];
    reader.read_exact(&mut packet).map_err(|error| {
        if error.kind() == io::ErrorKind::UnexpectedEof {
            Error::Truncated
        } else {
            Error::Io(error)
        }
    })?;
    let code = packet.remove(0);
    Ok(Some((code, packet)))
}

/// Writes one packet.
pub(crate) fn write_packet<W: Write>(writer: &mut W, code: u8, data: &[u8]) -> io::Result<()> {
    let length = u32::try_from(data.len() + 1)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "milter packet too long"))?;
    let mut packet = Vec::with_capacity(data.len() + 5);
    packet.extend_from_slice(&length.to_be_bytes());
    packet.push(code);
    packet.extend_from_slice(data);
    writer.write_all(&packet)
}

/// Splits `data` into NUL-terminated strings; the last one must be
/// terminated too.
pub(crate) fn split_nul(data: &[u8]) -> Result<Vec<&[u8]>, Error> {
    match data.split_last() {
        None => Ok(Vec::new()),
        Some((0, rest)) => Ok(rest.split(|b| *b == 0).collect()),
        Some(_) => Err(Error::Malformed("string not NUL-terminated")),
    }
}

/// One NUL-terminated string as UTF-8.
pub(crate) fn text(bytes: &[u8]) -> Result<String, Error> {
    String::from_utf8(bytes.to_vec()).map_err(|_| Error::Malformed("text is not UTF-8"))
}

/// Appends `bytes` and a NUL.
pub(crate) fn push_nul(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(bytes);
    out.push(0);
}

/// A big-endian `u32` at the start of `data`, and the rest.
pub(crate) fn take_u32(data: &[u8]) -> Result<(u32, &[u8]), Error> {
    let (head, rest) = data
        .split_first_chunk::<4>()
        .ok_or(Error::Malformed("packet shorter than its fixed fields"))?;
    Ok((u32::from_be_bytes(*head), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_round_trip_and_bad_lengths_are_errors() {
        let mut wire = Vec::new();
        write_packet(&mut wire, b'B', b"body").unwrap();
        assert_eq!(wire, b"\0\0\0\x05Bbody");
        let mut reader = wire.as_slice();
        assert_eq!(
            read_packet(&mut reader).unwrap(),
            Some((b'B', b"body".to_vec()))
        );
        assert_eq!(read_packet(&mut reader).unwrap(), None);

        let mut zero: &[u8] = b"\0\0\0\0";
        assert!(matches!(
            read_packet(&mut zero),
            Err(Error::PacketLength(0))
        ));
        let mut huge: &[u8] = b"\xff\xff\xff\xffB";
        assert!(matches!(
            read_packet(&mut huge),
            Err(Error::PacketLength(_))
        ));
        let mut cut: &[u8] = b"\0\0\0\x05Bbo";
        assert!(matches!(read_packet(&mut cut), Err(Error::Truncated)));
        let mut half_length: &[u8] = b"\0\0";
        assert!(matches!(
            read_packet(&mut half_length),
            Err(Error::Truncated)
        ));
    }

    #[test]
    fn strings_must_be_terminated() {
        assert_eq!(split_nul(b"a\0bc\0").unwrap(), vec![b"a".as_slice(), b"bc"]);
        assert!(split_nul(b"a\0bc").is_err());
        assert!(split_nul(b"").unwrap().is_empty());
    }
}
