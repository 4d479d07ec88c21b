//! What a probe saw on one receiving server: the input of every verdict.
//!
//! An [`Observation`] holds facts only, no judgement: which versions, suites
//! and groups were negotiated or offered, the certificate chain as sent, what
//! chain and name validation said, and the DANE state. A [`Profile`] turns it
//! into a [`Report`](crate::Report) with [`Profile::evaluate`], so a stored
//! observation can be judged again when a profile changes.
//!
//! [`Profile`]: crate::Profile
//! [`Profile::evaluate`]: crate::Profile::evaluate

use serde::{Deserialize, Serialize};

use crate::names::{CipherSuite, NamedGroup, SignatureScheme, TlsVersion};

/// Everything one probe of one server saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// The host connected to (name or address).
    pub host: String,
    /// The TCP port connected to.
    pub port: u16,
    /// The name the certificate must carry (the MX host name).
    pub expected_name: String,
    /// The server's SMTP greeting, if it sent one.
    pub banner: Option<String>,
    /// Whether TLS was available, and how.
    pub transport: Transport,
    /// The full handshake restricted to what the profile allows.
    pub handshake: Handshake,
    /// The certificate chain as the server sent it, end entity first.
    pub certificates: Vec<CertificateSummary>,
    /// What validation of that chain said.
    pub validation: Validation,
    /// What else the server accepts, from crafted ClientHellos.
    pub enumeration: Option<Enumeration>,
    /// The DANE (RFC 7672) state of this host.
    pub dane: DaneState,
}

/// How TLS was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    /// The server advertised STARTTLS and accepted it.
    Starttls,
    /// The server did not advertise STARTTLS (or refused it): no TLS at all.
    NoStarttls,
    /// TLS from the first byte (SMTPS, port 465).
    DirectTls,
}

/// The outcome of the full handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum Handshake {
    /// No handshake was attempted (no STARTTLS).
    NotAttempted,
    /// The handshake completed with these parameters.
    Established(Negotiated),
    /// The handshake failed; why, in words (an alert, no common parameters).
    Failed {
        /// The error as the TLS stack reported it.
        reason: String,
    },
}

/// The parameters of an established session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Negotiated {
    /// The protocol version.
    pub version: TlsVersion,
    /// The cipher suite.
    pub suite: CipherSuite,
    /// The key-exchange group, if one was used.
    pub group: Option<NamedGroup>,
    /// The scheme of the server's handshake signature.
    pub signature_scheme: Option<SignatureScheme>,
}

/// A certificate of the chain, reduced to what the verdict and the report need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateSummary {
    /// The subject distinguished name (RFC 4514).
    pub subject: String,
    /// The issuer distinguished name (RFC 4514).
    pub issuer: String,
    /// Start of validity, seconds since the Unix epoch.
    pub not_before: i64,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: i64,
    /// The DNS names of the subjectAltName extension.
    pub dns_names: Vec<String>,
    /// The subject public key.
    pub key: PublicKey,
    /// The algorithm the issuer signed this certificate with.
    pub signature_algorithm: CertificateSignature,
    /// SHA-256 of the DER encoding, lower-case hex.
    pub sha256: String,
}

/// A subject public key: algorithm and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "algorithm")]
pub enum PublicKey {
    /// RSA with the modulus length in bits.
    Rsa {
        /// Modulus length in bits.
        bits: u32,
    },
    /// An elliptic-curve key on a named curve.
    Ec {
        /// The curve's name (`secp256r1`, `brainpoolP256r1`, ...) or its OID.
        curve: String,
        /// The field size in bits, when the curve is known.
        bits: Option<u32>,
    },
    /// Ed25519 (RFC 8410).
    Ed25519,
    /// Any other algorithm, by OID.
    Other {
        /// The algorithm OID.
        oid: String,
    },
}

/// The signature algorithm of a certificate, by name where known.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateSignature {
    /// A name such as `sha256WithRSAEncryption` or `ecdsa-with-SHA384`, or the OID.
    pub name: String,
    /// The hash function it uses, when known (`sha1`, `sha256`, ...).
    pub hash: Option<String>,
}

/// What chain and name validation said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validation {
    /// The chain to a trust anchor.
    pub chain: Check,
    /// The expected name against the end-entity certificate.
    pub name: Check,
}

impl Validation {
    /// Nothing was validated (no handshake reached the certificate).
    pub fn not_checked() -> Validation {
        Validation {
            chain: Check::NotChecked,
            name: Check::NotChecked,
        }
    }
}

/// The result of one validation step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "result")]
pub enum Check {
    /// The step passed.
    Valid,
    /// The step failed, for this reason.
    Invalid {
        /// Why, as the validator said it.
        reason: String,
    },
    /// The step was not reached.
    NotChecked,
}

