//! A throw-away GnuPG (`gpg`) home for tests that talk to the real `gpg`.
//!
//! The S/MIME side of GnuPG (`gpgsm`) has its own home, [`crate::GpgsmHome`].
//!
//! ```no_run
//! use testkit::gnupg::GpgHome;
//!
//! let gpg = GpgHome::new();
//! let fingerprint = gpg.generate("Alice <alice@example.org>", "", false);
//! let listing = gpg.ok(&["--list-keys", &fingerprint], b"");
//! assert!(String::from_utf8_lossy(&listing.stdout).contains("alice@example.org"));
//! ```

use std::io::Write;
use std::path::PathBuf;

use crate::path_str;
use std::process::{Command, Output, Stdio};

/// A GnuPG home in a temporary directory with loopback pinentry allowed,
/// removed (and its agent stopped) when dropped.
///
/// Every `gpg` call runs with `--batch --yes --no-tty`, loopback pinentry
/// and `--trust-model always`, so imported keys are usable without a trust
/// dialogue.
#[derive(Debug)]
pub struct GpgHome {
    /// The home directory; tests also write their files there.
    pub home: tempfile::TempDir,
}

#[allow(clippy::expect_used, clippy::panic)] // a test helper: the panic is the test failure
impl GpgHome {
    /// Creates the home.
    pub fn new() -> GpgHome {
        let home = tempfile::tempdir().expect("temporary directory");
        std::fs::write(
            home.path().join("gpg-agent.conf"),
            "allow-loopback-pinentry\n",
        )
        .expect("write gpg-agent.conf");
        GpgHome { home }
    }

    /// The path of `name` inside the home.
    pub fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    /// Writes `bytes` to `name` inside the home and returns its path.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write into the GnuPG home");
        path
    }

    /// Imports armored (or binary) key material, written first to `name`.
    pub fn import_bytes(&self, name: &str, bytes: &[u8]) {
        let file = self.write(name, bytes);
        self.ok(&["--import", path_str(&file)], b"");
    }

    /// Imports a key made by testkit, its secret key material too when
    /// `secret`.
    #[cfg(feature = "openpgp")]
    pub fn import(&self, key: &crate::PgpKey, secret: bool) {
        let bytes = if secret {
            key.secret_armored()
        } else {
            key.public_armored()
        };
        self.import_bytes(&format!("{}.asc", key.fingerprint_hex()), &bytes);
    }

    /// Runs `gpg` with `args`, feeding `stdin`, and answering passphrase
    /// questions with `passphrase`. The exit status is the caller's to
    /// judge.
    pub fn run_with(&self, passphrase: &str, args: &[&str], stdin: &[u8]) -> Output {
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
        let mut input = child.stdin.take().expect("standard input is piped");
        // From a thread: a large input cannot deadlock against a full
        // output pipe. gpg may exit before reading all of it (a failure
        // the caller sees in the status), so a broken pipe is no error.
        let stdin = stdin.to_vec();
        let writer = std::thread::spawn(move || input.write_all(&stdin));
        let output = child.wait_with_output().expect("gpg runs");
        let _ = writer.join();
        output
    }

    /// [`GpgHome::run_with`] with the empty passphrase.
    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        self.run_with("", args, stdin)
    }

    /// [`GpgHome::run`] that must succeed.
    pub fn ok(&self, args: &[&str], stdin: &[u8]) -> Output {
        let output = self.run(args, stdin);
        assert!(
            output.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// `gpg --status-fd 1 ARGS`: the status lines (and whatever else went
    /// to standard output).
    pub fn status(&self, args: &[&str], stdin: &[u8]) -> String {
        let mut all = vec!["--status-fd", "1"];
        all.extend_from_slice(args);
        String::from_utf8_lossy(&self.run(&all, stdin).stdout).into_owned()
    }

    /// Generates an Ed25519/Cv25519 key in GnuPG protected by `passphrase`
    /// (or a sign-only Ed25519 key with `sign_only`); returns its
    /// fingerprint.
    pub fn generate(&self, user_id: &str, passphrase: &str, sign_only: bool) -> String {
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

    /// An armored detached signature by gpg over `content`, with `options`
    /// (`--digest-algo SHA1`, `--textmode`, ...).
    pub fn detach_sign(&self, content: &[u8], options: &[&str]) -> Vec<u8> {
        let file = self.write("content", content);
        let mut args = options.to_vec();
        args.extend(["--armor", "--detach-sign", "--output", "-", path_str(&file)]);
        self.ok(&args, b"").stdout
    }

    /// `gpg --verify` of a detached `signature` over `content` (given as
    /// signed, e.g. canonical MIME); gpg's status lines. Panics when gpg
    /// does not accept it.
    pub fn verify_detached(&self, content: &[u8], signature: &[u8]) -> String {
        let content = self.write("content", content);
        let signature = self.write("content.asc", signature);
        let output = self.ok(
            &[
                "--status-fd",
                "1",
                "--verify",
                path_str(&signature),
                path_str(&content),
            ],
            b"",
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

impl Default for GpgHome {
    fn default() -> Self {
        GpgHome::new()
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        // The agent gpg started for this home would outlive the test.
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--kill", "all"])
            .output();
    }
}
