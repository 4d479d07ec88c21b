//! The SMTP side of a probe: a typed reply parser (RFC 5321 section 4.2) and
//! the client dialogue up to STARTTLS (RFC 3207), bounded in time and size.
//!
//! The parser is a pure function over bytes so it can be fuzzed; the session
//! reads with a deadline for the whole dialogue, so a server that trickles
//! one byte a second cannot hold a probe longer than its timeout.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// The longest reply line accepted (RFC 5321 section 4.5.3.1.5 says 512
/// octets; real servers exceed it a little).
pub const MAX_LINE: usize = 2048;
/// The most lines in one reply (an EHLO answer has one per extension).
pub const MAX_LINES: usize = 128;

/// One SMTP reply: a three-digit code and its text lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply code (200 to 599).
    pub code: u16,
    /// The text of each line, without code and separator.
    pub lines: Vec<String>,
}

impl Reply {
    /// Whether the code is 2xx.
    pub fn is_positive(&self) -> bool {
        (200..300).contains(&self.code)
    }

    /// The EHLO keywords (every line but the first, first word, upper case).
    pub fn ehlo_keywords(&self) -> impl Iterator<Item = String> + '_ {
        self.lines.iter().skip(1).filter_map(|line| {
            line.split_ascii_whitespace()
                .next()
                .map(str::to_ascii_uppercase)
        })
    }

    /// Code and first line, for messages.
    pub fn summary(&self) -> String {
        format!(
            "{} {}",
            self.code,
            self.lines.first().map(String::as_str).unwrap_or_default()
        )
    }
}

/// Why bytes are not an SMTP reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// A line does not start with a three-digit code from 200 to 599.
    #[error("line does not start with a reply code: {0:?}")]
    BadCode(String),
    /// The character after the code is neither space nor hyphen.
    #[error("bad separator after reply code in {0:?}")]
    BadSeparator(String),
    /// A continuation line carries a different code.
    #[error("reply code changes within a multi-line reply ({first} then {then})")]
    MixedCodes {
        /// The first line's code.
        first: u16,
        /// The differing code.
        then: u16,
    },
    /// A line is longer than [`MAX_LINE`].
    #[error("reply line longer than {MAX_LINE} bytes")]
    LineTooLong,
    /// The reply has more than [`MAX_LINES`] lines.
    #[error("reply longer than {MAX_LINES} lines")]
    TooManyLines,
}

/// Parses one reply from the start of `input`.
///
/// Returns `Ok(None)` when more bytes are needed, or the reply and the number
/// of bytes it took. Lines end in CRLF; a bare LF is accepted.
///
/// ```
/// use tls_policy::smtp::parse_reply;
/// let (reply, used) = parse_reply(b"250-mx.example\r\n250 STARTTLS\r\nrest").unwrap().unwrap();
/// assert_eq!(reply.code, 250);
/// assert_eq!(reply.ehlo_keywords().collect::<Vec<_>>(), ["STARTTLS"]);
/// assert_eq!(used, 30);
/// ```
pub fn parse_reply(input: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
    let mut offset = 0;
    let mut code = None;
    let mut lines = Vec::new();
    loop {
        let rest = input.get(offset..).unwrap_or_default();
        let Some(end) = rest.iter().position(|&byte| byte == b'\n') else {
            if rest.len() > MAX_LINE {
                return Err(ReplyError::LineTooLong);
            }
            return Ok(None);
        };
        if end > MAX_LINE {
            return Err(ReplyError::LineTooLong);
        }
        let raw = rest.get(..end).unwrap_or_default();
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        offset += end + 1;
        let line = String::from_utf8_lossy(raw);
        let digits = raw.get(..3).unwrap_or_default();
        let line_code = std::str::from_utf8(digits)
            .ok()
            .filter(|text| text.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|text| text.parse::<u16>().ok())
            .filter(|value| (200..600).contains(value))
            .ok_or_else(|| ReplyError::BadCode(line.chars().take(80).collect()))?;
        match code {
            None => code = Some(line_code),
            Some(first) if first != line_code => {
                return Err(ReplyError::MixedCodes {
                    first,
                    then: line_code,
                });
            }
            Some(_) => {}
        }
        let text = raw
            .get(4..)
            .map(|text| String::from_utf8_lossy(text).into_owned())
            .unwrap_or_default();
        lines.push(text);
        if lines.len() > MAX_LINES {
            return Err(ReplyError::TooManyLines);
        }
        match raw.get(3) {
            None | Some(b' ') => {
                return Ok(Some((
                    Reply {
                        code: line_code,
                        lines,
                    },
                    offset,
                )));
            }
            Some(b'-') => {}
            Some(_) => return Err(ReplyError::BadSeparator(line.chars().take(80).collect())),
        }
    }
}

