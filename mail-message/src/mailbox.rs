//! The one canonical form of a mailbox, for policy, lookups and routing.
//!
//! The same mailbox can be spelled in many ways: `Erin@Geheim.Example.`,
//! `"erin"@geheim.example`, `<@relay.example:erin@geheim.example>`,
//! `erin@xn--gehim-...` and its U-label. A gateway that compares spellings
//! instead of mailboxes lets a domain rule be walked around by writing the
//! domain differently. [`Mailbox::parse`] maps every accepted spelling to one
//! form, and refuses the spellings whose meaning depends on who reads them
//! (the percent hack, address literals).
//!
//! The canonical form, decision by decision:
//!
//! - **Angle brackets**: one pair around the whole address (as in SMTP paths
//!   and as people paste addresses) is removed; nested or unbalanced brackets
//!   are refused.
//! - **Source routes** (`@a,@b:user@c`): removed, as RFC 5321 section 4.1.2
//!   and appendix C tell a server to do (the route names relays, not the
//!   mailbox). Each route domain must still be a valid domain.
//! - **Domain**: mapped with UTS #46 (non-transitional, STD3 rules, hyphen
//!   and DNS length checks; the `idna` crate) to its **A-label** form:
//!   ASCII, lower case, Punycode for internationalised labels. A-labels are
//!   what DNS, certificates (RFC 8398: rfc822Name holds A-labels) and SMTP
//!   without SMTPUTF8 use, so the canonical form works everywhere; the
//!   U-label is available from [`Mailbox::domain_unicode`] for people. One
//!   trailing dot (the root, `geheim.example.`) is removed; anything else that
//!   is not a host name is refused.
//! - **Address literals** (`erin@[192.0.2.1]`, `erin@[geheim.example]`) and
//!   domains that are IP addresses written bare (`erin@192.0.2.1`) are
//!   refused: a gateway's policy is written for domains, and a literal
//!   routes to a host the policy never names.
//! - **Local part**: a quoted string is decoded; if the decoded text is a
//!   valid dot-atom, the canonical form is unquoted (`"erin"@x` is `erin@x`),
//!   otherwise it is quoted again with the minimal escaping (only `"` and
//!   `\` escaped). Non-ASCII local parts (RFC 6531) are normalised to NFC
//!   (RFC 6532 section 3.1), so a decomposed umlaut is the same mailbox.
//! - **Case**: the domain is lower-cased. RFC 5321 section 2.4 lets only the
//!   destination interpret the local part, case included, so the canonical
//!   form [`Mailbox::as_str`] keeps the local part's case for delivery. For
//!   comparison, policy and directory lookups the local part is case-folded
//!   ([`Mailbox::key`]), as every deployed mail system and CA treats
//!   `Erin@` and `erin@` as one mailbox: otherwise a user rule for
//!   `erin@geheim.example` would not apply to `ERIN@geheim.example`, which
//!   the same person receives. Equality and hashing use the key.
//! - **Routing characters** in the local part are refused: `%` (the percent
//!   hack: `erin%geheim.example@behoerde.example` is relayed to
//!   `erin@geheim.example` by MTAs that still honour it, so the policy would
//!   judge one domain and the mail reach another), `!` (UUCP bang paths) and
//!   a quoted `@`.
//! - **Characters**: whitespace, control characters and invisible format
//!   characters (zero-width space, bidirectional controls, soft hyphen) are
//!   refused everywhere, also inside quotes: they make two spellings look
//!   alike to a person and differ to a machine.
//! - **Lengths**: local part at most 64 octets, domain at most 253, the whole
//!   address at most 254 (RFC 5321 section 4.5.3.1).
//!
//! ```
//! use mail_message::Mailbox;
//!
//! let a = Mailbox::parse("<@relay.example:\"Erin\"@GEHEIM.example.>")?;
//! assert_eq!(a.as_str(), "Erin@geheim.example");
//! assert_eq!(a.key(), "erin@geheim.example");
//! assert_eq!(a, Mailbox::parse("erin@geheim.example")?);
//!
//! let idn = Mailbox::parse("jürgen@Bücher.example")?;
//! assert_eq!(idn.domain(), "xn--bcher-kva.example");
//! assert_eq!(idn.domain_unicode(), "bücher.example");
//! assert_eq!(idn, Mailbox::parse("jürgen@xn--bcher-kva.example")?);
//!
//! assert!(Mailbox::parse("erin%geheim.example@behoerde.example").is_err());
//! assert!(Mailbox::parse("erin@[192.0.2.1]").is_err());
//! # Ok::<(), mail_message::MailboxError>(())
//! ```

