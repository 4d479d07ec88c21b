//! Interoperability with rPGP, an OpenPGP implementation independent of
//! Sequoia, through its SOP command line `rsop` (draft-dkg-openpgp-stateless-cli;
//! `cargo install --locked rsop`, 0.12.0 on rPGP 0.21 when written), in both
//! directions: PGP/MIME signatures, encryption (signed inside and not),
//! cleartext signatures, tampering refused on both sides. v6 keys (RFC
//! 9580), which GnuPG 2.2 (`gpg_interop.rs`) does not have, with v4 cases
//! for contrast.
//!
//! The keys are testkit's (made by Sequoia: Ed25519/X25519, RSA-3072, P-256)
//! and keys rsop generated (`generate-key --profile rfc9580`: Ed25519/X25519
//! v6; `default`: v4; `security`: v6 ML-DSA-65+Ed25519 / ML-KEM-768+X25519).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use common::*;
use pgp_core::openpgp::parse::Parse;
use pgp_core::openpgp::types::{AEADAlgorithm, HashAlgorithm, SymmetricAlgorithm};
use pgp_core::openpgp::{Packet, PacketPile};
use pgp_core::{
    Cert, Coverage, Decryptor, Encryptor, SignatureStatus, Signer, Verdict, Verifier,
    armored_certificate, armored_secret_key, parse_certificates,
};
use testkit::{PgpSuite, PgpVersion, openpgp_key};

/// SOP exit code `NO_SIGNATURE`: no acceptable signature found.
const NO_SIGNATURE: i32 = 3;

/// A scratch directory for rsop's input and output files; rsop runs in it.
struct Rsop {
    dir: tempfile::TempDir,
}

