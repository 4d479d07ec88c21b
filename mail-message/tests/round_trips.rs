//! Properties of canonicalisation and splitting, on generated input: what
//! signing covers must be exactly the bytes the message carries, so every
//! transformation that takes a message apart or rewrites its line breaks
//! either is the identity where nothing needs changing or can be undone.
//!
//! - [`canonicalize`]: idempotent; every LF ends up as CRLF and no other
//!   byte changes; the streaming [`CanonicalWriter`] agrees at any split.
//! - [`with_line_breaks`]: undoes [`canonicalize`] for LF input, and the
//!   streaming [`LineBreakWriter`] agrees at any split.
//! - [`Envelope::split`] then [`Envelope::rebuild`] with the inner entity
//!   gives the message back (well-formed input, CRLF or LF).
//! - [`Multipart::split`] of a generated multipart gives exactly the
//!   generated preamble, parts and epilogue, for any boundary RFC 2046
//!   allows and any content without a delimiter line.
//! - [`encode_base64`] / [`decode_base64`] and the streaming
//!   [`Base64Writer`] / [`Base64Reader`].
//! - RFC 2047: the encoded words [`StrippedValue::to_field_value`] writes
//!   decode ([`decode_header_value`]) to the text it was given.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufReader, Read, Write};

use mail_message::shown_text::{StrippedValue, decode_header_value, normalize, strip_marker};
use mail_message::stream::{Base64Reader, Base64Writer, CanonicalWriter, LineBreakWriter};
use mail_message::{
    Entity, Envelope, LineBreak, MimeError, Multipart, canonicalize, decode_base64, encode_base64,
    with_line_breaks,
};
use proptest::prelude::*;

/// Bytes that are mostly line-break material, so that CR, LF, CRLF, LFCR
/// and runs of them are common rather than rare.
fn line_break_heavy() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            3 => proptest::sample::select(b"\r\n".to_vec()),
            2 => any::<u8>(),
            1 => proptest::sample::select(b"ab -".to_vec()),
        ],
        0..200,
    )
}

/// How many LFs in `input` have no CR before them.
fn bare_lfs(input: &[u8]) -> usize {
    input
        .iter()
        .enumerate()
        .filter(|&(at, &b)| b == b'\n' && (at == 0 || input[at - 1] != b'\r'))
        .count()
}

/// `input` with every CRLF read as LF (the line structure, whatever the
/// line-break style).
fn lf_lines(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    for (at, &b) in input.iter().enumerate() {
        if b == b'\r' && input.get(at + 1) == Some(&b'\n') {
            continue;
        }
        out.push(b);
    }
    out
}

/// `data` cut at the given points (sorted, clamped), for feeding writers
/// and readers in pieces.
fn pieces(data: &[u8], mut cuts: Vec<usize>) -> Vec<&[u8]> {
    cuts.iter_mut().for_each(|c| *c %= data.len() + 1);
    cuts.sort_unstable();
    let mut out = Vec::new();
    let mut start = 0;
    for cut in cuts {
        out.push(&data[start..cut]);
        start = cut;
    }
    out.push(&data[start..]);
    out
}

proptest! {
    #[test]
    fn canonicalize_is_idempotent_and_only_adds_cr_before_bare_lf(input in line_break_heavy()) {
        let canonical = canonicalize(&input);
        prop_assert_eq!(canonicalize(&canonical), canonical.clone(), "not idempotent");
        // Every LF is preceded by a CR ...
        prop_assert_eq!(bare_lfs(&canonical), 0);
        // ... exactly one CR was added per bare LF, and nothing else
        // changed: read line by line, input and output are the same bytes.
        prop_assert_eq!(canonical.len(), input.len() + bare_lfs(&input));
        prop_assert_eq!(lf_lines(&canonical), lf_lines(&input));
        // Input that is canonical already comes back unchanged.
        prop_assert_eq!(canonical == input, bare_lfs(&input) == 0);
        prop_assert_eq!(with_line_breaks(&input, LineBreak::Crlf), canonical);
    }

    /// LF files (no CR at all) survive the trip to CRLF and back, which is
    /// how a message read from a Unix file is signed and written back.
    #[test]
    fn lf_text_survives_canonical_form_and_back(
        input in proptest::collection::vec(any::<u8>().prop_filter("no CR", |b| *b != b'\r'), 0..200),
    ) {
        let canonical = canonicalize(&input);
        prop_assert_eq!(with_line_breaks(&canonical, LineBreak::Lf), input);
    }

    /// The streaming adapters give the in-memory forms whatever the write
    /// boundaries (a CR at the end of one write, its LF in the next).
    #[test]
    fn streaming_line_break_adapters_match_the_in_memory_forms(
        input in line_break_heavy(),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut canonical = CanonicalWriter::new(Vec::new());
        for piece in pieces(&input, cuts.clone()) {
            canonical.write_all(piece).unwrap();
        }
        let unchanged = canonical.is_unchanged();
        prop_assert_eq!(canonical.into_inner(), canonicalize(&input));
        prop_assert_eq!(unchanged, bare_lfs(&input) == 0);

        let mut lf = LineBreakWriter::new(Vec::new(), LineBreak::Lf);
        for piece in pieces(&input, cuts) {
            lf.write_all(piece).unwrap();
        }
        prop_assert_eq!(lf.finish().unwrap(), with_line_breaks(&input, LineBreak::Lf));
    }
}

