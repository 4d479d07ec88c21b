//! Reading what an SMTP client sends: command lines and the message after
//! DATA, each with a bound on what is held in memory, and with one rule for
//! line ends (RFC 5321 section 2.3.8): a line ends in CR LF and nowhere
//! else.
//!
//! The rule closes SMTP smuggling (CVE-2023-51764/51765/51766): when a
//! server takes `LF . LF`, `CR LF . LF` or `LF . CR LF` as the end of a
//! message and a server before or after it does not, bytes that one of them
//! sees as the body of a message the other runs as a second transaction
//! with an envelope of the sender's choice. Here the message ends only at
//! `CR LF . CR LF`, and a bare LF or a bare CR anywhere (in a command or in
//! the message) ends the session with 521 5.5.2: what Postfix does with
//! `smtpd_forbid_bare_newline = reject` and
//! `smtpd_forbid_bare_newline_reject_code = 521`. (Postfix's default from
//! 3.9 on, `normalize`, also ends a message only at `CR LF . CR LF` but
//! takes a bare LF elsewhere as a line end; Postfix never checks bare CR,
//! which it passes on unchanged and which a lenient next hop may take as a
//! line end, so we refuse that too.) Nothing is normalised: a message that
//! reaches the spool has CR LF line ends only, exactly as the client sent
//! them. There is no BDAT (CHUNKING is not offered, so `BDAT` is an unknown
//! command).
//!
//! Bounds: a command line is read into at most [`MAX_COMMAND_LINE`] bytes;
//! the message is never held by lines at all (it streams from the socket
//! buffer into the spool), so a line of a gigabyte costs no memory, and a
//! line longer than [`MAX_DATA_LINE`] refuses the message; the message size
//! limit is applied by the spool while it reads.

use std::io::{self, BufRead, Read};

/// The longest command line accepted, CR LF included: RFC 5321 section
/// 4.5.3.1.4 says 512, and allows extensions to raise it (SMTPUTF8
/// addresses, ESMTP parameters such as SIZE, BODY, SMTPUTF8); Postfix's
/// `line_length_limit` is the same 2048.
pub(crate) const MAX_COMMAND_LINE: usize = 2048;

/// The longest line of a message accepted, CR LF not counted. RFC 5321
/// section 4.5.3.1.6 says 1000 with CR LF, but mail with longer lines (HTML
/// without line breaks) is common and Postfix accepts it (it folds lines
/// longer than `line_length_limit` into several records); the bound is
/// there so that a line cannot be made unbounded, not to enforce the RFC.
pub(crate) const MAX_DATA_LINE: usize = 64 * 1024;

/// What a client sent that this server refuses to read on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Violation {
    /// An LF not preceded by CR.
    #[error("bare <LF> received")]
    BareLf,
    /// A CR not followed by LF.
    #[error("bare <CR> received")]
    BareCr,
    /// A command line longer than [`MAX_COMMAND_LINE`].
    #[error("a command line longer than {MAX_COMMAND_LINE} bytes")]
    CommandTooLong,
    /// A line of the message longer than [`MAX_DATA_LINE`].
    #[error("a line of the message longer than {MAX_DATA_LINE} bytes")]
    DataLineTooLong,
    /// A NUL byte in the message: not allowed in SMTP mail data without
    /// BINARYMIME (RFC 5322 section 2.3, RFC 6152 section 2), and a next
    /// hop that drops NUL bytes would read `CR LF NUL . CR LF` as the end
    /// of the message.
    #[error("a NUL byte in the message")]
    Nul,
}

impl Violation {
    /// The reply to the client, and whether the session ends after it.
    ///
    /// After a bare line end the client's idea of where lines and messages
    /// end differs from ours, so nothing it sends later can be trusted to be
    /// a command: 521 (RFC 7504) and close, as Postfix with reject code 521.
    /// After an overlong command line the
    /// rest of that line was never read. The other two refuse one message;
    /// the message was read to its end, so the session goes on.
    pub(crate) fn reply(self) -> (&'static str, bool) {
        match self {
            Violation::BareLf => (
                "521 5.5.2 bare <LF> received: lines must end in <CR><LF> (RFC 5321 section 2.3.8)",
                true,
            ),
            Violation::BareCr => (
                "521 5.5.2 bare <CR> received: lines must end in <CR><LF> (RFC 5321 section 2.3.8)",
                true,
            ),
            Violation::CommandTooLong => ("500 5.5.6 command line too long", true),
            Violation::DataLineTooLong => (
                "552 5.3.4 a line of the message is longer than 65536 bytes",
                false,
            ),
            Violation::Nul => ("554 5.6.0 the message contains a NUL byte", false),
        }
    }

