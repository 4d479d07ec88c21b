#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Evaluation through the public API: scope order and overrides, first-match
//! terminal rules and accumulated effects, conflicts, lazy host facts, DLP,
//! attachments on real MIME messages, grouping and the explain JSON.

use std::cell::RefCell;

use rule_engine::{
    Action, Direction, Envelope, Evaluation, Fact, FactError, FactSource, HeaderEdit, Message,
    Method, Policy, StaticFacts, TraceEvent,
};

/// Ends `text` with an explicit `[default]` (every policy must have one)
/// unless it has one: most tests here are about something else.
fn with_default(text: &str) -> String {
    if text.contains("[default]") {
        text.to_owned()
    } else {
        format!("{text}\n[default]\nthen = {{ deliver = true }}\n")
    }
}

fn policy(text: &str) -> Policy {
    match Policy::parse(&with_default(text), "test.toml") {
        Ok((policy, warnings)) => {
            assert!(warnings.is_empty(), "{warnings:#?}");
            policy
        }
        Err(e) => panic!(
            "{e}: {:#?}",
            Policy::check(&with_default(text), "test.toml")
        ),
    }
}

fn outbound(to: &[&str]) -> Envelope {
    Envelope::new(
        Direction::Outbound,
        "alice@behoerde.example",
        to.iter().copied(),
    )
}

fn plain(subject: &str) -> Message {
    Message::parse(
        format!("From: alice@behoerde.example\r\nSubject: {subject}\r\n\r\nHallo\r\n").as_bytes(),
    )
}

/// Records every question; answers from a `StaticFacts`.
#[derive(Default)]
struct CountingFacts {
    answers: StaticFacts,
    asked: RefCell<Vec<Fact>>,
    fail_for: Option<String>,
}

impl CountingFacts {
    fn times(&self, fact: &Fact) -> usize {
        self.asked.borrow().iter().filter(|f| *f == fact).count()
    }
}

impl FactSource for CountingFacts {
    fn fact(&self, fact: &Fact) -> Result<bool, FactError> {
        self.asked.borrow_mut().push(fact.clone());
        if let (Some(bad), Fact::RecipientTls { recipient, .. }) = (&self.fail_for, fact)
            && bad == recipient
        {
            return Err(FactError {
                message: "DNS timeout".into(),
            });
        }
        self.answers.fact(fact)
    }
}

fn actions(result: &Evaluation, address: &str) -> Vec<&'static str> {
    result
        .recipient(address)
        .unwrap()
        .outcome
        .actions
        .iter()
        .map(|a| a.as_str())
        .collect()
}

fn decided_by<'a>(result: &'a Evaluation, address: &str) -> Option<&'a str> {
    result.recipient(address).unwrap().decided_by.as_deref()
}

const SCOPES: &str = r#"
[[rules]]
id = "tls"
when = { direction = "outbound" }
then = { require_tls = "bsi-tr-03108" }

[[rules]]
id = "tag"
then = { add_header = { name = "X-Policy", value = "global" } }

[[domain."*.partner.example".rules]]
id = "tls"
then = { deliver = true }

[[domain."special.partner.example".rules]]
id = "enc"
then = { encrypt = "required", fallback = "password-zip" }

[group.vip]
members = ["boss@x.partner.example"]

[[group.vip.rules]]
id = "vip"
then = { quarantine = "vip mail is reviewed" }

[[user."solo@x.partner.example".rules]]
id = "tls"
disable = true
"#;

