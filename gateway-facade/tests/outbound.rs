//! Outbound processing, checked by the real peers: what the gateway sends
//! is opened with `openssl cms` and `gpg`; what it refuses never leaves.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::sync::Arc;

use common::*;
use gateway_facade::store::{Added, Directory, Entry, Kind, NewEntry, StoreError, TrustState};
use gateway_facade::{Disposition, Envelope};

#[test]
fn confidential_mail_to_an_smime_recipient_is_signed_encrypted_and_opens_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let directory = directory();
    let bob = smime("bob@partner.example");
    trust_smime(directory.as_ref(), &bob, TrustState::Trusted);
    let gateway = gateway(directory);
    let message = mail(
        "alice@behoerde.example",
        "bob@partner.example",
        "[Vertraulich] Akte 42",
        "Streng geheimer Inhalt",
    );
    let outcome = gateway.process(
        &Envelope::outbound("alice@behoerde.example", ["bob@partner.example"]),
        &message,
    );
    assert_eq!(outcome.dispositions.len(), 1, "{outcome:?}");
    let sent = &delivered(&outcome.dispositions[0]);
    let text = String::from_utf8_lossy(sent);
    assert!(!text.contains("Streng geheimer Inhalt"), "plaintext leaked");
    assert!(
        text.contains("Subject: Akte 42\r\n"),
        "tag not stripped: {text}"
    );

    let files = bob.write_to(dir.path(), "bob").unwrap();
    let decrypted = openssl_decrypt(&files, sent, dir.path());
    // Inside: alice's S/MIME signature, which OpenSSL verifies to the root.
    let verified = openssl_verify(&files.root_pem, &decrypted, dir.path());
    assert!(String::from_utf8_lossy(&verified).contains("Streng geheimer Inhalt"));

    // The organisation can read its sent mail: alice's own certificate is a recipient.
    let alice_files = smime("alice@behoerde.example")
        .write_to(dir.path(), "alice")
        .unwrap();
    openssl_decrypt(&alice_files, sent, dir.path());
    let decisions = outcome.audit.decisions.as_deref().unwrap_or_default();
    assert_eq!(decisions[0].decided_by.as_deref(), Some("confidential"));
}

#[test]
fn confidential_mail_to_a_pgp_recipient_opens_with_gpg() {
    let directory = directory();
    let carol = pgp("carol@extern.example");
    trust_pgp(directory.as_ref(), &carol, TrustState::Trusted);
    let gateway = gateway(directory);
    let message = mail(
        "alice@behoerde.example",
        "carol@extern.example",
        "[vertraulich] Bericht",
        "Vertraulicher Bericht",
    );
    let outcome = gateway.process(
        &Envelope::outbound("alice@behoerde.example", ["carol@extern.example"]),
        &message,
    );
    let sent = &delivered(&outcome.dispositions[0]);
    assert!(!String::from_utf8_lossy(sent).contains("Vertraulicher Bericht"));
    assert!(String::from_utf8_lossy(sent).contains("multipart/encrypted"));

    let home = gpg_home(&[&carol]);
    let part = payload_of_pgp_mime(sent);
    let plain = gpg_decrypt(&home, &part);
    let plain = String::from_utf8_lossy(&plain);
    // S/MIME is the preferred signature, so the encrypted entity is alice's
    // S/MIME-signed message.
    assert!(plain.contains("application/pkcs7-signature"), "{plain}");
    assert!(plain.contains("Vertraulicher Bericht"));
}

#[test]
fn no_key_and_no_fallback_rejects_with_a_notification_and_sends_nothing() {
    let directory = directory();
    // A pending certificate is not yet approved and must not be used.
    trust_smime(
        directory.as_ref(),
        &smime("erin@geheim.example"),
        TrustState::Pending,
    );
    let gateway = gateway(directory);
    let message = mail(
        "alice@behoerde.example",
        "erin@geheim.example",
        "[vertraulich] Geheim",
        "Geheimer Text",
    );
    let outcome = gateway.process(
        &Envelope::outbound("alice@behoerde.example", ["erin@geheim.example"]),
        &message,
    );
    match &outcome.dispositions[..] {
        [
            Disposition::Reject {
                recipients,
                notification,
                ..
            },
        ] => {
            assert_eq!(recipients, &["erin@geheim.example"]);
            let note = String::from_utf8_lossy(notification);
            assert!(note.contains("To: <alice@behoerde.example>"), "{note}");
            assert!(note.contains("erin@geheim.example"));
            assert!(
                !note.contains("Geheimer Text"),
                "the notification repeats the content"
            );
        }
        other => panic!("expected one reject, got {other:?}"),
    }
}

