//! What the MTA sends (`SMFIC_*`), parsed into types.

use crate::error::Error;
use crate::negotiation::{Actions, Negotiation, Protocol};
use crate::wire::{push_nul, split_nul, take_u32, text};

/// Where the SMTP client connected from (`SMFIC_CONNECT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientAddress {
    /// The MTA did not say (family `U`).
    Unknown,
    /// A Unix-domain socket (family `L`), by path.
    Unix(String),
    /// IPv4 (family `4`).
    V4 {
        /// The address as the MTA wrote it.
        address: String,
        /// The client's port.
        port: u16,
    },
    /// IPv6 (family `6`).
    V6 {
        /// The address as the MTA wrote it (Sendmail prefixes `IPv6:`).
        address: String,
        /// The client's port.
        port: u16,
    },
}

/// One command from the MTA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `O`: the MTA's offer; answered with the milter's choice.
    Negotiate(Negotiation),
    /// `D`: macros for the next command (`stage` is that command's code).
    Macros {
        /// The command the macros belong to.
        stage: u8,
        /// Name (braces removed: `daemon_name`, `i`) and value.
        macros: Vec<(String, String)>,
    },
    /// `C`: a new SMTP connection.
    Connect {
        /// The client's host name (or `[address]` when it has none).
        hostname: String,
        /// The client's address.
        address: ClientAddress,
    },
    /// `H`: HELO or EHLO.
    Helo(String),
    /// `M`: MAIL FROM; the address (angle brackets as sent) and ESMTP
    /// parameters.
    Mail(Vec<String>),
    /// `R`: RCPT TO; the address and ESMTP parameters.
    Recipient(Vec<String>),
    /// `T`: DATA.
    Data,
    /// `L`: one header field.
    Header {
        /// The field name.
        name: String,
        /// The value; folded lines are separated by `\n`.
        value: Vec<u8>,
    },
    /// `N`: end of the header.
    EndOfHeaders,
    /// `B`: a body chunk, with CRLF line breaks.
    Body(Vec<u8>),
    /// `E`: end of the message (some MTAs send a last body chunk with it).
    EndOfMessage(Vec<u8>),
    /// `A`: forget the current message (the connection goes on).
    Abort,
    /// `Q`: close the connection.
    Quit,
    /// `K`: forget the connection; a new one follows on this socket.
    QuitNewConnection,
    /// `U`: an SMTP command the MTA did not know.
    Unknown(Vec<u8>),
}

impl Command {
    /// Parses a packet's command code and data.
    pub fn parse(code: u8, data: &[u8]) -> Result<Command, Error> {
        let no_data = |command: Command| {
            if data.is_empty() {
                Ok(command)
            } else {
                Err(Error::Malformed(
                    "unexpected data after a command without data",
                ))
            }
        };
        match code {
            b'O' => {
                let (version, rest) = take_u32(data)?;
                let (actions, rest) = take_u32(rest)?;
                let (protocol, _) = take_u32(rest)?;
                Ok(Command::Negotiate(Negotiation {
                    version,
                    actions: Actions::from_bits(actions),
                    protocol: Protocol::from_bits(protocol),
                }))
            }
            b'D' => {
                let (&stage, rest) = data
                    .split_first()
                    .ok_or(Error::Malformed("macro packet without a stage"))?;
                let strings = split_nul(rest)?;
                if strings.len() % 2 != 0 {
                    return Err(Error::Malformed("macro name without a value"));
                }
                let macros = strings
                    .chunks_exact(2)
                    .map(|pair| match pair {
                        [name, value] => Ok((
                            macro_name(&text(name)?).to_owned(),
                            String::from_utf8_lossy(value).into_owned(),
                        )),
                        _ => Err(Error::Malformed("macro pair")),
                    })
                    .collect::<Result<_, Error>>()?;
                Ok(Command::Macros { stage, macros })
            }
            b'C' => parse_connect(data),
            b'H' => Ok(Command::Helo(single_string(data)?)),
            b'M' => Ok(Command::Mail(strings(data)?)),
            b'R' => Ok(Command::Recipient(strings(data)?)),
            b'T' => no_data(Command::Data),
            b'L' => match split_nul(data)?.as_slice() {
                [name, value] => {
                    let name = text(name)?;
                    if name.is_empty()
                        || name.bytes().any(|b| !(33..=126).contains(&b) || b == b':')
                    {
                        return Err(Error::Malformed("header field name"));
                    }
                    Ok(Command::Header {
                        name,
                        value: value.to_vec(),
                    })
                }
                _ => Err(Error::Malformed("header packet is not name and value")),
            },
            b'N' => no_data(Command::EndOfHeaders),
            b'B' => Ok(Command::Body(data.to_vec())),
            b'E' => Ok(Command::EndOfMessage(data.to_vec())),
            b'A' => no_data(Command::Abort),
            b'Q' => no_data(Command::Quit),
            b'K' => no_data(Command::QuitNewConnection),
            b'U' => Ok(Command::Unknown(
                split_nul(data)?
                    .first()
                    .map(|s| s.to_vec())
                    .unwrap_or_default(),
            )),
            other => Err(Error::UnknownCommand(char::from(other))),
        }
    }

