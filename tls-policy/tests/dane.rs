//! DANE (RFC 7672): the matching function on certificates made here
//! (testkit's PKI and rcgen), and the probe against OpenSSL servers (Python's
//! `ssl`) with an injected resolver giving matching, non-matching and bogus
//! TLSA answers.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256, Sha512};
use support::{NAME, Server, Setup, prober};
use testkit::KeyKind;
use tls_policy::{
    Answer, DaneState, Dns, DnsError, Error, Mx, Outcome, Profile, TlsaLookup, TlsaRecord,
    dane_state, match_chain,
};

fn spki(der: &[u8]) -> Vec<u8> {
    use der::{Decode, Encode};
    let certificate = x509_cert::Certificate::from_der(der).unwrap();
    certificate
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap()
}

fn record(usage: u8, selector: u8, matching: u8, certificate: &[u8]) -> TlsaRecord {
    let selected = if selector == 0 {
        certificate.to_vec()
    } else {
        spki(certificate)
    };
    let data = match matching {
        0 => selected,
        1 => Sha256::digest(&selected).to_vec(),
        _ => Sha512::digest(&selected).to_vec(),
    };
    TlsaRecord {
        usage,
        selector,
        matching,
        data,
    }
}

/// testkit's server identity: leaf and intermediate, as a server sends them.
fn chain() -> Vec<CertificateDer<'static>> {
    let identity = testkit::pki().tls_server(NAME, KeyKind::P256);
    let mut chain = vec![CertificateDer::from(identity.certificate_der().to_vec())];
    chain.extend(
        identity
            .chain_der()
            .iter()
            .map(|der| CertificateDer::from(der.clone())),
    );
    chain
}

fn self_signed(name: &str) -> Vec<u8> {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

const FAR_FUTURE: Duration = Duration::from_secs(4_000_000_000);

#[test]
fn dane_ee_matches_every_selector_and_matching_type_ignoring_name_and_expiry() {
    let chain = chain();
    let now = SystemTime::now();
    for (selector, matching) in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)] {
        let ee = record(3, selector, matching, &chain[0]);
        let found = match_chain(std::slice::from_ref(&ee), &chain, NAME, now)
            .unwrap_or_else(|| panic!("3 {selector} {matching} must match"));
        assert_eq!((found.position, found.record), (0, ee.clone()));
        // RFC 7672 section 3.1.1: no name and no validity check for DANE-EE.
        let long_after = SystemTime::UNIX_EPOCH + FAR_FUTURE;
        assert!(match_chain(&[ee], &chain, "other.example", long_after).is_some());
    }
    // A self-signed certificate (rcgen) pinned by DANE-EE needs no CA.
    let alone = vec![CertificateDer::from(self_signed("mx.example.test"))];
    assert!(match_chain(&[record(3, 1, 1, &alone[0])], &alone, NAME, now).is_some());
}

#[test]
fn records_for_other_certificates_or_unusable_records_do_not_match() {
    let chain = chain();
    let now = SystemTime::now();
    let other = self_signed(NAME);
    for (selector, matching) in [(0, 1), (1, 1), (1, 2), (0, 0)] {
        assert!(match_chain(&[record(3, selector, matching, &other)], &chain, NAME, now).is_none());
    }
    // PKIX-TA and PKIX-EE records are ignored in SMTP (RFC 7672 section 3.1.3).
    assert!(match_chain(&[record(1, 1, 1, &chain[0])], &chain, NAME, now).is_none());
    assert!(match_chain(&[record(0, 0, 1, &chain[1])], &chain, NAME, now).is_none());
    // DANE-EE names the end entity, not the issuer.
    assert!(match_chain(&[record(3, 0, 1, &chain[1])], &chain, NAME, now).is_none());
    // A truncated digest never matches.
    let mut short = record(3, 1, 1, &chain[0]);
    short.data.pop();
    assert!(match_chain(&[short], &chain, NAME, now).is_none());
    // The one usable record among unusable ones is found.
    let records = [
        record(1, 1, 1, &chain[0]),
        record(3, 1, 2, &other),
        record(3, 1, 2, &chain[0]),
    ];
    assert_eq!(
        match_chain(&records, &chain, NAME, now).unwrap().record,
        records[2]
    );
    assert!(match_chain(&records, &[], NAME, now).is_none());
}

