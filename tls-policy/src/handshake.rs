//! rustls restricted to a profile: the client configuration for the probe's
//! full handshake and for delivery.
//!
//! The provider is rustls' `ring` provider (the one the workspace uses),
//! reduced to the suites, groups and versions the profile allows at the check
//! time; for `bsi-tr-03108` that removes X25519 and ChaCha20. rustls cannot
//! negotiate CBC, CCM, DHE or brainpool at all: a server offering only those
//! fails the handshake, and the enumeration explains why.
//!
//! Two verifiers share one implementation:
//! - [`VerifierMode::Record`] (probe): validates chain and name, records the
//!   result and lets the handshake finish, so the report can show the
//!   negotiated parameters of a server with a bad certificate. Handshake
//!   signatures are always verified.
//! - [`VerifierMode::Enforce`] (delivery): fails the handshake on whatever the
//!   profile requires (chain, name, signature scheme).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme as RustlsScheme};

use crate::error::Error;
use crate::names::{CipherSuite, NamedGroup, SignatureScheme, TlsVersion};
use crate::observation::Check;
use crate::profile::Profile;

/// The trust anchors a chain must lead to.
#[derive(Debug, Clone)]
pub struct TrustAnchors {
    store: Arc<RootCertStore>,
}

impl TrustAnchors {
    /// The operating system's trust store (`/etc/ssl/certs` and friends).
    pub fn system() -> Result<TrustAnchors, Error> {
        let result = rustls_native_certs::load_native_certs();
        let mut store = RootCertStore::empty();
        let (added, _ignored) = store.add_parsable_certificates(result.certs);
        if added == 0 {
            return Err(Error::NoTrustAnchors(result.errors.first().map_or_else(
                || "the system trust store is empty".to_owned(),
                ToString::to_string,
            )));
        }
        Ok(TrustAnchors {
            store: Arc::new(store),
        })
    }

    /// Caller-given anchors (DER certificates); they replace the system store.
    pub fn from_der<'a>(
        certificates: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<TrustAnchors, Error> {
        let mut store = RootCertStore::empty();
        for der in certificates {
            store
                .add(CertificateDer::from(der.to_vec()))
                .map_err(|error| Error::BadTrustAnchor(error.to_string()))?;
        }
        if store.is_empty() {
            return Err(Error::NoTrustAnchors("no anchors given".to_owned()));
        }
        Ok(TrustAnchors {
            store: Arc::new(store),
        })
    }

    /// The anchors as a rustls root store (for other TLS clients: the
    /// MTA-STS policy fetch, WKD).
    pub fn root_store(&self) -> Arc<RootCertStore> {
        Arc::clone(&self.store)
    }

    /// Caller-given anchors from PEM text (one or more `CERTIFICATE` blocks).
    pub fn from_pem(pem: &[u8]) -> Result<TrustAnchors, Error> {
        let ders = crate::certificate::pem_certificates(pem)?;
        TrustAnchors::from_der(ders.iter().map(Vec::as_slice))
    }
}

/// What the verifier does with a chain or name it does not accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifierMode {
    /// Record the result and let the handshake complete (probe).
    Record,
    /// Fail the handshake where the profile requires validity (delivery).
    Enforce,
}

/// What the verifier saw during one handshake.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorded {
    pub(crate) chain: Option<Check>,
    pub(crate) name: Option<Check>,
    pub(crate) signature_scheme: Option<SignatureScheme>,
}

/// The certificate verifier built from a profile.
#[derive(Debug)]
pub struct ProfileVerifier {
    inner: Arc<WebPkiServerVerifier>,
    algorithms: WebPkiSupportedAlgorithms,
    schemes: Vec<RustlsScheme>,
    mode: VerifierMode,
    require_chain: bool,
    require_name: bool,
    check_time: Option<SystemTime>,
    /// Names accepted besides the one the handshake was made for (SNI):
    /// after a DNSSEC-secure CNAME expansion of the MX host, SNI is the
    /// TLSA base domain and the other name is as good a reference
    /// identifier (RFC 7672 section 3.2.2).
    also_accepted: Vec<ServerName<'static>>,
    recorded: Arc<Mutex<Recorded>>,
}

