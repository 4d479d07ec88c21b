//! BER to DER: accepting the CMS that real mail clients send.
//!
//! CMS ([RFC 5652 section 1.2](https://www.rfc-editor.org/rfc/rfc5652#section-1.2))
//! is specified in BER, and streaming producers use that freedom: OpenSSL
//! `cms -stream`, Thunderbird (NSS) and Outlook emit indefinite lengths and
//! split OCTET STRINGs into constructed segments. The `der` crate, which our
//! ASN.1 types decode with, accepts DER only. [`to_der`] bridges the two by
//! re-encoding, without looking at the meaning of the data:
//!
//! - indefinite lengths become definite, and every length minimal
//!   (X.690 sections 10.1 and 8.1.3);
//! - constructed encodings of universal string types (OCTET STRING, BIT
//!   STRING, the character strings) become primitive (X.690 section 10.2);
//! - BOOLEAN TRUE becomes `0xFF` (X.690 section 11.1).
//!
//! It deliberately does **not** sort SET OF elements (X.690 section 11.6):
//! CMS signs the signed attributes exactly as the signer encoded them, so a
//! re-ordering here would turn a valid signature invalid.
//!
//! Context-specific tags are left as they are, because their meaning depends
//! on the schema: a constructed `[0]` may be an EXPLICIT wrapper or an
//! IMPLICIT OCTET STRING split into segments. The CMS layer resolves those
//! positions itself.
//!
//! Nesting is limited to [`MAX_DEPTH`] levels, so hostile input cannot
//! exhaust the stack.

use thiserror::Error;

/// Deepest nesting of constructed encodings we accept. Real CMS messages nest
/// about 12 levels deep; 64 leaves room for any genuine structure.
pub const MAX_DEPTH: usize = 64;

/// Why BER input could not be converted to DER.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BerError {
    /// The input ends inside a tag, length or value.
    #[error("BER: input ends early at byte {offset}")]
    Truncated {
        /// Offset where more bytes were needed.
        offset: usize,
    },
    /// A length field that BER does not allow (reserved `0xFF`, more than
    /// four length octets, or indefinite on a primitive encoding).
    #[error("BER: invalid length encoding at byte {offset}")]
    InvalidLength {
        /// Offset of the length field.
        offset: usize,
    },
    /// A value claims more bytes than its container holds.
    #[error("BER: length at byte {offset} exceeds the enclosing data")]
    LengthOverrun {
        /// Offset of the length field.
        offset: usize,
    },
    /// A tag number in high-tag-number form that is too large or not minimal.
    #[error("BER: invalid tag at byte {offset}")]
    InvalidTag {
        /// Offset of the tag.
        offset: usize,
    },
    /// A segment of a constructed string has a different type than the string.
    #[error("BER: segment at byte {offset} of a constructed string has the wrong type")]
    InvalidSegment {
        /// Offset of the segment.
        offset: usize,
    },
    /// A BOOLEAN whose value is not exactly one octet.
    #[error("BER: BOOLEAN at byte {offset} is not one octet")]
    InvalidBoolean {
        /// Offset of the BOOLEAN.
        offset: usize,
    },
    /// An end-of-contents marker outside an indefinite-length encoding, or
    /// one with a non-zero length.
    #[error("BER: misplaced end-of-contents marker at byte {offset}")]
    MisplacedEndOfContents {
        /// Offset of the marker.
        offset: usize,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("BER: nesting deeper than {MAX_DEPTH} levels at byte {offset}")]
    TooDeep {
        /// Offset of the encoding that went too deep.
        offset: usize,
    },
    /// Bytes after the single top-level value.
    #[error("BER: {count} trailing bytes after the value")]
    TrailingData {
        /// How many bytes follow.
        count: usize,
    },
}

/// Converts one BER-encoded value (the whole input) to DER.
///
/// DER input comes back unchanged, so callers can run every CMS structure
/// through this without checking first.
///
/// ```
/// use smime_core::ber::to_der;
///
/// // OCTET STRING "abc", indefinite length, split into two segments.
/// let ber = [0x24, 0x80, 0x04, 0x01, b'a', 0x04, 0x02, b'b', b'c', 0x00, 0x00];
/// assert_eq!(to_der(&ber)?, [0x04, 0x03, b'a', b'b', b'c']);
/// # Ok::<(), smime_core::ber::BerError>(())
/// ```
pub fn to_der(input: &[u8]) -> Result<Vec<u8>, BerError> {
    let element = parse(input)?;
    let mut out = Vec::with_capacity(input.len());
    element.write(&mut out);
    Ok(out)
}

