//! Organisation keys imported with `mailgate keys import`, kept in
//! `DATA_DIR/keys` and encrypted at rest.
//!
//! Files are named by address and kind, so an administrator sees what is
//! there: `ADDRESS.smime.cert.pem` (certificate and chain),
//! `ADDRESS.smime.key.pem` (PKCS#8, PBES2 with PBKDF2-HMAC-SHA256 and
//! AES-256-CBC, which `openssl pkey` opens) and `ADDRESS.pgp.sec.asc` (a
//! transferable secret key whose secret keys are encrypted with the same
//! passphrase, which `gpg --import` accepts). The passphrase comes from the
//! environment variable [`Config::key_passphrase_env`] names, both when
//! importing and when the gateway starts; nothing is ever written in clear.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use mail_message::EmailAddress;
use pgp_core::{Cert, Password};
use smime_core::{Certificate, Pkcs12, PrivateKey};
use zeroize::Zeroizing;

use crate::certificates::{hex, looks_like_openpgp};
use crate::config::{Config, KeyConfig};
use crate::error::Error;
use crate::passphrase::Passphrase;

/// The sub-directory of the data directory that holds imported keys.
pub const KEYS_DIR: &str = "keys";

const SMIME_CERTIFICATE: &str = ".smime.cert.pem";
const SMIME_KEY: &str = ".smime.key.pem";
const PGP_KEY: &str = ".pgp.sec.asc";

/// What [`KeyVault::import`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    /// An S/MIME certificate with its private key.
    Smime {
        /// The organisation address the key now signs and decrypts for.
        address: String,
        /// SHA-256 fingerprint of the certificate (hex).
        fingerprint: String,
        /// End of the certificate's validity.
        not_after: SystemTime,
        /// The files written.
        files: Vec<PathBuf>,
    },
    /// An OpenPGP secret key.
    Pgp {
        /// The organisation address the key now signs and decrypts for.
        address: String,
        /// The certificate's fingerprint (hex).
        fingerprint: String,
        /// The file written.
        files: Vec<PathBuf>,
    },
}

impl Imported {
    /// The address the key was stored for.
    pub fn address(&self) -> &str {
        match self {
            Imported::Smime { address, .. } | Imported::Pgp { address, .. } => address,
        }
    }

    /// The files written.
    pub fn files(&self) -> &[PathBuf] {
        match self {
            Imported::Smime { files, .. } | Imported::Pgp { files, .. } => files,
        }
    }
}

/// Why a key file was not imported.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The at-rest passphrase is not available.
    #[error("keys are stored encrypted at rest, but there is no passphrase: {0}")]
    NoPassphrase(crate::PassphraseError),
    /// The file is neither an OpenPGP secret key, nor PKCS#12, nor PEM with
    /// a certificate and its key.
    #[error(
        "not a key file: give an OpenPGP secret key, a PKCS#12 bundle, or PEM with the certificate and its private key ({0})"
    )]
    Unrecognised(String),
    /// The key certifies no address, several (choose one), or not the one
    /// asked for.
    #[error("{0}")]
    Address(String),
    /// A key of that kind is already configured or stored for the address.
    #[error("{0}")]
    Exists(String),
    /// The key material is unusable (wrong passphrase, key and certificate
    /// do not match, weak key, ...).
    #[error(transparent)]
    Gateway(#[from] Error),
}

/// The organisation keys in `DATA_DIR/keys`.
///
/// ```no_run
/// use gateway_facade::{Config, KeyVault};
///
/// let config = Config::load("/etc/mailgate/mailgate.toml".as_ref())?;
/// let vault = KeyVault::new(&config);
/// // MAILGATE_KEY_PASSPHRASE protects what is stored.
/// let imported = vault.import(&std::fs::read("alice.p12")?, Some(b"transport password"), None)?;
/// println!("stored {} for {}", imported.files()[0].display(), imported.address());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct KeyVault {
    dir: PathBuf,
    passphrase: Passphrase,
    configured: Vec<KeyConfig>,
}

impl KeyVault {
    /// The vault of a gateway configuration.
    pub fn new(config: &Config) -> KeyVault {
        KeyVault {
            dir: config.data_dir.join(KEYS_DIR),
            passphrase: config.key_passphrase.clone(),
            configured: config.keys.clone(),
        }
    }