    /// The packet's command code and data (what an MTA sends; used to test
    /// milters without an MTA).
    pub fn encode(&self) -> (u8, Vec<u8>) {
        let mut data = Vec::new();
        let code = match self {
            Command::Negotiate(offer) => {
                data.extend_from_slice(&offer.version.to_be_bytes());
                data.extend_from_slice(&offer.actions.bits().to_be_bytes());
                data.extend_from_slice(&offer.protocol.bits().to_be_bytes());
                b'O'
            }
            Command::Macros { stage, macros } => {
                data.push(*stage);
                for (name, value) in macros {
                    let name = if name.chars().count() > 1 {
                        format!("{{{name}}}")
                    } else {
                        name.clone()
                    };
                    push_nul(&mut data, name.as_bytes());
                    push_nul(&mut data, value.as_bytes());
                }
                b'D'
            }
            Command::Connect { hostname, address } => {
                push_nul(&mut data, hostname.as_bytes());
                match address {
                    ClientAddress::Unknown => data.push(b'U'),
                    ClientAddress::Unix(path) => {
                        data.push(b'L');
                        data.extend_from_slice(&0u16.to_be_bytes());
                        push_nul(&mut data, path.as_bytes());
                    }
                    ClientAddress::V4 { address, port } => {
                        data.push(b'4');
                        data.extend_from_slice(&port.to_be_bytes());
                        push_nul(&mut data, address.as_bytes());
                    }
                    ClientAddress::V6 { address, port } => {
                        data.push(b'6');
                        data.extend_from_slice(&port.to_be_bytes());
                        push_nul(&mut data, address.as_bytes());
                    }
                }
                b'C'
            }
            Command::Helo(name) => {
                push_nul(&mut data, name.as_bytes());
                b'H'
            }
            Command::Mail(args) | Command::Recipient(args) => {
                for arg in args {
                    push_nul(&mut data, arg.as_bytes());
                }
                if matches!(self, Command::Mail(_)) {
                    b'M'
                } else {
                    b'R'
                }
            }
            Command::Data => b'T',
            Command::Header { name, value } => {
                push_nul(&mut data, name.as_bytes());
                push_nul(&mut data, value);
                b'L'
            }
            Command::EndOfHeaders => b'N',
            Command::Body(chunk) => {
                data.extend_from_slice(chunk);
                b'B'
            }
            Command::EndOfMessage(chunk) => {
                data.extend_from_slice(chunk);
                b'E'
            }
            Command::Abort => b'A',
            Command::Quit => b'Q',
            Command::QuitNewConnection => b'K',
            Command::Unknown(line) => {
                push_nul(&mut data, line);
                b'U'
            }
        };
        (code, data)
    }
}

/// `{daemon_name}` and `daemon_name` are the same macro.
fn macro_name(name: &str) -> &str {
    name.strip_prefix('{')
        .and_then(|n| n.strip_suffix('}'))
        .unwrap_or(name)
}

fn strings(data: &[u8]) -> Result<Vec<String>, Error> {
    let strings = split_nul(data)?
        .into_iter()
        .map(text)
        .collect::<Result<Vec<_>, _>>()?;
    if strings.is_empty() {
        return Err(Error::Malformed("MAIL or RCPT without an address"));
    }
    Ok(strings)
}

fn single_string(data: &[u8]) -> Result<String, Error> {
    match split_nul(data)?.as_slice() {
        [one] => text(one),
        _ => Err(Error::Malformed("expected one string")),
    }
}