/// Like [`to_der`], for a ContentInfo holding EnvelopedData or
/// AuthEnvelopedData: also joins the segments of the IMPLICIT `[0]`
/// encryptedContent of its EncryptedContentInfo (RFC 5652 section 6.1),
/// the one schema position where streaming producers split an OCTET STRING
/// under a context tag. Other structures come out as [`to_der`] makes them.
pub(crate) fn enveloped_to_der(input: &[u8]) -> Result<Vec<u8>, BerError> {
    let mut element = parse(input)?;
    if let Some(encrypted_content) = encrypted_content_of(&mut element) {
        join_implicit_octet_string(encrypted_content);
    }
    let mut out = Vec::with_capacity(input.len());
    element.write(&mut out);
    Ok(out)
}

fn parse(input: &[u8]) -> Result<Element, BerError> {
    let mut parser = Parser { input, offset: 0 };
    let element = parser.element(0)?;
    let Some(element) = element else {
        return Err(BerError::MisplacedEndOfContents { offset: 0 });
    };
    if parser.offset != input.len() {
        return Err(BerError::TrailingData {
            count: input.len() - parser.offset,
        });
    }
    Ok(element)
}

/// ContentInfo -> [0] EXPLICIT -> (Auth)EnvelopedData -> first SEQUENCE after
/// version, originatorInfo and recipientInfos (the EncryptedContentInfo) ->
/// its `[0]` child.
fn encrypted_content_of(content_info: &mut Element) -> Option<&mut Element> {
    let Element::Constructed { children, .. } = content_info else {
        return None;
    };
    let Some(Element::Constructed { children, .. }) = children.get_mut(1) else {
        return None;
    };
    let Some(Element::Constructed { children, .. }) = children.first_mut() else {
        return None;
    };
    let info = children
        .iter_mut()
        .find(|child| matches!(child, Element::Constructed { tag, .. } if tag.bytes == [0x30]))?;
    let Element::Constructed { children, .. } = info else {
        return None;
    };
    children
        .iter_mut()
        .find(|child| child.tag().bytes == [0xa0])
}

/// Turns `[0]` constructed around primitive OCTET STRING segments into the
/// primitive `[0]` that IMPLICIT OCTET STRING has in DER.
fn join_implicit_octet_string(element: &mut Element) {
    let Element::Constructed { children, .. } = element else {
        return;
    };
    let mut content = Vec::new();
    for child in children.iter() {
        match child {
            Element::Primitive { tag, content: part } if tag.bytes == [0x04] => {
                content.extend_from_slice(part);
            }
            // Not segments of an OCTET STRING: leave it for the decoder to refuse.
            _ => return,
        }
    }
    *element = Element::Primitive {
        tag: Tag { bytes: vec![0x80] },
        content,
    };
}

/// Identifier octets, kept as they were encoded (minimal for valid tags).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Tag {
    bytes: Vec<u8>,
}

impl Tag {
    fn constructed(&self) -> bool {
        self.bytes.first().is_some_and(|b| b & 0x20 != 0)
    }

    /// The universal tag number, for single-octet universal tags.
    fn universal_number(&self) -> Option<u8> {
        match self.bytes.as_slice() {
            [b] if b & 0xc0 == 0 && b & 0x1f != 0x1f => Some(b & 0x1f),
            _ => None,
        }
    }

    fn primitive(&self) -> Tag {
        let mut bytes = self.bytes.clone();
        if let Some(first) = bytes.first_mut() {
            *first &= !0x20;
        }
        Tag { bytes }
    }
}

/// Universal types whose constructed form X.690 allows in BER and forbids in DER.
fn is_string_type(number: u8) -> bool {
    matches!(
        number,
        3 // BIT STRING
        | 4 // OCTET STRING
        | 12 // UTF8String
        | 18..=22 // NumericString, PrintableString, T61String, VideotexString, IA5String
        | 25..=30 // GraphicString, VisibleString, GeneralString, UniversalString, CHARACTER STRING, BMPString
    )
}

const BOOLEAN: u8 = 1;
const BIT_STRING: u8 = 3;

