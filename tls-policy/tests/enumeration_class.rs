//! Enumeration finds every suite a server accepts, as a class: servers with
//! random versions (SSLv3 to TLS 1.2), random suite lists drawn from every
//! code point we probe (IANA-named or not, on the policy list or not) and
//! random preference orders, half of them dropping ClientHellos with more
//! than 128 suites, each probed and compared with what it was set up with. Code points outside the probed set (unassigned, GREASE)
//! are configured too and must not appear: enumeration offers only what it
//! documents.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::collections::BTreeSet;

use support::{NAME, prober, tls_stub};
use testkit::KeyKind;
use tls_policy::{CipherSuite, Profile, Target, TlsVersion};

/// xorshift64*: deterministic, so a failing case can be rerun.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(bound).unwrap()).unwrap()
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

#[test]
fn every_accepted_code_point_is_found_for_every_version() {
    let probed: Vec<u16> = CipherSuite::probed_tls12().map(|suite| suite.0).collect();
    let not_probed = [0x0a0a_u16, 0x1234, 0xfe00, 0x5601];
    let certificate = testkit::pki()
        .tls_server(NAME, KeyKind::Rsa3072)
        .certificate_der()
        .to_vec();
    let mut random = Random(0x0123_4567_89ab_cdef);
    for case in 0..12 {
        let mut setup = Vec::new();
        for version in [0x0300_u16, 0x0301, 0x0302, 0x0303] {
            if random.below(3) == 0 {
                continue;
            }
            let mut pool: Vec<u16> = probed.iter().chain(&not_probed).copied().collect();
            random.shuffle(&mut pool);
            // From none to well over one batch of 48, in random order.
            let count = random.below(70);
            setup.push((version, pool[..count].to_vec()));
        }
        // Every other server drops ClientHellos listing more than 128 suites.
        let limit = (case % 2 == 1).then_some(128);
        let stub = tls_stub::start_with_limit(setup.clone(), certificate.clone(), limit);
        let target = Target::parse(&format!("127.0.0.1:{}", stub.port), false)
            .unwrap()
            .with_name(NAME);
        let (observation, _) = prober(Profile::opportunistic()).check(&target).unwrap();
        let enumeration = observation.enumeration.unwrap();
        assert!(
            enumeration.incomplete.is_empty(),
            "case {case}: {:?}",
            enumeration.incomplete
        );
        let mut expected_versions = Vec::new();
        for (version, suites) in &setup {
            let version = TlsVersion(*version);
            let expected: BTreeSet<u16> = suites
                .iter()
                .copied()
                .filter(|code| probed.contains(code))
                .collect();
            if !expected.is_empty() {
                expected_versions.push(version);
            }
            let found: BTreeSet<u16> = enumeration
                .suites_for(version)
                .iter()
                .map(|suite| suite.0)
                .collect();
            assert_eq!(found, expected, "case {case}, {version}: {setup:x?}");
            assert_eq!(
                found.len(),
                enumeration.suites_for(version).len(),
                "case {case}: each suite once"
            );
        }
        assert_eq!(enumeration.versions, expected_versions, "case {case}");
    }
}
