//! `mailgate relay`: the gateway as an SMTP relay (see `mailgate-relay`).

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use gateway_facade::{Config, Gateway};
use mailgate_relay::{Credentials, Network, NextHop, Relay, RelayConfig, RetrySchedule, Routing};
use mailgate_spool::Spool;
use rule_engine::Direction;
use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tls_policy::TrustAnchors;

use crate::args_daemon::{RelayArgs, RelayDirection};
use crate::command::display;
use crate::command::gateway::config_failure;
use crate::command::resolver::resolver;
use crate::failure::{Failure, Verdict};

pub(crate) fn run(args: &RelayArgs) -> Result<Verdict, Failure> {
    crate::failure::install_daemon_panic_hook();
    crate::command::logging::init(args.log_format);
    let path = &args.config.config;
    let config = Config::load(path).map_err(|e| config_failure(path, &e))?;
    let gateway = Gateway::from_config(&config).map_err(|e| match e {
        gateway_facade::Error::Store(store) => Failure::Temporary(store.to_string()),
        other => config_failure(path, &other),
    })?;
    let spool = Spool::open(&args.spool)
        .map_err(|e| Failure::Temporary(format!("spool {}: {e}", display(&args.spool))))?;
    let tls_anchors = tls_trust(args)?;
    let inbound_tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let chain = std::fs::read(cert).map_err(|e| Failure::input(display(cert), &e))?;
            let key_pem = zeroize::Zeroizing::new(
                std::fs::read(key).map_err(|e| Failure::input(display(key), &e))?,
            );
            let config = mailgate_relay::server_config(&chain, &key_pem).map_err(|message| {
                Failure::Input {
                    input: format!("{} and {}", display(cert), display(key)),
                    message,
                }
            })?;
            Some(Arc::new(config))
        }
        _ => None,
    };
    let mut relay_config = relay_config(args, &config, tls_anchors)?;
    relay_config.inbound_tls = inbound_tls;
    raise_open_files(args.max_connections);
    let listener = TcpListener::bind(&args.listen)
        .map_err(|e| Failure::Temporary(format!("listening on {}: {e}", args.listen)))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Failure::Temporary(format!("listening on {}: {e}", args.listen)))?;
    tracing::info!(address = %bound, "listening");
    let relay = Relay::new(relay_config, gateway, spool)
        .map_err(|e| Failure::Temporary(format!("TLS report directory: {e}")))?;
    let relay = Arc::new(relay);
    if let Some(address) = &args.metrics {
        let listener = TcpListener::bind(address)
            .map_err(|e| Failure::Temporary(format!("metrics on {address}: {e}")))?;
        relay
            .serve_metrics(listener)
            .map_err(|e| Failure::Temporary(format!("metrics on {address}: {e}")))?;
    }
    handle_signals(&relay)?;
    relay
        .serve(listener)
        .map_err(|e| Failure::Temporary(format!("accepting SMTP connections: {e}")))?;
    Ok(Verdict::Holds)
}

/// The trust anchors of `--tls-trust` (all files in one set), if given.
fn tls_trust(args: &RelayArgs) -> Result<Option<Arc<TrustAnchors>>, Failure> {
    if args.tls_trust.is_empty() {
        return Ok(None);
    }
    let mut pem = Vec::new();
    for file in &args.tls_trust {
        pem.extend(std::fs::read(file).map_err(|e| Failure::input(display(file), &e))?);
    }
    let anchors = TrustAnchors::from_pem(&pem).map_err(|e| Failure::Input {
        input: "--tls-trust".into(),
        message: e.to_string(),
    })?;
    Ok(Some(Arc::new(anchors)))
}

/// The relay's configuration from the arguments, all but the inbound TLS
/// certificate.
fn relay_config(
    args: &RelayArgs,
    config: &Config,
    tls_anchors: Option<Arc<TrustAnchors>>,
) -> Result<RelayConfig, Failure> {
    // One resolver for MX routing and TLS report destinations, made only
    // when one of them needs it (always when there is no next hop).
    let dns: Option<Arc<dyn tls_policy::Dns>> = if args.next_hop.is_none() || args.send_tls_reports
    {
        Some(Arc::new(resolver(&args.dns)?))
    } else {
        None
    };
    let routing = match (&args.next_hop, &dns) {
        (Some(address), _) => Routing::NextHop(NextHop {
            address: address.clone(),
            name: args.next_hop_name.clone(),
        }),
        (None, Some(dns)) => Routing::Mx {
            dns: Arc::clone(dns),
            port: args.mx_port,
        },
        (None, None) => return Err(Failure::Usage("--next-hop or MX routing is needed".into())),
    };
    let mut relay_config = RelayConfig::new(&args.hostname, &config.postmaster, routing);
    relay_config.routes = static_routes(&args.routes)?;
    relay_config.direction = match args.direction {
        RelayDirection::Inbound => Direction::Inbound,
        RelayDirection::Outbound => Direction::Outbound,
    };
    if let Routing::Mx { dns, .. } = &relay_config.routing {
        relay_config.mta_sts = mta_sts(args, dns, tls_anchors.as_deref());
    }
    relay_config.tls_anchors = tls_anchors;
    set_limits(&mut relay_config, args);
    relay_config.mynetworks = args
        .mynetworks
        .iter()
        .filter(|n| !n.trim().is_empty())
        .map(|n| n.parse::<Network>())
        .collect::<Result<_, _>>()
        .map_err(|e| Failure::Input {
            input: "--mynetworks".into(),
            message: e.to_string(),
        })?;
    if let Some(file) = &args.credentials {
        let credentials = Credentials::load(file).map_err(|e| Failure::Input {
            input: display(file),
            message: e.to_string(),
        })?;
        if args.direction == RelayDirection::Inbound {
            // Inbound, anyone may submit: the accounts change nothing.
            tracing::warn!("--credentials has no effect with --direction inbound");
        }
        relay_config.credentials = Some(Arc::new(credentials));
    }
    relay_config.delivery_threads = args.delivery_threads;
    relay_config.retry = RetrySchedule {
        first: Duration::from_secs(args.retry_first.max(1)),
        max: Duration::from_secs(args.retry_max.max(1)),
        give_up_after: Duration::from_secs(args.give_up_after),
    };
    relay_config.timeout = Duration::from_secs(args.timeout.max(1));
    relay_config.tls_reports = args.tls_reports.clone();
    if args.send_tls_reports {
        relay_config.send_tls_reports = dns;
    }
    Ok(relay_config)
}

