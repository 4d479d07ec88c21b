//! RSA session keys are opened and RSA signatures are made by the
//! constant-time code (feature `constant-time-rsa`, on by default), not by
//! the Sequoia backend's variable-time `rsa` 0.9 code (RUSTSEC-2023-0071):
//! decryption of our own encryption and of gpg's, on the in-memory and the
//! streaming path; signatures (PGP/MIME in memory and streamed, inside
//! encryption, cleartext) with RSA-2048, -3072 and -4096 keys, SHA-256 and
//! SHA-512, verified by GnuPG.
#![cfg(feature = "constant-time-rsa")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::OnceLock;

use common::*;
use pgp_core::openpgp::cert::{CertBuilder, CipherSuite};
use pgp_core::openpgp::types::KeyFlags;
use pgp_core::{
    Cert, Decryptor, Digest, Encryptor, SecretKeyBackend, Signer, Verdict, Verifier,
    parse_certificates,
};
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

/// An RSA key of `bits` for Alice, one signing-capable primary key (testkit
/// makes RSA-3072 only), generated once per size.
fn alice_rsa(bits: u32) -> Cert {
    static RSA_2048: OnceLock<Cert> = OnceLock::new();
    static RSA_4096: OnceLock<Cert> = OnceLock::new();
    let (cell, suite) = match bits {
        2048 => (&RSA_2048, CipherSuite::RSA2k),
        4096 => (&RSA_4096, CipherSuite::RSA4k),
        _ => panic!("no RSA-{bits} key here"),
    };
    cell.get_or_init(|| {
        CertBuilder::new()
            .add_userid(ALICE)
            .set_cipher_suite(suite)
            .set_primary_key_flags(KeyFlags::empty().set_certification().set_signing())
            .generate()
            .unwrap()
            .0
    })
    .clone()
}

/// gpg's `VALIDSIG` status line, split: `[6]` is the public-key algorithm
/// (1 = RSA), `[7]` the hash (8 = SHA-256, 10 = SHA-512).
fn validsig(status: &str) -> Vec<String> {
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix("[GNUPG:] VALIDSIG "))
        .unwrap_or_else(|| panic!("no VALIDSIG: {status}"));
    line.split(' ').map(str::to_owned).collect()
}

const DIGESTS: [(Digest, &str, &str); 2] = [
    (Digest::Sha256, "pgp-sha256", "8"),
    (Digest::Sha512, "pgp-sha512", "10"),
];

#[test]
fn rsa_keys_sign_in_constant_time_and_others_with_sequoia() {
    for (suite, expected) in [
        (PgpSuite::Rsa3072, SecretKeyBackend::ConstantTimeRsa),
        (PgpSuite::Cv25519, SecretKeyBackend::Sequoia),
        (PgpSuite::P256, SecretKeyBackend::Sequoia),
    ] {
        let alice = alice(suite);
        let signer = Signer::new(alice.cert(), None).unwrap();
        assert_eq!(signer.secret_key_backend(), expected, "{suite:?}");
        let signed = signer.sign_message(&message(ALICE, "hello\r\n")).unwrap();
        let report = Verifier::new([public(&alice)])
            .verify_message(&signed)
            .unwrap();
        assert_eq!(report.verdict(), Verdict::SignedByFrom, "{suite:?}");
        let keys = parse_certificates(&alice.secret_armored()).unwrap();
        let chosen = Signer::for_message(&keys, &message(ALICE, "x\r\n"), None).unwrap();
        assert_eq!(chosen.secret_key_backend(), expected, "{suite:?}");
    }
    // A passphrase-protected RSA key (as the gateway's key vault keeps
    // organisation keys) signs through the same code once unlocked.
    let alice = alice(PgpSuite::Rsa3072);
    let password = pgp_core::Password::from("at rest");
    let protected = pgp_core::protect_secret_key(alice.cert(), None, &password).unwrap();
    let signer = Signer::new(&protected, Some(&password)).unwrap();
    assert_eq!(
        signer.secret_key_backend(),
        SecretKeyBackend::ConstantTimeRsa
    );
    assert!(format!("{signer:?}").contains("ConstantTimeRsa"));
}

