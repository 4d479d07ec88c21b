//! Atomic policy reload: evaluations in flight keep the policy they started
//! with, new ones see the new policy, and a policy with errors never
//! replaces a working one.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use crate::diagnostic::Diagnostic;
use crate::error::Error;
use crate::policy::Policy;

/// The policy a running gateway evaluates, swapped atomically on reload.
///
/// [`current`](Self::current) hands out an `Arc<Policy>`: an evaluation holds
/// it for as long as it runs, so a reload never changes the rules under a
/// mail half evaluated. [`reload`](Self::reload) parses the file first and
/// swaps only if it has no errors; otherwise the old policy stays and the
/// error (with every diagnostic) is returned for the log.
///
/// ```
/// use rule_engine::LivePolicy;
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("policy.toml");
/// let end = "\n[default]\nthen = { deliver = true }\n";
/// std::fs::write(&path, format!("[[rules]]\nid = \"a\"\nthen = {{ archive = true }}\n{end}"))?;
/// let (live, warnings) = LivePolicy::load(&path)?;
/// assert!(warnings.is_empty());
///
/// // A broken edit is refused; the working policy stays in force.
/// std::fs::write(&path, format!("[[rules]]\nid = \"a\"\nthen = {{ archiv = true }}\n{end}"))?;
/// assert!(live.reload().is_err());
/// assert_eq!(live.current().rule_count(), 1);
///
/// // A good edit takes effect for the next evaluation.
/// std::fs::write(&path, format!("[[rules]]\nid = \"a\"\nthen = {{ archive = true }}\n\n[[rules]]\nid = \"b\"\nthen = {{ archive = true }}\n{end}"))?;
/// live.reload()?;
/// assert_eq!(live.current().rule_count(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct LivePolicy {
    path: PathBuf,
    current: RwLock<Arc<Policy>>,
}

impl LivePolicy {
    /// Loads the policy at `path`; returns it with its warnings.
    pub fn load(path: impl AsRef<Path>) -> Result<(Self, Vec<Diagnostic>), Error> {
        let path = path.as_ref().to_owned();
        let (policy, warnings) = Policy::load(&path)?;
        policy.prepare()?;
        Ok((
            Self {
                path,
                current: RwLock::new(Arc::new(policy)),
            },
            warnings,
        ))
    }

    /// Wraps an already loaded policy; [`reload`](Self::reload) reads `path`.
    pub fn new(policy: Policy, path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_owned(),
            current: RwLock::new(Arc::new(policy)),
        }
    }

    /// The policy in force now. Hold the `Arc` for one whole evaluation.
    pub fn current(&self) -> Arc<Policy> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Re-reads the file. On success the new policy is in force for every
    /// later [`current`](Self::current) and its warnings are returned; on
    /// any error the policy in force is unchanged.
    pub fn reload(&self) -> Result<Vec<Diagnostic>, Error> {
        let (policy, warnings) = Policy::load(&self.path)?;
        // Build every regex before the swap: evaluations keep running on
        // the old policy meanwhile, and no mail pays for building.
        policy.prepare()?;
        self.replace(policy);
        Ok(warnings)
    }

    /// Puts `policy` in force (for hosts that build policies themselves).
    pub fn replace(&self, policy: Policy) {
        let policy = Arc::new(policy);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = policy;
    }

    /// The file [`reload`](Self::reload) reads.
    pub fn path(&self) -> &Path {
        &self.path
    }
}
