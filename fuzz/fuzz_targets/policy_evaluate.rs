//! Evaluation on arbitrary mail: the first two bytes choose direction, host
//! facts and recipients, the rest is the message. A policy that uses every
//! kind of condition (address, domain and header regexes, attachment
//! filters, DLP keywords and regexes, scopes of every kind, host facts) is
//! evaluated; nothing may panic, every recipient gets exactly one decision,
//! the cheap trace detail decides like the full one, and a recipient is
//! delivered to exactly when it is not blocked, quarantined or deferred.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use rule_engine::{Action, Detail, Direction, Envelope, Message, Policy, StaticFacts};

const POLICY: &str = r#"
[policy]
internal_domains = ["behoerde.example"]

[[rules]]
id = "too-large"
enforced = true
when = { direction = "outbound", size_over = "25MB" }
then = { block = "too large", notify_sender = "too-large" }

[[rules]]
id = "sign"
when = { direction = "outbound", sender_internal = true }
then = { sign = ["smime", "pgp"], sign_mode = "if-possible" }

[[rules]]
id = "dlp"
when = { body = { keywords = ["verschlusssache", "vs-nfd", "nur fuer den dienstgebrauch"], regex = ['\b\d{3}-\d{2}-\d{4}\b'], threshold = 2 } }
then = { quarantine = "DLP" }

[[rules]]
id = "tag"
when = { subject_tag = "[vertraulich]" }
then = { encrypt = "required", methods = ["smime", "pgp"], fallback = "password-zip", strip_subject_tag = "[vertraulich]" }

[[rules]]
id = "ops"
when = { recipient_regex = '^OPS-[0-9]+@', header = { name = "X-Ticket", regex = '^[A-Z]+-\d+$' } }
then = { add_header = { name = "X-Routed", value = "ops" }, archive = true }

[[rules]]
id = "exe"
when = { attachments = { extension = ["exe", "js"], name_regex = '(?i)rechnung' } }
then = { block = "executable attachment" }

[[rules]]
id = "tls"
when = { direction = "outbound", recipient_internal = false, attachments = { count_min = 1 }, recipient_tls = "bsi-tr-03108" }
then = { require_tls = "bsi-tr-03108" }

[[rules]]
id = "bank"
when = { direction = "inbound", all = [
    { any = [{ sender_domain = "bank.example" }, { header_from_domain = "bank.example" }] },
    { any = [{ signed = false }, { inbound_signature_valid = false }] },
] }
then = { quarantine = true }

[[rules]]
id = "author"
when = { any = [{ header_from_internal = true }, { header_from = "chef@behoerde.example" }, { header_from_regex = '^ops-' }] }
then = { add_header = { name = "X-Author", value = "internal" } }

[[rules]]
id = "inbound"
when = { direction = "inbound", encrypted = true }
then = { decrypt = true, harvest = true }

[[domain."*.partner.example".rules]]
id = "tls"
disable = true

[[domain."*.partner.example".rules]]
id = "partner"
then = { whitelist = true }

[group.legal]
members = ["legal@behoerde.example"]
member_domains = ["justiz.behoerde.example"]

[[group.legal.rules]]
id = "legal"
then = { archive = true, encrypt = "if-possible" }

[[domain."=idn.example".rules]]
id = "exact"
then = { require_tls = "bsi-tr-03108" }

[[domain."partner.example".rules]]
id = "tree"
then = { archive = true }

[group.secret]
member_domains = ["geheim.example"]

[[group.secret.rules]]
id = "secret"
then = { encrypt = "required", fallback = "block" }

[[user."chef@behoerde.example".rules]]
id = "tag"
when = { direction = "outbound" }
then = { encrypt = "required", methods = ["pgp"] }

[default]
then = { quarantine = "no rule decided" }
"#;

const ADDRESSES: [&str; 8] = [
    "bob@x.partner.example",
    "ops-12@extern.example",
    "legal@behoerde.example",
    "Gus@Geheim.Example",
    "chef@behoerde.example",
    "\u{17F}k-1@idn.example",
    "nobody",
    "a@justiz.behoerde.example",
];

fn policy() -> Option<&'static Policy> {
    static POLICY_CELL: OnceLock<Option<Policy>> = OnceLock::new();
    POLICY_CELL
        .get_or_init(|| Policy::parse(POLICY, "fuzz.toml").ok().map(|(p, _)| p))
        .as_ref()
}

fuzz_target!(|data: &[u8]| {
    let Some(policy) = policy() else {
        panic!(
            "the fuzz policy must be valid: {:?}",
            Policy::check(POLICY, "fuzz.toml")
        );
    };
    let (Some(&flags), Some(&chosen)) = (data.first(), data.get(1)) else {
        return;
    };
    let raw = data.get(2..).unwrap_or_default();
    let direction = if flags & 1 == 0 {
        Direction::Outbound
    } else {
        Direction::Inbound
    };
    let bit = |n: u8| flags & (1 << n) != 0;
    let recipients: Vec<&str> = ADDRESSES
        .iter()
        .enumerate()
        .filter(|(i, _)| chosen & (1 << i) != 0)
        .map(|(_, a)| *a)
        .collect();
    let facts = StaticFacts::from_json(&format!(
        r#"{{"sender": {{"smime": {}, "pgp": {}}}, "inbound_signature_valid": {},
            "recipients": {{"bob@x.partner.example": {{"smime": {}, "tls": {}}},
                           "ops-12@extern.example": {{"pgp": {}, "tls": true}},
                           "gus@geheim.example": {{"pgp": {}}}}}}}"#,
        bit(1),
        bit(2),
        bit(3),
        bit(4),
        bit(5),
        bit(6),
        bit(7)
    ))
    .unwrap_or_default();
    let sender = if bit(4) {
        "alice@behoerde.example"
    } else {
        "info@bank.example"
    };
    let message = Message::parse(raw);
    let envelope = Envelope::new(direction, sender, recipients.iter().copied());
    let full = policy.evaluate_with(&envelope, &message, &facts, Detail::Full);
    let brief = policy.evaluate_with(&envelope, &message, &facts, Detail::Decisions);
    assert_eq!(full.recipients.len(), recipients.len());
    assert_eq!(brief.recipients.len(), recipients.len());
    for (f, b) in full.recipients.iter().zip(&brief.recipients) {
        assert_eq!(f.outcome, b.outcome);
        assert_eq!(f.decided_by, b.decided_by);
        let stopped = [Action::Block, Action::Quarantine, Action::Defer]
            .iter()
            .any(|a| f.outcome.has(*a));
        assert_eq!(f.outcome.has(Action::Deliver), !stopped, "{f}");
        // No implicit deliver: mail no rule decides gets the policy's
        // `[default]`, here quarantine (or a defer).
        if f.decided_by.is_none() {
            assert!(!f.outcome.has(Action::Deliver), "{f}");
        }
        let _ = f.to_string();
    }
    let grouped: usize = full.groups().iter().map(|g| g.recipients.len()).sum();
    assert_eq!(grouped, recipients.len());
    let json = full.to_json();
    for r in json["recipients"].as_array().into_iter().flatten() {
        assert_eq!(r.as_object().map(|o| o.len()), Some(5));
        for a in r["actions"].as_array().into_iter().flatten() {
            let action = a.as_str().and_then(Action::from_name);
            assert!(action.is_some_and(Action::in_explain_vocabulary), "{a}");
        }
    }
});
