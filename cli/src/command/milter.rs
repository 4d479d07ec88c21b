//! `mailgate milter`: the gateway as a Postfix/Sendmail milter.
//!
//! A milter sees one mail with all its recipients and can only change it for
//! all of them, or refuse it for all of them. So the gateway's dispositions
//! map onto the milter as follows, failing closed wherever they do not fit:
//!
//! | outcome | milter answer |
//! |---|---|
//! | one *deliver* for every recipient | the message is replaced by the gateway's (signed, encrypted, annotated) |
//! | one *quarantine* for every recipient | replaced, and held by the MTA (Postfix: hold queue) |
//! | only *reject* | `550 5.7.1` with the reasons (the client bounces to the sender) |
//! | any *defer* | `451 4.7.1` (the client retries) |
//! | different treatment per recipient | `451 4.7.0`: route such mail through `mailgate relay` |
//! | a TLS requirement the MTA does not enforce | `451 4.7.5` |
//! | a notification to send (password fallback) | sent with `--notify-via` first, then replaced; without it, or if sending fails, `451 4.7.0` |

use std::net::TcpListener;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use gateway_facade::{Disposition, Envelope, Gateway, Outcome};
use mailgate_milter::{Decision, Filter, Limits, Listener, Mail, Reply, Server};
use rule_engine::Direction;
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
    let filter = Arc::new(GatewayFilter {
        gateway,
        notify_via: args.notify_via.clone(),
        hostname: args.hostname.clone(),
        direction: args.direction,
        originating_daemon: args.originating_daemon.clone(),
        tls_enforced_by_mta: args.tls_enforced_by_mta,
    });
    // SIGHUP reloads the policy (an invalid one is refused, the old one
    // stays). SIGTERM ends the process: the MTA tempfails what was in
    // flight (milter_default_action), so nothing is lost.
    let mut signals = Signals::new([SIGHUP])
        .map_err(|e| Failure::Temporary(format!("installing signal handlers: {e}")))?;
    let reloading = Arc::clone(&filter);
    std::thread::spawn(move || {
        for _ in signals.forever() {
            match reloading.gateway.reload_policy() {
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

struct GatewayFilter {
    gateway: Gateway,
    /// Where notifications to senders are submitted (`HOST:PORT`).
    notify_via: Option<String>,
    /// The EHLO name for that submission.
    hostname: String,
    direction: MilterDirection,
    originating_daemon: String,
    tls_enforced_by_mta: bool,
}

impl GatewayFilter {
    fn direction(&self, mail: &Mail) -> Direction {
        match self.direction {
            MilterDirection::Inbound => Direction::Inbound,
            MilterDirection::Outbound => Direction::Outbound,
            MilterDirection::Auto => {
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
        let direction = self.direction(mail);
        let envelope = Envelope {
            direction,
            sender: mail.sender().to_owned(),
            recipients: mail.recipients().to_vec(),
        };
        let outcome = self.gateway.process(&envelope, mail.message());
        let mut decision = decide(
            mail.recipients(),
            &outcome,
            self.tls_enforced_by_mta,
            self.notify_via.is_some(),
        );
        // The password of a password-protected delivery goes to the sender
        // first; if it cannot, the mail waits (the recipient could not open
        // it).
        if let (Decision::Replace { .. }, Some(server)) = (&decision, &self.notify_via) {
            for notification in outcome
                .dispositions
                .iter()
                .filter_map(Disposition::notification)
            {
                let sent = mailgate_relay::submit(
                    server,
                    &self.hostname,
                    "",
                    &[mail.sender().to_owned()],
                    notification,
                    Duration::from_secs(60),
                );
                if let Err(error) = sent {
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

    fn conversation_failed(&self, error: &mailgate_milter::Error) {
        tracing::warn!(%error, "milter conversation ended");
    }
}

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

/// Maps the gateway's outcome onto what a milter can do (the table in the
/// module documentation).
fn decide(
    recipients: &[String],
    outcome: &Outcome,
    tls_enforced_by_mta: bool,
    can_notify: bool,
) -> Decision {
    let dispositions = &outcome.dispositions;
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
    let [disposition] = dispositions.as_slice() else {
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

fn reply(reply: Result<Reply, mailgate_milter::ReplyError>) -> Decision {
    // Our status codes are constants; should one ever be malformed, the mail
    // is still refused, temporarily.
    Decision::Refuse(reply.unwrap_or_else(|_| Reply::try_again_later()))
}

#[cfg(test)]
mod tests {
    use gateway_facade::Transport;
    use serde_json::Value;

    use super::*;

    fn outcome(dispositions: Vec<Disposition>) -> Outcome {
        Outcome {
            dispositions,
            archive: Vec::new(),
            audit: Value::Null,
        }
    }

    fn deliver(recipients: &[&str], require_tls: Option<&str>, notification: bool) -> Disposition {
        Disposition::Deliver {
            recipients: recipients.iter().map(|r| (*r).to_owned()).collect(),
            message: b"Subject: x\r\n\r\nprotected\r\n".to_vec().into(),
            transport: Transport {
                require_tls: require_tls.map(str::to_owned),
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
            &outcome(vec![deliver(
                &["bob@partner.example", "carol@partner.example"],
                None,
                false,
            )]),
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
            &outcome(vec![deliver(
                &["bob@partner.example"],
                Some("bsi-tr-03108"),
                false,
            )]),
            false,
            false,
        );
        assert!(refused(&tls).starts_with("451 4.7.5 delivery needs TLS meeting bsi-tr-03108"));
        let enforced = decide(
            &to,
            &outcome(vec![deliver(
                &["bob@partner.example"],
                Some("bsi-tr-03108"),
                false,
            )]),
            true,
            false,
        );
        assert!(matches!(enforced, Decision::Replace { .. }));
        let notification = decide(
            &to,
            &outcome(vec![deliver(&["bob@partner.example"], None, true)]),
            false,
            false,
        );
        assert!(refused(&notification).starts_with("451 4.7.0 this delivery needs a notification"));
        let with_notify_via = decide(
            &to,
            &outcome(vec![deliver(&["bob@partner.example"], None, true)]),
            false,
            true,
        );
        assert!(matches!(with_notify_via, Decision::Replace { .. }));
        let partial = decide(
            &[
                "bob@partner.example".to_owned(),
                "erin@geheim.example".to_owned(),
            ],
            &outcome(vec![deliver(&["bob@partner.example"], None, false)]),
            false,
            false,
        );
        assert!(refused(&partial).starts_with("451 4.3.0"));
        let split = decide(
            &[
                "bob@partner.example".to_owned(),
                "erin@geheim.example".to_owned(),
            ],
            &outcome(vec![
                deliver(&["bob@partner.example"], None, false),
                reject(&["erin@geheim.example"], "encryption required"),
            ]),
            false,
            false,
        );
        assert!(
            refused(&split)
                .starts_with("451 4.7.0 recipients of this mail need different treatment")
        );
        assert!(refused(&decide(&to, &outcome(vec![]), false, false)).starts_with("451 4.3.0"));
    }

    #[test]
    fn rejections_merge_and_a_deferral_wins() {
        let to = ["a@x.example".to_owned(), "b@y.example".to_owned()];
        let rejected = decide(
            &to,
            &outcome(vec![
                reject(&["a@x.example"], "no key for a"),
                reject(&["b@y.example"], "no key for b"),
            ]),
            false,
            false,
        );
        assert_eq!(refused(&rejected), "550 5.7.1 no key for a; no key for b");
        let deferred = decide(
            &to,
            &outcome(vec![
                reject(&["a@x.example"], "no key for a"),
                Disposition::Defer {
                    recipients: vec!["b@y.example".into()],
                    reason: "directory unavailable".into(),
                },
            ]),
            false,
            false,
        );
        assert_eq!(refused(&deferred), "451 4.7.1 directory unavailable");
    }

    #[test]
    fn quarantine_replaces_and_holds() {
        let decision = decide(
            &["alice@behoerde.example".to_owned()],
            &outcome(vec![Disposition::Quarantine {
                recipients: vec!["alice@behoerde.example".into()],
                reason: "no valid signature".into(),
                message: b"Subject: x\r\n\r\nheld\r\n".to_vec().into(),
            }]),
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
