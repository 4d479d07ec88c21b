//! The receiving side: an ESMTP server (RFC 5321) that answers 250 to DATA
//! only once the message is in the spool.
//!
//! Extensions: PIPELINING (RFC 2920: replies are flushed only when the
//! client has nothing more buffered), 8BITMIME (RFC 6152), SIZE (RFC 1870),
//! SMTPUTF8 (RFC 6531: addresses are kept as UTF-8), ENHANCEDSTATUSCODES.

use std::io::{self, BufReader, BufWriter, Read, Write};

use mailgate_spool::{Envelope, Spool, SpoolError};

use self::header_check::{Checked, Rules};
use self::input::{Command, DataReader, ReadError, read_command};
use self::trace::{Protocol, Trace};

mod header_check;
mod input;
mod trace;

/// The most recipients of one message (RFC 5321 section 4.5.3.1.8: at
/// least 100).
pub(crate) const MAX_RECIPIENTS: usize = 1000;

/// What the SMTP server is told about itself and its client.
///
/// Build it from [`ServerSettings::default`] and set what differs:
///
/// ```
/// let settings = mailgate_relay::ServerSettings {
///     hostname: "relay.example".into(),
///     ..Default::default()
/// };
/// assert_eq!(settings.max_hops, 100);
/// ```
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// The name in the greeting, the EHLO reply and the `Received` field.
    pub hostname: String,
    /// The largest message accepted (also announced with SIZE; the
    /// relay's own `Received` field counts).
    pub max_message_size: u64,
    /// Who may submit mail in this session (default: anyone).
    pub submission: crate::access::Submission,
    /// Which recipient domains are accepted (default: any).
    pub recipients: AcceptedDomains,
    /// Which envelope sender domains are accepted (default: any; the null
    /// sender always is).
    pub senders: AcceptedDomains,
    /// The client's address, for the `Received` field (none: not over
    /// TCP).
    pub peer: Option<std::net::IpAddr>,
    /// Where `RCPT TO:<Postmaster>` (no domain, any case; RFC 5321 section
    /// 4.5.1) goes; default `postmaster@` the host name.
    pub postmaster: Option<String>,
    /// A message that would hold this many `Received` fields or more,
    /// the relay's own included (so it arrived with one fewer), is refused
    /// with `554 5.4.6` at the end of DATA (RFC 5321 section 6.3: loop
    /// detection, a threshold of "at least 100"); 0: no limit. Default 100.
    /// Postfix's `hopcount_limit` (default 50) counts the same way.
    pub max_hops: usize,
    /// Refuse at the end of DATA (`554 5.6.0`) a message whose header holds
    /// a field RFC 5322 allows once twice. Right for outbound mail, which
    /// the gateway would reject with a notification; an inbound gateway
    /// quarantines such mail instead, so an inbound relay takes it.
    /// Default: true.
    pub refuse_duplicate_fields: bool,
    /// End the session with `554 5.5.0` when the client sends commands
    /// ahead of replies where RFC 2920 does not allow it: anything after
    /// EHLO, HELO, DATA, VRFY, EXPN, TURN or NOOP in one group, the message
    /// before the `354`, or any group at all without PIPELINING announced
    /// (Postfix's `smtpd_forbid_unauth_pipelining = yes`). Default: true.
    pub forbid_unauth_pipelining: bool,
    /// Over TCP: how long to wait before the greeting for a client that
    /// talks first (sendmail's `greet_pause`, Postfix's postscreen
    /// `postscreen_greet_wait`); such a client gets `554 5.5.0` and is
    /// disconnected. Zero (the default) delays nobody and refuses only
    /// what has arrived by the time the greeting is sent.
    pub greet_pause: std::time::Duration,
}

