//! The receiving side: an ESMTP server (RFC 5321) that answers 250 to DATA
//! only once the message is in the spool.
//!
//! Extensions: PIPELINING (RFC 2920: replies are flushed only when the
//! client has nothing more buffered), 8BITMIME (RFC 6152), SIZE (RFC 1870),
//! SMTPUTF8 (RFC 6531: addresses are kept as UTF-8), ENHANCEDSTATUSCODES.

use std::io::{self, BufReader, BufWriter, Read, Write};

use mailgate_spool::{Envelope, Spool, SpoolError};

use self::input::{Command, DataReader, ReadError, read_command};

mod input;

/// The most recipients of one message (RFC 5321 section 4.5.3.1.8: at
/// least 100).
pub(crate) const MAX_RECIPIENTS: usize = 1000;

/// What the SMTP server is told about itself.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The name in the greeting and the EHLO reply.
    pub hostname: String,
    /// The largest message accepted (also announced with SIZE).
    pub max_message_size: u64,
    /// Who may submit mail in this session (default: anyone).
    pub submission: crate::access::Submission,
    /// Which recipient domains are accepted (default: any).
    pub recipients: AcceptedDomains,
    /// Which envelope sender domains are accepted (default: any; the null
    /// sender always is).
    pub senders: AcceptedDomains,
}

/// The domains a relay accepts as recipients or as envelope senders.
///
/// An inbound relay takes mail from anyone on the internet, so it must take
/// it only for the organisation's own domains, or it is an open relay that
/// passes anyone's mail on (RFC 5321 section 3.6.2; Postfix's
/// `reject_unauth_destination`): other recipients get `554 5.7.1` at RCPT.
/// An outbound relay sends the organisation's mail, and its notifications
/// and bounces go to the envelope sender: a sender outside the
/// organisation's domains would receive them, with the header of mail the
/// policy kept from leaving in clear, so such a sender gets `553 5.7.1` at
/// MAIL.
#[derive(Clone, Default)]
pub enum AcceptedDomains {
    /// Any domain: [`serve_client`]'s default.
    #[default]
    Any,
    /// Only domains for which the predicate holds (the policy's
    /// `internal_domains`, read at each command so a reload counts).
    Only(std::sync::Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl AcceptedDomains {
    fn accepts(&self, domain: &str) -> bool {
        match self {
            AcceptedDomains::Any => true,
            AcceptedDomains::Only(accepts) => accepts(domain),
        }
    }
}

impl std::fmt::Debug for AcceptedDomains {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AcceptedDomains::Any => "Any",
            AcceptedDomains::Only(_) => "Only(..)",
        })
    }
}

/// Serves one SMTP client over `reader`/`writer`, receiving its messages
/// into `spool` and calling `spooled` for each once it is on disk (after
/// which the client gets its 250). Ends when the client quits or goes away.
///
/// ```
/// use mailgate_relay::{ServerSettings, serve_client};
///
/// let dir = tempfile::tempdir()?;
/// let spool = mailgate_spool::Spool::open(dir.path())?;
/// let settings = ServerSettings {
///     hostname: "relay.example".into(),
///     max_message_size: 1 << 20,
///     submission: Default::default(),
///     recipients: Default::default(),
///     senders: Default::default(),
/// };
/// let client = "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nHi\r\n.\r\nQUIT\r\n";
/// let mut replies = Vec::new();
/// serve_client(&settings, &spool, client.as_bytes(), &mut replies, |_| {})?;
/// assert!(String::from_utf8_lossy(&replies).contains("250 2.0.0 queued as"));
/// assert_eq!(spool.received()?.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn serve_client<R: Read, W: Write>(
    settings: &ServerSettings,
    spool: &Spool,
    reader: R,
    writer: W,
    mut spooled: impl FnMut(&mailgate_spool::MessageId),
) -> io::Result<()> {
    let mut reader = BufReader::with_capacity(64 * 1024, reader);
    let mut writer = BufWriter::new(writer);
    greet(settings, &mut writer)?;
    session(
        settings,
        spool,
        &mut reader,
        &mut writer,
        Tls::NotOffered,
        &mut spooled,
    )
    .map(|_| ())
}

/// Whether the session offers STARTTLS or already runs over TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tls {
    /// No STARTTLS (no certificate configured).
    NotOffered,
    /// STARTTLS is offered.
    Offered,
    /// The session runs over TLS already.
    Active,
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The client quit or went away.
    Closed,
    /// The client asked for STARTTLS and got 220: the caller runs the TLS
    /// handshake and a new session over it (RFC 3207).
    StartTls,
}

/// The greeting.
pub(crate) fn greet<W: Write>(settings: &ServerSettings, writer: &mut W) -> io::Result<()> {
    write!(writer, "220 {} ESMTP mailgate relay\r\n", settings.hostname)?;
    writer.flush()
}

