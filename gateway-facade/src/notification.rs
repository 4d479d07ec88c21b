//! Mails the gateway writes itself: notifications to the sender.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::certificates::hex;

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
