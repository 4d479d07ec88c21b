//! CRLs from the certificate's distribution point, downloaded over HTTP
//! (`HttpCrl`) from a loopback server the test starts (testkit's
//! `HttpServer`), made by OpenSSL (`openssl ca -gencrl`) acting as the
//! testkit intermediate, for certificates OpenSSL issued with a
//! cRLDistributionPoints extension naming that server: revoked and good,
//! the cache until nextUpdate, a CRL of another CA, and responses that are
//! garbage or larger than the limit (unknown, with the reason, per mode;
//! the failed download remembered).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use smime_core::revocation::crl_dp::MAX_CRL;
use smime_core::revocation::{HttpCrl, StatusOutcome, crl_dp};
use smime_core::{
    Certificate, Crl, PrivateKey, Revocation, RevocationMode, SignatureForm, SignatureStatus,
    Signer, Verdict, Verification,
};
use testkit::{HttpServer, OpensslCa, pki};

const CRL_PATH: &str = "/intermediate.crl";

/// A message from `address` signed with the OpenSSL-made certificate and
/// key, the intermediate as chain.
fn signed(address: &str, certificate: &Path, key: &Path) -> Vec<u8> {
    let certificate = Certificate::load(&std::fs::read(certificate).unwrap())
        .unwrap()
        .remove(0);
    let key = PrivateKey::load(&std::fs::read(key).unwrap(), None).unwrap();
    let message = format!("From: {address}\r\nTo: bob@example.net\r\nSubject: hi\r\n\r\nHello\r\n");
    Signer::new(certificate, &key)
        .unwrap()
        .with_chain([Certificate::from_der(pki().intermediate().certificate_der()).unwrap()])
        .sign_message(message.as_bytes(), SignatureForm::Detached)
        .unwrap()
}

/// The root's CRL as a file, so the intermediate's own status is known
/// (its certificate has no distribution point).
fn root_crls() -> Vec<Crl> {
    Crl::load(&OpensslCa::new(pki().root()).crl_der(), "root.crl").unwrap()
}

fn verify(source: &Arc<HttpCrl>, mode: RevocationMode, message: &[u8]) -> Verification {
    common::verifier()
        .with_revocation(
            Revocation::new(mode)
                .with_crls(root_crls())
                .with_source(Arc::clone(source) as _),
        )
        .verify_message(message)
        .unwrap()
}

struct Setup {
    server: HttpServer,
    ca: OpensslCa,
    revoked: Vec<u8>,
    good: Vec<u8>,
}

/// The intermediate run by OpenSSL, two certificates naming the server's
/// CRL URL, one of them revoked; nothing served yet.
fn setup() -> Setup {
    let server = HttpServer::start();
    let url = server.url(CRL_PATH);
    let ca = OpensslCa::new(pki().intermediate());
    let (revoked_cert, revoked_key) =
        ca.issue_smime_with_crl_dp("revoked", "dp-revoked@example.org", &[&url]);
    let (good_cert, good_key) = ca.issue_smime_with_crl_dp("good", "dp-good@example.org", &[&url]);
    ca.revoke(
        &std::fs::read_to_string(&revoked_cert).unwrap(),
        "keyCompromise",
    );
    Setup {
        revoked: signed("dp-revoked@example.org", &revoked_cert, &revoked_key),
        good: signed("dp-good@example.org", &good_cert, &good_key),
        server,
        ca,
    }
}

#[test]
fn the_distribution_point_names_the_url_and_testkit_certificates_name_none() {
    let server = HttpServer::start();
    let url = server.url(CRL_PATH);
    let ca = OpensslCa::new(pki().intermediate());
    let (certificate, _) = ca.issue_smime_with_crl_dp(
        "two",
        "dp-two@example.org",
        &[&url, "ldap://ldap.example/cn=CA?certificateRevocationList"],
    );
    let certificate = Certificate::load(&std::fs::read(certificate).unwrap())
        .unwrap()
        .remove(0);
    // The LDAP name is not fetched; the http one is.
    assert_eq!(crl_dp::distribution_points(&certificate), [url]);
    assert!(
        crl_dp::distribution_points(&common::certificate(
            "x@example.org",
            testkit::KeyKind::P256
        ))
        .is_empty()
    );
}

#[test]
fn an_openssl_crl_at_the_distribution_point_revokes_and_passes_and_is_downloaded_once() {
    let s = setup();
    s.server
        .serve(CRL_PATH, "application/pkix-crl", s.ca.crl_der());
    let source = Arc::new(HttpCrl::http(Duration::from_secs(5)));
    let url = s.server.url(CRL_PATH);
    for mode in [RevocationMode::Require, RevocationMode::Prefer] {
        let report = verify(&source, mode, &s.revoked);
        assert_eq!(report.verdict(), Verdict::Invalid, "{mode}");
        match &report.signers()[0].status {
            SignatureStatus::Revoked { by, reason, .. } => {
                assert!(by.starts_with(&format!("CRL {url}")), "{by}");
                assert_eq!(*reason, Some("keyCompromise"));
            }
            other => panic!("{mode}: {other:?}"),
        }
        let report = verify(&source, mode, &s.good);
        assert_eq!(
            report.verdict(),
            Verdict::SignedByFrom,
            "{mode}: {report:?}"
        );
        assert!(!report.revocation_unknown());
        match &report.signers()[0].revocation[0].outcome {
            StatusOutcome::Good { source } => {
                assert_eq!(source.kind(), "crl");
                assert_eq!(source.origin(), url);
                assert!(source.cached(), "{source}");
            }
            other => panic!("{other:?}"),
        }
    }
    // One CRL for both certificates and both modes, until its nextUpdate.
    assert_eq!(s.server.requests(CRL_PATH), 1);
}

