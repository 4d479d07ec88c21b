//! `Message::read_from` (bounded memory) summarises mail as `Message::parse`
//! (whole message in memory) does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use rule_engine::{Action, Detail, Direction, Envelope, Message, Policy, StaticFacts};

fn base64_lines(data: &[u8]) -> String {
    use std::fmt::Write;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut encoded = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                encoded.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                encoded.push('=');
            }
        }
    }
    let mut out = String::new();
    for line in encoded.as_bytes().chunks(76) {
        writeln!(out, "{}\r", std::str::from_utf8(line).unwrap()).unwrap();
    }
    out
}

fn mixed(text: &str, attachment: &[u8], name: &str) -> Vec<u8> {
    format!(
        "From: alice@behoerde.example\r\nTo: bob@partner.example\r\nSubject: Akte\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
         preamble\r\n--outer\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\
         --outer\r\nContent-Type: application/pdf; name=\"{name}\"\r\n\
         Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\r\n\
         {}--outer--\r\nepilogue\r\n",
        base64_lines(attachment)
    )
    .into_bytes()
}

fn assert_same(raw: &[u8]) {
    let whole = Message::parse(raw);
    let read = Message::read_from(raw, 1 << 20).unwrap();
    assert_eq!(read, whole, "{}", String::from_utf8_lossy(raw));
}

#[test]
fn a_binary_attachment_is_measured_not_kept() {
    let attachment: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let raw = mixed("Bitte VS-NfD beachten", &attachment, "akte.pdf");
    let message = Message::read_from(&raw[..], 64 * 1024).unwrap();
    assert!(message.is_complete());
    assert_eq!(message.size(), raw.len() as u64);
    assert_eq!(message.attachments().len(), 1);
    assert_eq!(message.attachments()[0].size, attachment.len() as u64);
    assert_eq!(message.attachments()[0].name.as_deref(), Some("akte.pdf"));
    assert!(message.text().contains("vs-nfd"));
    assert_eq!(message, Message::parse(&raw));
}

#[test]
fn text_beyond_the_limit_makes_the_summary_incomplete() {
    let text = "Zeile mit Inhalt\r\n".repeat(10_000);
    let raw = mixed(&text, b"%PDF-1.7", "a.pdf");
    let message = Message::read_from(&raw[..], 64 * 1024).unwrap();
    assert!(!message.is_complete());
    assert_eq!(message.size(), raw.len() as u64);
    assert_eq!(message.subject(), Some("Akte"));
    assert!(Message::read_from(&raw[..], 1 << 20).unwrap().is_complete());
}

#[test]
fn content_rules_defer_on_an_incomplete_summary_and_others_still_decide() {
    let (policy, _) = Policy::parse(
        r#"
[[rules]]
id = "dlp"
when = { body = { keywords = ["VS-NfD"] } }
then = { quarantine = "DLP" }

[default]
then = { deliver = true }
"#,
        "t.toml",
    )
    .unwrap();
    let text = format!("VS-NfD\r\n{}", "x".repeat(200_000));
    let raw = mixed(&text, b"%PDF", "a.pdf");
    let envelope = Envelope::new(
        Direction::Outbound,
        "alice@behoerde.example",
        ["bob@partner.example"],
    );
    let facts = StaticFacts::default();
    let partial = Message::read_from(&raw[..], 64 * 1024).unwrap();
    let decided = policy.evaluate_with(&envelope, &partial, &facts, Detail::Full);
    assert!(
        decided.recipients[0].outcome.has(Action::Defer),
        "{decided:?}"
    );
    let whole = Message::read_from(&raw[..], 1 << 20).unwrap();
    let decided = policy.evaluate_with(&envelope, &whole, &facts, Detail::Full);
    assert!(decided.recipients[0].outcome.has(Action::Quarantine));
}

