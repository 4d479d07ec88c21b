//! The fuzz seed corpora for CMS and whole messages must reach deep code:
//! every committed seed decrypts (or verifies) with testkit's deterministic
//! `fuzz@example.org` identities. A testkit change that alters those
//! certificates would otherwise silently turn the seeds into "not for us".
//!
//! `MAILGATE_REGENERATE_SEEDS=1 cargo test -p smime-core --test fuzz_seeds`
//! rewrites the seeds (OpenSSL encrypts and signs, so the corpora also hold
//! BER and peer-made structures) before checking them.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};

use smime_core::{
    Certificate, ContentEncryption, Encryptor, PrivateKey, SignatureForm, Signer, Verdict,
    Verifier, decrypt_cms, decrypt_message,
};
use testkit::{KeyKind, pki, run_peer};

const ADDRESS: &str = "fuzz@example.org";

fn corpus(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

fn regenerate() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    pki()
        .smime(ADDRESS, KeyKind::P256)
        .write_to(dir, "ec")
        .unwrap();
    pki()
        .smime(ADDRESS, KeyKind::Rsa2048)
        .write_to(dir, "rsa")
        .unwrap();
    std::fs::write(
        dir.join("inner.txt"),
        "Content-Type: text/plain\r\n\r\nfuzz seed\r\n",
    )
    .unwrap();
    let openssl = |args: &[&str]| {
        run_peer("openssl", args, dir);
    };

    // Raw CMS for decrypt_cms: OpenSSL DER and streamed BER, and ours.
    let cms = corpus("decrypt_cms");
    std::fs::create_dir_all(&cms).unwrap();
    for entry in std::fs::read_dir(&cms).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    for (name, cipher, recip, extra) in [
        ("ec-aes-128-cbc.der", "-aes-128-cbc", "ec.cert.pem", &[][..]),
        (
            "ec-aes-128-cbc-stream.ber",
            "-aes-128-cbc",
            "ec.cert.pem",
            &["-stream"][..],
        ),
        ("ec-aes-256-gcm.der", "-aes-256-gcm", "ec.cert.pem", &[][..]),
        (
            "ec-aes-256-gcm-stream.ber",
            "-aes-256-gcm",
            "ec.cert.pem",
            &["-stream"][..],
        ),
    ] {
        let mut args = vec![
            "cms",
            "-encrypt",
            "-binary",
            "-outform",
            "DER",
            cipher,
            "-in",
            "inner.txt",
            "-out",
            name,
        ];
        args.extend_from_slice(extra);
        args.push(recip);
        openssl(&args);
        std::fs::copy(dir.join(name), cms.join(name)).unwrap();
    }
    openssl(&[
        "cms",
        "-encrypt",
        "-binary",
        "-outform",
        "DER",
        "-aes-128-cbc",
        "-in",
        "inner.txt",
        "-out",
        "rsa-oaep.der",
        "-recip",
        "rsa.cert.pem",
        "-keyopt",
        "rsa_padding_mode:oaep",
    ]);
    std::fs::copy(dir.join("rsa-oaep.der"), cms.join("rsa-oaep.der")).unwrap();
    let ours = Encryptor::new([
        common::certificate(ADDRESS, KeyKind::P256),
        common::certificate(ADDRESS, KeyKind::Rsa2048),
    ])
    .unwrap()
    .encrypt_cms(b"Content-Type: text/plain\r\n\r\nours\r\n")
    .unwrap();
    std::fs::write(cms.join("ours-two-recipients.der"), ours).unwrap();

    // Whole messages for smime_message: encrypted, signed both ways, partial.
    let messages = corpus("smime_message");
    std::fs::create_dir_all(&messages).unwrap();
    for entry in std::fs::read_dir(&messages).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    let message = b"From: fuzz@example.org\r\nTo: fuzz@example.org\r\nSubject: seed\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGr\xc3\xbc\xc3\x9fe\r\n";
    let signer = Signer::new(
        common::certificate(ADDRESS, KeyKind::P256),
        &PrivateKey::load(pki().smime(ADDRESS, KeyKind::P256).private_key_der(), None).unwrap(),
    )
    .unwrap()
    .with_chain(
        pki()
            .smime(ADDRESS, KeyKind::P256)
            .chain_der()
            .iter()
            .map(|d| Certificate::from_der(d).unwrap()),
    );
    let detached = signer
        .sign_message(message, SignatureForm::Detached)
        .unwrap();
    let opaque = signer.sign_message(message, SignatureForm::Opaque).unwrap();
    let encrypted = Encryptor::new([common::certificate(ADDRESS, KeyKind::Rsa2048)])
        .unwrap()
        .with_cipher(ContentEncryption::Aes128Cbc)
        .encrypt_message(&detached)
        .unwrap();
    let gcm = Encryptor::new([common::certificate(ADDRESS, KeyKind::P256)])
        .unwrap()
        .encrypt_message(message)
        .unwrap();
    let detached_text = String::from_utf8(detached.clone()).unwrap();
    let (_, signed_body) = detached_text.split_once("\r\n\r\n").unwrap();
    let content_type = detached_text
        .lines()
        .skip_while(|l| !l.starts_with("Content-Type"))
        .take_while(|l| l.starts_with("Content-Type") || l.starts_with('\t'))
        .collect::<Vec<_>>()
        .join("\r\n");
    let partial = format!(
        "From: fuzz@example.org\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\n\r\nunsigned\r\n--outer\r\n{content_type}\r\n\r\n{signed_body}\r\n--outer--\r\n"
    );
    for (name, bytes) in [
        ("signed-detached.eml", detached),
        ("signed-opaque.eml", opaque),
        ("signed-then-encrypted-cbc.eml", encrypted),
        ("encrypted-gcm.eml", gcm),
        ("partially-signed.eml", partial.into_bytes()),
    ] {
        std::fs::write(messages.join(name), bytes).unwrap();
    }
    openssl(&[
        "cms",
        "-sign",
        "-in",
        "inner.txt",
        "-signer",
        "rsa.cert.pem",
        "-inkey",
        "rsa.key.pem",
        "-from",
        ADDRESS,
        "-nodetach",
        "-stream",
        "-out",
        "openssl-opaque-stream.eml",
    ]);
    std::fs::copy(
        dir.join("openssl-opaque-stream.eml"),
        messages.join("openssl-opaque-stream.eml"),
    )
    .unwrap();
}

