//! Helpers shared by the integration tests: testkit identities as
//! smime-core values, and PKCS#12 files for peers that import keys that way.

// Each test file uses a different subset.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::Path;

use smime_core::{Certificate, DecryptionIdentity, PrivateKey, Signer, Verifier};
use testkit::{KeyKind, Variant, pki, run_peer};

/// The testkit certificate for `address`.
pub(crate) fn certificate(address: &str, kind: KeyKind) -> Certificate {
    Certificate::from_der(pki().smime(address, kind).certificate_der()).unwrap()
}

/// A signer for `address` with its chain.
pub(crate) fn signer(address: &str, kind: KeyKind) -> Signer {
    signer_variant(address, kind, Variant::Good)
}

/// A signer for a (possibly broken) variant of `address`, with its chain.
pub(crate) fn signer_variant(address: &str, kind: KeyKind, variant: Variant) -> Signer {
    let id = pki().smime_variant(address, kind, variant);
    Signer::new(
        Certificate::from_der(id.certificate_der()).unwrap(),
        &PrivateKey::load(id.private_key_der(), None).unwrap(),
    )
    .unwrap()
    .with_chain(
        id.chain_der()
            .iter()
            .map(|d| Certificate::from_der(d).unwrap()),
    )
}

/// What `address` decrypts with.
pub(crate) fn identity(address: &str, kind: KeyKind) -> DecryptionIdentity {
    let id = pki().smime(address, kind);
    DecryptionIdentity::new(certificate(address, kind), id.private_key_der()).unwrap()
}

/// A verifier trusting the testkit root.
pub(crate) fn verifier() -> Verifier {
    Verifier::new([Certificate::from_der(pki().root().certificate_der()).unwrap()])
}

/// Writes `address`'s identity as `STEM.*` files and `STEM.p12` (password
/// `password`), in the legacy 3DES/SHA-1 form that gpgsm 2.2 and NSS import,
/// with `-name STEM` as the friendly name.
/// Imports a legacy PKCS#12 of `address` into `home`'s gpgsm. gpgsm 2.2
/// now and then rejects a correct OpenSSL-made file with "decryption
/// failed; trying charset ..." (its PKCS#12 decryption check misjudges some
/// random salts and IVs; the same file with a new salt imports), so a
/// rejected file is made again, up to three times.
#[allow(clippy::panic)]
pub(crate) fn gpgsm_import_pkcs12(
    home: &testkit::GpgsmHome,
    address: &str,
    kind: KeyKind,
    stem: &str,
) {
    let mut failures = Vec::new();
    for _ in 0..3 {
        legacy_pkcs12(home.path(), address, kind, stem, "test");
        match home.try_run_with_passphrase("test", &["--import", &format!("{stem}.p12")]) {
            Ok(_) => return,
            Err(error) => failures.push(error),
        }
    }
    panic!("gpgsm refused three PKCS#12 files: {failures:#?}");
}

pub(crate) fn legacy_pkcs12(dir: &Path, address: &str, kind: KeyKind, stem: &str, password: &str) {
    pki().smime(address, kind).write_to(dir, stem).unwrap();
    let cert = format!("{stem}.cert.pem");
    let key = format!("{stem}.key.pem");
    let p12 = format!("{stem}.p12");
    let pass = format!("pass:{password}");
    run_peer(
        "openssl",
        &[
            "pkcs12",
            "-export",
            "-in",
            &cert,
            "-inkey",
            &key,
            "-name",
            stem,
            "-out",
            &p12,
            "-passout",
            &pass,
            "-keypbe",
            "PBE-SHA1-3DES",
            "-certpbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha1",
        ],
        dir,
    );
}

/// `openssl cms -verify` of a whole S/MIME message against the testkit root;
/// returns the content OpenSSL says was signed.
pub(crate) fn openssl_verify(dir: &Path, signed: &[u8]) -> Vec<u8> {
    std::fs::write(dir.join("signed.eml"), signed).unwrap();
    std::fs::write(dir.join("root.pem"), pki().root().certificate_pem()).unwrap();
    run_peer(
        "openssl",
        &[
            "cms",
            "-verify",
            "-in",
            "signed.eml",
            "-CAfile",
            "root.pem",
            "-out",
            "content.out",
        ],
        dir,
    );
    std::fs::read(dir.join("content.out")).unwrap()
}
