//! Certificate files from untrusted sources (mail attachments, CMS
//! certificate sets, directories): PEM bundles or DER, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use smime_core::Certificate;

fuzz_target!(|data: &[u8]| {
    if let Ok(certificates) = Certificate::load(data) {
        for certificate in certificates {
            // Every accessor must work on whatever parsed.
            let _ = certificate.subject();
            let _ = certificate.issuer();
            let _ = certificate.serial_hex();
            let _ = certificate.is_valid_at(std::time::SystemTime::now());
            let _ = certificate.public_key_algorithm().to_string();
            let _ = certificate.allows_email_protection();
            let _ = certificate.to_pem();
            // What parsed from DER must parse again from its own encoding.
            let again = Certificate::from_der(certificate.to_der()).expect("re-parse");
            assert_eq!(again, certificate);
        }
    }
});
