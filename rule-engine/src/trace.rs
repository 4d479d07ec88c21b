//! The explanation of a decision: which rules were tried in which scope,
//! which conditions held, which rule decided, and why facts changed the
//! result.

use std::fmt;

use serde::Serialize;

/// How much an evaluation records in its traces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Detail {
    /// Every rule tried or skipped, with every condition evaluated: for
    /// `explain`, policy tests and debugging.
    #[default]
    Full,
    /// Only what decided: overrides, matching rules (without their
    /// conditions), decisions, conflicts, effects and how facts resolved
    /// them. For the audit record of every mail.
    Decisions,
}

/// One leaf condition as evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConditionCheck {
    /// The condition, in policy syntax.
    pub condition: String,
    /// Whether it held.
    pub held: bool,
    /// For host facts: what was asked and whether the answer came from the
    /// cache of this evaluation.
    pub fact: Option<String>,
}

/// What happened to one rule, or to the outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TraceEvent {
    /// A rule of the same id in a more specific scope replaced this one.
    Overridden {
        /// The scope whose rule replaced it.
        by: String,
    },
    /// A `disable = true` rule in a more specific scope removed this one.
    Disabled {
        /// The scope that disabled it.
        by: String,
    },
    /// The conditions were evaluated and held.
    Matched {
        /// The leaf conditions evaluated, in order.
        conditions: Vec<ConditionCheck>,
    },
    /// The conditions were evaluated and did not hold.
    NotMatched {
        /// The leaf conditions evaluated, in order (evaluation stops at the
        /// first that decides).
        conditions: Vec<ConditionCheck>,
    },
    /// This terminal rule made the decision.
    Decided {
        /// The decision, e.g. `encrypt`.
        decision: String,
    },
    /// A terminal rule not tried because another already decided.
    Skipped {
        /// The rule that decided.
        decided_by: String,
    },
    /// Two rules of equal standing decided differently; the more protective
    /// won.
    Conflict {
        /// The rule that won.
        winner: String,
        /// The rule that lost.
        loser: String,
        /// Why, in words.
        note: String,
    },
    /// A non-terminal effect was added (sign, header edit, archive, ...).
    Effect {
        /// What was added.
        what: String,
    },
    /// How host facts turned the decision into actions.
    Resolution {
        /// What happened, in words.
        note: String,
    },
    /// A host fact could not be established; the recipient is deferred.
    Deferred {
        /// Why.
        reason: String,
    },
}

/// One line of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TraceStep {
    /// The scope, e.g. `global`, `domain *.behoerde.example`, `group legal`.
    pub scope: String,
    /// The rule id, if the step is about a rule.
    pub rule: Option<String>,
    /// What happened.
    #[serde(flatten)]
    pub event: TraceEvent,
}

fn checks(f: &mut fmt::Formatter<'_>, conditions: &[ConditionCheck]) -> fmt::Result {
    let parts: Vec<String> = conditions
        .iter()
        .map(|c| {
            let mark = if c.held { "held" } else { "failed" };
            match &c.fact {
                Some(fact) => format!("{} {mark} [{fact}]", c.condition),
                None => format!("{} {mark}", c.condition),
            }
        })
        .collect();
    if parts.is_empty() {
        f.write_str(" (no conditions)")
    } else {
        write!(f, ": {}", parts.join("; "))
    }
}

impl fmt::Display for TraceStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.scope)?;
        if let Some(rule) = &self.rule {
            write!(f, " {rule}")?;
        }
        match &self.event {
            TraceEvent::Overridden { by } => {
                write!(f, " overridden by the rule of the same id in {by}")
            }
            TraceEvent::Disabled { by } => write!(f, " disabled by {by}"),
            TraceEvent::Matched { conditions } => {
                f.write_str(" matched")?;
                checks(f, conditions)
            }
            TraceEvent::NotMatched { conditions } => {
                f.write_str(" did not match")?;
                checks(f, conditions)
            }
            TraceEvent::Decided { decision } => write!(f, " decides: {decision}"),
            TraceEvent::Skipped { decided_by } => {
                write!(f, " not tried: {decided_by} already decided")
            }
            TraceEvent::Conflict {
                winner,
                loser,
                note,
            } => write!(f, " conflict: {winner} wins over {loser}: {note}"),
            TraceEvent::Effect { what } => write!(f, " adds {what}"),
            TraceEvent::Resolution { note } => write!(f, " {note}"),
            TraceEvent::Deferred { reason } => write!(f, " deferred: {reason}"),
        }
    }
}
