//! Who may submit mail to the relay (issue 17, finding 4).
//!
//! An outbound relay signs with the key of the envelope sender, so a client
//! that may submit as anyone may sign as anyone. Outbound, only clients in
//! the configured networks ([`Network`], Postfix's `mynetworks`) or clients
//! that authenticated with SMTP AUTH over TLS against a credential file
//! ([`Credentials`]) may submit; everyone else gets `554 5.7.1` at MAIL. An
//! authenticated client may use only its own address or the senders its
//! line in the file names (`553 5.7.1` otherwise). Inbound relays take mail
//! from anyone ([`Submission::Anyone`]): inbound mail is never signed.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::IpAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use argon2::password_hash::{PasswordHash, PasswordVerifier};
use base64ct::{Base64, Encoding};
use mail_message::EmailAddress;

use crate::smtp_server::Tls;

/// A client network in CIDR notation (`192.0.2.0/24`, `2001:db8::/32`, or
/// one address), as in Postfix's `mynetworks`.
///
/// ```
/// use mailgate_relay::Network;
///
/// let loopback: Network = "127.0.0.0/8".parse()?;
/// assert!(loopback.contains("127.0.0.2".parse()?));
/// assert!(loopback.contains("::ffff:127.0.0.1".parse()?));
/// assert!(!loopback.contains("192.0.2.1".parse()?));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    address: IpAddr,
    prefix: u8,
}

/// What is wrong with a network, a credential file or one of its lines.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// Not `ADDRESS` or `ADDRESS/PREFIX` with a prefix that fits.
    #[error("`{0}` is not a network (ADDRESS/PREFIX, for example 192.0.2.0/24 or ::1/128)")]
    Network(String),
    /// The credential file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: io::Error,
    },
    /// A line of the credential file is malformed.
    #[error("line {line}: {message}")]
    Line {
        /// The line number (from 1).
        line: usize,
        /// What is wrong with it.
        message: String,
    },
}

impl Network {
    /// Whether `address` is inside this network (an IPv4-mapped IPv6
    /// address counts as its IPv4 address).
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical_ip(address);
        match (self.address, address) {
            (IpAddr::V4(network), IpAddr::V4(client)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(client) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(client)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(client) & mask
            }
            _ => false,
        }
    }

    /// The loopback networks, `127.0.0.0/8` and `::1/128`: the default of
    /// `mailgate relay`.
    pub fn loopback() -> Vec<Network> {
        vec![
            Network {
                address: IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 0)),
                prefix: 8,
            },
            Network {
                address: IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
                prefix: 128,
            },
        ]
    }
}

impl FromStr for Network {
    type Err = AccessError;

    fn from_str(text: &str) -> Result<Network, AccessError> {
        let invalid = || AccessError::Network(text.to_owned());
        let text = text.trim();
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        // `[::1]/128` as Postfix writes IPv6 networks.
        let address = address.trim_start_matches('[').trim_end_matches(']');
        let address = canonical_ip(address.parse::<IpAddr>().map_err(|_| invalid())?);
        let bits = if address.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix.parse::<u8>().map_err(|_| invalid())?,
            None => bits,
        };
        if prefix > bits {
            return Err(invalid());
        }
        Ok(Network { address, prefix })
    }
}

impl std::fmt::Display for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
pub(crate) fn canonical_ip(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// Who may submit mail in one SMTP session.
#[derive(Debug, Clone, Default)]
pub enum Submission {
    /// Anyone who connects: an inbound relay (mail from the internet to the
    /// organisation, never signed), and [`crate::serve_client`]'s default.
    #[default]
    Anyone,
    /// Only a trusted client (inside the configured networks) or one that
    /// authenticated over TLS: an outbound relay, which signs.
    Restricted {
        /// The client's address is inside the configured networks.
        client_trusted: bool,
        /// Accounts for SMTP AUTH (offered only over TLS); none: no AUTH.
        credentials: Option<Arc<Credentials>>,
    },
}

/// The accounts of a credential file: one line per account,
/// `LOGIN:HASH[:SENDER,SENDER...]`, where HASH is an Argon2 hash in the
/// PHC string format (`$argon2id$v=19$m=19456,t=2,p=1$...`, as the
/// `argon2` command prints it with `-e`) and each SENDER an address or
/// `@domain` the account may use as envelope sender besides its LOGIN (if
/// the login is an address). `#` starts a comment line.
///
/// ```
/// use mailgate_relay::Credentials;
///
/// let file = "# CRM\ncrm@behoerde.example:$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$6ecJvd5ADg0Ao8YeXlKPwQ:@noreply.behoerde.example\n";
/// let credentials = Credentials::parse(file)?;
/// assert_eq!(credentials.len(), 1);
/// # Ok::<(), mailgate_relay::AccessError>(())
/// ```
pub struct Credentials {
    accounts: HashMap<String, Arc<Account>>,
    /// A hash verified for unknown logins, so that the time an answer
    /// takes does not tell which logins exist.
    decoy: String,
    /// One verification at a time: Argon2 takes memory by design (19 MiB
    /// with the recommended parameters), and many clients verifying at
    /// once must not multiply it.
    verifying: Mutex<()>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("accounts", &self.accounts.len())
            .finish_non_exhaustive()
    }
}

