//! The inner entity of a message read from a stream, spooled to a temporary
//! file in the form it is signed or encrypted in, in memory that does not
//! grow with the message.
//!
//! The message is read once: the inner entity (the `Content-*` fields and
//! the body) goes in canonical CRLF form to an anonymous temporary file, and
//! on the way a scan notes whether the body is already safe for 7-bit
//! transport and whether a part may be `binary`. What needs no re-encoding
//! is kept as it is; a single part with 8-bit content (for signing) is
//! re-encoded as base64 from the spool into a second temporary file,
//! exactly as [`seven_bit_safe`] would; a single part with
//! `Content-Transfer-Encoding: binary` is spooled byte for byte (binary
//! data has no line breaks to canonicalise) and re-encoded the same way; a
//! multipart with a part that may be `binary` (or, for signing, 8-bit
//! content) is re-encoded from its original bytes in memory, as
//! [`Envelope::signable`] and [`Envelope::encryptable`] do, when it is at
//! most [`MAX_REENCODE_IN_MEMORY`] bytes, and refused otherwise.
//!
//! [`seven_bit_safe`]: crate::seven_bit_safe

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};

use crate::mime::{Entity, Envelope, LineBreak, MimeError, Reencode, canonicalize};
use crate::stream::{Base64Writer, CanonicalWriter};

/// The largest multipart entity with 8-bit or binary content that is
/// re-encoded (in memory) by [`SpooledEntity`]; larger ones are
/// refused with [`SpoolError::ReencodeTooLarge`].
pub const MAX_REENCODE_IN_MEMORY: u64 = 4 * 1024 * 1024;

/// Bytes per read and per buffered write.
const BUFFER: usize = 64 * 1024;

/// Why an entity could not be spooled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpoolError {
    /// The message's MIME structure is malformed.
    #[error(transparent)]
    Mime(#[from] MimeError),
    /// Reading the message or writing the temporary file failed.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// A multipart entity with 8-bit or binary parts too large to re-encode
    /// in bounded memory.
    #[error(
        "the message is a multipart with 8-bit or binary content larger than {limit} bytes; encode its parts as base64 or quoted-printable first"
    )]
    ReencodeTooLarge {
        /// The limit in bytes ([`MAX_REENCODE_IN_MEMORY`]).
        limit: u64,
    },
}

impl SpoolError {
    /// This error in an engine's own error type, given how that type says
    /// each kind: the one mapping S/MIME and OpenPGP share, so that a
    /// spooling failure reads alike from both. The match is exhaustive
    /// here, so whoever adds a kind decides how engines report it.
    ///
    /// ```
    /// use mail_message::SpoolError;
    /// let error = SpoolError::ReencodeTooLarge { limit: 7 };
    /// let said: String = error.into_error(|m| m.to_string(), |i| i.to_string(), |l| format!("over {l}"));
    /// assert_eq!(said, "over 7");
    /// ```
    pub fn into_error<E>(
        self,
        mime: impl FnOnce(MimeError) -> E,
        io: impl FnOnce(io::Error) -> E,
        reencode_too_large: impl FnOnce(u64) -> E,
    ) -> E {
        match self {
            SpoolError::Mime(error) => mime(error),
            SpoolError::Io(error) => io(error),
            SpoolError::ReencodeTooLarge { limit } => reencode_too_large(limit),
        }
    }
}

/// The inner entity of a message in a temporary file, in the form it is
/// signed in ([`SpooledEntity::signable`]: byte for byte what
/// [`Envelope::signable`] returns for the same message) or encrypted in
/// ([`SpooledEntity::encryptable`], as [`Envelope::encryptable`]), made in
/// memory that does not grow with the message.
///
/// ```
/// use std::io::Read;
/// use mail_message::{Envelope, SpooledEntity};
///
/// let header = b"From: a@example.org\nContent-Type: application/pdf\nContent-Transfer-Encoding: binary\n\n";
/// let body = b"%PDF\n\xff";
/// let message = [&header[..], &body[..]].concat();
/// let spooled = SpooledEntity::signable(header, &body[..])?;
/// let mut entity = Vec::new();
/// spooled.into_file().read_to_end(&mut entity)?;
/// assert_eq!(entity, Envelope::split(&message)?.signable()?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct SpooledEntity {
    file: File,
    bare_cr: bool,
}

impl SpooledEntity {
    /// Spools the inner entity of the message whose header section (with
    /// the empty line that ends it) is `header` and whose body `body` reads,
    /// canonical and 7-bit safe, as it is signed.
    pub fn signable(header: &[u8], body: impl Read) -> Result<SpooledEntity, SpoolError> {
        SpooledEntity::spool(header, body, Reencode::EightBitAndBinary, None).map(|(s, _)| s)
    }

