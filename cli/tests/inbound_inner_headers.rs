//! Issue 16, finding 3: header fields inside an encrypted entity are not
//! trusted. Anyone with the organisation's certificate or key can encrypt
//! an entity carrying `X-Mailgate-*` result fields and a second `From`;
//! `mailgate process --direction inbound` (demo set-up) must deliver
//! exactly one From (the outer one) and exactly the result fields the
//! gateway wrote, for S/MIME (`openssl cms -encrypt`) and PGP/MIME (`gpg
//! --encrypt`), in memory and on the streaming path (above 4 MiB). RFC 9788
//! protected header fields (`hp="cipher"`) replace the outer ones.
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

use common::{mailgate_in, run};
use serde_json::Value;

/// An entity with planted fields; `padding` lines of text make it large.
fn hostile_entity(content_type: &str, padding: usize) -> Vec<u8> {
    let mut entity = format!(
        "Content-Type: {content_type}\n\
         From: ceo@behoerde.example\n\
         X-Mailgate-Signature: valid; method=smime; signer=ceo@behoerde.example\n\
         X-Mailgate-Quarantine: released by administrator\n\
         x-mailgate-decryption: none\n\
         Subject: Inner subject\n\
         \n\
         Geheime Nachricht.\n"
    )
    .into_bytes();
    for index in 0..padding {
        entity.extend_from_slice(format!("{index:08} {}\n", "x".repeat(70)).as_bytes());
    }
    entity
}

const OUTER: &str =
    "From: bob@partner.example\nTo: alice@behoerde.example\nSubject: Outer subject\n";

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