/// What crafted ClientHellos found the server willing to negotiate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enumeration {
    /// Protocol versions the server answered with a ServerHello of that
    /// version (SSLv3 to TLS 1.3).
    pub versions: Vec<TlsVersion>,
    /// Every suite the server selected with SSLv3, TLS 1.0, 1.1 or 1.2, each
    /// once, in the order found (per version and batch of offered code
    /// points; within a batch the server's preference when it enforces one).
    /// Code points the IANA registry does not name are kept and shown as
    /// `0x....`.
    pub tls12_suites: Vec<CipherSuite>,
    /// TLS 1.3 suites the server selected.
    pub tls13_suites: Vec<CipherSuite>,
    /// The suites of each version the server answered, version by version.
    #[serde(default)]
    pub suites_by_version: Vec<VersionSuites>,
    /// Key-exchange groups the server selected (TLS 1.3 key shares and TLS
    /// 1.2 ECDHE curves together).
    pub groups: Vec<NamedGroup>,
    /// Sizes in bits of the finite-field DH groups seen in DHE key exchanges.
    pub dh_bits: Vec<u32>,
    /// What could not be probed and why (timeouts, resets, a server
    /// selecting what was not offered), naming the version and the code
    /// points left: absence from the lists above is no proof for those.
    pub incomplete: Vec<String>,
}

/// The suites a server selected with one protocol version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionSuites {
    /// The protocol version.
    pub version: TlsVersion,
    /// The suites selected with it, in the order found.
    pub suites: Vec<CipherSuite>,
}

/// Whether the suites of an offer give forward secrecy (testssl.sh's "FS"
/// line): every one, some, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OfferForwardSecrecy {
    /// Every offered suite is forward secret.
    All,
    /// Some are, some are not.
    Some,
    /// None is.
    None,
}

impl Enumeration {
    /// Every suite found, TLS 1.3 first.
    pub fn suites(&self) -> impl Iterator<Item = CipherSuite> + '_ {
        self.tls13_suites.iter().chain(&self.tls12_suites).copied()
    }

    /// The suites found for one version (empty when it was not offered).
    pub fn suites_for(&self, version: TlsVersion) -> &[CipherSuite] {
        self.suites_by_version
            .iter()
            .find(|entry| entry.version == version)
            .map_or(&[], |entry| entry.suites.as_slice())
    }

    /// The versions a suite was selected with, lowest first.
    pub fn versions_of(&self, suite: CipherSuite) -> Vec<TlsVersion> {
        let mut versions: Vec<TlsVersion> = self
            .suites_by_version
            .iter()
            .filter(|entry| entry.suites.contains(&suite))
            .map(|entry| entry.version)
            .collect();
        if versions.is_empty() && self.tls13_suites.contains(&suite) {
            versions.push(TlsVersion::TLS13);
        }
        versions.sort();
        versions
    }

    /// Forward secrecy of the whole offer, all versions together; `None`
    /// when no suite was found.
    pub fn forward_secrecy(&self) -> Option<OfferForwardSecrecy> {
        let mut suites = self.suites().peekable();
        suites.peek()?;
        let (secret, other) = suites.fold((0usize, 0usize), |(secret, other), suite| {
            if suite.forward_secret() {
                (secret + 1, other)
            } else {
                (secret, other + 1)
            }
        });
        Some(match (secret, other) {
            (_, 0) => OfferForwardSecrecy::All,
            (0, _) => OfferForwardSecrecy::None,
            _ => OfferForwardSecrecy::Some,
        })
    }

    /// The weakest suite offered, by [`CipherSuite::strength`], then key
    /// length, then code point.
    pub fn weakest_suite(&self) -> Option<CipherSuite> {
        self.suites()
            .min_by_key(|suite| (suite.strength(), suite.key_bits(), suite.0))
    }

    /// The strongest suite offered, by [`CipherSuite::strength`], then key
    /// length, then TLS 1.3 before older versions.
    pub fn strongest_suite(&self) -> Option<CipherSuite> {
        self.suites().max_by_key(|suite| {
            (
                suite.strength(),
                suite.key_bits(),
                suite.is_tls13(),
                std::cmp::Reverse(suite.0),
            )
        })
    }
}

/// The DANE state of the host (RFC 7672).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum DaneState {
    /// No lookup was made.
    NotChecked,
    /// The TLSA lookup gave a validated denial: DANE does not apply.
    NoRecords,
    /// TLSA records exist but the answer was not DNSSEC-validated: unusable
    /// (RFC 7672 section 2.2), DANE does not apply.
    Insecure,
    /// The DNSSEC answer was bogus: the host must not be used (defer).
    Bogus,
    /// Validated TLSA records exist; whether one matched the chain.
    Usable {
        /// How many usable records there were.
        records: usize,
        /// Whether at least one record matched the presented chain.
        matched: bool,
    },
}
