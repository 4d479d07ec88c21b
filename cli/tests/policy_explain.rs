//! `mailgate policy explain` over the shipped baseline policy: rules R1 to
//! R9 through the real binary, the `--json` shape of the issue, exit codes
//! (1 when the mail reaches nobody, 2 on invalid policy or input).

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::mailgate_in;
use serde_json::{Value, json};

fn baseline() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policies/baseline.toml")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

/// Runs `mailgate [--json] policy explain baseline.toml --direction D
/// --from FROM --to ...` with `facts` (if any) as the facts file.
fn explain(
    json: bool,
    direction: &str,
    from: &str,
    to: &[&str],
    facts: Option<&str>,
    message: &[u8],
) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let policy = baseline();
    let mut args: Vec<&str> = Vec::new();
    if json {
        args.push("--json");
    }
    args.extend([
        "policy",
        "explain",
        policy.to_str().unwrap(),
        "--direction",
        direction,
        "--from",
        from,
    ]);
    for t in to {
        args.extend(["--to", t]);
    }
    if let Some(facts) = facts {
        std::fs::write(dir.path().join("facts.json"), facts).unwrap();
        args.extend(["--facts", "facts.json"]);
    }
    mailgate_in(dir.path(), &args, message, &[])
}

/// The `--json` output of a run that exits `code`.
fn explain_json(
    code: i32,
    direction: &str,
    from: &str,
    to: &[&str],
    facts: Option<&str>,
    message: &[u8],
) -> Value {
    let output = explain(true, direction, from, to, facts, message);
    assert_eq!(output.status.code(), Some(code), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The entry for `address`, checked to have exactly the keys of the issue.
fn recipient<'v>(value: &'v Value, address: &str) -> &'v Value {
    let entry = value["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["address"] == address)
        .unwrap_or_else(|| panic!("no {address} in {value:#}"));
    let mut keys: Vec<&String> = entry.as_object().unwrap().keys().collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["actions", "address", "decided_by", "method", "trace"]
    );
    entry
}

fn trace_text(entry: &Value) -> String {
    entry["trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect::<Vec<_>>()
        .join("\n")
}

fn plain(subject: &str, extra_headers: &str) -> Vec<u8> {
    format!(
        "From: alice@behoerde.example\r\nTo: someone@example\r\nSubject: {subject}\r\n{extra_headers}Content-Type: text/plain; charset=utf-8\r\n\r\nGuten Tag.\r\n"
    )
    .into_bytes()
}

fn with_attachment() -> Vec<u8> {
    b"From: alice@behoerde.example\r\nSubject: Unterlagen\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nAnbei.\r\n--b\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n--b--\r\n".to_vec()
}

const SENDER_SMIME: &str = r#"{"sender": {"smime": true, "pgp": true}, "recipients": {
    "bob@extern.example": {"smime": true},
    "carol@pgp.example": {"pgp": true},
    "tls@extern.example": {"tls": true},
    "gus@geheim.example": {"pgp": true}
}}"#;

#[test]
fn r2_confidential_mail_is_encrypted_per_recipient_or_falls_back() {
    let value = explain_json(
        0,
        "outbound",
        "alice@behoerde.example",
        &[
            "bob@extern.example",
            "carol@pgp.example",
            "dave@nokey.example",
        ],
        Some(SENDER_SMIME),
        &plain("[Vertraulich] Akte 4711", ""),
    );
    assert_eq!(value.as_object().unwrap().len(), 1);
    assert_eq!(value["recipients"].as_array().unwrap().len(), 3);

    let bob = recipient(&value, "bob@extern.example");
    assert_eq!(bob["actions"], json!(["sign", "encrypt", "deliver"]));
    assert_eq!(bob["method"], "smime");
    assert_eq!(bob["decided_by"], "R2");
    let bob_trace = trace_text(bob);
    assert!(
        bob_trace.contains("R2-tag adds header edit: strip [vertraulich] from the Subject"),
        "{bob_trace}"
    );

    let carol = recipient(&value, "carol@pgp.example");
    assert_eq!(carol["actions"], json!(["sign", "encrypt", "deliver"]));
    assert_eq!(carol["method"], "pgp");

    // No certificate and no key: what happens is the fallback, not encrypt.
    let dave = recipient(&value, "dave@nokey.example");
    assert_eq!(
        dave["actions"],
        json!(["sign", "fallback-password-pdf", "deliver"])
    );
    assert_eq!(dave["method"], Value::Null);
    assert_eq!(dave["decided_by"], "R2");
}

