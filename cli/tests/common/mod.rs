//! Running the `mailgate` binary from the integration tests.

// Each test file uses a different subset.
#![allow(dead_code, clippy::unwrap_used)]

pub(crate) mod smtp;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// Runs `mailgate ARGS` in `dir` with `env` added, feeding `stdin`.
pub(crate) fn mailgate_in(dir: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // The command may fail and exit before reading its input: not an error
    // of the test.
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().unwrap()
}

/// The standard output of a run that must succeed.
pub(crate) fn ok(output: Output) -> Vec<u8> {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Runs a real program (openssl, gpg, ...) in `dir`, feeding `stdin` from a
/// thread so a large input cannot deadlock against a full output pipe.
pub(crate) fn tool(program: &str, args: &[&str], stdin: &[u8], dir: &Path) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&stdin));
    let output = child.wait_with_output().unwrap();
    let _ = writer.join();
    output
}

/// The standard output of a real program that must succeed.
pub(crate) fn run(program: &str, args: &[&str], stdin: &[u8], dir: &Path) -> Vec<u8> {
    let output = tool(program, args, stdin, dir);
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// What bob reads of a mail the demo gateway encrypted for him and alice
/// signed: decrypted by `openssl cms` with bob's key (demo directory `dir`),
/// then the signature verified against the demo CA.
pub(crate) fn opened_by_bob(mail: &[u8], dir: &Path) -> String {
    let inner = run(
        "openssl",
        &[
            "cms",
            "-decrypt",
            "-recip",
            "pki/bob.cert.pem",
            "-inkey",
            "pki/bob.key.pem",
        ],
        mail,
        dir,
    );
    let content = run(
        "openssl",
        &["cms", "-verify", "-CAfile", "pki/ca.pem"],
        &inner,
        dir,
    );
    String::from_utf8_lossy(&content).into_owned()
}
