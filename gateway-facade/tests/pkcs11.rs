//! The organisation's S/MIME key in a PKCS#11 token (SoftHSM2, Debian
//! `softhsm2`), configured in `mailgate.toml` with `[keys.pkcs11]`: outbound
//! mail is signed by the token and OpenSSL verifies it, inbound mail
//! OpenSSL encrypted is decrypted by the token, and a gateway whose token
//! is missing defers instead of delivering in clear. The token tests run
//! their bodies in a child process with their own token
//! (`testkit::softhsm`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use gateway_facade::{Disposition, Envelope, Error, Gateway};
use testkit::run_peer;
use testkit::softhsm::{self, SoftHsm};

const ALICE: &str = "alice@behoerde.example";

/// `mailgate.toml` in `dir`, Alice's S/MIME key in token `token` (her
/// certificate and chain in a file).
fn gateway_config(dir: &Path, token: &str, pin_env: &str) -> std::path::PathBuf {
    let alice = common::smime(ALICE);
    alice.write_to(dir, "alice").unwrap();
    let mut bundle = alice.certificate_pem();
    bundle.push_str(&alice.chain_pem());
    std::fs::write(dir.join("alice.bundle.pem"), bundle).unwrap();
    std::fs::write(dir.join("policy.toml"), common::POLICY).unwrap();
    let config = dir.join("mailgate.toml");
    std::fs::write(
        &config,
        format!(
            "[gateway]\npolicy = \"policy.toml\"\ndata_dir = \"data\"\npostmaster = \"postmaster@behoerde.example\"\n\
             [trust]\nsmime_anchors = [\"alice.root.pem\"]\n\
             [[keys]]\naddress = \"{ALICE}\"\nsmime_certificate = \"alice.bundle.pem\"\n\
             [keys.pkcs11]\nmodule = \"{}\"\ntoken = \"{token}\"\nkey_label = \"alice\"\npin_env = \"{pin_env}\"\n",
            softhsm::MODULE
        ),
    )
    .unwrap();
    config
}

/// Runs `test` in a child with a token holding Alice's key; true in the child.
fn with_token(test: &str) -> bool {
    if softhsm::in_child() {
        return true;
    }
    let hsm = SoftHsm::new();
    hsm.import_key(&common::smime(ALICE), "alice", "a1");
    hsm.run_in_child(test);
    false
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Mail from a partner, encrypted by `openssl cms -encrypt` to Alice.
fn encrypted_to_alice(dir: &Path) -> Vec<u8> {
    std::fs::write(
        dir.join("plain.eml"),
        common::mail("bob@partner.example", ALICE, "Angebot", "Geheimes Angebot"),
    )
    .unwrap();
    run_peer(
        "openssl",
        &[
            "cms",
            "-encrypt",
            "-in",
            "plain.eml",
            "-recip",
            "alice.cert.pem",
            "-aes-256-cbc",
        ],
        dir,
    )
}

#[test]
#[ignore = "needs softhsm2"]
fn the_token_signs_outbound_mail_and_openssl_verifies() {
    if !with_token("the_token_signs_outbound_mail_and_openssl_verifies") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::from_config_file(&gateway_config(
        dir.path(),
        softhsm::TOKEN,
        softhsm::PIN_ENV,
    ))
    .unwrap();
    let outcome = gateway.process(
        &Envelope::outbound(ALICE, ["carol@partner.example"]),
        &common::mail(ALICE, "carol@partner.example", "Termin", "Signiert im HSM"),
    );
    let [Disposition::Deliver { message, .. }] = outcome.dispositions.as_slice() else {
        panic!("{:?}", outcome.dispositions);
    };
    let message = &message.to_vec().unwrap();
    assert!(contains(message, b"multipart/signed"));
    std::fs::write(dir.path().join("signed.eml"), message).unwrap();
    let content = run_peer(
        "openssl",
        &[
            "cms",
            "-verify",
            "-in",
            "signed.eml",
            "-CAfile",
            "alice.root.pem",
        ],
        dir.path(),
    );
    assert!(contains(&content, b"Signiert im HSM"));
}

#[test]
#[ignore = "needs softhsm2"]
fn the_token_decrypts_inbound_mail_openssl_encrypted() {
    if !with_token("the_token_decrypts_inbound_mail_openssl_encrypted") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let gateway = Gateway::from_config_file(&gateway_config(
        dir.path(),
        softhsm::TOKEN,
        softhsm::PIN_ENV,
    ))
    .unwrap();
    let encrypted = encrypted_to_alice(dir.path());
    let outcome = gateway.process(
        &Envelope::inbound("bob@partner.example", [ALICE]),
        &encrypted,
    );
    let [Disposition::Deliver { message, .. }] = outcome.dispositions.as_slice() else {
        panic!("{:?}", outcome.dispositions);
    };
    let message = &message.to_vec().unwrap();
    assert!(contains(
        message,
        b"X-Mailgate-Decryption: smime; result=decrypted"
    ));
    assert!(contains(message, b"Geheimes Angebot"));
}

#[test]
#[ignore = "needs softhsm2"]
fn a_gateway_whose_token_is_missing_defers() {
    if !with_token("a_gateway_whose_token_is_missing_defers") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // The certificate is in a file, so the gateway starts without the token.
    let gateway =
        Gateway::from_config_file(&gateway_config(dir.path(), "unplugged", softhsm::PIN_ENV))
            .unwrap();
    let outcome = gateway.process(
        &Envelope::outbound(ALICE, ["carol@partner.example"]),
        &common::mail(
            ALICE,
            "carol@partner.example",
            "Termin",
            "nicht im Klartext",
        ),
    );
    assert!(
        matches!(outcome.dispositions.as_slice(), [Disposition::Defer { reason, .. }] if reason.contains("unavailable")),
        "{:?}",
        outcome.dispositions
    );
    let encrypted = encrypted_to_alice(dir.path());
    let outcome = gateway.process(
        &Envelope::inbound("bob@partner.example", [ALICE]),
        &encrypted,
    );
    assert!(
        matches!(outcome.dispositions.as_slice(), [Disposition::Defer { reason, .. }] if reason.contains("unavailable")),
        "{:?}",
        outcome.dispositions
    );
}

#[test]
#[ignore = "needs softhsm2"]
fn a_wrong_pin_stops_the_gateway_from_starting() {
    if !with_token("a_wrong_pin_stops_the_gateway_from_starting") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // SOFTHSM2_CONF holds a path, not the PIN: the token refuses it.
    let result =
        Gateway::from_config_file(&gateway_config(dir.path(), softhsm::TOKEN, "SOFTHSM2_CONF"));
    assert!(
        matches!(
            result,
            Err(Error::Pkcs11(mailgate_pkcs11::Error::WrongPin(_)))
        ),
        "{result:?}"
    );
}

#[test]
fn a_token_key_without_its_pin_variable_stops_the_gateway_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    let result = Gateway::from_config_file(&gateway_config(
        dir.path(),
        softhsm::TOKEN,
        "MAILGATE_TEST_UNSET_PIN_VARIABLE",
    ));
    assert!(
        matches!(result, Err(Error::Pkcs11(mailgate_pkcs11::Error::PinMissing(ref v))) if v == "MAILGATE_TEST_UNSET_PIN_VARIABLE"),
        "{result:?}"
    );
}
