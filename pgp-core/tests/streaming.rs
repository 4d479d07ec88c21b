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

fn verify_both(verifier: &Verifier, message: &[u8]) -> (Verdict, Option<Vec<u8>>) {
    let in_memory = verifier.verify_message(message).unwrap();
    let spooled = verifier.verify_message_spooled(message).unwrap();
    let verdict = spooled.verification().verdict();
    assert_eq!(verdict, in_memory.verdict());
    assert_eq!(
        spooled.verification().coverage(),
        in_memory.coverage(),
        "{}",
        String::from_utf8_lossy(message)
    );
    let has = spooled.has_unwrapped();
    let mut unwrapped = Vec::new();
    assert_eq!(spooled.write_unwrapped(&mut unwrapped).unwrap(), has);
    assert_eq!(has.then_some(&unwrapped[..]), in_memory.unwrapped_message());
    (verdict, has.then_some(unwrapped))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn streamed_and_in_memory_verification_agree(body in body(), lf in any::<bool>(), tamper in any::<bool>()) {
        let alice = alice(PgpSuite::Cv25519);
        let message = with_lf(message(ALICE, &body), lf);
        let signed = Signer::new(alice.cert(), None).unwrap().sign_message(&message).unwrap();
        let signed = if tamper {
            // One more line in the signed part, after the blank line that
            // ends its header.
            let text = String::from_utf8(signed).unwrap();
            let marker = if lf { "8bit\n\n" } else { "8bit\r\n\r\n" };
            match text.find(marker) {
                Some(at) => {
                    let mut changed = text.clone();
                    changed.insert_str(at + marker.len(), "forged\n");
                    changed.into_bytes()
                }
                None => text.replacen("Content-Type: text/plain", "Content-Type: text/html", 1).into_bytes(),
            }
        } else {
            signed
        };
        let verifier = Verifier::new([public(&alice)]);
        let (verdict, unwrapped) = verify_both(&verifier, &signed);
        if tamper {
            prop_assert_eq!(verdict, Verdict::Invalid);
            // Neither form hands out content whose signature fails.
            prop_assert!(unwrapped.is_none());
        } else {
            prop_assert_eq!(verdict, Verdict::SignedByFrom);
            prop_assert!(unwrapped.is_some());
        }
    }
}

#[test]
fn spooled_verification_handles_extra_parts_inline_and_unsigned() {
    let alice = alice(PgpSuite::Cv25519);
    let verifier = Verifier::new([public(&alice)]);
    let signed = Signer::new(alice.cert(), None)
        .unwrap()
        .sign_message(&message(ALICE, "hello\r\n"))
        .unwrap();
    // A third part smuggled into the multipart/signed.
    let text = String::from_utf8(signed).unwrap();
    let closing = text.rfind("--\r\n").unwrap();
    let delimiter_start = text[..closing].rfind("\r\n--").unwrap() + 2;
    let delimiter = &text[delimiter_start..closing];
    let mut extra = text[..delimiter_start].to_owned();
    extra.push_str(&format!(
        "{delimiter}\r\nContent-Type: text/plain\r\n\r\nPay now.\r\n{delimiter}--\r\n"
    ));
    let (verdict, unwrapped) = verify_both(&verifier, extra.as_bytes());
    assert_eq!(verdict, Verdict::PartiallySigned);
    assert!(unwrapped.is_none());

    // Inline cleartext signature: the in-memory path.
    let clear = Signer::new(alice.cert(), None)
        .unwrap()
        .sign_cleartext(b"inline text\r\n")
        .unwrap();
    let inline = [message(ALICE, ""), clear].concat();
    assert_eq!(verify_both(&verifier, &inline).0, Verdict::SignedByFrom);

    assert_eq!(
        verify_both(&verifier, &message(ALICE, "plain\r\n")).0,
        Verdict::Unsigned
    );
    // The signed message nested in a multipart/mixed next to an unsigned
    // part: partially signed (the in-memory path), nothing released.
    let envelope = mail_message::Envelope::split(text.as_bytes()).unwrap();
    let mut mixed = b"From: alice@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=OUT\r\n\r\n--OUT\r\nContent-Type: text/plain\r\n\r\nUrgent: pay to DE00 0000!\r\n--OUT\r\n".to_vec();
    mixed.extend_from_slice(envelope.inner());
    mixed.extend_from_slice(b"\r\n--OUT--\r\n");
    let (verdict, unwrapped) = verify_both(&verifier, &mixed);
    assert_eq!(verdict, Verdict::PartiallySigned);
    assert!(unwrapped.is_none());

    // Text prepended to the signed part's own body (after its header):
    // the signature fails, nothing is released.
    let prepended = text.replacen("\r\n\r\nhello\r\n", "\r\n\r\nPay now.\r\nhello\r\n", 1);
    assert_ne!(prepended, text);
    let (verdict, unwrapped) = verify_both(&verifier, prepended.as_bytes());
    assert_eq!(verdict, Verdict::Invalid);
    assert!(unwrapped.is_none());

    // The second part swapped for a second copy of the content: the
    // signature part is not a signature, nothing is released.
    let parts: Vec<&str> = text.split(delimiter).collect();
    assert_eq!(parts.len(), 4, "{text}");
    let swapped = [parts[0], parts[1], parts[1], parts[3]].join(delimiter);
    let (verdict, unwrapped) = verify_both(&verifier, swapped.as_bytes());
    assert_eq!(verdict, Verdict::Invalid);
    assert!(unwrapped.is_none());

    // An unterminated multipart/signed is malformed in both forms.
    let cut = &text.as_bytes()[..text.len() - 10];
    assert!(verifier.verify_message(cut).is_err());
    assert!(verifier.verify_message_spooled(cut).is_err());
}

