//! X.509 certificates as S/MIME uses them (RFC 8550).
//!
//! A [`Certificate`] is parsed once, when it is loaded, into the facts S/MIME
//! decisions need: the mailbox addresses it certifies, its key, its validity,
//! and its key usages. A certificate whose extensions S/MIME relies on are
//! malformed is refused at load time rather than half-trusted later.

use std::time::SystemTime;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc3280::EMAIL_ADDRESS;
use const_oid::db::rfc5280::{ANY_EXTENDED_KEY_USAGE, ID_KP_EMAIL_PROTECTION};
use const_oid::db::rfc5639::{BRAINPOOL_P_256_R_1, BRAINPOOL_P_384_R_1, BRAINPOOL_P_512_R_1};
use const_oid::db::rfc5912::{
    ID_EC_PUBLIC_KEY, ID_RSASSA_PSS, RSA_ENCRYPTION, SECP_256_R_1, SECP_384_R_1, SECP_521_R_1,
};
use const_oid::db::rfc8410::{ID_ED_448, ID_ED_25519, ID_X_448, ID_X_25519};
use der::asn1::{Ia5String, UintRef};
use der::{Decode, Reader, SliceReader};
use sha2::{Digest, Sha256};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};

use crate::error::Error;
use crate::pem;
use mail_message::EmailAddress;

/// An X.509 certificate with the facts S/MIME needs, parsed once.
///
/// ```
/// use smime_core::Certificate;
///
/// # let pem = testkit::pki().smime("alice@example.org", testkit::KeyKind::P256).certificate_pem();
/// let certificates = Certificate::load(pem.as_bytes())?;
/// let alice = &certificates[0];
/// assert!(alice.email_addresses().iter().any(|a| a.as_str() == "alice@example.org"));
/// assert!(alice.allows_email_protection());
/// # Ok::<(), smime_core::Error>(())
/// ```
#[derive(Clone)]
pub struct Certificate {
    der: Vec<u8>,
    inner: x509_cert::Certificate,
    addresses: Vec<EmailAddress>,
    key: PublicKeyAlgorithm,
    key_usage: Option<KeyUsage>,
    extended_key_usage: Option<Vec<ObjectIdentifier>>,
    is_ca: bool,
}

/// The algorithm and size of a certificate's public key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicKeyAlgorithm {
    /// RSA (rsaEncryption or RSASSA-PSS), with the modulus size in bits.
    Rsa {
        /// Bit length of the modulus.
        bits: usize,
    },
    /// An elliptic-curve key (id-ecPublicKey) on a named curve.
    Ec {
        /// The named curve.
        curve: Curve,
    },
    /// Ed25519, Ed448, X25519 or X448 (RFC 8410).
    Edwards {
        /// The algorithm OID.
        oid: ObjectIdentifier,
    },
    /// Anything else; S/MIME cannot use it.
    Other {
        /// The algorithm OID.
        oid: ObjectIdentifier,
    },
}

/// A named elliptic curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Curve {
    /// NIST P-256 (secp256r1).
    P256,
    /// NIST P-384 (secp384r1).
    P384,
    /// NIST P-521 (secp521r1).
    P521,
    /// brainpoolP256r1.
    BrainpoolP256r1,
    /// brainpoolP384r1.
    BrainpoolP384r1,
    /// brainpoolP512r1.
    BrainpoolP512r1,
    /// A curve we do not know.
    Unknown(ObjectIdentifier),
}

impl Curve {
    fn from_oid(oid: ObjectIdentifier) -> Curve {
        match oid {
            SECP_256_R_1 => Curve::P256,
            SECP_384_R_1 => Curve::P384,
            SECP_521_R_1 => Curve::P521,
            BRAINPOOL_P_256_R_1 => Curve::BrainpoolP256r1,
            BRAINPOOL_P_384_R_1 => Curve::BrainpoolP384r1,
            BRAINPOOL_P_512_R_1 => Curve::BrainpoolP512r1,
            other => Curve::Unknown(other),
        }
    }

    /// The size of the curve's field in bits (0 if unknown).
    pub fn bits(self) -> usize {
        match self {
            Curve::P256 | Curve::BrainpoolP256r1 => 256,
            Curve::P384 | Curve::BrainpoolP384r1 => 384,
            Curve::BrainpoolP512r1 => 512,
            Curve::P521 => 521,
            Curve::Unknown(_) => 0,
        }
    }

    /// The usual name (`P-256`, `brainpoolP384r1`).
    pub fn name(self) -> String {
        match self {
            Curve::P256 => "P-256".into(),
            Curve::P384 => "P-384".into(),
            Curve::P521 => "P-521".into(),
            Curve::BrainpoolP256r1 => "brainpoolP256r1".into(),
            Curve::BrainpoolP384r1 => "brainpoolP384r1".into(),
            Curve::BrainpoolP512r1 => "brainpoolP512r1".into(),
            Curve::Unknown(oid) => oid.to_string(),
        }
    }
}

