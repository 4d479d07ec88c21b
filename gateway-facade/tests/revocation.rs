//! S/MIME revocation in the gateway (issue 19), against what OpenSSL makes:
//! `openssl ca -gencrl` CRLs and an `openssl ocsp` responder revoke testkit
//! certificates. The gateway is built from a `mailgate.toml` with a
//! `[revocation]` section, as an operator would write it.
//!
//! Outbound: a revoked recipient certificate is never encrypted to (the
//! policy requires encryption, so the recipient is refused, not sent in
//! clear); an unrevoked one is. A responder that is down: `prefer` uses
//! the certificate and records the unknown status, `require` defers.
//! Inbound: a signature by a revoked signer is not `valid`; with the
//! responder down, `prefer` says `warning=revocation-unknown`, `require`
//! makes it invalid.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use common::*;
use gateway_facade::store::TrustState;
use gateway_facade::{Disposition, Envelope, Error, Gateway, Outcome};
use testkit::openssl::{self, MailHeaders};
use testkit::{OpensslCa, gateway_dir, pki};

const POLICY: &str = r#"
[policy]
name = "revocation"
internal_domains = ["behoerde.example"]

[[rules]]
id = "confidential"
when = { direction = "outbound", subject_tag = "[vertraulich]" }
then = { encrypt = "required", methods = ["smime"], fallback = "block", notify_sender = "no-key" }

[[domain."pgp.example".rules]]
id = "either"
when = { direction = "outbound", subject_tag = "[vertraulich]" }
then = { encrypt = "required", methods = ["smime", "pgp"], fallback = "block", notify_sender = "no-key" }

[default]
then = { deliver = true }
"#;

/// A configuration directory: the policy, the intermediate CA (which
/// issues the testkit S/MIME certificates and which `OpensslCa` operates)
/// as the S/MIME anchor, and `revocation` as the `[revocation]` section.
fn gateway_with(dir: &Path, revocation: &str) -> Result<Gateway, Error> {
    gateway_trusting(dir, "smime_anchors = [\"ca.pem\"]\n", revocation)
}

/// The same with `trust` as the `[trust]` section (`ca.pem` is the
/// intermediate, `root.pem` the root).
fn gateway_trusting(dir: &Path, trust: &str, revocation: &str) -> Result<Gateway, Error> {
    let config = gateway_dir::write(dir, POLICY, trust, revocation).unwrap();
    Gateway::from_config_file(&config)
}

fn confidential(to: &str) -> Vec<u8> {
    mail(
        "alice@behoerde.example",
        to,
        "[Vertraulich] Akte 7",
        "Streng geheimer Inhalt",
    )
}

fn send(gateway: &Gateway, to: &str) -> Outcome {
    gateway.process(
        &Envelope::outbound("alice@behoerde.example", [to]),
        &confidential(to),
    )
}

/// The recipient certificate statuses the audit record names.
fn audit_statuses(outcome: &Outcome) -> Vec<String> {
    audit_notes(outcome)
        .into_iter()
        .map(|(status, _)| status)
        .collect()
}

fn assert_rejected(outcome: &Outcome) {
    assert_eq!(outcome.dispositions.len(), 1, "{outcome:?}");
    assert!(
        matches!(outcome.dispositions[0], Disposition::Reject { .. }),
        "{outcome:?}"
    );
}

#[test]
fn a_recipient_certificate_revoked_in_an_openssl_crl_is_not_encrypted_to() {
    let dir = tempfile::tempdir().unwrap();
    let ca = OpensslCa::new(pki().intermediate());
    let revoked = smime("bob.crl@partner.example");
    let good = smime("carol.crl@partner.example");
    ca.revoke(&revoked.certificate_pem(), "keyCompromise");
    std::fs::write(dir.path().join("ca.crl"), ca.crl_pem()).unwrap();
    // The defaults of a [revocation] section: prefer both ways, OCSP from
    // the certificates (the testkit certificates name no responder).
    let gateway = gateway_with(dir.path(), "[revocation]\ncrls = [\"ca.crl\"]\n").unwrap();
    for identity in [&revoked, &good] {
        trust_smime(gateway.directory(), identity, TrustState::Trusted);
    }

    let outcome = send(&gateway, "bob.crl@partner.example");
    assert_rejected(&outcome);
    assert_eq!(audit_statuses(&outcome), ["revoked"], "{}", outcome.audit);
    assert!(outcome.audit.to_string().contains("ca.crl"));

    let outcome = send(&gateway, "carol.crl@partner.example");
    assert_encrypted(&outcome);
    assert_eq!(audit_statuses(&outcome), ["good"], "{}", outcome.audit);
}

