//! Peer: OpenSSL encrypts (`openssl cms -encrypt`), smime-core decrypts:
//! every recipient type (RSA PKCS#1 v1.5, RSA-OAEP, ECDH P-256/P-384), every
//! content cipher (AES-CBC, AES-GCM), DER and streamed BER, several
//! recipients, and recipient identification by subject key identifier.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use smime_core::{Certificate, ContentEncryption, DecryptionIdentity, Error, decrypt_cms};
use testkit::{KeyKind, pki};

fn openssl(args: &[&str], dir: &Path) {
    testkit::run_peer("openssl", args, dir);
}

fn identity(address: &str, kind: KeyKind) -> DecryptionIdentity {
    let id = pki().smime(address, kind);
    let certificate = Certificate::from_der(id.certificate_der()).unwrap();
    DecryptionIdentity::new(certificate, id.private_key_der()).unwrap()
}

fn plaintext() -> Vec<u8> {
    b"Content-Type: text/plain; charset=utf-8\r\n\r\nVertraulich: Gehaltsliste \xc3\xa4\xc3\xb6\xc3\xbc\r\n".repeat(50)
}

/// Encrypts `plain.txt` in `dir` to the given certificate files with extra options.
fn encrypt(
    dir: &Path,
    cipher: &str,
    stream: bool,
    options: &[&str],
    recipients: &[&str],
) -> Vec<u8> {
    let mut args = vec![
        "cms",
        "-encrypt",
        "-binary",
        "-outform",
        "DER",
        cipher,
        "-in",
        "plain.txt",
        "-out",
        "out.p7m",
    ];
    if stream {
        args.push("-stream");
    }
    if options.contains(&"-keyopt") {
        // `-keyopt` applies to the `-recip` before it.
        for recipient in recipients {
            args.extend_from_slice(&["-recip", recipient]);
            args.extend_from_slice(options);
        }
    } else {
        args.extend_from_slice(options);
        args.extend_from_slice(recipients);
    }
    openssl(&args, dir);
    std::fs::read(dir.join("out.p7m")).unwrap()
}

#[test]
fn we_decrypt_openssl_for_every_key_cipher_and_encoding() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain.txt"), plaintext()).unwrap();
    let ciphers = [
        ("-aes-128-cbc", ContentEncryption::Aes128Cbc),
        ("-aes-256-cbc", ContentEncryption::Aes256Cbc),
        ("-aes-128-gcm", ContentEncryption::Aes128Gcm),
        ("-aes-256-gcm", ContentEncryption::Aes256Gcm),
    ];
    for kind in KeyKind::ALL {
        let address = format!("{}@example.org", kind.name());
        pki()
            .smime(&address, kind)
            .write_to(dir.path(), "r")
            .unwrap();
        let ours = identity(&address, kind);
        let oaep: &[&str] = &[
            "-keyopt",
            "rsa_padding_mode:oaep",
            "-keyopt",
            "rsa_oaep_md:sha256",
        ];
        let key_options: Vec<&[&str]> = if kind.is_rsa() {
            vec![&[], oaep]
        } else {
            vec![&[]]
        };
        for (cipher, expected) in ciphers {
            for options in &key_options {
                for stream in [false, true] {
                    let message = encrypt(dir.path(), cipher, stream, options, &["r.cert.pem"]);
                    let decrypted = decrypt_cms(&message, &ours).unwrap_or_else(|e| {
                        panic!("{kind:?} {cipher} {options:?} stream={stream}: {e}")
                    });
                    assert_eq!(
                        *decrypted.content,
                        plaintext(),
                        "{kind:?} {cipher} {options:?}"
                    );
                    assert_eq!(decrypted.encryption, expected);
                }
            }
        }
    }
}

#[test]
fn each_of_several_recipients_decrypts_and_others_are_not_addressed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain.txt"), plaintext()).unwrap();
    pki()
        .smime("rsa@example.org", KeyKind::Rsa2048)
        .write_to(dir.path(), "a")
        .unwrap();
    pki()
        .smime("ec@example.org", KeyKind::P256)
        .write_to(dir.path(), "b")
        .unwrap();
    let message = encrypt(
        dir.path(),
        "-aes-256-gcm",
        true,
        &[],
        &["a.cert.pem", "b.cert.pem"],
    );
    for (address, kind) in [
        ("rsa@example.org", KeyKind::Rsa2048),
        ("ec@example.org", KeyKind::P256),
    ] {
        assert_eq!(
            *decrypt_cms(&message, &identity(address, kind))
                .unwrap()
                .content,
            plaintext()
        );
    }
    for kind in [KeyKind::Rsa2048, KeyKind::P256] {
        assert!(matches!(
            decrypt_cms(&message, &identity("outsider@example.org", kind)),
            Err(Error::NotForUs)
        ));
    }
}

