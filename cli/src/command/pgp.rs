//! `mailgate pgp ...`: thin over `pgp-core`.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use mail_message::stream::read_header_section;

use pgp_core::{
    Cert, Coverage, Decryptor, Digest, Encryptor, Password, Signature, SignatureStatus, Signer,
    Verdict as PgpVerdict, Verification, Verifier, parse_certificates,
};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::args_pgp::{
    PgpCommand, PgpDecryptArgs, PgpDigest, PgpEncryptArgs, PgpSignArgs, PgpVerifyArgs,
};
use crate::command::inner_header::{self, InnerHeaderFilter};
use crate::command::{display, read_input, stdin_file};
use crate::failure::{Failure, Verdict};
use crate::output::{Output, write_line_stderr};
use crate::rfc3339;

/// The read and write buffers of the streaming commands.
const STREAM_BUFFER: usize = 64 * 1024;

/// The longest header section accepted.
const MAX_HEADER: usize = 1024 * 1024;

pub(crate) fn run(command: PgpCommand, output: &Output) -> Result<Verdict, Failure> {
    match command {
        PgpCommand::Sign(args) => sign(&args),
        PgpCommand::Verify(args) => verify(&args, output),
        PgpCommand::Encrypt(args) => encrypt(&args),
        PgpCommand::Decrypt(args) => decrypt(&args, output),
    }
}

fn sign(args: &PgpSignArgs) -> Result<Verdict, Failure> {
    let keys = load_keys(&args.secret.key)?;
    let passphrase = passphrase(args.secret.pass_env.as_deref())?;
    let digest = match args.digest {
        PgpDigest::Sha256 => Digest::Sha256,
        PgpDigest::Sha512 => Digest::Sha512,
    };
    // Streams: only the header section is held (it names the From address
    // the key is chosen by); the entity to sign waits in a temporary file,
    // and nothing is written until the signature is made. Input from a
    // file (`< in.eml`) is read twice instead of spooled.
    let input_failure = |error: std::io::Error| Failure::input("standard input", &error);
    // Locked: `io::copy` hands a locked stdout's file descriptor to the
    // kernel (`copy_file_range`, `sendfile`) for the entity.
    let stdout = std::io::BufWriter::with_capacity(STREAM_BUFFER, std::io::stdout().lock());
    if let Some(mut file) = stdin_file() {
        let start = file.stream_position().map_err(input_failure)?;
        let header = read_header_section(
            &mut std::io::BufReader::with_capacity(STREAM_BUFFER, &file),
            MAX_HEADER,
        )
        .map_err(input_failure)?;
        let signer = Signer::for_message(&keys, &header, passphrase.as_ref())
            .map_err(|error| key_failure(&args.secret.key, error))?
            .with_digest(digest);
        file.seek(SeekFrom::Start(start)).map_err(input_failure)?;
        signer
            .sign_message_seekable(&file, stdout)
            .map_err(|error| Failure::input("standard input", &error))?;
        return Ok(Verdict::Holds);
    }
    let mut stdin = std::io::BufReader::with_capacity(STREAM_BUFFER, std::io::stdin());
    let header = read_header_section(&mut stdin, MAX_HEADER).map_err(input_failure)?;
    let signer = Signer::for_message(&keys, &header, passphrase.as_ref())
        .map_err(|error| key_failure(&args.secret.key, error))?
        .with_digest(digest);
    signer
        .sign_message_stream(header.as_slice().chain(stdin), stdout)
        .map_err(|error| Failure::input("standard input", &error))?;
    Ok(Verdict::Holds)
}