#[test]
fn dane_ta_needs_the_chain_to_lead_to_the_anchor_and_the_name() {
    let chain = chain();
    let now = SystemTime::now();
    for (selector, matching) in [(0, 1), (1, 1), (0, 0), (1, 2)] {
        let ta = record(2, selector, matching, &chain[1]);
        let found = match_chain(std::slice::from_ref(&ta), &chain, NAME, now).unwrap();
        assert_eq!(found.position, 1);
        // The name must match for DANE-TA (RFC 7672 section 3.1.2).
        assert!(
            match_chain(std::slice::from_ref(&ta), &chain, "other.example.test", now).is_none()
        );
        // And the chain must be valid at the check time.
        let long_after = SystemTime::UNIX_EPOCH + FAR_FUTURE;
        assert!(match_chain(std::slice::from_ref(&ta), &chain, NAME, long_after).is_none());
    }
    // The anchor is in the chain, but the end entity was not issued by it.
    let forged = vec![CertificateDer::from(self_signed(NAME)), chain[1].clone()];
    assert!(match_chain(&[record(2, 0, 1, &chain[1])], &forged, NAME, now).is_none());
    // A DANE-TA record naming the end entity itself is not a trust anchor.
    assert!(match_chain(&[record(2, 0, 1, &chain[0])], &chain, NAME, now).is_none());
}

#[test]
fn tlsa_answers_are_judged_per_rfc7672() {
    let chain = chain();
    let now = SystemTime::now();
    let good = record(3, 1, 1, &chain[0]);
    let state = |answer| {
        let lookup = TlsaLookup::from_answer(answer).unwrap();
        dane_state(&lookup, Some(&chain), NAME, now)
    };
    assert_eq!(
        state(Ok(Answer::secure(vec![good.clone()]))),
        DaneState::Usable {
            records: 1,
            matched: true
        }
    );
    // Not DNSSEC-validated: not used, even though it would match.
    assert_eq!(
        state(Ok(Answer::insecure(vec![good.clone()]))),
        DaneState::Insecure
    );
    assert_eq!(state(Ok(Answer::secure(Vec::new()))), DaneState::NoRecords);
    // Only unusable records: DANE does not apply.
    assert_eq!(
        state(Ok(Answer::secure(vec![record(1, 1, 1, &chain[0])]))),
        DaneState::NoRecords
    );
    let bogus = DnsError::Bogus {
        name: "_25._tcp.mx.example.test".into(),
        record_type: "TLSA",
        reason: "test".into(),
    };
    assert_eq!(state(Err(bogus)), DaneState::Bogus);
    // Usable records and no TLS session: nothing can match.
    let lookup = TlsaLookup::from_answer(Ok(Answer::secure(vec![good]))).unwrap();
    assert_eq!(
        dane_state(&lookup, None, NAME, now),
        DaneState::Usable {
            records: 1,
            matched: false
        }
    );
    let timeout = DnsError::Timeout {
        name: "x".into(),
        record_type: "TLSA",
    };
    assert!(
        TlsaLookup::from_answer(Err(timeout))
            .unwrap_err()
            .is_temporary()
    );
}

/// A resolver answering TLSA queries from a fixed answer, recording names.
#[derive(Debug)]
struct FakeDns {
    tlsa: Result<Answer<TlsaRecord>, DnsError>,
    asked: Mutex<Vec<String>>,
}

impl FakeDns {
    fn new(tlsa: Result<Answer<TlsaRecord>, DnsError>) -> Arc<FakeDns> {
        Arc::new(FakeDns {
            tlsa,
            asked: Mutex::new(Vec::new()),
        })
    }
}

impl Dns for FakeDns {
    fn mx(&self, _: &str) -> Result<Answer<Mx>, DnsError> {
        Ok(Answer::secure(Vec::new()))
    }
    fn tlsa(&self, name: &str) -> Result<Answer<TlsaRecord>, DnsError> {
        self.asked.lock().unwrap().push(name.to_owned());
        self.tlsa.clone()
    }
}

