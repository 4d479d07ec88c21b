//! `mailgate relay` against hostile SMTP clients written here (issue 17,
//! findings 1 and 2): SMTP smuggling in every end-of-data spelling, a line
//! of 1 GiB in DATA and as a command while the relay's peak memory is
//! watched, and, where Postfix is installed, the same hostile byte streams
//! against a real Postfix `smtpd` on loopback as the reference.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::quiet_demo as demo;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::smtp::{free_port, send, wait_until_listening};
use common::{run, tool};
use testkit::smtp::{LenientHop, SMUGGLING_ENDS, hostile_transaction, queued, smuggling_payload};

/// An envelope: sender and recipients.
type Envelope = (String, Vec<String>);

/// The envelopes a next hop took, from the `from`th on.
fn envelopes(hop: &LenientHop, from: usize) -> Vec<Envelope> {
    let mut transactions: Vec<_> = hop.transactions().into_iter().skip(from).collect();
    // A delivery the relay retried (its connection to the hop broke after
    // the hop had taken the message, under load) arrives twice with the
    // same envelope and the same bytes: one message, not a smuggled one.
    transactions.dedup_by(|a, b| {
        a.sender == b.sender && a.recipients == b.recipients && a.message == b.message
    });
    transactions
        .into_iter()
        .map(|t| (t.sender, t.recipients))
        .collect()
}

/// A client of the relay (or Postfix): alice to frank, then `payload`.
fn client(port: u16, payload: &[u8]) -> Vec<String> {
    hostile_transaction(
        port,
        "alice@behoerde.example",
        "frank@behoerde.example",
        payload,
    )
}

/// The relay under test, killed when dropped.
struct Relay(Child);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `mailgate relay` on `port`, delivering to `next_hop`.
fn start_relay(demo: &Path, spool: &Path, port: u16, next_hop: u16) -> Relay {
    start_relay_with(demo, spool, port, next_hop, &[])
}

fn start_relay_with(demo: &Path, spool: &Path, port: u16, next_hop: u16, extra: &[&str]) -> Relay {
    Relay(common::start_relay(
        demo,
        spool,
        port,
        next_hop,
        extra,
        Stdio::null(),
    ))
}

/// Every smuggling stream (each end spelling, with CR LF and with LF line
/// ends in the smuggled commands).
fn smuggling_streams() -> Vec<(String, Vec<u8>)> {
    let mut streams = Vec::new();
    for end in SMUGGLING_ENDS {
        for line_end in [&b"\r\n"[..], b"\n"] {
            streams.push((
                format!(
                    "{:?} with lines ending {:?}",
                    String::from_utf8_lossy(end),
                    String::from_utf8_lossy(line_end)
                ),
                smuggling_payload(end, line_end),
            ));
        }
    }
    streams
}

#[test]
fn no_smuggled_transaction_gets_through_mailgate_relay() {
    let demo = demo();
    let spool = tempfile::tempdir().unwrap();
    let hop = LenientHop::start();
    let port = free_port();
    let _relay = start_relay(demo.path(), spool.path(), port, hop.port);
    for (name, payload) in smuggling_streams() {
        let replies = client(port, &payload);
        // Each of these holds a bare CR or LF or a NUL: refused, and the
        // connection closed (or the message refused, for the NUL).
        assert_eq!(queued(&replies), 0, "{name}: {replies:?}");
        assert!(
            replies
                .iter()
                .any(|r| r.starts_with("521 5.5.2") || r.starts_with("554 5.6.0") || r == "reset"),
            "{name}: {replies:?}"
        );
    }
    // A well-formed message with every dot trick in it is taken once.
    let replies = client(
        port,
        b"From: alice@behoerde.example\r\nSubject: dots\r\n\r\n..\r\n...\r\n. \r\nend\r\n.\r\n",
    );
    assert_eq!(queued(&replies), 1, "{replies:?}");
    hop.wait_for_transactions(1);
    // Time for anything else the relay might have taken to be delivered.
    thread::sleep(Duration::from_secs(2));
    let envelopes = envelopes(&hop, 0);
    assert_eq!(
        envelopes,
        [(
            "alice@behoerde.example".to_owned(),
            vec!["frank@behoerde.example".to_owned()]
        )]
    );
}

/// Peak resident memory of the running relay (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    common::peak_rss_kib(pid).unwrap()
}

