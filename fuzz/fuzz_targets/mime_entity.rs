//! The MIME layer on arbitrary bytes: parsing never panics, and making an
//! entity 7-bit safe yields 7-bit bodies and is a fixed point (signing the
//! result again changes nothing).
#![no_main]

use libfuzzer_sys::fuzz_target;
use smime_core::mime::{Entity, Envelope, Multipart, canonicalize, seven_bit_safe};

/// Every leaf body (message/* excepted: it cannot take an encoding) is 7-bit.
fn assert_bodies_seven_bit(bytes: &[u8], depth: usize) {
    let entity = Entity::parse(bytes).expect("seven_bit_safe output parses");
    let content_type = entity.content_type().expect("content type parsed before");
    if content_type.is_multipart() {
        let boundary = content_type.parameter("boundary").expect("checked before");
        let multipart = Multipart::split(entity.body(), boundary).expect("split before");
        for part in multipart.parts() {
            assert_bodies_seven_bit(part, depth + 1);
        }
    } else if !content_type.mime_type().starts_with("message/") {
        assert!(
            entity.body().iter().all(|b| *b < 0x80),
            "an 8-bit body survived at depth {depth}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(entity) = Entity::parse(data) {
        for field in entity.fields() {
            let _ = field.value();
        }
        if let Ok(content_type) = entity.content_type()
            && let Some(boundary) = content_type.parameter("boundary")
        {
            let _ = Multipart::split(entity.body(), boundary);
        }
    }
    if let Ok(envelope) = Envelope::split(data) {
        let _ = envelope.rebuild(envelope.inner());
    }
    let canonical = canonicalize(data);
    if let Ok(safe) = seven_bit_safe(&canonical) {
        assert_bodies_seven_bit(&safe, 0);
        assert_eq!(
            seven_bit_safe(&safe).ok().as_deref(),
            Some(&safe[..]),
            "not a fixed point"
        );
    }
});
