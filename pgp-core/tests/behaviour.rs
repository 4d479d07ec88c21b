//! Behaviour through the public API, Sequoia on both sides: spoofing cases,
//! verification time, revoked and expired keys, passphrases, tampering,
//! v6 (RFC 9580) keys, key selection.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use pgp_core::openpgp::cert::prelude::*;
use pgp_core::openpgp::packet::signature::SignatureBuilder;
use pgp_core::openpgp::types::{ReasonForRevocation, SignatureType};
use pgp_core::{
    Coverage, Decryptor, Encryptor, Error, Password, SignatureStatus, Signer, Unusable, Verdict,
    Verifier, armored_secret_key, parse_certificates, select_certificate,
};
use testkit::{PgpSuite, PgpVersion, openpgp_key};

fn signed_by_alice(from: &str) -> (Vec<u8>, Verifier) {
    let alice = alice(PgpSuite::Cv25519);
    let signed = Signer::new(alice.cert(), None)
        .unwrap()
        .sign_message(&message(from, "Hello\r\n"))
        .unwrap();
    (signed, Verifier::new([public(&alice)]))
}

#[test]
fn from_must_be_the_signers_address_not_the_display_name() {
    let (signed, verifier) = signed_by_alice("Alice <alice@example.org>");
    assert_eq!(
        verifier.verify_message(&signed).unwrap().verdict(),
        Verdict::SignedByFrom
    );
    let (signed, verifier) = signed_by_alice("ALICE@EXAMPLE.ORG");
    assert_eq!(
        verifier.verify_message(&signed).unwrap().verdict(),
        Verdict::SignedByFrom
    );

    let (signed, verifier) = signed_by_alice("\"alice@example.org\" <eve@evil.example>");
    let report = verifier.verify_message(&signed).unwrap();
    assert_eq!(report.verdict(), Verdict::SignedByOther);
    assert_eq!(report.signers()[0].user_id.as_deref(), Some(ALICE));
    assert!(!report.signers()[0].binds_from);

    let (signed, verifier) = signed_by_alice("alice@example.org\r\nFrom: mallory@example.org");
    assert_eq!(
        verifier.verify_message(&signed).unwrap().verdict(),
        Verdict::SignedByOther
    );

    let (signed, verifier) = signed_by_alice("alice@example.org, mallory@example.org");
    assert_eq!(
        verifier.verify_message(&signed).unwrap().verdict(),
        Verdict::SignedByOther
    );
}

#[test]
fn unknown_signer_is_invalid_and_says_so() {
    let (signed, _) = signed_by_alice(ALICE);
    let bob = bob(PgpSuite::Cv25519);
    let report = Verifier::new([public(&bob)])
        .verify_message(&signed)
        .unwrap();
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert_eq!(
        report.signers()[0].status,
        SignatureStatus::CertificateNotFound
    );
    assert!(report.signers()[0].issuer.is_some());
}

#[test]
fn signed_part_nested_in_mixed_is_partially_signed() {
    let (signed, verifier) = signed_by_alice(ALICE);
    let envelope = mail_message::Envelope::split(&signed).unwrap();
    let mut mixed = b"From: alice@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=OUT\r\n\r\n--OUT\r\nContent-Type: text/plain\r\n\r\nUrgent: pay to DE00 0000!\r\n--OUT\r\n".to_vec();
    mixed.extend_from_slice(envelope.inner());
    mixed.extend_from_slice(b"\r\n--OUT--\r\n");
    let report = verifier.verify_message(&mixed).unwrap();
    assert_eq!(report.verdict(), Verdict::PartiallySigned);
    assert!(matches!(report.coverage(), Coverage::Partial { part, .. } if part == "2"));
    // The signature itself is still good; only the coverage is partial.
    assert_eq!(report.signers()[0].status, SignatureStatus::Valid);
    assert!(report.unwrapped_message().is_none());
}

