//! Signing messages in memory that does not grow with the message.
//!
//! The inner entity is spooled to a temporary file in the form it is signed
//! in ([`mail_message::SpooledEntity::signable`]: canonical, 7-bit safe,
//! `binary` parts base64-encoded byte for byte) and hashed on the way (a
//! large entity on a second core), while the boundary is looked for in the
//! same pass; an entity re-encoded after spooling is read once more for
//! both. The signature covers only the signed attributes, which hold that
//! digest. Then the message is written: for the detached form the outer
//! header fields, the `multipart/signed` head, the spooled entity and the
//! signature part; for the opaque form a BER SignedData with indefinite
//! lengths whose content is the spool in 64 KiB OCTET STRING segments (as
//! OpenSSL `-stream` writes it). Nothing is written when signing fails.
//!
//! Seekable input that is already canonical and 7-bit safe needs no spool:
//! it is read once to be hashed and its body copied to the output after
//! ([`Signer::sign_message_seekable`]).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::time::SystemTime;

use const_oid::db::rfc5911::{ID_DATA, ID_SIGNED_DATA};
use der::{Any, Decode, Encode, Reader, SliceReader};
use mail_message::stream::{
    BackgroundWriter, Base64Writer, LineBreakWriter, Watch, read_header_section,
};
use mail_message::{Entity, LineBreak, SpooledEntity, signable_as_is};

use crate::encryption::BerSegments;
use crate::error::Error;
use crate::signing::{OPAQUE_HEAD, SignatureForm, Signer, detached_head, detached_tail};

/// Bytes per read and per BER content segment.
const SEGMENT: usize = 64 * 1024;
/// The longest header section we accept.
const MAX_HEADER: usize = 1024 * 1024;

impl Signer {
    /// Signs a message read from `input` and writes it to `output`, in
    /// memory that does not grow with the message: the same result as
    /// [`Signer::sign_message`] (up to the random boundary, the signing time
    /// and, for the opaque form, BER instead of DER framing), for messages
    /// of any size.
    ///
    /// A multipart with 8-bit or `binary` parts larger than
    /// [`mail_message::MAX_REENCODE_IN_MEMORY`] is refused with
    /// [`Error::ReencodeTooLarge`]. Nothing is written when signing fails.
    ///
    /// ```
    /// # let alice = testkit::pki().smime("alice@example.org", testkit::KeyKind::P256);
    /// # let roots = smime_core::Certificate::load(testkit::pki().root().certificate_pem().as_bytes())?;
    /// # let certificate = smime_core::Certificate::load(alice.certificate_pem().as_bytes())?.remove(0);
    /// # let key = smime_core::PrivateKey::load(alice.private_key_pem().as_bytes(), None)?;
    /// use smime_core::{SignatureForm, Signer, Verdict, Verifier};
    ///
    /// let message = b"From: alice@example.org\r\nSubject: Hi\r\n\r\nHello\r\n";
    /// let mut signed = Vec::new();
    /// # let chain = smime_core::Certificate::load(alice.chain_pem().as_bytes())?;
    /// Signer::new(certificate, &key)?
    ///     .with_chain(chain)
    ///     .sign_message_stream(&message[..], &mut signed, SignatureForm::Opaque)?;
    /// let report = Verifier::new(roots).verify_message(&signed)?;
    /// assert_eq!(report.verdict(), Verdict::SignedByFrom);
    /// # Ok::<(), smime_core::Error>(())
    /// ```
    pub fn sign_message_stream(
        &self,
        input: impl Read,
        mut output: impl Write,
        form: SignatureForm,
    ) -> Result<(), Error> {
        let mut reader = BufReader::with_capacity(SEGMENT, input);
        let header = read_header_section(&mut reader, MAX_HEADER).map_err(Error::Io)?;
        let message = Entity::parse(&header)?;
        // The entity is hashed while it is spooled (a large one on a second
        // core) and the boundary looked for in the same pass; only an
        // entity re-encoded after spooling is read again for both.
        let boundary = crate::signing::boundary_for(b"");
        let (spooled, hashed) = std::thread::scope(|scope| {
            let mut hasher = BackgroundWriter::new(
                scope,
                Watch::new(self.digest().hasher(), boundary.as_bytes()),
            );
            let spooled = SpooledEntity::signable_observed(&header, reader, &mut hasher);
            // The hasher's result matters only when the spool succeeded.
            (spooled, hasher.finish())
        });
        let (spooled, exact) = spooled?;
        let mut entity = spooled.into_file();
        let (digest, found) = if exact {
            let (hasher, found) = hashed.map_err(Error::Io)?.into_inner();
            (hasher.finish(), found)
        } else {
            digest_of(self, &mut entity, &boundary)?
        };
        let boundary = match form {
            SignatureForm::Detached if found => Some(fresh_boundary(|candidate| {
                entity.seek(SeekFrom::Start(0))?;
                passes(&mut entity, candidate)
            })?),
            SignatureForm::Detached => Some(boundary),
            SignatureForm::Opaque => None,
        };
        entity.seek(SeekFrom::Start(0)).map_err(Error::Io)?;
        let signed = SignedMessage {
            signer: self,
            message: &message,
            digest: &digest,
            boundary: boundary.as_deref(),
        };
        if message.line_break() == LineBreak::Crlf {
            signed.write(&mut output, b"", &mut entity)?;
        } else {
            let mut body = LineBreakWriter::new(&mut output, message.line_break());
            signed.write(
                &mut body,
                b"",
                &mut BufReader::with_capacity(SEGMENT, entity),
            )?;
            body.finish().map_err(Error::Io)?;
        }
        output.flush().map_err(Error::Io)
    }

