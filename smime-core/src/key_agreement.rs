//! ECDH key agreement for CMS recipients
//! ([RFC 5753](https://www.rfc-editor.org/rfc/rfc5753) section 3.1,
//! dhSinglePass-stdDH with the ANSI X9.63 KDF and AES key wrap).
//!
//! We implement this ourselves: the `cms` crate's KARI builder wraps the
//! content key under an all-zero key (see ARCHITECTURE.md), so its output is
//! readable by anyone. Here the key-encryption key is always derived from
//! the ECDH shared secret:
//!
//! ```text
//! Z   = x-coordinate of (recipient private key * originator public key)
//! KEK = Hash(Z || counter || DER(ECC-CMS-SharedInfo)) ... truncated to the wrap key size
//! CEK = AES-KeyUnwrap(KEK, encryptedKey)          (RFC 3394)
//! ```

use const_oid::ObjectIdentifier;
use der::asn1::OctetString;
use der::{Encode, Sequence};
use sha2::Digest;
use spki::AlgorithmIdentifierOwned;
use zeroize::Zeroizing;

/// dhSinglePass-stdDH-sha1kdf-scheme (RFC 5753 section 7.1.4); OpenSSL's default.
pub(crate) const STD_DH_SHA1_KDF: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.133.16.840.63.0.2");
/// dhSinglePass-stdDH-sha224kdf-scheme.
pub(crate) const STD_DH_SHA224_KDF: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.132.1.11.0");
/// dhSinglePass-stdDH-sha256kdf-scheme.
pub(crate) const STD_DH_SHA256_KDF: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.132.1.11.1");
/// dhSinglePass-stdDH-sha384kdf-scheme.
pub(crate) const STD_DH_SHA384_KDF: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.132.1.11.2");
/// dhSinglePass-stdDH-sha512kdf-scheme.
pub(crate) const STD_DH_SHA512_KDF: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.132.1.11.3");

const AES128_WRAP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.5");
const AES192_WRAP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.25");
const AES256_WRAP: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.45");

/// Why a key-agreement recipient could not be opened. Deliberately coarse:
/// the caller reports every failure to decrypt the same way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum KeyAgreementError {
    /// Key-encryption or key-wrap algorithm we do not implement.
    #[error("unsupported key agreement algorithm {0}")]
    UnsupportedAlgorithm(ObjectIdentifier),
    /// The originator's key is not a point on our key's curve.
    #[error("the originator's public key is not on the recipient's curve")]
    BadOriginatorKey,
    /// The parameters are not what RFC 5753 prescribes.
    #[error("malformed key agreement parameters")]
    MalformedParameters,
    /// The wrapped key did not unwrap (wrong key, or tampered data).
    #[error("the content-encryption key could not be unwrapped")]
    UnwrapFailed,
    /// A recipient key on a curve we cannot agree keys on.
    #[error("key agreement is implemented for P-256 and P-384 only")]
    UnsupportedCurve,
    /// The system's random number generator failed.
    #[error("no randomness for the ephemeral key")]
    Randomness,
}

/// A recipient's EC private key.
#[derive(Clone)]
pub(crate) enum EcPrivateKey {
    P256(p256::SecretKey),
    P384(p384::SecretKey),
}

impl EcPrivateKey {
    /// The public half as SubjectPublicKeyInfo DER, to match against a certificate.
    pub(crate) fn public_key_der(&self) -> spki::Result<der::Document> {
        use spki::EncodePublicKey;
        match self {
            EcPrivateKey::P256(secret) => secret.public_key().to_public_key_der(),
            EcPrivateKey::P384(secret) => secret.public_key().to_public_key_der(),
        }
    }

