//! PKCS#12 files from users and CA portals: never a panic, whatever the
//! bytes and whichever password.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smime_core::Pkcs12;

fuzz_target!(|data: &[u8]| {
    // The seeds are protected with "fuzz"; the empty password covers the
    // no-password case.
    let _ = Pkcs12::parse(data, b"fuzz");
    let _ = Pkcs12::parse(data, b"");
});
