//! Interop on the published vectors of RFC 9216 (S/MIME Example Keys and
//! Certificates, `tests/data/rfc9216/`): certificates and keys made by
//! other tooling than ours and testkit's, with the RFC's RSA CA as the only
//! trust anchor. We sign as Alice and `openssl cms -verify` accepts it;
//! OpenSSL signs as Alice and we verify; we encrypt to Bob and OpenSSL
//! decrypts; OpenSSL encrypts to Bob and we decrypt. And an Ed25519
//! signature by Carlos (which smime-core does not implement) is refused
//! cleanly.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use smime_core::const_oid::ObjectIdentifier;
use smime_core::mime::Entity;
use smime_core::{
    Certificate, ContentEncryption, Coverage, DecryptionIdentity, DigestAlgorithm, Encryptor,
    PrivateKey, RsaKeyTransport, SignatureForm, SignatureScheme, SignatureStatus, Signer, Verdict,
    Verifier, decrypt_message,
};
use testkit::run_peer;

/// id-Ed25519 (RFC 8410).
const ID_ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

const MESSAGE: &str = "From: Alice Lovelace <alice@smime.example>\r\nTo: Bob Babbage <bob@smime.example>\r\nSubject: RFC 9216 interop\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nDies ist ein Beispiel. Grüße von Alice\r\n";
const BODY: &str = "Dies ist ein Beispiel. Grüße von Alice\r\n";

/// The entity OpenSSL signs or encrypts.
const INNER: &str = "Content-Type: text/plain; charset=us-ascii\r\n\r\nThis is a test message from Alice to Bob.\r\n";

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/rfc9216")
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(data_dir().join(name)).unwrap()
}

fn certificate(name: &str) -> Certificate {
    let mut certificates = Certificate::load(&read(name)).unwrap();
    assert_eq!(certificates.len(), 1, "{name}");
    certificates.remove(0)
}

fn key(name: &str) -> PrivateKey {
    PrivateKey::load(&read(name), None).unwrap()
}

/// 2024-01-01T00:00:00Z, inside every RFC 9216 certificate's validity
/// (2019/2020 to 2052).
fn inside_validity() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_704_067_200)
}

/// A verifier with the RFC's RSA CA as its only trust anchor.
fn rsa_ca_verifier() -> Verifier {
    Verifier::new([certificate("ca.rsa.crt")]).at(inside_validity())
}

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    run_peer("openssl", args, dir)
}

/// A scratch directory holding the RFC files under their own names.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(data_dir()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    dir
}

#[test]
fn the_vectors_load_as_published() {
    let ca = certificate("ca.rsa.crt");
    assert!(ca.is_ca());
    assert_eq!(
        ca.subject(),
        "CN=Sample LAMPS RSA Certification Authority,OU=LAMPS WG,O=IETF"
    );
    for (name, address) in [
        ("alice.sign.crt", "alice@smime.example"),
        ("alice.encrypt.crt", "alice@smime.example"),
        ("bob.sign.crt", "bob@smime.example"),
        ("bob.encrypt.crt", "bob@smime.example"),
    ] {
        let certificate = certificate(name);
        let addresses: Vec<&str> = certificate
            .email_addresses()
            .iter()
            .map(|a| a.as_str())
            .collect();
        assert_eq!(addresses, [address], "{name}");
        assert_eq!(certificate.issuer(), ca.subject(), "{name}");
        assert!(certificate.allows_email_protection(), "{name}");
        assert!(certificate.is_valid_at(inside_validity()), "{name}");
        assert!(!certificate.is_valid_at(SystemTime::UNIX_EPOCH), "{name}");
    }
    // The RSA keys carry the RFC 8479 seed attribute; they load all the same
    // and are the keys of the certificates (a signature and a decryption
    // below prove the pairing too).
    for name in [
        "alice.sign.key",
        "alice.decrypt.key",
        "bob.sign.key",
        "bob.decrypt.key",
    ] {
        key(name);
    }
}

