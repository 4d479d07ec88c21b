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
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use mailgate_relay::{ServerSettings, serve_client, submit};
use mailgate_spool::Spool;

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
            submission: Default::default(),
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

/// A client: the transaction up to 354 as a well-behaved client sends it,
/// then `payload` in one write, then QUIT; returns every reply line until
/// the server closed. A server that closes with input unread makes the
/// kernel reset the connection, which may discard its last reply on the way:
/// a reset ends the list with `reset`.
fn smuggle(port: u16, payload: &[u8]) -> Vec<String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut replies = Vec::new();
    let mut reply = |replies: &mut Vec<String>| loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(_) => {
                replies.push("reset".into());
                return false;
            }
        }
        let last = line.as_bytes().get(3) != Some(&b'-');
        replies.push(line.trim_end().to_owned());
        if last {
            return true;
        }
    };
    reply(&mut replies);
    for command in [
        "EHLO attacker.test",
        "MAIL FROM:<mallory@attacker.test>",
        "RCPT TO:<frank@behoerde.example>",
        "DATA",
    ] {
        writer
            .write_all(format!("{command}\r\n").as_bytes())
            .unwrap();
        reply(&mut replies);
    }
    assert!(replies.last().unwrap().starts_with("354"), "{replies:?}");
    // The server may close while this is still being written.
    let _ = writer.write_all(payload);
    let _ = writer.write_all(b"QUIT\r\n");
    while reply(&mut replies) {}
    replies
}

/// `first<end>MAIL FROM:<ceo@...><end>RCPT TO:<...><end>DATA<end>smuggled<end>.<end>`
/// and a real end after it, for one spelling of the line end inside.
fn smuggling_payload(end_of_data: &[u8], line_end: &[u8]) -> Vec<u8> {
    let mut payload = b"Subject: first\r\n\r\nfirst".to_vec();
    payload.extend_from_slice(end_of_data);
    for line in [
        &b"MAIL FROM:<ceo@behoerde.example>"[..],
        b"RCPT TO:<frank@behoerde.example>",
        b"DATA",
        b"Subject: smuggled\r\n\r\nsmuggled",
    ] {
        payload.extend_from_slice(line);
        payload.extend_from_slice(line_end);
    }
    payload.extend_from_slice(end_of_data);
    payload.extend_from_slice(b"\r\n.\r\n");
    payload
}

/// Every end-of-data spelling that some server in the chain has taken for
/// the end of a message (CVE-2023-51764/51765/51766 and SEC Consult's list).
const SMUGGLING_ENDS: &[&[u8]] = &[
    b"\n.\n",
    b"\r\n.\n",
    b"\n.\r\n",
    b"\r.\r",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\n.\r",
    b"\r\n\x00.\r\n",
    b"\r\n.\x00\r\n",
    b"\n\n.\n\n",
];

