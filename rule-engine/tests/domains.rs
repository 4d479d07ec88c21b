//! Domains in a policy name organisations (issue 16, red-team finding: mail
//! to `sub.geheim.example` left in clear past a rule for `geheim.example`),
//! and "who a mail comes from" is the envelope sender and the header From
//! (finding: R7 read only the envelope). Properties over generated domains
//! and spellings, through `Policy::evaluate`:
//!
//! - `d` matches `d` and every subdomain, `=d` only `d`, `*.d` only the
//!   subdomains, always by whole labels (`xd`, `d.x` never), in any case,
//!   with a trailing dot, as U- or A-labels;
//! - `header_from_domain` and `sender_domain` together catch every spelling
//!   of the bank in either place.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use rule_engine::{Action, Direction, Envelope, Message, Policy, StaticFacts};

/// Writes `text` with the case of each character flipped where `upper`
/// says so, and a trailing dot if `dot`.
fn spell(text: &str, upper: &[bool], dot: bool) -> String {
    let mut out: String = text
        .chars()
        .zip(upper.iter().cycle())
        .map(|(c, up)| {
            if *up {
                c.to_uppercase().collect()
            } else {
                c.to_string()
            }
        })
        .collect();
    if dot {
        out.push('.');
    }
    out
}

/// Where a generated recipient domain lies relative to the policy's.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Relation {
    /// The domain itself.
    Same,
    /// One or more labels below it.
    Below,
    /// A label that ends with the domain's first label (`xgeheim.example`).
    LookAlike,
    /// The domain followed by more labels (`geheim.example.evil.example`).
    Above,
}

fn relation() -> impl Strategy<Value = Relation> {
    prop_oneof![
        Just(Relation::Same),
        Just(Relation::Below),
        Just(Relation::LookAlike),
        Just(Relation::Above),
    ]
}

fn policy_for(pattern: &str) -> Policy {
    let text = format!(
        "[policy]\ninternal_domains = [\"behoerde.example\"]\n\n\
         [[rules]]\nid = \"condition\"\nwhen = {{ recipient_domain = \"{pattern}\" }}\n\
         then = {{ add_header = {{ name = \"X-Matched\", value = \"condition\" }} }}\n\n\
         [[domain.\"{pattern}\".rules]]\nid = \"scope\"\n\
         then = {{ add_header = {{ name = \"X-Scope\", value = \"scope\" }} }}\n\n\
         [default]\nthen = {{ deliver = true }}\n"
    );
    Policy::parse(&text, "domains.toml").unwrap().0
}

const PLAIN: &[u8] = b"From: a@behoerde.example\r\nSubject: x\r\n\r\nx\r\n";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn domains_match_by_whole_labels_in_every_spelling(
        base in "[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,4})?\\.(example|test|de)",
        idn in any::<bool>(),
        labels in proptest::collection::vec("[a-z0-9]{1,5}", 1..3),
        prefix in "[a-z0-9]{1,4}",
        where_ in relation(),
        reach in 0..3usize,
        upper in proptest::collection::vec(any::<bool>(), 1..30),
        dot in any::<bool>(),
    ) {
        // Sometimes an internationalised organisation, named in the policy
        // by its U-label and mailed at its A-label (or the other way).
        let (policy_base, mail_base) = if idn {
            (format!("bü{base}"), mail_message::canonical_domain(&format!("bü{base}")).unwrap())
        } else {
            (base.clone(), base.clone())
        };
        let (policy_base, mail_base) = if upper[0] {
            (mail_base, policy_base)
        } else {
            (policy_base, mail_base)
        };
        let domain = match where_ {
            Relation::Same => mail_base.clone(),
            Relation::Below => format!("{}.{mail_base}", labels.join(".")),
            Relation::LookAlike => format!("{prefix}{mail_base}"),
            Relation::Above => format!("{mail_base}.{}", labels.join(".")),
        };
        let pattern = match reach {
            0 => policy_base.clone(),
            1 => format!("={policy_base}"),
            _ => format!("*.{policy_base}"),
        };
        let expected = matches!(
            (reach, where_),
            (0, Relation::Same | Relation::Below) | (1, Relation::Same) | (2, Relation::Below)
        );
        let policy = policy_for(&pattern);
        let recipient = format!("erin@{}", spell(&domain, &upper, dot));
        let envelope = Envelope::new(Direction::Outbound, "a@behoerde.example", [recipient.as_str()]);
        let result = policy.evaluate(&envelope, &Message::parse(PLAIN), &StaticFacts::default());
        let decision = &result.recipients[0];
        // The scope and the condition agree, and both follow the pattern.
        for header in ["X-Scope", "X-Matched"] {
            prop_assert_eq!(
                decision.outcome.header_edits.iter().any(|e| format!("{e:?}").contains(header)),
                expected,
                "{} {} vs {}", header, pattern, recipient
            );
        }
        // And `Policy::is_internal_domain` reads a domain the same way.
        let internal = Policy::parse(
            &format!("[policy]\ninternal_domains = [\"{pattern}\"]\n\n[[rules]]\nid = \"r\"\nthen = {{ archive = true }}\n\n[default]\nthen = {{ deliver = true }}\n"),
            "internal.toml",
        ).unwrap().0;
        prop_assert_eq!(internal.is_internal_domain(&spell(&domain, &upper, dot)), expected);
    }

    #[test]
    fn the_bank_named_in_the_envelope_or_the_header_from_is_quarantined(
        envelope_bank in any::<bool>(),
        header_bank in any::<bool>(),
        sub in proptest::option::of("[a-z]{1,6}"),
        display in proptest::option::of("[A-Za-z ]{0,12}"),
        upper in proptest::collection::vec(any::<bool>(), 1..30),
        dot in any::<bool>(),
        route in any::<bool>(),
        comment in any::<bool>(),
    ) {
        let policy = Policy::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/policies/baseline.toml")).unwrap().0;
        let bank = match &sub {
            Some(label) => format!("{label}.bank.example"),
            None => "bank.example".to_owned(),
        };
        let bank_address = format!("service@{}", spell(&bank, &upper, dot));
        let envelope_sender = if envelope_bank { bank_address.clone() } else { "bounce@news.example".to_owned() };
        let mut from = if header_bank { bank_address.clone() } else { "info@laden.example".to_owned() };
        if route {
            from = format!("@relay.example:{from}");
        }
        from = match &display {
            Some(name) => format!("\"{name}\" <{from}>"),
            None if route => format!("<{from}>"),
            None => from,
        };
        if comment {
            from.push_str(" (Kundendienst)");
        }
        let raw = format!("From: {from}\r\nTo: alice@behoerde.example\r\nSubject: Konto\r\n\r\nText\r\n");
        let envelope = Envelope::new(Direction::Inbound, envelope_sender.as_str(), ["alice@behoerde.example"]);
        let result = policy.evaluate(&envelope, &Message::parse(raw.as_bytes()), &StaticFacts::default());
        let alice = &result.recipients[0];
        let from_bank = envelope_bank || header_bank;
        prop_assert_eq!(alice.outcome.has(Action::Quarantine), from_bank, "{} / {}", envelope_sender, from);
        prop_assert_eq!(alice.decided_by.as_deref() == Some("R7"), from_bank, "{} / {}", envelope_sender, from);
    }
}

