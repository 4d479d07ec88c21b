//! Inbound `mailgate process` in bounded memory (issue 16, finding 5) and
//! with constant-time RSA for OpenPGP organisation keys (finding 10).
//!
//! The hostile mail comes from GnuPG (`gpg -z 9 --compress-algo zlib` of a
//! stream of zeros, the bomb of the issue) and from Sequoia (compressed
//! packets nested in one another, which gpg does not make). Peak memory is
//! the child's maximum resident set size as the kernel reports it when it
//! is reaped (`getrusage(RUSAGE_CHILDREN)` in a python3 wrapper around
//! exactly one `mailgate process`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::demo;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The bound the issue sets for every inbound path.
const PEAK_LIMIT_KIB: u64 = 64 * 1024;

/// A GnuPG home with alice's (the organisation's) public key.
struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    fn new(demo: &Path) -> Gpg {
        let gpg = Gpg {
            home: tempfile::tempdir().unwrap(),
        };
        gpg.sh(&format!(
            "gpg --batch --import {}",
            demo.join("pki/alice.pub.asc").display()
        ));
        gpg
    }

    /// Runs a shell command line with this GnuPG home; its standard output.
    fn sh(&self, script: &str) -> Vec<u8> {
        let output = Command::new("sh")
            .arg("-c")
            .arg(script)
            .env("GNUPGHOME", self.home.path())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    /// `source | gpg -z 9 --compress-algo zlib --encrypt` to alice, armored.
    fn encrypt_stream(&self, source: &str) -> Vec<u8> {
        self.sh(&format!(
            "{source} | gpg --batch --trust-model always -z 9 --compress-algo zlib \
             --armor --encrypt --recipient alice@behoerde.example"
        ))
    }
}

/// A PGP/MIME mail from dave to alice around an armored OpenPGP message.
fn pgp_mime(armored: &[u8]) -> Vec<u8> {
    let mut mail = b"From: Dave <dave@extern.example>\r\nTo: alice@behoerde.example\r\n\
        Subject: quarterly figures\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"e\"\r\n\r\n\
        --e\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n\
        --e\r\nContent-Type: application/octet-stream\r\n\r\n"
        .to_vec();
    mail.extend_from_slice(armored);
    mail.extend_from_slice(b"\r\n--e--\r\n");
    mail
}

