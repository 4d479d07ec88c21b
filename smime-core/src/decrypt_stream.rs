//! Decrypting S/MIME messages of any size in bounded memory.
//!
//! Two passes. The first reads the message once: the header section, then
//! the CMS (base64 decoded on the fly, DER or BER) with a small streaming
//! BER reader; the recipientInfos and algorithm parameters are kept, the
//! ciphertext goes to an anonymous temporary file (ciphertext only: no
//! plaintext ever touches the disk). Before anything is written, the
//! content key is recovered and the content checked: the GCM tag over all
//! ciphertext, or the CBC padding of the last block. Only then does the
//! second pass decrypt from the temporary file to the output. So a failure
//! writes nothing, and GCM plaintext is never released unauthenticated.
//! (Checked content is decrypted once more, unreleased, to look for a
//! `binary` part first: one is delivered as base64, as `decrypt_message`
//! delivers it, when the entity is at most
//! [`mail_message::MAX_REENCODE_IN_MEMORY`] bytes; larger ones go out as
//! they are.)

use std::borrow::Cow;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use cipher::{BlockCipherDecrypt, BlockModeDecrypt, KeyInit, KeyIvInit};
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911::{ID_CT_AUTH_ENVELOPED_DATA, ID_ENVELOPED_DATA};
use der::Decode;
use der::asn1::OctetString;
use mail_message::stream::{Base64Reader, LineBreakWriter, read_header_section};
use mail_message::{BinaryFieldScan, Entity, MAX_REENCODE_IN_MEMORY, MimeError};
use zeroize::Zeroizing;

use crate::ber_stream::{BerReader, CHUNK, LIMIT, end_of_input, malformed};
use crate::envelope::{
    ContentEncryption, DecryptionIdentity, Envelope, GcmParameters, decode_envelope,
    gcm_tag_len_supported, recover_content_key,
};
use crate::error::Error;
use crate::gcm_stream::GcmKey;
use crate::message::pkcs7_mime;

/// What the first pass found.
struct Parsed {
    /// Every field but the encrypted content, decoded as `decrypt_message`
    /// decodes them.
    envelope: Envelope,
    ciphertext: std::fs::File,
    ciphertext_len: u64,
}

/// Indefinite-length BER: a constructed header and its end-of-contents.
const INDEFINITE_SEQUENCE: [u8; 2] = [0x30, 0x80];
const END_OF_CONTENTS: [u8; 2] = [0, 0];

