//! `mailgate demo`: a working gateway for `behoerde.example` in one
//! directory, and sample mails run through it.
//!
//! Everything is made here at run time: a demo CA (ECDSA P-256) and S/MIME
//! certificates, OpenPGP keys (Curve25519), the baseline policy, the
//! configuration and the SQLite certificate directory. Nothing needs a
//! server or a network.
//!
//! The directory holds unencrypted private keys: it is made `0700` and the
//! key files `0600`, whatever the umask.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use gateway_facade::certificates::entries_from_file;
use gateway_facade::store::TrustState;
use gateway_facade::{Disposition, Envelope, Gateway};
use pgp_core::openpgp::cert::CertBuilder;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use serde_json::json;

use crate::args::DemoArgs;
use crate::command::display;
use crate::command::gateway::{summary, write_outcome};
use crate::failure::{Failure, Verdict};
use crate::output::Output;

/// The policy of the demo: the shipped baseline (rules R1 to R9).
const BASELINE_POLICY: &str = include_str!("../../../examples/policies/baseline.toml");

const DOMAIN: &str = "behoerde.example";

/// A demo user: local part, address, and which keys the demo makes.
struct User {
    name: &'static str,
    address: &'static str,
    smime: bool,
    pgp: bool,
}

const USERS: [User; 5] = [
    User {
        name: "alice",
        address: "alice@behoerde.example",
        smime: true,
        pgp: true,
    },
    User {
        name: "bob",
        address: "bob@partner.example",
        smime: true,
        pgp: false,
    },
    User {
        name: "carol",
        address: "carol@extern.example",
        smime: false,
        pgp: true,
    },
    User {
        name: "dave",
        address: "dave@extern.example",
        smime: false,
        pgp: false,
    },
    User {
        name: "erin",
        address: "erin@geheim.example",
        smime: false,
        pgp: false,
    },
];

fn failed(what: impl std::fmt::Display) -> impl FnOnce(&dyn std::error::Error) -> Failure {
    let what = what.to_string();
    move |error| Failure::input(what, error)
}

fn write(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), Failure> {
    std::fs::write(path, bytes).map_err(|e| Failure::input(display(path), &e))
}

/// Writes a private key readable by its owner only. The mode is set on the
/// open file before any key byte is written, so a file left by an earlier
/// run with a wider mode is narrowed first.
fn write_private(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), Failure> {
    let fail = |e: std::io::Error| Failure::input(display(path), &e);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(fail)?;
    file.write_all(bytes.as_ref()).map_err(fail)?;
    file.sync_all().map_err(fail)
}

/// Creates `dir` (and its parents) and makes it `0700`: it holds the
/// demo's private keys.
fn private_dir(dir: &Path) -> Result<(), Failure> {
    let fail = |e: std::io::Error| Failure::input(display(dir), &e);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(fail)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)
}