fn alice_signer() -> Signer {
    Signer::new(certificate("alice.sign.crt"), &key("alice.sign.key")).unwrap()
}

#[test]
fn openssl_verifies_what_we_sign_as_alice() {
    let dir = scratch();
    let dir = dir.path();
    for form in [SignatureForm::Detached, SignatureForm::Opaque] {
        for digest in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512] {
            let case = format!("{form:?} {digest:?}");
            let signed = alice_signer()
                .with_digest(digest)
                .sign_message(MESSAGE.as_bytes(), form)
                .unwrap();
            std::fs::write(dir.join("signed.eml"), &signed).unwrap();
            openssl(
                dir,
                &[
                    "cms",
                    "-verify",
                    "-in",
                    "signed.eml",
                    "-CAfile",
                    "ca.rsa.crt",
                    "-purpose",
                    "smimesign",
                    "-signer",
                    "signer.pem",
                    "-out",
                    "content.out",
                ],
            );
            let signer = std::fs::read(dir.join("signer.pem")).unwrap();
            assert_eq!(
                Certificate::load(&signer).unwrap()[0].to_der(),
                certificate("alice.sign.crt").to_der(),
                "{case}"
            );
            let content = std::fs::read(dir.join("content.out")).unwrap();
            let entity = Entity::parse(&content).unwrap();
            assert_eq!(
                String::from_utf8(entity.decoded_body().unwrap()).unwrap(),
                BODY,
                "{case}"
            );
            // And we agree with ourselves, at a time inside the validity.
            let report = rsa_ca_verifier().verify_message(&signed).unwrap();
            assert_eq!(
                report.verdict(),
                Verdict::SignedByFrom,
                "{case}: {report:?}"
            );
        }
    }
}

/// `openssl cms -sign` of `INNER` with `signer`/`key` and the header fields.
fn openssl_sign(dir: &Path, signer: &str, key: &str, from: &str, options: &[&str]) -> Vec<u8> {
    std::fs::write(dir.join("inner.txt"), INNER).unwrap();
    let mut args = vec![
        "cms",
        "-sign",
        "-in",
        "inner.txt",
        "-signer",
        signer,
        "-inkey",
        key,
        "-from",
        from,
        "-to",
        "Bob Babbage <bob@smime.example>",
        "-subject",
        "RFC 9216 interop",
        "-out",
        "signed.eml",
    ];
    args.extend_from_slice(options);
    openssl(dir, &args);
    std::fs::read(dir.join("signed.eml")).unwrap()
}

