//! The validating resolver (`HickoryDns`) against a real DNSSEC-signed zone:
//! keys made by `ldns-keygen`, the zone signed by `ldns-signzone`, served by
//! NSD on 127.0.0.1, with the zone's KSK as the only trust anchor. Then the
//! whole probe: TLSA from that zone judged against an OpenSSL server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use support::{Server, Setup, prober};
use testkit::KeyKind;
use testkit::nsd::{Nsd, Zone};
use tls_policy::{
    DaneState, Dns, DnsError, HickoryDns, Profile, ResolverSetup, RouteKind, Target, TlsaLookup,
    resolve_mx,
};

const MX: &str = "mx.dane.test";

fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|error| panic!("{program}: {error}"));
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn spki_sha256_hex(der: &[u8]) -> String {
    use der::{Decode, Encode};
    let certificate = x509_cert::Certificate::from_der(der).unwrap();
    let spki = certificate
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .unwrap();
    Sha256::digest(&spki)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// NSD serving `dane.test` (signed; one TLSA changed after signing) and
/// `plain.dane.test` (unsigned, delegated without DS).
fn start_nsd(smtp_port: u16, tlsa_hex: &str) -> Nsd {
    let records = format!(
        "@ IN MX 20 backup.dane.test.\n\
         @ IN MX 10 mx.dane.test.\n\
         mx IN A 127.0.0.1\n\
         _{smtp_port}._tcp.mx IN TLSA 3 1 1 {tlsa_hex}\n\
         _{smtp_port}._tcp.bad IN TLSA 3 1 1 {tlsa_hex}\n\
         nullmx IN MX 0 .\n\
         nomx IN A 127.0.0.1\n\
         alias IN CNAME mx\n\
         plainalias IN CNAME mx.plain.dane.test.\n\
         plain IN NS ns.dane.test.\n"
    );
    let plain =
        format!("@ IN MX 10 mx.plain.dane.test.\n_{smtp_port}._tcp.mx IN TLSA 3 1 1 {tlsa_hex}\n");
    // Tamper: change the TLSA data of `bad` after signing.
    let marker = format!("_{smtp_port}._tcp.bad.dane.test.");
    let tamper = |signed: String| {
        let tampered: String = signed
            .lines()
            .map(|line| {
                if line.starts_with(&marker) && line.contains("\tTLSA\t") {
                    let (head, data) = line.rsplit_once(' ').unwrap();
                    let flipped = if data.starts_with('0') { "1" } else { "0" };
                    format!("{head} {flipped}{}\n", &data[1..])
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        assert_ne!(tampered, signed, "the tampered record was not found");
        tampered
    };
    Nsd::start(
        Zone {
            origin: "dane.test",
            records: &records,
        },
        &[Zone {
            origin: "plain.dane.test",
            records: &plain,
        }],
        tamper,
    )
}

fn resolver(nsd: &Nsd, anchor: &str) -> HickoryDns {
    HickoryDns::new(&ResolverSetup {
        servers: vec![nsd.address],
        trust_anchors: Some(anchor.to_owned()),
        timeout: Some(Duration::from_secs(3)),
    })
    .unwrap()
}

fn leaf() -> Vec<u8> {
    testkit::pki()
        .tls_server(support::NAME, KeyKind::P256)
        .certificate_der()
        .to_vec()
}

#[test]
#[ignore = "needs nsd and ldnsutils"]
fn hickory_validates_a_signed_zone_on_nsd_and_rejects_tampered_and_unsigned_data() {
    let port = 2525;
    let tlsa = spki_sha256_hex(&leaf());
    let nsd = start_nsd(port, &tlsa);
    let dns = resolver(&nsd, &nsd.anchor);

    // MX from the signed zone: secure, in preference order.
    let route = resolve_mx(&dns, "dane.test").unwrap();
    assert_eq!(route.kind, RouteKind::Mx);
    assert!(route.secure, "{route:?}");
    let hosts: Vec<&str> = route.hosts.iter().map(|h| h.exchange.as_str()).collect();
    assert_eq!(hosts, ["mx.dane.test", "backup.dane.test"]);
    assert_eq!(
        resolve_mx(&dns, "nullmx.dane.test").unwrap().kind,
        RouteKind::NullMx
    );
    let implicit = resolve_mx(&dns, "nomx.dane.test").unwrap();
    assert_eq!(implicit.kind, RouteKind::Implicit);
    assert!(implicit.secure, "NSEC proves there is no MX: {implicit:?}");
    assert!(matches!(
        resolve_mx(&dns, "nowhere.dane.test"),
        Err(DnsError::NoSuchDomain { secure: true, .. })
    ));

    // Secure TLSA: accepted.
    let answer = dns.tlsa(&format!("_{port}._tcp.{MX}")).unwrap();
    assert!(answer.secure);
    assert_eq!(answer.records.len(), 1);
    assert_eq!(answer.records[0].to_string(), format!("3 1 1 {tlsa}"));

    // Changed after signing: bogus, a temporary error (defer).
    let bogus = dns
        .tlsa(&format!("_{port}._tcp.bad.dane.test"))
        .unwrap_err();
    assert!(matches!(bogus, DnsError::Bogus { .. }), "{bogus:?}");
    assert!(bogus.is_temporary());
    assert!(matches!(
        TlsaLookup::from_answer(Err(bogus)).unwrap(),
        TlsaLookup::Bogus(_)
    ));

    // Unsigned child zone (delegated without DS): insecure, DANE not used.
    let insecure = dns
        .tlsa(&format!("_{port}._tcp.mx.plain.dane.test"))
        .unwrap();
    assert!(!insecure.secure);
    assert_eq!(insecure.records.len(), 1);
    assert_eq!(
        TlsaLookup::from_answer(Ok(insecure)).unwrap(),
        TlsaLookup::NotApplicable(DaneState::Insecure)
    );

    // No TLSA at an existing name: validated denial.
    let none = TlsaLookup::from_answer(dns.tlsa("_25._tcp.mx.dane.test")).unwrap();
    assert_eq!(none, TlsaLookup::NotApplicable(DaneState::NoRecords));

    // RFC 7672 section 2.2.2: `alias` is a signed CNAME to `mx`, whose
    // TLSA records apply; `plainalias` points into the unsigned zone, so
    // its expansion is insecure and only its own (absent) records count.
    let expansion = tls_policy::expand_cname(&dns, "alias.dane.test").unwrap();
    assert_eq!(expansion.target, MX);
    assert!(expansion.secure, "{expansion:?}");
    let not_alias = tls_policy::expand_cname(&dns, MX).unwrap();
    assert!(!not_alias.is_alias() && not_alias.secure, "{not_alias:?}");
    let lookup = tls_policy::lookup_tlsa(&dns, "alias.dane.test", port).unwrap();
    assert_eq!(lookup.base_domain, MX);
    assert!(matches!(lookup.lookup, TlsaLookup::Usable(_)), "{lookup:?}");
    let insecure = tls_policy::expand_cname(&dns, "plainalias.dane.test").unwrap();
    assert_eq!(insecure.target, "mx.plain.dane.test");
    assert!(!insecure.secure, "{insecure:?}");
    let lookup = tls_policy::lookup_tlsa(&dns, "plainalias.dane.test", port).unwrap();
    assert_eq!(
        (lookup.base_domain.as_str(), lookup.expanded.as_deref()),
        ("plainalias.dane.test", None)
    );
    assert_eq!(
        lookup.lookup,
        TlsaLookup::NotApplicable(DaneState::NoRecords)
    );

    // With another key as anchor the same signed data does not validate.
    let stranger = tempfile::tempdir().unwrap();
    let other = run(
        stranger.path(),
        "ldns-keygen",
        &["-a", "ECDSAP256SHA256", "-k", "dane.test"],
    );
    let other_anchor =
        std::fs::read_to_string(stranger.path().join(format!("{}.key", other.trim()))).unwrap();
    let wrong = resolver(&nsd, &other_anchor);
    let error = wrong.tlsa(&format!("_{port}._tcp.{MX}")).unwrap_err();
    assert!(matches!(error, DnsError::Bogus { .. }), "{error:?}");
}

#[test]
#[ignore = "needs nsd and ldnsutils"]
fn probe_judges_an_openssl_server_by_tlsa_from_the_signed_zone() {
    let server = Server::start(&Setup::default());
    let nsd = start_nsd(server.port, &spki_sha256_hex(&leaf()));
    let dns: Arc<dyn Dns> = Arc::new(resolver(&nsd, &nsd.anchor));
    // The server's certificate names mx.example.test; DANE-EE does not look
    // at names, and the opportunistic profile enforces only DANE.
    let target = Target::parse(&format!("127.0.0.1:{}", server.port), false)
        .unwrap()
        .with_name(MX);
    let prober = prober(Profile::opportunistic())
        .with_enumeration(false)
        .with_dns(Arc::clone(&dns));
    let (observation, report) = prober.check(&target).unwrap();
    assert_eq!(
        observation.dane,
        DaneState::Usable {
            records: 1,
            matched: true
        }
    );
    assert!(report.conforms, "{report:#?}");
    // Through the signed alias: the target's records judge the server.
    let alias = target.clone().with_name("alias.dane.test");
    let (observation, report) = prober.check(&alias).unwrap();
    assert_eq!(
        observation.dane,
        DaneState::Usable {
            records: 1,
            matched: true
        }
    );
    assert!(report.conforms, "{report:#?}");
    // The tampered record: bogus, do not send.
    let bad = target.clone().with_name("bad.dane.test");
    let (observation, report) = prober.check(&bad).unwrap();
    assert_eq!(observation.dane, DaneState::Bogus);
    assert!(!report.conforms);
    // The unsigned zone's record is not used.
    let plain = target.with_name("mx.plain.dane.test");
    let (observation, report) = prober.check(&plain).unwrap();
    assert_eq!(observation.dane, DaneState::Insecure);
    assert!(report.conforms, "{report:#?}");
}
