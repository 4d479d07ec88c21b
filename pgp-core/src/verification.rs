//! Verifying PGP/MIME signed messages
//! ([RFC 3156 section 5](https://www.rfc-editor.org/rfc/rfc3156#section-5))
//! and inline cleartext signatures, against certificates the caller trusts.
//!
//! A message counts as signed by its author only when every check holds:
//! the signature covers the whole message body (not one part of it, and no
//! text around an inline block), every signature verifies under Sequoia's
//! standard policy at the verification time (no weak hash or key, the key
//! neither revoked nor expired), and a signer's certificate has a valid user
//! ID whose address is the single `From` address (display names never
//! count). [`Verification::verdict`] folds the report into one answer; the
//! report keeps every detail.

use std::io::Read;
use std::time::SystemTime;

pub use mail_message::{Coverage, DEFAULT_DATE_TOLERANCE, Finding, Verdict};
use mail_message::{EmailAddress, Entity, Envelope, HeaderIdentity};
use sequoia_openpgp::Cert;
use sequoia_openpgp::KeyHandle;
use sequoia_openpgp::parse::Parse;
use sequoia_openpgp::parse::stream::{
    DetachedVerifierBuilder, GoodChecksum, MessageLayer, MessageStructure, VerificationError,
    VerificationHelper, VerifierBuilder,
};
use sequoia_openpgp::policy::StandardPolicy;
use sequoia_openpgp::types::{AEADAlgorithm, HashAlgorithm, SymmetricAlgorithm};

use crate::error::Error;
use crate::guard;
use crate::keys;
use crate::pgp_mime::{self, Found};

/// Checks OpenPGP signatures against certificates chosen by the caller.
///
/// ```
/// # let key = testkit::openpgp_key("Alice <alice@example.org>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
/// # let signed = pgp_core::Signer::new(key.cert(), None)?.sign_message(b"From: alice@example.org\r\n\r\nHi\r\n")?;
/// use pgp_core::{Coverage, Verdict, Verifier, parse_certificates};
///
/// let verifier = Verifier::new(parse_certificates(&key.public_armored())?);
/// let report = verifier.verify_message(&signed)?;
/// assert_eq!(report.verdict(), Verdict::SignedByFrom);
/// assert_eq!(report.coverage(), &Coverage::Whole);
/// assert_eq!(report.signers()[0].user_id.as_deref(), Some("Alice <alice@example.org>"));
/// # Ok::<(), pgp_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Verifier {
    certs: Vec<Cert>,
    time: Option<SystemTime>,
    policy: StandardPolicy<'static>,
}

impl Verifier {
    /// A verifier that knows `certs` (the signers it may recognise) and
    /// judges signatures now.
    pub fn new(certs: impl IntoIterator<Item = Cert>) -> Verifier {
        Verifier {
            certs: certs.into_iter().collect(),
            time: None,
            policy: StandardPolicy::new(),
        }
    }

    /// Judges algorithms with `policy` instead of Sequoia's default
    /// standard policy (for example to reject an algorithm from a date on,
    /// without a new release).
    pub fn with_policy(mut self, policy: StandardPolicy<'static>) -> Verifier {
        self.policy = policy;
        self
    }