    /// [`SpooledEntity::signable`], showing `observer` every byte written
    /// to the spool as it is written (a signer hashes the entity in the same
    /// pass). True when the spool holds exactly what `observer` saw; false
    /// when the entity had to be re-encoded afterwards (8-bit or `binary`
    /// content), so the spool must be read again.
    ///
    /// ```
    /// use std::io::Read;
    /// use mail_message::SpooledEntity;
    ///
    /// let mut seen = Vec::new();
    /// let (spooled, exact) =
    ///     SpooledEntity::signable_observed(b"Subject: x\r\n\r\n", &b"hi\r\n"[..], &mut seen)?;
    /// let mut entity = Vec::new();
    /// spooled.into_file().read_to_end(&mut entity)?;
    /// assert!(exact);
    /// assert_eq!(seen, entity);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn signable_observed(
        header: &[u8],
        body: impl Read,
        observer: &mut dyn Write,
    ) -> Result<(SpooledEntity, bool), SpoolError> {
        SpooledEntity::spool(header, body, Reencode::EightBitAndBinary, Some(observer))
    }

    /// Spools the inner entity of the message whose header section is
    /// `header` and whose body `body` reads, canonical with `binary` parts
    /// base64-encoded, as it is encrypted.
    pub fn encryptable(header: &[u8], body: impl Read) -> Result<SpooledEntity, SpoolError> {
        SpooledEntity::spool(header, body, Reencode::Binary, None).map(|(s, _)| s)
    }

    fn spool(
        header: &[u8],
        body: impl Read,
        reencode: Reencode,
        observer: Option<&mut dyn Write>,
    ) -> Result<(SpooledEntity, bool), SpoolError> {
        let mut body = BufReader::with_capacity(BUFFER, body);
        let message = Entity::parse(header)?;
        let content_type = message.content_type()?;
        let boundary = content_type.parameter("boundary").map(str::to_owned);
        if content_type.is_multipart() && boundary.is_none() {
            return Err(MimeError::MissingBoundary.into());
        }

        // The inner entity, canonical, as `Envelope::split` makes it.
        let mut inner_header = message.content_header();
        inner_header.extend_from_slice(message.line_break().as_bytes());
        let inner_header = canonicalize(&inner_header);
        let mut file = Tee {
            spool: BufWriter::with_capacity(BUFFER, crate::stream::private_tempfile()?),
            observer,
        };
        file.write_all(&inner_header)?;
        let mut scan = Scan::new(file, boundary.as_deref());
        // Binary content is bytes, not lines: spooled as it is.
        let leaf_binary = !content_type.is_multipart() && message.transfer_encoding() == "binary";
        let original = if leaf_binary {
            io::copy(&mut body, &mut scan)?;
            None
        } else {
            // A multipart's original bytes, while they fit, for the parts
            // that must not be canonicalised.
            let limit = if content_type.is_multipart() {
                MAX_REENCODE_IN_MEMORY
            } else {
                0
            };
            let mut sink = OriginalCopy::new(CanonicalWriter::new(&mut scan), limit);
            io::copy(&mut body, &mut sink)?;
            sink.into_copy()
        };
        // Only signing makes 8-bit content 7-bit safe.
        let needs_encoding = reencode == Reencode::EightBitAndBinary && scan.needs_encoding();
        let bare_cr = scan.bare_cr || scan.previous == b'\r';
        let closed = scan.closed();
        let maybe_binary = scan.maybe_binary;
        let spool = scan
            .inner
            .spool
            .into_inner()
            .map_err(|error| SpoolError::Io(error.into_error()))?;
        // Whether the spool stays what was written (and observed).
        let mut exact = false;

        let (mut file, bare_cr) = if leaf_binary {
            (
                reencode_leaf(spool, &inner_header, message.transfer_encoding())?,
                false,
            )
        } else if content_type.is_multipart() && (needs_encoding || maybe_binary) {
            let body = original.ok_or(SpoolError::ReencodeTooLarge {
                limit: MAX_REENCODE_IN_MEMORY,
            })?;
            drop(spool);
            reencode_in_memory(header, &body, reencode)?
        } else if !needs_encoding {
            if let (false, Some(boundary)) = (closed, boundary) {
                return Err(MimeError::UnterminatedMultipart { boundary }.into());
            }
            // (Never true when signing: a bare CR needs encoding.)
            exact = true;
            (spool, bare_cr)
        } else if content_type.mime_type().starts_with("message/") {
            // message/* cannot take a transfer encoding (RFC 2046 5.2).
            exact = true;
            (spool, bare_cr)
        } else {
            (
                reencode_leaf(spool, &inner_header, message.transfer_encoding())?,
                false,
            )
        };
        file.seek(SeekFrom::Start(0))?;
        Ok((SpooledEntity { file, bare_cr }, exact))
    }

    /// Whether the entity holds a CR not followed by LF (only a `message/*`
    /// part with 8-bit content can: it takes no transfer encoding). Such an
    /// entity does not survive conversion to LF line breaks.
    pub fn has_bare_cr(&self) -> bool {
        self.bare_cr
    }

    /// The temporary file, positioned at its start. It is deleted when
    /// closed.
    pub fn into_file(self) -> File {
        self.file
    }
}