#[test]
fn nested_messages_and_alternatives_read_the_same() {
    let inner = mixed("innen", &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "inner.bin");
    let raw = format!(
        "From: a@behoerde.example\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\n\
         Content-Type: multipart/alternative; boundary=b2\r\n\r\n--b2\r\n\
         Content-Type: text/plain\r\n\r\nplain\r\n--b2\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--b2--\r\n\
         --b1\r\nContent-Type: message/rfc822\r\n\r\n{}\r\n--b1\r\n\
         Content-Type: image/png\r\nContent-Transfer-Encoding: BASE64\r\n\r\n{}--b1--\r\n",
        String::from_utf8(inner).unwrap(),
        base64_lines(&[0x89, b'P', b'N', b'G', 0, 1, 2])
    );
    assert_same(raw.as_bytes());
    let read = Message::read_from(raw.as_bytes(), 1 << 20).unwrap();
    // The forwarded message is an attachment, and so is what it carries:
    // a file inside a forward is no less a file.
    let types: Vec<&str> = read
        .attachments()
        .iter()
        .map(|a| a.mime_type.as_str())
        .collect();
    assert_eq!(
        types,
        ["message/rfc822", "application/pdf", "image/png"],
        "{read:?}"
    );
    assert_eq!(read.attachments()[1].name.as_deref(), Some("inner.bin"));
    assert_eq!(read.attachments()[1].size, 10);
    assert!(read.text().contains("innen"));
    assert_eq!(
        read.structure(),
        "multipart/mixed[multipart/alternative[text/plain,text/html],\
         message/rfc822[multipart/mixed[text/plain,application/pdf]],image/png]"
    );
}

#[test]
fn a_base64_body_that_turns_into_text_is_kept_from_there() {
    // A boundary the reader does not know (misdeclared) is not base64: the
    // body is kept from that line on, so the parser sees the part it opens.
    let raw = b"From: a@behoerde.example\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\
        Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n\
        QUJD\r\n--y\r\nContent-Type: text/plain\r\n\r\ngeheim\r\n--x--\r\n";
    let read = Message::read_from(&raw[..], 1 << 20).unwrap();
    assert_eq!(read.text(), Message::parse(raw).text());
}

fn entity() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        "[a-zA-Z0-9 äöü=.-]{0,60}".prop_map(|t| format!("Content-Type: text/plain; charset=utf-8\r\n\r\n{t}\r\n")),
        proptest::collection::vec(any::<u8>(), 0..400).prop_map(|d| format!(
            "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\
             Content-Disposition: attachment; filename=f.bin\r\n\r\n{}",
            base64_lines(&d)
        )),
        "[ -~]{0,40}".prop_map(|t| format!(
            "Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<b>{t}</b>\r\n"
        )),
    ];
    leaf.prop_recursive(3, 12, 4, |inner| {
        (proptest::collection::vec(inner, 1..4), "[a-z]{1,8}").prop_map(|(parts, b)| {
            let mut s = format!("Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\r\n");
            for p in parts {
                s.push_str(&format!("--{b}\r\n{p}"));
            }
            s.push_str(&format!("--{b}--\r\n"));
            s
        })
    })
}

proptest! {
    #[test]
    fn read_from_summarises_like_parse(body in entity()) {
        let raw = format!("From: a@behoerde.example\r\nSubject: s\r\nMIME-Version: 1.0\r\n{body}");
        assert_same(raw.as_bytes());
    }

    #[test]
    fn read_from_never_panics_and_counts_every_byte(raw in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let read = Message::read_from(&raw[..], 1 << 20).unwrap();
        prop_assert_eq!(read.size(), raw.len() as u64);
    }
}

#[test]
fn a_base64_part_cut_off_by_the_end_of_the_input_is_read_as_mail_parser_reads_it() {
    // No closing boundary: mail-parser takes the part as it is (an
    // encoding problem, read as text), so it must not be dropped (found by
    // the policy_parse fuzz target).
    let raw = b"From: a@behoerde.example\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n\
        Content-Type: text/plain\r\n\r\nAnbei.\r\n--b1\r\n\
        Content-Type: application/pdf; name=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
        JVBERi0xLjQKJcfsj6IKMSAwIG9iago8PD4+CmVuZG9iagp0cmFpbGVy";
    assert_same(raw);
}

