//! Our enumeration against `testssl.sh --starttls smtp -p -E -f` on the
//! same OpenSSL servers: the protocol versions, the cipher suites of every
//! version (by code point, named by the IANA registry or not) and the
//! forward-secret suites each finds must agree.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr
)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Instant;

use support::{Server, Setup, prober};
use testkit::KeyKind;
use tls_policy::{CipherSuite, Profile, TlsVersion};

/// What testssl.sh found: versions offered, suites per version, and the
/// forward-secret suites (by name; testssl.sh names them the OpenSSL way).
struct Found {
    versions: BTreeSet<TlsVersion>,
    suites: BTreeMap<TlsVersion, BTreeSet<CipherSuite>>,
    forward_secrecy_offered: Option<bool>,
}

fn version_of(prefix: &str) -> Option<TlsVersion> {
    Some(match prefix {
        "ssl3" | "SSLv3" => TlsVersion::SSL3,
        "tls1" | "TLS1" => TlsVersion::TLS10,
        "tls1_1" | "TLS1_1" => TlsVersion::TLS11,
        "tls1_2" | "TLS1_2" => TlsVersion::TLS12,
        "tls1_3" | "TLS1_3" => TlsVersion::TLS13,
        _ => return None,
    })
}

fn testssl(server: &Server) -> Found {
    let json = server.dir.path().join("testssl.json");
    let started = Instant::now();
    let output = Command::new("testssl")
        .args(["--quiet", "--warnings", "off", "--color", "0"])
        .args(["--starttls", "smtp", "-p", "-E", "-f", "--jsonfile"])
        .arg(&json)
        .arg(format!("127.0.0.1:{}", server.port))
        .output()
        .expect("testssl (Debian package testssl.sh) runs");
    eprintln!("testssl.sh -p -E -f: {:?}", started.elapsed());
    let findings: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(&json).unwrap_or_default()).unwrap_or_else(|_| {
            panic!(
                "testssl.sh wrote no JSON: {}",
                String::from_utf8_lossy(&output.stdout)
            )
        });
    let mut found = Found {
        versions: BTreeSet::new(),
        suites: BTreeMap::new(),
        forward_secrecy_offered: None,
    };
    for finding in &findings {
        let id = finding["id"].as_str().unwrap_or_default();
        let text = finding["finding"].as_str().unwrap_or_default();
        if let Some(version) = version_of(id)
            && text.starts_with("offered")
        {
            found.versions.insert(version);
        }
        if id == "FS" {
            found.forward_secrecy_offered = Some(text.starts_with("offered"));
        }
        // "cipher-tls1_2_xc02c": the version, then the code point after "_x".
        if let Some((prefix, code)) = id.strip_prefix("cipher-").and_then(|c| c.rsplit_once("_x"))
            && let Some(version) = version_of(prefix)
        {
            found
                .suites
                .entry(version)
                .or_default()
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

/// Both enumerations of one server agree, version by version; returns ours.
fn assert_same_as_testssl(setup: &Setup) -> tls_policy::Enumeration {
    let server = Server::start(setup);
    let started = Instant::now();
    let (observation, _) = prober(Profile::opportunistic())
        .check(&server.target())
        .unwrap();
    eprintln!("mailgate full check: {:?}", started.elapsed());
    let ours = observation.enumeration.expect("the probe enumerates");
    assert!(ours.incomplete.is_empty(), "{:?}", ours.incomplete);
    let theirs = testssl(&server);
    let versions: BTreeSet<TlsVersion> = ours.versions.iter().copied().collect();
    assert_eq!(versions, theirs.versions, "protocol versions");
    for version in &versions {
        let suites: BTreeSet<CipherSuite> = ours.suites_for(*version).iter().copied().collect();
        let empty = BTreeSet::new();
        let expected = theirs.suites.get(version).unwrap_or(&empty);
        let names = |set: &BTreeSet<CipherSuite>| -> Vec<String> {
            set.iter().map(ToString::to_string).collect()
        };
        assert_eq!(
            names(&suites),
            names(expected),
            "{version} cipher suites (ours, testssl.sh's)"
        );
    }
    if let Some(offered) = theirs.forward_secrecy_offered {
        let ours_offered = ours.suites().any(|suite| suite.forward_secret());
        assert_eq!(ours_offered, offered, "forward secrecy offered");
    }
    ours
}

#[test]
#[ignore = "needs testssl.sh"]
fn enumeration_agrees_with_testssl_on_a_modern_server() {
    let ours = assert_same_as_testssl(&Setup::default());
    let versions: BTreeSet<TlsVersion> = ours.versions.iter().copied().collect();
    let suites: BTreeSet<CipherSuite> = ours.suites().collect();
    assert_eq!(
        versions,
        BTreeSet::from([TlsVersion::TLS12, TlsVersion::TLS13])
    );
    assert!(suites.contains(&"TLS_AES_256_GCM_SHA384".parse().unwrap()));
}

#[test]
#[ignore = "needs testssl.sh"]
fn enumeration_agrees_with_testssl_on_an_old_server_with_static_rsa_and_cbc() {
    let ours = assert_same_as_testssl(&Setup {
        key: KeyKind::Rsa3072,
        min_version: "TLSv1",
        max_version: "TLSv1_2",
        ciphers: Some("ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-SHA:AES128-SHA:@SECLEVEL=0"),
        ..Setup::default()
    });
    let versions: BTreeSet<TlsVersion> = ours.versions.iter().copied().collect();
    let suites: BTreeSet<CipherSuite> = ours.suites().collect();
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

#[test]
#[ignore = "needs testssl.sh"]
fn enumeration_agrees_with_testssl_per_version_on_postfix_default_cipher_list() {
    let ours = assert_same_as_testssl(&Setup {
        key: KeyKind::Rsa3072,
        min_version: "TLSv1",
        max_version: "TLSv1_3",
        ciphers: Some("aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH:@SECLEVEL=0"),
        dh_params: true,
        ..Setup::default()
    });
    let tls12 = ours.suites_for(TlsVersion::TLS12);
    for name in [
        "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA",
        "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384",
        "TLS_DHE_RSA_WITH_AES_256_CCM_8",
    ] {
        assert!(tls12.contains(&name.parse().unwrap()), "{name}");
    }
    assert!(!ours.suites_for(TlsVersion::TLS10).is_empty());
}

#[test]
#[ignore = "needs testssl.sh"]
fn enumeration_agrees_with_testssl_on_dhe_only_and_cbc_sha256_only_servers() {
    for ciphers in [
        "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-SHA256",
        "ECDHE-RSA-AES128-SHA256",
    ] {
        let ours = assert_same_as_testssl(&Setup {
            key: KeyKind::Rsa3072,
            max_version: "TLSv1_2",
            ciphers: Some(ciphers),
            dh_params: true,
            ..Setup::default()
        });
        assert_eq!(ours.versions, [TlsVersion::TLS12], "{ciphers}");
    }
}