    /// The x-coordinate of the ECDH shared point with `originator` (SEC1 bytes).
    fn shared_secret(&self, originator: &[u8]) -> Result<Zeroizing<Vec<u8>>, KeyAgreementError> {
        Ok(Zeroizing::new(match self {
            EcPrivateKey::P256(secret) => {
                let public = p256::PublicKey::from_sec1_bytes(originator)
                    .map_err(|_| KeyAgreementError::BadOriginatorKey)?;
                p256::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine())
                    .raw_secret_bytes()
                    .to_vec()
            }
            EcPrivateKey::P384(secret) => {
                let public = p384::PublicKey::from_sec1_bytes(originator)
                    .map_err(|_| KeyAgreementError::BadOriginatorKey)?;
                p384::ecdh::diffie_hellman(secret.to_nonzero_scalar(), public.as_affine())
                    .raw_secret_bytes()
                    .to_vec()
            }
        }))
    }
}

/// `ECC-CMS-SharedInfo` (RFC 5753 section 7.2), the KDF's context input.
#[derive(Sequence)]
struct EccCmsSharedInfo {
    key_info: AlgorithmIdentifierOwned,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    entity_u_info: Option<OctetString>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT")]
    supp_pub_info: OctetString,
}

/// Recovers the content-encryption key for one KeyAgreeRecipientInfo entry.
///
/// `key_encryption_algorithm` is the KARI's keyEncryptionAlgorithm (the
/// scheme OID with the key-wrap AlgorithmIdentifier as parameters),
/// `originator_public_key` the ephemeral key in SEC1 form, `ukm` the optional
/// user keying material, `encrypted_key` our RecipientEncryptedKey.
pub(crate) fn unwrap_content_key(
    recipient: &EcPrivateKey,
    key_encryption_algorithm: &AlgorithmIdentifierOwned,
    originator_public_key: &[u8],
    ukm: Option<&OctetString>,
    encrypted_key: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyAgreementError> {
    let z = recipient.shared_secret(originator_public_key)?;
    let kek = derive_kek(&z, key_encryption_algorithm, ukm)?;
    aes_unwrap(&kek, encrypted_key)
}

/// The key-encryption key from the ECDH shared secret `z`, following the
/// KARI's keyEncryptionAlgorithm (scheme OID, key-wrap algorithm as
/// parameters) and user keying material.
fn derive_kek(
    z: &[u8],
    key_encryption_algorithm: &AlgorithmIdentifierOwned,
    ukm: Option<&OctetString>,
) -> Result<Zeroizing<Vec<u8>>, KeyAgreementError> {
    let wrap_algorithm = key_encryption_algorithm
        .parameters
        .as_ref()
        .ok_or(KeyAgreementError::MalformedParameters)?
        .decode_as::<AlgorithmIdentifierOwned>()
        .map_err(|_| KeyAgreementError::MalformedParameters)?;
    let kek_len = match wrap_algorithm.oid {
        AES128_WRAP => 16,
        AES192_WRAP => 24,
        AES256_WRAP => 32,
        other => return Err(KeyAgreementError::UnsupportedAlgorithm(other)),
    };
    let shared_info = EccCmsSharedInfo {
        // RFC 5753: keyInfo is the key-wrap algorithm exactly as in the message.
        key_info: wrap_algorithm,
        entity_u_info: ukm.cloned(),
        supp_pub_info: OctetString::new(((kek_len * 8) as u32).to_be_bytes())
            .map_err(|_| KeyAgreementError::MalformedParameters)?,
    }
    .to_der()
    .map_err(|_| KeyAgreementError::MalformedParameters)?;
    Ok(match key_encryption_algorithm.oid {
        STD_DH_SHA1_KDF => x963_kdf::<sha1::Sha1>(z, &shared_info, kek_len),
        STD_DH_SHA224_KDF => x963_kdf::<sha2::Sha224>(z, &shared_info, kek_len),
        STD_DH_SHA256_KDF => x963_kdf::<sha2::Sha256>(z, &shared_info, kek_len),
        STD_DH_SHA384_KDF => x963_kdf::<sha2::Sha384>(z, &shared_info, kek_len),
        STD_DH_SHA512_KDF => x963_kdf::<sha2::Sha512>(z, &shared_info, kek_len),
        other => return Err(KeyAgreementError::UnsupportedAlgorithm(other)),
    })
}

/// What the sender puts into a KeyAgreeRecipientInfo for one recipient.
pub(crate) struct WrappedKey {
    /// The ephemeral public key, SEC1 uncompressed point.
    pub(crate) originator_point: Vec<u8>,
    /// dhSinglePass-stdDH-sha*kdf-scheme with the key-wrap algorithm.
    pub(crate) key_encryption_algorithm: AlgorithmIdentifierOwned,
    /// The content-encryption key wrapped under the derived KEK.
    pub(crate) encrypted_key: Vec<u8>,
}

/// Ephemeral-static ECDH (RFC 5753 section 3.1.1) to a recipient's P-256 or
/// P-384 public key (SEC1 bytes): a fresh ephemeral key per call, X9.63 KDF
/// with SHA-256 (P-256) or SHA-384 (P-384), AES key wrap with a KEK as long
/// as the content-encryption key.
pub(crate) fn wrap_content_key(
    curve: crate::certificate::Curve,
    recipient_point: &[u8],
    cek: &[u8],
) -> Result<WrappedKey, KeyAgreementError> {
    use crate::certificate::Curve;
    #[cfg(not(feature = "aws-lc"))]
    use p256::elliptic_curve::{Generate, sec1::ToSec1Point};
    let wrap_oid = match cek.len() {
        16 => AES128_WRAP,
        24 => AES192_WRAP,
        32 => AES256_WRAP,
        _ => return Err(KeyAgreementError::MalformedParameters),
    };
    let (scheme, z, originator_point) = match curve {
        #[cfg(feature = "aws-lc")]
        Curve::P256 | Curve::P384 => {
            // AWS-LC: about three times faster than the pure-Rust curves.
            let scheme = if curve == Curve::P256 {
                STD_DH_SHA256_KDF
            } else {
                STD_DH_SHA384_KDF
            };
            let (z, point) = ephemeral_agreement(curve, recipient_point)?;
            (scheme, z, point)
        }
        #[cfg(not(feature = "aws-lc"))]
        Curve::P256 => {
            let public = p256::PublicKey::from_sec1_bytes(recipient_point)
                .map_err(|_| KeyAgreementError::BadOriginatorKey)?;
            let ephemeral =
                p256::ecdh::EphemeralSecret::try_generate_from_rng(&mut getrandom::SysRng)
                    .map_err(|_| KeyAgreementError::Randomness)?;
            let z = Zeroizing::new(
                ephemeral
                    .diffie_hellman(&public)
                    .raw_secret_bytes()
                    .to_vec(),
            );
            let point = ephemeral
                .public_key()
                .to_sec1_point(false)
                .as_bytes()
                .to_vec();
            (STD_DH_SHA256_KDF, z, point)
        }
        #[cfg(not(feature = "aws-lc"))]
        Curve::P384 => {
            let public = p384::PublicKey::from_sec1_bytes(recipient_point)
                .map_err(|_| KeyAgreementError::BadOriginatorKey)?;
            let ephemeral =
                p384::ecdh::EphemeralSecret::try_generate_from_rng(&mut getrandom::SysRng)
                    .map_err(|_| KeyAgreementError::Randomness)?;
            let z = Zeroizing::new(
                ephemeral
                    .diffie_hellman(&public)
                    .raw_secret_bytes()
                    .to_vec(),
            );
            let point = ephemeral
                .public_key()
                .to_sec1_point(false)
                .as_bytes()
                .to_vec();
            (STD_DH_SHA384_KDF, z, point)
        }
        _ => return Err(KeyAgreementError::UnsupportedCurve),
    };
    let wrap_algorithm = AlgorithmIdentifierOwned {
        oid: wrap_oid,
        parameters: None,
    };
    let key_encryption_algorithm = AlgorithmIdentifierOwned {
        oid: scheme,
        parameters: Some(
            der::Any::encode_from(&wrap_algorithm)
                .map_err(|_| KeyAgreementError::MalformedParameters)?,
        ),
    };
    let kek = derive_kek(&z, &key_encryption_algorithm, None)?;
    let encrypted_key = aes_wrap(&kek, cek)?;
    Ok(WrappedKey {
        originator_point,
        key_encryption_algorithm,
        encrypted_key,
    })
}

/// A fresh ephemeral key pair on `curve`, agreed with the recipient's
/// point: the shared secret Z and the ephemeral public point (SEC1,
/// uncompressed).
#[cfg(feature = "aws-lc")]
fn ephemeral_agreement(
    curve: crate::certificate::Curve,
    recipient_point: &[u8],
) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), KeyAgreementError> {
    use aws_lc_rs::agreement::{
        ECDH_P256, ECDH_P384, EphemeralPrivateKey, UnparsedPublicKey, agree_ephemeral,
    };
    let algorithm = match curve {
        crate::certificate::Curve::P256 => &ECDH_P256,
        crate::certificate::Curve::P384 => &ECDH_P384,
        _ => return Err(KeyAgreementError::UnsupportedCurve),
    };
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let ephemeral = EphemeralPrivateKey::generate(algorithm, &rng)
        .map_err(|_| KeyAgreementError::Randomness)?;
    let point = ephemeral
        .compute_public_key()
        .map_err(|_| KeyAgreementError::Randomness)?
        .as_ref()
        .to_vec();
    // The recipient's point is checked to be on the curve.
    let z = agree_ephemeral(
        ephemeral,
        UnparsedPublicKey::new(algorithm, recipient_point),
        KeyAgreementError::BadOriginatorKey,
        |z| Ok(Zeroizing::new(z.to_vec())),
    )?;
    Ok((z, point))
}

