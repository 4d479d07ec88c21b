//! The active probe: SMTP dialogue, STARTTLS, a full rustls handshake
//! restricted to the profile, and enumeration with crafted ClientHellos.
//!
//! Every network step runs under a deadline ([`Timeouts`]); a hostile server
//! (garbage banner, huge lines, stalls, alerts, malformed certificates) gives
//! an [`Error`] or a failing observation, never a hang or a panic.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rustls::client::danger::ServerCertVerifier as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConnection, StreamOwned};

use crate::certificate::summarize;
use crate::dane::{DaneLookup, lookup_tlsa};
use crate::dns::Dns;
use crate::error::Error;
use crate::handshake::{ProfileVerifier, TrustAnchors, VerifierMode, client_config_accepting};
use crate::hello::{ClientHello, MAX_FLIGHT, ServerFlight, parse_server_flight};
use crate::names::{CipherSuite, KeyExchange, NamedGroup, TlsVersion};
use crate::observation::{
    Check, DaneState, Enumeration, Handshake, Negotiated, Observation, Transport, Validation,
    VersionSuites,
};
use crate::profile::Profile;
use crate::smtp::{Session, SessionError, is_timeout};
use crate::verdict::Report;

/// The server to probe and the name its certificate must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Host name or IP address to connect to.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The name the certificate must carry (the MX host name).
    pub name: String,
    /// TLS from the first byte (SMTPS) instead of STARTTLS.
    pub direct_tls: bool,
}

impl Target {
    /// Parses `HOST`, `HOST:PORT` or `[IPV6]:PORT`; the port defaults to 25
    /// (465 with `direct_tls`) and the expected name to the host.
    ///
    /// ```
    /// let target = tls_policy::Target::parse("mx.example.net:2525", false)?;
    /// assert_eq!((target.host.as_str(), target.port, target.name.as_str()), ("mx.example.net", 2525, "mx.example.net"));
    /// # Ok::<(), tls_policy::Error>(())
    /// ```
    pub fn parse(spec: &str, direct_tls: bool) -> Result<Target, Error> {
        let invalid = || Error::InvalidTarget(spec.to_owned());
        let default_port = if direct_tls { 465 } else { 25 };
        let (host, port) = if let Some(rest) = spec.strip_prefix('[') {
            let (host, after) = rest.split_once(']').ok_or_else(invalid)?;
            let port = match after.strip_prefix(':') {
                Some(port) => port.parse().map_err(|_| invalid())?,
                None if after.is_empty() => default_port,
                None => return Err(invalid()),
            };
            (host, port)
        } else if spec.matches(':').count() > 1 {
            (spec, default_port) // a bare IPv6 address
        } else if let Some((host, port)) = spec.split_once(':') {
            (host, port.parse().map_err(|_| invalid())?)
        } else {
            (spec, default_port)
        };
        let valid_host = !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
        if !valid_host || port == 0 {
            return Err(invalid());
        }
        Ok(Target {
            host: host.to_owned(),
            port,
            name: host.trim_end_matches('.').to_owned(),
            direct_tls,
        })
    }

    /// The same target with another expected certificate name.
    pub fn with_name(mut self, name: impl Into<String>) -> Target {
        self.name = name.into();
        self
    }

    /// `HOST:PORT` (`[IPV6]:PORT`) as connected to.
    ///
    /// ```
    /// let target = tls_policy::Target::parse("[2001:db8::25]", false)?;
    /// assert_eq!(target.label(), "[2001:db8::25]:25");
    /// # Ok::<(), tls_policy::Error>(())
    /// ```
    pub fn label(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Time limits of a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// For the TCP connection to one address.
    pub connect: Duration,
    /// For any single read or write.
    pub io: Duration,
    /// For one whole connection (dialogue plus handshake).
    pub session: Duration,
}

impl Default for Timeouts {
    /// 10 s to connect, 30 s per read, 60 s per connection: shorter than the
    /// RFC 5321 client timeouts, because a probe is not a delivery attempt.
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            io: Duration::from_secs(30),
            session: Duration::from_secs(60),
        }
    }
}

/// Probes SMTP servers under one profile.
#[derive(Debug, Clone)]
pub struct Prober {
    profile: Profile,
    anchors: TrustAnchors,
    timeouts: Timeouts,
    ehlo_name: String,
    enumerate: bool,
    check_time: Option<SystemTime>,
    dns: Option<Arc<dyn Dns>>,
    parallel: usize,
}

/// A TLS connection that was judged and meets the profile: mail goes over
/// exactly this connection.
///
/// The SMTP session is right after the TLS handshake: per RFC 3207 the
/// client's next command is `EHLO` again (for STARTTLS targets).
#[derive(Debug)]
pub struct DeliveryConnection {
    /// The TLS stream over the TCP connection.
    pub stream: StreamOwned<ClientConnection, TcpStream>,
    /// What was observed on this very connection.
    pub observation: Observation,
    /// The verdict on it (always conforming).
    pub report: Report,
}

