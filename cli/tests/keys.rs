//! `mailgate keys import`: organisation keys made by OpenSSL and GnuPG are
//! imported, stored encrypted at rest (opened again by OpenSSL and GnuPG
//! only with the at-rest passphrase), and the gateway signs with them: the
//! mail it produces verifies with `openssl cms` and `gpg`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::demo;

use std::path::Path;
use std::process::Output;

use common::{mailgate_in, ok, run, tool};

const AT_REST: (&str, &str) = ("MAILGATE_KEY_PASSPHRASE", "at-rest passphrase 0451");

/// A CA (`NAME-ca.pem`) and an S/MIME certificate for `address`
/// (`NAME.pem`, key `NAME.key`), made by OpenSSL, bundled into `NAME.p12`
/// with the password `transport`.
fn openssl_identity(d: &Path, name: &str, address: &str) {
    run(
        "openssl",
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}-ca.key"),
            "-out",
            &format!("{name}-ca.pem"),
            "-subj",
            "/CN=Import CA",
            "-days",
            "30",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
        b"",
        d,
    );
    run(
        "openssl",
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            &format!("/CN={name}"),
        ],
        b"",
        d,
    );
    std::fs::write(
        d.join("ext.cnf"),
        format!(
            "subjectAltName=email:{address}\nextendedKeyUsage=emailProtection\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n"
        ),
    )
    .unwrap();
    run(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{name}-ca.pem"),
            "-CAkey",
            &format!("{name}-ca.key"),
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            "ext.cnf",
            "-out",
            &format!("{name}.pem"),
        ],
        b"",
        d,
    );
    run(
        "openssl",
        &[
            "pkcs12",
            "-export",
            "-inkey",
            &format!("{name}.key"),
            "-in",
            &format!("{name}.pem"),
            "-certfile",
            &format!("{name}-ca.pem"),
            "-passout",
            "pass:transport",
            "-out",
            &format!("{name}.p12"),
        ],
        b"",
        d,
    );
}

fn import(d: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut all = vec!["keys", "import"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--config", "mailgate.toml"]);
    mailgate_in(d, &all, b"", env)
}

fn process(d: &Path, from: &str, to: &str, subject: &str, out: &str) -> serde_json::Value {
    let mail = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\nAktenzeichen 4711\r\n"
    );
    ok(mailgate_in(
        d,
        &[
            "process",
            "--config",
            "mailgate.toml",
            "--direction",
            "outbound",
            "--from",
            from,
            "--to",
            to,
            "--out-dir",
            out,
        ],
        mail.as_bytes(),
        &[AT_REST],
    ));
    serde_json::from_slice(&std::fs::read(d.join(out).join("result.json")).unwrap()).unwrap()
}

