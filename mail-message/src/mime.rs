//! MIME entities, content types, multiparts and the canonical form, on raw
//! bytes (see the crate documentation).

use base64ct::{Base64, Encoding};

/// What is wrong with a message or MIME entity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MimeError {
    /// A header line is neither a field (`Name: value`) nor a continuation.
    #[error("line {line} of the header section is not a header field (`Name: value`)")]
    MalformedHeader {
        /// 1-based line number within the entity.
        line: usize,
    },
    /// A bare carriage return or a NUL inside a header line. RFC 5322
    /// allows neither; a reader that takes a lone CR for a line end would
    /// see header fields that this parse does not (a forged result field
    /// hidden in the value of another), so such a header section is refused
    /// instead of carried on.
    #[error("line {line} of the header section contains {character}, which RFC 5322 forbids")]
    ControlInHeader {
        /// 1-based line number within the entity.
        line: usize,
        /// "a bare carriage return" or "a NUL byte".
        character: &'static str,
    },
    /// A `Content-Type` value that does not follow RFC 2045.
    #[error("malformed Content-Type `{value}`")]
    MalformedContentType {
        /// The field value as found.
        value: String,
    },
    /// A multipart entity without a `boundary` parameter.
    #[error("multipart Content-Type without a boundary parameter")]
    MissingBoundary,
    /// A multipart body whose closing delimiter `--boundary--` never comes.
    #[error("multipart body with boundary `{boundary}` is not terminated")]
    UnterminatedMultipart {
        /// The boundary.
        boundary: String,
    },
    /// A body declared base64 that is not.
    #[error("body is not valid base64")]
    Base64,
    /// A body that is neither S/MIME nor what the operation expects.
    #[error("{expected} expected, found Content-Type {found}")]
    UnexpectedContentType {
        /// What the operation needs.
        expected: &'static str,
        /// What the message has.
        found: String,
    },
    /// A part that declares base64 or quoted-printable but carries 8-bit
    /// bytes: corrupt, and no transfer encoding can make it safe unchanged.
    #[error("a part declared {encoding} contains 8-bit data")]
    EightBitInEncodedPart {
        /// The declared transfer encoding.
        encoding: String,
    },
    /// Nesting deeper than [`MAX_DEPTH`].
    #[error("MIME structure nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A field RFC 5322 or RFC 2045 allows once appears more than once
    /// (see [`crate::tree`] for which, and why such mail is refused).
    #[error(transparent)]
    DuplicateField(#[from] crate::tree::DuplicateField),
    /// A `Content-Disposition` value that does not follow RFC 2183.
    #[error("malformed Content-Disposition `{value}`")]
    MalformedDisposition {
        /// The field value as found.
        value: String,
    },
}

/// How deeply multiparts may nest before we refuse the input.
pub const MAX_DEPTH: usize = 32;

/// One header field, as found in the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field<'a> {
    raw: &'a [u8],
    name: &'a [u8],
    value: &'a [u8],
}

impl<'a> Field<'a> {
    /// The field name as written (compare with [`Field::is`]).
    pub fn name(&self) -> &'a [u8] {
        self.name
    }

    /// Whether this is the field `name` (names are case-insensitive).
    pub fn is(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name.as_bytes())
    }

    /// The raw value after the colon, folding included.
    pub fn raw_value(&self) -> &'a [u8] {
        self.value
    }

    /// The value unfolded (line breaks removed) and trimmed, lossily decoded
    /// as UTF-8.
    pub fn value(&self) -> String {
        let unfolded: Vec<u8> = self
            .value
            .iter()
            .copied()
            .filter(|b| *b != b'\r' && *b != b'\n')
            .collect();
        String::from_utf8_lossy(&unfolded).trim().to_owned()
    }

    /// The whole field including its line break(s), exactly as in the input.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Whether the field describes the entity's content (`Content-*`) rather
    /// than the message (`From`, `Subject`, ...).
    pub fn is_content_field(&self) -> bool {
        self.name
            .get(..8)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"content-"))
    }
}

/// A MIME entity (a message or a body part): header fields and a body, both
/// slices of the input.
///
/// ```
/// use mail_message::Entity;
///
/// let entity = Entity::parse(b"Content-Type: text/plain\r\nSubject: hi\r\n\r\nHello\r\n")?;
/// assert_eq!(entity.field("subject").map(|f| f.value()), Some("hi".to_owned()));
/// assert_eq!(entity.content_type()?.mime_type(), "text/plain");
/// assert_eq!(entity.body(), b"Hello\r\n");
/// # Ok::<(), mail_message::MimeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity<'a> {
    raw: &'a [u8],
    fields: Vec<Field<'a>>,
    body: &'a [u8],
    line_break: LineBreak,
}

/// The line break style of an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineBreak {
    /// `\r\n`, as on the wire.
    Crlf,
    /// `\n`, as in files on Unix.
    Lf,
}

impl LineBreak {
    /// The bytes.
    pub fn as_bytes(self) -> &'static [u8] {
        match self {
            LineBreak::Crlf => b"\r\n",
            LineBreak::Lf => b"\n",
        }
    }
}

