//! Peer: GnuPG's `gpgsm` encrypts (streamed BER, like most mail clients),
//! smime-core decrypts.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use smime_core::{Certificate, ContentEncryption, DecryptionIdentity, decrypt_cms};
use testkit::{GpgsmHome, KeyKind, pki};

#[test]
fn we_decrypt_what_gpgsm_encrypts_for_rsa_recipients() {
    let home = GpgsmHome::new();
    let plaintext = b"Content-Type: text/plain\r\n\r\nvon gpgsm verschluesselt\r\n".repeat(100);
    std::fs::write(home.path().join("plain.txt"), &plaintext).unwrap();
    for (kind, cipher, expected) in [
        (KeyKind::Rsa2048, "AES", ContentEncryption::Aes128Cbc),
        (KeyKind::Rsa3072, "AES256", ContentEncryption::Aes256Cbc),
    ] {
        let address = format!("gpgsm-{}@example.org", kind.name());
        let id = pki().smime(&address, kind);
        id.write_to(home.path(), "r").unwrap();
        home.run(&["--import", "r.cert.pem"]);
        home.run(&[
            "--cipher-algo",
            cipher,
            "--encrypt",
            "-r",
            &address,
            "-o",
            "out.p7m",
            "plain.txt",
        ]);
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