use std::fmt;
use std::str::FromStr;

use unicode_normalization::UnicodeNormalization;

/// The longest local part, in octets (RFC 5321 section 4.5.3.1.1).
pub const MAX_LOCAL_PART: usize = 64;
/// The longest domain, in octets (RFC 1035: 255 on the wire, 253 as text).
pub const MAX_DOMAIN: usize = 253;
/// The longest address, in octets (RFC 5321 section 4.5.3.1.3: a path of 256
/// octets including the angle brackets).
pub const MAX_ADDRESS: usize = 254;

/// A mailbox in its canonical form (see the [module documentation](self)).
///
/// Equality, ordering and hashing use [`key`](Mailbox::key): the canonical
/// form with the local part case-folded.
#[derive(Clone)]
pub struct Mailbox {
    /// `local@domain`: local part as written (decoded, NFC, minimally
    /// quoted), domain as A-labels.
    canonical: String,
    /// `canonical` with the local part case-folded.
    key: String,
    /// Byte offset of the `@` in `canonical` (and in `key`: folding may
    /// change the local part's length, so `key_at` is kept apart).
    at: usize,
    key_at: usize,
}

/// Why a text is not accepted as a mailbox.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MailboxError {
    /// No `@`, or an empty local part or domain.
    #[error("`{0}` is not an e-mail address of the form local-part@domain")]
    NotAnAddress(String),
    /// Whitespace, control or invisible characters, or angle brackets that
    /// are not exactly one pair around the whole address.
    #[error("`{0}` contains characters not allowed in an e-mail address")]
    ForbiddenCharacter(String),
    /// The local part is neither a dot-atom nor a quoted string.
    #[error("`{0}` has an invalid local part")]
    InvalidLocalPart(String),
    /// The domain is not a host name (after IDNA mapping).
    #[error("`{0}` has an invalid domain")]
    InvalidDomain(String),
    /// A source route (`@relay:`) that is not a list of valid domains.
    #[error("`{0}` has an invalid source route")]
    InvalidSourceRoute(String),
    /// An address literal (`[192.0.2.1]`, `[IPv6:...]`, `[host]`) or an IP
    /// address as domain: refused, the policy is written for domains.
    #[error("`{0}` names a host by address literal, which is not accepted")]
    AddressLiteral(String),
    /// `%`, `!` or a quoted `@` in the local part: a route through the
    /// receiving domain to another (the percent hack), refused.
    #[error("`{0}` routes through its domain to another (`%`, `!` or `@` in the local part)")]
    RoutingCharacter(String),
    /// Longer than RFC 5321 allows.
    #[error("`{0}` is longer than an e-mail address may be")]
    TooLong(String),
}