/// An entity whose signable or encryptable form is its own bytes: the
/// canonical `Content-*` fields, then the message body exactly as it was
/// read (see [`signable_as_is`] and [`encryptable_as_is`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityAsIs {
    /// The entity's header section: the message's `Content-*` fields, CRLF
    /// line breaks, with the empty line that ends it.
    pub header: Vec<u8>,
    /// The length of the body that follows it, in bytes.
    pub body_len: u64,
}

/// Whether the signable form of a message ([`SpooledEntity::signable`],
/// [`Envelope::signable`]) is its `Content-*` fields followed by its body
/// exactly as `body` reads it: the body already canonical (CRLF), 7-bit
/// safe and, for a multipart, closed. `observer` sees the signable form as
/// it is read, so a signer hashes it in this one pass; when the answer is
/// `None` what it saw is of no use, and the message must be spooled
/// ([`SpooledEntity::signable_observed`]).
///
/// A signer with seekable input uses this to copy the body straight from
/// the input to the output instead of through a spool.
///
/// ```
/// use mail_message::{Envelope, signable_as_is};
///
/// let header = b"From: a@example.org\r\nContent-Type: text/plain\r\n\r\n";
/// let body = b"Hello\r\n";
/// let mut seen = Vec::new();
/// let as_is = signable_as_is(header, &body[..], &mut seen)?.expect("canonical 7-bit text");
/// assert_eq!(as_is.body_len, body.len() as u64);
/// let message = [&header[..], &body[..]].concat();
/// assert_eq!(seen, Envelope::split(&message)?.signable()?);
/// assert_eq!(seen, [&as_is.header[..], &body[..]].concat());
///
/// // Bare LF line breaks are changed by canonicalisation: not as is.
/// assert!(signable_as_is(header, &b"Hello\n"[..], &mut Vec::new())?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn signable_as_is(
    header: &[u8],
    body: impl Read,
    observer: &mut dyn Write,
) -> Result<Option<EntityAsIs>, SpoolError> {
    entity_as_is(header, body, observer, Reencode::EightBitAndBinary)
}

/// Whether the encryptable form of a message
/// ([`SpooledEntity::encryptable`], [`Envelope::encryptable`]) is its
/// `Content-*` fields followed by its body exactly as `body` reads it: the
/// body already canonical (CRLF), without `binary` parts and, for a
/// multipart, closed. An encryptor with seekable input then reads the body
/// from the input instead of from a spool.
///
/// ```
/// use mail_message::encryptable_as_is;
///
/// let header = b"From: a@example.org\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n";
/// // 8-bit text is encrypted as it is.
/// let as_is = encryptable_as_is(header, "Grüße\r\n".as_bytes())?;
/// assert_eq!(as_is.map(|a| a.body_len), Some(9));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encryptable_as_is(header: &[u8], body: impl Read) -> Result<Option<EntityAsIs>, SpoolError> {
    entity_as_is(header, body, &mut io::sink(), Reencode::Binary)
}

