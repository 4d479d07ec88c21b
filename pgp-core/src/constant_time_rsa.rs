//! OpenPGP RSA secret-key operations (session-key decryption and
//! signing) in constant time, whatever Sequoia backend the binary chose.
//!
//! Why: Sequoia's `crypto-rust` backend (the default that builds
//! everywhere) does RSA with the `rsa` 0.9 crate, whose modular
//! exponentiation leaks the key through timing (the Marvin attack,
//! RUSTSEC-2023-0071, not marked fixed for any 0.9 release; its signing
//! path does not even blind). An organisation key decrypts whatever anyone
//! sends it and signs every outbound message, so both are operations an
//! attacker can trigger and time, over and over.
//!
//! What: with the feature `constant-time-rsa` (on by default) every RSA
//! secret key that [`crate::Decryptor`] or [`crate::Signer`] uses goes
//! through [`ConstantTimeRsa`] instead, both a
//! [`sequoia_openpgp::crypto::Decryptor`] and a
//! [`sequoia_openpgp::crypto::Signer`] on the `rsa` 0.10 crate (the one
//! smime-core uses): constant-time exponentiation and blinding with fresh
//! operating-system randomness (the `rsa` crate's `getrandom` feature) for
//! both operations, a check of every result against the public key (no
//! CRT fault leaks a factor), and for decryption implicit rejection (a
//! malformed block yields a synthetic session key, which then fails
//! Sequoia's checksum exactly like a wrong key: no padding oracle).
//! Signatures are RSASSA-PKCS1-v1_5 (RFC 9580 section 5.2.3.1) with the
//! DigestInfo of SHA-224, SHA-256, SHA-384 or SHA-512; any other hash
//! (SHA-1, MD5, RIPEMD-160, SHA-3) is refused with
//! [`crate::Error::UnsupportedSigningHash`], and Sequoia is told so in
//! advance ([`sequoia_openpgp::crypto::Signer::acceptable_hashes`]).
//! PKCS#1 v1.5 signatures are deterministic: for the same key, hash and
//! digest the result is byte for byte what Sequoia's backend makes, so
//! nothing changes for verifiers.
//!
//! What stays on Sequoia's backend: every other algorithm, namely ECDH
//! decryption (Curve25519, NIST curves) and EdDSA / ECDSA signing
//! (Ed25519, NIST curves), whose implementations are constant-time in the
//! Sequoia backends; RSA when the feature is off or the `rsa` crate
//! refuses the key (then [`SecretKeyBackend::Sequoia`] says so);
//! certification signatures made when keys are generated (testkit, the
//! demo), which do not go through this crate. [`SecretKeyBackend`] names
//! the code that did the work: [`crate::Protection::secret_key_backend`]
//! for a decryption, [`crate::Signer::secret_key_backend`] for signing.

#[cfg(feature = "constant-time-rsa")]
use rsa::BoxedUint;
#[cfg(feature = "constant-time-rsa")]
use rsa::traits::PublicKeyParts;
#[cfg(feature = "constant-time-rsa")]
use sequoia_openpgp::crypto::SessionKey;
use sequoia_openpgp::crypto::mpi;
#[cfg(feature = "constant-time-rsa")]
use sequoia_openpgp::crypto::mpi::Ciphertext;
use sequoia_openpgp::crypto::{self, KeyPair};
use sequoia_openpgp::packet::Key;
use sequoia_openpgp::packet::key::{PublicParts, UnspecifiedRole};
use sequoia_openpgp::types::HashAlgorithm;
#[cfg(feature = "constant-time-rsa")]
use sequoia_openpgp::types::PublicKeyAlgorithm;
#[cfg(feature = "constant-time-rsa")]
use zeroize::Zeroizing;

/// Which code performed a secret-key operation (see
/// [`crate::Protection::secret_key_backend`] and
/// [`crate::Signer::secret_key_backend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretKeyBackend {
    /// RSA in constant time with blinding (and implicit rejection when
    /// decrypting): the `rsa` 0.10 crate, independent of Sequoia's backend.
    ConstantTimeRsa,
    /// Sequoia's selected crypto backend (ECDH, EdDSA and ECDSA keys, or
    /// RSA when the `constant-time-rsa` feature is off).
    Sequoia,
}

