//! The one error type of this crate.

use crate::pem::PemError;

/// Everything that can go wrong in `smime-core`, each variant naming what was
/// wrong with which input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A PEM block could not be decoded.
    #[error(transparent)]
    Pem(#[from] PemError),
    /// The input held no certificate at all.
    #[error(
        "no certificate found: expected PEM `BEGIN CERTIFICATE` blocks or one DER-encoded certificate"
    )]
    NoCertificate,
    /// A certificate is not valid DER X.509.
    #[error("certificate {index}: not a valid DER-encoded X.509 certificate ({source})")]
    MalformedCertificate {
        /// 1-based position of the certificate in the input.
        index: usize,
        /// What the DER decoder reported.
        source: der::Error,
    },
    /// An extension that S/MIME depends on cannot be decoded, or occurs twice.
    #[error("certificate {index}: malformed {extension} extension ({source})")]
    MalformedExtension {
        /// 1-based position of the certificate in the input.
        index: usize,
        /// The extension's name.
        extension: &'static str,
        /// What the DER decoder reported.
        source: der::Error,
    },
    /// CMS input that is not even valid BER.
    #[error("CMS: {0}")]
    MalformedCms(crate::ber::BerError),
    /// CMS input that is valid BER but not the structure RFC 5652 defines.
    #[error("CMS: invalid structure ({0})")]
    InvalidCms(der::Error),
    /// The CMS content is not EnvelopedData or AuthEnvelopedData.
    #[error("CMS: content type {} is not an encrypted message", crate::AlgorithmName(*.0))]
    NotEncrypted(const_oid::ObjectIdentifier),
    /// No recipientInfo names our certificate: the message is not for us.
    #[error("the message is not encrypted to this certificate")]
    NotForUs,
    /// Decryption failed. Deliberately says nothing more (no padding oracle).
    #[error("decryption failed")]
    Decryption,
    /// An algorithm we do not implement.
    #[error("unsupported algorithm {}", crate::AlgorithmName(*.0))]
    UnsupportedAlgorithm(const_oid::ObjectIdentifier),
    /// Encryption with an obsolete cipher (Triple DES) was asked for: such
    /// ciphers are decrypted for legacy mail, never used to encrypt.
    #[error("{0} is obsolete: it is decrypted for legacy mail, never used to encrypt")]
    ObsoleteCipher(crate::ContentEncryption),
    /// An algorithm we implement, with parameters we do not: says which.
    #[error("unsupported {algorithm}: {parameter}")]
    UnsupportedParameters {
        /// The algorithm.
        algorithm: crate::AlgorithmName,
        /// What about its parameters is not supported, and why.
        parameter: &'static str,
    },
    /// The encrypted content is not inside the message.
    #[error("CMS: the encrypted content is detached, not in the message")]
    DetachedEncryptedContent,
    /// The private key is not PKCS#8 RSA, P-256 or P-384.
    #[error("the private key is not an RSA, P-256 or P-384 key in PKCS#8")]
    UnsupportedPrivateKey,
    /// The private key belongs to another certificate.
    #[error("the private key does not belong to the certificate")]
    KeyDoesNotMatchCertificate,
    /// No private key in the input.
    #[error(
        "no private key found: expected PEM `PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`, or DER"
    )]
    NoPrivateKey,
    /// An OpenSSL "traditional" encrypted PEM key (`Proc-Type: 4,ENCRYPTED`).
    #[error("legacy encrypted PEM key: convert it with `openssl pkcs8 -topk8` (PBES2)")]
    LegacyEncryptedKey,
    /// An encrypted private key and no passphrase.
    #[error("the private key is encrypted: a passphrase is required")]
    PassphraseRequired,
    /// The passphrase does not open the private key.
    #[error("the passphrase does not decrypt the private key")]
    WrongPassphrase,
    /// The message's MIME structure is broken or not what S/MIME needs.
    #[error("MIME: {0}")]
    Mime(#[from] mail_message::MimeError),
    /// An algorithm too weak to trust (MD5, SHA-1 in signatures).
    #[error("weak algorithm {} refused", crate::AlgorithmName(*.0))]
    WeakAlgorithm(const_oid::ObjectIdentifier),
    /// The signature algorithm names another digest than the SignerInfo.
    #[error("the signature algorithm and the digest algorithm disagree")]
    InconsistentDigest,
    /// An RSA key below 2048 bits.
    #[error("RSA key of {bits} bits refused: at least 2048 bits are required")]
    WeakKey {
        /// The key's modulus size.
        bits: usize,
    },
    /// RSA-PSS was requested for a key that is not RSA.
    #[error("RSA-PSS needs an RSA key")]
    PssNeedsRsa,
    /// The private-key operation failed (for an
    /// [`ExternalKey`](crate::ExternalKey), also: its signature did not
    /// verify with the certificate).
    #[error("signing failed")]
    SigningFailed,
    /// An [`ExternalKey`](crate::ExternalKey) cannot be reached now (token
    /// removed, session lost, login refused): retrying later may succeed.
    #[error("the private key is unavailable: {0}")]
    KeyUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// An [`ExternalKey`](crate::ExternalKey) does not offer the operation
    /// this message needs.
    #[error("the private key does not support {0}")]
    KeyUnsupported(String),
    /// The CMS content is not SignedData.
    #[error("CMS: content type {} is not a signed message", crate::AlgorithmName(*.0))]
    NotSigned(const_oid::ObjectIdentifier),
    /// Content both inside the SignedData and beside it: which one was
    /// signed would be ambiguous, so neither is trusted.
    #[error("CMS: signed content both encapsulated and detached")]
    ContentConfusion,
    /// A detached signature without the content it signs.
    #[error("CMS: detached signature without content")]
    DetachedContentMissing,
    /// SignedData without any signerInfo.
    #[error("CMS: SignedData without signerInfos (nothing is signed)")]
    NoSignerInfo,
    /// `multipart/signed` without exactly a content and a signature part.
    #[error("multipart/signed needs a content part and a signature part")]
    MalformedSignedMessage,
    /// Encryption without recipients.
    #[error("no recipients: at least one certificate is needed to encrypt")]
    NoRecipients,
    /// A recipient certificate whose key cannot receive encrypted mail.
    #[error("recipient {subject}: {reason}")]
    UnusableRecipient {
        /// The certificate's subject.
        subject: String,
        /// Why its key cannot be used.
        reason: String,
    },
    /// The system's random number generator failed.
    #[error("the system random number generator failed")]
    Randomness,
    /// A PKCS#12 file we cannot use, and why.
    #[error("PKCS#12: {0}")]
    UnsupportedPkcs12(&'static str),
    /// Reading the message or writing the result failed.
    #[error("I/O: {0}")]
    Io(#[source] std::io::Error),
    /// A multipart entity with 8-bit or binary parts too large to re-encode
    /// in bounded memory (see [`mail_message::MAX_REENCODE_IN_MEMORY`]).
    #[error(
        "the message is a multipart with 8-bit or binary content larger than {limit} bytes; encode its parts as base64 or quoted-printable first"
    )]
    ReencodeTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// A `multipart/signed` body beyond the limits of bounded-memory
    /// verification (an overlong delimiter line, a huge signature part).
    #[error("multipart/signed: {0}")]
    MultipartSigned(#[source] mail_message::SplitError),
    /// A message that must be verified in memory and is larger than the
    /// limit for that.
    #[error("the message is larger than {limit} bytes, the limit for this structure")]
    MessageTooLarge {
        /// The limit in bytes.
        limit: u64,
    },
}

impl From<mail_message::SplitError> for Error {
    fn from(error: mail_message::SplitError) -> Error {
        match error {
            mail_message::SplitError::Mime(error) => Error::Mime(error),
            mail_message::SplitError::Io(error) => Error::Io(error),
            other => Error::MultipartSigned(other),
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
