//! OpenPGP keys for tests, made with Sequoia.
//!
//! OpenPGP key generation draws on the crypto backend's random number
//! generator, so these keys are not deterministic; they are cached per process
//! instead. The creation time is fixed (2025-01-01), so signatures made "as of"
//! any later date verify, and the keys do not expire.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, UNIX_EPOCH};

use sequoia_openpgp::Cert;
use sequoia_openpgp::cert::{CertBuilder, CipherSuite};
use sequoia_openpgp::serialize::SerializeInto;

/// The algorithms of a generated OpenPGP key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PgpSuite {
    /// RSA-3072 primary key with RSA-3072 signing and encryption subkeys.
    Rsa3072,
    /// Ed25519 primary and signing keys, X25519 (Cv25519) encryption subkey.
    Cv25519,
    /// ECDSA / ECDH on NIST P-256.
    P256,
}

/// The OpenPGP version of a generated key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PgpVersion {
    /// Version 4 keys (RFC 4880), what GnuPG 2.2 understands.
    V4,
    /// Version 6 keys (RFC 9580).
    V6,
}

/// A generated OpenPGP key: a certificate with its secret key material.
pub struct PgpKey {
    cert: Cert,
}

impl PgpKey {
    /// The certificate, including the secret keys.
    pub fn cert(&self) -> &Cert {
        &self.cert
    }

    /// The primary key's fingerprint as upper-case hex, as `gpg --with-colons` prints it.
    pub fn fingerprint_hex(&self) -> String {
        self.cert.fingerprint().to_hex()
    }

    /// The public certificate, ASCII-armored.
    pub fn public_armored(&self) -> Vec<u8> {
        #[allow(clippy::expect_used)] // serialising an in-memory certificate cannot fail
        self.cert
            .armored()
            .to_vec()
            .expect("armoring a certificate")
    }

    /// The transferable secret key, ASCII-armored, unprotected.
    pub fn secret_armored(&self) -> Vec<u8> {
        #[allow(clippy::expect_used)] // serialising an in-memory key cannot fail
        self.cert
            .as_tsk()
            .armored()
            .to_vec()
            .expect("armoring a secret key")
    }

    /// Writes `STEM.pub.asc` and `STEM.sec.asc` into `dir`.
    pub fn write_to(&self, dir: &Path, stem: &str) -> io::Result<PgpFiles> {
        let files = PgpFiles {
            public: dir.join(format!("{stem}.pub.asc")),
            secret: dir.join(format!("{stem}.sec.asc")),
        };
        fs::write(&files.public, self.public_armored())?;
        fs::write(&files.secret, self.secret_armored())?;
        Ok(files)
    }
}

/// Where [`PgpKey::write_to`] put each file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PgpFiles {
    /// The armored public certificate.
    pub public: PathBuf,
    /// The armored secret key.
    pub secret: PathBuf,
}

/// An OpenPGP key with the given user ID, generated once per process and
/// cached.
///
/// Needs a Sequoia crypto backend in the final build (every mailgate crate's
/// dev-dependencies select `crypto-rust`).
///
/// ```
/// use testkit::{PgpSuite, PgpVersion, openpgp_key};
///
/// let key = openpgp_key("Alice <alice@example.org>", PgpSuite::Cv25519, PgpVersion::V4);
/// assert!(key.cert().is_tsk());
/// ```
pub fn openpgp_key(user_id: &str, suite: PgpSuite, version: PgpVersion) -> Arc<PgpKey> {
    type Cache = Mutex<HashMap<(String, PgpSuite, PgpVersion), Arc<PgpKey>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Cache::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let key = cache
        .entry((user_id.to_owned(), suite, version))
        .or_insert_with(|| Arc::new(generate(user_id, suite, version)));
    Arc::clone(key)
}

fn generate(user_id: &str, suite: PgpSuite, version: PgpVersion) -> PgpKey {
    let cipher_suite = match suite {
        PgpSuite::Rsa3072 => CipherSuite::RSA3k,
        PgpSuite::Cv25519 => CipherSuite::Cv25519,
        PgpSuite::P256 => CipherSuite::P256,
    };
    let profile = match version {
        PgpVersion::V4 => sequoia_openpgp::Profile::RFC4880,
        PgpVersion::V6 => sequoia_openpgp::Profile::RFC9580,
    };
    // 2025-01-01T00:00:00Z
    let creation_time = UNIX_EPOCH + Duration::from_secs(1_735_689_600);
    let builder = CertBuilder::general_purpose([user_id])
        .set_cipher_suite(cipher_suite)
        .set_creation_time(creation_time)
        .set_validity_period(None)
        .set_profile(profile);
    #[allow(clippy::expect_used)] // setting a built-in profile cannot fail
    let builder = builder.expect("OpenPGP profile");
    #[allow(clippy::expect_used)] // generation with a supported suite cannot fail
    let (cert, _revocation) = builder.generate().expect("OpenPGP key generation");
    PgpKey { cert }
}
