//! mailgate-https's response parser (status line, header fields,
//! Content-Length / chunked / to-the-end framing) on arbitrary bytes: an
//! error or a response, never a panic, and never a body over the limit.
#![no_main]

use libfuzzer_sys::fuzz_target;

const LIMIT: usize = 4096;

fuzz_target!(|data: &[u8]| {
    if let Ok(response) = mailgate_https::parse_response(data, LIMIT) {
        assert!(response.body.len() <= LIMIT);
        assert!((0..=999).contains(&response.status));
        let _ = response.has_content_type("text/plain");
    }
});