    /// The policy algorithms are judged by.
    pub fn policy(&self) -> &StandardPolicy<'static> {
        &self.policy
    }

    /// Judges signatures as of `time` (for archived mail): keys must be
    /// valid then, and signatures made after it do not count.
    pub fn at(mut self, time: SystemTime) -> Verifier {
        self.time = Some(time);
        self
    }

    /// The certificates the verifier knows.
    pub fn certificates(&self) -> &[Cert] {
        &self.certs
    }

    /// The verification time, `None` for now.
    pub fn time(&self) -> Option<SystemTime> {
        self.time
    }

    /// Verifies a message: PGP/MIME `multipart/signed` anywhere in its MIME
    /// tree, or an inline cleartext signature in a `text/plain` part, and
    /// reports what is covered and who signed.
    ///
    /// Errors are for input that cannot be judged (broken MIME); a
    /// well-formed message with a bad or malformed signature is a report
    /// whose verdict says so.
    pub fn verify_message(&self, message: &[u8]) -> Result<Verification, Error> {
        let entity = Entity::parse(message)?;
        let Some((path, found)) = pgp_mime::find(&entity, 0, "", false)? else {
            return Ok(Verification::unsigned(&entity));
        };
        let mut protected = None;
        let (signers, coverage, unwrapped) = match found {
            Found::Signed {
                content,
                signature,
                extra_parts,
            } => {
                let signers =
                    self.verify_detached(&mail_message::canonicalize(content), &signature);
                let coverage = if !path.is_empty() {
                    Coverage::Partial {
                        part: path,
                        reason: "the signed part is inside an unsigned MIME structure".to_owned(),
                    }
                } else if extra_parts > 0 {
                    Coverage::Partial {
                        part: "1".to_owned(),
                        reason: "multipart/signed with more than the content and the signature"
                            .to_owned(),
                    }
                } else {
                    Coverage::Whole
                };
                let unwrapped = match coverage {
                    Coverage::Whole => Some(Envelope::split(message)?.rebuild(content)),
                    _ => None,
                };
                protected = HeaderIdentity::protected_in(content);
                (signers, coverage, unwrapped)
            }
            Found::Inline { text, block } => {
                let (signers, cleartext) = self.verify_inline(block.bytes(&text));
                let coverage = if !path.is_empty() {
                    Coverage::Partial {
                        part: path,
                        reason: "the signed text is inside an unsigned MIME structure".to_owned(),
                    }
                } else if block.has_text_outside(&text) {
                    Coverage::Partial {
                        part: "1".to_owned(),
                        reason: "text outside the cleartext-signed block".to_owned(),
                    }
                } else {
                    Coverage::Whole
                };
                let unwrapped = match (&coverage, cleartext) {
                    (Coverage::Whole, Some(cleartext)) => {
                        let mut entity = b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".to_vec();
                        entity.extend_from_slice(&mail_message::canonicalize(&cleartext));
                        Some(Envelope::split(message)?.rebuild(&entity))
                    }
                    _ => None,
                };
                (signers, coverage, unwrapped)
            }
            Found::Encrypted { .. } => (Vec::new(), Coverage::Unsigned, None),
        };
        let mut verification = Verification::new(coverage, signers, &entity, unwrapped, self);
        verification.protected = protected;
        Ok(verification)
    }

    /// Verifies a detached signature (armored or binary) over `data`. A
    /// signature that cannot even be parsed is reported as
    /// [`SignatureStatus::Malformed`].
    pub fn verify_detached(&self, data: &[u8], signature: &[u8]) -> Vec<Signature> {
        let mut recorder = Recorder::new(&self.certs);
        let outcome = guard::sequoia(|| {
            DetachedVerifierBuilder::from_bytes(signature)
                .and_then(|b| b.with_policy(&self.policy, self.time, &mut recorder))
                .and_then(|mut v| v.verify_bytes(data))
                .map_err(|error| format!("{error:#}"))
        })
        .and_then(|result| result);
        if let Err(error) = outcome
            && recorder.results.is_empty()
        {
            return vec![Signature::malformed(error)];
        }
        recorder.results
    }

    /// Like [`Verifier::verify_detached`], reading the signed data from
    /// `data` (for data too large to hold).
    pub fn verify_detached_reader(
        &self,
        data: impl Read + Send + Sync,
        signature: &[u8],
    ) -> Vec<Signature> {
        let mut recorder = Recorder::new(&self.certs);
        let outcome = guard::sequoia(|| {
            DetachedVerifierBuilder::from_bytes(signature)
                .and_then(|b| b.with_policy(&self.policy, self.time, &mut recorder))
                .and_then(|mut v| v.verify_reader(data))
                .map_err(|error| format!("{error:#}"))
        })
        .and_then(|result| result);
        if let Err(error) = outcome
            && recorder.results.is_empty()
        {
            return vec![Signature::malformed(error)];
        }
        recorder.results
    }

    /// Verifies an inline signed block (cleartext signature or a signed
    /// OpenPGP message) and returns the signatures and the signed text.
    pub fn verify_inline(&self, block: &[u8]) -> (Vec<Signature>, Option<Vec<u8>>) {
        let mut recorder = Recorder::new(&self.certs);
        let mut content = Vec::new();
        let outcome = guard::sequoia(|| {
            VerifierBuilder::from_bytes(block)
                // Sequoia reads ahead (decompressing) 25 MiB by default
                // before the limit below could count a byte.
                .map(|b| b.buffer_size(pgp_mime::STREAM_BUFFER))
                .and_then(|b| b.with_policy(&self.policy, self.time, &mut recorder))
                // A cleartext signature's text is never longer than the
                // block; the limit keeps anything else (compressed data)
                // from growing.
                .and_then(|v| {
                    Ok(v.take(block.len() as u64 + 1024)
                        .read_to_end(&mut content)?)
                })
                .map_err(|error| format!("{error:#}"))
        })
        .and_then(|result| result);
        match outcome {
            Ok(_) => (recorder.results, Some(content)),
            Err(error) if recorder.results.is_empty() => (vec![Signature::malformed(error)], None),
            Err(_) => (recorder.results, None),
        }
    }
}