/// A decoded value, ready to be written as DER.
enum Element {
    Primitive { tag: Tag, content: Vec<u8> },
    Constructed { tag: Tag, children: Vec<Element> },
}

impl Element {
    fn tag(&self) -> &Tag {
        match self {
            Element::Primitive { tag, .. } | Element::Constructed { tag, .. } => tag,
        }
    }

    fn encoded_len(&self) -> usize {
        let (tag_len, content_len) = match self {
            Element::Primitive { tag, content } => (tag.bytes.len(), content.len()),
            Element::Constructed { tag, children } => (
                tag.bytes.len(),
                children.iter().map(Element::encoded_len).sum(),
            ),
        };
        tag_len + length_len(content_len) + content_len
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Element::Primitive { tag, content } => {
                out.extend_from_slice(&tag.bytes);
                write_length(content.len(), out);
                out.extend_from_slice(content);
            }
            Element::Constructed { tag, children } => {
                out.extend_from_slice(&tag.bytes);
                write_length(children.iter().map(Element::encoded_len).sum(), out);
                for child in children {
                    child.write(out);
                }
            }
        }
    }
}

fn length_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + (usize::BITS as usize / 8 - len.leading_zeros() as usize / 8)
    }
}

fn write_length(len: usize, out: &mut Vec<u8>) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = len.leading_zeros() as usize / 8;
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
}

enum Length {
    Definite(usize),
    Indefinite,
}

struct Parser<'a> {
    input: &'a [u8],
    offset: usize,
}

impl Parser<'_> {
    fn byte(&mut self) -> Result<u8, BerError> {
        let byte = *self.input.get(self.offset).ok_or(BerError::Truncated {
            offset: self.offset,
        })?;
        self.offset += 1;
        Ok(byte)
    }

    fn tag(&mut self) -> Result<Tag, BerError> {
        let start = self.offset;
        let first = self.byte()?;
        let mut bytes = vec![first];
        if first & 0x1f == 0x1f {
            // High-tag-number form: base-128 digits, the last without the top bit.
            loop {
                let byte = self.byte()?;
                // A leading 0x80 digit is not minimal; more than 4 digits exceeds
                // any tag number in use and u32.
                if (bytes.len() == 1 && byte == 0x80) || bytes.len() > 4 {
                    return Err(BerError::InvalidTag { offset: start });
                }
                bytes.push(byte);
                if byte & 0x80 == 0 {
                    break;
                }
            }
        }
        Ok(Tag { bytes })
    }

    /// Where `len` content bytes starting here end, if the input holds them.
    fn content_end(&self, len: usize, length_offset: usize) -> Result<usize, BerError> {
        self.offset
            .checked_add(len)
            .filter(|&end| end <= self.input.len())
            .ok_or(BerError::LengthOverrun {
                offset: length_offset,
            })
    }

    fn length(&mut self) -> Result<Length, BerError> {
        let start = self.offset;
        let first = self.byte()?;
        match first {
            0x00..=0x7f => Ok(Length::Definite(usize::from(first))),
            0x80 => Ok(Length::Indefinite),
            0x81..=0x84 => {
                let mut len = 0usize;
                for _ in 0..(first & 0x7f) {
                    len = (len << 8) | usize::from(self.byte()?);
                }
                Ok(Length::Definite(len))
            }
            _ => Err(BerError::InvalidLength { offset: start }),
        }
    }

    /// Parses one element; `None` for an end-of-contents marker.
    fn element(&mut self, depth: usize) -> Result<Option<Element>, BerError> {
        let start = self.offset;
        if depth > MAX_DEPTH {
            return Err(BerError::TooDeep { offset: start });
        }
        let tag = self.tag()?;
        let length_offset = self.offset;
        let length = self.length()?;
        if tag.bytes == [0x00] {
            return match length {
                Length::Definite(0) => Ok(None),
                _ => Err(BerError::MisplacedEndOfContents { offset: start }),
            };
        }

        if !tag.constructed() {
            let Length::Definite(len) = length else {
                return Err(BerError::InvalidLength {
                    offset: length_offset,
                });
            };
            let end = self.content_end(len, length_offset)?;
            let mut content = self
                .input
                .get(self.offset..end)
                .unwrap_or_default()
                .to_vec();
            self.offset = end;
            if tag.universal_number() == Some(BOOLEAN) {
                match content.as_mut_slice() {
                    [value] => {
                        if *value != 0 {
                            *value = 0xff;
                        }
                    }
                    _ => return Err(BerError::InvalidBoolean { offset: start }),
                }
            }
            return Ok(Some(Element::Primitive { tag, content }));
        }

        let children = self.children(length, length_offset, depth)?;
        match tag.universal_number() {
            Some(number) if is_string_type(number) => {
                let primitive = tag.primitive();
                let content = flatten_segments(&primitive, number, children, start)?;
                Ok(Some(Element::Primitive {
                    tag: primitive,
                    content,
                }))
            }
            _ => Ok(Some(Element::Constructed { tag, children })),
        }
    }

    fn children(
        &mut self,
        length: Length,
        length_offset: usize,
        depth: usize,
    ) -> Result<Vec<Element>, BerError> {
        let mut children = Vec::new();
        match length {
            Length::Definite(len) => {
                let end = self.content_end(len, length_offset)?;
                // Parse the children within the declared content only.
                let mut inner = Parser {
                    input: self.input.get(..end).unwrap_or_default(),
                    offset: self.offset,
                };
                while inner.offset < end {
                    let child_offset = inner.offset;
                    match inner.element(depth + 1)? {
                        Some(child) => children.push(child),
                        None => {
                            return Err(BerError::MisplacedEndOfContents {
                                offset: child_offset,
                            });
                        }
                    }
                }
                self.offset = end;
            }
            Length::Indefinite => {
                while let Some(child) = self.element(depth + 1)? {
                    children.push(child);
                }
            }
        }
        Ok(children)
    }
}

