#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The gateway glue (`GatewayFilter`) through the milter protocol over a
//! TCP socket, as Postfix speaks it: a real gateway decides, and what the
//! MTA gets back is checked on the wire (replies, header edits, body,
//! quarantine), together with the notifications sent to the sender.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{packets, responses};
use gateway_facade::store::SqliteDirectory;
use gateway_facade::{Gateway, TransportCheck, TransportCheckError};
use mailgate_milter::gateway::{DirectionMode, GatewayFilter};
use mailgate_milter::{
    Actions, ClientAddress, Command, Listener, Negotiation, Protocol, Response, Server,
};

const POLICY: &str = r#"
[policy]
name = "milter-glue"
internal_domains = ["behoerde.example"]

[[rules]]
id = "rival"
when = { direction = "outbound", recipient_domain = "rival.example" }
then = { block = "mail to rival.example is not allowed" }

[[rules]]
id = "tag"
when = { direction = "outbound", subject_tag = "[vertraulich]" }
then = { strip_subject_tag = "[vertraulich]" }

[[rules]]
id = "secure"
when = { direction = "outbound", recipient_domain = "secure.example" }
then = { require_tls = "bsi-tr-03108" }

[[rules]]
id = "probe"
when = { direction = "outbound", recipient_domain = "probe.example", recipient_tls = "bsi-tr-03108" }
then = { require_tls = "bsi-tr-03108" }

[[rules]]
id = "fallback"
when = { direction = "outbound", recipient_domain = "fallback.example" }
then = { encrypt = "required", methods = ["smime", "pgp"], fallback = "password-zip" }

[[rules]]
id = "bank"
when = { direction = "inbound", sender_domain = "bank.example", signed = false }
then = { quarantine = "no valid signature from bank.example" }

[default]
then = { deliver = true }
"#;

/// A transport check whose DNS is down: every question is deferred.
struct DnsDown;

impl TransportCheck for DnsDown {
    fn meets_profile(&self, domain: &str, _profile: &str) -> Result<bool, TransportCheckError> {
        Err(TransportCheckError::Unavailable(format!(
            "no answer for the MX of {domain} in time"
        )))
    }
}

fn gateway() -> Gateway {
    let (policy, warnings) = rule_engine::Policy::parse(POLICY, "milter-glue.toml").unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    Gateway::new(
        policy,
        Path::new("milter-glue.toml"),
        Arc::new(SqliteDirectory::in_memory().unwrap()),
        Vec::new(),
        "postmaster@behoerde.example",
    )
    .with_transport_check(Arc::new(DnsDown))
}

/// What the notifier was handed: (sender, notification).
type Sent = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// Serves `filter` on a free port in the background.
fn serve(filter: GatewayFilter) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let server = Server::new(Arc::new(filter)).max_connections(4);
    std::thread::spawn(move || server.serve(Listener::Tcp(listener)));
    address
}

