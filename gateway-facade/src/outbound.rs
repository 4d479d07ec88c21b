//! Outbound: evaluate the policy per recipient, then per group of
//! recipients with the same treatment sign, encrypt, require TLS, fall back
//! to a password carrier, or reject with a notification.

use std::io;
use std::time::SystemTime;

use mailgate_password_container::Container;
use rule_engine::{Action, Detail, Method, RecipientGroup};
use smime_core::SignatureForm;

use crate::audit::{Audit, Decision, StepAction};
use crate::certificates::hex;
use crate::facts::MailFacts;
use crate::fallback::{self, generate_password};
use crate::gateway::{Envelope, Gateway};
use crate::headers;
use crate::notification::Notice;
use crate::outcome::{Disposition, Outcome, Step, TlsProfile, Transport};
use crate::spooled_message::{PipeError, SpooledMessage};
use crate::store::StoreError;

/// The largest message put into a password-protected PDF or ZIP.
const MAX_PASSWORD_CONTAINER: u64 = 32 * 1024 * 1024;

/// Why a group could not be given what the policy demands.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Will not get better by retrying: reject and notify.
    Permanent(String),
    /// May work later (store or lookup unavailable): defer.
    Transient(String),
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Failure::Transient(error.to_string())
    }
}

impl From<crate::facts::LookupError> for Failure {
    /// Both kinds may heal (the directory comes back, a responder answers).
    fn from(error: crate::facts::LookupError) -> Self {
        Failure::Transient(error.to_string())
    }
}

fn permanent<E: std::fmt::Display>(what: &'static str) -> impl FnOnce(E) -> Failure {
    move |error| Failure::Permanent(format!("{what}: {error}"))
}

/// The shared context of one outbound mail.
struct Mail<'a> {
    envelope: &'a Envelope,
    message: &'a SpooledMessage,
    subject: Option<String>,
    now: SystemTime,
}

impl Gateway {
    pub(crate) fn outbound(
        &self,
        envelope: &Envelope,
        message: &SpooledMessage,
        now: SystemTime,
    ) -> Outcome {
        let policy = self.current_policy();
        let facts = MailFacts::new(self, now, false);
        let parsed = match message.summary() {
            Ok(parsed) => parsed,
            Err(error) => return self.spool_failed(envelope, &error),
        };
        // Before any rule: mail that readers disagree on is refused.
        if let Some(refused) = self.refuse_unreadable(envelope, &parsed, message, now) {
            return refused;
        }
        let rule_envelope = rule_engine::Envelope::new(
            envelope.direction,
            envelope.sender.as_str(),
            envelope.recipients.iter().map(String::as_str),
        );
        let evaluation = policy.evaluate_with(&rule_envelope, &parsed, &facts, Detail::Full);
        let mail = Mail {
            envelope,
            message,
            subject: parsed.subject().map(str::to_owned),
            now,
        };
        let mut steps = Vec::new();
        let mut dispositions = Vec::new();
        let mut archive = Vec::new();
        for group in evaluation.groups() {
            if group.outcome.has(Action::Archive) {
                archive.extend(group.recipients.iter().cloned());
            }
            dispositions.push(self.outbound_group(&mail, &group, &facts, &mut steps));
        }
        let revocation = facts.revocation_notes();
        let audit = Audit {
            policy: Some(policy.name().map(str::to_owned)),
            decisions: Some(Decision::all(&evaluation)),
            steps: Some(steps),
            revocation: (!revocation.is_empty()).then_some(revocation),
            ..Audit::default()
        };
        Outcome {
            dispositions,
            archive,
            audit,
        }
    }

