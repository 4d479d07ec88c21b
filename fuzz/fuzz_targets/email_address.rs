//! Addresses from headers, certificates and envelopes: parsing must never
//! panic, a parsed address must survive display and re-parsing unchanged,
//! and the canonical mailbox form is a fixed point (canonical(canonical(x))
//! == canonical(x), for the delivery form and for the folded key), so every
//! spelling of a mailbox reaches policy and lookups as one string.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mail_message::Mailbox;
use smime_core::EmailAddress;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(address) = text.parse::<EmailAddress>() {
        let _ = address.local_part();
        let _ = address.domain();
        let again: EmailAddress = address.to_string().parse().expect("re-parse");
        assert_eq!(again, address);
        // One canonical form: an EmailAddress is the Mailbox it spells.
        let mailbox = Mailbox::parse(text).expect("what EmailAddress accepts, Mailbox accepts");
        assert_eq!(address.key(), mailbox.key());
        assert_eq!(address.domain(), mailbox.domain());
    }
    if let Ok(mailbox) = Mailbox::parse(text) {
        let canonical = mailbox.as_str();
        assert!(canonical.len() <= mail_message::MAX_ADDRESS);
        assert!(!canonical.contains(['<', '>', '%', '!', '[', ']']) || canonical.starts_with('"'));
        let again = Mailbox::parse(canonical).expect("the canonical form parses");
        assert_eq!(
            again.as_str(),
            canonical,
            "canonical form is not a fixed point"
        );
        assert_eq!(again.key(), mailbox.key());
        let keyed = Mailbox::parse(mailbox.key()).expect("the key parses");
        assert_eq!(keyed.key(), mailbox.key(), "key is not a fixed point");
        assert_eq!(keyed.as_str(), mailbox.key());
        assert_eq!(again.domain(), mailbox.domain());
        assert!(mailbox.domain().is_ascii());
        // Brackets and a source route change nothing.
        let wrapped = Mailbox::parse(&format!("<@relay.example:{canonical}>"))
            .expect("a source route before a canonical address is accepted");
        assert_eq!(wrapped.as_str(), canonical);
    }
});
