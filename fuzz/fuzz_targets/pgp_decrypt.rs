//! Encrypted mail from anyone: `pgp_core::Decryptor::decrypt_message` and
//! the streaming `decrypt_message_spooled` on arbitrary bytes return a
//! decrypted message or a typed error and never panic. The decryptor holds
//! the fixed test key `pgp_fuzz_key.asc`, to which the seed corpus is
//! encrypted, so the fuzzer reaches session key recovery, the integrity
//! check and the verification of signatures inside.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pgp_core::{Decryptor, Verifier, parse_certificates};

fn decryptor() -> &'static Decryptor {
    static DECRYPTOR: OnceLock<Decryptor> = OnceLock::new();
    DECRYPTOR.get_or_init(|| {
        // pgp-core catches panics inside Sequoia's parsers (its guard
        // module) and reports them as errors; libFuzzer's hook would abort
        // on them before they are caught. Back to the default hook: a panic
        // that escapes pgp-core still aborts through libfuzzer-sys's
        // catch_unwind, so real crashes are still found.
        drop(std::panic::take_hook());
        // cargo fuzz runs with RUST_BACKTRACE=1, so `anyhow` captured a
        // backtrace for every Sequoia parse error: five sixths of the time
        // (6 against 33 executions per second, CONTRIBUTING.md "Fuzzing
        // campaign"). Panics still print theirs.
        // SAFETY: once, before any other use of the environment, while the
        // fuzzer runs on this one thread.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
        let keys = parse_certificates(include_bytes!("pgp_fuzz_key.asc")).expect("fuzz key");
        let certs = keys.iter().map(|c| c.clone().strip_secret_key_material());
        // A small limit keeps compression bombs within the fuzzer's memory.
        Decryptor::new(keys.clone())
            .with_verifier(Verifier::new(certs))
            .with_max_plaintext(1 << 20)
    })
}

fuzz_target!(|data: &[u8]| {
    let in_memory = decryptor().decrypt_message(data);
    if let Ok(decrypted) = &in_memory {
        // The decrypted message is itself a message the verifier can judge.
        let _ = decrypted.verification().verdict();
        assert!(!decrypted.message().is_empty());
    }
    // The streaming path parses the multipart itself (line by line): it
    // must not panic either, and what it releases is a message.
    if let Ok(spooled) = decryptor().decrypt_message_spooled(data) {
        let _ = spooled.verification().verdict();
        let mut message = Vec::new();
        if spooled.write_message(&mut message).is_ok() {
            assert!(!message.is_empty());
        }
    }
});