/// Commands until the client quits, goes away, or starts TLS.
pub(crate) fn session<R: Read, W: Write>(
    settings: &ServerSettings,
    spool: &Spool,
    reader: &mut BufReader<R>,
    writer: &mut W,
    tls: Tls,
    spooled: &mut impl FnMut(&mailgate_spool::MessageId),
) -> io::Result<Ending> {
    let mut session = Session::default();
    // Outside `session`: a new EHLO starts a new transaction, not a new
    // login.
    let mut submitter = crate::access::Submitter::new(&settings.submission);
    let mut line = Vec::new();
    loop {
        match read_command(reader, &mut line) {
            Ok(Command::Line) => {}
            Ok(Command::Closed) => return Ok(Ending::Closed),
            Err(ReadError::Io(error)) => return Err(error),
            Err(ReadError::Violation(violation)) => {
                // Every violation of a command line ends the session.
                reply(writer, violation.reply().0)?;
                writer.flush()?;
                return Ok(Ending::Closed);
            }
        }
        let text = String::from_utf8_lossy(&line);
        let text = &*text;
        let (verb, argument) = match text.split_once(' ') {
            Some((verb, rest)) => (verb.to_ascii_uppercase(), rest.trim()),
            None => (text.to_ascii_uppercase(), ""),
        };
        match verb.as_str() {
            "EHLO" | "HELO" if argument.is_empty() => {
                reply(writer, "501 5.5.4 a domain or address is required")?;
            }
            "EHLO" => {
                session = Session {
                    greeted: true,
                    ..Session::default()
                };
                write!(
                    writer,
                    "250-{} greets {argument}\r\n250-PIPELINING\r\n250-8BITMIME\r\n\
                     250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n{}{}250 SIZE {}\r\n",
                    settings.hostname,
                    if tls == Tls::Offered {
                        "250-STARTTLS\r\n"
                    } else {
                        ""
                    },
                    submitter.ehlo_line(tls),
                    settings.max_message_size
                )?;
            }
            "HELO" => {
                session = Session {
                    greeted: true,
                    ..Session::default()
                };
                write!(writer, "250 {}\r\n", settings.hostname)?;
            }
            "MAIL" => {
                let response = session.mail(
                    argument,
                    settings.max_message_size,
                    &submitter,
                    &settings.senders,
                );
                reply(writer, &response)?;
            }
            "AUTH" => {
                let in_transaction = session.sender.is_some();
                let response = submitter.auth(argument, tls, in_transaction, reader, writer)?;
                reply(writer, &response)?;
            }
            "RCPT" => {
                let response = session.recipient(argument, &settings.recipients);
                reply(writer, &response)?;
            }
            "DATA" => {
                if !argument.is_empty() {
                    reply(writer, "501 5.5.4 DATA takes no argument")?;
                } else if session.sender.is_none() {
                    reply(writer, "503 5.5.1 MAIL first")?;
                } else if session.recipients.is_empty() {
                    reply(writer, "554 5.5.1 no valid recipients")?;
                } else {
                    reply(writer, "354 end data with <CR><LF>.<CR><LF>")?;
                    writer.flush()?;
                    let envelope = Envelope {
                        sender: session.sender.take().unwrap_or_default(),
                        recipients: std::mem::take(&mut session.recipients),
                        first_received: None,
                    };
                    let mut data = DataReader::new(&mut *reader);
                    let result = spool.receive(&envelope, &mut data);
                    // Whatever happened, read up to the final dot so the
                    // next command is where the client expects it.
                    let drained = data.drain();
                    if let Some(violation) = data.violation() {
                        // Nothing of this message was spooled (the reader
                        // failed the spool's read).
                        let (text, fatal) = violation.reply();
                        if fatal {
                            reply(writer, text)?;
                            writer.flush()?;
                            return Ok(Ending::Closed);
                        }
                        drained?;
                        reply(writer, text)?;
                    } else {
                        match result {
                            Ok(id) => {
                                drained?;
                                spooled(&id);
                                write!(writer, "250 2.0.0 queued as {id}\r\n")?;
                            }
                            Err(SpoolError::TooBig { limit }) => {
                                drained?;
                                write!(writer, "552 5.3.4 message larger than {limit} bytes\r\n")?;
                            }
                            Err(SpoolError::Input(error)) => return Err(error),
                            Err(_) => {
                                drained?;
                                reply(
                                    writer,
                                    "451 4.3.0 the spool is not writable, try again later",
                                )?;
                            }
                        }
                    }
                }
            }
            "RSET" => {
                session.sender = None;
                session.recipients.clear();
                reply(writer, "250 2.0.0 reset")?;
            }
            "NOOP" => reply(writer, "250 2.0.0 ok")?,
            "VRFY" => reply(writer, "252 2.5.0 cannot verify, send mail and see")?,
            "HELP" => reply(writer, "214 2.0.0 see RFC 5321")?,
            "QUIT" => {
                reply(writer, "221 2.0.0 bye")?;
                writer.flush()?;
                return Ok(Ending::Closed);
            }
            "STARTTLS" => match tls {
                Tls::NotOffered => reply(writer, "502 5.5.1 STARTTLS is not offered here")?,
                Tls::Active => reply(writer, "503 5.5.1 TLS is already active")?,
                Tls::Offered if !argument.is_empty() => {
                    reply(writer, "501 5.5.4 STARTTLS takes no argument")?;
                }
                Tls::Offered => {
                    reply(writer, "220 2.0.0 ready to start TLS")?;
                    writer.flush()?;
                    return Ok(Ending::StartTls);
                }
            },
            _ => reply(writer, "500 5.5.2 command not recognized")?,
        }
        // PIPELINING: answer in batches, as the client sends them.
        if reader.buffer().is_empty() {
            writer.flush()?;
        }
    }
}

