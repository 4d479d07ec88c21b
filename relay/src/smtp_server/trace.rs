//! The `Received:` trace field this relay prepends to every message it
//! takes (RFC 5321 section 4.4: an SMTP server MUST insert one at the top
//! of the message when it receives a message for delivery or relaying).
//!
//! What the client says about itself (its EHLO name) is the one part of
//! the field the client controls. It goes in only where it is a domain or
//! an address literal made of letters, digits and `-._:[]`, at most 255
//! bytes; anything else is written `unknown`. So no client can put a
//! comment, a `;` (which ends the clauses and starts the date), a second
//! field or non-ASCII text into the field. (Command lines never hold CR or
//! LF: a bare one ends the session, see `input`.) The recipient of the
//! `for` clause is a canonical mailbox from `mail_message::Mailbox` and
//! appears only when the transaction has exactly one recipient (so a
//! message to many does not tell each of them the others) and it is
//! printable ASCII.

use std::net::IpAddr;
use std::time::SystemTime;

/// What the `with` clause says (RFC 3848).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Protocol {
    /// The client said EHLO (not HELO).
    pub(crate) extended: bool,
    /// The session runs over TLS.
    pub(crate) tls: bool,
    /// The client authenticated (SMTP AUTH).
    pub(crate) authenticated: bool,
}

impl Protocol {
    fn name(self) -> &'static str {
        match (
            self.extended || self.tls || self.authenticated,
            self.tls,
            self.authenticated,
        ) {
            (false, _, _) => "SMTP",
            (true, false, false) => "ESMTP",
            (true, true, false) => "ESMTPS",
            (true, false, true) => "ESMTPA",
            (true, true, true) => "ESMTPSA",
        }
    }
}

/// What the trace field records about one transaction.
#[derive(Debug, Clone)]
pub(crate) struct Trace<'a> {
    /// The argument of the client's EHLO or HELO.
    pub(crate) helo: &'a str,
    /// The client's address, when the session runs over TCP.
    pub(crate) peer: Option<IpAddr>,
    /// This relay's host name.
    pub(crate) by: &'a str,
    pub(crate) protocol: Protocol,
    /// The transaction's recipients (canonical mailboxes).
    pub(crate) recipients: &'a [String],
    pub(crate) date: SystemTime,
}

/// The EHLO name as it may appear in the field: a domain or an address
/// literal of safe characters, else `unknown`.
fn safe_helo(helo: &str) -> &str {
    let name = helo.split_ascii_whitespace().next().unwrap_or_default();
    let safe = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:[]".contains(&b));
    if safe { name } else { "unknown" }
}

/// An address as RFC 5321 section 4.1.3 writes an address literal.
fn address_literal(address: IpAddr) -> String {
    match crate::access::canonical_ip(address) {
        IpAddr::V4(v4) => format!("[{v4}]"),
        IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
    }
}

impl Trace<'_> {
    /// The whole field, folded, ending in CR LF.
    pub(crate) fn field(&self) -> String {
        let mut field = format!("Received: from {}", safe_helo(self.helo));
        if let Some(peer) = self.peer {
            field.push_str(&format!(" ({})", address_literal(peer)));
        }
        field.push_str(&format!(
            "\r\n\tby {} (mailgate relay) with {}",
            self.by,
            self.protocol.name()
        ));
        if let [recipient] = self.recipients
            && recipient.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        {
            field.push_str(&format!("\r\n\tfor <{recipient}>"));
        }
        field.push_str(&format!(
            ";\r\n\t{}\r\n",
            mail_message::rfc5322_date(self.date)
        ));
        field
    }
}

/// Whether a header line (without its line end) starts a `Received`
/// field: the name in any case, optional white space, a colon (RFC 5322
/// section 4.5.3 allows white space before the colon in obsolete syntax,
/// and a reader that counts hops must count those too).
pub(crate) fn is_received(line: &[u8]) -> bool {
    let name = b"received";
    match line.get(..name.len()) {
        Some(head) if head.eq_ignore_ascii_case(name) => {
            line.get(name.len()..)
                .unwrap_or_default()
                .iter()
                .find(|b| !matches!(b, b' ' | b'\t'))
                == Some(&b':')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn trace<'a>(helo: &'a str, recipients: &'a [String]) -> Trace<'a> {
        Trace {
            helo,
            peer: Some("192.0.2.7".parse().unwrap()),
            by: "relay.test",
            protocol: Protocol {
                extended: true,
                tls: true,
                authenticated: false,
            },
            recipients,
            date: UNIX_EPOCH + Duration::from_secs(86_400),
        }
    }

    #[test]
    fn the_field_has_from_by_with_for_and_the_date() {
        let one = ["bob@partner.example".to_owned()];
        assert_eq!(
            trace("client.example", &one).field(),
            "Received: from client.example ([192.0.2.7])\r\n\tby relay.test (mailgate relay) \
             with ESMTPS\r\n\tfor <bob@partner.example>;\r\n\tFri, 02 Jan 1970 00:00:00 +0000\r\n"
        );
        let two = ["a@x.example".to_owned(), "b@y.example".to_owned()];
        let field = trace("[IPv6:::1]", &two).field();
        assert!(field.starts_with("Received: from [IPv6:::1] ([192.0.2.7])"));
        assert!(!field.contains("for <"), "{field}");
    }

    proptest::proptest! {
        /// Whatever the client calls itself, the field is one field: every
        /// line but the first starts with a tab, it has one `;` before the
        /// date, no parenthesis but the relay's own, ASCII only; and it
        /// parses as a header field.
        #[test]
        fn no_helo_name_injects_anything(helo in "\\PC{0,300}") {
            let recipients = ["bob@partner.example".to_owned()];
            let field = trace(&helo, &recipients).field();
            proptest::prop_assert!(field.is_ascii());
            let lines: Vec<&str> = field.split_terminator("\r\n").collect();
            proptest::prop_assert!(lines.iter().skip(1).all(|l| l.starts_with('\t')));
            proptest::prop_assert_eq!(field.matches(';').count(), 1);
            proptest::prop_assert_eq!(field.matches('(').count(), 2);
            let message = format!("{field}Subject: x\r\n\r\nbody\r\n");
            let tree = mail_message::MessageTree::parse(message.as_bytes());
            proptest::prop_assert!(tree.header_error().is_none());
            proptest::prop_assert_eq!(tree.root().fields().len(), 2);
        }
    }

    #[test]
    fn received_fields_are_recognised_in_any_spelling() {
        for line in [&b"Received: x"[..], b"RECEIVED:x", b"received \t: x"] {
            assert!(is_received(line), "{line:?}");
        }
        for line in [
            &b"Received-SPF: pass"[..],
            b"X-Received: y",
            b"Receive: z",
            b"\treceived: x",
        ] {
            assert!(!is_received(line), "{line:?}");
        }
    }
}