#[test]
fn we_verify_what_openssl_signs_as_alice() {
    let dir = scratch();
    let dir = dir.path();
    let alice = certificate("alice.sign.crt");
    for (options, form) in [
        (&[][..], "detached"),
        (&["-nodetach"][..], "opaque"),
        (&["-nodetach", "-stream"][..], "opaque BER"),
        (&["-md", "sha384"][..], "detached sha384"),
        (&["-keyopt", "rsa_padding_mode:pss"][..], "detached RSA-PSS"),
    ] {
        let signed = openssl_sign(
            dir,
            "alice.sign.crt",
            "alice.sign.key",
            "Alice Lovelace <alice@smime.example>",
            options,
        );
        let report = rsa_ca_verifier().verify_message(&signed).unwrap();
        assert_eq!(
            report.verdict(),
            Verdict::SignedByFrom,
            "{form}: {report:?}"
        );
        assert_eq!(report.coverage(), &Coverage::Whole, "{form}");
        assert_eq!(report.from()[0].as_str(), "alice@smime.example", "{form}");
        assert_eq!(
            report.signers()[0].certificate.as_ref().unwrap().to_der(),
            alice.to_der(),
            "{form}"
        );
        let expected_scheme = if form.contains("PSS") {
            SignatureScheme::RsaPss
        } else {
            SignatureScheme::RsaPkcs1v15
        };
        assert_eq!(report.signers()[0].scheme, Some(expected_scheme), "{form}");
        let unwrapped = String::from_utf8(report.unwrapped_message().unwrap().to_vec()).unwrap();
        assert!(
            unwrapped.contains("This is a test message from Alice to Bob."),
            "{form}: {unwrapped}"
        );

        // The RFC CA is the anchor that makes it valid: trusting only another
        // root, the same signature is untrusted.
        let testkit_root = Certificate::from_der(testkit::pki().root().certificate_der()).unwrap();
        let report = Verifier::new([testkit_root])
            .at(inside_validity())
            .verify_message(&signed)
            .unwrap();
        assert_eq!(report.verdict(), Verdict::Invalid, "{form}");
        assert!(
            matches!(report.signers()[0].status, SignatureStatus::Untrusted(_)),
            "{form}: {:?}",
            report.signers()[0].status
        );
    }
    // Before the certificates' validity (2019-11-20), the signature holds
    // but the certificate does not.
    let signed = openssl_sign(
        dir,
        "alice.sign.crt",
        "alice.sign.key",
        "Alice Lovelace <alice@smime.example>",
        &[],
    );
    let report = Verifier::new([certificate("ca.rsa.crt")])
        .at(SystemTime::UNIX_EPOCH + Duration::from_secs(1_546_300_800)) // 2019-01-01
        .verify_message(&signed)
        .unwrap();
    assert_eq!(report.verdict(), Verdict::Invalid);
    assert_eq!(report.signers()[0].status, SignatureStatus::NotValidAt);
}

#[test]
fn bobs_signature_on_alices_from_is_not_alices() {
    // Bob signs a message that claims to be from Alice: a valid signature,
    // but not by the From address.
    let dir = scratch();
    let signed = openssl_sign(
        dir.path(),
        "bob.sign.crt",
        "bob.sign.key",
        "Alice Lovelace <alice@smime.example>",
        &[],
    );
    let report = rsa_ca_verifier().verify_message(&signed).unwrap();
    assert_eq!(report.verdict(), Verdict::SignedByOther, "{report:?}");
    assert_eq!(report.signers()[0].status, SignatureStatus::Valid);
}

fn bob_identity() -> DecryptionIdentity {
    DecryptionIdentity::new(
        certificate("bob.encrypt.crt"),
        key("bob.decrypt.key").pkcs8_der(),
    )
    .unwrap()
}

#[test]
fn openssl_decrypts_what_we_encrypt_to_bob() {
    let dir = scratch();
    let dir = dir.path();
    for cipher in [
        ContentEncryption::Aes256Gcm,
        ContentEncryption::Aes128Gcm,
        ContentEncryption::Aes256Cbc,
        ContentEncryption::Aes128Cbc,
    ] {
        for transport in [RsaKeyTransport::Pkcs1v15, RsaKeyTransport::OaepSha256] {
            let case = format!("{cipher:?} {transport:?}");
            let encrypted = Encryptor::new([certificate("bob.encrypt.crt")])
                .unwrap()
                .with_cipher(cipher)
                .with_rsa_key_transport(transport)
                .encrypt_message(MESSAGE.as_bytes())
                .unwrap();
            std::fs::write(dir.join("encrypted.eml"), &encrypted).unwrap();
            openssl(
                dir,
                &[
                    "cms",
                    "-decrypt",
                    "-in",
                    "encrypted.eml",
                    "-recip",
                    "bob.encrypt.crt",
                    "-inkey",
                    "bob.decrypt.key",
                    "-binary",
                    "-out",
                    "plain.out",
                ],
            );
            let plain = std::fs::read(dir.join("plain.out")).unwrap();
            let entity = Entity::parse(&plain).unwrap();
            assert!(
                entity.field("from").is_none(),
                "{case}: outer fields stay outside"
            );
            assert_eq!(
                String::from_utf8(entity.decoded_body().unwrap()).unwrap(),
                BODY,
                "{case}"
            );
            // Alice's own key is not Bob's.
            assert!(
                decrypt_message(
                    &encrypted,
                    &DecryptionIdentity::new(
                        certificate("alice.encrypt.crt"),
                        key("alice.decrypt.key").pkcs8_der(),
                    )
                    .unwrap(),
                )
                .is_err(),
                "{case}"
            );
        }
    }
}