/// Concatenates the segments of a constructed string (X.690 section 8.7.3,
/// 8.6.4 for BIT STRING). Segments were already flattened when parsed, so
/// each is primitive here.
fn flatten_segments(
    tag: &Tag,
    number: u8,
    segments: Vec<Element>,
    offset: usize,
) -> Result<Vec<u8>, BerError> {
    let mut content = Vec::new();
    let count = segments.len();
    let mut unused_bits = 0u8;
    for (index, segment) in segments.into_iter().enumerate() {
        let Element::Primitive {
            tag: segment_tag,
            content: segment_content,
        } = segment
        else {
            return Err(BerError::InvalidSegment { offset });
        };
        if segment_tag != *tag {
            return Err(BerError::InvalidSegment { offset });
        }
        if number == BIT_STRING {
            // Each segment starts with its unused-bits count; only the last
            // segment may leave bits unused.
            let Some((&unused, bits)) = segment_content.split_first() else {
                return Err(BerError::InvalidSegment { offset });
            };
            if unused > 7 || (unused != 0 && index + 1 != count) || (unused != 0 && bits.is_empty())
            {
                return Err(BerError::InvalidSegment { offset });
            }
            unused_bits = unused;
            content.extend_from_slice(bits);
        } else {
            content.extend_from_slice(&segment_content);
        }
    }
    if number == BIT_STRING {
        content.insert(0, unused_bits);
    }
    Ok(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_passes_through_unchanged() {
        let der = [
            0x30, 0x0a, 0x02, 0x01, 0x05, 0x04, 0x02, b'h', b'i', 0x01, 0x01, 0xff,
        ];
        assert_eq!(to_der(&der).unwrap(), der);
    }

    #[test]
    fn indefinite_sequence_and_long_form_lengths_become_minimal() {
        let ber = [
            0x30, 0x80, // SEQUENCE, indefinite
            0x02, 0x81, 0x01, 0x07, // INTEGER 7 with a non-minimal length
            0x00, 0x00,
        ];
        assert_eq!(to_der(&ber).unwrap(), [0x30, 0x03, 0x02, 0x01, 0x07]);
    }

    #[test]
    fn nested_constructed_octet_strings_flatten() {
        let ber = [
            0x24, 0x80, // OCTET STRING, constructed, indefinite
            0x24, 0x06, 0x04, 0x01, b'a', 0x04, 0x01, b'b', // nested segments
            0x04, 0x01, b'c', 0x00, 0x00,
        ];
        assert_eq!(to_der(&ber).unwrap(), [0x04, 0x03, b'a', b'b', b'c']);
    }

    #[test]
    fn constructed_bit_string_keeps_only_the_last_unused_bit_count() {
        let ber = [
            0x23, 0x09, 0x03, 0x02, 0x00, 0xaa, 0x03, 0x03, 0x04, 0xbb, 0xc0,
        ];
        assert_eq!(to_der(&ber).unwrap(), [0x03, 0x04, 0x04, 0xaa, 0xbb, 0xc0]);
        let bad = [0x23, 0x08, 0x03, 0x02, 0x04, 0xaa, 0x03, 0x02, 0x00, 0xbb];
        assert!(matches!(to_der(&bad), Err(BerError::InvalidSegment { .. })));
    }

    #[test]
    fn booleans_become_canonical_true() {
        assert_eq!(to_der(&[0x01, 0x01, 0x2a]).unwrap(), [0x01, 0x01, 0xff]);
        assert_eq!(to_der(&[0x01, 0x01, 0x00]).unwrap(), [0x01, 0x01, 0x00]);
        assert!(matches!(
            to_der(&[0x01, 0x00]),
            Err(BerError::InvalidBoolean { .. })
        ));
    }

    #[test]
    fn context_tags_are_left_to_the_schema() {
        // [0] constructed holding an OCTET STRING: stays constructed.
        let ber = [0xa0, 0x80, 0x04, 0x01, b'x', 0x00, 0x00];
        assert_eq!(to_der(&ber).unwrap(), [0xa0, 0x03, 0x04, 0x01, b'x']);
    }

    #[test]
    fn set_of_order_is_preserved() {
        let ber = [0x31, 0x06, 0x02, 0x01, 0x09, 0x02, 0x01, 0x01];
        assert_eq!(to_der(&ber).unwrap(), ber);
    }

    #[test]
    fn long_values_get_long_form_lengths() {
        let mut ber = vec![0x24, 0x80];
        for _ in 0..300 {
            ber.extend_from_slice(&[0x04, 0x01, 0x55]);
        }
        ber.extend_from_slice(&[0, 0]);
        let der = to_der(&ber).unwrap();
        assert_eq!(&der[..4], &[0x04, 0x82, 0x01, 0x2c]);
        assert_eq!(der.len(), 4 + 300);
    }

    #[test]
    fn malformed_input_gets_typed_errors() {
        let cases: &[(&[u8], BerError)] = &[
            (&[], BerError::Truncated { offset: 0 }),
            (&[0x30], BerError::Truncated { offset: 1 }),
            (&[0x04, 0x05, 0x01], BerError::LengthOverrun { offset: 1 }),
            (
                &[0x04, 0x80, 0x00, 0x00],
                BerError::InvalidLength { offset: 1 },
            ),
            (&[0x04, 0xff], BerError::InvalidLength { offset: 1 }),
            (
                &[0x04, 0x85, 1, 1, 1, 1, 1],
                BerError::InvalidLength { offset: 1 },
            ),
            (
                &[0x30, 0x80, 0x02, 0x01, 0x01],
                BerError::Truncated { offset: 5 },
            ),
            (
                &[0x00, 0x00],
                BerError::MisplacedEndOfContents { offset: 0 },
            ),
            (
                &[0x30, 0x02, 0x00, 0x00],
                BerError::MisplacedEndOfContents { offset: 2 },
            ),
            (&[0x04, 0x00, 0x00], BerError::TrailingData { count: 1 }),
            (
                &[0x1f, 0x80, 0x01, 0x00],
                BerError::InvalidTag { offset: 0 },
            ),
            (
                &[0x24, 0x03, 0x02, 0x01, 0x01],
                BerError::InvalidSegment { offset: 0 },
            ),
            // A child that claims more than its parent holds.
            (
                &[0x30, 0x03, 0x04, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00],
                BerError::LengthOverrun { offset: 3 },
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(to_der(input).as_ref(), Err(expected), "{input:02x?}");
        }
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let mut ber = Vec::new();
        for _ in 0..10_000 {
            ber.extend_from_slice(&[0x30, 0x80]);
        }
        assert!(matches!(to_der(&ber), Err(BerError::TooDeep { .. })));
        let mut ok = Vec::new();
        for _ in 0..MAX_DEPTH {
            ok.extend_from_slice(&[0x30, 0x80]);
        }
        ok.extend_from_slice(&[0x05, 0x00]);
        for _ in 0..MAX_DEPTH {
            ok.extend_from_slice(&[0x00, 0x00]);
        }
        assert!(to_der(&ok).is_ok());
    }
}
