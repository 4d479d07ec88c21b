//! Interoperability with GnuPG 2.2 (`gpg`) in both directions, v4 keys
//! (RSA-3072, Ed25519/Cv25519, NIST P-256)
//! (GnuPG 2.2 predates RFC 9580 and has no v6 keys; v6 is tested against
//! rPGP's `rsop` in `rsop_interop.rs`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use pgp_core::{
    Coverage, Decryptor, Encryptor, SignatureStatus, Signer, Verdict, Verifier, parse_certificates,
};
use testkit::PgpSuite;

const SUITES: [PgpSuite; 3] = [PgpSuite::Rsa3072, PgpSuite::Cv25519, PgpSuite::P256];

#[test]
fn gpg_verifies_our_pgp_mime_signature() {
    for suite in SUITES {
        let alice = alice(suite);
        let gpg = Gpg::new();
        gpg.import(&alice, false);
        let signed = Signer::new(alice.cert(), None)
            .unwrap()
            .sign_message(&message(ALICE, "Grüße aus Köln\r\n"))
            .unwrap();
        let parts = parts(&signed);
        let status = gpg.verify_pgp_mime(&parts);
        assert!(status.contains("[GNUPG:] GOODSIG"), "{suite:?}: {status}");
        assert!(
            status.contains(&alice.fingerprint_hex()),
            "{suite:?}: {status}"
        );
        // The 8-bit body was made 7-bit safe before signing.
        assert!(parts[0].iter().all(u8::is_ascii), "{suite:?}");
    }
}

#[test]
fn gpg_verifies_our_streamed_pgp_mime_signature() {
    // 7-bit clean multipart (signed as it is) and an 8-bit single part
    // (re-encoded as base64 from the spool), CRLF and LF input.
    let mixed = b"From: Alice Example <alice@example.org>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=mix\n\n--mix\nContent-Type: text/plain\n\nsee attachment\n--mix\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\nAAECAwQ=\n--mix--\n".to_vec();
    for (suite, message) in [
        (PgpSuite::Cv25519, message(ALICE, "Grüße aus Köln\r\n")),
        (PgpSuite::Rsa3072, mixed),
    ] {
        let alice = alice(suite);
        let gpg = Gpg::new();
        gpg.import(&alice, false);
        let mut signed = Vec::new();
        Signer::new(alice.cert(), None)
            .unwrap()
            .sign_message_stream(&message[..], &mut signed)
            .unwrap();
        let parts = parts(&signed);
        let status = gpg.verify_pgp_mime(&parts);
        assert!(status.contains("[GNUPG:] GOODSIG"), "{suite:?}: {status}");
        assert!(parts[0].iter().all(u8::is_ascii), "{suite:?}");
        let report = Verifier::new([public(&alice)])
            .verify_message(&signed)
            .unwrap();
        assert_eq!(report.verdict(), Verdict::SignedByFrom, "{suite:?}");
    }
}

