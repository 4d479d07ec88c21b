//! `mailgate demo`, `mailgate process` and `mailgate certs`, run as a user
//! would, with the results opened by `openssl cms` and `gpg`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use base64ct::Encoding;
use common::{mailgate_in, ok, opened_by_bob, run};
use serde_json::Value;

fn demo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let report = ok(mailgate_in(dir.path(), &["demo", "--dir", "."], b"", &[]));
    let report = String::from_utf8_lossy(&report);
    assert!(
        report.contains("Demo gateway for behoerde.example"),
        "{report}"
    );
    dir
}

fn result(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("result.json")).unwrap()).unwrap()
}

#[test]
fn demo_creates_the_promised_files_and_its_mail_opens_with_openssl_and_gpg() {
    let dir = demo();
    let d = dir.path();
    for file in [
        "mailgate.toml",
        "policy.toml",
        "pki/ca.pem",
        "pki/alice.cert.pem",
        "pki/alice.key.pem",
        "pki/alice.pub.asc",
        "pki/alice.sec.asc",
        "pki/bob.cert.pem",
        "pki/bob.key.pem",
        "pki/carol.pub.asc",
        "pki/carol.sec.asc",
        "data/store.sqlite",
    ] {
        assert!(d.join(file).is_file(), "{file} missing");
    }
    assert!(!d.join("pki/dave.cert.pem").exists());

    // Sample 1: S/MIME for bob, signed by alice inside.
    let sent = std::fs::read(d.join("out/01-confidential-to-bob/message-1.eml")).unwrap();
    assert!(opened_by_bob(&sent, d).contains("Der vertrauliche Quartalsbericht."));

    // Sample 2: OpenPGP for carol.
    let home = tempfile::tempdir().unwrap();
    let homedir = home.path().to_str().unwrap();
    run(
        "gpg",
        &[
            "--homedir",
            homedir,
            "--batch",
            "--import",
            "pki/carol.sec.asc",
        ],
        b"",
        d,
    );
    let sent = String::from_utf8(
        std::fs::read(d.join("out/02-confidential-to-carol/message-1.eml")).unwrap(),
    )
    .unwrap();
    let start = sent.find("-----BEGIN PGP MESSAGE-----").unwrap();
    let end = sent.find("-----END PGP MESSAGE-----").unwrap() + 25;
    let plain = run(
        "gpg",
        &["--homedir", homedir, "--batch", "--decrypt"],
        &sent.as_bytes()[start..end],
        d,
    );
    assert!(String::from_utf8_lossy(&plain).contains("Der vertrauliche Vertragsentwurf."));

    // Sample 3: dave has nothing: a password PDF, the password to alice
    // only; the carrier is signed (openssl verifies it) and the PDF is
    // encrypted (pdftotext opens it: the ignored test below).
    let (pdf, password) = demo_password_pdf(d);
    assert!(pdf.starts_with(b"%PDF-"));
    assert!(pdf.windows(8).any(|w| w == b"/Encrypt"));
    assert!(!String::from_utf8_lossy(&pdf).contains("Personalakte"));
    assert!(!password.is_empty());

    // Sample 4: erin cannot be reached safely: rejected, alice notified.
    let erin = result(&d.join("out/04-to-geheim"));
    assert_eq!(erin["dispositions"][0]["kind"], "reject");
    assert!(
        d.join("out/04-to-geheim")
            .join(erin["dispositions"][0]["notification"].as_str().unwrap())
            .is_file()
    );
}

/// The demo's third sample: dave has no key, so he gets a password PDF
/// inside a carrier mail signed by the gateway, and alice the password.
/// The PDF as the signed carrier holds it (after `openssl cms -verify`)
/// and the password from alice's notification.
fn demo_password_pdf(d: &Path) -> (Vec<u8>, String) {
    let dave = d.join("out/03-confidential-to-dave");
    let result3 = result(&dave);
    assert_eq!(result3["dispositions"][0]["kind"], "deliver");
    let notification = std::fs::read_to_string(
        dave.join(result3["dispositions"][0]["notification"].as_str().unwrap()),
    )
    .unwrap();
    let password = notification
        .lines()
        .find_map(|l| l.strip_prefix("Password: "))
        .unwrap()
        .trim()
        .to_owned();
    let carrier = std::fs::read(dave.join("message-1.eml")).unwrap();
    assert!(!String::from_utf8_lossy(&carrier).contains(&password));
    let signed_content = String::from_utf8(run(
        "openssl",
        &["cms", "-verify", "-CAfile", "pki/ca.pem"],
        &carrier,
        d,
    ))
    .unwrap();
    let pdf_part = &signed_content[signed_content
        .find("Content-Type: application/pdf")
        .unwrap()..];
    let body_start = pdf_part.find("\r\n\r\n").unwrap() + 4;
    let body_end = pdf_part[body_start..].find("\r\n--").unwrap() + body_start;
    let base64: String = pdf_part[body_start..body_end].split_whitespace().collect();
    (base64ct::Base64::decode_vec(&base64).unwrap(), password)
}

