//! A memory of OCSP requests that failed, so that a responder that cannot
//! be reached costs one timeout per certificate and interval, not one per
//! mail.
//!
//! The OCSP client caches answers until their nextUpdate, but not
//! failures: with a responder behind a firewall that drops packets, every
//! mail would wait `ocsp_timeout` for every certificate no CRL answers.
//! Only failures to ask are remembered (unreachable, `tryLater` and other
//! error statuses); an answer that was refused on its merits (signature,
//! responder, mismatch) is asked again, since the next one may be good.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use smime_core::Certificate;
use smime_core::revocation::{RevocationError, RevocationSource, SourcedStatus};

/// How long a failed request is answered from memory.
pub(crate) const RETRY_AFTER: Duration = Duration::from_secs(60);

/// Entries kept at most; beyond that the memory is cleared (a bound, not a
/// policy: many distinct certificates failing at once is rare).
const MAX_ENTRIES: usize = 10_000;

/// An online source with failed requests remembered for [`RETRY_AFTER`].
pub(crate) struct RememberFailures {
    inner: Arc<dyn RevocationSource>,
    failures: Mutex<HashMap<Vec<u8>, (Instant, RevocationError)>>,
    retry_after: Duration,
}

impl RememberFailures {
    pub(crate) fn new(inner: Arc<dyn RevocationSource>, retry_after: Duration) -> Self {
        RememberFailures {
            inner,
            failures: Mutex::new(HashMap::new()),
            retry_after,
        }
    }
}

impl fmt::Debug for RememberFailures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RememberFailures")
            .field("inner", &self.inner)
            .field("retry_after", &self.retry_after)
            .finish_non_exhaustive()
    }
}

impl RevocationSource for RememberFailures {
    fn status(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        time: SystemTime,
    ) -> Result<Option<SourcedStatus>, RevocationError> {
        let mut key = certificate.fingerprint_sha256().to_vec();
        key.extend_from_slice(&issuer.fingerprint_sha256());
        {
            let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((when, error)) = failures.get(&key)
                && when.elapsed() < self.retry_after
            {
                return Err(error.clone());
            }
        }
        let result = self.inner.status(certificate, issuer, time);
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        match &result {
            Err(
                error @ (RevocationError::Unreachable { .. } | RevocationError::OcspStatus { .. }),
            ) => {
                if failures.len() >= MAX_ENTRIES {
                    failures.clear();
                }
                failures.insert(key, (Instant::now(), error.clone()));
            }
            _ => {
                failures.remove(&key);
            }
        }
        result
    }
}
