//! Mail larger than `IN_MEMORY_LIMIT` goes through the streaming path
//! (spool file to spool file); what leaves is opened with `openssl cms` and
//! `gpg` and must hold the whole attachment.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use gateway_facade::store::TrustState;
use gateway_facade::{Disposition, Envelope, IN_MEMORY_LIMIT, SpooledMessage};

/// A mail with a text part and a base64 attachment of `size` bytes; returns
/// the mail and the attachment's base64 lines.
fn large_mail(to: &str, subject: &str, size: usize) -> (Vec<u8>, String) {
    // Incompressible, as real attachments mostly are (gpg compresses).
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let attachment: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 56) as u8
        })
        .collect();
    let base64 = String::from_utf8(mail_message::encode_base64(
        &attachment,
        mail_message::LineBreak::Crlf,
    ))
    .unwrap();
    let mail = format!(
        "From: alice@behoerde.example\r\nTo: {to}\r\nSubject: {subject}\r\n\
         Message-ID: <large@behoerde.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nDie Akte im Anhang.\r\n--b\r\n\
         Content-Type: application/pdf; name=\"akte.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"akte.pdf\"\r\n\r\n{base64}--b--\r\n"
    );
    (mail.into_bytes(), base64)
}

fn spooled_delivery(outcome: &gateway_facade::Outcome) -> &SpooledMessage {
    match &outcome.dispositions[..] {
        [Disposition::Deliver { message, .. }] => message,
        other => panic!("expected one delivery, got {other:?}"),
    }
}

#[test]
fn large_confidential_mail_is_signed_and_encrypted_from_the_spool_and_opens_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let directory = directory();
    let bob = smime("bob@partner.example");
    trust_smime(directory.as_ref(), &bob, TrustState::Trusted);
    let gateway = gateway(directory);
    let (mail, base64) = large_mail("bob@partner.example", "[Vertraulich] Akte 7", 6_000_000);
    let message = SpooledMessage::read_from(&mail[..]).unwrap();
    assert!(message.in_memory().is_none(), "{message:?}");
    let envelope = Envelope::outbound("alice@behoerde.example", ["bob@partner.example"]);

    let outcome = gateway.process_spooled(&envelope, &message);
    let sent = spooled_delivery(&outcome);
    assert!(sent.in_memory().is_none(), "the result is spooled too");
    let sent = sent.to_vec().unwrap();
    let text = String::from_utf8_lossy(&sent);
    assert!(!text.contains("Die Akte im Anhang"), "plaintext leaked");
    // The policy's header edit (tag removed) was applied on the stream.
    assert!(text.contains("Subject: Akte 7\r\n"), "{}", &text[..400]);
    assert!(text.contains("application/pkcs7-mime"));

    let files = bob.write_to(dir.path(), "bob").unwrap();
    let decrypted = openssl_decrypt(&files, &sent, dir.path());
    let verified = openssl_verify(&files.root_pem, &decrypted, dir.path());
    let verified = String::from_utf8_lossy(&verified);
    assert!(verified.contains("Die Akte im Anhang."));
    assert!(verified.contains(&base64), "the attachment arrived whole");

    // The in-memory path decides the same for the same mail.
    let in_memory = gateway.process(&envelope, &mail);
    assert_eq!(in_memory.dispositions.len(), 1);
    assert_eq!(in_memory.dispositions[0].kind(), "deliver");
    assert_eq!(
        outcome.audit.decisions, in_memory.audit.decisions,
        "same policy decisions"
    );
}

#[test]
fn large_confidential_mail_to_a_pgp_recipient_opens_with_gpg() {
    let directory = directory();
    let carol = pgp("carol@extern.example");
    trust_pgp(directory.as_ref(), &carol, TrustState::Trusted);
    let gateway = gateway(directory);
    let (mail, base64) = large_mail("carol@extern.example", "[vertraulich] Bericht", 5_000_000);
    assert!(mail.len() > IN_MEMORY_LIMIT);
    let message = SpooledMessage::read_from(&mail[..]).unwrap();
    let outcome = gateway.process_spooled(
        &Envelope::outbound("alice@behoerde.example", ["carol@extern.example"]),
        &message,
    );
    let sent = spooled_delivery(&outcome);
    assert!(sent.in_memory().is_none());
    let sent = sent.to_vec().unwrap();
    assert!(String::from_utf8_lossy(&sent).contains("multipart/encrypted"));

    let home = gpg_home(&[&carol]);
    let plain = gpg_decrypt(&home, &payload_of_pgp_mime(&sent));
    let plain = String::from_utf8_lossy(&plain);
    assert!(plain.contains("Die Akte im Anhang."));
    assert!(plain.contains(&base64), "the attachment arrived whole");
}

#[test]
fn a_large_mail_without_a_key_is_rejected_not_sent() {
    let gateway = gateway(directory());
    let (mail, _) = large_mail("erin@geheim.example", "[vertraulich] Geheim", 5_000_000);
    let message = SpooledMessage::read_from(&mail[..]).unwrap();
    let outcome = gateway.process_spooled(
        &Envelope::outbound("alice@behoerde.example", ["erin@geheim.example"]),
        &message,
    );
    assert!(
        matches!(&outcome.dispositions[..], [Disposition::Reject { .. }]),
        "{outcome:?}"
    );
}

/// The header section of a message as text.
fn head(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
}

