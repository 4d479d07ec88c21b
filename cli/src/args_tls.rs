//! The grammar of `mailgate tls ...` (clap derive). Behaviour: `command/tls.rs`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub(crate) enum TlsCommand {
    /// Check a receiving SMTP server against a transport profile.
    ///
    /// Connects (port 25 with STARTTLS unless given), runs a TLS handshake
    /// restricted to the profile, validates the certificate chain and the
    /// name, and enumerates what else the server offers. Exits 0 when the
    /// server meets the profile, 1 when it does not (each failed requirement
    /// is listed with what was observed), 2 for bad arguments, 3 when the
    /// server cannot be reached or breaks the protocol.
    Check(TlsCheckArgs),
}

#[derive(Debug, Args)]
pub(crate) struct TlsCheckArgs {
    /// The server: HOST or HOST:PORT (an IPv6 address in brackets).
    #[arg(value_name = "HOST[:PORT]", required_unless_present = "domain")]
    pub(crate) target: Option<String>,

    /// Check every mail exchanger of DOMAIN instead: its MX records (or the
    /// domain itself without any), every address of each, each judged
    /// under its MX name, with DANE where the MX and TLSA answers are
    /// DNSSEC-validated. Exits 0 only when all of them meet the profile.
    #[arg(long, value_name = "DOMAIN", conflicts_with_all = ["target", "name"])]
    pub(crate) domain: Option<String>,

    /// The SMTP port of the exchangers with `--domain` (default 25, 465
    /// with `--direct-tls`).
    #[arg(long, value_name = "PORT", requires = "domain")]
    pub(crate) port: Option<u16>,

    /// The HTTPS port of the domain's MTA-STS policy host
    /// (`mta-sts.DOMAIN`) with `--domain`; an enforced policy fails every
    /// exchanger it does not list.
    #[arg(long, value_name = "PORT", default_value_t = 443, requires = "domain")]
    pub(crate) mta_sts_port: u16,

    #[command(flatten)]
    pub(crate) dns: crate::args::DnsArgs,

    /// The name the certificate must carry (default: HOST).
    #[arg(long, value_name = "MX-NAME")]
    pub(crate) name: Option<String>,

    /// Trust anchors (PEM); replace the system trust store. Repeatable.
    #[arg(long = "trust", value_name = "ANCHOR.pem")]
    pub(crate) trust: Vec<PathBuf>,

    /// `bsi-tr-03108` (default), `opportunistic`, or a profile TOML file.
    #[arg(long, value_name = "PROFILE", default_value = "bsi-tr-03108")]
    pub(crate) profile: String,

    /// TLS from the first byte (SMTPS; default port 465) instead of STARTTLS.
    #[arg(long)]
    pub(crate) direct_tls: bool,

    /// Skip the enumeration of other offered versions, suites and groups.
    #[arg(long)]
    pub(crate) no_enumeration: bool,

    /// Seconds allowed for each connection (dialogue plus handshake).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    pub(crate) timeout: u64,
}
