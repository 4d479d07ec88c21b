//! The mailgate policy language.
//!
//! `rule-engine` parses a hierarchical policy (TOML), validates it with file,
//! line and column for every finding, compiles it once, and evaluates it per
//! recipient of a mail into actions (sign, encrypt, require TLS, fall back to a
//! password-protected delivery, block, notify, quarantine, archive) with a
//! trace that explains which rule decided and why.
//!
//! # Status
//!
//! The crate is empty: its API lands with the rule-engine issue. It knows no
//! cryptography; facts that cost something (key lookups, TLS probes) come from
//! the host through a trait, computed only when a rule asks for them.
#![forbid(unsafe_code)]
