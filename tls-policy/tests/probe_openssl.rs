//! The probe against real OpenSSL servers (Python's `ssl` module) on
//! loopback, compliant and non-compliant in each dimension.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::io::{BufRead, BufReader, Write};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use support::{NAME, Server, Setup, prober};
use testkit::KeyKind;
use tls_policy::{
    Check, Error, Handshake, Observation, Outcome, Profile, Report, TlsVersion, Transport,
};

fn bsi(server: &Server) -> (Observation, Report) {
    prober(Profile::bsi_tr_03108())
        .check(&server.target())
        .unwrap()
}

fn failed_checks(report: &Report) -> Vec<&'static str> {
    report.failures().map(|finding| finding.check).collect()
}

fn informational(report: &Report) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.outcome == Outcome::Informational && f.check.starts_with("offered."))
        .map(|f| f.observed.clone())
        .collect()
}

fn negotiated(observation: &Observation) -> (String, String, Option<String>) {
    match &observation.handshake {
        Handshake::Established(n) => (
            n.version.to_string(),
            n.suite.to_string(),
            n.group.map(|g| g.to_string()),
        ),
        other => panic!("no session: {other:?}"),
    }
}

#[test]
fn openssl_tls13_only_p256_server_conforms_and_x25519_is_informational() {
    let server = Server::start(&Setup {
        min_version: "TLSv1_3",
        ..Setup::default()
    });
    let (observation, report) = bsi(&server);
    assert!(report.conforms, "{report:#?}");
    assert_eq!(observation.transport, Transport::Starttls);
    assert!(
        observation
            .banner
            .as_deref()
            .unwrap()
            .starts_with("220 mx.example.test")
    );
    let (version, suite, group) = negotiated(&observation);
    assert_eq!(version, "TLSv1.3");
    assert_eq!(suite, "TLS_AES_256_GCM_SHA384");
    // rustls was restricted: no X25519 although OpenSSL prefers it.
    assert_eq!(group.as_deref(), Some("secp256r1"));
    assert_eq!(observation.validation.chain, Check::Valid);
    assert_eq!(observation.certificates.len(), 2);
    let enumeration = observation.enumeration.as_ref().unwrap();
    assert_eq!(enumeration.versions, vec![TlsVersion::TLS13]);
    let suites: Vec<String> = enumeration
        .tls13_suites
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(
        suites.contains(&"TLS_CHACHA20_POLY1305_SHA256".to_owned()),
        "{suites:?}"
    );
    let groups: Vec<String> = enumeration.groups.iter().map(ToString::to_string).collect();
    assert!(groups.contains(&"x25519".to_owned()), "{groups:?}");
    let info = informational(&report);
    assert!(info.contains(&"x25519 offered".to_owned()), "{info:?}");
    assert!(
        info.contains(&"TLS_CHACHA20_POLY1305_SHA256 offered (TLSv1.3)".to_owned()),
        "{info:?}"
    );
}

#[test]
fn openssl_tls12_ecdhe_gcm_rsa3072_server_conforms_and_its_suites_are_enumerated() {
    let server = Server::start(&Setup {
        key: KeyKind::Rsa3072,
        max_version: "TLSv1_2",
        ciphers: Some("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256"),
        groups: Some("P-384:P-256"),
        ..Setup::default()
    });
    let (observation, report) = bsi(&server);
    assert!(report.conforms, "{report:#?}");
    let (version, suite, _) = negotiated(&observation);
    assert_eq!(version, "TLSv1.2");
    assert!(suite.starts_with("TLS_ECDHE_RSA_WITH_AES_"), "{suite}");
    let enumeration = observation.enumeration.as_ref().unwrap();
    assert_eq!(enumeration.versions, vec![TlsVersion::TLS12]);
    let mut suites: Vec<String> = enumeration
        .tls12_suites
        .iter()
        .map(ToString::to_string)
        .collect();
    suites.sort();
    assert_eq!(
        suites,
        [
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
        ]
    );
    let mut groups: Vec<String> = enumeration.groups.iter().map(ToString::to_string).collect();
    groups.sort();
    assert_eq!(groups, ["secp256r1", "secp384r1"]);
    assert!(informational(&report).is_empty(), "{report:#?}");
}

