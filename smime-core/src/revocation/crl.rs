//! Certificate revocation lists (RFC 5280 section 5), as files the caller
//! gives or downloads from distribution points ([`super::CrlDpSource`]).
//!
//! A [`Crl`] is parsed once; whether it may answer for a certificate is
//! decided per question ([`Crl::status`]), since that depends on the
//! certificate, its issuer and the verification time.

use std::collections::HashMap;
use std::time::SystemTime;

use const_oid::ObjectIdentifier;
use der::asn1::BitString;
use der::{Any, Decode, Encode, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::Version;
use x509_cert::crl::RevokedCert;
use x509_cert::ext::Extensions;
use x509_cert::ext::pkix::crl::CrlReason;
use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;
use x509_cert::name::Name;
use x509_cert::time::Time;

use super::{KnownStatus, RevocationError, SourcedStatus, StatusSource};
use crate::certificate::Certificate;
use crate::pem;

const ID_CE_CRL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.20");
const ID_CE_REASON_CODE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.21");
const ID_CE_INVALIDITY_DATE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.24");
const ID_CE_DELTA_CRL_INDICATOR: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.27");
/// Not taken from `x509-cert`: its `IssuingDistributionPoint` names the
/// subjectInfoAccess OID (0.3.0), so `get_extension` would never find it.
const ID_CE_ISSUING_DISTRIBUTION_POINT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("2.5.29.28");
const ID_CE_CERTIFICATE_ISSUER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.29");
const ID_CE_AUTHORITY_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
const ID_CE_ISSUER_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.18");
const ID_CE_FRESHEST_CRL: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.46");
const ID_PE_AUTHORITY_INFO_ACCESS: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.1.1");

/// `CertificateList` with the TBS part kept as it came, so the signature is
/// checked over the exact bytes the CA signed.
#[derive(Sequence)]
struct RawCertificateList {
    tbs_cert_list: Any,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

/// `TBSCertList` (RFC 5280 section 5.1). Unlike `x509-cert`'s type the
/// version is optional: v1 CRLs omit it.
#[derive(Sequence)]
struct TbsCertList {
    version: Option<Version>,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    this_update: Time,
    next_update: Option<Time>,
    revoked_certificates: Option<Vec<RevokedCert>>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    crl_extensions: Option<Extensions>,
}

/// One revoked serial number.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    time: SystemTime,
    reason: Option<&'static str>,
}

/// A parsed CRL. Its signature and currency are checked when it is asked
/// about a certificate, against that certificate's issuer and the
/// verification time.
///
/// ```no_run
/// use smime_core::revocation::Crl;
///
/// let crls = Crl::load(&std::fs::read("ca.crl")?, "ca.crl")?;
/// println!("{} revoked by {}", crls[0].revoked_count(), crls[0].issuer_string());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Crl {
    origin: String,
    tbs: Vec<u8>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: Vec<u8>,
    issuer: Name,
    this_update: SystemTime,
    next_update: Option<SystemTime>,
    revoked: HashMap<Vec<u8>, Entry>,
    /// Why this CRL cannot answer at all (delta, indirect, unknown
    /// critical extension), found at parse time.
    unusable: Option<String>,
    scope: Scope,
}

/// What an issuingDistributionPoint limits the CRL to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Scope {
    only_user: bool,
    only_ca: bool,
    only_some_reasons: bool,
}

impl Crl {
    /// Loads every CRL in `input`: PEM `X509 CRL` blocks (other blocks and
    /// text around them skipped) or one DER CRL. `origin` names the input in
    /// reports and errors (a file name).
    pub fn load(input: &[u8], origin: &str) -> Result<Vec<Crl>, RevocationError> {
        let crls = if pem::is_pem(input) {
            pem::blocks(input)
                .map_err(|source| RevocationError::Pem {
                    origin: origin.to_owned(),
                    source,
                })?
                .into_iter()
                .filter(|block| block.label == "X509 CRL")
                .map(|block| Crl::from_der(&block.contents, origin))
                .collect::<Result<Vec<_>, _>>()?
        } else if input.is_empty() {
            Vec::new()
        } else {
            vec![Crl::from_der(input, origin)?]
        };
        if crls.is_empty() {
            return Err(RevocationError::NoCrl(origin.to_owned()));
        }
        Ok(crls)
    }

