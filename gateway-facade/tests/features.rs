//! The facade's optional parts (`tls-probe`, `pkcs11`): with a feature the
//! configuration section it serves starts a gateway; without it the section
//! is refused by name when the gateway is built, never silently ignored (a
//! gateway that skips the probing or the token key it was told to use would
//! decide on other grounds than the operator wrote down).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

use gateway_facade::{Error, Gateway};

const POLICY: &str = r#"
[policy]
name = "features"
internal_domains = ["behoerde.example"]

[[rules]]
id = "sign"
when = { direction = "outbound" }
then = { sign = "smime" }

[default]
then = { deliver = true }
"#;

/// A gateway from a `mailgate.toml` with `extra` appended.
fn configured(dir: &Path, extra: &str) -> Result<Gateway, Error> {
    std::fs::write(dir.join("policy.toml"), POLICY).unwrap();
    let config = format!(
        "[gateway]\npolicy = \"policy.toml\"\ndata_dir = \"data\"\n\
         postmaster = \"postmaster@behoerde.example\"\n{extra}"
    );
    std::fs::write(dir.join("mailgate.toml"), config).unwrap();
    Gateway::from_config_file(&dir.join("mailgate.toml"))
}

/// A probe at a loopback name server: building the resolver sends nothing.
const PROBE: &str = "[transport.probe]\ndns_servers = [\"127.0.0.1:53\"]\n";

#[test]
fn a_gateway_without_optional_sections_builds_with_any_features() {
    let dir = tempfile::tempdir().unwrap();
    configured(dir.path(), "").unwrap();
}

#[cfg(feature = "tls-probe")]
#[test]
fn probing_is_set_up_with_the_tls_probe_feature() {
    let dir = tempfile::tempdir().unwrap();
    configured(dir.path(), PROBE).unwrap();
}

#[cfg(not(feature = "tls-probe"))]
#[test]
fn probing_is_refused_by_name_without_the_tls_probe_feature() {
    let dir = tempfile::tempdir().unwrap();
    match configured(dir.path(), PROBE) {
        Err(Error::Config { path, message }) => {
            assert_eq!(path, Path::new("[transport.probe]"));
            assert!(message.contains("`tls-probe` feature"), "{message}");
        }
        other => panic!("expected a configuration error: {other:?}"),
    }
}

#[cfg(not(feature = "pkcs11"))]
#[test]
fn a_token_key_is_refused_by_name_without_the_pkcs11_feature() {
    let dir = tempfile::tempdir().unwrap();
    let keys = "[[keys]]\naddress = \"alice@behoerde.example\"\nsmime_certificate = \"alice.pem\"\n\
        [keys.pkcs11]\nmodule = \"/usr/lib/softhsm/libsofthsm2.so\"\ntoken = \"t\"\n\
        key_label = \"alice\"\npin_env = \"PIN\"\n";
    match configured(dir.path(), keys) {
        Err(Error::Config { message, .. }) => {
            assert!(message.contains("`pkcs11` feature"), "{message}");
        }
        other => panic!("expected a configuration error: {other:?}"),
    }
}
