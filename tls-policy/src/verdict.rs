//! The verdict: a pure function of a profile, an observation and a time.
//!
//! [`Profile::evaluate`] produces one [`Finding`] per rule and checked item,
//! each naming its requirement, its outcome and what was observed. A report
//! conforms when no finding failed.

use std::fmt::Write as _;
use std::time::SystemTime;

use serde::Serialize;

use crate::date::{rfc3339, unix_seconds};
use crate::names::{CipherSuite, NamedGroup, SuiteStrength};
use crate::observation::{
    Check, DaneState, Enumeration, Handshake, Observation, OfferForwardSecrecy, PublicKey,
    Transport,
};
use crate::profile::{AllowList, Allowance, Profile, Severity};

/// The outcome of one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The requirement is met.
    Pass,
    /// The requirement is not met: the server does not conform.
    Fail,
    /// The requirement does not apply to what was observed (no TLSA records,
    /// no handshake to judge).
    NotApplicable,
    /// Reported for information; does not affect conformance.
    Informational,
}

/// One judged item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Where the rule comes from, for example `TR-03108 06-M`.
    pub requirement: String,
    /// What was checked, as a stable key (`tls.version`, `certificate.key-size`).
    pub check: &'static str,
    /// Pass, fail, not applicable or informational.
    pub outcome: Outcome,
    /// What was observed.
    pub observed: String,
}

/// The verdict on one server under one profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The profile's name.
    pub profile: String,
    /// The time the verdict was computed for (RFC 3339).
    pub checked_at: String,
    /// `host:port` of the server.
    pub server: String,
    /// Whether the server meets the profile: no finding failed.
    pub conforms: bool,
    /// Every finding, in rule order.
    pub findings: Vec<Finding>,
}

impl Report {
    /// The failed findings.
    pub fn failures(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|finding| finding.outcome == Outcome::Fail)
    }
}

struct Findings<'a> {
    list: Vec<Finding>,
    time: SystemTime,
    _profile: &'a Profile,
}

impl Findings<'_> {
    fn push(&mut self, requirement: &str, check: &'static str, outcome: Outcome, observed: String) {
        self.list.push(Finding {
            requirement: requirement.to_owned(),
            check,
            outcome,
            observed,
        });
    }

    fn allow<T: Copy + PartialEq + std::fmt::Display>(
        &mut self,
        list: &AllowList<T>,
        check: &'static str,
        value: T,
    ) {
        let (outcome, observed) = match list.allowance(value, self.time) {
            Allowance::Allowed => (Outcome::Pass, value.to_string()),
            Allowance::Expired(until) => (
                Outcome::Fail,
                format!("{value} (allowed only until {until})"),
            ),
            Allowance::NotListed => (Outcome::Fail, format!("{value} (not allowed)")),
        };
        self.push(&list.requirement, check, outcome, observed);
    }
}