/// `Content-Transfer-Encoding: binary` content (lone LF and CR, NUL,
/// 0xFF) is data, not lines: both signing paths base64-encode it byte for
/// byte, gpg verifies, and the attachment that arrives is the one sent.
#[test]
fn binary_parts_are_signed_byte_for_byte() {
    let attachment: &[u8] = b"%PDF-1.7\n\x00\x01\r\xff\xfe\n\r\n\rstream\x00end";
    let mut multipart = "From: Alice Example <alice@example.org>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=mix\n\n--mix\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nAnbei, Grüße\n--mix\nContent-Type: application/pdf\nContent-Transfer-Encoding: binary\n\n".as_bytes().to_vec();
    multipart.extend_from_slice(attachment);
    multipart.extend_from_slice(b"\n--mix--\n");
    let mut single = b"From: Alice Example <alice@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: Binary\r\n\r\n".to_vec();
    single.extend_from_slice(attachment);
    let alice = alice(PgpSuite::Cv25519);
    let gpg = Gpg::new();
    gpg.import(&alice, false);
    let signer = Signer::new(alice.cert(), None).unwrap();
    for (name, message) in [("multipart", multipart), ("single part", single)] {
        let mut streamed = Vec::new();
        signer
            .sign_message_stream(&message[..], &mut streamed)
            .unwrap();
        for signed in [signer.sign_message(&message).unwrap(), streamed] {
            let parts = parts(&signed);
            assert!(parts[0].iter().all(u8::is_ascii), "{name}: 7-bit safe");
            let status = gpg.verify_pgp_mime(&parts);
            assert!(status.contains("[GNUPG:] GOODSIG"), "{name}: {status}");
            let entity = mail_message::Entity::parse(&parts[0]).unwrap();
            let pdf = match entity.content_type().unwrap().parameter("boundary") {
                Some(boundary) => {
                    let split = mail_message::Multipart::split(entity.body(), boundary).unwrap();
                    assert_eq!(split.parts().len(), 2, "{name}");
                    mail_message::Entity::parse(split.parts()[1])
                        .unwrap()
                        .decoded_body()
                        .unwrap()
                }
                None => entity.decoded_body().unwrap(),
            };
            assert_eq!(pdf, attachment, "{name}");
            let report = Verifier::new([public(&alice)])
                .verify_message(&signed)
                .unwrap();
            assert_eq!(report.verdict(), Verdict::SignedByFrom, "{name}");
        }
    }
}

#[test]
fn we_verify_gpg_pgp_mime_signature_sha512() {
    for suite in SUITES {
        let alice = alice(suite);
        let gpg = Gpg::new();
        gpg.import(&alice, true);
        let output = gpg.detach_sign(ENTITY, &["--digest-algo", "SHA512"]);
        let signed = wrap_signed(
            "\"Alice\" <alice@example.org>",
            ENTITY,
            &output,
            "pgp-sha512",
        );
        let verifier = Verifier::new([public(&alice)]);
        let report = verifier.verify_message(&signed).unwrap();
        assert_eq!(
            report.verdict(),
            Verdict::SignedByFrom,
            "{suite:?}: {report:?}"
        );
        let signer = &report.signers()[0];
        assert_eq!(signer.user_id.as_deref(), Some(ALICE));
        assert_eq!(
            signer.certificate.as_ref().unwrap().fingerprint(),
            alice.cert().fingerprint()
        );
        assert_eq!(
            signer.hash,
            Some(pgp_core::openpgp::types::HashAlgorithm::SHA512)
        );
        assert!(report.unwrapped_message().unwrap().ends_with(ENTITY));

        // One changed byte in the signed part and the signature fails.
        let tampered = String::from_utf8(signed.clone())
            .unwrap()
            .replace("figures are", "figures were")
            .into_bytes();
        let report = verifier.verify_message(&tampered).unwrap();
        assert_eq!(report.verdict(), Verdict::Invalid);
        assert!(matches!(
            report.signers()[0].status,
            SignatureStatus::BadSignature(_)
        ));
    }
}

#[test]
fn we_refuse_gpg_sha1_signature_as_weak() {
    let alice = alice(PgpSuite::Rsa3072);
    let gpg = Gpg::new();
    gpg.import(&alice, true);
    let output = gpg.detach_sign(ENTITY, &["--digest-algo", "SHA1"]);
    let signed = wrap_signed(ALICE, ENTITY, &output, "pgp-sha1");
    let report = Verifier::new([public(&alice)])
        .verify_message(&signed)
        .unwrap();
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert!(
        matches!(&report.signers()[0].status, SignatureStatus::WeakAlgorithm(reason) if reason.contains("SHA1")),
        "{:?}",
        report.signers()[0].status
    );
}

