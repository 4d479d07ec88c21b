#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The spool through its public API, and killed with SIGKILL while it
//! receives: nothing acknowledged is lost, nothing half-written appears.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mailgate_spool::{Delivery, Envelope, Spool, SpoolError};
use proptest::prelude::*;

fn envelope(recipients: &[&str]) -> Envelope {
    Envelope {
        sender: "alice@behoerde.example".into(),
        recipients: recipients.iter().map(|r| (*r).to_owned()).collect(),
        first_received: None,
    }
}

fn files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, Iterator::count)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]
    #[test]
    fn what_is_received_reads_back_exactly(
        sender in "[^\n]{0,40}",
        recipients in prop::collection::vec("[a-z]{1,8}@[a-z]{1,8}\\.example", 1..5),
        message in prop::collection::vec(any::<u8>(), 0..5000),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let envelope = Envelope { sender, recipients, first_received: None };
        let id = spool.receive(&envelope, message.as_slice()).unwrap();
        let (read_envelope, read_message) = spool.read_received(&id).unwrap();
        prop_assert_eq!(read_envelope, envelope);
        prop_assert_eq!(read_message, message);
    }
}

#[test]
fn a_hand_over_replaces_the_message_by_its_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let id = spool
        .receive(
            &envelope(&["bob@partner.example", "erin@geheim.example"]),
            &b"original"[..],
        )
        .unwrap();
    assert_eq!(spool.received().unwrap(), vec![id.clone()]);
    assert!(spool.deliveries().unwrap().is_empty());

    let mut tls = Delivery::new("alice@behoerde.example", vec!["bob@partner.example".into()]);
    tls.require_tls = Some("bsi-tr-03108".into());
    let bounce = Delivery::new("", vec!["alice@behoerde.example".into()]);
    let jobs = spool
        .hand_over(
            &id,
            &[
                (tls.clone(), b"encrypted".as_slice()),
                (bounce, b"dsn".as_slice()),
            ],
        )
        .unwrap();
    assert!(spool.received().unwrap().is_empty());
    assert_eq!(spool.deliveries().unwrap(), jobs);
    assert_eq!(
        spool.read_delivery(&jobs[0]).unwrap(),
        (tls.clone(), b"encrypted".to_vec())
    );

    // A failed attempt is recorded; the message stays as it was.
    let mut later = tls;
    later.attempts = 1;
    later.not_before = 4_000_000_000;
    spool.update(&jobs[0], &later).unwrap();
    assert_eq!(
        spool.read_delivery(&jobs[0]).unwrap(),
        (later, b"encrypted".to_vec())
    );

    spool.delivered(&jobs[0]).unwrap();
    spool.delivered(&jobs[1]).unwrap();
    assert!(spool.deliveries().unwrap().is_empty());
    assert!(matches!(
        spool.delivered(&jobs[0]),
        Err(SpoolError::NotFound(_))
    ));
    assert!(matches!(
        spool.hand_over(&id, &[]),
        Err(SpoolError::NotFound(_))
    ));
}

#[test]
fn an_interrupted_hand_over_stays_invisible_and_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let id = spool
        .receive(&envelope(&["bob@partner.example"]), &b"m"[..])
        .unwrap();
    // What a crash in the middle of a hand-over leaves: deliveries written,
    // the received message still there.
    let stale = dir.path().join("outgoing").join(format!("{id}.7"));
    std::fs::write(
        &stale,
        b"{\"sender\":\"\",\"recipients\":[\"x@y.example\"]}\nstale",
    )
    .unwrap();
    assert!(
        spool.deliveries().unwrap().is_empty(),
        "half a hand-over is not visible"
    );
    let jobs = spool
        .hand_over(
            &id,
            &[(
                Delivery::new("a@b.example", vec!["bob@partner.example".into()]),
                b"new".as_slice(),
            )],
        )
        .unwrap();
    assert_eq!(spool.deliveries().unwrap(), jobs);
    assert!(
        !stale.exists(),
        "the stale delivery of the first attempt is gone"
    );
}

#[test]
fn failed_receives_store_nothing_and_reopening_clears_partial_files() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap().with_max_message_size(10);
    assert!(matches!(
        spool.receive(&envelope(&["b@c.example"]), &[0u8; 11][..]),
        Err(SpoolError::TooBig { limit: 10 })
    ));
    assert!(
        spool
            .receive(&envelope(&["b@c.example"]), &[0u8; 10][..])
            .is_ok()
    );

    /// A client that goes away after a few bytes.
    struct Broken(usize);
    impl Read for Broken {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::new(io::ErrorKind::ConnectionReset, "gone"));
            }
            self.0 -= 1;
            buf[0] = b'x';
            Ok(1)
        }
    }
    assert!(matches!(
        spool.receive(&envelope(&["b@c.example"]), Broken(3)),
        Err(SpoolError::Input(_))
    ));
    assert_eq!(spool.received().unwrap().len(), 1);
    assert_eq!(files(&dir.path().join("tmp")), 0);

    std::fs::write(dir.path().join("tmp").join("leftover"), b"partial").unwrap();
    Spool::open(dir.path()).unwrap();
    assert_eq!(files(&dir.path().join("tmp")), 0);
}

