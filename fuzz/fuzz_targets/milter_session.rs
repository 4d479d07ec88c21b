//! A whole milter conversation on arbitrary MTA bytes: framing, command
//! parsing, the session's state machine, and turning a replacement message
//! into header changes and a new body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailgate_milter::{Decision, Filter, Limits, Mail, Response};

/// Replaces every mail with a changed copy (one field more, one line more),
/// so that every mail goes through the modification code.
struct Rewrite;

impl Filter for Rewrite {
    fn end_of_message(&self, mail: &Mail) -> Decision {
        let mut message = b"X-Fuzz: yes\r\n".to_vec();
        message.extend_from_slice(mail.message());
        message.extend_from_slice(b"appended\r\n");
        Decision::Replace {
            message,
            quarantine: mail.recipients().first().cloned(),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = data;
    let mut output = Vec::new();
    let limits = Limits {
        max_message_size: 64 * 1024,
    };
    let _ = mailgate_milter::serve_connection(&Rewrite, limits, &mut input, &mut output);
    // Whatever happened, what was written parses as responses.
    let mut written = output.as_slice();
    while let Some((length, rest)) = written.split_first_chunk::<4>() {
        let length = u32::from_be_bytes(*length) as usize;
        let (packet, rest) = rest.split_at(length.min(rest.len()));
        let (code, data) = packet.split_first().expect("empty response packet");
        Response::parse(*code, data).expect("the session wrote a response it cannot parse");
        written = rest;
    }
});