fn entity_as_is(
    header: &[u8],
    body: impl Read,
    observer: &mut dyn Write,
    reencode: Reencode,
) -> Result<Option<EntityAsIs>, SpoolError> {
    let message = Entity::parse(header)?;
    let content_type = message.content_type()?;
    let boundary = content_type.parameter("boundary").map(str::to_owned);
    if content_type.is_multipart() && boundary.is_none() {
        return Err(MimeError::MissingBoundary.into());
    }
    // Binary content is re-encoded whatever it holds.
    if !content_type.is_multipart() && message.transfer_encoding() == "binary" {
        return Ok(None);
    }
    let mut inner_header = message.content_header();
    inner_header.extend_from_slice(message.line_break().as_bytes());
    let inner_header = canonicalize(&inner_header);
    observer.write_all(&inner_header)?;
    let mut scan = Scan::new(observer, boundary.as_deref());
    let mut canonical = CanonicalWriter::new(&mut scan);
    let body_len = io::copy(&mut BufReader::with_capacity(BUFFER, body), &mut canonical)?;
    let unchanged = canonical.is_unchanged();
    // What `SpooledEntity::spool` keeps exactly as it was written: no part
    // that may be binary, a multipart closed, and for signing no 8-bit
    // content, bare CR or overlong line.
    let seven_bit =
        reencode != Reencode::EightBitAndBinary || !(scan.needs_encoding() || scan.bare_cr);
    let as_is =
        unchanged && seven_bit && !scan.maybe_binary && (boundary.is_none() || scan.closed());
    Ok(as_is.then_some(EntityAsIs {
        header: inner_header,
        body_len,
    }))
}

/// The signable or encryptable form of a multipart message small enough to
/// hold, from its original bytes (`header`, the header section, and
/// `body`), exactly as [`Envelope::signable`] or [`Envelope::encryptable`]
/// makes it, and whether it holds a bare CR.
fn reencode_in_memory(
    header: &[u8],
    body: &[u8],
    reencode: Reencode,
) -> Result<(File, bool), SpoolError> {
    let message = [header, body].concat();
    let envelope = Envelope::split(&message)?;
    let safe = match reencode {
        Reencode::EightBitAndBinary => envelope.signable()?,
        // Spooled entities are made for signing or encryption, never in
        // the decryption form.
        Reencode::Binary | Reencode::BinaryOutsideSignatures => envelope.encryptable()?,
    };
    drop(envelope);
    drop(message);
    let mut previous = 0u8;
    let bare_cr = safe.iter().any(|&b| {
        let bare = previous == b'\r' && b != b'\n';
        previous = b;
        bare
    }) || previous == b'\r';
    let mut out = crate::stream::private_tempfile()?;
    out.write_all(&safe)?;
    Ok((out, bare_cr))
}

/// `seven_bit_safe` on a single part: its fields without
/// `Content-Transfer-Encoding`, then its body as base64.
fn reencode_leaf(
    mut spool: File,
    inner_header: &[u8],
    encoding: String,
) -> Result<File, SpoolError> {
    if encoding == "base64" || encoding == "quoted-printable" {
        return Err(MimeError::EightBitInEncodedPart { encoding }.into());
    }
    let entity = Entity::parse(inner_header)?;
    let mut out = BufWriter::with_capacity(BUFFER, crate::stream::private_tempfile()?);
    for field in entity.fields() {
        if !field.is("content-transfer-encoding") {
            out.write_all(field.raw())?;
        }
    }
    out.write_all(b"Content-Transfer-Encoding: base64\r\n\r\n")?;
    spool.seek(SeekFrom::Start(inner_header.len() as u64))?;
    let mut encoder = Base64Writer::new(out, LineBreak::Crlf);
    io::copy(&mut BufReader::with_capacity(BUFFER, spool), &mut encoder)?;
    encoder
        .finish()?
        .into_inner()
        .map_err(|error| SpoolError::Io(error.into_error()))
}

/// Passes what it is written through and keeps a copy of the first `limit`
/// bytes; a write beyond the limit drops the copy.
struct OriginalCopy<W: Write> {
    inner: W,
    copy: Option<Vec<u8>>,
    limit: u64,
}

impl<W: Write> OriginalCopy<W> {
    fn new(inner: W, limit: u64) -> OriginalCopy<W> {
        OriginalCopy {
            inner,
            copy: Some(Vec::new()),
            limit,
        }
    }

    /// The copy, unless what passed through was longer than the limit.
    fn into_copy(self) -> Option<Vec<u8>> {
        self.copy
    }
}

