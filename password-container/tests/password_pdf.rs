//! The encrypted PDF against real readers: qpdf checks the structure and the
//! encryption, poppler's pdftotext and pdfdetach read the text and the
//! attachments with the password, and nothing opens without it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::Command;

use mailgate_password_container::{EmbeddedFile, PdfContent, encrypted_pdf};

const PASSWORD: &str = "Xk7pQ2mZr9vT4wLs8nBd";

fn sample() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut text = vec!["Sehr geehrte Damen und Herren,".to_owned(), String::new()];
    for i in 0..80 {
        text.push(format!(
            "Zeile {i}: Grüße aus der Behörde (vertraulich) – ein Text mit Umlauten äöü ß €."
        ));
    }
    let content = PdfContent {
        text,
        attachments: vec![
            EmbeddedFile {
                name: "bericht.txt".into(),
                mime_type: "text/plain".into(),
                data: b"Anhang eins\n".to_vec(),
            },
            EmbeddedFile {
                name: "Übersicht.csv".into(),
                mime_type: "text/csv".into(),
                data: b"a;b\n1;2\n".to_vec(),
            },
        ],
    };
    let pdf = encrypted_pdf(&content, PASSWORD).unwrap();
    let path = dir.path().join("nachricht.pdf");
    std::fs::write(&path, &pdf).unwrap();
    (dir, path)
}

fn tool(program: &str, args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (Debian: qpdf, poppler-utils): {e}"))
}

#[test]
#[ignore = "needs qpdf"]
fn qpdf_finds_aes256_revision_6_and_a_sound_file() {
    let (dir, path) = sample();
    let path = path.to_str().unwrap();
    let check = tool(
        "qpdf",
        &[&format!("--password={PASSWORD}"), "--check", path],
        dir.path(),
    );
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(report.contains("R = 6"), "{report}");
    assert!(report.contains("AESv3"), "{report}");
    assert!(
        report.contains("No syntax or stream encoding errors found"),
        "{report}"
    );
    let wrong = tool("qpdf", &["--password=wrong", "--check", path], dir.path());
    assert!(!wrong.status.success(), "opened with a wrong password");
    let none = tool("qpdf", &["--check", path], dir.path());
    assert!(!none.status.success(), "opened without a password");
}

#[test]
#[ignore = "needs poppler-utils"]
fn pdftotext_and_pdfdetach_read_text_and_attachments_with_the_password() {
    let (dir, path) = sample();
    let path = path.to_str().unwrap();
    let text = tool(
        "pdftotext",
        &["-upw", PASSWORD, "-enc", "UTF-8", path, "-"],
        dir.path(),
    );
    assert!(
        text.status.success(),
        "{}",
        String::from_utf8_lossy(&text.stderr)
    );
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("Sehr geehrte Damen und Herren,"));
    assert!(
        text.contains("Zeile 79: Grüße aus der Behörde (vertraulich)"),
        "{text}"
    );
    assert!(text.contains("äöü ß €"));

    let out = dir.path().join("detached");
    std::fs::create_dir(&out).unwrap();
    let detach = tool(
        "pdfdetach",
        &[
            "-upw",
            PASSWORD,
            "-saveall",
            "-o",
            out.to_str().unwrap(),
            path,
        ],
        dir.path(),
    );
    assert!(
        detach.status.success(),
        "{}",
        String::from_utf8_lossy(&detach.stderr)
    );
    assert_eq!(
        std::fs::read(out.join("bericht.txt")).unwrap(),
        b"Anhang eins\n"
    );
    assert_eq!(
        std::fs::read(out.join("Übersicht.csv")).unwrap(),
        b"a;b\n1;2\n"
    );

    let locked = tool("pdftotext", &["-upw", "wrong", path, "-"], dir.path());
    assert!(!locked.status.success());
}
