//! Autocrypt headers and attached certificates of inbound mail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use pgp_core::openpgp::serialize::SerializeInto;
use pgp_core::{AutocryptHeader, PreferEncrypt, Source, harvest_certificates};
use testkit::PgpSuite;

fn autocrypt_field(addr: &str, key: &testkit::PgpKey) -> String {
    let keydata = mail_message::encode_base64(
        &public(key).to_vec().unwrap(),
        mail_message::LineBreak::Crlf,
    );
    let keydata = String::from_utf8(keydata)
        .unwrap()
        .trim_end()
        .replace("\r\n", "\r\n ");
    format!("Autocrypt: addr={addr}; prefer-encrypt=mutual; keydata=\r\n {keydata}\r\n")
}

#[test]
fn autocrypt_header_for_the_from_address_is_harvested() {
    let alice = alice(PgpSuite::Cv25519);
    let message = format!(
        "From: Alice <alice@example.org>\r\n{}Subject: hi\r\n\r\nbody\r\n",
        autocrypt_field("alice@example.org", &alice)
    );
    let header = AutocryptHeader::from_message(message.as_bytes())
        .unwrap()
        .unwrap();
    assert_eq!(header.prefer_encrypt, PreferEncrypt::Mutual);
    assert_eq!(header.certificate.fingerprint(), alice.cert().fingerprint());
    assert!(!header.certificate.is_tsk());
    let found = harvest_certificates(message.as_bytes()).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].source, Source::Autocrypt);
}

#[test]
fn autocrypt_header_for_another_address_or_twice_is_ignored() {
    let alice = alice(PgpSuite::Cv25519);
    let other = format!(
        "From: mallory@example.org\r\n{}\r\nbody\r\n",
        autocrypt_field("alice@example.org", &alice)
    );
    assert!(
        AutocryptHeader::from_message(other.as_bytes())
            .unwrap()
            .is_none()
    );
    let field = autocrypt_field("alice@example.org", &alice);
    let twice = format!("From: alice@example.org\r\n{field}{field}\r\nbody\r\n");
    assert!(
        AutocryptHeader::from_message(twice.as_bytes())
            .unwrap()
            .is_none()
    );
}

#[test]
fn malformed_autocrypt_headers_are_errors() {
    assert!(AutocryptHeader::parse("addr=a@example.org").is_err());
    assert!(AutocryptHeader::parse("keydata=AAAA").is_err());
    assert!(AutocryptHeader::parse("addr=a@example.org; keydata=!!!").is_err());
    assert!(AutocryptHeader::parse("addr=a@example.org; critical=1; keydata=AAAA").is_err());
    // A secret key in keydata is refused.
    let alice = alice(PgpSuite::Cv25519);
    let secret = mail_message::encode_base64(
        &alice.cert().as_tsk().to_vec().unwrap(),
        mail_message::LineBreak::Lf,
    );
    let value = format!(
        "addr=alice@example.org; keydata={}",
        String::from_utf8(secret).unwrap()
    );
    assert!(AutocryptHeader::parse(&value).is_err());
}

#[test]
fn attached_keys_are_harvested_without_secrets() {
    let alice = alice(PgpSuite::Rsa3072);
    let bob = bob(PgpSuite::Cv25519);
    let mut message = b"From: alice@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nkeys\r\n--b\r\nContent-Type: application/pgp-keys\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    message.extend_from_slice(&mail_message::encode_base64(
        &alice.cert().as_tsk().to_vec().unwrap(),
        mail_message::LineBreak::Crlf,
    ));
    message.extend_from_slice(b"\r\n--b\r\nContent-Type: application/pgp-keys\r\n\r\n");
    message.extend_from_slice(&bob.public_armored());
    message.extend_from_slice(
        b"\r\n--b\r\nContent-Type: application/pgp-keys\r\n\r\nnot a key\r\n--b--\r\n",
    );
    let found = harvest_certificates(&message).unwrap();
    assert_eq!(found.len(), 2);
    assert!(found.iter().all(|h| !h.certificate.is_tsk()));
    assert_eq!(
        found[1].source,
        Source::Attachment {
            part: "3".to_owned()
        }
    );
}

struct FakeDirectory {
    advanced: Option<Vec<u8>>,
    direct: Option<Vec<u8>>,
    fail: bool,
    asked: std::cell::RefCell<Vec<String>>,
}

impl pgp_core::WkdFetcher for FakeDirectory {
    fn fetch(&self, url: &str) -> Result<Option<Vec<u8>>, pgp_core::Error> {
        self.asked.borrow_mut().push(url.to_owned());
        if self.fail {
            return Err(pgp_core::Error::Io(std::io::Error::other("timeout")));
        }
        if url.starts_with("https://openpgpkey.") {
            Ok(self.advanced.clone())
        } else {
            Ok(self.direct.clone())
        }
    }
}

#[test]
fn wkd_lookup_tries_advanced_then_direct_and_keeps_only_matching_user_ids() {
    let bob = bob(PgpSuite::Cv25519);
    let alice = alice(PgpSuite::Cv25519);
    let mut both = public(&bob).to_vec().unwrap();
    both.extend_from_slice(&public(&alice).to_vec().unwrap());
    let address: mail_message::EmailAddress = "Bob@example.net".parse().unwrap();

    let directory = FakeDirectory {
        advanced: None,
        direct: Some(both),
        fail: false,
        asked: Default::default(),
    };
    let found = pgp_core::wkd_lookup(&address, &directory).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].fingerprint(), bob.cert().fingerprint());
    let asked = directory.asked.borrow();
    assert_eq!(asked.len(), 2);
    assert!(
        asked[0]
            .starts_with("https://openpgpkey.example.net/.well-known/openpgpkey/example.net/hu/")
    );
    assert!(asked[1].starts_with("https://example.net/.well-known/openpgpkey/hu/"));
    assert!(asked[1].ends_with("?l=Bob"));

    // A transient failure is an error, never "no key".
    let failing = FakeDirectory {
        advanced: None,
        direct: None,
        fail: true,
        asked: Default::default(),
    };
    assert!(pgp_core::wkd_lookup(&address, &failing).is_err());
    let empty = FakeDirectory {
        advanced: None,
        direct: None,
        fail: false,
        asked: Default::default(),
    };
    assert!(pgp_core::wkd_lookup(&address, &empty).unwrap().is_empty());
}