impl MailboxError {
    /// What is wrong, without repeating the input: for replies on a wire
    /// (SMTP, milter), where the hostile text must not be echoed.
    pub fn describe(&self) -> &'static str {
        match self {
            MailboxError::NotAnAddress(_) => "not an address of the form local-part@domain",
            MailboxError::ForbiddenCharacter(_) => {
                "whitespace, control or invisible characters, or stray angle brackets"
            }
            MailboxError::InvalidLocalPart(_) => "invalid local part",
            MailboxError::InvalidDomain(_) => "invalid domain",
            MailboxError::InvalidSourceRoute(_) => "invalid source route",
            MailboxError::AddressLiteral(_) => "address literals are not accepted",
            MailboxError::RoutingCharacter(_) => {
                "routing through a domain (%, ! or @ in the local part) is not accepted"
            }
            MailboxError::TooLong(_) => "address too long",
        }
    }

    /// Whether the text is a syntactically valid address that is refused on
    /// purpose (address literal, percent hack), rather than a syntax error.
    /// SMTP answers the first with 553 5.1.3, the second with 501 5.1.3.
    pub fn is_refused_form(&self) -> bool {
        matches!(
            self,
            MailboxError::AddressLiteral(_) | MailboxError::RoutingCharacter(_)
        )
    }
}

impl Mailbox {
    /// Parses any accepted spelling of a mailbox (a bare address, or one in
    /// angle brackets, with or without source route) into its canonical
    /// form, or says why it is refused.
    pub fn parse(input: &str) -> Result<Mailbox, MailboxError> {
        let refuse_chars = || MailboxError::ForbiddenCharacter(input.to_owned());
        if input.is_empty() {
            return Err(MailboxError::NotAnAddress(input.to_owned()));
        }
        if input.chars().any(forbidden_char) {
            return Err(refuse_chars());
        }
        // One pair of angle brackets around the whole address, no more.
        let inner = match input.strip_prefix('<') {
            Some(rest) => rest.strip_suffix('>').ok_or_else(refuse_chars)?,
            None => input,
        };
        if inner.contains(['<', '>']) {
            return Err(refuse_chars());
        }
        let address = strip_source_route(input, inner)?;
        let (local, domain) = split_local_domain(input, address)?;
        let local = canonical_local_part(input, &local)?;
        let domain = canonical_domain_of(input, domain)?;
        let canonical = format!("{local}@{domain}");
        if canonical.len() > MAX_ADDRESS {
            return Err(MailboxError::TooLong(input.to_owned()));
        }
        // NFC again: lower-casing can leave a string that is not.
        let folded_local: String = local.to_lowercase().nfc().collect();
        let key = format!("{folded_local}@{domain}");
        Ok(Mailbox {
            at: local.len(),
            key_at: folded_local.len(),
            canonical,
            key,
        })
    }

    /// The canonical address: local part as written (decoded, NFC,
    /// minimally quoted), domain in A-labels. The form to deliver to.
    pub fn as_str(&self) -> &str {
        &self.canonical
    }

    /// The canonical address with the local part case-folded: the form
    /// policy, directory lookups and comparisons use.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The local part as in [`as_str`](Mailbox::as_str) (quoted if it must
    /// be).
    pub fn local_part(&self) -> &str {
        self.canonical.get(..self.at).unwrap_or_default()
    }

    /// The domain: lower-case A-labels, no trailing dot.
    pub fn domain(&self) -> &str {
        self.key.get(self.key_at + 1..).unwrap_or_default()
    }

    /// The domain with U-labels, for people (never for lookups).
    pub fn domain_unicode(&self) -> String {
        idna::domain_to_unicode(self.domain()).0
    }
}

/// A domain on its own (a policy scope, a transport table key, a route) in
/// the canonical form of [`Mailbox::domain`]: lower-case A-labels, no
/// trailing dot. Literals and IP addresses are refused as in addresses.
///
/// ```
/// assert_eq!(mail_message::canonical_domain("Bücher.Example.")?, "xn--bcher-kva.example");
/// # Ok::<(), mail_message::MailboxError>(())
/// ```
pub fn canonical_domain(domain: &str) -> Result<String, MailboxError> {
    if domain.chars().any(forbidden_char) {
        return Err(MailboxError::ForbiddenCharacter(domain.to_owned()));
    }
    canonical_domain_of(domain, domain)
}

