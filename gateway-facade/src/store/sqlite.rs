//! The embedded directory: SQLite in the data directory.

use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

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

/// The schema, as an ordered list of migrations: `MIGRATIONS[n]` takes a
/// database from version `n` to `n + 1` (SQLite's `PRAGMA user_version`).
/// Version 1 is the schema of the first release (which did not set
/// `user_version`; such files are recognised by their tables). Append new
/// migrations; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the certificate directory.
    "
CREATE TABLE certificates (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('smime', 'pgp')),
    fingerprint TEXT NOT NULL UNIQUE,
    state       TEXT NOT NULL CHECK (state IN ('trusted', 'pending', 'rejected', 'revoked')),
    not_after   INTEGER,
    source      TEXT NOT NULL,
    added       INTEGER NOT NULL,
    data        BLOB NOT NULL
);
CREATE TABLE addresses (
    certificate INTEGER NOT NULL REFERENCES certificates (id) ON DELETE CASCADE,
    address     TEXT NOT NULL,
    PRIMARY KEY (certificate, address)
);
CREATE INDEX addresses_by_address ON addresses (address);
",
    // 1 -> 2: `certs list --state pending` (the administrator's queue)
    // without a full scan.
    // (`IF NOT EXISTS`: an operator may have added it by hand.)
    "CREATE INDEX IF NOT EXISTS certificates_by_state ON certificates (state, id);",
];

/// The schema version this build writes and understands.
pub const SQLITE_SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The columns of version 1, by table: what an unversioned file must have
/// to be taken for a store of the first release.
const VERSION_1_TABLES: &[(&str, &[&str])] = &[
    (
        "certificates",
        &[
            "id",
            "kind",
            "fingerprint",
            "state",
            "not_after",
            "source",
            "added",
            "data",
        ],
    ),
    ("addresses", &["certificate", "address"]),
];

impl SqliteDirectory {
    /// Opens the directory at `path`, creating it only if no file is there.
    ///
    /// A file that exists must be a store: an empty file (a store truncated
    /// to 0 bytes), a file that is not SQLite, a database without the
    /// directory's tables, or one written by a newer version
    /// ([`SQLITE_SCHEMA_VERSION`]) is refused with
    /// [`StoreError::NotAStore`] or [`StoreError::UnknownVersion`] and left
    /// untouched: certificates and trust decisions are never silently
    /// replaced by an empty directory. An older version is migrated, in
    /// one transaction.
    pub fn open(path: &Path) -> Result<SqliteDirectory, StoreError> {
        let connection = match std::fs::metadata(path) {
            Ok(metadata) => {
                if metadata.len() == 0 {
                    return Err(not_a_store(path, "the file is empty (0 bytes)"));
                }
                let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX
                    | OpenFlags::SQLITE_OPEN_URI;
                Connection::open_with_flags(path, flags)?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                create(path)?;
                Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE
                        | OpenFlags::SQLITE_OPEN_NO_MUTEX
                        | OpenFlags::SQLITE_OPEN_URI,
                )?
            }
            Err(e) => return Err(StoreError::Unavailable(format!("{}: {e}", path.display()))),
        };
        // Judge the file before anything writes to it (even switching the
        // journal mode writes a header into an empty file).
        let version = version_of(&connection, path)?;
        // Several gateway processes may share the file: readers never block
        // the writer (WAL), and a writer waits for another instead of failing.
        connection.busy_timeout(Duration::from_secs(10))?;
        connection.pragma_update(None, "journal_mode", "WAL")?;
        Self::with_connection(connection, version, path)
    }

    /// A directory that lives only as long as this value (tests, demos).
    pub fn in_memory() -> Result<SqliteDirectory, StoreError> {
        Self::with_connection(Connection::open_in_memory()?, 0, Path::new(":memory:"))
    }

    /// The schema version of the database, [`SQLITE_SCHEMA_VERSION`] once
    /// opened.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        Ok(self
            .connection()
            .pragma_query_value(None, "user_version", |row| row.get(0))?)
    }

    fn with_connection(
        mut connection: Connection,
        version: u32,
        path: &Path,
    ) -> Result<SqliteDirectory, StoreError> {
        connection.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut connection, version, path)?;
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