    /// Parses one DER CRL; trailing bytes are an error.
    pub fn from_der(der: &[u8], origin: &str) -> Result<Crl, RevocationError> {
        let malformed = |source| RevocationError::MalformedCrl {
            origin: origin.to_owned(),
            source,
        };
        let raw = RawCertificateList::from_der(der).map_err(malformed)?;
        let tbs_der = raw.tbs_cert_list.to_der().map_err(malformed)?;
        let tbs = TbsCertList::from_der(&tbs_der).map_err(malformed)?;
        match tbs.version {
            None | Some(Version::V1 | Version::V2) => {}
            Some(_) => return Err(RevocationError::CrlVersion(origin.to_owned())),
        }
        // RFC 5280 section 5.1.1.2: the inner algorithm must equal the outer.
        if tbs.signature != raw.signature_algorithm {
            return Err(RevocationError::BadSignature {
                origin: origin.to_owned(),
                reason: "the signature algorithm inside and outside the CRL differ".to_owned(),
            });
        }
        let signature = raw
            .signature
            .as_bytes()
            .ok_or_else(|| RevocationError::BadSignature {
                origin: origin.to_owned(),
                reason: "the signature is not a whole number of octets".to_owned(),
            })?
            .to_vec();

        let mut unusable = None;
        let mut scope = Scope::default();
        for extension in tbs.crl_extensions.iter().flatten() {
            match extension.extn_id {
                ID_CE_DELTA_CRL_INDICATOR => {
                    unusable = Some("delta CRL (only complete CRLs are used)".to_owned());
                }
                ID_CE_ISSUING_DISTRIBUTION_POINT => {
                    let point = IssuingDistributionPoint::from_der(extension.extn_value.as_bytes())
                        .map_err(malformed)?;
                    if point.indirect_crl {
                        unusable = Some("indirect CRL".to_owned());
                    }
                    if point.only_contains_attribute_certs {
                        unusable = Some("attribute-certificate CRL".to_owned());
                    }
                    scope = Scope {
                        only_user: point.only_contains_user_certs,
                        only_ca: point.only_contains_ca_certs,
                        only_some_reasons: point.only_some_reasons.is_some(),
                    };
                }
                ID_CE_CRL_NUMBER
                | ID_CE_AUTHORITY_KEY_IDENTIFIER
                | ID_CE_ISSUER_ALT_NAME
                | ID_CE_FRESHEST_CRL
                | ID_PE_AUTHORITY_INFO_ACCESS => {}
                other if extension.critical => {
                    unusable = Some(format!("critical CRL extension {other}"));
                }
                _ => {}
            }
        }

        let mut revoked = HashMap::new();
        for entry in tbs.revoked_certificates.unwrap_or_default() {
            let mut reason = None;
            for extension in entry.crl_entry_extensions.iter().flatten() {
                match extension.extn_id {
                    ID_CE_REASON_CODE => {
                        reason = CrlReason::from_der(extension.extn_value.as_bytes())
                            .ok()
                            .map(reason_name);
                    }
                    ID_CE_INVALIDITY_DATE => {}
                    // Only indirect CRLs may name another issuer (RFC 5280
                    // section 5.3.3), and those are refused above; the
                    // entries after it would belong to that other CA.
                    ID_CE_CERTIFICATE_ISSUER => {
                        unusable = Some("certificateIssuer entry extension".to_owned());
                    }
                    other if extension.critical => {
                        unusable = Some(format!("critical CRL entry extension {other}"));
                    }
                    _ => {}
                }
            }
            // removeFromCRL only occurs in delta CRLs, which are refused.
            revoked.insert(
                entry.serial_number.as_bytes().to_vec(),
                Entry {
                    time: entry.revocation_date.to_system_time(),
                    reason,
                },
            );
        }

        Ok(Crl {
            origin: origin.to_owned(),
            tbs: tbs_der,
            signature_algorithm: raw.signature_algorithm,
            signature,
            issuer: tbs.issuer,
            this_update: tbs.this_update.to_system_time(),
            next_update: tbs.next_update.map(|t| t.to_system_time()),
            revoked,
            unusable,
            scope,
        })
    }

    /// Where the CRL came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The issuer.
    pub fn issuer(&self) -> &Name {
        &self.issuer
    }

    /// The issuer (RFC 4514).
    pub fn issuer_string(&self) -> String {
        self.issuer.to_string()
    }

    /// thisUpdate.
    pub fn this_update(&self) -> SystemTime {
        self.this_update
    }

    /// nextUpdate, if given.
    pub fn next_update(&self) -> Option<SystemTime> {
        self.next_update
    }

    /// How many serial numbers it lists.
    pub fn revoked_count(&self) -> usize {
        self.revoked.len()
    }

    /// Whether the CRL lists `serial` (DER INTEGER contents, as
    /// [`x509_cert::serial_number::SerialNumber::as_bytes`] gives them),
    /// without any check of the CRL itself.
    pub fn lists(&self, serial: &[u8]) -> bool {
        self.revoked.contains_key(serial)
    }

