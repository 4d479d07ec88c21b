//! What the milter answers (`SMFIR_*`).

use std::fmt;

use crate::error::Error;
use crate::negotiation::{Actions, Negotiation, Protocol};
use crate::wire::{push_nul, split_nul, take_u32, text};

/// The longest reply text: an SMTP reply line is at most 512 bytes with
/// code, enhanced status and CRLF (RFC 5321 section 4.5.3.1.5).
const MAX_REPLY_TEXT: usize = 480;

/// An SMTP reply the MTA gives the client instead of its own: a 4xx or 5xx
/// code, an RFC 3463 enhanced status of the same class, and one line of text.
///
/// ```
/// use mailgate_milter::Reply;
///
/// let reply = Reply::permanent("5.7.1", "encryption required, no certificate for bob@partner.example")?;
/// assert_eq!(reply.to_string(), "550 5.7.1 encryption required, no certificate for bob@partner.example");
/// assert!(Reply::temporary("5.7.1", "class mismatch").is_err());
/// # Ok::<(), mailgate_milter::ReplyError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    status: String,
    text: String,
}

/// A reply that SMTP cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid SMTP reply: {0}")]
pub struct ReplyError(&'static str);

impl Reply {
    /// A temporary failure (`451`): the client keeps the mail and retries.
    pub fn temporary(status: &str, text: &str) -> Result<Reply, ReplyError> {
        Reply::new(451, status, text)
    }

    /// A permanent failure (`550`): the client bounces the mail to its
    /// sender.
    pub fn permanent(status: &str, text: &str) -> Result<Reply, ReplyError> {
        Reply::new(550, status, text)
    }

    /// Any 4xx or 5xx reply. `status` is an enhanced status code whose class
    /// (`4.` or `5.`) matches `code`. Line breaks and control characters in
    /// `text` become spaces; overlong text is cut at a character boundary.
    pub fn new(code: u16, status: &str, text: &str) -> Result<Reply, ReplyError> {
        if !(400..600).contains(&code) {
            return Err(ReplyError("the code must be 4xx or 5xx"));
        }
        let mut parts = status.split('.');
        let class = parts.next();
        let well_formed = parts.clone().count() == 2
            && parts
                .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
        let class_matches = class == Some(if code < 500 { "4" } else { "5" });
        if !well_formed || !class_matches {
            return Err(ReplyError(
                "the enhanced status must be class.subject.detail of the code's class",
            ));
        }
        let mut clean = String::new();
        for c in text.chars() {
            let c = if c.is_control() { ' ' } else { c };
            if clean.len() + c.len_utf8() > MAX_REPLY_TEXT {
                break;
            }
            clean.push(c);
        }
        Ok(Reply {
            code,
            status: status.to_owned(),
            text: clean.trim().to_owned(),
        })
    }

    /// `451 4.3.0`: the reply when nothing more specific can be said.
    pub fn try_again_later() -> Reply {
        Reply {
            code: 451,
            status: "4.3.0".to_owned(),
            text: "temporary failure in the mail gateway, try again later".to_owned(),
        }
    }

    /// The reply code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// Whether the client should retry.
    pub fn is_temporary(&self) -> bool {
        self.code < 500
    }

    /// The text of the reply.
    pub fn text(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.code, self.status, self.text)
    }
}

/// One response from the milter.
///
/// There is deliberately no *discard*: a gateway that silently drops mail
/// loses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// `O`: the milter's side of the negotiation.
    Negotiate(Negotiation),
    /// `c`: go on (at end of message: deliver, with the modifications sent).
    Continue,
    /// `a`: accept the mail without further milter calls.
    Accept,
    /// `t`: temporary failure with the MTA's default text.
    Tempfail,
    /// `r`: rejection with the MTA's default text.
    Reject,
    /// `y`: rejection or temporary failure with our reply.
    Reply(Reply),
    /// `h`: add a header field at the end.
    AddHeader {
        /// Field name.
        name: String,
        /// Value; folded lines separated by `\n`.
        value: Vec<u8>,
    },
    /// `i`: insert a header field before the `index`-th (0: first).
    InsertHeader {
        /// Position.
        index: u32,
        /// Field name.
        name: String,
        /// Value.
        value: Vec<u8>,
    },
    /// `m`: change the `index`-th (from 1) field called `name`; an empty
    /// value deletes it.
    ChangeHeader {
        /// Which of the fields with this name.
        index: u32,
        /// Field name.
        name: String,
        /// New value, empty to delete.
        value: Vec<u8>,
    },
    /// `b`: a chunk of the new body (all chunks replace the old body).
    ReplaceBody(Vec<u8>),
    /// `q`: put the mail on hold with a reason.
    Quarantine(String),
    /// `p`: still working; resets the MTA's timeout.
    Progress,
}

