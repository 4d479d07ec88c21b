//! The verdict, requirement by requirement, on observations built in code.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tls_policy::{
    CertificateSignature, CertificateSummary, Check, CipherSuite, DaneState, Enumeration,
    Handshake, Negotiated, Observation, OfferForwardSecrecy, Outcome, Profile, PublicKey, Report,
    TlsVersion, Transport, Validation, VersionSuites,
};

/// 2026-11-22T12:00:00Z
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_348_800)
}

fn certificate(subject: &str, key: PublicKey, hash: &str) -> CertificateSummary {
    CertificateSummary {
        subject: subject.into(),
        issuer: "CN=Test CA".into(),
        not_before: 1_735_689_600,
        not_after: 2_366_841_600,
        dns_names: vec!["mx.example.test".into()],
        key,
        signature_algorithm: CertificateSignature {
            name: format!("{hash}WithRSAEncryption"),
            hash: Some(hash.into()),
        },
        sha256: "00".repeat(32),
    }
}

/// A server that meets bsi-tr-03108: TLS 1.3, AES-256-GCM, P-256, valid
/// ECDSA P-256 chain with an RSA-3072 CA.
fn compliant() -> Observation {
    Observation {
        host: "mx.example.test".into(),
        port: 25,
        expected_name: "mx.example.test".into(),
        banner: Some("220 mx.example.test ESMTP".into()),
        transport: Transport::Starttls,
        handshake: Handshake::Established(Negotiated {
            version: "TLSv1.3".parse().unwrap(),
            suite: "TLS_AES_256_GCM_SHA384".parse().unwrap(),
            group: Some("secp256r1".parse().unwrap()),
            signature_scheme: Some("ecdsa_secp256r1_sha256".parse().unwrap()),
        }),
        certificates: vec![
            certificate(
                "CN=mx.example.test",
                PublicKey::Ec {
                    curve: "secp256r1".into(),
                    bits: Some(256),
                },
                "sha256",
            ),
            certificate("CN=Test CA", PublicKey::Rsa { bits: 3072 }, "sha256"),
        ],
        validation: Validation {
            chain: Check::Valid,
            name: Check::Valid,
        },
        enumeration: Some(Enumeration {
            versions: vec!["TLSv1.2".parse().unwrap(), "TLSv1.3".parse().unwrap()],
            tls13_suites: vec!["TLS_AES_256_GCM_SHA384".parse().unwrap()],
            tls12_suites: vec!["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384".parse().unwrap()],
            groups: vec!["secp256r1".parse().unwrap()],
            dh_bits: vec![],
            incomplete: vec![],
            ..Enumeration::default()
        }),
        dane: DaneState::NoRecords,
    }
}

fn bsi(observation: &Observation) -> Report {
    Profile::bsi_tr_03108().evaluate(observation, now())
}

/// The single failing finding of a report (asserting there is exactly one).
fn only_failure(report: &Report) -> (String, &'static str, String) {
    let failures: Vec<_> = report.failures().collect();
    assert_eq!(failures.len(), 1, "{failures:#?}");
    assert!(!report.conforms);
    let finding = failures[0];
    (
        finding.requirement.clone(),
        finding.check,
        finding.observed.clone(),
    )
}

fn negotiated(observation: &mut Observation) -> &mut Negotiated {
    match &mut observation.handshake {
        Handshake::Established(negotiated) => negotiated,
        _ => unreachable!(),
    }
}

#[test]
fn compliant_server_conforms_with_a_finding_per_rule() {
    let report = bsi(&compliant());
    assert!(report.conforms, "{report:#?}");
    let checks: Vec<&str> = report.findings.iter().map(|f| f.check).collect();
    for check in [
        "tls.available",
        "tls.version",
        "tls.suite",
        "tls.group",
        "tls.signature-scheme",
        "tls.forward-secrecy",
        "certificate.chain",
        "certificate.name",
        "certificate.key-size",
        "tls.group-size",
        "certificate.signature-hash",
        "dane.tlsa",
    ] {
        assert!(checks.contains(&check), "missing {check}: {checks:?}");
    }
    assert_eq!(report.checked_at, "2026-11-22T12:00:00Z");
    assert_eq!(report.server, "mx.example.test:25");
    let dane = report
        .findings
        .iter()
        .find(|f| f.check == "dane.tlsa")
        .unwrap();
    assert_eq!(dane.outcome, Outcome::NotApplicable);
}

