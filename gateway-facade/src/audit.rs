//! The audit record of one processed mail, typed.
//!
//! [`Audit`] is what [`Outcome::audit`](crate::Outcome::audit) holds and what
//! `mailgate process` writes under `"audit"` in `result.json`. Its JSON form
//! is a contract (operators parse it): fields come out in alphabetical
//! order, a field that does not apply to this mail is left out, and a field
//! that applies but has no value is `null`, so the declaration order of every
//! struct here is alphabetical and the `Option<Option<_>>` fields tell
//! "absent" from "null".

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Direction;
use crate::outcome::Step;

/// The policy's action and method names, as [`Decision`] holds them.
pub use rule_engine::{Action, Method};

/// What the gateway recorded about one mail: how the policy decided for
/// each recipient, what it did (with the keys it used), what verification
/// and decryption found, and the envelope, size and time taken.
///
/// Which fields are set depends on how far processing went: a mail the
/// policy judged has `policy`, `decisions` and `steps`; one refused before
/// (malformed, a duplicate singleton field, the spool failed) has `error` or
/// `refused`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audit {
    /// The policy's decision for each recipient, in envelope order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decisions: Option<Vec<Decision>>,
    /// Inbound: what decryption found, as in `X-Mailgate-Decryption`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decryption: Option<String>,
    /// With `refused`: the header field that occurs more than once though
    /// it must not; `Some(None)` (JSON `null`) when the refusal has another
    /// cause.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub duplicate_field: Option<Option<String>>,
    /// The envelope as judged (canonical addresses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<AuditEnvelope>,
    /// Why the mail could not be processed at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Inbound: what the merge of the protected (inner) header fields did;
    /// `Some(None)` (JSON `null`) when the mail was not decrypted.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub inner_fields: Option<Option<InnerFieldsAudit>>,
    /// How long processing took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub microseconds: Option<u64>,
    /// The name of the policy that decided; `Some(None)` (JSON `null`) for
    /// a policy without a name.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub policy: Option<Option<String>>,
    /// Why the whole mail was refused before the policy saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Recipients (or the sender) whose address was refused, with why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_addresses: Option<Vec<RefusedAddresses>>,
    /// The revocation status of each certificate checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation: Option<Vec<RevocationNote>>,
    /// Inbound: what verification found, as in `X-Mailgate-Signature`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The message's size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// What the gateway did, in order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<Step>>,
}

/// A field that may be JSON `null`: present (`Some`) even then, so that a
/// round trip keeps `null` apart from an absent field (`None`, from
/// `#[serde(default)]`).
fn present<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl Audit {
    /// The record of a mail that could not be processed at all.
    pub fn error(reason: impl Into<String>) -> Self {
        Audit {
            error: Some(reason.into()),
            ..Audit::default()
        }
    }

    /// The decision for `recipient` (compared in any case), if the policy
    /// judged the mail.
    pub fn decision_for(&self, recipient: &str) -> Option<&Decision> {
        self.decisions
            .iter()
            .flatten()
            .find(|d| d.address.eq_ignore_ascii_case(recipient))
    }
}

/// The policy's decision for one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// What the policy decided, sorted and without repeats.
    #[serde(with = "action_names")]
    pub actions: Vec<Action>,
    /// The recipient, in lower case.
    pub address: String,
    /// The id of the terminal rule that decided, if any did.
    pub decided_by: Option<String>,
    /// The format to encrypt in, when encrypting.
    #[serde(with = "method_name")]
    pub encryption_method: Option<Method>,
    /// The reason the policy gave (for a block, a quarantine, a defer).
    pub reason: Option<String>,
    /// The format to sign in, when signing.
    #[serde(with = "method_name")]
    pub signing_method: Option<Method>,
    /// How the decision came about: the rules that matched or not, one
    /// line each, as `mailgate policy explain` prints them.
    pub trace: Vec<String>,
}

impl From<&rule_engine::RecipientDecision> for Decision {
    fn from(decision: &rule_engine::RecipientDecision) -> Self {
        Decision {
            actions: decision.outcome.actions.clone(),
            address: decision.address.clone(),
            decided_by: decision.decided_by.clone(),
            encryption_method: decision.outcome.encryption_method,
            reason: decision.outcome.reason.clone(),
            signing_method: decision.outcome.signing_method,
            trace: decision.trace.iter().map(ToString::to_string).collect(),
        }
    }
}

impl Decision {
    /// The decisions of an evaluation, one per recipient.
    pub(crate) fn all(evaluation: &rule_engine::Evaluation) -> Vec<Decision> {
        evaluation.recipients.iter().map(Decision::from).collect()
    }
}

/// Action names as the policy language spells them (`require-tls`).
mod action_names {
    use super::{Deserialize, Deserializer, Serializer};
    use rule_engine::Action;
    use serde::de::Error as _;

