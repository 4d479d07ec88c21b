//! The class behind "conforms, but no delivery path" (issue 23), on
//! observations built in code: for many random offers (suites of TLS 1.0 to
//! 1.3 drawn from allowed suites rustls speaks, allowed suites it does not,
//! and suites the profile does not allow; random curves and DH sizes) with
//! a failed restricted handshake, the failure is excused exactly when the
//! server offers an allowed suite and every allowed suite it offers is one
//! rustls cannot negotiate; a failed handshake never reads as deliverable;
//! and an established session never gets the no-delivery-path outcome.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tls_policy::{
    CertificateSignature, CertificateSummary, Check, CipherSuite, Conformance, DaneState,
    Enumeration, Handshake, NamedGroup, Negotiated, Observation, Outcome, Profile, PublicKey,
    Report, TlsVersion, Transport, Validation, VersionSuites, rustls_supports,
    rustls_supports_group,
};

/// 2026-11-22T12:00:00Z
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_348_800)
}

/// xorshift64: reproducible without a dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }

    fn subset(&mut self, pool: &[&str]) -> Vec<CipherSuite> {
        let mut chosen: Vec<CipherSuite> = pool
            .iter()
            .filter(|_| self.below(3) == 0)
            .map(|name| name.parse().unwrap())
            .collect();
        // Random server preference.
        for i in (1..chosen.len()).rev() {
            let j = self.below(i + 1);
            chosen.swap(i, j);
        }
        chosen
    }
}

const OLDER: &[&str] = &[
    // Allowed, rustls speaks them.
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    // Allowed, rustls does not implement them.
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CCM",
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256",
    // Not allowed (one of them spoken by rustls).
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA",
];

const TLS13: &[&str] = &["TLS_AES_128_GCM_SHA256", "TLS_CHACHA20_POLY1305_SHA256"];

const GROUPS: &[&str] = &[
    "secp256r1",
    "x25519",
    "brainpoolP256r1",
    "secp384r1",
    "brainpoolP384r1",
];

fn certificate(subject: &str) -> CertificateSummary {
    CertificateSummary {
        subject: subject.into(),
        issuer: "CN=Test CA".into(),
        not_before: 1_735_689_600,
        not_after: 2_366_841_600,
        dns_names: vec!["mx.example.test".into()],
        key: PublicKey::Rsa { bits: 3072 },
        signature_algorithm: CertificateSignature {
            name: "sha256WithRSAEncryption".into(),
            hash: Some("sha256".into()),
        },
        sha256: "00".repeat(32),
    }
}

fn random_offer(random: &mut Random) -> Enumeration {
    let mut enumeration = Enumeration::default();
    for version in ["TLSv1.0", "TLSv1.1", "TLSv1.2"] {
        if random.below(2) == 0 {
            continue;
        }
        let version: TlsVersion = version.parse().unwrap();
        let suites = random.subset(OLDER);
        enumeration.versions.push(version);
        for suite in &suites {
            if !enumeration.tls12_suites.contains(suite) {
                enumeration.tls12_suites.push(*suite);
            }
        }
        enumeration
            .suites_by_version
            .push(VersionSuites { version, suites });
    }
    if random.below(2) == 0 {
        enumeration.versions.push(TlsVersion::TLS13);
        enumeration.tls13_suites = random.subset(TLS13);
    }
    enumeration.groups = GROUPS
        .iter()
        .filter(|_| random.below(2) == 0)
        .map(|name| name.parse::<NamedGroup>().unwrap())
        .collect();
    enumeration.dh_bits = vec![[2048, 3072, 4096][random.below(3)]];
    enumeration
}

fn observation(enumeration: Enumeration, handshake: Handshake) -> Observation {
    Observation {
        host: "mx.example.test".into(),
        port: 25,
        expected_name: "mx.example.test".into(),
        banner: Some("220 mx.example.test ESMTP".into()),
        transport: Transport::Starttls,
        handshake,
        certificates: vec![certificate("CN=mx.example.test"), certificate("CN=Test CA")],
        validation: Validation {
            chain: Check::Valid,
            name: Check::Valid,
        },
        enumeration: Some(enumeration),
        dane: DaneState::NoRecords,
    }
}

