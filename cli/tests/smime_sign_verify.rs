//! `mailgate smime sign` and `mailgate smime verify`: OpenSSL verifies what
//! the command signs, the command verifies what OpenSSL signs, and the exit
//! codes follow the contract.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use testkit::{KeyKind, Variant, pki, run_peer};

const MESSAGE: &str = "From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: Vertrag\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nDer Vertrag ist unterschrieben. Grüße\n";

struct Setup {
    dir: tempfile::TempDir,
}

fn setup(kind: KeyKind, variant: Variant) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    pki()
        .smime_variant("alice@example.org", kind, variant)
        .write_to(dir.path(), "alice")
        .unwrap();
    std::fs::write(dir.path().join("root.pem"), pki().root().certificate_pem()).unwrap();
    Setup { dir }
}

impl Setup {
    fn sign(&self, extra: &[&str]) -> Vec<u8> {
        let mut args = vec![
            "smime",
            "sign",
            "--cert",
            "alice.cert.pem",
            "--key",
            "alice.key.pem",
            "--chain",
            "alice.chain.pem",
        ];
        args.extend_from_slice(extra);
        let output = common::mailgate_in(self.dir.path(), &args, MESSAGE.as_bytes(), &[]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    fn verify(&self, message: &[u8], extra: &[&str]) -> Output {
        let mut args = vec!["smime", "verify", "--trust", "root.pem"];
        args.extend_from_slice(extra);
        common::mailgate_in(self.dir.path(), &args, message, &[])
    }

    fn openssl_verifies(&self, message: &[u8]) {
        std::fs::write(self.dir.path().join("signed.eml"), message).unwrap();
        run_peer(
            "openssl",
            &[
                "cms",
                "-verify",
                "-in",
                "signed.eml",
                "-CAfile",
                "root.pem",
                "-out",
                "/dev/null",
            ],
            self.dir.path(),
        );
    }
}

#[test]
fn openssl_verifies_what_the_command_signs() {
    for kind in KeyKind::ALL {
        let setup = setup(kind, Variant::Good);
        for extra in [&[][..], &["--opaque"][..], &["--digest", "sha512"][..]] {
            let signed = setup.sign(extra);
            let text = String::from_utf8(signed.clone()).unwrap();
            assert!(
                text.starts_with(
                    "From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: Vertrag\n"
                ),
                "{text}"
            );
            setup.openssl_verifies(&signed);
            let output = setup.verify(&signed, &[]);
            assert_eq!(
                output.status.code(),
                Some(0),
                "{kind:?} {extra:?}: {}",
                String::from_utf8_lossy(&output.stdout)
            );
        }
    }
    let setup = setup(KeyKind::Rsa2048, Variant::Good);
    setup.openssl_verifies(&setup.sign(&["--pss", "--digest", "sha384"]));
}

#[test]
fn verify_reports_and_unwraps() {
    let setup = setup(KeyKind::P256, Variant::Good);
    let signed = setup.sign(&[]);
    let output = setup.verify(&signed, &["--json", "--output", "out.eml"]);
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["verdict"], "signed-by-from");
    assert_eq!(report["coverage"]["kind"], "whole");
    assert_eq!(report["signers"][0]["valid"], true);
    assert_eq!(report["signers"][0]["digest"], "sha-256");
    assert_eq!(
        report["signers"][0]["certificate"]["addresses"][0],
        "alice@example.org"
    );
    let unwrapped = std::fs::read_to_string(setup.dir.path().join("out.eml")).unwrap();
    assert!(unwrapped.starts_with("From: Alice <alice@example.org>\nTo: bob@example.org\nSubject: Vertrag\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n"), "{unwrapped}");

    let human = setup.verify(&signed, &[]);
    assert!(
        String::from_utf8_lossy(&human.stdout)
            .contains("signed by the From address alice@example.org")
    );
}

#[test]
fn the_command_verifies_openssl_and_refuses_forgeries() {
    let setup = setup(KeyKind::Rsa2048, Variant::Good);
    std::fs::write(
        setup.dir.path().join("inner.txt"),
        "Content-Type: text/plain\r\n\r\nZahlung freigegeben.\r\n",
    )
    .unwrap();
    run_peer(
        "openssl",
        &[
            "cms",
            "-sign",
            "-in",
            "inner.txt",
            "-signer",
            "alice.cert.pem",
            "-inkey",
            "alice.key.pem",
            "-certfile",
            "alice.chain.pem",
            "-from",
            "alice@example.org",
            "-subject",
            "Zahlung",
            "-out",
            "signed.eml",
        ],
        setup.dir.path(),
    );
    let signed = std::fs::read(setup.dir.path().join("signed.eml")).unwrap();
    assert_eq!(setup.verify(&signed, &[]).status.code(), Some(0));

    let text = String::from_utf8(signed).unwrap();
    let changed_from = text.replace(
        "From: alice@example.org",
        "From: \"alice@example.org\" <mallory@evil.example>",
    );
    let output = setup.verify(changed_from.as_bytes(), &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("NOT signed by the From address"));

    let tampered = text.replace("Zahlung freigegeben.", "Zahlung freigegeben!");
    let output = setup.verify(tampered.as_bytes(), &["--json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["verdict"], "invalid");

    let output = setup.verify(b"not a message at all\n", &[]);
    assert_eq!(output.status.code(), Some(2));
    let output = setup.verify(b"From: a@example.org\n\nunsigned\n", &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stdout).contains("not signed"));
}

#[test]
fn verify_at_a_past_time() {
    let setup = setup(KeyKind::P256, Variant::Expired);
    let signed = setup.sign(&[]);
    let now = setup.verify(&signed, &[]);
    assert_eq!(now.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&now.stdout).contains("expired"));
    let then = setup.verify(&signed, &["--at", "2024-06-01T12:00:00+02:00"]);
    assert_eq!(
        then.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&then.stdout)
    );
    let bad = setup.verify(&signed, &["--at", "last summer"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("RFC 3339"));
}

#[test]
fn a_pkcs12_bundle_signs_with_its_chain() {
    let setup = setup(KeyKind::Rsa2048, Variant::Good);
    run_peer(
        "openssl",
        &[
            "pkcs12",
            "-export",
            "-in",
            "alice.cert.pem",
            "-inkey",
            "alice.key.pem",
            "-certfile",
            "alice.chain.pem",
            "-out",
            "alice.p12",
            "-passout",
            "pass:Grüße",
        ],
        setup.dir.path(),
    );
    let sign = |env: &[(&str, &str)]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailgate"))
            .args([
                "smime",
                "sign",
                "--cert",
                "alice.p12",
                "--key",
                "alice.p12",
                "--pass-env",
                "P12_PASS",
            ])
            .envs(env.iter().copied())
            .current_dir(setup.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let _ = child.stdin.take().unwrap().write_all(MESSAGE.as_bytes());
        child.wait_with_output().unwrap()
    };
    let wrong = sign(&[("P12_PASS", "Grusse")]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("passphrase"));
    let signed = sign(&[("P12_PASS", "Grüße")]);
    assert_eq!(
        signed.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&signed.stderr)
    );
    // The chain came from the bundle: OpenSSL builds the path without --chain.
    setup.openssl_verifies(&signed.stdout);
}

