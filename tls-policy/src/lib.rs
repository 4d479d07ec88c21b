//! Verdicts on receiving SMTP servers against the BSI technical guidelines.
//!
//! `tls-policy` answers one question before mail leaves over SMTP: does the
//! receiving server meet the transport profile the policy asks for? It will
//! provide:
//!
//! - profiles as data (`bsi-tr-03108` after BSI TR-03108 v2.0 with the
//!   cryptography of TR-02102-2 and TR-03116-4, `opportunistic`, custom TOML),
//! - an active STARTTLS probe that records an observation, and a verdict that
//!   is a pure function of observation and profile,
//! - DANE ([RFC 7672](https://www.rfc-editor.org/rfc/rfc7672)), MTA-STS
//!   ([RFC 8461](https://www.rfc-editor.org/rfc/rfc8461)) and TLS-RPT
//!   ([RFC 8460](https://www.rfc-editor.org/rfc/rfc8460)),
//! - the judged connection itself, so mail travels over exactly what was checked.
//!
//! # Status
//!
//! The crate is empty: its API lands with the tls-policy issue. It knows
//! nothing about mail content and depends on no other mailgate crate.
#![forbid(unsafe_code)]