#[test]
fn seeds_reach_decryption_and_verification() {
    if std::env::var_os("MAILGATE_REGENERATE_SEEDS").is_some() {
        regenerate();
    }
    let identities = [
        common::identity(ADDRESS, KeyKind::P256),
        common::identity(ADDRESS, KeyKind::Rsa2048),
    ];

    let mut cms_seeds = 0;
    for entry in std::fs::read_dir(corpus("decrypt_cms")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let opened = identities.iter().any(|id| decrypt_cms(&bytes, id).is_ok());
        assert!(
            opened,
            "{} no longer decrypts: regenerate the seeds",
            path.display()
        );
        cms_seeds += 1;
    }
    assert!(cms_seeds >= 5);

    let verifier = Verifier::new([Certificate::from_der(pki().root().certificate_der()).unwrap()]);
    let mut message_seeds = 0;
    for entry in std::fs::read_dir(corpus("smime_message")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let decrypted = identities
            .iter()
            .find_map(|id| decrypt_message(&bytes, id).ok())
            .map(|d| d.message().to_vec());
        let was_encrypted = decrypted.is_some();
        let candidate = decrypted.unwrap_or(bytes);
        let signed = verifier
            .verify_message(&candidate)
            .is_ok_and(|report| report.verdict() != Verdict::Unsigned);
        let reached = was_encrypted || signed;
        assert!(
            reached,
            "{} reaches neither decryption nor verification",
            path.display()
        );
        message_seeds += 1;
    }
    assert!(message_seeds >= 5);
}
