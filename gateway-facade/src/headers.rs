//! Editing the top-level header fields of a message, byte-exact everywhere
//! else: the policy's header edits, removal of untrusted `X-Mailgate-*`
//! fields, and the result fields inbound processing adds.

use std::io::{self, BufRead, BufReader, Write};

use mail_message::{Entity, LineBreak, MimeError};
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
pub const RESULT_FIELD_PREFIX: &str = "X-Mailgate-";

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
        match self.fields.iter().position(|f| Self::is(f, name)) {
            Some(first) => {
                let field = self.field(name, value);
                if let Some(slot) = self.fields.get_mut(first) {
                    *slot = field;
                }
                let mut index = 0;
                self.fields.retain(|f| {
                    index += 1;
                    index - 1 == first || !Self::is(f, name)
                });
            }
            None => self.append(name, value),
        }
    }

    pub(crate) fn apply(&mut self, edit: &HeaderEdit) {
        match edit {
            HeaderEdit::Add { name, value } => self.append(name, value),
            HeaderEdit::Remove { name } => self.remove(name),
            HeaderEdit::Replace { name, value } => self.replace(name, value),
            HeaderEdit::StripSubjectTag { tag } => {
                if let Some(subject) = self.value("Subject") {
                    let stripped = strip_tag(&subject, tag);
                    if stripped != subject {
                        self.replace("Subject", &stripped);
                    }
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

/// `subject` without every occurrence of `tag` (ASCII case-insensitive),
/// with the spaces around it collapsed.
fn strip_tag(subject: &str, tag: &str) -> String {
    if tag.is_empty() {
        return subject.to_owned();
    }
    let lower = subject.to_ascii_lowercase();
    let tag_lower = tag.to_ascii_lowercase();
    let mut out = String::with_capacity(subject.len());
    let mut at = 0;
    while let Some(found) = lower[at..].find(&tag_lower) {
        out.push_str(&subject[at..at + found]);
        at += found + tag.len();
    }
    out.push_str(&subject[at..]);
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The prefix under which header fields from inside a decrypted entity are
/// kept for forensics when they are not protected header fields: visible,
/// but never read as what they claim to be.
pub(crate) const INNER_FIELD_PREFIX: &str = "X-Mailgate-Inner-";

/// The fields a reader takes as saying who wrote a message, to whom, what
/// about and when (RFC 5322 sections 3.6.2 to 3.6.5). With RFC 9788 header
/// protection, the protected copies replace these outer ones, and an outer
/// one the sender did not protect is dropped: a client that implements the
/// RFC ignores it, so the gateway must not let another client show it.
const USER_FACING: [&str; 14] = [
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
    "keywords",
    "comments",
    "mail-followup-to",
];

/// Fields added in transit (trace, authentication results): never taken
/// from inside, never replaced by what the sender protected.
const TRANSIT: [&str; 9] = [
    "received",
    "return-path",
    "delivered-to",
    "x-original-to",
    "dkim-signature",
    "authentication-results",
    "received-spf",
    "arc-seal",
    "arc-message-signature",
];

/// The fields RFC 5322 allows once (section 3.6).
const SINGLETONS: [&str; 10] = [
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "subject",
    "date",
    "message-id",
    "in-reply-to",
    "references",
];

/// What [`HeaderBlock::merge_inner`] did with the decrypted entity's own
/// header fields, for the audit record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct InnerFields {
    /// The `hp` parameter of the entity (RFC 9788): `cipher` or `clear`.
    pub(crate) header_protection: Option<String>,
    /// Names of protected fields that replaced the outer ones.
    pub(crate) protected: Vec<String>,
    /// Names of inner fields kept as `X-Mailgate-Inner-*`.
    pub(crate) renamed: Vec<String>,
    /// Names of inner fields removed (result fields, `HP-Outer`).
    pub(crate) removed: Vec<String>,
}

impl InnerFields {
    pub(crate) fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "hp": self.header_protection,
            "protected": self.protected,
            "renamed": self.renamed,
            "removed": self.removed,
        })
    }
}

impl HeaderBlock {
    fn name_string(field: &[u8]) -> String {
        String::from_utf8_lossy(Self::name_of(field)).into_owned()
    }

    fn is_one_of(field: &[u8], names: &[&str]) -> bool {
        names.iter().any(|name| Self::is(field, name))
    }

    fn has_prefix(field: &[u8], prefix: &str) -> bool {
        Self::name_of(field)
            .get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix.as_bytes()))
    }

    /// The field renamed to `X-Mailgate-Inner-<name>`, value and folding
    /// kept.
    fn renamed(field: &[u8]) -> Vec<u8> {
        let colon = field.iter().position(|&b| b == b':').unwrap_or(field.len());
        let mut out = INNER_FIELD_PREFIX.as_bytes().to_vec();
        out.extend_from_slice(Self::name_of(field));
        out.extend_from_slice(field.get(colon..).unwrap_or_default());
        out
    }

    /// Sorts the header of a decrypted message, whose first `outer` fields
    /// are the outer message's (ending with `MIME-Version`) and whose other
    /// fields come from inside the decrypted entity, so that nothing from
    /// inside passes for an outer field or a gateway result:
    ///
    /// - `Content-*` fields describe the entity and stay.
    /// - `X-Mailgate-*` and `HP-Outer` fields from inside are removed: only
    ///   the gateway writes result fields, and `HP-Outer` only records what
    ///   the sender put outside (RFC 9788 section 2.2.1).
    /// - When the entity's `Content-Type` carries `hp="cipher"` or
    ///   `hp="clear"` (RFC 9788 section 2.1.1), its other fields are the
    ///   protected header: they replace every outer field of the same name
    ///   and, when they include From (a whole header), every outer
    ///   user-facing field (From, To, Subject, Date, ...), which a client
    ///   implementing the RFC would ignore; fields added in transit
    ///   (Received, DKIM-Signature, ...) stay and are never taken from
    ///   inside. Of a singleton given
    ///   twice inside, the first counts and the rest is renamed.
    /// - Without `hp`, nothing else is merged: every other inner field is
    ///   kept as `X-Mailgate-Inner-<name>`, so a second `From` or `Subject`
    ///   inside never becomes one.
    pub(crate) fn merge_inner(&mut self, outer: usize) -> InnerFields {
        let mut report = InnerFields::default();
        let outer = outer.min(self.fields.len());
        let inner = self.fields.split_off(outer);
        let header_protection = inner
            .iter()
            .find(|f| Self::is(f, "content-type"))
            .and_then(|f| {
                let colon = f.iter().position(|&b| b == b':')?;
                let value = String::from_utf8_lossy(f.get(colon + 1..)?).into_owned();
                let value: String = value.split(['\r', '\n']).collect();
                mail_message::ContentType::parse(value.trim()).ok()
            })
            .and_then(|t| t.parameter("hp").map(str::to_ascii_lowercase))
            .filter(|hp| hp == "cipher" || hp == "clear");
        let mut content = Vec::new();
        let mut protected: Vec<Vec<u8>> = Vec::new();
        let mut renamed = Vec::new();
        for field in inner {
            if Self::name_of(&field)
                .get(..8)
                .is_some_and(|start| start.eq_ignore_ascii_case(b"content-"))
            {
                content.push(field);
            } else if Self::has_prefix(&field, RESULT_FIELD_PREFIX) || Self::is(&field, "hp-outer")
            {
                report.removed.push(Self::name_string(&field));
            } else if Self::is(&field, "mime-version") {
                // The outer header has its own.
            } else if header_protection.is_some()
                && !Self::is_one_of(&field, &TRANSIT)
                && !(Self::is_one_of(&field, &SINGLETONS)
                    && protected
                        .iter()
                        .any(|p| Self::is(p, &Self::name_string(&field))))
            {
                report.protected.push(Self::name_string(&field));
                protected.push(field);
            } else {
                report.renamed.push(Self::name_string(&field));
                renamed.push(Self::renamed(&field));
            }
        }
        // A protected header without From is not a whole header (RFC 9788
        // section 2.2 protects at least what RFC 5322 requires): it
        // replaces only the fields it has.
        let whole = protected.iter().any(|p| Self::is(p, "from"));
        if header_protection.is_some() {
            self.fields.retain(|f| {
                let replaced = (whole && Self::is_one_of(f, &USER_FACING))
                    || protected.iter().any(|p| Self::is(f, &Self::name_string(p)));
                !replaced
            });
        }
        // Protected fields go before MIME-Version, as message fields do.
        let mime_version = self
            .fields
            .iter()
            .rposition(|f| Self::is(f, "mime-version"))
            .unwrap_or(self.fields.len());
        let tail = self.fields.split_off(mime_version);
        self.fields.extend(protected);
        self.fields.extend(tail);
        self.fields.extend(renamed);
        self.fields.extend(content);
        report.header_protection = header_protection;
        report
    }
}

