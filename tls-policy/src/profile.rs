//! Profiles: what a receiving server must offer, as data.
//!
//! A profile is a TOML document. Each section is one rule and names the
//! requirement it comes from; a section left out is not checked. The built-in
//! profiles are in the crate's `profiles/` directory:
//!
//! - [`Profile::bsi_tr_03108`]: BSI TR-03108 v2.0 with TR-02102-2 (2025-01)
//!   and TR-03116-4 cryptography (the default),
//! - [`Profile::opportunistic`]: what a plain MTA does.
//!
//! ```toml
//! name = "strict-tls13"
//! [tls]
//! requirement = "house rule 1"
//! [versions]
//! requirement = "house rule 2"
//! allowed = ["TLSv1.3"]
//! [suites]
//! requirement = "house rule 3"
//! allowed = ["TLS_AES_256_GCM_SHA384", { name = "TLS_AES_128_GCM_SHA256", until = "2030-12-31" }]
//! [key_sizes]
//! requirement = "house rule 4"
//! rsa = 4096
//! dh = 4096
//! ecc = 384
//! ```

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::date::Date;
use crate::names::{CipherSuite, NamedGroup, SignatureScheme, TlsVersion};

/// A transport profile: the rules a receiving server is judged by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    /// The profile's name, shown in reports.
    pub name: String,
    /// One line saying what the profile demands.
    #[serde(default)]
    pub description: String,
    /// TLS is mandatory: STARTTLS offered and a handshake within the profile
    /// completed.
    pub tls: Option<Rule>,
    /// Allowed protocol versions.
    pub versions: Option<AllowList<TlsVersion>>,
    /// Allowed cipher suites (TLS 1.3 and TLS 1.2 in one list).
    pub suites: Option<AllowList<CipherSuite>>,
    /// Allowed key-exchange groups.
    pub groups: Option<AllowList<NamedGroup>>,
    /// Allowed handshake signature schemes.
    pub signature_schemes: Option<AllowList<SignatureScheme>>,
    /// The negotiated suite must be forward secret.
    pub forward_secrecy: Option<Rule>,
    /// The chain must lead to a trust anchor.
    pub chain: Option<Rule>,
    /// The end-entity certificate must carry the expected name.
    pub host_name: Option<Rule>,
    /// Minimum key sizes of certificates and key exchange.
    pub key_sizes: Option<KeySizes>,
    /// Hash functions that certificate signatures must not use.
    pub certificate_hashes: Option<ForbiddenHashes>,
    /// DANE (RFC 7672): where validated TLSA records exist, one must match.
    pub dane: Option<Rule>,
    /// How options the server offers beyond the profile are reported.
    pub offered: Option<OfferedRule>,
    /// Versions whose mere offer fails, at any priority (SSLv3).
    pub never_offered: Option<NeverOffered>,
}

/// Protocol versions a server must not offer at all: offering one fails the
/// verdict whatever `offered.severity` says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NeverOffered {
    /// The requirement id.
    pub requirement: String,
    /// The versions.
    pub versions: Vec<TlsVersion>,
}

/// A rule without parameters: only where it comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The requirement id, for example `TR-03108 06-M`.
    pub requirement: String,
}

/// A list of allowed values, some of them only until a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowList<T> {
    /// The requirement id, for example `TR-02102-2 table 1`.
    pub requirement: String,
    /// The allowed values.
    pub allowed: Vec<Allowed<T>>,
}

/// One allowed value, possibly with an end of use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Allowed<T> {
    /// Allowed without a date.
    Always(T),
    /// Allowed up to the end of `until`.
    Until {
        /// The value.
        name: T,
        /// The last day of use.
        until: Date,
    },
}

impl<T: Copy> Allowed<T> {
    fn value(&self) -> T {
        match self {
            Allowed::Always(value) | Allowed::Until { name: value, .. } => *value,
        }
    }
}

/// Whether a value is on an allow list at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allowance {
    /// Listed, without or within its date.
    Allowed,
    /// Listed, but only until this date, which has passed.
    Expired(Date),
    /// Not listed.
    NotListed,
}

impl<T: Copy + PartialEq> AllowList<T> {
    /// Whether `value` is allowed at `time`.
    pub fn allowance(&self, value: T, time: SystemTime) -> Allowance {
        match self.allowed.iter().find(|entry| entry.value() == value) {
            None => Allowance::NotListed,
            Some(Allowed::Always(_)) => Allowance::Allowed,
            Some(Allowed::Until { until, .. }) if until.covers(time) => Allowance::Allowed,
            Some(Allowed::Until { until, .. }) => Allowance::Expired(*until),
        }
    }

