//! The organisation's own keys: what the gateway signs outbound mail with
//! and decrypts inbound mail with.

use std::path::Path;
use std::sync::Arc;

#[cfg(feature = "pkcs11")]
use mailgate_pkcs11::{DeferredTokenKey, TokenKey};
use pgp_core::{Cert, Password};
use smime_core::{Certificate, DecryptionIdentity, ExternalKey, PrivateKey};
use zeroize::Zeroizing;

use crate::config::{KeyConfig, Pkcs11KeyConfig};
use crate::error::Error;

/// The S/MIME identity of an organisation address.
#[derive(Debug)]
pub struct SmimeIdentity {
    /// The end-entity certificate.
    pub certificate: Certificate,
    /// Its issuing CAs, sent along with signatures.
    pub chain: Vec<Certificate>,
    key: SmimeKey,
}

/// Where an identity's private key is.
enum SmimeKey {
    /// In memory (from a file or the key vault).
    Memory(PrivateKey),
    /// In a token or another key store; it never enters this process.
    External(Arc<dyn ExternalKey>),
}

impl std::fmt::Debug for SmimeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SmimeKey::Memory(_) => "Memory(..)",
            SmimeKey::External(_) => "External(..)",
        })
    }
}

impl SmimeIdentity {
    /// An identity from a certificate (with its chain) and its key.
    pub fn new(certificate: Certificate, chain: Vec<Certificate>, key: PrivateKey) -> Self {
        SmimeIdentity {
            certificate,
            chain,
            key: SmimeKey::Memory(key),
        }
    }

    /// An identity whose private key is held elsewhere, e.g. in a PKCS#11
    /// token (`mailgate_pkcs11::TokenKey`). When that key cannot be
    /// reached, signing and decryption fail with
    /// [`smime_core::Error::KeyUnavailable`] and the gateway defers.
    pub fn with_external_key(
        certificate: Certificate,
        chain: Vec<Certificate>,
        key: Arc<dyn ExternalKey>,
    ) -> Self {
        SmimeIdentity {
            certificate,
            chain,
            key: SmimeKey::External(key),
        }
    }

    /// A signer with this identity.
    pub fn signer(&self) -> Result<smime_core::Signer, smime_core::Error> {
        let signer = match &self.key {
            SmimeKey::Memory(key) => smime_core::Signer::new(self.certificate.clone(), key)?,
            SmimeKey::External(key) => {
                smime_core::Signer::with_external_key(self.certificate.clone(), key.clone())?
            }
        };
        Ok(signer.with_chain(self.chain.iter().cloned()))
    }

    /// This identity as a decryption key.
    pub fn decryption(&self) -> Result<DecryptionIdentity, smime_core::Error> {
        match &self.key {
            SmimeKey::Memory(key) => {
                DecryptionIdentity::new(self.certificate.clone(), key.pkcs8_der())
            }
            SmimeKey::External(key) => {
                DecryptionIdentity::with_external_key(self.certificate.clone(), key.clone())
            }
        }
    }
}

/// The keys of one organisation address.
#[derive(Debug)]
pub struct OrganisationKey {
    /// The address (lower case).
    pub address: String,
    /// Its S/MIME identity, if it has one.
    pub smime: Option<SmimeIdentity>,
    /// Its OpenPGP secret key, if it has one.
    pub pgp: Option<Cert>,
    passphrase: Option<Password>,
}

impl OrganisationKey {
    /// Loads the key files a [`KeyConfig`] names. Protected keys take their
    /// passphrase from the configured environment variable.
    pub fn load(config: &KeyConfig) -> Result<OrganisationKey, Error> {
        let passphrase = match &config.passphrase {
            Some(source) => Some(source.read()?),
            None => None,
        };
        let smime = match (&config.smime_certificate, &config.smime_key, &config.pkcs11) {
            (Some(certificate), Some(key), _) => Some(load_smime(
                certificate,
                key,
                passphrase.as_ref().map(|p| p.as_bytes()),
            )?),
            (certificate, None, Some(token)) => {
                Some(token_identity(certificate.as_deref(), token)?)
            }
            _ => None,
        };
        let pgp = match &config.pgp_key {
            Some(path) => {
                let bytes = read(path)?;
                let mut certs = pgp_core::parse_certificates(&bytes)?;
                Some(certs.swap_remove(0))
            }
            None => None,
        };
        Ok(OrganisationKey {
            address: config.address.clone(),
            smime,
            pgp,
            passphrase: passphrase.map(|p| Password::from(p.as_str())),
        })
    }

