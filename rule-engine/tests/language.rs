#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Parsing and validation: every finding has the right line, column and
//! wording, and says how to fix it.

use rule_engine::{Diagnostic, Error, Policy, Severity};

/// Ends `text` with an explicit `[default]` (every policy must have one)
/// unless it has one: most tests here are about something else.
fn with_default(text: &str) -> String {
    if text.contains("[default]") {
        text.to_owned()
    } else {
        format!("{text}\n[default]\nthen = {{ deliver = true }}\n")
    }
}

/// The diagnostics of an invalid policy.
fn errors(text: &str) -> Vec<Diagnostic> {
    match Policy::parse(&with_default(text), "p.toml") {
        Err(Error::InvalidPolicy { diagnostics, .. }) => diagnostics,
        Ok(_) => panic!("policy should be invalid"),
        Err(other) => panic!("unexpected error {other}"),
    }
}

/// The warnings of a valid policy.
fn warnings(text: &str) -> Vec<Diagnostic> {
    match Policy::parse(&with_default(text), "p.toml") {
        Ok((_, warnings)) => warnings,
        Err(e) => panic!(
            "policy should be valid: {e}: {:#?}",
            Policy::check(&with_default(text), "p.toml")
        ),
    }
}

/// Line, column and message of each finding.
fn positions(d: &[Diagnostic]) -> Vec<(usize, usize, &str)> {
    d.iter()
        .map(|d| (d.line, d.column, d.message.as_str()))
        .collect()
}

fn at(d: &Diagnostic) -> (Severity, usize, usize) {
    (d.severity, d.line, d.column)
}

#[test]
fn unknown_condition_key_is_an_error_at_the_key_with_a_suggestion() {
    let text = "[[rules]]\nid = \"R1\"\nwhen = { recipent = \"a@b.example\" }\nthen = { deliver = true }\n";
    let d = errors(text);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(at(&d[0]), (Severity::Error, 3, 10));
    assert_eq!(d[0].width, 8);
    assert_eq!(d[0].message, "unknown key `recipent` in conditions");
    assert_eq!(d[0].help.as_deref(), Some("did you mean `recipient`?"));
    assert_eq!(
        d[0].to_string(),
        "error: unknown key `recipent` in conditions\n --> p.toml:3:10\n  |\n3 | when = { recipent = \"a@b.example\" }\n  |          ^^^^^^^^\n  = help: did you mean `recipient`?"
    );
}

#[test]
fn unknown_keys_are_rejected_at_every_level() {
    let text = r#"colour = "blue"

[policy]
nmae = "x"

[[rules]]
id = "R1"
priority = 3
then = { deliver = true, sing = "smime" }

[domain."a.example"]
rulez = []

[group.g]
members = ["a@b.example"]
owner = "x"
"#;
    let d = errors(text);
    let found = positions(&d);
    assert_eq!(
        found,
        vec![
            (1, 1, "unknown key `colour` in the policy file"),
            (4, 1, "unknown key `nmae` in [policy]"),
            (8, 1, "unknown key `priority` in a rule"),
            (9, 26, "unknown key `sing` in actions"),
            (12, 1, "unknown key `rulez` in domain scope `a.example`"),
            (16, 1, "unknown key `owner` in group `g`"),
        ]
    );
    assert_eq!(d[1].help.as_deref(), Some("did you mean `name`?"));
    assert_eq!(d[3].help.as_deref(), Some("did you mean `sign`?"));
}

#[test]
fn toml_syntax_errors_have_positions() {
    let d = errors("[[rules]]\nid = \"R1\nthen = {}\n");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, Severity::Error);
    assert_eq!(d[0].line, 2);
    assert!(d[0].message.starts_with("invalid TOML"), "{}", d[0].message);
}

#[test]
fn wrong_types_and_values_say_what_was_expected() {
    let text = r#"[[rules]]
id = "R1"
when = { direction = "sideways", size_over = "12 parsecs", signed = "yes" }
then = { encrypt = "maybe", fallback = "carrier-pigeon" }
"#;
    let d = errors(text);
    let found = positions(&d);
    assert_eq!(
        found,
        vec![
            (
                3,
                22,
                "unknown direction `sideways`: expected `inbound` or `outbound`"
            ),
            (3, 46, "`size_over`: `12 parsecs` is not a size"),
            (3, 69, "`signed` must be true or false, found string"),
            (4, 20, "unknown `encrypt` mode `maybe`"),
            (4, 40, "unknown fallback `carrier-pigeon`"),
        ]
    );
    assert_eq!(
        d[3].help.as_deref(),
        Some("expected `required` or `if-possible`")
    );
}

