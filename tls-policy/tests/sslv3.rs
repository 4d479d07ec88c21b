//! SSLv3 is probed with a raw ClientHello of version 0x0300.
//!
//! Debian's OpenSSL 3.0 is built without SSLv3 (`openssl s_server` has no
//! `-ssl3`, Python's `ssl.HAS_SSLv3` is false), so no real SSLv3 server can
//! run here: the peer is a stub that speaks SMTP and STARTTLS and answers a
//! ClientHello as an SSLv3-only server does (RFC 6101 section 5.6.1.2: a
//! ServerHello of version 3.0 whatever the client offered, the first of its
//! suites the client offers, its certificate), or refuses with a
//! handshake_failure alert.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use support::{NAME, prober, tls_stub};
use testkit::KeyKind;
use tls_policy::{CipherSuite, Handshake, Outcome, Profile, Target, TlsVersion};

/// The stub's suites in its order of preference.
const STUB_SUITES: [u16; 3] = [0x000a, 0x0005, 0x002f];

#[test]
fn an_sslv3_server_is_found_with_its_suites_and_fails_tr_02102_2() {
    let certificate = testkit::pki()
        .tls_server(NAME, KeyKind::Rsa3072)
        .certificate_der()
        .to_vec();
    let stub = tls_stub::start(vec![(0x0300, STUB_SUITES.to_vec())], certificate);
    let (port, seen) = (stub.port, stub.seen);
    let target = Target::parse(&format!("127.0.0.1:{port}"), false)
        .unwrap()
        .with_name(NAME);
    let (observation, report) = prober(Profile::bsi_tr_03108()).check(&target).unwrap();

    // The probe said 3.0 in the record and in the ClientHello.
    assert!(
        seen.lock().unwrap().contains(&(0x0300, 0x0300)),
        "{:?}",
        seen.lock().unwrap()
    );
    let enumeration = observation.enumeration.as_ref().unwrap();
    assert!(
        enumeration.incomplete.is_empty(),
        "{:?}",
        enumeration.incomplete
    );
    // The stub answers every ClientHello with 3.0: only SSLv3 counts.
    assert_eq!(enumeration.versions, [TlsVersion::SSL3]);
    let suites: Vec<CipherSuite> = enumeration.suites_for(TlsVersion::SSL3).to_vec();
    assert_eq!(
        suites,
        STUB_SUITES.map(CipherSuite),
        "in the server's preference order"
    );
    // rustls cannot speak SSLv3; the certificate comes from the enumeration.
    assert!(matches!(observation.handshake, Handshake::Failed { .. }));
    assert_eq!(observation.certificates.len(), 1);

    // TR-02102-2 3.2 / RFC 7568: offering SSLv3 at all fails.
    let version: Vec<(&str, Outcome, &str)> = report
        .findings
        .iter()
        .filter(|f| f.check == "offered.version")
        .map(|f| (f.requirement.as_str(), f.outcome, f.observed.as_str()))
        .collect();
    assert_eq!(
        version,
        [(
            "TR-02102-2 3.2 / RFC 7568",
            Outcome::Fail,
            "SSLv3 offered (3 suite(s), for example TLS_RSA_WITH_3DES_EDE_CBC_SHA)"
        )]
    );
    assert!(!report.conforms);
    assert!(
        report.findings.iter().any(|f| f.check == "offered.suite"
            && f.observed == "TLS_RSA_WITH_RC4_128_SHA offered (SSLv3)"),
        "{report:#?}"
    );
    let weakest = report
        .findings
        .iter()
        .find(|f| f.check == "offer.weakest-suite")
        .unwrap();
    assert_eq!(
        weakest.observed,
        "TLS_RSA_WITH_RC4_128_SHA (insecure, SSLv3)"
    );
}
