//! The gateway as a milter in a few lines: serves `mailgate.toml`'s gateway
//! on a TCP port for Postfix (`smtpd_milters = inet:127.0.0.1:8891`).
//!
//! ```sh
//! mailgate demo --dir /tmp/gw
//! cargo run -p mailgate-milter --features gateway --example gateway_milter -- \
//!     /tmp/gw/mailgate.toml 127.0.0.1:8891
//! ```
//!
//! `mailgate milter` is the same with a Unix socket, notifications over
//! SMTP, a policy reload on SIGHUP and a log.
// A program's output goes to its terminal.
#![allow(clippy::print_stderr)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;

use gateway_facade::Gateway;
use mailgate_milter::gateway::{DirectionMode, GatewayFilter};
use mailgate_milter::{Listener, Server};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(config), Some(listen)) = (args.next(), args.next()) else {
        return Err("usage: gateway_milter MAILGATE_TOML HOST:PORT".into());
    };
    let gateway = Gateway::from_config_file(&PathBuf::from(config))?;
    let filter = GatewayFilter::new(gateway)
        .direction(DirectionMode::Auto)
        .originating_daemon("ORIGINATING");
    let listener = TcpListener::bind(&listen)?;
    eprintln!("listening on {}", listener.local_addr()?);
    Server::new(Arc::new(filter)).serve(Listener::Tcp(listener))?;
    Ok(())
}
