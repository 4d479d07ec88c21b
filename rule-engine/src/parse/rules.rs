//! Rules: one `[[rules]]` entry (`id`, `when`, `then`, `enforced`,
//! `disable`) and the rule list of a scope, whose ids are unique.

use std::collections::HashMap;

use super::{Reader, Value};
use crate::diagnostic::Severity;
use crate::syntax::Rule;

const RULE_KEYS: &[&str] = &["id", "description", "when", "then", "enforced", "disable"];

impl Reader<'_, '_> {
    pub(super) fn rules(&mut self, value: &Value<'_>) -> Vec<Rule> {
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
}