#[test]
fn openssl_cbc_sha256_only_server_conforms_and_says_this_client_has_no_delivery_path() {
    let server = Server::start(&Setup {
        key: KeyKind::Rsa3072,
        max_version: "TLSv1_2",
        ciphers: Some("ECDHE-RSA-AES128-SHA256"),
        ..Setup::default()
    });
    let (observation, report) = bsi(&server);
    assert!(matches!(observation.handshake, Handshake::Failed { .. }));
    // TR-02102-2 allows the suite: the server conforms; that rustls cannot
    // speak it is a fact about this client (issue 23).
    assert!(failed_checks(&report).is_empty(), "{report:#?}");
    assert_eq!(
        report.conformance,
        tls_policy::Conformance::ConformsWithoutDeliveryPath
    );
    let observed = &report
        .findings
        .iter()
        .find(|f| f.check == "client.delivery-path")
        .unwrap()
        .observed;
    assert!(
        observed.contains("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256")
            && observed.contains("this client (rustls) cannot negotiate"),
        "{observed}"
    );
    // The chain still shows, from the TLS 1.2 first flight.
    assert_eq!(observation.certificates.len(), 2);
    assert!(observation.certificates[0].subject.contains(NAME));
}

#[test]
fn openssl_static_rsa_only_server_fails_and_the_suite_is_named() {
    let server = Server::start(&Setup {
        key: KeyKind::Rsa3072,
        max_version: "TLSv1_2",
        ciphers: Some("AES128-SHA"),
        ..Setup::default()
    });
    let (_, report) = bsi(&server);
    assert_eq!(failed_checks(&report), ["tls.available"]);
    let observed = &report.failures().next().unwrap().observed;
    assert!(
        observed.ends_with("server offers only TLS_RSA_WITH_AES_128_CBC_SHA"),
        "{observed}"
    );
    assert!(
        informational(&report)
            .contains(&"TLS_RSA_WITH_AES_128_CBC_SHA offered (TLSv1.2)".to_owned())
    );
}

#[test]
fn openssl_chacha20_only_server_fails_bsi_but_passes_opportunistic() {
    let server = Server::start(&Setup {
        min_version: "TLSv1_3",
        tls13_suites: Some("TLS_CHACHA20_POLY1305_SHA256"),
        ..Setup::default()
    });
    let (observation, report) = bsi(&server);
    assert!(matches!(observation.handshake, Handshake::Failed { .. }));
    assert_eq!(failed_checks(&report), ["tls.available"]);
    let observed = &report.failures().next().unwrap().observed;
    assert!(
        observed.contains("server offers only TLS_CHACHA20_POLY1305_SHA256"),
        "{observed}"
    );

    let (observation, report) = prober(Profile::opportunistic())
        .check(&server.target())
        .unwrap();
    assert!(report.conforms, "{report:#?}");
    assert_eq!(negotiated(&observation).1, "TLS_CHACHA20_POLY1305_SHA256");
}

#[test]
fn openssl_server_without_starttls_fails_bsi() {
    let server = Server::start(&Setup {
        mode: "no-starttls",
        ..Setup::default()
    });
    let (observation, report) = bsi(&server);
    assert_eq!(observation.transport, Transport::NoStarttls);
    assert_eq!(observation.handshake, Handshake::NotAttempted);
    assert_eq!(failed_checks(&report), ["tls.available"]);
    let (_, report) = prober(Profile::opportunistic())
        .check(&server.target())
        .unwrap();
    assert!(report.conforms);
}

