//! smime-core encrypts, real peers decrypt: `openssl cms -decrypt` for every
//! recipient type (RSA PKCS#1 v1.5, RSA-OAEP, ECDH P-256/P-384), every
//! cipher, several recipients in one message, sign-then-encrypt; `gpgsm
//! --decrypt` for RSA recipients. And the RFC 5753 check: an all-zero key
//! cannot unwrap the content key we send to EC recipients.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use aes_kw::cipher::KeyInit;
use cms::authenveloped_data::AuthEnvelopedData;
use cms::content_info::ContentInfo;
use cms::enveloped_data::{EnvelopedData, RecipientInfo};
use der::Decode;
use smime_core::mime::{Entity, Multipart};
use smime_core::{
    Certificate, ContentEncryption, DecryptionIdentity, Encryptor, PrivateKey, RsaKeyTransport,
    SignatureForm, Signer, Verdict, Verifier, decrypt_message,
};
use testkit::{GpgsmHome, KeyKind, pki, run_peer};

const MESSAGE: &str = "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: Gehaltsliste\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nVertraulich: Gehälter 2027\r\n";
const INNER: &str = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nVertraulich: Gehälter 2027\r\n";

const CIPHERS: [ContentEncryption; 4] = [
    ContentEncryption::Aes128Cbc,
    ContentEncryption::Aes256Cbc,
    ContentEncryption::Aes128Gcm,
    ContentEncryption::Aes256Gcm,
];

fn openssl_decrypt(dir: &Path, message: &[u8], address: &str, kind: KeyKind) -> Vec<u8> {
    pki().smime(address, kind).write_to(dir, "r").unwrap();
    std::fs::write(dir.join("mail.eml"), message).unwrap();
    run_peer(
        "openssl",
        &[
            "cms",
            "-decrypt",
            "-in",
            "mail.eml",
            "-recip",
            "r.cert.pem",
            "-inkey",
            "r.key.pem",
            "-out",
            "plain.out",
            "-binary",
        ],
        dir,
    );
    std::fs::read(dir.join("plain.out")).unwrap()
}

#[test]
fn openssl_decrypts_every_recipient_type_and_cipher() {
    let dir = tempfile::tempdir().unwrap();
    for kind in KeyKind::ALL {
        for cipher in CIPHERS {
            let transports: &[RsaKeyTransport] = if kind.is_rsa() {
                &[RsaKeyTransport::Pkcs1v15, RsaKeyTransport::OaepSha256]
            } else {
                &[RsaKeyTransport::Pkcs1v15]
            };
            for transport in transports {
                let encrypted = Encryptor::new([common::certificate("bob@example.org", kind)])
                    .unwrap()
                    .with_cipher(cipher)
                    .with_rsa_key_transport(*transport)
                    .encrypt_message(MESSAGE.as_bytes())
                    .unwrap();
                let outer = Entity::parse(&encrypted).unwrap();
                assert_eq!(outer.field("subject").unwrap().value(), "Gehaltsliste");
                let smime_type = outer
                    .content_type()
                    .unwrap()
                    .parameter("smime-type")
                    .unwrap()
                    .to_owned();
                assert_eq!(
                    smime_type,
                    if cipher.is_authenticated() {
                        "authEnveloped-data"
                    } else {
                        "enveloped-data"
                    }
                );
                let plain = openssl_decrypt(dir.path(), &encrypted, "bob@example.org", kind);
                assert_eq!(
                    String::from_utf8(plain).unwrap(),
                    INNER,
                    "{kind:?} {cipher:?} {transport:?}"
                );
            }
        }
    }
}

