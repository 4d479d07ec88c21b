//! RSA private-key operations: AWS-LC (`aws-lc-rs`, feature `aws-lc`, on by
//! default) where it is safe to use, the `rsa` crate otherwise.
//!
//! - Signing (PKCS#1 v1.5 and PSS): AWS-LC, about four times faster than
//!   the `rsa` crate (blinded, constant-time exponentiation; figures in
//!   `benches/README.md`). Keys AWS-LC refuses (outside 2048 to 8192
//!   bits, say) sign with the `rsa` crate.
//! - RSA-OAEP key transport: AWS-LC, which reports every failure alike.
//! - Encryption to a recipient's public key (both paddings): AWS-LC, about
//!   five times faster than the `rsa` crate; a public-key operation has no
//!   secret for timing to reveal.
//! - RSA PKCS#1 v1.5 key transport: always the `rsa` crate. AWS-LC's
//!   PKCS#1 v1.5 decryption reports bad padding as an error (its own source
//!   says that API cannot avoid Bleichenbacher's attack) and `aws-lc-rs`
//!   offers no raw RSA decryption to check the padding ourselves; the `rsa`
//!   crate has implicit rejection (a bad block yields a synthetic key).
//!
//! Both backends zeroize private keys when they are dropped: the `rsa`
//! crate's keys zeroize themselves, and AWS-LC cleanses every allocation it
//! frees (`OPENSSL_free`), the key's numbers included.

use rsa::traits::{PublicKeyParts, SignatureScheme as _};
use rsa::{Pkcs1v15Sign, Pss};
use sha2::{Sha256, Sha384, Sha512};
use zeroize::Zeroizing;

use crate::digest::DigestAlgorithm;
use crate::error::Error;
use crate::external_key::KeyTransport;
use crate::signature_algorithm::SignatureScheme;

/// An RSA private key ready to sign, built once per [`crate::Signer`].
pub(crate) enum RsaSigningKey {
    /// AWS-LC's parsed key (with its precomputed Montgomery contexts).
    #[cfg(feature = "aws-lc")]
    AwsLc(aws_lc_rs::rsa::KeyPair),
    /// The `rsa` crate's key, for keys AWS-LC refuses or builds without it.
    RustCrypto(Box<rsa::RsaPrivateKey>),
}

