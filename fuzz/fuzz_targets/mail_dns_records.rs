//! The text that DNS and the web hand tls-policy about a mail domain: the
//! MTA-STS policy body and TXT record (RFC 8461) and the TLS-RPT record
//! (RFC 8460), on arbitrary bytes. A parsed policy's wildcards never match
//! more than one label; a parsed TLS-RPT address never carries what could
//! break out of an SMTP command.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tls_policy::{StsPolicy, TlsRptRecord, sts_record_id};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(policy) = StsPolicy::parse(&text) {
        let _ = policy.permits_mx("mx.example.net");
        // Each pattern on its own: a wildcard stands for exactly one label,
        // never for none and never for two.
        for pattern in &policy.mx {
            let alone = StsPolicy {
                mx: vec![pattern.clone()],
                ..policy.clone()
            };
            match pattern.strip_prefix("*.") {
                Some(parent) => {
                    assert!(alone.permits_mx(&format!("mx.{parent}")));
                    assert!(!alone.permits_mx(parent));
                    assert!(!alone.permits_mx(&format!("a.b.{parent}")));
                }
                None => {
                    assert!(alone.permits_mx(pattern));
                    assert!(!alone.permits_mx(&format!("mx.{pattern}")));
                }
            }
        }
    }
    let records: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let _ = sts_record_id(&records);
    if let Some(record) = TlsRptRecord::parse(&records) {
        for address in &record.mail {
            assert!(!address.contains(['\r', '\n', '<', '>', ' ']));
        }
    }
});
