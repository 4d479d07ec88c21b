//! The MIME layer on arbitrary bytes: parsing never panics, making an
//! entity 7-bit safe yields 7-bit bodies and is a fixed point (signing the
//! result again changes nothing), and an entity found signable or
//! encryptable as it is reads exactly as the spooled form, and the binary
//! part scan of the streaming decryptor sees what `without_binary_parts`
//! would change.
#![no_main]

use std::io::{Read, Write};

use libfuzzer_sys::fuzz_target;
use smime_core::mime::stream::read_header_section;
use smime_core::mime::{
    BinaryFieldScan, Entity, EntityAsIs, Envelope, Multipart, SpooledEntity, canonicalize,
    encryptable_as_is, seven_bit_safe, signable_as_is, without_binary_parts,
};

/// The spooled form's bytes.
fn spooled(entity: SpooledEntity) -> Vec<u8> {
    let mut bytes = Vec::new();
    entity
        .into_file()
        .read_to_end(&mut bytes)
        .expect("spool readable");
    bytes
}

/// An entity that is its own signable or encryptable form is the spooled
/// form byte for byte: the signers and the encryptor copy it from their
/// input instead of spooling it.
fn assert_as_is_is_spooled(data: &[u8]) {
    let mut body = data;
    let Ok(header) = read_header_section(&mut body, data.len() + 1) else {
        return;
    };
    let whole = |as_is: &EntityAsIs| {
        assert_eq!(as_is.body_len, body.len() as u64);
        [&as_is.header[..], body].concat()
    };
    if let Ok(Some(as_is)) = signable_as_is(&header, body, &mut std::io::sink()) {
        let entity = SpooledEntity::signable(&header, body).expect("as is, so spoolable");
        assert_eq!(spooled(entity), whole(&as_is), "signable");
    }
    if let Ok(Some(as_is)) = encryptable_as_is(&header, body) {
        let entity = SpooledEntity::encryptable(&header, body).expect("as is, so spoolable");
        assert_eq!(spooled(entity), whole(&as_is), "encryptable");
    }
}

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
    assert_as_is_is_spooled(data);
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
    // The scan that decides whether a streamed decryption re-encodes never
    // misses what `without_binary_parts` would change.
    if without_binary_parts(data)[..] != data[..] {
        let mut scan = BinaryFieldScan::default();
        scan.write_all(data).expect("a scan takes everything");
        assert!(scan.found(), "a binary part the scan missed");
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
