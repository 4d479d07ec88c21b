//! Shared test helpers: keys, messages, and a GnuPG home per test.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
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

/// A throw-away GnuPG home with loopback pinentry.
pub struct Gpg {
    pub home: tempfile::TempDir,
}

impl Gpg {
    pub fn new() -> Gpg {
        let home = tempfile::tempdir().unwrap();
        std::fs::write(
            home.path().join("gpg-agent.conf"),
            "allow-loopback-pinentry\n",
        )
        .unwrap();
        Gpg { home }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    /// Imports a key (secret or public) (every gpg call runs with
    /// `--trust-model always`).
    pub fn import(&self, key: &PgpKey, secret: bool) {
        let file = self.path(&format!("{}.asc", key.fingerprint_hex()));
        let bytes = if secret {
            key.secret_armored()
        } else {
            key.public_armored()
        };
        std::fs::write(&file, bytes).unwrap();
        self.ok(&["--import", file.to_str().unwrap()], b"");
    }

    pub fn run(&self, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args([
                "--batch",
                "--yes",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--trust-model",
                "always",
            ])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gpg is installed (apt-get install gnupg)");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    pub fn ok(&self, args: &[&str], stdin: &[u8]) -> Output {
        let output = self.run(args, stdin);
        assert!(
            output.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// An armored detached signature by gpg over `content`, with `options`
    /// (`--digest-algo SHA1`, `--textmode`, ...).
    pub fn detach_sign(&self, content: &[u8], options: &[&str]) -> Vec<u8> {
        let file = self.write("content", content);
        let mut args = options.to_vec();
        args.extend(["--armor", "--detach-sign", "--output", "-", s(&file)]);
        self.ok(&args, b"").stdout
    }

    /// Imports a certificate (with its secret key material when
    /// `secret`) that testkit did not make.
    pub fn import_cert(&self, cert: &Cert, secret: bool) {
        let bytes = if secret {
            pgp_core::armored_secret_key(cert).unwrap()
        } else {
            pgp_core::armored_certificate(cert).unwrap()
        };
        let file = self.write(&format!("{}.asc", cert.fingerprint().to_hex()), &bytes);
        self.ok(&["--import", s(&file)], b"");
    }

    /// `gpg --verify` of a PGP/MIME `multipart/signed` message's two parts
    /// (the signed entity, canonical, and the detached signature); gpg's
    /// status lines.
    pub fn verify_pgp_mime(&self, parts: &[Vec<u8>]) -> String {
        let content = self.write("content", &mail_message::canonicalize(&parts[0]));
        let signature = mail_message::Entity::parse(&parts[1])
            .unwrap()
            .body()
            .to_vec();
        let signature = self.write("content.asc", &signature);
        let output = self.ok(
            &["--status-fd", "1", "--verify", s(&signature), s(&content)],
            b"",
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }
}

pub fn s(path: &Path) -> &str {
    path.to_str().unwrap()
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
