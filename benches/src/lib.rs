//! Benchmarks of mailgate against the real alternatives on the same inputs.
//!
//! The benchmarks live in `benches/` and run with `cargo bench -p
//! mailgate-benches`; `README.md` records the figures and the machine they
//! were measured on.
#![forbid(unsafe_code)]