    /// Whether the session cannot go on after it.
    pub(crate) fn is_fatal(self) -> bool {
        self.reply().1
    }
}

/// Why a command could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// The connection failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The client broke the rules of [`Violation`].
    #[error("{0}")]
    Violation(Violation),
}

/// What [`read_command`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// A whole line, now in the buffer without its CR LF.
    Line,
    /// The client closed the connection (a partial last line is dropped).
    Closed,
}

/// Reads one command line into `line` (cleared first), without its CR LF.
/// Holds at most [`MAX_COMMAND_LINE`] bytes: on a longer line it stops
/// reading and reports [`Violation::CommandTooLong`].
pub(crate) fn read_command<R: BufRead>(
    reader: &mut R,
    line: &mut Vec<u8>,
) -> Result<Command, ReadError> {
    line.clear();
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            return Ok(Command::Closed);
        }
        let (length, complete) = match memchr::memchr(b'\n', available) {
            Some(end) => (end + 1, true),
            None => (available.len(), false),
        };
        if line.len().saturating_add(length) > MAX_COMMAND_LINE {
            return Err(ReadError::Violation(Violation::CommandTooLong));
        }
        line.extend_from_slice(available.get(..length).unwrap_or_default());
        reader.consume(length);
        if complete {
            break;
        }
    }
    line.pop();
    if line.pop() != Some(b'\r') {
        return Err(ReadError::Violation(Violation::BareLf));
    }
    if line.contains(&b'\r') {
        return Err(ReadError::Violation(Violation::BareCr));
    }
    Ok(Command::Line)
}

/// Where [`DataReader`] is in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line: a dot here is special.
    LineStart,
    /// Inside a line.
    Text,
    /// After a CR (not yet passed on: only CR LF is a line end).
    Cr,
    /// After a dot at the start of a line (never passed on: it is either
    /// the end of the message or dot-stuffing, RFC 5321 section 4.5.2).
    Dot,
    /// After a dot and a CR at the start of a line.
    DotCr,
    /// `CR LF . CR LF` was read: the message is complete.
    End,
    /// A bare CR or LF was read: nothing more is read.
    Failed,
}

/// Reads the message after DATA up to `CR LF . CR LF` (the CR LF that ends
/// the DATA command counts as the first), with dot-stuffing removed, as a
/// [`Read`] of the message's bytes. Streams: it holds no line, only its
/// state between two bytes, so memory does not grow with the length of a
/// line or of the message.
///
/// A bare CR or LF fails every read from then on (and the session must
/// end: see [`Violation::reply`]); a NUL byte or an overlong line fails one
/// read, after which [`DataReader::drain`] reads on to the end of the
/// message without checking either.
pub(crate) struct DataReader<'a, R: BufRead> {
    inner: &'a mut R,
    state: State,
    /// Bytes of the current line so far (CR LF not counted).
    line_length: usize,
    /// The CR of a CR LF went out at the end of the caller's buffer; its LF
    /// goes out first in the next read.
    owe_lf: bool,
    /// The message is refused already (or the spool took all it wanted):
    /// only the end of the message and the line-end rule matter.
    draining: bool,
    violation: Option<Violation>,
}

impl<'a, R: BufRead> DataReader<'a, R> {
    /// A reader of the message that starts at the current position of
    /// `inner` (just after `DATA` CR LF).
    pub(crate) fn new(inner: &'a mut R) -> Self {
        DataReader {
            inner,
            state: State::LineStart,
            line_length: 0,
            owe_lf: false,
            draining: false,
            violation: None,
        }
    }

    /// What the client did wrong, if anything.
    pub(crate) fn violation(&self) -> Option<Violation> {
        self.violation
    }

    /// Reads to the end of the message, discarding, so that the next
    /// command is where the client expects it. Fails on a bare CR or LF
    /// (see [`DataReader::violation`]) or when the connection does.
    pub(crate) fn drain(&mut self) -> io::Result<()> {
        self.draining = true;
        let mut sink = [0u8; 8192];
        while self.read(&mut sink)? > 0 {}
        Ok(())
    }