/// Reads the CMS, spooling the ciphertext.
///
/// Only the framing is read here. Every other field is kept as it came and
/// put back, with an empty encrypted content, into a skeleton of the whole
/// structure that [`decode_envelope`] decodes: the same decoder as the
/// in-memory path, so both accept and refuse the same structures (a field
/// of the wrong type, an unknown version, attributes in the wrong place).
fn parse(reader: impl Read) -> Result<Parsed, Error> {
    let mut ber = BerReader {
        inner: BufReader::with_capacity(CHUNK, reader),
        position: 0,
    };
    let content_info = ber.open(0x30)?;
    let (_, oid) = ber.tlv()?;
    let content_type = ObjectIdentifier::from_der(&oid).map_err(Error::InvalidCms)?;
    if content_type != ID_ENVELOPED_DATA && content_type != ID_CT_AUTH_ENVELOPED_DATA {
        return Err(Error::NotEncrypted(content_type));
    }
    let mut skeleton = Vec::new();
    skeleton.extend_from_slice(&INDEFINITE_SEQUENCE);
    skeleton.extend_from_slice(&oid);
    skeleton.extend_from_slice(&[0xa0, 0x80]);
    skeleton.extend_from_slice(&INDEFINITE_SEQUENCE);
    let explicit = ber.open(0xa0)?;
    let data = ber.open(0x30)?;
    // version, originatorInfo (optional), recipientInfos.
    let (_, version) = ber.tlv()?;
    skeleton.extend_from_slice(&version);
    let (mut header, mut element) = ber.tlv()?;
    if header.tag == 0xa0 {
        skeleton.extend_from_slice(&element);
        (header, element) = ber.tlv()?;
    }
    if header.tag != 0x31 {
        return Err(malformed());
    }
    skeleton.extend_from_slice(&element);
    // (Auth)EncryptedContentInfo: contentType, algorithm, then the content,
    // which is spooled and stands empty in the skeleton.
    let info = ber.open(0x30)?;
    skeleton.extend_from_slice(&INDEFINITE_SEQUENCE);
    let (_, inner_type) = ber.tlv()?;
    skeleton.extend_from_slice(&inner_type);
    let (_, algorithm) = ber.tlv()?;
    skeleton.extend_from_slice(&algorithm);
    let content = ber.header()?;
    if content.tag != 0x80 && content.tag != 0xa0 {
        return Err(Error::DetachedEncryptedContent);
    }
    skeleton.extend_from_slice(&[0x80, 0x00]);
    skeleton.extend_from_slice(&END_OF_CONTENTS);
    let spool = mail_message::stream::private_tempfile().map_err(Error::Io)?;
    let mut writer = BufWriter::with_capacity(CHUNK, spool);
    ber.octets(content, &mut writer, 0)?;
    ber.close(info)?;
    // What follows the content (attributes, the MAC) goes to the skeleton
    // as it is; the decoder judges it.
    loop {
        if ber.at_end(data) {
            ber.close(data)?;
            break;
        }
        let (header, element) = ber.tlv()?;
        if header.tag == 0 && data.end.is_none() {
            // End-of-contents of an indefinite (Auth)EnvelopedData.
            break;
        }
        skeleton.extend_from_slice(&element);
    }
    ber.close(explicit)?;
    ber.close(content_info)?;
    end_of_input(&mut ber)?;
    for _ in 0..3 {
        skeleton.extend_from_slice(&END_OF_CONTENTS);
    }
    let envelope = decode_envelope(&skeleton)?;
    let mut spool = writer
        .into_inner()
        .map_err(|error| Error::Io(error.into_error()))?;
    let ciphertext_len = spool.stream_position().map_err(Error::Io)?;
    spool.seek(SeekFrom::Start(0)).map_err(Error::Io)?;
    Ok(Parsed {
        envelope,
        ciphertext: spool,
        ciphertext_len,
    })
}

/// What [`decrypt_message_stream`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamDecryption {
    /// The content-encryption algorithm the sender chose.
    pub encryption: ContentEncryption,
    /// Bytes of plaintext (the inner entity, canonical form).
    pub content_len: u64,
}

