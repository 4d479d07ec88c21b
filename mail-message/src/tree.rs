//! The one parse of a whole message: every MIME entity, its content type and
//! its place in the tree, as signing, verification, encryption and the
//! policy all read it.
//!
//! # Why one parse
//!
//! A gateway that decides with one parser and signs, verifies or encrypts
//! with another can be walked around: give the two parsers bytes they read
//! differently (two `Content-Type` fields, one taken first by one parser and
//! last by the other) and the policy judges one message while the
//! cryptography protects or vouches for another. [`MessageTree`] is the
//! structure everything reads; a second parser may decode what it finds
//! (charsets, encoded words, HTML), never decide what the parts are.
//!
//! # Header singletons, and why they are refused
//!
//! RFC 5322 section 3.6 allows `From`, `Sender`, `Reply-To`, `To`, `Cc`,
//! `Bcc`, `Subject`, `Date`, `Message-ID`, `In-Reply-To` and `References` at
//! most once in a message header, RFC 2045 `MIME-Version` once, and
//! `Content-Type`, `Content-Transfer-Encoding` (RFC 2045) and
//! `Content-Disposition` (RFC 2183) once per MIME entity. A message that
//! repeats one of them is not a message any two readers agree on: mail
//! clients show the first or the last `Subject`, MIME parsers take the first
//! or the last `Content-Type`. [`MessageTree::duplicate_fields`] lists every
//! repetition ([`DuplicateField`] names the field and where it is), and a
//! gateway **refuses** such mail before its policy runs (outbound: rejected
//! to the sender with the reason; inbound: quarantined). It does not pick
//! one instance and go on: any choice is the wrong one for some reader, and
//! a normalised copy hides from the administrator that somebody tried.
//!
//! # How much is read of broken input
//!
//! Whatever the bytes, the tree covers all of them, so conditions on text and
//! attachments see everything a reader could be shown; what is not as RFC
//! 2045/2046 say is listed in [`MessageTree::problems`]:
//!
//! - an entity whose header section does not parse is one `text/plain` leaf
//!   of all its bytes;
//! - a `Content-Type` that does not parse, or appears twice, makes the
//!   entity a `text/plain` leaf (RFC 2045 section 5.2);
//! - a multipart without a boundary is a `text/plain` leaf of its body;
//! - a multipart whose closing delimiter never comes ends with its last
//!   part running to the end of the input ([`Multipart::split_lenient`]);
//! - nesting deeper than [`MAX_DEPTH`] ends in a leaf;
//! - `message/rfc822` and `message/global` parts in 7bit, 8bit or binary
//!   are parsed as messages (their parts are parts of this tree); encoded
//!   ones, which RFC 2046 section 5.2.1 forbids, are leaves.

use std::fmt;

use crate::mime::{ContentType, Entity, MAX_DEPTH, MimeError, Multipart, parse_disposition};

/// The fields a message header may hold at most once (RFC 5322 section
/// 3.6, RFC 2045 section 4 and 5).
pub const MESSAGE_SINGLETONS: [&str; 14] = [
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Date",
    "Message-ID",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
];

/// The fields every MIME entity may hold at most once (RFC 2045 sections 5
/// and 6, RFC 2183 section 2).
pub const ENTITY_SINGLETONS: [&str; 3] = [
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
];

/// Where a header field was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The message's own header section.
    Message,
    /// The header of a body part, numbered as IMAP does (`1.2`: the second
    /// part of the first part; the message inside a `message/rfc822` part
    /// continues its number).
    Part(String),
    /// A MIME entity parsed on its own (which one, its caller knows).
    Entity,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Message => f.write_str("the message header"),
            Place::Part(number) => write!(f, "the header of body part {number}"),
            Place::Entity => f.write_str("a MIME entity header"),
        }
    }
}

