#![doc = include_str!("../README.md")]
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
