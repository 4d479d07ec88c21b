//! The milter wire framing as the MTA side writes and reads it (a
//! four-byte length, the command or response code, the data), for the
//! tests that play Postfix.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

use mailgate_milter::{Command, Response};

/// `commands` as packets on the wire.
pub fn packets(commands: &[Command]) -> Vec<u8> {
    let mut wire = Vec::new();
    for command in commands {
        let (code, data) = command.encode();
        wire.extend_from_slice(&u32::try_from(data.len() + 1).unwrap().to_be_bytes());
        wire.push(code);
        wire.extend_from_slice(&data);
    }
    wire
}

/// The responses in `wire`, in order.
pub fn responses(mut wire: &[u8]) -> Vec<Response> {
    let mut out = Vec::new();
    while let Some((length, rest)) = wire.split_first_chunk::<4>() {
        let length = u32::from_be_bytes(*length) as usize;
        let (packet, rest) = rest.split_at(length);
        out.push(Response::parse(packet[0], &packet[1..]).unwrap());
        wire = rest;
    }
    out
}
