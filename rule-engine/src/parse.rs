//! Reading a policy file: TOML with positions into scopes, rules, conditions
//! and actions. Every problem becomes a [`Diagnostic`] with file, line and
//! column; unknown keys are errors; parsing goes on after an error so one run
//! reports as much as possible.

use std::collections::HashMap;
use std::sync::Arc;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::{Diagnostic, Severity, SourceMap};
use crate::syntax::{
    Actions, AttachmentTest, BodyTest, Condition, Decision, DomainPattern, DomainReach, FactKind,
    Fallback, HeaderEdit, HeaderTest, LazyRegex, Method, Party, Pattern, Rule, Scope, ScopeKind,
    SignSpec, Span,
};

type Value<'i> = Spanned<DeValue<'i>>;

/// Conditions nested deeper than this are refused (they are never needed and
/// would only cost stack).
const MAX_DEPTH: usize = 32;

/// Compiled regexes are limited to this many bytes so a hostile policy cannot
/// exhaust memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

const TOP_KEYS: &[&str] = &["policy", "rules", "domain", "group", "user", "default"];
const DEFAULT_KEYS: &[&str] = &["then"];
/// How a policy ends: what the help of a missing `[default]` shows.
const DEFAULT_EXAMPLE: &str = "end the file with\n\n    [default]\n    then = { deliver = true }\n\n(or `block = \"reason\"`, `quarantine = true`, `encrypt = ...`, `require_tls = ...`): mail that no terminal rule decides gets this; nothing is delivered by default";
const POLICY_KEYS: &[&str] = &["name", "internal_domains"];
const SCOPE_KEYS: &[&str] = &["rules"];
const GROUP_KEYS: &[&str] = &["members", "member_domains", "rules"];
const RULE_KEYS: &[&str] = &["id", "description", "when", "then", "enforced", "disable"];
const CONDITION_KEYS: &[&str] = &[
    "direction",
    "sender",
    "recipient",
    "sender_domain",
    "recipient_domain",
    "sender_regex",
    "recipient_regex",
    "sender_internal",
    "recipient_internal",
    "header_from",
    "header_from_domain",
    "header_from_regex",
    "header_from_internal",
    "header",
    "subject_tag",
    "sensitivity",
    "classification",
    "attachments",
    "body",
    "size_over",
    "size_under",
    "signed",
    "encrypted",
    "recipient_has_smime",
    "recipient_has_pgp",
    "recipient_tls",
    "sender_has_smime",
    "sender_has_pgp",
    "inbound_signature_valid",
    "all",
    "any",
    "not",
];
const HEADER_KEYS: &[&str] = &[
    "name",
    "exists",
    "equals",
    "contains",
    "regex",
    "case_sensitive",
];
const ATTACHMENT_KEYS: &[&str] = &[
    "count_min",
    "count_max",
    "larger_than",
    "total_size_over",
    "mime_type",
    "extension",
    "name_regex",
];
const BODY_KEYS: &[&str] = &["keywords", "regex", "threshold"];
const ACTION_KEYS: &[&str] = &[
    "sign",
    "sign_mode",
    "encrypt",
    "methods",
    "fallback",
    "require_tls",
    "block",
    "quarantine",
    "deliver",
    "whitelist",
    "notify_sender",
    "archive",
    "decrypt",
    "harvest",
    "add_header",
    "remove_header",
    "replace_header",
    "strip_subject_tag",
];
const DECISION_KEYS: &[&str] = &["deliver", "block", "quarantine", "encrypt", "require_tls"];

/// What the reader made of a policy text.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub(crate) name: Option<String>,
    pub(crate) internal_domains: Vec<DomainPattern>,
    pub(crate) scopes: Vec<Scope>,
    /// The `[default]` decision for mail no terminal rule decides; `None`
    /// only when reading failed (missing or broken `[default]` is an error).
    pub(crate) default: Option<Decision>,
}

/// Reads `text`; the diagnostics say what was wrong. The result is usable
/// only when no diagnostic is an error.
///
/// `eager_regexes` builds every regex now instead of on first use.
pub(crate) fn read(
    map: &SourceMap<'_>,
    text: &str,
    eager_regexes: bool,
    profiles: Option<&dyn Fn(&str) -> bool>,
) -> (Parsed, Vec<Diagnostic>) {
    let mut reader = Reader {
        map,
        diagnostics: Vec::new(),
        eager_regexes,
        regexes: HashMap::new(),
        end: text.len(),
        profiles,
    };
    let parsed = match DeTable::parse(text) {
        Ok(root) => reader.policy(root.get_ref()),
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            reader.error(
                span,
                format!("invalid TOML: {}", e.message().trim_end()),
                Some("fix the TOML syntax first".into()),
            );
            Parsed::default()
        }
    };
    (parsed, reader.diagnostics)
}

struct Reader<'m, 's> {
    map: &'m SourceMap<'s>,
    diagnostics: Vec<Diagnostic>,
    /// Build every regex while reading (for `Policy::check`), not on first
    /// use.
    eager_regexes: bool,
    /// Regexes by source and case-insensitivity: identical ones share one
    /// automaton.
    regexes: HashMap<(String, bool), Arc<LazyRegex>>,
    /// The length of the text: where a missing `[default]` is reported (a
    /// truncated file loses its end first).
    end: usize,
    /// Which TLS profile names the host knows, when it says
    /// ([`Policy::check_with_profiles`](crate::Policy::check_with_profiles)).
    profiles: Option<&'m dyn Fn(&str) -> bool>,
}

/// Above this estimate of a regex's automaton size (see `nfa_estimate`),
/// the regex is built while reading, so that exceeding the size limit is an
/// error with a position.
const EAGER_ESTIMATE: u64 = 4096;

/// A generous upper bound of the size of a regex's automaton, in states:
/// classes count their ranges several times over (UTF-8 sequences) and
/// repetitions multiply. Small regexes (the usual address and header
/// patterns) stay far below the size limit and are built on first use.
fn nfa_estimate(hir: &regex_syntax::hir::Hir) -> u64 {
    use regex_syntax::hir::{Class, HirKind};
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => 1,
        HirKind::Literal(literal) => literal.0.len() as u64,
        HirKind::Class(Class::Unicode(class)) => (class.ranges().len() as u64).saturating_mul(16),
        HirKind::Class(Class::Bytes(class)) => class.ranges().len() as u64,
        HirKind::Repetition(repetition) => {
            let times = repetition
                .max
                .unwrap_or(repetition.min.saturating_add(1))
                .max(1);
            nfa_estimate(&repetition.sub).saturating_mul(u64::from(times))
        }
        HirKind::Capture(capture) => nfa_estimate(&capture.sub),
        HirKind::Concat(items) | HirKind::Alternation(items) => items
            .iter()
            .map(nfa_estimate)
            .fold(1u64, u64::saturating_add),
    }
}

