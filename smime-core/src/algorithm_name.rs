//! Names for algorithm identifiers, for every message a person reads.
//!
//! An error that says "unsupported algorithm 1.2.840.113549.1.1.7" makes an
//! administrator look the number up; "RSA-OAEP (1.2.840.113549.1.1.7)" does
//! not. The names are the ones OpenSSL and the RFCs use; an identifier
//! outside the table gets its name from `const-oid`'s database, and the
//! number stays beside it either way, so nothing is lost.

use std::fmt;

use const_oid::ObjectIdentifier;

/// The algorithms S/MIME mail names, with the names people know them by.
const NAMES: &[(&str, &str)] = &[
    ("1.2.840.113549.2.5", "MD5"),
    ("1.3.14.3.2.26", "SHA-1"),
    ("2.16.840.1.101.3.4.2.4", "SHA-224"),
    ("2.16.840.1.101.3.4.2.1", "SHA-256"),
    ("2.16.840.1.101.3.4.2.2", "SHA-384"),
    ("2.16.840.1.101.3.4.2.3", "SHA-512"),
    ("1.2.840.113549.1.1.1", "RSA (PKCS #1 v1.5)"),
    ("1.2.840.113549.1.1.4", "MD5 with RSA"),
    ("1.2.840.113549.1.1.5", "SHA-1 with RSA"),
    ("1.2.840.113549.1.1.7", "RSA-OAEP"),
    ("1.2.840.113549.1.1.8", "MGF1"),
    ("1.2.840.113549.1.1.9", "OAEP label (pSpecified)"),
    ("1.2.840.113549.1.1.10", "RSA-PSS"),
    ("1.2.840.113549.1.1.11", "SHA-256 with RSA"),
    ("1.2.840.113549.1.1.12", "SHA-384 with RSA"),
    ("1.2.840.113549.1.1.13", "SHA-512 with RSA"),
    ("1.2.840.10045.4.1", "ECDSA with SHA-1"),
    ("1.2.840.10045.4.3.2", "ECDSA with SHA-256"),
    ("1.2.840.10045.4.3.3", "ECDSA with SHA-384"),
    ("1.2.840.10045.4.3.4", "ECDSA with SHA-512"),
    ("1.2.840.10040.4.3", "DSA with SHA-1"),
    ("1.3.101.112", "Ed25519"),
    ("1.3.101.113", "Ed448"),
    ("1.2.840.113549.3.2", "RC2-CBC"),
    ("1.2.840.113549.3.7", "Triple DES (DES-EDE3-CBC)"),
    ("1.3.14.3.2.7", "DES-CBC"),
    ("2.16.840.1.101.3.4.1.2", "AES-128-CBC"),
    ("2.16.840.1.101.3.4.1.22", "AES-192-CBC"),
    ("2.16.840.1.101.3.4.1.42", "AES-256-CBC"),
    ("2.16.840.1.101.3.4.1.6", "AES-128-GCM"),
    ("2.16.840.1.101.3.4.1.26", "AES-192-GCM"),
    ("2.16.840.1.101.3.4.1.46", "AES-256-GCM"),
    ("2.16.840.1.101.3.4.1.7", "AES-128-CCM"),
    ("2.16.840.1.101.3.4.1.47", "AES-256-CCM"),
    ("1.2.840.113549.1.9.16.3.18", "ChaCha20-Poly1305"),
    ("1.2.840.113549.1.7.1", "data"),
    ("1.2.840.113549.1.7.2", "SignedData"),
    ("1.2.840.113549.1.7.3", "EnvelopedData"),
    ("1.2.840.113549.1.7.6", "EncryptedData"),
    ("1.2.840.113549.1.9.16.1.2", "AuthenticatedData"),
    ("1.2.840.113549.1.9.16.1.9", "CompressedData"),
    ("1.2.840.113549.1.9.16.1.23", "AuthEnvelopedData"),
    ("1.2.840.113549.1.12.1.6", "PBE with SHA-1 and 40-bit RC2"),
    ("1.2.840.113549.1.12.1.3", "PBE with SHA-1 and Triple DES"),
];

/// An algorithm identifier shown as its name and number:
/// `RSA-OAEP (1.2.840.113549.1.1.7)`.
///
/// ```
/// use smime_core::AlgorithmName;
/// use smime_core::const_oid::ObjectIdentifier;
///
/// let sha1 = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
/// assert_eq!(AlgorithmName(sha1).to_string(), "SHA-1 (1.3.14.3.2.26)");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlgorithmName(pub ObjectIdentifier);

impl AlgorithmName {
    /// The name alone, where one is known.
    pub fn name(self) -> Option<&'static str> {
        let dotted = self.0.to_string();
        NAMES
            .iter()
            .find(|(oid, _)| *oid == dotted)
            .map(|(_, name)| *name)
            .or_else(|| const_oid::db::DB.by_oid(&self.0))
    }
}

impl fmt::Display for AlgorithmName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name} ({})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_table_entry_is_a_valid_identifier_with_one_name() {
        for (oid, name) in NAMES {
            let parsed = ObjectIdentifier::new(oid).unwrap();
            assert_eq!(AlgorithmName(parsed).name(), Some(*name));
        }
        let mut oids: Vec<_> = NAMES.iter().map(|(oid, _)| oid).collect();
        oids.sort();
        oids.dedup();
        assert_eq!(oids.len(), NAMES.len());
    }

    #[test]
    fn unknown_identifiers_fall_back_to_the_database_or_the_number() {
        let ed25519_in_db = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.11591.15.1");
        assert!(
            AlgorithmName(ed25519_in_db)
                .to_string()
                .contains("1.3.6.1.4.1.11591.15.1")
        );
        let private = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.99999.1");
        assert_eq!(AlgorithmName(private).to_string(), "1.3.6.1.4.1.99999.1");
    }
}