/// AES key wrap (RFC 3394).
fn aes_wrap(kek: &[u8], key: &[u8]) -> Result<Vec<u8>, KeyAgreementError> {
    use aes_kw::cipher::KeyInit;
    let mut buffer = vec![0u8; key.len() + 8];
    let written = match kek.len() {
        16 => aes_kw::KwAes128::new_from_slice(kek)
            .map_err(|_| KeyAgreementError::UnwrapFailed)?
            .wrap_key(key, &mut buffer)
            .map(<[u8]>::len),
        24 => aes_kw::KwAes192::new_from_slice(kek)
            .map_err(|_| KeyAgreementError::UnwrapFailed)?
            .wrap_key(key, &mut buffer)
            .map(<[u8]>::len),
        32 => aes_kw::KwAes256::new_from_slice(kek)
            .map_err(|_| KeyAgreementError::UnwrapFailed)?
            .wrap_key(key, &mut buffer)
            .map(<[u8]>::len),
        _ => return Err(KeyAgreementError::UnwrapFailed),
    };
    let len = written.map_err(|_| KeyAgreementError::UnwrapFailed)?;
    buffer.truncate(len);
    Ok(buffer)
}

/// ANSI X9.63 KDF (SEC 1 section 3.6.1): hash Z, a 32-bit counter from 1, and
/// the shared info until `len` bytes are produced.
fn x963_kdf<H: Digest>(z: &[u8], shared_info: &[u8], len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(len + 64));
    let mut counter = 1u32;
    while out.len() < len {
        let mut hasher = H::new();
        hasher.update(z);
        hasher.update(counter.to_be_bytes());
        hasher.update(shared_info);
        out.extend_from_slice(&hasher.finalize());
        counter = counter.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// AES key unwrap (RFC 3394) under a 16-, 24- or 32-byte key.
pub(crate) fn aes_unwrap(
    kek: &[u8],
    wrapped: &[u8],
) -> Result<Zeroizing<Vec<u8>>, KeyAgreementError> {
    use aes_kw::cipher::KeyInit;
    let mut buffer = Zeroizing::new(vec![0u8; wrapped.len()]);
    let unwrapped = match kek.len() {
        16 => aes_kw::KwAes128::new_from_slice(kek)
            .map_err(|_| KeyAgreementError::UnwrapFailed)?
            .unwrap_key(wrapped, &mut buffer)
            .map(<[u8]>::len),
        24 => aes_kw::KwAes192::new_from_slice(kek)
            .map_err(|_| KeyAgreementError::UnwrapFailed)?
            .unwrap_key(wrapped, &mut buffer)
            .map(<[u8]>::len),
        32 => aes_kw::KwAes256::new_from_slice(kek)
            .map_err(|_| KeyAgreementError::UnwrapFailed)?
            .unwrap_key(wrapped, &mut buffer)
            .map(<[u8]>::len),
        _ => return Err(KeyAgreementError::UnwrapFailed),
    };
    let len = unwrapped.map_err(|_| KeyAgreementError::UnwrapFailed)?;
    buffer.truncate(len);
    Ok(buffer)
}

/// Parses a PKCS#8 EC private key on a curve we support.
pub(crate) fn ec_private_key_from_pkcs8(der: &[u8]) -> Option<EcPrivateKey> {
    use pkcs8::DecodePrivateKey;
    p256::SecretKey::from_pkcs8_der(der)
        .map(EcPrivateKey::P256)
        .or_else(|_| p384::SecretKey::from_pkcs8_der(der).map(EcPrivateKey::P384))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use cms::content_info::ContentInfo;
    use cms::enveloped_data::{EnvelopedData, OriginatorIdentifierOrKey, RecipientInfo};
    use der::Decode;
    use testkit::{KeyKind, pki};

    /// The one KeyAgreeRecipientInfo of an EnvelopedData OpenSSL wrote.
    fn only_kari(enveloped: &EnvelopedData) -> &cms::enveloped_data::KeyAgreeRecipientInfo {
        let Some(RecipientInfo::Kari(kari)) = enveloped.recip_infos.0.get(0) else {
            panic!("expected a KeyAgreeRecipientInfo");
        };
        kari
    }

    /// Runs our KARI code on the first recipient key of `kari`.
    fn open_kari(
        kari: &cms::enveloped_data::KeyAgreeRecipientInfo,
        key: &EcPrivateKey,
    ) -> Result<Zeroizing<Vec<u8>>, KeyAgreementError> {
        let OriginatorIdentifierOrKey::OriginatorKey(originator) = &kari.originator else {
            panic!("expected an ephemeral originator key");
        };
        unwrap_content_key(
            key,
            &kari.key_enc_alg,
            originator.public_key.raw_bytes(),
            kari.ukm.as_ref(),
            kari.recipient_enc_keys[0].enc_key.as_bytes(),
        )
    }

    fn openssl(args: &[&str], dir: &std::path::Path) -> Vec<u8> {
        testkit::run_peer("openssl", args, dir)
    }

    /// Peer: OpenSSL encrypts to an EC certificate (RFC 5753 KARI); our KDF
    /// and unwrap recover the content key, and `openssl enc` decrypts the
    /// content with it.
    #[test]
    fn we_unwrap_openssl_ecdh_recipients_for_every_kdf_and_curve() {
        let dir = tempfile::tempdir().unwrap();
        let plaintext = b"Vertraulich: Quartalszahlen\r\n".repeat(40);
        std::fs::write(dir.path().join("plain.txt"), &plaintext).unwrap();
        for (kind, cipher, kdf) in [
            (KeyKind::P256, "-aes-128-cbc", None),
            (KeyKind::P256, "-aes-256-cbc", Some("sha256")),
            (KeyKind::P384, "-aes-256-cbc", Some("sha384")),
            (KeyKind::P384, "-aes-192-cbc", Some("sha512")),
        ] {
            let identity = pki().smime("ecdh@example.org", kind);
            identity.write_to(dir.path(), "r").unwrap();
            let mut args = vec![
                "cms",
                "-encrypt",
                "-binary",
                "-outform",
                "DER",
                cipher,
                "-in",
                "plain.txt",
                "-out",
                "env.der",
                "-recip",
                "r.cert.pem",
            ];
            let keyopt;
            if let Some(md) = kdf {
                keyopt = format!("ecdh_kdf_md:{md}");
                args.extend(["-keyopt", &keyopt]);
            }
            openssl(&args, dir.path());
            let der = std::fs::read(dir.path().join("env.der")).unwrap();
            let info = ContentInfo::from_der(&crate::ber::to_der(&der).unwrap()).unwrap();
            let enveloped: EnvelopedData = info.content.decode_as().unwrap();
            let key = ec_private_key_from_pkcs8(identity.private_key_der()).unwrap();
            let cek = open_kari(only_kari(&enveloped), &key).unwrap();

            let eci = &enveloped.encrypted_content;
            let iv: OctetString = eci
                .content_enc_alg
                .parameters
                .as_ref()
                .unwrap()
                .decode_as()
                .unwrap();
            std::fs::write(
                dir.path().join("content.bin"),
                eci.encrypted_content.as_ref().unwrap().as_bytes(),
            )
            .unwrap();
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
            let decrypted = openssl(
                &[
                    "enc",
                    "-d",
                    cipher,
                    "-K",
                    &hex(&cek),
                    "-iv",
                    &hex(iv.as_bytes()),
                    "-in",
                    "content.bin",
                ],
                dir.path(),
            );
            assert_eq!(decrypted, plaintext, "{kind:?} {cipher} {kdf:?}");
        }
    }

    #[test]
    fn another_recipients_key_cannot_unwrap() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("plain.txt"), b"x").unwrap();
        pki()
            .smime("right@example.org", KeyKind::P256)
            .write_to(dir.path(), "r")
            .unwrap();
        openssl(
            &[
                "cms",
                "-encrypt",
                "-binary",
                "-outform",
                "DER",
                "-aes-128-cbc",
                "-in",
                "plain.txt",
                "-out",
                "env.der",
                "r.cert.pem",
            ],
            dir.path(),
        );
        let der = std::fs::read(dir.path().join("env.der")).unwrap();
        let enveloped: EnvelopedData = ContentInfo::from_der(&der)
            .unwrap()
            .content
            .decode_as()
            .unwrap();
        let kari = only_kari(&enveloped);
        let wrong = ec_private_key_from_pkcs8(
            pki()
                .smime("wrong@example.org", KeyKind::P256)
                .private_key_der(),
        )
        .unwrap();
        let result = open_kari(kari, &wrong);
        assert_eq!(result.unwrap_err(), KeyAgreementError::UnwrapFailed);
        // And the flaw of the `cms` builder: an all-zero KEK must not open it either.
        let zero = aes_unwrap(&[0u8; 16], kari.recipient_enc_keys[0].enc_key.as_bytes());
        assert_eq!(zero.unwrap_err(), KeyAgreementError::UnwrapFailed);
    }

    /// Peer: OpenSSL's X963KDF, for each hash, over several output blocks.
    #[test]
    fn x963_kdf_matches_openssl() {
        let z = "96c05619d56c328ab95fe84b18264b08725b85e33fd34f08";
        let info = "443024c3dae66b95e6f5670601558f71";
        for (digest, len, ours) in [
            ("SHA1", 40, x963_kdf::<sha1::Sha1>(&hex(z), &hex(info), 40)),
            (
                "SHA256",
                16,
                x963_kdf::<sha2::Sha256>(&hex(z), &hex(info), 16),
            ),
            (
                "SHA384",
                40,
                x963_kdf::<sha2::Sha384>(&hex(z), &hex(info), 40),
            ),
            (
                "SHA512",
                70,
                x963_kdf::<sha2::Sha512>(&hex(z), &hex(info), 70),
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let out = openssl(
                &[
                    "kdf",
                    "-keylen",
                    &len.to_string(),
                    "-kdfopt",
                    &format!("digest:{digest}"),
                    "-kdfopt",
                    &format!("hexsecret:{z}"),
                    "-kdfopt",
                    &format!("hexinfo:{info}"),
                    "X963KDF",
                ],
                dir.path(),
            );
            let expected = hex(&String::from_utf8(out)
                .unwrap()
                .trim()
                .replace(':', "")
                .to_lowercase());
            assert_eq!(ours.as_slice(), expected.as_slice(), "{digest}");
        }
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }
}
