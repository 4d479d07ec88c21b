//! Certificate summaries for observations: names, validity, key and
//! signature algorithm, read with `x509-cert` from the DER the server sent.

use const_oid::ObjectIdentifier;
use der::asn1::UintRef;
use der::{Decode, DecodePem, Encode};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use crate::error::Error;
use crate::observation::{CertificateSignature, CertificateSummary, PublicKey};

const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const ED25519: &str = "1.3.101.112";

const CURVES: &[(&str, &str, u32)] = &[
    ("1.2.840.10045.3.1.7", "secp256r1", 256),
    ("1.3.132.0.34", "secp384r1", 384),
    ("1.3.132.0.35", "secp521r1", 521),
    ("1.3.36.3.3.2.8.1.1.7", "brainpoolP256r1", 256),
    ("1.3.36.3.3.2.8.1.1.11", "brainpoolP384r1", 384),
    ("1.3.36.3.3.2.8.1.1.13", "brainpoolP512r1", 512),
];

const SIGNATURES: &[(&str, &str, Option<&str>)] = &[
    ("1.2.840.113549.1.1.4", "md5WithRSAEncryption", Some("md5")),
    (
        "1.2.840.113549.1.1.5",
        "sha1WithRSAEncryption",
        Some("sha1"),
    ),
    (
        "1.2.840.113549.1.1.11",
        "sha256WithRSAEncryption",
        Some("sha256"),
    ),
    (
        "1.2.840.113549.1.1.12",
        "sha384WithRSAEncryption",
        Some("sha384"),
    ),
    (
        "1.2.840.113549.1.1.13",
        "sha512WithRSAEncryption",
        Some("sha512"),
    ),
    (
        "1.2.840.113549.1.1.14",
        "sha224WithRSAEncryption",
        Some("sha224"),
    ),
    ("1.2.840.113549.1.1.10", "RSASSA-PSS", None),
    ("1.2.840.10045.4.1", "ecdsa-with-SHA1", Some("sha1")),
    ("1.2.840.10045.4.3.2", "ecdsa-with-SHA256", Some("sha256")),
    ("1.2.840.10045.4.3.3", "ecdsa-with-SHA384", Some("sha384")),
    ("1.2.840.10045.4.3.4", "ecdsa-with-SHA512", Some("sha512")),
    ("1.3.101.112", "Ed25519", None),
];

/// Summarises one DER certificate.
pub fn summarize(der: &[u8]) -> Result<CertificateSummary, Error> {
    let certificate =
        Certificate::from_der(der).map_err(|error| Error::BadCertificate(error.to_string()))?;
    let tbs = certificate.tbs_certificate();
    let mut dns_names = Vec::new();
    if let Ok(Some((_, SubjectAltName(names)))) = tbs.get_extension::<SubjectAltName>() {
        for name in names {
            if let GeneralName::DnsName(dns) = name {
                dns_names.push(dns.to_string());
            }
        }
    }
    let spki = tbs.subject_public_key_info();
    let algorithm = spki.algorithm.oid.to_string();
    let key = match algorithm.as_str() {
        RSA_ENCRYPTION | RSASSA_PSS => rsa_bits(spki.subject_public_key.raw_bytes())
            .map(|bits| PublicKey::Rsa { bits })
            .ok_or_else(|| Error::BadCertificate("malformed RSA public key".to_owned()))?,
        EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|any| any.decode_as::<ObjectIdentifier>().ok())
                .map(|oid| oid.to_string())
                .unwrap_or_else(|| "implicit or missing parameters".to_owned());
            match CURVES.iter().find(|(oid, _, _)| *oid == curve) {
                Some((_, name, bits)) => PublicKey::Ec {
                    curve: (*name).to_owned(),
                    bits: Some(*bits),
                },
                None => PublicKey::Ec { curve, bits: None },
            }
        }
        ED25519 => PublicKey::Ed25519,
        _ => PublicKey::Other { oid: algorithm },
    };
    let signature_oid = certificate.signature_algorithm().oid.to_string();
    let signature_algorithm = match SIGNATURES.iter().find(|(oid, _, _)| *oid == signature_oid) {
        Some((_, name, hash)) => CertificateSignature {
            name: (*name).to_owned(),
            hash: hash.map(str::to_owned),
        },
        None => CertificateSignature {
            name: signature_oid,
            hash: None,
        },
    };
    let validity = tbs.validity();
    Ok(CertificateSummary {
        subject: tbs.subject().to_string(),
        issuer: tbs.issuer().to_string(),
        not_before: seconds(validity.not_before.to_unix_duration()),
        not_after: seconds(validity.not_after.to_unix_duration()),
        dns_names,
        key,
        signature_algorithm,
        sha256: hex(&Sha256::digest(der)),
    })
}

