//! The password fallback end to end: the carrier mail holds neither the
//! content nor the password, the password goes to the channel, and the PDF
//! opens with poppler's tools and that password.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;
use std::sync::Arc;

use common::*;
use gateway_facade::{Disposition, Envelope, PasswordChannel};
use mail_message::{Entity, Multipart};

const MAIL: &[u8] = b"From: alice@behoerde.example\r\nTo: fred@fallback.example\r\n\
Subject: [vertraulich] Personalakte\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nDie Personalakte von Herrn M\xc3\xbcller.\r\n\
--b\r\nContent-Type: text/csv; name=\"gehalt.csv\"\r\nContent-Disposition: attachment; filename=\"gehalt.csv\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nTW9uYXQ7QnJ1dHRvCkphbnVhcjs0MjAwCg==\r\n--b--\r\n";

fn the_pdf(carrier: &[u8]) -> Vec<u8> {
    let entity = Entity::parse(carrier).unwrap();
    let boundary = entity
        .content_type()
        .unwrap()
        .parameter("boundary")
        .unwrap()
        .to_owned();
    let parts = Multipart::split(entity.body(), &boundary).unwrap();
    let pdf_part = parts
        .parts()
        .iter()
        .map(|p| Entity::parse(p).unwrap())
        .find(|p| p.content_type().unwrap().mime_type() == "application/pdf")
        .expect("a PDF part");
    pdf_part.decoded_body().unwrap()
}

fn password_in(notification: &[u8]) -> String {
    let text = String::from_utf8_lossy(notification);
    let line = text
        .lines()
        .find(|l| l.starts_with("Password: "))
        .expect("password line");
    line["Password: ".len()..].trim().to_owned()
}

