//! One delivery attempt: where the recipients' mail goes (a static route, the
//! smart host, or the domain's mail exchangers), over which connection
//! (the judged TLS connection the policy requires, DANE where DNSSEC
//! publishes it, opportunistic STARTTLS otherwise), and what each
//! recipient's server said.
//!
//! Routing by MX follows RFC 5321 section 5.1 (exchangers in preference
//! order, the implicit MX, RFC 7505 null MX) and RFC 7672 for DANE: TLSA
//! records count only when the MX answer and the TLSA answer are both
//! DNSSEC-validated, and then TLS with a matching chain is mandatory even
//! for mail the policy lets go in clear.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use mailgate_spool::Delivery;
use tls_policy::{
    Dns, DnsError, Prober, Profile, RouteKind, StsMode, StsPolicy, Target, Timeouts, TlsaLookup,
    TrustAnchors, lookup_tlsa, resolve_mx,
};

use crate::metrics::Metrics;
use crate::smtp_client::{SendError, Sent, connect_plain, send};
use crate::{Relay, profile_by_name};

/// A static destination: a smart host or a per-domain route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHop {
    /// `HOST:PORT` (or `[IPV6]:PORT`).
    pub address: String,
    /// The name its certificate must carry where TLS is required (default:
    /// its host).
    pub name: Option<String>,
}

impl NextHop {
    /// A next hop at `address` (`HOST:PORT`), its certificate named after
    /// its host.
    ///
    /// ```
    /// let hop = mailgate_relay::NextHop::new("mail.intern.example:25");
    /// assert_eq!(hop.address, "mail.intern.example:25");
    /// ```
    pub fn new(address: &str) -> NextHop {
        NextHop {
            address: address.to_owned(),
            name: None,
        }
    }
}

/// Where deliveries go when no static route names the recipient's domain.
#[derive(Debug, Clone)]
pub enum Routing {
    /// Everything to one smart host (an MTA that routes onwards).
    NextHop(NextHop),
    /// Each recipient domain's mail exchangers, found with this resolver;
    /// DANE (RFC 7672) wherever its answers are DNSSEC-validated.
    Mx {
        /// The resolver (a validating one: [`tls_policy::HickoryDns`]).
        dns: Arc<dyn Dns>,
        /// The SMTP port of the exchangers: 25, except in tests.
        port: u16,
    },
}

/// Not more than this many connections per domain and attempt, so that a
/// domain listing dozens of exchangers cannot hold a delivery thread.
const MAX_CONNECTIONS_PER_ATTEMPT: usize = 10;

/// How long a server that offered no usable TLS is taken at its word
/// before STARTTLS is tried again (a second connection per mail otherwise).
const REMEMBER_WITHOUT_TLS: Duration = Duration::from_secs(600);

/// One place to try: the address to connect to, the name its certificate
/// must carry, and whether DANE applies (the route was DNSSEC-validated).
struct Hop {
    target: Target,
    dane: Option<Arc<dyn Dns>>,
}

/// Why a domain has no place to try: bounce, or try again later.
enum NoRoute {
    Permanent(String),
    Temporary(String),
}

impl Relay {
    /// One delivery attempt for every recipient: grouped by domain, each
    /// group to its route. Every recipient ends up accepted, temporary or
    /// permanent.
    pub(crate) fn attempt(&self, delivery: &Delivery, message: &[u8]) -> Sent {
        let mut groups: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for recipient in &delivery.recipients {
            groups
                .entry(self.route_key(recipient))
                .or_default()
                .push(recipient.clone());
        }
        let mut sent = Sent::default();
        for (domain, recipients) in groups {
            let result = self.attempt_domain(&domain, delivery, &recipients, message);
            let failed = |reason: &str| -> Vec<(String, String)> {
                recipients
                    .iter()
                    .map(|r| (r.clone(), reason.to_owned()))
                    .collect()
            };
            match result {
                Ok(group) => {
                    sent.accepted.extend(group.accepted);
                    sent.temporary.extend(group.temporary);
                    sent.permanent.extend(group.permanent);
                }
                Err(SendError::Temporary(reason)) => sent.temporary.extend(failed(&reason)),
                Err(SendError::Permanent(reason)) => sent.permanent.extend(failed(&reason)),
            }
        }
        sent
    }