#[test]
fn damaged_files_and_foreign_names_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let id = spool
        .receive(&envelope(&["b@c.example"]), &b"m"[..])
        .unwrap();
    let path = dir.path().join("incoming").join(id.as_str());
    std::fs::write(&path, b"not json\nbody").unwrap();
    assert!(matches!(
        spool.read_received(&id),
        Err(SpoolError::Damaged { .. })
    ));
    std::fs::write(&path, b"no header line at all").unwrap();
    assert!(matches!(
        spool.read_received(&id),
        Err(SpoolError::Damaged { .. })
    ));
    std::fs::write(dir.path().join("incoming").join("README"), b"x").unwrap();
    assert_eq!(spool.received().unwrap(), vec![id]);
}

/// The message the crash child writes as number `n`: sizes vary up to
/// 256 KiB so that kills land in the middle of writes too.
fn crash_message(n: u64) -> Vec<u8> {
    let mut message = format!("Subject: message {n}\r\n\r\n").into_bytes();
    let size = (n * 7919 % 64) * 4096;
    message.extend((0..size).map(|i| b'a' + ((i + n) % 26) as u8));
    message
}

/// Not a test on its own: the process the crash test kills. Receives
/// messages as fast as it can and prints each id once `receive` returned
/// (the moment an SMTP server would answer 250).
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os("MAILGATE_SPOOL_CRASH_DIR") else {
        return;
    };
    let spool = Spool::open(dir.as_ref()).unwrap();
    let mut out = io::stdout().lock();
    for n in 0.. {
        let id = spool
            .receive(
                &envelope(&["bob@partner.example"]),
                crash_message(n).as_slice(),
            )
            .unwrap();
        writeln!(out, "ACK {id} {n}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_while_receiving_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged = Vec::new();
    for round in 0..12u64 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["crash_child", "--exact", "--nocapture", "--test-threads=1"])
            .env("MAILGATE_SPOOL_CRASH_DIR", dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|line| {
                    // libtest may print "test crash_child ... " before the
                    // first line of the child's own output.
                    let mut words = line.get(line.find("ACK ")? + 4..)?.split(' ');
                    Some((words.next()?.to_owned(), words.next()?.parse::<u64>().ok()?))
                })
                .collect::<Vec<_>>()
        });
        let jitter = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64
            % 200;
        std::thread::sleep(Duration::from_millis(100 + jitter + round * 10));
        child.kill().unwrap();
        child.wait().unwrap();
        acknowledged.extend(reader.join().unwrap());
    }
    assert!(
        acknowledged.len() > 12,
        "the child acknowledged too little to prove anything"
    );

    let spool = Spool::open(dir.path()).unwrap();
    let received = spool.received().unwrap();
    for (id, n) in &acknowledged {
        let id = mailgate_spool::MessageId::parse(id).unwrap();
        let (_, message) = spool
            .read_received(&id)
            .unwrap_or_else(|e| panic!("acknowledged message {n} lost: {e}"));
        assert_eq!(message, crash_message(*n), "message {n} damaged");
    }
    // Whatever is in the spool is complete (at most one per round was
    // written but not yet acknowledged when the kill came).
    for id in &received {
        let (envelope, message) = spool.read_received(id).unwrap();
        assert_eq!(envelope.recipients, ["bob@partner.example"]);
        let subject =
            String::from_utf8_lossy(&message[..message.iter().position(|b| *b == b'\r').unwrap()])
                .into_owned();
        let n: u64 = subject.rsplit(' ').next().unwrap().parse().unwrap();
        assert_eq!(message, crash_message(n));
    }
    assert!(
        received.len() <= acknowledged.len() + 12,
        "{} received, {} acknowledged",
        received.len(),
        acknowledged.len()
    );
    assert_eq!(
        files(&dir.path().join("tmp")),
        0,
        "partial writes are cleared on open"
    );
}

#[test]
fn bounces_are_added_and_quarantined_mail_is_held_apart() {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let bounce = Delivery::new("", vec!["alice@behoerde.example".into()]);
    let job = spool.add_delivery(&bounce, b"report").unwrap();
    assert_eq!(spool.deliveries().unwrap(), vec![job.clone()]);
    assert_eq!(
        spool.read_delivery(&job).unwrap(),
        (bounce, b"report".to_vec())
    );

    let id = spool
        .receive(&envelope(&["alice@behoerde.example"]), &b"m"[..])
        .unwrap();
    let held = Delivery::new("info@bank.example", vec!["alice@behoerde.example".into()]);
    let path = spool.hold(&id, 0, &held, &b"suspicious"[..]).unwrap();
    spool.hand_over(&id, &[]).unwrap();
    assert!(std::fs::read(&path).unwrap().ends_with(b"\nsuspicious"));
    assert_eq!(
        spool.deliveries().unwrap(),
        vec![job],
        "held mail is not delivered"
    );
    assert!(spool.received().unwrap().is_empty());
}
