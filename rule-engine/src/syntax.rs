//! The policy as written: scopes, rules, conditions and actions, with the
//! positions they came from. Regexes and keyword automata are compiled when
//! the policy is parsed, so evaluation never compiles anything.

use std::fmt;
use std::ops::Range;
use std::sync::{Arc, OnceLock};

use regex::Regex;
use serde::Serialize;

/// Which way a mail travels through the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// From the organisation to the outside.
    Outbound,
    /// From the outside to the organisation.
    Inbound,
}

impl Direction {
    /// The policy-file spelling: `inbound` or `outbound`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Outbound => "outbound",
            Self::Inbound => "inbound",
        }
    }
}

impl std::str::FromStr for Direction {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "outbound" => Ok(Self::Outbound),
            "inbound" => Ok(Self::Inbound),
            other => Err(format!(
                "unknown direction `{other}`: expected `inbound` or `outbound`"
            )),
        }
    }
}

/// A cryptographic message format, for signing or encrypting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// S/MIME (CMS), high trust: identities verified by a CA.
    Smime,
    /// OpenPGP (PGP/MIME), lower trust: web of trust.
    Pgp,
}

impl Method {
    /// The policy-file spelling: `smime` or `pgp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Smime => "smime",
            Self::Pgp => "pgp",
        }
    }
}

/// What to do for a recipient that must get encrypted mail but has neither
/// certificate nor key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fallback {
    /// Deliver the mail as a password-protected PDF.
    PasswordPdf,
    /// Deliver the mail as a password-protected ZIP archive.
    PasswordZip,
    /// Do not deliver.
    Block,
}

impl Fallback {
    /// The policy-file spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PasswordPdf => "password-pdf",
            Self::PasswordZip => "password-zip",
            Self::Block => "block",
        }
    }
}

/// A change to the message header, applied before the mail leaves.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum HeaderEdit {
    /// Add a header field.
    Add {
        /// Field name.
        name: String,
        /// Field value.
        value: String,
    },
    /// Remove every field of this name.
    Remove {
        /// Field name.
        name: String,
    },
    /// Replace every field of this name by one with this value.
    Replace {
        /// Field name.
        name: String,
        /// New value.
        value: String,
    },
    /// Remove a tag such as `[vertraulich]` from the Subject, in any case.
    StripSubjectTag {
        /// The tag, brackets included.
        tag: String,
    },
}

/// A byte range in the policy text.
pub(crate) type Span = Range<usize>;

/// A regular expression of the policy, compared by its source text.
///
/// Its syntax is checked when the policy is parsed (errors have positions);
/// the automaton is built once, on first use, and shared by every condition
/// with the same source and flags (interned). Building thousands of small
/// regexes one by one was most of the compile time of large policies, and a
/// policy rarely reaches all of them for one mail; [`crate::Policy::prepare`]
/// builds them all ahead, as [`crate::LivePolicy`] does before a reload.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    pub(crate) source: String,
    pub(crate) compiled: Arc<LazyRegex>,
}

/// A regex built on first use; see [`Pattern`].
#[derive(Debug)]
pub(crate) struct LazyRegex {
    source: String,
    case_insensitive: bool,
    size_limit: usize,
    /// For a regex anchored at the start: the ASCII text every match of an
    /// ASCII haystack begins with, in lower case (see [`ascii_prefix`]).
    prefix: Option<String>,
    regex: OnceLock<Result<Regex, String>>,
}

