#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod access;
mod delivery;
mod dsn;
mod limits;
mod metrics;
mod smtp_client;
mod smtp_server;
mod starttls;
mod tls_report;
mod tls_report_mail;
mod worker;

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use gateway_facade::{Direction, Gateway};
use mailgate_spool::{DeliveryId, MessageId, Spool};
use tls_policy::{Profile, TrustAnchors};

pub use crate::access::{AccessError, Credentials, Network, Submission};
pub use crate::delivery::{NextHop, Routing};
pub use crate::smtp_client::{SubmitError, submit};
pub use crate::smtp_server::{AcceptedDomains, ServerSettings, serve_client};
pub use crate::starttls::server_config;

/// When to try a delivery again, and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySchedule {
    /// The wait after the first failure; it doubles after each further one.
    pub first: Duration,
    /// The longest wait between attempts.
    pub max: Duration,
    /// Give up (and bounce) this long after the message was received.
    pub give_up_after: Duration,
}

impl Default for RetrySchedule {
    /// 1 minute doubling up to 1 hour; give up after 5 days (RFC 5321
    /// section 4.5.4.1 suggests 4 to 5 days).
    fn default() -> RetrySchedule {
        RetrySchedule {
            first: Duration::from_secs(60),
            max: Duration::from_secs(3600),
            give_up_after: Duration::from_secs(5 * 24 * 3600),
        }
    }
}

impl RetrySchedule {
    /// The wait after `attempts` failed attempts.
    pub fn wait(&self, attempts: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempts.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.first.saturating_mul(factor).min(self.max)
    }
}

/// How the relay is set up.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// This relay's host name: greeting, EHLO, bounces' Reporting-MTA.
    pub hostname: String,
    /// The sender of bounces.
    pub postmaster: String,
    /// Which way the mail it receives travels.
    pub direction: Direction,
    /// Where deliveries go: a smart host, or each domain's mail exchangers.
    pub routing: Routing,
    /// Static routes by recipient domain (lower case), ahead of
    /// [`RelayConfig::routing`]: the organisation's own mail server, a
    /// partner reached over a fixed link.
    pub routes: HashMap<String, NextHop>,
    /// MTA-STS (RFC 8461) for domains routed by MX: where a domain
    /// enforces a policy, only its listed MX hosts, over validated TLS.
    pub mta_sts: Option<Arc<tls_policy::MtaSts>>,
    /// Trust anchors for the receiving servers' certificates (default: the
    /// system's).
    pub tls_anchors: Option<Arc<TrustAnchors>>,
    /// STARTTLS for SMTP clients (see [`server_config`]); none: not offered.
    pub inbound_tls: Option<Arc<rustls::ServerConfig>>,
    /// The largest message accepted.
    pub max_message_size: u64,
    /// SMTP clients served at once (each a thread). When all are taken, a
    /// client holding fewer connections than the biggest holder takes the
    /// longest-idle connection of that holder; otherwise it gets `421
    /// 4.7.0`. Default 256 (Postfix: `default_process_limit` 100).
    pub max_connections: usize,
    /// Connections one client address (IPv6: one /64) may hold at once;
    /// more get `421 4.7.0`. Clients in [`RelayConfig::mynetworks`] are
    /// exempt, as in Postfix. Default 50 (Postfix:
    /// `smtpd_client_connection_count_limit` 50).
    pub max_connections_per_client: usize,
    /// New connections one client address may open per minute; more get
    /// `421 4.7.0`; 0: no limit. Clients in [`RelayConfig::mynetworks`]
    /// are exempt. Default 120 (Postfix: `smtpd_client_connection_rate_limit`
    /// 0, off, over `anvil_rate_time_unit` 60 s).
    pub max_connection_rate: u32,
    /// The longest SMTP session, however busy: a client dripping bytes is
    /// cut off here. Default 10 minutes (Postfix has none; Exchange's
    /// `ConnectionTimeout` is 10 minutes).
    pub session_deadline: Duration,
    /// The longest time from `354` to the final dot: 5 minutes by default,
    /// enough for the default largest message at 2 Mbit/s.
    pub data_deadline: Duration,
    /// Errors (4xx and 5xx replies) a session may get without a message
    /// accepted; then `421 4.7.0` and the connection is closed; 0: no
    /// limit. Default 20 (Postfix: `smtpd_hard_error_limit` 20).
    pub hard_error_limit: u32,
    /// Client networks that may submit outbound mail without
    /// authentication and that are exempt from the per-client limits
    /// (Postfix: `mynetworks`). Default: loopback only.
    pub mynetworks: Vec<Network>,
    /// Accounts for SMTP AUTH (PLAIN, LOGIN; offered only after STARTTLS)
    /// of outbound clients outside [`RelayConfig::mynetworks`]; none: no
    /// AUTH.
    pub credentials: Option<Arc<Credentials>>,
    /// Deliveries in flight at once. (Deciding about received mail runs on
    /// one thread per core.)
    pub delivery_threads: usize,
    /// Retry and give-up times.
    pub retry: RetrySchedule,
    /// Where RFC 8460 TLS reports are written (one JSON per day and
    /// recipient domain); none: not written.
    pub tls_reports: Option<std::path::PathBuf>,
    /// Send each finished day's reports to the `rua` mail addresses of the
    /// domain's `_smtp._tls` TXT record, looked up with this resolver;
    /// none: the reports are only written.
    pub send_tls_reports: Option<Arc<dyn tls_policy::Dns>>,
    /// A message that would hold this many `Received` fields or more with
    /// the relay's own is refused at the end of DATA with `554 5.4.6` (a
    /// mail loop; RFC 5321 section 6.3 asks for a threshold of at least
    /// 100); 0: no limit. Default 100 (Postfix: `hopcount_limit` 50,
    /// counted the same way).
    pub max_hops: usize,
    /// How long to wait before the greeting for a client that talks first
    /// (`554 5.5.0` and close). Default zero: nobody is delayed, and only
    /// what arrived by the greeting counts (sendmail's `greet_pause`;
    /// Postfix's postscreen waits 6 s).
    pub greet_pause: Duration,
    /// Silence allowed on a connection, and the time one command may take
    /// to arrive (a deadline per command, as Postfix's
    /// `smtpd_per_record_deadline`). Default 300 s (Postfix: `smtpd_timeout`
    /// 300 s).
    pub timeout: Duration,
}

