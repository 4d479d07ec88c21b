//! Actions: the `then` table of a rule (one decision, plus signing, header
//! edits and the other effects).

use toml::de::{DeTable, DeValue};

use super::{Reader, Value};
use crate::syntax::{Actions, Decision, Fallback, HeaderEdit, Method, SignSpec, Span};

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

/// The keys of a `then` table as read, before they are checked together.
#[derive(Default)]
struct ActionKeys<'k> {
    /// Everything that needs no other key to be complete.
    actions: Actions,
    /// The decision keys present, in file order.
    decisions: Vec<(&'k str, Span)>,
    encrypt: Option<(bool, Span)>,
    methods: Option<Vec<Method>>,
    methods_span: Option<Span>,
    fallback: Option<(Fallback, Span)>,
    sign_mode: Option<(bool, Span)>,
    quarantine: Option<Option<String>>,
}

impl Reader<'_, '_> {
    pub(super) fn actions(&mut self, table: &DeTable<'_>, span: Span) -> Option<Actions> {
        let mut keys = ActionKeys::default();
        let mut ok = true;
        for (key, key_span, v) in self.fields(table, ACTION_KEYS, "actions") {
            if DECISION_KEYS.contains(&key) && !matches!(v.get_ref(), DeValue::Boolean(false)) {
                keys.decisions.push((key, key_span.clone()));
            }
            ok &= self.action_key(key, key_span, v, &mut keys).is_some();
        }
        if !ok {
            return None;
        }
        self.combine_actions(keys, span)
    }

    /// Reads one key of a `then` table into `keys`; `None` after an error.
    fn action_key(
        &mut self,
        key: &str,
        key_span: Span,
        v: &Value<'_>,
        keys: &mut ActionKeys<'_>,
    ) -> Option<()> {
        let actions = &mut keys.actions;
        match key {
            "sign" => self.methods(v, key).map(|m| {
                actions.sign = Some(SignSpec {
                    methods: m,
                    required: true,
                });
            }),
            "sign_mode" => self
                .mode(v, key)
                .map(|m| keys.sign_mode = Some((m, key_span))),
            "encrypt" => self
                .mode(v, key)
                .map(|m| keys.encrypt = Some((m, key_span))),
            "methods" => {
                keys.methods_span = Some(key_span);
                self.methods(v, key).map(|m| keys.methods = Some(m))
            }
            "fallback" => self
                .fallback(v, key)
                .map(|f| keys.fallback = Some((f, key_span))),
            "require_tls" => self.string(v, key).map(|p| {
                self.known_profile(&p, v.span());
                actions.decision = Some(Decision::RequireTls(p));
            }),
            "block" => self
                .string(v, key)
                .map(|r| actions.decision = Some(Decision::Block(r))),
            "quarantine" => match v.get_ref() {
                DeValue::Boolean(true) => {
                    keys.quarantine = Some(None);
                    Some(())
                }
                DeValue::String(s) => {
                    keys.quarantine = Some(Some(s.to_string()));
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
        }
    }

    /// `fallback`: what encryption does for a recipient without a key.
    fn fallback(&mut self, v: &Value<'_>, key: &str) -> Option<Fallback> {
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
    }

    /// Checks the keys that only mean something together (one decision;
    /// `methods` and `fallback` need `encrypt`, `sign_mode` needs `sign`)
    /// and puts the actions together.
    fn combine_actions(&mut self, keys: ActionKeys<'_>, span: Span) -> Option<Actions> {
        let ActionKeys {
            mut actions,
            decisions,
            encrypt,
            methods,
            methods_span,
            fallback,
            sign_mode,
            quarantine,
        } = keys;
        let mut ok = true;
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