    pub(super) fn serialize<S: Serializer>(
        actions: &[Action],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(actions.iter().map(|a| a.as_str()))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<Action>, D::Error> {
        Vec::<String>::deserialize(deserializer)?
            .iter()
            .map(|name| {
                Action::from_name(name)
                    .ok_or_else(|| D::Error::custom(format!("unknown action `{name}`")))
            })
            .collect()
    }
}

/// A method as the policy language spells it (`smime`, `pgp`), or `null`.
mod method_name {
    use super::{Deserialize, Deserializer, Serialize, Serializer};
    use rule_engine::Method;
    use serde::de::Error as _;

    pub(super) fn serialize<S: Serializer>(
        method: &Option<Method>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        method.map(Method::as_str).serialize(serializer)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Method>, D::Error> {
        match Option::<String>::deserialize(deserializer)?.as_deref() {
            None => Ok(None),
            Some("smime") => Ok(Some(Method::Smime)),
            Some("pgp") => Ok(Some(Method::Pgp)),
            Some(other) => Err(D::Error::custom(format!("unknown method `{other}`"))),
        }
    }
}

/// What the gateway did to the mail, in a [`Step`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum StepAction {
    /// Signed for the recipients.
    Sign,
    /// Encrypted for the recipients.
    Encrypt,
    /// Delivered as a password-protected container instead.
    Fallback,
    /// Decrypted with an organisation key.
    Decrypt,
    /// Verified the signature.
    Verify,
    /// Harvested certificates and keys from a valid signature.
    Harvest,
}

impl StepAction {
    /// The name in the audit record: `sign`, `encrypt`, `fallback`,
    /// `decrypt`, `verify`, `harvest`.
    pub fn as_str(self) -> &'static str {
        match self {
            StepAction::Sign => "sign",
            StepAction::Encrypt => "encrypt",
            StepAction::Fallback => "fallback",
            StepAction::Decrypt => "decrypt",
            StepAction::Verify => "verify",
            StepAction::Harvest => "harvest",
        }
    }
}

impl std::fmt::Display for StepAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The envelope as the gateway judged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEnvelope {
    /// Which way the mail travelled.
    pub direction: Direction,
    /// The recipients, canonical.
    pub recipients: Vec<String>,
    /// The envelope sender, canonical (empty: the null sender).
    pub sender: String,
}

/// What the merge of a decrypted message's inner header did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InnerFieldsAudit {
    /// The `hp` parameter (`cipher`, `clear`), when there was one.
    pub hp: Option<String>,
    /// Protected fields that replaced the outer ones.
    pub protected: Vec<String>,
    /// Inner fields removed.
    pub removed: Vec<String>,
    /// Inner fields kept as `X-Mailgate-Inner-<name>`.
    pub renamed: Vec<String>,
}

impl From<&mail_message::InnerFields> for InnerFieldsAudit {
    fn from(inner: &mail_message::InnerFields) -> Self {
        InnerFieldsAudit {
            hp: inner.header_protection.clone(),
            protected: inner.protected.clone(),
            removed: inner.removed.clone(),
            renamed: inner.renamed.clone(),
        }
    }
}

/// Addresses refused before the policy saw them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedAddresses {
    /// The SMTP reply text.
    pub reason: String,
    /// The recipients it applies to, printable on one line.
    pub recipients: Vec<String>,
}

/// Good, revoked, or nobody could say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RevocationStatus {
    /// A CRL or OCSP responder confirmed it is not revoked.
    Good,
    /// Revoked.
    Revoked,
    /// Not confirmed either way (or not checked).
    Unknown,
}

/// One certificate's revocation status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RevocationNote {
    /// A certificate on an inbound signer's path.
    Signer {
        /// Who said so (the CRL file, the OCSP responder and whether the
        /// answer was cached) or why nobody could.
        detail: String,
        /// Its serial number.
        serial: String,
        /// Its status.
        status: RevocationStatus,
        /// Its subject.
        subject: String,
    },
    /// An outbound recipient's certificate.
    Recipient {
        /// Its SHA-256 fingerprint, hex.
        certificate: String,
        /// Who said so, or why nobody could.
        detail: String,
        /// The recipient it was for.
        recipient: String,
        /// Its status.
        status: RevocationStatus,
    },
}

impl std::fmt::Display for Audit {
    /// The record as compact JSON, as `result.json` holds it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let json = serde_json::to_string(self).map_err(|_| std::fmt::Error)?;
        f.write_str(&json)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn step_action_names_are_the_json_names() {
        for action in [
            StepAction::Sign,
            StepAction::Encrypt,
            StepAction::Fallback,
            StepAction::Decrypt,
            StepAction::Verify,
            StepAction::Harvest,
        ] {
            let json = serde_json::to_string(&action).unwrap();
            assert_eq!(json, format!("\"{action}\""));
            assert_eq!(serde_json::from_str::<StepAction>(&json).unwrap(), action);
        }
    }