/// Writes `total` bytes of `x` without a line end, 1 MiB per write;
/// returns how many went out before the server closed.
fn write_line_of(stream: &mut TcpStream, total: u64) -> u64 {
    let block = vec![b'x'; 1 << 20];
    let mut sent = 0u64;
    while sent < total {
        let n = block.len().min((total - sent) as usize);
        match stream.write(&block[..n]) {
            Ok(written) => sent += written as u64,
            Err(_) => break,
        }
    }
    sent
}

#[test]
fn a_line_of_one_gib_costs_the_relay_no_memory() {
    let demo = demo();
    let spool = tempfile::tempdir().unwrap();
    let hop = LenientHop::start();
    let port = free_port();
    let relay = start_relay(demo.path(), spool.path(), port, hop.port);
    // One ordinary mail first, so that what the first session and the
    // first decision allocate is in the baseline.
    let replies = client(port, b"Subject: warm-up\r\n\r\nhello\r\n.\r\n");
    assert_eq!(queued(&replies), 1, "{replies:?}");
    hop.wait_for_transactions(1);
    let baseline = peak_rss_kib(relay.0.id());

    // 1 GiB in DATA without a line feed, then the real end.
    let started = Instant::now();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(300)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    let mut next_reply = |line: &mut String| loop {
        line.clear();
        reader.read_line(line).unwrap();
        if line.as_bytes().get(3) != Some(&b'-') {
            break;
        }
    };
    next_reply(&mut line);
    // EHLO ends its group (RFC 2920; the relay refuses more behind it).
    stream.write_all(b"EHLO c\r\n").unwrap();
    next_reply(&mut line);
    stream
        .write_all(
            b"MAIL FROM:<alice@behoerde.example>\r\nRCPT TO:<frank@behoerde.example>\r\nDATA\r\n",
        )
        .unwrap();
    for _ in 0..3 {
        next_reply(&mut line);
    }
    assert!(line.starts_with("354"), "{line}");
    assert_eq!(write_line_of(&mut stream, 1 << 30), 1 << 30);
    stream.write_all(b"\r\n.\r\n").unwrap();
    next_reply(&mut line);
    assert!(line.starts_with("552 5.3.4"), "{line}");
    let data_seconds = started.elapsed().as_secs_f64();
    drop(stream);

    // 1 GiB as a command line: the relay stops reading after 2048 bytes.
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut greeting = [0u8; 128];
    let _ = stream.read(&mut greeting).unwrap();
    let sent = write_line_of(&mut stream, 1 << 30);
    assert!(sent < 1 << 30, "the relay read a 1 GiB command line");

    let peak = peak_rss_kib(relay.0.id());
    println!(
        "mailgate relay: peak RSS {baseline} KiB before, {peak} KiB after a 1 GiB DATA line \
         ({data_seconds:.1} s) and a command line cut off after {sent} bytes"
    );
    assert!(
        peak < baseline + 8 * 1024,
        "the relay grew from {baseline} KiB to {peak} KiB"
    );
}

/// A Postfix of its own in a temporary directory, one `smtpd` on
/// loopback, mail kept in its queue (`defer_transports = smtp`): the
/// reference for the differential test. Set up like Postfix 3.9 with
/// `smtpd_forbid_bare_newline = reject` and reject code 521 (what
/// `mailgate relay` does); no exclusions, so loopback is checked too.
struct Postfix {
    dir: tempfile::TempDir,
    port: u16,
}

impl Postfix {
    fn start() -> Postfix {
        Postfix::start_with("")
    }

