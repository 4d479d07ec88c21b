//! The streaming forms give what the in-memory forms give:
//! `Encryptor::encrypt_message_stream` decrypts to the same message as
//! `encrypt_message`, `Decryptor::decrypt_message_spooled` writes the same
//! message and report as `decrypt_message` (CRLF and LF mail, RFC 3156 6.1
//! and 6.2, inline blocks), and nothing is released from tampered data.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use pgp_core::{Decryptor, Encryptor, Error, Signer, Verdict, Verifier};
use proptest::prelude::*;
use testkit::PgpSuite;

fn body() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            "[ -~]{0,80}",
            Just("--pgp-0000".to_owned()),
            Just("Grüße, café ✓".to_owned()),
            Just("-----BEGIN PGP MESSAGE-----".to_owned()),
            Just(String::new()),
        ],
        0..12,
    )
    .prop_map(|lines| lines.join("\r\n") + "\r\n")
}

fn with_lf(message: Vec<u8>, lf: bool) -> Vec<u8> {
    if lf {
        String::from_utf8(message)
            .unwrap()
            .replace("\r\n", "\n")
            .into_bytes()
    } else {
        message
    }
}

fn spooled(decryptor: &Decryptor, message: &[u8]) -> (Vec<u8>, Verdict) {
    let spooled = decryptor.decrypt_message_spooled(message).unwrap();
    let verdict = spooled.verification().verdict();
    let mut out = Vec::new();
    spooled.write_message(&mut out).unwrap();
    (out, verdict)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn streamed_and_in_memory_forms_agree(body in body(), lf in any::<bool>(), signed in any::<bool>()) {
        let alice = alice(PgpSuite::Cv25519);
        let bob = bob(PgpSuite::Cv25519);
        let message = with_lf(message(ALICE, &body), lf);
        let mut encryptor = Encryptor::new([public(&bob)]);
        if signed {
            encryptor = encryptor.with_signer(Signer::new(alice.cert(), None).unwrap());
        }
        let in_memory = encryptor.encrypt_message(&message).unwrap();
        let mut streamed = Vec::new();
        encryptor.encrypt_message_stream(&message[..], &mut streamed).unwrap();
        // The outer fields stay in the input's line-break style.
        let header_end = if lf { "\n\n" } else { "\r\n\r\n" };
        prop_assert!(String::from_utf8_lossy(&streamed).contains(header_end));
        if lf {
            prop_assert!(!streamed.contains(&b'\r'));
        }

        let decryptor = Decryptor::new([bob.cert().clone()])
            .with_verifier(Verifier::new([public(&alice)]));
        let expected = decryptor.decrypt_message(&in_memory).unwrap();
        let expected_verdict = if signed { Verdict::SignedByFrom } else { Verdict::Unsigned };
        prop_assert_eq!(expected.verification().verdict(), expected_verdict);
        for encrypted in [&in_memory, &streamed] {
            let (out, verdict) = spooled(&decryptor, encrypted);
            prop_assert_eq!(&out[..], expected.message());
            prop_assert_eq!(verdict, expected_verdict);
        }
    }
}

#[test]
fn sign_then_encrypt_is_verified_after_spooling() {
    let alice = alice(PgpSuite::Rsa3072);
    let bob = bob(PgpSuite::Cv25519);
    let signed = Signer::new(alice.cert(), None)
        .unwrap()
        .sign_message(&message(ALICE, "Section 6.1\r\n"))
        .unwrap();
    let mut encrypted = Vec::new();
    Encryptor::new([public(&bob)])
        .encrypt_message_stream(&signed[..], &mut encrypted)
        .unwrap();
    let decryptor =
        Decryptor::new([bob.cert().clone()]).with_verifier(Verifier::new([public(&alice)]));
    let (out, verdict) = spooled(&decryptor, &encrypted);
    assert_eq!(verdict, Verdict::SignedByFrom);
    assert_eq!(
        out,
        decryptor.decrypt_message(&encrypted).unwrap().message()
    );

    // Someone else's certificate: the signature inside does not verify.
    let carol = testkit::openpgp_key(CAROL, PgpSuite::Cv25519, testkit::PgpVersion::V4);
    let decryptor =
        Decryptor::new([bob.cert().clone()]).with_verifier(Verifier::new([public(&carol)]));
    let (_, verdict) = spooled(&decryptor, &encrypted);
    assert_eq!(verdict, Verdict::Invalid);
}

