//! The gateway as a milter (feature `gateway`): [`GatewayFilter`] hands each
//! mail to a [`gateway_facade::Gateway`] and turns its outcome into what a
//! milter can answer.
//!
//! A milter sees one mail with all its recipients and can only change it for
//! all of them, or refuse it for all of them. So the gateway's dispositions
//! map onto the milter as follows ([`decide`]), failing closed wherever they
//! do not fit:
//!
//! | outcome | milter answer |
//! |---|---|
//! | one *deliver* for every recipient | the message is replaced by the gateway's (signed, encrypted, annotated) |
//! | one *quarantine* for every recipient | replaced, and held by the MTA (Postfix: hold queue) |
//! | only *reject* | `550 5.7.1` with the reasons (the client bounces to the sender) |
//! | any *defer* | `451 4.7.1` (the client retries) |
//! | different treatment per recipient | `451 4.7.0`: route such mail through an SMTP relay such as `mailgate relay` |
//! | a TLS requirement the MTA does not enforce | `451 4.7.5` |
//! | a notification to send (password fallback) | sent through the [`Notifier`] first, then replaced; without one, or if sending fails, `451 4.7.0` |
//!
//! A replacement identical to the received mail becomes no change at all on
//! the wire; otherwise the session turns it into header edits and a new body.

use std::error::Error as StdError;
use std::fmt;

use gateway_facade::{Direction, Disposition, Envelope, Gateway};

use crate::{Decision, Filter, Mail, Reply};

/// How [`GatewayFilter`] tells inbound from outbound mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DirectionMode {
    /// Per mail from the MTA's macros: outbound when `{daemon_name}` equals
    /// the originating daemon's name (Postfix: `-o
    /// milter_macro_daemon_name=ORIGINATING` on the submission service) or
    /// the client authenticated (`{auth_authen}` is set), inbound otherwise.
    #[default]
    Auto,
    /// Everything is inbound (from the internet).
    Inbound,
    /// Everything is outbound (from the organisation).
    Outbound,
}

/// Why a notification could not be sent; its text becomes part of the
/// `451 4.7.0` reply.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NotifyError(Box<dyn StdError + Send + Sync>);

impl NotifyError {
    /// Wraps whatever the sending failed with.
    pub fn new(error: impl Into<Box<dyn StdError + Send + Sync>>) -> NotifyError {
        NotifyError(error.into())
    }
}

/// Sends the gateway's notifications to a sender (the password of a
/// password-protected delivery), for example over SMTP to an MTA listener
/// this milter does not filter.
///
/// Any `Fn(&str, &[u8]) -> Result<(), E>` is a notifier, with `E` any
/// error (or `String`):
///
/// ```
/// use mailgate_milter::gateway::Notifier;
///
/// let log = |sender: &str, notification: &[u8]| -> Result<(), String> {
///     eprintln!("{} bytes for {sender}", notification.len());
///     Ok(())
/// };
/// assert!(log.notify("alice@behoerde.example", b"Password: x").is_ok());
/// ```
pub trait Notifier: Send + Sync {
    /// Delivers `notification` (a whole RFC 5322 message) to `sender`;
    /// `Ok` only once it is in someone else's responsibility.
    fn notify(&self, sender: &str, notification: &[u8]) -> Result<(), NotifyError>;
}

impl<F, E> Notifier for F
where
    F: Fn(&str, &[u8]) -> Result<(), E> + Send + Sync,
    E: Into<Box<dyn StdError + Send + Sync>>,
{
    fn notify(&self, sender: &str, notification: &[u8]) -> Result<(), NotifyError> {
        self(sender, notification).map_err(NotifyError::new)
    }
}

