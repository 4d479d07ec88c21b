//! E-mail addresses as S/MIME compares them.
//!
//! RFC 8550 section 3 binds a certificate to a mailbox through the
//! `rfc822Name` entries of its subjectAltName (and, in old certificates, the
//! `emailAddress` attribute of the subject). A signature makes a message
//! "signed by" its From address only if one of those addresses equals the
//! address in From: the bare `addr-spec`, never the display name.

use std::fmt;
use std::str::FromStr;

use crate::{Mailbox, MailboxError};

/// A bare mailbox address (`local-part@domain`), without display name or
/// angle brackets, as it appears in a header field, a certificate or a
/// user ID.
///
/// It is a [`Mailbox`] that remembers how it was written: equality, hashing
/// and ordering use [`Mailbox::key`], the one canonical form policy,
/// lookups and routing use (domain in lower-case A-labels without trailing
/// dot, quoting minimal, local part case-folded), so two spellings of one
/// mailbox are equal here as everywhere else, and an address
/// [`Mailbox::parse`] refuses (the percent hack, address literals, invisible
/// characters) is refused here too. Case is ignored in the local part:
/// RFC 5321 lets a server treat it as case-sensitive, but no deployed
/// S/MIME client does, and CAs validate control of the mailbox in whatever
/// case the applicant typed: a certificate for `Alice@Example.org`
/// certifies `alice@example.org`.
///
/// ```
/// use mail_message::EmailAddress;
///
/// let from: EmailAddress = "Alice@Example.ORG.".parse()?;
/// let certified: EmailAddress = "alice@example.org".parse()?;
/// assert_eq!(from, certified);
/// assert_eq!(from.domain(), "example.org");
/// assert_eq!(from.key(), "alice@example.org");
/// assert_eq!(from.to_string(), "Alice@Example.ORG.");
///
/// let u_label: EmailAddress = "jürgen@Bücher.example".parse()?;
/// assert_eq!(u_label, "jürgen@xn--bcher-kva.example".parse::<EmailAddress>()?);
/// assert!("erin%geheim.example@behoerde.example".parse::<EmailAddress>().is_err());
/// # Ok::<(), mail_message::AddressError>(())
/// ```
#[derive(Clone)]
pub struct EmailAddress {
    /// As written in the input, for display.
    original: String,
    /// Byte offset of the `@` separating local part and domain in
    /// `original`.
    at: usize,
    /// The canonical form, for comparison, hashing and the domain.
    mailbox: Mailbox,
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
    /// Not a mailbox in the canonical sense ([`Mailbox::parse`]): an invalid
    /// domain or local part, an address literal, a route through the domain.
    #[error(transparent)]
    Mailbox(#[from] MailboxError),
}

impl EmailAddress {
    /// The local part, as written.
    pub fn local_part(&self) -> &str {
        self.original.get(..self.at).unwrap_or_default()
    }

    /// The domain in its canonical form ([`Mailbox::domain`]): lower-case
    /// A-labels, no trailing dot.
    pub fn domain(&self) -> &str {
        self.mailbox.domain()
    }

    /// The canonical form with the local part case-folded
    /// ([`Mailbox::key`]): what equality and hashing compare.
    pub fn key(&self) -> &str {
        self.mailbox.key()
    }

    /// The mailbox in its canonical form.
    pub fn mailbox(&self) -> &Mailbox {
        &self.mailbox
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
        // The domain cannot contain `@` (nor, for `Mailbox`, the local part).
        let at = input
            .rfind('@')
            .ok_or_else(|| AddressError::NotAnAddress(input.to_owned()))?;
        if at == 0 || at + 1 == input.len() {
            return Err(AddressError::NotAnAddress(input.to_owned()));
        }
        Ok(EmailAddress {
            original: input.to_owned(),
            at,
            mailbox: Mailbox::parse(input)?,
        })
    }
}

impl From<Mailbox> for EmailAddress {
    /// The address written in its canonical form.
    fn from(mailbox: Mailbox) -> EmailAddress {
        let original = mailbox.as_str().to_owned();
        EmailAddress {
            at: mailbox.local_part().len(),
            original,
            mailbox,
        }
    }
}

impl PartialEq for EmailAddress {
    fn eq(&self, other: &Self) -> bool {
        self.mailbox.key() == other.mailbox.key()
    }
}

impl Eq for EmailAddress {}

impl PartialOrd for EmailAddress {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for EmailAddress {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.mailbox.key().cmp(other.mailbox.key())
    }
}

impl std::hash::Hash for EmailAddress {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.mailbox.key().hash(state);
    }
}

impl PartialEq<Mailbox> for EmailAddress {
    fn eq(&self, other: &Mailbox) -> bool {
        self.mailbox.key() == other.key()
    }
}