/// The profile-allowed (version, suite) pairs of an offer.
fn allowed(profile: &Profile, enumeration: &Enumeration) -> Vec<(TlsVersion, CipherSuite)> {
    let mut pairs = Vec::new();
    for entry in &enumeration.suites_by_version {
        for suite in &entry.suites {
            if profile.permits_version(entry.version, now()) && profile.permits_suite(*suite, now())
            {
                pairs.push((entry.version, *suite));
            }
        }
    }
    for suite in &enumeration.tls13_suites {
        if profile.permits_suite(*suite, now()) {
            pairs.push((TlsVersion::TLS13, *suite));
        }
    }
    pairs
}

fn findings<'a>(report: &'a Report, check: &str) -> Vec<&'a tls_policy::Finding> {
    report
        .findings
        .iter()
        .filter(|f| f.check == check)
        .collect()
}

#[test]
fn a_failed_handshake_is_excused_exactly_when_every_allowed_offered_suite_is_beyond_rustls() {
    let profile = Profile::bsi_tr_03108();
    let mut random = Random(0x9e37_79b9_7f4a_7c15);
    let (mut excused, mut refused, mut without_path) = (0, 0, 0);
    for round in 0..400 {
        let enumeration = random_offer(&mut random);
        let pairs = allowed(&profile, &enumeration);
        // rustls' ECDHE suites need a group it has among the allowed ones
        // the server offers (none found: nothing is excused).
        let reachable_group = enumeration.groups.is_empty()
            || enumeration
                .groups
                .iter()
                .any(|group| profile.permits_group(*group, now()) && rustls_supports_group(*group));
        let expect_excuse = !pairs.is_empty()
            && pairs
                .iter()
                .all(|(_, suite)| !rustls_supports(*suite) || !reachable_group);
        let observed = observation(
            enumeration.clone(),
            Handshake::Failed {
                reason: "received fatal alert: HandshakeFailure".into(),
            },
        );
        let report = profile.evaluate(&observed, now());
        let context = format!("round {round}: {enumeration:?}\n{report:#?}");
        // Never deliverable without a session of this client.
        assert!(!report.conformance.deliverable(), "{context}");
        assert_eq!(
            report.conforms,
            report.failures().next().is_none(),
            "{context}"
        );
        let available = findings(&report, "tls.available");
        assert_eq!(available.len(), 1, "{context}");
        let path = findings(&report, "client.delivery-path");
        if expect_excuse {
            excused += 1;
            assert_eq!(available[0].outcome, Outcome::Pass, "{context}");
            assert_eq!(path.len(), 1, "{context}");
            assert_eq!(path[0].outcome, Outcome::Informational, "{context}");
            // The suite judged is one the server offers and the profile
            // allows, with the highest allowed version offered.
            let suite = findings(&report, "tls.suite");
            assert_eq!(suite.len(), 1, "{context}");
            assert_eq!(suite[0].outcome, Outcome::Pass, "{context}");
            assert!(
                pairs
                    .iter()
                    .any(|(_, s)| s.to_string() == suite[0].observed),
                "{context}"
            );
            let highest = pairs.iter().map(|(v, _)| *v).max().unwrap();
            assert_eq!(
                findings(&report, "tls.version")[0].observed,
                highest.to_string(),
                "{context}"
            );
            let expected = if report.conforms {
                without_path += 1;
                Conformance::ConformsWithoutDeliveryPath
            } else {
                Conformance::DoesNotConform
            };
            assert_eq!(report.conformance, expected, "{context}");
        } else {
            refused += 1;
            assert_eq!(available[0].outcome, Outcome::Fail, "{context}");
            assert!(path.is_empty(), "{context}");
            assert_eq!(report.conformance, Conformance::DoesNotConform, "{context}");
        }

        // The same offer with a session of this client: never the
        // no-delivery-path outcome.
        let established = observation(
            enumeration,
            Handshake::Established(Negotiated {
                version: TlsVersion::TLS12,
                suite: "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".parse().unwrap(),
                group: Some("secp256r1".parse().unwrap()),
                signature_scheme: Some("rsa_pss_rsae_sha256".parse().unwrap()),
            }),
        );
        let report = profile.evaluate(&established, now());
        assert_ne!(
            report.conformance,
            Conformance::ConformsWithoutDeliveryPath,
            "round {round}"
        );
        assert_eq!(
            report.conformance.deliverable(),
            report.conforms,
            "round {round}"
        );
        assert!(findings(&report, "client.delivery-path").is_empty());
    }
    // The draw covers every branch.
    assert!(
        excused > 20 && refused > 20 && without_path > 5,
        "{excused} {refused} {without_path}"
    );
}
