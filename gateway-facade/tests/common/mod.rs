//! A gateway for `behoerde.example` over the testkit PKI and OpenPGP keys,
//! with a certificate directory the test fills.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::Path;
use std::sync::Arc;

use gateway_facade::certificates::{pgp_entry, smime_entry};
use gateway_facade::store::{Directory, SqliteDirectory, TrustState};
use gateway_facade::{Gateway, OrganisationKey, SmimeIdentity};
use smime_core::{Certificate, PrivateKey};
use testkit::{Identity, IdentityFiles, KeyKind, PgpKey, PgpSuite, PgpVersion};

pub const POLICY: &str = r#"
[policy]
name = "test"
internal_domains = ["behoerde.example"]

[[rules]]
id = "sign"
when = { direction = "outbound", sender_domain = "behoerde.example" }
then = { sign = ["smime", "pgp"] }

[[rules]]
id = "tag"
when = { direction = "outbound", subject_tag = "[vertraulich]" }
then = { strip_subject_tag = "[vertraulich]" }

[[rules]]
id = "confidential"
when = { direction = "outbound", subject_tag = "[vertraulich]" }
then = { encrypt = "required", methods = ["smime", "pgp"], fallback = "block", notify_sender = "no-key" }

[[rules]]
id = "tls"
when = { direction = "outbound", recipient_internal = false, recipient_tls = "bsi-tr-03108" }
then = { require_tls = "bsi-tr-03108" }

[[domain."fallback.example".rules]]
id = "pdf"
when = { direction = "outbound", subject_tag = "[vertraulich]" }
then = { encrypt = "required", methods = ["smime", "pgp"], fallback = "password-pdf" }

[[domain."zip.example".rules]]
id = "zip"
when = { direction = "outbound", subject_tag = "[vertraulich]" }
then = { encrypt = "required", methods = ["smime", "pgp"], fallback = "password-zip" }

[[rules]]
id = "bank"
when = { direction = "inbound", sender_domain = "bank.example", any = [
    { signed = false },
    { inbound_signature_valid = false },
] }
then = { quarantine = "no valid signature from bank.example" }

[[rules]]
id = "decrypt"
when = { direction = "inbound", encrypted = true }
then = { decrypt = true }

[[rules]]
id = "harvest"
when = { direction = "inbound", signed = true, inbound_signature_valid = true }
then = { harvest = true }

[default]
then = { deliver = true }
"#;

pub fn smime(address: &str) -> Arc<Identity> {
    testkit::pki().smime(address, KeyKind::Rsa2048)
}

pub fn pgp(address: &str) -> Arc<PgpKey> {
    testkit::openpgp_key(&format!("<{address}>"), PgpSuite::Cv25519, PgpVersion::V4)
}

pub fn smime_identity(identity: &Identity) -> SmimeIdentity {
    SmimeIdentity::new(
        Certificate::from_der(identity.certificate_der()).unwrap(),
        identity
            .chain_der()
            .iter()
            .map(|c| Certificate::from_der(c).unwrap())
            .collect(),
        PrivateKey::load(identity.private_key_der(), None).unwrap(),
    )
}

/// alice@behoerde.example has S/MIME and OpenPGP keys.
pub fn alice() -> OrganisationKey {
    let address = "alice@behoerde.example";
    OrganisationKey::new(
        address,
        Some(smime_identity(&smime(address))),
        Some(pgp(address).cert().clone()),
        None,
    )
}

pub fn trust_smime(directory: &dyn Directory, identity: &Identity, state: TrustState) {
    let certificate = Certificate::from_der(identity.certificate_der()).unwrap();
    directory
        .add(&smime_entry(&certificate, "test"), state)
        .unwrap();
}

pub fn trust_pgp(directory: &dyn Directory, key: &PgpKey, state: TrustState) {
    directory
        .add(&pgp_entry(key.cert(), "test").unwrap(), state)
        .unwrap();
}

pub fn gateway(directory: Arc<dyn Directory>) -> Gateway {
    let (policy, warnings) = rule_engine::Policy::parse(POLICY, "test.toml").unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    Gateway::new(
        policy,
        Path::new("test.toml"),
        directory,
        vec![alice()],
        "postmaster@behoerde.example",
    )
    .with_trust_anchors(vec![
        Certificate::from_der(testkit::pki().root().certificate_der()).unwrap(),
    ])
}

