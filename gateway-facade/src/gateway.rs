//! The gateway: configuration, keys, stores and policy in one thread-safe
//! value.

use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use pgp_core::WkdFetcher;
use rule_engine::{Direction, LivePolicy, Policy};
use smime_core::revocation::{HttpCrl, HttpOcsp, Responders, RevocationSource};
use smime_core::{Certificate, Crl, Revocation, RevocationMode};

use crate::config::Config;
use crate::envelope_addresses::CanonicalEnvelope;
use crate::error::Error;
use crate::facts::{KnownVerdicts, TransportCheck};
use crate::fallback::{NotifySender, PasswordChannel};
use crate::key_vault::{KEYS_DIR, KeyVault};
use crate::keys::OrganisationKey;
use crate::outcome::Outcome;
use crate::spooled_message::SpooledMessage;
use crate::store::Directory;

/// Who sends a mail to whom, and which way it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// Inbound (from the internet) or outbound (from the organisation).
    pub direction: Direction,
    /// The envelope sender (MAIL FROM).
    pub sender: String,
    /// The envelope recipients (RCPT TO).
    pub recipients: Vec<String>,
}

impl Envelope {
    /// An outbound envelope.
    pub fn outbound<R: Into<String>>(
        sender: impl Into<String>,
        recipients: impl IntoIterator<Item = R>,
    ) -> Self {
        Envelope {
            direction: Direction::Outbound,
            sender: sender.into(),
            recipients: recipients.into_iter().map(Into::into).collect(),
        }
    }

    /// An inbound envelope.
    pub fn inbound<R: Into<String>>(
        sender: impl Into<String>,
        recipients: impl IntoIterator<Item = R>,
    ) -> Self {
        Envelope {
            direction: Direction::Inbound,
            ..Envelope::outbound(sender, recipients)
        }
    }
}

