//! MTA-STS policy discovery (RFC 8461) against a real HTTPS server (python3
//! `ssl`, OpenSSL) on loopback with testkit certificates, and an injected
//! resolver for the `_mta-sts` TXT record.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use testkit::KeyKind;
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

struct Https {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Https {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn https(name: &str, body: &str, extra: &[&str]) -> Https {
    let dir = tempfile::tempdir().unwrap();
    let identity = testkit::pki().tls_server(name, KeyKind::P256);
    std::fs::write(
        dir.path().join("cert.pem"),
        identity.certificate_pem() + &identity.chain_pem(),
    )
    .unwrap();
    std::fs::write(dir.path().join("key.pem"), identity.private_key_pem()).unwrap();
    std::fs::write(dir.path().join("policy.txt"), body).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/https_server.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args([
            "--cert",
            "cert.pem",
            "--key",
            "key.pem",
            "--body",
            "policy.txt",
        ])
        .args(extra)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    Https {
        child,
        port: line.trim().parse().unwrap(),
        _dir: dir,
    }
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
    let mut server = https("mta-sts.example.test", POLICY, &[]);
    let sts = sts(&zone, server.port);
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
    let _ = server.child.kill();
    let _ = server.child.wait();
    assert_eq!(
        sts.policy("example.test").unwrap(),
        Some(Arc::clone(&policy))
    );
    *zone.record.lock().unwrap() = Some("v=STSv1; id=20261204;".into());
    assert_eq!(sts.policy("example.test").unwrap(), Some(policy));
    // Without a cache, the failed fetch is an error, not "no policy".
    let fresh = self::sts(&zone, server.port);
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
    let impostor = https("www.example.test", POLICY, &[]);
    let error = sts(&zone, impostor.port)
        .policy("example.test")
        .unwrap_err();
    assert!(
        matches!(&error, MtaStsError::Fetch { reason, .. } if reason.contains("certificate") || reason.contains("Certificate")),
        "{error}"
    );
    let moved = https("mta-sts.example.test", POLICY, &["--status", "302"]);
    let error = sts(&zone, moved.port).policy("example.test").unwrap_err();
    assert!(error.to_string().contains("302"), "{error}");
    let html = https(
        "mta-sts.example.test",
        POLICY,
        &["--content-type", "text/html"],
    );
    let error = sts(&zone, html.port).policy("example.test").unwrap_err();
    assert!(error.to_string().contains("text/plain"), "{error}");
    let invalid = https(
        "mta-sts.example.test",
        "version: STSv1\r\nmode: strict\r\n",
        &[],
    );
    assert!(matches!(
        sts(&zone, invalid.port).policy("example.test"),
        Err(MtaStsError::Policy(_))
    ));
}
