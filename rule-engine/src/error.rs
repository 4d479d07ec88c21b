//! The crate's error type.

use std::path::PathBuf;

use crate::diagnostic::Diagnostic;

/// What went wrong loading a policy or running policy tests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The policy has errors; `diagnostics` holds them, and any warnings.
    #[error("{file}: invalid policy: {} error(s)", diagnostics.iter().filter(|d| d.is_error()).count())]
    InvalidPolicy {
        /// The file name the policy came from.
        file: String,
        /// Errors and warnings, in file order.
        diagnostics: Vec<Diagnostic>,
    },
    /// A policy test case (`NAME.json`) or facts file is malformed.
    #[error("{path}: {message}")]
    InvalidTestCase {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A regex of the policy cannot be built (larger than the size limit).
    #[error("rule {rule}: {message}")]
    Regex {
        /// The id of the rule holding it.
        rule: String,
        /// What went wrong.
        message: String,
    },
    /// A policy could not be written as TOML.
    #[error("cannot write the policy as TOML: {message}")]
    Serialize {
        /// What the TOML writer said.
        message: String,
    },
}