fn reply<W: Write>(writer: &mut W, line: &str) -> io::Result<()> {
    writer.write_all(line.as_bytes())?;
    writer.write_all(b"\r\n")
}

#[derive(Debug, Default)]
struct Session {
    greeted: bool,
    sender: Option<String>,
    recipients: Vec<String>,
}

impl Session {
    fn mail(
        &mut self,
        argument: &str,
        max_size: u64,
        submitter: &crate::access::Submitter<'_>,
        senders: &AcceptedDomains,
    ) -> String {
        if !self.greeted {
            return "503 5.5.1 EHLO first".into();
        }
        if self.sender.is_some() {
            return "503 5.5.1 nested MAIL".into();
        }
        // Who may submit at all, before anything else is looked at.
        if let Some(refusal) = submitter.refusal(None) {
            return refusal;
        }
        let Some(rest) = strip_keyword(argument, "FROM:") else {
            return "501 5.5.4 syntax: MAIL FROM:<address>".into();
        };
        let (path, parameters) = match split_path(rest) {
            Ok(parts) => parts,
            Err(message) => return message,
        };
        for parameter in parameters.split_whitespace() {
            let (key, value) = parameter.split_once('=').unwrap_or((parameter, ""));
            match key.to_ascii_uppercase().as_str() {
                "SIZE" => match value.parse::<u64>() {
                    Ok(size) if size > max_size => {
                        return format!("552 5.3.4 message larger than {max_size} bytes");
                    }
                    Ok(_) => {}
                    Err(_) => return "501 5.5.4 SIZE needs a number".into(),
                },
                "BODY" if matches!(value.to_ascii_uppercase().as_str(), "7BIT" | "8BITMIME") => {}
                "SMTPUTF8" if value.is_empty() => {}
                _ => return format!("555 5.5.4 unsupported parameter {key}"),
            }
        }
        // The gateway signs with the key of this address.
        if let Some(refusal) = submitter.refusal(Some(&path)) {
            return refusal;
        }
        if let Some((_, domain)) = path.rsplit_once('@')
            && !senders.accepts(domain)
        {
            return "553 5.7.1 sender not in a domain of this organisation".into();
        }
        self.sender = Some(path);
        self.recipients.clear();
        "250 2.1.0 sender ok".into()
    }

    fn recipient(&mut self, argument: &str, domains: &AcceptedDomains) -> String {
        if self.sender.is_none() {
            return "503 5.5.1 MAIL first".into();
        }
        let Some(rest) = strip_keyword(argument, "TO:") else {
            return "501 5.5.4 syntax: RCPT TO:<address>".into();
        };
        let (path, parameters) = match split_path(rest) {
            Ok(parts) => parts,
            Err(message) => return message,
        };
        if !parameters.trim().is_empty() {
            return "555 5.5.4 RCPT parameters are not supported".into();
        }
        let Some((_, domain)) = path.rsplit_once('@') else {
            return "553 5.1.3 a recipient address is required".into();
        };
        if !domains.accepts(domain) {
            return "554 5.7.1 relay access denied: not a domain of this organisation".into();
        }
        if self.recipients.len() >= MAX_RECIPIENTS {
            return "452 4.5.3 too many recipients".into();
        }
        self.recipients.push(path);
        "250 2.1.5 recipient ok".into()
    }
}

/// `FROM:` or `TO:` at the start, any case, spaces after it allowed.
fn strip_keyword<'a>(argument: &'a str, keyword: &str) -> Option<&'a str> {
    let head = argument.get(..keyword.len())?;
    head.eq_ignore_ascii_case(keyword).then(|| {
        argument
            .get(keyword.len()..)
            .unwrap_or_default()
            .trim_start()
    })
}