/// Runs `mailgate process` inbound from dave to alice on `mail` (from a
/// file, as an MTA would pipe it); the result and the child's peak RSS in
/// KiB.
fn process_inbound(demo: &Path, mail: &[u8], name: &str) -> (Value, u64) {
    let input = demo.join(format!("{name}.eml"));
    std::fs::write(&input, mail).unwrap();
    let out = demo.join(format!("out-{name}"));
    let script = r#"
import resource, subprocess, sys
with open(sys.argv[1], "rb") as mail:
    done = subprocess.run(sys.argv[2:], stdin=mail, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
sys.stderr.buffer.write(done.stderr)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(0 if done.returncode in (0, 1) else done.returncode)
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&input)
        .arg(env!("CARGO_BIN_EXE_mailgate"))
        .args(["process", "--config"])
        .arg(demo.join("mailgate.toml"))
        .args([
            "--direction",
            "inbound",
            "--from",
            "dave@extern.example",
            "--to",
            "alice@behoerde.example",
            "--out-dir",
        ])
        .arg(&out)
        .output()
        .expect("python3 is installed (.ci/run installs it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let peak: u64 = String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .unwrap();
    let result = serde_json::from_slice(&std::fs::read(out.join("result.json")).unwrap()).unwrap();
    (result, peak)
}

fn kinds(result: &Value) -> Vec<String> {
    result["dispositions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap().to_owned())
        .collect()
}

/// Quarantined, for alice, with a reason that names the limit; nothing
/// delivered.
fn assert_quarantined(result: &Value, reason: &str) {
    assert_eq!(kinds(result), ["quarantine"], "{result:#}");
    let disposition = &result["dispositions"][0];
    assert_eq!(disposition["recipients"][0], "alice@behoerde.example");
    let text = disposition["reason"].as_str().unwrap();
    assert!(text.contains(reason), "{text}");
    assert!(
        result["audit"]["decryption"]
            .as_str()
            .unwrap()
            .starts_with("pgp; result=refused"),
        "{result:#}"
    );
}

/// The bomb of the issue: 2 GiB of zeros, a 3.7 MB PGP/MIME mail, small
/// enough for the in-memory path, where it stops at 1 MiB of plaintext;
/// then decrypted as a stream to disk, where it stops at the 512 MiB
/// plaintext limit. Quarantined, never delivered, under 64 MiB (it peaked
/// at 1 GB before).
#[test]
fn a_gpg_compression_bomb_is_quarantined_in_bounded_memory() {
    let demo = demo();
    let gpg = Gpg::new(demo.path());
    let bomb = pgp_mime(&gpg.encrypt_stream("head -c 2G /dev/zero"));
    assert!(bomb.len() < 4 * 1024 * 1024, "{}", bomb.len());
    let (result, peak) = process_inbound(demo.path(), &bomb, "bomb");
    eprintln!(
        "compression bomb: {} bytes, peak RSS {peak} KiB",
        bomb.len()
    );
    assert_quarantined(&result, "exceeds the limit");
    assert!(peak < PEAK_LIMIT_KIB, "peak RSS {peak} KiB");
}

/// Compressed packets nested five deep (made with Sequoia): refused
/// before the inner layers are decompressed.
#[test]
fn nested_compression_is_quarantined() {
    use pgp_core::openpgp::policy::StandardPolicy;
    use pgp_core::openpgp::serialize::stream::{
        Armorer, Compressor, Encryptor, LiteralWriter, Message,
    };
    use pgp_core::openpgp::types::{CompressionAlgorithm, CompressionLevel};

    let demo = demo();
    let alice = pgp_core::parse_certificates(
        &std::fs::read(demo.path().join("pki/alice.pub.asc")).unwrap(),
    )
    .unwrap()
    .remove(0);
    let policy = StandardPolicy::new();
    let mut armored = Vec::new();
    {
        let recipients = alice
            .keys()
            .with_policy(&policy, None)
            .supported()
            .for_transport_encryption();
        let message = Armorer::new(Message::new(&mut armored)).build().unwrap();
        let mut message = Encryptor::for_recipients(message, recipients)
            .build()
            .unwrap();
        for _ in 0..5 {
            message = Compressor::new(message)
                .algo(CompressionAlgorithm::Zlib)
                .level(CompressionLevel::best())
                .build()
                .unwrap();
        }
        let mut literal = LiteralWriter::new(message).build().unwrap();
        literal
            .write_all(b"Content-Type: text/plain\r\n\r\n")
            .unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..64 {
            literal.write_all(&zeros).unwrap();
        }
        literal.finalize().unwrap();
    }
    let (result, peak) = process_inbound(demo.path(), &pgp_mime(&armored), "nested");
    assert_quarantined(&result, "nests compressed data");
    assert!(peak < PEAK_LIMIT_KIB, "peak RSS {peak} KiB");
}

/// A legitimate compressed mail whose plaintext (a 12 MiB base64
/// attachment of a sparse file) is far larger than what the gateway holds
/// in memory: decrypted as a stream and delivered, under 64 MiB.
#[test]
fn a_large_compressed_mail_is_decrypted_as_a_stream() {
    let demo = demo();
    let gpg = Gpg::new(demo.path());
    let armored = gpg.encrypt_stream(
        "{ printf 'Content-Type: application/octet-stream\\r\\nContent-Transfer-Encoding: base64\\r\\n\\r\\n'; \
         head -c 9M /dev/zero | base64; }",
    );
    let mail = pgp_mime(&armored);
    assert!(mail.len() < 4 * 1024 * 1024, "{}", mail.len());
    let (result, peak) = process_inbound(demo.path(), &mail, "large");
    eprintln!("12 MiB compressed mail: peak RSS {peak} KiB");
    assert_eq!(kinds(&result), ["deliver"], "{result:#}");
    let name = result["dispositions"][0]["message"].as_str().unwrap();
    let delivered = std::fs::read(demo.path().join("out-large").join(name)).unwrap();
    assert!(delivered.len() > 12 * 1024 * 1024);
    assert!(
        String::from_utf8_lossy(&delivered[..4096]).contains("pgp; result=decrypted"),
        "{}",
        String::from_utf8_lossy(&delivered[..4096])
    );
    assert!(peak < PEAK_LIMIT_KIB, "peak RSS {peak} KiB");
}

/// The organisation's OpenPGP key is RSA (made by gpg): the session key
/// of gpg's encryption is opened by the constant-time decryptor, as the
/// audit record says.
#[test]
fn an_rsa_organisation_key_decrypts_in_constant_time() {
    let demo = demo();
    let gpg = Gpg {
        home: tempfile::tempdir().unwrap(),
    };
    gpg.sh(
        "gpg --batch --passphrase '' --quick-gen-key 'Alice <alice@behoerde.example>' rsa3072 sign,cert never \
         && fpr=$(gpg --with-colons --list-keys alice@behoerde.example | awk -F: '/^fpr/ {print $10; exit}') \
         && gpg --batch --passphrase '' --quick-add-key \"$fpr\" rsa3072 encr never \
         && gpg --batch --armor --export-secret-keys alice@behoerde.example > \"$GNUPGHOME/secret.asc\"",
    );
    // The key replaces the demo's Curve25519 key for alice.
    let bytes = std::fs::read(gpg.home.path().join("secret.asc")).unwrap();
    std::fs::write(demo.path().join("pki/alice.sec.asc"), bytes).unwrap();
    let armored = gpg.sh(
        "printf 'Content-Type: text/plain\\r\\n\\r\\nvertraulich\\r\\n' | gpg --batch --trust-model always \
         --armor --encrypt --recipient alice@behoerde.example",
    );
    let (result, _) = process_inbound(demo.path(), &pgp_mime(&armored), "rsa");
    assert_eq!(kinds(&result), ["deliver"], "{result:#}");
    let steps = result["audit"]["steps"].as_array().unwrap();
    let decrypt = steps
        .iter()
        .find(|s| s["action"] == "decrypt")
        .expect("a decrypt step");
    assert_eq!(
        decrypt["result"], "decrypted (secret key: constant-time-rsa)",
        "{decrypt:#}"
    );
}

/// `[limits] max_decrypted_size` in mailgate.toml: the same legitimate
/// 12 MiB mail is quarantined when the organisation allows 1 MiB.
#[test]
fn the_configured_decryption_limit_applies() {
    let demo = demo();
    let config = demo.path().join("mailgate.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[limits]\nmax_decrypted_size = 1048576\n");
    std::fs::write(&config, text).unwrap();
    let gpg = Gpg::new(demo.path());
    let armored = gpg.encrypt_stream(
        "{ printf 'Content-Type: application/octet-stream\\r\\nContent-Transfer-Encoding: base64\\r\\n\\r\\n'; \
         head -c 9M /dev/zero | base64; }",
    );
    let (result, _) = process_inbound(demo.path(), &pgp_mime(&armored), "configured");
    assert_quarantined(&result, "exceeds the limit of 1048576 bytes");
}
