//! `mailgate pgp encrypt` and `mailgate pgp decrypt` against GnuPG 2.2 in
//! both directions: PGP/MIME encrypted, signed+encrypted (RFC 3156 6.1 and
//! 6.2), inline encrypted blocks, many recipients, RSA-3072 and
//! Ed25519/Cv25519, protected keys; failures write nothing.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod pgp_common;

use common::{mailgate_in, ok};
use pgp_common::*;

/// The canonical inner entity the recipients must get back.
fn entity_crlf() -> Vec<u8> {
    mail_message::canonicalize(ENTITY.as_bytes())
}

#[test]
fn gpg_decrypts_our_signed_encryption_for_each_of_many_recipients() {
    for suite in SUITES {
        let alice = key(ALICE, suite);
        let bob = key(BOB, suite);
        let carol = key(CAROL, suite);
        let dave = key("Dave <dave@example.org>", testkit::PgpSuite::Cv25519);
        let work = Gpg::new();
        let alice_files = alice.write_to(work.home.path(), "alice").unwrap();
        let bob_files = bob.write_to(work.home.path(), "bob").unwrap();
        // Carol and Dave in one binary file, as `gpg --export` writes it.
        work.import(&carol, false);
        work.import(&dave, false);
        let both = work.ok(&["--export"], b"").stdout;
        let both = work.write("carol-and-dave.gpg", &both);

        let encrypted = ok(mailgate_in(
            work.home.path(),
            &[
                "pgp",
                "encrypt",
                "--to",
                s(&bob_files.public),
                "--to",
                s(&both),
                "--sign-with",
                s(&alice_files.secret),
            ],
            &message(ALICE),
            &[],
        ));
        let content_type = content_type(&encrypted);
        assert_eq!(content_type.mime_type(), "multipart/encrypted");
        assert_eq!(
            content_type.parameter("protocol"),
            Some("application/pgp-encrypted")
        );
        assert!(encrypted.starts_with(b"From: Alice Example <alice@example.org>\r\n"));
        assert!(!contains(&encrypted, "Gehalt steigt".as_bytes()));
        let parts = parts(&encrypted);
        assert!(contains(&body(&parts[0]), b"Version: 1"));
        let payload = body(&parts[1]);

        for recipient in [&bob, &carol, &dave] {
            let gpg = Gpg::new();
            gpg.import(recipient, true);
            gpg.import(&alice, false);
            let file = gpg.write("payload.asc", &payload);
            let output = gpg.run(&["--status-fd", "2", "--decrypt", s(&file)], b"");
            let status = String::from_utf8_lossy(&output.stderr);
            assert!(output.status.success(), "{suite:?}: {status}");
            assert_eq!(output.stdout, entity_crlf(), "{suite:?}");
            assert!(status.contains("[GNUPG:] GOODSIG"), "{suite:?}: {status}");
            assert!(status.contains(&alice.fingerprint_hex()), "{suite:?}");
            assert!(status.contains("[GNUPG:] DECRYPTION_OKAY"), "{suite:?}");
        }

        // Someone not among the recipients cannot read it.
        let eve = Gpg::new();
        eve.import(&key("Eve <eve@example.org>", suite), true);
        let file = eve.write("payload.asc", &payload);
        assert!(!eve.run(&["--decrypt", s(&file)], b"").status.success());
    }
}