#[test]
fn gpg_decrypts_our_signed_pgp_mime_encryption_to_many_recipients() {
    for suite in SUITES {
        let alice = alice(suite);
        let bob = bob(suite);
        let carol = testkit::openpgp_key(CAROL, PgpSuite::P256, testkit::PgpVersion::V4);
        let gpg = Gpg::new();
        gpg.import(&bob, true);
        gpg.import(&alice, false);
        let original = message(ALICE, "Secret figures: 42\r\n");
        let encrypted = Encryptor::new([public(&carol), public(&bob)])
            .with_recipient(public(&alice))
            .with_signer(Signer::new(alice.cert(), None).unwrap())
            .encrypt_message(&original)
            .unwrap();
        assert!(!String::from_utf8_lossy(&encrypted).contains("Secret figures"));
        let parts = parts(&encrypted);
        assert_eq!(
            mail_message::Entity::parse(&parts[0]).unwrap().body(),
            b"Version: 1\r\n"
        );
        let payload = mail_message::Entity::parse(&parts[1])
            .unwrap()
            .body()
            .to_vec();
        let output = gpg.ok(&["--status-fd", "2", "--decrypt"], &payload);
        let status = String::from_utf8_lossy(&output.stderr);
        assert!(status.contains("[GNUPG:] GOODSIG"), "{suite:?}: {status}");
        assert!(status.contains("[GNUPG:] DECRYPTION_OKAY"), "{suite:?}");
        let inner = mail_message::Envelope::split(&original).unwrap();
        assert_eq!(output.stdout, inner.inner(), "{suite:?}");
    }
}

/// `Content-Transfer-Encoding: binary` content is encrypted as base64 of
/// its exact bytes (in memory and streamed, multipart and single part): the
/// attachment gpg decrypts is the one sent, and so is the one we decrypt.
#[test]
fn binary_parts_are_encrypted_byte_for_byte() {
    let attachment: &[u8] = b"%PDF-1.7\n\x00\x01\r\xff\xfe\n\r\n\rstream\x00end";
    let mut multipart = "From: Alice Example <alice@example.org>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=mix\n\n--mix\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nAnbei, Grüße\n--mix\nContent-Type: application/pdf\nContent-Transfer-Encoding: binary\n\n".as_bytes().to_vec();
    multipart.extend_from_slice(attachment);
    multipart.extend_from_slice(b"\n--mix--\n");
    let mut single = b"From: Alice Example <alice@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: binary\r\n\r\n".to_vec();
    single.extend_from_slice(attachment);
    let bob = bob(PgpSuite::Cv25519);
    let gpg = Gpg::new();
    gpg.import(&bob, true);
    let encryptor = Encryptor::new([public(&bob)]);
    let pdf_of = |entity: &[u8], name: &str| {
        let entity = mail_message::Entity::parse(entity).unwrap();
        match entity.content_type().unwrap().parameter("boundary") {
            Some(boundary) => {
                let split = mail_message::Multipart::split(entity.body(), boundary).unwrap();
                assert_eq!(split.parts().len(), 2, "{name}");
                let text = mail_message::Entity::parse(split.parts()[0]).unwrap();
                assert_eq!(text.decoded_body().unwrap(), "Anbei, Grüße".as_bytes());
                mail_message::Entity::parse(split.parts()[1])
                    .unwrap()
                    .decoded_body()
                    .unwrap()
            }
            None => entity.decoded_body().unwrap(),
        }
    };
    for (name, message) in [("multipart", multipart), ("single part", single)] {
        let mut streamed = Vec::new();
        encryptor
            .encrypt_message_stream(&message[..], &mut streamed)
            .unwrap();
        for encrypted in [encryptor.encrypt_message(&message).unwrap(), streamed] {
            let parts = parts(&encrypted);
            let payload = mail_message::Entity::parse(&parts[1])
                .unwrap()
                .body()
                .to_vec();
            let output = gpg.ok(&["--decrypt"], &payload);
            assert_eq!(pdf_of(&output.stdout, name), attachment, "{name}: gpg");
            let decrypted = Decryptor::new([bob.cert().clone()])
                .decrypt_message(&encrypted)
                .unwrap();
            assert_eq!(pdf_of(decrypted.message(), name), attachment, "{name}: us");
        }
    }
}