/// The longest header section [`Verification::judged_against`] reads.
const MAX_JUDGED_HEADER: usize = 1024 * 1024;

/// The addresses of a single address field; empty when the field is absent,
/// repeated, or malformed.
pub(crate) fn addresses(entity: &Entity<'_>, name: &str) -> Vec<EmailAddress> {
    if entity.count(name) != 1 {
        return Vec::new();
    }
    entity
        .field(name)
        .and_then(|f| EmailAddress::parse_mailboxes(&f.value()).ok())
        .unwrap_or_default()
}

/// Collects one [`Signature`] per OpenPGP signature instead of failing.
pub(crate) struct Recorder<'c> {
    certs: &'c [Cert],
    pub(crate) results: Vec<Signature>,
    /// The encryption layer, when the message was encrypted.
    pub(crate) encryption: Option<(SymmetricAlgorithm, Option<AEADAlgorithm>)>,
}

impl<'c> Recorder<'c> {
    pub(crate) fn new(certs: &'c [Cert]) -> Recorder<'c> {
        Recorder {
            certs,
            results: Vec::new(),
            encryption: None,
        }
    }
}

impl VerificationHelper for &mut Recorder<'_> {
    fn get_certs(&mut self, _ids: &[KeyHandle]) -> sequoia_openpgp::Result<Vec<Cert>> {
        Ok(self.certs.to_vec())
    }

    fn check(&mut self, structure: MessageStructure<'_>) -> sequoia_openpgp::Result<()> {
        for layer in structure {
            match layer {
                MessageLayer::SignatureGroup { results } => {
                    for result in results {
                        self.results.push(Signature::from_result(result));
                    }
                }
                MessageLayer::Encryption {
                    sym_algo,
                    aead_algo,
                } => self.encryption = Some((sym_algo, aead_algo)),
                _ => {}
            }
        }
        Ok(())
    }
}

/// The result of one OpenPGP signature.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Signature {
    /// The issuer named in the signature (fingerprint or key ID, hex).
    pub issuer: Option<String>,
    /// The signer's certificate, if one of the given certificates holds
    /// the signing key.
    pub certificate: Option<Cert>,
    /// The signer's valid user ID whose address is the message's `From`
    /// address, or else its primary user ID.
    pub user_id: Option<String>,
    /// Whether [`Signature::user_id`] carries the `From` address.
    pub binds_from: bool,
    /// The hash algorithm.
    pub hash: Option<HashAlgorithm>,
    /// The signature's creation time (the signer's claim).
    pub created: Option<SystemTime>,
    /// Whether the signature holds, and if not, why.
    pub status: SignatureStatus,
}

/// Why a signature does or does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureStatus {
    /// The signature verifies with a valid key under the policy.
    #[error("valid")]
    Valid,
    /// None of the given certificates holds the signing key.
    #[error("the signer's certificate is not among the given certificates")]
    CertificateNotFound,
    /// The signature value does not verify: the content was changed after
    /// signing, or the signature is forged.
    #[error("bad signature: {0}")]
    BadSignature(String),
    /// A weak algorithm (for example SHA-1 or MD5) refused by the policy.
    #[error("refused by policy: {0}")]
    WeakAlgorithm(String),
    /// The key or its certificate is revoked.
    #[error("the key is revoked: {0}")]
    KeyRevoked(String),
    /// The key or its certificate was expired (or not yet valid) when the
    /// signature was made.
    #[error("the key is expired or not yet valid: {0}")]
    KeyExpired(String),
    /// The key is not usable for signatures (not bound, not signing-capable,
    /// weak key).
    #[error("the key is not usable: {0}")]
    KeyNotUsable(String),
    /// The signature was made after the verification time, or has expired.
    #[error("the signature is not valid at the verification time: {0}")]
    NotValidAt(String),
    /// The signature cannot be parsed or lacks required parts.
    #[error("malformed signature: {0}")]
    Malformed(String),
}

impl Signature {
    fn malformed(reason: String) -> Signature {
        Signature {
            issuer: None,
            certificate: None,
            user_id: None,
            binds_from: false,
            hash: None,
            created: None,
            status: SignatureStatus::Malformed(reason),
        }
    }

