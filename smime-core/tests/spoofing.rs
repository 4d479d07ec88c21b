//! A corpus of forged and misleading signed mail. Each must be refused:
//! never reported as signed by its From address.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::time::{Duration, SystemTime};

use base64ct::Encoding as _;
use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::{Any, Decode, Encode};
use smime_core::mime::{Entity, Multipart};
use smime_core::{Coverage, Error, SignatureForm, SignatureStatus, Signer, Verdict};
use testkit::{KeyKind, Variant};

const BODY: &str =
    "Content-Type: text/plain\r\n\r\nPlease transfer 500 EUR to DE02 1203 0000 0000 2020 51.\r\n";

fn alice() -> Signer {
    common::signer_variant("alice@example.org", KeyKind::P256, Variant::Good)
}

fn sign(signer: &Signer, headers: &str, form: SignatureForm) -> Vec<u8> {
    signer
        .sign_message(format!("{headers}{BODY}").as_bytes(), form)
        .unwrap()
}

/// The outer header fields and the body of a message.
fn split(message: &[u8]) -> (String, String) {
    let text = String::from_utf8(message.to_vec()).unwrap();
    let (header, body) = text.split_once("\r\n\r\n").unwrap();
    (format!("{header}\r\n"), body.to_owned())
}

/// The signed entity (Content-Type field and body) of a signed message.
fn signed_entity(message: &[u8]) -> String {
    let (header, body) = split(message);
    let content_type = header
        .lines()
        .skip_while(|l| !l.starts_with("Content-Type"))
        .take_while(|l| l.starts_with("Content-Type") || l.starts_with('\t'))
        .collect::<Vec<_>>()
        .join("\r\n");
    format!("{content_type}\r\n\r\n{body}")
}

fn verdict(message: &[u8]) -> Verdict {
    common::verifier()
        .verify_message(message)
        .unwrap()
        .verdict()
}

#[test]
fn the_genuine_message_is_signed_by_from() {
    for form in [SignatureForm::Detached, SignatureForm::Opaque] {
        let signed = sign(&alice(), "From: Alice <alice@example.org>\r\n", form);
        assert_eq!(verdict(&signed), Verdict::SignedByFrom);
    }
}

#[test]
fn another_from_is_not_signed_by_from() {
    let signed = sign(
        &alice(),
        "From: alice@example.org\r\n",
        SignatureForm::Detached,
    );
    let (_, body) = split(&signed);
    let entity = signed_entity(&signed);
    for from in [
        "From: ceo@example.org\r\n",
        // The display name shows Alice's address; the address is Mallory's.
        "From: \"alice@example.org\" <mallory@evil.example>\r\n",
        // A comment that looks like an address.
        "From: mallory@evil.example (alice@example.org)\r\n",
        // Two From fields: ambiguous, binds no one.
        "From: alice@example.org\r\nFrom: mallory@evil.example\r\n",
        // Two mailboxes in one From.
        "From: alice@example.org, mallory@evil.example\r\n",
        // No From at all.
        "Subject: no from\r\n",
    ] {
        let forged = format!("{from}MIME-Version: 1.0\r\n{entity}");
        let report = common::verifier()
            .verify_message(forged.as_bytes())
            .unwrap();
        assert_eq!(report.verdict(), Verdict::SignedByOther, "{from}");
        assert!(!report.signed_by_from());
        assert!(!body.is_empty());
    }
}

#[test]
fn a_signer_matching_only_sender_is_reported_as_such() {
    let signed = sign(
        &alice(),
        "From: boss@example.org\r\nSender: alice@example.org\r\n",
        SignatureForm::Detached,
    );
    let report = common::verifier().verify_message(&signed).unwrap();
    assert_eq!(report.verdict(), Verdict::SignedByOther);
    assert!(report.signed_by_sender_only());
}

#[test]
fn unsigned_text_around_a_signed_part_is_partial() {
    let signed = sign(
        &alice(),
        "From: alice@example.org\r\n",
        SignatureForm::Detached,
    );
    let entity = signed_entity(&signed);
    for (name, forged) in [
        (
            "prepended text",
            format!(
                "From: alice@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\nContent-Type: text/plain\r\n\r\nURGENT: new bank account DE99 6666 6666 6666 6666 66\r\n--outer\r\n{entity}\r\n--outer--\r\n"
            ),
        ),
        (
            "signed part as an attachment",
            format!(
                "From: alice@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=outer\r\n\r\n--outer\r\nContent-Type: text/html\r\n\r\n<b>Pay now</b>\r\n--outer\r\nContent-Disposition: attachment\r\n{entity}\r\n--outer--\r\n"
            ),
        ),
        (
            "nested deeper",
            format!(
                "From: alice@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n{entity}\r\n--b--\r\n--a--\r\n"
            ),
        ),
    ] {
        let report = common::verifier()
            .verify_message(forged.as_bytes())
            .unwrap();
        assert_eq!(report.verdict(), Verdict::PartiallySigned, "{name}");
        assert!(
            matches!(report.coverage(), Coverage::Partial { .. }),
            "{name}"
        );
        assert!(report.unwrapped_message().is_none(), "{name}");
    }
}

