//! What a signer's certificate must be (RFC 8550 section 4.4, RFC 8551
//! section 2.5.1), checked on signatures OpenSSL makes with certificates
//! OpenSSL issues: a weak RSA key and a key usage without signing are
//! refused; no EKU at all, or anyExtendedKeyUsage, are accepted.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use smime_core::{Certificate, SignatureStatus, Verdict, Verifier};
use testkit::run_peer;

/// An OpenSSL CA in `dir`: `ca.pem`, `ca.key`.
fn openssl_ca(dir: &Path) {
    run_peer(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            "/CN=Signer Policy Test CA",
            "-addext",
            "basicConstraints=critical,CA:true",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        dir,
    );
}

/// A leaf for `address` with `bits` of RSA and the extensions in
/// `extensions` (an OpenSSL extension file section), issued by the CA; then
/// a message from `address` signed with it by `openssl cms -sign`.
fn openssl_signed(dir: &Path, stem: &str, address: &str, bits: u32, extensions: &str) -> Vec<u8> {
    std::fs::write(
        dir.join(format!("{stem}.ext")),
        format!("subjectAltName=email:{address}\n{extensions}"),
    )
    .unwrap();
    let (key, csr, cert) = (
        format!("{stem}.key"),
        format!("{stem}.csr"),
        format!("{stem}.pem"),
    );
    let subject = format!("/CN={address}");
    let newkey = format!("rsa:{bits}");
    run_peer(
        "openssl",
        &[
            "req", "-new", "-newkey", &newkey, "-nodes", "-keyout", &key, "-out", &csr, "-subj",
            &subject,
        ],
        dir,
    );
    let extfile = format!("{stem}.ext");
    run_peer(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-out",
            &cert,
            "-extfile",
            &extfile,
        ],
        dir,
    );
    std::fs::write(
        dir.join("inner.txt"),
        "Content-Type: text/plain\r\n\r\nBitte zahlen.\r\n",
    )
    .unwrap();
    let out = format!("{stem}.eml");
    run_peer(
        "openssl",
        &[
            "cms",
            "-sign",
            "-in",
            "inner.txt",
            "-signer",
            &cert,
            "-inkey",
            &key,
            "-from",
            address,
            "-to",
            "bob@example.org",
            "-subject",
            "Rechnung",
            "-out",
            &out,
        ],
        dir,
    );
    std::fs::read(dir.join(out)).unwrap()
}

fn verifier(dir: &Path) -> Verifier {
    let ca = std::fs::read(dir.join("ca.pem")).unwrap();
    Verifier::new(Certificate::load(&ca).unwrap())
}

#[test]
fn weak_keys_and_non_signing_key_usage_are_refused_missing_or_any_eku_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl_ca(d);
    let verifier = verifier(d);

    let weak = openssl_signed(
        d,
        "weak",
        "weak@example.org",
        1024,
        "extendedKeyUsage=emailProtection\n",
    );
    let report = verifier.verify_message(&weak).unwrap();
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert_eq!(
        report.signers()[0].status,
        SignatureStatus::WeakKey { bits: 1024 }
    );

    let encipher_only = openssl_signed(
        d,
        "encipher",
        "encipher@example.org",
        2048,
        "keyUsage=critical,keyEncipherment\nextendedKeyUsage=emailProtection\n",
    );
    let report = verifier.verify_message(&encipher_only).unwrap();
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert_eq!(report.signers()[0].status, SignatureStatus::KeyUsage);

    let non_repudiation = openssl_signed(
        d,
        "nonrep",
        "nonrep@example.org",
        2048,
        "keyUsage=critical,nonRepudiation\nextendedKeyUsage=emailProtection\n",
    );
    let report = verifier.verify_message(&non_repudiation).unwrap();
    assert_eq!(report.signers()[0].status, SignatureStatus::Valid);
    assert_eq!(report.verdict(), Verdict::SignedByFrom);

    // RFC 8550 section 4.4.4: no EKU extension means any purpose.
    let no_eku = openssl_signed(
        d,
        "noeku",
        "noeku@example.org",
        2048,
        "keyUsage=digitalSignature\n",
    );
    let report = verifier.verify_message(&no_eku).unwrap();
    assert_eq!(report.signers()[0].status, SignatureStatus::Valid);
    assert_eq!(report.verdict(), Verdict::SignedByFrom);

    let any_eku = openssl_signed(
        d,
        "anyeku",
        "anyeku@example.org",
        2048,
        "keyUsage=digitalSignature\nextendedKeyUsage=anyExtendedKeyUsage\n",
    );
    let report = verifier.verify_message(&any_eku).unwrap();
    assert_eq!(report.signers()[0].status, SignatureStatus::Valid);

    // Only serverAuth: not for mail.
    let tls_only = openssl_signed(
        d,
        "tlsonly",
        "tlsonly@example.org",
        2048,
        "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    );
    let report = verifier.verify_message(&tls_only).unwrap();
    assert_eq!(
        report.signers()[0].status,
        SignatureStatus::ExtendedKeyUsage
    );
}
