//! `mailgate tls ...`

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tls_policy::{
    Dns, DnsError, Error as TlsError, Handshake, MailRoute, MtaSts, MtaStsError, Observation,
    Outcome, Prober, Profile, PublicKey, Report, RouteKind, StsMode, StsPolicy, Target, Timeouts,
    TrustAnchors, resolve_mx,
};

use crate::args_tls::{TlsCheckArgs, TlsCommand};
use crate::command::resolver::resolver;
use crate::command::{display, read_input};
use crate::failure::{Failure, Verdict};
use crate::output::Output;

pub(crate) fn run(command: TlsCommand, output: &Output) -> Result<Verdict, Failure> {
    match command {
        TlsCommand::Check(args) => check(&args, output),
    }
}

fn check(args: &TlsCheckArgs, output: &Output) -> Result<Verdict, Failure> {
    let anchors = load_anchors(&args.trust)?;
    let prober = prober(args, anchors.clone())?;
    if let Some(domain) = &args.domain {
        return check_domain(args, domain, prober, anchors, output);
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

fn prober(args: &TlsCheckArgs, anchors: TrustAnchors) -> Result<Prober, Failure> {
    let profile = load_profile(&args.profile)?;
    if args.timeout == 0 {
        return Err(Failure::Usage(
            "--timeout must be at least 1 second".to_owned(),
        ));
    }
    let session = Duration::from_secs(args.timeout);
    Ok(Prober::new(profile, anchors)
        .with_enumeration(!args.no_enumeration)
        .with_timeouts(Timeouts {
            connect: session.min(Duration::from_secs(10)),
            io: session,
            session,
        }))
}

/// `--domain`: every address of every exchanger, in preference order.
fn check_domain(
    args: &TlsCheckArgs,
    domain: &str,
    prober: Prober,
    anchors: TrustAnchors,
    output: &Output,
) -> Result<Verdict, Failure> {
    let dns: Arc<dyn Dns> = Arc::new(resolver(&args.dns)?);
    let route = resolve_mx(dns.as_ref(), domain).map_err(|error| match error {
        DnsError::InvalidName(_) => Failure::Usage(error.to_string()),
        DnsError::NoSuchDomain { .. } => Failure::Input {
            input: domain.to_owned(),
            message: error.to_string(),
        },
        other => Failure::Temporary(other.to_string()),
    })?;
    let port = args.port.unwrap_or(if args.direct_tls { 465 } else { 25 });
    // RFC 7672 section 2.2.1: DANE only below a validated MX answer.
    let prober = if route.secure {
        prober.with_dns(Arc::clone(&dns))
    } else {
        prober
    };
    // RFC 8461: an enforced policy admits only the MX hosts it lists.
    let sts = MtaSts::new(Arc::clone(&dns), anchors)
        .with_port(args.mta_sts_port)
        .with_timeout(Duration::from_secs(args.timeout.max(1)))
        .policy(&route.domain);
    let enforced = match &sts {
        Ok(Some(policy)) if policy.mode == StsMode::Enforce => Some(Arc::clone(policy)),
        _ => None,
    };
    let mut servers = Vec::new();
    for exchanger in &route.hosts {
        if let Some(policy) = &enforced
            && !policy.permits_mx(&exchanger.exchange)
        {
            servers.push(ServerResult {
                target: exchanger.exchange.clone(),
                name: exchanger.exchange.clone(),
                checked: Ok(not_listed(&exchanger.exchange, policy)),
            });
            continue;
        }
        let addresses = match exchanger.exchange.parse::<IpAddr>() {
            Ok(ip) => Ok(vec![ip]),
            Err(_) => dns
                .addresses(&exchanger.exchange)
                .map(|answer| answer.records),
        };
        match addresses {
            Ok(addresses) if !addresses.is_empty() => {
                for ip in addresses {
                    let target = Target {
                        host: ip.to_string(),
                        port,
                        name: exchanger.exchange.clone(),
                        direct_tls: args.direct_tls,
                    };
                    servers.push(ServerResult {
                        target: target.label(),
                        name: exchanger.exchange.clone(),
                        checked: prober.check(&target),
                    });
                }
            }
            Ok(_) => servers.push(ServerResult {
                target: exchanger.exchange.clone(),
                name: exchanger.exchange.clone(),
                checked: Err(TlsError::InvalidTarget(format!(
                    "{} has no address",
                    exchanger.exchange
                ))),
            }),
            Err(error) => servers.push(ServerResult {
                target: exchanger.exchange.clone(),
                name: exchanger.exchange.clone(),
                checked: Err(TlsError::InvalidTarget(error.to_string())),
            }),
        }
    }
    let sts_json = match &sts {
        Ok(Some(policy)) => json!({
            "mode": match policy.mode {
                StsMode::Enforce => "enforce",
                StsMode::Testing => "testing",
                StsMode::None => "none",
            },
            "mx": policy.mx,
            "max_age": policy.max_age.as_secs(),
        }),
        Ok(None) => serde_json::Value::Null,
        Err(error) => json!({ "error": error.to_string() }),
    };
    let failed = servers
        .iter()
        .any(|s| matches!(&s.checked, Ok((_, report)) if !report.conforms));
    let unreachable = servers.iter().any(|s| s.checked.is_err());
    let accepts_mail = route.kind != RouteKind::NullMx;
    output.result(
        || human_domain(&route, &sts, &servers),
        || {
            json!({
                "domain": route.domain,
                "route": {
                    "kind": route_kind(route.kind),
                    "dnssec": route.secure,
                    "exchangers": route.hosts.iter().map(|mx| json!({
                        "preference": mx.preference,
                        "name": mx.exchange,
                    })).collect::<Vec<_>>(),
                },
                "mta_sts": sts_json,
                "conforms": accepts_mail && !failed && !unreachable,
                "servers": servers.iter().map(|s| match &s.checked {
                    Ok((observation, report)) => json!({
                        "server": s.target,
                        "name": s.name,
                        "report": report,
                        "observation": observation,
                    }),
                    Err(error) => json!({
                        "server": s.target,
                        "name": s.name,
                        "error": error.to_string(),
                    }),
                }).collect::<Vec<_>>(),
            })
        },
    );
    if !accepts_mail || failed {
        Ok(Verdict::DoesNotHold)
    } else if unreachable {
        let missing = servers.iter().filter(|s| s.checked.is_err()).count();
        Err(Failure::Temporary(format!(
            "{missing} of {} exchanger addresses of {} could not be checked",
            servers.len(),
            route.domain
        )))
    } else {
        Ok(Verdict::Holds)
    }
}

/// One exchanger address and what checking it gave.
struct ServerResult {
    target: String,
    name: String,
    checked: Result<(Observation, Report), TlsError>,
}

fn route_kind(kind: RouteKind) -> &'static str {
    match kind {
        RouteKind::Mx => "mx",
        RouteKind::Implicit => "implicit",
        RouteKind::NullMx => "null-mx",
    }
}

/// The verdict on an exchanger an enforced MTA-STS policy does not list:
/// mail must not go there, whatever its TLS.
fn not_listed(host: &str, policy: &StsPolicy) -> (Observation, Report) {
    let observation = Observation {
        host: host.to_owned(),
        port: 0,
        expected_name: host.to_owned(),
        banner: None,
        transport: tls_policy::Transport::NoStarttls,
        handshake: Handshake::NotAttempted,
        certificates: Vec::new(),
        validation: tls_policy::Validation::not_checked(),
        enumeration: None,
        dane: tls_policy::DaneState::NotChecked,
    };
    let report = Report {
        profile: "mta-sts".to_owned(),
        checked_at: String::new(),
        server: host.to_owned(),
        conforms: false,
        conformance: tls_policy::Conformance::DoesNotConform,
        findings: vec![tls_policy::Finding {
            requirement: "RFC 8461 4.1".to_owned(),
            check: "mta-sts.mx",
            outcome: Outcome::Fail,
            observed: format!("{host} is not listed (mx: {})", policy.mx.join(", ")),
        }],
    };
    (observation, report)
}

fn human_domain(
    route: &MailRoute,
    sts: &Result<Option<Arc<StsPolicy>>, MtaStsError>,
    servers: &[ServerResult],
) -> String {
    let mut text = String::new();
    let dnssec = if route.secure {
        "DNSSEC-validated"
    } else {
        "not DNSSEC-validated"
    };
    match route.kind {
        RouteKind::NullMx => {
            let _ = writeln!(
                text,
                "{}: null MX (RFC 7505), the domain accepts no mail ({dnssec})",
                route.domain
            );
        }
        RouteKind::Implicit => {
            let _ = writeln!(
                text,
                "{}: no MX records, the domain itself receives mail ({dnssec})",
                route.domain
            );
        }
        RouteKind::Mx => {
            let hosts: Vec<String> = route
                .hosts
                .iter()
                .map(|mx| format!("{} {}", mx.preference, mx.exchange))
                .collect();
            let _ = writeln!(text, "{}: MX {} ({dnssec})", route.domain, hosts.join(", "));
        }
    }
    match sts {
        Ok(Some(policy)) => {
            let _ = writeln!(
                text,
                "MTA-STS: mode {:?}, mx {}, max_age {} s",
                policy.mode,
                policy.mx.join(", "),
                policy.max_age.as_secs()
            );
        }
        Ok(None) => {
            let _ = writeln!(text, "MTA-STS: no policy");
        }
        Err(error) => {
            let _ = writeln!(text, "MTA-STS: {error}");
        }
    }
    for server in servers {
        text.push('\n');
        match &server.checked {
            Ok((observation, report)) => text.push_str(&human(observation, report)),
            Err(error) => {
                let _ = writeln!(
                    text,
                    "{} (name {}) could not be checked: {error}",
                    server.target, server.name
                );
            }
        }
    }
    text
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
    // The server's verdict and this client's capability are two facts.
    if report.conformance == tls_policy::Conformance::ConformsWithoutDeliveryPath {
        let _ = writeln!(
            text,
            "conforms, but no delivery path for this client: it cannot negotiate the \
             profile-allowed suites the server offers (see client.delivery-path)"
        );
    }
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
    if let Some(enumeration) = &observation.enumeration {
        for entry in &enumeration.suites_by_version {
            let _ = writeln!(
                text,
                "offered {}: {} suite(s)",
                entry.version,
                entry.suites.len()
            );
        }
        // Say what was not looked at, so absence is not read as proof.
        for gap in &enumeration.incomplete {
            let _ = writeln!(text, "enumeration incomplete: {gap}");
        }
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
