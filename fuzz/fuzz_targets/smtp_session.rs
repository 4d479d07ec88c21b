//! The relay's SMTP server on arbitrary client bytes: command parsing,
//! the session's state machine, DATA with dot-unstuffing, into a real
//! spool in a temporary directory. The first byte chooses how many bytes
//! each read from the client returns (1 to 16, or everything), so that
//! line ends and `CR LF . CR LF` are also split across reads.
//!
//! What is acknowledged is what the gateway takes (the red team's DATA-time
//! finding as a property): every spooled message starts with the relay's
//! one `Received` field, has at most `max_hops` of them, a header section
//! within 1 MiB that the one parse reads, and no singleton field twice.
//!
//! SMTP smuggling as a property: a message is only ever spooled from bytes
//! before the client's first bare CR or LF, each spooled message ends at a
//! real `CR LF . CR LF`, so there are never more of them than that sequence
//! occurs there, and every spooled message has CR LF line ends only and no
//! NUL byte (so it cannot end early at a lenient next hop either).
#![no_main]

use std::io::Read;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mailgate_relay::{ServerSettings, serve_client};
use mailgate_spool::Spool;

fn spool() -> &'static (tempfile::TempDir, Spool) {
    static SPOOL: OnceLock<(tempfile::TempDir, Spool)> = OnceLock::new();
    SPOOL.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temporary directory");
        let spool = Spool::open(dir.path())
            .expect("spool")
            .with_max_message_size(64 * 1024);
        (dir, spool)
    })
}

/// Hands out its input `chunk` bytes per read.
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The bytes before the first bare CR (not followed by LF) or bare LF (not
/// after CR).
fn before_first_bare_line_end(data: &[u8]) -> &[u8] {
    let bare = (0..data.len()).find(|&i| match data[i] {
        b'\n' => i == 0 || data[i - 1] != b'\r',
        b'\r' => data.get(i + 1).is_some_and(|&b| b != b'\n'),
        _ => false,
    });
    &data[..bare.unwrap_or(data.len())]
}

fuzz_target!(|input: &[u8]| {
    let Some((&first, data)) = input.split_first() else {
        return;
    };
    let chunk = match first % 17 {
        0 => usize::MAX,
        n => usize::from(n),
    };
    let (_, spool) = spool();
    let settings = ServerSettings {
        hostname: "relay.fuzz".into(),
        max_message_size: 64 * 1024,
        // Low enough for the fuzzer to reach.
        max_hops: 3,
        ..Default::default()
    };
    let mut replies = Vec::new();
    let mut received = Vec::new();
    let _ = serve_client(
        &settings,
        spool,
        Chunked { data, chunk },
        &mut replies,
        |id| received.push(id.clone()),
    );
    let clean = before_first_bare_line_end(data);
    let ends = clean.windows(5).filter(|w| w == b"\r\n.\r\n").count();
    assert!(
        received.len() <= ends,
        "{} messages spooled from {ends} real ends of data",
        received.len()
    );
    // Every reply line starts with a three-digit code.
    for line in replies.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        assert!(
            line.len() >= 4 && line[..3].iter().all(u8::is_ascii_digit),
            "{line:?}"
        );
    }
    // What was acknowledged is in the spool, then cleared for the next run.
    for id in &received {
        let (envelope, message) = spool
            .read_received(id)
            .expect("acknowledged message readable");
        assert!(!envelope.recipients.is_empty());
        assert!(!message.contains(&0), "a NUL byte spooled");
        assert_eq!(
            before_first_bare_line_end(&message).len(),
            message.len(),
            "a bare line end spooled: {message:?}"
        );
        assert!(message.starts_with(b"Received: from "), "{message:?}");
        let header_end = message
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(message.len(), |at| at + 4);
        assert!(
            header_end <= 1024 * 1024,
            "a header section over 1 MiB taken"
        );
        let header = &message[..header_end];
        let hops = header
            .split(|b| *b == b'\n')
            .filter(|l| l.len() >= 9 && l[..9].eq_ignore_ascii_case(b"received:"))
            .count();
        assert!(
            hops < 3,
            "{hops} Received fields taken, the relay's own included"
        );
        let tree = mail_message::MessageTree::parse(header);
        assert!(tree.header_error().is_none(), "{message:?}");
        assert!(tree.check_singletons().is_ok(), "{message:?}");
        spool.hand_over(id, &[]).expect("clearing");
    }
});
