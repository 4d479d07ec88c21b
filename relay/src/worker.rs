//! The relay's two loops: deciding about received messages, and delivering.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gateway_facade::{Disposition, Envelope, SpooledMessage};
use mailgate_spool::{Delivery, DeliveryId, MessageId, SpoolError};

use crate::Relay;
use crate::dsn::{Failure, bounce};
use crate::metrics::Metrics;
use crate::smtp_client::Sent;

/// How often the loops look at the spool when nothing woke them.
const IDLE: Duration = Duration::from_secs(1);

fn unix(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Relay {
    /// Decides about every received message, forever.
    pub(crate) fn process_forever(&self) {
        while !self.is_stopping() {
            match self.spool.received() {
                Ok(ids) => {
                    for id in ids {
                        if self.is_stopping() {
                            break;
                        }
                        if !self.due_for_processing(&id) || !self.claim_message(&id) {
                            continue;
                        }
                        // A bug in the gateway must not cost the relay a worker
                        // thread (or leave the message claimed forever).
                        let processed =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                self.process(&id)
                            }));
                        match processed {
                            // Another worker decided about it since the
                            // listing was taken.
                            Ok(Ok(())) | Ok(Err(SpoolError::NotFound(_))) => {}
                            Ok(Err(error)) => {
                                tracing::warn!(queue_id = %id, %error, "processing failed, will retry");
                                self.defer_processing(&id);
                            }
                            Err(_) => {
                                tracing::error!(queue_id = %id, "processing panicked (a bug), will retry");
                                self.defer_processing(&id);
                            }
                        }
                        self.processing
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .remove(&id);
                    }
                }
                Err(error) => tracing::error!(%error, "reading the spool"),
            }
            self.sleep(IDLE);
        }
    }

    /// Whether this worker may decide about `id` (no other one is).
    fn claim_message(&self, id: &MessageId) -> bool {
        self.processing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone())
    }

    fn due_for_processing(&self, id: &MessageId) -> bool {
        let deferred = self.deferred.lock().unwrap_or_else(|p| p.into_inner());
        deferred
            .get(id)
            .is_none_or(|(_, next)| *next <= SystemTime::now())
    }

    fn defer_processing(&self, id: &MessageId) {
        let mut deferred = self.deferred.lock().unwrap_or_else(|p| p.into_inner());
        let entry = deferred.entry(id.clone()).or_insert((0, SystemTime::now()));
        entry.0 += 1;
        entry.1 = SystemTime::now() + self.config.retry.wait(entry.0);
    }

    /// Runs one received message through the gateway and hands its
    /// dispositions over as deliveries.
    fn process(&self, id: &MessageId) -> Result<(), SpoolError> {
        // Large mail goes to a temporary file and through the gateway's
        // streaming path: memory does not grow with the message.
        let (envelope, message) = self
            .spool
            .open_received(id, |reader| SpooledMessage::read_from(reader))?;
        let received_at = envelope
            .first_received
            .unwrap_or_else(|| self.received_at(id));
        let outcome = self.gateway.process_spooled(
            &Envelope {
                direction: self.config.direction,
                sender: envelope.sender.clone(),
                recipients: envelope.recipients.clone(),
            },
            &message,
        );
        let mut deliveries: Vec<(Delivery, SpooledMessage)> = Vec::new();
        let mut deferred: Vec<String> = Vec::new();
        let mut reasons: Vec<String> = Vec::new();
        let mut summary: Vec<String> = Vec::new();
        for (index, disposition) in outcome.dispositions.iter().enumerate() {
            summary.push(format!(
                "{} {}",
                disposition.kind(),
                disposition.recipients().join(",")
            ));
            match disposition {
                Disposition::Deliver {
                    recipients,
                    message,
                    transport,
                    notification,
                } => {
                    let mut delivery = Delivery::new(&envelope.sender, recipients.clone());
                    delivery.require_tls = transport.require_tls.clone().map(String::from);
                    delivery.received_at = received_at;
                    deliveries.push((delivery, message.clone()));
                    if let Some(notification) = notification
                        && !envelope.sender.is_empty()
                    {
                        let mut to_sender = Delivery::new("", vec![envelope.sender.clone()]);
                        to_sender.received_at = received_at;
                        deliveries.push((to_sender, notification.clone().into()));
                    }
                }
                Disposition::Reject {
                    recipients, reason, ..
                } => {
                    if !envelope.sender.is_empty() {
                        let failures: Vec<Failure> = recipients
                            .iter()
                            .map(|r| Failure {
                                recipient: r.clone(),
                                status: "5.7.1".into(),
                                diagnostic: reason.clone(),
                            })
                            .collect();
                        Metrics::count(&self.metrics.bounced_recipients, failures.len() as u64);
                        deliveries.push(spooled_bounce(self.bounce_delivery(
                            &envelope.sender,
                            &failures,
                            &header_section(&message)?,
                        )));
                    }
                }
                Disposition::Defer { recipients, reason } => {
                    deferred.extend(recipients.iter().cloned());
                    reasons.push(reason.clone());
                }
                Disposition::Quarantine {
                    recipients,
                    reason,
                    message,
                } => {
                    let held = Delivery::new(&envelope.sender, recipients.clone());
                    let path = self.spool.hold(
                        id,
                        index,
                        &held,
                        message.reader().map_err(gateway_spool)?,
                    )?;
                    Metrics::count(&self.metrics.held, 1);
                    tracing::warn!(queue_id = %id, path = %path.display(), %reason, "held for an administrator");
                }
            }
        }
        if !deferred.is_empty() {
            let age = unix(SystemTime::now()).saturating_sub(received_at);
            if age > self.config.retry.give_up_after.as_secs() {
                let failures: Vec<Failure> = deferred
                    .iter()
                    .map(|r| Failure {
                        recipient: r.clone(),
                        status: "4.7.0".into(),
                        diagnostic: format!("gave up: {}", reasons.join("; ")),
                    })
                    .collect();
                if !envelope.sender.is_empty() {
                    deliveries.push(spooled_bounce(self.bounce_delivery(
                        &envelope.sender,
                        &failures,
                        &header_section(&message)?,
                    )));
                }
            } else if deliveries.is_empty() && deferred.len() == envelope.recipients.len() {
                // Nothing else to do: keep the message as it is.
                tracing::info!(queue_id = %id, reason = %reasons.join("; "), "decision deferred");
                self.defer_processing(id);
                return Ok(());
            } else {
                let again = self.spool.receive(
                    &mailgate_spool::Envelope {
                        sender: envelope.sender.clone(),
                        recipients: deferred,
                        // The queue lifetime counts from the first receipt.
                        first_received: Some(received_at),
                    },
                    message.reader().map_err(gateway_spool)?,
                )?;
                self.defer_processing(&again);
            }
        }
        let mut readers = Vec::with_capacity(deliveries.len());
        for (delivery, message) in &deliveries {
            readers.push((delivery.clone(), message.reader().map_err(gateway_spool)?));
        }
        self.spool.hand_over_from(id, readers)?;
        self.deferred
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        tracing::info!(queue_id = %id, dispositions = %summary.join("; "), "decided");
        self.notify();
        Ok(())
    }

    /// When the message was received: the time in its id.
    fn received_at(&self, id: &MessageId) -> u64 {
        id.as_str()
            .split('-')
            .next()
            .and_then(|hex| u128::from_str_radix(hex, 16).ok())
            .map_or_else(
                || unix(SystemTime::now()),
                |nanos| u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX),
            )
    }

    fn bounce_delivery(
        &self,
        sender: &str,
        failures: &[Failure],
        original: &[u8],
    ) -> (Delivery, Vec<u8>) {
        let report = bounce(
            &self.config.hostname,
            &self.config.postmaster,
            sender,
            failures,
            original,
            SystemTime::now(),
        );
        let mut delivery = Delivery::new("", vec![sender.to_owned()]);
        delivery.received_at = unix(SystemTime::now());
        (delivery, report)
    }

    /// Delivers due deliveries, forever.
    pub(crate) fn deliver_forever(&self) {
        while !self.is_stopping() {
            match self.claim() {
                Some((id, delivery, message)) => {
                    let delivered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        self.deliver(&id, delivery, &message);
                    }));
                    if delivered.is_err() {
                        tracing::error!(delivery = %id, "delivery panicked (a bug), it stays queued");
                    }
                    self.in_flight
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&id);
                }
                None => self.sleep(IDLE),
            }
        }
    }

    /// The next due delivery no other thread is working on.
    fn claim(&self) -> Option<(DeliveryId, Delivery, Vec<u8>)> {
        let ids = match self.spool.deliveries() {
            Ok(ids) => ids,
            Err(error) => {
                tracing::error!(%error, "reading the spool");
                return None;
            }
        };
        let now = unix(SystemTime::now());
        for id in ids {
            let known_later = self
                .not_before
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(&id)
                .is_some_and(|due| *due > now);
            if known_later
                || !self
                    .in_flight
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id.clone())
            {
                continue;
            }
            match self.spool.read_delivery(&id) {
                Ok((delivery, message)) if delivery.not_before <= now => {
                    return Some((id, delivery, message));
                }
                Ok((delivery, _)) => {
                    self.not_before
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(id.clone(), delivery.not_before);
                }
                Err(SpoolError::NotFound(_)) => {}
                Err(error) => tracing::error!(delivery = %id, %error, "reading a delivery"),
            }
            self.in_flight
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
        }
        None
    }

    fn deliver(&self, id: &DeliveryId, delivery: Delivery, message: &[u8]) {
        let Sent {
            accepted,
            temporary,
            permanent,
        } = self.attempt(&delivery, message);
        if !accepted.is_empty() {
            Metrics::count(&self.metrics.delivered_recipients, accepted.len() as u64);
            tracing::info!(delivery = %id, recipients = %accepted.join(","), "delivered");
        }
        let age = unix(SystemTime::now()).saturating_sub(delivery.received_at);
        let give_up = age > self.config.retry.give_up_after.as_secs();
        let mut failures: Vec<Failure> = permanent
            .iter()
            .map(|(recipient, reason)| Failure {
                recipient: recipient.clone(),
                status: status_of(reason, "5.0.0"),
                diagnostic: reason.clone(),
            })
            .collect();
        if give_up {
            failures.extend(temporary.iter().map(|(recipient, reason)| Failure {
                recipient: recipient.clone(),
                status: "4.4.7".into(),
                diagnostic: format!("gave up after {} attempts: {reason}", delivery.attempts + 1),
            }));
        }
        if !failures.is_empty() {
            if delivery.sender.is_empty() {
                let reasons: Vec<&str> = failures.iter().map(|f| f.diagnostic.as_str()).collect();
                tracing::warn!(delivery = %id, reason = %reasons.join("; "), "a bounce could not be delivered, dropped");
            } else {
                let (bounce, report) = self.bounce_delivery(&delivery.sender, &failures, message);
                if let Err(error) = self.spool.add_delivery(&bounce, &report) {
                    // Without the bounce stored, the delivery must stay.
                    tracing::error!(delivery = %id, %error, "storing the bounce failed, will retry");
                    return;
                }
                Metrics::count(&self.metrics.bounced_recipients, failures.len() as u64);
                let recipients: Vec<&str> = failures.iter().map(|f| f.recipient.as_str()).collect();
                let reasons: Vec<&str> = failures.iter().map(|f| f.diagnostic.as_str()).collect();
                tracing::info!(delivery = %id, recipients = %recipients.join(","), reason = %reasons.join("; "), "bounced");
            }
        }
        let result = if temporary.is_empty() || give_up {
            self.not_before
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(id);
            self.spool.delivered(id)
        } else {
            let attempts = delivery.attempts + 1;
            let retry = Delivery {
                recipients: temporary.iter().map(|(r, _)| r.clone()).collect(),
                attempts,
                not_before: unix(SystemTime::now() + self.config.retry.wait(attempts)),
                ..delivery
            };
            Metrics::count(&self.metrics.deferred_attempts, 1);
            let recipients: Vec<&str> = temporary.iter().map(|(r, _)| r.as_str()).collect();
            let reasons: Vec<String> = temporary
                .iter()
                .map(|(recipient, reason)| format!("{recipient}: {reason}"))
                .collect();
            tracing::info!(
                delivery = %id,
                recipients = %recipients.join(","),
                attempt = attempts,
                reason = %reasons.join("; "),
                "delivery deferred"
            );
            self.not_before
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(id.clone(), retry.not_before);
            self.spool.update(id, &retry)
        };
        if let Err(error) = result {
            tracing::error!(delivery = %id, %error, "updating the spool failed");
        }
    }
}

