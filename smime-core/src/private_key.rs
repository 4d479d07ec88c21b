//! Private keys as they come from CAs, OpenSSL and key stores.

use der::{Decode, Encode};
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncryptedPrivateKeyInfoRef, PrivateKeyInfoRef};
use rsa::pkcs1::DecodeRsaPrivateKey;
use spki::EncodePublicKey;
use zeroize::Zeroizing;

use crate::certificate::Certificate;
use crate::error::Error;
use crate::key_agreement::{EcPrivateKey, ec_private_key_from_pkcs8};
use crate::pem;

/// A private key, held as zeroized PKCS#8 DER.
///
/// [`PrivateKey::load`] accepts what users have on disk: PKCS#8 (`PRIVATE
/// KEY`), password-encrypted PKCS#8 (`ENCRYPTED PRIVATE KEY`, PBES2 as
/// OpenSSL and CAs write it), PKCS#1 RSA (`RSA PRIVATE KEY`) and SEC 1 EC
/// (`EC PRIVATE KEY`) keys, in PEM or DER. Which algorithms can then be used
/// is decided where the key is used.
///
/// ```
/// use smime_core::PrivateKey;
///
/// # let pem = testkit::pki().smime("alice@example.org", testkit::KeyKind::P256).private_key_pem();
/// let key = PrivateKey::load(pem.as_bytes(), None)?;
/// assert!(!key.pkcs8_der().is_empty());
/// # Ok::<(), smime_core::Error>(())
/// ```
pub struct PrivateKey {
    pkcs8: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(..)")
    }
}

impl PrivateKey {
    /// Reads a private key from PEM or DER; `passphrase` opens an encrypted
    /// PKCS#8 key.
    pub fn load(input: &[u8], passphrase: Option<&[u8]>) -> Result<PrivateKey, Error> {
        if pem::is_pem(input) {
            let blocks = pem::blocks(input)?;
            for block in &blocks {
                let contents = Zeroizing::new(block.contents.clone());
                match block.label.as_str() {
                    "PRIVATE KEY" => return Self::from_pkcs8(&contents),
                    "ENCRYPTED PRIVATE KEY" => return Self::from_encrypted(&contents, passphrase),
                    "RSA PRIVATE KEY" => return Self::from_pkcs1(&contents),
                    "EC PRIVATE KEY" => return Self::from_sec1(&contents),
                    _ => {}
                }
            }
            if input
                .windows(b"Proc-Type: 4,ENCRYPTED".len())
                .any(|w| w == b"Proc-Type: 4,ENCRYPTED")
            {
                return Err(Error::LegacyEncryptedKey);
            }
            return Err(Error::NoPrivateKey);
        }
        if PrivateKeyInfoRef::from_der(input).is_ok() {
            Self::from_pkcs8(input)
        } else if EncryptedPrivateKeyInfoRef::from_der(input).is_ok() {
            Self::from_encrypted(input, passphrase)
        } else if let Ok(key) = Self::from_pkcs1(input) {
            Ok(key)
        } else {
            Self::from_sec1(input).map_err(|_| Error::NoPrivateKey)
        }
    }

    /// Wraps PKCS#8 DER without looking inside.
    pub fn from_pkcs8(der: &[u8]) -> Result<PrivateKey, Error> {
        PrivateKeyInfoRef::from_der(der).map_err(|_| Error::UnsupportedPrivateKey)?;
        Ok(PrivateKey {
            pkcs8: Zeroizing::new(der.to_vec()),
        })
    }

    fn from_encrypted(der: &[u8], passphrase: Option<&[u8]>) -> Result<PrivateKey, Error> {
        let passphrase = passphrase.ok_or(Error::PassphraseRequired)?;
        let info = EncryptedPrivateKeyInfoRef::from_der(der).map_err(Error::InvalidCms)?;
        let document = info
            .decrypt(passphrase)
            .map_err(|_| Error::WrongPassphrase)?;
        Self::from_pkcs8(document.as_bytes()).map_err(|_| Error::WrongPassphrase)
    }

    fn from_pkcs1(der: &[u8]) -> Result<PrivateKey, Error> {
        let key =
            rsa::RsaPrivateKey::from_pkcs1_der(der).map_err(|_| Error::UnsupportedPrivateKey)?;
        let document = key
            .to_pkcs8_der()
            .map_err(|_| Error::UnsupportedPrivateKey)?;
        Self::from_pkcs8(document.as_bytes())
    }

    fn from_sec1(der: &[u8]) -> Result<PrivateKey, Error> {
        let document = if let Ok(key) = p256::SecretKey::from_sec1_der(der) {
            key.to_pkcs8_der()
        } else if let Ok(key) = p384::SecretKey::from_sec1_der(der) {
            key.to_pkcs8_der()
        } else {
            return Err(Error::UnsupportedPrivateKey);
        };
        let document = document.map_err(|_| Error::UnsupportedPrivateKey)?;
        Self::from_pkcs8(document.as_bytes())
    }