/// The embeddable mail gateway.
///
/// One value serves any number of concurrent [`Gateway::process`] calls;
/// [`Gateway::reload_policy`] swaps the policy atomically between them.
///
/// ```no_run
/// use gateway_facade::{Disposition, Envelope, Gateway};
///
/// let gateway = Gateway::from_config_file("/etc/mailgate/mailgate.toml".as_ref())?;
/// let message = std::fs::read("mail.eml")?;
/// let outcome = gateway.process(
///     &Envelope::outbound("alice@behoerde.example", ["bob@partner.example"]),
///     &message,
/// );
/// for disposition in &outcome.dispositions {
///     match disposition {
///         Disposition::Deliver { recipients, message, transport, .. } => { /* hand to the MTA */ }
///         Disposition::Reject { notification, .. } => { /* 5xx, send the notification */ }
///         Disposition::Defer { .. } => { /* 4xx: the MTA retries */ }
///         Disposition::Quarantine { .. } => { /* hold */ }
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Gateway {
    policy: LivePolicy,
    directory: Arc<dyn Directory>,
    keys: Vec<OrganisationKey>,
    anchors: Vec<Certificate>,
    /// CA certificates to build S/MIME paths with (not trusted by
    /// themselves).
    intermediates: Vec<Certificate>,
    transport: Arc<dyn TransportCheck>,
    postmaster: String,
    password_length: usize,
    password_channel: Arc<dyn PasswordChannel>,
    wkd: Option<Arc<dyn WkdFetcher + Send + Sync>>,
    max_decrypted_size: u64,
    date_tolerance: std::time::Duration,
    /// Revocation checks of inbound signers (`None`: off).
    inbound_revocation: Option<Revocation>,
    /// Revocation checks of outbound recipient certificates (`None`: off).
    outbound_revocation: Option<Revocation>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("policy", &self.policy.path())
            .field(
                "keys",
                &self.keys.iter().map(|k| &k.address).collect::<Vec<_>>(),
            )
            .field("anchors", &self.anchors.len())
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Builds a gateway from `mailgate.toml`: loads the policy (refusing an
    /// invalid one), opens or creates the certificate directory, loads the
    /// organisation's keys and trust anchors.
    pub fn from_config_file(path: &Path) -> Result<Gateway, Error> {
        let config = Config::load(path)?;
        Gateway::from_config(&config)
    }

    /// Builds a gateway from a parsed configuration.
    pub fn from_config(config: &Config) -> Result<Gateway, Error> {
        let (policy, _warnings) = LivePolicy::load(&config.policy)?;
        let directory = crate::store::open_configured(config)?;
        let mut keys: Vec<OrganisationKey> = Vec::new();
        let imported = KeyVault::new(config).key_configs()?;
        for key_config in config.keys.iter().chain(&imported) {
            let key = OrganisationKey::load(key_config)?;
            match keys.iter_mut().find(|k| k.address == key.address) {
                Some(known) => known.merge(key).map_err(|message| Error::Config {
                    path: config.data_dir.join(KEYS_DIR),
                    message,
                })?,
                None => keys.push(key),
            }
        }
        let mut anchors = Vec::new();
        for path in &config.smime_anchors {
            let bytes = std::fs::read(path).map_err(Error::io(path))?;
            anchors.extend(Certificate::load(&bytes)?);
        }
        let mut intermediates = Vec::new();
        for path in &config.smime_intermediates {
            let bytes = std::fs::read(path).map_err(Error::io(path))?;
            intermediates.extend(Certificate::load(&bytes)?);
        }
        let known = KnownVerdicts::new(config.tls_verdicts.clone());
        let transport: Arc<dyn TransportCheck> = match &config.tls_probe {
            Some(probe) => Arc::new(probed_transport(probe, known, &config.postmaster)?),
            None => Arc::new(known),
        };
        Gateway {
            policy,
            directory,
            keys,
            anchors,
            intermediates,
            transport,
            postmaster: config.postmaster.clone(),
            password_length: config.password_length,
            password_channel: Arc::new(NotifySender::new(&config.postmaster)),
            wkd: if config.wkd_discovery {
                Some(wkd_fetcher()?)
            } else {
                None
            },
            max_decrypted_size: config.max_decrypted_size,
            date_tolerance: config.date_tolerance,
            inbound_revocation: None,
            outbound_revocation: None,
        }
        .with_revocation_config(&config.revocation)
    }

    /// Loads the CRLs and sets up the CRL distribution point and OCSP
    /// clients `[revocation]` names. One client each (and so one cache of
    /// CRLs, of OCSP answers and of failed requests) serves both directions
    /// and every mail.
    fn with_revocation_config(
        self,
        config: &crate::config::RevocationConfig,
    ) -> Result<Gateway, Error> {
        // CRLs are loaded even when both modes are off: a file named in
        // the configuration that cannot be used is a mistake to report now,
        // not when someone turns the checks on.
        let mut crls = Vec::new();
        for path in &config.crls {
            let unusable = |message: String| Error::Config {
                path: path.clone(),
                message,
            };
            let bytes = std::fs::read(path).map_err(|e| unusable(format!("CRL: {e}")))?;
            crls.extend(
                Crl::load(&bytes, &path.display().to_string())
                    .map_err(|e| unusable(e.to_string()))?,
            );
        }
        let responders = match &config.ocsp {
            crate::config::OcspConfig::Off => None,
            crate::config::OcspConfig::Aia => Some(Responders::FromCertificates),
            crate::config::OcspConfig::Responder(url) => Some(Responders::Fixed(url.clone())),
        };
        // The OCSP client remembers failed requests itself (a minute), so a
        // silent responder costs one timeout per certificate, not per mail.
        let mut sources: Vec<Arc<dyn RevocationSource>> = Vec::new();
        if config.crl_dp {
            // Before OCSP: one download answers for every certificate of
            // the CA until the CRL's nextUpdate.
            sources.push(Arc::new(HttpCrl::http(config.ocsp_timeout)));
        }
        if let Some(responders) = responders {
            sources.push(Arc::new(HttpOcsp::http(responders, config.ocsp_timeout)));
        }
        let build = |mode: RevocationMode| {
            let mut revocation = Revocation::new(mode).with_crls(crls.iter().cloned());
            for source in &sources {
                revocation = revocation.with_source(Arc::clone(source));
            }
            revocation
        };
        Ok(self.with_revocation(build(config.inbound), build(config.outbound)))
    }

    /// Builds a gateway in code: a policy, a directory, and the
    /// organisation's keys. Transport verdicts default to "not met".
    pub fn new(
        policy: Policy,
        policy_path: &Path,
        directory: Arc<dyn Directory>,
        keys: Vec<OrganisationKey>,
        postmaster: &str,
    ) -> Gateway {
        Gateway {
            policy: LivePolicy::new(policy, policy_path),
            directory,
            keys,
            anchors: Vec::new(),
            intermediates: Vec::new(),
            transport: Arc::new(KnownVerdicts::default()),
            postmaster: postmaster.to_owned(),
            password_length: crate::config::DEFAULT_PASSWORD_LENGTH,
            password_channel: Arc::new(NotifySender::new(postmaster)),
            wkd: None,
            max_decrypted_size: pgp_core::DEFAULT_MAX_PLAINTEXT,
            date_tolerance: mail_message::DEFAULT_DATE_TOLERANCE,
            inbound_revocation: None,
            outbound_revocation: None,
        }
    }

    /// Checks S/MIME certificates for revocation (CRLs, OCSP), `inbound`
    /// for the signers of inbound mail, `outbound` for recipient
    /// certificates (see [`crate::config::RevocationConfig`] for what each
    /// mode does). Without this call (or a `[revocation]` section) nothing
    /// is checked. Give both the same online source to share its cache.
    pub fn with_revocation(mut self, inbound: Revocation, outbound: Revocation) -> Gateway {
        let on = |r: Revocation| (r.mode() != RevocationMode::Off).then_some(r);
        self.inbound_revocation = on(inbound);
        self.outbound_revocation = on(outbound);
        self
    }

    /// Revocation checks of inbound signers, if on.
    pub(crate) fn inbound_revocation(&self) -> Option<&Revocation> {
        self.inbound_revocation.as_ref()
    }

    /// Revocation checks of outbound recipient certificates, if on.
    pub(crate) fn outbound_revocation(&self) -> Option<&Revocation> {
        self.outbound_revocation.as_ref()
    }

    /// Quarantines inbound OpenPGP mail whose plaintext would exceed
    /// `bytes` (default [`pgp_core::DEFAULT_MAX_PLAINTEXT`]; see
    /// [`Config::max_decrypted_size`]).
    pub fn with_max_decrypted_size(mut self, bytes: u64) -> Gateway {
        self.max_decrypted_size = bytes;
        self
    }

    /// The most plaintext an inbound OpenPGP message may decompress to.
    pub(crate) fn max_decrypted_size(&self) -> u64 {
        self.max_decrypted_size
    }

    /// How far an inbound signed message's `Date` may be from the
    /// signing time before `X-Mailgate-Signature` carries
    /// `warning=date-differs-from-signing-time` (default
    /// [`mail_message::DEFAULT_DATE_TOLERANCE`], one hour, as mail clients
    /// flag; see [`Config::date_tolerance`]). The same judgement as
    /// `mailgate smime|pgp verify --date-tolerance`.
    pub fn with_date_tolerance(mut self, tolerance: std::time::Duration) -> Gateway {
        self.date_tolerance = tolerance;
        self
    }

    /// The Date-vs-signing-time tolerance in force.
    pub(crate) fn date_tolerance_setting(&self) -> std::time::Duration {
        self.date_tolerance
    }

    /// Trust anchors for inbound S/MIME signatures.
    pub fn with_trust_anchors(mut self, anchors: Vec<Certificate>) -> Gateway {
        self.anchors = anchors;
        self
    }

    /// Where TLS verdicts come from (for example an active probe).
    pub fn with_transport_check(mut self, check: Arc<dyn TransportCheck>) -> Gateway {
        self.transport = check;
        self
    }

    /// Look up OpenPGP keys of outbound recipients that the directory has
    /// none for in their domain's Web Key Directory. A key found there is
    /// used to encrypt (the domain vouches for it over HTTPS, and controls
    /// where the mail goes anyway) and added to the directory as
    /// `pending` for an administrator; it never makes a signature trusted.
    /// A lookup that fails counts as "no key" (the policy's fallback
    /// applies, never clear text).
    pub fn with_wkd_discovery(mut self, fetcher: Arc<dyn WkdFetcher + Send + Sync>) -> Gateway {
        self.wkd = Some(fetcher);
        self
    }

    pub(crate) fn wkd(&self) -> Option<&(dyn WkdFetcher + Send + Sync)> {
        self.wkd.as_deref()
    }

    /// Where passwords of password-protected deliveries go (default: a
    /// notification to the sender).
    pub fn with_password_channel(mut self, channel: Arc<dyn PasswordChannel>) -> Gateway {
        self.password_channel = channel;
        self
    }

    /// Re-reads the policy file; the new policy applies to mails processed
    /// from now on, an invalid one is refused and the old one stays.
    pub fn reload_policy(&self) -> Result<(), Error> {
        self.policy.reload()?;
        Ok(())
    }

    /// The certificate directory.
    pub fn directory(&self) -> &dyn Directory {
        self.directory.as_ref()
    }

    pub(crate) fn transport_check(&self) -> &dyn TransportCheck {
        self.transport.as_ref()
    }

    pub(crate) fn organisation_key(&self, address: &str) -> Option<&OrganisationKey> {
        self.keys
            .iter()
            .find(|k| k.address.eq_ignore_ascii_case(address))
    }

    pub(crate) fn organisation_keys(&self) -> &[OrganisationKey] {
        &self.keys
    }

    pub(crate) fn anchors(&self) -> &[Certificate] {
        &self.anchors
    }

    /// CA certificates that may complete an S/MIME path to an anchor:
    /// recipient certificates are stored without their chain, so their
    /// revocation can be checked only with these.
    pub fn with_intermediates(mut self, intermediates: Vec<Certificate>) -> Gateway {
        self.intermediates = intermediates;
        self
    }

    pub(crate) fn intermediates(&self) -> &[Certificate] {
        &self.intermediates
    }

    pub(crate) fn postmaster(&self) -> &str {
        &self.postmaster
    }

    pub(crate) fn password_length(&self) -> usize {
        self.password_length
    }

    pub(crate) fn password_channel(&self) -> &dyn PasswordChannel {
        self.password_channel.as_ref()
    }

    /// Whether `domain` is one of the organisation's, by the policy in
    /// force (`internal_domains`): what an inbound relay accepts mail for.
    pub fn is_internal_domain(&self, domain: &str) -> bool {
        self.policy.current().is_internal_domain(domain)
    }

    pub(crate) fn current_policy(&self) -> Arc<Policy> {
        self.policy.current()
    }

    /// A spool file could not be written or read: the disk may have room
    /// later, so the mail waits.
    ///
    /// Except when the reading failed on the message itself
    /// (`InvalidData`: a header section beyond the limit, say): that does
    /// not heal with time, so the mail is refused now with a notification,
    /// not retried for days and bounced at the end.
    pub(crate) fn spool_failed(&self, envelope: &Envelope, error: &std::io::Error) -> Outcome {
        if error.kind() == std::io::ErrorKind::InvalidData {
            return self.malformed(envelope, &error.to_string(), SystemTime::now());
        }
        let reason = format!("the message spool failed: {error}");
        Outcome {
            dispositions: vec![crate::Disposition::Defer {
                recipients: envelope.recipients.clone(),
                reason: reason.clone(),
            }],
            archive: Vec::new(),
            audit: crate::audit::Audit::error(reason),
        }
    }

    /// Decides what happens to a mail for each recipient, and prepares the
    /// messages to deliver.
    ///
    /// Never fails as a whole: what goes wrong for a recipient becomes a
    /// [`Reject`](crate::Disposition::Reject) (permanent: no key, broken
    /// key, the policy forbids) or a [`Defer`](crate::Disposition::Defer)
    /// (transient: store or lookup unavailable). A recipient whose policy
    /// demands protection is never given the mail unprotected.
    pub fn process(&self, envelope: &Envelope, message: &[u8]) -> Outcome {
        self.process_spooled(envelope, &SpooledMessage::from(message.to_vec()))
    }

    /// [`process`](Gateway::process) for a message of any size, read with
    /// [`SpooledMessage::read_from`]: outbound mail larger than
    /// [`IN_MEMORY_LIMIT`](crate::IN_MEMORY_LIMIT) is summarised for the
    /// policy, signed and encrypted in a streaming fashion from spool file
    /// to spool file, so memory stays bounded whatever its size, and the
    /// messages to deliver are spooled too; inbound mail is decrypted and
    /// verified the same way. (The password containers are built in
    /// memory.)
    ///
    /// ```no_run
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use gateway_facade::{Envelope, Gateway, SpooledMessage};
    /// let gateway = Gateway::from_config_file("mailgate.toml".as_ref())?;
    /// let message = SpooledMessage::read_from(std::io::stdin().lock())?;
    /// let envelope = Envelope::outbound("alice@behoerde.example", ["bob@partner.example"]);
    /// let outcome = gateway.process_spooled(&envelope, &message);
    /// # Ok(()) }
    /// ```
    ///
    /// Addresses are judged in their canonical form
    /// ([`mail_message::Mailbox`]): every spelling of a mailbox gets the
    /// same decision, and a recipient whose address is refused (percent
    /// hack, address literal, no address at all) gets a
    /// [`Reject`](crate::Disposition::Reject) with the reason. Dispositions
    /// name recipients as `envelope` spells them.
    pub fn process_spooled(&self, envelope: &Envelope, message: &SpooledMessage) -> Outcome {
        let started = Instant::now();
        let now = SystemTime::now();
        let canonical = CanonicalEnvelope::new(envelope);
        let judged = &canonical.envelope;
        let outcome = if !canonical.has_recipients() {
            Outcome {
                dispositions: Vec::new(),
                archive: Vec::new(),
                audit: crate::audit::Audit::default(),
            }
        } else {
            // One bound on the header section for both forms of a message:
            // the spooled form is read with it, so mail held in memory is
            // held to it too (else what a message means would depend on
            // its size).
            match crate::headers::header_section(message) {
                Err(error) if error.kind() == std::io::ErrorKind::InvalidData => {
                    self.malformed(judged, &error.to_string(), now)
                }
                _ => match judged.direction {
                    Direction::Outbound => self.outbound(judged, message, now),
                    Direction::Inbound => self.inbound(judged, message, now),
                },
            }
        };
        let mut outcome = canonical.finish(self, envelope, outcome, now);
        outcome.audit.envelope = Some(crate::audit::AuditEnvelope {
            direction: envelope.direction,
            recipients: judged.recipients.clone(),
            sender: judged.sender.clone(),
        });
        outcome.audit.size = Some(message.len());
        outcome.audit.microseconds =
            Some(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
        outcome
    }
}

/// Without the `tls-probe` feature `[transport.probe]` is refused: starting
/// without the checks it asks for would let the policy's `require_tls`
/// decide on verdicts the operator did not mean to rely on.
#[cfg(not(feature = "tls-probe"))]
fn probed_transport(
    _: &crate::config::ProbeConfig,
    _: KnownVerdicts,
    _: &str,
) -> Result<KnownVerdicts, Error> {
    Err(Error::Config {
        path: Path::new("[transport.probe]").to_owned(),
        message: "probing needs gateway-facade built with its `tls-probe` feature".to_owned(),
    })
}

/// The active transport check `[transport.probe]` describes.
#[cfg(feature = "tls-probe")]
fn probed_transport(
    probe: &crate::config::ProbeConfig,
    known: KnownVerdicts,
    postmaster: &str,
) -> Result<crate::ProbedTransport, Error> {
    let config_error = |path: &Path, message: String| Error::Config {
        path: path.to_owned(),
        message,
    };
    let trust_anchors = match &probe.dns_trust_anchor {
        Some(path) => {
            Some(std::fs::read_to_string(path).map_err(|e| config_error(path, e.to_string()))?)
        }
        None => None,
    };
    let dns = tls_policy::HickoryDns::new(&tls_policy::ResolverSetup {
        servers: probe.dns_servers.clone(),
        trust_anchors,
        timeout: None,
    })
    .map_err(|e| config_error(Path::new("[transport.probe]"), e.to_string()))?;
    let anchors = if probe.tls_trust.is_empty() {
        tls_policy::TrustAnchors::system()
            .map_err(|e| config_error(Path::new("[transport.probe]"), e.to_string()))?
    } else {
        let mut pem = Vec::new();
        for path in &probe.tls_trust {
            pem.extend(std::fs::read(path).map_err(|e| config_error(path, e.to_string()))?);
            pem.push(b'\n');
        }
        tls_policy::TrustAnchors::from_pem(&pem)
            .map_err(|e| config_error(Path::new("tls_trust"), e.to_string()))?
    };
    let host = postmaster.rsplit('@').next().unwrap_or("localhost");
    Ok(crate::ProbedTransport::new(known, Arc::new(dns), anchors)
        .with_port(probe.smtp_port)
        .with_cache_ttl(std::time::Duration::from_secs(probe.cache_seconds))
        .with_ehlo_name(host))
}

/// The HTTPS fetcher `[discovery] wkd = true` uses: the system's roots.
fn wkd_fetcher() -> Result<Arc<dyn WkdFetcher + Send + Sync>, Error> {
    let unusable = |message: String| Error::Config {
        path: Path::new("[discovery] wkd").to_owned(),
        message,
    };
    let anchors = tls_policy::TrustAnchors::system().map_err(|e| unusable(e.to_string()))?;
    let fetcher = pgp_core::HttpsFetcher::new(anchors.root_store().as_ref().clone())
        .map_err(|e| unusable(e.to_string()))?;
    Ok(Arc::new(fetcher))
}