impl Prober {
    /// A prober for `profile` with chains validated against `anchors`.
    pub fn new(profile: Profile, anchors: TrustAnchors) -> Prober {
        Prober {
            profile,
            anchors,
            timeouts: Timeouts::default(),
            ehlo_name: "mailgate-probe.invalid".to_owned(),
            enumerate: true,
            check_time: None,
            dns: None,
            parallel: DEFAULT_PARALLEL,
        }
    }

    /// How many enumeration connections may be open at once (default
    /// [`DEFAULT_PARALLEL`], at least 1). Enumeration needs one connection
    /// per accepted suite and group; running them side by side keeps a full
    /// check of a server with a long suite list under a second on a fast
    /// link, at the price of that many simultaneous connections to it.
    pub fn with_parallel_connections(mut self, parallel: usize) -> Prober {
        self.parallel = parallel.max(1);
        self
    }

    /// Look up TLSA records (`_PORT._tcp.NAME`, NAME the expected
    /// certificate name, or its DNSSEC-secure CNAME expansion: see
    /// [`lookup_tlsa`](crate::lookup_tlsa)) with this resolver and judge
    /// DANE (RFC 7672) on every probe and delivery connection. Without a
    /// resolver the DANE state is `not-checked`.
    ///
    /// When the records come from the expanded name, that name is sent in
    /// SNI (RFC 7672 section 8.1); after any secure expansion certificates
    /// naming either the expected or the expanded name pass the DANE-TA
    /// and PKIX name checks (RFC 7672 section 3.2.2).
    pub fn with_dns(mut self, dns: Arc<dyn Dns>) -> Prober {
        self.dns = Some(dns);
        self
    }

    /// The TLSA lookup for the target, if a resolver is set. A temporary DNS
    /// failure is an error (defer); a bogus answer is a DANE state.
    fn tlsa(&self, target: &Target) -> Result<Option<DaneLookup>, Error> {
        let Some(dns) = &self.dns else {
            return Ok(None);
        };
        Ok(Some(lookup_tlsa(dns.as_ref(), &target.name, target.port)?))
    }

    /// The name for SNI and the rustls configuration whose verifier also
    /// accepts the other reference identifiers of a secure CNAME expansion.
    fn tls_setup(
        &self,
        target: &Target,
        tlsa: Option<&DaneLookup>,
        mode: VerifierMode,
        time: SystemTime,
    ) -> Result<(ServerName<'static>, crate::handshake::ProfileClientConfig), Error> {
        let sni = tlsa.map_or(target.name.as_str(), DaneLookup::server_name);
        let mut names: Vec<&str> = vec![target.name.as_str()];
        if let Some(lookup) = tlsa {
            names.extend(lookup.reference_names());
        }
        let also_accepted = names
            .into_iter()
            .filter(|name| !name.eq_ignore_ascii_case(sni))
            .filter_map(|name| ServerName::try_from(name.to_owned()).ok())
            .collect();
        let config =
            client_config_accepting(&self.profile, &self.anchors, mode, time, also_accepted)?;
        Ok((server_name(sni)?, config))
    }