#[test]
fn an_extra_part_inside_multipart_signed_is_partial() {
    let signed = sign(
        &alice(),
        "From: alice@example.org\r\n",
        SignatureForm::Detached,
    );
    let text = String::from_utf8(signed).unwrap();
    let boundary = text
        .split("boundary=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let closing = format!("--{boundary}--");
    let forged = text.replace(
        &closing,
        &format!("--{boundary}\r\nContent-Type: text/plain\r\n\r\nalso pay this\r\n{closing}"),
    );
    assert_eq!(verdict(forged.as_bytes()), Verdict::PartiallySigned);
}

#[test]
fn altered_content_is_invalid() {
    let signed = sign(
        &alice(),
        "From: alice@example.org\r\n",
        SignatureForm::Detached,
    );
    let forged = String::from_utf8(signed)
        .unwrap()
        .replace("500 EUR", "900 EUR");
    let report = common::verifier()
        .verify_message(forged.as_bytes())
        .unwrap();
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert_eq!(report.signers()[0].status, SignatureStatus::ContentChanged);
}

#[test]
fn a_signature_from_another_message_is_invalid() {
    let genuine = sign(
        &alice(),
        "From: alice@example.org\r\n",
        SignatureForm::Detached,
    );
    let other = alice()
        .sign_message(
            b"From: alice@example.org\r\nContent-Type: text/plain\r\n\r\nHello Bob\r\n",
            SignatureForm::Detached,
        )
        .unwrap();
    let signature_of = |m: &[u8]| {
        let entity = Entity::parse(m).unwrap();
        let ct = entity.content_type().unwrap();
        let parts = Multipart::split(entity.body(), ct.parameter("boundary").unwrap()).unwrap();
        String::from_utf8(parts.parts()[1].to_vec()).unwrap()
    };
    let forged = String::from_utf8(genuine.clone())
        .unwrap()
        .replace(&signature_of(&genuine), &signature_of(&other));
    assert_eq!(verdict(forged.as_bytes()), Verdict::Invalid);
}

#[test]
fn untrusted_expired_and_wrong_purpose_certificates_are_invalid() {
    for (variant, expected) in [
        (Variant::LookAlike, "untrusted"),
        (Variant::Expired, "expired"),
        (Variant::NotYetValid, "expired or not yet valid"),
        (Variant::WrongEku, "e-mail protection"),
    ] {
        let signed = sign(
            &common::signer_variant("alice@example.org", KeyKind::P256, variant),
            "From: alice@example.org\r\n",
            SignatureForm::Detached,
        );
        let report = common::verifier().verify_message(&signed).unwrap();
        assert_eq!(report.verdict(), Verdict::Invalid, "{variant:?}");
        let status = report.signers()[0].status.to_string();
        assert!(status.contains(expected), "{variant:?}: {status}");
    }
}

#[test]
fn archived_mail_verifies_as_of_its_receipt() {
    let signed = sign(
        &common::signer_variant("alice@example.org", KeyKind::P256, Variant::Expired),
        "From: alice@example.org\r\n",
        SignatureForm::Detached,
    );
    // The expired variant was valid during 2024.
    let mid_2024 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_719_792_000);
    let report = common::verifier()
        .at(mid_2024)
        .verify_message(&signed)
        .unwrap();
    assert_eq!(report.verdict(), Verdict::SignedByFrom, "{report:?}");
    let early_2025 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_736_000_000);
    let report = common::verifier()
        .at(early_2025)
        .verify_message(&signed)
        .unwrap();
    assert_eq!(report.signers()[0].status, SignatureStatus::NotValidAt);
}

/// Re-encodes the CMS inside an opaque signed message after `edit`.
fn edit_opaque(message: &[u8], edit: impl FnOnce(&mut SignedData)) -> Vec<u8> {
    let entity = Entity::parse(message).unwrap();
    let der = entity.decoded_body().unwrap();
    let info = ContentInfo::from_der(&der).unwrap();
    let mut data: SignedData = info.content.decode_as().unwrap();
    edit(&mut data);
    let info = ContentInfo {
        content_type: info.content_type,
        content: Any::encode_from(&data).unwrap(),
    };
    let (header, _) = split(message);
    let body = base64ct::Base64::encode_string(&info.to_der().unwrap());
    format!("{header}\r\n{body}\r\n").into_bytes()
}

