//! Whole S/MIME messages from anyone: `decrypt_message`,
//! `decrypt_message_stream`, `verify_message`, `verify_message_spooled` and
//! `verify_cms` on arbitrary bytes return a typed error or a result, never
//! panic; what the streaming decryption accepts, the in-memory one accepts
//! with the same cipher; where both verifiers judge, they agree. The
//! seeds are encrypted to and signed by testkit's `fuzz@example.org`, so
//! the fuzzer reaches MIME splitting, key recovery, content decryption,
//! signature checks and path validation.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use smime_core::{
    Certificate, DecryptionIdentity, Verdict, Verifier, decrypt_message, decrypt_message_stream,
};
use testkit::{KeyKind, pki};

struct Setup {
    identities: Vec<DecryptionIdentity>,
    verifier: Verifier,
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| Setup {
        identities: [KeyKind::P256, KeyKind::Rsa2048]
            .into_iter()
            .map(|kind| {
                let id = pki().smime("fuzz@example.org", kind);
                let certificate = Certificate::from_der(id.certificate_der()).expect("testkit");
                DecryptionIdentity::new(certificate, id.private_key_der()).expect("testkit")
            })
            .collect(),
        verifier: Verifier::new([
            Certificate::from_der(pki().root().certificate_der()).expect("testkit")
        ]),
    })
}

fuzz_target!(|data: &[u8]| {
    let setup = setup();
    for identity in &setup.identities {
        let in_memory = decrypt_message(data, identity);
        if let Ok(decrypted) = &in_memory {
            let _ = setup.verifier.verify_message(decrypted.message());
        }
        let mut streamed = Vec::new();
        if let Ok(found) = decrypt_message_stream(data, &mut streamed, identity) {
            let decrypted = in_memory.expect("what streams decrypts in memory too");
            assert_eq!(found.encryption, decrypted.encryption());
        } else {
            // Nothing is released when decryption fails.
            assert!(streamed.is_empty());
        }
    }
    // The bytes as a CMS structure on their own, attached or detached.
    let _ = setup.verifier.verify_cms(data, None);
    let _ = setup.verifier.verify_cms(data, Some(b"content"));
    let spooled = setup.verifier.verify_message_spooled(data);
    if let (Ok(spooled), Ok(report)) = (&spooled, setup.verifier.verify_message(data)) {
        // The bounded-memory path judges as the in-memory one does.
        let streamed = spooled.verification();
        assert_eq!(streamed.verdict(), report.verdict());
        assert_eq!(streamed.coverage(), report.coverage());
        assert_eq!(streamed.signers().len(), report.signers().len());
    }
    if let Ok(report) = setup.verifier.verify_message(data) {
        // The verdict is consistent with the details it folds.
        match report.verdict() {
            Verdict::SignedByFrom => {
                assert!(report.signed_by_from());
                assert!(report.unwrapped_message().is_some());
            }
            Verdict::Unsigned => assert!(report.signers().is_empty()),
            _ => {}
        }
    }
});
