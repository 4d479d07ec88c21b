//! `mailgate smime ...`

use std::io::Read;
use std::time::SystemTime;

use serde_json::{Value, json};
use smime_core::revocation::{
    CertificateStatus, HttpCrl, HttpOcsp, Responders, RevocationSource, StatusOutcome, StatusSource,
};
use smime_core::{
    Certificate, Coverage, DecryptionIdentity, Encryptor, Pkcs12, PrivateKey, RsaKeyTransport,
    SignatureForm, SignatureStatus, Signer, Verdict as SmimeVerdict, Verification, Verifier,
    decrypt_message_stream,
};
use smime_core::{Crl, Revocation, RevocationMode};
use zeroize::Zeroizing;

use crate::args::{
    DecryptArgs, EncryptArgs, InspectArgs, KeyArgs, SignArgs, SmimeCommand, VerifyArgs,
};
use crate::command::inner_header::{self, InnerHeaderFilter};
use crate::command::{display, read_input, stdin_file};
use crate::failure::{Failure, Verdict};
use crate::output::Output;
use crate::rfc3339;

pub(crate) fn run(command: SmimeCommand, output: &Output) -> Result<Verdict, Failure> {
    match command {
        SmimeCommand::Inspect(args) => inspect(&args, output),
        SmimeCommand::Decrypt(args) => decrypt(&args),
        SmimeCommand::Sign(args) => sign(&args),
        SmimeCommand::Verify(args) => verify(&args, output),
        SmimeCommand::Encrypt(args) => encrypt(&args),
    }
}

fn encrypt(args: &EncryptArgs) -> Result<Verdict, Failure> {
    let mut recipients = Vec::new();
    for path in &args.to {
        let certificates = load_certificates(path)?;
        // Check each file's certificates here, so the error names the file.
        Encryptor::new(certificates.iter().cloned())
            .map_err(|error| Failure::input(display(path), &error))?;
        recipients.extend(certificates);
    }
    let transport = if args.oaep {
        RsaKeyTransport::OaepSha256
    } else {
        RsaKeyTransport::Pkcs1v15
    };
    let encryptor = Encryptor::new(recipients)
        .map_err(|error| Failure::Usage(error.to_string()))?
        .with_cipher(args.cipher)
        .with_rsa_key_transport(transport);
    // Streams: memory stays bounded whatever the message size. Input from
    // a file (`< in.eml`) is read twice instead of spooled.
    let stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let encrypted = match stdin_file() {
        Some(file) => encryptor.encrypt_message_seekable(&file, stdout),
        None => encryptor.encrypt_message_stream(std::io::stdin().lock(), stdout),
    };
    encrypted.map_err(|error| Failure::input("standard input", &error))?;
    Ok(Verdict::Holds)
}

fn sign(args: &SignArgs) -> Result<Verdict, Failure> {
    let Credentials {
        certificate,
        key,
        mut chain,
    } = load_credentials(&args.key)?;
    for path in &args.chain {
        chain.extend(load_certificates(path)?);
    }
    let key_failure = |error: smime_core::Error| Failure::input(display(&args.key.key), &error);
    let mut signer = Signer::new(certificate, &key)
        .map_err(key_failure)?
        .with_chain(chain)
        .with_digest(args.digest);
    if args.pss {
        signer = signer.with_rsa_pss().map_err(key_failure)?;
    }
    let form = if args.opaque {
        SignatureForm::Opaque
    } else {
        SignatureForm::Detached
    };
    // Streams: the entity is spooled to a temporary file, memory stays
    // bounded whatever the message size, and nothing is written on failure.
    // Input from a file (`< in.eml`) is read twice instead of spooled.
    let stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let signed = match stdin_file() {
        Some(file) => signer.sign_message_seekable(&file, stdout, form),
        None => signer.sign_message_stream(std::io::stdin().lock(), stdout, form),
    };
    signed.map_err(|error| Failure::input("standard input", &error))?;
    Ok(Verdict::Holds)
}