/// A milter [`Filter`] that lets a [`Gateway`] decide each mail.
///
/// ```
/// use std::io::Cursor;
/// use std::sync::Arc;
///
/// use gateway_facade::store::SqliteDirectory;
/// use gateway_facade::Gateway;
/// use mailgate_milter::gateway::{DirectionMode, GatewayFilter};
/// use mailgate_milter::{Command, Limits, Negotiation, Actions, Protocol, serve_connection};
///
/// let policy = r#"
///     [policy]
///     name = "example"
///     internal_domains = ["behoerde.example"]
///     [[rules]]
///     id = "no-mail-to-rivals"
///     when = { direction = "outbound", recipient_domain = "rival.example" }
///     then = { block = "mail to rival.example is not allowed" }
///     [default]
///     then = { deliver = true }
/// "#;
/// let (policy, _warnings) = rule_engine::Policy::parse(policy, "policy.toml")?;
/// let gateway = Gateway::new(
///     policy,
///     "policy.toml".as_ref(),
///     Arc::new(SqliteDirectory::in_memory()?),
///     Vec::new(),
///     "postmaster@behoerde.example",
/// );
/// let filter = GatewayFilter::new(gateway).direction(DirectionMode::Outbound);
/// // `mailgate_milter::Server::new(Arc::new(filter)).serve(listener)` serves
/// // an MTA; here one conversation is played as Postfix would.
/// # let commands = [
/// #     Command::Negotiate(Negotiation { version: 6, actions: Actions::from_bits(0x1ff), protocol: Protocol::NONE }),
/// #     Command::Mail(vec!["<alice@behoerde.example>".into()]),
/// #     Command::Recipient(vec!["<eve@rival.example>".into()]),
/// #     Command::Header { name: "Subject".into(), value: b"Offer".to_vec() },
/// #     Command::EndOfHeaders,
/// #     Command::EndOfMessage(b"Our prices\r\n".to_vec()),
/// #     Command::Quit,
/// # ];
/// # let mut wire = Vec::new();
/// # for command in &commands {
/// #     let (code, data) = command.encode();
/// #     wire.extend_from_slice(&u32::try_from(data.len() + 1)?.to_be_bytes());
/// #     wire.push(code);
/// #     wire.extend_from_slice(&data);
/// # }
/// let mut answers = Vec::new();
/// serve_connection(&filter, Limits::default(), &mut Cursor::new(wire), &mut answers)?;
/// let answers = String::from_utf8_lossy(&answers);
/// assert!(answers.contains("550 5.7.1 mail to rival.example is not allowed"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GatewayFilter {
    gateway: Gateway,
    direction: DirectionMode,
    originating_daemon: String,
    tls_enforced_by_mta: bool,
    notifier: Option<Box<dyn Notifier>>,
}

impl fmt::Debug for GatewayFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayFilter")
            .field("direction", &self.direction)
            .field("originating_daemon", &self.originating_daemon)
            .field("tls_enforced_by_mta", &self.tls_enforced_by_mta)
            .field("notifier", &self.notifier.is_some())
            .finish_non_exhaustive()
    }
}

impl GatewayFilter {
    /// A filter over `gateway`: the direction from the MTA's macros
    /// ([`DirectionMode::Auto`] with the daemon name `ORIGINATING`), TLS
    /// requirements not enforced by the MTA, and no notifier.
    pub fn new(gateway: Gateway) -> GatewayFilter {
        GatewayFilter {
            gateway,
            direction: DirectionMode::Auto,
            originating_daemon: "ORIGINATING".to_owned(),
            tls_enforced_by_mta: false,
            notifier: None,
        }
    }

    /// How inbound and outbound mail are told apart.
    pub fn direction(mut self, mode: DirectionMode) -> GatewayFilter {
        self.direction = mode;
        self
    }

    /// The `{daemon_name}` that marks outbound mail under
    /// [`DirectionMode::Auto`].
    pub fn originating_daemon(mut self, name: impl Into<String>) -> GatewayFilter {
        self.originating_daemon = name.into();
        self
    }

    /// Whether the MTA enforces the TLS requirement of outbound mail (for
    /// example with Postfix's `smtp_tls_policy_maps` per destination).
    /// Without it, mail the policy allows only over qualified TLS is
    /// refused with `451 4.7.5`: a milter cannot choose the outgoing
    /// connection.
    pub fn tls_enforced_by_mta(mut self, enforced: bool) -> GatewayFilter {
        self.tls_enforced_by_mta = enforced;
        self
    }

