//! `mailgate demo` keeps its private keys to its owner: the directory is
//! `0700` and every private key file `0600`, whatever the umask and
//! whatever an earlier run left behind.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Runs `mailgate demo --dir DIR` under a permissive umask (`022`, the
/// common default), the way a user's shell would.
fn demo_with_umask(dir: &Path) {
    let output = Command::new("sh")
        .arg("-c")
        .arg("umask 022; exec \"$0\" demo --dir \"$1\"")
        .arg(env!("CARGO_BIN_EXE_mailgate"))
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn private_keys(pki: &Path) -> Vec<std::path::PathBuf> {
    let keys: Vec<_> = std::fs::read_dir(pki)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.ends_with(".key.pem") || name.ends_with(".sec.asc")
        })
        .collect();
    // alice and bob (S/MIME), alice and carol (OpenPGP) at least.
    assert!(keys.len() >= 3, "{keys:?}");
    keys
}

#[test]
fn demo_writes_private_keys_0600_in_a_0700_directory() {
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("new").join("demo");
    demo_with_umask(&dir);
    assert_eq!(mode(&dir), 0o700, "demo directory");
    assert_eq!(mode(&dir.join("pki")), 0o700, "pki directory");
    for key in private_keys(&dir.join("pki")) {
        assert_eq!(mode(&key), 0o600, "{}", key.display());
        let text = std::fs::read_to_string(&key).unwrap();
        assert!(text.contains("PRIVATE KEY"), "{}", key.display());
    }
}

#[test]
fn demo_narrows_an_existing_directory_and_key_files_from_an_earlier_run() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::create_dir(d.join("pki")).unwrap();
    std::fs::set_permissions(d.join("pki"), std::fs::Permissions::from_mode(0o755)).unwrap();
    // A world-readable key file from an older mailgate.
    std::fs::write(d.join("pki/alice.sec.asc"), "old").unwrap();
    std::fs::set_permissions(
        d.join("pki/alice.sec.asc"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    demo_with_umask(d);
    assert_eq!(mode(d), 0o700);
    assert_eq!(mode(&d.join("pki")), 0o700);
    for key in private_keys(&d.join("pki")) {
        assert_eq!(mode(&key), 0o600, "{}", key.display());
    }
    assert_ne!(std::fs::read(d.join("pki/alice.sec.asc")).unwrap(), b"old");
}
