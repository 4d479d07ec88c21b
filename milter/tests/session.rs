#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Whole conversations, played as an MTA would, against the session.

mod common;

use std::io::Cursor;
use std::sync::Mutex;

use common::{packets, responses};
use mailgate_milter::{
    Actions, Command, Decision, Error, Filter, Limits, Mail, Negotiation, Protocol, Reply,
    Response, serve_connection,
};

/// What Postfix 3.7 offers.
fn postfix_offer() -> Negotiation {
    Negotiation {
        version: 6,
        actions: Actions::from_bits(0x1ff),
        protocol: Protocol::from_bits(0x1f_ffff),
    }
}

fn converse<F: Filter>(
    filter: &F,
    limits: Limits,
    commands: &[Command],
) -> Result<Vec<Response>, Error> {
    let mut input = Cursor::new(packets(commands));
    let mut output = Vec::new();
    serve_connection(filter, limits, &mut input, &mut output)?;
    Ok(responses(&output))
}

/// Records what it saw and answers with a fixed decision.
struct Recorder {
    decision: Decision,
    seen: Mutex<Vec<Mail>>,
}

impl Recorder {
    fn new(decision: Decision) -> Recorder {
        Recorder {
            decision,
            seen: Mutex::new(Vec::new()),
        }
    }
}

impl Filter for Recorder {
    fn end_of_message(&self, mail: &Mail) -> Decision {
        self.seen.lock().unwrap().push(mail.clone());
        self.decision.clone()
    }
}

fn one_mail(header_value: &[u8]) -> Vec<Command> {
    vec![
        Command::Negotiate(postfix_offer()),
        Command::Macros {
            stage: b'C',
            macros: vec![("daemon_name".into(), "ORIGINATING".into())],
        },
        Command::Connect {
            hostname: "client.example".into(),
            address: mailgate_milter::ClientAddress::V4 {
                address: "127.0.0.1".into(),
                port: 40000,
            },
        },
        Command::Mail(vec!["<alice@behoerde.example>".into(), "SIZE=100".into()]),
        Command::Recipient(vec!["<bob@partner.example>".into()]),
        Command::Recipient(vec!["<carol@partner.example>".into()]),
        Command::Header {
            name: "Subject".into(),
            value: header_value.to_vec(),
        },
        Command::Header {
            name: "From".into(),
            value: b" alice@behoerde.example".to_vec(),
        },
        Command::EndOfHeaders,
        Command::Body(b"Hello\r\n".to_vec()),
        Command::Body(b"World\r\n".to_vec()),
        Command::EndOfMessage(Vec::new()),
        Command::Quit,
    ]
}

#[test]
fn the_filter_sees_the_whole_mail_and_the_mta_gets_only_the_answers_it_waits_for() {
    let filter = Recorder::new(Decision::Accept);
    let answers = converse(&filter, Limits::default(), &one_mail(b" folded\n\tsubject")).unwrap();
    // Negotiation, then only the end-of-message answer: every other step
    // was negotiated as "no reply".
    assert_eq!(answers.len(), 2);
    let Response::Negotiate(agreed) = answers[0] else {
        panic!("{answers:?}")
    };
    assert!(agreed.protocol.contains(Protocol::HEADER_LEADING_SPACE));
    assert!(
        agreed
            .actions
            .contains(Actions::CHANGE_BODY | Actions::CHANGE_HEADERS)
    );
    assert!(!agreed.actions.contains(Actions::DELETE_RECIPIENTS));
    assert_eq!(answers[1], Response::Continue);

    let seen = filter.seen.lock().unwrap();
    let mail = &seen[0];
    assert_eq!(mail.sender(), "alice@behoerde.example");
    assert_eq!(
        mail.recipients(),
        ["bob@partner.example", "carol@partner.example"]
    );
    assert_eq!(mail.macro_value("daemon_name"), Some("ORIGINATING"));
    assert_eq!(
        mail.message(),
        b"Subject: folded\r\n\tsubject\r\nFrom: alice@behoerde.example\r\n\r\nHello\r\nWorld\r\n"
    );
}

#[test]
fn a_replacement_becomes_header_changes_and_a_new_body() {
    let replacement = b"Subject: folded\r\n\tsubject\r\nFrom: alice@behoerde.example\r\n\
Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\r\nMIAGCSqG\r\n"
        .to_vec();
    let filter = Recorder::new(Decision::Replace {
        message: replacement,
        quarantine: Some("held for review".into()),
    });
    let answers = converse(&filter, Limits::default(), &one_mail(b" folded\n\tsubject")).unwrap();
    assert_eq!(
        answers[1..],
        [
            Response::AddHeader {
                name: "Content-Type".into(),
                value: b" application/pkcs7-mime; smime-type=enveloped-data".to_vec()
            },
            Response::ReplaceBody(b"MIAGCSqG\r\n".to_vec()),
            Response::Quarantine("held for review".into()),
            Response::Continue,
        ]
    );
}

