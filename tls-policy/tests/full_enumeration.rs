//! Enumeration by code point against OpenSSL servers on loopback: every
//! suite a server accepts is found, named by the IANA registry or not, per
//! protocol version, and judged by the profile.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

mod support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Instant;

use support::{Server, Setup, prober};
use testkit::KeyKind;
use tls_policy::{CipherSuite, Outcome, Profile, TlsVersion};

/// `openssl ciphers -V` of a cipher string: code point, OpenSSL name, and the
/// key exchange and authentication columns.
fn openssl_ciphers(list: &str) -> Vec<(CipherSuite, String, String, String)> {
    let output = Command::new("openssl")
        .args(["ciphers", "-V", list])
        .output()
        .unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (high, low) = fields[0].split_once(',').unwrap();
            let code = u16::from_str_radix(high.trim_start_matches("0x"), 16).unwrap() << 8
                | u16::from_str_radix(low.trim_start_matches("0x"), 16).unwrap();
            let column = |prefix: &str| {
                fields
                    .iter()
                    .find_map(|f| f.strip_prefix(prefix))
                    .unwrap()
                    .to_owned()
            };
            (
                CipherSuite(code),
                fields[2].to_owned(),
                column("Kx="),
                column("Au="),
            )
        })
        .collect()
}

/// The Postfix server of the tests: its default cipher list, DH parameters
/// (Postfix has built-in ones), TLS 1.0 to 1.3, an RSA-3072 certificate.
/// `@SECLEVEL=0` lets OpenSSL 3 speak TLS 1.0/1.1 with it, as on the older
/// systems such lists are found on.
fn postfix_like_server() -> Server {
    Server::start(&Setup {
        key: KeyKind::Rsa3072,
        min_version: "TLSv1",
        max_version: "TLSv1_3",
        ciphers: Some(POSTFIX_MEDIUM_SECLEVEL0),
        dh_params: true,
        ..Setup::default()
    })
}

/// Postfix's default server cipher list (`tls_medium_cipherlist`, the
/// `medium` grade of `smtpd_tls_ciphers`), at security level 0.
const POSTFIX_MEDIUM_SECLEVEL0: &str = "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH:@SECLEVEL=0";

/// What an OpenSSL server with an RSA certificate, DH parameters and no
/// PSK or SRP set up can select from a cipher list, per version: RSA or no
/// authentication; key exchange RSA, (EC)DHE or anonymous (EC)DH; the
/// TLS 1.2-only suites (AEAD, SHA-2 MACs) only with TLS 1.2.
fn expected(list: &str, version: TlsVersion) -> BTreeSet<CipherSuite> {
    openssl_ciphers(list)
        .into_iter()
        .filter(|(suite, _, kx, au)| {
            !suite.is_tls13()
                && matches!(au.as_str(), "RSA" | "None")
                && matches!(kx.as_str(), "RSA" | "ECDH" | "DH")
        })
        .filter(|(suite, name, _, _)| {
            let tls12_only = suite.is_aead()
                || name.ends_with("SHA256")
                || name.ends_with("SHA384")
                || name.contains("CHACHA20");
            version == TlsVersion::TLS12 || !tls12_only
        })
        .map(|(suite, ..)| suite)
        .collect()
}

#[test]
fn postfix_default_cipher_list_is_enumerated_completely_per_version() {
    let server = postfix_like_server();
    let started = Instant::now();
    let (observation, report) = prober(Profile::bsi_tr_03108())
        .check(&server.target())
        .unwrap();
    eprintln!(
        "full check of the Postfix-list server: {:?}",
        started.elapsed()
    );
    let enumeration = observation.enumeration.as_ref().unwrap();
    assert!(
        enumeration.incomplete.is_empty(),
        "{:?}",
        enumeration.incomplete
    );
    assert_eq!(
        enumeration.versions,
        [
            TlsVersion::TLS10,
            TlsVersion::TLS11,
            TlsVersion::TLS12,
            TlsVersion::TLS13
        ]
    );
    for version in [TlsVersion::TLS10, TlsVersion::TLS11, TlsVersion::TLS12] {
        let found: BTreeSet<CipherSuite> =
            enumeration.suites_for(version).iter().copied().collect();
        assert_eq!(
            found.len(),
            enumeration.suites_for(version).len(),
            "each suite once"
        );
        let expected = expected(POSTFIX_MEDIUM_SECLEVEL0, version);
        let missing: Vec<String> = expected
            .difference(&found)
            .map(ToString::to_string)
            .collect();
        let extra: Vec<String> = found
            .difference(&expected)
            .map(ToString::to_string)
            .collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{version}: missing {missing:?}, not in the list {extra:?}"
        );
        eprintln!("{version}: {} suites", found.len());
    }
    // The suites the policy table used to miss (issue 23), by name.
    let tls12 = enumeration.suites_for(TlsVersion::TLS12);
    for name in [
        "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA",
        "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256",
        "TLS_ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384",
        "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384",
        "TLS_DHE_RSA_WITH_ARIA_128_GCM_SHA256",
        "TLS_RSA_WITH_ARIA_256_GCM_SHA384",
        "TLS_RSA_WITH_AES_128_CCM_8",
        "TLS_DHE_RSA_WITH_AES_256_CCM_8",
        "TLS_DH_anon_WITH_AES_256_GCM_SHA384",
    ] {
        assert!(tls12.contains(&name.parse().unwrap()), "{name} not found");
    }
    // Each is judged: not on the TR-02102-2 list, so a finding under
    // TR-03108 4.3.2 (weak options offered beside conforming ones are
    // informational), with the versions it was accepted with.
    let offered: Vec<(&str, Outcome, &str)> = report
        .findings
        .iter()
        .filter(|f| f.check == "offered.suite")
        .map(|f| (f.requirement.as_str(), f.outcome, f.observed.as_str()))
        .collect();
    for (requirement, outcome, _) in &offered {
        assert_eq!(
            (*requirement, *outcome),
            ("TR-03108 4.3.2", Outcome::Informational)
        );
    }
    for expected in [
        "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA offered (TLSv1.0, TLSv1.1, TLSv1.2)",
        "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384 offered (TLSv1.2)",
        "TLS_RSA_WITH_AES_128_CCM_8 offered (TLSv1.2)",
    ] {
        assert!(
            offered.iter().any(|(_, _, observed)| *observed == expected),
            "{expected}: {offered:#?}"
        );
    }
    let not_allowed = enumeration
        .suites()
        .filter(|suite| {
            !Profile::bsi_tr_03108().permits_suite(*suite, std::time::SystemTime::now())
        })
        .count();
    assert_eq!(
        offered.len(),
        not_allowed,
        "one finding per suite not allowed"
    );
    // Offer-level facts: static RSA and anonymous DH are offered beside
    // ECDHE: forward secrecy for some suites only; the weakest is anonymous.
    let fact = |check: &str| {
        report
            .findings
            .iter()
            .find(|f| f.check == check)
            .map(|f| f.observed.clone())
            .unwrap()
    };
    assert!(
        fact("offer.forward-secrecy").starts_with("some offered suites are forward secret; not: ")
    );
    assert!(
        fact("offer.weakest-suite").contains("(insecure, "),
        "{}",
        fact("offer.weakest-suite")
    );
    assert_eq!(
        fact("offer.strongest-suite"),
        "TLS_AES_256_GCM_SHA384 (strong, TLSv1.3)"
    );
    // The verdict: conforms (TLS 1.0/1.1 and the weak suites are informational).
    assert!(
        report.conforms,
        "{:#?}",
        report.failures().collect::<Vec<_>>()
    );
}