impl Rsop {
    fn new() -> Rsop {
        Rsop {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) {
        std::fs::write(self.dir.path().join(name), bytes).unwrap();
    }

    /// Reads and removes an output file (SOP refuses to overwrite one:
    /// exit code 59, `OUTPUT_EXISTS`).
    fn take(&self, name: &str) -> Vec<u8> {
        let path = self.dir.path().join(name);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        bytes
    }

    fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new("rsop")
            .args(args)
            .current_dir(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rsop is installed (cargo install --locked rsop)");
        let mut input = child.stdin.take().unwrap();
        let stdin = stdin.to_vec();
        let writer = std::thread::spawn(move || input.write_all(&stdin));
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap().unwrap();
        output
    }

    fn ok(&self, args: &[&str], stdin: &[u8]) -> Vec<u8> {
        let output = self.run(args, stdin);
        assert!(
            output.status.success(),
            "rsop {args:?} failed ({:?}): {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// Our key as `NAME.key` (secret) and `NAME.cert` (public), exported
    /// armored by `pgp-core`.
    fn import(&self, name: &str, key: &testkit::PgpKey) {
        self.write(
            &format!("{name}.key"),
            &armored_secret_key(key.cert()).unwrap(),
        );
        self.write(
            &format!("{name}.cert"),
            &armored_certificate(&public(key)).unwrap(),
        );
    }

    /// A key rsop generates with `profile`, kept as `NAME.key` and
    /// `NAME.cert` (`extract-cert`); its certificate as we parse it.
    fn generate(&self, name: &str, user_id: &str, profile: &str) -> Cert {
        let key = self.ok(&["generate-key", "--profile", profile, user_id], b"");
        let cert = self.ok(&["extract-cert"], &key);
        self.write(&format!("{name}.key"), &key);
        self.write(&format!("{name}.cert"), &cert);
        let mut certs = parse_certificates(&cert).unwrap();
        assert_eq!(certs.len(), 1);
        certs.remove(0)
    }

    /// The secret key `NAME.key` as we parse it.
    fn secret(&self, name: &str) -> Cert {
        let bytes = std::fs::read(self.dir.path().join(format!("{name}.key"))).unwrap();
        let mut keys = parse_certificates(&bytes).unwrap();
        assert_eq!(keys.len(), 1);
        assert!(keys[0].is_tsk());
        keys.remove(0)
    }
}

/// The primary key fingerprint (lower-case hex) and the mode of each SOP
/// `VERIFICATION` line (`<time> <signing key fpr> <primary key fpr> mode:<mode> ...`).
fn verified_by(verifications: &[u8]) -> Vec<(String, String)> {
    String::from_utf8(verifications.to_vec())
        .unwrap()
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            (fields[2].to_owned(), fields[3].to_owned())
        })
        .collect()
}

fn hex(cert: &Cert) -> String {
    cert.fingerprint().to_hex().to_lowercase()
}

/// The versions of the encryption containers (SEIPD v1 or v2) in an
/// OpenPGP message, armored or binary.
fn seipd_versions(message: &[u8]) -> Vec<u8> {
    PacketPile::from_bytes(message)
        .unwrap()
        .descendants()
        .filter_map(|packet| match packet {
            Packet::SEIP(seip) => Some(seip.version()),
            _ => None,
        })
        .collect()
}

/// The body of the second part of a `multipart/signed` or `encrypted`.
fn second_part_body(message: &[u8]) -> Vec<u8> {
    mail_message::Entity::parse(&parts(message)[1])
        .unwrap()
        .body()
        .to_vec()
}

/// `rsop verify` of a PGP/MIME message's signed part (canonical) against
/// the detached signature in its second part, with the certificate in
/// `cert`: the SOP exit code and the `VERIFICATION` lines.
fn rsop_verify(rsop: &Rsop, signed: &[u8], cert: &str) -> (Option<i32>, Vec<u8>) {
    rsop.write("msg.sig", &second_part_body(signed));
    let content = mail_message::canonicalize(&parts(signed)[0]);
    let output = rsop.run(&["verify", "msg.sig", cert], &content);
    (output.status.code(), output.stdout)
}

/// Flips a bit near the end of an armored OpenPGP object (in the binary
/// form, through `rsop dearmor` and `armor`).
fn tamper_armored(rsop: &Rsop, armored: &[u8], from_end: usize) -> Vec<u8> {
    let mut binary = rsop.ok(&["dearmor"], armored);
    let position = binary.len() - from_end;
    binary[position] ^= 0x01;
    rsop.ok(&["armor"], &binary)
}

#[test]
#[ignore = "needs rsop (cargo install rsop)"]
fn rsop_verifies_our_pgp_mime_signatures() {
    let cases = [
        (PgpSuite::Cv25519, PgpVersion::V6),
        (PgpSuite::Rsa3072, PgpVersion::V6),
        (PgpSuite::P256, PgpVersion::V6),
        (PgpSuite::Cv25519, PgpVersion::V4),
    ];
    for (suite, version) in cases {
        let alice = openpgp_key(ALICE, suite, version);
        let case = format!("{suite:?} {version:?}");
        let rsop = Rsop::new();
        rsop.import("alice", &alice);
        let signer = Signer::new(alice.cert(), None).unwrap();
        let original = message(ALICE, "Grüße aus Köln\r\n");
        let mut streamed = Vec::new();
        signer
            .sign_message_stream(&original[..], &mut streamed)
            .unwrap();
        for signed in [signer.sign_message(&original).unwrap(), streamed] {
            let (code, verifications) = rsop_verify(&rsop, &signed, "alice.cert");
            assert_eq!(
                code,
                Some(0),
                "{case}: {}",
                String::from_utf8_lossy(&verifications)
            );
            let verified = verified_by(&verifications);
            assert_eq!(verified.len(), 1, "{case}");
            assert_eq!(verified[0].0, hex(alice.cert()), "{case}");
            assert_eq!(verified[0].1, "mode:binary", "{case}");

            // One changed byte in the signed part: no acceptable signature.
            let tampered = String::from_utf8(signed.clone())
                .unwrap()
                .replacen("Content-Transfer-Encoding", "Content-Transfer-Encodinh", 1)
                .into_bytes();
            assert_ne!(tampered, signed);
            let (code, verifications) = rsop_verify(&rsop, &tampered, "alice.cert");
            assert_eq!(code, Some(NO_SIGNATURE), "{case}");
            assert!(verifications.is_empty(), "{case}");

            // A changed bit in the signature value: refused as well.
            let signature = tamper_armored(&rsop, &second_part_body(&signed), 3);
            rsop.write("msg.sig", &signature);
            let content = mail_message::canonicalize(&parts(&signed)[0]);
            let output = rsop.run(&["verify", "msg.sig", "alice.cert"], &content);
            assert_eq!(output.status.code(), Some(NO_SIGNATURE), "{case}");

            // Someone else's certificate: no acceptable signature.
            let bob = openpgp_key(BOB, suite, version);
            rsop.import("bob", &bob);
            let (code, _) = rsop_verify(&rsop, &signed, "bob.cert");
            assert_eq!(code, Some(NO_SIGNATURE), "{case}");
        }
    }
}

#[test]
#[ignore = "needs rsop (cargo install rsop)"]
fn we_verify_rsop_signatures_by_our_v6_key_and_by_an_rsop_v6_key() {
    let ours = openpgp_key(ALICE, PgpSuite::Cv25519, PgpVersion::V6);
    let rsop = Rsop::new();
    rsop.import("ours", &ours);
    let theirs = rsop.generate("theirs", ALICE, "rfc9580");
    assert_eq!(theirs.primary_key().key().version(), 6);
    assert!(!theirs.is_tsk());
    for (name, cert) in [("ours", public(&ours)), ("theirs", theirs)] {
        let signature = rsop.ok(
            &["sign", "--micalg-out", "micalg", &format!("{name}.key")],
            ENTITY,
        );
        let micalg = String::from_utf8(rsop.take("micalg")).unwrap();
        assert_eq!(micalg, "pgp-sha256", "{name}");
        let signed = wrap_signed(ALICE, ENTITY, &signature, &micalg);
        let verifier = Verifier::new([cert.clone()]);
        let report = verifier.verify_message(&signed).unwrap();
        assert_eq!(
            report.verdict(),
            Verdict::SignedByFrom,
            "{name}: {report:?}"
        );
        let signer = &report.signers()[0];
        assert_eq!(
            signer.certificate.as_ref().unwrap().fingerprint(),
            cert.fingerprint(),
            "{name}"
        );
        assert_eq!(signer.user_id.as_deref(), Some(ALICE), "{name}");
        assert_eq!(signer.hash, Some(HashAlgorithm::SHA256), "{name}");
        assert!(report.unwrapped_message().unwrap().ends_with(ENTITY));

        // A changed byte in the signed part.
        let tampered = String::from_utf8(signed.clone())
            .unwrap()
            .replace("figures are", "figures were")
            .into_bytes();
        let report = verifier.verify_message(&tampered).unwrap();
        assert_eq!(report.verdict(), Verdict::Invalid, "{name}");
        assert!(
            matches!(report.signers()[0].status, SignatureStatus::BadSignature(_)),
            "{name}: {:?}",
            report.signers()[0].status
        );
        assert!(report.unwrapped_message().is_none());

        // A changed bit in the signature value.
        let forged = wrap_signed(
            ALICE,
            ENTITY,
            &tamper_armored(&rsop, &signature, 3),
            &micalg,
        );
        let report = verifier.verify_message(&forged).unwrap();
        assert_ne!(report.verdict(), Verdict::SignedByFrom, "{name}");
        assert!(
            matches!(report.signers()[0].status, SignatureStatus::BadSignature(_)),
            "{name}: {:?}",
            report.signers()[0].status
        );

        // A text-mode signature (`--as text`) over the entity, message
        // delivered with LF line breaks.
        let text = rsop.ok(&["sign", "--as", "text", &format!("{name}.key")], ENTITY);
        let signed = wrap_signed(ALICE, ENTITY, &text, "pgp-sha256");
        let lf = String::from_utf8(signed).unwrap().replace("\r\n", "\n");
        let report = verifier.verify_message(lf.as_bytes()).unwrap();
        assert_eq!(
            report.verdict(),
            Verdict::SignedByFrom,
            "{name}: {report:?}"
        );
    }
}

#[test]
#[ignore = "needs rsop (cargo install rsop)"]
fn rsop_decrypts_our_encryption_to_rsop_keys() {
    let alice = openpgp_key(ALICE, PgpSuite::Cv25519, PgpVersion::V6);
    let rsop = Rsop::new();
    rsop.import("alice", &alice);
    let original = message(ALICE, "Secret figures: 42\r\n");
    let inner = mail_message::Envelope::split(&original)
        .unwrap()
        .inner()
        .to_vec();
    // A v6 key (Ed25519/X25519) gets SEIPD v2 (AEAD); for contrast, rsop's
    // default v4 key (Ed25519/Cv25519) gets SEIPD v1 with MDC.
    for (profile, version, seipd) in [("rfc9580", 6, 2), ("default", 4, 1)] {
        let bob = rsop.generate("bob", "Bob <bob@example.org>", profile);
        assert_eq!(bob.primary_key().key().version(), version, "{profile}");
        for signed in [false, true] {
            let case = format!("{profile} signed {signed}");
            let mut encryptor = Encryptor::new([bob.clone()]);
            if signed {
                encryptor = encryptor.with_signer(Signer::new(alice.cert(), None).unwrap());
            }
            let mut streamed = Vec::new();
            encryptor
                .encrypt_message_stream(&original[..], &mut streamed)
                .unwrap();
            for encrypted in [encryptor.encrypt_message(&original).unwrap(), streamed] {
                assert!(!String::from_utf8_lossy(&encrypted).contains("Secret figures"));
                let payload = second_part_body(&encrypted);
                assert_eq!(seipd_versions(&payload), [seipd], "{case}");
                let decrypted = rsop_decrypt(&rsop, &payload, signed.then_some(alice.cert()));
                assert_eq!(decrypted, inner, "{case}");

                // A changed bit in the ciphertext: rsop refuses to decrypt.
                let tampered = tamper_armored(&rsop, &payload, 10);
                let output = rsop.run(&["decrypt", "bob.key"], &tampered);
                assert!(!output.status.success(), "{case}");
                assert!(output.stdout.is_empty(), "{case}");
            }
        }
        std::fs::remove_file(rsop.dir.path().join("bob.key")).unwrap();
        std::fs::remove_file(rsop.dir.path().join("bob.cert")).unwrap();
    }
}

/// `rsop decrypt` with `bob.key`; with `signer`, the signature must verify
/// against `alice.cert` and name `signer`'s primary key.
fn rsop_decrypt(rsop: &Rsop, payload: &[u8], signer: Option<&Cert>) -> Vec<u8> {
    match signer {
        Some(signer) => {
            let plain = rsop.ok(
                &[
                    "decrypt",
                    "--verify-with",
                    "alice.cert",
                    "--verifications-out",
                    "verifications",
                    "bob.key",
                ],
                payload,
            );
            let verified = verified_by(&rsop.take("verifications"));
            assert_eq!(verified.len(), 1);
            assert_eq!(verified[0].0, hex(signer));
            plain
        }
        None => rsop.ok(&["decrypt", "bob.key"], payload),
    }
}

#[test]
#[ignore = "needs rsop (cargo install rsop)"]
fn we_decrypt_rsop_encryption_to_our_certificates() {
    let cases = [
        (PgpVersion::V6, None),
        (PgpVersion::V6, Some("rfc9580")),
        (PgpVersion::V6, Some("rfc4880")),
        (PgpVersion::V4, None),
        (PgpVersion::V4, Some("rfc4880")),
    ];
    for (version, profile) in cases {
        let case = format!("{version:?} {profile:?}");
        let alice = openpgp_key(ALICE, PgpSuite::Cv25519, version);
        let bob = openpgp_key(BOB, PgpSuite::Cv25519, version);
        let rsop = Rsop::new();
        rsop.import("alice", &alice);
        rsop.import("bob", &bob);
        for sign in [false, true] {
            let mut args = vec!["encrypt"];
            if let Some(profile) = profile {
                args.extend(["--profile", profile]);
            }
            if sign {
                args.extend(["--sign-with", "alice.key"]);
            }
            args.push("bob.cert");
            let armored = rsop.ok(&args, ENTITY);
            let seipd = seipd_versions(&armored);
            let encrypted = wrap_encrypted(ALICE, &armored);
            let decryptor =
                Decryptor::new([bob.cert().clone()]).with_verifier(Verifier::new([public(&alice)]));
            let decrypted = decryptor.decrypt_message(&encrypted).unwrap();
            assert!(decrypted.message().ends_with(ENTITY), "{case} {sign}");
            assert!(decrypted.message().starts_with(b"From: Alice"));
            assert_eq!(decrypted.coverage(), &Coverage::Whole);
            let expected = if sign {
                Verdict::SignedByFrom
            } else {
                Verdict::Unsigned
            };
            assert_eq!(
                decrypted.verification().verdict(),
                expected,
                "{case} sign {sign}: {:?}",
                decrypted.verification()
            );
            let protection = decrypted.protection();
            assert_eq!(
                protection.recipient.as_deref(),
                Some(&*bob.fingerprint_hex())
            );
            // rsop picks SEIPD v2 with AES-128-OCB whatever the profile, also
            // for our v4 certificates (Sequoia's v4 certificates advertise
            // SEIPD v2 too).
            assert_eq!(seipd, [2], "{case}");
            assert_eq!(protection.aead, Some(AEADAlgorithm::OCB), "{case}");
            assert_eq!(
                protection.cipher,
                Some(SymmetricAlgorithm::AES128),
                "{case}"
            );

            // The streaming decryptor gives the same.
            let spooled = decryptor.decrypt_message_spooled(&encrypted[..]).unwrap();
            assert_eq!(spooled.verification().verdict(), expected, "{case}");
            let mut written = Vec::new();
            spooled.write_message(&mut written).unwrap();
            assert_eq!(written, decrypted.message(), "{case}");

            // A changed bit in the ciphertext: an error, no plaintext.
            let tampered = wrap_encrypted(ALICE, &tamper_armored(&rsop, &armored, 10));
            let result = decryptor.decrypt_message(&tampered);
            assert!(
                matches!(result, Err(pgp_core::Error::Decryption { .. })),
                "{case}: {result:?}"
            );
        }
    }
}

#[test]
#[ignore = "needs rsop (cargo install rsop)"]
fn cleartext_signatures_both_ways_v6() {
    let alice = openpgp_key(ALICE, PgpSuite::Cv25519, PgpVersion::V6);
    let rsop = Rsop::new();
    rsop.import("alice", &alice);
    let text = b"Please pay invoice 4711.\r\n";

    let ours = Signer::new(alice.cert(), None)
        .unwrap()
        .sign_cleartext(text)
        .unwrap();
    let output = rsop.run(
        &["inline-verify", "--verifications-out", "v", "alice.cert"],
        &ours,
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        mail_message::canonicalize(&output.stdout),
        mail_message::canonicalize(text)
    );
    assert_eq!(verified_by(&rsop.take("v"))[0].0, hex(alice.cert()));

    let theirs = rsop.ok(&["inline-sign", "--as", "clearsigned", "alice.key"], text);
    let mut inline = b"From: alice@example.org\r\nContent-Type: text/plain\r\n\r\n".to_vec();
    inline.extend_from_slice(&theirs);
    let verifier = Verifier::new([public(&alice)]);
    let report = verifier.verify_message(&inline).unwrap();
    assert_eq!(report.verdict(), Verdict::SignedByFrom, "{report:?}");
    assert!(String::from_utf8_lossy(report.unwrapped_message().unwrap()).contains("invoice 4711"));

    let tampered = String::from_utf8(inline)
        .unwrap()
        .replace("4711", "4712")
        .into_bytes();
    let report = verifier.verify_message(&tampered).unwrap();
    assert_eq!(report.verdict(), Verdict::Invalid, "{report:?}");
    let tampered_ours = String::from_utf8(ours)
        .unwrap()
        .replace("4711", "4712")
        .into_bytes();
    let output = rsop.run(&["inline-verify", "alice.cert"], &tampered_ours);
    assert_eq!(output.status.code(), Some(NO_SIGNATURE));
}

/// rsop's `security` profile: a v6 key with ML-DSA-65+Ed25519 signing and
/// ML-KEM-768+X25519 encryption (draft-ietf-openpgp-pqc). Sequoia 2.4 with
/// the `crypto-rust` backend the tests use reads, encrypts to, decrypts
/// with, verifies and makes such signatures.
#[test]
#[ignore = "needs rsop (cargo install rsop)"]
fn post_quantum_v6_keys_both_ways() {
    use pgp_core::openpgp::types::PublicKeyAlgorithm;
    let rsop = Rsop::new();
    let alice = rsop.generate("alice", ALICE, "security");
    assert_eq!(alice.primary_key().key().version(), 6);
    let algorithms: Vec<_> = alice.keys().map(|k| k.key().pk_algo()).collect();
    assert_eq!(
        algorithms,
        [
            PublicKeyAlgorithm::MLDSA65_Ed25519,
            PublicKeyAlgorithm::MLKEM768_X25519
        ]
    );
    let alice_secret = rsop.secret("alice");
    let verifier = Verifier::new([alice.clone()]);

    // rsop signs, we verify.
    let signature = rsop.ok(&["sign", "--micalg-out", "micalg", "alice.key"], ENTITY);
    let micalg = String::from_utf8(rsop.take("micalg")).unwrap();
    let signed = wrap_signed(ALICE, ENTITY, &signature, &micalg);
    let report = verifier.verify_message(&signed).unwrap();
    assert_eq!(report.verdict(), Verdict::SignedByFrom, "{report:?}");
    let tampered = String::from_utf8(signed)
        .unwrap()
        .replace("figures are", "figures were")
        .into_bytes();
    let report = verifier.verify_message(&tampered).unwrap();
    assert_eq!(report.verdict(), Verdict::Invalid, "{report:?}");

    // We sign, rsop verifies.
    let ours = Signer::new(&alice_secret, None)
        .unwrap()
        .sign_message(&message(ALICE, "post-quantum\r\n"))
        .unwrap();
    let (code, verifications) = rsop_verify(&rsop, &ours, "alice.cert");
    assert_eq!(code, Some(0));
    assert_eq!(verified_by(&verifications)[0].0, hex(&alice));

    // We encrypt and sign, rsop decrypts and verifies.
    let bob = rsop.generate("bob", BOB, "security");
    let original = message(ALICE, "Secret figures: 42\r\n");
    let encrypted = Encryptor::new([bob])
        .with_signer(Signer::new(&alice_secret, None).unwrap())
        .encrypt_message(&original)
        .unwrap();
    let payload = second_part_body(&encrypted);
    assert_eq!(seipd_versions(&payload), [2]);
    let decrypted = rsop_decrypt(&rsop, &payload, Some(&alice));
    assert_eq!(
        decrypted,
        mail_message::Envelope::split(&original).unwrap().inner()
    );

    // rsop encrypts and signs, we decrypt and verify.
    let armored = rsop.ok(&["encrypt", "--sign-with", "alice.key", "bob.cert"], ENTITY);
    let decrypted = Decryptor::new([rsop.secret("bob")])
        .with_verifier(verifier)
        .decrypt_message(&wrap_encrypted(ALICE, &armored))
        .unwrap();
    assert!(decrypted.message().ends_with(ENTITY));
    assert_eq!(decrypted.verification().verdict(), Verdict::SignedByFrom);
}
