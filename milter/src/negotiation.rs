//! Option negotiation: which modifications the milter may make and which
//! protocol steps the MTA sends.

use std::fmt;
use std::ops::{BitAnd, BitOr};

/// The protocol version this implementation speaks (libmilter's
/// `SMFI_VERSION`, spoken by Postfix since 2.6 and Sendmail 8.14).
pub const VERSION: u32 = 6;

macro_rules! flags {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $flag:ident = $value:expr,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub struct $name(u32);

        impl $name {
            $($(#[$fmeta])* pub const $flag: $name = $name($value);)*

            /// No flag.
            pub const NONE: $name = $name(0);

            /// The flags from their wire value (unknown bits kept).
            pub const fn from_bits(bits: u32) -> $name {
                $name(bits)
            }

            /// The wire value.
            pub const fn bits(self) -> u32 {
                self.0
            }

            /// Whether every flag of `other` is set.
            pub const fn contains(self, other: $name) -> bool {
                self.0 & other.0 == other.0
            }
        }

        impl BitOr for $name {
            type Output = $name;
            fn bitor(self, other: $name) -> $name {
                $name(self.0 | other.0)
            }
        }

        impl BitAnd for $name {
            type Output = $name;
            fn bitand(self, other: $name) -> $name {
                $name(self.0 & other.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut names = Vec::new();
                $(if self.contains($name::$flag) && $value != 0 { names.push(stringify!($flag)); })*
                let known = 0 $(| $value)*;
                if self.0 & !known != 0 {
                    return write!(f, "{}({} | {:#x})", stringify!($name), names.join(" | "), self.0 & !known);
                }
                write!(f, "{}({})", stringify!($name), names.join(" | "))
            }
        }
    };
}

flags! {
    /// Modifications a milter asks for and the MTA grants (`SMFIF_*`).
    Actions {
        /// Add header fields.
        ADD_HEADERS = 0x01,
        /// Replace the body.
        CHANGE_BODY = 0x02,
        /// Add envelope recipients.
        ADD_RECIPIENTS = 0x04,
        /// Remove envelope recipients.
        DELETE_RECIPIENTS = 0x08,
        /// Change or delete header fields.
        CHANGE_HEADERS = 0x10,
        /// Put the mail on hold (Postfix: the hold queue).
        QUARANTINE = 0x20,
        /// Change the envelope sender.
        CHANGE_SENDER = 0x40,
        /// Add recipients with ESMTP parameters.
        ADD_RECIPIENTS_WITH_PARAMETERS = 0x80,
        /// Choose which macros the MTA sends.
        SET_MACRO_LIST = 0x100,
    }
}

flags! {
    /// Protocol steps the MTA leaves out or does not wait for (`SMFIP_*`).
    Protocol {
        /// No connect information.
        NO_CONNECT = 0x01,
        /// No HELO.
        NO_HELO = 0x02,
        /// No MAIL FROM.
        NO_MAIL = 0x04,
        /// No RCPT TO.
        NO_RECIPIENT = 0x08,
        /// No body chunks.
        NO_BODY = 0x10,
        /// No header fields.
        NO_HEADERS = 0x20,
        /// No end-of-headers.
        NO_END_OF_HEADERS = 0x40,
        /// No reply to header fields.
        NO_REPLY_HEADER = 0x80,
        /// No unknown SMTP commands.
        NO_UNKNOWN = 0x100,
        /// No DATA.
        NO_DATA = 0x200,
        /// The MTA understands a skip reply to body chunks.
        SKIP = 0x400,
        /// Rejected recipients are sent too.
        REJECTED_RECIPIENTS = 0x800,
        /// No reply to connect.
        NO_REPLY_CONNECT = 0x1000,
        /// No reply to HELO.
        NO_REPLY_HELO = 0x2000,
        /// No reply to MAIL FROM.
        NO_REPLY_MAIL = 0x4000,
        /// No reply to RCPT TO.
        NO_REPLY_RECIPIENT = 0x8000,
        /// No reply to DATA.
        NO_REPLY_DATA = 0x10000,
        /// No reply to unknown commands.
        NO_REPLY_UNKNOWN = 0x20000,
        /// No reply to end-of-headers.
        NO_REPLY_END_OF_HEADERS = 0x40000,
        /// No reply to body chunks.
        NO_REPLY_BODY = 0x80000,
        /// Header values keep their leading space (exact reconstruction).
        HEADER_LEADING_SPACE = 0x100000,
    }
}

/// One side's proposal in option negotiation (`SMFIC_OPTNEG`), or the
/// agreed result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiation {
    /// Protocol version.
    pub version: u32,
    /// Modifications offered (MTA) or asked for (milter).
    pub actions: Actions,
    /// Protocol steps left out or not answered.
    pub protocol: Protocol,
}

impl Negotiation {
    /// What a filter that rewrites whole messages asks for, given the MTA's
    /// offer: the modifications it needs, every step it does not need left
    /// out, no replies to steps that cannot change the outcome, and header
    /// values with their leading space.
    ///
    /// The answer never asks for more than the MTA offered; whether what was
    /// granted suffices is decided per mail (a mail that needs a change the
    /// MTA did not grant is refused for now, never passed on unchanged).
    pub fn answer(offer: &Negotiation) -> Negotiation {
        let wanted_actions = Actions::ADD_HEADERS
            | Actions::CHANGE_HEADERS
            | Actions::CHANGE_BODY
            | Actions::QUARANTINE;
        let wanted_protocol = Protocol::NO_HELO
            | Protocol::NO_UNKNOWN
            | Protocol::NO_DATA
            | Protocol::NO_REPLY_CONNECT
            | Protocol::NO_REPLY_MAIL
            | Protocol::NO_REPLY_RECIPIENT
            | Protocol::NO_REPLY_HEADER
            | Protocol::NO_REPLY_END_OF_HEADERS
            | Protocol::NO_REPLY_BODY
            | Protocol::HEADER_LEADING_SPACE;
        Negotiation {
            version: VERSION,
            actions: wanted_actions & offer.actions,
            protocol: wanted_protocol & offer.protocol,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_never_exceeds_the_offer() {
        let offer = Negotiation {
            version: 6,
            actions: Actions::ADD_HEADERS | Actions::CHANGE_BODY,
            protocol: Protocol::NO_HELO | Protocol::NO_REPLY_BODY,
        };
        let answer = Negotiation::answer(&offer);
        assert_eq!(answer.actions, Actions::ADD_HEADERS | Actions::CHANGE_BODY);
        assert_eq!(answer.protocol, Protocol::NO_HELO | Protocol::NO_REPLY_BODY);
        assert_eq!(answer.version, VERSION);
    }

    #[test]
    fn flags_print_their_names() {
        let flags = Actions::CHANGE_BODY | Actions::from_bits(0x8000);
        assert_eq!(format!("{flags:?}"), "Actions(CHANGE_BODY | 0x8000)");
    }
}