#[test]
fn no_signer_info_is_refused() {
    let signed = sign(
        &alice(),
        "From: alice@example.org\r\n",
        SignatureForm::Opaque,
    );
    let forged = edit_opaque(&signed, |data| {
        data.signer_infos = cms::signed_data::SignerInfos(der::asn1::SetOfVec::new());
    });
    assert!(matches!(
        common::verifier().verify_message(&forged),
        Err(Error::NoSignerInfo)
    ));
}

#[test]
fn opaque_signed_data_without_its_content_is_refused() {
    // An opaque message whose SignedData lost its eContent: what is signed
    // is nowhere, so nothing may be reported as signed.
    let signed = sign(
        &alice(),
        "From: alice@example.org\r\n",
        SignatureForm::Opaque,
    );
    let forged = edit_opaque(&signed, |data| {
        data.encap_content_info.econtent = None;
    });
    assert!(matches!(
        common::verifier().verify_message(&forged),
        Err(Error::DetachedContentMissing)
    ));
}

#[test]
fn a_missing_signer_certificate_is_invalid() {
    let signed = sign(
        &alice(),
        "From: alice@example.org\r\n",
        SignatureForm::Opaque,
    );
    let forged = edit_opaque(&signed, |data| data.certificates = None);
    let report = common::verifier().verify_message(&forged).unwrap();
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert_eq!(
        report.signers()[0].status,
        SignatureStatus::CertificateNotFound
    );
}

#[test]
fn a_second_invalid_signer_makes_the_message_invalid() {
    let genuine = sign(
        &alice(),
        "From: alice@example.org\r\n",
        SignatureForm::Opaque,
    );
    let mallory = sign(
        &common::signer_variant("mallory@evil.example", KeyKind::P256, Variant::Good),
        "From: alice@example.org\r\n",
        SignatureForm::Opaque,
    );
    // Mallory's signerInfo over the same body verifies; over another body it
    // does not, and one failing signerInfo fails the message.
    let mallory_other =
        common::signer_variant("mallory@evil.example", KeyKind::P256, Variant::Good)
            .sign_message(
                b"From: x@example.org\r\nContent-Type: text/plain\r\n\r\nother\r\n",
                SignatureForm::Opaque,
            )
            .unwrap();
    for (name, source, valid) in [
        ("same content", mallory, true),
        ("other content", mallory_other, false),
    ] {
        let entity = Entity::parse(&source).unwrap();
        let der = entity.decoded_body().unwrap();
        let theirs: SignedData = ContentInfo::from_der(&der)
            .unwrap()
            .content
            .decode_as()
            .unwrap();
        let forged = edit_opaque(&genuine, |data| {
            for info in theirs.signer_infos.0.iter() {
                data.signer_infos.0.insert(info.clone()).unwrap();
            }
            for cert in theirs.certificates.as_ref().unwrap().0.iter() {
                let set = &mut data.certificates.as_mut().unwrap().0;
                if !set.iter().any(|c| c == cert) {
                    set.insert(cert.clone()).unwrap();
                }
            }
        });
        let report = common::verifier().verify_message(&forged).unwrap();
        assert_eq!(report.signers().len(), 2, "{name}");
        if valid {
            // Two valid signers, one of them Alice: signed by From, and both
            // are reported.
            assert_eq!(report.verdict(), Verdict::SignedByFrom, "{name}");
        } else {
            assert_eq!(report.verdict(), Verdict::Invalid, "{name}");
        }
    }
}

#[test]
fn encapsulated_and_detached_content_together_are_refused() {
    // An opaque SignedData (with eContent) put where a detached signature
    // belongs: which content was signed would be ambiguous.
    let opaque = sign(
        &alice(),
        "From: alice@example.org\r\n",
        SignatureForm::Opaque,
    );
    let (_, cms_base64) = split(&opaque);
    let forged = format!(
        "From: alice@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nPay 900 EUR instead.\r\n--b\r\nContent-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64\r\n\r\n{cms_base64}\r\n--b--\r\n"
    );
    assert!(matches!(
        common::verifier().verify_message(forged.as_bytes()),
        Err(Error::ContentConfusion)
    ));
}

#[test]
fn unsigned_mail_is_unsigned() {
    let report = common::verifier()
        .verify_message(format!("From: alice@example.org\r\n{BODY}").as_bytes())
        .unwrap();
    assert_eq!(report.verdict(), Verdict::Unsigned);
    assert!(report.signers().is_empty());
}
