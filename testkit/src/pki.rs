//! The test PKI: a root, an intermediate, and the end entities issued below them.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use x509_cert::name::Name;

use crate::key::{KeyKind, PrivateKey};
use crate::x509::{EMAIL_PROTECTION, Period, Role, SERVER_AUTH, issue, subject_of};

const ROOT_SUBJECT: &str = "CN=Mailgate Test Root CA,O=Mailgate Test,C=DE";
const INTERMEDIATE_SUBJECT: &str = "CN=Mailgate Test S/MIME CA,O=Mailgate Test,C=DE";
const ORGANISATION: &str = "O=Mailgate Test,C=DE";

/// CAs: valid for the whole life of the test suite.
const CA_PERIOD: Period = Period {
    from: (2024, 1, 1),
    until: (2050, 1, 1),
};
/// End entities that are valid now (and for years to come).
const VALID_PERIOD: Period = Period {
    from: (2025, 1, 1),
    until: (2045, 1, 1),
};
const EXPIRED_PERIOD: Period = Period {
    from: (2024, 1, 1),
    until: (2025, 1, 1),
};
const FUTURE_PERIOD: Period = Period {
    from: (2090, 1, 1),
    until: (2091, 1, 1),
};

/// How an S/MIME end-entity certificate is made, good or deliberately bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Variant {
    /// Valid 2025 to 2045, emailProtection, issued by the test intermediate.
    Good,
    /// Valid during 2024 only (inside the CAs' validity, so mail signed then verifies as of then).
    Expired,
    /// Valid from 2090 on.
    NotYetValid,
    /// Valid, but its only extended key usage is serverAuth.
    WrongEku,
    /// Identical names and extensions, but issued by a look-alike root and
    /// intermediate with the same subject names and different keys: a chain
    /// that must not validate to the real root.
    LookAlike,
}

impl Variant {
    /// Every variant, for tests that cover all of them.
    pub const ALL: [Variant; 5] = [
        Variant::Good,
        Variant::Expired,
        Variant::NotYetValid,
        Variant::WrongEku,
        Variant::LookAlike,
    ];

    /// A short lower-case name, used in labels and file names.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Good => "good",
            Variant::Expired => "expired",
            Variant::NotYetValid => "not-yet-valid",
            Variant::WrongEku => "wrong-eku",
            Variant::LookAlike => "look-alike",
        }
    }
}

/// A certificate authority of the test PKI.
pub struct Authority {
    certificate: Vec<u8>,
    key: PrivateKey,
    name: Name,
}

impl Authority {
    fn root(label: &str) -> Authority {
        let key = PrivateKey::derive(KeyKind::Rsa3072, &format!("{label}/root"));
        let certificate = issue(ROOT_SUBJECT, None, Role::Root, CA_PERIOD, &key, &key);
        Authority {
            name: subject_of(&certificate),
            certificate,
            key,
        }
    }

    fn intermediate(label: &str, root: &Authority) -> Authority {
        let key = PrivateKey::derive(KeyKind::Rsa3072, &format!("{label}/intermediate"));
        let certificate = issue(
            INTERMEDIATE_SUBJECT,
            Some(&root.name),
            Role::Intermediate,
            CA_PERIOD,
            &key,
            &root.key,
        );
        Authority {
            name: subject_of(&certificate),
            certificate,
            key,
        }
    }

    /// The CA certificate in DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate
    }

    /// The CA certificate in PEM.
    pub fn certificate_pem(&self) -> String {
        pem("CERTIFICATE", &self.certificate)
    }

    /// The CA's private key as unencrypted PKCS#8 PEM, for tests that let
    /// a real CA program (`openssl ca`, `openssl ocsp`) act as this CA:
    /// revoke, publish CRLs, answer OCSP requests.
    pub fn private_key_pem(&self) -> String {
        pem("PRIVATE KEY", &self.key.to_pkcs8_der())
    }

    /// Writes `DIR/STEM.cert.pem` and `DIR/STEM.key.pem` (mode 0600).
    pub fn write_to(&self, dir: &Path, stem: &str) -> io::Result<(PathBuf, PathBuf)> {
        let certificate = dir.join(format!("{stem}.cert.pem"));
        let key = dir.join(format!("{stem}.key.pem"));
        fs::write(&certificate, self.certificate_pem())?;
        write_private(&key, self.private_key_pem().as_bytes())?;
        Ok((certificate, key))
    }
}

