//! Host facts for the rule engine, answered from the certificate directory,
//! the organisation's keys and the transport verdicts; and the certificates
//! behind those answers, kept for the processing that follows.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use mail_message::EmailAddress;
use pgp_core::Cert;
use rule_engine::{Fact, FactError, FactSource, Method};
use smime_core::Certificate;

use crate::certificates::{pgp_certificate, smime_certificate};
use crate::gateway::Gateway;
use crate::store::{Kind, StoreError, TrustState};

/// Whether a recipient's receiving server meets a TLS profile.
///
/// The gateway asks only when a rule needs to know. Hosts plug in an active
/// check (the `tls-policy` crate's probe with its cache); without one, the
/// configured known verdicts answer, and a domain without a known verdict
/// does not meet any profile, so the policy's stricter branch applies.
pub trait TransportCheck: Send + Sync {
    /// `Ok(true)` when the servers of `domain` meet `profile`; `Err` with a
    /// reason when that could not be established now (the mail is deferred).
    fn meets_profile(&self, domain: &str, profile: &str) -> Result<bool, String>;
}

/// Verdicts given in the configuration (`[transport.domains."x"]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownVerdicts {
    verdicts: BTreeMap<String, bool>,
}

impl KnownVerdicts {
    /// Verdicts per domain; domains are taken in their canonical form
    /// (`mail_message::canonical_domain`: lower-case A-labels, no trailing
    /// dot), as the envelope's are.
    pub fn new(verdicts: BTreeMap<String, bool>) -> Self {
        KnownVerdicts {
            verdicts: verdicts
                .into_iter()
                .map(|(domain, verdict)| (crate::envelope_addresses::domain_key(&domain), verdict))
                .collect(),
        }
    }

    /// The configured verdict for `domain`, if there is one.
    pub fn verdict(&self, domain: &str) -> Option<bool> {
        self.verdicts
            .get(&crate::envelope_addresses::domain_key(domain))
            .copied()
    }
}

impl TransportCheck for KnownVerdicts {
    fn meets_profile(&self, domain: &str, _profile: &str) -> Result<bool, String> {
        Ok(self.verdict(domain).unwrap_or(false))
    }
}

/// The facts of one mail. Certificates looked up to answer a question are
/// kept, so the mail is encrypted to exactly the certificates the decision
/// was based on.
pub(crate) struct MailFacts<'g> {
    gateway: &'g Gateway,
    now: SystemTime,
    inbound_signature_valid: bool,
    smime: RefCell<HashMap<String, Vec<Certificate>>>,
    pgp: RefCell<HashMap<String, Vec<Cert>>>,
}

impl<'g> MailFacts<'g> {
    pub(crate) fn new(
        gateway: &'g Gateway,
        now: SystemTime,
        inbound_signature_valid: bool,
    ) -> Self {
        MailFacts {
            gateway,
            now,
            inbound_signature_valid,
            smime: RefCell::new(HashMap::new()),
            pgp: RefCell::new(HashMap::new()),
        }
    }

    /// Trusted, currently valid S/MIME certificates we can encrypt to.
    pub(crate) fn smime_for(&self, address: &str) -> Result<Vec<Certificate>, StoreError> {
        let address = address.to_ascii_lowercase();
        if let Some(found) = self.smime.borrow().get(&address) {
            return Ok(found.clone());
        }
        let usable: Vec<Certificate> = self
            .gateway
            .directory()
            .trusted(Kind::Smime, &address)?
            .iter()
            .filter_map(|entry| smime_certificate(entry).ok())
            .filter(|c| {
                c.is_valid_at(self.now)
                    && c.allows_email_protection()
                    && smime_core::Encryptor::new([c.clone()]).is_ok()
            })
            .collect();
        self.smime.borrow_mut().insert(address, usable.clone());
        Ok(usable)
    }

    /// Trusted OpenPGP certificates with a valid user ID for the address and
    /// a valid encryption subkey.
    pub(crate) fn pgp_for(&self, address: &str) -> Result<Vec<Cert>, StoreError> {
        let address = address.to_ascii_lowercase();
        if let Some(found) = self.pgp.borrow().get(&address) {
            return Ok(found.clone());
        }
        let certs: Vec<Cert> = self
            .gateway
            .directory()
            .trusted(Kind::Pgp, &address)?
            .iter()
            .filter_map(|entry| pgp_certificate(entry).ok())
            .collect();
        let usable: Vec<Cert> = match address.parse::<EmailAddress>() {
            Ok(parsed) => {
                let known: Vec<Cert> =
                    pgp_core::select_certificate(&certs, &parsed, Some(self.now))
                        .usable
                        .into_iter()
                        .take(1)
                        .collect();
                if known.is_empty() {
                    self.discover_pgp(&parsed)
                } else {
                    known
                }
            }
            Err(_) => Vec::new(),
        };
        self.pgp.borrow_mut().insert(address, usable.clone());
        Ok(usable)
    }
}

impl MailFacts<'_> {
    /// A usable key from the recipient's Web Key Directory, if discovery is
    /// on; it is used for this mail and added to the directory as pending
    /// for an administrator (best effort: a directory that refuses the
    /// entry does not make the key less usable). A failed lookup counts as
    /// "no key": the policy's fallback applies.
    fn discover_pgp(&self, address: &EmailAddress) -> Vec<Cert> {
        let Some(fetcher) = self.gateway.wkd() else {
            return Vec::new();
        };
        let Ok(found) = pgp_core::wkd_lookup(address, fetcher) else {
            return Vec::new();
        };
        let usable: Vec<Cert> = pgp_core::select_certificate(&found, address, Some(self.now))
            .usable
            .into_iter()
            .take(1)
            .collect();
        for cert in &usable {
            if let Ok(entry) = crate::certificates::pgp_entry(cert, "wkd") {
                let _ = self.gateway.directory().add(&entry, TrustState::Pending);
            }
        }
        usable
    }
}

fn store_failure(error: StoreError) -> FactError {
    FactError {
        message: error.to_string(),
    }
}

impl FactSource for MailFacts<'_> {
    fn fact(&self, fact: &Fact) -> Result<bool, FactError> {
        match fact {
            Fact::RecipientHas { recipient, method } => match method {
                Method::Smime => Ok(!self.smime_for(recipient).map_err(store_failure)?.is_empty()),
                Method::Pgp => Ok(!self.pgp_for(recipient).map_err(store_failure)?.is_empty()),
            },
            Fact::RecipientTls { recipient, profile } => {
                let domain = recipient.rsplit_once('@').map_or("", |(_, d)| d);
                self.gateway
                    .transport_check()
                    .meets_profile(domain, profile)
                    .map_err(|message| FactError { message })
            }
            Fact::SenderHas { sender, method } => Ok(self
                .gateway
                .organisation_key(sender)
                .is_some_and(|key| match method {
                    Method::Smime => key.smime.is_some(),
                    Method::Pgp => key.pgp.is_some(),
                })),
            Fact::InboundSignatureValid => Ok(self.inbound_signature_valid),
            // A question this gateway does not know how to answer: the
            // recipient is deferred, never treated as "no".
            _ => Err(FactError {
                message: format!("the gateway cannot establish: {fact}"),
            }),
        }
    }
}
