//! `TokenKey` against a real SoftHSM2 token (Debian `softhsm2`): OpenSSL
//! verifies what the token signs, the token decrypts what OpenSSL
//! encrypts, and configuration mistakes get typed errors. Each test runs its
//! body in a child process with its own token (see `testkit::softhsm`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::sync::Arc;

use mailgate_pkcs11::{AuthPin, Error, KeyRef, TokenKey, TokenKeyConfig, import_certificate};
use smime_core::{
    Certificate, DecryptionIdentity, Encryptor, RsaKeyTransport, SignatureForm, Signer,
    decrypt_message,
};
use testkit::softhsm::{self, SoftHsm};
use testkit::{KeyKind, pki, run_peer};

const MESSAGE: &[u8] = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: HSM\r\nContent-Type: text/plain\r\n\r\nSigned in SoftHSM\r\n";

fn alice() -> Arc<testkit::Identity> {
    pki().smime("alice@example.org", KeyKind::Rsa2048)
}

fn config(key: KeyRef) -> TokenKeyConfig {
    TokenKeyConfig {
        module: softhsm::MODULE.into(),
        token: softhsm::TOKEN.into(),
        key,
    }
}

fn pin() -> AuthPin {
    AuthPin::from(softhsm::PIN)
}

fn certificate() -> Certificate {
    Certificate::from_der(alice().certificate_der()).unwrap()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Runs `test` in a child with a token holding Alice's key (label `alice`,
/// id 01); returns true in the child, where the body runs.
fn with_token(test: &str) -> bool {
    if softhsm::in_child() {
        return true;
    }
    let hsm = SoftHsm::new();
    hsm.import_key(&alice(), "alice", "01");
    hsm.run_in_child(test);
    false
}

#[test]
#[ignore = "needs softhsm2"]
fn openssl_verifies_what_the_token_signs() {
    if !with_token("openssl_verifies_what_the_token_signs") {
        return;
    }
    let key = Arc::new(TokenKey::open(&config(KeyRef::Label("alice".into())), pin()).unwrap());
    assert!(key.certificate().is_none());
    let chain = Certificate::load(alice().chain_pem().as_bytes()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.pem"), pki().root().certificate_pem()).unwrap();
    for form in [SignatureForm::Detached, SignatureForm::Opaque] {
        let signer = Signer::with_external_key(certificate(), key.clone())
            .unwrap()
            .with_chain(chain.clone());
        let signed = signer.sign_message(MESSAGE, form).unwrap();
        std::fs::write(dir.path().join("signed.eml"), &signed).unwrap();
        let content = run_peer(
            "openssl",
            &["cms", "-verify", "-in", "signed.eml", "-CAfile", "root.pem"],
            dir.path(),
        );
        assert!(contains(&content, b"Signed in SoftHSM"), "{form:?}");
    }
}

#[test]
#[ignore = "needs softhsm2"]
fn the_token_decrypts_what_openssl_encrypts() {
    if !with_token("the_token_decrypts_what_openssl_encrypts") {
        return;
    }
    let key = Arc::new(TokenKey::open(&config(KeyRef::Id(vec![1])), pin()).unwrap());
    let identity = DecryptionIdentity::with_external_key(certificate(), key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    alice().write_to(dir.path(), "alice").unwrap();
    std::fs::write(dir.path().join("plain.eml"), MESSAGE).unwrap();
    for options in [
        &["-aes-256-cbc"][..],
        &["-aes-256-gcm", "-keyopt", "rsa_padding_mode:oaep"][..],
    ] {
        let mut args = vec![
            "cms",
            "-encrypt",
            "-in",
            "plain.eml",
            "-recip",
            "alice.cert.pem",
        ];
        args.extend_from_slice(options);
        let encrypted = run_peer("openssl", &args, dir.path());
        let decrypted =
            decrypt_message(&encrypted, &identity).unwrap_or_else(|e| panic!("{options:?}: {e}"));
        assert!(
            contains(decrypted.message(), b"Signed in SoftHSM"),
            "{options:?}"
        );
    }
    // What we send: RSA-OAEP with SHA-256.
    let ours = Encryptor::new([certificate()])
        .unwrap()
        .with_rsa_key_transport(RsaKeyTransport::OaepSha256)
        .encrypt_message(MESSAGE)
        .unwrap();
    match decrypt_message(&ours, &identity) {
        Ok(decrypted) => assert!(contains(decrypted.message(), b"Signed in SoftHSM")),
        // SoftHSM 2.6 offers CKM_RSA_PKCS_OAEP with SHA-1 only; the
        // refusal is named, not a decryption failure.
        Err(smime_core::Error::KeyUnsupported(what)) => assert!(what.contains("SHA-256"), "{what}"),
        Err(other) => panic!("OAEP-SHA-256: {other}"),
    }
    // A message for someone else's key is the one uniform error.
    let bob = Certificate::from_der(
        pki()
            .smime("bob@example.org", KeyKind::Rsa2048)
            .certificate_der(),
    )
    .unwrap();
    let wrong = DecryptionIdentity::with_external_key(
        bob,
        Arc::new(TokenKey::open(&config(KeyRef::Id(vec![1])), pin()).unwrap()),
    )
    .unwrap();
    let for_bob = Encryptor::new([Certificate::from_der(
        pki()
            .smime("bob@example.org", KeyKind::Rsa2048)
            .certificate_der(),
    )
    .unwrap()])
    .unwrap()
    .encrypt_message(MESSAGE)
    .unwrap();
    assert!(matches!(
        decrypt_message(&for_bob, &wrong),
        Err(smime_core::Error::Decryption)
    ));
}

#[test]
#[ignore = "needs softhsm2"]
fn threads_share_one_token_key() {
    if !with_token("threads_share_one_token_key") {
        return;
    }
    let key = Arc::new(TokenKey::open(&config(KeyRef::Label("alice".into())), pin()).unwrap());
    let signer = Arc::new(Signer::with_external_key(certificate(), key).unwrap());
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let signer = signer.clone();
            std::thread::spawn(move || {
                for _ in 0..5 {
                    signer
                        .sign_message(MESSAGE, SignatureForm::Detached)
                        .unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
}

#[test]
#[ignore = "needs softhsm2"]
fn a_certificate_stored_on_the_token_is_found_and_checked() {
    if !with_token("a_certificate_stored_on_the_token_is_found_and_checked") {
        return;
    }
    let module = Path::new(softhsm::MODULE);
    import_certificate(
        module,
        softhsm::TOKEN,
        &pin(),
        "alice",
        &[1],
        &certificate(),
    )
    .unwrap();
    let key = TokenKey::open(&config(KeyRef::Label("alice".into())), pin()).unwrap();
    assert_eq!(key.certificate(), Some(&certificate()));
    let bob = Certificate::from_der(
        pki()
            .smime("bob@example.org", KeyKind::Rsa2048)
            .certificate_der(),
    )
    .unwrap();
    assert!(matches!(
        key.check_certificate(&bob),
        Err(Error::KeyDoesNotMatchCertificate { .. })
    ));
}

#[test]
#[ignore = "needs softhsm2"]
fn mistakes_get_typed_errors() {
    if !with_token("mistakes_get_typed_errors") {
        return;
    }
    let wrong_pin = TokenKey::open(
        &config(KeyRef::Label("alice".into())),
        AuthPin::from("0000-0000"),
    );
    assert!(matches!(wrong_pin, Err(Error::WrongPin(token)) if token == softhsm::TOKEN));
    let missing = TokenKey::open(&config(KeyRef::Label("carol".into())), pin());
    assert!(matches!(missing, Err(Error::KeyNotFound { .. })));
    let by_id = TokenKey::open(&config(KeyRef::Id(vec![2])), pin());
    assert!(matches!(
        by_id,
        Err(Error::KeyNotFound {
            key: KeyRef::Id(_),
            ..
        })
    ));
    let no_token = TokenKey::open(
        &TokenKeyConfig {
            token: "absent".into(),
            ..config(KeyRef::Label("alice".into()))
        },
        pin(),
    );
    assert!(matches!(&no_token, Err(error @ Error::TokenNotFound(_)) if error.is_transient()));
    let no_module = TokenKey::open(
        &TokenKeyConfig {
            module: "/nonexistent/libpkcs11.so".into(),
            ..config(KeyRef::Label("alice".into()))
        },
        pin(),
    );
    assert!(matches!(no_module, Err(Error::Module { .. })));
    assert!(matches!(
        mailgate_pkcs11::pin_from_env("MAILGATE_TEST_NO_SUCH_PIN_VARIABLE"),
        Err(Error::PinMissing(_))
    ));
}
