//! S/MIME 4.0 for whole messages, on the RustCrypto stack.
//!
//! `smime-core` is the S/MIME engine of mailgate: it signs, verifies, encrypts
//! and decrypts RFC 5322 messages following
//! [RFC 8551](https://www.rfc-editor.org/rfc/rfc8551) (S/MIME 4.0 message
//! specification) and [RFC 8550](https://www.rfc-editor.org/rfc/rfc8550)
//! (certificate handling), with CMS from
//! [RFC 5652](https://www.rfc-editor.org/rfc/rfc5652).
//!
//! # What is here
//!
//! - [`Signer`]: detached and opaque S/MIME signatures (RSA PKCS#1 v1.5,
//!   RSA-PSS, ECDSA P-256/P-384; SHA-256/384/512) over the canonical, 7-bit
//!   safe body entity; outer header fields stay outside.
//! - [`Verifier`]: signatures in both forms, DER or BER, with path
//!   validation, key usage checks, weak-algorithm refusal and the binding of
//!   the From address; [`Verification::verdict`] never calls a partially
//!   signed or foreign-signed message signed.
//! - [`revocation`]: CRL and OCSP checks of each signer's path, in
//!   `require`, `prefer` or `off` mode ([`Verifier::with_revocation`]).
//! - [`Encryptor`]: AuthEnvelopedData (AES-GCM) and EnvelopedData (AES-CBC)
//!   to RSA (PKCS#1 v1.5, OAEP) and EC (RFC 5753 ECDH) recipients.
//! - [`decrypt_message`] and [`decrypt_cms`]: all of that back, with one
//!   uniform error for every decryption failure.
//! - [`Certificate`], [`PrivateKey`], [`EmailAddress`]: keys, certificates and
//!   addresses as they come from users and CAs.
//! - [`ExternalKey`]: private keys that stay in a hardware security module
//!   or another key store, for signing and decryption.
//! - [`mime`]: the MIME layer (the `mail-message` crate).
//!
//! Everything works in memory today; streaming for very large messages
//! follows.
//!
//! # Example
//!
//! ```
//! use smime_core::{Certificate, EmailAddress};
//!
//! # let bundle = testkit::pki().smime("alice@example.org", testkit::KeyKind::Rsa2048).certificate_pem();
//! let alice: EmailAddress = "alice@example.org".parse()?;
//! let certificates = Certificate::load(bundle.as_bytes())?;
//! assert!(certificates.iter().any(|c| c.certifies(&alice)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
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