#[test]
fn extra_part_in_multipart_signed_is_partial() {
    let (signed, verifier) = signed_by_alice(ALICE);
    let text = String::from_utf8(signed).unwrap();
    let boundary = text
        .split("boundary=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let closing = format!("--{boundary}--");
    let injected = text.replace(
        &closing,
        &format!("--{boundary}\r\nContent-Type: text/plain\r\n\r\nhidden\r\n{closing}"),
    );
    let report = verifier.verify_message(injected.as_bytes()).unwrap();
    assert_eq!(report.verdict(), Verdict::PartiallySigned);
}

#[test]
fn unsigned_and_garbage_signatures_are_reports_not_errors() {
    let (_, verifier) = signed_by_alice(ALICE);
    let report = verifier
        .verify_message(&message(ALICE, "plain\r\n"))
        .unwrap();
    assert_eq!(report.verdict(), Verdict::Unsigned);
    let garbage = wrap_signed(
        ALICE,
        ENTITY,
        b"-----BEGIN PGP SIGNATURE-----\r\n\r\nAAAA\r\n-----END PGP SIGNATURE-----\r\n",
        "pgp-sha256",
    );
    let report = verifier.verify_message(&garbage).unwrap();
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert!(matches!(
        report.signers()[0].status,
        SignatureStatus::Malformed(_)
    ));
}

#[test]
fn lf_input_signs_and_verifies() {
    let alice = alice(PgpSuite::Rsa3072);
    let lf = String::from_utf8(message(ALICE, "one\r\ntwo\r\n"))
        .unwrap()
        .replace("\r\n", "\n");
    let signed = Signer::new(alice.cert(), None)
        .unwrap()
        .with_digest(pgp_core::Digest::Sha512)
        .sign_message(lf.as_bytes())
        .unwrap();
    assert!(!signed.contains(&b'\r'));
    assert!(String::from_utf8_lossy(&signed).contains("micalg=pgp-sha512"));
    let report = Verifier::new([public(&alice)])
        .verify_message(&signed)
        .unwrap();
    assert_eq!(report.verdict(), Verdict::SignedByFrom);
}

#[test]
fn verification_at_a_time_before_the_signature_refuses_it() {
    let (signed, verifier) = signed_by_alice(ALICE);
    // testkit keys exist from 2025-01-01; the signature is made now.
    let june_2025 = UNIX_EPOCH + Duration::from_secs(1_748_736_000);
    let report = verifier.at(june_2025).verify_message(&signed).unwrap();
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert!(
        matches!(report.signers()[0].status, SignatureStatus::NotValidAt(_)),
        "{:?}",
        report.signers()[0].status
    );
}

fn own_key(validity: Option<Duration>, created: SystemTime) -> Cert {
    CertBuilder::general_purpose([ALICE])
        .set_cipher_suite(CipherSuite::Cv25519)
        .set_creation_time(created)
        .set_validity_period(validity)
        .generate()
        .unwrap()
        .0
}

#[test]
fn revoked_key_is_refused_with_the_reason() {
    let cert = own_key(None, SystemTime::now() - Duration::from_secs(3600));
    let signed = Signer::new(&cert, None)
        .unwrap()
        .sign_message(&message(ALICE, "x\r\n"))
        .unwrap();
    let mut signer = cert
        .primary_key()
        .key()
        .clone()
        .parts_into_secret()
        .unwrap()
        .into_keypair()
        .unwrap();
    let revocation = cert
        .revoke(&mut signer, ReasonForRevocation::KeyCompromised, b"stolen")
        .unwrap();
    let (revoked, _) = cert.clone().insert_packets(revocation).unwrap();
    let report = Verifier::new([revoked.clone().strip_secret_key_material()])
        .verify_message(&signed)
        .unwrap();
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert!(
        matches!(&report.signers()[0].status, SignatureStatus::KeyRevoked(r) if r.contains("revoked")),
        "{:?}",
        report.signers()[0].status
    );
    // And we no longer sign or encrypt with it.
    assert!(matches!(
        Signer::new(&revoked, None),
        Err(Error::NoSigningKey { .. })
    ));
    let selection = select_certificate(
        std::slice::from_ref(&revoked),
        &"alice@example.org".parse().unwrap(),
        None,
    );
    assert_eq!(selection.rejected[0].reason, Unusable::Revoked);
    assert!(matches!(
        Encryptor::new([revoked]).encrypt(b"x"),
        Err(Error::NoEncryptionKey { .. })
    ));
}

#[test]
fn signature_made_after_expiry_is_refused() {
    let created = SystemTime::now() - Duration::from_secs(10 * 86400);
    let cert = own_key(Some(Duration::from_secs(86400)), created);
    // Sign as of two days after creation: inside validity for the signer,
    // so make the signature by hand with that creation time... the key is
    // already expired now, so Signer refuses it:
    assert!(matches!(
        Signer::new(&cert, None),
        Err(Error::NoSigningKey { .. })
    ));
    // A signer at a time inside the validity works, and the signature it
    // makes (dated now) is refused because the key has expired by then.
    let inside = created + Duration::from_secs(3600);
    let signed = Signer::new_at(&cert, None, inside)
        .unwrap()
        .sign_message(&message(ALICE, "x\r\n"))
        .unwrap();
    let report = Verifier::new([cert.clone().strip_secret_key_material()])
        .verify_message(&signed)
        .unwrap();
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert!(
        matches!(report.signers()[0].status, SignatureStatus::KeyExpired(_)),
        "{:?}",
        report.signers()[0].status
    );
    let selection = select_certificate(&[cert], &"alice@example.org".parse().unwrap(), None);
    assert!(matches!(selection.rejected[0].reason, Unusable::Expired(_)));
    let _ = SignatureBuilder::new(SignatureType::Binary);
}

#[test]
fn passphrase_protected_keys_need_the_passphrase() {
    let bob = bob(PgpSuite::Rsa3072);
    let password = Password::from("correct horse");
    let cert = bob.cert();
    let mut packets: Vec<pgp_core::openpgp::Packet> = vec![
        cert.primary_key()
            .key()
            .clone()
            .parts_into_secret()
            .unwrap()
            .encrypt_secret(&password)
            .unwrap()
            .into(),
    ];
    for ka in cert.keys().subkeys().secret() {
        packets.push(ka.key().clone().encrypt_secret(&password).unwrap().into());
    }
    let protected = cert.clone().insert_packets(packets).unwrap().0;
    // Round-trip through the armored file, as the CLI reads it.
    let file = armored_secret_key(&protected).unwrap();
    let protected = parse_certificates(&file).unwrap();
    assert!(
        protected[0]
            .keys()
            .secret()
            .all(|ka| !ka.key().has_unencrypted_secret())
    );

    let encrypted = Encryptor::new([public(&bob)])
        .encrypt_message(&message(ALICE, "for bob\r\n"))
        .unwrap();
    let without = Decryptor::new(protected.clone()).decrypt_message(&encrypted);
    assert!(
        matches!(without, Err(Error::Passphrase { .. })),
        "{without:?}"
    );
    let wrong = Decryptor::new(protected.clone())
        .with_passphrase(Password::from("wrong"))
        .decrypt_message(&encrypted);
    assert!(matches!(wrong, Err(Error::Passphrase { .. })));
    let right = Decryptor::new(protected.clone())
        .with_passphrase(password.clone())
        .decrypt_message(&encrypted)
        .unwrap();
    assert!(right.message().ends_with(b"for bob\r\n"));

    assert!(matches!(
        Signer::new(&protected[0], None),
        Err(Error::Passphrase { .. })
    ));
    assert!(Signer::new(&protected[0], Some(&password)).is_ok());
}

#[test]
fn tampered_ciphertext_releases_no_plaintext() {
    let bob = bob(PgpSuite::Cv25519);
    let ciphertext = Encryptor::new([public(&bob)])
        .encrypt(b"attack at dawn, attack at dawn, attack at dawn")
        .unwrap();
    // Flip a byte inside the binary data (dearmor, flip, re-armor as binary).
    let mut reader = pgp_core::openpgp::armor::Reader::from_bytes(
        &ciphertext,
        pgp_core::openpgp::armor::ReaderMode::Tolerant(None),
    );
    let mut binary = Vec::new();
    std::io::Read::read_to_end(&mut reader, &mut binary).unwrap();
    let position = binary.len() - 10;
    binary[position] ^= 0x01;
    let result = Decryptor::new([bob.cert().clone()]).decrypt(&binary);
    assert!(
        matches!(result, Err(Error::Decryption { .. })),
        "{result:?}"
    );
}

#[test]
fn v6_keys_sign_encrypt_decrypt_verify_with_sequoia() {
    // Our own round trip; against an independent implementation (rPGP's
    // `rsop`) in `rsop_interop.rs`, as GnuPG 2.2 has no v6 keys.
    let alice = openpgp_key(ALICE, PgpSuite::Cv25519, PgpVersion::V6);
    let bob = openpgp_key(BOB, PgpSuite::Cv25519, PgpVersion::V6);
    assert_eq!(alice.cert().primary_key().key().version(), 6);
    let signer = Signer::new(alice.cert(), None).unwrap();
    let signed = signer.sign_message(&message(ALICE, "v6\r\n")).unwrap();
    let verifier = Verifier::new([public(&alice)]);
    assert_eq!(
        verifier.verify_message(&signed).unwrap().verdict(),
        Verdict::SignedByFrom
    );

    let encrypted = Encryptor::new([public(&bob)])
        .with_signer(signer)
        .encrypt_message(&message(ALICE, "v6 secret\r\n"))
        .unwrap();
    let decrypted = Decryptor::new([bob.cert().clone()])
        .with_verifier(verifier)
        .decrypt_message(&encrypted)
        .unwrap();
    assert!(decrypted.message().ends_with(b"v6 secret\r\n"));
    assert_eq!(decrypted.verification().verdict(), Verdict::SignedByFrom);
}

#[test]
fn key_selection_explains_unusable_keys() {
    let bob = bob(PgpSuite::Cv25519);
    let alice = alice(PgpSuite::Cv25519);
    let signing_only = CertBuilder::new()
        .add_userid(BOB)
        .add_signing_subkey()
        .generate()
        .unwrap()
        .0;
    let certs = [public(&alice), signing_only.clone(), public(&bob)];
    let selection = select_certificate(&certs, &"Bob@Example.NET".parse().unwrap(), None);
    assert_eq!(
        selection.best().unwrap().fingerprint(),
        bob.cert().fingerprint()
    );
    assert_eq!(selection.rejected.len(), 2);
    assert_eq!(selection.rejected[0].reason, Unusable::NoUserIdForAddress);
    assert_eq!(selection.rejected[1].reason, Unusable::NoEncryptionKey);
    assert_eq!(
        selection.rejected[1].fingerprint,
        signing_only.fingerprint().to_hex()
    );
}

#[test]
fn decrypting_a_plain_message_is_an_error() {
    let bob = bob(PgpSuite::Cv25519);
    let result = Decryptor::new([bob.cert().clone()]).decrypt_message(&message(ALICE, "clear\r\n"));
    assert!(matches!(result, Err(Error::UnexpectedContent { .. })));
}

#[test]
fn quoted_printable_inline_cleartext_signature_verifies() {
    let alice = alice(PgpSuite::Cv25519);
    let signer = Signer::new(alice.cert(), None).unwrap();
    let block = signer
        .sign_cleartext("Grüße = Hallo\r\n".as_bytes())
        .unwrap();
    // Encode as quoted-printable the way a mail client would.
    let mut qp = String::new();
    for b in block {
        match b {
            b'=' => qp.push_str("=3D"),
            b if b >= 0x80 => qp.push_str(&format!("={b:02X}")),
            b => qp.push(char::from(b)),
        }
    }
    let message = format!(
        "From: {ALICE}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n{qp}"
    );
    let report = Verifier::new([public(&alice)])
        .verify_message(message.as_bytes())
        .unwrap();
    assert_eq!(report.verdict(), Verdict::SignedByFrom, "{report:?}");
}

#[test]
fn plaintext_beyond_the_limit_is_refused() {
    let bob = bob(PgpSuite::Cv25519);
    let encrypted = Encryptor::new([public(&bob)])
        .encrypt_message(&message(ALICE, &"x".repeat(5000)))
        .unwrap();
    let result = Decryptor::new([bob.cert().clone()])
        .with_max_plaintext(1000)
        .decrypt_message(&encrypted);
    assert!(
        matches!(result, Err(Error::TooLarge { limit: 1000 })),
        "{result:?}"
    );
}

#[test]
fn a_stricter_policy_refuses_what_the_default_accepts() {
    let (signed, verifier) = signed_by_alice(ALICE);
    let mut strict = pgp_core::openpgp::policy::StandardPolicy::new();
    strict.reject_hash(pgp_core::openpgp::types::HashAlgorithm::SHA256);
    let report = verifier
        .with_policy(strict)
        .verify_message(&signed)
        .unwrap();
    assert_eq!(report.verdict(), Verdict::Invalid);
    let status = &report.signers()[0].status;
    assert!(
        matches!(status, SignatureStatus::WeakAlgorithm(reason) if reason.contains("SHA256")),
        "{status:?}"
    );
}

#[test]
fn protection_names_the_recipient_key_and_the_integrity_mode() {
    use pgp_core::openpgp::types::AEADAlgorithm;
    let v4 = bob(PgpSuite::Cv25519);
    let encrypted = Encryptor::new([public(&v4)])
        .encrypt_message(&message(ALICE, "x\r\n"))
        .unwrap();
    let decrypted = Decryptor::new([v4.cert().clone()])
        .decrypt_message(&encrypted)
        .unwrap();
    let protection = decrypted.protection();
    assert_eq!(
        protection.recipient.as_deref(),
        Some(&*v4.fingerprint_hex())
    );
    assert!(protection.cipher.is_some());
    // v4 keys get SEIPD v1 (MDC), for GnuPG 2.2.
    assert_eq!(protection.aead, None);

    let v6 = openpgp_key(BOB, PgpSuite::Cv25519, PgpVersion::V6);
    let encrypted = Encryptor::new([public(&v6)])
        .encrypt_message(&message(ALICE, "x\r\n"))
        .unwrap();
    let decrypted = Decryptor::new([v6.cert().clone()])
        .decrypt_message(&encrypted)
        .unwrap();
    assert!(
        matches!(
            decrypted.protection().aead,
            Some(AEADAlgorithm::OCB | AEADAlgorithm::GCM | AEADAlgorithm::EAX)
        ),
        "{:?}",
        decrypted.protection()
    );
}

#[test]
fn keys_round_trip_armored_and_binary_several_per_file() {
    let alice = alice(PgpSuite::Cv25519);
    let bob = bob(PgpSuite::Rsa3072);
    let mut binary = pgp_core::binary_certificate(alice.cert()).unwrap();
    binary.extend(pgp_core::binary_secret_key(bob.cert()).unwrap());
    let parsed = parse_certificates(&binary).unwrap();
    assert_eq!(parsed.len(), 2);
    assert!(!parsed[0].is_tsk());
    assert!(parsed[1].is_tsk());
    let mut armored = pgp_core::armored_certificate(alice.cert()).unwrap();
    armored.extend(armored_secret_key(bob.cert()).unwrap());
    let parsed = parse_certificates(&armored).unwrap();
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed[1].fingerprint(), bob.cert().fingerprint());
    assert!(matches!(parse_certificates(b""), Err(Error::NoCertificate)));
    assert!(parse_certificates(b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnonsense\n").is_err());
}