impl<W: Write> Write for OriginalCopy<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        let passed = buf.get(..written).unwrap_or_default();
        if let Some(copy) = &mut self.copy {
            if (copy.len() + passed.len()) as u64 > self.limit {
                self.copy = None;
            } else {
                copy.extend_from_slice(passed);
            }
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The start of a line kept to tell a `Content-Transfer-Encoding` field's
/// value.
const FIELD_HEAD: usize = 64;

/// Whether a line (its first [`FIELD_HEAD`] bytes) is a
/// `Content-Transfer-Encoding` field that may say `binary`: any value but
/// the four that need no byte-exact handling counts, so a folded or cut-off
/// value errs towards the exact path.
fn may_name_binary(line: &[u8]) -> bool {
    const NAME: &[u8] = b"content-transfer-encoding:";
    match line.get(..NAME.len()) {
        Some(name) if name.eq_ignore_ascii_case(NAME) => {
            let value = line.get(NAME.len()..).unwrap_or_default().trim_ascii();
            !["7bit", "8bit", "base64", "quoted-printable"]
                .iter()
                .any(|known| value.eq_ignore_ascii_case(known.as_bytes()))
        }
        _ => false,
    }
}

/// Notes whether data written to it holds a line that may be a
/// `Content-Transfer-Encoding: binary` field (any value but `7bit`, `8bit`,
/// `base64` and `quoted-printable` counts, so a folded value errs towards
/// yes). A decryptor streams a decrypted entity through it to learn whether
/// [`crate::without_binary_parts`] may have anything to do.
///
/// ```
/// use std::io::Write;
/// use mail_message::BinaryFieldScan;
///
/// let mut scan = BinaryFieldScan::default();
/// scan.write_all(b"Content-Type: application/pdf\r\nContent-Transfer-Enc")?;
/// scan.write_all(b"oding: binary\r\n\r\n%PDF")?;
/// assert!(scan.found());
///
/// let mut scan = BinaryFieldScan::default();
/// scan.write_all(b"Content-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n")?;
/// assert!(!scan.found());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct BinaryFieldScan {
    /// The start of the current line, up to [`FIELD_HEAD`] bytes, while it
    /// can still be the field.
    line_head: Vec<u8>,
    /// Whether the current line can still be the field (starts with `C`).
    candidate: bool,
    found: bool,
}

impl Default for BinaryFieldScan {
    fn default() -> Self {
        BinaryFieldScan {
            line_head: Vec::with_capacity(FIELD_HEAD),
            candidate: true,
            found: false,
        }
    }
}

impl BinaryFieldScan {
    /// Whether such a line was written (the last one counts without its
    /// line break).
    pub fn found(&self) -> bool {
        self.found || (self.candidate && may_name_binary(&self.line_head))
    }

    /// A piece of the current line.
    fn piece(&mut self, piece: &[u8]) {
        if !self.candidate {
            return;
        }
        if self.line_head.is_empty() && !matches!(piece.first(), Some(b'C' | b'c') | None) {
            self.candidate = false;
            return;
        }
        let take = FIELD_HEAD
            .saturating_sub(self.line_head.len())
            .min(piece.len());
        self.line_head
            .extend_from_slice(piece.get(..take).unwrap_or_default());
    }
}

impl Write for BinaryFieldScan {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.found {
            return Ok(buf.len());
        }
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', buf) {
            self.piece(buf.get(start..end).unwrap_or_default());
            if self.candidate && may_name_binary(&self.line_head) {
                self.found = true;
                return Ok(buf.len());
            }
            self.line_head.clear();
            self.candidate = true;
            start = end + 1;
        }
        self.piece(buf.get(start..).unwrap_or_default());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Passes the canonical body through and notes what
/// [`crate::seven_bit_safe`] decides on: whether the body needs a transfer
/// encoding (8-bit bytes, NUL, bare CR, lines over 998 octets), whether a
/// part may be `binary` and, for a multipart, whether its closing delimiter
/// line occurs.
/// Writes to the spool and shows the observer the same bytes.
struct Tee<'o> {
    spool: BufWriter<File>,
    observer: Option<&'o mut dyn Write>,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.spool.write(buf)?;
        if let Some(observer) = self.observer.as_mut() {
            observer.write_all(buf.get(..written).unwrap_or_default())?;
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.spool.flush()
    }
}

struct Scan<W: Write> {
    inner: W,
    line_length: usize,
    previous: u8,
    eight_bit: bool,
    /// A CR not followed by LF.
    bare_cr: bool,
    /// `--BOUNDARY--` when the entity is a multipart.
    closing: Option<Vec<u8>>,
    /// The start of the current line, up to the closing delimiter's length.
    line_start: Vec<u8>,
    /// Whether the current line after `line_start` is all white space.
    rest_blank: bool,
    closed: bool,
    /// The start of the current line, up to [`FIELD_HEAD`] bytes.
    field_head: Vec<u8>,
    /// A line that may be `Content-Transfer-Encoding: binary` occurred.
    maybe_binary: bool,
    /// Whether the current line can be a delimiter or a field (starts with
    /// `-` or `C`/`c`): others need no look at their start.
    candidate: bool,
}

