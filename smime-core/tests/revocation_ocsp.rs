//! OCSP against OpenSSL's responder (`openssl ocsp -index ... -port 0`,
//! started on the loopback interface by each test and killed at its end),
//! acting as the testkit intermediate: revoked and good certificates, a
//! delegated responder with and without id-kp-OCSPSigning, a responder
//! signing with another CA's key, a responder that is down, the cache.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use smime_core::revocation::{HttpOcsp, Responders, StatusOutcome, StatusSource};
use smime_core::{
    Crl, Revocation, RevocationMode, SignatureForm, SignatureStatus, Verdict, Verification,
};
use testkit::{KeyKind, OpensslCa, pki};

fn signed_by(address: &str) -> Vec<u8> {
    let message = format!("From: {address}\r\nTo: bob@example.net\r\nSubject: hi\r\n\r\nHello\r\n");
    common::signer(address, KeyKind::P256)
        .sign_message(message.as_bytes(), SignatureForm::Detached)
        .unwrap()
}

/// The intermediate run by OpenSSL with `revoked@` revoked and `good@`
/// recorded valid, and the root's CRL (so the intermediate's own status is
/// known without a second responder).
fn ca() -> (OpensslCa, Vec<Crl>) {
    let ca = OpensslCa::new(pki().intermediate());
    ca.revoke(
        &pki()
            .smime("ocsp-revoked@example.org", KeyKind::P256)
            .certificate_pem(),
        "keyCompromise",
    );
    ca.record_valid(
        &pki()
            .smime("ocsp-good@example.org", KeyKind::P256)
            .certificate_pem(),
    );
    let root = OpensslCa::new(pki().root());
    let crls = Crl::load(&root.crl_der(), "root.crl").unwrap();
    (ca, crls)
}

fn verify_with(url: &str, crls: &[Crl], mode: RevocationMode, message: &[u8]) -> Verification {
    let ocsp = HttpOcsp::http(Responders::Fixed(url.to_owned()), Duration::from_secs(5));
    verify_with_source(Arc::new(ocsp), crls, mode, message)
}

fn verify_with_source(
    ocsp: Arc<HttpOcsp>,
    crls: &[Crl],
    mode: RevocationMode,
    message: &[u8],
) -> Verification {
    common::verifier()
        .with_revocation(
            Revocation::new(mode)
                .with_crls(crls.to_vec())
                .with_source(ocsp),
        )
        .verify_message(message)
        .unwrap()
}

