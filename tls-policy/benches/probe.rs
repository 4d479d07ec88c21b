//! The cost of judging a live server: one probe without enumeration (a TCP
//! connection, the SMTP dialogue and one handshake), the full probe with
//! enumeration (the same plus the hand-built ClientHellos, each one round
//! trip on its own connection), and a `VerdictCache` hit, against an OpenSSL
//! SMTP server on loopback (python3 `ssl`, started here). The ratio of the
//! first two is what enumeration adds; the cache hit is what a gateway pays
//! per mail once a host is known.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use support::{Server, Setup, prober};
use tls_policy::{Profile, VerdictCache};

fn probe(c: &mut Criterion) {
    let server = Server::start(&Setup::default());
    let target = server.target();
    let mut group = c.benchmark_group("probe (OpenSSL server on loopback)");
    group.sample_size(10);
    let handshake_only = prober(Profile::bsi_tr_03108()).with_enumeration(false);
    group.bench_function("one handshake, no enumeration", |b| {
        b.iter(|| handshake_only.check(black_box(&target)).unwrap());
    });
    let full = prober(Profile::bsi_tr_03108());
    group.bench_function("full probe with enumeration", |b| {
        b.iter(|| full.check(black_box(&target)).unwrap());
    });
    group.finish();

    let cache = VerdictCache::new(Duration::from_secs(3600));
    assert!(cache.check(&full, &target).unwrap().conforms);
    c.bench_function("verdict cache hit", |b| {
        b.iter(|| cache.check(&full, black_box(&target)).unwrap());
    });
}

criterion_group!(benches, probe);
criterion_main!(benches);
