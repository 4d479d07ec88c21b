//! What rules can see of a message: headers, attachments, decoded text, size
//! and whether it is already signed or encrypted.
//!
//! The structure comes from [`mail_message::MessageTree`], the one parse
//! that signing, verification and encryption read too: which entities there
//! are, their content types, which header instance is which, which leaves
//! are files. `mail-parser` only decodes what that parse found (transfer
//! encodings, charsets, HTML to text); it never decides structure or which
//! header field counts. Header values are decoded as a client shows them by
//! [`crate::shown_text`], which the gateway's Subject tag stripping uses too.
//! Evaluation for every recipient reads this summary.

use std::io::{self, Read};
use std::sync::OnceLock;

use mail_message::{DuplicateField, MessageTree, MimeError, Part, PartKind};
use mail_parser::decoders::{
    base64::base64_decode, charsets::map::charset_decoder, html::html_to_text,
    quoted_printable::quoted_printable_decode,
};

use crate::reduced_message::{Elided, reduce};

/// One attachment as rules see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// The file name (`Content-Disposition` filename or `Content-Type`
    /// name), if any.
    pub name: Option<String>,
    /// `type/subtype` in lower case.
    pub mime_type: String,
    /// Decoded size in bytes.
    pub size: u64,
}

/// A parsed message, reduced to what policy conditions look at.
///
/// ```
/// let raw = b"From: a@behoerde.example\r\nSubject: [Vertraulich] Akte\r\n\r\nHallo\r\n";
/// let message = rule_engine::Message::parse(raw);
/// assert_eq!(message.subject(), Some("[Vertraulich] Akte"));
/// assert!(message.attachments().is_empty());
/// assert_eq!(message.structure(), "text/plain");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    headers: Vec<(String, String)>,
    subject: Option<String>,
    /// Every Subject in the normal form markers are matched in
    /// ([`crate::shown_text::normalize`]), one per line.
    subject_normalized: Option<String>,
    from: Option<String>,
    content_type: String,
    structure: String,
    attachments: Vec<Attachment>,
    /// The decoded text as the parts hold it. The two forms conditions
    /// read are derived on first use: a policy without body conditions
    /// keeps one copy of up to the read limit, not three.
    decoded_text: String,
    /// [`Message::text`]: the decoded text in lower case.
    text: DerivedText,
    /// The same text in the normal form DLP keywords are matched in
    /// ([`crate::shown_text::normalize`]), so that a soft hyphen or
    /// full-width letters inside a keyword hide it no more than they hide a
    /// Subject tag.
    keyword_text: DerivedText,
    size: u64,
    signed: bool,
    encrypted: bool,
    /// Why the message must not be judged at all (a repeated singleton
    /// field, a header that does not parse); the host refuses it.
    refusal: Option<MimeError>,
    /// False when a message read with [`Message::read_from`] had more
    /// content to keep than its limit: conditions on text and attachments
    /// cannot be decided.
    incomplete: bool,
    /// The mailboxes of the From field, canonical (see `header_from`).
    from_addresses: Vec<String>,
}

/// A form of [`Message`]'s decoded text, computed on first use. Two are
/// equal whenever the text they derive from is, which `Message` compares
/// itself: whether a form was computed yet is not part of the value.
#[derive(Debug, Clone, Default)]
struct DerivedText(OnceLock<String>);

impl PartialEq for DerivedText {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for DerivedText {}

/// Decodes an unstructured header value (RFC 2047 encoded words, 8-bit
/// UTF-8) as a mail client shows it, given the raw value after the colon
/// (see [`crate::shown_text`]: the gateway strips Subject tags with the same
/// decoding).
fn decode_unstructured(raw_value: &[u8]) -> String {
    crate::shown_text::decode_header_value(raw_value)
}

/// The body of a leaf with its transfer encoding removed (a body that does
/// not decode is read as it is).
fn transfer_decoded<'b>(part: &Part<'b>) -> std::borrow::Cow<'b, [u8]> {
    let body = part.body();
    let decoded = match part.transfer_encoding().as_str() {
        "base64" => base64_decode(body),
        "quoted-printable" => quoted_printable_decode(body),
        _ => None,
    };
    decoded.map_or(std::borrow::Cow::Borrowed(body), std::borrow::Cow::Owned)
}

