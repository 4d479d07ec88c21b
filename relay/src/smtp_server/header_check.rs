//! What can be known about a message at the end of DATA is refused there,
//! not after `250`.
//!
//! Once the relay has answered `250` the message is its responsibility: a
//! refusal found later becomes a bounce (or a notification) to the
//! envelope sender, which may be forged, and the client never learns. So
//! the refusals that depend only on the message's header section are
//! made while the message streams into the spool, and the client gets a
//! `5xx` reply to its final dot instead:
//!
//! - a header section longer than the gateway reads (1 MiB, the relay's
//!   own `Received` field included; `gateway_facade` refuses it as
//!   malformed): `552 5.3.4`;
//! - a header section the one parse (`mail_message::MessageTree`) cannot
//!   read, a line that is no header field: `554 5.6.0` (the gateway
//!   refuses it in both directions). The client's header is judged on its
//!   own, without the relay's `Received` field above it: a first line
//!   that starts with white space is refused, where behind the trace
//!   field it would continue that field (a client writing into the
//!   relay's trace);
//! - a field RFC 5322 allows once present twice in the message header,
//!   where the relay is told to (outbound: the gateway rejects it; inbound
//!   it quarantines it for an administrator, so the relay takes it):
//!   `554 5.6.0`;
//! - a message that has passed too many relays already (RFC 5321 section
//!   6.3, loop detection by counting `Received` fields, the relay's own
//!   included, as Postfix counts for `hopcount_limit`): `554 5.4.6`.
//!
//! The header section is held in memory while it streams past (at most
//! [`MAX_HEADER`] bytes, the bound the gateway holds it to as well); the
//! body is passed on without being held.

use std::io::{self, Read};

/// The longest header section taken, the relay's `Received` field
/// included: what `gateway_facade` reads (its `MAX_HEADER`), so nothing
/// the relay acknowledges is refused there for its length.
pub(crate) const MAX_HEADER: usize = 1024 * 1024;

/// Why a message is refused at the end of DATA.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum HeaderRefusal {
    /// The header section is longer than the limit.
    #[error("the header section is longer than {0} bytes")]
    TooLong(usize),
    /// The header section does not parse.
    #[error("malformed header section: {0}")]
    Malformed(String),
    /// A singleton field appears more than once.
    #[error("{0}")]
    Duplicate(String),
    /// Too many `Received` fields: a mail loop.
    #[error("too many hops: {count} Received fields, the limit is {limit}")]
    TooManyHops {
        /// `Received` fields in the message.
        count: usize,
        /// The configured limit.
        limit: usize,
    },
}

impl HeaderRefusal {
    /// The SMTP reply (one line, without CR LF).
    pub(crate) fn reply(&self) -> String {
        let code = match self {
            HeaderRefusal::TooLong(_) => "552 5.3.4",
            HeaderRefusal::Malformed(_) | HeaderRefusal::Duplicate(_) => "554 5.6.0",
            HeaderRefusal::TooManyHops { .. } => "554 5.4.6",
        };
        // The texts come from the parser's errors, which name lines and
        // fields but never quote the input; one line regardless.
        mail_message::one_line(&format!("{code} message refused: {self}"))
    }
}

/// What the check refuses besides the length.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules {
    /// Refuse a message whose header holds a singleton field twice.
    pub(crate) duplicates: bool,
    /// Refuse a message that would hold this many `Received` fields or
    /// more with the relay's own (0: no limit).
    pub(crate) max_hops: usize,
}

/// Reads `prefix` (the relay's own `Received` field), then the message
/// from `inner`, judging its header section on the way (see the module
/// documentation). A refusal fails the read, so the spool stores nothing.
pub(crate) struct Checked<'p, R: Read> {
    prefix: &'p [u8],
    inner: R,
    rules: Rules,
    /// The most the client's header section may hold: [`MAX_HEADER`]
    /// less the prefix.
    limit: usize,
    /// The header section so far, while it is not complete.
    header: Vec<u8>,
    /// The header section was judged.
    judged: bool,
    refusal: Option<HeaderRefusal>,
}

impl<'p, R: Read> Checked<'p, R> {
    pub(crate) fn new(prefix: &'p [u8], inner: R, rules: Rules) -> Self {
        Checked {
            prefix,
            inner,
            rules,
            limit: MAX_HEADER.saturating_sub(prefix.len()),
            header: Vec::new(),
            judged: false,
            refusal: None,
        }
    }

    /// Why the message was refused, if it was.
    pub(crate) fn refusal(&self) -> Option<&HeaderRefusal> {
        self.refusal.as_ref()
    }

    /// Takes `bytes` of the message into the header, judging it once it is
    /// complete. The message's line ends are CR LF (the DATA reader refuses
    /// anything else), so the header section ends at the first empty line.
    fn take(&mut self, bytes: &[u8]) -> Result<(), HeaderRefusal> {
        if self.judged {
            return Ok(());
        }
        let start = self.header.len().saturating_sub(3);
        self.header.extend_from_slice(bytes);
        let end = if self.header.starts_with(b"\r\n") {
            Some(2)
        } else {
            self.header
                .get(start..)
                .unwrap_or_default()
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map(|at| start + at + 4)
        };
        match end {
            Some(end) => {
                self.header.truncate(end);
                if end > self.limit {
                    return Err(HeaderRefusal::TooLong(MAX_HEADER));
                }
                self.judge()
            }
            None if self.header.len() > self.limit => Err(HeaderRefusal::TooLong(MAX_HEADER)),
            None => Ok(()),
        }
    }

    /// Judges the complete header section (also at the end of a message
    /// that has no body).
    fn judge(&mut self) -> Result<(), HeaderRefusal> {
        self.judged = true;
        let header = std::mem::take(&mut self.header);
        if self.rules.max_hops > 0 {
            // The relay's own field counts, as in Postfix's
            // `hopcount_limit`: the limit is on what would leave.
            let count = header
                .split(|b| *b == b'\n')
                .filter(|line| super::trace::is_received(line))
                .count()
                .saturating_add(1);
            if count >= self.rules.max_hops {
                return Err(HeaderRefusal::TooManyHops {
                    count,
                    limit: self.rules.max_hops,
                });
            }
        }
        let tree = mail_message::MessageTree::parse(&header);
        if let Some(error) = tree.header_error() {
            return Err(HeaderRefusal::Malformed(error.to_string()));
        }
        if self.rules.duplicates
            && let Err(duplicate) = tree.check_singletons()
        {
            return Err(HeaderRefusal::Duplicate(duplicate.to_string()));
        }
        Ok(())
    }

    fn refuse(&mut self, refusal: HeaderRefusal) -> io::Error {
        let error = io::Error::new(io::ErrorKind::InvalidData, refusal.to_string());
        self.refusal = Some(refusal);
        self.judged = true;
        self.header = Vec::new();
        error
    }
}

impl<R: Read> Read for Checked<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.refusal.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the message was refused",
            ));
        }
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(out.len());
            if let (Some(target), Some(source)) = (out.get_mut(..n), self.prefix.get(..n)) {
                target.copy_from_slice(source);
            }
            self.prefix = self.prefix.get(n..).unwrap_or_default();
            return Ok(n);
        }
        let n = self.inner.read(out)?;
        let outcome = if n == 0 {
            // The end of the message: a header without a body.
            if self.judged { Ok(()) } else { self.judge() }
        } else {
            self.take(out.get(..n).unwrap_or_default())
        };
        match outcome {
            Ok(()) => Ok(n),
            Err(refusal) => Err(self.refuse(refusal)),
        }
    }
}
