#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod algorithm_name;
pub mod ber;
mod ber_stream;
mod certificate;
mod decrypt_stream;
mod digest;
mod encryption;
mod envelope;
mod error;
mod external_key;
mod gcm_stream;
mod key_agreement;
mod message;
mod pem;
mod pkcs12;
mod private_key;
pub mod revocation;
mod rsa_backend;
mod sign_stream;
mod signature_algorithm;
mod signing;
mod verification;
mod verify_stream;

pub use algorithm_name::AlgorithmName;
pub use certificate::{Certificate, Curve, PublicKeyAlgorithm};
pub use decrypt_stream::{StreamDecryption, decrypt_message_stream};
pub use digest::{DigestAlgorithm, Hasher, UnknownDigest};
pub use encryption::{Encryptor, RsaKeyTransport};
pub use envelope::{ContentEncryption, Decrypted, DecryptionIdentity, UnknownCipher, decrypt_cms};
pub use error::Error;
pub use external_key::{ExternalKey, KeyOperationError, KeyTransport};
/// The MIME layer (the `mail-message` crate), re-exported for callers that
/// take messages apart themselves.
pub use mail_message as mime;
pub use mail_message::{AddressError, EmailAddress};
pub use message::{DecryptedMessage, decrypt_message};
pub use pem::PemError;
pub use pkcs12::Pkcs12;
pub use private_key::{PBKDF2_ITERATIONS, PrivateKey};
pub use revocation::{Crl, Revocation, RevocationMode};
pub use signature_algorithm::SignatureScheme;
pub use signing::{SignatureForm, Signer};
pub use verification::{
    Coverage, DEFAULT_DATE_TOLERANCE, Finding, Signature, SignatureStatus, SignedContent, Verdict,
    Verification, Verifier,
};
pub use verify_stream::{MAX_IN_MEMORY, MAX_SIGNATURE_PART, SpooledVerification};

// The ASN.1 crates our public types come from, so users name the same versions.
pub use const_oid;
pub use der;
pub use x509_cert;
/// Secrets (decrypted keys) are handed out as `zeroize::Zeroizing`.
pub use zeroize;
