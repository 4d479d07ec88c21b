//! proptest round trips through the public API: whatever the body, what we
//! sign verifies as signed by From and unwraps to the same content, and what
//! we encrypt decrypts to the same entity; a changed byte in the signed part
//! never verifies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use mail_message::{Entity, Envelope};
use pgp_core::{Decryptor, Encryptor, Signer, Verdict, Verifier};
use proptest::prelude::*;
use testkit::PgpSuite;

fn body() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            "[ -~]{0,80}",
            Just("From the start".to_owned()),
            Just("--boundary-like".to_owned()),
            Just("Grüße, café ✓".to_owned()),
            Just(".".to_owned()),
            Just("trailing space   ".to_owned()),
        ],
        0..12,
    )
    .prop_map(|lines| lines.join("\r\n") + "\r\n")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn signed_messages_verify_and_unwrap(body in body(), lf in any::<bool>()) {
        let alice = alice(PgpSuite::Cv25519);
        let mut original = message(ALICE, &body);
        if lf {
            original = String::from_utf8(original).unwrap().replace("\r\n", "\n").into_bytes();
        }
        let signed = Signer::new(alice.cert(), None).unwrap().sign_message(&original).unwrap();
        let report = Verifier::new([public(&alice)]).verify_message(&signed).unwrap();
        prop_assert_eq!(report.verdict(), Verdict::SignedByFrom);
        let unwrapped = report.unwrapped_message().unwrap();
        let inner = Envelope::split(unwrapped).unwrap();
        let entity = Entity::parse(inner.inner()).unwrap();
        prop_assert_eq!(
            mail_message::canonicalize(&entity.decoded_body().unwrap()),
            mail_message::canonicalize(body.as_bytes())
        );
    }

    #[test]
    fn a_changed_byte_in_the_signed_part_never_verifies(body in body(), at in any::<proptest::sample::Index>()) {
        let alice = alice(PgpSuite::Cv25519);
        let signed = Signer::new(alice.cert(), None).unwrap().sign_message(&message(ALICE, &body)).unwrap();
        let parts = parts(&signed);
        let signed_part = &parts[0];
        // Change one byte of the signed part's body to another printable one.
        let body_start = signed_part.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        prop_assume!(signed_part.len() > body_start + 2);
        let offset = body_start + at.index(signed_part.len() - body_start - 2);
        let original = signed_part[offset];
        prop_assume!(original != b'\r' && original != b'\n');
        let mut changed = signed_part.clone();
        changed[offset] = if original == b'x' { b'y' } else { b'x' };
        let position = signed.windows(signed_part.len()).position(|w| w == &signed_part[..]).unwrap();
        let mut tampered = signed.clone();
        tampered[position..position + signed_part.len()].copy_from_slice(&changed);
        let report = Verifier::new([public(&alice)]).verify_message(&tampered).unwrap();
        prop_assert_ne!(report.verdict(), Verdict::SignedByFrom);
    }

    #[test]
    fn encrypted_messages_decrypt_to_the_same_entity(body in body(), sign in any::<bool>()) {
        let alice = alice(PgpSuite::Cv25519);
        let bob = bob(PgpSuite::Cv25519);
        let original = message(ALICE, &body);
        let mut encryptor = Encryptor::new([public(&bob)]);
        if sign {
            encryptor = encryptor.with_signer(Signer::new(alice.cert(), None).unwrap());
        }
        let encrypted = encryptor.encrypt_message(&original).unwrap();
        let decrypted = Decryptor::new([bob.cert().clone()])
            .with_verifier(Verifier::new([public(&alice)]))
            .decrypt_message(&encrypted)
            .unwrap();
        prop_assert_eq!(
            Envelope::split(decrypted.message()).unwrap().inner().to_vec(),
            Envelope::split(&original).unwrap().inner().to_vec()
        );
        let expected = if sign { Verdict::SignedByFrom } else { Verdict::Unsigned };
        prop_assert_eq!(decrypted.verification().verdict(), expected);
    }
}
