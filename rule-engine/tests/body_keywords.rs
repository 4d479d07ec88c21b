#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Issue 16: no spelling of a DLP keyword walks around a `body` condition.
//! Body keywords are matched in the normal form of
//! `rule_engine::shown_text::normalize` (the Subject tag's): a property
//! test spells `Verschlusssache` and `streng geheim` as a reader still
//! reads them (soft hyphens, zero-width and other invisible characters
//! anywhere, full-width and upper-case letters, other white space between
//! the words), sends them 8-bit, quoted-printable or base64, in UTF-8 or
//! UTF-16, and asserts the rule fires exactly as for the plain keyword,
//! and not for running text without a keyword spelled the same ways.
//! `regex` conditions stay on the decoded text as it is (lower case): a
//! pattern says itself what each character means.

use base64::Engine as _;
use proptest::prelude::*;
use rule_engine::{Action, Direction, Envelope, Message, Policy, StaticFacts};

const POLICY: &str = r#"
[[rules]]
id = "dlp"
when = { body = { keywords = ["Verschlusssache", "streng geheim"], threshold = 1 } }
then = { quarantine = "DLP" }

[default]
then = { deliver = true }
"#;

fn policy(text: &str) -> Policy {
    Policy::parse(text, "dlp.toml").unwrap().0
}

/// Whether the policy quarantines an outbound mail with this body part
/// (`Content-Type` parameters and transfer encoding given, body as sent).
fn quarantined(policy: &Policy, charset: &str, encoding: &str, body: &str) -> bool {
    let raw = format!(
        "From: alice@behoerde.example\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset={charset}\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n{body}\r\n"
    );
    let message = Message::parse(raw.as_bytes());
    let envelope = Envelope::new(
        Direction::Outbound,
        "alice@behoerde.example",
        ["bob@extern.example"],
    );
    let result = policy.evaluate(&envelope, &message, &StaticFacts::default());
    result
        .recipient("bob@extern.example")
        .unwrap()
        .outcome
        .has(Action::Quarantine)
}

/// `text` sent one of several ways: 8-bit UTF-8, quoted-printable UTF-8,
/// base64 UTF-8, base64 UTF-16BE.
fn send(policy: &Policy, how: u8, text: &str) -> bool {
    let b64 = |bytes: &[u8]| {
        let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
        encoded
            .as_bytes()
            .chunks(76)
            .map(|line| String::from_utf8(line.to_vec()).unwrap())
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    match how % 4 {
        0 => quarantined(policy, "utf-8", "8bit", text),
        1 => {
            let tokens: Vec<String> = text
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() {
                        char::from(b).to_string()
                    } else {
                        format!("={b:02X}")
                    }
                })
                .collect();
            // Soft line breaks every 20 tokens, never inside `=XX`.
            let folded = tokens
                .chunks(20)
                .map(<[String]>::concat)
                .collect::<Vec<_>>()
                .join("=\r\n");
            quarantined(policy, "utf-8", "quoted-printable", &folded)
        }
        2 => quarantined(policy, "utf-8", "base64", &b64(text.as_bytes())),
        _ => {
            let bytes: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
            quarantined(policy, "utf-16be", "base64", &b64(&bytes))
        }
    }
}

/// Characters a reader does not see.
const INVISIBLES: [char; 8] = [
    '\u{AD}',
    '\u{200B}',
    '\u{200C}',
    '\u{200D}',
    '\u{2060}',
    '\u{FEFF}',
    '\u{180E}',
    '\u{E0020}',
];

/// White space a reader sees as a space between two words.
const SPACES: [&str; 5] = [" ", "\u{A0}", "\u{3000}", "  ", "\r\n"];

/// `text` spelled otherwise: per character (styles in turn) as is, upper
/// case, full width or full-width upper case, spaces as other white space;
/// then invisible characters inserted.
fn respell(text: &str, styles: &[u8], invisibles: &[(prop::sample::Index, usize)]) -> String {
    let full_width = |c: char| match c {
        '!'..='~' => char::from_u32(u32::from(c) + 0xFEE0).unwrap(),
        c => c,
    };
    let mut chars: Vec<String> = text
        .chars()
        .zip(styles.iter().cycle())
        .map(|(c, style)| match (c, style % 4) {
            (' ', style) => SPACES[usize::from(style) % SPACES.len()].to_owned(),
            (c, 1) => c.to_ascii_uppercase().to_string(),
            (c, 2) => full_width(c).to_string(),
            (c, 3) => full_width(c.to_ascii_uppercase()).to_string(),
            (c, _) => c.to_string(),
        })
        .collect();
    for (at, which) in invisibles {
        let at = at.index(chars.len() + 1);
        chars.insert(at, INVISIBLES[*which].to_string());
    }
    chars.concat()
}

#[test]
fn spellings_of_a_keyword_are_the_keyword() {
    let p = policy(POLICY);
    for body in [
        "Eine Verschlusssache.",
        "Eine VERSCHLUSSSACHE.",
        "Eine Ver\u{AD}schluss\u{200B}sache.",
        "Eine \u{FF36}erschlusssache.",
        "Eine Verschlu\u{DF}sache.",
        "Das ist streng\u{A0}geheim.",
        "Das ist streng\r\n geheim.",
        "Das ist STRENG \u{2060}GEHEIM.",
    ] {
        for how in 0..4 {
            assert!(send(&p, how, body), "{how}: {body:?}");
        }
    }
    for body in ["Verschluss-Sache", "streng, geheim", "Geheimnis"] {
        assert!(!send(&p, 0, body), "{body:?}");
    }
}

#[test]
fn regex_conditions_match_the_text_as_decoded() {
    // A pattern is matched on the decoded text (lower case), not on the
    // normal form: it says itself what each character means, and may mean
    // exactly the characters the normal form removes.
    let p = policy(
        "[[rules]]\nid = \"r\"\nwhen = { body = { regex = ['ge\\x{AD}heim'] } }\nthen = { quarantine = \"r\" }\n\n[default]\nthen = { deliver = true }\n",
    );
    assert!(send(&p, 0, "ge\u{AD}heim"));
    assert!(!send(&p, 0, "geheim"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Any spelling a reader reads as a keyword is the keyword; running
    /// text without one, spelled the same ways, is none.
    #[test]
    fn every_spelling_of_a_keyword_is_judged_as_the_plain_one(
        keyword in prop_oneof![Just("Verschlusssache"), Just("streng geheim")],
        with_keyword in prop_oneof![3 => Just(true), 1 => Just(false)],
        before in prop::collection::vec(prop_oneof![Just("Akte"), Just("Bericht"), Just("streng"), Just("Sache"), Just("Verschluss"), Just("bitte")], 0..4),
        after in prop::collection::vec(prop_oneof![Just("Akte"), Just("Sache"), Just("lesen"), Just("Verschluss")], 0..4),
        styles in prop::collection::vec(0u8..8, 1..40),
        invisibles in prop::collection::vec((any::<prop::sample::Index>(), 0..INVISIBLES.len()), 0..6),
        how in 0u8..4,
    ) {
        let p = policy(POLICY);
        let mut words: Vec<&str> = before.clone();
        if with_keyword {
            words.push(keyword);
        }
        words.extend(after.iter().copied());
        let plain = words.join(" ");
        let expected = send(&p, 0, &plain);
        prop_assert_eq!(expected, with_keyword, "{}", plain);
        let spelled = respell(&plain, &styles, &invisibles);
        prop_assert_eq!(send(&p, how, &spelled), expected, "{:?} sent as {}", spelled, how);
    }
}
