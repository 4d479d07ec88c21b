//! CRLs from the recipient certificate's distribution point in the gateway
//! (issue 19): `[revocation] crl_dp` downloads the CRL that OpenSSL made
//! (`openssl ca -gencrl`) from a loopback HTTP server the test starts, for
//! certificates OpenSSL issued naming that server. A revoked recipient
//! certificate is not encrypted to, an unrevoked one is, and a
//! distribution point that serves garbage is a finding under `prefer` and
//! defers under `require`; `crl_dp = false` does not download. Inbound, a
//! signer revoked at its distribution point is not `valid`, a good one is.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use common::*;
use gateway_facade::certificates::smime_entry;
use gateway_facade::store::TrustState;
use gateway_facade::{Disposition, Envelope, Gateway, Outcome};
use smime_core::Certificate;
use testkit::{HttpServer, OpensslCa, gateway_dir, pki};

/// The gateway of `mailgate.toml` with the intermediate as S/MIME anchor
/// and `revocation` as the `[revocation]` section.
fn gateway_with(dir: &Path, revocation: &str) -> Gateway {
    let config = gateway_dir::write(
        dir,
        gateway_dir::CONFIDENTIAL_POLICY,
        "smime_anchors = [\"ca.pem\"]\n",
        revocation,
    )
    .unwrap();
    Gateway::from_config_file(&config).unwrap()
}

fn send(gateway: &Gateway, to: &str, certificate: &Path) -> Outcome {
    let certificate = Certificate::load(&std::fs::read(certificate).unwrap())
        .unwrap()
        .remove(0);
    gateway
        .directory()
        .add(&smime_entry(&certificate, "test"), TrustState::Trusted)
        .unwrap();
    gateway.process(
        &Envelope::outbound("alice@behoerde.example", [to]),
        &mail(
            "alice@behoerde.example",
            to,
            "[Vertraulich] Akte 7",
            "Streng geheimer Inhalt",
        ),
    )
}

#[test]
fn a_recipient_revoked_in_the_crl_at_its_distribution_point_is_not_encrypted_to() {
    let server = HttpServer::start();
    let url = server.url("/ca.crl");
    let ca = OpensslCa::new(pki().intermediate());
    let (revoked, _) = ca.issue_smime_with_crl_dp("revoked", "rita.dp@partner.example", &[&url]);
    let (good, _) = ca.issue_smime_with_crl_dp("good", "gus.dp@partner.example", &[&url]);
    ca.revoke(&std::fs::read_to_string(&revoked).unwrap(), "keyCompromise");
    server.serve("/ca.crl", "application/pkix-crl", ca.crl_der());

    let dir = tempfile::tempdir().unwrap();
    // No crl_dp key: on by default with the section.
    let gateway = gateway_with(
        dir.path(),
        "[revocation]\noutbound = \"require\"\nocsp = \"off\"\n",
    );
    let outcome = send(&gateway, "rita.dp@partner.example", &revoked);
    assert_eq!(outcome.dispositions.len(), 1, "{outcome:?}");
    assert!(
        matches!(outcome.dispositions[0], Disposition::Reject { .. }),
        "{outcome:?}"
    );
    let notes = audit_notes(&outcome);
    assert_eq!(notes.len(), 1, "{}", outcome.audit);
    assert_eq!(notes[0].0, "revoked");
    assert!(notes[0].1.contains(&format!("CRL {url}")), "{notes:?}");

    let outcome = send(&gateway, "gus.dp@partner.example", &good);
    assert_encrypted(&outcome);
    let notes = audit_notes(&outcome);
    assert_eq!(notes[0].0, "good", "{}", outcome.audit);
    assert!(
        notes[0].1.contains(&format!("CRL {url} (cached)")),
        "{notes:?}"
    );
    assert_eq!(server.requests("/ca.crl"), 1);
}

#[test]
fn garbage_at_the_distribution_point_defers_under_require_and_is_a_finding_under_prefer() {
    let server = HttpServer::start();
    let url = server.url("/ca.crl");
    let ca = OpensslCa::new(pki().intermediate());
    let (certificate, _) =
        ca.issue_smime_with_crl_dp("garbage", "gary.dp@partner.example", &[&url]);
    server.serve(
        "/ca.crl",
        "application/pkix-crl",
        b"<html>oops</html>".to_vec(),
    );

    let require = tempfile::tempdir().unwrap();
    let gateway = gateway_with(
        require.path(),
        "[revocation]\noutbound = \"require\"\nocsp = \"off\"\ncrl_dp = true\n",
    );
    let outcome = send(&gateway, "gary.dp@partner.example", &certificate);
    assert_eq!(outcome.dispositions.len(), 1, "{outcome:?}");
    assert!(
        matches!(&outcome.dispositions[0], Disposition::Defer { reason, .. } if reason.contains("revocation")),
        "require with an unusable CRL must defer: {outcome:?}"
    );

    let prefer = tempfile::tempdir().unwrap();
    let gateway = gateway_with(
        prefer.path(),
        "[revocation]\noutbound = \"prefer\"\nocsp = \"off\"\n",
    );
    let outcome = send(&gateway, "gary.dp@partner.example", &certificate);
    assert_encrypted(&outcome);
    let notes = audit_notes(&outcome);
    assert_eq!(notes[0].0, "unknown", "{}", outcome.audit);
    assert!(
        notes[0].1.contains(&url) && notes[0].1.contains("not a valid DER-encoded CRL"),
        "{notes:?}"
    );
}