impl<'a> Entity<'a> {
    /// Splits `input` into header fields and body at the first empty line.
    ///
    /// An entity without an empty line is all header (an empty body); one
    /// that starts with an empty line has no header fields (a body part that
    /// is `text/plain; charset=us-ascii` by default).
    pub fn parse(input: &'a [u8]) -> Result<Entity<'a>, MimeError> {
        // Fields as (start, name end, end) offsets; continuation lines move
        // the end of the last one.
        let mut spans: Vec<(usize, usize, usize)> = Vec::new();
        let mut position = 0;
        let mut line_number = 0;
        let mut line_break = None;
        let mut body_start = input.len();
        while position < input.len() {
            line_number += 1;
            let rest = input.get(position..).unwrap_or_default();
            let (line_len, break_len) = match memchr(b'\n', rest) {
                Some(n) => {
                    let cr = n > 0 && rest.get(n - 1) == Some(&b'\r');
                    line_break.get_or_insert(if cr { LineBreak::Crlf } else { LineBreak::Lf });
                    (n - usize::from(cr), 1 + usize::from(cr))
                }
                None => (rest.len(), 0),
            };
            let line = rest.get(..line_len).unwrap_or_default();
            let end = position + line_len + break_len;
            if line.is_empty() {
                body_start = end;
                break;
            }
            // The line's own CR before its LF is not in `line`: any CR left
            // is a bare one.
            if let Some(&control) = line.iter().find(|&&b| b == b'\r' || b == 0) {
                return Err(MimeError::ControlInHeader {
                    line: line_number,
                    character: if control == 0 {
                        "a NUL byte"
                    } else {
                        "a bare carriage return"
                    },
                });
            }
            if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
                let last = spans
                    .last_mut()
                    .ok_or(MimeError::MalformedHeader { line: line_number })?;
                last.2 = end;
            } else {
                let colon = memchr(b':', line)
                    .filter(|&c| c > 0)
                    .ok_or(MimeError::MalformedHeader { line: line_number })?;
                let name = line.get(..colon).unwrap_or_default();
                if name.iter().any(|b| !(33..=126).contains(b)) {
                    return Err(MimeError::MalformedHeader { line: line_number });
                }
                spans.push((position, position + colon, end));
            }
            position = end;
        }
        let fields = spans
            .into_iter()
            .map(|(start, name_end, end)| Field {
                raw: input.get(start..end).unwrap_or_default(),
                name: input.get(start..name_end).unwrap_or_default(),
                value: input.get(name_end + 1..end).unwrap_or_default(),
            })
            .collect();
        Ok(Entity {
            raw: input,
            fields,
            body: input.get(body_start..).unwrap_or_default(),
            line_break: line_break.unwrap_or(LineBreak::Crlf),
        })
    }

    /// The header fields in order.
    pub fn fields(&self) -> &[Field<'a>] {
        &self.fields
    }

    /// The first field called `name`.
    pub fn field(&self, name: &str) -> Option<&Field<'a>> {
        self.fields.iter().find(|f| f.is(name))
    }

    /// How many fields called `name` there are.
    pub fn count(&self, name: &str) -> usize {
        self.fields.iter().filter(|f| f.is(name)).count()
    }

    /// The body: everything after the empty line.
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The entity exactly as in the input.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The message fields for a new body: every field except `Content-*`
    /// and `MIME-Version`, then `MIME-Version: 1.0` (written once, right
    /// before the new entity's fields), in the input's line-break style.
    pub fn outer_header(&self) -> Vec<u8> {
        let mut out = header_bytes(self, |f| !f.is_content_field() && !f.is("mime-version"));
        // A header section cut off without its last line break (a message
        // that is all header) must not get `MIME-Version` glued onto its
        // last field's value.
        if out.last().is_some_and(|b| *b != b'\n') {
            out.extend_from_slice(self.line_break.as_bytes());
        }
        out.extend_from_slice(b"MIME-Version: 1.0");
        out.extend_from_slice(self.line_break.as_bytes());
        out
    }

    /// The `Content-*` fields, as in the input.
    pub fn content_header(&self) -> Vec<u8> {
        header_bytes(self, |f| f.is_content_field())
    }

    /// The line break the header section uses.
    pub fn line_break(&self) -> LineBreak {
        self.line_break
    }

    /// The content type; `text/plain; charset=us-ascii` when the field is
    /// absent (RFC 2045 section 5.2).
    ///
    /// Two or more `Content-Type` fields are an error
    /// ([`MimeError::DuplicateField`]), never "the first" or "the last":
    /// readers disagree on which one counts, and a signature verified over
    /// one reading must not be shown to a reader who takes the other.
    ///
    /// ```
    /// let entity = mail_message::Entity::parse(
    ///     b"Content-Type: text/plain\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n",
    /// )?;
    /// assert!(matches!(entity.content_type(), Err(mail_message::MimeError::DuplicateField(_))));
    /// # Ok::<(), mail_message::MimeError>(())
    /// ```
    pub fn content_type(&self) -> Result<ContentType, MimeError> {
        let count = self.count("content-type");
        if count > 1 {
            return Err(crate::tree::DuplicateField {
                field: "Content-Type",
                count,
                place: crate::tree::Place::Entity,
            }
            .into());
        }
        match self.field("content-type") {
            Some(field) => ContentType::parse(&field.value()),
            None => Ok(ContentType::default()),
        }
    }

    /// The content transfer encoding, lower case; `7bit` when absent.
    pub fn transfer_encoding(&self) -> String {
        self.field("content-transfer-encoding")
            .map(|f| f.value().to_ascii_lowercase())
            .unwrap_or_else(|| "7bit".to_owned())
    }

    /// The body with its content transfer encoding removed (base64 only;
    /// other encodings are returned as they are, which is what S/MIME
    /// bodies use).
    pub fn decoded_body(&self) -> Result<Vec<u8>, MimeError> {
        if self.transfer_encoding() == "base64" {
            decode_base64(self.body)
        } else {
            Ok(self.body.to_vec())
        }
    }
}

