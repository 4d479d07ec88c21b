//! The embedded directory: SQLite in the data directory.

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OptionalExtension, params};

use super::{Added, Directory, Entry, Kind, NewEntry, StoreError, TrustState, unix_seconds};

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
    use std::time::UNIX_EPOCH;

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
