//! Verifying PGP/MIME `multipart/signed` messages in memory that does not
//! grow with the message.
//!
//! The message is read once: the header section is kept, the signed part
//! goes, in canonical form, to an anonymous temporary file (exactly the
//! bytes [`mail_message::Multipart::split`] would give: the line break
//! before a delimiter belongs to the delimiter), the signature part is
//! collected (at most [`MAX_SIGNATURE_PART`]), and the signature is checked
//! over the spooled part with Sequoia's streaming detached verifier. Other
//! structures (inline cleartext signatures, signed parts nested in other
//! parts) are verified in memory by [`Verifier::verify_message`].

use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom};

use mail_message::Entity;
use mail_message::stream::{CanonicalWriter, HeldMessage, read_header_section};

use crate::decryption::DEFAULT_MAX_PLAINTEXT;
use crate::error::Error;
use crate::pgp_mime::{MAX_HEADER, STREAM_BUFFER};
use crate::verification::{Coverage, Verification, Verifier};

/// The largest signature part accepted (a detached signature is a few
/// hundred bytes; many signatures stay far below this).
pub const MAX_SIGNATURE_PART: u64 = 1024 * 1024;

/// The report on a message verified from a stream, with the signed entity
/// held back in a temporary file (the type S/MIME verification returns
/// too). Its [`write_unwrapped`](mail_message::stream::SpooledVerification::write_unwrapped)
/// writes the message with the OpenPGP layer removed, as
/// [`Verification::unwrapped_message`] holds it, when the whole message is
/// covered by signatures that hold.
pub type SpooledVerification = mail_message::stream::SpooledVerification<Verification>;

impl Verifier {
    /// Verifies a message read from `input` in bounded memory: a top-level
    /// PGP/MIME `multipart/signed` streams; any other structure is read into
    /// memory (at most 512 MiB) and verified by
    /// [`Verifier::verify_message`], with the same result.
    ///
    /// ```
    /// # let key = testkit::openpgp_key("Alice <alice@example.org>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
    /// use pgp_core::{Signer, Verdict, Verifier};
    ///
    /// let signed = Signer::new(key.cert(), None)?.sign_message(b"From: alice@example.org\r\n\r\nHi\r\n")?;
    /// let report = Verifier::new([key.cert().clone()]).verify_message_spooled(&signed[..])?;
    /// assert_eq!(report.verification().verdict(), Verdict::SignedByFrom);
    /// let mut unwrapped = Vec::new();
    /// assert!(report.write_unwrapped(&mut unwrapped)?);
    /// assert!(unwrapped.ends_with(b"\r\n\r\nHi\r\n"));
    /// # Ok::<(), pgp_core::Error>(())
    /// ```
    pub fn verify_message_spooled(&self, input: impl Read) -> Result<SpooledVerification, Error> {
        let mut reader = BufReader::with_capacity(STREAM_BUFFER, input);
        let header = read_header_section(&mut reader, MAX_HEADER)?;
        let entity = Entity::parse(&header)?;
        let content_type = entity.content_type()?;
        let streamable = content_type.mime_type() == "multipart/signed"
            && content_type
                .parameter("protocol")
                .is_some_and(|p| p.eq_ignore_ascii_case("application/pgp-signature"));
        let boundary = content_type.parameter("boundary").map(str::to_owned);
        let (true, Some(boundary)) = (streamable, boundary) else {
            return self.verify_in_memory(&header, reader);
        };
        let spool = mail_message::stream::private_tempfile()?;
        let mut sink = CanonicalWriter::new(BufWriter::with_capacity(STREAM_BUFFER, spool));
        let split = mail_message::split_multipart_signed(
            &mut reader,
            &boundary,
            &mut sink,
            MAX_SIGNATURE_PART,
        )?;
        let mut spool = sink
            .into_inner()
            .into_inner()
            .map_err(|error| Error::Io(error.into_error()))?;
        let (signature_part, extra_parts) = match split {
            Some(parts) => (parts.signature_part, parts.extra_parts),
            // Fewer than two parts: not a signed message at all.
            None => {
                let unsigned = Verification::unsigned(&entity);
                let verdict = unsigned.verdict();
                return Ok(SpooledVerification::new(
                    unsigned,
                    verdict,
                    HeldMessage::Nothing,
                ));
            }
        };
        let signature = Entity::parse(&signature_part)?.decoded_body()?;
        spool.seek(SeekFrom::Start(0))?;
        let signers = self.verify_detached_reader(
            BufReader::with_capacity(STREAM_BUFFER, spool.try_clone()?),
            &signature,
        );
        let coverage = if extra_parts > 0 {
            Coverage::Partial {
                part: "1".to_owned(),
                reason: "multipart/signed with more than the content and the signature".to_owned(),
            }
        } else {
            Coverage::Whole
        };
        let verification =
            Verification::new(coverage, signers, &entity, None, self).with_protected_from(&spool);
        // As in memory: only a wholly covered message whose signatures all
        // hold is released (SpooledVerification::new keeps that rule).
        let verdict = verification.verdict();
        let unwrapped = HeldMessage::spooled(&entity, spool, true);
        Ok(SpooledVerification::new(verification, verdict, unwrapped))
    }

    fn verify_in_memory(
        &self,
        header: &[u8],
        mut rest: impl Read,
    ) -> Result<SpooledVerification, Error> {
        let mut message = header.to_vec();
        rest.by_ref()
            .take(DEFAULT_MAX_PLAINTEXT + 1)
            .read_to_end(&mut message)?;
        if message.len() as u64 > DEFAULT_MAX_PLAINTEXT + header.len() as u64 {
            return Err(Error::TooLarge {
                limit: DEFAULT_MAX_PLAINTEXT,
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