    /// What recipients are grouped by: their domain when routing by MX or
    /// by static routes, one group for everything sent to the smart host.
    fn route_key(&self, recipient: &str) -> String {
        let domain = recipient
            .rsplit_once('@')
            .map_or("", |(_, domain)| domain)
            .trim_end_matches('.')
            .to_ascii_lowercase();
        match &self.config.routing {
            Routing::NextHop(_) if !self.config.routes.contains_key(&domain) => String::new(),
            _ => domain,
        }
    }

    /// Tries the domain's hops in order until one takes the transaction.
    fn attempt_domain(
        &self,
        domain: &str,
        delivery: &Delivery,
        recipients: &[String],
        message: &[u8],
    ) -> Result<Sent, SendError> {
        let hops = match self.hops(domain) {
            Ok(hops) => hops,
            Err(NoRoute::Permanent(reason)) => return Err(SendError::Permanent(reason)),
            Err(NoRoute::Temporary(reason)) => return Err(SendError::Temporary(reason)),
        };
        // RFC 8461 section 5.1: under an enforced MTA-STS policy only the
        // MX hosts it lists, and only over validated TLS.
        let enforced = self.enforced_sts_policy(domain);
        let hops: Vec<Hop> = match &enforced {
            Some(policy) => {
                let listed: Vec<Hop> = hops
                    .into_iter()
                    .filter(|hop| policy.permits_mx(&hop.target.name))
                    .collect();
                if listed.is_empty() {
                    return Err(SendError::Temporary(format!(
                        "no MX host of {domain} matches its MTA-STS policy (mx: {})",
                        policy.mx.join(", ")
                    )));
                }
                listed
            }
            None => hops,
        };
        let mut trouble: Vec<String> = Vec::new();
        for hop in hops.into_iter().take(MAX_CONNECTIONS_PER_ATTEMPT) {
            match self.attempt_hop(&hop, enforced.is_some(), delivery, recipients, message) {
                Ok(sent) => return Ok(sent),
                // A server that refused the mail for good speaks for the
                // domain; the next exchanger would say the same.
                Err(SendError::Permanent(reason)) => return Err(SendError::Permanent(reason)),
                Err(SendError::Temporary(reason)) => {
                    trouble.push(format!("{}: {reason}", hop.target.label()));
                }
            }
        }
        Err(SendError::Temporary(if trouble.is_empty() {
            format!("{domain}: no exchanger has an address")
        } else {
            trouble.join("; ")
        }))
    }

    /// The places to try for `domain`, in order.
    fn hops(&self, domain: &str) -> Result<Vec<Hop>, NoRoute> {
        let static_hop = self
            .config
            .routes
            .get(domain)
            .or(match &self.config.routing {
                Routing::NextHop(hop) => Some(hop),
                Routing::Mx { .. } => None,
            });
        if let Some(hop) = static_hop {
            let mut target = Target::parse(&hop.address, false)
                .map_err(|error| NoRoute::Temporary(error.to_string()))?;
            if let Some(name) = &hop.name {
                target = target.with_name(name.clone());
            }
            return Ok(vec![Hop { target, dane: None }]);
        }
        let Routing::Mx { dns, port } = &self.config.routing else {
            return Err(NoRoute::Temporary(format!("no route to {domain}")));
        };
        let route = resolve_mx(dns.as_ref(), domain).map_err(|error| match error {
            DnsError::NoSuchDomain { .. } | DnsError::InvalidName(_) => NoRoute::Permanent(
                format!("5.1.2 the recipient domain does not exist: {error}"),
            ),
            other => NoRoute::Temporary(format!("looking up the MX of {domain}: {other}")),
        })?;
        if route.kind == RouteKind::NullMx {
            return Err(NoRoute::Permanent(format!(
                "5.1.10 {domain} accepts no mail (null MX, RFC 7505)"
            )));
        }
        let mut hops = Vec::new();
        let mut trouble = Vec::new();
        for exchanger in &route.hosts {
            let addresses = match exchanger.exchange.parse::<IpAddr>() {
                Ok(ip) => vec![ip],
                Err(_) => match dns.addresses(&exchanger.exchange) {
                    Ok(answer) => answer.records,
                    Err(error) => {
                        trouble.push(error.to_string());
                        continue;
                    }
                },
            };
            for ip in addresses {
                hops.push(Hop {
                    target: Target {
                        host: ip.to_string(),
                        port: *port,
                        name: exchanger.exchange.clone(),
                        direct_tls: false,
                    },
                    // RFC 7672 section 2.2.1: DANE only below a validated MX
                    // (or a validated implicit route).
                    dane: route.secure.then(|| Arc::clone(dns)),
                });
            }
        }
        if hops.is_empty() {
            return Err(NoRoute::Temporary(format!(
                "no exchanger of {domain} has an address: {}",
                trouble.join("; ")
            )));
        }
        Ok(hops)
    }