    fn from_result(result: Result<GoodChecksum<'_>, VerificationError<'_>>) -> Signature {
        use sequoia_openpgp::Error as E;
        let (sig, certificate, status) = match result {
            Ok(GoodChecksum { sig, ka }) => {
                (Some(sig), Some(ka.cert().clone()), SignatureStatus::Valid)
            }
            Err(VerificationError::MissingKey { sig }) => {
                (Some(sig), None, SignatureStatus::CertificateNotFound)
            }
            Err(VerificationError::UnboundKey { sig, cert, error }) => {
                let reason = format!("{error:#}");
                let status = match error.downcast_ref::<E>() {
                    Some(E::PolicyViolation(..)) => SignatureStatus::WeakAlgorithm(reason),
                    _ => SignatureStatus::KeyNotUsable(reason),
                };
                (Some(sig), Some(cert.clone()), status)
            }
            Err(VerificationError::BadKey { sig, ka, error }) => {
                let reason = format!("{error:#}");
                let status = match error.downcast_ref::<E>() {
                    Some(E::Expired(_) | E::NotYetLive(_)) => SignatureStatus::KeyExpired(reason),
                    _ if reason.contains("revoked") => SignatureStatus::KeyRevoked(reason),
                    Some(E::PolicyViolation(..)) => SignatureStatus::WeakAlgorithm(reason),
                    _ => SignatureStatus::KeyNotUsable(reason),
                };
                (Some(sig), Some(ka.cert().clone()), status)
            }
            Err(VerificationError::BadSignature { sig, ka, error }) => {
                let reason = format!("{error:#}");
                let status = match error.downcast_ref::<E>() {
                    Some(E::PolicyViolation(..)) => SignatureStatus::WeakAlgorithm(reason),
                    Some(E::Expired(_) | E::NotYetLive(_)) => SignatureStatus::NotValidAt(reason),
                    _ => SignatureStatus::BadSignature(reason),
                };
                (Some(sig), Some(ka.cert().clone()), status)
            }
            Err(VerificationError::MalformedSignature { sig, error }) => (
                Some(sig),
                None,
                SignatureStatus::Malformed(format!("{error:#}")),
            ),
            Err(error) => (None, None, SignatureStatus::Malformed(error.to_string())),
        };
        Signature {
            issuer: sig.and_then(|s| s.get_issuers().first().map(|h| h.to_hex())),
            certificate,
            user_id: None,
            binds_from: false,
            hash: sig.map(|s| s.hash_algo()),
            created: sig.and_then(|s| s.signature_creation_time()),
            status,
        }
    }

    /// Fills in the user ID: the one carrying `from` if there is one.
    fn bind(
        &mut self,
        from: &[EmailAddress],
        policy: &StandardPolicy<'_>,
        time: Option<SystemTime>,
    ) {
        let Some(cert) = &self.certificate else {
            return;
        };
        let bound = keys::bound_addresses(cert, policy, time);
        if let [from] = from
            && let Some((_, user_id)) = bound.iter().find(|(address, _)| address == from)
        {
            self.user_id = Some(user_id.clone());
            self.binds_from = true;
            return;
        }
        self.user_id = keys::primary_user_id(cert, policy, time);
    }
}

/// The report on a message: coverage, signatures, the `From` address.
#[derive(Debug, Clone)]
pub struct Verification {
    coverage: Coverage,
    signers: Vec<Signature>,
    from: Vec<EmailAddress>,
    identity: HeaderIdentity,
    /// The addresses of the valid user IDs of every valid signer.
    signer_addresses: Vec<EmailAddress>,
    /// The signed entity's RFC 9788 protected header, if it has one.
    protected: Option<HeaderIdentity>,
    unwrapped: Option<Vec<u8>>,
}

impl Verification {
    /// The report on `signers` over a message whose header is `message`.
    pub(crate) fn new(
        coverage: Coverage,
        signers: Vec<Signature>,
        message: &Entity<'_>,
        unwrapped: Option<Vec<u8>>,
        verifier: &Verifier,
    ) -> Verification {
        let mut verification = Verification {
            coverage,
            signers,
            from: Vec::new(),
            identity: HeaderIdentity::default(),
            signer_addresses: Vec::new(),
            protected: None,
            unwrapped,
        };
        verification.judge_header(message, verifier);
        // Content whose signature does not hold is never handed out as
        // signed content.
        if !verification.releases_content() {
            verification.unwrapped = None;
        }
        verification
    }

    /// Whether the whole message is covered and every signature holds (the
    /// signer may still be someone other than the From address): only then
    /// is the unwrapped content released.
    pub(crate) fn releases_content(&self) -> bool {
        self.verdict().releases_content()
    }

    pub(crate) fn unsigned(message: &Entity<'_>) -> Verification {
        Verification {
            coverage: Coverage::Unsigned,
            signers: Vec::new(),
            from: addresses(message, "from"),
            identity: HeaderIdentity::of(message),
            signer_addresses: Vec::new(),
            protected: None,
            unwrapped: None,
        }
    }

