#![doc = include_str!("../README.md")]
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