fn verify(args: &VerifyArgs, output: &Output) -> Result<Verdict, Failure> {
    let mut anchors = Vec::new();
    for path in &args.trust {
        anchors.extend(load_certificates(path)?);
    }
    let mut intermediates = Vec::new();
    for path in &args.intermediate {
        intermediates.extend(load_certificates(path)?);
    }
    let mut verifier = Verifier::new(anchors).with_intermediates(intermediates);
    if let Some(at) = args.at {
        verifier = verifier.at(at);
    }
    let revocation = revocation(args)?;
    let mode = revocation.mode();
    verifier = verifier.with_revocation(revocation);
    // A top-level multipart/signed streams through a temporary file; other
    // structures are verified in memory.
    let spooled = verifier
        .verify_message_spooled(std::io::stdin().lock())
        .map_err(message_failure)?;
    let report = spooled.verification();
    let now = args.at.unwrap_or_else(SystemTime::now);
    let findings = report.findings_with(
        args.date_tolerance
            .unwrap_or(smime_core::DEFAULT_DATE_TOLERANCE),
    );
    output.result(
        || verification_text(report) + &findings_text(&findings) + &revocation_warning(report),
        || {
            let mut json = verification_json(report, now);
            if let Some(object) = json.as_object_mut() {
                object.insert("findings".into(), findings_json(&findings));
                object.insert(
                    "revocation".into(),
                    json!({
                        "mode": mode.name(),
                        "unknown": report.revocation_unknown(),
                    }),
                );
            }
            json
        },
    );
    let verdict = if report.verdict() == SmimeVerdict::SignedByFrom
        && !findings_refuse(&findings, args.strict)
    {
        Verdict::Holds
    } else {
        Verdict::DoesNotHold
    };
    if let (Some(path), true) = (&args.output, spooled.has_unwrapped()) {
        let failure = |error: &dyn std::error::Error| Failure::input(display(path), error);
        let file = std::fs::File::create(path).map_err(|error| failure(&error))?;
        spooled
            .write_unwrapped(std::io::BufWriter::with_capacity(64 * 1024, file))
            .map_err(|error| failure(&smime_core::Error::Io(error)))?;
    }
    Ok(verdict)
}

/// The revocation checks `--crl`, `--crl-dp`, `--ocsp`, `--ocsp-aia` and
/// `--revocation` ask for.
fn revocation(args: &VerifyArgs) -> Result<Revocation, Failure> {
    let mut crls = Vec::new();
    for path in &args.crl {
        let input = std::fs::read(path).map_err(|error| Failure::input(display(path), &error))?;
        crls.extend(
            Crl::load(&input, &display(path))
                .map_err(|error| Failure::input(display(path), &error))?,
        );
    }
    let timeout = std::time::Duration::from_secs(args.ocsp_timeout);
    let mut sources: Vec<std::sync::Arc<dyn RevocationSource>> = Vec::new();
    if args.crl_dp {
        // Before OCSP, as the gateway does: one download answers for every
        // certificate of the CA.
        sources.push(std::sync::Arc::new(HttpCrl::http(timeout)));
    }
    if let Some(url) = &args.ocsp {
        sources.push(std::sync::Arc::new(HttpOcsp::http(
            Responders::Fixed(url.clone()),
            timeout,
        )));
    }
    if args.ocsp_aia {
        sources.push(std::sync::Arc::new(HttpOcsp::http(
            Responders::FromCertificates,
            timeout,
        )));
    }
    let mode = args
        .revocation
        .unwrap_or(if crls.is_empty() && sources.is_empty() {
            RevocationMode::Off
        } else {
            RevocationMode::Prefer
        });
    let mut revocation = Revocation::new(mode).with_crls(crls);
    for source in sources {
        revocation = revocation.with_source(source);
    }
    Ok(revocation)
}

/// The warning line for a valid signature whose certificates' revocation
/// status nobody knew (`--revocation prefer`).
fn revocation_warning(report: &Verification) -> String {
    if report.revocation_unknown() {
        "warning revocation-unknown: the revocation status of a signer's certificate is unknown (no usable CRL or OCSP response)\n".to_owned()
    } else {
        String::new()
    }
}

