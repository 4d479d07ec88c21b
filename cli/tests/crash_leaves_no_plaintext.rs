//! Issue 17, finding 5: nothing of a mail is readable on disk by others,
//! and `kill -9` leaves no plaintext behind. `mailgate relay --direction
//! inbound` is started under umask 022 with `$TMPDIR` in a directory of
//! this test, receives a large S/MIME mail for alice and is killed with
//! SIGKILL again and again while it decrypts it (the test sees the
//! decryption's temporary files open in `/proc/PID/fd` when it kills).
//! After every kill no file in the spool is readable by group or others and
//! `$TMPDIR` is empty; a last start delivers the mail, decrypted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::smtp::{Sink, free_port, send, wait_until_listening};
use common::{mailgate_in, ok, run};

const MARKER: &str = "Streng vertraulicher Klartext";

/// `mailgate relay` inbound under umask 022 (the usual default, which made
/// the spool world-readable), its temporary files in `tmp`.
fn start_relay(demo: &Path, spool: &Path, tmp: &Path, port: u16, sink: u16) -> Child {
    let child = Command::new("sh")
        .args(["-c", "umask 022; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_mailgate"))
        .args(["relay", "--direction", "inbound", "--config"])
        .arg(demo.join("mailgate.toml"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--spool")
        .arg(spool)
        .args(["--next-hop", &format!("127.0.0.1:{sink}")])
        .args(["--hostname", "mx.behoerde.example", "--retry-first", "1"])
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_listening(port, "mailgate relay");
    child
}

/// Every file and directory below `root`, with its permission bits.
fn walk(root: &Path) -> Vec<(PathBuf, u32)> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Ok(metadata) = std::fs::symlink_metadata(&path) else {
                continue; // removed meanwhile
            };
            if metadata.is_dir() {
                pending.push(path.clone());
            }
            found.push((path, metadata.permissions().mode() & 0o7777));
        }
    }
    found
}

/// Files the process `pid` has open in `dir` (or had: unlinked ones too).
fn open_files_in(pid: u32, dir: &Path) -> usize {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    fds.flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter(|target| target.starts_with(dir))
        .count()
}

/// The invariant of the finding: nothing in the spool for group or others,
/// nothing at all left in `$TMPDIR`.
fn assert_nothing_for_others(spool: &Path, tmp: &Path, when: &str) {
    let mut checked = 0;
    for (path, mode) in walk(spool) {
        assert_eq!(
            mode & 0o077,
            0,
            "{when}: {} is {mode:o}, readable by others",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 4, "{when}: the spool's directories exist");
    let left = walk(tmp);
    assert!(
        left.is_empty(),
        "{when}: temporary files survived in $TMPDIR: {left:?}"
    );
}

/// A mail to alice, S/MIME-encrypted by OpenSSL for her certificate: some
/// 20 MB of text, long enough to decrypt that kills land during it.
fn large_encrypted_mail(demo: &Path) -> Vec<u8> {
    let mut entity = b"Content-Type: text/plain; charset=utf-8\r\n\r\n".to_vec();
    let line = format!("{MARKER}: Kontoauszug, Gutachten, Personalakte.\r\n");
    while entity.len() < 20 * 1024 * 1024 {
        entity.extend_from_slice(line.as_bytes());
    }
    let encrypted = run(
        "openssl",
        &[
            "cms",
            "-encrypt",
            "-aes-256-cbc",
            "-recip",
            "pki/alice.cert.pem",
            "-from",
            "dave@extern.example",
            "-to",
            "alice@behoerde.example",
            "-subject",
            "Akte",
        ],
        &entity,
        demo,
    );
    assert!(!String::from_utf8_lossy(&encrypted).contains(MARKER));
    // OpenSSL writes LF; SMTP carries CRLF.
    let mut mail = Vec::with_capacity(encrypted.len() + encrypted.len() / 64);
    for byte in encrypted {
        if byte == b'\n' && mail.last() != Some(&b'\r') {
            mail.push(b'\r');
        }
        mail.push(byte);
    }
    mail
}

#[test]
fn killed_during_inbound_decryption_the_relay_leaves_nothing_readable() {
    let demo = tempfile::tempdir().unwrap();
    let d = demo.path();
    ok(mailgate_in(d, &["demo", "--dir", ".", "--quiet"], b"", &[]));
    let mail = large_encrypted_mail(d);
    let work = tempfile::tempdir().unwrap();
    let spool = work.path().join("spool");
    let tmp = work.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // Open to everyone, like /tmp: only the files' own modes protect them.
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o777)).unwrap();
    let sink = Sink::start();

    let mut kills_during_decryption = 0;
    let mut sent = 0;
    for round in 0..14u64 {
        let port = free_port();
        let mut relay = start_relay(d, &spool, &tmp, port, sink.port);
        // A mail to work on: the first one, or a new one once the earlier
        // ones went through before a kill.
        let incoming = walk(&spool.join("incoming")).len();
        if incoming == 0 && sink.count() == sent {
            let reply = send(
                port,
                "dave@extern.example",
                &["alice@behoerde.example"],
                &mail,
            );
            assert!(
                reply.as_deref().is_ok_and(|r| r.starts_with("250")),
                "{reply:?}"
            );
            sent += 1;
        }
        let jitter = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64
            % 400;
        // Until the relay has a temporary file open (decryption started),
        // then a random moment within it.
        let deadline = Instant::now() + Duration::from_secs(20);
        while open_files_in(relay.id(), &tmp) == 0 && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(5));
        }
        thread::sleep(Duration::from_millis(jitter + round * 20));
        if open_files_in(relay.id(), &tmp) > 0 {
            kills_during_decryption += 1;
        }
        relay.kill().unwrap(); // SIGKILL
        relay.wait().unwrap();
        assert_nothing_for_others(&spool, &tmp, &format!("after kill {round}"));
    }
    assert!(
        kills_during_decryption >= 5,
        "only {kills_during_decryption} kills landed while a temporary file was open"
    );

    // The next start cleans up and delivers what was acknowledged,
    // decrypted.
    let port = free_port();
    let mut relay = start_relay(d, &spool, &tmp, port, sink.port);
    sink.wait_for_containing("alice@behoerde.example", MARKER);
    let deadline = Instant::now() + Duration::from_secs(60);
    while walk(&spool.join("incoming")).len() + walk(&spool.join("outgoing")).len() > 0 {
        assert!(Instant::now() < deadline, "the spool never emptied");
        thread::sleep(Duration::from_millis(50));
    }
    relay.kill().unwrap();
    relay.wait().unwrap();
    assert_nothing_for_others(&spool, &tmp, "at the end");
}

