//! Inbound: remove forged result fields, decrypt with the organisation's
//! keys, verify signatures against the trust store, annotate the result,
//! harvest certificates for approval, then apply the inbound rules.

use std::io::{self, Read};
use std::sync::LazyLock;
use std::time::SystemTime;

use mail_message::{EmailAddress, Entity, Finding, Verdict};
use rule_engine::{Action, Detail, RecipientGroup};

use crate::audit::{
    Audit, Decision, InnerFieldsAudit, RevocationNote, RevocationStatus, StepAction,
};
use crate::certificates::{hex, pgp_certificate, pgp_entry, smime_entry};
use crate::facts::MailFacts;
use crate::gateway::{Envelope, Gateway};
use crate::headers::{
    EditError, HeaderBlock, RESULT_FIELD_PREFIX, edit_header, header_section, merge_inner_header,
};
use crate::notification::Notice;
use crate::outcome::{Disposition, Outcome, Step, Transport};
use crate::spooled_message::{PipeError, SpooledMessage};
use crate::store::{Kind, NewEntry, TrustState};

/// The largest message searched for attached OpenPGP keys to harvest (the
/// search holds the message).
const HARVEST_LIMIT: u64 = 16 * 1024 * 1024;

/// The most OpenPGP plaintext the in-memory path decrypts into memory; a
/// message (at most `IN_MEMORY_LIMIT` on the wire) whose plaintext is
/// larger, compressed data above all, is decrypted again as a stream to a
/// spool file. Smaller than `IN_MEMORY_LIMIT` because the in-memory
/// decryption holds its plaintext more than once: a 3.7 MB compression
/// bomb peaked at 60 MiB with 4 MiB here, at 49 MiB with 1 MiB (debug
/// build; `benches/README.md`).
const PGP_IN_MEMORY_PLAINTEXT: u64 = 1024 * 1024;

/// How a message was protected in transit, as far as we can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protection {
    SmimeEncrypted,
    PgpEncrypted,
    SmimeSigned,
    PgpSigned,
    /// An encrypted part (`"smime"` or `"pgp"`) inside an unprotected
    /// structure, beside clear parts: not decrypted, delivered as received
    /// with `result=partial-not-decrypted`, so nothing is dropped and
    /// nothing passes for wholly protected.
    PartlyEncrypted(&'static str),
    /// A signed part inside an unprotected structure: verified, which
    /// reports it `partially-signed` as the CLI does.
    PartlySigned(&'static str),
    Plain,
}

/// What protected parts a message holds below its top level.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Nested {
    encrypted: Option<&'static str>,
    signed: Option<&'static str>,
}

impl Nested {
    /// One marker the search found.
    fn note(&mut self, mime_type: &str, smime_type: &str, protocol: &str) {
        match mime_type {
            "application/pkcs7-mime" | "application/x-pkcs7-mime" => {
                if smime_type == "signed-data" {
                    self.signed.get_or_insert("smime");
                } else {
                    self.encrypted.get_or_insert("smime");
                }
            }
            "multipart/encrypted" => {
                self.encrypted.get_or_insert("pgp");
            }
            "multipart/signed" if protocol == "application/pgp-signature" => {
                self.signed.get_or_insert("pgp");
            }
            "multipart/signed" => {
                self.signed.get_or_insert("smime");
            }
            _ => {}
        }
    }
}

/// The protected parts below the top level of `message`, a multipart.
///
/// In memory (up to 4 MiB on the wire) this is the one parse
/// ([`mail_message::MessageTree`]) the verifiers and the policy read: every
/// part's content type, and inline OpenPGP blocks in text leaves. A
/// message spooled to disk is searched as a stream for the same content
/// type names and armour lines instead of being held: a name that only
/// appears in prose marks it too, which at worst labels a message
/// `partial-not-decrypted` or verifies it to `unsigned`; never drops or
/// alters a byte.
fn nested_protection(message: &SpooledMessage) -> io::Result<Nested> {
    let mut nested = Nested::default();
    if let Some(bytes) = message.in_memory() {
        let tree = mail_message::MessageTree::parse(bytes);
        for part in tree.root().walk().into_iter().skip(1) {
            let content_type = part.content_type();
            let parameter = |name: &str| {
                content_type
                    .parameter(name)
                    .map(str::to_ascii_lowercase)
                    .unwrap_or_default()
            };
            let mime_type = content_type.mime_type().to_ascii_lowercase();
            nested.note(&mime_type, &parameter("smime-type"), &parameter("protocol"));
            if part.kind() == mail_message::PartKind::Leaf && mime_type.starts_with("text/") {
                match inline_pgp(part.body())? {
                    Protection::PgpEncrypted => {
                        nested.encrypted.get_or_insert("pgp");
                    }
                    Protection::PgpSigned => {
                        nested.signed.get_or_insert("pgp");
                    }
                    _ => {}
                }
            }
        }
        return Ok(nested);
    }
    const MARKERS: [&str; 7] = [
        "-----BEGIN PGP MESSAGE-----",
        "-----BEGIN PGP SIGNED MESSAGE-----",
        "multipart/encrypted",
        "application/pkcs7-mime",
        "application/x-pkcs7-mime",
        "multipart/signed",
        "application/pgp-signature",
    ];
    // Built once: constructing the automaton costs more than scanning a
    // typical message, and this runs for every part of every mail.
    static AUTOMATON: LazyLock<Option<aho_corasick::AhoCorasick>> = LazyLock::new(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(MARKERS)
            .ok()
    });
    let Some(markers) = AUTOMATON.as_ref() else {
        return Ok(nested);
    };
    let (_, body) = header_section(message)?;
    for found in markers
        .try_stream_find_iter(body)
        .map_err(io::Error::other)?
    {
        match found?.pattern().as_usize() {
            0 | 2 => {
                nested.encrypted.get_or_insert("pgp");
            }
            // The smime-type is not searched for: a signed-data part is
            // then taken for encrypted, and left as it is.
            3 | 4 => {
                nested.encrypted.get_or_insert("smime");
            }
            // OpenPGP signatures name their method; a bare
            // multipart/signed is S/MIME unless one of them is found.
            1 | 6 => nested.signed = Some("pgp"),
            _ => {
                nested.signed.get_or_insert("smime");
            }
        }
    }
    Ok(nested)
}

