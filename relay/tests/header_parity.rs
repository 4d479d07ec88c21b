//! The red team's finding 1 as a class: what the relay acknowledges at the
//! end of DATA, the gateway does not refuse for its header section, and
//! what the relay refuses there, the gateway would have refused (with a
//! bounce or notification). Generated header sections of ordinary fields,
//! repeated singletons, lines that are no field, obsolete `Name :`
//! spellings and `Received` fields go through `serve_client` (outbound
//! rules) and, as the spool would hold them, through `Gateway::process`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::VecDeque;
use std::sync::OnceLock;

use common::Groups;
use gateway_facade::{Envelope, Gateway};
use mailgate_relay::{ServerSettings, serve_client};
use mailgate_spool::Spool;
use proptest::prelude::*;

const POLICY: &str = r#"
[policy]
name = "parity"
internal_domains = ["behoerde.example"]

[[rules]]
id = "big"
when = { size_over = "100MB" }
then = { block = "too big" }

[default]
then = { deliver = true }
"#;

fn gateway() -> &'static Gateway {
    static GATEWAY: OnceLock<Gateway> = OnceLock::new();
    GATEWAY.get_or_init(|| common::gateway(POLICY, "parity.toml"))
}

fn header_line() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("X-Note: fine".to_owned()),
        2 => Just("Subject: hallo".to_owned()),
        1 => Just("From: alice@behoerde.example".to_owned()),
        1 => Just("Message-ID: <m@behoerde.example>".to_owned()),
        1 => Just("Content-Type: text/plain".to_owned()),
        2 => Just("Received: from a by b; Mon, 7 Dec 2026 10:00:00 +0000".to_owned()),
        1 => Just("RECEIVED : obsolete spelling".to_owned()),
        1 => Just("\tcontinued".to_owned()),
        1 => Just("no field here".to_owned()),
        1 => Just("Subject : obsolete".to_owned()),
        1 => "[A-Za-z-]{1,8}: [ -~]{0,12}",
    ]
}

/// The gateway's refusals for the header section alone.
fn refused_for_its_header(reason: Option<&str>) -> bool {
    reason.is_some_and(|r| {
        r.starts_with("malformed message") || r.starts_with("the message cannot be judged")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn the_relay_acknowledges_what_the_gateway_takes(
        lines in proptest::collection::vec(header_line(), 0..8),
    ) {
        let mut message = lines.join("\r\n");
        if !message.is_empty() {
            message.push_str("\r\n");
        }
        message.push_str("\r\nbody\r\n");
        let groups: VecDeque<Vec<u8>> = [
            "EHLO client.test\r\n".to_owned(),
            "MAIL FROM:<alice@behoerde.example>\r\nRCPT TO:<bob@partner.example>\r\nDATA\r\n"
                .to_owned(),
            format!("{message}.\r\nQUIT\r\n"),
        ]
        .into_iter()
        .map(String::into_bytes)
        .collect();
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let settings = ServerSettings {
            hostname: "relay.test".into(),
            max_hops: 4,
            ..Default::default()
        };
        let mut replies = Vec::new();
        serve_client(&settings, &spool, Groups(groups), &mut replies, |_| {}).unwrap();
        let replies = String::from_utf8(replies).unwrap();
        let envelope = Envelope::outbound("alice@behoerde.example", ["bob@partner.example"]);
        let received_fields = lines
            .iter()
            .filter(|l| l.to_ascii_lowercase().starts_with("received"))
            .count();
        if replies.contains("250 2.0.0 queued") {
            let ids = spool.received().unwrap();
            let (_, spooled) = spool.read_received(&ids[0]).unwrap();
            let outcome = gateway().process(&envelope, &spooled);
            for disposition in &outcome.dispositions {
                prop_assert!(
                    !refused_for_its_header(disposition.reason()),
                    "acknowledged, then refused: {:?}\n{}", disposition.reason(), message
                );
            }
            prop_assert!(received_fields + 1 < 4, "{}", message);
        } else {
            prop_assert!(spool.received().unwrap().is_empty());
            let refusal = replies
                .lines()
                .find(|l| l.contains("message refused"))
                .unwrap_or_else(|| panic!("{replies}"));
            if refusal.starts_with("554 5.4.6") {
                prop_assert!(received_fields + 1 >= 4, "{}", message);
            } else {
                // The client's message as it sent it. (Behind the relay's
                // trace field a first line that starts with white space
                // would continue that field, so the gateway would take it;
                // the relay judges the client's header on its own and
                // refuses it, rather than let a client write into its
                // trace field.)
                let outcome = gateway().process(&envelope, message.as_bytes());
                prop_assert!(
                    outcome.dispositions.iter().all(|d| refused_for_its_header(d.reason())),
                    "refused at DATA ({}) but the gateway: {:?}\n{}",
                    refusal, outcome.dispositions.iter().map(|d| d.reason()).collect::<Vec<_>>(),
                    message
                );
            }
        }
    }
}