impl RsaSigningKey {
    /// The key from its PKCS#8 encoding (`pkcs8`) and the `rsa` crate's
    /// decoding of it (`key`), which is kept only if AWS-LC refuses the key.
    pub(crate) fn new(pkcs8: &[u8], key: Box<rsa::RsaPrivateKey>) -> RsaSigningKey {
        #[cfg(feature = "aws-lc")]
        if let Ok(pair) = aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8) {
            // `key` is dropped (and zeroized) here.
            return RsaSigningKey::AwsLc(pair);
        }
        #[cfg(not(feature = "aws-lc"))]
        let _ = pkcs8;
        RsaSigningKey::RustCrypto(key)
    }

    /// The signature over `data` (hashed here with `digest`) with `scheme`
    /// (PKCS#1 v1.5, or PSS with a salt as long as the digest).
    pub(crate) fn sign(
        &self,
        scheme: SignatureScheme,
        digest: DigestAlgorithm,
        data: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let pss = match scheme {
            SignatureScheme::RsaPss => true,
            SignatureScheme::RsaPkcs1v15 => false,
            SignatureScheme::Ecdsa => return Err(Error::SigningFailed),
        };
        match self {
            #[cfg(feature = "aws-lc")]
            RsaSigningKey::AwsLc(pair) => {
                use aws_lc_rs::signature as sig;
                let encoding: &'static dyn sig::RsaEncoding = match (pss, digest) {
                    (false, DigestAlgorithm::Sha256) => &sig::RSA_PKCS1_SHA256,
                    (false, DigestAlgorithm::Sha384) => &sig::RSA_PKCS1_SHA384,
                    (false, DigestAlgorithm::Sha512) => &sig::RSA_PKCS1_SHA512,
                    // Salt length: the digest's (RSA_PSS_SALTLEN_DIGEST), as
                    // our signature algorithm identifier says.
                    (true, DigestAlgorithm::Sha256) => &sig::RSA_PSS_SHA256,
                    (true, DigestAlgorithm::Sha384) => &sig::RSA_PSS_SHA384,
                    (true, DigestAlgorithm::Sha512) => &sig::RSA_PSS_SHA512,
                };
                let mut signature = vec![0u8; pair.public_modulus_len()];
                // AWS-LC draws its own randomness (PSS salt, blinding).
                let rng = aws_lc_rs::rand::SystemRandom::new();
                pair.sign(encoding, &rng, data, &mut signature)
                    .map_err(|_| Error::SigningFailed)?;
                Ok(signature)
            }
            RsaSigningKey::RustCrypto(key) => {
                let hashed = digest.digest(data);
                // The randomised entry point blinds the private-key operation.
                let mut rng = getrandom::SysRng;
                let rng = Some(&mut rng);
                let key: &rsa::RsaPrivateKey = key;
                let signed = match (pss, digest) {
                    (false, DigestAlgorithm::Sha256) => {
                        Pkcs1v15Sign::new::<Sha256>().sign(rng, key, &hashed)
                    }
                    (false, DigestAlgorithm::Sha384) => {
                        Pkcs1v15Sign::new::<Sha384>().sign(rng, key, &hashed)
                    }
                    (false, DigestAlgorithm::Sha512) => {
                        Pkcs1v15Sign::new::<Sha512>().sign(rng, key, &hashed)
                    }
                    (true, DigestAlgorithm::Sha256) => Pss::<Sha256>::new().sign(rng, key, &hashed),
                    (true, DigestAlgorithm::Sha384) => Pss::<Sha384>::new().sign(rng, key, &hashed),
                    (true, DigestAlgorithm::Sha512) => Pss::<Sha512>::new().sign(rng, key, &hashed),
                };
                signed.map_err(|_| Error::SigningFailed)
            }
        }
    }

    /// The modulus size in bits.
    pub(crate) fn bits(&self) -> usize {
        match self {
            #[cfg(feature = "aws-lc")]
            RsaSigningKey::AwsLc(pair) => pair.public_modulus_len() * 8,
            RsaSigningKey::RustCrypto(key) => key.size() * 8,
        }
    }
}

/// A recipient's RSA public key, ready to encrypt a content-encryption key.
pub(crate) enum RsaRecipientKey {
    #[cfg(feature = "aws-lc")]
    AwsLc(aws_lc_rs::rsa::PublicEncryptingKey),
    RustCrypto(Box<rsa::RsaPublicKey>),
}

impl RsaRecipientKey {
    /// The key from a certificate's DER `SubjectPublicKeyInfo`, or `None`
    /// when neither backend can use it.
    pub(crate) fn from_spki(spki: &[u8]) -> Option<RsaRecipientKey> {
        #[cfg(feature = "aws-lc")]
        if let Ok(key) = aws_lc_rs::rsa::PublicEncryptingKey::from_der(spki) {
            return Some(RsaRecipientKey::AwsLc(key));
        }
        use rsa::pkcs8::DecodePublicKey;
        rsa::RsaPublicKey::from_public_key_der(spki)
            .ok()
            .map(|key| RsaRecipientKey::RustCrypto(Box::new(key)))
    }