    /// Postfix with `extra` lines in its main.cf.
    fn start_with(extra: &str) -> Postfix {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["conf", "queue", "data"] {
            std::fs::create_dir(root.join(sub)).unwrap();
        }
        run("chmod", &["755", "."], b"", root);
        run("chown", &["postfix", "data"], b"", root);
        let port = free_port();
        let root_text = root.to_str().unwrap();
        let main_cf = format!(
            "compatibility_level = 3.6\n\
             queue_directory = {root_text}/queue\n\
             data_directory = {root_text}/data\n\
             maillog_file = {root_text}/maillog\n\
             maillog_file_prefixes = {root_text}\n\
             mail_owner = postfix\n\
             setgid_group = postdrop\n\
             inet_interfaces = 127.0.0.1\n\
             inet_protocols = ipv4\n\
             myhostname = mx.behoerde.example\n\
             mydestination =\n\
             alias_maps =\n\
             alias_database =\n\
             local_transport = error:no local delivery\n\
             relayhost = [127.0.0.1]:9\n\
             defer_transports = smtp\n\
             mynetworks = 127.0.0.0/8\n\
             smtpd_relay_restrictions = permit_mynetworks, reject\n\
             smtpd_forbid_bare_newline = reject\n\
             smtpd_forbid_bare_newline_reject_code = 521\n\
             smtpd_forbid_bare_newline_exclusions =\n\
             {extra}"
        );
        std::fs::write(root.join("conf/main.cf"), main_cf).unwrap();
        // Debian's master.cf without chroot and without its listeners,
        // plus one smtpd on the test's port.
        let master = std::fs::read_to_string("/etc/postfix/master.cf").unwrap();
        let mut master_cf = String::new();
        for line in master.lines() {
            let mut fields: Vec<&str> = line.split_whitespace().collect();
            if line.starts_with(|c: char| c.is_ascii_alphanumeric()) && fields.len() >= 8 {
                if fields[1] == "inet" {
                    continue;
                }
                fields[4] = "n";
                master_cf.push_str(&fields.join("  "));
            } else {
                master_cf.push_str(line);
            }
            master_cf.push('\n');
        }
        master_cf.push_str(&format!("{port}  inet  n  -  n  -  -  smtpd\n"));
        std::fs::write(root.join("conf/master.cf"), master_cf).unwrap();
        let postfix = Postfix { dir, port };
        postfix.postfix(&["start"]);
        wait_until_listening(port, "postfix");
        postfix
    }

    fn conf(&self) -> String {
        self.dir.path().join("conf").to_str().unwrap().to_owned()
    }

    fn postfix(&self, args: &[&str]) {
        let conf = self.conf();
        let mut all = vec!["-c", conf.as_str()];
        all.extend_from_slice(args);
        let output = tool("postfix", &all, b"", self.dir.path());
        assert!(
            output.status.success(),
            "postfix {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// The envelopes in the queue; waits until there are `count`.
    fn envelopes(&self, count: usize) -> Vec<Envelope> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let conf = self.conf();
            let out = run("postqueue", &["-c", &conf, "-j"], b"", self.dir.path());
            let envelopes: Vec<Envelope> = String::from_utf8_lossy(&out)
                .lines()
                .map(|l| {
                    let entry: serde_json::Value = serde_json::from_str(l).unwrap();
                    let recipients = entry["recipients"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| r["address"].as_str().unwrap().to_owned())
                        .collect();
                    (entry["sender"].as_str().unwrap().to_owned(), recipients)
                })
                .collect();
            if envelopes.len() >= count || Instant::now() > deadline {
                return envelopes;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }

    fn clear_queue(&self) {
        let conf = self.conf();
        let _ = tool(
            "postsuper",
            &["-c", &conf, "-d", "ALL"],
            b"",
            self.dir.path(),
        );
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let conf = self.conf();
        let _ = tool("postfix", &["-c", &conf, "abort"], b"", self.dir.path());
    }
}

/// Whether `bytes` hold an LF not preceded by CR.
fn has_bare_lf(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || bytes[i - 1] != b'\r'))
}