/// A field allowed once that appears more than once.
///
/// ```
/// let tree = mail_message::MessageTree::parse(b"Subject: a\r\nSubject: b\r\n\r\nhi\r\n");
/// let duplicate = tree.check_singletons().unwrap_err();
/// assert_eq!(duplicate.field, "Subject");
/// assert_eq!(duplicate.to_string(), "the header field Subject appears 2 times in the message header, where RFC 5322 and RFC 2045 allow it once");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the header field {field} appears {count} times in {place}, where RFC 5322 and RFC 2045 allow it once"
)]
pub struct DuplicateField {
    /// The field name, as RFC 5322 or RFC 2045 spells it.
    pub field: &'static str,
    /// How often it appears.
    pub count: usize,
    /// Where.
    pub place: Place,
}

/// What a part is in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// A part with content and no parts below it.
    Leaf,
    /// A `multipart/*` part: its children are its body parts.
    Multipart,
    /// A `message/rfc822` or `message/global` part: its one child is the
    /// message it carries.
    Message,
}

/// A parameter value with RFC 2231 taken apart: continuations joined,
/// percent-encoding removed. The bytes are in `charset` (the caller
/// decodes them; without a charset they are meant as UTF-8 or ASCII, and
/// may hold RFC 2047 encoded words).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterValue {
    /// The charset named by an RFC 2231 extended value.
    pub charset: Option<String>,
    /// The value's bytes.
    pub bytes: Vec<u8>,
}

/// One MIME entity of a [`MessageTree`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    raw: &'a [u8],
    entity: Option<Entity<'a>>,
    content_type: ContentType,
    declared: Option<ContentType>,
    kind: PartKind,
    children: Vec<Part<'a>>,
    place: Place,
}

impl<'a> Part<'a> {
    /// The entity exactly as in the input (header and body).
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The header fields (none when the header section did not parse).
    pub fn fields(&self) -> &[crate::mime::Field<'a>] {
        self.entity.as_ref().map_or(&[], |e| e.fields())
    }

    /// The first field called `name`; with [singletons
    /// checked](MessageTree::check_singletons), the only one.
    pub fn field(&self, name: &str) -> Option<&crate::mime::Field<'a>> {
        self.fields().iter().find(|f| f.is(name))
    }

    /// The content type in force: the declared one, or `text/plain` when
    /// it is absent, malformed or repeated (see the module docs).
    pub fn content_type(&self) -> &ContentType {
        &self.content_type
    }

    /// The `Content-Type` as declared, when there is exactly one and it
    /// parses: what [`Entity::content_type`] gives signing and
    /// verification. It differs from [`Part::content_type`] where the part
    /// cannot be read as declared (a multipart without a boundary, nesting
    /// too deep).
    pub fn declared_content_type(&self) -> Option<&ContentType> {
        self.declared.as_ref()
    }

    /// The body (all of the entity when its header did not parse).
    pub fn body(&self) -> &'a [u8] {
        self.entity.as_ref().map_or(self.raw, Entity::body)
    }

    /// The content transfer encoding in lower case (`7bit` when absent).
    pub fn transfer_encoding(&self) -> String {
        self.entity
            .as_ref()
            .map_or_else(|| "7bit".to_owned(), Entity::transfer_encoding)
    }

    /// Leaf, multipart or encapsulated message.
    pub fn kind(&self) -> PartKind {
        self.kind
    }

    /// The parts below: body parts of a multipart, the message in a
    /// `message/rfc822` part.
    pub fn children(&self) -> &[Part<'a>] {
        &self.children
    }

    /// Where the part is (for messages naming it).
    pub fn place(&self) -> &Place {
        &self.place
    }

    /// The disposition type (`inline`, `attachment`, ...) in lower case, if
    /// the part has a `Content-Disposition` that parses.
    pub fn disposition(&self) -> Option<String> {
        let field = self.field("content-disposition")?;
        parse_disposition(&field.value()).ok().map(|(kind, _)| kind)
    }

    /// The file name: the `Content-Disposition` `filename` parameter, else
    /// the `Content-Type` `name` parameter, with RFC 2231 taken apart.
    pub fn file_name(&self) -> Option<ParameterValue> {
        let disposition = self
            .field("content-disposition")
            .and_then(|f| parse_disposition(&f.value()).ok())
            .and_then(|(_, parameters)| extended_parameter(&parameters, "filename"));
        disposition.or_else(|| extended_parameter(self.content_type.parameters(), "name"))
    }

    /// Whether this leaf is a file rather than the text of the message: a
    /// leaf that is not `text/plain` or `text/html`, or that has a file
    /// name, or whose disposition is `attachment`. A `message/rfc822` part
    /// is one too (its own parts are listed as well). Multiparts never are.
    pub fn is_attachment(&self) -> bool {
        match self.kind {
            PartKind::Multipart => false,
            PartKind::Message => true,
            PartKind::Leaf => {
                !matches!(self.content_type.mime_type(), "text/plain" | "text/html")
                    || self.file_name().is_some()
                    || self.disposition().as_deref() == Some("attachment")
            }
        }
    }

    /// Every part of this subtree, depth first, this one first.
    pub fn walk(&self) -> Vec<&Part<'a>> {
        let mut out = vec![self];
        for child in &self.children {
            out.extend(child.walk());
        }
        out
    }

    /// The tree of content types, e.g.
    /// `multipart/mixed[text/plain,application/pdf]`.
    pub fn structure(&self) -> String {
        let mut out = self.content_type.mime_type().to_owned();
        if !self.children.is_empty() || self.kind != PartKind::Leaf {
            out.push('[');
            let children: Vec<String> = self.children.iter().map(Part::structure).collect();
            out.push_str(&children.join(","));
            out.push(']');
        }
        out
    }
}

