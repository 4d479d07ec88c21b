//! AES-GCM (NIST SP 800-38D) in pieces, for content too large to hold in
//! memory: the `aes-gcm` crate only works on whole buffers.
//!
//! GCM is CTR-mode encryption plus a GHASH over the ciphertext, so the two
//! halves are separate here: [`Keystream`] en- and decrypts, and
//! [`Authenticator`] computes the tag over ciphertext. Decryption checks the
//! tag over all ciphertext first and only then runs the keystream, so no
//! plaintext exists before it is authenticated. Tested against `aes-gcm` for
//! every length split.

use aes::cipher::{BlockCipherEncrypt, KeyInit, KeyIvInit, StreamCipher};
use ghash::GHash;
use ghash::universal_hash::UniversalHash;
use subtle::ConstantTimeEq;

use crate::error::Error;

/// An AES key for GCM: 16 or 32 bytes.
pub(crate) enum GcmKey {
    Aes128(aes::Aes128, [u8; 16]),
    Aes256(aes::Aes256, [u8; 32]),
}

impl GcmKey {
    pub(crate) fn new(key: &[u8]) -> Result<GcmKey, Error> {
        match key.len() {
            16 => {
                let mut bytes = [0u8; 16];
                bytes.copy_from_slice(key);
                let cipher = aes::Aes128::new_from_slice(key).map_err(|_| Error::Decryption)?;
                Ok(GcmKey::Aes128(cipher, bytes))
            }
            32 => {
                let mut bytes = [0u8; 32];
                bytes.copy_from_slice(key);
                let cipher = aes::Aes256::new_from_slice(key).map_err(|_| Error::Decryption)?;
                Ok(GcmKey::Aes256(cipher, bytes))
            }
            _ => Err(Error::Decryption),
        }
    }

    fn encrypt_block(&self, bytes: &mut [u8; 16]) {
        let mut block = aes::Block::from(*bytes);
        match self {
            GcmKey::Aes128(cipher, _) => cipher.encrypt_block(&mut block),
            GcmKey::Aes256(cipher, _) => cipher.encrypt_block(&mut block),
        }
        *bytes = block.into();
    }

    /// The CTR keystream for a 12-byte nonce, starting at counter 2 (counter
    /// 1 masks the tag).
    pub(crate) fn keystream(&self, nonce: &[u8; 12]) -> Result<Keystream, Error> {
        let mut iv = [0u8; 16];
        iv[..12].copy_from_slice(nonce);
        iv[15] = 2;
        Ok(match self {
            GcmKey::Aes128(_, key) => Keystream::Aes128(
                ctr::Ctr32BE::<aes::Aes128>::new_from_slices(key, &iv)
                    .map_err(|_| Error::Decryption)?,
            ),
            GcmKey::Aes256(_, key) => Keystream::Aes256(
                ctr::Ctr32BE::<aes::Aes256>::new_from_slices(key, &iv)
                    .map_err(|_| Error::Decryption)?,
            ),
        })
    }

    /// The tag computation for a 12-byte nonce and additional data.
    pub(crate) fn authenticator(&self, nonce: &[u8; 12], aad: &[u8]) -> Authenticator {
        let mut h = [0u8; 16];
        self.encrypt_block(&mut h);
        let mut ghash = GHash::new(&h.into());
        ghash.update_padded(aad);
        let mut j0 = [0u8; 16];
        j0[..12].copy_from_slice(nonce);
        j0[15] = 1;
        self.encrypt_block(&mut j0);
        Authenticator {
            ghash,
            partial: Vec::with_capacity(16),
            aad_len: aad.len() as u64,
            ciphertext_len: 0,
            tag_mask: j0,
        }
    }
}

impl Drop for GcmKey {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        match self {
            GcmKey::Aes128(_, key) => key.zeroize(),
            GcmKey::Aes256(_, key) => key.zeroize(),
        }
    }
}

/// GCM's CTR half.
pub(crate) enum Keystream {
    Aes128(ctr::Ctr32BE<aes::Aes128>),
    Aes256(ctr::Ctr32BE<aes::Aes256>),
}

impl Keystream {
    /// En- or decrypts `data` in place, continuing where the last call ended.
    pub(crate) fn apply(&mut self, data: &mut [u8]) {
        match self {
            Keystream::Aes128(ctr) => ctr.apply_keystream(data),
            Keystream::Aes256(ctr) => ctr.apply_keystream(data),
        }
    }
}

