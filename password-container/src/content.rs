//! What a container shows of a mail: its author, recipients, date and
//! subject, then its text (HTML rendered as text), and its attachments as
//! files.

use mail_parser::{MessageParser, MimeHeaders};

use crate::{EmbeddedFile, PdfContent};

/// The content of `message` (RFC 5322) for a container: the header lines
/// `From`, `To`, `Cc`, `Date` and `Subject` (encoded words decoded), an empty
/// line, the text body (HTML rendered as text), and the attachments as
/// [`EmbeddedFile`]s (unnamed ones as `attachment-N`).
///
/// Input that does not parse as a mail is shown as text, line by line: a
/// person can still read what was sent.
///
/// ```
/// let content = mailgate_password_container::message_content(
///     b"From: a@example.org\r\nSubject: Hallo\r\n\r\nDer Text\r\n",
/// );
/// assert_eq!(content.text, ["From: a@example.org", "Subject: Hallo", "", "Der Text"]);
/// assert!(content.attachments.is_empty());
/// ```
pub fn message_content(message: &[u8]) -> PdfContent {
    let Some(parsed) = MessageParser::default().parse(message) else {
        return PdfContent {
            text: String::from_utf8_lossy(message)
                .lines()
                .map(str::to_owned)
                .collect(),
            attachments: Vec::new(),
        };
    };
    let mut text = Vec::new();
    for name in ["From", "To", "Cc", "Date", "Subject"] {
        if let Some(value) = raw_header(message, name) {
            text.push(format!("{name}: {value}"));
        }
    }
    text.push(String::new());
    if let Some(body) = parsed.body_text(0) {
        text.extend(body.lines().map(str::to_owned));
    }
    let attachments = parsed
        .attachments()
        .enumerate()
        .map(|(index, part)| {
            let name = part
                .attachment_name()
                .map_or_else(|| format!("attachment-{}", index + 1), str::to_owned);
            let mime = part.content_type().map_or_else(
                || "application/octet-stream".to_owned(),
                |ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("octet-stream")),
            );
            EmbeddedFile {
                name,
                mime_type: mime.to_ascii_lowercase(),
                data: part.contents().to_vec(),
            }
        })
        .collect();
    PdfContent { text, attachments }
}

/// The decoded value of a top-level header field, for the header lines.
fn raw_header(message: &[u8], name: &str) -> Option<String> {
    let parsed = MessageParser::default().parse_headers(message)?;
    let header = parsed.header_raw(name)?;
    // Decode encoded words by parsing the field on its own.
    let single = format!("{name}:{header}\r\n\r\n");
    let decoded = MessageParser::default().parse_headers(single.as_bytes())?;
    let value = match name {
        "Subject" => decoded.subject().map(str::to_owned),
        _ => Some(header.trim().to_owned()),
    };
    value.map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_words_are_decoded_and_the_text_follows_the_header_lines() {
        let message = b"From: a@behoerde.example\r\nTo: d@extern.example\r\nSubject: =?utf-8?q?Pers=C3=B6nlich?=\r\n\
            Content-Type: text/plain; charset=utf-8\r\n\r\nDas Geheimnis\r\n";
        let content = message_content(message);
        assert!(
            content.text.contains(&"Subject: Persönlich".to_owned()),
            "{:?}",
            content.text
        );
        assert!(content.text.contains(&"Das Geheimnis".to_owned()));
    }
}
