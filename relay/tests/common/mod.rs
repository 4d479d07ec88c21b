//! Set-ups shared by the relay's integration tests: a gateway over an
//! in-memory certificate directory, and a reader that hands a client's
//! bytes over in the groups a pipelining client would write them in.

// Each test file uses a different subset.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use std::collections::VecDeque;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;

use gateway_facade::Gateway;
use gateway_facade::store::SqliteDirectory;

/// A gateway for `postmaster@behoerde.example` with `policy` (read as the
/// file `name`), an empty in-memory certificate directory and no
/// organisation keys.
pub fn gateway(policy: &str, name: &str) -> Gateway {
    let (policy, _) = rule_engine::Policy::parse(policy, name).unwrap();
    Gateway::new(
        policy,
        Path::new(name),
        Arc::new(SqliteDirectory::in_memory().unwrap()),
        Vec::new(),
        "postmaster@behoerde.example",
    )
}

/// One group per read: what a client wrote at once arrives in one read.
pub struct Groups(pub VecDeque<Vec<u8>>);

impl Read for Groups {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(mut group) = self.0.pop_front() else {
            return Ok(0);
        };
        let n = group.len().min(buf.len());
        buf[..n].copy_from_slice(&group[..n]);
        if n < group.len() {
            self.0.push_front(group.split_off(n));
        }
        Ok(n)
    }
}
