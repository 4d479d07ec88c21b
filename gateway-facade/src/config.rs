//! `mailgate.toml`: what a gateway is built from.
//!
//! ```toml
//! [gateway]
//! policy = "policy.toml"                  # paths are relative to this file
//! data_dir = "data"                       # the SQLite directory lives here
//! postmaster = "postmaster@behoerde.example"
//! key_passphrase_env = "MAILGATE_KEY_PASSPHRASE"  # optional; opens DATA_DIR/keys
//! # key_passphrase_file = "/run/credentials/mailgate/keys"  # instead: a file only we can read
//!
//! [directory]                           # optional: share one directory between nodes
//! postgres = "host=db.behoerde.example user=mailgate dbname=mailgate"
//! password_env = "MAILGATE_DB_PASSWORD"
//!
//! [trust]
//! smime_anchors = ["pki/ca.pem"]          # roots for inbound S/MIME signatures
//! smime_intermediates = ["pki/sub.pem"]   # optional: CA certificates to build paths with
//!
//! [[keys]]                                # organisation keys: sign for, decrypt to
//! address = "alice@behoerde.example"
//! smime_certificate = "pki/alice.cert.pem"
//! smime_key = "pki/alice.key.pem"
//! pgp_key = "pki/alice.sec.asc"
//! passphrase_env = "ALICE_KEY_PASSPHRASE" # optional, for protected keys (or passphrase_file)
//!
//! [[keys]]                                # an S/MIME key in a PKCS#11 token (HSM)
//! address = "bob@behoerde.example"
//! smime_certificate = "pki/bob.cert.pem"  # optional: else the certificate stored with the key
//! [keys.pkcs11]
//! module = "/usr/lib/softhsm/libsofthsm2.so"
//! token = "mailgate"                      # the token's label
//! key_label = "bob"                       # or key_id = "01" (hex)
//! pin_env = "MAILGATE_TOKEN_PIN"          # the user PIN
//!
//! [transport.domains."extern.example"]    # known TLS verdicts
//! meets_profile = false
//!
//! [transport.probe]                       # optional: probe the others' MX hosts
//! dns_servers = ["127.0.0.1:53"]          # default: the system's resolvers
//! dns_trust_anchor = "root.key"           # default: the IANA root keys
//! tls_trust = ["roots.pem"]               # default: the system trust store
//! smtp_port = 25
//! cache_seconds = 3600
//!
//! [discovery]
//! wkd = true                              # OpenPGP keys from the recipients' Web Key Directory
//!
//! [fallback]
//! password_length = 20
//!
//! [limits]
//! max_decrypted_size = 536870912          # bytes of OpenPGP plaintext (default 512 MiB)
//!
//! [verification]
//! date_tolerance = "1h"                   # Date vs signing time (seconds, or s/m/h/d; default 1h)
//!
//! [revocation]                            # CRL/OCSP checks of S/MIME certificates
//! inbound = "prefer"                      # signers: require | prefer | off
//! outbound = "prefer"                     # recipient certificates: require | prefer | off
//! crls = ["pki/ca.crl"]                   # CRL files (PEM or DER), read at start-up
//! ocsp = "aia"                            # "aia" (the certificate's responder), a URL, or "off"
//! crl_dp = true                           # download CRLs from the certificates' distribution points
//! ocsp_timeout = "5s"                     # per OCSP request / whole CRL download (seconds, or s/m/h/d)
//! ```
//!
//! Without a `[revocation]` section nothing is checked (both modes `off`),
//! so an existing set-up does not start asking OCSP responders on the
//! internet after an upgrade. With the section, both modes default to
//! `prefer` and `ocsp` to `"aia"`: a revoked certificate is then never used
//! and never makes a signature valid, and an unknown status is a finding,
//! not a lost mail.
//!
//! `crl_dp` defaults to `true` with the section: the section already opts
//! into asking the CA's servers (OCSP from the certificate), many CAs
//! publish only CRLs, and without them `require` would defer every mail to
//! such a CA's users. The URLs come only from certificates on a validated
//! path (never from what a sender chooses), each CRL must verify with the
//! issuer's key, downloads are bounded (the timeout for the whole download,
//! 16 MiB), a CRL is downloaded once per CA until its nextUpdate, and a
//! failed download is not repeated for a minute. Configured `crls` files
//! come first; a distribution point is asked only for certificates no file
//! answered, and before OCSP.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;
use crate::passphrase::Passphrase;

