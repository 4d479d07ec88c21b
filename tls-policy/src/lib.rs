#![doc = include_str!("../README.md")]
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