/// A header field value: printable ASCII, possibly folded (RFC 5322
/// section 3.2.2), with the line break to use inserted by the caller.
fn field_value() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec("[ -~]{0,30}", 1..3)
}

/// One field `Name:` + value lines joined by `line_break` + a space or tab.
fn field(name: &str, lines: &[String], fold_with_tab: bool, line_break: &str) -> Vec<u8> {
    let fold = if fold_with_tab { "\t" } else { " " };
    let mut out = format!("{name}: {}", lines[0]);
    for line in &lines[1..] {
        out.push_str(line_break);
        out.push_str(fold);
        out.push_str(line);
    }
    out.push_str(line_break);
    out.into_bytes()
}

/// A body in `line_break` style: lines of any bytes but LF (and, in LF
/// style, but CR, which would make a CRLF of the style's LF).
fn body(line_break: LineBreak) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        proptest::collection::vec(
            any::<u8>().prop_filter("no line break", move |b| {
                *b != b'\n' && (line_break == LineBreak::Crlf || *b != b'\r')
            }),
            0..40,
        ),
        0..6,
    )
    .prop_map(move |lines| lines.join(line_break.as_bytes()))
}

const OUTER_NAMES: [&str; 9] = [
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Received",
    "X-Mailer",
    "Reply-To",
];
const CONTENT_NAMES: [&str; 5] = [
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "Content-ID",
    "Content-Description",
];

/// A well-formed message as `Envelope::rebuild` writes one: outer fields,
/// `MIME-Version: 1.0`, the entity's `Content-*` fields, an empty line and
/// the body, all in one line-break style.
fn message() -> impl Strategy<Value = Vec<u8>> {
    let named = |names: &'static [&'static str]| {
        proptest::collection::vec(
            (
                proptest::sample::select(names),
                field_value(),
                any::<bool>(),
            ),
            0..5,
        )
    };
    (
        any::<bool>(),
        named(&OUTER_NAMES),
        named(&CONTENT_NAMES),
        any::<bool>(),
    )
        .prop_flat_map(|(crlf, outer, content, body_present)| {
            let line_break = if crlf { LineBreak::Crlf } else { LineBreak::Lf };
            (
                Just((line_break, outer, content, body_present)),
                body(line_break),
            )
        })
        .prop_map(|((line_break, outer, content, body_present), body)| {
            let lb = if line_break == LineBreak::Crlf {
                "\r\n"
            } else {
                "\n"
            };
            let mut out = Vec::new();
            for (name, lines, tab) in &outer {
                out.extend(field(name, lines, *tab, lb));
            }
            out.extend(format!("MIME-Version: 1.0{lb}").into_bytes());
            for (name, lines, tab) in &content {
                out.extend(field(name, lines, *tab, lb));
            }
            out.extend_from_slice(lb.as_bytes());
            if body_present {
                out.extend(body);
            }
            out
        })
}

