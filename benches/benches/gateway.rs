//! The whole gateway (`gateway_facade::Gateway::process`): policy
//! evaluation, certificate lookup in the SQLite directory, MIME work, S/MIME
//! signing and encryption, the audit record, for a realistic mix of mails,
//! on one core and on all cores. The baseline is OpenSSL doing only the
//! cryptography of the same mail in-process (`CMS_sign` of the body, then
//! `CMS_encrypt` of the signed result to the same certificates with the
//! same cipher): what any gateway built on OpenSSL pays at least.
//!
//! The issue's target: at least 200 sign-and-encrypt mails per second per
//! core for 10 KB mails with RSA-2048 (`outbound/sign+encrypt/10KB/1`).

// Benchmark code: a failed setup should abort the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use gateway_facade::certificates::smime_entry;
use gateway_facade::store::{Directory, SqliteDirectory, TrustState};
use gateway_facade::{Disposition, Envelope, Gateway, OrganisationKey, SmimeIdentity};
use openssl::cms::{CMSOptions, CmsContentInfo};
use openssl::pkey::PKey;
use openssl::stack::Stack;
use openssl::symm::Cipher;
use openssl::x509::X509;
use sequoia_openpgp as _;
use smime_core::{Certificate, PrivateKey};
use testkit::{Identity, KeyKind, pki};

const SENDER: &str = "alice@behoerde.example";

const POLICY: &str = r#"
[policy]
name = "bench"
internal_domains = ["behoerde.example"]

[[rules]]
id = "sign"
when = { direction = "outbound", sender_domain = "behoerde.example" }
then = { sign = ["smime"] }

[[rules]]
id = "partner"
when = { direction = "outbound", recipient_domain = "partner.example" }
then = { encrypt = "required", methods = ["smime"], fallback = "block" }

[[rules]]
id = "fallback"
when = { direction = "outbound", recipient_domain = "extern.example" }
then = { encrypt = "required", methods = ["smime"], fallback = "password-pdf" }

[default]
then = { deliver = true }
"#;

fn partner(index: usize) -> String {
    format!("user{index}@partner.example")
}

struct Setup {
    gateway: Arc<Gateway>,
    alice: Arc<Identity>,
    partners: Vec<Arc<Identity>>,
}

fn setup() -> Setup {
    let alice = pki().smime(SENDER, KeyKind::Rsa2048);
    let directory = SqliteDirectory::in_memory().unwrap();
    let partners: Vec<Arc<Identity>> = (0..20)
        .map(|i| pki().smime(&partner(i), KeyKind::Rsa2048))
        .collect();
    for identity in &partners {
        let certificate = Certificate::from_der(identity.certificate_der()).unwrap();
        directory
            .add(&smime_entry(&certificate, "bench"), TrustState::Trusted)
            .unwrap();
    }
    let key = OrganisationKey::new(
        SENDER,
        Some(SmimeIdentity::new(
            Certificate::from_der(alice.certificate_der()).unwrap(),
            alice
                .chain_der()
                .iter()
                .map(|d| Certificate::from_der(d).unwrap())
                .collect(),
            PrivateKey::load(alice.private_key_der(), None).unwrap(),
        )),
        None,
        None,
    );
    let (policy, _) = rule_engine::Policy::parse(POLICY, "bench.toml").unwrap();
    let gateway = Gateway::new(
        policy,
        Path::new("bench.toml"),
        Arc::new(directory),
        vec![key],
        "postmaster@behoerde.example",
    );
    Setup {
        gateway: Arc::new(gateway),
        alice,
        partners,
    }
}

/// A mail of about `size` bytes: a text part, plus a base64 attachment
/// when `size` is over 10 KB.
fn mail(recipients: &[String], size: usize) -> Vec<u8> {
    let text: String = "Sehr geehrte Damen und Herren, anbei der Bericht. "
        .repeat(200)
        .chars()
        .take(size.min(10 * 1024))
        .collect();
    let mut mail = format!(
        "From: {SENDER}\r\nTo: {}\r\nSubject: Bericht\r\nMessage-ID: <bench@behoerde.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n",
        recipients.join(", ")
    );
    if size > 10 * 1024 {
        mail.push_str(
            "--b\r\nContent-Type: application/pdf; name=\"anlage.pdf\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n",
        );
        let line = "JVBERi0xLjcKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0\r\n";
        for _ in 0..size / line.len() {
            mail.push_str(line);
        }
    }
    mail.push_str("--b--\r\n");
    mail.into_bytes()
}

fn process(gateway: &Gateway, recipients: &[String], message: &[u8]) {
    let outcome = gateway.process(
        &Envelope::outbound(SENDER, recipients.iter().map(String::as_str)),
        message,
    );
    // A benchmark of a gateway that rejects would measure the wrong thing.
    assert!(
        outcome
            .dispositions
            .iter()
            .all(|d| matches!(d, Disposition::Deliver { .. })),
        "{outcome:?}"
    );
    black_box(outcome);
}