#[test]
fn recipients_identified_by_subject_key_identifier() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain.txt"), plaintext()).unwrap();
    for kind in [KeyKind::Rsa3072, KeyKind::P384] {
        pki()
            .smime("keyid@example.org", kind)
            .write_to(dir.path(), "r")
            .unwrap();
        let message = encrypt(
            dir.path(),
            "-aes-128-gcm",
            false,
            &["-keyid"],
            &["r.cert.pem"],
        );
        let decrypted = decrypt_cms(&message, &identity("keyid@example.org", kind)).unwrap();
        assert_eq!(*decrypted.content, plaintext(), "{kind:?}");
    }
}

#[test]
fn tampered_gcm_content_is_refused_without_releasing_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain.txt"), plaintext()).unwrap();
    pki()
        .smime("tamper@example.org", KeyKind::P256)
        .write_to(dir.path(), "r")
        .unwrap();
    let message = encrypt(dir.path(), "-aes-256-gcm", false, &[], &["r.cert.pem"]);
    let ours = identity("tamper@example.org", KeyKind::P256);
    assert!(decrypt_cms(&message, &ours).is_ok());
    // Flip one bit in the middle of the ciphertext (well after the headers).
    let mut tampered = message.clone();
    let middle = tampered.len() - 1500;
    tampered[middle] ^= 0x01;
    assert!(matches!(
        decrypt_cms(&tampered, &ours),
        Err(Error::Decryption)
    ));
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused() {
    let certificate = Certificate::from_der(
        pki()
            .smime("a@example.org", KeyKind::P256)
            .certificate_der(),
    )
    .unwrap();
    let other_key = pki()
        .smime("b@example.org", KeyKind::P256)
        .private_key_der()
        .to_vec();
    assert!(matches!(
        DecryptionIdentity::new(certificate, &other_key),
        Err(Error::KeyDoesNotMatchCertificate)
    ));
}

#[test]
fn signed_data_is_not_mistaken_for_encrypted_data() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain.txt"), b"hello").unwrap();
    pki()
        .smime("s@example.org", KeyKind::P256)
        .write_to(dir.path(), "s")
        .unwrap();
    openssl(
        &[
            "cms",
            "-sign",
            "-nodetach",
            "-outform",
            "DER",
            "-in",
            "plain.txt",
            "-signer",
            "s.cert.pem",
            "-inkey",
            "s.key.pem",
            "-out",
            "signed.der",
        ],
        dir.path(),
    );
    let signed = std::fs::read(dir.path().join("signed.der")).unwrap();
    assert!(matches!(
        decrypt_cms(&signed, &identity("s@example.org", KeyKind::P256)),
        Err(Error::NotEncrypted(_))
    ));
    assert!(matches!(
        decrypt_cms(b"\x30\x80", &identity("s@example.org", KeyKind::P256)),
        Err(Error::MalformedCms(_))
    ));
}

