//! The verdict: a pure function of a profile, an observation and a time.
//!
//! [`Profile::evaluate`] produces one [`Finding`] per rule and checked item,
//! each naming its requirement, its outcome and what was observed. A report
//! conforms when no finding failed.

use std::fmt::Write as _;
use std::time::SystemTime;

use serde::Serialize;

use crate::date::{rfc3339, unix_seconds};
use crate::names::{
    CipherSuite, KeyExchange, NamedGroup, SignatureScheme, SuiteStrength, TlsVersion,
};
use crate::observation::{
    Check, DaneState, Enumeration, Handshake, Observation, OfferForwardSecrecy, PublicKey,
    Transport,
};
use crate::profile::{
    AllowList, Allowance, ForbiddenHashes, KeySizes, NeverOffered, OfferedRule, Profile, Rule,
    Severity,
};

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
    /// Whether the server meets the profile: no finding failed. This is a
    /// fact about the server; whether this client can deliver to it is
    /// [`Report::conformance`].
    pub conforms: bool,
    /// The verdict on the server together with this client's capability:
    /// a conforming server whose profile-allowed offer this client (rustls)
    /// cannot negotiate is [`Conformance::ConformsWithoutDeliveryPath`].
    pub conformance: Conformance,
    /// Every finding, in rule order.
    pub findings: Vec<Finding>,
}

/// The verdict on a server, with whether this client has a way to send mail
/// to it.
///
/// The server's conformance follows the profile alone ([`Report::conforms`]);
/// what this client can negotiate is another fact. A server offering only
/// suites the profile allows but rustls does not implement (ECDHE or DHE
/// with CBC-SHA256/384, CCM, DHE-GCM) conforms, and mail to it has no
/// delivery path until a second TLS stack exists (issue 23).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Conformance {
    /// The server meets the profile, and this client negotiated a session
    /// it accepts (or no session was needed to judge).
    Conforms,
    /// The server meets the profile (judged from what the enumeration
    /// found and the certificate chain it received), but this client cannot
    /// negotiate any of the profile-allowed suites the server offers: no
    /// delivery path for this client.
    ConformsWithoutDeliveryPath,
    /// The server does not meet the profile: at least one finding failed.
    DoesNotConform,
}

impl Conformance {
    /// Whether the server meets the profile (with or without a delivery
    /// path for this client).
    pub fn server_conforms(self) -> bool {
        !matches!(self, Conformance::DoesNotConform)
    }

    /// Whether mail can go to the server over a session this client
    /// negotiates and the profile accepts.
    pub fn deliverable(self) -> bool {
        matches!(self, Conformance::Conforms)
    }
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
        // The terms the server's session is judged by: the session this
        // client negotiated, or, when the restricted handshake failed only
        // because this client cannot speak what the server offers, the
        // profile-allowed terms the enumeration found.
        let unreachable = match (&observation.transport, &observation.handshake) {
            (Transport::NoStarttls, _) => None,
            (_, Handshake::Failed { .. }) => self.offer_without_client_path(observation, time),
            _ => None,
        };
        let terms = match &observation.handshake {
            Handshake::Established(negotiated) => Some(Terms {
                version: negotiated.version,
                suite: negotiated.suite,
                group: negotiated.group,
                signature_scheme: negotiated.signature_scheme,
                dh_bits: None,
                from_enumeration: false,
                allowed: Vec::new(),
            }),
            _ => unreachable.clone(),
        };

        self.judge_tls_available(&mut findings, observation, unreachable.as_ref(), time);
        if let Some(terms) = &terms {
            self.judge_session_terms(&mut findings, terms);
        }
        if let Some(offer) = &unreachable {
            note_no_delivery_path(&mut findings, offer);
        }
        self.judge_certificate_chain_and_name(&mut findings, observation);
        if let Some(sizes) = &self.key_sizes {
            judge_key_sizes(&mut findings, sizes, observation, terms.as_ref());
        }
        if let Some(rule) = &self.certificate_hashes {
            judge_certificate_hashes(&mut findings, rule, observation);
        }
        if let Some(rule) = &self.dane {
            judge_dane(&mut findings, rule, &observation.dane, terms.is_some());
        }
        if let (Some(rule), Some(enumeration)) = (&self.never_offered, &observation.enumeration) {
            judge_never_offered(&mut findings, rule, enumeration);
        }
        if let (Some(rule), Some(enumeration)) = (&self.offered, &observation.enumeration) {
            self.judge_offer(&mut findings, rule, enumeration, time);
        }