#[test]
fn scopes_inherit_and_override_from_global_to_user() {
    let p = policy(SCOPES);
    let to = [
        "a@other.example",
        "b@partner.example",
        "b@x.partner.example",
        "c@special.partner.example",
        "boss@x.partner.example",
        "solo@x.partner.example",
    ];
    let r = p.evaluate(&outbound(&to), &plain("hi"), &StaticFacts::default());
    // Global only; the wildcard does not cover the apex domain.
    assert_eq!(actions(&r, "a@other.example"), ["require-tls", "deliver"]);
    assert_eq!(actions(&r, "b@partner.example"), ["require-tls", "deliver"]);
    // The wildcard domain overrides the global rule `tls` by id.
    assert_eq!(actions(&r, "b@x.partner.example"), ["deliver"]);
    assert_eq!(decided_by(&r, "b@x.partner.example"), Some("tls"));
    let trace = &r.recipient("b@x.partner.example").unwrap().trace;
    assert!(trace.iter().any(|s| s.scope == "global"
        && s.rule.as_deref() == Some("tls")
        && s.event
            == TraceEvent::Overridden {
                by: "domain *.partner.example".into()
            }));
    // The more specific domain decides before the wildcard one.
    assert_eq!(
        actions(&r, "c@special.partner.example"),
        ["fallback-password-zip", "deliver"]
    );
    assert_eq!(decided_by(&r, "c@special.partner.example"), Some("enc"));
    // The group decides before the domains.
    assert_eq!(actions(&r, "boss@x.partner.example"), ["quarantine"]);
    // The user disables `tls` in every less specific scope: nothing decides.
    assert_eq!(actions(&r, "solo@x.partner.example"), ["deliver"]);
    assert_eq!(decided_by(&r, "solo@x.partner.example"), None);
    let disabled: Vec<&str> = r
        .recipient("solo@x.partner.example")
        .unwrap()
        .trace
        .iter()
        .filter(|s| matches!(s.event, TraceEvent::Disabled { .. }))
        .map(|s| s.scope.as_str())
        .collect();
    assert_eq!(disabled, ["domain *.partner.example", "global"]);
    // The global non-terminal rule reaches everyone who gets the mail.
    for address in [
        "a@other.example",
        "b@x.partner.example",
        "solo@x.partner.example",
    ] {
        assert_eq!(
            r.recipient(address).unwrap().outcome.header_edits,
            [HeaderEdit::Add {
                name: "X-Policy".into(),
                value: "global".into()
            }]
        );
    }
}

#[test]
fn first_terminal_rule_decides_and_non_terminal_effects_accumulate() {
    let p = policy(
        r#"
[[rules]]
id = "mark-1"
then = { add_header = { name = "X-A", value = "1" } }

[[rules]]
id = "first"
when = { subject_tag = "[x]" }
then = { deliver = true, archive = true }

[[rules]]
id = "second"
when = { recipient_tls = "bsi-tr-03108" }
then = { block = "never reached" }

[[rules]]
id = "mark-2"
when = { subject_tag = "[x]" }
then = { remove_header = "X-B", notify_sender = "info" }
"#,
    );
    let facts = CountingFacts::default();
    let r = p.evaluate(
        &outbound(&["bob@extern.example"]),
        &plain("[X] test"),
        &facts,
    );
    let bob = r.recipient("bob@extern.example").unwrap();
    assert_eq!(bob.decided_by.as_deref(), Some("first"));
    assert_eq!(
        actions(&r, "bob@extern.example"),
        ["notify-sender", "archive", "deliver"]
    );
    assert_eq!(
        bob.outcome.header_edits,
        [
            HeaderEdit::Add {
                name: "X-A".into(),
                value: "1".into()
            },
            HeaderEdit::Remove { name: "X-B".into() }
        ]
    );
    assert!(bob.trace.iter().any(|s| s.rule.as_deref() == Some("second")
        && s.event
            == TraceEvent::Skipped {
                decided_by: "first".into()
            }));
    // The skipped rule's fact was never asked.
    assert!(
        facts.asked.borrow().is_empty(),
        "{:?}",
        facts.asked.borrow()
    );
}

const GROUPS: &str = r#"
[group.lenient]
members = ["x@extern.example"]

[[group.lenient.rules]]
id = "let-through"
then = { deliver = true }

[group.strict]
members = ["x@extern.example"]

