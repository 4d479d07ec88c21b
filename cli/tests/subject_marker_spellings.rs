//! Issue 16: no spelling of the Subject tag `[vertraulich]` walks around
//! the baseline rule R2. Through `mailgate process` with the demo set-up,
//! each spelling a red team found left an outbound mail in clear (the body
//! readable in what was delivered, the tag still in the Subject): invisible
//! characters inside the tag, full-width and other compatibility forms,
//! the Turkic dotted and dotless i and mixed case, and RFC 2047 encoded
//! words (unpadded base64, Q, UTF-16 and other charsets, split across two
//! words, a character split between words, a word glued to the text).
//! Now each is protected as the plain tag is, and the tag is gone from the
//! Subject the recipient sees, re-encoded where it was encoded. Running
//! text with `Vertraulichkeit` stays as it was.
//!
//! The class is proved by the property test in
//! `rule-engine/tests/subject_marker.rs`; these are the red team's cases
//! through the real entry point.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::demo;

use std::path::Path;

use base64ct::{Base64, Encoding};
use common::mailgate_in;
use serde_json::Value;

const BODY: &str = "Aktenzeichen 4711";

/// `text` in base64 without padding, as a sloppy client writes it.
fn unpadded(text: &[u8]) -> String {
    Base64::encode_string(text).trim_end_matches('=').to_owned()
}

/// The Subject field value of `mail` (after the colon, unfolded).
fn subject_of(mail: &[u8]) -> String {
    let text = String::from_utf8_lossy(mail);
    let header = text.split("\r\n\r\n").next().unwrap();
    let mut value = None::<String>;
    for line in header.split("\r\n") {
        if let Some(rest) = line.strip_prefix("Subject:") {
            value = Some(rest.to_owned());
        } else if line.starts_with([' ', '\t']) {
            if let Some(v) = value.as_mut() {
                v.push_str(line);
            }
        } else if value.is_some() {
            break;
        }
    }
    value.expect("a Subject field")
}

/// What a reader is shown of a Subject the gateway wrote: its own encoded
/// words are `=?UTF-8?B?...?=` only, decoded here independently of the
/// gateway's decoder.
fn shown(value: &str) -> String {
    let words: Vec<&str> = value.split_whitespace().collect();
    if !words.iter().all(|w| w.starts_with("=?UTF-8?B?")) {
        return value.trim().to_owned();
    }
    let mut bytes = Vec::new();
    for word in words {
        let payload = word
            .strip_prefix("=?UTF-8?B?")
            .and_then(|w| w.strip_suffix("?="))
            .expect("an encoded word the gateway wrote");
        bytes.extend(Base64::decode_vec(payload).unwrap());
    }
    String::from_utf8(bytes).unwrap()
}

