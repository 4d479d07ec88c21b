//! Whole OpenPGP operations, pgp-core (in-process, streaming entry points as
//! `mailgate pgp` uses them) against GnuPG 2.2 (`gpg`, whole process in a
//! temporary GNUPGHOME with the same keys) on the same message:
//!
//! - sign: pgp-core makes a PGP/MIME `multipart/signed` message
//!   (`sign_message_stream`); gpg makes an armored detached signature of the
//!   message file (`--armor --detach-sign`);
//! - verify: pgp-core checks the PGP/MIME message it signed
//!   (`verify_message_spooled`, the signed part spooled); gpg checks its
//!   detached signature of the message file (`--verify SIG FILE`);
//! - encrypt: PGP/MIME `multipart/encrypted` to one recipient
//!   (`encrypt_message_stream`) against `gpg --armor --encrypt`;
//! - decrypt: each decrypts what it encrypted (`decrypt_message_spooled`
//!   plus `write_message` against `gpg --decrypt`).
//!
//! Sizes 4 KB, 100 KB and 10 MB (a text part and a base64 attachment);
//! Ed25519/Cv25519 keys made by testkit, imported into gpg. gpg's figures
//! include starting the process (and its agent's signing or decryption
//! round trip), which is what a gateway calling gpg would pay.

// Benchmark code: a failed setup should abort the run loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pgp_core::{Decryptor, Encryptor, Signer, Verdict, Verifier};
use testkit::{PgpSuite, PgpVersion, openpgp_key};

const SIZES: [(&str, usize); 3] = [
    ("4KB", 4 * 1024),
    ("100KB", 100 * 1024),
    ("10MB", 10 * 1024 * 1024),
];

/// A message of about `size` bytes: a short text part and a base64
/// attachment (7-bit clean, as mail on the wire is).
fn message(size: usize) -> Vec<u8> {
    let mut out = b"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\nSubject: bench\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let line_count = size.saturating_sub(out.len()) / 78;
    for _ in 0..line_count.max(1) {
        for _ in 0..76 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            out.push(alphabet[(state % 64) as usize]);
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--b1--\r\n");
    out
}

struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new(keys: &[&[u8]]) -> Gpg {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join("gpg-agent.conf"),
            "allow-loopback-pinentry\n",
        )
        .unwrap();
        let gpg = Gpg { home };
        for key in keys {
            let status = gpg.command(&["--import"]).stdin(Stdio::piped()).spawn();
            let mut child = status.unwrap();
            std::io::Write::write_all(child.stdin.as_mut().unwrap(), key).unwrap();
            drop(child.stdin.take());
            assert!(child.wait().unwrap().success());
        }
        gpg
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("gpg");
        command
            .env("GNUPGHOME", self.home.path())
            .args([
                "--batch",
                "--yes",
                "--quiet",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--trust-model",
                "always",
            ])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    }

    /// Runs gpg to completion, output to `out`.
    fn run(&self, args: &[&str], out: &Path) {
        let out = out.to_str().unwrap();
        let mut all = vec!["--output", out];
        all.extend_from_slice(args);
        let status = self.command(&all).status().unwrap();
        assert!(status.success(), "gpg {args:?}");
    }

    fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "all"])
            .status();
    }
}

