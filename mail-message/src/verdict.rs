//! The vocabulary both S/MIME and PGP/MIME verification report in, so a
//! gateway treats their answers alike, and the judgement of the header
//! fields that name the author beside the signature ([`HeaderIdentity`]).

use std::time::{Duration, SystemTime};

use crate::date::parse_rfc5322_date;
use crate::shown_text;
use crate::{EmailAddress, Entity};

/// How much of a message a signature covers. Deliberately exhaustive: every
/// verdict must decide each case, so a new one cannot slip through as signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// The whole message body is the signed entity.
    Whole,
    /// Only a part is signed; other content around it is not.
    Partial {
        /// MIME part number of the signed structure ("2", "1.2"); "1" for
        /// text around an inline block in a single-part message.
        part: String,
        /// Why the rest is not covered.
        reason: String,
    },
    /// Nothing is signed.
    Unsigned,
}

/// One answer to "is this message signed by its author?".
///
/// ```
/// use mail_message::Verdict;
/// // Only this answer makes a message signed by its author.
/// assert_ne!(Verdict::PartiallySigned, Verdict::SignedByFrom);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Whole message, every signature valid, a signer's certificate (or
    /// user ID) carries the single From address.
    SignedByFrom,
    /// Valid signatures, but no signer carries the From address (one may
    /// carry Sender: reported, but not the author).
    SignedByOther,
    /// A signature that does not hold.
    Invalid,
    /// Only a part of the message is signed.
    PartiallySigned,
    /// No signature at all.
    Unsigned,
}

impl Verdict {
    /// The verdict's name as every report writes it: `mailgate smime|pgp
    /// verify` (text and JSON) and the gateway's `X-Mailgate-Signature`
    /// field read this one table, so a message gets the same name from each.
    ///
    /// ```
    /// use mail_message::Verdict;
    /// assert_eq!(Verdict::PartiallySigned.name(), "partially-signed");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Verdict::SignedByFrom => "signed-by-from",
            Verdict::SignedByOther => "signed-by-other",
            Verdict::Invalid => "invalid",
            Verdict::PartiallySigned => "partially-signed",
            Verdict::Unsigned => "unsigned",
        }
    }

    /// The one fold of a verification into its verdict, for S/MIME and
    /// OpenPGP alike: what the signatures cover first, then whether every
    /// signature holds (`valid`, one entry a signature), then whether a
    /// valid signer carries the single From address.
    ///
    /// A message covered as a whole by no signature at all is
    /// [`Verdict::Invalid`], never [`Verdict::SignedByOther`]: an empty
    /// list of signatures has no signature that fails, and a fold that only
    /// looks for failures would call it signed.
    ///
    /// ```
    /// use mail_message::{Coverage, Verdict};
    /// assert_eq!(Verdict::fold(&Coverage::Whole, [true, true], true), Verdict::SignedByFrom);
    /// assert_eq!(Verdict::fold(&Coverage::Whole, [true, false], true), Verdict::Invalid);
    /// assert_eq!(Verdict::fold(&Coverage::Whole, [], true), Verdict::Invalid);
    /// ```
    pub fn fold(
        coverage: &Coverage,
        valid: impl IntoIterator<Item = bool>,
        signed_by_from: bool,
    ) -> Verdict {
        match coverage {
            Coverage::Unsigned => Verdict::Unsigned,
            Coverage::Partial { .. } => Verdict::PartiallySigned,
            Coverage::Whole => {
                let mut valid = valid.into_iter().peekable();
                if valid.peek().is_none() || !valid.all(|holds| holds) {
                    Verdict::Invalid
                } else if signed_by_from {
                    Verdict::SignedByFrom
                } else {
                    Verdict::SignedByOther
                }
            }
        }
    }

    /// Whether a verifier hands out the signed content (the message with
    /// the signature layer removed) and judges the header beside it: only
    /// when the whole message is covered and every signature holds, whoever
    /// the signer is. Content under a signature that fails never passes for
    /// signed content.
    ///
    /// ```
    /// use mail_message::Verdict;
    /// assert!(Verdict::SignedByOther.releases_content());
    /// assert!(!Verdict::Invalid.releases_content());
    /// ```
    pub fn releases_content(self) -> bool {
        matches!(self, Verdict::SignedByFrom | Verdict::SignedByOther)
    }
}

/// How far the `Date` field may be from the signing time before it is a
/// finding: mail clients flag more than an hour.
pub const DEFAULT_DATE_TOLERANCE: Duration = Duration::from_secs(3600);

