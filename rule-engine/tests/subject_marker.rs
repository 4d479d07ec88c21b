#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Issue 16: no spelling of the Subject tag walks around the policy. A
//! property test generates spellings of `[vertraulich]` that a mail client
//! shows as the tag (default-ignorable and format characters anywhere in
//! it, full-width and other compatibility forms, any case including the
//! Turkic `İ`/`ı`, RFC 2047 encoded words in several charsets, B and Q,
//! padded or not, split at any byte between adjacent words) and asserts
//! the baseline policy decides exactly as for the plain tag, and that
//! stripping the tag leaves what stripping the plain tag leaves. Running
//! text with `Vertraulichkeit`, spelled the same ways, stays unprotected.
//! R2's other markers (`Sensitivity`, `X-Classification`) are read in the
//! same normal form.

use std::path::Path;

use base64::Engine as _;
use proptest::prelude::*;
use rule_engine::shown_text::{decode_header_value, normalize, strip_marker};
use rule_engine::{
    Direction, Envelope, Error, HeaderEdit, Message, Policy, RecipientDecision, StaticFacts,
};

const TAG: &str = "[vertraulich]";

fn baseline() -> Policy {
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/policies/baseline.toml"
    ));
    Policy::load(path).unwrap().0
}

/// The decision for bob@extern.example on an outbound mail from alice with
/// this raw Subject value.
fn decide(policy: &Policy, subject: &str) -> RecipientDecision {
    decide_with(policy, &format!("Subject:{subject}"))
}

