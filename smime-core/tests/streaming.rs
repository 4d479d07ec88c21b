//! The streaming paths give the same results as the in-memory ones, for
//! messages that span many 64 KiB segments, from OpenSSL (DER and `-stream`
//! BER) and from us; and a failed decryption writes nothing.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use smime_core::{
    ContentEncryption, Encryptor, Error, SignatureForm, Verdict, decrypt_message,
    decrypt_message_stream,
};
use std::io::{Seek, Write};

use testkit::{KeyKind, pki, run_peer};

/// A message whose body spans several segments and ends off a block boundary.
fn large_inner() -> Vec<u8> {
    let mut inner =
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            .to_vec();
    let mut line = 0u32;
    while inner.len() < 200 * 1024 + 7 {
        inner.extend_from_slice(
            format!("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2Nzg5{line:08}\r\n").as_bytes(),
        );
        line += 1;
    }
    inner
}

const CIPHERS: [ContentEncryption; 4] = [
    ContentEncryption::Aes128Cbc,
    ContentEncryption::Aes256Cbc,
    ContentEncryption::Aes128Gcm,
    ContentEncryption::Aes256Gcm,
];

#[test]
fn our_streamed_encryption_decrypts_the_same_both_ways() {
    let inner = large_inner();
    let message = [
        b"From: a@example.org\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\n".as_slice(),
        &inner,
    ]
    .concat();
    for kind in [KeyKind::Rsa2048, KeyKind::P384] {
        for cipher in CIPHERS {
            let mut encrypted = Vec::new();
            Encryptor::new([common::certificate("b@example.org", kind)])
                .unwrap()
                .with_cipher(cipher)
                .encrypt_message_stream(&message[..], &mut encrypted)
                .unwrap();
            let identity = common::identity("b@example.org", kind);
            let mut streamed = Vec::new();
            let result = decrypt_message_stream(&encrypted[..], &mut streamed, &identity).unwrap();
            assert_eq!(result.encryption, cipher);
            assert_eq!(streamed, message, "{kind:?} {cipher:?}");
            let in_memory = decrypt_message(&encrypted, &identity).unwrap();
            assert_eq!(in_memory.message(), &message[..]);
        }
    }
}

/// `encrypt_message_seekable` from a file (the message after other bytes):
/// a canonical message (encrypted straight from the input) and messages
/// with LF line breaks or a `binary` part (the streaming path) decrypt with
/// OpenSSL to the entity the in-memory encryptor encrypts, and with us to
/// the same message.
#[test]
fn seekable_encryption_decrypts_with_openssl_and_with_us() {
    let dir = tempfile::tempdir().unwrap();
    pki()
        .smime("b@example.org", KeyKind::P256)
        .write_to(dir.path(), "b")
        .unwrap();
    let outer = b"From: a@example.org\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\n";
    // More than a MiB: encrypted on a second core.
    let inner = large_inner();
    let (inner_header, inner_body) =
        inner.split_at(inner.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4);
    let canonical = [outer.as_slice(), inner_header, &inner_body.repeat(6)].concat();
    assert!(canonical.len() > 1024 * 1024);
    let lf = String::from_utf8(canonical.clone())
        .unwrap()
        .replace("\r\n", "\n");
    let binary = [
        outer.as_slice(),
        b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\xff\n\r",
    ]
    .concat();
    let encryptor = Encryptor::new([common::certificate("b@example.org", KeyKind::P256)])
        .unwrap()
        .with_cipher(ContentEncryption::Aes128Gcm);
    let identity = common::identity("b@example.org", KeyKind::P256);
    for message in [&canonical[..], lf.as_bytes(), &binary] {
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(b"other bytes first\r\n\r\n").unwrap();
        let start = file.stream_position().unwrap();
        file.write_all(message).unwrap();
        file.seek(std::io::SeekFrom::Start(start)).unwrap();
        let mut encrypted = Vec::new();
        encryptor
            .encrypt_message_seekable(&mut file, &mut encrypted)
            .unwrap();
        std::fs::write(dir.path().join("mail.eml"), &encrypted).unwrap();
        run_peer(
            "openssl",
            &[
                "cms",
                "-decrypt",
                "-binary",
                "-in",
                "mail.eml",
                "-recip",
                "b.cert.pem",
                "-inkey",
                "b.key.pem",
                "-out",
                "inner.out",
            ],
            dir.path(),
        );
        let expected = smime_core::mime::Envelope::split(message)
            .unwrap()
            .encryptable()
            .unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("inner.out")).unwrap(),
            expected
        );
        let reference =
            decrypt_message(&encryptor.encrypt_message(message).unwrap(), &identity).unwrap();
        let ours = decrypt_message(&encrypted, &identity).unwrap();
        assert_eq!(ours.message(), reference.message());
    }
}

