//! Issue 16, finding 3, on the command line: `mailgate smime decrypt` and
//! `mailgate pgp decrypt` sort out the header fields that come out of the
//! ciphertext exactly as the gateway does (`mail_message::merge_inner_header`,
//! one function for both). Anyone with the recipient's certificate or key
//! can plant `X-Mailgate-Signature: valid`, an `X-Mailgate-Quarantine` and a
//! second `From` inside; OpenSSL (`openssl cms -encrypt`) and GnuPG (`gpg
//! --encrypt`) write the hostile mail, and the decrypted output must have
//! exactly one From (the outer one) and no `X-Mailgate-*` field that is not
//! `X-Mailgate-Inner-*`. RFC 9788 protected headers (`hp="cipher"`) replace
//! the outer ones, on the command line as in the gateway.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{fields, first_message, named, process_inbound};

use testkit::openssl;

use common::demo;

use std::path::Path;

use common::{mailgate_in, ok};

const OUTER: &str =
    "From: bob@partner.example\nTo: alice@behoerde.example\nSubject: Outer subject\n";

/// An entity with planted fields, in any case, folded; `padding` lines of
/// text make it large.
fn hostile_entity(padding: usize) -> Vec<u8> {
    let mut entity = b"Content-Type: text/plain; charset=utf-8\n\
        From: ceo@behoerde.example\n\
        X-Mailgate-Signature: valid; method=smime;\n signer=ceo@behoerde.example\n\
        X-Mailgate-Quarantine: released by administrator\n\
        x-mailgate-decryption: none\n\
        FROM: \"Alice\" <alice@behoerde.example>\n\
        Sender: ceo@behoerde.example\n\
        Subject: Inner subject\n\
        \n\
        Geheime Nachricht.\n"
        .to_vec();
    for index in 0..padding {
        entity.extend_from_slice(format!("{index:08} {}\n", "x".repeat(70)).as_bytes());
    }
    entity
}

/// `entity` encrypted by `openssl cms -encrypt` to alice, under `OUTER`.
fn smime_encrypted(dir: &Path, entity: &[u8]) -> Vec<u8> {
    let encrypted = openssl::cms_encrypt(
        dir,
        &["-aes256"],
        &[Path::new("pki/alice.cert.pem")],
        entity,
    );
    let mut message = OUTER.as_bytes().to_vec();
    message.extend_from_slice(&encrypted);
    message
}

/// `entity` encrypted by `gpg --encrypt` to alice, as PGP/MIME under
/// `OUTER`.
fn pgp_encrypted(dir: &Path, entity: &[u8]) -> Vec<u8> {
    let home = tempfile::tempdir().unwrap();
    let homedir = home.path().to_str().unwrap();
    std::fs::write(dir.join("entity.txt"), entity).unwrap();
    testkit::run_peer(
        "gpg",
        &[
            "--homedir",
            homedir,
            "--batch",
            "--import",
            "pki/alice.pub.asc",
        ],
        dir,
    );
    let armored = testkit::run_peer(
        "gpg",
        &[
            "--homedir",
            homedir,
            "--batch",
            "--trust-model",
            "always",
            "--compress-algo",
            "none",
            "--armor",
            "--output",
            "-",
            "--encrypt",
            "--recipient",
            "alice@behoerde.example",
            "entity.txt",
        ],
        dir,
    );
    let mut message = format!(
        "{OUTER}MIME-Version: 1.0\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"ENC\"\n\n\
         --ENC\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n\
         --ENC\nContent-Type: application/octet-stream\n\n"
    )
    .into_bytes();
    message.extend_from_slice(&armored);
    message.extend_from_slice(b"\n--ENC--\n");
    message
}

/// `mailgate smime decrypt` or `mailgate pgp decrypt` with alice's keys.
fn decrypted(dir: &Path, method: &str, message: &[u8]) -> Vec<u8> {
    let args: &[&str] = match method {
        "smime" => &[
            "smime",
            "decrypt",
            "--cert",
            "pki/alice.cert.pem",
            "--key",
            "pki/alice.key.pem",
        ],
        _ => &["pgp", "decrypt", "--key", "pki/alice.sec.asc"],
    };
    ok(mailgate_in(dir, args, message, &[]))
}

