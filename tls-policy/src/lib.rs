//! Verdicts on receiving SMTP servers against the BSI technical guidelines.
//!
//! `tls-policy` answers one question before mail leaves over SMTP: does the
//! receiving server meet the transport profile the policy asks for? It works
//! in two steps that can be used apart:
//!
//! 1. **Observe.** A probe (or a stored record) gives an [`Observation`]:
//!    what the server offered and negotiated, its certificate chain, what
//!    validation said, the DANE state.
//! 2. **Judge.** [`Profile::evaluate`] turns an observation into a [`Report`]:
//!    one [`Finding`] per rule, each with its requirement id (`TR-03108 06-M`,
//!    `TR-02102-2 table 1`), an [`Outcome`] and the observed value. It is a
//!    pure function of profile, observation and check time.
//!
//! Profiles are data ([`Profile::bsi_tr_03108`], the default, after BSI
//! TR-03108 v2.0 with the cryptography of TR-02102-2 (2025-01) and
//! TR-03116-4; [`Profile::opportunistic`]; or TOML of your own).
//!
//! ```
//! use std::time::SystemTime;
//! use tls_policy::{Profile, Outcome};
//! # let observation: tls_policy::Observation = serde_json::from_str(include_str!("../tests/data/tls13-p256.json")).unwrap();
//! let report = Profile::bsi_tr_03108().evaluate(&observation, SystemTime::now());
//! for finding in report.failures() {
//!     println!("{} {}: {}", finding.requirement, finding.check, finding.observed);
//! }
//! assert!(report.conforms);
//! ```
//!
//! Probing a live server is [`Prober::check`]; sending mail over the judged
//! connection is [`Prober::connect_for_delivery`].
//!
//! See the crate README for what is implemented and what is not yet.
#![forbid(unsafe_code)]

mod cache;
mod certificate;
mod dane;
mod date;
mod dns;
mod error;
mod handshake;
pub mod hello;
mod iana;
mod mta_sts;
mod names;
mod observation;
mod probe;
mod profile;
pub mod smtp;
mod tls_report;
mod tls_rpt;
mod verdict;

pub use cache::VerdictCache;
pub use certificate::{pem_certificates, summarize};
pub use dane::{
    DANE_EE, DANE_TA, DaneLookup, DaneMatch, InvalidTlsa, TlsaLookup, TlsaRecord, dane_state,
    lookup_tlsa, match_chain, match_chain_for_names, tlsa_name,
};
pub use date::{Date, InvalidDate};
#[cfg(feature = "hickory")]
pub use dns::HickoryDns;
pub use dns::{
    Answer, CnameExpansion, Dns, DnsError, MAX_CNAME_LINKS, MailRoute, Mx, ResolverSetup,
    RouteKind, expand_cname, resolve_mx,
};
pub use error::Error;
pub use handshake::{
    ProfileClientConfig, ProfileVerifier, TrustAnchors, VerifierMode, client_config,
    rustls_supports, rustls_supports_group,
};
pub use mta_sts::{MtaSts, MtaStsError, StsMode, StsPolicy, sts_record_id};
pub use names::{
    BulkCipher, CipherSuite, KeyExchange, NamedGroup, SignatureScheme, SuiteStrength, TlsVersion,
    UnknownName,
};
pub use observation::{
    CertificateSignature, CertificateSummary, Check, DaneState, Enumeration, Handshake, Negotiated,
    Observation, OfferForwardSecrecy, PublicKey, Transport, Validation, VersionSuites,
};
pub use probe::{DEFAULT_PARALLEL, DeliveryConnection, Prober, Target, Timeouts};
pub use profile::{
    AllowList, Allowance, Allowed, ForbiddenHashes, KeySizes, NeverOffered, OfferedRule, Profile,
    ProfileError, Rule, Severity,
};
pub use tls_report::{TlsReport, rfc8460_result_type};
pub use tls_rpt::TlsRptRecord;
pub use verdict::{Conformance, Finding, Outcome, Report};