/// Why a text is not a date tolerance ([`parse_date_tolerance`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ToleranceError {
    /// Not digits followed by nothing, `s`, `m`, `h` or `d`.
    #[error("`{0}`: expected seconds or a number with s, m, h or d")]
    NotADuration(String),
    /// More seconds than a `u64` holds.
    #[error("`{0}`: too long")]
    TooLong(String),
}

/// A date tolerance as people write it: seconds (`3600`), or a number with
/// `s`, `m`, `h` or `d` (`90m`, `2h`, `1d`). The one grammar of `mailgate
/// smime|pgp verify --date-tolerance` and of `date_tolerance` in
/// `mailgate.toml`.
///
/// ```
/// use std::time::Duration;
/// use mail_message::parse_date_tolerance;
///
/// assert_eq!(parse_date_tolerance("90m")?, Duration::from_secs(5400));
/// assert_eq!(parse_date_tolerance("3600")?, Duration::from_secs(3600));
/// assert!(parse_date_tolerance("1w").is_err());
/// # Ok::<(), mail_message::ToleranceError>(())
/// ```
pub fn parse_date_tolerance(text: &str) -> Result<Duration, ToleranceError> {
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((index, _)) => text.split_at(index),
        None => (text, "s"),
    };
    let factor: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(ToleranceError::NotADuration(text.to_owned())),
    };
    let value: u64 = digits.parse().map_err(|error: std::num::ParseIntError| {
        if matches!(error.kind(), std::num::IntErrorKind::PosOverflow) {
            ToleranceError::TooLong(text.to_owned())
        } else {
            ToleranceError::NotADuration(text.to_owned())
        }
    })?;
    value
        .checked_mul(factor)
        .map(Duration::from_secs)
        .ok_or_else(|| ToleranceError::TooLong(text.to_owned()))
}

/// Something about who a message claims to be from that the signature
/// verdict alone does not say: a valid signature can come with header fields
/// that make a reader believe someone else wrote it.
///
/// ```
/// use mail_message::{EmailAddress, Entity, HeaderIdentity};
/// let message = b"From: manager@bigcorporation.de <eve@bigcorporation.de>\r\n\r\nPay\r\n";
/// let identity = HeaderIdentity::of(&Entity::parse(message)?);
/// let eve: EmailAddress = "eve@bigcorporation.de".parse()?;
/// let findings = identity.findings(&[eve], &[], mail_message::DEFAULT_DATE_TOLERANCE);
/// assert_eq!(findings[0].name(), "display-name-names-other-address");
/// assert!(findings[0].is_identity_mismatch());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// The `From` display name (or a comment in it) shows an address that
    /// is not the signer's (`manager@bigcorporation.de
    /// <eve@bigcorporation.de>`); encoded words and look-alike characters
    /// (full-width `＠`) are read as a mail client shows them.
    DisplayNameNamesOtherAddress {
        /// The address the display name shows.
        shown: String,
    },
    /// `Sender` names another mailbox than the `From` the signature binds,
    /// or appears more than once, or cannot be read: clients show it as the
    /// one who sent the mail.
    SenderDiffers {
        /// The `Sender` value.
        sender: String,
    },
    /// `Reply-To` points to another domain than the signer's: answers go
    /// elsewhere (a warning; mailing lists do this legitimately).
    ReplyToOtherDomain {
        /// The Reply-To address outside the signer's domain.
        reply_to: String,
    },
    /// The signing time (S/MIME signing-time attribute, OpenPGP signature
    /// creation time) and the `Date` field differ by more than the
    /// tolerance: an old signed message may have been replayed under a new
    /// date, or the other way round.
    DateDiffersFromSigningTime {
        /// How far apart they are, in whole seconds.
        difference: Duration,
    },
    /// The signed entity carries an RFC 9788 protected header (`hp="clear"`
    /// or `hp="cipher"`) whose `From` is not the outer `From`: a client
    /// implementing the RFC shows the one, any other client the other, and
    /// the signature binds at most one of them.
    ProtectedFromDiffers {
        /// The outer From value.
        outer: String,
        /// The protected From value.
        protected: String,
    },
}

