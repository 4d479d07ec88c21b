//! The PGP/MIME structures of [RFC 3156](https://www.rfc-editor.org/rfc/rfc3156):
//! building `multipart/signed` (section 5) and `multipart/encrypted`
//! (section 4) entities, and finding them (or inline OpenPGP blocks) in a
//! MIME tree.

use mail_message::{ContentType, Entity, MAX_DEPTH, Multipart};

use crate::error::Error;
use crate::inline;

/// A fresh boundary that occurs nowhere in `content`.
pub(crate) fn boundary(content: &[u8]) -> Result<String, Error> {
    loop {
        let mut random = [0u8; 12];
        sequoia_openpgp::crypto::random(&mut random).map_err(Error::openpgp)?;
        let hex: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let boundary = format!("pgp-{hex}");
        if !contains(content, boundary.as_bytes()) {
            return Ok(boundary);
        }
    }
}

pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() || haystack.len() < needle.len() {
        return false;
    }
    // Candidates by one byte of the needle, preferably `-` (our boundaries
    // have one; base64 and most text rarely do), tested 64 bytes at a time
    // with a branch-free fold the compiler vectorises, then compared: much
    // faster than comparing at every position of a large spool.
    let key = needle.iter().position(|&b| b == b'-').unwrap_or(0);
    let Some(&byte) = needle.get(key) else {
        return false;
    };
    let mut offset = 0;
    for chunk in haystack.chunks(64) {
        if chunk.iter().fold(false, |seen, &b| seen | (b == byte)) {
            for (index, &b) in chunk.iter().enumerate() {
                let at = offset + index;
                if b == byte
                    && at >= key
                    && haystack.get(at - key..at - key + needle.len()) == Some(needle)
                {
                    return true;
                }
            }
        }
        offset += chunk.len();
    }
    false
}

/// `multipart/signed` around a signed entity and its armored detached
/// signature (RFC 3156 section 5), in canonical CRLF form.
pub(crate) fn multipart_signed(
    signed: &[u8],
    signature: &[u8],
    micalg: &str,
) -> Result<Vec<u8>, Error> {
    let boundary = boundary(signed)?;
    let mut out = multipart_signed_head(&boundary, micalg);
    out.extend_from_slice(signed);
    out.extend_from_slice(&multipart_signed_tail(&boundary, signature));
    Ok(out)
}

/// A `multipart/signed` entity up to where the signed entity goes (CRLF).
pub(crate) fn multipart_signed_head(boundary: &str, micalg: &str) -> Vec<u8> {
    format!(
        "Content-Type: multipart/signed; micalg={micalg};\r\n protocol=\"application/pgp-signature\";\r\n boundary=\"{boundary}\"\r\n\r\n\
         This is an OpenPGP/MIME signed message (RFC 4880 and 3156)\r\n--{boundary}\r\n"
    )
    .into_bytes()
}

/// The rest of a `multipart/signed` entity after the signed entity: the
/// signature part and the closing delimiter (CRLF).
pub(crate) fn multipart_signed_tail(boundary: &str, signature: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "\r\n--{boundary}\r\nContent-Type: application/pgp-signature; name=\"signature.asc\"\r\n\
         Content-Description: OpenPGP digital signature\r\n\
         Content-Disposition: attachment; filename=\"signature.asc\"\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(&mail_message::canonicalize(signature));
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out
}

/// The longest header section the streaming functions accept.
pub(crate) const MAX_HEADER: usize = 1024 * 1024;

/// The read buffer of the streaming functions.
pub(crate) const STREAM_BUFFER: usize = 64 * 1024;

/// `multipart/encrypted` around an armored OpenPGP message (RFC 3156
/// section 4), in canonical CRLF form.
pub(crate) fn multipart_encrypted(armored: &[u8]) -> Result<Vec<u8>, Error> {
    let boundary = boundary(armored)?;
    let mut out = multipart_encrypted_head(&boundary);
    out.extend_from_slice(&mail_message::canonicalize(armored));
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(multipart_encrypted_tail(&boundary).as_bytes());
    Ok(out)
}

