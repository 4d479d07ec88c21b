//! The SMTP boundary after issue 17, against a running [`Relay`] over TCP
//! (the red team's open findings): refusals that can be known at the end
//! of DATA are made there, not bounced later; an evicted session is told
//! `421`; every message gets one `Received` field and a looping one is
//! refused; `<Postmaster>` is accepted; a client that does not wait for
//! replies where RFC 2920 says it must is disconnected.
//!
//! The relay runs in this process with a gateway that delivers everything
//! (policy `internal_domains = ["behoerde.example"]`) to a next hop that
//! records what it gets. Clients bind 127.0.0.2, 127.0.0.3, ... so that
//! the per-client accounting tells them apart.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::TcpListener;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use gateway_facade::Direction;
use mailgate_relay::{NextHop, Relay, RelayConfig, Routing};
use mailgate_spool::Spool;
use testkit::smtp::{Client, LenientHop};

const POLICY: &str = r#"
[policy]
name = "boundary"
internal_domains = ["behoerde.example"]

[[rules]]
id = "big"
when = { size_over = "100MB" }
then = { block = "too big" }

[default]
then = { deliver = true }
"#;

/// A relay on a free loopback port, delivering to a recording next hop.
struct Running {
    port: u16,
    relay: Arc<Relay>,
    hop: LenientHop,
    spool: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Running {
    fn start(direction: Direction, configure: impl FnOnce(&mut RelayConfig)) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let hop = LenientHop::start();
        let gateway = common::gateway(POLICY, "boundary.toml");
        let spool_dir = dir.path().join("spool");
        let spool = Spool::open(&spool_dir).unwrap();
        let mut config = RelayConfig::new(
            "relay.behoerde.example",
            "postmaster@behoerde.example",
            Routing::NextHop(NextHop::new(&format!("127.0.0.1:{}", hop.port))),
        );
        config.direction = direction;
        configure(&mut config);
        let relay = Arc::new(Relay::new(config, gateway, spool).unwrap());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let serving = Arc::clone(&relay);
        thread::spawn(move || serving.serve(listener));
        Running {
            port,
            relay,
            hop,
            spool: spool_dir,
            _dir: dir,
        }
    }

    /// A client from `127.0.0.LAST`, greeting read.
    fn client(&self, last: u8) -> Client {
        let mut client = Client::connect_from(last, self.port).unwrap();
        let greeting = client.reply();
        assert!(greeting.starts_with("220 "), "{greeting}");
        client
    }

    /// Waits a little and returns what the next hop got: a refusal at
    /// DATA must not show up later as a bounce.
    fn delivered_after_a_while(&self, expected: usize) -> Vec<testkit::smtp::Transaction> {
        self.hop.wait_for_transactions(expected);
        thread::sleep(Duration::from_millis(1500));
        self.hop.transactions()
    }

    /// Files in the spool's incoming, outgoing and held directories.
    fn spooled(&self) -> usize {
        ["incoming", "outgoing", "held"]
            .iter()
            .map(|d| std::fs::read_dir(self.spool.join(d)).map_or(0, Iterator::count))
            .sum()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.relay.shutdown();
    }
}

fn message(subject: &str) -> Vec<u8> {
    format!(
        "From: alice@behoerde.example\r\nTo: bob@partner.example\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@behoerde.example>\r\n\r\nHallo.\r\n"
    )
    .into_bytes()
}

/// A header section of `total` bytes or more, in fields of 60 KiB (under
/// the 64 KiB line limit).
fn long_header(total: usize) -> Vec<u8> {
    let mut header = message("long");
    header.truncate(header.len() - "\r\nHallo.\r\n".len());
    let field = format!("X-Filler: {}\r\n", "f".repeat(60 * 1024));
    while header.len() < total {
        header.extend_from_slice(field.as_bytes());
    }
    header.extend_from_slice(b"\r\nHallo.\r\n");
    header
}

