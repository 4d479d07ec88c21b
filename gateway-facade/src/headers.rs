//! Editing the top-level header fields of a message, byte-exact everywhere
//! else: the policy's header edits, removal of untrusted `X-Mailgate-*`
//! fields, and the result fields inbound processing adds.

use std::io::{self, BufRead, BufReader, Write};

use mail_message::{Entity, InnerFields, LineBreak, MimeError};
use rule_engine::HeaderEdit;

use crate::spooled_message::SpooledMessage;

/// The longest header section a spooled message may have.
const MAX_HEADER: usize = 1024 * 1024;

/// Why a message's header fields could not be edited.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EditError {
    /// The header section is malformed.
    #[error(transparent)]
    Mime(#[from] MimeError),
    /// The spool file could not be read or written.
    #[error("the message spool: {0}")]
    Io(#[from] io::Error),
}

/// The header section of `message` (up to the empty line) and a reader of
/// the rest.
pub(crate) fn header_section(
    message: &SpooledMessage,
) -> io::Result<(Vec<u8>, impl BufRead + Send + Sync + '_)> {
    let mut reader = BufReader::with_capacity(64 * 1024, message.reader()?);
    let header = mail_message::stream::read_header_section(&mut reader, MAX_HEADER)?;
    Ok((header, reader))
}

/// `message` with `edit` applied to its top-level header fields, the body
/// copied byte for byte (from spool file to spool file for large mail, so
/// only the header section is ever held).
pub(crate) fn edit_header(
    message: &SpooledMessage,
    edit: impl FnOnce(&mut HeaderBlock),
) -> Result<SpooledMessage, EditError> {
    if let Some(bytes) = message.in_memory() {
        let mut block = HeaderBlock::parse(bytes)?;
        edit(&mut block);
        return Ok(block.into_bytes().into());
    }
    let (header, mut reader) = header_section(message)?;
    let mut block = HeaderBlock::parse(&header)?;
    edit(&mut block);
    SpooledMessage::spool(|output| {
        output.write_all(&block.into_bytes())?;
        io::copy(&mut reader, output)?;
        Ok::<(), EditError>(())
    })
}

/// The prefix of every field the gateway writes. Incoming fields with it
/// are removed before anything else: a sender could forge them.
pub use mail_message::RESULT_FIELD_PREFIX;

/// A message split into its header fields (each with its line break and
/// continuation lines) and its body.
#[derive(Debug, Clone)]
pub(crate) struct HeaderBlock {
    fields: Vec<Vec<u8>>,
    line_break: LineBreak,
    /// Everything after the header section, separator line included.
    rest: Vec<u8>,
}

impl HeaderBlock {
    pub(crate) fn parse(message: &[u8]) -> Result<HeaderBlock, MimeError> {
        let entity = Entity::parse(message)?;
        let fields: Vec<Vec<u8>> = entity.fields().iter().map(|f| f.raw().to_vec()).collect();
        let header_len: usize = fields.iter().map(Vec::len).sum();
        Ok(HeaderBlock {
            line_break: entity.line_break(),
            rest: message.get(header_len..).unwrap_or_default().to_vec(),
            fields,
        })
    }

    fn name_of(field: &[u8]) -> &[u8] {
        let end = field.iter().position(|&b| b == b':').unwrap_or(field.len());
        field.get(..end).unwrap_or_default().trim_ascii()
    }

    fn is(field: &[u8], name: &str) -> bool {
        Self::name_of(field).eq_ignore_ascii_case(name.as_bytes())
    }

    /// The unfolded value of the first field called `name`.
    pub(crate) fn value(&self, name: &str) -> Option<String> {
        let field = self.fields.iter().find(|f| Self::is(f, name))?;
        let colon = field.iter().position(|&b| b == b':')?;
        let value = String::from_utf8_lossy(field.get(colon + 1..).unwrap_or_default());
        Some(
            value
                .split(['\r', '\n'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        )
    }

    pub(crate) fn remove(&mut self, name: &str) {
        self.fields.retain(|f| !Self::is(f, name));
    }

    pub(crate) fn remove_prefixed(&mut self, prefix: &str) {
        self.fields.retain(|f| {
            let name = Self::name_of(f);
            !name
                .get(..prefix.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(prefix.as_bytes()))
        });
    }

    /// Adds a field at the top of the header, as trace and result fields go.
    pub(crate) fn prepend(&mut self, name: &str, value: &str) {
        self.fields.insert(0, self.field(name, value));
    }

    /// Adds a field at the end of the header.
    pub(crate) fn append(&mut self, name: &str, value: &str) {
        let field = self.field(name, value);
        self.fields.push(field);
    }

    fn field(&self, name: &str, value: &str) -> Vec<u8> {
        // Values come from policies and from us; line breaks in them would
        // let one field smuggle in another.
        let value: String = value
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        let mut field = format!("{name}: {value}").into_bytes();
        field.extend_from_slice(self.line_break.as_bytes());
        field
    }

    pub(crate) fn replace(&mut self, name: &str, value: &str) {
        let field = self.field(name, value);
        self.replace_field(name, field);
    }

    /// Puts `field` (whole, line break included) in place of the first
    /// field called `name` and removes the others.
    fn replace_field(&mut self, name: &str, field: Vec<u8>) {
        match self.fields.iter().position(|f| Self::is(f, name)) {
            Some(first) => {
                if let Some(slot) = self.fields.get_mut(first) {
                    *slot = field;
                }
                let mut index = 0;
                self.fields.retain(|f| {
                    index += 1;
                    index - 1 == first || !Self::is(f, name)
                });
            }
            None => self.fields.push(field),
        }
    }

    /// The raw value of the first field called `name` (after the colon,
    /// folding kept, without the final line break).
    fn raw_value(&self, name: &str) -> Option<&[u8]> {
        let field = self.fields.iter().find(|f| Self::is(f, name))?;
        let colon = field.iter().position(|&b| b == b':')?;
        let value = field.get(colon + 1..)?;
        let end = value.len() - self.line_break.as_bytes().len().min(value.len());
        value.get(..end)
    }

    pub(crate) fn apply(&mut self, edit: &HeaderEdit) {
        match edit {
            HeaderEdit::Add { name, value } => self.append(name, value),
            HeaderEdit::Remove { name } => self.remove(name),
            HeaderEdit::Replace { name, value } => self.replace(name, value),
            HeaderEdit::StripSubjectTag { tag } => {
                // Found and removed in the text the reader sees, as the
                // rule engine matched it (rule_engine::shown_text): encoded
                // words, invisible characters, width and case variants.
                let stripped = self
                    .raw_value("Subject")
                    .and_then(|raw| rule_engine::shown_text::strip_marker(raw, tag));
                if let Some(stripped) = stripped {
                    let line_break = String::from_utf8_lossy(self.line_break.as_bytes());
                    let mut field = b"Subject:".to_vec();
                    field.extend_from_slice(stripped.to_field_value(&line_break).as_bytes());
                    field.extend_from_slice(self.line_break.as_bytes());
                    self.replace_field("Subject", field);
                }
            }
        }
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.rest.len() + 1024);
        for field in self.fields {
            out.extend_from_slice(&field);
        }
        out.extend_from_slice(&self.rest);
        out
    }
}

/// A decrypted message with its inner header fields sorted out by
/// [`mail_message::merge_inner_header`] (RFC 9788 reading rules; everything
/// else from inside renamed `X-Mailgate-Inner-*` or removed), the one
/// function the command line's decryptors use as well. `received` is the
/// message as it came (result fields already removed): the decryptors write
/// its outer fields first (`Entity::outer_header`), then the decrypted
/// entity's fields. Spooled mail is merged from its header section, the
/// body copied from spool file to spool file.
pub(crate) fn merge_inner_header(
    received: &SpooledMessage,
    decrypted: &SpooledMessage,
) -> Result<(SpooledMessage, InnerFields), EditError> {
    let (received_header, _) = header_section(received)?;
    if let Some(bytes) = decrypted.in_memory() {
        let (merged, report) = mail_message::merge_inner_header(&received_header, bytes)?;
        return Ok((merged.into(), report));
    }
    let (header, mut reader) = header_section(decrypted)?;
    let (merged, report) = mail_message::merge_inner_header(&received_header, &header)?;
    let spooled = SpooledMessage::spool(|output| {
        output.write_all(&merged)?;
        io::copy(&mut reader, output)?;
        Ok::<(), EditError>(())
    })?;
    Ok((spooled, report))
}

/// Applies the policy's header edits to a message.
pub(crate) fn apply_edits(
    message: &SpooledMessage,
    edits: &[HeaderEdit],
) -> Result<SpooledMessage, EditError> {
    if edits.is_empty() {
        return Ok(message.clone());
    }
    edit_header(message, |block| {
        for edit in edits {
            block.apply(edit);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &[u8] = b"From: a@behoerde.example\r\nSubject: [VERTRAULICH]  Akte\r\n 42\r\nX-Mailgate-Signature: valid\r\nx-mailgate-forged: 1\r\nTo: b@x.example\r\n\r\nBody\r\nSubject: not a header\r\n";

    #[test]
    fn subject_tags_are_stripped_in_any_case() -> Result<(), EditError> {
        let edited = apply_edits(
            &MAIL.to_vec().into(),
            &[HeaderEdit::StripSubjectTag {
                tag: "[vertraulich]".into(),
            }],
        )?
        .to_vec()?;
        let text = String::from_utf8_lossy(&edited);
        assert!(text.contains("Subject: Akte 42\r\n"), "{text}");
        assert!(text.ends_with("\r\n\r\nBody\r\nSubject: not a header\r\n"));
        Ok(())
    }

    #[test]
    fn a_tag_inside_encoded_words_is_stripped_and_the_rest_re_encoded() -> Result<(), EditError> {
        // LF line breaks, the tag split over two folded words, a soft
        // hyphen in it, non-ASCII text after it.
        let mail = b"From: a@behoerde.example\nSubject: =?utf-8?q?=5BVertr=C2=AD?=\n =?utf-8?b?YXVsaWNoXSDDhG5kZXJ1bmc?=\nTo: b@x.example\n\nBody\n";
        let edited = apply_edits(
            &mail.to_vec().into(),
            &[HeaderEdit::StripSubjectTag {
                tag: "[vertraulich]".into(),
            }],
        )?
        .to_vec()?;
        let text = String::from_utf8_lossy(&edited);
        assert!(
            text.contains("\nSubject: =?UTF-8?B?w4RuZGVydW5n?=\nTo: b@x.example\n\nBody\n"),
            "{text}"
        );
        Ok(())
    }

    #[test]
    fn gateway_fields_are_removed_whatever_their_case() -> Result<(), MimeError> {
        let mut block = HeaderBlock::parse(MAIL)?;
        block.remove_prefixed(RESULT_FIELD_PREFIX);
        block.prepend("X-Mailgate-Signature", "none\r\nBcc: injected");
        let text = String::from_utf8(block.into_bytes()).unwrap_or_default();
        assert!(text.starts_with("X-Mailgate-Signature: none  Bcc: injected\r\nFrom:"));
        assert!(!text.contains("forged"));
        assert_eq!(text.matches("X-Mailgate").count(), 1);
        Ok(())
    }

    #[test]
    fn spooled_decrypted_mail_is_merged_like_mail_in_memory() -> Result<(), EditError> {
        let received = b"From: a@x.example\r\nSubject: outer\r\nContent-Type: application/pkcs7-mime\r\n\r\nMIA=\r\n";
        let mut decrypted = b"From: a@x.example\r\nSubject: outer\r\nMIME-Version: 1.0\r\n\
            Content-Type: text/plain\r\nFrom: ceo@x.example\r\nX-Mailgate-Signature: valid\r\n\r\n"
            .to_vec();
        while decrypted.len() <= crate::IN_MEMORY_LIMIT {
            decrypted.extend_from_slice(b"From: still the body\r\n");
        }
        let spooled = SpooledMessage::read_from(&decrypted[..])?;
        assert!(spooled.in_memory().is_none());
        let (from_spool, spool_report) = merge_inner_header(&received.to_vec().into(), &spooled)?;
        assert!(from_spool.in_memory().is_none());
        let (in_memory, memory_report) =
            merge_inner_header(&received.to_vec().into(), &decrypted.clone().into())?;
        assert_eq!(spool_report, memory_report);
        assert_eq!(memory_report.removed, ["X-Mailgate-Signature"]);
        let merged = in_memory.to_vec()?;
        assert_eq!(from_spool.to_vec()?, merged);
        assert!(merged.starts_with(
            b"From: a@x.example\r\nSubject: outer\r\nMIME-Version: 1.0\r\n\
              X-Mailgate-Inner-From: ceo@x.example\r\nContent-Type: text/plain\r\n\r\nFrom: still"
        ));
        Ok(())
    }

    #[test]
    fn replace_keeps_one_field() -> Result<(), EditError> {
        let edited = apply_edits(
            &b"A: 1\nB: 2\nA: 3\n\nbody".to_vec().into(),
            &[
                HeaderEdit::Replace {
                    name: "a".into(),
                    value: "x".into(),
                },
                HeaderEdit::Add {
                    name: "C".into(),
                    value: "4".into(),
                },
                HeaderEdit::Remove { name: "B".into() },
            ],
        )?
        .to_vec()?;
        assert_eq!(edited, b"a: x\nC: 4\n\nbody");
        Ok(())
    }

    #[test]
    fn spooled_mail_is_edited_like_mail_in_memory() -> Result<(), EditError> {
        let mut large = MAIL.to_vec();
        while large.len() <= crate::IN_MEMORY_LIMIT {
            large.extend_from_slice(b"Subject: still the body\r\n");
        }
        let spooled = SpooledMessage::read_from(&large[..])?;
        assert!(spooled.in_memory().is_none());
        let edits = [
            HeaderEdit::StripSubjectTag {
                tag: "[vertraulich]".into(),
            },
            HeaderEdit::Add {
                name: "X-Tag".into(),
                value: "1".into(),
            },
        ];
        let from_spool = apply_edits(&spooled, &edits)?;
        assert!(from_spool.in_memory().is_none());
        let in_memory = apply_edits(&large.clone().into(), &edits)?;
        assert!(in_memory.in_memory().is_some());
        assert_eq!(from_spool.to_vec()?, in_memory.to_vec()?);
        Ok(())
    }
}