    /// The domain's MTA-STS policy when it is in mode `enforce` and the
    /// domain is routed by MX. A policy that cannot be fetched does not
    /// stop delivery (RFC 8461 section 5.1), it is logged.
    fn enforced_sts_policy(&self, domain: &str) -> Option<Arc<StsPolicy>> {
        let sts = self.config.mta_sts.as_ref()?;
        if self.config.routes.contains_key(domain)
            || !matches!(self.config.routing, Routing::Mx { .. })
        {
            return None;
        }
        match sts.policy(domain) {
            Ok(Some(policy)) if policy.mode == StsMode::Enforce => Some(policy),
            Ok(_) => None,
            Err(error) => {
                tracing::warn!(%domain, %error, "MTA-STS policy not available, delivering without it");
                None
            }
        }
    }

    /// One connection: TLS as the policy, DANE or MTA-STS demands, else
    /// opportunistic.
    fn attempt_hop(
        &self,
        hop: &Hop,
        sts_enforced: bool,
        delivery: &Delivery,
        recipients: &[String],
        message: &[u8],
    ) -> Result<Sent, SendError> {
        let required = match &delivery.require_tls {
            Some(name) => Some(profile_by_name(name).ok_or_else(|| {
                SendError::Temporary(format!("unknown transport profile {name}"))
            })?),
            None => None,
        };
        let dane = match &hop.dane {
            Some(dns) => {
                // At the TLSA base domain (RFC 7672 section 2.2.2): a
                // securely CNAME'd MX host's records may sit at the target.
                let found = lookup_tlsa(dns.as_ref(), &hop.target.name, hop.target.port).map_err(
                    |error| {
                        SendError::Temporary(format!(
                            "looking up TLSA for {}: {error}",
                            hop.target.name
                        ))
                    },
                )?;
                !matches!(found.lookup, TlsaLookup::NotApplicable(_))
            }
            None => false,
        };
        match (required, dane, sts_enforced) {
            (Some(profile), _, _) => self.send_judged(hop, profile, delivery, recipients, message),
            // DANE applies: TLS with a matching chain or nothing (RFC 7672
            // section 2.2); the opportunistic profile enforces exactly DANE
            // (and DANE takes precedence over MTA-STS, RFC 8461 section 2).
            (None, true, _) => {
                self.send_judged(hop, Profile::opportunistic(), delivery, recipients, message)
            }
            // MTA-STS enforce: TLS 1.2+, a valid chain naming the MX host.
            (None, false, true) => {
                self.send_judged(hop, Profile::mta_sts(), delivery, recipients, message)
            }
            (None, false, false) => self.send_opportunistic(hop, delivery, recipients, message),
        }
    }

    fn prober(&self, profile: Profile, hop: &Hop) -> Result<Prober, SendError> {
        let anchors = self
            .anchors()
            .map_err(|error| SendError::Temporary(format!("trust anchors: {error}")))?;
        let mut prober = Prober::new(profile, anchors)
            .with_enumeration(false)
            .with_ehlo_name(self.config.hostname.clone())
            .with_timeouts(Timeouts {
                connect: Duration::from_secs(30),
                io: self.config.timeout,
                session: self.config.timeout,
            });
        if let Some(dns) = &hop.dane {
            prober = prober.with_dns(Arc::clone(dns));
        }
        Ok(prober)
    }

