//! Verifying S/MIME `multipart/signed` messages in memory that does not
//! grow with the message.
//!
//! The message is read once: the header section is kept, the signed part
//! goes, in canonical form, to an anonymous temporary file (exactly the
//! bytes [`mail_message::Multipart::split`] would give), the signature part
//! is collected (at most [`MAX_SIGNATURE_PART`]), and each signature is
//! checked against digests computed over the spool. An opaque
//! `signed-data` entity streams too: its CMS is read once by a small BER
//! reader, the encapsulated content spooled as it is, the rest kept.
//! Signed parts nested in other parts are verified in memory by
//! [`Verifier::verify_message`], up to [`MAX_IN_MEMORY`] bytes.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read};

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911::ID_SIGNED_DATA;
use der::Decode;
use mail_message::stream::{Base64Reader, CanonicalWriter, HeldMessage, read_header_section};
use mail_message::{Coverage, Entity};

use crate::ber_stream::{BerReader, CHUNK, Container, LIMIT, end_of_input, malformed};
use crate::error::Error;
use crate::verification::{Verification, Verifier};

/// The largest signature part accepted (a signature with a certificate
/// chain is a few kilobytes).
pub const MAX_SIGNATURE_PART: u64 = 4 * 1024 * 1024;

/// The largest message verified in memory, for structures that do not
/// stream (signed parts nested in other parts).
pub const MAX_IN_MEMORY: u64 = 512 * 1024 * 1024;

/// Bytes per read.
const BUFFER: usize = 64 * 1024;
/// The longest header section we accept.
const MAX_HEADER: usize = 1024 * 1024;

/// The report on a message verified from a stream, with the signed entity
/// held back in a temporary file (the type OpenPGP verification returns
/// too). Its [`write_unwrapped`](mail_message::stream::SpooledVerification::write_unwrapped)
/// writes the message with the S/MIME layer removed, as
/// [`Verification::unwrapped_message`] holds it, when the whole message is
/// covered by signatures that hold.
pub type SpooledVerification = mail_message::stream::SpooledVerification<Verification>;

impl Verifier {
    /// Verifies a message read from `input` in bounded memory: a top-level
    /// S/MIME `multipart/signed` or opaque `signed-data` streams; any other
    /// structure is read into
    /// memory (at most [`MAX_IN_MEMORY`] bytes) and verified by
    /// [`Verifier::verify_message`]. The verdict, coverage and signer
    /// reports are the same as `verify_message`'s.
    ///
    /// ```
    /// # let alice = testkit::pki().smime("alice@example.org", testkit::KeyKind::P256);
    /// # let roots = smime_core::Certificate::load(testkit::pki().root().certificate_pem().as_bytes())?;
    /// # let certificate = smime_core::Certificate::load(alice.certificate_pem().as_bytes())?.remove(0);
    /// # let key = smime_core::PrivateKey::load(alice.private_key_pem().as_bytes(), None)?;
    /// use smime_core::{SignatureForm, Signer, Verdict, Verifier};
    ///
    /// let message = b"From: alice@example.org\r\nSubject: Hi\r\n\r\nHello\r\n";
    /// # let chain = smime_core::Certificate::load(alice.chain_pem().as_bytes())?;
    /// let signed = Signer::new(certificate, &key)?
    ///     .with_chain(chain)
    ///     .sign_message(message, SignatureForm::Detached)?;
    /// let report = Verifier::new(roots).verify_message_spooled(&signed[..])?;
    /// assert_eq!(report.verification().verdict(), Verdict::SignedByFrom);
    /// let mut unwrapped = Vec::new();
    /// assert!(report.write_unwrapped(&mut unwrapped)?);
    /// assert!(unwrapped.ends_with(b"\r\n\r\nHello\r\n"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify_message_spooled(&self, input: impl Read) -> Result<SpooledVerification, Error> {
        let mut reader = BufReader::with_capacity(BUFFER, input);
        let header = read_header_section(&mut reader, MAX_HEADER).map_err(Error::Io)?;
        let message = Entity::parse(&header)?;
        let content_type = message.content_type()?;
        let streamable = content_type.mime_type() == "multipart/signed"
            && content_type.parameter("protocol").is_some_and(|p| {
                p.eq_ignore_ascii_case("application/pkcs7-signature")
                    || p.eq_ignore_ascii_case("application/x-pkcs7-signature")
            });
        // Exactly what `verify_message` treats as opaque signed data.
        let opaque = matches!(
            content_type.mime_type(),
            "application/pkcs7-mime" | "application/x-pkcs7-mime"
        ) && content_type
            .parameter("smime-type")
            .is_some_and(|kind| kind.eq_ignore_ascii_case("signed-data"));
        if opaque {
            return self.verify_opaque(&message, reader);
        }
        let boundary = content_type.parameter("boundary").map(str::to_owned);
        let (true, Some(boundary)) = (streamable, boundary) else {
            return self.verify_in_memory(&header, reader);
        };
        let spool = mail_message::stream::private_tempfile().map_err(Error::Io)?;
        let mut sink = CanonicalWriter::new(BufWriter::with_capacity(BUFFER, spool));
        let parts = mail_message::split_multipart_signed(
            &mut reader,
            &boundary,
            &mut sink,
            MAX_SIGNATURE_PART,
        )?
        .ok_or(Error::MalformedSignedMessage)?;
        let spool = sink
            .into_inner()
            .into_inner()
            .map_err(|error| Error::Io(error.into_error()))?;
        let signature = Entity::parse(&parts.signature_part)?.decoded_body()?;
        let (signers, certificates) = self.verify_cms_spooled(&signature, &spool)?;
        let coverage = if parts.extra_parts > 0 {
            Coverage::Partial {
                part: "1".to_owned(),
                reason: "multipart/signed with more than the content and the signature".to_owned(),
            }
        } else {
            Coverage::Whole
        };
        let verification = Verification::new(coverage.clone(), signers, certificates, &message)
            .with_protected_from(&spool);
        let verdict = verification.verdict();
        let unwrapped = HeldMessage::spooled(&message, spool, true);
        Ok(SpooledVerification::new(verification, verdict, unwrapped))
    }

    /// An opaque `signed-data` entity: the encapsulated content is spooled
    /// as it is while the CMS streams past; the rest of the SignedData is
    /// kept and checked against digests over the spool.
    fn verify_opaque(
        &self,
        message: &Entity<'_>,
        body: impl Read,
    ) -> Result<SpooledVerification, Error> {
        let (cms, content) = if message.transfer_encoding() == "base64" {
            split_opaque(Base64Reader::new(BufReader::with_capacity(BUFFER, body)))?
        } else {
            split_opaque(body)?
        };
        let (signers, certificates) = self.verify_cms_spooled(&cms, &content)?;
        let verification = Verification::new(Coverage::Whole, signers, certificates, message)
            .with_protected_from(&content);
        let verdict = verification.verdict();
        let unwrapped = HeldMessage::spooled(message, content, false);
        Ok(SpooledVerification::new(verification, verdict, unwrapped))
    }

    fn verify_in_memory(
        &self,
        header: &[u8],
        rest: impl Read,
    ) -> Result<SpooledVerification, Error> {
        let mut message = header.to_vec();
        rest.take(MAX_IN_MEMORY + 1)
            .read_to_end(&mut message)
            .map_err(Error::Io)?;
        if message.len() as u64 > MAX_IN_MEMORY + header.len() as u64 {
            return Err(Error::MessageTooLarge {
                limit: MAX_IN_MEMORY,
            });
        }
        let verification = self.verify_message(&message)?;
        let verdict = verification.verdict();
        let unwrapped = verification
            .unwrapped_message()
            .map_or(HeldMessage::Nothing, |m| HeldMessage::InMemory(m.to_vec()));
        Ok(SpooledVerification::new(verification, verdict, unwrapped))
    }
}