impl std::fmt::Display for PublicKeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PublicKeyAlgorithm::Rsa { bits } => write!(f, "RSA-{bits}"),
            PublicKeyAlgorithm::Ec { curve } => write!(f, "EC {}", curve.name()),
            PublicKeyAlgorithm::Edwards { oid } => match *oid {
                ID_ED_25519 => f.write_str("Ed25519"),
                ID_ED_448 => f.write_str("Ed448"),
                ID_X_25519 => f.write_str("X25519"),
                ID_X_448 => f.write_str("X448"),
                other => write!(f, "{other}"),
            },
            PublicKeyAlgorithm::Other { oid } => write!(f, "unknown ({oid})"),
        }
    }
}

impl Certificate {
    /// Parses one DER-encoded certificate. Trailing bytes are an error.
    pub fn from_der(der: &[u8]) -> Result<Certificate, Error> {
        Certificate::parse(der, 1)
    }

    /// Loads every certificate in `input`: one or more PEM `CERTIFICATE` blocks
    /// (text around them and other block types are skipped), or a single DER
    /// certificate.
    ///
    /// An input without any certificate is an error, so a wrong file (a key,
    /// an empty file) is reported rather than silently trusting nothing.
    pub fn load(input: &[u8]) -> Result<Vec<Certificate>, Error> {
        let certificates = if pem::is_pem(input) {
            pem::blocks(input)?
                .into_iter()
                .filter(|block| block.label == "CERTIFICATE" || block.label == "X509 CERTIFICATE")
                .enumerate()
                .map(|(index, block)| Certificate::parse(&block.contents, index + 1))
                .collect::<Result<Vec<_>, _>>()?
        } else if input.is_empty() {
            Vec::new()
        } else {
            vec![Certificate::parse(input, 1)?]
        };
        if certificates.is_empty() {
            return Err(Error::NoCertificate);
        }
        Ok(certificates)
    }

    fn parse(der: &[u8], index: usize) -> Result<Certificate, Error> {
        let malformed = |source| Error::MalformedCertificate { index, source };
        let inner = x509_cert::Certificate::from_der(der).map_err(malformed)?;
        let tbs = inner.tbs_certificate();
        let extension_error = |name: &'static str| {
            move |source| Error::MalformedExtension {
                index,
                extension: name,
                source,
            }
        };

        let mut addresses = Vec::new();
        if let Some((_, alt_names)) = tbs
            .get_extension::<SubjectAltName>()
            .map_err(extension_error("subjectAltName"))?
        {
            for name in alt_names.0 {
                if let GeneralName::Rfc822Name(value) = name
                    && let Ok(address) = value.as_str().parse::<EmailAddress>()
                {
                    addresses.push(address);
                }
            }
        }
        // Legacy: emailAddress in the subject DN (RFC 8550 section 3 still
        // asks receivers to accept it).
        for rdn in tbs.subject().iter_rdn() {
            for attribute in rdn.iter() {
                if attribute.oid == EMAIL_ADDRESS
                    && let Ok(value) = attribute.value.decode_as::<Ia5String>()
                    && let Ok(address) = value.as_str().parse::<EmailAddress>()
                    && !addresses.contains(&address)
                {
                    addresses.push(address);
                }
            }
        }

        let key_usage = tbs
            .get_extension::<KeyUsage>()
            .map_err(extension_error("keyUsage"))?
            .map(|(_, usage)| usage);
        let extended_key_usage = tbs
            .get_extension::<ExtendedKeyUsage>()
            .map_err(extension_error("extendedKeyUsage"))?
            .map(|(_, usage)| usage.0);
        let is_ca = tbs
            .get_extension::<BasicConstraints>()
            .map_err(extension_error("basicConstraints"))?
            .is_some_and(|(_, constraints)| constraints.ca);
        let key = public_key_algorithm(tbs.subject_public_key_info()).map_err(malformed)?;

