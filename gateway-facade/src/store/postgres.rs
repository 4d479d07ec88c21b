//! The shared directory: PostgreSQL, for several gateway nodes that must see
//! the same certificates and the same trust decisions.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use postgres::{Client, NoTls, Row};
use zeroize::Zeroizing;

use super::{Added, Directory, Entry, Kind, NewEntry, StoreError, TrustState, unix_seconds};

/// The schema, as an ordered list of migrations: `MIGRATIONS[n]` takes the
/// database from version `n` to `n + 1`, recorded in
/// `mailgate_schema_version`. Version 1 is the schema of the first release
/// (which had no version table; such databases are recognised by their
/// tables). Append new migrations; never edit one that has shipped.
const MIGRATIONS: &[&str] = &[
    // 0 -> 1: the certificate directory.
    "
CREATE TABLE mailgate_certificates (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('smime', 'pgp')),
    fingerprint TEXT NOT NULL UNIQUE,
    state       TEXT NOT NULL CHECK (state IN ('trusted', 'pending', 'rejected', 'revoked')),
    not_after   BIGINT,
    source      TEXT NOT NULL,
    added       BIGINT NOT NULL,
    data        BYTEA NOT NULL
);
CREATE TABLE mailgate_addresses (
    certificate BIGINT NOT NULL REFERENCES mailgate_certificates (id) ON DELETE CASCADE,
    address     TEXT NOT NULL,
    PRIMARY KEY (certificate, address)
);
CREATE INDEX mailgate_addresses_by_address ON mailgate_addresses (address);
",
    // 1 -> 2: the administrator's queue (`certs list --state pending`)
    // without a full scan.
    "CREATE INDEX mailgate_certificates_by_state ON mailgate_certificates (state, id);",
];

/// The schema version this build writes and understands.
pub const POSTGRES_SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// The columns of version 1, by table: what a database without a version
/// table must have to be taken for a store of the first release.
const VERSION_1_TABLES: &[(&str, &[&str])] = &[
    (
        "mailgate_certificates",
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
    ("mailgate_addresses", &["certificate", "address"]),
];

/// The columns of `table` in the current schema, in order (empty if there
/// is no such table).
fn columns(
    transaction: &mut postgres::Transaction<'_>,
    table: &str,
) -> Result<Vec<String>, StoreError> {
    Ok(transaction
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )?
        .iter()
        .map(|row| row.get::<_, String>(0))
        .collect())
}

/// Brings the schema to [`POSTGRES_SCHEMA_VERSION`], under the schema lock:
/// a new database is created, an older one migrated; a database written by
/// a newer version, or mailgate tables that are not a store's, are refused
/// and left as they are.
fn migrate(client: &mut Client, parameters: &str) -> Result<(), StoreError> {
    let database = || {
        // The parameters may hold a password: name the database only.
        let name = parameters
            .split_whitespace()
            .find_map(|p| p.strip_prefix("dbname="))
            .unwrap_or("PostgreSQL");
        std::path::PathBuf::from(format!("postgresql:{name}"))
    };
    let mut transaction = client.transaction()?;
    transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
    let versioned = !columns(&mut transaction, "mailgate_schema_version")?.is_empty();
    let version: u32 = if versioned {
        let row = transaction.query_opt("SELECT max(version) FROM mailgate_schema_version", &[])?;
        let found: Option<i32> = row.and_then(|r| r.get(0));
        let found = found.ok_or_else(|| StoreError::NotAStore {
            path: database(),
            reason: "mailgate_schema_version is empty".into(),
        })?;
        u32::try_from(found).map_err(|_| StoreError::NotAStore {
            path: database(),
            reason: format!("schema version {found}"),
        })?
    } else {
        transaction.batch_execute(
            "CREATE TABLE mailgate_schema_version (version INTEGER NOT NULL PRIMARY KEY, \
             applied BIGINT NOT NULL)",
        )?;
        let mut present = 0;
        for (table, expected) in VERSION_1_TABLES {
            let found = columns(&mut transaction, table)?;
            if found.is_empty() {
                continue;
            }
            present += 1;
            if found
                .iter()
                .map(String::as_str)
                .ne(expected.iter().copied())
            {
                return Err(StoreError::NotAStore {
                    path: database(),
                    reason: format!("the `{table}` table has columns {found:?}, not a store's"),
                });
            }
        }
        match present {
            0 => 0,
            n if n == VERSION_1_TABLES.len() => 1,
            _ => {
                return Err(StoreError::NotAStore {
                    path: database(),
                    reason: "only some of the mailgate tables exist".into(),
                });
            }
        }
    };
    if version > POSTGRES_SCHEMA_VERSION {
        return Err(StoreError::UnknownVersion {
            path: database(),
            found: version,
            known: POSTGRES_SCHEMA_VERSION,
        });
    }
    for (done, step) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        transaction.batch_execute(step)?;
        let reached = i32::try_from(done + 1).unwrap_or(i32::MAX);
        transaction.execute(
            "INSERT INTO mailgate_schema_version (version, applied) VALUES ($1, $2)",
            &[&reached, &unix_seconds(SystemTime::now())],
        )?;
    }
    if version == 1 && !versioned {
        // The first release's tables, adopted: record that they were there.
        transaction.execute(
            "INSERT INTO mailgate_schema_version (version, applied) VALUES (1, 0)",
            &[],
        )?;
    }
    transaction.commit()?;
    Ok(())
}