    /// Checks the CRL's signature with `issuer`'s key (which must be
    /// allowed to sign CRLs) and that it names `issuer`.
    pub fn verify_signature(&self, issuer: &Certificate) -> Result<(), RevocationError> {
        let subject = issuer.x509().tbs_certificate().subject();
        if *subject != self.issuer {
            return Err(RevocationError::WrongIssuer {
                origin: self.origin.clone(),
                crl_issuer: self.issuer.to_string(),
                certificate_issuer: subject.to_string(),
            });
        }
        if let Some(usage) = issuer.key_usage()
            && !usage.crl_sign()
        {
            return Err(RevocationError::IssuerMayNotSignCrls(self.origin.clone()));
        }
        super::verify_x509_signature(
            issuer,
            &self.signature_algorithm,
            &self.tbs,
            &self.signature,
        )
        .map_err(|reason| RevocationError::BadSignature {
            origin: self.origin.clone(),
            reason,
        })
    }

    /// The status of `certificate` (issued by `issuer`) at `time`, if this
    /// CRL may say: issuer, signature, currency and scope are checked
    /// first, and each failure is an error naming it.
    pub fn status(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        time: SystemTime,
    ) -> Result<SourcedStatus, RevocationError> {
        self.check_issuer_of(certificate)?;
        self.check_usable()?;
        self.verify_signature(issuer)?;
        self.status_signature_checked(certificate, issuer, time)
    }

    /// Whether this CRL names `certificate`'s issuer.
    fn check_issuer_of(&self, certificate: &Certificate) -> Result<(), RevocationError> {
        let certificate_issuer = certificate.x509().tbs_certificate().issuer();
        if *certificate_issuer != self.issuer {
            return Err(RevocationError::WrongIssuer {
                origin: self.origin.clone(),
                crl_issuer: self.issuer.to_string(),
                certificate_issuer: certificate_issuer.to_string(),
            });
        }
        Ok(())
    }

    /// An error when the CRL cannot answer at all (delta, indirect, an
    /// unknown critical extension).
    pub(crate) fn check_usable(&self) -> Result<(), RevocationError> {
        match &self.unusable {
            Some(what) => Err(RevocationError::Unsupported {
                origin: self.origin.clone(),
                what: what.clone(),
            }),
            None => Ok(()),
        }
    }

    /// [`Crl::status`] for a CRL whose signature the caller has already
    /// verified with `issuer`'s key ([`Crl::verify_signature`]): a
    /// downloaded CRL is checked once, not once per certificate.
    pub(crate) fn status_signature_checked(
        &self,
        certificate: &Certificate,
        issuer: &Certificate,
        time: SystemTime,
    ) -> Result<SourcedStatus, RevocationError> {
        self.check_issuer_of(certificate)?;
        self.check_usable()?;
        let signer = issuer.x509().tbs_certificate().subject();
        if *signer != self.issuer {
            return Err(RevocationError::WrongIssuer {
                origin: self.origin.clone(),
                crl_issuer: self.issuer.to_string(),
                certificate_issuer: signer.to_string(),
            });
        }
        if self.this_update > time {
            return Err(RevocationError::NotYetValid(self.origin.clone()));
        }
        if self.next_update.is_some_and(|next| next < time) {
            return Err(RevocationError::Expired(self.origin.clone()));
        }
        let source = StatusSource::Crl {
            origin: self.origin.clone(),
            issuer: self.issuer.to_string(),
            this_update: self.this_update,
            next_update: self.next_update,
            cached: false,
        };
        let serial = certificate.x509().tbs_certificate().serial_number();
        if let Some(entry) = self.revoked.get(serial.as_bytes()) {
            // A listed certificate is revoked whatever the scope says.
            return Ok(SourcedStatus {
                status: KnownStatus::Revoked {
                    time: entry.time,
                    reason: entry.reason,
                },
                source,
            });
        }
        let not_covering = |what| RevocationError::NotCovering {
            origin: self.origin.clone(),
            what,
        };
        if self.scope.only_user && certificate.is_ca() {
            return Err(not_covering("CA certificates (onlyContainsUserCerts)"));
        }
        if self.scope.only_ca && !certificate.is_ca() {
            return Err(not_covering(
                "end-entity certificates (onlyContainsCACerts)",
            ));
        }
        if self.scope.only_some_reasons {
            return Err(not_covering("every reason (onlySomeReasons)"));
        }
        Ok(SourcedStatus {
            status: KnownStatus::Good,
            source,
        })
    }
}

/// The RFC 5280 name of a CRLReason.
pub(crate) fn reason_name(reason: CrlReason) -> &'static str {
    match reason {
        CrlReason::Unspecified => "unspecified",
        CrlReason::KeyCompromise => "keyCompromise",
        CrlReason::CaCompromise => "cACompromise",
        CrlReason::AffiliationChanged => "affiliationChanged",
        CrlReason::Superseded => "superseded",
        CrlReason::CessationOfOperation => "cessationOfOperation",
        CrlReason::CertificateHold => "certificateHold",
        CrlReason::RemoveFromCRL => "removeFromCRL",
        CrlReason::PrivilegeWithdrawn => "privilegeWithdrawn",
        CrlReason::AaCompromise => "aACompromise",
    }
}
