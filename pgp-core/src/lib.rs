#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod armor;
mod autocrypt;
mod constant_time_rsa;
mod decrypt_stream;
mod decryption;
mod encryption;
mod error;
mod framing;
mod guard;
mod harvest;
mod inline;
mod keys;
mod pgp_mime;
mod selection;
mod sign_stream;
mod signing;
mod verification;
mod verify_stream;
mod wkd;
mod wkd_fetch;

pub use autocrypt::{AutocryptHeader, PreferEncrypt};
pub use constant_time_rsa::SecretKeyBackend;
pub use decrypt_stream::SpooledDecryption;
pub use decryption::{
    DEFAULT_MAX_IN_MEMORY, DEFAULT_MAX_PLAINTEXT, Decrypted, Decryptor, MAX_COMPRESSION_LAYERS,
    Protection,
};
pub use encryption::Encryptor;
pub use error::Error;
pub use harvest::{HarvestedCertificate, Source, harvest_certificates};
pub use keys::{
    armored_certificate, armored_secret_key, binary_certificate, binary_secret_key,
    parse_certificates, protect_secret_key,
};
pub use selection::{Rejection, Selection, Unusable, select_certificate};
pub use sign_stream::MAX_REENCODE_IN_MEMORY;
pub use signing::{Digest, Signer};
pub use verification::{
    Coverage, DEFAULT_DATE_TOLERANCE, Finding, Signature, SignatureStatus, Verdict, Verification,
    Verifier,
};
pub use verify_stream::{MAX_SIGNATURE_PART, SpooledVerification};
pub use wkd::{WkdFetcher, WkdUrls, lookup as wkd_lookup};
pub use wkd_fetch::{HttpsFetcher, MAX_WKD_RESPONSE};

/// rustls, for building an [`HttpsFetcher`]'s roots or configuration.
pub use rustls;

/// The Sequoia crate this one is built on, for callers that need its types
/// ([`openpgp::Cert`], [`openpgp::crypto::Password`]).
pub use sequoia_openpgp as openpgp;
pub use sequoia_openpgp::Cert;
pub use sequoia_openpgp::crypto::Password;