impl Default for ServerSettings {
    fn default() -> ServerSettings {
        ServerSettings {
            hostname: "localhost".into(),
            max_message_size: 64 * 1024 * 1024,
            submission: Default::default(),
            recipients: Default::default(),
            senders: Default::default(),
            peer: None,
            postmaster: None,
            max_hops: 100,
            refuse_duplicate_fields: true,
            forbid_unauth_pipelining: true,
            greet_pause: std::time::Duration::ZERO,
        }
    }
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
///     ..Default::default()
/// };
/// // A client that waits for each reply: one group of commands per read.
/// struct Client(Vec<&'static str>);
/// impl std::io::Read for Client {
///     fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
///         let Some(group) = self.0.pop() else { return Ok(0) };
///         buf[..group.len()].copy_from_slice(group.as_bytes());
///         Ok(group.len())
///     }
/// }
/// let mut groups = vec!["EHLO c\r\n", "MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n",
///     "Subject: hi\r\n\r\nHi\r\n.\r\nQUIT\r\n"];
/// groups.reverse();
/// let mut replies = Vec::new();
/// serve_client(&settings, &spool, Client(groups), &mut replies, |_| {})?;
/// assert!(String::from_utf8_lossy(&replies).contains("250 2.0.0 queued as"));
/// let (_, message) = spool.read_received(&spool.received()?[0])?;
/// assert!(message.starts_with(b"Received: from c\r\n\tby relay.example (mailgate relay) with ESMTP\r\n"));
///
/// // The same bytes in one piece: DATA was not the last command of its
/// // group (RFC 2920), so the session ends without a transaction.
/// let client = "EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nHi\r\n.\r\n";
/// let mut replies = Vec::new();
/// serve_client(&settings, &spool, client.as_bytes(), &mut replies, |_| {})?;
/// assert!(String::from_utf8_lossy(&replies).ends_with("554 5.5.0 protocol synchronization error: EHLO must be the last command of its group (RFC 2920)\r\n"));
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
        if let Some(why) = synchronization_error(settings, reader, &verb, &session) {
            // `verb` is one of `must_end_group`'s: no client text.
            reply(
                writer,
                &format!("554 5.5.0 protocol synchronization error: {why}"),
            )?;
            writer.flush()?;
            return Ok(Ending::Closed);
        }
        let mut context = Context {
            settings,
            spool,
            reader: &mut *reader,
            writer: &mut *writer,
            tls,
            session: &mut session,
            submitter: &mut submitter,
            spooled: &mut *spooled,
        };
        if let Some(ending) = answer_command(&mut context, &verb, argument)? {
            return Ok(ending);
        }
        // PIPELINING: answer in batches, as the client sends them.
        if reader.buffer().is_empty() {
            writer.flush()?;
        }
    }
}

/// Why the command `verb` breaks RFC 2920, if it does: what the client sent
/// behind it before it saw the reply is allowed only in a group of MAIL,
/// RCPT, RSET (and the like) after PIPELINING was announced.
fn synchronization_error<R: Read>(
    settings: &ServerSettings,
    reader: &BufReader<R>,
    verb: &str,
    session: &Session,
) -> Option<String> {
    if !settings.forbid_unauth_pipelining || reader.buffer().is_empty() {
        return None;
    }
    if must_end_group(verb) {
        Some(format!(
            "{verb} must be the last command of its group (RFC 2920)"
        ))
    } else if !session.pipelining {
        Some("commands sent ahead of replies without PIPELINING".to_owned())
    } else {
        None
    }
}

/// Everything one command may use or change.
struct Context<'s, 'a, R, W, S> {
    settings: &'s ServerSettings,
    spool: &'s Spool,
    reader: &'s mut BufReader<R>,
    writer: &'s mut W,
    tls: Tls,
    session: &'s mut Session,
    submitter: &'s mut crate::access::Submitter<'a>,
    spooled: &'s mut S,
}

