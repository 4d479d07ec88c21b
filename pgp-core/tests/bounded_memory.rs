//! Decompression bombs and nested compression: every decryption path
//! stops while reading, at a typed error, and never holds more plaintext
//! in memory than its in-memory limit. Messages are made with Sequoia
//! (nested compressed packets cannot be made with gpg) and with gpg
//! (`-z 9`, the bomb of issue 16).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Write;

use common::*;
use pgp_core::openpgp::serialize::stream::{
    Armorer, Compressor, Encryptor, LiteralWriter, Message,
};
use pgp_core::openpgp::types::{CompressionAlgorithm, CompressionLevel};
use pgp_core::{Decryptor, Error, MAX_COMPRESSION_LAYERS, parse_certificates};
use proptest::prelude::*;
use testkit::PgpSuite;

const MIB: u64 = 1024 * 1024;

/// An armored OpenPGP message to `bob` whose literal data (`size` bytes of
/// `fill`, as a text entity) sits inside `layers` compressed packets.
fn compressed(bob: &testkit::PgpKey, layers: usize, size: u64, fill: u8) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let policy = pgp_core::openpgp::policy::StandardPolicy::new();
        let recipients = bob
            .cert()
            .keys()
            .with_policy(&policy, None)
            .supported()
            .for_transport_encryption();
        let message = Message::new(&mut out);
        let message = Armorer::new(message).build().unwrap();
        let mut message = Encryptor::for_recipients(message, recipients)
            .build()
            .unwrap();
        for _ in 0..layers {
            message = Compressor::new(message)
                .algo(CompressionAlgorithm::Zlib)
                .level(CompressionLevel::best())
                .build()
                .unwrap();
        }
        let mut literal = LiteralWriter::new(message).build().unwrap();
        literal
            .write_all(b"Content-Type: text/plain\r\n\r\n")
            .unwrap();
        let chunk = vec![fill; 1 << 20];
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            literal.write_all(&chunk[..n]).unwrap();
            left -= n as u64;
        }
        literal.finalize().unwrap();
    }
    out
}

fn decryptor(bob: &testkit::PgpKey) -> Decryptor {
    Decryptor::new(parse_certificates(&bob.secret_armored()).unwrap())
}

/// A 64 MiB bomb (a few kilobytes on the wire): the in-memory path stops
/// at its in-memory limit, the streaming path at the plaintext limit.
#[test]
fn a_compression_bomb_stops_at_the_limits_on_both_paths() {
    let bob = bob(PgpSuite::Cv25519);
    let bomb = wrap_encrypted(ALICE, &compressed(&bob, 1, 64 * MIB, 0));
    assert!(bomb.len() < 200_000, "{}", bomb.len());
    match decryptor(&bob)
        .with_max_in_memory(MIB)
        .decrypt_message(&bomb)
    {
        Err(Error::InMemoryLimit { limit }) => assert_eq!(limit, MIB),
        other => panic!("{:?}", other.map(|_| ())),
    }
    match decryptor(&bob)
        .with_max_plaintext(8 * MIB)
        .decrypt_message_spooled(&bomb[..])
    {
        Err(Error::TooLarge { limit }) => assert_eq!(limit, 8 * MIB),
        other => panic!("{:?}", other.map(|_| ())),
    }
    // The same bomb inline (a text/plain body): not streamable, so it is
    // decrypted in memory, where the in-memory limit holds.
    let inline = [
        b"From: Alice <alice@example.org>\r\nContent-Type: text/plain\r\n\r\n".as_slice(),
        &compressed(&bob, 1, 64 * MIB, b'a'),
    ]
    .concat();
    match decryptor(&bob)
        .with_max_in_memory(MIB)
        .decrypt_message_spooled(&inline[..])
    {
        Err(Error::InMemoryLimit { limit }) => assert_eq!(limit, MIB),
        other => panic!("{:?}", other.map(|_| ())),
    }
}