fn dane_finding(report: &tls_policy::Report) -> (Outcome, String) {
    let finding = report
        .findings
        .iter()
        .find(|f| f.check == "dane.tlsa")
        .unwrap();
    (finding.outcome, finding.observed.clone())
}

fn leaf() -> Vec<u8> {
    testkit::pki()
        .tls_server(NAME, KeyKind::P256)
        .certificate_der()
        .to_vec()
}

#[test]
fn openssl_server_matching_tlsa_passes_dane() {
    let server = Server::start(&Setup::default());
    let dns = FakeDns::new(Ok(Answer::secure(vec![record(3, 1, 1, &leaf())])));
    let prober = prober(Profile::bsi_tr_03108())
        .with_enumeration(false)
        .with_dns(dns.clone());
    let (observation, report) = prober.check(&server.target()).unwrap();
    assert_eq!(
        observation.dane,
        DaneState::Usable {
            records: 1,
            matched: true
        }
    );
    assert_eq!(dane_finding(&report).0, Outcome::Pass);
    assert!(report.conforms, "{report:#?}");
    assert_eq!(
        *dns.asked.lock().unwrap(),
        [format!("_{}._tcp.{NAME}", server.port)]
    );
    // DANE-TA naming the intermediate the server sends works too.
    let intermediate = testkit::pki().tls_server(NAME, KeyKind::P256).chain_der()[0].clone();
    let dns = FakeDns::new(Ok(Answer::secure(vec![record(2, 0, 1, &intermediate)])));
    let prober = prober.with_dns(dns);
    let (observation, _) = prober.check(&server.target()).unwrap();
    assert_eq!(
        observation.dane,
        DaneState::Usable {
            records: 1,
            matched: true
        }
    );
    // And delivery goes ahead over the judged connection.
    let delivery = prober.connect_for_delivery(&server.target()).unwrap();
    assert!(matches!(
        delivery.observation.dane,
        DaneState::Usable { matched: true, .. }
    ));
}

#[test]
fn openssl_server_not_matching_tlsa_fails_dane_and_delivery_is_refused() {
    let server = Server::start(&Setup::default());
    let other = self_signed(NAME);
    let dns = FakeDns::new(Ok(Answer::secure(vec![record(3, 1, 1, &other)])));
    for profile in [Profile::bsi_tr_03108(), Profile::opportunistic()] {
        let prober = prober(profile)
            .with_enumeration(false)
            .with_dns(dns.clone());
        let (observation, report) = prober.check(&server.target()).unwrap();
        assert_eq!(
            observation.dane,
            DaneState::Usable {
                records: 1,
                matched: false
            }
        );
        let (outcome, observed) = dane_finding(&report);
        assert_eq!(outcome, Outcome::Fail);
        assert!(observed.contains("do not send"), "{observed}");
        assert!(!report.conforms);
        match prober.connect_for_delivery(&server.target()) {
            Err(Error::NotConforming { failures, .. }) => {
                assert!(failures.contains("none matches"), "{failures}")
            }
            other => panic!("delivery must be refused: {other:?}"),
        }
    }
}

#[test]
fn openssl_server_self_signed_pinned_by_dane_ee_passes_the_opportunistic_profile() {
    let server = Server::start(&Setup {
        self_signed: true,
        ..Setup::default()
    });
    let pem = std::fs::read(server.dir.path().join("cert.pem")).unwrap();
    let der = tls_policy::pem_certificates(&pem).unwrap().remove(0);
    let dns = FakeDns::new(Ok(Answer::secure(vec![record(3, 1, 1, &der)])));
    let prober = prober(Profile::opportunistic())
        .with_enumeration(false)
        .with_dns(dns);
    let (observation, report) = prober.check(&server.target()).unwrap();
    assert_eq!(
        observation.dane,
        DaneState::Usable {
            records: 1,
            matched: true
        }
    );
    assert!(report.conforms, "{report:#?}");
    assert!(prober.connect_for_delivery(&server.target()).is_ok());
}

