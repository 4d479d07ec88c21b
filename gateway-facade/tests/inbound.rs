//! Inbound processing of mail made by the real peers: `openssl cms` signs
//! and encrypts, `gpg` encrypts; the gateway decrypts, verifies, annotates,
//! harvests and applies the inbound rules.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use gateway_facade::store::{Directory, Kind, TrustState};
use gateway_facade::{Disposition, Envelope};

fn only_message(outcome: &gateway_facade::Outcome) -> (&'static str, String) {
    assert_eq!(outcome.dispositions.len(), 1, "{outcome:?}");
    let d = &outcome.dispositions[0];
    (
        d.kind(),
        d.message()
            .map(|m| String::from_utf8_lossy(&m.to_vec().unwrap()).into_owned())
            .unwrap_or_default(),
    )
}

fn header<'a>(message: &'a str, name: &str) -> Vec<&'a str> {
    let head = message.split("\r\n\r\n").next().unwrap_or_default();
    head.lines()
        .filter(|l| {
            l.len() > name.len()
                && l[..name.len()].eq_ignore_ascii_case(name)
                && l.as_bytes()[name.len()] == b':'
        })
        .collect()
}

fn openssl_signed(from: &str, body: &str, dir: &std::path::Path) -> Vec<u8> {
    let signer = smime(from).write_to(dir, "signer").unwrap();
    let content = format!("Content-Type: text/plain\r\n\r\n{body}\r\n");
    let signed = testkit::openssl::cms_sign_mail(
        dir,
        &signer,
        &testkit::openssl::MailHeaders {
            from,
            to: "alice@behoerde.example",
            subject: "Kontoauszug",
        },
        content.as_bytes(),
    );
    // A forged result field, as an attacker would add it.
    let mut forged = b"X-Mailgate-Signature: valid; signer=ceo@behoerde.example\r\n".to_vec();
    forged.extend_from_slice(&signed);
    forged
}

#[test]
fn a_valid_openssl_signature_is_reported_and_its_certificate_harvested_as_pending() {
    let dir = tempfile::tempdir().unwrap();
    let directory = directory();
    let gateway = gateway(directory.clone());
    let message = openssl_signed("info@bank.example", "Ihr Kontostand", dir.path());
    let outcome = gateway.process(
        &Envelope::inbound("info@bank.example", ["alice@behoerde.example"]),
        &message,
    );
    let (kind, delivered) = only_message(&outcome);
    assert_eq!(kind, "deliver", "{outcome:?}");
    let signature = header(&delivered, "X-Mailgate-Signature");
    assert_eq!(signature.len(), 1, "forged field kept: {signature:?}");
    assert!(
        signature[0].contains("valid; method=smime; signer=info@bank.example"),
        "{signature:?}"
    );
    let pending = directory.list(Some(TrustState::Pending)).unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].kind, Kind::Smime);
    assert_eq!(pending[0].addresses, ["info@bank.example"]);
    // Harvested is not trusted.
    assert!(
        directory
            .trusted(Kind::Smime, "info@bank.example")
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_tampered_signature_from_the_bank_is_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let directory = directory();
    let gateway = gateway(directory.clone());
    let message = openssl_signed("info@bank.example", "Ihr Kontostand: 100 EUR", dir.path());
    let tampered = String::from_utf8_lossy(&message).replace("100 EUR", "900 EUR");
    let outcome = gateway.process(
        &Envelope::inbound("info@bank.example", ["alice@behoerde.example"]),
        tampered.as_bytes(),
    );
    let (kind, held) = only_message(&outcome);
    assert_eq!(kind, "quarantine", "{outcome:?}");
    assert!(header(&held, "X-Mailgate-Signature")[0].contains("invalid"));
    assert!(
        directory.list(None).unwrap().is_empty(),
        "harvested from an invalid signature"
    );
}

#[test]
fn unsigned_mail_from_the_bank_is_quarantined_and_other_mail_delivered() {
    let gateway = gateway(directory());
    let message = mail(
        "info@bank.example",
        "alice@behoerde.example",
        "Angebot",
        "Text",
    );
    let outcome = gateway.process(
        &Envelope::inbound("info@bank.example", ["alice@behoerde.example"]),
        &message,
    );
    assert_eq!(only_message(&outcome).0, "quarantine");
    let message = mail(
        "friend@extern.example",
        "alice@behoerde.example",
        "Hallo",
        "Text",
    );
    let outcome = gateway.process(
        &Envelope::inbound("friend@extern.example", ["alice@behoerde.example"]),
        &message,
    );
    let (kind, delivered) = only_message(&outcome);
    assert_eq!(kind, "deliver");
    assert!(header(&delivered, "X-Mailgate-Signature")[0].ends_with(": none"));
}