    fn outbound_group(
        &self,
        mail: &Mail<'_>,
        group: &RecipientGroup,
        facts: &MailFacts<'_>,
        steps: &mut Vec<Step>,
    ) -> Disposition {
        let outcome = &group.outcome;
        let recipients = group.recipients.clone();
        let reason = |default: &str| outcome.reason.clone().unwrap_or_else(|| default.to_owned());
        if outcome.has(Action::Defer) {
            return Disposition::Defer {
                recipients,
                reason: reason("a fact the policy needs could not be established"),
            };
        }
        if outcome.has(Action::Block) {
            return self.reject(
                mail,
                recipients,
                reason("blocked by policy"),
                outcome.notify_template.as_deref(),
            );
        }
        if outcome.has(Action::Quarantine) {
            return Disposition::Quarantine {
                recipients,
                reason: reason("quarantined by policy"),
                message: mail.message.clone(),
            };
        }
        if !outcome.has(Action::Deliver) {
            return self.reject(
                mail,
                recipients,
                "the policy reached no delivery decision".into(),
                None,
            );
        }
        match self.protect(mail, group, facts, steps) {
            Ok((message, notification)) => Disposition::Deliver {
                recipients,
                message,
                notification,
                transport: Transport {
                    require_tls: if outcome.has(Action::RequireTls)
                        && !outcome.has(Action::Whitelist)
                    {
                        outcome.tls_profile.clone().map(TlsProfile::from)
                    } else {
                        None
                    },
                },
            },
            Err(Failure::Transient(reason)) => Disposition::Defer { recipients, reason },
            Err(Failure::Permanent(reason)) => {
                self.reject(mail, recipients, reason, outcome.notify_template.as_deref())
            }
        }
    }

    fn reject(
        &self,
        mail: &Mail<'_>,
        recipients: Vec<String>,
        reason: String,
        template: Option<&str>,
    ) -> Disposition {
        let address = self.notice_address(mail.envelope);
        let notification = Notice {
            postmaster: self.postmaster(),
            sender: address.to,
            subject: mail.subject.as_deref(),
            recipients: &recipients,
            headline: "Not delivered",
            reason: &reason,
            template,
            details: &address.why,
        }
        .render(mail.now);
        Disposition::Reject {
            recipients,
            reason,
            notification,
        }
    }

    /// The message as it must leave for this group (header edits applied,
    /// then signed and/or encrypted, or put into a password-protected
    /// carrier, as the outcome says), and a notification for the sender if
    /// one goes with it. Any failure is an error: the caller never falls
    /// back to the unprotected message.
    fn protect(
        &self,
        mail: &Mail<'_>,
        group: &RecipientGroup,
        facts: &MailFacts<'_>,
        steps: &mut Vec<Step>,
    ) -> Result<(SpooledMessage, Option<Vec<u8>>), Failure> {
        let outcome = &group.outcome;
        let mut edited = headers::apply_edits(mail.message, &outcome.header_edits)
            .map_err(permanent("the message cannot be edited"))?;
        let mut notification = None;
        let container = if outcome.has(Action::FallbackPasswordPdf) {
            Some(Container::Pdf)
        } else if outcome.has(Action::FallbackPasswordZip) {
            Some(Container::Zip)
        } else {
            None
        };
        if let Some(container) = container {
            // The password goes only to the organisation's own senders
            // (see `notification`): for anyone else the fallback fails
            // closed, before a password exists.
            if !self.may_receive_password(&mail.envelope.sender) {
                let sender = if mail.envelope.sender.is_empty() {
                    "the null sender".to_owned()
                } else {
                    format!("<{}>", mail.envelope.sender)
                };
                return Err(Failure::Permanent(format!(
                    "a {} delivery needs its password handed to the sender, and {sender} is \
                     not in the organisation's internal_domains: refused, the password is \
                     never sent outside",
                    fallback::container_name(container)
                )));
            }
            // The containers are built in memory: their size is what bounds
            // the memory a fallback takes.
            if edited.len() > MAX_PASSWORD_CONTAINER {
                return Err(Failure::Permanent(format!(
                    "the message ({} bytes) is too large for a password-protected container \
                     (at most {MAX_PASSWORD_CONTAINER} bytes)",
                    edited.len()
                )));
            }
            let password = generate_password(self.password_length())
                .map_err(|e| Failure::Transient(e.to_string()))?;
            let original = edited.to_vec().map_err(spool_failure)?;
            edited = fallback::carrier(&original, &password, container)
                .map_err(permanent("the password-protected container cannot be made"))?
                .into();
            notification = self
                .password_channel()
                .hand_over(
                    &mail.envelope.sender,
                    &group.recipients,
                    mail.subject.as_deref(),
                    &password,
                )
                .map_err(|e| {
                    Failure::Transient(format!("the password cannot be handed over: {e}"))
                })?;
            steps.push(Step {
                action: StepAction::Fallback,
                method: Some(fallback::container_name(container).into()),
                recipients: group.recipients.clone(),
                keys: Vec::new(),
                result: "AES-256 container; password handed to the channel".into(),
            });
        }
        self.sign_and_encrypt(mail, group, facts, edited, steps)
            .map(|message| (message, notification))
    }

