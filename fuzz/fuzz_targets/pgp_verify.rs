//! Signed mail from anyone: `pgp_core::Verifier::verify_message` on
//! arbitrary bytes returns a report or a typed error, never panics, and its
//! verdict is consistent with its coverage. The verifier knows the fixed
//! test key `pgp_fuzz_key.asc`, which signed the seed corpus, so the fuzzer
//! reaches signature checking.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pgp_core::{Coverage, Verdict, Verifier, parse_certificates};

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        // pgp-core catches panics inside Sequoia's parsers (its guard
        // module) and reports them as errors; libFuzzer's hook would abort
        // on them before they are caught. Back to the default hook: a panic
        // that escapes pgp-core still aborts through libfuzzer-sys's
        // catch_unwind, so real crashes are still found.
        drop(std::panic::take_hook());
        let certs = parse_certificates(include_bytes!("pgp_fuzz_key.asc")).expect("fuzz key");
        Verifier::new(certs.into_iter().map(|c| c.strip_secret_key_material()))
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(report) = verifier().verify_message(data) {
        match report.verdict() {
            Verdict::SignedByFrom => {
                assert_eq!(report.coverage(), &Coverage::Whole);
                assert!(report.signed_by_from());
                assert!(report.unwrapped_message().is_some());
            }
            Verdict::PartiallySigned => assert!(report.unwrapped_message().is_none()),
            Verdict::Unsigned => assert!(report.signers().is_empty()),
            _ => {}
        }
    }
});
