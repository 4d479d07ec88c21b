//! The TLS vocabulary of observations and profiles: protocol versions, cipher
//! suites, named groups and signature schemes, by their IANA code points
//! ([TLS parameters registry](https://www.iana.org/assignments/tls-parameters/)).
//!
//! Each type is a thin wrapper around the wire value, so anything a server
//! sends can be recorded, and carries the IANA name where we know it. In
//! profiles and JSON reports values are written by name (`"TLSv1.2"`,
//! `"TLS_AES_128_GCM_SHA256"`, `"secp256r1"`, `"rsa_pss_rsae_sha256"`); an
//! unknown value is written as `0x` and four hex digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::iana::IANA_CIPHER_SUITES;

/// A name in a profile or report that is not a known value of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} '{name}'")]
pub struct UnknownName {
    /// What kind of value was expected ("cipher suite", "group", ...).
    pub kind: &'static str,
    /// The name as written.
    pub name: String,
}

fn parse_hex(text: &str) -> Option<u16> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))?;
    u16::from_str_radix(digits, 16).ok()
}

macro_rules! named_u16 {
    ($(#[$meta:meta])* $type:ident, $kind:literal, $table:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $type(pub u16);

        impl $type {
            /// The IANA name, if this value is one we know.
            pub fn name(self) -> Option<&'static str> {
                $table
                    .iter()
                    .find(|entry| entry.0 == self.0)
                    .map(|entry| entry.1)
            }

            /// Every value we know by name.
            pub fn known() -> impl Iterator<Item = $type> {
                $table.iter().map(|entry| $type(entry.0))
            }
        }

        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.name() {
                    Some(name) => f.write_str(name),
                    None => write!(f, "0x{:04x}", self.0),
                }
            }
        }

        impl FromStr for $type {
            type Err = UnknownName;
            fn from_str(text: &str) -> Result<Self, UnknownName> {
                $table
                    .iter()
                    .find(|entry| entry.1.eq_ignore_ascii_case(text))
                    .map(|entry| $type(entry.0))
                    .or_else(|| parse_hex(text).map($type))
                    .ok_or_else(|| UnknownName {
                        kind: $kind,
                        name: text.to_owned(),
                    })
            }
        }

        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

named_u16!(
    /// A TLS protocol version by its wire value (`0x0303` is TLS 1.2).
    TlsVersion,
    "TLS version",
    VERSIONS
);

const VERSIONS: &[(u16, &str)] = &[
    (0x0300, "SSLv3"),
    (0x0301, "TLSv1.0"),
    (0x0302, "TLSv1.1"),
    (0x0303, "TLSv1.2"),
    (0x0304, "TLSv1.3"),
];

impl TlsVersion {
    /// SSL 3.0 (RFC 6101; prohibited by RFC 7568).
    pub const SSL3: TlsVersion = TlsVersion(0x0300);
    /// TLS 1.0.
    pub const TLS10: TlsVersion = TlsVersion(0x0301);
    /// TLS 1.1.
    pub const TLS11: TlsVersion = TlsVersion(0x0302);
    /// TLS 1.2.
    pub const TLS12: TlsVersion = TlsVersion(0x0303);
    /// TLS 1.3.
    pub const TLS13: TlsVersion = TlsVersion(0x0304);
}

named_u16!(
    /// A cipher suite by its IANA code point. Every code point the IANA
    /// registry assigns has its name (`IANA_CIPHER_SUITES`); others print
    /// as `0x` and four hex digits.
    CipherSuite,
    "cipher suite",
    IANA_CIPHER_SUITES
);

/// Code points outside the IANA registry that deployed TLS stacks implement
/// and testssl.sh probes (`/etc/testssl/cipher-mapping.txt`): pre-RFC
/// ChaCha20 (0xcc13-0xcc15), OpenSSL's GOST suites, the EXPORT1024 drafts,
/// Netscape's FIPS suites, Google's CECPQ1 experiment. Enumeration offers
/// them too, so a server selecting one is seen (reported by code point).
const DEPLOYED_UNREGISTERED: &[u16] = &[
    0x0060, 0x0061, 0x0062, 0x0063, 0x0064, 0x0065, 0x0066, 0x0080, 0x0081, 0x0082, 0x0083, 0x16b7,
    0x16b8, 0x16b9, 0x16ba, 0xcc13, 0xcc14, 0xcc15, 0xfefe, 0xfeff, 0xff00, 0xff01, 0xff02, 0xff03,
    0xff85, 0xff87, 0xffe0, 0xffe1,
];

