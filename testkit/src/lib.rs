//! Certificates and keys for mailgate's tests, generated in code.
//!
//! `testkit` is a development-only crate. It builds a small X.509 PKI (a root
//! CA, an intermediate CA, and a look-alike pair with the same names but other
//! keys), S/MIME end entities for any address in good and deliberately broken
//! variants, TLS server certificates, and OpenPGP keys. Everything can be
//! written to a directory as PEM, DER or ASCII armor, so tests can hand the same
//! material to real peers (`openssl`, `gpg`, `gpgsm`) and to our own code.
//!
//! X.509 material is deterministic: keys are derived from labels and the
//! validity periods are fixed dates, so the same call gives the same bytes on
//! every machine. It is also cached per process, since RSA key generation costs
//! time.
//!
//! ```
//! use testkit::{KeyKind, Variant, pki};
//!
//! let dir = tempfile::tempdir()?;
//! let bob = pki().smime_variant("bob@example.org", KeyKind::Rsa2048, Variant::Expired);
//! let files = bob.write_to(dir.path(), "bob")?;
//! assert!(files.certificate_pem.exists());
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! | variant | what is wrong |
//! |---|---|
//! | [`Variant::Good`] | nothing |
//! | [`Variant::Expired`] | valid during 2024 only |
//! | [`Variant::NotYetValid`] | valid from 2090 |
//! | [`Variant::WrongEku`] | serverAuth instead of emailProtection |
//! | [`Variant::LookAlike`] | same names, chains to a different root |
//!
//! # Real peers
//!
//! - [`openssl`]: `openssl cms` signing, verifying and decrypting with the
//!   files testkit writes; [`OpensslCa`] runs OpenSSL as a testkit CA (CRLs,
//!   an OCSP responder).
//! - [`gnupg::GpgHome`]: a throw-away `gpg` home; [`GpgsmHome`] the same for
//!   `gpgsm`, knowing the testkit CAs.
//! - [`run_peer`], [`run_peer_with_input`], [`peer_output`]: any other
//!   program, in a directory, with its input fed from a thread.
//! - [`smtp`]: SMTP clients and next hops, hostile and lenient.
//! - [`gateway_dir`]: a gateway configuration directory over this PKI.
//!
//! # Features
//!
//! - `openpgp` (default): OpenPGP keys through Sequoia ([`openpgp_key`]). Like
//!   any Sequoia-based library, testkit selects no Sequoia crypto backend; the
//!   crate whose tests use it does, in its dev-dependencies.
#![forbid(unsafe_code)]

pub mod gateway_dir;
pub mod gnupg;
mod http_server;
mod key;
pub mod nsd;
#[cfg(feature = "openpgp")]
mod openpgp;
pub mod openssl;
mod openssl_ca;
mod peer;
mod pki;
pub mod smtp;
pub mod softhsm;
mod x509;

pub use http_server::HttpServer;
pub use key::KeyKind;
#[cfg(feature = "openpgp")]
pub use openpgp::{PgpFiles, PgpKey, PgpSuite, PgpVersion, openpgp_key};
pub use openssl_ca::{OcspResponder, OpensslCa};
pub use peer::{GpgsmHome, PortServer, path_str, peer_output, run_peer, run_peer_with_input};
pub use pki::{Authority, Identity, IdentityFiles, Pki, Variant, pki};
