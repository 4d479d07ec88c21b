//! OpenPGP RSA session-key decryption in constant time, whatever Sequoia
//! backend the binary chose.
//!
//! Sequoia's `crypto-rust` backend (the default that builds everywhere)
//! decrypts RSA with the `rsa` 0.9 crate, whose modular exponentiation
//! leaks the key through timing (the Marvin attack, RUSTSEC-2023-0071).
//! An organisation key decrypts whatever anyone sends it, so that is the
//! operation an attacker can repeat and time. With the feature
//! `constant-time-rsa` (on by default) every RSA secret-key decryption of
//! [`crate::Decryptor`] goes through [`ConstantTimeRsa`] instead, a
//! [`sequoia_openpgp::crypto::Decryptor`] on the `rsa` 0.10 crate (the one
//! smime-core decrypts PKCS#1 v1.5 with): constant-time exponentiation,
//! blinding with fresh randomness, and implicit rejection (a malformed
//! block yields a synthetic session key, which then fails Sequoia's
//! checksum exactly like a wrong key: no padding oracle). Other algorithms
//! (ECDH on Curve25519 or the NIST curves) keep Sequoia's own code.

use rsa::BoxedUint;
use rsa::traits::PublicKeyParts;
use sequoia_openpgp::crypto::mpi::{self, Ciphertext};
use sequoia_openpgp::crypto::{self, KeyPair, SessionKey};
use sequoia_openpgp::packet::Key;
use sequoia_openpgp::packet::key::{PublicParts, UnspecifiedRole};
use zeroize::Zeroizing;

/// Which code performed a secret-key operation (see
/// [`crate::Protection::secret_key_backend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretKeyBackend {
    /// RSA in constant time with blinding and implicit rejection (the `rsa`
    /// 0.10 crate), independent of Sequoia's backend.
    ConstantTimeRsa,
    /// Sequoia's selected crypto backend (ECDH keys, or RSA when the
    /// `constant-time-rsa` feature is off).
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

/// An RSA secret key ready to decrypt OpenPGP session keys in constant
/// time. The `rsa` crate's key zeroizes itself when dropped.
pub(crate) struct ConstantTimeRsa {
    public: Key<PublicParts, UnspecifiedRole>,
    key: rsa::RsaPrivateKey,
}

impl ConstantTimeRsa {
    /// The decryptor for `pair`'s RSA key; `None` for any other algorithm
    /// or a key the `rsa` crate refuses (then Sequoia's backend decrypts,
    /// as before).
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use sequoia_openpgp::cert::prelude::*;
    use sequoia_openpgp::crypto::Decryptor as _;
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
}
