//! E-mail addresses as S/MIME compares them.
//!
//! RFC 8550 section 3 binds a certificate to a mailbox through the
//! `rfc822Name` entries of its subjectAltName (and, in old certificates, the
//! `emailAddress` attribute of the subject). A signature makes a message
//! "signed by" its From address only if one of those addresses equals the
//! address in From: the bare `addr-spec`, never the display name.

use std::fmt;
use std::str::FromStr;

/// A bare mailbox address (`local-part@domain`), without display name or
/// angle brackets.
///
/// Equality ignores ASCII case in both parts. RFC 5321 lets a server treat the
/// local part as case-sensitive, but no deployed S/MIME client does, and CAs
/// validate control of the mailbox in whatever case the applicant typed: a
/// certificate for `Alice@Example.org` certifies `alice@example.org`.
///
/// ```
/// use mail_message::EmailAddress;
///
/// let from: EmailAddress = "Alice@Example.ORG".parse()?;
/// let certified: EmailAddress = "alice@example.org".parse()?;
/// assert_eq!(from, certified);
/// assert_eq!(from.domain(), "example.org");
/// # Ok::<(), mail_message::AddressError>(())
/// ```
#[derive(Clone)]
pub struct EmailAddress {
    /// As written in the input, for display.
    original: String,
    /// Lower-cased (ASCII), for comparison and hashing.
    folded: String,
    /// Byte offset of the `@` separating local part and domain.
    at: usize,
}

/// Why a string is not a usable e-mail address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// There is no `@`, or the local part or the domain is empty.
    #[error("`{0}` is not an e-mail address of the form local-part@domain")]
    NotAnAddress(String),
    /// Whitespace, control characters or angle brackets: a display-name form
    /// or a header fragment, never a bare address.
    #[error("`{0}` contains characters not allowed in a bare e-mail address")]
    ForbiddenCharacter(String),
}

impl EmailAddress {
    /// The local part, as written.
    pub fn local_part(&self) -> &str {
        self.original.get(..self.at).unwrap_or_default()
    }

    /// The domain, lower-cased.
    pub fn domain(&self) -> &str {
        self.folded.get(self.at + 1..).unwrap_or_default()
    }

    /// The address as written.
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// The mailbox addresses of an address header value (`From`, `Sender`,
    /// `To`; RFC 5322 section 3.4): display names, comments and group names
    /// are dropped, never mistaken for addresses.
    ///
    /// ```
    /// use mail_message::EmailAddress;
    ///
    /// let from = EmailAddress::parse_mailboxes(r#""ceo@bank.example" <mallory@evil.example> (CEO)"#)?;
    /// assert_eq!(from, vec!["mallory@evil.example".parse::<EmailAddress>()?]);
    /// let to = EmailAddress::parse_mailboxes("Team: a@example.org, \"B, b\" <b@example.org>;, c@example.org")?;
    /// assert_eq!(to.len(), 3);
    /// # Ok::<(), mail_message::AddressError>(())
    /// ```
    pub fn parse_mailboxes(value: &str) -> Result<Vec<EmailAddress>, AddressError> {
        let mut addresses = Vec::new();
        for mailbox in split_mailboxes(value) {
            let mailbox = mailbox.trim();
            if mailbox.is_empty() {
                continue;
            }
            let address = match angle_address(mailbox) {
                Some(inner) => inner,
                None => mailbox.to_owned(),
            };
            // An obsolete source route (`<@relay:user@host>`) is not part of
            // the address.
            let address = match address.rsplit_once(':') {
                Some((route, rest)) if route.starts_with('@') => rest.to_owned(),
                _ => address,
            };
            addresses.push(address.trim().parse()?);
        }
        Ok(addresses)
    }
}

