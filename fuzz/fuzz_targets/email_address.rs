//! Addresses from headers and certificates: parsing must never panic, and a
//! parsed address must survive display and re-parsing unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smime_core::EmailAddress;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(address) = text.parse::<EmailAddress>()
    {
        let _ = address.local_part();
        let _ = address.domain();
        let again: EmailAddress = address.to_string().parse().expect("re-parse");
        assert_eq!(again, address);
    }
});