/// The lower-case ASCII text every match of `hir` in an ASCII haystack
/// starts with, when `hir` is anchored at the start (`^abc-...`): a cheap
/// test that rejects most addresses before the regex runs. Only literal
/// bytes that are not upper-case letters, and case-insensitive letters
/// (a class of the two cases of one ASCII letter, plus the Kelvin sign or
/// long s, which an ASCII haystack cannot hold), are taken.
pub(crate) fn ascii_prefix(hir: &regex_syntax::hir::Hir) -> Option<String> {
    use regex_syntax::hir::{Class, HirKind, Look};
    let HirKind::Concat(items) = hir.kind() else {
        return None;
    };
    let mut items = items.iter();
    if !matches!(items.next()?.kind(), HirKind::Look(Look::Start)) {
        return None;
    }
    let mut prefix = String::new();
    for item in items {
        match item.kind() {
            HirKind::Literal(literal) => {
                let usable = literal
                    .0
                    .iter()
                    .take_while(|b| b.is_ascii() && !b.is_ascii_uppercase())
                    .count();
                let bytes = literal.0.get(..usable).unwrap_or_default();
                prefix.extend(bytes.iter().map(|&b| char::from(b)));
                if usable < literal.0.len() {
                    break;
                }
            }
            HirKind::Class(Class::Unicode(class)) => {
                let ascii: Vec<char> = class
                    .iter()
                    .flat_map(|r| r.start()..=r.end())
                    .take(4)
                    .filter(char::is_ascii)
                    .collect();
                match ascii.as_slice() {
                    [upper, lower]
                        if upper.is_ascii_uppercase() && upper.to_ascii_lowercase() == *lower =>
                    {
                        prefix.push(*lower);
                    }
                    _ => break,
                }
            }
            _ => break,
        }
    }
    (!prefix.is_empty()).then_some(prefix)
}

impl LazyRegex {
    pub(crate) fn new(
        source: &str,
        case_insensitive: bool,
        size_limit: usize,
        prefix: Option<String>,
    ) -> Self {
        Self {
            source: source.to_owned(),
            case_insensitive,
            size_limit,
            prefix,
            regex: OnceLock::new(),
        }
    }

