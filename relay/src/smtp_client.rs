//! The sending side: one SMTP transaction (RFC 5321) over a connection that
//! is already open (plain TCP, or the TLS connection `tls-policy` judged).

use std::io::{self, BufWriter, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use tls_policy::smtp::{Reply, parse_reply};

/// What became of each recipient of a transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Sent {
    /// Recipients the server took responsibility for.
    pub(crate) accepted: Vec<String>,
    /// Recipients to try again later, with the server's reply.
    pub(crate) temporary: Vec<(String, String)>,
    /// Recipients refused for good, with the server's reply.
    pub(crate) permanent: Vec<(String, String)>,
}

/// A transaction that failed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SendError {
    /// Try again later (4xx, connection trouble, a malformed reply).
    #[error("{0}")]
    Temporary(String),
    /// The server refused the mail for good (5xx to MAIL or DATA).
    #[error("{0}")]
    Permanent(String),
}

/// Sends `message` from `sender` to `recipients`. `greeted` says the server's
/// greeting was already read (a STARTTLS connection: EHLO follows TLS).
pub(crate) fn send<S: Read + Write>(
    stream: &mut S,
    greeted: bool,
    ehlo_name: &str,
    sender: &str,
    recipients: &[String],
    message: &[u8],
) -> Result<Sent, SendError> {
    if let Some(reason) = unsendable(message) {
        return Err(SendError::Permanent(reason.into()));
    }
    let mut session = ClientSession {
        stream,
        buffer: Vec::new(),
    };
    if !greeted {
        let greeting = session.reply("the greeting")?;
        if greeting.code != 220 {
            return Err(classify(&greeting, "greeting"));
        }
    }
    let mut ehlo = session.command(&format!("EHLO {ehlo_name}"))?;
    if !ehlo.is_positive() {
        ehlo = session.command(&format!("HELO {ehlo_name}"))?;
        if !ehlo.is_positive() {
            return Err(classify(&ehlo, "HELO"));
        }
    }
    let keywords: Vec<String> = ehlo.ehlo_keywords().collect();
    let mut mail = format!("MAIL FROM:<{sender}>");
    if !message.is_ascii() && keywords.iter().any(|k| k == "8BITMIME") {
        mail.push_str(" BODY=8BITMIME");
    }
    let utf8 = !sender.is_ascii() || recipients.iter().any(|r| !r.is_ascii());
    if utf8 {
        if !keywords.iter().any(|k| k == "SMTPUTF8") {
            return Err(SendError::Permanent(
                "the next hop does not accept internationalised addresses (SMTPUTF8)".into(),
            ));
        }
        mail.push_str(" SMTPUTF8");
    }
    let reply = session.command(&mail)?;
    if !reply.is_positive() {
        let _ = session.command("QUIT");
        return Err(classify(&reply, "MAIL FROM"));
    }
    let mut sent = Sent::default();
    let mut waiting = Vec::new();
    for recipient in recipients {
        let reply = session.command(&format!("RCPT TO:<{recipient}>"))?;
        if reply.is_positive() {
            waiting.push(recipient.clone());
        } else if reply.code >= 500 {
            sent.permanent.push((recipient.clone(), reply.summary()));
        } else {
            sent.temporary.push((recipient.clone(), reply.summary()));
        }
    }
    if waiting.is_empty() {
        let _ = session.command("QUIT");
        return Ok(sent);
    }
    let reply = session.command("DATA")?;
    if reply.code != 354 {
        let _ = session.command("QUIT");
        return Err(classify(&reply, "DATA"));
    }
    session.data(message)?;
    let reply = session.reply("the reply to the message")?;
    // QUIT without waiting for its reply: once the server said 250 to the
    // message, every moment before the spool forgets the delivery is a
    // moment in which a crash makes a duplicate.
    session.quit();
    if reply.is_positive() {
        sent.accepted = waiting;
    } else if reply.code >= 500 {
        sent.permanent
            .extend(waiting.into_iter().map(|r| (r, reply.summary())));
    } else {
        sent.temporary
            .extend(waiting.into_iter().map(|r| (r, reply.summary())));
    }
    Ok(sent)
}

/// A plain TCP connection to `server` (`HOST:PORT`) with `timeout` for
/// every read and write.
pub(crate) fn connect_plain(server: &str, timeout: Duration) -> Result<TcpStream, SendError> {
    let address = server
        .to_socket_addrs()
        .map_err(|e| SendError::Temporary(format!("resolving {server}: {e}")))?
        .next()
        .ok_or_else(|| SendError::Temporary(format!("{server} has no address")))?;
    let stream = TcpStream::connect_timeout(&address, Duration::from_secs(30))
        .map_err(|e| SendError::Temporary(format!("connecting to {address}: {e}")))?;
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    Ok(stream)
}

