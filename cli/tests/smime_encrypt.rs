//! `mailgate smime encrypt`: OpenSSL decrypts what the command encrypts, the
//! whole pipeline sign | encrypt | decrypt | verify works through the binary,
//! and unusable recipients are refused before anything is written.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use testkit::{KeyKind, pki, run_peer};

fn mailgate(args: &[&str], stdin: &[u8], dir: &Path) -> std::process::Output {
    common::mailgate_in(dir, args, stdin, &[])
}

const MESSAGE: &str = "From: alice@example.org\nTo: bob@example.org, carol@example.org\nSubject: Angebot\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nUnser Angebot: 12.000 €\n";

fn setup() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (stem, kind) in [
        ("alice", KeyKind::P256),
        ("bob", KeyKind::Rsa2048),
        ("carol", KeyKind::P384),
    ] {
        pki()
            .smime(&format!("{stem}@example.org"), kind)
            .write_to(dir.path(), stem)
            .unwrap();
    }
    std::fs::write(dir.path().join("root.pem"), pki().root().certificate_pem()).unwrap();
    dir
}

fn openssl_decrypt(dir: &Path, message: &[u8], stem: &str) -> String {
    std::fs::write(dir.join("mail.eml"), message).unwrap();
    let cert = format!("{stem}.cert.pem");
    let key = format!("{stem}.key.pem");
    let plain = run_peer(
        "openssl",
        &[
            "cms", "-decrypt", "-in", "mail.eml", "-recip", &cert, "-inkey", &key,
        ],
        dir,
    );
    String::from_utf8(plain).unwrap()
}

#[test]
fn openssl_decrypts_for_every_recipient_and_cipher() {
    let dir = setup();
    for extra in [
        &[][..],
        &["--cipher", "aes-128-cbc", "--oaep"][..],
        &["--cipher", "aes-256-cbc"][..],
        &["--cipher", "aes-128-gcm"][..],
    ] {
        let mut args = vec![
            "smime",
            "encrypt",
            "--to",
            "bob.cert.pem",
            "--to",
            "carol.cert.pem",
        ];
        args.extend_from_slice(extra);
        let encrypted = common::ok(common::mailgate_in(
            dir.path(),
            &args,
            MESSAGE.as_bytes(),
            &[],
        ));
        let text = String::from_utf8(encrypted.clone()).unwrap();
        assert!(text.starts_with("From: alice@example.org\nTo: bob@example.org, carol@example.org\nSubject: Angebot\nMIME-Version: 1.0\nContent-Type: application/pkcs7-mime;"), "{text}");
        assert!(!text.contains("12.000"));
        for stem in ["bob", "carol"] {
            let plain = openssl_decrypt(dir.path(), &encrypted, stem);
            assert!(
                plain.contains("Unser Angebot: 12.000 €"),
                "{extra:?} {stem}: {plain}"
            );
        }
    }
}

#[test]
fn sign_encrypt_decrypt_verify_through_the_binary() {
    let dir = setup();
    let signed = common::ok(mailgate(
        &[
            "smime",
            "sign",
            "--cert",
            "alice.cert.pem",
            "--key",
            "alice.key.pem",
            "--chain",
            "alice.chain.pem",
        ],
        MESSAGE.as_bytes(),
        dir.path(),
    ));
    let encrypted = common::ok(mailgate(
        &[
            "smime",
            "encrypt",
            "--to",
            "bob.cert.pem",
            "--to",
            "alice.cert.pem",
        ],
        &signed,
        dir.path(),
    ));
    for stem in ["bob", "alice"] {
        let cert = format!("{stem}.cert.pem");
        let key = format!("{stem}.key.pem");
        let decrypted = common::ok(mailgate(
            &["smime", "decrypt", "--cert", &cert, "--key", &key],
            &encrypted,
            dir.path(),
        ));
        assert_eq!(decrypted, signed, "{stem} gets the signed message back");
        let verified = mailgate(
            &[
                "smime", "verify", "--trust", "root.pem", "--output", "out.eml",
            ],
            &decrypted,
            dir.path(),
        );
        assert_eq!(
            verified.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&verified.stdout)
        );
        let unwrapped = std::fs::read_to_string(dir.path().join("out.eml")).unwrap();
        assert!(unwrapped.starts_with(
            "From: alice@example.org\nTo: bob@example.org, carol@example.org\nSubject: Angebot\n"
        ));
    }
}

#[test]
fn unusable_recipients_and_bad_ciphers_are_refused() {
    let dir = setup();
    // A CA certificate may sign certificates, not receive mail.
    let output = mailgate(
        &["smime", "encrypt", "--to", "root.pem"],
        MESSAGE.as_bytes(),
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("root.pem") && stderr.contains("keyEncipherment"),
        "{stderr}"
    );

    let output = mailgate(
        &[
            "smime",
            "encrypt",
            "--to",
            "bob.cert.pem",
            "--cipher",
            "des-cbc",
        ],
        MESSAGE.as_bytes(),
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown cipher"));
}