#[test]
#[ignore = "needs poppler-utils"]
fn demo_password_pdf_opens_with_pdftotext_and_the_notified_password() {
    let dir = demo();
    let d = dir.path();
    let (pdf, password) = demo_password_pdf(d);
    std::fs::write(d.join("message.pdf"), pdf).unwrap();
    let text = run(
        "pdftotext",
        &["-upw", &password, "-enc", "UTF-8", "message.pdf", "-"],
        b"",
        d,
    );
    assert!(String::from_utf8_lossy(&text).contains("Die vertrauliche Personalakte."));
}

#[test]
fn process_follows_the_contract() {
    let dir = demo();
    let d = dir.path();
    let mail = b"From: alice@behoerde.example\r\nTo: bob@partner.example, erin@geheim.example\r\n\
        Subject: [VERTRAULICH] Akte\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nAktenzeichen 4711\r\n";
    let output = mailgate_in(
        d,
        &[
            "process",
            "--config",
            "mailgate.toml",
            "--direction",
            "outbound",
            "--from",
            "alice@behoerde.example",
            "--to",
            "bob@partner.example",
            "--to",
            "erin@geheim.example",
            "--out-dir",
            "result",
        ],
        mail,
        &[],
    );
    let summary = String::from_utf8_lossy(&ok(output)).into_owned();
    assert!(
        summary.contains("bob@partner.example: deliver"),
        "{summary}"
    );
    assert!(summary.contains("erin@geheim.example: reject"), "{summary}");
    let result = result(&d.join("result"));
    let dispositions = result["dispositions"].as_array().unwrap();
    assert_eq!(dispositions.len(), 2);
    let bob = dispositions
        .iter()
        .find(|x| x["recipients"][0] == "bob@partner.example")
        .unwrap();
    assert_eq!(bob["kind"], "deliver");
    assert!(bob["notification"].is_null());
    assert!(bob["transport"]["require_tls"].is_null());
    let sent = std::fs::read(d.join("result").join(bob["message"].as_str().unwrap())).unwrap();
    assert!(!String::from_utf8_lossy(&sent).contains("Aktenzeichen 4711"));
    let inner = run(
        "openssl",
        &[
            "cms",
            "-decrypt",
            "-recip",
            "pki/bob.cert.pem",
            "-inkey",
            "pki/bob.key.pem",
        ],
        &sent,
        d,
    );
    assert!(String::from_utf8_lossy(&inner).contains("Aktenzeichen 4711"));
    let erin = dispositions
        .iter()
        .find(|x| x["recipients"][0] == "erin@geheim.example")
        .unwrap();
    assert_eq!(erin["kind"], "reject");
    assert!(erin["message"].is_null());
    assert!(
        erin["reason"]
            .as_str()
            .unwrap()
            .contains("no certificate or key")
    );
    assert!(result["audit"]["decisions"].is_array());

    // An unknown direction is a usage error: 2. A configuration that does
    // not load leaves the mail in hand waiting (3: the MTA defers it), so a
    // mistyped path or a broken file never bounces mail.
    let bad = mailgate_in(
        d,
        &[
            "process",
            "--config",
            "mailgate.toml",
            "--direction",
            "sideways",
            "--from",
            "a@b",
            "--to",
            "c@d",
            "--out-dir",
            "x",
        ],
        b"",
        &[],
    );
    assert_eq!(bad.status.code(), Some(2));
    let missing = mailgate_in(
        d,
        &[
            "process",
            "--config",
            "nope.toml",
            "--direction",
            "outbound",
            "--from",
            "a@b",
            "--to",
            "c@d",
            "--out-dir",
            "x",
        ],
        b"",
        &[],
    );
    assert_eq!(missing.status.code(), Some(3));
}

#[test]
fn an_unavailable_certificate_directory_is_a_temporary_failure() {
    let dir = demo();
    let d = dir.path();
    std::fs::remove_file(d.join("data/store.sqlite")).unwrap();
    // A directory where the database file should be: SQLite cannot open it.
    std::fs::create_dir(d.join("data/store.sqlite")).unwrap();
    let output = mailgate_in(
        d,
        &[
            "process",
            "--config",
            "mailgate.toml",
            "--direction",
            "outbound",
            "--from",
            "alice@behoerde.example",
            "--to",
            "bob@partner.example",
            "--out-dir",
            "r",
        ],
        b"Subject: [vertraulich] x\r\n\r\nGeheim\r\n",
        &[],
    );
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!d.join("r/message-1.eml").exists());
}