#[test]
fn openssl_der_and_ber_decrypt_streamed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("inner.txt"), large_inner()).unwrap();
    for kind in [KeyKind::Rsa3072, KeyKind::P256] {
        pki()
            .smime("b@example.org", kind)
            .write_to(dir.path(), "b")
            .unwrap();
        for (cipher, stream) in [
            ("-aes-256-gcm", false),
            ("-aes-128-gcm", true),
            ("-aes-256-cbc", true),
            ("-aes-128-cbc", false),
        ] {
            let mut args = vec![
                "cms",
                "-encrypt",
                "-binary",
                cipher,
                "-in",
                "inner.txt",
                "-out",
                "mail.eml",
                "-from",
                "a@example.org",
                "-to",
                "b@example.org",
                "-subject",
                "big",
            ];
            if stream {
                args.push("-stream");
            }
            args.push("b.cert.pem");
            run_peer("openssl", &args, dir.path());
            let mail = std::fs::read(dir.path().join("mail.eml")).unwrap();
            let identity = common::identity("b@example.org", kind);
            let mut streamed = Vec::new();
            decrypt_message_stream(&mail[..], &mut streamed, &identity)
                .unwrap_or_else(|e| panic!("{kind:?} {cipher} stream={stream}: {e}"));
            let in_memory = decrypt_message(&mail, &identity).unwrap();
            assert_eq!(
                streamed,
                in_memory.message(),
                "{kind:?} {cipher} stream={stream}"
            );
            // OpenSSL writes LF line breaks; so does the output.
            assert!(!streamed.windows(2).any(|w| w == b"\r\n"));
        }
    }
}

#[test]
fn failures_write_nothing() {
    let message = [b"From: a@example.org\r\n".as_slice(), &large_inner()].concat();
    for cipher in CIPHERS {
        let mut encrypted = Vec::new();
        Encryptor::new([common::certificate("b@example.org", KeyKind::P256)])
            .unwrap()
            .with_cipher(cipher)
            .encrypt_message_stream(&message[..], &mut encrypted)
            .unwrap();

        let mut out = Vec::new();
        let other = common::identity("c@example.org", KeyKind::P256);
        assert!(matches!(
            decrypt_message_stream(&encrypted[..], &mut out, &other),
            Err(Error::NotForUs)
        ));
        assert!(out.is_empty());

        // CBC: flip the last byte of the next-to-last ciphertext block,
        // which flips the padding byte (the suffix after the content is ten
        // end-of-contents bytes). GCM: flip a byte in the middle.
        let text = String::from_utf8(encrypted.clone()).unwrap();
        let (header, body) = text.split_once("\r\n\r\n").unwrap();
        let mut der = mail_message::decode_base64(body.as_bytes()).unwrap();
        let position = if cipher.is_authenticated() {
            der.len() / 2
        } else {
            der.len() - 10 - 16 - 1
        };
        der[position] ^= 0x01;
        let tampered = [
            format!("{header}\r\n\r\n").into_bytes(),
            mail_message::encode_base64(&der, mail_message::LineBreak::Crlf),
        ]
        .concat();
        let identity = common::identity("b@example.org", KeyKind::P256);
        let mut out = Vec::new();
        let result = decrypt_message_stream(&tampered[..], &mut out, &identity);
        assert!(result.is_err(), "{cipher:?}");
        assert!(out.is_empty(), "{cipher:?}: output despite failure");
    }
}

