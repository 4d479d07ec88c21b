//! Local SMTP servers on OpenSSL (Python's `ssl` module), started and
//! stopped by the tests, with certificates from testkit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

pub(crate) mod tls_stub;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;
use testkit::KeyKind;
use tls_policy::{Prober, Profile, Target, Timeouts, TrustAnchors};

/// The name every test server's certificate carries.
pub(crate) const NAME: &str = "mx.example.test";

/// How a test server is set up.
#[derive(Debug, Clone)]
pub(crate) struct Setup {
    pub(crate) key: KeyKind,
    pub(crate) mode: &'static str,
    pub(crate) min_version: &'static str,
    pub(crate) max_version: &'static str,
    /// OpenSSL cipher string for TLS 1.2 and older.
    pub(crate) ciphers: Option<&'static str>,
    /// TLS 1.3 suites (OpenSSL `Ciphersuites`).
    pub tls13_suites: Option<&'static str>,
    /// Key-exchange groups (OpenSSL `Groups`).
    pub(crate) groups: Option<&'static str>,
    /// Send the intermediate with the leaf.
    pub(crate) send_chain: bool,
    /// A self-signed certificate made by `openssl req -x509` instead of testkit's.
    pub(crate) self_signed: bool,
    /// Load finite-field DH parameters (ffdhe3072), as Postfix does, so
    /// DHE and anonymous DH suites can be selected.
    pub(crate) dh_params: bool,
}

impl Default for Setup {
    fn default() -> Setup {
        Setup {
            key: KeyKind::P256,
            mode: "starttls",
            min_version: "TLSv1_2",
            max_version: "TLSv1_3",
            ciphers: None,
            tls13_suites: None,
            groups: None,
            send_chain: true,
            self_signed: false,
            dh_params: false,
        }
    }
}

/// A running server; killed when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) port: u16,
    pub(crate) dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub(crate) fn start(setup: &Setup) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        if setup.self_signed {
            openssl(
                dir.path(),
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "ec",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-nodes",
                    "-subj",
                    "/CN=mx.example.test",
                    "-addext",
                    "subjectAltName=DNS:mx.example.test",
                    "-days",
                    "365",
                    "-keyout",
                    "key.pem",
                    "-out",
                    "cert.pem",
                ],
            );
        } else {
            let identity = testkit::pki().tls_server(NAME, setup.key);
            let mut pem = identity.certificate_pem();
            if setup.send_chain {
                pem.push_str(&identity.chain_pem());
            }
            std::fs::write(&cert, pem).unwrap();
            std::fs::write(&key, identity.private_key_pem()).unwrap();
        }
        let mut conf = String::from(
            "openssl_conf = default_conf\n[default_conf]\nssl_conf = ssl_sect\n[ssl_sect]\nsystem_default = system_default_sect\n[system_default_sect]\n",
        );
        if let Some(suites) = setup.tls13_suites {
            conf.push_str(&format!("Ciphersuites = {suites}\n"));
        }
        if let Some(groups) = setup.groups {
            conf.push_str(&format!("Groups = {groups}\n"));
        }
        let conf_path = dir.path().join("openssl.cnf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut command = Command::new("python3");
        command
            .arg(script())
            .args([
                "--cert",
                cert.to_str().unwrap(),
                "--key",
                key.to_str().unwrap(),
            ])
            .args(["--mode", setup.mode, "--name", NAME])
            .arg("--sni-log")
            .arg(dir.path().join("sni.log"))
            .args([
                "--min-version",
                setup.min_version,
                "--max-version",
                setup.max_version,
            ])
            .env("OPENSSL_CONF", &conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(ciphers) = setup.ciphers {
            command.args(["--ciphers", ciphers]);
        }
        if setup.dh_params {
            openssl(
                dir.path(),
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
            );
            command.arg("--dh-params").arg(dir.path().join("dh.pem"));
        }
        let mut child = command.spawn().expect("python3 runs");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let port = match line.trim().parse() {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                let mut stderr = String::new();
                child
                    .stderr
                    .take()
                    .unwrap()
                    .read_to_string(&mut stderr)
                    .unwrap();
                panic!("test server did not start: {stderr}");
            }
        };
        Server { child, port, dir }
    }

    /// The SNI names of the handshakes so far, in order (`-` for none).
    pub(crate) fn sni_names(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("sni.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub(crate) fn target(&self) -> Target {
        Target::parse(&format!("127.0.0.1:{}", self.port), false)
            .unwrap()
            .with_name(NAME)
    }
}

pub(crate) fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_server.py")
}

pub(crate) fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// The test PKI's root as the only anchor.
pub(crate) fn anchors() -> TrustAnchors {
    TrustAnchors::from_der([testkit::pki().root().certificate_der()]).unwrap()
}

pub(crate) fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        io: Duration::from_secs(3),
        session: Duration::from_secs(5),
    }
}

pub(crate) fn prober(profile: Profile) -> Prober {
    Prober::new(profile, anchors())
        .with_timeouts(timeouts())
        .with_ehlo_name("probe.example.test")
}
