//! PKCS#12 import ([RFC 7292](https://www.rfc-editor.org/rfc/rfc7292)): the
//! `.p12`/`.pfx` files CAs issue S/MIME keys in, with the certificate and its
//! chain.
//!
//! Supported protection, which covers OpenSSL 1.x and 3.x, Windows and the
//! usual CA portals: PBES2 (PBKDF2 with AES-CBC; OpenSSL 3's default) and the
//! legacy `pbeWithSHAAnd3-KeyTripleDES-CBC`, for both the key bag and
//! encrypted certificate bags; HMAC-SHA-1/256/384/512 integrity with the
//! PKCS#12 key derivation. The MAC is checked before anything else is read.
//! RC2-40 (very old Windows exports) is refused as weak.

use cms::content_info::ContentInfo;
use cms::encrypted_data::EncryptedData;
use const_oid::ObjectIdentifier;
use const_oid::db::rfc5911::ID_DATA;
use const_oid::db::rfc5912::{ID_SHA_1, ID_SHA_256, ID_SHA_384, ID_SHA_512};
use der::asn1::OctetString;
use der::{Any, Decode, Encode, Sequence};
use hmac::{KeyInit, Mac};
use sha2::Digest;
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

use crate::certificate::Certificate;
use crate::error::Error;
use crate::private_key::{KeyMaterial, PrivateKey};

const ID_ENCRYPTED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.6");
const KEY_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.1");
const SHROUDED_KEY_BAG: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.2");
const CERT_BAG: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.10.1.3");
const X509_CERTIFICATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.22.1");
const PBE_SHA1_3DES: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.3");
const PBE_SHA1_RC2_40: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.12.1.6");
const PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");

/// `PFX` (RFC 7292 section 4).
#[derive(Sequence)]
struct Pfx {
    version: u8,
    auth_safe: ContentInfo,
    mac_data: Option<MacData>,
}

#[derive(Sequence)]
struct MacData {
    mac: DigestInfo,
    mac_salt: OctetString,
    #[asn1(default = "one")]
    iterations: u32,
}

fn one() -> u32 {
    1
}

#[derive(Sequence)]
struct DigestInfo {
    algorithm: AlgorithmIdentifierOwned,
    digest: OctetString,
}

/// `SafeBag`; attributes (friendlyName, localKeyId) are not needed.
#[derive(Sequence)]
struct SafeBag {
    bag_id: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    bag_value: Any,
    bag_attributes: Option<Any>,
}

#[derive(Sequence)]
struct CertBag {
    cert_id: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    cert_value: OctetString,
}

/// `EncryptedPrivateKeyInfo` (RFC 5958) with any algorithm: the `pkcs8`
/// crate's type admits PBES1/PBES2 only, not the PKCS#12 schemes.
#[derive(Sequence)]
struct EncryptedPrivateKeyInfo {
    algorithm: AlgorithmIdentifierOwned,
    data: OctetString,
}

/// `pkcs-12PbeParams`.
#[derive(Sequence)]
struct Pkcs12PbeParams {
    salt: OctetString,
    iterations: u32,
}

/// The contents of a PKCS#12 file: a private key, the certificate that
/// certifies it, and the other certificates (its chain).
///
/// ```no_run
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use smime_core::{Pkcs12, Signer};
///
/// let bundle = Pkcs12::parse(&std::fs::read("alice.p12")?, b"passphrase")?;
/// let signer = Signer::new(bundle.certificate.clone(), &bundle.private_key)?
///     .with_chain(bundle.chain.clone());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Pkcs12 {
    /// The private key.
    pub private_key: PrivateKey,
    /// The certificate of that key.
    pub certificate: Certificate,
    /// Every other certificate in the file (usually the issuing CAs).
    pub chain: Vec<Certificate>,
}

