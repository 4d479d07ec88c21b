//! Issue 16, finding 8 (Date vs signing time) in the gateway: the
//! tolerance `mailgate smime|pgp verify --date-tolerance` takes is
//! `[verification] date_tolerance` in `mailgate.toml`. A message signed now
//! (OpenSSL, GnuPG) whose Date says three hours ago gets
//! `warning=date-differs-from-signing-time` under the default of one hour,
//! none with `date_tolerance = "4h"`, and again the warning with
//! `date_tolerance = 3600` (seconds). A value that is no duration stops the
//! configuration from loading (exit 3: the MTA defers).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
mod pgp_common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use pgp_common::wrap_signed;

const ENTITY: &str = "Content-Type: text/plain; charset=utf-8\r\n\r\nTermin morgen.\r\n";

/// The signed message from `address` with a Date three hours before the
/// signature was made.
fn three_hours_early(signed: &[u8], address: &str) -> Vec<u8> {
    let date = mail_message::rfc5322_date(SystemTime::now() - Duration::from_secs(3 * 3600));
    let mut message = format!(
        "From: {address}\r\nTo: alice@behoerde.example\r\nSubject: Termin\r\nDate: {date}\r\n"
    )
    .into_bytes();
    message.extend_from_slice(signed);
    message
}

/// `mailgate process` inbound from `address`: the signature result.
fn signature(dir: &Path, message: &[u8], address: &str, out: &str) -> String {
    common::ok(common::mailgate_in(
        dir,
        &[
            "process",
            "--config",
            "mailgate.toml",
            "--direction",
            "inbound",
            "--from",
            address,
            "--to",
            "alice@behoerde.example",
            "--out-dir",
            out,
        ],
        message,
        &[],
    ));
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(out).join("result.json")).unwrap()).unwrap();
    result["audit"]["signature"].as_str().unwrap().to_owned()
}

#[test]
fn the_gateway_date_tolerance_comes_from_mailgate_toml() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::ok(common::mailgate_in(d, &["demo", "--dir", "."], b"", &[]));
    std::fs::write(d.join("entity.txt"), ENTITY).unwrap();
    let smime = testkit::run_peer(
        "openssl",
        &[
            "cms",
            "-sign",
            "-signer",
            "pki/bob.cert.pem",
            "-inkey",
            "pki/bob.key.pem",
            "-in",
            "entity.txt",
        ],
        d,
    );
    let home = tempfile::tempdir().unwrap();
    let homedir = home.path().to_str().unwrap();
    testkit::run_peer(
        "gpg",
        &[
            "--homedir",
            homedir,
            "--batch",
            "--import",
            "pki/carol.sec.asc",
        ],
        d,
    );
    let detached = testkit::run_peer(
        "gpg",
        &[
            "--homedir",
            homedir,
            "--batch",
            "--armor",
            "--detach-sign",
            "--output",
            "-",
            "entity.txt",
        ],
        d,
    );
    let pgp = wrap_signed("x", ENTITY.as_bytes(), &detached, "pgp-sha256");
    let start = pgp.windows(12).position(|w| w == b"MIME-Version").unwrap();
    let pgp = pgp[start..].to_vec();
    let cases = [
        (
            three_hours_early(&smime, "bob@partner.example"),
            "bob@partner.example",
            "valid; method=smime; signer=bob@partner.example",
        ),
        (
            three_hours_early(&pgp, "carol@extern.example"),
            "carol@extern.example",
            "valid; method=pgp; signer=Carol <carol@extern.example>",
        ),
    ];
    let config = std::fs::read_to_string(d.join("mailgate.toml")).unwrap();
    let warned = |valid: &str| format!("{valid}; warning=date-differs-from-signing-time");
    for (setting, warns) in [
        ("", true),
        ("[verification]\ndate_tolerance = \"4h\"\n", false),
        ("[verification]\ndate_tolerance = 3600\n", true),
        ("[verification]\ndate_tolerance = 14400\n", false),
    ] {
        std::fs::write(d.join("mailgate.toml"), format!("{config}\n{setting}")).unwrap();
        for (index, (message, address, valid)) in cases.iter().enumerate() {
            let out = format!("out-{}-{index}", setting.len());
            let expected = if warns {
                warned(valid)
            } else {
                (*valid).to_owned()
            };
            assert_eq!(
                signature(d, message, address, &out),
                expected,
                "{setting:?}, {address}"
            );
        }
    }
    // Not a duration: the configuration does not load, the mail waits.
    for wrong in ["\"1w\"", "-60", "\"soon\""] {
        std::fs::write(
            d.join("mailgate.toml"),
            format!("{config}\n[verification]\ndate_tolerance = {wrong}\n"),
        )
        .unwrap();
        let (message, address, _) = &cases[0];
        let output = common::mailgate_in(
            d,
            &[
                "process",
                "--config",
                "mailgate.toml",
                "--direction",
                "inbound",
                "--from",
                address,
                "--to",
                "alice@behoerde.example",
                "--out-dir",
                "out-wrong",
            ],
            message,
            &[],
        );
        assert_eq!(output.status.code(), Some(3), "{wrong}: {output:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("date_tolerance"),
            "{wrong}: {output:?}"
        );
    }
}