    /// Builds the automaton now; the error says why it cannot be built
    /// (the syntax was checked before, so only the size limit is left).
    pub(crate) fn build(&self) -> Result<&Regex, &str> {
        self.regex
            .get_or_init(|| {
                regex::RegexBuilder::new(&self.source)
                    .case_insensitive(self.case_insensitive)
                    .size_limit(self.size_limit)
                    .build()
                    .map_err(|e| {
                        let text = e.to_string();
                        text.lines().last().unwrap_or("invalid").trim().to_owned()
                    })
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

impl Pattern {
    /// Whether the regex matches somewhere in `haystack`; for an anchored
    /// regex with a literal start and an ASCII haystack, a prefix test
    /// answers most non-matches without running the regex.
    pub(crate) fn is_match(&self, haystack: &str) -> Result<bool, crate::facts::FactError> {
        if let Some(prefix) = &self.compiled.prefix
            && haystack.is_ascii()
            && !haystack
                .as_bytes()
                .get(..prefix.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(prefix.as_bytes()))
        {
            return Ok(false);
        }
        Ok(self.regex()?.is_match(haystack))
    }

    /// The automaton, built on first use.
    pub(crate) fn regex(&self) -> Result<&Regex, crate::facts::FactError> {
        self.compiled
            .build()
            .map_err(|message| crate::facts::FactError {
                message: format!("the regex `{}` cannot be built: {message}", self.source),
            })
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

/// How far a [`DomainPattern`] reaches below its domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum DomainReach {
    /// `example.org`: the domain and every subdomain (`a.example.org`,
    /// `b.a.example.org`), as a DNS zone and Postfix's
    /// `parent_domain_matches_subdomains` read a domain name: whoever writes
    /// `geheim.example` means the organisation behind it.
    Tree,
    /// `=example.org`: the domain itself only.
    Exact,
    /// `*.example.org`: its subdomains only, not the domain itself.
    Subdomains,
}

/// A domain in a policy: `example.org` (the domain and its subdomains),
/// `=example.org` (the domain only) or `*.example.org` (its subdomains
/// only). Matching is by whole labels: `example.org` never matches
/// `badexample.org`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct DomainPattern {
    /// Canonical (`mail_message::canonical_domain`), without `=` or `*.`.
    pub(crate) suffix: String,
    pub(crate) reach: DomainReach,
}

impl DomainPattern {
    /// `domain`, `=domain` or `*.domain`, in the canonical form the gateway
    /// gives envelope domains (`mail_message::canonical_domain`: lower-case
    /// A-labels, no trailing dot), so `Bücher.Example.` in a policy matches
    /// mail to `xn--bcher-kva.example` and every other spelling of it.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        let (reach, rest) = if let Some(rest) = text.strip_prefix("*.") {
            (DomainReach::Subdomains, rest)
        } else if let Some(rest) = text.strip_prefix('=') {
            (DomainReach::Exact, rest)
        } else {
            (DomainReach::Tree, text)
        };
        let suffix = mail_message::canonical_domain(rest).ok()?;
        Some(Self { suffix, reach })
    }

    /// Whether `domain` (canonical: lower-case A-labels, no trailing dot,
    /// as `mail_message::Mailbox::domain` gives it) is matched.
    pub(crate) fn matches(&self, domain: &str) -> bool {
        let (domain, suffix) = (domain.as_bytes(), self.suffix.as_bytes());
        let equal = domain.eq_ignore_ascii_case(suffix);
        // At least one label and a dot before the suffix: a label boundary,
        // so `evilgeheim.example` is not below `geheim.example`.
        let below = || {
            domain.len() > suffix.len() + 1
                && domain
                    .get(domain.len() - suffix.len()..)
                    .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
                && domain.get(domain.len() - suffix.len() - 1) == Some(&b'.')
        };
        match self.reach {
            DomainReach::Exact => equal,
            DomainReach::Subdomains => below(),
            DomainReach::Tree => equal || below(),
        }
    }

    /// Whether every domain `other` matches is matched by `self` too (so
    /// listing both says nothing more than `self`).
    pub(crate) fn covers(&self, other: &DomainPattern) -> bool {
        let below = || {
            other
                .suffix
                .strip_suffix(self.suffix.as_str())
                .is_some_and(|head| head.ends_with('.') && head.len() > 1)
        };
        match self.reach {
            DomainReach::Tree => other.suffix == self.suffix || below(),
            DomainReach::Subdomains => below() || self == other,
            DomainReach::Exact => self == other,
        }
    }

    /// Higher is more specific. More labels first; among patterns with
    /// the same labels, `=x` (one domain) above `*.x` (everything below x)
    /// above `x` (x and everything below). `*.x` counts below `a.x`, whose
    /// tree is a part of what `*.x` covers.
    pub(crate) fn specificity(&self) -> usize {
        self.suffix.split('.').count() * 3
            + match self.reach {
                DomainReach::Exact => 2,
                DomainReach::Subdomains => 1,
                DomainReach::Tree => 0,
            }
    }
}

impl fmt::Display for DomainPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reach {
            DomainReach::Tree => f.write_str(&self.suffix),
            DomainReach::Exact => write!(f, "={}", self.suffix),
            DomainReach::Subdomains => write!(f, "*.{}", self.suffix),
        }
    }
}

/// Which party of the mail an address condition looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Party {
    /// The envelope sender (MAIL FROM).
    Sender,
    /// The envelope recipient being evaluated.
    Recipient,
    /// The mailboxes of the header From field (the author a reader sees):
    /// a list condition holds if one of them is listed; `header_from_internal`
    /// holds only if there is one and every one is internal.
    HeaderFrom,
}

impl Party {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Sender => "sender",
            Self::Recipient => "recipient",
            Self::HeaderFrom => "header_from",
        }
    }
}

/// How a header condition compares.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HeaderTest {
    Exists,
    Equals(String),
    Contains(String),
    Matches(Pattern),
}

/// A host fact a condition can ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FactKind {
    RecipientHas(Method),
    RecipientTls(String),
    SenderHas(Method),
    InboundSignatureValid,
}

impl FactKind {
    pub(crate) fn key(&self) -> &'static str {
        match self {
            Self::RecipientHas(Method::Smime) => "recipient_has_smime",
            Self::RecipientHas(Method::Pgp) => "recipient_has_pgp",
            Self::RecipientTls(_) => "recipient_tls",
            Self::SenderHas(Method::Smime) => "sender_has_smime",
            Self::SenderHas(Method::Pgp) => "sender_has_pgp",
            Self::InboundSignatureValid => "inbound_signature_valid",
        }
    }
}

