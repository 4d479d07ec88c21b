//! Autocrypt headers of inbound mail
//! ([Autocrypt Level 1, section 2.1](https://autocrypt.org/level1.html#the-autocrypt-header)):
//! the sender's certificate, offered for the administrator's pending list.

use mail_message::{EmailAddress, Entity};
use sequoia_openpgp::Cert;

use crate::error::Error;
use crate::keys;
use crate::verification::addresses;

/// The sender's stated encryption preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum PreferEncrypt {
    /// `prefer-encrypt=mutual`.
    Mutual,
    /// No preference stated.
    #[default]
    NoPreference,
}

/// A parsed `Autocrypt` header.
///
/// ```
/// # let key = testkit::openpgp_key("Alice <alice@example.org>", testkit::PgpSuite::Cv25519, testkit::PgpVersion::V4);
/// # use sequoia_openpgp::serialize::SerializeInto;
/// # let keydata = mail_message::encode_base64(&key.cert().to_vec().unwrap(), mail_message::LineBreak::Crlf);
/// # let keydata = String::from_utf8(keydata).unwrap().replace("\r\n", "\r\n ");
/// use pgp_core::{AutocryptHeader, PreferEncrypt};
///
/// let value = format!("addr=alice@example.org; prefer-encrypt=mutual; keydata={keydata}");
/// let header = AutocryptHeader::parse(&value)?;
/// assert_eq!(header.addr.as_str(), "alice@example.org");
/// assert_eq!(header.prefer_encrypt, PreferEncrypt::Mutual);
/// assert_eq!(header.certificate.fingerprint(), key.cert().fingerprint());
/// # Ok::<(), pgp_core::Error>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AutocryptHeader {
    /// The `addr` attribute.
    pub addr: EmailAddress,
    /// The `prefer-encrypt` attribute.
    pub prefer_encrypt: PreferEncrypt,
    /// The certificate from `keydata`.
    pub certificate: Cert,
}

impl AutocryptHeader {
    /// Parses a header value. Unknown attributes are refused unless their
    /// name starts with `_` (the specification's rule for non-critical
    /// ones); `keydata` must hold exactly one certificate without secret
    /// key material.
    pub fn parse(value: &str) -> Result<AutocryptHeader, Error> {
        let bad = |reason: &str| Error::Autocrypt {
            reason: reason.to_owned(),
        };
        let mut addr = None;
        let mut prefer_encrypt = PreferEncrypt::NoPreference;
        let mut keydata = None;
        for attribute in value.split(';') {
            let attribute = attribute.trim();
            if attribute.is_empty() {
                continue;
            }
            let (name, value) = attribute
                .split_once('=')
                .ok_or_else(|| bad("an attribute without `=`"))?;
            match name.trim().to_ascii_lowercase().as_str() {
                "addr" => {
                    if addr.is_some() {
                        return Err(bad("`addr` appears twice"));
                    }
                    addr = Some(value.trim().parse::<EmailAddress>()?);
                }
                "prefer-encrypt" => {
                    if value.trim().eq_ignore_ascii_case("mutual") {
                        prefer_encrypt = PreferEncrypt::Mutual;
                    }
                }
                "keydata" => {
                    if keydata.is_some() {
                        return Err(bad("`keydata` appears twice"));
                    }
                    keydata = Some(
                        mail_message::decode_base64(value.as_bytes())
                            .map_err(|_| bad("`keydata` is not base64"))?,
                    );
                }
                name if name.starts_with('_') => {}
                _ => return Err(bad("an unknown critical attribute")),
            }
        }
        let addr = addr.ok_or_else(|| bad("no `addr` attribute"))?;
        let keydata = keydata.ok_or_else(|| bad("no `keydata` attribute"))?;
        let mut certs = keys::parse_certificates(&keydata)?;
        if certs.len() != 1 {
            return Err(bad("`keydata` must hold exactly one certificate"));
        }
        let certificate = certs.pop().ok_or(Error::NoCertificate)?;
        if certificate.is_tsk() {
            return Err(bad("`keydata` holds secret key material"));
        }
        Ok(AutocryptHeader {
            addr,
            prefer_encrypt,
            certificate,
        })
    }

    /// The Autocrypt header of an inbound message: the single valid header
    /// whose `addr` is the single `From` address. Headers for other
    /// addresses are ignored; two valid ones for the From address, like
    /// none, give `None` (Autocrypt Level 1, section 2.3).
    pub fn from_message(message: &[u8]) -> Result<Option<AutocryptHeader>, Error> {
        let entity = Entity::parse(message)?;
        let from = addresses(&entity, "from");
        let [from] = from.as_slice() else {
            return Ok(None);
        };
        let mut found: Vec<AutocryptHeader> = entity
            .fields()
            .iter()
            .filter(|f| f.is("autocrypt"))
            .filter_map(|f| AutocryptHeader::parse(&f.value()).ok())
            .filter(|h| &h.addr == from)
            .collect();
        if found.len() != 1 {
            return Ok(None);
        }
        Ok(found.pop())
    }
}