/// The signalling values in the suite list (RFC 5746, RFC 7507): not suites.
const SIGNALLING: &[u16] = &[0x00ff, 0x5600];

/// How a suite agrees on keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum KeyExchange {
    /// A TLS 1.3 suite: key exchange is always (EC)DHE, negotiated separately.
    Tls13,
    /// Ephemeral elliptic-curve Diffie-Hellman (forward secret).
    Ecdhe,
    /// Ephemeral finite-field Diffie-Hellman (forward secret).
    Dhe,
    /// Static RSA key transport: no forward secrecy.
    StaticRsa,
    /// Static (EC)DH with the key in the certificate (`DH_RSA`, `ECDH_ECDSA`,
    /// ...): no forward secrecy.
    StaticDh,
    /// Anonymous (EC)DH (`DH_anon`, `ECDH_anon`): ephemeral but without
    /// server authentication, so counted as neither authenticated nor
    /// forward secret (as testssl.sh does).
    Anonymous,
    /// A pre-shared key alone or with RSA key transport: no forward secrecy.
    Psk,
    /// A pre-shared key with ephemeral (EC)DH (`DHE_PSK`, `ECDHE_PSK`):
    /// forward secret.
    EphemeralPsk,
    /// Anything else (Kerberos, SRP, ECCPWD, GOST, NULL).
    Other,
}

/// The bulk cipher of a suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum BulkCipher {
    /// AES in Galois/Counter mode.
    AesGcm,
    /// AES in CBC mode with an HMAC.
    AesCbc,
    /// AES in CCM mode with a 16-byte tag.
    AesCcm,
    /// AES in CCM mode with an 8-byte tag.
    AesCcm8,
    /// ChaCha20 with Poly1305.
    ChaCha20Poly1305,
    /// Triple DES (broken by Sweet32).
    TripleDes,
    /// RC4 (broken).
    Rc4,
    /// Camellia in CBC mode.
    CamelliaCbc,
    /// Camellia in Galois/Counter mode.
    CamelliaGcm,
    /// ARIA in CBC mode.
    AriaCbc,
    /// ARIA in Galois/Counter mode.
    AriaGcm,
    /// SEED (CBC).
    Seed,
    /// IDEA (CBC).
    Idea,
    /// Single DES or 40-bit DES (broken).
    Des,
    /// RC2 (broken).
    Rc2,
    /// SM4 (GCM or CCM).
    Sm4,
    /// AEGIS.
    Aegis,
    /// GOST block ciphers (Kuznyechik, Magma, 28147-89).
    Gost,
    /// No encryption at all.
    Null,
}

/// A coarse rank of a suite's protection, for the weakest and strongest
/// suite of an offer. Ordered from weakest to strongest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SuiteStrength {
    /// No protection worth the name: no encryption, no server
    /// authentication, export grade, DES, RC2, RC4, an MD5 MAC, or a code
    /// point we cannot classify (we cannot vouch for it).
    Insecure,
    /// No forward secrecy, or 3DES / IDEA (64-bit blocks).
    Weak,
    /// Forward secret, with a MAC-then-encrypt (CBC) or non-standard cipher.
    Medium,
    /// Forward secret with an AEAD cipher (GCM, CCM, ChaCha20-Poly1305).
    Strong,
}

impl CipherSuite {
    /// Whether this is a TLS 1.3 suite (usable only with TLS 1.3): RFC 8446,
    /// AEGIS, SM4 (RFC 8998), integrity-only (RFC 9150) and the TLS 1.3 GOST
    /// suites.
    pub fn is_tls13(self) -> bool {
        matches!(
            self.0,
            0x1301..=0x1307 | 0x00c6 | 0x00c7 | 0xc0b4 | 0xc0b5 | 0xc103..=0xc106
        )
    }

