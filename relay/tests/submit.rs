//! `mailgate_relay::submit` against a scripted SMTP server over TCP: what
//! each kind of refusal becomes in `SubmitError`, and its text.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use mailgate_relay::{SubmitError, submit};

/// A server for one session: `mail` answers MAIL FROM, recipients whose
/// local part is `temp` get 450 and `gone` get 550, everyone else 250.
fn server(mail: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        writer.write_all(b"220 hop.test ESMTP\r\n").unwrap();
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap_or(0) > 0 {
            let command = line.to_ascii_uppercase();
            let reply = if command.starts_with("EHLO") {
                "250 hop.test".to_owned()
            } else if command.starts_with("MAIL FROM") {
                mail.to_owned()
            } else if command.starts_with("RCPT TO:<TEMP@") {
                "450 4.2.1 mailbox busy".to_owned()
            } else if command.starts_with("RCPT TO:<GONE@") {
                "550 5.1.1 no such user".to_owned()
            } else if command.starts_with("RCPT") {
                "250 2.1.5 ok".to_owned()
            } else if command.starts_with("DATA") {
                writer.write_all(b"354 go ahead\r\n").unwrap();
                let mut data = String::new();
                while reader.read_line(&mut data).unwrap_or(0) > 0 && !data.ends_with("\r\n.\r\n") {
                }
                "250 2.0.0 queued".to_owned()
            } else if command.starts_with("QUIT") {
                let _ = writer.write_all(b"221 bye\r\n");
                return;
            } else {
                "500 5.5.1 what".to_owned()
            };
            writer.write_all(format!("{reply}\r\n").as_bytes()).unwrap();
            line.clear();
        }
    });
    address
}

fn send(server: &str, recipients: &[&str]) -> Result<(), SubmitError> {
    let recipients: Vec<String> = recipients.iter().map(|r| (*r).to_owned()).collect();
    submit(
        server,
        "gateway.test",
        "",
        &recipients,
        b"Subject: Password\r\n\r\nPassword: x\r\n",
        Duration::from_secs(10),
    )
}

#[test]
fn every_recipient_accepted_is_ok() {
    let hop = server("250 2.1.0 ok");
    send(&hop, &["alice@behoerde.example"]).unwrap();
}

#[test]
fn a_refused_recipient_names_server_recipient_and_reply_temporary_first() {
    let hop = server("250 2.1.0 ok");
    let error = send(&hop, &["gone@x.example", "temp@x.example"]).unwrap_err();
    assert!(error.is_temporary(), "{error:?}");
    assert!(
        matches!(&error, SubmitError::Refused { recipient, permanent: false, .. }
            if recipient == "temp@x.example"),
        "{error:?}"
    );
    let text = error.to_string();
    assert!(
        text.starts_with(&format!("{hop} refused temp@x.example: 450")),
        "{text}"
    );

    let hop = server("250 2.1.0 ok");
    let error = send(&hop, &["alice@x.example", "gone@x.example"]).unwrap_err();
    assert!(!error.is_temporary(), "{error:?}");
    assert!(
        matches!(&error, SubmitError::Refused { server, recipient, reply, permanent: true }
            if *server == hop && recipient == "gone@x.example" && reply.contains("no such user")),
        "{error:?}"
    );
}

#[test]
fn a_refused_transaction_and_an_unreachable_server_are_whole_failures() {
    let hop = server("550 5.7.1 not from you");
    let error = send(&hop, &["alice@behoerde.example"]).unwrap_err();
    assert!(matches!(error, SubmitError::Permanent(_)), "{error:?}");
    assert!(error.to_string().contains("not from you"), "{error}");

    let hop = server("451 4.3.0 try later");
    let error = send(&hop, &["alice@behoerde.example"]).unwrap_err();
    assert!(matches!(error, SubmitError::Temporary(_)), "{error:?}");

    // A port nobody listens on (bound, then closed).
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let error = send(&closed.to_string(), &["alice@behoerde.example"]).unwrap_err();
    assert!(error.is_temporary(), "{error:?}");
    assert!(error.to_string().starts_with("connecting to "), "{error}");
}