impl Finding {
    /// The finding's name as result headers and JSON reports write it.
    pub fn name(&self) -> &'static str {
        match self {
            Finding::DisplayNameNamesOtherAddress { .. } => "display-name-names-other-address",
            Finding::SenderDiffers { .. } => "sender-differs",
            Finding::ReplyToOtherDomain { .. } => "reply-to-other-domain",
            Finding::DateDiffersFromSigningTime { .. } => "date-differs-from-signing-time",
            Finding::ProtectedFromDiffers { .. } => "protected-from-differs",
        }
    }

    /// Whether the finding means the reader is shown another author than
    /// the signer (display name, Sender): a verifier answers "no" for it,
    /// however valid the signature. The others are warnings.
    pub fn is_identity_mismatch(&self) -> bool {
        matches!(
            self,
            Finding::DisplayNameNamesOtherAddress { .. }
                | Finding::SenderDiffers { .. }
                | Finding::ProtectedFromDiffers { .. }
        )
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::DisplayNameNamesOtherAddress { shown } => write!(
                f,
                "the From display name shows {shown}, which is not the signer's address"
            ),
            Finding::SenderDiffers { sender } => write!(
                f,
                "Sender ({sender}) names another mailbox than the signed From"
            ),
            Finding::ReplyToOtherDomain { reply_to } => write!(
                f,
                "Reply-To ({reply_to}) points outside the signer's domain"
            ),
            Finding::DateDiffersFromSigningTime { difference } => write!(
                f,
                "the Date field is {} s away from the signing time",
                difference.as_secs()
            ),
            Finding::ProtectedFromDiffers { outer, protected } => write!(
                f,
                "the protected header (RFC 9788) says From {protected}, the message From {outer}"
            ),
        }
    }
}

/// The header fields that tell a reader who wrote a message, read once so
/// that S/MIME and OpenPGP verification judge them alike.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderIdentity {
    /// The unfolded value of the single `From` field.
    from_value: Option<String>,
    from: Vec<EmailAddress>,
    /// The unfolded values of every `Sender` field.
    sender_values: Vec<String>,
    reply_to: Vec<EmailAddress>,
    date: Option<SystemTime>,
}

impl HeaderIdentity {
    /// The identity fields of a message's header.
    pub fn of(entity: &Entity<'_>) -> HeaderIdentity {
        let single = |name: &str| {
            (entity.count(name) == 1)
                .then(|| entity.field(name).map(|f| f.value()))
                .flatten()
        };
        let from_value = single("from");
        let from = from_value
            .as_deref()
            .and_then(|v| EmailAddress::parse_mailboxes(v).ok())
            .unwrap_or_default();
        let sender_values = entity
            .fields()
            .iter()
            .filter(|f| f.is("sender"))
            .map(|f| f.value())
            .collect();
        let reply_to = entity
            .fields()
            .iter()
            .filter(|f| f.is("reply-to"))
            .filter_map(|f| EmailAddress::parse_mailboxes(&f.value()).ok())
            .flatten()
            .collect();
        let date = single("date").and_then(|v| parse_rfc5322_date(&v));
        HeaderIdentity {
            from_value,
            from,
            sender_values,
            reply_to,
            date,
        }
    }

    /// The identity fields of a signed entity's protected header (RFC 9788
    /// section 2.1.1: its `Content-Type` carries `hp="clear"` or
    /// `hp="cipher"`), read from the entity (its header section is
    /// enough); `None` when the entity has no protected header.
    ///
    /// ```
    /// let part = b"Content-Type: text/plain; hp=\"clear\"\r\nFrom: ceo@x.example\r\n\r\nHi\r\n";
    /// let protected = mail_message::HeaderIdentity::protected_in(part).unwrap();
    /// assert_eq!(protected.from()[0].as_str(), "ceo@x.example");
    /// assert!(mail_message::HeaderIdentity::protected_in(b"Content-Type: text/plain\r\n\r\n").is_none());
    /// ```
    pub fn protected_in(entity: &[u8]) -> Option<HeaderIdentity> {
        let entity = Entity::parse(entity).ok()?;
        let hp = entity
            .content_type()
            .ok()?
            .parameter("hp")?
            .to_ascii_lowercase();
        (hp == "clear" || hp == "cipher").then(|| HeaderIdentity::of(&entity))
    }

    /// [`HeaderIdentity::protected_in`] of the signed entity a temporary
    /// file holds (the streaming verifiers of both engines): its header
    /// section is read from the start of the file, at most `max_header`
    /// bytes; the file is left at an unspecified position. `None` when the
    /// file cannot be read or the entity has no protected header.
    pub fn protected_in_file(file: &std::fs::File, max_header: usize) -> Option<HeaderIdentity> {
        use std::io::{Seek, SeekFrom};
        let mut file = file;
        file.seek(SeekFrom::Start(0)).ok()?;
        let header =
            crate::stream::read_header_section(&mut std::io::BufReader::new(file), max_header)
                .ok()?;
        HeaderIdentity::protected_in(&header)
    }

    /// The addresses of the single `From` field.
    pub fn from(&self) -> &[EmailAddress] {
        &self.from
    }

