//! `mailgate smime verify --crl-dp` (issue 19): the CRL named by the
//! signer certificate's distribution point is downloaded from a loopback
//! HTTP server the test starts; the CRL is made by `openssl ca -gencrl`
//! acting as the testkit intermediate, the certificates by `openssl x509`
//! with a cRLDistributionPoints extension naming the server, the mail by
//! `openssl cms -sign`. A revoked signer is rejected, an unrevoked one
//! passes and the JSON names the URL; a distribution point serving garbage
//! is a failure under `require` and a warning under `prefer`.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use testkit::{HttpServer, OpensslCa, pki};

/// Mail from `address` signed by OpenSSL with `certificate` and `key`, the
/// intermediate as the chain.
fn signed(dir: &Path, address: &str, certificate: &Path, key: &Path) -> Vec<u8> {
    let chain = dir.join("ca.pem");
    std::fs::write(&chain, pki().intermediate().certificate_pem()).unwrap();
    testkit::openssl::cms_sign_mail_with(
        dir,
        certificate,
        key,
        &chain,
        &testkit::openssl::MailHeaders {
            from: address,
            to: "bob@example.net",
            subject: "revocation",
        },
        b"Content-Type: text/plain\r\n\r\nRevocation test\r\n",
    )
}

fn verify(dir: &Path, message: &[u8], extra: &[&str]) -> Output {
    std::fs::write(dir.join("root.pem"), pki().root().certificate_pem()).unwrap();
    let root = OpensslCa::new(pki().root());
    std::fs::write(dir.join("root.crl"), root.crl_der()).unwrap();
    let mut args = vec![
        "--json", "smime", "verify", "--trust", "root.pem", "--crl", "root.crl", "--crl-dp",
    ];
    args.extend_from_slice(extra);
    common::mailgate_in(dir, &args, message, &[])
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "{error}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[test]
fn a_signer_revoked_in_the_crl_at_its_distribution_point_is_rejected_and_a_good_one_passes() {
    let dir = tempfile::tempdir().unwrap();
    let server = HttpServer::start();
    let url = server.url("/intermediate.crl");
    let ca = OpensslCa::new(pki().intermediate());
    let (revoked_cert, revoked_key) =
        ca.issue_smime_with_crl_dp("revoked", "revoked.dp@example.org", &[&url]);
    let (good_cert, good_key) = ca.issue_smime_with_crl_dp("good", "good.dp@example.org", &[&url]);
    ca.revoke(
        &std::fs::read_to_string(&revoked_cert).unwrap(),
        "keyCompromise",
    );
    server.serve("/intermediate.crl", "application/pkix-crl", ca.crl_der());

    let revoked = signed(
        dir.path(),
        "revoked.dp@example.org",
        &revoked_cert,
        &revoked_key,
    );
    for mode in ["require", "prefer"] {
        let output = verify(dir.path(), &revoked, &["--revocation", mode]);
        assert_eq!(output.status.code(), Some(1), "{mode}");
        let report = json(&output);
        assert_eq!(report["verdict"], "invalid", "{mode}: {report}");
        let leaf = &report["signers"][0]["revocation"][0];
        assert_eq!(leaf["status"], "revoked", "{report}");
        assert_eq!(leaf["reason"], "keyCompromise");
        assert_eq!(leaf["source"]["kind"], "crl");
        assert_eq!(leaf["source"]["origin"], url.as_str());
    }

    let good = signed(dir.path(), "good.dp@example.org", &good_cert, &good_key);
    let output = verify(dir.path(), &good, &["--revocation", "require"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = json(&output);
    assert_eq!(report["verdict"], "signed-by-from");
    let statuses = report["signers"][0]["revocation"].as_array().unwrap();
    assert_eq!(statuses[0]["status"], "good");
    assert_eq!(statuses[0]["source"]["origin"], url.as_str());
    assert_eq!(statuses[0]["source"]["cached"], false);
    assert!(statuses[0]["source"]["next_update"].is_string());
    assert_eq!(statuses[1]["source"]["origin"], "root.crl");
}

#[test]
fn garbage_at_the_distribution_point_fails_require_and_warns_prefer() {
    let dir = tempfile::tempdir().unwrap();
    let server = HttpServer::start();
    let url = server.url("/intermediate.crl");
    let ca = OpensslCa::new(pki().intermediate());
    let (cert, key) = ca.issue_smime_with_crl_dp("garbage", "garbage.dp@example.org", &[&url]);
    server.serve(
        "/intermediate.crl",
        "application/pkix-crl",
        b"<html>maintenance</html>".to_vec(),
    );
    let message = signed(dir.path(), "garbage.dp@example.org", &cert, &key);

    let output = verify(dir.path(), &message, &["--revocation", "require"]);
    assert_eq!(output.status.code(), Some(1));
    let report = json(&output);
    assert_eq!(report["verdict"], "invalid", "{report}");
    let leaf = &report["signers"][0]["revocation"][0];
    assert_eq!(leaf["status"], "unknown", "{report}");
    let reasons = leaf.to_string();
    assert!(
        reasons.contains(&url) && reasons.contains("not a valid DER-encoded CRL"),
        "{reasons}"
    );

    let output = verify(dir.path(), &message, &["--revocation", "prefer"]);
    assert_eq!(output.status.code(), Some(0), "{}", json(&output));
    let report = json(&output);
    assert_eq!(report["revocation"]["unknown"], true);

    // The text report says why.
    let text = common::mailgate_in(
        dir.path(),
        &[
            "smime", "verify", "--trust", "root.pem", "--crl", "root.crl", "--crl-dp",
        ],
        &message,
        &[],
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("warning revocation-unknown"), "{text}");
    assert!(
        text.contains(&format!("{url}: not a valid DER-encoded CRL")),
        "{text}"
    );
}
