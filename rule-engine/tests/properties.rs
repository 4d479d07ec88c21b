#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Property tests of scope resolution and conflict handling: generated
//! policies whose expected outcome is computed independently of the engine,
//! and arbitrary policy text that must never panic and whose findings always
//! point inside the text.

use proptest::prelude::*;
use rule_engine::{
    Action, Direction, Envelope, Evaluation, Message, Policy, StaticFacts, TraceEvent,
};

const RECIPIENT: &str = "ann@mail.partner.example";

/// A terminal decision, in increasing order of protection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Deliver,
    RequireTls,
    EncryptIfPossible,
    EncryptPasswordPdf,
    EncryptOrBlock,
    Quarantine,
    Block,
}

impl Kind {
    fn then(self, tag: &str) -> String {
        match self {
            Self::Deliver => "{ deliver = true }".to_owned(),
            Self::RequireTls => format!("{{ require_tls = \"profile-{tag}\" }}"),
            Self::EncryptIfPossible => "{ encrypt = \"if-possible\" }".to_owned(),
            Self::EncryptPasswordPdf => {
                "{ encrypt = \"required\", fallback = \"password-pdf\" }".to_owned()
            }
            Self::EncryptOrBlock => "{ encrypt = \"required\", fallback = \"block\" }".to_owned(),
            Self::Quarantine => format!("{{ quarantine = \"q-{tag}\" }}"),
            Self::Block => format!("{{ block = \"b-{tag}\" }}"),
        }
    }

    /// What the recipient gets with no certificate, no key and no TLS.
    fn expected_action(self) -> Action {
        match self {
            Self::Deliver | Self::EncryptIfPossible => Action::Deliver,
            Self::RequireTls => Action::RequireTls,
            Self::EncryptPasswordPdf => Action::FallbackPasswordPdf,
            Self::EncryptOrBlock | Self::Block => Action::Block,
            Self::Quarantine => Action::Quarantine,
        }
    }
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Deliver),
        Just(Kind::RequireTls),
        Just(Kind::EncryptIfPossible),
        Just(Kind::EncryptPasswordPdf),
        Just(Kind::EncryptOrBlock),
        Just(Kind::Quarantine),
        Just(Kind::Block),
    ]
}

fn evaluate(policy: &Policy, headers: &str) -> Evaluation {
    let raw = format!("From: a@behoerde.example\r\nSubject: s\r\n{headers}\r\nbody\r\n");
    let message = Message::parse(raw.as_bytes());
    let envelope = Envelope::new(Direction::Outbound, "a@behoerde.example", [RECIPIENT]);
    let full = policy.evaluate(&envelope, &message, &StaticFacts::default());
    // The gateway's cheaper trace detail decides exactly the same.
    let brief = policy.evaluate_with(
        &envelope,
        &message,
        &StaticFacts::default(),
        rule_engine::Detail::Decisions,
    );
    for (f, b) in full.recipients.iter().zip(&brief.recipients) {
        assert_eq!(f.outcome, b.outcome);
        assert_eq!(f.decided_by, b.decided_by);
    }
    full
}

/// Ends `text` with an explicit `[default]` (every policy must have one)
/// unless it has one: most tests here are about something else.
fn with_default(text: &str) -> String {
    if text.contains("[default]") {
        text.to_owned()
    } else {
        format!("{text}\n[default]\nthen = {{ deliver = true }}\n")
    }
}

fn parse(text: &str) -> Policy {
    match Policy::parse(&with_default(text), "generated.toml") {
        Ok((policy, _warnings)) => policy,
        Err(rule_engine::Error::InvalidPolicy { diagnostics, .. }) => {
            let shown: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
            panic!("generated policy rejected:\n{text}\n{}", shown.join("\n"))
        }
        Err(other) => panic!("{other}"),
    }
}

/// One generated global rule: terminal or an archive effect, guarded by a
/// header that the message may or may not carry.
#[derive(Debug, Clone)]
struct GenRule {
    terminal: Option<Kind>,
    matches: bool,
}

