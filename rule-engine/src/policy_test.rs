//! Policy tests: sample mails with the outcome the policy must give them.
//!
//! A test directory holds pairs `NAME.eml` (the message) and `NAME.json`:
//!
//! ```json
//! {
//!   "direction": "outbound",
//!   "from": "alice@behoerde.example",
//!   "to": ["bob@partner.example"],
//!   "facts": {"recipients": {"bob@partner.example": {"smime": true}}, "sender": {"smime": true}},
//!   "expect": {
//!     "bob@partner.example": {"actions": ["sign", "encrypt", "deliver"], "method": "smime", "decided_by": "R2"}
//!   }
//! }
//! ```
//!
//! `facts` has the form of [`StaticFacts`]; `actions` use the names of
//! [`Action::as_str`] and are compared as a set; `method` (encryption:
//! `"smime"`, `"pgp"` or `null`), `sign_method` and `decided_by` (a rule id or
//! `null`) are checked only when present. Every envelope recipient must have
//! an expectation. An optional `message_size` declares the size of the
//! original message, so a sample of a 30 MB mail can stay a few lines long;
//! `description` says what the case shows.
//!
//! The policy is `DIR/policy.toml` if present, else the file `DIR.toml` next
//! to the directory (`examples/policies/baseline.toml` for `examples/policies/baseline/`).
//!
//! ```
//! let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/policies/baseline");
//! let report = rule_engine::policy_test::run_dir(dir)?;
//! assert!(report.passed(), "{report}");
//! # Ok::<(), rule_engine::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;
use crate::evaluate::Envelope;
use crate::facts::StaticFacts;
use crate::message::Message;
use crate::outcome::Action;
use crate::policy::Policy;
use crate::syntax::Direction;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    direction: Direction,
    from: String,
    to: Vec<String>,
    #[serde(default)]
    facts: Option<serde_json::Value>,
    #[serde(default)]
    description: Option<String>,
    /// The size of the original message, so samples of large mail stay small.
    #[serde(default)]
    message_size: Option<u64>,
    expect: BTreeMap<String, Expected>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    actions: Vec<String>,
    #[serde(default, deserialize_with = "present")]
    method: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    sign_method: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    decided_by: Option<Option<String>>,
}

/// Distinguishes a key given as `null` (`Some(None)`) from a missing key.
fn present<'de, D>(d: D) -> Result<Option<Option<String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Option::<String>::deserialize(d).map(Some)
}

/// The result of one test case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseResult {
    /// The case name (`NAME` of `NAME.eml`).
    pub name: String,
    /// The `description` of the case, if it has one.
    pub description: Option<String>,
    /// Differences between expected and actual outcomes; empty if it passed.
    pub failures: Vec<String>,
}

/// The results of a test directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestReport {
    /// The policy file used.
    pub policy: PathBuf,
    /// One result per case, by name.
    pub cases: Vec<CaseResult>,
}

impl TestReport {
    /// Whether every case passed (and there was at least one).
    pub fn passed(&self) -> bool {
        !self.cases.is_empty() && self.cases.iter().all(|c| c.failures.is_empty())
    }
}

impl fmt::Display for TestReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for case in &self.cases {
            if case.failures.is_empty() {
                writeln!(f, "ok     {}", case.name)?;
            } else {
                writeln!(f, "FAILED {}", case.name)?;
                for failure in &case.failures {
                    writeln!(f, "         {failure}")?;
                }
            }
        }
        let failed = self.cases.iter().filter(|c| !c.failures.is_empty()).count();
        write!(
            f,
            "{} passed, {failed} failed ({})",
            self.cases.len() - failed,
            self.policy.display()
        )
    }
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Read {
        path: path.to_owned(),
        source,
    })
}

/// The policy file for a test directory: `DIR/policy.toml`, else `DIR.toml`.
pub fn policy_path(dir: &Path) -> PathBuf {
    let inside = dir.join("policy.toml");
    if inside.is_file() {
        inside
    } else {
        dir.with_extension("toml")
    }
}

