//! The canonical TOML form of a policy: what [`Policy::to_toml`] writes.
//! Parsing it gives back an equal policy, so tools can normalise policy
//! files and tests can check the parser against the writer.

use toml::{Table, Value};

use crate::error::Error;
use crate::policy::Policy;
use crate::syntax::{
    Actions, Condition, Decision, DomainPattern, FactKind, HeaderEdit, HeaderTest, Method, Party,
    Rule, Scope, ScopeKind,
};

fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn strings<'a>(items: impl IntoIterator<Item = &'a String>) -> Value {
    Value::Array(items.into_iter().map(|s| string(s)).collect())
}

fn domains(items: &[DomainPattern]) -> Value {
    Value::Array(items.iter().map(|d| Value::String(d.to_string())).collect())
}

fn methods(items: &[Method]) -> Value {
    Value::Array(items.iter().map(|m| string(m.as_str())).collect())
}

/// Sizes and counts: TOML integers are signed 64-bit; larger values are
/// written as strings, which the parser reads as sizes.
fn number(n: u64) -> Value {
    i64::try_from(n).map_or_else(|_| Value::String(n.to_string()), Value::Integer)
}

fn single(key: &str, value: Value) -> Value {
    let mut table = Table::new();
    table.insert(key.to_owned(), value);
    Value::Table(table)
}

fn party_key(party: Party, suffix: &str) -> String {
    format!("{}{suffix}", party.as_str())
}

/// One condition as a table with one key.
fn condition(c: &Condition) -> Value {
    match c {
        Condition::All(items) => single("all", Value::Array(items.iter().map(condition).collect())),
        Condition::Any(items) => single("any", Value::Array(items.iter().map(condition).collect())),
        Condition::Not(inner) => single("not", condition(inner)),
        Condition::Direction(d) => single("direction", string(d.as_str())),
        Condition::Address(p, list) => single(&party_key(*p, ""), strings(list)),
        Condition::Domain(p, list) => single(&party_key(*p, "_domain"), domains(list)),
        Condition::AddressRegex(p, r) => single(&party_key(*p, "_regex"), string(&r.source)),
        Condition::Internal(p, b) => single(&party_key(*p, "_internal"), Value::Boolean(*b)),
        Condition::Header {
            name,
            test,
            case_sensitive,
        } => {
            let mut t = Table::new();
            t.insert("name".into(), string(name));
            let (key, value) = match test {
                HeaderTest::Exists => ("exists", Value::Boolean(true)),
                HeaderTest::Equals(v) => ("equals", string(v)),
                HeaderTest::Contains(v) => ("contains", string(v)),
                HeaderTest::Matches(r) => ("regex", string(&r.source)),
            };
            t.insert(key.into(), value);
            if *case_sensitive {
                t.insert("case_sensitive".into(), Value::Boolean(true));
            }
            single("header", Value::Table(t))
        }
        Condition::SubjectTag(tag) => single("subject_tag", string(tag)),
        Condition::Attachments(a) => {
            let mut t = Table::new();
            let numbers = [
                ("count_min", a.count_min),
                ("count_max", a.count_max),
                ("larger_than", a.larger_than),
                ("total_size_over", a.total_size_over),
            ];
            for (key, n) in numbers {
                if let Some(n) = n {
                    t.insert(key.into(), number(n));
                }
            }
            if !a.mime_types.is_empty() {
                t.insert("mime_type".into(), strings(&a.mime_types));
            }
            if !a.extensions.is_empty() {
                t.insert("extension".into(), strings(&a.extensions));
            }
            if let Some(r) = &a.name_regex {
                t.insert("name_regex".into(), string(&r.source));
            }
            single("attachments", Value::Table(t))
        }
        Condition::Body(b) => {
            let mut t = Table::new();
            if !b.keywords.is_empty() {
                t.insert("keywords".into(), strings(&b.keywords));
            }
            if !b.regexes.is_empty() {
                t.insert(
                    "regex".into(),
                    Value::Array(b.regexes.iter().map(|r| string(&r.source)).collect()),
                );
            }
            t.insert("threshold".into(), number(b.threshold));
            single("body", Value::Table(t))
        }
        Condition::SizeOver(n) => single("size_over", number(*n)),
        Condition::SizeUnder(n) => single("size_under", number(*n)),
        Condition::Signed(b) => single("signed", Value::Boolean(*b)),
        Condition::Encrypted(b) => single("encrypted", Value::Boolean(*b)),
        Condition::Fact(FactKind::RecipientTls(profile), true) => {
            single("recipient_tls", string(profile))
        }
        Condition::Fact(FactKind::RecipientTls(profile), false) => {
            single("not", single("recipient_tls", string(profile)))
        }
        Condition::Fact(kind, b) => single(kind.key(), Value::Boolean(*b)),
    }
}

