//! A message with a 20 MB attachment through `mailgate smime` and `openssl
//! cms`, both directions: we encrypt and OpenSSL decrypts, OpenSSL encrypts
//! (`-stream`) and we decrypt, we sign and OpenSSL verifies, OpenSSL signs
//! (`-stream`) and we verify. Files in, files out: the commands stream.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs::File;
use std::path::Path;
use std::process::Command;

use testkit::{KeyKind, pki, run_peer};

/// Runs `mailgate ARGS < input > output` in `dir`; returns the exit code.
fn mailgate(dir: &Path, args: &[&str], input: &str, output: &str) -> Option<i32> {
    let status = Command::new(env!("CARGO_BIN_EXE_mailgate"))
        .args(args)
        .current_dir(dir)
        .stdin(File::open(dir.join(input)).unwrap())
        .stdout(File::create(dir.join(output)).unwrap())
        .status()
        .unwrap();
    status.code()
}

/// The inner entity (Content-* fields and body) and the whole message: a
/// text part and a 20 MB base64 attachment of pseudo-random bytes.
fn large_message() -> (Vec<u8>, Vec<u8>) {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let attachment: Vec<u8> = (0..15 * 1024 * 1024)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    let mut inner = b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    inner.extend_from_slice(&smime_core::mime::encode_base64(
        &attachment,
        smime_core::mime::LineBreak::Crlf,
    ));
    inner.extend_from_slice(b"--b1--\r\n");
    assert!(inner.len() > 20 * 1000 * 1000);
    let message = [
        b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
            .as_slice(),
        &inner,
    ]
    .concat();
    (inner, message)
}

#[test]
fn twenty_megabyte_attachment_both_directions_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    pki()
        .smime("alice@example.org", KeyKind::Rsa2048)
        .write_to(dir, "alice")
        .unwrap();
    pki()
        .smime("bob@example.org", KeyKind::P256)
        .write_to(dir, "bob")
        .unwrap();
    std::fs::write(dir.join("root.pem"), pki().root().certificate_pem()).unwrap();
    let (inner, message) = large_message();
    std::fs::write(dir.join("message.eml"), &message).unwrap();
    std::fs::write(dir.join("inner.eml"), &inner).unwrap();

    // We encrypt, OpenSSL decrypts.
    let code = mailgate(
        dir,
        &["smime", "encrypt", "--to", "bob.cert.pem"],
        "message.eml",
        "encrypted.eml",
    );
    assert_eq!(code, Some(0));
    run_peer(
        "openssl",
        &[
            "cms",
            "-decrypt",
            "-binary",
            "-in",
            "encrypted.eml",
            "-recip",
            "bob.cert.pem",
            "-inkey",
            "bob.key.pem",
            "-out",
            "decrypted-by-openssl.eml",
        ],
        dir,
    );
    assert!(std::fs::read(dir.join("decrypted-by-openssl.eml")).unwrap() == inner);

    // OpenSSL encrypts (streamed BER), we decrypt.
    run_peer(
        "openssl",
        &[
            "cms",
            "-encrypt",
            "-stream",
            "-binary",
            "-aes-256-gcm",
            "-in",
            "message.eml",
            "-out",
            "encrypted-by-openssl.eml",
            "bob.cert.pem",
        ],
        dir,
    );
    let code = mailgate(
        dir,
        &[
            "smime",
            "decrypt",
            "--cert",
            "bob.cert.pem",
            "--key",
            "bob.key.pem",
        ],
        "encrypted-by-openssl.eml",
        "decrypted.eml",
    );
    assert_eq!(code, Some(0));
    // OpenSSL encrypted the whole file (its fields inside); its output has
    // LF line breaks, which the decrypted message takes on.
    let decrypted =
        smime_core::mime::canonicalize(&std::fs::read(dir.join("decrypted.eml")).unwrap());
    assert!(decrypted.ends_with(&inner[inner.len() - 4096..]));
    assert!(decrypted.len() >= message.len());

    // We sign, OpenSSL verifies and hands out the signed entity.
    let code = mailgate(
        dir,
        &[
            "smime",
            "sign",
            "--cert",
            "alice.cert.pem",
            "--key",
            "alice.key.pem",
            "--chain",
            "alice.chain.pem",
        ],
        "message.eml",
        "signed.eml",
    );
    assert_eq!(code, Some(0));
    run_peer(
        "openssl",
        &[
            "cms",
            "-verify",
            "-in",
            "signed.eml",
            "-CAfile",
            "root.pem",
            "-out",
            "verified-by-openssl.eml",
        ],
        dir,
    );
    assert!(std::fs::read(dir.join("verified-by-openssl.eml")).unwrap() == inner);

    // OpenSSL signs (streamed), we verify and unwrap.
    run_peer(
        "openssl",
        &[
            "cms",
            "-sign",
            "-stream",
            "-in",
            "inner.eml",
            "-signer",
            "alice.cert.pem",
            "-inkey",
            "alice.key.pem",
            "-certfile",
            "alice.chain.pem",
            "-from",
            "alice@example.org",
            "-out",
            "signed-by-openssl.eml",
        ],
        dir,
    );
    let code = mailgate(
        dir,
        &[
            "smime",
            "verify",
            "--trust",
            "root.pem",
            "--output",
            "unwrapped.eml",
        ],
        "signed-by-openssl.eml",
        "report.txt",
    );
    let report = std::fs::read_to_string(dir.join("report.txt")).unwrap();
    assert_eq!(code, Some(0), "{report}");
    let unwrapped =
        smime_core::mime::canonicalize(&std::fs::read(dir.join("unwrapped.eml")).unwrap());
    assert!(unwrapped.starts_with(b"From: alice@example.org"));
    assert!(unwrapped.ends_with(&inner[inner.len() - 4096..]));
}
