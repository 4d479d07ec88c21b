//! Counters in the Prometheus text exposition format, served over HTTP on
//! a listener of the operator's choice (loopback).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use crate::Relay;
use crate::limits::{Cut, Refusal, SessionState};

/// What the relay counts since it started.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    pub(crate) received: AtomicU64,
    pub(crate) delivered_recipients: AtomicU64,
    pub(crate) deferred_attempts: AtomicU64,
    pub(crate) bounced_recipients: AtomicU64,
    pub(crate) held: AtomicU64,
    pub(crate) smtp_sessions: AtomicU64,
    pub(crate) tls_refused: AtomicU64,
    pub(crate) tls_sessions: AtomicU64,
    pub(crate) plain_sessions: AtomicU64,
    /// Connections refused with 421 at accept, by limit.
    refused_total: AtomicU64,
    refused_per_client: AtomicU64,
    refused_rate: AtomicU64,
    /// Sessions whose slot went to a client holding fewer.
    pub(crate) evicted: AtomicU64,
    /// Sessions cut off, by limit.
    cut_session_deadline: AtomicU64,
    cut_data_deadline: AtomicU64,
    cut_timeout: AtomicU64,
    cut_hard_errors: AtomicU64,
    /// MAIL refused: the client may not submit (554 5.7.1), the sender is
    /// not the authenticated client's (553 5.7.1).
    submission_refused_client: AtomicU64,
    submission_refused_sender: AtomicU64,
    /// Failed SMTP AUTH attempts (535 5.7.8).
    auth_failed: AtomicU64,
}