/// What follows the CMS structure must decode (found by the `smime_message`
/// fuzz target: a stray byte after the last base64 line was ignored by the
/// streaming decryption and refused by `decrypt_message`). Both refuse it
/// now; trailing white space is fine for both.
#[test]
fn junk_after_the_structure_is_refused_like_in_memory() {
    let message = b"From: a@example.org\r\nContent-Type: text/plain\r\n\r\nshort\r\n";
    let identity = common::identity("b@example.org", KeyKind::P256);
    let mut encrypted = Vec::new();
    Encryptor::new([common::certificate("b@example.org", KeyKind::P256)])
        .unwrap()
        .encrypt_message_stream(&message[..], &mut encrypted)
        .unwrap();
    for (suffix, accepted) in [
        (&b"\r\n\r\n"[..], true),
        (b"\x02", false),
        (b"QUJD\r\n", false),
    ] {
        let mail = [encrypted.as_slice(), suffix].concat();
        let mut out = Vec::new();
        let streamed = decrypt_message_stream(&mail[..], &mut out, &identity);
        let in_memory = decrypt_message(&mail, &identity);
        assert_eq!(streamed.is_ok(), accepted, "{suffix:?}: {streamed:?}");
        assert_eq!(in_memory.is_ok(), accepted, "{suffix:?}");
        assert_eq!(out.is_empty(), !accepted, "{suffix:?}");
    }
}