#[test]
fn certs_list_import_approve_reject() {
    let dir = demo();
    let d = dir.path();
    let list = |state: &str| -> Value {
        let out = ok(mailgate_in(
            d,
            &[
                "--json",
                "certs",
                "list",
                "--state",
                state,
                "--config",
                "mailgate.toml",
            ],
            b"",
            &[],
        ));
        serde_json::from_slice(&out).unwrap()
    };
    assert_eq!(list("trusted")["certificates"].as_array().unwrap().len(), 2);
    // The demo's inbound samples harvested nothing new (bob was known).
    assert_eq!(list("pending")["certificates"].as_array().unwrap().len(), 0);

    // Import alice's OpenPGP certificate: trusted, and known on a second import.
    let imported: Value = serde_json::from_slice(&ok(mailgate_in(
        d,
        &[
            "--json",
            "certs",
            "import",
            "pki/alice.pub.asc",
            "--config",
            "mailgate.toml",
        ],
        b"",
        &[],
    )))
    .unwrap();
    let id = imported["imported"][0]["id"].as_i64().unwrap();
    assert_eq!(imported["imported"][0]["new"], true);
    assert_eq!(
        imported["imported"][0]["addresses"][0],
        "alice@behoerde.example"
    );
    let again: Value = serde_json::from_slice(&ok(mailgate_in(
        d,
        &[
            "--json",
            "certs",
            "import",
            "pki/alice.pub.asc",
            "--config",
            "mailgate.toml",
        ],
        b"",
        &[],
    )))
    .unwrap();
    assert_eq!(again["imported"][0]["new"], false);

    ok(mailgate_in(
        d,
        &[
            "certs",
            "reject",
            &id.to_string(),
            "--config",
            "mailgate.toml",
        ],
        b"",
        &[],
    ));
    assert_eq!(list("rejected")["certificates"][0]["id"], id);
    ok(mailgate_in(
        d,
        &[
            "certs",
            "approve",
            &id.to_string(),
            "--config",
            "mailgate.toml",
        ],
        b"",
        &[],
    ));
    assert_eq!(list("trusted")["certificates"].as_array().unwrap().len(), 3);

    let unknown = mailgate_in(
        d,
        &["certs", "approve", "999", "--config", "mailgate.toml"],
        b"",
        &[],
    );
    assert_eq!(unknown.status.code(), Some(2));
    let garbage = mailgate_in(
        d,
        &[
            "certs",
            "import",
            "policy.toml",
            "--config",
            "mailgate.toml",
        ],
        b"",
        &[],
    );
    assert_eq!(garbage.status.code(), Some(2));
}

/// The audit record `mailgate process` writes in `result.json` is the
/// facade's typed `Audit`, to the byte: each demo sample's record (outbound
/// and inbound, delivered, fallback and rejected) reads into `Audit` and
/// comes out as the same JSON text (field names, alphabetical order,
/// `null` where the CLI writes `null`, absent where it leaves a field
/// out), and that JSON reads back into an equal `Audit`.
#[test]
fn result_json_audit_is_the_typed_audit_byte_for_byte() {
    use gateway_facade::audit::Audit;
    let dir = demo();
    let mut samples = std::fs::read_dir(dir.path().join("out"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect::<Vec<_>>();
    samples.sort();
    assert!(samples.len() >= 9, "{samples:?}");
    let mut inbound = 0;
    for sample in samples {
        let written = result(&sample)["audit"].clone();
        let audit: Audit = serde_json::from_value(written.clone())
            .unwrap_or_else(|e| panic!("{}: {e}\n{written}", sample.display()));
        assert_eq!(
            serde_json::to_string_pretty(&audit).unwrap(),
            serde_json::to_string_pretty(&written).unwrap(),
            "{}",
            sample.display()
        );
        let again: Audit = serde_json::from_str(&serde_json::to_string(&audit).unwrap()).unwrap();
        assert_eq!(again, audit, "{}", sample.display());
        assert!(audit.decisions.as_ref().is_some_and(|d| !d.is_empty()));
        assert!(audit.envelope.is_some() && audit.size.is_some());
        if audit.signature.is_some() {
            inbound += 1;
            assert!(audit.decryption.is_some() && audit.inner_fields.is_some());
        }
    }
    assert!(inbound >= 3, "the demo's inbound samples are covered");
}