/// Whitespace, controls and characters that do not show: two spellings
/// that look the same to a person must not differ to the gateway.
fn forbidden_char(c: char) -> bool {
    // The one list of invisible characters (shown_text), so that what the
    // display-name check and the policy remove is what an address refuses.
    c.is_whitespace() || c.is_control() || crate::shown_text::is_invisible(c)
}

/// `@a,@b:rest` → `rest`, each route domain checked.
fn strip_source_route<'a>(input: &str, address: &'a str) -> Result<&'a str, MailboxError> {
    if !address.starts_with('@') {
        return Ok(address);
    }
    let invalid = || MailboxError::InvalidSourceRoute(input.to_owned());
    let (route, rest) = address.split_once(':').ok_or_else(invalid)?;
    for hop in route.split(',') {
        let domain = hop.strip_prefix('@').ok_or_else(invalid)?;
        canonical_domain_of(input, domain).map_err(|_| invalid())?;
    }
    Ok(rest)
}

/// Splits at the `@` after the local part: the one after a quoted string,
/// or the first one (an unquoted local part has none).
fn split_local_domain<'a>(
    input: &str,
    address: &'a str,
) -> Result<(String, &'a str), MailboxError> {
    let not_address = || MailboxError::NotAnAddress(input.to_owned());
    if let Some(quoted) = address.strip_prefix('"') {
        let mut decoded = String::new();
        let mut chars = quoted.char_indices();
        while let Some((index, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    // quoted-pair: any printable (RFC 5321 quoted-pairSMTP).
                    Some((_, q)) => decoded.push(q),
                    None => return Err(MailboxError::InvalidLocalPart(input.to_owned())),
                },
                '"' => {
                    let rest = quoted.get(index + 1..).unwrap_or_default();
                    let domain = rest.strip_prefix('@').ok_or_else(|| {
                        if rest.is_empty() {
                            not_address()
                        } else {
                            MailboxError::InvalidLocalPart(input.to_owned())
                        }
                    })?;
                    return Ok((decoded, domain));
                }
                _ => decoded.push(c),
            }
        }
        return Err(MailboxError::InvalidLocalPart(input.to_owned()));
    }
    let (local, domain) = address.split_once('@').ok_or_else(not_address)?;
    if local.contains('"') {
        return Err(MailboxError::InvalidLocalPart(input.to_owned()));
    }
    if !local.is_empty() && !is_dot_atom(local) {
        // `%`/`!` are atext; a routing character is reported as such below.
        return Err(MailboxError::InvalidLocalPart(input.to_owned()));
    }
    Ok((local.to_owned(), domain))
}

/// RFC 5322 atext, with RFC 6531's UTF-8 extension.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn is_dot_atom(text: &str) -> bool {
    !text.is_empty()
        && text
            .split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// The decoded local part in canonical spelling.
fn canonical_local_part(input: &str, decoded: &str) -> Result<String, MailboxError> {
    if decoded.is_empty() {
        return Err(MailboxError::NotAnAddress(input.to_owned()));
    }
    if decoded.contains(['%', '!', '@']) {
        return Err(MailboxError::RoutingCharacter(input.to_owned()));
    }
    let normalised: String = decoded.nfc().collect();
    if normalised.chars().any(forbidden_char) {
        return Err(MailboxError::ForbiddenCharacter(input.to_owned()));
    }
    let local = if is_dot_atom(&normalised) {
        normalised
    } else {
        let mut quoted = String::with_capacity(normalised.len() + 2);
        quoted.push('"');
        for c in normalised.chars() {
            if matches!(c, '"' | '\\') {
                quoted.push('\\');
            }
            quoted.push(c);
        }
        quoted.push('"');
        quoted
    };
    if local.len() > MAX_LOCAL_PART {
        return Err(MailboxError::TooLong(input.to_owned()));
    }
    Ok(local)
}