    /// Whether this is a signalling value (renegotiation info, fallback), not
    /// a suite.
    pub fn is_signalling(self) -> bool {
        SIGNALLING.contains(&self.0)
    }

    /// The key exchange, for suites the IANA registry names.
    pub fn key_exchange(self) -> Option<KeyExchange> {
        let name = self.name()?;
        if self.is_signalling() {
            return None;
        }
        if self.is_tls13() {
            return Some(KeyExchange::Tls13);
        }
        let exchange = name
            .strip_prefix("TLS_")
            .and_then(|rest| rest.split_once("_WITH_"))
            .map_or("", |(exchange, _)| exchange);
        Some(match exchange {
            "ECDHE_ECDSA" | "ECDHE_RSA" => KeyExchange::Ecdhe,
            "DHE_RSA" | "DHE_DSS" => KeyExchange::Dhe,
            "DH_anon" | "ECDH_anon" | "DH_anon_EXPORT" => KeyExchange::Anonymous,
            "DHE_PSK" | "ECDHE_PSK" | "PSK_DHE" => KeyExchange::EphemeralPsk,
            "PSK" | "RSA_PSK" => KeyExchange::Psk,
            _ if exchange.starts_with("RSA") => KeyExchange::StaticRsa,
            _ if exchange.starts_with("DHE_") => KeyExchange::Dhe,
            _ if exchange.starts_with("DH_") || exchange.starts_with("ECDH_") => {
                KeyExchange::StaticDh
            }
            _ => KeyExchange::Other,
        })
    }

    /// The bulk cipher, for suites the IANA registry names.
    pub fn bulk_cipher(self) -> Option<BulkCipher> {
        let name = self.name()?;
        if self.is_signalling() {
            return None;
        }
        // The part after `_WITH_` (TLS 1.2 and older) or the whole name (TLS 1.3).
        let cipher = name.split_once("_WITH_").map_or(name, |(_, cipher)| cipher);
        let has = |part: &str| cipher.contains(part);
        Some(if has("CHACHA20") {
            BulkCipher::ChaCha20Poly1305
        } else if cipher.starts_with("NULL") || matches!(self.0, 0xc0b4 | 0xc0b5) {
            BulkCipher::Null
        } else if has("AEGIS") {
            BulkCipher::Aegis
        } else if has("SM4") {
            BulkCipher::Sm4
        } else if has("KUZNYECHIK") || has("MAGMA") || has("28147") {
            BulkCipher::Gost
        } else if has("CAMELLIA") {
            if has("GCM") {
                BulkCipher::CamelliaGcm
            } else {
                BulkCipher::CamelliaCbc
            }
        } else if has("ARIA") {
            if has("GCM") {
                BulkCipher::AriaGcm
            } else {
                BulkCipher::AriaCbc
            }
        } else if has("CCM_8") {
            BulkCipher::AesCcm8
        } else if has("CCM") {
            BulkCipher::AesCcm
        } else if has("GCM") {
            BulkCipher::AesGcm
        } else if has("3DES") {
            BulkCipher::TripleDes
        } else if has("RC4") {
            BulkCipher::Rc4
        } else if has("RC2") {
            BulkCipher::Rc2
        } else if has("DES") {
            BulkCipher::Des
        } else if has("IDEA") {
            BulkCipher::Idea
        } else if has("SEED") {
            BulkCipher::Seed
        } else {
            BulkCipher::AesCbc
        })
    }

    /// Whether the suite gives forward secrecy: ephemeral and authenticated
    /// key exchange (TLS 1.3, ECDHE, DHE, ephemeral PSK). Anonymous DH and
    /// unclassified code points do not count.
    pub fn forward_secret(self) -> bool {
        matches!(
            self.key_exchange(),
            Some(
                KeyExchange::Tls13
                    | KeyExchange::Ecdhe
                    | KeyExchange::Dhe
                    | KeyExchange::EphemeralPsk
            )
        )
    }