/// The umask `mailgate` sets for itself: what `mailgate process` writes
/// (the decrypted mail among it) is its user's alone, although it was
/// started under umask 022.
#[test]
fn mailgate_process_writes_decrypted_mail_for_its_user_only() {
    let demo = tempfile::tempdir().unwrap();
    let d = demo.path();
    ok(mailgate_in(d, &["demo", "--dir", ".", "--quiet"], b"", &[]));
    let entity = format!("Content-Type: text/plain\r\n\r\n{MARKER}\r\n");
    let encrypted = run(
        "openssl",
        &[
            "cms",
            "-encrypt",
            "-aes-256-cbc",
            "-recip",
            "pki/alice.cert.pem",
            "-from",
            "dave@extern.example",
            "-to",
            "alice@behoerde.example",
        ],
        entity.as_bytes(),
        d,
    );
    std::fs::write(d.join("in.eml"), encrypted).unwrap();
    let status = Command::new("sh")
        .args(["-c", "umask 022; exec \"$0\" \"$@\" < in.eml"])
        .arg(env!("CARGO_BIN_EXE_mailgate"))
        .args([
            "process",
            "--config",
            "mailgate.toml",
            "--direction",
            "inbound",
        ])
        .args([
            "--from",
            "dave@extern.example",
            "--to",
            "alice@behoerde.example",
        ])
        .args(["--out-dir", "out"])
        .current_dir(d)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let out = d.join("out");
    let mut files = walk(&out);
    files.push((
        out.clone(),
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o7777,
    ));
    let decrypted = std::fs::read_to_string(out.join("message-1.eml")).unwrap();
    assert!(decrypted.contains(MARKER), "{decrypted}");
    for (path, mode) in files {
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, expected, "{}", path.display());
    }
}

/// The milter's Unix socket is the one thing made for another user
/// (Postfix): owner and group may connect, others not, whatever the umask
/// mailgate runs under.
#[test]
fn the_milter_socket_is_for_owner_and_group_only() {
    use std::os::unix::fs::FileTypeExt;
    let demo = tempfile::tempdir().unwrap();
    let d = demo.path();
    ok(mailgate_in(d, &["demo", "--dir", ".", "--quiet"], b"", &[]));
    let socket = d.join("milter.sock");
    let mut milter = Command::new("sh")
        .args(["-c", "umask 000; exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_mailgate"))
        .args(["milter", "--config", "mailgate.toml", "--listen"])
        .arg(format!("unix:{}", socket.display()))
        .current_dir(d)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "the milter never listened");
        thread::sleep(Duration::from_millis(50));
    }
    // The mode is set right after bind(), which already listens.
    thread::sleep(Duration::from_millis(200));
    let metadata = std::fs::symlink_metadata(&socket).unwrap();
    milter.kill().unwrap();
    milter.wait().unwrap();
    assert!(metadata.file_type().is_socket());
    assert_eq!(metadata.permissions().mode() & 0o7777, 0o660);
}
