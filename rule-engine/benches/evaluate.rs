//! Evaluation and compile cost of generated policies (issue 6 targets:
//! under 1 ms per mail for 1,000 rules, 50 recipients and a 1 MB body; DLP
//! scanning at 1 GB/s or more; compiling 10,000 rules under 100 ms).
//!
//! There is no other implementation of this policy language to compare
//! against; the figures stand on their own. Run with
//! `cargo bench -p rule-engine`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::print_stderr,
    missing_docs
)]

use std::fmt::Write as _;
use std::hint::black_box;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rule_engine::{Detail, Direction, Envelope, LivePolicy, Message, Policy, StaticFacts};

/// A policy of `n` rules spread over global, domain, group and user scopes;
/// one rule in a hundred scans the body.
fn policy_text(n: usize) -> String {
    let mut text = String::from("[policy]\ninternal_domains = [\"behoerde.example\"]\n\n");
    let rule = |text: &mut String, header: &str, i: usize| {
        let (when, then) = match i % 6 {
            0 => (
                format!("{{ header = {{ name = \"X-Rule-{i}\", equals = \"yes\" }} }}"),
                "{ archive = true }".to_owned(),
            ),
            1 => (
                format!("{{ direction = \"outbound\", subject_tag = \"[tag-{i}]\" }}"),
                "{ encrypt = \"required\", fallback = \"password-pdf\" }".to_owned(),
            ),
            2 => (
                format!("{{ sender = \"user{i}@behoerde.example\" }}"),
                "{ block = \"listed sender\" }".to_owned(),
            ),
            3 => (
                format!("{{ recipient_domain = [\"d{i}.example\", \"*.e{i}.example\"] }}"),
                "{ require_tls = \"bsi-tr-03108\" }".to_owned(),
            ),
            4 if i % 100 == 4 => (
                format!(
                    "{{ body = {{ keywords = [\"kw{i}a\", \"kw{i}b\", \"verschlusssache\"], threshold = 1000000 }} }}"
                ),
                "{ quarantine = true }".to_owned(),
            ),
            4 => (
                format!("{{ attachments = {{ extension = \"x{i}\" }} }}"),
                "{ quarantine = true }".to_owned(),
            ),
            _ => (
                format!("{{ recipient_regex = '^r{i}-[a-z]+@' }}"),
                "{ deliver = true }".to_owned(),
            ),
        };
        let _ = write!(
            text,
            "{header}\nid = \"r{i}\"\nwhen = {when}\nthen = {then}\n\n"
        );
    };
    let global = n * 6 / 10;
    for i in 0..global {
        rule(&mut text, "[[rules]]", i);
    }
    let mut i = global;
    let mut scope = 0;
    while i < n {
        let header = match scope % 3 {
            0 => format!("[[domain.\"*.d{scope}.example\".rules]]"),
            1 => {
                let _ = write!(
                    text,
                    "[group.g{scope}]\nmembers = [\"m{scope}@d0.example\"]\n\n"
                );
                format!("[[group.g{scope}.rules]]")
            }
            _ => format!("[[user.\"u{scope}@d1.example\".rules]]"),
        };
        for _ in 0..10 {
            if i < n {
                rule(&mut text, &header, i);
                i += 1;
            }
        }
        scope += 1;
    }
    text.push_str("\n[default]\nthen = { deliver = true }\n");
    text
}

fn message(body_bytes: usize) -> Vec<u8> {
    let mut raw = String::from(
        "From: alice@behoerde.example\r\nTo: many@extern.example\r\nSubject: Monatsbericht\r\nX-Classification: internal\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
    );
    // Ordinary text, with a keyword about every 16 KB.
    let line = "Der Bericht enthaelt nur oeffentliche Zahlen, Tabellen und erklaerenden Text.\r\n";
    let mut n = 0;
    while raw.len() < body_bytes {
        raw.push_str(line);
        n += 1;
        if n % 200 == 0 {
            raw.push_str("Anlage: Verschlusssache, nur fuer den Dienstgebrauch.\r\n");
        }
    }
    raw.into_bytes()
}

fn recipients(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("r{i}@d{}.example", i % 7)).collect()
}

