//! The header of a decrypted message: what may come from inside the
//! encrypted entity, and what may not.
//!
//! A decryptor (S/MIME or OpenPGP, in memory or streaming) writes the outer
//! message's fields ([`Entity::outer_header`], ending with `MIME-Version`)
//! followed by the decrypted entity. The entity's own header fields were
//! written by whoever encrypted the message, and anyone with the
//! recipient's public certificate or key can encrypt: a `From` inside is
//! not the sender, an `X-Mailgate-Signature: valid` inside is not a verdict.
//! [`merge_inner_header`] is the one place that decides which inner fields
//! count, so the gateway and the command line deliver the same header.
//!
//! The reading rules are those of RFC 9788 (Header Protection for
//! Cryptographically Protected Email), section 4 ("Receiving Side"):
//! an entity whose `Content-Type` has `hp="cipher"` or `hp="clear"`
//! carries a protected header, whose fields replace the outer ones; without
//! it, inner fields are not header fields of the message at all and are
//! kept only under [`INNER_FIELD_PREFIX`] for forensics.

use crate::{ContentType, Entity, MimeError};

/// The prefix of every field the gateway writes (`X-Mailgate-Signature`,
/// `X-Mailgate-Decryption`, ...). Such fields from inside a decrypted
/// entity are removed: only the gateway writes them.
pub const RESULT_FIELD_PREFIX: &str = "X-Mailgate-";

/// The prefix under which header fields from inside a decrypted entity are
/// kept for forensics when they are not protected header fields: visible,
/// but never read as what they claim to be.
pub const INNER_FIELD_PREFIX: &str = "X-Mailgate-Inner-";

/// The fields a reader takes as saying who wrote a message, to whom, what
/// about and when (RFC 5322 sections 3.6.2 to 3.6.5). With RFC 9788 header
/// protection, the protected copies replace these outer ones, and an outer
/// one the sender did not protect is dropped: a client that implements the
/// RFC ignores it, so no other client may be shown it.
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

/// What [`merge_inner_header`] did with the decrypted entity's own header
/// fields, for an audit record or a warning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct InnerFields {
    /// The `hp` parameter of the entity's `Content-Type` (RFC 9788 section
    /// 2.1.1), lower case, when it is `cipher` or `clear`.
    pub header_protection: Option<String>,
    /// Names of protected fields that replaced the outer ones.
    pub protected: Vec<String>,
    /// Names of inner fields kept as `X-Mailgate-Inner-<name>`.
    pub renamed: Vec<String>,
    /// Names of inner fields removed (`X-Mailgate-*` result fields,
    /// `HP-Outer`).
    pub removed: Vec<String>,
}