impl PartialEq<EmailAddress> for Mailbox {
    fn eq(&self, other: &EmailAddress) -> bool {
        self.key() == other.mailbox.key()
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
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;

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
    fn quoted_at_sign_in_the_local_part_is_refused_as_mailbox_does() {
        // A quoted `@` routes through the domain to another (RFC 5321
        // section 4.1.2 `@` hack): refused as `Mailbox::parse` refuses it.
        assert!(matches!(
            "\"a@b\"@example.org".parse::<EmailAddress>(),
            Err(AddressError::Mailbox(MailboxError::RoutingCharacter(_)))
        ));
        let quoted: EmailAddress = "\"a.b\"@example.org".parse().unwrap();
        assert_eq!(quoted.local_part(), "\"a.b\"");
        assert_eq!(quoted, "a.b@example.org".parse::<EmailAddress>().unwrap());
    }

    #[test]
    fn refused_mailboxes_are_refused_addresses() {
        for input in [
            "erin%geheim.example@behoerde.example",
            "erin@[192.0.2.1]",
            "erin@192.0.2.1",
            "erin@geheim..example",
            "er\u{200B}in@geheim.example",
        ] {
            assert!(
                matches!(input.parse::<EmailAddress>(), Err(AddressError::Mailbox(_))),
                "{input:?} was accepted"
            );
        }
    }

    /// Spellings of one mailbox: case of local part and domain, a trailing
    /// dot, U-label or A-label, quoting.
    fn spelling(
        local: &'static str,
        domain_u: &'static str,
        domain_a: &'static str,
    ) -> impl Strategy<Value = String> {
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            proptest::collection::vec(any::<bool>(), 32),
        )
            .prop_map(move |(idn_a, dot, quote, upper)| {
                let case = |text: &str, offset: usize| -> String {
                    text.chars()
                        .zip(upper.iter().cycle().skip(offset))
                        .map(|(c, up)| {
                            if *up {
                                c.to_uppercase().collect()
                            } else {
                                c.to_string()
                            }
                        })
                        .collect()
                };
                let mut domain = case(if idn_a { domain_a } else { domain_u }, 7);
                if dot {
                    domain.push('.');
                }
                let local = case(local, 0);
                let local = if quote { format!("\"{local}\"") } else { local };
                format!("{local}@{domain}")
            })
    }

    fn hash_of(address: &EmailAddress) -> u64 {
        use std::hash::{BuildHasher, BuildHasherDefault};
        BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(address)
    }

    proptest! {
        /// Every spelling of one mailbox is one address: equal, same hash,
        /// same key as `Mailbox`, same domain.
        #[test]
        fn spellings_of_one_mailbox_compare_equal(
            a in spelling("erin", "gehëim.example", "xn--gehim-psa.example"),
            b in spelling("erin", "gehëim.example", "xn--gehim-psa.example"),
        ) {
            let a: EmailAddress = a.parse().map_err(|e: AddressError| TestCaseError::fail(e.to_string()))?;
            let b: EmailAddress = b.parse().map_err(|e: AddressError| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(hash_of(&a), hash_of(&b));
            prop_assert_eq!(a.key(), "erin@xn--gehim-psa.example");
            prop_assert_eq!(a.domain(), "xn--gehim-psa.example");
            let mailbox = Mailbox::parse(b.as_str()).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert!(a == mailbox);
        }

        /// Spellings of different mailboxes never compare equal: another
        /// local part, another domain (U-label or A-label of another name).
        #[test]
        fn spellings_of_different_mailboxes_differ(
            a in spelling("erin", "gehëim.example", "xn--gehim-psa.example"),
            other_local in spelling("erin2", "gehëim.example", "xn--gehim-psa.example"),
            other_domain in spelling("erin", "geheim.example", "geheim.example"),
            other_idn in spelling("erin", "gehéim.example", "xn--gehim-dsa.example"),
        ) {
            let a: EmailAddress = a.parse().map_err(|e: AddressError| TestCaseError::fail(e.to_string()))?;
            for other in [other_local, other_domain, other_idn] {
                let other: EmailAddress = other.parse().map_err(|e: AddressError| TestCaseError::fail(e.to_string()))?;
                prop_assert_ne!(&a, &other);
                prop_assert_ne!(a.key(), other.key());
            }
        }

        /// Whatever `EmailAddress` accepts, `Mailbox` accepts with the same
        /// key: there is one canonical form, not two.
        #[test]
        fn equality_is_the_mailbox_key(input in "\\PC{0,40}") {
            if let Ok(address) = input.parse::<EmailAddress>() {
                let mailbox = Mailbox::parse(&input).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(address.key(), mailbox.key());
                prop_assert_eq!(address.domain(), mailbox.domain());
                let again: EmailAddress = address.to_string().parse().map_err(|e: AddressError| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(again, address);
            }
        }
    }
}