#[test]
fn we_decrypt_gpg_signed_pgp_mime_encryption() {
    for suite in SUITES {
        let alice = alice(suite);
        let bob = bob(suite);
        let gpg = Gpg::new();
        gpg.import(&alice, true);
        gpg.import(&bob, false);
        let output = gpg.ok(
            &[
                "--armor",
                "--encrypt",
                "--sign",
                "--local-user",
                &alice.fingerprint_hex(),
                "--recipient",
                &bob.fingerprint_hex(),
            ],
            ENTITY,
        );
        let encrypted = wrap_encrypted(ALICE, &output.stdout);
        let decryptor = Decryptor::new(parse_certificates(&bob.secret_armored()).unwrap())
            .with_verifier(Verifier::new([public(&alice)]));
        let decrypted = decryptor.decrypt_message(&encrypted).unwrap();
        assert!(decrypted.message().ends_with(ENTITY), "{suite:?}");
        assert!(decrypted.message().starts_with(b"From: Alice"));
        assert_eq!(decrypted.coverage(), &Coverage::Whole);
        assert_eq!(
            decrypted.verification().verdict(),
            Verdict::SignedByFrom,
            "{suite:?}: {:?}",
            decrypted.verification()
        );

        // Alice cannot read it: it was encrypted to Bob only.
        let wrong = Decryptor::new([alice.cert().clone()]).decrypt_message(&encrypted);
        assert!(
            matches!(wrong, Err(pgp_core::Error::NoDecryptionKey)),
            "{wrong:?}"
        );
    }
}

#[test]
fn we_decrypt_gpg_sign_then_encrypt_rfc3156_6_1() {
    let alice = alice(PgpSuite::Cv25519);
    let bob = bob(PgpSuite::Cv25519);
    let gpg = Gpg::new();
    gpg.import(&alice, true);
    gpg.import(&bob, false);
    let signature = gpg.detach_sign(ENTITY, &[]);
    let signed = wrap_signed(ALICE, ENTITY, &signature, "pgp-sha256");
    let inner = mail_message::Envelope::split(&signed)
        .unwrap()
        .inner()
        .to_vec();
    let encrypted = gpg.ok(
        &[
            "--armor",
            "--encrypt",
            "--recipient",
            &bob.fingerprint_hex(),
        ],
        &inner,
    );
    let message = wrap_encrypted(ALICE, &encrypted.stdout);
    let decrypted = Decryptor::new([bob.cert().clone()])
        .with_verifier(Verifier::new([public(&alice)]))
        .decrypt_message(&message)
        .unwrap();
    assert_eq!(decrypted.verification().verdict(), Verdict::SignedByFrom);
}

#[test]
fn gpg_verifies_our_cleartext_signature_and_we_verify_gpg_clearsign() {
    let alice = alice(PgpSuite::Rsa3072);
    let gpg = Gpg::new();
    gpg.import(&alice, true);
    let text = b"Please pay invoice 4711.\r\n";

    let ours = Signer::new(alice.cert(), None)
        .unwrap()
        .sign_cleartext(text)
        .unwrap();
    let output = gpg.ok(&["--status-fd", "1", "--verify"], &ours);
    assert!(String::from_utf8_lossy(&output.stdout).contains("[GNUPG:] GOODSIG"));

    let theirs = gpg.ok(&["--clearsign"], text).stdout;
    let mut inline = b"From: alice@example.org\r\nContent-Type: text/plain\r\n\r\n".to_vec();
    inline.extend_from_slice(&theirs);
    let verifier = Verifier::new([public(&alice)]);
    let report = verifier.verify_message(&inline).unwrap();
    assert_eq!(report.verdict(), Verdict::SignedByFrom, "{report:?}");
    assert!(String::from_utf8_lossy(report.unwrapped_message().unwrap()).contains("invoice 4711"));

    // Text outside the block: partially signed, never signed.
    let mut prepended = b"From: alice@example.org\r\nContent-Type: text/plain\r\n\r\nPay to account DE00 instead!\r\n".to_vec();
    prepended.extend_from_slice(&theirs);
    let report = verifier.verify_message(&prepended).unwrap();
    assert_eq!(report.verdict(), Verdict::PartiallySigned);
    assert!(report.unwrapped_message().is_none());
}

