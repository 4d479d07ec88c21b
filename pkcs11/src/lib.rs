#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error as CryptokiError, RvError};
use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsOaepParams, PkcsOaepSource};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::{
    Attribute, AttributeType, CertificateType, KeyType, ObjectClass, ObjectHandle,
};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use smime_core::zeroize::Zeroizing;
use smime_core::{
    Certificate, DigestAlgorithm, ExternalKey, KeyOperationError, KeyTransport, SignatureScheme,
};

/// The user PIN, kept in memory that is wiped when dropped.
pub use cryptoki::types::AuthPin;

/// Which private key on the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// The key whose `CKA_LABEL` is this.
    Label(String),
    /// The key whose `CKA_ID` is these bytes (as `softhsm2-util --id` and
    /// `pkcs11-tool --id` take them in hex).
    Id(Vec<u8>),
}

impl std::fmt::Display for KeyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyRef::Label(label) => write!(f, "labelled `{label}`"),
            KeyRef::Id(id) => {
                f.write_str("with id ")?;
                id.iter().try_for_each(|b| write!(f, "{b:02x}"))
            }
        }
    }
}

/// Where a key is: the module, the token and the key on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenKeyConfig {
    /// The PKCS#11 module (shared library) of the token's vendor, e.g.
    /// `/usr/lib/softhsm/libsofthsm2.so`.
    pub module: PathBuf,
    /// The token's label (`CK_TOKEN_INFO.label`).
    pub token: String,
    /// The private key.
    pub key: KeyRef,
}

/// What can go wrong with a token key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The module cannot be loaded or initialised.
    #[error("PKCS#11 module {path}: {source}")]
    Module {
        /// The module's path.
        path: PathBuf,
        /// What cryptoki reported.
        source: CryptokiError,
    },
    /// No slot holds a token with this label (not plugged in, not
    /// initialised, or another label).
    #[error("no PKCS#11 token labelled `{0}` is present")]
    TokenNotFound(String),
    /// The PIN environment variable is not set (or not UTF-8).
    #[error("the PIN variable {0} is not set")]
    PinMissing(String),
    /// The token refused the PIN.
    #[error("token `{0}`: the PIN is wrong")]
    WrongPin(String),
    /// The token locked the PIN after too many wrong attempts.
    #[error("token `{0}`: the PIN is locked; the security officer must reset it")]
    PinLocked(String),
    /// No private key matches.
    #[error("token `{token}`: no private key {key}")]
    KeyNotFound {
        /// The token's label.
        token: String,
        /// Which key was asked for.
        key: KeyRef,
    },
    /// Several private keys match: which one signs would be a guess.
    #[error("token `{token}`: more than one private key {key}; select it by id")]
    AmbiguousKey {
        /// The token's label.
        token: String,
        /// Which key was asked for.
        key: KeyRef,
    },
    /// The key is not an RSA key.
    #[error("token `{token}`: the private key {key} is not an RSA key")]
    NotRsa {
        /// The token's label.
        token: String,
        /// Which key was asked for.
        key: KeyRef,
    },
    /// The certificate certifies another key than the token's.
    #[error("token `{token}`: the private key {key} does not belong to the certificate")]
    KeyDoesNotMatchCertificate {
        /// The token's label.
        token: String,
        /// Which key was asked for.
        key: KeyRef,
    },
    /// A certificate on the token is not a valid X.509 certificate.
    #[error("token `{token}`: certificate: {source}")]
    Certificate {
        /// The token's label.
        token: String,
        /// What smime-core reported.
        source: smime_core::Error,
    },
    /// Any other failure of the token.
    #[error("token `{token}`: {source}")]
    Token {
        /// The token's label.
        token: String,
        /// What cryptoki reported.
        source: CryptokiError,
    },
}

impl Error {
    /// Whether the token may work later without a configuration change
    /// (it is absent, or failed as a device): what a caller defers on,
    /// where a wrong PIN or a missing key needs an administrator.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::TokenNotFound(_) => true,
            Error::Token { source, .. } => is_session_lost(source),
            _ => false,
        }
    }
}

/// Reads the PIN from the environment variable `variable`.
pub fn pin_from_env(variable: &str) -> Result<AuthPin, Error> {
    std::env::var(variable)
        .map(AuthPin::from)
        .map_err(|_| Error::PinMissing(variable.to_owned()))
}

