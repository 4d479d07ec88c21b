//! Spool ids: unique, sortable by creation time, safe as file names.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::SpoolError;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The id of a received message: `TIME-PID-COUNTER` in hexadecimal, the
/// time in nanoseconds so that names sort by arrival.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MessageId(String);

/// The id of a delivery: its message's id and its index, `MESSAGE.N`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DeliveryId(String);

impl MessageId {
    pub(crate) fn new() -> MessageId {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let count = COUNTER.fetch_add(1, Ordering::Relaxed);
        MessageId(format!(
            "{:020x}-{:08x}-{count:08x}",
            nanos,
            std::process::id()
        ))
    }

    /// Parses an id as [`MessageId`]'s `Display` writes it.
    pub fn parse(text: &str) -> Result<MessageId, SpoolError> {
        let parts: Vec<&str> = text.split('-').collect();
        let well_formed = matches!(parts.as_slice(), [time, pid, count]
            if time.len() == 20 && pid.len() == 8 && count.len() == 8)
            && parts
                .iter()
                .all(|p| p.bytes().all(|b| b.is_ascii_hexdigit()));
        if well_formed {
            Ok(MessageId(text.to_owned()))
        } else {
            Err(SpoolError::InvalidId(text.to_owned()))
        }
    }

    /// The id as text (also its file name).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl DeliveryId {
    pub(crate) fn new(message: &MessageId, index: usize) -> DeliveryId {
        DeliveryId(format!("{}.{index}", message.0))
    }

    /// Parses an id as [`DeliveryId`]'s `Display` writes it.
    pub fn parse(text: &str) -> Result<DeliveryId, SpoolError> {
        match text.split_once('.') {
            Some((message, index))
                if MessageId::parse(message).is_ok()
                    && !index.is_empty()
                    && index.bytes().all(|b| b.is_ascii_digit()) =>
            {
                Ok(DeliveryId(text.to_owned()))
            }
            _ => Err(SpoolError::InvalidId(text.to_owned())),
        }
    }

    /// The id of the message this delivery came from.
    pub fn message(&self) -> &str {
        self.0.split_once('.').map_or(self.0.as_str(), |(m, _)| m)
    }

    /// The id as text (also its file name).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_sortable_and_parse_back() {
        let a = MessageId::new();
        let b = MessageId::new();
        assert_ne!(a, b);
        assert_eq!(MessageId::parse(a.as_str()).unwrap(), a);
        let job = DeliveryId::new(&a, 3);
        assert_eq!(job.message(), a.as_str());
        assert_eq!(DeliveryId::parse(job.as_str()).unwrap(), job);
        for bad in [
            "",
            "../etc/passwd",
            "a-b-c",
            "0.1",
            &format!("{a}.x"),
            &format!("{a}/.1"),
        ] {
            assert!(
                MessageId::parse(bad).is_err() && DeliveryId::parse(bad).is_err(),
                "{bad}"
            );
        }
    }
}