[[group.strict.rules]]
id = "stop"
then = { block = "strict group" }
"#;

#[test]
fn equal_standing_conflict_resolves_to_the_more_protective_outcome() {
    for text in [
        GROUPS.to_owned(),
        GROUPS
            .replace("lenient", "a-lenient")
            .replace("strict", "0-strict"),
    ] {
        let p = policy(&text);
        let r = p.evaluate(
            &outbound(&["x@extern.example"]),
            &plain("hi"),
            &StaticFacts::default(),
        );
        let x = r.recipient("x@extern.example").unwrap();
        assert_eq!(x.decided_by.as_deref(), Some("stop"));
        assert_eq!(actions(&r, "x@extern.example"), ["block"]);
        let conflict = x
            .trace
            .iter()
            .find_map(|s| match &s.event {
                TraceEvent::Conflict {
                    winner,
                    loser,
                    note,
                } => Some((winner.clone(), loser.clone(), note.clone())),
                _ => None,
            })
            .expect("the trace names the conflict");
        assert_eq!(conflict.0, "stop");
        assert_eq!(conflict.1, "let-through");
        assert!(conflict.2.starts_with("block is "), "{}", conflict.2);
        assert!(conflict.2.contains("more protective"), "{}", conflict.2);
    }
}

#[test]
fn enforced_rules_come_before_more_specific_scopes() {
    let p = policy(
        r#"
[[rules]]
id = "size"
enforced = true
when = { size_over = "1KB" }
then = { block = "too large", notify_sender = "too-large" }

[[user."vip@extern.example".rules]]
id = "vip"
then = { deliver = true }
"#,
    );
    let small = plain("hi");
    let large = Message::parse(format!("Subject: big\r\n\r\n{}\r\n", "x".repeat(2000)).as_bytes());
    let r = p.evaluate(
        &outbound(&["vip@extern.example"]),
        &small,
        &StaticFacts::default(),
    );
    assert_eq!(decided_by(&r, "vip@extern.example"), Some("vip"));
    let r = p.evaluate(
        &outbound(&["vip@extern.example"]),
        &large,
        &StaticFacts::default(),
    );
    assert_eq!(decided_by(&r, "vip@extern.example"), Some("size"));
    assert_eq!(
        actions(&r, "vip@extern.example"),
        ["block", "notify-sender"]
    );
    assert_eq!(
        r.recipient("vip@extern.example")
            .unwrap()
            .outcome
            .reason
            .as_deref(),
        Some("too large")
    );
    assert!(r.blocked_for_everyone());
}