#[test]
fn invalid_regex_is_an_error_and_an_impossible_one_a_warning() {
    let d = errors(
        "[[rules]]\nid = \"R1\"\nwhen = { sender_regex = \"(unclosed\" }\nthen = { deliver = true }\n",
    );
    assert_eq!(at(&d[0]), (Severity::Error, 3, 25));
    assert!(
        d[0].message.starts_with("invalid regex in `sender_regex`"),
        "{}",
        d[0].message
    );

    let w = warnings(
        "[[rules]]\nid = \"R1\"\nwhen = { header = { name = \"X-A\", regex = \"a\\\\bb\\\\b[^\\\\s\\\\S]\" } }\nthen = { archive = true }\n",
    );
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(at(&w[0]), (Severity::Warning, 3, 43));
    assert!(
        w[0].message.ends_with("can never match"),
        "{}",
        w[0].message
    );
}

#[test]
fn rules_need_an_id_a_then_and_one_decision() {
    let text = r#"[[rules]]
when = { direction = "outbound" }
then = { deliver = true }

[[rules]]
id = "R2"
when = { direction = "outbound" }

[[rules]]
id = "R3"
then = { deliver = true, block = "no" }

[[rules]]
id = "R4"
then = { methods = ["smime"] }

[[rules]]
id = "R4"
then = { archive = true }
"#;
    let d = errors(text);
    let found: Vec<(usize, &str)> = d.iter().map(|d| (d.line, d.message.as_str())).collect();
    assert_eq!(
        found,
        vec![
            (1, "rule without `id`"),
            (5, "rule `R2` has no `then`"),
            (
                11,
                "a rule makes one decision, but this one has `deliver` and `block`"
            ),
            (15, "`methods` without `encrypt`"),
        ]
    );
    // The second R4 is a duplicate only once the first parses: fix R4 and see.
    let d = errors(
        &text
            .replace(
                "then = { methods = [\"smime\"] }",
                "then = { deliver = true }",
            )
            .replace(
                "when = { direction = \"outbound\" }\n\n[[rules]]\nid = \"R3\"",
                "then = { deliver = true }\n\n[[rules]]\nid = \"R3\"",
            ),
    );
    let duplicate = d
        .iter()
        .find(|d| d.message.contains("duplicate"))
        .expect("duplicate found");
    assert_eq!(duplicate.line, 18);
    assert_eq!(duplicate.message, "duplicate rule id `R4` in this scope");
    assert_eq!(
        duplicate.help.as_deref(),
        Some("the first rule `R4` is on line 14; give each rule its own id")
    );
}

#[test]
fn bad_scope_names_are_errors() {
    let text = "[[domain.\"not a domain\".rules]]\nid = \"R1\"\nthen = { deliver = true }\n\n[[user.\"nobody\".rules]]\nid = \"R2\"\nthen = { deliver = true }\n";
    let d = errors(text);
    let found = positions(&d);
    assert_eq!(
        found,
        vec![
            (1, 10, "`not a domain` is not a domain or domain wildcard"),
            (5, 8, "`nobody` is not a mail address"),
        ]
    );
}

#[test]
fn shadowed_and_unreachable_rules_are_warnings() {
    let text = r#"[[rules]]
id = "confidential"
when = { subject_tag = "[vertraulich]" }
then = { encrypt = "required" }

[[rules]]
id = "confidential-to-partner"
when = { subject_tag = "[vertraulich]", recipient_domain = "partner.example" }
then = { encrypt = "required", fallback = "password-pdf" }

[[rules]]
id = "archive"
when = { subject_tag = "[vertraulich]", recipient_domain = "partner.example" }
then = { archive = true }

[[rules]]
id = "catch-all"
then = { deliver = true }

[[rules]]
id = "never"
when = { direction = "inbound" }
then = { quarantine = true }
"#;
    let w = warnings(text);
    let found: Vec<(Severity, usize, usize, &str)> = w
        .iter()
        .map(|d| (d.severity, d.line, d.column, d.message.as_str()))
        .collect();
    assert_eq!(
        found,
        vec![
            (
                Severity::Warning,
                7,
                6,
                "rule `confidential-to-partner` is shadowed by rule `confidential` (line 2): whenever its conditions hold, `confidential` holds too and decides first"
            ),
            (
                Severity::Warning,
                21,
                6,
                "rule `never` is unreachable: rule `catch-all` (line 17) has no conditions and decides first"
            ),
        ]
    );
    assert_eq!(
        w[0].help.as_deref(),
        Some("move `confidential-to-partner` above `confidential`, or remove it")
    );
}

