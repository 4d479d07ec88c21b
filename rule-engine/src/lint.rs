//! Checks across rules and scopes: rules that can never decide (unreachable
//! or shadowed), conditions that can never hold, overrides of enforced rules
//! and `disable` rules with nothing to disable.

use std::collections::BTreeSet;

use crate::diagnostic::{Diagnostic, Severity, SourceMap};
use crate::syntax::{Condition, Direction, Rule, Scope};

/// The conjuncts of a condition, nested `all` flattened.
fn flatten<'c>(condition: &'c Condition, out: &mut Vec<&'c Condition>) {
    match condition {
        Condition::All(items) => items.iter().for_each(|c| flatten(c, out)),
        other => out.push(other),
    }
}

/// The conjuncts of a rule's condition, as canonical text.
fn conjuncts(rule: &Rule) -> BTreeSet<String> {
    let mut all = Vec::new();
    if let Some(c) = &rule.when {
        flatten(c, &mut all);
    }
    all.iter().map(ToString::to_string).collect()
}

fn contradictory_direction(rule: &Rule) -> bool {
    let mut all = Vec::new();
    if let Some(c) = &rule.when {
        flatten(c, &mut all);
    }
    let has = |d: Direction| all.contains(&&Condition::Direction(d));
    has(Direction::Inbound) && has(Direction::Outbound)
}

pub(crate) fn lint(map: &SourceMap<'_>, scopes: &[Scope]) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let line_of = |rule: &Rule| {
        map.diagnostic(Severity::Warning, rule.span.clone(), "", None)
            .line
    };
    for scope in scopes {
        let mut earlier: Vec<&Rule> = Vec::new();
        for rule in scope.rules.iter().filter(|r| !r.disable) {
            if contradictory_direction(rule) {
                out.push(map.diagnostic(
                    Severity::Warning,
                    rule.when_span.clone(),
                    format!(
                        "rule `{}` can never match: it asks for both inbound and outbound",
                        rule.id
                    ),
                    Some("keep one `direction`".into()),
                ));
            }
            if !rule.is_terminal() {
                continue;
            }
            let mine = conjuncts(rule);
            for before in earlier.iter().filter(|b| b.enforced == rule.enforced) {
                let theirs = conjuncts(before);
                if before.when.is_none() {
                    out.push(map.diagnostic(
                        Severity::Warning,
                        rule.span.clone(),
                        format!(
                            "rule `{}` is unreachable: rule `{}` (line {}) has no conditions and decides first",
                            rule.id,
                            before.id,
                            line_of(before)
                        ),
                        Some(format!("move `{}` above `{}`, or give `{}` conditions", rule.id, before.id, before.id)),
                    ));
                    break;
                }
                if theirs.is_subset(&mine) {
                    out.push(map.diagnostic(
                        Severity::Warning,
                        rule.span.clone(),
                        format!(
                            "rule `{}` is shadowed by rule `{}` (line {}): whenever its conditions hold, `{}` holds too and decides first",
                            rule.id,
                            before.id,
                            line_of(before),
                            before.id
                        ),
                        Some(format!("move `{}` above `{}`, or remove it", rule.id, before.id)),
                    ));
                    break;
                }
            }
            earlier.push(rule);
        }
    }
    // Overrides across scopes.
    for (index, scope) in scopes.iter().enumerate() {
        if scope.level() == 0 {
            continue;
        }
        for rule in &scope.rules {
            let inherited: Vec<(&Scope, &Rule)> = scopes
                .iter()
                .take(index)
                .filter(|s| s.level() < scope.level())
                .flat_map(|s| s.rules.iter().map(move |r| (s, r)))
                .filter(|(_, r)| r.id == rule.id)
                .collect();
            if let Some((general, enforced)) = inherited.iter().find(|(_, r)| r.enforced) {
                out.push(map.diagnostic(
                    Severity::Error,
                    rule.span.clone(),
                    format!(
                        "rule `{}` overrides the enforced rule `{}` of the {} scope (line {})",
                        rule.id,
                        enforced.id,
                        general.name(),
                        line_of(enforced)
                    ),
                    Some("enforced rules cannot be overridden or disabled; give this rule another id".into()),
                ));
            } else if rule.disable && inherited.is_empty() {
                out.push(map.diagnostic(
                    Severity::Warning,
                    rule.span.clone(),
                    format!(
                        "rule `{}` disables nothing: no less specific scope has a rule `{}`",
                        rule.id, rule.id
                    ),
                    Some("check the id, or remove this rule".into()),
                ));
            }
        }
    }
    out
}
