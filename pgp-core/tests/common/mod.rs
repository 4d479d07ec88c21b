//! Shared test helpers: keys, messages, and a GnuPG home per test.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use pgp_core::Cert;
use testkit::{PgpKey, PgpSuite, PgpVersion, openpgp_key};

pub const ALICE: &str = "Alice Example <alice@example.org>";
pub const BOB: &str = "Bob Example <bob@example.net>";
pub const CAROL: &str = "Carol <carol@example.com>";

pub fn alice(suite: PgpSuite) -> Arc<PgpKey> {
    openpgp_key(ALICE, suite, PgpVersion::V4)
}

pub fn bob(suite: PgpSuite) -> Arc<PgpKey> {
    openpgp_key(BOB, suite, PgpVersion::V4)
}

pub fn public(key: &PgpKey) -> Cert {
    key.cert().clone().strip_secret_key_material()
}

pub fn message(from: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: Bob Example <bob@example.net>\r\nSubject: Quarterly report\r\nDate: Mon, 2 Jun 2025 10:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}"
    )
    .into_bytes()
}

/// A throw-away GnuPG home (testkit's, with loopback pinentry and
/// `--trust-model always`).
pub use testkit::gnupg::GpgHome as Gpg;

/// What pgp-core's tests do with a GnuPG home beyond testkit's: keys
/// testkit did not make, PGP/MIME signatures.
pub trait GpgExt {
    /// Imports a certificate (with its secret key material when
    /// `secret`) that testkit did not make.
    fn import_cert(&self, cert: &Cert, secret: bool);

    /// `gpg --verify` of a PGP/MIME `multipart/signed` message's two parts
    /// (the signed entity, canonical, and the detached signature); gpg's
    /// status lines.
    fn verify_pgp_mime(&self, parts: &[Vec<u8>]) -> String;
}

impl GpgExt for Gpg {
    fn import_cert(&self, cert: &Cert, secret: bool) {
        let bytes = if secret {
            pgp_core::armored_secret_key(cert).unwrap()
        } else {
            pgp_core::armored_certificate(cert).unwrap()
        };
        self.import_bytes(&format!("{}.asc", cert.fingerprint().to_hex()), &bytes);
    }

    fn verify_pgp_mime(&self, parts: &[Vec<u8>]) -> String {
        let signature = mail_message::Entity::parse(&parts[1])
            .unwrap()
            .body()
            .to_vec();
        self.verify_detached(&mail_message::canonicalize(&parts[0]), &signature)
    }
}

/// The two parts of a top-level multipart (signed or encrypted).
pub fn parts(message: &[u8]) -> Vec<Vec<u8>> {
    let entity = mail_message::Entity::parse(message).unwrap();
    let content_type = entity.content_type().unwrap();
    let boundary = content_type.parameter("boundary").unwrap().to_owned();
    let multipart = mail_message::Multipart::split(entity.body(), &boundary).unwrap();
    multipart.parts().iter().map(|p| p.to_vec()).collect()
}

/// Wraps an entity and an armored signature as RFC 3156 multipart/signed,
/// by hand, as another client would.
pub fn wrap_signed(from: &str, entity: &[u8], signature: &[u8], micalg: &str) -> Vec<u8> {
    let mut out = format!(
        "From: {from}\r\nTo: bob@example.net\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; micalg={micalg};\r\n protocol=\"application/pgp-signature\"; boundary=\"XYZ\"\r\n\r\n--XYZ\r\n"
    )
    .into_bytes();
    out.extend_from_slice(entity);
    out.extend_from_slice(b"\r\n--XYZ\r\nContent-Type: application/pgp-signature\r\n\r\n");
    out.extend_from_slice(signature);
    out.extend_from_slice(b"\r\n--XYZ--\r\n");
    out
}

/// Wraps an armored OpenPGP message as RFC 3156 multipart/encrypted.
pub fn wrap_encrypted(from: &str, armored: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "From: {from}\r\nTo: bob@example.net\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=\"ENC\"\r\n\r\n--ENC\r\nContent-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n\r\n--ENC\r\nContent-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(armored);
    out.extend_from_slice(b"\r\n--ENC--\r\n");
    out
}

pub const ENTITY: &[u8] =
    b"Content-Type: text/plain; charset=us-ascii\r\n\r\nThe figures are attached.\r\nFrom here on, lines\r\n.\r\nwith dots and From_ lines.\r\n";