#[test]
fn contradictory_direction_is_a_warning() {
    let w = warnings(
        "[[rules]]\nid = \"R1\"\nwhen = { direction = \"inbound\", all = [{ direction = \"outbound\" }] }\nthen = { archive = true }\n",
    );
    assert_eq!(w.len(), 1, "{w:#?}");
    assert_eq!(at(&w[0]), (Severity::Warning, 3, 1));
    assert_eq!(
        w[0].message,
        "rule `R1` can never match: it asks for both inbound and outbound"
    );
    // `any` is not a contradiction.
    let w = warnings(
        "[[rules]]\nid = \"R1\"\nwhen = { any = [{ direction = \"inbound\" }, { direction = \"outbound\" }] }\nthen = { archive = true }\n",
    );
    assert!(w.is_empty(), "{w:#?}");
}

#[test]
fn overriding_an_enforced_rule_is_an_error_and_disabling_nothing_a_warning() {
    let text = r#"[[rules]]
id = "size"
enforced = true
when = { size_over = "25MB" }
then = { block = "too large" }

[[domain."partner.example".rules]]
id = "size"
then = { deliver = true }
"#;
    let d = errors(text);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(at(&d[0]), (Severity::Error, 8, 6));
    assert_eq!(
        d[0].message,
        "rule `size` overrides the enforced rule `size` of the global scope (line 2)"
    );

    let w = warnings("[[user.\"a@b.example\".rules]]\nid = \"R9\"\ndisable = true\n");
    assert_eq!(w.len(), 1);
    assert_eq!(at(&w[0]), (Severity::Warning, 2, 6));
    assert_eq!(
        w[0].message,
        "rule `R9` disables nothing: no less specific scope has a rule `R9`"
    );
}

#[test]
fn check_returns_warnings_of_a_valid_policy_and_errors_of_an_invalid_one() {
    let ok = "[[rules]]\nid = \"a\"\nthen = { deliver = true }\n[[rules]]\nid = \"b\"\nthen = { block = \"x\" }\n";
    let all = Policy::check(&with_default(ok), "p.toml");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].severity, Severity::Warning);
    let bad = "[[rules]]\nid = 3\nthen = { deliver = true }\n";
    let all = Policy::check(&with_default(bad), "p.toml");
    assert_eq!(all.len(), 1);
    assert_eq!(at(&all[0]), (Severity::Error, 2, 6));
    assert_eq!(all[0].message, "`id` must be a string, found integer");
}

#[test]
fn load_reports_a_missing_file() {
    let err = Policy::load("/nonexistent/policy.toml").unwrap_err();
    assert!(matches!(err, Error::Read { .. }));
    assert!(
        err.to_string()
            .starts_with("/nonexistent/policy.toml: cannot read"),
        "{err}"
    );
}

#[test]
fn the_error_display_counts_errors() {
    let err = Policy::parse(&with_default("x = 1\ny = 2\n"), "p.toml").unwrap_err();
    assert_eq!(err.to_string(), "p.toml: invalid policy: 2 error(s)");
}

#[test]
fn a_scope_defined_twice_in_different_case_is_an_error() {
    let text = "[[domain.\"Partner.example\".rules]]\nid = \"a\"\nthen = { deliver = true }\n\n[[domain.\"partner.example\".rules]]\nid = \"b\"\nthen = { deliver = true }\n";
    let d = errors(text);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!(at(&d[0]), (Severity::Error, 5, 10));
    assert_eq!(
        d[0].message,
        "domain partner.example is defined twice (first on line 1)"
    );
}

#[test]
fn a_regex_too_large_to_build_is_an_error_at_its_position() {
    // Parsing builds regexes whose automaton could be large (nested counted
    // repetitions of Unicode classes), so the size limit is reported with a
    // position by `parse` as well as by `check`.
    let text = "[[rules]]\nid = \"R1\"\nwhen = { recipient_regex = '(\\w{100}){100}' }\nthen = { deliver = true }\n";
    for d in [errors(text), Policy::check(&with_default(text), "p.toml")] {
        assert_eq!(d.len(), 1, "{d:#?}");
        assert_eq!(at(&d[0]), (Severity::Error, 3, 28));
        assert!(
            d[0].message
                .starts_with("invalid regex in `recipient_regex`: "),
            "{}",
            d[0].message
        );
    }
}