#[test]
fn header_from_conditions_round_the_language() {
    let (policy, warnings) = Policy::parse(
        r#"
[policy]
internal_domains = ["behoerde.example"]

[[rules]]
id = "forged-internal-author"
when = { direction = "inbound", header_from_internal = true }
then = { quarantine = "an inbound mail whose author claims to be one of ours" }

[[rules]]
id = "ceo"
when = { header_from = "Chef@Behoerde.Example.", header_from_regex = "^chef@" }
then = { archive = true }

[default]
then = { deliver = true }
"#,
        "from.toml",
    )
    .unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let evaluate = |direction, from: &str| {
        let raw = format!("From: {from}\r\nSubject: x\r\n\r\nx\r\n");
        policy
            .evaluate(
                &Envelope::new(direction, "x@outside.example", ["a@behoerde.example"]),
                &Message::parse(raw.as_bytes()),
                &StaticFacts::default(),
            )
            .recipients
            .remove(0)
    };
    let forged = evaluate(Direction::Inbound, "Chef <CHEF@amt.behoerde.example.>");
    assert_eq!(forged.decided_by.as_deref(), Some("forged-internal-author"));
    // Every mailbox must be internal for the From to be.
    let mixed = evaluate(
        Direction::Inbound,
        "chef@behoerde.example, eve@evil.example",
    );
    assert!(mixed.outcome.has(Action::Deliver));
    // No From at all names no author, internal or not.
    let none = evaluate(Direction::Inbound, "");
    assert!(none.outcome.has(Action::Deliver));
    let archived = evaluate(Direction::Outbound, "<chef@behoerde.example>");
    assert!(archived.outcome.has(Action::Archive));
    // Canonical TOML keeps the conditions.
    let text = policy.to_toml().unwrap();
    assert!(text.contains("header_from_internal = true"), "{text}");
    assert!(text.contains("header_from_regex = "), "{text}");
    assert!(text.contains("\"chef@behoerde.example\""), "{text}");
    assert_eq!(Policy::parse(&text, "again.toml").unwrap().0, policy);
}

#[test]
fn a_list_written_for_exact_matching_is_warned_about() {
    let (_, warnings) = Policy::parse(
        "[policy]\ninternal_domains = [\"behoerde.example\", \"*.behoerde.example\", \"=land.example\"]\n\n\
         [[rules]]\nid = \"r\"\nwhen = { recipient_domain = [\"*.a.example\", \"b.a.example\", \"evila.example\"] }\n\
         then = { archive = true }\n\n[default]\nthen = { deliver = true }\n",
        "lists.toml",
    )
    .unwrap();
    let texts: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    assert_eq!(texts.len(), 2, "{texts:#?}");
    assert!(
        texts[0].contains("`*.behoerde.example` is already covered by `behoerde.example`")
            && texts[0].contains("lists.toml:2:")
            && texts[0].contains("`=behoerde.example`"),
        "{}",
        texts[0]
    );
    assert!(
        texts[1].contains("`b.a.example` is already covered by `*.a.example`"),
        "{}",
        texts[1]
    );
}
