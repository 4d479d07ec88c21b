//! The `mailgate` command-line contract: help, version, exit codes, one-line
//! errors, and `smime inspect` on testkit material and on garbage.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

use testkit::{KeyKind, Variant, pki};

fn mailgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

#[test]
fn help_lists_commands_and_exit_codes() {
    let output = mailgate(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let text = stdout(&output);
    for expected in [
        "Usage: mailgate",
        "smime",
        "--json",
        "--quiet",
        "--version",
        "Exit codes",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
}

#[test]
fn version_prints_name_and_version() {
    let output = mailgate(&["--version"]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(
        stdout(&output).trim(),
        format!("mailgate {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn malformed_invocation_is_one_line_and_exit_2() {
    for args in [
        &["--frobnicate"][..],
        &["smime", "inspect"],
        &["smime", "sing"],
        &["nonsense"],
    ] {
        let output = mailgate(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let text = stderr(&output);
        assert_eq!(text.lines().count(), 1, "{args:?}: not one line:\n{text}");
        assert!(text.starts_with("mailgate: "), "{text}");
        assert!(text.contains("mailgate --help"), "{text}");
        assert!(stdout(&output).is_empty());
    }
}

#[test]
fn malformed_invocation_with_json_reports_a_json_error() {
    let output = mailgate(&["--json", "--frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
    let value: serde_json::Value = serde_json::from_str(&stderr(&output)).unwrap();
    assert_eq!(value["error"]["kind"], "usage");
}

#[test]
fn no_arguments_shows_help_and_exits_2() {
    let output = mailgate(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("Usage: mailgate"));
}

#[test]
fn inspect_shows_addresses_usages_and_validity() {
    let dir = tempfile::tempdir().unwrap();
    let good = pki().smime("alice@example.org", KeyKind::Rsa2048);
    let expired = pki().smime_variant("old@example.org", KeyKind::P384, Variant::Expired);
    let bundle = dir.path().join("bundle.pem");
    std::fs::write(
        &bundle,
        format!(
            "comment line\n{}{}",
            good.certificate_pem(),
            expired.certificate_pem()
        ),
    )
    .unwrap();
    let output = mailgate(&["smime", "inspect", bundle.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("certificate 1 of 2") && text.contains("certificate 2 of 2"),
        "{text}"
    );
    assert!(text.contains("alice@example.org"), "{text}");
    assert!(text.contains("RSA-2048"), "{text}");
    assert!(text.contains("EC P-384"), "{text}");
    assert!(text.contains("emailProtection"), "{text}");
    assert!(text.contains("(expired)"), "{text}");
    assert!(text.contains("(valid now)"), "{text}");
}

#[test]
fn inspect_json_reports_each_certificate_and_reads_der_from_stdin() {
    let identity = pki().smime_variant("eve@example.org", KeyKind::P256, Variant::WrongEku);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(["--json", "smime", "inspect", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(identity.certificate_der())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let certificate = &value[0]["certificates"][0];
    assert_eq!(value[0]["file"], "standard input");
    assert_eq!(certificate["addresses"][0], "eve@example.org");
    assert_eq!(certificate["email_protection"], false);
    assert_eq!(certificate["extended_key_usage"][0], "serverAuth");
    assert_eq!(certificate["key"], "EC P-256");
}

#[test]
fn inspect_of_garbage_names_the_file_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let key_pem = pki()
        .smime("k@example.org", KeyKind::P256)
        .private_key_pem();
    let cases: [(&str, &[u8], &str); 4] = [
        ("empty.pem", b"", "no certificate found"),
        ("key.pem", key_pem.as_bytes(), "no certificate found"),
        (
            "truncated.der",
            &pki().root().certificate_der()[..100],
            "certificate 1: not a valid DER",
        ),
        (
            "broken.pem",
            b"-----BEGIN CERTIFICATE-----\n@@@@\n-----END CERTIFICATE-----\n",
            "not valid base64",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let output = mailgate(&["smime", "inspect", path.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{name}");
        let text = stderr(&output);
        assert_eq!(text.lines().count(), 1, "{name}: {text}");
        assert!(
            text.contains(name) && text.contains(expected),
            "{name}: {text}"
        );
        assert!(stdout(&output).is_empty(), "{name}: output despite failure");
    }
}

#[test]
fn inspect_of_a_missing_file_exits_2() {
    let output = mailgate(&["smime", "inspect", "/nonexistent/cert.pem"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("/nonexistent/cert.pem"));
}

#[test]
fn quiet_prints_nothing_on_success() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("root.pem");
    std::fs::write(&path, pki().root().certificate_pem()).unwrap();
    let output = mailgate(&["--quiet", "smime", "inspect", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty() && output.stderr.is_empty());
}