/// A whole message parsed into its tree of MIME entities. Never fails: see
/// the module docs for what is made of broken input.
///
/// ```
/// let raw = b"Subject: hi\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\ntext\r\n--b\r\nContent-Type: application/pdf; name=a.pdf\r\n\r\n%PDF\r\n--b--\r\n";
/// let tree = mail_message::MessageTree::parse(raw);
/// assert_eq!(tree.root().structure(), "multipart/mixed[text/plain,application/pdf]");
/// assert!(tree.problems().is_empty());
/// let files: Vec<_> = tree.attachments().into_iter().map(|p| p.content_type().mime_type().to_owned()).collect();
/// assert_eq!(files, ["application/pdf"]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageTree<'a> {
    root: Part<'a>,
    problems: Vec<(Place, MimeError)>,
}

impl<'a> MessageTree<'a> {
    /// Parses `raw` (CRLF or LF line breaks).
    pub fn parse(raw: &'a [u8]) -> MessageTree<'a> {
        let mut problems = Vec::new();
        let root = parse_part(raw, Place::Message, 0, true, &mut problems);
        MessageTree { root, problems }
    }

    /// The message itself.
    pub fn root(&self) -> &Part<'a> {
        &self.root
    }

    /// What is not as RFC 5322, 2045 and 2046 say, and where.
    pub fn problems(&self) -> &[(Place, MimeError)] {
        &self.problems
    }

    /// Every field allowed once that appears more than once.
    pub fn duplicate_fields(&self) -> impl Iterator<Item = &DuplicateField> {
        self.problems
            .iter()
            .filter_map(|(_, problem)| match problem {
                MimeError::DuplicateField(duplicate) => Some(duplicate),
                _ => None,
            })
    }

    /// The first repeated singleton field, as an error (see the module docs
    /// for why such mail is refused).
    pub fn check_singletons(&self) -> Result<(), DuplicateField> {
        match self.duplicate_fields().next() {
            Some(duplicate) => Err(duplicate.clone()),
            None => Ok(()),
        }
    }