/// The domain as lower-case A-labels, or why it is not a host name.
fn canonical_domain_of(input: &str, domain: &str) -> Result<String, MailboxError> {
    let invalid = || MailboxError::InvalidDomain(input.to_owned());
    if domain.starts_with('[') || domain.ends_with(']') {
        return Err(MailboxError::AddressLiteral(input.to_owned()));
    }
    // The root label: `geheim.example.` is `geheim.example`. Only one.
    let domain = domain.strip_suffix('.').unwrap_or(domain);
    if domain.is_empty() {
        return Err(MailboxError::NotAnAddress(input.to_owned()));
    }
    let ascii = idna::uts46::Uts46::new()
        .to_ascii(
            domain.as_bytes(),
            idna::uts46::AsciiDenyList::STD3,
            idna::uts46::Hyphens::CheckFirstLast,
            idna::uts46::DnsLength::Verify,
        )
        .map_err(|_| invalid())?;
    // UTS #46 maps some dots (U+3002 and others) to `.`: a trailing one
    // may appear only now.
    let ascii = ascii.strip_suffix('.').unwrap_or(&ascii);
    if ascii.is_empty()
        || ascii.len() > MAX_DOMAIN
        || ascii
            .split('.')
            .any(|label| label.is_empty() || label.len() > 63)
        || !ascii
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return Err(invalid());
    }
    // A top-level label of digits only is an IP address written bare
    // (`erin@192.0.2.1`), not a host name (RFC 1123 section 2.1).
    if ascii
        .rsplit('.')
        .next()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(MailboxError::AddressLiteral(input.to_owned()));
    }
    Ok(ascii.to_owned())
}

impl FromStr for Mailbox {
    type Err = MailboxError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Mailbox::parse(input)
    }
}

impl PartialEq for Mailbox {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Mailbox {}

impl PartialOrd for Mailbox {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Mailbox {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key.cmp(&other.key)
    }
}

impl std::hash::Hash for Mailbox {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.canonical)
    }
}

