//! Content under a signature that does not hold is never handed out as
//! signed content: not by `verify_message`, not by the streaming path,
//! whichever form the signature takes. This is the rule of
//! `mail_message::Verdict::releases_content`, which OpenPGP verification
//! follows too; S/MIME used to release the content of any wholly covered
//! message, valid or not.

// Test code: a failing helper is a failing test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use base64ct::Encoding as _;
use smime_core::{SignatureForm, Verdict};
use testkit::KeyKind;

const MESSAGE: &[u8] =
    b"From: alice@example.org\r\nContent-Type: text/plain\r\n\r\nPlease transfer 500 EUR.\r\n";

/// `haystack` with the first `from` replaced by `to` (same length).
fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let at = haystack
        .windows(from.len())
        .position(|w| w == from)
        .expect("the text to tamper with is there");
    let mut out = haystack.to_vec();
    out[at..at + from.len()].copy_from_slice(to);
    out
}

/// A detached signature over content changed after signing.
fn tampered_detached() -> Vec<u8> {
    let signed = common::signer("alice@example.org", KeyKind::P256)
        .sign_message(MESSAGE, SignatureForm::Detached)
        .unwrap();
    replace(&signed, b"500 EUR", b"900 EUR")
}

/// An opaque `signed-data` message whose encapsulated content was changed
/// after signing (the CMS re-encoded as base64, so the MIME is intact).
fn tampered_opaque() -> Vec<u8> {
    let signed = common::signer("alice@example.org", KeyKind::P256)
        .sign_message(MESSAGE, SignatureForm::Opaque)
        .unwrap();
    let text = String::from_utf8(signed).unwrap();
    let (header, body) = text.split_once("\r\n\r\n").unwrap();
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let cms = base64ct::Base64::decode_vec(&compact).unwrap();
    let cms = replace(&cms, b"500 EUR", b"900 EUR");
    let encoded = base64ct::Base64::encode_string(&cms);
    let lines: Vec<&str> = encoded
        .as_bytes()
        .chunks(76)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!("{header}\r\n\r\n{}\r\n", lines.join("\r\n")).into_bytes()
}

#[test]
fn tampered_content_is_invalid_and_withheld_in_memory_and_streamed() {
    let verifier = common::verifier();
    for (name, message) in [
        ("detached", tampered_detached()),
        ("opaque", tampered_opaque()),
    ] {
        let report = verifier.verify_message(&message).unwrap();
        assert_eq!(report.verdict(), Verdict::Invalid, "{name}");
        assert!(report.unwrapped_message().is_none(), "{name}");
        assert!(report.findings().is_empty(), "{name}");

        let spooled = verifier.verify_message_spooled(&message[..]).unwrap();
        assert_eq!(spooled.verification().verdict(), Verdict::Invalid, "{name}");
        assert!(!spooled.has_unwrapped(), "{name}");
        let mut written = Vec::new();
        assert!(!spooled.write_unwrapped(&mut written).unwrap(), "{name}");
        assert!(written.is_empty(), "{name}");
    }
}

#[test]
fn genuine_content_is_released_in_both_forms() {
    let verifier = common::verifier();
    for form in [SignatureForm::Detached, SignatureForm::Opaque] {
        let signed = common::signer("alice@example.org", KeyKind::P256)
            .sign_message(MESSAGE, form)
            .unwrap();
        let report = verifier.verify_message(&signed).unwrap();
        assert_eq!(report.verdict(), Verdict::SignedByFrom, "{form:?}");
        let unwrapped = report.unwrapped_message().unwrap();
        assert!(
            unwrapped.ends_with(b"Please transfer 500 EUR.\r\n"),
            "{form:?}"
        );

        let spooled = verifier.verify_message_spooled(&signed[..]).unwrap();
        let mut written = Vec::new();
        assert!(spooled.write_unwrapped(&mut written).unwrap(), "{form:?}");
        assert!(
            written.ends_with(b"Please transfer 500 EUR.\r\n"),
            "{form:?}"
        );
    }
}