/// How `message` is protected, from its header and, for a single text
/// entity, from the inline OpenPGP markers in its body (searched as a
/// stream).
fn protection(message: &SpooledMessage) -> io::Result<Protection> {
    let (header, reader) = header_section(message)?;
    let Ok(entity) = Entity::parse(&header) else {
        return Ok(Protection::Plain);
    };
    let Ok(content_type) = entity.content_type() else {
        return Ok(Protection::Plain);
    };
    let mime_type = content_type.mime_type().to_ascii_lowercase();
    let parameter = |name: &str| {
        content_type
            .parameter(name)
            .map(str::to_ascii_lowercase)
            .unwrap_or_default()
    };
    Ok(match mime_type.as_str() {
        "application/pkcs7-mime" | "application/x-pkcs7-mime" => {
            if parameter("smime-type") == "signed-data" {
                Protection::SmimeSigned
            } else {
                Protection::SmimeEncrypted
            }
        }
        "multipart/encrypted" => Protection::PgpEncrypted,
        "multipart/signed" => match parameter("protocol").as_str() {
            "application/pgp-signature" => Protection::PgpSigned,
            _ => Protection::SmimeSigned,
        },
        // Below the top level, a protected part beside clear parts
        // protects only itself: it is reported, never taken for the
        // message (decrypting it alone would drop its siblings).
        multipart if multipart.starts_with("multipart/") => {
            drop(reader);
            let nested = nested_protection(message)?;
            match (nested.encrypted, nested.signed) {
                (Some(method), _) => Protection::PartlyEncrypted(method),
                (None, Some(method)) => Protection::PartlySigned(method),
                (None, None) => Protection::Plain,
            }
        }
        _ => inline_pgp(reader)?,
    })
}

/// Whether a body holds an inline OpenPGP message or cleartext signature.
fn inline_pgp(body: impl Read) -> io::Result<Protection> {
    const MARKERS: [&str; 2] = [
        "-----BEGIN PGP MESSAGE-----",
        "-----BEGIN PGP SIGNED MESSAGE-----",
    ];
    // Built once, as in `nested_protection`.
    static AUTOMATON: LazyLock<Option<aho_corasick::AhoCorasick>> =
        LazyLock::new(|| aho_corasick::AhoCorasick::new(MARKERS).ok());
    let Some(markers) = AUTOMATON.as_ref() else {
        return Ok(Protection::Plain);
    };
    let mut signed = false;
    for found in markers
        .try_stream_find_iter(body)
        .map_err(io::Error::other)?
    {
        match found?.pattern().as_usize() {
            0 => return Ok(Protection::PgpEncrypted),
            _ => signed = true,
        }
    }
    Ok(if signed {
        Protection::PgpSigned
    } else {
        Protection::Plain
    })
}

/// What decrypting found: the plaintext (if any), the
/// `X-Mailgate-Decryption` value, and the signature report from inside an
/// OpenPGP encryption.
struct Decryption {
    plain: Option<SpooledMessage>,
    header: String,
    pgp_inner: Option<SignatureReport>,
}

/// Why no organisation key opened a message.
enum DecryptFailure {
    /// A key that may hold it cannot be reached now: defer.
    KeyUnavailable(String),
    /// The spool file could not be written or read: defer.
    Spool(io::Error),
    /// None of the keys opens it.
    Failed(String),
    /// A key opened it, but its plaintext is beyond the limits (a
    /// decompression bomb, compression nested too deep, a structure too
    /// large to decrypt in memory): quarantined, never delivered.
    OverLimit(String),
    /// A key opens it, but the encrypted block is only part of the message
    /// (an inline block with text around it): delivered as received, since
    /// the plaintext in its place would drop that text.
    Partial(String),
}

/// The result value of `X-Mailgate-Decryption` for a message with an
/// encrypted part that is not the whole message.
const PARTIAL_NOT_DECRYPTED: &str = "result=partial-not-decrypted; coverage=partial";

/// `X-Mailgate-Decryption` for a message delivered as received because
/// its encrypted part is not all of it.
fn partial_not_decrypted(method: &str, reason: &str) -> String {
    format!(
        "{method}; {PARTIAL_NOT_DECRYPTED}; reason=\"{}\"",
        reason.replace('"', "'")
    )
}

/// The finding in `X-Mailgate-Signature` (`warning=revocation-unknown`) for
/// a valid S/MIME signature whose certificate status no CRL or OCSP
/// responder confirmed (`[revocation] inbound = "prefer"`).
pub const REVOCATION_UNKNOWN: &str = "revocation-unknown";