/// Decodes base64 the way mail carries it: in lines, with whitespace.
pub fn decode_base64(text: &[u8]) -> Result<Vec<u8>, MimeError> {
    let compact: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    Base64::decode_vec(&String::from_utf8_lossy(&compact)).map_err(|_| MimeError::Base64)
}

/// Encodes base64 in lines of 76 characters, each ending in `line_break`.
pub fn encode_base64(data: &[u8], line_break: LineBreak) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 3 * 4 + data.len() / 57 * 2 + 4);
    for chunk in data.chunks(57) {
        push_base64_line(&mut out, chunk, line_break, false);
    }
    out
}

/// Appends one line of base64 for `chunk` (at most 57 bytes, which make
/// 76 characters) and `line_break` to `out`, without allocating.
///
/// `public` data (ciphertext, signatures) takes the `base64` crate's
/// table-driven encoder, about twice as fast; anything else `base64ct`'s,
/// whose memory accesses do not depend on the data.
pub(crate) fn push_base64_line(
    out: &mut Vec<u8>,
    chunk: &[u8],
    line_break: LineBreak,
    public: bool,
) {
    use base64::Engine as _;
    let mut text = [0u8; 76];
    // 76 characters always hold 57 bytes; a longer chunk is a caller's bug
    // and is encoded the slow way rather than cut.
    let encoded = if public {
        base64::engine::general_purpose::STANDARD
            .encode_slice(chunk, &mut text)
            .ok()
            .and_then(|length| text.get(..length))
    } else {
        Base64::encode(chunk, &mut text).ok().map(str::as_bytes)
    };
    match encoded {
        Some(encoded) => out.extend_from_slice(encoded),
        None => out.extend_from_slice(Base64::encode_string(chunk).as_bytes()),
    }
    out.extend_from_slice(line_break.as_bytes());
}

/// A parsed `Content-Type` value: type, subtype and parameters.
///
/// ```
/// use mail_message::ContentType;
///
/// let ct = ContentType::parse(r#"multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256; boundary="b 1""#)?;
/// assert_eq!(ct.mime_type(), "multipart/signed");
/// assert_eq!(ct.parameter("Boundary"), Some("b 1"));
/// # Ok::<(), mail_message::MimeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    mime_type: String,
    parameters: Vec<(String, String)>,
}

impl Default for ContentType {
    fn default() -> Self {
        ContentType {
            mime_type: "text/plain".to_owned(),
            parameters: vec![("charset".to_owned(), "us-ascii".to_owned())],
        }
    }
}

impl ContentType {
    /// Parses a field value (RFC 2045 section 5.1; comments are skipped).
    pub fn parse(value: &str) -> Result<ContentType, MimeError> {
        let malformed = || MimeError::MalformedContentType {
            value: value.to_owned(),
        };
        let mut scanner = Scanner::new(value);
        let main = scanner.token().ok_or_else(malformed)?;
        if !scanner.eat(b'/') {
            return Err(malformed());
        }
        let sub = scanner.token().ok_or_else(malformed)?;
        let parameters = scanner.parameters().ok_or_else(malformed)?;
        Ok(ContentType {
            mime_type: format!("{}/{}", main.to_ascii_lowercase(), sub.to_ascii_lowercase()),
            parameters,
        })
    }

    /// `type/subtype`, lower case.
    pub fn mime_type(&self) -> &str {
        &self.mime_type
    }

    /// Whether the type is `multipart/*`.
    pub fn is_multipart(&self) -> bool {
        self.mime_type.starts_with("multipart/")
    }

    /// Every parameter as `(lower-case name, value)`, in input order.
    pub fn parameters(&self) -> &[(String, String)] {
        &self.parameters
    }

