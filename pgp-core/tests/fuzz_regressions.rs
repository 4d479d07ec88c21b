//! Inputs the fuzzers found, kept as regression tests. The key is the fixed
//! test key of the `pgp_*` fuzz targets (`fuzz/fuzz_targets/pgp_fuzz_key.asc`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use pgp_core::{Decryptor, Error, parse_certificates};

#[test]
fn short_seipd_v1_body_after_a_matching_quick_check_is_an_error_not_a_panic() {
    // pgp_decrypt found a panic inside sequoia-openpgp 2.4.2 (an unwrap on
    // EOF in parse.rs when a SEIPD v1 body is shorter than its prefix);
    // pgp-core fences Sequoia's parsers and reports it as a decryption
    // failure.
    let keys = parse_certificates(include_bytes!("data/fuzz-key.asc")).unwrap();
    let message = include_bytes!("data/sequoia-panic-short-seipd-v1.eml");
    let result = Decryptor::new(keys).decrypt_message(message);
    assert!(
        matches!(result, Err(Error::Decryption { .. })),
        "{result:?}"
    );
}