impl<W: Write> Scan<W> {
    fn new(inner: W, boundary: Option<&str>) -> Scan<W> {
        Scan {
            inner,
            line_length: 0,
            previous: 0,
            eight_bit: false,
            bare_cr: false,
            closing: boundary.map(|b| [b"--", b.as_bytes(), b"--"].concat()),
            line_start: Vec::new(),
            rest_blank: true,
            closed: false,
            field_head: Vec::new(),
            maybe_binary: false,
            candidate: true,
        }
    }

    fn needs_encoding(&self) -> bool {
        self.eight_bit || self.previous == b'\r'
    }

    /// Whether the closing delimiter occurred (the last line counts even
    /// without a line break, as for `Multipart::split`).
    fn closed(&self) -> bool {
        self.closed || self.line_closes()
    }

    fn line_closes(&self) -> bool {
        self.rest_blank
            && self.closing.as_ref().is_some_and(|closing| {
                self.line_start.len() == closing.len() && self.line_start == *closing
            })
    }
}

impl<W: Write> Scan<W> {
    /// One piece of a line (all of it, or up to the end of a write): its
    /// length, and its start for the delimiter and field checks, which only
    /// lines starting with `-` or `C`/`c` can pass.
    fn line_piece(&mut self, segment: &[u8], limit: usize) {
        let at_line_start = self.line_length == 0;
        self.line_length += segment.len();
        if self.line_length > 998 {
            self.eight_bit = true;
        }
        if at_line_start {
            self.candidate = matches!(segment.first(), Some(b'-' | b'C' | b'c') | None);
        } else if segment.is_empty() {
            return;
        }
        if !self.candidate {
            return;
        }
        let take = limit
            .saturating_sub(self.line_start.len())
            .min(segment.len());
        let (head, tail) = segment.split_at(take);
        self.line_start.extend_from_slice(head);
        let field_take = FIELD_HEAD
            .saturating_sub(self.field_head.len())
            .min(segment.len());
        self.field_head
            .extend_from_slice(segment.get(..field_take).unwrap_or_default());
        if self.rest_blank && !tail.iter().all(u8::is_ascii_whitespace) {
            self.rest_blank = false;
        }
    }

    /// The end of a line.
    fn line_end(&mut self) {
        if self.candidate {
            if self.line_closes() {
                self.closed = true;
            }
            if may_name_binary(&self.field_head) {
                self.maybe_binary = true;
            }
        }
        self.field_head.clear();
        self.line_length = 0;
        self.line_start.clear();
        self.rest_blank = true;
        self.candidate = true;
    }
}

