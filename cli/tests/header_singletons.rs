//! Issue 16, finding 2: duplicate header fields made the policy and the
//! cryptography read different messages. Through `mailgate process` with
//! the demo set-up: a mail with a field RFC 5322 allows once, twice, is
//! refused before the policy (outbound: rejected with the reason; inbound:
//! quarantined), never delivered in clear or as if its signature held.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::demo;

use std::path::Path;

use common::{mailgate_in, run};
use serde_json::Value;

/// Runs `mailgate process` and returns result.json.
fn process(d: &Path, direction: &str, from: &str, to: &[&str], mail: &[u8], out: &str) -> Value {
    let mut args = vec![
        "process",
        "--config",
        "mailgate.toml",
        "--direction",
        direction,
        "--from",
        from,
        "--out-dir",
        out,
    ];
    for recipient in to {
        args.extend(["--to", recipient]);
    }
    let output = mailgate_in(d, &args, mail, &[]);
    assert!(
        output.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&std::fs::read(d.join(out).join("result.json")).unwrap()).unwrap()
}

/// Every file a `deliver` disposition hands on.
fn delivered(d: &Path, out: &str, result: &Value) -> Vec<Vec<u8>> {
    result["dispositions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == "deliver")
        .map(|x| std::fs::read(d.join(out).join(x["message"].as_str().unwrap())).unwrap())
        .collect()
}

#[test]
fn a_vertraulich_tag_in_either_of_two_subjects_never_leaves_in_clear() {
    let dir = demo();
    let d = dir.path();
    let cases = [
        ("first", "[vertraulich] Akte", "Akte"),
        ("second", "Akte", "[vertraulich] Akte"),
        // The same with encoded words and case: the tag is in the decoded
        // text only.
        ("encoded", "=?utf-8?q?=5BVERTRAULICH=5D_Akte?=", "Akte"),
    ];
    for (name, first, second) in cases {
        let mail = format!(
            "From: alice@behoerde.example\r\nTo: bob@partner.example, dave@extern.example\r\n\
             Subject: {first}\r\nSubject: {second}\r\nMIME-Version: 1.0\r\n\
             Content-Type: text/plain\r\n\r\nAktenzeichen 4711\r\n"
        );
        let out = format!("out-{name}");
        let result = process(
            d,
            "outbound",
            "alice@behoerde.example",
            &["bob@partner.example", "dave@extern.example"],
            mail.as_bytes(),
            &out,
        );
        for sent in delivered(d, &out, &result) {
            assert!(
                !String::from_utf8_lossy(&sent).contains("Aktenzeichen 4711"),
                "{name}: delivered in clear"
            );
        }
        let dispositions = result["dispositions"].as_array().unwrap();
        assert_eq!(dispositions.len(), 1, "{name}: {result}");
        let reject = &dispositions[0];
        assert_eq!(reject["kind"], "reject", "{name}: {result}");
        assert_eq!(
            reject["recipients"],
            serde_json::json!(["bob@partner.example", "dave@extern.example"])
        );
        let reason = reject["reason"].as_str().unwrap();
        assert!(reason.contains("Subject appears 2 times"), "{reason}");
        // The sender is told why.
        let notification =
            std::fs::read_to_string(d.join(&out).join(reject["notification"].as_str().unwrap()))
                .unwrap();
        assert!(
            notification.contains("To: <alice@behoerde.example>"),
            "{notification}"
        );
        assert!(
            notification.contains("Subject appears 2 times"),
            "{notification}"
        );
    }

    // One Subject with the tag (the control): protected, not refused.
    let mail = b"From: alice@behoerde.example\r\nTo: bob@partner.example\r\n\
        Subject: [vertraulich] Akte\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nAktenzeichen 4711\r\n";
    let result = process(
        d,
        "outbound",
        "alice@behoerde.example",
        &["bob@partner.example"],
        mail,
        "out-single",
    );
    assert_eq!(result["dispositions"][0]["kind"], "deliver", "{result}");
    let sent = delivered(d, "out-single", &result);
    assert!(!String::from_utf8_lossy(&sent[0]).contains("Aktenzeichen 4711"));
}

/// bob's S/MIME signature over a text mail to alice, made by `openssl cms
/// -sign` (multipart/signed, CRLF).
fn signed_by_bob(d: &Path) -> Vec<u8> {
    std::fs::write(
        d.join("content.txt"),
        b"Content-Type: text/plain; charset=us-ascii\r\n\r\nBericht erhalten, danke.\r\n",
    )
    .unwrap();
    let signed = run(
        "openssl",
        &[
            "cms",
            "-sign",
            "-in",
            "content.txt",
            "-signer",
            "pki/bob.cert.pem",
            "-inkey",
            "pki/bob.key.pem",
            "-crlfeol",
        ],
        b"",
        d,
    );
    let mut mail = b"From: bob@partner.example\r\nTo: alice@behoerde.example\r\n\
        Subject: Rueckmeldung\r\n"
        .to_vec();
    mail.extend_from_slice(&signed);
    mail
}

/// `mail` with `field` inserted before or after its first Content-Type field.
fn with_field(mail: &[u8], field: &str, after: bool) -> Vec<u8> {
    let text = String::from_utf8(mail.to_vec()).unwrap();
    let at = text.find("Content-Type: multipart/signed").unwrap();
    let at = if after {
        // The end of the (possibly folded) field.
        let mut end = at;
        loop {
            let line_end = text[end..].find("\r\n").unwrap() + end + 2;
            end = line_end;
            if !text[end..].starts_with([' ', '\t']) {
                break;
            }
        }
        end
    } else {
        at
    };
    let mut out = text[..at].to_owned();
    out.push_str(field);
    out.push_str(&text[at..]);
    out.into_bytes()
}

#[test]
fn two_content_types_on_a_signed_mail_are_neither_valid_nor_delivered() {
    let dir = demo();
    let d = dir.path();
    let mail = signed_by_bob(d);

    // The control: as openssl made it, the signature is valid.
    let result = process(
        d,
        "inbound",
        "bob@partner.example",
        &["alice@behoerde.example"],
        &mail,
        "out-control",
    );
    let sent = delivered(d, "out-control", &result);
    assert_eq!(sent.len(), 1, "{result}");
    assert!(
        String::from_utf8_lossy(&sent[0]).contains("X-Mailgate-Signature: valid"),
        "{}",
        String::from_utf8_lossy(&sent[0])
    );

    let variants = [
        ("after", "Content-Type: text/plain\r\n", true),
        ("before", "Content-Type: text/plain\r\n", false),
        ("subject", "Subject: Rechnung\r\n", true),
    ];
    for (name, field, after) in variants {
        let forged = with_field(&mail, field, after);
        let out = format!("out-{name}");
        let result = process(
            d,
            "inbound",
            "bob@partner.example",
            &["alice@behoerde.example"],
            &forged,
            &out,
        );
        let dispositions = result["dispositions"].as_array().unwrap();
        assert_eq!(dispositions.len(), 1, "{name}: {result}");
        assert_eq!(dispositions[0]["kind"], "quarantine", "{name}: {result}");
        let reason = dispositions[0]["reason"].as_str().unwrap();
        let field_name = field.split(':').next().unwrap();
        assert!(
            reason.contains(&format!("{field_name} appears 2 times")),
            "{name}: {reason}"
        );
        // The held copy carries no verdict a reader could take for one.
        let held = std::fs::read(
            d.join(&out)
                .join(dispositions[0]["message"].as_str().unwrap()),
        )
        .unwrap();
        assert!(
            !String::from_utf8_lossy(&held).contains("X-Mailgate-Signature: valid"),
            "{name}"
        );

        // The verifier on its own does not call it valid either.
        std::fs::write(d.join("forged.eml"), &forged).unwrap();
        if field.starts_with("Content-Type") {
            let verify = mailgate_in(
                d,
                &["smime", "verify", "--trust", "pki/ca.pem"],
                &forged,
                &[],
            );
            assert_ne!(
                verify.status.code(),
                Some(0),
                "{name}: {}",
                String::from_utf8_lossy(&verify.stdout)
            );
        }
    }
}

/// carol's PGP/MIME signature (RFC 3156) over a text mail to alice: the
/// detached signature made by `gpg --detach-sign` over the exact part.
fn signed_by_carol(d: &Path) -> Vec<u8> {
    let home = d.join("gnupg");
    std::fs::create_dir_all(&home).unwrap();
    let homedir = home.to_str().unwrap();
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
    let part = b"Content-Type: text/plain; charset=us-ascii\r\n\r\nUnterlagen anbei.\r\n";
    std::fs::write(d.join("part.txt"), part).unwrap();
    let signature = run(
        "gpg",
        &[
            "--homedir",
            homedir,
            "--batch",
            "--armor",
            "--digest-algo",
            "SHA256",
            "--local-user",
            "carol@extern.example",
            "--detach-sign",
            "--output",
            "-",
            "part.txt",
        ],
        b"",
        d,
    );
    let signature = String::from_utf8(signature).unwrap().replace('\n', "\r\n");
    let mut mail = b"From: carol@extern.example\r\nTo: alice@behoerde.example\r\n\
        Subject: Unterlagen\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/signed; micalg=pgp-sha256; protocol=\"application/pgp-signature\"; boundary=\"sig\"\r\n\
        \r\n--sig\r\n"
        .to_vec();
    mail.extend_from_slice(part);
    mail.extend_from_slice(
        b"\r\n--sig\r\nContent-Type: application/pgp-signature; name=\"signature.asc\"\r\n\r\n",
    );
    mail.extend_from_slice(signature.as_bytes());
    mail.extend_from_slice(b"\r\n--sig--\r\n");
    mail
}

#[test]
fn two_content_types_on_a_pgp_mime_signed_mail_are_neither_valid_nor_delivered() {
    let dir = demo();
    let d = dir.path();
    let mail = signed_by_carol(d);
    let result = process(
        d,
        "inbound",
        "carol@extern.example",
        &["alice@behoerde.example"],
        &mail,
        "out-control",
    );
    let sent = delivered(d, "out-control", &result);
    assert_eq!(sent.len(), 1, "{result}");
    assert!(
        String::from_utf8_lossy(&sent[0]).contains("X-Mailgate-Signature: valid"),
        "{}",
        String::from_utf8_lossy(&sent[0])
    );
    for (name, after) in [("after", true), ("before", false)] {
        let forged = with_field(&mail, "Content-Type: text/plain\r\n", after);
        let out = format!("out-{name}");
        let result = process(
            d,
            "inbound",
            "carol@extern.example",
            &["alice@behoerde.example"],
            &forged,
            &out,
        );
        let dispositions = result["dispositions"].as_array().unwrap();
        assert_eq!(dispositions.len(), 1, "{name}: {result}");
        assert_eq!(dispositions[0]["kind"], "quarantine", "{name}: {result}");
        assert!(
            dispositions[0]["reason"]
                .as_str()
                .unwrap()
                .contains("Content-Type appears 2 times"),
            "{name}: {result}"
        );
        let verify = mailgate_in(
            d,
            &["pgp", "verify", "--cert", "pki/carol.pub.asc"],
            &forged,
            &[],
        );
        assert_ne!(
            verify.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&verify.stdout)
        );
    }
}
