//! Differential: the policy's view of a message (`rule_engine::Message`,
//! in memory and read as a stream) against the parse signing, verification
//! and encryption use (`mail_message`). Both must agree on the structure
//! (tree of content types), Subject, From, Content-Type and the attachment
//! list, and a field RFC 5322 allows once that appears twice must make the
//! policy view refuse the message (issue 16, finding 2). The Subject's
//! normal form for markers is stable, and stripping `[vertraulich]` leaves
//! a Subject that shows no tag, in one well-formed field.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_message::{
    ContentType, Entity, MessageTree, MimeError, Multipart, tree::MESSAGE_SINGLETONS,
};
use rule_engine::Message;
use rule_engine::shown_text::{decode_header_value, normalize, strip_marker};

/// The baseline policy's confidentiality tag.
const TAG: &str = "[vertraulich]";

/// The structure as the signing path reads it (`Entity`, `ContentType`,
/// `Multipart::split`, strict: `None` where it refuses the input).
fn strict_structure(raw: &[u8], depth: usize) -> Option<String> {
    if depth > mail_message::MAX_DEPTH {
        return None;
    }
    let entity = Entity::parse(raw).ok()?;
    for name in [
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
    ] {
        if entity.count(name) > 1 {
            return None;
        }
    }
    let content_type: ContentType = entity.content_type().ok()?;
    let message = matches!(
        content_type.mime_type(),
        "message/rfc822" | "message/global"
    );
    if depth >= mail_message::MAX_DEPTH && (content_type.is_multipart() || message) {
        // The tree stops descending here; signing refuses a level deeper.
        return None;
    }
    if content_type.is_multipart() {
        let boundary = content_type.parameter("boundary")?;
        let multipart = Multipart::split(entity.body(), boundary).ok()?;
        let mut children = Vec::new();
        for part in multipart.parts() {
            children.push(strict_structure(part, depth + 1)?);
        }
        return Some(format!(
            "{}[{}]",
            content_type.mime_type(),
            children.join(",")
        ));
    }
    if message
        && matches!(
            entity.transfer_encoding().as_str(),
            "7bit" | "8bit" | "binary"
        )
    {
        let inner = strict_structure(entity.body(), depth + 1)?;
        return Some(format!("{}[{inner}]", content_type.mime_type()));
    }
    Some(content_type.mime_type().to_owned())
}

fuzz_target!(|data: &[u8]| {
    let view = Message::parse(data);
    let tree = MessageTree::parse(data);

    // The stream reader (binary bodies measured and dropped) sees the same.
    match Message::read_from(data, 1 << 20) {
        Ok(read) => assert_eq!(read, view, "read_from differs from parse"),
        Err(e) => panic!("reading from a slice failed: {e}"),
    }

    // Structure and Content-Type.
    assert_eq!(view.structure(), tree.root().structure());
    let declared = tree.root().declared_content_type();
    let root_type = declared.unwrap_or_else(|| tree.root().content_type());
    assert_eq!(view.content_type(), root_type.mime_type());
    if let Some(strict) = strict_structure(data, 0) {
        assert_eq!(
            view.structure(),
            strict,
            "the policy sees another structure than signing"
        );
    }
    if let Ok(entity) = Entity::parse(data) {
        match entity.content_type() {
            Ok(content_type) if view.refusal().is_none() => {
                assert_eq!(view.content_type(), content_type.mime_type());
            }
            Err(MimeError::DuplicateField(_)) => {
                assert!(
                    view.refusal().is_some(),
                    "two Content-Type fields not refused"
                );
            }
            _ => {}
        }
        // Singletons: any repetition is refused; without a refusal each
        // is there at most once.
        let repeated = MESSAGE_SINGLETONS.iter().any(|name| entity.count(name) > 1);
        if repeated {
            assert!(
                view.refusal().is_some(),
                "a repeated singleton is not refused"
            );
        }
        if view.refusal().is_none() {
            assert!(!repeated);
            // Subject and From: the one instance the crypto layer reads.
            assert_eq!(view.subject().is_some(), entity.field("subject").is_some());
            assert_eq!(view.from().is_some(), entity.field("from").is_some());
            let subjects: Vec<&str> = view.header_values("subject").collect();
            assert!(subjects.len() <= 1);
            assert_eq!(subjects.first().copied(), view.subject());
        }
    } else {
        assert!(
            view.refusal().is_some(),
            "an unparsable header is not refused"
        );
    }

    // Subject markers (issue 16): the normal form they are matched in is
    // stable, and stripping the tag leaves a Subject that shows no tag
    // (re-read as the policy reads it), in a value that is one field.
    if let Some(subject) = view.subject() {
        let normal = normalize(subject);
        assert_eq!(normalize(&normal), normal, "normalize is not idempotent");
    }
    if let Some(field) = tree.root().field("subject")
        && let Some(stripped) = strip_marker(field.raw_value(), TAG)
    {
        let value = stripped.to_field_value("\r\n");
        assert!(
            !normalize(&decode_header_value(value.as_bytes())).contains(TAG),
            "the stripped Subject still shows the tag: {value:?}"
        );
        assert!(
            !value.replace("\r\n ", " ").contains(['\r', '\n']),
            "a line break that ends the field: {value:?}"
        );
    }

    // The attachment list: same parts, same types, same names where no
    // decoding is involved.
    let files = tree.attachments();
    assert_eq!(view.attachments().len(), files.len());
    for (seen, part) in view.attachments().iter().zip(&files) {
        assert_eq!(seen.mime_type, part.content_type().mime_type());
        let name = part.file_name();
        assert_eq!(seen.name.is_some(), name.is_some());
        if let (Some(seen), Some(name)) = (&seen.name, name)
            && name.charset.is_none()
            && name.bytes.is_ascii()
            && !name.bytes.windows(2).any(|w| w == b"=?")
        {
            assert_eq!(seen.as_bytes(), name.bytes.as_slice());
        }
    }
});
