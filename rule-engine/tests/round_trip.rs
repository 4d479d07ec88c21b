#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Round trip: a generated policy text parses, its canonical TOML parses to
//! an equal policy, and writing that again gives the same text.

use proptest::prelude::*;
use rule_engine::Policy;

/// Ends `text` with an explicit `[default]` (every policy must have one)
/// unless it has one.
fn with_default(text: &str) -> String {
    if text.contains("[default]") {
        text.to_owned()
    } else {
        format!("{text}\n[default]\nthen = {{ deliver = true }}\n")
    }
}

fn boolean() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("true"), Just("false")]
}

/// One condition key with its value, as policy text: `(key, "key = value")`.
fn leaf() -> impl Strategy<Value = (&'static str, String)> {
    prop_oneof![
        prop_oneof![Just("inbound"), Just("outbound")]
            .prop_map(|d| ("direction", format!("direction = \"{d}\""))),
        prop::sample::subsequence(vec!["a@x.example", "B@Y.example", "c@z.example"], 1..3)
            .prop_map(|s| ("sender", format!("sender = {s:?}"))),
        prop::sample::subsequence(
            vec!["*.x.example", "y.example", "*.Z.example", "=W.example."],
            1..3
        )
        .prop_map(|s| ("recipient_domain", format!("recipient_domain = {s:?}"))),
        prop::sample::subsequence(vec!["a@x.example", "B@Y.example."], 1..2)
            .prop_map(|s| ("header_from", format!("header_from = {s:?}"))),
        prop::sample::subsequence(vec!["bank.example", "=x.example", "*.y.example"], 1..3)
            .prop_map(|s| ("header_from_domain", format!("header_from_domain = {s:?}"))),
        boolean().prop_map(|b| (
            "header_from_internal",
            format!("header_from_internal = {b}")
        )),
        prop_oneof![Just("^a"), Just("@x\\.example$"), Just("[0-9]+")]
            .prop_map(|r| ("sender_regex", format!("sender_regex = '{r}'"))),
        boolean().prop_map(|b| ("recipient_internal", format!("recipient_internal = {b}"))),
        (
            prop_oneof![
                Just("exists = true"),
                Just("equals = \"v\""),
                Just("contains = \"Vv\""),
                Just("regex = '^v+$'")
            ],
            any::<bool>()
        )
            .prop_map(|(test, cs)| {
                let cs = if cs { ", case_sensitive = true" } else { "" };
                (
                    "header",
                    format!("header = {{ name = \"X-A\", {test}{cs} }}"),
                )
            }),
        Just(("subject_tag", "subject_tag = \"[Vertraulich]\"".to_owned())),
        Just((
            "sensitivity",
            "sensitivity = \"Company-Confidential\"".to_owned()
        )),
        (
            0u64..5,
            prop::option::of(prop_oneof![Just("[\"exe\", \".scr\"]"), Just("\"PDF\"")]),
            prop::option::of(0u64..100_000)
        )
            .prop_map(|(n, ext, size)| {
                let mut parts = vec![format!("count_min = {n}")];
                if let Some(e) = ext {
                    parts.push(format!("extension = {e}"));
                }
                if let Some(s) = size {
                    parts.push(format!("total_size_over = {s}"));
                }
                (
                    "attachments",
                    format!("attachments = {{ {} }}", parts.join(", ")),
                )
            }),
        (1u64..5, any::<bool>()).prop_map(|(t, regex)| {
            let regex = if regex {
                ", regex = ['\\bIBAN\\b']"
            } else {
                ""
            };
            (
                "body",
                format!("body = {{ keywords = [\"geheim\", \"VS-NfD\"]{regex}, threshold = {t} }}"),
            )
        }),
        prop_oneof![
            Just("\"25MB\"".to_owned()),
            (0u64..u64::MAX / 2).prop_map(|n| n.to_string())
        ]
        .prop_map(|v| ("size_over", format!("size_over = {v}"))),
        boolean().prop_map(|b| ("signed", format!("signed = {b}"))),
        boolean().prop_map(|b| ("recipient_has_smime", format!("recipient_has_smime = {b}"))),
        Just((
            "recipient_tls",
            "recipient_tls = \"bsi-tr-03108\"".to_owned()
        )),
        boolean().prop_map(|b| (
            "inbound_signature_valid",
            format!("inbound_signature_valid = {b}")
        )),
    ]
}

