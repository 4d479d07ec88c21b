//! The password fallback for recipients with neither certificate nor key:
//! the original message inside an AES-256 encrypted PDF, attached to a
//! carrier mail that explains how to open it. The password goes to a
//! [`PasswordChannel`], never into the carrier.

use std::time::SystemTime;

use mail_message::{Envelope as MimeEnvelope, LineBreak, encode_base64};
pub use mailgate_password_container::generate_password;
use mailgate_password_container::{Container, Sealed};

use crate::notification::Notice;

/// The policy's name of a container (`password-pdf`, `password-zip`), for
/// the audit record.
pub(crate) fn container_name(container: Container) -> &'static str {
    match container {
        Container::Pdf => "password-pdf",
        Container::Zip => "password-zip",
    }
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

/// The carrier mail: the original's outer header fields (From, To,
/// Subject, ...) and a body that explains, with the container attached.
pub(crate) fn carrier(
    message: &[u8],
    password: &str,
    container: Container,
) -> Result<Vec<u8>, String> {
    let Sealed {
        data: attachment,
        mime_type,
        file_name,
    } = container
        .seal(message, password)
        .map_err(|e| e.to_string())?;
    let what = match container {
        Container::Pdf => ("PDF", "PDF reader", "PDF-Datei", "PDF-Programm"),
        Container::Zip => (
            "ZIP archive",
            "archiver such as 7-Zip",
            "ZIP-Datei",
            "Archivprogramm wie 7-Zip",
        ),
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
    fn the_carrier_keeps_the_outer_fields_and_not_the_content() -> Result<(), String> {
        let message = b"From: a@behoerde.example\r\nTo: d@extern.example\r\nSubject: =?utf-8?q?Pers=C3=B6nlich?=\r\n\
            Content-Type: text/plain; charset=utf-8\r\n\r\nDas Geheimnis\r\n";
        let password = generate_password(20).map_err(|e| e.to_string())?;
        let carrier = carrier(message, &password, Container::Pdf)?;
        let text = String::from_utf8_lossy(&carrier);
        assert!(text.starts_with("From: a@behoerde.example\r\nTo: d@extern.example\r\n"));
        assert!(!text.contains("Das Geheimnis"));
        assert!(!text.contains(password.as_str()));
        assert!(text.contains("application/pdf"));
        Ok(())
    }
}