/// Loads the directory's policy and runs its cases.
///
/// Errors: the policy is invalid ([`Error::InvalidPolicy`]), or a file
/// cannot be read or a case file is malformed. Failing cases are not
/// errors; they are in the report.
pub fn run_dir(dir: impl AsRef<Path>) -> Result<TestReport, Error> {
    let dir = dir.as_ref();
    let path = policy_path(dir);
    let (policy, _warnings) = Policy::load(&path)?;
    let mut report = run_dir_with(&policy, dir)?;
    report.policy = path;
    Ok(report)
}

/// Runs every `NAME.eml` + `NAME.json` in `dir` against `policy`.
pub fn run_dir_with(policy: &Policy, dir: impl AsRef<Path>) -> Result<TestReport, Error> {
    let dir = dir.as_ref();
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Read {
        path: dir.to_owned(),
        source,
    })?;
    let mut names = BTreeSet::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Read {
            path: dir.to_owned(),
            source,
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            names.insert(stem.to_owned());
        }
    }
    let mut cases = Vec::new();
    for name in names {
        cases.push(run_case(policy, dir, &name)?);
    }
    Ok(TestReport {
        policy: PathBuf::new(),
        cases,
    })
}

fn invalid(path: &Path, message: String) -> Error {
    Error::InvalidTestCase {
        path: path.to_owned(),
        message,
    }
}

fn run_case(policy: &Policy, dir: &Path, name: &str) -> Result<CaseResult, Error> {
    let json_path = dir.join(format!("{name}.json"));
    let eml_path = dir.join(format!("{name}.eml"));
    let json = read(&json_path)?;
    let case: CaseFile = serde_json::from_slice(&json)
        .map_err(|e| invalid(&json_path, format!("invalid test case: {e}")))?;
    let facts = match &case.facts {
        None => StaticFacts::default(),
        Some(value) => StaticFacts::from_json(&value.to_string())
            .map_err(|e| invalid(&json_path, format!("invalid facts: {e}")))?,
    };
    let raw = read(&eml_path)?;
    let mut message = Message::parse(&raw);
    if let Some(size) = case.message_size {
        message = message.with_size(size);
    }
    let envelope = Envelope::new(case.direction, case.from.clone(), case.to.iter().cloned());
    let evaluation = policy.evaluate(&envelope, &message, &facts);
    let mut failures = Vec::new();
    let expect: BTreeMap<String, &Expected> = case
        .expect
        .iter()
        .map(|(k, v)| (crate::evaluate::address_key(k), v))
        .collect();
    for (address, expected) in &expect {
        for a in &expected.actions {
            if Action::from_name(a).is_none() {
                return Err(invalid(
                    &json_path,
                    format!("unknown action `{a}` expected for {address}"),
                ));
            }
        }
        let Some(actual) = evaluation.recipient(address) else {
            failures.push(format!(
                "{address}: expected, but not an envelope recipient"
            ));
            continue;
        };
        let want: BTreeSet<&str> = expected.actions.iter().map(String::as_str).collect();
        let got: BTreeSet<&str> = actual.outcome.actions.iter().map(|a| a.as_str()).collect();
        if want != got {
            failures.push(format!(
                "{address}: expected actions [{}], got [{}] (decided by {})",
                want.into_iter().collect::<Vec<_>>().join(", "),
                got.into_iter().collect::<Vec<_>>().join(", "),
                actual.decided_by.as_deref().unwrap_or("no rule")
            ));
        }
        if let Some(method) = &expected.method {
            let got = actual
                .outcome
                .encryption_method
                .map(|m| m.as_str().to_owned());
            if *method != got {
                failures.push(format!(
                    "{address}: expected method {method:?}, got {got:?}"
                ));
            }
        }
        if let Some(method) = &expected.sign_method {
            let got = actual.outcome.signing_method.map(|m| m.as_str().to_owned());
            if *method != got {
                failures.push(format!(
                    "{address}: expected sign_method {method:?}, got {got:?}"
                ));
            }
        }
        if let Some(rule) = &expected.decided_by
            && *rule != actual.decided_by
        {
            failures.push(format!(
                "{address}: expected decided_by {rule:?}, got {:?}",
                actual.decided_by
            ));
        }
    }
    for r in &evaluation.recipients {
        if !expect.contains_key(&r.address) {
            failures.push(format!(
                "{}: no expectation given for this recipient",
                r.address
            ));
        }
    }
    Ok(CaseResult {
        name: name.to_owned(),
        description: case.description,
        failures,
    })
}
