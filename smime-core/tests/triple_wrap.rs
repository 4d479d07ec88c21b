//! Triple-wrapped mail (RFC 2634 section 1.1, RFC 8551 section 3.7: sign,
//! encrypt, sign again) against `openssl cms`, both directions, for an RSA
//! and a P-256 identity, with detached and opaque layers and GCM and CBC
//! content encryption.
//!
//! We wrap with `Signer::sign_message`, `Encryptor::encrypt_message`,
//! `Signer::sign_message`, and OpenSSL unwraps layer by layer (`-verify`,
//! `-decrypt`, `-verify`). OpenSSL wraps with `-sign`, `-encrypt`, `-sign`
//! on files, and we unwrap with `Verifier::verify_message`,
//! `decrypt_message`, `Verifier::verify_message`.

// Test code: a failing helper is a failing test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::path::Path;

use smime_core::mime::Entity;
use smime_core::{
    Certificate, ContentEncryption, Coverage, Encryptor, SignatureForm, SignatureStatus, Verdict,
    Verification, decrypt_message,
};
use testkit::{KeyKind, pki, run_peer};

const ALICE: &str = "alice@example.org";
const BOB: &str = "bob@example.org";

/// The two identities every test here covers.
const KINDS: [KeyKind; 2] = [KeyKind::Rsa3072, KeyKind::P256];

const MESSAGE: &str = "From: Alice Example <alice@example.org>\r\nTo: bob@example.org\r\nSubject: Triple\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nVertraulich und unterschrieben: Grüße\r\nFrom the desk of Alice\r\n";

/// The body of `MESSAGE` as it must come out of the innermost layer.
const BODY: &str = "Vertraulich und unterschrieben: Grüße\r\nFrom the desk of Alice\r\n";

/// The innermost entity OpenSSL signs (an entity, no outer header fields).
const INNER: &str = "Content-Type: text/plain; charset=us-ascii\r\n\r\nPlease pay invoice 4711 (triple-wrapped).\r\n";

fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    run_peer("openssl", args, dir)
}

/// `openssl cms -verify` of `input` against the testkit root; returns the
/// signed content and the PEM of the signer certificate OpenSSL reports.
fn openssl_verify(dir: &Path, input: &str, output: &str) -> (Vec<u8>, String) {
    let signer = format!("{output}.signer.pem");
    openssl(
        dir,
        &[
            "cms", "-verify", "-in", input, "-CAfile", "root.pem", "-signer", &signer, "-out",
            output,
        ],
    );
    (
        std::fs::read(dir.join(output)).unwrap(),
        std::fs::read_to_string(dir.join(signer)).unwrap(),
    )
}

/// The DER of the first certificate in a PEM file.
fn first_der(pem: &str) -> Vec<u8> {
    Certificate::load(pem.as_bytes()).unwrap()[0]
        .to_der()
        .to_vec()
}

fn assert_form(entity: &[u8], form: SignatureForm, layer: &str) {
    let content_type = Entity::parse(entity).unwrap().content_type().unwrap();
    match form {
        SignatureForm::Detached => {
            assert_eq!(content_type.mime_type(), "multipart/signed", "{layer}");
        }
        SignatureForm::Opaque => {
            assert_eq!(
                content_type.mime_type(),
                "application/pkcs7-mime",
                "{layer}"
            );
            assert_eq!(
                content_type.parameter("smime-type"),
                Some("signed-data"),
                "{layer}"
            );
        }
    }
}

fn assert_encrypted(entity: &[u8], cipher: ContentEncryption, layer: &str) {
    let content_type = Entity::parse(entity).unwrap().content_type().unwrap();
    assert_eq!(
        content_type.mime_type(),
        "application/pkcs7-mime",
        "{layer}"
    );
    let expected = if cipher.is_authenticated() {
        "authEnveloped-data"
    } else {
        "enveloped-data"
    };
    assert_eq!(
        content_type
            .parameter("smime-type")
            .map(str::to_ascii_lowercase),
        Some(expected.to_ascii_lowercase()),
        "{layer}"
    );
}

/// Our triple wrap: sign (`inner`), encrypt to Bob, sign (`outer`).
fn we_triple_wrap(
    kind: KeyKind,
    inner: SignatureForm,
    cipher: ContentEncryption,
    outer: SignatureForm,
) -> Vec<u8> {
    let signer = common::signer(ALICE, kind);
    let signed = signer.sign_message(MESSAGE.as_bytes(), inner).unwrap();
    let encrypted = Encryptor::new([common::certificate(BOB, kind)])
        .unwrap()
        .with_cipher(cipher)
        .encrypt_message(&signed)
        .unwrap();
    signer.sign_message(&encrypted, outer).unwrap()
}