pub(crate) fn run(args: &DemoArgs, output: &Output) -> Result<Verdict, Failure> {
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => tempfile::Builder::new()
            .prefix("mailgate-demo-")
            .tempdir()
            .map_err(|e| Failure::input("temporary directory", &e))?
            .keep(),
    };
    let pki = dir.join("pki");
    private_dir(&dir)?;
    private_dir(&pki)?;

    make_pki(&pki)?;
    write(&dir.join("policy.toml"), BASELINE_POLICY)?;
    write(&dir.join("mailgate.toml"), CONFIG)?;

    let gateway = Gateway::from_config_file(&dir.join("mailgate.toml"))
        .map_err(|e| failed(display(&dir.join("mailgate.toml")))(&e))?;
    // What the organisation knows about its correspondents: bob's S/MIME
    // certificate and carol's OpenPGP key, approved by an administrator.
    for file in ["bob.cert.pem", "carol.pub.asc"] {
        let path = pki.join(file);
        let bytes = std::fs::read(&path).map_err(|e| Failure::input(display(&path), &e))?;
        for entry in
            entries_from_file(&bytes, "demo import").map_err(|e| failed(display(&path))(&e))?
        {
            gateway
                .directory()
                .add(&entry, TrustState::Trusted)
                .map_err(|e| Failure::Temporary(e.to_string()))?;
        }
    }

    let samples = samples(&pki)?;
    let mut report = vec![format!("Demo gateway for {DOMAIN} in {}\n", dir.display())];
    let mut results = Vec::new();
    for (index, sample) in samples.iter().enumerate() {
        let out = dir
            .join("out")
            .join(format!("{:02}-{}", index + 1, sample.name));
        let outcome = gateway.process(&sample.envelope, &sample.message);
        let result = write_outcome(&outcome, &out)?;
        report.push(format!(
            "{}. {} {} -> {}: {}\n   {}\n{}\n   files: {}\n",
            index + 1,
            match sample.envelope.direction {
                rule_engine::Direction::Outbound => "outbound",
                rule_engine::Direction::Inbound => "inbound",
            },
            sample.envelope.sender,
            sample.envelope.recipients.join(", "),
            sample.title,
            sample.expect,
            indent(&summary(&outcome)),
            out.display()
        ));
        for step in outcome.audit.steps.iter().flatten() {
            if let Some(last) = report.last_mut() {
                last.push_str(&format!(
                    "   step: {} {} {}\n",
                    step.action,
                    step.method.as_deref().unwrap_or_default(),
                    step.result
                ));
            }
        }
        check_nothing_confidential_leaked(sample, &outcome)?;
        results.push(json!({ "sample": sample.name, "result": result }));
    }
    report.push(format!(
        "Try it yourself:\n  mailgate process --config {} --direction outbound --from alice@{DOMAIN} --to bob@partner.example --out-dir OUT < mail.eml",
        dir.join("mailgate.toml").display()
    ));
    output.result(
        || report.join("\n"),
        || json!({ "dir": dir, "samples": results }),
    );
    Ok(Verdict::Holds)
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("   => {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The demo's promise, checked on every run: a confidential sample never
/// leaves in clear.
fn check_nothing_confidential_leaked(
    sample: &Sample,
    outcome: &gateway_facade::Outcome,
) -> Result<(), Failure> {
    let Some(secret) = sample.secret else {
        return Ok(());
    };
    for disposition in &outcome.dispositions {
        if let Disposition::Deliver { message, .. } = disposition
            && message
                .to_vec()
                .map_err(|e| Failure::input("the delivered message", &e))?
                .windows(secret.len())
                .any(|w| w == secret.as_bytes())
        {
            return Err(Failure::Negative(format!(
                "sample {}: confidential text left in clear (this is a bug)",
                sample.name
            )));
        }
    }
    Ok(())
}

const CONFIG: &str = r#"# mailgate demo configuration for behoerde.example.
[gateway]
policy = "policy.toml"
data_dir = "data"
postmaster = "postmaster@behoerde.example"

[trust]
smime_anchors = ["pki/ca.pem"]

# The organisation's own keys: outbound mail from alice is signed with them,
# inbound mail to alice is decrypted with them.
[[keys]]
address = "alice@behoerde.example"
smime_certificate = "pki/alice.cert.pem"
smime_key = "pki/alice.key.pem"
pgp_key = "pki/alice.sec.asc"

# Known TLS verdicts (a production gateway probes with tls-policy).
[transport.domains."partner.example"]
meets_profile = true

[transport.domains."extern.example"]
meets_profile = false

[transport.domains."geheim.example"]
meets_profile = true

# How far a signed message's Date may be from its signing time before
# X-Mailgate-Signature warns (date-differs-from-signing-time); seconds, or
# a number with s, m, h or d. The default is one hour:
# [verification]
# date_tolerance = "1h"

# Revocation checks of S/MIME certificates (CRL files, CRL distribution
# points, OCSP). Without this section nothing is checked; with it, both
# modes default to "prefer" (a revoked certificate never counts, an unknown
# status is a finding), CRLs are downloaded from the distribution points
# certificates name, and OCSP goes to the responder each certificate names:
# [revocation]
# inbound = "prefer"         # signers: require | prefer | off
# outbound = "prefer"        # recipient certificates: require | prefer | off
# crls = ["pki/ca.crl"]
# ocsp = "aia"               # or "http://ocsp.example/", or "off"
# crl_dp = true              # false: never download CRLs
# ocsp_timeout = "5s"        # per OCSP request and per CRL download
"#;

/// This year, from the system clock (for certificate validity).
fn this_year() -> i32 {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Average Gregorian year: exact enough to pick a validity window.
    1970 + i32::try_from(seconds / 31_556_952).unwrap_or(0)
}

fn make_pki(pki: &Path) -> Result<(), Failure> {
    let rcgen_failed = |e: rcgen::Error| Failure::Input {
        input: "demo PKI".into(),
        message: e.to_string(),
    };
    let year = this_year();
    let ca_key = KeyPair::generate().map_err(rcgen_failed)?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_failed)?;
    ca.distinguished_name
        .push(DnType::CommonName, "Mailgate Demo CA");
    ca.distinguished_name
        .push(DnType::OrganizationName, "behoerde.example (demo)");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
    ca.not_after = rcgen::date_time_ymd(year + 10, 1, 1);
    let ca_cert = ca.self_signed(&ca_key).map_err(rcgen_failed)?;
    write(&pki.join("ca.pem"), ca_cert.pem())?;
    let issuer = Issuer::new(ca, ca_key);

    for user in &USERS {
        if user.smime {
            let key = KeyPair::generate().map_err(rcgen_failed)?;
            let mut params = CertificateParams::new(Vec::<String>::new()).map_err(rcgen_failed)?;
            params
                .distinguished_name
                .push(DnType::CommonName, user.address);
            let address = user.address.try_into().map_err(rcgen_failed)?;
            params.subject_alt_names = vec![SanType::Rfc822Name(address)];
            // ECDSA signs; ECDH (RFC 5753) needs keyAgreement to encrypt.
            params.key_usages = vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyAgreement,
            ];
            params.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
            params.use_authority_key_identifier_extension = true;
            params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
            params.not_after = rcgen::date_time_ymd(year + 3, 1, 1);
            let cert = params.signed_by(&key, &issuer).map_err(rcgen_failed)?;
            write(&pki.join(format!("{}.cert.pem", user.name)), cert.pem())?;
            write_private(
                &pki.join(format!("{}.key.pem", user.name)),
                key.serialize_pem(),
            )?;
        }
        if user.pgp {
            let user_id = format!("{} <{}>", capitalised(user.name), user.address);
            let (cert, _revocation) = CertBuilder::general_purpose(Some(user_id))
                .generate()
                .map_err(|e| Failure::Input {
                    input: "demo OpenPGP keys".into(),
                    message: e.to_string(),
                })?;
            let public = pgp_core::armored_certificate(&cert)
                .map_err(|e| failed("demo OpenPGP keys")(&e))?;
            let secret =
                pgp_core::armored_secret_key(&cert).map_err(|e| failed("demo OpenPGP keys")(&e))?;
            write(&pki.join(format!("{}.pub.asc", user.name)), public)?;
            write_private(&pki.join(format!("{}.sec.asc", user.name)), secret)?;
        }
    }
    Ok(())
}

