//! Message digests for CMS signatures (RFC 5754).

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912::{ID_SHA_256, ID_SHA_384, ID_SHA_512};
use sha2::Digest as _;

/// A digest algorithm for signatures. SHA-1 and MD5 are not offered: they are
/// refused for signatures (RFC 8551 section 2.1).
///
/// ```
/// use smime_core::DigestAlgorithm;
///
/// assert_eq!(DigestAlgorithm::default(), DigestAlgorithm::Sha256);
/// assert_eq!(DigestAlgorithm::Sha512.micalg(), "sha-512");
/// assert_eq!("sha384".parse::<DigestAlgorithm>(), Ok(DigestAlgorithm::Sha384));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DigestAlgorithm {
    /// SHA-256: what every S/MIME client verifies.
    #[default]
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    /// The algorithm's object identifier.
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            DigestAlgorithm::Sha256 => ID_SHA_256,
            DigestAlgorithm::Sha384 => ID_SHA_384,
            DigestAlgorithm::Sha512 => ID_SHA_512,
        }
    }

    /// The algorithm for an object identifier, if it is one we accept.
    pub fn from_oid(oid: ObjectIdentifier) -> Option<DigestAlgorithm> {
        match oid {
            ID_SHA_256 => Some(DigestAlgorithm::Sha256),
            ID_SHA_384 => Some(DigestAlgorithm::Sha384),
            ID_SHA_512 => Some(DigestAlgorithm::Sha512),
            _ => None,
        }
    }

    /// The `micalg` parameter of `multipart/signed` (RFC 8551 section 3.5.3).
    pub fn micalg(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha-256",
            DigestAlgorithm::Sha384 => "sha-384",
            DigestAlgorithm::Sha512 => "sha-512",
        }
    }

    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let mut hasher = self.hasher();
        hasher.update(data);
        hasher.finish()
    }

    /// An incremental hasher, for content that arrives in pieces.
    pub fn hasher(self) -> Hasher {
        Hasher(match self {
            DigestAlgorithm::Sha256 => HasherState::Sha256(sha2::Sha256::new()),
            DigestAlgorithm::Sha384 => HasherState::Sha384(sha2::Sha384::new()),
            DigestAlgorithm::Sha512 => HasherState::Sha512(sha2::Sha512::new()),
        })
    }
}

/// An incremental digest computation ([`DigestAlgorithm::hasher`]).
#[derive(Debug, Clone)]
pub struct Hasher(HasherState);

#[derive(Debug, Clone)]
enum HasherState {
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    /// Adds data.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.0 {
            HasherState::Sha256(h) => h.update(data),
            HasherState::Sha384(h) => h.update(data),
            HasherState::Sha512(h) => h.update(data),
        }
    }

    /// The digest of everything added.
    pub fn finish(self) -> Vec<u8> {
        match self.0 {
            HasherState::Sha256(h) => h.finalize().to_vec(),
            HasherState::Sha384(h) => h.finalize().to_vec(),
            HasherState::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// A hasher takes what is written to it, so `io::copy` and streaming
/// writers can feed it.
impl std::io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The digest names the command line accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown digest `{0}`: expected sha256, sha384 or sha512")]
pub struct UnknownDigest(String);

impl std::str::FromStr for DigestAlgorithm {
    type Err = UnknownDigest;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.to_ascii_lowercase().replace('-', "").as_str() {
            "sha256" => Ok(DigestAlgorithm::Sha256),
            "sha384" => Ok(DigestAlgorithm::Sha384),
            "sha512" => Ok(DigestAlgorithm::Sha512),
            _ => Err(UnknownDigest(name.to_owned())),
        }
    }
}
