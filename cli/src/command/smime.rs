//! `mailgate smime ...`

use std::time::SystemTime;

use serde_json::{Value, json};
use smime_core::{Certificate, DecryptionIdentity, PrivateKey, decrypt_message};
use zeroize::Zeroizing;

use crate::args::{DecryptArgs, InspectArgs, KeyArgs, SmimeCommand};
use crate::command::{display, read_input};
use crate::failure::{Failure, Verdict};
use crate::output::Output;

pub(crate) fn run(command: SmimeCommand, output: &Output) -> Result<Verdict, Failure> {
    match command {
        SmimeCommand::Inspect(args) => inspect(&args, output),
        SmimeCommand::Decrypt(args) => decrypt(&args, output),
    }
}

fn decrypt(args: &DecryptArgs, output: &Output) -> Result<Verdict, Failure> {
    let identity = load_identity(&args.key)?;
    let message = read_input(std::path::Path::new("-"))?;
    let decrypted = decrypt_message(&message, &identity).map_err(message_failure)?;
    output.product(decrypted.message())?;
    Ok(Verdict::Holds)
}

/// Maps an error about the message on standard input to its failure: a
/// definite "no" (not for us, does not decrypt) or malformed input.
fn message_failure(error: smime_core::Error) -> Failure {
    match error {
        smime_core::Error::NotForUs | smime_core::Error::Decryption => {
            Failure::Negative(error.to_string())
        }
        other => Failure::input("standard input", &other),
    }
}

/// Loads `--cert`, `--key` and the passphrase from `--pass-env`.
fn load_identity(args: &KeyArgs) -> Result<DecryptionIdentity, Failure> {
    let certificate = load_certificate(&args.cert)?;
    let key = load_key(args)?;
    DecryptionIdentity::new(certificate, key.pkcs8_der())
        .map_err(|error| Failure::input(display(&args.key), &error))
}

/// The first certificate of a file.
fn load_certificate(path: &std::path::Path) -> Result<Certificate, Failure> {
    let bytes = read_input(path)?;
    Certificate::load(&bytes)
        .map_err(|error| Failure::input(display(path), &error))?
        .into_iter()
        .next()
        .ok_or_else(|| Failure::input(display(path), &smime_core::Error::NoCertificate))
}

fn load_key(args: &KeyArgs) -> Result<PrivateKey, Failure> {
    let passphrase = match &args.pass_env {
        Some(variable) => Some(Zeroizing::new(
            std::env::var_os(variable)
                .ok_or_else(|| {
                    Failure::Usage(format!(
                        "--pass-env: environment variable {variable} is not set"
                    ))
                })?
                .into_encoded_bytes(),
        )),
        None => None,
    };
    let bytes = Zeroizing::new(read_input(&args.key)?);
    PrivateKey::load(&bytes, passphrase.as_deref().map(Vec::as_slice))
        .map_err(|error| Failure::input(display(&args.key), &error))
}

fn inspect(args: &InspectArgs, output: &Output) -> Result<Verdict, Failure> {
    // Load everything first, so a bad file fails the command before any output.
    let mut files = Vec::new();
    for path in &args.files {
        let bytes = read_input(path)?;
        let certificates =
            Certificate::load(&bytes).map_err(|error| Failure::input(display(path), &error))?;
        files.push((display(path), certificates));
    }
    let now = SystemTime::now();
    output.result(
        || {
            let mut text = String::new();
            for (name, certificates) in &files {
                for (index, certificate) in certificates.iter().enumerate() {
                    text.push_str(&format!(
                        "{name}: certificate {} of {}\n",
                        index + 1,
                        certificates.len()
                    ));
                    for (label, value) in fields(certificate, now) {
                        text.push_str(&format!("  {label:<11} {value}\n"));
                    }
                }
            }
            text
        },
        || {
            Value::Array(
                files
                    .iter()
                    .map(|(name, certificates)| {
                        json!({
                            "file": name,
                            "certificates": certificates.iter().map(|c| certificate_json(c, now)).collect::<Vec<_>>(),
                        })
                    })
                    .collect(),
            )
        },
    );
    Ok(Verdict::Holds)
}