#[test]
fn facts_are_asked_only_when_reached_and_once_per_evaluation() {
    let p = policy(
        r#"
[policy]
internal_domains = ["behoerde.example"]

[[rules]]
id = "inbound-only"
# Written fact first: cheap conditions are still evaluated first.
when = { recipient_has_smime = true, direction = "inbound" }
then = { decrypt = true }

[[rules]]
id = "sign"
when = { sender_internal = true }
then = { sign = ["smime", "pgp"] }

[[rules]]
id = "tls"
when = { recipient_tls = "bsi-tr-03108" }
then = { require_tls = "bsi-tr-03108" }

[[rules]]
id = "tls-archive"
when = { recipient_tls = "bsi-tr-03108" }
then = { archive = true }
"#,
    );
    let facts = CountingFacts {
        answers: StaticFacts::from_json(
            r#"{"recipients": {"a@x.example": {"tls": true}}, "sender": {"smime": true}}"#,
        )
        .unwrap(),
        ..CountingFacts::default()
    };
    let to = ["a@x.example", "b@y.example", "c@z.example"];
    let r = p.evaluate(&outbound(&to), &plain("hi"), &facts);
    for address in to {
        let tls = Fact::RecipientTls {
            recipient: address.into(),
            profile: "bsi-tr-03108".into(),
        };
        assert_eq!(facts.times(&tls), 1, "{address}");
        let smime = Fact::RecipientHas {
            recipient: address.into(),
            method: Method::Smime,
        };
        assert_eq!(
            facts.times(&smime),
            0,
            "{address}: the direction failed first"
        );
    }
    let sender = Fact::SenderHas {
        sender: "alice@behoerde.example".into(),
        method: Method::Smime,
    };
    assert_eq!(facts.times(&sender), 1, "one question for all recipients");
    let pgp = Fact::SenderHas {
        sender: "alice@behoerde.example".into(),
        method: Method::Pgp,
    };
    assert_eq!(facts.times(&pgp), 0, "S/MIME was enough");
    assert_eq!(facts.asked.borrow().len(), 4);
    assert_eq!(
        actions(&r, "a@x.example"),
        ["sign", "require-tls", "archive", "deliver"]
    );
    assert_eq!(actions(&r, "b@y.example"), ["sign", "deliver"]);
    // The second rule on the same fact used the cache, and the trace says so.
    let steps: Vec<String> = r
        .recipient("a@x.example")
        .unwrap()
        .trace
        .iter()
        .map(ToString::to_string)
        .collect();
    assert!(steps.contains(&"[global] tls-archive matched: recipient_tls = \"bsi-tr-03108\" held [server of a@x.example meets TLS profile bsi-tr-03108: yes, cached]".to_owned()), "{steps:#?}");
    // A new evaluation asks again.
    let _ = p.evaluate(&outbound(&["a@x.example"]), &plain("hi"), &facts);
    let tls = Fact::RecipientTls {
        recipient: "a@x.example".into(),
        profile: "bsi-tr-03108".into(),
    };
    assert_eq!(facts.times(&tls), 2);
}

#[test]
fn a_fact_the_host_cannot_establish_defers_only_that_recipient() {
    let p = policy(
        "[[rules]]\nid = \"tls\"\nwhen = { recipient_tls = \"p\" }\nthen = { require_tls = \"p\" }\n",
    );
    let facts = CountingFacts {
        fail_for: Some("bad@x.example".into()),
        ..CountingFacts::default()
    };
    let r = p.evaluate(
        &outbound(&["bad@x.example", "good@y.example"]),
        &plain("hi"),
        &facts,
    );
    assert_eq!(actions(&r, "bad@x.example"), ["defer"]);
    assert_eq!(
        r.recipient("bad@x.example")
            .unwrap()
            .outcome
            .reason
            .as_deref(),
        Some("host fact unavailable: DNS timeout")
    );
    assert_eq!(actions(&r, "good@y.example"), ["deliver"]);
    assert!(!r.blocked_for_everyone());
}

const DLP: &str = r#"
[[rules]]
id = "dlp"
when = { body = { keywords = ["Verschlusssache", "geheim", "streng geheim"], regex = ['DE\d{2}(?: ?\d{4}){4} ?\d{2}'], threshold = 3 } }
then = { quarantine = "DLP" }
"#;

#[test]
fn dlp_counts_keyword_and_regex_hits_against_the_threshold() {
    let p = policy(DLP);
    let check = |body: &str| {
        let m = Message::parse(
            format!("Subject: x\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n")
                .as_bytes(),
        );
        let r = p.evaluate(&outbound(&["a@x.example"]), &m, &StaticFacts::default());
        r.recipient("a@x.example")
            .unwrap()
            .outcome
            .has(Action::Quarantine)
    };
    assert!(!check("Verschlusssache, nur geheim."), "two hits");
    assert!(
        check("VERSCHLUSSSACHE, streng Geheim, wirklich geheim."),
        "three hits, any case"
    );
    assert!(
        check("geheim: IBAN DE89 3704 0044 0532 0130 00 und DE12 3456 7890 1234 5678 90"),
        "one keyword, two IBANs"
    );
    assert!(!check("Geheimnis"), "one hit");
    assert!(
        check("Verschlusssache, streng geheim."),
        "overlapping keywords count each: 3 hits"
    );
    // Base64 text is decoded before scanning; text attachments count too.
    let m = Message::parse(
        b"Subject: x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nZ2VoZWltIGdlaGVpbQ==\r\n--b\r\nContent-Type: text/plain; name=a.txt\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\nVerschlusssache\r\n--b--\r\n",
    );
    let r = p.evaluate(&outbound(&["a@x.example"]), &m, &StaticFacts::default());
    assert_eq!(actions(&r, "a@x.example"), ["quarantine"]);
}

