//! Shared by the `pgp_*` tests: keys, messages, and a throw-away GnuPG
//! home per test (the real `gpg`, GnuPG 2.2).

// Each test file uses a different subset.
#![allow(
    dead_code,
    unused_imports,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::process::Output;
use std::sync::Arc;

use testkit::{PgpKey, PgpSuite, PgpVersion, openpgp_key};

pub(crate) const ALICE: &str = "Alice Example <alice@example.org>";
pub(crate) const BOB: &str = "Bob Example <bob@example.net>";
pub(crate) const CAROL: &str = "Carol <carol@example.com>";

/// The v4 suites GnuPG 2.2 reads.
pub(crate) const SUITES: [PgpSuite; 2] = [PgpSuite::Rsa3072, PgpSuite::Cv25519];

pub(crate) fn key(user_id: &str, suite: PgpSuite) -> Arc<PgpKey> {
    openpgp_key(user_id, suite, PgpVersion::V4)
}

/// The inner entity of [`message`].
pub(crate) const ENTITY: &str = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nDas Gehalt steigt um 3 %. Grüße aus Köln\r\nFrom here on, lines\r\n.\r\nwith dots.\r\n";

/// A plain message from `from` to Bob.
pub(crate) fn message(from: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {BOB}\r\nSubject: Gehalt\r\nDate: Mon, 2 Jun 2025 10:00:00 +0000\r\nMIME-Version: 1.0\r\n{ENTITY}"
    )
    .into_bytes()
}

/// A throw-away GnuPG home with loopback pinentry; its agent is stopped
/// when dropped (testkit's).
pub(crate) use testkit::gnupg::GpgHome as Gpg;
/// A path as a command-line argument.
pub(crate) use testkit::path_str as s;

/// The content type of a message's top-level entity.
pub(crate) fn content_type(message: &[u8]) -> mail_message::ContentType {
    mail_message::Entity::parse(message)
        .unwrap()
        .content_type()
        .unwrap()
}

/// The parts of a top-level multipart (signed or encrypted).
pub(crate) fn parts(message: &[u8]) -> Vec<Vec<u8>> {
    let entity = mail_message::Entity::parse(message).unwrap();
    let content_type = entity.content_type().unwrap();
    let boundary = content_type.parameter("boundary").unwrap().to_owned();
    let multipart = mail_message::Multipart::split(entity.body(), &boundary).unwrap();
    multipart.parts().iter().map(|p| p.to_vec()).collect()
}

/// The body of a MIME part (its header fields removed).
pub(crate) fn body(part: &[u8]) -> Vec<u8> {
    mail_message::Entity::parse(part).unwrap().body().to_vec()
}

/// Wraps an entity and an armored detached signature as RFC 3156
/// multipart/signed, by hand, as another client (Thunderbird/Enigmail,
/// Mutt) does around gpg's output.
pub(crate) fn wrap_signed(from: &str, entity: &[u8], signature: &[u8], micalg: &str) -> Vec<u8> {
    let mut out = format!(
        "From: {from}\r\nTo: {BOB}\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; micalg={micalg};\r\n protocol=\"application/pgp-signature\"; boundary=\"XYZ\"\r\n\r\n--XYZ\r\n"
    )
    .into_bytes();
    out.extend_from_slice(entity);
    out.extend_from_slice(b"\r\n--XYZ\r\nContent-Type: application/pgp-signature\r\n\r\n");
    out.extend_from_slice(signature);
    out.extend_from_slice(b"\r\n--XYZ--\r\n");
    out
}

/// Wraps an armored OpenPGP message as RFC 3156 multipart/encrypted.
pub(crate) fn wrap_encrypted(from: &str, armored: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "From: {from}\r\nTo: {BOB}\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"ENC\"\r\n\r\n--ENC\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--ENC\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(armored);
    out.extend_from_slice(b"\r\n--ENC--\r\n");
    out
}

/// A text/plain message whose body is `body` (an inline block).
pub(crate) fn text_message(from: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "From: {from}\r\nTo: {BOB}\r\nSubject: inline\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// The JSON a `--json` run printed.
pub(crate) fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
        panic!(
            "not JSON ({error}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Whether `needle` occurs in `haystack`.
pub(crate) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