impl std::fmt::Display for SecretKeyBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SecretKeyBackend::ConstantTimeRsa => "constant-time-rsa",
            SecretKeyBackend::Sequoia => "sequoia",
        })
    }
}

/// The hashes an RSA signature is made with here, in Sequoia's order
/// (`acceptable_hashes` wants them sorted).
#[cfg(feature = "constant-time-rsa")]
const SIGNING_HASHES: &[HashAlgorithm] = &[
    HashAlgorithm::SHA256,
    HashAlgorithm::SHA384,
    HashAlgorithm::SHA512,
    HashAlgorithm::SHA224,
];

/// An RSA secret key ready to decrypt OpenPGP session keys and to sign in
/// constant time. The `rsa` crate's key zeroizes itself when dropped.
#[cfg(feature = "constant-time-rsa")]
#[derive(Clone)]
pub(crate) struct ConstantTimeRsa {
    public: Key<PublicParts, UnspecifiedRole>,
    key: rsa::RsaPrivateKey,
}

#[cfg(feature = "constant-time-rsa")]
impl ConstantTimeRsa {
    /// The constant-time key for `pair`'s RSA key; `None` for any other
    /// algorithm or a key the `rsa` crate refuses (then Sequoia's backend
    /// does the work, as before).
    pub(crate) fn new(pair: &KeyPair) -> Option<ConstantTimeRsa> {
        let mpi::PublicKey::RSA { e, n } = pair.public().mpis() else {
            return None;
        };
        let private = pair.secret().map(|material| {
            let mpi::SecretKeyMaterial::RSA { d, p, q, .. } = material else {
                return None;
            };
            // Every number gets the modulus's width: a public choice, as
            // the `rsa` crate's own PKCS#1 decoding makes it.
            let bits = u32::try_from(n.value().len().checked_mul(8)?).ok()?;
            let uint = |bytes: &[u8]| BoxedUint::from_be_slice(bytes, bits).ok();
            rsa::RsaPrivateKey::from_components(
                uint(n.value())?,
                uint(e.value())?,
                uint(d.value())?,
                vec![uint(p.value())?, uint(q.value())?],
            )
            .ok()
        })?;
        Some(ConstantTimeRsa {
            public: pair.public().clone(),
            key: private,
        })
    }
}

#[cfg(feature = "constant-time-rsa")]
impl crypto::Decryptor for ConstantTimeRsa {
    fn public(&self) -> &Key<PublicParts, UnspecifiedRole> {
        &self.public
    }

    fn decrypt(
        &mut self,
        ciphertext: &Ciphertext,
        _plaintext_len: Option<usize>,
    ) -> sequoia_openpgp::Result<SessionKey> {
        let Ciphertext::RSA { c } = ciphertext else {
            return Err(sequoia_openpgp::Error::InvalidOperation(
                "an RSA key cannot decrypt this ciphertext".into(),
            )
            .into());
        };
        // OpenPGP strips leading zero octets from the MPI; PKCS#1 wants
        // exactly the modulus length.
        let padded = c.value_padded(self.key.size())?;
        // Blinded with the operating system's randomness (the `rsa`
        // crate's `getrandom` feature); a bad block is not an error here.
        let plain = Zeroizing::new(
            self.key
                .decrypt(rsa::Pkcs1v15Encrypt, &padded)
                .map_err(|_| sequoia_openpgp::Error::InvalidSessionKey("RSA".into()))?,
        );
        Ok(SessionKey::from(&plain[..]))
    }
}

/// The PKCS#1 v1.5 signature scheme (the DigestInfo prefix and the digest
/// length) for `hash`; only the SHA-2 family.
#[cfg(feature = "constant-time-rsa")]
fn pkcs1v15(hash: HashAlgorithm) -> Result<rsa::Pkcs1v15Sign, crate::Error> {
    use rsa::sha2;
    Ok(match hash {
        HashAlgorithm::SHA224 => rsa::Pkcs1v15Sign::new::<sha2::Sha224>(),
        HashAlgorithm::SHA256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
        HashAlgorithm::SHA384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
        HashAlgorithm::SHA512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
        other => return Err(crate::Error::UnsupportedSigningHash { algorithm: other }),
    })
}

