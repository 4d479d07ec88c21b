//! The memory of failed requests in the online sources (OCSP and CRL
//! distribution points), through transports that count what they are
//! asked: a failure to get an answer is not repeated within the interval,
//! an OCSP answer refused on its merits is, a zero interval remembers
//! nothing, and a success clears the memory. No network: this runs without
//! the `ocsp-http` feature too.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use smime_core::Certificate;
use smime_core::revocation::{
    CrlDpSource, CrlFetcher, OcspSource, OcspTransport, RETRY_FAILED_AFTER, Responders,
    RevocationError, RevocationSource,
};
use testkit::{KeyKind, OpensslCa, pki};

/// Answers every request with `answer`, counting them.
#[derive(Debug, Clone)]
struct Counting {
    calls: Arc<AtomicUsize>,
    answer: Result<Vec<u8>, String>,
}

impl Counting {
    fn new(answer: Result<Vec<u8>, String>) -> Counting {
        Counting {
            calls: Arc::new(AtomicUsize::new(0)),
            answer,
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl OcspTransport for Counting {
    fn send(&self, _: &str, _: &[u8]) -> Result<Vec<u8>, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.answer.clone()
    }
}

impl CrlFetcher for Counting {
    fn fetch(&self, _: &str) -> Result<Vec<u8>, String> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.answer.clone()
    }
}

fn pair() -> (Certificate, Certificate) {
    (
        common::certificate("memory@example.org", KeyKind::P256),
        Certificate::from_der(pki().intermediate().certificate_der()).unwrap(),
    )
}

fn ask_twice(
    source: &dyn RevocationSource,
    certificate: &Certificate,
    issuer: &Certificate,
) -> [RevocationError; 2] {
    let now = SystemTime::now();
    [
        source.status(certificate, issuer, now).unwrap_err(),
        source.status(certificate, issuer, now).unwrap_err(),
    ]
}

#[test]
fn an_unreachable_responder_is_asked_once_per_interval() {
    let (certificate, issuer) = pair();
    let transport = Counting::new(Err("connection refused".into()));
    let source = OcspSource::new(
        transport.clone(),
        Responders::Fixed("http://ocsp.test/".into()),
    );
    let [first, second] = ask_twice(&source, &certificate, &issuer);
    assert!(
        matches!(first, RevocationError::Unreachable { .. }),
        "{first}"
    );
    assert_eq!(first, second, "the remembered error is the same");
    assert_eq!(transport.calls(), 1);
    // Clones share the memory.
    let _ = source
        .clone()
        .status(&certificate, &issuer, SystemTime::now());
    assert_eq!(transport.calls(), 1);
    assert_eq!(RETRY_FAILED_AFTER, Duration::from_secs(60));
}

#[test]
fn the_memory_expires_and_zero_remembers_nothing() {
    let (certificate, issuer) = pair();
    let transport = Counting::new(Err("timed out".into()));
    let source = OcspSource::new(
        transport.clone(),
        Responders::Fixed("http://ocsp.test/".into()),
    )
    .with_failure_memory(Duration::from_millis(200));
    ask_twice(&source, &certificate, &issuer);
    assert_eq!(transport.calls(), 1);
    std::thread::sleep(Duration::from_millis(250));
    let _ = source.status(&certificate, &issuer, SystemTime::now());
    assert_eq!(transport.calls(), 2);

    let transport = Counting::new(Err("timed out".into()));
    let source = OcspSource::new(
        transport.clone(),
        Responders::Fixed("http://ocsp.test/".into()),
    )
    .with_failure_memory(Duration::ZERO);
    ask_twice(&source, &certificate, &issuer);
    assert_eq!(transport.calls(), 2);
}

#[test]
fn an_ocsp_answer_refused_on_its_merits_is_asked_again() {
    let (certificate, issuer) = pair();
    let transport = Counting::new(Ok(b"not an OCSP response".to_vec()));
    let source = OcspSource::new(
        transport.clone(),
        Responders::Fixed("http://ocsp.test/".into()),
    );
    let [first, _] = ask_twice(&source, &certificate, &issuer);
    assert!(
        matches!(first, RevocationError::MalformedOcsp { .. }),
        "{first}"
    );
    assert_eq!(transport.calls(), 2);
}

#[test]
fn a_failed_crl_download_is_remembered_whatever_failed() {
    let ca = OpensslCa::new(pki().intermediate());
    let (path, _) = ca.issue_smime_with_crl_dp(
        "memory",
        "memory.dp@example.org",
        &["http://crl.test/ca.crl"],
    );
    let certificate = Certificate::load(&std::fs::read(path).unwrap())
        .unwrap()
        .remove(0);
    let issuer = Certificate::from_der(pki().intermediate().certificate_der()).unwrap();
    for answer in [
        Err("connection refused".to_owned()),
        Ok(b"garbage".to_vec()),
    ] {
        let fetcher = Counting::new(answer.clone());
        let source = CrlDpSource::new(fetcher.clone());
        let [first, second] = ask_twice(&source, &certificate, &issuer);
        assert_eq!(first, second);
        assert!(
            first.to_string().contains("http://crl.test/ca.crl"),
            "{first}"
        );
        assert_eq!(fetcher.calls(), 1, "{answer:?}");

        let fetcher = Counting::new(answer);
        let source = CrlDpSource::new(fetcher.clone()).with_failure_memory(Duration::ZERO);
        ask_twice(&source, &certificate, &issuer);
        assert_eq!(fetcher.calls(), 2);
    }
    // A good CRL after a failure: the memory does not hide it once expired,
    // and the CRL is then cached.
    let fetcher = Counting::new(Ok(ca.crl_der()));
    let source = CrlDpSource::new(fetcher.clone());
    let now = SystemTime::now();
    assert!(source.status(&certificate, &issuer, now).unwrap().is_some());
    assert!(source.status(&certificate, &issuer, now).unwrap().is_some());
    assert_eq!(fetcher.calls(), 1);
}