/// What verification found, for the result header and the policy.
struct SignatureReport {
    status: &'static str,
    method: Option<&'static str>,
    signer: Option<String>,
    reason: Option<String>,
    /// What the header says beside the signature (display name, Sender,
    /// Reply-To, Date against signing time): finding names.
    warnings: Vec<&'static str>,
    harvest: Vec<NewEntry>,
    /// The OpenPGP report behind it, to judge again against the header
    /// the reader will see (after protected header fields were merged).
    pgp: Option<pgp_core::Verification>,
    /// The revocation status of each certificate of the S/MIME signers'
    /// paths and where it came from, for the audit record.
    revocation: Vec<RevocationNote>,
}

impl SignatureReport {
    fn none() -> Self {
        SignatureReport {
            status: "none",
            method: None,
            signer: None,
            reason: None,
            warnings: Vec::new(),
            harvest: Vec::new(),
            pgp: None,
            revocation: Vec::new(),
        }
    }

    /// A signature that could not be judged at all.
    fn failed(method: &'static str, reason: String) -> Self {
        SignatureReport {
            status: "invalid",
            method: Some(method),
            signer: None,
            reason: Some(reason),
            warnings: Vec::new(),
            harvest: Vec::new(),
            pgp: None,
            revocation: Vec::new(),
        }
    }

    fn valid(&self) -> bool {
        self.status == "valid"
    }

    fn header(&self) -> String {
        let mut value = self.status.to_owned();
        if let Some(method) = self.method {
            value.push_str(&format!("; method={method}"));
        }
        if let Some(signer) = &self.signer {
            value.push_str(&format!("; signer={signer}"));
        }
        if !self.warnings.is_empty() {
            value.push_str(&format!("; warning={}", self.warnings.join(",")));
        }
        if let Some(reason) = &self.reason {
            value.push_str(&format!("; reason=\"{}\"", reason.replace('"', "'")));
        }
        value
    }
}

fn status_of(verdict: Verdict) -> &'static str {
    match verdict {
        Verdict::SignedByFrom => "valid",
        // The name the CLI verifiers give (one table, mail-message).
        Verdict::PartiallySigned => Verdict::PartiallySigned.name(),
        Verdict::Unsigned => "none",
        // A valid signature by someone other than the From address does
        // not make the mail signed by its author.
        Verdict::SignedByOther | Verdict::Invalid => "invalid",
        _ => "invalid",
    }
}

impl Gateway {
    pub(crate) fn inbound(
        &self,
        envelope: &Envelope,
        message: &SpooledMessage,
        now: SystemTime,
    ) -> Outcome {
        match self.inbound_outcome(envelope, message, now) {
            Ok(outcome) => outcome,
            Err(outcome) => *outcome,
        }
    }

    /// [`Gateway::inbound`]; `Err` is an outcome that ends the processing
    /// early (malformed, deferred, quarantined, spool failure), boxed as
    /// it is large.
    fn inbound_outcome(
        &self,
        envelope: &Envelope,
        message: &SpooledMessage,
        now: SystemTime,
    ) -> Result<Outcome, Box<Outcome>> {
        let mut steps = Vec::new();
        let stripped = self.strip_result_fields(envelope, message, now)?;

        // Decrypt.
        let mut encrypted = match protection(&stripped) {
            Ok(protection) => protection,
            Err(error) => return Err(self.spool_failed(envelope, &error).into()),
        };
        let Decryption {
            plain: decrypted,
            header: mut decryption_header,
            pgp_inner,
        } = self.inbound_decrypt(envelope, &stripped, encrypted, now, &mut steps)?;
        let (decrypted, inner_fields) =
            self.merge_decrypted(envelope, &stripped, decrypted, now)?;
        let content = decrypted.as_ref().unwrap_or(&stripped);

        // Verify.
        let report = match pgp_inner {
            // Signed inside the OpenPGP encryption: judged again against
            // the header as merged.
            Some(report) => self.pgp_rejudge(report, content, now),
            None => self.inbound_verify(
                envelope,
                content,
                decrypted.is_none(),
                &mut encrypted,
                &mut decryption_header,
                now,
            )?,
        };
        steps.push(Step {
            action: StepAction::Verify,
            method: report.method.map(str::to_owned),
            recipients: Vec::new(),
            keys: Vec::new(),
            result: report.header(),
        });

        let (as_decrypted, as_received) =
            self.annotate_results(envelope, content, &stripped, &decryption_header, &report)?;

        // Decide. The policy reads the message with the result fields the
        // gateway wrote (and no others), so a rule can act on a signature
        // warning: `header = { name = "X-Mailgate-Signature", contains =
        // "warning=" }`.
        let policy = self.current_policy();
        let facts = MailFacts::new(self, now, report.valid());
        let parsed = match as_decrypted.summary() {
            Ok(parsed) => parsed,
            Err(error) => return Err(self.spool_failed(envelope, &error).into()),
        };
        if let Some(refused) = self.refuse_unreadable(envelope, &parsed, &stripped, now) {
            return Err(refused.into());
        }
        let parsed = parsed.with_size(message.len()).with_encrypted(
            encrypted == Protection::SmimeEncrypted || encrypted == Protection::PgpEncrypted,
        );
        let rule_envelope = rule_engine::Envelope::new(
            envelope.direction,
            envelope.sender.as_str(),
            envelope.recipients.iter().map(String::as_str),
        );
        let evaluation = policy.evaluate_with(&rule_envelope, &parsed, &facts, Detail::Full);

        // Harvest, when the policy asks for it.
        let harvest_wanted = evaluation
            .recipients
            .iter()
            .any(|r| r.outcome.has(Action::HarvestKeys));
        if harvest_wanted {
            self.harvest(&report, content, &mut steps);
        }

        let mut dispositions = Vec::new();
        let mut archive = Vec::new();
        for group in evaluation.groups() {
            if group.outcome.has(Action::Archive) {
                archive.extend(group.recipients.iter().cloned());
            }
            let message = if group.outcome.has(Action::Decrypt) {
                &as_decrypted
            } else {
                &as_received
            };
            dispositions.push(self.inbound_group(envelope, &group, message, &parsed, now));
        }
        Ok(Outcome {
            dispositions,
            archive,
            audit: Audit {
                policy: Some(policy.name().map(str::to_owned)),
                decisions: Some(Decision::all(&evaluation)),
                signature: Some(report.header()),
                decryption: Some(decryption_header),
                inner_fields: Some(inner_fields.as_ref().map(InnerFieldsAudit::from)),
                steps: Some(steps),
                revocation: Some(report.revocation),
                ..Audit::default()
            },
        })
    }