    /// A parameter's value; names are case-insensitive.
    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A cursor over a structured header value (RFC 5322 CFWS, RFC 2045 tokens).
struct Scanner<'a> {
    text: &'a [u8],
    position: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Scanner {
            text: text.as_bytes(),
            position: 0,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.position).copied()
    }

    fn skip_cfws(&mut self) {
        loop {
            match self.peek() {
                Some(b) if b.is_ascii_whitespace() => self.position += 1,
                Some(b'(') => {
                    let mut depth = 0usize;
                    while let Some(b) = self.peek() {
                        self.position += 1;
                        match b {
                            b'\\' => self.position += 1,
                            b'(' => depth += 1,
                            b')' => {
                                depth = depth.saturating_sub(1);
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => return,
            }
        }
    }

    /// `*(";" name "=" value)` to the end, names in lower case; `None`
    /// if the rest is not that.
    fn parameters(&mut self) -> Option<Vec<(String, String)>> {
        let mut parameters = Vec::new();
        loop {
            if self.at_end() {
                break;
            }
            if !self.eat(b';') {
                return None;
            }
            if self.at_end() {
                break; // a trailing semicolon, common in the wild
            }
            let name = self.token()?;
            if !self.eat(b'=') {
                return None;
            }
            let value = self.quoted_string().or_else(|| self.token())?;
            parameters.push((name.to_ascii_lowercase(), value));
        }
        Some(parameters)
    }

    fn at_end(&mut self) -> bool {
        self.skip_cfws();
        self.position >= self.text.len()
    }

    fn eat(&mut self, byte: u8) -> bool {
        self.skip_cfws();
        if self.peek() == Some(byte) {
            self.position += 1;
            true
        } else {
            false
        }
    }

    fn token(&mut self) -> Option<String> {
        self.skip_cfws();
        let start = self.position;
        while let Some(b) = self.peek() {
            if b <= b' ' || b >= 127 || b"()<>@,;:\\\"/[]?=".contains(&b) {
                break;
            }
            self.position += 1;
        }
        let token = self.text.get(start..self.position)?;
        (!token.is_empty()).then(|| String::from_utf8_lossy(token).into_owned())
    }

    fn quoted_string(&mut self) -> Option<String> {
        self.skip_cfws();
        if self.peek() != Some(b'"') {
            return None;
        }
        self.position += 1;
        let mut value = Vec::new();
        loop {
            let b = self.peek()?;
            self.position += 1;
            match b {
                b'"' => return Some(String::from_utf8_lossy(&value).into_owned()),
                b'\\' => {
                    value.push(self.peek()?);
                    self.position += 1;
                }
                _ => value.push(b),
            }
        }
    }
}

/// A `Content-Disposition` value (RFC 2183): the disposition type in
/// lower case and the parameters as `(lower-case name, value)`.
pub(crate) fn parse_disposition(value: &str) -> Result<(String, Vec<(String, String)>), MimeError> {
    let malformed = || MimeError::MalformedDisposition {
        value: value.to_owned(),
    };
    let mut scanner = Scanner::new(value);
    let kind = scanner.token().ok_or_else(malformed)?;
    let parameters = scanner.parameters().ok_or_else(malformed)?;
    Ok((kind.to_ascii_lowercase(), parameters))
}

/// The body parts of a multipart body (RFC 2046 section 5.1.1).
///
/// ```
/// use mail_message::Multipart;
///
/// let body = b"preamble\r\n--b\r\nfirst\r\n--b\r\nsecond\r\n--b--\r\nepilogue\r\n";
/// let multipart = Multipart::split(body, "b")?;
/// assert_eq!(multipart.parts(), &[&b"first"[..], &b"second"[..]]);
/// # Ok::<(), mail_message::MimeError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart<'a> {
    preamble: &'a [u8],
    parts: Vec<&'a [u8]>,
    epilogue: &'a [u8],
}

impl<'a> Multipart<'a> {
    /// Splits `body` at the delimiter lines of `boundary`.
    ///
    /// Each part excludes the line break that precedes the next delimiter: it
    /// belongs to the delimiter, so a signed part is exactly the bytes that
    /// were signed (RFC 1847 section 2.1).
    pub fn split(body: &'a [u8], boundary: &str) -> Result<Multipart<'a>, MimeError> {
        match Multipart::split_lenient(body, boundary) {
            (multipart, true) => Ok(multipart),
            (_, false) => Err(MimeError::UnterminatedMultipart {
                boundary: boundary.to_owned(),
            }),
        }
    }

    /// [`Multipart::split`] for a reader that must see every byte even of a
    /// body whose closing delimiter never comes: then the last part runs to
    /// the end of `body`, and the flag is false. (The policy reads mail this
    /// way; signing and verification refuse it.)
    ///
    /// ```
    /// let (multipart, terminated) = mail_message::Multipart::split_lenient(b"--b\r\none\r\n--b\r\ntwo\r\n", "b");
    /// assert_eq!(multipart.parts(), &[&b"one"[..], &b"two\r\n"[..]]);
    /// assert!(!terminated);
    /// ```
    pub fn split_lenient(body: &'a [u8], boundary: &str) -> (Multipart<'a>, bool) {
        let delimiter = [b"--", boundary.as_bytes()].concat();
        let mut parts = Vec::new();
        let mut preamble: Option<&[u8]> = None;
        let mut part_start = 0;
        let mut line_start = 0;
        while line_start <= body.len() {
            let rest = body.get(line_start..).unwrap_or_default();
            let line_end = memchr(b'\n', rest).map_or(body.len(), |n| line_start + n + 1);
            let line = body.get(line_start..line_end).unwrap_or_default();
            if let Some(after) = line.strip_prefix(delimiter.as_slice()) {
                let closing = after.starts_with(b"--");
                let padding = if closing { after.get(2..) } else { Some(after) };
                if padding
                    .unwrap_or_default()
                    .iter()
                    .all(u8::is_ascii_whitespace)
                {
                    // The line break before the delimiter is part of it.
                    let mut content_end = line_start;
                    if content_end > part_start && body.get(content_end - 1) == Some(&b'\n') {
                        content_end -= 1;
                        if content_end > part_start && body.get(content_end - 1) == Some(&b'\r') {
                            content_end -= 1;
                        }
                    }
                    let content = body.get(part_start..content_end).unwrap_or_default();
                    match preamble {
                        None => preamble = Some(content),
                        Some(_) => parts.push(content),
                    }
                    part_start = line_end;
                    if closing {
                        let multipart = Multipart {
                            preamble: preamble.unwrap_or_default(),
                            parts,
                            epilogue: body.get(line_end..).unwrap_or_default(),
                        };
                        return (multipart, true);
                    }
                }
            }
            if line_end == body.len() {
                break;
            }
            line_start = line_end;
        }
        let rest = body.get(part_start..).unwrap_or_default();
        let preamble = match preamble {
            None => rest,
            Some(preamble) => {
                parts.push(rest);
                preamble
            }
        };
        let multipart = Multipart {
            preamble,
            parts,
            epilogue: &[],
        };
        (multipart, false)
    }

    /// The text before the first delimiter (ignored by MIME readers).
    pub fn preamble(&self) -> &'a [u8] {
        self.preamble
    }

    /// The body parts, each a MIME entity.
    pub fn parts(&self) -> &[&'a [u8]] {
        &self.parts
    }

    /// The text after the closing delimiter (ignored by MIME readers).
    pub fn epilogue(&self) -> &'a [u8] {
        self.epilogue
    }
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|b| *b == needle)
}

