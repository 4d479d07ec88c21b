//! The spool's file format: one line of JSON (the envelope or delivery),
//! then the message bytes exactly as received.

use std::io::{self, BufRead, Read, Write};
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
    open_entry(path, id, |message| {
        let mut bytes = Vec::new();
        message.read_to_end(&mut bytes)?;
        Ok(bytes)
    })
}

/// Reads an entry's header and hands a reader of its message to `read`
/// (so large messages need not be held).
pub(crate) fn open_entry<T: DeserializeOwned, R>(
    path: &Path,
    id: &str,
    read: impl FnOnce(&mut dyn Read) -> io::Result<R>,
) -> Result<(T, R), SpoolError> {
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
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
    let failed = |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    };
    let damaged = |reason: String| SpoolError::Damaged {
        path: path.to_owned(),
        reason,
    };
    let mut reader = io::BufReader::with_capacity(64 * 1024, file);
    let mut header = Vec::new();
    (&mut reader)
        .take(MAX_HEADER as u64)
        .read_until(b'\n', &mut header)
        .map_err(failed)?;
    if header.pop() != Some(b'\n') {
        return Err(damaged("no header line".to_owned()));
    }
    let header: T = serde_json::from_slice(&header).map_err(|e| damaged(e.to_string()))?;
    let message = read(&mut reader).map_err(failed)?;
    Ok((header, message))
}