#[test]
fn a_pem_crl_is_accepted_too() {
    let s = setup();
    s.server
        .serve(CRL_PATH, "application/x-pem-file", s.ca.crl_pem());
    let source = Arc::new(HttpCrl::http(Duration::from_secs(5)));
    let report = verify(&source, RevocationMode::Require, &s.revoked);
    assert!(matches!(
        report.signers()[0].status,
        SignatureStatus::Revoked { .. }
    ));
}

fn unknown_reasons(report: &Verification) -> String {
    match &report.signers()[0].revocation[0].outcome {
        StatusOutcome::Unknown { reasons } => reasons.join("; "),
        other => panic!("expected unknown, got {other:?}"),
    }
}

/// Garbage, a response above the limit, another CA's CRL, an HTTP error:
/// no status, the reason names the URL and what was wrong; `require`
/// makes the signature invalid, `prefer` valid with the finding; the failed
/// download is not repeated for the next mail.
#[test]
fn garbage_oversize_foreign_and_missing_crls_are_unknown_with_the_reason() {
    let s = setup();
    let url = s.server.url(CRL_PATH);
    let root_crl = OpensslCa::new(pki().root()).crl_der();
    let cases: [(&str, Option<Vec<u8>>, &str); 4] = [
        (
            "garbage",
            Some(b"<html>not a CRL</html>".repeat(20)),
            "not a valid DER-encoded CRL",
        ),
        (
            "oversize",
            Some(vec![0x30; 64 * 1024]),
            "response larger than 4096 bytes",
        ),
        ("foreign", Some(root_crl), "issued by"),
        ("missing", None, "HTTP status 404"),
    ];
    for (name, body, expected) in cases {
        let path = format!("/{name}.crl");
        let (cert, key) = s.ca.issue_smime_with_crl_dp(
            name,
            &format!("dp-{name}@example.org"),
            &[&s.server.url(&path)],
        );
        if let Some(body) = body {
            s.server.serve(&path, "application/pkix-crl", body);
        }
        let message = signed(&format!("dp-{name}@example.org"), &cert, &key);
        let source = Arc::new(HttpCrl::http_with_limit(Duration::from_secs(5), 4096));

        let report = verify(&source, RevocationMode::Prefer, &message);
        assert_eq!(
            report.verdict(),
            Verdict::SignedByFrom,
            "{name}: {report:?}"
        );
        assert!(report.revocation_unknown(), "{name}");
        let reasons = unknown_reasons(&report);
        assert!(reasons.contains(expected), "{name}: {reasons}");
        assert!(reasons.contains(&s.server.url(&path)), "{name}: {reasons}");

        let report = verify(&source, RevocationMode::Require, &message);
        assert_eq!(report.verdict(), Verdict::Invalid, "{name}");
        assert!(
            matches!(
                report.signers()[0].status,
                SignatureStatus::RevocationUnknown { .. }
            ),
            "{name}: {:?}",
            report.signers()[0].status
        );
        // The second mail got the remembered failure, no second download.
        assert_eq!(s.server.requests(&path), 1, "{name}");
    }
    // The good URL was never asked by these.
    assert_eq!(s.server.requests(CRL_PATH), 0, "{url}");
}

#[test]
fn a_crl_that_is_too_large_for_the_default_limit_is_refused() {
    let s = setup();
    s.server
        .serve(CRL_PATH, "application/pkix-crl", vec![0x30; MAX_CRL + 1]);
    let source = Arc::new(HttpCrl::http(Duration::from_secs(5)));
    let report = verify(&source, RevocationMode::Prefer, &s.good);
    let reasons = unknown_reasons(&report);
    assert!(
        reasons.contains(&format!("response larger than {} bytes", MAX_CRL)),
        "{reasons}"
    );
}

#[test]
fn a_server_that_never_answers_costs_one_timeout_then_the_memory_answers() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/ca.crl", silent.local_addr().unwrap());
    let ca = OpensslCa::new(pki().intermediate());
    let (cert, key) = ca.issue_smime_with_crl_dp("silent", "dp-silent@example.org", &[&url]);
    let message = signed("dp-silent@example.org", &cert, &key);
    let source = Arc::new(HttpCrl::http(Duration::from_millis(800)));
    let started = std::time::Instant::now();
    let report = verify(&source, RevocationMode::Prefer, &message);
    assert!(started.elapsed() >= Duration::from_millis(700));
    assert!(
        unknown_reasons(&report).contains("no answer within"),
        "{}",
        unknown_reasons(&report)
    );
    let started = std::time::Instant::now();
    let report = verify(&source, RevocationMode::Prefer, &message);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert!(report.revocation_unknown());
    drop(silent);
}
