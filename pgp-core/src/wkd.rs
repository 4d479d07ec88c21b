//! Web Key Directory URLs
//! ([draft-koch-openpgp-webkey-service, section 3.1](https://datatracker.ietf.org/doc/html/draft-koch-openpgp-webkey-service#section-3.1)).
//!
//! The local part, mapped to lower case, is hashed with SHA-1 and encoded
//! in z-base-32; the advanced method asks the `openpgpkey` subdomain, the
//! direct method the domain itself. Both carry the original local part in
//! the `l` parameter.

use mail_message::EmailAddress;
use sequoia_openpgp::Cert;
use sequoia_openpgp::policy::StandardPolicy;
use sha1::Digest as _;

use crate::error::Error;
use crate::keys;

/// How [`lookup`] fetches a URL: the HTTPS client is the caller's (the
/// gateway's, with its own TLS policy, proxy and timeouts).
pub trait WkdFetcher {
    /// Fetches `url`. `Ok(None)` means "not there" (HTTP 404, or a host that
    /// does not exist), so the next method is tried; `Err` is a transient
    /// failure (timeout, TLS error, 5xx) that must not be taken for "no key".
    fn fetch(&self, url: &str) -> Result<Option<Vec<u8>>, Error>;
}

/// Looks up the certificates for `address` in its domain's Web Key
/// Directory: the advanced method first, then the direct method when the
/// advanced one has nothing. Only certificates with a valid user ID for
/// `address` are returned (section 3.1 of the draft: a client must ignore
/// the others), with their secret key material, if any, removed.
///
/// ```
/// # let key = testkit::openpgp_key("Bob <bob@example.net>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
/// # use sequoia_openpgp::serialize::SerializeInto;
/// use pgp_core::{Error, WkdFetcher, WkdUrls, wkd_lookup};
///
/// struct Direct(Vec<u8>);
/// impl WkdFetcher for Direct {
///     fn fetch(&self, url: &str) -> Result<Option<Vec<u8>>, Error> {
///         Ok(url.starts_with("https://example.net/").then(|| self.0.clone()))
///     }
/// }
/// let found = wkd_lookup(&"bob@example.net".parse()?, &Direct(key.cert().to_vec()?))?;
/// assert_eq!(found.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn lookup(address: &EmailAddress, fetcher: &dyn WkdFetcher) -> Result<Vec<Cert>, Error> {
    let urls = WkdUrls::new(address);
    for url in [&urls.advanced, &urls.direct] {
        let Some(body) = fetcher.fetch(url)? else {
            continue;
        };
        let policy = StandardPolicy::new();
        let certs: Vec<Cert> = keys::parse_certificates(&body)?
            .into_iter()
            .filter(|cert| {
                keys::bound_addresses(cert, &policy, None)
                    .iter()
                    .any(|(a, _)| a == address)
            })
            .map(Cert::strip_secret_key_material)
            .collect();
        return Ok(certs);
    }
    Ok(Vec::new())
}

/// The two URLs to look up a certificate for an address.
///
/// ```
/// use pgp_core::WkdUrls;
///
/// let urls = WkdUrls::new(&"Joe.Doe@Example.ORG".parse()?);
/// assert_eq!(urls.advanced, "https://openpgpkey.example.org/.well-known/openpgpkey/example.org/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe");
/// assert_eq!(urls.direct, "https://example.org/.well-known/openpgpkey/hu/iy9q119eutrkn8s1mk4r39qejnbu3n5q?l=Joe.Doe");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WkdUrls {
    /// The advanced method's URL (tried first).
    pub advanced: String,
    /// The direct method's URL.
    pub direct: String,
    /// The z-base-32 hash of the lower-cased local part.
    pub hash: String,
}

impl WkdUrls {
    /// The URLs for `address`.
    pub fn new(address: &EmailAddress) -> WkdUrls {
        let domain = address.domain().to_ascii_lowercase();
        let local = address.local_part();
        let digest = sha1::Sha1::digest(local.to_ascii_lowercase().as_bytes());
        let hash = zbase32(&digest);
        let l = percent_encode(local);
        WkdUrls {
            advanced: format!(
                "https://openpgpkey.{domain}/.well-known/openpgpkey/{domain}/hu/{hash}?l={l}"
            ),
            direct: format!("https://{domain}/.well-known/openpgpkey/hu/{hash}?l={l}"),
            hash,
        }
    }
}

/// z-base-32 (the alphabet of RFC 6189 section 5.1.6), without padding.
fn zbase32(data: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";
    let mut out = String::with_capacity(data.len() * 8 / 5 + 1);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &byte in data {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            let index = ((buffer >> bits) & 31) as usize;
            out.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'y')));
        }
    }
    if bits > 0 {
        let index = ((buffer << (5 - bits)) & 31) as usize;
        out.push(char::from(ALPHABET.get(index).copied().unwrap_or(b'y')));
    }
    out
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zbase32_matches_known_vectors() {
        assert_eq!(zbase32(b""), "");
        // RFC 6189 / Zooko's reference: 0xF0 0xBF 0xC7 -> "6n9hq".
        assert_eq!(zbase32(&[0xf0, 0xbf, 0xc7]), "6n9hq");
        assert_eq!(zbase32(&[0xd4, 0x7a, 0x04]), "4t7ye");
    }

    #[test]
    fn local_part_is_lower_cased_for_the_hash_but_kept_in_l() {
        let upper = WkdUrls::new(
            &"JOE.DOE@example.org"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        let lower = WkdUrls::new(
            &"joe.doe@EXAMPLE.org"
                .parse()
                .unwrap_or_else(|_| unreachable!()),
        );
        assert_eq!(upper.hash, lower.hash);
        assert!(upper.direct.ends_with("?l=JOE.DOE"));
        assert!(lower.direct.starts_with("https://example.org/"));
        let plus = WkdUrls::new(&"a+b@example.org".parse().unwrap_or_else(|_| unreachable!()));
        assert!(plus.direct.ends_with("?l=a%2Bb"));
    }
}
