//! Runnable integrations of mailgate, for integrators to copy.
//!
//! The examples arrive with the facade they demonstrate: a CRM-style
//! application sending through the `gateway-facade` API in-process, the C ABI
//! example, and Postfix milter and relay set-ups. This package holds them so
//! they are built and run in CI like any other code.
#![forbid(unsafe_code)]
