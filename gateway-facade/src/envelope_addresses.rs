//! The envelope's addresses in their one canonical form, before anything
//! reads them.
//!
//! Policy, directory lookups, key selection, harvesting, notifications and
//! the audit record all see [`mail_message::Mailbox`] forms: `Erin@Geheim.
//! Example.`, `"erin"@geheim.example`, `<erin@geheim.example>` and the
//! U-label of an internationalised domain are one recipient, so a domain
//! rule for `geheim.example` applies to each of them. Spellings whose
//! meaning depends on the next MTA (the percent hack, address literals,
//! `!` paths) and text that is no address are refused for that recipient
//! (a reject with the reason, SMTP 553 5.1.3), never judged as some other
//! domain and never delivered.
//!
//! The dispositions name recipients as the caller spelled them, so an MTA
//! (a milter above all, which cannot rename recipients) can match them to
//! its own list; the relay and the CLI canonicalise at their own boundary,
//! so for them the spellings are the canonical ones.

use std::collections::HashMap;
use std::time::SystemTime;

use mail_message::{Mailbox, MailboxError};

use crate::gateway::{Envelope, Gateway};
use crate::notification::Notice;
use crate::outcome::{Disposition, Outcome};

/// How an address is stored in and looked up from the directory, the
/// organisation's keys and the configuration: its [`Mailbox::key`], or (for
/// text that is no mailbox, such as an odd certificate entry, which then
/// matches no envelope address) its ASCII lower case.
pub(crate) fn address_key(address: &str) -> String {
    Mailbox::parse(address).map_or_else(|_| address.to_ascii_lowercase(), |m| m.key().to_owned())
}

/// A domain as [`address_key`] stores its domain part.
pub(crate) fn domain_key(domain: &str) -> String {
    mail_message::canonical_domain(domain).unwrap_or_else(|_| domain.to_ascii_lowercase())
}

/// An envelope split into what the gateway judges and what it refuses.
pub(crate) struct CanonicalEnvelope {
    /// The envelope with the addresses' keys ([`Mailbox::key`]: canonical,
    /// local part case-folded), each recipient once. The gateway judges,
    /// looks up and notifies with these; the caller delivers to its own
    /// spelling, whose local part case is the destination's business.
    pub(crate) envelope: Envelope,
    /// Mailbox key → the caller's spellings of it. Keyed by the folded
    /// form: the rule engine hands recipients back case-folded.
    spellings: HashMap<String, Vec<String>>,
    /// Recipients refused, with why.
    pub(crate) refused: Vec<(String, MailboxError)>,
    /// The sender, if it is refused (then every recipient is).
    pub(crate) refused_sender: Option<MailboxError>,
}

impl CanonicalEnvelope {
    pub(crate) fn new(envelope: &Envelope) -> CanonicalEnvelope {
        // The null reverse-path (bounces, notifications) has no address.
        let sender = envelope.sender.trim();
        let (sender, refused_sender) = if sender.is_empty() || sender == "<>" {
            (String::new(), None)
        } else {
            match Mailbox::parse(sender) {
                Ok(mailbox) => (mailbox.key().to_owned(), None),
                Err(error) => (String::new(), Some(error)),
            }
        };
        let mut recipients = Vec::new();
        let mut spellings: HashMap<String, Vec<String>> = HashMap::new();
        let mut refused = Vec::new();
        for recipient in &envelope.recipients {
            match Mailbox::parse(recipient) {
                Ok(mailbox) => {
                    // Two spellings of one mailbox are one recipient.
                    let known = spellings.entry(mailbox.key().to_owned()).or_default();
                    if known.is_empty() {
                        recipients.push(mailbox.key().to_owned());
                    }
                    known.push(recipient.clone());
                }
                Err(error) => refused.push((recipient.clone(), error)),
            }
        }
        CanonicalEnvelope {
            envelope: Envelope {
                direction: envelope.direction,
                sender,
                recipients,
            },
            spellings,
            refused,
            refused_sender,
        }
    }

    /// Whether anything is left to judge.
    pub(crate) fn has_recipients(&self) -> bool {
        self.refused_sender.is_none() && !self.envelope.recipients.is_empty()
    }

    /// The caller's spellings of `recipients` (canonical forms).
    fn spelled(&self, recipients: &[String]) -> Vec<String> {
        recipients
            .iter()
            .flat_map(|r| {
                match Mailbox::parse(r)
                    .ok()
                    .and_then(|m| self.spellings.get(m.key()))
                {
                    Some(spellings) => spellings.clone(),
                    None => vec![r.clone()],
                }
            })
            .collect()
    }