/// The same hostile streams against `mailgate relay` and Postfix: the
/// envelopes each accepted, stream by stream. Where a stream has a bare
/// LF, both refuse it (521 and close) and accept nothing; where it has
/// only a bare CR or a NUL, Postfix takes the first message with those
/// bytes as content and `mailgate relay` refuses it (521 5.5.2 or 554
/// 5.6.0): the one documented difference. Neither ever accepts the
/// smuggled envelope, and a clean stream gives both the same one message.
#[test]
#[ignore = "needs postfix and root"]
fn mailgate_relay_and_postfix_accept_the_same_envelopes_from_hostile_streams() {
    let postfix = Postfix::start();
    let demo = demo();
    let spool = tempfile::tempdir().unwrap();
    let hop = LenientHop::start();
    let port = free_port();
    let _relay = start_relay(demo.path(), spool.path(), port, hop.port);
    let first = (
        "alice@behoerde.example".to_owned(),
        vec!["frank@behoerde.example".to_owned()],
    );
    let mut streams = smuggling_streams();
    streams.push((
        "clean".into(),
        b"From: alice@behoerde.example\r\nSubject: dots\r\n\r\n..\r\n. \r\nend\r\n.\r\n".to_vec(),
    ));
    let mut delivered = 0;
    for (name, payload) in streams {
        let ours_replies = client(port, &payload);
        let ours_count = queued(&ours_replies);
        delivered += ours_count;
        hop.wait_for_transactions(delivered);
        let ours = envelopes(&hop, delivered - ours_count);

        postfix.clear_queue();
        let theirs_replies = client(postfix.port, &payload);
        let theirs = postfix.envelopes(queued(&theirs_replies));
        let after_354 = |replies: &[String]| {
            let start = replies
                .iter()
                .position(|r| r.starts_with("354"))
                .map_or(0, |i| i + 1);
            replies[start..].join(" | ")
        };
        println!(
            "{name}: mailgate relay: {}; Postfix: {}",
            after_354(&ours_replies),
            after_354(&theirs_replies)
        );

        for envelopes in [&ours, &theirs] {
            assert!(envelopes.len() <= 1, "{name}: {envelopes:?}");
            assert!(
                envelopes.iter().all(|e| e == &first),
                "{name}: {envelopes:?}"
            );
        }
        if has_bare_lf(&payload) || name == "clean" {
            assert_eq!(
                ours, theirs,
                "{name}: {ours_replies:?} / {theirs_replies:?}"
            );
        } else {
            assert!(ours.is_empty(), "{name}: {ours_replies:?}");
            assert_eq!(
                theirs,
                std::slice::from_ref(&first),
                "{name}: {theirs_replies:?}"
            );
        }
    }
}

/// Sends `groups` to `port` one after the other, each once the server has
/// fallen silent after the one before (or closed): every reply line, and
/// whether the server closed the connection.
fn exchange(port: u16, groups: &[&[u8]]) -> (Vec<String>, bool) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut replies = Vec::new();
    // Lines until the server is silent (false) or closed (true).
    let mut read_all = |replies: &mut Vec<String>| loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return true,
            Ok(_) => replies.push(line.trim_end().to_owned()),
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    };
    if read_all(&mut replies) {
        return (replies, true);
    }
    for group in groups {
        if writer.write_all(group).is_err() || read_all(&mut replies) {
            return (replies, true);
        }
    }
    (replies, false)
}

/// The red team's SMTP findings against `mailgate relay` and Postfix 3.7
/// (`smtpd_forbid_unauth_pipelining = yes`, `hopcount_limit = 5`; the
/// relay with `--max-hops 5`): unauthorised pipelining ends the session
/// in both (554) and queues nothing, legal pipelining works in both, a
/// message with 4 `Received` fields (5 with the server's own) is refused
/// by both (554; Postfix says 5.4.0, the relay 5.4.6, RFC 3463's "routing
/// loop detected") and one with 3 taken, and `<Postmaster>` is accepted by
/// both.
#[test]
#[ignore = "needs postfix and root"]
fn mailgate_relay_and_postfix_agree_on_pipelining_hops_and_postmaster() {
    let postfix = Postfix::start_with("smtpd_forbid_unauth_pipelining = yes\nhopcount_limit = 5\n");
    let demo = demo();
    let spool = tempfile::tempdir().unwrap();
    let hop = LenientHop::start();
    let port = free_port();
    let _relay = start_relay_with(
        demo.path(),
        spool.path(),
        port,
        hop.port,
        &["--max-hops", "5"],
    );
    let transaction: &[u8] =
        b"MAIL FROM:<alice@behoerde.example>\r\nRCPT TO:<frank@behoerde.example>\r\nDATA\r\n";
    let hops = |n: usize| {
        let mut message =
            "Received: from a.example by b.example; Mon, 7 Dec 2026 10:00:00 +0000\r\n"
                .repeat(n)
                .into_bytes();
        message.extend_from_slice(
            b"From: alice@behoerde.example\r\nSubject: hops\r\nMessage-ID: <h@behoerde.example>\r\n\r\nbody\r\n.\r\n",
        );
        message
    };
    let (three, four) = (hops(3), hops(4));
    let mut content =
        b"From: alice@behoerde.example\r\nSubject: early\r\n\r\nbody\r\n.\r\n".to_vec();
    let mut early = transaction.to_vec();
    early.append(&mut content);
    let cases: [(&str, Vec<&[u8]>, usize, bool); 6] = [
        ("the message before 354", vec![b"EHLO c.test\r\n", &early], 0, true),
        ("MAIL behind EHLO", vec![b"EHLO c.test\r\nMAIL FROM:<alice@behoerde.example>\r\n"], 0, true),
        ("a group after HELO", vec![b"HELO c.test\r\n", transaction], 0, true),
        ("3 earlier hops", vec![b"EHLO c.test\r\n", transaction, &three, b"QUIT\r\n"], 1, false),
        ("4 earlier hops", vec![b"EHLO c.test\r\n", transaction, &four, b"QUIT\r\n"], 0, false),
        (
            "<Postmaster>",
            vec![
                b"EHLO c.test\r\n",
                b"MAIL FROM:<alice@behoerde.example>\r\nRCPT TO:<PostMaster>\r\nDATA\r\n",
                b"From: alice@behoerde.example\r\nSubject: pm\r\nMessage-ID: <pm@behoerde.example>\r\n\r\nhi\r\n.\r\n",
                b"QUIT\r\n",
            ],
            1,
            false,
        ),
    ];
    for (name, groups, accepted, cut) in cases {
        postfix.clear_queue();
        let (theirs, theirs_closed) = exchange(postfix.port, &groups);
        let (ours, ours_closed) = exchange(port, &groups);
        println!("{name}: mailgate relay: {ours:?}; Postfix: {theirs:?}");
        for (who, replies, closed) in [
            ("relay", &ours, ours_closed),
            ("Postfix", &theirs, theirs_closed),
        ] {
            let queued = replies
                .iter()
                .filter(|r| r.starts_with("250 2.0.0"))
                .count();
            assert_eq!(queued, accepted, "{name}, {who}: {replies:?}");
            if cut {
                assert!(
                    closed && replies.last().is_some_and(|r| r.starts_with("554 5.5")),
                    "{name}, {who}: {replies:?}"
                );
            }
            if name == "4 earlier hops" {
                assert!(
                    replies.iter().any(|r| r.starts_with("554 5.4.")),
                    "{name}, {who}: {replies:?}"
                );
            }
        }
    }
}