/// `bytes` in `charset` as text (unknown or absent charsets: UTF-8).
fn charset_text(bytes: &[u8], charset: Option<&str>) -> String {
    charset
        .and_then(|charset| charset_decoder(charset.as_bytes()))
        .map_or_else(
            || String::from_utf8_lossy(bytes).into_owned(),
            |decode| decode(bytes),
        )
}

/// The decoded text of a `text/*` leaf (HTML as the text a reader sees).
fn leaf_text(part: &Part<'_>) -> String {
    let bytes = transfer_decoded(part);
    let text = charset_text(&bytes, part.content_type().parameter("charset"));
    if part.content_type().mime_type() == "text/html" {
        html_to_text(&text)
    } else {
        text
    }
}

/// The file name of a part, decoded.
fn file_name(part: &Part<'_>) -> Option<String> {
    let name = part.file_name()?;
    let text = charset_text(&name.bytes, name.charset.as_deref());
    Some(if text.contains("=?") {
        decode_unstructured(text.as_bytes())
    } else {
        text
    })
}

/// Where `inner` starts within `outer` (both slices of one buffer).
fn offset_in(outer: &[u8], inner: &[u8]) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

/// What `elided` left out of `part`'s body: decoded bytes of a leaf whose
/// base64 body was dropped, raw bytes dropped inside a forwarded message
/// read as a leaf. A dropped body sits where the leaf's body starts, or
/// (when nothing of the body is left) up to the line break that belongs to
/// the next delimiter.
fn elided_size(raw: &[u8], part: &Part<'_>, elided: &[Elided], decoded: bool) -> u64 {
    let start = offset_in(raw, part.body());
    let end = start + part.body().len();
    elided
        .iter()
        .filter(|e| (start..=end + 2).contains(&e.at))
        .map(|e| if decoded { e.decoded } else { e.raw })
        .sum()
}

impl Message {
    /// Parses raw message bytes. Never fails: bytes that are not a message
    /// give a summary of one text part that holds them all (see
    /// [`mail_message::tree`] for what is read of broken input).
    pub fn parse(raw: &[u8]) -> Self {
        Self::summarise(raw, raw.len() as u64, &[])
    }

    /// Reads a message of any size from `reader`, holding at most `limit`
    /// bytes of it.
    ///
    /// The base64 bodies of binary attachments are read, measured and
    /// dropped (see the `reduced_message` module for why the parse sees
    /// nothing else in what is dropped); headers, text parts and the MIME
    /// structure are kept. A message whose kept part exceeds `limit` gives
    /// a summary that is [incomplete](Message::is_complete): conditions on
    /// text and attachments then cannot be decided, and the recipients are
    /// deferred rather than judged on part of the content.
    ///
    /// ```
    /// let raw = b"From: a@behoerde.example\r\nSubject: Akte\r\n\r\nHallo\r\n";
    /// let message = rule_engine::Message::read_from(&raw[..], 1 << 20).unwrap();
    /// assert_eq!(message.subject(), Some("Akte"));
    /// assert!(message.is_complete());
    /// assert_eq!(message.size(), raw.len() as u64);
    /// ```
    pub fn read_from(reader: impl Read, limit: usize) -> io::Result<Self> {
        let reduced = reduce(reader, limit)?;
        let mut message = Self::summarise(&reduced.bytes, reduced.size, &reduced.elided);
        message.incomplete = !reduced.complete;
        Ok(message)
    }