/// The enhanced status code in a reply like `550 5.1.1 ...`, or `default`.
fn status_of(reply: &str, default: &str) -> String {
    reply
        .split_whitespace()
        .find(|word| {
            let parts: Vec<&str> = word.split('.').collect();
            parts.len() == 3
                && matches!(parts.first(), Some(&"4") | Some(&"5"))
                && parts
                    .iter()
                    .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .unwrap_or(default)
        .to_owned()
}

/// A message in a temporary file of the gateway could not be read back.
fn gateway_spool(source: std::io::Error) -> SpoolError {
    SpoolError::Io {
        path: std::env::temp_dir(),
        source,
    }
}

/// The header section of a message (all a bounce quotes of it); nothing
/// for a message without a sensible one.
fn header_section(message: &SpooledMessage) -> Result<Vec<u8>, SpoolError> {
    let mut reader = std::io::BufReader::new(message.reader().map_err(gateway_spool)?);
    match mail_message::stream::read_header_section(&mut reader, 1024 * 1024) {
        Ok(header) => Ok(header),
        Err(error) if error.kind() == std::io::ErrorKind::InvalidData => Ok(Vec::new()),
        Err(error) => Err(gateway_spool(error)),
    }
}

fn spooled_bounce((delivery, report): (Delivery, Vec<u8>)) -> (Delivery, SpooledMessage) {
    (delivery, report.into())
}
