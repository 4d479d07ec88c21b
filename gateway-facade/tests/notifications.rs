//! Whom the gateway's own mails go to (issue 16, red-team finding:
//! `Gateway::process` handed the password of a password-protected delivery
//! to whatever envelope sender the mail named, so a forged external sender
//! received the password of mail it did not send).
//!
//! Through `Gateway::process`:
//! - the password goes only to a sender in the policy's `internal_domains`
//!   (any spelling, subdomains included); for any other sender, the null
//!   sender and look-alike domains the password fallback is refused (reject,
//!   notice to the postmaster), the password channel is never asked and no
//!   disposition carries a password;
//! - notices about outbound mail go to an internal sender, else to the
//!   postmaster; inbound notices go to the sender, never to the null sender.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use gateway_facade::store::SqliteDirectory;
use gateway_facade::{Disposition, Envelope, Gateway, Outcome, PasswordChannel};
use proptest::prelude::*;

const POSTMASTER: &str = "postmaster@behoerde.example";

const POLICY: &str = r#"
[policy]
name = "notifications"
internal_domains = ["behoerde.example"]

[[rules]]
id = "confidential"
when = { direction = "outbound", subject_tag = "[vertraulich]" }
then = { encrypt = "required", methods = ["smime", "pgp"], fallback = "password-zip" }

[[domain."geheim.example".rules]]
id = "geheim"
then = { encrypt = "required", methods = ["smime", "pgp"], fallback = "block" }

[[rules]]
id = "spam"
when = { direction = "inbound", subject_tag = "[spam]" }
then = { block = "refused as spam" }

[default]
then = { deliver = true }
"#;

/// Remembers every sender it was asked to give a password to.
#[derive(Default)]
struct Recording {
    asked: Mutex<Vec<String>>,
}

impl PasswordChannel for Recording {
    fn hand_over(
        &self,
        sender: &str,
        _recipients: &[String],
        _subject: Option<&str>,
        password: &str,
    ) -> Result<Option<Vec<u8>>, String> {
        self.asked.lock().unwrap().push(sender.to_owned());
        Ok(Some(
            format!("From: <{POSTMASTER}>\r\nTo: <{sender}>\r\n\r\nPassword: {password}\r\n")
                .into_bytes(),
        ))
    }
}

fn gateway(policy: &str) -> Gateway {
    let (policy, _) = rule_engine::Policy::parse(policy, "notifications.toml").unwrap();
    Gateway::new(
        policy,
        Path::new("notifications.toml"),
        Arc::new(SqliteDirectory::in_memory().unwrap()),
        Vec::new(),
        POSTMASTER,
    )
}

/// The shared gateway (default channel: a notice to the sender) for the
/// property tests.
fn shared() -> &'static Gateway {
    static GATEWAY: OnceLock<Gateway> = OnceLock::new();
    GATEWAY.get_or_init(|| gateway(POLICY))
}

fn mail(subject: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@behoerde.example>\r\nTo: dave@extern.example\r\n\
         Subject: {subject}\r\nMessage-ID: <n@behoerde.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nDie vertrauliche Personalakte.\r\n"
    )
    .into_bytes()
}

/// The `To:` address of a notification.
fn to_of(notification: &[u8]) -> String {
    let text = String::from_utf8_lossy(notification);
    let line = text
        .lines()
        .find(|l| l.starts_with("To:"))
        .unwrap_or_else(|| panic!("no To: in {text}"));
    line["To:".len()..]
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

/// Every notification of `outcome`, with its kind.
fn notifications(outcome: &Outcome) -> Vec<(&'static str, String, String)> {
    outcome
        .dispositions
        .iter()
        .filter_map(|d| {
            d.notification()
                .map(|n| (d.kind(), to_of(n), String::from_utf8_lossy(n).into_owned()))
        })
        .collect()
}

fn internal(address: &str) -> bool {
    mail_message::Mailbox::parse(address).is_ok_and(|m| {
        let d = m.domain();
        d == "behoerde.example" || d.ends_with(".behoerde.example")
    })
}

#[test]
fn a_foreign_sender_never_gets_the_password_and_the_postmaster_learns_why() {
    let channel = Arc::new(Recording::default());
    let gateway = gateway(POLICY).with_password_channel(channel.clone());
    for sender in [
        "eve@evil.example",
        "eve@evilbehoerde.example",
        "eve@behoerde.example.evil.example",
        "<>",
        "",
    ] {
        let outcome = gateway.process(
            &Envelope::outbound(sender, ["dave@extern.example"]),
            &mail("[vertraulich] Personalakte"),
        );
        let [
            Disposition::Reject {
                reason,
                notification,
                ..
            },
        ] = outcome.dispositions.as_slice()
        else {
            panic!("{sender:?}: {:?}", outcome.dispositions);
        };
        assert!(reason.contains("internal_domains"), "{sender:?}: {reason}");
        assert!(reason.contains("password-zip"), "{sender:?}: {reason}");
        assert_eq!(to_of(notification), POSTMASTER, "{sender:?}");
        let text = String::from_utf8_lossy(notification);
        assert!(!text.contains("Password:"), "{text}");
    }
    assert!(
        channel.asked.lock().unwrap().is_empty(),
        "the channel was asked: {:?}",
        channel.asked.lock().unwrap()
    );
}

#[test]
fn an_internal_sender_in_any_spelling_or_subdomain_gets_the_password() {
    let channel = Arc::new(Recording::default());
    let gateway = gateway(POLICY).with_password_channel(channel.clone());
    for (sender, canonical) in [
        ("alice@behoerde.example", "alice@behoerde.example"),
        ("<Alice@Behoerde.Example.>", "alice@behoerde.example"),
        ("bob@amt.behoerde.example", "bob@amt.behoerde.example"),
    ] {
        let outcome = gateway.process(
            &Envelope::outbound(sender, ["dave@extern.example"]),
            &mail("[vertraulich] Personalakte"),
        );
        let [Disposition::Deliver { notification, .. }] = outcome.dispositions.as_slice() else {
            panic!("{sender:?}: {:?}", outcome.dispositions);
        };
        let notification = notification.as_deref().unwrap();
        assert_eq!(to_of(notification), canonical);
        assert!(String::from_utf8_lossy(notification).contains("Password: "));
        assert_eq!(
            channel.asked.lock().unwrap().pop().as_deref(),
            Some(canonical)
        );
    }
}

#[test]
fn reject_notices_of_outbound_mail_go_to_internal_senders_only() {
    let gateway = shared();
    let plain = mail("Termin");
    let to_geheim = |sender: &str| {
        gateway.process(
            &Envelope::outbound(sender, ["erin@sub.geheim.example"]),
            &plain,
        )
    };
    let own = notifications(&to_geheim("alice@behoerde.example"));
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].0, "reject");
    assert_eq!(own[0].1, "alice@behoerde.example");
    assert!(!own[0].2.contains("goes to the postmaster"), "{}", own[0].2);

    let foreign = notifications(&to_geheim("eve@evil.example"));
    assert_eq!(foreign.len(), 1);
    assert_eq!(foreign[0].1, POSTMASTER);
    assert!(
        foreign[0].2.contains("<eve@evil.example> is not in"),
        "{}",
        foreign[0].2
    );

    // A refused recipient spelling: the same rule.
    let refused = gateway.process(
        &Envelope::outbound("eve@evil.example", ["erin%geheim.example@behoerde.example"]),
        &plain,
    );
    let refused = notifications(&refused);
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].1, POSTMASTER);

    // A message that cannot be judged (Subject twice), from a foreign sender.
    let doubled = b"From: a@behoerde.example\r\nSubject: a\r\nSubject: b\r\n\r\nx\r\n";
    let doubled = gateway.process(
        &Envelope::outbound("eve@evil.example", ["dave@extern.example"]),
        doubled,
    );
    let doubled = notifications(&doubled);
    assert_eq!(doubled.len(), 1);
    assert_eq!(doubled[0].1, POSTMASTER);
}

