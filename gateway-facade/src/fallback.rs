//! The password fallback for recipients with neither certificate nor key:
//! the original message inside an AES-256 encrypted PDF, attached to a
//! carrier mail that explains how to open it. The password goes to a
//! [`PasswordChannel`], never into the carrier.

use std::time::SystemTime;

use mail_message::{Envelope as MimeEnvelope, LineBreak, encode_base64};
use mail_parser::{MessageParser, MimeHeaders};
use zeroize::Zeroizing;

use crate::notification::Notice;
use crate::password_pdf::{EmbeddedFile, PdfContent, encrypted_pdf};
use crate::password_zip::encrypted_zip;

/// The container of a password-protected delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Container {
    /// PDF 2.0, AES-256: text on pages, attachments embedded.
    Pdf,
    /// ZIP with AES-256 (AE-2) entries: `message.txt`, the attachments, and
    /// the original `message.eml`.
    Zip,
}

impl Container {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Container::Pdf => "password-pdf",
            Container::Zip => "password-zip",
        }
    }
}

/// Characters of generated passwords: letters and digits without the ones
/// people confuse when reading a password aloud (0/O, 1/l/I).
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// A password from the operating system's CSPRNG, `length` characters
/// (about 5.8 bits each).
pub fn generate_password(length: usize) -> Result<Zeroizing<String>, String> {
    let mut password = Zeroizing::new(String::with_capacity(length));
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - 256 % ALPHABET.len();
    while password.len() < length {
        let mut bytes = Zeroizing::new([0u8; 64]);
        getrandom::fill(&mut *bytes).map_err(|e| format!("no randomness for a password: {e}"))?;
        for &b in bytes.iter() {
            if usize::from(b) < limit
                && password.len() < length
                && let Some(&c) = ALPHABET.get(usize::from(b) % ALPHABET.len())
            {
                password.push(char::from(c));
            }
        }
    }
    Ok(password)
}

/// Where the password of a fallback delivery goes.
///
/// The default, [`NotifySender`], writes it into a notification to the
/// sender, who passes it on by phone; a host may send it by SMS instead.
///
/// The gateway asks a channel only for senders in the policy's
/// `internal_domains`: for any other sender (the null sender included) a
/// password fallback is refused before a password exists, so no channel
/// ever hands a password to someone outside the organisation.
pub trait PasswordChannel: Send + Sync {
    /// Hands on the password protecting the mail `subject` from `sender` to
    /// `recipients`. Returns a notification mail for the sender, if this
    /// channel works that way. An error defers the delivery: a carrier whose
    /// password never arrives is of no use.
    fn hand_over(
        &self,
        sender: &str,
        recipients: &[String],
        subject: Option<&str>,
        password: &str,
    ) -> Result<Option<Vec<u8>>, String>;
}

/// The default channel: a notification to the sender with the password.
#[derive(Debug, Clone)]
pub struct NotifySender {
    postmaster: String,
}

impl NotifySender {
    /// Notifications come from `postmaster`.
    pub fn new(postmaster: &str) -> Self {
        NotifySender {
            postmaster: postmaster.to_owned(),
        }
    }
}

impl PasswordChannel for NotifySender {
    fn hand_over(
        &self,
        sender: &str,
        recipients: &[String],
        subject: Option<&str>,
        password: &str,
    ) -> Result<Option<Vec<u8>>, String> {
        let details = [
            format!("Password: {password}"),
            "Please pass this password on to the recipients by telephone or in \
             person, never by e-mail."
                .to_owned(),
        ];
        Ok(Some(
            Notice {
                postmaster: &self.postmaster,
                sender,
                subject,
                recipients,
                headline: "Sent as a password-protected PDF",
                reason: "the recipients have no certificate or key for encryption",
                template: None,
                details: &details,
            }
            .render(SystemTime::now()),
        ))
    }
}

