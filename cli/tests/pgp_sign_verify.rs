//! `mailgate pgp sign` and `mailgate pgp verify` against GnuPG 2.2 in both
//! directions: PGP/MIME signatures and inline cleartext signatures, RSA-3072
//! and Ed25519 keys, key files with several keys, protected keys.

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

#[test]
fn gpg_verifies_our_pgp_mime_signature_and_so_do_we() {
    for suite in SUITES {
        let alice = key(ALICE, suite);
        let gpg = Gpg::new();
        let files = alice.write_to(gpg.home.path(), "alice").unwrap();
        let signed = ok(mailgate_in(
            gpg.home.path(),
            &["pgp", "sign", "--key", s(&files.secret)],
            &message(ALICE),
            &[],
        ));
        let content_type = content_type(&signed);
        assert_eq!(content_type.mime_type(), "multipart/signed");
        assert_eq!(
            content_type.parameter("protocol"),
            Some("application/pgp-signature")
        );
        assert_eq!(content_type.parameter("micalg"), Some("pgp-sha256"));
        assert!(signed.starts_with(b"From: Alice Example <alice@example.org>\r\n"));

        gpg.import(&alice, false);
        let parts = parts(&signed);
        let content = gpg.write("content", &mail_message::canonicalize(&parts[0]));
        let signature = gpg.write("content.asc", &body(&parts[1]));
        let status = gpg.status(&["--verify", s(&signature), s(&content)], b"");
        assert!(status.contains("[GNUPG:] GOODSIG"), "{suite:?}: {status}");
        assert!(status.contains(&alice.fingerprint_hex()), "{suite:?}");

        let output = mailgate_in(
            gpg.home.path(),
            &["--json", "pgp", "verify", "--cert", s(&files.public)],
            &signed,
            &[],
        );
        assert_eq!(output.status.code(), Some(0), "{suite:?}");
        let report = json(&output);
        assert_eq!(report["verdict"], "signed-by-from");
        assert_eq!(report["signers"][0]["user_id"], ALICE);
        assert_eq!(report["signers"][0]["certificate"], alice.fingerprint_hex());
    }
}

/// Standard input from a file (`< in.eml`) is read twice rather than
/// spooled, the body copied straight to standard output (a file here): a
/// canonical 7-bit message of a few MiB (hashed on a second thread) and
/// messages that must be re-encoded or converted (the streaming path) all
/// come out signed as gpg verifies them.
#[test]
fn gpg_verifies_what_we_sign_from_a_file_on_standard_input() {
    let alice = key(ALICE, SUITES[0]);
    let gpg = Gpg::new();
    let files = alice.write_to(gpg.home.path(), "alice").unwrap();
    gpg.import(&alice, false);
    let line = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0";
    let attachment: String = (0..40_000)
        .map(|i| format!("{line}{:02}\r\n", i % 100))
        .collect();
    let large = format!(
        "From: {ALICE}\r\nSubject: large\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n{attachment}--b1--\r\n"
    );
    let lf = String::from_utf8(message(ALICE))
        .unwrap()
        .replace("\r\n", "\n");
    let eight_bit = format!(
        "From: {ALICE}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGr\u{fc}\u{df}e\r\n"
    );
    for (name, message) in [("large", large), ("lf", lf), ("8bit", eight_bit)] {
        let input = gpg.write(&format!("{name}.eml"), message.as_bytes());
        let output = gpg.home.path().join(format!("{name}.signed"));
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_mailgate"))
            .args(["pgp", "sign", "--key", s(&files.secret)])
            .stdin(std::fs::File::open(&input).unwrap())
            .stdout(std::fs::File::create(&output).unwrap())
            .status()
            .unwrap();
        assert!(status.success(), "{name}");
        let signed = std::fs::read(&output).unwrap();
        let parts = parts(&signed);
        if name == "large" {
            // Copied as it is: the attachment is in the signed part unchanged.
            assert!(parts[0].ends_with(format!("{attachment}--b1--\r\n").as_bytes()));
        }
        let content = gpg.write("content", &mail_message::canonicalize(&parts[0]));
        let signature = gpg.write("content.asc", &body(&parts[1]));
        let status = gpg.status(&["--verify", s(&signature), s(&content)], b"");
        assert!(status.contains("[GNUPG:] GOODSIG"), "{name}: {status}");
        let verified = mailgate_in(
            gpg.home.path(),
            &["pgp", "verify", "--cert", s(&files.public)],
            &signed,
            &[],
        );
        assert_eq!(verified.status.code(), Some(0), "{name}");
    }
}

