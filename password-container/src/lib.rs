#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod content;
mod password;
mod pdf;
mod zip;

pub use content::message_content;
pub use password::generate_password;
pub use pdf::{EmbeddedFile, PdfContent, encrypted_pdf};
/// The zeroizing wrapper [`generate_password`] returns the password in.
pub use zeroize::Zeroizing;
pub use zip::encrypted_zip;

/// What can go wrong when making a container.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The operating system's random generator failed (keys, salts, IVs
    /// and passwords all come from it; nothing is made without it).
    #[error("no randomness from the system: {0}")]
    Randomness(String),
    /// More than 65,535 files or more than 4 GiB for a ZIP archive (ZIP64
    /// is not written).
    #[error("too large for a ZIP archive without ZIP64")]
    TooLarge,
}

impl Error {
    fn randomness(error: getrandom::Error) -> Error {
        Error::Randomness(error.to_string())
    }
}

/// The kind of container a message goes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// PDF 2.0, AES-256 (security handler revision 6): the header lines and
    /// text on pages, the attachments as embedded files.
    Pdf,
    /// ZIP with AES-256 (WinZip AE-2) entries: `message.txt` (header lines
    /// and text), the attachments, and the original `message.eml`.
    Zip,
}

/// A message sealed in a container, ready to attach to a mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The container file.
    pub data: Vec<u8>,
    /// Its MIME type: `application/pdf` or `application/zip`.
    pub mime_type: &'static str,
    /// A file name for it: `message.pdf` or `message.zip`.
    pub file_name: &'static str,
}

impl Container {
    /// Seals `message` (RFC 5322) under `password`: what
    /// [`message_content`] finds in it, in this container.
    pub fn seal(self, message: &[u8], password: &str) -> Result<Sealed, Error> {
        let content = message_content(message);
        Ok(match self {
            Container::Pdf => Sealed {
                data: encrypted_pdf(&content, password)?,
                mime_type: "application/pdf",
                file_name: "message.pdf",
            },
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
                Sealed {
                    data: encrypted_zip(&files, password)?,
                    mime_type: "application/zip",
                    file_name: "message.zip",
                }
            }
        })
    }
}

/// Lower-case hex, as PDF writes hexadecimal strings.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