    /// The trust anchors for certificate chains, loaded once.
    fn anchors(&self) -> Result<TrustAnchors, String> {
        if let Some(anchors) = &self.config.tls_anchors {
            return Ok(anchors.as_ref().clone());
        }
        self.system_anchors
            .get_or_init(|| TrustAnchors::system().map_err(|error| error.to_string()))
            .clone()
    }

    /// Over a connection judged conforming to `profile` on that very
    /// connection, or not at all. Not conforming is temporary: the
    /// receiving side may be fixed, and the policy decided that only TLS
    /// will do.
    fn send_judged(
        &self,
        hop: &Hop,
        profile: Profile,
        delivery: &Delivery,
        recipients: &[String],
        message: &[u8],
    ) -> Result<Sent, SendError> {
        let prober = self.prober(profile, hop)?;
        let mut connection = match prober.connect_for_delivery(&hop.target) {
            Ok(connection) => {
                self.report_tls(recipients, &hop.target.name, None);
                connection
            }
            Err(error) => {
                if let tls_policy::Error::NotConforming { failures, .. } = &error {
                    Metrics::count(&self.metrics.tls_refused, 1);
                    self.report_tls(recipients, &hop.target.name, Some(failures));
                }
                return Err(SendError::Temporary(error.to_string()));
            }
        };
        Metrics::count(&self.metrics.tls_sessions, 1);
        send(
            &mut connection.stream,
            !hop.target.direct_tls,
            &self.config.hostname,
            &delivery.sender,
            recipients,
            message,
        )
    }

    /// STARTTLS where offered, any certificate accepted (RFC 7435; what
    /// Postfix does at `smtp_tls_security_level = may`); in clear where TLS
    /// is not offered or the handshake fails.
    fn send_opportunistic(
        &self,
        hop: &Hop,
        delivery: &Delivery,
        recipients: &[String],
        message: &[u8],
    ) -> Result<Sent, SendError> {
        let label = hop.target.label();
        let known_plain = self
            .without_tls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&label)
            .is_some_and(|since| since.elapsed() < REMEMBER_WITHOUT_TLS);
        if !known_plain {
            let prober = self.prober(Profile::opportunistic(), hop)?;
            match prober.connect_for_delivery(&hop.target) {
                Ok(mut connection) => {
                    Metrics::count(&self.metrics.tls_sessions, 1);
                    return send(
                        &mut connection.stream,
                        true,
                        &self.config.hostname,
                        &delivery.sender,
                        recipients,
                        message,
                    );
                }
                // No STARTTLS, or a handshake the two sides could not agree
                // on: this mail may go in clear.
                Err(tls_policy::Error::NotConforming { .. }) => {
                    self.without_tls
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(label, std::time::Instant::now());
                }
                Err(error) => return Err(SendError::Temporary(error.to_string())),
            }
        }
        Metrics::count(&self.metrics.plain_sessions, 1);
        let mut stream = connect_plain(&hop.target.label(), self.config.timeout)?;
        send(
            &mut stream,
            false,
            &self.config.hostname,
            &delivery.sender,
            recipients,
            message,
        )
    }

    /// Records a judged TLS session for the TLS reports of every recipient
    /// domain it served.
    fn report_tls(&self, recipients: &[String], mx: &str, findings: Option<&String>) {
        let Some(reports) = &self.tls_reports else {
            return;
        };
        let mut domains: Vec<String> = recipients
            .iter()
            .filter_map(|r| r.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()))
            .collect();
        domains.sort();
        domains.dedup();
        for domain in domains {
            let session = crate::tls_report::Session {
                domain,
                mx: mx.to_owned(),
                failure: findings.map(|f| tls_policy::rfc8460_result_type(f).to_owned()),
                detail: findings.cloned().unwrap_or_default(),
            };
            if let Err(error) = reports.record(&session, SystemTime::now()) {
                tracing::error!(%error, "writing the TLS report");
            }
        }
    }
}
