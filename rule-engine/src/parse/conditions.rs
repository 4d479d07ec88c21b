//! Conditions: the `when` table of a rule, nested `all`/`any`/`not`, and
//! the header, attachment and body tests.

use toml::de::{DeTable, DeValue};

use super::{Reader, Value};
use crate::syntax::{
    AttachmentTest, BodyTest, Condition, FactKind, HeaderTest, Method, Party, Span,
};

/// Conditions nested deeper than this are refused (they are never needed and
/// would only cost stack).
const MAX_DEPTH: usize = 32;

pub(super) const CONDITION_KEYS: &[&str] = &[
    "direction",
    "sender",
    "recipient",
    "sender_domain",
    "recipient_domain",
    "sender_regex",
    "recipient_regex",
    "sender_internal",
    "recipient_internal",
    "header_from",
    "header_from_domain",
    "header_from_regex",
    "header_from_internal",
    "header",
    "subject_tag",
    "sensitivity",
    "classification",
    "attachments",
    "body",
    "size_over",
    "size_under",
    "signed",
    "encrypted",
    "recipient_has_smime",
    "recipient_has_pgp",
    "recipient_tls",
    "sender_has_smime",
    "sender_has_pgp",
    "inbound_signature_valid",
    "all",
    "any",
    "not",
];
const HEADER_KEYS: &[&str] = &[
    "name",
    "exists",
    "equals",
    "contains",
    "regex",
    "case_sensitive",
];
const ATTACHMENT_KEYS: &[&str] = &[
    "count_min",
    "count_max",
    "larger_than",
    "total_size_over",
    "mime_type",
    "extension",
    "name_regex",
];
const BODY_KEYS: &[&str] = &["keywords", "regex", "threshold"];