        let conforms = findings
            .list
            .iter()
            .all(|finding| finding.outcome != Outcome::Fail);
        let conformance = match (conforms, &unreachable) {
            (false, _) => Conformance::DoesNotConform,
            (true, Some(_)) => Conformance::ConformsWithoutDeliveryPath,
            (true, None) => Conformance::Conforms,
        };
        Report {
            profile: self.name.clone(),
            checked_at: rfc3339(unix_seconds(time)),
            server: format!("{}:{}", observation.host, observation.port),
            conforms,
            conformance,
            findings: findings.list,
        }
    }

    /// `tls.available`: STARTTLS offered and a session this client accepts
    /// (or, for `unreachable`, profile-allowed terms the enumeration found).
    fn judge_tls_available(
        &self,
        findings: &mut Findings<'_>,
        observation: &Observation,
        unreachable: Option<&Terms>,
        time: SystemTime,
    ) {
        let Some(rule) = &self.tls else {
            return;
        };
        let (outcome, observed) = match (&observation.transport, &observation.handshake) {
            (Transport::NoStarttls, _) => (Outcome::Fail, "STARTTLS not offered".to_owned()),
            (_, Handshake::Established(n)) => (Outcome::Pass, format!("{} {}", n.version, n.suite)),
            (_, Handshake::Failed { reason }) => match unreachable {
                Some(offer) => (
                    Outcome::Pass,
                    format!(
                        "{} {} offered (found by enumeration; this client's handshake \
                         failed: {reason})",
                        offer.version, offer.suite
                    ),
                ),
                None => (
                    Outcome::Fail,
                    explain_failed_handshake(reason, self, observation, time),
                ),
            },
            (_, Handshake::NotAttempted) => (Outcome::Fail, "no TLS handshake".to_owned()),
        };
        findings.push(&rule.requirement, "tls.available", outcome, observed);
    }

    /// The session's terms: `tls.version`, `tls.suite`, `tls.group`,
    /// `tls.signature-scheme` and `tls.forward-secrecy`.
    fn judge_session_terms(&self, findings: &mut Findings<'_>, terms: &Terms) {
        if let Some(list) = &self.versions {
            findings.allow(list, "tls.version", terms.version);
        }
        if let Some(list) = &self.suites {
            findings.allow(list, "tls.suite", terms.suite);
        }
        if let Some(list) = &self.groups {
            judge_group(findings, list, terms);
        }
        if let Some(list) = &self.signature_schemes {
            judge_signature_scheme(findings, list, terms);
        }
        if let Some(rule) = &self.forward_secrecy {
            let outcome = if terms.suite.forward_secret() {
                Outcome::Pass
            } else {
                Outcome::Fail
            };
            findings.push(
                &rule.requirement,
                "tls.forward-secrecy",
                outcome,
                terms.suite.to_string(),
            );
        }
    }

    /// `certificate.chain` and `certificate.name`: the validation's results.
    fn judge_certificate_chain_and_name(
        &self,
        findings: &mut Findings<'_>,
        observation: &Observation,
    ) {
        if let Some(rule) = &self.chain {
            push_check(
                findings,
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
    }

    /// What the server offers beyond the profile (`offered.version`,
    /// `offered.suite`, `offered.group`, `offered.dh-size` and the offer
    /// facts), at the rule's severity.
    fn judge_offer(
        &self,
        findings: &mut Findings<'_>,
        rule: &OfferedRule,
        enumeration: &Enumeration,
        time: SystemTime,
    ) {
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
        offer_facts(findings, &rule.requirement, enumeration);
    }

    /// The profile-allowed terms a server offers that this client cannot
    /// negotiate, when that is why the restricted handshake failed: every
    /// allowed suite found (with an allowed version) is one rustls does not
    /// implement. `None` when the enumeration found no allowed suite, or an
    /// allowed one rustls can speak (then the handshake failed for another
    /// reason, which stays a failure).
    fn offer_without_client_path(
        &self,
        observation: &Observation,
        time: SystemTime,
    ) -> Option<Terms> {
        let enumeration = observation.enumeration.as_ref()?;
        let mut allowed: Vec<(TlsVersion, CipherSuite)> = Vec::new();
        if self.permits_version(TlsVersion::TLS13, time) {
            for suite in &enumeration.tls13_suites {
                if self.permits_suite(*suite, time) {
                    allowed.push((TlsVersion::TLS13, *suite));
                }
            }
        }
        let mut older: Vec<TlsVersion> = enumeration
            .suites_by_version
            .iter()
            .map(|entry| entry.version)
            .filter(|version| *version != TlsVersion::TLS13)
            .collect();
        // Highest version first: the one a client would negotiate.
        older.sort_by(|a, b| b.cmp(a));
        for version in older {
            if !self.permits_version(version, time) {
                continue;
            }
            for suite in enumeration.suites_for(version) {
                if self.permits_suite(*suite, time) {
                    allowed.push((version, *suite));
                }
            }
        }
        let (version, suite) = *allowed.first()?;
        // An ECDHE or TLS 1.3 suite rustls implements is still out of its
        // reach when none of the allowed groups the server offers is one
        // rustls has (brainpool only). No groups found (their probe may
        // have failed) excuses nothing.
        let reachable_group = enumeration.groups.is_empty()
            || enumeration.groups.iter().any(|group| {
                self.permits_group(*group, time) && crate::handshake::rustls_supports_group(*group)
            });
        if allowed.iter().any(|(_, suite)| {
            crate::handshake::rustls_supports(*suite)
                && (reachable_group
                    || !matches!(
                        suite.key_exchange(),
                        Some(KeyExchange::Ecdhe | KeyExchange::Tls13)
                    ))
        }) {
            return None;
        }
        let mut names: Vec<String> = Vec::new();
        for (_, suite) in &allowed {
            let name = suite.to_string();
            if !names.contains(&name) {
                names.push(name);
            }
        }
        let (group, dh_bits) = match suite.key_exchange() {
            Some(KeyExchange::Ecdhe | KeyExchange::Tls13) => {
                let curves = enumeration
                    .groups
                    .iter()
                    .copied()
                    .filter(|group| suite.is_tls13() || !group.is_finite_field());
                let mut permitted = curves.clone().filter(|g| self.permits_group(*g, time));
                // An allowed group if the server has one (what a
                // conforming client would get), else the first it offers,
                // which then fails tls.group.
                (permitted.next().or_else(|| curves.clone().next()), None)
            }
            // The weakest prime the server may select.
            Some(KeyExchange::Dhe) => (None, enumeration.dh_bits.iter().copied().min()),
            _ => (None, None),
        };
        Some(Terms {
            version,
            suite,
            group,
            signature_scheme: None,
            dh_bits,
            from_enumeration: true,
            allowed: names,
        })
    }
}

/// The terms a server's session is judged by: negotiated by this client, or
/// taken from the enumeration when this client cannot negotiate them.
#[derive(Clone)]
struct Terms {
    version: TlsVersion,
    suite: CipherSuite,
    group: Option<NamedGroup>,
    signature_scheme: Option<SignatureScheme>,
    /// The smallest DHE prime seen, for DHE terms from the enumeration.
    dh_bits: Option<u32>,
    /// Whether the terms come from the enumeration (no session of this
    /// client).
    from_enumeration: bool,
    /// Every profile-allowed suite offered (enumeration terms only).
    allowed: Vec<String>,
}

/// `tls.group`: the key-exchange group, or why there is none to judge.
fn judge_group(findings: &mut Findings<'_>, list: &AllowList<NamedGroup>, terms: &Terms) {
    match (terms.group, terms.dh_bits) {
        (Some(group), _) => findings.allow(list, "tls.group", group),
        // TLS 1.2 DHE carries the prime, not a group name: its
        // size is judged under tls.group-size.
        (None, Some(bits)) => findings.push(
            &list.requirement,
            "tls.group",
            Outcome::NotApplicable,
            format!("DHE with a {bits}-bit prime (no group name in TLS 1.2)"),
        ),
        (None, None) if terms.from_enumeration => findings.push(
            &list.requirement,
            "tls.group",
            Outcome::NotApplicable,
            "no key-exchange group observed by the enumeration".to_owned(),
        ),
        (None, None) => findings.push(
            &list.requirement,
            "tls.group",
            Outcome::NotApplicable,
            "no key-exchange group (static key transport)".to_owned(),
        ),
    }
}

/// `tls.signature-scheme`: the handshake signature, or why there is none.
fn judge_signature_scheme(
    findings: &mut Findings<'_>,
    list: &AllowList<SignatureScheme>,
    terms: &Terms,
) {
    match terms.signature_scheme {
        Some(scheme) => findings.allow(list, "tls.signature-scheme", scheme),
        None if terms.from_enumeration => findings.push(
            &list.requirement,
            "tls.signature-scheme",
            Outcome::NotApplicable,
            "not observed: the enumeration does not verify handshake signatures".to_owned(),
        ),
        None => findings.push(
            &list.requirement,
            "tls.signature-scheme",
            Outcome::NotApplicable,
            "no handshake signature".to_owned(),
        ),
    }
}

/// `client.delivery-path`: the server conforms but this client cannot
/// negotiate its offer. Not a finding on the server: a fact about this
/// client.
fn note_no_delivery_path(findings: &mut Findings<'_>, offer: &Terms) {
    findings.push(
        "mailgate",
        "client.delivery-path",
        Outcome::Informational,
        format!(
            "no delivery path: this client (rustls) cannot negotiate {} {}, \
             the profile-allowed offer of the server",
            offer.version,
            offer.allowed.join(", ")
        ),
    );
}

/// `certificate.key-size` for every certificate the server presents, and
/// `tls.group-size` for the session's group or DHE prime.
fn judge_key_sizes(
    findings: &mut Findings<'_>,
    sizes: &KeySizes,
    observation: &Observation,
    terms: Option<&Terms>,
) {
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
            PublicKey::Other { oid } => (Outcome::Fail, format!("unknown key algorithm {oid}")),
        };
        let position = if index == 0 { "end entity" } else { "CA" };
        findings.push(
            &sizes.requirement,
            "certificate.key-size",
            outcome,
            format!("{position} {}: {observed}", certificate.subject),
        );
    }
    if let Some(group) = terms.and_then(|t| t.group) {
        findings.push(
            &sizes.requirement,
            "tls.group-size",
            group_size_outcome(group, sizes.ecc, sizes.dh),
            format!("{group} ({} bits)", group.bits().unwrap_or(0)),
        );
    } else if let Some(bits) = terms.and_then(|t| t.dh_bits) {
        findings.push(
            &sizes.requirement,
            "tls.group-size",
            pass_if(bits >= sizes.dh),
            format!("DHE {bits} bits (minimum {})", sizes.dh),
        );
    }
}

