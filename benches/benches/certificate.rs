//! Loading a PEM certificate bundle: smime-core against OpenSSL (the `openssl`
//! crate, in-process) on the same bytes.
//!
//! Certificate loading runs for every signed message (certificates in the CMS)
//! and every store lookup, so it should not be slower than OpenSSL's parser.

// Benchmark code: a failed setup should abort the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use testkit::{KeyKind, pki};

fn bundle() -> (Vec<u8>, usize) {
    let pki = pki();
    let mut pem = String::new();
    let mut count = 0;
    for (i, kind) in KeyKind::ALL.iter().cycle().take(16).enumerate() {
        let identity = pki.smime(&format!("user{i}@example.org"), *kind);
        pem.push_str(&identity.certificate_pem());
        count += 1;
    }
    pem.push_str(&pki.intermediate().certificate_pem());
    pem.push_str(&pki.root().certificate_pem());
    (pem.into_bytes(), count + 2)
}

fn load_bundle(c: &mut Criterion) {
    let (pem, count) = bundle();
    let mut group = c.benchmark_group("load_pem_bundle");
    group.throughput(Throughput::Elements(count as u64));
    group.bench_function("smime-core", |b| {
        b.iter(|| {
            let certificates = smime_core::Certificate::load(black_box(&pem)).unwrap();
            assert_eq!(certificates.len(), count);
            certificates
        })
    });
    group.bench_function("openssl", |b| {
        b.iter(|| {
            let certificates = openssl::x509::X509::stack_from_pem(black_box(&pem)).unwrap();
            assert_eq!(certificates.len(), count);
            certificates
        })
    });
    group.finish();
}

criterion_group!(benches, load_bundle);
criterion_main!(benches);
