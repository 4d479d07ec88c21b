//! `mailgate smime verify --crl ... --revocation ...` (issue 19): mail
//! signed by OpenSSL with testkit identities, CRLs made by `openssl ca`
//! acting as the testkit CAs. A revoked signer is rejected in `require` and
//! `prefer` mode, an unrevoked one passes, an unknown status is a failure
//! in `require` and a warning in `prefer`; the JSON report names the source.

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
use testkit::openssl::{self, MailHeaders};
use testkit::{IdentityFiles, KeyKind, OpensslCa, pki};

const BODY: &str = "Content-Type: text/plain\r\n\r\nRevocation test\r\n";

struct Setup {
    dir: tempfile::TempDir,
    /// The intermediate run by OpenSSL: revoked@ revoked, good@ recorded valid.
    intermediate: OpensslCa,
    /// The files of revoked@ (`revoked.*`) and good@ (`good.*`).
    revoked: IdentityFiles,
    good: IdentityFiles,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let revoked = pki().smime("revoked@example.org", KeyKind::P256);
    let good = pki().smime("good@example.org", KeyKind::Rsa2048);
    let revoked_files = revoked.write_to(dir.path(), "revoked").unwrap();
    let good_files = good.write_to(dir.path(), "good").unwrap();
    std::fs::write(dir.path().join("root.pem"), pki().root().certificate_pem()).unwrap();
    let intermediate = OpensslCa::new(pki().intermediate());
    intermediate.revoke(&revoked.certificate_pem(), "keyCompromise");
    intermediate.record_valid(&good.certificate_pem());
    let root = OpensslCa::new(pki().root());
    root.record_valid(&pki().intermediate().certificate_pem());
    std::fs::write(dir.path().join("intermediate.crl"), intermediate.crl_der()).unwrap();
    std::fs::write(dir.path().join("root.crl.pem"), root.crl_pem()).unwrap();
    Setup {
        dir,
        intermediate,
        revoked: revoked_files,
        good: good_files,
    }
}

impl Setup {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Mail from `stem@example.org`, signed by OpenSSL with that identity.
    fn signed_by(&self, stem: &str) -> Vec<u8> {
        let address = format!("{stem}@example.org");
        let files = match stem {
            "revoked" => &self.revoked,
            "good" => &self.good,
            other => panic!("no identity {other}"),
        };
        openssl::cms_sign_mail(
            self.path(),
            files,
            &MailHeaders {
                from: &address,
                to: "bob@example.net",
                subject: "revocation",
            },
            BODY.as_bytes(),
        )
    }

    fn verify(&self, message: &[u8], extra: &[&str]) -> Output {
        let mut args = vec!["--json", "smime", "verify", "--trust", "root.pem"];
        args.extend_from_slice(extra);
        common::mailgate_in(self.path(), &args, message, &[])
    }
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

const CRLS: [&str; 4] = ["--crl", "intermediate.crl", "--crl", "root.crl.pem"];

#[test]
fn openssl_crl_revoked_signer_is_rejected_in_require_and_prefer() {
    let setup = setup();
    let signed = setup.signed_by("revoked");
    for mode in ["require", "prefer"] {
        let mut args = CRLS.to_vec();
        args.extend(["--revocation", mode]);
        let output = setup.verify(&signed, &args);
        assert_eq!(output.status.code(), Some(1), "{mode}");
        let report = json(&output);
        assert_eq!(report["verdict"], "invalid", "{mode}: {report}");
        let signer = &report["signers"][0];
        assert_eq!(signer["valid"], false);
        assert!(
            signer["status"].as_str().unwrap().contains("revoked"),
            "{signer}"
        );
        let leaf = &signer["revocation"][0];
        assert_eq!(leaf["status"], "revoked");
        assert_eq!(leaf["reason"], "keyCompromise");
        assert_eq!(leaf["source"]["kind"], "crl");
        assert_eq!(leaf["source"]["origin"], "intermediate.crl");
        assert_eq!(report["revocation"]["mode"], mode);
    }
    // Without --revocation, a --crl means prefer.
    let output = setup.verify(&signed, &CRLS);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(json(&output)["revocation"]["mode"], "prefer");
}

#[test]
fn openssl_crl_unrevoked_signer_passes_and_names_the_sources() {
    let setup = setup();
    let signed = setup.signed_by("good");
    let mut args = CRLS.to_vec();
    args.extend(["--revocation", "require"]);
    let output = setup.verify(&signed, &args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = json(&output);
    assert_eq!(report["verdict"], "signed-by-from");
    assert_eq!(report["revocation"]["unknown"], false);
    let statuses = report["signers"][0]["revocation"].as_array().unwrap();
    assert_eq!(statuses.len(), 2, "end entity and intermediate");
    assert_eq!(statuses[0]["status"], "good");
    assert_eq!(statuses[0]["source"]["origin"], "intermediate.crl");
    assert_eq!(statuses[1]["status"], "good");
    assert_eq!(statuses[1]["source"]["origin"], "root.crl.pem");
    assert!(statuses[0]["source"]["next_update"].is_string());

    // The text report says it too.
    let mut args = vec!["smime", "verify", "--trust", "root.pem"];
    args.extend(CRLS);
    let text = common::ok(common::mailgate_in(setup.path(), &args, &signed, &[]));
    let text = String::from_utf8_lossy(&text);
    assert!(
        text.contains("revocation") && text.contains("good (CRL intermediate.crl)"),
        "{text}"
    );
}

#[test]
fn unknown_status_fails_require_and_warns_prefer() {
    let setup = setup();
    let signed = setup.signed_by("good");
    // Only the root's CRL: the end entity's status is unknown.
    let output = setup.verify(
        &signed,
        &["--crl", "root.crl.pem", "--revocation", "require"],
    );
    assert_eq!(output.status.code(), Some(1));
    let report = json(&output);
    assert_eq!(report["verdict"], "invalid");
    assert_eq!(report["signers"][0]["revocation"][0]["status"], "unknown");

    let output = setup.verify(
        &signed,
        &["--crl", "root.crl.pem", "--revocation", "prefer"],
    );
    assert_eq!(output.status.code(), Some(0));
    let report = json(&output);
    assert_eq!(report["verdict"], "signed-by-from");
    assert_eq!(report["revocation"]["unknown"], true);

    let output = common::mailgate_in(
        setup.path(),
        &[
            "smime",
            "verify",
            "--trust",
            "root.pem",
            "--revocation",
            "prefer",
        ],
        &signed,
        &[],
    );
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stdout).contains("warning revocation-unknown"));