    /// The message without the gateway's result fields it arrived with
    /// (forged or from another gateway).
    fn strip_result_fields(
        &self,
        envelope: &Envelope,
        message: &SpooledMessage,
        now: SystemTime,
    ) -> Result<SpooledMessage, Box<Outcome>> {
        match edit_header(message, |block| block.remove_prefixed(RESULT_FIELD_PREFIX)) {
            Ok(stripped) => Ok(stripped),
            Err(EditError::Mime(error)) => {
                Err(self.malformed(envelope, &error.to_string(), now).into())
            }
            Err(EditError::Io(error)) if error.kind() == io::ErrorKind::InvalidData => {
                Err(self.malformed(envelope, &error.to_string(), now).into())
            }
            Err(EditError::Io(error)) => Err(self.spool_failed(envelope, &error).into()),
        }
    }

    /// Decrypts with the organisation's keys what `encrypted` says is
    /// encrypted as a whole.
    fn inbound_decrypt(
        &self,
        envelope: &Envelope,
        stripped: &SpooledMessage,
        encrypted: Protection,
        now: SystemTime,
        steps: &mut Vec<Step>,
    ) -> Result<Decryption, Box<Outcome>> {
        let (plain, header, pgp_inner) = match encrypted {
            Protection::SmimeEncrypted => match self.smime_decrypt(stripped, steps) {
                Ok(plain) => (Some(plain), "smime; result=decrypted".to_owned(), None),
                // A key that is away (token removed) may be back: the mail
                // waits rather than going on undecrypted.
                Err(DecryptFailure::KeyUnavailable(reason)) => {
                    return Err(self
                        .inbound_key_unavailable(envelope, &reason, std::mem::take(steps))
                        .into());
                }
                Err(DecryptFailure::Spool(error)) => {
                    return Err(self.spool_failed(envelope, &error).into());
                }
                Err(DecryptFailure::OverLimit(reason)) => {
                    return Err(self
                        .inbound_over_limit(
                            envelope,
                            stripped,
                            "smime",
                            &reason,
                            std::mem::take(steps),
                        )
                        .into());
                }
                Err(DecryptFailure::Failed(reason)) => (
                    None,
                    format!("smime; result=failed; reason=\"{reason}\""),
                    None,
                ),
                Err(DecryptFailure::Partial(reason)) => {
                    (None, partial_not_decrypted("smime", &reason), None)
                }
            },
            Protection::PgpEncrypted => match self.pgp_decrypt(stripped, now, steps) {
                Ok((plain, inner)) => (Some(plain), "pgp; result=decrypted".to_owned(), inner),
                Err(DecryptFailure::Spool(error)) => {
                    return Err(self.spool_failed(envelope, &error).into());
                }
                Err(DecryptFailure::OverLimit(reason)) => {
                    return Err(self
                        .inbound_over_limit(
                            envelope,
                            stripped,
                            "pgp",
                            &reason,
                            std::mem::take(steps),
                        )
                        .into());
                }
                Err(DecryptFailure::KeyUnavailable(reason) | DecryptFailure::Failed(reason)) => (
                    None,
                    format!("pgp; result=failed; reason=\"{reason}\""),
                    None,
                ),
                Err(DecryptFailure::Partial(reason)) => {
                    (None, partial_not_decrypted("pgp", &reason), None)
                }
            },
            // Decrypting the part alone would deliver its plaintext in
            // place of the message and drop the clear parts beside it;
            // decrypting it in place would deliver a message part
            // protected, part not, that a reader takes for protected. It
            // is delivered as received, and said so.
            Protection::PartlyEncrypted(method) => (
                None,
                partial_not_decrypted(
                    method,
                    "an encrypted part beside unencrypted parts is not decrypted",
                ),
                None,
            ),
            _ => (None, "none".to_owned(), None),
        };
        Ok(Decryption {
            plain,
            header,
            pgp_inner,
        })
    }

    /// The decrypted message with the received header merged in, and what
    /// became of the header fields found inside.
    ///
    /// Header fields from inside the decrypted entity never pass for outer
    /// fields or gateway results; RFC 9788 protected header fields replace
    /// the outer ones (`mail_message::merge_inner_header`).
    fn merge_decrypted(
        &self,
        envelope: &Envelope,
        stripped: &SpooledMessage,
        decrypted: Option<SpooledMessage>,
        now: SystemTime,
    ) -> Result<(Option<SpooledMessage>, Option<mail_message::InnerFields>), Box<Outcome>> {
        let Some(plain) = decrypted else {
            return Ok((None, None));
        };
        match merge_inner_header(stripped, &plain) {
            Ok((merged, sorted)) => Ok((Some(merged), Some(sorted))),
            Err(EditError::Io(error)) if error.kind() != io::ErrorKind::InvalidData => {
                Err(self.spool_failed(envelope, &error).into())
            }
            Err(error) => Err(self.malformed(envelope, &error.to_string(), now).into()),
        }
    }

