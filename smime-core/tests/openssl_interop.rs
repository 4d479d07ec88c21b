//! Peer: OpenSSL. Certificates and streamed (BER) CMS that `openssl` writes
//! are read correctly by smime-core, and what we re-encode OpenSSL accepts.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use der::Decode;
use smime_core::{Certificate, EmailAddress, PublicKeyAlgorithm, ber};
use testkit::{KeyKind, pki};

fn openssl(args: &[&str], dir: &Path) -> Vec<u8> {
    testkit::run_peer("openssl", args, dir)
}

#[test]
fn openssl_streamed_ber_signed_data_normalises_and_openssl_verifies_our_der() {
    let dir = tempfile::tempdir().unwrap();
    let signer = pki().smime("alice@example.org", KeyKind::Rsa2048);
    signer.write_to(dir.path(), "alice").unwrap();
    // Large enough that OpenSSL splits the content into several segments.
    let content: Vec<u8> = (0..20_000u32)
        .flat_map(|i| format!("line {i}\r\n").into_bytes())
        .collect();
    std::fs::write(dir.path().join("content.txt"), &content).unwrap();
    openssl(
        &[
            "cms",
            "-sign",
            "-stream",
            "-nodetach",
            "-binary",
            "-outform",
            "DER",
            "-in",
            "content.txt",
            "-signer",
            "alice.cert.pem",
            "-inkey",
            "alice.key.pem",
            "-certfile",
            "alice.chain.pem",
            "-out",
            "signed.ber",
        ],
        dir.path(),
    );
    let streamed = std::fs::read(dir.path().join("signed.ber")).unwrap();
    assert_eq!(
        streamed[1], 0x80,
        "OpenSSL -stream should write an indefinite length"
    );
    assert!(
        cms::content_info::ContentInfo::from_der(&streamed).is_err(),
        "input was already DER"
    );

    let normalised = ber::to_der(&streamed).unwrap();
    let parsed = cms::content_info::ContentInfo::from_der(&normalised).unwrap();
    assert_eq!(parsed.content_type, const_oid::db::rfc5911::ID_SIGNED_DATA);
    assert_eq!(
        ber::to_der(&normalised).unwrap(),
        normalised,
        "DER is a fixed point"
    );

    std::fs::write(dir.path().join("signed.der"), &normalised).unwrap();
    std::fs::write(dir.path().join("root.pem"), pki().root().certificate_pem()).unwrap();
    let verified = openssl(
        &[
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            "signed.der",
            "-CAfile",
            "root.pem",
            "-binary",
        ],
        dir.path(),
    );
    assert_eq!(
        verified, content,
        "OpenSSL recovered different content from our DER"
    );
}

#[test]
fn openssl_streamed_ber_enveloped_data_normalises() {
    let dir = tempfile::tempdir().unwrap();
    let recipient = pki().smime("bob@example.org", KeyKind::Rsa2048);
    recipient.write_to(dir.path(), "bob").unwrap();
    std::fs::write(dir.path().join("content.txt"), vec![b'x'; 5000]).unwrap();
    openssl(
        &[
            "cms",
            "-encrypt",
            "-stream",
            "-binary",
            "-aes-256-cbc",
            "-outform",
            "DER",
            "-in",
            "content.txt",
            "-out",
            "enveloped.ber",
            "bob.cert.pem",
        ],
        dir.path(),
    );
    let streamed = std::fs::read(dir.path().join("enveloped.ber")).unwrap();
    let normalised = ber::to_der(&streamed).unwrap();
    // The outer ContentInfo is DER now; the IMPLICIT [0] encryptedContent stays
    // constructed, which the CMS layer resolves (see the `ber` module docs).
    let parsed = cms::content_info::ContentInfo::from_der(&normalised).unwrap();
    assert_eq!(
        parsed.content_type,
        const_oid::db::rfc5911::ID_ENVELOPED_DATA
    );
    std::fs::write(dir.path().join("enveloped.der"), &normalised).unwrap();
    let decrypted = openssl(
        &[
            "cms",
            "-decrypt",
            "-inform",
            "DER",
            "-in",
            "enveloped.der",
            "-recip",
            "bob.cert.pem",
            "-inkey",
            "bob.key.pem",
            "-binary",
        ],
        dir.path(),
    );
    assert_eq!(decrypted, vec![b'x'; 5000]);
}

