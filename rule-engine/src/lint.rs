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
    let line_of = |rule: &Rule| {
        map.diagnostic(Severity::Warning, rule.span.clone(), "", None)
            .line
    };
    for scope in scopes {
        // Earlier terminal rules of this scope, by conjunct: an inverted
        // index, so a policy of thousands of rules is checked in about
        // linear time. Enforced and ordinary rules are tried in different
        // phases, so each has its own index.
        let mut earlier: [Vec<(&Rule, usize)>; 2] = [Vec::new(), Vec::new()];
        let mut index: [HashMap<String, Vec<usize>>; 2] = [HashMap::new(), HashMap::new()];
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
            let (Some(earlier), Some(index), Some(unconditional)) = (
                earlier.get_mut(phase),
                index.get_mut(phase),
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
                        line_of(before)
                    ),
                    Some(format!(
                        "move `{}` above `{}`, or give `{}` conditions",
                        rule.id, before.id, before.id
                    )),
                ));
                continue;
            }
            // How many conjuncts of each earlier rule this rule has too.
            let mut shared: HashMap<usize, usize> = HashMap::new();
            for c in &mine {
                for &i in index.get(c).map_or(&[][..], Vec::as_slice) {
                    *shared.entry(i).or_insert(0) += 1;
                }
            }
            let shadow = shared
                .iter()
                .filter(|&(&i, &n)| earlier.get(i).is_some_and(|(_, size)| *size == n))
                .map(|(&i, _)| i)
                .min();
            if let Some((before, _)) = shadow.and_then(|i| earlier.get(i)) {
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
            }
            if mine.is_empty() {
                *unconditional = Some(rule);
            }
            let position = earlier.len();
            earlier.push((rule, mine.len()));
            for c in mine {
                index.entry(c).or_default().push(position);
            }
        }
    }
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
                        line_of(enforced)
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
    out
}