impl Pkcs12 {
    /// Opens a PKCS#12 file (DER or BER) with its password.
    pub fn parse(input: &[u8], password: &[u8]) -> Result<Pkcs12, Error> {
        let der = crate::ber::to_der(input).map_err(Error::MalformedCms)?;
        let pfx = Pfx::from_der(&der).map_err(Error::InvalidCms)?;
        if pfx.version != 3 || pfx.auth_safe.content_type != ID_DATA {
            return Err(Error::UnsupportedPkcs12(
                "not a password-integrity PFX version 3",
            ));
        }
        let auth_safe = pfx
            .auth_safe
            .content
            .decode_as::<OctetString>()
            .map_err(Error::InvalidCms)?;
        let mac = pfx.mac_data.ok_or(Error::UnsupportedPkcs12(
            "no MAC: public-key integrity mode is not supported",
        ))?;
        check_mac(&mac, auth_safe.as_bytes(), password)?;

        let contents: Vec<ContentInfo> =
            Vec::from_der(auth_safe.as_bytes()).map_err(Error::InvalidCms)?;
        let mut keys: Vec<PrivateKey> = Vec::new();
        let mut certificates: Vec<Certificate> = Vec::new();
        for content in contents {
            let safe_contents = match content.content_type {
                ID_DATA => content
                    .content
                    .decode_as::<OctetString>()
                    .map_err(Error::InvalidCms)?
                    .as_bytes()
                    .to_vec(),
                ID_ENCRYPTED_DATA => {
                    let encrypted: EncryptedData =
                        content.content.decode_as().map_err(Error::InvalidCms)?;
                    let ciphertext = encrypted
                        .enc_content_info
                        .encrypted_content
                        .as_ref()
                        .ok_or(Error::UnsupportedPkcs12("detached encrypted content"))?;
                    decrypt(
                        &encrypted.enc_content_info.content_enc_alg,
                        password,
                        ciphertext.as_bytes(),
                    )?
                    .to_vec()
                }
                _ => continue, // other content (enveloped) is not for us
            };
            let bags: Vec<SafeBag> = Vec::from_der(&safe_contents).map_err(Error::InvalidCms)?;
            for bag in bags {
                let value = bag.bag_value.to_der().map_err(Error::InvalidCms)?;
                match bag.bag_id {
                    KEY_BAG => keys.push(PrivateKey::from_pkcs8(&value)?),
                    SHROUDED_KEY_BAG => keys.push(shrouded_key(&value, password)?),
                    CERT_BAG => {
                        let cert_bag = CertBag::from_der(&value).map_err(Error::InvalidCms)?;
                        if cert_bag.cert_id == X509_CERTIFICATE {
                            certificates
                                .push(Certificate::from_der(cert_bag.cert_value.as_bytes())?);
                        }
                    }
                    _ => {} // CRL and secret bags carry nothing we use
                }
            }
        }
        let private_key = match keys.len() {
            1 => keys.remove(0),
            0 => return Err(Error::UnsupportedPkcs12("the file holds no private key")),
            _ => {
                return Err(Error::UnsupportedPkcs12(
                    "the file holds several private keys",
                ));
            }
        };
        let position = certificates
            .iter()
            .position(|c| KeyMaterial::for_certificate(private_key.pkcs8_der(), c).is_ok())
            .ok_or(Error::UnsupportedPkcs12(
                "no certificate in the file matches its key",
            ))?;
        let certificate = certificates.remove(position);
        Ok(Pkcs12 {
            private_key,
            certificate,
            chain: certificates,
        })
    }
}

/// An `EncryptedPrivateKeyInfo` in either protection scheme.
fn shrouded_key(der: &[u8], password: &[u8]) -> Result<PrivateKey, Error> {
    let info = EncryptedPrivateKeyInfo::from_der(der).map_err(Error::InvalidCms)?;
    let plain = decrypt(&info.algorithm, password, info.data.as_bytes())?;
    PrivateKey::from_pkcs8(&plain).map_err(|_| Error::WrongPassphrase)
}

/// Decrypts with a PKCS#12 password-based scheme.
fn decrypt(
    algorithm: &AlgorithmIdentifierOwned,
    password: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Error> {
    match algorithm.oid {
        PBES2 => {
            let scheme =
                pkcs5::EncryptionScheme::from_der(&algorithm.to_der().map_err(Error::InvalidCms)?)
                    .map_err(Error::InvalidCms)?;
            // PBES2 in PKCS#12 takes the password as its UTF-8 bytes.
            scheme
                .decrypt(password, ciphertext)
                .map(Zeroizing::new)
                .map_err(|_| Error::WrongPassphrase)
        }
        PBE_SHA1_3DES => {
            let params: Pkcs12PbeParams = algorithm
                .parameters
                .as_ref()
                .ok_or(Error::UnsupportedPkcs12("3DES without parameters"))?
                .decode_as()
                .map_err(Error::InvalidCms)?;
            let bmp = bmp_password(password)?;
            let key = kdf::<sha1::Sha1>(&bmp, params.salt.as_bytes(), 1, params.iterations, 24)?;
            let iv = kdf::<sha1::Sha1>(&bmp, params.salt.as_bytes(), 2, params.iterations, 8)?;
            use cipher::{BlockModeDecrypt, KeyIvInit, block_padding::Pkcs7};
            let decryptor = cbc::Decryptor::<des::TdesEde3>::new_from_slices(&key, &iv)
                .map_err(|_| Error::WrongPassphrase)?;
            decryptor
                .decrypt_padded_vec::<Pkcs7>(ciphertext)
                .map(Zeroizing::new)
                .map_err(|_| Error::WrongPassphrase)
        }
        PBE_SHA1_RC2_40 => Err(Error::WeakAlgorithm(PBE_SHA1_RC2_40)),
        other => Err(Error::UnsupportedAlgorithm(other)),
    }
}

/// Checks the password-integrity MAC (RFC 7292 section 5, appendix B).
fn check_mac(mac: &MacData, data: &[u8], password: &[u8]) -> Result<(), Error> {
    let bmp = bmp_password(password)?;
    let salt = mac.mac_salt.as_bytes();
    let expected = mac.mac.digest.as_bytes();
    let iterations = mac.iterations;
    let ok = match mac.mac.algorithm.oid {
        ID_SHA_1 => hmac_matches::<sha1::Sha1>(&bmp, salt, iterations, data, expected)?,
        ID_SHA_256 => hmac_matches::<sha2::Sha256>(&bmp, salt, iterations, data, expected)?,
        ID_SHA_384 => hmac_matches::<sha2::Sha384>(&bmp, salt, iterations, data, expected)?,
        ID_SHA_512 => hmac_matches::<sha2::Sha512>(&bmp, salt, iterations, data, expected)?,
        other => return Err(Error::UnsupportedAlgorithm(other)),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::WrongPassphrase)
    }
}

