//! The milter protocol (version 6, as spoken by Postfix and Sendmail), for
//! filters that see a whole mail and decide once at its end.
//!
//! An MTA connects, negotiates options, and sends the SMTP envelope, the
//! header fields and the body of each mail; at the end of a mail the
//! [`Filter`] decides: [`Decision::Accept`], [`Decision::Replace`] with a new
//! message (turned into header changes and a new body, which is what the
//! protocol can express), or [`Decision::Refuse`] with an SMTP [`Reply`].
//!
//! Fail closed by construction: there is no *discard*; a mail too big to
//! inspect, or one that needs a change the MTA did not grant, is refused;
//! and any protocol error ends the conversation, which makes the MTA apply
//! its `milter_default_action` (Postfix's default, `tempfail`, keeps the
//! mail at the client).
//!
//! ```
//! use mailgate_milter::{Decision, Filter, Mail};
//!
//! /// Adds a field naming the envelope recipients' count.
//! struct Count;
//!
//! impl Filter for Count {
//!     fn end_of_message(&self, mail: &Mail) -> Decision {
//!         let mut message = format!("X-Recipients: {}\r\n", mail.recipients().len()).into_bytes();
//!         message.extend_from_slice(mail.message());
//!         Decision::Replace { message, quarantine: None }
//!     }
//! }
//! ```
//!
//! # Crate features
//!
//! - `gateway` (off by default): `gateway::GatewayFilter`, the mail
//!   gateway (`gateway-facade`) as a milter, with the mapping of its
//!   dispositions onto milter replies (`gateway::decide`). Without it the
//!   crate is the protocol alone and does not compile the gateway's
//!   cryptography. `examples/gateway_milter.rs` serves a gateway
//!   configuration with it.
#![forbid(unsafe_code)]

mod command;
mod decision;
mod error;
#[cfg(feature = "gateway")]
pub mod gateway;
mod mail;
mod modifications;
mod negotiation;
mod response;
mod server;
mod session;
mod wire;

pub use command::{ClientAddress, Command};
pub use decision::{Decision, Filter};
pub use error::Error;
pub use mail::{Header, Mail};
pub use negotiation::{Actions, Negotiation, Protocol, VERSION};
pub use response::{Reply, ReplyError, Response};
pub use server::{Listener, Server};
pub use session::{Limits, serve_connection};
pub use wire::MAX_PACKET;
