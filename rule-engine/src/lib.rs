#![doc = include_str!("../README.md")]
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
