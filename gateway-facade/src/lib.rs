//! The embeddable mail gateway: an envelope and a message in, what must
//! happen to each recipient out.
//!
//! `gateway-facade` glues the policy ([`rule_engine`]), S/MIME
//! ([`smime_core`]) and OpenPGP ([`pgp_core`]) into one call,
//! [`Gateway::process`], that never hands out protected mail in clear: when
//! the policy demands protection that cannot be given, the recipients are
//! rejected with a notification to the sender, or deferred when the cause is
//! transient.
//!
//! - **Outbound**: per recipient, the policy decides with facts looked up
//!   lazily (certificates and keys in the [`store`], TLS verdicts from a
//!   [`TransportCheck`]); recipients with the same treatment share one
//!   signed and/or encrypted copy (the sender's own certificate included).
//! - **Inbound**: forged `X-Mailgate-*` fields are removed, the mail is
//!   decrypted with the organisation's keys and its signature verified,
//!   `X-Mailgate-Signature` and `X-Mailgate-Decryption` record the result,
//!   certificates from valid signatures and Autocrypt headers are harvested
//!   as *pending*, and the inbound rules apply.
//!
//! # Crate features
//!
//! - `tls-probe` (default): `[transport.probe]` and `ProbedTransport`,
//!   which judge receiving servers live with tls-policy's validating
//!   resolver (`hickory-resolver` on a Tokio runtime).
//! - `pkcs11` (default): `[keys.pkcs11]`, organisation S/MIME keys in a
//!   PKCS#11 token (`mailgate-pkcs11`, `cryptoki`).
//! - `postgres`: a certificate directory in PostgreSQL shared by several
//!   nodes ([`store`]).
//!
//! With `default-features = false` the facade signs, encrypts, verifies and
//! decrypts without Tokio, hickory or cryptoki; a configuration naming a
//! section the build lacks is refused with [`Error::Config`] naming the
//! feature. The password containers are `mailgate-password-container`'s.
#![forbid(unsafe_code)]

pub mod audit;
pub mod certificates;
mod config;
mod envelope_addresses;
mod error;
mod facts;
mod fallback;
mod gateway;
mod header_singletons;
mod headers;
mod inbound;
mod key_vault;
mod keys;
mod notification;
mod outbound;
mod outcome;
mod passphrase;
#[cfg(feature = "tls-probe")]
mod probed_transport;
mod spooled_message;
pub mod store;

pub use config::{
    Config, DEFAULT_KEY_PASSPHRASE_ENV, DEFAULT_OCSP_TIMEOUT, DEFAULT_PASSWORD_LENGTH,
    DirectoryConfig, KeyConfig, MIN_PASSWORD_LENGTH, OcspConfig, Pkcs11KeyConfig, ProbeConfig,
    RevocationConfig,
};
pub use error::Error;
pub use facts::{KnownVerdicts, TransportCheck, TransportCheckError};
pub use fallback::{NotifySender, PasswordChannel, generate_password};
pub use gateway::{Envelope, Gateway};
pub use headers::RESULT_FIELD_PREFIX;
pub use inbound::REVOCATION_UNKNOWN;
pub use key_vault::{ImportError, Imported, KEYS_DIR, KeyVault};
pub use keys::{OrganisationKey, SmimeIdentity};
pub use outcome::{
    Buffer, Disposition, DispositionRecord, Outcome, OutcomeRecord, Step, TlsProfile, Transport,
};
pub use passphrase::{Passphrase, PassphraseError};
#[cfg(feature = "tls-probe")]
pub use probed_transport::ProbedTransport;
pub use rule_engine::Direction;
pub use spooled_message::{IN_MEMORY_LIMIT, SpooledMessage};
pub use store::STORE_FILE;