#[test]
fn several_recipients_each_decrypt_with_openssl_and_with_us() {
    let dir = tempfile::tempdir().unwrap();
    let recipients = [
        ("bob@example.org", KeyKind::Rsa2048),
        ("carol@example.org", KeyKind::P256),
        ("dave@example.org", KeyKind::P384),
        ("alice@example.org", KeyKind::Rsa3072), // the sender keeps a copy
    ];
    let encrypted = Encryptor::new(recipients.iter().map(|(a, k)| common::certificate(a, *k)))
        .unwrap()
        .encrypt_message(MESSAGE.as_bytes())
        .unwrap();
    for (address, kind) in recipients {
        let plain = openssl_decrypt(dir.path(), &encrypted, address, kind);
        assert_eq!(String::from_utf8(plain).unwrap(), INNER, "{address}");
        let id = pki().smime(address, kind);
        let identity =
            DecryptionIdentity::new(common::certificate(address, kind), id.private_key_der())
                .unwrap();
        let decrypted = decrypt_message(&encrypted, &identity).unwrap();
        assert_eq!(decrypted.message(), MESSAGE.as_bytes(), "{address}");
        assert_eq!(decrypted.encryption(), ContentEncryption::Aes256Gcm);
    }
    // Someone not on the list gets nothing.
    let eve = pki().smime("eve@example.org", KeyKind::P256);
    let identity = DecryptionIdentity::new(
        common::certificate("eve@example.org", KeyKind::P256),
        eve.private_key_der(),
    )
    .unwrap();
    assert!(matches!(
        decrypt_message(&encrypted, &identity),
        Err(smime_core::Error::NotForUs)
    ));
}

#[test]
fn an_all_zero_key_cannot_unwrap_what_we_send_to_ec_recipients() {
    for kind in [KeyKind::P256, KeyKind::P384] {
        for cipher in [
            ContentEncryption::Aes128Cbc,
            ContentEncryption::Aes256Cbc,
            ContentEncryption::Aes128Gcm,
            ContentEncryption::Aes256Gcm,
        ] {
            let cms = Encryptor::new([common::certificate("bob@example.org", kind)])
                .unwrap()
                .with_cipher(cipher)
                .encrypt_cms(b"secret")
                .unwrap();
            let info = ContentInfo::from_der(&cms).unwrap();
            // CBC travels in EnvelopedData, GCM in AuthEnvelopedData (RFC
            // 5083); the key agreement is the same in both.
            let recipients = match info.content.decode_as::<EnvelopedData>() {
                Ok(data) => data.recip_infos,
                Err(_) => {
                    info.content
                        .decode_as::<AuthEnvelopedData>()
                        .unwrap()
                        .recip_infos
                }
            };
            let RecipientInfo::Kari(kari) = recipients.0.get(0).unwrap() else {
                panic!("EC recipients get a KeyAgreeRecipientInfo");
            };
            let wrapped = kari.recipient_enc_keys[0].enc_key.as_bytes();
            let mut out = vec![0u8; wrapped.len()];
            let zero_128 = aes_kw::KwAes128::new_from_slice(&[0u8; 16])
                .unwrap()
                .unwrap_key(wrapped, &mut out)
                .is_err();
            let zero_256 = aes_kw::KwAes256::new_from_slice(&[0u8; 32])
                .unwrap()
                .unwrap_key(wrapped, &mut out)
                .is_err();
            assert!(zero_128 && zero_256, "{kind:?} {cipher:?}");
            // The originator key is fresh for every message.
            let again = Encryptor::new([common::certificate("bob@example.org", kind)])
                .unwrap()
                .with_cipher(cipher)
                .encrypt_cms(b"secret")
                .unwrap();
            assert_ne!(cms, again);
        }
    }
}

#[test]
fn sign_then_encrypt_opens_with_openssl_and_with_us() {
    let dir = tempfile::tempdir().unwrap();
    let alice = pki().smime("alice@example.org", KeyKind::P256);
    let signer = Signer::new(
        Certificate::from_der(alice.certificate_der()).unwrap(),
        &PrivateKey::load(alice.private_key_der(), None).unwrap(),
    )
    .unwrap()
    .with_chain(
        alice
            .chain_der()
            .iter()
            .map(|d| Certificate::from_der(d).unwrap()),
    );
    let signed = signer
        .sign_message(MESSAGE.as_bytes(), SignatureForm::Detached)
        .unwrap();
    let encrypted = Encryptor::new([common::certificate("bob@example.org", KeyKind::Rsa2048)])
        .unwrap()
        .encrypt_message(&signed)
        .unwrap();

    // OpenSSL: decrypt, then verify the inner signed entity.
    let inner = openssl_decrypt(dir.path(), &encrypted, "bob@example.org", KeyKind::Rsa2048);
    std::fs::write(dir.path().join("inner.eml"), &inner).unwrap();
    std::fs::write(dir.path().join("root.pem"), pki().root().certificate_pem()).unwrap();
    run_peer(
        "openssl",
        &[
            "cms",
            "-verify",
            "-in",
            "inner.eml",
            "-CAfile",
            "root.pem",
            "-out",
            "/dev/null",
        ],
        dir.path(),
    );

    // Us: decrypt yields the signed layer with the outer headers; verify it.
    let bob = pki().smime("bob@example.org", KeyKind::Rsa2048);
    let identity = DecryptionIdentity::new(
        common::certificate("bob@example.org", KeyKind::Rsa2048),
        bob.private_key_der(),
    )
    .unwrap();
    let decrypted = decrypt_message(&encrypted, &identity).unwrap();
    let report = Verifier::new([Certificate::from_der(pki().root().certificate_der()).unwrap()])
        .verify_message(decrypted.message())
        .unwrap();
    assert_eq!(report.verdict(), Verdict::SignedByFrom);
}