/// Answers one command; `Some` when the session ends with it.
fn answer_command<R: Read, W: Write, S: FnMut(&mailgate_spool::MessageId)>(
    context: &mut Context<'_, '_, R, W, S>,
    verb: &str,
    argument: &str,
) -> io::Result<Option<Ending>> {
    let writer = &mut *context.writer;
    match verb {
        "EHLO" | "HELO" if argument.is_empty() => {
            reply(writer, "501 5.5.4 a domain or address is required")?;
        }
        "EHLO" => {
            *context.session = Session {
                greeted: true,
                pipelining: true,
                extended: true,
                helo: argument.to_owned(),
                ..Session::default()
            };
            write_ehlo_reply(
                writer,
                context.settings,
                context.tls,
                context.submitter,
                argument,
            )?;
        }
        "HELO" => {
            *context.session = Session {
                greeted: true,
                helo: argument.to_owned(),
                ..Session::default()
            };
            write!(writer, "250 {}\r\n", context.settings.hostname)?;
        }
        "MAIL" => {
            let response = context.session.mail(
                argument,
                context.settings.max_message_size,
                context.submitter,
                &context.settings.senders,
            );
            reply(writer, &response)?;
        }
        "AUTH" => {
            let in_transaction = context.session.sender.is_some();
            let response = context.submitter.auth(
                argument,
                context.tls,
                in_transaction,
                context.reader,
                writer,
            )?;
            reply(writer, &response)?;
        }
        "RCPT" => {
            let response = context.session.recipient(argument, context.settings);
            reply(writer, &response)?;
        }
        "DATA" => return data(context, argument),
        "RSET" => {
            context.session.sender = None;
            context.session.recipients.clear();
            reply(writer, "250 2.0.0 reset")?;
        }
        "NOOP" => reply(writer, "250 2.0.0 ok")?,
        "VRFY" => reply(writer, "252 2.5.0 cannot verify, send mail and see")?,
        "HELP" => reply(writer, "214 2.0.0 see RFC 5321")?,
        "QUIT" => {
            reply(writer, "221 2.0.0 bye")?;
            writer.flush()?;
            return Ok(Some(Ending::Closed));
        }
        "STARTTLS" => return starttls(writer, context.tls, argument),
        _ => reply(writer, "500 5.5.2 command not recognized")?,
    }
    Ok(None)
}

/// The EHLO reply: the extensions, STARTTLS only where offered, AUTH only
/// where the submitter may use it.
fn write_ehlo_reply<W: Write>(
    writer: &mut W,
    settings: &ServerSettings,
    tls: Tls,
    submitter: &crate::access::Submitter<'_>,
    argument: &str,
) -> io::Result<()> {
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
    )
}

/// STARTTLS: `Some(Ending::StartTls)` once the client was told to go ahead.
fn starttls<W: Write>(writer: &mut W, tls: Tls, argument: &str) -> io::Result<Option<Ending>> {
    match tls {
        Tls::NotOffered => reply(writer, "502 5.5.1 STARTTLS is not offered here")?,
        Tls::Active => reply(writer, "503 5.5.1 TLS is already active")?,
        Tls::Offered if !argument.is_empty() => {
            reply(writer, "501 5.5.4 STARTTLS takes no argument")?;
        }
        Tls::Offered => {
            reply(writer, "220 2.0.0 ready to start TLS")?;
            writer.flush()?;
            return Ok(Some(Ending::StartTls));
        }
    }
    Ok(None)
}

/// DATA: the checks before the `354`, then the message; `Some` when the
/// session ends with it.
fn data<R: Read, W: Write, S: FnMut(&mailgate_spool::MessageId)>(
    context: &mut Context<'_, '_, R, W, S>,
    argument: &str,
) -> io::Result<Option<Ending>> {
    let writer = &mut *context.writer;
    if !argument.is_empty() {
        reply(writer, "501 5.5.4 DATA takes no argument")?;
    } else if context.session.sender.is_none() {
        reply(writer, "503 5.5.1 MAIL first")?;
    } else if context.session.recipients.is_empty() {
        reply(writer, "554 5.5.1 no valid recipients")?;
    } else {
        reply(writer, "354 end data with <CR><LF>.<CR><LF>")?;
        writer.flush()?;
        return receive_message(context);
    }
    Ok(None)
}

