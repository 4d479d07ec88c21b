//! Everything the binary prints goes through here: results to standard
//! output (human or JSON), failures to standard error in one line.

use std::io::Write;
use std::process::ExitCode;

use crate::failure::Failure;

/// How results are printed, from the global `--json` and `--quiet` flags.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    json: bool,
    quiet: bool,
}

impl Output {
    pub(crate) fn new(json: bool, quiet: bool) -> Output {
        Output { json, quiet }
    }

    /// Whether `--quiet` was given (warnings are not printed then).
    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Prints a result: the JSON value with `--json`, else the human text.
    /// `--quiet` prints neither.
    pub(crate) fn result(
        &self,
        human: impl FnOnce() -> String,
        json: impl FnOnce() -> serde_json::Value,
    ) {
        if self.quiet {
            return;
        }
        let text = if self.json {
            // Serialising a `Value` cannot fail.
            serde_json::to_string_pretty(&json()).unwrap_or_default()
        } else {
            human()
        };
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (`mailgate ... | head`) is not an error worth a code.
        let _ = writeln!(stdout, "{}", text.trim_end());
    }

    /// Reports a failure on standard error and returns its exit code.
    pub(crate) fn failure(&self, failure: &Failure) -> ExitCode {
        if self.json {
            let value = serde_json::json!({
                "error": { "kind": failure.kind(), "message": failure.to_string() }
            });
            write_line_stderr(&value.to_string());
        } else {
            write_line_stderr(&format!("mailgate: {failure}"));
        }
        failure.exit_code()
    }
}

pub(crate) fn write_line_stderr(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

impl Output {
    /// Writes notes that accompany a result (policy warnings, the findings
    /// of an invalid policy) to standard error, each followed by a blank
    /// line; not with `--quiet` or `--json`, whose standard error carries
    /// only the failure.
    pub(crate) fn notes(&self, notes: impl IntoIterator<Item = String>) {
        if self.quiet || self.json {
            return;
        }
        for note in notes {
            write_line_stderr(&format!("{note}\n"));
        }
    }
}