#[test]
fn a_peers_binary_part_is_delivered_as_base64_byte_for_byte() {
    // OpenSSL encrypts an entity whose attachment is `binary` (lone LF, CR,
    // NUL): the decrypted message carries it as base64 of the exact bytes,
    // which any SMTP hop can carry, and a signed part would be left alone.
    let dir = tempfile::tempdir().unwrap();
    let attachment: Vec<u8> = b"%PDF\n\x00\r\x01line\nend\r\n\xff".to_vec();
    let mut entity = b"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n\
        Content-Type: text/plain\r\n\r\nAnbei.\r\n--b\r\n\
        Content-Type: application/pdf\r\nContent-Transfer-Encoding: binary\r\n\r\n"
        .to_vec();
    entity.extend_from_slice(&attachment);
    entity.extend_from_slice(b"\r\n--b--\r\n");
    std::fs::write(dir.path().join("plain.txt"), &entity).unwrap();
    let id = pki().smime("bob@example.org", KeyKind::Rsa2048);
    std::fs::write(dir.path().join("bob.pem"), id.certificate_pem()).unwrap();
    openssl(
        &[
            "cms",
            "-encrypt",
            "-binary",
            "-aes-256-gcm",
            "-from",
            "alice@example.org",
            "-to",
            "bob@example.org",
            "-subject",
            "PDF",
            "-in",
            "plain.txt",
            "-out",
            "mail.eml",
            "bob.pem",
        ],
        dir.path(),
    );
    let mail = std::fs::read(dir.path().join("mail.eml")).unwrap();
    let decrypted =
        smime_core::decrypt_message(&mail, &identity("bob@example.org", KeyKind::Rsa2048)).unwrap();
    let message = mail_message::Entity::parse(decrypted.message()).unwrap();
    let boundary = message
        .content_type()
        .unwrap()
        .parameter("boundary")
        .unwrap()
        .to_owned();
    let parts = mail_message::Multipart::split(message.body(), &boundary).unwrap();
    let pdf = mail_message::Entity::parse(parts.parts()[1]).unwrap();
    assert_eq!(pdf.transfer_encoding(), "base64");
    assert_eq!(pdf.decoded_body().unwrap(), attachment);
    // The streaming decryptor delivers the same message.
    let mut streamed = Vec::new();
    smime_core::decrypt_message_stream(
        &mail[..],
        &mut streamed,
        &identity("bob@example.org", KeyKind::Rsa2048),
    )
    .unwrap();
    assert_eq!(streamed, decrypted.message());
}

/// Legacy mail in Triple DES (archives, S/MIME 3 agents) decrypts on both
/// paths, and says that its cipher is obsolete; we never encrypt with it.
#[test]
fn legacy_triple_des_decrypts_and_is_reported_obsolete() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain.txt"), plaintext()).unwrap();
    pki()
        .smime("rsa@example.org", KeyKind::Rsa2048)
        .write_to(dir.path(), "r")
        .unwrap();
    let ours = identity("rsa@example.org", KeyKind::Rsa2048);
    for stream in [false, true] {
        let cms = encrypt(dir.path(), "-des3", stream, &[], &["r.cert.pem"]);
        let decrypted = decrypt_cms(&cms, &ours).unwrap();
        assert_eq!(*decrypted.content, plaintext());
        assert_eq!(decrypted.encryption, ContentEncryption::DesEde3Cbc);
        assert!(decrypted.encryption.is_obsolete());
        // The streaming decryptor (the gateway's path above 4 MiB) agrees.
        let mut mail = b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
        mail.extend_from_slice(&smime_core::mime::encode_base64(
            &cms,
            smime_core::mime::LineBreak::Crlf,
        ));
        let mut streamed = Vec::new();
        let found = smime_core::decrypt_message_stream(&mail[..], &mut streamed, &ours).unwrap();
        assert_eq!(found.encryption, ContentEncryption::DesEde3Cbc);
        let in_memory = smime_core::decrypt_message(&mail, &ours).unwrap();
        assert_eq!(streamed, in_memory.message());
    }
    let certificate = Certificate::from_der(
        pki()
            .smime("rsa@example.org", KeyKind::Rsa2048)
            .certificate_der(),
    )
    .unwrap();
    let refused = smime_core::Encryptor::new([certificate])
        .unwrap()
        .with_cipher(ContentEncryption::DesEde3Cbc)
        .encrypt_cms(b"x");
    assert!(matches!(
        refused,
        Err(Error::ObsoleteCipher(ContentEncryption::DesEde3Cbc))
    ));
    assert!("des-ede3-cbc".parse::<ContentEncryption>().is_err());
}

/// RSA-OAEP with a label is refused with an error that names the label,
/// not a bare object identifier.
#[test]
fn an_oaep_label_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("plain.txt"), plaintext()).unwrap();
    pki()
        .smime("rsa@example.org", KeyKind::Rsa2048)
        .write_to(dir.path(), "r")
        .unwrap();
    let options = [
        "-keyopt",
        "rsa_padding_mode:oaep",
        "-keyopt",
        "rsa_oaep_label:0102030405",
    ];
    let cms = encrypt(dir.path(), "-aes-128-cbc", false, &options, &["r.cert.pem"]);
    let error = decrypt_cms(&cms, &identity("rsa@example.org", KeyKind::Rsa2048)).unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(error, Error::UnsupportedParameters { .. }),
        "{error:?}"
    );
    assert!(
        text.contains("RSA-OAEP") && text.contains("label"),
        "{text}"
    );
}
