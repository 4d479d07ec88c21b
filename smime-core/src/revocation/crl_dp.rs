//! CRLs fetched from the distribution points a certificate names
//! (cRLDistributionPoints, RFC 5280 section 4.2.1.13), independent of how
//! the bytes travel ([`CrlFetcher`]; [`crate::revocation::HttpCrl`] gets
//! them over plain HTTP).
//!
//! Only distribution points that name the whole CRL of the certificate's
//! own issuer are used: a `fullName` with an `http:` URI, no `reasons`
//! (a partitioned CRL covers only some reasons) and no `cRLIssuer` (an
//! indirect CRL, which [`Crl`] refuses anyway). A downloaded CRL counts
//! only after the same checks as a CRL file: the issuer's key signed it,
//! the issuer may sign CRLs, it is current at the verification time, and
//! it covers the certificate.
//!
//! A CRL that passed is cached per URL and issuer until its nextUpdate
//! (without nextUpdate, for [`MAX_AGE_WITHOUT_NEXT_UPDATE`]), so one
//! download serves every certificate of that CA. A download that failed,
//! for whatever reason (unreachable, HTTP error, larger than the limit,
//! not a CRL, a bad signature, expired), is remembered for
//! [`RETRY_FAILED_AFTER`]: unlike an OCSP response, a CRL is published
//! periodically, so the same URL will serve the same bad bytes a minute
//! later, and asking again would cost a download per mail.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use x509_cert::ext::pkix::crl::CrlDistributionPoints;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};

use super::failures::{FailureMemory, RETRY_FAILED_AFTER};
use super::{Crl, RevocationError, RevocationSource, SourcedStatus, StatusSource};
use crate::certificate::Certificate;

/// How long a downloaded CRL without nextUpdate is reused.
pub const MAX_AGE_WITHOUT_NEXT_UPDATE: Duration = Duration::from_secs(60 * 60);

/// The largest CRL downloaded by default (16 MiB). CRLs of S/MIME CAs are
/// usually kilobytes to a few megabytes; the bound keeps a hostile or
/// broken server from filling memory.
pub const MAX_CRL: usize = 16 * 1024 * 1024;

/// Fetches a CRL from a URL. [`crate::revocation::HttpCrl`] does it over
/// HTTP; tests and hosts with their own HTTP stack implement it themselves.
pub trait CrlFetcher: Send + Sync + fmt::Debug {
    /// The bytes at `url` (a DER or PEM CRL, unchecked), or why there are
    /// none. An implementation bounds the size and the time it takes.
    fn fetch(&self, url: &str) -> Result<Vec<u8>, String>;
}

/// The http URLs of the distribution points of `certificate` that name the
/// complete CRL of its issuer (see the module documentation).
pub fn distribution_points(certificate: &Certificate) -> Vec<String> {
    let Ok(Some((_, points))) = certificate
        .x509()
        .tbs_certificate()
        .get_extension::<CrlDistributionPoints>()
    else {
        return Vec::new();
    };
    let mut urls = Vec::new();
    for point in points
        .0
        .iter()
        .filter(|point| point.reasons.is_none() && point.crl_issuer.is_none())
    {
        if let Some(DistributionPointName::FullName(names)) = &point.distribution_point {
            for name in names {
                if let GeneralName::UniformResourceIdentifier(uri) = name {
                    let uri = uri.as_str();
                    if uri
                        .get(..7)
                        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
                        && !urls.iter().any(|known| known == uri)
                    {
                        urls.push(uri.to_owned());
                    }
                }
            }
        }
    }
    urls
}

/// A downloaded CRL whose signature was checked against one issuer.
#[derive(Debug, Clone)]
struct Cached {
    crl: Arc<Crl>,
    fetched: Instant,
}

/// A [`RevocationSource`] that downloads the CRLs certificates name,
/// through any [`CrlFetcher`], with a cache until nextUpdate and a memory
/// of failed downloads. Clones share both.
#[derive(Debug, Clone)]
pub struct CrlDpSource<F> {
    fetcher: F,
    cache: Arc<Mutex<HashMap<Vec<u8>, Cached>>>,
    failures: FailureMemory,
}