    /// Other time limits.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Prober {
        self.timeouts = timeouts;
        self
    }

    /// The name sent in EHLO (a FQDN of the probing host).
    pub fn with_ehlo_name(mut self, name: impl Into<String>) -> Prober {
        self.ehlo_name = name.into();
        self
    }

    /// Whether to enumerate with crafted ClientHellos (default: yes).
    pub fn with_enumeration(mut self, enumerate: bool) -> Prober {
        self.enumerate = enumerate;
        self
    }

    /// Judge as of this time instead of now (certificate validity and dated
    /// profile entries).
    pub fn with_check_time(mut self, time: SystemTime) -> Prober {
        self.check_time = Some(time);
        self
    }

    /// The profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Whether DANE is judged (a resolver was given with
    /// [`Prober::with_dns`]).
    pub fn has_dns(&self) -> bool {
        self.dns.is_some()
    }

    fn time(&self) -> SystemTime {
        self.check_time.unwrap_or_else(SystemTime::now)
    }

    /// Probes the server and judges what was seen.
    pub fn check(&self, target: &Target) -> Result<(Observation, Report), Error> {
        let time = self.time();
        let observation = self.observe_at(target, time)?;
        let report = self.profile.evaluate(&observation, time);
        Ok((observation, report))
    }

    /// Probes the server: what it offers and negotiates.
    pub fn observe(&self, target: &Target) -> Result<Observation, Error> {
        self.observe_at(target, self.time())
    }

    fn observe_at(&self, target: &Target, time: SystemTime) -> Result<Observation, Error> {
        server_name(&target.name)?;
        let tlsa = self.tlsa(target)?;
        let (session, banner, transport) = self.open(target)?;
        let mut observation = Observation {
            host: target.host.clone(),
            port: target.port,
            expected_name: target.name.clone(),
            banner,
            transport,
            handshake: Handshake::NotAttempted,
            certificates: Vec::new(),
            validation: Validation::not_checked(),
            enumeration: None,
            dane: DaneState::NotChecked,
        };
        if let Some(lookup) = &tlsa {
            // Until a session shows a chain: no TLS, nothing matches.
            observation.dane = lookup.state(None, time);
        }
        if transport == Transport::NoStarttls {
            return Ok(observation);
        }
        let (server_name, config) =
            self.tls_setup(target, tlsa.as_ref(), VerifierMode::Record, time)?;
        let connection = ClientConnection::new(Arc::clone(&config.config), server_name.clone())
            .map_err(|error| Error::ProfileUnusable(error.to_string()))?;
        let deadline = Instant::now() + self.timeouts.session;
        // Enumeration does not depend on the restricted handshake: both run
        // at once.
        let (handshake, enumeration) = std::thread::scope(|scope| {
            let enumeration = self
                .enumerate
                .then(|| scope.spawn(|| self.enumerate(target)));
            let handshake = self.handshake(target, connection, session.stream, deadline);
            let enumeration = enumeration.map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    (
                        Enumeration {
                            incomplete: vec!["enumeration: the probe thread failed".to_owned()],
                            ..Enumeration::default()
                        },
                        Vec::new(),
                    )
                })
            });
            (handshake, enumeration)
        });
        match handshake {
            Ok(stream) => {
                let mut stream = stream;
                record_session(&mut observation, &stream.conn);
                let recorded = config.verifier.recorded();
                observation.validation = Validation {
                    chain: recorded.chain.unwrap_or(Check::NotChecked),
                    name: recorded.name.unwrap_or(Check::NotChecked),
                };
                if let Handshake::Established(negotiated) = &mut observation.handshake {
                    negotiated.signature_scheme = recorded.signature_scheme;
                }
                if let Some(lookup) = &tlsa {
                    observation.dane = lookup.state(stream.conn.peer_certificates(), time);
                }
                stream.conn.send_close_notify();
                let _ = stream.conn.complete_io(&mut stream.sock);
            }
            Err(HandshakeFailure::Tls(reason)) => {
                observation.handshake = Handshake::Failed { reason };
                // The handshake may have failed after the certificate was
                // verified (a handshake signature, a group): keep what the
                // verifier said about it.
                let recorded = config.verifier.recorded();
                observation.validation = Validation {
                    chain: recorded.chain.unwrap_or(Check::NotChecked),
                    name: recorded.name.unwrap_or(Check::NotChecked),
                };
            }
            Err(HandshakeFailure::Fatal(error)) => return Err(error),
        }
        if let Some((enumeration, certificates)) = enumeration {
            if observation.certificates.is_empty() && !certificates.is_empty() {
                // The restricted handshake failed before a chain: judge the
                // chain the server sent in its first flight (the highest
                // version up to TLS 1.2) with the same verifier, anchors,
                // names and check time, and DANE on it, so chain, name, key
                // and expiry are never "not checked" when a certificate was
                // seen.
                observation.certificates = certificates
                    .iter()
                    .filter_map(|der| summarize(der).ok())
                    .collect();
                if observation.validation.chain == Check::NotChecked {
                    observation.validation =
                        validate_received(&config.verifier, &certificates, &server_name);
                }
                if let Some(lookup) = &tlsa {
                    let chain: Vec<CertificateDer<'_>> = certificates
                        .iter()
                        .map(|der| CertificateDer::from(der.as_slice()))
                        .collect();
                    observation.dane = lookup.state(Some(&chain), time);
                }
            }
            observation.enumeration = Some(enumeration);
        }
        Ok(observation)
    }

    /// Opens a delivery connection: the same dialogue and handshake, with the
    /// verifier enforcing chain and name, then the verdict on this very
    /// connection. Refuses ([`Error::NotConforming`]) unless it conforms.
    ///
    /// No enumeration is done (it judges the server, not this connection),
    /// so `offered` rules do not apply here.
    pub fn connect_for_delivery(&self, target: &Target) -> Result<DeliveryConnection, Error> {
        let time = self.time();
        server_name(&target.name)?;
        let tlsa = self.tlsa(target)?;
        let (session, banner, transport) = self.open(target)?;
        let mut observation = Observation {
            host: target.host.clone(),
            port: target.port,
            expected_name: target.name.clone(),
            banner,
            transport,
            handshake: Handshake::NotAttempted,
            certificates: Vec::new(),
            validation: Validation::not_checked(),
            enumeration: None,
            dane: DaneState::NotChecked,
        };
        if let Some(lookup) = &tlsa {
            observation.dane = lookup.state(None, time);
        }
        let refuse = |observation: &Observation| {
            let report = self.profile.evaluate(observation, time);
            let failures: Vec<String> = report
                .failures()
                .map(|f| format!("{} {}: {}", f.requirement, f.check, f.observed))
                .collect();
            Error::NotConforming {
                target: target.label(),
                profile: self.profile.name.clone(),
                failures: failures.join("; "),
            }
        };
        if transport == Transport::NoStarttls {
            return Err(refuse(&observation));
        }
        let (server_name, config) =
            self.tls_setup(target, tlsa.as_ref(), VerifierMode::Enforce, time)?;
        let connection = ClientConnection::new(Arc::clone(&config.config), server_name)
            .map_err(|error| Error::ProfileUnusable(error.to_string()))?;
        let deadline = Instant::now() + self.timeouts.session;
        let stream = match self.handshake(target, connection, session.stream, deadline) {
            Ok(stream) => stream,
            Err(HandshakeFailure::Tls(reason)) => {
                let recorded = config.verifier.recorded();
                observation.handshake = Handshake::Failed { reason };
                observation.validation = Validation {
                    chain: recorded.chain.unwrap_or(Check::NotChecked),
                    name: recorded.name.unwrap_or(Check::NotChecked),
                };
                return Err(refuse(&observation));
            }
            Err(HandshakeFailure::Fatal(error)) => return Err(error),
        };
        record_session(&mut observation, &stream.conn);
        let recorded = config.verifier.recorded();
        observation.validation = Validation {
            chain: recorded.chain.unwrap_or(Check::NotChecked),
            name: recorded.name.unwrap_or(Check::NotChecked),
        };
        if let Handshake::Established(negotiated) = &mut observation.handshake {
            negotiated.signature_scheme = recorded.signature_scheme;
        }
        if let Some(lookup) = &tlsa {
            observation.dane = lookup.state(stream.conn.peer_certificates(), time);
        }
        let report = self.profile.evaluate(&observation, time);
        if !report.conforms {
            return Err(refuse(&observation));
        }
        // The deadline was for the probe; delivery sets its own.
        let _ = stream.sock.set_read_timeout(Some(self.timeouts.io));
        let _ = stream.sock.set_write_timeout(Some(self.timeouts.io));
        Ok(DeliveryConnection {
            stream,
            observation,
            report,
        })
    }

    /// Connects and runs the dialogue up to the point where TLS starts.
    fn open(&self, target: &Target) -> Result<(Session, Option<String>, Transport), Error> {
        let stream = self.connect(target)?;
        let deadline = Instant::now() + self.timeouts.session;
        let mut session = Session::new(stream, deadline, self.timeouts.io);
        if target.direct_tls {
            return Ok((session, None, Transport::DirectTls));
        }
        let label = target.label();
        let wrap = |error: SessionError| session_error(&label, error, self.timeouts);
        let greeting = session.read_reply("reading the greeting").map_err(wrap)?;
        let banner = Some(greeting.summary());
        if greeting.code != 220 {
            return Err(Error::Refused {
                target: label,
                reply: greeting.summary(),
            });
        }
        session
            .send(&format!("EHLO {}", self.ehlo_name), "sending EHLO")
            .map_err(wrap)?;
        let ehlo = session.read_reply("reading the EHLO reply").map_err(wrap)?;
        if !ehlo.is_positive() {
            return Err(Error::Refused {
                target: label,
                reply: ehlo.summary(),
            });
        }
        if !ehlo.ehlo_keywords().any(|keyword| keyword == "STARTTLS") {
            let _ = session.send("QUIT", "sending QUIT");
            return Ok((session, banner, Transport::NoStarttls));
        }
        session.send("STARTTLS", "sending STARTTLS").map_err(wrap)?;
        let reply = session
            .read_reply("reading the STARTTLS reply")
            .map_err(wrap)?;
        if reply.code != 220 {
            let _ = session.send("QUIT", "sending QUIT");
            return Ok((session, banner, Transport::NoStarttls));
        }
        if session.has_pending_bytes() {
            return Err(Error::Smtp {
                target: label,
                phase: "starting TLS",
                reason: "data after the STARTTLS reply (plaintext injection)".to_owned(),
            });
        }
        Ok((session, banner, Transport::Starttls))
    }

    fn connect(&self, target: &Target) -> Result<TcpStream, Error> {
        let label = target.label();
        let addresses: Vec<SocketAddr> = (target.host.as_str(), target.port)
            .to_socket_addrs()
            .map_err(|error| Error::Connect {
                target: label.clone(),
                reason: error.to_string(),
            })?
            .collect();
        let mut last = "no address".to_owned();
        for address in addresses {
            match TcpStream::connect_timeout(&address, self.timeouts.connect) {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
                }
                Err(error) => last = format!("{address}: {error}"),
            }
        }
        Err(Error::Connect {
            target: label,
            reason: last,
        })
    }

    fn handshake(
        &self,
        target: &Target,
        mut connection: ClientConnection,
        mut stream: TcpStream,
        deadline: Instant,
    ) -> Result<StreamOwned<ClientConnection, TcpStream>, HandshakeFailure> {
        let label = target.label();
        while connection.is_handshaking() {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let timeout = Error::Timeout {
                target: label.clone(),
                phase: "in the TLS handshake",
                timeout: self.timeouts.session,
            };
            if remaining.is_zero() {
                return Err(HandshakeFailure::Fatal(timeout));
            }
            let limit = remaining.min(self.timeouts.io);
            let _ = stream.set_read_timeout(Some(limit));
            let _ = stream.set_write_timeout(Some(limit));
            match connection.complete_io(&mut stream) {
                Ok((0, 0)) if connection.is_handshaking() && !connection.wants_write() => {
                    return Err(HandshakeFailure::Tls(
                        "connection closed during the handshake".to_owned(),
                    ));
                }
                Ok(_) => {}
                Err(error) if is_timeout(&error) => return Err(HandshakeFailure::Fatal(timeout)),
                Err(error) => {
                    return Err(HandshakeFailure::Tls(match error.get_ref() {
                        Some(inner) => inner.to_string(),
                        None => error.to_string(),
                    }));
                }
            }
        }
        Ok(StreamOwned::new(connection, stream))
    }

    /// One crafted ClientHello on a fresh connection: the server's first flight.
    fn attempt(&self, target: &Target, hello: &ClientHello) -> Result<ServerFlight, String> {
        let (mut session, _, transport) = self.open(target).map_err(|error| error.to_string())?;
        if transport == Transport::NoStarttls {
            return Err("STARTTLS no longer offered".to_owned());
        }
        let deadline = Instant::now() + self.timeouts.session;
        let stream = &mut session.stream;
        let _ = stream.set_write_timeout(Some(self.timeouts.io));
        stream
            .write_all(&hello.to_record())
            .map_err(|error| error.to_string())?;
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let flight = parse_server_flight(&bytes).map_err(|error| error.to_string())?;
            if flight.complete {
                return Ok(flight);
            }
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err("timeout waiting for the ServerHello".to_owned());
            }
            let _ = stream.set_read_timeout(Some(remaining.min(self.timeouts.io)));
            match stream.read(&mut chunk) {
                // Closed without an alert: take what came as the answer.
                Ok(0) => return Ok(flight),
                Ok(read) => {
                    bytes.extend_from_slice(chunk.get(..read).unwrap_or_default());
                    if bytes.len() > MAX_FLIGHT {
                        return Err("first flight too long".to_owned());
                    }
                }
                Err(error) if is_timeout(&error) => {
                    return Err("timeout waiting for the ServerHello".to_owned());
                }
                // A reset after an alert or instead of one is a refusal.
                Err(_) => return Ok(flight),
            }
        }
    }

    /// One enumeration ClientHello, once a connection slot is free.
    fn attempt_in(
        &self,
        slots: &Slots,
        target: &Target,
        hello: &ClientHello,
    ) -> Result<ServerFlight, String> {
        let _slot = slots.acquire();
        self.attempt(target, hello)
    }

    /// Enumerates versions, suites and groups; also returns the certificates
    /// of the first flight of the highest version up to TLS 1.2.
    ///
    /// Independent probes run side by side, at most `parallel` connections
    /// at once: every version, every batch of offered code points
    /// ([`SUITE_BATCH`]) within a version, the TLS 1.2 curves and the TLS
    /// 1.3 suites and groups. The time is about the longest chain of
    /// accepted items in one batch, not the sum of all.
    fn enumerate(&self, target: &Target) -> (Enumeration, Vec<Vec<u8>>) {
        let slots = Slots::new(self.parallel);
        let slots = &slots;
        let mut found = Enumeration::default();
        let candidates: Vec<CipherSuite> = CipherSuite::probed_tls12().collect();
        let all_groups: Vec<NamedGroup> = NamedGroup::known().collect();
        let legacy = [
            TlsVersion::SSL3,
            TlsVersion::TLS10,
            TlsVersion::TLS11,
            TlsVersion::TLS12,
        ];
        let (legacy_results, curves, tls13) = std::thread::scope(|scope| {
            let handles: Vec<_> = legacy
                .iter()
                .map(|version| {
                    let (candidates, all_groups) = (&candidates, &all_groups);
                    scope.spawn(move || {
                        self.enumerate_version(slots, target, *version, candidates, all_groups)
                    })
                })
                .collect();
            let curves = scope.spawn(|| self.enumerate_curves(slots, target, &all_groups));
            let tls13 = scope.spawn(|| self.enumerate_tls13(slots, target, &all_groups));
            let results: Vec<VersionResult> = handles
                .into_iter()
                .zip(legacy)
                .map(|(handle, version)| joined(handle, &format!("{version}")))
                .collect();
            (
                results,
                joined(curves, "TLS 1.2 curves"),
                joined(tls13, "TLSv1.3"),
            )
        });

        let mut certificates = Vec::new();
        for (version, result) in legacy.iter().zip(legacy_results) {
            found.incomplete.extend(result.incomplete);
            for bits in result.dh_bits {
                if !found.dh_bits.contains(&bits) {
                    found.dh_bits.push(bits);
                }
            }
            for group in result.groups {
                push_unique(&mut found.groups, Some(group));
            }
            if !result.offered {
                continue;
            }
            found.versions.push(*version);
            if !result.certificates.is_empty() {
                // The highest version's chain wins (versions ascend).
                certificates = result.certificates;
            }
            for suite in &result.suites {
                if !found.tls12_suites.contains(suite) {
                    found.tls12_suites.push(*suite);
                }
            }
            found.suites_by_version.push(VersionSuites {
                version: *version,
                suites: result.suites,
            });
        }
        found.incomplete.extend(tls13.incomplete);
        if tls13.offered {
            found.versions.push(TlsVersion::TLS13);
            found.tls13_suites = tls13.suites.clone();
            found.suites_by_version.push(VersionSuites {
                version: TlsVersion::TLS13,
                suites: tls13.suites,
            });
        }
        // Curves count only where the server speaks a version that uses them.
        if found.versions.iter().any(|v| *v <= TlsVersion::TLS12) {
            found.incomplete.extend(curves.incomplete);
            for group in curves.groups {
                push_unique(&mut found.groups, Some(group));
            }
        }
        for group in tls13.groups {
            push_unique(&mut found.groups, Some(group));
        }
        (found, certificates)
    }

    fn hello(
        &self,
        target: &Target,
        version: TlsVersion,
        suites: &[CipherSuite],
        groups: &[NamedGroup],
    ) -> ClientHello {
        ClientHello {
            version,
            suites: suites.to_vec(),
            groups: groups.to_vec(),
            server_name: target.name.clone(),
        }
    }

    /// One version up to TLS 1.2: whether the server answers it, and every
    /// candidate suite it selects with it.
    ///
    /// There is no separate "does it speak this version" probe with every
    /// code point in one ClientHello: some servers drop ClientHellos with
    /// more than 128 suites without a word, which would read as "version
    /// not offered". The batches answer it: the version is offered when a
    /// batch gets a ServerHello of it.
    fn enumerate_version(
        &self,
        slots: &Slots,
        target: &Target,
        version: TlsVersion,
        candidates: &[CipherSuite],
        groups: &[NamedGroup],
    ) -> VersionResult {
        let mut result = VersionResult::default();
        let batches = in_parallel(candidates.chunks(SUITE_BATCH), |batch| {
            let mut part = VersionResult::default();
            let stopped = drain(batch, |offer| {
                match self.attempt_in(slots, target, &self.hello(target, version, offer, groups)) {
                    Ok(flight) => match &flight.hello {
                        Some(h) if h.version == version && offer.contains(&h.suite) => {
                            part.offered = true;
                            if part.certificates.is_empty() {
                                part.certificates.clone_from(&flight.certificates);
                            }
                            part.record(h.suite, &flight);
                            Step::Selected(h.suite)
                        }
                        // Another version before any suite of this one:
                        // the server does not speak it.
                        Some(h) if h.version != version && !part.offered => Step::Refused,
                        Some(h) if h.version != version => {
                            Step::Stop(format!("the server answered {} instead", h.version))
                        }
                        Some(h) => {
                            part.offered = true;
                            Step::Stop(format!(
                                "the server selected {}, which was not offered",
                                h.suite
                            ))
                        }
                        None => Step::Refused,
                    },
                    Err(reason) => Step::Stop(reason),
                }
            });
            if let Some((left, reason)) = stopped {
                part.incomplete.push(format!(
                    "{version} suites: {} code points of 0x{:04x}-0x{:04x} not probed: {reason}",
                    left.len(),
                    left.iter().map(|s| s.0).min().unwrap_or_default(),
                    left.iter().map(|s| s.0).max().unwrap_or_default(),
                ));
            }
            part
        });
        for batch in batches {
            result.offered |= batch.offered;
            if result.certificates.is_empty() {
                result.certificates = batch.certificates.clone();
            }
            result.merge(batch);
        }
        result
    }

    /// TLS 1.2 ECDHE curves: every ECDHE code point offered with one subset
    /// of the curves at a time, until the server refuses.
    fn enumerate_curves(
        &self,
        slots: &Slots,
        target: &Target,
        all_groups: &[NamedGroup],
    ) -> VersionResult {
        let ecdhe: Vec<CipherSuite> = CipherSuite::probed_tls12()
            .filter(|suite| suite.key_exchange() == Some(KeyExchange::Ecdhe))
            .collect();
        let curves: Vec<NamedGroup> = all_groups
            .iter()
            .copied()
            .filter(|group| !group.is_finite_field())
            .collect();
        let mut result = VersionResult::default();
        let parts = in_parallel(curves.chunks(GROUP_BATCH), |chunk| {
            let mut part = VersionResult::default();
            let stopped = drain(chunk, |offer| {
                let hello = self.hello(target, TlsVersion::TLS12, &ecdhe, offer);
                match self.attempt_in(slots, target, &hello) {
                    Ok(ServerFlight {
                        ecdhe_group: Some(group),
                        ..
                    }) if offer.contains(&group) => {
                        part.groups.push(group);
                        Step::Selected(group)
                    }
                    Ok(_) => Step::Refused,
                    Err(reason) => Step::Stop(reason),
                }
            });
            if let Some((left, reason)) = stopped {
                part.incomplete.push(format!(
                    "TLS 1.2 curves: {} not probed: {reason}",
                    names(&left)
                ));
            }
            part
        });
        for part in parts {
            result.merge(part);
        }
        result
    }

    /// TLS 1.3: whether the server answers it, its suites and groups (from
    /// HelloRetryRequests, since no key share is sent).
    fn enumerate_tls13(
        &self,
        slots: &Slots,
        target: &Target,
        all_groups: &[NamedGroup],
    ) -> VersionResult {
        let mut result = VersionResult::default();
        let tls13_suites: Vec<CipherSuite> = CipherSuite::known_tls13().collect();
        let version = TlsVersion::TLS13;
        let hello = self.hello(target, version, &tls13_suites, all_groups);
        match self.attempt_in(slots, target, &hello) {
            Ok(flight) => {
                if flight.hello.is_some_and(|h| h.version == version) {
                    result.offered = true;
                }
            }
            Err(reason) => result.incomplete.push(format!("TLSv1.3: {reason}")),
        }
        if !result.offered {
            return result;
        }
        let (suites, groups) = std::thread::scope(|scope| {
            let suites = scope.spawn(|| {
                let mut part = VersionResult::default();
                let stopped = drain(&tls13_suites, |offer| {
                    let hello = self.hello(target, version, offer, all_groups);
                    match self.attempt_in(slots, target, &hello) {
                        Ok(flight) => match flight.hello {
                            Some(h) if h.version == version && offer.contains(&h.suite) => {
                                part.suites.push(h.suite);
                                Step::Selected(h.suite)
                            }
                            _ => Step::Refused,
                        },
                        Err(reason) => Step::Stop(reason),
                    }
                });
                if let Some((left, reason)) = stopped {
                    part.incomplete.push(format!(
                        "TLSv1.3 suites: {} not probed: {reason}",
                        names(&left)
                    ));
                }
                part
            });
            let groups = in_parallel(all_groups.chunks(GROUP_BATCH), |chunk| {
                let mut part = VersionResult::default();
                let stopped = drain(chunk, |offer| {
                    let hello = self.hello(target, version, &tls13_suites, offer);
                    match self.attempt_in(slots, target, &hello) {
                        Ok(flight) => match flight.hello.and_then(|h| h.group) {
                            Some(group) if offer.contains(&group) => {
                                part.groups.push(group);
                                Step::Selected(group)
                            }
                            _ => Step::Refused,
                        },
                        Err(reason) => Step::Stop(reason),
                    }
                });
                if let Some((left, reason)) = stopped {
                    part.incomplete.push(format!(
                        "TLSv1.3 groups: {} not probed: {reason}",
                        names(&left)
                    ));
                }
                part
            });
            (joined(suites, "TLSv1.3 suites"), groups)
        });
        result.merge(suites);
        for part in groups {
            result.merge(part);
        }
        result
    }
}

