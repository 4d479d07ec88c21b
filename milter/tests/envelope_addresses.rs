#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Issue 16, finding 1 at the milter: envelope addresses the MTA passes are
//! reduced to their canonical form before the filter sees them, and a mail
//! with one that cannot be (percent hack, address literal, a second pair of
//! angle brackets, no address) is refused with 553 5.1.3 without being
//! shown to the filter.

mod common;

use std::io::Cursor;
use std::sync::Mutex;

use common::{packets, responses};
use mailgate_milter::{
    Actions, Command, Decision, Filter, Limits, Mail, Negotiation, Protocol, Response,
    serve_connection,
};
use proptest::prelude::*;

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Mail>>,
}

impl Filter for Recorder {
    fn end_of_message(&self, mail: &Mail) -> Decision {
        self.seen.lock().unwrap().push(mail.clone());
        Decision::Accept
    }
}

/// One mail from `sender` to `recipients` (as the MTA writes the
/// arguments); the end-of-message answer and what the filter saw.
fn deliver(sender: &str, recipients: &[&str]) -> (Response, Vec<Mail>) {
    let mut commands = vec![
        Command::Negotiate(Negotiation {
            version: 6,
            actions: Actions::from_bits(0x1ff),
            protocol: Protocol::from_bits(0x1f_ffff),
        }),
        Command::Mail(vec![sender.to_owned()]),
    ];
    for recipient in recipients {
        commands.push(Command::Recipient(vec![(*recipient).to_owned()]));
    }
    commands.extend([
        Command::Header {
            name: "Subject".into(),
            value: b" Termin".to_vec(),
        },
        Command::EndOfHeaders,
        Command::Body(b"Treffen am Montag\r\n".to_vec()),
        Command::EndOfMessage(Vec::new()),
        Command::Quit,
    ]);
    let filter = Recorder::default();
    let mut output = Vec::new();
    serve_connection(
        &filter,
        Limits::default(),
        &mut Cursor::new(packets(&commands)),
        &mut output,
    )
    .unwrap();
    let mut answers = responses(&output);
    let last = answers.pop().unwrap();
    (last, filter.seen.into_inner().unwrap())
}

fn refused_553(answer: &Response) -> bool {
    matches!(answer, Response::Reply(reply) if reply.code() == 553)
}

#[test]
fn finding_one_spellings_at_the_milter() {
    for spelling in [
        "<erin@geheim.example.>",
        "<ERIN@Geheim.Example>",
        "<\"erin\"@geheim.example>",
        "<@relay.example:erin@geheim.example>",
        "erin@geheim.example",
    ] {
        let (answer, seen) = deliver("<alice@behoerde.example>", &[spelling]);
        assert_eq!(answer, Response::Continue, "{spelling}");
        let [mail] = seen.as_slice() else {
            panic!("{spelling}: {seen:?}")
        };
        let recipients = mail.canonical_recipients().unwrap();
        assert_eq!(recipients[0].key(), "erin@geheim.example", "{spelling}");
    }
    for spelling in [
        "<erin@[geheim.example]>",
        "<erin%geheim.example@behoerde.example>",
        "<<erin@geheim.example>>",
        "<erin@[192.0.2.1]>",
        "<erin>",
    ] {
        let (answer, seen) = deliver("<alice@behoerde.example>", &[spelling]);
        assert!(refused_553(&answer), "{spelling}: {answer:?}");
        assert!(seen.is_empty(), "{spelling} reached the filter");
    }
    // The sender too; the null sender is fine.
    let (answer, seen) = deliver("<alice%x.example@behoerde.example>", &["<b@x.example>"]);
    assert!(refused_553(&answer), "{answer:?}");
    assert!(seen.is_empty());
    let (answer, seen) = deliver("<>", &["<b@x.example>"]);
    assert_eq!(answer, Response::Continue);
    assert_eq!(seen[0].canonical_sender().unwrap(), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn one_refused_recipient_refuses_the_mail(
        local in "[a-z]{1,8}",
        hack in prop_oneof![
            Just("{l}%geheim.example@behoerde.example"),
            Just("{l}!geheim.example@behoerde.example"),
            Just("{l}@[geheim.example]"),
            Just("{l}@[192.0.2.7]"),
            Just("<{l}@geheim.example>"),
            Just("{l} @geheim.example"),
        ],
        position in 0usize..3,
    ) {
        let bad = format!("<{}>", hack.replace("{l}", &local));
        let mut recipients = vec!["<bob@partner.example>", "<carol@partner.example>"];
        recipients.insert(position.min(recipients.len()), &bad);
        let (answer, seen) = deliver("<alice@behoerde.example>", &recipients);
        prop_assert!(refused_553(&answer), "{} {:?}", bad, answer);
        prop_assert!(seen.is_empty());
    }
}
