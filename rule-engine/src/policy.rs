//! A loaded policy: immutable once built, shareable across threads.

use std::path::Path;

use crate::diagnostic::{Diagnostic, Severity, SourceMap};
use crate::error::Error;
use crate::keywords::KeywordIndex;
use crate::syntax::{Decision, DomainPattern, Scope};

/// A parsed, validated and compiled policy.
///
/// Regexes and keyword automata are compiled once, here; evaluation only
/// reads. `Policy` is `Send + Sync`: share it in an `Arc`, and reload by
/// building a new one and swapping the `Arc` (a failed reload leaves the old
/// policy in place, since [`Policy::load`] returns an error instead).
///
/// ```
/// let (policy, warnings) = rule_engine::Policy::parse(r#"
///     [policy]
///     name = "minimal"
///     internal_domains = ["behoerde.example"]
///
///     [[rules]]
///     id = "R1"
///     when = { direction = "outbound", sender_internal = true }
///     then = { sign = ["smime", "pgp"] }
///
///     [default]
///     then = { deliver = true }
/// "#, "minimal.toml")?;
/// assert!(warnings.is_empty());
/// assert_eq!(policy.name(), Some("minimal"));
/// assert_eq!(policy.rule_count(), 1);
/// assert_eq!(policy.default_decision(), "deliver");
///
/// // Without its `[default]` (a truncated copy, say) it is refused.
/// let truncated = "[[rules]]\nid = \"R1\"\nthen = { sign = \"smime\" }\n";
/// assert!(rule_engine::Policy::parse(truncated, "minimal.toml").is_err());
/// # Ok::<(), rule_engine::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub(crate) name: Option<String>,
    pub(crate) internal_domains: Vec<DomainPattern>,
    /// Global first, then domains, groups and users in file order.
    pub(crate) scopes: Vec<Scope>,
    /// The DLP keywords of all body conditions.
    pub(crate) keywords: KeywordIndex,
    /// What `[default]` decides for mail that no terminal rule decides.
    pub(crate) default: Decision,
}

impl Policy {
    /// Whether `domain` is one of the organisation's (`internal_domains`),
    /// compared in the canonical form (`mail_message::canonical_domain`);
    /// a domain that has no canonical form is not internal. A listed
    /// `example.org` covers its subdomains (by whole labels), `=example.org`
    /// only itself (see the README, "Domains", for why that fails closed).
    ///
    /// ```
    /// let (policy, _) = rule_engine::Policy::parse(
    ///     "[policy]\ninternal_domains = [\"behoerde.example\", \"=land.example\"]\n\n\
    ///      [[rules]]\nid = \"R1\"\nthen = { sign = \"smime\" }\n\n[default]\nthen = { deliver = true }\n",
    ///     "p.toml",
    /// )?;
    /// assert!(policy.is_internal_domain("Behoerde.Example."));
    /// assert!(policy.is_internal_domain("amt.behoerde.example"));
    /// assert!(!policy.is_internal_domain("evilbehoerde.example"));
    /// assert!(policy.is_internal_domain("land.example"));
    /// assert!(!policy.is_internal_domain("news.land.example"));
    /// assert!(!policy.is_internal_domain("gmail.example"));
    /// # Ok::<(), rule_engine::Error>(())
    /// ```
    pub fn is_internal_domain(&self, domain: &str) -> bool {
        let Ok(domain) = mail_message::canonical_domain(domain) else {
            return false;
        };
        self.internal_domains
            .iter()
            .any(|pattern| pattern.matches(&domain))
    }

    /// Parses and validates a policy text. `file` names it in diagnostics.
    ///
    /// On success, returns the policy and its warnings. If any error was
    /// found, returns [`Error::InvalidPolicy`] holding every error and
    /// warning, in file order.
    pub fn parse(text: &str, file: &str) -> Result<(Self, Vec<Diagnostic>), Error> {
        let (policy, diagnostics) = Self::build(text, file, false, None);
        match policy {
            Some(policy) => Ok((policy, diagnostics)),
            None => Err(Error::InvalidPolicy {
                file: file.to_owned(),
                diagnostics,
            }),
        }
    }

    /// Reads, parses and validates a policy file.
    ///
    /// ```no_run
    /// match rule_engine::Policy::load("/etc/mailgate/policy.toml") {
    ///     Ok((policy, warnings)) => { /* use policy; print warnings */ }
    ///     Err(rule_engine::Error::InvalidPolicy { diagnostics, .. }) => {
    ///         for d in diagnostics { eprintln!("{d}\n"); }
    ///     }
    ///     Err(other) => eprintln!("{other}"),
    /// }
    /// ```
    pub fn load(path: impl AsRef<Path>) -> Result<(Self, Vec<Diagnostic>), Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Every error and warning of a policy text, in file order: what
    /// `mailgate policy check` prints.
    ///
    /// Unlike [`Policy::parse`], it builds every regex of the policy, so a
    /// regex too large to build is reported here with its position.
    pub fn check(text: &str, file: &str) -> Vec<Diagnostic> {
        Self::build(text, file, true, None).1
    }