#[test]
fn usable_tlsa_without_starttls_bogus_answers_and_dns_timeouts_mean_defer() {
    let server = Server::start(&Setup {
        mode: "no-starttls",
        ..Setup::default()
    });
    let dns = FakeDns::new(Ok(Answer::secure(vec![record(3, 1, 1, &leaf())])));
    let prober = prober(Profile::opportunistic())
        .with_enumeration(false)
        .with_dns(dns);
    let (_, report) = prober.check(&server.target()).unwrap();
    let (outcome, observed) = dane_finding(&report);
    assert_eq!(outcome, Outcome::Fail);
    assert!(observed.contains("no TLS session"), "{observed}");

    let server = Server::start(&Setup::default());
    let bogus = FakeDns::new(Err(DnsError::Bogus {
        name: "_25._tcp.mx.example.test".into(),
        record_type: "TLSA",
        reason: "bad signature".into(),
    }));
    let prober = prober.with_dns(bogus);
    let (observation, report) = prober.check(&server.target()).unwrap();
    assert_eq!(observation.dane, DaneState::Bogus);
    assert_eq!(dane_finding(&report).0, Outcome::Fail);

    let timeout = FakeDns::new(Err(DnsError::Timeout {
        name: "_25._tcp.mx.example.test".into(),
        record_type: "TLSA",
    }));
    let error = prober
        .with_dns(timeout)
        .check(&server.target())
        .unwrap_err();
    assert!(
        matches!(error, Error::Dns(DnsError::Timeout { .. })),
        "{error}"
    );
    assert!(error.is_temporary());
}

#[test]
fn insecure_tlsa_is_not_used() {
    let server = Server::start(&Setup::default());
    let other = self_signed(NAME);
    let dns = FakeDns::new(Ok(Answer::insecure(vec![record(3, 1, 1, &other)])));
    let prober = prober(Profile::bsi_tr_03108())
        .with_enumeration(false)
        .with_dns(dns);
    let (observation, report) = prober.check(&server.target()).unwrap();
    assert_eq!(observation.dane, DaneState::Insecure);
    assert_eq!(dane_finding(&report).0, Outcome::NotApplicable);
    assert!(report.conforms);
}

/// A resolver answering from tables: CNAME links and TLSA answers per name
/// (a name not in the TLSA table is a validated NXDOMAIN), recording the
/// TLSA names asked for.
#[derive(Debug, Default)]
struct Zone {
    cname: HashMap<String, Result<Answer<String>, DnsError>>,
    tlsa: HashMap<String, Result<Answer<TlsaRecord>, DnsError>>,
    asked: Mutex<Vec<String>>,
}

impl Zone {
    fn alias(mut self, name: &str, target: &str, secure: bool) -> Zone {
        let answer = Answer {
            records: vec![target.to_owned()],
            secure,
        };
        self.cname.insert(name.to_owned(), Ok(answer));
        self
    }

    fn tlsa(mut self, name: &str, answer: Result<Answer<TlsaRecord>, DnsError>) -> Zone {
        self.tlsa.insert(name.to_owned(), answer);
        self
    }

    fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Dns for Zone {
    fn mx(&self, _: &str) -> Result<Answer<Mx>, DnsError> {
        Ok(Answer::secure(Vec::new()))
    }
    fn tlsa(&self, name: &str) -> Result<Answer<TlsaRecord>, DnsError> {
        self.asked.lock().unwrap().push(name.to_owned());
        self.tlsa.get(name).cloned().unwrap_or_else(|| {
            Err(DnsError::NoSuchDomain {
                name: name.to_owned(),
                secure: true,
            })
        })
    }
    fn cname(&self, name: &str) -> Result<Answer<String>, DnsError> {
        // Not an alias, proven by DNSSEC (NSEC without CNAME in the bitmap).
        self.cname
            .get(name)
            .cloned()
            .unwrap_or_else(|| Ok(Answer::secure(Vec::new())))
    }
}

const ALIAS: &str = "alias.example.net";

fn bogus(name: &str) -> DnsError {
    DnsError::Bogus {
        name: name.to_owned(),
        record_type: "TLSA",
        reason: "test".into(),
    }
}

#[test]
fn tlsa_base_domain_is_the_secure_cname_target_first_then_the_mx_name() {
    let chain = chain();
    let at_target = record(3, 1, 1, &chain[0]);
    let at_alias = record(3, 1, 2, &chain[0]);
    let target_name = format!("_25._tcp.{NAME}");
    let alias_name = format!("_25._tcp.{ALIAS}");

    // RFC 7672 section 2.2.2: a secure CNAME, records at the target: used,
    // the alias's records are not even asked for.
    let zone = Zone::default()
        .alias(ALIAS, NAME, true)
        .tlsa(&target_name, Ok(Answer::secure(vec![at_target.clone()])))
        .tlsa(&alias_name, Ok(Answer::secure(vec![at_alias.clone()])));
    let lookup = tls_policy::lookup_tlsa(&zone, "Alias.Example.NET.", 25).unwrap();
    assert_eq!(lookup.host, ALIAS);
    assert_eq!(lookup.expanded.as_deref(), Some(NAME));
    assert_eq!(lookup.base_domain, NAME);
    assert_eq!(lookup.server_name(), NAME);
    assert_eq!(lookup.lookup, TlsaLookup::Usable(vec![at_target]));
    assert_eq!(lookup.reference_names(), [ALIAS, NAME]);
    assert_eq!(zone.asked(), std::slice::from_ref(&target_name));

    // None at the target (validated NXDOMAIN or NODATA): the MX name's.
    for none in [
        Err(DnsError::NoSuchDomain {
            name: target_name.clone(),
            secure: true,
        }),
        Ok(Answer::secure(Vec::new())),
    ] {
        let zone = Zone::default()
            .alias(ALIAS, NAME, true)
            .tlsa(&target_name, none)
            .tlsa(&alias_name, Ok(Answer::secure(vec![at_alias.clone()])));
        let lookup = tls_policy::lookup_tlsa(&zone, ALIAS, 25).unwrap();
        assert_eq!(lookup.base_domain, ALIAS);
        assert_eq!(lookup.server_name(), ALIAS);
        assert_eq!(lookup.expanded.as_deref(), Some(NAME));
        assert_eq!(lookup.lookup, TlsaLookup::Usable(vec![at_alias.clone()]));
        assert_eq!(zone.asked(), [target_name.clone(), alias_name.clone()]);
    }

    // An insecure CNAME: only the MX name counts; the target's records
    // (which an attacker could have pointed at) are not asked for.
    let zone = Zone::default().alias(ALIAS, NAME, false).tlsa(
        &target_name,
        Ok(Answer::secure(vec![record(3, 1, 1, &chain[0])])),
    );
    let lookup = tls_policy::lookup_tlsa(&zone, ALIAS, 25).unwrap();
    assert_eq!(lookup.expanded, None);
    assert_eq!(lookup.base_domain, ALIAS);
    assert_eq!(
        lookup.lookup,
        TlsaLookup::NotApplicable(DaneState::NoRecords)
    );
    assert_eq!(lookup.reference_names(), [ALIAS]);
    assert_eq!(zone.asked(), std::slice::from_ref(&alias_name));

    // Insecure anywhere along the chain is insecure: a secure first link to
    // a name whose own CNAME is unsigned, or whose "no CNAME" is unproven.
    let hop = "hop.example.net";
    let zone = Zone::default()
        .alias(ALIAS, hop, true)
        .alias(hop, NAME, false)
        .tlsa(
            &target_name,
            Ok(Answer::secure(vec![record(3, 1, 1, &chain[0])])),
        );
    let lookup = tls_policy::lookup_tlsa(&zone, ALIAS, 25).unwrap();
    assert_eq!(
        (lookup.expanded, lookup.base_domain.as_str()),
        (None, ALIAS)
    );
    let mut zone = Zone::default().alias(ALIAS, NAME, true);
    zone.cname
        .insert(NAME.to_owned(), Ok(Answer::insecure(Vec::new())));
    assert_eq!(
        tls_policy::lookup_tlsa(&zone, ALIAS, 25).unwrap().expanded,
        None
    );
    // Two secure links end at the last name.
    let zone = Zone::default()
        .alias(ALIAS, hop, true)
        .alias(hop, NAME, true)
        .tlsa(
            &target_name,
            Ok(Answer::secure(vec![record(3, 1, 1, &chain[0])])),
        );
    assert_eq!(
        tls_policy::lookup_tlsa(&zone, ALIAS, 25)
            .unwrap()
            .base_domain,
        NAME
    );

    // A bogus answer at the target decides (no falling back to the alias's
    // records), as does a bogus CNAME.
    let zone = Zone::default()
        .alias(ALIAS, NAME, true)
        .tlsa(&target_name, Err(bogus(&target_name)))
        .tlsa(&alias_name, Ok(Answer::secure(vec![at_alias.clone()])));
    let lookup = tls_policy::lookup_tlsa(&zone, ALIAS, 25).unwrap();
    assert!(matches!(lookup.lookup, TlsaLookup::Bogus(_)), "{lookup:?}");
    assert_eq!(
        lookup.state(Some(&chain), SystemTime::now()),
        DaneState::Bogus
    );
    let mut zone = Zone::default();
    zone.cname.insert(ALIAS.to_owned(), Err(bogus(ALIAS)));
    let lookup = tls_policy::lookup_tlsa(&zone, ALIAS, 25).unwrap();
    assert!(matches!(lookup.lookup, TlsaLookup::Bogus(_)), "{lookup:?}");
    assert!(zone.asked().is_empty());

    // A CNAME loop is a DNS failure, an address is not expanded.
    let zone = Zone::default()
        .alias(ALIAS, hop, true)
        .alias(hop, ALIAS, true);
    assert!(matches!(
        tls_policy::lookup_tlsa(&zone, ALIAS, 25),
        Err(DnsError::Failed { .. })
    ));
    let lookup = tls_policy::lookup_tlsa(&Zone::default(), "::1", 25).unwrap();
    assert_eq!(lookup.base_domain, "::1");
    // A resolver without CNAME support (the trait's default) sees no
    // aliases: the MX name's records, as before.
    let plain = FakeDns::new(Ok(Answer::secure(vec![at_alias.clone()])));
    let lookup = tls_policy::lookup_tlsa(plain.as_ref(), ALIAS, 25).unwrap();
    assert_eq!(
        (lookup.expanded, lookup.base_domain.as_str()),
        (None, ALIAS)
    );
    assert_eq!(*plain.asked.lock().unwrap(), [alias_name]);
}

#[test]
fn dane_ta_accepts_the_secure_cname_target_as_reference_identifier() {
    // The certificate names only mx.example.test, the CNAME target.
    let chain = chain();
    let now = SystemTime::now();
    let ta = record(2, 0, 1, &chain[1]);
    let target_name = format!("_25._tcp.{NAME}");
    let zone = Zone::default()
        .alias(ALIAS, NAME, true)
        .tlsa(&target_name, Ok(Answer::secure(vec![ta.clone()])));
    let lookup = tls_policy::lookup_tlsa(&zone, ALIAS, 25).unwrap();
    assert_eq!(
        lookup.state(Some(&chain), now),
        DaneState::Usable {
            records: 1,
            matched: true
        }
    );
    // The same records at the MX name after an insecure expansion: the
    // target name is not a reference identifier, the name check fails.
    let zone = Zone::default().alias(ALIAS, NAME, false).tlsa(
        &format!("_25._tcp.{ALIAS}"),
        Ok(Answer::secure(vec![ta.clone()])),
    );
    let lookup = tls_policy::lookup_tlsa(&zone, ALIAS, 25).unwrap();
    assert_eq!(
        lookup.state(Some(&chain), now),
        DaneState::Usable {
            records: 1,
            matched: false
        }
    );
    // match_chain_for_names: any one of the names will do.
    assert!(
        tls_policy::match_chain_for_names(std::slice::from_ref(&ta), &chain, &[ALIAS, NAME], now)
            .is_some()
    );
    assert!(
        tls_policy::match_chain_for_names(&[ta], &chain, &[ALIAS, "other.example"], now).is_none()
    );
}

#[test]
fn openssl_server_behind_a_secure_cname_is_judged_by_the_targets_tlsa() {
    let server = Server::start(&Setup::default());
    let intermediate = testkit::pki().tls_server(NAME, KeyKind::P256).chain_der()[0].clone();
    let target_name = format!("_{}._tcp.{NAME}", server.port);
    let zone = Arc::new(Zone::default().alias(ALIAS, NAME, true).tlsa(
        &target_name,
        Ok(Answer::secure(vec![record(2, 0, 1, &intermediate)])),
    ));
    // The MX record names the alias; the certificate only the target.
    let target = server.target().with_name(ALIAS);
    let prober = prober(Profile::bsi_tr_03108())
        .with_enumeration(false)
        .with_dns(zone.clone());
    let (observation, report) = prober.check(&target).unwrap();
    assert_eq!(
        observation.dane,
        DaneState::Usable {
            records: 1,
            matched: true
        }
    );
    // The PKIX name check accepts the securely expanded name too.
    assert_eq!(observation.validation.name, tls_policy::Check::Valid);
    assert!(report.conforms, "{report:#?}");
    let delivery = prober.connect_for_delivery(&target).unwrap();
    assert!(matches!(
        delivery.observation.dane,
        DaneState::Usable { matched: true, .. }
    ));
    // SNI was the TLSA base domain (RFC 7672 section 8.1) both times.
    assert_eq!(server.sni_names(), [NAME, NAME]);

    // Records only at the alias: SNI is the alias, and the certificate
    // naming the secure target still passes both name checks.
    let alias_name = format!("_{}._tcp.{ALIAS}", server.port);
    let zone = Arc::new(Zone::default().alias(ALIAS, NAME, true).tlsa(
        &alias_name,
        Ok(Answer::secure(vec![record(2, 0, 1, &intermediate)])),
    ));
    let (observation, report) = prober.clone().with_dns(zone).check(&target).unwrap();
    assert_eq!(
        observation.dane,
        DaneState::Usable {
            records: 1,
            matched: true
        }
    );
    assert_eq!(observation.validation.name, tls_policy::Check::Valid);
    assert!(report.conforms, "{report:#?}");
    assert_eq!(server.sni_names().last().map(String::as_str), Some(ALIAS));

    // An insecure CNAME: DANE is judged at the alias (no records there) and
    // the certificate does not carry the alias: bsi-tr-03108 fails the name.
    let zone = Arc::new(Zone::default().alias(ALIAS, NAME, false).tlsa(
        &target_name,
        Ok(Answer::secure(vec![record(2, 0, 1, &intermediate)])),
    ));
    let prober = prober.with_dns(zone.clone());
    let (observation, report) = prober.check(&target).unwrap();
    assert_eq!(observation.dane, DaneState::NoRecords);
    assert!(matches!(
        observation.validation.name,
        tls_policy::Check::Invalid { .. }
    ));
    assert!(!report.conforms);
    assert_eq!(zone.asked(), [format!("_{}._tcp.{ALIAS}", server.port)]);
    assert_eq!(server.sni_names().last().map(String::as_str), Some(ALIAS));
}

/// RFC 7671 section 5.2.2: a `2 0 0` or `2 1 0` record carries the trust
/// anchor itself, so the server may leave it out of the chain.
#[test]
fn dane_ta_records_carrying_the_anchor_need_no_anchor_in_the_chain() {
    let chain = chain(); // leaf and intermediate, no root
    let root = testkit::pki().root().certificate_der().to_vec();
    let now = SystemTime::now();
    for selector in [0, 1] {
        let ta = record(2, selector, 0, &root);
        let found = match_chain(std::slice::from_ref(&ta), &chain, NAME, now)
            .unwrap_or_else(|| panic!("2 {selector} 0 with the root must match"));
        // Past the end of the presented chain: the anchor was not sent.
        assert_eq!((found.position, found.record), (2, ta.clone()));
        // The usual DANE-TA rules: name and dates.
        assert!(
            match_chain(std::slice::from_ref(&ta), &chain, "other.example.test", now).is_none()
        );
        let long_after = SystemTime::UNIX_EPOCH + FAR_FUTURE;
        assert!(match_chain(std::slice::from_ref(&ta), &chain, NAME, long_after).is_none());
        // A path must lead to the anchor: the leaf alone was not signed by
        // the root's key.
        assert!(match_chain(std::slice::from_ref(&ta), &chain[..1], NAME, now).is_none());
    }
    // The leaf alone, its issuer's key in the record: one signature.
    let issuer_key = record(2, 1, 0, &chain[1]);
    let found = match_chain(std::slice::from_ref(&issuer_key), &chain[..1], NAME, now).unwrap();
    assert_eq!(found.position, 1);

    // Another key signed nothing here.
    let stranger = self_signed("ca.example.test");
    for selector in [0, 1] {
        assert!(match_chain(&[record(2, selector, 0, &stranger)], &chain, NAME, now).is_none());
    }
    // A digest of the absent anchor cannot verify a signature: no match.
    for matching in [1, 2] {
        for selector in [0, 1] {
            let digest = record(2, selector, matching, &root);
            assert!(match_chain(&[digest], &chain, NAME, now).is_none());
        }
    }
    // Not an SPKI, or not a certificate: nothing, and no panic.
    let garbage = TlsaRecord {
        usage: 2,
        selector: 1,
        matching: 0,
        data: vec![0x30, 0x03, 0x02, 0x01, 0x01],
    };
    assert!(match_chain(std::slice::from_ref(&garbage), &chain, NAME, now).is_none());
    assert!(
        match_chain(
            &[TlsaRecord {
                selector: 0,
                ..garbage
            }],
            &chain,
            NAME,
            now
        )
        .is_none()
    );
    // The end entity's own key or certificate is no anchor, even when it
    // signed itself (DANE-EE is the record for that).
    let alone = vec![CertificateDer::from(self_signed(NAME))];
    for selector in [0, 1] {
        assert!(match_chain(&[record(2, selector, 0, &alone[0])], &alone, NAME, now).is_none());
        assert!(match_chain(&[record(2, selector, 0, &chain[0])], &chain, NAME, now).is_none());
    }
}

/// A sent DANE-TA anchor is judged as sent, constraints and all: its bare
/// key in a `2 1 0` record does not get a second chance without them.
#[test]
fn a_sent_anchor_keeps_its_name_constraints() {
    use rcgen::{
        BasicConstraints, CertificateParams, GeneralSubtree, IsCa, Issuer, KeyPair, NameConstraints,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![GeneralSubtree::DnsName("allowed.test".into())],
        excluded_subtrees: Vec::new(),
    });
    let ca = ca_params.self_signed(&ca_key).unwrap().der().to_vec();
    let issuer = Issuer::from_params(&ca_params, &ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec![NAME.to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap()
        .der()
        .to_vec();
    let now = SystemTime::now();
    let ta = record(2, 1, 0, &ca);
    let sent = vec![CertificateDer::from(leaf.clone()), CertificateDer::from(ca)];
    assert!(match_chain(std::slice::from_ref(&ta), &sent, NAME, now).is_none());
    // Left out of the chain, the record's bare key is all there is.
    let unsent = vec![CertificateDer::from(leaf)];
    assert!(match_chain(&[ta], &unsent, NAME, now).is_some());
}

#[test]
fn openssl_server_without_its_ca_passes_dane_with_the_ca_key_in_the_record() {
    // The server sends its leaf only; the record carries the issuing CA's
    // public key.
    let server = Server::start(&Setup {
        send_chain: false,
        ..Setup::default()
    });
    let intermediate = testkit::pki().tls_server(NAME, KeyKind::P256).chain_der()[0].clone();
    let dns = FakeDns::new(Ok(Answer::secure(vec![record(2, 1, 0, &intermediate)])));
    let prober = prober(Profile::opportunistic())
        .with_enumeration(false)
        .with_dns(dns);
    let (observation, report) = prober.check(&server.target()).unwrap();
    assert_eq!(
        observation.dane,
        DaneState::Usable {
            records: 1,
            matched: true
        }
    );
    assert!(report.conforms, "{report:#?}");
    assert!(prober.connect_for_delivery(&server.target()).is_ok());
    // Its digest instead: nothing to verify the leaf's signature with.
    let dns = FakeDns::new(Ok(Answer::secure(vec![record(2, 1, 1, &intermediate)])));
    let prober = prober.with_dns(dns);
    let (observation, report) = prober.check(&server.target()).unwrap();
    assert_eq!(
        observation.dane,
        DaneState::Usable {
            records: 1,
            matched: false
        }
    );
    assert!(!report.conforms);
}