/// Conditions on the attachments. Per-attachment filters select attachments;
/// counts and the total size apply to the selected ones.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct AttachmentTest {
    pub(crate) count_min: Option<u64>,
    pub(crate) count_max: Option<u64>,
    pub(crate) larger_than: Option<u64>,
    pub(crate) total_size_over: Option<u64>,
    /// Lower case; `type/*` matches the whole type.
    pub(crate) mime_types: Vec<String>,
    /// Lower case, without the dot.
    pub(crate) extensions: Vec<String>,
    pub(crate) name_regex: Option<Pattern>,
}

impl AttachmentTest {
    pub(crate) fn has_filter(&self) -> bool {
        self.larger_than.is_some()
            || !self.mime_types.is_empty()
            || !self.extensions.is_empty()
            || self.name_regex.is_some()
    }
}

/// Data-loss-prevention scan of the decoded text.
#[derive(Debug, Clone)]
pub(crate) struct BodyTest {
    pub(crate) keywords: Vec<String>,
    /// Ids in the policy's [`KeywordIndex`](crate::keywords::KeywordIndex),
    /// assigned when the policy is built.
    pub(crate) keyword_ids: Vec<usize>,
    pub(crate) regexes: Vec<Pattern>,
    pub(crate) threshold: u64,
}

impl PartialEq for BodyTest {
    fn eq(&self, other: &Self) -> bool {
        self.keywords == other.keywords
            && self.regexes == other.regexes
            && self.threshold == other.threshold
    }
}

/// A condition of a rule's `when`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Condition {
    All(Vec<Condition>),
    Any(Vec<Condition>),
    Not(Box<Condition>),
    Direction(Direction),
    /// Lower case, sorted, without repeats.
    Address(Party, Vec<String>),
    Domain(Party, Vec<DomainPattern>),
    AddressRegex(Party, Pattern),
    Internal(Party, bool),
    Header {
        name: String,
        test: HeaderTest,
        case_sensitive: bool,
    },
    SubjectTag(String),
    Attachments(AttachmentTest),
    Body(BodyTest),
    SizeOver(u64),
    SizeUnder(u64),
    Signed(bool),
    Encrypted(bool),
    Fact(FactKind, bool),
}

impl Condition {
    /// Whether the condition looks at the recipient (address, domain or a
    /// recipient fact).
    pub(crate) fn depends_on_recipient(&self) -> bool {
        match self {
            Self::All(v) | Self::Any(v) => v.iter().any(Self::depends_on_recipient),
            Self::Not(c) => c.depends_on_recipient(),
            Self::Address(p, _)
            | Self::Domain(p, _)
            | Self::AddressRegex(p, _)
            | Self::Internal(p, _) => *p == Party::Recipient,
            Self::Fact(FactKind::RecipientHas(_) | FactKind::RecipientTls(_), _) => true,
            _ => false,
        }
    }

    /// Conditions that ask the host go last in an implicit `all`, so a fact is
    /// only asked once everything cheap has held.
    pub(crate) fn cost(&self) -> u8 {
        match self {
            Self::Fact(..) => 3,
            Self::Body(_) => 2,
            Self::All(v) | Self::Any(v) => v.iter().map(Self::cost).max().unwrap_or(0),
            Self::Not(c) => c.cost(),
            _ => 0,
        }
    }
}

fn quote(s: &str) -> String {
    format!("{s:?}")
}

