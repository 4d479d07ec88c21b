//! The message corpus: real-world-shaped and malformed messages in
//! `tests/corpus/*.eml`, each with the parse it must give in
//! `tests/corpus/*.expected` (as mail-parser keeps one).
//!
//! The expected file is a plain text report of what every reader in this
//! crate makes of the message: the [`MessageTree`] (part numbers, content
//! types in force and as declared, parameters, transfer encodings, file
//! names, attachment flags, body sizes), the problems it lists (header
//! errors, repeated singletons, unterminated multiparts), the Subject as
//! [`shown_text`] decodes it, the From addresses as [`EmailAddress`] reads
//! them, and what signing makes of it ([`Envelope::split`],
//! [`Envelope::signable`]). Policy and cryptography both read this one
//! parse, so a change in any line is a change in what they see.
//!
//! `MAIL_MESSAGE_BLESS=1 cargo test -p mail-message --test corpus` rewrites
//! the expected files; a rewritten file must be read by hand before it is
//! committed (the test only guards what the expectations say).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use mail_message::shown_text::{decode_header_value, normalize};
use mail_message::tree::Place;
use mail_message::{EmailAddress, Envelope, MessageTree, Part, PartKind};

/// Bodies up to this size are shown escaped; longer ones by size only.
const SHOWN_BODY: usize = 96;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Bytes as printable ASCII (`\r`, `\n`, `\x00`, `\xc3` ...), so that the
/// expected files are plain text and line breaks in values are visible.
fn escaped(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|b| std::ascii::escape_default(*b))
        .map(char::from)
        .collect()
}

/// Text quoted, long text as its length, start and end (a 2,000 character
/// Subject would drown the rest of the report).
fn abridged(text: &str) -> String {
    let length = text.chars().count();
    if length <= 120 {
        return format!("{text:?}");
    }
    let start: String = text.chars().take(60).collect();
    let end: String = text.chars().skip(length - 20).collect();
    format!("{length} characters: {start:?} ... {end:?}")
}

fn place(place: &Place) -> String {
    match place {
        Place::Message => "message".to_owned(),
        Place::Part(number) => number.clone(),
        Place::Entity => "entity".to_owned(),
    }
}

fn describe_part(part: &Part<'_>, depth: usize, out: &mut String) {
    let indent = "  ".repeat(depth);
    let kind = match part.kind() {
        PartKind::Leaf => "leaf",
        PartKind::Multipart => "multipart",
        PartKind::Message => "message",
    };
    let _ = writeln!(
        out,
        "{indent}{} {kind} {}",
        place(part.place()),
        part.content_type().mime_type()
    );
    let declared = part
        .declared_content_type()
        .map_or("none", |ct| ct.mime_type());
    let _ = writeln!(out, "{indent}  declared: {declared}");
    for (name, value) in part.content_type().parameters() {
        let _ = writeln!(out, "{indent}  param {name}: {:?}", value);
    }
    let _ = writeln!(
        out,
        "{indent}  transfer-encoding: {}",
        part.transfer_encoding()
    );
    if let Some(disposition) = part.disposition() {
        let _ = writeln!(out, "{indent}  disposition: {disposition}");
    }
    if let Some(name) = part.file_name() {
        let _ = writeln!(
            out,
            "{indent}  file name: charset={} bytes=\"{}\"",
            name.charset.as_deref().unwrap_or("none"),
            escaped(&name.bytes)
        );
    }
    if part.is_attachment() {
        let _ = writeln!(out, "{indent}  attachment");
    }
    if part.kind() == PartKind::Leaf {
        let body = part.body();
        if body.len() <= SHOWN_BODY {
            let _ = writeln!(out, "{indent}  body: \"{}\"", escaped(body));
        } else {
            let _ = writeln!(out, "{indent}  body: {} bytes", body.len());
        }
    }
    for child in part.children() {
        describe_part(child, depth + 1, out);
    }
}

