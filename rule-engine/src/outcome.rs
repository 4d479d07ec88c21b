//! What happens to each recipient, and recipients grouped by identical
//! outcome.

use serde::Serialize;
use serde_json::json;

use crate::syntax::{HeaderEdit, Method};
use crate::trace::TraceStep;

/// One thing that will happen to the mail for a recipient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Action {
    /// Sign with the sender's key ([`Outcome::signing_method`]).
    Sign,
    /// Encrypt for the recipient ([`Outcome::encryption_method`]).
    Encrypt,
    /// Deliver only over TLS meeting [`Outcome::tls_profile`].
    RequireTls,
    /// Deliver as a password-protected PDF.
    FallbackPasswordPdf,
    /// Deliver as a password-protected ZIP.
    FallbackPasswordZip,
    /// Do not deliver ([`Outcome::reason`]).
    Block,
    /// Tell the sender ([`Outcome::notify_template`]).
    NotifySender,
    /// Hold for an administrator.
    Quarantine,
    /// Keep a copy in the archive.
    Archive,
    /// Hand the mail to the recipient.
    Deliver,
    /// No transport checks for this recipient (partner under contract).
    Whitelist,
    /// Decrypt inbound mail with the organisation's keys.
    Decrypt,
    /// Harvest certificates and keys from valid signatures for approval.
    HarvestKeys,
    /// A host fact could not be established: try again later (SMTP 4xx).
    Defer,
}

impl Action {
    /// The name used in traces and JSON, e.g. `fallback-password-pdf`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sign => "sign",
            Self::Encrypt => "encrypt",
            Self::RequireTls => "require-tls",
            Self::FallbackPasswordPdf => "fallback-password-pdf",
            Self::FallbackPasswordZip => "fallback-password-zip",
            Self::Block => "block",
            Self::NotifySender => "notify-sender",
            Self::Quarantine => "quarantine",
            Self::Archive => "archive",
            Self::Deliver => "deliver",
            Self::Whitelist => "whitelist",
            Self::Decrypt => "decrypt",
            Self::HarvestKeys => "harvest-keys",
            Self::Defer => "defer",
        }
    }

    /// Parses a name as printed by [`Action::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        ALL.iter().copied().find(|a| a.as_str() == name)
    }

    /// Whether `mailgate policy explain --json` lists this action in
    /// `actions` (decrypt, harvest-keys and defer have their own fields).
    pub fn in_explain_vocabulary(self) -> bool {
        !matches!(self, Self::Decrypt | Self::HarvestKeys | Self::Defer)
    }
}

const ALL: [Action; 14] = [
    Action::Sign,
    Action::Encrypt,
    Action::RequireTls,
    Action::FallbackPasswordPdf,
    Action::FallbackPasswordZip,
    Action::Block,
    Action::NotifySender,
    Action::Quarantine,
    Action::Archive,
    Action::Deliver,
    Action::Whitelist,
    Action::Decrypt,
    Action::HarvestKeys,
    Action::Defer,
];

/// Everything that will happen to the mail for one recipient, once facts
/// are applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Outcome {
    /// The actions, sorted and without repeats.
    pub actions: Vec<Action>,
    /// How the mail is encrypted, when [`Action::Encrypt`] is present.
    pub encryption_method: Option<Method>,
    /// How the mail is signed, when [`Action::Sign`] is present.
    pub signing_method: Option<Method>,
    /// The TLS profile, when [`Action::RequireTls`] is present.
    pub tls_profile: Option<String>,
    /// Why the mail is blocked, quarantined or deferred.
    pub reason: Option<String>,
    /// The template of the notification to the sender, if a rule named one.
    pub notify_template: Option<String>,
    /// Header changes, in rule order.
    pub header_edits: Vec<HeaderEdit>,
}

impl Outcome {
    /// Whether the outcome holds `action`.
    pub fn has(&self, action: Action) -> bool {
        self.actions.contains(&action)
    }

    pub(crate) fn add(&mut self, action: Action) {
        if let Err(at) = self.actions.binary_search(&action) {
            self.actions.insert(at, action);
        }
    }

    /// The action names for `explain --json`.
    pub fn explain_actions(&self) -> Vec<&'static str> {
        self.actions
            .iter()
            .filter(|a| a.in_explain_vocabulary())
            .map(|a| a.as_str())
            .collect()
    }
}

