//! Mail from anyone through the whole gateway: `Gateway::process` on
//! arbitrary bytes, inbound and outbound, under the shipped baseline policy.
//! It never panics, and every envelope recipient ends up in exactly one
//! disposition. The organisation key is `fuzz@example.org`
//! (`smime_fuzz_identity.pem` and `pgp_fuzz_key.asc`); the seeds were
//! encrypted and signed to it by `openssl cms` and Sequoia, so the fuzzer
//! reaches decryption, verification, header editing and the fallback.
//! The input as text is also tried as a `mailgate.toml`.
#![no_main]

use std::path::Path;
use std::sync::{Arc, OnceLock};

use gateway_facade::store::SqliteDirectory;
use gateway_facade::{Config, Envelope, Gateway, OrganisationKey, SmimeIdentity, SpooledMessage};
use libfuzzer_sys::fuzz_target;
use smime_core::{Certificate, PrivateKey};

const BASELINE: &str = include_str!("../../examples/policies/baseline.toml");

fn gateway() -> &'static Gateway {
    static GATEWAY: OnceLock<Gateway> = OnceLock::new();
    GATEWAY.get_or_init(|| {
        // As in pgp_decrypt: pgp-core reports Sequoia's parser panics as
        // errors; libFuzzer's hook would abort on them before that.
        drop(std::panic::take_hook());
        // A fixed self-signed P-256 identity (openssl req -x509, 100 years):
        // testkit's PKI derives RSA-3072 CA keys, which takes most of a
        // smoke run under the sanitizer.
        let pem = include_bytes!("smime_fuzz_identity.pem");
        let certificate = Certificate::load(pem).expect("fuzz identity").remove(0);
        let smime = SmimeIdentity::new(
            certificate.clone(),
            Vec::new(),
            PrivateKey::load(pem, None).expect("fuzz identity"),
        );
        let pgp = pgp_core::parse_certificates(include_bytes!("pgp_fuzz_key.asc"))
            .expect("fuzz key")
            .remove(0);
        let (policy, _) = rule_engine::Policy::parse(BASELINE, "baseline.toml").expect("baseline");
        Gateway::new(
            policy,
            Path::new("baseline.toml"),
            Arc::new(SqliteDirectory::in_memory().expect("sqlite")),
            vec![OrganisationKey::new(
                "fuzz@example.org",
                Some(smime),
                Some(pgp),
                None,
            )],
            "postmaster@example.org",
        )
        .with_trust_anchors(vec![certificate])
    })
}

fn check(envelope: &Envelope, data: &[u8]) {
    let outcome = gateway().process(envelope, data);
    // The streaming path (spool file to spool file, as for large mail)
    // decides the same for every recipient.
    let spooled = SpooledMessage::read_to_file(data).expect("temporary file");
    let streamed = gateway().process_spooled(envelope, &spooled);
    let decisions = |o: &gateway_facade::Outcome| {
        let mut d: Vec<_> = o
            .dispositions
            .iter()
            .map(|d| (d.kind(), d.recipients().to_vec()))
            .collect();
        d.sort();
        d
    };
    assert_eq!(
        decisions(&streamed),
        decisions(&outcome),
        "{:?}\n{:?}",
        streamed.dispositions,
        outcome.dispositions
    );
    for recipient in &envelope.recipients {
        let covering = outcome
            .dispositions
            .iter()
            .filter(|d| {
                d.recipients()
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(recipient))
            })
            .count();
        assert_eq!(covering, 1, "{recipient} in {covering} dispositions");
    }
    let _ = outcome.to_json_with(|_, _, _| Ok::<_, ()>(serde_json::Value::Null));
}

fuzz_target!(|data: &[u8]| {
    check(
        &Envelope::inbound(
            "someone@extern.example",
            ["fuzz@example.org", "bob@behoerde.example"],
        ),
        data,
    );
    check(
        &Envelope::outbound(
            "fuzz@example.org",
            [
                "bob@partner.example",
                "erin@geheim.example",
                "dave@extern.example",
            ],
        ),
        data,
    );
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Config::parse(text, Path::new("/etc/mailgate/mailgate.toml"));
    }
});