    /// Whether `value` is allowed at `time`.
    pub fn allows(&self, value: T, time: SystemTime) -> bool {
        self.allowance(value, time) == Allowance::Allowed
    }

    /// The values allowed at `time`.
    pub fn allowed_at(&self, time: SystemTime) -> impl Iterator<Item = T> + '_ {
        self.allowed
            .iter()
            .filter(move |entry| match entry {
                Allowed::Always(_) => true,
                Allowed::Until { until, .. } => until.covers(time),
            })
            .map(Allowed::value)
    }
}

/// Minimum key sizes in bits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySizes {
    /// The requirement id.
    pub requirement: String,
    /// Minimum RSA modulus length.
    pub rsa: u32,
    /// Minimum finite-field Diffie-Hellman group size.
    pub dh: u32,
    /// Minimum elliptic-curve field size.
    pub ecc: u32,
}

/// Hash functions certificate signatures must not use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForbiddenHashes {
    /// The requirement id.
    pub requirement: String,
    /// Lower-case hash names (`md5`, `sha1`).
    pub forbidden: Vec<String>,
}

/// How offered-but-not-allowed options are reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferedRule {
    /// The requirement id.
    pub requirement: String,
    /// Whether such an option is informational or a failure.
    pub severity: Severity,
}

/// The weight of an offered-but-not-allowed option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Reported, but the server still conforms (TR-03108 section 4.3.2:
    /// weak options offered at low priority are informational).
    Informational,
    /// The server does not conform while it offers such an option.
    Fail,
}

/// A profile that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// The TOML is malformed or does not follow the profile schema.
    #[error("invalid profile: {0}")]
    Toml(#[from] toml::de::Error),
    /// No built-in profile has this name.
    #[error("no built-in profile named '{0}' (known: bsi-tr-03108, opportunistic, mta-sts)")]
    UnknownBuiltIn(String),
}

const BSI_TR_03108: &str = include_str!("../profiles/bsi-tr-03108.toml");
const OPPORTUNISTIC: &str = include_str!("../profiles/opportunistic.toml");
const MTA_STS: &str = include_str!("../profiles/mta-sts.toml");

impl Profile {
    /// Parses a profile from TOML.
    ///
    /// ```
    /// let profile = tls_policy::Profile::from_toml(
    ///     "name = \"tls13-only\"\n[versions]\nrequirement = \"house rule\"\nallowed = [\"TLSv1.3\"]\n",
    /// )?;
    /// assert_eq!(profile.name, "tls13-only");
    /// # Ok::<(), tls_policy::ProfileError>(())
    /// ```
    pub fn from_toml(text: &str) -> Result<Profile, ProfileError> {
        Ok(toml::from_str(text)?)
    }

    /// A built-in profile by name: `bsi-tr-03108`, `opportunistic` or
    /// `mta-sts`.
    pub fn built_in(name: &str) -> Result<Profile, ProfileError> {
        let text = match name {
            "bsi-tr-03108" => BSI_TR_03108,
            "opportunistic" => OPPORTUNISTIC,
            "mta-sts" => MTA_STS,
            other => return Err(ProfileError::UnknownBuiltIn(other.to_owned())),
        };
        Profile::from_toml(text)
    }

    /// BSI TR-03108 v2.0 with TR-02102-2 (2025-01) and TR-03116-4
    /// cryptography: the default.
    pub fn bsi_tr_03108() -> Profile {
        Profile::embedded(BSI_TR_03108)
    }

    /// Opportunistic TLS, as plain MTAs do it; DANE still enforced.
    pub fn opportunistic() -> Profile {
        Profile::embedded(OPPORTUNISTIC)
    }

    /// What an MTA-STS policy in mode `enforce` demands (RFC 8461): TLS 1.2
    /// or higher with a valid chain naming the MX host; DANE where
    /// published.
    pub fn mta_sts() -> Profile {
        Profile::embedded(MTA_STS)
    }

    fn embedded(text: &str) -> Profile {
        // The embedded profiles are parsed by this crate's tests; a failure
        // here is a build defect, not an input error.
        #[allow(clippy::expect_used)]
        Profile::from_toml(text).expect("built-in profile parses")
    }

