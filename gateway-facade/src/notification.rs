//! Mails the gateway writes itself: notifications to the sender.
//!
//! Whom a notice may go to is decided here, once for every kind, because
//! the envelope sender is whatever the submitting client wrote: a password
//! sent to it would hand a stranger the key to mail it had no part in.
//!
//! - the **password** of a password-protected delivery goes only to a
//!   sender in the policy's `internal_domains` (any spelling, subdomains
//!   included; see the rule-engine README on why that fails closed). For
//!   any other sender the fallback is refused, the mail is rejected, and
//!   the reject notice goes to the postmaster (`Gateway::may_receive_password`);
//! - a notice about **outbound** mail (rejected, refused, malformed) goes
//!   to the sender only if it is internal, else to the postmaster: outbound
//!   mail comes from the organisation, and a foreign sender on it is a
//!   misconfigured application or a forgery, which the postmaster must see
//!   and the named stranger must not (it would learn the recipients, the
//!   subject and the policy's reason for mail it may never have sent);
//! - a notice about **inbound** mail goes to its sender, as a delivery
//!   status notification would: it repeats only what that sender sent (its
//!   subject and recipients) and why it was refused;
//! - the **null sender** (`<>`, bounces and notifications) never gets a
//!   notice (RFC 5321 section 4.5.5: no loops); it goes to the postmaster.
//!
//! Hosts send a notice to the address in its `To:` field.

use std::time::{SystemTime, UNIX_EPOCH};

use rule_engine::Direction;

use crate::certificates::hex;
use crate::gateway::{Envelope, Gateway};

/// Where a notice about a mail goes: the address for its `To:` field, and
/// the paragraph that says why when that is the postmaster instead of the
/// sender.
pub(crate) struct NoticeAddress<'a> {
    pub(crate) to: &'a str,
    pub(crate) why: Vec<String>,
}

impl Gateway {
    /// Whether the password of a password-protected delivery may go to
    /// `sender` (a canonical address, `""` for the null sender): only to
    /// a mailbox in the policy's `internal_domains`, whoever the channel
    /// is ([`crate::PasswordChannel`] is never asked for another).
    pub(crate) fn may_receive_password(&self, sender: &str) -> bool {
        sender
            .rsplit_once('@')
            .is_some_and(|(_, domain)| self.is_internal_domain(domain))
    }

    /// Where a notice about the mail of `envelope` (canonical addresses)
    /// goes: see the module documentation.
    pub(crate) fn notice_address<'a>(&'a self, envelope: &'a Envelope) -> NoticeAddress<'a> {
        let sender = envelope.sender.as_str();
        if sender.is_empty() || sender == "<>" {
            return NoticeAddress {
                to: self.postmaster(),
                why: vec![
                    "The message had no sender address (a bounce or notification), so this \
                     notice goes to the postmaster."
                        .to_owned(),
                ],
            };
        }
        if envelope.direction == Direction::Outbound && !self.may_receive_password(sender) {
            return NoticeAddress {
                to: self.postmaster(),
                why: vec![format!(
                    "The envelope sender <{}> is not in the organisation's internal_domains: \
                     notices about outbound mail go only to the organisation's own senders, so \
                     this one goes to the postmaster. Check which system sends outbound mail \
                     with this sender.",
                    mail_message::one_line(sender)
                )],
            };
        }
        NoticeAddress {
            to: sender,
            why: Vec::new(),
        }
    }
}

/// What a notification is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notice<'a> {
    pub(crate) postmaster: &'a str,
    pub(crate) sender: &'a str,
    pub(crate) subject: Option<&'a str>,
    pub(crate) recipients: &'a [String],
    pub(crate) headline: &'a str,
    pub(crate) reason: &'a str,
    pub(crate) template: Option<&'a str>,
    /// Extra paragraphs (for example how to pass a password on).
    pub(crate) details: &'a [String],
}

impl Notice<'_> {
    /// The notification as an RFC 5322 message (UTF-8 text, CRLF).
    pub(crate) fn render(&self, now: SystemTime) -> Vec<u8> {
        let subject = self.subject.unwrap_or("(no subject)");
        let domain = self
            .postmaster
            .rsplit_once('@')
            .map_or("localhost", |(_, d)| d);
        let mut id = [0u8; 12];
        // A message id only has to be unique; a clock-based fallback is
        // enough if the system RNG is unavailable.
        if getrandom::fill(&mut id).is_err() {
            let nanos = now
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            id.copy_from_slice(&nanos.to_be_bytes()[4..]);
        }
        let mut text = String::new();
        text.push_str(&format!("From: Mail gateway <{}>\r\n", self.postmaster));
        text.push_str(&format!("To: <{}>\r\n", self.sender));
        text.push_str(&format!(
            "Subject: {}: {}\r\n",
            self.headline,
            mail_message::one_line(subject)
        ));
        text.push_str(&format!("Date: {}\r\n", mail_message::rfc5322_date(now)));
        text.push_str(&format!("Message-ID: <{}@{domain}>\r\n", hex(&id)));
        text.push_str("Auto-Submitted: auto-replied\r\n");
        text.push_str("MIME-Version: 1.0\r\n");
        text.push_str("Content-Type: text/plain; charset=utf-8\r\n");
        text.push_str("Content-Transfer-Encoding: 8bit\r\n\r\n");
        text.push_str(&format!(
            "{}: your message \"{}\"\r\nto\r\n",
            self.headline,
            mail_message::one_line(subject)
        ));
        for recipient in self.recipients {
            text.push_str(&format!("    {recipient}\r\n"));
        }
        text.push_str(&format!(
            "\r\nReason: {}\r\n",
            mail_message::one_line(self.reason)
        ));
        for detail in self.details {
            text.push_str(&format!("\r\n{detail}\r\n"));
        }
        if let Some(template) = self.template {
            text.push_str(&format!("\r\n(notice: {template})\r\n"));
        }
        text.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_cannot_inject_header_fields() {
        let recipients = vec!["bob@x.example".to_owned()];
        let notice = Notice {
            postmaster: "postmaster@behoerde.example",
            sender: "alice@behoerde.example",
            subject: Some("Hi\r\nBcc: eve@evil.example"),
            recipients: &recipients,
            headline: "Not delivered",
            reason: "no key",
            template: Some("no-key"),
            details: &[],
        };
        let text = String::from_utf8(notice.render(SystemTime::now())).unwrap_or_default();
        let header = text.split("\r\n\r\n").next().unwrap_or_default();
        assert!(!header.contains("\r\nBcc:"), "{header}");
        assert!(text.contains("    bob@x.example\r\n"));
        assert!(text.contains("Reason: no key"));
    }
}
