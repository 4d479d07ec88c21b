//! Encrypted mail from anyone: `decrypt_cms` on arbitrary bytes returns a
//! typed error or content, never panics. The identities are testkit's
//! deterministic `fuzz@example.org` keys, to which the seed corpus is
//! encrypted, so the fuzzer reaches key recovery and content decryption.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use smime_core::{Certificate, DecryptionIdentity, decrypt_cms};
use testkit::{KeyKind, pki};

fn identities() -> &'static [DecryptionIdentity] {
    static IDENTITIES: OnceLock<Vec<DecryptionIdentity>> = OnceLock::new();
    IDENTITIES.get_or_init(|| {
        [KeyKind::P256, KeyKind::Rsa2048]
            .into_iter()
            .map(|kind| {
                let id = pki().smime("fuzz@example.org", kind);
                let certificate = Certificate::from_der(id.certificate_der()).expect("testkit");
                DecryptionIdentity::new(certificate, id.private_key_der()).expect("testkit")
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    for identity in identities() {
        let _ = decrypt_cms(data, identity);
    }
});