impl<F: CrlFetcher> CrlDpSource<F> {
    /// Downloads through `fetcher`.
    pub fn new(fetcher: F) -> CrlDpSource<F> {
        CrlDpSource {
            fetcher,
            cache: Arc::new(Mutex::new(HashMap::new())),
            failures: FailureMemory::new(RETRY_FAILED_AFTER),
        }
    }

    /// How long a failed download is answered from memory (default
    /// [`RETRY_FAILED_AFTER`]); zero downloads again every time.
    pub fn with_failure_memory(mut self, retry_after: Duration) -> CrlDpSource<F> {
        self.failures = self.failures.with_retry_after(retry_after);
        self
    }

    /// The CRL at `url` for certificates of `issuer`, current at `time`:
    /// from the cache, or downloaded and checked. The flag says whether it
    /// came from the cache.
    fn crl(
        &self,
        url: &str,
        issuer: &Certificate,
        time: SystemTime,
    ) -> Result<(Arc<Crl>, bool), RevocationError> {
        let mut key = issuer.fingerprint_sha256().to_vec();
        key.extend_from_slice(url.as_bytes());
        {
            let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(cached) = cache.get(&key)
                && cached.crl.this_update() <= time
                && match cached.crl.next_update() {
                    Some(next) => time <= next,
                    None => cached.fetched.elapsed() < MAX_AGE_WITHOUT_NEXT_UPDATE,
                }
            {
                return Ok((Arc::clone(&cached.crl), true));
            }
        }
        if let Some(error) = self.failures.recent(&key) {
            return Err(error);
        }
        let result = self.download(url, issuer, time);
        self.failures.record(&key, &result, |_| true);
        let crl = Arc::new(result?);
        self.cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                key,
                Cached {
                    crl: Arc::clone(&crl),
                    fetched: Instant::now(),
                },
            );
        Ok((crl, false))
    }

    /// Downloads the CRL at `url` and checks it as `issuer`'s CRL, current
    /// at `time`.
    fn download(
        &self,
        url: &str,
        issuer: &Certificate,
        time: SystemTime,
    ) -> Result<Crl, RevocationError> {
        let bytes = self
            .fetcher
            .fetch(url)
            .map_err(|reason| RevocationError::CrlUnavailable {
                origin: url.to_owned(),
                reason,
            })?;
        let mut crls = Crl::load(&bytes, url)?;
        // A distribution point serves one CRL (RFC 5280: DER, one
        // CertificateList); a PEM file with several is taken at its first.
        if crls.len() != 1 {
            return Err(RevocationError::CrlUnavailable {
                origin: url.to_owned(),
                reason: format!("{} CRLs where one was expected", crls.len()),
            });
        }
        let crl = crls.remove(0);
        crl.verify_signature(issuer)?;
        crl.check_usable()?;
        if crl.this_update() > time {
            return Err(RevocationError::NotYetValid(url.to_owned()));
        }
        if crl.next_update().is_some_and(|next| next < time) {
            return Err(RevocationError::Expired(url.to_owned()));
        }
        Ok(crl)
    }
}

impl<F: CrlFetcher> RevocationSource for CrlDpSource<F> {
    fn status(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        time: SystemTime,
    ) -> Result<Option<SourcedStatus>, RevocationError> {
        let urls = distribution_points(certificate);
        let mut last_error = None;
        for url in &urls {
            let answer = self.crl(url, issuer, time).and_then(|(crl, cached)| {
                crl.status_signature_checked(certificate, issuer, time)
                    .map(|mut status| {
                        if let StatusSource::Crl { cached: flag, .. } = &mut status.source {
                            *flag = cached;
                        }
                        status
                    })
            });
            match answer {
                Ok(status) => return Ok(Some(status)),
                Err(error) => last_error = Some(error),
            }
        }
        match last_error {
            Some(error) => Err(error),
            None => Ok(None),
        }
    }
}
