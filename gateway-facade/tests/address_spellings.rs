//! Every spelling of a mailbox gets the decision of its canonical form
//! through `Gateway::process` (issue 16, finding 1): a domain rule for
//! `geheim.example` (the demo's R6: encrypt or block) and a user rule apply
//! whatever case, trailing dot, IDNA label form, quoting, angle brackets or
//! source route the envelope uses; the percent hack and address literals
//! are refused, never delivered.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::sync::{Arc, OnceLock};

use gateway_facade::store::SqliteDirectory;
use gateway_facade::{Disposition, Envelope, Gateway};
use proptest::prelude::*;

const POLICY: &str = r#"
[policy]
name = "spellings"
internal_domains = ["behoerde.example"]

[[domain."geheim.example".rules]]
id = "R6"
then = { encrypt = "required", methods = ["smime", "pgp"], fallback = "block" }

[[domain."xn--bcher-kva.example".rules]]
id = "books"
then = { encrypt = "required", methods = ["smime", "pgp"], fallback = "block" }

[[user."chef@partner.example".rules]]
id = "chef"
then = { block = "no mail for the chef" }

[default]
then = { deliver = true }
"#;

fn gateway() -> &'static Gateway {
    static GATEWAY: OnceLock<Gateway> = OnceLock::new();
    GATEWAY.get_or_init(|| {
        let (policy, _) = rule_engine::Policy::parse(POLICY, "spellings.toml").unwrap();
        Gateway::new(
            policy,
            Path::new("spellings.toml"),
            Arc::new(SqliteDirectory::in_memory().unwrap()),
            Vec::new(),
            "postmaster@behoerde.example",
        )
    })
}

const MESSAGE: &[u8] = b"From: alice@behoerde.example\r\nTo: erin@geheim.example\r\n\
Subject: Termin\r\nMessage-ID: <s@behoerde.example>\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nTreffen am Montag.\r\n";

/// What happened to `recipient`: the disposition kind and the rule ids
/// named in the audit trace are compared, not the wording.
fn decision(recipient: &str) -> (String, Option<String>) {
    let outcome = gateway().process(
        &Envelope::outbound("alice@behoerde.example", [recipient]),
        MESSAGE,
    );
    let [disposition] = outcome.dispositions.as_slice() else {
        panic!("{recipient:?}: {:?}", outcome.dispositions);
    };
    assert_eq!(disposition.recipients(), [recipient.to_owned()]);
    if let Disposition::Deliver { message, .. } = disposition {
        let text = String::from_utf8_lossy(&message.to_vec().unwrap()).into_owned();
        assert!(text.contains("Treffen am Montag"), "{text}");
    }
    (
        disposition.kind().to_owned(),
        disposition.reason().map(|r| r.replace(recipient, "RCPT")),
    )
}

/// A spelling of `local@domain`: case, trailing dot, quoting, brackets,
/// source route; `domain` is given as alternatives (U-label, A-label).
fn spelling(
    local: &'static str,
    domains: &'static [&'static str],
) -> impl Strategy<Value = String> {
    spelling_of(local, domains.iter().map(|d| (*d).to_owned()).collect())
}