    /// Sends notifications to senders (password fallback) through
    /// `notifier`. Without one such mail is refused with `451 4.7.0`.
    pub fn notifier(mut self, notifier: impl Notifier + 'static) -> GatewayFilter {
        self.notifier = Some(Box::new(notifier));
        self
    }

    /// The gateway, for instance to reload its policy.
    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    fn direction_of(&self, mail: &Mail) -> Direction {
        match self.direction {
            DirectionMode::Inbound => Direction::Inbound,
            DirectionMode::Outbound => Direction::Outbound,
            DirectionMode::Auto => {
                let originating =
                    mail.macro_value("daemon_name") == Some(self.originating_daemon.as_str());
                let authenticated = mail
                    .macro_value("auth_authen")
                    .is_some_and(|a| !a.is_empty());
                if originating || authenticated {
                    Direction::Outbound
                } else {
                    Direction::Inbound
                }
            }
        }
    }
}

impl Filter for GatewayFilter {
    fn end_of_message(&self, mail: &Mail) -> Decision {
        let direction = self.direction_of(mail);
        let envelope = Envelope {
            direction,
            sender: mail.sender().to_owned(),
            recipients: mail.recipients().to_vec(),
        };
        let outcome = self.gateway.process(&envelope, mail.message());
        let mut decision = decide(
            mail.recipients(),
            &outcome.dispositions,
            self.tls_enforced_by_mta,
            self.notifier.is_some(),
        );
        // The password of a password-protected delivery goes to the sender
        // first; if it cannot, the mail waits (the recipient could not open
        // it).
        if let (Decision::Replace { .. }, Some(notifier)) = (&decision, &self.notifier) {
            for notification in outcome
                .dispositions
                .iter()
                .filter_map(Disposition::notification)
            {
                if let Err(error) = notifier.notify(mail.sender(), notification) {
                    decision = temporary(
                        "4.7.0",
                        &format!("the notification to the sender could not be sent: {error}"),
                    );
                    break;
                }
            }
        }
        tracing::info!(
            queue_id = mail.macro_value("i").unwrap_or("-"),
            direction = match direction {
                Direction::Inbound => "inbound",
                Direction::Outbound => "outbound",
            },
            from = mail.sender(),
            to = %mail.recipients().join(","),
            decision = %describe(&decision),
            "decided"
        );
        decision
    }

    fn conversation_failed(&self, error: &crate::Error) {
        tracing::warn!(%error, "milter conversation ended");
    }
}

/// One line for the log.
fn describe(decision: &Decision) -> String {
    match decision {
        Decision::Accept => "accepted unchanged".to_owned(),
        Decision::Replace {
            quarantine: None, ..
        } => "replaced".to_owned(),
        Decision::Replace {
            quarantine: Some(reason),
            ..
        } => format!("replaced and held: {reason}"),
        Decision::Refuse(reply) => format!("refused: {reply}"),
    }
}