    /// Whether the cipher is an AEAD (no MAC-then-encrypt).
    pub fn is_aead(self) -> bool {
        matches!(
            self.bulk_cipher(),
            Some(
                BulkCipher::AesGcm
                    | BulkCipher::AesCcm
                    | BulkCipher::AesCcm8
                    | BulkCipher::ChaCha20Poly1305
                    | BulkCipher::CamelliaGcm
                    | BulkCipher::AriaGcm
                    | BulkCipher::Sm4
                    | BulkCipher::Aegis
            )
        ) || (self.is_tls13() && self.bulk_cipher() == Some(BulkCipher::Gost))
    }

    /// The suite's rank (see [`SuiteStrength`]).
    pub fn strength(self) -> SuiteStrength {
        let (Some(exchange), Some(cipher), Some(name)) =
            (self.key_exchange(), self.bulk_cipher(), self.name())
        else {
            return SuiteStrength::Insecure;
        };
        let broken = matches!(
            cipher,
            BulkCipher::Null | BulkCipher::Des | BulkCipher::Rc2 | BulkCipher::Rc4
        ) || exchange == KeyExchange::Anonymous
            || name.contains("EXPORT")
            || name.ends_with("_MD5");
        if broken {
            SuiteStrength::Insecure
        } else if !self.forward_secret()
            || matches!(cipher, BulkCipher::TripleDes | BulkCipher::Idea)
        {
            SuiteStrength::Weak
        } else if self.is_aead() {
            SuiteStrength::Strong
        } else {
            SuiteStrength::Medium
        }
    }

    /// The key length of the bulk cipher in bits, as far as the name says
    /// (`AES_256`, `CAMELLIA_128`, ...); 0 when it does not.
    pub fn key_bits(self) -> u32 {
        let Some(name) = self.name() else {
            return 0;
        };
        if name.contains("_256") || name.contains("CHACHA20") || name.contains("AEGIS_256") {
            256
        } else if name.contains("_128") || name.contains("3DES") {
            128
        } else {
            0
        }
    }

    /// Every code point enumeration offers for TLS 1.2 and older: every
    /// IANA-assigned suite that is not TLS 1.3-only and not a signalling
    /// value, then the deployed unregistered ones.
    pub fn probed_tls12() -> impl Iterator<Item = CipherSuite> {
        CipherSuite::known()
            .filter(|suite| !suite.is_tls13() && !suite.is_signalling())
            .chain(DEPLOYED_UNREGISTERED.iter().copied().map(CipherSuite))
    }

    /// Every TLS 1.2-and-older suite the IANA registry names.
    pub fn known_tls12() -> impl Iterator<Item = CipherSuite> {
        CipherSuite::known().filter(|suite| !suite.is_tls13() && !suite.is_signalling())
    }

    /// Every TLS 1.3 suite the IANA registry names, for enumeration.
    pub fn known_tls13() -> impl Iterator<Item = CipherSuite> {
        CipherSuite::known().filter(|suite| suite.is_tls13())
    }
}

named_u16!(
    /// A named group (elliptic curve or finite-field group) for key exchange.
    NamedGroup,
    "group",
    GROUPS
);

const GROUPS: &[(u16, &str)] = &[
    (0x0017, "secp256r1"),
    (0x0018, "secp384r1"),
    (0x0019, "secp521r1"),
    (0x001a, "brainpoolP256r1"),
    (0x001b, "brainpoolP384r1"),
    (0x001c, "brainpoolP512r1"),
    (0x001f, "brainpoolP256r1tls13"),
    (0x0020, "brainpoolP384r1tls13"),
    (0x0021, "brainpoolP512r1tls13"),
    (0x001d, "x25519"),
    (0x001e, "x448"),
    (0x0100, "ffdhe2048"),
    (0x0101, "ffdhe3072"),
    (0x0102, "ffdhe4096"),
    (0x0103, "ffdhe6144"),
    (0x0104, "ffdhe8192"),
];