/// The canonical form of text for signing: every line break CRLF
/// (RFC 8551 section 3.1.1).
pub fn canonicalize(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 32);
    let mut previous = 0u8;
    for &b in input {
        if b == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        previous = b;
    }
    out
}

/// Converts CRLF line breaks to `line_break` (undoes [`canonicalize`] for
/// output in the style of the input).
pub fn with_line_breaks(input: &[u8], line_break: LineBreak) -> Vec<u8> {
    match line_break {
        LineBreak::Crlf => canonicalize(input),
        LineBreak::Lf => {
            let mut out = Vec::with_capacity(input.len());
            let mut bytes = input.iter().peekable();
            while let Some(&b) = bytes.next() {
                if b == b'\r' && bytes.peek() == Some(&&b'\n') {
                    continue;
                }
                out.push(b);
            }
            out
        }
    }
}

/// Whether a body needs a transfer encoding to pass 7-bit transport
/// unchanged: 8-bit bytes, NUL, bare CR, or lines over 998 octets.
fn needs_encoding(body: &[u8]) -> bool {
    let mut line_length = 0usize;
    let mut previous = 0u8;
    for &b in body {
        if b >= 0x80 || b == 0 || (previous == b'\r' && b != b'\n') {
            return true;
        }
        if b == b'\n' {
            line_length = 0;
        } else {
            line_length += 1;
            if line_length > 998 {
                return true;
            }
        }
        previous = b;
    }
    previous == b'\r'
}

/// Makes an entity safe for 7-bit transport: every leaf part with 8-bit
/// content is re-encoded as base64 (text in its canonical CRLF form), every
/// `Content-Transfer-Encoding: binary` part as base64 of its exact bytes
/// (binary data has no line breaks to canonicalise, RFC 8551 section
/// 3.1.1), multiparts are rebuilt with their parts made safe. Entities that
/// are already safe come back byte-for-byte unchanged, so re-signing a safe
/// message changes nothing.
///
/// `message/*` parts cannot take a transfer encoding (RFC 2046 section 5.2)
/// and are kept as they are. The input may use CRLF or LF line breaks; the
/// result is canonical only where it was re-encoded (see
/// [`Envelope::signable`] for the whole signing form).
pub fn seven_bit_safe(entity: &[u8]) -> Result<Vec<u8>, MimeError> {
    reencode_at(entity, Reencode::EightBitAndBinary, 0)
}

/// A decrypted entity as it can be delivered: every `Content-Transfer-Encoding:
/// binary` part re-encoded as base64 of its exact bytes (no SMTP hop without
/// BINARYMIME could carry it, and line-break conversion would change it),
/// everything else unchanged. Peers may encrypt binary parts (RFC 8551
/// section 3.1.2 allows it inside encryption). Signed content
/// (`multipart/signed`) is left alone: changing it would break its
/// signature. An entity that cannot be parsed is returned as it is.
///
/// ```
/// let entity = b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n\x00\nA";
/// let delivered = mail_message::without_binary_parts(entity);
/// assert!(delivered.ends_with(b"base64\r\n\r\nAApB\r\n"));
/// let text = b"Content-Type: text/plain\r\n\r\nhi\r\n";
/// assert_eq!(mail_message::without_binary_parts(text), &text[..]);
/// ```
pub fn without_binary_parts(entity: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    match reencode_at(entity, Reencode::BinaryOutsideSignatures, 0) {
        Ok(reencoded) if reencoded != entity => std::borrow::Cow::Owned(reencoded),
        _ => std::borrow::Cow::Borrowed(entity),
    }
}