/// A condition table: leaves with distinct keys, possibly nested.
fn table() -> impl Strategy<Value = String> {
    let flat = prop::collection::vec(leaf(), 1..4).prop_map(|leaves| {
        let mut seen = Vec::new();
        let parts: Vec<String> = leaves
            .into_iter()
            .filter(|(k, _)| {
                let new = !seen.contains(k);
                seen.push(*k);
                new
            })
            .map(|(_, text)| text)
            .collect();
        format!("{{ {} }}", parts.join(", "))
    });
    flat.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..3)
                .prop_map(|v| format!("{{ any = [{}] }}", v.join(", "))),
            prop::collection::vec(inner.clone(), 1..3)
                .prop_map(|v| format!("{{ all = [{}] }}", v.join(", "))),
            inner.prop_map(|t| format!("{{ not = {t} }}")),
        ]
    })
}

fn actions() -> impl Strategy<Value = String> {
    let decision = prop_oneof![
        Just(None),
        Just(Some("deliver = true".to_owned())),
        Just(Some("block = \"no\"".to_owned())),
        Just(Some("quarantine = true".to_owned())),
        Just(Some("quarantine = \"review\"".to_owned())),
        Just(Some("require_tls = \"bsi-tr-03108\"".to_owned())),
        (
            prop_oneof![Just("required"), Just("if-possible")],
            prop::option::of(prop_oneof![Just("[\"pgp\"]"), Just("[\"pgp\", \"smime\"]")]),
            prop::option::of(prop_oneof![
                Just("password-pdf"),
                Just("password-zip"),
                Just("block")
            ])
        )
            .prop_map(|(mode, methods, fallback)| {
                let mut s = format!("encrypt = \"{mode}\"");
                if let Some(m) = methods {
                    s.push_str(&format!(", methods = {m}"));
                }
                if let Some(f) = fallback {
                    s.push_str(&format!(", fallback = \"{f}\""));
                }
                Some(s)
            }),
    ];
    let effects = prop::sample::subsequence(
        vec![
            "sign = \"smime\"",
            "archive = true",
            "whitelist = true",
            "notify_sender = \"t\"",
            "remove_header = [\"X-B\", \"X-C\"]",
            "add_header = { name = \"X-A\", value = \"1\" }",
            "strip_subject_tag = \"[vertraulich]\"",
            "replace_header = [{ name = \"X-D\", value = \"2\" }]",
        ],
        0..5,
    )
    .prop_shuffle();
    (decision, effects, any::<bool>()).prop_map(|(decision, effects, if_possible)| {
        let mut parts: Vec<String> = decision.into_iter().collect();
        for e in effects {
            parts.push(e.to_owned());
            if e.starts_with("sign") && if_possible {
                parts.push("sign_mode = \"if-possible\"".to_owned());
            }
        }
        if parts.is_empty() {
            parts.push("archive = true".to_owned());
        }
        format!("{{ {} }}", parts.join(", "))
    })
}

/// A rule: `(when, then, enforced, description)`.
fn rule() -> impl Strategy<Value = (Option<String>, String, bool, bool)> {
    (
        prop::option::of(table()),
        actions(),
        prop::bool::weighted(0.2),
        any::<bool>(),
    )
}

fn render(
    header: &str,
    prefix: &str,
    rules: &[(Option<String>, String, bool, bool)],
    allow_enforced: bool,
) -> String {
    let mut text = String::new();
    for (i, (when, then, enforced, description)) in rules.iter().enumerate() {
        text.push_str(&format!("{header}\nid = \"{prefix}{i}\"\n"));
        if *description {
            text.push_str("description = \"a \\\"quoted\\\" description\"\n");
        }
        if *enforced && allow_enforced {
            text.push_str("enforced = true\n");
        }
        if let Some(w) = when {
            text.push_str(&format!("when = {w}\n"));
        }
        text.push_str(&format!("then = {then}\n\n"));
    }
    text
}

