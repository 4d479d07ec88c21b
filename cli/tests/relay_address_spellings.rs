//! Issue 16, finding 1 through `mailgate relay` over TCP: `RCPT
//! TO:<erin@geheim.example.>` reached the next hop in clear. Every spelling
//! of erin's address now gets R6 (blocked, the sender told), and spellings
//! that route around the policy are refused at RCPT with 553 5.1.3 (501
//! for what is no address), so nothing goes to the next hop for them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::{Command, Stdio};
use std::thread;
use std::time::Duration;

use common::smtp::{Sink, free_port, send, wait_until_listening};
use common::{mailgate_in, ok};

fn mail(number: usize, to: &str) -> Vec<u8> {
    format!(
        "From: alice@behoerde.example\r\nTo: {to}\r\nSubject: Termin\r\n\
         Message-ID: <{number}@spelling.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nTreffen am Montag {number}.\r\n"
    )
    .into_bytes()
}

#[test]
fn spellings_of_a_geheim_recipient_never_reach_the_next_hop_in_clear() {
    let demo = tempfile::tempdir().unwrap();
    let d = demo.path();
    ok(mailgate_in(d, &["demo", "--dir", ".", "--quiet"], b"", &[]));
    let spool = tempfile::tempdir().unwrap();
    let sink = Sink::start();
    let port = free_port();
    let mut relay = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(["relay", "--config"])
        .arg(d.join("mailgate.toml"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--spool")
        .arg(spool.path())
        .args(["--next-hop", &format!("127.0.0.1:{}", sink.port)])
        .args(["--hostname", "relay.behoerde.example", "--retry-first", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_listening(port, "mailgate relay");

    let accepted = [
        "erin@geheim.example.",
        "ERIN@Geheim.Example",
        "\"erin\"@geheim.example",
        "@relay.example:erin@geheim.example.",
    ];
    for (number, spelling) in accepted.iter().enumerate() {
        let reply = send(
            port,
            "alice@behoerde.example",
            &[spelling],
            &mail(number, spelling),
        )
        .unwrap();
        assert!(
            reply.starts_with("250 2.0.0 queued as "),
            "{spelling}: {reply}"
        );
    }
    let refused = [
        ("erin%geheim.example@behoerde.example", "553 5.1.3"),
        ("erin@[geheim.example]", "553 5.1.3"),
        ("erin@[192.0.2.1]", "553 5.1.3"),
        ("geheim.example!erin@behoerde.example", "553 5.1.3"),
        ("erin@geheim.example..", "501 5.1.3"),
        ("erin@geheim_example", "501 5.1.3"),
    ];
    for (number, (spelling, code)) in refused.iter().enumerate() {
        let reply = send(
            port,
            "alice@behoerde.example",
            &[spelling],
            &mail(100 + number, spelling),
        )
        .unwrap();
        assert!(reply.starts_with(code), "{spelling}: {reply}");
        assert!(
            !reply.contains(spelling),
            "the reply echoes the input: {reply}"
        );
    }

    // Each accepted spelling bounces to alice (R6: no key for erin, so
    // blocked), naming erin's canonical address.
    for number in 0..accepted.len() {
        sink.wait_for_containing(
            "alice@behoerde.example",
            &format!("<{number}@spelling.test>"),
        );
    }
    // Time for anything that would (wrongly) still leave.
    thread::sleep(Duration::from_secs(2));
    let delivered = sink.mail.lock().unwrap().clone();
    for mail in &delivered {
        let text = String::from_utf8_lossy(&mail.data);
        assert_eq!(mail.recipients, ["alice@behoerde.example"], "{text}");
        assert!(!text.contains("Treffen am Montag"), "in clear: {text}");
    }
    assert_eq!(delivered.len(), accepted.len(), "{delivered:?}");
    let _ = relay.kill();
    let _ = relay.wait();
}
