//! RFC 5322 messages and MIME entities on raw bytes, as S/MIME and PGP/MIME
//! need them.
//!
//! Both S/MIME ([RFC 8551 section 3](https://www.rfc-editor.org/rfc/rfc8551#section-3))
//! and PGP/MIME ([RFC 3156](https://www.rfc-editor.org/rfc/rfc3156)) sign
//! and encrypt MIME entities, and a signature covers exact bytes, so this
//! crate never re-serialises what it parsed: every [`Entity`] and every
//! multipart body part is a slice of the input. What it offers:
//!
//! - [`Entity::parse`]: the header section and the body of a message or body
//!   part, with access to header fields.
//! - [`ContentType`]: the `Content-Type` field value (RFC 2045 section 5.1).
//! - [`Multipart::split`]: the body parts of a multipart body, delimited as
//!   RFC 2046 section 5.1.1 says (the line break before a delimiter belongs to
//!   the delimiter).
//! - [`canonicalize`] and [`seven_bit_safe`]: the canonical CRLF form of an
//!   entity, made safe for 7-bit transport before it is signed, so that no
//!   relay can change the signed bytes.
//! - [`Envelope`]: the outer header fields of a message, which stay outside
//!   the cryptographic layer, and the reassembly of a message from them and a
//!   new inner entity.
//! - [`MessageTree`]: the one parse of a whole message that policy and
//!   cryptography share: every entity, its content type, attachments, and
//!   the header fields RFC 5322 allows once but that appear twice
//!   ([`DuplicateField`]; such mail is refused, see [`tree`]).
//! - [`merge_inner_header`]: the header of a decrypted message, with the
//!   fields from inside the encrypted entity read by the rules of RFC 9788
//!   (protected headers replace outer ones; anything else from inside is
//!   renamed `X-Mailgate-Inner-*` or removed, never trusted).
//! - [`shown_text`]: header text as a mail client shows it (RFC 2047
//!   decoded leniently) and the one normal form in which markers and
//!   addresses shown to a reader are found.
//! - [`EmailAddress`] and [`EmailAddress::parse_mailboxes`]: bare addresses
//!   as a signature binds them, taken from address fields without ever
//!   mistaking a display name or comment for an address.
//!
//! ```
//! use mail_message::{EmailAddress, Envelope};
//!
//! let message = b"From: \"Alice\" <alice@example.org>\r\nContent-Type: text/plain\r\n\r\nHi\r\n";
//! let envelope = Envelope::split(message)?;
//! assert_eq!(envelope.inner(), b"Content-Type: text/plain\r\n\r\nHi\r\n");
//! let from = envelope.message().field("from").map(|f| f.value()).unwrap_or_default();
//! assert_eq!(EmailAddress::parse_mailboxes(&from)?, vec!["alice@example.org".parse::<EmailAddress>()?]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

mod address;
mod background_writer;
mod compose;
pub mod date;
mod inner_header;
pub mod mailbox;
mod mime;
pub mod shown_text;
mod signed_split;
mod spooled_entity;
pub mod stream;
pub mod tree;
mod verdict;
mod watch;

pub use address::{AddressError, EmailAddress};
pub use compose::one_line;
pub use date::{parse_rfc5322_date, rfc5322_date};
pub use inner_header::{INNER_FIELD_PREFIX, InnerFields, RESULT_FIELD_PREFIX, merge_inner_header};
pub use mailbox::{
    MAX_ADDRESS, MAX_DOMAIN, MAX_LOCAL_PART, Mailbox, MailboxError, canonical_domain,
};
pub use mime::{
    ContentType, Entity, Envelope, Field, LineBreak, MAX_DEPTH, MimeError, Multipart, canonicalize,
    decode_base64, encode_base64, seven_bit_safe, with_line_breaks, without_binary_parts,
};
pub use signed_split::{SignedParts, SplitError, split_multipart_signed};
pub use spooled_entity::{
    BinaryFieldScan, EntityAsIs, MAX_REENCODE_IN_MEMORY, SpoolError, SpooledEntity,
    encryptable_as_is, signable_as_is,
};
pub use tree::{DuplicateField, MessageTree, Part, PartKind, Place};
pub use verdict::{
    Coverage, DEFAULT_DATE_TOLERANCE, Finding, HeaderIdentity, ToleranceError, Verdict,
    parse_date_tolerance,
};
