#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Nothing in the spool is readable by group or others, whatever the umask
//! of the process that writes it: its own file so that the umask set here
//! does not leak into other tests.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use mailgate_spool::{Delivery, Envelope, Spool};
use rustix::fs::Mode;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// Every file and directory below `root` (and `root`), with its mode.
fn walk(root: &Path) -> Vec<(std::path::PathBuf, u32)> {
    let mut found = vec![(root.to_owned(), mode(root))];
    let mut index = 0;
    while let Some((path, _)) = found.get(index).cloned() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                let path = entry.unwrap().path();
                found.push((path.clone(), mode(&path)));
            }
        }
        index += 1;
    }
    found
}

fn fill(spool: &Spool) {
    let envelope = Envelope {
        sender: "alice@behoerde.example".into(),
        recipients: vec!["bob@partner.example".into()],
        first_received: None,
    };
    let delivery = Delivery::new("alice@behoerde.example", vec!["bob@partner.example".into()]);
    let id = spool
        .receive(&envelope, &b"Subject: a\r\n\r\nsecret\r\n"[..])
        .unwrap();
    spool
        .hold(&id, 0, &delivery, &b"quarantined secret"[..])
        .unwrap();
    let kept = spool
        .receive(&envelope, &b"Subject: b\r\n\r\nsecret\r\n"[..])
        .unwrap();
    let jobs = spool
        .hand_over(&id, &[(delivery.clone(), b"decrypted secret".as_slice())])
        .unwrap();
    let mut later = delivery.clone();
    later.attempts = 1;
    spool.update(&jobs[0], &later).unwrap();
    spool.add_delivery(&delivery, b"bounce").unwrap();
    assert_eq!(spool.received().unwrap(), vec![kept]);
}

fn assert_private(root: &Path) {
    let entries = walk(root);
    assert!(
        entries
            .iter()
            .any(|(p, _)| p.starts_with(root.join("held")) && p.is_file())
    );
    assert!(
        entries
            .iter()
            .any(|(p, _)| p.starts_with(root.join("incoming")) && p.is_file())
    );
    assert!(
        entries
            .iter()
            .any(|(p, _)| p.starts_with(root.join("outgoing")) && p.is_file())
    );
    for (path, mode) in entries {
        let expected = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, expected, "{} is {mode:o}", path.display());
    }
}

#[test]
fn spool_files_are_0600_and_directories_0700_under_every_umask() {
    let base = tempfile::tempdir().unwrap();
    // Every umask that leaves the owner its rights (what is masked for
    // the group and others is exactly what could leak).
    for (round, umask) in (0..0o100).enumerate() {
        rustix::process::umask(Mode::from_raw_mode(umask));
        // A root that does not exist yet, with a parent the spool creates.
        let root = base.path().join(format!("spool-{round}/var"));
        let spool = Spool::open(&root).unwrap();
        fill(&spool);
        assert_private(&root);
        assert_eq!(mode(root.parent().unwrap()), 0o700, "created parent");
    }
    rustix::process::umask(Mode::from_raw_mode(0o022));
}

#[test]
fn open_makes_an_existing_world_readable_spool_private() {
    rustix::process::umask(Mode::from_raw_mode(0o022));
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("spool");
    let spool = Spool::open(&root).unwrap();
    fill(&spool);
    // What an earlier version left behind under umask 022.
    for (path, _) in walk(&root) {
        let wide = if path.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(wide)).unwrap();
    }
    Spool::open(&root).unwrap();
    assert_private(&root);
}

#[test]
fn open_refuses_a_symbolic_link_planted_in_the_spool() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("spool");
    Spool::open(&root).unwrap();
    let victim = base.path().join("victim");
    std::fs::write(&victim, b"x").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&victim, root.join("held/link")).unwrap();
    assert!(Spool::open(&root).is_err());
    assert_eq!(mode(&victim), 0o644, "the link was not followed");
}