proptest! {
    #[test]
    fn envelope_split_then_rebuild_is_the_identity(message in message()) {
        let envelope = Envelope::split(&message).unwrap();
        prop_assert_eq!(
            envelope.rebuild(envelope.inner()),
            message.clone(),
            "{}",
            String::from_utf8_lossy(&message)
        );
        // The inner entity is the Content-* fields and the body, in
        // canonical form, and nothing else.
        let inner = Entity::parse(envelope.inner()).unwrap();
        prop_assert!(inner.fields().iter().all(|f| f.is_content_field()));
        let original = Entity::parse(&message).unwrap();
        prop_assert_eq!(inner.body(), &canonicalize(original.body())[..]);
    }

    /// Fields in any order, `MIME-Version` anywhere, absent or repeated:
    /// the rebuilt message keeps the outer fields in order, has exactly one
    /// `MIME-Version`, then the entity's fields, and the body.
    #[test]
    fn envelope_rebuild_keeps_every_field_in_order(
        fields in proptest::collection::vec(
            (
                proptest::sample::select(
                    [&OUTER_NAMES[..], &CONTENT_NAMES[..], &["MIME-Version"]].concat(),
                ),
                field_value(),
                any::<bool>(),
            ),
            0..8,
        ),
        body in body(LineBreak::Crlf),
    ) {
        let mut message = Vec::new();
        for (name, lines, tab) in &fields {
            message.extend(field(name, lines, *tab, "\r\n"));
        }
        message.extend_from_slice(b"\r\n");
        message.extend_from_slice(&body);
        let envelope = Envelope::split(&message).unwrap();
        let rebuilt = envelope.rebuild(envelope.inner());
        let parsed = Entity::parse(&rebuilt).unwrap();
        let names = |entity: &Entity<'_>| -> Vec<(bool, Vec<u8>)> {
            entity
                .fields()
                .iter()
                .filter(|f| !f.is("mime-version"))
                .map(|f| (f.is_content_field(), f.raw().to_vec()))
                .collect()
        };
        let mut expected = names(&Entity::parse(&message).unwrap());
        // Outer fields first, then the entity's (a stable partition).
        expected.sort_by_key(|(content, _)| *content);
        prop_assert_eq!(names(&parsed), expected);
        prop_assert_eq!(parsed.count("mime-version"), 1);
        let version = parsed.fields().iter().position(|f| f.is("mime-version")).unwrap();
        prop_assert!(parsed.fields()[..version].iter().all(|f| !f.is_content_field()));
        prop_assert!(parsed.fields()[version + 1..].iter().all(|f| f.is_content_field()));
        prop_assert_eq!(parsed.body(), &body[..]);
    }
}

/// A boundary as RFC 2046 section 5.1.1 allows: 1 to 70 `bchars`, the
/// last not a space.
fn boundary() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z]{1,3}",
        "[0-9A-Za-z'()+_,./:=? -]{0,69}[0-9A-Za-z'()+_,./:=?-]",
    ]
}

/// Content that is likely to hold near-delimiters (`--`, the boundary's
/// letters, line breaks).
fn content() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            3 => proptest::sample::select(b"-\r\nab ".to_vec()),
            1 => any::<u8>(),
        ],
        0..60,
    )
}