#[test]
fn a_gpg_encrypted_binary_part_is_delivered_as_base64_byte_for_byte() {
    let bob = bob(PgpSuite::Cv25519);
    let gpg = Gpg::new();
    gpg.import(&bob, false);
    let attachment: Vec<u8> = b"%PDF\n\x00\r\x01line\nend\r\n\xff".to_vec();
    let mut entity = b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
        Content-Type: text/plain\r\n\r\nAnbei.\r\n--b\r\n\
        Content-Type: application/pdf\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        .to_vec();
    entity.extend_from_slice(&attachment);
    entity.extend_from_slice(b"\r\n--b--\r\n");
    let ciphertext = gpg
        .ok(
            &[
                "--armor",
                "--encrypt",
                "--recipient",
                &bob.fingerprint_hex(),
            ],
            &entity,
        )
        .stdout;
    let mut mail = b"From: alice@example.org\r\nSubject: PDF\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"e\"\r\n\r\n\
        --e\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n\
        --e\r\nContent-Type: application/octet-stream\r\n\r\n"
        .to_vec();
    mail.extend_from_slice(&ciphertext);
    mail.extend_from_slice(b"\r\n--e--\r\n");
    let decrypted = Decryptor::new([bob.cert().clone()])
        .decrypt_message(&mail)
        .unwrap();
    let message = mail_message::Entity::parse(decrypted.message()).unwrap();
    let boundary = message
        .content_type()
        .unwrap()
        .parameter("boundary")
        .unwrap()
        .to_owned();
    let parts = mail_message::Multipart::split(message.body(), &boundary).unwrap();
    let pdf = mail_message::Entity::parse(parts.parts()[1]).unwrap();
    assert_eq!(pdf.transfer_encoding(), "base64");
    assert_eq!(pdf.decoded_body().unwrap(), attachment);
    // The streaming decryptor delivers the same message.
    let spooled = Decryptor::new([bob.cert().clone()])
        .decrypt_message_spooled(&mail[..])
        .unwrap();
    let mut streamed = Vec::new();
    spooled.write_message(&mut streamed).unwrap();
    assert_eq!(streamed, decrypted.message());
}

