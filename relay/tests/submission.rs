//! Finding 4 of issue 17 as a class: an outbound session of a client that
//! is neither in the relay's networks nor authenticated spools nothing,
//! whatever it sends (the relay would sign it with the sender's key).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use mailgate_relay::{ServerSettings, Submission, serve_client};
use mailgate_spool::Spool;
use proptest::prelude::*;

fn settings(trusted: bool) -> ServerSettings {
    ServerSettings {
        hostname: "relay.test".into(),
        max_message_size: 1 << 16,
        submission: Submission::Restricted {
            client_trusted: trusted,
            credentials: None,
        },
        // These streams come in one piece: what is checked here is who may
        // submit, not how commands are grouped (see `pipelining.rs`).
        forbid_unauth_pipelining: false,
        ..Default::default()
    }
}

fn converse(trusted: bool, input: &[u8]) -> (String, usize) {
    let dir = tempfile::tempdir().unwrap();
    let spool = Spool::open(dir.path()).unwrap();
    let mut replies = Vec::new();
    let _ = serve_client(&settings(trusted), &spool, input, &mut replies, |_| {});
    (
        String::from_utf8_lossy(&replies).into_owned(),
        spool.received().unwrap().len(),
    )
}

const TRANSACTION: &[u8] = b"EHLO c\r\nMAIL FROM:<alice@behoerde.example>\r\n\
    RCPT TO:<bob@partner.example>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nQUIT\r\n";

#[test]
fn an_untrusted_client_gets_554_at_mail_and_a_trusted_one_is_served() {
    let (replies, spooled) = converse(false, TRANSACTION);
    assert!(replies.contains("\r\n554 5.7.1 "), "{replies}");
    assert_eq!(spooled, 0);
    let (replies, spooled) = converse(true, TRANSACTION);
    assert!(replies.contains("250 2.0.0 queued as"), "{replies}");
    assert_eq!(spooled, 1);
}

#[test]
fn auth_is_not_offered_without_tls_or_credentials() {
    let (replies, spooled) = converse(
        false,
        b"EHLO c\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\nMAIL FROM:<alice@behoerde.example>\r\nQUIT\r\n",
    );
    assert!(!replies.contains("AUTH PLAIN"), "{replies}");
    assert!(replies.contains("502 5.5.1 AUTH"), "{replies}");
    assert!(replies.contains("554 5.7.1"), "{replies}");
    assert_eq!(spooled, 0);
}

fn command() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(b"EHLO c\r\n".to_vec()),
        Just(b"HELO c\r\n".to_vec()),
        Just(b"RSET\r\n".to_vec()),
        Just(b"RCPT TO:<bob@partner.example>\r\n".to_vec()),
        Just(b"DATA\r\n".to_vec()),
        Just(b"hello\r\n.\r\n".to_vec()),
        Just(b"STARTTLS\r\n".to_vec()),
        Just(b"AUTH LOGIN\r\n".to_vec()),
        Just(b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n".to_vec()),
        "[a-zA-Z@.<>:= ]{0,40}".prop_map(|s| format!("MAIL FROM:{s}\r\n").into_bytes()),
        "[a-zA-Z@.<>:= ]{0,40}"
            .prop_map(|s| format!("mail from:<{s}> BODY=8BITMIME\r\n").into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..40),
    ]
}

proptest! {
    #[test]
    fn nothing_an_untrusted_client_sends_is_spooled(
        commands in proptest::collection::vec(command(), 1..30)
    ) {
        let input: Vec<u8> = commands.concat();
        let (replies, spooled) = converse(false, &input);
        prop_assert_eq!(spooled, 0, "{}", replies);
        prop_assert!(!replies.contains("250 2.1.0"), "a sender was accepted: {}", replies);
    }
}
