#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Fail closed at configuration: a policy states what happens to mail that
//! no rule decides (`[default]`, last in the file) and has rules; an empty,
//! incomplete or truncated policy is refused with a position, never loaded
//! as "deliver everything".

use rule_engine::{Action, Diagnostic, Direction, Envelope, Error, Message, Policy, StaticFacts};

fn errors(text: &str) -> Vec<Diagnostic> {
    match Policy::parse(text, "p.toml") {
        Err(Error::InvalidPolicy { diagnostics, .. }) => {
            assert_eq!(diagnostics, Policy::check(text, "p.toml"));
            diagnostics
                .into_iter()
                .filter(Diagnostic::is_error)
                .collect()
        }
        Ok(_) => panic!("policy should be refused:\n{text}"),
        Err(other) => panic!("unexpected error {other}"),
    }
}

fn baseline() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/policies/baseline.toml"
    );
    std::fs::read_to_string(path).unwrap()
}

const RULE: &str =
    "[[rules]]\nid = \"r\"\nwhen = { subject_tag = \"[v]\" }\nthen = { block = \"v\" }\n";

#[test]
fn an_empty_policy_is_refused_with_positions() {
    for text in ["", "\n", "# nothing\n", "[policy]\nname = \"x\"\n"] {
        let d = errors(text);
        let messages: Vec<&str> = d.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(d.len(), 2, "{d:#?}");
        assert!(
            messages.contains(&"the policy has no rules"),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("the policy does not end with a `[default]`")),
            "{messages:?}"
        );
        assert!(d.iter().all(|d| d.line >= 1 && d.column >= 1));
    }
    // Only a default, no rules: still refused.
    let d = errors("[default]\nthen = { deliver = true }\n");
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!((d[0].line, d[0].column), (1, 1));
    assert_eq!(d[0].message, "the policy has no rules");
}

#[test]
fn a_missing_default_is_an_error_at_the_end_of_the_file() {
    let d = errors(RULE);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!((d[0].line, d[0].column), (5, 1));
    assert!(d[0].to_string().contains("[default]"), "{}", d[0]);
    assert!(
        d[0].help
            .as_deref()
            .unwrap()
            .contains("then = { deliver = true }")
    );
}

#[test]
fn every_truncation_of_the_baseline_policy_is_refused() {
    let text = baseline();
    let (policy, warnings) = Policy::parse(&text, "baseline.toml").unwrap();
    assert!(warnings.is_empty());
    assert_eq!(policy.default_decision(), "deliver");
    // The file is complete once the closing brace of its `[default]` is
    // there; every shorter prefix, at any byte, is refused.
    let complete = text.rfind('}').unwrap() + 1;
    let mut cut = 0;
    while cut < complete {
        if text.is_char_boundary(cut) {
            let prefix = &text[..cut];
            let d = errors(prefix);
            let lines = prefix.split('\n').count();
            assert!(d.iter().all(|d| d.line <= lines), "cut at {cut}: {d:#?}");
        }
        cut += 1;
    }
}

#[test]
fn the_default_must_be_the_last_table() {
    let text = format!("[default]\nthen = {{ deliver = true }}\n\n{RULE}");
    let d = errors(&text);
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!((d[0].line, d[0].column), (1, 2));
    assert_eq!(
        d[0].message,
        "`[default]` must be the last table of the policy, but line 4 comes after it"
    );
    // A scope table after it counts too, wherever TOML puts it.
    let text = format!(
        "{RULE}\n[default]\nthen = {{ deliver = true }}\n\n[[domain.\"x.example\".rules]]\nid = \"d\"\nthen = {{ block = \"x\" }}\n"
    );
    assert_eq!(errors(&text).len(), 1);
}

#[test]
fn the_default_decides_once_and_does_nothing_else() {
    let cases = [
        ("[default]\n", "`[default]` needs `then`"),
        (
            "[default]\nthen = { archive = true }\n",
            "the default must decide what happens to the mail",
        ),
        (
            "[default]\nthen = { deliver = true, sign = \"smime\" }\n",
            "the default only decides; effects (`sign`, header edits, `notify_sender`, ...) belong in rules",
        ),
        ("[default]\nthen = { deliver = true, block = \"x\" }\n", ""),
        (
            "[default]\nthen = { deliver = true }\nwhen = { subject_tag = \"x\" }\n",
            "unknown key `when` in [default]",
        ),
    ];
    for (tail, message) in cases {
        let text = format!("{RULE}\n{tail}");
        let d = errors(&text);
        assert!(!d.is_empty());
        if !message.is_empty() {
            assert!(d.iter().any(|d| d.message == message), "{tail}: {d:#?}");
        }
        assert!(d.iter().all(|d| d.line >= 6), "{tail}: {d:#?}");
    }
    // A top-level key comes before every table in TOML, so it could never
    // be last: the default is a table.
    let d = errors(&format!("default = \"deliver\"\n{RULE}"));
    assert!(
        d.iter()
            .any(|d| d.message == "`default` must be a table, found string"),
        "{d:#?}"
    );
}

#[test]
fn mail_no_rule_decides_gets_the_default_and_the_trace_says_so() {
    let message = Message::parse(b"From: a@behoerde.example\r\nSubject: hallo\r\n\r\nText\r\n");
    let envelope = Envelope::new(
        Direction::Outbound,
        "a@behoerde.example",
        ["erin@geheim.example"],
    );
    for (then, action) in [
        ("{ deliver = true }", Action::Deliver),
        ("{ block = \"no rule decided\" }", Action::Block),
        ("{ quarantine = true }", Action::Quarantine),
        ("{ require_tls = \"bsi-tr-03108\" }", Action::RequireTls),
    ] {
        let text = format!("{RULE}\n[default]\nthen = {then}\n");
        let (policy, _) = Policy::parse(&text, "p.toml").unwrap();
        let result = policy.evaluate(&envelope, &message, &StaticFacts::default());
        let erin = &result.recipients[0];
        assert_eq!(erin.decided_by, None);
        assert!(erin.outcome.has(action), "{then}: {:?}", erin.outcome);
        if action != Action::Deliver && action != Action::RequireTls {
            assert!(!erin.outcome.has(Action::Deliver), "{then}");
        }
        let shown = erin.to_string();
        assert!(shown.contains("the policy's [default] decides"), "{shown}");
    }
    // An encrypt default without key or fallback blocks (fail closed).
    let text = format!("{RULE}\n[default]\nthen = {{ encrypt = \"required\" }}\n");
    let (policy, _) = Policy::parse(&text, "p.toml").unwrap();
    let result = policy.evaluate(&envelope, &message, &StaticFacts::default());
    assert!(result.recipients[0].outcome.has(Action::Block));
}

#[test]
fn a_reload_of_a_truncated_policy_keeps_the_whole_one_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    let text = baseline();
    std::fs::write(&path, &text).unwrap();
    let (live, _) = rule_engine::LivePolicy::load(&path).unwrap();
    let rules = live.current().rule_count();
    // A deployment cut short (a half-copied file, a full disk).
    let before_default = text.rfind("\n[default]").unwrap();
    for cut in [0, text.len() / 2, before_default] {
        std::fs::write(&path, &text[..cut]).unwrap();
        assert!(live.reload().is_err(), "cut at {cut}");
        assert_eq!(live.current().rule_count(), rules);
        assert_eq!(live.current().default_decision(), "deliver");
    }
}