impl Profile {
    /// Judges an observation at `time`: one finding per rule and item.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// use tls_policy::{DaneState, Handshake, Observation, Profile, Transport, Validation};
    ///
    /// let observation = Observation {
    ///     host: "mx.example".into(),
    ///     port: 25,
    ///     expected_name: "mx.example".into(),
    ///     banner: Some("220 mx.example ESMTP".into()),
    ///     transport: Transport::NoStarttls,
    ///     handshake: Handshake::NotAttempted,
    ///     certificates: Vec::new(),
    ///     validation: Validation::not_checked(),
    ///     enumeration: None,
    ///     dane: DaneState::NoRecords,
    /// };
    /// let report = Profile::bsi_tr_03108().evaluate(&observation, SystemTime::now());
    /// assert!(!report.conforms);
    /// assert_eq!(report.failures().next().unwrap().check, "tls.available");
    /// ```
    pub fn evaluate(&self, observation: &Observation, time: SystemTime) -> Report {
        let mut findings = Findings {
            list: Vec::with_capacity(16),
            time,
            _profile: self,
        };
        let negotiated = match &observation.handshake {
            Handshake::Established(negotiated) => Some(negotiated),
            _ => None,
        };

        if let Some(rule) = &self.tls {
            let (outcome, observed) = match (&observation.transport, &observation.handshake) {
                (Transport::NoStarttls, _) => (Outcome::Fail, "STARTTLS not offered".to_owned()),
                (_, Handshake::Established(n)) => {
                    (Outcome::Pass, format!("{} {}", n.version, n.suite))
                }
                (_, Handshake::Failed { reason }) => (
                    Outcome::Fail,
                    explain_failed_handshake(reason, self, observation, time),
                ),
                (_, Handshake::NotAttempted) => (Outcome::Fail, "no TLS handshake".to_owned()),
            };
            findings.push(&rule.requirement, "tls.available", outcome, observed);
        }

        if let Some(negotiated) = negotiated {
            if let Some(list) = &self.versions {
                findings.allow(list, "tls.version", negotiated.version);
            }
            if let Some(list) = &self.suites {
                findings.allow(list, "tls.suite", negotiated.suite);
            }
            if let Some(list) = &self.groups {
                match negotiated.group {
                    Some(group) => findings.allow(list, "tls.group", group),
                    None => findings.push(
                        &list.requirement,
                        "tls.group",
                        Outcome::NotApplicable,
                        "no key-exchange group (static key transport)".to_owned(),
                    ),
                }
            }
            if let Some(list) = &self.signature_schemes {
                match negotiated.signature_scheme {
                    Some(scheme) => findings.allow(list, "tls.signature-scheme", scheme),
                    None => findings.push(
                        &list.requirement,
                        "tls.signature-scheme",
                        Outcome::NotApplicable,
                        "no handshake signature".to_owned(),
                    ),
                }
            }
            if let Some(rule) = &self.forward_secrecy {
                let outcome = if negotiated.suite.forward_secret() {
                    Outcome::Pass
                } else {
                    Outcome::Fail
                };
                findings.push(
                    &rule.requirement,
                    "tls.forward-secrecy",
                    outcome,
                    negotiated.suite.to_string(),
                );
            }
        }

        if let Some(rule) = &self.chain {
            push_check(
                &mut findings,
                &rule.requirement,
                "certificate.chain",
                &observation.validation.chain,
            );
        }
        if let Some(rule) = &self.host_name {
            let check = &observation.validation.name;
            let (outcome, observed) = match check {
                Check::Valid => (Outcome::Pass, observation.expected_name.clone()),
                Check::Invalid { reason } => {
                    let names = observation
                        .certificates
                        .first()
                        .map(|leaf| leaf.dns_names.join(", "))
                        .unwrap_or_default();
                    (
                        Outcome::Fail,
                        format!(
                            "{} not in certificate names [{names}]: {reason}",
                            observation.expected_name
                        ),
                    )
                }
                Check::NotChecked => (Outcome::NotApplicable, "not checked".to_owned()),
            };
            findings.push(&rule.requirement, "certificate.name", outcome, observed);
        }

        if let Some(sizes) = &self.key_sizes {
            // The anchor itself is not sent (or not judged): every certificate
            // the server presents is.
            for (index, certificate) in observation.certificates.iter().enumerate() {
                let (outcome, observed) = match &certificate.key {
                    PublicKey::Rsa { bits } => (
                        pass_if(*bits >= sizes.rsa),
                        format!("RSA-{bits} (minimum {})", sizes.rsa),
                    ),
                    PublicKey::Ec {
                        curve,
                        bits: Some(bits),
                    } => (
                        pass_if(*bits >= sizes.ecc),
                        format!("EC {curve} {bits} bits (minimum {})", sizes.ecc),
                    ),
                    PublicKey::Ec { curve, bits: None } => {
                        (Outcome::Fail, format!("EC on unknown curve {curve}"))
                    }
                    PublicKey::Ed25519 => (pass_if(255 >= sizes.ecc), "Ed25519".to_owned()),
                    PublicKey::Other { oid } => {
                        (Outcome::Fail, format!("unknown key algorithm {oid}"))
                    }
                };
                let position = if index == 0 { "end entity" } else { "CA" };
                findings.push(
                    &sizes.requirement,
                    "certificate.key-size",
                    outcome,
                    format!("{position} {}: {observed}", certificate.subject),
                );
            }
            if let Some(group) = negotiated.and_then(|n| n.group) {
                findings.push(
                    &sizes.requirement,
                    "tls.group-size",
                    group_size_outcome(group, sizes.ecc, sizes.dh),
                    format!("{group} ({} bits)", group.bits().unwrap_or(0)),
                );
            }
        }

        if let Some(rule) = &self.certificate_hashes {
            for certificate in &observation.certificates {
                let algorithm = &certificate.signature_algorithm;
                let forbidden = algorithm.hash.as_ref().is_some_and(|hash| {
                    rule.forbidden
                        .iter()
                        .any(|bad| bad.eq_ignore_ascii_case(hash))
                });
                findings.push(
                    &rule.requirement,
                    "certificate.signature-hash",
                    if forbidden {
                        Outcome::Fail
                    } else {
                        Outcome::Pass
                    },
                    format!("{}: {}", certificate.subject, algorithm.name),
                );
            }
        }

        if let Some(rule) = &self.dane {
            let (outcome, observed) = match &observation.dane {
                DaneState::NotChecked => (Outcome::NotApplicable, "TLSA not looked up".to_owned()),
                DaneState::NoRecords => (
                    Outcome::NotApplicable,
                    "no TLSA records (validated denial)".to_owned(),
                ),
                DaneState::Insecure => (
                    Outcome::NotApplicable,
                    "TLSA records without DNSSEC validation are not used".to_owned(),
                ),
                DaneState::Bogus => (
                    Outcome::Fail,
                    "DNSSEC validation of the TLSA answer failed (bogus): defer".to_owned(),
                ),
                DaneState::Usable {
                    records,
                    matched: true,
                } => (
                    Outcome::Pass,
                    format!("{records} usable TLSA record(s), one matches the chain"),
                ),
                DaneState::Usable {
                    records,
                    matched: false,
                } => (
                    Outcome::Fail,
                    format!(
                        "{records} usable TLSA record(s), none matches the chain: do not send, defer"
                    ),
                ),
            };
            // A usable TLSA record with no TLS at all is a DANE failure too
            // (RFC 7672 section 2.2): nothing to match against.
            let (outcome, observed) = match (&observation.dane, negotiated) {
                (DaneState::Usable { records, .. }, None) => (
                    Outcome::Fail,
                    format!(
                        "{records} usable TLSA record(s) but no TLS session: do not send, defer"
                    ),
                ),
                _ => (outcome, observed),
            };
            findings.push(&rule.requirement, "dane.tlsa", outcome, observed);
        }

        if let (Some(rule), Some(enumeration)) = (&self.never_offered, &observation.enumeration) {
            for version in &enumeration.versions {
                if rule.versions.contains(version) {
                    let suites = enumeration.suites_for(*version);
                    findings.push(
                        &rule.requirement,
                        "offered.version",
                        Outcome::Fail,
                        format!(
                            "{version} offered ({} suite(s), for example {})",
                            suites.len(),
                            suites
                                .first()
                                .map_or_else(|| "none found".to_owned(), ToString::to_string)
                        ),
                    );
                }
            }
        }

        if let (Some(rule), Some(enumeration)) = (&self.offered, &observation.enumeration) {
            let outcome = match rule.severity {
                Severity::Informational => Outcome::Informational,
                Severity::Fail => Outcome::Fail,
            };
            for version in &enumeration.versions {
                if !self.permits_version(*version, time) && !self.forbids_offering(*version) {
                    findings.push(
                        &rule.requirement,
                        "offered.version",
                        outcome,
                        format!("{version} offered"),
                    );
                }
            }
            // Every suite the server accepted, named by the IANA registry
            // or not: one not on the allow list is a finding, with the
            // versions it was accepted with.
            for suite in enumeration.suites() {
                if !self.permits_suite(suite, time) {
                    let versions: Vec<String> = enumeration
                        .versions_of(suite)
                        .iter()
                        .map(ToString::to_string)
                        .collect();
                    findings.push(
                        &rule.requirement,
                        "offered.suite",
                        outcome,
                        with_versions(format!("{suite} offered"), &versions),
                    );
                }
            }
            for group in &enumeration.groups {
                if !self.permits_group(*group, time) {
                    findings.push(
                        &rule.requirement,
                        "offered.group",
                        outcome,
                        format!("{group} offered"),
                    );
                }
            }
            if let Some(sizes) = &self.key_sizes {
                for bits in &enumeration.dh_bits {
                    if *bits < sizes.dh {
                        findings.push(
                            &rule.requirement,
                            "offered.dh-size",
                            outcome,
                            format!("DHE with a {bits}-bit group offered (minimum {})", sizes.dh),
                        );
                    }
                }
            }
            offer_facts(&mut findings, &rule.requirement, enumeration);
        }

        let conforms = findings
            .list
            .iter()
            .all(|finding| finding.outcome != Outcome::Fail);
        Report {
            profile: self.name.clone(),
            checked_at: rfc3339(unix_seconds(time)),
            server: format!("{}:{}", observation.host, observation.port),
            conforms,
            findings: findings.list,
        }
    }
}