fn fields(certificate: &Certificate, now: SystemTime) -> Vec<(&'static str, String)> {
    let addresses = certificate
        .email_addresses()
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>();
    vec![
        ("subject", certificate.subject()),
        ("issuer", certificate.issuer()),
        ("serial", certificate.serial_hex()),
        (
            "valid",
            format!(
                "{} to {} ({})",
                rfc3339(certificate.not_before()),
                rfc3339(certificate.not_after()),
                validity_state(certificate, now)
            ),
        ),
        ("key", certificate.public_key_algorithm().to_string()),
        (
            "addresses",
            if addresses.is_empty() {
                "none".to_owned()
            } else {
                addresses.join(", ")
            },
        ),
        ("key usage", key_usage_names(certificate).join(", ")),
        (
            "ext. usage",
            extended_key_usage_names(certificate)
                .map_or_else(|| "any (no extension)".to_owned(), |n| n.join(", ")),
        ),
        ("e-mail use", yes_no(certificate.allows_email_protection())),
        ("CA", yes_no(certificate.is_ca())),
        ("sha256", hex_colon(&certificate.fingerprint_sha256())),
    ]
}

fn certificate_json(certificate: &Certificate, now: SystemTime) -> Value {
    json!({
        "subject": certificate.subject(),
        "issuer": certificate.issuer(),
        "serial": certificate.serial_hex(),
        "not_before": rfc3339(certificate.not_before()),
        "not_after": rfc3339(certificate.not_after()),
        "validity": validity_state(certificate, now),
        "key": certificate.public_key_algorithm().to_string(),
        "addresses": certificate.email_addresses().iter().map(ToString::to_string).collect::<Vec<_>>(),
        "key_usage": key_usage_names(certificate),
        "extended_key_usage": extended_key_usage_names(certificate),
        "email_protection": certificate.allows_email_protection(),
        "ca": certificate.is_ca(),
        "sha256": hex_colon(&certificate.fingerprint_sha256()).replace(':', ""),
    })
}

fn validity_state(certificate: &Certificate, now: SystemTime) -> &'static str {
    if now < certificate.not_before() {
        "not yet valid"
    } else if now > certificate.not_after() {
        "expired"
    } else {
        "valid now"
    }
}

/// Names of the key usage bits set, as RFC 5280 spells them.
fn key_usage_names(certificate: &Certificate) -> Vec<&'static str> {
    use smime_core::x509_cert::ext::pkix::KeyUsages;
    let Some(usage) = certificate.key_usage() else {
        return Vec::new();
    };
    [
        (KeyUsages::DigitalSignature, "digitalSignature"),
        (KeyUsages::NonRepudiation, "nonRepudiation"),
        (KeyUsages::KeyEncipherment, "keyEncipherment"),
        (KeyUsages::DataEncipherment, "dataEncipherment"),
        (KeyUsages::KeyAgreement, "keyAgreement"),
        (KeyUsages::KeyCertSign, "keyCertSign"),
        (KeyUsages::CRLSign, "cRLSign"),
        (KeyUsages::EncipherOnly, "encipherOnly"),
        (KeyUsages::DecipherOnly, "decipherOnly"),
    ]
    .into_iter()
    .filter(|(bit, _)| usage.0.contains(*bit))
    .map(|(_, name)| name)
    .collect()
}

fn extended_key_usage_names(certificate: &Certificate) -> Option<Vec<String>> {
    certificate.extended_key_usage().map(|purposes| {
        purposes
            .iter()
            .map(|oid| {
                smime_core::const_oid::db::DB.by_oid(oid).map_or_else(
                    || oid.to_string(),
                    |name| name.trim_start_matches("id-kp-").to_owned(),
                )
            })
            .collect()
    })
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_owned()
}

fn hex_colon(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn rfc3339(time: SystemTime) -> String {
    smime_core::der::DateTime::from_system_time(time)
        .map_or_else(|_| "out of range".to_owned(), |t| t.to_string())
}