    fn sign_and_encrypt(
        &self,
        mail: &Mail<'_>,
        group: &RecipientGroup,
        facts: &MailFacts<'_>,
        edited: SpooledMessage,
        steps: &mut Vec<Step>,
    ) -> Result<SpooledMessage, Failure> {
        let outcome = &group.outcome;
        let sign = match (outcome.has(Action::Sign), outcome.signing_method) {
            (false, _) => None,
            (true, Some(method)) => Some(method),
            (true, None) => {
                return Err(Failure::Permanent(format!(
                    "the policy demands a signature, and {} has no signing key",
                    mail.envelope.sender
                )));
            }
        };
        let encrypt = match (outcome.has(Action::Encrypt), outcome.encryption_method) {
            (false, _) => None,
            (true, Some(method)) => Some(method),
            (true, None) => {
                return Err(Failure::Permanent(
                    "the policy demands encryption without naming a method".into(),
                ));
            }
        };
        // OpenPGP signs inside the encrypted message (RFC 3156 section 6.2);
        // every other combination signs the entity, then encrypts it.
        if let (Some(Method::Pgp), Some(Method::Pgp)) = (sign, encrypt) {
            let signer = self.pgp_signer(mail, steps)?;
            return self.pgp_encrypt(mail, group, facts, &edited, Some(signer), steps);
        }
        let signed = match sign {
            Some(Method::Smime) => self.smime_sign(mail, &edited, steps)?,
            Some(Method::Pgp) => {
                let signer = self.pgp_signer(mail, steps)?;
                let failure = |e| Failure::Permanent(format!("OpenPGP signing failed: {e}"));
                edited
                    .pipe(
                        |m| signer.sign_message(m).map_err(failure),
                        |r, w| signer.sign_message_seekable(r, w).map_err(failure),
                    )
                    .map_err(piped)?
            }
            None => edited,
        };
        match encrypt {
            Some(Method::Smime) => self.smime_encrypt(mail, group, facts, &signed, steps),
            Some(Method::Pgp) => self.pgp_encrypt(mail, group, facts, &signed, None, steps),
            None => Ok(signed),
        }
    }

    fn smime_sign(
        &self,
        mail: &Mail<'_>,
        message: &SpooledMessage,
        steps: &mut Vec<Step>,
    ) -> Result<SpooledMessage, Failure> {
        let sender = &mail.envelope.sender;
        let identity = self
            .organisation_key(sender)
            .and_then(|k| k.smime.as_ref())
            .ok_or_else(|| Failure::Permanent(format!("{sender} has no S/MIME signing key")))?;
        let failure = |error: smime_core::Error| match error {
            // A token that is away may be back: the mail waits.
            smime_core::Error::KeyUnavailable(_) => {
                Failure::Transient(format!("the S/MIME signing key is unavailable: {error}"))
            }
            error => Failure::Permanent(format!("S/MIME signing failed: {error}")),
        };
        let signer = identity.signer().map_err(failure)?;
        let signed = message
            .pipe(
                |m| {
                    signer
                        .sign_message(m, SignatureForm::Detached)
                        .map_err(failure)
                },
                |r, w| {
                    signer
                        .sign_message_seekable(r, w, SignatureForm::Detached)
                        .map_err(failure)
                },
            )
            .map_err(piped)?;
        steps.push(Step {
            action: StepAction::Sign,
            method: Some("smime".into()),
            recipients: Vec::new(),
            keys: vec![hex(&identity.certificate.fingerprint_sha256())],
            result: "signed".into(),
        });
        Ok(signed)
    }

