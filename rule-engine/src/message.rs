//! What rules can see of a message: headers, attachments, decoded text, size
//! and whether it is already signed or encrypted. The message is parsed once
//! with `mail-parser`; evaluation for every recipient reads this summary.

use std::io::{self, Read};

use mail_parser::{MessageParser, MimeHeaders, PartType};

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
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    headers: Vec<(String, String)>,
    subject: Option<String>,
    subject_lowercase: Option<String>,
    attachments: Vec<Attachment>,
    text: String,
    size: u64,
    signed: bool,
    encrypted: bool,
    /// False when a message read with [`Message::read_from`] had more
    /// content to keep than its limit: conditions on text and attachments
    /// cannot be decided.
    incomplete: bool,
}

/// What `elided` left out of `part`: the decoded body of a binary part
/// whose body was dropped, the raw bytes dropped inside a forwarded message.
fn elided_size(part: &mail_parser::MessagePart<'_>, elided: &[Elided]) -> u64 {
    let (start, end) = (part.offset_body as usize, part.offset_end as usize);
    match part.body {
        PartType::Binary(_) | PartType::InlineBinary(_) => elided
            .iter()
            .filter(|e| e.at == start)
            .map(|e| e.decoded)
            .sum(),
        PartType::Message(_) => elided
            .iter()
            .filter(|e| (start..=end).contains(&e.at))
            .map(|e| e.raw)
            .sum(),
        _ => 0,
    }
}

fn mime_type(part: &mail_parser::MessagePart<'_>) -> String {
    part.content_type().map_or_else(
        || "text/plain".to_owned(),
        |ct| {
            format!(
                "{}/{}",
                ct.ctype().to_ascii_lowercase(),
                ct.subtype().unwrap_or("").to_ascii_lowercase()
            )
        },
    )
}

impl Message {
    /// Parses raw message bytes. Never fails: bytes that are not a message
    /// give an empty summary (no headers, no attachments) of the given size.
    pub fn parse(raw: &[u8]) -> Self {
        Self::summarise(raw, raw.len() as u64, &[])
    }

    /// Reads a message of any size from `reader`, holding at most `limit`
    /// bytes of it.
    ///
    /// The base64 bodies of binary attachments are read, measured and
    /// dropped (see the `reduced_message` module for why no parser can see
    /// anything else in what is dropped); headers, text parts and the MIME
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
        let Some(parsed) = MessageParser::default().parse(raw) else {
            return Self {
                size,
                ..Self::default()
            };
        };
        let headers = parsed
            .headers()
            .iter()
            .map(|h| {
                let value = match h.value().as_text() {
                    Some(text) => text.to_owned(),
                    None => parsed
                        .raw_message()
                        .get(h.offset_start() as usize..h.offset_end() as usize)
                        .map(|b| String::from_utf8_lossy(b).trim().to_owned())
                        .unwrap_or_default(),
                };
                (h.name().to_ascii_lowercase(), value)
            })
            .collect();
        let root = parsed.root_part();
        let root_type = mime_type(root);
        let smime_type = root
            .content_type()
            .and_then(|ct| ct.attribute("smime-type"))
            .map(str::to_ascii_lowercase);
        let signed = root_type == "multipart/signed"
            || (matches!(
                root_type.as_str(),
                "application/pkcs7-mime" | "application/x-pkcs7-mime"
            ) && smime_type.as_deref() == Some("signed-data"));
        let mut encrypted = root_type == "multipart/encrypted"
            || (matches!(
                root_type.as_str(),
                "application/pkcs7-mime" | "application/x-pkcs7-mime"
            ) && smime_type.as_deref() != Some("signed-data")
                && smime_type.as_deref() != Some("certs-only"));
        let mut text = String::new();
        // Parts already scanned, by address, so a text attachment that is
        // also a text body is counted once.
        let mut scanned = std::collections::HashSet::new();
        for part in parsed.text_bodies().chain(parsed.html_bodies()) {
            if !scanned.insert(std::ptr::from_ref(part) as usize) {
                continue;
            }
            // Text parts only: mail-parser also lists inline images here,
            // whose bytes are no text (and are not read into memory when
            // the message is read from a stream).
            if let PartType::Text(t) | PartType::Html(t) = &part.body {
                text.push_str(t);
                text.push('\n');
            }
        }
        if text.contains("-----BEGIN PGP MESSAGE-----") {
            encrypted = true;
        }
        let attachments = parsed
            .attachments()
            .map(|part| {
                if let PartType::Text(t) = &part.body
                    && scanned.insert(std::ptr::from_ref(part) as usize)
                {
                    text.push_str(t);
                    text.push('\n');
                }
                Attachment {
                    name: part.attachment_name().map(str::to_owned),
                    mime_type: mime_type(part),
                    size: part.contents().len() as u64 + elided_size(part, elided),
                }
            })
            .collect();
        Self {
            headers,
            subject: parsed.subject().map(str::to_owned),
            subject_lowercase: parsed.subject().map(str::to_lowercase),
            attachments,
            text: text.to_lowercase(),
            size,
            signed,
            encrypted,
            incomplete: false,
        }
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

    /// The Subject in lower case, for tag conditions.
    pub(crate) fn subject_lowercase(&self) -> Option<&str> {
        self.subject_lowercase.as_deref()
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
    pub fn text(&self) -> &str {
        &self.text
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
}
