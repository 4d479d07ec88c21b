#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Atomic reload: evaluations running on other threads always see one whole
//! policy, old or new, never a failure; a broken file never replaces a
//! working policy.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rule_engine::{Action, Direction, Envelope, LivePolicy, Message, StaticFacts};

/// Version `v`: two rules that both name the version, so an evaluation that
/// mixed two versions would show two different names.
fn version(v: usize) -> String {
    format!(
        "[[rules]]\nid = \"tag-v{v}\"\nthen = {{ add_header = {{ name = \"X-Policy\", value = \"v{v}\" }} }}\n\n\
         [[rules]]\nid = \"decide-v{v}\"\nthen = {{ block = \"v{v}\" }}\n\n\
         [default]\nthen = {{ deliver = true }}\n"
    )
}

const BROKEN: &str = "[[rules]]\nid = \"x\"\nthen = { blok = \"typo\" }\n";

#[test]
fn evaluations_under_reload_always_see_one_whole_policy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, version(0)).unwrap();
    let (live, warnings) = LivePolicy::load(&path).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let live = Arc::new(live);
    let stop = Arc::new(AtomicBool::new(false));
    let evaluations = Arc::new(AtomicUsize::new(0));

    let workers: Vec<_> = (0..2)
        .map(|_| {
            let (live, stop, evaluations) = (live.clone(), stop.clone(), evaluations.clone());
            std::thread::spawn(move || {
                let message = Message::parse(b"Subject: x\r\n\r\nbody\r\n");
                let envelope = Envelope::new(
                    Direction::Outbound,
                    "a@behoerde.example",
                    ["b@partner.example", "c@partner.example"],
                );
                let mut seen = std::collections::BTreeSet::new();
                while !stop.load(Ordering::Relaxed) {
                    let policy = live.current();
                    let result = policy.evaluate(&envelope, &message, &StaticFacts::default());
                    for r in &result.recipients {
                        assert!(r.outcome.has(Action::Block), "{:?}", r.outcome);
                        let decided = r.decided_by.clone().unwrap();
                        let version = decided.strip_prefix("decide-").unwrap().to_owned();
                        assert_eq!(r.outcome.reason.as_deref(), Some(version.as_str()));
                        let tagged = r
                            .trace
                            .iter()
                            .any(|s| s.rule.as_deref() == Some(format!("tag-{version}").as_str()));
                        assert!(tagged, "rules of two versions mixed: {:?}", r.trace);
                        seen.insert(version);
                    }
                    evaluations.fetch_add(1, Ordering::Relaxed);
                }
                seen
            })
        })
        .collect();

    for v in 1..=40 {
        // A broken edit in between: refused, the previous version stays.
        std::fs::write(&path, BROKEN).unwrap();
        let err = live.reload().unwrap_err();
        assert!(
            matches!(err, rule_engine::Error::InvalidPolicy { .. }),
            "{err}"
        );
        assert_eq!(
            live.current().rule_count(),
            2,
            "a broken file replaced the policy"
        );
        std::fs::write(&path, version(v)).unwrap();
        live.reload().unwrap();
        std::thread::yield_now();
    }
    // Let the workers see the last version before stopping.
    let before = evaluations.load(Ordering::Relaxed);
    while evaluations.load(Ordering::Relaxed) < before + 4 {
        std::thread::yield_now();
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = std::collections::BTreeSet::new();
    for w in workers {
        seen.extend(w.join().unwrap());
    }
    assert!(
        seen.contains("v40"),
        "the last reload was not seen: {seen:?}"
    );
    assert!(evaluations.load(Ordering::Relaxed) > 0);
}

#[test]
fn reload_of_a_missing_file_keeps_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    std::fs::write(&path, version(1)).unwrap();
    let (live, _) = LivePolicy::load(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let err = live.reload().unwrap_err();
    assert!(matches!(err, rule_engine::Error::Read { .. }), "{err}");
    assert!(err.to_string().contains("policy.toml"), "{err}");
    assert_eq!(live.current().rule_count(), 2);
    assert_eq!(live.path(), path.as_path());
}