/// OpenSSL's share of the same work: sign the body, encrypt the result.
struct OpenSslBaseline {
    cert: X509,
    key: PKey<openssl::pkey::Private>,
    chain: Stack<X509>,
    recipients: Stack<X509>,
}

impl OpenSslBaseline {
    fn new(setup: &Setup, recipients: usize) -> OpenSslBaseline {
        let mut chain = Stack::new().unwrap();
        for der in setup.alice.chain_der() {
            chain.push(X509::from_der(der).unwrap()).unwrap();
        }
        let mut stack = Stack::new().unwrap();
        for identity in setup.partners.iter().take(recipients) {
            stack
                .push(X509::from_der(identity.certificate_der()).unwrap())
                .unwrap();
        }
        // The gateway adds the sender's own certificate.
        stack
            .push(X509::from_der(setup.alice.certificate_der()).unwrap())
            .unwrap();
        OpenSslBaseline {
            cert: X509::from_der(setup.alice.certificate_der()).unwrap(),
            key: PKey::private_key_from_der(setup.alice.private_key_der()).unwrap(),
            chain,
            recipients: stack,
        }
    }

    fn sign_and_encrypt(&self, message: &[u8]) {
        let signed = CmsContentInfo::sign(
            Some(&self.cert),
            Some(&self.key),
            Some(&self.chain),
            Some(message),
            CMSOptions::DETACHED | CMSOptions::BINARY,
        )
        .unwrap()
        .to_der()
        .unwrap();
        let mut outer = message.to_vec();
        outer.extend_from_slice(&signed);
        let encrypted = CmsContentInfo::encrypt(
            &self.recipients,
            &outer,
            Cipher::aes_256_cbc(),
            CMSOptions::BINARY,
        )
        .unwrap()
        .to_der()
        .unwrap();
        black_box(encrypted);
    }
}

fn outbound(c: &mut Criterion) {
    let setup = setup();
    let mut group = c.benchmark_group("outbound");
    group.throughput(Throughput::Elements(1));
    for (label, size, recipients) in [
        ("10KB", 10 * 1024, 1),
        ("10KB", 10 * 1024, 20),
        ("1MB", 1024 * 1024, 1),
        ("25MB", 25 * 1024 * 1024, 1),
    ] {
        if size > 1024 * 1024 {
            group.sample_size(10);
        }
        let to: Vec<String> = (0..recipients).map(partner).collect();
        let message = mail(&to, size);
        let id = format!("{label}/{recipients}");
        group.bench_with_input(
            BenchmarkId::new("sign+encrypt", &id),
            &message,
            |b, message| b.iter(|| process(&setup.gateway, &to, message)),
        );
        let baseline = OpenSslBaseline::new(&setup, recipients);
        group.bench_with_input(
            BenchmarkId::new("openssl-sign+encrypt", &id),
            &message,
            |b, message| b.iter(|| baseline.sign_and_encrypt(message)),
        );
    }
    group.sample_size(100);

    // Sign only (an internal recipient) and the password PDF fallback (a
    // recipient without a certificate).
    for (label, recipient) in [
        ("sign-only", "kollege@behoerde.example"),
        ("password-pdf", "dave@extern.example"),
    ] {
        let to = vec![recipient.to_owned()];
        let message = mail(&to, 10 * 1024);
        group.bench_with_input(BenchmarkId::new(label, "10KB/1"), &message, |b, m| {
            b.iter(|| process(&setup.gateway, &to, m))
        });
    }

    // All cores: the same gateway shared by one thread per core, each
    // processing its share of the iterations; the time per element is the
    // wall time divided by the number of mails.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let to = vec![partner(0)];
    let message = Arc::new(mail(&to, 10 * 1024));
    group.bench_function(
        BenchmarkId::new("sign+encrypt-all-cores", format!("10KB/1/{cores}-threads")),
        |b| {
            b.iter_custom(|iterations| {
                let per_thread = iterations.div_ceil(cores as u64);
                let start = Instant::now();
                let threads: Vec<_> = (0..cores)
                    .map(|_| {
                        let gateway = Arc::clone(&setup.gateway);
                        let message = Arc::clone(&message);
                        let to = to.clone();
                        std::thread::spawn(move || {
                            for _ in 0..per_thread {
                                process(&gateway, &to, &message);
                            }
                        })
                    })
                    .collect();
                for thread in threads {
                    thread.join().unwrap();
                }
                let elapsed = start.elapsed();
                // Scale to the requested count (the threads may do a few more).
                elapsed.mul_f64(iterations as f64 / (per_thread * cores as u64) as f64)
            })
        },
    );
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    targets = outbound
}
criterion_main!(benches);