/// Finding 1: what the gateway would refuse for the header section alone
/// is refused at the end of DATA, with the session going on, and nothing
/// is spooled, delivered or bounced for it.
#[test]
fn header_refusals_come_at_the_end_of_data_not_as_bounces() {
    let relay = Running::start(Direction::Outbound, |_| {});
    let mut client = relay.client(1);
    let sender = "alice@behoerde.example";
    let recipient = "bob@partner.example";
    let mut duplicate = b"Subject: one\r\n".to_vec();
    duplicate.extend_from_slice(&message("two"));
    let mut no_field = b"this line is no header field\r\n".to_vec();
    no_field.extend_from_slice(&message("broken"));
    for (what, bytes, code) in [
        ("over 1 MiB", long_header(1024 * 1024 + 1), "552 5.3.4 "),
        (
            "just under 1 MiB, with the trace field over",
            long_header(1024 * 1024 - 100),
            "552 5.3.4 ",
        ),
        ("a singleton twice", duplicate, "554 5.6.0 "),
        ("a line that is no field", no_field, "554 5.6.0 "),
    ] {
        let reply = client.transaction(sender, recipient, &bytes);
        assert!(reply.starts_with(code), "{what}: {reply}");
        assert!(reply.contains("message refused"), "{what}: {reply}");
    }
    // The session goes on, and a header section well under the limit is
    // taken whole.
    let reply = client.transaction(sender, recipient, &long_header(1000 * 1024));
    assert!(reply.starts_with("250 2.0.0 queued"), "{reply}");
    assert!(client.command("QUIT").starts_with("221"));
    let delivered = relay.delivered_after_a_while(1);
    assert_eq!(delivered.len(), 1, "no bounce, no notification");
    assert_eq!(delivered[0].sender, sender);
    assert_eq!(relay.spooled(), 0);

    // Inbound, the gateway quarantines a repeated singleton for an
    // administrator, so the relay takes it; a broken header it refuses.
    let relay = Running::start(Direction::Inbound, |_| {});
    let mut client = relay.client(1);
    let mut duplicate = b"Subject: one\r\n".to_vec();
    duplicate.extend_from_slice(&message("two"));
    let reply = client.transaction("x@partner.example", "bob@behoerde.example", &duplicate);
    assert!(reply.starts_with("250 2.0.0 queued"), "{reply}");
    let mut no_field = b"no field\r\n".to_vec();
    no_field.extend_from_slice(&message("broken"));
    let reply = client.transaction("x@partner.example", "bob@behoerde.example", &no_field);
    assert!(reply.starts_with("554 5.6.0 "), "{reply}");
}

/// Finding 2: an evicted session is told `421 4.7.0` before the end, and
/// a session in the middle of DATA is not evicted while there is an idle
/// one to take.
#[test]
fn an_evicted_client_reads_421_and_a_message_in_flight_is_spared() {
    let relay = Running::start(Direction::Inbound, |config| {
        config.max_connections = 2;
        // Loopback clients are not exempt from the limits here.
        config.mynetworks = vec!["10.0.0.0/8".parse().unwrap()];
    });
    // 127.0.0.2 holds both slots: one in DATA, one idle after EHLO (it
    // spoke last, so the DATA session is the idler one).
    let mut sending = relay.client(2);
    assert!(sending.command("EHLO sending.test").starts_with("250"));
    assert!(
        sending
            .command("MAIL FROM:<x@partner.example>")
            .starts_with("250")
    );
    assert!(
        sending
            .command("RCPT TO:<bob@behoerde.example>")
            .starts_with("250")
    );
    assert!(sending.command("DATA").starts_with("354"));
    sending.write(b"From: x@partner.example\r\nSubject: in flight\r\n\r\nfirst line\r\n");
    thread::sleep(Duration::from_millis(300));
    let mut idle = relay.client(2);
    assert!(idle.command("EHLO idle.test").starts_with("250"));
    // A client from another address takes a slot of the biggest holder.
    let mut newcomer = relay.client(3);
    let reply = idle.reply();
    assert!(
        reply.starts_with("421 4.7.0 relay.behoerde.example closing"),
        "the evicted session got {reply:?}"
    );
    assert!(idle.closed());
    // The message in flight goes on.
    sending.write(b"second line\r\n.\r\n");
    let reply = sending.reply();
    assert!(reply.starts_with("250 2.0.0 queued"), "{reply}");
    // Again, now with every holder at one session: the idle newcomer goes,
    // not the one in DATA.
    assert!(
        sending
            .command("MAIL FROM:<x@partner.example>")
            .starts_with("250")
    );
    assert!(
        sending
            .command("RCPT TO:<bob@behoerde.example>")
            .starts_with("250")
    );
    assert!(sending.command("DATA").starts_with("354"));
    sending.write(b"Subject: second\r\n\r\n");
    thread::sleep(Duration::from_millis(300));
    let _third = relay.client(4);
    let reply = newcomer.reply();
    assert!(reply.starts_with("421 4.7.0 "), "{reply:?}");
    sending.write(b"body\r\n.\r\n");
    let reply = sending.reply();
    assert!(reply.starts_with("250 2.0.0 queued"), "{reply}");
    relay.hop.wait_for_transactions(2);
}

