//! smime-core signs, real peers verify: `openssl cms -verify` on the whole
//! S/MIME message (detached and opaque, every key kind, every digest,
//! RSA-PSS) and `gpgsm --verify` on the detached signature.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use smime_core::mime::{ContentType, Entity, Multipart};
use smime_core::{DigestAlgorithm, SignatureForm};
use testkit::{GpgsmHome, KeyKind, pki, run_peer};

const MESSAGE: &str = "From: Alice Example <alice@example.org>\nTo: bob@example.org\nSubject: Quartalszahlen\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nUmsatz +3 %, Grüße\nFrom the desk of Alice\n.\n";

/// The entity we expect to be signed: the body with its Content-* fields,
/// canonical, 8-bit made base64.
fn assert_signed_entity(content: &[u8]) {
    let entity = Entity::parse(content).unwrap();
    assert_eq!(
        entity.transfer_encoding(),
        "base64",
        "8-bit made 7-bit safe"
    );
    assert!(content.iter().all(u8::is_ascii), "7-bit");
    assert!(entity.field("from").is_none(), "outer fields stay outside");
    assert_eq!(
        String::from_utf8(entity.decoded_body().unwrap()).unwrap(),
        "Umsatz +3 %, Grüße\r\nFrom the desk of Alice\r\n.\r\n"
    );
}

fn assert_outer_fields_kept(signed: &[u8]) {
    let entity = Entity::parse(signed).unwrap();
    assert_eq!(
        entity.field("from").unwrap().value(),
        "Alice Example <alice@example.org>"
    );
    assert_eq!(entity.field("subject").unwrap().value(), "Quartalszahlen");
    assert_eq!(entity.count("mime-version"), 1);
    assert_eq!(entity.count("content-type"), 1);
}

#[test]
fn openssl_verifies_every_key_digest_and_form() {
    let dir = tempfile::tempdir().unwrap();
    for kind in KeyKind::ALL {
        for digest in [
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha384,
            DigestAlgorithm::Sha512,
        ] {
            for form in [SignatureForm::Detached, SignatureForm::Opaque] {
                let signed = common::signer("alice@example.org", kind)
                    .with_digest(digest)
                    .sign_message(MESSAGE.as_bytes(), form)
                    .unwrap();
                assert_outer_fields_kept(&signed);
                let content = common::openssl_verify(dir.path(), &signed);
                assert_signed_entity(&content);
                let content_type = Entity::parse(&signed).unwrap().content_type().unwrap();
                match form {
                    SignatureForm::Detached => {
                        assert_eq!(content_type.mime_type(), "multipart/signed");
                        assert_eq!(content_type.parameter("micalg"), Some(digest.micalg()));
                        assert_eq!(
                            content_type.parameter("protocol"),
                            Some("application/pkcs7-signature")
                        );
                    }
                    SignatureForm::Opaque => {
                        assert_eq!(content_type.mime_type(), "application/pkcs7-mime");
                        assert_eq!(content_type.parameter("smime-type"), Some("signed-data"));
                    }
                }
            }
        }
    }
}

#[test]
fn openssl_verifies_rsa_pss() {
    let dir = tempfile::tempdir().unwrap();
    for digest in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512] {
        let signed = common::signer("alice@example.org", KeyKind::Rsa3072)
            .with_rsa_pss()
            .unwrap()
            .with_digest(digest)
            .sign_message(MESSAGE.as_bytes(), SignatureForm::Detached)
            .unwrap();
        assert_signed_entity(&common::openssl_verify(dir.path(), &signed));
        // OpenSSL reports the scheme it verified.
        let signature = detached_signature(&signed);
        std::fs::write(dir.path().join("sig.der"), signature).unwrap();
        let dump = run_peer(
            "openssl",
            &[
                "cms", "-cmsout", "-print", "-inform", "DER", "-in", "sig.der",
            ],
            dir.path(),
        );
        assert!(String::from_utf8_lossy(&dump).contains("rsassaPss"));
    }
    assert!(matches!(
        common::signer("alice@example.org", KeyKind::P256).with_rsa_pss(),
        Err(smime_core::Error::PssNeedsRsa)
    ));
}

