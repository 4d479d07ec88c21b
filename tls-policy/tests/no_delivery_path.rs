//! The server's conformance apart from this client's capability (issue 23):
//! OpenSSL servers offering only suites TR-02102-2 allows but rustls does
//! not implement (ECDHE with CBC-SHA256, DHE) conform to `bsi-tr-03108`,
//! judged from the enumeration and the certificate chain it received
//! (chain, name, key size and expiry checked with the same verifier as a
//! rustls session), with the distinct outcome "conforms, but no delivery
//! path for this client". A bad certificate on such a server fails from
//! that chain.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use support::{NAME, Server, Setup, prober};
use testkit::KeyKind;
use tls_policy::{
    Answer, Check, Conformance, DaneState, Dns, DnsError, Handshake, Mx, Observation, Outcome,
    Profile, Report, TlsaRecord,
};

const CBC_SHA256: &str = "ECDHE-RSA-AES128-SHA256";
const DHE: &str = "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-SHA256";

fn server(ciphers: &'static str) -> Server {
    Server::start(&Setup {
        key: KeyKind::Rsa3072,
        max_version: "TLSv1_2",
        ciphers: Some(ciphers),
        dh_params: true,
        ..Setup::default()
    })
}

fn finding<'a>(report: &'a Report, check: &str) -> Vec<&'a tls_policy::Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.check == check)
        .collect()
}

fn outcome(report: &Report, check: &str) -> Outcome {
    let found = finding(report, check);
    assert_eq!(found.len(), 1, "{check}: {report:#?}");
    found[0].outcome
}

fn failed_checks(report: &Report) -> Vec<&'static str> {
    report.failures().map(|finding| finding.check).collect()
}

/// What every conforming server without a delivery path shows: the
/// handshake of this client failed, the certificate from the enumeration
/// was validated, and the report says so.
fn assert_conforms_without_delivery_path(observation: &Observation, report: &Report, suite: &str) {
    assert!(
        matches!(observation.handshake, Handshake::Failed { .. }),
        "{:?}",
        observation.handshake
    );
    assert!(report.conforms, "{report:#?}");
    assert_eq!(report.conformance, Conformance::ConformsWithoutDeliveryPath);
    assert!(report.conformance.server_conforms());
    assert!(!report.conformance.deliverable());
    assert_eq!(observation.validation.chain, Check::Valid);
    assert_eq!(observation.validation.name, Check::Valid);
    assert!(!observation.certificates.is_empty());
    for check in [
        "tls.available",
        "tls.version",
        "tls.suite",
        "tls.forward-secrecy",
        "certificate.chain",
        "certificate.name",
        "tls.group-size",
    ] {
        assert_eq!(
            outcome(report, check),
            Outcome::Pass,
            "{check}: {report:#?}"
        );
    }
    assert!(
        finding(report, "certificate.key-size")
            .iter()
            .all(|f| f.outcome == Outcome::Pass)
    );
    let tls = &finding(report, "tls.available")[0].observed;
    assert!(tls.contains(suite) && tls.contains("enumeration"), "{tls}");
    let path = finding(report, "client.delivery-path");
    assert_eq!(path.len(), 1, "{report:#?}");
    assert_eq!(path[0].outcome, Outcome::Informational);
    assert!(
        path[0].observed.contains("no delivery path") && path[0].observed.contains(suite),
        "{}",
        path[0].observed
    );
    // The facts serialise for `mailgate tls check --json`.
    let json = serde_json::to_value(report).unwrap();
    assert_eq!(json["conformance"], "conforms-without-delivery-path");
}

#[test]
fn cbc_sha256_only_server_conforms_without_delivery_path_chain_and_name_checked() {
    let server = server(CBC_SHA256);
    let (observation, report) = prober(Profile::bsi_tr_03108())
        .check(&server.target())
        .unwrap();
    assert_conforms_without_delivery_path(
        &observation,
        &report,
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    );
    // An allowed curve of the server's offer stands for the session.
    assert_eq!(outcome(&report, "tls.group"), Outcome::Pass);
}

