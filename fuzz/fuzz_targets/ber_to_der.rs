//! CMS from the network in BER: re-encoding never panics, its output is DER
//! (a fixed point), and it stays within a small factor of the input (only an
//! empty constructed BIT STRING, 2 bytes, grows to its 3-byte primitive form).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smime_core::ber::to_der;

fuzz_target!(|data: &[u8]| {
    if let Ok(der) = to_der(data) {
        assert!(der.len() <= data.len() * 3 / 2 + 1);
        assert_eq!(to_der(&der).as_ref(), Ok(&der));
    }
});
