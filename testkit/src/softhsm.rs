//! SoftHSM2 tokens for tests of keys held in PKCS#11 tokens (Debian
//! `softhsm2`).
//!
//! SoftHSM reads its configuration (where the tokens are) from the
//! `SOFTHSM2_CONF` variable once, when the module is initialised, and a
//! module is initialised once per process. So each test gets its own token
//! directory and runs its body in a child process of the test binary with
//! `SOFTHSM2_CONF` pointing there (setting the variable in-process would
//! need `unsafe`, and tests would share one module):
//!
//! ```no_run
//! use testkit::softhsm::{self, SoftHsm};
//!
//! #[test]
//! #[ignore = "needs softhsm2"]
//! fn token_signs() {
//!     if !softhsm::in_child() {
//!         let hsm = SoftHsm::new();
//!         let alice = testkit::pki().smime("alice@example.org", testkit::KeyKind::Rsa2048);
//!         hsm.import_key(&alice, "alice", "01");
//!         hsm.run_in_child("token_signs");
//!         return;
//!     }
//!     // Here SOFTHSM2_CONF names the token directory made above: open the
//!     // module softhsm::MODULE, token softhsm::TOKEN, PIN softhsm::PIN.
//! }
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::pki::Identity;

/// Debian's SoftHSM2 module.
pub const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
/// The label of the token [`SoftHsm::new`] initialises.
pub const TOKEN: &str = "mailgate";
/// Its user PIN.
pub const PIN: &str = "2468-1357";
/// Its security officer PIN.
pub const SO_PIN: &str = "1357-2468";

/// Set in the child process [`SoftHsm::run_in_child`] starts.
const CHILD: &str = "MAILGATE_SOFTHSM_CHILD";
/// The variable that holds [`PIN`] in the child process, for code that
/// reads the PIN from the environment.
pub const PIN_ENV: &str = "MAILGATE_SOFTHSM_PIN";

/// Whether this is the child process of [`SoftHsm::run_in_child`], with
/// `SOFTHSM2_CONF` set.
pub fn in_child() -> bool {
    std::env::var_os(CHILD).is_some() && std::env::var_os("SOFTHSM2_CONF").is_some()
}

/// A SoftHSM2 configuration and token directory with one initialised
/// token, [`TOKEN`], removed when dropped.
#[derive(Debug)]
pub struct SoftHsm {
    dir: tempfile::TempDir,
}

impl SoftHsm {
    /// Writes a configuration and initialises the token [`TOKEN`] with
    /// [`PIN`] and [`SO_PIN`].
    #[allow(clippy::expect_used)] // a test helper: the panic is the test failure
    pub fn new() -> SoftHsm {
        let dir = tempfile::tempdir().expect("temporary directory");
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).expect("token directory");
        std::fs::write(
            dir.path().join("softhsm2.conf"),
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
                tokens.display()
            ),
        )
        .expect("write softhsm2.conf");
        let hsm = SoftHsm { dir };
        hsm.util(&[
            "--init-token",
            "--free",
            "--label",
            TOKEN,
            "--pin",
            PIN,
            "--so-pin",
            SO_PIN,
        ]);
        hsm
    }

    /// The configuration file (what `SOFTHSM2_CONF` must name).
    pub fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    /// The directory holding the configuration and the tokens.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Imports `identity`'s private key into the token with `label` and
    /// `id_hex` (`softhsm2-util --import`, PKCS#8 PEM).
    #[allow(clippy::expect_used)] // a test helper: the panic is the test failure
    pub fn import_key(&self, identity: &Identity, label: &str, id_hex: &str) {
        let key = self.dir.path().join(format!("{label}.pk8"));
        std::fs::write(&key, identity.private_key_pem()).expect("write the key");
        let key = key.to_str().expect("UTF-8 temporary path");
        self.util(&[
            "--import", key, "--token", TOKEN, "--label", label, "--id", id_hex, "--pin", PIN,
        ]);
        std::fs::remove_file(key).expect("remove the key file");
    }

    /// Runs `softhsm2-util` with this configuration; panics with its output
    /// if it fails.
    #[allow(clippy::panic)] // a test helper: the panic is the test failure
    pub fn util(&self, args: &[&str]) -> Vec<u8> {
        let output = Command::new("softhsm2-util")
            .args(args)
            .env("SOFTHSM2_CONF", self.conf())
            .output()
            .unwrap_or_else(|e| panic!("cannot run softhsm2-util (apt-get install softhsm2): {e}"));
        assert!(
            output.status.success(),
            "softhsm2-util {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// Runs the ignored test `test` (its full name within the test binary)
    /// again in a child process with `SOFTHSM2_CONF` set to this token
    /// directory and [`PIN_ENV`] to [`PIN`], and fails if the child fails.
    #[allow(clippy::panic, clippy::expect_used)] // a test helper: the panic is the test failure
    pub fn run_in_child(&self, test: &str) {
        let exe = std::env::current_exe().expect("the test binary");
        let output = Command::new(exe)
            .args([
                test,
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("SOFTHSM2_CONF", self.conf())
            .env(CHILD, "1")
            .env(PIN_ENV, PIN)
            .output()
            .unwrap_or_else(|e| panic!("cannot re-run the test binary: {e}"));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "{test} failed in the SoftHSM child:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Default for SoftHsm {
    fn default() -> Self {
        SoftHsm::new()
    }
}
