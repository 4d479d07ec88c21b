//! Choosing a certificate to encrypt to for an e-mail address, and saying
//! why the others cannot be used.

use std::time::SystemTime;

use mail_message::EmailAddress;
use sequoia_openpgp::Cert;
use sequoia_openpgp::cert::amalgamation::key::ValidErasedKeyAmalgamation;
use sequoia_openpgp::packet::key::PublicParts;
use sequoia_openpgp::policy::{Policy, StandardPolicy};
use sequoia_openpgp::types::RevocationStatus;

use crate::error::Error;
use crate::keys;

/// Why a certificate cannot be used for an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unusable {
    /// The certificate is not valid under the policy (weak algorithms, no
    /// valid self-signature).
    #[error("refused by policy: {0}")]
    Policy(String),
    /// The certificate is revoked.
    #[error("the certificate is revoked")]
    Revoked,
    /// The certificate is expired or not yet valid.
    #[error("the certificate is expired or not yet valid: {0}")]
    Expired(String),
    /// No valid, non-revoked user ID carries the address.
    #[error("no valid user ID carries the address")]
    NoUserIdForAddress,
    /// No valid encryption-capable (sub)key.
    #[error("no valid, unrevoked, unexpired encryption-capable key")]
    NoEncryptionKey,
}

/// A certificate that was passed over, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Rejection {
    /// The certificate's fingerprint (hex).
    pub fingerprint: String,
    /// Why it cannot be used.
    pub reason: Unusable,
}

/// The outcome of [`select_certificate`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Selection {
    /// Usable certificates, in the order given.
    pub usable: Vec<Cert>,
    /// The others, with reasons.
    pub rejected: Vec<Rejection>,
}

impl Selection {
    /// The first usable certificate.
    pub fn best(&self) -> Option<&Cert> {
        self.usable.first()
    }
}

/// Selects, among `certs`, those usable to encrypt to `address` at `time`
/// (now if `None`): valid under Sequoia's standard policy, not revoked, not
/// expired, with a valid user ID whose address is `address`, and with a
/// valid encryption-capable key.
///
/// ```
/// # let key = testkit::openpgp_key("Bob <bob@example.net>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
/// use pgp_core::{Unusable, select_certificate};
///
/// let certs = [key.cert().clone()];
/// let selection = select_certificate(&certs, &"BOB@example.net".parse()?, None);
/// assert!(selection.best().is_some());
/// let selection = select_certificate(&certs, &"eve@example.net".parse()?, None);
/// assert_eq!(selection.rejected[0].reason, Unusable::NoUserIdForAddress);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn select_certificate(
    certs: &[Cert],
    address: &EmailAddress,
    time: Option<SystemTime>,
) -> Selection {
    let policy = StandardPolicy::new();
    let time = time.unwrap_or_else(SystemTime::now);
    let mut selection = Selection {
        usable: Vec::new(),
        rejected: Vec::new(),
    };
    for cert in certs {
        match check(cert, address, &policy, time) {
            Ok(()) => selection.usable.push(cert.clone()),
            Err(reason) => selection.rejected.push(Rejection {
                fingerprint: cert.fingerprint().to_hex(),
                reason,
            }),
        }
    }
    selection
}

fn check(
    cert: &Cert,
    address: &EmailAddress,
    policy: &dyn Policy,
    time: SystemTime,
) -> Result<(), Unusable> {
    usable_for_encryption(cert, policy, time)?;
    if !keys::bound_addresses(cert, policy, Some(time))
        .iter()
        .any(|(a, _)| a == address)
    {
        return Err(Unusable::NoUserIdForAddress);
    }
    Ok(())
}

fn usable_for_encryption(
    cert: &Cert,
    policy: &dyn Policy,
    time: SystemTime,
) -> Result<(), Unusable> {
    encryption_key_amalgamations(cert, policy, time).map(|_| ())
}

fn encryption_key_amalgamations<'c>(
    cert: &'c Cert,
    policy: &'c dyn Policy,
    time: SystemTime,
) -> Result<Vec<ValidErasedKeyAmalgamation<'c, PublicParts>>, Unusable> {
    let valid = cert
        .with_policy(policy, time)
        .map_err(|e| Unusable::Policy(format!("{e:#}")))?;
    if let RevocationStatus::Revoked(_) = valid.revocation_status() {
        return Err(Unusable::Revoked);
    }
    valid
        .alive()
        .map_err(|e| Unusable::Expired(format!("{e:#}")))?;
    let keys: Vec<_> = valid
        .keys()
        .supported()
        .alive()
        .revoked(false)
        .for_transport_encryption()
        .for_storage_encryption()
        .collect();
    if keys.is_empty() {
        return Err(Unusable::NoEncryptionKey);
    }
    Ok(keys)
}

/// The keys of `cert` to encrypt to, or why there are none.
pub(crate) fn encryption_keys<'c>(
    cert: &'c Cert,
    policy: &'c dyn Policy,
    time: SystemTime,
) -> Result<Vec<ValidErasedKeyAmalgamation<'c, PublicParts>>, Error> {
    encryption_key_amalgamations(cert, policy, time).map_err(|reason| Error::NoEncryptionKey {
        fingerprint: cert.fingerprint().to_hex(),
        reason: reason.to_string(),
    })
}
