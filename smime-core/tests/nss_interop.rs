//! Peer: NSS, the S/MIME engine of Thunderbird (`cmsutil` from
//! libnss3-tools), in both directions: NSS signs (opaque and detached) and
//! encrypts, we verify and decrypt; we sign and encrypt, NSS verifies and
//! decrypts.
//!
//! NSS 3.87 (Debian 12) has no ECDH key agreement in CMS (it neither writes
//! nor reads KeyAgreeRecipientInfo), so encryption is tested with RSA
//! recipients; signatures with RSA and ECDSA.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use smime_core::{
    Certificate, ContentEncryption, Encryptor, SignatureForm, SignatureStatus, decrypt_cms,
};
use testkit::{KeyKind, pki, run_peer};

const CONTENT: &[u8] = b"Content-Type: text/plain\r\n\r\nVon Thunderbird signiert.\r\n";

/// A throw-away NSS database that trusts the testkit root.
struct NssDb {
    dir: tempfile::TempDir,
}

impl NssDb {
    fn new() -> NssDb {
        let dir = tempfile::tempdir().unwrap();
        let db = NssDb { dir };
        db.run("certutil", &["-N", "--empty-password"]);
        std::fs::write(db.path().join("root.pem"), pki().root().certificate_pem()).unwrap();
        std::fs::write(
            db.path().join("ca.pem"),
            pki().intermediate().certificate_pem(),
        )
        .unwrap();
        db.run(
            "certutil",
            &["-A", "-n", "root", "-t", "C,C,C", "-a", "-i", "root.pem"],
        );
        db.run(
            "certutil",
            &["-A", "-n", "ca", "-t", ",,", "-a", "-i", "ca.pem"],
        );
        db
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, program: &str, args: &[&str]) -> Vec<u8> {
        let db = format!("sql:{}", self.path().display());
        let mut all = vec!["-d", db.as_str()];
        all.extend_from_slice(args);
        run_peer(program, &all, self.path())
    }

    /// Imports an identity's key and certificate under `nickname`.
    fn import(&self, address: &str, kind: KeyKind, nickname: &str) {
        common::legacy_pkcs12(self.path(), address, kind, nickname, "test");
        self.run(
            "pk12util",
            &["-i", &format!("{nickname}.p12"), "-W", "test"],
        );
    }
}

#[test]
#[ignore = "needs libnss3-tools"]
fn nss_signs_we_verify() {
    let db = NssDb::new();
    for (kind, nickname) in [(KeyKind::Rsa2048, "rsa"), (KeyKind::P256, "ec")] {
        let address = format!("nss-{nickname}@example.org");
        db.import(&address, kind, nickname);
        std::fs::write(db.path().join("content.txt"), CONTENT).unwrap();
        // Opaque, with signing time and SMIMECapabilities, as Thunderbird signs.
        db.run(
            "cmsutil",
            &[
                "-S",
                "-N",
                nickname,
                "-G",
                "-P",
                "-i",
                "content.txt",
                "-o",
                "opaque.p7m",
            ],
        );
        let opaque = std::fs::read(db.path().join("opaque.p7m")).unwrap();
        let result = common::verifier().verify_cms(&opaque, None).unwrap();
        assert_eq!(result.content, CONTENT);
        assert_eq!(
            result.signers[0].status,
            SignatureStatus::Valid,
            "{kind:?} opaque"
        );
        assert!(result.signers[0].signing_time.is_some());
        assert!(!result.signers[0].capabilities.is_empty());
        // Detached.
        db.run(
            "cmsutil",
            &[
                "-S",
                "-T",
                "-N",
                nickname,
                "-G",
                "-i",
                "content.txt",
                "-o",
                "detached.p7s",
            ],
        );
        let detached = std::fs::read(db.path().join("detached.p7s")).unwrap();
        let result = common::verifier()
            .verify_cms(&detached, Some(CONTENT))
            .unwrap();
        assert_eq!(
            result.signers[0].status,
            SignatureStatus::Valid,
            "{kind:?} detached"
        );
        let tampered = common::verifier()
            .verify_cms(
                &detached,
                Some(b"Content-Type: text/plain\r\n\r\nchanged\r\n"),
            )
            .unwrap();
        assert_eq!(tampered.signers[0].status, SignatureStatus::ContentChanged);
    }
}

#[test]
#[ignore = "needs libnss3-tools"]
fn we_sign_nss_verifies() {
    let db = NssDb::new();
    for (kind, form) in [
        (KeyKind::Rsa2048, SignatureForm::Opaque),
        (KeyKind::P256, SignatureForm::Detached),
        (KeyKind::P384, SignatureForm::Opaque),
    ] {
        let cms = common::signer("ours@example.org", kind)
            .sign_cms(CONTENT, form, SystemTime::now())
            .unwrap();
        std::fs::write(db.path().join("ours.p7m"), &cms).unwrap();
        std::fs::write(db.path().join("content.txt"), CONTENT).unwrap();
        let mut args = vec!["-D", "-i", "ours.p7m", "-h", "1"];
        if form == SignatureForm::Detached {
            args.extend_from_slice(&["-c", "content.txt"]);
        }
        let output = Command::new("cmsutil")
            .args(["-d", &format!("sql:{}", db.path().display())])
            .args(&args)
            .current_dir(db.path())
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && report.contains("signer0.status=GoodSignature"),
            "{kind:?} {form:?}: {report}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
#[ignore = "needs libnss3-tools"]
fn nss_encrypts_we_decrypt() {
    let db = NssDb::new();
    for (kind, nickname) in [(KeyKind::Rsa2048, "rsa"), (KeyKind::Rsa3072, "rsa3072")] {
        let address = format!("nss-{nickname}@example.org");
        db.import(&address, kind, nickname);
        std::fs::write(db.path().join("content.txt"), CONTENT).unwrap();
        db.run(
            "cmsutil",
            &["-E", "-r", nickname, "-i", "content.txt", "-o", "enc.p7m"],
        );
        let encrypted = std::fs::read(db.path().join("enc.p7m")).unwrap();
        let decrypted = decrypt_cms(&encrypted, &common::identity(&address, kind)).unwrap();
        assert_eq!(*decrypted.content, CONTENT, "{kind:?}");
    }
}

#[test]
#[ignore = "needs libnss3-tools"]
fn we_encrypt_nss_decrypts() {
    let db = NssDb::new();
    for (kind, nickname, cipher) in [
        (KeyKind::Rsa2048, "rsa", ContentEncryption::Aes256Cbc),
        (KeyKind::Rsa3072, "rsa3072", ContentEncryption::Aes128Cbc),
    ] {
        let address = format!("nss-{nickname}@example.org");
        db.import(&address, kind, nickname);
        let cms =
            Encryptor::new([
                Certificate::from_der(pki().smime(&address, kind).certificate_der()).unwrap(),
            ])
            .unwrap()
            .with_cipher(cipher)
            .encrypt_cms(CONTENT)
            .unwrap();
        std::fs::write(db.path().join("ours.p7m"), &cms).unwrap();
        db.run("cmsutil", &["-D", "-i", "ours.p7m", "-o", "plain.txt"]);
        assert_eq!(
            std::fs::read(db.path().join("plain.txt")).unwrap(),
            CONTENT,
            "{kind:?}"
        );
    }
}
