//! Running real peers (`openssl`, `gpg`, `gpgsm`) from tests.

use std::path::Path;
use std::process::Command;

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
