//! The shared directory: PostgreSQL, for several gateway nodes that must see
//! the same certificates and the same trust decisions.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use postgres::{Client, NoTls, Row};
use zeroize::Zeroizing;

use super::{Added, Directory, Entry, Kind, NewEntry, StoreError, TrustState, unix_seconds};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS mailgate_certificates (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('smime', 'pgp')),
    fingerprint TEXT NOT NULL UNIQUE,
    state       TEXT NOT NULL CHECK (state IN ('trusted', 'pending', 'rejected', 'revoked')),
    not_after   BIGINT,
    source      TEXT NOT NULL,
    added       BIGINT NOT NULL,
    data        BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS mailgate_addresses (
    certificate BIGINT NOT NULL REFERENCES mailgate_certificates (id) ON DELETE CASCADE,
    address     TEXT NOT NULL,
    PRIMARY KEY (certificate, address)
);
CREATE INDEX IF NOT EXISTS mailgate_addresses_by_address ON mailgate_addresses (address);
";

/// Serialises schema creation between nodes starting at the same moment
/// (`CREATE TABLE IF NOT EXISTS` alone races in PostgreSQL). Any constant
/// works as long as every node uses the same one.
const SCHEMA_LOCK: i64 = 0x6d61_696c_6761_7465; // "mailgate"

const COLUMNS: &str = "c.id, c.kind, c.fingerprint, c.state, c.not_after, c.source, c.data, \
     ARRAY(SELECT a.address FROM mailgate_addresses a WHERE a.certificate = c.id ORDER BY a.address)";

/// A certificate directory in PostgreSQL, shared by several gateway nodes.
/// Tables are created on first use (`mailgate_certificates`,
/// `mailgate_addresses`). A lost connection is re-established on the next
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
    /// do not exist. `password` is used unless the parameters carry one.
    pub fn connect(parameters: &str, password: Option<&str>) -> Result<Self, StoreError> {
        let directory = PostgresDirectory {
            parameters: parameters.to_owned(),
            password: password.map(|p| Zeroizing::new(p.to_owned())),
            client: Mutex::new(None),
        };
        let mut client = directory.new_client()?;
        let mut transaction = client.transaction()?;
        transaction.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
        transaction.batch_execute(SCHEMA)?;
        transaction.commit()?;
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
