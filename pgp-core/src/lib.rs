//! OpenPGP for mail, on [Sequoia](https://sequoia-pgp.org/).
//!
//! `pgp-core` is the OpenPGP engine of mailgate. Sequoia builds and parses
//! OpenPGP messages; this crate adds what mail needs on top of it:
//!
//! - the PGP/MIME layer of [RFC 3156](https://www.rfc-editor.org/rfc/rfc3156)
//!   (`multipart/signed`, `multipart/encrypted`) and inline OpenPGP blocks:
//!   [`Signer`], [`Verifier`], [`Encryptor`], [`Decryptor`];
//! - selection of a usable certificate for an e-mail address
//!   ([`select_certificate`]), with the reasons other keys are unusable;
//! - discovery and harvesting: Web Key Directory ([`WkdUrls`],
//!   [`wkd_lookup`] with [`HttpsFetcher`] over rustls), [`AutocryptHeader`]
//!   and [`harvest_certificates`] (attached keys) for the pending list.
//!
//! The MIME layer (byte-exact entities, canonical form) is the shared
//! [`mail_message`] crate.
//!
//! Following Sequoia's rule for libraries, this crate selects no Sequoia
//! crypto backend: the final binary enables one `sequoia-openpgp` feature
//! (`crypto-rust` builds everywhere; `crypto-nettle` is the production
//! choice).
//!
//! ```
//! # let alice = testkit::openpgp_key("Alice <alice@example.org>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
//! # let bob = testkit::openpgp_key("Bob <bob@example.net>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
//! use pgp_core::{Decryptor, Encryptor, Signer, Verdict, Verifier, parse_certificates};
//!
//! let message = b"From: Alice <alice@example.org>\r\nTo: bob@example.net\r\n\r\nHello Bob\r\n";
//! let bob_public = parse_certificates(&bob.public_armored())?;
//! let encrypted = Encryptor::new(bob_public)
//!     .with_signer(Signer::new(alice.cert(), None)?)
//!     .encrypt_message(message)?;
//!
//! let decryptor = Decryptor::new(parse_certificates(&bob.secret_armored())?)
//!     .with_verifier(Verifier::new(parse_certificates(&alice.public_armored())?));
//! let decrypted = decryptor.decrypt_message(&encrypted)?;
//! assert!(decrypted.message().ends_with(b"Hello Bob\r\n"));
//! assert_eq!(decrypted.verification().verdict(), Verdict::SignedByFrom);
//! # Ok::<(), pgp_core::Error>(())
//! ```
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