impl Response {
    /// The packet's response code and data.
    pub fn encode(&self) -> (u8, Vec<u8>) {
        let mut data = Vec::new();
        let code = match self {
            Response::Negotiate(answer) => {
                data.extend_from_slice(&answer.version.to_be_bytes());
                data.extend_from_slice(&answer.actions.bits().to_be_bytes());
                data.extend_from_slice(&answer.protocol.bits().to_be_bytes());
                b'O'
            }
            Response::Continue => b'c',
            Response::Accept => b'a',
            Response::Tempfail => b't',
            Response::Reject => b'r',
            Response::Reply(reply) => {
                // libmilter's smfi_setreply: a '%' is a format character to
                // the MTA, so it is doubled.
                push_nul(&mut data, reply.to_string().replace('%', "%%").as_bytes());
                b'y'
            }
            Response::AddHeader { name, value } => {
                push_nul(&mut data, name.as_bytes());
                push_nul(&mut data, value);
                b'h'
            }
            Response::InsertHeader { index, name, value }
            | Response::ChangeHeader { index, name, value } => {
                data.extend_from_slice(&index.to_be_bytes());
                push_nul(&mut data, name.as_bytes());
                push_nul(&mut data, value);
                if matches!(self, Response::InsertHeader { .. }) {
                    b'i'
                } else {
                    b'm'
                }
            }
            Response::ReplaceBody(chunk) => {
                data.extend_from_slice(chunk);
                b'b'
            }
            Response::Quarantine(reason) => {
                push_nul(&mut data, reason.as_bytes());
                b'q'
            }
            Response::Progress => b'p',
        };
        (code, data)
    }

    /// Parses a response packet (what an MTA does; used in tests).
    pub fn parse(code: u8, data: &[u8]) -> Result<Response, Error> {
        let name_value = |data: &[u8]| -> Result<(String, Vec<u8>), Error> {
            match split_nul(data)?.as_slice() {
                [name, value] => Ok((text(name)?, value.to_vec())),
                _ => Err(Error::Malformed("header response is not name and value")),
            }
        };
        Ok(match code {
            b'O' => {
                let (version, rest) = take_u32(data)?;
                let (actions, rest) = take_u32(rest)?;
                let (protocol, _) = take_u32(rest)?;
                Response::Negotiate(Negotiation {
                    version,
                    actions: Actions::from_bits(actions),
                    protocol: Protocol::from_bits(protocol),
                })
            }
            b'c' => Response::Continue,
            b'a' => Response::Accept,
            b't' => Response::Tempfail,
            b'r' => Response::Reject,
            b'y' => {
                let line = match split_nul(data)?.as_slice() {
                    [line] => text(line)?.replace("%%", "%"),
                    _ => return Err(Error::Malformed("reply is not one string")),
                };
                let mut words = line.splitn(3, ' ');
                let code = words
                    .next()
                    .and_then(|c| c.parse().ok())
                    .ok_or(Error::Malformed("reply code"))?;
                let status = words.next().unwrap_or_default();
                let rest = words.next().unwrap_or_default();
                Response::Reply(
                    Reply::new(code, status, rest).map_err(|_| Error::Malformed("reply"))?,
                )
            }
            b'h' => {
                let (name, value) = name_value(data)?;
                Response::AddHeader { name, value }
            }
            b'i' | b'm' => {
                let (index, rest) = take_u32(data)?;
                let (name, value) = name_value(rest)?;
                if code == b'i' {
                    Response::InsertHeader { index, name, value }
                } else {
                    Response::ChangeHeader { index, name, value }
                }
            }
            b'b' => Response::ReplaceBody(data.to_vec()),
            b'q' => match split_nul(data)?.as_slice() {
                [reason] => Response::Quarantine(text(reason)?),
                _ => return Err(Error::Malformed("quarantine reason")),
            },
            b'p' => Response::Progress,
            other => return Err(Error::UnknownResponse(char::from(other))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn replies_are_sanitised_and_checked() {
        let reply = Reply::temporary("4.7.0", "line one\r\nline two: 100% sure").unwrap();
        assert_eq!(reply.to_string(), "451 4.7.0 line one  line two: 100% sure");
        let (code, data) = Response::Reply(reply.clone()).encode();
        assert_eq!(data, b"451 4.7.0 line one  line two: 100%% sure\0");
        assert_eq!(
            Response::parse(code, &data).unwrap(),
            Response::Reply(reply)
        );
        assert!(Reply::new(250, "2.0.0", "ok").is_err());
        assert!(Reply::new(550, "5.7", "short").is_err());
        assert!(Reply::new(550, "5.x.1", "letters").is_err());
        let long = Reply::permanent("5.7.1", &"ä".repeat(400)).unwrap();
        assert!(long.text().len() <= MAX_REPLY_TEXT);
    }

    fn arb_response() -> impl Strategy<Value = Response> {
        let value = prop::collection::vec(1..=255u8, 0..20);
        prop_oneof![
            Just(Response::Continue),
            Just(Response::Accept),
            Just(Response::Tempfail),
            Just(Response::Reject),
            Just(Response::Progress),
            ("[a-z ]{0,30}", any::<bool>()).prop_map(|(text, temporary)| {
                let reply = if temporary {
                    Reply::temporary("4.7.0", &text)
                } else {
                    Reply::permanent("5.7.1", &text)
                };
                Response::Reply(reply.unwrap())
            }),
            ("[!-9;-~]{1,10}", value.clone())
                .prop_map(|(name, value)| Response::AddHeader { name, value }),
            (any::<u32>(), "[!-9;-~]{1,10}", value.clone())
                .prop_map(|(index, name, value)| Response::InsertHeader { index, name, value }),
            (any::<u32>(), "[!-9;-~]{1,10}", value)
                .prop_map(|(index, name, value)| Response::ChangeHeader { index, name, value }),
            prop::collection::vec(any::<u8>(), 0..64).prop_map(Response::ReplaceBody),
            "[^\0]{0,20}".prop_map(Response::Quarantine),
        ]
    }

    proptest! {
        #[test]
        fn responses_round_trip(response in arb_response()) {
            let (code, data) = response.encode();
            prop_assert_eq!(Response::parse(code, &data).unwrap(), response);
        }
    }
}