fn mime_with_attachments() -> Vec<u8> {
    let exe = "TVqQ".repeat(1000); // 4000 base64 chars: 3000 bytes
    format!(
        "From: alice@behoerde.example\r\nSubject: Unterlagen\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n\
--outer\r\nContent-Type: text/plain\r\n\r\nAnbei.\r\n\
--outer\r\nContent-Type: application/pdf; name=\"Bescheid-2026.pdf\"\r\nContent-Disposition: attachment; filename=\"Bescheid-2026.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQK\r\n\
--outer\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"tool.EXE\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{exe}\r\n\
--outer--\r\n"
    )
    .into_bytes()
}

#[test]
fn attachment_conditions_hold_on_a_real_mime_message() {
    let message = Message::parse(&mime_with_attachments());
    let names: Vec<(Option<&str>, &str, u64)> = message
        .attachments()
        .iter()
        .map(|a| (a.name.as_deref(), a.mime_type.as_str(), a.size))
        .collect();
    assert_eq!(
        names,
        [
            (Some("Bescheid-2026.pdf"), "application/pdf", 9),
            (Some("tool.EXE"), "application/octet-stream", 3000)
        ]
    );
    let holds = |condition: &str| {
        let p = policy(&format!(
            "[[rules]]\nid = \"a\"\nwhen = {{ attachments = {condition} }}\nthen = {{ block = \"x\" }}\n"
        ));
        let r = p.evaluate(
            &outbound(&["a@x.example"]),
            &message,
            &StaticFacts::default(),
        );
        r.recipient("a@x.example")
            .unwrap()
            .outcome
            .has(Action::Block)
    };
    assert!(holds("{ count_min = 2 }"));
    assert!(!holds("{ count_min = 3 }"));
    assert!(
        !holds("{ count_max = 0 }"),
        "count_max = 0 means: no attachments"
    );
    assert!(
        holds("{ extension = [\"exe\", \"scr\"] }"),
        "extensions compare in any case"
    );
    assert!(!holds("{ extension = \"docx\" }"));
    assert!(holds("{ mime_type = \"application/*\", count_min = 2 }"));
    assert!(!holds("{ mime_type = \"application/pdf\", count_min = 2 }"));
    assert!(holds("{ larger_than = 2000 }"));
    assert!(!holds("{ larger_than = \"3KB\" }"));
    assert!(holds("{ total_size_over = 3000 }"));
    assert!(!holds("{ total_size_over = 3009 }"));
    assert!(
        holds("{ name_regex = '^bescheid-\\d{4}\\.pdf$' }"),
        "name regex is case-insensitive"
    );
    assert!(
        !holds("{ name_regex = '^bescheid-\\d{4}\\.pdf$', larger_than = 100 }"),
        "filters combine"
    );
    let plain_message = plain("hi");
    let p = policy(
        "[[rules]]\nid = \"a\"\nwhen = { attachments = { count_max = 0 } }\nthen = { block = \"x\" }\n",
    );
    let r = p.evaluate(
        &outbound(&["a@x.example"]),
        &plain_message,
        &StaticFacts::default(),
    );
    assert_eq!(actions(&r, "a@x.example"), ["block"]);
}