fn parse_connect(data: &[u8]) -> Result<Command, Error> {
    let nul = data
        .iter()
        .position(|b| *b == 0)
        .ok_or(Error::Malformed("connect without a host name"))?;
    let (hostname, rest) = data.split_at(nul);
    let hostname = text(hostname)?;
    let rest = rest.get(1..).unwrap_or_default();
    let (&family, rest) = rest
        .split_first()
        .ok_or(Error::Malformed("connect without an address family"))?;
    if family == b'U' {
        return Ok(Command::Connect {
            hostname,
            address: ClientAddress::Unknown,
        });
    }
    let (port, rest) = rest
        .split_first_chunk::<2>()
        .ok_or(Error::Malformed("connect without a port"))?;
    let port = u16::from_be_bytes(*port);
    let address = single_string(rest)?;
    let address = match family {
        b'L' => ClientAddress::Unix(address),
        b'4' => ClientAddress::V4 { address, port },
        b'6' => ClientAddress::V6 { address, port },
        _ => return Err(Error::Malformed("unknown address family")),
    };
    Ok(Command::Connect { hostname, address })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn round_trip(command: &Command) -> Command {
        let (code, data) = command.encode();
        Command::parse(code, &data).unwrap()
    }

    #[test]
    fn postfix_connect_and_macros_parse() {
        let connect = Command::parse(b'C', b"client.example\0\x34\x30\x39127.0.0.1\0").unwrap();
        assert_eq!(
            connect,
            Command::Connect {
                hostname: "client.example".into(),
                address: ClientAddress::V4 {
                    address: "127.0.0.1".into(),
                    port: 0x3039
                }
            }
        );
        let macros = Command::parse(b'D', b"C{daemon_name}\0ORIGINATING\0j\0mx\0").unwrap();
        assert_eq!(
            macros,
            Command::Macros {
                stage: b'C',
                macros: vec![
                    ("daemon_name".into(), "ORIGINATING".into()),
                    ("j".into(), "mx".into())
                ]
            }
        );
    }

    #[test]
    fn malformed_packets_are_errors() {
        for (code, data) in [
            (b'O', b"\0\0\0\x06".as_slice()),
            (b'D', b""),
            (b'D', b"Cname\0"),
            (b'C', b"host"),
            (b'C', b"host\0\x34\x30"),
            (b'C', b"host\0X\0\0a\0"),
            (b'M', b""),
            (b'M', b"<a@b>"),
            (b'M', b"\xff\0"),
            (b'L', b"Subject\0"),
            (b'L', b"Sub ject\0x\0"),
            (b'L', b"\0x\0"),
            (b'T', b"x"),
            (b'H', b"a\0b\0"),
        ] {
            assert!(Command::parse(code, data).is_err(), "{}", code as char);
        }
        assert!(matches!(
            Command::parse(b'Z', b""),
            Err(Error::UnknownCommand('Z'))
        ));
    }

    fn arb_text() -> impl Strategy<Value = String> {
        "[^\0]{0,12}"
    }

    fn arb_command() -> impl Strategy<Value = Command> {
        prop_oneof![
            (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(v, a, p)| Command::Negotiate(
                Negotiation {
                    version: v,
                    actions: Actions::from_bits(a),
                    protocol: Protocol::from_bits(p)
                }
            )),
            (
                any::<u8>(),
                prop::collection::vec(("[a-z_]{1,8}", arb_text()), 0..4)
            )
                .prop_map(|(stage, macros)| Command::Macros { stage, macros }),
            (arb_text(), arb_text(), any::<u16>(), 0..4u8).prop_map(|(hostname, a, port, f)| {
                let address = match f {
                    0 => ClientAddress::Unknown,
                    1 => ClientAddress::Unix(a),
                    2 => ClientAddress::V4 { address: a, port },
                    _ => ClientAddress::V6 { address: a, port },
                };
                Command::Connect { hostname, address }
            }),
            arb_text().prop_map(Command::Helo),
            prop::collection::vec(arb_text(), 1..4).prop_map(Command::Mail),
            prop::collection::vec(arb_text(), 1..4).prop_map(Command::Recipient),
            Just(Command::Data),
            ("[!-9;-~]{1,10}", prop::collection::vec(1..=255u8, 0..20))
                .prop_map(|(name, value)| Command::Header { name, value }),
            Just(Command::EndOfHeaders),
            prop::collection::vec(any::<u8>(), 0..64).prop_map(Command::Body),
            prop::collection::vec(any::<u8>(), 0..64).prop_map(Command::EndOfMessage),
            Just(Command::Abort),
            Just(Command::Quit),
            Just(Command::QuitNewConnection),
            prop::collection::vec(1..=255u8, 0..20).prop_map(Command::Unknown),
        ]
    }

    proptest! {
        #[test]
        fn commands_round_trip(command in arb_command()) {
            prop_assert_eq!(round_trip(&command), command);
        }

        #[test]
        fn arbitrary_packets_never_panic(code in any::<u8>(), data in prop::collection::vec(any::<u8>(), 0..64)) {
            let _ = Command::parse(code, &data);
        }
    }
}