#[test]
fn an_openssl_pkcs12_key_is_stored_encrypted_and_signs_outbound_mail() {
    let dir = demo();
    let d = dir.path();
    openssl_identity(d, "frank", "frank@behoerde.example");

    // Without the at-rest passphrase nothing is stored.
    let refused = import(
        d,
        &["frank.p12", "--pass-env", "P12_PASS"],
        &[("P12_PASS", "transport")],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("MAILGATE_KEY_PASSPHRASE"));
    assert!(!d.join("data/keys").exists());

    // A wrong transport password is refused.
    let wrong = import(
        d,
        &["frank.p12", "--pass-env", "P12_PASS"],
        &[("P12_PASS", "wrong"), AT_REST],
    );
    assert_eq!(wrong.status.code(), Some(2), "{wrong:?}");

    let stdout = ok(import(
        d,
        &["frank.p12", "--pass-env", "P12_PASS", "--json"],
        &[("P12_PASS", "transport"), AT_REST],
    ));
    let report: serde_json::Value = serde_json::from_slice(&stdout).unwrap();
    assert_eq!(report["kind"], "smime");
    assert_eq!(report["address"], "frank@behoerde.example");

    // The stored key is PKCS#8 encrypted with the at-rest passphrase: OpenSSL
    // opens it with that passphrase, finds the same key, and fails without.
    let stored = "data/keys/frank@behoerde.example.smime.key.pem";
    let text = std::fs::read_to_string(d.join(stored)).unwrap();
    assert!(
        text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
        "{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join(stored))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "key file readable by others: {mode:o}");
    }
    let opened = run(
        "openssl",
        &[
            "pkey",
            "-in",
            stored,
            "-passin",
            &format!("pass:{}", AT_REST.1),
        ],
        b"",
        d,
    );
    let original = run("openssl", &["pkey", "-in", "frank.key"], b"", d);
    assert_eq!(opened, original);
    let guessed = tool(
        "openssl",
        &["pkey", "-in", stored, "-passin", "pass:transport"],
        b"",
        d,
    );
    assert!(!guessed.status.success());

    // A second import of the same kind is refused; the configured alice too.
    let again = import(
        d,
        &["frank.p12", "--pass-env", "P12_PASS"],
        &[("P12_PASS", "transport"), AT_REST],
    );
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already stored"));

    // The gateway now signs frank's mail with the imported key: bob decrypts
    // with OpenSSL and the signature verifies against frank's CA.
    let result = process(
        d,
        "frank@behoerde.example",
        "bob@partner.example",
        "[VERTRAULICH] Akte",
        "out-frank",
    );
    assert_eq!(result["dispositions"][0]["kind"], "deliver", "{result}");
    let sent = std::fs::read(
        d.join("out-frank")
            .join(result["dispositions"][0]["message"].as_str().unwrap()),
    )
    .unwrap();
    let inner = run(
        "openssl",
        &[
            "cms",
            "-decrypt",
            "-recip",
            "pki/bob.cert.pem",
            "-inkey",
            "pki/bob.key.pem",
        ],
        &sent,
        d,
    );
    let text = run(
        "openssl",
        &[
            "cms",
            "-verify",
            "-CAfile",
            "frank-ca.pem",
            "-purpose",
            "any",
        ],
        &inner,
        d,
    );
    assert!(String::from_utf8_lossy(&text).contains("Aktenzeichen 4711"));

    // Without the at-rest passphrase the gateway refuses to start rather
    // than run without the key; the mail in hand waits (exit 3: defer).
    let mail = b"From: frank@behoerde.example\r\nTo: bob@partner.example\r\n\r\nx\r\n";
    let no_key = mailgate_in(
        d,
        &[
            "process",
            "--config",
            "mailgate.toml",
            "--direction",
            "outbound",
            "--from",
            "frank@behoerde.example",
            "--to",
            "bob@partner.example",
            "--out-dir",
            "out-none",
        ],
        mail,
        &[],
    );
    assert_eq!(no_key.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&no_key.stderr).contains("MAILGATE_KEY_PASSPHRASE"));

    // The passphrase from a file instead (as a service manager hands out
    // credentials): refused while others may read it, used once it is 0600.
    let config = std::fs::read_to_string(d.join("mailgate.toml")).unwrap();
    let with_file = config.replacen(
        "[gateway]\n",
        "[gateway]\nkey_passphrase_file = \"keys.pass\"\n",
        1,
    );
    assert_ne!(with_file, config);
    std::fs::write(d.join("mailgate.toml"), &with_file).unwrap();
    std::fs::write(d.join("keys.pass"), format!("{}\n", AT_REST.1)).unwrap();
    let outbound = [
        "process",
        "--config",
        "mailgate.toml",
        "--direction",
        "outbound",
        "--from",
        "frank@behoerde.example",
        "--to",
        "bob@partner.example",
        "--out-dir",
        "out-file",
    ];
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d.join("keys.pass"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let open = mailgate_in(d, &outbound, mail, &[]);
        assert_eq!(open.status.code(), Some(3));
        assert!(
            String::from_utf8_lossy(&open.stderr).contains("chmod 600"),
            "{open:?}"
        );
        std::fs::set_permissions(d.join("keys.pass"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
    }
    ok(mailgate_in(d, &outbound, mail, &[]));
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.join("out-file/result.json")).unwrap()).unwrap();
    let signed = std::fs::read(
        d.join("out-file")
            .join(result["dispositions"][0]["message"].as_str().unwrap()),
    )
    .unwrap();
    // Signed with frank's imported key, opened by the file's passphrase:
    // OpenSSL verifies it against frank's CA.
    run(
        "openssl",
        &[
            "cms",
            "-verify",
            "-CAfile",
            "frank-ca.pem",
            "-purpose",
            "any",
        ],
        &signed,
        d,
    );
    std::fs::write(d.join("mailgate.toml"), &config).unwrap();

    // A second S/MIME key for frank configured by hand: which one signs
    // would be a guess, so the gateway refuses to start.
    let mut config = std::fs::read_to_string(d.join("mailgate.toml")).unwrap();
    config.push_str(
        "\n[[keys]]\naddress = \"frank@behoerde.example\"\n\
         smime_certificate = \"frank.pem\"\nsmime_key = \"frank.key\"\n",
    );
    std::fs::write(d.join("mailgate.toml"), config).unwrap();
    let twice = mailgate_in(
        d,
        &[
            "process",
            "--config",
            "mailgate.toml",
            "--direction",
            "outbound",
            "--from",
            "frank@behoerde.example",
            "--to",
            "bob@partner.example",
            "--out-dir",
            "out-twice",
        ],
        mail,
        &[AT_REST],
    );
    // A configuration that does not load defers the mail in hand.
    assert_eq!(twice.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&twice.stderr).contains("two keys of the same kind"),
        "{twice:?}"
    );
}

