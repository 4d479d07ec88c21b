//! Issuing X.509 certificates with the profiles tests need.
//!
//! The profiles follow RFC 5280 and, for end entities, RFC 8550 (S/MIME
//! certificates: rfc822Name in subjectAltName, emailProtection EKU) and the
//! CA/Browser Forum shape for TLS servers (dNSName, serverAuth).

use std::str::FromStr;

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5280::{ID_KP_EMAIL_PROTECTION, ID_KP_SERVER_AUTH};
use der::asn1::{Ia5String, OctetString};
use der::{DateTime, Decode};
use sha2::{Digest, Sha256};
use spki::SubjectPublicKeyInfoRef;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::{Extension, ToExtension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::key::{PrivateKey, to_der};

/// What a certificate is for; decides its extensions.
#[derive(Debug, Clone)]
pub(crate) enum Role {
    /// A self-signed trust anchor.
    Root,
    /// A CA below the root that issues end entities.
    Intermediate,
    /// An S/MIME end entity for one address, with the given extended key usage.
    Smime {
        email: String,
        eku: ObjectIdentifier,
        rsa: bool,
    },
    /// A TLS server certificate for one DNS name.
    TlsServer { dns_name: String, rsa: bool },
}

/// The EKU that S/MIME end entities normally carry.
pub(crate) const EMAIL_PROTECTION: ObjectIdentifier = ID_KP_EMAIL_PROTECTION;
/// The EKU used for the wrong-EKU variant: valid, but not for mail.
pub(crate) const SERVER_AUTH: ObjectIdentifier = ID_KP_SERVER_AUTH;

struct Profile {
    subject: Name,
    issuer: Option<Name>,
    role: Role,
}

impl BuilderProfile for Profile {
    fn get_issuer(&self, subject: &Name) -> Name {
        self.issuer.clone().unwrap_or_else(|| subject.clone())
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        spk: SubjectPublicKeyInfoRef<'_>,
        issuer_spk: SubjectPublicKeyInfoRef<'_>,
        tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        let subject = tbs.subject();
        let mut extensions = Vec::new();
        let is_ca = matches!(self.role, Role::Root | Role::Intermediate);
        let basic = BasicConstraints {
            ca: is_ca,
            path_len_constraint: match self.role {
                Role::Intermediate => Some(0),
                _ => None,
            },
        };
        extensions.push((true, &basic).to_extension(subject, &extensions)?);

        let usages = match &self.role {
            Role::Root | Role::Intermediate => KeyUsages::KeyCertSign | KeyUsages::CRLSign,
            Role::Smime { rsa: true, .. } => {
                KeyUsages::DigitalSignature | KeyUsages::NonRepudiation | KeyUsages::KeyEncipherment
            }
            Role::Smime { rsa: false, .. } => {
                KeyUsages::DigitalSignature | KeyUsages::NonRepudiation | KeyUsages::KeyAgreement
            }
            Role::TlsServer { rsa: true, .. } => {
                KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment
            }
            Role::TlsServer { rsa: false, .. } => KeyUsages::DigitalSignature.into(),
        };
        extensions.push((true, &KeyUsage(usages)).to_extension(subject, &extensions)?);

        extensions.push(
            (false, &SubjectKeyIdentifier(key_identifier(&spk)?))
                .to_extension(subject, &extensions)?,
        );
        if !matches!(self.role, Role::Root) {
            let authority = AuthorityKeyIdentifier {
                key_identifier: Some(key_identifier(&issuer_spk)?),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            };
            extensions.push((false, &authority).to_extension(subject, &extensions)?);
        }

        let (eku, alt_name) = match &self.role {
            Role::Root | Role::Intermediate => (None, None),
            Role::Smime { email, eku, .. } => (
                Some(*eku),
                Some(GeneralName::Rfc822Name(Ia5String::new(email)?)),
            ),
            Role::TlsServer { dns_name, .. } => (
                Some(SERVER_AUTH),
                Some(GeneralName::DnsName(Ia5String::new(dns_name)?)),
            ),
        };
        if let Some(eku) = eku {
            extensions
                .push((false, &ExtendedKeyUsage(vec![eku])).to_extension(subject, &extensions)?);
        }
        if let Some(name) = alt_name {
            extensions
                .push((false, &SubjectAltName(vec![name])).to_extension(subject, &extensions)?);
        }
        Ok(extensions)
    }
}

/// RFC 7093 section 2 method 1: the leftmost 160 bits of the SHA-256 hash of
/// the subjectPublicKey bits.
fn key_identifier(spk: &SubjectPublicKeyInfoRef<'_>) -> der::Result<OctetString> {
    let hash = Sha256::digest(spk.subject_public_key.raw_bytes());
    OctetString::new(hash.get(..20).unwrap_or_default())
}

/// A validity period in whole UTC days.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Period {
    pub(crate) from: (u16, u8, u8),
    pub(crate) until: (u16, u8, u8),
}