/// One account of a credential file.
#[derive(Debug)]
pub(crate) struct Account {
    /// The login, as written.
    pub(crate) login: String,
    hash: String,
    /// Addresses this account may send as.
    addresses: Vec<EmailAddress>,
    /// Domains (lower case) whose addresses this account may send as.
    domains: Vec<String>,
}

impl Account {
    /// Whether this account may use `sender` as its envelope sender: any
    /// spelling of one of its mailboxes, or of an address in one of its
    /// domains, compared in the canonical form.
    pub(crate) fn may_send_as(&self, sender: &str) -> bool {
        let (Ok(address), Ok(mailbox)) = (
            sender.parse::<EmailAddress>(),
            mail_message::Mailbox::parse(sender),
        ) else {
            return false;
        };
        self.addresses.contains(&address) || self.domains.iter().any(|d| d == mailbox.domain())
    }
}

impl Credentials {
    /// Reads a credential file.
    pub fn load(path: &std::path::Path) -> Result<Credentials, AccessError> {
        let text = std::fs::read_to_string(path).map_err(|source| AccessError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Credentials::parse(&text)
    }

    /// Parses the text of a credential file (see [`Credentials`]).
    pub fn parse(text: &str) -> Result<Credentials, AccessError> {
        let mut accounts = HashMap::new();
        let mut decoy = None;
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |message: &str| AccessError::Line {
                line: index + 1,
                message: message.to_owned(),
            };
            let mut fields = line.splitn(3, ':');
            let login = fields.next().unwrap_or_default().trim();
            let hash = fields.next().unwrap_or_default().trim();
            let senders = fields.next().unwrap_or_default();
            if login.is_empty() {
                return Err(error("no login before the first ':'"));
            }
            if PasswordHash::new(hash).is_err() || !hash.starts_with("$argon2") {
                return Err(error(
                    "the hash is not an Argon2 hash in the PHC string format ($argon2id$v=19$...)",
                ));
            }
            let mut addresses = Vec::new();
            let mut domains = Vec::new();
            if let Ok(own) = login.parse::<EmailAddress>() {
                addresses.push(own);
            }
            for sender in senders.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                match sender.strip_prefix('@') {
                    Some(domain) if !domain.is_empty() && !domain.contains('@') => {
                        // Canonical (lower-case A-labels, no trailing dot),
                        // as `Mailbox::domain` gives a sender's.
                        let canonical = mail_message::canonical_domain(domain)
                            .map_err(|e| error(&format!("`{sender}`: {e}")))?;
                        domains.push(canonical);
                    }
                    Some(_) => return Err(error(&format!("`{sender}` is not @domain"))),
                    None => addresses.push(
                        sender
                            .parse::<EmailAddress>()
                            .map_err(|e| error(&format!("sender `{sender}`: {e}")))?,
                    ),
                }
            }
            decoy.get_or_insert_with(|| hash.to_owned());
            let account = Account {
                login: login.to_owned(),
                hash: hash.to_owned(),
                addresses,
                domains,
            };
            if accounts
                .insert(login.to_ascii_lowercase(), Arc::new(account))
                .is_some()
            {
                return Err(error(&format!("`{login}` appears twice")));
            }
        }
        Ok(Credentials {
            accounts,
            decoy: decoy.unwrap_or_default(),
            verifying: Mutex::new(()),
        })
    }

    /// The number of accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether the file has no account.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }

    /// The account `login` if `password` is its password.
    pub(crate) fn verify(&self, login: &str, password: &[u8]) -> Option<Arc<Account>> {
        let account = self.accounts.get(&login.to_ascii_lowercase());
        let hash = account.map_or(self.decoy.as_str(), |a| a.hash.as_str());
        let parsed = PasswordHash::new(hash).ok()?;
        let _one_at_a_time = self.verifying.lock().unwrap_or_else(|p| p.into_inner());
        let matches = argon2::Argon2::default()
            .verify_password(password, &parsed)
            .is_ok();
        drop(_one_at_a_time);
        account.filter(|_| matches).cloned()
    }
}