/// Reads an opaque SignedData (DER or BER): the encapsulated content goes
/// to a temporary file as it is; returned with the SignedData re-framed
/// (BER) without the content, as a detached signature over that file.
fn split_opaque(reader: impl Read) -> Result<(Vec<u8>, File), Error> {
    let mut ber = BerReader {
        inner: BufReader::with_capacity(CHUNK, reader),
        position: 0,
    };
    let content_info = ber.open(0x30)?;
    let (_, oid) = ber.tlv()?;
    let content_type = ObjectIdentifier::from_der(&oid).map_err(Error::InvalidCms)?;
    if content_type != ID_SIGNED_DATA {
        return Err(Error::NotSigned(content_type));
    }
    let explicit = ber.open(0xa0)?;
    let data = ber.open(0x30)?;
    let (_, version) = ber.tlv()?;
    let (digests_header, digest_algorithms) = ber.tlv()?;
    if digests_header.tag != 0x31 {
        return Err(malformed());
    }
    let info = ber.open(0x30)?;
    let (_, econtent_type) = ber.tlv()?;
    let spool = mail_message::stream::private_tempfile().map_err(Error::Io)?;
    let mut writer = BufWriter::with_capacity(CHUNK, spool);
    if ber.at_end(info) {
        return Err(Error::DetachedContentMissing);
    }
    let explicit_content = ber.header()?;
    match (explicit_content.tag, explicit_content.length) {
        (0, Some(0)) if info.end.is_none() => return Err(Error::DetachedContentMissing),
        (0xa0, _) => {}
        _ => return Err(malformed()),
    }
    let explicit_content = Container {
        end: explicit_content.length.map(|length| ber.position + length),
    };
    let octets = ber.header()?;
    if octets.tag != 0x04 && octets.tag != 0x24 {
        return Err(malformed());
    }
    ber.octets(octets, &mut writer, 0)?;
    ber.close(explicit_content)?;
    ber.close(info)?;
    // certificates, crls, signerInfos: kept as found.
    let mut rest = Vec::new();
    loop {
        if ber.at_end(data) {
            ber.close(data)?;
            break;
        }
        let (header, element) = ber.tlv()?;
        // End-of-contents of an indefinite SignedData.
        if header.tag == 0 && data.end.is_none() {
            break;
        }
        if rest.len() + element.len() > LIMIT {
            return Err(malformed());
        }
        rest.extend_from_slice(&element);
    }
    ber.close(explicit)?;
    ber.close(content_info)?;
    end_of_input(&mut ber)?;
    let spool = writer
        .into_inner()
        .map_err(|error| Error::Io(error.into_error()))?;

    let mut cms = vec![0x30, 0x80];
    cms.extend_from_slice(&oid);
    cms.extend_from_slice(&[0xa0, 0x80, 0x30, 0x80]);
    cms.extend_from_slice(&version);
    cms.extend_from_slice(&digest_algorithms);
    cms.extend_from_slice(&[0x30, 0x80]);
    cms.extend_from_slice(&econtent_type);
    cms.extend_from_slice(&[0, 0]);
    cms.extend_from_slice(&rest);
    cms.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    Ok((cms, spool))
}
