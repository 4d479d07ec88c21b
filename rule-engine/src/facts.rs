//! Host facts: what only the host knows (certificates, keys, TLS verdicts,
//! signature checks), asked lazily. A fact is asked only when a rule's
//! conditions reach it, and at most once per evaluation.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::Deserialize;

use crate::error::Error;
use crate::syntax::Method;

/// A question the engine asks the host.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Fact {
    /// Does the recipient have a usable certificate (S/MIME) or key (PGP)?
    RecipientHas {
        /// Lower-case recipient address.
        recipient: String,
        /// Which kind.
        method: Method,
    },
    /// Does the recipient's receiving server meet the TLS profile?
    RecipientTls {
        /// Lower-case recipient address.
        recipient: String,
        /// Profile name from the policy, e.g. `bsi-tr-03108`.
        profile: String,
    },
    /// Does the sender have a signing key of this kind?
    SenderHas {
        /// Lower-case sender address.
        sender: String,
        /// Which kind.
        method: Method,
    },
    /// Did the inbound message's signature verify?
    InboundSignatureValid,
}

impl std::fmt::Display for Fact {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RecipientHas { recipient, method } => {
                write!(f, "recipient {recipient} has {}", method_noun(*method))
            }
            Self::RecipientTls { recipient, profile } => {
                write!(f, "server of {recipient} meets TLS profile {profile}")
            }
            Self::SenderHas { sender, method } => {
                write!(f, "sender {sender} has a {} signing key", method.as_str())
            }
            Self::InboundSignatureValid => f.write_str("inbound signature is valid"),
        }
    }
}

fn method_noun(method: Method) -> &'static str {
    match method {
        Method::Smime => "an S/MIME certificate",
        Method::Pgp => "an OpenPGP key",
    }
}

/// The host could not establish a fact (store down, DNS timeout). The
/// recipient is deferred: the mail is neither sent nor rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FactError {
    /// What went wrong, for the trace and the log.
    pub message: String,
}

/// Where host facts come from: certificate and key stores, TLS probes,
/// signature verification. Implementations may be slow; the engine asks only
/// what a rule needs, once per evaluation.
pub trait FactSource {
    /// Answers one question.
    fn fact(&self, fact: &Fact) -> Result<bool, FactError>;
}

/// Facts given up front, for tests and `mailgate policy explain --facts`.
///
/// The JSON form is
/// `{"recipients": {"bob@partner.example": {"smime": true, "pgp": false, "tls": true}},
///   "sender": {"smime": true, "pgp": true}, "inbound_signature_valid": false}`.
/// A recipient not listed has no certificate, no key, and a server that does
/// not meet any TLS profile; `tls` applies to every profile.
///
/// ```
/// use rule_engine::{Fact, FactSource, StaticFacts};
/// let facts = StaticFacts::from_json(r#"{"recipients": {"bob@partner.example": {"tls": true}}}"#)?;
/// let tls = Fact::RecipientTls { recipient: "bob@partner.example".into(), profile: "bsi-tr-03108".into() };
/// assert_eq!(facts.fact(&tls), Ok(true));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticFacts {
    /// Per recipient address.
    #[serde(default)]
    pub recipients: BTreeMap<String, PartyFacts>,
    /// The sender's keys.
    #[serde(default)]
    pub sender: PartyFacts,
    /// Whether an inbound signature verified.
    #[serde(default)]
    pub inbound_signature_valid: bool,
}

/// The facts about one party in [`StaticFacts`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartyFacts {
    /// Has an S/MIME certificate (recipient) or signing key (sender).
    #[serde(default)]
    pub smime: bool,
    /// Has an OpenPGP key.
    #[serde(default)]
    pub pgp: bool,
    /// The receiving server meets the TLS profile (recipients only).
    #[serde(default)]
    pub tls: bool,
}

impl StaticFacts {
    /// Parses the JSON form.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        let mut facts: Self = serde_json::from_str(text)?;
        facts.recipients = facts
            .recipients
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        Ok(facts)
    }

    /// Reads the JSON form from a file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_json(&text).map_err(|e| Error::InvalidTestCase {
            path: path.to_owned(),
            message: format!("invalid facts: {e}"),
        })
    }

    fn recipient(&self, address: &str) -> PartyFacts {
        self.recipients.get(address).copied().unwrap_or_default()
    }
}

impl FactSource for StaticFacts {
    fn fact(&self, fact: &Fact) -> Result<bool, FactError> {
        let has = |p: PartyFacts, m: Method| match m {
            Method::Smime => p.smime,
            Method::Pgp => p.pgp,
        };
        Ok(match fact {
            Fact::RecipientHas { recipient, method } => has(self.recipient(recipient), *method),
            Fact::RecipientTls { recipient, .. } => self.recipient(recipient).tls,
            Fact::SenderHas { method, .. } => has(self.sender, *method),
            Fact::InboundSignatureValid => self.inbound_signature_valid,
        })
    }
}

/// Answers for one evaluation, so each fact is asked at most once.
pub(crate) struct FactCache<'f> {
    source: &'f dyn FactSource,
    answers: RefCell<HashMap<Fact, Result<bool, FactError>>>,
}

impl<'f> FactCache<'f> {
    pub(crate) fn new(source: &'f dyn FactSource) -> Self {
        Self {
            source,
            answers: RefCell::new(HashMap::new()),
        }
    }

    /// The answer, and whether it was asked now (false: from the cache).
    pub(crate) fn get(&self, fact: &Fact) -> (Result<bool, FactError>, bool) {
        if let Some(answer) = self.answers.borrow().get(fact) {
            return (answer.clone(), false);
        }
        let answer = self.source.fact(fact);
        self.answers
            .borrow_mut()
            .insert(fact.clone(), answer.clone());
        (answer, true)
    }
}