fn verify(args: &PgpVerifyArgs, output: &Output) -> Result<Verdict, Failure> {
    let mut certs = Vec::new();
    for path in &args.cert {
        certs.extend(load_keys(path)?);
    }
    let mut verifier = Verifier::new(certs);
    if let Some(at) = args.at {
        verifier = verifier.at(at);
    }
    // Streams: the signed part waits in a temporary file, so memory does
    // not grow with the message.
    let spooled = verifier
        .verify_message_spooled(std::io::stdin())
        .map_err(|error| Failure::input("standard input", &error))?;
    let report = spooled.verification().clone();
    if let Some(path) = &args.output
        && spooled.has_unwrapped()
    {
        let file =
            std::fs::File::create(path).map_err(|error| Failure::input(display(path), &error))?;
        spooled
            .write_unwrapped(std::io::BufWriter::with_capacity(STREAM_BUFFER, file))
            .map_err(|error| Failure::input(display(path), &pgp_core::Error::Io(error)))?;
    }
    let findings = report.findings_with(
        args.date_tolerance
            .unwrap_or(pgp_core::DEFAULT_DATE_TOLERANCE),
    );
    output.result(
        || verification_text(&report) + &super::smime::findings_text(&findings),
        || {
            let mut json = verification_json(&report);
            if let Some(object) = json.as_object_mut() {
                object.insert("findings".into(), super::smime::findings_json(&findings));
            }
            json
        },
    );
    Ok(
        if report.verdict() == PgpVerdict::SignedByFrom
            && !super::smime::findings_refuse(&findings, args.strict)
        {
            Verdict::Holds
        } else {
            Verdict::DoesNotHold
        },
    )
}

fn encrypt(args: &PgpEncryptArgs) -> Result<Verdict, Failure> {
    let mut recipients = Vec::new();
    for path in &args.to {
        recipients.extend(load_keys(path)?);
    }
    // Streams: only the header section is held (it names the From address
    // the signing key is chosen by).
    let mut stdin = std::io::BufReader::with_capacity(STREAM_BUFFER, std::io::stdin());
    let header = read_header_section(&mut stdin, MAX_HEADER)
        .map_err(|error| Failure::input("standard input", &error))?;
    let mut encryptor = Encryptor::new(recipients);
    if let Some(path) = &args.sign_with {
        let keys = load_keys(path)?;
        let passphrase = passphrase(args.pass_env.as_deref())?;
        let signer = Signer::for_message(&keys, &header, passphrase.as_ref())
            .map_err(|error| key_failure(path, error))?;
        encryptor = encryptor.with_signer(signer);
    }
    let stdout = std::io::BufWriter::with_capacity(STREAM_BUFFER, std::io::stdout());
    encryptor
        .encrypt_message_stream(header.as_slice().chain(stdin), stdout)
        .map_err(|error| match error {
            pgp_core::Error::NoEncryptionKey { .. } | pgp_core::Error::NoRecipients => {
                Failure::Negative(error.to_string())
            }
            other => Failure::input("standard input", &other),
        })?;
    Ok(Verdict::Holds)
}

fn decrypt(args: &PgpDecryptArgs, output: &Output) -> Result<Verdict, Failure> {
    let keys = load_keys(&args.secret.key)?;
    let mut decryptor = Decryptor::new(keys);
    if let Some(passphrase) = passphrase(args.secret.pass_env.as_deref())? {
        decryptor = decryptor.with_passphrase(passphrase);
    }
    let mut certs = Vec::new();
    for path in &args.verify_with {
        certs.extend(load_keys(path)?);
    }
    let mut verifier = Verifier::new(certs);
    if let Some(at) = args.at {
        verifier = verifier.at(at);
    }
    // The received header, to tell the outer fields of the decrypted
    // message from the ones that come out of the ciphertext.
    let mut stdin = std::io::BufReader::with_capacity(STREAM_BUFFER, std::io::stdin());
    let received = inner_header::received_header(&mut stdin)
        .map_err(|error| Failure::input("standard input", &error))?;
    // Streams: the plaintext waits in a temporary file until it has been
    // authenticated and its signatures checked.
    let decrypted = decryptor
        .with_verifier(verifier)
        .decrypt_message_spooled(received.as_slice().chain(stdin))
        .map_err(|error| match error {
            pgp_core::Error::NoDecryptionKey
            | pgp_core::Error::Decryption { .. }
            | pgp_core::Error::Passphrase { .. } => Failure::Negative(error.to_string()),
            other => Failure::input("standard input", &other),
        })?;
    let verification = decrypted.verification();
    if !args.verify_with.is_empty()
        && !matches!(
            verification.verdict(),
            PgpVerdict::Unsigned | PgpVerdict::SignedByFrom
        )
    {
        // Nothing reaches standard output: a caller that ignores the exit
        // code must not take the message for one that verified.
        return Err(Failure::Negative(format!(
            "the signature inside does not hold: {}",
            verification_text(verification)
                .trim_end()
                .replace('\n', "; ")
        )));
    }
    if let Coverage::Partial { part, reason } = decrypted.coverage()
        && !output.is_quiet()
    {
        write_line_stderr(&format!(
            "mailgate: warning: only part {part} was encrypted: {reason}"
        ));
    }
    // Inner header fields are sorted out on the way, as the gateway does.
    let stdout = std::io::BufWriter::with_capacity(STREAM_BUFFER, std::io::stdout());
    let mut filter = InnerHeaderFilter::new(received, stdout);
    decrypted
        .write_message(&mut filter)
        .map_err(|error| Failure::input("standard output", &error))?;
    filter
        .finish()
        .map_err(|error| Failure::input("standard output", &error))?;
    Ok(Verdict::Holds)
}