/// Levenshtein distance, for "did you mean".
/// Where a value ends in the text, including everything nested in it (a
/// table's own span covers only its header).
fn extent(value: &Value<'_>) -> usize {
    let nested = match value.get_ref() {
        DeValue::Table(t) => t
            .iter()
            .map(|(k, v)| k.span().end.max(extent(v)))
            .max()
            .unwrap_or(0),
        DeValue::Array(items) => items.iter().map(extent).max().unwrap_or(0),
        _ => 0,
    };
    value.span().end.max(nested)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row.first().copied().unwrap_or(0);
        if let Some(first) = row.first_mut() {
            *first = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let above = row.get(j + 1).copied().unwrap_or(usize::MAX);
            let left = row.get(j).copied().unwrap_or(usize::MAX);
            let cost = previous + usize::from(ca != *cb);
            let best = cost
                .min(above.saturating_add(1))
                .min(left.saturating_add(1));
            previous = above;
            if let Some(cell) = row.get_mut(j + 1) {
                *cell = best;
            }
        }
    }
    row.last().copied().unwrap_or(0)
}

fn suggestion(key: &str, allowed: &[&str]) -> String {
    let best = allowed
        .iter()
        .map(|k| (distance(key, k), *k))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((d, k)) if d <= 2 || (d <= 3 && key.len() > 6) => format!("did you mean `{k}`?"),
        _ => format!("expected one of: {}", allowed.join(", ")),
    }
}

fn type_name(value: &DeValue<'_>) -> &'static str {
    value.type_str()
}

/// Parses a size: bytes as an integer, or a string with a unit
/// (`KB`, `MB`, `GB` decimal; `KiB`, `MiB`, `GiB` binary).
pub(crate) fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '_')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.replace('_', "").parse().ok()?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        _ => return None,
    };
    number.checked_mul(factor)
}

impl Reader<'_, '_> {
    /// An unknown TLS profile is an error when the host named its
    /// profiles: a misspelt name would otherwise be judged by whatever the
    /// host does with names it does not know.
    fn known_profile(&mut self, profile: &str, span: Span) {
        if let Some(known) = self.profiles
            && !known(profile)
        {
            self.error(
                span,
                format!("unknown TLS profile `{profile}`"),
                Some("the gateway knows `bsi-tr-03108`, `opportunistic` and `mta-sts`".into()),
            );
        }
    }

    fn error(&mut self, span: Span, message: impl Into<String>, help: Option<String>) {
        let d = self.map.diagnostic(Severity::Error, span, message, help);
        self.diagnostics.push(d);
    }

    fn warning(&mut self, span: Span, message: impl Into<String>, help: Option<String>) {
        let d = self.map.diagnostic(Severity::Warning, span, message, help);
        self.diagnostics.push(d);
    }