/// A private RSA key in a PKCS#11 token, usable as a
/// [`smime_core::ExternalKey`] from any number of threads.
pub struct TokenKey {
    module: Pkcs11,
    config: TokenKeyConfig,
    pin: AuthPin,
    /// The key's public modulus (big-endian), to match certificates.
    modulus: Vec<u8>,
    certificate: Option<Certificate>,
    session: Mutex<Option<Open>>,
}

/// A logged-in session and the key's handle in it.
struct Open {
    session: Session,
    key: ObjectHandle,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKey")
            .field("config", &self.config)
            .field("certificate", &self.certificate)
            .finish_non_exhaustive()
    }
}

impl TokenKey {
    /// Loads the module, logs in to the token with `pin` and finds the
    /// private key, and the certificate stored next to it (same `CKA_ID`,
    /// else same label) if there is one.
    pub fn open(config: &TokenKeyConfig, pin: AuthPin) -> Result<TokenKey, Error> {
        let module = module(&config.module)?;
        let open = connect(&module, config, &pin)?;
        let token = || config.token.clone();
        let session = &open.session;
        let attributes = session
            .get_attributes(
                open.key,
                &[
                    AttributeType::KeyType,
                    AttributeType::Modulus,
                    AttributeType::Id,
                ],
            )
            .map_err(|source| Error::Token {
                token: token(),
                source,
            })?;
        let mut modulus = None;
        let mut id = None;
        let mut rsa = false;
        for attribute in attributes {
            match attribute {
                Attribute::KeyType(kind) => rsa = kind == KeyType::RSA,
                Attribute::Modulus(value) => modulus = Some(value),
                Attribute::Id(value) => id = Some(value),
                _ => {}
            }
        }
        let (true, Some(modulus)) = (rsa, modulus) else {
            return Err(Error::NotRsa {
                token: token(),
                key: config.key.clone(),
            });
        };
        let certificate = find_certificate(session, config, id.as_deref())?;
        let key = TokenKey {
            module,
            config: config.clone(),
            pin,
            modulus: strip_zeros(&modulus).to_vec(),
            certificate: None,
            session: Mutex::new(Some(open)),
        };
        match certificate {
            Some(certificate) => {
                key.check_certificate(&certificate)?;
                Ok(TokenKey {
                    certificate: Some(certificate),
                    ..key
                })
            }
            None => Ok(key),
        }
    }

    /// The certificate found on the token next to the key, if any.
    pub fn certificate(&self) -> Option<&Certificate> {
        self.certificate.as_ref()
    }

    /// Where the key is.
    pub fn config(&self) -> &TokenKeyConfig {
        &self.config
    }

    /// Refuses a certificate that does not certify this key (compares the
    /// RSA modulus).
    pub fn check_certificate(&self, certificate: &Certificate) -> Result<(), Error> {
        let spki = certificate
            .x509()
            .tbs_certificate()
            .subject_public_key_info();
        let matches = rsa_modulus(spki.subject_public_key.raw_bytes())
            .is_some_and(|modulus| strip_zeros(modulus) == self.modulus.as_slice());
        if matches {
            Ok(())
        } else {
            Err(Error::KeyDoesNotMatchCertificate {
                token: self.config.token.clone(),
                key: self.config.key.clone(),
            })
        }
    }

    /// Runs `operation` on a logged-in session, opening one if there is
    /// none, and once more on a fresh session if the cached one turns out
    /// to be gone (token re-inserted, module reset).
    fn with_session<T>(
        &self,
        operation: impl Fn(&Session, ObjectHandle) -> Result<T, CryptokiError>,
        refused: impl Fn(CryptokiError) -> KeyOperationError,
    ) -> Result<T, KeyOperationError> {
        // A panic while holding the lock leaves nothing half-done in the
        // session that a new operation could trip over.
        let mut guard = self
            .session
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut cached = guard.is_some();
        loop {
            let open = match guard.as_ref() {
                Some(open) => open,
                None => {
                    let open =
                        connect(&self.module, &self.config, &self.pin).map_err(unavailable)?;
                    guard.insert(open)
                }
            };
            match operation(&open.session, open.key) {
                Ok(value) => return Ok(value),
                Err(error) if is_session_lost(&error) => {
                    *guard = None;
                    if !cached {
                        return Err(unavailable(Error::Token {
                            token: self.config.token.clone(),
                            source: error,
                        }));
                    }
                    cached = false;
                }
                Err(error) => return Err(refused(error)),
            }
        }
    }
}