    /// Every field set, both kinds of revocation note, `null`s where the
    /// gateway writes them.
    fn full() -> Audit {
        Audit {
            decisions: Some(vec![Decision {
                actions: vec![Action::Sign, Action::Encrypt, Action::RequireTls],
                address: "bob@partner.example".into(),
                decided_by: Some("confidential".into()),
                encryption_method: Some(Method::Smime),
                reason: None,
                signing_method: Some(Method::Pgp),
                trace: vec!["global: rule confidential matched".into()],
            }]),
            decryption: Some("smime; result=decrypted".into()),
            duplicate_field: Some(None),
            envelope: Some(AuditEnvelope {
                direction: Direction::Inbound,
                recipients: vec!["alice@behoerde.example".into()],
                sender: "bob@partner.example".into(),
            }),
            error: Some("e".into()),
            inner_fields: Some(None),
            microseconds: Some(7),
            policy: Some(None),
            refused: Some("r".into()),
            refused_addresses: Some(vec![RefusedAddresses {
                reason: "553".into(),
                recipients: vec!["x%y@z".into()],
            }]),
            revocation: Some(vec![
                RevocationNote::Signer {
                    detail: "ca.crl".into(),
                    serial: "01".into(),
                    status: RevocationStatus::Revoked,
                    subject: "CN=Bob".into(),
                },
                RevocationNote::Recipient {
                    certificate: "ab".into(),
                    detail: String::new(),
                    recipient: "bob@partner.example".into(),
                    status: RevocationStatus::Good,
                },
            ]),
            signature: Some("valid; method=smime".into()),
            size: Some(42),
            steps: Some(vec![Step {
                action: StepAction::Encrypt,
                keys: vec!["ab".into()],
                method: Some("smime".into()),
                recipients: vec!["bob@partner.example".into()],
                result: "encrypted".into(),
            }]),
        }
    }

    /// The JSON as the gateway wrote it when the record was a
    /// `serde_json::Value` (keys sorted, `null`s kept).
    const FULL: &str = concat!(
        r#"{"decisions":[{"actions":["sign","encrypt","require-tls"],"address":"bob@partner.example","#,
        r#""decided_by":"confidential","encryption_method":"smime","reason":null,"signing_method":"pgp","#,
        r#""trace":["global: rule confidential matched"]}],"decryption":"smime; result=decrypted","#,
        r#""duplicate_field":null,"envelope":{"direction":"inbound","recipients":["alice@behoerde.example"],"#,
        r#""sender":"bob@partner.example"},"error":"e","inner_fields":null,"microseconds":7,"policy":null,"#,
        r#""refused":"r","refused_addresses":[{"reason":"553","recipients":["x%y@z"]}],"#,
        r#""revocation":[{"detail":"ca.crl","serial":"01","status":"revoked","subject":"CN=Bob"},"#,
        r#"{"certificate":"ab","detail":"","recipient":"bob@partner.example","status":"good"}],"#,
        r#""signature":"valid; method=smime","size":42,"steps":[{"action":"encrypt","keys":["ab"],"#,
        r#""method":"smime","recipients":["bob@partner.example"],"result":"encrypted"}]}"#
    );

    #[test]
    fn serialises_as_the_untyped_record_did_and_round_trips() {
        let audit = full();
        let text = serde_json::to_string(&audit).unwrap();
        assert_eq!(text, FULL);
        // The same text as a sorted `Value` gives: the field order is the
        // one the untyped record had.
        let value: serde_json::Value = serde_json::from_str(FULL).unwrap();
        assert_eq!(serde_json::to_string(&value).unwrap(), FULL);
        assert_eq!(serde_json::from_str::<Audit>(&text).unwrap(), audit);
        assert_eq!(audit.to_string(), FULL);
    }

    #[test]
    fn absent_fields_stay_absent_and_nulls_stay_null() {
        let empty = Audit::default();
        assert_eq!(serde_json::to_string(&empty).unwrap(), "{}");
        assert_eq!(serde_json::from_str::<Audit>("{}").unwrap(), empty);
        let error = Audit::error("malformed message: x");
        let text = serde_json::to_string(&error).unwrap();
        assert_eq!(text, r#"{"error":"malformed message: x"}"#);
        assert_eq!(serde_json::from_str::<Audit>(&text).unwrap(), error);
        // A named policy and inner fields, not null.
        let named = Audit {
            policy: Some(Some("p".into())),
            inner_fields: Some(Some(InnerFieldsAudit {
                hp: None,
                protected: vec!["Subject".into()],
                removed: Vec::new(),
                renamed: Vec::new(),
            })),
            ..Audit::default()
        };
        let text = serde_json::to_string(&named).unwrap();
        assert_eq!(
            text,
            r#"{"inner_fields":{"hp":null,"protected":["Subject"],"removed":[],"renamed":[]},"policy":"p"}"#
        );
        assert_eq!(serde_json::from_str::<Audit>(&text).unwrap(), named);
    }

    #[test]
    fn unknown_action_or_method_names_are_refused() {
        let bad = FULL.replace("require-tls", "teleport");
        assert!(serde_json::from_str::<Audit>(&bad).is_err());
        let bad = FULL.replace(r#""signing_method":"pgp""#, r#""signing_method":"x""#);
        assert!(serde_json::from_str::<Audit>(&bad).is_err());
    }
}