fn list(items: &[String]) -> String {
    if let [one] = items {
        quote(one)
    } else {
        format!(
            "[{}]",
            items
                .iter()
                .map(|s| quote(s))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::All(v) => {
                let parts: Vec<String> = v.iter().map(ToString::to_string).collect();
                write!(f, "all({})", parts.join(", "))
            }
            Self::Any(v) => {
                let parts: Vec<String> = v.iter().map(ToString::to_string).collect();
                write!(f, "any({})", parts.join(", "))
            }
            Self::Not(c) => write!(f, "not({c})"),
            Self::Direction(d) => write!(f, "direction = {}", quote(d.as_str())),
            Self::Address(p, a) => write!(f, "{} = {}", p.as_str(), list(a)),
            Self::Domain(p, d) => {
                let d: Vec<String> = d.iter().map(ToString::to_string).collect();
                write!(f, "{}_domain = {}", p.as_str(), list(&d))
            }
            Self::AddressRegex(p, r) => write!(f, "{}_regex = {}", p.as_str(), quote(&r.source)),
            Self::Internal(p, b) => write!(f, "{}_internal = {b}", p.as_str()),
            Self::Header {
                name,
                test,
                case_sensitive,
            } => {
                let cs = if *case_sensitive {
                    ", case_sensitive = true"
                } else {
                    ""
                };
                match test {
                    HeaderTest::Exists => write!(f, "header {} exists{cs}", quote(name)),
                    HeaderTest::Equals(v) => {
                        write!(f, "header {} equals {}{cs}", quote(name), quote(v))
                    }
                    HeaderTest::Contains(v) => {
                        write!(f, "header {} contains {}{cs}", quote(name), quote(v))
                    }
                    HeaderTest::Matches(r) => {
                        write!(f, "header {} matches {}{cs}", quote(name), quote(&r.source))
                    }
                }
            }
            Self::SubjectTag(t) => write!(f, "subject_tag = {}", quote(t)),
            Self::Attachments(a) => {
                let mut parts = Vec::new();
                if let Some(n) = a.count_min {
                    parts.push(format!("count_min = {n}"));
                }
                if let Some(n) = a.count_max {
                    parts.push(format!("count_max = {n}"));
                }
                if let Some(n) = a.larger_than {
                    parts.push(format!("larger_than = {n}"));
                }
                if let Some(n) = a.total_size_over {
                    parts.push(format!("total_size_over = {n}"));
                }
                if !a.mime_types.is_empty() {
                    parts.push(format!("mime_type = {}", list(&a.mime_types)));
                }
                if !a.extensions.is_empty() {
                    parts.push(format!("extension = {}", list(&a.extensions)));
                }
                if let Some(r) = &a.name_regex {
                    parts.push(format!("name_regex = {}", quote(&r.source)));
                }
                write!(f, "attachments {{ {} }}", parts.join(", "))
            }
            Self::Body(b) => {
                let regexes: Vec<String> = b.regexes.iter().map(|r| r.source.clone()).collect();
                write!(
                    f,
                    "body {{ keywords = {}, regex = {}, threshold = {} }}",
                    list(&b.keywords),
                    list(&regexes),
                    b.threshold
                )
            }
            Self::SizeOver(n) => write!(f, "size_over = {n}"),
            Self::SizeUnder(n) => write!(f, "size_under = {n}"),
            Self::Signed(b) => write!(f, "signed = {b}"),
            Self::Encrypted(b) => write!(f, "encrypted = {b}"),
            Self::Fact(FactKind::RecipientTls(profile), b) => {
                if *b {
                    write!(f, "recipient_tls = {}", quote(profile))
                } else {
                    write!(f, "not(recipient_tls = {})", quote(profile))
                }
            }
            Self::Fact(kind, b) => write!(f, "{} = {b}", kind.key()),
        }
    }
}

/// How strongly a terminal decision protects the mail; conflicts between
/// decisions of equal standing resolve to the higher rank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Decision {
    Deliver,
    RequireTls(String),
    Encrypt {
        required: bool,
        methods: Vec<Method>,
        fallback: Option<Fallback>,
    },
    Quarantine(Option<String>),
    Block(String),
}

impl Decision {
    pub(crate) fn protection(&self) -> u8 {
        match self {
            Self::Deliver => 0,
            Self::RequireTls(_) => 1,
            Self::Encrypt {
                required: false,
                fallback: None,
                ..
            } => 2,
            Self::Encrypt {
                fallback: Some(Fallback::PasswordPdf | Fallback::PasswordZip),
                ..
            } => 3,
            Self::Encrypt { .. } => 4,
            Self::Quarantine(_) => 5,
            Self::Block(_) => 6,
        }
    }

    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Deliver => "deliver",
            Self::RequireTls(_) => "require-tls",
            Self::Encrypt { .. } => "encrypt",
            Self::Quarantine(_) => "quarantine",
            Self::Block(_) => "block",
        }
    }
}