fn capitalised(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A sample mail of the demo.
struct Sample {
    name: &'static str,
    title: &'static str,
    expect: &'static str,
    envelope: Envelope,
    message: Vec<u8>,
    /// Text that must never leave in clear.
    secret: Option<&'static str>,
}

/// The Date of the demo's mail: now, as a client writes it when sending
/// (the gateway warns when the Date is far from the signing time).
fn demo_date() -> String {
    mail_message::rfc5322_date(std::time::SystemTime::now())
}

fn text_mail(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {}\r\n\
         Message-ID: <{}.demo@behoerde.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n",
        demo_date(),
        subject.len()
    )
    .into_bytes()
}

fn mail_with_attachment(from: &str, to: &str, subject: &str, body: &str) -> Vec<u8> {
    let date = demo_date();
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nDate: {date}\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"demo\"\r\n\r\n\
         --demo\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n\
         --demo\r\nContent-Type: application/pdf; name=\"angebot.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"angebot.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         JVBERi0xLjQKJcOkw7zDtsOfCjEgMCBvYmoKPDwvVHlwZS9DYXRhbG9nPj4KZW5kb2JqCg==\r\n\
         --demo--\r\n"
    )
    .into_bytes()
}

fn samples(pki: &Path) -> Result<Vec<Sample>, Failure> {
    let alice = "alice@behoerde.example";
    let mut samples = vec![
        Sample {
            name: "confidential-to-bob",
            title: "[vertraulich] mail to a partner with an S/MIME certificate",
            expect: "R2: signed and S/MIME-encrypted, subject tag removed",
            envelope: Envelope::outbound(alice, ["bob@partner.example"]),
            message: text_mail(
                alice,
                "bob@partner.example",
                "[vertraulich] Quartalsbericht",
                "Der vertrauliche Quartalsbericht.",
            ),
            secret: Some("vertrauliche Quartalsbericht"),
        },
        Sample {
            name: "confidential-to-carol",
            title: "[vertraulich] mail to a correspondent with an OpenPGP key",
            expect: "R2: signed and OpenPGP-encrypted",
            envelope: Envelope::outbound(alice, ["carol@extern.example"]),
            message: text_mail(
                alice,
                "carol@extern.example",
                "[vertraulich] Vertragsentwurf",
                "Der vertrauliche Vertragsentwurf.",
            ),
            secret: Some("vertrauliche Vertragsentwurf"),
        },
        Sample {
            name: "confidential-to-dave",
            title: "[vertraulich] mail to a recipient without certificate or key",
            expect: "R2: sent as an AES-256 password-protected PDF; the password goes to alice in a notification",
            envelope: Envelope::outbound(alice, ["dave@extern.example"]),
            message: text_mail(
                alice,
                "dave@extern.example",
                "[vertraulich] Personalakte",
                "Die vertrauliche Personalakte.",
            ),
            secret: Some("vertrauliche Personalakte"),
        },
        Sample {
            name: "to-geheim",
            title: "mail to geheim.example, where nothing is known",
            expect: "R6: must be encrypted; impossible, so blocked and the sender notified",
            envelope: Envelope::outbound(alice, ["erin@geheim.example"]),
            message: text_mail(alice, "erin@geheim.example", "Termin", "Treffen am Montag."),
            secret: Some("Treffen am Montag"),
        },
        Sample {
            name: "attachment-to-partner-and-extern",
            title: "mail with an attachment to a whitelisted partner and to an external server without BSI TLS",
            expect: "R5 for bob (signed, no TLS requirement); R3 fallback for carol (encrypted, her server fails the TLS profile)",
            envelope: Envelope::outbound(alice, ["bob@partner.example", "carol@extern.example"]),
            message: mail_with_attachment(
                alice,
                "bob@partner.example, carol@extern.example",
                "Angebot",
                "Anbei das Angebot.",
            ),
            secret: None,
        },
        Sample {
            name: "plain-internal",
            title: "an ordinary internal mail",
            expect: "R1: signed",
            envelope: Envelope::outbound(alice, ["frank@behoerde.example"]),
            message: text_mail(
                alice,
                "frank@behoerde.example",
                "Mittagessen",
                "Gehen wir um zwölf?",
            ),
            secret: None,
        },
        Sample {
            name: "bank-unsigned",
            title: "an unsigned mail claiming to come from the bank, with a forged result header",
            expect: "R7: quarantined; the forged X-Mailgate-Signature is removed",
            envelope: Envelope::inbound("info@bank.example", [alice]),
            message: {
                let mut m = b"X-Mailgate-Signature: valid; signer=info@bank.example\r\n".to_vec();
                m.extend(text_mail(
                    "info@bank.example",
                    alice,
                    "Kontosperrung",
                    "Bitte bestätigen Sie Ihre PIN.",
                ));
                m
            },
            secret: None,
        },
    ];
    samples.extend(inbound_samples(pki)?);
    Ok(samples)
}