#[test]
fn signed_and_encrypted_messages_are_recognised() {
    let signed = Message::parse(b"Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; boundary=s\r\n\r\n--s\r\n\r\nx\r\n--s--\r\n");
    assert!(signed.is_signed() && !signed.is_encrypted());
    let opaque = Message::parse(
        b"Content-Type: application/pkcs7-mime; smime-type=signed-data\r\n\r\nMIA=\r\n",
    );
    assert!(opaque.is_signed() && !opaque.is_encrypted());
    let enveloped = Message::parse(
        b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\r\nMIA=\r\n",
    );
    assert!(enveloped.is_encrypted() && !enveloped.is_signed());
    let pgp = Message::parse(b"Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=e\r\n\r\n--e\r\n\r\nVersion: 1\r\n--e--\r\n");
    assert!(pgp.is_encrypted());
    let inline = Message::parse(
        b"Subject: x\r\n\r\n-----BEGIN PGP MESSAGE-----\r\nhQ==\r\n-----END PGP MESSAGE-----\r\n",
    );
    assert!(inline.is_encrypted());
    assert!(!plain("x").is_signed() && !plain("x").is_encrypted());
}

#[test]
fn header_conditions_are_case_insensitive_unless_asked() {
    let m = Message::parse(b"Subject: [Vertraulich] Akte\r\nX-Classification: CONFIDENTIAL\r\nX-Project: Alpha-7\r\n\r\nx\r\n");
    let holds = |condition: &str| {
        let p = policy(&format!(
            "[[rules]]\nid = \"a\"\nwhen = {condition}\nthen = {{ block = \"x\" }}\n"
        ));
        let r = p.evaluate(&outbound(&["a@x.example"]), &m, &StaticFacts::default());
        r.recipient("a@x.example")
            .unwrap()
            .outcome
            .has(Action::Block)
    };
    assert!(holds("{ subject_tag = \"[VERTRAULICH]\" }"));
    assert!(!holds("{ subject_tag = \"[geheim]\" }"));
    assert!(holds("{ classification = \"confidential\" }"));
    assert!(holds(
        "{ header = { name = \"x-project\", contains = \"alpha\" } }"
    ));
    assert!(!holds(
        "{ header = { name = \"X-Project\", contains = \"alpha\", case_sensitive = true } }"
    ));
    assert!(holds(
        "{ header = { name = \"X-Project\", regex = '^alpha-\\d$' } }"
    ));
    assert!(holds(
        "{ header = { name = \"X-Project\", exists = true } }"
    ));
    assert!(!holds(
        "{ header = { name = \"X-Missing\", exists = true } }"
    ));
    assert!(holds(
        "{ not = { header = { name = \"X-Missing\", exists = true } } }"
    ));
    assert!(holds(
        "{ any = [{ sensitivity = \"Private\" }, { subject_tag = \"[vertraulich]\" }] }"
    ));
    assert!(!holds(
        "{ all = [{ sensitivity = \"Private\" }, { subject_tag = \"[vertraulich]\" }] }"
    ));
}

#[test]
fn address_and_domain_conditions() {
    let p = policy(
        r#"
[policy]
internal_domains = ["behoerde.example"]

[[rules]]
id = "internal"
when = { recipient_internal = true }
then = { deliver = true }

[[rules]]
id = "listed"
when = { recipient = ["Bob@Extern.example"] }
then = { quarantine = true }

[[rules]]
id = "regex"
when = { recipient_regex = '^noreply@' }
then = { block = "no replies" }

[[rules]]
id = "domain"
when = { recipient_domain = "*.example.org", sender_domain = "behoerde.example" }
then = { encrypt = "if-possible" }
"#,
    );
    let to = [
        "kollege@amt.behoerde.example",
        "bob@extern.example",
        "NOREPLY@x.example",
        "z@a.example.org",
        "y@example.org",
    ];
    let r = p.evaluate(&outbound(&to), &plain("hi"), &StaticFacts::default());
    assert_eq!(
        decided_by(&r, "kollege@amt.behoerde.example"),
        Some("internal")
    );
    assert_eq!(decided_by(&r, "bob@extern.example"), Some("listed"));
    assert_eq!(decided_by(&r, "noreply@x.example"), Some("regex"));
    assert_eq!(decided_by(&r, "z@a.example.org"), Some("domain"));
    assert_eq!(
        actions(&r, "z@a.example.org"),
        ["deliver"],
        "if-possible without key or fallback delivers"
    );
    assert_eq!(decided_by(&r, "y@example.org"), None);
}