#[test]
fn inbound_notices_go_to_the_sender_but_never_to_the_null_sender() {
    let gateway = shared();
    let spam = mail("[spam] Angebot");
    let from = |sender: &str| {
        notifications(&gateway.process(
            &Envelope::inbound(sender, ["alice@behoerde.example"]),
            &spam,
        ))
    };
    let external = from("info@laden.example");
    assert_eq!(external.len(), 1);
    assert_eq!(external[0].1, "info@laden.example");
    for null in ["", "<>"] {
        let bounce = from(null);
        assert_eq!(bounce.len(), 1, "{null:?}");
        assert_eq!(bounce[0].1, POSTMASTER, "{null:?}");
        assert!(bounce[0].2.contains("no sender address"), "{}", bounce[0].2);
    }
}

/// A sender: internal (the domain or a subdomain) or not (other domains,
/// look-alikes that end in the same letters or start with the domain), in
/// varied case, with or without trailing dot and angle brackets.
fn sender() -> impl Strategy<Value = String> {
    (
        prop_oneof![
            Just("behoerde.example".to_owned()),
            "[a-z]{1,6}\\.behoerde\\.example",
            "[a-z]{1,6}behoerde\\.example",
            "behoerde\\.example\\.[a-z]{1,6}",
            "[a-z]{1,8}\\.example",
        ],
        "[a-z]{1,8}",
        proptest::collection::vec(any::<bool>(), 1..24),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(domain, local, upper, dot, brackets)| {
            let mut address: String = format!("{local}@{domain}")
                .chars()
                .zip(upper.iter().cycle())
                .map(|(c, up)| if *up { c.to_ascii_uppercase() } else { c })
                .collect();
            if dot {
                address.push('.');
            }
            if brackets {
                address = format!("<{address}>");
            }
            address
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// The class: whatever the sender and whatever the mail does, a
    /// notification that holds a password is addressed to an internal
    /// mailbox, and every outbound notice is addressed to an internal
    /// mailbox or the postmaster.
    #[test]
    fn passwords_and_outbound_notices_stay_inside(
        sender in sender(),
        confidential in any::<bool>(),
        geheim in any::<bool>(),
    ) {
        let recipient = if geheim { "erin@geheim.example" } else { "dave@extern.example" };
        let subject = if confidential { "[vertraulich] Akte" } else { "Termin" };
        let outcome = shared().process(&Envelope::outbound(sender.as_str(), [recipient]), &mail(subject));
        let is_internal = internal(&sender);
        for (kind, to, text) in notifications(&outcome) {
            prop_assert!(to == POSTMASTER || internal(&to), "{} notice to {}", kind, to);
            if text.contains("Password:") {
                prop_assert!(internal(&to), "password to {}", to);
                prop_assert!(is_internal, "password for the mail of {}", sender);
            }
            if !is_internal {
                prop_assert_eq!(&to, POSTMASTER);
            }
        }
        // The foreign sender's confidential mail is refused, not delivered
        // without its password or in clear.
        if confidential && !geheim && !is_internal {
            prop_assert_eq!(outcome.dispositions.len(), 1);
            prop_assert_eq!(outcome.dispositions[0].kind(), "reject");
        }
    }
}
