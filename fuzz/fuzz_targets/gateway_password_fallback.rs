//! Outbound mail through the gateway under the shipped baseline policy,
//! whose fallback for recipients without a key is a password-protected
//! container: `password-pdf` (as shipped) or `password-zip`. The same
//! checks as `gateway_process` (no panic, in-memory and spool-file paths
//! decide alike, one disposition per recipient).
//!
//! The first byte of an input is a selector, the rest the message: bit 0
//! picks the container (0 PDF, 1 ZIP).
//!
//! This target is slow by nature: the PDF 2.0 key derivation (ISO 32000-2
//! algorithm 2.B, at least 64 rounds of AES-128-CBC and SHA-2 over about
//! 8 KB, four times per PDF) and ZIP's PBKDF2 (1,000 iterations, WinZip
//! AES) are fixed by their standards; under coverage instrumentation they
//! cost several milliseconds per message. They are kept out of
//! `gateway_process` so that target's rate measures the parsing,
//! decryption, verification and policy it is there to exercise.
#![no_main]

#[allow(dead_code, reason = "each gateway target uses a part of it")]
mod gateway;

use libfuzzer_sys::fuzz_target;

use gateway::{Fallback, check, outbound};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, message)) = data.split_first() else {
        return;
    };
    let fallback = if selector & 1 == 0 {
        Fallback::Pdf
    } else {
        Fallback::Zip
    };
    check(gateway::gateway(fallback), &outbound(), message);
});