impl ProfileVerifier {
    fn record(&self, update: impl FnOnce(&mut Recorded)) {
        update(&mut self.recorded.lock().unwrap_or_else(PoisonError::into_inner));
    }

    pub(crate) fn recorded(&self) -> Recorded {
        self.recorded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Whether the end entity carries one of the also-accepted names.
    fn valid_for_other_name(&self, end_entity: &CertificateDer<'_>) -> bool {
        let Ok(certificate) = webpki::EndEntityCert::try_from(end_entity) else {
            return false;
        };
        self.also_accepted
            .iter()
            .any(|name| certificate.verify_is_valid_for_subject_name(name).is_ok())
    }

    fn check_scheme(&self, scheme: RustlsScheme) -> Result<(), rustls::Error> {
        self.record(|r| r.signature_scheme = Some(SignatureScheme(u16::from(scheme))));
        if self.schemes.contains(&scheme) {
            Ok(())
        } else {
            Err(rustls::Error::PeerMisbehaved(
                rustls::PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme,
            ))
        }
    }
}

fn describe(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(certificate_error) => format!("{certificate_error:?}"),
        other => other.to_string(),
    }
}

fn is_name_error(error: &rustls::Error) -> bool {
    matches!(
        error,
        rustls::Error::InvalidCertificate(
            rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. }
        )
    )
}