#[test]
fn openssl_rsa2048_certificate_fails_key_size_only() {
    let server = Server::start(&Setup {
        key: KeyKind::Rsa2048,
        ..Setup::default()
    });
    let (_, report) = bsi(&server);
    assert_eq!(failed_checks(&report), ["certificate.key-size"]);
    assert!(
        report
            .failures()
            .next()
            .unwrap()
            .observed
            .contains("RSA-2048 (minimum 3000)")
    );
}

#[test]
fn openssl_wrong_name_fails_the_name_check_only() {
    let server = Server::start(&Setup::default());
    let target = server.target().with_name("other.example.test");
    let (observation, report) = prober(Profile::bsi_tr_03108()).check(&target).unwrap();
    assert_eq!(observation.validation.chain, Check::Valid);
    assert_eq!(failed_checks(&report), ["certificate.name"]);
}

#[test]
fn openssl_self_signed_certificate_fails_the_chain() {
    let server = Server::start(&Setup {
        self_signed: true,
        ..Setup::default()
    });
    let (observation, report) = bsi(&server);
    assert_eq!(observation.validation.name, Check::Valid);
    assert_eq!(failed_checks(&report), ["certificate.chain"]);
    let observed = &report.failures().next().unwrap().observed;
    // `openssl req -x509` marks the certificate as a CA, which webpki
    // reports before the unknown issuer; either way it leads to no anchor.
    assert!(
        observed.contains("UnknownIssuer") || observed.contains("CaUsedAsEndEntity"),
        "{observed}"
    );
}

#[test]
fn openssl_incomplete_chain_fails_the_chain() {
    let server = Server::start(&Setup {
        send_chain: false,
        ..Setup::default()
    });
    let (observation, report) = bsi(&server);
    assert_eq!(observation.certificates.len(), 1);
    assert_eq!(failed_checks(&report), ["certificate.chain"]);
}

#[test]
fn openssl_certificate_expired_at_the_check_time_fails_the_chain() {
    let server = Server::start(&Setup::default());
    // testkit's server certificates are valid until 2045-01-01.
    let in_2046 = UNIX_EPOCH + Duration::from_secs(2_398_377_600);
    let (_, report) = prober(Profile::bsi_tr_03108())
        .with_check_time(in_2046)
        .with_enumeration(false)
        .check(&server.target())
        .unwrap();
    assert_eq!(failed_checks(&report), ["certificate.chain"]);
    assert!(
        report
            .failures()
            .next()
            .unwrap()
            .observed
            .contains("Expired")
    );
    assert!(report.checked_at.starts_with("2046-01-01"));
}

#[test]
fn openssl_old_versions_and_static_rsa_offered_at_low_priority_are_informational() {
    let server = Server::start(&Setup {
        key: KeyKind::Rsa3072,
        min_version: "TLSv1",
        max_version: "TLSv1_2",
        ciphers: Some("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA:AES128-SHA:@SECLEVEL=0"),
        ..Setup::default()
    });
    let (observation, report) = bsi(&server);
    assert!(report.conforms, "{report:#?}");
    let enumeration = observation.enumeration.as_ref().unwrap();
    assert_eq!(
        enumeration.versions,
        [TlsVersion::TLS10, TlsVersion::TLS11, TlsVersion::TLS12]
    );
    let info = informational(&report);
    for expected in [
        "TLSv1.0 offered",
        "TLSv1.1 offered",
        "TLS_RSA_WITH_AES_128_CBC_SHA offered (TLSv1.0, TLSv1.1, TLSv1.2)",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA offered (TLSv1.0, TLSv1.1, TLSv1.2)",
    ] {
        assert!(info.contains(&expected.to_owned()), "{expected}: {info:?}");
    }
    // Each version's own suite list, not only the highest one's.
    let sorted = |version: TlsVersion| {
        let mut suites: Vec<String> = enumeration
            .suites_for(version)
            .iter()
            .map(ToString::to_string)
            .collect();
        suites.sort();
        suites
    };
    let cbc = [
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        "TLS_RSA_WITH_AES_128_CBC_SHA",
    ];
    assert_eq!(sorted(TlsVersion::TLS10), cbc);
    assert_eq!(sorted(TlsVersion::TLS11), cbc);
    assert_eq!(
        sorted(TlsVersion::TLS12),
        [
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
            "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
            "TLS_RSA_WITH_AES_128_CBC_SHA",
        ]
    );
    assert!(
        enumeration.incomplete.is_empty(),
        "{:?}",
        enumeration.incomplete
    );
}