/// What a session knows about its client's right to submit.
#[derive(Debug)]
pub(crate) struct Submitter<'a> {
    submission: &'a Submission,
    /// The account the client authenticated as.
    account: Option<Arc<Account>>,
}

impl<'a> Submitter<'a> {
    pub(crate) fn new(submission: &'a Submission) -> Submitter<'a> {
        Submitter {
            submission,
            account: None,
        }
    }

    /// Whether the client authenticated (for the `Received` field).
    pub(crate) fn authenticated(&self) -> bool {
        self.account.is_some()
    }

    /// The EHLO line announcing AUTH, where AUTH is offered: only over TLS
    /// (RFC 4954 section 4: PLAIN and LOGIN send the password as it is).
    pub(crate) fn ehlo_line(&self, tls: Tls) -> &'static str {
        match self.submission {
            Submission::Restricted {
                credentials: Some(_),
                ..
            } if tls == Tls::Active && self.account.is_none() => "250-AUTH PLAIN LOGIN\r\n",
            _ => "",
        }
    }

    /// The refusal of MAIL, if this client may not submit at all (`sender`
    /// none) or may not use `sender`.
    pub(crate) fn refusal(&self, sender: Option<&str>) -> Option<String> {
        let Submission::Restricted { client_trusted, .. } = self.submission else {
            return None;
        };
        match (&self.account, sender) {
            // An authenticated client is held to its own senders even from
            // a trusted network: it said who it is.
            (Some(account), Some(sender)) if !account.may_send_as(sender) => Some(format!(
                "553 5.7.1 <{sender}>: sender address not owned by {}",
                account.login
            )),
            (Some(_), _) => None,
            (None, _) if *client_trusted => None,
            (None, _) => Some(
                "554 5.7.1 submission refused: this client is not in the relay's networks; \
                 authenticate (AUTH after STARTTLS)"
                    .to_owned(),
            ),
        }
    }

    /// The AUTH command (RFC 4954) with mechanism PLAIN (RFC 4616) or
    /// LOGIN: reads the client's responses from `reader` and returns the
    /// final reply.
    pub(crate) fn auth<R: Read, W: Write>(
        &mut self,
        argument: &str,
        tls: Tls,
        in_transaction: bool,
        reader: &mut BufReader<R>,
        writer: &mut W,
    ) -> io::Result<String> {
        let credentials = match self.submission {
            Submission::Restricted {
                credentials: Some(credentials),
                ..
            } => Arc::clone(credentials),
            _ => return Ok("502 5.5.1 AUTH is not offered here".into()),
        };
        if tls != Tls::Active {
            return Ok("538 5.7.11 encryption required: STARTTLS first".into());
        }
        if self.account.is_some() {
            return Ok("503 5.5.1 already authenticated".into());
        }
        if in_transaction {
            return Ok("503 5.5.1 AUTH is not allowed during a mail transaction".into());
        }
        let (mechanism, initial) = match argument.split_once(' ') {
            Some((mechanism, initial)) => (mechanism, Some(initial.trim())),
            None => (argument, None),
        };
        let (login, password) = match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(initial) => initial.to_owned(),
                    None => match challenge(reader, writer, "")? {
                        Some(response) => response,
                        None => return Ok(CANCELLED.into()),
                    },
                };
                let Some(decoded) = decode(&response) else {
                    return Ok(MALFORMED.into());
                };
                // authzid NUL authcid NUL passwd; acting for someone else
                // (an authzid other than the login) is not supported.
                let mut parts = decoded.splitn(3, |b| *b == 0);
                let (Some(authzid), Some(login), Some(password)) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Ok(MALFORMED.into());
                };
                if !authzid.is_empty() && authzid != login {
                    return Ok("535 5.7.8 authorization identity not allowed".into());
                }
                (login.to_vec(), zeroize::Zeroizing::new(password.to_vec()))
            }
            "LOGIN" => {
                let login = match initial {
                    Some(initial) => initial.to_owned(),
                    // "Username:" and "Password:", as every LOGIN server says.
                    None => match challenge(reader, writer, "VXNlcm5hbWU6")? {
                        Some(response) => response,
                        None => return Ok(CANCELLED.into()),
                    },
                };
                let Some(login) = decode(&login) else {
                    return Ok(MALFORMED.into());
                };
                let Some(password) = challenge(reader, writer, "UGFzc3dvcmQ6")? else {
                    return Ok(CANCELLED.into());
                };
                let Some(password) = decode(&password) else {
                    return Ok(MALFORMED.into());
                };
                (login, zeroize::Zeroizing::new(password))
            }
            _ => return Ok("504 5.5.4 mechanism not supported (PLAIN, LOGIN)".into()),
        };
        let Ok(login) = String::from_utf8(login) else {
            return Ok(INVALID.into());
        };
        match credentials.verify(&login, &password) {
            Some(account) => {
                tracing::info!(login = %account.login, "authenticated");
                self.account = Some(account);
                Ok("235 2.7.0 authentication successful".into())
            }
            None => {
                tracing::info!(%login, "authentication failed");
                Ok(INVALID.into())
            }
        }
    }
}