        Ok(Certificate {
            der: der.to_vec(),
            inner,
            addresses,
            key,
            key_usage,
            extended_key_usage,
            is_ca,
        })
    }

    /// The certificate's DER encoding, exactly as loaded.
    pub fn to_der(&self) -> &[u8] {
        &self.der
    }

    /// The certificate as a PEM block.
    pub fn to_pem(&self) -> String {
        // Encoding bytes that were just decoded as base64 cannot fail.
        der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &self.der)
            .unwrap_or_default()
    }

    /// The parsed certificate, for everything this type does not summarise.
    pub fn x509(&self) -> &x509_cert::Certificate {
        &self.inner
    }

    /// The subject distinguished name (RFC 4514 string form).
    pub fn subject(&self) -> String {
        self.inner.tbs_certificate().subject().to_string()
    }

    /// The issuer distinguished name (RFC 4514 string form).
    pub fn issuer(&self) -> String {
        self.inner.tbs_certificate().issuer().to_string()
    }

    /// The serial number as lower-case hex, without leading zero octets.
    pub fn serial_hex(&self) -> String {
        let bytes = self.inner.tbs_certificate().serial_number().as_bytes();
        let significant = match bytes.iter().position(|&b| b != 0) {
            Some(first) => bytes.get(first..).unwrap_or_default(),
            None => bytes
                .get(bytes.len().saturating_sub(1)..)
                .unwrap_or_default(),
        };
        hex(significant)
    }

    /// Start of the validity period.
    pub fn not_before(&self) -> SystemTime {
        self.inner
            .tbs_certificate()
            .validity()
            .not_before
            .to_system_time()
    }

    /// End of the validity period.
    pub fn not_after(&self) -> SystemTime {
        self.inner
            .tbs_certificate()
            .validity()
            .not_after
            .to_system_time()
    }

    /// Whether `time` lies within the validity period (both ends inclusive,
    /// RFC 5280 section 4.1.2.5).
    pub fn is_valid_at(&self, time: SystemTime) -> bool {
        self.not_before() <= time && time <= self.not_after()
    }

    /// The mailbox addresses this certificate certifies: rfc822Name entries of
    /// subjectAltName, then emailAddress attributes of the subject.
    pub fn email_addresses(&self) -> &[EmailAddress] {
        &self.addresses
    }

    /// Whether the certificate certifies `address` (case-insensitive, see
    /// [`EmailAddress`]).
    pub fn certifies(&self, address: &EmailAddress) -> bool {
        self.addresses.contains(address)
    }

    /// The public key's algorithm and size.
    pub fn public_key_algorithm(&self) -> &PublicKeyAlgorithm {
        &self.key
    }

    /// The keyUsage extension, if present.
    pub fn key_usage(&self) -> Option<&KeyUsage> {
        self.key_usage.as_ref()
    }

    /// The extendedKeyUsage purposes, if the extension is present.
    pub fn extended_key_usage(&self) -> Option<&[ObjectIdentifier]> {
        self.extended_key_usage.as_deref()
    }

    /// Whether the certificate may be used for e-mail (RFC 8550 section
    /// 4.4.4): no extendedKeyUsage extension, or one that lists
    /// emailProtection or anyExtendedKeyUsage.
    pub fn allows_email_protection(&self) -> bool {
        self.extended_key_usage.as_ref().is_none_or(|purposes| {
            purposes
                .iter()
                .any(|oid| *oid == ID_KP_EMAIL_PROTECTION || *oid == ANY_EXTENDED_KEY_USAGE)
        })
    }

    /// Whether basicConstraints marks this as a CA certificate.
    pub fn is_ca(&self) -> bool {
        self.is_ca
    }

    /// SHA-256 over the DER encoding, the usual certificate fingerprint.
    pub fn fingerprint_sha256(&self) -> [u8; 32] {
        Sha256::digest(&self.der).into()
    }
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("subject", &self.subject())
            .field("serial", &self.serial_hex())
            .field("addresses", &self.addresses)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Certificate {
    fn eq(&self, other: &Self) -> bool {
        self.der == other.der
    }
}

impl Eq for Certificate {}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn public_key_algorithm(
    spki: &spki::SubjectPublicKeyInfoOwned,
) -> Result<PublicKeyAlgorithm, der::Error> {
    let oid = spki.algorithm.oid;
    Ok(match oid {
        RSA_ENCRYPTION | ID_RSASSA_PSS => {
            let key = spki.subject_public_key.raw_bytes();
            let bits = SliceReader::new(key)?.sequence(|reader| -> der::Result<usize> {
                let modulus = reader.decode::<UintRef<'_>>()?;
                let _exponent = reader.decode::<UintRef<'_>>()?;
                let bytes = modulus.as_bytes();
                Ok(bytes.first().map_or(0, |&top| {
                    (bytes.len() - 1) * 8 + (8 - top.leading_zeros() as usize)
                }))
            })?;
            PublicKeyAlgorithm::Rsa { bits }
        }
        ID_EC_PUBLIC_KEY => {
            let parameters = spki
                .algorithm
                .parameters
                .as_ref()
                .ok_or_else(|| der::Error::from(der::ErrorKind::Failed))?;
            let curve = parameters.decode_as::<ObjectIdentifier>()?;
            PublicKeyAlgorithm::Ec {
                curve: Curve::from_oid(curve),
            }
        }
        ID_ED_25519 | ID_ED_448 | ID_X_25519 | ID_X_448 => PublicKeyAlgorithm::Edwards { oid },
        other => PublicKeyAlgorithm::Other { oid: other },
    })
}
