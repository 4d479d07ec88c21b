//! The grammar of `mailgate milter` (clap derive). Behaviour:
//! `command/milter.rs`.

use clap::{Args, ValueEnum};

use crate::args::ConfigArg;

#[derive(Debug, Args)]
pub(crate) struct MilterArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArg,

    /// Where to listen: `inet:HOST:PORT` (port 0 picks a free one), or
    /// `unix:PATH`. Postfix: `smtpd_milters = inet:127.0.0.1:8891`. The
    /// address actually bound is printed to standard error at start.
    #[arg(long, value_name = "inet:HOST:PORT|unix:PATH")]
    pub(crate) listen: String,

    /// Which way mail on this listener travels. `auto`: outbound when the
    /// MTA marks the mail as originating (the `{daemon_name}` macro equals
    /// `--originating-daemon`) or the client authenticated (`{auth_authen}`),
    /// inbound otherwise.
    #[arg(long, value_enum, default_value_t = MilterDirection::Auto)]
    pub(crate) direction: MilterDirection,

    /// The `{daemon_name}` that marks outbound mail (Postfix:
    /// `-o milter_macro_daemon_name=ORIGINATING` on the submission service).
    #[arg(long, value_name = "NAME", default_value = "ORIGINATING")]
    pub(crate) originating_daemon: String,

    /// Treat the MTA as enforcing the TLS requirement of outbound mail
    /// (for example with `smtp_tls_policy_maps` per destination). Without
    /// it, mail the policy allows only over BSI-grade TLS is refused with a
    /// temporary failure: a milter cannot choose the outgoing connection;
    /// route such mail through `mailgate relay`.
    #[arg(long)]
    pub(crate) tls_enforced_by_mta: bool,

    /// How many MTA connections are served at once.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub(crate) max_connections: usize,

    /// The largest mail (bytes) that is inspected; larger mail is refused
    /// with 552 5.3.4, never passed on uninspected.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    pub(crate) max_message_size: usize,

    /// Seconds a connection may stay silent before it is closed.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub(crate) timeout: u64,
}

/// Which way mail through the milter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum MilterDirection {
    /// Decide per mail from the MTA's macros.
    Auto,
    /// Everything is inbound (from the internet).
    Inbound,
    /// Everything is outbound (from the organisation).
    Outbound,
}
