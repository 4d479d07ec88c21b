//! Whatever a distribution point serves in place of the CA's CRL, it gives
//! no status: a real `openssl ca -gencrl` CRL with a byte changed, cut
//! short or with bytes appended, random bytes, and a CRL of another CA,
//! fetched through `CrlDpSource` (a fetcher that returns the bytes, no
//! network), are all errors naming the URL, never `good` or `revoked`;
//! the unchanged CRL is `good`. This is the class behind the garbage and
//! foreign-CRL cases in `revocation_crl_dp.rs`.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

use std::sync::OnceLock;
use std::time::SystemTime;

use proptest::prelude::*;
use smime_core::Certificate;
use smime_core::revocation::{CrlDpSource, CrlFetcher, RevocationSource};
use testkit::{OpensslCa, pki};

const URL: &str = "http://crl.test/intermediate.crl";

#[derive(Debug)]
struct Serves(Vec<u8>);

impl CrlFetcher for Serves {
    fn fetch(&self, _: &str) -> Result<Vec<u8>, String> {
        Ok(self.0.clone())
    }
}

struct Fixture {
    certificate: Certificate,
    issuer: Certificate,
    crl: Vec<u8>,
    foreign: Vec<u8>,
}

/// One OpenSSL CA run, shared by every case (OpenSSL is slow to start).
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let ca = OpensslCa::new(pki().intermediate());
        let (path, _) = ca.issue_smime_with_crl_dp("mutant", "mutant@example.org", &[URL]);
        let other = pki().smime("someone@example.org", testkit::KeyKind::P256);
        ca.revoke(&other.certificate_pem(), "superseded");
        Fixture {
            certificate: Certificate::load(&std::fs::read(path).unwrap())
                .unwrap()
                .remove(0),
            issuer: Certificate::from_der(pki().intermediate().certificate_der()).unwrap(),
            crl: ca.crl_der(),
            foreign: OpensslCa::new(pki().root()).crl_der(),
        }
    })
}

fn status(bytes: Vec<u8>) -> Result<bool, String> {
    let f = fixture();
    CrlDpSource::new(Serves(bytes))
        .status(&f.certificate, &f.issuer, SystemTime::now())
        .map(|status| status.is_some())
        .map_err(|error| error.to_string())
}

#[test]
fn the_unchanged_crl_gives_a_status_and_another_cas_does_not() {
    assert_eq!(status(fixture().crl.clone()), Ok(true));
    let foreign = status(fixture().foreign.clone()).unwrap_err();
    assert!(
        foreign.contains(URL) && foreign.contains("issued by"),
        "{foreign}"
    );
}

fn assert_refused(bytes: Vec<u8>) -> Result<(), TestCaseError> {
    if bytes == fixture().crl {
        return Ok(());
    }
    match status(bytes) {
        Err(error) => {
            prop_assert!(error.contains(URL), "{error}");
            Ok(())
        }
        Ok(found) => Err(TestCaseError::fail(format!(
            "a changed CRL gave a status ({found})"
        ))),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn a_changed_byte_gives_no_status(index in any::<prop::sample::Index>(), xor in 1u8..) {
        let mut bytes = fixture().crl.clone();
        let i = index.index(bytes.len());
        bytes[i] ^= xor;
        assert_refused(bytes)?;
    }

    #[test]
    fn a_cut_or_extended_crl_gives_no_status(
        index in any::<prop::sample::Index>(),
        tail in prop::collection::vec(any::<u8>(), 1..64),
        extend in any::<bool>(),
    ) {
        let mut bytes = fixture().crl.clone();
        if extend {
            bytes.extend_from_slice(&tail);
        } else {
            bytes.truncate(index.index(bytes.len()));
        }
        assert_refused(bytes)?;
    }

    #[test]
    fn random_bytes_give_no_status(bytes in prop::collection::vec(any::<u8>(), 0..4096)) {
        assert_refused(bytes)?;
    }
}