    // Off: nothing checked, nothing reported.
    let output = setup.verify(&signed, &["--revocation", "off"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(json(&output)["revocation"]["unknown"], false);
}

#[test]
fn a_crl_file_that_is_not_a_crl_is_malformed_input() {
    let setup = setup();
    let signed = setup.signed_by("good");
    let output = setup.verify(&signed, &["--crl", "root.pem"]);
    assert_eq!(output.status.code(), Some(2));
    let output = setup.verify(&signed, &["--revocation", "sometimes"]);
    assert_eq!(output.status.code(), Some(2));
    // The CA directory stays until here.
    drop(setup.intermediate);
}

/// The root's CRL only (the intermediate's status), the leaf asked of the
/// responder at `url`.
fn ocsp_args<'a>(url: &'a str, mode: &'a str) -> Vec<&'a str> {
    vec!["--crl", "root.crl.pem", "--ocsp", url, "--revocation", mode]
}

#[test]
fn openssl_ocsp_revoked_signer_is_rejected_and_unrevoked_passes() {
    let setup = setup();
    let responder = setup.intermediate.ocsp_responder();
    let url = responder.url();
    let revoked = setup.signed_by("revoked");
    for mode in ["require", "prefer"] {
        let output = setup.verify(&revoked, &ocsp_args(&url, mode));
        assert_eq!(output.status.code(), Some(1), "{mode}");
        let report = json(&output);
        assert_eq!(report["verdict"], "invalid");
        let leaf = &report["signers"][0]["revocation"][0];
        assert_eq!(leaf["status"], "revoked", "{leaf}");
        assert_eq!(leaf["reason"], "keyCompromise");
        assert_eq!(leaf["source"]["kind"], "ocsp");
        assert_eq!(leaf["source"]["origin"], url.as_str());
    }
    let good = setup.signed_by("good");
    let output = setup.verify(&good, &ocsp_args(&url, "require"));
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let report = json(&output);
    let statuses = &report["signers"][0]["revocation"];
    assert_eq!(statuses[0]["status"], "good");
    assert_eq!(statuses[0]["source"]["kind"], "ocsp");
    assert_eq!(statuses[0]["source"]["cached"], false);
    assert_eq!(statuses[1]["source"]["kind"], "crl");
}

#[test]
fn ocsp_responder_down_is_a_finding_in_prefer_and_a_failure_in_require() {
    let setup = setup();
    let mut responder = setup.intermediate.ocsp_responder();
    let url = responder.url();
    // Down: the port was just served by the responder and is closed now.
    responder.stop();
    let good = setup.signed_by("good");
    let output = setup.verify(&good, &ocsp_args(&url, "prefer"));
    assert_eq!(output.status.code(), Some(0));
    let report = json(&output);
    assert_eq!(report["verdict"], "signed-by-from");
    assert_eq!(report["revocation"]["unknown"], true);
    let leaf = &report["signers"][0]["revocation"][0];
    assert_eq!(leaf["status"], "unknown");
    assert!(
        leaf["reasons"][0].as_str().unwrap().contains(url.as_str()),
        "{leaf}"
    );

    let output = setup.verify(&good, &ocsp_args(&url, "require"));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(json(&output)["verdict"], "invalid");

    // A revoked signer is still refused when the responder is down and the
    // CRL knows.
    let revoked = setup.signed_by("revoked");
    let mut args = ocsp_args(&url, "prefer");
    args.extend(["--crl", "intermediate.crl"]);
    let output = setup.verify(&revoked, &args);
    assert_eq!(output.status.code(), Some(1));
}
