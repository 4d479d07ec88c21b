//! `mailgate milter`: the gateway as a Postfix/Sendmail milter.
//!
//! The mapping of the gateway's dispositions onto milter replies lives in
//! `mailgate_milter::gateway`; this command parses the arguments, binds the
//! socket, reloads the policy on SIGHUP and submits notifications to
//! `--notify-via`.

use std::net::TcpListener;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mailgate_milter::gateway::{DirectionMode, GatewayFilter};
use mailgate_milter::{Limits, Listener, Server};
use signal_hook::consts::signal::SIGHUP;
use signal_hook::iterator::Signals;

use crate::args_daemon::{MilterArgs, MilterDirection};
use crate::command::gateway::open_gateway;
use crate::failure::{Failure, Verdict};

pub(crate) fn run(args: &MilterArgs) -> Result<Verdict, Failure> {
    crate::failure::install_daemon_panic_hook();
    crate::command::logging::init(args.log_format);
    let gateway = open_gateway(&args.config)?;
    let (listener, bound) = bind(&args.listen)?;
    let mut filter = GatewayFilter::new(gateway)
        .direction(match args.direction {
            MilterDirection::Auto => DirectionMode::Auto,
            MilterDirection::Inbound => DirectionMode::Inbound,
            MilterDirection::Outbound => DirectionMode::Outbound,
        })
        .originating_daemon(args.originating_daemon.clone())
        .tls_enforced_by_mta(args.tls_enforced_by_mta);
    if let Some(server) = args.notify_via.clone() {
        let hostname = args.hostname.clone();
        filter = filter.notifier(move |sender: &str, notification: &[u8]| {
            mailgate_relay::submit(
                &server,
                &hostname,
                "",
                &[sender.to_owned()],
                notification,
                Duration::from_secs(60),
            )
        });
    }
    let filter = Arc::new(filter);
    // SIGHUP reloads the policy (an invalid one is refused, the old one
    // stays). SIGTERM ends the process: the MTA tempfails what was in
    // flight (milter_default_action), so nothing is lost.
    let mut signals = Signals::new([SIGHUP])
        .map_err(|e| Failure::Temporary(format!("installing signal handlers: {e}")))?;
    let reloading = Arc::clone(&filter);
    std::thread::spawn(move || {
        for _ in signals.forever() {
            match reloading.gateway().reload_policy() {
                Ok(()) => tracing::info!("policy reloaded"),
                Err(error) => tracing::error!(%error, "policy not reloaded, the old one stays"),
            }
        }
    });
    let server = Server::new(filter)
        .limits(Limits {
            max_message_size: args.max_message_size,
        })
        .max_connections(args.max_connections)
        .timeout(Duration::from_secs(args.timeout.max(1)));
    tracing::info!(address = %bound, "listening");
    server
        .serve(listener)
        .map_err(|error| Failure::Temporary(format!("accepting milter connections: {error}")))?;
    Ok(Verdict::Holds)
}

/// The mode of the milter's Unix socket: connecting needs write permission,
/// given to the owner and the group (Postfix's user joins that group).
const MILTER_SOCKET_MODE: u32 = 0o660;

/// Binds `inet:HOST:PORT` or `unix:PATH`; returns the listener and what it
/// is bound to (with the real port).
fn bind(listen: &str) -> Result<(Listener, String), Failure> {
    let failed =
        |error: std::io::Error| Failure::Temporary(format!("listening on {listen}: {error}"));
    if let Some(path) = listen.strip_prefix("unix:") {
        let path = Path::new(path);
        // A socket left by a previous run would make bind fail; anything
        // else at that path is not ours to remove.
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket()) {
            std::fs::remove_file(path).map_err(failed)?;
        }
        let listener = UnixListener::bind(path).map_err(failed)?;
        // Under the process umask (077) only this user could connect;
        // Postfix connects as its own user, a member of this one's group
        // (as with OpenDKIM's socket). Others get nothing.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(MILTER_SOCKET_MODE))
            .map_err(failed)?;
        return Ok((Listener::Unix(listener), listen.to_owned()));
    }
    let address = listen.strip_prefix("inet:").unwrap_or(listen);
    if address.is_empty() || !address.contains(':') {
        return Err(Failure::Usage(format!(
            "--listen {listen}: expected inet:HOST:PORT or unix:PATH"
        )));
    }
    let listener = TcpListener::bind(address).map_err(failed)?;
    let local = listener.local_addr().map_err(failed)?;
    Ok((Listener::Tcp(listener), format!("inet:{local}")))
}