#[test]
fn we_decrypt_gpg_pgp_mime_and_check_the_signature_inside() {
    for suite in SUITES {
        let alice = key(ALICE, suite);
        let bob = key(BOB, suite);
        let carol = key(CAROL, suite);
        let gpg = Gpg::new();
        gpg.import(&alice, true);
        gpg.import(&bob, false);
        let bob_files = bob.write_to(gpg.home.path(), "bob").unwrap();
        let alice_files = alice.write_to(gpg.home.path(), "alice").unwrap();
        let carol_files = carol.write_to(gpg.home.path(), "carol").unwrap();
        let entity = gpg.write("entity", &entity_crlf());
        // RFC 3156 6.2: signed and encrypted in one OpenPGP message.
        let armored = gpg
            .ok(
                &[
                    "--armor",
                    "--sign",
                    "--encrypt",
                    "--recipient",
                    &bob.fingerprint_hex(),
                    "--output",
                    "-",
                    s(&entity),
                ],
                b"",
            )
            .stdout;
        let mail = wrap_encrypted(ALICE, &armored);
        let decrypt = |verify_with: Option<&std::path::Path>| {
            let mut args = vec!["pgp", "decrypt", "--key", s(&bob_files.secret)];
            if let Some(cert) = verify_with {
                args.extend(["--verify-with", s(cert)]);
            }
            mailgate_in(gpg.home.path(), &args, &mail, &[])
        };

        let decrypted = ok(decrypt(Some(&alice_files.public)));
        assert!(decrypted.starts_with(b"From: Alice Example <alice@example.org>\r\n"));
        assert!(decrypted.ends_with(&entity_crlf()), "{suite:?}");
        assert!(!contains(&decrypted, b"multipart/encrypted"));

        // Without --verify-with the signature is not judged.
        assert_eq!(ok(decrypt(None)), decrypted);

        // A signature from someone not accepted: exit 1, nothing written.
        let output = decrypt(Some(&carol_files.public));
        assert_eq!(output.status.code(), Some(1), "{suite:?}");
        assert!(output.stdout.is_empty());
        assert!(String::from_utf8_lossy(&output.stderr).contains("signature"));

        // Not for Carol's key: exit 1, nothing written.
        let output = mailgate_in(
            gpg.home.path(),
            &["pgp", "decrypt", "--key", s(&carol_files.secret)],
            &mail,
            &[],
        );
        assert_eq!(output.status.code(), Some(1), "{suite:?}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn a_valid_signature_by_someone_else_than_from_fails_decrypt_verify_with() {
    let alice = key(ALICE, testkit::PgpSuite::Cv25519);
    let bob = key(BOB, testkit::PgpSuite::Cv25519);
    let gpg = Gpg::new();
    gpg.import(&alice, true);
    gpg.import(&bob, false);
    let bob_files = bob.write_to(gpg.home.path(), "bob").unwrap();
    let alice_files = alice.write_to(gpg.home.path(), "alice").unwrap();
    let entity = gpg.write("entity", &entity_crlf());
    let armored = gpg
        .ok(
            &[
                "--armor",
                "--sign",
                "--encrypt",
                "--recipient",
                &bob.fingerprint_hex(),
                "--output",
                "-",
                s(&entity),
            ],
            b"",
        )
        .stdout;
    // Alice signed, but the From says Carol.
    let mail = wrap_encrypted(CAROL, &armored);
    let output = mailgate_in(
        gpg.home.path(),
        &[
            "pgp",
            "decrypt",
            "--key",
            s(&bob_files.secret),
            "--verify-with",
            s(&alice_files.public),
        ],
        &mail,
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
}

#[test]
fn we_decrypt_gpg_inline_block() {
    for suite in SUITES {
        let bob = key(BOB, suite);
        let gpg = Gpg::new();
        gpg.import(&bob, false);
        let bob_files = bob.write_to(gpg.home.path(), "bob").unwrap();
        let text = gpg.write(
            "text",
            "Grüße aus Köln.\nThe figures are attached.\n".as_bytes(),
        );
        let armored = gpg
            .ok(
                &[
                    "--armor",
                    "--encrypt",
                    "--recipient",
                    &bob.fingerprint_hex(),
                    "--output",
                    "-",
                    s(&text),
                ],
                b"",
            )
            .stdout;
        let decrypted = ok(mailgate_in(
            gpg.home.path(),
            &["pgp", "decrypt", "--key", s(&bob_files.secret)],
            &text_message(ALICE, &armored),
            &[],
        ));
        assert!(decrypted.starts_with(b"From: Alice Example <alice@example.org>\r\n"));
        assert!(
            decrypted
                .ends_with("\r\n\r\nGrüße aus Köln.\r\nThe figures are attached.\r\n".as_bytes()),
            "{suite:?}: {}",
            String::from_utf8_lossy(&decrypted)
        );
        assert!(!contains(&decrypted, b"BEGIN PGP MESSAGE"));
    }
}

#[test]
fn tampered_ciphertext_writes_nothing_and_exits_1() {
    let bob = key(BOB, testkit::PgpSuite::Cv25519);
    let dir = tempfile::tempdir().unwrap();
    let files = bob.write_to(dir.path(), "bob").unwrap();
    let encrypted = ok(mailgate_in(
        dir.path(),
        &["pgp", "encrypt", "--to", s(&files.public)],
        &message(ALICE),
        &[],
    ));
    let text = String::from_utf8(encrypted).unwrap();
    // Change one base64 character in the last full line of armored data
    // (the encrypted data and its MDC), and drop the armor checksum so
    // only the OpenPGP integrity check can notice.
    let lines: Vec<&str> = text.split("\r\n").collect();
    let end = lines
        .iter()
        .position(|l| l.starts_with("-----END PGP MESSAGE"))
        .unwrap();
    let mut lines: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    if lines[end - 1].starts_with('=') {
        lines.remove(end - 1);
    }
    let target = lines
        .iter()
        .rposition(|l| l.len() == 64 || l.len() == 76)
        .unwrap();
    let mut chars: Vec<char> = lines[target].chars().collect();
    chars[20] = if chars[20] == 'A' { 'B' } else { 'A' };
    lines[target] = chars.into_iter().collect();
    let tampered = lines.join("\r\n");
    let output = mailgate_in(
        dir.path(),
        &["pgp", "decrypt", "--key", s(&files.secret)],
        tampered.as_bytes(),
        &[],
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn our_round_trip_sign_then_encrypt_and_signed_inside() {
    let alice = key(ALICE, testkit::PgpSuite::Cv25519);
    let bob = key(BOB, testkit::PgpSuite::Rsa3072);
    let dir = tempfile::tempdir().unwrap();
    let alice_files = alice.write_to(dir.path(), "alice").unwrap();
    let bob_files = bob.write_to(dir.path(), "bob").unwrap();
    let decrypt = |mail: &[u8]| {
        mailgate_in(
            dir.path(),
            &[
                "pgp",
                "decrypt",
                "--key",
                s(&bob_files.secret),
                "--verify-with",
                s(&alice_files.public),
            ],
            mail,
            &[],
        )
    };
    // RFC 3156 6.2: signed inside the encryption.
    let encrypted = ok(mailgate_in(
        dir.path(),
        &[
            "pgp",
            "encrypt",
            "--to",
            s(&bob_files.public),
            "--sign-with",
            s(&alice_files.secret),
        ],
        &message(ALICE),
        &[],
    ));
    let decrypted = ok(decrypt(&encrypted));
    assert!(decrypted.ends_with(&entity_crlf()));

    // RFC 3156 6.1: a multipart/signed message, encrypted. (7-bit text, so
    // the signed part keeps "3 %" readable for the forgery below.)
    let ascii = String::from_utf8(message(ALICE))
        .unwrap()
        .replace("Grüße aus Köln", "Greetings from Cologne");
    let signed = ok(mailgate_in(
        dir.path(),
        &["pgp", "sign", "--key", s(&alice_files.secret)],
        ascii.as_bytes(),
        &[],
    ));
    assert!(contains(&signed, b"3 %"));
    let encrypted = ok(mailgate_in(
        dir.path(),
        &["pgp", "encrypt", "--to", s(&bob_files.public)],
        &signed,
        &[],
    ));
    let decrypted = ok(decrypt(&encrypted));
    assert_eq!(content_type(&decrypted).mime_type(), "multipart/signed");
    let output = mailgate_in(
        dir.path(),
        &["pgp", "verify", "--cert", s(&alice_files.public)],
        &decrypted,
        &[],
    );
    assert_eq!(output.status.code(), Some(0));

    // The signed entity, altered before encryption: decrypt refuses.
    let forged = String::from_utf8(signed)
        .unwrap()
        .replace("3 %", "9 %")
        .into_bytes();
    let encrypted = ok(mailgate_in(
        dir.path(),
        &["pgp", "encrypt", "--to", s(&bob_files.public)],
        &forged,
        &[],
    ));
    let output = decrypt(&encrypted);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
}

#[test]
fn passphrase_protected_gpg_key_decrypts_and_gpg_reads_ours() {
    let gpg = Gpg::new();
    let fingerprint = gpg.generate("Dave <dave@example.org>", "correct horse", false);
    let secret = gpg
        .run_with(
            "correct horse",
            &["--armor", "--export-secret-keys", &fingerprint],
            b"",
        )
        .stdout;
    let secret = gpg.write("dave.sec.asc", &secret);
    let public = gpg.ok(&["--armor", "--export", &fingerprint], b"").stdout;
    let public = gpg.write("dave.pub.asc", &public);

    // We encrypt to gpg's certificate; gpg decrypts with its protected key.
    let encrypted = ok(mailgate_in(
        gpg.home.path(),
        &["pgp", "encrypt", "--to", s(&public)],
        &message(ALICE),
        &[],
    ));
    let payload = gpg.write("payload.asc", &body(&parts(&encrypted)[1]));
    let output = gpg.run_with("correct horse", &["--decrypt", s(&payload)], b"");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.stdout, entity_crlf());

    // We decrypt it with the protected key and the passphrase.
    let decrypt = |env: &[(&str, &str)]| {
        mailgate_in(
            gpg.home.path(),
            &["pgp", "decrypt", "--key", s(&secret), "--pass-env", "PW"],
            &encrypted,
            env,
        )
    };
    let decrypted = ok(decrypt(&[("PW", "correct horse")]));
    assert!(decrypted.ends_with(&entity_crlf()));
    let output = decrypt(&[("PW", "wrong")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("passphrase"));
}

#[test]
fn encrypt_refuses_a_sign_only_certificate_and_decrypt_plain_mail() {
    let gpg = Gpg::new();
    let fingerprint = gpg.generate("Signer <signer@example.org>", "", true);
    let public = gpg.ok(&["--export", &fingerprint], b"").stdout;
    let public = gpg.write("signer.gpg", &public);
    let output = mailgate_in(
        gpg.home.path(),
        &["--json", "pgp", "encrypt", "--to", s(&public)],
        &message(ALICE),
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let error: serde_json::Value = serde_json::from_slice(&output.stderr).unwrap();
    assert_eq!(error["error"]["kind"], "negative");

    let bob = key(BOB, testkit::PgpSuite::Cv25519);
    let files = bob.write_to(gpg.home.path(), "bob").unwrap();
    let output = mailgate_in(
        gpg.home.path(),
        &["pgp", "decrypt", "--key", s(&files.secret)],
        &message(ALICE),
        &[],
    );
    assert_eq!(output.status.code(), Some(2), "not encrypted");
    assert!(output.stdout.is_empty());

    let output = mailgate_in(gpg.home.path(), &["pgp", "encrypt"], b"", &[]);
    assert_eq!(output.status.code(), Some(2), "--to is required");
}