    /// The directory the keys live in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Imports a key file: an OpenPGP secret key (armored or binary), a
    /// PKCS#12 bundle, or PEM holding a certificate (with its chain) and its
    /// private key. `passphrase` opens the file when it is protected;
    /// `address` chooses among the addresses the key certifies (needed only
    /// when there are several). The key is re-encrypted with the at-rest
    /// passphrase before anything is written.
    pub fn import(
        &self,
        bytes: &[u8],
        passphrase: Option<&[u8]>,
        address: Option<&str>,
    ) -> Result<Imported, ImportError> {
        let at_rest = self.passphrase()?;
        if looks_like_openpgp(bytes) {
            self.import_pgp(bytes, passphrase, address, &at_rest)
        } else {
            self.import_smime(bytes, passphrase, address, &at_rest)
        }
    }

    /// The stored keys, one entry per address, for the gateway to load.
    /// A missing directory holds no keys.
    pub fn key_configs(&self) -> Result<Vec<KeyConfig>, Error> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(&self.dir)(e)),
        };
        let mut configs: BTreeMap<String, KeyConfig> = BTreeMap::new();
        for entry in entries {
            let name = entry.map_err(Error::io(&self.dir))?.file_name();
            let Some(name) = name.to_str() else { continue };
            let (address, smime) = if let Some(a) = name.strip_suffix(SMIME_KEY) {
                (a, true)
            } else if let Some(a) = name.strip_suffix(PGP_KEY) {
                (a, false)
            } else {
                continue;
            };
            let config = configs
                .entry(address.to_owned())
                .or_insert_with(|| KeyConfig {
                    address: address.to_owned(),
                    smime_certificate: None,
                    smime_key: None,
                    pgp_key: None,
                    passphrase: Some(self.passphrase.clone()),
                    pkcs11: None,
                });
            if smime {
                config.smime_certificate = Some(self.path(address, SMIME_CERTIFICATE));
                config.smime_key = Some(self.path(address, SMIME_KEY));
            } else {
                config.pgp_key = Some(self.path(address, PGP_KEY));
            }
        }
        Ok(configs.into_values().collect())
    }

    fn passphrase(&self) -> Result<Zeroizing<String>, ImportError> {
        self.passphrase.read().map_err(ImportError::NoPassphrase)
    }

    fn path(&self, address: &str, suffix: &str) -> PathBuf {
        self.dir.join(format!("{address}{suffix}"))
    }

    fn import_smime(
        &self,
        bytes: &[u8],
        passphrase: Option<&[u8]>,
        address: Option<&str>,
        at_rest: &str,
    ) -> Result<Imported, ImportError> {
        let (certificate, chain, key) = smime_identity(bytes, passphrase)?;
        let address = choose_address(
            certificate.email_addresses().iter().map(|a| a.as_str()),
            address,
            "the certificate",
        )?;
        if !certificate.allows_email_protection() {
            return Err(ImportError::Unrecognised(
                "the certificate does not allow e-mail protection (key usage or extended key usage)"
                    .into(),
            ));
        }
        self.refuse_existing(&address, SMIME_KEY, |c| c.smime_key.is_some(), "S/MIME")?;
        let stored_key = key
            .to_encrypted_pem(at_rest.as_bytes())
            .map_err(Error::from)?;
        let mut pem = certificate.to_pem();
        for issuer in &chain {
            pem.push_str(&issuer.to_pem());
        }
        let certificate_path = self.path(&address, SMIME_CERTIFICATE);
        let key_path = self.path(&address, SMIME_KEY);
        // The key last: the gateway looks for key files, so a crash in
        // between leaves an unused certificate, never a key without one.
        self.write(&certificate_path, pem.as_bytes())?;
        self.write(&key_path, stored_key.as_bytes())?;
        Ok(Imported::Smime {
            address,
            fingerprint: hex(&certificate.fingerprint_sha256()),
            not_after: certificate.not_after(),
            files: vec![certificate_path, key_path],
        })
    }

    fn import_pgp(
        &self,
        bytes: &[u8],
        passphrase: Option<&[u8]>,
        address: Option<&str>,
        at_rest: &str,
    ) -> Result<Imported, ImportError> {
        let mut certs = pgp_core::parse_certificates(bytes).map_err(Error::from)?;
        if certs.len() != 1 {
            return Err(ImportError::Unrecognised(format!(
                "the file holds {} OpenPGP keys; import one at a time",
                certs.len()
            )));
        }
        let cert: Cert = certs.swap_remove(0);
        let addresses: Vec<String> = cert
            .userids()
            .filter_map(|u| u.userid().email_normalized().ok().flatten())
            .collect();
        let address = choose_address(addresses.iter().map(String::as_str), address, "the key")?;
        self.refuse_existing(&address, PGP_KEY, |c| c.pgp_key.is_some(), "OpenPGP")?;
        let current = passphrase.map(Password::from);
        let protected =
            pgp_core::protect_secret_key(&cert, current.as_ref(), &Password::from(at_rest))
                .map_err(Error::from)?;
        // The key must work for what the gateway does with it.
        pgp_core::Signer::new(&protected, Some(&Password::from(at_rest))).map_err(Error::from)?;
        let armored = pgp_core::armored_secret_key(&protected).map_err(Error::from)?;
        let path = self.path(&address, PGP_KEY);
        self.write(&path, &armored)?;
        Ok(Imported::Pgp {
            address,
            fingerprint: cert.fingerprint().to_hex().to_ascii_lowercase(),
            files: vec![path],
        })
    }

    fn refuse_existing(
        &self,
        address: &str,
        suffix: &str,
        configured: impl Fn(&KeyConfig) -> bool,
        kind: &str,
    ) -> Result<(), ImportError> {
        if self
            .configured
            .iter()
            .any(|c| c.address == address && configured(c))
        {
            return Err(ImportError::Exists(format!(
                "mailgate.toml already configures an {kind} key for {address}; remove that [[keys]] entry first"
            )));
        }
        let path = self.path(address, suffix);
        if path.exists() {
            return Err(ImportError::Exists(format!(
                "an {kind} key for {address} is already stored in {}; remove it first to replace it",
                path.display()
            )));
        }
        Ok(())
    }

    /// Writes a file readable by the owner only, durably, replacing it
    /// atomically.
    fn write(&self, path: &Path, contents: &[u8]) -> Result<(), Error> {
        std::fs::create_dir_all(&self.dir).map_err(Error::io(&self.dir))?;
        // tempfile creates files with mode 0600 on Unix.
        let mut file = tempfile::NamedTempFile::new_in(&self.dir).map_err(Error::io(&self.dir))?;
        file.write_all(contents).map_err(Error::io(path))?;
        file.as_file().sync_all().map_err(Error::io(path))?;
        file.persist(path).map_err(|e| Error::io(path)(e.error))?;
        Ok(())
    }
}