impl<W: Write> Write for Scan<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        let data = buf.get(..written).unwrap_or_default();
        let Some(&last) = data.last() else {
            return Ok(0);
        };
        let limit = self.closing.as_ref().map_or(0, Vec::len);
        // 8-bit bytes, NUL and CRs over the whole write at once (word-wise
        // and memchr's SIMD search); lines are found with memchr too.
        self.eight_bit |= !data.is_ascii() || memchr::memchr(0, data).is_some();
        let carriage_returns = memchr::memchr_iter(b'\r', data).count();
        // Every CR must be the last byte before an LF: count those pairs.
        // A CR that ended the previous write pairs with an LF starting this
        // one; one that ends this write is judged with the next.
        let mut paired = 0usize;
        let mut begin = 0;
        for newline in memchr::memchr_iter(b'\n', data) {
            let before = match newline.checked_sub(1) {
                Some(index) => data.get(index).copied(),
                None => Some(self.previous),
            };
            paired += usize::from(before == Some(b'\r'));
            self.line_piece(data.get(begin..newline).unwrap_or_default(), limit);
            self.line_end();
            begin = newline + 1;
        }
        self.line_piece(data.get(begin..).unwrap_or_default(), limit);
        let judged =
            carriage_returns - usize::from(last == b'\r') + usize::from(self.previous == b'\r');
        if judged != paired {
            self.bare_cr = true;
        }
        if self.bare_cr {
            self.eight_bit = true;
        }
        self.previous = last;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn scan(body: &[u8], boundary: Option<&str>) -> (bool, bool) {
        let mut results = Vec::new();
        for size in [1, 2, 3, 7, body.len().max(1)] {
            let mut scan = Scan::new(Vec::new(), boundary);
            for piece in body.chunks(size) {
                scan.write_all(piece).unwrap();
            }
            assert_eq!(scan.inner, body);
            results.push((scan.needs_encoding(), scan.closed()));
        }
        assert!(results.windows(2).all(|w| w[0] == w[1]), "{results:?}");
        results[0]
    }

    #[test]
    fn scan_decides_like_seven_bit_safe() {
        assert_eq!(scan(b"plain\r\ntext\r\n", None), (false, false));
        assert!(scan("Grüße\r\n".as_bytes(), None).0);
        assert!(scan(b"nul\0\r\n", None).0);
        assert!(scan(b"bare\rcr\r\n", None).0);
        assert!(scan(b"ends in cr\r", None).0);
        assert!(scan(b"cr\r\r\n", None).0);
        assert!(scan(b"cr\r\nthen \r\n\rx\r\n", None).0);
        assert!(!scan(b"crlf\r\n\r\nonly\r\n", None).0);
        assert!(!scan(&[&[b'x'; 996][..], b"\r\n"].concat(), None).0);
        assert!(scan(&[&[b'x'; 998][..], b"\r\n"].concat(), None).0);
        assert!(!scan(&[b'x'; 998], None).0);
        assert!(scan(&[b'x'; 999], None).0);
    }

    #[test]
    fn scan_finds_the_closing_delimiter_on_its_own_line() {
        let b = Some("b");
        assert!(scan(b"--b\r\nx\r\n--b--\r\n", b).1);
        assert!(scan(b"--b\r\nx\r\n--b--  \r\nepilogue", b).1);
        assert!(scan(b"--b\r\nx\r\n--b--", b).1);
        assert!(!scan(b"--b\r\nx --b--\r\n", b).1);
        assert!(!scan(b"--b\r\nx\r\n--b--x\r\n", b).1);
        assert!(!scan(b"--b\r\nx\r\n--b\r\n", b).1);
        assert!(!scan(b"--b\r\nx\r\n--bb--\r\n", b).1);
    }

    #[test]
    fn binary_fields_are_noticed_in_any_spelling() {
        let binary = |body: &[u8]| {
            let mut scan = Scan::new(Vec::new(), Some("b"));
            for piece in body.chunks(5) {
                scan.write_all(piece).unwrap();
            }
            scan.maybe_binary
        };
        assert!(binary(
            b"--b\r\nContent-Transfer-Encoding: binary\r\n\r\nx\r\n"
        ));
        assert!(binary(
            b"--b\r\ncontent-transfer-encoding:BINARY  \r\n\r\nx\r\n"
        ));
        // Folded or unknown values take the exact path too.
        assert!(binary(
            b"--b\r\nContent-Transfer-Encoding:\r\n binary\r\n\r\nx\r\n"
        ));
        assert!(!binary(
            b"--b\r\nContent-Transfer-Encoding: base64\r\n\r\nAA==\r\n"
        ));
        assert!(!binary(
            b"--b\r\nContent-Transfer-Encoding: 8bit\r\n\r\nx\r\n"
        ));
        assert!(!binary(
            b"--b\r\nX-Content-Transfer-Encoding: binary\r\n\r\nx\r\n"
        ));
    }

    fn spooled(message: &[u8]) -> Result<(Vec<u8>, bool), SpoolError> {
        spooled_as(message, Reencode::EightBitAndBinary)
    }

    /// The header section (with the empty line) and the body.
    fn split_at_body(message: &[u8]) -> (&[u8], &[u8]) {
        let end = message
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|at| at + 4)
            .or_else(|| {
                message
                    .windows(2)
                    .position(|w| w == b"\n\n")
                    .map(|at| at + 2)
            })
            .unwrap();
        message.split_at(end)
    }

    fn spooled_as(message: &[u8], reencode: Reencode) -> Result<(Vec<u8>, bool), SpoolError> {
        let (header, body) = split_at_body(message);
        let mut seen = Vec::new();
        let (spooled, exact) = SpooledEntity::spool(header, body, reencode, Some(&mut seen))?;
        let bare_cr = spooled.has_bare_cr();
        let mut out = Vec::new();
        spooled.into_file().read_to_end(&mut out)?;
        // The observer saw the spool exactly when the spool was not
        // re-encoded afterwards.
        assert_eq!(exact, seen == out, "exact {exact}");
        if reencode == Reencode::EightBitAndBinary {
            // Signable as is: the spool is the canonical header and the
            // body as it was read, and the observer saw just that.
            let mut seen_as_is = Vec::new();
            if let Some(as_is) = signable_as_is(header, body, &mut seen_as_is)? {
                assert!(exact);
                assert_eq!(as_is.body_len, body.len() as u64);
                assert_eq!([&as_is.header[..], body].concat(), out);
                assert_eq!(seen_as_is, out);
            }
        } else if let Some(as_is) = encryptable_as_is(header, body)? {
            assert_eq!(as_is.body_len, body.len() as u64);
            assert_eq!([&as_is.header[..], body].concat(), out);
        }
        Ok((out, bare_cr))
    }

    #[test]
    fn spooled_entity_is_what_signable_and_encryptable_return() {
        let messages: [&[u8]; 8] = [
            b"Subject: s\r\nContent-Type: text/plain\r\n\r\nHello\r\n",
            b"Subject: s\nContent-Type: text/plain\n\nLF only\nlines\n",
            "Subject: s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße\r\n".as_bytes(),
            b"Subject: s\nContent-Type: application/pdf\nContent-Transfer-Encoding: binary\n\n\x00\n\xff\r\n\r",
            b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n",
            b"Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\ntext\n--b\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n\x01\n\x02\r\n\xfe\n--b--\n",
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: 8bit\r\n\r\nü\r\n--b--\r\n".as_bytes(),
            b"Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\nbody\r\n",
        ];
        for message in messages {
            let envelope = Envelope::split(message).unwrap();
            let (entity, bare_cr) = spooled(message).unwrap();
            // Canonical, 7-bit, closed: signable as is (the helper checks
            // that as is means the same bytes).
            let (header, body) = split_at_body(message);
            let as_is = signable_as_is(header, body, &mut Vec::new()).unwrap();
            assert_eq!(
                as_is.is_some(),
                [0, 4, 7].iter().any(|&i| message == messages[i]),
                "{}",
                String::from_utf8_lossy(message)
            );
            // Encrypted as is also with 8-bit content (2, 6), not with LF
            // line breaks or binary parts.
            let as_is = encryptable_as_is(header, body).unwrap();
            assert_eq!(
                as_is.is_some(),
                [0, 2, 4, 6, 7].iter().any(|&i| message == messages[i]),
                "{}",
                String::from_utf8_lossy(message)
            );
            assert_eq!(
                entity,
                envelope.signable().unwrap(),
                "{}",
                String::from_utf8_lossy(message)
            );
            assert!(!bare_cr);
            let (entity, _) = spooled_as(message, Reencode::Binary).unwrap();
            assert_eq!(
                entity,
                envelope.encryptable().unwrap(),
                "{}",
                String::from_utf8_lossy(message)
            );
            // Encryption re-encodes nothing but binary parts.
            if !message.windows(6).any(|w| w == b"binary") {
                assert_eq!(entity, envelope.inner());
            }
        }
    }

    #[test]
    fn binary_leaf_keeps_every_byte() {
        let payload = b"\x00\n\r\n\r\xff\n\n";
        let message = [
            b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n"
                .as_slice(),
            payload,
        ]
        .concat();
        for reencode in [Reencode::EightBitAndBinary, Reencode::Binary] {
            let (entity, _) = spooled_as(&message, reencode).unwrap();
            let body_at = entity.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            let decoded = crate::decode_base64(&entity[body_at..]).unwrap();
            assert_eq!(decoded, payload);
        }
    }

    #[test]
    fn bare_cr_in_a_message_part_is_reported() {
        let message = b"Content-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\nbare\rcr\r\n";
        let (_, bare_cr) = spooled(message).unwrap();
        assert!(bare_cr);
    }

    #[test]
    fn broken_structure_is_an_error() {
        let unterminated = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n";
        assert!(matches!(
            spooled(unterminated),
            Err(SpoolError::Mime(MimeError::UnterminatedMultipart { .. }))
        ));
        let no_boundary = b"Content-Type: multipart/mixed\r\n\r\nx\r\n";
        assert!(matches!(
            spooled(no_boundary),
            Err(SpoolError::Mime(MimeError::MissingBoundary))
        ));
        let large = [
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: 8bit\r\n\r\n".as_bytes(),
            &"ü".repeat(MAX_REENCODE_IN_MEMORY as usize / 2 + 1).into_bytes(),
            b"\r\n--b--\r\n",
        ]
        .concat();
        assert!(matches!(
            spooled(&large),
            Err(SpoolError::ReencodeTooLarge { .. })
        ));
        // 8-bit text is encrypted as it is, at any size; a binary part in a
        // large multipart is not.
        assert!(spooled_as(&large, Reencode::Binary).is_ok());
        let large_binary = [
            b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: binary\r\n\r\n".as_slice(),
            &vec![0xff; MAX_REENCODE_IN_MEMORY as usize + 1],
            b"\r\n--b--\r\n",
        ]
        .concat();
        assert!(matches!(
            spooled_as(&large_binary, Reencode::Binary),
            Err(SpoolError::ReencodeTooLarge { .. })
        ));
    }
}