/// What the PDF shows: the message's author, recipients, date and subject,
/// then its text (HTML rendered as text); its attachments are embedded.
fn pdf_content(message: &[u8]) -> PdfContent {
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

/// The decoded value of a top-level header field, for the PDF's header
/// lines.
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

/// The carrier mail: the original's outer header fields (From, To,
/// Subject, ...) and a body that explains, with the container attached.
pub(crate) fn carrier(
    message: &[u8],
    password: &str,
    container: Container,
) -> Result<Vec<u8>, String> {
    let content = pdf_content(message);
    let (attachment, mime_type, file_name, what) = match container {
        Container::Pdf => (
            encrypted_pdf(&content, password).map_err(|e| e.to_string())?,
            "application/pdf",
            "message.pdf",
            ("PDF", "PDF reader", "PDF-Datei", "PDF-Programm"),
        ),
        Container::Zip => {
            let mut files = vec![EmbeddedFile {
                name: "message.txt".into(),
                mime_type: "text/plain".into(),
                data: content.text.join("\r\n").into_bytes(),
            }];
            files.extend(content.attachments);
            files.push(EmbeddedFile {
                name: "message.eml".into(),
                mime_type: "message/rfc822".into(),
                data: message.to_vec(),
            });
            (
                encrypted_zip(&files, password).map_err(|e| e.to_string())?,
                "application/zip",
                "message.zip",
                (
                    "ZIP archive",
                    "archiver such as 7-Zip",
                    "ZIP-Datei",
                    "Archivprogramm wie 7-Zip",
                ),
            )
        }
    };
    let envelope = MimeEnvelope::split(message).map_err(|e| e.to_string())?;
    let mut boundary = [0u8; 12];
    getrandom::fill(&mut boundary).map_err(|e| e.to_string())?;
    let boundary = format!("mailgate-{}", crate::certificates::hex(&boundary));
    let mut entity = format!(
        "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\
         This message is protected: it is in the attached {en}, encrypted\r\n\
         with a password (AES-256). The sender will give you the password\r\n\
         separately, by telephone or in person. Open the {en} with a {en_tool}\r\n\
         and enter the password when asked; the message's attachments are inside.\r\n\r\n\
         Diese Nachricht ist geschützt: Sie steht in der angehängten {de},\r\n\
         verschlüsselt mit einem Passwort (AES-256). Das Passwort erhalten Sie\r\n\
         getrennt vom Absender, telefonisch oder persönlich. Öffnen Sie die Datei\r\n\
         mit einem {de_tool} und geben Sie das Passwort ein.\r\n\
         --{boundary}\r\nContent-Type: {mime_type}; name=\"{file_name}\"\r\n\
         Content-Disposition: attachment; filename=\"{file_name}\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n",
        en = what.0,
        en_tool = what.1,
        de = what.2,
        de_tool = what.3,
    )
    .into_bytes();
    entity.extend(encode_base64(&attachment, LineBreak::Crlf));
    entity.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    Ok(envelope.rebuild(&entity))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_have_the_length_and_alphabet_asked_for() -> Result<(), String> {
        let a = generate_password(20)?;
        let b = generate_password(20)?;
        assert_eq!(a.len(), 20);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)));
        assert_ne!(a, b);
        Ok(())
    }

    #[test]
    fn the_carrier_keeps_the_outer_fields_and_not_the_content() -> Result<(), String> {
        let message = b"From: a@behoerde.example\r\nTo: d@extern.example\r\nSubject: =?utf-8?q?Pers=C3=B6nlich?=\r\n\
            Content-Type: text/plain; charset=utf-8\r\n\r\nDas Geheimnis\r\n";
        let password = generate_password(20)?;
        let carrier = carrier(message, &password, Container::Pdf)?;
        let text = String::from_utf8_lossy(&carrier);
        assert!(text.starts_with("From: a@behoerde.example\r\nTo: d@extern.example\r\n"));
        assert!(!text.contains("Das Geheimnis"));
        assert!(!text.contains(password.as_str()));
        assert!(text.contains("application/pdf"));
        let content = pdf_content(message);
        assert!(
            content.text.contains(&"Subject: Persönlich".to_owned()),
            "{:?}",
            content.text
        );
        assert!(content.text.contains(&"Das Geheimnis".to_owned()));
        Ok(())
    }
}
