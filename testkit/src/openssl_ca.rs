//! A test CA run by OpenSSL itself: `openssl ca` revokes certificates and
//! publishes CRLs, `openssl ocsp` answers OCSP requests, both acting as one
//! of the testkit authorities (same certificate, same key).
//!
//! Revocation code must be tested against what a real CA produces, not
//! against CRLs and responses our own code wrote.
//!
//! ```no_run
//! use testkit::{KeyKind, OpensslCa, pki};
//!
//! let ca = OpensslCa::new(pki().intermediate());
//! let alice = pki().smime("alice@example.org", KeyKind::P256);
//! ca.revoke(&alice.certificate_pem(), "keyCompromise");
//! let crl = ca.crl_der();
//! let responder = ca.ocsp_responder();
//! println!("CRL of {} bytes, OCSP at {}", crl.len(), responder.url());
//! ```

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::peer::run_peer;
use crate::pki::Authority;

const CONFIG: &str = "\
[ ca ]
default_ca = testca

[ testca ]
database = index.txt
crlnumber = crlnumber
serial = serial
new_certs_dir = .
certificate = ca.cert.pem
private_key = ca.key.pem
default_md = sha256
default_days = 30
default_crl_days = 30
crl_extensions = crl_extensions
policy = policy_any

[ crl_extensions ]
authorityKeyIdentifier = keyid:always

[ policy_any ]
commonName = supplied

