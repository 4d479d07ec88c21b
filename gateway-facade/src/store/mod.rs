//! The certificate directory: S/MIME certificates and OpenPGP certificates
//! of correspondents, each with a trust state.
//!
//! Harvested certificates enter as [`TrustState::Pending`]; only an
//! administrator's approval makes them [`TrustState::Trusted`], and only
//! trusted certificates are ever used to encrypt or to verify.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{Config, DirectoryConfig};
use crate::error::Error;

#[cfg(feature = "postgres")]
mod postgres;
mod sqlite;

#[cfg(feature = "postgres")]
pub use self::postgres::{POSTGRES_SCHEMA_VERSION, PostgresDirectory};
pub use sqlite::{SQLITE_SCHEMA_VERSION, SqliteDirectory};

/// What kind of certificate an entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// An X.509 certificate for S/MIME.
    Smime,
    /// An OpenPGP certificate (transferable public key).
    Pgp,
}

impl Kind {
    /// `smime` or `pgp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Smime => "smime",
            Kind::Pgp => "pgp",
        }
    }

    pub(crate) fn from_column(text: &str) -> Option<Kind> {
        match text {
            "smime" => Some(Kind::Smime),
            "pgp" => Some(Kind::Pgp),
            _ => None,
        }
    }
}

/// Whether the gateway may use a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TrustState {
    /// Usable for encryption and verification.
    Trusted,
    /// Harvested or imported for review; not used until approved.
    Pending,
    /// An administrator refused it; harvesting it again does not revive it.
    Rejected,
    /// Withdrawn; never used again.
    Revoked,
}

impl TrustState {
    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            TrustState::Trusted => "trusted",
            TrustState::Pending => "pending",
            TrustState::Rejected => "rejected",
            TrustState::Revoked => "revoked",
        }
    }

    pub(crate) fn from_column(text: &str) -> Option<TrustState> {
        match text {
            "trusted" => Some(TrustState::Trusted),
            "pending" => Some(TrustState::Pending),
            "rejected" => Some(TrustState::Rejected),
            "revoked" => Some(TrustState::Revoked),
            _ => None,
        }
    }
}

/// A trust state name that is none of `trusted`, `pending`, `rejected`, `revoked`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown trust state {0:?}: expected trusted, pending, rejected or revoked")]
pub struct UnknownTrustState(String);

impl std::str::FromStr for TrustState {
    type Err = UnknownTrustState;
    fn from_str(s: &str) -> Result<Self, UnknownTrustState> {
        TrustState::from_column(s).ok_or_else(|| UnknownTrustState(s.to_owned()))
    }
}

/// A certificate to be added to the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    /// S/MIME or OpenPGP.
    pub kind: Kind,
    /// Lower-case hex fingerprint (SHA-256 of the DER for S/MIME, the
    /// OpenPGP fingerprint for OpenPGP).
    pub fingerprint: String,
    /// The lower-case addresses the certificate carries.
    pub addresses: Vec<String>,
    /// End of validity, if the certificate has one.
    pub not_after: Option<SystemTime>,
    /// DER (S/MIME) or binary OpenPGP certificate.
    pub data: Vec<u8>,
    /// Where it came from: `import`, `harvest:smime-signature`, `harvest:autocrypt`, ...
    pub source: String,
}

/// An entry of the directory.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    /// Stable identifier, for `approve` and `reject`.
    pub id: i64,
    /// S/MIME or OpenPGP.
    pub kind: Kind,
    /// Lower-case hex fingerprint.
    pub fingerprint: String,
    /// The lower-case addresses the certificate carries.
    pub addresses: Vec<String>,
    /// Trust state.
    pub state: TrustState,
    /// End of validity, seconds since the epoch.
    pub not_after: Option<u64>,
    /// Where it came from.
    pub source: String,
    /// The certificate itself.
    #[serde(skip)]
    pub data: Vec<u8>,
}

impl Entry {
    /// Whether the certificate has expired at `now`.
    pub fn expired_at(&self, now: SystemTime) -> bool {
        self.not_after
            .is_some_and(|end| UNIX_EPOCH + Duration::from_secs(end) < now)
    }
}