impl Metrics {
    pub(crate) fn count(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// A connection was refused at accept.
    pub(crate) fn refused(&self, refusal: Refusal) {
        let counter = match refusal {
            Refusal::Total => &self.refused_total,
            Refusal::PerClient => &self.refused_per_client,
            Refusal::Rate => &self.refused_rate,
        };
        Metrics::count(counter, 1);
    }

    /// A session ended: what cut it off, and what it was refused.
    pub(crate) fn session_ended(&self, state: &SessionState) {
        let cut = match state.cut() {
            Some(Cut::SessionDeadline) => Some(&self.cut_session_deadline),
            Some(Cut::DataDeadline) => Some(&self.cut_data_deadline),
            Some(Cut::Timeout) => Some(&self.cut_timeout),
            Some(Cut::HardErrors) => Some(&self.cut_hard_errors),
            // Counted when it happened.
            Some(Cut::Evicted) | None => None,
        };
        if let Some(counter) = cut {
            Metrics::count(counter, 1);
        }
        let counts = &state.counts;
        let take = |c: &std::sync::atomic::AtomicU32| u64::from(c.load(Ordering::Relaxed));
        Metrics::count(
            &self.submission_refused_client,
            take(&counts.client_refused),
        );
        Metrics::count(
            &self.submission_refused_sender,
            take(&counts.sender_refused),
        );
        Metrics::count(&self.auth_failed, take(&counts.auth_failed));
    }

    fn render(
        &self,
        waiting_received: usize,
        waiting_deliveries: usize,
        connections: usize,
    ) -> String {
        let mut text = String::new();
        let mut counter = |name: &str, help: &str, value: u64| {
            text.push_str(&format!(
                "# HELP mailgate_relay_{name} {help}\n# TYPE mailgate_relay_{name} counter\nmailgate_relay_{name} {value}\n"
            ));
        };
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter(
            "received_total",
            "Messages received and acknowledged.",
            get(&self.received),
        );
        counter(
            "delivered_recipients_total",
            "Recipients the next hop accepted.",
            get(&self.delivered_recipients),
        );
        counter(
            "deferred_attempts_total",
            "Delivery attempts that will be retried.",
            get(&self.deferred_attempts),
        );
        counter(
            "bounced_recipients_total",
            "Recipients reported back to the sender as undeliverable.",
            get(&self.bounced_recipients),
        );
        counter(
            "held_total",
            "Messages held for an administrator.",
            get(&self.held),
        );
        counter(
            "smtp_sessions_total",
            "SMTP client sessions.",
            get(&self.smtp_sessions),
        );
        counter(
            "tls_refused_total",
            "Deliveries not made because the next hop's TLS did not meet the profile.",
            get(&self.tls_refused),
        );
        counter(
            "outbound_tls_sessions_total",
            "Delivery connections that used TLS.",
            get(&self.tls_sessions),
        );
        counter(
            "outbound_plain_sessions_total",
            "Delivery connections in clear (the receiving server offered no usable TLS and neither policy nor DANE required it).",
            get(&self.plain_sessions),
        );
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut labelled = |name: &str, help: &str, label: &str, values: &[(&str, u64)]| {
            text.push_str(&format!(
                "# HELP mailgate_relay_{name} {help}\n# TYPE mailgate_relay_{name} counter\n"
            ));
            for (value_label, value) in values {
                text.push_str(&format!(
                    "mailgate_relay_{name}{{{label}=\"{value_label}\"}} {value}\n"
                ));
            }
        };
        labelled(
            "smtp_connections_refused_total",
            "SMTP connections refused with 421 4.7.0 at accept, by the limit that refused them.",
            "limit",
            &[
                ("total", get(&self.refused_total)),
                ("per_client", get(&self.refused_per_client)),
                ("rate", get(&self.refused_rate)),
            ],
        );
        labelled(
            "smtp_sessions_cut_total",
            "SMTP sessions ended by a limit: a deadline, silence, too many errors, or eviction for a client holding fewer connections.",
            "limit",
            &[
                ("session_deadline", get(&self.cut_session_deadline)),
                ("data_deadline", get(&self.cut_data_deadline)),
                ("timeout", get(&self.cut_timeout)),
                ("hard_errors", get(&self.cut_hard_errors)),
                ("evicted", get(&self.evicted)),
            ],
        );
        labelled(
            "submission_refused_total",
            "MAIL commands refused: the client may not submit (554 5.7.1) or may not use the sender (553 5.7.1).",
            "reason",
            &[
                ("client", get(&self.submission_refused_client)),
                ("sender", get(&self.submission_refused_sender)),
            ],
        );
        let auth_failed = get(&self.auth_failed);
        text.push_str(&format!(
            "# HELP mailgate_relay_auth_failures_total SMTP AUTH attempts with invalid credentials.\n\
             # TYPE mailgate_relay_auth_failures_total counter\n\
             mailgate_relay_auth_failures_total {auth_failed}\n"
        ));
        text.push_str(&format!(
            "# HELP mailgate_relay_smtp_connections SMTP sessions in progress.\n\
             # TYPE mailgate_relay_smtp_connections gauge\n\
             mailgate_relay_smtp_connections {connections}\n"
        ));
        text.push_str(&format!(
            "# HELP mailgate_relay_spool_messages Entries in the spool.\n\
             # TYPE mailgate_relay_spool_messages gauge\n\
             mailgate_relay_spool_messages{{stage=\"received\"}} {waiting_received}\n\
             mailgate_relay_spool_messages{{stage=\"deliveries\"}} {waiting_deliveries}\n"
        ));
        text
    }
}

impl Relay {
    /// Serves `GET /metrics` on `listener` from a thread of its own.
    pub fn serve_metrics(self: &Arc<Self>, listener: TcpListener) -> std::io::Result<()> {
        let relay = Arc::clone(self);
        thread::Builder::new()
            .name("relay-metrics".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let Ok(reader) = stream.try_clone() else {
                        continue;
                    };
                    let mut request = String::new();
                    if BufReader::new(reader.take(8192))
                        .read_line(&mut request)
                        .is_err()
                    {
                        continue;
                    }
                    let response = if request.starts_with("GET /metrics ") {
                        let received = relay.spool.received().map_or(0, |r| r.len());
                        let deliveries = relay.spool.deliveries().map_or(0, |d| d.len());
                        let body =
                            relay
                                .metrics
                                .render(received, deliveries, relay.clients.active());
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\n\
                             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    } else {
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_owned()
                    };
                    let mut stream = stream;
                    let _ = stream.write_all(response.as_bytes());
                }
            })?;
        Ok(())
    }
}
