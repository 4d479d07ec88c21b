//! Turning certificate files and harvested certificates into directory
//! entries, and directory entries back into usable certificates.

use pgp_core::Cert;
use smime_core::Certificate;

use crate::error::Error;
use crate::store::{Entry, Kind, NewEntry};

/// The directory entry for an S/MIME certificate.
pub fn smime_entry(certificate: &Certificate, source: &str) -> NewEntry {
    NewEntry {
        kind: Kind::Smime,
        fingerprint: hex(&certificate.fingerprint_sha256()),
        addresses: certificate
            .email_addresses()
            .iter()
            .map(|a| crate::envelope_addresses::address_key(a.as_str()))
            .collect(),
        not_after: Some(certificate.not_after()),
        data: certificate.to_der().to_vec(),
        source: source.to_owned(),
    }
}

/// The directory entry for an OpenPGP certificate; secret key material is
/// never stored in the directory.
pub fn pgp_entry(cert: &Cert, source: &str) -> Result<NewEntry, Error> {
    let public = cert.clone().strip_secret_key_material();
    let mut addresses: Vec<String> = public
        .userids()
        .filter_map(|u| u.userid().email_normalized().ok().flatten())
        // One form with the envelope's: a U-label domain in a user ID is
        // found under its A-label.
        .map(|a| crate::envelope_addresses::address_key(&a))
        .collect();
    addresses.sort();
    addresses.dedup();
    Ok(NewEntry {
        kind: Kind::Pgp,
        fingerprint: public.fingerprint().to_hex().to_ascii_lowercase(),
        addresses,
        not_after: None,
        data: pgp_core::binary_certificate(&public)?,
        source: source.to_owned(),
    })
}

/// Every certificate in a file: armored or binary OpenPGP certificates, or
/// PEM/DER X.509 certificates.
pub fn entries_from_file(bytes: &[u8], source: &str) -> Result<Vec<NewEntry>, Error> {
    if looks_like_openpgp(bytes) {
        return pgp_core::parse_certificates(bytes)?
            .iter()
            .map(|cert| pgp_entry(cert, source))
            .collect();
    }
    Ok(Certificate::load(bytes)?
        .iter()
        .map(|c| smime_entry(c, source))
        .collect())
}

pub(crate) fn looks_like_openpgp(bytes: &[u8]) -> bool {
    let text = bytes.trim_ascii_start();
    // Armor, or a binary packet header (bit 7 set) that is not DER's SEQUENCE.
    text.starts_with(b"-----BEGIN PGP") || text.first().is_some_and(|b| b & 0x80 != 0 && *b != 0x30)
}

/// The X.509 certificate of a directory entry.
pub fn smime_certificate(entry: &Entry) -> Result<Certificate, Error> {
    Ok(Certificate::from_der(&entry.data)?)
}

/// The OpenPGP certificate of a directory entry.
pub fn pgp_certificate(entry: &Entry) -> Result<Cert, Error> {
    pgp_core::parse_certificates(&entry.data)?
        .into_iter()
        .next()
        .ok_or(Error::Pgp(pgp_core::Error::NoCertificate))
}

/// Lower-case hex.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
