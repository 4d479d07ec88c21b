#![doc = include_str!("../README.md")]
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