fn seconds(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}

/// The modulus length of a PKCS#1 RSAPublicKey (SEQUENCE { n, e }).
fn rsa_bits(key: &[u8]) -> Option<u32> {
    let integers = Vec::<UintRef<'_>>::from_der(key).ok()?;
    let modulus = integers.first()?.as_bytes();
    let first = modulus.first()?;
    let length = u32::try_from(modulus.len()).ok()?;
    Some(length * 8 - first.leading_zeros())
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

/// The DER certificates of every `CERTIFICATE` block in PEM text.
pub fn pem_certificates(pem: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let text = std::str::from_utf8(pem)
        .map_err(|_| Error::BadCertificate("PEM is not text".to_owned()))?;
    let mut certificates = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let block = rest.get(start..).unwrap_or_default();
        let Some(end) = block.find(END) else {
            return Err(Error::BadCertificate("unterminated PEM block".to_owned()));
        };
        let (block, after) = block.split_at(end + END.len());
        let certificate = Certificate::from_pem(block.as_bytes())
            .map_err(|error| Error::BadCertificate(error.to_string()))?;
        certificates.push(
            certificate
                .to_der()
                .map_err(|error| Error::BadCertificate(error.to_string()))?,
        );
        rest = after;
    }
    if certificates.is_empty() {
        return Err(Error::BadCertificate("no CERTIFICATE block".to_owned()));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use testkit::KeyKind;

    use super::*;

    #[test]
    fn summaries_report_key_sizes_names_and_signature_hashes() {
        let pki = testkit::pki();
        for (kind, expected) in [
            (KeyKind::Rsa2048, PublicKey::Rsa { bits: 2048 }),
            (KeyKind::Rsa3072, PublicKey::Rsa { bits: 3072 }),
            (
                KeyKind::P256,
                PublicKey::Ec {
                    curve: "secp256r1".into(),
                    bits: Some(256),
                },
            ),
            (
                KeyKind::P384,
                PublicKey::Ec {
                    curve: "secp384r1".into(),
                    bits: Some(384),
                },
            ),
        ] {
            let identity = pki.tls_server("mx.example.test", kind);
            let summary = summarize(identity.certificate_der()).unwrap();
            assert_eq!(summary.key, expected);
            assert_eq!(summary.dns_names, vec!["mx.example.test".to_owned()]);
            assert!(
                summary.subject.contains("CN=mx.example.test"),
                "{}",
                summary.subject
            );
            assert!(summary.not_before < summary.not_after);
            assert_eq!(summary.sha256.len(), 64);
            // Issued by the RSA-3072 intermediate.
            assert_eq!(summary.signature_algorithm.hash.as_deref(), Some("sha256"));
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(summarize(b"").is_err());
        assert!(summarize(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_err());
        assert!(pem_certificates(b"no pem here").is_err());
        assert!(pem_certificates(b"-----BEGIN CERTIFICATE-----\nAAAA").is_err());
    }

    #[test]
    fn pem_blocks_with_text_around_are_read() {
        let pki = testkit::pki();
        let identity = pki.tls_server("mx.example.test", KeyKind::P256);
        let text = format!(
            "leaf\n{}chain\n{}",
            identity.certificate_pem(),
            identity.chain_pem()
        );
        let ders = pem_certificates(text.as_bytes()).unwrap();
        assert_eq!(ders.len(), 2);
        assert_eq!(ders.first().unwrap(), identity.certificate_der());
    }
}
