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
}