/// One certificate's revocation status for the JSON report, naming its
/// source.
fn revocation_json(status: &CertificateStatus) -> Value {
    let source_json = |source: &StatusSource| {
        let (this_update, next_update, cached) = match source {
            StatusSource::Crl {
                this_update,
                next_update,
                cached,
                ..
            } => (*this_update, *next_update, *cached),
            StatusSource::Ocsp {
                this_update,
                next_update,
                cached,
                ..
            } => (*this_update, *next_update, *cached),
            _ => (SystemTime::UNIX_EPOCH, None, false),
        };
        json!({
            "kind": source.kind(),
            "origin": source.origin(),
            "this_update": rfc3339::format(this_update),
            "next_update": next_update.map(rfc3339::format),
            "cached": cached,
        })
    };
    let mut value = json!({ "subject": status.subject, "serial": status.serial });
    let details = match &status.outcome {
        StatusOutcome::Good { source } => {
            json!({ "status": "good", "source": source_json(source) })
        }
        StatusOutcome::Revoked {
            source,
            time,
            reason,
        } => json!({
            "status": "revoked",
            "source": source_json(source),
            "revoked_at": rfc3339::format(*time),
            "reason": reason,
        }),
        StatusOutcome::Unknown { reasons } => json!({ "status": "unknown", "reasons": reasons }),
        _ => json!({ "status": "unknown", "reasons": [] }),
    };
    if let (Some(object), Some(details)) = (value.as_object_mut(), details.as_object()) {
        object.extend(details.clone());
    }
    value
}

/// Whether the header findings make the verdict "no": the reader is shown
/// someone other than the signer, or (with `--strict`) the Date is far
/// from the signing time.
pub(crate) fn findings_refuse(findings: &[mail_message::Finding], strict: bool) -> bool {
    findings.iter().any(|finding| {
        finding.is_identity_mismatch()
            || (strict
                && matches!(
                    finding,
                    mail_message::Finding::DateDiffersFromSigningTime { .. }
                ))
    })
}

/// The findings as lines of the text report.
pub(crate) fn findings_text(findings: &[mail_message::Finding]) -> String {
    findings
        .iter()
        .map(|finding| {
            let level = if finding.is_identity_mismatch() {
                "FINDING"
            } else {
                "warning"
            };
            format!("{level} {}: {finding}\n", finding.name())
        })
        .collect()
}

/// The findings for the JSON report.
pub(crate) fn findings_json(findings: &[mail_message::Finding]) -> Value {
    findings
        .iter()
        .map(|finding| {
            json!({
                "name": finding.name(),
                "identity_mismatch": finding.is_identity_mismatch(),
                "message": finding.to_string(),
            })
        })
        .collect()
}

/// The first lines of a text verification report, S/MIME and OpenPGP
/// alike: the verdict said against the From addresses, and which part is
/// signed when only one is. `sender_only`: a valid signer carries only the
/// Sender address (S/MIME reports that).
pub(crate) fn verdict_text(
    verdict: mail_message::Verdict,
    from: &[mail_message::EmailAddress],
    coverage: &Coverage,
    sender_only: bool,
) -> String {
    let from = from
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let mut text = match verdict {
        SmimeVerdict::SignedByFrom => format!("signed by the From address {from}\n"),
        SmimeVerdict::SignedByOther if sender_only => {
            format!("NOT signed by the From address ({from}): a signer matches only the Sender\n")
        }
        SmimeVerdict::SignedByOther => {
            format!("NOT signed by the From address ({from}): valid signature by someone else\n")
        }
        SmimeVerdict::Invalid => "INVALID signature\n".to_owned(),
        SmimeVerdict::PartiallySigned => "PARTIALLY signed: not the whole message\n".to_owned(),
        _ => "not signed\n".to_owned(),
    };
    if let Coverage::Partial { part, reason } = coverage {
        text.push_str(&format!("  signed part {part}: {reason}\n"));
    }
    text
}

