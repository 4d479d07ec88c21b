//! The command-line grammar (clap derive). Behaviour lives in `command/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Crypto-mail building blocks: S/MIME, OpenPGP, BSI TLS verdicts, policies.
///
/// Exit codes: 0 success or the checked property holds; 1 a definite negative
/// result; 2 usage error or malformed input; 3 temporary failure (retry
/// later); 70 internal error (a bug).
#[derive(Debug, Parser)]
#[command(
    name = "mailgate",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// Print results (and errors) as JSON.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// Print nothing on success; errors still go to standard error.
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// S/MIME: certificates (signing, verification, encryption, decryption to come).
    #[command(subcommand)]
    Smime(SmimeCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum SmimeCommand {
    /// Show what certificate files hold: subject, issuer, validity, addresses,
    /// key, usages, fingerprint.
    ///
    /// Files may hold PEM (several certificates, text around them) or DER.
    /// Exits 2 if a file cannot be read or holds no valid certificate.
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Certificate files; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn grammar_is_consistent() {
        Cli::command().debug_assert();
    }
}