    /// Binds the signers to the `From` of `message` and reads its identity
    /// fields.
    fn judge_header(&mut self, message: &Entity<'_>, verifier: &Verifier) {
        self.from = addresses(message, "from");
        self.identity = HeaderIdentity::of(message);
        self.signer_addresses.clear();
        for signer in &mut self.signers {
            signer.bind(&self.from, &verifier.policy, verifier.time);
            if signer.status == SignatureStatus::Valid
                && let Some(cert) = &signer.certificate
            {
                self.signer_addresses.extend(
                    keys::bound_addresses(cert, &verifier.policy, verifier.time)
                        .into_iter()
                        .map(|(address, _)| address),
                );
            }
        }
    }

    /// The same signatures judged against the header of `message` instead
    /// of the one they were verified with: for a gateway that delivers a
    /// decrypted message whose header it rebuilt (protected header fields,
    /// RFC 9788), so that the From it judges is the From the reader sees.
    /// Coverage and signature results stay as they are.
    pub fn judged_against(mut self, message: &[u8], verifier: &Verifier) -> Result<Self, Error> {
        let header =
            mail_message::stream::read_header_section(&mut &message[..], MAX_JUDGED_HEADER)?;
        let entity = Entity::parse(&header)?;
        self.judge_header(&entity, verifier);
        Ok(self)
    }

    /// What the header fields say beside the signature, with the `Date`
    /// field allowed [`DEFAULT_DATE_TOLERANCE`] (one hour) from the
    /// signature creation time: see [`Verification::findings_with`].
    pub fn findings(&self) -> Vec<Finding> {
        self.findings_with(DEFAULT_DATE_TOLERANCE)
    }

    /// What the header fields say beside the signature, judged against
    /// the valid signers of a wholly signed message: a `From` display name
    /// showing an address no valid user ID of theirs carries, a `Sender`
    /// other than the From mailbox, a `Reply-To` outside the signer's
    /// domain, a `Date` more than `date_tolerance` from a signature's
    /// creation time. Empty for a message that is not signed as a whole by
    /// signatures that all hold (its verdict says so already).
    ///
    /// A finding with [`Finding::is_identity_mismatch`] means the reader
    /// is shown someone other than the signer: treat it like a signature by
    /// someone else. The others are warnings.
    pub fn findings_with(&self, date_tolerance: std::time::Duration) -> Vec<Finding> {
        if !self.releases_content() {
            return Vec::new();
        }
        let times: Vec<SystemTime> = self.signers.iter().filter_map(|s| s.created).collect();
        self.identity.findings_with_protected(
            self.protected.as_ref(),
            &self.signer_addresses,
            &times,
            date_tolerance,
        )
    }

    /// The report with the protected header read from the signed entity
    /// that `spool` holds (the streaming path); the file is read from its
    /// start and left at an unspecified position.
    pub(crate) fn with_protected_from(mut self, spool: &std::fs::File) -> Verification {
        self.protected = HeaderIdentity::protected_in_file(spool, MAX_JUDGED_HEADER);
        self
    }

    /// What the signature covers.
    pub fn coverage(&self) -> &Coverage {
        &self.coverage
    }

    /// Each signature's result.
    pub fn signers(&self) -> &[Signature] {
        &self.signers
    }

    /// The From address (empty if absent, repeated or not exactly one).
    pub fn from(&self) -> &[EmailAddress] {
        &self.from
    }

    /// Whether a valid signature's certificate binds the single From
    /// address in a valid user ID.
    pub fn signed_by_from(&self) -> bool {
        self.from.len() == 1
            && self
                .signers
                .iter()
                .any(|s| s.status == SignatureStatus::Valid && s.binds_from)
    }

    /// The folded answer ([`Verdict::fold`], the one fold S/MIME shares).
    pub fn verdict(&self) -> Verdict {
        let valid = self
            .signers
            .iter()
            .map(|s| s.status == SignatureStatus::Valid);
        Verdict::fold(&self.coverage, valid, self.signed_by_from())
    }

    /// The message with the OpenPGP layer removed (outer header fields and
    /// the signed entity), when the whole message is covered and every
    /// signature holds (verdict [`Verdict::SignedByFrom`] or
    /// [`Verdict::SignedByOther`]); `None` for a tampered or badly signed
    /// message, whose content must not pass for signed.
    pub fn unwrapped_message(&self) -> Option<&[u8]> {
        self.unwrapped.as_deref()
    }
}