#[test]
fn we_verify_a_gpg_signed_inline_message_block() {
    // `gpg --armor --sign`: a signed (not encrypted) `PGP MESSAGE` block,
    // as some clients put into text/plain mail.
    let alice = alice(PgpSuite::Cv25519);
    let gpg = Gpg::new();
    gpg.import(&alice, true);
    let theirs = gpg
        .ok(&["--armor", "--sign"], b"Bitte Rechnung 4711 zahlen.\r\n")
        .stdout;
    assert!(theirs.starts_with(b"-----BEGIN PGP MESSAGE-----"));
    let mut inline = b"From: alice@example.org\r\nContent-Type: text/plain\r\n\r\n".to_vec();
    inline.extend_from_slice(&theirs);
    let verifier = Verifier::new([public(&alice)]);
    let report = verifier.verify_message(&inline).unwrap();
    assert_eq!(report.verdict(), Verdict::SignedByFrom, "{report:?}");
    assert!(String::from_utf8_lossy(report.unwrapped_message().unwrap()).contains("Rechnung 4711"));

    // Text outside the block: partially signed, never signed.
    let mut prepended =
        b"From: alice@example.org\r\nContent-Type: text/plain\r\n\r\nKonto DE00!\r\n".to_vec();
    prepended.extend_from_slice(&theirs);
    let report = verifier.verify_message(&prepended).unwrap();
    assert_eq!(report.verdict(), Verdict::PartiallySigned);

    // A changed signed message is no signature of alice's.
    let text = String::from_utf8(theirs.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let body_line = lines.iter().position(|l| l.is_empty()).unwrap() + 1;
    let mut tampered_lines: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let line = &mut tampered_lines[body_line];
    let flipped = if line.starts_with('A') { "B" } else { "A" };
    line.replace_range(0..1, flipped);
    let mut tampered = b"From: alice@example.org\r\nContent-Type: text/plain\r\n\r\n".to_vec();
    tampered.extend_from_slice(tampered_lines.join("\r\n").as_bytes());
    tampered.extend_from_slice(b"\r\n");
    let report = verifier.verify_message(&tampered).unwrap();
    assert_ne!(report.verdict(), Verdict::SignedByFrom, "{report:?}");

    // It is not encrypted: decryption says so instead of failing on it.
    let bob = bob(PgpSuite::Cv25519);
    assert!(
        Decryptor::new([bob.cert().clone()])
            .decrypt_message(&inline)
            .is_err()
    );

    // An encrypted block is still no signature.
    gpg.import(&bob, false);
    let encrypted = gpg
        .ok(
            &[
                "--armor",
                "--encrypt",
                "--recipient",
                &bob.fingerprint_hex(),
            ],
            b"geheim\r\n",
        )
        .stdout;
    let mut inline = b"From: alice@example.org\r\nContent-Type: text/plain\r\n\r\n".to_vec();
    inline.extend_from_slice(&encrypted);
    assert_eq!(
        verifier.verify_message(&inline).unwrap().verdict(),
        Verdict::Unsigned
    );
}

#[test]
fn gpg_decrypts_our_inline_block_and_we_decrypt_gpg_inline_block() {
    let alice = alice(PgpSuite::Cv25519);
    let bob = bob(PgpSuite::Cv25519);
    let gpg = Gpg::new();
    gpg.import(&bob, true);
    gpg.import(&alice, true);

    let ours = Encryptor::new([public(&bob)])
        .encrypt(b"inline secret\r\n")
        .unwrap();
    let output = gpg.ok(&["--decrypt"], &ours);
    assert_eq!(output.stdout, b"inline secret\r\n");

    let theirs = gpg
        .ok(
            &[
                "--armor",
                "--encrypt",
                "--recipient",
                &bob.fingerprint_hex(),
            ],
            b"their secret\r\n",
        )
        .stdout;
    let mut inline =
        b"From: alice@example.org\r\nSubject: x\r\nContent-Type: text/plain\r\n\r\n".to_vec();
    inline.extend_from_slice(&theirs);
    let decryptor = Decryptor::new([bob.cert().clone()]);
    let decrypted = decryptor.decrypt_message(&inline).unwrap();
    assert!(decrypted.message().ends_with(b"\r\n\r\ntheir secret\r\n"));
    assert_eq!(decrypted.coverage(), &Coverage::Whole);

    let mut surrounded =
        b"From: alice@example.org\r\nContent-Type: text/plain\r\n\r\nHi Bob,\r\n".to_vec();
    surrounded.extend_from_slice(&theirs);
    let decrypted = decryptor.decrypt_message(&surrounded).unwrap();
    assert!(matches!(decrypted.coverage(), Coverage::Partial { .. }));
    assert!(String::from_utf8_lossy(decrypted.message()).contains("Hi Bob,\r\ntheir secret"));
}

#[test]
fn we_verify_gpg_textmode_signature_over_lf_content() {
    // Some clients sign PGP/MIME in text mode (signature type 0x01); the
    // message may then travel with LF line breaks.
    let alice = alice(PgpSuite::Cv25519);
    let gpg = Gpg::new();
    gpg.import(&alice, true);
    let output = gpg.detach_sign(ENTITY, &["--textmode"]);
    let signed = wrap_signed(ALICE, ENTITY, &output, "pgp-sha256");
    let lf = String::from_utf8(signed).unwrap().replace("\r\n", "\n");
    let report = Verifier::new([public(&alice)])
        .verify_message(lf.as_bytes())
        .unwrap();
    assert_eq!(report.verdict(), Verdict::SignedByFrom, "{report:?}");
}

#[test]
fn we_report_a_gpg_signature_by_someone_other_than_from() {
    // A gpg-made signature by Bob on a message From Alice: valid signature,
    // but not by the author.
    let alice = alice(PgpSuite::Rsa3072);
    let bob = bob(PgpSuite::Rsa3072);
    let gpg = Gpg::new();
    gpg.import(&bob, true);
    let output = gpg.detach_sign(ENTITY, &[]);
    let signed = wrap_signed(ALICE, ENTITY, &output, "pgp-sha256");
    let report = Verifier::new([public(&alice), public(&bob)])
        .verify_message(&signed)
        .unwrap();
    assert_eq!(report.verdict(), Verdict::SignedByOther);
    assert_eq!(report.signers()[0].user_id.as_deref(), Some(BOB));
    // Only Alice's certificate known: the signer is unknown.
    let report = Verifier::new([public(&alice)])
        .verify_message(&signed)
        .unwrap();
    assert_eq!(report.verdict(), Verdict::Invalid);
}

/// The length of the packet at the start of `binary` (header and body):
/// gpg writes old-format headers for the PKESK, new-format ones otherwise.
fn first_packet_len(binary: &[u8]) -> usize {
    let tag = binary[0];
    assert_ne!(tag & 0x80, 0, "binary OpenPGP");
    if tag & 0x40 != 0 {
        match binary[1] {
            len @ 0..=191 => 2 + usize::from(len),
            len @ 192..=223 => 3 + ((usize::from(len) - 192) << 8) + usize::from(binary[2]) + 192,
            255 => 6 + u32::from_be_bytes(binary[2..6].try_into().unwrap()) as usize,
            _ => panic!("partial body length on the first packet"),
        }
    } else {
        match tag & 0x03 {
            0 => 2 + usize::from(binary[1]),
            1 => 3 + usize::from(u16::from_be_bytes([binary[1], binary[2]])),
            2 => 5 + u32::from_be_bytes(binary[1..5].try_into().unwrap()) as usize,
            _ => panic!("indeterminate length"),
        }
    }
}

fn armored(binary: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut writer =
        sequoia_openpgp::armor::Writer::new(Vec::new(), sequoia_openpgp::armor::Kind::Message)
            .unwrap();
    writer.write_all(binary).unwrap();
    writer.finalize().unwrap()
}

/// Junk between or after the packets of a gpg-encrypted message: gpg
/// reports an invalid packet; both our decryption paths refuse the message
/// at the junk's offset (without Sequoia's byte-by-byte search for the next
/// packet) and release nothing.
#[test]
fn junk_between_and_after_gpg_packets_is_refused_where_it_starts() {
    let bob = bob(PgpSuite::Cv25519);
    let gpg = Gpg::new();
    gpg.import(&bob, true);
    let binary = gpg
        .ok(
            &["--encrypt", "--recipient", &bob.fingerprint_hex()],
            ENTITY,
        )
        .stdout;
    let pkesk = first_packet_len(&binary);
    let decryptor = Decryptor::new(parse_certificates(&bob.secret_armored()).unwrap());

    // The clean message decrypts on both paths.
    let clean = wrap_encrypted(ALICE, &armored(&binary));
    assert!(
        decryptor
            .decrypt_message(&clean)
            .unwrap()
            .message()
            .ends_with(ENTITY)
    );
    decryptor.decrypt_message_spooled(&clean[..]).unwrap();

    let junk: &[u8] = b"\x01\x02junk";
    let between = [&binary[..pkesk], junk, &binary[pkesk..]].concat();
    let after = [&binary[..], junk].concat();
    for (name, broken, offset) in [("between", between, pkesk), ("after", after, binary.len())] {
        // The peer refuses it too.
        let output = gpg.run(&["--decrypt"], &broken);
        assert!(
            !output.status.success(),
            "{name}: gpg accepted junk: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("invalid packet"),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );

        let message = wrap_encrypted(ALICE, &armored(&broken));
        let expected = format!("not an OpenPGP packet at byte {offset}");
        for (path, result) in [
            ("in memory", decryptor.decrypt_message(&message).map(|_| ())),
            (
                "streaming",
                decryptor.decrypt_message_spooled(&message[..]).map(|_| ()),
            ),
        ] {
            match result {
                Err(pgp_core::Error::Decryption { reason }) => {
                    assert!(reason.contains(&expected), "{name}, {path}: {reason}")
                }
                other => panic!("{name}, {path}: {other:?}"),
            }
        }
    }
}
