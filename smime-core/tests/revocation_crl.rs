//! CRLs made by OpenSSL (`openssl ca -revoke`, `openssl ca -gencrl`,
//! acting as the testkit CAs) against signatures made by testkit
//! identities: a revoked certificate never makes a signature valid, in
//! `require` and `prefer` mode; an unusable CRL (tampered, expired, not yet
//! valid, another CA's) gives no status.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::time::{Duration, SystemTime};

use smime_core::revocation::{RevocationError, StatusOutcome};
use smime_core::{
    Crl, Revocation, RevocationMode, SignatureForm, SignatureStatus, Verdict, Verification,
};
use testkit::{KeyKind, OpensslCa, pki};

const MESSAGE: &[u8] =
    b"From: alice@example.org\r\nTo: bob@example.net\r\nSubject: hi\r\n\r\nHello\r\n";

fn signed_by(address: &str, kind: KeyKind) -> Vec<u8> {
    let message = String::from_utf8_lossy(MESSAGE).replace("alice@example.org", address);
    common::signer(address, kind)
        .sign_message(message.as_bytes(), SignatureForm::Detached)
        .unwrap()
}

fn verify(message: &[u8], revocation: Revocation) -> Verification {
    common::verifier()
        .with_revocation(revocation)
        .verify_message(message)
        .unwrap()
}

/// The two CAs run by OpenSSL, with `revoked` revoked by the intermediate,
/// and both CRLs (the intermediate's as DER, the root's as PEM).
fn crls_revoking(revoked: &[&str]) -> Vec<Crl> {
    let intermediate = OpensslCa::new(pki().intermediate());
    for address in revoked {
        let id = pki().smime(address, KeyKind::P256);
        intermediate.revoke(&id.certificate_pem(), "keyCompromise");
    }
    let root = OpensslCa::new(pki().root());
    let mut crls = Crl::load(&intermediate.crl_der(), "intermediate.crl").unwrap();
    crls.extend(Crl::load(&root.crl_pem(), "root.crl.pem").unwrap());
    crls
}

#[test]
fn openssl_crl_revokes_signer_in_require_and_prefer() {
    let crls = crls_revoking(&["revoked-crl@example.org"]);
    let signed = signed_by("revoked-crl@example.org", KeyKind::P256);
    for mode in [RevocationMode::Require, RevocationMode::Prefer] {
        let report = verify(&signed, Revocation::new(mode).with_crls(crls.clone()));
        assert_eq!(report.verdict(), Verdict::Invalid, "{mode}");
        let signer = &report.signers()[0];
        match &signer.status {
            SignatureStatus::Revoked { by, reason, .. } => {
                assert_eq!(by, "CRL intermediate.crl");
                assert_eq!(*reason, Some("keyCompromise"));
            }
            other => panic!("{mode}: {other:?}"),
        }
        assert!(matches!(
            signer.revocation[0].outcome,
            StatusOutcome::Revoked { .. }
        ));
    }
    // Off: nothing is checked (the caller asked for that).
    let report = verify(
        &signed,
        Revocation::new(RevocationMode::Off).with_crls(crls),
    );
    assert_eq!(report.verdict(), Verdict::SignedByFrom);
}