impl NamedGroup {
    /// The security-relevant size: the field size of a curve or the modulus
    /// length of a finite-field group, in bits.
    pub fn bits(self) -> Option<u32> {
        Some(match self.0 {
            0x0017 | 0x001a | 0x001f | 0x001d => 256,
            0x0018 | 0x001b | 0x0020 => 384,
            0x001e => 448,
            0x0019 => 521,
            0x001c | 0x0021 => 512,
            0x0100 => 2048,
            0x0101 => 3072,
            0x0102 => 4096,
            0x0103 => 6144,
            0x0104 => 8192,
            _ => return None,
        })
    }

    /// Whether this is a finite-field (DH) group rather than a curve.
    pub fn is_finite_field(self) -> bool {
        (0x0100..=0x01ff).contains(&self.0)
    }
}

named_u16!(
    /// A TLS signature scheme (RFC 8446 section 4.2.3).
    SignatureScheme,
    "signature scheme",
    SCHEMES
);

const SCHEMES: &[(u16, &str)] = &[
    (0x0401, "rsa_pkcs1_sha256"),
    (0x0501, "rsa_pkcs1_sha384"),
    (0x0601, "rsa_pkcs1_sha512"),
    (0x0201, "rsa_pkcs1_sha1"),
    (0x0403, "ecdsa_secp256r1_sha256"),
    (0x0503, "ecdsa_secp384r1_sha384"),
    (0x0603, "ecdsa_secp521r1_sha512"),
    (0x0203, "ecdsa_sha1"),
    (0x0804, "rsa_pss_rsae_sha256"),
    (0x0805, "rsa_pss_rsae_sha384"),
    (0x0806, "rsa_pss_rsae_sha512"),
    (0x0809, "rsa_pss_pss_sha256"),
    (0x080a, "rsa_pss_pss_sha384"),
    (0x080b, "rsa_pss_pss_sha512"),
    (0x0807, "ed25519"),
    (0x0808, "ed448"),
    (0x081a, "ecdsa_brainpoolP256r1tls13_sha256"),
    (0x081b, "ecdsa_brainpoolP384r1tls13_sha384"),
    (0x081c, "ecdsa_brainpoolP512r1tls13_sha512"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_values_print_as_hex() {
        for suite in CipherSuite::known() {
            assert_eq!(suite.to_string().parse::<CipherSuite>(), Ok(suite));
        }
        assert_eq!(CipherSuite(0xfefe).to_string(), "0xfefe");
        assert_eq!("0xfefe".parse::<CipherSuite>(), Ok(CipherSuite(0xfefe)));
        assert!("TLS_NOPE".parse::<CipherSuite>().is_err());
        assert_eq!("tlsv1.2".parse::<TlsVersion>(), Ok(TlsVersion::TLS12));
    }

    #[test]
    fn suites_are_classified_by_key_exchange_and_cipher() {
        let cbc_rsa: CipherSuite = "TLS_RSA_WITH_AES_128_CBC_SHA".parse().unwrap();
        assert_eq!(cbc_rsa.key_exchange(), Some(KeyExchange::StaticRsa));
        assert_eq!(cbc_rsa.bulk_cipher(), Some(BulkCipher::AesCbc));
        assert!(!cbc_rsa.forward_secret());
        let chacha: CipherSuite = "TLS_CHACHA20_POLY1305_SHA256".parse().unwrap();
        assert!(chacha.is_tls13() && chacha.forward_secret());
        assert_eq!(chacha.bulk_cipher(), Some(BulkCipher::ChaCha20Poly1305));
        let ccm8: CipherSuite = "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8".parse().unwrap();
        assert_eq!(ccm8.bulk_cipher(), Some(BulkCipher::AesCcm8));
        let dhe: CipherSuite = "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384".parse().unwrap();
        assert_eq!(dhe.key_exchange(), Some(KeyExchange::Dhe));
        assert_eq!(CipherSuite(0xfefe).key_exchange(), None);
    }

    #[test]
    fn the_whole_iana_registry_is_named_and_classified() {
        // Entries from every era of the registry, by code point.
        for (code, name) in [
            (0x0041, "TLS_RSA_WITH_CAMELLIA_128_CBC_SHA"),
            (0xc061, "TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384"),
            (0xc0a0, "TLS_RSA_WITH_AES_128_CCM_8"),
            (0xc0a3, "TLS_DHE_RSA_WITH_AES_256_CCM_8"),
            (0x00c4, "TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256"),
            (0x1305, "TLS_AES_128_CCM_8_SHA256"),
            (0xccac, "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256"),
            (0xc100, "TLS_GOSTR341112_256_WITH_KUZNYECHIK_CTR_OMAC"),
        ] {
            assert_eq!(CipherSuite(code).name(), Some(name));
            assert_eq!(name.parse::<CipherSuite>(), Ok(CipherSuite(code)));
        }
        assert!(CipherSuite::known().count() > 340);
        // Not in the registry: printed by code point, still probed.
        assert_eq!(CipherSuite(0xcc13).name(), None);
        assert_eq!(CipherSuite(0xcc13).to_string(), "0xcc13");
        let probed: Vec<CipherSuite> = CipherSuite::probed_tls12().collect();
        assert!(probed.contains(&CipherSuite(0xcc13)) && probed.contains(&CipherSuite(0x0041)));
        assert!(!probed.iter().any(|s| s.is_tls13() || s.is_signalling()));
        let unique: std::collections::BTreeSet<_> = probed.iter().collect();
        assert_eq!(unique.len(), probed.len());
        // Every named suite has a key exchange and a cipher.
        for suite in CipherSuite::known().filter(|s| !s.is_signalling()) {
            assert!(
                suite.key_exchange().is_some() && suite.bulk_cipher().is_some(),
                "{suite}"
            );
        }
    }

    #[test]
    fn suites_beyond_the_policy_table_are_classified() {
        let suite = |name: &str| name.parse::<CipherSuite>().unwrap();
        let camellia = suite("TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256");
        assert_eq!(camellia.key_exchange(), Some(KeyExchange::Dhe));
        assert_eq!(camellia.bulk_cipher(), Some(BulkCipher::CamelliaCbc));
        assert_eq!(camellia.strength(), SuiteStrength::Medium);
        let aria = suite("TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256");
        assert_eq!(aria.bulk_cipher(), Some(BulkCipher::AriaGcm));
        assert_eq!(aria.strength(), SuiteStrength::Strong);
        let ccm8 = suite("TLS_RSA_WITH_AES_256_CCM_8");
        assert_eq!(ccm8.key_exchange(), Some(KeyExchange::StaticRsa));
        assert_eq!(ccm8.strength(), SuiteStrength::Weak);
        let anonymous = suite("TLS_DH_anon_WITH_AES_256_GCM_SHA384");
        assert_eq!(anonymous.key_exchange(), Some(KeyExchange::Anonymous));
        assert!(!anonymous.forward_secret());
        assert_eq!(anonymous.strength(), SuiteStrength::Insecure);
        assert_eq!(
            suite("TLS_ECDH_RSA_WITH_AES_128_CBC_SHA").key_exchange(),
            Some(KeyExchange::StaticDh)
        );
        assert_eq!(
            suite("TLS_RSA_EXPORT_WITH_RC4_40_MD5").strength(),
            SuiteStrength::Insecure
        );
        assert_eq!(
            suite("TLS_RSA_WITH_NULL_SHA256").bulk_cipher(),
            Some(BulkCipher::Null)
        );
        assert_eq!(
            suite("TLS_SHA256_SHA256").bulk_cipher(),
            Some(BulkCipher::Null)
        );
        assert!(suite("TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA").forward_secret());
        assert_eq!(CipherSuite(0xcc13).strength(), SuiteStrength::Insecure);
        assert_eq!(
            suite("TLS_AES_256_GCM_SHA384").strength(),
            SuiteStrength::Strong
        );
        assert_eq!(suite("TLS_AES_256_GCM_SHA384").key_bits(), 256);
        assert!(suite("TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA").strength() == SuiteStrength::Weak);
    }

    #[test]
    fn group_sizes() {
        let brainpool: NamedGroup = "brainpoolP384r1".parse().unwrap();
        assert_eq!(brainpool.bits(), Some(384));
        assert!(NamedGroup(0x0101).is_finite_field());
        assert_eq!(NamedGroup(0x0101).bits(), Some(3072));
    }
}