[ ocsp_signer ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = OCSPSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid

[ not_ocsp_signer ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = emailProtection
";

/// One testkit authority operated by `openssl ca` in a temporary directory
/// (its own `index.txt`, so tests do not see each other's revocations).
#[derive(Debug)]
pub struct OpensslCa {
    dir: tempfile::TempDir,
    counter: AtomicUsize,
}

impl OpensslCa {
    /// Sets up the CA directory for `authority`: certificate, key, empty
    /// index, CRL number, configuration.
    #[allow(clippy::expect_used)] // a test helper: the panic is the test failure
    pub fn new(authority: &Authority) -> OpensslCa {
        let dir = tempfile::tempdir().expect("temporary directory");
        authority
            .write_to(dir.path(), "ca")
            .expect("writing the CA files");
        let write = |name: &str, contents: &str| {
            fs::write(dir.path().join(name), contents).expect("writing a CA file");
        };
        write("index.txt", "");
        // Several certificates with the same subject (variants of one address).
        write("index.txt.attr", "unique_subject = no\n");
        write("crlnumber", "1000\n");
        write("serial", "4000\n");
        write("openssl.cnf", CONFIG);
        OpensslCa {
            dir,
            counter: AtomicUsize::new(0),
        }
    }

    /// The directory the CA works in.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate file (PEM).
    pub fn certificate_path(&self) -> PathBuf {
        self.dir.path().join("ca.cert.pem")
    }

    fn write_temp(&self, contents: &str) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.path().join(format!("input-{n}.pem"));
        #[allow(clippy::expect_used)] // a test helper: the panic is the test failure
        fs::write(&path, contents).expect("writing a certificate");
        path
    }

    fn ca(&self, args: &[&str]) -> Vec<u8> {
        let mut all = vec!["ca", "-config", "openssl.cnf", "-batch"];
        all.extend_from_slice(args);
        run_peer("openssl", &all, self.dir.path())
    }

    /// Records a certificate this CA issued as valid in the index (an OCSP
    /// responder answers `good` only for certificates it knows).
    pub fn record_valid(&self, certificate_pem: &str) {
        let path = self.write_temp(certificate_pem);
        self.ca(&["-valid", &path.to_string_lossy()]);
    }

    /// Revokes a certificate (`openssl ca -revoke`) with an RFC 5280 reason
    /// name as OpenSSL spells it (`keyCompromise`, `superseded`, ...).
    pub fn revoke(&self, certificate_pem: &str, reason: &str) {
        let path = self.write_temp(certificate_pem);
        self.ca(&["-revoke", &path.to_string_lossy(), "-crl_reason", reason]);
    }

    /// A CRL as of now (`openssl ca -gencrl`), PEM, valid 30 days.
    pub fn crl_pem(&self) -> Vec<u8> {
        self.ca(&["-gencrl"])
    }

    /// The same CRL in DER.
    pub fn crl_der(&self) -> Vec<u8> {
        let path = self.write_temp(&String::from_utf8_lossy(&self.crl_pem()));
        run_peer(
            "openssl",
            &["crl", "-in", &path.to_string_lossy(), "-outform", "DER"],
            self.dir.path(),
        )
    }

    /// Issues a delegated OCSP signing certificate (`id-kp-OCSPSigning`,
    /// P-256 key made by OpenSSL) and returns the certificate and key
    /// files. With `ocsp_signing` false the certificate lacks that purpose
    /// (emailProtection instead): a responder that must not be believed.
    pub fn issue_responder(&self, stem: &str, ocsp_signing: bool) -> (PathBuf, PathBuf) {
        let extensions = if ocsp_signing {
            "ocsp_signer"
        } else {
            "not_ocsp_signer"
        };
        self.issue(
            stem,
            &format!("/CN=OCSP responder {stem}/O=Mailgate Test/C=DE"),
            &["-extfile", "openssl.cnf", "-extensions", extensions],
        )
    }

    /// Issues an S/MIME certificate for `address` (P-256 key made by
    /// OpenSSL, emailProtection, the address as rfc822Name) whose
    /// cRLDistributionPoints extension names `crl_urls` (one distribution
    /// point with these full names; none: no extension), recorded valid in
    /// the index. Returns the certificate and key files (PEM).
    pub fn issue_smime_with_crl_dp(
        &self,
        stem: &str,
        address: &str,
        crl_urls: &[&str],
    ) -> (PathBuf, PathBuf) {
        let extensions = format!("{stem}.ext");
        let mut ext = format!(
            "basicConstraints = critical, CA:FALSE\n\
             keyUsage = critical, digitalSignature, keyAgreement\n\
             extendedKeyUsage = emailProtection\n\
             subjectAltName = email:{address}\n\
             subjectKeyIdentifier = hash\n\
             authorityKeyIdentifier = keyid\n"
        );
        if !crl_urls.is_empty() {
            let names: Vec<String> = crl_urls.iter().map(|url| format!("URI:{url}")).collect();
            ext.push_str(&format!("crlDistributionPoints = {}\n", names.join(", ")));
        }
        #[allow(clippy::expect_used)] // a test helper: the panic is the test failure
        fs::write(self.dir.path().join(&extensions), ext).expect("writing the extensions");
        let (path, key) = self.issue(
            stem,
            &format!("/CN={address}/O=Mailgate Test/C=DE"),
            &["-extfile", &extensions],
        );
        #[allow(clippy::expect_used)] // a test helper: the panic is the test failure
        self.record_valid(&fs::read_to_string(&path).expect("reading the certificate"));
        (path, key)
    }

    /// Makes a P-256 key and a request for `subject` with `openssl req`,
    /// and signs it with the CA key (`openssl x509 -req`, 30 days, SHA-256)
    /// with the `extensions` arguments. Returns the certificate and key
    /// files (`STEM.cert.pem`, `STEM.key.pem`).
    fn issue(&self, stem: &str, subject: &str, extensions: &[&str]) -> (PathBuf, PathBuf) {
        let key = format!("{stem}.key.pem");
        let request = format!("{stem}.csr");
        let certificate = format!("{stem}.cert.pem");
        let dir = self.dir.path();
        run_peer(
            "openssl",
            &[
                "req",
                "-new",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &request,
                "-subj",
                subject,
            ],
            dir,
        );
        let mut args = vec![
            "x509",
            "-req",
            "-in",
            &request,
            "-CA",
            "ca.cert.pem",
            "-CAkey",
            "ca.key.pem",
            "-CAcreateserial",
            "-days",
            "30",
            "-sha256",
        ];
        args.extend_from_slice(extensions);
        args.extend_from_slice(&["-out", &certificate]);
        run_peer("openssl", &args, dir);
        (dir.join(certificate), dir.join(key))
    }

    /// Starts `openssl ocsp` answering from this CA's index, signing with
    /// the CA key itself; stopped when dropped.
    pub fn ocsp_responder(&self) -> OcspResponder {
        let dir = self.dir.path();
        self.start_responder(&dir.join("ca.cert.pem"), &dir.join("ca.key.pem"))
    }

    /// Starts `openssl ocsp` signing with another certificate and key
    /// (from [`OpensslCa::issue_responder`]).
    #[allow(clippy::expect_used, clippy::panic)] // a test helper: the panic is the test failure
    pub fn start_responder(&self, signer: &Path, key: &Path) -> OcspResponder {
        let mut command = Command::new("openssl");
        command
            .args([
                "ocsp",
                "-index",
                "index.txt",
                "-CA",
                "ca.cert.pem",
                "-rsigner",
            ])
            .arg(signer)
            .arg("-rkey")
            .arg(key)
            // Port 0: the kernel picks a free one and OpenSSL prints it as
            // "ACCEPT [::]:PORT PID=..." on standard output.
            .args(["-port", "0", "-nmin", "60"])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = command
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start openssl ocsp: {error}"));
        let mut line = String::new();
        let stdout = child.stdout.take().expect("standard output is piped");
        let _ = BufReader::new(stdout).read_line(&mut line);
        let port = line
            .split_whitespace()
            .nth(1)
            .and_then(|address| address.rsplit(':').next())
            .and_then(|port| port.parse().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("openssl ocsp printed no port but {line:?}");
        };
        OcspResponder { child, port }
    }
}

/// An `openssl ocsp` responder on the loopback interface; killed when
/// dropped.
#[derive(Debug)]
pub struct OcspResponder {
    child: Child,
    port: u16,
}

impl OcspResponder {
    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its URL (`http://127.0.0.1:PORT/`), as an AIA extension would name it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Stops it now (as dropping does).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OcspResponder {
    fn drop(&mut self) {
        self.stop();
    }
}
