//! Signing: PGP/MIME `multipart/signed`
//! ([RFC 3156 section 5](https://www.rfc-editor.org/rfc/rfc3156#section-5))
//! and inline cleartext signatures.
//!
//! The signed part is the message's inner entity (its `Content-*` fields and
//! body) in canonical CRLF form, made safe for 7-bit transport first so that
//! no relay can change the signed bytes. `From`, `To`, `Subject` and the
//! other message fields stay outside, as RFC 3156 prescribes.

use std::io::Read;
use std::time::SystemTime;

use sequoia_openpgp::Cert;
use sequoia_openpgp::armor;
use sequoia_openpgp::crypto::Password;
use sequoia_openpgp::packet::Packet;
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::policy::StandardPolicy;
use sequoia_openpgp::serialize::stream::{self, Armorer, Message};
use sequoia_openpgp::types::HashAlgorithm;

use mail_message::Envelope;

use crate::constant_time_rsa::{SecretKeyBackend, SigningKey};
use crate::error::Error;
use crate::keys;
use crate::pgp_mime;

/// The digest a signature uses; named in `micalg` as `pgp-sha256` or
/// `pgp-sha512` (RFC 3156 section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Digest {
    /// SHA-256.
    #[default]
    Sha256,
    /// SHA-512.
    Sha512,
}

impl Digest {
    fn algorithm(self) -> HashAlgorithm {
        match self {
            Digest::Sha256 => HashAlgorithm::SHA256,
            Digest::Sha512 => HashAlgorithm::SHA512,
        }
    }
}

/// The `micalg` value for a hash algorithm (RFC 3156 section 5: `pgp-`
/// and the lower-case name from the OpenPGP registry).
pub(crate) fn micalg(hash: HashAlgorithm) -> String {
    match hash {
        HashAlgorithm::SHA1 => "pgp-sha1".to_owned(),
        HashAlgorithm::SHA224 => "pgp-sha224".to_owned(),
        HashAlgorithm::SHA256 => "pgp-sha256".to_owned(),
        HashAlgorithm::SHA384 => "pgp-sha384".to_owned(),
        HashAlgorithm::SHA512 => "pgp-sha512".to_owned(),
        HashAlgorithm::SHA3_256 => "pgp-sha3-256".to_owned(),
        HashAlgorithm::SHA3_512 => "pgp-sha3-512".to_owned(),
        other => format!("pgp-{}", other.to_string().to_ascii_lowercase()),
    }
}

