//! The vocabulary both S/MIME and PGP/MIME verification report in, so a
//! gateway treats their answers alike.

/// How much of a message a signature covers. Deliberately exhaustive: every
/// verdict must decide each case, so a new one cannot slip through as signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Coverage {
    /// The whole message body is the signed entity.
    Whole,
    /// Only a part is signed; other content around it is not.
    Partial {
        /// MIME part number of the signed structure ("2", "1.2"); "1" for
        /// text around an inline block in a single-part message.
        part: String,
        /// Why the rest is not covered.
        reason: String,
    },
    /// Nothing is signed.
    Unsigned,
}

/// One answer to "is this message signed by its author?".
///
/// ```
/// use mail_message::Verdict;
/// // Only this answer makes a message signed by its author.
/// assert_ne!(Verdict::PartiallySigned, Verdict::SignedByFrom);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Whole message, every signature valid, a signer's certificate (or
    /// user ID) carries the single From address.
    SignedByFrom,
    /// Valid signatures, but no signer carries the From address (one may
    /// carry Sender: reported, but not the author).
    SignedByOther,
    /// A signature that does not hold.
    Invalid,
    /// Only a part of the message is signed.
    PartiallySigned,
    /// No signature at all.
    Unsigned,
}
