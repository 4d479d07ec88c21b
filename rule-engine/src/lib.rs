//! The mailgate policy language.
//!
//! `rule-engine` parses a hierarchical policy (TOML), validates it with file,
//! line and column for every finding, compiles it once, and evaluates it per
//! recipient of a mail into actions (sign, encrypt, require TLS, fall back to
//! a password-protected delivery, block, notify, quarantine, archive) with a
//! trace that explains which rule decided and why.
//!
//! It knows no cryptography: what it needs to know about keys, certificates
//! or TLS it asks the host through [`FactSource`], only when a rule reaches
//! such a condition, and once per evaluation.
//!
//! # The language in one example
//!
//! ```
//! use rule_engine::{Action, Direction, Envelope, Message, Method, Policy, StaticFacts};
//!
//! let (policy, warnings) = Policy::parse(r#"
//!     [policy]
//!     internal_domains = ["behoerde.example"]
//!
//!     ## Global scope: rules are tried in order.
//!     [[rules]]
//!     id = "sign"
//!     when = { direction = "outbound", sender_internal = true }
//!     then = { sign = ["smime", "pgp"] }           # non-terminal: accumulates
//!
//!     [[rules]]
//!     id = "confidential"
//!     when = { direction = "outbound", any = [
//!         { subject_tag = "[vertraulich]" },
//!         { classification = "confidential" },
//!     ] }
//!     then = { encrypt = "required", methods = ["smime", "pgp"],
//!              fallback = "password-pdf", strip_subject_tag = "[vertraulich]" }
//!
//!     ## Who a mail comes from is two things: the envelope sender and the
//!     ## header From a reader sees. A rule about the author checks both.
//!     [[rules]]
//!     id = "bank-signs"
//!     when = { direction = "inbound", signed = false, any = [
//!         { sender_domain = "bank.example" },
//!         { header_from_domain = "bank.example" },
//!     ] }
//!     then = { quarantine = "unsigned mail from bank.example" }
//!
//!     ## A domain scope: applies to recipients in that domain and its
//!     ## subdomains (`=geheim.example`: that domain only), tried first.
//!     [[domain."geheim.example".rules]]
//!     id = "always-encrypt"
//!     then = { encrypt = "required", fallback = "block", notify_sender = "no-key" }
//!
//!     ## Required, and the last table of the file: what mail that no
//!     ## terminal rule decides gets. Nothing is delivered by default, and a
//!     ## file cut short before this point is refused.
//!     [default]
//!     then = { require_tls = "bsi-tr-03108" }
//! "#, "policy.toml")?;
//! assert!(warnings.is_empty());
//! assert_eq!(policy.default_decision(), "require-tls");
//!
//! let message = Message::parse(b"From: a@behoerde.example\r\nSubject: [vertraulich] Akte\r\n\r\nText\r\n");
//! let envelope = Envelope::new(Direction::Outbound, "a@behoerde.example",
//!                              ["bob@partner.example", "eve@geheim.example"]);
//! let facts = StaticFacts::from_json(r#"{"recipients": {"bob@partner.example": {"pgp": true}},
//!                                        "sender": {"smime": true}}"#).unwrap();
//! let result = policy.evaluate(&envelope, &message, &facts);
//!
//! let bob = result.recipient("bob@partner.example").unwrap();
//! assert_eq!(bob.decided_by.as_deref(), Some("confidential"));
//! assert_eq!(bob.outcome.encryption_method, Some(Method::Pgp));
//! assert!(bob.outcome.has(Action::Sign));
//!
//! let eve = result.recipient("eve@geheim.example").unwrap();
//! assert_eq!(eve.decided_by.as_deref(), Some("always-encrypt"));
//! assert!(eve.outcome.has(Action::Block)); // no key, and the fallback is block
//! for step in &eve.trace {
//!     println!("{step}");
//! }
//!
//! // Nothing confidential: no terminal rule decides, the default does.
//! let plain = Message::parse(b"From: a@behoerde.example\r\nSubject: Termin\r\n\r\nText\r\n");
//! let to_carl = Envelope::new(Direction::Outbound, "a@behoerde.example", ["carl@other.example"]);
//! let carl = policy.evaluate(&to_carl, &plain, &facts).recipients.remove(0);
//! assert_eq!(carl.decided_by, None);
//! assert!(carl.outcome.has(Action::RequireTls) && carl.outcome.has(Action::Sign));
//!
//! // A domain names the organisation: its subdomains too, in any spelling.
//! let to_sub = Envelope::new(Direction::Outbound, "a@behoerde.example", ["Erin@Sub.Geheim.Example."]);
//! let erin = policy.evaluate(&to_sub, &plain, &facts).recipients.remove(0);
//! assert_eq!(erin.decided_by.as_deref(), Some("always-encrypt"));
//!
//! // The envelope says newsletter.example, the reader sees the bank.
//! let forged = Message::parse(b"From: Bank <service@bank.example>\r\nSubject: Konto\r\n\r\nText\r\n");
//! let inbound = Envelope::new(Direction::Inbound, "bounce@newsletter.example", ["a@behoerde.example"]);
//! let alice = policy.evaluate(&inbound, &forged, &facts).recipients.remove(0);
//! assert_eq!(alice.decided_by.as_deref(), Some("bank-signs"));
//! assert!(alice.outcome.has(Action::Quarantine));
//! # Ok::<(), rule_engine::Error>(())
//! ```
//!
//! The README describes every condition and action; [`Policy::evaluate`]
//! describes how scopes, terminal rules and conflicts resolve.
#![forbid(unsafe_code)]

mod diagnostic;
mod error;
mod evaluate;
mod facts;
mod header_from;
mod keywords;
mod lint;
mod message;
mod outcome;
mod parse;
mod policy;
pub mod policy_test;
mod reduced_message;
mod reload;
mod serialize;
mod syntax;
mod trace;

pub use diagnostic::{Diagnostic, Severity};
pub use error::Error;
pub use evaluate::Envelope;
pub use facts::{Fact, FactError, FactSource, PartyFacts, StaticFacts};
/// Header text as the reader's mail client shows it, and the one normal
/// form markers are matched in: [`mail_message::shown_text`], re-exported
/// so that the policy, the gateway's Subject tag stripping and the
/// signature verdict's display-name check read text one way.
///
/// ```
/// use rule_engine::shown_text::{decode_header_value, normalize};
/// assert_eq!(normalize(&decode_header_value(b" =?utf-8?q?=5BVERTR=C2=ADAULICH=5D?=")), "[vertraulich]");
/// ```
pub use mail_message::shown_text;
pub use message::{Attachment, Message};
pub use outcome::{Action, Evaluation, Outcome, RecipientDecision, RecipientGroup};
pub use policy::Policy;
pub use reload::LivePolicy;
pub use syntax::{Direction, Fallback, HeaderEdit, Method};
pub use trace::{ConditionCheck, Detail, TraceEvent, TraceStep};