fn evaluation(c: &mut Criterion) {
    let (policy, _) = Policy::parse(&policy_text(1000), "bench.toml").unwrap();
    let raw = message(1 << 20);
    let envelope = Envelope::new(
        Direction::Outbound,
        "alice@behoerde.example",
        recipients(50),
    );
    let facts = StaticFacts::default();
    let mut group = c.benchmark_group("evaluate");
    group.sample_size(20);
    let message = Message::parse(&raw);
    group.bench_function("1000_rules_50_recipients_1mb_parsed", |b| {
        b.iter(|| black_box(policy.evaluate(&envelope, &message, &facts)));
    });
    group.bench_function("1000_rules_50_recipients_1mb_parsed_decisions_only", |b| {
        b.iter(|| black_box(policy.evaluate_with(&envelope, &message, &facts, Detail::Decisions)));
    });
    group.throughput(Throughput::Bytes(raw.len() as u64));
    group.bench_function("parse_message_1mb", |b| {
        b.iter(|| black_box(Message::parse(black_box(&raw))));
    });
    group.finish();
}

fn dlp(c: &mut Criterion) {
    let (policy, _) = Policy::parse(
        "[[rules]]\nid = \"dlp\"\nwhen = { body = { keywords = [\"verschlusssache\", \"vs-nfd\", \"streng geheim\", \"personalakte\"], threshold = 100000000 } }\nthen = { quarantine = true }\n\n[default]\nthen = { deliver = true }\n",
        "dlp.toml",
    )
    .unwrap();
    let raw = message(1 << 20);
    let message = Message::parse(&raw);
    let envelope = Envelope::new(
        Direction::Outbound,
        "alice@behoerde.example",
        ["a@x.example"],
    );
    let mut group = c.benchmark_group("dlp");
    group.throughput(Throughput::Bytes(message.text().len() as u64));
    group.bench_function("keywords_1mb", |b| {
        b.iter(|| black_box(policy.evaluate(&envelope, &message, &StaticFacts::default())));
    });
    group.finish();
}

fn compile(c: &mut Criterion) {
    let text = policy_text(10_000);
    let mut group = c.benchmark_group("compile");
    group.sample_size(10);
    group.bench_function("10000_rules", |b| {
        b.iter(|| black_box(Policy::parse(black_box(&text), "bench.toml").unwrap()));
    });
    group.finish();
}

/// Evaluation of the 1,000-rule policy through `LivePolicy` while another
/// thread reloads it from its file (alternating two versions) without
/// pause. Every evaluation must see one whole policy: one decision per
/// recipient, from a rule of the version it holds.
fn reload_under_load(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("policy.toml");
    let versions = [
        policy_text(1000),
        policy_text(1000).replace("id = \"r", "id = \"v1-r"),
    ];
    std::fs::write(&path, &versions[0]).unwrap();
    let (live, _) = LivePolicy::load(&path).unwrap();
    let live = Arc::new(live);
    let stop = Arc::new(AtomicBool::new(false));
    let reloads = Arc::new(AtomicUsize::new(0));
    let reloader = {
        let (live, stop, reloads, path) =
            (live.clone(), stop.clone(), reloads.clone(), path.clone());
        let versions = versions.clone();
        std::thread::spawn(move || {
            let mut v = 1;
            while !stop.load(Ordering::Relaxed) {
                std::fs::write(&path, &versions[v % 2]).unwrap();
                live.reload().unwrap();
                reloads.fetch_add(1, Ordering::Relaxed);
                v += 1;
            }
        })
    };
    let raw = message(1 << 20);
    let message = Message::parse(&raw);
    let envelope = Envelope::new(
        Direction::Outbound,
        "alice@behoerde.example",
        recipients(50),
    );
    let facts = StaticFacts::default();
    let mut group = c.benchmark_group("reload");
    group.sample_size(20);
    group.bench_function("evaluate_1000_rules_while_reloading", |b| {
        b.iter(|| {
            let policy = live.current();
            let result = policy.evaluate_with(&envelope, &message, &facts, Detail::Decisions);
            assert_eq!(result.recipients.len(), 50);
            let decided: Vec<&str> = result
                .recipients
                .iter()
                .filter_map(|r| r.decided_by.as_deref())
                .collect();
            assert!(!decided.is_empty());
            let v1 = decided.iter().filter(|id| id.starts_with("v1-")).count();
            assert!(
                v1 == 0 || v1 == decided.len(),
                "rules of two versions mixed"
            );
            black_box(result)
        });
    });
    group.finish();
    stop.store(true, Ordering::Relaxed);
    reloader.join().unwrap();
    eprintln!(
        "reload: {} reloads during the run, no failed evaluation",
        reloads.load(Ordering::Relaxed)
    );
}

criterion_group!(benches, evaluation, dlp, compile, reload_under_load);
criterion_main!(benches);