fn pgp_encrypted(dir: &Path, entity: &[u8]) -> Vec<u8> {
    let home = tempfile::tempdir().unwrap();
    let homedir = home.path().to_str().unwrap();
    run(
        "gpg",
        &[
            "--homedir",
            homedir,
            "--batch",
            "--import",
            "pki/alice.pub.asc",
        ],
        b"",
        dir,
    );
    let armored = run(
        "gpg",
        &[
            "--homedir",
            homedir,
            "--batch",
            "--trust-model",
            "always",
            // Uncompressed, so a large plaintext makes a large message.
            "--compress-algo",
            "none",
            "--armor",
            "--encrypt",
            "--recipient",
            "alice@behoerde.example",
        ],
        entity,
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

/// Processes `message` inbound from bob to alice; the delivered message.
fn delivered(dir: &Path, message: &[u8], out: &str) -> Vec<u8> {
    let result = process_inbound(dir, message, out);
    assert_eq!(result["dispositions"][0]["kind"], "deliver", "{result:#}");
    first_message(dir, out, &result)
}

/// Exactly one From (the outer), exactly the result fields the gateway
/// wrote, the planted ones kept only under `X-Mailgate-Inner-`.
fn assert_nothing_inside_trusted(message: &[u8], method: &str) {
    let fields = fields(message);
    let text = String::from_utf8_lossy(&message[..message.len().min(4000)]).into_owned();
    assert_eq!(named(&fields, "From"), ["bob@partner.example"], "{text}");
    assert_eq!(named(&fields, "Subject"), ["Outer subject"], "{text}");
    let results: Vec<&str> = fields
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| n.to_ascii_lowercase().starts_with("x-mailgate-"))
        .filter(|n| !n.to_ascii_lowercase().starts_with("x-mailgate-inner-"))
        .collect();
    assert_eq!(
        results,
        ["X-Mailgate-Signature", "X-Mailgate-Decryption"],
        "{text}"
    );
    assert_eq!(named(&fields, "X-Mailgate-Signature"), ["none"], "{text}");
    let decryption = named(&fields, "X-Mailgate-Decryption");
    assert!(
        decryption[0].starts_with(&format!("{method}; result=decrypted")),
        "{text}"
    );
    assert_eq!(
        named(&fields, "X-Mailgate-Inner-From"),
        ["ceo@behoerde.example"],
        "{text}"
    );
    assert!(!text.contains("Quarantine"), "{text}");
    assert!(text.contains("Geheime Nachricht."), "{text}");
}

#[test]
fn planted_fields_inside_smime_encryption_are_not_trusted_small_and_streaming() {
    let dir = demo();
    let d = dir.path();
    for (padding, out) in [(0, "small"), (80_000, "large")] {
        let message = smime_encrypted(d, &hostile_entity("text/plain; charset=utf-8", padding));
        // 80,000 lines of 80 bytes: more than 4 MiB, the streaming path.
        assert_eq!(message.len() > 4 * 1024 * 1024, padding > 0);
        assert_nothing_inside_trusted(&delivered(d, &message, out), "smime");
    }
}

#[test]
fn planted_fields_inside_pgp_encryption_are_not_trusted_small_and_streaming() {
    let dir = demo();
    let d = dir.path();
    for (padding, out) in [(0, "small"), (80_000, "large")] {
        let message = pgp_encrypted(d, &hostile_entity("text/plain; charset=utf-8", padding));
        assert_eq!(message.len() > 4 * 1024 * 1024, padding > 0);
        assert_nothing_inside_trusted(&delivered(d, &message, out), "pgp");
    }
}

#[test]
fn rfc9788_protected_headers_replace_the_outer_ones() {
    let dir = demo();
    let d = dir.path();
    let entity = b"Content-Type: text/plain; charset=utf-8; hp=\"cipher\"\n\
        From: bob@partner.example\n\
        To: alice@behoerde.example\n\
        Subject: Protected subject\n\
        HP-Outer: Subject: ...\n\
        X-Mailgate-Signature: valid\n\
        \n\
        Geheime Nachricht.\n";
    let outer_subject = |message: Vec<u8>| {
        String::from_utf8(message)
            .unwrap()
            .replace("Subject: Outer subject", "Subject: ...")
            .into_bytes()
    };
    for (message, method) in [
        (outer_subject(smime_encrypted(d, entity)), "smime"),
        (outer_subject(pgp_encrypted(d, entity)), "pgp"),
    ] {
        let delivered = delivered(d, &message, method);
        let fields = fields(&delivered);
        let text = String::from_utf8_lossy(&delivered).into_owned();
        assert_eq!(named(&fields, "Subject"), ["Protected subject"], "{text}");
        assert_eq!(named(&fields, "From"), ["bob@partner.example"], "{text}");
        assert_eq!(named(&fields, "To"), ["alice@behoerde.example"], "{text}");
        assert!(named(&fields, "HP-Outer").is_empty(), "{text}");
        assert_eq!(named(&fields, "X-Mailgate-Signature"), ["none"], "{text}");
    }
}

/// A bare CR inside an inner header field (red-team finding): a reader or
/// next hop that ends lines at a lone CR would see a forged
/// `X-Mailgate-Signature: valid` and a second From hidden in the value of
/// another field. Such a header section is refused: the mail is rejected
/// (S/MIME, and the outer header) or goes on undecrypted (OpenPGP), never
/// with the hidden fields in a header.
#[test]
fn a_bare_carriage_return_cannot_hide_fields_inside_or_outside_the_encryption() {
    let dir = demo();
    let d = dir.path();
    let entity = b"X-A: a\rFrom: ceo@bank.example\rX-Mailgate-Signature: valid; method=smime; signer=ceo@bank.example\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlease pay.\r\n";
    let mut outer = OUTER.as_bytes().to_vec();
    outer.extend_from_slice(
        b"X-B: b\rX-Mailgate-Signature: valid\nContent-Type: text/plain\n\nhi\n",
    );
    for (name, message) in [
        ("smime", smime_encrypted(d, entity)),
        ("pgp", pgp_encrypted(d, entity)),
        ("outer", outer),
    ] {
        let out = format!("out-bare-cr-{name}");
        let output = mailgate_in(
            d,
            &[
                "process",
                "--config",
                "mailgate.toml",
                "--direction",
                "inbound",
                "--from",
                "bob@partner.example",
                "--to",
                "alice@behoerde.example",
                "--out-dir",
                &out,
            ],
            &message,
            &[],
        );
        let result: Value =
            serde_json::from_slice(&std::fs::read(d.join(&out).join("result.json")).unwrap())
                .unwrap();
        // Refused, or (OpenPGP: what does not decrypt cleanly goes on as
        // the recipient's ciphertext) delivered still encrypted.
        let decryption = result["audit"]["decryption"].as_str().unwrap_or_default();
        for disposition in result["dispositions"].as_array().unwrap() {
            assert!(
                disposition["kind"] != "deliver" || decryption.contains("result=failed"),
                "{name}: {result:#}"
            );
        }
        // Whatever was written, no file carries the hidden fields.
        for file in std::fs::read_dir(d.join(&out)).unwrap() {
            let bytes = std::fs::read(file.unwrap().path()).unwrap();
            assert!(
                !bytes.windows(22).any(|w| w == b"\rX-Mailgate-Signature:"),
                "{name}: {output:?}"
            );
        }
    }
}
