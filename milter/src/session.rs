//! One milter conversation: commands in, responses out, the filter called
//! at the end of each mail.

use std::io::{Read, Write};

use crate::command::Command;
use crate::decision::{Decision, Filter};
use crate::error::Error;
use crate::mail::{Mail, strip_brackets};
use crate::modifications::modifications;
use crate::negotiation::{Actions, Negotiation, Protocol};
use crate::response::{Reply, Response};
use crate::wire::{read_packet, write_packet};

/// Limits of one conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest mail (header and body) the filter is given. A larger one
    /// is refused with `552 5.3.4`: a gateway must not pass on what it could
    /// not inspect.
    pub max_message_size: usize,
}

impl Default for Limits {
    /// 64 MiB: above every common MTA's default message size limit
    /// (Postfix: 10 MB).
    fn default() -> Limits {
        Limits {
            max_message_size: 64 * 1024 * 1024,
        }
    }
}

/// Serves one MTA connection until it quits or fails.
///
/// ```
/// use mailgate_milter::{Command, Decision, Filter, Limits, Mail, Negotiation, Protocol, Actions, serve_connection};
///
/// struct PassAll;
/// impl Filter for PassAll {
///     fn end_of_message(&self, _mail: &Mail) -> Decision {
///         Decision::Accept
///     }
/// }
///
/// // What an MTA would send: negotiation, then quit.
/// let mut input = Vec::new();
/// for command in [
///     Command::Negotiate(Negotiation { version: 6, actions: Actions::from_bits(0x1ff), protocol: Protocol::from_bits(0x1fffff) }),
///     Command::Quit,
/// ] {
///     let (code, data) = command.encode();
///     input.extend_from_slice(&(data.len() as u32 + 1).to_be_bytes());
///     input.push(code);
///     input.extend_from_slice(&data);
/// }
/// let mut stream = std::io::Cursor::new(input);
/// let mut output = Vec::new();
/// serve_connection(&PassAll, Limits::default(), &mut stream, &mut output)?;
/// assert_eq!(output[4], b'O'); // the negotiation answer
/// # Ok::<(), mailgate_milter::Error>(())
/// ```
pub fn serve_connection<F, R, W>(
    filter: &F,
    limits: Limits,
    reader: &mut R,
    writer: &mut W,
) -> Result<(), Error>
where
    F: Filter + ?Sized,
    R: Read,
    W: Write,
{
    let mut session = Session {
        filter,
        limits,
        agreed: None,
        connection: Mail::default(),
        mail: None,
        too_big: false,
    };
    while let Some((code, data)) = read_packet(reader)? {
        let command = Command::parse(code, &data)?;
        drop(data);
        if matches!(command, Command::Quit) {
            return Ok(());
        }
        for response in session.handle(command, code)? {
            let (code, data) = response.encode();
            write_packet(writer, code, &data)?;
        }
        writer.flush()?;
    }
    Ok(())
}

struct Session<'f, F: Filter + ?Sized> {
    filter: &'f F,
    limits: Limits,
    agreed: Option<Negotiation>,
    /// Connection-level facts (client, connect and HELO macros); each mail
    /// starts as a copy.
    connection: Mail,
    mail: Option<Mail>,
    too_big: bool,
}

