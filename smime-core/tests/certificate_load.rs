//! Loading certificates: bundles, variants, and the facts S/MIME relies on.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use smime_core::{Certificate, EmailAddress, Error, PemError};
use testkit::{KeyKind, Variant, pki};

fn load_one(pem: &str) -> Certificate {
    let mut certificates = Certificate::load(pem.as_bytes()).unwrap();
    assert_eq!(certificates.len(), 1);
    certificates.remove(0)
}

#[test]
fn a_bundle_loads_in_order_and_skips_keys() {
    let alice = pki().smime("alice@example.org", KeyKind::P256);
    let bundle = format!(
        "Bag Attributes: friendlyName alice\n{}{}{}{}",
        alice.certificate_pem(),
        alice.private_key_pem(),
        alice.chain_pem(),
        pki().root().certificate_pem()
    );
    let certificates = Certificate::load(bundle.as_bytes()).unwrap();
    assert_eq!(certificates.len(), 3);
    assert_eq!(certificates[0].to_der(), alice.certificate_der());
    assert!(!certificates[0].is_ca());
    assert!(certificates[1].is_ca() && certificates[2].is_ca());
    assert_eq!(
        certificates[2].subject(),
        certificates[2].issuer(),
        "root is self-issued"
    );
}

#[test]
fn validity_of_each_variant() {
    let now = SystemTime::now();
    let good = load_one(
        &pki()
            .smime("v@example.org", KeyKind::P256)
            .certificate_pem(),
    );
    let expired = load_one(
        &pki()
            .smime_variant("v@example.org", KeyKind::P256, Variant::Expired)
            .certificate_pem(),
    );
    let future = load_one(
        &pki()
            .smime_variant("v@example.org", KeyKind::P256, Variant::NotYetValid)
            .certificate_pem(),
    );
    assert!(good.is_valid_at(now));
    assert!(!expired.is_valid_at(now));
    assert!(!future.is_valid_at(now));
    // 2024-06-01: the expired certificate was valid then ("as of" checks for archives).
    assert!(expired.is_valid_at(UNIX_EPOCH + Duration::from_secs(1_717_200_000)));
}

#[test]
fn email_protection_follows_the_extended_key_usage() {
    let good = load_one(
        &pki()
            .smime("eku@example.org", KeyKind::Rsa2048)
            .certificate_pem(),
    );
    let wrong = load_one(
        &pki()
            .smime_variant("eku@example.org", KeyKind::Rsa2048, Variant::WrongEku)
            .certificate_pem(),
    );
    let server = load_one(
        &pki()
            .tls_server("mx.example.org", KeyKind::P256)
            .certificate_pem(),
    );
    assert!(good.allows_email_protection());
    assert!(!wrong.allows_email_protection());
    assert!(!server.allows_email_protection());
    assert!(
        server.email_addresses().is_empty(),
        "a dNSName is not a mailbox"
    );
    let usage = good.key_usage().unwrap();
    assert!(usage.digital_signature() && usage.key_encipherment());
}

#[test]
fn addresses_bind_without_display_names_or_case() {
    let certificate = load_one(
        &pki()
            .smime("Alice.Example@Example.org", KeyKind::P384)
            .certificate_pem(),
    );
    let from: EmailAddress = "alice.example@example.ORG".parse().unwrap();
    assert!(certificate.certifies(&from));
    let other: EmailAddress = "alice.example@example.org.evil.example".parse().unwrap();
    assert!(!certificate.certifies(&other));
}

#[test]
fn wrong_inputs_get_errors_that_say_what_is_wrong() {
    let key = pki()
        .smime("k@example.org", KeyKind::P256)
        .private_key_pem();
    assert!(matches!(
        Certificate::load(key.as_bytes()),
        Err(Error::NoCertificate)
    ));
    assert!(matches!(Certificate::load(b""), Err(Error::NoCertificate)));
    assert!(matches!(
        Certificate::load(b"\x30\x03\x02\x01"),
        Err(Error::MalformedCertificate { index: 1, .. })
    ));

    let good = pki().root().certificate_pem();
    let mut der = pki().root().certificate_der().to_vec();
    der.truncate(der.len() - 10);
    let broken = der::pem::encode_string("CERTIFICATE", der::pem::LineEnding::LF, &der).unwrap();
    let error = Certificate::load(format!("{good}{broken}").as_bytes()).unwrap_err();
    assert!(
        matches!(error, Error::MalformedCertificate { index: 2, .. }),
        "{error}"
    );
    assert!(error.to_string().starts_with("certificate 2:"), "{error}");

    let unterminated = &good[..good.len() - 10];
    assert!(matches!(
        Certificate::load(unterminated.as_bytes()),
        Err(Error::Pem(PemError::Unterminated { block: 1, .. }))
    ));

    // DER followed by junk is not silently truncated.
    let mut trailing = pki().root().certificate_der().to_vec();
    trailing.extend_from_slice(b"junk");
    assert!(Certificate::from_der(&trailing).is_err());
}
