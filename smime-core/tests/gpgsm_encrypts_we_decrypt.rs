//! Peer: GnuPG's `gpgsm` encrypts (streamed BER, like most mail clients),
//! smime-core decrypts.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use smime_core::{Certificate, ContentEncryption, DecryptionIdentity, decrypt_cms};
use testkit::{KeyKind, pki, run_peer};

/// A gpgsm home that knows the testkit PKI and trusts its root.
fn gpgsm_home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("gpgsm.conf"), "disable-crl-checks\n").unwrap();
    std::fs::write(home.path().join("root.pem"), pki().root().certificate_pem()).unwrap();
    std::fs::write(
        home.path().join("ca.pem"),
        pki().intermediate().certificate_pem(),
    )
    .unwrap();
    gpgsm(home.path(), &["--import", "root.pem"]);
    gpgsm(home.path(), &["--import", "ca.pem"]);
    let listing = gpgsm(
        home.path(),
        &["--with-colons", "--list-keys", "Mailgate Test Root CA"],
    );
    let fingerprint = String::from_utf8(listing)
        .unwrap()
        .lines()
        .find(|line| line.starts_with("fpr:"))
        .and_then(|line| line.split(':').nth(9).map(str::to_owned))
        .unwrap();
    std::fs::write(
        home.path().join("trustlist.txt"),
        format!("{fingerprint} S\n"),
    )
    .unwrap();
    home
}

fn gpgsm(home: &Path, args: &[&str]) -> Vec<u8> {
    let mut all = vec!["--homedir", home.to_str().unwrap(), "--batch"];
    all.extend_from_slice(args);
    run_peer("gpgsm", &all, home)
}

#[test]
fn we_decrypt_what_gpgsm_encrypts_for_rsa_recipients() {
    let home = gpgsm_home();
    let plaintext = b"Content-Type: text/plain\r\n\r\nvon gpgsm verschluesselt\r\n".repeat(100);
    std::fs::write(home.path().join("plain.txt"), &plaintext).unwrap();
    for (kind, cipher, expected) in [
        (KeyKind::Rsa2048, "AES", ContentEncryption::Aes128Cbc),
        (KeyKind::Rsa3072, "AES256", ContentEncryption::Aes256Cbc),
    ] {
        let address = format!("gpgsm-{}@example.org", kind.name());
        let id = pki().smime(&address, kind);
        id.write_to(home.path(), "r").unwrap();
        gpgsm(home.path(), &["--import", "r.cert.pem"]);
        gpgsm(
            home.path(),
            &[
                "--cipher-algo",
                cipher,
                "--encrypt",
                "-r",
                &address,
                "-o",
                "out.p7m",
                "plain.txt",
            ],
        );
        let message = std::fs::read(home.path().join("out.p7m")).unwrap();
        assert_eq!(message[1], 0x80, "gpgsm writes indefinite-length BER");
        let identity = DecryptionIdentity::new(
            Certificate::from_der(id.certificate_der()).unwrap(),
            id.private_key_der(),
        )
        .unwrap();
        let decrypted = decrypt_cms(&message, &identity).unwrap();
        assert_eq!(*decrypted.content, plaintext, "{kind:?}");
        assert_eq!(decrypted.encryption, expected, "{kind:?}");
    }
}