    fn pgp_signer(
        &self,
        mail: &Mail<'_>,
        steps: &mut Vec<Step>,
    ) -> Result<pgp_core::Signer, Failure> {
        let sender = &mail.envelope.sender;
        let signer = self
            .organisation_key(sender)
            .and_then(|k| k.pgp_signer())
            .ok_or_else(|| Failure::Permanent(format!("{sender} has no OpenPGP signing key")))?
            .map_err(permanent("the OpenPGP signing key cannot be used"))?;
        steps.push(Step {
            action: StepAction::Sign,
            method: Some("pgp".into()),
            recipients: Vec::new(),
            keys: vec![
                signer
                    .certificate()
                    .fingerprint()
                    .to_hex()
                    .to_ascii_lowercase(),
            ],
            result: "signed".into(),
        });
        Ok(signer)
    }

    fn smime_encrypt(
        &self,
        mail: &Mail<'_>,
        group: &RecipientGroup,
        facts: &MailFacts<'_>,
        message: &SpooledMessage,
        steps: &mut Vec<Step>,
    ) -> Result<SpooledMessage, Failure> {
        let mut certificates = Vec::new();
        for recipient in &group.recipients {
            let found = facts.smime_for(recipient)?;
            let certificate = found.into_iter().next().ok_or_else(|| {
                Failure::Permanent(format!("no usable S/MIME certificate for {recipient}"))
            })?;
            certificates.push(certificate);
        }
        // The organisation keeps being able to read what it sent.
        if let Some(own) = self
            .organisation_key(&mail.envelope.sender)
            .and_then(|k| k.smime.as_ref())
        {
            certificates.push(own.certificate.clone());
        }
        let keys = certificates
            .iter()
            .map(|c| hex(&c.fingerprint_sha256()))
            .collect();
        let failure = |e| Failure::Permanent(format!("S/MIME encryption failed: {e}"));
        let encryptor = smime_core::Encryptor::new(certificates).map_err(failure)?;
        let encrypted = message
            .pipe(
                |m| encryptor.encrypt_message(m).map_err(failure),
                |r, w| encryptor.encrypt_message_seekable(r, w).map_err(failure),
            )
            .map_err(piped)?;
        steps.push(Step {
            action: StepAction::Encrypt,
            method: Some("smime".into()),
            recipients: group.recipients.clone(),
            keys,
            result: "encrypted".into(),
        });
        Ok(encrypted)
    }

    fn pgp_encrypt(
        &self,
        mail: &Mail<'_>,
        group: &RecipientGroup,
        facts: &MailFacts<'_>,
        message: &SpooledMessage,
        signer: Option<pgp_core::Signer>,
        steps: &mut Vec<Step>,
    ) -> Result<SpooledMessage, Failure> {
        let mut certs = Vec::new();
        for recipient in &group.recipients {
            let found = facts.pgp_for(recipient)?;
            let cert = found.into_iter().next().ok_or_else(|| {
                Failure::Permanent(format!("no usable OpenPGP key for {recipient}"))
            })?;
            certs.push(cert);
        }
        if let Some(own) = self
            .organisation_key(&mail.envelope.sender)
            .and_then(|k| k.pgp.as_ref())
        {
            certs.push(own.clone().strip_secret_key_material());
        }
        let keys = certs
            .iter()
            .map(|c| c.fingerprint().to_hex().to_ascii_lowercase())
            .collect();
        let mut encryptor = pgp_core::Encryptor::new(certs).at(mail.now);
        if let Some(signer) = signer {
            encryptor = encryptor.with_signer(signer);
        }
        let failure = |e| Failure::Permanent(format!("OpenPGP encryption failed: {e}"));
        let encrypted = message
            .pipe(
                |m| encryptor.encrypt_message(m).map_err(failure),
                |r, w| encryptor.encrypt_message_stream(r, w).map_err(failure),
            )
            .map_err(piped)?;
        steps.push(Step {
            action: StepAction::Encrypt,
            method: Some("pgp".into()),
            recipients: group.recipients.clone(),
            keys,
            result: "encrypted".into(),
        });
        Ok(encrypted)
    }
}

/// A spool file that cannot be written or read: the disk may have room
/// later.
fn spool_failure(error: io::Error) -> Failure {
    Failure::Transient(format!("the message spool failed: {error}"))
}

/// A failed step, or a spool file that failed under it.
fn piped(error: PipeError<Failure>) -> Failure {
    match error {
        PipeError::Step(failure) => failure,
        PipeError::Spool(error) => spool_failure(error),
    }
}