#[test]
fn certificates_written_by_openssl_load_with_addresses_and_key_sizes() {
    let dir = tempfile::tempdir().unwrap();
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:3072",
            "-nodes",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
            "-days",
            "30",
            "-subj",
            "/CN=Legacy/emailAddress=Legacy@Example.org",
            "-addext",
            "subjectAltName=email:first@example.org,DNS:mail.example.org,email:second@example.org",
            "-addext",
            "extendedKeyUsage=clientAuth,emailProtection",
        ],
        dir.path(),
    );
    let pem = std::fs::read(dir.path().join("cert.pem")).unwrap();
    let certificates = Certificate::load(&pem).unwrap();
    assert_eq!(certificates.len(), 1);
    let certificate = &certificates[0];
    let addresses: Vec<String> = certificate
        .email_addresses()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        addresses,
        [
            "first@example.org",
            "second@example.org",
            "Legacy@Example.org"
        ]
    );
    assert!(certificate.certifies(&"legacy@example.org".parse::<EmailAddress>().unwrap()));
    assert_eq!(
        *certificate.public_key_algorithm(),
        PublicKeyAlgorithm::Rsa { bits: 3072 }
    );
    assert!(certificate.allows_email_protection());

    // Same certificate as DER, through OpenSSL's own conversion.
    let der = openssl(&["x509", "-in", "cert.pem", "-outform", "DER"], dir.path());
    assert_eq!(Certificate::load(&der).unwrap()[0], *certificate);
}

#[test]
fn fingerprints_serials_and_subjects_match_what_openssl_reports() {
    let dir = tempfile::tempdir().unwrap();
    for kind in KeyKind::ALL {
        let identity = pki().smime("fp@example.org", kind);
        let files = identity.write_to(dir.path(), kind.name()).unwrap();
        let path = files.certificate_pem.to_str().unwrap();
        let ours = &Certificate::load(identity.certificate_pem().as_bytes()).unwrap()[0];

        let fingerprint = String::from_utf8(openssl(
            &["x509", "-noout", "-fingerprint", "-sha256", "-in", path],
            dir.path(),
        ))
        .unwrap();
        let expected: String = ours
            .fingerprint_sha256()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":");
        assert!(
            fingerprint.contains(&expected),
            "{kind:?}: {fingerprint} vs {expected}"
        );

        let serial = String::from_utf8(openssl(
            &["x509", "-noout", "-serial", "-in", path],
            dir.path(),
        ))
        .unwrap();
        assert_eq!(
            serial.trim().trim_start_matches("serial=").to_lowercase(),
            ours.serial_hex()
        );

        let subject = String::from_utf8(openssl(
            &[
                "x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", path,
            ],
            dir.path(),
        ))
        .unwrap();
        assert_eq!(
            subject.trim().trim_start_matches("subject="),
            ours.subject()
        );

        let expected_key = match kind {
            KeyKind::Rsa2048 => PublicKeyAlgorithm::Rsa { bits: 2048 },
            KeyKind::Rsa3072 => PublicKeyAlgorithm::Rsa { bits: 3072 },
            KeyKind::P256 => PublicKeyAlgorithm::Ec {
                curve: smime_core::Curve::P256,
            },
            KeyKind::P384 => PublicKeyAlgorithm::Ec {
                curve: smime_core::Curve::P384,
            },
            _ => unreachable!(),
        };
        assert_eq!(*ours.public_key_algorithm(), expected_key);
    }
}
