//! A memory of failed requests, shared by the online sources (OCSP and
//! CRL distribution points), so that a server that cannot be reached costs
//! one timeout per certificate (or CRL) and interval, not one per mail.
//!
//! The sources cache answers until their nextUpdate; without this memory
//! a responder behind a firewall that drops packets would make every mail
//! wait the full timeout for every certificate no CRL answered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::RevocationError;

/// How long a failed request is answered from memory by default.
pub const RETRY_FAILED_AFTER: Duration = Duration::from_secs(60);

/// Entries kept at most; beyond that the memory is cleared (a bound, not a
/// policy: many distinct certificates failing at once is rare).
const MAX_ENTRIES: usize = 10_000;

/// Request key → when it failed and how.
type Failures = HashMap<Vec<u8>, (Instant, RevocationError)>;

/// Failed requests by key, each with when it failed. Clones share the
/// memory (as clones of a source share its cache).
#[derive(Debug, Clone)]
pub(crate) struct FailureMemory {
    failures: Arc<Mutex<Failures>>,
    retry_after: Duration,
}

impl FailureMemory {
    pub(crate) fn new(retry_after: Duration) -> FailureMemory {
        FailureMemory {
            failures: Arc::new(Mutex::new(HashMap::new())),
            retry_after,
        }
    }

    /// The same memory with another interval (zero: remember nothing).
    pub(crate) fn with_retry_after(mut self, retry_after: Duration) -> FailureMemory {
        self.retry_after = retry_after;
        self
    }

    /// The error remembered for `key`, if it failed less than the interval
    /// ago.
    pub(crate) fn recent(&self, key: &[u8]) -> Option<RevocationError> {
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures
            .get(key)
            .filter(|(when, _)| when.elapsed() < self.retry_after)
            .map(|(_, error)| error.clone())
    }

    /// Records the outcome of asking for `key`: an error is remembered
    /// when `remember` says it is a failure to ask, anything else clears
    /// the entry.
    pub(crate) fn record<T>(
        &self,
        key: &[u8],
        result: &Result<T, RevocationError>,
        remember: impl Fn(&RevocationError) -> bool,
    ) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Err(error) if !self.retry_after.is_zero() && remember(error) => {
                if failures.len() >= MAX_ENTRIES {
                    failures.clear();
                }
                failures.insert(key.to_vec(), (Instant::now(), error.clone()));
            }
            _ => {
                failures.remove(key);
            }
        }
    }
}
