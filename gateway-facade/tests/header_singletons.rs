//! Issue 16, finding 2, as a class: every field RFC 5322 allows once,
//! repeated in any spelling at any place of the header (and the `Content-*`
//! ones in a body part), is refused before the policy in both directions
//! and both paths (in memory and spooled): outbound rejected with the field
//! named, inbound quarantined; fields that may repeat are not refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::{directory, gateway};
use gateway_facade::{Disposition, Envelope, SpooledMessage};
use mail_message::tree::MESSAGE_SINGLETONS;
use proptest::prelude::*;

/// A mail with every singleton field once, and `extra` inserted before
/// header line `at`.
fn mail_with(extra: &str, at: usize) -> Vec<u8> {
    let mut lines = vec![
        "From: alice@behoerde.example".to_owned(),
        "Sender: alice@behoerde.example".to_owned(),
        "Reply-To: alice@behoerde.example".to_owned(),
        "To: bob@partner.example".to_owned(),
        "Cc: carol@extern.example".to_owned(),
        "Bcc: alice@behoerde.example".to_owned(),
        "In-Reply-To: <z@partner.example>".to_owned(),
        "References: <z@partner.example>".to_owned(),
        "Content-Transfer-Encoding: 7bit".to_owned(),
        "Subject: Akte".to_owned(),
        "Date: Mon, 07 Dec 2026 10:00:00 +0000".to_owned(),
        "Message-ID: <a@behoerde.example>".to_owned(),
        "MIME-Version: 1.0".to_owned(),
        "Content-Type: multipart/mixed; boundary=b".to_owned(),
    ];
    lines.insert(at.min(lines.len()), extra.to_owned());
    let mut text = lines.join("\r\n");
    text.push_str("\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nAktenzeichen 4711\r\n--b--\r\n");
    text.into_bytes()
}

/// `name` with the case of each letter flipped where `mask` says.
fn spelled(name: &str, mask: u64) -> String {
    name.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_lowercase()
            } else {
                c.to_ascii_uppercase()
            }
        })
        .collect()
}

fn check_refused(raw: &[u8], field: &str) {
    let gateway = gateway(directory());
    let outbound = Envelope::outbound(
        "alice@behoerde.example",
        ["bob@partner.example", "carol@extern.example"],
    );
    let inbound = Envelope::inbound("eve@extern.example", ["alice@behoerde.example"]);
    let expected = format!("{field} appears 2 times");
    for spooled in [false, true] {
        let message = if spooled {
            SpooledMessage::read_to_file(raw).unwrap()
        } else {
            SpooledMessage::from(raw.to_vec())
        };
        let outcome = gateway.process_spooled(&outbound, &message);
        assert_eq!(outcome.dispositions.len(), 1, "{outcome:?}");
        match &outcome.dispositions[0] {
            Disposition::Reject {
                recipients,
                reason,
                notification,
            } => {
                assert_eq!(recipients.len(), 2);
                assert!(reason.contains(&expected), "{reason}");
                assert!(
                    String::from_utf8_lossy(notification).contains(&expected),
                    "the sender is not told why"
                );
            }
            other => panic!("outbound {field}: {other:?}"),
        }
        let outcome = gateway.process_spooled(&inbound, &message);
        assert_eq!(outcome.dispositions.len(), 1, "{outcome:?}");
        match &outcome.dispositions[0] {
            Disposition::Quarantine { reason, .. } => {
                assert!(reason.contains(&expected), "{reason}");
            }
            other => panic!("inbound {field}: {other:?}"),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_repeated_singleton_is_refused_in_both_directions(
        which in 0..MESSAGE_SINGLETONS.len(),
        mask in any::<u64>(),
        at in 0usize..16,
    ) {
        let field = MESSAGE_SINGLETONS[which];
        let extra = format!("{}: x", spelled(field, mask));
        check_refused(&mail_with(&extra, at), field);
    }

    #[test]
    fn a_repeated_content_field_in_a_body_part_is_refused(
        which in 0..3usize,
        mask in any::<u64>(),
    ) {
        let (field, value) = [
            ("Content-Type", "text/html"),
            ("Content-Transfer-Encoding", "base64"),
            ("Content-Disposition", "attachment; filename=a.exe"),
        ][which];
        let raw = format!(
            "From: alice@behoerde.example\r\nSubject: Akte\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\
             {field}: {value}\r\nContent-Type: text/plain\r\n\
             Content-Transfer-Encoding: 7bit\r\nContent-Disposition: inline\r\n\r\n\
             Aktenzeichen 4711\r\n--b--\r\n",
            field = spelled(field, mask),
        );
        check_refused(raw.as_bytes(), field);
    }
}

#[test]
fn fields_that_may_repeat_are_not_refused() {
    let gateway = gateway(directory());
    let raw = mail_with(
        "Received: from a by b; Mon, 07 Dec 2026 10:00:00 +0000\r\nReceived: from c by a; Mon, 07 Dec 2026 09:59:00 +0000\r\nComments: one\r\nComments: two\r\nKeywords: x\r\nKeywords: y",
        0,
    );
    let outcome = gateway.process(
        &Envelope::outbound("alice@behoerde.example", ["bob@partner.example"]),
        &raw,
    );
    assert!(
        outcome
            .dispositions
            .iter()
            .all(|d| !d.reason().is_some_and(|r| r.contains("cannot be judged"))),
        "{outcome:?}"
    );
}

/// A header section beyond the limit (1 MiB) is refused at once in both
/// directions and both paths, not deferred: it would be retried for days
/// and bounced at the end (red-team finding, spool clogging).
#[test]
fn an_oversized_header_section_is_refused_not_deferred() {
    let gateway = gateway(directory());
    let mut raw = b"From: eve@extern.example\r\nTo: alice@behoerde.example\r\n".to_vec();
    while raw.len() <= 1 << 20 {
        raw.extend_from_slice(
            b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
        );
    }
    raw.extend_from_slice(b"\r\nbody\r\n");
    for envelope in [
        Envelope::inbound("eve@extern.example", ["alice@behoerde.example"]),
        Envelope::outbound("alice@behoerde.example", ["bob@partner.example"]),
    ] {
        for spooled in [true, false] {
            let message = if spooled {
                SpooledMessage::read_to_file(&raw[..]).unwrap()
            } else {
                SpooledMessage::from(raw.clone())
            };
            let outcome = gateway.process_spooled(&envelope, &message);
            assert!(
                outcome
                    .dispositions
                    .iter()
                    .all(|d| matches!(d, Disposition::Reject { .. })),
                "{:?} spooled={spooled}: {:?}",
                envelope.direction,
                outcome.dispositions
            );
        }
    }
}