#[test]
fn dhe_only_server_conforms_without_delivery_path_chain_and_name_checked() {
    let server = server(DHE);
    let (observation, report) = prober(Profile::bsi_tr_03108())
        .check(&server.target())
        .unwrap();
    assert_conforms_without_delivery_path(
        &observation,
        &report,
        "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    );
    let size = &finding(&report, "tls.group-size")[0].observed;
    assert!(size.contains("DHE 3072 bits"), "{size}");
    assert_eq!(outcome(&report, "tls.group"), Outcome::NotApplicable);
}

#[test]
fn cbc_sha256_only_server_with_wrong_name_fails_the_name_check_from_the_enumeration_certificate() {
    let server = server(CBC_SHA256);
    let target = server.target().with_name("other.example.test");
    let (observation, report) = prober(Profile::bsi_tr_03108()).check(&target).unwrap();
    assert!(matches!(observation.handshake, Handshake::Failed { .. }));
    assert_eq!(observation.validation.chain, Check::Valid);
    assert!(
        matches!(observation.validation.name, Check::Invalid { .. }),
        "{:?}",
        observation.validation.name
    );
    assert_eq!(failed_checks(&report), ["certificate.name"]);
    assert_eq!(report.conformance, Conformance::DoesNotConform);
}

#[test]
fn self_signed_cbc_sha256_only_server_fails_the_chain_check_from_the_enumeration_certificate() {
    let server = Server::start(&Setup {
        max_version: "TLSv1_2",
        ciphers: Some("ECDHE-ECDSA-AES128-SHA256"),
        self_signed: true,
        ..Setup::default()
    });
    let (observation, report) = prober(Profile::bsi_tr_03108())
        .check(&server.target())
        .unwrap();
    assert!(matches!(observation.handshake, Handshake::Failed { .. }));
    assert_eq!(observation.validation.name, Check::Valid);
    assert_eq!(failed_checks(&report), ["certificate.chain"]);
    let observed = &report.failures().next().unwrap().observed;
    assert!(
        observed.contains("UnknownIssuer") || observed.contains("CaUsedAsEndEntity"),
        "{observed}"
    );
    assert_eq!(report.conformance, Conformance::DoesNotConform);
}

#[test]
fn cbc_sha256_only_server_expired_at_the_check_time_fails_the_chain_from_the_enumeration() {
    let server = server(CBC_SHA256);
    // testkit's server certificates are valid until 2045-01-01; the dated
    // DHE entries do not matter for this ECDHE server.
    let in_2046 = UNIX_EPOCH + Duration::from_secs(2_398_377_600);
    let (_, report) = prober(Profile::bsi_tr_03108())
        .with_check_time(in_2046)
        .check(&server.target())
        .unwrap();
    assert_eq!(failed_checks(&report), ["certificate.chain"], "{report:#?}");
    assert!(
        report
            .failures()
            .next()
            .unwrap()
            .observed
            .contains("Expired")
    );
}

#[test]
fn a_server_whose_allowed_offer_rustls_speaks_is_not_excused() {
    // CBC-SHA1 is not on the profile's list: no allowed offer, so the
    // failed handshake stays a failure and there is no "no delivery path".
    let server = server("ECDHE-RSA-AES128-SHA");
    let (_, report) = prober(Profile::bsi_tr_03108())
        .check(&server.target())
        .unwrap();
    assert_eq!(report.conformance, Conformance::DoesNotConform);
    assert!(failed_checks(&report).contains(&"tls.available"));
    assert!(finding(&report, "client.delivery-path").is_empty());
    // The chain seen by the enumeration is still validated.
    assert_eq!(outcome(&report, "certificate.chain"), Outcome::Pass);
    assert_eq!(outcome(&report, "certificate.name"), Outcome::Pass);
}

/// A resolver with one DNSSEC-secure TLSA answer.
#[derive(Debug)]
struct Tlsa(Vec<TlsaRecord>);

impl Dns for Tlsa {
    fn mx(&self, _: &str) -> Result<Answer<Mx>, DnsError> {
        Ok(Answer::secure(Vec::new()))
    }
    fn tlsa(&self, _: &str) -> Result<Answer<TlsaRecord>, DnsError> {
        Ok(Answer::secure(self.0.clone()))
    }
}

/// `3 0 0` (DANE-EE, full certificate) of a DER certificate.
fn dane_ee(der: &[u8]) -> TlsaRecord {
    let hex: String = der.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("3 0 0 {hex}").parse().unwrap()
}

#[test]
fn dane_is_matched_on_the_chain_the_enumeration_received() {
    let server = server(CBC_SHA256);
    let leaf = testkit::pki()
        .tls_server(NAME, KeyKind::Rsa3072)
        .certificate_der()
        .to_vec();
    let matching = prober(Profile::bsi_tr_03108()).with_dns(Arc::new(Tlsa(vec![dane_ee(&leaf)])));
    let (observation, report) = matching.check(&server.target()).unwrap();
    assert_eq!(
        observation.dane,
        DaneState::Usable {
            records: 1,
            matched: true
        }
    );
    assert_eq!(outcome(&report, "dane.tlsa"), Outcome::Pass, "{report:#?}");
    assert_eq!(report.conformance, Conformance::ConformsWithoutDeliveryPath);

    // Another certificate pinned: DANE fails on the same chain, the server
    // does not conform.
    let other = testkit::pki()
        .tls_server("other.example.test", KeyKind::P256)
        .certificate_der()
        .to_vec();
    let pinned_other =
        prober(Profile::bsi_tr_03108()).with_dns(Arc::new(Tlsa(vec![dane_ee(&other)])));
    let (observation, report) = pinned_other.check(&server.target()).unwrap();
    assert_eq!(
        observation.dane,
        DaneState::Usable {
            records: 1,
            matched: false
        }
    );
    assert_eq!(failed_checks(&report), ["dane.tlsa"]);
    assert_eq!(report.conformance, Conformance::DoesNotConform);
}

#[test]
fn ecdhe_gcm_server_with_only_brainpool_curves_conforms_without_delivery_path() {
    // rustls implements the suite but none of the server's curves
    // (TR-02102-2 allows brainpool).
    let server = Server::start(&Setup {
        max_version: "TLSv1_2",
        ciphers: Some("ECDHE-ECDSA-AES128-GCM-SHA256"),
        groups: Some("brainpoolP256r1"),
        ..Setup::default()
    });
    let (observation, report) = prober(Profile::bsi_tr_03108())
        .check(&server.target())
        .unwrap();
    assert_conforms_without_delivery_path(
        &observation,
        &report,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    );
    let group = &finding(&report, "tls.group")[0];
    assert_eq!(group.outcome, Outcome::Pass);
    assert_eq!(group.observed, "brainpoolP256r1");
}