impl ExternalKey for TokenKey {
    fn sign_digest(
        &self,
        scheme: SignatureScheme,
        digest_algorithm: DigestAlgorithm,
        digest: &[u8],
    ) -> Result<Vec<u8>, KeyOperationError> {
        if scheme != SignatureScheme::RsaPkcs1v15 {
            return Err(KeyOperationError::Unsupported(format!(
                "{scheme} on a PKCS#11 token"
            )));
        }
        // CKM_RSA_PKCS pads what it is given: the DigestInfo, so that any
        // token with raw PKCS#1 v1.5 signs every digest we use.
        let digest_info = digest_algorithm.digest_info(digest);
        self.with_session(
            |session, key| session.sign(&Mechanism::RsaPkcs, key, &digest_info),
            |error| match error {
                CryptokiError::Pkcs11(RvError::MechanismInvalid, _) => {
                    KeyOperationError::Unsupported("CKM_RSA_PKCS signing".into())
                }
                _ => KeyOperationError::Failed,
            },
        )
    }

    fn decrypt_key_transport(
        &self,
        transport: KeyTransport,
        encrypted_key: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyOperationError> {
        let oaep = |hash, mgf| {
            Mechanism::RsaPkcsOaep(PkcsOaepParams::new(hash, mgf, PkcsOaepSource::empty()))
        };
        let mechanism = match transport {
            KeyTransport::RsaPkcs1v15 => Mechanism::RsaPkcs,
            KeyTransport::RsaOaepSha1 => oaep(MechanismType::SHA1, PkcsMgfType::MGF1_SHA1),
            KeyTransport::RsaOaepSha256 => oaep(MechanismType::SHA256, PkcsMgfType::MGF1_SHA256),
            other => {
                return Err(KeyOperationError::Unsupported(format!(
                    "{other} on a PKCS#11 token"
                )));
            }
        };
        self.with_session(
            |session, key| session.decrypt(&mechanism, key, encrypted_key),
            |error| match error {
                // C_DecryptInit has not seen the ciphertext: a refusal there
                // is about the mechanism (SoftHSM 2.6 does OAEP with SHA-1
                // only) and safe to name.
                CryptokiError::Pkcs11(_, Function::DecryptInit) => {
                    KeyOperationError::Unsupported(format!("{transport} on this token"))
                }
                // Whatever the token says about the input (bad padding,
                // wrong length) is one answer: no oracle.
                _ => KeyOperationError::Failed,
            },
        )
        .map(Zeroizing::new)
    }
}

/// A [`TokenKey`] for a known certificate, opened at its first use and
/// opened again after a failed attempt: what a long-running gateway needs
/// when the token may be absent at start-up or later. While the key cannot
/// be opened, every operation is [`KeyOperationError::Unavailable`] (mail
/// waits, nothing goes out unprotected).
///
/// ```no_run
/// use std::sync::Arc;
/// use mailgate_pkcs11::{DeferredTokenKey, KeyRef, TokenKeyConfig, pin_from_env};
/// use smime_core::{Certificate, Signer};
///
/// let config = TokenKeyConfig {
///     module: "/usr/lib/softhsm/libsofthsm2.so".into(),
///     token: "mailgate".into(),
///     key: KeyRef::Label("alice".into()),
/// };
/// let certificate = Certificate::load(&std::fs::read("alice.cert.pem")?)?.remove(0);
/// let key = DeferredTokenKey::new(config, pin_from_env("MAILGATE_TOKEN_PIN")?, certificate.clone());
/// let signer = Signer::with_external_key(certificate, Arc::new(key))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct DeferredTokenKey {
    config: TokenKeyConfig,
    pin: AuthPin,
    certificate: Certificate,
    key: Mutex<Option<std::sync::Arc<TokenKey>>>,
}

impl std::fmt::Debug for DeferredTokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeferredTokenKey")
            .field("config", &self.config)
            .field("certificate", &self.certificate)
            .finish_non_exhaustive()
    }
}