/// Sorts out the header of a decrypted message so that nothing from inside
/// the encrypted entity passes for an outer field or a gateway result.
///
/// `received_header` is the header section of the message as it was
/// received (the encrypted one; any longer prefix of it, the whole message
/// say, does as well). `decrypted` is what the decryptor wrote: the
/// received message's [`Entity::outer_header`], then the decrypted entity.
/// It may be the whole decrypted message or only its header section (as a
/// streaming caller reads it with [`stream::read_header_section`]); what
/// follows the header section is returned unchanged. The result is the
/// decrypted message (or header section) with its header sorted:
///
/// - The outer fields stay as they are, in their order.
/// - `Content-*` fields from inside describe the entity and stay, last.
/// - `X-Mailgate-*` ([`RESULT_FIELD_PREFIX`]) and `HP-Outer` fields from
///   inside are removed: only the gateway writes result fields, and
///   `HP-Outer` only records what the sender put outside (RFC 9788
///   section 2.2.1). `MIME-Version` from inside is dropped (the outer
///   header has its own).
/// - When the entity's `Content-Type` carries `hp="cipher"` or `hp="clear"`
///   (RFC 9788 section 2.1.1), its other fields are the protected header:
///   they replace every outer field of the same name and, when they include
///   `From` (a whole header), every outer user-facing field (From, To,
///   Subject, Date, ...), which a client implementing the RFC would ignore.
///   Fields added in transit (`Received`, `DKIM-Signature`, ...) are never
///   taken from inside. Of a singleton (RFC 5322 section 3.6) given twice
///   inside, the first counts and the rest is renamed.
/// - Without `hp`, nothing else is merged: every other inner field is kept
///   as `X-Mailgate-Inner-<name>` ([`INNER_FIELD_PREFIX`]), value and
///   folding unchanged, so a second `From` or `Subject` inside never
///   becomes one.
///
/// Outer fields are the caller's business: a gateway removes `X-Mailgate-*`
/// fields from the received message before it decrypts, since a sender can
/// write those outside as well.
///
/// # Errors
///
/// [`MimeError`] when either header section does not parse.
///
/// # Example
///
/// ```
/// use mail_message::{Entity, merge_inner_header};
///
/// let received = b"From: alice@example.org\r\nSubject: hi\r\n\
///     Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n\r\nMIAGCSqG...\r\n";
/// // What a decryptor writes: the outer fields, then the entity it found.
/// let mut decrypted = Entity::parse(received)?.outer_header();
/// decrypted.extend_from_slice(
///     b"From: ceo@example.org\r\nX-Mailgate-Signature: valid\r\n\
///       Content-Type: text/plain\r\n\r\nPay the invoice.\r\n",
/// );
/// let (merged, inner) = merge_inner_header(received, &decrypted)?;
/// assert_eq!(
///     merged,
///     b"From: alice@example.org\r\nSubject: hi\r\nMIME-Version: 1.0\r\n\
///       X-Mailgate-Inner-From: ceo@example.org\r\n\
///       Content-Type: text/plain\r\n\r\nPay the invoice.\r\n"
/// );
/// assert_eq!(inner.renamed, ["From"]);
/// assert_eq!(inner.removed, ["X-Mailgate-Signature"]);
///
/// // With RFC 9788 header protection the protected fields count.
/// let mut protected = Entity::parse(received)?.outer_header();
/// protected.extend_from_slice(
///     b"Content-Type: text/plain; hp=\"cipher\"\r\nFrom: alice@example.org\r\n\
///       Subject: the real subject\r\n\r\nHello\r\n",
/// );
/// let (merged, inner) = merge_inner_header(received, &protected)?;
/// assert!(merged.starts_with(b"From: alice@example.org\r\nSubject: the real subject\r\nMIME-Version: 1.0\r\n"));
/// assert_eq!(inner.header_protection.as_deref(), Some("cipher"));
/// # Ok::<(), mail_message::MimeError>(())
/// ```
///
/// [`stream::read_header_section`]: crate::stream::read_header_section
pub fn merge_inner_header(
    received_header: &[u8],
    decrypted: &[u8],
) -> Result<(Vec<u8>, InnerFields), MimeError> {
    // How many fields the decryptor wrote before the entity's: computed
    // from the received message with the same functions the decryptors
    // use, never guessed from the decrypted bytes, which the sender wrote.
    let outer_header = Entity::parse(received_header)?.outer_header();
    let outer = Entity::parse(&outer_header)?.fields().len();
    let entity = Entity::parse(decrypted)?;
    let mut fields: Vec<Vec<u8>> = entity.fields().iter().map(|f| f.raw().to_vec()).collect();
    let header_len: usize = fields.iter().map(Vec::len).sum();
    let rest = decrypted.get(header_len..).unwrap_or_default();
    let report = sort_fields(&mut fields, outer);
    let mut out = Vec::with_capacity(decrypted.len() + 64);
    for field in fields {
        out.extend_from_slice(&field);
    }
    out.extend_from_slice(rest);
    Ok((out, report))
}

fn name_of(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == b':').unwrap_or(field.len());
    field.get(..end).unwrap_or_default().trim_ascii()
}

fn name_string(field: &[u8]) -> String {
    String::from_utf8_lossy(name_of(field)).into_owned()
}

fn is(field: &[u8], name: &str) -> bool {
    name_of(field).eq_ignore_ascii_case(name.as_bytes())
}

fn is_one_of(field: &[u8], names: &[&str]) -> bool {
    names.iter().any(|name| is(field, name))
}