/// A legitimate compressed message larger than the in-memory limit is
/// refused in memory and decrypts as a stream, with the same result.
#[test]
fn a_large_compressed_message_decrypts_as_a_stream() {
    let bob = bob(PgpSuite::Cv25519);
    let message = wrap_encrypted(ALICE, &compressed(&bob, 1, 3 * MIB, b'x'));
    assert!(matches!(
        decryptor(&bob)
            .with_max_in_memory(MIB)
            .decrypt_message(&message),
        Err(Error::InMemoryLimit { .. })
    ));
    let mut streamed = Vec::new();
    decryptor(&bob)
        .with_max_in_memory(MIB)
        .decrypt_message_spooled(&message[..])
        .unwrap()
        .write_message(&mut streamed)
        .unwrap();
    let in_memory = decryptor(&bob).decrypt_message(&message).unwrap();
    assert_eq!(streamed, in_memory.message());
}

#[test]
fn nested_compression_is_refused_before_it_is_decompressed() {
    let bob = bob(PgpSuite::Cv25519);
    for layers in 0..=MAX_COMPRESSION_LAYERS + 3 {
        let message = wrap_encrypted(ALICE, &compressed(&bob, layers, 1000, b'z'));
        let in_memory = decryptor(&bob).decrypt_message(&message);
        let streamed = decryptor(&bob).decrypt_message_spooled(&message[..]);
        if layers <= MAX_COMPRESSION_LAYERS {
            assert!(in_memory.is_ok(), "{layers}: {:?}", in_memory.err());
            assert!(streamed.is_ok(), "{layers}: {:?}", streamed.err());
        } else {
            for result in [in_memory.map(|_| ()), streamed.map(|_| ())] {
                match result {
                    Err(Error::NestedCompression { limit }) => {
                        assert_eq!(limit, MAX_COMPRESSION_LAYERS)
                    }
                    other => panic!("{layers}: {other:?}"),
                }
            }
        }
    }
}

/// gpg's own bomb (`gpg -z 9 --compress-algo zlib` of a stream of zeros),
/// the way issue 16 found it.
#[test]
fn a_gpg_compression_bomb_is_refused() {
    let bob = bob(PgpSuite::Cv25519);
    let gpg = Gpg::new();
    gpg.import(&bob, false);
    let zeros = vec![0u8; 32 * MIB as usize];
    let output = gpg.ok(
        &[
            "--armor",
            "--encrypt",
            "-z",
            "9",
            "--compress-algo",
            "zlib",
            "--recipient",
            &bob.fingerprint_hex(),
        ],
        &zeros,
    );
    let bomb = wrap_encrypted(ALICE, &output.stdout);
    assert!(bomb.len() < 200_000);
    assert!(matches!(
        decryptor(&bob)
            .with_max_in_memory(MIB)
            .decrypt_message(&bomb),
        Err(Error::InMemoryLimit { .. })
    ));
    assert!(matches!(
        decryptor(&bob)
            .with_max_plaintext(4 * MIB)
            .decrypt_message_spooled(&bomb[..]),
        Err(Error::TooLarge { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The class: for any nesting and size, a message decrypts exactly
    /// when it is within every limit, on both paths alike, and otherwise
    /// fails with the error that names the limit.
    #[test]
    fn decryption_succeeds_exactly_within_the_limits(
        layers in 0usize..5,
        size in 0u64..40_000,
        fill in any::<u8>(),
    ) {
        let bob = bob(PgpSuite::Cv25519);
        let message = wrap_encrypted(ALICE, &compressed(&bob, layers, size, fill));
        let limit = 20_000u64;
        let base = decryptor(&bob).with_max_in_memory(limit).with_max_plaintext(limit);
        let in_memory = base.decrypt_message(&message).map(|_| ());
        let streamed = base.decrypt_message_spooled(&message[..]).map(|_| ());
        // The literal data is the entity's header line and `size` bytes.
        let plaintext = size + 28;
        for result in [in_memory, streamed] {
            match result {
                Ok(()) => prop_assert!(layers <= MAX_COMPRESSION_LAYERS && plaintext <= limit),
                Err(Error::NestedCompression { .. }) => prop_assert!(layers > MAX_COMPRESSION_LAYERS),
                Err(Error::TooLarge { .. } | Error::InMemoryLimit { .. }) => {
                    prop_assert!(layers <= MAX_COMPRESSION_LAYERS && plaintext > limit)
                }
                Err(other) => prop_assert!(false, "{other}"),
            }
        }
    }
}