/// Maps the gateway's dispositions for a mail to `recipients` onto what a
/// milter can do (the table in the [module documentation](self)).
/// `tls_enforced_by_mta` and `can_notify` say whether a TLS requirement and
/// a notification to the sender can be honoured; [`GatewayFilter`] sends
/// the notifications of a [`Decision::Replace`] itself.
///
/// ```
/// use gateway_facade::Disposition;
/// use mailgate_milter::gateway::decide;
/// use mailgate_milter::{Decision, Reply};
///
/// let to = ["a@x.example".to_owned()];
/// let defer = Disposition::Defer {
///     recipients: to.to_vec(),
///     reason: "directory unavailable".into(),
/// };
/// let decision = decide(&to, &[defer], false, false);
/// assert_eq!(
///     decision,
///     Decision::Refuse(Reply::temporary("4.7.1", "directory unavailable")?)
/// );
/// # Ok::<(), mailgate_milter::ReplyError>(())
/// ```
pub fn decide(
    recipients: &[String],
    dispositions: &[Disposition],
    tls_enforced_by_mta: bool,
    can_notify: bool,
) -> Decision {
    let covered = |disposition: &Disposition| {
        recipients.iter().all(|r| {
            disposition
                .recipients()
                .iter()
                .any(|d| d.eq_ignore_ascii_case(r))
        })
    };
    let reasons = |kind: fn(&Disposition) -> bool| {
        dispositions
            .iter()
            .filter(|d| kind(d))
            .filter_map(Disposition::reason)
            .collect::<Vec<_>>()
            .join("; ")
    };
    if dispositions.is_empty() {
        return temporary("4.3.0", "the mail gateway made no decision");
    }
    if dispositions
        .iter()
        .any(|d| matches!(d, Disposition::Defer { .. }))
    {
        return temporary(
            "4.7.1",
            &reasons(|d| matches!(d, Disposition::Defer { .. })),
        );
    }
    if dispositions
        .iter()
        .all(|d| matches!(d, Disposition::Reject { .. }))
    {
        return permanent(
            "5.7.1",
            &reasons(|d| matches!(d, Disposition::Reject { .. })),
        );
    }
    let [disposition] = dispositions else {
        return temporary(
            "4.7.0",
            "recipients of this mail need different treatment, which a milter cannot give; \
             send them separately or route this traffic through mailgate relay",
        );
    };
    if !covered(disposition) {
        return temporary(
            "4.3.0",
            "the mail gateway's decision does not cover every recipient",
        );
    }
    match disposition {
        Disposition::Deliver {
            message,
            transport,
            notification,
            ..
        } => {
            if let Some(profile) = &transport.require_tls
                && !tls_enforced_by_mta
            {
                return temporary(
                    "4.7.5",
                    &format!(
                        "delivery needs TLS meeting {profile}, which a milter cannot enforce; \
                         route this traffic through mailgate relay"
                    ),
                );
            }
            if notification.is_some() && !can_notify {
                return temporary(
                    "4.7.0",
                    "this delivery needs a notification to the sender (password fallback), \
                     which this milter cannot send without --notify-via; \
                     or route this traffic through mailgate relay",
                );
            }
            match message.to_vec() {
                Ok(message) => Decision::Replace {
                    message,
                    quarantine: None,
                },
                Err(_) => unreadable(),
            }
        }
        Disposition::Quarantine {
            message, reason, ..
        } => match message.to_vec() {
            Ok(message) => Decision::Replace {
                message,
                quarantine: Some(reason.clone()),
            },
            Err(_) => unreadable(),
        },
        // Handled above; kept for exhaustiveness.
        Disposition::Reject { reason, .. } => permanent("5.7.1", reason),
        Disposition::Defer { reason, .. } => temporary("4.7.1", reason),
    }
}

fn temporary(status: &str, text: &str) -> Decision {
    reply(Reply::temporary(status, text))
}

/// The message the gateway spooled to a temporary file cannot be read back
/// (disk trouble): the MTA keeps the mail and retries.
fn unreadable() -> Decision {
    temporary(
        "4.3.0",
        "the mail gateway's result cannot be read back from its spool",
    )
}

fn permanent(status: &str, text: &str) -> Decision {
    reply(Reply::permanent(status, text))
}