/// The parsed configuration, with every path made absolute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The policy file.
    pub policy: PathBuf,
    /// Where the gateway keeps its state (the certificate directory and
    /// the imported organisation keys).
    pub data_dir: PathBuf,
    /// Where the passphrase that protects the keys imported into
    /// `data_dir` comes from (see [`KeyVault`](crate::KeyVault)).
    pub key_passphrase: Passphrase,
    /// The sender of notifications.
    pub postmaster: String,
    /// Where the certificate directory lives.
    pub directory: DirectoryConfig,
    /// Trust anchors for inbound S/MIME signatures.
    pub smime_anchors: Vec<PathBuf>,
    /// Intermediate CA certificates for building S/MIME paths: inbound
    /// mail usually brings its own, but recipient certificates in the
    /// directory are stored alone, and their revocation status can only
    /// be checked on a path to an anchor. Not trusted by themselves.
    pub smime_intermediates: Vec<PathBuf>,
    /// The organisation's keys.
    pub keys: Vec<KeyConfig>,
    /// Known TLS verdicts per recipient domain (lower case).
    pub tls_verdicts: BTreeMap<String, bool>,
    /// Probe the recipient domains' mail exchangers for TLS verdicts not
    /// known (none: a domain without a known verdict meets no profile).
    pub tls_probe: Option<ProbeConfig>,
    /// Look up OpenPGP keys the directory lacks in the recipient domain's
    /// Web Key Directory (`[discovery] wkd = true`).
    pub wkd_discovery: bool,
    /// Length of generated fallback passwords.
    pub password_length: usize,
    /// The most plaintext an inbound OpenPGP message may decompress to
    /// (`[limits] max_decrypted_size`, bytes); a larger one is quarantined.
    /// Counted while decompressing, on disk beyond the in-memory path.
    /// (S/MIME has no compression: its plaintext is never larger than the
    /// message.)
    pub max_decrypted_size: u64,
    /// How far an inbound signed message's `Date` may be from the signing
    /// time before the signature result carries the warning
    /// `date-differs-from-signing-time` (`[verification] date_tolerance`:
    /// seconds as a number, or a string with `s`, `m`, `h` or `d`, as
    /// `mailgate smime|pgp verify --date-tolerance` takes it; default
    /// [`mail_message::DEFAULT_DATE_TOLERANCE`], one hour).
    pub date_tolerance: std::time::Duration,
    /// Revocation checks of S/MIME certificates (`[revocation]`).
    pub revocation: RevocationConfig,
}

/// `[revocation]`: how S/MIME certificates are checked for revocation,
/// per direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevocationConfig {
    /// Signers of inbound mail: a revoked signer is never `valid`; in
    /// `require` an unknown status makes the signature invalid too, in
    /// `prefer` it is reported as `warning=revocation-unknown`.
    pub inbound: smime_core::RevocationMode,
    /// Recipient certificates of outbound mail: a revoked one is never
    /// encrypted to; in `require` an unknown status defers the recipient
    /// (4xx) rather than use or skip the certificate, in `prefer` it is
    /// used and the audit record says the status was unknown.
    pub outbound: smime_core::RevocationMode,
    /// CRL files, read when the gateway is built.
    pub crls: Vec<PathBuf>,
    /// Which OCSP responder to ask for certificates no CRL answered.
    pub ocsp: OcspConfig,
    /// Whether to download the CRLs certificates name (cRLDistributionPoints,
    /// `http:` URLs) for certificates no configured CRL answered.
    pub crl_dp: bool,
    /// How long one OCSP request may take (connect, send, each read), and
    /// one CRL download in all.
    pub ocsp_timeout: std::time::Duration,
}

/// The default OCSP timeout: a responder that does not answer in five
/// seconds delays each mail that needs it by no more.
pub const DEFAULT_OCSP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

impl Default for RevocationConfig {
    /// No `[revocation]` section: nothing is checked.
    fn default() -> Self {
        RevocationConfig {
            inbound: smime_core::RevocationMode::Off,
            outbound: smime_core::RevocationMode::Off,
            crls: Vec::new(),
            ocsp: OcspConfig::Off,
            crl_dp: false,
            ocsp_timeout: DEFAULT_OCSP_TIMEOUT,
        }
    }
}

/// `[revocation] ocsp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OcspConfig {
    /// No OCSP: CRLs only.
    Off,
    /// The responder each certificate names (authorityInfoAccess).
    Aia,
    /// This responder (`http://` URL) for every certificate.
    Responder(String),
}

/// How recipient domains' mail exchangers are probed (`[transport.probe]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeConfig {
    /// Name servers to ask; empty: the system's.
    pub dns_servers: Vec<std::net::SocketAddr>,
    /// DNSSEC trust anchors (DNSKEY records in zone-file format); none:
    /// the IANA root keys.
    pub dns_trust_anchor: Option<PathBuf>,
    /// Roots for the servers' certificate chains; empty: the system's.
    pub tls_trust: Vec<PathBuf>,
    /// The exchangers' SMTP port.
    pub smtp_port: u16,
    /// How long a verdict on a server is reused.
    pub cache_seconds: u64,
}