#[test]
fn gpgsm_decrypts_for_rsa_recipients() {
    let home = GpgsmHome::new();
    // gpgsm 2.2 reads EnvelopedData with AES-CBC and PKCS#1 v1.5 key
    // transport; it has neither AuthEnvelopedData nor RSA-OAEP, and crashes
    // importing EC keys from PKCS#12 (OpenSSL covers those above).
    for kind in [KeyKind::Rsa2048, KeyKind::Rsa3072] {
        let address = format!("gpgsm-{}@example.org", kind.name());
        common::gpgsm_import_pkcs12(&home, &address, kind, "r");
        for cipher in [ContentEncryption::Aes128Cbc, ContentEncryption::Aes256Cbc] {
            let cms = Encryptor::new([common::certificate(&address, kind)])
                .unwrap()
                .with_cipher(cipher)
                .encrypt_cms(INNER.as_bytes())
                .unwrap();
            std::fs::write(home.path().join("mail.p7m"), &cms).unwrap();
            let plain = home.run_with_passphrase("test", &["--decrypt", "mail.p7m"]);
            assert_eq!(
                String::from_utf8(plain).unwrap(),
                INNER,
                "{kind:?} {cipher:?}"
            );
        }
    }
}

/// A PDF-like attachment with `Content-Transfer-Encoding: binary`: lone LF
/// and CR, NUL and 0xFF are data, not line breaks. Encryption (in memory
/// and streamed) base64-encodes it byte for byte, so the attachment
/// OpenSSL decrypts is the one that was sent, while the 8-bit text part is
/// encrypted as it is.
#[test]
fn binary_attachments_are_encrypted_byte_for_byte() {
    let attachment: &[u8] = b"%PDF-1.7\n\x00\x01\r\xff\xfe\n\r\n\rstream\x00end";
    let mut message = "From: alice@example.org\nTo: bob@example.org\nSubject: Vertrag\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b1\"\n\n--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nAnbei der Vertrag, Grüße\n--b1\nContent-Type: application/pdf\nContent-Transfer-Encoding: binary\n\n".as_bytes().to_vec();
    message.extend_from_slice(attachment);
    message.extend_from_slice(b"\n--b1--\n");
    let dir = tempfile::tempdir().unwrap();
    let encryptor =
        Encryptor::new([common::certificate("bob@example.org", KeyKind::P256)]).unwrap();
    let in_memory = encryptor.encrypt_message(&message).unwrap();
    let mut streamed = Vec::new();
    encryptor
        .encrypt_message_stream(&message[..], &mut streamed)
        .unwrap();
    for (how, encrypted) in [("in memory", in_memory), ("streamed", streamed)] {
        let plain = openssl_decrypt(dir.path(), &encrypted, "bob@example.org", KeyKind::P256);
        let entity = Entity::parse(&plain).unwrap();
        let content_type = entity.content_type().unwrap();
        let parts =
            Multipart::split(entity.body(), content_type.parameter("boundary").unwrap()).unwrap();
        assert_eq!(parts.parts().len(), 2, "{how}");
        let text = Entity::parse(parts.parts()[0]).unwrap();
        assert_eq!(text.transfer_encoding(), "8bit", "{how}");
        assert_eq!(
            String::from_utf8(text.decoded_body().unwrap()).unwrap(),
            "Anbei der Vertrag, Grüße"
        );
        let pdf = Entity::parse(parts.parts()[1]).unwrap();
        assert_eq!(pdf.transfer_encoding(), "base64", "{how}");
        assert_eq!(pdf.decoded_body().unwrap(), attachment, "{how}");
    }
}
