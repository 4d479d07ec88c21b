//! Running real peers (`openssl`, `gpg`, `gpgsm`) from tests.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// Runs `program` with `args` in `dir` and returns its standard output.
///
/// Panics, with the program's standard error, if it cannot be started or
/// exits unsuccessfully: in a test that is the failure to report.
///
/// ```
/// let version = testkit::run_peer("openssl", &["version"], std::path::Path::new("."));
/// assert!(version.starts_with(b"OpenSSL"));
/// ```
#[allow(clippy::panic)] // a test helper: the panic is the test failure
pub fn run_peer(program: &str, args: &[&str], dir: &Path) -> Vec<u8> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {program} (is it installed?): {error}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A throw-away `gpgsm` home that knows the testkit PKI (root and
/// intermediate imported, the root trusted, CRL checks off), removed when
/// dropped.
///
/// ```
/// let home = testkit::GpgsmHome::new();
/// let listing = home.run(&["--list-keys"]);
/// assert!(String::from_utf8_lossy(&listing).contains("Mailgate Test Root CA"));
/// ```
#[derive(Debug)]
pub struct GpgsmHome {
    dir: tempfile::TempDir,
}

impl GpgsmHome {
    /// Creates the home and imports the testkit CAs.
    #[allow(clippy::expect_used)] // a test helper: the panic is the test failure
    pub fn new() -> GpgsmHome {
        let dir = tempfile::tempdir().expect("temporary directory");
        let home = GpgsmHome { dir };
        let write = |name: &str, contents: String| {
            std::fs::write(home.path().join(name), contents).expect("write to temporary directory");
        };
        write("gpgsm.conf", "disable-crl-checks\n".to_owned());
        write("gpg-agent.conf", "allow-loopback-pinentry\n".to_owned());
        write("root.pem", crate::pki().root().certificate_pem());
        write("ca.pem", crate::pki().intermediate().certificate_pem());
        home.run(&["--import", "root.pem"]);
        home.run(&["--import", "ca.pem"]);
        let listing = home.run(&["--with-colons", "--list-keys", "Mailgate Test Root CA"]);
        let fingerprint = String::from_utf8_lossy(&listing)
            .lines()
            .find(|line| line.starts_with("fpr:"))
            .and_then(|line| line.split(':').nth(9).map(str::to_owned))
            .expect("gpgsm lists the imported root");
        write("trustlist.txt", format!("{fingerprint} S\n"));
        home
    }

    /// The directory (also the working directory of [`GpgsmHome::run`]).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Runs `gpgsm --homedir HOME --batch ARGS...` in the home and returns
    /// its standard output; panics if gpgsm fails.
    pub fn run(&self, args: &[&str]) -> Vec<u8> {
        let home = self.path().to_string_lossy().into_owned();
        let mut all = vec!["--homedir", home.as_str(), "--batch"];
        all.extend_from_slice(args);
        run_peer("gpgsm", &all, self.path())
    }
}

impl GpgsmHome {
    /// Like [`GpgsmHome::run`], answering passphrase questions (PKCS#12
    /// import, signing, decryption) with `passphrase` through the loopback
    /// pinentry.
    #[allow(clippy::panic)] // a test helper: the panic is the test failure
    pub fn run_with_passphrase(&self, passphrase: &str, args: &[&str]) -> Vec<u8> {
        self.try_run_with_passphrase(passphrase, args)
            .unwrap_or_else(|error| panic!("{error}"))
    }

    /// [`GpgsmHome::run_with_passphrase`] that returns gpgsm's failure
    /// instead of panicking.
    #[allow(clippy::expect_used)] // a test helper: the panic is the test failure
    pub fn try_run_with_passphrase(
        &self,
        passphrase: &str,
        args: &[&str],
    ) -> Result<Vec<u8>, String> {
        let home = self.path().to_string_lossy().into_owned();
        let mut child = Command::new("gpgsm")
            .args([
                "--homedir",
                home.as_str(),
                "--batch",
                "--pinentry-mode",
                "loopback",
            ])
            .args(["--passphrase-fd", "0"])
            .args(args)
            .current_dir(self.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run gpgsm (is it installed?)");
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(format!("{passphrase}\n").as_bytes())
                .expect("write the passphrase to gpgsm");
        }
        let output = child.wait_with_output().expect("gpgsm runs");
        if output.status.success() {
            Ok(output.stdout)
        } else {
            Err(format!(
                "gpgsm {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }
}

impl Default for GpgsmHome {
    fn default() -> Self {
        GpgsmHome::new()
    }
}

/// A server a test starts as a child process (python3's OpenSSL servers,
/// say) that prints the port it listens on as the first line of its
/// standard output; killed when dropped.
///
/// ```no_run
/// use std::process::Command;
///
/// let server = testkit::PortServer::spawn(Command::new("python3").args(["server.py"]));
/// println!("listening on {}", server.port());
/// ```
#[derive(Debug)]
pub struct PortServer {
    child: Child,
    port: u16,
}

impl PortServer {
    /// Starts `command` (standard input closed, standard error discarded)
    /// and reads its port.
    #[allow(clippy::expect_used, clippy::panic)] // a test helper: the panic is the test failure
    pub fn spawn(command: &mut Command) -> PortServer {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"));
        let mut line = String::new();
        let stdout = child.stdout.take().expect("standard output is piped");
        let _ = BufReader::new(stdout).read_line(&mut line);
        let Ok(port) = line.trim().parse() else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} printed no port but {line:?}");
        };
        PortServer { child, port }
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops it now (as dropping does).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PortServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs `program` with `args` in `dir`, feeding `stdin`, and returns what it
/// did (status, standard output and error) for the caller to judge.
///
/// The input is written from a thread, so a large input cannot deadlock
/// against a full output pipe; a program that exits before reading all of
/// it is no error here (its status says what happened).
///
/// ```
/// let output = testkit::peer_output("cat", &[], b"hello", std::path::Path::new("."));
/// assert_eq!(output.stdout, b"hello");
/// ```
pub fn peer_output(program: &str, args: &[&str], stdin: &[u8], dir: &Path) -> Output {
    spawn_fed(program, args, stdin, dir).0
}

/// [`peer_output`] for a run that must succeed: its standard output.
///
/// Panics, with the program's standard error, if it exits unsuccessfully
/// or succeeds without having taken all of its input.
///
/// ```
/// let out = testkit::run_peer_with_input("cat", &[], b"hello", std::path::Path::new("."));
/// assert_eq!(out, b"hello");
/// ```
#[allow(clippy::panic)] // a test helper: the panic is the test failure
pub fn run_peer_with_input(program: &str, args: &[&str], stdin: &[u8], dir: &Path) -> Vec<u8> {
    let (output, written) = spawn_fed(program, args, stdin, dir);
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    if let Err(error) = written {
        panic!("{program} {args:?} did not take its input: {error}");
    }
    output.stdout
}

/// Runs the program with its input written from a thread; what it did and
/// whether all the input was written.
#[allow(clippy::expect_used, clippy::panic)] // a test helper: the panic is the test failure
fn spawn_fed(
    program: &str,
    args: &[&str],
    stdin: &[u8],
    dir: &Path,
) -> (Output, std::io::Result<()>) {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run {program} (is it installed?): {error}"));
    let mut input = child.stdin.take().expect("standard input is piped");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&stdin));
    let output = child.wait_with_output().expect("the peer runs");
    let written = writer
        .join()
        .unwrap_or_else(|_| Err(std::io::Error::other("the writer thread panicked")));
    (output, written)
}

/// A path as the `&str` argument a peer's command line takes.
///
/// # Panics
///
/// When the path is not UTF-8 (temporary directories are).
#[allow(clippy::expect_used)] // a test helper: the panic is the test failure
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}
