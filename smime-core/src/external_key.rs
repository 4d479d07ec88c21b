//! Private keys that never enter this process: a hardware security module
//! (PKCS#11), a smart card, a key management service.
//!
//! See [`ExternalKey`].

use zeroize::Zeroizing;

use crate::digest::DigestAlgorithm;
use crate::signature_algorithm::SignatureScheme;

/// How the content-encryption key was encrypted to an RSA recipient
/// (`keyEncryptionAlgorithm` of a KeyTransRecipientInfo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyTransport {
    /// RSAES-PKCS1-v1_5 (`rsaEncryption`).
    RsaPkcs1v15,
    /// RSAES-OAEP with SHA-1 and MGF1-SHA-1, no label: OpenSSL's OAEP
    /// default (RFC 3560).
    RsaOaepSha1,
    /// RSAES-OAEP with SHA-256 and MGF1-SHA-256, no label: what we send
    /// (RFC 8551 recommends OAEP).
    RsaOaepSha256,
}

impl std::fmt::Display for KeyTransport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyTransport::RsaPkcs1v15 => "RSA PKCS#1 v1.5",
            KeyTransport::RsaOaepSha1 => "RSA-OAEP (SHA-1)",
            KeyTransport::RsaOaepSha256 => "RSA-OAEP (SHA-256)",
        })
    }
}

/// Why an [`ExternalKey`] could not perform an operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyOperationError {
    /// The key cannot be reached now (token removed, session lost, login
    /// refused, service down): retrying later may succeed. Callers that
    /// fail closed defer the mail.
    #[error("the private key is unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The key or its store does not offer this operation (a mechanism the
    /// token lacks, ECDH, RSA-PSS).
    #[error("the private key does not support {0}")]
    Unsupported(String),
    /// The key refused this input: for decryption, an encrypted key that
    /// does not decrypt. Deliberately says nothing more.
    #[error("the private-key operation failed")]
    Failed,
}

/// A private key held outside this process, which signs digests and
/// decrypts content-encryption keys on request.
///
/// Implementations must be usable from several threads at once (the
/// gateway signs and decrypts concurrently): serialise access inside if the
/// key store needs it.
///
/// S/MIME needs exactly two private-key operations, and an [`ExternalKey`]
/// performs them wherever the key lives:
///
/// - **signing** a digest (the digest of the DER-encoded signed attributes,
///   RFC 5652 section 5.4), returning the value that goes into
///   `SignerInfo.signature`: for RSA PKCS#1 v1.5 the signature over the
///   `DigestInfo` (RFC 8017 section 9.2; [`DigestAlgorithm::digest_info`]
///   builds it), for ECDSA the DER `ECDSA-Sig-Value` (RFC 5753 section 7.2);
/// - **decrypting** the content-encryption key of a key-transport
///   recipientInfo (RSA PKCS#1 v1.5 or RSA-OAEP, RFC 5652 section 6.2.1,
///   RFC 3560).
///
/// [`Signer::with_external_key`](crate::Signer::with_external_key) and
/// [`DecryptionIdentity::with_external_key`](crate::DecryptionIdentity::with_external_key)
/// use one; everything else (CMS, MIME, streaming) is the same as with a key
/// in memory. The `mailgate-pkcs11` crate implements the trait for PKCS#11
/// tokens.
///
/// Two safeguards make a key held elsewhere as safe to use as one held here:
/// every signature made by an external key is checked against the
/// certificate before it is released (a token key that does not belong to
/// the certificate, or a faulty token, yields [`Error::SigningFailed`](crate::Error::SigningFailed)
/// instead of mail that no one can verify); and an encrypted key the token
/// refuses is treated as PKCS#1 v1.5 implicit rejection does: a random
/// content key takes its place, so the failure surfaces at the content layer
/// like every other one ([`Error::Decryption`](crate::Error::Decryption), no padding oracle).
///
/// ```
/// use std::sync::Arc;
/// use smime_core::{
///     DigestAlgorithm, ExternalKey, KeyOperationError, KeyTransport, SignatureScheme,
/// };
/// use zeroize::Zeroizing;
///
/// /// A key that is never available, as a token that has been unplugged.
/// struct Unplugged;
///
/// impl ExternalKey for Unplugged {
///     fn sign_digest(
///         &self,
///         _: SignatureScheme,
///         _: DigestAlgorithm,
///         _: &[u8],
///     ) -> Result<Vec<u8>, KeyOperationError> {
///         Err(KeyOperationError::Unavailable("token removed".into()))
///     }
///
///     fn decrypt_key_transport(
///         &self,
///         _: KeyTransport,
///         _: &[u8],
///     ) -> Result<Zeroizing<Vec<u8>>, KeyOperationError> {
///         Err(KeyOperationError::Unavailable("token removed".into()))
///     }
/// }
///
/// # let alice = testkit::pki().smime("alice@example.org", testkit::KeyKind::Rsa2048);
/// let certificate = smime_core::Certificate::from_der(alice.certificate_der())?;
/// let signer = smime_core::Signer::with_external_key(certificate, Arc::new(Unplugged))?;
/// let result = signer.sign_message(b"From: alice@example.org\r\n\r\nHi\r\n", Default::default());
/// assert!(matches!(result, Err(smime_core::Error::KeyUnavailable(_))));
/// # Ok::<(), smime_core::Error>(())
/// ```
pub trait ExternalKey: Send + Sync {
    /// The signature value over `digest`, the `digest_algorithm` digest of
    /// the signed bytes, as `SignerInfo.signature` holds it: for
    /// [`SignatureScheme::RsaPkcs1v15`] the RSASSA-PKCS1-v1_5 signature of
    /// `digest_algorithm.digest_info(digest)`; for
    /// [`SignatureScheme::Ecdsa`] the DER `ECDSA-Sig-Value`. Schemes the key
    /// cannot do are [`KeyOperationError::Unsupported`].
    fn sign_digest(
        &self,
        scheme: SignatureScheme,
        digest_algorithm: DigestAlgorithm,
        digest: &[u8],
    ) -> Result<Vec<u8>, KeyOperationError>;

