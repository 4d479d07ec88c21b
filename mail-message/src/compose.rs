//! Pieces of messages the gateway writes itself (notifications, bounces):
//! text that must stay on one line. Their dates are [`crate::date`]'s
//! ([`crate::rfc5322_date`]).

/// Text for a header field or one line of a generated message: control
/// characters, line breaks included, become spaces, so that text from a
/// mail or a remote server (a subject, a reason) cannot add header fields.
///
/// ```
/// assert_eq!(mail_message::one_line("Hi\r\nBcc: eve@evil.example"), "Hi  Bcc: eve@evil.example");
/// ```
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}