#[test]
fn a_change_the_mta_did_not_grant_refuses_the_mail_instead_of_passing_it() {
    let filter = Recorder::new(Decision::Replace {
        message: b"Subject: x\r\n\r\nencrypted\r\n".to_vec(),
        quarantine: None,
    });
    let mut commands = one_mail(b" x");
    commands[0] = Command::Negotiate(Negotiation {
        actions: Actions::ADD_HEADERS,
        ..postfix_offer()
    });
    let answers = converse(&filter, Limits::default(), &commands).unwrap();
    let Response::Reply(reply) = &answers[1] else {
        panic!("{answers:?}")
    };
    assert!(reply.is_temporary());
    assert_eq!(answers.len(), 2);
}

#[test]
fn a_mail_over_the_limit_is_refused_and_never_shown_to_the_filter() {
    let filter = Recorder::new(Decision::Accept);
    let answers = converse(
        &filter,
        Limits {
            max_message_size: 50,
        },
        &one_mail(b" x"),
    )
    .unwrap();
    assert_eq!(
        answers[1],
        Response::Reply(
            Reply::new(
                552,
                "5.3.4",
                "message too big for the mail gateway to inspect"
            )
            .unwrap()
        )
    );
    assert!(filter.seen.lock().unwrap().is_empty());
}

#[test]
fn abort_forgets_the_mail_and_the_next_one_starts_clean() {
    let filter = Recorder::new(Decision::Accept);
    let mut commands = one_mail(b" first");
    let end = commands.len() - 2;
    commands.insert(end, Command::Abort);
    commands.remove(end + 1);
    commands.splice(
        commands.len() - 1..commands.len() - 1,
        [
            Command::Mail(vec!["<>".into()]),
            Command::Recipient(vec!["<dave@behoerde.example>".into()]),
            Command::Header {
                name: "Subject".into(),
                value: b" second".to_vec(),
            },
            Command::EndOfMessage(b"Body in the last packet\r\n".to_vec()),
        ],
    );
    let answers = converse(&filter, Limits::default(), &commands).unwrap();
    assert_eq!(answers.len(), 2);
    let seen = filter.seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].sender(), "");
    assert_eq!(seen[0].recipients(), ["dave@behoerde.example"]);
    assert_eq!(
        seen[0].message(),
        b"Subject: second\r\n\r\nBody in the last packet\r\n"
    );
}

#[test]
fn protocol_violations_end_the_conversation_with_an_error() {
    let filter = Recorder::new(Decision::Accept);
    let before_negotiation = converse(
        &filter,
        Limits::default(),
        &[Command::Mail(vec!["<a@b>".into()])],
    );
    assert!(matches!(before_negotiation, Err(Error::OutOfOrder { .. })));
    let recipient_without_mail = converse(
        &filter,
        Limits::default(),
        &[
            Command::Negotiate(postfix_offer()),
            Command::Recipient(vec!["<a@b>".into()]),
        ],
    );
    assert!(matches!(
        recipient_without_mail,
        Err(Error::OutOfOrder { .. })
    ));
    let old = converse(
        &filter,
        Limits::default(),
        &[Command::Negotiate(Negotiation {
            version: 1,
            ..postfix_offer()
        })],
    );
    assert!(matches!(old, Err(Error::Version(1))));
    let mut garbage = Cursor::new(b"\0\0\0\x02Zx".to_vec());
    assert!(matches!(
        serve_connection(&filter, Limits::default(), &mut garbage, &mut Vec::new()),
        Err(Error::UnknownCommand('Z'))
    ));
}

#[test]
fn without_negotiated_no_reply_flags_every_step_is_answered() {
    let filter = Recorder::new(Decision::Accept);
    let mut commands = one_mail(b" x");
    commands[0] = Command::Negotiate(Negotiation {
        protocol: Protocol::NONE,
        ..postfix_offer()
    });
    let answers = converse(&filter, Limits::default(), &commands).unwrap();
    // connect, mail, 2 rcpt, 2 headers, eoh, 2 body, eom.
    assert_eq!(answers.len(), 1 + 10);
    assert!(answers[1..].iter().all(|r| *r == Response::Continue));
    // Without the leading space, the session adds the space after the colon.
    assert!(
        filter.seen.lock().unwrap()[0]
            .message()
            .starts_with(b"Subject:  x\r\n")
    );
}

/// Panics on every mail.
struct Panicking;

impl Filter for Panicking {
    fn end_of_message(&self, _mail: &Mail) -> Decision {
        panic!("a bug in the filter");
    }
}

#[test]
fn a_panicking_filter_ends_one_conversation_not_the_server() {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = mailgate_milter::Server::new(Arc::new(Panicking)).max_connections(1);
    std::thread::spawn(move || server.serve(mailgate_milter::Listener::Tcp(listener)));
    // Twice through the only slot: the first conversation's panic must
    // have given it back.
    for _ in 0..2 {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        stream.write_all(&packets(&one_mail(b" x"))).unwrap();
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answers = responses(&answer);
        assert!(matches!(answers[0], Response::Negotiate(_)), "{answers:?}");
        // No verdict: the MTA applies milter_default_action (tempfail).
        assert_eq!(answers.len(), 1, "{answers:?}");
    }
}