/// An inner entity (no outer header) with a text part and a base64
/// attachment of `size` bytes; returns it and the attachment's base64.
fn large_entity(size: usize) -> (Vec<u8>, String) {
    let (mail, base64) = large_mail("alice@behoerde.example", "x", size);
    let text = String::from_utf8(mail).unwrap();
    let start = text.find("Content-Type: multipart/mixed").unwrap();
    (text.as_bytes()[start..].to_vec(), base64)
}

#[test]
fn large_mail_openssl_signed_and_encrypted_to_the_organisation_is_decrypted_and_verified_from_the_spool()
 {
    let dir = tempfile::tempdir().unwrap();
    let gateway = gateway(directory());
    let alice = smime("alice@behoerde.example")
        .write_to(dir.path(), "alice")
        .unwrap();
    let bob = smime("bob@partner.example")
        .write_to(dir.path(), "bob")
        .unwrap();
    let (entity, base64) = large_entity(6_000_000);
    let entity_path = dir.path().join("entity.eml");
    std::fs::write(&entity_path, &entity).unwrap();
    // bob signs (detached, streamed), then encrypts to alice, as a peer would.
    let signed = run(
        "openssl",
        &[
            "cms",
            "-sign",
            "-stream",
            "-signer",
            bob.certificate_pem.to_str().unwrap(),
            "-inkey",
            bob.private_key_pem.to_str().unwrap(),
            "-certfile",
            bob.chain_pem.to_str().unwrap(),
            "-in",
            entity_path.to_str().unwrap(),
        ],
        b"",
        dir.path(),
    );
    let encrypted = run(
        "openssl",
        &[
            "cms",
            "-encrypt",
            "-stream",
            "-aes-256-gcm",
            "-from",
            "bob@partner.example",
            "-to",
            "alice@behoerde.example",
            "-subject",
            "Vertrag",
            alice.certificate_pem.to_str().unwrap(),
        ],
        &signed,
        dir.path(),
    );
    let mut forged = b"X-Mailgate-Signature: valid; signer=ceo@behoerde.example\r\n".to_vec();
    forged.extend_from_slice(&encrypted);
    let message = SpooledMessage::read_from(&forged[..]).unwrap();
    assert!(message.in_memory().is_none());

    let outcome = gateway.process_spooled(
        &Envelope::inbound("bob@partner.example", ["alice@behoerde.example"]),
        &message,
    );
    let delivered = spooled_delivery(&outcome);
    assert!(delivered.in_memory().is_none(), "the result is spooled too");
    let delivered = delivered.to_vec().unwrap();
    let head = head(&delivered);
    assert!(
        head.contains("X-Mailgate-Decryption: smime; result=decrypted"),
        "{head}"
    );
    assert!(
        head.contains("X-Mailgate-Signature: valid; method=smime; signer=bob@partner.example"),
        "{head}"
    );
    assert_eq!(
        head.matches("X-Mailgate-Signature").count(),
        1,
        "forged field kept"
    );
    // OpenSSL writes its MIME with LF line breaks, which the decrypted
    // message keeps: compare the lines.
    let text = String::from_utf8_lossy(&delivered).replace("\r\n", "\n");
    assert!(text.contains("Die Akte im Anhang."));
    assert!(
        text.contains(&base64.replace("\r\n", "\n")),
        "the attachment arrived whole"
    );
}

#[test]
fn large_mail_gpg_encrypted_to_the_organisation_is_decrypted_from_the_spool() {
    let gateway = gateway(directory());
    let alice = pgp("alice@behoerde.example");
    let home = gpg_home(&[&alice]);
    let (entity, base64) = large_entity(5_000_000);
    let ciphertext = gpg_encrypt(&home, "alice@behoerde.example", &entity);
    let mut mail = b"From: carol@extern.example\r\nTo: alice@behoerde.example\r\nSubject: PGP\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b\"\r\n\r\n\
        --b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n\
        --b\r\nContent-Type: application/octet-stream\r\n\r\n"
        .to_vec();
    mail.extend_from_slice(&ciphertext);
    mail.extend_from_slice(b"\r\n--b--\r\n");
    let message = SpooledMessage::read_from(&mail[..]).unwrap();
    assert!(message.in_memory().is_none());
    let outcome = gateway.process_spooled(
        &Envelope::inbound("carol@extern.example", ["alice@behoerde.example"]),
        &message,
    );
    let delivered = spooled_delivery(&outcome).to_vec().unwrap();
    assert!(head(&delivered).contains("X-Mailgate-Decryption: pgp; result=decrypted"));
    let text = String::from_utf8_lossy(&delivered);
    assert!(text.contains("Die Akte im Anhang."));
    assert!(text.contains(&base64), "the attachment arrived whole");
}

#[test]
fn a_mail_too_large_for_a_password_container_is_rejected_with_a_notification() {
    let gateway = gateway(directory());
    let (mail, _) = large_mail("fred@fallback.example", "[vertraulich] Riesig", 25_000_000);
    let message = SpooledMessage::read_from(&mail[..]).unwrap();
    let outcome = gateway.process_spooled(
        &Envelope::outbound("alice@behoerde.example", ["fred@fallback.example"]),
        &message,
    );
    match &outcome.dispositions[..] {
        [
            Disposition::Reject {
                reason,
                notification,
                ..
            },
        ] => {
            assert!(
                reason.contains("too large for a password-protected container"),
                "{reason}"
            );
            assert!(String::from_utf8_lossy(notification).contains("fred@fallback.example"));
        }
        other => panic!("expected a reject, got {other:?}"),
    }
}