    /// The message header did not parse: a reader cannot even tell its
    /// From or Subject (such mail is refused like a repeated singleton).
    /// Every error [`Entity::parse`] gives counts, a NUL byte or a bare CR
    /// as much as a line without a colon: signing and verification cannot
    /// read such a header either (found by the `policy_view` fuzz target).
    pub fn header_error(&self) -> Option<&MimeError> {
        self.problems.iter().find_map(|(place, problem)| {
            (*place == Place::Message
                && matches!(
                    problem,
                    MimeError::MalformedHeader { .. } | MimeError::ControlInHeader { .. }
                ))
            .then_some(problem)
        })
    }

    /// The leaves and `message/rfc822` parts that are files
    /// ([`Part::is_attachment`]), in message order.
    pub fn attachments(&self) -> Vec<&Part<'a>> {
        let mut out = Vec::new();
        for part in self.root.walk() {
            // The message itself is not "attached" to anything.
            if std::ptr::eq(part, &self.root) && part.kind != PartKind::Leaf {
                continue;
            }
            if part.is_attachment() {
                out.push(part);
            }
        }
        out
    }
}

fn child_place(parent: &Place, number: usize) -> Place {
    match parent {
        Place::Part(prefix) => Place::Part(format!("{prefix}.{number}")),
        Place::Message | Place::Entity => Place::Part(number.to_string()),
    }
}

fn parse_part<'a>(
    raw: &'a [u8],
    place: Place,
    depth: usize,
    message_header: bool,
    problems: &mut Vec<(Place, MimeError)>,
) -> Part<'a> {
    let leaf = |entity, content_type, declared| Part {
        raw,
        entity,
        content_type,
        declared,
        kind: PartKind::Leaf,
        children: Vec::new(),
        place: place.clone(),
    };
    let entity = match Entity::parse(raw) {
        Ok(entity) => entity,
        Err(error) => {
            problems.push((place.clone(), error));
            return leaf(None, ContentType::default(), None);
        }
    };
    let singletons: &[&'static str] = if message_header {
        &MESSAGE_SINGLETONS
    } else {
        &ENTITY_SINGLETONS
    };
    for &name in singletons {
        let count = entity.count(name);
        if count > 1 {
            let duplicate = DuplicateField {
                field: name,
                count,
                place: place.clone(),
            };
            problems.push((place.clone(), duplicate.into()));
        }
    }
    if message_header {
        // Content-Disposition is an entity field the message header may
        // carry too.
        let count = entity.count("content-disposition");
        if count > 1 {
            let duplicate = DuplicateField {
                field: "Content-Disposition",
                count,
                place: place.clone(),
            };
            problems.push((place.clone(), duplicate.into()));
        }
    }
    let content_type = match entity.content_type() {
        Ok(content_type) => content_type,
        // A repeated Content-Type is listed above already.
        Err(MimeError::DuplicateField(_)) => {
            return leaf(Some(entity), ContentType::default(), None);
        }
        Err(error) => {
            problems.push((place.clone(), error));
            return leaf(Some(entity), ContentType::default(), None);
        }
    };
    let declared = entity.field("content-type").map(|_| content_type.clone());
    if depth >= MAX_DEPTH && (content_type.is_multipart() || is_message(&content_type)) {
        problems.push((place.clone(), MimeError::TooDeep));
        return leaf(Some(entity), content_type, declared);
    }
    if content_type.is_multipart() {
        let Some(boundary) = content_type.parameter("boundary") else {
            problems.push((place.clone(), MimeError::MissingBoundary));
            return leaf(Some(entity), ContentType::default(), declared);
        };
        let (multipart, terminated) = Multipart::split_lenient(entity.body(), boundary);
        if !terminated {
            problems.push((
                place.clone(),
                MimeError::UnterminatedMultipart {
                    boundary: boundary.to_owned(),
                },
            ));
        }
        let children = multipart
            .parts()
            .iter()
            .enumerate()
            .map(|(index, part)| {
                parse_part(
                    part,
                    child_place(&place, index + 1),
                    depth + 1,
                    false,
                    problems,
                )
            })
            .collect();
        return Part {
            raw,
            entity: Some(entity),
            content_type,
            declared,
            kind: PartKind::Multipart,
            children,
            place,
        };
    }
    if is_message(&content_type) {
        let encoding = entity.transfer_encoding();
        if matches!(encoding.as_str(), "7bit" | "8bit" | "binary") {
            let inner_place = match &place {
                Place::Message | Place::Entity => Place::Part("1".to_owned()),
                Place::Part(_) => place.clone(),
            };
            let body = entity.body();
            let child = parse_part(body, inner_place, depth + 1, false, problems);
            return Part {
                raw,
                entity: Some(entity),
                content_type,
                declared,
                kind: PartKind::Message,
                children: vec![child],
                place,
            };
        }
    }
    leaf(Some(entity), content_type, declared)
}

