//! `mailgate policy check`: findings printed like a compiler (file, line,
//! column, the line with a caret, how to fix it), exit 2 on errors, 0 with
//! warnings only.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::mailgate_in;

fn baseline() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies/baseline.toml")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Writes `text` as `name` in a fresh directory and runs `mailgate ARGS
/// name` there.
fn check_text(name: &str, text: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), text).unwrap();
    let mut all = args.to_vec();
    all.push(name);
    mailgate_in(dir.path(), &all, b"", &[])
}

#[test]
fn the_shipped_baseline_policy_is_clean() {
    let path = baseline();
    let output = mailgate_in(
        Path::new(env!("CARGO_MANIFEST_DIR")),
        &["policy", "check", path.to_str().unwrap()],
        b"",
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).ends_with("baseline.toml: ok, no errors or warnings\n"),
        "{}",
        stdout(&output)
    );
    assert!(stderr(&output).is_empty());
}

#[test]
fn an_unknown_key_is_an_error_with_position_caret_and_help() {
    let text = "[[rules]]\nid = \"R1\"\nwhen = { recipent = \"a@b.example\" }\nthen = { deliver = true }\n\n[default]\nthen = { deliver = true }\n";
    let output = check_text("bad.toml", text, &["policy", "check"]);
    assert_eq!(output.status.code(), Some(2));
    let out = stdout(&output);
    assert!(
        out.starts_with(
            "error: unknown key `recipent` in conditions\n --> bad.toml:3:10\n  |\n3 | when = { recipent = \"a@b.example\" }\n  |          ^^^^^^^^\n  = help: did you mean `recipient`?\n"
        ),
        "{out}"
    );
    assert!(out.ends_with("bad.toml: 1 error, 0 warnings\n"), "{out}");
    assert_eq!(
        stderr(&output),
        "mailgate: bad.toml: invalid policy: 1 error\n"
    );
}

#[test]
fn several_errors_are_all_reported_in_file_order() {
    let text = "[policy]\nnmae = \"x\"\n\n[[rules]]\nid = \"R1\"\nwhen = { sender_regex = \"(unclosed\" }\nthen = { deliver = true }\n\n[[rules]]\nwhen = { direction = \"sideways\" }\nthen = { deliver = true }\n";
    let output = check_text("multi.toml", text, &["policy", "check"]);
    assert_eq!(output.status.code(), Some(2));
    let out = stdout(&output);
    let positions: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("--> multi.toml:"))
        .collect();
    assert!(positions.len() >= 4, "{out}");
    assert_eq!(positions[0], "2:1", "{out}");
    assert!(out.contains("did you mean `name`?"), "{out}");
    // Every finding says how to fix it or what is wrong, with a caret line.
    assert_eq!(
        out.matches("--> ").count(),
        out.lines()
            .filter(|l| l.trim_start().starts_with("| ") && l.contains('^'))
            .count(),
        "{out}"
    );
    let lines: Vec<(usize, usize)> = positions
        .iter()
        .map(|p| {
            let (l, c) = p.split_once(':').unwrap();
            (l.parse().unwrap(), c.parse().unwrap())
        })
        .collect();
    let mut sorted = lines.clone();
    sorted.sort_unstable();
    assert_eq!(lines, sorted, "{out}");
}

#[test]
fn toml_syntax_errors_have_a_position() {
    let output = check_text(
        "syntax.toml",
        "[[rules]\nid = \"R1\"\n",
        &["policy", "check"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stdout(&output).contains("--> syntax.toml:1:"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn warnings_only_exit_zero_and_are_printed() {
    let text = "[[rules]]\nid = \"catch-all\"\nthen = { deliver = true }\n\n[[rules]]\nid = \"never\"\nwhen = { direction = \"outbound\" }\nthen = { block = \"x\" }\n\n[default]\nthen = { deliver = true }\n";
    let output = check_text("warn.toml", text, &["policy", "check"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.starts_with("warning: rule `never` is unreachable"),
        "{out}"
    );
    assert!(out.contains(" --> warn.toml:6:"), "{out}");
    assert!(out.ends_with("warn.toml: 0 errors, 1 warning\n"), "{out}");
}

#[test]
fn json_lists_the_findings_with_positions() {
    let text = "[[rules]]\nid = \"R1\"\nwhen = { recipent = \"a@b.example\" }\nthen = { deliver = true }\n\n[default]\nthen = { deliver = true }\n";
    let output = check_text("bad.toml", text, &["--json", "policy", "check"]);
    assert_eq!(output.status.code(), Some(2));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["valid"], false);
    assert_eq!(value["errors"], 1);
    let d = &value["diagnostics"][0];
    assert_eq!(d["severity"], "error");
    assert_eq!(d["file"], "bad.toml");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(3), Some(10))
    );
    assert_eq!(d["help"], "did you mean `recipient`?");
    let error: serde_json::Value = serde_json::from_slice(&output.stderr).unwrap();
    assert_eq!(error["error"]["kind"], "malformed-input");
}

#[test]
fn unreadable_or_non_utf8_policies_are_input_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = mailgate_in(dir.path(), &["policy", "check", "nowhere.toml"], b"", &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).starts_with("mailgate: nowhere.toml: "),
        "{}",
        stderr(&missing)
    );
    std::fs::write(dir.path().join("latin1.toml"), b"id = \"\xe4\"\n").unwrap();
    let latin1 = mailgate_in(dir.path(), &["policy", "check", "latin1.toml"], b"", &[]);
    assert_eq!(latin1.status.code(), Some(2));
    assert_eq!(stderr(&latin1).lines().count(), 1, "{}", stderr(&latin1));
}

#[test]
fn an_unknown_tls_profile_is_an_error_at_its_position() {
    // A misspelt profile would otherwise be judged by whatever the gateway
    // does with a name it does not know.
    let text = "[[rules]]\nid = \"R3\"\nwhen = { recipient_tls = \"bsi-tr-03108\" }\nthen = { require_tls = \"bsi-tr-3108\" }\n\n[default]\nthen = { require_tls = \"opportunistc\" }\n";
    let output = check_text("tls.toml", text, &["policy", "check"]);
    assert_eq!(output.status.code(), Some(2));
    let out = stdout(&output);
    assert!(
        out.contains("error: unknown TLS profile `bsi-tr-3108`\n --> tls.toml:4:24"),
        "{out}"
    );
    assert!(
        out.contains("error: unknown TLS profile `opportunistc`\n --> tls.toml:7:24"),
        "{out}"
    );
    assert!(out.ends_with("tls.toml: 2 errors, 0 warnings\n"), "{out}");
}
