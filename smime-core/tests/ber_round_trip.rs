//! Property: whatever BER encoding a producer picks for a value (indefinite
//! or padded lengths, strings split into nested segments, any non-zero TRUE),
//! `ber::to_der` returns that value's one DER encoding; DER is a fixed point.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use smime_core::ber::to_der;

#[derive(Debug, Clone)]
enum Value {
    Boolean(bool),
    Integer(Vec<u8>),
    OctetString(Vec<u8>),
    Utf8String(String),
    Sequence(Vec<Value>),
    Set(Vec<Value>),
    Context(u8, Vec<Value>),
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Value::Boolean),
        proptest::collection::vec(any::<u8>(), 1..8).prop_map(Value::Integer),
        proptest::collection::vec(any::<u8>(), 0..300).prop_map(Value::OctetString),
        "[a-zäöü€ ]{0,40}".prop_map(Value::Utf8String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Sequence),
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Set),
            (0u8..31, proptest::collection::vec(inner, 0..4))
                .prop_map(|(n, v)| Value::Context(n, v)),
        ]
    })
}

fn definite_length(len: usize, padding: usize, out: &mut Vec<u8>) {
    if len < 0x80 && padding == 0 {
        out.push(len as u8);
        return;
    }
    let bytes = (len as u32).to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(3);
    let significant = &bytes[skip..];
    let total = (significant.len() + padding).min(4);
    out.push(0x80 | total as u8);
    out.extend(std::iter::repeat_n(0u8, total - significant.len()));
    out.extend_from_slice(significant);
}

/// Choices for the BER encoder, drawn by proptest.
struct Choices<'a> {
    bytes: &'a [u8],
    next: usize,
}

impl Choices<'_> {
    fn pick(&mut self) -> u8 {
        let byte = self
            .bytes
            .get(self.next % self.bytes.len().max(1))
            .copied()
            .unwrap_or(0);
        self.next += 1;
        byte
    }
}

fn tlv(tag: u8, content: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    definite_length(content.len(), 0, out);
    out.extend_from_slice(content);
}

fn der(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Boolean(b) => tlv(0x01, &[if *b { 0xff } else { 0 }], out),
        Value::Integer(bytes) => tlv(0x02, bytes, out),
        Value::OctetString(bytes) => tlv(0x04, bytes, out),
        Value::Utf8String(text) => tlv(0x0c, text.as_bytes(), out),
        Value::Sequence(items) | Value::Set(items) | Value::Context(_, items) => {
            let mut content = Vec::new();
            for item in items {
                der(item, &mut content);
            }
            tlv(constructed_tag(value), &content, out);
        }
    }
}

fn constructed_tag(value: &Value) -> u8 {
    match value {
        Value::Sequence(_) => 0x30,
        Value::Set(_) => 0x31,
        Value::Context(n, _) => 0xa0 | n,
        _ => unreachable!(),
    }
}

fn ber(value: &Value, choices: &mut Choices<'_>, out: &mut Vec<u8>) {
    match value {
        Value::Boolean(b) => {
            let truth = choices.pick().max(1);
            out.extend_from_slice(&[0x01, 0x01, if *b { truth } else { 0 }]);
        }
        Value::Integer(bytes) => {
            out.push(0x02);
            definite_length(bytes.len(), usize::from(choices.pick() % 3), out);
            out.extend_from_slice(bytes);
        }
        Value::OctetString(bytes) => string(0x04, bytes, choices, 0, out),
        Value::Utf8String(text) => string(0x0c, text.as_bytes(), choices, 0, out),
        Value::Sequence(items) | Value::Set(items) | Value::Context(_, items) => {
            let mut content = Vec::new();
            for item in items {
                ber(item, choices, &mut content);
            }
            out.push(constructed_tag(value));
            wrap(&content, choices, out);
        }
    }
}

/// Writes `content` with an indefinite or (padded) definite length.
fn wrap(content: &[u8], choices: &mut Choices<'_>, out: &mut Vec<u8>) {
    if choices.pick().is_multiple_of(2) {
        out.push(0x80);
        out.extend_from_slice(content);
        out.extend_from_slice(&[0, 0]);
    } else {
        definite_length(content.len(), usize::from(choices.pick() % 3), out);
        out.extend_from_slice(content);
    }
}

/// A string, primitive or split into (possibly nested) constructed segments.
fn string(tag: u8, bytes: &[u8], choices: &mut Choices<'_>, depth: usize, out: &mut Vec<u8>) {
    if depth > 3 || choices.pick().is_multiple_of(3) {
        out.push(tag);
        definite_length(bytes.len(), usize::from(choices.pick() % 2), out);
        out.extend_from_slice(bytes);
        return;
    }
    let mut content = Vec::new();
    let mut rest = bytes;
    loop {
        let take = (1 + usize::from(choices.pick()) % 64).min(rest.len());
        let (segment, tail) = rest.split_at(take);
        string(tag, segment, choices, depth + 1, &mut content);
        rest = tail;
        if rest.is_empty() {
            break;
        }
    }
    out.push(tag | 0x20);
    wrap(&content, choices, out);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_ber_encoding_normalises_to_the_der_encoding(
        value in value(),
        choices in proptest::collection::vec(any::<u8>(), 1..64),
    ) {
        let mut expected = Vec::new();
        der(&value, &mut expected);
        let mut encoded = Vec::new();
        ber(&value, &mut Choices { bytes: &choices, next: 0 }, &mut encoded);
        prop_assert_eq!(to_der(&encoded).unwrap(), expected);
    }

    #[test]
    fn der_is_a_fixed_point(value in value()) {
        let mut encoded = Vec::new();
        der(&value, &mut encoded);
        prop_assert_eq!(to_der(&encoded).unwrap(), encoded);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = to_der(&bytes);
    }
}