fn not_a_store(path: &Path, reason: &str) -> StoreError {
    StoreError::NotAStore {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Creates a new store at `path`: built under a temporary name next to it
/// and linked into place only when complete, so a crash never leaves a
/// half-made file that the next start would have to refuse, and a file
/// that appeared meanwhile is never replaced.
fn create(path: &Path) -> Result<(), StoreError> {
    let unavailable =
        |e: std::io::Error| StoreError::Unavailable(format!("{}: {e}", path.display()));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "store".to_owned());
    let scratch = path.with_file_name(format!(".{name}.new-{}", std::process::id()));
    let _ = std::fs::remove_file(&scratch);
    let built = (|| -> Result<(), StoreError> {
        let mut connection = Connection::open(&scratch)?;
        migrate(&mut connection, 0, path)?;
        connection.close().map_err(|(_, e)| e)?;
        Ok(())
    })();
    let linked = built.and_then(|()| match std::fs::hard_link(&scratch, path) {
        // Another process created it first: use theirs (it is judged like
        // any existing file).
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other.map_err(unavailable),
    });
    let _ = std::fs::remove_file(&scratch);
    linked
}

/// The schema version of an existing file, refusing what is not a store.
fn version_of(connection: &Connection, path: &Path) -> Result<u32, StoreError> {
    let version: u32 = match connection.pragma_query_value(None, "user_version", |row| row.get(0)) {
        Ok(v) => v,
        Err(rusqlite::Error::SqliteFailure(e, _))
            if e.code == rusqlite::ErrorCode::NotADatabase =>
        {
            return Err(not_a_store(path, "the file is not an SQLite database"));
        }
        Err(e) => return Err(e.into()),
    };
    if version > SQLITE_SCHEMA_VERSION {
        return Err(StoreError::UnknownVersion {
            path: path.to_owned(),
            found: version,
            known: SQLITE_SCHEMA_VERSION,
        });
    }
    if version == 0 {
        // Unversioned: a store of the first release has exactly the
        // version 1 tables; anything else (no tables, other tables) is not
        // ours to take over.
        let mut statement = connection.prepare("SELECT name FROM pragma_table_info(?1)")?;
        for (table, expected) in VERSION_1_TABLES {
            let columns = statement
                .query_map([table], |row| row.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            if columns.is_empty() {
                return Err(not_a_store(
                    path,
                    &format!("the database has no `{table}` table and no schema version"),
                ));
            }
            if columns
                .iter()
                .map(String::as_str)
                .ne(expected.iter().copied())
            {
                return Err(not_a_store(
                    path,
                    &format!("the `{table}` table has columns {columns:?}, not a store's"),
                ));
            }
        }
        return Ok(1);
    }
    Ok(version)
}

/// Brings the schema from `from` to [`SQLITE_SCHEMA_VERSION`] in one
/// immediate transaction (two processes migrating at once serialise; the
/// second finds the work done).
fn migrate(connection: &mut Connection, from: u32, path: &Path) -> Result<(), StoreError> {
    let transaction =
        connection.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Read again under the lock: another process may have migrated.
    let current: u32 = transaction.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let start = if current == 0 { from } else { current };
    if start > SQLITE_SCHEMA_VERSION {
        return Err(StoreError::UnknownVersion {
            path: path.to_owned(),
            found: start,
            known: SQLITE_SCHEMA_VERSION,
        });
    }
    for step in MIGRATIONS.iter().skip(start as usize) {
        transaction.execute_batch(step)?;
    }
    if current != SQLITE_SCHEMA_VERSION {
        transaction.pragma_update(None, "user_version", SQLITE_SCHEMA_VERSION)?;
    }
    transaction.commit()?;
    Ok(())
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

    /// A store as the first release wrote it: the version 1 tables, no
    /// `user_version`, one trusted certificate.
    fn first_release_store(path: &Path, user_version: u32) {
        let connection = Connection::open(path).unwrap();
        connection.execute_batch(MIGRATIONS[0]).unwrap();
        connection
            .execute(
                "INSERT INTO certificates (kind, fingerprint, state, not_after, source, added, data) \
                 VALUES ('pgp', 'aa', 'trusted', NULL, 'import', 1, x'010203')",
                [],
            )
            .unwrap();
        connection
            .execute("INSERT INTO addresses VALUES (1, 'old@x.example')", [])
            .unwrap();
        connection
            .pragma_update(None, "user_version", user_version)
            .unwrap();
    }

    #[test]
    fn a_new_file_is_created_at_the_current_version_without_leftovers()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store.sqlite");
        let directory = SqliteDirectory::open(&path)?;
        assert_eq!(directory.schema_version()?, SQLITE_SCHEMA_VERSION);
        assert_eq!(SQLITE_SCHEMA_VERSION, 2);
        let names: Vec<String> = std::fs::read_dir(dir.path())?
            .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        assert!(
            names.iter().all(|n| n.starts_with("store.sqlite")),
            "{names:?}"
        );
        // Opened again: the same store, nothing migrated twice.
        drop(directory);
        assert_eq!(SqliteDirectory::open(&path)?.schema_version()?, 2);
        Ok(())
    }

    #[test]
    fn a_file_that_is_not_a_store_is_refused_and_left_untouched()
    -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let other_tables = dir.path().join("other.sqlite");
        Connection::open(&other_tables)?.execute_batch("CREATE TABLE notes (text TEXT);")?;
        let no_tables = dir.path().join("no-tables.sqlite");
        Connection::open(&no_tables)?.pragma_update(None, "application_id", 7)?;
        let wrong_columns = dir.path().join("columns.sqlite");
        Connection::open(&wrong_columns)?.execute_batch(
            "CREATE TABLE certificates (id INTEGER PRIMARY KEY); CREATE TABLE addresses (a TEXT);",
        )?;
        let cases: [(&str, Option<&[u8]>, &str); 5] = [
            ("empty.sqlite", Some(b""), "the file is empty (0 bytes)"),
            (
                "garbage.sqlite",
                Some(&[0x42; 4096]),
                "not an SQLite database",
            ),
            ("other.sqlite", None, "no `certificates` table"),
            ("no-tables.sqlite", None, "no `certificates` table"),
            (
                "columns.sqlite",
                None,
                "the `certificates` table has columns",
            ),
        ];
        for (name, contents, reason) in cases {
            let path = dir.path().join(name);
            if let Some(bytes) = contents {
                std::fs::write(&path, bytes)?;
            }
            let before = std::fs::read(&path)?;
            let error = SqliteDirectory::open(&path).unwrap_err();
            assert!(
                matches!(&error, StoreError::NotAStore { reason: r, .. } if r.contains(reason)),
                "{name}: {error}"
            );
            assert!(error.to_string().contains(name), "{error}");
            assert_eq!(std::fs::read(&path)?, before, "{name} was changed");
            for suffix in ["-wal", "-shm", "-journal"] {
                let side = dir.path().join(format!("{name}{suffix}"));
                assert!(
                    !side.exists() || std::fs::metadata(&side)?.len() == 0,
                    "{side:?}"
                );
            }
        }
        Ok(())
    }

    #[test]
    fn a_store_from_a_newer_version_is_refused() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("store.sqlite");
        first_release_store(&path, SQLITE_SCHEMA_VERSION + 1);
        let before = std::fs::read(&path)?;
        let error = SqliteDirectory::open(&path).unwrap_err();
        assert!(
            matches!(
                error,
                StoreError::UnknownVersion {
                    found: 3,
                    known: 2,
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(std::fs::read(&path)?, before);
        Ok(())
    }

    #[test]
    fn older_stores_are_migrated_with_their_entries() -> Result<(), Box<dyn std::error::Error>> {
        // Unversioned (the first release) and version 1.
        for user_version in [0, 1] {
            let dir = tempfile::tempdir()?;
            let path = dir.path().join("store.sqlite");
            first_release_store(&path, user_version);
            let directory = SqliteDirectory::open(&path)?;
            assert_eq!(directory.schema_version()?, SQLITE_SCHEMA_VERSION);
            let found = directory.trusted(Kind::Pgp, "old@x.example")?;
            assert_eq!(found.len(), 1, "version {user_version}");
            assert_eq!(found[0].data, vec![1, 2, 3]);
            let index: i64 = directory.connection().query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 'certificates_by_state'",
                [],
                |row| row.get(0),
            )?;
            assert_eq!(index, 1);
            directory.add(&entry("bb", "new@x.example"), TrustState::Pending)?;
            assert_eq!(directory.list(None)?.len(), 2);
        }
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