#[test]
#[ignore = "needs poppler-utils"]
fn confidential_mail_without_key_goes_as_a_pdf_that_opens_with_the_notified_password() {
    let gateway = gateway(directory());
    let outcome = gateway.process(
        &Envelope::outbound("alice@behoerde.example", ["fred@fallback.example"]),
        MAIL,
    );
    let (carrier, notification) = match &outcome.dispositions[..] {
        [
            Disposition::Deliver {
                message,
                notification: Some(n),
                ..
            },
        ] => (message.to_vec().unwrap(), n.clone()),
        other => panic!("expected a delivery with a notification: {other:?}"),
    };
    let password = password_in(&notification);
    assert_eq!(password.len(), gateway_facade::DEFAULT_PASSWORD_LENGTH);
    let carrier_text = String::from_utf8_lossy(&carrier);
    assert!(!carrier_text.contains(&password), "password in the carrier");
    assert!(
        !carrier_text.contains("Personalakte von"),
        "content in the carrier"
    );
    assert!(
        carrier_text.contains("Subject: Personalakte\r\n"),
        "tag not stripped"
    );
    assert!(String::from_utf8_lossy(&notification).contains("To: <alice@behoerde.example>"));

    let dir = tempfile::tempdir().unwrap();
    let pdf = dir.path().join("message.pdf");
    // The carrier is signed (R1 applies too); the PDF is inside the signed part.
    let signed_inner = {
        let envelope = mail_message::Envelope::split(&carrier).unwrap();
        let entity = Entity::parse(envelope.message().raw()).unwrap();
        let boundary = entity
            .content_type()
            .unwrap()
            .parameter("boundary")
            .unwrap()
            .to_owned();
        Multipart::split(entity.body(), &boundary).unwrap().parts()[0].to_vec()
    };
    std::fs::write(&pdf, the_pdf(&signed_inner)).unwrap();
    let text = Command::new("pdftotext")
        .args([
            "-upw",
            &password,
            "-enc",
            "UTF-8",
            pdf.to_str().unwrap(),
            "-",
        ])
        .output()
        .expect("pdftotext (Debian: poppler-utils)");
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("Die Personalakte von Herrn Müller."),
        "{text}"
    );
    assert!(
        text.contains("Subject: [vertraulich] Personalakte")
            || text.contains("Subject: Personalakte")
    );
    let out = dir.path().join("files");
    std::fs::create_dir(&out).unwrap();
    let detach = Command::new("pdfdetach")
        .args([
            "-upw",
            &password,
            "-saveall",
            "-o",
            out.to_str().unwrap(),
            pdf.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(detach.status.success());
    assert_eq!(
        std::fs::read(out.join("gehalt.csv")).unwrap(),
        b"Monat;Brutto\nJanuar;4200\n"
    );
    let locked = Command::new("pdftotext")
        .args(["-upw", "guess", pdf.to_str().unwrap(), "-"])
        .output()
        .unwrap();
    assert!(!locked.status.success());
}

struct BrokenSms;

impl PasswordChannel for BrokenSms {
    fn hand_over(
        &self,
        _: &str,
        _: &[String],
        _: Option<&str>,
        _: &str,
    ) -> Result<Option<Vec<u8>>, String> {
        Err("SMS gateway unreachable".into())
    }
}

#[test]
fn a_channel_that_cannot_take_the_password_defers_the_mail() {
    let gateway = gateway(directory()).with_password_channel(Arc::new(BrokenSms));
    let outcome = gateway.process(
        &Envelope::outbound("alice@behoerde.example", ["fred@fallback.example"]),
        MAIL,
    );
    assert!(outcome.all_deferred(), "{outcome:?}");
    assert!(
        outcome.dispositions[0]
            .reason()
            .unwrap()
            .contains("SMS gateway unreachable")
    );
}

#[test]
#[ignore = "needs p7zip-full"]
fn password_zip_opens_with_7z_and_holds_the_original() {
    let gateway = gateway(directory());
    let mail = String::from_utf8_lossy(MAIL).replace("fred@fallback.example", "zed@zip.example");
    let outcome = gateway.process(
        &Envelope::outbound("alice@behoerde.example", ["zed@zip.example"]),
        mail.as_bytes(),
    );
    let (carrier, notification) = match &outcome.dispositions[..] {
        [
            Disposition::Deliver {
                message,
                notification: Some(n),
                ..
            },
        ] => (message.to_vec().unwrap(), n.clone()),
        other => panic!("expected a delivery with a notification: {other:?}"),
    };
    let password = password_in(&notification);
    assert!(!String::from_utf8_lossy(&carrier).contains(&password));
    let signed_inner = {
        let envelope = mail_message::Envelope::split(&carrier).unwrap();
        let entity = Entity::parse(envelope.message().raw()).unwrap();
        let boundary = entity
            .content_type()
            .unwrap()
            .parameter("boundary")
            .unwrap()
            .to_owned();
        Multipart::split(entity.body(), &boundary).unwrap().parts()[0].to_vec()
    };
    let entity = Entity::parse(&signed_inner).unwrap();
    let boundary = entity
        .content_type()
        .unwrap()
        .parameter("boundary")
        .unwrap()
        .to_owned();
    let zip = Multipart::split(entity.body(), &boundary)
        .unwrap()
        .parts()
        .iter()
        .map(|p| Entity::parse(p).unwrap())
        .find(|p| p.content_type().unwrap().mime_type() == "application/zip")
        .expect("a ZIP part")
        .decoded_body()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("message.zip"), zip).unwrap();
    let extract = Command::new("7z")
        .args(["x", &format!("-p{password}"), "-oout", "message.zip"])
        .current_dir(dir.path())
        .output()
        .expect("7z (Debian: p7zip-full)");
    assert!(
        extract.status.success(),
        "{}",
        String::from_utf8_lossy(&extract.stdout)
    );
    let text = std::fs::read_to_string(dir.path().join("out/message.txt")).unwrap();
    assert!(
        text.contains("Die Personalakte von Herrn Müller."),
        "{text}"
    );
    assert_eq!(
        std::fs::read(dir.path().join("out/gehalt.csv")).unwrap(),
        b"Monat;Brutto\nJanuar;4200\n"
    );
    let original = std::fs::read(dir.path().join("out/message.eml")).unwrap();
    assert!(String::from_utf8_lossy(&original).contains("Subject: Personalakte"));
}
