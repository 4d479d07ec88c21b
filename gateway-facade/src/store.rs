//! The certificate directory: S/MIME certificates and OpenPGP certificates
//! of correspondents, each with a trust state.
//!
//! Harvested certificates enter as [`TrustState::Pending`]; only an
//! administrator's approval makes them [`TrustState::Trusted`], and only
//! trusted certificates are ever used to encrypt or to verify.

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

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

    fn from_column(text: &str) -> Option<Kind> {
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

    fn from_column(text: &str) -> Option<TrustState> {
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
    /// The database failed.
    #[error("certificate directory: {0}")]
    Database(#[from] rusqlite::Error),
    /// The database holds something this version does not understand.
    #[error("certificate directory holds an unexpected value: {0}")]
    Corrupt(String),
    /// No entry has this id.
    #[error("no certificate with id {0}")]
    NoSuchEntry(i64),
    /// The directory is unavailable (used by hosts and tests to inject faults).
    #[error("certificate directory unavailable: {0}")]
    Unavailable(String),
}

/// Where certificates of correspondents live. The embedded implementation is
/// [`SqliteDirectory`]; hosts may provide their own (a shared database, an
/// LDAP directory).
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

/// The embedded directory: one SQLite file, created on first use, safe for
/// several processes (WAL journal, busy timeout).
///
/// ```
/// use gateway_facade::store::{Directory, Kind, NewEntry, SqliteDirectory, TrustState};
///
/// let directory = SqliteDirectory::in_memory()?;
/// let entry = NewEntry {
///     kind: Kind::Smime,
///     fingerprint: "00ff".into(),
///     addresses: vec!["bob@partner.example".into()],
///     not_after: None,
///     data: vec![0x30, 0x00],
///     source: "import".into(),
/// };
/// let id = directory.add(&entry, TrustState::Pending)?.id();
/// assert!(directory.trusted(Kind::Smime, "bob@partner.example")?.is_empty());
/// directory.set_state(id, TrustState::Trusted)?;
/// assert_eq!(directory.trusted(Kind::Smime, "bob@partner.example")?.len(), 1);
/// # Ok::<(), gateway_facade::store::StoreError>(())
/// ```
pub struct SqliteDirectory {
    connection: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteDirectory").finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS certificates (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('smime', 'pgp')),
    fingerprint TEXT NOT NULL UNIQUE,
    state       TEXT NOT NULL CHECK (state IN ('trusted', 'pending', 'rejected', 'revoked')),
    not_after   INTEGER,
    source      TEXT NOT NULL,
    added       INTEGER NOT NULL,
    data        BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS addresses (
    certificate INTEGER NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
    address     TEXT NOT NULL,
    PRIMARY KEY (certificate, address)
);
CREATE INDEX IF NOT EXISTS addresses_by_address ON addresses (address);
";

impl SqliteDirectory {
    /// Opens (creating if needed) the directory at `path`.
    pub fn open(path: &Path) -> Result<SqliteDirectory, StoreError> {
        let connection = Connection::open(path)?;
        // Several gateway processes may share the file: readers never block
        // the writer (WAL), and a writer waits for another instead of failing.
        connection.busy_timeout(Duration::from_secs(10))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        Self::with_connection(connection)
    }

    /// A directory that lives only as long as this value (tests, demos).
    pub fn in_memory() -> Result<SqliteDirectory, StoreError> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(connection: Connection) -> Result<SqliteDirectory, StoreError> {
        connection.pragma_update(None, "foreign_keys", "ON")?;
        connection.execute_batch(SCHEMA)?;
        Ok(SqliteDirectory {
            connection: Mutex::new(connection),
        })
    }

    fn connection(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent
        // (every change is one transaction), so the poison is ignored.
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

fn entries(
    connection: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<Entry>, StoreError> {
    let mut statement = connection.prepare_cached(sql)?;
    let rows = statement.query_map(params, |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, String>(1)?,
            row.get::<_, String>(2)?,
            row.get::<_, String>(3)?,
            row.get::<_, Option<i64>>(4)?,
            row.get::<_, String>(5)?,
            row.get::<_, Vec<u8>>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, kind, fingerprint, state, not_after, source, data) = row?;
        let kind = Kind::from_column(&kind).ok_or_else(|| StoreError::Corrupt(kind.clone()))?;
        let state =
            TrustState::from_column(&state).ok_or_else(|| StoreError::Corrupt(state.clone()))?;
        let mut addresses = Vec::new();
        let mut by_id = connection.prepare_cached(
            "SELECT address FROM addresses WHERE certificate = ?1 ORDER BY address",
        )?;
        for address in by_id.query_map([id], |row| row.get::<_, String>(0))? {
            addresses.push(address?);
        }
        out.push(Entry {
            id,
            kind,
            fingerprint,
            addresses,
            state,
            not_after: not_after.and_then(|t| u64::try_from(t).ok()),
            source,
            data,
        });
    }
    Ok(out)
}

const COLUMNS: &str = "c.id, c.kind, c.fingerprint, c.state, c.not_after, c.source, c.data";

fn unix_seconds(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Directory for SqliteDirectory {
    fn trusted(&self, kind: Kind, address: &str) -> Result<Vec<Entry>, StoreError> {
        let connection = self.connection();
        entries(
            &connection,
            &format!(
                "SELECT {COLUMNS} FROM certificates c JOIN addresses a ON a.certificate = c.id \
                 WHERE a.address = ?1 AND c.kind = ?2 AND c.state = 'trusted' ORDER BY c.id"
            ),
            params![address.to_ascii_lowercase(), kind.as_str()],
        )
    }

    fn add(&self, entry: &NewEntry, state: TrustState) -> Result<Added, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction()?;
        let known: Option<i64> = transaction
            .query_row(
                "SELECT id FROM certificates WHERE fingerprint = ?1",
                [&entry.fingerprint],
                |row| row.get(0),
            )
            .optional()?;
        if let Some(id) = known {
            return Ok(Added::Known(id));
        }
        transaction.execute(
            "INSERT INTO certificates (kind, fingerprint, state, not_after, source, added, data) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                entry.kind.as_str(),
                entry.fingerprint,
                state.as_str(),
                entry.not_after.map(unix_seconds),
                entry.source,
                unix_seconds(SystemTime::now()),
                entry.data,
            ],
        )?;
        let id = transaction.last_insert_rowid();
        for address in &entry.addresses {
            transaction.execute(
                "INSERT OR IGNORE INTO addresses (certificate, address) VALUES (?1, ?2)",
                params![id, address.to_ascii_lowercase()],
            )?;
        }
        transaction.commit()?;
        Ok(Added::New(id))
    }

    fn list(&self, state: Option<TrustState>) -> Result<Vec<Entry>, StoreError> {
        let connection = self.connection();
        match state {
            Some(state) => entries(
                &connection,
                &format!("SELECT {COLUMNS} FROM certificates c WHERE c.state = ?1 ORDER BY c.id"),
                [state.as_str()],
            ),
            None => entries(
                &connection,
                &format!("SELECT {COLUMNS} FROM certificates c ORDER BY c.id"),
                [],
            ),
        }
    }

    fn set_state(&self, id: i64, state: TrustState) -> Result<(), StoreError> {
        let changed = self.connection().execute(
            "UPDATE certificates SET state = ?1 WHERE id = ?2",
            params![state.as_str(), id],
        )?;
        if changed == 0 {
            return Err(StoreError::NoSuchEntry(id));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(fingerprint: &str, address: &str) -> NewEntry {
        NewEntry {
            kind: Kind::Pgp,
            fingerprint: fingerprint.into(),
            addresses: vec![address.into()],
            not_after: Some(UNIX_EPOCH + Duration::from_secs(1_000)),
            data: vec![1, 2, 3],
            source: "import".into(),
        }
    }

    #[test]
    fn only_trusted_entries_are_found_by_address() -> Result<(), StoreError> {
        let directory = SqliteDirectory::in_memory()?;
        let pending = directory.add(&entry("aa", "Carol@Extern.example"), TrustState::Pending)?;
        let trusted = directory.add(&entry("bb", "carol@extern.example"), TrustState::Trusted)?;
        assert!(matches!(pending, Added::New(_)));
        let found = directory.trusted(Kind::Pgp, "CAROL@extern.example")?;
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].id, trusted.id());
        assert_eq!(found[0].data, vec![1, 2, 3]);
        assert!(found[0].expired_at(SystemTime::now()));
        assert!(
            directory
                .trusted(Kind::Smime, "carol@extern.example")?
                .is_empty()
        );
        Ok(())
    }

    #[test]
    fn a_known_fingerprint_keeps_its_state() -> Result<(), StoreError> {
        let directory = SqliteDirectory::in_memory()?;
        let first = directory.add(&entry("aa", "x@y.example"), TrustState::Pending)?;
        directory.set_state(first.id(), TrustState::Rejected)?;
        // Harvested again: a rejected certificate stays rejected.
        let again = directory.add(&entry("aa", "x@y.example"), TrustState::Pending)?;
        assert_eq!(again, Added::Known(first.id()));
        assert_eq!(directory.list(Some(TrustState::Rejected))?.len(), 1);
        assert!(directory.list(Some(TrustState::Pending))?.is_empty());
        Ok(())
    }

    #[test]
    fn unknown_ids_are_errors() -> Result<(), StoreError> {
        let directory = SqliteDirectory::in_memory()?;
        assert!(matches!(
            directory.set_state(42, TrustState::Trusted),
            Err(StoreError::NoSuchEntry(42))
        ));
        Ok(())
    }

    #[test]
    fn two_handles_on_one_file_see_each_other() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store.sqlite");
        let a = SqliteDirectory::open(&path)?;
        let b = SqliteDirectory::open(&path)?;
        let id = a
            .add(&entry("cc", "d@e.example"), TrustState::Pending)?
            .id();
        b.set_state(id, TrustState::Trusted)?;
        assert_eq!(a.trusted(Kind::Pgp, "d@e.example")?.len(), 1);
        Ok(())
    }
}