/// What went wrong in the dialogue, before it is given the target's name.
#[derive(Debug)]
pub(crate) enum SessionError {
    Timeout(&'static str),
    Io(&'static str, std::io::Error),
    Protocol(&'static str, String),
    Closed(&'static str),
}

/// A plain-text SMTP session with a deadline.
pub(crate) struct Session {
    pub(crate) stream: TcpStream,
    buffer: Vec<u8>,
    deadline: Instant,
    read_timeout: Duration,
}

impl Session {
    pub(crate) fn new(stream: TcpStream, deadline: Instant, read_timeout: Duration) -> Session {
        Session {
            stream,
            buffer: Vec::new(),
            deadline,
            read_timeout,
        }
    }

    fn remaining(&self, phase: &'static str) -> Result<Duration, SessionError> {
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(SessionError::Timeout(phase));
        }
        Ok(remaining.min(self.read_timeout))
    }

    pub(crate) fn read_reply(&mut self, phase: &'static str) -> Result<Reply, SessionError> {
        let mut chunk = [0u8; 4096];
        loop {
            match parse_reply(&self.buffer) {
                Ok(Some((reply, used))) => {
                    self.buffer.drain(..used);
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(error) => return Err(SessionError::Protocol(phase, error.to_string())),
            }
            let timeout = self.remaining(phase)?;
            self.stream
                .set_read_timeout(Some(timeout))
                .map_err(|error| SessionError::Io(phase, error))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => return Err(SessionError::Closed(phase)),
                Ok(read) => self
                    .buffer
                    .extend_from_slice(chunk.get(..read).unwrap_or_default()),
                Err(error) if is_timeout(&error) => return Err(SessionError::Timeout(phase)),
                Err(error) => return Err(SessionError::Io(phase, error)),
            }
        }
    }

    pub(crate) fn send(&mut self, line: &str, phase: &'static str) -> Result<(), SessionError> {
        let timeout = self.remaining(phase)?;
        self.stream
            .set_write_timeout(Some(timeout))
            .map_err(|error| SessionError::Io(phase, error))?;
        self.stream
            .write_all(format!("{line}\r\n").as_bytes())
            .map_err(|error| {
                if is_timeout(&error) {
                    SessionError::Timeout(phase)
                } else {
                    SessionError::Io(phase, error)
                }
            })
    }

    /// Whether bytes arrived beyond the last reply: after `220` to STARTTLS
    /// that would be plaintext injected into the TLS session (CVE-2011-0411).
    pub(crate) fn has_pending_bytes(&self) -> bool {
        !self.buffer.is_empty()
    }
}

pub(crate) fn is_timeout(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_replies_parse_and_report_what_they_used() {
        let input =
            b"250-mx.example.test Hello\r\n250-SIZE 10240000\r\n250-starttls\r\n250 8BITMIME\r\n";
        let (reply, used) = parse_reply(input).unwrap().unwrap();
        assert_eq!(used, input.len());
        assert_eq!(reply.code, 250);
        assert_eq!(reply.lines.len(), 4);
        assert_eq!(
            reply.ehlo_keywords().collect::<Vec<_>>(),
            ["SIZE", "STARTTLS", "8BITMIME"]
        );
        assert_eq!(reply.summary(), "250 mx.example.test Hello");
    }

    #[test]
    fn incomplete_input_asks_for_more() {
        assert_eq!(parse_reply(b"").unwrap(), None);
        assert_eq!(parse_reply(b"220 mx").unwrap(), None);
        assert_eq!(parse_reply(b"250-first\r\n250 la").unwrap(), None);
    }

    #[test]
    fn bare_code_and_bare_lf_are_accepted() {
        let (reply, used) = parse_reply(b"220\n").unwrap().unwrap();
        assert_eq!(
            (reply.code, reply.lines, used),
            (220, vec![String::new()], 4)
        );
    }

    #[test]
    fn garbage_is_rejected_with_a_reason() {
        assert!(matches!(
            parse_reply(b"HTTP/1.1 400 Bad\r\n"),
            Err(ReplyError::BadCode(_))
        ));
        assert!(matches!(
            parse_reply(b"999 no\r\n"),
            Err(ReplyError::BadCode(_))
        ));
        assert!(matches!(
            parse_reply(b"22\r\n"),
            Err(ReplyError::BadCode(_))
        ));
        assert!(matches!(
            parse_reply(b"220_x\r\n"),
            Err(ReplyError::BadSeparator(_))
        ));
        assert!(matches!(
            parse_reply(b"250-a\r\n550 b\r\n"),
            Err(ReplyError::MixedCodes {
                first: 250,
                then: 550
            })
        ));
        assert_eq!(
            parse_reply(&[b'2'; MAX_LINE + 1]),
            Err(ReplyError::LineTooLong)
        );
        let mut long = b"220 ".to_vec();
        long.extend(std::iter::repeat_n(b'x', MAX_LINE));
        long.extend(b"\r\n");
        assert_eq!(parse_reply(&long), Err(ReplyError::LineTooLong));
        let many = "250-x\r\n".repeat(MAX_LINES + 1);
        assert_eq!(parse_reply(many.as_bytes()), Err(ReplyError::TooManyLines));
    }
}
