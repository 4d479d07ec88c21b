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
    /// A cipher suite by its IANA code point.
    CipherSuite,
    "cipher suite",
    SUITES
);

/// Suites we name, enumerate and classify: everything TR-02102-2 lists, and the
/// weak ones a report should point out.
const SUITES: &[(u16, &str)] = &[
    (0x1301, "TLS_AES_128_GCM_SHA256"),
    (0x1302, "TLS_AES_256_GCM_SHA384"),
    (0x1303, "TLS_CHACHA20_POLY1305_SHA256"),
    (0x1304, "TLS_AES_128_CCM_SHA256"),
    (0x1305, "TLS_AES_128_CCM_8_SHA256"),
    (0xc02b, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"),
    (0xc02c, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"),
    (0xc02f, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0xc030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0xc023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
    (0xc024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"),
    (0xc027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0xc028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384"),
    (0xc0ac, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM"),
    (0xc0ad, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM"),
    (0xc0ae, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8"),
    (0xc0af, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8"),
    (0xc009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
    (0xc00a, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
    (0xc013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
    (0xc014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
    (0xcca8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0xcca9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0x009e, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009f, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"),
    (0x0067, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256"),
    (0x006b, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256"),
    (0xc09e, "TLS_DHE_RSA_WITH_AES_128_CCM"),
    (0xc09f, "TLS_DHE_RSA_WITH_AES_256_CCM"),
    (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"),
    (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"),
    (0xccaa, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
    (0x009c, "TLS_RSA_WITH_AES_128_GCM_SHA256"),
    (0x009d, "TLS_RSA_WITH_AES_256_GCM_SHA384"),
    (0x003c, "TLS_RSA_WITH_AES_128_CBC_SHA256"),
    (0x003d, "TLS_RSA_WITH_AES_256_CBC_SHA256"),
    (0xc09c, "TLS_RSA_WITH_AES_128_CCM"),
    (0xc09d, "TLS_RSA_WITH_AES_256_CCM"),
    (0x002f, "TLS_RSA_WITH_AES_128_CBC_SHA"),
    (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
    (0x000a, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0xc012, "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"),
    (0x0005, "TLS_RSA_WITH_RC4_128_SHA"),
];

/// How a suite agrees on keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyExchange {
    /// A TLS 1.3 suite: key exchange is always (EC)DHE, negotiated separately.
    Tls13,
    /// Ephemeral elliptic-curve Diffie-Hellman (forward secret).
    Ecdhe,
    /// Ephemeral finite-field Diffie-Hellman (forward secret).
    Dhe,
    /// Static RSA key transport: no forward secrecy.
    StaticRsa,
}

/// The bulk cipher of a suite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
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
}

impl CipherSuite {
    /// Whether this is a TLS 1.3 suite (usable only with TLS 1.3).
    pub fn is_tls13(self) -> bool {
        (0x1301..=0x1305).contains(&self.0)
    }

    /// The key exchange, for suites we know.
    pub fn key_exchange(self) -> Option<KeyExchange> {
        let name = self.name()?;
        Some(if self.is_tls13() {
            KeyExchange::Tls13
        } else if name.starts_with("TLS_ECDHE_") {
            KeyExchange::Ecdhe
        } else if name.starts_with("TLS_DHE_") {
            KeyExchange::Dhe
        } else {
            KeyExchange::StaticRsa
        })
    }

    /// The bulk cipher, for suites we know.
    pub fn bulk_cipher(self) -> Option<BulkCipher> {
        let name = self.name()?;
        Some(if name.contains("CHACHA20") {
            BulkCipher::ChaCha20Poly1305
        } else if name.contains("CCM_8") {
            BulkCipher::AesCcm8
        } else if name.contains("CCM") {
            BulkCipher::AesCcm
        } else if name.contains("GCM") {
            BulkCipher::AesGcm
        } else if name.contains("3DES") {
            BulkCipher::TripleDes
        } else if name.contains("RC4") {
            BulkCipher::Rc4
        } else {
            BulkCipher::AesCbc
        })
    }

    /// Whether the suite gives forward secrecy (ephemeral key exchange).
    pub fn forward_secret(self) -> bool {
        matches!(
            self.key_exchange(),
            Some(KeyExchange::Tls13 | KeyExchange::Ecdhe | KeyExchange::Dhe)
        )
    }

    /// Every TLS 1.2-and-older suite we know, for enumeration.
    pub fn known_tls12() -> impl Iterator<Item = CipherSuite> {
        CipherSuite::known().filter(|suite| !suite.is_tls13())
    }

    /// Every TLS 1.3 suite we know, for enumeration.
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
    fn group_sizes() {
        let brainpool: NamedGroup = "brainpoolP384r1".parse().unwrap();
        assert_eq!(brainpool.bits(), Some(384));
        assert!(NamedGroup(0x0101).is_finite_field());
        assert_eq!(NamedGroup(0x0101).bits(), Some(3072));
    }
}