impl Reader<'_, '_> {
    /// The conditions of one table; several keys must all hold.
    pub(super) fn conditions(
        &mut self,
        table: &DeTable<'_>,
        span: Span,
        depth: usize,
    ) -> Option<Condition> {
        if depth > MAX_DEPTH {
            self.error(
                span,
                "conditions nested too deeply",
                Some(format!("use at most {MAX_DEPTH} levels of all/any/not")),
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for (key, _, value) in self.fields(table, CONDITION_KEYS, "conditions") {
            match self.condition(key, value, depth) {
                Some(c) => out.push(c),
                None => ok = false,
            }
        }
        if !ok || out.len() < table.len() {
            // The errors are reported already.
            return None;
        }
        if out.is_empty() {
            self.error(
                span,
                "empty condition table",
                Some(
                    "give at least one condition, or remove `when` so the rule always applies"
                        .into(),
                ),
            );
            return None;
        }
        // Cheap conditions first: a host fact is asked only when the rest held.
        out.sort_by_key(Condition::cost);
        if out.len() == 1 {
            out.pop()
        } else {
            Some(Condition::All(out))
        }
    }

    fn condition_list(
        &mut self,
        value: &Value<'_>,
        what: &str,
        depth: usize,
    ) -> Option<Vec<Condition>> {
        let items = self.array(value, what)?;
        if items.is_empty() {
            self.error(
                value.span(),
                format!("`{what}` is an empty list"),
                Some("give at least one condition table".into()),
            );
            return None;
        }
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match self
                .table(item, what)
                .and_then(|t| self.conditions(t, item.span(), depth + 1))
            {
                Some(c) => out.push(c),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn condition(&mut self, key: &str, value: &Value<'_>, depth: usize) -> Option<Condition> {
        let fact = |kind: FactKind, b: Option<bool>| b.map(|b| Condition::Fact(kind, b));
        Some(match key {
            "direction" => {
                let text = self.string(value, key)?;
                match text.parse() {
                    Ok(d) => Condition::Direction(d),
                    Err(message) => {
                        self.error(value.span(), message, None);
                        return None;
                    }
                }
            }
            "sender" => Condition::Address(Party::Sender, address_set(self.addresses(value, key)?)),
            "recipient" => {
                Condition::Address(Party::Recipient, address_set(self.addresses(value, key)?))
            }
            "sender_domain" => Condition::Domain(Party::Sender, self.domains(value, key)?),
            "recipient_domain" => Condition::Domain(Party::Recipient, self.domains(value, key)?),
            "sender_regex" => Condition::AddressRegex(Party::Sender, self.regex(value, key, true)?),
            "recipient_regex" => {
                Condition::AddressRegex(Party::Recipient, self.regex(value, key, true)?)
            }
            "header_from" => {
                Condition::Address(Party::HeaderFrom, address_set(self.addresses(value, key)?))
            }
            "header_from_domain" => Condition::Domain(Party::HeaderFrom, self.domains(value, key)?),
            "header_from_regex" => {
                Condition::AddressRegex(Party::HeaderFrom, self.regex(value, key, true)?)
            }
            "header_from_internal" => {
                Condition::Internal(Party::HeaderFrom, self.boolean(value, key)?)
            }
            "sender_internal" => Condition::Internal(Party::Sender, self.boolean(value, key)?),
            "recipient_internal" => {
                Condition::Internal(Party::Recipient, self.boolean(value, key)?)
            }
            "header" => match value.get_ref() {
                DeValue::Array(_) => {
                    let items = self.array(value, key)?;
                    let mut out = Vec::new();
                    for item in items {
                        out.push(self.header(item)?);
                    }
                    match out.len() {
                        0 => {
                            self.error(value.span(), "`header` is an empty list", None);
                            return None;
                        }
                        1 => out.pop()?,
                        _ => Condition::All(out),
                    }
                }
                _ => self.header(value)?,
            },
            "subject_tag" => {
                // Matched in the normal form a reader's view maps to (see
                // `shown_text`); a tag of invisible characters is empty.
                let tag = crate::shown_text::normalize(&self.string(value, key)?);
                if tag.is_empty() {
                    self.error(
                        value.span(),
                        "`subject_tag` is empty",
                        Some("write the tag, e.g. \"[vertraulich]\"".into()),
                    );
                    return None;
                }
                Condition::SubjectTag(tag)
            }
            "sensitivity" => Condition::Header {
                name: "Sensitivity".into(),
                test: HeaderTest::Equals(self.string(value, key)?),
                case_sensitive: false,
            },
            "classification" => Condition::Header {
                name: "X-Classification".into(),
                test: HeaderTest::Equals(self.string(value, key)?),
                case_sensitive: false,
            },
            "attachments" => self.attachments(value)?,
            "body" => self.body(value)?,
            "size_over" => Condition::SizeOver(self.size(value, key)?),
            "size_under" => Condition::SizeUnder(self.size(value, key)?),
            "signed" => Condition::Signed(self.boolean(value, key)?),
            "encrypted" => Condition::Encrypted(self.boolean(value, key)?),
            "recipient_has_smime" => fact(
                FactKind::RecipientHas(Method::Smime),
                self.boolean(value, key),
            )?,
            "recipient_has_pgp" => fact(
                FactKind::RecipientHas(Method::Pgp),
                self.boolean(value, key),
            )?,
            "sender_has_smime" => {
                fact(FactKind::SenderHas(Method::Smime), self.boolean(value, key))?
            }
            "sender_has_pgp" => fact(FactKind::SenderHas(Method::Pgp), self.boolean(value, key))?,
            "inbound_signature_valid" => {
                fact(FactKind::InboundSignatureValid, self.boolean(value, key))?
            }
            "recipient_tls" => {
                let profile = self.string(value, key)?;
                if profile.trim().is_empty() {
                    self.error(
                        value.span(),
                        "`recipient_tls` needs a profile name",
                        Some("e.g. \"bsi-tr-03108\"".into()),
                    );
                    return None;
                }
                self.known_profile(&profile, value.span());
                Condition::Fact(FactKind::RecipientTls(profile), true)
            }
            "all" => Condition::All(self.condition_list(value, key, depth)?),
            "any" => Condition::Any(self.condition_list(value, key, depth)?),
            "not" => {
                let table = self.table(value, key)?;
                Condition::Not(Box::new(self.conditions(table, value.span(), depth + 1)?))
            }
            _ => return None,
        })
    }

    fn header(&mut self, value: &Value<'_>) -> Option<Condition> {
        let table = self.table(value, "header")?;
        let mut name = None;
        let mut tests: Vec<(Span, &str, &Value<'_>)> = Vec::new();
        let mut case_sensitive = false;
        for (key, key_span, v) in self.fields(table, HEADER_KEYS, "a header condition") {
            match key {
                "name" => name = self.string(v, "name"),
                "case_sensitive" => case_sensitive = self.boolean(v, key)?,
                _ => tests.push((key_span, key, v)),
            }
        }
        let Some(name) = name else {
            self.error(
                value.span(),
                "header condition without `name`",
                Some(
                    "e.g. `header = { name = \"X-Classification\", equals = \"confidential\" }`"
                        .into(),
                ),
            );
            return None;
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            self.error(
                value.span(),
                format!("`{name}` is not a header field name"),
                None,
            );
            return None;
        }
        let test = match tests.as_slice() {
            [(_, key, v)] => match *key {
                "exists" => {
                    if !self.boolean(v, key)? {
                        self.error(v.span(), "`exists = false` is written `not = { header = { name = ..., exists = true } }`", None);
                        return None;
                    }
                    HeaderTest::Exists
                }
                "equals" => HeaderTest::Equals(self.string(v, key)?),
                "contains" => HeaderTest::Contains(self.string(v, key)?),
                _ => HeaderTest::Matches(self.regex(v, key, !case_sensitive)?),
            },
            [] => {
                self.error(
                    value.span(),
                    format!("header condition on `{name}` has no test"),
                    Some("add one of `exists = true`, `equals`, `contains` or `regex`".into()),
                );
                return None;
            }
            [_, (span, key, _), ..] => {
                self.error(
                    span.clone(),
                    format!("header condition on `{name}` has a second test `{key}`"),
                    Some(
                        "one test per header condition; combine several with `all` or `any`".into(),
                    ),
                );
                return None;
            }
        };
        Some(Condition::Header {
            name,
            test,
            case_sensitive,
        })
    }

    fn attachments(&mut self, value: &Value<'_>) -> Option<Condition> {
        let table = self.table(value, "attachments")?;
        let mut test = AttachmentTest::default();
        let mut ok = true;
        for (key, _, v) in self.fields(table, ATTACHMENT_KEYS, "an attachments condition") {
            let done = match key {
                "count_min" => self.integer(v, key).map(|n| test.count_min = Some(n)),
                "count_max" => self.integer(v, key).map(|n| test.count_max = Some(n)),
                "larger_than" => self.size(v, key).map(|n| test.larger_than = Some(n)),
                "total_size_over" => self.size(v, key).map(|n| test.total_size_over = Some(n)),
                "mime_type" => self.strings(v, key).map(|list| {
                    test.mime_types = list
                        .into_iter()
                        .map(|(s, _)| s.to_ascii_lowercase())
                        .collect();
                }),
                "extension" => self.strings(v, key).map(|list| {
                    test.extensions = list
                        .into_iter()
                        .map(|(s, _)| s.trim_start_matches('.').to_ascii_lowercase())
                        .collect();
                }),
                _ => self.regex(v, key, true).map(|p| test.name_regex = Some(p)),
            };
            ok &= done.is_some();
        }
        if !ok {
            return None;
        }
        if let (Some(min), Some(max)) = (test.count_min, test.count_max)
            && min > max
        {
            self.error(
                value.span(),
                format!("`count_min` ({min}) is above `count_max` ({max}), so this never holds"),
                None,
            );
            return None;
        }
        if test == AttachmentTest::default() {
            self.error(
                value.span(),
                "empty attachments condition",
                Some("e.g. `attachments = { count_min = 1 }`".into()),
            );
            return None;
        }
        Some(Condition::Attachments(test))
    }

    fn body(&mut self, value: &Value<'_>) -> Option<Condition> {
        let table = self.table(value, "body")?;
        let mut keywords = Vec::new();
        let mut regexes = Vec::new();
        let mut threshold = 1;
        let mut ok = true;
        for (key, _, v) in self.fields(table, BODY_KEYS, "a body condition") {
            match key {
                "keywords" => match self.strings(v, key) {
                    Some(list) => {
                        for (word, span) in list {
                            if word.is_empty() {
                                self.error(span, "empty keyword", None);
                                ok = false;
                            } else {
                                keywords.push(word);
                            }
                        }
                    }
                    None => ok = false,
                },
                "regex" => {
                    let items: Vec<&Value<'_>> = match v.get_ref() {
                        DeValue::Array(a) => a.iter().collect(),
                        _ => vec![v],
                    };
                    for item in items {
                        match self.regex(item, key, true) {
                            Some(p) => regexes.push(p),
                            None => ok = false,
                        }
                    }
                }
                _ => match self.integer(v, key) {
                    Some(0) => {
                        self.error(
                            v.span(),
                            "`threshold` 0 always holds",
                            Some("use 1 or more hits".into()),
                        );
                        ok = false;
                    }
                    Some(n) => threshold = n,
                    None => ok = false,
                },
            }
        }
        if !ok {
            return None;
        }
        if keywords.is_empty() && regexes.is_empty() {
            self.error(
                value.span(),
                "body condition without `keywords` or `regex`",
                Some("e.g. `body = { keywords = [\"Verschlusssache\"], threshold = 2 }`".into()),
            );
            return None;
        }
        Some(Condition::Body(BodyTest {
            keywords,
            keyword_ids: Vec::new(),
            regexes,
            threshold,
        }))
    }
}

/// Address lists are sorted and deduplicated once, so a lookup is a binary
/// search however long the list.
fn address_set(mut addresses: Vec<String>) -> Vec<String> {
    addresses.sort();
    addresses.dedup();
    addresses
}
