//! Reading a policy file: TOML with positions into scopes, rules, conditions
//! and actions. Every problem becomes a [`Diagnostic`] with file, line and
//! column; unknown keys are errors; parsing goes on after an error so one run
//! reports as much as possible.

mod actions;
mod conditions;
mod rules;
mod scopes;
mod values;

use std::collections::HashMap;
use std::sync::Arc;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::{Diagnostic, Severity, SourceMap};
use crate::syntax::{Decision, DomainPattern, LazyRegex, Scope, Span};

type Value<'i> = Spanned<DeValue<'i>>;

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
}

#[cfg(test)]
mod tests {
    use super::conditions::CONDITION_KEYS;
    use super::values::{EAGER_ESTIMATE, nfa_estimate, parse_size, suggestion};
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