    /// `outcome` (for the canonical envelope) with recipients named as the
    /// caller spelled them, and the refused addresses rejected.
    pub(crate) fn finish(
        &self,
        gateway: &Gateway,
        original: &Envelope,
        mut outcome: Outcome,
        now: SystemTime,
    ) -> Outcome {
        for disposition in &mut outcome.dispositions {
            match disposition {
                Disposition::Deliver { recipients, .. }
                | Disposition::Reject { recipients, .. }
                | Disposition::Defer { recipients, .. }
                | Disposition::Quarantine { recipients, .. } => {
                    *recipients = self.spelled(recipients);
                }
            }
        }
        let refusals: Vec<(Vec<String>, String)> = match &self.refused_sender {
            Some(error) => vec![(
                original.recipients.clone(),
                format!("553 5.1.7 the envelope sender is refused: {error}"),
            )],
            None => self
                .refused
                .iter()
                .map(|(recipient, error)| {
                    (
                        vec![recipient.clone()],
                        format!("553 5.1.3 the recipient address is refused: {error}"),
                    )
                })
                .collect(),
        };
        let mut refused_audit = Vec::new();
        for (recipients, reason) in refusals {
            // Printed for a person, on one line: the text is hostile.
            let shown: Vec<String> = recipients
                .iter()
                .map(|r| mail_message::one_line(r))
                .collect();
            // An unusable sender gets no notice addressed to it; otherwise
            // the rules of `notification` (outbound: internal senders only).
            let address = gateway.notice_address(&self.envelope);
            let notification = Notice {
                postmaster: gateway.postmaster(),
                sender: if self.refused_sender.is_some() {
                    gateway.postmaster()
                } else {
                    address.to
                },
                subject: None,
                recipients: &shown,
                headline: "Not delivered",
                reason: &reason,
                template: None,
                details: if self.refused_sender.is_some() {
                    &[]
                } else {
                    &address.why
                },
            }
            .render(now);
            refused_audit.push(crate::audit::RefusedAddresses {
                recipients: shown,
                reason: reason.clone(),
            });
            outcome.dispositions.push(Disposition::Reject {
                recipients,
                reason,
                notification,
            });
        }
        if !refused_audit.is_empty() {
            outcome.audit.refused_addresses = Some(refused_audit);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_collapse_and_refusals_are_kept_apart() {
        let envelope = Envelope::outbound(
            "<Alice@Behoerde.Example.>",
            [
                "erin@geheim.example.",
                "<ERIN@GEHEIM.example>",
                "erin%geheim.example@behoerde.example",
                "bob@partner.example",
            ],
        );
        let canonical = CanonicalEnvelope::new(&envelope);
        assert_eq!(canonical.envelope.sender, "alice@behoerde.example");
        assert_eq!(
            canonical.envelope.recipients,
            ["erin@geheim.example", "bob@partner.example"]
        );
        assert_eq!(
            canonical.spelled(&["erin@geheim.example".to_owned()]),
            ["erin@geheim.example.", "<ERIN@GEHEIM.example>"]
        );
        assert_eq!(canonical.refused.len(), 1);
        assert!(canonical.refused_sender.is_none());
        assert!(canonical.has_recipients());
    }

    #[test]
    fn directory_keys_and_transport_domains_are_canonical() {
        assert_eq!(address_key("Erin@Geheim.Example."), "erin@geheim.example");
        assert_eq!(
            address_key("Jürgen@Bücher.example"),
            "jürgen@xn--bcher-kva.example"
        );
        assert_eq!(address_key("Not An Address"), "not an address");
        assert_eq!(domain_key("Bücher.Example."), "xn--bcher-kva.example");
        let verdicts =
            crate::KnownVerdicts::new([("Geheim.Example.".to_owned(), true)].into_iter().collect());
        assert_eq!(verdicts.verdict("geheim.example"), Some(true));
        assert_eq!(verdicts.verdict("GEHEIM.example."), Some(true));
        assert_eq!(verdicts.verdict("other.example"), None);
    }

    #[test]
    fn null_sender_is_kept_and_a_bad_sender_refuses_all() {
        let bounce = CanonicalEnvelope::new(&Envelope::inbound("<>", ["a@x.example"]));
        assert_eq!(bounce.envelope.sender, "");
        assert!(bounce.has_recipients());
        let bad = CanonicalEnvelope::new(&Envelope::outbound("a@[192.0.2.1]", ["b@x.example"]));
        assert!(bad.refused_sender.is_some());
        assert!(!bad.has_recipients());
    }
}