fn policy_text() -> impl Strategy<Value = String> {
    (
        any::<bool>(),
        // At least one global rule: a policy without rules is refused.
        prop::collection::vec(rule(), 1..4),
        prop::collection::vec(rule(), 0..3),
        prop::collection::vec(rule(), 0..3),
        prop::collection::vec(rule(), 0..2),
        any::<bool>(),
    )
        .prop_map(|(header, global, domain, group, user, disable)| {
            let mut text = String::new();
            if header {
                text.push_str("[policy]\nname = \"generated\"\ninternal_domains = [\"behoerde.example\", \"*.behoerde.example\"]\n\n");
            }
            text.push_str(&render("[[rules]]", "g", &global, true));
            text.push_str(&render("[[domain.\"*.partner.example\".rules]]", "d", &domain, false));
            if disable && !global.is_empty() && !global[0].2 {
                text.push_str("[[domain.\"*.partner.example\".rules]]\nid = \"g0\"\ndisable = true\n\n");
            }
            text.push_str("[group.team]\nmembers = [\"Ann@Partner.example\"]\nmember_domains = [\"*.team.example\"]\n\n");
            text.push_str(&render("[[group.team.rules]]", "t", &group, false));
            text.push_str(&render("[[user.\"ann@partner.example\".rules]]", "u", &user, false));
            // Scopes out of alphabetical order: their file order must survive.
            text.push_str("[group.alpha]\nmembers = [\"bob@a.example\"]\n\n");
            text.push_str(&render("[[group.alpha.rules]]", "a", &group, false));
            text.push_str(&render("[[domain.\"A.example\".rules]]", "x", &domain, false));
            text
        })
        .prop_flat_map(|text| {
            // Every kind of decision as the `[default]`, always last.
            prop_oneof![
                Just("{ deliver = true }"),
                Just("{ block = \"no rule decided\" }"),
                Just("{ quarantine = true }"),
                Just("{ quarantine = \"review\" }"),
                Just("{ require_tls = \"bsi-tr-03108\" }"),
                Just("{ encrypt = \"if-possible\", methods = [\"pgp\"] }"),
                Just("{ encrypt = \"required\", fallback = \"password-zip\" }"),
            ]
            .prop_map(move |then| format!("{text}[default]\nthen = {then}\n"))
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A generated policy cut short anywhere before the closing brace of
    /// its `[default]` (its last table) is refused: truncation never yields
    /// a shorter policy that loads.
    #[test]
    fn every_truncation_of_a_generated_policy_is_refused(
        text in policy_text(),
        fraction in 0.0f64..1.0,
    ) {
        let end = text.rfind('}').unwrap();
        let mut cut = (end as f64 * fraction) as usize;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        prop_assert!(Policy::parse(&text, "whole.toml").is_ok());
        prop_assert!(Policy::parse(&text[..cut], "cut.toml").is_err(), "cut at {}:\n{}", cut, &text[..cut]);
    }

    #[test]
    fn canonical_toml_parses_back_to_an_equal_policy(text in policy_text()) {
        let (policy, _warnings) = match Policy::parse(&with_default(&text), "generated.toml") {
            Ok(p) => p,
            Err(e) => {
                let shown: Vec<String> = Policy::check(&with_default(&text), "generated.toml").iter().map(ToString::to_string).collect();
                panic!("generated policy rejected ({e}):\n{text}\n{}", shown.join("\n"));
            }
        };
        let written = policy.to_toml().unwrap();
        let (again, _) = match Policy::parse(&written, "written.toml") {
            Ok(p) => p,
            Err(e) => {
                let shown: Vec<String> = Policy::check(&written, "written.toml").iter().map(ToString::to_string).collect();
                panic!("written policy rejected ({e}):\n{written}\n{}", shown.join("\n"));
            }
        };
        prop_assert_eq!(&again, &policy, "\n--- original\n{}\n--- written\n{}", text, written);
        prop_assert_eq!(&again.to_toml().unwrap(), &written);
        prop_assert_eq!(again.rule_count(), policy.rule_count());
        let default_at = written.find("\n[default]\nthen = {");
        prop_assert!(default_at.is_some_and(|at| !written[at + 1..].contains("\n[")), "default last:\n{}", written);
        let group_order = |t: &str| (t.find("[group.team]"), t.find("[group.alpha]"));
        let (team, alpha) = group_order(&written);
        prop_assert!(team < alpha, "group order kept:\n{}", written);
    }
}

#[test]
fn the_baseline_policy_round_trips() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/policies/baseline.toml"
    );
    let (policy, _) = Policy::load(path).unwrap();
    let written = policy.to_toml().unwrap();
    let (again, warnings) = Policy::parse(&written, "written.toml").unwrap();
    assert_eq!(again, policy);
    assert!(warnings.is_empty(), "{warnings:#?}");
    assert!(
        written.contains("[[domain.\"geheim.example\".rules]]"),
        "{written}"
    );
}
