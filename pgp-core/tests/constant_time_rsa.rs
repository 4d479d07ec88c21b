//! RSA session keys are opened by the constant-time decryptor (feature
//! `constant-time-rsa`, on by default), not by the Sequoia backend's
//! variable-time `rsa` 0.9 code (RUSTSEC-2023-0071): for our own
//! encryption and for gpg's, on the in-memory and the streaming path.
#![cfg(feature = "constant-time-rsa")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use pgp_core::{Decryptor, Encryptor, SecretKeyBackend, parse_certificates};
use testkit::PgpSuite;

fn decryptor(key: &testkit::PgpKey) -> Decryptor {
    Decryptor::new(parse_certificates(&key.secret_armored()).unwrap())
}

#[test]
fn rsa_keys_decrypt_in_constant_time_and_others_with_sequoia() {
    for (suite, expected) in [
        (PgpSuite::Rsa3072, SecretKeyBackend::ConstantTimeRsa),
        (PgpSuite::Cv25519, SecretKeyBackend::Sequoia),
        (PgpSuite::P256, SecretKeyBackend::Sequoia),
    ] {
        let bob = bob(suite);
        let encrypted = Encryptor::new([public(&bob)])
            .encrypt_message(&message(ALICE, "hello\r\n"))
            .unwrap();
        let decrypted = decryptor(&bob).decrypt_message(&encrypted).unwrap();
        assert!(decrypted.message().ends_with(b"hello\r\n"));
        assert_eq!(
            decrypted.protection().secret_key_backend,
            Some(expected),
            "{suite:?}"
        );
        let spooled = decryptor(&bob)
            .decrypt_message_spooled(&encrypted[..])
            .unwrap();
        assert_eq!(
            spooled.protection().secret_key_backend,
            Some(expected),
            "{suite:?}"
        );
    }
}

/// gpg encrypts to an RSA key (PKCS#1 v1.5 session key), with a
/// passphrase-protected secret key on our side as well.
#[test]
fn gpg_rsa_encryption_is_opened_by_the_constant_time_decryptor() {
    let bob = bob(PgpSuite::Rsa3072);
    let gpg = Gpg::new();
    gpg.import(&bob, false);
    let output = gpg.ok(
        &[
            "--armor",
            "--encrypt",
            "--recipient",
            &bob.fingerprint_hex(),
        ],
        ENTITY,
    );
    let encrypted = wrap_encrypted(ALICE, &output.stdout);
    let decrypted = decryptor(&bob).decrypt_message(&encrypted).unwrap();
    assert!(decrypted.message().ends_with(ENTITY));
    assert_eq!(
        decrypted.protection().secret_key_backend,
        Some(SecretKeyBackend::ConstantTimeRsa)
    );
    let password = pgp_core::Password::from("at rest");
    let protected = pgp_core::protect_secret_key(
        &parse_certificates(&bob.secret_armored()).unwrap()[0],
        None,
        &password,
    )
    .unwrap();
    let decrypted = Decryptor::new([protected])
        .with_passphrase(password)
        .decrypt_message_spooled(&encrypted[..])
        .unwrap();
    assert_eq!(
        decrypted.protection().secret_key_backend,
        Some(SecretKeyBackend::ConstantTimeRsa)
    );
    let mut out = Vec::new();
    decrypted.write_message(&mut out).unwrap();
    assert!(out.ends_with(ENTITY));
}

/// A PKESK whose RSA block is not PKCS#1 v1.5 (random bytes under the
/// modulus) is reported like any key that does not fit: no distinct
/// padding error a sender could use as an oracle.
#[test]
fn a_forged_rsa_session_key_is_a_plain_no_key_error() {
    let bob = bob(PgpSuite::Rsa3072);
    let gpg = Gpg::new();
    gpg.import(&bob, false);
    let armored = gpg
        .ok(
            &["--encrypt", "--recipient", &bob.fingerprint_hex()],
            ENTITY,
        )
        .stdout;
    // Flip bits in the middle of the RSA ciphertext MPI of the first
    // packet (the PKESK): still below the modulus, no longer padded.
    let mut binary = armored;
    let middle = 100;
    for byte in &mut binary[middle..middle + 16] {
        *byte ^= 0x5a;
    }
    let mut armor = Vec::new();
    {
        use std::io::Write;
        let mut writer = pgp_core::openpgp::armor::Writer::new(
            &mut armor,
            pgp_core::openpgp::armor::Kind::Message,
        )
        .unwrap();
        writer.write_all(&binary).unwrap();
        writer.finalize().unwrap();
    }
    let result = decryptor(&bob).decrypt_message(&wrap_encrypted(ALICE, &armor));
    assert!(
        matches!(
            result,
            Err(pgp_core::Error::NoDecryptionKey | pgp_core::Error::Decryption { .. })
        ),
        "{:?}",
        result.map(|_| ())
    );
}