/// Why [`submit`] did not hand a message over. The texts are those of the
/// SMTP exchange, for a log line or a reply to someone else's client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The transaction failed as a whole for now (the server cannot be
    /// reached, a 4xx to MAIL or DATA, a malformed reply): try again later.
    #[error("{0}")]
    Temporary(String),
    /// The transaction failed as a whole for good (a 5xx to MAIL or DATA, a
    /// message that cannot be sent as it is).
    #[error("{0}")]
    Permanent(String),
    /// The server refused a recipient (the first refused, temporary
    /// refusals first).
    #[error("{server} refused {recipient}: {reply}")]
    Refused {
        /// The server submitted to (`HOST:PORT`).
        server: String,
        /// The recipient it refused.
        recipient: String,
        /// Its reply.
        reply: String,
        /// Whether the reply was a 5xx.
        permanent: bool,
    },
}

impl SubmitError {
    /// Whether trying again later may succeed.
    pub fn is_temporary(&self) -> bool {
        match self {
            SubmitError::Temporary(_) => true,
            SubmitError::Permanent(_) => false,
            SubmitError::Refused { permanent, .. } => !permanent,
        }
    }
}

impl From<SendError> for SubmitError {
    fn from(error: SendError) -> SubmitError {
        match error {
            SendError::Temporary(text) => SubmitError::Temporary(text),
            SendError::Permanent(text) => SubmitError::Permanent(text),
        }
    }
}

/// Submits one message over plain SMTP to `server` (`HOST:PORT`): for mail
/// the gateway itself sends on a trusted local path, such as a password
/// notification handed to the MTA's reinjection port. `Ok` only when every
/// recipient was accepted.
///
/// ```no_run
/// let notification = b"From: postmaster@behoerde.example\r\nSubject: Password\r\n\r\n...\r\n";
/// mailgate_relay::submit(
///     "127.0.0.1:10026",
///     "mx.behoerde.example",
///     "",
///     &["alice@behoerde.example".to_owned()],
///     notification,
///     std::time::Duration::from_secs(60),
/// )?;
/// # Ok::<(), mailgate_relay::SubmitError>(())
/// ```
pub fn submit(
    server: &str,
    ehlo_name: &str,
    sender: &str,
    recipients: &[String],
    message: &[u8],
    timeout: Duration,
) -> Result<(), SubmitError> {
    let mut stream = connect_plain(server, timeout)?;
    let sent = send(&mut stream, false, ehlo_name, sender, recipients, message)?;
    let refused = |(recipient, reply): &(String, String), permanent: bool| SubmitError::Refused {
        server: server.to_owned(),
        recipient: recipient.clone(),
        reply: reply.clone(),
        permanent,
    };
    match (sent.temporary.first(), sent.permanent.first()) {
        (None, None) => Ok(()),
        (Some(temporary), _) => Err(refused(temporary, false)),
        (None, Some(permanent)) => Err(refused(permanent, true)),
    }
}

fn classify(reply: &Reply, stage: &str) -> SendError {
    let text = format!("{stage}: {}", reply.summary());
    if reply.code >= 500 {
        SendError::Permanent(text)
    } else {
        SendError::Temporary(text)
    }
}

struct ClientSession<'s, S: Read + Write> {
    stream: &'s mut S,
    buffer: Vec<u8>,
}

impl<S: Read + Write> ClientSession<'_, S> {
    fn command(&mut self, line: &str) -> Result<Reply, SendError> {
        let io = |e: io::Error| SendError::Temporary(format!("sending {line}: {e}"));
        // One write per command: two small writes meet Nagle's algorithm
        // and the peer's delayed ACK, 40 ms a command.
        self.stream
            .write_all(format!("{line}\r\n").as_bytes())
            .map_err(io)?;
        self.stream.flush().map_err(io)?;
        self.reply(line)
    }

    fn quit(&mut self) {
        let _ = self.stream.write_all(b"QUIT\r\n");
        let _ = self.stream.flush();
    }

    fn reply(&mut self, what: &str) -> Result<Reply, SendError> {
        loop {
            match parse_reply(&self.buffer) {
                Ok(Some((reply, used))) => {
                    self.buffer.drain(..used);
                    return Ok(reply);
                }
                Ok(None) => {}
                Err(error) => {
                    return Err(SendError::Temporary(format!(
                        "malformed reply to {what}: {error}"
                    )));
                }
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).map_err(|e| {
                SendError::Temporary(format!("waiting for the reply to {what}: {e}"))
            })?;
            if n == 0 {
                return Err(SendError::Temporary(format!(
                    "the next hop closed the connection before replying to {what}"
                )));
            }
            self.buffer
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        }
    }

    /// The message with CRLF line ends and dot-stuffing, then the final dot.
    ///
    /// Every line end goes out as CR LF: a bare LF and a bare CR each become
    /// CR LF (a CR LF stays one line end). So whatever the gateway made of a
    /// message (a decrypted body, a report, mail received before this rule),
    /// the next hop sees `CR LF . CR LF` only at the end, and a next hop that
    /// also ends a message at `LF . LF`, `CR . CR` or the like cannot be
    /// made to see a second message in it (SMTP smuggling, CVE-2023-51764).
    /// A dot at the start of any of these lines is doubled.
    fn data(&mut self, message: &[u8]) -> Result<(), SendError> {
        let io = |e: io::Error| SendError::Temporary(format!("sending the message: {e}"));
        let mut out = BufWriter::with_capacity(64 * 1024, &mut *self.stream);
        write_data(&mut out, message).map_err(io)?;
        out.flush().map_err(io)
    }
}