    /// [`Signer::sign_message_stream`] for input that can be read twice (a
    /// file): a message that is already canonical (CRLF) and 7-bit safe,
    /// the usual case, is read once to be signed and its body then copied
    /// from the input to `output` (for the detached form by the kernel,
    /// when both are files or pipes) instead of through a temporary file.
    /// Other messages take the streaming path from where `input` stood. The
    /// input must not change while it is signed.
    ///
    /// ```
    /// # let alice = testkit::pki().smime("alice@example.org", testkit::KeyKind::P256);
    /// # let roots = smime_core::Certificate::load(testkit::pki().root().certificate_pem().as_bytes())?;
    /// # let certificate = smime_core::Certificate::load(alice.certificate_pem().as_bytes())?.remove(0);
    /// # let key = smime_core::PrivateKey::load(alice.private_key_pem().as_bytes(), None)?;
    /// use std::io::{Seek, Write};
    /// use smime_core::{SignatureForm, Signer, Verdict, Verifier};
    ///
    /// let mut file = tempfile::tempfile()?;
    /// file.write_all(b"From: alice@example.org\r\nSubject: Hi\r\n\r\nHello\r\n")?;
    /// file.rewind()?;
    /// let mut signed = Vec::new();
    /// # let chain = smime_core::Certificate::load(alice.chain_pem().as_bytes())?;
    /// Signer::new(certificate, &key)?
    ///     .with_chain(chain)
    ///     .sign_message_seekable(&mut file, &mut signed, SignatureForm::Detached)?;
    /// let report = Verifier::new(roots).verify_message(&signed)?;
    /// assert_eq!(report.verdict(), Verdict::SignedByFrom);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sign_message_seekable<R: Read + Seek>(
        &self,
        mut input: R,
        mut output: impl Write,
        form: SignatureForm,
    ) -> Result<(), Error> {
        let start = input.stream_position().map_err(Error::Io)?;
        let mut reader = BufReader::with_capacity(SEGMENT, &mut input);
        let header = read_header_section(&mut reader, MAX_HEADER).map_err(Error::Io)?;
        let message = Entity::parse(&header)?;
        if message.line_break() == LineBreak::Crlf {
            let boundary = crate::signing::boundary_for(b"");
            let (as_is, hashed) = std::thread::scope(|scope| {
                let mut hasher = BackgroundWriter::new(
                    scope,
                    Watch::new(self.digest().hasher(), boundary.as_bytes()),
                );
                let as_is = signable_as_is(&header, reader, &mut hasher);
                (as_is, hasher.finish())
            });
            if let Some(as_is) = as_is? {
                let (hasher, found) = hashed.map_err(Error::Io)?.into_inner();
                let digest = hasher.finish();
                let body_start = start + header.len() as u64;
                let boundary = match form {
                    SignatureForm::Detached if found => Some(fresh_boundary(|candidate| {
                        input.seek(SeekFrom::Start(body_start))?;
                        let body = (&mut input).take(as_is.body_len);
                        passes(&mut as_is.header.as_slice().chain(body), candidate)
                    })?),
                    SignatureForm::Detached => Some(boundary),
                    SignatureForm::Opaque => None,
                };
                input.seek(SeekFrom::Start(body_start)).map_err(Error::Io)?;
                let signed = SignedMessage {
                    signer: self,
                    message: &message,
                    digest: &digest,
                    boundary: boundary.as_deref(),
                };
                let mut body = (&mut input).take(as_is.body_len);
                let copied = signed.write(&mut output, &as_is.header, &mut body)?;
                if copied != as_is.body_len {
                    return Err(Error::Io(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the message changed while it was signed",
                    )));
                }
                return output.flush().map_err(Error::Io);
            }
        } else {
            drop(reader);
        }
        input.seek(SeekFrom::Start(start)).map_err(Error::Io)?;
        self.sign_message_stream(input, output, form)
    }
}