/// Whether some line of `content` begins with `--boundary` (it might be
/// read as a delimiter; such content is not what this property is about).
fn has_delimiter_like_line(content: &[u8], boundary: &str) -> bool {
    let delimiter = format!("--{boundary}");
    content.starts_with(delimiter.as_bytes())
        || content
            .windows(delimiter.len() + 1)
            .any(|w| w[0] == b'\n' && &w[1..] == delimiter.as_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn multipart_split_returns_exactly_the_generated_parts(
        boundary in boundary(),
        preamble in proptest::option::of(content()),
        parts in proptest::collection::vec(content(), 1..5),
        epilogue in content(),
        padding in proptest::collection::vec("[ \t]{0,2}", 6),
        crlf in any::<bool>(),
    ) {
        let lb: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        // With LF delimiters a part ending in CR is ambiguous: its CR and
        // the delimiter's LF read as the CRLF that belongs to the delimiter.
        prop_assume!(crlf || parts.iter().all(|p| p.last() != Some(&b'\r')));
        prop_assume!(crlf || preamble.as_ref().is_none_or(|p| p.last() != Some(&b'\r')));
        prop_assume!(!parts.iter().any(|p| has_delimiter_like_line(p, &boundary)));
        prop_assume!(!preamble.as_ref().is_some_and(|p| has_delimiter_like_line(p, &boundary)));

        let mut body = Vec::new();
        if let Some(preamble) = &preamble {
            body.extend_from_slice(preamble);
            body.extend_from_slice(lb);
        }
        for (index, part) in parts.iter().enumerate() {
            if index > 0 {
                body.extend_from_slice(lb);
            }
            body.extend_from_slice(format!("--{boundary}").as_bytes());
            body.extend_from_slice(padding[index].as_bytes());
            body.extend_from_slice(lb);
            body.extend_from_slice(part);
        }
        let unterminated = body.clone();
        body.extend_from_slice(lb);
        body.extend_from_slice(format!("--{boundary}--").as_bytes());
        body.extend_from_slice(padding[5].as_bytes());
        body.extend_from_slice(lb);
        body.extend_from_slice(&epilogue);

        let multipart = Multipart::split(&body, &boundary).unwrap();
        let expected: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        prop_assert_eq!(multipart.parts(), &expected[..]);
        prop_assert_eq!(multipart.preamble(), preamble.as_deref().unwrap_or_default());
        prop_assert_eq!(multipart.epilogue(), &epilogue[..]);
        prop_assert_eq!(Multipart::split_lenient(&body, &boundary), (multipart, true));

        // Without its closing delimiter the body is refused by the strict
        // split, and the lenient one (the policy's) still sees every part,
        // the last one running to the end.
        prop_assert_eq!(
            Multipart::split(&unterminated, &boundary),
            Err(MimeError::UnterminatedMultipart { boundary: boundary.clone() })
        );
        let (lenient, terminated) = Multipart::split_lenient(&unterminated, &boundary);
        prop_assert!(!terminated);
        prop_assert_eq!(lenient.parts(), &expected[..]);
    }
}

proptest! {
    #[test]
    fn base64_decodes_what_it_encodes(
        data in proptest::collection::vec(any::<u8>(), 0..300),
        crlf in any::<bool>(),
        whitespace in proptest::collection::vec((any::<usize>(), "[ \t\r\n]"), 0..5),
    ) {
        let line_break = if crlf { LineBreak::Crlf } else { LineBreak::Lf };
        let encoded = encode_base64(&data, line_break);
        prop_assert_eq!(decode_base64(&encoded).unwrap(), data.clone());
        // Lines of at most 76 characters (RFC 2045 section 6.8), each
        // ending in the line break asked for.
        for line in encoded.split_inclusive(|b| *b == b'\n') {
            prop_assert!(line.ends_with(line_break.as_bytes()));
            prop_assert!(line.len() - line_break.as_bytes().len() <= 76);
        }
        // White space anywhere is ignored, as mail carries base64.
        let mut spaced = encoded.clone();
        for (at, space) in whitespace {
            spaced.splice(at % (spaced.len() + 1)..at % (spaced.len() + 1), space.bytes());
        }
        prop_assert_eq!(decode_base64(&spaced).unwrap(), data);
    }

    /// The streaming encoder writes what `encode_base64` writes, and the
    /// streaming decoder reads it back, whatever the pieces.
    #[test]
    fn streaming_base64_matches_the_in_memory_form(
        data in proptest::collection::vec(any::<u8>(), 0..400),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
        capacity in 1usize..100,
        crlf in any::<bool>(),
        public in any::<bool>(),
    ) {
        let line_break = if crlf { LineBreak::Crlf } else { LineBreak::Lf };
        let mut writer = if public {
            Base64Writer::for_public_data(Vec::new(), line_break)
        } else {
            Base64Writer::new(Vec::new(), line_break)
        };
        for piece in pieces(&data, cuts) {
            writer.write_all(piece).unwrap();
        }
        let encoded = writer.finish().unwrap();
        prop_assert_eq!(&encoded, &encode_base64(&data, line_break));
        let mut decoded = Vec::new();
        Base64Reader::new(BufReader::with_capacity(capacity, &encoded[..]))
            .read_to_end(&mut decoded)
            .unwrap();
        prop_assert_eq!(decoded, data);
    }
}

/// Text a Subject may show: letters, digits, punctuation, spaces and some
/// non-ASCII, including what looks like RFC 2047 syntax.
fn subject_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            4 => "[a-zA-Z0-9 ]",
            1 => "[=?_!\\[\\]]",
            1 => "[äöüßÄ€“”日本語😀\u{301}]",
        ],
        0..80,
    )
    .prop_map(|chars| chars.concat())
}

const TAG: &str = "[vertraulich]";

proptest! {
    /// What the marker-stripping writes back into a Subject reads (RFC 2047
    /// decoded, as a client shows it) as exactly the text it meant, whether
    /// written as encoded words or as it was; long text is split into
    /// several words (a character never split between two).
    #[test]
    fn stripped_subjects_decode_to_their_text(
        before in subject_text(),
        after in subject_text(),
        encoded in any::<bool>(),
    ) {
        use base64::Engine as _;
        let shown = format!("{before} {TAG} {after}");
        let raw = if encoded {
            format!(" =?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(&shown))
        } else {
            format!(" {shown}")
        };
        let stripped: StrippedValue = strip_marker(raw.as_bytes(), TAG).unwrap();
        let value = stripped.to_field_value("\r\n");
        prop_assert_eq!(decode_header_value(value.as_bytes()), stripped.text());
        prop_assert!(!normalize(stripped.text()).contains(TAG));
        // Encoded words fit RFC 2047's 75 characters (text written as it
        // was keeps its length).
        if value.contains("=?") {
            for word in value.split("\r\n") {
                prop_assert!(word.trim_start().len() <= 75, "an encoded word too long: {word:?}");
            }
        }
    }
}