    fn refuse(&mut self, violation: Violation) -> io::Error {
        if violation.is_fatal() {
            // It outranks a NUL or a long line found before: the session
            // ends.
            self.state = State::Failed;
            self.violation = Some(violation);
        } else {
            self.violation.get_or_insert(violation);
        }
        self.draining = true;
        io::Error::new(io::ErrorKind::InvalidData, violation)
    }

    /// Moves what `inner` has buffered into `out` through the state
    /// machine; returns the number of bytes written to `out` (zero when
    /// the buffered input held no content, such as a lone CR).
    fn step(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let input = self.inner.fill_buf()?;
        if input.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the client closed the connection during DATA",
            ));
        }
        let mut used = 0;
        let mut written = 0;
        let mut outcome = Ok(());
        while let (Some(&byte), Some(room)) = (input.get(used), out.get_mut(written..)) {
            if room.is_empty() {
                break;
            }
            match self.state {
                State::LineStart if byte == b'.' => {
                    used += 1;
                    self.line_length = 1;
                    self.state = State::Dot;
                }
                State::LineStart => self.state = State::Text,
                State::Text => match byte {
                    b'\r' => {
                        used += 1;
                        self.state = State::Cr;
                    }
                    b'\n' => {
                        outcome = Err(Violation::BareLf);
                        break;
                    }
                    0 if !self.draining => {
                        outcome = Err(Violation::Nul);
                        break;
                    }
                    _ => {
                        // The run of ordinary bytes up to the next special
                        // one, copied in one go.
                        let rest = input.get(used..).unwrap_or_default();
                        let span = if self.draining {
                            memchr::memchr2(b'\r', b'\n', rest)
                        } else {
                            memchr::memchr3(b'\r', b'\n', 0, rest)
                        }
                        .unwrap_or(rest.len())
                        .max(1);
                        if !self.draining && self.line_length.saturating_add(span) > MAX_DATA_LINE {
                            outcome = Err(Violation::DataLineTooLong);
                            break;
                        }
                        let take = span.min(room.len());
                        if let (Some(target), Some(source)) =
                            (room.get_mut(..take), rest.get(..take))
                        {
                            target.copy_from_slice(source);
                        }
                        used += take;
                        written += take;
                        self.line_length = self.line_length.saturating_add(take);
                    }
                },
                State::Cr if byte == b'\n' => {
                    used += 1;
                    if let [cr, lf, ..] = room {
                        (*cr, *lf) = (b'\r', b'\n');
                        written += 2;
                    } else if let [cr] = room {
                        *cr = b'\r';
                        written += 1;
                        self.owe_lf = true;
                    }
                    self.line_length = 0;
                    self.state = State::LineStart;
                    if self.owe_lf {
                        break;
                    }
                }
                State::DotCr if byte == b'\n' => {
                    used += 1;
                    self.state = State::End;
                    break;
                }
                State::Cr | State::DotCr => {
                    outcome = Err(Violation::BareCr);
                    break;
                }
                State::Dot => match byte {
                    b'\r' => {
                        used += 1;
                        self.state = State::DotCr;
                    }
                    b'\n' => {
                        outcome = Err(Violation::BareLf);
                        break;
                    }
                    // Dot-stuffing: the dot is dropped, the line goes on.
                    _ => self.state = State::Text,
                },
                State::End | State::Failed => break,
            }
        }
        self.inner.consume(used);
        match outcome {
            Ok(()) => Ok(written),
            Err(violation) => Err(self.refuse(violation)),
        }
    }
}

