//! Properties of sealed containers that need no program beyond the test:
//! for any mail, neither its text, its attachments nor the password appear
//! in the container, and the ZIP's entries decrypt (WinZip AE-2, read here
//! from the specification) back to exactly what went in, with the HMAC and
//! the password verifier checked. The readers in `password_pdf.rs` and
//! `password_zip.rs` (qpdf, poppler, 7-Zip, bsdtar) are `--ignored`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, KeyInit, Mac};
use mailgate_password_container::{Container, EmbeddedFile, encrypted_zip, generate_password};
use proptest::prelude::*;
use sha1::Sha1;

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn u16_at(data: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([data[at], data[at + 1]]))
}

fn u32_at(data: &[u8], at: usize) -> usize {
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]) as usize
}

/// The entries of an AE-2 ZIP, decrypted with `password`: name and data.
/// Panics when a verifier or an HMAC does not match.
fn open_zip(zip: &[u8], password: &str) -> Vec<(String, Vec<u8>)> {
    let mut entries = Vec::new();
    let mut at = 0;
    while zip[at..].starts_with(b"PK\x03\x04") {
        assert_eq!(u16_at(zip, at + 8), 99, "method: AES");
        let size = u32_at(zip, at + 18);
        let plain_size = u32_at(zip, at + 22);
        let name_len = u16_at(zip, at + 26);
        let extra_len = u16_at(zip, at + 28);
        let name = String::from_utf8(zip[at + 30..at + 30 + name_len].to_vec()).unwrap();
        let extra = &zip[at + 30 + name_len..at + 30 + name_len + extra_len];
        assert_eq!(&extra[..2], &[0x01, 0x99], "AES extra field");
        assert_eq!(extra[8], 3, "AES-256");
        let data = &zip[at + 30 + name_len + extra_len..][..size];
        let (salt, rest) = data.split_at(16);
        let (verifier, rest) = rest.split_at(2);
        let (ciphertext, mac) = rest.split_at(rest.len() - 10);
        let mut keys = [0u8; 66];
        pbkdf2::pbkdf2_hmac::<Sha1>(password.as_bytes(), salt, 1000, &mut keys);
        assert_eq!(&keys[64..], verifier, "password verifier of {name}");
        let mut hmac = <Hmac<Sha1> as KeyInit>::new_from_slice(&keys[32..64]).unwrap();
        hmac.update(ciphertext);
        assert_eq!(&hmac.finalize().into_bytes()[..10], mac, "HMAC of {name}");
        let mut plain = ciphertext.to_vec();
        let mut counter = [0u8; 16];
        counter[0] = 1;
        ctr::Ctr128LE::<aes::Aes256>::new_from_slices(&keys[..32], &counter)
            .unwrap()
            .apply_keystream(&mut plain);
        assert_eq!(plain.len(), plain_size, "size of {name}");
        entries.push((name, plain));
        at += 30 + name_len + extra_len + size;
    }
    assert!(zip[at..].starts_with(b"PK\x01\x02"), "central directory");
    entries
}

fn mail(subject: &str, body: &str, attachment: &[u8]) -> Vec<u8> {
    use base64::Engine;
    format!(
        "From: alice@behoerde.example\r\nTo: bob@partner.example\r\nSubject: {subject}\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\
         --b\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"akte.bin\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b--\r\n",
        base64::engine::general_purpose::STANDARD.encode(attachment)
    )
    .into_bytes()
}

#[test]
fn the_zip_holds_the_text_the_attachments_and_the_original() {
    let password = generate_password(20).unwrap();
    let message = mail(
        "Personalakte",
        "Die Akte von Herrn M\u{fc}ller.",
        b"\x00\x01geheim",
    );
    let sealed = Container::Zip.seal(&message, &password).unwrap();
    assert_eq!(
        (sealed.mime_type, sealed.file_name),
        ("application/zip", "message.zip")
    );
    let entries = open_zip(&sealed.data, &password);
    let names: Vec<&str> = entries.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["message.txt", "akte.bin", "message.eml"]);
    let text = String::from_utf8(entries[0].1.clone()).unwrap();
    assert!(text.contains("Subject: Personalakte"), "{text}");
    assert!(text.contains("Die Akte von Herrn M\u{fc}ller."), "{text}");
    assert_eq!(entries[1].1, b"\x00\x01geheim");
    assert_eq!(entries[2].1, message);
}

#[test]
fn a_wrong_password_fails_the_verifier() {
    let files = [EmbeddedFile {
        name: "a.txt".into(),
        mime_type: "text/plain".into(),
        data: b"secret".to_vec(),
    }];
    let zip = encrypted_zip(&files, "right").unwrap();
    let result = std::panic::catch_unwind(|| open_zip(&zip, "wrong"));
    assert!(result.is_err(), "a wrong password opened the archive");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Whatever the mail says, its words, its attachment and the password
    /// are nowhere in either container, and the ZIP gives them all back.
    #[test]
    fn nothing_readable_leaks_and_the_zip_round_trips(
        subject in "[A-Za-z]{12,30}",
        body in "[A-Za-z]{12,60}( [A-Za-z]{1,10}){0,20}",
        attachment in proptest::collection::vec(any::<u8>(), 16..512),
        length in 12usize..40,
    ) {
        let password = generate_password(length).unwrap();
        let message = mail(&subject, &body, &attachment);
        for container in [Container::Pdf, Container::Zip] {
            let sealed = container.seal(&message, &password).unwrap();
            for secret in [subject.as_bytes(), body.as_bytes(), &attachment, password.as_bytes()] {
                prop_assert!(!contains(&sealed.data, secret), "{container:?} leaks {secret:?}");
            }
        }
        let entries = open_zip(&Container::Zip.seal(&message, &password).unwrap().data, &password);
        prop_assert_eq!(&entries[1].1, &attachment);
        prop_assert_eq!(&entries[2].1, &message);
        let text = String::from_utf8_lossy(&entries[0].1).into_owned();
        prop_assert!(text.contains(&subject) && text.contains(&body), "{}", text);
    }
}