#[test]
fn inline_blocks_take_the_in_memory_path_with_the_same_result() {
    let bob = bob(PgpSuite::Cv25519);
    let armored = Encryptor::new([public(&bob)])
        .encrypt(b"inline secret\r\n")
        .unwrap();
    let mut message = message(ALICE, "").to_vec();
    message.extend_from_slice(&armored);
    let decryptor = Decryptor::new([bob.cert().clone()]);
    let (out, _) = spooled(&decryptor, &message);
    assert_eq!(out, decryptor.decrypt_message(&message).unwrap().message());
    assert!(out.ends_with(b"inline secret\r\n"));
}

#[test]
fn tampered_or_foreign_data_releases_nothing() {
    let bob = bob(PgpSuite::Cv25519);
    let carol = testkit::openpgp_key(CAROL, PgpSuite::Cv25519, testkit::PgpVersion::V4);
    let mut encrypted = Vec::new();
    Encryptor::new([public(&bob)])
        .encrypt_message_stream(
            &message(ALICE, &"a long line of text\r\n".repeat(200))[..],
            &mut encrypted,
        )
        .unwrap();
    let result = Decryptor::new([carol.cert().clone()]).decrypt_message_spooled(&encrypted[..]);
    assert!(matches!(result, Err(Error::NoDecryptionKey)), "{result:?}");

    // One base64 character changed in the middle of the armored data, the
    // armor checksum removed: the MDC check fails.
    let text = String::from_utf8(encrypted).unwrap();
    let mut lines: Vec<String> = text.split("\r\n").map(str::to_owned).collect();
    lines.retain(|l| !(l.len() == 5 && l.starts_with('=')));
    let data_lines: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].len() >= 60 && !lines[i].contains(' '))
        .collect();
    let target = data_lines[data_lines.len() / 2];
    let mut chars: Vec<char> = lines[target].chars().collect();
    chars[10] = if chars[10] == 'A' { 'B' } else { 'A' };
    lines[target] = chars.into_iter().collect();
    let tampered = lines.join("\r\n");
    let result = Decryptor::new([bob.cert().clone()]).decrypt_message_spooled(tampered.as_bytes());
    assert!(
        matches!(result, Err(Error::Decryption { .. })),
        "{result:?}"
    );
}

#[test]
fn plaintext_limit_holds_when_streaming() {
    let bob = bob(PgpSuite::Cv25519);
    let mut encrypted = Vec::new();
    Encryptor::new([public(&bob)])
        .encrypt_message_stream(&message(ALICE, &"x".repeat(10_000))[..], &mut encrypted)
        .unwrap();
    let result = Decryptor::new([bob.cert().clone()])
        .with_max_plaintext(1000)
        .decrypt_message_spooled(&encrypted[..]);
    assert!(
        matches!(result, Err(Error::TooLarge { limit: 1000 })),
        "{result:?}"
    );
}

#[test]
fn encrypt_stream_writes_nothing_for_an_unusable_recipient() {
    let bob = bob(PgpSuite::Cv25519);
    let sign_only = public(&bob).retain_subkeys(|_| false);
    let mut out = Vec::new();
    let result =
        Encryptor::new([sign_only]).encrypt_message_stream(&message(ALICE, "x\r\n")[..], &mut out);
    assert!(
        matches!(result, Err(Error::NoEncryptionKey { .. })),
        "{result:?}"
    );
    assert!(out.is_empty());
}