#[test]
fn openssl_refuses_a_changed_byte() {
    let dir = tempfile::tempdir().unwrap();
    let signed = common::signer("alice@example.org", KeyKind::P256)
        .sign_message(MESSAGE.as_bytes(), SignatureForm::Detached)
        .unwrap();
    let text = String::from_utf8(signed).unwrap();
    // The base64 of the body: change one character of the signed content.
    let tampered = text.replacen("VW1zYXR6", "VW1zYXRa", 1);
    assert_ne!(tampered, text);
    std::fs::write(dir.path().join("signed.eml"), tampered).unwrap();
    std::fs::write(dir.path().join("root.pem"), pki().root().certificate_pem()).unwrap();
    let status = std::process::Command::new("openssl")
        .args(["cms", "-verify", "-in", "signed.eml", "-CAfile", "root.pem"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!status.status.success());
    assert!(String::from_utf8_lossy(&status.stderr).contains("content verify error"));
}

/// The DER signature of a `multipart/signed` message.
fn detached_signature(signed: &[u8]) -> Vec<u8> {
    let (_, signature) = detached_parts(signed);
    Entity::parse(&signature).unwrap().decoded_body().unwrap()
}

/// The signed entity and the signature part of a `multipart/signed` message.
fn detached_parts(signed: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let entity = Entity::parse(signed).unwrap();
    let content_type: ContentType = entity.content_type().unwrap();
    let multipart =
        Multipart::split(entity.body(), content_type.parameter("boundary").unwrap()).unwrap();
    assert_eq!(multipart.parts().len(), 2);
    (multipart.parts()[0].to_vec(), multipart.parts()[1].to_vec())
}

#[test]
fn gpgsm_verifies_detached_signatures() {
    let home = GpgsmHome::new();
    for kind in [KeyKind::Rsa2048, KeyKind::Rsa3072, KeyKind::P256] {
        let signed = common::signer("alice@example.org", kind)
            .sign_message(
                MESSAGE.replace('\n', "\r\n").as_bytes(),
                SignatureForm::Detached,
            )
            .unwrap();
        let (content, signature) = detached_parts(&signed);
        std::fs::write(home.path().join("content"), &content).unwrap();
        std::fs::write(
            home.path().join("sig.der"),
            Entity::parse(&signature).unwrap().decoded_body().unwrap(),
        )
        .unwrap();
        let output = std::process::Command::new("gpgsm")
            .args(["--homedir", home.path().to_str().unwrap(), "--batch"])
            .args(["--status-fd", "1", "--verify", "sig.der", "content"])
            .current_dir(home.path())
            .output()
            .unwrap();
        let status = String::from_utf8_lossy(&output.stdout);
        assert!(
            status.contains("[GNUPG:] GOODSIG") && status.contains("[GNUPG:] TRUST_FULLY"),
            "{kind:?}: {status}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A PDF-like attachment with `Content-Transfer-Encoding: binary`: lone LF
/// and CR, NUL and 0xFF are data, not line breaks. Signing base64-encodes
/// it byte for byte (RFC 8551 section 3.1.1), so OpenSSL verifies and the
/// attachment it hands out is the one that was sent.
#[test]
fn binary_attachments_are_signed_byte_for_byte() {
    let attachment: &[u8] = b"%PDF-1.7\n\x00\x01\r\xff\xfe\n\r\n\rstream\x00end";
    let mut message = "From: alice@example.org\nTo: bob@example.org\nSubject: Vertrag\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nAnbei der Vertrag, Grüße\n--b1\nContent-Type: application/pdf\nContent-Transfer-Encoding: binary\n\n".as_bytes().to_vec();
    message.extend_from_slice(attachment);
    message.extend_from_slice(b"\n--b1--\n");
    let dir = tempfile::tempdir().unwrap();
    for form in [SignatureForm::Detached, SignatureForm::Opaque] {
        let signed = common::signer("alice@example.org", KeyKind::P256)
            .sign_message(&message, form)
            .unwrap();
        assert!(signed.iter().all(u8::is_ascii), "{form:?}: 7-bit safe");
        let content = common::openssl_verify(dir.path(), &signed);
        let entity = Entity::parse(&content).unwrap();
        let content_type = entity.content_type().unwrap();
        let parts =
            Multipart::split(entity.body(), content_type.parameter("boundary").unwrap()).unwrap();
        assert_eq!(parts.parts().len(), 2);
        let text = Entity::parse(parts.parts()[0]).unwrap();
        assert_eq!(
            String::from_utf8(text.decoded_body().unwrap()).unwrap(),
            "Anbei der Vertrag, Grüße"
        );
        let pdf = Entity::parse(parts.parts()[1]).unwrap();
        assert_eq!(pdf.transfer_encoding(), "base64");
        assert_eq!(pdf.decoded_body().unwrap(), attachment, "{form:?}");
    }
}
