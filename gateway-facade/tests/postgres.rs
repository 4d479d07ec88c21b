//! The shared certificate directory against a real PostgreSQL server, made
//! by the test in a temporary directory and listening on 127.0.0.1 only:
//! the directory's contract, two gateway nodes sharing one database,
//! concurrent harvesting, and fail-closed behaviour when the server goes
//! away (mail is deferred, and the directory reconnects when it is back).
//!
//! Needs the Debian package `postgresql`; `.ci/run` installs it and runs
//! these tests with `--ignored`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use gateway_facade::store::{Added, Directory, Kind, NewEntry, PostgresDirectory, TrustState};
use gateway_facade::{Disposition, Envelope};

/// A PostgreSQL cluster of its own, stopped when dropped.
struct Server {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    process: Option<Child>,
    _dir: tempfile::TempDir,
}

fn postgres_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is not installed (Debian package postgresql)")
        .map(|e| e.unwrap().path().join("bin"))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    versions.sort();
    versions.pop().expect("no initdb under /usr/lib/postgresql")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

/// Runs a PostgreSQL program, as the `postgres` user when we are root
/// (PostgreSQL refuses to run as root).
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    fn start() -> Server {
        let bin = postgres_bin();
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let data = dir.path().join("data");
        let output = as_postgres(&bin.join("initdb"))
            .args([
                "--auth=trust",
                "--username=mailgate",
                "--encoding=UTF8",
                "-D",
            ])
            .arg(&data)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut server = Server {
            bin,
            data,
            port: free_port(),
            process: None,
            _dir: dir,
        };
        server.run();
        server
    }

    fn run(&mut self) {
        let process = as_postgres(&self.bin.join("postgres"))
            .arg("-D")
            .arg(&self.data)
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-k",
            ])
            .arg(self.data.parent().unwrap())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.process = Some(process);
        let deadline = Instant::now() + Duration::from_secs(30);
        while postgres::Client::connect(&self.parameters(), postgres::NoTls).is_err() {
            assert!(Instant::now() < deadline, "PostgreSQL did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server immediately (as a crash or a network split would).
    fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            // pg_ctl signals the postmaster itself (runuser, our child, does
            // not pass every signal on); immediate mode drops the clients.
            let _ = as_postgres(&self.bin.join("pg_ctl"))
                .args(["stop", "-m", "immediate", "-D"])
                .arg(&self.data)
                .output();
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    fn parameters(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=mailgate dbname=postgres",
            self.port
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

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
#[ignore = "needs postgresql"]
fn the_postgres_directory_keeps_the_directory_contract_across_nodes() {
    let server = Server::start();
    let node_a = PostgresDirectory::connect(&server.parameters(), None).unwrap();
    // A second node connecting to an existing schema.
    let node_b = PostgresDirectory::connect(&server.parameters(), None).unwrap();

    let pending = node_a
        .add(&entry("aa", "Carol@Extern.example"), TrustState::Pending)
        .unwrap();
    let trusted = node_a
        .add(&entry("bb", "carol@extern.example"), TrustState::Trusted)
        .unwrap();
    assert!(matches!(pending, Added::New(_)));
    let found = node_b.trusted(Kind::Pgp, "CAROL@extern.example").unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, trusted.id());
    assert_eq!(found[0].data, vec![1, 2, 3]);
    assert_eq!(found[0].addresses, vec!["carol@extern.example".to_owned()]);
    assert!(found[0].expired_at(SystemTime::now()));
    assert!(
        node_b
            .trusted(Kind::Smime, "carol@extern.example")
            .unwrap()
            .is_empty()
    );

    // A rejection on one node holds for a harvest on the other.
    node_b
        .set_state(pending.id(), TrustState::Rejected)
        .unwrap();
    assert_eq!(
        node_a
            .add(&entry("aa", "carol@extern.example"), TrustState::Pending)
            .unwrap(),
        Added::Known(pending.id())
    );
    assert_eq!(node_a.list(Some(TrustState::Rejected)).unwrap().len(), 1);
    assert_eq!(node_a.list(None).unwrap().len(), 2);
    assert!(matches!(
        node_a.set_state(4242, TrustState::Trusted),
        Err(gateway_facade::store::StoreError::NoSuchEntry(4242))
    ));

    // Many threads harvesting the same certificate at once: one entry.
    let shared = Arc::new(node_a);
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let directory = Arc::clone(&shared);
            let other = PostgresDirectory::connect(&server.parameters(), None).unwrap();
            std::thread::spawn(move || {
                let first = directory
                    .add(&entry("cc", "d@e.example"), TrustState::Pending)
                    .unwrap();
                let second = other
                    .add(&entry("cc", "d@e.example"), TrustState::Pending)
                    .unwrap();
                (first.id(), second.id())
            })
        })
        .collect();
    let ids: Vec<(i64, i64)> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(ids.iter().all(|&(a, b)| a == ids[0].0 && b == ids[0].0));
    assert_eq!(shared.list(Some(TrustState::Pending)).unwrap().len(), 1);
}

