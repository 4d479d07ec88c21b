//! `mailgate`: the command line over the mailgate crates.
//!
//! Exit codes, shared by every subcommand (see [`failure::Failure`]):
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success, or the checked property holds |
//! | 1 | a definite negative result (signature invalid, policy not met, nothing decryptable for us) |
//! | 2 | usage error or malformed input |
//! | 3 | temporary failure (network, store unavailable): what an MTA turns into 4xx |
//! | 70 | an internal error (a panic); always a bug |
#![forbid(unsafe_code)]

// Sequoia's crypto backend is selected through this crate's features
// (pgp-core itself selects none); the dependency is here for that selection.
use sequoia_openpgp as _;

mod args;
mod args_daemon;
mod args_pgp;
mod args_tls;
mod command;
mod failure;
mod output;
mod rfc3339;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::failure::{Failure, Verdict};
use crate::output::Output;

/// The file creation mask of every `mailgate` process: what it creates
/// (spool files, decrypted output, keys, reports) is for its own user only,
/// whatever umask it inherited. Files meant for others get their mode
/// explicitly (the milter's socket).
const UMASK: u32 = 0o077;

fn main() -> ExitCode {
    // First, before any file (a log, a spool, a temporary file) exists.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(UMASK));
    failure::install_panic_hook();
    let json_requested = std::env::args_os().any(|arg| arg == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return failure::report_usage_error(&error, json_requested),
    };
    let output = Output::new(cli.json, cli.quiet);
    let result = match cli.command {
        Command::Smime(command) => command::smime::run(command, &output),
        Command::Demo(args) => command::demo::run(&args, &output),
        Command::Process(args) => command::gateway::process(&args, &output),
        Command::Certs(command) => command::gateway::certs(command, &output),
        Command::Keys(command) => command::gateway::keys(command, &output),
        Command::Policy(command) => command::policy::run(command, &output),
        Command::Pgp(command) => command::pgp::run(command, &output),
        Command::Tls(command) => command::tls::run(command, &output),
        Command::Milter(args) => command::milter::run(&args),
        Command::Relay(args) => command::relay::run(&args),
    };
    match result {
        Ok(verdict) => verdict.exit_code(),
        Err(failure) => output.failure(&failure),
    }
}

impl Verdict {
    fn exit_code(self) -> ExitCode {
        match self {
            Verdict::Holds => ExitCode::SUCCESS,
            Verdict::DoesNotHold => ExitCode::from(1),
        }
    }
}

impl Failure {
    fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.code())
    }
}
