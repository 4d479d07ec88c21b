//! What [`Gateway::process`](crate::Gateway::process) decides: one
//! disposition per group of recipients, and an audit record.

use serde::{Deserialize, Serialize};

use crate::SpooledMessage;
use crate::audit::{Audit, StepAction};

/// How a delivered message must be transported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transport {
    /// Deliver only over TLS meeting this profile (the MTA must check it on
    /// the very connection that carries the mail).
    pub require_tls: Option<TlsProfile>,
}

/// A reference to a TLS profile by the name the policy uses in
/// `require_tls` (`bsi-tr-03108`, `opportunistic`, or one the configuration
/// defines): the profile a delivery's connection must meet.
///
/// A name, not the profile: the MTA that makes the connection resolves it
/// (`mailgate relay` with `tls_policy::Profile`), so the facade's result
/// stays the same whichever profiles the MTA knows. In JSON it is the name
/// as a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TlsProfile(String);

impl TlsProfile {
    /// A reference to the profile named `name`.
    pub fn new(name: impl Into<String>) -> Self {
        TlsProfile(name.into())
    }

    /// The profile's name, as the policy spells it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for TlsProfile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for TlsProfile {
    fn from(name: String) -> Self {
        TlsProfile(name)
    }
}

impl From<&str> for TlsProfile {
    fn from(name: &str) -> Self {
        TlsProfile(name.to_owned())
    }
}

impl From<TlsProfile> for String {
    fn from(profile: TlsProfile) -> Self {
        profile.0
    }
}

impl PartialEq<str> for TlsProfile {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for TlsProfile {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// What happens to a group of recipients.
#[derive(Debug, Clone, PartialEq)]
pub enum Disposition {
    /// Hand `message` to `recipients`, over `transport`.
    Deliver {
        /// Envelope recipients of this copy.
        recipients: Vec<String>,
        /// The message as it must leave: signed, encrypted, or a password
        /// carrier, as the policy decided (large ones in a temporary file).
        message: SpooledMessage,
        /// Transport requirement.
        transport: Transport,
        /// A mail to the envelope sender that goes with this delivery (the
        /// password of a password-protected delivery). Only ever for a
        /// sender in the policy's `internal_domains`.
        notification: Option<Vec<u8>>,
    },
    /// Refuse permanently (SMTP 5xx) and tell the sender.
    Reject {
        /// Envelope recipients refused.
        recipients: Vec<String>,
        /// Why.
        reason: String,
        /// The notice to send, to the address in its `To:` field: the
        /// envelope sender, or the postmaster when the sender must not be
        /// told (an outbound sender outside `internal_domains`, the null
        /// sender; see `notification.rs`).
        notification: Vec<u8>,
    },
    /// Refuse for now (SMTP 4xx): the MTA keeps the mail and retries.
    Defer {
        /// Envelope recipients deferred.
        recipients: Vec<String>,
        /// Why.
        reason: String,
    },
    /// Hold for an administrator.
    Quarantine {
        /// Envelope recipients held.
        recipients: Vec<String>,
        /// Why.
        reason: String,
        /// The message as it would have been delivered.
        message: SpooledMessage,
    },
}

impl Disposition {
    /// `deliver`, `reject`, `defer` or `quarantine`.
    pub fn kind(&self) -> &'static str {
        match self {
            Disposition::Deliver { .. } => "deliver",
            Disposition::Reject { .. } => "reject",
            Disposition::Defer { .. } => "defer",
            Disposition::Quarantine { .. } => "quarantine",
        }
    }

    /// The recipients this disposition is for.
    pub fn recipients(&self) -> &[String] {
        match self {
            Disposition::Deliver { recipients, .. }
            | Disposition::Reject { recipients, .. }
            | Disposition::Defer { recipients, .. }
            | Disposition::Quarantine { recipients, .. } => recipients,
        }
    }

    /// The message to deliver or hold, if any.
    pub fn message(&self) -> Option<&SpooledMessage> {
        match self {
            Disposition::Deliver { message, .. } | Disposition::Quarantine { message, .. } => {
                Some(message)
            }
            _ => None,
        }
    }

    /// The mail to send to the envelope sender with this disposition, if any.
    pub fn notification(&self) -> Option<&[u8]> {
        match self {
            Disposition::Deliver { notification, .. } => notification.as_deref(),
            Disposition::Reject { notification, .. } => Some(notification),
            _ => None,
        }
    }

    /// The reason of a reject, defer or quarantine.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Disposition::Reject { reason, .. }
            | Disposition::Defer { reason, .. }
            | Disposition::Quarantine { reason, .. } => Some(reason),
            Disposition::Deliver { .. } => None,
        }
    }
}

/// One thing the gateway did to the mail, for the audit record.
///
/// Fields in alphabetical order: the JSON form is the audit record's
/// (see [`Audit`](crate::audit::Audit)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What was done.
    pub action: StepAction,
    /// Fingerprints of the keys and certificates used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<String>,
    /// `smime` or `pgp`, when it applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The recipients it was done for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    /// What came of it.
    pub result: String,
}

/// The result of processing one mail.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// One disposition per group of recipients with the same treatment.
    pub dispositions: Vec<Disposition>,
    /// Recipients for whom the policy asks for a copy in the archive.
    pub archive: Vec<String>,
    /// The audit record: rule trace, steps with keys, timings.
    pub audit: Audit,
}

