//! Our enumeration against `testssl.sh --starttls smtp -p -E` on the same
//! OpenSSL servers: the protocol versions and the cipher suites each finds
//! must agree. testssl.sh tries every suite OpenSSL knows; we try the suites
//! we name (`CipherSuite::name`), so its findings are compared on those.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use support::{Server, Setup, prober};
use testkit::KeyKind;
use tls_policy::{CipherSuite, Profile, TlsVersion};

/// What testssl.sh found: versions offered and suites (by code point).
struct Found {
    versions: BTreeSet<TlsVersion>,
    suites: BTreeSet<CipherSuite>,
}

fn testssl(server: &Server) -> Found {
    let json = server.dir.path().join("testssl.json");
    let output = Command::new("testssl")
        .args(["--quiet", "--warnings", "off", "--color", "0"])
        .args(["--starttls", "smtp", "-p", "-E", "--jsonfile"])
        .arg(&json)
        .arg(format!("127.0.0.1:{}", server.port))
        .output()
        .expect("testssl (Debian package testssl.sh) runs");
    let findings: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&json).unwrap_or_default()).unwrap_or_else(|_| {
            panic!(
                "testssl.sh wrote no JSON: {}",
                String::from_utf8_lossy(&output.stdout)
            )
        });
    let mut found = Found {
        versions: BTreeSet::new(),
        suites: BTreeSet::new(),
    };
    for finding in &findings {
        let id = finding["id"].as_str().unwrap_or_default();
        let text = finding["finding"].as_str().unwrap_or_default();
        let version = match id {
            "TLS1" => Some(TlsVersion::TLS10),
            "TLS1_1" => Some(TlsVersion::TLS11),
            "TLS1_2" => Some(TlsVersion::TLS12),
            "TLS1_3" => Some(TlsVersion::TLS13),
            _ => None,
        };
        if let Some(version) = version
            && text.starts_with("offered")
        {
            found.versions.insert(version);
        }
        // "cipher-tls1_2_xc02c": the code point after the last "_x".
        if let Some((_, code)) = id.strip_prefix("cipher-").and_then(|c| c.rsplit_once("_x")) {
            found
                .suites
                .insert(CipherSuite(u16::from_str_radix(code, 16).unwrap()));
        }
    }
    assert!(
        !found.versions.is_empty(),
        "testssl.sh found no TLS: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    found
}

/// Both enumerations of one server agree; returns what was found.
fn assert_same_as_testssl(setup: &Setup) -> (BTreeSet<TlsVersion>, BTreeSet<CipherSuite>) {
    let server = Server::start(setup);
    let (observation, _) = prober(Profile::opportunistic())
        .check(&server.target())
        .unwrap();
    let ours = observation.enumeration.expect("the probe enumerates");
    assert!(ours.incomplete.is_empty(), "{:?}", ours.incomplete);
    let theirs = testssl(&server);
    let versions: BTreeSet<TlsVersion> = ours.versions.iter().copied().collect();
    assert_eq!(versions, theirs.versions, "protocol versions");
    let suites: BTreeSet<CipherSuite> = ours.suites().collect();
    let named: BTreeSet<CipherSuite> = theirs
        .suites
        .iter()
        .copied()
        .filter(|suite| suite.name().is_some())
        .collect();
    assert_eq!(suites, named, "cipher suites");
    (versions, suites)
}

#[test]
#[ignore = "needs testssl.sh"]
fn enumeration_agrees_with_testssl_on_a_modern_server() {
    let (versions, suites) = assert_same_as_testssl(&Setup::default());
    assert_eq!(
        versions,
        BTreeSet::from([TlsVersion::TLS12, TlsVersion::TLS13])
    );
    assert!(suites.contains(&"TLS_AES_256_GCM_SHA384".parse().unwrap()));
}

#[test]
#[ignore = "needs testssl.sh"]
fn enumeration_agrees_with_testssl_on_an_old_server_with_static_rsa_and_cbc() {
    let (versions, suites) = assert_same_as_testssl(&Setup {
        key: KeyKind::Rsa3072,
        min_version: "TLSv1",
        max_version: "TLSv1_2",
        ciphers: Some("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA:AES128-SHA:@SECLEVEL=0"),
        ..Setup::default()
    });
    assert!(versions.contains(&TlsVersion::TLS10), "{versions:?}");
    let expected: BTreeSet<CipherSuite> = [
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
        "TLS_RSA_WITH_AES_128_CBC_SHA",
    ]
    .iter()
    .map(|name| name.parse().unwrap())
    .collect();
    assert!(suites.is_superset(&expected), "{suites:?}");
}