impl<R: BufRead> Read for DataReader<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        if self.state == State::Failed {
            let violation = self.violation.unwrap_or(Violation::BareLf);
            return Err(io::Error::new(io::ErrorKind::InvalidData, violation));
        }
        let mut written = 0;
        if self.owe_lf {
            if let Some(first) = out.first_mut() {
                *first = b'\n';
            }
            self.owe_lf = false;
            written = 1;
        }
        while written == 0 && self.state != State::End {
            written = self.step(out)?;
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out its input `chunk` bytes at a time, so that
    /// every state is also crossed at a buffer boundary.
    struct Chunked<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl Read for Chunked<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.chunk.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// The message read from `input` with every buffer size from 1 to 7
    /// and an output buffer of `out` bytes, checked to agree; plus what is
    /// left after the message.
    fn read_message(input: &[u8], out: usize) -> (Result<Vec<u8>, Violation>, Vec<u8>) {
        let mut results = Vec::new();
        for chunk in [1, 2, 3, 7, 4096] {
            let mut reader = io::BufReader::with_capacity(chunk, Chunked { data: input, chunk });
            let mut data = DataReader::new(&mut reader);
            let mut message = Vec::new();
            let mut buf = vec![0u8; out];
            let result = loop {
                match data.read(&mut buf) {
                    Ok(0) => break Ok(message),
                    Ok(n) => message.extend_from_slice(&buf[..n]),
                    Err(_) => break Err(data.violation().unwrap()),
                }
            };
            let mut rest = Vec::new();
            if result.is_ok() {
                reader.read_to_end(&mut rest).unwrap();
            }
            results.push((result, rest));
        }
        for other in &results[1..] {
            assert_eq!(other, &results[0], "{:?}", String::from_utf8_lossy(input));
        }
        results.swap_remove(0)
    }

    #[test]
    fn the_message_ends_at_crlf_dot_crlf_with_dots_unstuffed() {
        for out in [1, 2, 3, 8192] {
            let (message, rest) = read_message(b"a\r\n..b\r\n.c\r\n\r\n.\r\nQUIT\r\n", out);
            assert_eq!(message.unwrap(), b"a\r\n.b\r\nc\r\n\r\n");
            assert_eq!(rest, b"QUIT\r\n");
            let (message, rest) = read_message(b".\r\nNOOP\r\n", out);
            assert_eq!(message.unwrap(), b"");
            assert_eq!(rest, b"NOOP\r\n");
        }
    }

    #[test]
    fn every_smuggling_end_of_data_is_refused() {
        for (input, expected) in [
            (&b"x\n.\nMAIL FROM:<a@b>\r\n"[..], Violation::BareLf),
            (b"x\r\n.\nMAIL", Violation::BareLf),
            (b"x\n.\r\nMAIL", Violation::BareLf),
            (b"x\r.\rMAIL", Violation::BareCr),
            (b"x\r.\r\nMAIL", Violation::BareCr),
            (b"x\r\n.\rMAIL", Violation::BareCr),
            (b"x\n.\rMAIL", Violation::BareLf),
            (b".\n", Violation::BareLf),
            (b"x\r\n\x00.\r\n.\r\n", Violation::Nul),
        ] {
            let (message, _) = read_message(input, 8192);
            assert_eq!(
                message,
                Err(expected),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn a_long_line_is_refused_without_being_held_and_the_rest_drained() {
        let mut input = vec![b'x'; 3 * MAX_DATA_LINE];
        input.extend_from_slice(b"\r\n.\r\nQUIT\r\n");
        let mut reader = io::BufReader::with_capacity(4096, &input[..]);
        let mut data = DataReader::new(&mut reader);
        let mut taken = Vec::new();
        assert!(data.read_to_end(&mut taken).is_err());
        assert!(taken.len() <= MAX_DATA_LINE);
        assert_eq!(data.violation(), Some(Violation::DataLineTooLong));
        data.drain().unwrap();
        let mut rest = Vec::new();
        reader.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"QUIT\r\n");
        // A line of exactly the bound is fine.
        let mut input = vec![b'x'; MAX_DATA_LINE];
        input.extend_from_slice(b"\r\n.\r\n");
        assert_eq!(
            read_message(&input, 8192).0.unwrap().len(),
            MAX_DATA_LINE + 2
        );
    }

    #[test]
    fn command_lines_need_crlf_and_a_bound() {
        let mut line = Vec::new();
        let mut input = &b"NOOP\r\nNOOP\nQUIT\r\n"[..];
        assert_eq!(read_command(&mut input, &mut line).unwrap(), Command::Line);
        assert_eq!(line, b"NOOP");
        assert!(matches!(
            read_command(&mut input, &mut line),
            Err(ReadError::Violation(Violation::BareLf))
        ));
        let mut input = &b"NO\rOP\r\n"[..];
        assert!(matches!(
            read_command(&mut input, &mut line),
            Err(ReadError::Violation(Violation::BareCr))
        ));
        let mut input = &b"NOOP\r"[..];
        assert_eq!(
            read_command(&mut input, &mut line).unwrap(),
            Command::Closed
        );
        let long = vec![b'x'; 10 * MAX_COMMAND_LINE];
        let mut reader = io::BufReader::with_capacity(512, &long[..]);
        assert!(matches!(
            read_command(&mut reader, &mut line),
            Err(ReadError::Violation(Violation::CommandTooLong))
        ));
        assert!(line.len() <= MAX_COMMAND_LINE);
        let mut exact = vec![b'x'; MAX_COMMAND_LINE - 2];
        exact.extend_from_slice(b"\r\n");
        assert_eq!(
            read_command(&mut &exact[..], &mut line).unwrap(),
            Command::Line
        );
    }

    /// Bytes that matter to the state machine, often, and anything else.
    fn hostile_bytes(max: usize) -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        proptest::collection::vec(
            prop_oneof![
                3 => Just(b'\r'),
                3 => Just(b'\n'),
                3 => Just(b'.'),
                1 => Just(0u8),
                3 => Just(b'x'),
                1 => any::<u8>(),
            ],
            0..max,
        )
    }

    /// Where a strict reading of `input` (RFC 5321 with bare CR and LF
    /// forbidden) ends the message: `Ok(length consumed)`, or the first
    /// bare line end as an error; computed without a state machine.
    fn reference_end(input: &[u8]) -> Option<Result<usize, ()>> {
        // The CR LF of the DATA command comes first.
        let mut framed = b"\r\n".to_vec();
        framed.extend_from_slice(input);
        let end = framed
            .windows(5)
            .position(|w| w == b"\r\n.\r\n")
            .map(|at| at + 5 - 2);
        let bare = (0..framed.len()).find(|&i| {
            (framed[i] == b'\n' && (i == 0 || framed[i - 1] != b'\r'))
                || (framed[i] == b'\r' && framed.get(i + 1).is_some_and(|&b| b != b'\n'))
        });
        match (end, bare) {
            (Some(end), Some(bare)) if bare - 2 < end => Some(Err(())),
            (Some(end), _) => Some(Ok(end)),
            (None, Some(_)) => Some(Err(())),
            // The input ran out in the middle of the message.
            (None, None) => None,
        }
    }

    proptest::proptest! {
        /// Whatever the client sends, the message ends exactly where the
        /// first `CR LF . CR LF` is, unless a bare CR or LF comes first,
        /// which fails the read; no other byte sequence ends it.
        #[test]
        fn the_end_of_data_is_crlf_dot_crlf_and_nothing_else(
            input in hostile_bytes(64),
            chunk in 1usize..9,
        ) {
            let mut reader = io::BufReader::with_capacity(chunk, Chunked { data: &input, chunk });
            let mut data = DataReader::new(&mut reader);
            let result = data.drain();
            let violation = data.violation();
            let mut rest = Vec::new();
            reader.read_to_end(&mut rest).unwrap();
            match reference_end(&input) {
                Some(Ok(end)) => {
                    proptest::prop_assert!(result.is_ok(), "{result:?}");
                    proptest::prop_assert_eq!(&rest[..], &input[end..]);
                }
                Some(Err(())) => proptest::prop_assert!(
                    matches!(violation, Some(Violation::BareCr | Violation::BareLf))
                ),
                None => proptest::prop_assert!(result.is_err()),
            }
        }

        /// What the relay's SMTP client sends, this server reads back as
        /// the message with every line end made CR LF, at every buffer
        /// size, and nothing is left over.
        #[test]
        fn the_clients_data_reads_back_as_the_message(
            message in hostile_bytes(200),
            chunk in 1usize..9,
            out in 1usize..5,
        ) {
            let message: Vec<u8> = message.into_iter().filter(|&b| b != 0).collect();
            let mut sent = Vec::new();
            crate::smtp_client::write_data(&mut sent, &message).unwrap();
            let mut reader = io::BufReader::with_capacity(chunk, Chunked { data: &sent, chunk });
            let mut data = DataReader::new(&mut reader);
            let mut received = Vec::new();
            let mut buf = vec![0u8; out];
            loop {
                let n = data.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                received.extend_from_slice(&buf[..n]);
            }
            let mut rest = Vec::new();
            reader.read_to_end(&mut rest).unwrap();
            proptest::prop_assert!(rest.is_empty());
            let mut expected = Vec::new();
            let mut bytes = message.iter().peekable();
            while let Some(&b) = bytes.next() {
                match b {
                    b'\r' => {
                        bytes.next_if_eq(&&b'\n');
                        expected.extend_from_slice(b"\r\n");
                    }
                    b'\n' => expected.extend_from_slice(b"\r\n"),
                    _ => expected.push(b),
                }
            }
            if !expected.is_empty() && !expected.ends_with(b"\r\n") {
                expected.extend_from_slice(b"\r\n");
            }
            proptest::prop_assert_eq!(received, expected);
        }
    }
}
