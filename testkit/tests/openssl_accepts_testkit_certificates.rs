//! Peer: OpenSSL. `openssl verify` must agree with what each testkit variant
//! claims: good certificates validate for S/MIME against the testkit root,
//! the broken variants do not, each for its own reason.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::Command;

use testkit::{KeyKind, Variant, pki};

/// Runs `openssl verify` and returns (success, combined output).
fn openssl_verify(
    purpose: &str,
    files: &testkit::IdentityFiles,
    root: &Path,
    extra: &[&str],
) -> (bool, String) {
    let output = Command::new("openssl")
        .arg("verify")
        .args(["-purpose", purpose])
        .arg("-CAfile")
        .arg(root)
        .arg("-untrusted")
        .arg(&files.chain_pem)
        .args(extra)
        .arg(&files.certificate_pem)
        .output()
        .expect("openssl is installed (apt-get install openssl)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

fn root_file(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("testkit-root.pem");
    std::fs::write(&path, pki().root().certificate_pem()).unwrap();
    path
}

#[test]
fn openssl_verifies_good_smime_certificates_of_every_key_kind() {
    let dir = tempfile::tempdir().unwrap();
    let root = root_file(dir.path());
    for kind in KeyKind::ALL {
        let identity = pki().smime("alice@example.org", kind);
        let files = identity.write_to(dir.path(), kind.name()).unwrap();
        // OpenSSL's `smimeencrypt` purpose demands keyEncipherment, which RFC
        // 5480 section 3 reserves for RSA; EC recipients carry keyAgreement
        // (RFC 5753), so only RSA certificates are checked for it.
        let purposes: &[&str] = if kind.is_rsa() {
            &["smimesign", "smimeencrypt"]
        } else {
            &["smimesign"]
        };
        for purpose in purposes {
            let (ok, text) = openssl_verify(purpose, &files, &root, &[]);
            assert!(ok, "{kind:?} {purpose}: {text}");
            assert!(text.contains(": OK"), "{text}");
        }
    }
}

#[test]
fn openssl_rejects_each_bad_variant_for_its_own_reason() {
    let dir = tempfile::tempdir().unwrap();
    let root = root_file(dir.path());
    let expectations = [
        (Variant::Expired, "certificate has expired"),
        (Variant::NotYetValid, "certificate is not yet valid"),
        (Variant::WrongEku, "unsuitable certificate purpose"),
        (Variant::LookAlike, "unable to get local issuer certificate"),
    ];
    for (variant, reason) in expectations {
        let identity = pki().smime_variant("mallory@example.org", KeyKind::P256, variant);
        let files = identity.write_to(dir.path(), variant.name()).unwrap();
        let (ok, text) = openssl_verify("smimesign", &files, &root, &[]);
        assert!(!ok, "{variant:?} was accepted: {text}");
        assert!(
            text.contains(reason),
            "{variant:?}: expected {reason:?} in {text}"
        );
    }
}

#[test]
fn look_alike_chain_validates_only_against_its_own_root() {
    // The look-alike is a well-formed certificate: it fails above only because
    // its chain leads elsewhere, which is what makes it a useful spoofing test.
    let dir = tempfile::tempdir().unwrap();
    let identity = pki().smime_variant("alice@example.org", KeyKind::Rsa2048, Variant::LookAlike);
    let files = identity.write_to(dir.path(), "look-alike").unwrap();
    let (ok, text) = openssl_verify("smimesign", &files, &files.root_pem, &[]);
    assert!(ok, "{text}");
    assert_ne!(identity.root_der(), pki().root().certificate_der());
    assert_ne!(
        identity.chain_der()[0],
        pki().intermediate().certificate_der()
    );
}

#[test]
fn openssl_verifies_tls_server_certificates_for_their_name_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = root_file(dir.path());
    let server = pki().tls_server("mx.example.org", KeyKind::Rsa3072);
    let files = server.write_to(dir.path(), "mx").unwrap();
    let (ok, text) = openssl_verify(
        "sslserver",
        &files,
        &root,
        &["-verify_hostname", "mx.example.org"],
    );
    assert!(ok, "{text}");
    let (ok, text) = openssl_verify(
        "sslserver",
        &files,
        &root,
        &["-verify_hostname", "mx.evil.example"],
    );
    assert!(!ok, "wrong host name accepted: {text}");
    assert!(text.contains("hostname mismatch"), "{text}");
    let (ok, _) = openssl_verify("smimesign", &files, &root, &[]);
    assert!(
        !ok,
        "a TLS server certificate must not be accepted for S/MIME"
    );
}

#[test]
fn openssl_reads_the_private_keys_and_they_match_the_certificates() {
    let dir = tempfile::tempdir().unwrap();
    for kind in KeyKind::ALL {
        let files = pki()
            .smime("keys@example.org", kind)
            .write_to(dir.path(), kind.name())
            .unwrap();
        let from_key = Command::new("openssl")
            .args(["pkey", "-pubout", "-in"])
            .arg(&files.private_key_pem)
            .output()
            .unwrap();
        assert!(
            from_key.status.success(),
            "{kind:?}: {}",
            String::from_utf8_lossy(&from_key.stderr)
        );
        let from_cert = Command::new("openssl")
            .args(["x509", "-noout", "-pubkey", "-in"])
            .arg(&files.certificate_pem)
            .output()
            .unwrap();
        assert!(from_cert.status.success());
        assert_eq!(
            from_key.stdout, from_cert.stdout,
            "{kind:?}: key does not match certificate"
        );
    }
}

#[test]
fn generation_is_deterministic() {
    let again = testkit::Pki::generate();
    assert_eq!(
        again.root().certificate_der(),
        pki().root().certificate_der()
    );
    assert_eq!(
        again
            .smime("det@example.org", KeyKind::P384)
            .certificate_der(),
        pki()
            .smime("det@example.org", KeyKind::P384)
            .certificate_der()
    );
}
