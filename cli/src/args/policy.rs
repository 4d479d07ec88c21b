//! The grammar of `mailgate policy ...` (issue 6).

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Validate a policy file and print its errors and warnings like a
    /// compiler: file:line:column, the line with a caret, how to fix it.
    ///
    /// Exits 2 if the policy has errors (or cannot be read), 0 otherwise,
    /// also when it only has warnings.
    Check(PolicyCheckArgs),

    /// Show what a policy does to a message read from standard input, per
    /// recipient: the actions, the rule that decided, and the trace of the
    /// rules tried.
    ///
    /// Host facts (certificates, keys, TLS verdicts, signature checks) come
    /// from `--facts`; without it, nobody has a certificate or key and no
    /// server meets a TLS profile. Exits 1 if the mail is delivered to
    /// nobody (blocked, quarantined or deferred for every recipient), 2 if
    /// the policy or an input is invalid.
    Explain(PolicyExplainArgs),

    /// Run the policy tests of a directory: every NAME.eml with NAME.json
    /// (envelope, facts, expected actions per recipient) against
    /// DIR/policy.toml, or DIR.toml beside the directory.
    ///
    /// Exits 0 if every case passed, 1 if a case failed, 2 if the policy or
    /// a case file is invalid.
    Test(PolicyTestArgs),
}

#[derive(Debug, Args)]
pub(crate) struct PolicyCheckArgs {
    /// The policy file (TOML).
    #[arg(value_name = "POLICY.toml")]
    pub(crate) policy: PathBuf,
}

/// Which way the mail travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PolicyDirection {
    /// Sent by the organisation.
    Outbound,
    /// Received by the organisation.
    Inbound,
}

#[derive(Debug, Args)]
pub(crate) struct PolicyExplainArgs {
    /// The policy file (TOML).
    #[arg(value_name = "POLICY.toml")]
    pub(crate) policy: PathBuf,

    /// Which way the mail travels.
    #[arg(long, value_enum)]
    pub(crate) direction: PolicyDirection,

    /// The envelope sender (SMTP MAIL FROM).
    #[arg(long, value_name = "ADDR")]
    pub(crate) from: String,

    /// An envelope recipient (SMTP RCPT TO; repeatable).
    #[arg(long, required = true, value_name = "ADDR")]
    pub(crate) to: Vec<String>,

    /// Host facts as JSON: `{"recipients": {"bob@partner.example": {"smime":
    /// true, "pgp": false, "tls": true}}, "sender": {"smime": true, "pgp":
    /// true}, "inbound_signature_valid": false}`.
    #[arg(long, value_name = "FACTS.json")]
    pub(crate) facts: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct PolicyTestArgs {
    /// The directory of test cases.
    #[arg(value_name = "DIR")]
    pub(crate) dir: PathBuf,
}