#[test]
fn we_decrypt_what_openssl_encrypts_to_bob() {
    let dir = scratch();
    let dir = dir.path();
    std::fs::write(dir.join("inner.txt"), INNER).unwrap();
    for (cipher, expected) in [
        ("-aes-256-gcm", ContentEncryption::Aes256Gcm),
        ("-aes-128-gcm", ContentEncryption::Aes128Gcm),
        ("-aes-256-cbc", ContentEncryption::Aes256Cbc),
        ("-aes-128-cbc", ContentEncryption::Aes128Cbc),
    ] {
        for oaep in [false, true] {
            let case = format!("{cipher} oaep={oaep}");
            let mut args = vec![
                "cms",
                "-encrypt",
                cipher,
                "-in",
                "inner.txt",
                "-from",
                "Alice Lovelace <alice@smime.example>",
                "-to",
                "Bob Babbage <bob@smime.example>",
                "-subject",
                "RFC 9216 interop",
                "-out",
                "encrypted.eml",
                "-recip",
                "bob.encrypt.crt",
            ];
            if oaep {
                args.extend_from_slice(&[
                    "-keyopt",
                    "rsa_padding_mode:oaep",
                    "-keyopt",
                    "rsa_oaep_md:sha256",
                ]);
            }
            openssl(dir, &args);
            let encrypted = std::fs::read(dir.join("encrypted.eml")).unwrap();
            let decrypted = decrypt_message(&encrypted, &bob_identity()).unwrap();
            assert_eq!(decrypted.encryption(), expected, "{case}");
            let entity = Entity::parse(decrypted.message()).unwrap();
            assert_eq!(
                entity.field("to").unwrap().value(),
                "Bob Babbage <bob@smime.example>",
                "{case}"
            );
            assert_eq!(
                entity.content_type().unwrap().mime_type(),
                "text/plain",
                "{case}"
            );
            // OpenSSL writes bare LF; the decrypted entity keeps that style.
            assert_eq!(
                entity.decoded_body().unwrap(),
                b"This is a test message from Alice to Bob.\n",
                "{case}"
            );
        }
    }
}

