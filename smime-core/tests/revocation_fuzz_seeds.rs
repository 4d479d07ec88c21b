//! The seed corpora of the `crl_parse` and `ocsp_response` fuzz targets:
//! CRLs and OCSP responses made by OpenSSL acting as the testkit
//! intermediate about `fuzz-revocation@example.org`, so the fuzzer starts
//! from structures that pass parsing and reach the signature, CertID and
//! status checks. Each seed must parse and verify here (a testkit change
//! that altered the CA would otherwise silently turn them into noise).
//!
//! `MAILGATE_REGENERATE_SEEDS=1 cargo test -p smime-core --test
//! revocation_fuzz_seeds` rewrites them first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use smime_core::Certificate;
use smime_core::revocation::ocsp::{OcspResponse, check_response};
use smime_core::revocation::{Crl, RevocationError};
use testkit::{KeyKind, OpensslCa, pki, run_peer};

const ADDRESS: &str = "fuzz-revocation@example.org";

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn fresh(target: &str) -> PathBuf {
    let dir = corpus(target);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&dir).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    dir
}

fn regenerate() {
    let leaf = pki().smime(ADDRESS, KeyKind::P256);
    let crls = fresh("crl_parse");
    let revoking = OpensslCa::new(pki().intermediate());
    std::fs::write(crls.join("empty.der"), revoking.crl_der()).unwrap();
    revoking.revoke(&leaf.certificate_pem(), "keyCompromise");
    revoking.revoke(
        &pki()
            .smime("other@example.org", KeyKind::Rsa2048)
            .certificate_pem(),
        "superseded",
    );
    std::fs::write(crls.join("revoked.pem"), revoking.crl_pem()).unwrap();
    std::fs::write(crls.join("revoked.der"), revoking.crl_der()).unwrap();
    let root = OpensslCa::new(pki().root());
    std::fs::write(crls.join("root.der"), root.crl_der()).unwrap();

    let responses = fresh("ocsp_response");
    let dir = revoking.dir();
    std::fs::write(dir.join("leaf.pem"), leaf.certificate_pem()).unwrap();
    let respond = |ca: &OpensslCa, signer: &str, key: &str, out: &Path| {
        let dir = ca.dir();
        std::fs::write(dir.join("leaf.pem"), leaf.certificate_pem()).unwrap();
        run_peer(
            "openssl",
            &[
                "ocsp",
                "-issuer",
                "ca.cert.pem",
                "-cert",
                "leaf.pem",
                "-reqout",
                "request.der",
            ],
            dir,
        );
        run_peer(
            "openssl",
            &[
                "ocsp",
                "-index",
                "index.txt",
                "-CA",
                "ca.cert.pem",
                "-rsigner",
                signer,
                "-rkey",
                key,
                "-reqin",
                "request.der",
                "-respout",
                "response.der",
                "-nmin",
                "60",
            ],
            dir,
        );
        std::fs::copy(dir.join("response.der"), out).unwrap();
    };
    respond(
        &revoking,
        "ca.cert.pem",
        "ca.key.pem",
        &responses.join("revoked.der"),
    );
    let good = OpensslCa::new(pki().intermediate());
    good.record_valid(&leaf.certificate_pem());
    respond(
        &good,
        "ca.cert.pem",
        "ca.key.pem",
        &responses.join("good.der"),
    );
    let (cert, key) = good.issue_responder("delegate", true);
    respond(
        &good,
        &cert.to_string_lossy(),
        &key.to_string_lossy(),
        &responses.join("delegated.der"),
    );
    let unknown = OpensslCa::new(pki().intermediate());
    respond(
        &unknown,
        "ca.cert.pem",
        "ca.key.pem",
        &responses.join("unknown.der"),
    );
    // responseStatus tryLater, no responseBytes.
    std::fs::write(
        responses.join("try-later.der"),
        [0x30, 0x03, 0x0a, 0x01, 0x03],
    )
    .unwrap();
}

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut seeds: Vec<_> = std::fs::read_dir(corpus(target))
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect();
    seeds.sort();
    seeds
}

#[test]
fn revocation_seeds_parse_and_verify() {
    if std::env::var_os("MAILGATE_REGENERATE_SEEDS").is_some() {
        regenerate();
    }
    let leaf =
        Certificate::from_der(pki().smime(ADDRESS, KeyKind::P256).certificate_der()).unwrap();
    let intermediate = Certificate::from_der(pki().intermediate().certificate_der()).unwrap();
    let root = Certificate::from_der(pki().root().certificate_der()).unwrap();

    let crls = seeds("crl_parse");
    assert!(crls.len() >= 4, "{crls:?}");
    for (name, bytes) in crls {
        let crl = &Crl::load(&bytes, &name).unwrap()[0];
        let issuer = if name.starts_with("root") {
            &root
        } else {
            &intermediate
        };
        crl.verify_signature(issuer)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let leaf_serial = leaf.x509().tbs_certificate().serial_number().as_bytes();
        assert_eq!(
            crl.lists(leaf_serial),
            name.starts_with("revoked"),
            "{name}"
        );
    }

    let responses = seeds("ocsp_response");
    assert!(responses.len() >= 5);
    for (name, bytes) in responses {
        let parsed = OcspResponse::from_der(&bytes, &name);
        if name == "try-later.der" {
            assert!(matches!(parsed, Err(RevocationError::OcspStatus { .. })));
            continue;
        }
        let response = parsed.unwrap_or_else(|e| panic!("{name}: {e}"));
        // As of the response's own thisUpdate: the seeds outlive nextUpdate.
        let time = response.responses[0].this_update;
        let checked = check_response(&response, &leaf, &intermediate, time, None, &name);
        match name.as_str() {
            "unknown.der" => assert!(matches!(checked, Err(RevocationError::Mismatch { .. }))),
            _ => {
                checked.unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
    }
}
