//! Web Key Directory lookups over HTTPS (rustls) against a local HTTPS
//! server on loopback that serves testkit TLS certificates for
//! `openpgpkey.example.net` (advanced method) and `example.net` (direct).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use common::*;
use pgp_core::openpgp::serialize::SerializeInto;
use pgp_core::rustls::crypto::ring;
use pgp_core::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use pgp_core::rustls::server::ResolvesServerCertUsingSni;
use pgp_core::rustls::sign::CertifiedKey;
use pgp_core::rustls::{RootCertStore, ServerConfig, ServerConnection, StreamOwned};
use pgp_core::{Error, HttpsFetcher, WkdUrls, wkd_lookup};
use testkit::{KeyKind, PgpSuite, pki};

/// What the server answers for a path: status and body; chunked or not.
type Handler = dyn Fn(&str) -> (u16, Vec<u8>, bool) + Send + Sync;

fn serve(handler: Arc<Handler>) -> SocketAddr {
    let provider = Arc::new(ring::default_provider());
    let mut resolver = ResolvesServerCertUsingSni::new();
    for name in ["openpgpkey.example.net", "example.net"] {
        let identity = pki().tls_server(name, KeyKind::P256);
        let mut chain = vec![CertificateDer::from(identity.certificate_der().to_vec())];
        chain.extend(
            identity
                .chain_der()
                .iter()
                .map(|c| CertificateDer::from(c.clone())),
        );
        let key = provider
            .key_provider
            .load_private_key(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                identity.private_key_der().to_vec(),
            )))
            .unwrap();
        resolver.add(name, CertifiedKey::new(chain, key)).unwrap();
    }
    let config = Arc::new(
        ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver)),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let connection = ServerConnection::new(Arc::clone(&config)).unwrap();
            let mut tls = StreamOwned::new(connection, stream);
            let mut request = Vec::new();
            let mut byte = [0u8; 1];
            while !request.ends_with(b"\r\n\r\n") {
                match tls.read(&mut byte) {
                    Ok(1) => request.push(byte[0]),
                    _ => break,
                }
            }
            let request = String::from_utf8_lossy(&request).into_owned();
            let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
            let host = request
                .lines()
                .find_map(|l| l.strip_prefix("Host: "))
                .unwrap_or_default()
                .to_owned();
            let (status, body, chunked) = handler(&format!("https://{host}{path}"));
            let mut response = format!("HTTP/1.1 {status} X\r\nConnection: close\r\n").into_bytes();
            if chunked {
                response.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                for chunk in body.chunks(100) {
                    response.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    response.extend_from_slice(chunk);
                    response.extend_from_slice(b"\r\n");
                }
                response.extend_from_slice(b"0\r\n\r\n");
            } else {
                response.extend_from_slice(
                    format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(),
                );
                response.extend_from_slice(&body);
            }
            let _ = tls.write_all(&response);
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    address
}

fn fetcher(address: SocketAddr) -> HttpsFetcher {
    let mut roots = RootCertStore::empty();
    roots
        .add(CertificateDer::from(
            pki().root().certificate_der().to_vec(),
        ))
        .unwrap();
    HttpsFetcher::new(roots).unwrap().connect_to(address)
}

/// Serves Bob's certificate at the URL `pick` chooses (404 elsewhere) and
/// looks Bob up.
fn lookup_served_at(suite: PgpSuite, pick: fn(&WkdUrls) -> String, chunked: bool) {
    let bob = bob(suite);
    let address_of_bob: mail_message::EmailAddress = "bob@example.net".parse().unwrap();
    let served = pick(&WkdUrls::new(&address_of_bob));
    let key = public(&bob).to_vec().unwrap();
    let address = serve(Arc::new(move |url: &str| {
        if url == served {
            (200, key.clone(), chunked)
        } else {
            (404, Vec::new(), false)
        }
    }));
    let found = wkd_lookup(&address_of_bob, &fetcher(address)).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].fingerprint(), bob.cert().fingerprint());
}

#[test]
fn advanced_method_over_https_finds_the_certificate() {
    lookup_served_at(PgpSuite::Cv25519, |urls| urls.advanced.clone(), false);
}

#[test]
fn direct_method_with_chunked_answer_when_advanced_has_nothing() {
    lookup_served_at(PgpSuite::Rsa3072, |urls| urls.direct.clone(), true);
}

#[test]
fn untrusted_server_and_server_errors_are_errors_not_no_key() {
    let address = serve(Arc::new(|_: &str| (503, Vec::new(), false)));
    let result = wkd_lookup(&"bob@example.net".parse().unwrap(), &fetcher(address));
    assert!(matches!(result, Err(Error::Wkd { .. })), "{result:?}");

    let address = serve(Arc::new(|_: &str| (404, Vec::new(), false)));
    let other_roots = {
        let mut roots = RootCertStore::empty();
        let lookalike =
            pki().smime_variant("x@example.org", KeyKind::P256, testkit::Variant::LookAlike);
        roots
            .add(CertificateDer::from(lookalike.root_der().to_vec()))
            .unwrap();
        roots
    };
    let untrusting = HttpsFetcher::new(other_roots).unwrap().connect_to(address);
    let result = wkd_lookup(&"bob@example.net".parse().unwrap(), &untrusting);
    assert!(
        matches!(&result, Err(Error::Wkd { reason, .. }) if reason.contains("certificate")),
        "{result:?}"
    );
}
