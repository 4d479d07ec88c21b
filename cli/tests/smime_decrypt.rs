//! `mailgate smime decrypt`: OpenSSL writes S/MIME mail (`openssl cms
//! -encrypt` with headers), the command restores the message; failures
//! write nothing to standard output and exit with the documented code.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::Output;

use base64ct::{Base64, Encoding};
use testkit::{IdentityFiles, KeyKind, pki};

const INNER: &str = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nDas Gehalt steigt um 3 %. Grüße\r\n";

fn identity(dir: &Path, address: &str, kind: KeyKind) -> IdentityFiles {
    pki()
        .smime(address, kind)
        .write_to(dir, address.split('@').next().unwrap())
        .unwrap()
}

/// An S/MIME message as `openssl cms -encrypt` writes it, with outer headers.
fn openssl_encrypt(dir: &Path, cipher: &str, recipient: &Path) -> Vec<u8> {
    std::fs::write(dir.join("inner.txt"), INNER).unwrap();
    testkit::run_peer(
        "openssl",
        &[
            "cms",
            "-encrypt",
            "-binary",
            cipher,
            "-in",
            "inner.txt",
            "-out",
            "mail.eml",
            "-from",
            "Alice <alice@example.org>",
            "-to",
            "bob@example.org",
            "-subject",
            "Gehalt",
            recipient.to_str().unwrap(),
        ],
        dir,
    );
    std::fs::read(dir.join("mail.eml")).unwrap()
}

fn key_args<'a>(files: &'a IdentityFiles, key: &'a Path) -> Vec<&'a str> {
    vec![
        "smime",
        "decrypt",
        "--cert",
        files.certificate_pem.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]
}

#[test]
fn decrypts_openssl_mail_and_keeps_the_outer_headers() {
    let dir = tempfile::tempdir().unwrap();
    for (kind, cipher) in [
        (KeyKind::Rsa2048, "-aes-256-gcm"),
        (KeyKind::P256, "-aes-128-cbc"),
        (KeyKind::P384, "-aes-256-cbc"),
    ] {
        let bob = identity(dir.path(), "bob@example.org", kind);
        let mail = openssl_encrypt(dir.path(), cipher, &bob.certificate_pem);
        let output = mailgate_anywhere(&key_args(&bob, &bob.private_key_pem), &mail, &[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{kind:?} {cipher}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8(output.stdout).unwrap();
        // OpenSSL writes LF line breaks; the output follows the input's style.
        let expected_inner = INNER.replace("\r\n", "\n");
        assert!(text.ends_with(&expected_inner), "{kind:?}:\n{text}");
        let (header, _) = text.split_once("\n\n").unwrap();
        for field in [
            "To: bob@example.org",
            "From: Alice <alice@example.org>",
            "Subject: Gehalt",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
        ] {
            assert!(header.contains(field), "{field} missing:\n{header}");
        }
        assert!(
            !header.contains("pkcs7"),
            "the S/MIME layer stays:\n{header}"
        );
        assert_eq!(header.matches("MIME-Version").count(), 1);
    }
}

#[test]
fn encrypted_keys_need_the_right_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let bob = identity(dir.path(), "bob@example.org", KeyKind::Rsa2048);
    testkit::run_peer(
        "openssl",
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            bob.private_key_pem.to_str().unwrap(),
            "-out",
            "encrypted.pem",
            "-passout",
            "pass:Geheim 123",
        ],
        dir.path(),
    );
    let encrypted = dir.path().join("encrypted.pem");
    let mail = openssl_encrypt(dir.path(), "-aes-128-gcm", &bob.certificate_pem);
    let mut args = key_args(&bob, &encrypted);

    let without = mailgate_anywhere(&args, &mail, &[]);
    assert_eq!(without.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&without.stderr).contains("passphrase is required"));

    args.extend(["--pass-env", "MAILGATE_TEST_PASS"]);
    let unset = mailgate_anywhere(&args, &mail, &[]);
    assert_eq!(unset.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unset.stderr).contains("MAILGATE_TEST_PASS"));

    let wrong = mailgate_anywhere(&args, &mail, &[("MAILGATE_TEST_PASS", "geheim 123")]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("passphrase does not decrypt"));
    assert!(wrong.stdout.is_empty());

    let right = mailgate_anywhere(&args, &mail, &[("MAILGATE_TEST_PASS", "Geheim 123")]);
    assert_eq!(
        right.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&right.stderr)
    );
    assert!(String::from_utf8(right.stdout).unwrap().contains("Grüße"));
}

#[test]
fn failures_write_nothing_to_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    let bob = identity(dir.path(), "bob@example.org", KeyKind::Rsa2048);
    let carol = identity(dir.path(), "carol@example.org", KeyKind::Rsa2048);
    let mail = openssl_encrypt(dir.path(), "-aes-256-gcm", &bob.certificate_pem);

    // Not for us: a definite negative answer.
    let output = mailgate_anywhere(&key_args(&carol, &carol.private_key_pem), &mail, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not encrypted to this certificate"));

    // One flipped bit in the GCM ciphertext: the tag fails, nothing comes out.
    let text = String::from_utf8(mail.clone()).unwrap();
    let (header, body) = text.split_once("\n\n").unwrap();
    let compact: String = body.split_whitespace().collect();
    let mut der = Base64::decode_vec(&compact).unwrap();
    let last = der.len() - 40;
    der[last] ^= 1;
    let tampered = format!("{header}\n\n{}", Base64::encode_string(&der));
    let output = mailgate_anywhere(
        &key_args(&bob, &bob.private_key_pem),
        tampered.as_bytes(),
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "mailgate: decryption failed"
    );

    // Not S/MIME at all: malformed input.
    let output = mailgate_anywhere(
        &key_args(&bob, &bob.private_key_pem),
        b"From: a@b\r\n\r\nhello\r\n",
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("application/pkcs7-mime"));

    // A key that belongs to another certificate.
    let output = mailgate_anywhere(&key_args(&bob, &carol.private_key_pem), &mail, &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("does not belong"));
}

fn mailgate_anywhere(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    // Every path in `args` is absolute.
    common::mailgate_in(Path::new("/"), args, stdin, env)
}

/// Legacy Triple DES mail opens, with a warning that names the obsolete
/// cipher (not an object identifier).
#[test]
fn legacy_triple_des_mail_decrypts_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let bob = identity(dir.path(), "bob@example.org", KeyKind::Rsa2048);
    let mail = openssl_encrypt(dir.path(), "-des3", &bob.certificate_pem);
    let output = mailgate_anywhere(&key_args(&bob, &bob.private_key_pem), &mail, &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(String::from_utf8_lossy(&output.stdout).ends_with(&INNER.replace("\r\n", "\n")));
    assert!(
        stderr.contains("des-ede3-cbc, an obsolete cipher"),
        "{stderr}"
    );
}
