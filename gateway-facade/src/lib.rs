//! The embeddable mail gateway.
//!
//! `gateway-facade` is the thin crate integrators link: it turns an envelope
//! and a message into one disposition per group of recipients (deliver with a
//! transport requirement, reject with a notification, defer, quarantine) by
//! gluing the rule engine, S/MIME, OpenPGP and the TLS verdicts together, with
//! certificate and key stores and an audit record.
//!
//! Its one promise above all: mail the policy says to protect is never
//! delivered in clear. When protection cannot be given, the result is a
//! rejection (permanent) or a deferral (transient).
//!
//! # Status
//!
//! The crate is empty: its API lands with the gateway-facade issue, on top of
//! the real APIs of the crates below it.
#![forbid(unsafe_code)]