fn verification_text(report: &Verification) -> String {
    let mut text = verdict_text(
        report.verdict(),
        report.from(),
        report.coverage(),
        report.signed_by_sender_only(),
    );
    for (index, signer) in report.signers().iter().enumerate() {
        text.push_str(&format!("signer {}: {}\n", index + 1, signer.status));
        if let Some(certificate) = &signer.certificate {
            text.push_str(&format!("  subject     {}\n", certificate.subject()));
            text.push_str(&format!("  issuer      {}\n", certificate.issuer()));
            let addresses: Vec<String> = certificate
                .email_addresses()
                .iter()
                .map(ToString::to_string)
                .collect();
            text.push_str(&format!("  addresses   {}\n", addresses.join(", ")));
        }
        if let (Some(scheme), Some(digest)) = (signer.scheme, signer.digest) {
            text.push_str(&format!(
                "  algorithm   {scheme} with {}\n",
                digest.micalg()
            ));
        }
        if let Some(time) = signer.signing_time {
            text.push_str(&format!(
                "  signed at   {} (signer's claim)\n",
                rfc3339::format(time)
            ));
        }
        for status in &signer.revocation {
            let outcome = match &status.outcome {
                StatusOutcome::Good { source } => format!("good ({source})"),
                StatusOutcome::Revoked { source, .. } => format!("REVOKED ({source})"),
                StatusOutcome::Unknown { reasons } if reasons.is_empty() => {
                    "unknown (no CRL or responder for it)".to_owned()
                }
                StatusOutcome::Unknown { reasons } => format!("unknown ({})", reasons.join("; ")),
                _ => "unknown".to_owned(),
            };
            text.push_str(&format!("  revocation  {}: {outcome}\n", status.subject));
        }
    }
    text
}

/// The verdict part of a JSON verification report, S/MIME and OpenPGP
/// alike: `verdict` (the one name table), `coverage`, `from`,
/// `signed_by_from`. Each engine adds its own fields after these.
pub(crate) fn verdict_json(
    verdict: mail_message::Verdict,
    coverage: &Coverage,
    from: &[mail_message::EmailAddress],
    signed_by_from: bool,
) -> serde_json::Map<String, Value> {
    let coverage = match coverage {
        Coverage::Whole => json!({ "kind": "whole" }),
        Coverage::Partial { part, reason } => {
            json!({ "kind": "partial", "part": part, "reason": reason })
        }
        Coverage::Unsigned => json!({ "kind": "unsigned" }),
    };
    let mut object = serde_json::Map::new();
    object.insert("verdict".into(), json!(verdict.name()));
    object.insert("coverage".into(), coverage);
    let from: Vec<String> = from.iter().map(ToString::to_string).collect();
    object.insert("from".into(), json!(from));
    object.insert("signed_by_from".into(), json!(signed_by_from));
    object
}