/// Which parts [`reencode_at`] re-encodes as base64.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Reencode {
    /// Every part with 8-bit content and every `binary` part: 7-bit safe.
    EightBitAndBinary,
    /// Only `binary` parts; 8-bit text stays 8-bit.
    Binary,
    /// Only `binary` parts, and none inside a `multipart/signed` (changing
    /// signed content would break its signature).
    BinaryOutsideSignatures,
}

pub(crate) fn reencode_at(
    input: &[u8],
    reencode: Reencode,
    depth: usize,
) -> Result<Vec<u8>, MimeError> {
    if depth > MAX_DEPTH {
        return Err(MimeError::TooDeep);
    }
    let entity = Entity::parse(input)?;
    let content_type = entity.content_type()?;
    if reencode == Reencode::BinaryOutsideSignatures
        && content_type.mime_type() == "multipart/signed"
    {
        return Ok(input.to_vec());
    }
    if content_type.is_multipart() {
        let boundary = content_type
            .parameter("boundary")
            .ok_or(MimeError::MissingBoundary)?;
        let multipart = Multipart::split(entity.body(), boundary)?;
        let mut safe_parts = Vec::new();
        let mut changed = false;
        for part in multipart.parts() {
            let safe = reencode_at(part, reencode, depth + 1)?;
            changed |= safe != *part;
            safe_parts.push(safe);
        }
        if !changed
            && (reencode != Reencode::EightBitAndBinary
                || (!needs_encoding(multipart.preamble()) && !needs_encoding(multipart.epilogue())))
        {
            return Ok(input.to_vec());
        }
        let mut out = header_bytes(&entity, |_| true);
        out.extend_from_slice(b"\r\n");
        for part in safe_parts {
            out.extend_from_slice(b"--");
            out.extend_from_slice(boundary.as_bytes());
            out.extend_from_slice(b"\r\n");
            out.extend_from_slice(&part);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary.as_bytes());
        out.extend_from_slice(b"--\r\n");
        return Ok(out);
    }
    let encoding = entity.transfer_encoding();
    let encoded = encoding == "base64" || encoding == "quoted-printable";
    if content_type.mime_type().starts_with("message/") {
        return Ok(input.to_vec());
    }
    // Binary content is bytes, not lines: encoded exactly as it is.
    let body = if encoding == "binary" {
        entity.body().to_vec()
    } else if reencode == Reencode::EightBitAndBinary && needs_encoding(entity.body()) {
        if encoded {
            return Err(MimeError::EightBitInEncodedPart { encoding });
        }
        canonicalize(entity.body())
    } else {
        return Ok(input.to_vec());
    };
    let mut out = header_bytes(&entity, |f| !f.is("content-transfer-encoding"));
    out.extend_from_slice(b"Content-Transfer-Encoding: base64\r\n\r\n");
    out.extend_from_slice(&encode_base64(&body, LineBreak::Crlf));
    Ok(out)
}

/// The raw fields of `entity` that `keep` selects, concatenated.
fn header_bytes(entity: &Entity<'_>, keep: impl Fn(&Field<'_>) -> bool) -> Vec<u8> {
    let mut out = Vec::new();
    for field in entity.fields().iter().filter(|f| keep(f)) {
        out.extend_from_slice(field.raw());
    }
    out
}

/// A message taken apart for S/MIME: the outer header fields that stay
/// outside the cryptographic layer, and the inner entity that goes inside.
///
/// RFC 8551 protects a MIME entity, not a whole RFC 5322 message: `From`,
/// `To`, `Subject` and the other message fields stay outside, while the
/// `Content-*` fields describe the entity and move inside with its body.
///
/// ```
/// use mail_message::Envelope;
///
/// let message = b"From: a@example.org\r\nSubject: hi\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nHello\r\n";
/// let envelope = Envelope::split(message)?;
/// assert_eq!(envelope.inner(), b"Content-Type: text/plain\r\n\r\nHello\r\n");
/// let rebuilt = envelope.rebuild(b"Content-Type: text/plain\r\n\r\nBye\r\n");
/// assert_eq!(rebuilt, b"From: a@example.org\r\nSubject: hi\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nBye\r\n");
/// # Ok::<(), mail_message::MimeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    entity: Entity<'a>,
    inner: Vec<u8>,
}