/// Streamed signing, detached and opaque: OpenSSL verifies and hands out
/// exactly the entity the in-memory signer signs (LF input with an 8-bit
/// text part and a `binary` attachment spanning many segments), and our
/// verifier gives the same verdict and content as for in-memory signing.
#[test]
fn streamed_signatures_verify_with_openssl_and_with_us() {
    let attachment: Vec<u8> = (0..300 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut message = "From: alice@example.org\nTo: bob@example.org\nSubject: Vertrag\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nAnbei der Vertrag, Grüße\n--b1\nContent-Type: application/pdf\nContent-Transfer-Encoding: binary\n\n".as_bytes().to_vec();
    message.extend_from_slice(&attachment);
    message.extend_from_slice(b"\n--b1--\n");
    let expected = smime_core::mime::Envelope::split(&message)
        .unwrap()
        .signable()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for kind in [KeyKind::Rsa2048, KeyKind::P256] {
        let signer = common::signer("alice@example.org", kind);
        for form in [SignatureForm::Detached, SignatureForm::Opaque] {
            let mut signed = Vec::new();
            signer
                .sign_message_stream(&message[..], &mut signed, form)
                .unwrap();
            assert!(signed.iter().all(u8::is_ascii), "{kind:?} {form:?}: 7-bit");
            assert!(
                signed.starts_with(b"From: alice@example.org\nTo: bob@example.org\n"),
                "outer fields kept, in the input's line breaks"
            );
            // The message has LF line breaks; OpenSSL verifies the
            // canonical form and writes the content with its own.
            let content = common::openssl_verify(dir.path(), &signed);
            assert_eq!(
                smime_core::mime::canonicalize(&content),
                expected,
                "{kind:?} {form:?}"
            );

            let report = common::verifier().verify_message(&signed).unwrap();
            assert_eq!(report.verdict(), Verdict::SignedByFrom, "{kind:?} {form:?}");
            let in_memory = signer.sign_message(&message, form).unwrap();
            let reference = common::verifier().verify_message(&in_memory).unwrap();
            let body = |m: &[u8]| {
                let at = m.windows(2).position(|w| w == b"\n\n").unwrap();
                m[at..].to_vec()
            };
            assert_eq!(
                body(report.unwrapped_message().unwrap()),
                body(reference.unwrapped_message().unwrap())
            );
        }
    }
}

/// `sign_message_seekable` from a file (the message after other bytes):
/// a canonical 7-bit message of a few MiB (hashed on a second thread, its
/// body copied from the input) and one that needs re-encoding (the
/// streaming path) verify with OpenSSL, in both forms, as the entity the
/// in-memory signer signs.
#[test]
fn seekable_signatures_verify_with_openssl() {
    let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0";
    let attachment: String = (0..40_000)
        .map(|i| format!("{line}{:02}\r\n", i % 100))
        .collect();
    let canonical = format!(
        "From: alice@example.org\r\nSubject: large\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n{attachment}--b1--\r\n"
    );
    let eight_bit = "From: alice@example.org\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\u{fc}\u{df}e\r\n";
    let dir = tempfile::tempdir().unwrap();
    let signer = common::signer("alice@example.org", KeyKind::P256);
    for message in [canonical.as_bytes(), eight_bit.as_bytes()] {
        let expected = smime_core::mime::Envelope::split(message)
            .unwrap()
            .signable()
            .unwrap();
        for form in [SignatureForm::Detached, SignatureForm::Opaque] {
            let mut file = tempfile::tempfile().unwrap();
            file.write_all(b"other bytes first\r\n\r\n").unwrap();
            let start = file.stream_position().unwrap();
            file.write_all(message).unwrap();
            file.seek(std::io::SeekFrom::Start(start)).unwrap();
            let mut signed = Vec::new();
            signer
                .sign_message_seekable(&mut file, &mut signed, form)
                .unwrap();
            let content = common::openssl_verify(dir.path(), &signed);
            assert_eq!(content, expected, "{form:?}");
            let report = common::verifier().verify_message(&signed).unwrap();
            assert_eq!(report.verdict(), Verdict::SignedByFrom, "{form:?}");
        }
    }
}

#[test]
fn streamed_signing_refuses_what_in_memory_signing_refuses() {
    let signer = common::signer("alice@example.org", KeyKind::P256);
    for broken in [
        &b"From: a@example.org\r\nContent-Type: multipart/mixed\r\n\r\nx\r\n"[..],
        b"From: a@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n",
    ] {
        let mut out = Vec::new();
        let streamed = signer.sign_message_stream(broken, &mut out, SignatureForm::Detached);
        assert!(matches!(streamed, Err(Error::Mime(_))), "{streamed:?}");
        assert!(out.is_empty(), "nothing written on failure");
        let seekable = signer.sign_message_seekable(
            std::io::Cursor::new(broken),
            &mut out,
            SignatureForm::Detached,
        );
        assert!(matches!(seekable, Err(Error::Mime(_))), "{seekable:?}");
        assert!(out.is_empty(), "nothing written on failure");
        assert!(
            signer
                .sign_message(broken, SignatureForm::Detached)
                .is_err()
        );
    }
}

/// The spooled verifier gives what `verify_message` gives: verdict,
/// coverage, signer statuses and the unwrapped message, for our signatures
/// (large, LF and CRLF), OpenSSL's (`-stream`), tampered content, extra
/// parts, and the structures that take the in-memory path.
#[test]
fn spooled_verification_matches_in_memory_verification() {
    let dir = tempfile::tempdir().unwrap();
    let signer = common::signer("alice@example.org", KeyKind::P256);
    let large = [
        b"From: alice@example.org\r\nTo: b@example.org\r\nMIME-Version: 1.0\r\n".as_slice(),
        &large_inner(),
    ]
    .concat();
    let lf =
        b"From: alice@example.org\nSubject: lf\nContent-Type: text/plain\n\nline one\nline two\n";
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    for (name, message) in [("large", large.as_slice()), ("lf", lf.as_slice())] {
        let detached = signer
            .sign_message(message, SignatureForm::Detached)
            .unwrap();
        let opaque = signer.sign_message(message, SignatureForm::Opaque).unwrap();
        let tampered = String::from_utf8(detached.clone())
            .unwrap()
            .replacen("line two", "line 2!!", 1)
            .replacen(
                "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2Nzg5",
                "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU2Nzg4",
                1,
            )
            .into_bytes();
        assert_ne!(tampered, detached);
        cases.push((name, detached));
        cases.push((name, opaque));
        cases.push((name, tampered));
    }
    // OpenSSL's streamed detached signature.
    let alice = pki().smime("alice@example.org", KeyKind::Rsa2048);
    alice.write_to(dir.path(), "alice").unwrap();
    std::fs::write(
        dir.path().join("content.txt"),
        b"Content-Type: text/plain\r\n\r\nfrom openssl\r\n",
    )
    .unwrap();
    run_peer(
        "openssl",
        &[
            "cms",
            "-sign",
            "-stream",
            "-in",
            "content.txt",
            "-signer",
            "alice.cert.pem",
            "-inkey",
            "alice.key.pem",
            "-certfile",
            "alice.chain.pem",
            "-out",
            "signed.eml",
            "-from",
            "alice@example.org",
        ],
        dir.path(),
    );
    cases.push((
        "openssl",
        std::fs::read(dir.path().join("signed.eml")).unwrap(),
    ));
    // OpenSSL's streamed opaque signature (BER, indefinite lengths) over
    // content with LF line breaks, kept as they are (-binary).
    std::fs::write(
        dir.path().join("lf.txt"),
        b"Content-Type: text/plain\n\nline one\nline two\n",
    )
    .unwrap();
    run_peer(
        "openssl",
        &[
            "cms",
            "-sign",
            "-nodetach",
            "-stream",
            "-binary",
            "-in",
            "lf.txt",
            "-signer",
            "alice.cert.pem",
            "-inkey",
            "alice.key.pem",
            "-certfile",
            "alice.chain.pem",
            "-out",
            "opaque.eml",
            "-from",
            "alice@example.org",
        ],
        dir.path(),
    );
    let opaque = std::fs::read(dir.path().join("opaque.eml")).unwrap();
    assert!(String::from_utf8_lossy(&opaque).contains("signed-data"));
    cases.push(("openssl opaque", opaque));
    // Three parts: partially signed.
    let two_parts = signer.sign_message(lf, SignatureForm::Detached).unwrap();
    let text = String::from_utf8(two_parts).unwrap();
    let boundary = text
        .split("boundary=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let extra = text.replace(
        &format!("--{boundary}--"),
        &format!("--{boundary}\r\nContent-Type: text/plain\r\n\r\nappended\r\n--{boundary}--"),
    );
    cases.push(("extra part", extra.into_bytes()));
    // Nested in an unsigned multipart/mixed, and unsigned.
    let nested = [
        b"From: alice@example.org\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\nContent-Type: text/plain\r\n\r\nunsigned\r\n--outer\r\n".as_slice(),
        &signer.sign_message(b"Content-Type: text/plain\r\n\r\ninner\r\n", SignatureForm::Detached).unwrap(),
        b"\r\n--outer--\r\n",
    ]
    .concat();
    cases.push(("nested", nested));
    cases.push(("unsigned", lf.to_vec()));

    for (name, message) in cases {
        let reference = common::verifier().verify_message(&message).unwrap();
        let spooled = common::verifier()
            .verify_message_spooled(&message[..])
            .unwrap();
        let report = spooled.verification();
        assert_eq!(report.verdict(), reference.verdict(), "{name}");
        if name.starts_with("openssl") {
            assert_eq!(
                report.verdict(),
                Verdict::SignedByFrom,
                "{name}: {:?}",
                report
                    .signers()
                    .iter()
                    .map(|s| &s.status)
                    .collect::<Vec<_>>()
            );
        }
        assert_eq!(report.coverage(), reference.coverage(), "{name}");
        let statuses = |v: &smime_core::Verification| {
            v.signers()
                .iter()
                .map(|s| format!("{:?}", s.status))
                .collect::<Vec<_>>()
        };
        assert_eq!(statuses(report), statuses(&reference), "{name}");
        assert_eq!(
            report.certificates().len(),
            reference.certificates().len(),
            "{name}"
        );
        let mut unwrapped = Vec::new();
        let wrote = spooled.write_unwrapped(&mut unwrapped).unwrap();
        match reference.unwrapped_message() {
            Some(expected) => {
                assert!(wrote, "{name}");
                assert_eq!(unwrapped, expected, "{name}");
            }
            None => assert!(!wrote && unwrapped.is_empty(), "{name}"),
        }
    }
}

#[test]
fn spooled_verification_refuses_broken_structures() {
    let signed = common::signer("alice@example.org", KeyKind::P256)
        .sign_message(
            b"From: alice@example.org\r\n\r\nhi\r\n",
            SignatureForm::Detached,
        )
        .unwrap();
    let text = String::from_utf8(signed).unwrap();
    let cut = text.rfind("--\r\n").unwrap();
    let unterminated = &text[..cut - 10];
    let result = common::verifier().verify_message_spooled(unterminated.as_bytes());
    assert!(matches!(result, Err(Error::Mime(_))), "{result:?}");
    let one_part = "From: a@example.org\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=b\r\n\r\n--b\r\n\r\nonly\r\n--b--\r\n";
    let result = common::verifier().verify_message_spooled(one_part.as_bytes());
    assert!(
        matches!(result, Err(Error::MalformedSignedMessage)),
        "{result:?}"
    );
    assert!(
        common::verifier()
            .verify_message(one_part.as_bytes())
            .is_err()
    );
    // A cut-off opaque structure, and junk after it.
    let opaque = common::signer("alice@example.org", KeyKind::P256)
        .sign_message(
            b"From: alice@example.org\r\n\r\nhi\r\n",
            SignatureForm::Opaque,
        )
        .unwrap();
    let text = String::from_utf8(opaque).unwrap();
    let cut = &text[..text.len() - 40];
    for broken in [cut.to_owned(), format!("{text}QUFB\r\n")] {
        let result = common::verifier().verify_message_spooled(broken.as_bytes());
        assert!(result.is_err(), "{result:?}");
        assert!(
            common::verifier()
                .verify_message(broken.as_bytes())
                .is_err()
        );
    }
}

/// An element whose definite length runs past its parent's (found by the
/// `smime_message` fuzz target: the streaming reader used to follow the
/// inner length and decrypt what the in-memory path refuses). Both paths
/// must refuse it, and the streaming one writes nothing.
#[test]
fn lengths_that_overrun_their_parent_are_refused_like_in_memory() {
    let der = openssl_enveloped_der();
    // ContentInfo: 30 82 LL LL, OID (11 bytes), then [0] a0 82 LL LL.
    assert_eq!((der[0], der[1], der[15], der[16]), (0x30, 0x82, 0xa0, 0x82));
    let identity = common::identity("b@example.org", KeyKind::Rsa2048);
    // The untouched structure decrypts both ways.
    let good = enveloped_mail(&der);
    assert!(decrypt_message(&good, &identity).is_ok());
    assert!(decrypt_message_stream(&good[..], &mut Vec::new(), &identity).is_ok());
    for bump in [1u16, 0x100] {
        let mut bad = der.clone();
        let length = u16::from_be_bytes([bad[17], bad[18]]) + bump;
        bad[17..19].copy_from_slice(&length.to_be_bytes());
        let mail = enveloped_mail(&bad);
        assert!(decrypt_message(&mail, &identity).is_err(), "{bump}");
        let mut streamed = Vec::new();
        let result = decrypt_message_stream(&mail[..], &mut streamed, &identity);
        assert!(result.is_err(), "{bump}: {result:?}");
        assert!(streamed.is_empty());
    }
}

/// A CMS version the standard does not define (found by the
/// `smime_message` fuzz target: the streaming reader skipped the version
/// that `decrypt_message` decodes). Both paths refuse it.
#[test]
fn undefined_versions_are_refused_like_in_memory() {
    let message = [
        b"From: a@example.org\r\n".as_slice(),
        b"Content-Type: text/plain\r\n\r\nhi\r\n",
    ]
    .concat();
    let mut encrypted = Vec::new();
    Encryptor::new([common::certificate("b@example.org", KeyKind::P256)])
        .unwrap()
        .with_cipher(ContentEncryption::Aes128Gcm)
        .encrypt_message_stream(&message[..], &mut encrypted)
        .unwrap();
    let body_at = encrypted.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut cms = smime_core::mime::decode_base64(&encrypted[body_at..]).unwrap();
    // BER: 30 80, OID (13 bytes for id-ct-authEnvelopedData), a0 80, 30 80,
    // then the version INTEGER 02 01 00.
    let at = cms
        .windows(3)
        .position(|w| w == [0x02, 0x01, 0x00])
        .unwrap();
    cms[at + 2] = 0x68;
    let mut mail = encrypted[..body_at].to_vec();
    mail.extend_from_slice(&smime_core::mime::encode_base64(
        &cms,
        smime_core::mime::LineBreak::Crlf,
    ));
    let identity = common::identity("b@example.org", KeyKind::P256);
    assert!(decrypt_message(&mail, &identity).is_err());
    let mut streamed = Vec::new();
    let result = decrypt_message_stream(&mail[..], &mut streamed, &identity);
    assert!(result.is_err(), "{result:?}");
    assert!(streamed.is_empty());
}

/// `hi` encrypted by `openssl cms -encrypt -aes-128-cbc` (DER) to
/// testkit's RSA `b@example.org`.
fn openssl_enveloped_der() -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("inner.txt"),
        b"Content-Type: text/plain\r\n\r\nhi\r\n",
    )
    .unwrap();
    pki()
        .smime("b@example.org", KeyKind::Rsa2048)
        .write_to(dir.path(), "b")
        .unwrap();
    run_peer(
        "openssl",
        &[
            "cms",
            "-encrypt",
            "-binary",
            "-aes-128-cbc",
            "-in",
            "inner.txt",
            "-outform",
            "DER",
            "-out",
            "cms.der",
            "b.cert.pem",
        ],
        dir.path(),
    );
    std::fs::read(dir.path().join("cms.der")).unwrap()
}