/// [`crate::decrypt_message`] from a reader to a writer in bounded memory,
/// whatever the message size. Nothing is written unless decryption succeeds
/// (see the module documentation); the output is the outer header fields and
/// the inner entity, in the input's line-break style.
pub fn decrypt_message_stream(
    input: impl Read,
    output: impl Write,
    identity: &DecryptionIdentity,
) -> Result<StreamDecryption, Error> {
    let mut reader = BufReader::with_capacity(CHUNK, input);
    let header = read_header_section(&mut reader, LIMIT).map_err(Error::Io)?;
    let message = Entity::parse(&header)?;
    let content_type = message.content_type()?;
    let smime_type = pkcs7_mime(&content_type).ok_or_else(|| MimeError::UnexpectedContentType {
        expected: "an S/MIME encrypted message (application/pkcs7-mime)",
        found: content_type.mime_type().to_owned(),
    })?;
    if let Some(kind) = smime_type.as_deref()
        && kind != "enveloped-data"
        && kind != "authenveloped-data"
    {
        return Err(MimeError::UnexpectedContentType {
            expected: "smime-type=enveloped-data or authEnveloped-data",
            found: format!("{}; smime-type={kind}", content_type.mime_type()),
        }
        .into());
    }
    let parsed = if message.transfer_encoding() == "base64" {
        parse(Base64Reader::new(reader))?
    } else {
        parse(reader)?
    };

    // Everything is known now: recover the key and check the content before
    // writing a byte.
    let Parsed {
        envelope,
        ciphertext: mut spool,
        ciphertext_len,
    } = parsed;
    let algorithm = &envelope.content.content_enc_alg;
    let cek = recover_content_key(
        &envelope.recipients,
        identity,
        crate::envelope::content_key_len(algorithm.oid),
    )?;
    let encryption = ContentEncryption::from_oid(algorithm.oid)
        .ok_or(Error::UnsupportedAlgorithm(algorithm.oid))?;
    // As `decrypt_message`: a wrong key length is what a failed PKCS#1 v1.5
    // unwrap looks like, and a MAC must come with an authenticated cipher.
    if cek.len() != encryption.key_len() || encryption.is_authenticated() != envelope.mac.is_some()
    {
        return Err(Error::Decryption);
    }
    let params = algorithm.parameters.as_ref().ok_or(Error::Decryption)?;
    let line_break = message.line_break();
    let head = message.outer_header();
    let mut sink = InnerEntity::new(LineBreakWriter::new(output, line_break));
    let plaintext = if encryption.is_authenticated() {
        let gcm: GcmParameters = params.decode_as().map_err(|_| Error::Decryption)?;
        let nonce: [u8; 12] = gcm
            .nonce
            .as_bytes()
            .try_into()
            .map_err(|_| Error::Decryption)?;
        let mac = envelope
            .mac
            .as_ref()
            .map(OctetString::as_bytes)
            .unwrap_or_default();
        if !gcm_tag_len_supported(gcm.icv_len, mac.len()) {
            return Err(Error::Decryption);
        }
        let aad = envelope.aad.as_deref().unwrap_or_default();
        let key = GcmKey::new(&cek)?;
        let mut authenticator = key.authenticator(&nonce, aad);
        let mut buffer = vec![0u8; CHUNK];
        loop {
            let count = spool.read(&mut buffer).map_err(Error::Io)?;
            if count == 0 {
                break;
            }
            authenticator.update(buffer.get(..count).unwrap_or_default());
        }
        if !authenticator.verify(mac) {
            return Err(Error::Decryption);
        }
        Plaintext::Gcm {
            key: Box::new(key),
            nonce,
        }
    } else {
        let iv: OctetString = params.decode_as().map_err(|_| Error::Decryption)?;
        let iv = iv.as_bytes();
        let len = ciphertext_len;
        let block = encryption.block_len();
        if iv.len() != block || len == 0 || len % block as u64 != 0 {
            return Err(Error::Decryption);
        }
        // The padding is in the last block: check it before any output.
        let mut tail = [0u8; 32];
        let tail_start = len.saturating_sub(2 * block as u64);
        spool.seek(SeekFrom::Start(tail_start)).map_err(Error::Io)?;
        let tail_len = (len - tail_start) as usize;
        let tail = tail.get_mut(..tail_len).ok_or(Error::Decryption)?;
        spool.read_exact(tail).map_err(Error::Io)?;
        let (previous, last) = tail.split_at(tail_len - block);
        let previous = if previous.is_empty() { iv } else { previous };
        let padding = cbc_padding(encryption, &cek, previous, last)?;
        let mut iv_block = [0u8; 16];
        iv_block
            .get_mut(..block)
            .ok_or(Error::Decryption)?
            .copy_from_slice(iv);
        Plaintext::Cbc {
            encryption,
            key: &cek,
            iv: iv_block,
            len: len - padding as u64,
        }
    };
    let content_len = match &plaintext {
        Plaintext::Gcm { .. } => ciphertext_len,
        Plaintext::Cbc { len, .. } => *len,
    };
    // A peer's `binary` part goes out as base64 of its exact bytes, as
    // `decrypt_message` delivers it (`without_binary_parts`), when the
    // entity can be re-encoded in memory; a first decryption (not
    // released) looks for such a part.
    let mut scan = BinaryFieldScan::default();
    plaintext.decrypt(&mut spool, &mut scan)?;
    sink.outer(&head).map_err(Error::Io)?;
    if scan.found() && content_len <= MAX_REENCODE_IN_MEMORY {
        let mut entity = Zeroizing::new(Vec::with_capacity(content_len as usize));
        plaintext.decrypt(&mut spool, &mut *entity)?;
        match mail_message::without_binary_parts(&entity) {
            Cow::Borrowed(entity) => sink.write_all(entity),
            Cow::Owned(reencoded) => sink.write_all(&Zeroizing::new(reencoded)),
        }
        .map_err(Error::Io)?;
    } else {
        plaintext.decrypt(&mut spool, &mut sink)?;
    }
    let line_writer = sink.finish().map_err(Error::Io)?;
    let mut output = line_writer.finish().map_err(Error::Io)?;
    output.flush().map_err(Error::Io)?;
    Ok(StreamDecryption {
        encryption,
        content_len,
    })
}