/// A detached `multipart/signed` message signed by Carlos with Ed25519
/// (RFC 8419: SHA-512 message digest in the signed attributes, the
/// attributes signed with pure Ed25519). OpenSSL 3.0's `cms -sign` cannot
/// make one ("eddsa_digest_signverify_init: invalid digest"), so the
/// SignedData is assembled here and only the Ed25519 signature over the
/// DER of the signed attributes comes from `openssl pkeyutl -sign -rawin`;
/// `pkeyutl -verify` with Carlos's certificate confirms it. (OpenSSL 3.0's
/// `cms -verify` fails on it with the same "invalid digest", so it is no
/// judge here.)
fn carlos_ed25519_signed(dir: &Path) -> Vec<u8> {
    use base64ct::Encoding;
    use cms::cert::IssuerAndSerialNumber;
    use cms::content_info::{CmsVersion, ContentInfo};
    use cms::signed_data::{
        CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo,
        SignerInfos,
    };
    use smime_core::der::asn1::{OctetString, SetOfVec};
    use smime_core::der::{Any, Encode};
    use smime_core::x509_cert::attr::Attribute;
    use spki::AlgorithmIdentifierOwned;

    const ID_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
    const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
    const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
    const ID_MESSAGE_DIGEST: ObjectIdentifier =
        ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");

    let carlos = certificate("carlos.sign.crt");
    let digest = DigestAlgorithm::Sha512.digest(INNER.as_bytes());
    let attribute = |oid, value: Any| Attribute {
        oid,
        values: SetOfVec::try_from(vec![value]).unwrap(),
    };
    let signed_attrs = SetOfVec::try_from(vec![
        attribute(ID_CONTENT_TYPE, Any::encode_from(&ID_DATA).unwrap()),
        attribute(
            ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(digest).unwrap()).unwrap(),
        ),
    ])
    .unwrap();
    std::fs::write(dir.join("attrs.der"), signed_attrs.to_der().unwrap()).unwrap();
    openssl(
        dir,
        &[
            "pkeyutl",
            "-sign",
            "-rawin",
            "-inkey",
            "carlos.sign.key",
            "-in",
            "attrs.der",
            "-out",
            "attrs.sig",
        ],
    );
    openssl(
        dir,
        &[
            "pkeyutl",
            "-verify",
            "-rawin",
            "-certin",
            "-inkey",
            "carlos.sign.crt",
            "-in",
            "attrs.der",
            "-sigfile",
            "attrs.sig",
        ],
    );
    let signature = std::fs::read(dir.join("attrs.sig")).unwrap();
    assert_eq!(signature.len(), 64);

    let sha512 = AlgorithmIdentifierOwned {
        oid: DigestAlgorithm::Sha512.oid(),
        parameters: None,
    };
    let x509 = carlos.x509();
    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: x509.tbs_certificate().issuer().clone(),
            serial_number: x509.tbs_certificate().serial_number().clone(),
        }),
        digest_alg: sha512.clone(),
        signed_attrs: Some(signed_attrs),
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: ID_ED25519,
            parameters: None,
        },
        signature: OctetString::new(signature).unwrap(),
        unsigned_attrs: None,
    };
    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha512]).unwrap(),
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: ID_DATA,
            econtent: None,
        },
        certificates: Some(
            CertificateSet::try_from(vec![cms::cert::CertificateChoices::Certificate(
                x509.clone(),
            )])
            .unwrap(),
        ),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer_info]).unwrap(),
    };
    let content_info = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data).unwrap(),
    };
    let base64 = base64ct::Base64::encode_string(&content_info.to_der().unwrap());
    let lines: Vec<&str> = base64
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    format!(
        "From: Carlos Turing <carlos@smime.example>\r\n\
         To: Bob Babbage <bob@smime.example>\r\n\
         Subject: RFC 9216 interop\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-512; boundary=\"b9216\"\r\n\
         \r\n\
         --b9216\r\n\
         {INNER}\r\n\
         --b9216\r\n\
         Content-Type: application/pkcs7-signature; name=smime.p7s\r\n\
         Content-Transfer-Encoding: base64\r\n\
         \r\n\
         {}\r\n\
         --b9216--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

#[test]
fn an_ed25519_signature_by_carlos_is_refused_cleanly() {
    let dir = scratch();
    let dir = dir.path();
    let signed = carlos_ed25519_signed(dir);

    let carlos = certificate("carlos.sign.crt");
    assert!(matches!(
        carlos.public_key_algorithm(),
        smime_core::PublicKeyAlgorithm::Edwards { oid } if *oid == ID_ED25519
    ));
    let report = Verifier::new([certificate("ca.25519.crt")])
        .at(inside_validity())
        .verify_message(&signed)
        .unwrap();
    assert_eq!(report.verdict(), Verdict::Invalid, "{report:?}");
    assert_eq!(report.coverage(), &Coverage::Whole);
    assert_eq!(report.signers().len(), 1);
    assert_eq!(
        report.signers()[0].status,
        SignatureStatus::UnsupportedAlgorithm(ID_ED25519),
        "{report:?}"
    );
    assert!(!report.signed_by_from());
}