#[test]
fn recipients_with_identical_outcomes_are_grouped() {
    let p = policy(
        "[[rules]]\nid = \"enc\"\nthen = { encrypt = \"required\", fallback = \"password-pdf\" }\n",
    );
    let facts = StaticFacts::from_json(
        r#"{"recipients": {"a@x.example": {"smime": true}, "b@x.example": {"pgp": true}, "c@x.example": {"smime": true, "pgp": true}}}"#,
    )
    .unwrap();
    let to = [
        "a@x.example",
        "b@x.example",
        "c@x.example",
        "d@x.example",
        "A@X.example",
    ];
    let r = p.evaluate(&outbound(&to), &plain("hi"), &facts);
    assert_eq!(
        r.recipients.len(),
        4,
        "the duplicate in another case is one recipient"
    );
    let groups = r.groups();
    let summary: Vec<(Vec<&str>, Option<Method>)> = groups
        .iter()
        .map(|g| {
            (
                g.recipients.iter().map(String::as_str).collect(),
                g.outcome.encryption_method,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (vec!["a@x.example", "c@x.example"], Some(Method::Smime)),
            (vec!["b@x.example"], Some(Method::Pgp)),
            (vec!["d@x.example"], None),
        ]
    );
    assert!(r.groups()[2].outcome.has(Action::FallbackPasswordPdf));
}

#[test]
fn explain_json_uses_the_issue_vocabulary() {
    let p = policy(
        "[[rules]]\nid = \"R2\"\nwhen = { subject_tag = \"[vertraulich]\" }\nthen = { encrypt = \"required\", fallback = \"password-pdf\", strip_subject_tag = \"[vertraulich]\" }\n",
    );
    let r = p.evaluate(
        &outbound(&["bob@partner.example"]),
        &plain("[vertraulich] x"),
        &StaticFacts::default(),
    );
    let json = r.to_json();
    let bob = &json["recipients"][0];
    assert_eq!(bob["address"], "bob@partner.example");
    assert_eq!(
        bob["actions"],
        serde_json::json!(["fallback-password-pdf", "deliver"])
    );
    assert_eq!(bob["method"], serde_json::Value::Null);
    assert_eq!(bob["decided_by"], "R2");
    // Exactly the keys of the issue's contract.
    let keys: Vec<&str> = bob
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["actions", "address", "decided_by", "method", "trace"]
    );
    assert_eq!(json.as_object().unwrap().len(), 1);
    let trace: Vec<&str> = bob["trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(
        trace,
        [
            "[global] R2 matched: subject_tag = \"[vertraulich]\" held",
            "[global] R2 decides: encrypt",
            "[global] R2 adds header edit: strip [vertraulich] from the Subject",
            "[outcome] no certificate or key for the recipient: fallback password-pdf",
        ]
    );
}

#[test]
fn the_policy_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Policy>();
    let p = std::sync::Arc::new(policy(DLP));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let p = p.clone();
            std::thread::spawn(move || {
                let r = p.evaluate(
                    &outbound(&["a@x.example"]),
                    &plain("hi"),
                    &StaticFacts::default(),
                );
                r.recipient("a@x.example")
                    .unwrap()
                    .outcome
                    .has(Action::Deliver)
            })
        })
        .collect();
    for h in handles {
        assert!(h.join().unwrap());
    }
}

