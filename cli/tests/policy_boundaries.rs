//! Issue 16, red-team findings on the demo set-up (`mailgate demo`),
//! through `mailgate process`:
//!
//! 1. a domain rule names the organisation: mail to `erin@sub.geheim.example`
//!    left in clear while `erin@geheim.example` was rejected by R6;
//! 2. R7 read only the envelope sender: unsigned mail whose header From is
//!    the bank (or whose envelope is the bank and From someone else) must be
//!    quarantined;
//! 3. the password of a password-protected delivery went to any envelope
//!    sender: an external sender must get neither the password nor the mail
//!    in clear.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::demo;

use std::path::Path;

use common::mailgate_in;
use serde_json::Value;

/// `mailgate process` in the demo directory `d`: exit code, stdout, stderr
/// and result.json.
fn process(d: &Path, direction: &str, from: &str, to: &str, out: &str, mail: &[u8]) -> Run {
    let args = [
        "process",
        "--config",
        "mailgate.toml",
        "--direction",
        direction,
        "--from",
        from,
        "--to",
        to,
        "--out-dir",
        out,
    ];
    let output = mailgate_in(d, &args, mail, &[]);
    let result = std::fs::read(d.join(out).join("result.json"))
        .ok()
        .map(|bytes| serde_json::from_slice(&bytes).unwrap());
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        result,
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    result: Option<Value>,
}

impl Run {
    fn kinds(&self) -> Vec<String> {
        self.result.as_ref().unwrap()["dispositions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["kind"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// Every `.eml` the run wrote, with its name.
fn written(d: &Path, out: &str) -> Vec<(String, String)> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(d.join(out)).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "eml") {
            files.push((
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&path).unwrap_or_default(),
            ));
        }
    }
    files
}

const TERMIN: &[u8] = b"From: alice@behoerde.example\r\nTo: erin@sub.geheim.example\r\n\
Subject: Termin\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n\
Treffen am Montag.\r\n";

#[test]
fn r6_covers_every_subdomain_of_geheim_and_no_look_alike() {
    let dir = demo();
    let d = dir.path();
    for (index, to) in [
        "erin@sub.geheim.example",
        "Erin@A.B.Sub.GEHEIM.example.",
        "<erin@sub.geheim.example>",
    ]
    .into_iter()
    .enumerate()
    {
        let out = format!("out-sub-{index}");
        let run = process(d, "outbound", "alice@behoerde.example", to, &out, TERMIN);
        assert_eq!(run.code, 0, "{to}: {}", run.stderr);
        assert!(run.stdout.contains("reject (by R6"), "{to}: {}", run.stdout);
        assert_eq!(run.kinds(), ["reject"], "{to}");
        for (name, text) in written(d, &out) {
            assert!(
                !text.contains("Treffen am Montag") || text.starts_with("From: Mail gateway"),
                "{to}: {name} carries the mail in clear"
            );
        }
    }
    for (index, to) in [
        "erin@evilgeheim.example",
        "erin@geheim.example.evil.example",
    ]
    .into_iter()
    .enumerate()
    {
        let out = format!("out-other-{index}");
        let run = process(d, "outbound", "alice@behoerde.example", to, &out, TERMIN);
        assert_eq!(run.code, 0, "{to}: {}", run.stderr);
        assert!(!run.stdout.contains("R6"), "{to}: {}", run.stdout);
        assert_eq!(run.kinds(), ["deliver"], "{to}");
    }
}

#[test]
fn r7_judges_the_envelope_sender_and_the_header_from() {
    let dir = demo();
    let d = dir.path();
    let bank_mail = |from: &str| {
        format!(
            "From: {from}\r\nTo: alice@behoerde.example\r\nSubject: Kontoauszug\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nIhr Kontoauszug.\r\n"
        )
        .into_bytes()
    };
    for (index, (envelope, header)) in [
        // The envelope names a mailing service, the reader sees the bank.
        (
            "bounce@newsletter.example",
            "\"Bank\" <Service@Online.Bank.Example.>",
        ),
        // The null sender, the bank in the header.
        ("<>", "service@bank.example"),
        // The envelope is the bank, the header someone else.
        ("service@bank.example", "Kundendienst <info@laden.example>"),
    ]
    .into_iter()
    .enumerate()
    {
        let out = format!("out-r7-{index}");
        let run = process(
            d,
            "inbound",
            envelope,
            "alice@behoerde.example",
            &out,
            &bank_mail(header),
        );
        assert_eq!(run.code, 0, "{envelope} / {header}: {}", run.stderr);
        assert!(
            run.stdout.contains("quarantine (by R7"),
            "{envelope} / {header}: {}",
            run.stdout
        );
        assert_eq!(run.kinds(), ["quarantine"]);
    }
    // Neither names the bank: delivered.
    let run = process(
        d,
        "inbound",
        "info@laden.example",
        "alice@behoerde.example",
        "out-r7-other",
        &bank_mail("\"service@bank.example\" <info@evilbank.example>"),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.kinds(), ["deliver"], "{}", run.stdout);
}

#[test]
fn the_password_goes_only_to_an_internal_sender() {
    let dir = demo();
    let d = dir.path();
    let confidential = b"From: alice@behoerde.example\r\nTo: dave@extern.example\r\n\
Subject: [vertraulich] Personalakte\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n\
Die vertrauliche Personalakte.\r\n";

    // Alice (internal) gets the password, dave a carrier without it.
    let run = process(
        d,
        "outbound",
        "alice@behoerde.example",
        "dave@extern.example",
        "out-alice",
        confidential,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.kinds(), ["deliver"], "{}", run.stdout);
    let files = written(d, "out-alice");
    let notice = files
        .iter()
        .find(|(name, _)| name.starts_with("notification"))
        .map(|(_, text)| text)
        .unwrap();
    assert!(notice.contains("To: <alice@behoerde.example>"), "{notice}");
    assert!(notice.contains("Password: "), "{notice}");

    // An external envelope sender: refused, the postmaster is told, and
    // nothing written holds a password or the text in clear.
    for (index, sender) in [
        "eve@evil.example",
        "eve@behoerde.example.evil.example",
        "eve@evilbehoerde.example",
    ]
    .into_iter()
    .enumerate()
    {
        let out = format!("out-foreign-{index}");
        let run = process(
            d,
            "outbound",
            sender,
            "dave@extern.example",
            &out,
            confidential,
        );
        assert_eq!(run.code, 0, "{sender}: {}", run.stderr);
        assert_eq!(run.kinds(), ["reject"], "{sender}: {}", run.stdout);
        assert!(
            run.stdout.contains("internal_domains"),
            "{sender}: {}",
            run.stdout
        );
        let files = written(d, &out);
        assert!(!files.is_empty());
        for (name, text) in files {
            assert!(!text.contains("Password:"), "{sender}: {name}: {text}");
            assert!(
                !text.contains("vertrauliche Personalakte"),
                "{sender}: {name} carries the text"
            );
            if name.starts_with("notification") {
                assert!(
                    text.contains("To: <postmaster@behoerde.example>"),
                    "{sender}: {text}"
                );
            }
        }
    }
}