    /// The entries of `table` whose keys are allowed; the others are errors.
    fn fields<'a, 'i>(
        &mut self,
        table: &'a DeTable<'i>,
        allowed: &[&str],
        what: &str,
    ) -> Vec<(&'a str, Span, &'a Value<'i>)> {
        let mut out: Vec<(&'a str, Span, &'a Value<'i>)> = Vec::new();
        for (key, value) in table.iter() {
            let name: &str = key.get_ref();
            if allowed.contains(&name) {
                out.push((name, key.span(), value));
            } else {
                self.error(
                    key.span(),
                    format!("unknown key `{name}` in {what}"),
                    Some(suggestion(name, allowed)),
                );
            }
        }
        // The map is sorted by key; the file order is what people read.
        out.sort_by_key(|(_, span, _)| span.start);
        out
    }

    fn table<'a, 'i>(&mut self, value: &'a Value<'i>, what: &str) -> Option<&'a DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(t) => Some(t),
            other => {
                self.error(
                    value.span(),
                    format!("`{what}` must be a table, found {}", type_name(other)),
                    None,
                );
                None
            }
        }
    }

    fn array<'a, 'i>(&mut self, value: &'a Value<'i>, what: &str) -> Option<&'a [Value<'i>]> {
        match value.get_ref() {
            DeValue::Array(a) => Some(a),
            other => {
                self.error(
                    value.span(),
                    format!("`{what}` must be an array, found {}", type_name(other)),
                    None,
                );
                None
            }
        }
    }

    fn string(&mut self, value: &Value<'_>, what: &str) -> Option<String> {
        match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            other => {
                self.error(
                    value.span(),
                    format!("`{what}` must be a string, found {}", type_name(other)),
                    None,
                );
                None
            }
        }
    }

    fn boolean(&mut self, value: &Value<'_>, what: &str) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            other => {
                self.error(
                    value.span(),
                    format!("`{what}` must be true or false, found {}", type_name(other)),
                    None,
                );
                None
            }
        }
    }

    fn integer(&mut self, value: &Value<'_>, what: &str) -> Option<u64> {
        if let DeValue::Integer(i) = value.get_ref() {
            let digits = i.as_str().replace('_', "");
            let digits = digits
                .strip_prefix("0x")
                .or_else(|| digits.strip_prefix("0o"))
                .or_else(|| digits.strip_prefix("0b"))
                .unwrap_or(&digits);
            let digits = digits.strip_prefix('+').unwrap_or(digits);
            if let Ok(n) = u64::from_str_radix(digits, i.radix()) {
                return Some(n);
            }
        }
        self.error(
            value.span(),
            format!("`{what}` must be a non-negative whole number"),
            None,
        );
        None
    }

    /// A size in bytes: an integer, or a string such as `"25MB"`.
    fn size(&mut self, value: &Value<'_>, what: &str) -> Option<u64> {
        match value.get_ref() {
            DeValue::Integer(_) => self.integer(value, what),
            DeValue::String(s) => {
                let size = parse_size(s);
                if size.is_none() {
                    self.error(
                        value.span(),
                        format!("`{what}`: `{s}` is not a size"),
                        Some("write bytes as a number, or a number with KB, MB, GB, KiB, MiB or GiB, e.g. \"25MB\"".into()),
                    );
                }
                size
            }
            other => {
                self.error(
                    value.span(),
                    format!("`{what}` must be a size, found {}", type_name(other)),
                    Some("e.g. 1048576 or \"25MB\"".into()),
                );
                None
            }
        }
    }

    /// A string, or an array of strings.
    fn strings(&mut self, value: &Value<'_>, what: &str) -> Option<Vec<(String, Span)>> {
        match value.get_ref() {
            DeValue::String(s) => Some(vec![(s.to_string(), value.span())]),
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    out.push((self.string(item, what)?, item.span()));
                }
                if out.is_empty() {
                    self.error(
                        value.span(),
                        format!("`{what}` is an empty list"),
                        Some("give at least one value, or remove the key".into()),
                    );
                    return None;
                }
                Some(out)
            }
            other => {
                self.error(
                    value.span(),
                    format!(
                        "`{what}` must be a string or an array of strings, found {}",
                        type_name(other)
                    ),
                    None,
                );
                None
            }
        }
    }

    fn domains(&mut self, value: &Value<'_>, what: &str) -> Option<Vec<DomainPattern>> {
        let mut out: Vec<DomainPattern> = Vec::new();
        let mut ok = true;
        for (text, span) in self.strings(value, what)? {
            match DomainPattern::parse(&text) {
                Some(p) => {
                    // A plain domain covers its subdomains now: a list
                    // written for exact matching (`x`, `*.x`) says less
                    // than it seems to, so say so.
                    let pair = out
                        .iter()
                        .find(|q| q.covers(&p))
                        .map(|q| (p.clone(), q.clone()))
                        .or_else(|| {
                            out.iter()
                                .find(|q| p.covers(q))
                                .map(|q| (q.clone(), p.clone()))
                        });
                    if let Some((narrow, wide)) = pair {
                        let help = if wide.reach == DomainReach::Tree {
                            format!(
                                "`{wide}` matches the domain and all its subdomains; write \
                                 `={wide}` for that domain only"
                            )
                        } else {
                            format!("remove `{narrow}`")
                        };
                        self.warning(
                            span,
                            format!("`{narrow}` is already covered by `{wide}` in this list"),
                            Some(help),
                        );
                    }
                    out.push(p);
                }
                None => {
                    ok = false;
                    self.error(
                        span,
                        format!("`{text}` is not a domain or domain wildcard"),
                        Some(
                            "write `example.org` (it and its subdomains), `=example.org` \
                             (it only) or `*.example.org` (its subdomains only)"
                                .into(),
                        ),
                    );
                }
            }
        }
        ok.then_some(out)
    }

    fn addresses(&mut self, value: &Value<'_>, what: &str) -> Option<Vec<String>> {
        let mut out = Vec::new();
        let mut ok = true;
        for (text, span) in self.strings(value, what)? {
            // In the envelope's form (Mailbox keys), whatever the spelling.
            match mail_message::Mailbox::parse(text.trim()) {
                Ok(mailbox) => out.push(mailbox.key().to_owned()),
                Err(_) => {
                    ok = false;
                    self.error(
                        span,
                        format!("`{text}` is not a mail address"),
                        Some("write `name@example.org`; for whole domains use `*_domain`".into()),
                    );
                }
            }
        }
        ok.then_some(out)
    }

    fn regex(&mut self, value: &Value<'_>, what: &str, case_insensitive: bool) -> Option<Pattern> {
        let source = self.string(value, what)?;
        let invalid = |reader: &mut Self, message: &str| {
            let first = message
                .lines()
                .last()
                .unwrap_or("invalid")
                .trim()
                .to_owned();
            reader.error(
                value.span(),
                format!("invalid regex in `{what}`: {first}"),
                Some("regex syntax is that of the Rust `regex` crate (no look-around or backreferences)".into()),
            );
        };
        // The syntax is checked here, cheaply; the automaton is built on
        // first use (see `Pattern`), once per distinct regex.
        let hir = match regex_syntax::ParserBuilder::new()
            .case_insensitive(case_insensitive)
            .build()
            .parse(&source)
        {
            Ok(hir) => hir,
            Err(e) => {
                invalid(self, &e.to_string());
                return None;
            }
        };
        if hir.properties().minimum_len().is_none() {
            self.warning(
                value.span(),
                format!("the regex `{source}` can never match"),
                Some("the condition is always false; fix or remove the regex".into()),
            );
        }
        let key = (source.clone(), case_insensitive);
        let compiled = match self.regexes.get(&key) {
            Some(compiled) => compiled.clone(),
            None => {
                let compiled = Arc::new(LazyRegex::new(
                    &source,
                    case_insensitive,
                    REGEX_SIZE_LIMIT,
                    crate::syntax::ascii_prefix(&hir),
                ));
                // Only the size limit can still fail. Build now what could
                // reach it, so the error has a position, and everything when
                // checking a policy.
                if (self.eager_regexes || nfa_estimate(&hir) > EAGER_ESTIMATE)
                    && let Err(message) = compiled.build()
                {
                    let message = message.to_owned();
                    invalid(self, &message);
                    return None;
                }
                self.regexes.insert(key, compiled.clone());
                compiled
            }
        };
        Some(Pattern { source, compiled })
    }

    fn method(&mut self, text: &str, span: Span, what: &str) -> Option<Method> {
        match text {
            "smime" => Some(Method::Smime),
            "pgp" => Some(Method::Pgp),
            _ => {
                self.error(
                    span,
                    format!("unknown method `{text}` in `{what}`"),
                    Some("expected `smime` or `pgp`".into()),
                );
                None
            }
        }
    }

    fn methods(&mut self, value: &Value<'_>, what: &str) -> Option<Vec<Method>> {
        let mut out = Vec::new();
        for (text, span) in self.strings(value, what)? {
            let m = self.method(&text, span.clone(), what)?;
            if out.contains(&m) {
                self.warning(span, format!("`{text}` is listed twice in `{what}`"), None);
            } else {
                out.push(m);
            }
        }
        Some(out)
    }

    fn policy(&mut self, root: &DeTable<'_>) -> Parsed {
        let mut parsed = Parsed::default();
        let mut global_rules = Vec::new();
        let mut domains = Vec::new();
        let mut groups = Vec::new();
        let mut users = Vec::new();
        let mut default_at = None;
        for (key, key_span, value) in self.fields(root, TOP_KEYS, "the policy file") {
            match key {
                "policy" => self.policy_header(value, &mut parsed),
                "default" => {
                    default_at = Some(key_span.clone());
                    parsed.default = self.default_section(value);
                }
                "rules" => global_rules = self.rules(value),
                "domain" | "group" | "user" => {
                    let Some(table) = self.table(value, key) else {
                        continue;
                    };
                    for (name, scope_value) in table.iter() {
                        let name_text: &str = name.get_ref();
                        let scope = match key {
                            "domain" => self.domain_scope(name_text, name.span(), scope_value),
                            "group" => self.group_scope(name_text, scope_value),
                            _ => self.user_scope(name_text, name.span(), scope_value),
                        };
                        if let Some(scope) = scope {
                            match key {
                                "domain" => domains.push((name.span(), scope)),
                                "group" => groups.push((name.span(), scope)),
                                _ => users.push((name.span(), scope)),
                            }
                        }
                    }
                    let _ = key_span;
                }
                _ => {}
            }
        }
        parsed
            .scopes
            .push(Scope::new(ScopeKind::Global, global_rules));
        // File order within each kind: it breaks ties between groups that
        // decide with equal protection. Scopes whose names are equal once
        // normalised (case, `*.`) are one scope written twice: an error.
        for list in [domains, groups, users] {
            let mut list: Vec<(String, Span, Scope)> = list
                .into_iter()
                .map(|(span, s)| (s.name().to_owned(), span, s))
                .collect();
            list.sort_by_key(|(_, span, _)| span.start);
            let mut seen: Vec<(String, Span)> = Vec::new();
            for (name, span, scope) in list {
                if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                    let line = self
                        .map
                        .diagnostic(Severity::Error, first.clone(), "", None)
                        .line;
                    self.error(
                        span,
                        format!("{name} is defined twice (first on line {line})"),
                        Some("names compare in lower case; merge the two scopes".into()),
                    );
                    continue;
                }
                seen.push((name, span));
                parsed.scopes.push(scope);
            }
        }
        self.complete(root, default_at, &parsed);
        parsed
    }

    /// Fail closed at configuration: a policy must end with its `[default]`
    /// and have at least one rule. The `[default]` comes last so that a file
    /// cut short anywhere before its end (a truncated copy, a half-written
    /// deployment) loses it and is refused, instead of silently becoming a
    /// shorter policy whose unmatched mail would be delivered.
    fn complete(&mut self, root: &DeTable<'_>, default_at: Option<Span>, parsed: &Parsed) {
        // Rules that failed to read are already errors; "no rules" is only
        // said of a policy that has none written.
        let earlier_errors = self.diagnostics.iter().any(Diagnostic::is_error);
        if parsed.scopes.iter().all(|s| s.rules.is_empty()) && !earlier_errors {
            self.error(
                0..0,
                "the policy has no rules",
                Some("a policy that decides nothing is a mistake; add `[[rules]]`".into()),
            );
        }
        let Some(default_at) = default_at else {
            self.error(
                self.end..self.end,
                "the policy does not end with a `[default]` for mail that no rule decides \
                 (is the file complete?)",
                Some(DEFAULT_EXAMPLE.into()),
            );
            return;
        };
        let after = root
            .iter()
            .filter(|(key, _)| *key.get_ref() != "default")
            .map(|(key, value)| (key.span(), extent(value)))
            .filter(|(_, end)| *end > default_at.start)
            .min_by_key(|(span, _)| span.start);
        if let Some((later, _)) = after {
            let line = self.map.diagnostic(Severity::Error, later, "", None).line;
            self.error(
                default_at,
                format!("`[default]` must be the last table of the policy, but line {line} comes after it"),
                Some("move `[default]` to the end of the file: it marks the end, so a truncated file is refused".into()),
            );
        }
    }

    /// The `[default]` table: `then` with exactly one decision and nothing
    /// else (effects such as `sign` or header edits belong in rules, where
    /// they have conditions).
    fn default_section(&mut self, value: &Value<'_>) -> Option<Decision> {
        let table = self.table(value, "default")?;
        let mut decision = None;
        let mut seen = false;
        for (_, _, then) in self.fields(table, DEFAULT_KEYS, "[default]") {
            seen = true;
            let Some(then_table) = self.table(then, "then") else {
                continue;
            };
            let actions = self.actions(then_table, then.span())?;
            let only = Actions {
                decision: actions.decision.clone(),
                ..Actions::default()
            };
            match actions.decision {
                None => self.error(
                    then.span(),
                    "the default must decide what happens to the mail",
                    Some("give one of `deliver = true`, `block = \"reason\"`, `quarantine = true`, `encrypt = ...`, `require_tls = ...`".into()),
                ),
                Some(_) if actions != only => self.error(
                    then.span(),
                    "the default only decides; effects (`sign`, header edits, `notify_sender`, ...) belong in rules",
                    Some("keep one decision here and move the effects into a `[[rules]]` entry".into()),
                ),
                Some(d) => decision = Some(d),
            }
        }
        if !seen {
            self.error(
                value.span(),
                "`[default]` needs `then`",
                Some(DEFAULT_EXAMPLE.into()),
            );
        }
        decision
    }

    fn policy_header(&mut self, value: &Value<'_>, parsed: &mut Parsed) {
        let Some(table) = self.table(value, "policy") else {
            return;
        };
        for (key, _, value) in self.fields(table, POLICY_KEYS, "[policy]") {
            match key {
                "name" => parsed.name = self.string(value, "name"),
                "internal_domains" => {
                    parsed.internal_domains =
                        self.domains(value, "internal_domains").unwrap_or_default();
                }
                _ => {}
            }
        }
    }

    fn domain_scope(&mut self, name: &str, span: Span, value: &Value<'_>) -> Option<Scope> {
        let Some(pattern) = DomainPattern::parse(name) else {
            self.error(
                span,
                format!("`{name}` is not a domain or domain wildcard"),
                Some(
                    "write [domain.\"example.org\"] (it and its subdomains), \
                     [domain.\"=example.org\"] (it only) or [domain.\"*.example.org\"] \
                     (its subdomains only)"
                        .into(),
                ),
            );
            return None;
        };
        let rules = self.scope_rules(value, "domain scope", name)?;
        Some(Scope::new(ScopeKind::Domain(pattern), rules))
    }

    fn user_scope(&mut self, name: &str, span: Span, value: &Value<'_>) -> Option<Scope> {
        // The envelope's addresses are Mailbox keys; a user scope is one too.
        let key = mail_message::Mailbox::parse(name.trim()).map(|m| m.key().to_owned());
        let Ok(lower) = key else {
            self.error(
                span,
                format!("`{name}` is not a mail address"),
                Some("write [user.\"name@example.org\"]".into()),
            );
            return None;
        };
        let rules = self.scope_rules(value, "user scope", name)?;
        Some(Scope::new(ScopeKind::User(lower), rules))
    }

    /// The rules of a domain or user scope table (which has only `rules`).
    fn scope_rules(&mut self, value: &Value<'_>, kind: &str, name: &str) -> Option<Vec<Rule>> {
        let table = self.table(value, kind)?;
        let mut rules = Vec::new();
        for (_, _, value) in self.fields(table, SCOPE_KEYS, &format!("{kind} `{name}`")) {
            rules = self.rules(value);
        }
        Some(rules)
    }

    fn group_scope(&mut self, name: &str, value: &Value<'_>) -> Option<Scope> {
        let table = self.table(value, "group scope")?;
        let mut rules = Vec::new();
        let mut members = Vec::new();
        let mut member_domains = Vec::new();
        for (key, _, value) in self.fields(table, GROUP_KEYS, &format!("group `{name}`")) {
            match key {
                "members" => members = self.addresses(value, "members").unwrap_or_default(),
                "member_domains" => {
                    member_domains = self.domains(value, "member_domains").unwrap_or_default();
                }
                _ => rules = self.rules(value),
            }
        }
        if members.is_empty() && member_domains.is_empty() {
            self.warning(
                value.span(),
                format!("group `{name}` has no members, so its rules never apply"),
                Some("add `members = [\"name@example.org\"]` or `member_domains`".into()),
            );
        }
        Some(Scope::new(
            ScopeKind::Group {
                name: name.to_owned(),
                members,
                member_domains,
            },
            rules,
        ))
    }

    fn rules(&mut self, value: &Value<'_>) -> Vec<Rule> {
        let Some(items) = self.array(value, "rules") else {
            return Vec::new();
        };
        let mut rules: Vec<Rule> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for item in items {
            let Some(rule) = self.rule(item) else {
                continue;
            };
            if let Some(line) = seen.get(&rule.id) {
                self.error(
                    rule.span.clone(),
                    format!("duplicate rule id `{}` in this scope", rule.id),
                    Some(format!(
                        "the first rule `{}` is on line {line}; give each rule its own id",
                        rule.id
                    )),
                );
                continue;
            }
            let line = self
                .map
                .diagnostic(Severity::Warning, rule.span.clone(), "", None)
                .line;
            seen.insert(rule.id.clone(), line);
            rules.push(rule);
        }
        rules
    }

    fn rule(&mut self, value: &Value<'_>) -> Option<Rule> {
        let table = self.table(value, "rules")?;
        let mut id = None;
        let mut id_span = value.span();
        let mut description = None;
        let mut enforced = false;
        let mut disable = false;
        let mut when = None;
        let mut when_span = value.span();
        let mut then = None;
        let mut then_span = None;
        let mut broken = false;
        for (key, key_span, v) in self.fields(table, RULE_KEYS, "a rule") {
            match key {
                "id" => {
                    id_span = v.span();
                    id = self.string(v, "id");
                    if id.as_deref().is_some_and(|s| s.trim().is_empty()) {
                        self.error(
                            v.span(),
                            "rule id is empty",
                            Some("write e.g. `id = \"R1\"`".into()),
                        );
                        id = None;
                    }
                }
                "description" => description = self.string(v, "description"),
                "enforced" => enforced = self.boolean(v, "enforced").unwrap_or(false),
                "disable" => disable = self.boolean(v, "disable").unwrap_or(false),
                "when" => {
                    when_span = key_span.start..v.span().end;
                    match self.table(v, "when") {
                        Some(t) => match self.conditions(t, v.span(), 0) {
                            Some(c) => when = Some(c),
                            None => broken = true,
                        },
                        None => broken = true,
                    }
                }
                "then" => {
                    then_span = Some(v.span());
                    match self.table(v, "then") {
                        Some(t) => match self.actions(t, v.span()) {
                            Some(a) => then = Some(a),
                            None => broken = true,
                        },
                        None => broken = true,
                    }
                }
                _ => {}
            }
        }
        let Some(id) = id else {
            if !table.iter().any(|(k, _)| k.get_ref() == "id") {
                self.error(
                    value.span(),
                    "rule without `id`",
                    Some("every rule needs an id that traces can name, e.g. `id = \"R1\"`".into()),
                );
            }
            return None;
        };
        if disable {
            if let Some(span) = then_span {
                self.error(
                    span,
                    format!("rule `{id}` is disabled but has actions"),
                    Some("a `disable = true` rule only removes the inherited rule of the same id; remove `then` or `disable`".into()),
                );
                return None;
            }
            if enforced {
                self.error(
                    id_span,
                    format!("rule `{id}` is both disabled and enforced"),
                    None,
                );
                return None;
            }
        } else if then.is_none() && !broken {
            self.error(
                value.span(),
                format!("rule `{id}` has no `then`"),
                Some("say what the rule does, e.g. `then = { sign = \"smime\" }`".into()),
            );
            return None;
        }
        if broken {
            return None;
        }
        Some(Rule {
            id,
            description,
            enforced,
            disable,
            when,
            then: then.unwrap_or_default(),
            span: id_span,
            when_span,
            index: 0,
            per_recipient: false,
        })
    }

    /// The conditions of one table; several keys must all hold.
    fn conditions(&mut self, table: &DeTable<'_>, span: Span, depth: usize) -> Option<Condition> {
        if depth > MAX_DEPTH {
            self.error(
                span,
                "conditions nested too deeply",
                Some(format!("use at most {MAX_DEPTH} levels of all/any/not")),
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (key, _, value) in self.fields(table, CONDITION_KEYS, "conditions") {
            match self.condition(key, value, depth) {
                Some(c) => out.push(c),
                None => ok = false,
            }
        }
        if !ok || out.len() < table.len() {
            // The errors are reported already.
            return None;
        }
        if out.is_empty() {
            self.error(
                span,
                "empty condition table",
                Some(
                    "give at least one condition, or remove `when` so the rule always applies"
                        .into(),
                ),
            );
            return None;
        }
        // Cheap conditions first: a host fact is asked only when the rest held.
        out.sort_by_key(Condition::cost);
        if out.len() == 1 {
            out.pop()
        } else {
            Some(Condition::All(out))
        }
    }

    fn condition_list(
        &mut self,
        value: &Value<'_>,
        what: &str,
        depth: usize,
    ) -> Option<Vec<Condition>> {
        let items = self.array(value, what)?;
        if items.is_empty() {
            self.error(
                value.span(),
                format!("`{what}` is an empty list"),
                Some("give at least one condition table".into()),
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match self
                .table(item, what)
                .and_then(|t| self.conditions(t, item.span(), depth + 1))
            {
                Some(c) => out.push(c),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn condition(&mut self, key: &str, value: &Value<'_>, depth: usize) -> Option<Condition> {
        let fact = |kind: FactKind, b: Option<bool>| b.map(|b| Condition::Fact(kind, b));
        Some(match key {
            "direction" => {
                let text = self.string(value, key)?;
                match text.parse() {
                    Ok(d) => Condition::Direction(d),
                    Err(message) => {
                        self.error(value.span(), message, None);
                        return None;
                    }
                }
            }
            "sender" => Condition::Address(Party::Sender, address_set(self.addresses(value, key)?)),
            "recipient" => {
                Condition::Address(Party::Recipient, address_set(self.addresses(value, key)?))
            }
            "sender_domain" => Condition::Domain(Party::Sender, self.domains(value, key)?),
            "recipient_domain" => Condition::Domain(Party::Recipient, self.domains(value, key)?),
            "sender_regex" => Condition::AddressRegex(Party::Sender, self.regex(value, key, true)?),
            "recipient_regex" => {
                Condition::AddressRegex(Party::Recipient, self.regex(value, key, true)?)
            }
            "header_from" => {
                Condition::Address(Party::HeaderFrom, address_set(self.addresses(value, key)?))
            }
            "header_from_domain" => Condition::Domain(Party::HeaderFrom, self.domains(value, key)?),
            "header_from_regex" => {
                Condition::AddressRegex(Party::HeaderFrom, self.regex(value, key, true)?)
            }
            "header_from_internal" => {
                Condition::Internal(Party::HeaderFrom, self.boolean(value, key)?)
            }
            "sender_internal" => Condition::Internal(Party::Sender, self.boolean(value, key)?),
            "recipient_internal" => {
                Condition::Internal(Party::Recipient, self.boolean(value, key)?)
            }
            "header" => match value.get_ref() {
                DeValue::Array(_) => {
                    let items = self.array(value, key)?;
                    let mut out = Vec::new();
                    for item in items {
                        out.push(self.header(item)?);
                    }
                    match out.len() {
                        0 => {
                            self.error(value.span(), "`header` is an empty list", None);
                            return None;
                        }
                        1 => out.pop()?,
                        _ => Condition::All(out),
                    }
                }
                _ => self.header(value)?,
            },
            "subject_tag" => {
                // Matched in the normal form a reader's view maps to (see
                // `shown_text`); a tag of invisible characters is empty.
                let tag = crate::shown_text::normalize(&self.string(value, key)?);
                if tag.is_empty() {
                    self.error(
                        value.span(),
                        "`subject_tag` is empty",
                        Some("write the tag, e.g. \"[vertraulich]\"".into()),
                    );
                    return None;
                }
                Condition::SubjectTag(tag)
            }
            "sensitivity" => Condition::Header {
                name: "Sensitivity".into(),
                test: HeaderTest::Equals(self.string(value, key)?),
                case_sensitive: false,
            },
            "classification" => Condition::Header {
                name: "X-Classification".into(),
                test: HeaderTest::Equals(self.string(value, key)?),
                case_sensitive: false,
            },
            "attachments" => self.attachments(value)?,
            "body" => self.body(value)?,
            "size_over" => Condition::SizeOver(self.size(value, key)?),
            "size_under" => Condition::SizeUnder(self.size(value, key)?),
            "signed" => Condition::Signed(self.boolean(value, key)?),
            "encrypted" => Condition::Encrypted(self.boolean(value, key)?),
            "recipient_has_smime" => fact(
                FactKind::RecipientHas(Method::Smime),
                self.boolean(value, key),
            )?,
            "recipient_has_pgp" => fact(
                FactKind::RecipientHas(Method::Pgp),
                self.boolean(value, key),
            )?,
            "sender_has_smime" => {
                fact(FactKind::SenderHas(Method::Smime), self.boolean(value, key))?
            }
            "sender_has_pgp" => fact(FactKind::SenderHas(Method::Pgp), self.boolean(value, key))?,
            "inbound_signature_valid" => {
                fact(FactKind::InboundSignatureValid, self.boolean(value, key))?
            }
            "recipient_tls" => {
                let profile = self.string(value, key)?;
                if profile.trim().is_empty() {
                    self.error(
                        value.span(),
                        "`recipient_tls` needs a profile name",
                        Some("e.g. \"bsi-tr-03108\"".into()),
                    );
                    return None;
                }
                self.known_profile(&profile, value.span());
                Condition::Fact(FactKind::RecipientTls(profile), true)
            }
            "all" => Condition::All(self.condition_list(value, key, depth)?),
            "any" => Condition::Any(self.condition_list(value, key, depth)?),
            "not" => {
                let table = self.table(value, key)?;
                Condition::Not(Box::new(self.conditions(table, value.span(), depth + 1)?))
            }
            _ => return None,
        })
    }

    fn header(&mut self, value: &Value<'_>) -> Option<Condition> {
        let table = self.table(value, "header")?;
        let mut name = None;
        let mut tests: Vec<(Span, &str, &Value<'_>)> = Vec::new();
        let mut case_sensitive = false;
        for (key, key_span, v) in self.fields(table, HEADER_KEYS, "a header condition") {
            match key {
                "name" => name = self.string(v, "name"),
                "case_sensitive" => case_sensitive = self.boolean(v, key)?,
                _ => tests.push((key_span, key, v)),
            }
        }
        let Some(name) = name else {
            self.error(
                value.span(),
                "header condition without `name`",
                Some(
                    "e.g. `header = { name = \"X-Classification\", equals = \"confidential\" }`"
                        .into(),
                ),
            );
            return None;
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            self.error(
                value.span(),
                format!("`{name}` is not a header field name"),
                None,
            );
            return None;
        }
        let test = match tests.as_slice() {
            [(_, key, v)] => match *key {
                "exists" => {
                    if !self.boolean(v, key)? {
                        self.error(v.span(), "`exists = false` is written `not = { header = { name = ..., exists = true } }`", None);
                        return None;
                    }
                    HeaderTest::Exists
                }
                "equals" => HeaderTest::Equals(self.string(v, key)?),
                "contains" => HeaderTest::Contains(self.string(v, key)?),
                _ => HeaderTest::Matches(self.regex(v, key, !case_sensitive)?),
            },
            [] => {
                self.error(
                    value.span(),
                    format!("header condition on `{name}` has no test"),
                    Some("add one of `exists = true`, `equals`, `contains` or `regex`".into()),
                );
                return None;
            }
            [_, (span, key, _), ..] => {
                self.error(
                    span.clone(),
                    format!("header condition on `{name}` has a second test `{key}`"),
                    Some(
                        "one test per header condition; combine several with `all` or `any`".into(),
                    ),
                );
                return None;
            }
        };
        Some(Condition::Header {
            name,
            test,
            case_sensitive,
        })
    }

    fn attachments(&mut self, value: &Value<'_>) -> Option<Condition> {
        let table = self.table(value, "attachments")?;
        let mut test = AttachmentTest::default();
        let mut ok = true;
        for (key, _, v) in self.fields(table, ATTACHMENT_KEYS, "an attachments condition") {
            let done = match key {
                "count_min" => self.integer(v, key).map(|n| test.count_min = Some(n)),
                "count_max" => self.integer(v, key).map(|n| test.count_max = Some(n)),
                "larger_than" => self.size(v, key).map(|n| test.larger_than = Some(n)),
                "total_size_over" => self.size(v, key).map(|n| test.total_size_over = Some(n)),
                "mime_type" => self.strings(v, key).map(|list| {
                    test.mime_types = list
                        .into_iter()
                        .map(|(s, _)| s.to_ascii_lowercase())
                        .collect();
                }),
                "extension" => self.strings(v, key).map(|list| {
                    test.extensions = list
                        .into_iter()
                        .map(|(s, _)| s.trim_start_matches('.').to_ascii_lowercase())
                        .collect();
                }),
                _ => self.regex(v, key, true).map(|p| test.name_regex = Some(p)),
            };
            ok &= done.is_some();
        }
        if !ok {
            return None;
        }
        if let (Some(min), Some(max)) = (test.count_min, test.count_max)
            && min > max
        {
            self.error(
                value.span(),
                format!("`count_min` ({min}) is above `count_max` ({max}), so this never holds"),
                None,
            );
            return None;
        }
        if test == AttachmentTest::default() {
            self.error(
                value.span(),
                "empty attachments condition",
                Some("e.g. `attachments = { count_min = 1 }`".into()),
            );
            return None;
        }
        Some(Condition::Attachments(test))
    }

    fn body(&mut self, value: &Value<'_>) -> Option<Condition> {
        let table = self.table(value, "body")?;
        let mut keywords = Vec::new();
        let mut regexes = Vec::new();
        let mut threshold = 1;
        let mut ok = true;
        for (key, _, v) in self.fields(table, BODY_KEYS, "a body condition") {
            match key {
                "keywords" => match self.strings(v, key) {
                    Some(list) => {
                        for (word, span) in list {
                            if word.is_empty() {
                                self.error(span, "empty keyword", None);
                                ok = false;
                            } else {
                                keywords.push(word);
                            }
                        }
                    }
                    None => ok = false,
                },
                "regex" => {
                    let items: Vec<&Value<'_>> = match v.get_ref() {
                        DeValue::Array(a) => a.iter().collect(),
                        _ => vec![v],
                    };
                    for item in items {
                        match self.regex(item, key, true) {
                            Some(p) => regexes.push(p),
                            None => ok = false,
                        }
                    }
                }
                _ => match self.integer(v, key) {
                    Some(0) => {
                        self.error(
                            v.span(),
                            "`threshold` 0 always holds",
                            Some("use 1 or more hits".into()),
                        );
                        ok = false;
                    }
                    Some(n) => threshold = n,
                    None => ok = false,
                },
            }
        }
        if !ok {
            return None;
        }
        if keywords.is_empty() && regexes.is_empty() {
            self.error(
                value.span(),
                "body condition without `keywords` or `regex`",
                Some("e.g. `body = { keywords = [\"Verschlusssache\"], threshold = 2 }`".into()),
            );
            return None;
        }
        Some(Condition::Body(BodyTest {
            keywords,
            keyword_ids: Vec::new(),
            regexes,
            threshold,
        }))
    }

    fn actions(&mut self, table: &DeTable<'_>, span: Span) -> Option<Actions> {
        let mut actions = Actions::default();
        let mut ok = true;
        let mut decisions: Vec<(&str, Span)> = Vec::new();
        let mut encrypt: Option<(bool, Span)> = None;
        let mut methods = None;
        let mut fallback: Option<(Fallback, Span)> = None;
        let mut methods_span = None;
        let mut sign_mode: Option<(bool, Span)> = None;
        let mut quarantine = None;
        for (key, key_span, v) in self.fields(table, ACTION_KEYS, "actions") {
            if DECISION_KEYS.contains(&key) && !matches!(v.get_ref(), DeValue::Boolean(false)) {
                decisions.push((key, key_span.clone()));
            }
            let done: Option<()> = match key {
                "sign" => self.methods(v, key).map(|m| {
                    actions.sign = Some(SignSpec {
                        methods: m,
                        required: true,
                    });
                }),
                "sign_mode" => self
                    .mode(v, key)
                    .map(|m| sign_mode = Some((m, key_span.clone()))),
                "encrypt" => self
                    .mode(v, key)
                    .map(|m| encrypt = Some((m, key_span.clone()))),
                "methods" => {
                    methods_span = Some(key_span.clone());
                    self.methods(v, key).map(|m| methods = Some(m))
                }
                "fallback" => {
                    let text = self.string(v, key);
                    match text.as_deref() {
                        Some("password-pdf") => Some(Fallback::PasswordPdf),
                        Some("password-zip") => Some(Fallback::PasswordZip),
                        Some("block") => Some(Fallback::Block),
                        Some(other) => {
                            self.error(
                                v.span(),
                                format!("unknown fallback `{other}`"),
                                Some("expected `password-pdf`, `password-zip` or `block`".into()),
                            );
                            None
                        }
                        None => None,
                    }
                    .map(|f| fallback = Some((f, key_span.clone())))
                }
                "require_tls" => self.string(v, key).map(|p| {
                    self.known_profile(&p, v.span());
                    actions.decision = Some(Decision::RequireTls(p));
                }),
                "block" => self
                    .string(v, key)
                    .map(|r| actions.decision = Some(Decision::Block(r))),
                "quarantine" => match v.get_ref() {
                    DeValue::Boolean(true) => {
                        quarantine = Some(None);
                        Some(())
                    }
                    DeValue::String(s) => {
                        quarantine = Some(Some(s.to_string()));
                        Some(())
                    }
                    _ => {
                        self.error(v.span(), "`quarantine` must be true or a reason", None);
                        None
                    }
                },
                "deliver" => match self.boolean(v, key) {
                    Some(true) => {
                        actions.decision = Some(Decision::Deliver);
                        Some(())
                    }
                    Some(false) => {
                        self.error(
                            v.span(),
                            "`deliver = false` means nothing",
                            Some("to stop delivery write `block = \"reason\"`".into()),
                        );
                        None
                    }
                    None => None,
                },
                "whitelist" => self.boolean(v, key).map(|b| actions.whitelist = b),
                "notify_sender" => self.string(v, key).map(|t| actions.notify_sender = Some(t)),
                "archive" => self.boolean(v, key).map(|b| actions.archive = b),
                "decrypt" => self.boolean(v, key).map(|b| actions.decrypt = b),
                "harvest" => self.boolean(v, key).map(|b| actions.harvest = b),
                "add_header" | "replace_header" => self.header_pairs(v, key).map(|pairs| {
                    for (name, value) in pairs {
                        actions.header_edits.push(if key == "add_header" {
                            HeaderEdit::Add { name, value }
                        } else {
                            HeaderEdit::Replace { name, value }
                        });
                    }
                }),
                "remove_header" => self.strings(v, key).map(|names| {
                    for (name, _) in names {
                        actions.header_edits.push(HeaderEdit::Remove { name });
                    }
                }),
                _ => self.string(v, key).map(|tag| {
                    actions
                        .header_edits
                        .push(HeaderEdit::StripSubjectTag { tag });
                }),
            };
            ok &= done.is_some();
        }
        if !ok {
            return None;
        }
        if let [(first, _), (second, span), ..] = decisions.as_slice() {
            self.error(
                span.clone(),
                format!("a rule makes one decision, but this one has `{first}` and `{second}`"),
                Some("split it into two rules, each with its own conditions".into()),
            );
            return None;
        }
        if let Some(reason) = quarantine {
            actions.decision = Some(Decision::Quarantine(reason));
        }
        // Within one rule, edits apply in a fixed order whatever the key
        // order in the file: remove, replace, add, then the subject tag.
        actions.header_edits.sort_by_key(|edit| match edit {
            HeaderEdit::Remove { .. } => 0,
            HeaderEdit::Replace { .. } => 1,
            HeaderEdit::Add { .. } => 2,
            HeaderEdit::StripSubjectTag { .. } => 3,
        });
        match encrypt {
            Some((required, _)) => {
                actions.decision = Some(Decision::Encrypt {
                    required,
                    methods: methods.unwrap_or_else(|| vec![Method::Smime, Method::Pgp]),
                    fallback: fallback.map(|(f, _)| f),
                });
            }
            None => {
                for (span, key) in [
                    (methods_span, "methods"),
                    (fallback.map(|(_, s)| s), "fallback"),
                ] {
                    if let Some(span) = span {
                        self.error(span, format!("`{key}` without `encrypt`"), Some("add `encrypt = \"required\"` or `encrypt = \"if-possible\"`, or remove the key".into()));
                        ok = false;
                    }
                }
            }
        }
        if let Some((required, span)) = sign_mode {
            match &mut actions.sign {
                Some(sign) => sign.required = required,
                None => {
                    self.error(
                        span,
                        "`sign_mode` without `sign`",
                        Some("add `sign = [\"smime\", \"pgp\"]` or remove `sign_mode`".into()),
                    );
                    ok = false;
                }
            }
        }
        if ok && actions == Actions::default() {
            self.error(
                span,
                "this rule does nothing",
                Some("give at least one action, e.g. `deliver = true`".into()),
            );
            return None;
        }
        ok.then_some(actions)
    }

    /// `"required"` (true) or `"if-possible"` (false).
    fn mode(&mut self, value: &Value<'_>, what: &str) -> Option<bool> {
        match self.string(value, what)?.as_str() {
            "required" => Some(true),
            "if-possible" => Some(false),
            other => {
                self.error(
                    value.span(),
                    format!("unknown `{what}` mode `{other}`"),
                    Some("expected `required` or `if-possible`".into()),
                );
                None
            }
        }
    }

    /// `{ name = "...", value = "..." }` or an array of them.
    fn header_pairs(&mut self, value: &Value<'_>, what: &str) -> Option<Vec<(String, String)>> {
        let items: Vec<&Value<'_>> = match value.get_ref() {
            DeValue::Array(a) => a.iter().collect(),
            _ => vec![value],
        };
        let mut out = Vec::new();
        for item in items {
            let table = self.table(item, what)?;
            let mut name = None;
            let mut text = None;
            for (key, _, v) in self.fields(table, &["name", "value"], &format!("`{what}`")) {
                if key == "name" {
                    name = self.string(v, key);
                } else {
                    text = self.string(v, key);
                }
            }
            match (name, text) {
                (Some(n), Some(t))
                    if !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic() && b != b':') =>
                {
                    if t.contains(['\r', '\n']) {
                        self.error(
                            item.span(),
                            "header values must not contain line breaks",
                            None,
                        );
                        return None;
                    }
                    out.push((n, t));
                }
                _ => {
                    self.error(
                        item.span(),
                        format!("`{what}` needs a field `name` and a `value`"),
                        Some("e.g. `{ name = \"X-Gateway\", value = \"signed\" }`".into()),
                    );
                    return None;
                }
            }
        }
        Some(out)
    }
}

/// Address lists are sorted and deduplicated once, so a lookup is a binary
/// search however long the list.
fn address_set(mut addresses: Vec<String>) -> Vec<String> {
    addresses.sort();
    addresses.dedup();
    addresses
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_regexes_share_one_automaton_and_large_ones_are_built_at_once() {
        let text = "[[rules]]\nid = \"a\"\nwhen = { recipient_regex = '^x-' }\nthen = { archive = true }\n\n[[rules]]\nid = \"b\"\nwhen = { sender_regex = '^x-' }\nthen = { archive = true }\n\n[[rules]]\nid = \"c\"\nwhen = { header = { name = \"X\", regex = '^x-', case_sensitive = true } }\nthen = { archive = true }\n\n[default]\nthen = { deliver = true }\n";
        let map = SourceMap::new(text, "p.toml");
        let (parsed, diagnostics) = read(&map, text, false, None);
        assert!(diagnostics.is_empty(), "{diagnostics:#?}");
        let mut patterns = Vec::new();
        for rule in parsed.scopes.iter().flat_map(|s| s.rules.iter()) {
            rule.for_each_pattern(&mut |p| patterns.push(p.clone()));
        }
        assert_eq!(patterns.len(), 3);
        assert!(Arc::ptr_eq(&patterns[0].compiled, &patterns[1].compiled));
        // Same source, different flags: a different automaton.
        assert!(!Arc::ptr_eq(&patterns[0].compiled, &patterns[2].compiled));
        assert!(patterns.iter().all(|p| p.regex().is_ok()));

        let prefix = |source: &str, ci: bool| {
            let hir = regex_syntax::ParserBuilder::new()
                .case_insensitive(ci)
                .build()
                .parse(source)
                .unwrap();
            crate::syntax::ascii_prefix(&hir)
        };
        assert_eq!(prefix("^R12-[a-z]+@", true).as_deref(), Some("r12-"));
        assert_eq!(prefix("^sk-x", true).as_deref(), Some("sk-x"));
        assert_eq!(prefix("^ab", false).as_deref(), Some("ab"));
        assert_eq!(prefix("^aB", false).as_deref(), Some("a"));
        assert_eq!(prefix("^[a-c]x", true), None);
        assert_eq!(prefix("r12-", true), None);
        assert_eq!(prefix("^(a|b)", true), None);
        let small = regex_syntax::Parser::new().parse("^r12-[a-z]+@").unwrap();
        assert!(nfa_estimate(&small) < EAGER_ESTIMATE);
        let large = regex_syntax::Parser::new()
            .parse(r"(\w{100}){100}")
            .unwrap();
        assert!(nfa_estimate(&large) > EAGER_ESTIMATE);
    }

    #[test]
    fn sizes_take_units() {
        assert_eq!(parse_size("25MB"), Some(25_000_000));
        assert_eq!(parse_size("25 MiB"), Some(25 << 20));
        assert_eq!(parse_size("1_000"), Some(1000));
        assert_eq!(parse_size("12XB"), None);
        assert_eq!(parse_size("99999999999999999999GB"), None);
    }

    #[test]
    fn suggestions_name_the_nearest_key() {
        assert_eq!(
            suggestion("recipent", CONDITION_KEYS),
            "did you mean `recipient`?"
        );
        assert!(suggestion("zzzzzzzzzz", CONDITION_KEYS).starts_with("expected one of"));
    }
}
