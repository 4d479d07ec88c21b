//! Where a key passphrase comes from: an environment variable, or a file
//! that only the gateway's user can read (what service managers hand out
//! as credentials: systemd `LoadCredential=`, Kubernetes secrets).

use std::fmt;
use std::path::PathBuf;

use zeroize::Zeroizing;

/// The source of a passphrase.
///
/// ```
/// use gateway_facade::Passphrase;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("keys.pass");
/// std::fs::write(&path, "correct horse battery staple\n")?;
/// #[cfg(unix)]
/// std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
/// let secret = Passphrase::File(path).read()?;
/// assert_eq!(secret.as_str(), "correct horse battery staple");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Passphrase {
    /// The value of this environment variable.
    Env(String),
    /// The contents of this file, without one final line break. On Unix
    /// the file must not be readable or writable by group or others.
    File(PathBuf),
}

/// Why a passphrase could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PassphraseError {
    /// The variable is unset or empty.
    #[error("the passphrase variable {0} is not set")]
    Unset(String),
    /// The file cannot be read, is empty, or is open to others.
    #[error("passphrase file {path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl Passphrase {
    /// Reads the passphrase now.
    pub fn read(&self) -> Result<Zeroizing<String>, PassphraseError> {
        match self {
            Passphrase::Env(variable) => match std::env::var(variable) {
                Ok(value) if !value.is_empty() => Ok(Zeroizing::new(value)),
                _ => Err(PassphraseError::Unset(variable.clone())),
            },
            Passphrase::File(path) => {
                let failed = |reason: String| PassphraseError::File {
                    path: path.clone(),
                    reason,
                };
                let metadata = std::fs::metadata(path).map_err(|e| failed(e.to_string()))?;
                #[cfg(unix)]
                {
                    use std::os::unix::fs::PermissionsExt;
                    let mode = metadata.permissions().mode();
                    if mode & 0o077 != 0 {
                        return Err(failed(format!(
                            "open to group or others (mode {:o}); chmod 600 it",
                            mode & 0o777
                        )));
                    }
                }
                if !metadata.is_file() {
                    return Err(failed("not a regular file".to_owned()));
                }
                let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| failed(e.to_string()))?);
                let text =
                    std::str::from_utf8(&bytes).map_err(|_| failed("not UTF-8 text".to_owned()))?;
                let text = text
                    .strip_suffix("\r\n")
                    .or_else(|| text.strip_suffix('\n'))
                    .unwrap_or(text);
                if text.is_empty() {
                    return Err(failed("empty".to_owned()));
                }
                Ok(Zeroizing::new(text.to_owned()))
            }
        }
    }
}

impl fmt::Display for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Passphrase::Env(variable) => write!(f, "the environment variable {variable}"),
            Passphrase::File(path) => write!(f, "the file {}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn files_must_be_private_non_empty_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p");
        let source = Passphrase::File(path.clone());
        assert!(matches!(source.read(), Err(PassphraseError::File { .. })));
        std::fs::write(&path, "geheim\r\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let open = source.read().unwrap_err().to_string();
            assert!(
                open.contains("open to group or others (mode 644)"),
                "{open}"
            );
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        assert_eq!(source.read().unwrap().as_str(), "geheim");
        std::fs::write(&path, "\n").unwrap();
        assert!(source.read().unwrap_err().to_string().ends_with("empty"));
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert!(source.read().unwrap_err().to_string().contains("UTF-8"));
    }

    #[test]
    fn variables_must_be_set() {
        let source = Passphrase::Env("MAILGATE_TEST_SURELY_UNSET_VARIABLE".into());
        assert_eq!(
            source.read(),
            Err(PassphraseError::Unset(
                "MAILGATE_TEST_SURELY_UNSET_VARIABLE".into()
            ))
        );
    }
}