/// Finding 3: one `Received` field per pass through the relay, naming the
/// client's EHLO name (only where it is safe), its address, the relay, the
/// protocol and the one recipient; a message that has passed 99 relays
/// already (100 with this one) is refused as a loop.
#[test]
fn every_message_gets_one_received_field_and_loops_are_refused() {
    let relay = Running::start(Direction::Inbound, |_| {});
    let mut client = relay.client(2);
    let reply = client.transaction(
        "x@partner.example",
        "bob@behoerde.example",
        b"Received: from earlier.example by mx.partner.example; Mon, 7 Dec 2026 10:00:00 +0000\r\n\
          Subject: traced\r\n\r\nbody\r\n",
    );
    assert!(reply.starts_with("250 2.0.0 queued"), "{reply}");
    // EHLO names that would break the field are written `unknown`.
    for helo in ["evil.test(comment)", "a;b", "ex\u{e4}mple.test"] {
        assert!(client.command(&format!("EHLO {helo}")).starts_with("250"));
        assert!(
            client
                .command("MAIL FROM:<x@partner.example>")
                .starts_with("250")
        );
        assert!(
            client
                .command("RCPT TO:<bob@behoerde.example>")
                .starts_with("250")
        );
        assert!(client.command("DATA").starts_with("354"));
        client.write(format!("Subject: {}\r\n\r\nbody\r\n.\r\n", helo.len()).as_bytes());
        assert!(client.reply().starts_with("250"));
    }
    // 98 earlier hops pass, 99 and this one are a loop.
    let hops = |n: usize| {
        let mut message =
            "Received: from a.example by b.example; Mon, 7 Dec 2026 10:00:00 +0000\r\n"
                .repeat(n)
                .into_bytes();
        message.extend_from_slice(b"Subject: hops\r\n\r\nbody\r\n");
        message
    };
    let reply = client.transaction("x@partner.example", "bob@behoerde.example", &hops(98));
    assert!(reply.starts_with("250 2.0.0 queued"), "{reply}");
    let reply = client.transaction("x@partner.example", "bob@behoerde.example", &hops(99));
    assert!(reply.starts_with("554 5.4.6 "), "{reply}");
    assert!(reply.contains("too many hops"), "{reply}");
    let delivered = relay.delivered_after_a_while(5);
    assert_eq!(
        delivered.len(),
        5,
        "the loop was neither delivered nor bounced"
    );

    // The relay's field is the first trace field, above the client's
    // (the inbound gateway puts its result fields above all).
    // Deliveries run in parallel: found by subject.
    let texts: Vec<String> = delivered
        .iter()
        .map(|t| String::from_utf8(t.message.clone()).unwrap())
        .collect();
    let first = texts
        .iter()
        .find(|t| t.contains("Subject: traced"))
        .unwrap();
    let expected = "Received: from client.test ([127.0.0.2])\r\n\
        \tby relay.behoerde.example (mailgate relay) with ESMTP\r\n\
        \tfor <bob@behoerde.example>;\r\n\t";
    let ours = first.find(expected).expect(first);
    assert_eq!(first.find("Received:"), Some(ours), "{first}");
    let date_line = first[ours + expected.len()..].lines().next().unwrap();
    assert!(date_line.ends_with(" +0000"), "{date_line}");
    assert_eq!(first.matches("Received:").count(), 2, "{first}");
    let theirs = first
        .find("\r\nReceived: from earlier.example")
        .expect(first);
    assert!(ours < theirs && theirs < first.find("Subject: traced").unwrap());
    let unknown: Vec<&String> = texts
        .iter()
        .filter(|t| t.contains("Received: from unknown"))
        .collect();
    assert_eq!(unknown.len(), 3, "{texts:?}");
    for text in unknown {
        assert!(
            text.contains("Received: from unknown ([127.0.0.2])\r\n"),
            "{text}"
        );
        assert_eq!(text.matches("Received:").count(), 1, "{text}");
    }
}