impl<F: Filter + ?Sized> Session<'_, F> {
    fn handle(&mut self, command: Command, code: u8) -> Result<Vec<Response>, Error> {
        let agreed = match (&command, self.agreed) {
            (Command::Negotiate(offer), _) => {
                if offer.version < 2 {
                    return Err(Error::Version(offer.version));
                }
                let answer = Negotiation::answer(offer);
                self.agreed = Some(answer);
                self.connection.leading_space =
                    answer.protocol.contains(Protocol::HEADER_LEADING_SPACE);
                return Ok(vec![Response::Negotiate(answer)]);
            }
            (_, Some(agreed)) => agreed,
            (_, None) => {
                return Err(Error::OutOfOrder {
                    command: char::from(code),
                    reason: "option negotiation must come first",
                });
            }
        };
        let reply_unless = |flag: Protocol| {
            if agreed.protocol.contains(flag) {
                Vec::new()
            } else {
                vec![Response::Continue]
            }
        };
        Ok(match command {
            Command::Negotiate(_) | Command::Quit => Vec::new(),
            Command::Macros { macros, .. } => {
                let target = self.mail.as_mut().unwrap_or(&mut self.connection);
                target.macros.extend(macros);
                Vec::new()
            }
            Command::Connect { hostname, address } => {
                self.connection.client = Some((hostname, address));
                reply_unless(Protocol::NO_REPLY_CONNECT)
            }
            Command::Helo(_) => reply_unless(Protocol::NO_REPLY_HELO),
            Command::Mail(arguments) => {
                let mut mail = self.connection.clone();
                mail.sender = arguments
                    .first()
                    .map(|a| strip_brackets(a))
                    .unwrap_or_default();
                self.mail = Some(mail);
                self.too_big = false;
                reply_unless(Protocol::NO_REPLY_MAIL)
            }
            Command::Recipient(arguments) => {
                let mail = self.current_mail(code)?;
                if let Some(recipient) = arguments.first() {
                    mail.recipients.push(strip_brackets(recipient));
                }
                reply_unless(Protocol::NO_REPLY_RECIPIENT)
            }
            Command::Data => reply_unless(Protocol::NO_REPLY_DATA),
            Command::Unknown(_) => reply_unless(Protocol::NO_REPLY_UNKNOWN),
            Command::Header { name, value } => {
                let max = self.limits.max_message_size;
                let mail = self.current_mail(code)?;
                if mail.body_start.is_some() {
                    return Err(Error::OutOfOrder {
                        command: 'L',
                        reason: "header field after the end of the header",
                    });
                }
                if mail.message.len() + name.len() + value.len() + 4 > max {
                    self.too_big = true;
                } else {
                    mail.push_header(name, value);
                }
                reply_unless(Protocol::NO_REPLY_HEADER)
            }
            Command::EndOfHeaders => {
                self.current_mail(code)?.end_headers();
                reply_unless(Protocol::NO_REPLY_END_OF_HEADERS)
            }
            Command::Body(chunk) => {
                self.append_body(&chunk, code)?;
                reply_unless(Protocol::NO_REPLY_BODY)
            }
            Command::EndOfMessage(chunk) => {
                self.append_body(&chunk, code)?;
                let mail = self.mail.take().ok_or(Error::OutOfOrder {
                    command: 'E',
                    reason: "end of message without MAIL FROM",
                })?;
                let too_big = std::mem::take(&mut self.too_big);
                self.end_of_message(&mail, agreed, too_big)
            }
            Command::Abort => {
                self.mail = None;
                self.too_big = false;
                Vec::new()
            }
            Command::QuitNewConnection => {
                let leading_space = self.connection.leading_space;
                self.connection = Mail {
                    leading_space,
                    ..Mail::default()
                };
                self.mail = None;
                self.too_big = false;
                Vec::new()
            }
        })
    }

    fn current_mail(&mut self, code: u8) -> Result<&mut Mail, Error> {
        self.mail.as_mut().ok_or(Error::OutOfOrder {
            command: char::from(code),
            reason: "no MAIL FROM before it",
        })
    }

    fn append_body(&mut self, chunk: &[u8], code: u8) -> Result<(), Error> {
        let max = self.limits.max_message_size;
        let already_too_big = self.too_big;
        let mail = self.current_mail(code)?;
        // Some MTAs leave out end-of-headers when asked not to send it.
        mail.end_headers();
        if already_too_big || mail.message.len() + chunk.len() > max {
            self.too_big = true;
        } else {
            mail.message.extend_from_slice(chunk);
        }
        Ok(())
    }

    fn end_of_message(&self, mail: &Mail, agreed: Negotiation, too_big: bool) -> Vec<Response> {
        if too_big {
            return refuse(
                552,
                "5.3.4",
                "message too big for the mail gateway to inspect",
            );
        }
        // Every spelling of a mailbox must get one decision: an envelope
        // address the gateway cannot reduce to its canonical form (percent
        // hack, address literal, no address) is refused before the filter
        // judges it. A milter can only refuse the whole mail.
        let refused = mail
            .canonical_sender()
            .err()
            .or_else(|| mail.canonical_recipients().err());
        if let Some(error) = refused {
            return refuse(
                553,
                "5.1.3",
                &format!("envelope address refused: {}", error.describe()),
            );
        }
        match self.filter.end_of_message(mail) {
            Decision::Accept => vec![Response::Continue],
            Decision::Refuse(reply) => vec![Response::Reply(reply)],
            Decision::Replace {
                message,
                quarantine,
            } => {
                let mut responses = match modifications(mail, &message, mail.leading_space) {
                    Ok(responses) => responses,
                    Err(_) => {
                        return refuse(
                            451,
                            "4.3.0",
                            "the mail gateway produced a malformed message",
                        );
                    }
                };
                let needed = responses.iter().fold(Actions::NONE, |needed, response| {
                    needed
                        | match response {
                            Response::AddHeader { .. } => Actions::ADD_HEADERS,
                            Response::ChangeHeader { .. } => Actions::CHANGE_HEADERS,
                            Response::ReplaceBody(_) => Actions::CHANGE_BODY,
                            _ => Actions::NONE,
                        }
                });
                let needed = match quarantine {
                    Some(_) => needed | Actions::QUARANTINE,
                    None => needed,
                };
                if !agreed.actions.contains(needed) {
                    // Passing the mail on unchanged would send it unprotected.
                    return refuse(
                        451,
                        "4.3.5",
                        "the MTA does not allow the mail gateway to change this mail",
                    );
                }
                if let Some(reason) = quarantine {
                    responses.push(Response::Quarantine(reason));
                }
                responses.push(Response::Continue);
                responses
            }
        }
    }
}

fn refuse(code: u16, status: &str, text: &str) -> Vec<Response> {
    match Reply::new(code, status, text) {
        Ok(reply) => vec![Response::Reply(reply)],
        Err(_) => vec![Response::Tempfail],
    }
}