pub fn directory() -> Arc<SqliteDirectory> {
    Arc::new(SqliteDirectory::in_memory().unwrap())
}

pub fn mail(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <t@behoerde.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// Runs a program in `dir` with stdin, returning stdout; panics on failure
/// (testkit's).
pub use testkit::run_peer_with_input as run;

/// A throw-away GnuPG home with these secret keys imported.
pub fn gpg_home(keys: &[&PgpKey]) -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    for key in keys {
        run(
            "gpg",
            &[
                "--homedir",
                home.path().to_str().unwrap(),
                "--batch",
                "--import",
            ],
            &key.secret_armored(),
            home.path(),
        );
    }
    home
}

/// The message of a Deliver disposition.
pub fn delivered(disposition: &gateway_facade::Disposition) -> Vec<u8> {
    match disposition {
        gateway_facade::Disposition::Deliver { message, .. } => message.to_vec().unwrap(),
        other => panic!("expected delivery, got {other:?}"),
    }
}

/// The OpenPGP message inside a PGP/MIME `multipart/encrypted` mail.
pub fn payload_of_pgp_mime(message: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(message);
    let start = text
        .find("-----BEGIN PGP MESSAGE-----")
        .expect("armored payload");
    let end = text.find("-----END PGP MESSAGE-----").expect("armor end") + 25;
    text[start..end].as_bytes().to_vec()
}

/// `openssl cms -decrypt` with an identity's files.
pub fn openssl_decrypt(files: &IdentityFiles, message: &[u8], dir: &Path) -> Vec<u8> {
    testkit::openssl::cms_decrypt(
        dir,
        &files.certificate_pem,
        &files.private_key_pem,
        &[],
        message,
    )
}

/// `openssl cms -verify` to the root in `root_pem`; the signed content.
pub fn openssl_verify(root_pem: &Path, message: &[u8], dir: &Path) -> Vec<u8> {
    testkit::openssl::cms_verify(dir, root_pem, message)
}

/// `gpg --decrypt` with the keys in `home`.
pub fn gpg_decrypt(home: &tempfile::TempDir, message: &[u8]) -> Vec<u8> {
    let homedir = home.path().to_str().unwrap();
    run(
        "gpg",
        &["--homedir", homedir, "--batch", "--decrypt"],
        message,
        home.path(),
    )
}

/// `gpg --armor --encrypt` to `recipient`, whose key is in `home`.
pub fn gpg_encrypt(home: &tempfile::TempDir, recipient: &str, data: &[u8]) -> Vec<u8> {
    let homedir = home.path().to_str().unwrap();
    run(
        "gpg",
        &[
            "--homedir",
            homedir,
            "--batch",
            "--armor",
            "--trust-model",
            "always",
            "--encrypt",
            "-r",
            recipient,
        ],
        data,
        home.path(),
    )
}

/// The statuses (`good`, `revoked`, `unknown`) and details of the audit
/// record's revocation notes, recipients' and signers' alike.
pub fn audit_notes(outcome: &gateway_facade::Outcome) -> Vec<(String, String)> {
    use gateway_facade::audit::{RevocationNote, RevocationStatus};
    outcome
        .audit
        .revocation
        .iter()
        .flatten()
        .map(|note| match note {
            RevocationNote::Recipient { status, detail, .. }
            | RevocationNote::Signer { status, detail, .. } => {
                let status = match status {
                    RevocationStatus::Good => "good",
                    RevocationStatus::Revoked => "revoked",
                    RevocationStatus::Unknown => "unknown",
                };
                (status.to_owned(), detail.clone())
            }
        })
        .collect()
}

/// Asserts the one disposition delivers S/MIME and not the clear text
/// `Streng geheimer Inhalt`.
pub fn assert_encrypted(outcome: &gateway_facade::Outcome) {
    assert_eq!(outcome.dispositions.len(), 1, "{outcome:?}");
    let sent = delivered(&outcome.dispositions[0]);
    let text = String::from_utf8_lossy(&sent);
    assert!(
        !text.contains("Streng geheimer Inhalt"),
        "clear text: {text}"
    );
    assert!(text.contains("application/pkcs7-mime"), "{text}");
}