fn actions(a: &Actions) -> Table {
    let mut t = Table::new();
    match &a.decision {
        None => {}
        Some(Decision::Deliver) => {
            t.insert("deliver".into(), Value::Boolean(true));
        }
        Some(Decision::Block(reason)) => {
            t.insert("block".into(), string(reason));
        }
        Some(Decision::Quarantine(reason)) => {
            let value = reason.as_deref().map_or(Value::Boolean(true), string);
            t.insert("quarantine".into(), value);
        }
        Some(Decision::RequireTls(profile)) => {
            t.insert("require_tls".into(), string(profile));
        }
        Some(Decision::Encrypt {
            required,
            methods: m,
            fallback,
        }) => {
            let mode = if *required { "required" } else { "if-possible" };
            t.insert("encrypt".into(), string(mode));
            t.insert("methods".into(), methods(m));
            if let Some(f) = fallback {
                t.insert("fallback".into(), string(f.as_str()));
            }
        }
    }
    if let Some(sign) = &a.sign {
        t.insert("sign".into(), methods(&sign.methods));
        if !sign.required {
            t.insert("sign_mode".into(), string("if-possible"));
        }
    }
    for (key, on) in [
        ("whitelist", a.whitelist),
        ("archive", a.archive),
        ("decrypt", a.decrypt),
        ("harvest", a.harvest),
    ] {
        if on {
            t.insert(key.into(), Value::Boolean(true));
        }
    }
    if let Some(template) = &a.notify_sender {
        t.insert("notify_sender".into(), string(template));
    }
    let mut add = Vec::new();
    let mut replace = Vec::new();
    let mut remove = Vec::new();
    let mut strip = None;
    for edit in &a.header_edits {
        let pair = |name: &str, value: &str| {
            let mut p = Table::new();
            p.insert("name".into(), string(name));
            p.insert("value".into(), string(value));
            Value::Table(p)
        };
        match edit {
            HeaderEdit::Add { name, value } => add.push(pair(name, value)),
            HeaderEdit::Replace { name, value } => replace.push(pair(name, value)),
            HeaderEdit::Remove { name } => remove.push(string(name)),
            HeaderEdit::StripSubjectTag { tag } => strip = Some(string(tag)),
        }
    }
    for (key, list) in [
        ("add_header", add),
        ("replace_header", replace),
        ("remove_header", remove),
    ] {
        if !list.is_empty() {
            t.insert(key.into(), Value::Array(list));
        }
    }
    if let Some(tag) = strip {
        t.insert("strip_subject_tag".into(), tag);
    }
    t
}

fn rule(r: &Rule) -> Value {
    let mut t = Table::new();
    t.insert("id".into(), string(&r.id));
    if let Some(d) = &r.description {
        t.insert("description".into(), string(d));
    }
    if r.enforced {
        t.insert("enforced".into(), Value::Boolean(true));
    }
    if r.disable {
        t.insert("disable".into(), Value::Boolean(true));
    }
    if let Some(when) = &r.when {
        t.insert("when".into(), condition(when));
    }
    if !r.disable {
        t.insert("then".into(), Value::Table(actions(&r.then)));
    }
    Value::Table(t)
}

fn rules(scope: &Scope) -> Value {
    Value::Array(scope.rules.iter().map(rule).collect())
}

impl Policy {
    /// The policy in canonical TOML: every condition as a one-key table,
    /// several conditions under `all`, defaults written out where they
    /// matter. [`Policy::parse`] of the result gives an equal policy.
    /// Comments and the original layout are not kept.
    ///
    /// ```
    /// use rule_engine::Policy;
    /// let (policy, _) = Policy::parse(
    ///     "[[rules]]\nid = \"R1\"\nwhen = { direction = \"outbound\", size_over = \"25MB\" }\nthen = { block = \"too large\" }\n\n[default]\nthen = { deliver = true }\n",
    ///     "a.toml",
    /// )?;
    /// let text = policy.to_toml()?;
    /// assert!(text.contains("25000000"));
    /// assert_eq!(Policy::parse(&text, "b.toml")?.0, policy);
    /// # Ok::<(), rule_engine::Error>(())
    /// ```
    pub fn to_toml(&self) -> Result<String, Error> {
        let mut root = Table::new();
        let mut header = Table::new();
        if let Some(name) = &self.name {
            header.insert("name".into(), string(name));
        }
        if !self.internal_domains.is_empty() {
            header.insert("internal_domains".into(), domains(&self.internal_domains));
        }
        if !header.is_empty() {
            root.insert("policy".into(), Value::Table(header));
        }
        let mut by_kind: [(&str, Table); 3] = [
            ("domain", Table::new()),
            ("group", Table::new()),
            ("user", Table::new()),
        ];
        for scope in &self.scopes {
            let (index, key, mut table) = match &scope.kind {
                ScopeKind::Global => {
                    if !scope.rules.is_empty() {
                        root.insert("rules".into(), rules(scope));
                    }
                    continue;
                }
                ScopeKind::Domain(d) => (0, d.to_string(), Table::new()),
                ScopeKind::Group {
                    name,
                    members,
                    member_domains,
                } => {
                    let mut t = Table::new();
                    if !members.is_empty() {
                        t.insert("members".into(), strings(members));
                    }
                    if !member_domains.is_empty() {
                        t.insert("member_domains".into(), domains(member_domains));
                    }
                    (1, name.clone(), t)
                }
                ScopeKind::User(u) => (2, u.clone(), Table::new()),
            };
            table.insert("rules".into(), rules(scope));
            if let Some((_, kind)) = by_kind.get_mut(index) {
                kind.insert(key, Value::Table(table));
            }
        }
        for (key, table) in by_kind {
            if !table.is_empty() {
                root.insert(key.into(), Value::Table(table));
            }
        }
        let serialize = |table: &Table| {
            toml::to_string(table).map_err(|e| Error::Serialize {
                message: e.to_string(),
            })
        };
        // `[default]` is written on its own after everything else: the
        // language wants it last, whatever order the writer picks.
        let decision = Actions {
            decision: Some(self.default.clone()),
            ..Actions::default()
        };
        let mut text = serialize(&root)?;
        if !text.is_empty() {
            text.push('\n');
        }
        // An inline table, as people write it (`Value`'s Display is inline).
        let then = Value::Table(actions(&decision));
        text.push_str(&format!("[default]\nthen = {then}\n"));
        Ok(text)
    }
}
