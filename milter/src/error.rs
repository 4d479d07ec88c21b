//! What can go wrong on a milter connection.

use std::io;

/// A milter conversation that cannot go on. The MTA then applies its
/// `milter_default_action` to the mail in flight (Postfix: `tempfail`, so the
/// mail stays queued at the client).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading or writing the socket failed (also a timeout).
    #[error("milter connection: {0}")]
    Io(#[from] io::Error),
    /// The peer closed the connection in the middle of a packet.
    #[error("milter connection closed in the middle of a packet")]
    Truncated,
    /// A packet length no milter peer sends (zero, or above
    /// [`MAX_PACKET`](crate::MAX_PACKET)).
    #[error("milter packet length {0} is out of range")]
    PacketLength(usize),
    /// A command code this implementation does not know.
    #[error("unknown milter command {0:?}")]
    UnknownCommand(char),
    /// A response code this implementation does not know.
    #[error("unknown milter response {0:?}")]
    UnknownResponse(char),
    /// A packet whose data does not have the command's layout.
    #[error("malformed milter packet: {0}")]
    Malformed(&'static str),
    /// A command that is not allowed at this point of the conversation.
    #[error("milter command {command:?} out of order: {reason}")]
    OutOfOrder {
        /// The command code.
        command: char,
        /// What was expected instead.
        reason: &'static str,
    },
    /// The MTA speaks a protocol version older than 2 (no body replacement,
    /// no header changes).
    #[error("milter protocol version {0} is too old (at least 2 is needed)")]
    Version(u32),
}
