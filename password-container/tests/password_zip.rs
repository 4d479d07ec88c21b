//! The AES-256 ZIP against real archivers: 7-Zip and libarchive's bsdtar
//! extract every entry with the password, refuse a wrong one, and 7-Zip
//! reports the entries as AES-256.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

use mailgate_password_container::{EmbeddedFile, encrypted_zip};

const PASSWORD: &str = "Xk7pQ2mZr9vT4wLs8nBd";

fn archive() -> (tempfile::TempDir, std::path::PathBuf, Vec<EmbeddedFile>) {
    let dir = tempfile::tempdir().unwrap();
    let large: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let files = vec![
        EmbeddedFile {
            name: "message.txt".into(),
            mime_type: "text/plain".into(),
            data: "Grüße\r\n".as_bytes().to_vec(),
        },
        EmbeddedFile {
            name: "Übersicht.csv".into(),
            mime_type: "text/csv".into(),
            data: b"a;b\n1;2\n".to_vec(),
        },
        EmbeddedFile {
            name: "large.bin".into(),
            mime_type: "application/octet-stream".into(),
            data: large,
        },
        EmbeddedFile {
            name: "empty.txt".into(),
            mime_type: "text/plain".into(),
            data: Vec::new(),
        },
    ];
    let path = dir.path().join("message.zip");
    std::fs::write(&path, encrypted_zip(&files, PASSWORD).unwrap()).unwrap();
    (dir, path, files)
}

fn tool(program: &str, args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} (Debian: p7zip-full, libarchive-tools): {e}")
        })
}

#[test]
#[ignore = "needs p7zip-full"]
fn seven_zip_extracts_with_the_password_and_not_without() {
    let (dir, path, files) = archive();
    let path = path.to_str().unwrap();
    let listing = tool(
        "7z",
        &["l", "-slt", &format!("-p{PASSWORD}"), path],
        dir.path(),
    );
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert_eq!(
        listing.matches("Method = AES-256").count(),
        files.len(),
        "{listing}"
    );
    let test = tool("7z", &["t", &format!("-p{PASSWORD}"), path], dir.path());
    assert!(
        test.status.success(),
        "{}",
        String::from_utf8_lossy(&test.stdout)
    );
    let out = dir.path().join("7z");
    let extract = tool(
        "7z",
        &[
            "x",
            &format!("-p{PASSWORD}"),
            &format!("-o{}", out.display()),
            path,
        ],
        dir.path(),
    );
    assert!(
        extract.status.success(),
        "{}",
        String::from_utf8_lossy(&extract.stdout)
    );
    for file in &files {
        assert_eq!(
            std::fs::read(out.join(&file.name)).unwrap(),
            file.data,
            "{}",
            file.name
        );
    }
    let wrong = tool("7z", &["t", "-pwrong", path], dir.path());
    assert!(!wrong.status.success(), "a wrong password passed");
}

#[test]
#[ignore = "needs libarchive-tools"]
fn bsdtar_extracts_with_the_password() {
    let (dir, path, files) = archive();
    let out = dir.path().join("bsdtar");
    std::fs::create_dir(&out).unwrap();
    let extract = tool(
        "bsdtar",
        &[
            "-x",
            "--passphrase",
            PASSWORD,
            "-f",
            path.to_str().unwrap(),
            "-C",
            out.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(
        extract.status.success(),
        "{}",
        String::from_utf8_lossy(&extract.stderr)
    );
    for file in &files {
        assert_eq!(
            std::fs::read(out.join(&file.name)).unwrap(),
            file.data,
            "{}",
            file.name
        );
    }
}