/// The message after the `354`: spooled behind the relay's `Received`
/// field and the header check, then answered; `Some` when the session ends
/// with it.
fn receive_message<R: Read, W: Write, S: FnMut(&mailgate_spool::MessageId)>(
    context: &mut Context<'_, '_, R, W, S>,
) -> io::Result<Option<Ending>> {
    let settings = context.settings;
    let session = &mut *context.session;
    let recipients = std::mem::take(&mut session.recipients);
    // RFC 5321 section 4.4: the trace field goes on top of what is taken;
    // the header check counts it.
    let received = Trace {
        helo: &session.helo,
        peer: settings.peer,
        by: &settings.hostname,
        protocol: Protocol {
            extended: session.extended,
            tls: context.tls == Tls::Active,
            authenticated: context.submitter.authenticated(),
        },
        recipients: &recipients,
        date: std::time::SystemTime::now(),
    }
    .field();
    let envelope = Envelope {
        sender: session.sender.take().unwrap_or_default(),
        recipients,
        first_received: None,
    };
    let mut data = DataReader::new(&mut *context.reader);
    let rules = Rules {
        duplicates: settings.refuse_duplicate_fields,
        max_hops: settings.max_hops,
    };
    let mut checked = Checked::new(received.as_bytes(), &mut data, rules);
    let result = context.spool.receive(&envelope, &mut checked);
    let refusal = checked.refusal().cloned();
    // Whatever happened, read up to the final dot so the next command is
    // where the client expects it.
    let drained = data.drain();
    let writer = &mut *context.writer;
    if let Some(violation) = data.violation() {
        // Nothing of this message was spooled (the reader failed the
        // spool's read).
        let (text, fatal) = violation.reply();
        if fatal {
            reply(writer, text)?;
            writer.flush()?;
            return Ok(Some(Ending::Closed));
        }
        drained?;
        reply(writer, text)?;
    } else if let Some(refusal) = refusal {
        // Refused here, so the client keeps the message and tells its
        // sender: no bounce from us.
        drained?;
        reply(writer, &refusal.reply())?;
    } else {
        answer_spooled(writer, result, drained, context.spooled)?;
    }
    Ok(None)
}

/// The reply to a message the header check let through: `250` once it is
/// in the spool (and `spooled` was told), else why not.
fn answer_spooled<W: Write>(
    writer: &mut W,
    result: Result<mailgate_spool::MessageId, SpoolError>,
    drained: io::Result<()>,
    spooled: &mut impl FnMut(&mailgate_spool::MessageId),
) -> io::Result<()> {
    match result {
        Ok(id) => {
            drained?;
            spooled(&id);
            write!(writer, "250 2.0.0 queued as {id}\r\n")
        }
        Err(SpoolError::TooBig { limit }) => {
            drained?;
            write!(writer, "552 5.3.4 message larger than {limit} bytes\r\n")
        }
        Err(SpoolError::Input(error)) => Err(error),
        Err(_) => {
            drained?;
            reply(
                writer,
                "451 4.3.0 the spool is not writable, try again later",
            )
        }
    }
}

fn reply<W: Write>(writer: &mut W, line: &str) -> io::Result<()> {
    writer.write_all(line.as_bytes())?;
    writer.write_all(b"\r\n")
}

/// Commands after which RFC 2920 section 3.1 lets nothing follow in the
/// same group: their reply changes what the client must do next. (QUIT too,
/// but the session ends there anyway; STARTTLS is checked where TLS
/// starts.)
fn must_end_group(verb: &str) -> bool {
    matches!(
        verb,
        "EHLO" | "HELO" | "DATA" | "VRFY" | "EXPN" | "TURN" | "NOOP"
    )
}

#[derive(Debug, Default)]
struct Session {
    greeted: bool,
    /// PIPELINING was announced (an EHLO reply).
    pipelining: bool,
    /// The client said EHLO, not HELO.
    extended: bool,
    /// The argument of EHLO or HELO (for the `Received` field only).
    helo: String,
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

    fn recipient(&mut self, argument: &str, settings: &ServerSettings) -> String {
        if self.sender.is_none() {
            return "503 5.5.1 MAIL first".into();
        }
        let Some(rest) = strip_keyword(argument, "TO:") else {
            return "501 5.5.4 syntax: RCPT TO:<address>".into();
        };
        let (path, parameters) = match bare_postmaster(rest) {
            // RFC 5321 section 4.5.1: `<Postmaster>` without a domain, in
            // any case, must be accepted; it is this relay's postmaster,
            // whatever domains it takes mail for.
            Some(parameters) => (postmaster(settings), parameters),
            None => match split_path(rest) {
                Ok((path, parameters)) => {
                    let Some((_, domain)) = path.rsplit_once('@') else {
                        return "553 5.1.3 a recipient address is required".into();
                    };
                    if !settings.recipients.accepts(domain) {
                        return "554 5.7.1 relay access denied: not a domain of this organisation"
                            .into();
                    }
                    (path, parameters)
                }
                Err(message) => return message,
            },
        };
        if !parameters.trim().is_empty() {
            return "555 5.5.4 RCPT parameters are not supported".into();
        }
        if self.recipients.len() >= MAX_RECIPIENTS {
            return "452 4.5.3 too many recipients".into();
        }
        self.recipients.push(path);
        "250 2.1.5 recipient ok".into()
    }
}