    /// [`Policy::check`], and every TLS profile a rule names
    /// (`require_tls`, `recipient_tls`) must be one `known` accepts: an
    /// unknown one is an error at its position. The engine does not know
    /// which profiles exist; the host does (`mailgate policy check` asks
    /// `tls-policy`).
    ///
    /// ```
    /// let text = "[[rules]]\nid = \"r\"\nthen = { require_tls = \"bsi-tr-3108\" }\n\n[default]\nthen = { deliver = true }\n";
    /// assert!(rule_engine::Policy::check(text, "p.toml").is_empty());
    /// let found = rule_engine::Policy::check_with_profiles(text, "p.toml", &|p| p == "bsi-tr-03108");
    /// assert_eq!(found[0].message, "unknown TLS profile `bsi-tr-3108`");
    /// assert_eq!((found[0].line, found[0].column), (3, 24));
    /// ```
    pub fn check_with_profiles(
        text: &str,
        file: &str,
        known: &dyn Fn(&str) -> bool,
    ) -> Vec<Diagnostic> {
        Self::build(text, file, true, Some(known)).1
    }

    fn build(
        text: &str,
        file: &str,
        eager_regexes: bool,
        profiles: Option<&dyn Fn(&str) -> bool>,
    ) -> (Option<Self>, Vec<Diagnostic>) {
        let map = SourceMap::new(text, file);
        let (mut parsed, mut diagnostics) = crate::parse::read(&map, text, eager_regexes, profiles);
        let rules = parsed.scopes.iter_mut().flat_map(|s| s.rules.iter_mut());
        for (index, rule) in rules.enumerate() {
            rule.index = index;
            rule.per_recipient = rule
                .when
                .as_ref()
                .is_some_and(crate::syntax::Condition::depends_on_recipient);
        }
        let keywords = KeywordIndex::build(&mut parsed.scopes).unwrap_or_else(|e| {
            diagnostics.push(map.diagnostic(
                Severity::Error,
                0..0,
                format!("the DLP keywords do not fit in one automaton: {e}"),
                Some("use fewer or shorter keywords".into()),
            ));
            KeywordIndex::default()
        });
        if !diagnostics.iter().any(Diagnostic::is_error) {
            diagnostics.extend(crate::lint::lint(&map, &parsed.scopes));
        }
        diagnostics.sort_by_key(|d| (d.line, d.column));
        let policy = match parsed.default {
            Some(default) if !diagnostics.iter().any(Diagnostic::is_error) => Some(Self {
                name: parsed.name,
                internal_domains: parsed.internal_domains,
                scopes: parsed.scopes,
                keywords,
                default,
            }),
            // Reading reports a missing `[default]` as an error, so a
            // policy without one is never built (fail closed).
            _ => None,
        };
        (policy, diagnostics)
    }

    /// Builds every regex of the policy now rather than on first use.
    ///
    /// Parsing checks the syntax of every regex (errors have positions) and
    /// builds the automata of large ones; the others are built when an
    /// evaluation first reaches them, once, and shared by identical
    /// regexes. Call this before putting a freshly loaded policy in front of
    /// traffic, so no mail pays for building ([`LivePolicy`](crate::LivePolicy)
    /// does). The error names a regex that cannot be built (too large).
    ///
    /// ```
    /// let (policy, _) = rule_engine::Policy::parse(
    ///     "[[rules]]\nid = \"r\"\nwhen = { recipient_regex = '^ops-' }\nthen = { archive = true }\n\n[default]\nthen = { deliver = true }\n",
    ///     "p.toml",
    /// )?;
    /// policy.prepare()?;
    /// # Ok::<(), rule_engine::Error>(())
    /// ```
    pub fn prepare(&self) -> Result<(), Error> {
        for rule in self.scopes.iter().flat_map(|s| s.rules.iter()) {
            let mut failure = None;
            rule.for_each_pattern(&mut |pattern| {
                if failure.is_none()
                    && let Err(e) = pattern.regex()
                {
                    failure = Some(e.message);
                }
            });
            if let Some(message) = failure {
                return Err(Error::Regex {
                    rule: rule.id.clone(),
                    message,
                });
            }
        }
        Ok(())
    }

    /// The `name` of the `[policy]` table.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// What the policy's `[default]` decides for mail that no terminal rule
    /// decides: `deliver`, `block`, `quarantine`, `encrypt` or
    /// `require-tls` (the names of the trace).
    pub fn default_decision(&self) -> &'static str {
        self.default.name()
    }

    /// How many rules the policy has, in all scopes.
    pub fn rule_count(&self) -> usize {
        self.scopes.iter().map(|s| s.rules.len()).sum()
    }
}