#[test]
fn openssl_direct_tls_server_conforms() {
    let server = Server::start(&Setup {
        mode: "direct",
        ..Setup::default()
    });
    let target = tls_policy::Target::parse(&format!("127.0.0.1:{}", server.port), true)
        .unwrap()
        .with_name(NAME);
    let (observation, report) = prober(Profile::bsi_tr_03108())
        .with_enumeration(false)
        .check(&target)
        .unwrap();
    assert_eq!(observation.transport, Transport::DirectTls);
    assert!(report.conforms, "{report:#?}");
}

fn hostile(mode: &str) -> (Error, Duration) {
    let server = Server::start(&Setup {
        mode: Box::leak(mode.to_owned().into_boxed_str()),
        ..Setup::default()
    });
    let started = Instant::now();
    let error = prober(Profile::bsi_tr_03108())
        .check(&server.target())
        .unwrap_err();
    (error, started.elapsed())
}

#[test]
fn hostile_servers_give_clean_errors_within_the_timeouts() {
    let (error, elapsed) = hostile("garbage");
    assert!(matches!(error, Error::Smtp { .. }), "{error}");
    assert!(error.to_string().contains("reply code"), "{error}");
    assert!(elapsed < Duration::from_secs(3));

    let (error, _) = hostile("huge-line");
    assert!(error.to_string().contains("longer than 2048"), "{error}");

    let (error, elapsed) = hostile("stall");
    assert!(matches!(error, Error::Timeout { .. }), "{error}");
    assert!(elapsed < Duration::from_secs(6), "{elapsed:?}");
    assert!(error.is_temporary());

    let (error, _) = hostile("inject");
    assert!(error.to_string().contains("plaintext injection"), "{error}");
}

#[test]
fn closed_port_is_a_connect_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let target = tls_policy::Target::parse(&format!("127.0.0.1:{port}"), false).unwrap();
    let error = prober(Profile::bsi_tr_03108()).check(&target).unwrap_err();
    assert!(matches!(error, Error::Connect { .. }), "{error}");
    assert!(error.is_temporary());
}

#[test]
fn delivery_connection_carries_smtp_over_the_judged_session() {
    let server = Server::start(&Setup::default());
    let delivery = prober(Profile::bsi_tr_03108())
        .connect_for_delivery(&server.target())
        .unwrap();
    assert!(delivery.report.conforms);
    assert_eq!(negotiated(&delivery.observation).0, "TLSv1.3");
    let mut stream = delivery.stream;
    stream.write_all(b"EHLO probe.example.test\r\n").unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("250-mx.example.test"), "{line}");
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("250 "), "{line}");
    let stream = reader.get_mut();
    stream.write_all(b"QUIT\r\n").unwrap();
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("221"), "{line}");
}

#[test]
fn delivery_is_refused_to_non_conforming_servers() {
    let server = Server::start(&Setup {
        key: KeyKind::Rsa2048,
        ..Setup::default()
    });
    let error = prober(Profile::bsi_tr_03108())
        .connect_for_delivery(&server.target())
        .unwrap_err();
    assert!(matches!(error, Error::NotConforming { .. }), "{error}");
    assert!(error.to_string().contains("RSA-2048"), "{error}");

    // A bad chain stops the handshake itself (the verifier enforces).
    let server = Server::start(&Setup {
        self_signed: true,
        ..Setup::default()
    });
    let error = prober(Profile::bsi_tr_03108())
        .connect_for_delivery(&server.target())
        .unwrap_err();
    assert!(error.to_string().contains("certificate.chain"), "{error}");
    let _ = SystemTime::now();
}