#[test]
fn openssl_unwraps_our_triple_wrapped_mail_layer_by_layer() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(dir.join("root.pem"), pki().root().certificate_pem()).unwrap();
    for kind in KINDS {
        pki().smime(BOB, kind).write_to(dir, "bob").unwrap();
        let alice_der = pki().smime(ALICE, kind).certificate_der().to_vec();
        for (outer, inner) in [
            (SignatureForm::Detached, SignatureForm::Opaque),
            (SignatureForm::Opaque, SignatureForm::Detached),
            (SignatureForm::Detached, SignatureForm::Detached),
        ] {
            for cipher in [ContentEncryption::Aes256Gcm, ContentEncryption::Aes128Cbc] {
                let case = format!("{kind:?} outer {outer:?} / {cipher:?} / inner {inner:?}");
                let triple = we_triple_wrap(kind, inner, cipher, outer);
                // The outer header fields stay on the outermost layer.
                let top = Entity::parse(&triple).unwrap();
                assert_eq!(
                    top.field("from").unwrap().value(),
                    "Alice Example <alice@example.org>",
                    "{case}"
                );
                assert_eq!(top.field("subject").unwrap().value(), "Triple", "{case}");
                assert_form(&triple, outer, &format!("{case}: outermost"));
                std::fs::write(dir.join("triple.eml"), &triple).unwrap();

                // Layer 1: the outer signature, over the encrypted entity.
                let (encrypted, outer_signer) = openssl_verify(dir, "triple.eml", "layer2.eml");
                assert_eq!(first_der(&outer_signer), alice_der, "{case}: outer signer");
                assert_encrypted(&encrypted, cipher, &format!("{case}: middle"));
                assert!(
                    Entity::parse(&encrypted).unwrap().field("from").is_none(),
                    "{case}: the signed layer is an entity"
                );

                // Layer 2: the encryption, around the inner signed entity.
                openssl(
                    dir,
                    &[
                        "cms",
                        "-decrypt",
                        "-in",
                        "layer2.eml",
                        "-recip",
                        "bob.cert.pem",
                        "-inkey",
                        "bob.key.pem",
                        "-binary",
                        "-out",
                        "layer3.eml",
                    ],
                );
                let signed = std::fs::read(dir.join("layer3.eml")).unwrap();
                assert_form(&signed, inner, &format!("{case}: inner"));

                // Layer 3: the inner signature, over the original body.
                let (content, inner_signer) = openssl_verify(dir, "layer3.eml", "content.eml");
                assert_eq!(first_der(&inner_signer), alice_der, "{case}: inner signer");
                let entity = Entity::parse(&content).unwrap();
                assert!(entity.field("from").is_none(), "{case}");
                assert_eq!(
                    entity.content_type().unwrap().mime_type(),
                    "text/plain",
                    "{case}"
                );
                assert_eq!(
                    String::from_utf8(entity.decoded_body().unwrap()).unwrap(),
                    BODY,
                    "{case}: innermost content"
                );
            }
        }
    }
}

/// OpenSSL's triple wrap of `INNER` for Alice (of `kind`) to Bob: `-sign`
/// with `inner` options, `-encrypt` with `cipher`, `-sign` with `outer`
/// options and the outer header fields.
fn openssl_triple_wrap(
    dir: &Path,
    kind: KeyKind,
    inner: &[&str],
    cipher: &str,
    outer: &[&str],
) -> Vec<u8> {
    pki().smime(ALICE, kind).write_to(dir, "alice").unwrap();
    pki().smime(BOB, kind).write_to(dir, "bob").unwrap();
    std::fs::write(dir.join("inner.txt"), INNER).unwrap();
    let sign = [
        "cms",
        "-sign",
        "-signer",
        "alice.cert.pem",
        "-inkey",
        "alice.key.pem",
        "-certfile",
        "alice.chain.pem",
    ];
    let mut args = sign.to_vec();
    args.extend_from_slice(&["-in", "inner.txt", "-out", "signed.eml"]);
    args.extend_from_slice(inner);
    openssl(dir, &args);
    openssl(
        dir,
        &[
            "cms",
            "-encrypt",
            cipher,
            "-in",
            "signed.eml",
            "-out",
            "encrypted.eml",
            "bob.cert.pem",
        ],
    );
    let mut args = sign.to_vec();
    args.extend_from_slice(&[
        "-in",
        "encrypted.eml",
        "-out",
        "triple.eml",
        "-from",
        "Alice <alice@example.org>",
        "-to",
        "bob@example.org",
        "-subject",
        "Triple",
    ]);
    args.extend_from_slice(outer);
    openssl(dir, &args);
    std::fs::read(dir.join("triple.eml")).unwrap()
}