/// A `multipart/encrypted` entity up to where the armored OpenPGP message
/// goes (CRLF).
pub(crate) fn multipart_encrypted_head(boundary: &str) -> Vec<u8> {
    format!(
        "Content-Type: multipart/encrypted;\r\n protocol=\"application/pgp-encrypted\";\r\n boundary=\"{boundary}\"\r\n\r\n\
         This is an OpenPGP/MIME encrypted message (RFC 4880 and 3156)\r\n--{boundary}\r\n\
         Content-Type: application/pgp-encrypted\r\n\
         Content-Description: PGP/MIME version identification\r\n\r\n\
         Version: 1\r\n\r\n--{boundary}\r\n\
         Content-Type: application/octet-stream; name=\"encrypted.asc\"\r\n\
         Content-Description: OpenPGP encrypted message\r\n\
         Content-Disposition: inline; filename=\"encrypted.asc\"\r\n\r\n"
    )
    .into_bytes()
}

/// The end of a `multipart/encrypted` entity, after the armored message
/// (which ends with a line break).
pub(crate) fn multipart_encrypted_tail(boundary: &str) -> String {
    format!("\r\n--{boundary}--\r\n")
}

/// An OpenPGP structure found in a message.
#[derive(Debug, Clone)]
pub(crate) enum Found<'a> {
    /// RFC 3156 `multipart/signed`: the signed entity (raw) and the
    /// signature part's decoded body.
    Signed {
        content: &'a [u8],
        signature: Vec<u8>,
        /// Parts beyond the two RFC 3156 allows.
        extra_parts: usize,
    },
    /// RFC 3156 `multipart/encrypted`: the decoded OpenPGP payload.
    Encrypted { payload: Vec<u8> },
    /// An inline block in a `text/plain` part.
    Inline {
        /// The part's decoded body.
        text: Vec<u8>,
        /// The block within it.
        block: inline::Block,
    },
}

/// The first OpenPGP structure in `entity`, depth first, with its MIME part
/// number ("" for the message itself, "2", "1.2", ...).
pub(crate) fn find<'a>(
    entity: &Entity<'a>,
    depth: usize,
    path: &str,
    want_encrypted: bool,
) -> Result<Option<(String, Found<'a>)>, Error> {
    if depth > MAX_DEPTH {
        return Err(mail_message::MimeError::TooDeep.into());
    }
    let content_type = entity.content_type()?;
    let mime_type = content_type.mime_type();
    let protocol = content_type
        .parameter("protocol")
        .map(str::to_ascii_lowercase);
    if mime_type == "multipart/signed"
        && protocol.as_deref() == Some("application/pgp-signature")
        && !want_encrypted
    {
        let parts = split(entity, &content_type)?;
        if let [content, signature, rest @ ..] = parts.parts() {
            let signature = Entity::parse(signature)?.decoded_body()?;
            return Ok(Some((
                path.to_owned(),
                Found::Signed {
                    content,
                    signature,
                    extra_parts: rest.len(),
                },
            )));
        }
        return Ok(None);
    }
    if mime_type == "multipart/encrypted"
        && protocol.as_deref() == Some("application/pgp-encrypted")
        && want_encrypted
    {
        let parts = split(entity, &content_type)?;
        if let [_version, payload, ..] = parts.parts() {
            let payload = Entity::parse(payload)?.decoded_body()?;
            return Ok(Some((path.to_owned(), Found::Encrypted { payload })));
        }
        return Ok(None);
    }
    if content_type.is_multipart() {
        let parts = split(entity, &content_type)?;
        for (index, part) in parts.parts().iter().enumerate() {
            let child_path = if path.is_empty() {
                format!("{}", index + 1)
            } else {
                format!("{path}.{}", index + 1)
            };
            let child = Entity::parse(part)?;
            if let Some(found) = find(&child, depth + 1, &child_path, want_encrypted)? {
                return Ok(Some(found));
            }
        }
        return Ok(None);
    }
    if mime_type == "text/plain" || mime_type == "application/pgp" {
        let text = text_body(entity)?;
        // A `PGP MESSAGE` block is encrypted, or only signed (`gpg --sign
        // --armor`): the first packet tells.
        let message = inline::find_encrypted(&text);
        let signed_message = message.filter(|b| !is_encrypted(b.bytes(&text)));
        let block = if want_encrypted {
            message.filter(|_| signed_message.is_none())
        } else {
            // The first signed block: a cleartext signature or a signed message.
            match (inline::find_signed(&text), signed_message) {
                (Some(a), Some(b)) => Some(if a.starts_before(&b) { a } else { b }),
                (a, b) => a.or(b),
            }
        };
        if let Some(block) = block {
            return Ok(Some((path.to_owned(), Found::Inline { text, block })));
        }
    }
    Ok(None)
}