/// `certificate.signature-hash`: no certificate signed with a forbidden hash.
fn judge_certificate_hashes(
    findings: &mut Findings<'_>,
    rule: &ForbiddenHashes,
    observation: &Observation,
) {
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

/// `dane.tlsa`: usable TLSA records must match the chain; `has_session`
/// says whether there were TLS terms to match against.
fn judge_dane(findings: &mut Findings<'_>, rule: &Rule, dane: &DaneState, has_session: bool) {
    let (outcome, observed) = match dane {
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
            format!("{records} usable TLSA record(s), none matches the chain: do not send, defer"),
        ),
    };
    // A usable TLSA record with no TLS at all is a DANE failure too
    // (RFC 7672 section 2.2): nothing to match against.
    let (outcome, observed) = match (dane, has_session) {
        (DaneState::Usable { records, .. }, false) => (
            Outcome::Fail,
            format!("{records} usable TLSA record(s) but no TLS session: do not send, defer"),
        ),
        _ => (outcome, observed),
    };
    findings.push(&rule.requirement, "dane.tlsa", outcome, observed);
}

/// `offered.version` for versions the profile says are never to be offered.
fn judge_never_offered(
    findings: &mut Findings<'_>,
    rule: &NeverOffered,
    enumeration: &Enumeration,
) {
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