    /// [`HeaderIdentity::findings`] of this (outer) header and, when the
    /// signed entity has one, of its protected header, plus
    /// [`Finding::ProtectedFromDiffers`] when the two name different From
    /// addresses. Each finding name is reported once.
    pub fn findings_with_protected(
        &self,
        protected: Option<&HeaderIdentity>,
        signers: &[EmailAddress],
        signing_times: &[SystemTime],
        date_tolerance: Duration,
    ) -> Vec<Finding> {
        let mut findings = self.findings(signers, signing_times, date_tolerance);
        let Some(protected) = protected else {
            return findings;
        };
        if signers.is_empty() {
            return findings;
        }
        for finding in protected.findings(signers, signing_times, date_tolerance) {
            if !findings.iter().any(|f| f.name() == finding.name()) {
                findings.push(finding);
            }
        }
        if protected.from != self.from {
            findings.push(Finding::ProtectedFromDiffers {
                outer: self.from_value.clone().unwrap_or_default(),
                protected: protected.from_value.clone().unwrap_or_default(),
            });
        }
        findings
    }

    /// The `Date` field's instant, if there is exactly one that parses.
    pub fn date(&self) -> Option<SystemTime> {
        self.date
    }

    /// What the header says beyond the signature, judged against the
    /// addresses the valid signatures certify (`signers`) and the signing
    /// times they claim. Nothing is judged without a signer. A missing or
    /// unreadable `Date` is not a date finding (there is nothing to compare).
    pub fn findings(
        &self,
        signers: &[EmailAddress],
        signing_times: &[SystemTime],
        date_tolerance: Duration,
    ) -> Vec<Finding> {
        let mut findings = Vec::new();
        if signers.is_empty() {
            return findings;
        }
        // Compared in the form the display name is read in (shown_text's
        // normal form), so that `Straße` shown is the signer `strasse`
        // folded alike, and in the canonical key.
        let signer_keys: Vec<String> = signers.iter().flat_map(shown_forms).collect();
        // The From address itself is not a display name: whether the
        // signer carries it is the verdict's question.
        let from_keys: Vec<String> = self.from.iter().flat_map(shown_forms).collect();
        if let Some(value) = &self.from_value {
            let shown = shown_addresses(value)
                .into_iter()
                .map(shown_key)
                .find(|shown| !signer_keys.contains(shown) && !from_keys.contains(shown));
            if let Some(shown) = shown {
                findings.push(Finding::DisplayNameNamesOtherAddress { shown });
            }
        }
        match self.sender_values.as_slice() {
            [] => {}
            [value] => {
                let sender = EmailAddress::parse_mailboxes(value).unwrap_or_default();
                let same =
                    matches!((sender.as_slice(), self.from.as_slice()), ([s], [f]) if s == f);
                if !same {
                    findings.push(Finding::SenderDiffers {
                        sender: value.clone(),
                    });
                }
            }
            several => findings.push(Finding::SenderDiffers {
                sender: several.join(", "),
            }),
        }
        // The signer's domain: that of a signer address which is the From
        // address, else those of every signer address.
        let from_signers: Vec<&EmailAddress> =
            signers.iter().filter(|s| self.from.contains(s)).collect();
        let domains: Vec<String> = if from_signers.is_empty() {
            signers.iter().map(|s| domain_key(s.domain())).collect()
        } else {
            from_signers
                .iter()
                .map(|s| domain_key(s.domain()))
                .collect()
        };
        if let Some(other) = self.reply_to.iter().find(|r| {
            let domain = domain_key(r.domain());
            !domains
                .iter()
                .any(|d| domain == *d || domain.ends_with(&format!(".{d}")))
        }) {
            findings.push(Finding::ReplyToOtherDomain {
                reply_to: other.to_string(),
            });
        }
        if let Some(date) = self.date {
            let difference = signing_times
                .iter()
                .map(|t| {
                    t.duration_since(date)
                        .or_else(|_| date.duration_since(*t))
                        .unwrap_or_default()
                })
                .max();
            if let Some(difference) = difference.filter(|d| *d > date_tolerance) {
                findings.push(Finding::DateDiffersFromSigningTime {
                    difference: Duration::from_secs(difference.as_secs()),
                });
            }
        }
        findings
    }
}

/// An address as compared with what a display name shows: its canonical
/// key ([`crate::Mailbox::key`]) and the key of its text (domain in
/// U-labels) in the normal form display names are read in
/// ([`shown_text::normalize`]), which folds case further than the key
/// (`ß` is `ss`).
fn shown_forms(address: &EmailAddress) -> [String; 2] {
    let mailbox = address.mailbox();
    let text = format!("{}@{}", mailbox.local_part(), mailbox.domain_unicode());
    [
        address.key().to_owned(),
        shown_key(shown_dots(&shown_text::normalize(&text))),
    ]
}

