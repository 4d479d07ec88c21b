//! Issue 16, finding 7, as a class: an encrypted part (S/MIME from
//! `openssl cms -encrypt`, PGP/MIME from `gpg --encrypt`) anywhere below a
//! multipart top level, among generated clear siblings, nested
//! `multipart/*` levels and `message/rfc822` wrappers, is never taken for
//! the message: what the gateway hands on ends with every byte it received,
//! marked `result=partial-not-decrypted`, and is never `valid`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::OnceLock;

use common::*;
use gateway_facade::Envelope;
use proptest::prelude::*;

/// The two encrypted parts, made once by the real peers.
fn encrypted_parts() -> &'static [(&'static str, Vec<u8>); 2] {
    static PARTS: OnceLock<[(&'static str, Vec<u8>); 2]> = OnceLock::new();
    PARTS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let alice = smime("alice@behoerde.example")
            .write_to(dir.path(), "alice")
            .unwrap();
        let entity = b"Content-Type: text/plain\r\n\r\nGeheimer Inhalt\r\n";
        let smime = run(
            "openssl",
            &[
                "cms",
                "-encrypt",
                "-aes256",
                alice.certificate_pem.to_str().unwrap(),
            ],
            entity,
            dir.path(),
        );
        let key = pgp("alice@behoerde.example");
        let home = gpg_home(&[&key]);
        let armored = gpg_encrypt(&home, "alice@behoerde.example", entity);
        let mut pgp = b"Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"ENC\"\r\n\r\n\
            --ENC\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n\
            --ENC\r\nContent-Type: application/octet-stream\r\n\r\n"
            .to_vec();
        pgp.extend_from_slice(&armored);
        pgp.extend_from_slice(b"\r\n--ENC--\r\n");
        [("smime", smime), ("pgp", pgp)]
    })
}

/// One level around the encrypted part: a multipart of `subtype` with
/// `siblings` clear parts and the part at `position`, optionally inside a
/// `message/rfc822` part.
#[derive(Debug, Clone)]
struct Level {
    subtype: &'static str,
    siblings: usize,
    position: usize,
    rfc822: bool,
}

fn level() -> impl Strategy<Value = Level> {
    (
        prop::sample::select(vec!["mixed", "alternative", "related", "report"]),
        0usize..3,
        0usize..3,
        any::<bool>(),
    )
        .prop_map(|(subtype, siblings, position, rfc822)| Level {
            subtype,
            siblings,
            position,
            rfc822,
        })
}

fn wrap(inner: Vec<u8>, level: &Level, depth: usize) -> Vec<u8> {
    let inner = if level.rfc822 {
        let mut wrapped =
            b"Content-Type: message/rfc822\r\n\r\nFrom: carol@extern.example\r\nSubject: Fwd\r\n"
                .to_vec();
        wrapped.extend_from_slice(&inner);
        wrapped
    } else {
        inner
    };
    let boundary = format!("B{depth}");
    let mut parts: Vec<Vec<u8>> = (0..level.siblings)
        .map(|i| format!("Content-Type: text/plain\r\n\r\nKlartext {depth}.{i}\r\n").into_bytes())
        .collect();
    parts.insert(level.position.min(parts.len()), inner);
    let mut out = format!(
        "Content-Type: multipart/{}; boundary=\"{boundary}\"\r\n\r\n",
        level.subtype
    )
    .into_bytes();
    for part in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        out.extend_from_slice(&part);
        if !part.ends_with(b"\r\n") {
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn an_encrypted_part_below_the_top_level_is_delivered_as_received(
        method in 0usize..2,
        levels in prop::collection::vec(level(), 1..4),
    ) {
        let (name, part) = &encrypted_parts()[method];
        let mut body = part.clone();
        for (depth, level) in levels.iter().enumerate() {
            body = wrap(body, level, depth);
        }
        let mut message = b"From: bob@partner.example\r\nTo: alice@behoerde.example\r\n\
            Subject: Struktur\r\nMIME-Version: 1.0\r\n"
            .to_vec();
        message.extend_from_slice(&body);
        let gateway = gateway(directory());
        let outcome = gateway.process(
            &Envelope::inbound("bob@partner.example", ["alice@behoerde.example"]),
            &message,
        );
        for disposition in &outcome.dispositions {
            let handed_on = disposition.message().expect("a message").to_vec().unwrap();
            let text = String::from_utf8_lossy(&handed_on).into_owned();
            prop_assert!(handed_on.ends_with(&message), "{}", text);
            let expected = format!(
                "X-Mailgate-Decryption: {name}; result=partial-not-decrypted; coverage=partial"
            );
            prop_assert!(text.contains(&expected), "{}", text);
            prop_assert!(!text.contains("X-Mailgate-Signature: valid"), "{}", text);
            prop_assert!(!text.contains("Geheimer Inhalt"), "{}", text);
        }
        prop_assert!(!outcome.dispositions.is_empty());
    }
}