/// Wraps a CMS structure as an `application/pkcs7-mime` message.
fn enveloped_mail(cms: &[u8]) -> Vec<u8> {
    let mut mail = b"From: a@example.org\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    mail.extend_from_slice(&smime_core::mime::encode_base64(
        cms,
        smime_core::mime::LineBreak::Crlf,
    ));
    mail
}

/// An `encryptedContentInfo.contentType` that is an INTEGER where an OBJECT
/// IDENTIFIER belongs (found by five minutes of the `smime_message` fuzz
/// target: the streaming reader skipped the field that `decrypt_message`
/// decodes, so what a message meant depended on its size).
#[test]
fn a_content_type_of_the_wrong_type_is_refused_like_in_memory() {
    let message = b"From: a@example.org\r\nContent-Type: text/plain\r\n\r\nhi\r\n";
    let mut encrypted = Vec::new();
    Encryptor::new([common::certificate("b@example.org", KeyKind::P256)])
        .unwrap()
        .with_cipher(ContentEncryption::Aes128Gcm)
        .encrypt_message_stream(&message[..], &mut encrypted)
        .unwrap();
    let body_at = encrypted.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let mut cms = smime_core::mime::decode_base64(&encrypted[body_at..]).unwrap();
    // id-data, the inner content type: 06 09 2a 86 48 86 f7 0d 01 07 01.
    let id_data = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
    ];
    let at = cms
        .windows(id_data.len())
        .position(|w| w == id_data)
        .unwrap();
    cms[at] = 0x02;
    let mail = enveloped_mail(&cms);
    let identity = common::identity("b@example.org", KeyKind::P256);
    assert!(matches!(
        decrypt_message(&mail, &identity),
        Err(Error::InvalidCms(_))
    ));
    let mut streamed = Vec::new();
    let result = decrypt_message_stream(&mail[..], &mut streamed, &identity);
    assert!(matches!(result, Err(Error::InvalidCms(_))), "{result:?}");
    assert!(streamed.is_empty());
}