/// A signed message around its entity: detached (with a boundary) or
/// opaque.
struct SignedMessage<'a> {
    signer: &'a Signer,
    message: &'a Entity<'a>,
    digest: &'a [u8],
    boundary: Option<&'a str>,
}

impl SignedMessage<'_> {
    /// Writes the outer header fields and the signed entity made of
    /// `entity_head` and what `entity` reads; returns the bytes read from
    /// `entity`.
    fn write(
        &self,
        output: &mut impl Write,
        entity_head: &[u8],
        entity: &mut impl Read,
    ) -> Result<u64, Error> {
        let time = SystemTime::now();
        output
            .write_all(&self.message.outer_header())
            .map_err(Error::Io)?;
        match self.boundary {
            Some(boundary) => {
                let cms = self.signer.signed_data_der(self.digest, None, time, true)?;
                let signature = mail_message::encode_base64(&cms, LineBreak::Crlf);
                write_detached(
                    output,
                    boundary,
                    self.signer,
                    entity_head,
                    entity,
                    &signature,
                )
            }
            None => {
                let der = self
                    .signer
                    .signed_data_der(self.digest, None, time, false)?;
                let copied = write_opaque(output, &der, &mut entity_head.chain(entity))?;
                Ok(copied.saturating_sub(entity_head.len() as u64))
            }
        }
    }
}

/// The digest of what `file` holds, and whether `needle` occurs in it.
fn digest_of(signer: &Signer, file: &mut File, needle: &str) -> Result<(Vec<u8>, bool), Error> {
    file.seek(SeekFrom::Start(0)).map_err(Error::Io)?;
    let mut hasher = Watch::new(signer.digest().hasher(), needle.as_bytes());
    std::io::copy(&mut BufReader::with_capacity(SEGMENT, file), &mut hasher).map_err(Error::Io)?;
    let (hasher, found) = hasher.into_inner();
    Ok((hasher.finish(), found))
}

/// Whether `needle` occurs in what `data` reads.
fn passes(data: &mut impl Read, needle: &str) -> std::io::Result<bool> {
    let mut watch = Watch::new(std::io::sink(), needle.as_bytes());
    std::io::copy(data, &mut watch)?;
    Ok(watch.found())
}

/// A boundary that `occurs` says is not in the entity: 96 random bits met
/// in the content are as unlikely as it gets, but a boundary must not
/// occur in the part (RFC 2046 section 5.1.1).
fn fresh_boundary(mut occurs: impl FnMut(&str) -> std::io::Result<bool>) -> Result<String, Error> {
    loop {
        let candidate = crate::signing::boundary_for(b"");
        if !occurs(&candidate).map_err(Error::Io)? {
            return Ok(candidate);
        }
    }
}