#[test]
fn no_spelling_of_the_end_of_data_smuggles_a_second_transaction() {
    let server = Server::start();
    for end in SMUGGLING_ENDS {
        for line_end in [&b"\r\n"[..], b"\n"] {
            let before = server.envelopes().len();
            let replies = smuggle(server.port, &smuggling_payload(end, line_end));
            let queued = replies
                .iter()
                .filter(|r| r.starts_with("250 2.0.0 queued"))
                .count();
            let after = server.envelopes();
            assert!(queued <= 1, "{end:?}: {replies:?}");
            assert_eq!(after.len() - before, queued, "{end:?}: {replies:?}");
            assert!(
                after
                    .iter()
                    .all(|(sender, _)| sender == "mallory@attacker.test"),
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
    let replies = smuggle(
        server.port,
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
    let replies = smuggle(
        server.port,
        b"Subject: dots\r\n\r\n..\r\n...x\r\n. \r\n.\x00x\r\nend\r\n.\r\n",
    );
    let queued = replies
        .iter()
        .filter(|r| r.starts_with("250 2.0.0 queued"))
        .count();
    // `.\x00x` holds a NUL: refused; everything else would have been fine.
    assert_eq!(queued, 0, "{replies:?}");
    let replies = smuggle(
        server.port,
        b"Subject: dots\r\n\r\n..\r\n...x\r\n. \r\nend\r\n.\r\n",
    );
    assert!(
        replies.iter().any(|r| r.starts_with("250 2.0.0 queued")),
        "{replies:?}"
    );
    let ids = server.spool.received().unwrap();
    assert_eq!(ids.len(), 1);
    let (_, message) = server.spool.read_received(&ids[0]).unwrap();
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
    stream
        .write_all(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
        .unwrap();
    for _ in 0..4 {
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
    stream.write_all(b"short\r\n.\r\nQUIT\r\n").unwrap();
    next_reply(&mut line);
    assert!(line.starts_with("250 2.0.0 queued"), "{line}");
    assert_eq!(server.envelopes().len(), 1);
}

/// One transaction a next hop took: sender, recipients, message.
type Transaction = (String, Vec<String>, Vec<u8>);

/// A next hop as lenient as SMTP servers have been: a line ends at CR LF,
/// at a lone CR or at a lone LF, NUL bytes are dropped, and a line that is
/// then `.` ends the message. It keeps each transaction's envelope and
/// message.
struct LenientHop {
    port: u16,
    transactions: Arc<Mutex<Vec<Transaction>>>,
    /// Sessions that ended (the client closed or quit).
    ended: Arc<Mutex<usize>>,
}

impl LenientHop {
    fn start() -> LenientHop {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let transactions = Arc::new(Mutex::new(Vec::new()));
        let ended = Arc::new(Mutex::new(0));
        let (kept, count) = (Arc::clone(&transactions), Arc::clone(&ended));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (kept, count) = (Arc::clone(&kept), Arc::clone(&count));
                thread::spawn(move || {
                    lenient_session(stream, &kept);
                    *count.lock().unwrap() += 1;
                });
            }
        });
        LenientHop {
            port,
            transactions,
            ended,
        }
    }

    /// Waits until `sessions` sessions have ended: whatever the hop made of
    /// the bytes after the first message is recorded by then.
    fn wait_for_sessions(&self, sessions: usize) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while *self.ended.lock().unwrap() < sessions {
            assert!(
                std::time::Instant::now() < deadline,
                "the session never ended"
            );
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// The next lenient line: up to CR LF, CR or LF, NULs dropped; `None` at
/// the end of the connection.
fn lenient_line(reader: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    loop {
        let mut byte = [0u8];
        if reader.read(&mut byte).ok()? == 0 {
            return None;
        }
        match byte[0] {
            b'\n' => return Some(line),
            b'\r' => {
                if reader.fill_buf().ok()?.first() == Some(&b'\n') {
                    reader.consume(1);
                }
                return Some(line);
            }
            0 => {}
            other => line.push(other),
        }
    }
}

fn lenient_session(stream: TcpStream, kept: &Mutex<Vec<Transaction>>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    writer.write_all(b"220 lenient.test\r\n").unwrap();
    let (mut sender, mut recipients) = (String::new(), Vec::new());
    while let Some(line) = lenient_line(&mut reader) {
        let text = String::from_utf8_lossy(&line).to_ascii_uppercase();
        let argument = || {
            let text = String::from_utf8_lossy(&line).into_owned();
            text.split_once(':')
                .map(|(_, a)| a.trim().to_owned())
                .unwrap_or_default()
        };
        let answer: &[u8] = if text.starts_with("EHLO") {
            b"250-lenient.test\r\n250 8BITMIME\r\n"
        } else if text.starts_with("MAIL FROM:") {
            sender = argument();
            b"250 ok\r\n"
        } else if text.starts_with("RCPT TO:") {
            recipients.push(argument());
            b"250 ok\r\n"
        } else if text.starts_with("DATA") {
            writer.write_all(b"354 go on\r\n").unwrap();
            let mut message = Vec::new();
            loop {
                let Some(line) = lenient_line(&mut reader) else {
                    return;
                };
                if line == b"." {
                    break;
                }
                message.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line));
                message.extend_from_slice(b"\r\n");
            }
            kept.lock().unwrap().push((
                std::mem::take(&mut sender),
                std::mem::take(&mut recipients),
                message,
            ));
            b"250 kept\r\n"
        } else if text.starts_with("QUIT") {
            let _ = writer.write_all(b"221 bye\r\n");
            let _ = writer.shutdown(Shutdown::Write);
            return;
        } else {
            b"250 ok\r\n"
        };
        if writer.write_all(answer).is_err() {
            return;
        }
    }
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
        let before = hop.transactions.lock().unwrap().len();
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
        let transactions = hop.transactions.lock().unwrap();
        assert_eq!(transactions.len(), before + 1, "{end:?}: {transactions:?}");
        let (sender, to, kept) = transactions.last().unwrap();
        assert_eq!(sender, "<mallory@attacker.test>");
        assert_eq!(to, &["<frank@behoerde.example>"]);
        assert!(
            String::from_utf8_lossy(kept).contains("smuggled"),
            "{end:?}: the rest of the message went missing: {kept:?}"
        );
    }
    // A NUL byte, which a NUL-dropping next hop would make an end of data
    // of, is refused before anything is sent.
    let before = hop.transactions.lock().unwrap().len();
    let error = submit(
        &server,
        "relay.test",
        "mallory@attacker.test",
        &recipients,
        b"first\r\n\x00.\r\nMAIL FROM:<ceo@behoerde.example>\r\n",
        Duration::from_secs(30),
    )
    .unwrap_err();
    assert!(error.contains("NUL"), "{error}");
    assert_eq!(hop.transactions.lock().unwrap().len(), before);
}