/// Writes a file readable by its owner only (keys of the test CAs).
fn write_private(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path)?.write_all(contents)
}

/// A certified key pair: an end entity of the test PKI.
pub struct Identity {
    kind: KeyKind,
    certificate: Vec<u8>,
    private_key: Vec<u8>,
    chain: Vec<Vec<u8>>,
    root: Vec<u8>,
}

impl Identity {
    /// The algorithm and size of the key.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The end-entity certificate in DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate
    }

    /// The end-entity certificate in PEM.
    pub fn certificate_pem(&self) -> String {
        pem("CERTIFICATE", &self.certificate)
    }

    /// The private key as unencrypted PKCS#8 DER.
    pub fn private_key_der(&self) -> &[u8] {
        &self.private_key
    }

    /// The private key as unencrypted PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    pub fn private_key_pem(&self) -> String {
        pem("PRIVATE KEY", &self.private_key)
    }

    /// The issuing CA certificates in DER, from the issuer up to but excluding the root.
    pub fn chain_der(&self) -> &[Vec<u8>] {
        &self.chain
    }

    /// The issuing CA certificates as one PEM bundle.
    pub fn chain_pem(&self) -> String {
        self.chain
            .iter()
            .map(|cert| pem("CERTIFICATE", cert))
            .collect()
    }

    /// The root this identity chains to (the look-alike root for [`Variant::LookAlike`]).
    pub fn root_der(&self) -> &[u8] {
        &self.root
    }

    /// Writes the identity into `dir` as `STEM.cert.pem`, `STEM.cert.der`,
    /// `STEM.key.pem`, `STEM.key.der`, `STEM.chain.pem` and `STEM.root.pem`, for
    /// handing to `openssl`, `gpgsm` and the `mailgate` binary.
    pub fn write_to(&self, dir: &Path, stem: &str) -> io::Result<IdentityFiles> {
        let path = |suffix: &str| dir.join(format!("{stem}.{suffix}"));
        let files = IdentityFiles {
            certificate_pem: path("cert.pem"),
            certificate_der: path("cert.der"),
            private_key_pem: path("key.pem"),
            private_key_der: path("key.der"),
            chain_pem: path("chain.pem"),
            root_pem: path("root.pem"),
        };
        fs::write(&files.certificate_pem, self.certificate_pem())?;
        fs::write(&files.certificate_der, &self.certificate)?;
        fs::write(&files.private_key_pem, self.private_key_pem())?;
        fs::write(&files.private_key_der, &self.private_key)?;
        fs::write(&files.chain_pem, self.chain_pem())?;
        fs::write(&files.root_pem, pem("CERTIFICATE", &self.root))?;
        Ok(files)
    }
}

impl Identity {
    /// Writes the certificate followed by its chain to `DIR/STEM.pem` and
    /// the key to `DIR/STEM.key`, as TLS servers load them.
    pub fn write_server_files(&self, dir: &Path, stem: &str) -> io::Result<()> {
        fs::write(
            dir.join(format!("{stem}.pem")),
            self.certificate_pem() + &self.chain_pem(),
        )?;
        fs::write(dir.join(format!("{stem}.key")), self.private_key_pem())
    }
}

/// Where [`Identity::write_to`] put each file.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IdentityFiles {
    /// The end-entity certificate, PEM.
    pub certificate_pem: PathBuf,
    /// The end-entity certificate, DER.
    pub certificate_der: PathBuf,
    /// The private key, unencrypted PKCS#8 PEM.
    pub private_key_pem: PathBuf,
    /// The private key, unencrypted PKCS#8 DER.
    pub private_key_der: PathBuf,
    /// The issuing CAs below the root, PEM bundle.
    pub chain_pem: PathBuf,
    /// The root the chain leads to, PEM.
    pub root_pem: PathBuf,
}

type IdentityKey = (String, KeyKind, Variant);

/// The test PKI: a root CA, an intermediate CA, a look-alike pair with the same
/// names, and a cache of the end entities issued so far.
///
/// Use the process-wide instance from [`pki()`]; [`Pki::generate`] exists for
/// tests of the kit itself.
pub struct Pki {
    root: Authority,
    intermediate: Authority,
    look_alike_root: Authority,
    look_alike_intermediate: Authority,
    smime: Mutex<HashMap<IdentityKey, Arc<Identity>>>,
    tls: Mutex<HashMap<(String, KeyKind), Arc<Identity>>>,
}