impl RelayConfig {
    /// Defaults for everything but the names and the routing.
    ///
    /// ```
    /// use mailgate_relay::{NextHop, RelayConfig, Routing};
    ///
    /// let mut config = RelayConfig::new(
    ///     "mx.behoerde.example",
    ///     "postmaster@behoerde.example",
    ///     Routing::NextHop(NextHop::new("127.0.0.1:10026")),
    /// );
    /// config.routes.insert("behoerde.example".into(), NextHop::new("mail.intern:25"));
    /// ```
    pub fn new(hostname: &str, postmaster: &str, routing: Routing) -> RelayConfig {
        RelayConfig {
            hostname: hostname.to_owned(),
            postmaster: postmaster.to_owned(),
            direction: Direction::Outbound,
            routing,
            routes: HashMap::new(),
            mta_sts: None,
            tls_anchors: None,
            inbound_tls: None,
            max_message_size: 64 * 1024 * 1024,
            max_connections: 256,
            max_connections_per_client: 50,
            max_connection_rate: 120,
            session_deadline: Duration::from_secs(600),
            data_deadline: Duration::from_secs(300),
            hard_error_limit: 20,
            mynetworks: Network::loopback(),
            credentials: None,
            delivery_threads: 4,
            retry: RetrySchedule::default(),
            tls_reports: None,
            send_tls_reports: None,
            timeout: Duration::from_secs(300),
            max_hops: 100,
            greet_pause: Duration::ZERO,
        }
    }
}

/// A transport profile by the name a policy gives it.
pub(crate) fn profile_by_name(name: &str) -> Option<Profile> {
    match name {
        "bsi-tr-03108" | "bsi" => Some(Profile::bsi_tr_03108()),
        "opportunistic" => Some(Profile::opportunistic()),
        _ => None,
    }
}

