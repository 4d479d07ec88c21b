//! Deterministic key pairs for test certificates.
//!
//! Every key is derived from a label, so the same label gives the same key in
//! every run and on every machine: failing tests reproduce exactly, and
//! certificates built from these keys are byte-for-byte stable.

use der::Encode;
use pkcs8::EncodePrivateKey;
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256, Sha384};
use spki::{EncodePublicKey, SubjectPublicKeyInfoOwned};

/// The public-key algorithm and size of a generated key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum KeyKind {
    /// RSA with a 2048-bit modulus (the smallest size S/MIME peers still accept).
    Rsa2048,
    /// RSA with a 3072-bit modulus (the BSI minimum from 2024 on).
    Rsa3072,
    /// ECDSA / ECDH on NIST P-256.
    P256,
    /// ECDSA / ECDH on NIST P-384.
    P384,
}

impl KeyKind {
    /// Every kind, for tests that cover all of them.
    pub const ALL: [KeyKind; 4] = [
        KeyKind::Rsa2048,
        KeyKind::Rsa3072,
        KeyKind::P256,
        KeyKind::P384,
    ];

    /// A short lower-case name, used in labels and file names (`rsa2048`, `p256`).
    pub fn name(self) -> &'static str {
        match self {
            KeyKind::Rsa2048 => "rsa2048",
            KeyKind::Rsa3072 => "rsa3072",
            KeyKind::P256 => "p256",
            KeyKind::P384 => "p384",
        }
    }

    /// Whether this is an RSA key (key transport) rather than an EC key (key agreement).
    pub fn is_rsa(self) -> bool {
        matches!(self, KeyKind::Rsa2048 | KeyKind::Rsa3072)
    }
}

/// A private key together with what the certificate builder needs from it.
#[derive(Clone)]
pub(crate) enum PrivateKey {
    Rsa(Box<rsa::RsaPrivateKey>),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl PrivateKey {
    /// Derives the key for `label` deterministically.
    pub(crate) fn derive(kind: KeyKind, label: &str) -> PrivateKey {
        let seed: [u8; 32] =
            Sha256::digest(format!("mailgate-testkit/{}/{label}", kind.name())).into();
        match kind {
            KeyKind::Rsa2048 | KeyKind::Rsa3072 => {
                let bits = if kind == KeyKind::Rsa2048 { 2048 } else { 3072 };
                let mut rng = ChaCha20Rng::from_seed(seed);
                #[allow(clippy::expect_used)] // fixed sizes: generation cannot fail
                let key = rsa::RsaPrivateKey::new(&mut rng, bits).expect("RSA key generation");
                PrivateKey::Rsa(Box::new(key))
            }
            // A scalar is valid unless it is zero or at least the group order; for a
            // hash output that is a probability of about 2^-128, so counting up a
            // suffix until it is valid terminates at once.
            KeyKind::P256 => PrivateKey::P256(derive_scalar(seed.as_slice(), |bytes| {
                p256::ecdsa::SigningKey::from_slice(bytes).ok()
            })),
            KeyKind::P384 => {
                let seed: [u8; 48] = Sha384::digest(seed).into();
                PrivateKey::P384(derive_scalar(seed.as_slice(), |bytes| {
                    p384::ecdsa::SigningKey::from_slice(bytes).ok()
                }))
            }
        }
    }

    /// The key as an unencrypted PKCS#8 `PrivateKeyInfo` in DER.
    pub(crate) fn to_pkcs8_der(&self) -> Vec<u8> {
        let document = match self {
            PrivateKey::Rsa(key) => key.to_pkcs8_der(),
            PrivateKey::P256(key) => key.to_pkcs8_der(),
            PrivateKey::P384(key) => key.to_pkcs8_der(),
        };
        #[allow(clippy::expect_used)] // encoding a valid in-memory key cannot fail
        document.expect("PKCS#8 encoding").as_bytes().to_vec()
    }

    /// The public half as a `SubjectPublicKeyInfo`.
    pub(crate) fn public_key_info(&self) -> SubjectPublicKeyInfoOwned {
        let der = match self {
            PrivateKey::Rsa(key) => key.to_public_key().to_public_key_der(),
            PrivateKey::P256(key) => key.verifying_key().to_public_key_der(),
            PrivateKey::P384(key) => key.verifying_key().to_public_key_der(),
        };
        #[allow(clippy::expect_used)] // encoding a valid in-memory key cannot fail
        let der = der.expect("SPKI encoding");
        #[allow(clippy::expect_used)] // we just encoded it
        SubjectPublicKeyInfoOwned::try_from(der.as_bytes()).expect("SPKI decoding")
    }
}

fn derive_scalar<K>(seed: &[u8], mut from_bytes: impl FnMut(&[u8]) -> Option<K>) -> K {
    let mut candidate = seed.to_vec();
    let mut counter = 0u32;
    loop {
        if let Some(key) = from_bytes(&candidate) {
            return key;
        }
        counter += 1;
        let mut hasher = Sha384::new();
        hasher.update(seed);
        hasher.update(counter.to_be_bytes());
        candidate = hasher
            .finalize()
            .get(..seed.len())
            .unwrap_or_default()
            .to_vec();
    }
}

/// The DER of any encodable value; used for values we built ourselves.
pub(crate) fn to_der(value: &impl Encode) -> Vec<u8> {
    #[allow(clippy::expect_used)] // values built by the testkit always encode
    value
        .to_der()
        .expect("DER encoding of a value built by testkit")
}
