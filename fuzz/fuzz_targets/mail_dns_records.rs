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
        for pattern in &policy.mx {
            if let Some(parent) = pattern.strip_prefix("*.") {
                assert!(!policy.permits_mx(parent) || policy.mx.iter().any(|p| p == parent));
            }
        }
        let _ = policy.permits_mx("mx.example.net");
    }
    let records: Vec<String> = text.split('\n').map(str::to_owned).collect();
    let _ = sts_record_id(&records);
    if let Some(record) = TlsRptRecord::parse(&records) {
        for address in &record.mail {
            assert!(!address.contains(['\r', '\n', '<', '>', ' ']));
        }
    }
});
