//! `mailgate policy test DIR`: the shipped baseline tests pass (exit 0), a
//! broken expectation fails (exit 1) and says what differs, an invalid
//! policy or case file is exit 2.

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

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// A copy of the shipped baseline policy and its tests in a temporary
/// directory, as `baseline.toml` and `baseline/`.
fn copy_baseline() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        examples().join("baseline.toml"),
        dir.path().join("baseline.toml"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("baseline")).unwrap();
    for entry in std::fs::read_dir(examples().join("baseline")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(
            &path,
            dir.path().join("baseline").join(path.file_name().unwrap()),
        )
        .unwrap();
    }
    dir
}

#[test]
fn the_shipped_baseline_tests_pass_and_cover_every_rule() {
    let output = mailgate_in(&examples(), &["policy", "test", "baseline"], b"", &[]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    let out = stdout(&output);
    assert!(!out.contains("FAILED"), "{out}");
    for rule in 1..=9 {
        let cases = out
            .lines()
            .filter(|l| l.starts_with(&format!("ok     r{rule}-")))
            .count();
        assert!(cases >= 2, "R{rule} has {cases} cases:\n{out}");
    }
    assert!(
        out.trim_end().ends_with("0 failed (baseline.toml)"),
        "{out}"
    );
}

#[test]
fn json_report_lists_every_case() {
    let output = mailgate_in(
        &examples(),
        &["--json", "policy", "test", "baseline"],
        b"",
        &[],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["passed"], true);
    let cases = value["cases"].as_array().unwrap();
    let on_disk = std::fs::read_dir(examples().join("baseline"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "json")
        })
        .count();
    assert_eq!(cases.len(), on_disk);
    assert!(
        cases
            .iter()
            .all(|c| c["passed"] == true && c["failures"] == serde_json::json!([]))
    );
}

#[test]
fn a_broken_expectation_fails_with_exit_1_and_says_what_differs() {
    let dir = copy_baseline();
    let case = dir.path().join("baseline/r6-geheim-no-key-blocked.json");
    let text = std::fs::read_to_string(&case).unwrap();
    let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let address = "gus@geheim.example";
    // The shipped case expects block + notify-sender; claim the fallback.
    assert_eq!(
        value["expect"][address]["actions"],
        serde_json::json!(["block", "notify-sender"])
    );
    value["expect"][address]["actions"] =
        serde_json::json!(["sign", "fallback-password-pdf", "deliver"]);
    std::fs::write(&case, serde_json::to_string_pretty(&value).unwrap()).unwrap();

    let output = mailgate_in(dir.path(), &["policy", "test", "baseline"], b"", &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(out.contains("FAILED r6-geheim-no-key-blocked\n"), "{out}");
    assert!(
        out.contains(&format!("{address}: expected actions [deliver, fallback-password-pdf, sign], got [block, notify-sender] (decided by R6)")),
        "{out}"
    );
    assert!(out.contains("ok     r1-signed-smime\n"), "{out}");
    assert!(
        out.trim_end().ends_with("1 failed (baseline.toml)"),
        "{out}"
    );
}

#[test]
fn a_broken_policy_or_case_file_is_exit_2() {
    let dir = copy_baseline();
    std::fs::write(
        dir.path().join("baseline.toml"),
        "[[rules]]\nid = \"R1\"\nthen = { sgn = \"smime\" }\n",
    )
    .unwrap();
    let output = mailgate_in(dir.path(), &["policy", "test", "baseline"], b"", &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains(" --> baseline.toml:3:10"),
        "{}",
        stderr(&output)
    );

    let dir = copy_baseline();
    std::fs::write(
        dir.path().join("baseline/r1-signed-smime.json"),
        "{\"direction\": \"outbound\"",
    )
    .unwrap();
    let output = mailgate_in(dir.path(), &["policy", "test", "baseline"], b"", &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("r1-signed-smime.json: invalid test case"),
        "{}",
        stderr(&output)
    );

    let empty = tempfile::tempdir().unwrap();
    std::fs::create_dir(empty.path().join("cases")).unwrap();
    std::fs::write(
        empty.path().join("cases.toml"),
        "[[rules]]\nid = \"d\"\nthen = { deliver = true }\n\n[default]\nthen = { deliver = true }\n",
    )
    .unwrap();
    let output = mailgate_in(empty.path(), &["policy", "test", "cases"], b"", &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("no test cases"),
        "{}",
        stderr(&output)
    );

    let output = mailgate_in(empty.path(), &["policy", "test", "missing"], b"", &[]);
    assert_eq!(output.status.code(), Some(2));
}