/// Signing demanded by a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignSpec {
    pub(crate) methods: Vec<Method>,
    pub(crate) required: bool,
}

/// What a rule does when its conditions hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Actions {
    pub(crate) decision: Option<Decision>,
    pub(crate) sign: Option<SignSpec>,
    pub(crate) whitelist: bool,
    pub(crate) notify_sender: Option<String>,
    pub(crate) archive: bool,
    pub(crate) decrypt: bool,
    pub(crate) harvest: bool,
    pub(crate) header_edits: Vec<HeaderEdit>,
}

/// One rule of a scope.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    pub(crate) id: String,
    pub(crate) description: Option<String>,
    pub(crate) enforced: bool,
    pub(crate) disable: bool,
    /// `None`: the rule always applies.
    pub(crate) when: Option<Condition>,
    pub(crate) then: Actions,
    pub(crate) span: Span,
    pub(crate) when_span: Span,
    /// Position in the whole policy, for per-evaluation memos.
    pub(crate) index: usize,
    /// Whether the conditions look at the recipient; if not, one result
    /// serves every recipient of a mail.
    pub(crate) per_recipient: bool,
}

impl Rule {
    /// Calls `f` with every regex of the rule's conditions.
    pub(crate) fn for_each_pattern(&self, f: &mut dyn FnMut(&Pattern)) {
        if let Some(when) = &self.when {
            when.for_each_pattern(f);
        }
    }
}

impl Condition {
    /// Calls `f` with every regex of the condition.
    pub(crate) fn for_each_pattern(&self, f: &mut dyn FnMut(&Pattern)) {
        match self {
            Self::All(items) | Self::Any(items) => {
                for item in items {
                    item.for_each_pattern(f);
                }
            }
            Self::Not(inner) => inner.for_each_pattern(f),
            Self::AddressRegex(_, pattern)
            | Self::Header {
                test: HeaderTest::Matches(pattern),
                ..
            } => f(pattern),
            Self::Attachments(test) => {
                if let Some(pattern) = &test.name_regex {
                    f(pattern);
                }
            }
            Self::Body(test) => test.regexes.iter().for_each(f),
            _ => {}
        }
    }
}

impl PartialEq for Rule {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
            && self.description == other.description
            && self.enforced == other.enforced
            && self.disable == other.disable
            && self.when == other.when
            && self.then == other.then
    }
}

impl Rule {
    pub(crate) fn is_terminal(&self) -> bool {
        self.then.decision.is_some()
    }
}

/// Where a rule is defined; scopes further down are more specific.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ScopeKind {
    Global,
    Domain(DomainPattern),
    Group {
        name: String,
        members: Vec<String>,
        member_domains: Vec<DomainPattern>,
    },
    User(String),
}

/// A scope and its ordered rules.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Scope {
    pub(crate) kind: ScopeKind,
    pub(crate) rules: Vec<Rule>,
    /// `global`, `domain *.example.org`, `group legal`, `user a@b`: made
    /// once, named in every trace step.
    label: String,
}

impl Scope {
    pub(crate) fn new(kind: ScopeKind, rules: Vec<Rule>) -> Self {
        let label = match &kind {
            ScopeKind::Global => "global".to_owned(),
            ScopeKind::Domain(d) => format!("domain {d}"),
            ScopeKind::Group { name, .. } => format!("group {name}"),
            ScopeKind::User(u) => format!("user {u}"),
        };
        Self { kind, rules, label }
    }