impl DeferredTokenKey {
    /// The key at `config` for `certificate`; nothing is opened yet.
    pub fn new(config: TokenKeyConfig, pin: AuthPin, certificate: Certificate) -> Self {
        DeferredTokenKey {
            config,
            pin,
            certificate,
            key: Mutex::new(None),
        }
    }

    /// The key, opened now if it is not yet: [`TokenKey::open`] and
    /// [`TokenKey::check_certificate`].
    pub fn open(&self) -> Result<std::sync::Arc<TokenKey>, Error> {
        let mut guard = self
            .key
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(key) = guard.as_ref() {
            return Ok(key.clone());
        }
        let key = TokenKey::open(&self.config, self.pin.clone())?;
        key.check_certificate(&self.certificate)?;
        Ok(guard.insert(std::sync::Arc::new(key)).clone())
    }
}

impl ExternalKey for DeferredTokenKey {
    fn sign_digest(
        &self,
        scheme: SignatureScheme,
        digest_algorithm: DigestAlgorithm,
        digest: &[u8],
    ) -> Result<Vec<u8>, KeyOperationError> {
        self.open()
            .map_err(unavailable)?
            .sign_digest(scheme, digest_algorithm, digest)
    }

    fn decrypt_key_transport(
        &self,
        transport: KeyTransport,
        encrypted_key: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyOperationError> {
        self.open()
            .map_err(unavailable)?
            .decrypt_key_transport(transport, encrypted_key)
    }
}

/// Stores `certificate` on the token as a public `CKO_CERTIFICATE` object
/// with `label` and `id` (the private key's `CKA_ID`, so [`TokenKey::open`]
/// finds it): `softhsm2-util` imports keys but not certificates.
pub fn import_certificate(
    module_path: &Path,
    token: &str,
    pin: &AuthPin,
    label: &str,
    id: &[u8],
    certificate: &Certificate,
) -> Result<(), Error> {
    let module = module(module_path)?;
    let slot = find_slot(&module, token)?;
    let failed = |source| Error::Token {
        token: token.to_owned(),
        source,
    };
    let session = module.open_rw_session(slot).map_err(failed)?;
    login(&session, token, pin)?;
    use der::Encode;

    let tbs = certificate.x509().tbs_certificate();
    let der = |result: der::Result<Vec<u8>>| {
        result.map_err(|source| Error::Certificate {
            token: token.to_owned(),
            source: smime_core::Error::InvalidCms(source),
        })
    };
    session
        .create_object(&[
            Attribute::Class(ObjectClass::CERTIFICATE),
            Attribute::CertificateType(CertificateType::X_509),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
            Attribute::Subject(der(tbs.subject().to_der())?),
            Attribute::Issuer(der(tbs.issuer().to_der())?),
            Attribute::SerialNumber(der(tbs.serial_number().to_der())?),
            Attribute::Value(certificate.to_der().to_vec()),
        ])
        .map_err(failed)?;
    Ok(())
}

/// The module at `path`, loaded and initialised once per process: a second
/// `C_Initialize` would fail, and keys on the same module share it.
fn module(path: &Path) -> Result<Pkcs11, Error> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let mut modules = MODULES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(module) = modules.get(path) {
        return Ok(module.clone());
    }
    let failed = |source| Error::Module {
        path: path.to_owned(),
        source,
    };
    let module = Pkcs11::new(path).map_err(failed)?;
    match module.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        // Initialised elsewhere in this process (another library): usable.
        Ok(()) | Err(CryptokiError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(source) => return Err(failed(source)),
    }
    modules.insert(path.to_owned(), module.clone());
    Ok(module)
}

fn find_slot(module: &Pkcs11, token: &str) -> Result<Slot, Error> {
    let slots = module
        .get_slots_with_initialized_token()
        .map_err(|source| Error::Token {
            token: token.to_owned(),
            source,
        })?;
    slots
        .into_iter()
        .find(|slot| {
            module
                .get_token_info(*slot)
                .is_ok_and(|info| info.label().trim_end() == token)
        })
        .ok_or_else(|| Error::TokenNotFound(token.to_owned()))
}

