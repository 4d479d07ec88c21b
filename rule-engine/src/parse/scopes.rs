//! Scopes: the policy file's top level (`[policy]`, global `[[rules]]`,
//! `[domain.*]`, `[group.*]`, `[user.*]`) and the closing `[default]`.

use toml::de::{DeTable, DeValue};

use super::{Parsed, Reader, Value};
use crate::diagnostic::{Diagnostic, Severity};
use crate::syntax::{Actions, Decision, DomainPattern, Rule, Scope, ScopeKind, Span};

const TOP_KEYS: &[&str] = &["policy", "rules", "domain", "group", "user", "default"];
const DEFAULT_KEYS: &[&str] = &["then"];
/// How a policy ends: what the help of a missing `[default]` shows.
const DEFAULT_EXAMPLE: &str = "end the file with\n\n    [default]\n    then = { deliver = true }\n\n(or `block = \"reason\"`, `quarantine = true`, `encrypt = ...`, `require_tls = ...`): mail that no terminal rule decides gets this; nothing is delivered by default";
const POLICY_KEYS: &[&str] = &["name", "internal_domains"];
const SCOPE_KEYS: &[&str] = &["rules"];
const GROUP_KEYS: &[&str] = &["members", "member_domains", "rules"];

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

impl Reader<'_, '_> {
    pub(super) fn policy(&mut self, root: &DeTable<'_>) -> Parsed {
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
}