    /// The signature report of `content` (the decrypted message, else the
    /// received one), outside an OpenPGP encryption. An inline OpenPGP
    /// block that turns out signed only changes `encrypted` and
    /// `decryption_header` to say so.
    fn inbound_verify(
        &self,
        envelope: &Envelope,
        content: &SpooledMessage,
        not_decrypted: bool,
        encrypted: &mut Protection,
        decryption_header: &mut String,
        now: SystemTime,
    ) -> Result<SignatureReport, Box<Outcome>> {
        Ok(match protection(content) {
            Ok(Protection::SmimeSigned | Protection::PartlySigned("smime")) => {
                self.smime_verify(content, now)
            }
            Ok(Protection::PgpSigned | Protection::PartlySigned(_)) => {
                self.pgp_verify(content, now)
            }
            // Signed parts beside the encrypted one are judged as
            // without it: the verifier says how much they cover.
            Ok(Protection::PartlyEncrypted(_)) => match nested_protection(content) {
                Ok(Nested {
                    signed: Some("smime"),
                    ..
                }) => self.smime_verify(content, now),
                Ok(Nested {
                    signed: Some(_), ..
                }) => self.pgp_verify(content, now),
                Ok(_) => SignatureReport::none(),
                Err(error) => return Err(self.spool_failed(envelope, &error).into()),
            },
            // An inline `PGP MESSAGE` block that did not decrypt may be
            // signed only (`gpg --armor --sign`): then it was never
            // encrypted.
            Ok(Protection::PgpEncrypted)
                if not_decrypted && !decryption_header.contains(PARTIAL_NOT_DECRYPTED) =>
            {
                let report = self.pgp_verify(content, now);
                if report.status == "none" {
                    SignatureReport::none()
                } else {
                    *encrypted = Protection::PgpSigned;
                    *decryption_header = "none".to_owned();
                    report
                }
            }
            Ok(_) => SignatureReport::none(),
            Err(error) => return Err(self.spool_failed(envelope, &error).into()),
        })
    }

    /// The message as delivered decrypted and as received, each with the
    /// gateway's result fields on top. The decrypted message goes only to
    /// recipients whose policy says decrypt.
    fn annotate_results(
        &self,
        envelope: &Envelope,
        content: &SpooledMessage,
        stripped: &SpooledMessage,
        decryption_header: &str,
        report: &SignatureReport,
    ) -> Result<(SpooledMessage, SpooledMessage), Box<Outcome>> {
        let annotate = |body: &SpooledMessage| {
            edit_header(body, |block| {
                block.prepend("X-Mailgate-Decryption", decryption_header);
                block.prepend("X-Mailgate-Signature", &report.header());
            })
        };
        match (annotate(content), annotate(stripped)) {
            (Ok(decrypted), Ok(received)) => Ok((decrypted, received)),
            (Err(EditError::Io(error)), _) | (_, Err(EditError::Io(error))) => {
                Err(self.spool_failed(envelope, &error).into())
            }
            // A decrypted entity whose header cannot be parsed goes as it is.
            _ => Ok((content.clone(), stripped.clone())),
        }
    }

    /// Stores the certificates the signature carried and those attached to
    /// `content` (or in its Autocrypt header) as pending, a step each.
    fn harvest(&self, report: &SignatureReport, content: &SpooledMessage, steps: &mut Vec<Step>) {
        let mut candidates = report.harvest.clone();
        // The search for attached keys holds the message: very large
        // mail is not searched (its Autocrypt header is).
        let searched = if content.len() <= HARVEST_LIMIT {
            content.to_vec()
        } else {
            header_section(content).map(|(header, _)| header)
        };
        if let Ok(found) = searched.map(|bytes| pgp_core::harvest_certificates(&bytes)) {
            for h in found.into_iter().flatten() {
                if let Ok(entry) = pgp_entry(&h.certificate, "harvest:autocrypt-or-attachment") {
                    candidates.push(entry);
                }
            }
        }
        for candidate in candidates {
            let result = match self.directory().add(&candidate, TrustState::Pending) {
                Ok(crate::store::Added::New(id)) => format!("pending as {id}"),
                Ok(crate::store::Added::Known(id)) => format!("already known as {id}"),
                Err(error) => format!("not stored: {error}"),
            };
            steps.push(Step {
                action: StepAction::Harvest,
                method: Some(candidate.kind.as_str().into()),
                recipients: Vec::new(),
                keys: vec![candidate.fingerprint.clone()],
                result,
            });
        }
    }

    /// How far a Date field may be from the signing time before the
    /// signature report warns (`date-differs-from-signing-time`):
    /// `[verification] date_tolerance` or [`Gateway::with_date_tolerance`].
    fn date_tolerance(&self) -> std::time::Duration {
        self.date_tolerance_setting()
    }