    /// Keys built in code (tests, embedding applications).
    pub fn new(
        address: &str,
        smime: Option<SmimeIdentity>,
        pgp: Option<Cert>,
        passphrase: Option<Password>,
    ) -> Self {
        OrganisationKey {
            address: crate::envelope_addresses::address_key(address),
            smime,
            pgp,
            passphrase,
        }
    }

    /// Adds the keys of `other` (the same address, configured elsewhere);
    /// refuses a second key of a kind this address already has, since which
    /// one signs would be a guess.
    pub(crate) fn merge(&mut self, other: OrganisationKey) -> Result<(), String> {
        if self.smime.is_some() && other.smime.is_some()
            || self.pgp.is_some() && other.pgp.is_some()
        {
            return Err(format!(
                "{} has two keys of the same kind (in mailgate.toml and imported into the data directory); keep one",
                self.address
            ));
        }
        if other.smime.is_some() {
            self.smime = other.smime;
        }
        if other.pgp.is_some() {
            self.pgp = other.pgp;
            self.passphrase = other.passphrase;
        }
        Ok(())
    }

    /// An OpenPGP signer with this address's secret key.
    pub fn pgp_signer(&self) -> Option<Result<pgp_core::Signer, pgp_core::Error>> {
        self.pgp
            .as_ref()
            .map(|cert| pgp_core::Signer::new(cert, self.passphrase.as_ref()))
    }

    /// The passphrase of protected OpenPGP keys.
    pub fn pgp_passphrase(&self) -> Option<&Password> {
        self.passphrase.as_ref()
    }
}

/// An identity whose key is in a PKCS#11 token. With the certificate in a
/// file, the gateway starts while the token is absent (mail that needs the
/// key waits); without it the certificate comes from the token, which must
/// then be there. A missing PIN, a wrong PIN, a missing key or a key that
/// does not fit the certificate stop the start: an administrator must act.
#[cfg(feature = "pkcs11")]
fn token_identity(
    certificate: Option<&Path>,
    config: &Pkcs11KeyConfig,
) -> Result<SmimeIdentity, Error> {
    let pin = mailgate_pkcs11::pin_from_env(&config.pin_env)?;
    let Some(path) = certificate else {
        let key = TokenKey::open(&config.key, pin)?;
        let certificate = key.certificate().cloned().ok_or_else(|| Error::Config {
            path: config.key.module.clone(),
            message: format!(
                "token `{}` holds no certificate for the key {}: name one with smime_certificate",
                config.key.token, config.key.key
            ),
        })?;
        return Ok(SmimeIdentity::with_external_key(
            certificate,
            Vec::new(),
            Arc::new(key),
        ));
    };
    let mut certificates = Certificate::load(&read(path)?)?;
    let end_entity = certificates.remove(0);
    let key = DeferredTokenKey::new(config.key.clone(), pin, end_entity.clone());
    match key.open() {
        Ok(_) => {}
        Err(error) if error.is_transient() => {}
        Err(error) => return Err(error.into()),
    }
    Ok(SmimeIdentity::with_external_key(
        end_entity,
        certificates,
        Arc::new(key),
    ))
}

/// Without the `pkcs11` feature there is no token configuration to act on.
#[cfg(not(feature = "pkcs11"))]
fn token_identity(_: Option<&Path>, config: &Pkcs11KeyConfig) -> Result<SmimeIdentity, Error> {
    match *config {}
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(Error::io(path))
}

fn load_smime(
    certificate: &Path,
    key: &Path,
    passphrase: Option<&[u8]>,
) -> Result<SmimeIdentity, Error> {
    let key_bytes = Zeroizing::new(read(key)?);
    let is_bundle = key
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("p12") || e.eq_ignore_ascii_case("pfx"));
    let mut certificates = Certificate::load(&read(certificate)?)?;
    if is_bundle {
        let bundle = smime_core::Pkcs12::parse(&key_bytes, passphrase.unwrap_or_default())?;
        return Ok(SmimeIdentity::new(
            bundle.certificate,
            bundle.chain,
            bundle.private_key,
        ));
    }
    let key = PrivateKey::load(&key_bytes, passphrase)?;
    let end_entity = certificates.remove(0);
    Ok(SmimeIdentity::new(end_entity, certificates, key))
}