#[test]
fn der_certificate_and_key_files_work_like_pem() {
    let setup = setup(KeyKind::P256, Variant::Good);
    let d = setup.dir.path();
    // Sign with DER files; OpenSSL verifies.
    let output = common::mailgate_in(
        d,
        &[
            "smime",
            "sign",
            "--cert",
            "alice.cert.der",
            "--key",
            "alice.key.der",
            "--chain",
            "alice.chain.pem",
        ],
        MESSAGE.as_bytes(),
        &[],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    setup.openssl_verifies(&output.stdout);
    // Encrypt to a DER certificate; decrypt with DER files, and OpenSSL
    // decrypts the same message with the PEM key.
    let encrypted = common::mailgate_in(
        d,
        &["smime", "encrypt", "--to", "alice.cert.der"],
        MESSAGE.as_bytes(),
        &[],
    );
    assert_eq!(
        encrypted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&encrypted.stderr)
    );
    let decrypted = common::mailgate_in(
        d,
        &[
            "smime",
            "decrypt",
            "--cert",
            "alice.cert.der",
            "--key",
            "alice.key.der",
        ],
        &encrypted.stdout,
        &[],
    );
    assert_eq!(
        decrypted.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&decrypted.stderr)
    );
    assert!(String::from_utf8_lossy(&decrypted.stdout).contains("Subject: Vertrag"));
    std::fs::write(d.join("encrypted.eml"), &encrypted.stdout).unwrap();
    let by_openssl = run_peer(
        "openssl",
        &[
            "cms",
            "-decrypt",
            "-in",
            "encrypted.eml",
            "-recip",
            "alice.cert.pem",
            "-inkey",
            "alice.key.pem",
        ],
        d,
    );
    // Ours is the outer header fields plus the entity OpenSSL returns.
    let ours = String::from_utf8_lossy(&decrypted.stdout).replace("\r\n", "\n");
    let theirs = String::from_utf8_lossy(&by_openssl).replace("\r\n", "\n");
    assert!(
        theirs.contains("Der Vertrag ist unterschrieben."),
        "{theirs}"
    );
    assert!(ours.ends_with(&theirs), "{ours}\n---\n{theirs}");
}

/// An opaque SignedData (OpenSSL's `-nodetach`, with eContent) put where a
/// detached signature belongs, beside other content: which content was
/// signed is ambiguous, and that is a definite "no" (exit 1), not malformed
/// input (exit 2).
#[test]
fn encapsulated_and_detached_content_together_is_a_definite_no() {
    let setup = setup(KeyKind::Rsa2048, Variant::Good);
    std::fs::write(
        setup.dir.path().join("inner.txt"),
        "Content-Type: text/plain\r\n\r\nPay 100 EUR.\r\n",
    )
    .unwrap();
    run_peer(
        "openssl",
        &[
            "cms",
            "-sign",
            "-nodetach",
            "-binary",
            "-outform",
            "DER",
            "-in",
            "inner.txt",
            "-signer",
            "alice.cert.pem",
            "-inkey",
            "alice.key.pem",
            "-out",
            "opaque.der",
        ],
        setup.dir.path(),
    );
    let der = std::fs::read(setup.dir.path().join("opaque.der")).unwrap();
    let base64 = smime_core::mime::encode_base64(&der, smime_core::mime::LineBreak::Crlf);
    let forged = [
        b"From: alice@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nPay 900 EUR instead.\r\n--b\r\nContent-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\n".as_slice(),
        &base64,
        b"\r\n--b--\r\n",
    ]
    .concat();
    let output = setup.verify(&forged, &[]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("both encapsulated and detached"));
}
