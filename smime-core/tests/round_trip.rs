//! Property tests: for random MIME bodies (text and binary, 8-bit, bare LF,
//! long lines, multiparts) and sizes, what we sign verifies as signed by
//! From and unwraps to the same content, and what we encrypt decrypts to the
//! same message, for every key kind, form and cipher.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use proptest::prelude::*;
use smime_core::mime::{Entity, Multipart};
use smime_core::{ContentEncryption, Encryptor, SignatureForm, Verdict, decrypt_message};
use testkit::KeyKind;

const KINDS: [KeyKind; 2] = [KeyKind::P256, KeyKind::Rsa2048];

/// A body entity: a leaf of random bytes, or a multipart of two leaves.
#[derive(Debug, Clone)]
struct Body {
    parts: Vec<(String, Vec<u8>)>,
}

fn leaf() -> impl Strategy<Value = (String, Vec<u8>)> {
    (
        prop_oneof![
            Just("text/plain; charset=utf-8".to_owned()),
            Just("application/octet-stream".to_owned()),
            Just("text/html".to_owned()),
        ],
        prop_oneof![
            // Text with umlauts, bare LF and long lines.
            proptest::collection::vec(
                prop_oneof![
                    Just(b"Gr\xc3\xbc\xc3\x9fe".to_vec()),
                    Just(b"\n".to_vec()),
                    Just(b"\r\n".to_vec()),
                    Just(b"x".repeat(1200)),
                    "[ -~]{0,40}".prop_map(String::into_bytes)
                ],
                0..20
            )
            .prop_map(|chunks| chunks.concat()),
            // Arbitrary binary.
            proptest::collection::vec(any::<u8>(), 0..3000),
        ],
    )
}

fn body() -> impl Strategy<Value = Body> {
    proptest::collection::vec(leaf(), 1..=2).prop_map(|parts| Body { parts })
}

impl Body {
    /// The message: outer fields, then the body entity.
    fn message(&self) -> Vec<u8> {
        let mut out = b"From: prop@example.org\r\nTo: bob@example.org\r\nSubject: property\r\nMIME-Version: 1.0\r\n".to_vec();
        if let [(content_type, bytes)] = self.parts.as_slice() {
            out.extend_from_slice(
                format!(
                    "Content-Type: {content_type}\r\nContent-Transfer-Encoding: binary\r\n\r\n"
                )
                .as_bytes(),
            );
            out.extend_from_slice(bytes);
        } else {
            out.extend_from_slice(
                b"Content-Type: multipart/mixed; boundary=\"=_prop_boundary\"\r\n\r\n",
            );
            for (content_type, bytes) in &self.parts {
                out.extend_from_slice(format!("--=_prop_boundary\r\nContent-Type: {content_type}\r\nContent-Transfer-Encoding: binary\r\n\r\n").as_bytes());
                out.extend_from_slice(bytes);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"--=_prop_boundary--\r\n");
        }
        out
    }

    fn contains_boundary(&self) -> bool {
        self.parts
            .iter()
            .any(|(_, bytes)| bytes.windows(4).any(|w| w == b"--=_"))
    }
}

/// The decoded leaf bodies of a (canonical, 7-bit-safe) entity.
fn decoded_leaves(entity_bytes: &[u8]) -> Vec<Vec<u8>> {
    let entity = Entity::parse(entity_bytes).unwrap();
    let content_type = entity.content_type().unwrap();
    if content_type.is_multipart() {
        let multipart =
            Multipart::split(entity.body(), content_type.parameter("boundary").unwrap()).unwrap();
        multipart
            .parts()
            .iter()
            .flat_map(|p| decoded_leaves(p))
            .collect()
    } else {
        vec![entity.decoded_body().unwrap()]
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn signed_messages_verify_and_keep_their_content(body in body(), kind in 0..2usize, opaque in any::<bool>()) {
        prop_assume!(!body.contains_boundary());
        let form = if opaque { SignatureForm::Opaque } else { SignatureForm::Detached };
        let signed = common::signer("prop@example.org", KINDS[kind]).sign_message(&body.message(), form).unwrap();
        let report = common::verifier()
            .verify_message(&signed)
            .unwrap();
        prop_assert_eq!(report.verdict(), Verdict::SignedByFrom);
        // The unwrapped message's top-level Content-Type is the signed
        // entity's, so its leaves are the signed leaves.
        let leaves = decoded_leaves(report.unwrapped_message().unwrap());
        // Every part is `Content-Transfer-Encoding: binary`: signing keeps
        // its bytes exactly, bare LF and CR included (RFC 8551 3.1.1).
        let expected: Vec<Vec<u8>> = body.parts.iter().map(|(_, b)| b.clone()).collect();
        prop_assert_eq!(leaves, expected);
    }

    #[test]
    fn encrypted_messages_decrypt_to_the_same_message(body in body(), kind in 0..2usize, cipher in 0..4usize) {
        let ciphers = [
            ContentEncryption::Aes128Cbc,
            ContentEncryption::Aes256Cbc,
            ContentEncryption::Aes128Gcm,
            ContentEncryption::Aes256Gcm,
        ];
        prop_assume!(!body.contains_boundary());
        let message = body.message();
        let encrypted = Encryptor::new([common::certificate("prop@example.org", KINDS[kind])])
            .unwrap()
            .with_cipher(ciphers[cipher])
            .encrypt_message(&message)
            .unwrap();
        let decrypted = decrypt_message(&encrypted, &common::identity("prop@example.org", KINDS[kind])).unwrap();
        prop_assert_eq!(decrypted.encryption(), ciphers[cipher]);
        // The outer fields come back as they were; every part is
        // `Content-Transfer-Encoding: binary`, so it is encrypted as base64
        // of its exact bytes (bare LF and CR included) and comes back so.
        let outer_end = message.windows(4).position(|w| w == b"MIME").unwrap();
        prop_assert!(decrypted.message().starts_with(&message[..outer_end]));
        prop_assert!(!decrypted.message().windows(6).any(|w| w == b"binary"));
        let expected: Vec<Vec<u8>> = body.parts.iter().map(|(_, b)| b.clone()).collect();
        prop_assert_eq!(decoded_leaves(decrypted.message()), expected);
    }
}
