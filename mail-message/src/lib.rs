#![doc = include_str!("../README.md")]
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
