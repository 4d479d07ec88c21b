//! OpenPGP for mail, on [Sequoia](https://sequoia-pgp.org/).
//!
//! `pgp-core` is the OpenPGP engine of mailgate. Sequoia builds and parses
//! OpenPGP messages; this crate adds what mail needs on top of it:
//!
//! - the PGP/MIME layer of [RFC 3156](https://www.rfc-editor.org/rfc/rfc3156)
//!   (`multipart/signed`, `multipart/encrypted`) and inline OpenPGP blocks,
//! - selection of a usable certificate for an e-mail address,
//! - key discovery (Web Key Directory) and harvesting (Autocrypt, attached keys).
//!
//! # Status
//!
//! The crate is empty: its API lands with the pgp-core issue. It depends on no
//! other mailgate crate and, following Sequoia's rule for libraries, will never
//! select a Sequoia crypto backend; the final binary does.
#![forbid(unsafe_code)]