/// The most code points offered in one enumeration ClientHello: the
/// candidates of a version are split into batches of this size, probed side
/// by side. More than 128 entries in one ClientHello's suite list make some
/// servers drop it (testssl.sh stays below too); the renegotiation SCSV is
/// the 128th.
const SUITE_BATCH: usize = 127;

/// Groups are probed in batches of this size, side by side.
const GROUP_BATCH: usize = 4;

/// How many enumeration connections a [`Prober`] opens at once by default:
/// on loopback 4 is as fast as more (the work is CPU-bound on both ends),
/// and it stays below common per-client connection limits of MTAs.
pub const DEFAULT_PARALLEL: usize = 4;

/// A counting semaphore for connection slots.
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Slots {
    fn new(limit: usize) -> Slots {
        Slots {
            free: Mutex::new(limit.max(1)),
            freed: Condvar::new(),
        }
    }

    fn acquire(&self) -> SlotGuard<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        SlotGuard { slots: self }
    }
}

struct SlotGuard<'a> {
    slots: &'a Slots,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let mut free = self
            .slots
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *free += 1;
        self.slots.freed.notify_one();
    }
}

/// What one offer of a shrinking list gave.
enum Step<T> {
    /// The server selected this item (it is removed from the list).
    Selected(T),
    /// The server refused: nothing more in the list is accepted.
    Refused,
    /// The probe could not be completed, for this reason.
    Stop(String),
}

