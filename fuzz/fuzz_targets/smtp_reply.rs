//! The SMTP reply parser of tls-policy's probe on arbitrary server bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((reply, used))) = tls_policy::smtp::parse_reply(data) {
        assert!(used <= data.len());
        assert!((200..600).contains(&reply.code));
        let _ = reply.ehlo_keywords().count();
    }
});
