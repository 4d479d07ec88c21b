//! S/MIME 4.0 for whole messages, on the RustCrypto stack.
//!
//! `smime-core` is the S/MIME engine of mailgate: it signs, verifies, encrypts
//! and decrypts RFC 5322 messages following
//! [RFC 8551](https://www.rfc-editor.org/rfc/rfc8551) (S/MIME 4.0 message
//! specification) and [RFC 8550](https://www.rfc-editor.org/rfc/rfc8550)
//! (certificate handling), with CMS from
//! [RFC 5652](https://www.rfc-editor.org/rfc/rfc5652).
//!
//! # What is here today
//!
//! - [`Certificate`]: loading PEM bundles and DER certificates as they are
//!   found in the wild, and the facts S/MIME decisions rest on: the certified
//!   mailbox addresses, the key algorithm and size, validity, key usages.
//! - [`EmailAddress`]: bare addresses compared the way S/MIME binds a
//!   certificate to the From address (addresses only, never display names).
//! - [`ber::to_der`]: BER input (indefinite lengths, constructed strings, as
//!   OpenSSL `-stream`, NSS and Outlook produce) re-encoded as the DER our
//!   ASN.1 types decode, without disturbing signed bytes.
//!
//! - [`decrypt_cms`]: opening CMS EnvelopedData (AES-CBC) and
//!   AuthEnvelopedData (AES-GCM, tag checked before any plaintext is
//!   released) for RSA (PKCS#1 v1.5 with implicit rejection, OAEP) and ECDH
//!   P-256/P-384 recipients (RFC 5753, implemented here), from DER or BER,
//!   with one uniform error for every decryption failure.
//!
//! Still to come with the smime-core issue: the MIME layer (whole messages),
//! signing and verification with path validation, encryption, streaming for
//! large messages; see the README.
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

pub mod ber;
mod certificate;
mod digest;
mod encryption;
mod envelope;
mod error;
mod key_agreement;
mod message;
mod pem;
mod private_key;
mod signature_algorithm;
mod signing;
mod verification;

pub use certificate::{Certificate, Curve, PublicKeyAlgorithm};
pub use digest::{DigestAlgorithm, Hasher, UnknownDigest};
pub use encryption::{Encryptor, RsaKeyTransport};
pub use envelope::{ContentEncryption, Decrypted, DecryptionIdentity, UnknownCipher, decrypt_cms};
pub use error::Error;
/// The MIME layer (the `mail-message` crate), re-exported for callers that
/// take messages apart themselves.
pub use mail_message as mime;
pub use mail_message::{AddressError, EmailAddress};
pub use message::{DecryptedMessage, decrypt_message};
pub use pem::PemError;
pub use private_key::PrivateKey;
pub use signature_algorithm::SignatureScheme;
pub use signing::{SignatureForm, Signer};
pub use verification::{
    Coverage, Signature, SignatureStatus, SignedContent, Verdict, Verification, Verifier,
};

// The ASN.1 crates our public types come from, so users name the same versions.
pub use const_oid;
pub use der;
pub use x509_cert;