/// Offers `items` until the server refuses, removing what it selects
/// (testssl.sh's method). Returns what was left and why, if it stopped
/// before a refusal.
fn drain<T: Copy + PartialEq>(
    items: &[T],
    mut offer: impl FnMut(&[T]) -> Step<T>,
) -> Option<(Vec<T>, String)> {
    let mut remaining = items.to_vec();
    while !remaining.is_empty() {
        match offer(&remaining) {
            Step::Selected(item) if remaining.contains(&item) => {
                remaining.retain(|other| *other != item);
            }
            Step::Selected(_) => {
                return Some((
                    remaining,
                    "the server selected what was not offered".to_owned(),
                ));
            }
            Step::Refused => return None,
            Step::Stop(reason) => return Some((remaining, reason)),
        }
    }
    None
}

/// Runs `work` on every chunk in its own thread; results in chunk order.
fn in_parallel<'a, T: Sync + 'a, R: Send + Default>(
    chunks: impl Iterator<Item = &'a [T]>,
    work: impl Fn(&'a [T]) -> R + Sync,
) -> Vec<R> {
    let work = &work;
    std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .map(|chunk| scope.spawn(move || work(chunk)))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap_or_default())
            .collect()
    })
}

fn joined(handle: std::thread::ScopedJoinHandle<'_, VersionResult>, what: &str) -> VersionResult {
    handle.join().unwrap_or_else(|_| VersionResult {
        incomplete: vec![format!("{what}: the probe thread failed")],
        ..VersionResult::default()
    })
}