fn pgp(c: &mut Criterion) {
    let alice = openpgp_key(
        "Alice <alice@example.org>",
        PgpSuite::Cv25519,
        PgpVersion::V4,
    );
    let bob = openpgp_key("Bob <bob@example.net>", PgpSuite::Cv25519, PgpVersion::V4);
    let gpg = Gpg::new(&[&alice.secret_armored(), &bob.secret_armored()]);
    let signer = Signer::new(alice.cert(), None).unwrap();
    let encryptor = Encryptor::new([bob.cert().clone().strip_secret_key_material()]);
    let decryptor = Decryptor::new([bob.cert().clone()]);

    let mut group = c.benchmark_group("pgp");
    group.sample_size(10);
    for (label, size) in SIZES {
        let message = message(size);
        let file = gpg.path(&format!("message-{label}.eml"));
        std::fs::write(&file, &message).unwrap();
        let file = file.to_str().unwrap().to_owned();
        let out = gpg.path("out");
        group.throughput(Throughput::Bytes(message.len() as u64));

        group.bench_with_input(
            BenchmarkId::new("sign/pgp-core", label),
            &message,
            |b, m| {
                // One output buffer for every run, as a file or socket
                // would be: fresh pages for 10 MB are not signing's cost.
                let mut signed = Vec::with_capacity(m.len() + 4096);
                b.iter(|| {
                    signed.clear();
                    signer.sign_message_stream(&m[..], &mut signed).unwrap();
                    black_box(signed.len())
                });
            },
        );
        group.bench_function(BenchmarkId::new("sign/gpg", label), |b| {
            b.iter(|| {
                gpg.run(
                    &[
                        "--local-user",
                        "alice@example.org",
                        "--armor",
                        "--detach-sign",
                        &file,
                    ],
                    &out,
                );
            });
        });

        // Verify: each checks what it signed (ours the whole PGP/MIME
        // message, streamed; gpg its detached signature of the file).
        let verifier = Verifier::new([alice.cert().clone().strip_secret_key_material()]);
        let mut signed = Vec::new();
        signer
            .sign_message_stream(&message[..], &mut signed)
            .unwrap();
        assert_eq!(
            verifier
                .verify_message_spooled(&signed[..])
                .unwrap()
                .verification()
                .verdict(),
            Verdict::SignedByFrom
        );
        group.bench_with_input(
            BenchmarkId::new("verify/pgp-core", label),
            &signed,
            |b, s| {
                b.iter(|| black_box(verifier.verify_message_spooled(&s[..]).unwrap()));
            },
        );
        let signature = gpg.path(&format!("message-{label}.asc"));
        gpg.run(
            &[
                "--local-user",
                "alice@example.org",
                "--armor",
                "--detach-sign",
                &file,
            ],
            &signature,
        );
        let signature = signature.to_str().unwrap().to_owned();
        group.bench_function(BenchmarkId::new("verify/gpg", label), |b| {
            b.iter(|| gpg.run(&["--verify", &signature, &file], &out));
        });

        group.bench_with_input(
            BenchmarkId::new("encrypt/pgp-core", label),
            &message,
            |b, m| {
                let mut encrypted = Vec::with_capacity(m.len() * 4 / 3 + 4096);
                b.iter(|| {
                    encrypted.clear();
                    encryptor
                        .encrypt_message_stream(&m[..], &mut encrypted)
                        .unwrap();
                    black_box(encrypted.len())
                });
            },
        );
        group.bench_function(BenchmarkId::new("encrypt/gpg", label), |b| {
            b.iter(|| {
                gpg.run(
                    &["--armor", "--encrypt", "-r", "bob@example.net", &file],
                    &out,
                );
            });
        });

        let mut ours = Vec::new();
        encryptor
            .encrypt_message_stream(&message[..], &mut ours)
            .unwrap();
        group.bench_with_input(
            BenchmarkId::new("decrypt/pgp-core", label),
            &ours,
            |b, encrypted| {
                let mut plain = Vec::with_capacity(encrypted.len());
                b.iter(|| {
                    plain.clear();
                    let spooled = decryptor.decrypt_message_spooled(&encrypted[..]).unwrap();
                    spooled.write_message(&mut plain).unwrap();
                    black_box(plain.len())
                });
            },
        );
        let theirs = gpg.path(&format!("theirs-{label}.asc"));
        gpg.run(
            &["--armor", "--encrypt", "-r", "bob@example.net", &file],
            &theirs,
        );
        let theirs = theirs.to_str().unwrap().to_owned();
        group.bench_function(BenchmarkId::new("decrypt/gpg", label), |b| {
            b.iter(|| gpg.run(&["--decrypt", &theirs], &out));
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = pgp
}
criterion_main!(benches);
