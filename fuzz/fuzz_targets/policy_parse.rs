//! Policy files and mail from anywhere: parsing never panics, every finding
//! points inside the text, a policy that parses evaluates one decision per
//! recipient with actions from the `explain` vocabulary, and the shipped
//! baseline policy evaluates the input as a mail without panicking.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rule_engine::{Direction, Envelope, Message, Policy, StaticFacts};

const BASELINE: &str = include_str!("../../examples/policies/baseline.toml");

fn baseline() -> Option<&'static Policy> {
    static POLICY: OnceLock<Option<Policy>> = OnceLock::new();
    POLICY
        .get_or_init(|| {
            Policy::parse(BASELINE, "baseline.toml")
                .ok()
                .map(|(p, _)| p)
        })
        .as_ref()
}

fn check_evaluation(policy: &Policy, message: &Message, direction: Direction) {
    let recipients = [
        "bob@partner.example",
        "gus@geheim.example",
        "Eve@Behoerde.Example",
    ];
    let envelope = Envelope::new(direction, "alice@behoerde.example", recipients);
    let facts = StaticFacts::default();
    let evaluation = policy.evaluate(&envelope, message, &facts);
    assert_eq!(evaluation.recipients.len(), recipients.len());
    for r in &evaluation.recipients {
        assert!(!r.trace.is_empty() || policy.rule_count() == 0);
        for step in &r.trace {
            let _ = step.to_string();
        }
    }
    let grouped: usize = evaluation.groups().iter().map(|g| g.recipients.len()).sum();
    assert_eq!(grouped, recipients.len());
    let _ = evaluation.to_json().to_string();
}

fuzz_target!(|data: &[u8]| {
    // The input as a policy file.
    if let Ok(text) = std::str::from_utf8(data) {
        let lines = text.split('\n').count();
        let diagnostics = match Policy::parse(text, "fuzz.toml") {
            Ok((policy, warnings)) => {
                assert!(warnings.iter().all(|d| !d.is_error()));
                let sample = Message::parse(b"Subject: [vertraulich] x\r\n\r\nbody\r\n");
                check_evaluation(&policy, &sample, Direction::Outbound);
                check_evaluation(&policy, &sample, Direction::Inbound);
                warnings
            }
            Err(rule_engine::Error::InvalidPolicy { diagnostics, .. }) => {
                assert!(diagnostics.iter().any(|d| d.is_error()));
                diagnostics
            }
            Err(other) => panic!("parsing text gave {other}"),
        };
        for d in &diagnostics {
            assert!(
                d.line >= 1 && d.line <= lines,
                "{d:?} outside {lines} lines"
            );
            assert!(d.column >= 1);
            let _ = d.to_string();
        }
        assert_eq!(Policy::check(text, "fuzz.toml"), diagnostics);
    }
    // The input as a mail, under the shipped policy.
    if let Some(policy) = baseline() {
        let message = Message::parse(data);
        // Read from a stream with binary bodies dropped, the summary is the
        // same (attachment sizes from counted base64 characters).
        match Message::read_from(data, 1 << 20) {
            Ok(read) => assert_eq!(read, message),
            Err(e) => panic!("reading from a slice failed: {e}"),
        }
        check_evaluation(policy, &message, Direction::Outbound);
        check_evaluation(policy, &message, Direction::Inbound);
    }
});