#[cfg(feature = "constant-time-rsa")]
impl crypto::Signer for ConstantTimeRsa {
    fn public(&self) -> &Key<PublicParts, UnspecifiedRole> {
        &self.public
    }

    fn acceptable_hashes(&self) -> &[HashAlgorithm] {
        SIGNING_HASHES
    }

    fn sign(
        &mut self,
        hash_algo: HashAlgorithm,
        digest: &[u8],
    ) -> sequoia_openpgp::Result<mpi::Signature> {
        let padding = pkcs1v15(hash_algo)?;
        // As Sequoia's backends do: an encrypt-only RSA key does not sign.
        match self.public.pk_algo() {
            #[allow(deprecated)]
            PublicKeyAlgorithm::RSAEncryptSign | PublicKeyAlgorithm::RSASign => {}
            other => {
                return Err(sequoia_openpgp::Error::InvalidOperation(format!(
                    "a {other} key cannot sign"
                ))
                .into());
            }
        }
        // `sign` blinds with the operating system's randomness (the `rsa`
        // crate's `getrandom` feature, required in Cargo.toml), refuses a
        // digest of the wrong length, and checks s^e = m before returning.
        let signature = self.key.sign(padding, digest).map_err(|error| {
            sequoia_openpgp::Error::InvalidOperation(format!("RSA signing failed: {error}"))
        })?;
        // The MPI drops leading zero octets, as Sequoia's own does.
        Ok(mpi::Signature::RSA {
            s: mpi::MPI::new(&signature),
        })
    }
}

/// A secret key made usable for signing: the constant-time RSA key, or
/// Sequoia's key pair for every other algorithm.
#[derive(Clone)]
pub(crate) enum SigningKey {
    /// Sequoia's backend (both variants boxed: the keys are large and of
    /// different sizes).
    Sequoia(Box<KeyPair>),
    /// RSA through [`ConstantTimeRsa`].
    #[cfg(feature = "constant-time-rsa")]
    ConstantTimeRsa(Box<ConstantTimeRsa>),
}

impl SigningKey {
    /// The signing key for `pair`: RSA through [`ConstantTimeRsa`] when the
    /// `constant-time-rsa` feature is on, everything else through Sequoia.
    pub(crate) fn new(pair: KeyPair) -> SigningKey {
        #[cfg(feature = "constant-time-rsa")]
        if let Some(rsa) = ConstantTimeRsa::new(&pair) {
            return SigningKey::ConstantTimeRsa(Box::new(rsa));
        }
        SigningKey::Sequoia(Box::new(pair))
    }

    /// The code that signs.
    pub(crate) fn backend(&self) -> SecretKeyBackend {
        match self {
            SigningKey::Sequoia(_) => SecretKeyBackend::Sequoia,
            #[cfg(feature = "constant-time-rsa")]
            SigningKey::ConstantTimeRsa(_) => SecretKeyBackend::ConstantTimeRsa,
        }
    }
}

impl crypto::Signer for SigningKey {
    fn public(&self) -> &Key<PublicParts, UnspecifiedRole> {
        match self {
            SigningKey::Sequoia(pair) => crypto::Signer::public(pair.as_ref()),
            #[cfg(feature = "constant-time-rsa")]
            SigningKey::ConstantTimeRsa(rsa) => crypto::Signer::public(rsa.as_ref()),
        }
    }

    fn acceptable_hashes(&self) -> &[HashAlgorithm] {
        match self {
            SigningKey::Sequoia(pair) => pair.acceptable_hashes(),
            #[cfg(feature = "constant-time-rsa")]
            SigningKey::ConstantTimeRsa(rsa) => rsa.acceptable_hashes(),
        }
    }

    fn sign(
        &mut self,
        hash_algo: HashAlgorithm,
        digest: &[u8],
    ) -> sequoia_openpgp::Result<mpi::Signature> {
        match self {
            SigningKey::Sequoia(pair) => pair.sign(hash_algo, digest),
            #[cfg(feature = "constant-time-rsa")]
            SigningKey::ConstantTimeRsa(rsa) => rsa.sign(hash_algo, digest),
        }
    }
}

