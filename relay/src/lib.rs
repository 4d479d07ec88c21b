//! `mailgate relay`: an SMTP relay around the gateway that loses no mail.
//!
//! ```text
//!  client ──SMTP──▶ receive ──fsync──▶ spool/incoming ──gateway──▶ spool/outgoing ──SMTP/TLS──▶ next hop
//!                   (250 only after                    (one delivery per           (bounce to the sender
//!                    the fsync)                         recipient group)             on 5xx or give-up)
//! ```
//!
//! - **Receive** ([`Relay::serve`]): ESMTP with PIPELINING, 8BITMIME, SIZE,
//!   SMTPUTF8; a message is acknowledged only once [`mailgate_spool`] has it
//!   on disk.
//! - **Decide**: a worker runs each received message through
//!   [`Gateway::process`]. Deliver dispositions become deliveries (with the
//!   policy's TLS requirement), rejects become RFC 3464 bounces to the
//!   sender, quarantined mail is held in the spool, deferred recipients are
//!   processed again later with backoff.
//! - **Deliver**: delivery threads send each due delivery, per recipient
//!   domain, to a static route, the smart host, or the domain's mail
//!   exchangers ([`Routing`]). A delivery that requires TLS goes only over a
//!   connection that [`tls_policy::Prober::connect_for_delivery`] judged on
//!   that very connection; DANE (RFC 7672) is enforced wherever DNSSEC
//!   publishes TLSA records; everything else uses STARTTLS where offered.
//!   4xx and connection trouble retry with backoff; 5xx, a null MX, a
//!   domain that does not exist, or giving up after the queue lifetime,
//!   bounce.
//!
//! A crash at any point loses nothing acknowledged and delivers at most one
//! duplicate per delivery.
#![forbid(unsafe_code)]

mod delivery;
mod dsn;
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

pub use crate::delivery::{NextHop, Routing};
pub use crate::smtp_client::submit;
pub use crate::smtp_server::{ServerSettings, serve_client};
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
    /// SMTP clients served at once.
    pub max_connections: usize,
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
    /// Silence allowed on a connection.
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
            delivery_threads: 4,
            retry: RetrySchedule::default(),
            tls_reports: None,
            send_tls_reports: None,
            timeout: Duration::from_secs(300),
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
    /// SMTP sessions in progress.
    sessions: Arc<(Mutex<usize>, Condvar)>,
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
            sessions: Arc::new((Mutex::new(0), Condvar::new())),
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
        let slots = Arc::clone(&self.sessions);
        let settings = ServerSettings {
            hostname: self.config.hostname.clone(),
            max_message_size: self.config.max_message_size,
        };
        loop {
            wait_for_slot(&slots, self.config.max_connections.max(1));
            let accepted = listener.accept();
            if self.is_stopping() {
                release_slot(&slots);
                break;
            }
            let stream = match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    release_slot(&slots);
                    if matches!(
                        error.kind(),
                        io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::Interrupted
                    ) {
                        continue;
                    }
                    return Err(error);
                }
            };
            let relay = Arc::clone(self);
            let slots_for_client = Arc::clone(&slots);
            let settings = settings.clone();
            let spawned = thread::Builder::new()
                .name("relay-smtp".into())
                .spawn(move || {
                    if let Err(error) = relay.serve_one(&settings, stream) {
                        tracing::info!(%error, "SMTP session ended");
                    }
                    release_slot(&slots_for_client);
                });
            if spawned.is_err() {
                release_slot(&slots);
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

    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Waits until no session, decision or delivery is in progress.
    fn drain(&self) {
        let deadline = std::time::Instant::now() + self.config.timeout;
        loop {
            let sessions = *self.sessions.0.lock().unwrap_or_else(|p| p.into_inner());
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

    fn serve_one(&self, settings: &ServerSettings, stream: TcpStream) -> io::Result<()> {
        metrics::Metrics::count(&self.metrics.smtp_sessions, 1);
        stream.set_read_timeout(Some(self.config.timeout))?;
        stream.set_write_timeout(Some(self.config.timeout))?;
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

fn wait_for_slot(slots: &(Mutex<usize>, Condvar), max: usize) {
    let (count, freed) = slots;
    let mut active = count.lock().unwrap_or_else(|p| p.into_inner());
    while *active >= max {
        active = freed.wait(active).unwrap_or_else(|p| p.into_inner());
    }
    *active += 1;
}

fn release_slot(slots: &(Mutex<usize>, Condvar)) {
    let (count, freed) = slots;
    let mut active = count.lock().unwrap_or_else(|p| p.into_inner());
    *active = active.saturating_sub(1);
    freed.notify_one();
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