#[test]
fn r2_classification_headers_count_as_confidential() {
    for header in [
        "Sensitivity: Company-Confidential\r\n",
        "X-Classification: CONFIDENTIAL\r\n",
    ] {
        let value = explain_json(
            0,
            "outbound",
            "alice@behoerde.example",
            &["bob@extern.example"],
            Some(SENDER_SMIME),
            &plain("Akte", header),
        );
        let bob = recipient(&value, "bob@extern.example");
        assert_eq!(bob["decided_by"], "R2", "{header}");
        assert_eq!(bob["method"], "smime");
    }
}

#[test]
fn r1_a_sender_without_signing_key_is_blocked_for_everyone_exit_1() {
    let output = explain(
        false,
        "outbound",
        "alice@behoerde.example",
        &["bob@extern.example"],
        None,
        &plain("Hallo", ""),
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let out = stdout(&output);
    assert!(
        out.starts_with("bob@extern.example: block, notify-sender (reason: signature required"),
        "{out}"
    );
    assert!(
        out.contains("R1 requires a signature but the sender has no signing key"),
        "{out}"
    );
    assert!(
        out.ends_with("the mail is delivered to no recipient\n"),
        "{out}"
    );

    // PGP only: signed with PGP (the preference falls through).
    let value = explain_json(
        0,
        "outbound",
        "alice@behoerde.example",
        &["bob@extern.example"],
        Some(r#"{"sender": {"pgp": true}}"#),
        &plain("Hallo", ""),
    );
    let bob = recipient(&value, "bob@extern.example");
    assert_eq!(bob["actions"], json!(["sign", "deliver"]));
    assert_eq!(bob["decided_by"], Value::Null);
    assert!(trace_text(bob).contains("adds sign"), "{bob:#}");
}

#[test]
fn r3_attachments_to_external_recipients_need_bsi_tls_or_encryption() {
    let value = explain_json(
        0,
        "outbound",
        "alice@behoerde.example",
        &[
            "tls@extern.example",
            "bob@extern.example",
            "dave@nokey.example",
            "eve@behoerde.example",
        ],
        Some(SENDER_SMIME),
        &with_attachment(),
    );
    let tls = recipient(&value, "tls@extern.example");
    assert_eq!(tls["actions"], json!(["sign", "require-tls", "deliver"]));
    assert_eq!(tls["decided_by"], "R3");
    let bob = recipient(&value, "bob@extern.example");
    assert_eq!(bob["actions"], json!(["sign", "encrypt", "deliver"]));
    assert_eq!(bob["decided_by"], "R3-fallback");
    let dave = recipient(&value, "dave@nokey.example");
    assert_eq!(
        dave["actions"],
        json!(["sign", "fallback-password-pdf", "deliver"])
    );
    // Internal recipients: no TLS rule.
    let eve = recipient(&value, "eve@behoerde.example");
    assert_eq!(eve["actions"], json!(["sign", "deliver"]));
    assert_eq!(eve["decided_by"], Value::Null);
}

#[test]
fn r4_mail_over_25_mb_is_blocked_and_the_sender_notified() {
    let mut message = plain("Groß", "");
    message.extend(
        std::iter::repeat_n(
            b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde\r\n".as_slice(),
            400_000,
        )
        .flatten(),
    );
    assert!(message.len() > 25_000_000);
    let value = explain_json(
        1,
        "outbound",
        "alice@behoerde.example",
        &["bob@extern.example"],
        Some(SENDER_SMIME),
        &message,
    );
    let bob = recipient(&value, "bob@extern.example");
    assert_eq!(bob["actions"], json!(["block", "notify-sender"]));
    assert_eq!(bob["decided_by"], "R4");
}

#[test]
fn r5_partners_are_whitelisted_but_r2_still_applies() {
    let plain_value = explain_json(
        0,
        "outbound",
        "alice@behoerde.example",
        &["bob@partner.example"],
        Some(SENDER_SMIME),
        &with_attachment(),
    );
    let bob = recipient(&plain_value, "bob@partner.example");
    assert_eq!(bob["actions"], json!(["sign", "deliver", "whitelist"]));
    assert_eq!(bob["decided_by"], Value::Null);
    assert!(
        trace_text(bob).contains("R3 disabled by domain =partner.example"),
        "{bob:#}"
    );

    let confidential = explain_json(
        0,
        "outbound",
        "alice@behoerde.example",
        &["bob@partner.example"],
        Some(SENDER_SMIME),
        &plain("[vertraulich] Vertrag", ""),
    );
    let bob = recipient(&confidential, "bob@partner.example");
    assert_eq!(bob["decided_by"], "R2");
    assert_eq!(
        bob["actions"],
        json!(["sign", "fallback-password-pdf", "deliver", "whitelist"])
    );
}

#[test]
fn r6_geheim_without_key_is_blocked_and_only_that_recipient() {
    let value = explain_json(
        0,
        "outbound",
        "alice@behoerde.example",
        &[
            "gus@geheim.example",
            "ina@geheim.example",
            "bob@extern.example",
        ],
        Some(SENDER_SMIME),
        &plain("Hallo", ""),
    );
    let gus = recipient(&value, "gus@geheim.example");
    assert_eq!(gus["actions"], json!(["sign", "encrypt", "deliver"]));
    assert_eq!(gus["method"], "pgp");
    assert_eq!(gus["decided_by"], "R6");
    let ina = recipient(&value, "ina@geheim.example");
    assert_eq!(ina["actions"], json!(["block", "notify-sender"]));
    assert_eq!(ina["decided_by"], "R6");
    assert_eq!(
        recipient(&value, "bob@extern.example")["actions"],
        json!(["sign", "deliver"])
    );

    // Only the recipient without key: blocked for everyone, exit 1.
    let alone = explain_json(
        1,
        "outbound",
        "alice@behoerde.example",
        &["ina@geheim.example"],
        Some(SENDER_SMIME),
        &plain("Hallo", ""),
    );
    assert_eq!(
        recipient(&alone, "ina@geheim.example")["actions"],
        json!(["block", "notify-sender"])
    );
}

#[test]
fn r7_inbound_bank_mail_without_valid_signature_is_quarantined() {
    let unsigned = explain_json(
        1,
        "inbound",
        "info@bank.example",
        &["alice@behoerde.example"],
        None,
        &plain("Kontoauszug", ""),
    );
    let alice = recipient(&unsigned, "alice@behoerde.example");
    assert_eq!(alice["actions"], json!(["quarantine"]));
    assert_eq!(alice["decided_by"], "R7");

    let signed = b"From: info@bank.example\r\nSubject: Kontoauszug\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"s\"\r\n\r\n--s\r\nContent-Type: text/plain\r\n\r\nText\r\n--s\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHAqCAMIACAQE=\r\n--s--\r\n";
    let valid = explain_json(
        0,
        "inbound",
        "info@bank.example",
        &["alice@behoerde.example"],
        Some(r#"{"inbound_signature_valid": true}"#),
        signed,
    );
    let alice = recipient(&valid, "alice@behoerde.example");
    assert_eq!(alice["actions"], json!(["deliver"]));
    assert_eq!(alice["decided_by"], Value::Null);
    // R8: keys from valid signatures are harvested (not in the vocabulary,
    // so in the trace).
    assert!(
        trace_text(alice).contains("R8-harvest adds harvest-keys"),
        "{alice:#}"
    );

    let invalid = explain_json(
        1,
        "inbound",
        "info@bank.example",
        &["alice@behoerde.example"],
        Some(r#"{"inbound_signature_valid": false}"#),
        signed,
    );
    assert_eq!(
        recipient(&invalid, "alice@behoerde.example")["actions"],
        json!(["quarantine"])
    );
}

#[test]
fn r8_inbound_encrypted_mail_is_decrypted() {
    let encrypted = b"From: bob@extern.example\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\r\nContent-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQA=\r\n";
    let value = explain_json(
        0,
        "inbound",
        "bob@extern.example",
        &["alice@behoerde.example"],
        None,
        encrypted,
    );
    let alice = recipient(&value, "alice@behoerde.example");
    assert_eq!(alice["actions"], json!(["deliver"]));
    assert!(
        trace_text(alice).contains("R8-decrypt adds decrypt"),
        "{alice:#}"
    );

    let plain_value = explain_json(
        0,
        "inbound",
        "bob@extern.example",
        &["alice@behoerde.example"],
        None,
        &plain("x", ""),
    );
    assert!(
        !trace_text(recipient(&plain_value, "alice@behoerde.example")).contains("adds decrypt")
    );
}

#[test]
fn r9_archive_header_and_legal_are_archived_in_addition() {
    let value = explain_json(
        0,
        "outbound",
        "alice@behoerde.example",
        &["bob@extern.example"],
        Some(SENDER_SMIME),
        &plain("Hallo", "X-Archive: yes\r\n"),
    );
    let bob = recipient(&value, "bob@extern.example");
    assert_eq!(bob["actions"], json!(["sign", "archive", "deliver"]));

    let to_legal = explain_json(
        0,
        "outbound",
        "alice@behoerde.example",
        &["legal@behoerde.example", "bob@extern.example"],
        Some(SENDER_SMIME),
        &plain("Hallo", ""),
    );
    assert_eq!(
        recipient(&to_legal, "legal@behoerde.example")["actions"],
        json!(["sign", "archive", "deliver"])
    );
    assert_eq!(
        recipient(&to_legal, "bob@extern.example")["actions"],
        json!(["sign", "deliver"])
    );
}

#[test]
fn human_output_names_actions_rule_and_trace() {
    let output = explain(
        false,
        "outbound",
        "alice@behoerde.example",
        &["Bob@Extern.Example"],
        Some(SENDER_SMIME),
        &plain("[vertraulich] Akte", ""),
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let out = stdout(&output);
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("bob@extern.example: sign, encrypt, deliver (encrypt with smime; sign with smime)")
    );
    assert_eq!(lines.next(), Some("  decided by R2"));
    assert!(out.contains("  [global] R2 decides: encrypt\n"), "{out}");
    assert!(
        out.contains("  [global] R3 not tried: R2 already decided\n"),
        "{out}"
    );
}

#[test]
fn invalid_policy_and_inputs_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[[rules]]\nid = \"x\"\nthen = { delivr = true }\n\n[default]\nthen = { deliver = true }\n",
    )
    .unwrap();
    let args = [
        "policy",
        "explain",
        "bad.toml",
        "--direction",
        "outbound",
        "--from",
        "a@b.example",
        "--to",
        "c@d.example",
    ];
    let bad = mailgate_in(dir.path(), &args, b"Subject: x\r\n\r\nx\r\n", &[]);
    assert_eq!(bad.status.code(), Some(2));
    let err = stderr(&bad);
    assert!(err.contains(" --> bad.toml:3:10"), "{err}");
    assert!(err.contains("help: did you mean `deliver`?"), "{err}");
    assert!(
        err.ends_with("mailgate: bad.toml: invalid policy: 2 errors\n"),
        "{err}"
    );

    let message = plain("x", "");
    // Malformed facts.
    let facts = explain(
        false,
        "outbound",
        "alice@behoerde.example",
        &["b@c.example"],
        Some("{\"recipients\": 3}"),
        &message,
    );
    assert_eq!(facts.status.code(), Some(2));
    assert!(
        stderr(&facts).starts_with("mailgate: facts.json: invalid facts"),
        "{}",
        stderr(&facts)
    );
    // Unknown facts key (a typo must not silently mean "no key").
    let typo = explain(
        false,
        "outbound",
        "alice@behoerde.example",
        &["b@c.example"],
        Some("{\"sendr\": {}}"),
        &message,
    );
    assert_eq!(typo.status.code(), Some(2));
    // Not an address.
    let address = explain(false, "outbound", "alice", &["b@c.example"], None, &message);
    assert_eq!(address.status.code(), Some(2));
    assert!(
        stderr(&address).contains("--from \"alice\" is not a mail address"),
        "{}",
        stderr(&address)
    );
    // No message.
    let empty = explain(
        false,
        "outbound",
        "alice@behoerde.example",
        &["b@c.example"],
        None,
        b"",
    );
    assert_eq!(empty.status.code(), Some(2));
    // Unknown direction and missing --to: usage errors.
    let direction = explain(
        false,
        "sideways",
        "alice@behoerde.example",
        &["b@c.example"],
        None,
        &message,
    );
    assert_eq!(direction.status.code(), Some(2));
    let no_to = explain(
        false,
        "outbound",
        "alice@behoerde.example",
        &[],
        None,
        &message,
    );
    assert_eq!(no_to.status.code(), Some(2));
}