/// The relay: one value shared by the listener, the workers and the
/// delivery threads.
///
/// ```no_run
/// use std::net::TcpListener;
/// use std::sync::Arc;
/// use gateway_facade::Gateway;
/// use mailgate_relay::{NextHop, Relay, RelayConfig, Routing};
/// use mailgate_spool::Spool;
///
/// let gateway = Gateway::from_config_file("/etc/mailgate/mailgate.toml".as_ref())?;
/// let spool = Spool::open("/var/spool/mailgate".as_ref())?;
/// let next_hop = Routing::NextHop(NextHop::new("127.0.0.1:10026"));
/// let config = RelayConfig::new("mx.behoerde.example", "postmaster@behoerde.example", next_hop);
/// let relay = Arc::new(Relay::new(config, gateway, spool)?);
/// // From another thread: relay.reload_policy() on SIGHUP, relay.shutdown() on SIGTERM.
/// relay.serve(TcpListener::bind("127.0.0.1:10025")?)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Relay {
    pub(crate) config: RelayConfig,
    pub(crate) gateway: Gateway,
    pub(crate) spool: Spool,
    /// Counts events (mail received, handed over); sleepers wake when it
    /// changes, all of them.
    pub(crate) wake: (Mutex<u64>, Condvar),
    /// Received messages waiting for a retry of their processing, with the
    /// number of attempts and when the next is due.
    pub(crate) deferred: Mutex<HashMap<MessageId, (u32, std::time::SystemTime)>>,
    /// Received messages a worker is deciding about.
    pub(crate) processing: Mutex<HashSet<MessageId>>,
    /// Deliveries a delivery thread is working on.
    pub(crate) in_flight: Mutex<HashSet<DeliveryId>>,
    /// When deferred deliveries are due (seconds since the epoch), so that
    /// looking for work does not read every waiting message.
    pub(crate) not_before: Mutex<HashMap<DeliveryId, u64>>,
    pub(crate) metrics: metrics::Metrics,
    pub(crate) tls_reports: Option<tls_report::TlsReports>,
    /// Servers (`HOST:PORT`) that recently offered no usable TLS, and
    /// since when: mail that may go in clear goes there without trying.
    pub(crate) without_tls: Mutex<HashMap<String, std::time::Instant>>,
    /// The system's trust anchors, loaded on first use.
    pub(crate) system_anchors: std::sync::OnceLock<Result<TrustAnchors, String>>,
    /// Set by [`Relay::shutdown`]: take no new work.
    pub(crate) stopping: std::sync::atomic::AtomicBool,
    /// Where [`Relay::serve`] listens (to wake its accept on shutdown).
    listening: Mutex<Option<std::net::SocketAddr>>,
    /// SMTP sessions in progress, by client.
    clients: Arc<limits::Clients>,
}

impl Relay {
    /// A relay over `gateway` and `spool`, logging to standard error.
    /// Fails only when the TLS report directory cannot be created.
    pub fn new(config: RelayConfig, gateway: Gateway, spool: Spool) -> io::Result<Relay> {
        let spool = spool.with_max_message_size(config.max_message_size);
        let organisation = config
            .postmaster
            .rsplit('@')
            .next()
            .unwrap_or(&config.hostname)
            .to_owned();
        let tls_reports = match &config.tls_reports {
            Some(dir) => Some(tls_report::TlsReports::new(
                dir,
                &organisation,
                &config.postmaster,
            )?),
            None => None,
        };
        Ok(Relay {
            config,
            gateway,
            spool,
            wake: (Mutex::new(0), Condvar::new()),
            deferred: Mutex::new(HashMap::new()),
            processing: Mutex::new(HashSet::new()),
            in_flight: Mutex::new(HashSet::new()),
            not_before: Mutex::new(HashMap::new()),
            metrics: metrics::Metrics::default(),
            tls_reports,
            without_tls: Mutex::new(HashMap::new()),
            system_anchors: std::sync::OnceLock::new(),
            stopping: std::sync::atomic::AtomicBool::new(false),
            listening: Mutex::new(None),
            clients: Arc::new(limits::Clients::default()),
        })
    }