#[test]
fn no_starttls_fails_tls_mandatory() {
    let mut observation = compliant();
    observation.transport = Transport::NoStarttls;
    observation.handshake = Handshake::NotAttempted;
    observation.certificates.clear();
    observation.validation = Validation::not_checked();
    observation.enumeration = None;
    let report = bsi(&observation);
    let (requirement, check, observed) = only_failure(&report);
    assert_eq!(
        (requirement.as_str(), check, observed.as_str()),
        ("TR-03108 4.3.1", "tls.available", "STARTTLS not offered")
    );
}

#[test]
fn tls11_fails_the_version_requirement() {
    let mut observation = compliant();
    let n = negotiated(&mut observation);
    n.version = "TLSv1.1".parse().unwrap();
    n.suite = "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA".parse().unwrap();
    let report = bsi(&observation);
    let failures: Vec<_> = report
        .failures()
        .map(|f| (f.requirement.as_str(), f.check))
        .collect();
    assert_eq!(
        failures,
        vec![
            ("TR-02102-2 3.2", "tls.version"),
            ("TR-02102-2 table 1", "tls.suite")
        ]
    );
}

#[test]
fn chacha20_and_x25519_fail_suite_and_group() {
    let mut observation = compliant();
    negotiated(&mut observation).suite = "TLS_CHACHA20_POLY1305_SHA256".parse().unwrap();
    let (requirement, check, observed) = only_failure(&bsi(&observation));
    assert_eq!(
        (requirement.as_str(), check),
        ("TR-02102-2 table 1", "tls.suite")
    );
    assert!(
        observed.contains("TLS_CHACHA20_POLY1305_SHA256"),
        "{observed}"
    );

    let mut observation = compliant();
    negotiated(&mut observation).group = Some("x25519".parse().unwrap());
    let (requirement, check, observed) = only_failure(&bsi(&observation));
    assert_eq!(
        (requirement.as_str(), check),
        ("TR-02102-2 table 3", "tls.group")
    );
    assert_eq!(observed, "x25519 (not allowed)");
}

#[test]
fn static_rsa_fails_forward_secrecy_and_the_suite_list() {
    let mut observation = compliant();
    let n = negotiated(&mut observation);
    n.version = "TLSv1.2".parse().unwrap();
    n.suite = "TLS_RSA_WITH_AES_128_GCM_SHA256".parse().unwrap();
    n.group = None;
    let report = bsi(&observation);
    let failures: Vec<_> = report.failures().map(|f| f.check).collect();
    assert_eq!(failures, vec!["tls.suite", "tls.forward-secrecy"]);
    let group = report
        .findings
        .iter()
        .find(|f| f.check == "tls.group")
        .unwrap();
    assert_eq!(group.outcome, Outcome::NotApplicable);
}

#[test]
fn pkcs1_sha1_handshake_signature_fails() {
    let mut observation = compliant();
    negotiated(&mut observation).signature_scheme = Some("rsa_pkcs1_sha1".parse().unwrap());
    let (requirement, check, _) = only_failure(&bsi(&observation));
    assert_eq!(
        (requirement.as_str(), check),
        ("TR-02102-2 table 4", "tls.signature-scheme")
    );
}