/// The certificate, chain and key of a PKCS#12 bundle or a PEM file.
fn smime_identity(
    bytes: &[u8],
    passphrase: Option<&[u8]>,
) -> Result<(Certificate, Vec<Certificate>, PrivateKey), ImportError> {
    if !bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        return match Pkcs12::parse(bytes, passphrase.unwrap_or_default()) {
            Ok(bundle) => Ok((bundle.certificate, bundle.chain, bundle.private_key)),
            Err(e) => Err(ImportError::Unrecognised(format!("PKCS#12: {e}"))),
        };
    }
    let key = PrivateKey::load(bytes, passphrase).map_err(Error::from)?;
    let mut certificates = Certificate::load(bytes)
        .map_err(|e| ImportError::Unrecognised(format!("certificates: {e}")))?;
    let Some(index) = certificates
        .iter()
        .position(|c| smime_core::Signer::new(c.clone(), &key).is_ok())
    else {
        return Err(ImportError::Gateway(Error::Smime(
            smime_core::Error::KeyDoesNotMatchCertificate,
        )));
    };
    let certificate = certificates.remove(index);
    Ok((certificate, certificates, key))
}

/// The one address to store the key for: `wanted` if the key certifies it,
/// else the only address the key certifies. The address becomes a file
/// name, so only plain addresses are accepted.
fn choose_address<'a>(
    certified: impl Iterator<Item = &'a str>,
    wanted: Option<&str>,
    what: &str,
) -> Result<String, ImportError> {
    let mut certified: Vec<String> = certified.map(str::to_ascii_lowercase).collect();
    certified.sort();
    certified.dedup();
    let address = match wanted {
        Some(wanted) => {
            let wanted = wanted.to_ascii_lowercase();
            if !certified.contains(&wanted) {
                return Err(ImportError::Address(format!(
                    "{what} does not certify {wanted} (it certifies: {})",
                    list(&certified)
                )));
            }
            wanted
        }
        None => match certified.as_slice() {
            [one] => one.clone(),
            [] => {
                return Err(ImportError::Address(format!(
                    "{what} certifies no e-mail address"
                )));
            }
            many => {
                return Err(ImportError::Address(format!(
                    "{what} certifies several addresses ({}); choose one with --address",
                    list(many)
                )));
            }
        },
    };
    let plain = address.parse::<EmailAddress>().is_ok()
        && !address.starts_with('.')
        && address
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@.-_+=!#$%&'*^`{|}~".contains(&b));
    if !plain {
        return Err(ImportError::Address(format!(
            "{address} cannot name a key file; configure this key with a [[keys]] entry instead"
        )));
    }
    Ok(address)
}

fn list(addresses: &[String]) -> String {
    if addresses.is_empty() {
        "none".into()
    } else {
        addresses.join(", ")
    }
}
