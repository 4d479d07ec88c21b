//! The TLS first-flight parser (ServerHello, Certificate, ServerKeyExchange)
//! of tls-policy's enumeration on arbitrary server bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(flight) = tls_policy::hello::parse_server_flight(data) {
        for certificate in &flight.certificates {
            let _ = tls_policy::summarize(certificate);
        }
    }
});
