//! Signed mail from anyone: `pgp_core::Verifier::verify_message` and the
//! streaming `verify_message_spooled` on arbitrary bytes return a report or
//! a typed error, never panic, and their verdicts are consistent with their
//! coverage. The verifier knows the fixed
//! test key `pgp_fuzz_key.asc`, which signed the seed corpus, so the fuzzer
//! reaches signature checking. The same bytes are also signed with the
//! streaming `Signer::sign_message_stream` (which parses the message line
//! by line): whatever it signs verifies, wholly covered, with every
//! signature holding.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pgp_core::{Coverage, Signer, Verdict, Verifier, parse_certificates};

fn verifier() -> &'static Verifier {
    static VERIFIER: OnceLock<Verifier> = OnceLock::new();
    VERIFIER.get_or_init(|| {
        // pgp-core catches panics inside Sequoia's parsers (its guard
        // module) and reports them as errors; libFuzzer's hook would abort
        // on them before they are caught. Back to the default hook: a panic
        // that escapes pgp-core still aborts through libfuzzer-sys's
        // catch_unwind, so real crashes are still found.
        drop(std::panic::take_hook());
        // No `anyhow` backtrace per Sequoia parse error under cargo fuzz's
        // RUST_BACKTRACE=1 (see pgp_decrypt); panics still print theirs.
        // SAFETY: once, before any other use of the environment, while the
        // fuzzer runs on this one thread.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
        let certs = parse_certificates(include_bytes!("pgp_fuzz_key.asc")).expect("fuzz key");
        Verifier::new(certs.into_iter().map(|c| c.strip_secret_key_material()))
    })
}

fn signer() -> &'static Signer {
    static SIGNER: OnceLock<Signer> = OnceLock::new();
    SIGNER.get_or_init(|| {
        let certs = parse_certificates(include_bytes!("pgp_fuzz_key.asc")).expect("fuzz key");
        Signer::new(certs.first().expect("one key"), None).expect("signing key")
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
    // The streaming path splits the multipart itself, line by line.
    if let Ok(spooled) = verifier().verify_message_spooled(data) {
        let report = spooled.verification();
        if report.verdict() == Verdict::SignedByFrom {
            assert_eq!(report.coverage(), &Coverage::Whole);
            assert!(spooled.has_unwrapped());
        }
        if report.verdict() == Verdict::PartiallySigned {
            assert!(!spooled.has_unwrapped());
        }
        let mut unwrapped = Vec::new();
        let _ = spooled.write_unwrapped(&mut unwrapped);
    }
    let mut signed = Vec::new();
    if signer().sign_message_stream(data, &mut signed).is_ok() {
        let report = verifier()
            .verify_message(&signed)
            .expect("what we signed parses");
        assert!(
            matches!(
                report.verdict(),
                Verdict::SignedByFrom | Verdict::SignedByOther
            ),
            "{report:?}"
        );
    }
});