/// The same for a mail with this header field (raw, without line break).
fn decide_with(policy: &Policy, field: &str) -> RecipientDecision {
    let raw = format!(
        "From: alice@behoerde.example\r\nTo: bob@extern.example\r\n{field}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nAktenzeichen 4711\r\n"
    );
    let message = Message::parse(raw.as_bytes());
    assert!(message.refusal().is_none(), "{raw}");
    let envelope = Envelope::new(
        Direction::Outbound,
        "alice@behoerde.example",
        ["bob@extern.example"],
    );
    let facts = StaticFacts::from_json(r#"{"sender": {"smime": true}}"#).unwrap();
    policy
        .evaluate(&envelope, &message, &facts)
        .recipients
        .remove(0)
}

/// Characters a client does not draw.
const INVISIBLE: [char; 14] = [
    '\u{AD}',
    '\u{200B}',
    '\u{200C}',
    '\u{200D}',
    '\u{2060}',
    '\u{FEFF}',
    '\u{180E}',
    '\u{34F}',
    '\u{FE0F}',
    '\u{2061}',
    '\u{202A}',
    '\u{E0020}',
    '\u{200E}',
    '\u{3164}',
];

/// One character of the tag as a reader may be shown it.
fn variant(c: char) -> BoxedStrategy<String> {
    let mut options = vec![c.to_string()];
    if c.is_ascii_graphic() {
        // Full width (U+FF01..U+FF5E mirror ASCII 0x21..0x7E).
        options.push(char::from_u32(u32::from(c) + 0xFEE0).unwrap().to_string());
    }
    if c.is_ascii_lowercase() {
        options.push(c.to_ascii_uppercase().to_string());
        // Mathematical bold small and capital letters (NFKC: the letter).
        let offset = u32::from(c) - u32::from('a');
        options.push(char::from_u32(0x1D41A + offset).unwrap().to_string());
        options.push(char::from_u32(0x1D400 + offset).unwrap().to_string());
    }
    match c {
        'i' => options.extend(["\u{130}", "\u{131}", "I\u{307}"].map(str::to_owned)),
        'a' => options.push("\u{FF41}".into()),
        '[' => options.push("\u{FE47}".into()),
        ']' => options.push("\u{FE48}".into()),
        _ => {}
    }
    proptest::sample::select(options).boxed()
}

/// `text` with every character in some variant (`variants`) and invisible
/// characters (0 to 2) after each.
fn obfuscated(text: &'static str, variants: bool) -> impl Strategy<Value = String> {
    let chars: Vec<BoxedStrategy<String>> = text
        .chars()
        .map(|c| {
            let shown = if variants {
                variant(c)
            } else {
                Just(c.to_string()).boxed()
            };
            (
                shown,
                proptest::collection::vec(proptest::sample::select(INVISIBLE.to_vec()), 0..3),
            )
                .prop_map(|(shown, invisible)| {
                    let mut s = shown;
                    s.extend(invisible);
                    s
                })
                .boxed()
        })
        .collect();
    chars.prop_map(|parts| parts.concat())
}

/// How a Subject's text is written into the field.
#[derive(Debug, Clone)]
enum Writing {
    /// As is (8-bit UTF-8).
    Raw,
    /// In encoded words in one charset, split at these byte fractions.
    Split {
        charset: &'static str,
        cuts: Vec<f64>,
        q: Vec<bool>,
        padded: bool,
        folded: bool,
    },
    /// Each of these fractions of the characters in its own charset.
    Mixed {
        cuts: Vec<f64>,
        charsets: Vec<&'static str>,
    },
}

fn writing() -> impl Strategy<Value = Writing> {
    prop_oneof![
        Just(Writing::Raw),
        (
            proptest::sample::select(vec![
                "utf-8", "UTF-8", "utf-16be", "utf-16le", "utf-16", "utf-32be"
            ]),
            proptest::collection::vec(0.0..1.0f64, 0..4),
            proptest::collection::vec(any::<bool>(), 5),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(charset, cuts, q, padded, folded)| Writing::Split {
                charset,
                cuts,
                q,
                padded,
                folded
            }),
        (
            proptest::collection::vec(0.0..1.0f64, 0..4),
            proptest::collection::vec(
                proptest::sample::select(vec!["utf-8", "utf-16le", "utf-16be", "utf-32be"]),
                5
            ),
        )
            .prop_map(|(cuts, charsets)| Writing::Mixed { cuts, charsets }),
    ]
}

fn encode(text: &str, charset: &str) -> Vec<u8> {
    match charset.to_ascii_lowercase().as_str() {
        "utf-16be" => text.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        // With a byte order mark, little-endian.
        "utf-16" => [0xFF, 0xFE]
            .into_iter()
            .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
            .collect(),
        "utf-16le" => text.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        "utf-32be" => text
            .chars()
            .flat_map(|c| u32::from(c).to_be_bytes())
            .collect(),
        _ => text.as_bytes().to_vec(),
    }
}

fn word(charset: &str, bytes: &[u8], q: bool, padded: bool) -> String {
    if q {
        let mut payload = String::new();
        for &b in bytes {
            if b.is_ascii_alphanumeric() {
                payload.push(char::from(b));
            } else if b == b' ' {
                payload.push('_');
            } else {
                payload.push_str(&format!("={b:02X}"));
            }
        }
        format!("=?{charset}?Q?{payload}?=")
    } else {
        let mut payload = base64::engine::general_purpose::STANDARD.encode(bytes);
        if !padded {
            payload = payload.trim_end_matches('=').to_owned();
        }
        format!("=?{charset}?b?{payload}?=")
    }
}

fn cut_points(len: usize, cuts: &[f64]) -> Vec<usize> {
    let mut points: Vec<usize> = cuts.iter().map(|f| (f * len as f64) as usize).collect();
    points.push(0);
    points.push(len);
    points.sort_unstable();
    points.dedup();
    points
}

/// The raw field value (after the colon) that shows `text`.
fn write(text: &str, writing: &Writing) -> String {
    match writing {
        Writing::Raw => format!(" {text}"),
        Writing::Split {
            charset,
            cuts,
            q,
            padded,
            folded,
        } => {
            let bytes = encode(text, charset);
            let points = cut_points(bytes.len(), cuts);
            let words: Vec<String> = points
                .windows(2)
                .enumerate()
                .map(|(i, w)| word(charset, &bytes[w[0]..w[1]], q[i % q.len()], *padded))
                .collect();
            let separator = if *folded { "\r\n " } else { " " };
            format!(" {}", words.join(separator))
        }
        Writing::Mixed { cuts, charsets } => {
            let chars: Vec<char> = text.chars().collect();
            let points = cut_points(chars.len(), cuts);
            let words: Vec<String> = points
                .windows(2)
                .enumerate()
                .map(|(i, w)| {
                    let piece: String = chars[w[0]..w[1]].iter().collect();
                    let charset = charsets[i % charsets.len()];
                    word(charset, &encode(&piece, charset), i % 2 == 0, i % 3 == 0)
                })
                .collect();
            format!(" {}", words.join(" "))
        }
    }
}

fn around() -> impl Strategy<Value = (&'static str, &'static str)> {
    (
        proptest::sample::select(vec![
            "",
            "Re: ",
            "AW:\u{A0}",
            "Akte 4711 ",
            "\u{C4}nderung  ",
        ]),
        proptest::sample::select(vec![
            "",
            " Akte",
            " Bescheid \u{FC}ber 4711",
            "\u{3000}Termin",
        ]),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_spelling_of_the_tag_gets_the_plain_tags_decision(
        tag in obfuscated(TAG, true),
        (before, after) in around(),
        writing in writing(),
    ) {
        let policy = baseline();
        let plain = decide(&policy, &format!(" {before}{TAG}{after}"));
        prop_assert_eq!(plain.decided_by.as_deref(), Some("R2"));
        let shown = format!("{before}{tag}{after}");
        let value = write(&shown, &writing);
        let decision = decide(&policy, &value);
        prop_assert_eq!(&decision.decided_by, &plain.decided_by, "{}", value);
        prop_assert_eq!(&decision.outcome, &plain.outcome, "{}", value);
        let strip = HeaderEdit::StripSubjectTag { tag: TAG.into() };
        prop_assert!(decision.outcome.header_edits.contains(&strip));

        // Stripping removes the tag from what the reader sees, and leaves
        // what stripping the plain tag leaves.
        let stripped = strip_marker(value.as_bytes(), TAG).expect("the tag is found");
        let written = stripped.to_field_value("\r\n");
        let reread = decode_header_value(written.as_bytes());
        prop_assert!(!normalize(&reread).contains(TAG), "{} -> {}", value, written);
        let plain_stripped = strip_marker(format!(" {before}{TAG}{after}").as_bytes(), TAG).unwrap();
        prop_assert_eq!(normalize(&reread), normalize(plain_stripped.text()), "{} -> {}", value, written);
        // And the stripped Subject is judged as not confidential.
        let after_strip = decide(&policy, &written);
        prop_assert_ne!(after_strip.decided_by.as_deref(), Some("R2"), "{}", written);
    }

    #[test]
    fn running_text_without_the_tag_stays_unprotected(
        word in obfuscated("Vertraulichkeit", true),
        (before, after) in around(),
        writing in writing(),
    ) {
        let policy = baseline();
        let plain = decide(&policy, &format!(" {before}Vertraulichkeit{after}"));
        prop_assert_ne!(plain.decided_by.as_deref(), Some("R2"));
        let value = write(&format!("{before}{word}{after}"), &writing);
        let decision = decide(&policy, &value);
        prop_assert_eq!(&decision.decided_by, &plain.decided_by, "{}", value);
        prop_assert_eq!(&decision.outcome, &plain.outcome, "{}", value);
        prop_assert!(strip_marker(value.as_bytes(), TAG).is_none());
    }

    #[test]
    fn every_spelling_of_the_other_markers_gets_the_plain_decision(
        classification in obfuscated("confidential", true),
        sensitivity in obfuscated("Company-Confidential", true),
        writing in writing(),
    ) {
        // R2's other markers are header values compared without case:
        // in the same normal form.
        let policy = baseline();
        let plain = decide_with(&policy, "X-Classification: confidential");
        prop_assert_eq!(plain.decided_by.as_deref(), Some("R2"));
        for field in [
            format!("X-Classification:{}", write(&classification, &writing)),
            format!("Sensitivity:{}", write(&sensitivity, &writing)),
        ] {
            let decision = decide_with(&policy, &field);
            prop_assert_eq!(&decision.decided_by, &plain.decided_by, "{}", field);
            prop_assert_eq!(&decision.outcome.actions, &plain.outcome.actions, "{}", field);
        }
    }

    #[test]
    fn invisible_characters_alone_never_change_the_text(
        tag in obfuscated(TAG, false),
    ) {
        prop_assert_eq!(normalize(&tag), TAG);
    }
}

#[test]
fn a_policy_tag_is_read_in_the_same_normal_form() {
    // A tag written in the policy with other case or width is the same tag.
    let (policy, _) = Policy::parse(
        r#"
        [[rules]]
        id = "tag"
        when = { subject_tag = "［VERTRAULİCH］" }
        then = { block = "tag" }
        [default]
        then = { deliver = true }
        "#,
        "policy.toml",
    )
    .unwrap();
    let message = Message::parse(b"Subject: =?utf-8?q?=5Bvertraulich=5D?= Akte\r\n\r\nx\r\n");
    let envelope = Envelope::new(Direction::Outbound, "a@b.example", ["c@d.example"]);
    let result = policy.evaluate(&envelope, &message, &StaticFacts::default());
    assert_eq!(result.recipients[0].decided_by.as_deref(), Some("tag"));

    // A tag of invisible characters only is empty, and refused.
    let refused = Policy::parse(
        "[[rules]]\nid = \"t\"\nwhen = { subject_tag = \"\u{200B}\u{AD}\" }\nthen = { block = \"t\" }\n\
         [default]\nthen = { deliver = true }\n",
        "policy.toml",
    );
    match refused {
        Err(Error::InvalidPolicy { diagnostics, .. }) => assert!(
            diagnostics
                .iter()
                .any(|d| d.message == "`subject_tag` is empty"),
            "{diagnostics:?}"
        ),
        other => panic!("{other:?}"),
    }
}