/// A decrypted message with its inner header fields sorted out
/// ([`HeaderBlock::merge_inner`]). `received` is the message as it came
/// (result fields already removed): the decryptors write its outer fields
/// first (`Entity::outer_header`), then the decrypted entity's fields.
pub(crate) fn merge_inner_header(
    received: &SpooledMessage,
    decrypted: &SpooledMessage,
) -> Result<(SpooledMessage, InnerFields), EditError> {
    let (header, _) = header_section(received)?;
    let outer = Entity::parse(&Entity::parse(&header)?.outer_header())?
        .fields()
        .len();
    let mut report = InnerFields::default();
    let merged = edit_header(decrypted, |block| report = block.merge_inner(outer))?;
    Ok((merged, report))
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

    fn merged(message: &[u8], outer: usize) -> (String, InnerFields) {
        let mut block = HeaderBlock::parse(message).unwrap_or_else(|e| panic!("{e}"));
        let report = block.merge_inner(outer);
        (
            String::from_utf8_lossy(&block.into_bytes()).into_owned(),
            report,
        )
    }

    #[test]
    fn inner_fields_without_header_protection_are_renamed_or_removed() {
        let (text, report) = merged(
            b"Received: x\r\nFrom: a@x.example\r\nSubject: outer\r\nMIME-Version: 1.0\r\n\
              From: ceo@x.example\r\nX-Mailgate-Signature: valid\r\nx-mailgate-quarantine: no\r\n\
              Content-Type: text/plain\r\nSubject: inner\r\n\r\nBody\r\n",
            4,
        );
        assert_eq!(
            text,
            "Received: x\r\nFrom: a@x.example\r\nSubject: outer\r\nMIME-Version: 1.0\r\n\
             X-Mailgate-Inner-From: ceo@x.example\r\nX-Mailgate-Inner-Subject: inner\r\n\
             Content-Type: text/plain\r\n\r\nBody\r\n"
        );
        assert_eq!(report.header_protection, None);
        assert_eq!(
            report.removed,
            ["X-Mailgate-Signature", "x-mailgate-quarantine"]
        );
    }

    #[test]
    fn protected_headers_replace_the_outer_ones() {
        let (text, report) = merged(
            b"Received: x\r\nFrom: a@x.example\r\nSubject: ...\r\nReply-To: z@evil.example\r\nMIME-Version: 1.0\r\n\
              Content-Type: multipart/mixed; boundary=b; hp=\"cipher\"\r\nFrom: b@x.example\r\n\
              Subject: real\r\nHP-Outer: Subject: ...\r\nFrom: c@x.example\r\n\r\nBody\r\n",
            5,
        );
        assert_eq!(
            text,
            "Received: x\r\nFrom: b@x.example\r\nSubject: real\r\nMIME-Version: 1.0\r\n\
             X-Mailgate-Inner-From: c@x.example\r\n\
             Content-Type: multipart/mixed; boundary=b; hp=\"cipher\"\r\n\r\nBody\r\n"
        );
        assert_eq!(report.header_protection.as_deref(), Some("cipher"));
        assert_eq!(report.protected, ["From", "Subject"]);
        assert_eq!(report.removed, ["HP-Outer"]);
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

    proptest::proptest! {
        /// Whatever fields an entity carries inside, the merged header has
        /// exactly the outer From, no inner result field and nothing
        /// inner under an outer name unless it is protected.
        #[test]
        fn nothing_inside_becomes_an_outer_field(
            names in proptest::collection::vec(
                proptest::sample::select(vec![
                    "From", "FROM", "Sender", "Subject", "X-Mailgate-Signature",
                    "x-mailgate-quarantine", "X-MAILGATE-Decryption", "Reply-To",
                    "Date", "HP-Outer", "Received", "X-Other", "MIME-Version",
                ]),
                0..12,
            ),
            hp in proptest::option::of(proptest::sample::select(vec!["cipher", "clear", "none"])),
        ) {
            let mut message = b"From: outer@x.example\r\nMIME-Version: 1.0\r\n".to_vec();
            let content_type = match hp {
                Some(hp) => format!("Content-Type: text/plain; hp=\"{hp}\"\r\n"),
                None => "Content-Type: text/plain\r\n".to_owned(),
            };
            message.extend_from_slice(content_type.as_bytes());
            for name in &names {
                message.extend_from_slice(format!("{name}: inner@y.example\r\n").as_bytes());
            }
            message.extend_from_slice(b"\r\nBody\r\n");
            let (text, _) = merged(&message, 2);
            let protected = matches!(hp, Some("cipher" | "clear"));
            let froms: Vec<&str> = text.lines().filter(|l| l.to_ascii_lowercase().starts_with("from:")).collect();
            proptest::prop_assert_eq!(froms.len(), 1, "{}", text);
            let inner_from = names.iter().any(|n| n.eq_ignore_ascii_case("from"));
            let expected = if protected && inner_from { "From: inner@y.example" } else { "From: outer@x.example" };
            proptest::prop_assert!(froms[0].eq_ignore_ascii_case(expected), "{}", text);
            for line in text.lines().take_while(|l| !l.is_empty()) {
                let lower = line.to_ascii_lowercase();
                proptest::prop_assert!(!lower.starts_with("x-mailgate-") || lower.starts_with("x-mailgate-inner-"), "{}", text);
                proptest::prop_assert!(!lower.starts_with("hp-outer"), "{}", text);
                if !protected && lower.contains("inner@y.example") {
                    proptest::prop_assert!(lower.starts_with("x-mailgate-inner-"), "{}", text);
                }
            }
            proptest::prop_assert_eq!(text.matches("MIME-Version").count(), 1, "{}", text);
            proptest::prop_assert!(text.ends_with("\r\n\r\nBody\r\n"));
        }
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
