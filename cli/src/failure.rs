//! Failures and their exit codes: the one place where outcomes become codes.

use std::process::ExitCode;

use crate::output::write_line_stderr;

/// The answer of a command that checks a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The property holds: exit 0.
    Holds,
    /// A definite negative answer (signature invalid, policy not met): exit 1.
    DoesNotHold,
}

/// Why a command could not give an answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// The command line was wrong: exit 2.
    #[error("{0}")]
    Usage(String),
    /// An input (file, message, key) is malformed or unreadable: exit 2.
    #[error("{input}: {message}")]
    Input {
        /// Which input: a path, or "standard input".
        input: String,
        /// What was wrong with it.
        message: String,
    },
    /// A definite negative answer with its reason (not for us, decryption
    /// failed): exit 1.
    #[error("{0}")]
    Negative(String),
    /// A temporary failure (network, store): exit 3, retry later.
    #[error("{0}")]
    Temporary(String),
}

impl Failure {
    /// The process exit code for this failure.
    pub(crate) fn code(&self) -> u8 {
        match self {
            Failure::Negative(_) => 1,
            Failure::Usage(_) | Failure::Input { .. } => 2,
            Failure::Temporary(_) => 3,
        }
    }

    /// A stable machine-readable name, for `--json`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Failure::Negative(_) => "negative",
            Failure::Usage(_) => "usage",
            Failure::Input { .. } => "malformed-input",
            Failure::Temporary(_) => "temporary",
        }
    }

    /// An input failure with the error's whole source chain in one line.
    pub(crate) fn input(input: impl Into<String>, error: &dyn std::error::Error) -> Failure {
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        Failure::Input {
            input: input.into(),
            message,
        }
    }
}

/// A panic is a bug: report it in one line and exit 70 (EX_SOFTWARE) instead
/// of printing Rust internals or exiting with 101.
pub(crate) fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".to_owned());
        write_line_stderr(&format!(
            "mailgate: internal error{location}: {payload} (this is a bug; please report it)"
        ));
        std::process::exit(70);
    }));
}

/// For the daemons (`milter`, `relay`): a panic is reported like above but
/// does not end the process. The daemon catches it where one mail or one
/// connection is handled, so one bad mail cannot stop all mail; the mail in
/// question stays queued (relay) or is refused for now (milter).
pub(crate) fn install_daemon_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        write_line_stderr(&format!(
            "mailgate: internal error{location} (this is a bug; please report it); the daemon goes on"
        ));
    }));
}

/// Reports a clap error: help and version go to stdout with exit 0; anything
/// else is a usage error reported in one line, exit 2.
pub(crate) fn report_usage_error(error: &clap::Error, json: bool) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            // clap renders these itself; a failure to print is not worth a code.
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            return ExitCode::from(2);
        }
        _ => {}
    }
    let rendered = error.render().to_string();
    let first_line = rendered
        .lines()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("invalid command line");
    let message = first_line
        .trim()
        .strip_prefix("error: ")
        .unwrap_or(first_line.trim());
    let failure = Failure::Usage(format!("{message} (see 'mailgate --help')"));
    crate::output::Output::new(json, false).failure(&failure);
    ExitCode::from(2)
}