#[test]
fn with_crl_dp_off_nothing_is_downloaded() {
    let server = HttpServer::start();
    let url = server.url("/ca.crl");
    let ca = OpensslCa::new(pki().intermediate());
    let (certificate, _) = ca.issue_smime_with_crl_dp("off", "olga.dp@partner.example", &[&url]);
    server.serve("/ca.crl", "application/pkix-crl", ca.crl_der());
    let dir = tempfile::tempdir().unwrap();
    let gateway = gateway_with(
        dir.path(),
        "[revocation]\noutbound = \"require\"\nocsp = \"off\"\ncrl_dp = false\n",
    );
    let outcome = send(&gateway, "olga.dp@partner.example", &certificate);
    assert!(
        matches!(&outcome.dispositions[0], Disposition::Defer { .. }),
        "{outcome:?}"
    );
    assert_eq!(server.requests("/ca.crl"), 0);
}

/// Mail from `from` signed by `openssl cms` with the OpenSSL-issued
/// certificate and key, the intermediate as chain.
fn openssl_signed(dir: &Path, from: &str, certificate: &Path, key: &Path) -> Vec<u8> {
    let chain = dir.join("chain.pem");
    std::fs::write(&chain, pki().intermediate().certificate_pem()).unwrap();
    testkit::openssl::cms_sign_mail_with(
        dir,
        certificate,
        key,
        &chain,
        &testkit::openssl::MailHeaders {
            from,
            to: "alice@behoerde.example",
            subject: "Bescheid",
        },
        b"Content-Type: text/plain\r\n\r\nBescheid 12\r\n",
    )
}

/// The `X-Mailgate-Signature` value of the one delivered message.
fn signature_header(outcome: &Outcome) -> String {
    assert_eq!(outcome.dispositions.len(), 1, "{outcome:?}");
    let message = delivered(&outcome.dispositions[0]);
    let text = String::from_utf8_lossy(&message).into_owned();
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    head.lines()
        .find_map(|line| line.strip_prefix("X-Mailgate-Signature: "))
        .unwrap_or_else(|| panic!("no signature header: {head}"))
        .to_owned()
}

#[test]
fn an_inbound_signer_revoked_at_its_distribution_point_is_not_valid_and_a_good_one_is() {
    let server = HttpServer::start();
    let url = server.url("/ca.crl");
    let ca = OpensslCa::new(pki().intermediate());
    let (revoked, revoked_key) =
        ca.issue_smime_with_crl_dp("revoked", "ron.dp@partner.example", &[&url]);
    let (good, good_key) = ca.issue_smime_with_crl_dp("good", "gil.dp@partner.example", &[&url]);
    ca.revoke(&std::fs::read_to_string(&revoked).unwrap(), "keyCompromise");
    server.serve("/ca.crl", "application/pkix-crl", ca.crl_der());
    let dir = tempfile::tempdir().unwrap();
    let gateway = gateway_with(
        dir.path(),
        "[revocation]\ninbound = \"require\"\nocsp = \"off\"\n",
    );
    let receive = |message: &[u8]| {
        gateway.process(
            &Envelope::inbound("x@partner.example", ["alice@behoerde.example"]),
            message,
        )
    };

    let outcome = receive(&openssl_signed(
        dir.path(),
        "ron.dp@partner.example",
        &revoked,
        &revoked_key,
    ));
    let header = signature_header(&outcome);
    assert!(header.starts_with("invalid; method=smime"), "{header}");
    assert!(header.contains("revoked"), "{header}");
    let (status, detail) = &audit_notes(&outcome)[0];
    assert_eq!(status, "revoked", "{}", outcome.audit);
    assert!(detail.contains(&url), "{}", outcome.audit);

    let header = signature_header(&receive(&openssl_signed(
        dir.path(),
        "gil.dp@partner.example",
        &good,
        &good_key,
    )));
    assert_eq!(header, "valid; method=smime; signer=gil.dp@partner.example");
    assert_eq!(server.requests("/ca.crl"), 1, "the CRL is downloaded once");
}