/// Finding 4: `<Postmaster>` without a domain, in any case, is accepted
/// and goes to the configured postmaster (inbound and outbound).
#[test]
fn postmaster_without_a_domain_is_accepted_in_any_case() {
    for direction in [Direction::Inbound, Direction::Outbound] {
        let relay = Running::start(direction, |config| {
            config.postmaster = "Hostmaster@Behoerde.Example".into();
        });
        let mut client = relay.client(1);
        assert!(client.command("EHLO client.test").starts_with("250"));
        let sender = match direction {
            Direction::Inbound => "x@partner.example",
            Direction::Outbound => "alice@behoerde.example",
        };
        assert!(
            client
                .command(&format!("MAIL FROM:<{sender}>"))
                .starts_with("250")
        );
        for spelling in ["Postmaster", "POSTMASTER", "postmaster"] {
            let reply = client.command(&format!("RCPT TO:<{spelling}>"));
            assert!(reply.starts_with("250 2.1.5"), "{spelling}: {reply}");
        }
        // Not a bare postmaster: still needs a domain.
        assert!(client.command("RCPT TO:<postmistress>").starts_with("5"));
        assert!(client.command("DATA").starts_with("354"));
        client.write(&message("to the postmaster"));
        client.write(b".\r\n");
        assert!(client.reply().starts_with("250 2.0.0 queued"));
        relay.hop.wait_for_transactions(1);
        let delivered = relay.hop.transactions();
        assert_eq!(
            delivered[0].recipients, ["Hostmaster@behoerde.example"; 3],
            "{direction:?}"
        );
    }
}

