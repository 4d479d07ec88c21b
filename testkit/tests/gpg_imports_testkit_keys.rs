//! Peers: GnuPG (`gpg`, OpenPGP) and `gpgsm` (X.509). They must accept what
//! testkit generates, so interop tests can hand the same material to them.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::{Command, Output};

use testkit::{KeyKind, PgpSuite, PgpVersion, openpgp_key, pki};

fn gnupg(program: &str, home: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .arg("--homedir")
        .arg(home)
        .args([
            "--batch",
            "--yes",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} is installed (apt-get install gnupg gpgsm): {e}"))
}

fn home() -> tempfile::TempDir {
    let home = tempfile::tempdir().unwrap();
    // An isolated agent socket per test, so parallel tests do not share state.
    std::fs::write(
        home.path().join("gpg-agent.conf"),
        "allow-loopback-pinentry\n",
    )
    .unwrap();
    home
}

#[test]
fn gpg_imports_testkit_openpgp_secret_keys_with_their_user_ids() {
    for suite in [PgpSuite::Rsa3072, PgpSuite::Cv25519, PgpSuite::P256] {
        let home = home();
        let user_id = format!(
            "Test {suite:?} <{}@example.org>",
            format!("{suite:?}").to_lowercase()
        );
        let key = openpgp_key(&user_id, suite, PgpVersion::V4);
        let files = key.write_to(home.path(), "key").unwrap();
        let import = gnupg(
            "gpg",
            home.path(),
            &["--import", files.secret.to_str().unwrap()],
        );
        assert!(
            import.status.success(),
            "{suite:?}: {}",
            String::from_utf8_lossy(&import.stderr)
        );
        let listing = gnupg("gpg", home.path(), &["--with-colons", "--list-secret-keys"]);
        let listing = String::from_utf8_lossy(&listing.stdout);
        assert!(
            listing.contains(&format!("fpr:::::::::{}:", key.fingerprint_hex())),
            "{suite:?}: fingerprint missing in {listing}"
        );
        assert!(
            listing.contains(&user_id),
            "{suite:?}: user ID missing in {listing}"
        );
        // Neither revoked ("r") nor expired ("e"), and usable for signing and
        // encryption (capital S and E in the primary key's capability field).
        for line in listing
            .lines()
            .filter(|l| l.starts_with("sec:") || l.starts_with("uid:"))
        {
            let validity = line.split(':').nth(1).unwrap_or_default();
            assert!(!matches!(validity, "r" | "e" | "i"), "{suite:?}: {line}");
        }
        let capabilities = listing
            .lines()
            .find(|l| l.starts_with("sec:"))
            .and_then(|l| l.split(':').nth(11))
            .unwrap_or_default();
        assert!(
            capabilities.contains('S') && capabilities.contains('E'),
            "{suite:?}: {capabilities}"
        );
    }
}

#[test]
fn gpg_encrypts_to_a_testkit_public_key_and_the_secret_key_decrypts() {
    let home = home();
    let key = openpgp_key(
        "Roundtrip <roundtrip@example.org>",
        PgpSuite::Cv25519,
        PgpVersion::V4,
    );
    let files = key.write_to(home.path(), "rt").unwrap();
    assert!(
        gnupg(
            "gpg",
            home.path(),
            &["--import", files.secret.to_str().unwrap()]
        )
        .status
        .success()
    );
    let plain = home.path().join("plain.txt");
    std::fs::write(&plain, "attack at dawn\n").unwrap();
    let cipher = home.path().join("cipher.asc");
    let encrypt = gnupg(
        "gpg",
        home.path(),
        &[
            "--trust-model",
            "always",
            "--armor",
            "--recipient",
            "roundtrip@example.org",
            "--output",
            cipher.to_str().unwrap(),
            "--encrypt",
            plain.to_str().unwrap(),
        ],
    );
    assert!(
        encrypt.status.success(),
        "{}",
        String::from_utf8_lossy(&encrypt.stderr)
    );
    let decrypt = gnupg("gpg", home.path(), &["--decrypt", cipher.to_str().unwrap()]);
    assert!(
        decrypt.status.success(),
        "{}",
        String::from_utf8_lossy(&decrypt.stderr)
    );
    assert_eq!(decrypt.stdout, b"attack at dawn\n");
}

#[test]
fn gpgsm_imports_testkit_root_chain_and_end_entity() {
    let home = home();
    let identity = pki().smime("carol@example.org", KeyKind::Rsa2048);
    let files = identity.write_to(home.path(), "carol").unwrap();
    for file in [&files.root_pem, &files.chain_pem, &files.certificate_pem] {
        let import = gnupg("gpgsm", home.path(), &["--import", file.to_str().unwrap()]);
        assert!(
            import.status.success(),
            "{}",
            String::from_utf8_lossy(&import.stderr)
        );
    }
    let listing = gnupg(
        "gpgsm",
        home.path(),
        &["--with-colons", "--list-keys", "carol@example.org"],
    );
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("carol@example.org"), "{listing}");
}
