//! Passwords a person can read aloud.

use zeroize::Zeroizing;

use crate::Error;

/// Characters of generated passwords: letters and digits without the ones
/// people confuse when reading a password aloud (0/O, 1/l/I).
const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

/// A password from the operating system's CSPRNG, `length` characters
/// (about 5.8 bits each) from an alphabet without look-alikes (no `0`,
/// `O`, `1`, `l`, `I`). Fails only when the system has no randomness.
///
/// ```
/// let password = mailgate_password_container::generate_password(20)?;
/// assert_eq!(password.len(), 20);
/// # Ok::<(), mailgate_password_container::Error>(())
/// ```
pub fn generate_password(length: usize) -> Result<Zeroizing<String>, Error> {
    let mut password = Zeroizing::new(String::with_capacity(length));
    // Rejection sampling keeps every character equally likely.
    let limit = 256 - 256 % ALPHABET.len();
    while password.len() < length {
        let mut bytes = Zeroizing::new([0u8; 64]);
        getrandom::fill(&mut *bytes).map_err(Error::randomness)?;
        for &b in bytes.iter() {
            if usize::from(b) < limit
                && password.len() < length
                && let Some(&c) = ALPHABET.get(usize::from(b) % ALPHABET.len())
            {
                password.push(char::from(c));
            }
        }
    }
    Ok(password)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_have_the_length_and_alphabet_asked_for() -> Result<(), Error> {
        let a = generate_password(20)?;
        let b = generate_password(20)?;
        assert_eq!(a.len(), 20);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)));
        assert_ne!(a, b);
        Ok(())
    }
}