/// Finding 5: commands or message text sent ahead of a reply where RFC
/// 2920 does not allow it end the session with `554 5.5.0`; nothing of
/// it is taken. What PIPELINING allows goes on working.
#[test]
fn unauthorised_pipelining_ends_the_session() {
    let relay = Running::start(Direction::Inbound, |config| {
        config.greet_pause = Duration::from_millis(500);
    });
    // Talking before the greeting.
    let mut early = Client::connect_from(2, relay.port).unwrap();
    early.write(b"EHLO early.test\r\n");
    let reply = early.reply();
    assert!(reply.starts_with("554 5.5.0 "), "{reply:?}");
    assert!(!reply.contains("220"), "{reply:?}");
    assert!(early.closed());

    let streams: [(&str, &[&[u8]]); 5] = [
        (
            "the message before 354",
            &[
                b"EHLO c.test\r\n",
                b"MAIL FROM:<x@partner.example>\r\nRCPT TO:<bob@behoerde.example>\r\nDATA\r\n\
              Subject: early\r\n\r\nbody\r\n.\r\n",
            ],
        ),
        (
            "a command behind EHLO",
            &[b"EHLO c.test\r\nMAIL FROM:<x@partner.example>\r\n"],
        ),
        (
            "a command behind NOOP",
            &[
                b"EHLO c.test\r\n",
                b"NOOP\r\nMAIL FROM:<x@partner.example>\r\n",
            ],
        ),
        (
            "a group after HELO (no PIPELINING)",
            &[
                b"HELO c.test\r\n",
                b"MAIL FROM:<x@partner.example>\r\nRCPT TO:<bob@behoerde.example>\r\n",
            ],
        ),
        (
            "a group before EHLO",
            &[b"MAIL FROM:<x@partner.example>\r\nRSET\r\n"],
        ),
    ];
    for (what, groups) in streams {
        let mut client = relay.client(3);
        let mut last = String::new();
        for group in groups {
            client.write(group);
            // Read replies until the server falls silent or closes.
            last = client.reply();
            while !last.starts_with("554") && !last.is_empty() {
                client.set_read_timeout(Duration::from_millis(300));
                let next = client.reply();
                client.set_read_timeout(Duration::from_secs(30));
                if next.is_empty() {
                    break;
                }
                last = next;
            }
        }
        assert!(
            last.starts_with("554 5.5.0 protocol synchronization error"),
            "{what}: {last:?}"
        );
        assert!(client.closed(), "{what}");
    }

    // RFC 2920 pipelining as announced: MAIL, RCPT, DATA in one group,
    // the message after 354, the next transaction behind the final dot.
    let mut client = relay.client(4);
    assert!(client.command("EHLO c.test").starts_with("250"));
    client.write(
        b"MAIL FROM:<x@partner.example>\r\nRCPT TO:<bob@behoerde.example>\r\n\
          RCPT TO:<carol@behoerde.example>\r\nDATA\r\n",
    );
    for expected in ["250", "250", "250", "354"] {
        let reply = client.reply();
        assert!(reply.starts_with(expected), "{reply}");
    }
    client.write(
        b"Subject: pipelined\r\n\r\nbody\r\n.\r\nMAIL FROM:<x@partner.example>\r\nRSET\r\nQUIT\r\n",
    );
    for expected in ["250 2.0.0 queued", "250", "250", "221"] {
        let reply = client.reply();
        assert!(reply.starts_with(expected), "{reply}");
    }
    let delivered = relay.delivered_after_a_while(1);
    assert_eq!(delivered.len(), 1, "{delivered:?}");
}

/// Finding 2, the last resort: when the biggest holder's only session is
/// in DATA, that one goes, and its client reads `421` in the middle of
/// its message (which is not taken).
#[test]
fn a_session_evicted_in_the_middle_of_data_reads_421() {
    let relay = Running::start(Direction::Inbound, |config| {
        config.max_connections = 1;
        config.mynetworks = vec!["10.0.0.0/8".parse().unwrap()];
    });
    let mut sending = relay.client(2);
    assert!(sending.command("EHLO sending.test").starts_with("250"));
    assert!(
        sending
            .command("MAIL FROM:<x@partner.example>")
            .starts_with("250")
    );
    assert!(
        sending
            .command("RCPT TO:<bob@behoerde.example>")
            .starts_with("250")
    );
    assert!(sending.command("DATA").starts_with("354"));
    sending.write(b"Subject: cut\r\n\r\nfirst line\r\n");
    thread::sleep(Duration::from_millis(300));
    let mut newcomer = relay.client(3);
    let reply = sending.reply();
    assert!(reply.starts_with("421 4.7.0 "), "{reply:?}");
    assert!(sending.closed());
    assert!(newcomer.command("EHLO newcomer.test").starts_with("250"));
    thread::sleep(Duration::from_millis(500));
    assert_eq!(relay.spooled(), 0);
    assert!(relay.hop.transactions().is_empty());
}
