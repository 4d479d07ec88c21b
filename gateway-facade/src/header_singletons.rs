//! Mail that readers disagree on is refused before the policy judges it.
//!
//! A header field RFC 5322 allows once (From, Sender, Reply-To, To, Cc, Bcc,
//! Subject, Date, Message-ID, In-Reply-To, References, MIME-Version,
//! Content-Type, Content-Transfer-Encoding; the `Content-*` ones in every
//! MIME entity, see [`mail_message::tree`]) that appears twice means that
//! one reader shows the first instance and another the last: a
//! `[vertraulich]` tag in one Subject only, a Content-Type the verifier reads
//! and the mail client does not. A message header that does not parse at all
//! leaves no reading to agree on. Such mail is **refused**, not normalised:
//! whichever instance we kept would be the wrong one for some reader, and a
//! cleaned-up copy would hide the attempt from the administrator.
//!
//! - outbound: every recipient is rejected, and the sender is told which
//!   field appears twice (a broken mailer of our own gets fixed);
//! - inbound: every recipient's copy is quarantined for an administrator
//!   (the sender may be forged, so no bounce goes to it; a broken but
//!   legitimate mailer can be released by hand).

use std::time::SystemTime;

use crate::gateway::{Envelope, Gateway};
use crate::notification::Notice;
use crate::outcome::{Disposition, Outcome};
use crate::spooled_message::SpooledMessage;
use rule_engine::Direction;

impl Gateway {
    /// The outcome for mail `parsed` says must not be judged (see the module
    /// docs), or `None` to go on with the policy. `message` is what a
    /// quarantine holds.
    pub(crate) fn refuse_unreadable(
        &self,
        envelope: &Envelope,
        parsed: &rule_engine::Message,
        message: &SpooledMessage,
        now: SystemTime,
    ) -> Option<Outcome> {
        let refusal = parsed.refusal()?;
        let reason = format!("the message cannot be judged: {refusal}");
        let field = parsed.duplicate_field().map(|d| d.field);
        let recipients = envelope.recipients.clone();
        let disposition = match envelope.direction {
            Direction::Outbound => {
                let address = self.notice_address(envelope);
                let notification = Notice {
                    postmaster: self.postmaster(),
                    sender: address.to,
                    subject: parsed.subject(),
                    recipients: &recipients,
                    headline: "Not delivered",
                    reason: &reason,
                    template: None,
                    details: &address.why,
                }
                .render(now);
                Disposition::Reject {
                    recipients,
                    reason: reason.clone(),
                    notification,
                }
            }
            Direction::Inbound => Disposition::Quarantine {
                recipients,
                reason: reason.clone(),
                message: message.clone(),
            },
        };
        Some(Outcome {
            dispositions: vec![disposition],
            archive: Vec::new(),
            audit: crate::audit::Audit {
                refused: Some(reason),
                duplicate_field: Some(field.map(str::to_owned)),
                ..crate::audit::Audit::default()
            },
        })
    }
}
