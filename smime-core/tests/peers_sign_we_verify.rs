//! Real peers sign, smime-core verifies: `openssl cms -sign` (detached,
//! opaque, streamed BER, RSA-PSS, every key kind) and `gpgsm --sign`; and our
//! own signatures verified by us, for every key kind and form.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use smime_core::{
    Coverage, DigestAlgorithm, SignatureForm, SignatureScheme, SignatureStatus, Verdict,
};
use testkit::{GpgsmHome, KeyKind, pki, run_peer};

const INNER: &str =
    "Content-Type: text/plain; charset=us-ascii\r\n\r\nPlease pay invoice 4711.\r\n";

fn openssl_sign(dir: &Path, kind: KeyKind, options: &[&str]) -> Vec<u8> {
    let alice = pki().smime("alice@example.org", kind);
    alice.write_to(dir, "alice").unwrap();
    std::fs::write(dir.join("inner.txt"), INNER).unwrap();
    let mut args = vec![
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
        "Alice <alice@example.org>",
        "-to",
        "bob@example.org",
        "-subject",
        "Invoice",
        "-out",
        "signed.eml",
    ];
    args.extend_from_slice(options);
    run_peer("openssl", &args, dir);
    std::fs::read(dir.join("signed.eml")).unwrap()
}

#[test]
fn we_verify_openssl_in_every_form() {
    let dir = tempfile::tempdir().unwrap();
    for kind in KeyKind::ALL {
        for (options, form) in [
            (&[][..], "detached"),
            (&["-nodetach"][..], "opaque"),
            (&["-nodetach", "-stream"][..], "opaque BER"),
            (&["-stream"][..], "detached streamed"),
            (&["-md", "sha512"][..], "detached sha512"),
        ] {
            let signed = openssl_sign(dir.path(), kind, options);
            let report = common::verifier().verify_message(&signed).unwrap();
            assert_eq!(
                report.verdict(),
                Verdict::SignedByFrom,
                "{kind:?} {form}: {report:?}"
            );
            assert_eq!(report.coverage(), &Coverage::Whole);
            let signer = &report.signers()[0];
            assert!(signer.signing_time.is_some());
            assert!(
                !signer.capabilities.is_empty(),
                "OpenSSL sends SMIMECapabilities"
            );
            assert!(
                report.certificates().len() >= 2,
                "signer and chain harvested"
            );
            let unwrapped =
                String::from_utf8(report.unwrapped_message().unwrap().to_vec()).unwrap();
            assert!(unwrapped.contains("Subject: Invoice"), "{unwrapped}");
            assert!(unwrapped.contains("Please pay invoice 4711."));
            assert!(!unwrapped.contains("pkcs7"));
        }
    }
}

#[test]
fn we_verify_openssl_rsa_pss() {
    let dir = tempfile::tempdir().unwrap();
    let signed = openssl_sign(
        dir.path(),
        KeyKind::Rsa3072,
        &["-keyopt", "rsa_padding_mode:pss", "-md", "sha384"],
    );
    let report = common::verifier().verify_message(&signed).unwrap();
    assert_eq!(report.verdict(), Verdict::SignedByFrom, "{report:?}");
    assert_eq!(report.signers()[0].scheme, Some(SignatureScheme::RsaPss));
    assert_eq!(report.signers()[0].digest, Some(DigestAlgorithm::Sha384));
}

#[test]
fn we_verify_openssl_sha1_as_weak() {
    let dir = tempfile::tempdir().unwrap();
    let signed = openssl_sign(dir.path(), KeyKind::Rsa2048, &["-md", "sha1"]);
    let report = common::verifier().verify_message(&signed).unwrap();
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert!(matches!(
        report.signers()[0].status,
        SignatureStatus::WeakAlgorithm(_)
    ));
}

#[test]
fn we_verify_gpgsm_detached_signatures() {
    let home = GpgsmHome::new();
    // gpgsm 2.2 crashes importing EC keys from PKCS#12, so its signing keys
    // here are RSA; its EC signatures are a follow-up with a native key import.
    for kind in [KeyKind::Rsa2048, KeyKind::Rsa3072] {
        let address = format!("gpgsm-{}@example.org", kind.name());
        // gpgsm imports secret keys from PKCS#12, in the classic 3DES form.
        common::gpgsm_import_pkcs12(&home, &address, kind, "alice");
        std::fs::write(home.path().join("inner.txt"), INNER).unwrap();
        home.run_with_passphrase(
            "test",
            &[
                "--detach-sign",
                "-u",
                &address,
                "-o",
                "sig.p7s",
                "inner.txt",
            ],
        );
        let signature = std::fs::read(home.path().join("sig.p7s")).unwrap();
        let report = common::verifier()
            .verify_cms(&signature, Some(INNER.as_bytes()))
            .unwrap();
        assert_eq!(report.signers.len(), 1);
        assert_eq!(report.signers[0].status, SignatureStatus::Valid, "{kind:?}");
        let certificate = report.signers[0].certificate.as_ref().unwrap();
        assert!(certificate.certifies(&address.parse().unwrap()));
    }
}

#[test]
fn we_verify_ourselves_for_every_key_and_form() {
    for kind in KeyKind::ALL {
        let signer = common::signer("alice@example.org", kind);
        for form in [SignatureForm::Detached, SignatureForm::Opaque] {
            let message = format!(
                "From: alice@example.org\nTo: bob@example.org\n{}",
                INNER.replace("\r\n", "\n")
            );
            let signed = signer.sign_message(message.as_bytes(), form).unwrap();
            let report = common::verifier().verify_message(&signed).unwrap();
            assert_eq!(report.verdict(), Verdict::SignedByFrom, "{kind:?} {form:?}");
            assert_eq!(
                report.unwrapped_message().unwrap(),
                format!(
                    "From: alice@example.org\nTo: bob@example.org\nMIME-Version: 1.0\n{}",
                    INNER.replace("\r\n", "\n")
                )
                .as_bytes()
            );
        }
    }
}