fn is_message(content_type: &ContentType) -> bool {
    matches!(
        content_type.mime_type(),
        "message/rfc822" | "message/global"
    )
}

/// The value of parameter `name` with RFC 2231 applied: `name*`
/// (charset'language'percent-encoded), else the continuations `name*0`,
/// `name*1`, ... (each with or without `*`), else plain `name`.
fn extended_parameter(parameters: &[(String, String)], name: &str) -> Option<ParameterValue> {
    let get = |key: &str| {
        parameters
            .iter()
            .find(|(n, _)| n == key)
            .map(|(_, v)| v.as_str())
    };
    if let Some(value) = get(&format!("{name}*")) {
        let (charset, encoded) = split_extended(value);
        return Some(ParameterValue {
            charset,
            bytes: percent_decode(encoded),
        });
    }
    let mut charset = None;
    let mut bytes = Vec::new();
    let mut found = false;
    for section in 0..1000usize {
        if let Some(value) = get(&format!("{name}*{section}*")) {
            let encoded = if section == 0 {
                let (set, encoded) = split_extended(value);
                charset = set;
                encoded
            } else {
                value
            };
            bytes.extend(percent_decode(encoded));
        } else if let Some(value) = get(&format!("{name}*{section}")) {
            bytes.extend_from_slice(value.as_bytes());
        } else {
            break;
        }
        found = true;
    }
    if found {
        return Some(ParameterValue { charset, bytes });
    }
    get(name).map(|value| ParameterValue {
        charset: None,
        bytes: value.as_bytes().to_vec(),
    })
}

/// `charset'language'rest` → (charset, rest); without the two quotes, the
/// whole value.
fn split_extended(value: &str) -> (Option<String>, &str) {
    let mut pieces = value.splitn(3, '\'');
    match (pieces.next(), pieces.next(), pieces.next()) {
        (Some(charset), Some(_language), Some(rest)) => (
            (!charset.is_empty()).then(|| charset.to_ascii_lowercase()),
            rest,
        ),
        _ => (None, value),
    }
}