/// A layer's report: the whole message signed by From (Alice, whose
/// certificate is `alice`), every signature valid.
fn assert_signed_by_alice(report: &Verification, alice: &[u8], layer: &str) {
    assert_eq!(
        report.verdict(),
        Verdict::SignedByFrom,
        "{layer}: {report:?}"
    );
    assert_eq!(report.coverage(), &Coverage::Whole, "{layer}");
    assert_eq!(report.signers().len(), 1, "{layer}");
    let signer = &report.signers()[0];
    assert_eq!(signer.status, SignatureStatus::Valid, "{layer}");
    assert_eq!(
        signer.certificate.as_ref().unwrap().to_der(),
        alice,
        "{layer}: signer"
    );
}

#[test]
fn we_unwrap_openssl_triple_wrapped_mail_layer_by_layer() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let verifier = common::verifier();
    for kind in KINDS {
        let alice = pki().smime(ALICE, kind).certificate_der().to_vec();
        let bob = common::identity(BOB, kind);
        for (outer, inner, forms) in [
            (&[][..], &["-nodetach"][..], "outer detached, inner opaque"),
            (&["-nodetach"][..], &[][..], "outer opaque, inner detached"),
            (
                &["-stream"][..],
                &["-nodetach", "-stream"][..],
                "outer detached streamed, inner opaque BER",
            ),
        ] {
            for (cipher, expected) in [
                ("-aes-256-gcm", ContentEncryption::Aes256Gcm),
                ("-aes-128-cbc", ContentEncryption::Aes128Cbc),
            ] {
                let case = format!("{kind:?} {forms} {cipher}");
                let triple = openssl_triple_wrap(dir, kind, inner, cipher, outer);
                // OpenSSL writes its files with bare LF line breaks; the
                // unwrapped message keeps the outer message's style (see the
                // smime-core README), so the innermost body ends in LF too.
                assert!(
                    triple.starts_with(b"To: bob@example.org\nFrom: Alice <alice@example.org>\n"),
                    "{case}: {}",
                    String::from_utf8_lossy(&triple[..80])
                );

                // Layer 1: the outer signature.
                let outer_report = verifier.verify_message(&triple).unwrap();
                assert_signed_by_alice(&outer_report, &alice, &format!("{case}: outer"));
                let encrypted = outer_report.unwrapped_message().unwrap();
                assert_encrypted(encrypted, expected, &format!("{case}: middle"));

                // Layer 2: the encryption; it yields the signed layer.
                let decrypted = decrypt_message(encrypted, &bob).unwrap();
                assert_eq!(decrypted.encryption(), expected, "{case}");
                let signed = decrypted.message();
                let form = if inner.contains(&"-nodetach") {
                    SignatureForm::Opaque
                } else {
                    SignatureForm::Detached
                };
                assert_form(signed, form, &format!("{case}: inner"));

                // Layer 3: the inner signature, still for the outer From.
                let inner_report = verifier.verify_message(signed).unwrap();
                assert_signed_by_alice(&inner_report, &alice, &format!("{case}: inner"));
                let content = inner_report.unwrapped_message().unwrap();
                let entity = Entity::parse(content).unwrap();
                assert_eq!(
                    entity.field("from").unwrap().value(),
                    "Alice <alice@example.org>",
                    "{case}: outer fields carried through"
                );
                assert_eq!(entity.field("subject").unwrap().value(), "Triple", "{case}");
                // Each layer's own MIME-Version is not piled onto the outer one.
                assert_eq!(entity.count("mime-version"), 1, "{case}");
                assert_eq!(
                    entity.content_type().unwrap().mime_type(),
                    "text/plain",
                    "{case}"
                );
                assert_eq!(
                    entity.decoded_body().unwrap(),
                    b"Please pay invoice 4711 (triple-wrapped).\n",
                    "{case}: innermost content"
                );
            }
        }
    }
}
