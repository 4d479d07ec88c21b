//! What can go wrong in the spool.

use std::io;
use std::path::PathBuf;

/// A spool operation that failed. Nothing acknowledged is lost by a failed
/// operation: it either happened completely or not at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// Reading, writing, syncing or renaming a spool file failed.
    #[error("spool {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Reading the message to spool failed (the client went away); nothing
    /// was spooled.
    #[error("reading the message: {0}")]
    Input(io::Error),
    /// The message is larger than the spool accepts; nothing was spooled.
    #[error("message larger than {limit} bytes")]
    TooBig {
        /// The limit.
        limit: u64,
    },
    /// A spool file does not have the spool's format (damaged by something
    /// other than this crate).
    #[error("spool file {path} is damaged: {reason}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// No entry with this id (already delivered or never spooled).
    #[error("no spool entry {0}")]
    NotFound(String),
    /// An id that this spool never hands out (path separators, dots).
    #[error("invalid spool id {0:?}")]
    InvalidId(String),
}

impl SpoolError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> SpoolError {
        let path = path.into();
        move |source| SpoolError::Io { path, source }
    }
}
