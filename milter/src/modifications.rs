//! Turning "deliver this message instead" into the header and body
//! changes the milter protocol can express.
//!
//! The milter cannot hand the MTA a new message; it can delete, change and
//! add header fields and replace the body. Fields that the new message keeps
//! (same name, same value) are left alone, so fields the MTA added without
//! showing them to the milter, and the order of the kept ones, survive.

use mail_message::{Entity, LineBreak, MimeError, canonicalize, with_line_breaks};

use crate::mail::Mail;
use crate::response::Response;

/// The largest body chunk sent in one `ReplaceBody` (what libmilter uses).
const BODY_CHUNK: usize = 65_535;

/// The responses that make the MTA's copy of `original` into `replacement`:
/// deletions first (highest index first, so earlier indexes stay valid),
/// then additions in the replacement's order, then the new body if it
/// differs.
pub(crate) fn modifications(
    original: &Mail,
    replacement: &[u8],
    leading_space: bool,
) -> Result<Vec<Response>, MimeError> {
    let new = Entity::parse(replacement)?;
    let mut wanted: Vec<Option<(String, Vec<u8>)>> = new
        .fields()
        .iter()
        .map(|field| {
            Some((
                String::from_utf8_lossy(field.name()).into_owned(),
                field_value(field.raw_value()),
            ))
        })
        .collect();

    let mut responses = Vec::new();
    let mut deletions = Vec::new();
    let mut seen: Vec<(String, u32)> = Vec::new();
    for header in original.headers() {
        let name = header.name.to_ascii_lowercase();
        let index = match seen.iter_mut().find(|(n, _)| *n == name) {
            Some((_, count)) => {
                *count += 1;
                *count
            }
            None => {
                seen.push((name.clone(), 1));
                1
            }
        };
        let value = field_value(&header.value);
        let kept = wanted.iter_mut().find(|slot| {
            slot.as_ref()
                .is_some_and(|(n, v)| n.eq_ignore_ascii_case(&name) && same_value(v, &value))
        });
        match kept {
            Some(slot) => *slot = None,
            None => deletions.push((index, header.name.clone())),
        }
    }
    deletions.sort_by_key(|(index, _)| std::cmp::Reverse(*index));
    for (index, name) in deletions {
        responses.push(Response::ChangeHeader {
            index,
            name,
            value: Vec::new(),
        });
    }
    for (name, value) in wanted.into_iter().flatten() {
        let value = if leading_space {
            value
        } else {
            value
                .iter()
                .position(|b| *b != b' ' && *b != b'\t')
                .and_then(|start| value.get(start..))
                .unwrap_or_default()
                .to_vec()
        };
        responses.push(Response::AddHeader { name, value });
    }

    let new_body = canonicalize(new.body());
    if new_body != original.body() {
        if new_body.is_empty() {
            responses.push(Response::ReplaceBody(Vec::new()));
        }
        for chunk in new_body.chunks(BODY_CHUNK) {
            responses.push(Response::ReplaceBody(chunk.to_vec()));
        }
    }
    Ok(responses)
}

/// A field value as the milter protocol carries it: folds as `\n`, no
/// final line break.
fn field_value(raw: &[u8]) -> Vec<u8> {
    let mut value = with_line_breaks(raw, LineBreak::Lf);
    while value.last() == Some(&b'\n') {
        value.pop();
    }
    value
}

/// Values compare without the space after the colon (present only when the
/// MTA keeps it).
fn same_value(a: &[u8], b: &[u8]) -> bool {
    let trim = |v: &[u8]| -> Vec<u8> {
        let start = v
            .iter()
            .position(|b| *b != b' ' && *b != b'\t')
            .unwrap_or(v.len());
        v.get(start..).unwrap_or_default().to_vec()
    };
    trim(a) == trim(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mail(headers: &[(&str, &str)], body: &[u8], leading_space: bool) -> Mail {
        let mut mail = Mail {
            leading_space,
            ..Mail::default()
        };
        for (name, value) in headers {
            mail.push_header((*name).to_owned(), value.as_bytes().to_vec());
        }
        mail.end_headers();
        mail.message.extend_from_slice(body);
        mail
    }

    #[test]
    fn kept_fields_stay_changed_ones_are_replaced_and_the_body_follows() {
        let original = mail(
            &[
                ("Received", " from a"),
                ("From", " alice@behoerde.example"),
                ("Content-Type", " text/plain"),
                ("Received", " from b"),
                ("X-Mailgate-Signature", " forged"),
                ("X-Mailgate-Signature", " forged too"),
            ],
            b"Hello\r\n",
            true,
        );
        let replacement = b"Received: from a\r\nFrom: alice@behoerde.example\r\n\
Received: from b\r\nX-Mailgate-Signature: valid\r\nContent-Type: multipart/signed;\r\n\tprotocol=\"application/pkcs7-signature\"\r\n\r\nsigned\nbody\r\n";
        let responses = modifications(&original, replacement, true).unwrap();
        assert_eq!(
            responses,
            vec![
                Response::ChangeHeader {
                    index: 2,
                    name: "X-Mailgate-Signature".into(),
                    value: vec![]
                },
                Response::ChangeHeader {
                    index: 1,
                    name: "Content-Type".into(),
                    value: vec![]
                },
                Response::ChangeHeader {
                    index: 1,
                    name: "X-Mailgate-Signature".into(),
                    value: vec![]
                },
                Response::AddHeader {
                    name: "X-Mailgate-Signature".into(),
                    value: b" valid".to_vec()
                },
                Response::AddHeader {
                    name: "Content-Type".into(),
                    value: b" multipart/signed;\n\tprotocol=\"application/pkcs7-signature\""
                        .to_vec()
                },
                Response::ReplaceBody(b"signed\r\nbody\r\n".to_vec()),
            ]
        );
    }

    #[test]
    fn an_unchanged_message_needs_nothing_and_without_leading_space_values_are_trimmed() {
        let original = mail(&[("Subject", "hi")], b"x\r\n", false);
        assert!(
            modifications(&original, b"Subject: hi\r\n\r\nx\r\n", false)
                .unwrap()
                .is_empty()
        );
        let responses =
            modifications(&original, b"Subject: hi\r\nX-New:  two\r\n\r\nx\r\n", false).unwrap();
        assert_eq!(
            responses,
            vec![Response::AddHeader {
                name: "X-New".into(),
                value: b"two".to_vec()
            }]
        );
    }

    #[test]
    fn large_bodies_go_in_chunks_and_an_empty_body_is_still_replaced() {
        let original = mail(&[("Subject", " hi")], b"old\r\n", true);
        let mut big = b"Subject: hi\r\n\r\n".to_vec();
        big.extend(std::iter::repeat_n(b'a', BODY_CHUNK + 10));
        let responses = modifications(&original, &big, true).unwrap();
        assert_eq!(responses.len(), 2);
        assert!(matches!(&responses[0], Response::ReplaceBody(c) if c.len() == BODY_CHUNK));
        let emptied = modifications(&original, b"Subject: hi\r\n\r\n", true).unwrap();
        assert_eq!(emptied, vec![Response::ReplaceBody(vec![])]);
    }
}
