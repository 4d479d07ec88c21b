//! OCSP responses from any responder: `OcspResponse::from_der` and
//! `check_response` on arbitrary bytes return a typed error or a status,
//! never panic; a response that says "revoked" for the certificate is
//! never taken as good, and one whose answers are all about other
//! serial numbers gives no status at all. The seeds are responses made by
//! `openssl ocsp` as the testkit intermediate (CA-signed and delegated;
//! good, revoked, unknown; tryLater).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use smime_core::Certificate;
use smime_core::revocation::KnownStatus;
use smime_core::revocation::ocsp::{CertStatus, OcspResponse, cert_id, check_response};
use testkit::{KeyKind, pki};

struct Setup {
    leaf: Certificate,
    intermediate: Certificate,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| Setup {
        leaf: Certificate::from_der(
            pki()
                .smime("fuzz-revocation@example.org", KeyKind::P256)
                .certificate_der(),
        )
        .expect("testkit certificate"),
        intermediate: Certificate::from_der(pki().intermediate().certificate_der())
            .expect("testkit certificate"),
    })
}

fuzz_target!(|data: &[u8]| {
    let setup = setup();
    let Ok(response) = OcspResponse::from_der(data, "fuzz") else {
        return;
    };
    let ours = cert_id(&setup.leaf, &setup.intermediate).expect("CertID");
    let time = response
        .responses
        .first()
        .map_or(response.produced_at, |single| single.this_update);
    let checked = check_response(
        &response,
        &setup.leaf,
        &setup.intermediate,
        time,
        None,
        "fuzz",
    );
    let about_us: Vec<_> = response
        .responses
        .iter()
        .filter(|single| single.cert_id.serial_number == ours.serial_number)
        .collect();
    if about_us.is_empty() {
        assert!(checked.is_err(), "a status from answers about others");
    }
    if let Ok(status) = checked
        && status.status == KnownStatus::Good
    {
        // Good only where an answer about this serial says good.
        assert!(
            about_us
                .iter()
                .any(|single| single.status == CertStatus::Good)
        );
    }
});