fn verification_json(report: &Verification, now: SystemTime) -> Value {
    let mut object = verdict_json(
        report.verdict(),
        report.coverage(),
        report.from(),
        report.signed_by_from(),
    );
    let rest = json!({
        "signed_by_sender_only": report.signed_by_sender_only(),
        "signers": report.signers().iter().map(|signer| json!({
            "valid": signer.status == SignatureStatus::Valid,
            "status": signer.status.to_string(),
            "certificate": signer.certificate.as_ref().map(|c| certificate_json(c, now)),
            "digest": signer.digest.map(|d| d.micalg()),
            "scheme": signer.scheme.map(|s| s.to_string()),
            "signing_time": signer.signing_time.map(rfc3339::format),
            "capabilities": signer.capabilities.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "revocation": signer.revocation.iter().map(revocation_json).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "certificates": report.certificates().iter().map(|c| certificate_json(c, now)).collect::<Vec<_>>(),
    });
    if let Value::Object(rest) = rest {
        object.extend(rest);
    }
    Value::Object(object)
}

fn decrypt(args: &DecryptArgs) -> Result<Verdict, Failure> {
    let identity = load_identity(&args.key)?;
    // The received header, to tell the outer fields of the decrypted
    // message from the ones that come out of the ciphertext.
    let mut stdin = std::io::BufReader::with_capacity(64 * 1024, std::io::stdin().lock());
    let received = inner_header::received_header(&mut stdin)
        .map_err(|error| Failure::input("standard input", &error))?;
    // Streams in bounded memory; nothing reaches standard output unless the
    // whole message decrypts (and, for GCM, authenticates). Inner header
    // fields are sorted out on the way, as the gateway does.
    let stdout = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let mut filter = InnerHeaderFilter::new(received.clone(), stdout);
    let found = decrypt_message_stream(received.as_slice().chain(stdin), &mut filter, &identity)
        .map_err(message_failure)?;
    filter
        .finish()
        .map_err(|error| Failure::input("standard output", &error))?;
    if found.encryption.is_obsolete() {
        // Legacy mail still opens, but whoever reads it should know that
        // its protection is obsolete.
        crate::output::write_line_stderr(&format!(
            "warning: the message was encrypted with {}, an obsolete cipher",
            found.encryption
        ));
    }
    Ok(Verdict::Holds)
}

/// Maps an error about the message on standard input to its failure: a
/// definite "no" (not for us, does not decrypt, signed content both inside
/// the signature and beside it) or malformed input.
fn message_failure(error: smime_core::Error) -> Failure {
    match error {
        smime_core::Error::NotForUs
        | smime_core::Error::Decryption
        | smime_core::Error::ContentConfusion => Failure::Negative(error.to_string()),
        other => Failure::input("standard input", &other),
    }
}

/// Loads `--cert`, `--key` and the passphrase from `--pass-env`.
fn load_identity(args: &KeyArgs) -> Result<DecryptionIdentity, Failure> {
    let Credentials {
        certificate, key, ..
    } = load_credentials(args)?;
    DecryptionIdentity::new(certificate, key.pkcs8_der())
        .map_err(|error| Failure::input(display(&args.key), &error))
}

/// A certificate, its key, and the chain that came with them.
struct Credentials {
    certificate: Certificate,
    key: PrivateKey,
    chain: Vec<Certificate>,
}

/// Loads `--cert` and `--key`. The key file may be a PKCS#12 bundle; then
/// its certificate and chain come along, and `--cert` may name the same file.
fn load_credentials(args: &KeyArgs) -> Result<Credentials, Failure> {
    let passphrase = passphrase(args)?;
    let bytes = Zeroizing::new(read_input(&args.key)?);
    let key_failure = |error: &smime_core::Error| Failure::input(display(&args.key), error);
    match PrivateKey::load(&bytes, passphrase.as_deref().map(Vec::as_slice)) {
        Ok(key) => Ok(Credentials {
            certificate: load_certificate(&args.cert)?,
            key,
            chain: Vec::new(),
        }),
        Err(smime_core::Error::NoPrivateKey) if bytes.first() == Some(&0x30) => {
            let bundle = Pkcs12::parse(
                &bytes,
                passphrase.as_deref().map_or(&b""[..], Vec::as_slice),
            )
            .map_err(|error| key_failure(&error))?;
            let certificate = if args.cert == args.key {
                bundle.certificate
            } else {
                load_certificate(&args.cert)?
            };
            Ok(Credentials {
                certificate,
                key: bundle.private_key,
                chain: bundle.chain,
            })
        }
        Err(error) => Err(key_failure(&error)),
    }
}

/// All certificates of a file.
fn load_certificates(path: &std::path::Path) -> Result<Vec<Certificate>, Failure> {
    let bytes = read_input(path)?;
    Certificate::load(&bytes).map_err(|error| Failure::input(display(path), &error))
}

/// The first certificate of a file.
fn load_certificate(path: &std::path::Path) -> Result<Certificate, Failure> {
    load_certificates(path)?
        .into_iter()
        .next()
        .ok_or_else(|| Failure::input(display(path), &smime_core::Error::NoCertificate))
}

/// The passphrase from `--pass-env`, if given.
fn passphrase(args: &KeyArgs) -> Result<Option<Zeroizing<Vec<u8>>>, Failure> {
    super::passphrase_from_env(args.pass_env.as_deref())
}

fn inspect(args: &InspectArgs, output: &Output) -> Result<Verdict, Failure> {
    // Load everything first, so a bad file fails the command before any output.
    let mut files = Vec::new();
    for path in &args.files {
        files.push((display(path), load_certificates(path)?));
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
                rfc3339::format(certificate.not_before()),
                rfc3339::format(certificate.not_after()),
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
        "not_before": rfc3339::format(certificate.not_before()),
        "not_after": rfc3339::format(certificate.not_after()),
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
