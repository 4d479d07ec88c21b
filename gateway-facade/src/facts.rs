//! Host facts for the rule engine, answered from the certificate directory,
//! the organisation's keys and the transport verdicts; and the certificates
//! behind those answers, kept for the processing that follows.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use mail_message::EmailAddress;
use pgp_core::Cert;
use rule_engine::{Fact, FactError, FactSource, Method};
use smime_core::revocation::StatusOutcome;
use smime_core::{Certificate, Revocation, RevocationMode, SignatureStatus};

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
    fn meets_profile(&self, domain: &str, profile: &str) -> Result<bool, TransportCheckError>;
}

/// Why a [`TransportCheck`] could not establish now whether a domain meets
/// a profile. The gateway defers the recipient with this text as reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportCheckError {
    /// The profile is not one the check knows (a policy naming a profile
    /// this gateway cannot evaluate defers rather than guesses).
    #[error("{reason}")]
    UnknownProfile {
        /// The profile the policy asked for.
        profile: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// Resolving the domain's mail exchangers failed for now.
    #[error("{0}")]
    Dns(String),
    /// The domain has exchangers, but none of them could be checked.
    #[error("no mail exchanger of {domain} could be checked: {}", .trouble.join("; "))]
    NoExchangerChecked {
        /// The recipient domain.
        domain: String,
        /// What went wrong, per exchanger address.
        trouble: Vec<String>,
    },
    /// Any other reason, for checks implemented outside this crate.
    #[error("{0}")]
    Unavailable(String),
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
    fn meets_profile(&self, domain: &str, _profile: &str) -> Result<bool, TransportCheckError> {
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
    /// Per address: the usable certificates, or why none can be chosen now.
    smime: RefCell<HashMap<String, Result<Vec<Certificate>, String>>>,
    pgp: RefCell<HashMap<String, Vec<Cert>>>,
    revocation_notes: RefCell<Vec<crate::audit::RevocationNote>>,
}

/// Why the certificates of a recipient could not be chosen now.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LookupError {
    /// The directory failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `[revocation] outbound = "require"` and no status is known.
    #[error("{0}")]
    RevocationUnknown(String),
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
            revocation_notes: RefCell::new(Vec::new()),
        }
    }

    /// Trusted, currently valid S/MIME certificates we can encrypt to, none
    /// of them revoked (when `[revocation] outbound` is on).
    ///
    /// `Err(LookupError::RevocationUnknown)`: in `require` mode no
    /// candidate is known to be unrevoked and at least one has an unknown
    /// status (a responder down, a CRL out of date). That may heal, so the
    /// recipient is deferred: neither encrypted to an unconfirmed
    /// certificate nor sent on as if there were none (which a policy could
    /// turn into clear text or a password fallback).
    pub(crate) fn smime_for(&self, address: &str) -> Result<Vec<Certificate>, LookupError> {
        let address = address.to_ascii_lowercase();
        if let Some(found) = self.smime.borrow().get(&address) {
            return found.clone().map_err(LookupError::RevocationUnknown);
        }
        let candidates: Vec<Certificate> = self
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
        let usable = match self.gateway.outbound_revocation() {
            Some(revocation) => self.not_revoked(&address, candidates, revocation),
            None => Ok(candidates),
        };
        self.smime.borrow_mut().insert(address, usable.clone());
        usable.map_err(LookupError::RevocationUnknown)
    }

    /// The `candidates` whose revocation status allows encrypting to them,
    /// recording in the audit notes what was skipped or not confirmed.
    fn not_revoked(
        &self,
        address: &str,
        candidates: Vec<Certificate>,
        revocation: &Revocation,
    ) -> Result<Vec<Certificate>, String> {
        if candidates.is_empty() {
            return Ok(candidates);
        }
        let verifier = smime_core::Verifier::new(self.gateway.anchors().iter().cloned())
            .with_intermediates(self.gateway.intermediates().iter().cloned())
            .with_revocation(revocation.clone())
            .at(self.now);
        let mut kept = Vec::new();
        let mut unknown = None;
        for certificate in candidates {
            let fingerprint = crate::certificates::hex(&certificate.fingerprint_sha256());
            let note = |status: crate::audit::RevocationStatus, detail: String| {
                self.revocation_notes
                    .borrow_mut()
                    .push(crate::audit::RevocationNote::Recipient {
                        certificate: fingerprint.clone(),
                        detail,
                        recipient: address.to_owned(),
                        status,
                    });
            };
            match verifier.check_certificate(&certificate, &[]) {
                Ok(statuses) => {
                    let open: Vec<String> = statuses
                        .iter()
                        .filter_map(|s| match &s.outcome {
                            StatusOutcome::Unknown { reasons } => Some(format!(
                                "{} (serial {}): {}",
                                s.subject,
                                s.serial,
                                if reasons.is_empty() {
                                    "no CRL or responder".to_owned()
                                } else {
                                    reasons.join("; ")
                                }
                            )),
                            _ => None,
                        })
                        .collect();
                    if open.is_empty() {
                        let sources: Vec<String> = statuses
                            .iter()
                            .filter_map(|s| match &s.outcome {
                                StatusOutcome::Good { source } => Some(source.to_string()),
                                _ => None,
                            })
                            .collect();
                        note(crate::audit::RevocationStatus::Good, sources.join("; "));
                    } else {
                        // `prefer`: used, and the audit says unconfirmed.
                        note(crate::audit::RevocationStatus::Unknown, open.join(" | "));
                    }
                    kept.push(certificate);
                }
                // Never encrypt to a revoked certificate: whoever holds its
                // key may not be the recipient any more.
                Err(status @ SignatureStatus::Revoked { .. }) => {
                    note(crate::audit::RevocationStatus::Revoked, status.to_string());
                }
                Err(status @ SignatureStatus::RevocationUnknown { .. }) => {
                    note(crate::audit::RevocationStatus::Unknown, status.to_string());
                    unknown = Some(format!("{address}: {status}"));
                }
                // No path to a configured anchor: there is no issuer to
                // ask about the certificate, so its status cannot be
                // known, now or later. `prefer` uses it (the directory
                // trusts it) and says so; `require` does not, and the
                // policy decides as if it were absent.
                Err(other) => {
                    if revocation.mode() == RevocationMode::Require {
                        note(
                            crate::audit::RevocationStatus::Unknown,
                            format!("not used: {other}"),
                        );
                    } else {
                        note(
                            crate::audit::RevocationStatus::Unknown,
                            format!("no status: {other}"),
                        );
                        kept.push(certificate);
                    }
                }
            }
        }
        match unknown {
            Some(reason) if kept.is_empty() => Err(format!(
                "the revocation status of the S/MIME certificate is unknown ({reason})"
            )),
            _ => Ok(kept),
        }
    }

    /// What the outbound revocation checks found, for the audit record.
    pub(crate) fn revocation_notes(&self) -> Vec<crate::audit::RevocationNote> {
        self.revocation_notes.borrow().clone()
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

fn store_failure(error: impl std::fmt::Display) -> FactError {
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
                    .map_err(|error| FactError {
                        message: error.to_string(),
                    })
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