impl ServerCertVerifier for ProfileVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let now = self
            .check_time
            .and_then(|time| time.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map_or(now, UnixTime::since_unix_epoch);
        let result = match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            // webpki checks the name only once the chain is valid, so a
            // name error with another accepted name is a valid chain and
            // name.
            Err(error) if is_name_error(&error) && self.valid_for_other_name(end_entity) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        };
        let (chain, name) = match &result {
            Ok(_) => (Check::Valid, Check::Valid),
            // webpki checks the name only once the chain is valid.
            Err(error) if is_name_error(error) => (
                Check::Valid,
                Check::Invalid {
                    reason: describe(error),
                },
            ),
            Err(error) => {
                let name = match webpki::EndEntityCert::try_from(end_entity) {
                    Ok(certificate) => {
                        match certificate.verify_is_valid_for_subject_name(server_name) {
                            Ok(()) => Check::Valid,
                            Err(_) if self.valid_for_other_name(end_entity) => Check::Valid,
                            Err(error) => Check::Invalid {
                                reason: format!("{error:?}"),
                            },
                        }
                    }
                    Err(error) => Check::Invalid {
                        reason: format!("unparsable certificate: {error:?}"),
                    },
                };
                (
                    Check::Invalid {
                        reason: describe(error),
                    },
                    name,
                )
            }
        };
        let chain_failed = matches!(chain, Check::Invalid { .. });
        let name_failed = matches!(name, Check::Invalid { .. });
        self.record(|r| {
            r.chain = Some(chain);
            r.name = Some(name);
        });
        match (self.mode, result) {
            (_, Ok(verified)) => Ok(verified),
            (VerifierMode::Record, Err(_)) => Ok(ServerCertVerified::assertion()),
            (VerifierMode::Enforce, Err(error)) => {
                if (chain_failed && self.require_chain) || (name_failed && self.require_name) {
                    Err(error)
                } else {
                    Ok(ServerCertVerified::assertion())
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_scheme(dss.scheme)?;
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.check_scheme(dss.scheme)?;
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<RustlsScheme> {
        self.schemes.clone()
    }
}

/// Whether rustls (ring provider) can negotiate this suite at all.
pub fn rustls_supports(suite: CipherSuite) -> bool {
    rustls::crypto::ring::default_provider()
        .cipher_suites
        .iter()
        .any(|supported| u16::from(supported.suite()) == suite.0)
}

/// Whether rustls (ring provider) can use this key-exchange group at all.
pub fn rustls_supports_group(group: NamedGroup) -> bool {
    rustls::crypto::ring::default_provider()
        .kx_groups
        .iter()
        .any(|supported| u16::from(supported.name()) == group.0)
}

/// A rustls client configuration restricted to a profile, and its verifier.
#[derive(Debug, Clone)]
pub struct ProfileClientConfig {
    /// The configuration to connect with.
    pub config: Arc<ClientConfig>,
    /// The verifier inside it.
    pub verifier: Arc<ProfileVerifier>,
}

/// Builds the rustls configuration for `profile` at `check_time`.
///
/// `check_time` also replaces the clock for certificate validity, so a
/// verdict "as of" a time is reproducible.
pub fn client_config(
    profile: &Profile,
    anchors: &TrustAnchors,
    mode: VerifierMode,
    check_time: SystemTime,
) -> Result<ProfileClientConfig, Error> {
    client_config_accepting(profile, anchors, mode, check_time, Vec::new())
}

/// [`client_config`] whose verifier also accepts a certificate for one of
/// `also_accepted` besides the name the connection is made for.
pub(crate) fn client_config_accepting(
    profile: &Profile,
    anchors: &TrustAnchors,
    mode: VerifierMode,
    check_time: SystemTime,
    also_accepted: Vec<ServerName<'static>>,
) -> Result<ProfileClientConfig, Error> {
    let base = rustls::crypto::ring::default_provider();
    let mut provider = base.clone();
    provider
        .cipher_suites
        .retain(|suite| profile.permits_suite(CipherSuite(u16::from(suite.suite())), check_time));
    provider
        .kx_groups
        .retain(|group| profile.permits_group(NamedGroup(u16::from(group.name())), check_time));
    if provider.cipher_suites.is_empty() || provider.kx_groups.is_empty() {
        return Err(Error::ProfileUnusable(format!(
            "profile '{}' leaves rustls no {} to offer",
            profile.name,
            if provider.cipher_suites.is_empty() {
                "cipher suite"
            } else {
                "group"
            }
        )));
    }
    let mut versions: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if profile.permits_version(TlsVersion::TLS13, check_time) {
        versions.push(&rustls::version::TLS13);
    }
    if profile.permits_version(TlsVersion::TLS12, check_time) {
        versions.push(&rustls::version::TLS12);
    }
    if versions.is_empty() {
        return Err(Error::ProfileUnusable(format!(
            "profile '{}' allows neither TLS 1.2 nor TLS 1.3",
            profile.name
        )));
    }
    let provider = Arc::new(provider);
    let inner = WebPkiServerVerifier::builder_with_provider(
        Arc::clone(&anchors.store),
        Arc::clone(&provider),
    )
    .build()
    .map_err(|error| Error::NoTrustAnchors(error.to_string()))?;
    let algorithms = provider.signature_verification_algorithms;
    let schemes: Vec<RustlsScheme> = algorithms
        .supported_schemes()
        .into_iter()
        .filter(|scheme| {
            profile.permits_signature_scheme(SignatureScheme(u16::from(*scheme)), check_time)
        })
        .collect();
    let verifier = Arc::new(ProfileVerifier {
        inner,
        algorithms,
        schemes,
        mode,
        require_chain: profile.requires_valid_chain(),
        require_name: profile.requires_name(),
        check_time: Some(check_time),
        also_accepted,
        recorded: Arc::new(Mutex::new(Recorded::default())),
    });
    let config = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|error| Error::ProfileUnusable(error.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::clone(&verifier) as Arc<dyn ServerCertVerifier>)
        .with_no_client_auth();
    Ok(ProfileClientConfig {
        config: Arc::new(config),
        verifier,
    })
}