/// The process-wide test PKI, generated on first use.
///
/// ```
/// let pki = testkit::pki();
/// let alice = pki.smime("alice@example.org", testkit::KeyKind::P256);
/// assert!(alice.certificate_pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// ```
pub fn pki() -> &'static Pki {
    static PKI: OnceLock<Pki> = OnceLock::new();
    PKI.get_or_init(Pki::generate)
}

impl Pki {
    /// Generates the CAs. Deterministic: every call yields the same certificates.
    pub fn generate() -> Pki {
        let root = Authority::root("real");
        let intermediate = Authority::intermediate("real", &root);
        let look_alike_root = Authority::root("look-alike");
        let look_alike_intermediate = Authority::intermediate("look-alike", &look_alike_root);
        Pki {
            root,
            intermediate,
            look_alike_root,
            look_alike_intermediate,
            smime: Mutex::new(HashMap::new()),
            tls: Mutex::new(HashMap::new()),
        }
    }

    /// The trust anchor of the test PKI.
    pub fn root(&self) -> &Authority {
        &self.root
    }

    /// The CA that issues every good end entity.
    pub fn intermediate(&self) -> &Authority {
        &self.intermediate
    }

    /// A good S/MIME certificate and key for `email`.
    pub fn smime(&self, email: &str, kind: KeyKind) -> Arc<Identity> {
        self.smime_variant(email, kind, Variant::Good)
    }

    /// An S/MIME certificate and key for `email`, good or deliberately bad.
    ///
    /// The subject is `CN=<email>, O=Mailgate Test, C=DE`; the address is in
    /// subjectAltName as rfc822Name.
    pub fn smime_variant(&self, email: &str, kind: KeyKind, variant: Variant) -> Arc<Identity> {
        let key = (email.to_owned(), kind, variant);
        let mut cache = self.smime.lock().unwrap_or_else(PoisonError::into_inner);
        let identity = cache.entry(key).or_insert_with(|| {
            let (issuer, root) = match variant {
                Variant::LookAlike => (&self.look_alike_intermediate, &self.look_alike_root),
                _ => (&self.intermediate, &self.root),
            };
            let period = match variant {
                Variant::Expired => EXPIRED_PERIOD,
                Variant::NotYetValid => FUTURE_PERIOD,
                _ => VALID_PERIOD,
            };
            let eku = match variant {
                Variant::WrongEku => SERVER_AUTH,
                _ => EMAIL_PROTECTION,
            };
            let role = Role::Smime {
                email: email.to_owned(),
                eku,
                rsa: kind.is_rsa(),
            };
            let label = format!("smime/{email}/{}", variant.name());
            Arc::new(end_entity(
                &format!("CN={email},{ORGANISATION}"),
                &label,
                kind,
                role,
                period,
                issuer,
                root,
            ))
        });
        Arc::clone(identity)
    }

    /// A TLS server certificate for `dns_name`, issued by the test intermediate.
    pub fn tls_server(&self, dns_name: &str, kind: KeyKind) -> Arc<Identity> {
        let mut cache = self.tls.lock().unwrap_or_else(PoisonError::into_inner);
        let identity = cache.entry((dns_name.to_owned(), kind)).or_insert_with(|| {
            let role = Role::TlsServer {
                dns_name: dns_name.to_owned(),
                rsa: kind.is_rsa(),
            };
            Arc::new(end_entity(
                &format!("CN={dns_name},{ORGANISATION}"),
                &format!("tls/{dns_name}"),
                kind,
                role,
                VALID_PERIOD,
                &self.intermediate,
                &self.root,
            ))
        });
        Arc::clone(identity)
    }
}

fn end_entity(
    subject: &str,
    label: &str,
    kind: KeyKind,
    role: Role,
    period: Period,
    issuer: &Authority,
    root: &Authority,
) -> Identity {
    let key = PrivateKey::derive(kind, label);
    let certificate = issue(subject, Some(&issuer.name), role, period, &key, &issuer.key);
    Identity {
        kind,
        certificate,
        private_key: key.to_pkcs8_der(),
        chain: vec![issuer.certificate.clone()],
        root: root.certificate.clone(),
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    #[allow(clippy::expect_used)] // the labels are constants and the input is in memory
    der::pem::encode_string(label, der::pem::LineEnding::LF, der).expect("PEM encoding")
}