/// A domain as compared here: canonical (A-labels, lower case, no trailing
/// dot) when it is one, else lower case.
fn domain_key(domain: &str) -> String {
    crate::canonical_domain(domain).unwrap_or_else(|_| domain.trim_end_matches('.').to_lowercase())
}

/// An address shown in a display name, in the canonical key form when it
/// is a mailbox, so that `jürgen@bücher.example` shown is the signer
/// `jürgen@xn--bcher-kva.example`.
fn shown_key(shown: String) -> String {
    crate::Mailbox::parse(&shown).map_or(shown, |mailbox| mailbox.key().to_owned())
}

/// Ideographic and half-width full stops, which UTS #46 reads as the dot
/// between domain labels (and a reader as a dot), as `.`.
fn shown_dots(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{3002}' | '\u{FF0E}' | '\u{FF61}' => '.',
            c => c,
        })
        .collect()
}

/// Every address a mail client would show in a `From` value: the value as
/// shown ([`shown_text::decode_header_value`]: encoded words decoded as
/// leniently as clients do) in the normal form ([`shown_text::normalize`]:
/// invisible characters removed, NFKC turns `＠` into `@`, case folded),
/// ideographic full stops read as dots; then every `local@domain.tld` in
/// the text, angle address included.
pub(crate) fn shown_addresses(value: &str) -> Vec<String> {
    let shown = shown_text::normalize(&shown_text::decode_header_value(value.as_bytes()));
    let text: Vec<char> = shown_dots(&shown).chars().collect();
    let local_char = |c: char| c.is_alphanumeric() || ".!#$%&'*+/=?^_`{|}~-".contains(c);
    let domain_char = |c: char| c.is_alphanumeric() || c == '-' || c == '.';
    let mut found = Vec::new();
    for (at, _) in text.iter().enumerate().filter(|(_, c)| **c == '@') {
        let before = text.get(..at).unwrap_or_default();
        let start = before
            .iter()
            .rposition(|c| !local_char(*c))
            .map_or(0, |p| p + 1);
        let after = text.get(at + 1..).unwrap_or_default();
        let end = after
            .iter()
            .position(|c| !domain_char(*c))
            .unwrap_or(after.len());
        let local: String = before.get(start..).unwrap_or_default().iter().collect();
        let domain: String = after.get(..end).unwrap_or_default().iter().collect();
        let local = local.trim_matches('.');
        let domain = domain.trim_matches('.');
        let labels_ok = domain.contains('.') && domain.split('.').all(|label| !label.is_empty());
        if !local.is_empty() && labels_ok {
            let key = format!("{}@{}", local.to_lowercase(), domain.to_lowercase());
            if !found.contains(&key) {
                found.push(key);
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn date_tolerances_are_seconds_or_a_number_with_a_unit() {
        for (text, seconds) in [
            ("0", 0),
            ("90", 90),
            ("90s", 90),
            ("15m", 900),
            ("2h", 7200),
            ("1d", 86_400),
        ] {
            assert_eq!(
                parse_date_tolerance(text),
                Ok(Duration::from_secs(seconds)),
                "{text}"
            );
        }
        for text in ["", "h", "1w", "-5", "1.5h", " 5", "5 h", "1h30m"] {
            assert!(
                matches!(
                    parse_date_tolerance(text),
                    Err(ToleranceError::NotADuration(_))
                ),
                "{text:?} was accepted"
            );
        }
        for text in ["99999999999999999999", "999999999999999999d"] {
            assert!(
                matches!(parse_date_tolerance(text), Err(ToleranceError::TooLong(_))),
                "{text:?}"
            );
        }
    }
    use proptest::prelude::*;

    fn eve() -> EmailAddress {
        "eve@bigcorporation.de".parse().unwrap()
    }

    fn findings(header: &str) -> Vec<&'static str> {
        let message = format!("{header}\r\n\r\nbody\r\n");
        let entity = Entity::parse(message.as_bytes()).unwrap();
        let signing = parse_rfc5322_date("Mon, 07 Dec 2026 17:00:00 +0000").unwrap();
        HeaderIdentity::of(&entity)
            .findings(&[eve()], &[signing], DEFAULT_DATE_TOLERANCE)
            .iter()
            .map(Finding::name)
            .collect()
    }

    #[test]
    fn honest_headers_have_no_findings() {
        assert!(findings("From: Eve Example <eve@bigcorporation.de>").is_empty());
        assert!(findings("From: \"eve@bigcorporation.de\" <eve@bigcorporation.de>").is_empty());
        assert!(
            findings("From: eve@bigcorporation.de\r\nSender: EVE@bigcorporation.de").is_empty()
        );
        assert!(
            findings("From: eve@bigcorporation.de\r\nReply-To: team@lists.bigcorporation.de")
                .is_empty()
        );
        assert!(
            findings("From: eve@bigcorporation.de\r\nDate: Mon, 07 Dec 2026 17:59:00 +0000")
                .is_empty()
        );
        assert!(findings("From: Team@Work <eve@bigcorporation.de>").is_empty());
    }

    #[test]
    fn display_names_that_show_another_address() {
        for from in [
            "From: manager@bigcorporation.de <eve@bigcorporation.de>",
            "From: \"Manager (manager@bigcorporation.de)\" <eve@bigcorporation.de>",
            "From: =?utf-8?q?manager=40bigcorporation=2Ede?= <eve@bigcorporation.de>",
            "From: =?utf-8?b?bWFuYWdlckBiaWdjb3Jwb3JhdGlvbi5kZQ==?= <eve@bigcorporation.de>",
            "From: =?utf-8?q?manager?= =?utf-8?q?=40bigcorporation.de?= <eve@bigcorporation.de>",
            "From: manager\u{FF20}bigcorporation\u{3002}de <eve@bigcorporation.de>",
            "From: mana\u{200B}ger@bigcorporation.de <eve@bigcorporation.de>",
            "From: <eve@bigcorporation.de> (manager@bigcorporation.de)",
        ] {
            assert_eq!(
                findings(from),
                ["display-name-names-other-address"],
                "{from}"
            );
        }
    }

    #[test]
    fn sender_reply_to_and_date() {
        assert_eq!(
            findings("From: eve@bigcorporation.de\r\nSender: manager@bigcorporation.de"),
            ["sender-differs"]
        );
        assert_eq!(
            findings(
                "From: eve@bigcorporation.de\r\nSender: eve@bigcorporation.de\r\nSender: x@y.de"
            ),
            ["sender-differs"]
        );
        assert_eq!(
            findings("From: eve@bigcorporation.de\r\nReply-To: eve@bigcorporation.de.evil.example"),
            ["reply-to-other-domain"]
        );
        assert_eq!(
            findings("From: eve@bigcorporation.de\r\nDate: Mon, 07 Dec 2026 15:59:59 +0000"),
            ["date-differs-from-signing-time"]
        );
        // Without a signer nothing is judged.
        let entity = Entity::parse(b"From: a@b.example <c@d.example>\r\n\r\n").unwrap();
        assert!(
            HeaderIdentity::of(&entity)
                .findings(&[], &[], DEFAULT_DATE_TOLERANCE)
                .is_empty()
        );
    }

    #[test]
    fn a_protected_from_other_than_the_outer_one_is_a_finding() {
        let outer =
            HeaderIdentity::of(&Entity::parse(b"From: eve@bigcorporation.de\r\n\r\n").unwrap());
        let part = b"Content-Type: text/plain; hp=\"clear\"\r\nFrom: manager@bigcorporation.de <eve@bigcorporation.de>\r\n\r\nx";
        let protected = HeaderIdentity::protected_in(part).unwrap();
        let names: Vec<&str> = outer
            .findings_with_protected(Some(&protected), &[eve()], &[], DEFAULT_DATE_TOLERANCE)
            .iter()
            .map(Finding::name)
            .collect();
        assert_eq!(names, ["display-name-names-other-address"]);
        let part =
            b"Content-Type: text/plain; hp=\"cipher\"\r\nFrom: manager@bigcorporation.de\r\n\r\nx";
        let protected = HeaderIdentity::protected_in(part).unwrap();
        let findings =
            outer.findings_with_protected(Some(&protected), &[eve()], &[], DEFAULT_DATE_TOLERANCE);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].name(), "protected-from-differs");
        assert!(findings[0].is_identity_mismatch());
    }

    proptest! {
        /// The fold as a whole: only a wholly covered message whose
        /// signatures are all valid, and there is at least one, releases
        /// content; SignedByFrom needs the From binding besides; partial
        /// and unsigned coverage decide alone, whatever the signatures.
        #[test]
        fn the_fold_releases_only_whole_coverage_with_every_signature_valid(
            coverage in 0u8..3,
            valid in prop::collection::vec(any::<bool>(), 0..5),
            signed_by_from in any::<bool>(),
        ) {
            let coverage = match coverage {
                0 => Coverage::Whole,
                1 => Coverage::Partial { part: "2".to_owned(), reason: "r".to_owned() },
                _ => Coverage::Unsigned,
            };
            let verdict = Verdict::fold(&coverage, valid.iter().copied(), signed_by_from);
            let holds = coverage == Coverage::Whole && !valid.is_empty() && valid.iter().all(|v| *v);
            prop_assert_eq!(verdict.releases_content(), holds);
            let expected = match coverage {
                Coverage::Unsigned => Verdict::Unsigned,
                Coverage::Partial { .. } => Verdict::PartiallySigned,
                Coverage::Whole if !holds => Verdict::Invalid,
                Coverage::Whole if signed_by_from => Verdict::SignedByFrom,
                Coverage::Whole => Verdict::SignedByOther,
            };
            prop_assert_eq!(verdict, expected);
        }

        /// Any address put into the display name, in any case, between any
        /// text, is seen unless it is the signer's.
        #[test]
        fn any_other_address_in_the_display_name_is_seen(
            local in "[a-z][a-z0-9._-]{0,10}[a-z0-9]",
            domain in "[a-z][a-z0-9-]{0,8}\\.[a-z]{2,6}",
            before in "[A-Za-z ]{0,8}",
            after in "[A-Za-z ]{0,8}",
            upper in any::<bool>(),
            encoded in any::<bool>(),
        ) {
            let shown = format!("{local}@{domain}");
            let shown = if upper { shown.to_uppercase() } else { shown };
            let display = format!("{before} {shown} {after}");
            let display = if encoded {
                format!("=?utf-8?b?{}?=", String::from_utf8(crate::encode_base64(display.as_bytes(), crate::LineBreak::Crlf)).unwrap().trim())
            } else {
                format!("\"{display}\"")
            };
            let found = findings(&format!("From: {display} <eve@bigcorporation.de>"));
            let is_signer = format!("{local}@{domain}") == "eve@bigcorporation.de";
            prop_assert_eq!(found.contains(&"display-name-names-other-address"), !is_signer);
        }

        /// No From value panics the scanner.
        #[test]
        fn any_from_value_is_judged(value in "\\PC{0,80}") {
            let _ = shown_addresses(&value);
        }

        /// The class behind `mana\u{200B}ger@...` and `manager＠...`: a
        /// display name is judged by what the reader sees, so every
        /// spelling of it (invisible characters anywhere, full-width and
        /// upper-case letters, `＠` and ideographic full stops, encoded
        /// words B or Q, padded or not, UTF-8 split inside a character,
        /// UTF-16, words glued to plain text) gets exactly the finding of
        /// the plain spelling: the finding when the name shows an address
        /// other than the signer's, none when it shows the signer's or no
        /// address at all. Decoding and the normal form are
        /// `shown_text`'s, the policy's own, so no spelling is seen by one
        /// and missed by the other.
        #[test]
        fn every_spelling_of_a_display_name_is_judged_as_the_plain_one(
            local in "[a-z][a-z0-9]{0,7}",
            domain in "[a-z][a-z0-9]{0,7}\\.(de|com|example)",
            signer_address in any::<bool>(),
            with_address in prop_oneof![3 => Just(true), 1 => Just(false)],
            before in "[A-Za-z]{0,6}( [A-Za-z]{1,6})?",
            after in "[A-Za-z]{0,6}( [A-Za-z@]{1,6})?",
            invisibles in prop::collection::vec((any::<prop::sample::Index>(), 0..INVISIBLES.len()), 0..5),
            styles in prop::collection::vec(0u8..5, 1..64),
            mode in 0u8..3,
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
            encodings in prop::collection::vec(0u8..6, 1..8),
        ) {
            let address = if signer_address {
                "eve@bigcorporation.de".to_owned()
            } else {
                format!("{local}@{domain}")
            };
            let plain = if with_address {
                format!("{before} {address} {after}")
            } else {
                format!("{before} {after}")
            };
            let expected = findings(&format!("From: \"{plain}\" <eve@bigcorporation.de>"));
            let misleading = with_address && !signer_address;
            prop_assert_eq!(expected.contains(&"display-name-names-other-address"), misleading);
            let spelled = respell(&plain, &invisibles, &styles);
            let display = match mode {
                0 => format!("\"{spelled}\""),
                1 => encode_split_bytes(&spelled, &cuts, &encodings),
                _ => encode_split_chars(&spelled, &cuts, &encodings),
            };
            let header = format!("From: {display} <eve@bigcorporation.de>");
            prop_assert_eq!(findings(&header), expected, "{}", header);
        }
    }

    /// Characters a client does not draw, of several kinds: soft hyphen,
    /// zero-width space and joiner, word joiner, BOM, Arabic letter mark,
    /// Mongolian vowel separator, a variation selector, a tag character.
    const INVISIBLES: [char; 9] = [
        '\u{AD}',
        '\u{200B}',
        '\u{200D}',
        '\u{2060}',
        '\u{FEFF}',
        '\u{61C}',
        '\u{180E}',
        '\u{FE0F}',
        '\u{E0041}',
    ];

    /// `text` spelled otherwise: per character (styles taken in turn) as
    /// is, upper case, full width (`＠`, `．` or `。` for the dot), or full
    /// width upper case; then invisible characters inserted.
    fn respell(text: &str, invisibles: &[(prop::sample::Index, usize)], styles: &[u8]) -> String {
        let full_width = |c: char| match c {
            '.' => '\u{3002}',
            '!'..='~' => char::from_u32(u32::from(c) + 0xFEE0).unwrap(),
            c => c,
        };
        let mut chars: Vec<char> = text
            .chars()
            .zip(styles.iter().cycle())
            .map(|(c, style)| match style {
                1 => c.to_ascii_uppercase(),
                2 => full_width(c),
                3 => full_width(c.to_ascii_uppercase()),
                4 if c == '.' => '\u{FF0E}',
                _ => c,
            })
            .collect();
        for (at, which) in invisibles {
            let at = at.index(chars.len() + 1);
            chars.insert(at, INVISIBLES[*which]);
        }
        chars.into_iter().collect()
    }

    /// One encoded word of `bytes` in `charset`: B padded, B unpadded or
    /// Q, by `how`.
    fn word(charset: &str, bytes: &[u8], how: u8) -> String {
        use base64::Engine as _;
        match how % 3 {
            0 => format!(
                "=?{charset}?B?{}?=",
                base64::engine::general_purpose::STANDARD.encode(bytes)
            ),
            1 => format!(
                "=?{charset}?b?{}?=",
                base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
            ),
            _ => {
                let q: String = bytes
                    .iter()
                    .map(|&b| {
                        if b.is_ascii_alphanumeric() {
                            char::from(b).to_string()
                        } else if b == b' ' {
                            "_".to_owned()
                        } else {
                            format!("={b:02X}")
                        }
                    })
                    .collect();
                format!("=?{charset}?q?{q}?=")
            }
        }
    }

    /// `text` as UTF-8 encoded words cut at any byte (inside a character
    /// too), separated by white space.
    fn encode_split_bytes(text: &str, cuts: &[prop::sample::Index], how: &[u8]) -> String {
        let bytes = text.as_bytes();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.extend([0, bytes.len()]);
        points.sort_unstable();
        points.dedup();
        let words: Vec<String> = points
            .windows(2)
            .zip(how.iter().cycle())
            .map(|(w, how)| {
                word(
                    if how % 2 == 0 { "utf-8" } else { "UTF-8" },
                    &bytes[w[0]..w[1]],
                    *how,
                )
            })
            .collect();
        if words.is_empty() {
            word("utf-8", b"", 0)
        } else {
            words.join(" ")
        }
    }

    /// `text` cut at character boundaries, each piece plain text (glued to
    /// the words around it), a UTF-8 word or a UTF-16 (big or little
    /// endian) word; words separated by white space.
    fn encode_split_chars(text: &str, cuts: &[prop::sample::Index], how: &[u8]) -> String {
        let chars: Vec<char> = text.chars().collect();
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(chars.len() + 1)).collect();
        points.extend([0, chars.len()]);
        points.sort_unstable();
        points.dedup();
        let mut out = String::new();
        let mut last_was_word = false;
        for (w, how) in points.windows(2).zip(how.iter().cycle()) {
            let piece: String = chars[w[0]..w[1]].iter().collect();
            // White space alone between two words is dropped (RFC 2047
            // section 6.2), so such a piece is always a word.
            let raw = how % 3 == 0 && !piece.chars().all(char::is_whitespace);
            if raw {
                out.push_str(&piece);
                last_was_word = false;
                continue;
            }
            if last_was_word {
                out.push(' ');
            }
            let encoded = match how % 3 {
                1 => word("utf-8", piece.as_bytes(), how / 3),
                _ if how / 3 == 0 => {
                    let bytes: Vec<u8> = piece.encode_utf16().flat_map(u16::to_be_bytes).collect();
                    word("utf-16be", &bytes, 0)
                }
                _ => {
                    let bytes: Vec<u8> = piece.encode_utf16().flat_map(u16::to_le_bytes).collect();
                    word("UTF-16LE", &bytes, 1)
                }
            };
            out.push_str(&encoded);
            last_was_word = true;
        }
        if out.is_empty() {
            out.push_str("=?utf-8?q??=");
        }
        out
    }
}