/// Where the certificate directory lives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DirectoryConfig {
    /// SQLite in the data directory (the default).
    #[default]
    Sqlite,
    /// A PostgreSQL database shared by several gateway nodes (needs the
    /// `postgres` feature).
    Postgres {
        /// libpq-style parameters or a `postgresql://` URL.
        parameters: String,
        /// The environment variable holding the password, if any.
        password_env: Option<String>,
    },
}

/// One organisation identity: its address and key files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyConfig {
    /// The address the keys belong to (lower case).
    pub address: String,
    /// S/MIME certificate (PEM or DER; the chain may follow the certificate).
    pub smime_certificate: Option<PathBuf>,
    /// S/MIME private key (PKCS#8, PKCS#1, SEC 1, or PKCS#12 bundle).
    pub smime_key: Option<PathBuf>,
    /// OpenPGP secret key (armored or binary).
    pub pgp_key: Option<PathBuf>,
    /// Where the passphrase of protected keys comes from.
    pub passphrase: Option<Passphrase>,
    /// The S/MIME private key in a PKCS#11 token instead of `smime_key`.
    pub pkcs11: Option<Pkcs11KeyConfig>,
}

/// An organisation's S/MIME private key in a PKCS#11 token
/// (`[keys.pkcs11]`).
#[cfg(feature = "pkcs11")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pkcs11KeyConfig {
    /// Module, token and key.
    pub key: mailgate_pkcs11::TokenKeyConfig,
    /// The environment variable holding the user PIN.
    pub pin_env: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    gateway: GatewaySection,
    #[serde(default)]
    directory: DirectorySection,
    #[serde(default)]
    trust: TrustSection,
    #[serde(default)]
    keys: Vec<KeySection>,
    #[serde(default)]
    transport: TransportSection,
    #[serde(default)]
    fallback: FallbackSection,
    #[serde(default)]
    discovery: DiscoverySection,
    #[serde(default)]
    limits: LimitsSection,
    #[serde(default)]
    verification: VerificationSection,
    revocation: Option<RevocationSection>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RevocationSection {
    inbound: Option<String>,
    outbound: Option<String>,
    #[serde(default)]
    crls: Vec<PathBuf>,
    ocsp: Option<String>,
    crl_dp: Option<bool>,
    ocsp_timeout: Option<Tolerance>,
}