fn names<T: std::fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the probes of one version (or one batch of it) found.
#[derive(Debug, Default)]
struct VersionResult {
    offered: bool,
    suites: Vec<CipherSuite>,
    groups: Vec<NamedGroup>,
    dh_bits: Vec<u32>,
    certificates: Vec<Vec<u8>>,
    incomplete: Vec<String>,
}

impl VersionResult {
    fn record(&mut self, suite: CipherSuite, flight: &ServerFlight) {
        self.suites.push(suite);
        push_unique(&mut self.groups, flight.ecdhe_group);
        if let Some(bits) = flight.dh_bits
            && !self.dh_bits.contains(&bits)
        {
            self.dh_bits.push(bits);
        }
    }

    /// Adds what a part (a batch) found.
    fn merge(&mut self, part: VersionResult) {
        self.suites.extend(part.suites);
        self.incomplete.extend(part.incomplete);
        for bits in part.dh_bits {
            if !self.dh_bits.contains(&bits) {
                self.dh_bits.push(bits);
            }
        }
        for group in part.groups {
            push_unique(&mut self.groups, Some(group));
        }
    }
}

fn push_unique(groups: &mut Vec<NamedGroup>, group: Option<NamedGroup>) {
    if let Some(group) = group
        && !groups.contains(&group)
    {
        groups.push(group);
    }
}

