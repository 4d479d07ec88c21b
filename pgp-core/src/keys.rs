//! Certificates and secret keys: parsing armored or binary key files,
//! exporting, unlocking passphrase-protected secret keys, and the addresses
//! a certificate's user IDs bind.

use std::time::SystemTime;

use mail_message::EmailAddress;
use sequoia_openpgp::cert::prelude::*;
use sequoia_openpgp::crypto::{Decryptor, KeyPair, Password};
use sequoia_openpgp::packet::Key;
use sequoia_openpgp::packet::key::{SecretParts, UnspecifiedRole};
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::policy::Policy;
use sequoia_openpgp::serialize::SerializeInto;
use sequoia_openpgp::types::RevocationStatus;

use crate::constant_time_rsa::{SecretKeyBackend, SigningKey};
use crate::error::Error;

/// Parses every certificate (public or with secret keys) in `input`:
/// ASCII-armored or binary, one or several keys concatenated.
///
/// ```
/// # let key = testkit::openpgp_key("Alice <alice@example.org>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
/// let certs = pgp_core::parse_certificates(&key.public_armored())?;
/// assert_eq!(certs.len(), 1);
/// assert!(!certs[0].is_tsk());
/// # Ok::<(), pgp_core::Error>(())
/// ```
pub fn parse_certificates(input: &[u8]) -> Result<Vec<Cert>, Error> {
    let parser = CertParser::from_bytes(input).map_err(|e| Error::KeyMaterial {
        reason: format!("{e:#}"),
    })?;
    let certs = parser
        .collect::<Result<Vec<Cert>, _>>()
        .map_err(|e| Error::KeyMaterial {
            reason: format!("{e:#}"),
        })?;
    if certs.is_empty() {
        return Err(Error::NoCertificate);
    }
    Ok(certs)
}

/// The certificate without secret key material, ASCII-armored.
pub fn armored_certificate(cert: &Cert) -> Result<Vec<u8>, Error> {
    cert.armored().to_vec().map_err(Error::openpgp)
}

/// The transferable secret key (as stored: protected keys stay protected),
/// ASCII-armored.
pub fn armored_secret_key(cert: &Cert) -> Result<Vec<u8>, Error> {
    cert.as_tsk().armored().to_vec().map_err(Error::openpgp)
}

/// The certificate without secret key material, binary (as in a keyring
/// or an `application/pgp-keys` part with base64).
pub fn binary_certificate(cert: &Cert) -> Result<Vec<u8>, Error> {
    cert.to_vec().map_err(Error::openpgp)
}

/// The transferable secret key, binary.
pub fn binary_secret_key(cert: &Cert) -> Result<Vec<u8>, Error> {
    cert.as_tsk().to_vec().map_err(Error::openpgp)
}

/// The transferable secret key with every secret key re-encrypted under
/// `new` (for storage at rest). Keys protected today are opened with
/// `current` first; a certificate without any secret key is refused, since
/// storing it as an organisation key would be a mistake.
///
/// ```
/// use pgp_core::{Password, armored_secret_key, parse_certificates, protect_secret_key};
///
/// # let key = testkit::openpgp_key("Alice <alice@example.org>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
/// let cert = parse_certificates(&key.secret_armored())?.remove(0);
/// let stored = protect_secret_key(&cert, None, &Password::from("at rest"))?;
/// assert!(stored.keys().secret().all(|k| !k.key().has_unencrypted_secret()));
/// # let _ = armored_secret_key(&stored)?;
/// # Ok::<(), pgp_core::Error>(())
/// ```
pub fn protect_secret_key(
    cert: &Cert,
    current: Option<&Password>,
    new: &Password,
) -> Result<Cert, Error> {
    let fingerprint = cert.fingerprint().to_hex();
    if !cert.is_tsk() {
        return Err(Error::NoSigningKey {
            fingerprint,
            reason: "the file holds a certificate without secret keys".into(),
        });
    }
    let mut packets: Vec<sequoia_openpgp::Packet> = Vec::new();
    for amalgamation in cert.keys().secret() {
        let primary = amalgamation.primary();
        let key = amalgamation.key().clone().role_into_unspecified();
        let key = if key.has_unencrypted_secret() {
            key
        } else {
            let current = current.ok_or_else(|| Error::Passphrase {
                fingerprint: fingerprint.clone(),
            })?;
            key.decrypt_secret(current).map_err(|_| Error::Passphrase {
                fingerprint: fingerprint.clone(),
            })?
        };
        let key = key.encrypt_secret(new).map_err(Error::openpgp)?;
        packets.push(if primary {
            key.role_into_primary().into()
        } else {
            key.role_into_subordinate().into()
        });
    }
    let (protected, _) = cert
        .clone()
        .insert_packets(packets)
        .map_err(Error::openpgp)?;
    Ok(protected)
}

