//! `mailgate policy ...`: validate a policy, explain its decision for a
//! message, run policy tests (issue 6). The work is `rule-engine`'s; this
//! module reads the inputs, prints, and maps outcomes to exit codes.

use std::path::Path;

use rule_engine::{Diagnostic, Direction, Envelope, Error, Message, Policy, StaticFacts};
use serde_json::{Value, json};

use crate::args::{
    PolicyCheckArgs, PolicyCommand, PolicyDirection, PolicyExplainArgs, PolicyTestArgs,
};
use crate::command::{display, read_input};
use crate::failure::{Failure, Verdict};
use crate::output::Output;

pub(crate) fn run(command: PolicyCommand, output: &Output) -> Result<Verdict, Failure> {
    match command {
        PolicyCommand::Check(args) => check(&args, output),
        PolicyCommand::Explain(args) => explain(&args, output),
        PolicyCommand::Test(args) => test(&args, output),
    }
}

/// "1 error", "2 warnings".
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

fn check(args: &PolicyCheckArgs, output: &Output) -> Result<Verdict, Failure> {
    let name = display(&args.policy);
    let bytes = read_input(&args.policy)?;
    let text = String::from_utf8(bytes).map_err(|error| Failure::input(&name, &error))?;
    // TLS profile names are checked against the ones the gateway can
    // apply: a misspelt one must not pass as "ok".
    let known = |profile: &str| tls_policy::Profile::built_in(profile).is_ok();
    let diagnostics = Policy::check_with_profiles(&text, &name, &known);
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    output.result(
        || {
            let mut text: String = diagnostics.iter().map(|d| format!("{d}\n\n")).collect();
            if diagnostics.is_empty() {
                text.push_str(&format!("{name}: ok, no errors or warnings"));
            } else {
                text.push_str(&format!(
                    "{name}: {}, {}",
                    count(errors, "error"),
                    count(warnings, "warning")
                ));
            }
            text
        },
        || {
            json!({
                "file": name,
                "valid": errors == 0,
                "errors": errors,
                "warnings": warnings,
                "diagnostics": diagnostics,
            })
        },
    );
    if errors > 0 {
        return Err(Failure::Input {
            input: name,
            message: format!("invalid policy: {}", count(errors, "error")),
        });
    }
    Ok(Verdict::Holds)
}

/// Loads a policy; an invalid one has its findings printed (human mode) and
/// is an input failure (exit 2).
fn load_policy(path: &Path, output: &Output) -> Result<Policy, Failure> {
    match Policy::load(path) {
        Ok((policy, warnings)) => {
            output.notes(warnings.iter().map(ToString::to_string));
            Ok(policy)
        }
        Err(error) => Err(engine_failure(error, output)),
    }
}

/// Maps a rule-engine error to a failure: every one of them is about an
/// input (a policy, a case or facts file), so exit 2.
fn engine_failure(error: Error, output: &Output) -> Failure {
    match error {
        Error::Read { path, source } => Failure::input(path.display().to_string(), &source),
        Error::InvalidPolicy { file, diagnostics } => {
            output.notes(diagnostics.iter().map(Diagnostic::to_string));
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            Failure::Input {
                input: file,
                message: format!("invalid policy: {}", count(errors, "error")),
            }
        }
        Error::InvalidTestCase { path, message } => Failure::Input {
            input: path.display().to_string(),
            message,
        },
        other => Failure::Input {
            input: "policy".to_owned(),
            message: other.to_string(),
        },
    }
}

/// A mailbox address in the form the gateway judges it
/// (`mail_message::Mailbox::key`), so `policy explain` says what `process`
/// and the relay do for the same spelling; refused forms (percent hack,
/// address literals, no address) are usage errors as there.
fn address(option: &str, value: &str) -> Result<String, Failure> {
    mail_message::Mailbox::parse(value.trim())
        .map(|mailbox| mailbox.key().to_owned())
        .map_err(|error| {
            Failure::Usage(format!(
                "{option} {value:?} is not a mail address: {}",
                error.describe()
            ))
        })
}

fn explain(args: &PolicyExplainArgs, output: &Output) -> Result<Verdict, Failure> {
    let from = address("--from", &args.from)?;
    let to = args
        .to
        .iter()
        .map(|t| address("--to", t))
        .collect::<Result<Vec<_>, _>>()?;
    let policy = load_policy(&args.policy, output)?;
    let facts = match &args.facts {
        Some(path) => StaticFacts::load(path).map_err(|e| engine_failure(e, output))?,
        None => StaticFacts::default(),
    };
    let raw = read_input(Path::new("-"))?;
    if raw.is_empty() {
        return Err(Failure::Input {
            input: "standard input".to_owned(),
            message: "no message (give the message on standard input: < message.eml)".to_owned(),
        });
    }
    let message = Message::parse(&raw);
    let direction = match args.direction {
        PolicyDirection::Outbound => Direction::Outbound,
        PolicyDirection::Inbound => Direction::Inbound,
    };
    let envelope = Envelope::new(direction, from, to);
    let evaluation = policy.evaluate(&envelope, &message, &facts);
    let blocked = evaluation.blocked_for_everyone();
    output.result(
        || {
            let mut text = evaluation
                .recipients
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n\n");
            if blocked {
                text.push_str("\n\nthe mail is delivered to no recipient");
            }
            text
        },
        || evaluation.to_json(),
    );
    Ok(if blocked {
        Verdict::DoesNotHold
    } else {
        Verdict::Holds
    })
}

fn test(args: &PolicyTestArgs, output: &Output) -> Result<Verdict, Failure> {
    let report =
        rule_engine::policy_test::run_dir(&args.dir).map_err(|e| engine_failure(e, output))?;
    if report.cases.is_empty() {
        return Err(Failure::Input {
            input: display(&args.dir),
            message: "no test cases (NAME.eml with NAME.json) in this directory".to_owned(),
        });
    }
    output.result(
        || report.to_string(),
        || {
            let cases: Vec<Value> = report
                .cases
                .iter()
                .map(|c| {
                    json!({
                        "name": c.name,
                        "description": c.description,
                        "passed": c.failures.is_empty(),
                        "failures": c.failures,
                    })
                })
                .collect();
            json!({
                "policy": report.policy.display().to_string(),
                "passed": report.passed(),
                "cases": cases,
            })
        },
    );
    Ok(if report.passed() {
        Verdict::Holds
    } else {
        Verdict::DoesNotHold
    })
}