#[test]
fn mail_openssl_encrypted_to_the_organisation_is_decrypted() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = gateway(directory());
    let alice = smime("alice@behoerde.example")
        .write_to(dir.path(), "alice")
        .unwrap();
    let encrypted = run(
        "openssl",
        &[
            "cms",
            "-encrypt",
            "-aes-256-gcm",
            "-from",
            "bob@partner.example",
            "-to",
            "alice@behoerde.example",
            "-subject",
            "Vertrag",
            alice.certificate_pem.to_str().unwrap(),
        ],
        b"Content-Type: text/plain\r\n\r\nDer Vertrag im Anhang\r\n",
        dir.path(),
    );
    let outcome = gateway.process(
        &Envelope::inbound("bob@partner.example", ["alice@behoerde.example"]),
        &encrypted,
    );
    let (kind, delivered) = only_message(&outcome);
    assert_eq!(kind, "deliver");
    assert!(delivered.contains("Der Vertrag im Anhang"), "{delivered}");
    assert!(header(&delivered, "X-Mailgate-Decryption")[0].contains("smime; result=decrypted"));
    assert!(delivered.contains("Subject: Vertrag"));
}

#[test]
fn mail_gpg_encrypted_to_the_organisation_is_decrypted() {
    let gateway = gateway(directory());
    let alice = pgp("alice@behoerde.example");
    let home = gpg_home(&[&alice]);
    let ciphertext = gpg_encrypt(
        &home,
        "alice@behoerde.example",
        b"Content-Type: text/plain\r\n\r\nInhalt per GnuPG\r\n",
    );
    let mut message = b"From: carol@extern.example\r\nTo: alice@behoerde.example\r\nSubject: PGP\r\n\
        MIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"b\"\r\n\r\n\
        --b\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n\
        --b\r\nContent-Type: application/octet-stream\r\n\r\n"
        .to_vec();
    message.extend_from_slice(&ciphertext);
    message.extend_from_slice(b"\r\n--b--\r\n");
    let outcome = gateway.process(
        &Envelope::inbound("carol@extern.example", ["alice@behoerde.example"]),
        &message,
    );
    let (kind, delivered) = only_message(&outcome);
    assert_eq!(kind, "deliver", "{outcome:?}");
    assert!(delivered.contains("Inhalt per GnuPG"), "{delivered}");
    assert!(header(&delivered, "X-Mailgate-Decryption")[0].contains("pgp; result=decrypted"));
}

#[test]
fn mail_encrypted_to_someone_else_is_delivered_as_received_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = gateway(directory());
    let other = smime("someone@else.example")
        .write_to(dir.path(), "other")
        .unwrap();
    let encrypted = run(
        "openssl",
        &[
            "cms",
            "-encrypt",
            "-aes-256-cbc",
            other.certificate_pem.to_str().unwrap(),
        ],
        b"Content-Type: text/plain\r\n\r\nNicht fuer uns\r\n",
        dir.path(),
    );
    let outcome = gateway.process(
        &Envelope::inbound("x@else.example", ["alice@behoerde.example"]),
        &encrypted,
    );
    let (kind, delivered) = only_message(&outcome);
    assert_eq!(kind, "deliver");
    assert!(header(&delivered, "X-Mailgate-Decryption")[0].contains("result=failed"));
    assert!(
        delivered.contains("application/pkcs7-mime")
            || delivered.contains("application/x-pkcs7-mime")
    );
}

#[test]
fn an_outbound_mail_of_the_gateway_verifies_inbound() {
    // Our own output, fed back: signed by alice, verified with the PKI root.
    let gateway = gateway(directory());
    let message = mail(
        "alice@behoerde.example",
        "bob@behoerde.example",
        "Intern",
        "Hallo Bob",
    );
    let outbound = gateway.process(
        &Envelope::outbound("alice@behoerde.example", ["bob@behoerde.example"]),
        &message,
    );
    let signed = match &outbound.dispositions[0] {
        Disposition::Deliver { message, .. } => message.to_vec().unwrap(),
        other => panic!("{other:?}"),
    };
    let inbound = gateway.process(
        &Envelope::inbound("alice@behoerde.example", ["bob@behoerde.example"]),
        &signed,
    );
    let (_, delivered) = only_message(&inbound);
    assert!(
        header(&delivered, "X-Mailgate-Signature")[0]
            .contains(": valid; method=smime; signer=alice@behoerde.example")
    );
}

#[test]
fn an_inline_gpg_signed_message_block_is_verified_not_decrypted() {
    let dir = tempfile::tempdir().unwrap();
    let directory = directory();
    let carol = pgp("carol@extern.example");
    trust_pgp(directory.as_ref(), &carol, TrustState::Trusted);
    let gateway = gateway(directory);
    let home = gpg_home(&[&carol]);
    let signed = run(
        "gpg",
        &[
            "--homedir",
            home.path().to_str().unwrap(),
            "--batch",
            "--armor",
            "--local-user",
            "carol@extern.example",
            "--sign",
        ],
        b"Termin am Montag bestaetigt.\r\n",
        dir.path(),
    );
    let mut message =
        b"From: carol@extern.example\r\nTo: alice@behoerde.example\r\nSubject: Termin\r\n\
          Content-Type: text/plain\r\n\r\n"
            .to_vec();
    message.extend_from_slice(&signed);
    let outcome = gateway.process(
        &Envelope::inbound("carol@extern.example", ["alice@behoerde.example"]),
        &message,
    );
    let (kind, delivered) = only_message(&outcome);
    assert_eq!(kind, "deliver", "{outcome:?}");
    let signature = header(&delivered, "X-Mailgate-Signature");
    assert!(signature[0].contains("valid; method=pgp"), "{signature:?}");
    assert_eq!(
        header(&delivered, "X-Mailgate-Decryption"),
        ["X-Mailgate-Decryption: none"]
    );
}
