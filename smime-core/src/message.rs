//! S/MIME on whole RFC 5322 messages: the MIME wrapping around CMS.

use zeroize::Zeroizing;

use crate::envelope::{ContentEncryption, DecryptionIdentity, decrypt_cms};
use crate::error::Error;
use mail_message::{ContentType, Envelope, MimeError};

/// A decrypted message: the outer header fields of the encrypted message
/// and the decrypted inner entity.
pub struct DecryptedMessage {
    message: Zeroizing<Vec<u8>>,
    encryption: ContentEncryption,
}

impl DecryptedMessage {
    /// The message: outer fields, then the inner entity (which may itself be
    /// signed: triple-wrapped mail yields its signed layer for verification).
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// The content-encryption algorithm the sender chose.
    pub fn encryption(&self) -> ContentEncryption {
        self.encryption
    }
}

impl std::fmt::Debug for DecryptedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptedMessage")
            .field("len", &self.message.len())
            .field("encryption", &self.encryption)
            .finish()
    }
}

/// Whether a content type is the S/MIME CMS wrapper `application/pkcs7-mime`
/// (or its pre-standard `x-` form, which Outlook still sends), returning its
/// `smime-type` parameter.
pub(crate) fn pkcs7_mime(content_type: &ContentType) -> Option<Option<String>> {
    let smime_type = content_type
        .parameter("smime-type")
        .map(str::to_ascii_lowercase);
    match content_type.mime_type() {
        "application/pkcs7-mime" | "application/x-pkcs7-mime" => Some(smime_type),
        // Some clients label the CMS blob only by its file name.
        "application/octet-stream"
            if content_type
                .parameter("name")
                .is_some_and(|name| name.to_ascii_lowercase().ends_with(".p7m")) =>
        {
            Some(smime_type)
        }
        _ => None,
    }
}

/// Decrypts an S/MIME message (`application/pkcs7-mime` with
/// `smime-type=enveloped-data` or `authEnveloped-data`), keeping its outer
/// header fields.
///
/// ```no_run
/// # fn run(message: &[u8], cert_pem: &[u8], key_pem: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
/// use smime_core::{Certificate, DecryptionIdentity, PrivateKey, decrypt_message};
///
/// let certificate = Certificate::load(cert_pem)?.remove(0);
/// let key = PrivateKey::load(key_pem, None)?;
/// let identity = DecryptionIdentity::new(certificate, key.pkcs8_der())?;
/// let decrypted = decrypt_message(message, &identity)?;
/// std::io::Write::write_all(&mut std::io::stdout(), decrypted.message())?;
/// # Ok(()) }
/// ```
pub fn decrypt_message(
    message: &[u8],
    identity: &DecryptionIdentity,
) -> Result<DecryptedMessage, Error> {
    let envelope = Envelope::split(message)?;
    let content_type = envelope.message().content_type()?;
    let found = || MimeError::UnexpectedContentType {
        expected: "an S/MIME encrypted message (application/pkcs7-mime)",
        found: content_type.mime_type().to_owned(),
    };
    let smime_type = pkcs7_mime(&content_type).ok_or_else(found)?;
    if let Some(kind) = smime_type.as_deref()
        && kind != "enveloped-data"
        && kind != "authenveloped-data"
    {
        return Err(MimeError::UnexpectedContentType {
            expected: "smime-type=enveloped-data or authEnveloped-data",
            found: format!("{}; smime-type={kind}", content_type.mime_type()),
        }
        .into());
    }
    let cms = envelope.message().decoded_body()?;
    let decrypted = decrypt_cms(&cms, identity)?;
    // A peer's `binary` parts become base64 (byte for byte) before the
    // entity takes the message's line breaks.
    let inner = Zeroizing::new(mail_message::without_binary_parts(&decrypted.content).into_owned());
    Ok(DecryptedMessage {
        message: Zeroizing::new(envelope.rebuild(&inner)),
        encryption: decrypted.encryption,
    })
}