    /// 0 global, 1 domain, 2 group, 3 user.
    pub(crate) fn level(&self) -> u8 {
        match self.kind {
            ScopeKind::Global => 0,
            ScopeKind::Domain(_) => 1,
            ScopeKind::Group { .. } => 2,
            ScopeKind::User(_) => 3,
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.label
    }

    /// Whether this scope applies to the recipient `address` (lower case).
    pub(crate) fn applies_to(&self, address: &str) -> bool {
        let domain = address.rsplit_once('@').map_or("", |(_, d)| d);
        match &self.kind {
            ScopeKind::Global => true,
            ScopeKind::Domain(d) => d.matches(domain),
            ScopeKind::Group {
                members,
                member_domains,
                ..
            } => {
                members.iter().any(|m| m == address)
                    || member_domains.iter().any(|d| d.matches(domain))
            }
            ScopeKind::User(u) => u == address,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_subdomains_only() {
        let p = DomainPattern::parse("*.Behoerde.example").unwrap();
        assert!(p.matches("mail.behoerde.example"));
        assert!(p.matches("a.b.BEHOERDE.example"));
        assert!(!p.matches("behoerde.example"));
        assert!(!p.matches("xbehoerde.example"));
        let exact = DomainPattern::parse("=behoerde.example").unwrap();
        assert!(exact.matches("Behoerde.Example"));
        assert!(!exact.matches("mail.behoerde.example"));
        assert!(exact.specificity() > p.specificity());
        assert!(DomainPattern::parse("*.").is_none());
        assert!(DomainPattern::parse("=").is_none());
        assert!(DomainPattern::parse("=*.a.example").is_none());
        assert!(DomainPattern::parse("a..b").is_none());
        assert!(DomainPattern::parse("a b").is_none());
        let idn = DomainPattern::parse("*.Bücher.Example.").unwrap();
        assert!(idn.matches("a.xn--bcher-kva.example"));
        assert_eq!(
            DomainPattern::parse("xn--bcher-kva.example").unwrap(),
            DomainPattern::parse("bücher.example").unwrap()
        );
        assert!(DomainPattern::parse("[192.0.2.1]").is_none());
    }

    #[test]
    fn a_plain_domain_matches_itself_and_its_subdomains_by_label() {
        let tree = DomainPattern::parse("Geheim.Example.").unwrap();
        assert!(tree.matches("geheim.example"));
        assert!(tree.matches("sub.geheim.example"));
        assert!(tree.matches("a.b.geheim.example"));
        assert!(!tree.matches("evilgeheim.example"));
        assert!(!tree.matches("geheim.example.evil.example"));
        assert!(!tree.matches("example"));
        assert!(!tree.matches(""));
        assert_eq!(tree.to_string(), "geheim.example");
        let exact = DomainPattern::parse("=geheim.example").unwrap();
        assert_eq!(exact.to_string(), "=geheim.example");
        assert_eq!(
            DomainPattern::parse(&exact.to_string()),
            Some(exact.clone())
        );
        // Most specific first: `=x` > `*.x` > `x`; `a.x` > `*.x`.
        let wildcard = DomainPattern::parse("*.geheim.example").unwrap();
        let sub = DomainPattern::parse("sub.geheim.example").unwrap();
        assert!(exact.specificity() > wildcard.specificity());
        assert!(wildcard.specificity() > tree.specificity());
        assert!(sub.specificity() > wildcard.specificity());
        // Coverage, for the redundancy warning.
        assert!(tree.covers(&wildcard) && tree.covers(&exact) && tree.covers(&sub));
        assert!(!wildcard.covers(&tree) && wildcard.covers(&sub) && !exact.covers(&tree));
        assert!(!tree.covers(&DomainPattern::parse("evilgeheim.example").unwrap()));
    }

    #[test]
    fn protection_orders_decisions() {
        let block = Decision::Block("x".into());
        let tls = Decision::RequireTls("p".into());
        let enc_pdf = Decision::Encrypt {
            required: true,
            methods: vec![Method::Smime],
            fallback: Some(Fallback::PasswordPdf),
        };
        let enc_block = Decision::Encrypt {
            required: true,
            methods: vec![Method::Smime],
            fallback: None,
        };
        assert!(Decision::Deliver.protection() < tls.protection());
        assert!(tls.protection() < enc_pdf.protection());
        assert!(enc_pdf.protection() < enc_block.protection());
        assert!(enc_block.protection() < block.protection());
    }
}
