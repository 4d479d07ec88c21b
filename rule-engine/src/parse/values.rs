//! Values: the typed readers every section uses (strings, sizes, domain and
//! address lists, regexes, methods) and the "did you mean" help for unknown
//! keys. Each reports a positioned error for a value of the wrong kind.

use std::sync::Arc;

use toml::de::{DeTable, DeValue};

use super::{Reader, Value};
use crate::syntax::{DomainPattern, DomainReach, LazyRegex, Method, Pattern, Span};

/// Compiled regexes are limited to this many bytes so a hostile policy cannot
/// exhaust memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Above this estimate of a regex's automaton size (see `nfa_estimate`),
/// the regex is built while reading, so that exceeding the size limit is an
/// error with a position.
pub(super) const EAGER_ESTIMATE: u64 = 4096;

/// A generous upper bound of the size of a regex's automaton, in states:
/// classes count their ranges several times over (UTF-8 sequences) and
/// repetitions multiply. Small regexes (the usual address and header
/// patterns) stay far below the size limit and are built on first use.
pub(super) fn nfa_estimate(hir: &regex_syntax::hir::Hir) -> u64 {
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

pub(super) fn suggestion(key: &str, allowed: &[&str]) -> String {
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
    /// The entries of `table` whose keys are allowed; the others are errors.
    pub(super) fn fields<'a, 'i>(
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

    pub(super) fn table<'a, 'i>(
        &mut self,
        value: &'a Value<'i>,
        what: &str,
    ) -> Option<&'a DeTable<'i>> {
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

    pub(super) fn array<'a, 'i>(
        &mut self,
        value: &'a Value<'i>,
        what: &str,
    ) -> Option<&'a [Value<'i>]> {
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

    pub(super) fn string(&mut self, value: &Value<'_>, what: &str) -> Option<String> {
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

    pub(super) fn boolean(&mut self, value: &Value<'_>, what: &str) -> Option<bool> {
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

    pub(super) fn integer(&mut self, value: &Value<'_>, what: &str) -> Option<u64> {
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
    pub(super) fn size(&mut self, value: &Value<'_>, what: &str) -> Option<u64> {
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
    pub(super) fn strings(&mut self, value: &Value<'_>, what: &str) -> Option<Vec<(String, Span)>> {
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

    pub(super) fn domains(&mut self, value: &Value<'_>, what: &str) -> Option<Vec<DomainPattern>> {
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

    pub(super) fn addresses(&mut self, value: &Value<'_>, what: &str) -> Option<Vec<String>> {
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

    pub(super) fn regex(
        &mut self,
        value: &Value<'_>,
        what: &str,
        case_insensitive: bool,
    ) -> Option<Pattern> {
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

    pub(super) fn methods(&mut self, value: &Value<'_>, what: &str) -> Option<Vec<Method>> {
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
}
