//! What a filter decides about a finished mail.

use crate::error::Error;
use crate::mail::Mail;
use crate::response::Reply;

/// The filter's decision at the end of a mail.
///
/// A milter sees one mail with all its recipients: it can pass it, replace
/// it for all of them, or refuse it for all of them. There is no *discard*.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Deliver the mail unchanged.
    Accept,
    /// Deliver `message` (a complete RFC 5322 message) instead; the session
    /// turns it into header changes and a new body. With `quarantine`, the
    /// MTA holds the replaced mail (Postfix: the hold queue) for that reason.
    Replace {
        /// The new message.
        message: Vec<u8>,
        /// Hold it instead of delivering it.
        quarantine: Option<String>,
    },
    /// Refuse the mail with this reply: 4xx keeps it queued at the client,
    /// 5xx bounces it to its sender.
    Refuse(Reply),
}

/// A mail filter: called once per mail when the MTA has sent all of it.
///
/// ```
/// use mailgate_milter::{Decision, Filter, Mail, Reply};
///
/// /// Refuses mail without a Subject, passes the rest.
/// struct NeedsSubject;
///
/// impl Filter for NeedsSubject {
///     fn end_of_message(&self, mail: &Mail) -> Decision {
///         if mail.headers().iter().any(|h| h.name.eq_ignore_ascii_case("subject")) {
///             Decision::Accept
///         } else {
///             match Reply::permanent("5.6.0", "a subject is required") {
///                 Ok(reply) => Decision::Refuse(reply),
///                 Err(_) => Decision::Accept,
///             }
///         }
///     }
/// }
/// ```
pub trait Filter: Send + Sync {
    /// Decides about a complete mail.
    fn end_of_message(&self, mail: &Mail) -> Decision;

    /// Called when a conversation ends with an error (the MTA then applies
    /// its `milter_default_action`); for logging.
    fn conversation_failed(&self, error: &Error) {
        let _ = error;
    }
}
