//! The grammar of the daemons, `mailgate milter` and `mailgate relay`
//! (clap derive). Behaviour: `command/milter.rs`, `command/relay.rs`.

use clap::{Args, ValueEnum};

use crate::args::ConfigArg;

#[derive(Debug, Args)]
pub(crate) struct MilterArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArg,

    /// The log on standard error: `text` lines or one `json` object per
    /// line; `MAILGATE_LOG` filters (`debug`, `warn`, ...; default `info`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,

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

    /// Submit notifications to senders (the password of a password-protected
    /// delivery) over SMTP to `HOST:PORT`: an MTA listener without this
    /// milter, such as Postfix's reinjection port. Without it such mail is
    /// refused with 451.
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) notify_via: Option<String>,

    /// The EHLO name for `--notify-via`.
    #[arg(long, value_name = "NAME", default_value = "localhost")]
    pub(crate) hostname: String,

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

#[derive(Debug, Args)]
pub(crate) struct RelayArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArg,

    /// The log on standard error: `text` lines or one `json` object per
    /// line (fields such as `queue_id`, `delivery`, `recipients`,
    /// `reason`); `MAILGATE_LOG` filters (`debug`, `warn`, ...; default
    /// `info`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub(crate) log_format: LogFormat,

    /// Where to accept SMTP: `HOST:PORT` (port 0 picks a free one; the
    /// address bound is printed to standard error at start). The default
    /// is loopback only.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:10025")]
    pub(crate) listen: String,

    /// Client networks (CIDR, comma-separated or repeated) that may submit
    /// outbound mail without authentication, and that are exempt from the
    /// per-client limits (Postfix: `mynetworks`). Other clients must
    /// authenticate (`--credentials`, after STARTTLS) or get `554 5.7.1`.
    #[arg(
        long,
        value_name = "NETWORK",
        value_delimiter = ',',
        default_value = "127.0.0.0/8,::1/128"
    )]
    pub(crate) mynetworks: Vec<String>,

    /// Accounts for SMTP AUTH PLAIN/LOGIN, offered only after STARTTLS
    /// (needs `--tls-cert`): lines `LOGIN:ARGON2-PHC-HASH[:SENDER,...]`,
    /// where each SENDER is an address or `@domain` the account may use
    /// besides its login (`argon2 SALT -id -e` prints such a hash).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub(crate) credentials: Option<std::path::PathBuf>,

    /// The spool directory (created if needed). Mail is acknowledged only
    /// once it is here, on disk; a restart takes over what is in it.
    #[arg(long, value_name = "DIR")]
    pub(crate) spool: std::path::PathBuf,

    /// Send every delivery to this smart host (`HOST:PORT`) instead of
    /// each recipient domain's mail exchangers (MX lookup, with DANE where
    /// DNSSEC publishes TLSA records).
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) next_hop: Option<String>,

    /// The name the next hop's certificate must carry when the policy
    /// requires TLS (default: its host).
    #[arg(long, value_name = "NAME", requires = "next_hop")]
    pub(crate) next_hop_name: Option<String>,

    /// A static route ahead of MX lookup and `--next-hop`: mail for
    /// DOMAIN goes to HOST:PORT (the organisation's own mail server, a
    /// partner's fixed gateway). Repeatable.
    #[arg(long = "route", value_name = "DOMAIN=HOST:PORT")]
    pub(crate) routes: Vec<String>,

    /// The SMTP port of mail exchangers found by MX lookup.
    #[arg(long, value_name = "PORT", default_value_t = 25)]
    pub(crate) mx_port: u16,

    /// The HTTPS port of the MTA-STS policy hosts (`mta-sts.DOMAIN`). With
    /// MX routing, a domain's enforced MTA-STS policy (RFC 8461) limits its
    /// mail to the MX hosts it lists, over TLS with a valid certificate.
    #[arg(long, value_name = "PORT", default_value_t = 443)]
    pub(crate) mta_sts_port: u16,

    #[command(flatten)]
    pub(crate) dns: crate::args::DnsArgs,

    /// Trust anchors (PEM) for receiving servers' certificates; default:
    /// the system's. Repeatable.
    #[arg(long = "tls-trust", value_name = "ANCHOR.pem")]
    pub(crate) tls_trust: Vec<std::path::PathBuf>,

    /// Offer STARTTLS to SMTP clients with this certificate chain (PEM,
    /// leaf first); needs `--tls-key`.
    #[arg(long, value_name = "CHAIN.pem", requires = "tls_key")]
    pub(crate) tls_cert: Option<std::path::PathBuf>,

    /// The private key of `--tls-cert` (PEM: PKCS#8, PKCS#1 or SEC 1).
    #[arg(long, value_name = "KEY.pem", requires = "tls_cert")]
    pub(crate) tls_key: Option<std::path::PathBuf>,

    /// Write SMTP TLS reports (RFC 8460, one JSON per UTC day and recipient
    /// domain) of the judged TLS sessions here (see `--send-tls-reports`).
    #[arg(long, value_name = "DIR")]
    pub(crate) tls_reports: Option<std::path::PathBuf>,

    /// Also send them: once a UTC day is over, each domain's report goes by
    /// mail to the `rua` addresses of its `_smtp._tls` TXT record (RFC
    /// 8460), queued and delivered like any other mail.
    #[arg(long, requires = "tls_reports")]
    pub(crate) send_tls_reports: bool,

    /// Serve counters in the Prometheus text format at
    /// `http://HOST:PORT/metrics` (keep it on loopback).
    #[arg(long, value_name = "HOST:PORT")]
    pub(crate) metrics: Option<String>,

    /// This relay's host name (greeting, EHLO, bounces).
    #[arg(long, value_name = "NAME", default_value = "localhost")]
    pub(crate) hostname: String,

    /// Which way the mail it receives travels.
    #[arg(long, value_enum, default_value_t = RelayDirection::Outbound)]
    pub(crate) direction: RelayDirection,

    /// SMTP clients served at once; when all are served, a client holding
    /// fewer connections than the biggest holder takes that holder's
    /// longest-idle one, other clients get `421 4.7.0`.
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub(crate) max_connections: usize,

    /// Connections one client address (IPv6: its /64) may hold at once
    /// (Postfix: `smtpd_client_connection_count_limit`); `--mynetworks`
    /// are exempt.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub(crate) max_connections_per_client: usize,

    /// New connections one client address may open per minute; 0: no
    /// limit (Postfix: `smtpd_client_connection_rate_limit`);
    /// `--mynetworks` are exempt.
    #[arg(long, value_name = "N", default_value_t = 120)]
    pub(crate) max_connection_rate: u32,

    /// Seconds an SMTP session may last at most, however busy.
    #[arg(long, value_name = "SECONDS", default_value_t = 600)]
    pub(crate) session_deadline: u64,

    /// Seconds from `354` to the end of the message at most.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub(crate) data_deadline: u64,

    /// Errors (4xx, 5xx replies) a session may get without a message
    /// accepted before it is closed with `421 4.7.0`; 0: no limit (Postfix:
    /// `smtpd_hard_error_limit`).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub(crate) hard_error_limit: u32,

    /// A message that would hold this many `Received` fields or more with
    /// the relay's own is refused as a mail loop (`554 5.4.6`; RFC 5321
    /// section 6.3 asks for at least 100); 0: no limit (Postfix:
    /// `hopcount_limit` 50, counted the same way).
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub(crate) max_hops: usize,

    /// Milliseconds to wait before the greeting for a client that talks
    /// first, which is then disconnected with `554 5.5.0` (sendmail:
    /// `greet_pause`); 0 delays nobody and refuses what arrived already.
    #[arg(long, value_name = "MILLISECONDS", default_value_t = 0)]
    pub(crate) greet_pause: u64,

    /// Deliveries in flight at once.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub(crate) delivery_threads: usize,

    /// The largest message accepted (bytes; announced with SIZE).
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024 * 1024)]
    pub(crate) max_message_size: u64,

    /// Seconds before the first retry of a deferred delivery; doubles up to
    /// `--retry-max`.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub(crate) retry_first: u64,

    /// The longest wait between retries (seconds).
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    pub(crate) retry_max: u64,

    /// Give up and bounce this many seconds after receipt (default 5 days).
    #[arg(long, value_name = "SECONDS", default_value_t = 5 * 24 * 3600)]
    pub(crate) give_up_after: u64,

    /// Seconds a connection may stay silent, and that one command may
    /// take to arrive (Postfix: `smtpd_timeout`).
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub(crate) timeout: u64,
}

/// How a daemon writes its log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event and line.
    Json,
}

/// Which way mail through the relay travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RelayDirection {
    /// From the internet to the organisation.
    Inbound,
    /// From the organisation to the internet.
    Outbound,
}
