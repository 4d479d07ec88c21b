//! The organisation's own keys: what the gateway signs outbound mail with
//! and decrypts inbound mail with.

use std::path::Path;

use pgp_core::{Cert, Password};
use smime_core::{Certificate, DecryptionIdentity, PrivateKey};
use zeroize::Zeroizing;

use crate::config::KeyConfig;
use crate::error::Error;

/// The S/MIME identity of an organisation address.
#[derive(Debug)]
pub struct SmimeIdentity {
    /// The end-entity certificate.
    pub certificate: Certificate,
    /// Its issuing CAs, sent along with signatures.
    pub chain: Vec<Certificate>,
    key: PrivateKey,
}

impl SmimeIdentity {
    /// An identity from a certificate (with its chain) and its key.
    pub fn new(certificate: Certificate, chain: Vec<Certificate>, key: PrivateKey) -> Self {
        SmimeIdentity {
            certificate,
            chain,
            key,
        }
    }

    /// A signer with this identity.
    pub fn signer(&self) -> Result<smime_core::Signer, smime_core::Error> {
        Ok(
            smime_core::Signer::new(self.certificate.clone(), &self.key)?
                .with_chain(self.chain.iter().cloned()),
        )
    }

    /// This identity as a decryption key.
    pub fn decryption(&self) -> Result<DecryptionIdentity, smime_core::Error> {
        DecryptionIdentity::new(self.certificate.clone(), self.key.pkcs8_der())
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
        let smime = match (&config.smime_certificate, &config.smime_key) {
            (Some(certificate), Some(key)) => Some(load_smime(
                certificate,
                key,
                passphrase.as_ref().map(|p| p.as_bytes()),
            )?),
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
            address: address.to_ascii_lowercase(),
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