    /// An OpenPGP report from inside the encryption, judged against the
    /// header of `message` (the decrypted message as delivered).
    fn pgp_rejudge(
        &self,
        report: SignatureReport,
        message: &SpooledMessage,
        now: SystemTime,
    ) -> SignatureReport {
        let Some(verification) = &report.pgp else {
            return report;
        };
        let rejudged = header_section(message)
            .map_err(pgp_core::Error::Io)
            .and_then(|(header, _)| {
                verification
                    .clone()
                    .judged_against(&header, &self.pgp_verifier(message, now))
            });
        match rejudged {
            Ok(verification) => pgp_report(&verification, self.date_tolerance()),
            Err(error) => SignatureReport::failed("pgp", error.to_string()),
        }
    }

    fn inbound_group(
        &self,
        envelope: &Envelope,
        group: &RecipientGroup,
        message: &SpooledMessage,
        parsed: &rule_engine::Message,
        now: SystemTime,
    ) -> Disposition {
        let outcome = &group.outcome;
        let recipients = group.recipients.clone();
        let reason = |default: &str| outcome.reason.clone().unwrap_or_else(|| default.to_owned());
        if outcome.has(Action::Defer) {
            Disposition::Defer {
                recipients,
                reason: reason("a fact the policy needs could not be established"),
            }
        } else if outcome.has(Action::Block) {
            let reason = reason("refused by policy");
            let address = self.notice_address(envelope);
            let notification = Notice {
                postmaster: self.postmaster(),
                sender: address.to,
                subject: parsed.subject(),
                recipients: &recipients,
                headline: "Not delivered",
                reason: &reason,
                template: outcome.notify_template.as_deref(),
                details: &address.why,
            }
            .render(now);
            Disposition::Reject {
                recipients,
                reason,
                notification,
            }
        } else if outcome.has(Action::Quarantine) {
            Disposition::Quarantine {
                recipients,
                reason: reason("quarantined by policy"),
                message: message.clone(),
            }
        } else {
            Disposition::Deliver {
                recipients,
                message: message.clone(),
                transport: Transport::default(),
                notification: None,
            }
        }
    }

    /// A message that cannot be read as mail (either direction): refused
    /// with a notification.
    pub(crate) fn malformed(&self, envelope: &Envelope, reason: &str, now: SystemTime) -> Outcome {
        let reason = format!("malformed message: {reason}");
        let address = self.notice_address(envelope);
        let notification = Notice {
            postmaster: self.postmaster(),
            sender: address.to,
            subject: None,
            recipients: &envelope.recipients,
            headline: "Not delivered",
            reason: &reason,
            template: None,
            details: &address.why,
        }
        .render(now);
        Outcome {
            dispositions: vec![Disposition::Reject {
                recipients: envelope.recipients.clone(),
                reason: reason.clone(),
                notification,
            }],
            archive: Vec::new(),
            audit: Audit::error(reason),
        }
    }

    fn inbound_key_unavailable(
        &self,
        envelope: &Envelope,
        reason: &str,
        steps: Vec<Step>,
    ) -> Outcome {
        let reason = format!("an organisation key is unavailable: {reason}");
        Outcome {
            dispositions: vec![Disposition::Defer {
                recipients: envelope.recipients.clone(),
                reason: reason.clone(),
            }],
            archive: Vec::new(),
            audit: Audit {
                decryption: Some(format!("smime; result=deferred; reason=\"{reason}\"")),
                steps: Some(steps),
                ..Audit::default()
            },
        }
    }

    /// A message whose decryption went beyond the limits: quarantined for
    /// all its recipients, as received (still encrypted), with the reason.
    /// Neither delivered as if it were fine nor bounced to a sender who
    /// may be forged; an administrator can look at it.
    fn inbound_over_limit(
        &self,
        envelope: &Envelope,
        received: &SpooledMessage,
        method: &str,
        reason: &str,
        steps: Vec<Step>,
    ) -> Outcome {
        let decryption = format!("{method}; result=refused; reason=\"{reason}\"");
        let message = match edit_header(received, |block| {
            block.prepend("X-Mailgate-Decryption", &decryption);
        }) {
            Ok(annotated) => annotated,
            Err(EditError::Io(error)) => return self.spool_failed(envelope, &error),
            Err(EditError::Mime(_)) => received.clone(),
        };
        Outcome {
            dispositions: vec![Disposition::Quarantine {
                recipients: envelope.recipients.clone(),
                reason: format!("not decrypted: {reason}"),
                message,
            }],
            archive: Vec::new(),
            audit: Audit {
                decryption: Some(decryption),
                steps: Some(steps),
                ..Audit::default()
            },
        }
    }

    fn smime_decrypt(
        &self,
        message: &SpooledMessage,
        steps: &mut Vec<Step>,
    ) -> Result<SpooledMessage, DecryptFailure> {
        let mut last = "no organisation S/MIME key".to_owned();
        let mut unavailable = None;
        for key in self.organisation_keys() {
            let Some(identity) = &key.smime else { continue };
            let decryption = identity
                .decryption()
                .map_err(|e| DecryptFailure::Failed(e.to_string()))?;
            // What the step that runs (in memory or streaming) found.
            let encryption = std::cell::Cell::new(None);
            let decrypted = message.pipe(
                |m| {
                    let decrypted = smime_core::decrypt_message(m, &decryption)?;
                    encryption.set(Some(decrypted.encryption()));
                    Ok(decrypted.message().to_vec())
                },
                |r, w| {
                    let found = smime_core::decrypt_message_stream(r, w, &decryption)?;
                    encryption.set(Some(found.encryption));
                    Ok(())
                },
            );
            match decrypted {
                Err(PipeError::Spool(error)) => return Err(DecryptFailure::Spool(error)),
                Err(PipeError::Step(error)) => match error {
                    smime_core::Error::KeyUnavailable(_) => {
                        unavailable = Some(format!("{}: {error}", key.address));
                    }
                    error => last = error.to_string(),
                },
                Ok(decrypted) => {
                    let encryption = match encryption.get() {
                        Some(cipher) if cipher.is_obsolete() => {
                            format!("{cipher}, an obsolete cipher")
                        }
                        Some(cipher) => cipher.to_string(),
                        None => String::new(),
                    };
                    steps.push(Step {
                        action: StepAction::Decrypt,
                        method: Some("smime".into()),
                        recipients: vec![key.address.clone()],
                        keys: vec![hex(&identity.certificate.fingerprint_sha256())],
                        result: format!("decrypted ({encryption})"),
                    });
                    return Ok(decrypted);
                }
            }
        }
        // The message may be for the key that is away: no other key
        // opened it, so it waits for that one.
        Err(match unavailable {
            Some(reason) => DecryptFailure::KeyUnavailable(reason),
            None => DecryptFailure::Failed(last),
        })
    }

