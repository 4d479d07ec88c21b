//! `mailgate relay` as an MTA would run it: SMTP in on loopback, the demo
//! gateway deciding, SMTP out to a sink of this test; then killed with
//! SIGKILL at random moments while clients send, to show that nothing it
//! acknowledged is lost.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::sink::{Sink, free_port, wait_until_listening};
use common::{mailgate_in, ok, run};

fn demo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(mailgate_in(
        dir.path(),
        &["demo", "--dir", ".", "--quiet"],
        b"",
        &[],
    ));
    dir
}

/// `mailgate relay` on `port`, delivering to the sink.
fn start_relay(demo: &Path, spool: &Path, port: u16, sink: u16) -> Child {
    let child = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(["relay", "--config"])
        .arg(demo.join("mailgate.toml"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--spool")
        .arg(spool)
        .args(["--next-hop", &format!("127.0.0.1:{sink}")])
        .args(["--hostname", "relay.behoerde.example", "--retry-first", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_listening(port, "mailgate relay");
    child
}

/// Sends one message; `Ok(reply)` with the final reply to DATA, `Err` when
/// the connection broke first.
fn send(port: u16, from: &str, to: &[&str], message: &[u8]) -> Result<String, String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut reply = || -> Result<String, String> {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err("closed".into());
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(all);
            }
        }
    };
    reply()?;
    let mut commands = vec!["EHLO client.test".to_owned(), format!("MAIL FROM:<{from}>")];
    commands.extend(to.iter().map(|r| format!("RCPT TO:<{r}>")));
    commands.push("DATA".into());
    for command in commands {
        writer
            .write_all(format!("{command}\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        let answer = reply()?;
        if !answer.starts_with('2') && !answer.starts_with('3') {
            return Ok(answer);
        }
    }
    writer.write_all(message).map_err(|e| e.to_string())?;
    writer.write_all(b".\r\n").map_err(|e| e.to_string())?;
    let answer = reply()?;
    let _ = writer.write_all(b"QUIT\r\n");
    Ok(answer)
}

fn text_mail(number: u64, to: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: alice@behoerde.example\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <{number}@crash.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// The number in `Message-ID: <N@crash.test>`.
fn message_number(data: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(data);
    let start = text.find("Message-ID: <")? + 13;
    text[start..].split('@').next()?.parse().ok()
}

#[test]
fn recipients_get_their_own_treatment_and_refused_ones_bounce() {
    let demo = demo();
    let d = demo.path();
    let spool = tempfile::tempdir().unwrap();
    let sink = Sink::start();
    let port = free_port();
    let mut relay = start_relay(d, spool.path(), port, sink.port);

    let reply = send(
        port,
        "alice@behoerde.example",
        &["bob@partner.example", "erin@geheim.example"],
        &text_mail(
            1,
            "bob@partner.example, erin@geheim.example",
            "[vertraulich] Angebot",
            "Das geheime Angebot.",
        ),
    )
    .unwrap();
    assert!(reply.starts_with("250 2.0.0 queued as "), "{reply}");

    // bob: S/MIME-encrypted, opened by OpenSSL with bob's key.
    let to_bob = sink.wait_for("bob@partner.example");
    assert_eq!(to_bob.recipients, ["bob@partner.example"]);
    assert!(!String::from_utf8_lossy(&to_bob.data).contains("geheime"));
    let inner = run(
        "openssl",
        &[
            "cms",
            "-decrypt",
            "-recip",
            "pki/bob.cert.pem",
            "-inkey",
            "pki/bob.key.pem",
        ],
        &to_bob.data,
        d,
    );
    let content = run(
        "openssl",
        &["cms", "-verify", "-CAfile", "pki/ca.pem"],
        &inner,
        d,
    );
    assert!(String::from_utf8_lossy(&content).contains("Das geheime Angebot."));

    // erin: refused by the policy; alice gets an RFC 3464 report that does
    // not carry the protected body.
    let bounce = sink.wait_for("alice@behoerde.example");
    let report = String::from_utf8_lossy(&bounce.data).into_owned();
    assert!(
        report.contains("multipart/report; report-type=delivery-status"),
        "{report}"
    );
    assert!(
        report.contains("Final-Recipient: rfc822; erin@geheim.example"),
        "{report}"
    );
    assert!(report.contains("Action: failed"), "{report}");
    assert!(!report.contains("Das geheime Angebot"), "{report}");
    assert!(
        !sink
            .mail
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.recipients.iter().any(|r| r == "erin@geheim.example")),
        "nothing went to erin"
    );
    let _ = relay.kill();
    let _ = relay.wait();
}

#[test]
fn killed_at_random_moments_the_relay_loses_nothing_it_acknowledged() {
    let demo = demo();
    let d = demo.path();
    let spool = tempfile::tempdir().unwrap();
    let sink = Sink::start();
    let port = free_port();
    let acknowledged = Arc::new(Mutex::new(BTreeSet::new()));
    let next = Arc::new(AtomicU64::new(0));
    let kills = 8;
    for round in 0..kills {
        let mut relay = start_relay(d, spool.path(), port, sink.port);
        let stop = Arc::new(AtomicBool::new(false));
        let clients: Vec<_> = (0..3)
            .map(|_| {
                let (stop, next, acknowledged) = (
                    Arc::clone(&stop),
                    Arc::clone(&next),
                    Arc::clone(&acknowledged),
                );
                thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let n = next.fetch_add(1, Ordering::Relaxed);
                        let mail =
                            text_mail(n, "frank@behoerde.example", "Mittagessen", "Um zwoelf?");
                        match send(
                            port,
                            "alice@behoerde.example",
                            &["frank@behoerde.example"],
                            &mail,
                        ) {
                            Ok(reply) if reply.starts_with("250") => {
                                acknowledged.lock().unwrap().insert(n);
                            }
                            Ok(reply) => panic!("refused: {reply}"),
                            // The relay was killed mid-transaction: not
                            // acknowledged, so the client keeps it.
                            Err(_) => thread::sleep(Duration::from_millis(20)),
                        }
                    }
                })
            })
            .collect();
        let jitter = u64::from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
                % 700,
        );
        thread::sleep(Duration::from_millis(300 + jitter + 50 * round));
        relay.kill().unwrap();
        relay.wait().unwrap();
        stop.store(true, Ordering::Relaxed);
        for client in clients {
            client.join().unwrap();
        }
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(
        acknowledged.len() >= 20,
        "only {} acknowledged",
        acknowledged.len()
    );

    // A last run delivers whatever the killed ones left in the spool.
    let mut relay = start_relay(d, spool.path(), port, sink.port);
    let deadline = Instant::now() + Duration::from_secs(180);
    let counts = loop {
        let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
        for mail in sink.mail.lock().unwrap().iter() {
            let number = message_number(&mail.data).unwrap_or_else(|| {
                panic!("no Message-ID: {}", String::from_utf8_lossy(&mail.data))
            });
            *counts.entry(number).or_default() += 1;
        }
        let leftover: usize = ["incoming", "outgoing", "tmp"]
            .iter()
            .map(|sub| std::fs::read_dir(spool.path().join(sub)).unwrap().count())
            .sum();
        if acknowledged.iter().all(|n| counts.contains_key(n)) && leftover == 0 {
            break counts;
        }
        assert!(
            Instant::now() < deadline,
            "lost: {:?}",
            acknowledged
                .iter()
                .filter(|n| !counts.contains_key(n))
                .collect::<Vec<_>>()
        );
        thread::sleep(Duration::from_millis(200));
    };
    let _ = relay.kill();
    let _ = relay.wait();
    // Each delivery went out once, or twice when a kill came between the
    // sink's 250 and the spool's removal of the delivery: at most one
    // duplicate per delivery in flight (4 delivery threads) per kill.
    assert!(counts.values().all(|&c| c <= 2), "{counts:?}");
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    assert!(
        duplicates <= 4 * kills as usize,
        "{duplicates} duplicates after {kills} kills"
    );
    // Every delivered mail was signed by the gateway.
    for mail in sink.mail.lock().unwrap().iter() {
        assert!(String::from_utf8_lossy(&mail.data).contains("multipart/signed"));
    }
}