/// Exactly one From (the outer one), the outer Subject, no `X-Mailgate-*`
/// field but `X-Mailgate-Inner-*`, the planted identity fields kept only
/// under `X-Mailgate-Inner-`, the body intact.
fn assert_nothing_inside_trusted(message: &[u8], context: &str) {
    let fields = fields(message);
    let text = String::from_utf8_lossy(&message[..message.len().min(4000)]).into_owned();
    assert_eq!(
        named(&fields, "From"),
        ["bob@partner.example"],
        "{context}: {text}"
    );
    assert_eq!(
        named(&fields, "Subject"),
        ["Outer subject"],
        "{context}: {text}"
    );
    assert!(named(&fields, "Sender").is_empty(), "{context}: {text}");
    for (name, _) in &fields {
        let lower = name.to_ascii_lowercase();
        assert!(
            !lower.starts_with("x-mailgate-") || lower.starts_with("x-mailgate-inner-"),
            "{context}: {name} survived: {text}"
        );
        assert!(
            !lower.starts_with("x-mailgate-inner-x-mailgate"),
            "{context}: {text}"
        );
    }
    assert_eq!(
        named(&fields, "X-Mailgate-Inner-From"),
        ["ceo@behoerde.example", "\"Alice\" <alice@behoerde.example>"],
        "{context}: {text}"
    );
    assert_eq!(
        named(&fields, "X-Mailgate-Inner-Sender"),
        ["ceo@behoerde.example"],
        "{context}: {text}"
    );
    assert_eq!(
        named(&fields, "X-Mailgate-Inner-Subject"),
        ["Inner subject"],
        "{context}: {text}"
    );
    assert!(!text.contains("Quarantine"), "{context}: {text}");
    assert!(!text.contains("signer="), "{context}: {text}");
    assert!(text.contains("Geheime Nachricht."), "{context}: {text}");
}

#[test]
fn smime_decrypt_does_not_trust_fields_planted_by_openssl_inside() {
    let dir = demo();
    let d = dir.path();
    // 80,000 lines of 80 bytes: the body passes through in pieces long
    // after the header section was written.
    for padding in [0, 80_000] {
        let message = smime_encrypted(d, &hostile_entity(padding));
        let output = decrypted(d, "smime", &message);
        assert_nothing_inside_trusted(&output, &format!("smime, {padding} lines"));
        if let Some(last) = padding.checked_sub(1) {
            let last_line = format!("{last:08} {}\n", "x".repeat(70));
            assert!(output.ends_with(last_line.as_bytes()));
        }
    }
}

#[test]
fn pgp_decrypt_does_not_trust_fields_planted_by_gpg_inside() {
    let dir = demo();
    let d = dir.path();
    for padding in [0, 80_000] {
        let message = pgp_encrypted(d, &hostile_entity(padding));
        let output = decrypted(d, "pgp", &message);
        assert_nothing_inside_trusted(&output, &format!("pgp, {padding} lines"));
    }
}

/// The command line and the gateway deliver the same header fields for the
/// same hostile mail, but for the result fields only the gateway writes.
#[test]
fn the_command_line_and_the_gateway_sort_inner_fields_alike() {
    let dir = demo();
    let d = dir.path();
    for method in ["smime", "pgp"] {
        let message = match method {
            "smime" => smime_encrypted(d, &hostile_entity(0)),
            _ => pgp_encrypted(d, &hostile_entity(0)),
        };
        let out = format!("out-{method}");
        let result = process_inbound(d, &message, &out);
        assert_eq!(result["dispositions"][0]["kind"], "deliver", "{result:#}");
        let delivered = first_message(d, &out, &result);
        let gateway: Vec<(String, String)> = fields(&delivered)
            .into_iter()
            .filter(|(n, _)| {
                let lower = n.to_ascii_lowercase();
                !lower.starts_with("x-mailgate-") || lower.starts_with("x-mailgate-inner-")
            })
            .collect();
        let command_line = fields(&decrypted(d, method, &message));
        assert_eq!(command_line, gateway, "{method}");
    }
}

#[test]
fn rfc9788_protected_headers_replace_the_outer_ones_on_the_command_line() {
    let dir = demo();
    let d = dir.path();
    let entity = b"Content-Type: text/plain; charset=utf-8; hp=\"cipher\"\n\
        From: bob@partner.example\n\
        To: alice@behoerde.example\n\
        Subject: Protected subject\n\
        HP-Outer: Subject: ...\n\
        X-Mailgate-Signature: valid\n\
        From: ceo@behoerde.example\n\
        \n\
        Geheime Nachricht.\n";
    for method in ["smime", "pgp"] {
        let message = match method {
            "smime" => smime_encrypted(d, entity),
            _ => pgp_encrypted(d, entity),
        };
        let message = String::from_utf8(message)
            .unwrap()
            .replace("Subject: Outer subject", "Subject: ...");
        let output = decrypted(d, method, message.as_bytes());
        let fields = fields(&output);
        let text = String::from_utf8_lossy(&output).into_owned();
        assert_eq!(named(&fields, "Subject"), ["Protected subject"], "{text}");
        assert_eq!(named(&fields, "From"), ["bob@partner.example"], "{text}");
        assert_eq!(
            named(&fields, "X-Mailgate-Inner-From"),
            ["ceo@behoerde.example"],
            "{text}"
        );
        assert!(named(&fields, "HP-Outer").is_empty(), "{text}");
        assert!(named(&fields, "X-Mailgate-Signature").is_empty(), "{text}");
    }
}