#[test]
fn invalid_chain_and_wrong_name_fail_06_m() {
    let mut observation = compliant();
    observation.validation.chain = Check::Invalid {
        reason: "UnknownIssuer".into(),
    };
    let (requirement, check, observed) = only_failure(&bsi(&observation));
    assert_eq!(
        (requirement.as_str(), check, observed.as_str()),
        ("TR-03108 06-M", "certificate.chain", "UnknownIssuer")
    );

    let mut observation = compliant();
    observation.validation.name = Check::Invalid {
        reason: "NotValidForName".into(),
    };
    observation.expected_name = "other.example.test".into();
    let (requirement, check, observed) = only_failure(&bsi(&observation));
    assert_eq!(
        (requirement.as_str(), check),
        ("TR-03108 06-M", "certificate.name")
    );
    assert!(
        observed.contains("other.example.test not in certificate names [mx.example.test]"),
        "{observed}"
    );
}

#[test]
fn rsa_2048_fails_key_size_and_rsa_3072_passes() {
    let mut observation = compliant();
    observation.certificates[0].key = PublicKey::Rsa { bits: 2048 };
    let (requirement, check, observed) = only_failure(&bsi(&observation));
    assert_eq!(
        (requirement.as_str(), check),
        ("TR-02102-2 3.6 / TR-03116-4", "certificate.key-size")
    );
    assert!(observed.contains("RSA-2048 (minimum 3000)"), "{observed}");

    observation.certificates[0].key = PublicKey::Rsa { bits: 3072 };
    assert!(bsi(&observation).conforms);

    observation.certificates[0].key = PublicKey::Ec {
        curve: "1.2.3.4".into(),
        bits: None,
    };
    assert_eq!(only_failure(&bsi(&observation)).1, "certificate.key-size");
}

#[test]
fn small_dh_group_fails_group_size() {
    let mut observation = compliant();
    let n = negotiated(&mut observation);
    n.version = "TLSv1.3".parse().unwrap();
    n.group = Some("ffdhe2048".parse().unwrap());
    let failures: Vec<_> = bsi(&observation).failures().map(|f| f.check).collect();
    assert_eq!(failures, vec!["tls.group", "tls.group-size"]);
}

#[test]
fn sha1_certificate_signature_fails() {
    let mut observation = compliant();
    observation.certificates[1].signature_algorithm = CertificateSignature {
        name: "sha1WithRSAEncryption".into(),
        hash: Some("sha1".into()),
    };
    let (requirement, check, observed) = only_failure(&bsi(&observation));
    assert_eq!(
        (requirement.as_str(), check),
        ("TR-03116-4 2.1", "certificate.signature-hash")
    );
    assert_eq!(observed, "CN=Test CA: sha1WithRSAEncryption");
}

#[test]
fn dane_usable_records_must_match_and_bogus_defers() {
    let mut observation = compliant();
    observation.dane = DaneState::Usable {
        records: 2,
        matched: true,
    };
    let report = bsi(&observation);
    assert!(report.conforms);
    let dane = report
        .findings
        .iter()
        .find(|f| f.check == "dane.tlsa")
        .unwrap();
    assert_eq!(dane.outcome, Outcome::Pass);

    observation.dane = DaneState::Usable {
        records: 2,
        matched: false,
    };
    let (_, check, observed) = only_failure(&bsi(&observation));
    assert_eq!(check, "dane.tlsa");
    assert!(observed.contains("do not send"));

    observation.dane = DaneState::Bogus;
    assert_eq!(only_failure(&bsi(&observation)).1, "dane.tlsa");

    observation.dane = DaneState::Insecure;
    assert!(bsi(&observation).conforms);
}

#[test]
fn dane_with_usable_records_and_no_tls_fails_even_opportunistic() {
    let mut observation = compliant();
    observation.transport = Transport::NoStarttls;
    observation.handshake = Handshake::NotAttempted;
    observation.dane = DaneState::Usable {
        records: 1,
        matched: false,
    };
    let report = Profile::opportunistic().evaluate(&observation, now());
    let (requirement, check, observed) = only_failure(&report);
    assert_eq!((requirement.as_str(), check), ("RFC 7672 2.2", "dane.tlsa"));
    assert!(observed.contains("no TLS session"), "{observed}");
}