/// [`spelling`] of generated domains.
fn spelling_of(local: &'static str, domains: Vec<String>) -> impl Strategy<Value = String> {
    (
        0..domains.len(),
        proptest::collection::vec(any::<bool>(), 40),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(move |(which, upper, dot, quote, brackets, route)| {
            let case = |text: &str, offset: usize| -> String {
                text.chars()
                    .zip(upper.iter().cycle().skip(offset))
                    .map(|(c, up)| {
                        if *up {
                            c.to_uppercase().collect()
                        } else {
                            c.to_string()
                        }
                    })
                    .collect()
            };
            let mut domain = case(&domains[which], 0);
            if dot {
                domain.push('.');
            }
            let local = case(local, 7);
            let local = if quote { format!("\"{local}\"") } else { local };
            let mut address = format!("{local}@{domain}");
            if route {
                address = format!("@mx.Relay.example.,@b.example:{address}");
            }
            if brackets || route {
                address = format!("<{address}>");
            }
            address
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn every_spelling_of_a_geheim_recipient_is_blocked_by_r6(
        address in spelling("erin", &["geheim.example"]),
    ) {
        let canonical = decision("erin@geheim.example");
        prop_assert_eq!(&canonical.0, "reject");
        prop_assert_eq!(decision(&address), canonical);
    }

    #[test]
    fn u_and_a_labels_get_the_rule_of_the_domain(
        address in spelling("jürgen", &["bücher.example", "xn--bcher-kva.example"]),
    ) {
        let canonical = decision("jürgen@xn--bcher-kva.example");
        prop_assert_eq!(&canonical.0, "reject");
        prop_assert_eq!(decision(&address), canonical);
    }

    #[test]
    fn a_user_rule_applies_to_every_spelling_of_the_user(
        address in spelling("chef", &["partner.example"]),
    ) {
        let canonical = decision("chef@partner.example");
        prop_assert_eq!(&canonical.0, "reject");
        prop_assert_eq!(decision(&address), canonical);
    }

    /// A domain rule names the organisation: every subdomain of
    /// `geheim.example`, in every spelling, gets R6 (red-team finding:
    /// `erin@sub.geheim.example` left in clear).
    #[test]
    fn every_spelling_of_a_subdomain_of_geheim_is_blocked_by_r6(
        address in proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,6}[a-z0-9])?", 1..4)
            .prop_flat_map(|labels| spelling_of("erin", vec![format!("{}.geheim.example", labels.join("."))])),
    ) {
        let canonical = decision("erin@geheim.example");
        prop_assert_eq!(decision(&address), canonical, "{}", address);
    }

    /// ... by whole labels only: a domain that merely ends in the same
    /// letters, or starts with the name, is someone else's.
    #[test]
    fn look_alikes_of_geheim_are_not_geheim(
        address in ("[a-z0-9]{1,6}", any::<bool>()).prop_flat_map(|(label, before)| {
            let domain = if before {
                format!("{label}geheim.example")
            } else {
                format!("geheim.example.{label}.example")
            };
            spelling_of("erin", vec![domain])
        }),
    ) {
        prop_assert_eq!(decision(&address).0, "deliver", "{}", address);
    }

    #[test]
    fn routing_spellings_and_literals_are_refused_not_delivered(
        local in "[a-z]{1,8}",
        route in "[%!]",
        octet in 0u8..=255,
        bracket in any::<bool>(),
    ) {
        let wrap = |a: String| if bracket { format!("<{a}>") } else { a };
        for address in [
            wrap(format!("{local}{route}geheim.example@behoerde.example")),
            wrap(format!("\"{local}{route}geheim.example\"@behoerde.example")),
            wrap(format!("\"{local}@geheim.example\"@behoerde.example")),
            wrap(format!("{local}@[192.0.2.{octet}]")),
            wrap(format!("{local}@[geheim.example]")),
            wrap(format!("{local}@192.0.2.{octet}")),
        ] {
            let (kind, reason) = decision(&address);
            prop_assert_eq!(kind, "reject", "{}", address);
            prop_assert!(reason.unwrap_or_default().contains("5.1.3"), "{}", address);
        }
    }
}

#[test]
fn finding_one_spellings_through_the_gateway() {
    let canonical = decision("erin@geheim.example");
    assert_eq!(canonical.0, "reject");
    for spelling in [
        "erin@geheim.example.",
        "<erin@geheim.example>",
        "ERIN@Geheim.Example",
        "\"erin\"@geheim.example",
        "<@relay.example:erin@geheim.example.>",
    ] {
        assert_eq!(decision(spelling), canonical, "{spelling}");
    }
    for refused in [
        "erin@[geheim.example]",
        "erin%geheim.example@behoerde.example",
        "<<erin@geheim.example>>",
        "erin@geheim.example\r\nRCPT TO:<x@y.example>",
    ] {
        let (kind, reason) = decision(refused);
        assert_eq!(kind, "reject", "{refused}");
        assert!(reason.unwrap().starts_with("553 5.1.3"), "{refused}");
    }
    // An ordinary recipient is still delivered, in the caller's spelling.
    assert_eq!(decision("Bob@Partner.Example.").0, "deliver");
}

#[test]
fn two_spellings_of_one_recipient_are_judged_once_and_both_named() {
    let outcome = gateway().process(
        &Envelope::outbound(
            "<alice@behoerde.example>",
            [
                "erin@geheim.example.",
                "ERIN@geheim.example",
                "bob@partner.example",
            ],
        ),
        MESSAGE,
    );
    let reject = outcome
        .dispositions
        .iter()
        .find(|d| d.kind() == "reject")
        .unwrap();
    assert_eq!(
        reject.recipients(),
        ["erin@geheim.example.", "ERIN@geheim.example"]
    );
    let deliver = outcome
        .dispositions
        .iter()
        .find(|d| d.kind() == "deliver")
        .unwrap();
    assert_eq!(deliver.recipients(), ["bob@partner.example"]);
    let envelope = outcome.audit.envelope.as_ref().unwrap();
    assert_eq!(
        envelope.recipients,
        ["erin@geheim.example", "bob@partner.example"]
    );
    assert_eq!(envelope.sender, "alice@behoerde.example");
}

#[test]
fn a_refused_sender_refuses_every_recipient() {
    let outcome = gateway().process(
        &Envelope::outbound(
            "alice%geheim.example@behoerde.example",
            ["bob@partner.example"],
        ),
        MESSAGE,
    );
    let [
        Disposition::Reject {
            recipients, reason, ..
        },
    ] = outcome.dispositions.as_slice()
    else {
        panic!("{:?}", outcome.dispositions);
    };
    assert_eq!(recipients, &["bob@partner.example".to_owned()]);
    assert!(reason.starts_with("553 5.1.7"), "{reason}");
}
