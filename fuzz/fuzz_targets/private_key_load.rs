//! Key files from users and CAs: PEM or DER, PKCS#8 (also encrypted),
//! PKCS#1, SEC 1; never a panic, with or without a passphrase.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smime_core::PrivateKey;

fuzz_target!(|data: &[u8]| {
    let _ = PrivateKey::load(data, None);
    let _ = PrivateKey::load(data, Some(b"passphrase"));
});
