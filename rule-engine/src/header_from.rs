//! The mailboxes of the header `From:` field, as `header_from*` conditions
//! compare them.
//!
//! The envelope sender (`sender*` conditions) is what SMTP carried; the
//! header From is what a reader sees as the author. The two differ in
//! ordinary mail (mailing lists, bounces with the null sender, a CRM sending
//! for a user) and in forged mail, so a rule about who a mail comes from
//! must be able to look at both: a rule that reads only the envelope is
//! walked around by a mail whose envelope names someone else.
//!
//! Each mailbox is reduced to the canonical form of
//! [`mail_message::Mailbox::key`] (case, trailing dot, IDNA label form,
//! quoting, source route), the form envelope addresses and policy addresses
//! have, so every spelling of `service@bank.example` is the same author.
//! Reading is lenient where strictness would let a mail pass unjudged:
//!
//! - a mailbox the canonical form refuses (an address literal
//!   `service@[bank.example]`, the percent hack) keeps its domain as a reader
//!   sees it: brackets and trailing dots removed, then the canonical domain
//!   where there is one (`service@[bank.example]` is from `bank.example`;
//!   `x%bank.example@evil.example` is from `evil.example`, which is what a
//!   mail client shows);
//! - a field that does not parse as a mailbox list (an unclosed angle
//!   bracket, say) is searched for every word with an `@`, so a broken field
//!   still names the domains a reader would see.
//!
//! Display names and comments are not mailboxes and never count: what a
//! display name pretends is for the identity findings of a signature
//! (`X-Mailgate-Signature: ...; warning=display-name-names-other-address`).

use mail_message::{EmailAddress, Mailbox};

/// The canonical mailboxes of a From field value (raw, after the colon), in
/// order, each once. Empty when there is no address at all.
pub(crate) fn from_addresses(raw_value: &[u8]) -> Vec<String> {
    let value = String::from_utf8_lossy(raw_value);
    let spellings: Vec<String> = match EmailAddress::parse_mailboxes(&value) {
        Ok(list) => list.iter().map(|a| a.as_str().to_owned()).collect(),
        Err(_) => words_with_at(&value),
    };
    let mut out: Vec<String> = Vec::new();
    for spelling in spellings {
        let key = canonical_or_as_shown(&spelling);
        if !out.contains(&key) {
            out.push(key);
        }
    }
    out
}

/// The [`Mailbox::key`] of `address`, or, for a spelling the canonical form
/// refuses, the address in lower case with its domain as a reader sees it.
fn canonical_or_as_shown(address: &str) -> String {
    if let Ok(mailbox) = Mailbox::parse(address) {
        return mailbox.key().to_owned();
    }
    let lower = address.trim().to_lowercase();
    let Some((local, domain)) = lower.rsplit_once('@') else {
        return lower;
    };
    let shown = domain
        .trim_start_matches('[')
        .trim_end_matches(']')
        .trim_end_matches('.');
    let domain = mail_message::canonical_domain(shown).unwrap_or_else(|_| shown.to_owned());
    format!("{local}@{domain}")
}

/// Every word of `value` that holds an `@`, words split at white space and
/// at the characters that delimit addresses in a header field.
fn words_with_at(value: &str) -> Vec<String> {
    value
        .split(|c: char| c.is_whitespace() || "<>,;:()\"".contains(c))
        .filter(|word| word.contains('@') && !word.starts_with('@'))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_the_author_is_one_mailbox() {
        for value in [
            "service@bank.example",
            " Service <SERVICE@Bank.Example.>",
            "\"Bank\" <\"service\"@bank.example> (Kundendienst)",
            "<@relay.example:service@bank.example>",
        ] {
            assert_eq!(
                from_addresses(value.as_bytes()),
                ["service@bank.example"],
                "{value}"
            );
        }
        assert_eq!(
            from_addresses("Jürgen <j@Bücher.Example>".as_bytes()),
            ["j@xn--bcher-kva.example"]
        );
    }

    #[test]
    fn refused_and_broken_forms_keep_the_domain_a_reader_sees() {
        assert_eq!(
            from_addresses(b"service@[bank.example]"),
            ["service@bank.example"]
        );
        assert_eq!(
            from_addresses(b"x%bank.example@evil.example"),
            ["x%bank.example@evil.example"]
        );
        assert_eq!(
            from_addresses(b"Bank <service@bank.example"),
            ["service@bank.example"]
        );
        assert_eq!(
            from_addresses(b"a@one.example, B <b@two.example>, a@ONE.example"),
            ["a@one.example", "b@two.example"]
        );
    }

    #[test]
    fn display_names_and_empty_fields_name_no_author() {
        assert_eq!(
            from_addresses(b"\"service@bank.example\" <eve@evil.example>"),
            ["eve@evil.example"]
        );
        assert!(from_addresses(b"").is_empty());
        assert!(from_addresses(b"Just A Name").is_empty());
    }
}