#[test]
fn we_verify_gpg_pgp_mime_signature_and_unwrap_it() {
    for suite in SUITES {
        let alice = key(ALICE, suite);
        let gpg = Gpg::new();
        gpg.import(&alice, true);
        let files = alice.write_to(gpg.home.path(), "alice").unwrap();
        let content = gpg.write("entity", ENTITY.as_bytes());
        let signature = gpg
            .ok(
                &[
                    "--digest-algo",
                    "SHA512",
                    "--armor",
                    "--detach-sign",
                    "--output",
                    "-",
                    s(&content),
                ],
                b"",
            )
            .stdout;
        let signed = wrap_signed(ALICE, ENTITY.as_bytes(), &signature, "pgp-sha512");
        let unwrapped = gpg.path("unwrapped.eml");
        let output = mailgate_in(
            gpg.home.path(),
            &[
                "pgp",
                "verify",
                "--cert",
                s(&files.public),
                "--output",
                s(&unwrapped),
            ],
            &signed,
            &[],
        );
        assert_eq!(
            output.status.code(),
            Some(0),
            "{suite:?}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("signed by the From address"));
        let unwrapped = std::fs::read(unwrapped).unwrap();
        assert!(unwrapped.starts_with(b"From: Alice Example <alice@example.org>\r\n"));
        assert!(unwrapped.ends_with(ENTITY.as_bytes()));
        assert!(!contains(&unwrapped, b"multipart/signed"));

        // One changed byte in the signed part: exit 1, verdict invalid.
        let tampered = String::from_utf8(signed.clone())
            .unwrap()
            .replace("3 %", "9 %")
            .into_bytes();
        let not_written = gpg.path("tampered-unwrapped.eml");
        let output = mailgate_in(
            gpg.home.path(),
            &[
                "--json",
                "pgp",
                "verify",
                "--cert",
                s(&files.public),
                "--output",
                s(&not_written),
            ],
            &tampered,
            &[],
        );
        assert_eq!(output.status.code(), Some(1), "{suite:?}");
        assert_eq!(json(&output)["verdict"], "invalid");
        // Tampered content is never written out as the unwrapped message.
        assert!(!not_written.exists(), "{suite:?}");
        assert_eq!(json(&output)["signers"][0]["valid"], false);

        // The right signature, but the signer's certificate is not given.
        let carol = key(CAROL, suite)
            .write_to(gpg.home.path(), "carol")
            .unwrap();
        let output = mailgate_in(
            gpg.home.path(),
            &["--json", "pgp", "verify", "--cert", s(&carol.public)],
            &signed,
            &[],
        );
        assert_eq!(output.status.code(), Some(1), "{suite:?}");
        assert_eq!(json(&output)["verdict"], "invalid");
        assert!(
            json(&output)["signers"][0]["status"]
                .as_str()
                .unwrap()
                .contains("not among the given certificates")
        );
    }
}

#[test]
fn we_verify_gpg_cleartext_signature_only_when_nothing_surrounds_it() {
    for suite in SUITES {
        let alice = key(ALICE, suite);
        let gpg = Gpg::new();
        gpg.import(&alice, true);
        let files = alice.write_to(gpg.home.path(), "alice").unwrap();
        let text = gpg.write(
            "text",
            "Grüße aus Köln.\nThe figures are attached.\n".as_bytes(),
        );
        let clearsigned = gpg
            .ok(&["--clearsign", "--output", "-", s(&text)], b"")
            .stdout;
        let verify = |message: &[u8]| {
            mailgate_in(
                gpg.home.path(),
                &["--json", "pgp", "verify", "--cert", s(&files.public)],
                message,
                &[],
            )
        };
        let output = verify(&text_message(ALICE, &clearsigned));
        assert_eq!(output.status.code(), Some(0), "{suite:?}");
        assert_eq!(json(&output)["verdict"], "signed-by-from");

        let mut prepended = b"URGENT: wire the money today.\r\n\r\n".to_vec();
        prepended.extend_from_slice(&clearsigned);
        let output = verify(&text_message(ALICE, &prepended));
        assert_eq!(output.status.code(), Some(1), "{suite:?}");
        assert_eq!(json(&output)["verdict"], "partially-signed");
        assert_eq!(json(&output)["coverage"]["kind"], "partial");
    }
}

#[test]
fn a_signature_by_a_key_without_the_from_address_does_not_hold() {
    let alice = key(ALICE, testkit::PgpSuite::Cv25519);
    let dir = tempfile::tempdir().unwrap();
    let files = alice.write_to(dir.path(), "alice").unwrap();
    // Mallory's From, Alice's key (the only key in the file, so it signs).
    let signed = ok(mailgate_in(
        dir.path(),
        &["pgp", "sign", "--key", s(&files.secret)],
        &message("Alice Example <mallory@example.org>"),
        &[],
    ));
    let output = mailgate_in(
        dir.path(),
        &["--json", "pgp", "verify", "--cert", s(&files.public)],
        &signed,
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    let report = json(&output);
    assert_eq!(report["verdict"], "signed-by-other");
    assert_eq!(report["signers"][0]["valid"], true);
    assert_eq!(report["signers"][0]["binds_from"], false);
}

#[test]
fn verify_at_judges_the_signature_at_that_time() {
    let alice = key(ALICE, testkit::PgpSuite::Cv25519);
    let dir = tempfile::tempdir().unwrap();
    let files = alice.write_to(dir.path(), "alice").unwrap();
    let signed = ok(mailgate_in(
        dir.path(),
        &["pgp", "sign", "--key", s(&files.secret)],
        &message(ALICE),
        &[],
    ));
    let verify_at = |at: &str| {
        mailgate_in(
            dir.path(),
            &["pgp", "verify", "--cert", s(&files.public), "--at", at],
            &signed,
            &[],
        )
        .status
        .code()
    };
    // The key exists from 2025-01-01 on; the signature is made now.
    assert_eq!(verify_at("2099-01-01T00:00:00Z"), Some(0));
    assert_eq!(verify_at("2025-06-01T00:00:00Z"), Some(1));
    assert_eq!(verify_at("2024-06-01T00:00:00Z"), Some(1));
    assert_eq!(verify_at("yesterday"), Some(2));
}

#[test]
fn signs_with_the_from_key_of_a_binary_gpg_export_with_several_keys() {
    let gpg = Gpg::new();
    let bob = key(BOB, testkit::PgpSuite::Rsa3072);
    let alice = key(ALICE, testkit::PgpSuite::Cv25519);
    gpg.import(&bob, true);
    gpg.import(&alice, true);
    // Binary, both secret keys in one file, Bob's first.
    let exported = gpg
        .ok(
            &[
                "--export-secret-keys",
                &bob.fingerprint_hex(),
                &alice.fingerprint_hex(),
            ],
            b"",
        )
        .stdout;
    assert_ne!(exported.first(), Some(&b'-'), "binary, not armored");
    let keys = gpg.write("keys.gpg", &exported);
    let signed = ok(mailgate_in(
        gpg.home.path(),
        &["pgp", "sign", "--key", s(&keys), "--digest", "sha512"],
        &message(ALICE),
        &[],
    ));
    assert_eq!(
        content_type(&signed).parameter("micalg"),
        Some("pgp-sha512")
    );
    let parts = parts(&signed);
    let content = gpg.write("content", &mail_message::canonicalize(&parts[0]));
    let signature = gpg.write("content.asc", &body(&parts[1]));
    let status = gpg.status(&["--verify", s(&signature), s(&content)], b"");
    assert!(status.contains("[GNUPG:] GOODSIG"), "{status}");
    assert!(status.contains(&alice.fingerprint_hex()), "{status}");

    // Both public keys in one binary file verify too.
    let public = gpg.ok(&["--export"], b"").stdout;
    let public = gpg.write("public.gpg", &public);
    let output = mailgate_in(
        gpg.home.path(),
        &["pgp", "verify", "--cert", s(&public)],
        &signed,
        &[],
    );
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn signs_with_a_passphrase_protected_gpg_key() {
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
    let mail = message("Dave <dave@example.org>");
    let sign = |env: &[(&str, &str)], pass_env: bool| {
        let mut args = vec!["pgp", "sign", "--key", s(&secret)];
        if pass_env {
            args.extend(["--pass-env", "DAVE_PASS"]);
        }
        mailgate_in(gpg.home.path(), &args, &mail, env)
    };
    let output = sign(&[], false);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("passphrase"));
    let output = sign(&[("DAVE_PASS", "wrong")], true);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let output = sign(&[], true);
    assert_eq!(output.status.code(), Some(2), "variable not set");

    let signed = ok(sign(&[("DAVE_PASS", "correct horse")], true));
    let parts = parts(&signed);
    let content = gpg.write("content", &mail_message::canonicalize(&parts[0]));
    let signature = gpg.write("content.asc", &body(&parts[1]));
    let status = gpg.status(&["--verify", s(&signature), s(&content)], b"");
    assert!(status.contains("[GNUPG:] GOODSIG"), "{status}");
    assert!(status.contains(&fingerprint), "{status}");
}

#[test]
fn unsigned_malformed_and_usage_errors_have_their_codes() {
    let alice = key(ALICE, testkit::PgpSuite::Cv25519);
    let dir = tempfile::tempdir().unwrap();
    let files = alice.write_to(dir.path(), "alice").unwrap();
    let output = mailgate_in(
        dir.path(),
        &["--json", "pgp", "verify", "--cert", s(&files.public)],
        &message(ALICE),
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(json(&output)["verdict"], "unsigned");

    let junk = dir.path().join("junk.asc");
    std::fs::write(
        &junk,
        b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnot a key\n",
    )
    .unwrap();
    let output = mailgate_in(
        dir.path(),
        &["--json", "pgp", "verify", "--cert", s(&junk)],
        &message(ALICE),
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    let error: serde_json::Value = serde_json::from_slice(&output.stderr).unwrap();
    assert_eq!(error["error"]["kind"], "malformed-input");

    // A public certificate cannot sign.
    let output = mailgate_in(
        dir.path(),
        &["pgp", "sign", "--key", s(&files.public)],
        &message(ALICE),
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());

    let output = mailgate_in(dir.path(), &["pgp", "verify"], b"", &[]);
    assert_eq!(output.status.code(), Some(2), "--cert is required");
}

/// The crypto backend the features select is the one in use: the binary
/// under test is built in the same cargo invocation as this test, with the
/// same (unified) features of `sequoia-openpgp`, so a dev-dependency that
/// turned `crypto-rust` back on would show here.
#[test]
fn crypto_backend_is_the_selected_one() {
    let backend = sequoia_openpgp::crypto::backend();
    if cfg!(feature = "crypto-nettle") {
        assert!(backend.starts_with("Nettle"), "{backend}");
    } else {
        assert_eq!(backend, "RustCrypto");
    }
}
