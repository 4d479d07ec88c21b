//! Signing messages in memory that does not grow with the message.
//!
//! The inner entity is spooled to a temporary file in the form it is signed
//! in ([`mail_message::SpooledEntity::signable`]: canonical, 7-bit safe,
//! `binary` parts base64-encoded byte for byte). One pass over the spool
//! computes the digest (and checks that the boundary does not occur in
//! it); the signature covers only the signed attributes, which hold that
//! digest. Then the message is written: for the detached form the outer
//! header fields, the `multipart/signed` head, the spooled entity and the
//! signature part; for the opaque form a BER SignedData with indefinite
//! lengths whose content is the spool in 64 KiB OCTET STRING segments (as
//! OpenSSL `-stream` writes it). Nothing is written when signing fails.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};
use std::time::SystemTime;

use const_oid::db::rfc5911::{ID_DATA, ID_SIGNED_DATA};
use der::{Any, Decode, Encode, Reader, SliceReader};
use mail_message::stream::{Base64Writer, LineBreakWriter, read_header_section};
use mail_message::{Entity, LineBreak, SpooledEntity};

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
        let mut entity = SpooledEntity::signable(&header, reader)?.into_file();
        let mut boundary = match form {
            SignatureForm::Detached => Some(crate::signing::boundary_for(b"")),
            SignatureForm::Opaque => None,
        };
        let (digest, mut boundary_found) = digest_file(self, &mut entity, boundary.as_deref())?;
        // 96 random bits met in the content: as unlikely as it gets, but a
        // boundary must not occur in the part (RFC 2046 section 5.1.1).
        while boundary_found {
            let candidate = crate::signing::boundary_for(b"");
            entity.seek(SeekFrom::Start(0)).map_err(Error::Io)?;
            boundary_found = digest_file(self, &mut entity, Some(&candidate))?.1;
            boundary = Some(candidate);
        }
        let time = SystemTime::now();
        entity.seek(SeekFrom::Start(0)).map_err(Error::Io)?;
        let entity = BufReader::with_capacity(SEGMENT, entity);
        output
            .write_all(&message.outer_header())
            .map_err(Error::Io)?;
        let mut body = LineBreakWriter::new(output, message.line_break());
        match boundary {
            Some(boundary) => {
                let cms = self.signed_data_der(&digest, None, time, true)?;
                let signature = mail_message::encode_base64(&cms, LineBreak::Crlf);
                write_detached(&mut body, &boundary, self, entity, &signature)?;
            }
            None => {
                let der = self.signed_data_der(&digest, None, time, false)?;
                write_opaque(&mut body, &der, entity)?;
            }
        }
        body.finish()
            .and_then(|mut out| out.flush())
            .map_err(Error::Io)
    }
}

/// The digest of what `file` holds, and whether `needle` occurs in it.
fn digest_file(
    signer: &Signer,
    file: &mut File,
    needle: Option<&str>,
) -> Result<(Vec<u8>, bool), Error> {
    let needle = needle.map(str::as_bytes).unwrap_or_default();
    let mut hasher = signer.digest().hasher();
    let mut reader = BufReader::with_capacity(SEGMENT, &mut *file);
    let mut chunk = vec![0u8; SEGMENT];
    // The end of the previous chunk, for a match across reads.
    let mut carry: Vec<u8> = Vec::new();
    let mut found = false;
    loop {
        let read = reader.read(&mut chunk).map_err(Error::Io)?;
        let Some(data) = chunk.get(..read).filter(|d| !d.is_empty()) else {
            break;
        };
        hasher.update(data);
        if !needle.is_empty() && !found {
            carry.extend_from_slice(data);
            found = carry.windows(needle.len()).any(|w| w == needle);
            let keep = (needle.len() - 1).min(carry.len());
            carry.drain(..carry.len() - keep);
        }
    }
    Ok((hasher.finish(), found))
}

/// The `multipart/signed` entity: head, the spooled entity, signature part.
fn write_detached(
    body: &mut impl Write,
    boundary: &str,
    signer: &Signer,
    mut entity: impl Read,
    signature: &[u8],
) -> Result<(), Error> {
    body.write_all(&detached_head(boundary, signer.digest()))
        .and_then(|()| std::io::copy(&mut entity, body).map(drop))
        .and_then(|()| body.write_all(&detached_tail(boundary, signature)))
        .map_err(Error::Io)
}

/// The opaque entity: its header, then `ContentInfo` with the SignedData
/// `signed_data_der` (detached, DER) re-framed as BER with the content of
/// `entity` encapsulated in OCTET STRING segments, in base64.
fn write_opaque(
    body: &mut impl Write,
    signed_data_der: &[u8],
    mut entity: impl Read,
) -> Result<(), Error> {
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
    std::io::copy(&mut entity, &mut segments).map_err(Error::Io)?;
    let mut base64 = segments.inner;
    base64.write_all(&suffix).map_err(Error::Io)?;
    base64.finish().map(drop).map_err(Error::Io)
}
