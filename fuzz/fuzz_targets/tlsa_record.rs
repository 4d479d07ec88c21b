//! tls-policy's TLSA presentation-format parser and the DANE matching
//! function on arbitrary bytes: a parsed record prints back to itself, and
//! matching a record against garbage "certificates" never panics.
#![no_main]

use std::time::SystemTime;

use libfuzzer_sys::fuzz_target;
use rustls_pki_types::CertificateDer;
use tls_policy::{TlsaRecord, match_chain};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(record) = text.parse::<TlsaRecord>() {
        let printed = record.to_string();
        assert_eq!(printed.parse::<TlsaRecord>().as_ref(), Ok(&record));
        let _ = record.is_usable();
        let _ = record.matches_certificate(data);
    }
    // The bytes as a presented chain, against records of every usage,
    // selector and matching type built from them.
    let chain = [CertificateDer::from(data), CertificateDer::from(data)];
    let records: Vec<TlsaRecord> = [(3, 0, 0), (3, 1, 0), (2, 0, 0), (2, 1, 0)]
        .into_iter()
        .map(|(usage, selector, matching)| TlsaRecord {
            usage,
            selector,
            matching,
            data: data.to_vec(),
        })
        .collect();
    let found = match_chain(&records, &chain, "mx.example.test", SystemTime::UNIX_EPOCH);
    // Full-certificate DANE-EE with the bytes themselves always matches.
    if !data.is_empty() {
        assert!(found.is_some());
    }
});