#[cfg(all(test, feature = "constant-time-rsa"))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use std::sync::OnceLock;

    use proptest::prelude::*;
    use sequoia_openpgp::cert::prelude::*;
    use sequoia_openpgp::crypto::{Decryptor as _, Signer as _};
    use sequoia_openpgp::types::SymmetricAlgorithm;

    use super::*;

    use sequoia_openpgp::packet::key::SecretParts;

    fn rsa_key() -> Key<SecretParts, UnspecifiedRole> {
        let (cert, _) = CertBuilder::new()
            .set_cipher_suite(CipherSuite::RSA2k)
            .add_transport_encryption_subkey()
            .generate()
            .unwrap();
        cert.keys()
            .subkeys()
            .secret()
            .next()
            .unwrap()
            .key()
            .clone()
            .role_into_unspecified()
    }

    /// What Sequoia's backend encrypts, the constant-time key opens, and
    /// the result is the same session key Sequoia's own key pair finds.
    #[test]
    fn opens_what_sequoia_encrypts_and_agrees_with_its_backend() {
        let key = rsa_key();
        // The PKCS#1 payload of OpenPGP: algorithm, key, checksum.
        let mut plain = vec![u8::from(SymmetricAlgorithm::AES256)];
        plain.extend((0..34u8).map(|i| i.wrapping_mul(37)));
        let ciphertext = key
            .parts_as_public()
            .encrypt(&SessionKey::from(&plain[..]))
            .unwrap();
        let mut ours =
            ConstantTimeRsa::new(&key.clone().into_keypair().unwrap()).expect("an RSA key");
        let mut theirs = key.clone().into_keypair().unwrap();
        let a = ours.decrypt(&ciphertext, None).unwrap();
        let b = theirs.decrypt(&ciphertext, None).unwrap();
        assert_eq!(&a[..], &plain[..]);
        assert_eq!(&a[..], &b[..]);
    }

    /// Implicit rejection: a block that is not PKCS#1 v1.5 (random bytes)
    /// yields a synthetic value, the same for the same ciphertext, instead
    /// of an error a sender could tell apart from a wrong checksum.
    #[test]
    fn a_malformed_block_yields_a_synthetic_key_not_an_error() {
        let key = rsa_key();
        let mut ours = ConstantTimeRsa::new(&key.clone().into_keypair().unwrap()).unwrap();
        let modulus = match key.mpis() {
            mpi::PublicKey::RSA { n, .. } => n.value().to_vec(),
            _ => unreachable!(),
        };
        for seed in 1..20u8 {
            // Below the modulus (its top byte decremented), not a valid
            // encryption of anything.
            let mut c = modulus.clone();
            c[0] = c[0].saturating_sub(1).max(1);
            for (i, byte) in c.iter_mut().enumerate().skip(1) {
                *byte = byte.wrapping_mul(seed).wrapping_add(i as u8);
            }
            let ciphertext = Ciphertext::RSA {
                c: mpi::MPI::new(&c),
            };
            let first = ours.decrypt(&ciphertext, None).unwrap();
            let again = ours.decrypt(&ciphertext, None).unwrap();
            assert_eq!(&first[..], &again[..], "deterministic for seed {seed}");
        }
    }

    #[test]
    fn other_algorithms_are_left_to_sequoia() {
        let (cert, _) = CertBuilder::new()
            .set_cipher_suite(CipherSuite::Cv25519)
            .add_transport_encryption_subkey()
            .generate()
            .unwrap();
        let key = cert.keys().subkeys().secret().next().unwrap().key().clone();
        assert!(
            ConstantTimeRsa::new(&key.role_into_unspecified().into_keypair().unwrap()).is_none()
        );
    }

    /// A signing key (the primary of a general-purpose certificate) of
    /// `bits`, made once per test binary: RSA-4096 generation is slow.
    fn signing_key(bits: u32) -> Key<SecretParts, UnspecifiedRole> {
        static KEYS: OnceLock<std::sync::Mutex<Vec<(u32, Cert)>>> = OnceLock::new();
        let keys = KEYS.get_or_init(Default::default);
        let mut keys = keys.lock().unwrap();
        if !keys.iter().any(|(b, _)| *b == bits) {
            let suite = match bits {
                2048 => CipherSuite::RSA2k,
                3072 => CipherSuite::RSA3k,
                4096 => CipherSuite::RSA4k,
                _ => panic!("no suite for {bits}"),
            };
            // One key (the primary), not three: RSA-4096 generation is slow.
            let (cert, _) = CertBuilder::new()
                .add_userid("Signer <signer@example.org>")
                .set_cipher_suite(suite)
                .generate()
                .unwrap();
            keys.push((bits, cert));
        }
        let cert = &keys.iter().find(|(b, _)| *b == bits).unwrap().1;
        cert.primary_key()
            .key()
            .clone()
            .parts_into_secret()
            .unwrap()
            .role_into_unspecified()
    }

    const SHA2: [(HashAlgorithm, usize); 4] = [
        (HashAlgorithm::SHA224, 28),
        (HashAlgorithm::SHA256, 32),
        (HashAlgorithm::SHA384, 48),
        (HashAlgorithm::SHA512, 64),
    ];

    /// PKCS#1 v1.5 signatures are deterministic: the constant-time signer
    /// makes exactly the MPI Sequoia's backend makes, for every SHA-2
    /// digest and key size, and Sequoia verifies it.
    #[test]
    fn signatures_are_byte_identical_to_sequoias_backend() {
        for bits in [2048, 3072, 4096] {
            let key = signing_key(bits);
            let mut ours = ConstantTimeRsa::new(&key.clone().into_keypair().unwrap()).unwrap();
            let mut theirs = key.clone().into_keypair().unwrap();
            for (hash, len) in SHA2 {
                for seed in [0u8, 0xff, 0x5a] {
                    let digest: Vec<u8> = (0..len)
                        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
                        .collect();
                    let a = ours.sign(hash, &digest).unwrap();
                    let b = theirs.sign(hash, &digest).unwrap();
                    assert_eq!(a, b, "RSA-{bits} {hash} seed {seed}");
                    key.parts_as_public()
                        .verify(&a, hash, &digest)
                        .unwrap_or_else(|e| panic!("RSA-{bits} {hash}: {e}"));
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        /// The same, for any digest of any SHA-2 hash (RSA-2048).
        #[test]
        fn any_sha2_digest_signs_as_sequoia_does(
            which in 0..SHA2.len(),
            bytes in proptest::collection::vec(any::<u8>(), 64),
        ) {
            let (hash, len) = SHA2[which];
            let digest = &bytes[..len];
            let key = signing_key(2048);
            let mut ours = ConstantTimeRsa::new(&key.clone().into_keypair().unwrap()).unwrap();
            let mut theirs = key.into_keypair().unwrap();
            prop_assert_eq!(ours.sign(hash, digest).unwrap(), theirs.sign(hash, digest).unwrap());
        }
    }

    /// Every hash outside SHA-2 is refused with the typed error, whatever
    /// the digest, and Sequoia is told which hashes are acceptable (in
    /// its order, or its negotiation would miss some).
    #[test]
    fn hashes_other_than_sha2_are_refused_with_a_typed_error() {
        let key = signing_key(2048);
        let mut ours = ConstantTimeRsa::new(&key.into_keypair().unwrap()).unwrap();
        for (hash, len) in [
            (HashAlgorithm::MD5, 16),
            (HashAlgorithm::SHA1, 20),
            (HashAlgorithm::RipeMD, 20),
            (HashAlgorithm::SHA3_256, 32),
            (HashAlgorithm::SHA3_512, 64),
            (HashAlgorithm::Private(100), 32),
            (HashAlgorithm::Unknown(200), 32),
        ] {
            let error = ours.sign(hash, &vec![7; len]).unwrap_err();
            match error.downcast::<crate::Error>() {
                Ok(crate::Error::UnsupportedSigningHash { algorithm }) => {
                    assert_eq!(algorithm, hash)
                }
                other => panic!("{hash}: {other:?}"),
            }
        }
        let acceptable = ours.acceptable_hashes();
        assert!(acceptable.windows(2).all(|w| w[0] < w[1]), "{acceptable:?}");
        let mut sorted: Vec<_> = SHA2.iter().map(|(h, _)| *h).collect();
        sorted.sort();
        assert_eq!(acceptable, &sorted[..]);
    }

    /// A digest whose length does not match the hash is refused, not
    /// padded or cut.
    #[test]
    fn a_digest_of_the_wrong_length_is_refused() {
        let key = signing_key(2048);
        let mut ours = ConstantTimeRsa::new(&key.into_keypair().unwrap()).unwrap();
        assert!(ours.sign(HashAlgorithm::SHA256, &[1; 31]).is_err());
        assert!(ours.sign(HashAlgorithm::SHA256, &[1; 64]).is_err());
        assert!(ours.sign(HashAlgorithm::SHA512, &[1; 32]).is_err());
    }

    /// The signing key picks the constant-time code for RSA and leaves
    /// EdDSA and ECDSA keys to Sequoia.
    #[test]
    fn signing_keys_choose_their_backend_by_algorithm() {
        let rsa = SigningKey::new(signing_key(2048).into_keypair().unwrap());
        assert_eq!(rsa.backend(), SecretKeyBackend::ConstantTimeRsa);
        for suite in [CipherSuite::Cv25519, CipherSuite::P256] {
            let (cert, _) = CertBuilder::general_purpose(Some("E <e@example.org>"))
                .set_cipher_suite(suite)
                .generate()
                .unwrap();
            let pair = cert
                .primary_key()
                .key()
                .clone()
                .parts_into_secret()
                .unwrap()
                .role_into_unspecified()
                .into_keypair()
                .unwrap();
            assert_eq!(SigningKey::new(pair).backend(), SecretKeyBackend::Sequoia);
        }
    }

    /// Sequoia's stream signer asks only for the hashes the key accepts:
    /// SHA-1 and MD5 (which its own key pairs would sign) are refused
    /// before anything is written.
    #[test]
    fn sequoia_is_refused_sha1_and_md5_up_front() {
        use sequoia_openpgp::serialize::stream::{self, Message};
        let key = signing_key(2048);
        for hash in [HashAlgorithm::SHA1, HashAlgorithm::MD5] {
            let ours = SigningKey::new(key.clone().into_keypair().unwrap());
            let mut sink = Vec::new();
            let refused = stream::Signer::new(Message::new(&mut sink), ours)
                .unwrap()
                .hash_algo(hash);
            let error = refused.err().unwrap();
            assert!(
                matches!(
                    error.downcast_ref::<sequoia_openpgp::Error>(),
                    Some(sequoia_openpgp::Error::NoAcceptableHash)
                ),
                "{hash}: {error}"
            );
            // Sequoia's own key pair would have signed it.
            let theirs = key.clone().into_keypair().unwrap();
            assert!(
                stream::Signer::new(Message::new(&mut sink), theirs)
                    .unwrap()
                    .hash_algo(hash)
                    .is_ok()
            );
        }
    }

    /// Advertises every hash Sequoia knows (as its own key pairs do) and
    /// signs with the constant-time key, to see what happens when a
    /// refused hash reaches `sign` in the middle of a message.
    struct AdvertisesEverything(ConstantTimeRsa);

    impl crypto::Signer for AdvertisesEverything {
        fn public(&self) -> &Key<PublicParts, UnspecifiedRole> {
            crypto::Signer::public(&self.0)
        }

        fn sign(
            &mut self,
            hash_algo: HashAlgorithm,
            digest: &[u8],
        ) -> sequoia_openpgp::Result<mpi::Signature> {
            self.0.sign(hash_algo, digest)
        }
    }

    /// The refusal inside `sign` comes out of Sequoia's writer stack as
    /// this crate's typed error, not as a string.
    #[test]
    fn a_refused_hash_reaches_the_caller_as_the_typed_error() {
        use sequoia_openpgp::serialize::stream::{self, Message};
        use std::io::Write as _;
        let key = signing_key(2048);
        let ours = ConstantTimeRsa::new(&key.into_keypair().unwrap()).unwrap();
        let mut sink = Vec::new();
        let mut signer = stream::Signer::new(Message::new(&mut sink), AdvertisesEverything(ours))
            .unwrap()
            .hash_algo(HashAlgorithm::SHA1)
            .unwrap()
            .detached()
            .build()
            .unwrap();
        signer.write_all(b"data").unwrap();
        let error = signer.finalize().unwrap_err();
        match crate::Error::sequoia(error) {
            crate::Error::UnsupportedSigningHash { algorithm } => {
                assert_eq!(algorithm, HashAlgorithm::SHA1)
            }
            other => panic!("{other:?}"),
        }
    }
}