#[test]
fn openssl_responder_says_revoked_and_good() {
    let (ca, crls) = ca();
    let responder = ca.ocsp_responder();
    let url = responder.url();
    for mode in [RevocationMode::Require, RevocationMode::Prefer] {
        let report = verify_with(&url, &crls, mode, &signed_by("ocsp-revoked@example.org"));
        assert_eq!(report.verdict(), Verdict::Invalid, "{mode}");
        match &report.signers()[0].status {
            SignatureStatus::Revoked { by, reason, .. } => {
                assert_eq!(by, &format!("OCSP {url}"));
                assert_eq!(*reason, Some("keyCompromise"));
            }
            other => panic!("{other:?}"),
        }
    }
    let report = verify_with(
        &url,
        &crls,
        RevocationMode::Require,
        &signed_by("ocsp-good@example.org"),
    );
    assert_eq!(report.verdict(), Verdict::SignedByFrom);
    match &report.signers()[0].revocation[0].outcome {
        StatusOutcome::Good {
            source:
                StatusSource::Ocsp {
                    responder,
                    next_update,
                    ..
                },
        } => {
            assert_eq!(responder, &url);
            assert!(next_update.is_some(), "-nmin 60 gives a nextUpdate");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn responder_that_does_not_know_the_certificate_gives_no_status() {
    let (ca, crls) = ca();
    let responder = ca.ocsp_responder();
    // Not in the index: OpenSSL answers "unknown".
    let report = verify_with(
        &responder.url(),
        &crls,
        RevocationMode::Require,
        &signed_by("ocsp-stranger@example.org"),
    );
    assert!(matches!(
        report.signers()[0].status,
        SignatureStatus::RevocationUnknown { .. }
    ));
    match &report.signers()[0].revocation[0].outcome {
        StatusOutcome::Unknown { reasons } => {
            assert!(reasons[0].contains("status unknown"), "{reasons:?}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn delegated_responder_needs_ocsp_signing() {
    let (ca, crls) = ca();
    let (cert, key) = ca.issue_responder("delegate", true);
    let responder = ca.start_responder(&cert, &key);
    let report = verify_with(
        &responder.url(),
        &crls,
        RevocationMode::Require,
        &signed_by("ocsp-revoked@example.org"),
    );
    assert!(
        matches!(report.signers()[0].status, SignatureStatus::Revoked { .. }),
        "{:?}",
        report.signers()[0].status
    );
    let report = verify_with(
        &responder.url(),
        &crls,
        RevocationMode::Require,
        &signed_by("ocsp-good@example.org"),
    );
    assert_eq!(report.verdict(), Verdict::SignedByFrom);
    drop(responder);

    // The same, without id-kp-OCSPSigning: its word counts for nothing.
    let (cert, key) = ca.issue_responder("impostor", false);
    let responder = ca.start_responder(&cert, &key);
    let report = verify_with(
        &responder.url(),
        &crls,
        RevocationMode::Prefer,
        &signed_by("ocsp-good@example.org"),
    );
    assert!(report.revocation_unknown());
    match &report.signers()[0].revocation[0].outcome {
        StatusOutcome::Unknown { reasons } => {
            assert!(reasons[0].contains("OCSPSigning"), "{reasons:?}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn responder_signing_with_another_cas_key_is_refused() {
    let (ca, crls) = ca();
    // The root's certificate and key, answering for the intermediate's
    // certificates: a CA, but not this certificate's CA.
    let root = OpensslCa::new(pki().root());
    let responder = ca.start_responder(&root.certificate_path(), &root.dir().join("ca.key.pem"));
    let report = verify_with(
        &responder.url(),
        &crls,
        RevocationMode::Require,
        &signed_by("ocsp-good@example.org"),
    );
    assert_eq!(report.verdict(), Verdict::Invalid);
    match &report.signers()[0].revocation[0].outcome {
        StatusOutcome::Unknown { reasons } => {
            assert!(reasons[0].contains("unauthorised"), "{reasons:?}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn responder_down_is_unknown_and_the_cache_answers_until_next_update() {
    let (ca, crls) = ca();
    let mut responder = ca.ocsp_responder();
    let url = responder.url();
    let ocsp = Arc::new(HttpOcsp::http(
        Responders::Fixed(url.clone()),
        Duration::from_secs(5),
    ));
    let good = signed_by("ocsp-good@example.org");
    let report = verify_with_source(ocsp.clone(), &crls, RevocationMode::Require, &good);
    assert_eq!(report.verdict(), Verdict::SignedByFrom);
    responder.stop();

    // A fresh client: nothing cached, nobody answers.
    let report = verify_with(&url, &crls, RevocationMode::Prefer, &good);
    assert_eq!(report.verdict(), Verdict::SignedByFrom);
    assert!(report.revocation_unknown());
    let report = verify_with(&url, &crls, RevocationMode::Require, &good);
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert!(matches!(
        report.signers()[0].status,
        SignatureStatus::RevocationUnknown { .. }
    ));

    // The first client still has the answer, marked as cached.
    let report = verify_with_source(ocsp, &crls, RevocationMode::Require, &good);
    assert_eq!(report.verdict(), Verdict::SignedByFrom);
    match &report.signers()[0].revocation[0].outcome {
        StatusOutcome::Good {
            source: StatusSource::Ocsp { cached, .. },
        } => assert!(cached),
        other => panic!("{other:?}"),
    }
}