/// `<path> parameters`: the address inside the brackets in its canonical
/// form ([`mail_message::Mailbox`]: source route dropped, domain lower-case
/// A-labels without trailing dot, minimal quoting; `""` for the null path)
/// and the rest. A path that is no mailbox is `501 5.1.3`; one refused on
/// purpose (percent hack, `!` path, address literal) is `553 5.1.3`. The
/// input is never echoed.
fn split_path(text: &str) -> Result<(String, &str), String> {
    let rest = text
        .strip_prefix('<')
        .ok_or("501 5.1.7 the address must be in angle brackets")?;
    let end = rest
        .find('>')
        .ok_or("501 5.1.7 the address must be in angle brackets")?;
    let path = rest.get(..end).unwrap_or_default();
    let parameters = rest.get(end + 1..).unwrap_or_default();
    if path.is_empty() {
        return Ok((String::new(), parameters));
    }
    match mail_message::Mailbox::parse(path) {
        Ok(mailbox) => Ok((mailbox.as_str().to_owned(), parameters)),
        Err(error) => Err(format!(
            "{} 5.1.3 {}",
            if error.is_refused_form() { 553 } else { 501 },
            error.describe()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ServerSettings {
        ServerSettings {
            hostname: "relay.test".into(),
            max_message_size: 1000,
            submission: Default::default(),
            recipients: Default::default(),
            senders: Default::default(),
        }
    }

    /// Runs a whole client dialogue; returns the replies and the spool.
    fn converse(input: &str) -> (String, Spool, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap().with_max_message_size(1000);
        let mut output = Vec::new();
        serve_client(&settings(), &spool, input.as_bytes(), &mut output, |_| {}).unwrap();
        (String::from_utf8(output).unwrap(), spool, dir)
    }

    #[test]
    fn a_pipelined_transaction_is_spooled_with_dots_unstuffed() {
        let (replies, spool, _dir) = converse(
            "EHLO client.test\r\nMAIL FROM:<alice@behoerde.example> SIZE=100 BODY=8BITMIME\r\n\
             RCPT TO:<bob@partner.example>\r\nRCPT TO:<carol@extern.example>\r\nDATA\r\n\
             Subject: hi\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n",
        );
        assert!(replies.contains("250-PIPELINING\r\n"), "{replies}");
        assert!(replies.contains("250 SIZE 1000\r\n"), "{replies}");
        assert!(replies.contains("250 2.0.0 queued as "), "{replies}");
        let ids = spool.received().unwrap();
        let (envelope, message) = spool.read_received(&ids[0]).unwrap();
        assert_eq!(envelope.sender, "alice@behoerde.example");
        assert_eq!(
            envelope.recipients,
            ["bob@partner.example", "carol@extern.example"]
        );
        assert_eq!(message, b"Subject: hi\r\n\r\n.leading dot\r\n");
    }

    #[test]
    fn wrong_order_and_bad_syntax_get_the_rfc_codes() {
        let (replies, spool, _dir) = converse(
            "MAIL FROM:<a@b.example>\r\nEHLO c\r\nRCPT TO:<x@y.example>\r\nMAIL FROM:a@b.example\r\n\
             MAIL FROM:<a@b.example> SIZE=5000\r\nMAIL FROM:<a@b.example> FOO=1\r\nMAIL FROM:<>\r\n\
             RCPT TO:<>\r\nDATA\r\nBOGUS\r\nQUIT\r\n",
        );
        let codes: Vec<&str> = replies.lines().map(|l| &l[..3]).collect();
        assert_eq!(
            codes,
            [
                "220", "503", "250", "250", "250", "250", "250", "250", "503", "501", "552", "555",
                "250", "553", "554", "500", "221"
            ],
            "{replies}"
        );
        assert!(spool.received().unwrap().is_empty());
    }

    #[test]
    fn an_oversized_message_is_refused_and_the_session_goes_on() {
        let big = "x".repeat(2000);
        let (replies, spool, _dir) = converse(&format!(
            "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n{big}\r\n.\r\n\
             MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\nsmall\r\n.\r\nQUIT\r\n"
        ));
        assert!(replies.contains("552 5.3.4"), "{replies}");
        assert!(replies.contains("250 2.0.0 queued"), "{replies}");
        assert_eq!(spool.received().unwrap().len(), 1);
    }

    #[test]
    fn a_client_that_vanishes_in_data_gets_nothing_spooled() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let input =
            "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\nhalf a mess";
        let result = serve_client(&settings(), &spool, input.as_bytes(), Vec::new(), |_| {});
        assert!(result.is_err());
        assert!(spool.received().unwrap().is_empty());
    }
}