fn percent_decode(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&b) = bytes.get(index) {
        if b == b'%'
            && let Some(hex) = bytes.get(index + 1..index + 3)
            && let Some(decoded) = std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(decoded);
            index += 3;
            continue;
        }
        out.push(b);
        index += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn every_singleton_repeated_is_named_with_its_place() {
        for name in MESSAGE_SINGLETONS {
            let raw = format!("{name}: a\r\n{}: b\r\n\r\nbody\r\n", name.to_lowercase());
            let tree = MessageTree::parse(raw.as_bytes());
            let duplicate = tree.check_singletons().unwrap_err();
            assert_eq!(duplicate.field, name);
            assert_eq!(duplicate.count, 2);
            assert_eq!(duplicate.place, Place::Message);
        }
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Transfer-Encoding: base64\r\nContent-Transfer-Encoding: 7bit\r\n\r\nx\r\n--b--\r\n";
        let duplicate = MessageTree::parse(raw).check_singletons().unwrap_err();
        assert_eq!(duplicate.field, "Content-Transfer-Encoding");
        assert_eq!(duplicate.place, Place::Part("1".into()));
        // Repeated fields that are not singletons are fine.
        let raw = b"Received: a\r\nReceived: b\r\nComments: x\r\nComments: y\r\n\r\nhi\r\n";
        assert!(MessageTree::parse(raw).check_singletons().is_ok());
        // A forwarded message's own Subject is not ours to judge, its
        // Content-Type is (it decides structure).
        let raw = b"Content-Type: message/rfc822\r\n\r\nSubject: a\r\nSubject: b\r\n\r\nhi\r\n";
        assert!(MessageTree::parse(raw).check_singletons().is_ok());
    }

    #[test]
    fn a_repeated_content_type_decides_no_structure() {
        let raw = b"Content-Type: text/plain\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n";
        let tree = MessageTree::parse(raw);
        assert_eq!(tree.root().structure(), "text/plain");
        assert_eq!(tree.root().body(), b"--b\r\n\r\nx\r\n--b--\r\n");
    }

    #[test]
    fn broken_input_is_read_to_its_end() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\nContent-Type: application/pdf\r\n\r\n%PDF";
        let tree = MessageTree::parse(raw);
        assert_eq!(
            tree.root().structure(),
            "multipart/mixed[text/plain,application/pdf]"
        );
        assert_eq!(tree.root().children()[1].body(), b"%PDF");
        assert!(matches!(
            tree.problems()[0].1,
            MimeError::UnterminatedMultipart { .. }
        ));
        // A multipart without a boundary is read as text, and still
        // declares what signing reads (found by the policy_view fuzz target).
        let tree = MessageTree::parse(b"Content-Type: multipart/mix\n\r\nbody");
        assert_eq!(tree.root().structure(), "text/plain");
        assert_eq!(
            tree.root()
                .declared_content_type()
                .map(ContentType::mime_type),
            Some("multipart/mix")
        );
        assert_eq!(tree.problems()[0].1, MimeError::MissingBoundary);
        let tree = MessageTree::parse(b"no header here\r\n\r\nbody");
        assert!(tree.header_error().is_some());
        assert_eq!(tree.root().body(), b"no header here\r\n\r\nbody");
        // Every header the signing path cannot parse is a header error:
        // a NUL byte or a bare CR too (found by the policy_view fuzz target).
        for raw in [
            &b"no colon in th\x002 header line\r\nSubject: x\r\n\r\nbody\r\n"[..],
            b"Subject: a\rb\r\n\r\nbody",
        ] {
            assert!(Entity::parse(raw).is_err());
            assert!(MessageTree::parse(raw).header_error().is_some());
        }
    }

    #[test]
    fn file_names_follow_rfc_2231() {
        let raw = b"Content-Type: application/octet-stream; name=plain.txt\r\nContent-Disposition: attachment; filename*0*=utf-8''b%C3%B6se; filename*1=.exe\r\n\r\nx";
        let tree = MessageTree::parse(raw);
        let name = tree.root().file_name().unwrap();
        assert_eq!(name.charset.as_deref(), Some("utf-8"));
        assert_eq!(name.bytes, "böse.exe".as_bytes());
        let raw = b"Content-Type: application/octet-stream; name*=''a%2Eexe\r\n\r\nx";
        let name = MessageTree::parse(raw).root().file_name().unwrap();
        assert_eq!((name.charset, name.bytes), (None, b"a.exe".to_vec()));
    }

    #[test]
    fn forwarded_messages_are_part_of_the_tree() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nsee below\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\nContent-Type: application/x-msdownload; name=a.exe\r\n\r\nMZ\r\n--c--\r\n--b--\r\n";
        let tree = MessageTree::parse(raw);
        assert_eq!(
            tree.root().structure(),
            "multipart/mixed[text/plain,message/rfc822[multipart/mixed[application/x-msdownload]]]"
        );
        let attachments: Vec<_> = tree
            .attachments()
            .iter()
            .map(|p| p.content_type().mime_type().to_owned())
            .collect();
        assert_eq!(attachments, ["message/rfc822", "application/x-msdownload"]);
    }
}