fn has_prefix(field: &[u8], prefix: &str) -> bool {
    name_of(field)
        .get(..prefix.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// The field renamed to `X-Mailgate-Inner-<name>`, value and folding kept.
fn renamed(field: &[u8]) -> Vec<u8> {
    let colon = field.iter().position(|&b| b == b':').unwrap_or(field.len());
    let mut out = INNER_FIELD_PREFIX.as_bytes().to_vec();
    out.extend_from_slice(name_of(field));
    out.extend_from_slice(field.get(colon..).unwrap_or_default());
    out
}

/// The `hp` parameter of the first inner `Content-Type`, when it is one
/// RFC 9788 defines.
fn header_protection(inner: &[Vec<u8>]) -> Option<String> {
    inner
        .iter()
        .find(|f| is(f, "content-type"))
        .and_then(|f| {
            let colon = f.iter().position(|&b| b == b':')?;
            let value = String::from_utf8_lossy(f.get(colon + 1..)?).into_owned();
            let value: String = value.split(['\r', '\n']).collect();
            ContentType::parse(value.trim()).ok()
        })
        .and_then(|t| t.parameter("hp").map(str::to_ascii_lowercase))
        .filter(|hp| hp == "cipher" || hp == "clear")
}

/// Sorts `fields`, whose first `outer` are the outer message's and the
/// rest the entity's (see [`merge_inner_header`]).
fn sort_fields(fields: &mut Vec<Vec<u8>>, outer: usize) -> InnerFields {
    let mut report = InnerFields::default();
    let outer = outer.min(fields.len());
    let inner = fields.split_off(outer);
    let header_protection = header_protection(&inner);
    let mut content = Vec::new();
    let mut protected: Vec<Vec<u8>> = Vec::new();
    let mut kept = Vec::new();
    for field in inner {
        if has_prefix(&field, "content-") {
            content.push(field);
        } else if has_prefix(&field, RESULT_FIELD_PREFIX) || is(&field, "hp-outer") {
            report.removed.push(name_string(&field));
        } else if is(&field, "mime-version") {
            // The outer header has its own.
        } else if header_protection.is_some()
            && !is_one_of(&field, &TRANSIT)
            && !(is_one_of(&field, &SINGLETONS)
                && protected.iter().any(|p| is(p, &name_string(&field))))
        {
            report.protected.push(name_string(&field));
            protected.push(field);
        } else {
            report.renamed.push(name_string(&field));
            kept.push(renamed(&field));
        }
    }
    // A protected header without From is not a whole header (RFC 9788
    // section 2.2 protects at least what RFC 5322 requires): it replaces
    // only the fields it has.
    let whole = protected.iter().any(|p| is(p, "from"));
    if header_protection.is_some() {
        fields.retain(|f| {
            let replaced = (whole && is_one_of(f, &USER_FACING))
                || protected.iter().any(|p| is(f, &name_string(p)));
            !replaced
        });
    }
    // Protected fields go before MIME-Version, as message fields do.
    let mime_version = fields
        .iter()
        .rposition(|f| is(f, "mime-version"))
        .unwrap_or(fields.len());
    let tail = fields.split_off(mime_version);
    fields.extend(protected);
    fields.extend(tail);
    fields.extend(kept);
    fields.extend(content);
    report.header_protection = header_protection;
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `decrypted` merged as if received with `received` as header.
    fn merged(received: &[u8], entity: &[u8]) -> (String, InnerFields) {
        let mut decrypted = Entity::parse(received)
            .unwrap_or_else(|e| panic!("{e}"))
            .outer_header();
        decrypted.extend_from_slice(entity);
        let (bytes, report) =
            merge_inner_header(received, &decrypted).unwrap_or_else(|e| panic!("{e}"));
        (String::from_utf8_lossy(&bytes).into_owned(), report)
    }

    #[test]
    fn inner_fields_without_header_protection_are_renamed_or_removed() {
        let (text, report) = merged(
            b"Received: x\r\nFrom: a@x.example\r\nSubject: outer\r\nMIME-Version: 1.0\r\n\
              Content-Type: application/pkcs7-mime\r\n\r\n",
            b"From: ceo@x.example\r\nX-Mailgate-Signature: valid\r\nx-mailgate-quarantine: no\r\n\
              Content-Type: text/plain\r\nSubject: inner\r\n\r\nBody\r\n",
        );
        assert_eq!(
            text,
            "Received: x\r\nFrom: a@x.example\r\nSubject: outer\r\nMIME-Version: 1.0\r\n\
             X-Mailgate-Inner-From: ceo@x.example\r\nX-Mailgate-Inner-Subject: inner\r\n\
             Content-Type: text/plain\r\n\r\nBody\r\n"
        );
        assert_eq!(report.header_protection, None);
        assert_eq!(report.renamed, ["From", "Subject"]);
        assert_eq!(
            report.removed,
            ["X-Mailgate-Signature", "x-mailgate-quarantine"]
        );
    }

    #[test]
    fn protected_headers_replace_the_outer_ones() {
        let (text, report) = merged(
            b"Received: x\r\nFrom: a@x.example\r\nSubject: ...\r\nReply-To: z@evil.example\r\n\
              Content-Type: application/pkcs7-mime\r\n\r\n",
            b"Content-Type: multipart/mixed; boundary=b; hp=\"cipher\"\r\nFrom: b@x.example\r\n\
              Subject: real\r\nHP-Outer: Subject: ...\r\nFrom: c@x.example\r\n\r\nBody\r\n",
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
    fn a_protected_header_without_from_replaces_only_its_fields() {
        let (text, report) = merged(
            b"From: a@x.example\r\nSubject: ...\r\nTo: t@x.example\r\n\r\n",
            b"Content-Type: text/plain; hp=clear\r\nSubject: real\r\nReceived: forged\r\n\r\nB",
        );
        assert_eq!(
            text,
            "From: a@x.example\r\nTo: t@x.example\r\nSubject: real\r\nMIME-Version: 1.0\r\n\
             X-Mailgate-Inner-Received: forged\r\nContent-Type: text/plain; hp=clear\r\n\r\nB"
        );
        assert_eq!(report.header_protection.as_deref(), Some("clear"));
    }

    #[test]
    fn a_header_section_alone_is_merged_like_the_whole_message() {
        let received = b"From: a@x.example\r\nContent-Type: application/pkcs7-mime\r\n\r\nMIA=\r\n";
        let entity = b"From: ceo@x.example\r\nContent-Type: text/plain\r\n\r\nFrom: body\r\n";
        let (whole, whole_report) = merged(received, entity);
        let (header, header_report) = merged(
            received,
            b"From: ceo@x.example\r\nContent-Type: text/plain\r\n\r\n",
        );
        assert_eq!(whole_report, header_report);
        assert_eq!(format!("{header}From: body\r\n"), whole);
    }

    #[test]
    fn unknown_hp_values_are_no_protection() {
        let (text, report) = merged(
            b"From: a@x.example\r\n\r\n",
            b"Content-Type: text/plain; hp=\"none\"\r\nFrom: b@x.example\r\n\r\n",
        );
        assert_eq!(report.header_protection, None);
        assert!(text.starts_with(
            "From: a@x.example\r\nMIME-Version: 1.0\r\nX-Mailgate-Inner-From: b@x.example\r\n"
        ));
    }

    proptest::proptest! {
        /// Whatever fields an entity carries inside, in whatever case, the
        /// merged header has exactly one From (the outer one unless the
        /// entity protects its header), no inner result field, and
        /// nothing inner under an outer name unless it is protected.
        #[test]
        fn nothing_inside_becomes_an_outer_field(
            names in proptest::collection::vec(
                proptest::sample::select(vec![
                    "From", "FROM", "Sender", "Subject", "X-Mailgate-Signature",
                    "x-mailgate-quarantine", "X-MAILGATE-Decryption", "X-Mailgate-Inner-From",
                    "Reply-To", "Date", "HP-Outer", "Received", "X-Other", "MIME-Version",
                ]),
                0..12,
            ),
            hp in proptest::option::of(proptest::sample::select(vec!["cipher", "clear", "none", "CIPHER"])),
            lf in proptest::bool::ANY,
        ) {
            let line_break = if lf { "\n" } else { "\r\n" };
            let received = format!("From: outer@x.example{line_break}Content-Type: application/pkcs7-mime{line_break}{line_break}MIA={line_break}");
            let mut entity = match hp {
                Some(hp) => format!("Content-Type: text/plain; hp=\"{hp}\"{line_break}"),
                None => format!("Content-Type: text/plain{line_break}"),
            };
            for name in &names {
                entity.push_str(&format!("{name}: inner@y.example{line_break}"));
            }
            entity.push_str(&format!("{line_break}Body{line_break}"));
            let (text, _) = merged(received.as_bytes(), entity.as_bytes());
            let protected = matches!(hp, Some("cipher" | "clear" | "CIPHER"));
            let header: Vec<&str> = text.lines().take_while(|l| !l.is_empty()).collect();
            let froms: Vec<&&str> = header.iter().filter(|l| l.to_ascii_lowercase().starts_with("from:")).collect();
            proptest::prop_assert_eq!(froms.len(), 1, "{}", text);
            let inner_from = names.iter().any(|n| n.eq_ignore_ascii_case("from"));
            let expected = if protected && inner_from { "From: inner@y.example" } else { "From: outer@x.example" };
            proptest::prop_assert!(froms.first().is_some_and(|f| f.eq_ignore_ascii_case(expected)), "{}", text);
            for line in &header {
                let lower = line.to_ascii_lowercase();
                proptest::prop_assert!(!lower.starts_with("x-mailgate-") || lower.starts_with("x-mailgate-inner-"), "{}", text);
                proptest::prop_assert!(!lower.starts_with("hp-outer"), "{}", text);
                if !protected && lower.contains("inner@y.example") {
                    proptest::prop_assert!(lower.starts_with("x-mailgate-inner-"), "{}", text);
                }
            }
            proptest::prop_assert_eq!(text.matches("MIME-Version").count(), 1, "{}", text);
            let body_end = format!("{line_break}{line_break}Body{line_break}");
            proptest::prop_assert!(text.ends_with(&body_end), "{}", text);
        }
    }
}