#[test]
fn pem_keys_must_match_their_certificate_and_configured_addresses_are_not_overwritten() {
    let dir = demo();
    let d = dir.path();
    openssl_identity(d, "hanna", "hanna@behoerde.example");
    openssl_identity(d, "ida", "ida@behoerde.example");
    // hanna's certificate with ida's key: refused.
    let mut mixed = std::fs::read(d.join("hanna.pem")).unwrap();
    mixed.extend(std::fs::read(d.join("ida.key")).unwrap());
    std::fs::write(d.join("mixed.pem"), &mixed).unwrap();
    let refused = import(d, &["mixed.pem"], &[AT_REST]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("does not belong"),
        "{refused:?}"
    );

    // The right pair (key first, chain after) is accepted.
    let mut pair = std::fs::read(d.join("hanna.key")).unwrap();
    pair.extend(std::fs::read(d.join("hanna-ca.pem")).unwrap());
    pair.extend(std::fs::read(d.join("hanna.pem")).unwrap());
    std::fs::write(d.join("pair.pem"), &pair).unwrap();
    ok(import(
        d,
        &["pair.pem", "--address", "HANNA@behoerde.example"],
        &[AT_REST],
    ));
    let stored =
        std::fs::read_to_string(d.join("data/keys/hanna@behoerde.example.smime.cert.pem")).unwrap();
    // The end-entity certificate first, its issuer after.
    let subjects = run(
        "openssl",
        &[
            "x509",
            "-noout",
            "-subject",
            "-in",
            "data/keys/hanna@behoerde.example.smime.cert.pem",
        ],
        b"",
        d,
    );
    assert!(String::from_utf8_lossy(&subjects).contains("hanna"));
    assert_eq!(stored.matches("BEGIN CERTIFICATE").count(), 2);

    // An address the certificate does not certify.
    let other = import(
        d,
        &["pair.pem", "--address", "ida@behoerde.example"],
        &[AT_REST],
    );
    assert_eq!(other.status.code(), Some(2));

    // alice's S/MIME key is configured in mailgate.toml.
    let alice = import(d, &["pki/alice.key.pem"], &[AT_REST]);
    assert_eq!(alice.status.code(), Some(2));
    let mut alice_pair = std::fs::read(d.join("pki/alice.key.pem")).unwrap();
    alice_pair.extend(std::fs::read(d.join("pki/alice.cert.pem")).unwrap());
    std::fs::write(d.join("alice-pair.pem"), &alice_pair).unwrap();
    let configured = import(d, &["alice-pair.pem"], &[AT_REST]);
    assert_eq!(configured.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&configured.stderr).contains("mailgate.toml"));
}

