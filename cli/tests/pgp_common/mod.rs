//! Shared by the `pgp_*` tests: keys, messages, and a throw-away GnuPG
//! home per test (the real `gpg`, GnuPG 2.2).

// Each test file uses a different subset.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;

use testkit::{PgpKey, PgpSuite, PgpVersion, openpgp_key};

pub(crate) const ALICE: &str = "Alice Example <alice@example.org>";
pub(crate) const BOB: &str = "Bob Example <bob@example.net>";
pub(crate) const CAROL: &str = "Carol <carol@example.com>";

/// The v4 suites GnuPG 2.2 reads.
pub(crate) const SUITES: [PgpSuite; 2] = [PgpSuite::Rsa3072, PgpSuite::Cv25519];

pub(crate) fn key(user_id: &str, suite: PgpSuite) -> Arc<PgpKey> {
    openpgp_key(user_id, suite, PgpVersion::V4)
}

/// The inner entity of [`message`].
pub(crate) const ENTITY: &str = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nDas Gehalt steigt um 3 %. Grüße aus Köln\r\nFrom here on, lines\r\n.\r\nwith dots.\r\n";

/// A plain message from `from` to Bob.
pub(crate) fn message(from: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {BOB}\r\nSubject: Gehalt\r\nDate: Mon, 2 Jun 2025 10:00:00 +0000\r\nMIME-Version: 1.0\r\n{ENTITY}"
    )
    .into_bytes()
}

/// A throw-away GnuPG home with loopback pinentry; its agent is stopped
/// when dropped.
pub(crate) struct Gpg {
    pub(crate) home: tempfile::TempDir,
}

impl Gpg {
    pub(crate) fn new() -> Gpg {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join("gpg-agent.conf"),
            "allow-loopback-pinentry\n",
        )
        .unwrap();
        Gpg { home }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// Imports a key made by testkit (secret or public).
    pub(crate) fn import(&self, key: &PgpKey, secret: bool) {
        let bytes = if secret {
            key.secret_armored()
        } else {
            key.public_armored()
        };
        let file = self.write(&format!("{}.asc", key.fingerprint_hex()), &bytes);
        self.ok(&["--import", s(&file)], b"");
    }

    /// Runs gpg with the passphrase `passphrase` for loopback pinentry.
    pub(crate) fn run_with(&self, passphrase: &str, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args([
                "--batch",
                "--yes",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                passphrase,
                "--trust-model",
                "always",
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gpg is installed (apt-get install gnupg)");
        let _ = child.stdin.take().unwrap().write_all(stdin);
        child.wait_with_output().unwrap()
    }

    pub(crate) fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.run_with("", args, stdin)
    }

    pub(crate) fn ok(&self, args: &[&str], stdin: &[u8]) -> Output {
        let output = self.run(args, stdin);
        assert!(
            output.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Generates an Ed25519/Cv25519 key in GnuPG protected by `passphrase`
    /// (or a sign-only Ed25519 key with `sign_only`); returns its
    /// fingerprint.
    pub(crate) fn generate(&self, user_id: &str, passphrase: &str, sign_only: bool) -> String {
        let (algo, usage) = if sign_only {
            ("ed25519", "sign")
        } else {
            ("future-default", "default")
        };
        let output = self.run_with(
            passphrase,
            &["--quick-gen-key", user_id, algo, usage, "never"],
            b"",
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let listing = self.ok(&["--with-colons", "--list-keys", user_id], b"");
        String::from_utf8_lossy(&listing.stdout)
            .lines()
            .find_map(|line| line.strip_prefix("fpr:::::::::"))
            .map(|rest| rest.trim_end_matches(':').to_owned())
            .expect("gpg lists the new key's fingerprint")
    }

    /// `gpg --status-fd 1 ARGS`, returning the status lines and the output
    /// file's bytes.
    pub(crate) fn status(&self, args: &[&str], stdin: &[u8]) -> String {
        let mut all = vec!["--status-fd", "1"];
        all.extend_from_slice(args);
        String::from_utf8_lossy(&self.run(&all, stdin).stdout).into_owned()
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "all"])
            .output();
    }
}

pub(crate) fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The content type of a message's top-level entity.
pub(crate) fn content_type(message: &[u8]) -> mail_message::ContentType {
    mail_message::Entity::parse(message)
        .unwrap()
        .content_type()
        .unwrap()
}

/// The parts of a top-level multipart (signed or encrypted).
pub(crate) fn parts(message: &[u8]) -> Vec<Vec<u8>> {
    let entity = mail_message::Entity::parse(message).unwrap();
    let content_type = entity.content_type().unwrap();
    let boundary = content_type.parameter("boundary").unwrap().to_owned();
    let multipart = mail_message::Multipart::split(entity.body(), &boundary).unwrap();
    multipart.parts().iter().map(|p| p.to_vec()).collect()
}

/// The body of a MIME part (its header fields removed).
pub(crate) fn body(part: &[u8]) -> Vec<u8> {
    mail_message::Entity::parse(part).unwrap().body().to_vec()
}

/// Wraps an entity and an armored detached signature as RFC 3156
/// multipart/signed, by hand, as another client (Thunderbird/Enigmail,
/// Mutt) does around gpg's output.
pub(crate) fn wrap_signed(from: &str, entity: &[u8], signature: &[u8], micalg: &str) -> Vec<u8> {
    let mut out = format!(
        "From: {from}\r\nTo: {BOB}\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; micalg={micalg};\r\n protocol=\"application/pgp-signature\"; boundary=\"XYZ\"\r\n\r\n--XYZ\r\n"
    )
    .into_bytes();
    out.extend_from_slice(entity);
    out.extend_from_slice(b"\r\n--XYZ\r\nContent-Type: application/pgp-signature\r\n\r\n");
    out.extend_from_slice(signature);
    out.extend_from_slice(b"\r\n--XYZ--\r\n");
    out
}

/// Wraps an armored OpenPGP message as RFC 3156 multipart/encrypted.
pub(crate) fn wrap_encrypted(from: &str, armored: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "From: {from}\r\nTo: {BOB}\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"ENC\"\r\n\r\n--ENC\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--ENC\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(armored);
    out.extend_from_slice(b"\r\n--ENC--\r\n");
    out
}

/// A text/plain message whose body is `body` (an inline block).
pub(crate) fn text_message(from: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "From: {from}\r\nTo: {BOB}\r\nSubject: inline\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// The JSON a `--json` run printed.
pub(crate) fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "not JSON ({error}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Whether `needle` occurs in `haystack`.
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