#[test]
fn a_recipient_certificate_revoked_at_the_ocsp_responder_is_not_encrypted_to() {
    let dir = tempfile::tempdir().unwrap();
    let ca = OpensslCa::new(pki().intermediate());
    let revoked = smime("bob.ocsp@partner.example");
    let good = smime("carol.ocsp@partner.example");
    ca.revoke(&revoked.certificate_pem(), "keyCompromise");
    ca.record_valid(&good.certificate_pem());
    let responder = ca.ocsp_responder();
    let gateway = gateway_with(
        dir.path(),
        &format!(
            "[revocation]\noutbound = \"require\"\nocsp = \"{}\"\n",
            responder.url()
        ),
    )
    .unwrap();
    for identity in [&revoked, &good] {
        trust_smime(gateway.directory(), identity, TrustState::Trusted);
    }

    let outcome = send(&gateway, "bob.ocsp@partner.example");
    assert_rejected(&outcome);
    assert_eq!(audit_statuses(&outcome), ["revoked"], "{}", outcome.audit);

    let outcome = send(&gateway, "carol.ocsp@partner.example");
    assert_encrypted(&outcome);
    assert_eq!(audit_statuses(&outcome), ["good"], "{}", outcome.audit);
}

#[test]
fn a_responder_that_is_down_defers_under_require_and_is_a_finding_under_prefer() {
    let dir = tempfile::tempdir().unwrap();
    let ca = OpensslCa::new(pki().intermediate());
    let dave = smime("dave.down@partner.example");
    ca.record_valid(&dave.certificate_pem());
    let mut responder = ca.ocsp_responder();
    let url = responder.url();
    responder.stop();

    let require = tempfile::tempdir().unwrap();
    let gateway = gateway_with(
        require.path(),
        &format!("[revocation]\noutbound = \"require\"\nocsp = \"{url}\"\nocsp_timeout = 2\n"),
    )
    .unwrap();
    trust_smime(gateway.directory(), &dave, TrustState::Trusted);
    let outcome = send(&gateway, "dave.down@partner.example");
    assert_eq!(outcome.dispositions.len(), 1, "{outcome:?}");
    assert!(
        matches!(&outcome.dispositions[0], Disposition::Defer { reason, .. } if reason.contains("revocation")),
        "require with the responder down must defer, not send or refuse: {outcome:?}"
    );

    let gateway = gateway_with(
        dir.path(),
        &format!("[revocation]\noutbound = \"prefer\"\nocsp = \"{url}\"\nocsp_timeout = 2\n"),
    )
    .unwrap();
    trust_smime(gateway.directory(), &dave, TrustState::Trusted);
    let outcome = send(&gateway, "dave.down@partner.example");
    assert_encrypted(&outcome);
    assert_eq!(audit_statuses(&outcome), ["unknown"], "{}", outcome.audit);
}

