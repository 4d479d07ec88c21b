//! Issue 19 through the `mailgate` binary: `mailgate process` with a
//! `[revocation]` section in `mailgate.toml`. A signer revoked in a CRL
//! made by `openssl ca -gencrl` is not `valid` (and the audit names the
//! CRL); an unrevoked one is; an unreadable CRL or a bad mode stops the
//! configuration from loading (exit 3: the MTA defers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use testkit::openssl::{self, MailHeaders};
use testkit::{KeyKind, OpensslCa, gateway_dir, pki};

fn write_config(dir: &Path, revocation: &str) {
    gateway_dir::write(
        dir,
        gateway_dir::CONFIDENTIAL_POLICY,
        "smime_anchors = [\"ca.pem\"]\n",
        revocation,
    )
    .unwrap();
}

fn signed_by(address: &str, dir: &Path) -> Vec<u8> {
    let files = pki()
        .smime(address, KeyKind::Rsa2048)
        .write_to(dir, "signer")
        .unwrap();
    openssl::cms_sign_mail(
        dir,
        &files,
        &MailHeaders {
            from: address,
            to: "alice@behoerde.example",
            subject: "Bescheid",
        },
        b"Content-Type: text/plain\r\n\r\nBescheid 12\r\n",
    )
}

fn process(dir: &Path, message: &[u8], from: &str, out: &str) -> std::process::Output {
    common::mailgate_in(
        dir,
        &[
            "process",
            "--config",
            "mailgate.toml",
            "--direction",
            "inbound",
            "--from",
            from,
            "--to",
            "alice@behoerde.example",
            "--out-dir",
            out,
        ],
        message,
        &[],
    )
}

#[test]
fn mailgate_process_does_not_accept_a_signer_revoked_in_the_configured_crl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = OpensslCa::new(pki().intermediate());
    let revoked = "mia.revoked@partner.example";
    ca.revoke(
        &pki().smime(revoked, KeyKind::Rsa2048).certificate_pem(),
        "keyCompromise",
    );
    std::fs::write(d.join("sub.crl"), ca.crl_pem()).unwrap();
    write_config(
        d,
        "[revocation]\ninbound = \"require\"\ncrls = [\"sub.crl\"]\nocsp = \"off\"\n",
    );

    for (address, out, valid) in [
        (revoked, "out-revoked", false),
        ("nils.good@partner.example", "out-good", true),
    ] {
        let message = signed_by(address, d);
        common::ok(process(d, &message, address, out));
        let result: serde_json::Value =
            serde_json::from_slice(&std::fs::read(d.join(out).join("result.json")).unwrap())
                .unwrap();
        let signature = result["audit"]["signature"].as_str().unwrap();
        assert_eq!(
            signature.starts_with("valid; method=smime"),
            valid,
            "{address}: {signature}"
        );
        let status = &result["audit"]["revocation"][0];
        assert_eq!(
            status["status"],
            if valid { "good" } else { "revoked" },
            "{result}"
        );
        assert!(
            status["detail"].as_str().unwrap().contains("sub.crl"),
            "{result}"
        );
    }

    // A configuration that cannot be used does not load: exit 3.
    let message = signed_by(revoked, d);
    for (section, says) in [
        ("[revocation]\ncrls = [\"missing.crl\"]\n", "missing.crl"),
        ("[revocation]\ncrls = [\"policy.toml\"]\n", "policy.toml"),
        ("[revocation]\ninbound = \"strict\"\n", "strict"),
    ] {
        write_config(d, section);
        let output = process(d, &message, revoked, "out-wrong");
        assert_eq!(output.status.code(), Some(3), "{section}: {output:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains(says),
            "{section}: {output:?}"
        );
    }
}