/// Inbound, the gateway decrypts an S/MIME mail whose plaintext (which no
/// SMTP server saw) holds `LF . LF` and `CR . CR` followed by commands.
/// The gateway makes the bare LFs CR LF but keeps the bare CRs; the
/// relay's client sends them as CR LF too, dot-stuffed, so a next hop that
/// takes a lone CR or LF for a line end still gets one message, whole.
#[test]
fn a_decrypted_body_cannot_smuggle_into_a_lenient_next_hop() {
    let demo = demo();
    let d = demo.path();
    let plain = b"Content-Type: text/plain\n\nfirst\n.\nMAIL FROM:<ceo@behoerde.example>\n\
                  RCPT TO:<smuggled@behoerde.example>\nDATA\nsmuggled\r.\rMAIL FROM:<ceo@behoerde.example>\r\
                  RCPT TO:<smuggled@behoerde.example>\rDATA\rthird\n.\r\n";
    std::fs::write(d.join("plain"), plain).unwrap();
    let encrypted = run(
        "openssl",
        &[
            "cms",
            "-encrypt",
            "-binary",
            "-in",
            "plain",
            "-aes-256-cbc",
            "pki/alice.cert.pem",
        ],
        b"",
        d,
    );
    let mut mail =
        b"From: bob@partner.example\r\nTo: alice@behoerde.example\r\nSubject: inside\r\n".to_vec();
    let encrypted = encrypted.strip_suffix(b"\n").unwrap_or(&encrypted);
    for line in encrypted.split(|&b| b == b'\n') {
        mail.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        mail.extend_from_slice(b"\r\n");
    }
    let hop = LenientHop::start();
    let spool = tempfile::tempdir().unwrap();
    let port = free_port();
    let _relay = start_relay_with(d, spool.path(), port, hop.port, &["--direction", "inbound"]);
    let reply = send(
        port,
        "bob@partner.example",
        &["alice@behoerde.example"],
        &mail,
    )
    .unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    hop.wait_for_transactions(1);
    // Time for a smuggled second transaction to arrive, if there were one.
    thread::sleep(Duration::from_secs(2));
    let kept = hop.transactions();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].sender, "bob@partner.example", "{kept:?}");
    assert_eq!(kept[0].recipients, ["alice@behoerde.example"]);
    let text = String::from_utf8_lossy(&kept[0].message);
    assert!(
        text.contains("smuggled\r\n.\r\nMAIL FROM:<ceo@behoerde.example>"),
        "{text}"
    );
    assert!(text.contains("third\r\n.\r\n"), "{text}");
}
