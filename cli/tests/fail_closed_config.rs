//! Fail closed at configuration (issue 16, finding 6): an empty or
//! truncated `policy.toml` is refused by `mailgate policy check` with a
//! position (exit 2) and `mailgate process` delivers nothing with it, so
//! mail to geheim.example never leaves in clear; a store file that exists
//! but is not a store (0 bytes, another schema, a future version) is
//! refused with exit 3 (defer) and left untouched.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::demo;

use std::path::Path;
use std::process::Output;

use common::{mailgate_in, ok};

const PLAIN: &[u8] = b"From: alice@behoerde.example\r\nTo: erin@geheim.example\r\n\
    Subject: Akte\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nAktenzeichen 4711\r\n";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn process_to_erin(d: &Path, out: &str) -> Output {
    mailgate_in(
        d,
        &[
            "process",
            "--config",
            "mailgate.toml",
            "--direction",
            "outbound",
            "--from",
            "alice@behoerde.example",
            "--to",
            "erin@geheim.example",
            "--out-dir",
            out,
        ],
        PLAIN,
        &[],
    )
}

/// Every file `process` wrote under `out`, with its contents.
fn written(d: &Path, out: &str) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(d.join(out)) else {
        return Vec::new();
    };
    entries
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// `policy check` refuses `policy` with exit 2 and at least one error with
/// a position; `process` then fails and writes no mail, let alone the clear
/// text for erin@geheim.example.
fn assert_refused(d: &Path, policy: &[u8], label: &str) {
    std::fs::write(d.join("policy.toml"), policy).unwrap();
    let check = mailgate_in(d, &["policy", "check", "policy.toml"], b"", &[]);
    let out = text(&check.stdout);
    assert_eq!(check.status.code(), Some(2), "{label}: {out}");
    assert!(out.contains("error: "), "{label}: {out}");
    assert!(out.contains(" --> policy.toml:"), "{label}: {out}");
    assert!(
        text(&check.stderr).contains("policy.toml: invalid policy"),
        "{label}: {}",
        text(&check.stderr)
    );

    let out_dir = format!("out-{}", label.replace(' ', "-"));
    let processed = process_to_erin(d, &out_dir);
    // The mail in hand waits (exit 3: the MTA defers) until the policy is
    // fixed; it is neither delivered nor bounced.
    assert_eq!(
        processed.status.code(),
        Some(3),
        "{label}: process must defer"
    );
    assert!(
        text(&processed.stderr).contains("invalid policy"),
        "{label}: {}",
        text(&processed.stderr)
    );
    for (name, bytes) in written(d, &out_dir) {
        assert!(
            !text(&bytes).contains("Aktenzeichen 4711"),
            "{label}: {name} carries the mail in clear"
        );
        assert!(!name.ends_with(".eml"), "{label}: {name} was written");
    }
}

#[test]
fn the_complete_demo_policy_rejects_clear_mail_to_geheim() {
    // The control: with its whole policy the gateway refuses erin in clear.
    let dir = demo();
    let d = dir.path();
    let check = mailgate_in(d, &["policy", "check", "policy.toml"], b"", &[]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check.stdout));
    let summary = text(&ok(process_to_erin(d, "whole")));
    assert!(summary.contains("erin@geheim.example: reject"), "{summary}");
    for (name, bytes) in written(d, "whole") {
        assert!(!text(&bytes).contains("Aktenzeichen 4711"), "{name}");
    }
}

#[test]
fn an_empty_policy_is_refused_and_nothing_is_delivered() {
    let dir = demo();
    let d = dir.path();
    assert_refused(d, b"", "empty");
    assert_refused(d, b"\n\n# only a comment\n", "comment only");
    // The position of an empty file's findings is its start.
    let check = mailgate_in(d, &["policy", "check", "policy.toml"], b"", &[]);
    assert!(
        text(&check.stdout).contains(" --> policy.toml:4:1"),
        "{}",
        text(&check.stdout)
    );
}

#[test]
fn the_demo_policy_truncated_anywhere_is_refused_and_nothing_is_delivered() {
    let dir = demo();
    let d = dir.path();
    let policy = std::fs::read(d.join("policy.toml")).unwrap();
    let default_at = text(&policy).rfind("\n[default]").unwrap();
    let mut cuts: Vec<(usize, String)> = [10, 25, 50, 75, 90]
        .iter()
        .map(|percent| (policy.len() * percent / 100, format!("{percent} percent")))
        .collect();
    // At a line boundary just before the default, inside it, and one byte
    // short of the end.
    cuts.push((default_at + 1, "before default".into()));
    cuts.push((
        default_at + "\n[default]\n".len(),
        "default header only".into(),
    ));
    let last_brace = text(&policy).rfind('}').unwrap();
    cuts.push((last_brace, "without the last brace".into()));
    for (cut, label) in cuts {
        assert_refused(d, &policy[..cut], &label);
    }
}

const STORE: &str = "data/store.sqlite";

/// SQLite keeps `PRAGMA user_version` as a big-endian u32 at byte 60 of the
/// file header: written here as an older or newer release would leave it.
fn set_store_version(d: &Path, version: u32) {
    let mut bytes = std::fs::read(d.join(STORE)).unwrap();
    assert!(bytes.starts_with(b"SQLite format 3\0"));
    bytes[60..64].copy_from_slice(&version.to_be_bytes());
    std::fs::write(d.join(STORE), bytes).unwrap();
}

fn certs_list(d: &Path) -> Output {
    mailgate_in(d, &["certs", "list", "--config", "mailgate.toml"], b"", &[])
}

/// `process` and `certs list` both stop with exit 3 (defer) naming the
/// store, and the file is byte for byte what it was.
fn assert_store_refused(d: &Path, expected: &str) {
    let before = std::fs::read(d.join(STORE)).unwrap();
    for (what, output) in [
        ("process", process_to_erin(d, "deferred")),
        ("certs list", certs_list(d)),
    ] {
        let err = text(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{what}: {err}");
        assert!(err.contains("store.sqlite"), "{what}: {err}");
        assert!(err.contains(expected), "{what}: {err}");
        assert_eq!(
            std::fs::read(d.join(STORE)).unwrap(),
            before,
            "{what} changed the store"
        );
    }
    assert!(written(d, "deferred").is_empty());
}

#[test]
fn a_store_truncated_to_0_bytes_defers_and_is_left_untouched() {
    let dir = demo();
    let d = dir.path();
    std::fs::write(d.join(STORE), b"").unwrap();
    assert_store_refused(d, "the file is empty (0 bytes)");
    // Not a database at all: the same.
    std::fs::write(d.join(STORE), vec![0x42; 8192]).unwrap();
    assert_store_refused(d, "not an SQLite database");
}

#[test]
fn a_store_from_a_newer_release_defers() {
    let dir = demo();
    let d = dir.path();
    set_store_version(d, 99);
    assert_store_refused(d, "schema version 99");
}

#[test]
fn an_older_store_is_migrated_and_keeps_its_certificates() {
    let dir = demo();
    let d = dir.path();
    let before = text(&ok(certs_list(d)));
    assert!(!before.trim().is_empty());
    set_store_version(d, 1);
    let after = text(&ok(certs_list(d)));
    assert_eq!(after, before);
    let bytes = std::fs::read(d.join(STORE)).unwrap();
    assert_eq!(
        bytes[60..64],
        2u32.to_be_bytes(),
        "not migrated to version 2"
    );
    // And the gateway works on it: erin still gets nothing in clear.
    let summary = text(&ok(process_to_erin(d, "migrated")));
    assert!(summary.contains("erin@geheim.example: reject"), "{summary}");
}