impl fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Mailbox({:?})", self.canonical)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn canonical(input: &str) -> String {
        match Mailbox::parse(input) {
            Ok(mailbox) => mailbox.as_str().to_owned(),
            Err(error) => panic!("{input:?} refused: {error}"),
        }
    }

    #[test]
    fn finding_one_spellings_are_one_mailbox_or_refused() {
        for spelling in [
            "erin@geheim.example",
            "erin@geheim.example.",
            "<erin@geheim.example>",
            "erin@GEHEIM.Example",
            "\"erin\"@geheim.example",
            "<@relay.example,@other.example:erin@geheim.example>",
            "@relay.example:erin@geheim.example.",
            "erin@ｇｅｈｅｉｍ.example",
            "erin@geheim。example",
        ] {
            assert_eq!(canonical(spelling), "erin@geheim.example", "{spelling:?}");
        }
        assert!(matches!(
            Mailbox::parse("erin@[geheim.example]"),
            Err(MailboxError::AddressLiteral(_))
        ));
        assert!(matches!(
            Mailbox::parse("erin%geheim.example@behoerde.example"),
            Err(MailboxError::RoutingCharacter(_))
        ));
    }

    #[test]
    fn idna_u_and_a_labels_are_the_same_domain() {
        let u = Mailbox::parse("Jürgen@BÜCHER.example").unwrap();
        let a = Mailbox::parse("jürgen@xn--bcher-kva.example").unwrap();
        assert_eq!(u, a);
        assert_eq!(u.as_str(), "Jürgen@xn--bcher-kva.example");
        assert_eq!(u.key(), "jürgen@xn--bcher-kva.example");
        assert_eq!(u.local_part(), "Jürgen");
        assert_eq!(a.domain_unicode(), "bücher.example");
        // NFD spelling of the umlaut in the local part.
        assert_eq!(Mailbox::parse("ju\u{308}rgen@bücher.example").unwrap(), a);
    }

    #[test]
    fn quoting_is_minimal() {
        assert_eq!(canonical("\"a.b\"@x.example"), "a.b@x.example");
        assert_eq!(canonical("\"a..b\"@x.example"), "\"a..b\"@x.example");
        assert_eq!(canonical("\"a\\\"b\"@x.example"), "\"a\\\"b\"@x.example");
        assert_eq!(canonical("\"\\e\\r\\i\\n\"@x.example"), "erin@x.example");
        assert_eq!(canonical("\"a,b\"@x.example"), "\"a,b\"@x.example");
    }

    /// Which refusal a case expects.
    type Expected = fn(&MailboxError) -> bool;

    #[test]
    fn refusals() {
        let cases: &[(&str, Expected)] = &[
            ("", |e| matches!(e, MailboxError::NotAnAddress(_))),
            ("erin", |e| matches!(e, MailboxError::NotAnAddress(_))),
            ("@geheim.example", |e| {
                matches!(e, MailboxError::InvalidSourceRoute(_))
            }),
            ("erin@", |e| matches!(e, MailboxError::NotAnAddress(_))),
            ("erin@.", |e| matches!(e, MailboxError::NotAnAddress(_))),
            ("\"\"@x.example", |e| {
                matches!(e, MailboxError::NotAnAddress(_))
            }),
            ("<<erin@geheim.example>>", |e| {
                matches!(e, MailboxError::ForbiddenCharacter(_))
            }),
            ("<erin@geheim.example", |e| {
                matches!(e, MailboxError::ForbiddenCharacter(_))
            }),
            ("Erin <erin@geheim.example>", |e| {
                matches!(e, MailboxError::ForbiddenCharacter(_))
            }),
            ("erin @geheim.example", |e| {
                matches!(e, MailboxError::ForbiddenCharacter(_))
            }),
            ("\"er in\"@geheim.example", |e| {
                matches!(e, MailboxError::ForbiddenCharacter(_))
            }),
            ("er\u{200B}in@geheim.example", |e| {
                matches!(e, MailboxError::ForbiddenCharacter(_))
            }),
            ("erin@geheim.example\r\n", |e| {
                matches!(e, MailboxError::ForbiddenCharacter(_))
            }),
            ("erin@geheim.example..", |e| {
                matches!(e, MailboxError::InvalidDomain(_))
            }),
            ("erin@geheim..example", |e| {
                matches!(e, MailboxError::InvalidDomain(_))
            }),
            ("erin@geheim_x.example", |e| {
                matches!(e, MailboxError::InvalidDomain(_))
            }),
            ("erin@-geheim.example", |e| {
                matches!(e, MailboxError::InvalidDomain(_))
            }),
            ("erin@xn--zz.example", |e| {
                matches!(e, MailboxError::InvalidDomain(_))
            }),
            ("erin@a@geheim.example", |e| {
                matches!(e, MailboxError::InvalidDomain(_))
            }),
            ("erin@[192.0.2.1]", |e| {
                matches!(e, MailboxError::AddressLiteral(_))
            }),
            ("erin@[IPv6:2001:db8::1]", |e| {
                matches!(e, MailboxError::AddressLiteral(_))
            }),
            ("erin@192.0.2.1", |e| {
                matches!(e, MailboxError::AddressLiteral(_))
            }),
            ("erin!geheim.example@behoerde.example", |e| {
                matches!(e, MailboxError::RoutingCharacter(_))
            }),
            ("\"erin@geheim.example\"@behoerde.example", |e| {
                matches!(e, MailboxError::RoutingCharacter(_))
            }),
            ("\"erin%geheim.example\"@behoerde.example", |e| {
                matches!(e, MailboxError::RoutingCharacter(_))
            }),
            ("@[192.0.2.1]:erin@geheim.example", |e| {
                matches!(e, MailboxError::InvalidSourceRoute(_))
            }),
            ("@relay.example:erin", |e| {
                matches!(e, MailboxError::NotAnAddress(_))
            }),
            ("a..b@x.example", |e| {
                matches!(e, MailboxError::InvalidLocalPart(_))
            }),
            (".ab@x.example", |e| {
                matches!(e, MailboxError::InvalidLocalPart(_))
            }),
            ("a\"b@x.example", |e| {
                matches!(e, MailboxError::InvalidLocalPart(_))
            }),
            ("\"ab\"c@x.example", |e| {
                matches!(e, MailboxError::InvalidLocalPart(_))
            }),
            ("\"ab@x.example", |e| {
                matches!(e, MailboxError::InvalidLocalPart(_))
            }),
        ];
        for (input, expected) in cases {
            match Mailbox::parse(input) {
                Ok(mailbox) => panic!("{input:?} accepted as {mailbox:?}"),
                Err(error) => assert!(expected(&error), "{input:?}: unexpected {error:?}"),
            }
        }
        let long_local = format!("{}@x.example", "a".repeat(65));
        assert!(matches!(
            Mailbox::parse(&long_local),
            Err(MailboxError::TooLong(_))
        ));
        let long_domain = format!("a@{}.example", vec!["b".repeat(60); 5].join("."));
        assert!(Mailbox::parse(&long_domain).is_err());
    }

    /// Spellings of one mailbox: case, trailing dot, brackets, quoting,
    /// source route, U- or A-label.
    fn spelling(local: &str, domain_u: &str, domain_a: &str) -> impl Strategy<Value = String> {
        let local = local.to_owned();
        let domain_u = domain_u.to_owned();
        let domain_a = domain_a.to_owned();
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            proptest::collection::vec(any::<bool>(), 32),
        )
            .prop_map(move |(idn_a, dot, brackets, quote, route, upper)| {
                let mut domain: String = (if idn_a { &domain_a } else { &domain_u })
                    .chars()
                    .zip(upper.iter().cycle())
                    .map(|(c, up)| {
                        if *up {
                            c.to_uppercase().collect()
                        } else {
                            c.to_string()
                        }
                    })
                    .collect();
                if dot {
                    domain.push('.');
                }
                let local = if quote {
                    format!("\"{local}\"")
                } else {
                    local.clone()
                };
                let mut address = format!("{local}@{domain}");
                if route {
                    address = format!("@relay.example,@MX.Other.example.:{address}");
                }
                if brackets || route {
                    address = format!("<{address}>");
                }
                address
            })
    }

    proptest! {
        #[test]
        fn spellings_of_one_mailbox_are_equal(address in spelling("erin", "gehëim.example", "xn--gehim-psa.example")) {
            let mailbox = Mailbox::parse(&address).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(mailbox.as_str(), "erin@xn--gehim-psa.example");
            prop_assert_eq!(mailbox.key(), "erin@xn--gehim-psa.example");
        }

        #[test]
        fn canonical_form_is_a_fixed_point(input in "\\PC{0,40}") {
            if let Ok(mailbox) = Mailbox::parse(&input) {
                let again = Mailbox::parse(mailbox.as_str()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(again.as_str(), mailbox.as_str());
                prop_assert_eq!(again.key(), mailbox.key());
                let keyed = Mailbox::parse(mailbox.key()).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert_eq!(keyed.key(), mailbox.key());
            }
        }

        #[test]
        fn routing_characters_and_literals_are_always_refused(
            local in "[a-z]{1,8}",
            route in "[%!]",
            host in "[a-z]{1,8}",
            octet in 0u8..=255,
        ) {
            let hack = format!("{local}{route}{host}.example@behoerde.example");
            prop_assert!(Mailbox::parse(&hack).is_err());
            let quoted = format!("\"{local}{route}{host}.example\"@behoerde.example");
            prop_assert!(Mailbox::parse(&quoted).is_err());
            let literal = format!("{local}@[192.0.2.{octet}]");
            prop_assert!(Mailbox::parse(&literal).is_err());
            let named = format!("{local}@[{host}.example]");
            prop_assert!(Mailbox::parse(&named).is_err());
        }
    }
}
