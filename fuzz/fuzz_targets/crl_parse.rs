//! CRL files from untrusted sources (`--crl`, fetched distribution points):
//! `Crl::load` on arbitrary bytes returns a typed error or CRLs, never
//! panics; every accessor and check works on whatever parsed; a CRL that
//! lists a certificate never reports it good. The seeds are CRLs made by
//! `openssl ca -gencrl` as the testkit intermediate and root, so the
//! fuzzer reaches the signature check and the serial lookup.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use smime_core::Certificate;
use smime_core::revocation::{Crl, KnownStatus};
use testkit::{KeyKind, pki};

struct Setup {
    leaf: Certificate,
    intermediate: Certificate,
    root: Certificate,
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
        root: Certificate::from_der(pki().root().certificate_der()).expect("testkit certificate"),
    })
}

fuzz_target!(|data: &[u8]| {
    let setup = setup();
    let Ok(crls) = Crl::load(data, "fuzz") else {
        return;
    };
    for crl in crls {
        let _ = crl.issuer_string();
        let _ = crl.revoked_count();
        let _ = crl.next_update();
        let _ = crl.verify_signature(&setup.root);
        // As of its own thisUpdate, so currency holds and the lookup runs.
        let time = crl.this_update();
        for (certificate, issuer) in [
            (&setup.leaf, &setup.intermediate),
            (&setup.intermediate, &setup.root),
        ] {
            let listed = crl.lists(
                certificate
                    .x509()
                    .tbs_certificate()
                    .serial_number()
                    .as_bytes(),
            );
            if let Ok(status) = crl.status(certificate, issuer, time) {
                assert!(
                    !(listed && status.status == KnownStatus::Good),
                    "a listed certificate reported good"
                );
            }
        }
    }
});