/// The report the expected files hold.
fn describe(raw: &[u8]) -> String {
    let tree = MessageTree::parse(raw);
    let mut out = String::new();
    let _ = writeln!(out, "structure: {}", tree.root().structure());
    match tree.header_error() {
        Some(error) => {
            let _ = writeln!(out, "header: error: {error}");
        }
        None => {
            let _ = writeln!(out, "header: ok");
        }
    }
    match tree.check_singletons() {
        Ok(()) => {
            let _ = writeln!(out, "singletons: ok");
        }
        Err(duplicate) => {
            let _ = writeln!(out, "singletons: refused: {duplicate}");
        }
    }
    let _ = writeln!(out, "problems: {}", tree.problems().len());
    for (at, problem) in tree.problems() {
        let _ = writeln!(out, "  {}: {problem}", place(at));
    }
    match tree.root().field("subject") {
        Some(field) => {
            let shown = decode_header_value(field.raw_value());
            let _ = writeln!(out, "subject: {}", abridged(&shown));
            let normal = normalize(&shown);
            if normal != shown {
                let _ = writeln!(out, "subject normalized: {}", abridged(&normal));
            }
        }
        None => {
            let _ = writeln!(out, "subject: none");
        }
    }
    match tree.root().field("from") {
        Some(field) => match EmailAddress::parse_mailboxes(&field.value()) {
            Ok(addresses) => {
                // As written, and the canonical key policy and directories
                // compare where it differs.
                let list: Vec<String> = addresses
                    .iter()
                    .map(|address| {
                        if address.key() == address.as_str() {
                            address.as_str().to_owned()
                        } else {
                            format!("{} -> {}", address.as_str(), address.key())
                        }
                    })
                    .collect();
                let _ = writeln!(out, "from: {list:?}");
            }
            Err(error) => {
                let _ = writeln!(out, "from: error: {error}");
            }
        },
        None => {
            let _ = writeln!(out, "from: none");
        }
    }
    let attachments: Vec<String> = tree
        .attachments()
        .iter()
        .map(|part| {
            format!(
                "{} {}",
                place(part.place()),
                part.content_type().mime_type()
            )
        })
        .collect();
    let _ = writeln!(out, "attachments: {attachments:?}");
    match Envelope::split(raw) {
        Ok(envelope) => {
            let _ = writeln!(out, "envelope: inner {} bytes", envelope.inner().len());
            match envelope.signable() {
                Ok(signable) => {
                    let _ = writeln!(out, "signable: {} bytes", signable.len());
                }
                Err(error) => {
                    let _ = writeln!(out, "signable: error: {error}");
                }
            }
        }
        Err(error) => {
            let _ = writeln!(out, "envelope: error: {error}");
        }
    }
    let _ = writeln!(out, "tree:");
    describe_part(tree.root(), 1, &mut out);
    out
}

#[test]
fn every_corpus_message_parses_as_expected() {
    let bless = std::env::var_os("MAIL_MESSAGE_BLESS").is_some_and(|v| v == "1");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus exists")
        .map(|entry| entry.expect("readable directory").path())
        .filter(|path| path.extension().is_some_and(|e| e == "eml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "the corpus lost cases: {}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let raw = std::fs::read(case).expect("readable case");
        let report = describe(&raw);
        let expected_path = case.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &report).expect("writable expected file");
            continue;
        }
        match std::fs::read_to_string(&expected_path) {
            Ok(expected) if expected == report => {}
            Ok(expected) => failures.push(format!(
                "{}:\n--- expected\n{expected}--- found\n{report}",
                case.display()
            )),
            Err(error) => failures.push(format!(
                "{}: no expected file ({error}); run with MAIL_MESSAGE_BLESS=1 and review it",
                case.display()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Every expected file belongs to a message (a renamed case must not leave
/// a stale expectation behind that nothing checks).
#[test]
fn every_expected_file_has_its_message() {
    for entry in std::fs::read_dir(corpus_dir()).expect("tests/corpus exists") {
        let path = entry.expect("readable directory").path();
        if path.extension().is_some_and(|e| e == "expected") {
            assert!(
                path.with_extension("eml").exists(),
                "{} has no message",
                path.display()
            );
        }
    }
}

/// Encoded words in the CJK charsets mail clients meet every day are shown
/// as the reader sees them (`mail-parser` decodes Shift_JIS, EUC-JP,
/// ISO-2022-JP, GB2312, Big5 and EUC-KR with its `full_encoding` feature;
/// without it they were read as UTF-8, lossily, and a marker in such a
/// Subject was never found).
#[test]
fn cjk_encoded_words_are_decoded() {
    for (word, text) in [
        ("=?Shift_JIS?B?k/qWe4zq?=", "日本語"),
        ("=?EUC-JP?B?xvzL3Ljs?=", "日本語"),
        ("=?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?=", "日本語"),
        ("=?GB2312?B?1tDOxA==?=", "中文"),
        ("=?Big5?B?pKSk5Q==?=", "中文"),
        ("=?EUC-KR?B?x9Gxub7u?=", "한국어"),
    ] {
        assert_eq!(
            decode_header_value(format!(" {word}").as_bytes()),
            text,
            "{word}"
        );
    }
}

/// A B-encoded word whose text is not base64 (`[`, `]` and spaces are not
/// in its alphabet) is shown as written by mail-parser 0.11
/// (`Message::subject()` gives the word unchanged), so a reader sees
/// `=?utf-8?B?[vertraulich] Akte?=` with the tag in it; so does the one
/// reading: a forged result tag in such a word is stripped, and a
/// confidentiality tag in it triggers encryption. (Decoding it leniently,
/// dropping the characters outside the alphabet, gave garbage no reader
/// shows and hid the tag.)
#[test]
fn a_marker_inside_an_invalid_b_word_is_seen_as_the_reader_sees_it() {
    use mail_message::shown_text::{contains_marker, strip_marker};
    let raw = b" =?utf-8?B?[vertraulich] Akte?=";
    let shown = decode_header_value(raw);
    assert!(
        contains_marker(&shown, "[vertraulich]"),
        "the reader sees the tag, the policy reads {shown:?}"
    );
    let stripped = strip_marker(raw, "[vertraulich]").expect("the tag is found");
    assert!(!stripped.text().contains("vertraulich"));
}
