//! The crate's error type.

use mail_message::{AddressError, MimeError};

/// What went wrong with which input.
///
/// A well-formed message whose signature does not hold is not an error: it
/// is a [`crate::Verification`] whose verdict says so. Errors are for input
/// that cannot be judged at all, and for operations that cannot be done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The message or a MIME part is malformed.
    #[error("malformed MIME: {0}")]
    Mime(#[from] MimeError),
    /// An address field is malformed.
    #[error("malformed address: {0}")]
    Address(#[from] AddressError),
    /// Key material that is not an OpenPGP certificate or key.
    #[error("not OpenPGP key material: {reason}")]
    KeyMaterial {
        /// What the parser said.
        reason: String,
    },
    /// A file of keys that holds no key at all.
    #[error("no OpenPGP certificate found in the input")]
    NoCertificate,
    /// A certificate without a secret signing key usable now.
    #[error("certificate {fingerprint} has no usable secret signing key: {reason}")]
    NoSigningKey {
        /// The certificate's fingerprint (hex).
        fingerprint: String,
        /// Why (no secret, revoked, expired, refused by policy, ...).
        reason: String,
    },
    /// A recipient certificate without an encryption-capable key usable now.
    #[error("certificate {fingerprint} cannot be encrypted to: {reason}")]
    NoEncryptionKey {
        /// The certificate's fingerprint (hex).
        fingerprint: String,
        /// Why the certificate is unusable.
        reason: String,
    },
    /// Encrypting to nobody.
    #[error("no recipients given")]
    NoRecipients,
    /// A secret key is passphrase-protected and the passphrase is missing
    /// or wrong.
    #[error(
        "the secret key {fingerprint} is passphrase-protected and the passphrase is missing or wrong"
    )]
    Passphrase {
        /// The key's fingerprint (hex).
        fingerprint: String,
    },
    /// The message is not what the operation expects (for example not
    /// encrypted when decrypting).
    #[error("{expected} expected, found {found}")]
    UnexpectedContent {
        /// What the operation needs.
        expected: &'static str,
        /// What the message has.
        found: String,
    },
    /// None of the given secret keys can decrypt the message.
    #[error("none of the given secret keys can decrypt the message")]
    NoDecryptionKey,
    /// The encrypted data is corrupt or was tampered with (failed MDC or
    /// AEAD check, truncated packets); no plaintext is released.
    #[error("decryption failed, no plaintext released: {reason}")]
    Decryption {
        /// What the OpenPGP layer reported.
        reason: String,
    },
    /// Decrypted data larger than the configured limit (a compression
    /// bomb, or a message beyond what the caller accepts).
    #[error("the plaintext exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// Decrypting this message in memory would hold more than the
    /// in-memory limit ([`crate::Decryptor::with_max_in_memory`]): an
    /// encrypted part inside other MIME parts, an inline block, or a
    /// plaintext larger than the limit asked for with
    /// [`crate::Decryptor::decrypt_message`]. A top-level PGP/MIME message
    /// decrypts in bounded memory with
    /// [`crate::Decryptor::decrypt_message_spooled`].
    #[error("decrypting this message in memory would exceed the limit of {limit} bytes")]
    InMemoryLimit {
        /// The limit in bytes.
        limit: u64,
    },
    /// Compressed packets nested deeper than the limit: a legitimate
    /// message has one compression layer; more only multiply the work of
    /// a decompression bomb.
    #[error("the message nests compressed data more than {limit} levels deep")]
    NestedCompression {
        /// The most compression layers accepted.
        limit: usize,
    },
    /// A multipart entity with 8-bit content too large to re-encode for
    /// signing in bounded memory (see [`crate::MAX_REENCODE_IN_MEMORY`]).
    #[error(
        "the message is a multipart with 8-bit or binary content larger than {limit} bytes; encode its parts as base64 or quoted-printable before signing"
    )]
    ReencodeTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// A signature with a hash the constant-time RSA signer does not make
    /// (only SHA-224, SHA-256, SHA-384 and SHA-512: not SHA-1, MD5,
    /// RIPEMD-160 or SHA-3).
    #[error(
        "an RSA signature with {algorithm} is not made here (SHA-224, SHA-256, SHA-384, SHA-512 only)"
    )]
    UnsupportedSigningHash {
        /// The hash asked for.
        algorithm: sequoia_openpgp::types::HashAlgorithm,
    },
    /// OpenPGP data that could not be parsed or produced.
    #[error("OpenPGP: {reason}")]
    OpenPgp {
        /// What Sequoia reported.
        reason: String,
    },
    /// An Autocrypt header that does not follow the specification.
    #[error("malformed Autocrypt header: {reason}")]
    Autocrypt {
        /// What was wrong.
        reason: String,
    },
    /// A Web Key Directory fetch failed in a way that is not "no key"
    /// (TLS, timeout, server error): retry later, do not conclude.
    #[error("WKD lookup at {url} failed: {reason}")]
    Wkd {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Wraps a Sequoia error, keeping its whole chain of causes.
    pub(crate) fn openpgp(error: impl std::fmt::Display) -> Error {
        Error::OpenPgp {
            reason: format!("{error:#}"),
        }
    }

    /// Like [`Error::openpgp`] for an error that came back through Sequoia
    /// from this crate's own code (a [`sequoia_openpgp::crypto::Signer`]
    /// of ours): that error keeps its type.
    pub(crate) fn sequoia(error: sequoia_openpgp::anyhow::Error) -> Error {
        match error.downcast::<Error>() {
            Ok(ours) => ours,
            Err(theirs) => Error::openpgp(theirs),
        }
    }
}

impl From<mail_message::SpoolError> for Error {
    fn from(error: mail_message::SpoolError) -> Error {
        error.into_error(Error::Mime, Error::Io, |limit| Error::ReencodeTooLarge {
            limit,
        })
    }
}

impl From<mail_message::SplitError> for Error {
    fn from(error: mail_message::SplitError) -> Error {
        match error {
            mail_message::SplitError::Mime(error) => Error::Mime(error),
            mail_message::SplitError::Io(error) => Error::Io(error),
            other => Error::OpenPgp {
                reason: other.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic)]

    use sequoia_openpgp::types::HashAlgorithm;

    use super::*;

    /// An error of ours that Sequoia passes back (from our `Signer`)
    /// keeps its variant; Sequoia's own errors keep their whole chain.
    #[test]
    fn errors_passed_back_through_sequoia_keep_their_type() {
        let ours = sequoia_openpgp::anyhow::Error::from(Error::UnsupportedSigningHash {
            algorithm: HashAlgorithm::SHA1,
        });
        match Error::sequoia(ours) {
            Error::UnsupportedSigningHash { algorithm } => {
                assert_eq!(algorithm, HashAlgorithm::SHA1)
            }
            other => panic!("{other:?}"),
        }
        let theirs = anyhow_context(sequoia_openpgp::Error::NoAcceptableHash);
        match Error::sequoia(theirs) {
            Error::OpenPgp { reason } => {
                assert!(reason.contains("while signing"), "{reason}");
                assert!(reason.contains("acceptable hash"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    /// A Sequoia error with a context line on top, as its writers add.
    fn anyhow_context(error: sequoia_openpgp::Error) -> sequoia_openpgp::anyhow::Error {
        sequoia_openpgp::anyhow::Error::from(error).context("while signing")
    }
}
