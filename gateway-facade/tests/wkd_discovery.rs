//! Outbound key discovery through the Web Key Directory: a recipient the
//! directory has no key for, whose domain publishes one over HTTPS (an
//! OpenSSL server on loopback with a testkit certificate for
//! `openpgpkey.extern.example`), gets mail gpg decrypts with that key; the
//! key waits in the directory as pending. Without an answer the policy's
//! fallback applies, never clear text.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::*;
use gateway_facade::store::{Directory, TrustState};
use gateway_facade::{Disposition, Envelope};
use pgp_core::HttpsFetcher;
use pgp_core::openpgp::serialize::SerializeInto;
use testkit::{KeyKind, PortServer};

/// The WKD of extern.example: every key path answers with `key`.
fn wkd_server(dir: &Path, key: &[u8]) -> PortServer {
    testkit::pki()
        .tls_server("openpgpkey.extern.example", KeyKind::P256)
        .write_server_files(dir, "wkd")
        .unwrap();
    std::fs::write(dir.join("key.bin"), key).unwrap();
    PortServer::spawn(
        Command::new("python3")
            .arg(
                Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../tls-policy/tests/support/https_server.py"),
            )
            .args(["--cert", "wkd.pem", "--key", "wkd.key", "--body", "key.bin"])
            .args(["--content-type", "application/octet-stream"])
            .args(["--prefix", "/.well-known/openpgpkey/"])
            .current_dir(dir),
    )
}

fn fetcher(port: u16) -> Arc<HttpsFetcher> {
    let mut roots = pgp_core::rustls::RootCertStore::empty();
    roots
        .add(testkit::pki().root().certificate_der().to_vec().into())
        .unwrap();
    Arc::new(
        HttpsFetcher::new(roots)
            .unwrap()
            .connect_to(SocketAddr::from(([127, 0, 0, 1], port))),
    )
}

#[test]
fn a_key_from_the_recipients_wkd_encrypts_and_waits_for_approval() {
    let dir = tempfile::tempdir().unwrap();
    let carol = pgp("carol@extern.example");
    let server = wkd_server(dir.path(), &carol.cert().to_vec().unwrap());
    let directory = directory();
    let gateway = gateway(directory.clone()).with_wkd_discovery(fetcher(server.port()));
    let outcome = gateway.process(
        &Envelope::outbound("alice@behoerde.example", ["carol@extern.example"]),
        &mail(
            "alice@behoerde.example",
            "carol@extern.example",
            "[vertraulich] Bericht",
            "Vertraulicher Bericht",
        ),
    );
    let sent = &delivered(&outcome.dispositions[0]);
    let text = String::from_utf8_lossy(sent);
    assert!(text.contains("multipart/encrypted"), "{text}");
    assert!(!text.contains("Vertraulicher Bericht"));
    let home = gpg_home(&[&carol]);
    let plain = gpg_decrypt(&home, &payload_of_pgp_mime(sent));
    assert!(String::from_utf8_lossy(&plain).contains("Vertraulicher Bericht"));

    // The discovered key is pending, from "wkd": used, not trusted.
    let pending = directory.list(Some(TrustState::Pending)).unwrap();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert!(format!("{:?}", pending[0]).contains("wkd"), "{pending:?}");
    assert!(
        directory
            .list(Some(TrustState::Trusted))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn without_an_answer_from_the_wkd_the_fallback_applies() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = wkd_server(dir.path(), b"not a key");
    let port = server.port();
    let gateway = gateway(directory()).with_wkd_discovery(fetcher(port));
    let confidential = mail(
        "alice@behoerde.example",
        "dave@extern.example",
        "[vertraulich] Akte",
        "Geheime Akte",
    );
    let envelope = Envelope::outbound("alice@behoerde.example", ["dave@extern.example"]);
    // Garbage instead of a key, then no server at all: the policy's
    // fallback for extern.example is to block, with a notification.
    for round in 0..2 {
        let outcome = gateway.process(&envelope, &confidential);
        assert!(
            matches!(outcome.dispositions[0], Disposition::Reject { .. }),
            "round {round}: {:?}",
            outcome.dispositions
        );
        server.stop();
    }
}
