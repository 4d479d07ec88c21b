//! Checks across rules and scopes: rules that can never decide (unreachable
//! or shadowed), conditions that can never hold, overrides of enforced rules
//! and `disable` rules with nothing to disable.

use std::collections::{BTreeSet, HashMap};

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
    for scope in scopes {
        lint_scope(map, scope, &mut out);
    }
    lint_overrides(map, scopes, &mut out);
    out
}

/// The line a rule starts on.
fn line_of(map: &SourceMap<'_>, rule: &Rule) -> usize {
    map.diagnostic(Severity::Warning, rule.span.clone(), "", None)
        .line
}

/// Within one scope: rules that can never match, and terminal rules that an
/// earlier one makes unreachable or shadows.
fn lint_scope(map: &SourceMap<'_>, scope: &Scope, out: &mut Vec<Diagnostic>) {
    // Earlier terminal rules of this scope, each filed in an inverted
    // index under one of its conjuncts, the rarest when it was filed: a
    // rule can only shadow a later one that has that conjunct too, so
    // a later rule looks only at the buckets of its own conjuncts, which
    // stay small even when thousands of rules share a common conjunct
    // (`direction = "outbound"`). Enforced and ordinary rules are tried
    // in different phases, so each has its own index.
    let mut earlier: [Vec<(&Rule, BTreeSet<String>)>; 2] = [Vec::new(), Vec::new()];
    let mut index: [HashMap<String, Vec<usize>>; 2] = [HashMap::new(), HashMap::new()];
    let mut frequency: [HashMap<String, usize>; 2] = [HashMap::new(), HashMap::new()];
    let mut unconditional: [Option<&Rule>; 2] = [None, None];
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
        let phase = usize::from(rule.enforced);
        let mine = conjuncts(rule);
        let (Some(earlier), Some(index), Some(frequency), Some(unconditional)) = (
            earlier.get_mut(phase),
            index.get_mut(phase),
            frequency.get_mut(phase),
            unconditional.get_mut(phase),
        ) else {
            continue;
        };
        if let Some(before) = unconditional {
            out.push(map.diagnostic(
                    Severity::Warning,
                    rule.span.clone(),
                    format!(
                        "rule `{}` is unreachable: rule `{}` (line {}) has no conditions and decides first",
                        rule.id,
                        before.id,
                        line_of(map, before)
                    ),
                    Some(format!(
                        "move `{}` above `{}`, or give `{}` conditions",
                        rule.id, before.id, before.id
                    )),
                ));
            continue;
        }
        // The earliest rule whose conjuncts are all among this rule's.
        let shadow = mine
            .iter()
            .flat_map(|c| index.get(c).map_or(&[][..], Vec::as_slice))
            .copied()
            .filter(|&i| {
                earlier
                    .get(i)
                    .is_some_and(|(_, theirs)| theirs.is_subset(&mine))
            })
            .min();
        if let Some((before, _)) = shadow.and_then(|i| earlier.get(i)) {
            out.push(map.diagnostic(
                    Severity::Warning,
                    rule.span.clone(),
                    format!(
                        "rule `{}` is shadowed by rule `{}` (line {}): whenever its conditions hold, `{}` holds too and decides first",
                        rule.id,
                        before.id,
                        line_of(map, before),
                        before.id
                    ),
                    Some(format!("move `{}` above `{}`, or remove it", rule.id, before.id)),
                ));
        }
        if mine.is_empty() {
            *unconditional = Some(rule);
        }
        let position = earlier.len();
        for c in &mine {
            *frequency.entry(c.clone()).or_insert(0) += 1;
        }
        if let Some(rarest) = mine
            .iter()
            .min_by_key(|c| frequency.get(*c).copied().unwrap_or(0))
        {
            index.entry(rarest.clone()).or_default().push(position);
        }
        earlier.push((rule, mine));
    }
}

/// Across scopes: overrides of enforced rules (errors) and `disable` rules
/// with nothing to disable.
fn lint_overrides(map: &SourceMap<'_>, scopes: &[Scope], out: &mut Vec<Diagnostic>) {
    // Overrides across scopes: every definition of each id, by scope.
    let mut definitions: HashMap<&str, Vec<(&Scope, &Rule)>> = HashMap::new();
    for scope in scopes {
        for rule in &scope.rules {
            definitions.entry(&rule.id).or_default().push((scope, rule));
        }
    }
    for scope in scopes {
        if scope.level() == 0 {
            continue;
        }
        for rule in &scope.rules {
            let inherited: Vec<&(&Scope, &Rule)> = definitions
                .get(rule.id.as_str())
                .map(|all| {
                    all.iter()
                        .filter(|(s, _)| s.level() < scope.level())
                        .collect()
                })
                .unwrap_or_default();
            if let Some((general, enforced)) = inherited.iter().find(|(_, r)| r.enforced) {
                out.push(map.diagnostic(
                    Severity::Error,
                    rule.span.clone(),
                    format!(
                        "rule `{}` overrides the enforced rule `{}` of the {} scope (line {})",
                        rule.id,
                        enforced.id,
                        general.name(),
                        line_of(map, enforced)
                    ),
                    Some(
                        "enforced rules cannot be overridden or disabled; give this rule another id"
                            .into(),
                    ),
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
}