/// Serialises schema creation between nodes starting at the same moment
/// (`CREATE TABLE IF NOT EXISTS` alone races in PostgreSQL). Any constant
/// works as long as every node uses the same one.
const SCHEMA_LOCK: i64 = 0x6d61_696c_6761_7465; // "mailgate"

const COLUMNS: &str = "c.id, c.kind, c.fingerprint, c.state, c.not_after, c.source, c.data, \
     ARRAY(SELECT a.address FROM mailgate_addresses a WHERE a.certificate = c.id ORDER BY a.address)";

/// A certificate directory in PostgreSQL, shared by several gateway nodes.
/// Tables are created on first use (`mailgate_certificates`,
/// `mailgate_addresses`, and `mailgate_schema_version`, which records the
/// schema version: an older schema is migrated on connect, a newer one or
/// mailgate tables of another shape are refused with
/// [`StoreError::UnknownVersion`] or [`StoreError::NotAStore`] and left as
/// they are). A lost connection is re-established on the next
/// call; until then calls fail with [`StoreError::Postgres`], and the gateway
/// defers mail that depends on the directory.
///
/// The connection is made without TLS: run the database on the same host or
/// reach it through a tunnel or a local socket.
///
/// ```no_run
/// use gateway_facade::store::{Directory, Kind, PostgresDirectory};
///
/// let directory = PostgresDirectory::connect("host=127.0.0.1 user=mailgate dbname=mailgate", None)?;
/// let certificates = directory.trusted(Kind::Smime, "bob@partner.example")?;
/// # Ok::<(), gateway_facade::store::StoreError>(())
/// ```
pub struct PostgresDirectory {
    parameters: String,
    password: Option<Zeroizing<String>>,
    client: Mutex<Option<Client>>,
}

impl std::fmt::Debug for PostgresDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The parameters may hold a password; they are not printed.
        f.debug_struct("PostgresDirectory").finish_non_exhaustive()
    }
}

impl PostgresDirectory {
    /// Connects with libpq-style parameters (`host=... port=... user=...
    /// dbname=...`) or a `postgresql://` URL, and creates the tables if they
    /// do not exist (or migrates them to [`POSTGRES_SCHEMA_VERSION`]). `password` is used unless the parameters carry one.
    pub fn connect(parameters: &str, password: Option<&str>) -> Result<Self, StoreError> {
        let directory = PostgresDirectory {
            parameters: parameters.to_owned(),
            password: password.map(|p| Zeroizing::new(p.to_owned())),
            client: Mutex::new(None),
        };
        let mut client = directory.new_client()?;
        migrate(&mut client, parameters)?;
        *directory.lock() = Some(client);
        Ok(directory)
    }

