//! The crate's one error type.

use std::time::Duration;

/// Why a probe or a configuration could not produce an observation.
///
/// A server that is reached but falls short of a profile is not an error: it
/// gives an [`Observation`](crate::Observation) with failing findings. Errors
/// are for what prevents a verdict (unreachable, hostile or broken peers,
/// unusable configuration).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The host name could not be resolved or no address accepted a connection.
    #[error("cannot connect to {target}: {reason}")]
    Connect {
        /// `host:port`.
        target: String,
        /// The last connection error.
        reason: String,
    },
    /// The server did not answer within the configured time.
    #[error("{target}: no answer within {timeout:?} while {phase}")]
    Timeout {
        /// `host:port`.
        target: String,
        /// What the probe was waiting for.
        phase: &'static str,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// Reading or writing the connection failed.
    #[error("{target}: connection failed while {phase}: {source}")]
    Io {
        /// `host:port`.
        target: String,
        /// What the probe was doing.
        phase: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The server broke the SMTP protocol (garbage, oversized lines).
    #[error("{target}: SMTP protocol violation while {phase}: {reason}")]
    Smtp {
        /// `host:port`.
        target: String,
        /// What the probe was doing.
        phase: &'static str,
        /// What was wrong.
        reason: String,
    },
    /// The server refused the session (5xx or 4xx greeting, 421 on EHLO).
    #[error("{target}: server refused the session: {reply}")]
    Refused {
        /// `host:port`.
        target: String,
        /// The reply, code and text.
        reply: String,
    },
    /// The expected name is not a valid DNS name or IP address.
    #[error("invalid server name '{0}'")]
    InvalidName(String),
    /// The host is not `HOST`, `HOST:PORT` or `[V6]:PORT`.
    #[error("invalid target '{0}' (expected HOST or HOST:PORT)")]
    InvalidTarget(String),
    /// No trust anchors were available.
    #[error("no trust anchors: {0}")]
    NoTrustAnchors(String),
    /// A given trust anchor is not a usable certificate.
    #[error("unusable trust anchor: {0}")]
    BadTrustAnchor(String),
    /// A certificate could not be parsed.
    #[error("malformed certificate: {0}")]
    BadCertificate(String),
    /// The profile leaves nothing rustls could negotiate.
    #[error("{0}")]
    ProfileUnusable(String),
    /// A DNS lookup (TLSA, MX) failed; temporary unless the name is invalid
    /// or does not exist.
    #[error(transparent)]
    Dns(#[from] crate::dns::DnsError),
    /// A delivery connection was refused because the server does not meet
    /// the profile.
    #[error("{target} does not meet profile '{profile}': {failures}")]
    NotConforming {
        /// `host:port`.
        target: String,
        /// The profile's name.
        profile: String,
        /// The failed findings, one per line fragment.
        failures: String,
    },
}

impl Error {
    /// Whether the failure is transient (unreachable, timeout, refused with
    /// 4xx): an MTA defers rather than bounces.
    pub fn is_temporary(&self) -> bool {
        if let Error::Dns(error) = self {
            return error.is_temporary();
        }
        matches!(
            self,
            Error::Connect { .. }
                | Error::Timeout { .. }
                | Error::Io { .. }
                | Error::Smtp { .. }
                | Error::Refused { .. }
        )
    }
}