/// MTA-STS for MX routing: with the `--tls-trust` anchors, else the
/// system's; off (with a warning) when there are none.
fn mta_sts(
    args: &RelayArgs,
    dns: &Arc<dyn tls_policy::Dns>,
    tls_anchors: Option<&TrustAnchors>,
) -> Option<Arc<tls_policy::MtaSts>> {
    let anchors = match tls_anchors {
        Some(anchors) => Some(anchors.clone()),
        None => TrustAnchors::system()
            .map_err(|e| tracing::warn!(error = %e, "MTA-STS off: no trust anchors"))
            .ok(),
    };
    anchors.map(|anchors| {
        Arc::new(tls_policy::MtaSts::new(Arc::clone(dns), anchors).with_port(args.mta_sts_port))
    })
}

/// Sizes, connection limits and deadlines.
fn set_limits(relay_config: &mut RelayConfig, args: &RelayArgs) {
    relay_config.max_message_size = args.max_message_size;
    relay_config.max_connections = args.max_connections;
    relay_config.max_connections_per_client = args.max_connections_per_client;
    relay_config.max_connection_rate = args.max_connection_rate;
    relay_config.session_deadline = Duration::from_secs(args.session_deadline.max(1));
    relay_config.data_deadline = Duration::from_secs(args.data_deadline.max(1));
    relay_config.hard_error_limit = args.hard_error_limit;
    relay_config.max_hops = args.max_hops;
    relay_config.greet_pause = Duration::from_millis(args.greet_pause);
}

/// SIGHUP reloads the policy; SIGTERM and SIGINT stop gracefully.
fn handle_signals(relay: &Arc<Relay>) -> Result<(), Failure> {
    let mut signals = Signals::new([SIGHUP, SIGTERM, SIGINT])
        .map_err(|e| Failure::Temporary(format!("installing signal handlers: {e}")))?;
    let controlled = Arc::clone(relay);
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal == SIGHUP {
                let _ = controlled.reload_policy();
            } else {
                controlled.shutdown();
                break;
            }
        }
    });
    Ok(())
}

/// Raises the soft limit on open files towards what `max_connections`
/// sessions need (one descriptor each, plus the spool's, deliveries' and
/// some to spare), up to the hard limit: at the common default soft limit
/// of 1024, accepting would fail with EMFILE long before the session limit
/// that decides who is served.
fn raise_open_files(max_connections: usize) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let wanted = u64::try_from(max_connections)
        .unwrap_or(u64::MAX)
        .saturating_mul(2)
        .saturating_add(256);
    let limit = getrlimit(Resource::Nofile);
    let Some(current) = limit.current else {
        return; // unlimited
    };
    if current >= wanted {
        return;
    }
    let raised = limit.maximum.map_or(wanted, |hard| wanted.min(hard));
    let result = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(raised),
            maximum: limit.maximum,
        },
    );
    let open_files = match result {
        Ok(()) if raised >= wanted => return,
        Ok(()) => raised,
        Err(_) => current,
    };
    tracing::warn!(
        open_files,
        wanted,
        "the limit on open files is below what --max-connections needs"
    );
}

/// `--route DOMAIN=HOST:PORT`, by lower-case domain.
fn static_routes(specs: &[String]) -> Result<HashMap<String, NextHop>, Failure> {
    let mut routes = HashMap::new();
    for spec in specs {
        let invalid = || Failure::Input {
            input: "--route".into(),
            message: format!("'{spec}' is not DOMAIN=HOST:PORT"),
        };
        let (domain, address) = spec.split_once('=').ok_or_else(invalid)?;
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        if domain.is_empty() || tls_policy::Target::parse(address, false).is_err() {
            return Err(invalid());
        }
        routes.insert(domain, NextHop::new(address.trim()));
    }
    Ok(routes)
}