    fn new_client(&self) -> Result<Client, StoreError> {
        let mut config: postgres::Config = self
            .parameters
            .parse()
            .map_err(|e: postgres::Error| StoreError::Unavailable(e.to_string()))?;
        if let (Some(password), None) = (&self.password, config.get_password()) {
            config.password(password.as_bytes());
        }
        config
            .application_name("mailgate")
            .connect_timeout(std::time::Duration::from_secs(10));
        Ok(config.connect(NoTls)?)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Client>> {
        // A panic while holding the lock leaves at worst a connection in an
        // unknown state; it is checked before use below.
        self.client.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `work` on a live connection, reconnecting first if the last one
    /// was lost.
    fn with_client<T>(
        &self,
        work: impl FnOnce(&mut Client) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.lock();
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = None;
            *guard = Some(self.new_client()?);
        }
        let Some(client) = guard.as_mut() else {
            return Err(StoreError::Unavailable("no connection".into()));
        };
        let result = work(client);
        if client.is_closed() {
            *guard = None;
        }
        result
    }
}

fn entry(row: &Row) -> Result<Entry, StoreError> {
    let kind: String = row.try_get(1)?;
    let state: String = row.try_get(3)?;
    let not_after: Option<i64> = row.try_get(4)?;
    Ok(Entry {
        id: row.try_get(0)?,
        kind: Kind::from_column(&kind).ok_or(StoreError::Corrupt(kind))?,
        fingerprint: row.try_get(2)?,
        addresses: row.try_get(7)?,
        state: TrustState::from_column(&state).ok_or(StoreError::Corrupt(state))?,
        not_after: not_after.and_then(|t| u64::try_from(t).ok()),
        source: row.try_get(5)?,
        data: row.try_get(6)?,
    })
}

fn entries(rows: &[Row]) -> Result<Vec<Entry>, StoreError> {
    rows.iter().map(entry).collect()
}

impl Directory for PostgresDirectory {
    fn trusted(&self, kind: Kind, address: &str) -> Result<Vec<Entry>, StoreError> {
        let address = address.to_ascii_lowercase();
        self.with_client(|client| {
            let rows = client.query(
                &format!(
                    "SELECT {COLUMNS} FROM mailgate_certificates c \
                     JOIN mailgate_addresses a0 ON a0.certificate = c.id \
                     WHERE a0.address = $1 AND c.kind = $2 AND c.state = 'trusted' ORDER BY c.id"
                ),
                &[&address, &kind.as_str()],
            )?;
            entries(&rows)
        })
    }

    fn add(&self, new: &NewEntry, state: TrustState) -> Result<Added, StoreError> {
        self.with_client(|client| {
            let mut transaction = client.transaction()?;
            // Two nodes harvesting the same certificate at once: one insert
            // wins, the other finds it.
            let inserted = transaction.query_opt(
                "INSERT INTO mailgate_certificates \
                 (kind, fingerprint, state, not_after, source, added, data) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (fingerprint) DO NOTHING RETURNING id",
                &[
                    &new.kind.as_str(),
                    &new.fingerprint,
                    &state.as_str(),
                    &new.not_after.map(unix_seconds),
                    &new.source,
                    &unix_seconds(SystemTime::now()),
                    &new.data,
                ],
            )?;
            let Some(row) = inserted else {
                let id: i64 = transaction
                    .query_one(
                        "SELECT id FROM mailgate_certificates WHERE fingerprint = $1",
                        &[&new.fingerprint],
                    )?
                    .try_get(0)?;
                return Ok(Added::Known(id));
            };
            let id: i64 = row.try_get(0)?;
            for address in &new.addresses {
                transaction.execute(
                    "INSERT INTO mailgate_addresses (certificate, address) VALUES ($1, $2) \
                     ON CONFLICT DO NOTHING",
                    &[&id, &address.to_ascii_lowercase()],
                )?;
            }
            transaction.commit()?;
            Ok(Added::New(id))
        })
    }

    fn list(&self, state: Option<TrustState>) -> Result<Vec<Entry>, StoreError> {
        self.with_client(|client| {
            let rows = match state {
                Some(state) => client.query(
                    &format!(
                        "SELECT {COLUMNS} FROM mailgate_certificates c WHERE c.state = $1 ORDER BY c.id"
                    ),
                    &[&state.as_str()],
                )?,
                None => client.query(
                    &format!("SELECT {COLUMNS} FROM mailgate_certificates c ORDER BY c.id"),
                    &[],
                )?,
            };
            entries(&rows)
        })
    }

    fn set_state(&self, id: i64, state: TrustState) -> Result<(), StoreError> {
        self.with_client(|client| {
            let changed = client.execute(
                "UPDATE mailgate_certificates SET state = $1 WHERE id = $2",
                &[&state.as_str(), &id],
            )?;
            if changed == 0 {
                return Err(StoreError::NoSuchEntry(id));
            }
            Ok(())
        })
    }
}