/// Facts about the whole offer, as testssl.sh reports them: forward secrecy
/// of every suite, the weakest and the strongest suite. Informational: the
/// rules on each suite are judged above.
fn offer_facts(findings: &mut Findings<'_>, requirement: &str, enumeration: &Enumeration) {
    if let Some(secrecy) = enumeration.forward_secrecy() {
        let without: Vec<String> = enumeration
            .suites()
            .filter(|suite| !suite.forward_secret())
            .map(|suite| suite.to_string())
            .collect();
        let observed = match secrecy {
            OfferForwardSecrecy::All => "every offered suite is forward secret".to_owned(),
            OfferForwardSecrecy::None => "no offered suite is forward secret".to_owned(),
            OfferForwardSecrecy::Some => format!(
                "some offered suites are forward secret; not: {}",
                without.join(", ")
            ),
        };
        findings.push(
            requirement,
            "offer.forward-secrecy",
            Outcome::Informational,
            observed,
        );
    }
    for (check, suite) in [
        ("offer.weakest-suite", enumeration.weakest_suite()),
        ("offer.strongest-suite", enumeration.strongest_suite()),
    ] {
        if let Some(suite) = suite {
            let versions: Vec<String> = enumeration
                .versions_of(suite)
                .iter()
                .map(ToString::to_string)
                .collect();
            findings.push(
                requirement,
                check,
                Outcome::Informational,
                format!(
                    "{suite} ({})",
                    std::iter::once(strength_word(suite.strength()).to_owned())
                        .chain(versions)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
    }
}

/// `text (TLSv1.0, TLSv1.2)`, or `text` alone when the observation has no
/// per-version lists (stored before they existed).
fn with_versions(text: String, versions: &[String]) -> String {
    if versions.is_empty() {
        text
    } else {
        format!("{text} ({})", versions.join(", "))
    }
}

fn strength_word(strength: SuiteStrength) -> &'static str {
    match strength {
        SuiteStrength::Insecure => "insecure",
        SuiteStrength::Weak => "weak",
        SuiteStrength::Medium => "medium",
        SuiteStrength::Strong => "strong",
    }
}

fn pass_if(condition: bool) -> Outcome {
    if condition {
        Outcome::Pass
    } else {
        Outcome::Fail
    }
}

fn group_size_outcome(group: NamedGroup, ecc: u32, dh: u32) -> Outcome {
    match group.bits() {
        Some(bits) if group.is_finite_field() => pass_if(bits >= dh),
        Some(bits) => pass_if(bits >= ecc),
        None => Outcome::Fail,
    }
}

fn push_check(findings: &mut Findings<'_>, requirement: &str, check: &'static str, result: &Check) {
    let (outcome, observed) = match result {
        Check::Valid => (Outcome::Pass, "valid".to_owned()),
        Check::Invalid { reason } => (Outcome::Fail, reason.clone()),
        Check::NotChecked => (Outcome::NotApplicable, "not checked".to_owned()),
    };
    findings.push(requirement, check, outcome, observed);
}

/// Says why a restricted handshake failed, from what enumeration found:
/// "server offers only TLS_RSA_WITH_AES_128_CBC_SHA".
fn explain_failed_handshake(
    reason: &str,
    profile: &Profile,
    observation: &Observation,
    time: SystemTime,
) -> String {
    let mut text = format!("handshake failed: {reason}");
    let Some(enumeration) = &observation.enumeration else {
        return text;
    };
    let suites: Vec<CipherSuite> = enumeration.suites().collect();
    if suites.is_empty() {
        if !enumeration.versions.is_empty() {
            let versions: Vec<String> = enumeration
                .versions
                .iter()
                .map(ToString::to_string)
                .collect();
            let _ = write!(
                text,
                "; server answers {} but selected none of our suites",
                versions.join(", ")
            );
        }
        return text;
    }
    let names: Vec<String> = suites.iter().map(ToString::to_string).collect();
    let _ = write!(text, "; server offers only {}", names.join(", "));
    let allowed_but_unsupported: Vec<String> = suites
        .iter()
        .filter(|suite| {
            profile.permits_suite(**suite, time) && !crate::handshake::rustls_supports(**suite)
        })
        .map(ToString::to_string)
        .collect();
    if !allowed_but_unsupported.is_empty() {
        let _ = write!(
            text,
            " (the profile allows {}, which this client (rustls) cannot negotiate)",
            allowed_but_unsupported.join(", ")
        );
    }
    text
}