/// GnuPG verifies PGP/MIME mail signed with RSA-2048 and RSA-4096 keys,
/// SHA-256 and SHA-512, in memory and streamed: the signature is an RSA
/// signature with the hash that `micalg` names.
#[test]
fn gpg_verifies_pgp_mime_signed_in_constant_time_rsa_2048_and_4096() {
    for bits in [2048, 4096] {
        let alice = alice_rsa(bits);
        let gpg = Gpg::new();
        gpg.import_cert(&alice, false);
        let fingerprint = alice.fingerprint().to_hex();
        for (digest, micalg, gpg_hash) in DIGESTS {
            let signer = Signer::new(&alice, None).unwrap().with_digest(digest);
            assert_eq!(
                signer.secret_key_backend(),
                SecretKeyBackend::ConstantTimeRsa
            );
            let message = message(ALICE, "Grüße aus Köln\r\n");
            let in_memory = signer.sign_message(&message).unwrap();
            let mut streamed = Vec::new();
            signer
                .sign_message_stream(&message[..], &mut streamed)
                .unwrap();
            for (path, signed) in [("in memory", in_memory), ("streamed", streamed)] {
                let what = format!("RSA-{bits} {micalg} {path}");
                let text = String::from_utf8_lossy(&signed).into_owned();
                assert!(text.contains(&format!("micalg={micalg}")), "{what}");
                let status = gpg.verify_pgp_mime(&parts(&signed));
                assert!(status.contains("[GNUPG:] GOODSIG"), "{what}: {status}");
                let valid = validsig(&status);
                assert_eq!(valid[0], fingerprint, "{what}: {status}");
                assert_eq!(valid[6], "1", "{what}: RSA: {status}");
                assert_eq!(valid[7], gpg_hash, "{what}: hash: {status}");
                let report = Verifier::new([alice.clone().strip_secret_key_material()])
                    .verify_message(&signed)
                    .unwrap();
                assert_eq!(report.verdict(), Verdict::SignedByFrom, "{what}");
            }
        }
    }
}

/// The other two places pgp-core signs: inside an OpenPGP encryption
/// (RFC 3156 section 6.2, combined) and a cleartext signature; gpg
/// decrypts and verifies both, RSA-4096 with SHA-512 and RSA-2048 with
/// SHA-256.
#[test]
fn gpg_verifies_constant_time_rsa_signatures_inside_encryption_and_cleartext() {
    let bob = bob(PgpSuite::Cv25519);
    for (bits, (digest, _, gpg_hash)) in [(4096, DIGESTS[1]), (2048, DIGESTS[0])] {
        let alice = alice_rsa(bits);
        let gpg = Gpg::new();
        gpg.import_cert(&alice, false);
        gpg.import(&bob, true);
        let signer = Signer::new(&alice, None).unwrap().with_digest(digest);
        let encrypted = Encryptor::new([public(&bob)])
            .with_signer(signer.clone())
            .encrypt_message(&message(ALICE, "sealed\r\n"))
            .unwrap();
        let payload = mail_message::Entity::parse(&parts(&encrypted)[1])
            .unwrap()
            .body()
            .to_vec();
        let output = gpg.ok(&["--status-fd", "2", "--decrypt"], &payload);
        let status = String::from_utf8_lossy(&output.stderr);
        assert!(status.contains("[GNUPG:] GOODSIG"), "RSA-{bits}: {status}");
        let valid = validsig(&status);
        assert_eq!((valid[6].as_str(), valid[7].as_str()), ("1", gpg_hash));
        assert!(output.stdout.ends_with(b"sealed\r\n"));

        let text = b"Cleartext signed in constant time.\n";
        let signed = signer.sign_cleartext(text).unwrap();
        let output = gpg.ok(&["--status-fd", "1", "--verify"], &signed);
        let status = String::from_utf8_lossy(&output.stdout);
        assert!(status.contains("[GNUPG:] GOODSIG"), "RSA-{bits}: {status}");
        let valid = validsig(&status);
        assert_eq!((valid[6].as_str(), valid[7].as_str()), ("1", gpg_hash));
    }
}