const CANCELLED: &str = "501 5.0.0 authentication cancelled";
const MALFORMED: &str = "501 5.5.2 malformed authentication response";
const INVALID: &str = "535 5.7.8 authentication credentials invalid";

/// The longest SASL response line read (RFC 4954 section 4: at least 12288
/// octets must be accepted).
const MAX_RESPONSE_LINE: u64 = 12_288 + 2;

/// Sends `334 CHALLENGE` and reads the client's response line; `None` when
/// the client cancels with `*`.
fn challenge<R: Read, W: Write>(
    reader: &mut BufReader<R>,
    writer: &mut W,
    challenge: &str,
) -> io::Result<Option<String>> {
    write!(writer, "334 {challenge}\r\n")?;
    writer.flush()?;
    let mut line = Vec::new();
    (&mut *reader)
        .take(MAX_RESPONSE_LINE)
        .read_until(b'\n', &mut line)?;
    // Only CRLF ends a line (no bare LF, as everywhere in this server).
    let Some(response) = line.strip_suffix(b"\r\n") else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "an authentication response without CRLF, or too long",
        ));
    };
    let response = String::from_utf8_lossy(response).trim().to_owned();
    Ok((response != "*").then_some(response))
}

fn decode(text: &str) -> Option<Vec<u8>> {
    if text == "=" {
        return Some(Vec::new());
    }
    Base64::decode_vec(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_match_by_prefix_and_mapped_addresses() {
        let network: Network = "192.0.2.0/24".parse().unwrap();
        assert!(network.contains("192.0.2.200".parse().unwrap()));
        assert!(!network.contains("192.0.3.1".parse().unwrap()));
        assert!(network.contains("::ffff:192.0.2.1".parse().unwrap()));
        let v6: Network = "[2001:db8::]/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::5".parse().unwrap()));
        let all: Network = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        let one: Network = "127.0.0.1".parse().unwrap();
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        for bad in ["127.0.0.1/33", "::1/129", "host/8", "1.2.3.4/x", ""] {
            assert!(bad.parse::<Network>().is_err(), "{bad}");
        }
    }

    #[test]
    fn credential_lines_name_their_senders() {
        let hash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$6ecJvd5ADg0Ao8YeXlKPwQ";
        let credentials = Credentials::parse(&format!(
            "alice@behoerde.example:{hash}\ncrm:{hash}:@noreply.behoerde.example, Bob@Behoerde.example\n"
        ))
        .unwrap();
        let alice = &credentials.accounts["alice@behoerde.example"];
        assert!(alice.may_send_as("Alice@BEHOERDE.example"));
        assert!(!alice.may_send_as("bob@behoerde.example"));
        // The same mailbox in another spelling (one address, one form).
        assert!(alice.may_send_as("alice@behoerde.example."));
        assert!(!alice.may_send_as(""));
        let crm = &credentials.accounts["crm"];
        assert!(crm.may_send_as("anyone@noreply.behoerde.example"));
        assert!(crm.may_send_as("bob@behoerde.example"));
        assert!(!crm.may_send_as("crm"));
        assert!(!crm.may_send_as("x@sub.noreply.behoerde.example"));
        // A domain matches in every spelling too.
        assert!(crm.may_send_as("anyone@NoReply.Behoerde.Example."));
        for bad in [
            "nohash\n",
            "x:$1$abc\n",
            ":{hash}\n",
            "a:{hash}\na:{hash}\n",
            "a:{hash}:@\n",
        ] {
            assert!(
                Credentials::parse(&bad.replace("{hash}", hash)).is_err(),
                "{bad}"
            );
        }
    }
}
