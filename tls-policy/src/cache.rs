//! Verdicts per receiving server, kept for a while: probing an MX host costs
//! a TCP connection, an SMTP dialogue and a handshake (plus, with
//! enumeration, a dozen more), and a gateway asks about the same few hosts
//! for every mail.
//!
//! Only verdicts are cached, never failures to reach a server (those are
//! retried at the next question), and a verdict is a pure function of what
//! was observed and the profile, so a cached one is exactly what a new
//! probe at that moment would most likely say.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::probe::{Prober, Target};
use crate::verdict::Report;

/// What a cached verdict is about: the address, the name judged, the
/// profile, and whether DANE was looked at.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    address: String,
    name: String,
    profile: String,
    dane: bool,
}

/// A thread-safe cache of verdicts per server with a time to live.
///
/// ```no_run
/// use std::time::Duration;
/// use tls_policy::{Prober, Profile, Target, TrustAnchors, VerdictCache};
///
/// let cache = VerdictCache::new(Duration::from_secs(3600));
/// let prober = Prober::new(Profile::bsi_tr_03108(), TrustAnchors::system()?);
/// let target = Target::parse("mx.example.net", false)?;
/// let first = cache.check(&prober, &target)?; // probes
/// let again = cache.check(&prober, &target)?; // from the cache
/// assert_eq!(first.conforms, again.conforms);
/// # Ok::<(), tls_policy::Error>(())
/// ```
#[derive(Debug)]
pub struct VerdictCache {
    ttl: Duration,
    entries: Mutex<HashMap<Key, (Instant, Arc<Report>)>>,
}

impl VerdictCache {
    /// Verdicts are kept for `ttl`.
    pub fn new(ttl: Duration) -> VerdictCache {
        VerdictCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The verdict of `prober` on `target`: from the cache while it is
    /// fresh, else by probing (outside any lock, so other servers' answers
    /// are not held up).
    pub fn check(&self, prober: &Prober, target: &Target) -> Result<Arc<Report>, Error> {
        let key = Key {
            address: target.label(),
            name: target.name.clone(),
            profile: prober.profile().name.clone(),
            dane: prober.has_dns(),
        };
        self.get_or_check(key, || prober.check(target).map(|(_, report)| report))
    }

    fn get_or_check(
        &self,
        key: Key,
        check: impl FnOnce() -> Result<Report, Error>,
    ) -> Result<Arc<Report>, Error> {
        if let Some(report) = self.fresh(&key) {
            return Ok(report);
        }
        let report = Arc::new(check()?);
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        // Forget what has expired while we are here, so the map stays as
        // small as the set of servers recently asked about.
        let ttl = self.ttl;
        entries.retain(|_, (since, _)| since.elapsed() < ttl);
        entries.insert(key, (Instant::now(), Arc::clone(&report)));
        Ok(report)
    }

    fn fresh(&self, key: &Key) -> Option<Arc<Report>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(since, _)| since.elapsed() < self.ttl)
            .map(|(_, report)| Arc::clone(report))
    }

    /// How many verdicts are held (fresh or not yet swept).
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no verdict is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every verdict (after a profile change, say).
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn key(address: &str) -> Key {
        Key {
            address: address.into(),
            name: "mx.example.net".into(),
            profile: "bsi-tr-03108".into(),
            dane: false,
        }
    }

    fn report(conforms: bool) -> Report {
        Report {
            server: "mx".into(),
            profile: "bsi-tr-03108".into(),
            checked_at: "2026-12-03T00:00:00Z".into(),
            conforms,
            conformance: if conforms {
                crate::Conformance::Conforms
            } else {
                crate::Conformance::DoesNotConform
            },
            findings: Vec::new(),
        }
    }

    #[test]
    fn a_fresh_verdict_is_reused_and_an_expired_one_is_not() {
        let cache = VerdictCache::new(Duration::from_millis(200));
        let probes = AtomicUsize::new(0);
        let probe = |conforms| {
            probes.fetch_add(1, Ordering::SeqCst);
            Ok(report(conforms))
        };
        assert!(
            cache
                .get_or_check(key("a:25"), || probe(true))
                .unwrap()
                .conforms
        );
        assert!(
            cache
                .get_or_check(key("a:25"), || probe(false))
                .unwrap()
                .conforms
        );
        assert_eq!(probes.load(Ordering::SeqCst), 1);
        // Another server, or another profile, is another question.
        assert!(
            !cache
                .get_or_check(key("b:25"), || probe(false))
                .unwrap()
                .conforms
        );
        let other_profile = Key {
            profile: "opportunistic".into(),
            ..key("a:25")
        };
        cache.get_or_check(other_profile, || probe(true)).unwrap();
        assert_eq!(probes.load(Ordering::SeqCst), 3);
        std::thread::sleep(Duration::from_millis(250));
        assert!(
            !cache
                .get_or_check(key("a:25"), || probe(false))
                .unwrap()
                .conforms
        );
        assert_eq!(probes.load(Ordering::SeqCst), 4);
        // The expired entries were swept on that insert.
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn failures_to_probe_are_not_cached() {
        let cache = VerdictCache::new(Duration::from_secs(60));
        let error = cache
            .get_or_check(key("a:25"), || {
                Err(Error::InvalidTarget("unreachable".into()))
            })
            .unwrap_err();
        assert!(matches!(error, Error::InvalidTarget(_)));
        assert!(cache.is_empty());
        assert!(
            cache
                .get_or_check(key("a:25"), || Ok(report(true)))
                .unwrap()
                .conforms
        );
    }

    #[test]
    fn many_threads_share_one_cache() {
        let cache = Arc::new(VerdictCache::new(Duration::from_secs(60)));
        let probes = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|index| {
                let cache = Arc::clone(&cache);
                let probes = Arc::clone(&probes);
                std::thread::spawn(move || {
                    for round in 0..100 {
                        let address = format!("mx{}:25", (index + round) % 4);
                        let conforms = address != "mx3:25";
                        let verdict = cache
                            .get_or_check(key(&address), || {
                                probes.fetch_add(1, Ordering::SeqCst);
                                Ok(report(conforms))
                            })
                            .unwrap();
                        assert_eq!(verdict.conforms, conforms, "{address}");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(cache.len(), 4);
        // Each server was probed at least once and far less than asked.
        let probes = probes.load(Ordering::SeqCst);
        assert!((4..=32).contains(&probes), "{probes}");
    }
}