    /// The content-encryption key in `encrypted_key`, decrypted with
    /// `transport`. Any failure that depends on the input must be
    /// [`KeyOperationError::Failed`], never a more telling error.
    fn decrypt_key_transport(
        &self,
        transport: KeyTransport,
        encrypted_key: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, KeyOperationError>;
}

/// `DigestInfo` prefixes (RFC 8017 section 9.2, note 1): the DER of
/// `SEQUENCE { SEQUENCE { hash OID, NULL }, OCTET STRING (digest length) }`
/// up to the digest itself.
const DIGEST_INFO_SHA256: &[u8] = &[
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];
const DIGEST_INFO_SHA384: &[u8] = &[
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05,
    0x00, 0x04, 0x30,
];
const DIGEST_INFO_SHA512: &[u8] = &[
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05,
    0x00, 0x04, 0x40,
];

impl DigestAlgorithm {
    /// The DER `DigestInfo` of `digest` (RFC 8017 section 9.2): what a raw
    /// RSA PKCS#1 v1.5 signing primitive (PKCS#11 `CKM_RSA_PKCS`) signs.
    ///
    /// ```
    /// use smime_core::DigestAlgorithm;
    ///
    /// let digest = DigestAlgorithm::Sha256.digest(b"abc");
    /// let info = DigestAlgorithm::Sha256.digest_info(&digest);
    /// assert_eq!(info.len(), 19 + 32);
    /// assert!(info.ends_with(&digest));
    /// ```
    pub fn digest_info(self, digest: &[u8]) -> Vec<u8> {
        let prefix = match self {
            DigestAlgorithm::Sha256 => DIGEST_INFO_SHA256,
            DigestAlgorithm::Sha384 => DIGEST_INFO_SHA384,
            DigestAlgorithm::Sha512 => DIGEST_INFO_SHA512,
        };
        let mut info = Vec::with_capacity(prefix.len() + digest.len());
        info.extend_from_slice(prefix);
        info.extend_from_slice(digest);
        info
    }
}

impl KeyOperationError {
    /// The crate error for this failure; `failed` stands for
    /// [`KeyOperationError::Failed`] (signing and decryption report it
    /// differently).
    pub(crate) fn into_error(self, failed: crate::Error) -> crate::Error {
        match self {
            KeyOperationError::Unavailable(source) => crate::Error::KeyUnavailable(source),
            KeyOperationError::Unsupported(what) => crate::Error::KeyUnsupported(what),
            KeyOperationError::Failed => failed,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]
    //! The plumbing, with an in-process key that behaves like a PKCS#11
    //! token (`CKM_RSA_PKCS` signs a DigestInfo): OpenSSL verifies what it
    //! signs and encrypts what it decrypts.

    use std::path::Path;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use pkcs8::DecodePrivateKey;
    use testkit::{KeyKind, pki, run_peer};

    use super::*;
    use crate::{
        Certificate, DecryptionIdentity, Encryptor, Error, RsaKeyTransport, SignatureForm, Signer,
        decrypt_message, decrypt_message_stream,
    };

    const MESSAGE: &[u8] = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: Token\r\nContent-Type: text/plain\r\n\r\nSigned in a token\r\n";

    /// An RSA key "elsewhere": only the two trait operations reach it.
    struct TokenLike {
        key: rsa::RsaPrivateKey,
        operations: AtomicUsize,
    }

    impl TokenLike {
        fn of(identity: &testkit::Identity) -> Arc<TokenLike> {
            Arc::new(TokenLike {
                key: rsa::RsaPrivateKey::from_pkcs8_der(identity.private_key_der()).unwrap(),
                operations: AtomicUsize::new(0),
            })
        }
    }

    impl ExternalKey for TokenLike {
        fn sign_digest(
            &self,
            scheme: SignatureScheme,
            digest_algorithm: DigestAlgorithm,
            digest: &[u8],
        ) -> Result<Vec<u8>, KeyOperationError> {
            self.operations.fetch_add(1, Ordering::SeqCst);
            if scheme != SignatureScheme::RsaPkcs1v15 {
                return Err(KeyOperationError::Unsupported(scheme.to_string()));
            }
            // What CKM_RSA_PKCS does: PKCS#1 v1.5 padding around the bytes
            // it is given, which must be the DigestInfo.
            self.key
                .sign(
                    rsa::Pkcs1v15Sign::new_unprefixed(),
                    &digest_algorithm.digest_info(digest),
                )
                .map_err(|_| KeyOperationError::Failed)
        }

        fn decrypt_key_transport(
            &self,
            transport: KeyTransport,
            encrypted_key: &[u8],
        ) -> Result<Zeroizing<Vec<u8>>, KeyOperationError> {
            self.operations.fetch_add(1, Ordering::SeqCst);
            match transport {
                KeyTransport::RsaPkcs1v15 => self.key.decrypt(rsa::Pkcs1v15Encrypt, encrypted_key),
                KeyTransport::RsaOaepSha1 => self
                    .key
                    .decrypt(rsa::Oaep::<sha1::Sha1>::new(), encrypted_key),
                KeyTransport::RsaOaepSha256 => self
                    .key
                    .decrypt(rsa::Oaep::<sha2::Sha256>::new(), encrypted_key),
            }
            .map(Zeroizing::new)
            .map_err(|_| KeyOperationError::Failed)
        }
    }

    /// A key whose every operation fails the same way.
    struct Broken(fn() -> KeyOperationError);

    impl ExternalKey for Broken {
        fn sign_digest(
            &self,
            _: SignatureScheme,
            _: DigestAlgorithm,
            _: &[u8],
        ) -> Result<Vec<u8>, KeyOperationError> {
            Err((self.0)())
        }

        fn decrypt_key_transport(
            &self,
            _: KeyTransport,
            _: &[u8],
        ) -> Result<Zeroizing<Vec<u8>>, KeyOperationError> {
            Err((self.0)())
        }
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn certificate(identity: &testkit::Identity) -> Certificate {
        Certificate::from_der(identity.certificate_der()).unwrap()
    }

    fn openssl_verify(dir: &Path, signed: &[u8]) -> Vec<u8> {
        std::fs::write(dir.join("signed.eml"), signed).unwrap();
        std::fs::write(dir.join("root.pem"), pki().root().certificate_pem()).unwrap();
        run_peer(
            "openssl",
            &[
                "cms",
                "-verify",
                "-in",
                "signed.eml",
                "-CAfile",
                "root.pem",
                "-out",
                "-",
            ],
            dir,
        )
    }

    #[test]
    fn digest_info_is_what_rsa_signs_with_its_own_prefix() {
        let key = rsa::RsaPrivateKey::from_pkcs8_der(
            pki()
                .smime("prefix@example.org", KeyKind::Rsa2048)
                .private_key_der(),
        )
        .unwrap();
        for (algorithm, prefixed) in [
            (
                DigestAlgorithm::Sha256,
                rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
            ),
            (
                DigestAlgorithm::Sha384,
                rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
            ),
            (
                DigestAlgorithm::Sha512,
                rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
            ),
        ] {
            let digest = algorithm.digest(b"abc");
            let ours = key
                .sign(
                    rsa::Pkcs1v15Sign::new_unprefixed(),
                    &algorithm.digest_info(&digest),
                )
                .unwrap();
            assert_eq!(ours, key.sign(prefixed, &digest).unwrap(), "{algorithm:?}");
        }
    }

    #[test]
    fn openssl_verifies_what_an_external_rsa_key_signs() {
        let alice = pki().smime("alice@example.org", KeyKind::Rsa2048);
        let token = TokenLike::of(&alice);
        let chain = Certificate::load(alice.chain_pem().as_bytes()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        for digest in [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512] {
            for form in [SignatureForm::Detached, SignatureForm::Opaque] {
                let signer = Signer::with_external_key(certificate(&alice), token.clone())
                    .unwrap()
                    .with_chain(chain.clone())
                    .with_digest(digest);
                let signed = signer.sign_message(MESSAGE, form).unwrap();
                let content = openssl_verify(dir.path(), &signed);
                assert!(
                    String::from_utf8_lossy(&content).contains("Signed in a token"),
                    "{digest:?} {form:?}"
                );
            }
        }
        assert_eq!(token.operations.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn an_external_key_of_another_certificate_signs_nothing() {
        let alice = pki().smime("alice@example.org", KeyKind::Rsa2048);
        let mallory = pki().smime("mallory@example.org", KeyKind::Rsa2048);
        let signer =
            Signer::with_external_key(certificate(&alice), TokenLike::of(&mallory)).unwrap();
        assert!(matches!(
            signer.sign_message(MESSAGE, SignatureForm::Detached),
            Err(Error::SigningFailed)
        ));
        // A scheme the key lacks is named, not guessed around.
        let pss = Signer::with_external_key(certificate(&alice), TokenLike::of(&alice))
            .unwrap()
            .with_rsa_pss()
            .unwrap();
        assert!(matches!(
            pss.sign_message(MESSAGE, SignatureForm::Detached),
            Err(Error::KeyUnsupported(_))
        ));
    }

    #[test]
    fn mail_openssl_encrypts_decrypts_with_an_external_key() {
        let bob = pki().smime("bob@example.org", KeyKind::Rsa2048);
        let token = TokenLike::of(&bob);
        let identity =
            DecryptionIdentity::with_external_key(certificate(&bob), token.clone()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        bob.write_to(dir.path(), "bob").unwrap();
        std::fs::write(dir.path().join("plain.eml"), MESSAGE).unwrap();
        for options in [
            &["-aes-256-cbc"][..],
            &["-aes-128-gcm"][..],
            &["-aes-256-cbc", "-keyopt", "rsa_padding_mode:oaep"][..],
            &[
                "-aes-256-gcm",
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
                "-keyopt",
                "rsa_mgf1_md:sha256",
            ][..],
        ] {
            let mut args = vec![
                "cms",
                "-encrypt",
                "-in",
                "plain.eml",
                "-recip",
                "bob.cert.pem",
            ];
            args.extend_from_slice(options);
            let encrypted = run_peer("openssl", &args, dir.path());
            let decrypted = decrypt_message(&encrypted, &identity)
                .unwrap_or_else(|e| panic!("{options:?}: {e}"));
            assert!(
                contains(decrypted.message(), b"Signed in a token"),
                "{options:?}"
            );
            let mut streamed = Vec::new();
            decrypt_message_stream(&encrypted[..], &mut streamed, &identity).unwrap();
            assert!(contains(&streamed, b"Signed in a token"), "{options:?}");
        }
        let ours = Encryptor::new([certificate(&bob)])
            .unwrap()
            .with_rsa_key_transport(RsaKeyTransport::OaepSha256)
            .encrypt_message(MESSAGE)
            .unwrap();
        assert!(decrypt_message(&ours, &identity).is_ok());
        assert_eq!(token.operations.load(Ordering::SeqCst), 9);
    }

    #[test]
    fn external_key_failures_stay_typed_and_uniform() {
        let bob = pki().smime("bob@example.org", KeyKind::Rsa2048);
        let encrypted = Encryptor::new([certificate(&bob)])
            .unwrap()
            .encrypt_message(MESSAGE)
            .unwrap();
        // A refused block is the one decryption error, whatever the token
        // said, and a key of another certificate looks the same.
        let refusing = DecryptionIdentity::with_external_key(
            certificate(&bob),
            Arc::new(Broken(|| KeyOperationError::Failed)),
        )
        .unwrap();
        assert!(matches!(
            decrypt_message(&encrypted, &refusing),
            Err(Error::Decryption)
        ));
        let mallory = pki().smime("mallory@example.org", KeyKind::Rsa2048);
        let wrong =
            DecryptionIdentity::with_external_key(certificate(&bob), TokenLike::of(&mallory))
                .unwrap();
        assert!(matches!(
            decrypt_message(&encrypted, &wrong),
            Err(Error::Decryption)
        ));

        // An unplugged token is not a decryption failure: the caller may retry.
        let unplugged = Arc::new(Broken(|| {
            KeyOperationError::Unavailable("token removed".into())
        }));
        let identity =
            DecryptionIdentity::with_external_key(certificate(&bob), unplugged.clone()).unwrap();
        assert!(matches!(
            decrypt_message(&encrypted, &identity),
            Err(Error::KeyUnavailable(_))
        ));
        let signer = Signer::with_external_key(certificate(&bob), unplugged).unwrap();
        assert!(matches!(
            signer.sign_message(MESSAGE, SignatureForm::Detached),
            Err(Error::KeyUnavailable(_))
        ));

        // ECDH is no ExternalKey operation; weak RSA keys are refused as ever.
        let ec = pki().smime("ec@example.org", KeyKind::P256);
        assert!(matches!(
            DecryptionIdentity::with_external_key(certificate(&ec), TokenLike::of(&bob)),
            Err(Error::KeyUnsupported(_))
        ));
    }
}