#[test]
fn weak_options_offered_are_informational_under_4_3_2() {
    let mut observation = compliant();
    let enumeration = observation.enumeration.as_mut().unwrap();
    enumeration.versions.insert(0, "TLSv1.0".parse().unwrap());
    enumeration
        .tls12_suites
        .push("TLS_RSA_WITH_AES_128_CBC_SHA".parse().unwrap());
    enumeration.groups.push("x25519".parse().unwrap());
    enumeration.dh_bits.push(1024);
    let report = bsi(&observation);
    assert!(report.conforms, "{report:#?}");
    let informational: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.outcome == Outcome::Informational && f.check.starts_with("offered."))
        .map(|f| (f.requirement.as_str(), f.observed.as_str()))
        .collect();
    assert_eq!(
        informational,
        vec![
            ("TR-03108 4.3.2", "TLSv1.0 offered"),
            ("TR-03108 4.3.2", "TLS_RSA_WITH_AES_128_CBC_SHA offered"),
            ("TR-03108 4.3.2", "x25519 offered"),
            (
                "TR-03108 4.3.2",
                "DHE with a 1024-bit group offered (minimum 3000)"
            ),
        ]
    );

    // A stricter custom profile makes them failures.
    let mut strict = Profile::bsi_tr_03108();
    strict.offered.as_mut().unwrap().severity = tls_policy::Severity::Fail;
    assert_eq!(strict.evaluate(&observation, now()).failures().count(), 4);
}

#[test]
fn dated_suites_pass_until_their_day_and_fail_after() {
    let mut observation = compliant();
    let n = negotiated(&mut observation);
    n.version = "TLSv1.2".parse().unwrap();
    n.suite = "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384".parse().unwrap();
    n.group = Some("ffdhe3072".parse().unwrap());
    let profile = Profile::bsi_tr_03108();
    let last_day = UNIX_EPOCH + Duration::from_secs(1_893_455_999); // 2029-12-31T23:59:59Z
    assert!(profile.evaluate(&observation, last_day).conforms);
    let after = profile.evaluate(&observation, last_day + Duration::from_secs(1));
    let failures: Vec<_> = after.failures().map(|f| f.observed.as_str()).collect();
    assert_eq!(
        failures,
        vec![
            "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384 (allowed only until 2029-12-31)",
            "ffdhe3072 (allowed only until 2029-12-31)"
        ]
    );
}

#[test]
fn failed_handshake_is_explained_from_the_enumeration() {
    let mut observation = compliant();
    observation.handshake = Handshake::Failed {
        reason: "received fatal alert: HandshakeFailure".into(),
    };
    observation.validation = Validation::not_checked();
    observation.certificates.clear();
    observation.enumeration = Some(Enumeration {
        versions: vec!["TLSv1.2".parse().unwrap()],
        tls12_suites: vec!["TLS_RSA_WITH_AES_128_CBC_SHA".parse().unwrap()],
        ..Enumeration::default()
    });
    let report = bsi(&observation);
    let failure = report.failures().next().unwrap();
    assert_eq!(failure.check, "tls.available");
    assert_eq!(
        failure.observed,
        "handshake failed: received fatal alert: HandshakeFailure; server offers only TLS_RSA_WITH_AES_128_CBC_SHA"
    );

    // CBC with ECDHE is on the BSI list, but rustls cannot speak it: say so.
    observation.enumeration.as_mut().unwrap().tls12_suites =
        vec!["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256".parse().unwrap()];
    let report = bsi(&observation);
    let failure = report.failures().next().unwrap();
    assert!(
        failure.observed.contains("the profile allows TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256, which this client (rustls) cannot negotiate"),
        "{}",
        failure.observed
    );
}

#[test]
fn opportunistic_accepts_what_bsi_rejects() {
    let mut observation = compliant();
    observation.validation.chain = Check::Invalid {
        reason: "UnknownIssuer".into(),
    };
    negotiated(&mut observation).group = Some("x25519".parse().unwrap());
    assert!(!bsi(&observation).conforms);
    assert!(
        Profile::opportunistic()
            .evaluate(&observation, now())
            .conforms
    );
}