impl RevocationSection {
    /// The checked section; paths still relative.
    fn check(self) -> Result<RevocationConfig, String> {
        let mode = |value: Option<String>, key: &str| match value {
            None => Ok(smime_core::RevocationMode::Prefer),
            Some(text) => text
                .trim()
                .parse::<smime_core::RevocationMode>()
                .map_err(|error| format!("revocation.{key}: {error}")),
        };
        let ocsp = match self.ocsp.as_deref().map(str::trim) {
            None => OcspConfig::Aia,
            Some(text) if text.eq_ignore_ascii_case("aia") => OcspConfig::Aia,
            Some(text) if text.eq_ignore_ascii_case("off") => OcspConfig::Off,
            Some(url)
                if url
                    .get(..7)
                    .is_some_and(|scheme| scheme.eq_ignore_ascii_case("http://"))
                    && url.len() > 7 =>
            {
                OcspConfig::Responder(url.to_owned())
            }
            Some(other) => {
                return Err(format!(
                    "revocation.ocsp = {other:?}: expected \"aia\", \"off\" or an http:// URL \
                     (OCSP responses are signed; responders speak plain HTTP)"
                ));
            }
        };
        let ocsp_timeout = match &self.ocsp_timeout {
            None => DEFAULT_OCSP_TIMEOUT,
            Some(Tolerance::Seconds(seconds)) => std::time::Duration::from_secs(*seconds),
            Some(Tolerance::Text(text)) => mail_message::parse_date_tolerance(text.trim())
                .map_err(|error| format!("revocation.ocsp_timeout = {error}"))?,
        };
        if ocsp_timeout.is_zero() {
            return Err("revocation.ocsp_timeout = 0 would fail every OCSP request".to_owned());
        }
        Ok(RevocationConfig {
            inbound: mode(self.inbound, "inbound")?,
            outbound: mode(self.outbound, "outbound")?,
            crls: self.crls,
            ocsp,
            crl_dp: self.crl_dp.unwrap_or(true),
            ocsp_timeout,
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VerificationSection {
    date_tolerance: Option<Tolerance>,
}

/// A duration as written in the file: seconds, or a string with a unit.
#[derive(Deserialize)]
#[serde(untagged)]
enum Tolerance {
    Seconds(u64),
    Text(String),
}

impl Tolerance {
    /// The duration, or why the text is not one: the grammar of the command
    /// line's `--date-tolerance` ([`mail_message::parse_date_tolerance`]).
    fn duration(&self) -> Result<std::time::Duration, String> {
        match self {
            Tolerance::Seconds(seconds) => Ok(std::time::Duration::from_secs(*seconds)),
            Tolerance::Text(text) => mail_message::parse_date_tolerance(text.trim())
                .map_err(|error| format!("verification.date_tolerance = {error}")),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LimitsSection {
    max_decrypted_size: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DiscoverySection {
    #[serde(default)]
    wkd: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewaySection {
    policy: PathBuf,
    data_dir: PathBuf,
    postmaster: String,
    key_passphrase_env: Option<String>,
    key_passphrase_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DirectorySection {
    postgres: Option<String>,
    password_env: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TrustSection {
    #[serde(default)]
    smime_anchors: Vec<PathBuf>,
    #[serde(default)]
    smime_intermediates: Vec<PathBuf>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySection {
    address: String,
    smime_certificate: Option<PathBuf>,
    smime_key: Option<PathBuf>,
    pgp_key: Option<PathBuf>,
    passphrase_env: Option<String>,
    passphrase_file: Option<PathBuf>,
    pkcs11: Option<Pkcs11Section>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(
    not(feature = "pkcs11"),
    allow(dead_code, reason = "parsed only to refuse the section by name")
)]
struct Pkcs11Section {
    module: PathBuf,
    token: String,
    key_label: Option<String>,
    key_id: Option<String>,
    pin_env: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TransportSection {
    #[serde(default)]
    domains: BTreeMap<String, DomainTransport>,
    probe: Option<ProbeSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProbeSection {
    #[serde(default)]
    dns_servers: Vec<std::net::SocketAddr>,
    dns_trust_anchor: Option<PathBuf>,
    #[serde(default)]
    tls_trust: Vec<PathBuf>,
    #[serde(default = "default_smtp_port")]
    smtp_port: u16,
    #[serde(default = "default_cache_seconds")]
    cache_seconds: u64,
}

fn default_smtp_port() -> u16 {
    25
}

fn default_cache_seconds() -> u64 {
    3600
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DomainTransport {
    meets_profile: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FallbackSection {
    #[serde(default = "default_password_length")]
    password_length: usize,
}

impl Default for FallbackSection {
    fn default() -> Self {
        FallbackSection {
            password_length: default_password_length(),
        }
    }
}

fn default_password_length() -> usize {
    DEFAULT_PASSWORD_LENGTH
}

/// The variable `mailgate keys import` and the gateway read the at-rest
/// passphrase of imported keys from, unless `key_passphrase_env` names
/// another or `key_passphrase_file` a file.
pub const DEFAULT_KEY_PASSPHRASE_ENV: &str = "MAILGATE_KEY_PASSPHRASE";

/// Length of fallback passwords unless configured: 20 characters of a
/// 57-character alphabet, about 116 bits.
pub const DEFAULT_PASSWORD_LENGTH: usize = 20;

/// Shorter passwords than this are refused: the fallback is only as strong
/// as its password.
pub const MIN_PASSWORD_LENGTH: usize = 12;

impl Config {
    /// Reads and checks `mailgate.toml`.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(Error::io(path))?;
        Config::parse(&text, path)
    }

    /// Parses the text of a configuration file at `path` (relative paths in
    /// it are resolved against the file's directory).
    pub fn parse(text: &str, path: &Path) -> Result<Config, Error> {
        let invalid = |message: String| Error::Config {
            path: path.to_owned(),
            message,
        };
        let file: File = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        if file.fallback.password_length < MIN_PASSWORD_LENGTH {
            return Err(invalid(format!(
                "fallback.password_length = {} is too short; use at least {MIN_PASSWORD_LENGTH}",
                file.fallback.password_length
            )));
        }
        let max_decrypted_size = file
            .limits
            .max_decrypted_size
            .unwrap_or(pgp_core::DEFAULT_MAX_PLAINTEXT);
        if max_decrypted_size == 0 {
            return Err(invalid(
                "limits.max_decrypted_size = 0 would refuse every encrypted mail".to_owned(),
            ));
        }
        let date_tolerance = match &file.verification.date_tolerance {
            Some(tolerance) => tolerance.duration().map_err(invalid)?,
            None => mail_message::DEFAULT_DATE_TOLERANCE,
        };
        let revocation = match file.revocation {
            Some(section) => {
                let mut revocation = section.check().map_err(invalid)?;
                revocation.crls = revocation.crls.into_iter().map(resolve).collect();
                revocation
            }
            None => RevocationConfig::default(),
        };
        let mut keys = Vec::new();
        for key in file.keys {
            let pkcs11 = match key.pkcs11 {
                Some(token) => {
                    if key.smime_key.is_some() {
                        return Err(invalid(format!(
                            "keys for {}: smime_key or [keys.pkcs11], not both",
                            key.address
                        )));
                    }
                    Some(pkcs11_key(token, &key.address, &resolve).map_err(invalid)?)
                }
                None if key.smime_certificate.is_some() != key.smime_key.is_some() => {
                    return Err(invalid(format!(
                        "keys for {}: smime_certificate and smime_key go together",
                        key.address
                    )));
                }
                None => None,
            };
            keys.push(KeyConfig {
                address: crate::envelope_addresses::address_key(&key.address),
                smime_certificate: key.smime_certificate.map(resolve),
                smime_key: key.smime_key.map(resolve),
                pgp_key: key.pgp_key.map(resolve),
                passphrase: match (key.passphrase_env, key.passphrase_file) {
                    (Some(_), Some(_)) => {
                        return Err(invalid(format!(
                            "keys for {}: passphrase_env or passphrase_file, not both",
                            key.address
                        )));
                    }
                    (Some(variable), None) => Some(Passphrase::Env(variable)),
                    (None, Some(path)) => Some(Passphrase::File(resolve(path))),
                    (None, None) => None,
                },
                pkcs11,
            });
        }
        Ok(Config {
            policy: resolve(file.gateway.policy),
            data_dir: resolve(file.gateway.data_dir),
            key_passphrase: match (
                file.gateway.key_passphrase_env,
                file.gateway.key_passphrase_file,
            ) {
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        "gateway: key_passphrase_env or key_passphrase_file, not both".into(),
                    ));
                }
                (Some(variable), None) => Passphrase::Env(variable),
                (None, Some(path)) => Passphrase::File(resolve(path)),
                (None, None) => Passphrase::Env(DEFAULT_KEY_PASSPHRASE_ENV.to_owned()),
            },
            postmaster: file.gateway.postmaster,
            directory: match file.directory.postgres {
                Some(parameters) => DirectoryConfig::Postgres {
                    parameters,
                    password_env: file.directory.password_env,
                },
                None if file.directory.password_env.is_some() => {
                    return Err(invalid(
                        "directory.password_env without directory.postgres".into(),
                    ));
                }
                None => DirectoryConfig::Sqlite,
            },
            smime_anchors: file.trust.smime_anchors.into_iter().map(resolve).collect(),
            smime_intermediates: file
                .trust
                .smime_intermediates
                .into_iter()
                .map(resolve)
                .collect(),
            keys,
            wkd_discovery: file.discovery.wkd,
            tls_probe: file.transport.probe.map(|probe| ProbeConfig {
                dns_servers: probe.dns_servers,
                dns_trust_anchor: probe.dns_trust_anchor.map(&resolve),
                tls_trust: probe.tls_trust.into_iter().map(&resolve).collect(),
                smtp_port: probe.smtp_port,
                cache_seconds: probe.cache_seconds,
            }),
            tls_verdicts: file
                .transport
                .domains
                .into_iter()
                .map(|(domain, t)| {
                    (
                        crate::envelope_addresses::domain_key(&domain),
                        t.meets_profile,
                    )
                })
                .collect(),
            password_length: file.fallback.password_length,
            max_decrypted_size,
            date_tolerance,
            revocation,
        })
    }
}

/// Built without the `pkcs11` feature: no token key can be configured, so
/// this type has no values and `KeyConfig::pkcs11` is always `None`.
#[cfg(not(feature = "pkcs11"))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pkcs11KeyConfig {}

/// Without the `pkcs11` feature a `[keys.pkcs11]` section is refused: the
/// key it names could never be used, and ignoring it would start a gateway
/// that cannot sign or decrypt for that address.
#[cfg(not(feature = "pkcs11"))]
fn pkcs11_key(
    _: Pkcs11Section,
    address: &str,
    _: &impl Fn(PathBuf) -> PathBuf,
) -> Result<Pkcs11KeyConfig, String> {
    Err(format!(
        "keys for {address}: [keys.pkcs11] needs gateway-facade built with its `pkcs11` feature"
    ))
}

/// `[keys.pkcs11]` checked: one way to name the key, an id in hex.
#[cfg(feature = "pkcs11")]
fn pkcs11_key(
    section: Pkcs11Section,
    address: &str,
    resolve: &impl Fn(PathBuf) -> PathBuf,
) -> Result<Pkcs11KeyConfig, String> {
    let key = match (section.key_label, section.key_id) {
        (Some(label), None) => mailgate_pkcs11::KeyRef::Label(label),
        (None, Some(hex)) => mailgate_pkcs11::KeyRef::Id(
            decode_hex(&hex)
                .ok_or_else(|| format!("keys for {address}: key_id = {hex:?} is not hex"))?,
        ),
        _ => {
            return Err(format!(
                "keys for {address}: [keys.pkcs11] needs key_label or key_id (one of them)"
            ));
        }
    };
    Ok(Pkcs11KeyConfig {
        key: mailgate_pkcs11::TokenKeyConfig {
            module: resolve(section.module),
            token: section.token,
            key,
        },
        pin_env: section.pin_env,
    })
}

#[cfg(feature = "pkcs11")]
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let hex = hex.trim();
    if hex.is_empty() || !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|byte| u8::from_str_radix(byte, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_resolve_against_the_file() -> Result<(), Error> {
        let config = Config::parse(
            "[gateway]\npolicy = \"p.toml\"\ndata_dir = \"/var/lib/mailgate\"\npostmaster = \"pm@x.example\"\n\
             [[keys]]\naddress = \"Alice@X.example\"\npgp_key = \"k.asc\"\n\
             [transport.domains.\"Extern.example\"]\nmeets_profile = false\n",
            Path::new("/etc/mailgate/mailgate.toml"),
        )?;
        assert_eq!(config.policy, Path::new("/etc/mailgate/p.toml"));
        assert_eq!(config.data_dir, Path::new("/var/lib/mailgate"));
        assert_eq!(config.keys[0].address, "alice@x.example");
        assert_eq!(
            config.keys[0].pgp_key.as_deref(),
            Some(Path::new("/etc/mailgate/k.asc"))
        );
        assert_eq!(config.tls_verdicts.get("extern.example"), Some(&false));
        assert_eq!(config.password_length, 20);
        Ok(())
    }

    #[test]
    fn the_directory_is_sqlite_unless_postgres_is_named() -> Result<(), Error> {
        let base = "[gateway]\npolicy = \"p\"\ndata_dir = \"d\"\npostmaster = \"p@x\"\n";
        let path = Path::new("m.toml");
        assert_eq!(
            Config::parse(base, path)?.directory,
            DirectoryConfig::Sqlite
        );
        let shared = Config::parse(
            &format!("{base}[directory]\npostgres = \"host=db user=mg\"\npassword_env = \"DB\"\n"),
            path,
        )?;
        assert_eq!(
            shared.directory,
            DirectoryConfig::Postgres {
                parameters: "host=db user=mg".into(),
                password_env: Some("DB".into())
            }
        );
        let orphan = Config::parse(&format!("{base}[directory]\npassword_env = \"DB\"\n"), path);
        assert!(
            matches!(orphan, Err(Error::Config { message, .. }) if message.contains("without directory.postgres"))
        );
        Ok(())
    }

    #[test]
    fn passphrases_come_from_a_variable_or_a_file_never_both() -> Result<(), Error> {
        let path = Path::new("/etc/mailgate/m.toml");
        let base = "[gateway]\npolicy = \"p\"\ndata_dir = \"d\"\npostmaster = \"p@x\"\n";
        assert_eq!(
            Config::parse(base, path)?.key_passphrase,
            Passphrase::Env(DEFAULT_KEY_PASSPHRASE_ENV.into())
        );
        let from_file = Config::parse(
            &format!(
                "{base}key_passphrase_file = \"secret/keys.pass\"\n\
                 [[keys]]\naddress = \"a@x\"\npgp_key = \"a.asc\"\npassphrase_file = \"a.pass\"\n"
            ),
            path,
        )?;
        assert_eq!(
            from_file.key_passphrase,
            Passphrase::File("/etc/mailgate/secret/keys.pass".into())
        );
        assert_eq!(
            from_file.keys[0].passphrase,
            Some(Passphrase::File("/etc/mailgate/a.pass".into()))
        );
        for both in [
            format!("{base}key_passphrase_file = \"f\"\nkey_passphrase_env = \"V\"\n"),
            format!(
                "{base}[[keys]]\naddress = \"a@x\"\npassphrase_file = \"f\"\npassphrase_env = \"V\"\n"
            ),
        ] {
            assert!(matches!(
                Config::parse(&both, path),
                Err(Error::Config { message, .. }) if message.contains("not both")
            ));
        }
        Ok(())
    }

    #[cfg(not(feature = "pkcs11"))]
    #[test]
    fn token_keys_are_refused_without_the_pkcs11_feature() {
        let path = Path::new("/etc/mailgate/m.toml");
        let config = "[gateway]\npolicy = \"p\"\ndata_dir = \"d\"\npostmaster = \"p@x\"\n[[keys]]\n\
            address = \"a@x\"\nsmime_certificate = \"a.pem\"\n[keys.pkcs11]\nmodule = \"m\"\n\
            token = \"t\"\nkey_label = \"a\"\npin_env = \"P\"\n";
        assert!(matches!(
            Config::parse(config, path),
            Err(Error::Config { message, .. }) if message.contains("`pkcs11` feature")
        ));
    }

    #[cfg(feature = "pkcs11")]
    #[test]
    fn token_keys_name_module_token_key_and_pin() -> Result<(), Error> {
        let path = Path::new("/etc/mailgate/m.toml");
        let base = "[gateway]\npolicy = \"p\"\ndata_dir = \"d\"\npostmaster = \"p@x\"\n[[keys]]\naddress = \"a@x\"\n";
        let config = Config::parse(
            &format!(
                "{base}smime_certificate = \"a.pem\"\n[keys.pkcs11]\nmodule = \"/usr/lib/softhsm/libsofthsm2.so\"\n\
                 token = \"mailgate\"\nkey_id = \"0A01\"\npin_env = \"PIN\"\n"
            ),
            path,
        )?;
        assert_eq!(
            config.keys[0].pkcs11,
            Some(Pkcs11KeyConfig {
                key: mailgate_pkcs11::TokenKeyConfig {
                    module: "/usr/lib/softhsm/libsofthsm2.so".into(),
                    token: "mailgate".into(),
                    key: mailgate_pkcs11::KeyRef::Id(vec![10, 1]),
                },
                pin_env: "PIN".into(),
            })
        );
        for (wrong, says) in [
            (
                "smime_key = \"k\"\n[keys.pkcs11]\nmodule = \"m\"\ntoken = \"t\"\nkey_label = \"a\"\npin_env = \"P\"\n",
                "not both",
            ),
            (
                "[keys.pkcs11]\nmodule = \"m\"\ntoken = \"t\"\npin_env = \"P\"\n",
                "key_label or key_id",
            ),
            (
                "[keys.pkcs11]\nmodule = \"m\"\ntoken = \"t\"\nkey_id = \"xyz\"\npin_env = \"P\"\n",
                "not hex",
            ),
        ] {
            assert!(
                matches!(Config::parse(&format!("{base}{wrong}"), path), Err(Error::Config { message, .. }) if message.contains(says)),
                "{wrong}"
            );
        }
        Ok(())
    }

    #[test]
    fn probing_is_off_unless_configured() -> Result<(), Error> {
        let base = "[gateway]\npolicy = \"p\"\ndata_dir = \"d\"\npostmaster = \"p@x\"\n";
        let path = Path::new("/etc/mailgate/m.toml");
        assert_eq!(Config::parse(base, path)?.tls_probe, None);
        let probing = Config::parse(
            &format!(
                "{base}[transport.probe]\ndns_servers = [\"127.0.0.1:5353\"]\n\
                 dns_trust_anchor = \"root.key\"\ntls_trust = [\"roots.pem\"]\n"
            ),
            path,
        )?;
        assert_eq!(
            probing.tls_probe,
            Some(ProbeConfig {
                dns_servers: vec!["127.0.0.1:5353".parse().unwrap_or_else(|_| unreachable!())],
                dns_trust_anchor: Some("/etc/mailgate/root.key".into()),
                tls_trust: vec!["/etc/mailgate/roots.pem".into()],
                smtp_port: 25,
                cache_seconds: 3600,
            })
        );
        let typo = Config::parse(&format!("{base}[transport.probe]\nsmtp_prot = 25\n"), path);
        assert!(matches!(typo, Err(Error::Config { .. })));
        Ok(())
    }

    #[test]
    fn mistakes_are_named() {
        let path = Path::new("m.toml");
        let unknown = Config::parse(
            "[gateway]\npolicy = \"p\"\ndata_dir = \"d\"\npostmaster = \"p@x\"\npolicyy = 1\n",
            path,
        );
        assert!(
            matches!(unknown, Err(Error::Config { message, .. }) if message.contains("policyy"))
        );
        let short = Config::parse(
            "[gateway]\npolicy = \"p\"\ndata_dir = \"d\"\npostmaster = \"p@x\"\n[fallback]\npassword_length = 6\n",
            path,
        );
        assert!(
            matches!(short, Err(Error::Config { message, .. }) if message.contains("too short"))
        );
        let half = Config::parse(
            "[gateway]\npolicy = \"p\"\ndata_dir = \"d\"\npostmaster = \"p@x\"\n[[keys]]\naddress = \"a@x\"\nsmime_key = \"k\"\n",
            path,
        );
        assert!(
            matches!(half, Err(Error::Config { message, .. }) if message.contains("go together"))
        );
    }

    #[test]
    fn the_decryption_limit_is_configurable_and_never_zero() -> Result<(), Error> {
        let path = Path::new("m.toml");
        let base = "[gateway]\npolicy = \"p\"\ndata_dir = \"d\"\npostmaster = \"p@x\"\n";
        assert_eq!(
            Config::parse(base, path)?.max_decrypted_size,
            pgp_core::DEFAULT_MAX_PLAINTEXT
        );
        let set = Config::parse(
            &format!("{base}[limits]\nmax_decrypted_size = 1048576\n"),
            path,
        )?;
        assert_eq!(set.max_decrypted_size, 1_048_576);
        let zero = Config::parse(&format!("{base}[limits]\nmax_decrypted_size = 0\n"), path);
        assert!(
            matches!(zero, Err(Error::Config { message, .. }) if message.contains("max_decrypted_size"))
        );
        Ok(())
    }

    #[test]
    fn revocation_is_off_without_the_section_and_prefer_with_it() -> Result<(), Error> {
        let path = Path::new("/etc/mailgate/m.toml");
        let base = "[gateway]\npolicy = \"p\"\ndata_dir = \"d\"\npostmaster = \"p@x\"\n";
        assert_eq!(
            Config::parse(base, path)?.revocation,
            RevocationConfig::default()
        );
        assert_eq!(
            RevocationConfig::default().inbound,
            smime_core::RevocationMode::Off
        );
        let empty = Config::parse(&format!("{base}[revocation]\n"), path)?.revocation;
        assert_eq!(
            empty,
            RevocationConfig {
                inbound: smime_core::RevocationMode::Prefer,
                outbound: smime_core::RevocationMode::Prefer,
                crls: Vec::new(),
                ocsp: OcspConfig::Aia,
                crl_dp: true,
                ocsp_timeout: DEFAULT_OCSP_TIMEOUT,
            }
        );
        let set = Config::parse(
            &format!(
                "{base}[revocation]\ninbound = \"Require\"\noutbound = \"off\"\n\
                 crls = [\"pki/ca.crl\", \"/var/crl/sub.crl\"]\nocsp = \"http://ocsp.example:8080/x\"\n\
                 ocsp_timeout = \"2m\"\ncrl_dp = false\n"
            ),
            path,
        )?
        .revocation;
        assert_eq!(
            set,
            RevocationConfig {
                inbound: smime_core::RevocationMode::Require,
                outbound: smime_core::RevocationMode::Off,
                crls: vec!["/etc/mailgate/pki/ca.crl".into(), "/var/crl/sub.crl".into()],
                ocsp: OcspConfig::Responder("http://ocsp.example:8080/x".into()),
                crl_dp: false,
                ocsp_timeout: std::time::Duration::from_secs(120),
            }
        );
        for wrong in [
            "inbound = \"yes\"",
            "ocsp = \"http://\"",
            "ocsp = \"ftp://ocsp.example\"",
            "ocsp_timeout = \"0s\"",
            "ocsp_timeout = \"soon\"",
            "crl_dp = \"yes\"",
        ] {
            let result = Config::parse(&format!("{base}[revocation]\n{wrong}\n"), path);
            assert!(
                matches!(result, Err(Error::Config { .. })),
                "{wrong} was accepted"
            );
        }
        Ok(())
    }

    #[test]
    fn the_date_tolerance_is_configurable_in_seconds_or_with_a_unit() -> Result<(), Error> {
        let path = Path::new("m.toml");
        let base = "[gateway]\npolicy = \"p\"\ndata_dir = \"d\"\npostmaster = \"p@x\"\n";
        assert_eq!(
            Config::parse(base, path)?.date_tolerance,
            mail_message::DEFAULT_DATE_TOLERANCE
        );
        for (value, seconds) in [
            ("90", 90),
            ("\"90\"", 90),
            ("\"15m\"", 900),
            ("\"2h\"", 7200),
            ("\"1d\"", 86_400),
            ("0", 0),
        ] {
            let config = Config::parse(
                &format!("{base}[verification]\ndate_tolerance = {value}\n"),
                path,
            )?;
            assert_eq!(
                config.date_tolerance,
                std::time::Duration::from_secs(seconds),
                "{value}"
            );
        }
        for wrong in [
            "\"1w\"",
            "\"h\"",
            "\"-5m\"",
            "-5",
            "\"99999999999999999999d\"",
            "1.5",
        ] {
            let result = Config::parse(
                &format!("{base}[verification]\ndate_tolerance = {wrong}\n"),
                path,
            );
            assert!(
                matches!(result, Err(Error::Config { .. })),
                "{wrong} was accepted"
            );
        }
        let typo = Config::parse(
            &format!("{base}[verification]\ndate_tolerence = 60\n"),
            path,
        );
        assert!(
            matches!(typo, Err(Error::Config { message, .. }) if message.contains("date_tolerence"))
        );
        Ok(())
    }
}
