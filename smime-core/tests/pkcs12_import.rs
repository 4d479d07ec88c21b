//! PKCS#12 files as OpenSSL writes them (OpenSSL 3 defaults: PBES2 with
//! AES-256-CBC and an HMAC-SHA-256 MAC; and the legacy 3DES/SHA-1 form that
//! Windows and older CA portals use) import with their chain, and the key
//! they hold signs and decrypts.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use smime_core::{Certificate, Error, Pkcs12, SignatureForm, Signer, Verdict, Verifier};
use testkit::{KeyKind, pki, run_peer};

fn export(dir: &std::path::Path, kind: KeyKind, password: &str, options: &[&str]) -> Vec<u8> {
    pki()
        .smime("p12@example.org", kind)
        .write_to(dir, "id")
        .unwrap();
    let pass = format!("pass:{password}");
    let mut args = vec![
        "pkcs12",
        "-export",
        "-in",
        "id.cert.pem",
        "-inkey",
        "id.key.pem",
        "-certfile",
        "id.chain.pem",
        "-out",
        "id.p12",
        "-passout",
        &pass,
    ];
    args.extend_from_slice(options);
    run_peer("openssl", &args, dir);
    std::fs::read(dir.join("id.p12")).unwrap()
}

#[test]
fn openssl_bundles_import_in_modern_and_legacy_form() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = [
        "-keypbe",
        "PBE-SHA1-3DES",
        "-certpbe",
        "PBE-SHA1-3DES",
        "-macalg",
        "sha1",
    ];
    let unencrypted_certs = ["-certpbe", "NONE", "-macalg", "sha512"];
    for kind in KeyKind::ALL {
        for (form, options) in [
            ("openssl 3 default", &[][..]),
            ("legacy 3DES", &legacy[..]),
            ("plain certificates", &unencrypted_certs[..]),
        ] {
            for password in ["s3cret", "Grüße aus Köln"] {
                let p12 = export(dir.path(), kind, password, options);
                let bundle = Pkcs12::parse(&p12, password.as_bytes())
                    .unwrap_or_else(|e| panic!("{kind:?} {form} {password}: {e}"));
                let expected = pki().smime("p12@example.org", kind);
                assert_eq!(
                    bundle.certificate.to_der(),
                    expected.certificate_der(),
                    "{form}"
                );
                assert_eq!(bundle.chain.len(), 1, "{form}: the intermediate");
                assert_eq!(
                    bundle.chain[0].to_der(),
                    pki().intermediate().certificate_der()
                );

                let wrong = Pkcs12::parse(&p12, b"wrong");
                assert!(
                    matches!(wrong, Err(Error::WrongPassphrase)),
                    "{form}: {wrong:?}"
                );
            }
        }
    }
}

#[test]
fn the_imported_key_signs_mail_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let p12 = export(dir.path(), KeyKind::P256, "pw", &[]);
    let bundle = Pkcs12::parse(&p12, b"pw").unwrap();
    let signed = Signer::new(bundle.certificate.clone(), &bundle.private_key)
        .unwrap()
        .with_chain(bundle.chain.clone())
        .sign_message(
            b"From: p12@example.org\r\nContent-Type: text/plain\r\n\r\nhi\r\n",
            SignatureForm::Detached,
        )
        .unwrap();
    let report = Verifier::new([Certificate::from_der(pki().root().certificate_der()).unwrap()])
        .verify_message(&signed)
        .unwrap();
    assert_eq!(report.verdict(), Verdict::SignedByFrom);
}

#[test]
fn garbage_and_tampering_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut p12 = export(dir.path(), KeyKind::Rsa2048, "pw", &[]);
    assert!(Pkcs12::parse(b"not pkcs12", b"pw").is_err());
    // One flipped bit inside the authenticated safe fails the MAC.
    let middle = p12.len() / 2;
    p12[middle] ^= 0x01;
    assert!(Pkcs12::parse(&p12, b"pw").is_err());
}