    /// Accepts SMTP clients until accepting fails; starts the worker and
    /// the delivery threads first (they also take over what an earlier run
    /// left in the spool).
    pub fn serve(self: &Arc<Self>, listener: TcpListener) -> io::Result<()> {
        let workers = thread::available_parallelism().map_or(2, usize::from);
        for index in 0..workers {
            let worker = Arc::clone(self);
            thread::Builder::new()
                .name(format!("relay-worker-{index}"))
                .spawn(move || worker.process_forever())?;
        }
        for index in 0..self.config.delivery_threads.max(1) {
            let sender = Arc::clone(self);
            thread::Builder::new()
                .name(format!("relay-delivery-{index}"))
                .spawn(move || sender.deliver_forever())?;
        }
        if let Some(dns) = self.config.send_tls_reports.clone() {
            let reporter = Arc::clone(self);
            thread::Builder::new()
                .name("relay-tls-reports".into())
                .spawn(move || reporter.report_forever(&dns))?;
        }
        *self.listening.lock().unwrap_or_else(|p| p.into_inner()) = listener.local_addr().ok();
        let settings = ServerSettings {
            hostname: self.config.hostname.clone(),
            max_message_size: self.config.max_message_size,
            postmaster: Some(self.config.postmaster.clone()),
            max_hops: self.config.max_hops,
            // The outbound gateway rejects such mail (with a notification);
            // the inbound one quarantines it for an administrator.
            refuse_duplicate_fields: self.config.direction == Direction::Outbound,
            forbid_unauth_pipelining: true,
            greet_pause: self.config.greet_pause,
            peer: None,
            submission: Submission::Anyone,
            // Inbound mail is taken only for the organisation's domains,
            // outbound mail only from them (see `AcceptedDomains`).
            recipients: match self.config.direction {
                Direction::Inbound => self.internal_domains(),
                Direction::Outbound => AcceptedDomains::Any,
            },
            senders: match self.config.direction {
                Direction::Inbound => AcceptedDomains::Any,
                Direction::Outbound => self.internal_domains(),
            },
        };
        let limits = self.limits();
        loop {
            let accepted = listener.accept();
            if self.is_stopping() {
                break;
            }
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    if matches!(
                        error.kind(),
                        io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::Interrupted
                    ) {
                        continue;
                    }
                    // Out of file descriptors (EMFILE) and the like pass:
                    // sessions ending free them. Wait a little rather than
                    // spin or stop serving.
                    // (Linux errno: ENFILE, EMFILE, ENOBUFS, ENOMEM.)
                    if matches!(error.raw_os_error(), Some(23 | 24 | 105 | 12)) {
                        tracing::warn!(%error, "accepting a connection failed");
                        thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                    return Err(error);
                }
            };
            let client = peer.ip();
            let trusted = self.config.mynetworks.iter().any(|n| n.contains(client));
            let stream = Arc::new(stream);
            let handle = Some(Arc::clone(&stream));
            let (ticket, admission) = match self.clients.admit(client, trusted, handle, &limits) {
                Ok(admitted) => admitted,
                Err(refusal) => {
                    self.metrics.refused(refusal);
                    tracing::info!(%client, limit = refusal.label(), "connection refused");
                    limits::refuse(&stream, &refusal.reply(&self.config.hostname));
                    continue;
                }
            };
            if admission.evicted {
                metrics::Metrics::count(&self.metrics.evicted, 1);
            }
            let mut settings = settings.clone();
            settings.peer = Some(client);
            if self.config.direction == Direction::Outbound {
                settings.submission = Submission::Restricted {
                    client_trusted: trusted,
                    credentials: self.config.credentials.clone(),
                };
            }
            let relay = Arc::clone(self);
            let spawned = thread::Builder::new()
                .name("relay-smtp".into())
                .spawn(move || {
                    let state = Arc::clone(&ticket.state);
                    let stream = limits::Guarded::new(stream, Arc::clone(&state), limits);
                    if let Err(error) = relay.serve_one(&settings, stream) {
                        tracing::info!(%error, %client, "SMTP session ended");
                    }
                    relay.metrics.session_ended(&state);
                    if let Some(cut) = state.cut() {
                        tracing::info!(%client, limit = cut.label(), "SMTP session cut off");
                    }
                    // Frees the slot.
                    drop(ticket);
                });
            if let Err(error) = spawned {
                // The ticket went with the closure and freed its slot.
                tracing::warn!(%error, "no thread for an SMTP session");
            }
        }
        self.drain();
        Ok(())
    }

    /// Sends finished days' TLS reports now and then, until stopped.
    fn report_forever(&self, dns: &Arc<dyn tls_policy::Dns>) {
        while !self.is_stopping() {
            self.send_due_tls_reports(dns);
            let next = std::time::Instant::now() + tls_report_mail::REPORT_INTERVAL;
            while !self.is_stopping() && std::time::Instant::now() < next {
                self.sleep(Duration::from_secs(1));
            }
        }
    }

    /// Re-reads the policy; mail decided from now on follows the new one.
    /// An invalid policy is refused and the old one stays.
    pub fn reload_policy(&self) -> Result<(), gateway_facade::Error> {
        let result = self.gateway.reload_policy();
        match &result {
            Ok(()) => tracing::info!("policy reloaded"),
            Err(error) => tracing::error!(%error, "policy not reloaded, the old one stays"),
        }
        result
    }

    /// Stops taking new work: [`Relay::serve`] stops accepting, lets the
    /// SMTP sessions, decisions and deliveries in progress finish (for at
    /// most the connection timeout), and returns. What is in the spool waits
    /// there for the next start.
    pub fn shutdown(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        tracing::info!("shutting down");
        self.notify();
        // Wake the accept call.
        let address = *self.listening.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(address) = address {
            let _ = TcpStream::connect_timeout(&address, Duration::from_secs(1));
        }
    }

    /// The policy's `internal_domains`, as the policy in force has them.
    fn internal_domains(self: &Arc<Self>) -> AcceptedDomains {
        let relay = Arc::clone(self);
        AcceptedDomains::Only(Arc::new(move |domain| {
            relay.gateway.is_internal_domain(domain)
        }))
    }

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits until no session, decision or delivery is in progress.
    fn drain(&self) {
        let deadline = std::time::Instant::now() + self.config.timeout;
        loop {
            let sessions = self.clients.active();
            let deciding = self
                .processing
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len();
            let delivering = self
                .in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .len();
            if sessions + deciding + delivering == 0 || std::time::Instant::now() > deadline {
                tracing::info!(
                    cut_off_sessions = sessions,
                    cut_off_decisions = deciding,
                    cut_off_deliveries = delivering,
                    "stopped"
                );
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// The limits of SMTP sessions, from the configuration.
    fn limits(&self) -> limits::Limits {
        let config = &self.config;
        limits::Limits {
            max_connections: config.max_connections,
            max_connections_per_client: config.max_connections_per_client,
            max_connection_rate: config.max_connection_rate,
            rate_window: Duration::from_secs(60),
            timeout: config.timeout,
            session_deadline: config.session_deadline,
            data_deadline: config.data_deadline,
            hard_error_limit: config.hard_error_limit,
        }
    }

    fn serve_one(&self, settings: &ServerSettings, stream: limits::Guarded) -> io::Result<()> {
        metrics::Metrics::count(&self.metrics.smtp_sessions, 1);
        stream.set_nodelay(true)?;
        starttls::serve_connection(
            settings,
            &self.spool,
            stream,
            self.config.inbound_tls.as_ref(),
            &mut |id| {
                metrics::Metrics::count(&self.metrics.received, 1);
                tracing::info!(queue_id = %id, "received");
                self.notify();
            },
        )
    }

    /// Wakes the workers and the delivery threads.
    pub(crate) fn notify(&self) {
        let (events, condvar) = &self.wake;
        let mut events = events.lock().unwrap_or_else(|p| p.into_inner());
        *events = events.wrapping_add(1);
        condvar.notify_all();
    }

    /// Waits until notified or `timeout` passed.
    pub(crate) fn sleep(&self, timeout: Duration) {
        let (events, condvar) = &self.wake;
        let guard = events.lock().unwrap_or_else(|p| p.into_inner());
        let seen = *guard;
        let _ = condvar
            .wait_timeout_while(guard, timeout, |now| *now == seen)
            .unwrap_or_else(|p| p.into_inner());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_the_maximum() {
        let retry = RetrySchedule::default();
        assert_eq!(retry.wait(1), Duration::from_secs(60));
        assert_eq!(retry.wait(2), Duration::from_secs(120));
        assert_eq!(retry.wait(7), Duration::from_secs(3600));
        assert_eq!(retry.wait(200), Duration::from_secs(3600));
    }
}