    /// The key as PKCS#8 DER.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key encrypted with `passphrase` for storage at rest, as an
    /// `ENCRYPTED PRIVATE KEY` PEM block (PKCS#8 with PBES2:
    /// PBKDF2-HMAC-SHA256 with [`PBKDF2_ITERATIONS`] rounds and a random
    /// salt, AES-256-CBC). PBKDF2 rather than scrypt because every PKCS#8
    /// reader (OpenSSL, NSS, Java) opens it; [`PrivateKey::load`] reads it
    /// back.
    ///
    /// ```
    /// use smime_core::PrivateKey;
    ///
    /// # let pem = testkit::pki().smime("alice@example.org", testkit::KeyKind::P256).private_key_pem();
    /// let key = PrivateKey::load(pem.as_bytes(), None)?;
    /// let stored = key.to_encrypted_pem(b"correct horse battery staple")?;
    /// assert!(stored.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    /// let opened = PrivateKey::load(stored.as_bytes(), Some(b"correct horse battery staple"))?;
    /// assert_eq!(opened.pkcs8_der(), key.pkcs8_der());
    /// # Ok::<(), smime_core::Error>(())
    /// ```
    pub fn to_encrypted_pem(&self, passphrase: &[u8]) -> Result<Zeroizing<String>, Error> {
        let mut salt = [0u8; 16];
        let mut iv = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|_| Error::Randomness)?;
        getrandom::fill(&mut iv).map_err(|_| Error::Randomness)?;
        let parameters = pkcs5::pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(
            PBKDF2_ITERATIONS,
            &salt,
            iv,
        )
        .map_err(|_| Error::UnsupportedPrivateKey)?;
        let encrypted = PrivateKeyInfoRef::from_der(&self.pkcs8)
            .map_err(|_| Error::UnsupportedPrivateKey)?
            .encrypt_with_params(parameters, passphrase)
            .map_err(|_| Error::UnsupportedPrivateKey)?;
        encrypted
            .to_pem("ENCRYPTED PRIVATE KEY", der::pem::LineEnding::LF)
            .map_err(|_| Error::UnsupportedPrivateKey)
    }
}

/// PBKDF2 rounds for keys encrypted at rest: OWASP's 2023 figure for
/// PBKDF2-HMAC-SHA256. Opening a key costs about a third of a second, once,
/// when the gateway starts.
pub const PBKDF2_ITERATIONS: u32 = 600_000;

/// A private key decoded for use, known to belong to a certificate.
pub(crate) enum KeyMaterial {
    Rsa(Box<rsa::RsaPrivateKey>),
    Ec(EcPrivateKey),
}

impl KeyMaterial {
    /// Decodes a PKCS#8 key and checks that `certificate` certifies its
    /// public key.
    pub(crate) fn for_certificate(
        pkcs8: &[u8],
        certificate: &Certificate,
    ) -> Result<KeyMaterial, Error> {
        let (key, public) = if let Ok(rsa) = rsa::RsaPrivateKey::from_pkcs8_der(pkcs8) {
            let public = rsa.to_public_key().to_public_key_der();
            (KeyMaterial::Rsa(Box::new(rsa)), public)
        } else if let Some(ec) = ec_private_key_from_pkcs8(pkcs8) {
            let public = ec.public_key_der();
            (KeyMaterial::Ec(ec), public)
        } else {
            return Err(Error::UnsupportedPrivateKey);
        };
        let public = public.map_err(|_| Error::UnsupportedPrivateKey)?;
        let certified = certificate
            .x509()
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|_| Error::UnsupportedPrivateKey)?;
        if public.as_bytes() != certified.as_slice() {
            return Err(Error::KeyDoesNotMatchCertificate);
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn pkcs1_and_sec1_keys_become_the_same_pkcs8_key() {
        let rsa = testkit::pki().smime("k@example.org", testkit::KeyKind::Rsa2048);
        let parsed = rsa::RsaPrivateKey::from_pkcs8_der(rsa.private_key_der()).unwrap();
        let pkcs1 = rsa::pkcs1::EncodeRsaPrivateKey::to_pkcs1_der(&parsed).unwrap();
        let key = PrivateKey::load(pkcs1.as_bytes(), None).unwrap();
        assert_eq!(
            rsa::RsaPrivateKey::from_pkcs8_der(key.pkcs8_der()).unwrap(),
            parsed
        );

        let ec = testkit::pki().smime("k@example.org", testkit::KeyKind::P384);
        let secret = p384::SecretKey::from_pkcs8_der(ec.private_key_der()).unwrap();
        let sec1 = secret.to_sec1_der().unwrap();
        let key = PrivateKey::load(&sec1, None).unwrap();
        assert_eq!(
            p384::SecretKey::from_pkcs8_der(key.pkcs8_der()).unwrap(),
            secret
        );
    }

    #[test]
    fn garbage_and_certificates_are_not_keys() {
        assert!(matches!(
            PrivateKey::load(b"\x30\x03\x02\x01\x00", None),
            Err(Error::NoPrivateKey)
        ));
        let pem = testkit::pki()
            .smime("k@example.org", testkit::KeyKind::P256)
            .certificate_pem();
        assert!(matches!(
            PrivateKey::load(pem.as_bytes(), None),
            Err(Error::NoPrivateKey)
        ));
    }
}
