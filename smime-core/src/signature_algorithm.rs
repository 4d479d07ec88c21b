//! Signature algorithm identifiers in SignerInfo (RFC 3370, 4056, 5754,
//! 5758): writing ours and judging the ones we receive.

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912::{
    ECDSA_WITH_SHA_256, ECDSA_WITH_SHA_384, ECDSA_WITH_SHA_512, ID_MGF_1, ID_RSASSA_PSS,
    MD_5_WITH_RSA_ENCRYPTION, RSA_ENCRYPTION, SHA_1_WITH_RSA_ENCRYPTION,
    SHA_256_WITH_RSA_ENCRYPTION, SHA_384_WITH_RSA_ENCRYPTION, SHA_512_WITH_RSA_ENCRYPTION,
};
use der::asn1::Null;
use der::{Any, Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;

use crate::digest::DigestAlgorithm;
use crate::error::Error;

const ECDSA_WITH_SHA_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.1");
const ID_SHA_1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
const ID_MD5: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.5");

/// How a signature value is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureScheme {
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1v15,
    /// RSASSA-PSS with MGF1 over the same digest and a salt as long as the
    /// digest (RFC 4056).
    RsaPss,
    /// ECDSA (P-256, P-384).
    Ecdsa,
}

impl std::fmt::Display for SignatureScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SignatureScheme::RsaPkcs1v15 => "RSA PKCS#1 v1.5",
            SignatureScheme::RsaPss => "RSA-PSS",
            SignatureScheme::Ecdsa => "ECDSA",
        })
    }
}

/// `RSASSA-PSS-params` (RFC 4055 section 3.1).
#[derive(Sequence)]
pub(crate) struct RsassaPssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mask_gen: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt_length: Option<u32>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer_field: Option<u32>,
}

impl RsassaPssParams {
    /// The hash algorithm; `None` means SHA-1, the ASN.1 default.
    pub(crate) fn hash_algorithm(&self) -> Option<&AlgorithmIdentifierOwned> {
        self.hash.as_ref()
    }
}

fn bare(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: None,
    }
}

fn with_null(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid,
        parameters: Some(Any::from(Null)),
    }
}

/// The digest's output length, the PSS salt length we write.
fn digest_length(digest: DigestAlgorithm) -> u32 {
    match digest {
        DigestAlgorithm::Sha256 => 32,
        DigestAlgorithm::Sha384 => 48,
        DigestAlgorithm::Sha512 => 64,
    }
}

/// The identifier we write for a scheme and digest.
pub(crate) fn identifier(
    scheme: SignatureScheme,
    digest: DigestAlgorithm,
) -> Result<AlgorithmIdentifierOwned, Error> {
    Ok(match scheme {
        // rsaEncryption, as OpenSSL, NSS and Outlook write it (RFC 3370
        // section 3.2); every receiver accepts it.
        SignatureScheme::RsaPkcs1v15 => with_null(RSA_ENCRYPTION),
        SignatureScheme::RsaPss => {
            let hash = bare(digest.oid());
            let mgf = AlgorithmIdentifierOwned {
                oid: ID_MGF_1,
                parameters: Some(Any::encode_from(&hash).map_err(Error::InvalidCms)?),
            };
            let params = RsassaPssParams {
                hash: Some(hash),
                mask_gen: Some(mgf),
                salt_length: Some(digest_length(digest)),
                trailer_field: None,
            };
            AlgorithmIdentifierOwned {
                oid: ID_RSASSA_PSS,
                parameters: Some(Any::encode_from(&params).map_err(Error::InvalidCms)?),
            }
        }
        SignatureScheme::Ecdsa => bare(match digest {
            DigestAlgorithm::Sha256 => ECDSA_WITH_SHA_256,
            DigestAlgorithm::Sha384 => ECDSA_WITH_SHA_384,
            DigestAlgorithm::Sha512 => ECDSA_WITH_SHA_512,
        }),
    })
}

/// The digest named by a SignerInfo's digestAlgorithm, refusing weak ones.
pub(crate) fn parse_digest(algorithm: &AlgorithmIdentifierOwned) -> Result<DigestAlgorithm, Error> {
    match algorithm.oid {
        ID_SHA_1 | ID_MD5 => Err(Error::WeakAlgorithm(algorithm.oid)),
        oid => DigestAlgorithm::from_oid(oid).ok_or(Error::UnsupportedAlgorithm(oid)),
    }
}