fn sign_stream(signer: &Signer, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    signer.sign_message_stream(message, &mut out).unwrap();
    out
}

/// `sign_message_seekable` on `message` placed after other bytes in a
/// seekable input, which must be left alone.
fn sign_seekable(signer: &Signer, message: &[u8]) -> Result<Vec<u8>, Error> {
    let prefix = b"not part of the message\r\n\r\n";
    let mut input = std::io::Cursor::new([&prefix[..], message].concat());
    input.set_position(prefix.len() as u64);
    let mut out = Vec::new();
    let signed = signer.sign_message_seekable(&mut input, &mut out);
    if signed.is_err() {
        assert!(out.is_empty(), "nothing written on failure");
    }
    signed.map(|()| out)
}

/// The message minus the random parts of a signed message: the boundary
/// and the signature.
fn without_boundary_and_signature(signed: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let envelope = mail_message::Envelope::split(signed).unwrap();
    let outer = envelope.message().outer_header();
    let parts = parts(signed);
    (outer, parts[0].clone())
}

fn multipart_message(body: &str, lf: bool) -> Vec<u8> {
    let message = format!(
        "From: {ALICE}\r\nSubject: mixed\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"mix\"\r\n\r\npreamble\r\n--mix\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n--mix\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--mix--\r\n"
    );
    with_lf(message.into_bytes(), lf)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Streamed and in-memory signing sign the same entity (7-bit clean as
    /// it is, 8-bit single parts re-encoded as base64 from the spool, small
    /// 8-bit multiparts re-encoded in memory), write the same outer header
    /// fields, and both verify.
    #[test]
    fn streamed_and_in_memory_signing_agree(body in body(), lf in any::<bool>(), multipart in any::<bool>()) {
        let alice = alice(PgpSuite::Cv25519);
        let signer = Signer::new(alice.cert(), None).unwrap();
        let message = if multipart {
            multipart_message(&body, lf)
        } else {
            with_lf(message(ALICE, &body), lf)
        };
        let streamed = sign_stream(&signer, &message);
        let in_memory = signer.sign_message(&message).unwrap();
        prop_assert_eq!(
            without_boundary_and_signature(&streamed),
            without_boundary_and_signature(&in_memory)
        );
        // From a seekable input (copied as it is when canonical and 7-bit).
        let seekable = sign_seekable(&signer, &message).unwrap();
        prop_assert_eq!(
            without_boundary_and_signature(&seekable),
            without_boundary_and_signature(&in_memory)
        );
        prop_assert_eq!(
            verify_both(&Verifier::new([public(&alice)]), &seekable).0,
            Verdict::SignedByFrom
        );
        // Both in the input's line break style.
        prop_assert_eq!(streamed.windows(2).any(|w| w == b"\r\n"), !lf);
        let verifier = Verifier::new([public(&alice)]);
        let (verdict, unwrapped) = verify_both(&verifier, &streamed);
        prop_assert_eq!(verdict, Verdict::SignedByFrom);
        let unwrapped = unwrapped.unwrap();
        let in_memory_unwrapped = verifier.verify_message(&in_memory).unwrap();
        prop_assert_eq!(Some(&unwrapped[..]), in_memory_unwrapped.unwrapped_message());
    }
}

#[test]
fn streamed_signing_refuses_what_in_memory_signing_refuses() {
    let alice = alice(PgpSuite::Cv25519);
    let signer = Signer::new(alice.cert(), None).unwrap();
    let refuse = |message: &[u8]| {
        let mut out = Vec::new();
        assert!(signer.sign_message(message).is_err());
        assert!(signer.sign_message_stream(message, &mut out).is_err());
        assert!(out.is_empty(), "nothing written on failure");
        assert!(sign_seekable(&signer, message).is_err());
    };
    // 8-bit bytes in a part that claims base64.
    refuse("From: alice@example.org\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nGrüße\r\n".as_bytes());
    // A multipart without its closing delimiter, and one without boundary.
    refuse(b"From: alice@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b\r\n");
    refuse(b"From: alice@example.org\r\nContent-Type: multipart/mixed\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n");
}

#[test]
fn a_large_8bit_multipart_is_refused_not_held() {
    let alice = alice(PgpSuite::Cv25519);
    let signer = Signer::new(alice.cert(), None).unwrap();
    let body = "ü".repeat(pgp_core::MAX_REENCODE_IN_MEMORY as usize / 2 + 1);
    let message = multipart_message(&body, false);
    let mut out = Vec::new();
    let error = signer
        .sign_message_stream(&message[..], &mut out)
        .unwrap_err();
    assert!(matches!(error, Error::ReencodeTooLarge { .. }), "{error:?}");
    assert!(out.is_empty());
    // A single 8-bit part of the same size streams (base64 from the spool).
    let single = message_with_body(&body);
    let streamed = sign_stream(&signer, &single);
    let verifier = Verifier::new([public(&alice)]);
    assert_eq!(
        verifier.verify_message(&streamed).unwrap().verdict(),
        Verdict::SignedByFrom
    );
    assert!(streamed.is_ascii());
}

fn message_with_body(body: &str) -> Vec<u8> {
    message(ALICE, body)
}

#[test]
fn a_bare_cr_in_a_message_part_is_signed_for_crlf_and_refused_for_lf() {
    let alice = alice(PgpSuite::Cv25519);
    let signer = Signer::new(alice.cert(), None).unwrap();
    let verifier = Verifier::new([public(&alice)]);
    let crlf = b"From: alice@example.org\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\nbare\r\rcr\r\n";
    let signed = sign_stream(&signer, crlf);
    assert_eq!(
        verifier.verify_message(&signed).unwrap().verdict(),
        Verdict::SignedByFrom
    );
    // With LF output, CR CR LF would come back as CR LF: the signature
    // could not hold, so nothing is signed.
    let lf = b"From: alice@example.org\nContent-Type: message/rfc822\n\nSubject: x\n\nbare\r\rcr\n";
    let mut out = Vec::new();
    assert!(matches!(
        signer.sign_message_stream(&lf[..], &mut out),
        Err(Error::UnexpectedContent { .. })
    ));
    assert!(out.is_empty());
    assert!(matches!(
        signer.sign_message(lf),
        Err(Error::UnexpectedContent { .. })
    ));
}
