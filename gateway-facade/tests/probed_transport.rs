//! `ProbedTransport` against real OpenSSL SMTP servers (python3 `ssl`, the
//! server of tls-policy's tests) on loopback: a domain meets
//! `bsi-tr-03108` when its exchanger does, verdicts are cached, and known
//! verdicts, missing domains, null MX and DNS failures answer as documented.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use gateway_facade::{KnownVerdicts, ProbedTransport, TransportCheck, TransportCheckError};
use testkit::{KeyKind, PortServer};
use tls_policy::{Answer, Dns, DnsError, Mx, TlsaRecord, TrustAnchors};

const MX: &str = "mx.example.test";

/// The zone the tests resolve in: `good.test` and `weak.test` have `MX`
/// as exchanger, `nomail.test` a null MX, `broken.test` times out,
/// everything else does not exist.
#[derive(Debug)]
struct Zone;

impl Dns for Zone {
    fn mx(&self, domain: &str) -> Result<Answer<Mx>, DnsError> {
        let mx = |exchange: &str| {
            Ok(Answer::insecure(vec![Mx {
                preference: 10,
                exchange: exchange.into(),
            }]))
        };
        match domain {
            "good.test" | "weak.test" => mx(MX),
            "nomail.test" => mx("."),
            "broken.test" => Err(DnsError::Timeout {
                name: domain.into(),
                record_type: "MX",
            }),
            _ => Err(DnsError::NoSuchDomain {
                name: domain.into(),
                secure: false,
            }),
        }
    }
    fn tlsa(&self, _: &str) -> Result<Answer<TlsaRecord>, DnsError> {
        Ok(Answer::insecure(Vec::new()))
    }
    fn addresses(&self, _: &str) -> Result<Answer<IpAddr>, DnsError> {
        Ok(Answer::insecure(vec![IpAddr::from([127, 0, 0, 1])]))
    }
}

/// An OpenSSL STARTTLS server with a testkit certificate for `MX`, and
/// the directory with its files.
fn server(kind: KeyKind) -> (PortServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    testkit::pki()
        .tls_server(MX, kind)
        .write_server_files(dir.path(), "cert")
        .unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tls-policy/tests/support/smtp_server.py");
    let process = PortServer::spawn(
        Command::new("python3")
            .arg(script)
            .args(["--cert", "cert.pem", "--key", "cert.key", "--name", MX])
            .current_dir(dir.path()),
    );
    (process, dir)
}

fn check(port: u16, known: &[(&str, bool)]) -> ProbedTransport {
    let anchors = TrustAnchors::from_der([testkit::pki().root().certificate_der()]).unwrap();
    let known: BTreeMap<String, bool> = known.iter().map(|(d, v)| ((*d).into(), *v)).collect();
    ProbedTransport::new(KnownVerdicts::new(known), Arc::new(Zone), anchors)
        .with_port(port)
        .with_timeout(Duration::from_secs(5))
}

#[test]
fn a_domain_meets_the_profile_when_its_exchanger_does_and_the_verdict_is_cached() {
    let (mut good, _dir) = server(KeyKind::P256);
    let port = good.port();
    let transport = check(port, &[]);
    assert_eq!(
        transport.meets_profile("good.test", "bsi-tr-03108"),
        Ok(true)
    );
    // The server is gone; the cached verdict still answers.
    good.stop();
    assert_eq!(
        transport.meets_profile("good.test", "bsi-tr-03108"),
        Ok(true)
    );
    // A fresh check (no cache) cannot reach it: an error, so the mail is
    // deferred rather than sent under a guess.
    let fresh = check(port, &[]);
    let error = fresh
        .meets_profile("good.test", "bsi-tr-03108")
        .unwrap_err();
    assert!(error.to_string().contains("could be checked"), "{error}");
    assert!(
        matches!(error, TransportCheckError::NoExchangerChecked { .. }),
        "{error:?}"
    );
}

#[test]
fn an_rsa_2048_exchanger_does_not_meet_bsi_but_meets_opportunistic() {
    let (weak, _dir) = server(KeyKind::Rsa2048);
    let transport = check(weak.port(), &[]);
    assert_eq!(
        transport.meets_profile("weak.test", "bsi-tr-03108"),
        Ok(false)
    );
    assert_eq!(
        transport.meets_profile("weak.test", "opportunistic"),
        Ok(true)
    );
}

#[test]
fn known_verdicts_missing_domains_null_mx_and_dns_failures() {
    // Nothing listens on this port: any probe would fail.
    let transport = check(9, &[("good.test", false), ("elsewhere.test", true)]);
    assert_eq!(
        transport.meets_profile("Good.Test", "bsi-tr-03108"),
        Ok(false)
    );
    assert_eq!(
        transport.meets_profile("elsewhere.test", "bsi-tr-03108"),
        Ok(true)
    );
    assert_eq!(
        transport.meets_profile("nowhere.test", "bsi-tr-03108"),
        Ok(false)
    );
    assert_eq!(
        transport.meets_profile("nomail.test", "bsi-tr-03108"),
        Ok(false)
    );
    let error = transport
        .meets_profile("broken.test", "bsi-tr-03108")
        .unwrap_err();
    assert!(error.to_string().contains("no answer in time"), "{error}");
    assert!(matches!(error, TransportCheckError::Dns(_)), "{error:?}");
    assert!(
        transport
            .meets_profile("good.test", "no-such-profile")
            .is_ok()
    );
    assert!(
        matches!(
            transport.meets_profile("weak.test", "no-such-profile"),
            Err(TransportCheckError::UnknownProfile { profile, .. }) if profile == "no-such-profile"
        ),
        "an unknown profile is an error, not a verdict"
    );
}
