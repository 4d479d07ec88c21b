//! The verdict from a stored observation (target: microseconds).
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use tls_policy::{Observation, Profile};

fn verdict(c: &mut Criterion) {
    let observation: Observation =
        serde_json::from_str(include_str!("../tests/data/tls13-p256.json")).unwrap();
    let now = SystemTime::now();
    let bsi = Profile::bsi_tr_03108();
    c.bench_function(
        "verdict bsi-tr-03108 (TLS 1.3 server, 2 certificates, enumeration)",
        |b| {
            b.iter(|| bsi.evaluate(black_box(&observation), now));
        },
    );
    let opportunistic = Profile::opportunistic();
    c.bench_function("verdict opportunistic", |b| {
        b.iter(|| opportunistic.evaluate(black_box(&observation), now));
    });
    c.bench_function("parse built-in profile bsi-tr-03108", |b| {
        b.iter(|| Profile::built_in(black_box("bsi-tr-03108")).unwrap());
    });
}

criterion_group!(benches, verdict);
criterion_main!(benches);