/// Issue 16, finding 2: the policy reads the structure `mail-message` reads,
/// and a repeated singleton field makes the message one to refuse, whichever
/// way it is read.
#[test]
fn repeated_singletons_are_refused_and_decide_no_structure() {
    // mail-parser took the last Content-Type (a multipart hiding an .exe
    // from a policy that reads the first, text/plain, or the other way
    // round); now neither decides, and the message is refused.
    let raw = b"From: a@behoerde.example\r\nContent-Type: text/plain\r\n\
        Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
        Content-Type: application/x-msdownload; name=a.exe\r\n\r\nMZ\r\n--b--\r\n";
    assert_same(raw);
    let message = Message::parse(raw);
    let duplicate = message.duplicate_field().unwrap();
    assert_eq!(duplicate.field, "Content-Type");
    assert_eq!(message.structure(), "text/plain");
    // Its bytes are still text the DLP conditions see.
    assert!(message.text().contains("a.exe"));

    for (first, second) in [
        ("[vertraulich] Akte", "Akte"),
        ("Akte", "[vertraulich] Akte"),
    ] {
        let raw = format!("Subject: {first}\r\nSubject: {second}\r\n\r\nx\r\n");
        let message = Message::parse(raw.as_bytes());
        assert_eq!(message.duplicate_field().unwrap().field, "Subject");
        // Meanwhile a tag in either Subject is seen by subject_tag.
        // With the explicit default the policy language is getting, or
        // without it where that has not landed.
        let rules = r#"
            [[rules]]
            id = "R2"
            when = { subject_tag = "[vertraulich]" }
            then = { block = "confidential" }
            "#;
        let (policy, _) = Policy::parse(
            &format!("{rules}\n[default]\nthen = {{ deliver = true }}\n"),
            "p.toml",
        )
        .or_else(|_| Policy::parse(rules, "p.toml"))
        .unwrap();
        let envelope = Envelope::new(Direction::Outbound, "a@behoerde.example", ["b@x.example"]);
        let decided =
            policy.evaluate_with(&envelope, &message, &StaticFacts::default(), Detail::Full);
        assert!(
            decided.recipients[0].outcome.has(Action::Block),
            "{first} / {second}"
        );
    }

    // A header section that does not parse is refused too.
    let message = Message::parse(b"not a header\r\nSubject: x\r\n\r\nbody\r\n");
    assert!(matches!(
        message.refusal(),
        Some(mail_message::MimeError::MalformedHeader { line: 1 })
    ));
}

/// Decoding stays with mail-parser: charsets, quoted-printable, encoded
/// words in file names and RFC 2231, HTML read as its text.
#[test]
fn decoding_follows_the_one_structure() {
    let raw = "From: a@behoerde.example\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\
        Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
        Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
        Gr=FC=DFe\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>ver<b></b>traulich</p>\r\n--b\r\n\
        Content-Type: application/octet-stream; name=\"=?utf-8?b?YsO2c2UuZXhl?=\"\r\n\r\nMZ\r\n--b\r\n\
        Content-Type: application/octet-stream\r\n\
        Content-Disposition: attachment; filename*=utf-8''b%C3%B6se.pdf\r\n\r\n%PDF\r\n--b--\r\n";
    let message = Message::parse(raw.as_bytes());
    assert!(message.refusal().is_none());
    assert_eq!(message.subject(), Some("Grüße"));
    assert!(message.text().contains("grüße"), "{}", message.text());
    assert!(message.text().contains("vertraulich"), "{}", message.text());
    let names: Vec<Option<&str>> = message
        .attachments()
        .iter()
        .map(|a| a.name.as_deref())
        .collect();
    assert_eq!(names, [Some("böse.exe"), Some("böse.pdf")]);
}