/// Mail from bob (S/MIME signed) and carol (OpenPGP signed and encrypted
/// to alice), made with their demo keys.
fn inbound_samples(pki: &Path) -> Result<Vec<Sample>, Failure> {
    let read = |name: &str| -> Result<Vec<u8>, Failure> {
        let path: PathBuf = pki.join(name);
        std::fs::read(&path).map_err(|e| Failure::input(display(&path), &e))
    };
    let alice = "alice@behoerde.example";
    let bob_cert = smime_core::Certificate::load(&read("bob.cert.pem")?)
        .map_err(|e| failed("bob.cert.pem")(&e))?
        .into_iter()
        .next()
        .ok_or_else(|| Failure::Usage("bob.cert.pem holds no certificate".into()))?;
    let bob_key = smime_core::PrivateKey::load(&read("bob.key.pem")?, None)
        .map_err(|e| failed("bob.key.pem")(&e))?;
    let signed = smime_core::Signer::new(bob_cert, &bob_key)
        .and_then(|s| {
            s.sign_message(
                &text_mail(
                    "bob@partner.example",
                    alice,
                    "Rückmeldung",
                    "Bericht erhalten, danke.",
                ),
                smime_core::SignatureForm::Detached,
            )
        })
        .map_err(|e| failed("demo S/MIME signature")(&e))?;

    let carol = pgp_core::parse_certificates(&read("carol.sec.asc")?)
        .map_err(|e| failed("carol.sec.asc")(&e))?;
    let alice_pgp = pgp_core::parse_certificates(&read("alice.pub.asc")?)
        .map_err(|e| failed("alice.pub.asc")(&e))?;
    let carol = carol
        .first()
        .ok_or_else(|| Failure::Usage("carol.sec.asc holds no key".into()))?;
    let signer = pgp_core::Signer::new(carol, None).map_err(|e| failed("carol.sec.asc")(&e))?;
    let encrypted = pgp_core::Encryptor::new(alice_pgp)
        .with_signer(signer)
        .encrypt_message(&text_mail(
            "carol@extern.example",
            alice,
            "Unterlagen",
            "Die Unterlagen, verschlüsselt.",
        ))
        .map_err(|e| failed("demo OpenPGP encryption")(&e))?;
    Ok(vec![
        Sample {
            name: "signed-from-bob",
            title: "an S/MIME-signed mail from bob",
            expect: "verified (X-Mailgate-Signature: valid), R8: certificates from the valid signature harvested",
            envelope: Envelope::inbound("bob@partner.example", [alice]),
            message: signed,
            secret: None,
        },
        Sample {
            name: "encrypted-from-carol",
            title: "an OpenPGP-encrypted and signed mail from carol",
            expect: "R8: decrypted with alice's key, carol's signature verified",
            envelope: Envelope::inbound("carol@extern.example", [alice]),
            message: encrypted,
            secret: None,
        },
    ])
}