/// Sends `subject` (the raw field value) from alice to bob@extern.example
/// and returns (the decision's rule, the delivered messages).
fn send(d: &Path, name: &str, subject: &str) -> (Value, Vec<Vec<u8>>) {
    let mail = format!(
        "From: alice@behoerde.example\r\nTo: bob@extern.example\r\nSubject: {subject}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{BODY}\r\n"
    );
    let out = format!("out-{name}");
    let output = mailgate_in(
        d,
        &[
            "process",
            "--config",
            "mailgate.toml",
            "--direction",
            "outbound",
            "--from",
            "alice@behoerde.example",
            "--to",
            "bob@extern.example",
            "--out-dir",
            &out,
        ],
        mail.as_bytes(),
        &[],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{name}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value =
        serde_json::from_slice(&std::fs::read(d.join(&out).join("result.json")).unwrap()).unwrap();
    let decided_by = result["audit"]["decisions"][0]["decided_by"].clone();
    let delivered = result["dispositions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == "deliver")
        .map(|x| std::fs::read(d.join(&out).join(x["message"].as_str().unwrap())).unwrap())
        .collect();
    (decided_by, delivered)
}

/// Each case is protected by R2 and its tag is gone from what bob sees,
/// leaving `expected`.
fn assert_protected(cases: &[(&str, String, &str)]) {
    let dir = demo();
    let d = dir.path();
    for (name, subject, expected) in cases {
        let (decided_by, delivered) = send(d, name, subject);
        assert_eq!(decided_by, "R2", "{name}: {subject}");
        assert_eq!(delivered.len(), 1, "{name}");
        let sent = &delivered[0];
        assert!(
            !String::from_utf8_lossy(sent).contains(BODY),
            "{name}: {subject} delivered in clear"
        );
        let value = subject_of(sent);
        assert_eq!(shown(&value), *expected, "{name}: {subject} -> {value}");
        // Written as the gateway writes: plain ASCII, or its own words.
        assert!(
            value.is_ascii() && value.split("\r\n").all(|l| l.len() <= 78),
            "{name}: {value:?}"
        );
    }
}

#[test]
fn invisible_characters_inside_the_tag_do_not_hide_it() {
    let cases: Vec<(&str, String, &str)> = [
        ("soft-hyphen", "\u{AD}"),
        ("zero-width-space", "\u{200B}"),
        ("zero-width-joiner", "\u{200D}"),
        ("zero-width-non-joiner", "\u{200C}"),
        ("word-joiner", "\u{2060}"),
        ("byte-order-mark", "\u{FEFF}"),
        ("mongolian-vowel-separator", "\u{180E}"),
        ("left-to-right-mark", "\u{200E}"),
        ("variation-selector", "\u{FE0F}"),
        ("tag-character", "\u{E0041}"),
    ]
    .into_iter()
    .map(|(name, c)| (name, format!("[vertr{c}aulich{c}] Akte"), "Akte"))
    .collect();
    assert_protected(&cases);
}

#[test]
fn compatibility_forms_of_the_tag_are_the_tag() {
    let cases = [
        (
            "full-width-brackets",
            "\u{FF3B}vertraulich\u{FF3D} Akte".to_owned(),
            "Akte",
        ),
        (
            "full-width-letters",
            "[\u{FF56}\u{FF45}\u{FF52}\u{FF54}\u{FF52}\u{FF41}\u{FF55}\u{FF4C}\u{FF49}\u{FF43}\u{FF48}] Akte"
                .to_owned(),
            "Akte",
        ),
        (
            "mathematical-bold",
            "[\u{1D42F}ertraulich] Akte".to_owned(),
            "Akte",
        ),
        (
            "presentation-form-brackets",
            "\u{FE47}vertraulich\u{FE48} Akte".to_owned(),
            "Akte",
        ),
        (
            "no-break-spaces-around",
            "Akte\u{A0}[vertraulich]\u{3000}4711".to_owned(),
            "Akte 4711",
        ),
    ];
    assert_protected(&cases);
}

#[test]
fn any_case_of_the_tag_is_the_tag() {
    let cases = [
        (
            "dotted-capital-i",
            "[VERTRAUL\u{130}CH] Akte".to_owned(),
            "Akte",
        ),
        ("dotless-i", "[vertraul\u{131}ch] Akte".to_owned(), "Akte"),
        (
            "i-with-combining-dot",
            "[VERTRAULI\u{307}CH] Akte".to_owned(),
            "Akte",
        ),
        ("mixed-case", "[VeRtRaUlIcH] Akte".to_owned(), "Akte"),
    ];
    assert_protected(&cases);
}

#[test]
fn encoded_words_of_every_kind_show_the_tag_and_lose_it() {
    let utf16 = |text: &str, big: bool| -> Vec<u8> {
        text.encode_utf16()
            .flat_map(|u| {
                if big {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    };
    let cases = [
        (
            "base64-unpadded",
            format!("=?utf-8?b?{}?=", unpadded(b"[vertraulich] Akten")),
            "Akten",
        ),
        (
            "q-encoding",
            "=?utf-8?q?=5BVertraulich=5D_Akte_=C3=BCber_4711?=".to_owned(),
            "Akte über 4711",
        ),
        (
            "utf-16be",
            format!(
                "=?utf-16be?b?{}?=",
                Base64::encode_string(&utf16("[vertraulich] Akte", true))
            ),
            "Akte",
        ),
        (
            "utf-16le-split-mid-unit",
            {
                let bytes = utf16("[vertraulich] Akte", false);
                format!(
                    "=?UTF-16LE?B?{}?= =?utf-16le?b?{}?=",
                    Base64::encode_string(&bytes[..9]),
                    Base64::encode_string(&bytes[9..])
                )
            },
            "Akte",
        ),
        (
            "iso-8859-9-dotted-i",
            "=?iso-8859-9?q?=5BVERTRAUL=DDCH=5D?= Akte".to_owned(),
            "Akte",
        ),
        (
            "split-across-two-words",
            "=?utf-8?q?=5Bvertrau?= =?utf-8?q?lich=5D_Akte?=".to_owned(),
            "Akte",
        ),
        (
            "split-across-charsets-and-lines",
            format!(
                "=?utf-8?b?{}?=\r\n =?iso-8859-1?q?aulich=5D_Akte?=",
                unpadded(b"[vertr")
            ),
            "Akte",
        ),
        (
            // A soft hyphen inside the tag, its two UTF-8 bytes in two
            // words: decoded together, as clients do.
            "character-split-between-words",
            format!(
                "=?utf-8?b?{}?= =?utf-8?b?{}?=",
                Base64::encode_string(b"[vertr\xC2"),
                Base64::encode_string(b"\xADaulich] Akte")
            ),
            "Akte",
        ),
        (
            "glued-to-text",
            "[vertr=?utf-8?q?aulich?=] Akte".to_owned(),
            "Akte",
        ),
        (
            "q-with-spaces",
            "=?utf-8?q?[vertraulich] Akte?=".to_owned(),
            "Akte",
        ),
        (
            // Not base64: readers show the word as written, tag included.
            "b-word-that-is-not-base64",
            "=?utf-8?B?[vertraulich] Akte?=".to_owned(),
            "=?utf-8?B? Akte?=",
        ),
        (
            "tag-in-word-rest-non-ascii",
            "=?utf-8?q?=5Bvertraulich=5D_=C3=84nderung_=3D=3F?=".to_owned(),
            "Änderung =?",
        ),
    ];
    assert_protected(&cases);
}

#[test]
fn running_text_and_other_words_stay_as_they_were() {
    let dir = demo();
    let d = dir.path();
    for (name, subject) in [
        ("vertraulichkeit", "Vertraulichkeit der Akte"),
        (
            "vertraulichkeit-encoded",
            "=?utf-8?q?VERTRAULICHKEIT_=C3=BCber_4711?=",
        ),
        ("without-brackets", "vertraulich"),
        ("other-letter", "[vertr\u{E4}ulich] Akte"),
        ("cyrillic-a", "[vertr\u{430}ulich] Akte"),
    ] {
        let (decided_by, delivered) = send(d, name, subject);
        assert_ne!(decided_by, "R2", "{name}");
        assert_eq!(delivered.len(), 1, "{name}");
        // Delivered signed, in clear, with the Subject byte for byte.
        let text = String::from_utf8_lossy(&delivered[0]).into_owned();
        assert!(text.contains(BODY), "{name}");
        assert_eq!(subject_of(&delivered[0]).trim(), subject, "{name}");
    }
}