/// Whether an armored OpenPGP message starts with an encrypted session key
/// (it is encrypted); anything that cannot be read counts as encrypted, so
/// that decryption reports what is wrong with it.
fn is_encrypted(block: &[u8]) -> bool {
    use sequoia_openpgp::packet::Tag;
    use sequoia_openpgp::parse::{PacketParserResult, Parse};
    let first =
        crate::guard::sequoia(
            || match sequoia_openpgp::parse::PacketParser::from_bytes(block) {
                Ok(PacketParserResult::Some(parser)) => Some(parser.packet.tag()),
                _ => None,
            },
        );
    !matches!(
        first,
        Ok(Some(
            Tag::OnePassSig | Tag::Signature | Tag::CompressedData | Tag::Literal
        ))
    )
}

fn split<'a>(entity: &Entity<'a>, content_type: &ContentType) -> Result<Multipart<'a>, Error> {
    let boundary = content_type
        .parameter("boundary")
        .ok_or(mail_message::MimeError::MissingBoundary)?;
    Ok(Multipart::split(entity.body(), boundary)?)
}

/// The body of a text part with its transfer encoding removed: base64 and
/// quoted-printable (RFC 2045 section 6.7), which inline OpenPGP mail uses.
fn text_body(entity: &Entity<'_>) -> Result<Vec<u8>, Error> {
    if entity.transfer_encoding() == "quoted-printable" {
        Ok(decode_quoted_printable(entity.body()))
    } else {
        Ok(entity.decoded_body()?)
    }
}

/// Decodes quoted-printable leniently: soft line breaks are removed, `=XX`
/// becomes the byte, anything else (a stray `=`) stays as it is.
pub(crate) fn decode_quoted_printable(input: &[u8]) -> Vec<u8> {
    fn hex(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'A'..=b'F' => Some(b - b'A' + 10),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input;
    while let Some((&b, tail)) = rest.split_first() {
        if b != b'=' {
            out.push(b);
            rest = tail;
            continue;
        }
        match tail {
            [b'\r', b'\n', after @ ..] | [b'\n', after @ ..] => rest = after,
            [high, low, after @ ..] if hex(*high).is_some() && hex(*low).is_some() => {
                out.push(hex(*high).unwrap_or(0) << 4 | hex(*low).unwrap_or(0));
                rest = after;
            }
            _ => {
                out.push(b);
                rest = tail;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_finds_needles_anywhere() {
        assert!(contains(b"abcpgp-1", b"pgp-1"));
        assert!(contains(b"pgp-1abc", b"pgp-1"));
        assert!(contains(b"ppgp-pgp-1", b"pgp-1"));
        assert!(!contains(b"pgp-", b"pgp-1"));
        assert!(!contains(b"abc", b""));
        assert!(!contains(b"", b"a"));
        // Matches across the 64-byte chunks, and the `-` not first.
        for at in [0, 1, 60, 61, 63, 64, 65, 127, 200] {
            let mut haystack = vec![b'x'; 260];
            haystack.splice(at..at + 8, b"pgp-beef".iter().copied());
            assert!(contains(&haystack, b"pgp-beef"), "{at}");
            assert!(!contains(&haystack, b"pgp-bees"), "{at}");
            assert!(contains(&haystack, b"beef"), "{at}");
        }
    }

    #[test]
    fn quoted_printable_decodes_soft_breaks_and_escapes() {
        assert_eq!(
            decode_quoted_printable(b"Gr=C3=BC=\r\n=C3=9Fe =3D a=\nb =zz="),
            "Gr\u{fc}\u{df}e = ab =zz=".as_bytes()
        );
    }
}
