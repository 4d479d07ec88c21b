#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The shipped baseline policy: it loads without findings, and its policy
//! tests (one positive and one negative case per rule at least) pass.

use std::path::Path;

use rule_engine::Policy;
use rule_engine::policy_test;

fn dir() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/policies/baseline"
    ))
}

#[test]
fn baseline_policy_loads_without_warnings() {
    let (policy, warnings) = Policy::load(dir().with_extension("toml")).unwrap();
    assert!(warnings.is_empty(), "{warnings:#?}");
    assert_eq!(policy.name(), Some("baseline"));
}

#[test]
fn baseline_policy_tests_pass() {
    let report = policy_test::run_dir(dir()).unwrap();
    assert!(report.passed(), "\n{report}");
    // Every rule of the issue has at least a positive and a negative case.
    for rule in ["r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"] {
        let n = report
            .cases
            .iter()
            .filter(|c| c.name.starts_with(rule))
            .count();
        assert!(n >= 2, "{rule} has {n} cases");
    }
}

#[test]
fn a_wrong_expectation_is_reported_with_the_difference() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir().join("r6-geheim-encrypted.eml"),
        tmp.path().join("case.eml"),
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("case.json"),
        r#"{"direction": "outbound", "from": "alice@behoerde.example", "to": ["gus@geheim.example"],
            "facts": {"sender": {"smime": true}},
            "expect": {"gus@geheim.example": {"actions": ["sign", "encrypt", "deliver"], "decided_by": "R2"}}}"#,
    )
    .unwrap();
    let (policy, _) = Policy::load(dir().with_extension("toml")).unwrap();
    let report = policy_test::run_dir_with(&policy, tmp.path()).unwrap();
    assert!(!report.passed());
    let failures = &report.cases[0].failures;
    assert_eq!(
        failures,
        &vec![
            "gus@geheim.example: expected actions [deliver, encrypt, sign], got [block, notify-sender] (decided by R6)".to_owned(),
            "gus@geheim.example: expected decided_by Some(\"R2\"), got Some(\"R6\")".to_owned(),
        ]
    );
    assert!(report.to_string().contains("FAILED case"));
}

#[test]
fn a_malformed_case_file_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("x.eml"), "Subject: x\r\n\r\n").unwrap();
    std::fs::write(tmp.path().join("x.json"), r#"{"direction": "sideways"}"#).unwrap();
    let (policy, _) = Policy::load(dir().with_extension("toml")).unwrap();
    let err = policy_test::run_dir_with(&policy, tmp.path()).unwrap_err();
    assert!(
        matches!(err, rule_engine::Error::InvalidTestCase { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("x.json"), "{err}");
}

#[test]
fn decisions_detail_decides_every_baseline_case_like_full_detail() {
    use rule_engine::{Detail, Direction, Envelope, Message, StaticFacts};
    let (policy, _) = Policy::load(dir().with_extension("toml")).unwrap();
    let mut cases = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let case: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let direction = match case["direction"].as_str().unwrap() {
            "inbound" => Direction::Inbound,
            _ => Direction::Outbound,
        };
        let to: Vec<String> = case["to"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect();
        let envelope = Envelope::new(direction, case["from"].as_str().unwrap(), to);
        let facts = StaticFacts::from_json(&case["facts"].to_string()).unwrap_or_default();
        let raw = std::fs::read(path.with_extension("eml")).unwrap();
        let mut message = Message::parse(&raw);
        if let Some(size) = case["message_size"].as_u64() {
            message = message.with_size(size);
        }
        let full = policy.evaluate_with(&envelope, &message, &facts, Detail::Full);
        let brief = policy.evaluate_with(&envelope, &message, &facts, Detail::Decisions);
        assert_eq!(full.recipients.len(), brief.recipients.len());
        for (f, b) in full.recipients.iter().zip(&brief.recipients) {
            assert_eq!(f.outcome, b.outcome, "{}", path.display());
            assert_eq!(f.decided_by, b.decided_by, "{}", path.display());
        }
        cases += 1;
    }
    assert!(cases >= 18);
}
