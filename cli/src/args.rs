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
    /// S/MIME: certificates, decryption (signing, verification, encryption to come).
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

    /// Decrypt an S/MIME message read from standard input.
    ///
    /// Writes the decrypted message (the outer header fields, then the
    /// decrypted entity) to standard output, and nothing at all when
    /// decryption fails. Exits 1 when the message is not for this
    /// certificate or does not decrypt, 2 when input or key is malformed.
    Decrypt(DecryptArgs),
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Certificate files; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub(crate) files: Vec<PathBuf>,
}

/// A certificate and its private key, as files.
#[derive(Debug, Args)]
pub(crate) struct KeyArgs {
    /// Our certificate (PEM or DER).
    #[arg(long, value_name = "CERT.pem")]
    pub(crate) cert: PathBuf,

    /// Its private key: PKCS#8 (also encrypted), PKCS#1 RSA or SEC 1 EC, PEM
    /// or DER.
    #[arg(long, value_name = "KEY.pem")]
    pub(crate) key: PathBuf,

    /// Name of the environment variable holding the key's passphrase.
    #[arg(long, value_name = "VAR")]
    pub(crate) pass_env: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DecryptArgs {
    #[command(flatten)]
    pub(crate) key: KeyArgs,
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