    /// The summary of `raw`, which is the whole message of `size` bytes
    /// except for the `elided` bodies.
    fn summarise(raw: &[u8], size: u64, elided: &[Elided]) -> Self {
        let tree = MessageTree::parse(raw);
        let root = tree.root();
        let headers: Vec<(String, String)> = root
            .fields()
            .iter()
            .map(|f| {
                (
                    String::from_utf8_lossy(f.name()).to_ascii_lowercase(),
                    decode_unstructured(f.raw_value()),
                )
            })
            .collect();
        let subjects: Vec<&str> = headers
            .iter()
            .filter(|(name, _)| name == "subject")
            .map(|(_, value)| value.as_str())
            .collect();
        let subject = subjects.first().map(|s| (*s).to_owned());
        // Every instance: a tag in any Subject field counts, whichever one
        // a reader shows (mail with two is refused by the host anyway).
        let subject_normalized = (!subjects.is_empty()).then(|| {
            subjects
                .iter()
                .map(|s| crate::shown_text::normalize(s))
                .collect::<Vec<_>>()
                .join("\n")
        });
        let from = root
            .field("from")
            .map(|f| decode_unstructured(f.raw_value()));
        // As declared where it can be read (signing and verification read
        // the same), else the type the part is read as.
        let content_type = root
            .declared_content_type()
            .unwrap_or_else(|| root.content_type());
        let root_type = content_type.mime_type().to_owned();
        let smime_type = content_type
            .parameter("smime-type")
            .map(str::to_ascii_lowercase);
        let pkcs7 = matches!(
            root_type.as_str(),
            "application/pkcs7-mime" | "application/x-pkcs7-mime"
        );
        let signed = root_type == "multipart/signed"
            || (pkcs7 && smime_type.as_deref() == Some("signed-data"));
        let mut encrypted = root_type == "multipart/encrypted"
            || (pkcs7
                && smime_type.as_deref() != Some("signed-data")
                && smime_type.as_deref() != Some("certs-only"));
        let mut text = String::new();
        for part in root.walk() {
            if part.kind() == PartKind::Leaf && part.content_type().mime_type().starts_with("text/")
            {
                text.push_str(&leaf_text(part));
                text.push('\n');
            }
        }
        if text.contains("-----BEGIN PGP MESSAGE-----") {
            encrypted = true;
        }
        let attachments = tree
            .attachments()
            .into_iter()
            .map(|part| {
                let size = match part.kind() {
                    PartKind::Leaf => {
                        transfer_decoded(part).len() as u64 + elided_size(raw, part, elided, true)
                    }
                    _ => part.body().len() as u64 + elided_size(raw, part, elided, false),
                };
                Attachment {
                    name: file_name(part),
                    mime_type: part.content_type().mime_type().to_owned(),
                    size,
                }
            })
            .collect();
        let refusal = tree
            .header_error()
            .cloned()
            .or_else(|| tree.check_singletons().err().map(MimeError::from));
        // Every From field (mail with two is refused by the host anyway).
        let from_addresses = root
            .fields()
            .iter()
            .filter(|f| f.name().eq_ignore_ascii_case(b"from"))
            .flat_map(|f| crate::header_from::from_addresses(f.raw_value()))
            .collect();
        Self {
            headers,
            subject,
            subject_normalized,
            from,
            content_type: root_type,
            structure: root.structure(),
            attachments,
            decoded_text: text,
            text: DerivedText::default(),
            keyword_text: DerivedText::default(),
            size,
            signed,
            encrypted,
            refusal,
            incomplete: false,
            from_addresses,
        }
    }

    /// Why this message must be refused before any rule judges it: a field
    /// RFC 5322 allows once that appears twice (readers disagree on which
    /// one counts), or a message header that does not parse. `None` for
    /// mail every reader reads alike.
    ///
    /// ```
    /// let message = rule_engine::Message::parse(b"Subject: [vertraulich] a\r\nSubject: b\r\n\r\nx\r\n");
    /// assert!(message.refusal().is_some_and(|r| r.to_string().contains("Subject appears 2 times")));
    /// ```
    pub fn refusal(&self) -> Option<&MimeError> {
        self.refusal.as_ref()
    }

    /// The repeated singleton field, if that is why the message is refused.
    pub fn duplicate_field(&self) -> Option<&DuplicateField> {
        match &self.refusal {
            Some(MimeError::DuplicateField(duplicate)) => Some(duplicate),
            _ => None,
        }
    }

