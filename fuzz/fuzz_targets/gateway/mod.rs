//! What `gateway_process` and `gateway_password_fallback` share: a gateway
//! for the organisation key `fuzz@example.org` under a variant of the
//! shipped baseline policy, built once per variant and reused across
//! inputs, and the check run on every input.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use gateway_facade::store::SqliteDirectory;
use gateway_facade::{Envelope, Gateway, OrganisationKey, Outcome, SmimeIdentity, SpooledMessage};
use smime_core::{Certificate, PrivateKey};

const BASELINE: &str = include_str!("../../../examples/policies/baseline.toml");
const PDF_FALLBACK: &str = "fallback = \"password-pdf\"";

/// The fallback container the policy asks for when it may not encrypt.
#[derive(Clone, Copy, Debug)]
pub enum Fallback {
    /// The shipped baseline: a password-protected PDF.
    Pdf,
    /// The baseline with `fallback = "password-zip"`.
    Zip,
    /// The baseline with `fallback = "block"`: those recipients are
    /// rejected instead (the same rules fire).
    Block,
}

/// The gateway for `fallback`, built on first use.
pub fn gateway(fallback: Fallback) -> &'static Gateway {
    static PDF: OnceLock<Gateway> = OnceLock::new();
    static ZIP: OnceLock<Gateway> = OnceLock::new();
    static BLOCK: OnceLock<Gateway> = OnceLock::new();
    match fallback {
        Fallback::Pdf => PDF.get_or_init(|| build(BASELINE)),
        Fallback::Zip => ZIP
            .get_or_init(|| build(&BASELINE.replace(PDF_FALLBACK, "fallback = \"password-zip\""))),
        Fallback::Block => {
            BLOCK.get_or_init(|| build(&BASELINE.replace(PDF_FALLBACK, "fallback = \"block\"")))
        }
    }
}

/// Mail from outside to the organisation key and a colleague.
pub fn inbound() -> Envelope {
    Envelope::inbound(
        "someone@extern.example",
        ["fuzz@example.org", "bob@behoerde.example"],
    )
}

/// Mail from the organisation key to a partner with a key, to a domain
/// the baseline blocks and to one without keys.
pub fn outbound() -> Envelope {
    Envelope::outbound(
        "fuzz@example.org",
        [
            "bob@partner.example",
            "erin@geheim.example",
            "dave@extern.example",
        ],
    )
}

fn build(policy: &str) -> Gateway {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // As in pgp_decrypt: pgp-core reports Sequoia's parser panics as
        // errors; libFuzzer's hook would abort on them before that.
        drop(std::panic::take_hook());
        // SAFETY: called once, before the first gateway exists, while the
        // fuzzer runs on this one thread. No backtrace for every Sequoia
        // parse error `anyhow` wraps (cargo fuzz sets RUST_BACKTRACE=1);
        // panics still print theirs.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
        if Path::new("/dev/shm").is_dir() {
            // Spool files are unnamed files in TMPDIR
            // (`mail_message::stream::private_tempfile`); an inode on ext4
            // per temporary file was a tenth of the time. tmpfs supports
            // O_TMPFILE too, so the code path is the production one.
            // SAFETY: as above.
            unsafe { std::env::set_var("TMPDIR", "/dev/shm") };
        }
    });
    assert!(
        policy == BASELINE || !policy.contains(PDF_FALLBACK),
        "the policy variant replaced every password-pdf fallback"
    );
    // A fixed self-signed P-256 identity (openssl req -x509, 100 years):
    // testkit's PKI derives RSA-3072 CA keys, which takes most of a
    // smoke run under the sanitizer.
    let pem = include_bytes!("../smime_fuzz_identity.pem");
    let certificate = Certificate::load(pem).expect("fuzz identity").remove(0);
    let smime = SmimeIdentity::new(
        certificate.clone(),
        Vec::new(),
        PrivateKey::load(pem, None).expect("fuzz identity"),
    );
    let pgp = pgp_core::parse_certificates(include_bytes!("../pgp_fuzz_key.asc"))
        .expect("fuzz key")
        .remove(0);
    // The organisation key's domain is internal, as a real gateway's own
    // senders are: the password of a password fallback goes only to an
    // internal sender (for any other the fallback is refused), and the PDF
    // and ZIP writers must stay reachable.
    let internal = "internal_domains = [\"behoerde.example\"]";
    assert!(
        policy.contains(internal),
        "the baseline's internal_domains changed"
    );
    let policy = policy.replace(
        internal,
        "internal_domains = [\"behoerde.example\", \"example.org\"]",
    );
    let (policy, _) = rule_engine::Policy::parse(&policy, "baseline.toml").expect("baseline");
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
}

/// Runs `data` through `gateway` in memory and from a spool file (as for
/// large mail): both decide the same for every recipient, every envelope
/// recipient is in exactly one disposition, and the audit record
/// serialises.
pub fn check(gateway: &Gateway, envelope: &Envelope, data: &[u8]) {
    let outcome = gateway.process(envelope, data);
    let spooled = SpooledMessage::read_to_file(data).expect("temporary file");
    let streamed = gateway.process_spooled(envelope, &spooled);
    let decisions = |o: &Outcome| {
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