/// What [`Directory::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// A new entry with this id.
    New(i64),
    /// The certificate was known already (by fingerprint); its state is unchanged.
    Known(i64),
}

impl Added {
    /// The entry's id.
    pub fn id(self) -> i64 {
        match self {
            Added::New(id) | Added::Known(id) => id,
        }
    }
}

/// The directory could not be read or written. The gateway defers mail on
/// such errors: they are transient from the mail's point of view.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The SQLite database failed.
    #[error("certificate directory: {0}")]
    Database(#[from] rusqlite::Error),
    /// The PostgreSQL server failed or cannot be reached.
    #[cfg(feature = "postgres")]
    #[error("certificate directory (PostgreSQL): {0}")]
    Postgres(#[from] ::postgres::Error),
    /// The database holds something this version does not understand.
    #[error("certificate directory holds an unexpected value: {0}")]
    Corrupt(String),
    /// A file is where the directory should be, but it is not a store
    /// (empty, not SQLite, other tables). It is left untouched: replacing
    /// it with an empty directory would lose certificates and trust
    /// decisions without a word.
    #[error("certificate directory {}: not a mailgate store: {reason}; restore it from a backup, or move it away to start an empty one", path.display())]
    NotAStore {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The store was written by a newer version (its schema version is
    /// higher than this build knows).
    #[error("certificate directory {}: schema version {found}, but this build knows versions up to {known}; run the newer mailgate", path.display())]
    UnknownVersion {
        /// The file or database.
        path: std::path::PathBuf,
        /// The version found.
        found: u32,
        /// The newest version this build knows.
        known: u32,
    },
    /// No entry has this id.
    #[error("no certificate with id {0}")]
    NoSuchEntry(i64),
    /// The directory is unavailable (used by hosts and tests to inject faults).
    #[error("certificate directory unavailable: {0}")]
    Unavailable(String),
}

/// Where certificates of correspondents live. The embedded implementation is
/// [`SqliteDirectory`]; several gateway nodes share a `PostgresDirectory`
/// (feature `postgres`); hosts may provide their own (an LDAP directory).
pub trait Directory: Send + Sync {
    /// Trusted certificates of `kind` that carry `address` (lower case).
    fn trusted(&self, kind: Kind, address: &str) -> Result<Vec<Entry>, StoreError>;
    /// Adds a certificate in `state`, or finds it by fingerprint.
    fn add(&self, entry: &NewEntry, state: TrustState) -> Result<Added, StoreError>;
    /// Every entry, or those in one state, ordered by id.
    fn list(&self, state: Option<TrustState>) -> Result<Vec<Entry>, StoreError>;
    /// Changes the trust state of an entry.
    fn set_state(&self, id: i64, state: TrustState) -> Result<(), StoreError>;
}

/// Seconds since the epoch, as both databases store times.
pub(crate) fn unix_seconds(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The name of the SQLite directory file in the data directory.
pub const STORE_FILE: &str = "store.sqlite";

/// Opens the directory a configuration names: SQLite in the data directory
/// (created on first use), or the shared PostgreSQL database.
pub fn open_configured(config: &Config) -> Result<Arc<dyn Directory>, Error> {
    match &config.directory {
        DirectoryConfig::Sqlite => {
            std::fs::create_dir_all(&config.data_dir).map_err(Error::io(&config.data_dir))?;
            Ok(Arc::new(SqliteDirectory::open(
                &config.data_dir.join(STORE_FILE),
            )?))
        }
        #[cfg(feature = "postgres")]
        DirectoryConfig::Postgres {
            parameters,
            password_env,
        } => {
            let password = match password_env {
                Some(var) => Some(zeroize::Zeroizing::new(
                    std::env::var(var).map_err(|_| Error::MissingPassphrase(var.clone()))?,
                )),
                None => None,
            };
            Ok(Arc::new(PostgresDirectory::connect(
                parameters,
                password.as_ref().map(|p| p.as_str()),
            )?))
        }
        #[cfg(not(feature = "postgres"))]
        DirectoryConfig::Postgres { .. } => Err(Error::Config {
            path: config.data_dir.clone(),
            message: "[directory] postgres: this build has no PostgreSQL support \
                      (enable the gateway-facade feature `postgres`)"
                .into(),
        }),
    }
}
