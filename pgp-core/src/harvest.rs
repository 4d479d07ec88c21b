//! Certificates found in inbound mail, for the administrator's pending
//! list: `application/pgp-keys` attachments
//! ([RFC 3156 section 7](https://www.rfc-editor.org/rfc/rfc3156#section-7))
//! and the Autocrypt header.
//!
//! Nothing here is trusted: the caller decides what to do with what was
//! found. Secret key material is never returned.

use mail_message::{Entity, MAX_DEPTH, Multipart};
use sequoia_openpgp::Cert;

use crate::autocrypt::AutocryptHeader;
use crate::error::Error;
use crate::keys;

/// Where a harvested certificate came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// The message's Autocrypt header, for the From address.
    Autocrypt,
    /// An `application/pgp-keys` part, by MIME part number ("2", "1.3").
    Attachment {
        /// The part number.
        part: String,
    },
}

/// A certificate found in a message.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HarvestedCertificate {
    /// The certificate, public parts only.
    pub certificate: Cert,
    /// Where it was found.
    pub source: Source,
}

/// Every certificate a message carries: its Autocrypt header (when it
/// names the From address) and its `application/pgp-keys` parts.
/// Attachments that do not parse as certificates are skipped.
///
/// ```
/// # let key = testkit::openpgp_key("Alice <alice@example.org>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
/// use pgp_core::{Source, harvest_certificates};
///
/// let mut message = b"From: alice@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nMy key.\r\n--b\r\nContent-Type: application/pgp-keys\r\n\r\n".to_vec();
/// message.extend_from_slice(&key.public_armored());
/// message.extend_from_slice(b"\r\n--b--\r\n");
/// let found = harvest_certificates(&message)?;
/// assert_eq!(found.len(), 1);
/// assert_eq!(found[0].source, Source::Attachment { part: "2".to_owned() });
/// # Ok::<(), pgp_core::Error>(())
/// ```
pub fn harvest_certificates(message: &[u8]) -> Result<Vec<HarvestedCertificate>, Error> {
    let mut found = Vec::new();
    if let Some(header) = AutocryptHeader::from_message(message)? {
        found.push(HarvestedCertificate {
            certificate: header.certificate,
            source: Source::Autocrypt,
        });
    }
    let entity = Entity::parse(message)?;
    attachments(&entity, 0, "", &mut found)?;
    Ok(found)
}

fn attachments(
    entity: &Entity<'_>,
    depth: usize,
    path: &str,
    found: &mut Vec<HarvestedCertificate>,
) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(mail_message::MimeError::TooDeep.into());
    }
    let content_type = entity.content_type()?;
    if content_type.is_multipart() {
        let boundary = content_type
            .parameter("boundary")
            .ok_or(mail_message::MimeError::MissingBoundary)?;
        let multipart = Multipart::split(entity.body(), boundary)?;
        for (index, part) in multipart.parts().iter().enumerate() {
            let child_path = if path.is_empty() {
                format!("{}", index + 1)
            } else {
                format!("{path}.{}", index + 1)
            };
            attachments(&Entity::parse(part)?, depth + 1, &child_path, found)?;
        }
    } else if content_type.mime_type() == "application/pgp-keys" {
        let part = if path.is_empty() { "1" } else { path };
        if let Ok(certs) = keys::parse_certificates(&entity.decoded_body()?) {
            found.extend(certs.into_iter().map(|cert| HarvestedCertificate {
                certificate: cert.strip_secret_key_material(),
                source: Source::Attachment {
                    part: part.to_owned(),
                },
            }));
        }
    }
    Ok(())
}