/// The checked content, ready to be decrypted from the spool (any number
/// of times: to look at it, then to release it).
enum Plaintext<'k> {
    Gcm {
        key: Box<GcmKey>,
        nonce: [u8; 12],
    },
    Cbc {
        encryption: ContentEncryption,
        key: &'k [u8],
        /// The IV, in the first `encryption.block_len()` bytes.
        iv: [u8; 16],
        /// The plaintext length, padding removed.
        len: u64,
    },
}

impl Plaintext<'_> {
    /// Decrypts the whole spool to `sink`.
    fn decrypt(&self, spool: &mut std::fs::File, sink: &mut dyn Write) -> Result<(), Error> {
        spool.seek(SeekFrom::Start(0)).map_err(Error::Io)?;
        match self {
            Plaintext::Gcm { key, nonce } => {
                let mut keystream = key.keystream(nonce)?;
                let mut buffer = Zeroizing::new(vec![0u8; CHUNK]);
                loop {
                    let count = spool.read(&mut buffer).map_err(Error::Io)?;
                    if count == 0 {
                        return Ok(());
                    }
                    let chunk = buffer.get_mut(..count).unwrap_or_default();
                    keystream.apply(chunk);
                    sink.write_all(chunk).map_err(Error::Io)?;
                }
            }
            Plaintext::Cbc {
                encryption,
                key,
                iv,
                len,
            } => {
                let iv = iv.get(..encryption.block_len()).unwrap_or_default();
                cbc_decrypt_stream(*encryption, key, iv, spool, *len, sink)
            }
        }
    }
}

/// The number of padding bytes of the final CBC block, checked; every
/// failure is [`Error::Decryption`].
fn cbc_padding(
    encryption: ContentEncryption,
    key: &[u8],
    previous: &[u8],
    last: &[u8],
) -> Result<u8, Error> {
    fn decrypt_block<C: BlockCipherDecrypt + KeyInit>(
        key: &[u8],
        last: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let cipher = C::new_from_slice(key).map_err(|_| Error::Decryption)?;
        let mut block = cipher::Block::<C>::try_from(last).map_err(|_| Error::Decryption)?;
        cipher.decrypt_block(&mut block);
        Ok(Zeroizing::new(block.to_vec()))
    }
    let block = match encryption {
        ContentEncryption::Aes128Cbc => decrypt_block::<aes::Aes128>(key, last),
        ContentEncryption::Aes192Cbc => decrypt_block::<aes::Aes192>(key, last),
        ContentEncryption::DesEde3Cbc => decrypt_block::<des::TdesEde3>(key, last),
        _ => decrypt_block::<aes::Aes256>(key, last),
    }?;
    let plain: Zeroizing<Vec<u8>> =
        Zeroizing::new(block.iter().zip(previous).map(|(b, p)| b ^ p).collect());
    let pad = plain.last().copied().unwrap_or_default();
    let valid = (1..=plain.len()).contains(&usize::from(pad))
        && plain
            .get(plain.len() - usize::from(pad)..)
            .is_some_and(|padding| padding.iter().all(|b| *b == pad));
    if valid {
        Ok(pad)
    } else {
        Err(Error::Decryption)
    }
}