/// The class behind the fuzz findings above: every field but the encrypted
/// content is read by one decoder on both paths. Each byte of the structure
/// outside the ciphertext, changed in several ways, must give both paths the
/// same answer (decrypts or not, and with the same cipher), for OpenSSL's
/// EnvelopedData (RSA, DER) and our AuthEnvelopedData (ECDH, BER).
#[test]
fn every_change_outside_the_ciphertext_gets_the_same_answer_on_both_paths() {
    let openssl = openssl_enveloped_der();
    let mut ours = Vec::new();
    Encryptor::new([common::certificate("b@example.org", KeyKind::P256)])
        .unwrap()
        .with_cipher(ContentEncryption::Aes128Gcm)
        .encrypt_message_stream(
            &b"From: a@example.org\r\nContent-Type: text/plain\r\n\r\nhi\r\n"[..],
            &mut ours,
        )
        .unwrap();
    let body_at = ours.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let ours = smime_core::mime::decode_base64(&ours[body_at..]).unwrap();
    for (cms, kind) in [(openssl, KeyKind::Rsa2048), (ours, KeyKind::P256)] {
        let identity = common::identity("b@example.org", kind);
        assert!(decrypt_message(&enveloped_mail(&cms), &identity).is_ok());
        let mut compared = 0;
        for position in 0..cms.len() {
            for change in [
                |b: u8| b ^ 0x01,
                |b: u8| b ^ 0x80,
                |_| 0x02,
                |_| 0x04,
                |_| 0x00,
            ] {
                let mut changed = cms.clone();
                changed[position] = change(changed[position]);
                if changed == cms {
                    continue;
                }
                let mail = enveloped_mail(&changed);
                let in_memory = decrypt_message(&mail, &identity);
                let mut streamed = Vec::new();
                let stream = decrypt_message_stream(&mail[..], &mut streamed, &identity);
                match (&in_memory, &stream) {
                    (Ok(memory), Ok(stream)) => {
                        assert_eq!(memory.encryption(), stream.encryption)
                    }
                    (Err(_), Err(_)) => assert!(streamed.is_empty()),
                    _ => panic!(
                        "byte {position} of {kind:?}: in memory {:?}, streamed {:?}",
                        in_memory.map(|d| d.encryption()),
                        stream.map(|s| s.encryption)
                    ),
                }
                compared += 1;
            }
        }
        assert!(compared > 1000);
    }
}
