//! The active [`TransportCheck`]: a recipient domain meets a TLS profile
//! when its mail exchangers do, as `tls-policy` probes them (MX resolution,
//! DANE where DNSSEC validates, the handshake restricted to the profile),
//! with verdicts cached per server.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use tls_policy::{
    Dns, DnsError, Prober, Profile, RouteKind, Target, Timeouts, TrustAnchors, VerdictCache,
    resolve_mx,
};

use crate::facts::{KnownVerdicts, TransportCheck, TransportCheckError};

/// Probes the mail exchangers of a domain; verdicts given in the
/// configuration answer first.
///
/// A domain meets the profile when every exchanger address that answered
/// meets it and at least one answered; a domain that does not exist or has
/// a null MX meets nothing; a DNS failure, or no exchanger answering, is an
/// error (the gateway defers the mail).
///
/// ```no_run
/// use std::sync::Arc;
/// use gateway_facade::{KnownVerdicts, ProbedTransport, TransportCheck};
/// use tls_policy::{HickoryDns, TrustAnchors};
///
/// let check = ProbedTransport::new(
///     KnownVerdicts::default(),
///     Arc::new(HickoryDns::system()?),
///     TrustAnchors::system()?,
/// );
/// let meets = check.meets_profile("bund.de", "bsi-tr-03108");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ProbedTransport {
    known: KnownVerdicts,
    dns: Arc<dyn Dns>,
    anchors: TrustAnchors,
    port: u16,
    ehlo_name: String,
    timeout: Duration,
    cache: VerdictCache,
}

impl ProbedTransport {
    /// Probes port 25, keeps verdicts for an hour.
    pub fn new(known: KnownVerdicts, dns: Arc<dyn Dns>, anchors: TrustAnchors) -> ProbedTransport {
        ProbedTransport {
            known,
            dns,
            anchors,
            port: 25,
            ehlo_name: "localhost".to_owned(),
            timeout: Duration::from_secs(30),
            cache: VerdictCache::new(Duration::from_secs(3600)),
        }
    }

    /// The exchangers' SMTP port (tests; 25 in the world).
    pub fn with_port(mut self, port: u16) -> ProbedTransport {
        self.port = port;
        self
    }

    /// How long a verdict on a server is reused.
    pub fn with_cache_ttl(mut self, ttl: Duration) -> ProbedTransport {
        self.cache = VerdictCache::new(ttl);
        self
    }

    /// The name sent in EHLO (this gateway's host name).
    pub fn with_ehlo_name(mut self, name: &str) -> ProbedTransport {
        name.clone_into(&mut self.ehlo_name);
        self
    }

    /// The time allowed per probe.
    pub fn with_timeout(mut self, timeout: Duration) -> ProbedTransport {
        self.timeout = timeout;
        self
    }
}

impl TransportCheck for ProbedTransport {
    fn meets_profile(&self, domain: &str, profile: &str) -> Result<bool, TransportCheckError> {
        if let Some(verdict) = self.known.verdict(domain) {
            return Ok(verdict);
        }
        let profile =
            Profile::built_in(profile).map_err(|error| TransportCheckError::UnknownProfile {
                profile: profile.to_owned(),
                reason: error.to_string(),
            })?;
        let route = match resolve_mx(self.dns.as_ref(), domain) {
            Ok(route) => route,
            Err(DnsError::NoSuchDomain { .. } | DnsError::InvalidName(_)) => return Ok(false),
            Err(error) => return Err(TransportCheckError::Dns(error.to_string())),
        };
        if route.kind == RouteKind::NullMx {
            return Ok(false);
        }
        let mut prober = Prober::new(profile, self.anchors.clone())
            .with_enumeration(false)
            .with_ehlo_name(self.ehlo_name.clone())
            .with_timeouts(Timeouts {
                connect: self.timeout.min(Duration::from_secs(10)),
                io: self.timeout,
                session: self.timeout,
            });
        // RFC 7672 section 2.2.1: DANE only below a validated MX answer.
        if route.secure {
            prober = prober.with_dns(Arc::clone(&self.dns));
        }
        let mut answered = 0usize;
        let mut trouble = Vec::new();
        for exchanger in &route.hosts {
            let addresses = match exchanger.exchange.parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => match self.dns.addresses(&exchanger.exchange) {
                    Ok(answer) => answer.records,
                    Err(error) => {
                        trouble.push(error.to_string());
                        continue;
                    }
                },
            };
            for ip in addresses {
                let target = Target {
                    host: ip.to_string(),
                    port: self.port,
                    name: exchanger.exchange.clone(),
                    direct_tls: false,
                };
                match self.cache.check(&prober, &target) {
                    Ok(report) if report.conforms => answered += 1,
                    Ok(_) => return Ok(false),
                    Err(error) => trouble.push(error.to_string()),
                }
            }
        }
        if answered == 0 {
            return Err(TransportCheckError::NoExchangerChecked {
                domain: domain.to_owned(),
                trouble,
            });
        }
        Ok(true)
    }
}
