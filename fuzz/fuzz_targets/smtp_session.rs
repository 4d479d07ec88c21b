//! The relay's SMTP server on arbitrary client bytes: command parsing,
//! the session's state machine, DATA with dot-unstuffing, into a real
//! spool in a temporary directory.
#![no_main]

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

fuzz_target!(|data: &[u8]| {
    let (_, spool) = spool();
    let settings = ServerSettings {
        hostname: "relay.fuzz".into(),
        max_message_size: 64 * 1024,
        submission: Default::default(),
    };
    let mut replies = Vec::new();
    let mut received = Vec::new();
    let _ = serve_client(&settings, spool, data, &mut replies, |id| {
        received.push(id.clone())
    });
    // Every reply line starts with a three-digit code.
    for line in replies.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        assert!(
            line.len() >= 4 && line[..3].iter().all(u8::is_ascii_digit),
            "{line:?}"
        );
    }
    // What was acknowledged is in the spool, then cleared for the next run.
    for id in &received {
        let (envelope, _) = spool
            .read_received(id)
            .expect("acknowledged message readable");
        assert!(!envelope.recipients.is_empty());
        spool.hand_over(id, &[]).expect("clearing");
    }
});