#[test]
fn regexes_built_on_first_use_evaluate_like_eager_ones() {
    use rule_engine::{Direction, Envelope, Message, StaticFacts};
    let text = "[[rules]]\nid = \"ops\"\nwhen = { recipient_regex = '^OPS-[0-9]+@' }\nthen = { block = \"ops\" }\n\n[[rules]]\nid = \"ops-again\"\nwhen = { header = { name = \"X-Ticket\", regex = '^OPS-[0-9]+@' } }\nthen = { archive = true }\n";
    let (policy, _) = Policy::parse(&with_default(text), "p.toml").unwrap();
    let message = Message::parse(b"X-Ticket: ops-12@x\r\nSubject: x\r\n\r\nx\r\n");
    let envelope = Envelope::new(
        Direction::Outbound,
        "a@b.example",
        ["ops-12@x.example", "dev-1@x.example"],
    );
    let before = policy.evaluate(&envelope, &message, &StaticFacts::default());
    assert_eq!(before.recipients[0].decided_by.as_deref(), Some("ops"));
    assert_eq!(before.recipients[1].decided_by, None);
    // Header regexes are case-insensitive unless `case_sensitive = true`.
    assert!(
        before.recipients[1]
            .outcome
            .has(rule_engine::Action::Archive)
    );
    policy.prepare().unwrap();
    let after = policy.evaluate(&envelope, &message, &StaticFacts::default());
    assert_eq!(before, after);
}

#[test]
fn shadowing_is_found_through_a_rare_conjunct_and_names_the_earliest_rule() {
    // `a` is filed under its rare subject tag, `b` under the common
    // direction; `c` has the conjuncts of both and is shadowed by the
    // earlier, `a`. `b` has fewer conjuncts than `a`: not shadowed.
    let text = "[[rules]]\nid = \"a\"\nwhen = { direction = \"outbound\", subject_tag = \"[x]\" }\nthen = { block = \"a\" }\n\n[[rules]]\nid = \"b\"\nwhen = { direction = \"outbound\" }\nthen = { block = \"b\" }\n\n[[rules]]\nid = \"c\"\nwhen = { direction = \"outbound\", subject_tag = \"[x]\", sender = \"s@x.example\" }\nthen = { block = \"c\" }\n\n[[rules]]\nid = \"d\"\nwhen = { direction = \"inbound\", subject_tag = \"[x]\" }\nthen = { block = \"d\" }\n";
    let w = warnings(text);
    assert_eq!(w.len(), 1, "{w:#?}");
    assert!(
        w[0].message
            .starts_with("rule `c` is shadowed by rule `a` (line 2)"),
        "{}",
        w[0].message
    );
}

#[test]
fn anchored_address_regexes_agree_with_the_regex_on_every_address() {
    use rule_engine::{Direction, Envelope, Message, StaticFacts};
    // The prefix test must never reject what the regex accepts: case
    // folding, the Kelvin sign and long s (non-ASCII addresses skip it).
    let patterns = ["^SK-[0-9]+@", "^sk-[0-9]+@", "^Ops", "^a.b@", "^(?-i)sk"];
    let addresses = [
        "sk-1@x.example",
        "SK-1@x.example",
        "\u{212A}-1@x.example",
        "\u{17F}k-1@x.example",
        "ops@x.example",
        "axb@x.example",
        "s@x.example",
        "",
    ];
    for pattern in patterns {
        let text = format!(
            "[[rules]]\nid = \"r\"\nwhen = {{ recipient_regex = '{pattern}' }}\nthen = {{ block = \"r\" }}\n"
        );
        let (policy, _) = Policy::parse(&with_default(&text), "p.toml").unwrap();
        let regex = regex::RegexBuilder::new(pattern)
            .case_insensitive(true)
            .build()
            .unwrap();
        let message = Message::parse(b"Subject: x\r\n\r\nx\r\n");
        for address in addresses {
            let envelope = Envelope::new(Direction::Outbound, "a@b.example", [address]);
            let result = policy.evaluate(&envelope, &message, &StaticFacts::default());
            let lower = address.trim().to_ascii_lowercase();
            assert_eq!(
                result.recipients[0].decided_by.is_some(),
                regex.is_match(&lower),
                "{pattern} on {address}"
            );
        }
    }
}