#[test]
fn recipients_with_different_treatment_get_different_copies() {
    let directory = directory();
    trust_smime(
        directory.as_ref(),
        &smime("bob@partner.example"),
        TrustState::Trusted,
    );
    let gateway = gateway(directory);
    let message = mail(
        "alice@behoerde.example",
        "bob@partner.example",
        "[vertraulich] x",
        "Inhalt",
    );
    let outcome = gateway.process(
        &Envelope::outbound(
            "alice@behoerde.example",
            [
                "bob@partner.example",
                "dave@extern.example",
                "BOB@partner.example",
            ],
        ),
        &message,
    );
    let bob = outcome.for_recipient("bob@partner.example").unwrap();
    assert_eq!(bob.kind(), "deliver");
    let dave = outcome.for_recipient("dave@extern.example").unwrap();
    assert_eq!(dave.kind(), "reject");
    for disposition in &outcome.dispositions {
        if let Some(sent) = disposition.message() {
            assert!(!String::from_utf8_lossy(&sent.to_vec().unwrap()).contains("Inhalt"));
        }
    }
}

#[test]
fn plain_outbound_mail_is_signed_and_openssl_verifies_it() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = gateway(directory());
    let message = mail(
        "alice@behoerde.example",
        "dave@extern.example",
        "Hallo",
        "Guten Tag",
    );
    let outcome = gateway.process(
        &Envelope::outbound("alice@behoerde.example", ["dave@extern.example"]),
        &message,
    );
    let sent = &delivered(&outcome.dispositions[0]);
    let files = smime("alice@behoerde.example")
        .write_to(dir.path(), "alice")
        .unwrap();
    let verified = openssl_verify(&files.root_pem, sent, dir.path());
    assert!(String::from_utf8_lossy(&verified).contains("Guten Tag"));
    // No TLS verdict is known for extern.example: no TLS requirement is
    // claimed as met.
    match &outcome.dispositions[0] {
        Disposition::Deliver { transport, .. } => assert_eq!(transport.require_tls, None),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_sender_without_keys_is_not_sent_unsigned() {
    let gateway = gateway(directory());
    let message = mail(
        "mallory@behoerde.example",
        "dave@extern.example",
        "Hi",
        "Text",
    );
    let outcome = gateway.process(
        &Envelope::outbound("mallory@behoerde.example", ["dave@extern.example"]),
        &message,
    );
    assert!(
        outcome.dispositions.iter().all(|d| d.kind() != "deliver"),
        "{outcome:?}"
    );
}

/// A directory that fails on every call, as a database that went away.
struct Unavailable;

impl Directory for Unavailable {
    fn trusted(&self, _: Kind, _: &str) -> Result<Vec<Entry>, StoreError> {
        Err(StoreError::Unavailable("injected fault".into()))
    }
    fn add(&self, _: &NewEntry, _: TrustState) -> Result<Added, StoreError> {
        Err(StoreError::Unavailable("injected fault".into()))
    }
    fn list(&self, _: Option<TrustState>) -> Result<Vec<Entry>, StoreError> {
        Err(StoreError::Unavailable("injected fault".into()))
    }
    fn set_state(&self, _: i64, _: TrustState) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("injected fault".into()))
    }
}

#[test]
fn a_failing_directory_defers_confidential_mail() {
    let gateway = gateway(Arc::new(Unavailable));
    let message = mail(
        "alice@behoerde.example",
        "bob@partner.example",
        "[vertraulich] x",
        "Geheim",
    );
    let outcome = gateway.process(
        &Envelope::outbound("alice@behoerde.example", ["bob@partner.example"]),
        &message,
    );
    assert!(outcome.all_deferred(), "{outcome:?}");
}

#[test]
fn a_broken_recipient_certificate_in_the_directory_is_never_a_reason_to_send_in_clear() {
    let directory = directory();
    directory
        .add(
            &NewEntry {
                kind: Kind::Smime,
                fingerprint: "00".into(),
                addresses: vec!["bob@partner.example".into()],
                not_after: None,
                data: b"not a certificate".to_vec(),
                source: "test".into(),
            },
            TrustState::Trusted,
        )
        .unwrap();
    let gateway = gateway(directory);
    let message = mail(
        "alice@behoerde.example",
        "bob@partner.example",
        "[vertraulich] x",
        "Geheim",
    );
    let outcome = gateway.process(
        &Envelope::outbound("alice@behoerde.example", ["bob@partner.example"]),
        &message,
    );
    assert_eq!(outcome.dispositions[0].kind(), "reject", "{outcome:?}");
}

#[test]
fn one_gateway_serves_many_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<gateway_facade::Gateway>();
    let directory = directory();
    trust_smime(
        directory.as_ref(),
        &smime("bob@partner.example"),
        TrustState::Trusted,
    );
    let gateway = Arc::new(gateway(directory));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let gateway = Arc::clone(&gateway);
            std::thread::spawn(move || {
                let message = mail(
                    "alice@behoerde.example",
                    "bob@partner.example",
                    "[vertraulich] x",
                    &format!("Geheim {i}"),
                );
                for _ in 0..5 {
                    let outcome = gateway.process(
                        &Envelope::outbound("alice@behoerde.example", ["bob@partner.example"]),
                        &message,
                    );
                    let sent = &delivered(&outcome.dispositions[0]);
                    assert!(!String::from_utf8_lossy(sent).contains("Geheim"));
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}