/// Signs messages with one OpenPGP key.
///
/// ```
/// # let key = testkit::openpgp_key("Alice <alice@example.org>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
/// use pgp_core::{Signer, Verdict, Verifier};
///
/// let signer = Signer::new(key.cert(), None)?;
/// let signed = signer.sign_message(b"From: Alice <alice@example.org>\r\nSubject: hi\r\n\r\nHello\r\n")?;
/// assert!(String::from_utf8_lossy(&signed).contains("micalg=pgp-sha256"));
///
/// let verifier = Verifier::new([key.cert().clone().strip_secret_key_material()]);
/// assert_eq!(verifier.verify_message(&signed)?.verdict(), Verdict::SignedByFrom);
/// # Ok::<(), pgp_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Signer {
    cert: Cert,
    key: SigningKey,
    digest: Digest,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("cert", &self.cert.fingerprint().to_hex())
            .field("digest", &self.digest)
            .field("secret_key_backend", &self.key.backend())
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer with the first signing-capable secret key of `key` that is
    /// valid now under Sequoia's standard policy (not revoked, not expired,
    /// no weak algorithm), unlocked with `passphrase` when it is protected.
    pub fn new(key: &Cert, passphrase: Option<&Password>) -> Result<Signer, Error> {
        Signer::new_at(key, passphrase, SystemTime::now())
    }

    /// Like [`Signer::new`], with the key's validity judged at `time`.
    pub fn new_at(
        key: &Cert,
        passphrase: Option<&Password>,
        time: SystemTime,
    ) -> Result<Signer, Error> {
        let policy = StandardPolicy::new();
        let fingerprint = key.fingerprint().to_hex();
        let no_key = |reason: String| Error::NoSigningKey {
            fingerprint: fingerprint.clone(),
            reason,
        };
        let valid = key
            .with_policy(&policy, time)
            .map_err(|e| no_key(format!("{e:#}")))?;
        if let sequoia_openpgp::types::RevocationStatus::Revoked(_) = valid.revocation_status() {
            return Err(no_key("the certificate is revoked".to_owned()));
        }
        valid
            .alive()
            .map_err(|e| no_key(format!("the certificate is not alive: {e:#}")))?;
        let candidate = valid
            .keys()
            .for_signing()
            .supported()
            .alive()
            .revoked(false)
            .secret()
            .next()
            .ok_or_else(|| {
                no_key("no valid, signing-capable key with secret material".to_owned())
            })?;
        let signing_key =
            keys::signing_key(candidate.key().clone().role_into_unspecified(), passphrase)?;
        Ok(Signer {
            cert: key.clone().strip_secret_key_material(),
            key: signing_key,
            digest: Digest::default(),
        })
    }

    /// The signer for `message` among `keys` (a key file may hold several):
    /// the key whose valid user ID carries the message's single From
    /// address, or, when none does, the first key that can sign.
    ///
    /// When the keys that carry the From address cannot sign (protected and
    /// the passphrase is wrong, revoked, expired), that is an error, not a
    /// reason to sign with a key for another address.
    ///
    /// ```
    /// # let alice = testkit::openpgp_key("Alice <alice@example.org>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
    /// # let bob = testkit::openpgp_key("Bob <bob@example.net>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
    /// let keys = [bob.cert().clone(), alice.cert().clone()];
    /// let message = b"From: Alice <alice@example.org>\r\n\r\nHi\r\n";
    /// let signer = pgp_core::Signer::for_message(&keys, message, None)?;
    /// assert_eq!(signer.certificate().fingerprint(), alice.cert().fingerprint());
    /// # Ok::<(), pgp_core::Error>(())
    /// ```
    pub fn for_message(
        keys: &[Cert],
        message: &[u8],
        passphrase: Option<&Password>,
    ) -> Result<Signer, Error> {
        let time = SystemTime::now();
        let policy = StandardPolicy::new();
        let entity = mail_message::Entity::parse(message)?;
        let from = crate::verification::addresses(&entity, "from");
        let binds_from = |key: &&Cert| match from.as_slice() {
            [from] => keys::bound_addresses(key, &policy, Some(time))
                .iter()
                .any(|(address, _)| address == from),
            _ => false,
        };
        let candidates: Vec<&Cert> = if keys.iter().any(|key| binds_from(&key)) {
            keys.iter().filter(binds_from).collect()
        } else {
            keys.iter().collect()
        };
        let mut first_error = None;
        for key in candidates {
            match Signer::new_at(key, passphrase, time) {
                Ok(signer) => return Ok(signer),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        Err(first_error.unwrap_or(Error::NoCertificate))
    }

    /// Uses `digest` instead of SHA-256.
    pub fn with_digest(mut self, digest: Digest) -> Signer {
        self.digest = digest;
        self
    }

    /// The signer's certificate (public parts only).
    pub fn certificate(&self) -> &Cert {
        &self.cert
    }

    /// The code that makes this signer's signatures:
    /// [`SecretKeyBackend::ConstantTimeRsa`] for an RSA key (feature
    /// `constant-time-rsa`, on by default), [`SecretKeyBackend::Sequoia`]
    /// for EdDSA and ECDSA keys.
    ///
    /// ```
    /// # let key = testkit::openpgp_key("Alice <alice@example.org>", testkit::PgpSuite::Rsa3072, testkit::PgpVersion::V4);
    /// use pgp_core::SecretKeyBackend;
    ///
    /// let signer = pgp_core::Signer::new(key.cert(), None)?;
    /// let expected = if cfg!(feature = "constant-time-rsa") {
    ///     SecretKeyBackend::ConstantTimeRsa
    /// } else {
    ///     SecretKeyBackend::Sequoia
    /// };
    /// assert_eq!(signer.secret_key_backend(), expected);
    /// # Ok::<(), pgp_core::Error>(())
    /// ```
    pub fn secret_key_backend(&self) -> SecretKeyBackend {
        self.key.backend()
    }

    /// The signing key (for signing inside an encrypted message too).
    pub(crate) fn signing_key(&self) -> SigningKey {
        self.key.clone()
    }

    /// The configured hash algorithm.
    pub(crate) fn hash_algorithm(&self) -> HashAlgorithm {
        self.digest.algorithm()
    }

    /// An ASCII-armored detached signature over `data` (binary signature
    /// type, as GnuPG makes for PGP/MIME), and the `micalg` that names its
    /// hash.
    pub fn sign_detached(&self, data: &[u8]) -> Result<(Vec<u8>, String), Error> {
        self.sign_detached_reader(data)
    }

    /// Like [`Signer::sign_detached`], reading the data from `data` (for
    /// data too large to hold).
    pub fn sign_detached_reader(&self, mut data: impl Read) -> Result<(Vec<u8>, String), Error> {
        let mut sink = Vec::new();
        let mut signer = self.detached_signer(&mut sink)?;
        std::io::copy(&mut data, &mut signer)?;
        signer.finalize().map_err(Error::sequoia)?;
        self.finish_detached(sink)
    }

    /// A writer that hashes what is written to it; finalizing it puts the
    /// armored detached signature into `sink` (see
    /// [`Signer::finish_detached`]).
    pub(crate) fn detached_signer<'s>(&self, sink: &'s mut Vec<u8>) -> Result<Message<'s>, Error> {
        let message = Message::new(sink);
        let message = Armorer::new(message)
            .kind(armor::Kind::Signature)
            .build()
            .map_err(Error::openpgp)?;
        stream::Signer::new(message, self.signing_key())
            .map_err(Error::openpgp)?
            .hash_algo(self.hash_algorithm())
            .map_err(Error::openpgp)?
            .detached()
            .build()
            .map_err(Error::openpgp)
    }

    /// The signature a finalized [`Signer::detached_signer`] wrote, and the
    /// `micalg` that names the hash that was used (not the one asked for).
    pub(crate) fn finish_detached(&self, sink: Vec<u8>) -> Result<(Vec<u8>, String), Error> {
        let packet = Packet::from_bytes(&sink).map_err(Error::openpgp)?;
        let hash = match packet {
            Packet::Signature(signature) => signature.hash_algo(),
            _ => self.hash_algorithm(),
        };
        Ok((sink, micalg(hash)))
    }

    /// Signs a message (RFC 5322 bytes, CRLF or LF) as PGP/MIME
    /// `multipart/signed`: the outer header fields stay as they are, the
    /// inner entity becomes the first part, the detached signature the
    /// second. Line breaks follow the input's style.
    pub fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        let envelope = Envelope::split(message)?;
        let signed = envelope.signable()?;
        crate::sign_stream::check_line_breaks(&signed, envelope.message().line_break())?;
        let (signature, micalg) = self.sign_detached(&signed)?;
        let entity = pgp_mime::multipart_signed(&signed, &signature, &micalg)?;
        Ok(envelope.rebuild(&entity))
    }

    /// A cleartext-signed text (inline OpenPGP, RFC 9580 section 7), for
    /// recipients whose clients do not read PGP/MIME.
    pub fn sign_cleartext(&self, text: &[u8]) -> Result<Vec<u8>, Error> {
        let mut sink = Vec::new();
        {
            let message = Message::new(&mut sink);
            let mut signer = stream::Signer::new(message, self.signing_key())
                .map_err(Error::openpgp)?
                .hash_algo(self.hash_algorithm())
                .map_err(Error::openpgp)?
                .cleartext()
                .build()
                .map_err(Error::openpgp)?;
            std::io::Write::write_all(&mut signer, text)?;
            signer.finalize().map_err(Error::sequoia)?;
        }
        Ok(sink)
    }
}
