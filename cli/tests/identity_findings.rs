//! Issue 16, findings 4 and 8 (Date): `mailgate smime verify` and
//! `mailgate pgp verify` judge the header fields that name the author
//! beside a valid signature. OpenSSL and GnuPG make the signatures; the
//! outer header (outside the signature in `multipart/signed`, as any relay
//! could change it) carries the deception.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod pgp_common;

use std::process::Output;
use std::time::{Duration, SystemTime};

use pgp_common::{Gpg, json, key, s, wrap_signed};
use testkit::{KeyKind, PgpSuite, pki};

const EVE: &str = "eve@bigcorporation.de";
const ENTITY: &str = "Content-Type: text/plain; charset=utf-8\r\n\r\nBitte sofort ueberweisen.\r\n";

/// Header variants and what `verify` must answer: (extra fields, From,
/// exit code, finding names).
fn cases(now: SystemTime) -> Vec<(String, String, i32, Vec<&'static str>)> {
    let date = |offset: i64| {
        let time = if offset >= 0 {
            now + Duration::from_secs(offset.unsigned_abs())
        } else {
            now - Duration::from_secs(offset.unsigned_abs())
        };
        format!("Date: {}\r\n", mail_message::rfc5322_date(time))
    };
    vec![
        (date(0), format!("Eve <{EVE}>"), 0, vec![]),
        (
            date(0),
            format!("manager@bigcorporation.de <{EVE}>"),
            1,
            vec!["display-name-names-other-address"],
        ),
        (
            date(0),
            format!("=?utf-8?b?bWFuYWdlckBiaWdjb3Jwb3JhdGlvbi5kZQ==?= <{EVE}>"),
            1,
            vec!["display-name-names-other-address"],
        ),
        // Spellings the verdict's former decoder did not read, read now
        // as the policy reads them (mail_message::shown_text): UTF-16
        // split over two unpadded words, unpadded UTF-8 with a soft
        // hyphen and a full-width at sign.
        (
            date(0),
            format!(
                "=?utf-16be?b?AG0AYQBuAGEAZwBlAHIAQA?= =?UTF-16BE?B?AGIAaQBnAGMAbwByAHAAbwByAGEAdABpAG8AbgAuAGQAZQ?= <{EVE}>"
            ),
            1,
            vec!["display-name-names-other-address"],
        ),
        (
            date(0),
            format!("=?utf-8?b?bWFuYcKtZ2Vy77ygYmlnY29ycG9yYXRpb24uZGU?= <{EVE}>"),
            1,
            vec!["display-name-names-other-address"],
        ),
        (
            date(0) + "Sender: manager@bigcorporation.de\r\n",
            EVE.to_owned(),
            1,
            vec!["sender-differs"],
        ),
        (
            date(0) + "Reply-To: eve@elsewhere.example\r\n",
            EVE.to_owned(),
            0,
            vec!["reply-to-other-domain"],
        ),
        (
            date(-3 * 3600),
            EVE.to_owned(),
            0,
            vec!["date-differs-from-signing-time"],
        ),
        (date(-50 * 60), EVE.to_owned(), 0, vec![]),
    ]
}

/// `extra` and `From: from` put in front of the header of a signed
/// message (`signed` starts with its own header fields).
fn with_header(signed: &[u8], from: &str, extra: &str) -> Vec<u8> {
    let mut out =
        format!("From: {from}\r\nTo: alice@behoerde.example\r\nSubject: Zahlung\r\n{extra}")
            .into_bytes();
    out.extend_from_slice(signed);
    out
}