impl Period {
    fn validity(self) -> Validity {
        let time = |(year, month, day): (u16, u8, u8)| {
            #[allow(clippy::expect_used)] // the periods are constants of this crate
            Time::from(DateTime::new(year, month, day, 0, 0, 0).expect("valid calendar date"))
        };
        Validity::new(time(self.from), time(self.until))
    }
}

/// Issues one certificate for `subject_key`, signed by `issuer_key`.
///
/// `issuer` is `None` for a self-signed root. The serial number is derived from
/// the subject name and the subject's key, so reissuing is deterministic and
/// two certificates of one issuer never share a serial number (peers find a
/// signer's certificate by issuer and serial).
pub(crate) fn issue(
    subject: &str,
    issuer: Option<&Name>,
    role: Role,
    period: Period,
    subject_key: &PrivateKey,
    issuer_key: &PrivateKey,
) -> Vec<u8> {
    #[allow(clippy::expect_used)] // subjects are built by this crate
    let subject_name = Name::from_str(subject).expect("valid distinguished name");
    let key_info = subject_key.public_key_info();
    let key_bits = key_info.subject_public_key.raw_bytes();
    let hash = Sha256::digest(
        [
            format!("serial/{subject}/{role:?}/{period:?}/").as_bytes(),
            key_bits,
        ]
        .concat(),
    );
    let mut serial = hash.get(..16).unwrap_or_default().to_vec();
    if let Some(first) = serial.first_mut() {
        // Positive and without a leading zero octet, as RFC 5280 asks.
        *first = (*first & 0x7f) | 0x01;
    }
    let profile = Profile {
        subject: subject_name,
        issuer: issuer.cloned(),
        role,
    };
    #[allow(clippy::expect_used)] // a 16-byte positive serial is always valid
    let serial = SerialNumber::new(&serial).expect("valid serial number");
    let builder = CertificateBuilder::new(
        profile,
        serial,
        period.validity(),
        subject_key.public_key_info(),
    );
    #[allow(clippy::expect_used)] // every input above is built by this crate
    let builder = builder.expect("certificate builder");
    let certificate = match issuer_key {
        PrivateKey::Rsa(key) => {
            let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new((**key).clone());
            builder.build::<_, rsa::pkcs1v15::Signature>(&signer)
        }
        PrivateKey::P256(key) => builder.build::<_, p256::ecdsa::DerSignature>(key),
        PrivateKey::P384(key) => builder.build::<_, p384::ecdsa::DerSignature>(key),
    };
    #[allow(clippy::expect_used)] // signing with an in-memory key cannot fail
    let certificate = certificate.expect("certificate signing");
    to_der(&certificate)
}

/// The subject name of a DER certificate we issued.
pub(crate) fn subject_of(certificate_der: &[u8]) -> Name {
    #[allow(clippy::expect_used)] // only called on certificates this crate issued
    let certificate =
        x509_cert::Certificate::from_der(certificate_der).expect("certificate issued by testkit");
    certificate.tbs_certificate().subject().clone()
}
