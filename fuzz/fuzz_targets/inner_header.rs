//! `mail_message::merge_inner_header`, the one reading of the fields that
//! come out of a decrypted entity (issue 16, finding 3). The input is a
//! received header section and an entity, split at the first NUL byte; the
//! decrypted message is built as the decryptors build it (the received
//! message's `outer_header`, then the entity). Properties:
//!
//! - No field from inside becomes an `X-Mailgate-*` result field: every
//!   `X-Mailgate-` field of the result is `X-Mailgate-Inner-*` or was
//!   outside already.
//! - Without RFC 9788 `hp`, the result has exactly the outer From fields.
//! - The body comes through unchanged, and merging the header section
//!   alone (as the streaming callers do) gives the same header.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_message::{Entity, merge_inner_header};

fn named<'a>(entity: &'a Entity<'_>, prefix: &str) -> Vec<&'a [u8]> {
    entity
        .fields()
        .iter()
        .filter(|f| {
            f.name()
                .get(..prefix.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(prefix.as_bytes()))
        })
        .map(|f| f.raw())
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (received, entity) = data.split_at(split);
    let entity = entity.get(1..).unwrap_or_default();
    let Ok(outer) = Entity::parse(received) else {
        return;
    };
    let mut decrypted = outer.outer_header();
    decrypted.extend_from_slice(entity);
    let Ok((merged, inner)) = merge_inner_header(received, &decrypted) else {
        return;
    };
    let merged_entity = Entity::parse(&merged).expect("the merged message parses");
    let decrypted_entity = Entity::parse(&decrypted).expect("what merged parses");
    assert_eq!(
        merged_entity.body(),
        decrypted_entity.body(),
        "body changed"
    );

    // Result fields: only those that were outside, never one from inside
    // (renamed ones are `X-Mailgate-Inner-*`).
    let results = |entity: &Entity<'_>| {
        named(entity, "x-mailgate-").len() - named(entity, "x-mailgate-inner-").len()
    };
    assert_eq!(
        results(&merged_entity),
        results(&outer),
        "an inner result field survived"
    );
    if inner.header_protection.is_none() {
        assert_eq!(
            merged_entity.count("from"),
            outer.count("from"),
            "From fields changed without header protection"
        );
    }

    // The header section alone merges to the same header.
    let header_len = decrypted.len() - decrypted_entity.body().len();
    let (header_only, again) =
        merge_inner_header(received, &decrypted[..header_len]).expect("the header merges");
    assert_eq!(again, inner);
    assert!(merged.starts_with(&header_only), "streaming merge differs");
});