/// GCM's GHASH half, over ciphertext.
pub(crate) struct Authenticator {
    ghash: GHash,
    partial: Vec<u8>,
    aad_len: u64,
    ciphertext_len: u64,
    tag_mask: [u8; 16],
}

impl Authenticator {
    /// Adds ciphertext, in pieces of any size.
    pub(crate) fn update(&mut self, mut ciphertext: &[u8]) {
        self.ciphertext_len += ciphertext.len() as u64;
        if !self.partial.is_empty() {
            let take = (16 - self.partial.len()).min(ciphertext.len());
            let (head, rest) = ciphertext.split_at(take);
            self.partial.extend_from_slice(head);
            ciphertext = rest;
            if self.partial.len() == 16 {
                self.ghash.update_padded(&self.partial);
                self.partial.clear();
            }
        }
        let whole = ciphertext.len() - ciphertext.len() % 16;
        let (blocks, rest) = ciphertext.split_at(whole);
        self.ghash.update_padded(blocks);
        self.partial.extend_from_slice(rest);
    }

    /// The 16-byte tag.
    pub(crate) fn tag(mut self) -> [u8; 16] {
        self.ghash.update_padded(&self.partial);
        let mut lengths = [0u8; 16];
        lengths[..8].copy_from_slice(&(self.aad_len * 8).to_be_bytes());
        lengths[8..].copy_from_slice(&(self.ciphertext_len * 8).to_be_bytes());
        self.ghash.update_padded(&lengths);
        let mut tag: [u8; 16] = self.ghash.finalize().into();
        for (byte, mask) in tag.iter_mut().zip(self.tag_mask) {
            *byte ^= mask;
        }
        tag
    }

    /// Whether the tag equals `expected` (a truncated tag of 12 to 16 bytes
    /// compares its prefix), in constant time.
    pub(crate) fn verify(self, expected: &[u8]) -> bool {
        let tag = self.tag();
        (12..=16).contains(&expected.len())
            && tag
                .get(..expected.len())
                .is_some_and(|prefix| bool::from(prefix.ct_eq(expected)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use aes_gcm::aead::AeadInOut;

    #[test]
    fn matches_aes_gcm_for_every_length_and_split() {
        for key_len in [16usize, 32] {
            let key: Vec<u8> = (0..key_len as u8).collect();
            let nonce = [9u8; 12];
            for len in [0usize, 1, 15, 16, 17, 100, 1000] {
                let plaintext: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
                let mut reference = plaintext.clone();
                let reference_tag = if key_len == 16 {
                    aes_gcm::Aes128Gcm::new_from_slice(&key)
                        .unwrap()
                        .encrypt_inout_detached(
                            &nonce.into(),
                            b"aad",
                            reference.as_mut_slice().into(),
                        )
                        .unwrap()
                        .to_vec()
                } else {
                    aes_gcm::Aes256Gcm::new_from_slice(&key)
                        .unwrap()
                        .encrypt_inout_detached(
                            &nonce.into(),
                            b"aad",
                            reference.as_mut_slice().into(),
                        )
                        .unwrap()
                        .to_vec()
                };
                for split in [0, 1, 7, 16, 33].into_iter().filter(|s| *s <= len) {
                    let gcm = GcmKey::new(&key).unwrap();
                    let mut keystream = gcm.keystream(&nonce).unwrap();
                    let mut authenticator = gcm.authenticator(&nonce, b"aad");
                    let mut data = plaintext.clone();
                    let (left, right) = data.split_at_mut(split);
                    keystream.apply(left);
                    authenticator.update(left);
                    keystream.apply(right);
                    authenticator.update(right);
                    assert_eq!(data, reference, "{key_len} {len} {split}");
                    assert_eq!(authenticator.tag().to_vec(), reference_tag);

                    let verifier = gcm.authenticator(&nonce, b"aad");
                    let mut tampered = gcm.authenticator(&nonce, b"aad");
                    let mut check = verifier;
                    check.update(&reference);
                    assert!(check.verify(&reference_tag));
                    tampered.update(&reference);
                    let mut wrong = reference_tag.clone();
                    wrong[0] ^= 1;
                    assert!(!tampered.verify(&wrong));
                }
            }
        }
    }
}
