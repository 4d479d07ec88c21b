//! The spool's file format: one line of JSON (the envelope or delivery),
//! then the message bytes exactly as received.

use std::io::{self, Write};
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::SpoolError;

/// The SMTP envelope of a received message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// MAIL FROM (empty for bounces).
    pub sender: String,
    /// RCPT TO, in order.
    pub recipients: Vec<String>,
    /// When the message first reached this relay (seconds since the Unix
    /// epoch), for a message spooled again (recipients deferred by the
    /// gateway); `None`: when this entry was received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_received: Option<u64>,
}

/// One delivery: a message for a group of recipients, and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// MAIL FROM for this delivery.
    pub sender: String,
    /// The recipients still to be delivered to.
    pub recipients: Vec<String>,
    /// Deliver only over TLS meeting this profile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_tls: Option<String>,
    /// Failed attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// Not before this time (seconds since the Unix epoch).
    #[serde(default)]
    pub not_before: u64,
    /// When the message was received (seconds since the Unix epoch), for
    /// giving up after the maximal queue lifetime.
    #[serde(default)]
    pub received_at: u64,
}

impl Delivery {
    /// A first attempt, due now.
    pub fn new(sender: &str, recipients: Vec<String>) -> Delivery {
        Delivery {
            sender: sender.to_owned(),
            recipients,
            require_tls: None,
            attempts: 0,
            not_before: 0,
            received_at: 0,
        }
    }
}

/// The longest header line a spool file may have: far above any envelope
/// (RFC 5321 limits an address to 256 octets; recipients to what the server
/// accepts), far below what could exhaust memory.
const MAX_HEADER: usize = 4 * 1024 * 1024;

pub(crate) fn write_header<W: Write, T: Serialize>(out: &mut W, header: &T) -> io::Result<()> {
    serde_json::to_writer(&mut *out, header)?;
    out.write_all(b"\n")
}

/// Reads a whole spool file: its header and its message.
pub(crate) fn read_entry<T: DeserializeOwned>(
    path: &Path,
    id: &str,
) -> Result<(T, Vec<u8>), SpoolError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(SpoolError::NotFound(id.to_owned()));
        }
        Err(source) => {
            return Err(SpoolError::Io {
                path: path.to_owned(),
                source,
            });
        }
    };
    let damaged = |reason: String| SpoolError::Damaged {
        path: path.to_owned(),
        reason,
    };
    let newline = bytes
        .iter()
        .take(MAX_HEADER)
        .position(|b| *b == b'\n')
        .ok_or_else(|| damaged("no header line".to_owned()))?;
    let (header, rest) = bytes.split_at(newline);
    let header: T = serde_json::from_slice(header).map_err(|e| damaged(e.to_string()))?;
    Ok((header, rest.get(1..).unwrap_or_default().to_vec()))
}