/// The parameters after `<Postmaster>` (any case, no domain), if that is
/// the path.
fn bare_postmaster(text: &str) -> Option<&str> {
    let rest = text.strip_prefix('<')?;
    let end = rest.find('>')?;
    rest.get(..end)?
        .eq_ignore_ascii_case("postmaster")
        .then(|| rest.get(end + 1..).unwrap_or_default())
}

/// The address `<Postmaster>` stands for, in canonical form where it has
/// one.
fn postmaster(settings: &ServerSettings) -> String {
    let address = settings
        .postmaster
        .clone()
        .unwrap_or_else(|| format!("postmaster@{}", settings.hostname));
    mail_message::Mailbox::parse(&address).map_or(address, |m| m.as_str().to_owned())
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
            ..Default::default()
        }
    }

    /// A client that sends its groups one per read, as one that waits for
    /// the replies in between.
    struct Groups(std::collections::VecDeque<Vec<u8>>);

    impl Read for Groups {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let Some(mut group) = self.0.pop_front() else {
                return Ok(0);
            };
            let n = group.len().min(buf.len());
            buf[..n].copy_from_slice(&group[..n]);
            if n < group.len() {
                self.0.push_front(group.split_off(n));
            }
            Ok(n)
        }
    }

    /// Runs a whole client dialogue, groups separated by `|` (without one:
    /// a line per group); returns the replies and the spool.
    fn converse_with(settings: &ServerSettings, input: &str) -> (String, Spool, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap().with_max_message_size(1000);
        let groups: std::collections::VecDeque<Vec<u8>> = if input.contains('|') {
            input.split('|').map(|g| g.as_bytes().to_vec()).collect()
        } else {
            input
                .split_inclusive('\n')
                .map(|g| g.as_bytes().to_vec())
                .collect()
        };
        let mut output = Vec::new();
        let _ = serve_client(settings, &spool, Groups(groups), &mut output, |_| {});
        (String::from_utf8(output).unwrap(), spool, dir)
    }

    fn converse(input: &str) -> (String, Spool, tempfile::TempDir) {
        converse_with(&settings(), input)
    }

    /// The spooled message without the relay's `Received` field.
    fn without_trace(message: &[u8]) -> &[u8] {
        assert!(message.starts_with(b"Received: from "), "{message:?}");
        let mut at = 0;
        loop {
            let line_end = message[at..].windows(2).position(|w| w == b"\r\n").unwrap();
            let next = at + line_end + 2;
            if message.get(next) != Some(&b'\t') {
                return &message[next..];
            }
            at = next;
        }
    }

    #[test]
    fn a_pipelined_transaction_is_spooled_with_dots_unstuffed() {
        let (replies, spool, _dir) = converse(
            "EHLO client.test\r\n|MAIL FROM:<alice@behoerde.example> SIZE=100 BODY=8BITMIME\r\n\
             RCPT TO:<bob@partner.example>\r\nRCPT TO:<carol@extern.example>\r\nDATA\r\n|\
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
        assert_eq!(
            without_trace(&message),
            b"Subject: hi\r\n\r\n.leading dot\r\n"
        );
        // Two recipients: the trace field names neither.
        assert!(message.starts_with(
            b"Received: from client.test\r\n\tby relay.test (mailgate relay) with ESMTP;\r\n\t"
        ));
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
             MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\nSubject: s\r\n\r\nsmall\r\n.\r\nQUIT\r\n"
        ));
        assert!(replies.contains("552 5.3.4"), "{replies}");
        assert!(replies.contains("250 2.0.0 queued"), "{replies}");
        assert_eq!(spool.received().unwrap().len(), 1);
    }

    #[test]
    fn a_client_that_vanishes_in_data_gets_nothing_spooled() {
        let dir = tempfile::tempdir().unwrap();
        let spool = Spool::open(dir.path()).unwrap();
        let input = [
            "EHLO c\r\n",
            "MAIL FROM:<a@b.example>\r\nRCPT TO:<x@y.example>\r\nDATA\r\n",
            "half a mess",
        ];
        let groups = Groups(input.iter().map(|g| g.as_bytes().to_vec()).collect());
        let result = serve_client(&settings(), &spool, groups, Vec::new(), |_| {});
        assert!(result.is_err());
        assert!(spool.received().unwrap().is_empty());
    }
}
