//! Issue 16, finding 1: other spellings of an address skipped domain rules
//! and sent in clear. Through `mailgate process` with the demo set-up, every
//! spelling of `erin@geheim.example` gets R6's decision (encrypt or block),
//! or is refused as a usage error (exit 2) before any mail is judged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use common::{mailgate_in, ok};
use serde_json::Value;

const MAIL: &[u8] = b"From: alice@behoerde.example\r\nTo: erin@geheim.example\r\n\
Subject: Termin\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n\
Treffen am Montag.\r\n";

/// `mailgate process` to `to`: the exit code, stdout and result.json (if
/// one was written).
fn process(d: &Path, to: &str, out: &str) -> (i32, String, String, Option<Value>) {
    let args = [
        "process",
        "--config",
        "mailgate.toml",
        "--direction",
        "outbound",
        "--from",
        "alice@behoerde.example",
        "--to",
        to,
        "--out-dir",
        out,
    ];
    let output = mailgate_in(d, &args, MAIL, &[]);
    let result = std::fs::read(d.join(out).join("result.json"))
        .ok()
        .map(|bytes| serde_json::from_slice(&bytes).unwrap());
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
        result,
    )
}

/// Nothing the run wrote carries the body in clear.
fn nothing_in_clear(d: &Path, out: &str) {
    let Ok(entries) = std::fs::read_dir(d.join(out)) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "eml") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            assert!(
                !text.contains("Treffen am Montag") || text.starts_with("From: Mail gateway"),
                "{} carries the mail in clear",
                path.display()
            );
        }
    }
}

#[test]
fn every_spelling_of_erin_gets_r6_or_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(mailgate_in(d, &["demo", "--dir", "."], b"", &[]));

    let (code, stdout, stderr, result) = process(d, "erin@geheim.example", "out-plain");
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("reject (by R6"), "{stdout}");
    let result = result.unwrap();
    let kinds = |r: &Value| -> Vec<String> {
        r["dispositions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kinds(&result), ["reject"]);
    nothing_in_clear(d, "out-plain");

    for (index, spelling) in [
        "erin@geheim.example.",
        "<erin@geheim.example>",
        "ERIN@Geheim.Example",
        "\"erin\"@geheim.example",
        "<@relay.example:erin@geheim.example.>",
    ]
    .into_iter()
    .enumerate()
    {
        let out = format!("out-same-{index}");
        let (code, stdout, stderr, other) = process(d, spelling, &out);
        assert_eq!(code, 0, "{spelling}: {stderr}");
        assert!(stdout.contains("reject (by R6"), "{spelling}: {stdout}");
        let other = other.unwrap();
        assert_eq!(kinds(&other), ["reject"], "{spelling}");
        // The canonical form (local part case kept for delivery).
        assert_eq!(
            other["dispositions"][0]["recipients"][0]
                .as_str()
                .unwrap()
                .to_ascii_lowercase(),
            "erin@geheim.example",
            "{spelling}"
        );
        nothing_in_clear(d, &out);
    }

    for (index, spelling) in [
        "erin@[geheim.example]",
        "erin%geheim.example@behoerde.example",
        "erin@[192.0.2.1]",
        "geheim.example!erin@behoerde.example",
        "<<erin@geheim.example>>",
        "erin@geheim.example..",
    ]
    .into_iter()
    .enumerate()
    {
        let out = format!("out-refused-{index}");
        let (code, _, stderr, result) = process(d, spelling, &out);
        assert_eq!(code, 2, "{spelling} was not refused: {stderr}");
        assert!(stderr.contains("--to"), "{spelling}: {stderr}");
        assert!(result.is_none(), "{spelling}: a mail was judged");
        nothing_in_clear(d, &out);
    }
}

#[test]
fn a_refused_sender_is_a_usage_error_and_the_null_sender_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(mailgate_in(d, &["demo", "--dir", "."], b"", &[]));
    let output = mailgate_in(
        d,
        &[
            "process",
            "--config",
            "mailgate.toml",
            "--direction",
            "outbound",
            "--from",
            "alice%geheim.example@behoerde.example",
            "--to",
            "bob@partner.example",
            "--out-dir",
            "out",
        ],
        MAIL,
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--from"), "{stderr}");

    let output = mailgate_in(
        d,
        &[
            "process",
            "--config",
            "mailgate.toml",
            "--direction",
            "inbound",
            "--from",
            "<>",
            "--to",
            "alice@behoerde.example.",
            "--out-dir",
            "out-bounce",
        ],
        MAIL,
        &[],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn policy_explain_judges_the_spelling_as_process_does() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    ok(mailgate_in(d, &["demo", "--dir", "."], b"", &[]));
    for spelling in [
        "erin@geheim.example",
        "erin@Geheim.Example.",
        "<\"erin\"@geheim.example>",
    ] {
        let output = mailgate_in(
            d,
            &[
                "policy",
                "explain",
                "policy.toml",
                "--direction",
                "outbound",
                "--from",
                "alice@behoerde.example",
                "--to",
                spelling,
            ],
            MAIL,
            &[],
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.code().is_some_and(|c| c <= 1),
            "{spelling}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("R6"), "{spelling}: {stdout}");
        assert!(
            stdout.contains("erin@geheim.example"),
            "{spelling}: {stdout}"
        );
    }
    let output = mailgate_in(
        d,
        &[
            "policy",
            "explain",
            "policy.toml",
            "--direction",
            "outbound",
            "--from",
            "alice@behoerde.example",
            "--to",
            "erin%geheim.example@behoerde.example",
        ],
        MAIL,
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
}