fn openssl_signed(from: &str, dir: &Path) -> Vec<u8> {
    let signer = smime(from).write_to(dir, "signer").unwrap();
    openssl::cms_sign_mail(
        dir,
        &signer,
        &MailHeaders {
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

fn receive(gateway: &Gateway, message: &[u8]) -> Outcome {
    gateway.process(
        &Envelope::inbound("x@partner.example", ["alice@behoerde.example"]),
        message,
    )
}

#[test]
fn mail_signed_by_a_revoked_signer_is_not_valid_and_an_unrevoked_one_is() {
    let dir = tempfile::tempdir().unwrap();
    let ca = OpensslCa::new(pki().intermediate());
    let revoked = smime("erin.revoked@partner.example");
    ca.revoke(&revoked.certificate_pem(), "keyCompromise");
    std::fs::write(dir.path().join("ca.crl"), ca.crl_der()).unwrap();
    let gateway = gateway_with(
        dir.path(),
        "[revocation]\ninbound = \"require\"\ncrls = [\"ca.crl\"]\nocsp = \"off\"\n",
    )
    .unwrap();

    let outcome = receive(
        &gateway,
        &openssl_signed("erin.revoked@partner.example", dir.path()),
    );
    let header = signature_header(&outcome);
    assert!(header.starts_with("invalid; method=smime"), "{header}");
    assert!(header.contains("revoked"), "{header}");
    // The audit record names the status and its source.
    let (status, detail) = &audit_notes(&outcome)[0];
    assert_eq!(status, "revoked", "{}", outcome.audit);
    assert!(detail.contains("ca.crl"), "{}", outcome.audit);

    let header = signature_header(&receive(
        &gateway,
        &openssl_signed("frank.good@partner.example", dir.path()),
    ));
    assert_eq!(
        header, "valid; method=smime; signer=frank.good@partner.example",
        "the CRL does not list frank"
    );
}

#[test]
fn an_inbound_signer_with_the_responder_down_is_a_finding_under_prefer_and_invalid_under_require() {
    let dir = tempfile::tempdir().unwrap();
    let ca = OpensslCa::new(pki().intermediate());
    let mut responder = ca.ocsp_responder();
    let url = responder.url();
    responder.stop();
    let message = openssl_signed("gina.down@partner.example", dir.path());

    let gateway = gateway_with(
        dir.path(),
        &format!("[revocation]\ninbound = \"prefer\"\nocsp = \"{url}\"\n"),
    )
    .unwrap();
    let outcome = receive(&gateway, &message);
    let header = signature_header(&outcome);
    assert!(header.starts_with("valid; method=smime"), "{header}");
    assert!(header.contains("warning=revocation-unknown"), "{header}");
    assert_eq!(audit_statuses(&outcome)[0], "unknown", "{}", outcome.audit);

    let strict = tempfile::tempdir().unwrap();
    let gateway = gateway_with(
        strict.path(),
        &format!("[revocation]\ninbound = \"require\"\nocsp = \"{url}\"\n"),
    )
    .unwrap();
    let header = signature_header(&receive(&gateway, &message));
    assert!(header.starts_with("invalid; method=smime"), "{header}");
    assert!(header.contains("unknown"), "{header}");
}

#[test]
fn without_a_revocation_section_nothing_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let ca = OpensslCa::new(pki().intermediate());
    let revoked = smime("hank.unchecked@partner.example");
    ca.revoke(&revoked.certificate_pem(), "keyCompromise");
    let gateway = gateway_with(dir.path(), "").unwrap();
    trust_smime(gateway.directory(), &revoked, TrustState::Trusted);
    let outcome = send(&gateway, "hank.unchecked@partner.example");
    assert_encrypted(&outcome);
    assert!(outcome.audit.revocation.is_none(), "{}", outcome.audit);
}

#[test]
fn a_bad_revocation_section_refuses_the_configuration() {
    for (section, says) in [
        ("[revocation]\ninbound = \"strict\"\n", "strict"),
        ("[revocation]\noutbound = \"maybe\"\n", "maybe"),
        ("[revocation]\nocsp = \"https://ocsp.example\"\n", "http://"),
        ("[revocation]\nocsp_timeout = 0\n", "ocsp_timeout"),
        ("[revocation]\ncrl = [\"a.crl\"]\n", "crl"),
        ("[revocation]\ncrls = [\"missing.crl\"]\n", "missing.crl"),
        ("[revocation]\ncrls = [\"policy.toml\"]\n", "policy.toml"),
        (
            "[revocation]\ninbound = \"off\"\noutbound = \"off\"\ncrls = [\"gone.crl\"]\n",
            "gone.crl",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        match gateway_with(dir.path(), section) {
            Err(error @ Error::Config { .. }) => {
                assert!(error.to_string().contains(says), "{section}: {error}");
            }
            Err(other) => panic!("{section}: not a configuration error: {other}"),
            Ok(_) => panic!("{section}: accepted"),
        }
    }
}

/// Whether `openssl cms -decrypt` opens `message` with `identity`'s key.
fn opens_with(identity: &testkit::Identity, message: &[u8], dir: &Path) -> bool {
    let files = identity.write_to(dir, "try").unwrap();
    openssl::cms_decrypts(dir, &files, message)
}

#[test]
fn of_two_recipient_certificates_only_the_unrevoked_one_is_encrypted_to_in_either_order() {
    let rsa = smime("ida.two@partner.example");
    let ec = pki().smime("ida.two@partner.example", testkit::KeyKind::P256);
    for (revoked, good) in [(&rsa, &ec), (&ec, &rsa)] {
        let dir = tempfile::tempdir().unwrap();
        let ca = OpensslCa::new(pki().intermediate());
        ca.revoke(&revoked.certificate_pem(), "keyCompromise");
        std::fs::write(dir.path().join("ca.crl"), ca.crl_pem()).unwrap();
        // require: the good certificate is known good, so nothing defers.
        let gateway = gateway_with(
            dir.path(),
            "[revocation]\noutbound = \"require\"\ncrls = [\"ca.crl\"]\nocsp = \"off\"\n",
        )
        .unwrap();
        trust_smime(gateway.directory(), &rsa, TrustState::Trusted);
        trust_smime(gateway.directory(), &ec, TrustState::Trusted);
        let outcome = send(&gateway, "ida.two@partner.example");
        assert_encrypted(&outcome);
        let mut statuses = audit_statuses(&outcome);
        statuses.sort();
        assert_eq!(statuses, ["good", "revoked"], "{}", outcome.audit);
        let sent = delivered(&outcome.dispositions[0]);
        assert!(opens_with(good, &sent, dir.path()));
        assert!(
            !opens_with(revoked, &sent, dir.path()),
            "encrypted to the revoked certificate too"
        );
    }
}

#[test]
fn a_recipient_certificate_without_a_path_is_used_under_prefer_and_refused_not_deferred_under_require()
 {
    // Issued by a look-alike intermediate: no path to the configured
    // anchor, so no issuer to ask about it, now or later.
    let stranger = pki().smime_variant(
        "jan.nopath@partner.example",
        testkit::KeyKind::Rsa2048,
        testkit::Variant::LookAlike,
    );
    for (mode, encrypted) in [("prefer", true), ("require", false)] {
        let dir = tempfile::tempdir().unwrap();
        let gateway = gateway_with(
            dir.path(),
            &format!("[revocation]\noutbound = \"{mode}\"\nocsp = \"off\"\n"),
        )
        .unwrap();
        trust_smime(gateway.directory(), &stranger, TrustState::Trusted);
        let outcome = send(&gateway, "jan.nopath@partner.example");
        if encrypted {
            assert_encrypted(&outcome);
        } else {
            assert_rejected(&outcome);
        }
        assert_eq!(
            audit_statuses(&outcome),
            ["unknown"],
            "{mode}: {}",
            outcome.audit
        );
    }
}

#[test]
fn configured_intermediates_complete_the_path_and_every_ca_on_it_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let intermediate = OpensslCa::new(pki().intermediate());
    let root = OpensslCa::new(pki().root());
    let revoked = smime("kai.chain@partner.example");
    let good = smime("lea.chain@partner.example");
    intermediate.revoke(&revoked.certificate_pem(), "keyCompromise");
    std::fs::write(dir.path().join("sub.crl"), intermediate.crl_pem()).unwrap();
    std::fs::write(dir.path().join("root.crl"), root.crl_der()).unwrap();
    let trust = "smime_anchors = [\"root.pem\"]\nsmime_intermediates = [\"ca.pem\"]\n";
    let gateway = gateway_trusting(
        dir.path(),
        trust,
        "[revocation]\noutbound = \"require\"\ncrls = [\"sub.crl\", \"root.crl\"]\nocsp = \"off\"\n",
    )
    .unwrap();
    for identity in [&revoked, &good] {
        trust_smime(gateway.directory(), identity, TrustState::Trusted);
    }
    let outcome = send(&gateway, "kai.chain@partner.example");
    assert_rejected(&outcome);
    assert_eq!(audit_statuses(&outcome), ["revoked"], "{}", outcome.audit);
    let outcome = send(&gateway, "lea.chain@partner.example");
    assert_encrypted(&outcome);
    assert_eq!(audit_statuses(&outcome), ["good"], "{}", outcome.audit);

    // Without the root's CRL the intermediate's status is unknown: under
    // require the recipient waits, it is neither encrypted to nor refused.
    let strict = tempfile::tempdir().unwrap();
    std::fs::write(strict.path().join("sub.crl"), intermediate.crl_pem()).unwrap();
    let gateway = gateway_trusting(
        strict.path(),
        trust,
        "[revocation]\noutbound = \"require\"\ncrls = [\"sub.crl\"]\nocsp = \"off\"\n",
    )
    .unwrap();
    trust_smime(gateway.directory(), &good, TrustState::Trusted);
    let outcome = send(&gateway, "lea.chain@partner.example");
    assert!(
        matches!(&outcome.dispositions[..], [Disposition::Defer { .. }]),
        "{outcome:?}"
    );
}

#[test]
fn whichever_of_a_recipients_certificates_are_revoked_none_of_them_is_encrypted_to() {
    // Every subset of three certificates for one address revoked: the mail
    // opens with an unrevoked one's key and with no revoked one's, or, all
    // revoked, is refused (the policy requires encryption), never sent in
    // clear.
    let address = "ole.many@partner.example";
    let identities = [
        pki().smime(address, testkit::KeyKind::Rsa2048),
        pki().smime(address, testkit::KeyKind::P256),
        pki().smime(address, testkit::KeyKind::Rsa3072),
    ];
    for subset in 0u8..8 {
        let dir = tempfile::tempdir().unwrap();
        let ca = OpensslCa::new(pki().intermediate());
        let revoked = |i: usize| subset & (1 << i) != 0;
        for (i, identity) in identities.iter().enumerate() {
            if revoked(i) {
                ca.revoke(&identity.certificate_pem(), "superseded");
            }
        }
        std::fs::write(dir.path().join("ca.crl"), ca.crl_pem()).unwrap();
        let gateway = gateway_with(
            dir.path(),
            "[revocation]\ncrls = [\"ca.crl\"]\nocsp = \"off\"\n",
        )
        .unwrap();
        for identity in &identities {
            trust_smime(gateway.directory(), identity, TrustState::Trusted);
        }
        let outcome = send(&gateway, address);
        if subset == 0b111 {
            assert_rejected(&outcome);
            continue;
        }
        assert_encrypted(&outcome);
        let sent = delivered(&outcome.dispositions[0]);
        for (i, identity) in identities.iter().enumerate() {
            if revoked(i) {
                assert!(
                    !opens_with(identity, &sent, dir.path()),
                    "subset {subset:03b}: encrypted to revoked certificate {i}"
                );
            }
        }
        assert!(
            (0..3).any(|i| !revoked(i) && opens_with(&identities[i], &sent, dir.path())),
            "subset {subset:03b}: no unrevoked certificate opens it"
        );
    }
}

#[test]
fn a_recipient_whose_smime_certificate_is_revoked_gets_the_mail_by_openpgp() {
    let dir = tempfile::tempdir().unwrap();
    let address = "paul.both@pgp.example";
    let certificate = smime(address);
    let ca = OpensslCa::new(pki().intermediate());
    ca.revoke(&certificate.certificate_pem(), "keyCompromise");
    std::fs::write(dir.path().join("ca.crl"), ca.crl_pem()).unwrap();
    let gateway = gateway_with(dir.path(), "[revocation]\ncrls = [\"ca.crl\"]\n").unwrap();
    trust_smime(gateway.directory(), &certificate, TrustState::Trusted);
    trust_pgp(gateway.directory(), &pgp(address), TrustState::Trusted);
    let outcome = send(&gateway, address);
    assert_eq!(outcome.dispositions.len(), 1, "{outcome:?}");
    let sent = delivered(&outcome.dispositions[0]);
    let text = String::from_utf8_lossy(&sent);
    assert!(
        !text.contains("Streng geheimer Inhalt"),
        "clear text: {text}"
    );
    assert!(text.contains("application/pgp-encrypted"), "{text}");
    assert!(!opens_with(&certificate, &sent, dir.path()));
    let home = gpg_home(&[&pgp(address)]);
    let opened = gpg_decrypt(&home, payload_of_pgp_mime(&sent).as_slice());
    assert!(String::from_utf8_lossy(&opened).contains("Streng geheimer Inhalt"));
    assert_eq!(audit_statuses(&outcome), ["revoked"], "{}", outcome.audit);
}

#[test]
fn a_responder_that_never_answers_costs_one_timeout_not_one_per_mail() {
    // Accepts connections (the kernel's backlog does) and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", silent.local_addr().unwrap());
    let dir = tempfile::tempdir().unwrap();
    let quinn = smime("quinn.silent@partner.example");
    let gateway = gateway_with(
        dir.path(),
        &format!("[revocation]\noutbound = \"prefer\"\nocsp = \"{url}\"\nocsp_timeout = 1\n"),
    )
    .unwrap();
    trust_smime(gateway.directory(), &quinn, TrustState::Trusted);

    let started = std::time::Instant::now();
    let first = send(&gateway, "quinn.silent@partner.example");
    let first_took = started.elapsed();
    assert_encrypted(&first);
    assert_eq!(audit_statuses(&first), ["unknown"], "{}", first.audit);
    assert!(
        first_took >= std::time::Duration::from_millis(900),
        "{first_took:?}"
    );

    let started = std::time::Instant::now();
    let second = send(&gateway, "quinn.silent@partner.example");
    let second_took = started.elapsed();
    assert_encrypted(&second);
    assert_eq!(audit_statuses(&second), ["unknown"], "{}", second.audit);
    assert!(
        second_took < std::time::Duration::from_millis(600),
        "the failed request was repeated: {second_took:?}"
    );
    drop(silent);
}