    /// `cek` encrypted with RSA-OAEP (SHA-256, MGF1-SHA-256, empty label)
    /// or PKCS#1 v1.5; a failure can only be the random generator's.
    pub(crate) fn encrypt(self, oaep: bool, cek: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            #[cfg(feature = "aws-lc")]
            RsaRecipientKey::AwsLc(key) => {
                use aws_lc_rs::rsa::{
                    OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, Pkcs1PublicEncryptingKey,
                };
                let mut out = vec![0u8; key.key_size_bytes()];
                let length = if oaep {
                    OaepPublicEncryptingKey::new(key)
                        .and_then(|k| k.encrypt(&OAEP_SHA256_MGF1SHA256, cek, &mut out, None))
                        .map(|c| c.len())
                } else {
                    Pkcs1PublicEncryptingKey::new(key)
                        .and_then(|k| k.encrypt(cek, &mut out))
                        .map(|c| c.len())
                }
                .map_err(|_| Error::Randomness)?;
                out.truncate(length);
                Ok(out)
            }
            RsaRecipientKey::RustCrypto(key) => {
                use rsa::traits::PaddingScheme;
                let mut rng = getrandom::SysRng;
                if oaep {
                    rsa::Oaep::<Sha256>::new().encrypt(&mut rng, &key, cek)
                } else {
                    rsa::Pkcs1v15Encrypt.encrypt(&mut rng, &key, cek)
                }
                .map_err(|_| Error::Randomness)
            }
        }
    }
}

/// An RSA private key ready to decrypt key-transport recipientInfos.
pub(crate) struct RsaDecryptionKey {
    /// PKCS#1 v1.5 (implicit rejection), and OAEP when AWS-LC is absent or
    /// refused the key.
    key: Box<rsa::RsaPrivateKey>,
    #[cfg(feature = "aws-lc")]
    oaep: Option<aws_lc_rs::rsa::OaepPrivateDecryptingKey>,
}

impl RsaDecryptionKey {
    /// The key from its PKCS#8 encoding and the `rsa` crate's decoding of it.
    pub(crate) fn new(pkcs8: &[u8], key: Box<rsa::RsaPrivateKey>) -> RsaDecryptionKey {
        #[cfg(feature = "aws-lc")]
        let oaep = aws_lc_rs::rsa::PrivateDecryptingKey::from_pkcs8(pkcs8)
            .ok()
            .and_then(|k| aws_lc_rs::rsa::OaepPrivateDecryptingKey::new(k).ok());
        #[cfg(not(feature = "aws-lc"))]
        let _ = pkcs8;
        RsaDecryptionKey {
            key,
            #[cfg(feature = "aws-lc")]
            oaep,
        }
    }