fn findings(output: &Output) -> Vec<String> {
    json(output)["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect()
}

fn check(output: &Output, expected_code: i32, expected: &[&str], case: &str) {
    assert_eq!(
        output.status.code(),
        Some(expected_code),
        "{case}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(findings(output), expected, "{case}");
}

#[test]
fn smime_verify_judges_display_name_sender_reply_to_and_date_of_openssl_signed_mail() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki().smime(EVE, KeyKind::P256).write_to(d, "eve").unwrap();
    std::fs::write(d.join("entity.txt"), ENTITY).unwrap();
    // OpenSSL signs now: its signing-time attribute is the current time.
    let signed = common::run(
        "openssl",
        &[
            "cms",
            "-sign",
            "-signer",
            "eve.cert.pem",
            "-inkey",
            "eve.key.pem",
            "-certfile",
            "eve.chain.pem",
            "-in",
            "entity.txt",
        ],
        b"",
        d,
    );
    let verify = |message: &[u8], extra: &[&str]| {
        let mut args = vec!["--json", "smime", "verify", "--trust", "eve.root.pem"];
        args.extend_from_slice(extra);
        common::mailgate_in(d, &args, message, &[])
    };
    for (extra, from, code, expected) in cases(SystemTime::now()) {
        let message = with_header(&signed, &from, &extra);
        let case = format!("From: {from} / {extra}");
        check(&verify(&message, &[]), code, &expected, &case);
        assert_eq!(json(&verify(&message, &[]))["verdict"], "signed-by-from");
    }
    date_options(&signed, |message, extra| verify(message, extra));
}

/// `--strict` makes the Date finding an exit 1; `--date-tolerance` moves
/// the line.
fn date_options(signed: &[u8], verify: impl Fn(&[u8], &[&str]) -> Output) {
    let three_hours_ago = SystemTime::now() - Duration::from_secs(3 * 3600);
    let extra = format!("Date: {}\r\n", mail_message::rfc5322_date(three_hours_ago));
    let message = with_header(signed, EVE, &extra);
    let date = ["date-differs-from-signing-time"];
    check(&verify(&message, &["--strict"]), 1, &date, "strict");
    check(
        &verify(&message, &["--strict", "--date-tolerance", "4h"]),
        0,
        &[],
        "strict, 4h",
    );
    check(
        &verify(&message, &["--date-tolerance", "2h"]),
        0,
        &date,
        "2h",
    );
    // The text report names the finding too.
    let text = verify(
        &with_header(signed, &format!("ceo@bigcorporation.de <{EVE}>"), ""),
        &[],
    );
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(text.contains("display-name-names-other-address"), "{text}");
}

#[test]
fn pgp_verify_judges_display_name_sender_reply_to_and_date_of_gpg_signed_mail() {
    let eve = key(&format!("Eve <{EVE}>"), PgpSuite::Cv25519);
    let gpg = Gpg::new();
    gpg.import(&eve, true);
    let files = eve.write_to(gpg.home.path(), "eve").unwrap();
    let content = gpg.write("entity", ENTITY.as_bytes());
    let signature = gpg
        .ok(
            &["--armor", "--detach-sign", "--output", "-", s(&content)],
            b"",
        )
        .stdout;
    // gpg signs now: the signature's creation time is the current time.
    let signed = wrap_signed(EVE, ENTITY.as_bytes(), &signature, "pgp-sha256");
    // Without the From/To/Subject wrap_signed wrote: the cases put theirs.
    let body_start = signed
        .windows(12)
        .position(|w| w == b"MIME-Version")
        .unwrap();
    let signed = signed[body_start..].to_vec();
    let verify = |message: &[u8], extra: &[&str]| {
        let mut args = vec!["--json", "pgp", "verify", "--cert", s(&files.public)];
        args.extend_from_slice(extra);
        common::mailgate_in(gpg.home.path(), &args, message, &[])
    };
    for (extra, from, code, expected) in cases(SystemTime::now()) {
        let message = with_header(&signed, &from, &extra);
        let case = format!("From: {from} / {extra}");
        check(&verify(&message, &[]), code, &expected, &case);
        assert_eq!(json(&verify(&message, &[]))["verdict"], "signed-by-from");
    }
    date_options(&signed, |message, extra| verify(message, extra));
}

/// The gateway names the signer and the finding in its result field, and
/// the baseline policy (R10, in the demo) quarantines the mail; a warning
/// alone is delivered with the field saying so.
#[test]
fn the_gateway_marks_and_the_baseline_quarantines_a_display_name_naming_another_address() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::ok(common::mailgate_in(d, &["demo", "--dir", "."], b"", &[]));
    std::fs::write(d.join("entity.txt"), ENTITY).unwrap();
    let smime = common::run(
        "openssl",
        &[
            "cms",
            "-sign",
            "-signer",
            "pki/bob.cert.pem",
            "-inkey",
            "pki/bob.key.pem",
            "-in",
            "entity.txt",
        ],
        b"",
        d,
    );
    let home = tempfile::tempdir().unwrap();
    let homedir = home.path().to_str().unwrap();
    common::run(
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
    let signature = common::run(
        "gpg",
        &[
            "--homedir",
            homedir,
            "--batch",
            "--armor",
            "--detach-sign",
            "--output",
            "-",
            "entity.txt",
        ],
        b"",
        d,
    );
    let pgp = wrap_signed("x", ENTITY.as_bytes(), &signature, "pgp-sha256");
    let pgp_start = pgp.windows(12).position(|w| w == b"MIME-Version").unwrap();
    let pgp = pgp[pgp_start..].to_vec();
    let now = format!(
        "Date: {}\r\n",
        mail_message::rfc5322_date(SystemTime::now())
    );
    for (signed, signer, address) in [
        (
            &smime,
            "method=smime; signer=bob@partner.example",
            "bob@partner.example",
        ),
        (
            &pgp,
            "method=pgp; signer=Carol <carol@extern.example>",
            "carol@extern.example",
        ),
    ] {
        for (from, extra, kind, warning) in [
            (
                format!("alice@behoerde.example <{address}>"),
                now.clone(),
                "quarantine",
                "display-name-names-other-address",
            ),
            (
                address.to_owned(),
                now.clone() + "Sender: alice@behoerde.example\r\n",
                "quarantine",
                "sender-differs",
            ),
            (
                address.to_owned(),
                now.clone() + "Reply-To: someone@elsewhere.example\r\n",
                "deliver",
                "reply-to-other-domain",
            ),
        ] {
            let message = with_header(signed, &from, &extra);
            let out = format!("out-{warning}-{}", address.len());
            common::ok(common::mailgate_in(
                d,
                &[
                    "process",
                    "--config",
                    "mailgate.toml",
                    "--direction",
                    "inbound",
                    "--from",
                    address,
                    "--to",
                    "alice@behoerde.example",
                    "--out-dir",
                    &out,
                ],
                &message,
                &[],
            ));
            let result: serde_json::Value =
                serde_json::from_slice(&std::fs::read(d.join(&out).join("result.json")).unwrap())
                    .unwrap();
            let disposition = &result["dispositions"][0];
            assert_eq!(disposition["kind"], kind, "{from} {extra}: {result:#}");
            let expected = format!("valid; {signer}; warning={warning}");
            assert_eq!(
                result["audit"]["signature"],
                expected.as_str(),
                "{result:#}"
            );
            let delivered =
                std::fs::read(d.join(&out).join(disposition["message"].as_str().unwrap())).unwrap();
            let header = String::from_utf8_lossy(&delivered[..600]).into_owned();
            assert!(
                header.starts_with(&format!("X-Mailgate-Signature: {expected}\r\n")),
                "{header}"
            );
        }
    }
}

/// A signed entity with an RFC 9788 protected header (`hp="clear"`) whose
/// From is someone else than the outer From: clients implementing the RFC
/// show the protected one. OpenSSL and GnuPG sign it; `verify` exits 1.
#[test]
fn a_protected_from_other_than_the_outer_from_is_refused_by_both_verifiers() {
    const PROTECTED: &str = "Content-Type: text/plain; charset=utf-8; hp=\"clear\"\r\n\
        From: manager@bigcorporation.de\r\nSubject: Zahlung\r\n\r\nBitte sofort ueberweisen.\r\n";
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    pki().smime(EVE, KeyKind::P256).write_to(d, "eve").unwrap();
    std::fs::write(d.join("entity.txt"), PROTECTED).unwrap();
    let smime = common::run(
        "openssl",
        &[
            "cms",
            "-sign",
            "-signer",
            "eve.cert.pem",
            "-inkey",
            "eve.key.pem",
            "-certfile",
            "eve.chain.pem",
            "-in",
            "entity.txt",
        ],
        b"",
        d,
    );
    let message = with_header(&smime, EVE, "");
    let output = common::mailgate_in(
        d,
        &["--json", "smime", "verify", "--trust", "eve.root.pem"],
        &message,
        &[],
    );
    check(&output, 1, &["protected-from-differs"], "smime hp=clear");

    let eve = key(&format!("Eve <{EVE}>"), PgpSuite::Cv25519);
    let gpg = Gpg::new();
    gpg.import(&eve, true);
    let files = eve.write_to(gpg.home.path(), "eve").unwrap();
    let content = gpg.write("entity", PROTECTED.as_bytes());
    let signature = gpg
        .ok(
            &["--armor", "--detach-sign", "--output", "-", s(&content)],
            b"",
        )
        .stdout;
    let signed = wrap_signed(EVE, PROTECTED.as_bytes(), &signature, "pgp-sha256");
    let output = common::mailgate_in(
        gpg.home.path(),
        &["--json", "pgp", "verify", "--cert", s(&files.public)],
        &signed,
        &[],
    );
    check(&output, 1, &["protected-from-differs"], "pgp hp=clear");
    // The same protected header naming eve is fine.
    let honest = PROTECTED.replace("manager@", "eve@");
    let content = gpg.write("honest", honest.as_bytes());
    let signature = gpg
        .ok(
            &["--armor", "--detach-sign", "--output", "-", s(&content)],
            b"",
        )
        .stdout;
    let signed = wrap_signed(EVE, honest.as_bytes(), &signature, "pgp-sha256");
    let output = common::mailgate_in(
        gpg.home.path(),
        &["--json", "pgp", "verify", "--cert", s(&files.public)],
        &signed,
        &[],
    );
    check(&output, 0, &[], "pgp hp=clear, same From");
}
