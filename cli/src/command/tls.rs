//! `mailgate tls ...`

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use serde_json::json;
use tls_policy::{
    Error as TlsError, Handshake, Observation, Outcome, Prober, Profile, PublicKey, Report, Target,
    Timeouts, TrustAnchors,
};

use crate::args_tls::{TlsCheckArgs, TlsCommand};
use crate::command::{display, read_input};
use crate::failure::{Failure, Verdict};
use crate::output::Output;

pub(crate) fn run(command: TlsCommand, output: &Output) -> Result<Verdict, Failure> {
    match command {
        TlsCommand::Check(args) => check(&args, output),
    }
}

fn check(args: &TlsCheckArgs, output: &Output) -> Result<Verdict, Failure> {
    if let Some(domain) = &args.domain {
        return Err(Failure::Usage(format!(
            "--domain {domain}: MX resolution is not implemented yet; check each MX host with 'mailgate tls check HOST --name MX-NAME'"
        )));
    }
    let spec = args
        .target
        .as_deref()
        .ok_or_else(|| Failure::Usage("HOST[:PORT] or --domain is required".to_owned()))?;
    let mut target =
        Target::parse(spec, args.direct_tls).map_err(|error| Failure::Usage(error.to_string()))?;
    if let Some(name) = &args.name {
        target = target.with_name(name.trim_end_matches('.'));
    }
    let profile = load_profile(&args.profile)?;
    let anchors = load_anchors(&args.trust)?;
    if args.timeout == 0 {
        return Err(Failure::Usage(
            "--timeout must be at least 1 second".to_owned(),
        ));
    }
    let session = Duration::from_secs(args.timeout);
    let prober = Prober::new(profile, anchors)
        .with_enumeration(!args.no_enumeration)
        .with_timeouts(Timeouts {
            connect: session.min(Duration::from_secs(10)),
            io: session,
            session,
        });
    let (observation, report) = prober.check(&target).map_err(probe_failure)?;
    output.result(
        || human(&observation, &report),
        || json!({ "report": report, "observation": observation }),
    );
    Ok(if report.conforms {
        Verdict::Holds
    } else {
        Verdict::DoesNotHold
    })
}

fn load_profile(spec: &str) -> Result<Profile, Failure> {
    match spec {
        "bsi-tr-03108" | "opportunistic" => {
            Profile::built_in(spec).map_err(|error| Failure::Usage(error.to_string()))
        }
        path => {
            let path = Path::new(path);
            let bytes = read_input(path)?;
            let text =
                String::from_utf8(bytes).map_err(|error| Failure::input(display(path), &error))?;
            Profile::from_toml(&text).map_err(|error| Failure::input(display(path), &error))
        }
    }
}

fn load_anchors(paths: &[std::path::PathBuf]) -> Result<TrustAnchors, Failure> {
    if paths.is_empty() {
        return TrustAnchors::system().map_err(|error| Failure::Input {
            input: "system trust store".to_owned(),
            message: error.to_string(),
        });
    }
    let mut pem = Vec::new();
    for path in paths {
        let bytes = read_input(path)?;
        // Check each file alone so the error names it.
        TrustAnchors::from_pem(&bytes).map_err(|error| Failure::input(display(path), &error))?;
        pem.extend_from_slice(&bytes);
        pem.push(b'\n');
    }
    TrustAnchors::from_pem(&pem).map_err(|error| Failure::input("--trust", &error))
}

fn probe_failure(error: TlsError) -> Failure {
    if error.is_temporary() {
        Failure::Temporary(error.to_string())
    } else {
        match error {
            TlsError::InvalidName(_) | TlsError::InvalidTarget(_) => {
                Failure::Usage(error.to_string())
            }
            other => Failure::Input {
                input: "--profile".to_owned(),
                message: other.to_string(),
            },
        }
    }
}

fn human(observation: &Observation, report: &Report) -> String {
    let mut text = String::new();
    let verdict = if report.conforms {
        "meets"
    } else {
        "DOES NOT meet"
    };
    let _ = writeln!(
        text,
        "{} (name {}) {verdict} profile {}",
        report.server, observation.expected_name, report.profile
    );
    match &observation.handshake {
        Handshake::Established(n) => {
            let _ = writeln!(
                text,
                "negotiated: {} {} group {} signature {}",
                n.version,
                n.suite,
                n.group.map_or_else(|| "none".to_owned(), |g| g.to_string()),
                n.signature_scheme
                    .map_or_else(|| "none".to_owned(), |s| s.to_string())
            );
        }
        Handshake::Failed { reason } => {
            let _ = writeln!(text, "handshake failed: {reason}");
        }
        Handshake::NotAttempted => {
            let _ = writeln!(text, "no TLS");
        }
    }
    for certificate in &observation.certificates {
        let key = match &certificate.key {
            PublicKey::Rsa { bits } => format!("RSA-{bits}"),
            PublicKey::Ec { curve, .. } => format!("EC {curve}"),
            PublicKey::Ed25519 => "Ed25519".to_owned(),
            PublicKey::Other { oid } => oid.clone(),
        };
        let _ = writeln!(
            text,
            "certificate: {} ({key}, {})",
            certificate.subject, certificate.signature_algorithm.name
        );
    }
    let passed = report
        .findings
        .iter()
        .filter(|f| f.outcome == Outcome::Pass)
        .count();
    for finding in &report.findings {
        let label = match finding.outcome {
            Outcome::Fail => "FAIL",
            Outcome::Informational => "info",
            Outcome::Pass | Outcome::NotApplicable => continue,
        };
        let _ = writeln!(
            text,
            "{label} {} [{}]: {}",
            finding.check, finding.requirement, finding.observed
        );
    }
    let _ = writeln!(
        text,
        "{passed} of {} findings passed, {} failed",
        report.findings.len(),
        report.failures().count()
    );
    text
}
