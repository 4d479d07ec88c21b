//! Running the `mailgate` binary from the integration tests, and the
//! set-ups several test files share: the demo gateway, `mailgate relay`,
//! inbound `mailgate process`, header fields. The real peers (openssl,
//! gpg, SMTP clients) come from `testkit`.

// Each test file uses a different subset.
#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing
)]

pub(crate) mod smtp;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use testkit::openssl;

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
pub(crate) use testkit::peer_output as tool;
/// The standard output of a real program that must succeed.
pub(crate) use testkit::run_peer_with_input as run;

/// What bob reads of a mail the demo gateway encrypted for him and alice
/// signed: decrypted by `openssl cms` with bob's key (demo directory `dir`),
/// then the signature verified against the demo CA.
pub(crate) fn opened_by_bob(mail: &[u8], dir: &Path) -> String {
    let inner = openssl::cms_decrypt(
        dir,
        Path::new("pki/bob.cert.pem"),
        Path::new("pki/bob.key.pem"),
        &[],
        mail,
    );
    let content = openssl::cms_verify(dir, Path::new("pki/ca.pem"), &inner);
    String::from_utf8_lossy(&content).into_owned()
}

/// A new directory with the demo gateway in it (`mailgate demo --dir .`).
pub(crate) fn demo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(mailgate_in(dir.path(), &["demo", "--dir", "."], b"", &[]));
    dir
}

/// [`demo`] without its report (`--quiet`).
pub(crate) fn quiet_demo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(mailgate_in(
        dir.path(),
        &["demo", "--dir", ".", "--quiet"],
        b"",
        &[],
    ));
    dir
}

/// `mailgate relay` with the demo's configuration in `demo`, listening on
/// `port` of 127.0.0.1 and delivering to `next_hop` there, `extra`
/// arguments appended, its standard error to `log`; returns once it
/// listens.
pub(crate) fn start_relay(
    demo: &Path,
    spool: &Path,
    port: u16,
    next_hop: u16,
    extra: &[&str],
    log: Stdio,
) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(["relay", "--config"])
        .arg(demo.join("mailgate.toml"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--spool")
        .arg(spool)
        .args(["--next-hop", &format!("127.0.0.1:{next_hop}")])
        .args(["--hostname", "relay.behoerde.example", "--retry-first", "1"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    smtp::wait_until_listening(port, "mailgate relay");
    child
}

/// Peak resident memory of a process (`VmHWM`), in KiB; `None` once it is
/// gone.
pub(crate) fn peak_rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .ok()
}

/// `mailgate process` of `message` inbound from `bob@partner.example` to
/// `alice@behoerde.example` with the demo configuration in `dir`, written
/// to `out`; the run must succeed. Its `result.json`.
pub(crate) fn process_inbound(dir: &Path, message: &[u8], out: &str) -> serde_json::Value {
    ok(mailgate_in(
        dir,
        &[
            "process",
            "--config",
            "mailgate.toml",
            "--direction",
            "inbound",
            "--from",
            "bob@partner.example",
            "--to",
            "alice@behoerde.example",
            "--out-dir",
            out,
        ],
        message,
        &[],
    ));
    serde_json::from_slice(&std::fs::read(dir.join(out).join("result.json")).unwrap()).unwrap()
}

/// The message file of the first disposition in `result` (of a run that
/// wrote to `out` in `dir`).
pub(crate) fn first_message(dir: &Path, out: &str, result: &serde_json::Value) -> Vec<u8> {
    let file = result["dispositions"][0]["message"]
        .as_str()
        .expect("a message");
    std::fs::read(dir.join(out).join(file)).unwrap()
}

/// The header fields (name, unfolded value) of a message.
pub(crate) fn fields(message: &[u8]) -> Vec<(String, String)> {
    mail_message::Entity::parse(message)
        .unwrap()
        .fields()
        .iter()
        .map(|f| (String::from_utf8_lossy(f.name()).into_owned(), f.value()))
        .collect()
}

/// The values of the fields called `name` (any case).
pub(crate) fn named<'a>(fields: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}