/// One mail as Postfix sends it (connect and envelope macros included).
struct Mail {
    macros: Vec<(&'static str, &'static str)>,
    from: &'static str,
    to: Vec<&'static str>,
    headers: Vec<(&'static str, String)>,
    body: &'static str,
}

/// A mail from alice on the submission service (`ORIGINATING`).
fn outbound(to: &[&'static str], subject: &str) -> Mail {
    Mail {
        macros: vec![("daemon_name", "ORIGINATING")],
        from: "alice@behoerde.example",
        to: to.to_vec(),
        headers: vec![
            ("From", " alice@behoerde.example".to_owned()),
            ("Subject", format!(" {subject}")),
            ("Message-ID", " <m1@behoerde.example>".to_owned()),
        ],
        body: "Guten Tag,\r\nanbei die Unterlagen.\r\n",
    }
}

/// Plays one conversation over TCP; returns the answers after the
/// negotiation (with Postfix's "no reply" flags, only the end of message is
/// answered: modifications, then the verdict).
fn converse(address: SocketAddr, mail: &Mail) -> Vec<Response> {
    let mut commands = vec![
        Command::Negotiate(Negotiation {
            version: 6,
            actions: Actions::from_bits(0x1ff),
            protocol: Protocol::from_bits(0x1f_ffff),
        }),
        Command::Macros {
            stage: b'C',
            macros: mail
                .macros
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
        },
        Command::Connect {
            hostname: "client.example".into(),
            address: ClientAddress::V4 {
                address: "192.0.2.7".into(),
                port: 40000,
            },
        },
        Command::Mail(vec![format!("<{}>", mail.from)]),
    ];
    commands.extend(
        mail.to
            .iter()
            .map(|to| Command::Recipient(vec![format!("<{to}>")])),
    );
    commands.extend(mail.headers.iter().map(|(name, value)| Command::Header {
        name: (*name).to_owned(),
        value: value.as_bytes().to_vec(),
    }));
    commands.extend([
        Command::EndOfHeaders,
        Command::Body(mail.body.as_bytes().to_vec()),
        Command::EndOfMessage(Vec::new()),
        Command::Quit,
    ]);
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(&packets(&commands)).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let answers = responses(&answer);
    assert!(
        matches!(answers.first(), Some(Response::Negotiate(_))),
        "{answers:?}"
    );
    answers[1..].to_vec()
}

/// The reply of a refused mail, as text (`451 4.7.1 ...`).
fn refusal(answers: &[Response]) -> String {
    match answers {
        [Response::Reply(reply)] => reply.to_string(),
        other => panic!("not a single reply: {other:?}"),
    }
}

fn recording_filter() -> (GatewayFilter, Sent) {
    let sent: Sent = Arc::default();
    let sink = Arc::clone(&sent);
    let filter = GatewayFilter::new(gateway()).notifier(
        move |sender: &str, notification: &[u8]| -> Result<(), String> {
            sink.lock()
                .unwrap()
                .push((sender.to_owned(), notification.to_vec()));
            Ok(())
        },
    );
    (filter, sent)
}

#[test]
fn a_rejection_is_550_with_the_policys_reason() {
    let (filter, sent) = recording_filter();
    let address = serve(filter);
    let answers = converse(address, &outbound(&["eve@rival.example"], "Angebot"));
    assert_eq!(
        refusal(&answers),
        "550 5.7.1 mail to rival.example is not allowed"
    );
    assert!(sent.lock().unwrap().is_empty());
}

#[test]
fn a_deferral_is_451_and_wins_over_a_rejection() {
    let (filter, _) = recording_filter();
    let address = serve(filter);
    let deferred = converse(address, &outbound(&["bob@probe.example"], "Termin"));
    assert!(refusal(&deferred).starts_with("451 4.7.1 "), "{deferred:?}");
    assert!(
        refusal(&deferred).contains("no answer for the MX of probe.example in time"),
        "{deferred:?}"
    );
    let mixed = converse(
        address,
        &outbound(&["eve@rival.example", "bob@probe.example"], "Termin"),
    );
    assert!(refusal(&mixed).starts_with("451 4.7.1 "), "{mixed:?}");
}

#[test]
fn an_outbound_change_becomes_header_edits_on_the_wire() {
    let (filter, _) = recording_filter();
    let address = serve(filter);
    let answers = converse(
        address,
        &outbound(&["bob@partner.example"], "[vertraulich] Akte 17"),
    );
    // The tagged Subject goes (the first Subject field), the untagged one
    // is added; the body stays; the verdict is "continue".
    assert_eq!(answers.last(), Some(&Response::Continue), "{answers:?}");
    assert!(
        answers.contains(&Response::ChangeHeader {
            index: 1,
            name: "Subject".into(),
            value: Vec::new(),
        }),
        "{answers:?}"
    );
    let added: Vec<_> = answers
        .iter()
        .filter_map(|r| match r {
            Response::AddHeader { name, value } | Response::InsertHeader { name, value, .. } => {
                Some((name.clone(), String::from_utf8_lossy(value).into_owned()))
            }
            _ => None,
        })
        .collect();
    assert!(
        added
            .iter()
            .any(|(name, value)| name == "Subject" && value.trim() == "Akte 17"),
        "{answers:?}"
    );
    assert!(
        !answers
            .iter()
            .any(|r| matches!(r, Response::ReplaceBody(_) | Response::Reply(_))),
        "{answers:?}"
    );
}

#[test]
fn a_mail_the_gateway_leaves_alone_is_accepted_unchanged() {
    let (filter, _) = recording_filter();
    let address = serve(filter);
    let answers = converse(address, &outbound(&["bob@partner.example"], "Termin"));
    assert_eq!(answers, [Response::Continue]);
}

#[test]
fn a_quarantine_replaces_and_holds_with_the_reason() {
    let (filter, _) = recording_filter();
    let address = serve(filter);
    let mail = Mail {
        macros: Vec::new(),
        from: "info@bank.example",
        to: vec!["alice@behoerde.example"],
        headers: vec![
            ("From", " info@bank.example".to_owned()),
            ("Subject", " Bitte bestaetigen".to_owned()),
        ],
        body: "Bitte bestaetigen.\r\n",
    };
    let answers = converse(address, &mail);
    assert!(
        answers.contains(&Response::Quarantine(
            "no valid signature from bank.example".into()
        )),
        "{answers:?}"
    );
    assert_eq!(answers.last(), Some(&Response::Continue), "{answers:?}");
}

#[test]
fn a_tls_requirement_is_refused_unless_the_mta_enforces_it() {
    let (filter, _) = recording_filter();
    let address = serve(filter);
    let refused = converse(address, &outbound(&["bob@secure.example"], "Termin"));
    assert!(
        refusal(&refused)
            .starts_with("451 4.7.5 delivery needs TLS meeting bsi-tr-03108, which a milter"),
        "{refused:?}"
    );
    let (filter, _) = recording_filter();
    let address = serve(filter.tls_enforced_by_mta(true));
    let passed = converse(address, &outbound(&["bob@secure.example"], "Termin"));
    assert_eq!(passed.last(), Some(&Response::Continue), "{passed:?}");
    assert!(
        !passed.iter().any(|r| matches!(r, Response::Reply(_))),
        "{passed:?}"
    );
}

#[test]
fn a_password_delivery_notifies_the_sender_first_or_waits() {
    let mail = outbound(&["fred@fallback.example"], "Personalakte");
    let (filter, sent) = recording_filter();
    let address = serve(filter);
    let answers = converse(address, &mail);
    assert_eq!(answers.last(), Some(&Response::Continue), "{answers:?}");
    assert!(
        answers
            .iter()
            .any(|r| matches!(r, Response::ReplaceBody(_))),
        "the message is replaced by the password container: {answers:?}"
    );
    let sent = sent.lock().unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].0, "alice@behoerde.example");
    assert!(
        String::from_utf8_lossy(&sent[0].1).contains("fred@fallback.example"),
        "the notification names the recipient"
    );