/// Every certificate or secret key of a file (armored or binary).
fn load_keys(path: &Path) -> Result<Vec<Cert>, Failure> {
    let bytes = Zeroizing::new(read_input(path)?);
    parse_certificates(&bytes).map_err(|error| Failure::input(display(path), &error))
}

/// The passphrase from `--pass-env`, if given.
fn passphrase(variable: Option<&str>) -> Result<Option<Password>, Failure> {
    Ok(super::passphrase_from_env(variable)?.map(|value| Password::from(&value[..])))
}

/// A secret key that cannot sign: the key file is the input at fault.
fn key_failure(path: &Path, error: pgp_core::Error) -> Failure {
    match error {
        pgp_core::Error::Mime(_) | pgp_core::Error::Address(_) => {
            Failure::input("standard input", &error)
        }
        other => Failure::input(display(path), &other),
    }
}

fn verification_text(report: &Verification) -> String {
    // OpenPGP does not judge the Sender: no "sender only" line.
    let mut text =
        super::smime::verdict_text(report.verdict(), report.from(), report.coverage(), false);
    for (index, signer) in report.signers().iter().enumerate() {
        text.push_str(&format!("signer {}: {}\n", index + 1, signer.status));
        if let Some(cert) = &signer.certificate {
            text.push_str(&format!("  certificate {}\n", cert.fingerprint().to_hex()));
        } else if let Some(issuer) = &signer.issuer {
            text.push_str(&format!("  issuer      {issuer}\n"));
        }
        if let Some(user_id) = &signer.user_id {
            let binding = if signer.binds_from {
                "carries the From address"
            } else {
                "does NOT carry the From address"
            };
            text.push_str(&format!("  user ID     {user_id} ({binding})\n"));
        }
        if let Some(hash) = signer.hash {
            text.push_str(&format!("  hash        {hash}\n"));
        }
        if let Some(created) = signer.created {
            text.push_str(&format!(
                "  signed at   {} (signer's claim)\n",
                rfc3339::format(created)
            ));
        }
    }
    text
}

fn verification_json(report: &Verification) -> Value {
    let mut object = super::smime::verdict_json(
        report.verdict(),
        report.coverage(),
        report.from(),
        report.signed_by_from(),
    );
    let signers: Vec<Value> = report.signers().iter().map(signature_json).collect();
    object.insert("signers".into(), Value::Array(signers));
    Value::Object(object)
}

fn signature_json(signer: &Signature) -> Value {
    json!({
        "valid": signer.status == SignatureStatus::Valid,
        "status": signer.status.to_string(),
        "certificate": signer.certificate.as_ref().map(|c| c.fingerprint().to_hex()),
        "issuer": signer.issuer,
        "user_id": signer.user_id,
        "binds_from": signer.binds_from,
        "hash": signer.hash.map(|h| h.to_string()),
        "created": signer.created.map(rfc3339::format),
    })
}