fn reply(reply: Result<Reply, crate::ReplyError>) -> Decision {
    // Our status codes are constants; should one ever be malformed, the mail
    // is still refused, temporarily.
    Decision::Refuse(reply.unwrap_or_else(|_| Reply::try_again_later()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use gateway_facade::Transport;

    use super::*;

    fn deliver(recipients: &[&str], require_tls: Option<&str>, notification: bool) -> Disposition {
        Disposition::Deliver {
            recipients: recipients.iter().map(|r| (*r).to_owned()).collect(),
            message: b"Subject: x\r\n\r\nprotected\r\n".to_vec().into(),
            transport: Transport {
                require_tls: require_tls.map(Into::into),
            },
            notification: notification.then(|| b"Password: x".to_vec()),
        }
    }

    fn reject(recipients: &[&str], reason: &str) -> Disposition {
        Disposition::Reject {
            recipients: recipients.iter().map(|r| (*r).to_owned()).collect(),
            reason: reason.to_owned(),
            notification: Vec::new(),
        }
    }

    fn refused(decision: &Decision) -> String {
        match decision {
            Decision::Refuse(reply) => reply.to_string(),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn one_delivery_for_everyone_replaces_the_message() {
        let to = [
            "bob@partner.example".to_owned(),
            "Carol@partner.example".to_owned(),
        ];
        let decision = decide(
            &to,
            &[deliver(
                &["bob@partner.example", "carol@partner.example"],
                None,
                false,
            )],
            false,
            false,
        );
        assert_eq!(
            decision,
            Decision::Replace {
                message: b"Subject: x\r\n\r\nprotected\r\n".to_vec(),
                quarantine: None
            }
        );
    }

    #[test]
    fn what_a_milter_cannot_do_is_refused_for_now() {
        let to = ["bob@partner.example".to_owned()];
        let tls = decide(
            &to,
            &[deliver(
                &["bob@partner.example"],
                Some("bsi-tr-03108"),
                false,
            )],
            false,
            false,
        );
        assert!(refused(&tls).starts_with("451 4.7.5 delivery needs TLS meeting bsi-tr-03108"));
        let enforced = decide(
            &to,
            &[deliver(
                &["bob@partner.example"],
                Some("bsi-tr-03108"),
                false,
            )],
            true,
            false,
        );
        assert!(matches!(enforced, Decision::Replace { .. }));
        let notification = decide(
            &to,
            &[deliver(&["bob@partner.example"], None, true)],
            false,
            false,
        );
        assert!(refused(&notification).starts_with("451 4.7.0 this delivery needs a notification"));
        let with_notify_via = decide(
            &to,
            &[deliver(&["bob@partner.example"], None, true)],
            false,
            true,
        );
        assert!(matches!(with_notify_via, Decision::Replace { .. }));
        let partial = decide(
            &[
                "bob@partner.example".to_owned(),
                "erin@geheim.example".to_owned(),
            ],
            &[deliver(&["bob@partner.example"], None, false)],
            false,
            false,
        );
        assert!(refused(&partial).starts_with("451 4.3.0"));
        let split = decide(
            &[
                "bob@partner.example".to_owned(),
                "erin@geheim.example".to_owned(),
            ],
            &[
                deliver(&["bob@partner.example"], None, false),
                reject(&["erin@geheim.example"], "encryption required"),
            ],
            false,
            false,
        );
        assert!(
            refused(&split)
                .starts_with("451 4.7.0 recipients of this mail need different treatment")
        );
        assert!(refused(&decide(&to, &[], false, false)).starts_with("451 4.3.0"));
    }

    #[test]
    fn rejections_merge_and_a_deferral_wins() {
        let to = ["a@x.example".to_owned(), "b@y.example".to_owned()];
        let rejected = decide(
            &to,
            &[
                reject(&["a@x.example"], "no key for a"),
                reject(&["b@y.example"], "no key for b"),
            ],
            false,
            false,
        );
        assert_eq!(refused(&rejected), "550 5.7.1 no key for a; no key for b");
        let deferred = decide(
            &to,
            &[
                reject(&["a@x.example"], "no key for a"),
                Disposition::Defer {
                    recipients: vec!["b@y.example".into()],
                    reason: "directory unavailable".into(),
                },
            ],
            false,
            false,
        );
        assert_eq!(refused(&deferred), "451 4.7.1 directory unavailable");
    }

    #[test]
    fn quarantine_replaces_and_holds() {
        let decision = decide(
            &["alice@behoerde.example".to_owned()],
            &[Disposition::Quarantine {
                recipients: vec!["alice@behoerde.example".into()],
                reason: "no valid signature".into(),
                message: b"Subject: x\r\n\r\nheld\r\n".to_vec().into(),
            }],
            false,
            false,
        );
        assert_eq!(
            decision,
            Decision::Replace {
                message: b"Subject: x\r\n\r\nheld\r\n".to_vec(),
                quarantine: Some("no valid signature".into())
            }
        );
    }
}