    /// The content-encryption key in `encrypted_key`. Every failure is the
    /// same [`Error::Decryption`]; a bad PKCS#1 v1.5 block yields a
    /// synthetic key instead (implicit rejection), which fails later at the
    /// content layer.
    pub(crate) fn decrypt(
        &self,
        transport: KeyTransport,
        encrypted_key: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        #[cfg(feature = "aws-lc")]
        if let (Some(oaep), KeyTransport::RsaOaepSha1 | KeyTransport::RsaOaepSha256) =
            (&self.oaep, transport)
        {
            use aws_lc_rs::rsa::{OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256};
            let algorithm = if transport == KeyTransport::RsaOaepSha1 {
                &OAEP_SHA1_MGF1SHA1
            } else {
                &OAEP_SHA256_MGF1SHA256
            };
            let mut out = Zeroizing::new(vec![0u8; oaep.min_output_size()]);
            let len = oaep
                .decrypt(algorithm, encrypted_key, &mut out, None)
                .map_err(|_| Error::Decryption)?
                .len();
            out.truncate(len);
            return Ok(out);
        }
        let key = &self.key;
        match transport {
            KeyTransport::RsaPkcs1v15 => key.decrypt(rsa::Pkcs1v15Encrypt, encrypted_key),
            KeyTransport::RsaOaepSha1 => key.decrypt(rsa::Oaep::<sha1::Sha1>::new(), encrypted_key),
            KeyTransport::RsaOaepSha256 => key.decrypt(rsa::Oaep::<Sha256>::new(), encrypted_key),
        }
        .map(Zeroizing::new)
        .map_err(|_| Error::Decryption)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use pkcs8::DecodePrivateKey;
    use rsa::traits::PaddingScheme as _;

    use super::*;
    use crate::certificate::Certificate;

    const DIGESTS: [DigestAlgorithm; 3] = [
        DigestAlgorithm::Sha256,
        DigestAlgorithm::Sha384,
        DigestAlgorithm::Sha512,
    ];

    fn rust_crypto_key(pkcs8: &[u8]) -> Box<rsa::RsaPrivateKey> {
        Box::new(rsa::RsaPrivateKey::from_pkcs8_der(pkcs8).unwrap())
    }

    /// Every backend's signatures verify with the certificate; PKCS#1 v1.5
    /// is deterministic, so both backends must produce the same bytes.
    #[test]
    fn both_backends_sign_alike() {
        let id = testkit::pki().smime("k@example.org", testkit::KeyKind::Rsa2048);
        let certificate = Certificate::from_der(id.certificate_der()).unwrap();
        let pkcs8 = id.private_key_der();
        let chosen = RsaSigningKey::new(pkcs8, rust_crypto_key(pkcs8));
        #[cfg(feature = "aws-lc")]
        assert!(matches!(chosen, RsaSigningKey::AwsLc(_)));
        assert_eq!(chosen.bits(), 2048);
        let fallback = RsaSigningKey::RustCrypto(rust_crypto_key(pkcs8));
        let data = b"signed attributes";
        for digest in DIGESTS {
            let ours = chosen
                .sign(SignatureScheme::RsaPkcs1v15, digest, data)
                .unwrap();
            let theirs = fallback
                .sign(SignatureScheme::RsaPkcs1v15, digest, data)
                .unwrap();
            assert_eq!(ours, theirs, "{digest:?}");
            let hashed = digest.digest(data);
            for key in [&chosen, &fallback] {
                let pss = key.sign(SignatureScheme::RsaPss, digest, data).unwrap();
                crate::verification::check_signature_value(
                    &certificate,
                    SignatureScheme::RsaPss,
                    Some(hashed.len()),
                    digest,
                    &hashed,
                    &pss,
                )
                .unwrap();
            }
        }
        assert!(matches!(
            chosen.sign(SignatureScheme::Ecdsa, DigestAlgorithm::Sha256, data),
            Err(Error::SigningFailed)
        ));
    }

    /// OAEP (SHA-1 and SHA-256) decrypts the same through either backend,
    /// and a damaged block fails the same way in both.
    #[test]
    fn both_backends_decrypt_oaep_alike() {
        let id = testkit::pki().smime("k@example.org", testkit::KeyKind::Rsa2048);
        let pkcs8 = id.private_key_der();
        let public = rust_crypto_key(pkcs8).to_public_key();
        let chosen = RsaDecryptionKey::new(pkcs8, rust_crypto_key(pkcs8));
        #[cfg(feature = "aws-lc")]
        assert!(chosen.oaep.is_some());
        let fallback = RsaDecryptionKey {
            key: rust_crypto_key(pkcs8),
            #[cfg(feature = "aws-lc")]
            oaep: None,
        };
        let cek = [0x42u8; 32];
        let mut rng = getrandom::SysRng;
        for transport in [KeyTransport::RsaOaepSha1, KeyTransport::RsaOaepSha256] {
            let mut encrypted = match transport {
                KeyTransport::RsaOaepSha1 => {
                    rsa::Oaep::<sha1::Sha1>::new().encrypt(&mut rng, &public, &cek)
                }
                _ => rsa::Oaep::<Sha256>::new().encrypt(&mut rng, &public, &cek),
            }
            .unwrap();
            for key in [&chosen, &fallback] {
                assert_eq!(key.decrypt(transport, &encrypted).unwrap().as_slice(), cek);
            }
            if let Some(byte) = encrypted.get_mut(100) {
                *byte ^= 1;
            }
            for key in [&chosen, &fallback] {
                assert!(matches!(
                    key.decrypt(transport, &encrypted),
                    Err(Error::Decryption)
                ));
            }
        }
        // PKCS#1 v1.5 always goes through the `rsa` crate (implicit rejection).
        let encrypted = rsa::Pkcs1v15Encrypt
            .encrypt(&mut rng, &public, &cek)
            .unwrap();
        assert_eq!(
            chosen
                .decrypt(KeyTransport::RsaPkcs1v15, &encrypted)
                .unwrap()
                .as_slice(),
            cek
        );
    }
}