fn hmac_matches<D>(
    bmp: &[u8],
    salt: &[u8],
    iterations: u32,
    data: &[u8],
    expected: &[u8],
) -> Result<bool, Error>
where
    D: Digest + digest::block_api::BlockSizeUser + Clone,
    hmac::SimpleHmac<D>: KeyInit + Mac,
{
    let key = kdf::<D>(bmp, salt, 3, iterations, <D as Digest>::output_size())?;
    let mut mac = <hmac::SimpleHmac<D> as KeyInit>::new_from_slice(&key)
        .map_err(|_| Error::UnsupportedPkcs12("MAC key"))?;
    mac.update(data);
    // Constant-time comparison.
    Ok(mac.verify_slice(expected).is_ok())
}

/// The password as a NUL-terminated BMPString (UTF-16BE), as the PKCS#12
/// key derivation takes it.
fn bmp_password(password: &[u8]) -> Result<Zeroizing<Vec<u8>>, Error> {
    let text = std::str::from_utf8(password).map_err(|_| Error::WrongPassphrase)?;
    let mut out = Zeroizing::new(Vec::with_capacity(text.len() * 2 + 2));
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out.extend_from_slice(&[0, 0]);
    Ok(out)
}

/// The PKCS#12 key derivation (RFC 7292 appendix B.2): `id` 1 for keys, 2
/// for IVs, 3 for MAC keys.
fn kdf<D>(
    bmp_password: &[u8],
    salt: &[u8],
    id: u8,
    iterations: u32,
    length: usize,
) -> Result<Zeroizing<Vec<u8>>, Error>
where
    D: Digest + digest::block_api::BlockSizeUser,
{
    // A work factor this large is an attack on the importer, not a key file.
    if iterations == 0 || iterations > 10_000_000 {
        return Err(Error::UnsupportedPkcs12("iteration count out of range"));
    }
    let v = <D as digest::block_api::BlockSizeUser>::block_size();
    let u = <D as Digest>::output_size();
    let extend = |data: &[u8]| -> Vec<u8> {
        if data.is_empty() {
            return Vec::new();
        }
        let len = v * data.len().div_ceil(v);
        data.iter().copied().cycle().take(len).collect()
    };
    let mut i_block = Zeroizing::new([extend(salt), extend(bmp_password)].concat());
    let diversifier = vec![id; v];
    let mut out = Zeroizing::new(Vec::with_capacity(length + u));
    while out.len() < length {
        let mut hasher = D::new();
        hasher.update(&diversifier);
        hasher.update(&*i_block);
        let mut a = hasher.finalize().to_vec();
        for _ in 1..iterations {
            a = D::digest(&a).to_vec();
        }
        out.extend_from_slice(&a);
        if out.len() >= length {
            break;
        }
        // I_j = (I_j + B + 1) mod 2^(8v) for every v-byte block of I.
        let b: Vec<u8> = a.iter().copied().cycle().take(v).collect();
        for block in i_block.chunks_mut(v) {
            let mut carry = 1u16;
            for (byte, add) in block.iter_mut().rev().zip(b.iter().rev()) {
                let sum = u16::from(*byte) + u16::from(*add) + carry;
                *byte = (sum & 0xff) as u8;
                carry = sum >> 8;
            }
        }
    }
    out.truncate(length);
    Ok(out)
}
