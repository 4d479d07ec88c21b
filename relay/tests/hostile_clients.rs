//! The relay's SMTP server and client over TCP against hostile peers
//! written here: SMTP smuggling in every end-of-data spelling (issue 17,
//! finding 1), lines of hundreds of megabytes (finding 2), and a lenient
//! next hop that would take `LF . LF` as the end of a message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use mailgate_relay::{ServerSettings, serve_client, submit};
use mailgate_spool::Spool;
use testkit::smtp::{
    LenientHop, SMUGGLED_SENDER, SMUGGLING_ENDS, hostile_transaction, queued, smuggling_payload,
};

/// The relay's SMTP server on a loopback port, receiving into a spool of
/// its own.
struct Server {
    port: u16,
    spool: Arc<Spool>,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().unwrap();
        let spool = Arc::new(
            Spool::open(dir.path())
                .unwrap()
                .with_max_message_size(1 << 20),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let settings = ServerSettings {
            hostname: "relay.test".into(),
            max_message_size: 1 << 20,
            ..Default::default()
        };
        let shared = Arc::clone(&spool);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (settings, spool) = (settings.clone(), Arc::clone(&shared));
                thread::spawn(move || {
                    let reader = stream.try_clone().unwrap();
                    let _ = serve_client(&settings, &spool, reader, &stream, |_| {});
                });
            }
        });
        Server {
            port,
            spool,
            _dir: dir,
        }
    }

    /// The envelopes (sender, recipients) of what was spooled.
    fn envelopes(&self) -> Vec<(String, Vec<String>)> {
        self.spool
            .received()
            .unwrap()
            .iter()
            .map(|id| {
                let (envelope, _) = self.spool.read_received(id).unwrap();
                (envelope.sender, envelope.recipients)
            })
            .collect()
    }
}

#[test]
fn no_spelling_of_the_end_of_data_smuggles_a_second_transaction() {
    let server = Server::start();
    for end in SMUGGLING_ENDS {
        for line_end in [&b"\r\n"[..], b"\n"] {
            let before = server.envelopes().len();
            let replies = hostile_transaction(
                server.port,
                "mallory@attacker.test",
                "frank@behoerde.example",
                &smuggling_payload(end, line_end),
            );
            let queued = queued(&replies);
            let after = server.envelopes();
            assert!(queued <= 1, "{end:?}: {replies:?}");
            assert_eq!(after.len() - before, queued, "{end:?}: {replies:?}");
            assert!(
                after.iter().all(|(sender, _)| sender != SMUGGLED_SENDER),
                "{end:?} smuggled an envelope: {after:?}"
            );
            // A bare CR or LF ends the session with 521 5.5.2; the
            // NUL variant refuses the message and the session goes on.
            let refused = replies
                .iter()
                .any(|r| r.starts_with("521 5.5.2") || r.starts_with("554 5.6.0") || r == "reset");
            assert!(refused, "{end:?}: {replies:?}");
        }
    }
    // The example of the issue, and the smuggled mail never arrived.
    let replies = hostile_transaction(
        server.port,
        "mallory@attacker.test",
        "frank@behoerde.example",
        b"first\n.\nMAIL FROM:<ceo@behoerde.example>\nRCPT TO:<frank@behoerde.example>\nDATA\n\
          ...smuggled...\n.\n\r\n.\r\n",
    );
    assert!(
        replies.iter().any(|r| r.starts_with("521 5.5.2")),
        "{replies:?}"
    );
    assert!(server.envelopes().is_empty(), "{:?}", server.envelopes());
}

#[test]
fn a_message_with_dots_and_crlf_only_is_taken_once_and_whole() {
    let server = Server::start();
    let replies = hostile_transaction(
        server.port,
        "mallory@attacker.test",
        "frank@behoerde.example",
        b"Subject: dots\r\n\r\n..\r\n...x\r\n. \r\n.\x00x\r\nend\r\n.\r\n",
    );
    // `.\x00x` holds a NUL: refused; everything else would have been fine.
    assert_eq!(queued(&replies), 0, "{replies:?}");
    let replies = hostile_transaction(
        server.port,
        "mallory@attacker.test",
        "frank@behoerde.example",
        b"Subject: dots\r\n\r\n..\r\n...x\r\n. \r\nend\r\n.\r\n",
    );
    assert!(
        replies.iter().any(|r| r.starts_with("250 2.0.0 queued")),
        "{replies:?}"
    );
    let ids = server.spool.received().unwrap();
    assert_eq!(ids.len(), 1);
    let (_, message) = server.spool.read_received(&ids[0]).unwrap();
    // Below the relay's own trace field.
    let start = message
        .windows(11)
        .position(|w| w == b"\r\nSubject: ")
        .unwrap()
        + 2;
    let (trace, message) = message.split_at(start);
    assert!(
        trace.starts_with(b"Received: from attacker.test\r\n\tby relay.test"),
        "{trace:?}"
    );
    assert_eq!(message, b"Subject: dots\r\n\r\n.\r\n..x\r\n \r\nend\r\n");
}