fn login(session: &Session, token: &str, pin: &AuthPin) -> Result<(), Error> {
    match session.login(UserType::User, Some(pin)) {
        // Login is per application and token: another session of ours
        // may have logged in already.
        Ok(()) | Err(CryptokiError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(CryptokiError::Pkcs11(RvError::PinIncorrect | RvError::PinLenRange, _)) => {
            Err(Error::WrongPin(token.to_owned()))
        }
        Err(CryptokiError::Pkcs11(RvError::PinLocked, _)) => {
            Err(Error::PinLocked(token.to_owned()))
        }
        Err(source) => Err(Error::Token {
            token: token.to_owned(),
            source,
        }),
    }
}

/// A new logged-in session with the key found in it.
fn connect(module: &Pkcs11, config: &TokenKeyConfig, pin: &AuthPin) -> Result<Open, Error> {
    let token = &config.token;
    let failed = |source| Error::Token {
        token: token.clone(),
        source,
    };
    let slot = find_slot(module, token)?;
    let session = module.open_ro_session(slot).map_err(failed)?;
    login(&session, token, pin)?;
    let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
    template.push(match &config.key {
        KeyRef::Label(label) => Attribute::Label(label.as_bytes().to_vec()),
        KeyRef::Id(id) => Attribute::Id(id.clone()),
    });
    let keys = session.find_objects(&template).map_err(failed)?;
    let key = match keys.as_slice() {
        [key] => *key,
        [] => {
            return Err(Error::KeyNotFound {
                token: token.clone(),
                key: config.key.clone(),
            });
        }
        _ => {
            return Err(Error::AmbiguousKey {
                token: token.clone(),
                key: config.key.clone(),
            });
        }
    };
    Ok(Open { session, key })
}

/// The certificate with the key's `CKA_ID`, else with the key's label.
fn find_certificate(
    session: &Session,
    config: &TokenKeyConfig,
    id: Option<&[u8]>,
) -> Result<Option<Certificate>, Error> {
    let token = || config.token.clone();
    let mut selectors = Vec::new();
    if let Some(id) = id.filter(|id| !id.is_empty()) {
        selectors.push(Attribute::Id(id.to_vec()));
    }
    if let KeyRef::Label(label) = &config.key {
        selectors.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    for selector in selectors {
        let found = session
            .find_objects(&[Attribute::Class(ObjectClass::CERTIFICATE), selector])
            .map_err(|source| Error::Token {
                token: token(),
                source,
            })?;
        let Some(object) = found.first() else {
            continue;
        };
        let attributes = session
            .get_attributes(*object, &[AttributeType::Value])
            .map_err(|source| Error::Token {
                token: token(),
                source,
            })?;
        for attribute in attributes {
            if let Attribute::Value(der) = attribute {
                return Certificate::from_der(&der).map(Some).map_err(|source| {
                    Error::Certificate {
                        token: token(),
                        source,
                    }
                });
            }
        }
    }
    Ok(None)
}

/// Errors after which the session (or the token) is gone, not the input
/// wrong: a new session may succeed, later if not now.
fn is_session_lost(error: &CryptokiError) -> bool {
    matches!(
        error,
        CryptokiError::Pkcs11(
            RvError::SessionHandleInvalid
                | RvError::SessionClosed
                | RvError::DeviceRemoved
                | RvError::DeviceError
                | RvError::DeviceMemory
                | RvError::TokenNotPresent
                | RvError::TokenNotRecognized
                | RvError::UserNotLoggedIn
                | RvError::KeyHandleInvalid
                | RvError::ObjectHandleInvalid
                | RvError::CryptokiNotInitialized,
            _
        )
    )
}

fn unavailable(error: Error) -> KeyOperationError {
    KeyOperationError::Unavailable(Box::new(error))
}

/// The modulus of a DER `RSAPublicKey` (`SEQUENCE { INTEGER n, INTEGER e }`).
fn rsa_modulus(public_key: &[u8]) -> Option<&[u8]> {
    use der::{Decode, asn1::UintRef};

    /// `RSAPublicKey` (RFC 8017 appendix A.1.1).
    #[derive(der::Sequence)]
    struct RsaPublicKey<'a> {
        modulus: UintRef<'a>,
        _exponent: UintRef<'a>,
    }
    RsaPublicKey::from_der(public_key)
        .ok()
        .map(|key| key.modulus.as_bytes())
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}