    fn pgp_decrypt(
        &self,
        message: &SpooledMessage,
        now: SystemTime,
        steps: &mut Vec<Step>,
    ) -> Result<(SpooledMessage, Option<SignatureReport>), DecryptFailure> {
        let mut last = "no organisation OpenPGP key".to_owned();
        for key in self.organisation_keys() {
            let Some(secret) = &key.pgp else { continue };
            // The in-memory path holds at most PGP_IN_MEMORY_PLAINTEXT;
            // beyond that the plaintext goes to a spool file, up to
            // pgp-core's limit (counted while decompressing).
            let mut decryptor = pgp_core::Decryptor::new([secret.clone()])
                .with_verifier(self.pgp_verifier(message, now))
                .with_max_in_memory(PGP_IN_MEMORY_PLAINTEXT)
                .with_max_plaintext(self.max_decrypted_size());
            if let Some(passphrase) = key.pgp_passphrase() {
                decryptor = decryptor.with_passphrase(passphrase.clone());
            }
            // What the step that runs (in memory or streaming) found.
            let found = std::cell::OnceCell::new();
            let decrypted = message.pipe(
                |m| {
                    let decrypted = decryptor.decrypt_message(m)?;
                    let _ = found.set((
                        decrypted.protection().clone(),
                        decrypted.verification().clone(),
                        decrypted.coverage().clone(),
                    ));
                    Ok(decrypted.message().to_vec())
                },
                |r, w| {
                    let decrypted = decryptor.decrypt_message_spooled(r)?;
                    let _ = found.set((
                        decrypted.protection().clone(),
                        decrypted.verification().clone(),
                        decrypted.coverage().clone(),
                    ));
                    decrypted.write_message(w)
                },
            );
            // A small message whose plaintext outgrew memory (compressed
            // data): decrypted again as a stream, the plaintext to a
            // spool file.
            let decrypted = match (decrypted, message.in_memory()) {
                (Err(PipeError::Step(pgp_core::Error::InMemoryLimit { .. })), Some(bytes)) => {
                    SpooledMessage::spool(|w| {
                        let decrypted = decryptor.decrypt_message_spooled(bytes)?;
                        let _ = found.set((
                            decrypted.protection().clone(),
                            decrypted.verification().clone(),
                            decrypted.coverage().clone(),
                        ));
                        decrypted.write_message(w)
                    })
                    .map_err(PipeError::Step)
                }
                (decrypted, _) => decrypted,
            };
            match (decrypted, found.into_inner()) {
                // The block is not the whole message (text around an
                // inline block): its plaintext in place of the message
                // would drop that text.
                (Ok(_), Some((_, _, mail_message::Coverage::Partial { part, reason }))) => {
                    return Err(DecryptFailure::Partial(format!("part {part}: {reason}")));
                }
                (Ok(decrypted), Some((protection, verification, _))) => {
                    steps.push(Step {
                        action: StepAction::Decrypt,
                        method: Some("pgp".into()),
                        recipients: vec![key.address.clone()],
                        keys: protection.recipient.iter().cloned().collect(),
                        // Which code used the organisation's secret key
                        // (RSA: constant time, see pgp-core).
                        result: match protection.secret_key_backend {
                            Some(backend) => format!("decrypted (secret key: {backend})"),
                            None => "decrypted".into(),
                        },
                    });
                    let inner = (verification.verdict() != Verdict::Unsigned)
                        .then(|| pgp_report(&verification, self.date_tolerance()));
                    return Ok((decrypted, inner));
                }
                (Ok(_), None) => last = "decryption reported nothing".into(),
                (
                    Err(PipeError::Step(
                        error @ (pgp_core::Error::TooLarge { .. }
                        | pgp_core::Error::InMemoryLimit { .. }
                        | pgp_core::Error::NestedCompression { .. }),
                    )),
                    _,
                ) => return Err(DecryptFailure::OverLimit(error.to_string())),
                (Err(PipeError::Step(error)), _) => last = error.to_string(),
                (Err(PipeError::Spool(error)), _) => return Err(DecryptFailure::Spool(error)),
            }
        }
        Err(DecryptFailure::Failed(last))
    }

    /// A verifier with the trusted OpenPGP certificates of the From address.
    fn pgp_verifier(&self, message: &SpooledMessage, now: SystemTime) -> pgp_core::Verifier {
        let certs = from_addresses(message)
            .iter()
            .filter_map(|a| self.directory().trusted(Kind::Pgp, a.as_str()).ok())
            .flatten()
            .filter_map(|entry| pgp_certificate(&entry).ok())
            .collect::<Vec<_>>();
        pgp_core::Verifier::new(certs).at(now)
    }