/// A secret key made usable: decrypted with the passphrase when it is
/// protected.
pub(crate) fn unlock(
    key: Key<SecretParts, UnspecifiedRole>,
    passphrase: Option<&Password>,
) -> Result<KeyPair, Error> {
    let fingerprint = key.fingerprint().to_hex();
    let key = if key.has_unencrypted_secret() {
        key
    } else {
        let passphrase = passphrase.ok_or_else(|| Error::Passphrase {
            fingerprint: fingerprint.clone(),
        })?;
        key.decrypt_secret(passphrase)
            .map_err(|_| Error::Passphrase {
                fingerprint: fingerprint.clone(),
            })?
    };
    key.into_keypair().map_err(Error::openpgp)
}

/// A secret key made usable for decryption: RSA keys through
/// [`ConstantTimeRsa`](crate::constant_time_rsa::ConstantTimeRsa) when the
/// `constant-time-rsa` feature is on, every other key through Sequoia's
/// backend; with the backend that does it.
pub(crate) fn decryptor(
    key: Key<SecretParts, UnspecifiedRole>,
    passphrase: Option<&Password>,
) -> Result<(Box<dyn Decryptor>, SecretKeyBackend), Error> {
    let pair = unlock(key, passphrase)?;
    #[cfg(feature = "constant-time-rsa")]
    if let Some(rsa) = crate::constant_time_rsa::ConstantTimeRsa::new(&pair) {
        return Ok((Box::new(rsa), SecretKeyBackend::ConstantTimeRsa));
    }
    Ok((Box::new(pair), SecretKeyBackend::Sequoia))
}

/// A secret key made usable for signing: RSA keys through
/// [`ConstantTimeRsa`](crate::constant_time_rsa::ConstantTimeRsa) when the
/// `constant-time-rsa` feature is on, every other key through Sequoia's
/// backend.
pub(crate) fn signing_key(
    key: Key<SecretParts, UnspecifiedRole>,
    passphrase: Option<&Password>,
) -> Result<SigningKey, Error> {
    Ok(SigningKey::new(unlock(key, passphrase)?))
}

/// The e-mail addresses of the certificate's user IDs that are valid under
/// `policy` at `time` (bound, not revoked), with the user ID text.
pub(crate) fn bound_addresses(
    cert: &Cert,
    policy: &dyn Policy,
    time: Option<SystemTime>,
) -> Vec<(EmailAddress, String)> {
    let Ok(valid) = cert.with_policy(policy, time) else {
        return Vec::new();
    };
    valid
        .userids()
        .filter(|u| !matches!(u.revocation_status(), RevocationStatus::Revoked(_)))
        .filter_map(|u| {
            let text = String::from_utf8_lossy(u.userid().value()).into_owned();
            let email = u.userid().email().ok().flatten()?;
            let address = email.parse::<EmailAddress>().ok()?;
            Some((address, text))
        })
        .collect()
}

/// The primary user ID's text, if the certificate has a valid one.
pub(crate) fn primary_user_id(
    cert: &Cert,
    policy: &dyn Policy,
    time: Option<SystemTime>,
) -> Option<String> {
    let valid = cert.with_policy(policy, time).ok()?;
    let primary = valid.primary_userid().ok()?;
    Some(String::from_utf8_lossy(primary.userid().value()).into_owned())
}