#[test]
fn openssl_crl_lets_unrevoked_signer_pass() {
    let crls = crls_revoking(&["revoked-other@example.org"]);
    for kind in [KeyKind::P256, KeyKind::Rsa2048] {
        let signed = signed_by("good-crl@example.org", kind);
        let report = verify(
            &signed,
            Revocation::new(RevocationMode::Require).with_crls(crls.clone()),
        );
        assert_eq!(report.verdict(), Verdict::SignedByFrom, "{kind:?}");
        assert!(!report.revocation_unknown());
        let statuses = &report.signers()[0].revocation;
        assert_eq!(statuses.len(), 2, "end entity and intermediate");
        let origins: Vec<_> = statuses
            .iter()
            .map(|s| match &s.outcome {
                StatusOutcome::Good { source } => source.origin().to_owned(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(origins, ["intermediate.crl", "root.crl.pem"]);
    }
}

#[test]
fn root_crl_revokes_the_intermediate() {
    let intermediate = OpensslCa::new(pki().intermediate());
    let root = OpensslCa::new(pki().root());
    root.revoke(&pki().intermediate().certificate_pem(), "cACompromise");
    let mut crls = Crl::load(&intermediate.crl_pem(), "intermediate.crl").unwrap();
    crls.extend(Crl::load(&root.crl_pem(), "root.crl").unwrap());
    let signed = signed_by("under-revoked-ca@example.org", KeyKind::P256);
    let report = verify(
        &signed,
        Revocation::new(RevocationMode::Prefer).with_crls(crls),
    );
    assert_eq!(report.verdict(), Verdict::Invalid);
    match &report.signers()[0].status {
        SignatureStatus::Revoked {
            subject, reason, ..
        } => {
            assert!(subject.contains("Mailgate Test S/MIME CA"), "{subject}");
            assert_eq!(*reason, Some("cACompromise"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_crl_is_unknown_failure_in_require_finding_in_prefer() {
    let signed = signed_by("nobody-knows@example.org", KeyKind::P256);
    let report = verify(&signed, Revocation::new(RevocationMode::Require));
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert!(matches!(
        report.signers()[0].status,
        SignatureStatus::RevocationUnknown { .. }
    ));
    let report = verify(&signed, Revocation::new(RevocationMode::Prefer));
    assert_eq!(report.verdict(), Verdict::SignedByFrom);
    assert!(report.revocation_unknown());
}

fn outcome_with(crls: Vec<Crl>, at: Option<SystemTime>) -> StatusOutcome {
    let signed = signed_by("crl-checks@example.org", KeyKind::P256);
    let mut verifier = common::verifier();
    if let Some(at) = at {
        verifier = verifier.at(at);
    }
    let report = verifier
        .with_revocation(Revocation::new(RevocationMode::Prefer).with_crls(crls))
        .verify_message(&signed)
        .unwrap();
    assert_eq!(report.signers()[0].status, SignatureStatus::Valid);
    report.signers()[0].revocation[0].outcome.clone()
}

fn assert_unknown(outcome: StatusOutcome, expected: &str) {
    match outcome {
        StatusOutcome::Unknown { reasons } => {
            assert!(reasons.iter().any(|r| r.contains(expected)), "{reasons:?}")
        }
        other => panic!("expected unknown ({expected}), got {other:?}"),
    }
}

#[test]
fn tampered_crl_gives_no_status() {
    let intermediate = OpensslCa::new(pki().intermediate());
    let mut der = intermediate.crl_der();
    // The last byte belongs to the signature value.
    *der.last_mut().unwrap() ^= 1;
    let crls = Crl::load(&der, "tampered.crl").unwrap();
    assert_unknown(outcome_with(crls, None), "signature does not verify");
}

#[test]
fn crl_outside_its_validity_gives_no_status() {
    let intermediate = OpensslCa::new(pki().intermediate());
    let crls = Crl::load(&intermediate.crl_der(), "ca.crl").unwrap();
    let day = Duration::from_secs(86_400);
    // openssl ca -gencrl: nextUpdate 30 days on.
    let later = SystemTime::now() + 31 * day;
    assert_unknown(outcome_with(crls.clone(), Some(later)), "expired");
    let earlier = SystemTime::now() - day;
    assert_unknown(outcome_with(crls, Some(earlier)), "not yet valid");
}

#[test]
fn another_cas_crl_is_not_asked() {
    // The root's CRL says nothing about certificates the intermediate issued.
    let root = OpensslCa::new(pki().root());
    let crls = Crl::load(&root.crl_der(), "root.crl").unwrap();
    assert_eq!(
        outcome_with(crls, None),
        StatusOutcome::Unknown { reasons: vec![] }
    );
}

#[test]
fn crl_from_the_wrong_key_is_refused() {
    // The root's key presented as the intermediate's CRL signer.
    let root = OpensslCa::new(pki().root());
    let crl = &Crl::load(&root.crl_der(), "root.crl").unwrap()[0];
    let intermediate =
        smime_core::Certificate::from_der(pki().intermediate().certificate_der()).unwrap();
    assert!(matches!(
        crl.verify_signature(&intermediate),
        Err(RevocationError::WrongIssuer { .. })
    ));
}

#[test]
fn pem_and_der_crls_load_and_garbage_is_refused() {
    let ca = OpensslCa::new(pki().intermediate());
    let id = pki().smime("listed@example.org", KeyKind::P256);
    ca.revoke(&id.certificate_pem(), "superseded");
    let serial = smime_core::Certificate::from_der(id.certificate_der())
        .unwrap()
        .x509()
        .tbs_certificate()
        .serial_number()
        .as_bytes()
        .to_vec();
    for crl in [
        Crl::load(&ca.crl_pem(), "a.pem").unwrap(),
        Crl::load(&ca.crl_der(), "a.der").unwrap(),
    ] {
        assert_eq!(crl.len(), 1);
        assert_eq!(crl[0].revoked_count(), 1);
        assert!(crl[0].lists(&serial));
        assert!(crl[0].issuer_string().contains("Mailgate Test S/MIME CA"));
    }
    assert!(matches!(
        Crl::load(b"not a crl", "x"),
        Err(RevocationError::MalformedCrl { .. })
    ));
    assert!(matches!(
        Crl::load(pki().root().certificate_pem().as_bytes(), "root.pem"),
        Err(RevocationError::NoCrl(_))
    ));
    assert!(matches!(
        Crl::load(b"", "empty"),
        Err(RevocationError::NoCrl(_))
    ));
}

#[test]
fn revoked_recipient_certificate_is_refused_before_encrypting() {
    let crls = crls_revoking(&["revoked-recipient@example.org"]);
    let verifier = common::verifier()
        .with_revocation(Revocation::new(RevocationMode::Require).with_crls(crls));
    let chain =
        [smime_core::Certificate::from_der(pki().intermediate().certificate_der()).unwrap()];
    let revoked = common::certificate("revoked-recipient@example.org", KeyKind::P256);
    assert!(matches!(
        verifier.check_certificate(&revoked, &chain),
        Err(SignatureStatus::Revoked { .. })
    ));
    let good = common::certificate("good-recipient@example.org", KeyKind::P256);
    let statuses = verifier.check_certificate(&good, &chain).unwrap();
    assert_eq!(statuses.len(), 2);
    // Without the intermediate no path, whatever the CRLs say.
    assert!(matches!(
        verifier.check_certificate(&good, &[]),
        Err(SignatureStatus::Untrusted(_))
    ));
    // In require mode without data: unknown is a refusal.
    let bare = common::verifier().with_revocation(Revocation::new(RevocationMode::Require));
    assert!(matches!(
        bare.check_certificate(&good, &chain),
        Err(SignatureStatus::RevocationUnknown { .. })
    ));
}
