//! The mail a milter session collected, as the filter sees it.

use std::collections::BTreeMap;

use mail_message::{Mailbox, MailboxError, canonicalize};

use crate::command::ClientAddress;

/// One header field as the MTA sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The field name.
    pub name: String,
    /// The value after the colon; folded lines separated by `\n` (as the
    /// MTA sends them), with the leading space when the MTA was asked to
    /// keep it.
    pub value: Vec<u8>,
}

/// Everything the MTA told the milter about one mail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mail {
    pub(crate) client: Option<(String, ClientAddress)>,
    pub(crate) macros: BTreeMap<String, String>,
    pub(crate) sender: String,
    pub(crate) recipients: Vec<String>,
    pub(crate) headers: Vec<Header>,
    pub(crate) leading_space: bool,
    /// The message as RFC 5322 bytes with CRLF: the header fields as they
    /// arrive, the empty line once the header is complete, then the body.
    pub(crate) message: Vec<u8>,
    pub(crate) body_start: Option<usize>,
}

impl Mail {
    /// The SMTP client's host name and address.
    pub fn client(&self) -> Option<(&str, &ClientAddress)> {
        self.client
            .as_ref()
            .map(|(name, address)| (name.as_str(), address))
    }

    /// A macro the MTA sent for this connection or mail (`daemon_name`,
    /// `auth_authen`, `i`, ...; braces are not part of the name).
    pub fn macro_value(&self, name: &str) -> Option<&str> {
        self.macros.get(name).map(String::as_str)
    }

    /// The envelope sender without angle brackets (empty for bounces).
    pub fn sender(&self) -> &str {
        &self.sender
    }

    /// The envelope recipients without angle brackets, in RCPT order.
    pub fn recipients(&self) -> &[String] {
        &self.recipients
    }

    /// The envelope sender in canonical form ([`Mailbox`]), `None` for the
    /// null sender, or why its address is refused.
    pub fn canonical_sender(&self) -> Result<Option<Mailbox>, MailboxError> {
        if self.sender.is_empty() {
            return Ok(None);
        }
        canonical(&self.sender).map(Some)
    }

    /// The envelope recipients in canonical form ([`Mailbox`]), or why the
    /// first refused one is refused. [`recipients`](Mail::recipients) keeps
    /// the MTA's spelling, which is what the MTA knows them by.
    pub fn canonical_recipients(&self) -> Result<Vec<Mailbox>, MailboxError> {
        self.recipients.iter().map(|r| canonical(r)).collect()
    }

    /// The header fields in order.
    pub fn headers(&self) -> &[Header] {
        &self.headers
    }

    /// The whole message: header fields, the empty line, the body, with CRLF
    /// line breaks (what a gateway processes).
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// The body (after the empty line).
    pub fn body(&self) -> &[u8] {
        self.body_start
            .and_then(|start| self.message.get(start..))
            .unwrap_or_default()
    }

    pub(crate) fn push_header(&mut self, name: String, value: Vec<u8>) {
        self.message.extend_from_slice(name.as_bytes());
        self.message.push(b':');
        if !self.leading_space {
            self.message.push(b' ');
        }
        self.message.extend_from_slice(&canonicalize(&value));
        self.message.extend_from_slice(b"\r\n");
        self.headers.push(Header { name, value });
    }

    pub(crate) fn end_headers(&mut self) {
        if self.body_start.is_none() {
            self.message.extend_from_slice(b"\r\n");
            self.body_start = Some(self.message.len());
        }
    }
}

/// An address the MTA sent, its one pair of angle brackets already removed
/// by [`strip_brackets`]: a second pair (`<<a@b>>`) is refused, not removed.
fn canonical(address: &str) -> Result<Mailbox, MailboxError> {
    if address.starts_with('<') {
        return Err(MailboxError::ForbiddenCharacter(address.to_owned()));
    }
    Mailbox::parse(address)
}

/// An SMTP path without its angle brackets: `<a@b>` is `a@b`, `<>` is empty.
pub(crate) fn strip_brackets(path: &str) -> String {
    let path = path.trim();
    path.strip_prefix('<')
        .and_then(|p| p.strip_suffix('>'))
        .unwrap_or(path)
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_rebuilt_with_crlf() {
        let mut mail = Mail::default();
        mail.push_header("Subject".into(), b"folded\n\tline".to_vec());
        mail.push_header("X-Already".into(), b"crlf\r\n more".to_vec());
        mail.end_headers();
        mail.end_headers();
        mail.message.extend_from_slice(b"body\r\n");
        assert_eq!(
            mail.message(),
            b"Subject: folded\r\n\tline\r\nX-Already: crlf\r\n more\r\n\r\nbody\r\n"
        );
        assert_eq!(mail.body(), b"body\r\n");
    }

    #[test]
    fn paths_lose_their_brackets() {
        assert_eq!(strip_brackets("<a@b.example>"), "a@b.example");
        assert_eq!(strip_brackets("<>"), "");
        assert_eq!(strip_brackets("bare@b.example"), "bare@b.example");
    }
}