fn gen_rule() -> impl Strategy<Value = GenRule> {
    (proptest::option::weighted(0.7, kind()), any::<bool>())
        .prop_map(|(terminal, matches)| GenRule { terminal, matches })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// In one scope the first matching terminal rule decides, later terminal
    /// rules are not tried, and every matching non-terminal rule adds its
    /// effect wherever it stands.
    #[test]
    fn first_matching_terminal_rule_decides_and_effects_accumulate(
        rules in proptest::collection::vec(gen_rule(), 1..10)
    ) {
        let mut text = String::new();
        let mut headers = String::new();
        for (i, r) in rules.iter().enumerate() {
            let then = match r.terminal {
                Some(k) => k.then(&i.to_string()),
                None => "{ archive = true }".to_owned(),
            };
            text.push_str(&format!(
                "[[rules]]\nid = \"r{i}\"\nwhen = {{ header = {{ name = \"X-T{i}\", exists = true }} }}\nthen = {then}\n\n"
            ));
            if r.matches {
                headers.push_str(&format!("X-T{i}: yes\r\n"));
            }
        }
        let policy = parse(&text);
        let result = evaluate(&policy, &headers);
        let ann = result.recipient(RECIPIENT).unwrap();

        let first = rules.iter().position(|r| r.matches && r.terminal.is_some());
        prop_assert_eq!(ann.decided_by.clone(), first.map(|i| format!("r{i}")));
        let expected = first.and_then(|i| rules[i].terminal).map_or(Action::Deliver, Kind::expected_action);
        prop_assert!(ann.outcome.has(expected), "expected {:?} in {:?}", expected, ann.outcome.actions);

        let archived = rules.iter().any(|r| r.matches && r.terminal.is_none());
        prop_assert_eq!(ann.outcome.has(Action::Archive), archived);

        // Terminal rules after the decision are skipped, never evaluated.
        if let Some(first) = first {
            for (i, r) in rules.iter().enumerate().skip(first + 1) {
                if r.terminal.is_some() {
                    let id = format!("r{i}");
                    let step = ann.trace.iter().find(|s| s.rule.as_deref() == Some(id.as_str())).unwrap();
                    let skipped = matches!(&step.event, TraceEvent::Skipped { decided_by } if *decided_by == format!("r{first}"));
                    prop_assert!(skipped, "{}", step);
                }
            }
        }
    }

    /// Two groups of equal standing that both apply and both decide: the
    /// more protective decision wins whichever group comes first in the
    /// file, and when they differ the trace records the conflict with winner
    /// and loser.
    #[test]
    fn equal_standing_conflicts_resolve_to_the_more_protective_decision(
        a in kind(), b in kind(), swap in any::<bool>()
    ) {
        let group = |name: &str, k: Kind| format!(
            "[group.{name}]\nmembers = [\"{RECIPIENT}\"]\n\n[[group.{name}.rules]]\nid = \"{name}-rule\"\nthen = {}\n\n",
            k.then(name)
        );
        let (first, second) = if swap { (("two", b), ("one", a)) } else { (("one", a), ("two", b)) };
        let text = format!("{}{}", group(first.0, first.1), group(second.0, second.1));
        let policy = parse(&text);
        let result = evaluate(&policy, "");
        let ann = result.recipient(RECIPIENT).unwrap();

        let winner = if second.1 > first.1 { second } else { first };
        prop_assert_eq!(ann.decided_by.clone(), Some(format!("{}-rule", winner.0)));
        prop_assert!(ann.outcome.has(winner.1.expected_action()));
        if a != b {
            let conflict = ann.trace.iter().find_map(|s| match &s.event {
                TraceEvent::Conflict { winner, loser, note } => {
                    Some((winner.clone(), loser.clone(), note.clone()))
                }
                _ => None,
            });
            let (w, l, note) = conflict.expect("a conflict in the trace");
            prop_assert_eq!(w, format!("{}-rule", winner.0));
            let loser = if winner.0 == first.0 { second.0 } else { first.0 };
            prop_assert_eq!(l, format!("{loser}-rule"));
            prop_assert!(note.contains("protective"), "{}", note);
        }
    }

    /// A rule id defined in several scopes: the most specific scope that
    /// applies to the recipient wins (user, group, `=` exact domain, the
    /// recipient's domain with its subdomains, wildcard domain, a parent
    /// domain with its subdomains, global), and every less specific
    /// definition is marked as overridden in the trace.
    #[test]
    fn the_most_specific_scope_defining_a_rule_wins(
        defined in proptest::collection::vec(any::<bool>(), 7),
        unrelated_user in any::<bool>(),
    ) {
        // Least specific first.
        let scopes = [
            ("global", "[[rules]]".to_owned()),
            ("parent", "[[domain.\"partner.example\".rules]]".to_owned()),
            ("wildcard", "[[domain.\"*.partner.example\".rules]]".to_owned()),
            ("domain", "[[domain.\"mail.partner.example\".rules]]".to_owned()),
            ("exact", "[[domain.\"=mail.partner.example\".rules]]".to_owned()),
            ("group", "[group.team]\nmembers = [\"ann@mail.partner.example\"]\n\n[[group.team.rules]]".to_owned()),
            ("user", format!("[[user.\"{RECIPIENT}\".rules]]")),
        ];
        let mut text = String::new();
        for (on, (name, header)) in defined.iter().zip(&scopes) {
            if *on {
                text.push_str(&format!("{header}\nid = \"X\"\nthen = {{ block = \"{name}\" }}\n\n"));
            }
        }
        if unrelated_user {
            // Applies to someone else: must change nothing for ann.
            text.push_str("[[user.\"bob@partner.example\".rules]]\nid = \"X\"\nthen = { deliver = true }\n\n");
        }
        if text.is_empty() {
            // No rule at all: refused, however explicit the default.
            prop_assert!(Policy::parse(&with_default(&text), "generated.toml").is_err());
            return Ok(());
        }
        let policy = parse(&text);
        let result = evaluate(&policy, "");
        let ann = result.recipient(RECIPIENT).unwrap();

        let winner = defined.iter().rposition(|on| *on);
        match winner {
            None => {
                prop_assert_eq!(ann.decided_by.clone(), None);
                prop_assert!(ann.outcome.has(Action::Deliver));
            }
            Some(w) => {
                prop_assert_eq!(ann.decided_by.as_deref(), Some("X"));
                prop_assert_eq!(ann.outcome.reason.as_deref(), Some(scopes[w].0));
                let overridden = ann.trace.iter().filter(|s| matches!(s.event, TraceEvent::Overridden { .. })).count();
                prop_assert_eq!(overridden, defined.iter().filter(|on| **on).count() - 1);
            }
        }
    }

    /// Arbitrary text made of TOML-ish pieces never panics the parser; every
    /// finding has a position inside the text; `check` and `parse` agree.
    #[test]
    fn arbitrary_policy_text_never_panics_and_positions_stay_inside(
        pieces in proptest::collection::vec(prop_oneof![
            Just("[[rules]]\n"), Just("id = \"a\"\n"), Just("id = \"a\"\n"), Just("then = { block = \"x\" }\n"),
            Just("when = { subject_tag = \"[v]\" }\n"), Just("when = { body = { keywords = [\"k\"], threshold = 0 } }\n"),
            Just("when = { header = { name = \"X\", regex = \"(\" } }\n"), Just("enforced = true\n"),
            Just("disable = true\n"), Just("[[domain.\"*.x.example\".rules]]\n"), Just("[group.g]\n"),
            Just("unknown = 1\n"), Just("= \n"), Just("\"\n"), Just("[policy]\nname = 3\n"), Just("ü\t"),
            Just("then = { encrypt = \"required\", fallback = \"nope\" }\n"), Just("when = { size_over = \"12XB\" }\n"),
        ], 0..16)
    ) {
        let text: String = pieces.concat();
        let lines = text.split('\n').count();
        let diagnostics = Policy::check(&text, "p.toml");
        for d in &diagnostics {
            prop_assert!(d.line >= 1 && d.line <= lines, "{:?} outside {} lines", d, lines);
            prop_assert!(d.column >= 1);
            prop_assert!(!d.to_string().is_empty());
        }
        match Policy::parse(&text, "p.toml") {
            Ok((_, warnings)) => prop_assert_eq!(warnings, diagnostics),
            Err(rule_engine::Error::InvalidPolicy { diagnostics: all, .. }) => prop_assert_eq!(all, diagnostics),
            Err(other) => prop_assert!(false, "{}", other),
        }
    }
}