#[test]
#[ignore = "needs postgresql"]
fn a_gateway_on_postgres_encrypts_and_defers_while_the_server_is_away() {
    let mut server = Server::start();
    let directory = Arc::new(PostgresDirectory::connect(&server.parameters(), None).unwrap());
    let bob = smime("bob@partner.example");
    trust_smime(directory.as_ref(), &bob, TrustState::Trusted);
    let gateway = gateway(directory);
    let message = mail(
        "alice@behoerde.example",
        "bob@partner.example",
        "[vertraulich] Akte",
        "Geheimer Inhalt",
    );
    let envelope = Envelope::outbound("alice@behoerde.example", ["bob@partner.example"]);

    let outcome = gateway.process(&envelope, &message);
    let Disposition::Deliver { message: sent, .. } = &outcome.dispositions[0] else {
        panic!("{outcome:?}");
    };
    let sent = &sent.to_vec().unwrap();
    assert!(!String::from_utf8_lossy(sent).contains("Geheimer Inhalt"));
    assert!(String::from_utf8_lossy(sent).contains("application/pkcs7-mime"));

    // The database goes away: the mail that needs it is deferred, never
    // delivered in clear.
    server.stop();
    let outcome = gateway.process(&envelope, &message);
    assert_eq!(outcome.dispositions.len(), 1, "{outcome:?}");
    assert!(
        matches!(outcome.dispositions[0], Disposition::Defer { .. }),
        "{outcome:?}"
    );

    // Back again: the directory reconnects by itself.
    server.run();
    let outcome = gateway.process(&envelope, &message);
    assert!(
        matches!(outcome.dispositions[0], Disposition::Deliver { .. }),
        "{outcome:?}"
    );
}

/// Runs SQL on the server directly, as an older release or an operator
/// would have left the database.
fn sql(server: &Server, statements: &str) {
    let mut client = postgres::Client::connect(&server.parameters(), postgres::NoTls).unwrap();
    client.batch_execute(statements).unwrap();
}

fn versions(server: &Server) -> Vec<i32> {
    let mut client = postgres::Client::connect(&server.parameters(), postgres::NoTls).unwrap();
    client
        .query(
            "SELECT version FROM mailgate_schema_version ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// The first release's tables, without a version table, with one entry.
const FIRST_RELEASE: &str = "
CREATE TABLE mailgate_certificates (
    id BIGSERIAL PRIMARY KEY, kind TEXT NOT NULL, fingerprint TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL, not_after BIGINT, source TEXT NOT NULL, added BIGINT NOT NULL,
    data BYTEA NOT NULL);
CREATE TABLE mailgate_addresses (
    certificate BIGINT NOT NULL REFERENCES mailgate_certificates (id) ON DELETE CASCADE,
    address TEXT NOT NULL, PRIMARY KEY (certificate, address));
INSERT INTO mailgate_certificates (kind, fingerprint, state, source, added, data)
    VALUES ('pgp', 'aa', 'trusted', 'import', 1, '\\x010203');
INSERT INTO mailgate_addresses VALUES (1, 'old@x.example');
";

#[test]
#[ignore = "needs postgresql"]
fn the_postgres_schema_is_versioned_migrated_and_a_newer_one_refused() {
    use gateway_facade::store::{POSTGRES_SCHEMA_VERSION, StoreError};
    let server = Server::start();
    // A first-release database is adopted as version 1 and migrated.
    sql(&server, FIRST_RELEASE);
    let directory = PostgresDirectory::connect(&server.parameters(), None).unwrap();
    let found = directory.trusted(Kind::Pgp, "old@x.example").unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].data, vec![1, 2, 3]);
    assert_eq!(versions(&server), vec![1, 2]);
    assert_eq!(POSTGRES_SCHEMA_VERSION, 2);
    // A second node connecting later migrates nothing.
    drop(PostgresDirectory::connect(&server.parameters(), None).unwrap());
    assert_eq!(versions(&server), vec![1, 2]);

    // A newer release has been here: refused, nothing changed.
    sql(
        &server,
        "INSERT INTO mailgate_schema_version VALUES (3, 0);",
    );
    let error = PostgresDirectory::connect(&server.parameters(), None).unwrap_err();
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
    assert!(error.to_string().contains("postgresql:postgres"), "{error}");
    assert_eq!(versions(&server), vec![1, 2, 3]);

    // Tables of the name but not the shape: refused, left alone.
    sql(
        &server,
        "DROP TABLE mailgate_schema_version, mailgate_addresses, mailgate_certificates;
         CREATE TABLE mailgate_certificates (id BIGINT);",
    );
    let error = PostgresDirectory::connect(&server.parameters(), None).unwrap_err();
    assert!(matches!(error, StoreError::NotAStore { .. }), "{error}");
    let mut client = postgres::Client::connect(&server.parameters(), postgres::NoTls).unwrap();
    let version_table: i64 = client
        .query_one(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'mailgate_schema_version'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(version_table, 0, "the refused database was changed");
    // An empty database is created at the current version.
    sql(&server, "DROP TABLE mailgate_certificates;");
    drop(PostgresDirectory::connect(&server.parameters(), None).unwrap());
    assert_eq!(versions(&server), vec![1, 2]);
}