    /// Whether the profile lets the handshake client offer this suite at `time`.
    pub fn permits_suite(&self, suite: CipherSuite, time: SystemTime) -> bool {
        self.suites
            .as_ref()
            .is_none_or(|list| list.allows(suite, time))
    }

    /// Whether the profile lets the handshake client offer this group at `time`.
    pub fn permits_group(&self, group: NamedGroup, time: SystemTime) -> bool {
        self.groups
            .as_ref()
            .is_none_or(|list| list.allows(group, time))
    }

    /// Whether the profile lets the handshake client offer this version at `time`.
    pub fn permits_version(&self, version: TlsVersion, time: SystemTime) -> bool {
        self.versions
            .as_ref()
            .is_none_or(|list| list.allows(version, time))
    }

    /// Whether the profile lets the client accept this signature scheme at `time`.
    pub fn permits_signature_scheme(&self, scheme: SignatureScheme, time: SystemTime) -> bool {
        self.signature_schemes
            .as_ref()
            .is_none_or(|list| list.allows(scheme, time))
    }

    /// Whether a certificate chain must validate (otherwise the handshake
    /// accepts any certificate and only reports what validation said).
    pub fn requires_valid_chain(&self) -> bool {
        self.chain.is_some()
    }

    /// Whether offering `version` at all fails the verdict.
    pub fn forbids_offering(&self, version: TlsVersion) -> bool {
        self.never_offered
            .as_ref()
            .is_some_and(|rule| rule.versions.contains(&version))
    }

    /// Whether the certificate must carry the expected name.
    pub fn requires_name(&self) -> bool {
        self.host_name.is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn built_in_profiles_parse() {
        let bsi = Profile::built_in("bsi-tr-03108").unwrap();
        assert_eq!(bsi, Profile::bsi_tr_03108());
        assert!(bsi.tls.is_some() && bsi.chain.is_some() && bsi.dane.is_some());
        let opportunistic = Profile::built_in("opportunistic").unwrap();
        assert!(opportunistic.tls.is_none() && opportunistic.dane.is_some());
        assert!(matches!(
            Profile::built_in("nope"),
            Err(ProfileError::UnknownBuiltIn(_))
        ));
    }

    #[test]
    fn bsi_profile_excludes_x25519_and_chacha20() {
        let bsi = Profile::bsi_tr_03108();
        let now = SystemTime::now();
        assert!(!bsi.permits_group("x25519".parse().unwrap(), now));
        assert!(bsi.permits_group("brainpoolP256r1".parse().unwrap(), now));
        assert!(!bsi.permits_suite("TLS_CHACHA20_POLY1305_SHA256".parse().unwrap(), now));
        assert!(bsi.permits_suite("TLS_AES_256_GCM_SHA384".parse().unwrap(), now));
        assert!(!bsi.permits_version(TlsVersion::TLS11, now));
    }

    #[test]
    fn dated_entries_expire_after_their_day() {
        let bsi = Profile::bsi_tr_03108();
        let suites = bsi.suites.unwrap();
        let dhe: CipherSuite = "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256".parse().unwrap();
        let last_second = UNIX_EPOCH + Duration::from_secs(1_893_455_999); // 2029-12-31T23:59:59Z
        assert_eq!(suites.allowance(dhe, last_second), Allowance::Allowed);
        assert_eq!(
            suites.allowance(dhe, last_second + Duration::from_secs(1)),
            Allowance::Expired("2029-12-31".parse().unwrap())
        );
        assert!(
            !suites
                .allowed_at(last_second + Duration::from_secs(1))
                .any(|s| s == dhe)
        );
    }

    #[test]
    fn custom_profiles_are_checked_against_the_schema() {
        let error = Profile::from_toml(
            "name = \"x\"\n[versions]\nrequirement = \"r\"\nallowed = [\"TLSv9\"]\n",
        )
        .unwrap_err();
        assert!(error.to_string().contains("TLSv9"), "{error}");
        assert!(Profile::from_toml("name = \"x\"\nunknown = 1\n").is_err());
        assert!(
            Profile::from_toml(
                "name = \"x\"\n[groups]\nrequirement = \"r\"\nallowed = [{ name = \"secp256r1\", until = \"2029-02-30\" }]\n"
            )
            .is_err()
        );
        let native_date = Profile::from_toml(
            "name = \"x\"\n[groups]\nrequirement = \"r\"\nallowed = [{ name = \"secp256r1\", until = 2029-12-31 }]\n",
        )
        .unwrap();
        assert!(native_date.groups.is_some());
    }
}