#[test]
fn custom_toml_profile_is_evaluated() {
    let profile = Profile::from_toml(
        r#"
name = "tls13-only"
[versions]
requirement = "house 1"
allowed = ["TLSv1.3"]
[key_sizes]
requirement = "house 2"
rsa = 4096
dh = 4096
ecc = 384
"#,
    )
    .unwrap();
    let report = profile.evaluate(&compliant(), now());
    let failures: Vec<_> = report
        .failures()
        .map(|f| (f.requirement.as_str(), f.check))
        .collect();
    // P-256 leaf, RSA-3072 CA and the P-256 group are all too small.
    assert_eq!(
        failures,
        vec![
            ("house 2", "certificate.key-size"),
            ("house 2", "certificate.key-size"),
            ("house 2", "tls.group-size")
        ]
    );
    assert_eq!(report.profile, "tls13-only");
}

#[test]
fn observations_round_trip_through_json_and_match_the_doc_example() {
    let observation = compliant();
    let json = serde_json::to_string_pretty(&observation).unwrap();
    let back: Observation = serde_json::from_str(&json).unwrap();
    assert_eq!(back, observation);
    let stored: Observation = serde_json::from_str(include_str!("data/tls13-p256.json")).unwrap();
    assert_eq!(
        stored, observation,
        "tests/data/tls13-p256.json is stale:\n{json}"
    );
}

fn with_versions(observation: &mut Observation, lists: &[(&str, &[&str])]) {
    let enumeration = observation.enumeration.as_mut().unwrap();
    enumeration.versions.clear();
    enumeration.tls12_suites.clear();
    enumeration.tls13_suites.clear();
    enumeration.suites_by_version.clear();
    for (version, suites) in lists {
        let version: TlsVersion = version.parse().unwrap();
        let suites: Vec<CipherSuite> = suites.iter().map(|s| s.parse().unwrap()).collect();
        enumeration.versions.push(version);
        for suite in &suites {
            let list = if version == TlsVersion::TLS13 {
                &mut enumeration.tls13_suites
            } else {
                &mut enumeration.tls12_suites
            };
            if !list.contains(suite) {
                list.push(*suite);
            }
        }
        enumeration
            .suites_by_version
            .push(VersionSuites { version, suites });
    }
}

fn finding<'a>(report: &'a Report, check: &str) -> Vec<(&'a str, Outcome, &'a str)> {
    report
        .findings
        .iter()
        .filter(|f| f.check == check)
        .map(|f| (f.requirement.as_str(), f.outcome, f.observed.as_str()))
        .collect()
}

#[test]
fn sslv3_offered_at_all_fails_under_tr_02102_2_and_rfc_7568() {
    let mut observation = compliant();
    with_versions(
        &mut observation,
        &[
            ("SSLv3", &["TLS_RSA_WITH_3DES_EDE_CBC_SHA"]),
            ("TLSv1.2", &["TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"]),
            ("TLSv1.3", &["TLS_AES_256_GCM_SHA384"]),
        ],
    );
    let report = bsi(&observation);
    assert!(!report.conforms);
    assert_eq!(
        finding(&report, "offered.version"),
        [(
            "TR-02102-2 3.2 / RFC 7568",
            Outcome::Fail,
            "SSLv3 offered (1 suite(s), for example TLS_RSA_WITH_3DES_EDE_CBC_SHA)"
        )]
    );
    // Its suite is judged like any other, with the version it came with.
    assert!(
        finding(&report, "offered.suite").contains(&(
            "TR-03108 4.3.2",
            Outcome::Informational,
            "TLS_RSA_WITH_3DES_EDE_CBC_SHA offered (SSLv3)"
        )),
        "{report:#?}"
    );
    // The opportunistic profile has no such rule.
    assert!(
        Profile::opportunistic()
            .evaluate(&observation, now())
            .conforms
    );
}

