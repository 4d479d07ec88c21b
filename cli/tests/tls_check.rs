//! `mailgate tls check` against OpenSSL SMTP servers (python3 `ssl`) on
//! loopback, started by the tests with testkit certificates.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;
use testkit::{KeyKind, PortServer};

const NAME: &str = "mx.example.test";

/// A running server and the directory with its files.
struct Server {
    process: PortServer,
    dir: TempDir,
}

impl Server {
    fn port(&self) -> u16 {
        self.process.port()
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tls-policy/tests/support")
        .join(name)
}

/// A server with a testkit certificate; the root is written to `root.pem`.
fn server(kind: KeyKind, mode: &str) -> Server {
    let dir = tempfile::tempdir().unwrap();
    testkit::pki()
        .tls_server(NAME, kind)
        .write_server_files(dir.path(), "cert")
        .unwrap();
    std::fs::write(
        dir.path().join("root.pem"),
        testkit::pki().root().certificate_pem(),
    )
    .unwrap();
    std::fs::write(dir.path().join("openssl.cnf"), "").unwrap();
    let process = PortServer::spawn(
        Command::new("python3")
            .arg(script("smtp_server.py"))
            .args(["--cert", "cert.pem", "--key", "cert.key", "--mode", mode])
            .env("OPENSSL_CONF", dir.path().join("openssl.cnf"))
            .current_dir(dir.path()),
    );
    Server { process, dir }
}

fn check(server: &Server, extra: &[&str]) -> std::process::Output {
    let target = format!("127.0.0.1:{}", server.port());
    let mut args = vec![
        "tls",
        "check",
        &target,
        "--name",
        NAME,
        "--trust",
        "root.pem",
        "--timeout",
        "5",
    ];
    args.extend_from_slice(extra);
    common::mailgate_in(server.dir.path(), &args, b"", &[])
}

#[test]
fn compliant_openssl_server_exits_0() {
    let server = server(KeyKind::P256, "starttls");
    let output = check(&server, &["--no-enumeration"]);
    let stdout = String::from_utf8(common::ok(output)).unwrap();
    assert!(stdout.contains("meets profile bsi-tr-03108"), "{stdout}");
    assert!(stdout.contains("negotiated: TLSv1.3"), "{stdout}");
}

#[test]
fn rsa2048_openssl_server_exits_1_and_names_the_requirement() {
    let server = server(KeyKind::Rsa2048, "starttls");
    let output = check(&server, &["--no-enumeration"]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        stdout.contains("FAIL certificate.key-size [TR-02102-2 3.6 / TR-03116-4]")
            && stdout.contains("RSA-2048 (minimum 3000)"),
        "{stdout}"
    );
}

#[test]
fn human_report_shows_suites_per_version_and_offer_facts() {
    let server = server(KeyKind::P256, "starttls");
    let output = check(&server, &[]);
    let stdout = String::from_utf8(common::ok(output)).unwrap();
    for line in [
        "offered TLSv1.2: ",
        "offered TLSv1.3: 3 suite(s)",
        "info offer.forward-secrecy [TR-03108 4.3.2]: every offered suite is forward secret",
        "info offer.strongest-suite [TR-03108 4.3.2]: TLS_AES_256_GCM_SHA384 (strong, TLSv1.3)",
        "info offer.weakest-suite [TR-03108 4.3.2]: ",
    ] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
    assert!(!stdout.contains("enumeration incomplete"), "{stdout}");
}

#[test]
fn json_report_holds_findings_and_enumeration() {
    let server = server(KeyKind::P256, "starttls");
    let output = check(&server, &["--json"]);
    let value: serde_json::Value = serde_json::from_slice(&common::ok(output)).unwrap();
    assert_eq!(value["report"]["conforms"], true);
    assert_eq!(value["observation"]["handshake"]["version"], "TLSv1.3");
    assert!(value["report"]["findings"].as_array().unwrap().len() > 10);
    let versions = &value["observation"]["enumeration"]["versions"];
    assert!(
        versions.as_array().unwrap().contains(&"TLSv1.3".into()),
        "{versions}"
    );
    let per_version = &value["observation"]["enumeration"]["suites_by_version"];
    assert!(
        per_version
            .as_array()
            .unwrap()
            .iter()
            .any(|entry| entry["version"] == "TLSv1.2"
                && !entry["suites"].as_array().unwrap().is_empty()),
        "{per_version}"
    );
}

#[test]
fn opportunistic_profile_accepts_a_server_without_starttls() {
    let server = server(KeyKind::P256, "no-starttls");
    assert_eq!(check(&server, &[]).status.code(), Some(1));
    let output = check(&server, &["--profile", "opportunistic"]);
    common::ok(output);
}

#[test]
fn custom_profile_file_is_used() {
    let server = server(KeyKind::P256, "starttls");
    std::fs::write(
        server.dir.path().join("strict.toml"),
        "name = \"p384-only\"\n[key_sizes]\nrequirement = \"house\"\nrsa = 4096\ndh = 4096\necc = 384\n",
    )
    .unwrap();
    let output = check(&server, &["--profile", "strict.toml", "--no-enumeration"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8(output.stdout)
            .unwrap()
            .contains("DOES NOT meet profile p384-only")
    );
}

#[test]
fn unreachable_server_exits_3_and_bad_arguments_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let target = format!("127.0.0.1:{port}");
    let output = common::mailgate_in(
        dir.path(),
        &["tls", "check", &target, "--profile", "opportunistic"],
        b"",
        &[],
    );
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    for args in [
        vec!["tls", "check", "host:notaport"],
        vec![
            "tls",
            "check",
            "mx.example.test",
            "--profile",
            "missing.toml",
        ],
        vec!["tls", "check", "mx.example.test", "--trust", "missing.pem"],
        vec!["tls", "check"],
    ] {
        let output = common::mailgate_in(dir.path(), &args, b"", &[]);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn garbage_banner_exits_3_with_a_clean_message() {
    let server = server(KeyKind::P256, "garbage");
    let output = check(&server, &[]);
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("mailgate: ") && stderr.contains("reply code"),
        "{stderr}"
    );
}

/// `--domain`: the exchangers come from a DNSSEC-signed zone that NSD
/// serves on loopback, and the TLSA records there are enforced.
#[test]
#[ignore = "needs nsd and ldnsutils"]
fn domain_check_follows_the_mx_records_and_enforces_dane() {
    let server = server(KeyKind::P256, "starttls");
    let dir = server.dir.path();
    let port = server.port();
    common::run(
        "openssl",
        &[
            "x509", "-in", "cert.pem", "-outform", "DER", "-out", "cert.der",
        ],
        b"",
        dir,
    );
    let digest = String::from_utf8(common::run(
        "openssl",
        &["dgst", "-sha256", "-r", "cert.der"],
        b"",
        dir,
    ))
    .unwrap();
    let sha256 = digest.split_whitespace().next().unwrap();
    let records = format!(
        "@ IN MX 10 mx.example.test.\n\
         mx IN A 127.0.0.1\n\
         _{port}._tcp.mx IN TLSA 3 0 1 {sha256}\n\
         forged IN MX 10 mx.forged.example.test.\n\
         mx.forged IN A 127.0.0.1\n\
         _{port}._tcp.mx.forged IN TLSA 3 0 1 {}\n\
         nomail IN MX 0 .\n\
         strict IN MX 10 mx.example.test.\n\
         _mta-sts.strict IN TXT \"v=STSv1; id=1\"\n\
         mta-sts.strict IN A 127.0.0.1\n",
        "11".repeat(32)
    );
    let nsd = testkit::nsd::Nsd::start(
        testkit::nsd::Zone {
            origin: "example.test",
            records: &records,
        },
        &[],
        |signed| signed,
    );
    std::fs::write(dir.join("anchor.key"), &nsd.anchor).unwrap();
    // strict.example.test enforces an MTA-STS policy that lists another
    // MX host, served over HTTPS by OpenSSL with a testkit certificate.
    testkit::pki()
        .tls_server("mta-sts.strict.example.test", KeyKind::P256)
        .write_server_files(dir, "sts")
        .unwrap();
    std::fs::write(
        dir.join("sts.txt"),
        "version: STSv1\r\nmode: enforce\r\nmx: mx.elsewhere.test\r\nmax_age: 600\r\n",
    )
    .unwrap();
    let https = PortServer::spawn(
        Command::new("python3")
            .arg(script("https_server.py"))
            .args(["--cert", "sts.pem", "--key", "sts.key", "--body", "sts.txt"])
            .current_dir(dir),
    );
    let https_port = https.port().to_string();
    let dns_server = nsd.address.to_string();
    let port_text = port.to_string();
    let check_domain = |domain: &str, extra: &[&str]| {
        let mut args = vec![
            "tls",
            "check",
            "--domain",
            domain,
            "--port",
            &port_text,
            "--dns-server",
            &dns_server,
            "--dns-trust-anchor",
            "anchor.key",
            "--mta-sts-port",
            &https_port,
            "--trust",
            "root.pem",
            "--no-enumeration",
            "--timeout",
            "5",
        ];
        args.extend_from_slice(extra);
        common::mailgate_in(dir, &args, b"", &[])
    };

    // The MX is validated, the one exchanger meets the profile and its
    // chain matches the TLSA record.
    let output = check_domain("example.test", &["--json"]);
    let value: serde_json::Value = serde_json::from_slice(&common::ok(output)).unwrap();
    assert_eq!(value["route"]["dnssec"], true, "{value}");
    assert_eq!(value["route"]["exchangers"][0]["name"], NAME, "{value}");
    assert_eq!(value["conforms"], true, "{value}");
    let server_result = &value["servers"][0];
    assert_eq!(server_result["server"], format!("127.0.0.1:{port}"));
    let dane = server_result["report"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["check"] == "dane.tlsa")
        .unwrap_or_else(|| panic!("{server_result}"));
    assert_eq!(dane["outcome"], "pass", "{dane}");

    // A TLSA record that matches nothing: the same server fails.
    let output = check_domain("forged.example.test", &[]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("FAIL dane.tlsa"), "{stdout}");

    // A null MX: the domain takes no mail, which is not a pass.
    let output = check_domain("nomail.example.test", &[]);
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("null MX (RFC 7505)"), "{stdout}");
    assert!(stdout.contains("DNSSEC-validated"), "{stdout}");

    // The MTA-STS policy of strict.example.test does not list the one MX
    // host: however good its TLS, mail must not go there.
    let output = check_domain("strict.example.test", &["--json"]);
    assert_eq!(output.status.code(), Some(1));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(value["mta_sts"]["mode"], "enforce", "{value}");
    assert_eq!(value["mta_sts"]["mx"][0], "mx.elsewhere.test", "{value}");
    let finding = &value["servers"][0]["report"]["findings"][0];
    assert_eq!(finding["check"], "mta-sts.mx", "{value}");
    assert_eq!(finding["outcome"], "fail", "{value}");
    drop(https);
}