enum HandshakeFailure {
    /// The TLS layer refused (alert, no common parameters, bad signature):
    /// an observation, not an error.
    Tls(String),
    /// The peer stalled: no verdict possible.
    Fatal(Error),
}

fn record_session(observation: &mut Observation, connection: &ClientConnection) {
    let version = connection
        .protocol_version()
        .map_or(TlsVersion(0), |version| TlsVersion(u16::from(version)));
    let suite = connection
        .negotiated_cipher_suite()
        .map_or(CipherSuite(0), |suite| {
            CipherSuite(u16::from(suite.suite()))
        });
    let group = connection
        .negotiated_key_exchange_group()
        .map(|group| NamedGroup(u16::from(group.name())));
    observation.handshake = Handshake::Established(Negotiated {
        version,
        suite,
        group,
        signature_scheme: None,
    });
    observation.certificates = connection
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .map(|der| {
            summarize(der).unwrap_or_else(|error| crate::observation::CertificateSummary {
                subject: format!("unparsable certificate: {error}"),
                issuer: String::new(),
                not_before: 0,
                not_after: 0,
                dns_names: Vec::new(),
                key: crate::observation::PublicKey::Other {
                    oid: "unparsable".to_owned(),
                },
                signature_algorithm: crate::observation::CertificateSignature {
                    name: "unparsable".to_owned(),
                    hash: None,
                },
                sha256: crate::certificate::hex(&sha2::Sha256::digest(der.as_ref())),
            })
        })
        .collect();
}

