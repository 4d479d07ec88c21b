//! MTA-STS policy discovery (RFC 8461) against a real HTTPS server (python3
//! `ssl`, OpenSSL) on loopback with testkit certificates, and an injected
//! resolver for the `_mta-sts` TXT record.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use testkit::{KeyKind, PortServer};
use tls_policy::{
    Answer, Dns, DnsError, MtaSts, MtaStsError, Mx, StsMode, TlsaRecord, TrustAnchors,
};

const POLICY: &str = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.test\r\nmx: *.backup.example.test\r\nmax_age: 86400\r\n";

/// `_mta-sts.example.test` carries the record the test sets; every host is
/// 127.0.0.1.
#[derive(Debug, Default)]
struct Zone {
    record: Mutex<Option<String>>,
}

impl Dns for Zone {
    fn mx(&self, _: &str) -> Result<Answer<Mx>, DnsError> {
        Ok(Answer::insecure(Vec::new()))
    }
    fn tlsa(&self, _: &str) -> Result<Answer<TlsaRecord>, DnsError> {
        Ok(Answer::insecure(Vec::new()))
    }
    fn addresses(&self, _: &str) -> Result<Answer<IpAddr>, DnsError> {
        Ok(Answer::insecure(vec![IpAddr::from([127, 0, 0, 1])]))
    }
    fn txt(&self, name: &str) -> Result<Answer<String>, DnsError> {
        match (name, self.record.lock().unwrap().clone()) {
            ("_mta-sts.example.test", Some(record)) => Ok(Answer::insecure(vec![record])),
            ("_mta-sts.timeout.test", _) => Err(DnsError::Timeout {
                name: name.into(),
                record_type: "TXT",
            }),
            _ => Err(DnsError::NoSuchDomain {
                name: name.into(),
                secure: false,
            }),
        }
    }
}

/// An OpenSSL HTTPS server with a certificate for `name` serving `body`
/// as the policy, and the directory with its files.
fn https(name: &str, body: &str, extra: &[&str]) -> (PortServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    testkit::pki()
        .tls_server(name, KeyKind::P256)
        .write_server_files(dir.path(), "cert")
        .unwrap();
    std::fs::write(dir.path().join("policy.txt"), body).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/https_server.py");
    let process = PortServer::spawn(
        Command::new("python3")
            .arg(script)
            .args([
                "--cert",
                "cert.pem",
                "--key",
                "cert.key",
                "--body",
                "policy.txt",
            ])
            .args(extra)
            .current_dir(dir.path()),
    );
    (process, dir)
}

fn sts(zone: &Arc<Zone>, port: u16) -> MtaSts {
    let anchors = TrustAnchors::from_der([testkit::pki().root().certificate_der()]).unwrap();
    MtaSts::new(Arc::clone(zone) as Arc<dyn Dns>, anchors)
        .with_port(port)
        .with_timeout(Duration::from_secs(5))
}

#[test]
fn the_policy_is_fetched_over_validated_https_and_cached_under_its_id() {
    let zone = Arc::new(Zone::default());
    let (mut server, _dir) = https("mta-sts.example.test", POLICY, &[]);
    let port = server.port();
    let sts = sts(&zone, port);
    // No record: no policy, and nothing fetched.
    assert_eq!(sts.policy("example.test").unwrap(), None);
    *zone.record.lock().unwrap() = Some("v=STSv1; id=20261203;".into());
    let policy = sts.policy("Example.Test.").unwrap().unwrap();
    assert_eq!(policy.mode, StsMode::Enforce);
    assert!(policy.permits_mx("mx.example.test"));
    assert!(policy.permits_mx("mx2.backup.example.test"));
    assert!(!policy.permits_mx("mx.attacker.test"));
    assert_eq!(policy.max_age, Duration::from_secs(86_400));
    // The server is gone: the same id is answered from the cache, and so
    // is a new id whose fetch fails (RFC 8461 section 5.1).
    server.stop();
    assert_eq!(
        sts.policy("example.test").unwrap(),
        Some(Arc::clone(&policy))
    );
    *zone.record.lock().unwrap() = Some("v=STSv1; id=20261204;".into());
    assert_eq!(sts.policy("example.test").unwrap(), Some(policy));
    // Without a cache, the failed fetch is an error, not "no policy".
    let fresh = self::sts(&zone, port);
    assert!(matches!(
        fresh.policy("example.test"),
        Err(MtaStsError::Fetch { .. })
    ));
    assert!(matches!(
        fresh.policy("timeout.test"),
        Err(MtaStsError::Dns(DnsError::Timeout { .. }))
    ));
}

#[test]
fn a_certificate_for_another_name_a_redirect_or_html_is_no_policy() {
    let zone = Arc::new(Zone::default());
    *zone.record.lock().unwrap() = Some("v=STSv1; id=1;".into());
    let (impostor, _a) = https("www.example.test", POLICY, &[]);
    let error = sts(&zone, impostor.port())
        .policy("example.test")
        .unwrap_err();
    assert!(
        matches!(&error, MtaStsError::Fetch { reason, .. } if reason.contains("certificate") || reason.contains("Certificate")),
        "{error}"
    );
    let (moved, _b) = https("mta-sts.example.test", POLICY, &["--status", "302"]);
    let error = sts(&zone, moved.port()).policy("example.test").unwrap_err();
    assert!(error.to_string().contains("302"), "{error}");
    let (html, _c) = https(
        "mta-sts.example.test",
        POLICY,
        &["--content-type", "text/html"],
    );
    let error = sts(&zone, html.port()).policy("example.test").unwrap_err();
    assert!(error.to_string().contains("text/plain"), "{error}");
    let (invalid, _d) = https(
        "mta-sts.example.test",
        "version: STSv1\r\nmode: strict\r\n",
        &[],
    );
    assert!(matches!(
        sts(&zone, invalid.port()).policy("example.test"),
        Err(MtaStsError::Policy(_))
    ));
}
