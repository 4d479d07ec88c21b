//! Mail from anyone through the whole gateway: `Gateway::process` on
//! arbitrary bytes, inbound and outbound, under the shipped baseline policy
//! with `fallback = "block"` (the password containers have their own
//! target, `gateway_password_fallback`). It never panics, the in-memory and
//! the spool-file path decide alike for every recipient, and every envelope
//! recipient ends up in exactly one disposition. The organisation key is
//! `fuzz@example.org` (`smime_fuzz_identity.pem` and `pgp_fuzz_key.asc`);
//! the seeds were encrypted and signed to it by `openssl cms` and Sequoia,
//! so the fuzzer reaches decryption, verification and header editing. The
//! message as text is also tried as a `mailgate.toml`.
//!
//! The first byte of an input is a selector, the rest the message: bit 0
//! picks the direction (0 inbound from `someone@extern.example` to the
//! organisation, 1 outbound from it to three outside recipients). The
//! fuzzer learns the direction as part of the input instead of paying for
//! both on every input.
//!
//! Speed (issue 16 asks for at least 1,000 executions per second; figures
//! in `CONTRIBUTING.md`, "Fuzzing campaign"): the gateways are built once
//! and reused, spool files live on tmpfs (see `gateway/mod.rs`), and the
//! password containers, whose key derivations are fixed by their standards
//! and cost more than the rest of a `process` together, are fuzzed
//! separately.
#![no_main]

#[allow(dead_code, reason = "each gateway target uses a part of it")]
mod gateway;

use std::path::Path;

use gateway_facade::Config;
use libfuzzer_sys::fuzz_target;

use gateway::{Fallback, check, inbound, outbound};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, message)) = data.split_first() else {
        return;
    };
    let envelope = if selector & 1 == 0 {
        inbound()
    } else {
        outbound()
    };
    check(gateway::gateway(Fallback::Block), &envelope, message);
    if let Ok(text) = std::str::from_utf8(message) {
        let _ = Config::parse(text, Path::new("/etc/mailgate/mailgate.toml"));
    }
});