impl<'a> Envelope<'a> {
    /// Splits a message into outer fields and the canonical inner entity.
    pub fn split(message: &'a [u8]) -> Result<Envelope<'a>, MimeError> {
        let entity = Entity::parse(message)?;
        let mut envelope = Envelope {
            entity,
            inner: Vec::new(),
        };
        envelope.inner = canonicalize(&envelope.raw_inner());
        Ok(envelope)
    }

    /// The inner entity as it is signed: made 7-bit safe from the
    /// message as it is ([`seven_bit_safe`]: `binary` parts base64-encoded
    /// byte for byte, other 8-bit parts as canonical text), then every line
    /// break CRLF. Unlike [`Envelope::inner`], binary content is never
    /// "canonicalised" (an LF inside a PDF is not a line break).
    ///
    /// ```
    /// let message = b"Subject: x\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n\x00\n\xff";
    /// let envelope = mail_message::Envelope::split(message)?;
    /// let signable = envelope.signable()?;
    /// assert!(signable.ends_with(b"Content-Transfer-Encoding: base64\r\n\r\nAAr/\r\n"));
    /// # Ok::<(), mail_message::MimeError>(())
    /// ```
    pub fn signable(&self) -> Result<Vec<u8>, MimeError> {
        Ok(canonicalize(&seven_bit_safe(&self.raw_inner())?))
    }

    /// The inner entity as it is encrypted: `binary` parts base64-encoded
    /// byte for byte, everything else as it is (8-bit text stays 8-bit,
    /// which RFC 8551 section 3.1.2 allows inside encryption), then every
    /// line break CRLF. A decrypted message thus holds no `binary` part,
    /// which most SMTP hops could not carry (they lack BINARYMIME), and an
    /// attachment comes out exactly as it went in.
    ///
    /// ```
    /// let message = "Subject: x\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGrüße\n".as_bytes();
    /// let envelope = mail_message::Envelope::split(message)?;
    /// assert_eq!(envelope.encryptable()?, envelope.inner());
    ///
    /// let message = b"Subject: x\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: binary\n\n\x00\n\xff";
    /// let envelope = mail_message::Envelope::split(message)?;
    /// assert!(envelope.encryptable()?.ends_with(b"Content-Transfer-Encoding: base64\r\n\r\nAAr/\r\n"));
    /// # Ok::<(), mail_message::MimeError>(())
    /// ```
    pub fn encryptable(&self) -> Result<Vec<u8>, MimeError> {
        let raw = self.raw_inner();
        Ok(canonicalize(&reencode_at(&raw, Reencode::Binary, 0)?))
    }

    /// The inner entity as it is in the message: its `Content-*` fields,
    /// the line break that ends them, and the body.
    fn raw_inner(&self) -> Vec<u8> {
        let mut raw = header_bytes(&self.entity, |f| f.is_content_field());
        raw.extend_from_slice(self.entity.line_break().as_bytes());
        raw.extend_from_slice(self.entity.body());
        raw
    }

    /// The message as parsed (outer fields and the original body).
    pub fn message(&self) -> &Entity<'a> {
        &self.entity
    }

    /// The inner entity in canonical form (CRLF): the message's `Content-*`
    /// fields and its body.
    pub fn inner(&self) -> &[u8] {
        &self.inner
    }