/// An [`Outcome`] as `result.json` holds it, with what the caller stored
/// for each buffer (`S`: a file name, a buffer index). Fields in
/// alphabetical order: that is the JSON's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeRecord<S> {
    /// Recipients for whom the policy asks for a copy in the archive.
    pub archive: Vec<String>,
    /// The audit record.
    pub audit: Audit,
    /// One per disposition, in order.
    pub dispositions: Vec<DispositionRecord<S>>,
}

/// A [`Disposition`] in [`OutcomeRecord`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DispositionRecord<S> {
    /// [`Disposition::kind`].
    pub kind: &'static str,
    /// What stands for the message to deliver or hold, if any.
    pub message: Option<S>,
    /// What stands for the mail to the envelope sender, if any.
    pub notification: Option<S>,
    /// [`Disposition::reason`].
    pub reason: Option<String>,
    /// [`Disposition::recipients`].
    pub recipients: Vec<String>,
    /// The transport requirement (none unless a delivery).
    pub transport: Transport,
}

impl<S: Serialize> std::fmt::Display for OutcomeRecord<S> {
    /// Compact JSON.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let json = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&json)
    }
}

/// Which buffer of a disposition [`Outcome::to_json_with`] asks to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Buffer {
    /// The message to deliver or hold.
    Message,
    /// The mail to the envelope sender.
    Notification,
}

impl Outcome {
    /// The result as `mailgate process` writes it to `result.json` (and
    /// `mailgate_result_json` returns it): serialised, `{"archive", "audit",
    /// "dispositions": [{"kind", "message", "notification", "reason",
    /// "recipients", "transport": {"require_tls"}}]}`. `store` is called for
    /// each message and notification (with the disposition's index) and
    /// returns what stands for it in the JSON: a file name, a buffer index.
    pub fn to_json_with<S, E>(
        &self,
        mut store: impl FnMut(usize, Buffer, &SpooledMessage) -> Result<S, E>,
    ) -> Result<OutcomeRecord<S>, E> {
        let mut dispositions = Vec::new();
        for (index, disposition) in self.dispositions.iter().enumerate() {
            let message = match disposition.message() {
                Some(bytes) => Some(store(index, Buffer::Message, bytes)?),
                None => None,
            };
            let notification = match disposition.notification() {
                Some(bytes) => Some(store(
                    index,
                    Buffer::Notification,
                    &SpooledMessage::from(bytes.to_vec()),
                )?),
                None => None,
            };
            let transport = match disposition {
                Disposition::Deliver { transport, .. } => transport.clone(),
                _ => Transport::default(),
            };
            dispositions.push(DispositionRecord {
                kind: disposition.kind(),
                message,
                notification,
                reason: disposition.reason().map(str::to_owned),
                recipients: disposition.recipients().to_vec(),
                transport,
            });
        }
        Ok(OutcomeRecord {
            archive: self.archive.clone(),
            audit: self.audit.clone(),
            dispositions,
        })
    }

    /// Whether every recipient was deferred (the MTA should answer 4xx).
    pub fn all_deferred(&self) -> bool {
        !self.dispositions.is_empty()
            && self
                .dispositions
                .iter()
                .all(|d| matches!(d, Disposition::Defer { .. }))
    }

    /// The disposition that covers `recipient` (any case).
    pub fn for_recipient(&self, recipient: &str) -> Option<&Disposition> {
        self.dispositions.iter().find(|d| {
            d.recipients()
                .iter()
                .any(|r| r.eq_ignore_ascii_case(recipient))
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The text `mailgate_result_json` returns (and `result.json` holds,
    /// pretty-printed) is the one the untyped record gave: keys sorted,
    /// `null` for what a disposition lacks.
    #[test]
    fn the_record_serialises_as_the_untyped_json_did() {
        let outcome = Outcome {
            dispositions: vec![
                Disposition::Deliver {
                    recipients: vec!["bob@partner.example".into()],
                    message: SpooledMessage::from(b"m".to_vec()),
                    transport: Transport {
                        require_tls: Some(TlsProfile::new("bsi-tr-03108")),
                    },
                    notification: None,
                },
                Disposition::Reject {
                    recipients: vec!["erin@geheim.example".into()],
                    reason: "no key".into(),
                    notification: b"n".to_vec(),
                },
            ],
            archive: vec!["bob@partner.example".into()],
            audit: Audit::error("x"),
        };
        let mut stored = 0_usize;
        let record = outcome
            .to_json_with(|_, _, _| {
                stored += 1;
                Ok::<_, ()>(stored - 1)
            })
            .unwrap();
        assert_eq!(
            record.to_string(),
            concat!(
                r#"{"archive":["bob@partner.example"],"audit":{"error":"x"},"dispositions":["#,
                r#"{"kind":"deliver","message":0,"notification":null,"reason":null,"#,
                r#""recipients":["bob@partner.example"],"transport":{"require_tls":"bsi-tr-03108"}},"#,
                r#"{"kind":"reject","message":null,"notification":1,"reason":"no key","#,
                r#""recipients":["erin@geheim.example"],"transport":{"require_tls":null}}]}"#
            )
        );
        assert_eq!(
            serde_json::to_value(&record).unwrap().to_string(),
            record.to_string()
        );
    }
}
