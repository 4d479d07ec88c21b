//! The daemons' log: `tracing` events from the relay and the milter on
//! standard error, as text lines or as one JSON object per line (for log
//! collectors), filtered by `MAILGATE_LOG` (`tracing-subscriber`'s
//! `EnvFilter` syntax, default `info`).

use tracing_subscriber::EnvFilter;

use crate::args_daemon::LogFormat;

/// The environment variable with the log filter (`debug`,
/// `mailgate_relay=debug,info`, ...).
const FILTER_VARIABLE: &str = "MAILGATE_LOG";

/// Installs the subscriber for the rest of the process.
pub(crate) fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_env(FILTER_VARIABLE).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(true);
    // A second call (tests running a daemon in-process) keeps the first.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
