//! A ZIP archive whose entries are encrypted with AES-256 in the WinZip
//! AE-2 format (compression method 99), which 7-Zip, WinZip, macOS
//! Archive Utility (recent), libarchive and most archivers open.
//!
//! Entries are stored uncompressed: mail attachments are mostly compressed
//! already, and compression before encryption leaks length information.
//! AE-2 stores no CRC (the HMAC authenticates the data instead).

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use zeroize::Zeroizing;

use crate::{EmbeddedFile, Error};

/// PBKDF2 iterations fixed by the AE-x specification.
const ITERATIONS: u32 = 1000;
const SALT_LEN: usize = 16;
const MAC_LEN: usize = 10;
/// 2000-01-01 00:00 in MS-DOS date and time.
const DOS_DATE: u16 = (20 << 9) | (1 << 5) | 1;
const DOS_TIME: u16 = 0;

fn extra_field() -> [u8; 11] {
    let mut extra = [0u8; 11];
    extra[..2].copy_from_slice(&0x9901u16.to_le_bytes());
    extra[2..4].copy_from_slice(&7u16.to_le_bytes());
    extra[4..6].copy_from_slice(&2u16.to_le_bytes()); // AE-2
    extra[6..8].copy_from_slice(b"AE");
    extra[8] = 3; // AES-256
    extra[9..11].copy_from_slice(&0u16.to_le_bytes()); // stored
    extra
}

/// One entry's encrypted data: salt, password verifier, ciphertext, MAC.
fn encrypt_entry(password: &[u8], data: &[u8]) -> Result<Vec<u8>, Error> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(Error::randomness)?;
    let mut keys = Zeroizing::new([0u8; 66]);
    pbkdf2::pbkdf2_hmac::<Sha1>(password, &salt, ITERATIONS, &mut *keys);
    let (aes_key, rest) = keys.split_at(32);
    let (mac_key, verifier) = rest.split_at(32);

    let mut ciphertext = data.to_vec();
    // WinZip's CTR: a little-endian block counter starting at 1.
    let mut counter = [0u8; 16];
    counter[0] = 1;
    if let Ok(mut cipher) = ctr::Ctr128LE::<aes::Aes256>::new_from_slices(aes_key, &counter) {
        cipher.apply_keystream(&mut ciphertext);
    }
    let mut out = Vec::with_capacity(SALT_LEN + 2 + ciphertext.len() + MAC_LEN);
    out.extend_from_slice(&salt);
    out.extend_from_slice(verifier);
    if let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(mac_key) {
        mac.update(&ciphertext);
        out.extend_from_slice(&ciphertext);
        out.extend_from_slice(
            mac.finalize()
                .into_bytes()
                .get(..MAC_LEN)
                .unwrap_or_default(),
        );
    }
    Ok(out)
}

fn u16_of(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A ZIP archive of `files`, each entry AES-256 encrypted with `password`.
///
/// Fails with [`Error::TooLarge`] beyond 65,535 entries or 4 GiB (no
/// ZIP64), or with [`Error::Randomness`] when there is no randomness for
/// the salts.
///
/// ```
/// use mailgate_password_container::{EmbeddedFile, encrypted_zip};
/// let file = EmbeddedFile { name: "a.txt".into(), mime_type: "text/plain".into(), data: b"secret".to_vec() };
/// let zip = encrypted_zip(&[file], "correct horse battery")?;
/// assert!(zip.starts_with(b"PK\x03\x04"));
/// assert!(!zip.windows(6).any(|w| w == b"secret"));
/// # Ok::<(), mailgate_password_container::Error>(())
/// ```
pub fn encrypted_zip(files: &[EmbeddedFile], password: &str) -> Result<Vec<u8>, Error> {
    if files.len() > usize::from(u16::MAX) {
        return Err(Error::TooLarge);
    }
    let extra = extra_field();
    let flags: u16 = 0x0001 | 0x0800; // encrypted, UTF-8 names
    let mut zip = Vec::new();
    let mut central = Vec::new();
    for file in files {
        let offset = zip.len();
        let data = encrypt_entry(password.as_bytes(), &file.data)?;
        if data.len() > u32::MAX as usize || offset > u32::MAX as usize {
            return Err(Error::TooLarge);
        }
        let name = file.name.as_bytes();
        let common = |out: &mut Vec<u8>| {
            out.extend_from_slice(&51u16.to_le_bytes()); // version needed: 5.1
            out.extend_from_slice(&flags.to_le_bytes());
            out.extend_from_slice(&99u16.to_le_bytes()); // AES
            out.extend_from_slice(&DOS_TIME.to_le_bytes());
            out.extend_from_slice(&DOS_DATE.to_le_bytes());
            out.extend_from_slice(&0u32.to_le_bytes()); // CRC: none in AE-2
            out.extend_from_slice(&u32_of(data.len()).to_le_bytes());
            out.extend_from_slice(&u32_of(file.data.len()).to_le_bytes());
            out.extend_from_slice(&u16_of(name.len()).to_le_bytes());
            out.extend_from_slice(&u16_of(extra.len()).to_le_bytes());
        };
        zip.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut zip);
        zip.extend_from_slice(name);
        zip.extend_from_slice(&extra);
        zip.extend_from_slice(&data);

        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&(51u16 | (3 << 8)).to_le_bytes()); // made by: Unix, 5.1
        common(&mut central);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        central.extend_from_slice(&0u16.to_le_bytes()); // disk
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&(0o100_644u32 << 16).to_le_bytes()); // -rw-r--r--
        central.extend_from_slice(&u32_of(offset).to_le_bytes());
        central.extend_from_slice(name);
        central.extend_from_slice(&extra);
    }
    let central_offset = zip.len();
    if central_offset > u32::MAX as usize {
        return Err(Error::TooLarge);
    }
    zip.extend_from_slice(&central);
    zip.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    zip.extend_from_slice(&0u16.to_le_bytes());
    zip.extend_from_slice(&0u16.to_le_bytes());
    zip.extend_from_slice(&u16_of(files.len()).to_le_bytes());
    zip.extend_from_slice(&u16_of(files.len()).to_le_bytes());
    zip.extend_from_slice(&u32_of(central.len()).to_le_bytes());
    zip.extend_from_slice(&u32_of(central_offset).to_le_bytes());
    zip.extend_from_slice(&0u16.to_le_bytes());
    Ok(zip)
}
