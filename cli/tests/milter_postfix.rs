//! `mailgate milter` behind a real Postfix: mail injected with swaks on
//! loopback, delivered by Postfix to an SMTP sink of this test, and opened
//! with `openssl cms` and `gpg`.
//!
//! Needs the Debian packages postfix and swaks and root (Postfix's master
//! starts as root); `.ci/run` installs them and runs this with `--ignored`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::smtp::{Sink, free_port, wait_until_listening};
use common::{mailgate_in, ok, opened_by_bob, run, tool};

/// `mailgate milter` on a free port; its log lines are collected.
struct Milter {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
}

impl Milter {
    fn start(config: &Path, notify_via: u16) -> Milter {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mailgate"))
            .args(["milter", "--config"])
            .arg(config)
            .args(["--listen", "inet:127.0.0.1:0", "--log-format", "json"])
            .args(["--notify-via", &format!("127.0.0.1:{notify_via}")])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        stderr.read_line(&mut first).unwrap();
        let listening: serde_json::Value = serde_json::from_str(&first)
            .unwrap_or_else(|e| panic!("{e}: unexpected first line: {first}"));
        let port = listening["address"]
            .as_str()
            .and_then(|a| a.rsplit(':').next())
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line: {first}"));
        let log = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&log);
        thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Milter { child, port, log }
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Milter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A Postfix instance of its own in a temporary directory: an "inbound"
/// smtpd and an "outbound" one (marked ORIGINATING, as a submission service
/// is), both with the milter, relaying everything to the sink.
struct Postfix {
    dir: tempfile::TempDir,
    inbound: u16,
    outbound: u16,
}

impl Postfix {
    fn start(milter_port: u16, sink_port: u16, reinject: u16) -> Postfix {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for sub in ["conf", "queue", "data"] {
            std::fs::create_dir(root.join(sub)).unwrap();
        }
        // Postfix's daemons run as the postfix user and must reach the queue.
        run("chmod", &["755", "."], b"", root);
        run("chown", &["postfix", "data"], b"", root);
        let (inbound, outbound) = (free_port(), free_port());
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
             relayhost = [127.0.0.1]:{sink_port}\n\
             mynetworks = 127.0.0.0/8\n\
             smtpd_relay_restrictions = permit_mynetworks, reject\n\
             smtpd_milters = inet:127.0.0.1:{milter_port}\n\
             milter_default_action = tempfail\n"
        );
        std::fs::write(root.join("conf/main.cf"), main_cf).unwrap();
        // Debian's master.cf without chroot (the temporary queue has no
        // copies of /etc), with the two listeners instead of port 25.
        let master = std::fs::read_to_string("/etc/postfix/master.cf").unwrap();
        let mut master_cf = String::new();
        for line in master.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if line.starts_with(|c: char| c.is_ascii_alphanumeric()) && fields.len() >= 8 {
                if fields[1] == "inet" {
                    continue;
                }
                let mut fields = fields;
                fields[4] = "n";
                master_cf.push_str(&fields.join("  "));
            } else {
                master_cf.push_str(line);
            }
            master_cf.push('\n');
        }
        master_cf.push_str(&format!(
            "{inbound}  inet  n  -  n  -  -  smtpd\n\
             {outbound}  inet  n  -  n  -  -  smtpd -o milter_macro_daemon_name=ORIGINATING\n\
             {reinject}  inet  n  -  n  -  -  smtpd -o smtpd_milters=\n"
        ));
        std::fs::write(root.join("conf/master.cf"), master_cf).unwrap();
        let postfix = Postfix {
            dir,
            inbound,
            outbound,
        };
        postfix.control(&["start"]);
        wait_until_listening(inbound, "postfix");
        wait_until_listening(outbound, "postfix");
        postfix
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("conf")
    }

    fn control(&self, args: &[&str]) {
        let conf = self.conf();
        let mut all = vec!["-c", conf.to_str().unwrap()];
        all.extend_from_slice(args);
        let output = tool("postfix", &all, b"", self.dir.path());
        assert!(
            output.status.success(),
            "postfix {args:?}: {}{}",
            String::from_utf8_lossy(&output.stderr),
            self.maillog()
        );
    }

    fn maillog(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    /// The queue as `postqueue -j` lists it (one JSON object per mail).
    fn queue(&self) -> Vec<serde_json::Value> {
        let conf = self.conf();
        let out = run(
            "postqueue",
            &["-c", conf.to_str().unwrap(), "-j"],
            b"",
            self.dir.path(),
        );
        String::from_utf8_lossy(&out)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// A queued mail's header and body, by `postcat`.
    fn show(&self, queue_id: &str) -> String {
        let conf = self.conf();
        String::from_utf8_lossy(&run(
            "postcat",
            &["-c", conf.to_str().unwrap(), "-hb", "-q", queue_id],
            b"",
            self.dir.path(),
        ))
        .into_owned()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let conf = self.conf();
        let _ = tool(
            "postfix",
            &["-c", conf.to_str().unwrap(), "abort"],
            b"",
            self.dir.path(),
        );
    }
}

/// Sends `message` with swaks; returns what swaks printed (the server's
/// replies are the lines starting `<-` and, for errors, `<**`).
fn swaks(port: u16, from: &str, to: &[&str], message: &[u8], dir: &Path) -> String {
    let server = format!("127.0.0.1:{port}");
    let to = to.join(",");
    let output = tool(
        "swaks",
        &[
            "--server", &server, "--from", from, "--to", &to, "--data", "-",
        ],
        message,
        dir,
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn text_mail(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: Thu, 03 Dec 2026 09:00:00 +0100\r\n\
         Message-ID: <{}@test.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        subject.len() + body.len()
    )
    .into_bytes()
}

#[test]
#[ignore = "needs postfix, swaks and root"]
fn postfix_with_the_milter_signs_encrypts_decrypts_refuses_and_holds() {
    let demo = tempfile::tempdir().unwrap();
    let d = demo.path();
    ok(mailgate_in(d, &["demo", "--dir", ".", "--quiet"], b"", &[]));
    let sink = Sink::start();
    // Postfix's listener without the milter, where the milter submits the
    // notifications it sends (the password of a password-protected PDF).
    let reinject = free_port();
    let mut milter = Milter::start(&d.join("mailgate.toml"), reinject);
    let postfix = Postfix::start(milter.port, sink.port, reinject);
    let alice = "alice@behoerde.example";

    // Outbound, internal: signed by alice's key; openssl verifies it.
    let reply = swaks(
        postfix.outbound,
        alice,
        &["frank@behoerde.example"],
        &text_mail(
            alice,
            "frank@behoerde.example",
            "Mittagessen",
            "Gehen wir um zwoelf?",
        ),
        d,
    );
    assert!(reply.contains("<-  250 2.0.0 Ok: queued"), "{reply}");
    let signed = sink.wait_for("frank@behoerde.example");
    let content = run(
        "openssl",
        &["cms", "-verify", "-CAfile", "pki/ca.pem"],
        &signed.data,
        d,
    );
    assert!(String::from_utf8_lossy(&content).contains("Gehen wir um zwoelf?"));
    let signed_text = String::from_utf8_lossy(&signed.data);
    assert!(
        signed_text.contains("Received: from "),
        "Postfix's own field kept"
    );
    assert!(signed_text.contains("Subject: Mittagessen\r\n"));

    // Outbound, confidential, to a partner with a certificate: encrypted
    // for bob (and signed inside); nothing readable on the way.
    let reply = swaks(
        postfix.outbound,
        alice,
        &["bob@partner.example"],
        &text_mail(
            alice,
            "bob@partner.example",
            "[vertraulich] Quartalsbericht",
            "Der vertrauliche Quartalsbericht.",
        ),
        d,
    );
    assert!(reply.contains("<-  250 2.0.0 Ok: queued"), "{reply}");
    let encrypted = sink.wait_for("bob@partner.example");
    assert!(!String::from_utf8_lossy(&encrypted.data).contains("vertrauliche"));
    assert!(opened_by_bob(&encrypted.data, d).contains("Der vertrauliche Quartalsbericht."));

    // Outbound where the policy demands encryption and nothing is known:
    // refused with the policy's reason; nothing reaches the sink.
    let reply = swaks(
        postfix.outbound,
        alice,
        &["erin@geheim.example"],
        &text_mail(alice, "erin@geheim.example", "Termin", "Treffen am Montag."),
        d,
    );
    assert!(reply.contains("<** 550 5.7.1 "), "{reply}");

    // Confidential mail to dave, who has no key: the password-protected
    // PDF goes to dave, its password to alice through Postfix's reinjection
    // listener, never together.
    let reply = swaks(
        postfix.outbound,
        alice,
        &["dave@extern.example"],
        &text_mail(
            alice,
            "dave@extern.example",
            "[vertraulich] Personalakte",
            "Die vertrauliche Personalakte.",
        ),
        d,
    );
    assert!(reply.contains("<-  250 2.0.0 Ok: queued"), "{reply}");
    let carrier = String::from_utf8_lossy(&sink.wait_for("dave@extern.example").data).into_owned();
    assert!(!carrier.contains("vertrauliche Personalakte"), "{carrier}");
    assert!(!carrier.contains("Password:"), "{carrier}");
    let notification =
        String::from_utf8_lossy(&sink.wait_for_containing(alice, "Password: ").data).into_owned();
    assert!(notification.contains("Password: "), "{notification}");
    assert!(
        notification.contains("dave@extern.example"),
        "{notification}"
    );
    let before = sink.count();

    // Recipients that need different treatment: the milter cannot split the
    // mail, so it is refused for now with the reason.
    let reply = swaks(
        postfix.outbound,
        alice,
        &["bob@partner.example", "erin@geheim.example"],
        &text_mail(
            alice,
            "bob@partner.example, erin@geheim.example",
            "Angebot",
            "Anbei.",
        ),
        d,
    );
    assert!(
        reply.contains("<** 451 4.7.0 recipients of this mail need different treatment"),
        "{reply}"
    );

    // Inbound, OpenPGP-encrypted and signed by carol with GnuPG: decrypted
    // with alice's key, carol's signature verified, the result recorded.
    let home = tempfile::tempdir().unwrap();
    let homedir = home.path().to_str().unwrap();
    for key in ["pki/carol.sec.asc", "pki/alice.pub.asc"] {
        run(
            "gpg",
            &["--homedir", homedir, "--batch", "--import", key],
            b"",
            d,
        );
    }
    let armored = run(
        "gpg",
        &[
            "--homedir",
            homedir,
            "--batch",
            "--trust-model",
            "always",
            "--armor",
            "--sign",
            "--encrypt",
            "--local-user",
            "carol@extern.example",
            "--recipient",
            alice,
        ],
        b"Der unterschriebene Vertrag.\r\n",
        d,
    );
    let carol = "carol@extern.example";
    let reply = swaks(
        postfix.inbound,
        carol,
        &[alice],
        &text_mail(carol, alice, "Vertrag", &String::from_utf8_lossy(&armored)),
        d,
    );
    assert!(reply.contains("<-  250 2.0.0 Ok: queued"), "{reply}");
    let decrypted = String::from_utf8_lossy(
        &sink
            .wait_for_containing(alice, "X-Mailgate-Decryption")
            .data,
    )
    .into_owned();
    assert!(
        decrypted.contains("Der unterschriebene Vertrag."),
        "{decrypted}"
    );
    assert!(!decrypted.contains("BEGIN PGP MESSAGE"), "{decrypted}");
    assert!(decrypted.contains("X-Mailgate-Decryption: "), "{decrypted}");
    assert!(
        decrypted.contains("X-Mailgate-Signature: valid"),
        "{decrypted}"
    );

    // Inbound, unsigned, claiming to be the bank, with a forged result
    // field: held by Postfix (the policy quarantines it), the forged field
    // removed from the held copy.
    let bank = "info@bank.example";
    let mut forged = b"X-Mailgate-Signature: valid; signer=info@bank.example\r\n".to_vec();
    forged.extend_from_slice(&text_mail(bank, alice, "Ihr Konto", "Bitte bestaetigen."));
    let reply = swaks(postfix.inbound, bank, &[alice], &forged, d);
    assert!(reply.contains("<-  250 2.0.0 Ok: queued"), "{reply}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let held = loop {
        if let Some(held) = postfix
            .queue()
            .into_iter()
            .find(|m| m["queue_name"] == "hold")
        {
            break held;
        }
        assert!(
            Instant::now() < deadline,
            "nothing held: {}",
            postfix.maillog()
        );
        thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(held["sender"], bank);
    let held_text = postfix.show(held["queue_id"].as_str().unwrap());
    assert!(held_text.contains("Bitte bestaetigen."), "{held_text}");
    assert!(
        !held_text.contains("signer=info@bank.example"),
        "{held_text}"
    );

    // Every mail was logged by the milter, one JSON event each, with
    // Postfix's queue id.
    let log = milter.log();
    let decisions: Vec<serde_json::Value> = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .filter(|event: &serde_json::Value| event["message"] == "decided")
        .collect();
    let refused = decisions
        .iter()
        .find(|e| e["to"] == "erin@geheim.example")
        .unwrap_or_else(|| panic!("{log}"));
    assert_eq!(refused["direction"], "outbound", "{refused}");
    assert_eq!(refused["from"], "alice@behoerde.example", "{refused}");
    assert!(
        refused["decision"]
            .as_str()
            .unwrap()
            .starts_with("refused: 550"),
        "{refused}"
    );
    assert!(
        decisions.iter().all(|e| {
            let id = e["queue_id"].as_str().unwrap();
            id.len() >= 6 && id.bytes().all(|b| b.is_ascii_hexdigit())
        }),
        "{log}"
    );
    assert!(
        decisions
            .iter()
            .any(|e| e["direction"] == "inbound" && e["from"] == "carol@extern.example"),
        "{log}"
    );

    // The milter is gone: Postfix must not pass mail on unprotected.
    milter.stop();
    let reply = swaks(
        postfix.outbound,
        alice,
        &["bob@partner.example"],
        &text_mail(
            alice,
            "bob@partner.example",
            "[vertraulich] Nachtrag",
            "Geheim.",
        ),
        d,
    );
    assert!(reply.contains("<** 451 "), "{reply}");
    thread::sleep(Duration::from_secs(1));
    assert_eq!(
        sink.count(),
        before + 1,
        "only carol's mail to alice arrived after the refusals"
    );
}