use sha2::Digest as _;

/// Chain and name validation of a chain received without a session of this
/// client (during enumeration), by the verifier the handshake uses: the same
/// anchors, reference names and check time. The verifier records the result
/// and, in record mode, accepts whatever it saw.
fn validate_received(
    verifier: &ProfileVerifier,
    certificates: &[Vec<u8>],
    server_name: &ServerName<'static>,
) -> Validation {
    let Some((end_entity, intermediates)) = certificates.split_first() else {
        return Validation::not_checked();
    };
    let end_entity = CertificateDer::from(end_entity.as_slice());
    let intermediates: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|der| CertificateDer::from(der.as_slice()))
        .collect();
    // The verifier's own check time replaces this clock.
    let _ = verifier.verify_server_cert(
        &end_entity,
        &intermediates,
        server_name,
        &[],
        UnixTime::now(),
    );
    let recorded = verifier.recorded();
    Validation {
        chain: recorded.chain.unwrap_or(Check::NotChecked),
        name: recorded.name.unwrap_or(Check::NotChecked),
    }
}

fn server_name(name: &str) -> Result<ServerName<'static>, Error> {
    ServerName::try_from(name.to_owned()).map_err(|_| Error::InvalidName(name.to_owned()))
}

fn session_error(target: &str, error: SessionError, timeouts: Timeouts) -> Error {
    match error {
        SessionError::Timeout(phase) => Error::Timeout {
            target: target.to_owned(),
            phase,
            timeout: timeouts.io.min(timeouts.session),
        },
        SessionError::Io(phase, source) => Error::Io {
            target: target.to_owned(),
            phase,
            source,
        },
        SessionError::Protocol(phase, reason) => Error::Smtp {
            target: target.to_owned(),
            phase,
            reason,
        },
        SessionError::Closed(phase) => Error::Smtp {
            target: target.to_owned(),
            phase,
            reason: "connection closed by the server".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse() {
        let target = Target::parse("mx.example.test", false).unwrap();
        assert_eq!((target.port, target.name.as_str()), (25, "mx.example.test"));
        assert_eq!(Target::parse("mx.example.test", true).unwrap().port, 465);
        let v6 = Target::parse("[::1]:2525", false).unwrap();
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 2525));
        assert_eq!(v6.label(), "[::1]:2525");
        assert_eq!(Target::parse("::1", false).unwrap().port, 25);
        for bad in [
            "",
            "host:",
            "host:99999",
            "host:0",
            "a b",
            "[::1",
            "[::1]x",
            "h/x:25",
        ] {
            assert!(Target::parse(bad, false).is_err(), "{bad}");
        }
    }
}