/// Decrypts the spooled CBC ciphertext, writing the first `plain_len` bytes.
fn cbc_decrypt_stream(
    encryption: ContentEncryption,
    key: &[u8],
    iv: &[u8],
    spool: &mut std::fs::File,
    plain_len: u64,
    sink: &mut dyn Write,
) -> Result<(), Error> {
    fn run<C: BlockCipherDecrypt + KeyInit>(
        key: &[u8],
        iv: &[u8],
        spool: &mut std::fs::File,
        plain_len: u64,
        sink: &mut dyn Write,
    ) -> Result<(), Error> {
        let mut decryptor =
            cbc::Decryptor::<C>::new_from_slices(key, iv).map_err(|_| Error::Decryption)?;
        let mut buffer = Zeroizing::new(vec![0u8; CHUNK]);
        let mut written = 0u64;
        loop {
            let count = read_full(spool, &mut buffer).map_err(Error::Io)?;
            if count == 0 {
                return Ok(());
            }
            let chunk = buffer.get_mut(..count).unwrap_or_default();
            let (blocks, _) = cipher::Block::<cbc::Decryptor<C>>::slice_as_chunks_mut(chunk);
            decryptor.decrypt_blocks(blocks);
            let keep = (plain_len - written).min(count as u64) as usize;
            sink.write_all(chunk.get(..keep).unwrap_or_default())
                .map_err(Error::Io)?;
            written += keep as u64;
        }
    }
    match encryption {
        ContentEncryption::Aes128Cbc => run::<aes::Aes128>(key, iv, spool, plain_len, sink),
        ContentEncryption::Aes192Cbc => run::<aes::Aes192>(key, iv, spool, plain_len, sink),
        ContentEncryption::DesEde3Cbc => run::<des::TdesEde3>(key, iv, spool, plain_len, sink),
        _ => run::<aes::Aes256>(key, iv, spool, plain_len, sink),
    }
}

/// Reads until `buffer` is full or the input ends (whole CBC blocks).
fn read_full(reader: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        let count = reader.read(buffer.get_mut(filled..).unwrap_or_default())?;
        if count == 0 {
            break;
        }
        filled += count;
    }
    Ok(filled)
}

/// Writes the outer header, then the decrypted inner entity with its own
/// `MIME-Version` field dropped (the outer header has one).
struct InnerEntity<W: Write> {
    inner: W,
    /// The inner header while it is being collected; `None` once written.
    header: Option<Vec<u8>>,
}

impl<W: Write> InnerEntity<W> {
    fn new(inner: W) -> Self {
        InnerEntity {
            inner,
            header: Some(Vec::new()),
        }
    }

    /// Writes the outer header first. It is in the input's style; the
    /// line-break writer below expects CRLF and restores that style.
    fn outer(&mut self, head: &[u8]) -> io::Result<()> {
        self.inner.write_all(&mail_message::canonicalize(head))
    }

    fn flush_header(&mut self, header: Vec<u8>) -> io::Result<()> {
        let Some(end) = find(&header, b"\r\n\r\n") else {
            return self.inner.write_all(&header);
        };
        let (fields, rest) = header.split_at(end + 2);
        match Entity::parse(fields) {
            Ok(entity) if entity.field("mime-version").is_some() => {
                for field in entity.fields().iter().filter(|f| !f.is("mime-version")) {
                    self.inner.write_all(field.raw())?;
                }
                self.inner.write_all(rest)
            }
            _ => self.inner.write_all(&header),
        }
    }

    fn finish(mut self) -> io::Result<W> {
        if let Some(header) = self.header.take() {
            self.flush_header(header)?;
        }
        Ok(self.inner)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl<W: Write> Write for InnerEntity<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.header {
            Some(header) => {
                header.extend_from_slice(buf);
                if find(header, b"\r\n\r\n").is_some() || header.len() > LIMIT {
                    let header = std::mem::take(header);
                    self.header = None;
                    self.flush_header(header)?;
                }
            }
            None => self.inner.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