#[test]
fn bare_line_ends_in_commands_end_the_session() {
    let server = Server::start();
    for input in [
        &b"EHLO a\nMAIL FROM:<ceo@behoerde.example>\r\n"[..],
        b"EHLO a\rNOOP\r\n",
    ] {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
        stream.write_all(input).unwrap();
        let mut replies = String::new();
        stream.read_to_string(&mut replies).unwrap();
        assert!(replies.ends_with("521 5.5.2 bare <LF> received: lines must end in <CR><LF> (RFC 5321 section 2.3.8)\r\n")
            || replies.ends_with("521 5.5.2 bare <CR> received: lines must end in <CR><LF> (RFC 5321 section 2.3.8)\r\n"),
            "{replies}");
        assert!(!replies.contains("250"), "{replies}");
    }
}

/// Writes `total` bytes of `x` in 1 MiB writes (no buffer of that size on
/// this side either); returns how many the server took before closing.
fn write_long_line(stream: &mut TcpStream, total: usize) -> usize {
    let block = vec![b'x'; 1 << 20];
    let mut sent = 0;
    while sent < total {
        match stream.write(&block[..block.len().min(total - sent)]) {
            Ok(n) => sent += n,
            Err(_) => break,
        }
    }
    sent
}

#[test]
fn a_command_line_of_256_mib_is_refused_after_the_bound() {
    let server = Server::start();
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut greeting = [0u8; 64];
    let _ = stream.read(&mut greeting).unwrap();
    let sent = write_long_line(&mut stream, 256 << 20);
    let mut replies = String::new();
    let _ = stream.read_to_string(&mut replies);
    assert!(replies.starts_with("500 5.5.6"), "{replies}");
    // The server stopped reading long before the end.
    assert!(
        sent < 256 << 20,
        "the server read all {sent} bytes of the line"
    );
}

#[test]
fn a_data_line_of_256_mib_refuses_the_message_and_the_session_goes_on() {
    let server = Server::start();
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    let mut next_reply = |line: &mut String| {
        line.clear();
        loop {
            let mut one = String::new();
            reader.read_line(&mut one).unwrap();
            line.push_str(&one);
            if one.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
    };
    next_reply(&mut line);
    // EHLO ends its group (RFC 2920).
    stream.write_all(b"EHLO c\r\n").unwrap();
    next_reply(&mut line);
    stream
        .write_all(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
        .unwrap();
    for _ in 0..3 {
        next_reply(&mut line);
    }
    assert!(line.starts_with("354"), "{line}");
    assert_eq!(write_long_line(&mut stream, 256 << 20), 256 << 20);
    stream
        .write_all(b"\r\n.\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
        .unwrap();
    next_reply(&mut line);
    assert!(line.starts_with("552 5.3.4 a line"), "{line}");
    for _ in 0..3 {
        next_reply(&mut line);
    }
    stream
        .write_all(b"Subject: short\r\n\r\nshort\r\n.\r\nQUIT\r\n")
        .unwrap();
    next_reply(&mut line);
    assert!(line.starts_with("250 2.0.0 queued"), "{line}");
    assert_eq!(server.envelopes().len(), 1);
}

#[test]
fn the_relays_client_cannot_smuggle_into_a_lenient_next_hop() {
    let hop = LenientHop::start();
    let server = format!("127.0.0.1:{}", hop.port);
    let recipients = ["frank@behoerde.example".to_owned()];
    let mut sessions = 0;
    for end in SMUGGLING_ENDS.iter().filter(|end| !end.contains(&0)) {
        let message = smuggling_payload(end, b"\n");
        // Without the final CR LF . CR LF the client adds itself.
        let message = &message[..message.len() - 5];
        let before = hop.transactions().len();
        submit(
            &server,
            "relay.test",
            "mallory@attacker.test",
            &recipients,
            message,
            Duration::from_secs(30),
        )
        .unwrap();
        sessions += 1;
        hop.wait_for_sessions(sessions);
        let transactions = hop.transactions();
        assert_eq!(transactions.len(), before + 1, "{end:?}: {transactions:?}");
        let last = transactions.last().unwrap();
        assert_eq!(last.sender, "mallory@attacker.test");
        assert_eq!(last.recipients, ["frank@behoerde.example"]);
        assert!(
            String::from_utf8_lossy(&last.message).contains("smuggled"),
            "{end:?}: the rest of the message went missing: {last:?}"
        );
    }
    // A NUL byte, which a NUL-dropping next hop would make an end of data
    // of, is refused before anything is sent.
    let before = hop.transactions().len();
    let error = submit(
        &server,
        "relay.test",
        "mallory@attacker.test",
        &recipients,
        b"first\r\n\x00.\r\nMAIL FROM:<ceo@behoerde.example>\r\n",
        Duration::from_secs(30),
    )
    .unwrap_err();
    assert!(error.to_string().contains("NUL"), "{error}");
    assert!(!error.is_temporary(), "{error:?}");
    assert_eq!(hop.transactions().len(), before);
}
