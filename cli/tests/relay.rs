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

use common::peak_rss_kib;

use common::quiet_demo as demo;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::smtp::{Sink, free_port, send, wait_until_listening};
use common::{opened_by_bob, run};
use testkit::PortServer;

/// `mailgate relay` on `port`, delivering to the sink.
fn start_relay(demo: &Path, spool: &Path, port: u16, sink: u16) -> Child {
    common::start_relay(demo, spool, port, sink, &[], Stdio::null())
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
    let metrics = free_port();
    let metrics_address = format!("127.0.0.1:{metrics}");
    let mut relay = common::start_relay(
        d,
        spool.path(),
        port,
        sink.port,
        &["--metrics", &metrics_address],
        Stdio::null(),
    );

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
    assert!(opened_by_bob(&to_bob.data, d).contains("Das geheime Angebot."));

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

    // The counters say the same, in the Prometheus text format.
    let mut http = TcpStream::connect(("127.0.0.1", metrics)).unwrap();
    http.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .unwrap();
    let mut page = String::new();
    http.read_to_string(&mut page).unwrap();
    assert!(page.starts_with("HTTP/1.1 200 OK"), "{page}");
    for line in [
        "mailgate_relay_received_total 1\n",
        "mailgate_relay_bounced_recipients_total 1\n",
        "mailgate_relay_held_total 0\n",
    ] {
        assert!(page.contains(line), "{line} in {page}");
    }
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

/// The load test: bounded in count (20 clients × 20 mails of 10 KB) and
/// time. Reports acceptance throughput, latency percentiles (connect to
/// 250) and the relay's peak memory; the figures go to benches/README.md.
/// It asserts only what must hold under load: every mail accepted and
/// delivered signed, none twice, memory bounded.
#[test]
fn under_parallel_load_every_mail_is_accepted_and_delivered() {
    let demo = demo();
    let spool = tempfile::tempdir().unwrap();
    let sink = Sink::start();
    let port = free_port();
    let mut relay = start_relay(demo.path(), spool.path(), port, sink.port);
    let (clients, per_client) = (20u64, 20u64);
    let body = "Zeile mit etwas Text, damit die Mail zehn Kilobyte hat.\r\n".repeat(180);
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|client| {
            let body = body.clone();
            thread::spawn(move || {
                let mut latencies = Vec::new();
                for i in 0..per_client {
                    let n = client * per_client + i;
                    let mail = text_mail(n, "frank@behoerde.example", "Last", &body);
                    let sent = Instant::now();
                    let reply = send(
                        port,
                        "alice@behoerde.example",
                        &["frank@behoerde.example"],
                        &mail,
                    )
                    .unwrap();
                    assert!(reply.starts_with("250"), "{reply}");
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let accepted_in = started.elapsed();
    let total = clients * per_client;
    let deadline = Instant::now() + Duration::from_secs(300);
    while sink.count() < total as usize {
        assert!(
            Instant::now() < deadline,
            "{} of {total} delivered",
            sink.count()
        );
        thread::sleep(Duration::from_millis(50));
    }
    let delivered_in = started.elapsed();
    let peak = peak_rss_kib(relay.id());
    let _ = relay.kill();
    let _ = relay.wait();

    latencies.sort();
    let percentile = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    println!(
        "relay load: {total} mails of {} bytes from {clients} parallel clients: accepted in {:.2} s \
         ({:.0}/s), delivered signed in {:.2} s ({:.0}/s); latency p50 {:?} p95 {:?} p99 {:?}; \
         relay peak RSS {} MiB",
        body.len(),
        accepted_in.as_secs_f64(),
        total as f64 / accepted_in.as_secs_f64(),
        delivered_in.as_secs_f64(),
        total as f64 / delivered_in.as_secs_f64(),
        percentile(50),
        percentile(95),
        percentile(99),
        peak.map_or(0, |k| k / 1024)
    );
    let mut numbers: Vec<u64> = sink
        .mail
        .lock()
        .unwrap()
        .iter()
        .map(|m| {
            assert!(String::from_utf8_lossy(&m.data).contains("multipart/signed"));
            message_number(&m.data).unwrap()
        })
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len() as u64, total, "every mail exactly once");
    if let Some(peak) = peak {
        assert!(peak < 512 * 1024, "relay peak RSS {peak} KiB under load");
    }
}

/// The OpenSSL-backed STARTTLS server of tls-policy's tests, keeping what
/// it receives in `store`, with a certificate for `mx.secure.example`.
fn tls_next_hop(dir: &Path, store: &Path) -> PortServer {
    tls_next_hop_as(dir, store, "mx.secure.example")
}

/// The same with a certificate for `name` (written to `DIR/mx.pem`).
fn tls_next_hop_as(dir: &Path, store: &Path, name: &str) -> PortServer {
    testkit::pki()
        .tls_server(name, testkit::KeyKind::P256)
        .write_server_files(dir, "mx")
        .unwrap();
    PortServer::spawn(
        Command::new("python3")
            .arg(support_script("smtp_server.py"))
            .arg("--cert")
            .arg(dir.join("mx.pem"))
            .arg("--key")
            .arg(dir.join("mx.key"))
            .args(["--name", name, "--store"])
            .arg(store),
    )
}

/// A script of tls-policy's test support.
fn support_script(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tls-policy/tests/support")
        .join(name)
}

#[test]
fn mail_that_may_go_only_over_bsi_tls_waits_for_a_conforming_next_hop() {
    let demo = demo();
    let d = demo.path();
    // secure.example's servers meet the profile, so the policy (R3) sends
    // mail with attachments there only over TLS meeting bsi-tr-03108.
    let mut config = std::fs::read_to_string(d.join("mailgate.toml")).unwrap();
    config.push_str("\n[transport.domains.\"secure.example\"]\nmeets_profile = true\n");
    std::fs::write(d.join("mailgate.toml"), config).unwrap();
    std::fs::write(d.join("root.pem"), testkit::pki().root().certificate_pem()).unwrap();
    let mail = "From: alice@behoerde.example\r\nTo: erik@secure.example\r\nSubject: Angebot\r\n\
         Message-ID: <tls@crash.test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain\r\n\r\nAnbei das Angebot.\r\n--b\r\n\
         Content-Type: application/pdf; name=\"angebot.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         JVBERi0xLjQK\r\n--b--\r\n";
    let spool = tempfile::tempdir().unwrap();
    let port = free_port();

    // First the next hop speaks no TLS at all: the mail must wait.
    let plain = Sink::start();
    let log_path = spool.path().join("relay.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let reports = spool.path().join("tls-reports");
    let reports_arg = reports.to_str().unwrap();
    let mut relay = common::start_relay(
        d,
        spool.path(),
        port,
        plain.port,
        &[
            "--tls-reports",
            reports_arg,
            "--next-hop-name",
            "mx.secure.example",
        ],
        Stdio::from(log),
    );
    let reply = send(
        port,
        "alice@behoerde.example",
        &["erik@secure.example"],
        mail.as_bytes(),
    )
    .unwrap();
    assert!(reply.starts_with("250"), "{reply}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&log_path)
        .unwrap()
        .contains("delivery deferred")
    {
        assert!(
            Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log_path).unwrap()
        );
        thread::sleep(Duration::from_millis(100));
    }
    thread::sleep(Duration::from_secs(2));
    assert_eq!(
        plain.count(),
        0,
        "nothing went over a connection without TLS"
    );
    relay.kill().unwrap();
    relay.wait().unwrap();

    // Then a next hop with STARTTLS (OpenSSL) and a certificate for its
    // name from a trusted CA: the waiting mail goes out over it.
    let store = tempfile::tempdir().unwrap();
    let next_hop = tls_next_hop(d, store.path());
    let root = d.join("root.pem");
    let mut relay = common::start_relay(
        d,
        spool.path(),
        port,
        next_hop.port(),
        &[
            "--next-hop-name",
            "mx.secure.example",
            "--tls-trust",
            root.to_str().unwrap(),
            "--tls-reports",
            reports_arg,
        ],
        Stdio::null(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let delivered = loop {
        if let Some(entry) = std::fs::read_dir(store.path())
            .unwrap()
            .flatten()
            .find(|e| e.path().extension().is_some_and(|x| x == "eml"))
        {
            break std::fs::read_to_string(entry.path()).unwrap();
        }
        assert!(Instant::now() < deadline, "not delivered over TLS");
        thread::sleep(Duration::from_millis(100));
    };
    assert!(
        delivered.contains("Message-ID: <tls@crash.test>"),
        "{delivered}"
    );
    assert!(delivered.contains("JVBERi0xLjQK"), "{delivered}");
    let _ = relay.kill();
    let _ = relay.wait();
    assert_eq!(plain.count(), 0);

    // Both runs counted in today's RFC 8460 report for secure.example.
    let day = std::fs::read_dir(&reports)
        .unwrap()
        .flatten()
        .find(|e| e.path().is_dir())
        .unwrap()
        .path();
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(day.join("secure.example.json")).unwrap()).unwrap();
    let policy = &report["policies"][0];
    assert_eq!(
        policy["summary"]["total-successful-session-count"], 1,
        "{report}"
    );
    assert!(
        policy["summary"]["total-failure-session-count"]
            .as_u64()
            .unwrap()
            >= 1,
        "{report}"
    );
    assert_eq!(
        policy["failure-details"][0]["result-type"], "starttls-not-supported",
        "{report}"
    );
    assert_eq!(
        policy["failure-details"][0]["receiving-mx-hostname"],
        "mx.secure.example"
    );
}

#[test]
fn smtp_clients_can_start_tls_and_commands_injected_before_the_handshake_are_refused() {
    let demo = demo();
    let d = demo.path();
    let identity = testkit::pki().tls_server("relay.behoerde.example", testkit::KeyKind::P256);
    std::fs::write(
        d.join("relay.pem"),
        identity.certificate_pem() + &identity.chain_pem(),
    )
    .unwrap();
    std::fs::write(d.join("relay.key"), identity.private_key_pem()).unwrap();
    std::fs::write(d.join("root.pem"), testkit::pki().root().certificate_pem()).unwrap();
    let spool = tempfile::tempdir().unwrap();
    let sink = Sink::start();
    let port = free_port();
    let mut relay = common::start_relay(
        d,
        spool.path(),
        port,
        sink.port,
        &[
            "--tls-cert",
            d.join("relay.pem").to_str().unwrap(),
            "--tls-key",
            d.join("relay.key").to_str().unwrap(),
        ],
        Stdio::null(),
    );

    // OpenSSL as the client: STARTTLS, certificate verified against the
    // test CA by name, then a whole transaction inside TLS.
    let connect = format!("127.0.0.1:{port}");
    let session = common::smtp::paced_s_client(
        d,
        &[
            "-connect", &connect, "-servername",
            "relay.behoerde.example", "-verify_hostname", "relay.behoerde.example", "-CAfile",
            "root.pem", "-verify_return_error", "-crlf", "-quiet",
        ],
        b"EHLO client.test\nMAIL FROM:<alice@behoerde.example>\nRCPT TO:<frank@behoerde.example>\nDATA\n\
          From: alice@behoerde.example\nSubject: over TLS\nMessage-ID: <1@crash.test>\n\nvertraulich\n.\nQUIT\n",
    );
    let session = String::from_utf8_lossy(&session);
    assert!(session.contains("250 2.0.0 queued as "), "{session}");
    assert!(
        !session.contains("250-STARTTLS"),
        "no second STARTTLS inside TLS: {session}"
    );
    let delivered = sink.wait_for("frank@behoerde.example");
    assert!(String::from_utf8_lossy(&delivered.data).contains("Subject: over TLS"));

    // A command sent in clear right behind STARTTLS (what a man in the
    // middle would inject) is never executed: the relay hangs up.
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    writer.write_all(b"EHLO client.test\r\n").unwrap();
    let mut ehlo = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        ehlo.push_str(&line);
        if line.as_bytes().get(3) == Some(&b' ') {
            break;
        }
    }
    assert!(ehlo.contains("250-STARTTLS"), "{ehlo}");
    writer
        .write_all(b"STARTTLS\r\nMAIL FROM:<mallory@evil.example>\r\n")
        .unwrap();
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("220"), "{line}");
    let mut rest = String::new();
    let _ = reader.read_to_string(&mut rest);
    assert!(
        !rest.contains("250"),
        "the injected command was answered: {rest}"
    );
    let _ = relay.kill();
    let _ = relay.wait();
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_for_log(path: &Path, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(path)
        .unwrap_or_default()
        .contains(text)
    {
        assert!(
            Instant::now() < deadline,
            "no {text:?} in {}",
            std::fs::read_to_string(path).unwrap_or_default()
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sighup_reloads_the_policy_and_sigterm_stops_cleanly() {
    let demo = demo();
    let d = demo.path();
    let spool = tempfile::tempdir().unwrap();
    let sink = Sink::start();
    let port = free_port();
    let log_path = spool.path().join("relay.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let mut relay = common::start_relay(d, spool.path(), port, sink.port, &[], Stdio::from(log));
    let to_erin = |n: u64| {
        let reply = send(
            port,
            "alice@behoerde.example",
            &["erin@geheim.example"],
            &text_mail(n, "erin@geheim.example", "Termin", "Treffen am Montag."),
        )
        .unwrap();
        assert!(reply.starts_with("250"), "{reply}");
    };
    let erin_got_mail = || {
        sink.mail
            .lock()
            .unwrap()
            .iter()
            .any(|m| m.recipients.iter().any(|r| r == "erin@geheim.example"))
    };

    // The baseline policy blocks unencrypted mail to geheim.example.
    to_erin(1);
    sink.wait_for("alice@behoerde.example");
    assert!(!erin_got_mail());

    // An invalid policy is refused on SIGHUP; the old one stays.
    let policy_path = d.join("policy.toml");
    let policy = std::fs::read_to_string(&policy_path).unwrap();
    std::fs::write(
        &policy_path,
        "[[rules]]\nid = \"broken\"\nthen = { frobnicate = true }\n",
    )
    .unwrap();
    signal(&relay, "HUP");
    wait_for_log(&log_path, "policy not reloaded, the old one stays");

    // A valid change applies to the next mail: password fallback for
    // geheim.example instead of blocking.
    std::fs::write(
        &policy_path,
        policy.replace("fallback = \"block\"", "fallback = \"password-pdf\""),
    )
    .unwrap();
    signal(&relay, "HUP");
    wait_for_log(&log_path, "policy reloaded");
    to_erin(2);
    let to_erin = sink.wait_for("erin@geheim.example");
    assert!(!String::from_utf8_lossy(&to_erin.data).contains("Treffen am Montag"));

    // SIGTERM: stop accepting, finish, exit 0.
    signal(&relay, "TERM");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = relay.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the relay did not stop");
        thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    wait_for_log(&log_path, "stopped");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "no longer listening"
    );
}

/// An HTTPS server (OpenSSL) serving an MTA-STS policy with a testkit
/// certificate for `name`.
fn mta_sts_server(dir: &Path, name: &str, policy: &str) -> PortServer {
    testkit::pki()
        .tls_server(name, testkit::KeyKind::P256)
        .write_server_files(dir, "sts")
        .unwrap();
    std::fs::write(dir.join("mta-sts.txt"), policy).unwrap();
    PortServer::spawn(
        Command::new("python3")
            .arg(support_script("https_server.py"))
            .args([
                "--cert",
                "sts.pem",
                "--key",
                "sts.key",
                "--body",
                "mta-sts.txt",
            ])
            .current_dir(dir),
    )
}

/// The mails an OpenSSL next hop kept (it keeps only mail sent after
/// STARTTLS).
fn kept_over_tls(store: &Path) -> Vec<String> {
    std::fs::read_dir(store)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect()
}

/// Routing by MX from a DNSSEC-signed zone served by NSD, one mail to six
/// domains:
///
/// | domain         | DNS                                         | expected                                  |
/// |----------------|---------------------------------------------|-------------------------------------------|
/// | `tls.mx.test`  | MX 10 dead (nothing listens), MX 20 mx1 + TLSA 3 0 1 matching | skips dead, DANE-verified TLS |
/// | `opp.mx.test`  | MX 10 mx3, no TLSA                          | STARTTLS with an untrusted certificate    |
/// | `plain.mx.test`| MX 10 mx2, a server without STARTTLS        | in clear (nothing demands TLS)            |
/// | `bad.mx.test`  | MX 10 mx4 + TLSA that matches nothing       | never sent, stays queued                  |
/// | `null.mx.test` | MX 0 . (RFC 7505)                           | bounced, 5.1.10                           |
/// | `gone.mx.test` | NXDOMAIN (validated)                        | bounced, 5.1.2                            |
/// | `sts.mx.test`  | MX 10 mx2, MTA-STS enforce listing mx2      | never in clear (mx2 has no STARTTLS)      |
#[test]
#[ignore = "needs nsd and ldnsutils"]
fn mail_follows_the_mx_records_with_dane_where_dnssec_publishes_tlsa() {
    let demo = demo();
    let d = demo.path();
    let store = tempfile::tempdir().unwrap();
    // The OpenSSL server on 127.0.0.1:P serves mx1, mx3 and mx4; the plain
    // sink on 127.0.0.2:P serves mx2 and, by a static route, the
    // organisation's own domain (where the bounces go).
    let tls = tls_next_hop_as(d, store.path(), "mx1.mx.test");
    let port = tls.port();
    let plain = Sink::start_on(&format!("127.0.0.2:{port}"));
    run(
        "openssl",
        &["x509", "-in", "mx.pem", "-outform", "DER", "-out", "mx.der"],
        b"",
        d,
    );
    let digest =
        String::from_utf8(run("openssl", &["dgst", "-sha256", "-r", "mx.der"], b"", d)).unwrap();
    let certificate_sha256 = digest.split_whitespace().next().unwrap().to_owned();
    let records = format!(
        "tls IN MX 10 dead.mx.test.\n\
         tls IN MX 20 mx1.mx.test.\n\
         dead IN A 127.0.0.3\n\
         mx1 IN A 127.0.0.1\n\
         _{port}._tcp.mx1 IN TLSA 3 0 1 {certificate_sha256}\n\
         opp IN MX 10 mx3.mx.test.\n\
         mx3 IN A 127.0.0.1\n\
         plain IN MX 10 mx2.mx.test.\n\
         mx2 IN A 127.0.0.2\n\
         bad IN MX 10 mx4.mx.test.\n\
         mx4 IN A 127.0.0.1\n\
         _{port}._tcp.mx4 IN TLSA 3 0 1 {}\n\
         null IN MX 0 .\n\
         _smtp._tls.tls IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@behoerde.example\"\n\
         sts IN MX 10 mx2.mx.test.\n\
         _mta-sts.sts IN TXT \"v=STSv1; id=20261203\"\n\
         mta-sts.sts IN A 127.0.0.1\n",
        "00".repeat(32)
    );
    // sts.mx.test enforces MTA-STS with mx2 (the sink without STARTTLS) as
    // its only MX host: mail there must wait, never go in clear.
    let sts_policy = mta_sts_server(
        d,
        "mta-sts.sts.mx.test",
        "version: STSv1\r\nmode: enforce\r\nmx: mx2.mx.test\r\nmax_age: 86400\r\n",
    );
    std::fs::write(d.join("root.pem"), testkit::pki().root().certificate_pem()).unwrap();
    let nsd = testkit::nsd::Nsd::start(
        testkit::nsd::Zone {
            origin: "mx.test",
            records: &records,
        },
        &[],
        |signed| signed,
    );
    std::fs::write(d.join("anchor.key"), &nsd.anchor).unwrap();

    let spool = tempfile::tempdir().unwrap();
    // Yesterday's TLS reports, as an earlier run left them: tls.mx.test
    // asks for reports by mail, opp.mx.test publishes no TLSRPT record.
    let reports = spool.path().join("tls-reports");
    let yesterday = String::from_utf8(run("date", &["-u", "-d", "yesterday", "+%F"], b"", d))
        .unwrap()
        .trim()
        .to_owned();
    std::fs::create_dir_all(reports.join(&yesterday)).unwrap();
    let old_report =
        format!("{{\"organization-name\":\"behoerde.example\",\"report-id\":\"{yesterday}-tls\"}}");
    for domain in ["tls.mx.test", "opp.mx.test"] {
        std::fs::write(
            reports.join(&yesterday).join(format!("{domain}.json")),
            &old_report,
        )
        .unwrap();
    }
    let listen = free_port();
    let log_path = spool.path().join("relay.log");
    let mut relay = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(["relay", "--config"])
        .arg(d.join("mailgate.toml"))
        .args(["--listen", &format!("127.0.0.1:{listen}")])
        .arg("--spool")
        .arg(spool.path().join("queue"))
        .args(["--hostname", "relay.behoerde.example", "--retry-first", "1"])
        .args(["--mx-port", &port.to_string()])
        .args(["--dns-server", &nsd.address.to_string()])
        .arg("--dns-trust-anchor")
        .arg(d.join("anchor.key"))
        .args(["--route", &format!("behoerde.example=127.0.0.2:{port}")])
        .args([
            "--mta-sts-port",
            &sts_policy.port().to_string(),
            "--tls-trust",
        ])
        .arg(d.join("root.pem"))
        .args([
            "--log-format",
            "json",
            "--send-tls-reports",
            "--tls-reports",
        ])
        .arg(&reports)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log_path).unwrap()))
        .spawn()
        .unwrap();
    wait_until_listening(listen, "mailgate relay");
    let log = || std::fs::read_to_string(&log_path).unwrap();

    let to = [
        "tina@tls.mx.test",
        "otto@opp.mx.test",
        "paul@plain.mx.test",
        "bert@bad.mx.test",
        "nina@null.mx.test",
        "gina@gone.mx.test",
        "sven@sts.mx.test",
    ];
    let reply = send(
        listen,
        "alice@behoerde.example",
        &to,
        &text_mail(
            1,
            "Verteiler <verteiler@behoerde.example>",
            "Rundschreiben",
            "Guten Tag.",
        ),
    )
    .unwrap();
    assert!(reply.starts_with("250"), "{reply}");

    // In clear to the server without STARTTLS.
    let clear = plain.wait_for("paul@plain.mx.test");
    assert_eq!(clear.recipients, ["paul@plain.mx.test"]);
    assert!(String::from_utf8_lossy(&clear.data).contains("Rundschreiben"));

    // Over TLS for tls.mx.test (DANE) and opp.mx.test (opportunistic): the
    // OpenSSL server keeps only mail sent after STARTTLS, one per domain.
    let deadline = Instant::now() + Duration::from_secs(60);
    while kept_over_tls(store.path()).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "not delivered over TLS: {}",
            log()
        );
        thread::sleep(Duration::from_millis(100));
    }

    // The bounce: one report for both domains that take no mail.
    let bounce = plain.wait_for("alice@behoerde.example");
    let bounce = String::from_utf8_lossy(&bounce.data).into_owned();
    assert!(
        bounce.contains("Final-Recipient: rfc822; nina@null.mx.test"),
        "{bounce}"
    );
    assert!(bounce.contains("Status: 5.1.10"), "{bounce}");
    assert!(
        bounce.contains("Final-Recipient: rfc822; gina@gone.mx.test"),
        "{bounce}"
    );
    assert!(bounce.contains("Status: 5.1.2"), "{bounce}");

    // bad.mx.test: the TLSA record matches nothing, so nothing was sent
    // there, in clear or otherwise; the recipient waits in the queue. The
    // log says so in JSON, one event per line.
    let events = || -> Vec<serde_json::Value> {
        log()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let deferred = loop {
        if let Some(event) = events()
            .into_iter()
            .find(|e| e["message"] == "delivery deferred")
        {
            break event;
        }
        assert!(Instant::now() < deadline, "{}", log());
        thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(
        deferred["recipients"], "bert@bad.mx.test,sven@sts.mx.test",
        "{deferred}"
    );
    assert_eq!(deferred["level"], "INFO", "{deferred}");
    let reason = deferred["reason"].as_str().unwrap();
    assert!(
        reason.contains("bert@bad.mx.test: ") && reason.contains("dane.tlsa"),
        "the reason names DANE: {deferred}"
    );
    assert!(
        reason.contains("sven@sts.mx.test: ") && reason.contains("profile 'mta-sts'"),
        "the reason names MTA-STS: {deferred}"
    );
    thread::sleep(Duration::from_secs(3));
    let text = log();
    assert_eq!(kept_over_tls(store.path()).len(), 2, "{text}");
    assert!(
        plain.mail.lock().unwrap().iter().all(|m| !m
            .recipients
            .iter()
            .any(|r| r.ends_with("bad.mx.test") || r.ends_with("sts.mx.test"))),
        "nothing to bad.mx.test or sts.mx.test in clear"
    );
    let waiting = std::fs::read_dir(spool.path().join("queue").join("outgoing"))
        .unwrap()
        .flatten()
        .count();
    assert!(waiting >= 1, "bert's delivery stays queued");
    // The dead first exchanger of tls.mx.test was skipped, not fatal; tina
    // and otto got theirs over TLS (the two kept), never in clear.
    assert!(
        events().iter().any(|e| e["message"] == "delivered"
            && e["recipients"]
                .as_str()
                .unwrap()
                .contains("tina@tls.mx.test")),
        "{text}"
    );
    assert!(plain.mail.lock().unwrap().iter().all(|m| {
        !m.recipients
            .iter()
            .any(|r| r.ends_with("tls.mx.test") || r.ends_with("opp.mx.test"))
    }));

    // Yesterday's report for tls.mx.test went to the rua address of its
    // _smtp._tls record as RFC 8460 says: multipart/report, gzip that gzip
    // itself unpacks to the report as written.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !events()
        .iter()
        .any(|e| e["message"] == "TLS report done" && e["domain"] == "tls.mx.test")
    {
        assert!(Instant::now() < deadline, "{}", log());
        thread::sleep(Duration::from_millis(100));
    }
    let report_mail = plain.wait_for("tlsrpt@behoerde.example");
    let report_mail = String::from_utf8(report_mail.data).unwrap();
    assert!(
        report_mail.contains("Content-Type: multipart/report; report-type=\"tlsrpt\""),
        "{report_mail}"
    );
    assert!(report_mail.contains("TLS-Report-Domain: tls.mx.test\r\n"));
    assert!(
        report_mail.contains("Subject: Report Domain: tls.mx.test Submitter: behoerde.example")
    );
    let attachment = report_mail
        .split("Content-Type: application/tlsrpt+gzip\r\n")
        .nth(1)
        .unwrap();
    assert!(attachment.contains("filename=\"behoerde.example!tls.mx.test!"));
    let base64: String = attachment
        .split("\r\n\r\n")
        .nth(1)
        .unwrap()
        .split("--")
        .next()
        .unwrap()
        .to_owned();
    std::fs::write(d.join("report.b64"), base64).unwrap();
    let unpacked = run("sh", &["-c", "base64 -d -i report.b64 | gzip -dc"], b"", d);
    assert_eq!(String::from_utf8(unpacked).unwrap(), old_report);
    let not_wanted =
        std::fs::read_to_string(reports.join(&yesterday).join("opp.mx.test.json.sent")).unwrap();
    assert!(
        not_wanted.contains("publishes no TLSRPT record"),
        "{not_wanted}"
    );
    // Today's sessions are counted for today's reports: the DANE session
    // to tls.mx.test succeeded, the one to bad.mx.test failed.
    let today = std::fs::read_dir(&reports)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.len() == 10 && *name != yesterday)
        .max()
        .unwrap();
    let bad: serde_json::Value = serde_json::from_slice(
        &std::fs::read(reports.join(&today).join("bad.mx.test.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        bad["policies"][0]["failure-details"][0]["result-type"], "tlsa-invalid",
        "{bad}"
    );
    relay.kill().unwrap();
    relay.wait().unwrap();
}