/// The outcome for one recipient, with its explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientDecision {
    /// The recipient, in lower case.
    pub address: String,
    /// What will happen.
    pub outcome: Outcome,
    /// The id of the terminal rule that decided, if any did.
    pub decided_by: Option<String>,
    /// How the outcome came about.
    pub trace: Vec<TraceStep>,
}

impl std::fmt::Display for RecipientDecision {
    /// What `mailgate policy explain` prints for one recipient: the
    /// address, the actions with their details, the deciding rule and the
    /// trace, one step per line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let actions: Vec<&str> = self.outcome.actions.iter().map(|a| a.as_str()).collect();
        write!(f, "{}: {}", self.address, actions.join(", "))?;
        let o = &self.outcome;
        let details = [
            o.encryption_method
                .map(|m| format!("encrypt with {}", m.as_str())),
            o.signing_method
                .map(|m| format!("sign with {}", m.as_str())),
            o.tls_profile.as_ref().map(|p| format!("TLS profile {p}")),
            o.reason.as_ref().map(|r| format!("reason: {r}")),
            o.notify_template
                .as_ref()
                .map(|t| format!("notification: {t}")),
        ];
        let details: Vec<String> = details.into_iter().flatten().collect();
        if !details.is_empty() {
            write!(f, " ({})", details.join("; "))?;
        }
        match &self.decided_by {
            Some(rule) => write!(f, "\n  decided by {rule}")?,
            None => f.write_str("\n  no terminal rule decided")?,
        }
        for step in &self.trace {
            write!(f, "\n  {step}")?;
        }
        Ok(())
    }
}

/// Recipients that get exactly the same treatment: one copy of the mail is
/// prepared for all of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecipientGroup {
    /// The recipients, in envelope order.
    pub recipients: Vec<String>,
    /// Their common outcome.
    pub outcome: Outcome,
}

/// The result of evaluating a policy for one mail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evaluation {
    /// One decision per distinct envelope recipient, in envelope order.
    pub recipients: Vec<RecipientDecision>,
}

impl Evaluation {
    /// The decision for `address`, in any spelling of the mailbox (case,
    /// trailing dot, IDNA label form, quoting, angle brackets).
    pub fn recipient(&self, address: &str) -> Option<&RecipientDecision> {
        let address = crate::evaluate::address_key(address);
        self.recipients.iter().find(|r| r.address == address)
    }

    /// Recipients with identical outcomes, grouped, in order of first
    /// appearance.
    pub fn groups(&self) -> Vec<RecipientGroup> {
        let mut groups: Vec<RecipientGroup> = Vec::new();
        for r in &self.recipients {
            match groups.iter_mut().find(|g| g.outcome == r.outcome) {
                Some(g) => g.recipients.push(r.address.clone()),
                None => groups.push(RecipientGroup {
                    recipients: vec![r.address.clone()],
                    outcome: r.outcome.clone(),
                }),
            }
        }
        groups
    }

    /// Whether no recipient gets the mail (all blocked, quarantined or
    /// deferred). `mailgate policy explain` exits 1 then.
    pub fn blocked_for_everyone(&self) -> bool {
        !self.recipients.is_empty()
            && self
                .recipients
                .iter()
                .all(|r| !r.outcome.has(Action::Deliver))
    }

    /// The JSON of `mailgate policy explain --json`, exactly the shape the
    /// command line promises:
    /// `{"recipients": [{"address", "actions", "method", "decided_by", "trace"}]}`.
    ///
    /// `actions` holds only the names of the explain vocabulary (see
    /// [`Action::in_explain_vocabulary`]): what will happen once facts are
    /// applied. `method` is the encryption method (`"smime"`, `"pgp"` or
    /// `null`), `decided_by` the deciding rule's id or `null`, and `trace`
    /// the lines of the trace as text; decryption, key harvesting, a
    /// deferral, header edits and the signing method appear there.
    pub fn to_json(&self) -> serde_json::Value {
        let recipients: Vec<serde_json::Value> = self
            .recipients
            .iter()
            .map(|r| {
                json!({
                    "address": r.address,
                    "actions": r.outcome.explain_actions(),
                    "method": r.outcome.encryption_method,
                    "decided_by": r.decided_by,
                    "trace": r.trace.iter().map(ToString::to_string).collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({ "recipients": recipients })
    }
}