/// Why a message cannot go out over SMTP as it is, if it cannot: a NUL
/// byte, which SMTP mail data may not hold without BINARYMIME (RFC 6152
/// section 2) and which a next hop that drops NULs would turn `CR LF NUL .
/// CR LF` into the end of the message with.
pub(crate) fn unsendable(message: &[u8]) -> Option<&'static str> {
    memchr::memchr(0, message)
        .map(|_| "the message contains a NUL byte, which SMTP cannot carry (RFC 6152 section 2)")
}

/// `message` as SMTP mail data (RFC 5321 section 4.5.2): every line end as
/// CR LF (bare CR and bare LF included), dots at line starts doubled, and
/// `CR LF . CR LF` at the end.
pub(crate) fn write_data<W: Write>(out: &mut W, message: &[u8]) -> io::Result<()> {
    // Each turn starts a line.
    let mut rest = message;
    while !rest.is_empty() {
        if rest.first() == Some(&b'.') {
            out.write_all(b".")?;
        }
        let (line, next) = match memchr::memchr2(b'\r', b'\n', rest) {
            // CR LF is one line end; a CR or an LF alone is one too.
            Some(end) if rest.get(end..end + 2) == Some(b"\r\n") => (end, end + 2),
            Some(end) => (end, end + 1),
            None => (rest.len(), rest.len()),
        };
        out.write_all(rest.get(..line).unwrap_or_default())?;
        out.write_all(b"\r\n")?;
        rest = rest.get(next..).unwrap_or_default();
    }
    out.write_all(b".\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scripted server: its replies in order, and what the client wrote.
    struct Scripted {
        replies: io::Cursor<Vec<u8>>,
        written: Vec<u8>,
    }

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.replies.read(buf)
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn script(replies: &str) -> Scripted {
        Scripted {
            replies: io::Cursor::new(replies.as_bytes().to_vec()),
            written: Vec::new(),
        }
    }

    #[test]
    fn recipients_are_sorted_by_the_servers_answers_and_dots_are_stuffed() {
        let mut server = script(
            "220 mx\r\n250-mx\r\n250 8BITMIME\r\n250 ok\r\n250 ok\r\n450 busy\r\n550 no such user\r\n\
             354 go\r\n250 queued\r\n221 bye\r\n",
        );
        let recipients = ["a@x.example", "b@x.example", "c@x.example"].map(String::from);
        let sent = send(
            &mut server,
            false,
            "relay.test",
            "s@y.example",
            &recipients,
            b"Subject: x\n\n.dot\nend",
        )
        .unwrap();
        assert_eq!(sent.accepted, ["a@x.example"]);
        assert_eq!(sent.temporary[0].0, "b@x.example");
        assert_eq!(
            sent.permanent[0],
            ("c@x.example".into(), "550 no such user".into())
        );
        let written = String::from_utf8(server.written).unwrap();
        assert!(
            written.contains("DATA\r\nSubject: x\r\n\r\n..dot\r\nend\r\n.\r\nQUIT\r\n"),
            "{written}"
        );
    }

    #[test]
    fn whole_transaction_failures_are_classified() {
        let recipients = ["a@x.example".to_owned()];
        let mut refused = script("554 go away\r\n");
        assert!(matches!(
            send(&mut refused, false, "r", "s@y", &recipients, b"m"),
            Err(SendError::Permanent(_))
        ));
        let mut busy = script("220 mx\r\n250 mx\r\n451 try later\r\n221 bye\r\n");
        assert!(matches!(
            send(&mut busy, false, "r", "s@y", &recipients, b"m"),
            Err(SendError::Temporary(_))
        ));
        let mut vanished = script("220 mx\r\n250 mx\r\n250 ok\r\n");
        assert!(matches!(
            send(&mut vanished, false, "r", "s@y", &recipients, b"m"),
            Err(SendError::Temporary(_))
        ));
        let mut garbage = script("hello\r\n");
        assert!(matches!(
            send(&mut garbage, false, "r", "s@y", &recipients, b"m"),
            Err(SendError::Temporary(_))
        ));
    }
}