/// Splits an address list at top-level commas, dropping comments and group
/// names (`name:` ... `;`), keeping quoted strings and angle addresses intact.
fn split_mailboxes(value: &str) -> Vec<String> {
    let mut mailboxes = Vec::new();
    let mut current = String::new();
    let mut chars = value.chars();
    let mut in_angle = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                current.push(c);
                while let Some(q) = chars.next() {
                    current.push(q);
                    match q {
                        '\\' => current.extend(chars.next()),
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '(' => {
                let mut depth = 1usize;
                while let Some(q) = chars.next() {
                    match q {
                        '\\' => {
                            chars.next();
                        }
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                current.push(' ');
            }
            '<' => {
                in_angle = true;
                current.push(c);
            }
            '>' => {
                in_angle = false;
                current.push(c);
            }
            ':' if !in_angle => current.clear(), // a group name
            ',' | ';' if !in_angle => mailboxes.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    mailboxes.push(current);
    mailboxes
}

/// The text inside the angle brackets of `name-addr`, if any.
fn angle_address(mailbox: &str) -> Option<String> {
    let mut in_quote = false;
    let mut escaped = false;
    let mut start = None;
    for (index, c) in mailbox.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quote => escaped = true,
            '"' => in_quote = !in_quote,
            '<' if !in_quote => start = Some(index + 1),
            '>' if !in_quote => {
                return start.and_then(|s| mailbox.get(s..index)).map(str::to_owned);
            }
            _ => {}
        }
    }
    None
}

impl FromStr for EmailAddress {
    type Err = AddressError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        if input
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | ','))
        {
            return Err(AddressError::ForbiddenCharacter(input.to_owned()));
        }
        // The domain cannot contain `@`; a quoted local part can.
        let at = input
            .rfind('@')
            .ok_or_else(|| AddressError::NotAnAddress(input.to_owned()))?;
        if at == 0 || at + 1 == input.len() {
            return Err(AddressError::NotAnAddress(input.to_owned()));
        }
        Ok(EmailAddress {
            original: input.to_owned(),
            folded: input.to_ascii_lowercase(),
            at,
        })
    }
}

impl PartialEq for EmailAddress {
    fn eq(&self, other: &Self) -> bool {
        self.folded == other.folded
    }
}

impl Eq for EmailAddress {}

impl std::hash::Hash for EmailAddress {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.folded.hash(state);
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({:?})", self.original)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailboxes(value: &str) -> Vec<String> {
        EmailAddress::parse_mailboxes(value)
            .unwrap()
            .iter()
            .map(|a| a.as_str().to_owned())
            .collect()
    }

    #[test]
    fn mailboxes_ignore_display_names_comments_and_groups() {
        assert_eq!(mailboxes("alice@example.org"), ["alice@example.org"]);
        assert_eq!(
            mailboxes("\"alice@example.org\" <mallory@evil.example>"),
            ["mallory@evil.example"]
        );
        assert_eq!(
            mailboxes("alice@example.org (<mallory@evil.example>)"),
            ["alice@example.org"]
        );
        assert_eq!(
            mailboxes("\"Doe, John <john@x.example>\" <jd@example.org>, b@example.org"),
            ["jd@example.org", "b@example.org"]
        );
        assert_eq!(mailboxes("undisclosed-recipients:;"), Vec::<String>::new());
        assert_eq!(
            mailboxes("<@relay.example:a@example.org>"),
            ["a@example.org"]
        );
        assert_eq!(
            mailboxes("\"quoted.local\"@example.org"),
            ["\"quoted.local\"@example.org"]
        );
        assert!(EmailAddress::parse_mailboxes("Just A Name").is_err());
        assert!(EmailAddress::parse_mailboxes("Name <>").is_err());
    }

    #[test]
    fn compares_case_insensitively() {
        let a: EmailAddress = "Bob@Partner.Example".parse().unwrap();
        let b: EmailAddress = "bob@partner.example".parse().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.local_part(), "Bob");
        assert_eq!(a.domain(), "partner.example");
        assert_eq!(a.to_string(), "Bob@Partner.Example");
    }

    #[test]
    fn refuses_display_name_forms_and_fragments() {
        for input in [
            "Alice <alice@example.org>",
            "<alice@example.org>",
            "alice@example.org, mallory@evil.example",
            "alice@exam\u{0}ple.org",
            " alice@example.org",
        ] {
            assert!(
                matches!(
                    input.parse::<EmailAddress>(),
                    Err(AddressError::ForbiddenCharacter(_))
                ),
                "{input:?} was accepted"
            );
        }
    }

    #[test]
    fn refuses_incomplete_addresses() {
        for input in ["", "alice", "@example.org", "alice@"] {
            assert!(
                matches!(
                    input.parse::<EmailAddress>(),
                    Err(AddressError::NotAnAddress(_))
                ),
                "{input:?} was accepted"
            );
        }
    }

    #[test]
    fn quoted_local_part_keeps_its_at_sign() {
        let address: EmailAddress = "\"a@b\"@example.org".parse().unwrap();
        assert_eq!(address.local_part(), "\"a@b\"");
        assert_eq!(address.domain(), "example.org");
    }
}
