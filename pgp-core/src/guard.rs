//! A fence around Sequoia's parsers.
//!
//! Our own code never panics on input, but a dependency might: fuzzing
//! `pgp_decrypt` found that `sequoia-openpgp` 2.4.2 unwraps an EOF while
//! setting up a SEIPD v1 container whose body is shorter than its random
//! prefix after a matching quick check (`parse.rs`, "This shouldn't
//! fail"). Anyone who can encrypt to us can send that, so a panic there
//! would take down the gateway. Calls into Sequoia's message parsers go
//! through [`sequoia`], which turns a panic into an error. (With
//! `panic = "abort"` this cannot help; the workspace unwinds.)

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `f`, reporting a panic inside it as `Err` with its message.
pub(crate) fn sequoia<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    // The closures given here own or borrow only buffers that are thrown
    // away on failure, so no broken invariant outlives the panic.
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("unknown panic");
        format!("the OpenPGP parser failed on malformed input ({message})")
    })
}
