//! `mailgate tls check` on servers that conform to `bsi-tr-03108` with
//! suites this client (rustls) cannot negotiate (issue 23): the verdict on
//! the server, the distinct "no delivery path" outcome in the human and the
//! JSON report, and chain and name checked on the certificate the
//! enumeration received.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;
use testkit::{KeyKind, PortServer};

const NAME: &str = "mx.example.test";

struct Server {
    process: PortServer,
    dir: TempDir,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tls-policy/tests/support/smtp_server.py")
}

/// A TLS 1.2 server with an RSA-3072 testkit certificate, offering only
/// `ciphers` (with ffdhe3072 parameters for DHE).
fn server(ciphers: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    testkit::pki()
        .tls_server(NAME, KeyKind::Rsa3072)
        .write_server_files(dir.path(), "cert")
        .unwrap();
    std::fs::write(
        dir.path().join("root.pem"),
        testkit::pki().root().certificate_pem(),
    )
    .unwrap();
    std::fs::write(dir.path().join("openssl.cnf"), "").unwrap();
    common::run(
        "openssl",
        &[
            "genpkey",
            "-genparam",
            "-algorithm",
            "DH",
            "-pkeyopt",
            "group:ffdhe3072",
            "-out",
            "dh.pem",
        ],
        b"",
        dir.path(),
    );
    let process = PortServer::spawn(
        Command::new("python3")
            .arg(script())
            .args(["--cert", "cert.pem", "--key", "cert.key"])
            .args(["--max-version", "TLSv1_2", "--ciphers", ciphers])
            .args(["--dh-params", "dh.pem"])
            .env("OPENSSL_CONF", dir.path().join("openssl.cnf"))
            .current_dir(dir.path()),
    );
    Server { process, dir }
}

fn check(server: &Server, name: &str, extra: &[&str]) -> std::process::Output {
    let target = format!("127.0.0.1:{}", server.process.port());
    let mut args = vec![
        "tls",
        "check",
        &target,
        "--name",
        name,
        "--trust",
        "root.pem",
        "--timeout",
        "5",
    ];
    args.extend_from_slice(extra);
    common::mailgate_in(server.dir.path(), &args, b"", &[])
}

#[test]
fn cbc_sha256_and_dhe_only_servers_meet_the_profile_without_a_delivery_path() {
    for (ciphers, suite) in [
        (
            "ECDHE-RSA-AES128-SHA256",
            "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        ),
        (
            "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-SHA256",
            "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
        ),
    ] {
        let server = server(ciphers);
        // The server conforms: exit 0.
        let stdout = String::from_utf8(common::ok(check(&server, NAME, &[]))).unwrap();
        for line in [
            "meets profile bsi-tr-03108",
            "conforms, but no delivery path for this client",
            "info client.delivery-path [mailgate]: no delivery path",
        ] {
            assert!(stdout.contains(line), "{ciphers}: {line}: {stdout}");
        }
        assert!(stdout.contains(suite), "{ciphers}: {stdout}");
        let json = common::ok(check(&server, NAME, &["--json"]));
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        let report = &value["report"];
        assert_eq!(report["conforms"], true, "{report}");
        assert_eq!(report["conformance"], "conforms-without-delivery-path");
        assert_eq!(value["observation"]["handshake"]["state"], "failed");
        assert_eq!(
            value["observation"]["validation"]["chain"]["result"],
            "valid"
        );
        assert_eq!(
            value["observation"]["validation"]["name"]["result"],
            "valid"
        );
    }
}

#[test]
fn cbc_sha256_only_server_with_another_name_exits_1_on_the_name_check() {
    let server = server("ECDHE-RSA-AES128-SHA256");
    let output = check(&server, "other.example.test", &["--json"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let report = &value["report"];
    assert_eq!(report["conformance"], "does-not-conform");
    let failed: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["outcome"] == "fail")
        .map(|f| f["check"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["certificate.name"], "{report}");
}