    /// The message with its body replaced by `entity`: the outer fields
    /// except `Content-*` (and `MIME-Version`, which is written once right
    /// before the new entity's fields), then the new entity. Line breaks
    /// follow the input message's style.
    pub fn rebuild(&self, entity: &[u8]) -> Vec<u8> {
        let line_break = self.entity.line_break();
        let mut out = self.entity.outer_header();
        // The new entity's own MIME-Version, if any, would be a duplicate.
        let new_entity = match Entity::parse(entity) {
            Ok(parsed) if parsed.field("mime-version").is_some() => {
                let mut without = header_bytes(&parsed, |f| !f.is("mime-version"));
                without.extend_from_slice(b"\r\n");
                without.extend_from_slice(parsed.body());
                without
            }
            _ => entity.to_vec(),
        };
        out.extend_from_slice(&with_line_breaks(&new_entity, line_break));
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn folded_fields_keep_raw_bytes_and_unfold() {
        let input = b"Subject: a\r\n long\r\n\tsubject\r\nFrom: x@y\r\n\r\nbody";
        let entity = Entity::parse(input).unwrap();
        assert_eq!(entity.fields().len(), 2);
        assert_eq!(
            entity.fields()[0].raw(),
            b"Subject: a\r\n long\r\n\tsubject\r\n"
        );
        assert_eq!(entity.fields()[0].value(), "a long\tsubject");
        assert_eq!(entity.body(), b"body");
    }

    #[test]
    fn header_errors_name_the_line() {
        assert_eq!(
            Entity::parse(b"From: a\r\nno colon here\r\n\r\n"),
            Err(MimeError::MalformedHeader { line: 2 })
        );
        assert_eq!(
            Entity::parse(b" continuation first\r\n\r\n"),
            Err(MimeError::MalformedHeader { line: 1 })
        );
        assert_eq!(
            Entity::parse(b"Bad Name: x\r\n\r\n"),
            Err(MimeError::MalformedHeader { line: 1 })
        );
    }

    /// A lone CR hides a field inside another field's value from this
    /// parse while a reader that ends lines at CR sees it: refused, in any
    /// line, first or continuation, with either line-break style; so is NUL.
    #[test]
    fn bare_carriage_returns_and_nul_in_a_header_are_refused() {
        let cr = MimeError::ControlInHeader {
            line: 2,
            character: "a bare carriage return",
        };
        for input in [
            &b"From: a@b\r\nX-A: a\rX-Mailgate-Signature: valid\r\n\r\nbody"[..],
            b"From: a@b\nX-A: a\rFrom: ceo@bank.example\n\nbody",
            b"From: a@b\r\n\tfolded\r\r\n\r\nbody",
            b"From: a@b\r\nSubject: [vertraulich\r] hi\r\n\r\n",
        ] {
            assert_eq!(Entity::parse(input), Err(cr.clone()), "{input:?}");
        }
        assert_eq!(
            Entity::parse(b"Subject: a\0b\r\n\r\n"),
            Err(MimeError::ControlInHeader {
                line: 1,
                character: "a NUL byte"
            })
        );
        // A CR in the body is the body's business.
        assert!(Entity::parse(b"From: a@b\r\n\r\nbody\rmore").is_ok());
    }

    #[test]
    fn outer_header_of_a_header_without_final_line_break_keeps_fields_apart() {
        // Found by fuzzing `inner_header`: `MIME-Version` was glued onto
        // the last field's value.
        let entity = Entity::parse(b"From: a@x.example\r\nX-Tag: a@((").unwrap();
        assert_eq!(
            entity.outer_header(),
            b"From: a@x.example\r\nX-Tag: a@((\r\nMIME-Version: 1.0\r\n"
        );
        let lf = Entity::parse(b"From: a@x.example").unwrap();
        assert_eq!(
            lf.outer_header(),
            b"From: a@x.example\r\nMIME-Version: 1.0\r\n"
        );
    }

    #[test]
    fn lf_input_is_detected_and_rebuilt_as_lf() {
        let message = b"From: a@b\nContent-Type: text/plain\n\nhi\n";
        let envelope = Envelope::split(message).unwrap();
        assert_eq!(envelope.inner(), b"Content-Type: text/plain\r\n\r\nhi\r\n");
        assert_eq!(
            envelope.rebuild(b"Content-Type: text/html\r\n\r\nho\r\n"),
            b"From: a@b\nMIME-Version: 1.0\nContent-Type: text/html\n\nho\n"
        );
    }

    #[test]
    fn content_type_parameters_comments_and_quotes() {
        let ct = ContentType::parse(
            "Multipart/Signed (a comment); Boundary=\"a\\\"b\"; micalg = sha-256 ;",
        )
        .unwrap();
        assert_eq!(ct.mime_type(), "multipart/signed");
        assert_eq!(ct.parameter("boundary"), Some("a\"b"));
        assert_eq!(ct.parameter("MICALG"), Some("sha-256"));
        assert!(ContentType::parse("text").is_err());
        assert!(ContentType::parse("text/plain; charset").is_err());
        assert!(ContentType::parse("text/plain; x=\"unterminated").is_err());
    }

    #[test]
    fn multipart_delimiters_need_a_line_of_their_own() {
        let body = b"--b\r\nnot --b a delimiter\r\n--bx is not one either\r\n--b  \r\ntwo\r\n--b--";
        let multipart = Multipart::split(body, "b").unwrap();
        assert_eq!(
            multipart.parts(),
            &[
                &b"not --b a delimiter\r\n--bx is not one either"[..],
                &b"two"[..]
            ]
        );
        assert!(matches!(
            Multipart::split(b"--b\r\nopen", "b"),
            Err(MimeError::UnterminatedMultipart { .. })
        ));
    }

    #[test]
    fn eight_bit_leaf_parts_become_base64_and_safe_entities_stay() {
        let safe = b"Content-Type: text/plain\r\n\r\nplain ascii\r\n";
        assert_eq!(seven_bit_safe(safe).unwrap(), safe);
        let unsafe_ = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße\r\n";
        let safe = seven_bit_safe(unsafe_.as_bytes()).unwrap();
        let entity = Entity::parse(&safe).unwrap();
        assert_eq!(entity.transfer_encoding(), "base64");
        assert_eq!(entity.decoded_body().unwrap(), "Grüße\r\n".as_bytes());
        assert!(!needs_encoding(&safe));

        let multipart = "Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\nascii\r\n--x\r\nContent-Type: application/octet-stream\r\n\r\n\u{ff}\u{fe}\r\n--x--\r\n";
        let safe = seven_bit_safe(multipart.as_bytes()).unwrap();
        assert!(!needs_encoding(&safe));
        let entity = Entity::parse(&safe).unwrap();
        let parts = Multipart::split(entity.body(), "x").unwrap();
        assert_eq!(parts.parts()[0], b"\r\nascii");
        let second = Entity::parse(parts.parts()[1]).unwrap();
        assert_eq!(second.decoded_body().unwrap(), "\u{ff}\u{fe}".as_bytes());
    }

    #[test]
    fn eight_bit_in_a_base64_part_is_refused() {
        let corrupt =
            b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nR3L\xc3\xbc\r\n";
        assert_eq!(
            seven_bit_safe(corrupt),
            Err(MimeError::EightBitInEncodedPart {
                encoding: "base64".to_owned()
            })
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut entity = b"Content-Type: text/plain\r\n\r\nx".to_vec();
        for level in 0..=MAX_DEPTH + 1 {
            let mut outer =
                format!("Content-Type: multipart/mixed; boundary=b{level}\r\n\r\n--b{level}\r\n")
                    .into_bytes();
            outer.extend_from_slice(&entity);
            outer.extend_from_slice(format!("\r\n--b{level}--\r\n").as_bytes());
            entity = outer;
        }
        assert_eq!(seven_bit_safe(&entity), Err(MimeError::TooDeep));
    }
}
