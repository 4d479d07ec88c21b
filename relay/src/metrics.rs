//! Counters in the Prometheus text exposition format, served over HTTP on
//! a listener of the operator's choice (loopback).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use crate::Relay;

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
}

impl Metrics {
    pub(crate) fn count(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn render(&self, waiting_received: usize, waiting_deliveries: usize) -> String {
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
                        let body = relay.metrics.render(received, deliveries);
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
