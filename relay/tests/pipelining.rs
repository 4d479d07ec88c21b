//! Unauthorised pipelining as a class (the red team's finding 5): a
//! dialogue of two transactions cut into groups at arbitrary line
//! boundaries, each group arriving in one read, as a client that writes
//! it at once without waiting for replies. The session goes on exactly as
//! long as no group holds anything behind EHLO or DATA (RFC 2920 section
//! 3.1); at the first that does, it ends with `554 5.5.0`, and only the
//! messages completed before it are spooled.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod common;

use std::collections::VecDeque;

use common::Groups;

use mailgate_relay::{ServerSettings, serve_client};
use mailgate_spool::Spool;
use proptest::prelude::*;

const DIALOGUE: &[&str] = &[
    "EHLO client.test",
    "MAIL FROM:<alice@behoerde.example>",
    "RCPT TO:<bob@partner.example>",
    "RCPT TO:<Postmaster>",
    "DATA",
    "Subject: one",
    "",
    "first",
    ".",
    "RSET",
    "MAIL FROM:<alice@behoerde.example>",
    "RCPT TO:<carol@partner.example>",
    "DATA",
    "Subject: two",
    "",
    ".",
    "QUIT",
];

/// What RFC 2920 makes of the dialogue cut before the lines in `cuts`:
/// the messages completed before the first line sent ahead where it must
/// not be, and whether there is one.
fn expected(cuts: &[bool]) -> (usize, bool) {
    let mut in_data = false;
    let mut completed = 0;
    for (index, line) in DIALOGUE.iter().enumerate() {
        let more_in_group = index + 1 < DIALOGUE.len() && !cuts[index + 1];
        if in_data {
            if *line == "." {
                in_data = false;
                completed += 1;
            }
            continue;
        }
        if matches!(*line, "EHLO client.test" | "DATA") && more_in_group {
            return (completed, true);
        }
        if *line == "DATA" {
            in_data = true;
        }
    }
    (completed, false)
}

proptest! {
    #[test]
    fn a_session_goes_on_only_while_its_groups_are_legal(
        cuts in proptest::collection::vec(any::<bool>(), DIALOGUE.len()),
    ) {
        let mut groups: VecDeque<Vec<u8>> = VecDeque::new();
        for (index, line) in DIALOGUE.iter().enumerate() {
            if index == 0 || cuts[index] {
                groups.push_back(Vec::new());
            }
            let group = groups.back_mut().unwrap();
            group.extend_from_slice(line.as_bytes());
            group.extend_from_slice(b"\r\n");
        }
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let settings = ServerSettings {
            hostname: "relay.test".into(),
            ..Default::default()
        };
        let mut replies = Vec::new();
        let _ = serve_client(&settings, &spool, Groups(groups), &mut replies, |_| {});
        let replies = String::from_utf8(replies).unwrap();
        let (completed, violation) = expected(&cuts);
        prop_assert_eq!(spool.received().unwrap().len(), completed, "{}", replies);
        if violation {
            prop_assert!(
                replies.ends_with("(RFC 2920)\r\n")
                    && replies.lines().last().unwrap().starts_with("554 5.5.0 "),
                "{}", replies
            );
        } else {
            prop_assert!(replies.ends_with("221 2.0.0 bye\r\n"), "{}", replies);
            prop_assert!(!replies.contains("554 5.5.0"), "{}", replies);
        }
    }
}