/// The `multipart/signed` entity: head, the spooled entity, signature part.
/// `entity_head` is written first, then `entity` is copied with a plain
/// `io::copy`, which the kernel does (`copy_file_range`, `sendfile`) from a
/// file to a file or a pipe; returns the bytes copied.
fn write_detached(
    body: &mut impl Write,
    boundary: &str,
    signer: &Signer,
    entity_head: &[u8],
    entity: &mut impl Read,
    signature: &[u8],
) -> Result<u64, Error> {
    body.write_all(&detached_head(boundary, signer.digest()))
        .and_then(|()| body.write_all(entity_head))
        .and_then(|()| std::io::copy(entity, body))
        .and_then(|copied| {
            body.write_all(&detached_tail(boundary, signature))?;
            Ok(copied)
        })
        .map_err(Error::Io)
}

/// The opaque entity: its header, then `ContentInfo` with the SignedData
/// `signed_data_der` (detached, DER) re-framed as BER with the content of
/// `entity` encapsulated in OCTET STRING segments, in base64.
fn write_opaque(
    body: &mut impl Write,
    signed_data_der: &[u8],
    entity: &mut impl Read,
) -> Result<u64, Error> {
    body.write_all(OPAQUE_HEAD).map_err(Error::Io)?;
    // SignedData ::= SEQUENCE { version, digestAlgorithms,
    // encapContentInfo, [0] certificates, signerInfos }: the fields as
    // DER TLVs, the third replaced by an indefinite-length one that holds
    // the content.
    let outer = SliceReader::new(signed_data_der).map_err(Error::InvalidCms)?;
    let fields: Vec<Any> = {
        let mut outer = outer;
        let sequence: Any = Any::decode(&mut outer).map_err(Error::InvalidCms)?;
        let mut inner = SliceReader::new(sequence.value()).map_err(Error::InvalidCms)?;
        let mut fields = Vec::new();
        while !inner.is_finished() {
            fields.push(Any::decode(&mut inner).map_err(Error::InvalidCms)?);
        }
        fields
    };
    let [version, digest_algorithms, _detached, rest @ ..] = fields.as_slice() else {
        // We encoded it ourselves: not being able to read it back is ours.
        return Err(Error::SigningFailed);
    };
    let mut prefix = vec![0x30, 0x80];
    prefix.extend_from_slice(&ID_SIGNED_DATA.to_der().map_err(Error::InvalidCms)?);
    prefix.extend_from_slice(&[0xa0, 0x80, 0x30, 0x80]);
    for field in [version, digest_algorithms] {
        prefix.extend_from_slice(&field.to_der().map_err(Error::InvalidCms)?);
    }
    // encapContentInfo { eContentType id-data, [0] EXPLICIT OCTET STRING
    // (constructed, indefinite) }
    prefix.extend_from_slice(&[0x30, 0x80]);
    prefix.extend_from_slice(&ID_DATA.to_der().map_err(Error::InvalidCms)?);
    prefix.extend_from_slice(&[0xa0, 0x80, 0x24, 0x80]);
    let mut suffix = vec![0, 0, 0, 0, 0, 0]; // OCTET STRING, [0], encapContentInfo
    for field in rest {
        suffix.extend_from_slice(&field.to_der().map_err(Error::InvalidCms)?);
    }
    suffix.extend_from_slice(&[0, 0, 0, 0, 0, 0]); // SignedData, [0], ContentInfo

    let mut base64 = Base64Writer::new(body, LineBreak::Crlf);
    base64.write_all(&prefix).map_err(Error::Io)?;
    let mut segments = BerSegments { inner: base64 };
    let copied = std::io::copy(entity, &mut segments).map_err(Error::Io)?;
    let mut base64 = segments.inner;
    base64.write_all(&suffix).map_err(Error::Io)?;
    base64.finish().map_err(Error::Io)?;
    Ok(copied)
}