    // Without a notifier, or when it fails, the MTA keeps the mail.
    let address = serve(GatewayFilter::new(gateway()));
    assert!(
        refusal(&converse(address, &mail))
            .starts_with("451 4.7.0 this delivery needs a notification to the sender"),
    );
    let address = serve(GatewayFilter::new(gateway()).notifier(
        |_: &str, _: &[u8]| -> Result<(), String> { Err("reinjection port closed".into()) },
    ));
    assert_eq!(
        refusal(&converse(address, &mail)),
        "451 4.7.0 the notification to the sender could not be sent: reinjection port closed"
    );
}

#[test]
fn the_direction_comes_from_the_macros_or_the_mode() {
    let rival = |macros: Vec<(&'static str, &'static str)>| Mail {
        macros,
        ..outbound(&["eve@rival.example"], "Angebot")
    };
    let address = serve(GatewayFilter::new(gateway()));
    // Originating daemon or an authenticated client: outbound, refused.
    assert!(
        refusal(&converse(
            address,
            &rival(vec![("daemon_name", "ORIGINATING")])
        ))
        .starts_with("550")
    );
    assert!(refusal(&converse(address, &rival(vec![("auth_authen", "alice")]))).starts_with("550"));
    // Neither: inbound, where the outbound rule does not apply.
    let inbound = converse(address, &rival(vec![("daemon_name", "smtpd")]));
    assert!(
        !inbound.iter().any(|r| matches!(r, Response::Reply(_))),
        "{inbound:?}"
    );

    let address = serve(GatewayFilter::new(gateway()).originating_daemon("submission"));
    assert!(
        refusal(&converse(
            address,
            &rival(vec![("daemon_name", "submission")])
        ))
        .starts_with("550")
    );
    let inbound = converse(address, &rival(vec![("daemon_name", "ORIGINATING")]));
    assert!(
        !inbound.iter().any(|r| matches!(r, Response::Reply(_))),
        "{inbound:?}"
    );

    let address = serve(GatewayFilter::new(gateway()).direction(DirectionMode::Inbound));
    let inbound = converse(address, &rival(vec![("daemon_name", "ORIGINATING")]));
    assert!(
        !inbound.iter().any(|r| matches!(r, Response::Reply(_))),
        "{inbound:?}"
    );
    let address = serve(GatewayFilter::new(gateway()).direction(DirectionMode::Outbound));
    assert!(refusal(&converse(address, &rival(Vec::new()))).starts_with("550"));
}