#[test]
fn reloading_under_load_never_fails_an_evaluation() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, RwLock};
    // The host keeps the current policy in an `Arc` behind a lock and swaps
    // it on reload; evaluations clone the `Arc` and never see a half-built
    // policy. A reload that fails to parse leaves the old policy in place.
    let version = |n: usize| {
        format!(
            "[[rules]]\nid = \"v{n}\"\nthen = {{ deliver = true, add_header = {{ name = \"X-Version\", value = \"{n}\" }} }}\n"
        )
    };
    let current = Arc::new(RwLock::new(Arc::new(policy(&version(0)))));
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let current = current.clone();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut evaluations = 0;
                while !stop.load(Ordering::Relaxed) || evaluations == 0 {
                    let p = current.read().unwrap().clone();
                    let r = p.evaluate(
                        &outbound(&["a@x.example"]),
                        &plain("hi"),
                        &StaticFacts::default(),
                    );
                    let a = r.recipient("a@x.example").unwrap();
                    assert!(a.outcome.has(Action::Deliver));
                    assert_eq!(
                        a.decided_by.as_deref().map(|id| id.starts_with('v')),
                        Some(true)
                    );
                    evaluations += 1;
                }
                evaluations
            })
        })
        .collect();
    for n in 1..50 {
        let text = if n % 10 == 0 {
            "broken = ".to_owned()
        } else {
            version(n)
        };
        if let Ok((next, _)) = Policy::parse(&with_default(&text), "reload.toml") {
            *current.write().unwrap() = Arc::new(next);
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
    let last = current.read().unwrap().clone();
    let r = last.evaluate(
        &outbound(&["a@x.example"]),
        &plain("hi"),
        &StaticFacts::default(),
    );
    assert_eq!(r.recipients[0].decided_by.as_deref(), Some("v49"));
}

#[test]
fn decisions_detail_gives_the_same_outcomes_with_a_shorter_trace() {
    use rule_engine::Detail;
    let p = policy(SCOPES);
    let to = [
        "a@other.example",
        "b@x.partner.example",
        "c@special.partner.example",
        "solo@x.partner.example",
    ];
    let full = p.evaluate(&outbound(&to), &plain("hi"), &StaticFacts::default());
    let brief = p.evaluate_with(
        &outbound(&to),
        &plain("hi"),
        &StaticFacts::default(),
        Detail::Decisions,
    );
    for (f, b) in full.recipients.iter().zip(&brief.recipients) {
        assert_eq!(f.outcome, b.outcome);
        assert_eq!(f.decided_by, b.decided_by);
        assert!(b.trace.len() <= f.trace.len());
        assert!(b.trace.iter().all(|s| !matches!(
            s.event,
            TraceEvent::NotMatched { .. } | TraceEvent::Skipped { .. }
        )));
    }
    let c = brief.recipient("c@special.partner.example").unwrap();
    let steps: Vec<String> = c.trace.iter().map(ToString::to_string).collect();
    assert_eq!(
        steps,
        [
            "[global] tls overridden by the rule of the same id in domain *.partner.example",
            "[domain special.partner.example] enc matched (no conditions)",
            "[domain special.partner.example] enc decides: encrypt",
            "[global] tag matched (no conditions)",
            "[global] tag adds header edit: add X-Policy: global",
            "[outcome] no certificate or key for the recipient: fallback password-zip",
        ]
    );
}

#[test]
fn a_recipient_decision_prints_for_explain() {
    let p =
        policy("[[rules]]\nid = \"R6\"\nthen = { encrypt = \"required\", fallback = \"block\" }\n");
    let r = p.evaluate(
        &outbound(&["gus@geheim.example"]),
        &plain("hi"),
        &StaticFacts::default(),
    );
    assert_eq!(
        r.recipients[0].to_string(),
        "gus@geheim.example: block, notify-sender (reason: encryption required but the recipient has no certificate or key)\n  \
decided by R6\n  \
[global] R6 matched (no conditions)\n  \
[global] R6 decides: encrypt\n  \
[outcome] no certificate or key for the recipient and the fallback is block"
    );
}