/// Judges a received signatureAlgorithm against the SignerInfo's digest.
///
/// Returns the scheme and, for PSS, the salt length to check.
pub(crate) fn parse(
    algorithm: &AlgorithmIdentifierOwned,
    digest: DigestAlgorithm,
) -> Result<(SignatureScheme, Option<usize>), Error> {
    let consistent = |expected: DigestAlgorithm| {
        if expected == digest {
            Ok(())
        } else {
            Err(Error::InconsistentDigest)
        }
    };
    match algorithm.oid {
        RSA_ENCRYPTION => Ok((SignatureScheme::RsaPkcs1v15, None)),
        SHA_256_WITH_RSA_ENCRYPTION => {
            consistent(DigestAlgorithm::Sha256).map(|()| (SignatureScheme::RsaPkcs1v15, None))
        }
        SHA_384_WITH_RSA_ENCRYPTION => {
            consistent(DigestAlgorithm::Sha384).map(|()| (SignatureScheme::RsaPkcs1v15, None))
        }
        SHA_512_WITH_RSA_ENCRYPTION => {
            consistent(DigestAlgorithm::Sha512).map(|()| (SignatureScheme::RsaPkcs1v15, None))
        }
        ECDSA_WITH_SHA_256 => {
            consistent(DigestAlgorithm::Sha256).map(|()| (SignatureScheme::Ecdsa, None))
        }
        ECDSA_WITH_SHA_384 => {
            consistent(DigestAlgorithm::Sha384).map(|()| (SignatureScheme::Ecdsa, None))
        }
        ECDSA_WITH_SHA_512 => {
            consistent(DigestAlgorithm::Sha512).map(|()| (SignatureScheme::Ecdsa, None))
        }
        ID_RSASSA_PSS => {
            let params = algorithm
                .parameters
                .as_ref()
                .ok_or(Error::UnsupportedAlgorithm(ID_RSASSA_PSS))?;
            let params = RsassaPssParams::from_der(&params.to_der().map_err(Error::InvalidCms)?)
                .map_err(Error::InvalidCms)?;
            // Absent fields mean SHA-1 (RFC 4055): refused as weak.
            let hash = params.hash.ok_or(Error::WeakAlgorithm(ID_SHA_1))?;
            consistent(parse_digest(&hash)?)?;
            let mgf = params.mask_gen.ok_or(Error::WeakAlgorithm(ID_SHA_1))?;
            let mgf_hash = mgf
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<AlgorithmIdentifierOwned>().ok());
            if mgf.oid != ID_MGF_1 || mgf_hash.map(|h| h.oid) != Some(digest.oid()) {
                return Err(Error::UnsupportedAlgorithm(mgf.oid));
            }
            if params.trailer_field.is_some_and(|t| t != 1) {
                return Err(Error::UnsupportedAlgorithm(ID_RSASSA_PSS));
            }
            let salt = params.salt_length.unwrap_or(20);
            Ok((SignatureScheme::RsaPss, Some(salt as usize)))
        }
        SHA_1_WITH_RSA_ENCRYPTION | MD_5_WITH_RSA_ENCRYPTION | ECDSA_WITH_SHA_1 => {
            Err(Error::WeakAlgorithm(algorithm.oid))
        }
        other => Err(Error::UnsupportedAlgorithm(other)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn what_we_write_we_accept() {
        for digest in [
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha384,
            DigestAlgorithm::Sha512,
        ] {
            for scheme in [
                SignatureScheme::RsaPkcs1v15,
                SignatureScheme::RsaPss,
                SignatureScheme::Ecdsa,
            ] {
                let id = identifier(scheme, digest).unwrap();
                let (parsed, salt) = parse(&id, digest).unwrap();
                assert_eq!(parsed, scheme);
                assert_eq!(
                    salt,
                    (scheme == SignatureScheme::RsaPss).then(|| digest_length(digest) as usize)
                );
            }
        }
    }

    #[test]
    fn weak_and_inconsistent_algorithms_are_refused() {
        assert!(matches!(
            parse(
                &with_null(SHA_1_WITH_RSA_ENCRYPTION),
                DigestAlgorithm::Sha256
            ),
            Err(Error::WeakAlgorithm(_))
        ));
        assert!(matches!(
            parse_digest(&bare(ID_MD5)),
            Err(Error::WeakAlgorithm(_))
        ));
        assert!(matches!(
            parse(&bare(ECDSA_WITH_SHA_384), DigestAlgorithm::Sha256),
            Err(Error::InconsistentDigest)
        ));
        let pss = identifier(SignatureScheme::RsaPss, DigestAlgorithm::Sha512).unwrap();
        assert!(matches!(
            parse(&pss, DigestAlgorithm::Sha256),
            Err(Error::InconsistentDigest)
        ));
    }
}