#[test]
fn every_accepted_suite_is_judged_per_version_named_or_not() {
    let mut observation = compliant();
    with_versions(
        &mut observation,
        &[
            (
                "TLSv1.0",
                &[
                    "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA",
                    "TLS_RSA_WITH_AES_128_CBC_SHA",
                ],
            ),
            (
                "TLSv1.2",
                &[
                    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                    "TLS_ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384",
                    "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8",
                    "TLS_RSA_WITH_AES_128_CBC_SHA",
                    "0xcc14",
                ],
            ),
        ],
    );
    let report = bsi(&observation);
    assert!(report.conforms, "{report:#?}");
    let suites: Vec<&str> = finding(&report, "offered.suite")
        .into_iter()
        .map(|(requirement, outcome, observed)| {
            assert_eq!(
                (requirement, outcome),
                ("TR-03108 4.3.2", Outcome::Informational)
            );
            observed
        })
        .collect();
    assert_eq!(
        suites,
        [
            "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA offered (TLSv1.0)",
            "TLS_RSA_WITH_AES_128_CBC_SHA offered (TLSv1.0, TLSv1.2)",
            "TLS_ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384 offered (TLSv1.2)",
            "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8 offered (TLSv1.2)",
            "0xcc14 offered (TLSv1.2)",
        ]
    );
    // A profile that fails on weak offers fails on each of them.
    let mut strict = Profile::bsi_tr_03108();
    strict.offered.as_mut().unwrap().severity = tls_policy::Severity::Fail;
    let failed = strict.evaluate(&observation, now());
    assert_eq!(
        failed
            .failures()
            .filter(|f| f.check == "offered.suite")
            .count(),
        5
    );
}

#[test]
fn offer_facts_give_forward_secrecy_of_the_whole_offer_and_its_extremes() {
    let mut observation = compliant();
    let report = bsi(&observation);
    assert_eq!(
        finding(&report, "offer.forward-secrecy"),
        [(
            "TR-03108 4.3.2",
            Outcome::Informational,
            "every offered suite is forward secret"
        )]
    );
    assert_eq!(
        finding(&report, "offer.strongest-suite")[0].2,
        "TLS_AES_256_GCM_SHA384 (strong, TLSv1.3)"
    );

    with_versions(
        &mut observation,
        &[
            ("TLSv1.0", &["TLS_RSA_WITH_3DES_EDE_CBC_SHA"]),
            (
                "TLSv1.2",
                &[
                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                    "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256",
                    "TLS_RSA_WITH_AES_256_GCM_SHA384",
                ],
            ),
        ],
    );
    let enumeration = observation.enumeration.as_ref().unwrap();
    assert_eq!(
        enumeration.forward_secrecy(),
        Some(OfferForwardSecrecy::Some)
    );
    let report = bsi(&observation);
    assert_eq!(
        finding(&report, "offer.forward-secrecy")[0].2,
        "some offered suites are forward secret; not: TLS_RSA_WITH_3DES_EDE_CBC_SHA, TLS_RSA_WITH_AES_256_GCM_SHA384"
    );
    assert_eq!(
        finding(&report, "offer.weakest-suite")[0].2,
        "TLS_RSA_WITH_3DES_EDE_CBC_SHA (weak, TLSv1.0)"
    );
    assert_eq!(
        finding(&report, "offer.strongest-suite")[0].2,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 (strong, TLSv1.2)"
    );

    with_versions(
        &mut observation,
        &[(
            "TLSv1.2",
            &[
                "TLS_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_RSA_WITH_NULL_SHA256",
            ],
        )],
    );
    let enumeration = observation.enumeration.as_ref().unwrap();
    assert_eq!(
        enumeration.forward_secrecy(),
        Some(OfferForwardSecrecy::None)
    );
    assert_eq!(
        enumeration.weakest_suite(),
        Some("TLS_RSA_WITH_NULL_SHA256".parse().unwrap())
    );
    with_versions(&mut observation, &[]);
    let enumeration = observation.enumeration.as_ref().unwrap();
    assert_eq!(enumeration.forward_secrecy(), None);
    assert!(finding(&bsi(&observation), "offer.forward-secrecy").is_empty());
}