    /// The From field as written (encoded words decoded).
    pub fn from(&self) -> Option<&str> {
        self.from.as_deref()
    }

    /// The message's content type as declared (`type/subtype`, lower case,
    /// as signing and verification read it; `text/plain` when absent,
    /// malformed or repeated). [`Message::structure`] says how the message
    /// is read: a multipart without a boundary, say, as text.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The tree of content types as [`mail_message::Part::structure`]
    /// writes it, e.g. `multipart/mixed[text/plain,application/pdf]`.
    pub fn structure(&self) -> &str {
        &self.structure
    }

    /// Whether every part of the message was seen (always, but for a
    /// message [read](Message::read_from) past its limit).
    pub fn is_complete(&self) -> bool {
        !self.incomplete
    }

    /// The same summary with another message size: for hosts that know the
    /// size before the body (ESMTP `SIZE`) and for policy tests whose samples
    /// stand for larger mail.
    pub fn with_size(mut self, size: u64) -> Self {
        self.size = size;
        self
    }

    /// The summary of a message that arrived encrypted and was decrypted by
    /// the host: conditions see the decrypted content, and `encrypted` stays
    /// true.
    pub fn with_encrypted(mut self, encrypted: bool) -> Self {
        self.encrypted = encrypted;
        self
    }

    /// Every value of header field `name` (any case), in message order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every Subject in the normal form of [`crate::shown_text::normalize`],
    /// for tag conditions.
    pub(crate) fn subject_normalized(&self) -> Option<&str> {
        self.subject_normalized.as_deref()
    }

    /// The decoded Subject.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The attachments.
    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    /// Decoded text of the text bodies and text attachments, in lower case.
    /// Body `regex` conditions match this text (a pattern says itself what
    /// it means by each character; see the README).
    pub fn text(&self) -> &str {
        self.text.0.get_or_init(|| self.decoded_text.to_lowercase())
    }

    /// [`Message::text`] in the normal form of
    /// [`crate::shown_text::normalize`] (invisible characters removed,
    /// NFKC, case folded, white space collapsed): body `keywords` are
    /// matched in this text, in the normal form of the keyword.
    pub fn keyword_text(&self) -> &str {
        self.keyword_text
            .0
            .get_or_init(|| crate::shown_text::normalize(&self.decoded_text))
    }

    /// Size of the raw message in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether the message is already signed (S/MIME or PGP/MIME).
    pub fn is_signed(&self) -> bool {
        self.signed
    }

    /// Whether the message is already encrypted (S/MIME, PGP/MIME or inline
    /// PGP).
    pub fn is_encrypted(&self) -> bool {
        self.encrypted
    }

    /// The mailboxes of the header From field in their canonical form
    /// ([`mail_message::Mailbox::key`]; a form it refuses keeps the domain a
    /// reader sees), what `header_from*` conditions compare. Display names
    /// are not mailboxes.
    ///
    /// ```
    /// let message = rule_engine::Message::parse(b"From: \"Bank\" <Service@Bank.Example.>\r\n\r\nx\r\n");
    /// assert_eq!(message.from_addresses(), ["service@bank.example"]);
    /// ```
    pub fn from_addresses(&self) -> &[String] {
        &self.from_addresses
    }
}

#[cfg(test)]
mod tests {
    use super::Message;

    #[test]
    fn derived_texts_are_computed_on_demand_and_not_part_of_equality() {
        let raw = b"Subject: s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nStreng GEHE\xc2\xadIM\r\n";
        let message = Message::parse(raw);
        let untouched = message.clone();
        assert!(message.text().contains("streng gehe\u{ad}im"));
        assert!(message.keyword_text().contains("streng geheim"));
        // One has computed its forms, the other not: the same message.
        assert_eq!(message, untouched);
        assert_eq!(untouched.keyword_text(), message.keyword_text());
        assert_ne!(message, Message::parse(b"Subject: s\r\n\r\nanders\r\n"));
    }
}