#[test]
fn a_protected_gnupg_key_is_stored_under_the_at_rest_passphrase_and_signs_pgp_mail() {
    let dir = demo();
    let d = dir.path();
    let home = tempfile::tempdir().unwrap();
    let homedir = home.path().to_str().unwrap();
    let gpg = |args: &[&str], stdin: &[u8]| {
        let mut all = vec![
            "--homedir",
            homedir,
            "--batch",
            "--pinentry-mode",
            "loopback",
        ];
        all.extend_from_slice(args);
        tool("gpg", &all, stdin, d)
    };
    let made = gpg(
        &[
            "--passphrase",
            "gnupg passphrase",
            "--quick-gen-key",
            "Gustav <gustav@behoerde.example>",
            "future-default",
            "default",
            "never",
        ],
        b"",
    );
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let exported = gpg(
        &[
            "--passphrase",
            "gnupg passphrase",
            "--armor",
            "--export-secret-keys",
            "gustav@behoerde.example",
        ],
        b"",
    );
    assert!(exported.status.success());
    std::fs::write(d.join("gustav.sec.asc"), &exported.stdout).unwrap();

    // Protected: the import needs gnupg's passphrase.
    let locked = import(d, &["gustav.sec.asc"], &[AT_REST]);
    assert_eq!(locked.status.code(), Some(2));
    ok(import(
        d,
        &["gustav.sec.asc", "--pass-env", "GPG_PASS"],
        &[("GPG_PASS", "gnupg passphrase"), AT_REST],
    ));

    // GnuPG takes the stored key; it signs with the at-rest passphrase only.
    let stored = "data/keys/gustav@behoerde.example.pgp.sec.asc";
    let fresh = tempfile::tempdir().unwrap();
    let fresh_dir = fresh.path().to_str().unwrap();
    let gpg_fresh = |args: &[&str]| {
        let mut all = vec![
            "--homedir",
            fresh_dir,
            "--batch",
            "--pinentry-mode",
            "loopback",
        ];
        all.extend_from_slice(args);
        tool("gpg", &all, b"text\n", d)
    };
    assert!(gpg_fresh(&["--import", stored]).status.success());
    assert!(
        !gpg_fresh(&["--passphrase", "gnupg passphrase", "--clearsign"])
            .status
            .success()
    );
    assert!(
        gpg_fresh(&["--passphrase", AT_REST.1, "--clearsign"])
            .status
            .success()
    );

    // The gateway signs gustav's mail to carol inside the OpenPGP message;
    // carol's GnuPG decrypts and reports a good signature by gustav.
    let result = process(
        d,
        "gustav@behoerde.example",
        "carol@extern.example",
        "[VERTRAULICH] Vertrag",
        "out-gustav",
    );
    assert_eq!(result["dispositions"][0]["kind"], "deliver", "{result}");
    let sent = String::from_utf8(
        std::fs::read(
            d.join("out-gustav")
                .join(result["dispositions"][0]["message"].as_str().unwrap()),
        )
        .unwrap(),
    )
    .unwrap();
    let start = sent.find("-----BEGIN PGP MESSAGE-----").unwrap();
    let end = sent.find("-----END PGP MESSAGE-----").unwrap() + 25;
    let carol = tempfile::tempdir().unwrap();
    let carol_dir = carol.path().to_str().unwrap();
    for key in ["pki/carol.sec.asc", "gustav.sec.asc"] {
        let imported = tool(
            "gpg",
            &["--homedir", carol_dir, "--batch", "--import", key],
            b"",
            d,
        );
        assert!(imported.status.success());
    }
    let decrypted = tool(
        "gpg",
        &[
            "--homedir",
            carol_dir,
            "--batch",
            "--status-fd",
            "2",
            "--decrypt",
        ],
        &sent.as_bytes()[start..end],
        d,
    );
    let status = String::from_utf8_lossy(&decrypted.stderr);
    assert!(decrypted.status.success(), "{status}");
    assert!(status.contains("GOODSIG"), "{status}");
    assert!(status.contains("gustav@behoerde.example"), "{status}");
    assert!(String::from_utf8_lossy(&decrypted.stdout).contains("Aktenzeichen 4711"));
}
