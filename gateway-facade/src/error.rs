//! What can go wrong when building or running a gateway.

use std::path::PathBuf;

use crate::store::StoreError;

/// An error of the gateway itself (configuration, keys, stores). Problems
/// with a *message* never surface as `Error` from
/// [`Gateway::process`](crate::Gateway::process): they become dispositions
/// (reject, defer) with a reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The configuration file is malformed.
    #[error("{path}: {message}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The policy is invalid.
    #[error("policy: {0}")]
    Policy(#[from] rule_engine::Error),
    /// The certificate directory failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// S/MIME material is malformed or an S/MIME operation failed.
    #[error("S/MIME: {0}")]
    Smime(#[from] smime_core::Error),
    /// OpenPGP material is malformed or an OpenPGP operation failed.
    #[error("OpenPGP: {0}")]
    Pgp(#[from] pgp_core::Error),
    /// A passphrase environment variable is not set.
    #[error("the passphrase variable {0} is not set")]
    MissingPassphrase(String),
    /// A key passphrase (variable or file) could not be read.
    #[error(transparent)]
    Passphrase(#[from] crate::PassphraseError),
    /// An organisation key in a PKCS#11 token cannot be used (PIN, key,
    /// module or certificate wrong).
    #[cfg(feature = "pkcs11")]
    #[error("PKCS#11: {0}")]
    Pkcs11(#[from] mailgate_pkcs11::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { path, source }
    }
}