    fn pgp_verify(&self, message: &SpooledMessage, now: SystemTime) -> SignatureReport {
        let verifier = self.pgp_verifier(message, now);
        let verified = match message.in_memory() {
            Some(bytes) => verifier.verify_message(bytes),
            None => message
                .reader()
                .map_err(pgp_core::Error::Io)
                .and_then(|r| verifier.verify_message_spooled(r))
                .map(|spooled| spooled.verification().clone()),
        };
        match verified {
            Ok(verification) => pgp_report(&verification, self.date_tolerance()),
            Err(error) => SignatureReport::failed("pgp", error.to_string()),
        }
    }

    fn smime_verify(&self, message: &SpooledMessage, now: SystemTime) -> SignatureReport {
        let mut verifier = smime_core::Verifier::new(self.anchors().iter().cloned())
            .with_intermediates(self.intermediates().iter().cloned())
            .at(now);
        if let Some(revocation) = self.inbound_revocation() {
            // A clone shares the OCSP client and its cache.
            verifier = verifier.with_revocation(revocation.clone());
        }
        let verified = match message.in_memory() {
            Some(bytes) => verifier.verify_message(bytes),
            None => message
                .reader()
                .map_err(smime_core::Error::Io)
                .and_then(|r| verifier.verify_message_spooled(r))
                .map(|spooled| spooled.verification().clone()),
        };
        match verified {
            Ok(verification) => {
                let status = status_of(verification.verdict());
                let signer = verification
                    .signers()
                    .iter()
                    .filter_map(|s| s.certificate.as_ref())
                    .find_map(|c| c.email_addresses().first().map(|a| a.as_str().to_owned()));
                let reason = verification
                    .signers()
                    .iter()
                    .find(|s| s.status != smime_core::SignatureStatus::Valid)
                    .map(|s| s.status.to_string());
                let harvest = if status == "valid" {
                    verification
                        .certificates()
                        .iter()
                        .filter(|c| !c.is_ca() && !c.email_addresses().is_empty())
                        .map(|c| smime_entry(c, "harvest:smime-signature"))
                        .collect()
                } else {
                    Vec::new()
                };
                let mut warnings: Vec<&'static str> = verification
                    .findings_with(self.date_tolerance())
                    .iter()
                    .map(Finding::name)
                    .collect();
                // `prefer`: the signature counts, but no CRL or responder
                // confirmed the signer's certificate; say so where the
                // reader and the policy look.
                if status == "valid" && verification.revocation_unknown() {
                    warnings.push(REVOCATION_UNKNOWN);
                }
                SignatureReport {
                    status,
                    method: Some("smime"),
                    signer,
                    reason,
                    warnings,
                    harvest,
                    pgp: None,
                    revocation: verification
                        .signers()
                        .iter()
                        .flat_map(|s| &s.revocation)
                        .map(revocation_json)
                        .collect(),
                }
            }
            Err(error) => SignatureReport::failed("smime", error.to_string()),
        }
    }
}

fn pgp_report(
    verification: &pgp_core::Verification,
    date_tolerance: std::time::Duration,
) -> SignatureReport {
    let warnings = verification
        .findings_with(date_tolerance)
        .iter()
        .map(Finding::name)
        .collect();
    let status = status_of(verification.verdict());
    let signer = verification
        .signers()
        .iter()
        .find_map(|s| s.user_id.clone());
    let reason = verification
        .signers()
        .iter()
        .find(|s| s.status != pgp_core::SignatureStatus::Valid)
        .map(|s| s.status.to_string());
    SignatureReport {
        status,
        method: Some("pgp"),
        signer,
        reason,
        warnings,
        // The signer's certificate is already trusted (it verified);
        // OpenPGP harvesting is of Autocrypt headers and attached keys.
        harvest: Vec::new(),
        pgp: Some(verification.clone()),
        revocation: Vec::new(),
    }
}

/// One certificate's revocation status for the audit record: which
/// certificate, good, revoked or unknown, and who said so (the CRL file, or
/// the OCSP responder and whether the answer was cached) or why nobody could.
fn revocation_json(status: &smime_core::revocation::CertificateStatus) -> RevocationNote {
    use smime_core::revocation::StatusOutcome;
    let (outcome, detail) = match &status.outcome {
        StatusOutcome::Good { source } => (RevocationStatus::Good, source.to_string()),
        StatusOutcome::Revoked { source, reason, .. } => (
            RevocationStatus::Revoked,
            match reason {
                Some(reason) => format!("{source} ({reason})"),
                None => source.to_string(),
            },
        ),
        StatusOutcome::Unknown { reasons } => (RevocationStatus::Unknown, reasons.join("; ")),
        _ => (RevocationStatus::Unknown, String::new()),
    };
    RevocationNote::Signer {
        detail,
        serial: status.serial.clone(),
        status: outcome,
        subject: status.subject.clone(),
    }
}

/// The addresses of the From field.
fn from_addresses(message: &SpooledMessage) -> Vec<EmailAddress> {
    header_section(message)
        .ok()
        .map(|(header, _)| header)
        .and_then(|header| HeaderBlock::parse(&header).ok())
        .and_then(|block| block.value("From"))
        .and_then(|from| EmailAddress::parse_mailboxes(&from).ok())
        .unwrap_or_default()
}
