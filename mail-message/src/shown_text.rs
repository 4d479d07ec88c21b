//! Header text as the reader's mail client shows it, and the one form in
//! which policy markers (the Subject tag `[vertraulich]`) are matched.
//!
//! A confidentiality marker is a promise the sender makes to the reader:
//! whatever bytes carry `[vertraulich]`, if the recipient's client shows
//! that text, the mail is confidential. A client decodes RFC 2047 encoded
//! words (leniently: unpadded base64, any charset it knows, a character
//! split across two adjacent words, words glued to other text), folds
//! compatibility forms when the font has them (`［ｖｅｒｔｒａｕｌｉｃｈ］`
//! looks like the tag), does not draw soft hyphens, zero-width spaces or
//! joiners, byte order marks and other default-ignorable or format
//! characters, and any case of the letters reads the same to a person
//! (`[VERTRAULİCH]`). So every spelling the reader sees as the tag must be
//! the tag for the policy too, or a sender (or malware on the sender's
//! machine) can mark a mail confidential for the reader while it leaves in
//! clear.
//!
//! The same holds for what a display name shows: `From: manager＠bigcorp.de
//! <eve@bigcorp.de>` (a full-width at sign, a soft hyphen, or the address in
//! split, unpadded or UTF-16 encoded words) shows the reader another
//! author than the signer, whichever spelling carries it.
//!
//! [`decode_header_value`] and [`normalize`] are that rule, in one place,
//! and every reader of shown text uses them: the rule engine matches
//! `subject_tag` (and header conditions) on the normal form of the decoded
//! Subject (`rule_engine::shown_text` is this module), the gateway strips
//! the tag with [`strip_marker`], which finds it the same way and removes
//! it from the text the reader sees (re-encoding the Subject when it was
//! encoded), the identity judgement of a signed message
//! ([`crate::HeaderIdentity`]) finds addresses in a `From` display name in
//! this form, and [`crate::Mailbox`] refuses every character
//! [`is_invisible`] names. Two readers with two decoders or two lists of
//! invisible characters would disagree, and an attacker picks the spelling
//! one of them does not see.
//!
//! The normal form of a text:
//!
//! 1. default-ignorable code points (Unicode `Default_Ignorable_Code_Point`)
//!    and format characters (general category `Cf`) are removed;
//! 2. NFKC (compatibility composition: full-width and other compatibility
//!    forms become the plain character, a decomposed accent is composed);
//! 3. full case folding, with the Turkic dotted `İ` and dotless `ı` folded
//!    to `i` (a reader sees `[VERTRAULİCH]` and `[vertraulıch]` as the
//!    tag), `ß` to `ss`, and a combining dot above after `i` or `j` dropped;
//! 4. every run of white space becomes one space, none at either end.
//!
//! Matching stays a substring test on that form, as before: `Vertraulichkeit`
//! in running text is no `[vertraulich]`, however it is spelled. What is not
//! folded: look-alike letters of other scripts (Cyrillic `а` for Latin `a`,
//! UTS #39 confusables), which are other text that happens to look alike.
//!
//! ```
//! use mail_message::shown_text::{decode_header_value, normalize};
//!
//! let plain = normalize("[vertraulich] Akte");
//! for raw in [
//!     "[vertr\u{AD}aulich] Akte",                      // soft hyphen
//!     "\u{FF3B}ｖｅｒｔｒａｕｌｉｃｈ\u{FF3D} Akte",      // full width
//!     "[VERTRAULİCH]  Akte",                           // dotted capital I
//!     "=?utf-8?q?=5Bvertrau?= =?utf-8?b?bGljaF0gQWt0ZQ?=", // split, unpadded
//! ] {
//!     assert_eq!(normalize(&decode_header_value(raw.as_bytes())), plain);
//! }
//! ```

use std::ops::Range;

use mail_parser::decoders::{base64::base64_decode, charsets::map::charset_decoder};
use unicode_normalization::{UnicodeNormalization, char::canonical_combining_class};

/// Code points a client does not draw: `Default_Ignorable_Code_Point`
/// (DerivedCoreProperties.txt) together with general category `Cf`
/// (UnicodeData.txt), Unicode 15.1, as inclusive ranges in order.
const INVISIBLE: [(u32, u32); 25] = [
    (0x00AD, 0x00AD),   // soft hyphen
    (0x034F, 0x034F),   // combining grapheme joiner
    (0x0600, 0x0605),   // Arabic number signs (Cf)
    (0x061C, 0x061C),   // Arabic letter mark
    (0x06DD, 0x06DD),   // Arabic end of ayah (Cf)
    (0x070F, 0x070F),   // Syriac abbreviation mark (Cf)
    (0x0890, 0x0891),   // Arabic pound and piastre marks above (Cf)
    (0x08E2, 0x08E2),   // Arabic disputed end of ayah (Cf)
    (0x115F, 0x1160),   // Hangul fillers
    (0x17B4, 0x17B5),   // Khmer inherent vowels
    (0x180B, 0x180F),   // Mongolian variation selectors, vowel separator
    (0x200B, 0x200F),   // zero-width space, ZWNJ, ZWJ, LRM, RLM
    (0x202A, 0x202E),   // bidi embeddings and overrides
    (0x2060, 0x206F),   // word joiner, invisible operators, bidi isolates
    (0x3164, 0x3164),   // Hangul filler
    (0xFE00, 0xFE0F),   // variation selectors
    (0xFEFF, 0xFEFF),   // zero-width no-break space (BOM)
    (0xFFA0, 0xFFA0),   // half-width Hangul filler
    (0xFFF0, 0xFFFB),   // unassigned ignorables, interlinear annotation
    (0x110BD, 0x110BD), // Kaithi number sign (Cf)
    (0x110CD, 0x110CD), // Kaithi number sign above (Cf)
    (0x13430, 0x1343F), // Egyptian hieroglyph format controls
    (0x1BCA0, 0x1BCA3), // shorthand format controls
    (0x1D173, 0x1D17A), // musical symbol format controls
    (0xE0000, 0xE0FFF), // tags, variation selectors supplement
];

/// Whether a mail client draws nothing for `c`: a default-ignorable code
/// point (Unicode `Default_Ignorable_Code_Point`) or a format character
/// (general category `Cf`), Unicode 15.1. The one list of invisible
/// characters: [`normalize`] removes them, [`crate::Mailbox::parse`]
/// refuses them.
///
/// ```
/// use mail_message::shown_text::is_invisible;
/// assert!(is_invisible('\u{AD}') && is_invisible('\u{200B}') && is_invisible('\u{FEFF}'));
/// assert!(!is_invisible('a') && !is_invisible('\u{A0}'));
/// ```
pub fn is_invisible(c: char) -> bool {
    let c = u32::from(c);
    INVISIBLE
        .binary_search_by(|&(low, high)| {
            if high < c {
                std::cmp::Ordering::Less
            } else if low > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Whether `c` continues the character before it for composition: a
/// combining mark, or a Hangul medial or final jamo.
fn continues_cluster(c: char) -> bool {
    canonical_combining_class(c) != 0 || matches!(u32::from(c), 0x1161..=0x11FF | 0xD7B0..=0xD7FF)
}

/// Full case folding of one character, with the Turkic `İ` and `ı` read as
/// `i` (what a reader takes them for in a Latin word).
fn fold_into(c: char, out: &mut String) {
    match c {
        '\u{130}' | '\u{131}' => out.push('i'),
        '\u{DF}' | '\u{1E9E}' => out.push_str("ss"),
        '\u{3C2}' => out.push('\u{3C3}'),
        c => out.extend(c.to_lowercase()),
    }
}

/// The normal form of `text`, one character at a time, each with the byte
/// range of `text` it comes from (the whole cluster that produced it, or
/// the whole run of white space it stands for). Streams: nothing but the
/// cluster at hand is held, so a whole body can be put through it.
fn for_each_normal(text: &str, mut emit: impl FnMut(char, Range<usize>)) {
    let mut visible = text
        .char_indices()
        .filter(|(_, c)| !is_invisible(*c))
        .peekable();
    let mut cluster = String::new();
    let mut folded = String::new();
    // White space seen after visible text, emitted as one space only when
    // more visible text follows (none at either end).
    let mut pending_space: Option<Range<usize>> = None;
    let mut started = false;
    let mut push = |c: char, range: Range<usize>| {
        if c.is_whitespace() {
            if started {
                match &mut pending_space {
                    Some(space) => space.end = range.end,
                    None => pending_space = Some(range),
                }
            }
        } else {
            if let Some(space) = pending_space.take() {
                emit(' ', space);
            }
            started = true;
            emit(c, range);
        }
    };
    while let Some((first_at, first)) = visible.next() {
        // A cluster NFKC composes within: a base and its combining marks.
        cluster.clear();
        cluster.push(first);
        let mut end = first_at + first.len_utf8();
        while let Some(&(at, c)) = visible.peek() {
            if !continues_cluster(c) {
                break;
            }
            cluster.push(c);
            end = at + c.len_utf8();
            visible.next();
        }
        let range = first_at..end;
        if first.is_ascii() && cluster.len() == 1 {
            // NFKC leaves ASCII alone and folding is lower-casing: the
            // common case of a body, without the general path's cost.
            push(first.to_ascii_lowercase(), range);
            continue;
        }
        folded.clear();
        for c in cluster.nfkc() {
            fold_into(c, &mut folded);
        }
        let mut previous = None;
        for c in folded.nfkc() {
            if is_invisible(c) || (c == '\u{307}' && matches!(previous, Some('i' | 'j'))) {
                continue;
            }
            previous = Some(c);
            push(c, range.clone());
        }
    }
}

/// The normal form of `text` with, for each of its characters, the byte
/// range of `text` it comes from ([`for_each_normal`]).
fn normalize_mapped(text: &str) -> (Vec<char>, Vec<Range<usize>>) {
    let mut chars = Vec::with_capacity(text.len());
    let mut from: Vec<Range<usize>> = Vec::with_capacity(text.len());
    for_each_normal(text, |c, range| {
        chars.push(c);
        from.push(range);
    });
    (chars, from)
}

/// The normal form in which markers are matched (see the module
/// documentation): invisible characters removed, NFKC, full case folding
/// with `İ`/`ı` as `i`, white space collapsed and trimmed.
///
/// ```
/// use mail_message::shown_text::normalize;
/// assert_eq!(normalize(" [Vertr\u{200D}aulıch]\u{A0}\u{A0}AKTE\u{FEFF} "), "[vertraulich] akte");
/// assert_eq!(normalize("Straße"), "strasse");
/// ```
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for_each_normal(text, |c, _| out.push(c));
    out
}

/// Whether `text` (decoded, as shown) contains `marker` in the normal form
/// of both. An empty marker is in nothing.
pub fn contains_marker(text: &str, marker: &str) -> bool {
    let marker = normalize(marker);
    !marker.is_empty() && normalize(text).contains(&marker)
}

/// One RFC 2047 encoded word found in a header value.
struct EncodedWord {
    /// The charset, lower case, without an RFC 2231 language (`utf-8*de`).
    charset: String,
    /// The decoded bytes, still in that charset.
    bytes: Vec<u8>,
    /// Its length in the text.
    length: usize,
}

/// Q encoding (RFC 2047 section 4.2), leniently: `_` is a space, `=XX` a
/// byte, anything else (a space, a lone `=`) stands for itself.
fn q_decode(payload: &str) -> Vec<u8> {
    let bytes = payload.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&b) = bytes.get(at) {
        at += 1;
        match b {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = bytes
                    .get(at..at + 2)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        at += 2;
                    }
                    None => out.push(b'='),
                }
            }
            other => out.push(other),
        }
    }
    out
}

/// B encoding (RFC 2047 section 4.1), leniently: white space and padding
/// in the wrong place are skipped and missing padding is supplied, as
/// clients do (a word with other characters is not decoded at all, see
/// [`is_b_payload`]).
fn b_decode(payload: &str) -> Vec<u8> {
    let mut clean: Vec<u8> = payload
        .bytes()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
        .collect();
    if clean.len() % 4 == 1 {
        // Six bits cannot make a byte.
        clean.pop();
    }
    while !clean.len().is_multiple_of(4) {
        clean.push(b'=');
    }
    base64_decode(&clean).unwrap_or_default()
}

/// A byte a B-encoded word may hold: the base64 alphabet, padding, and the
/// white space lenient readers skip.
fn is_b_payload(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'=') || byte.is_ascii_whitespace()
}

/// What stands at a `=?` in a header value.
enum Candidate {
    /// An encoded word.
    Word(EncodedWord),
    /// Text.
    Text,
    /// Text, and no `?=` follows anywhere: nothing later is a word either.
    Unterminated,
}

/// The encoded word at the start of `text` (`=?charset?B|Q?payload?=`).
///
/// Linear over a whole value: the charset and encoding end at the next `?`
/// (before the next candidate), and the search for `?=` either consumes what
/// it scanned (a word, which always decodes) or finds none at all.
fn encoded_word(text: &str) -> Candidate {
    let Some(inner) = text.strip_prefix("=?") else {
        return Candidate::Text;
    };
    let Some((charset, inner)) = inner.split_once('?') else {
        return Candidate::Text;
    };
    if charset.is_empty() || charset.contains(char::is_whitespace) {
        return Candidate::Text;
    }
    let Some((encoding, inner)) = inner.split_once('?') else {
        return Candidate::Text;
    };
    let decode: fn(&str) -> Vec<u8> = match encoding {
        "B" | "b" => b_decode,
        "Q" | "q" => q_decode,
        _ => return Candidate::Text,
    };
    let Some(end) = inner.find("?=") else {
        return Candidate::Unterminated;
    };
    let payload = inner.get(..end).unwrap_or_default();
    if matches!(encoding, "B" | "b") && !payload.bytes().all(is_b_payload) {
        // Not base64 at all (`=?utf-8?B?[vertraulich] Akte?=`): readers
        // such as mail-parser show it as it is written, so the text is
        // read as text. Decoding it leniently gave bytes no reader shows
        // and hid a marker every reader sees.
        return Candidate::Text;
    }
    let bytes = decode(payload);
    let charset = charset
        .split('*')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let length = text.len() - inner.len() + end + 2;
    Candidate::Word(EncodedWord {
        charset,
        bytes,
        length,
    })
}

/// UTF-32 (`utf-32`, with a byte order mark or big-endian; `utf-32be`,
/// `utf-32le`, `ucs-4`), which `mail-parser` does not know.
fn utf32(charset: &str, bytes: &[u8]) -> Option<String> {
    let mut little = match charset {
        "utf-32" | "utf32" | "ucs-4" | "ucs4" | "iso-10646-ucs-4" => false,
        "utf-32be" | "utf32be" => false,
        "utf-32le" | "utf32le" => true,
        _ => return None,
    };
    let mut units = bytes.chunks(4);
    let mut out = String::with_capacity(bytes.len() / 4);
    let mut first = true;
    for unit in units.by_ref() {
        let array: [u8; 4] = match unit.try_into() {
            Ok(array) => array,
            Err(_) => {
                out.push(char::REPLACEMENT_CHARACTER);
                break;
            }
        };
        if first && matches!(charset, "utf-32" | "utf32" | "ucs-4" | "ucs4") {
            first = false;
            match array {
                [0, 0, 0xFE, 0xFF] => continue,
                [0xFF, 0xFE, 0, 0] => {
                    little = true;
                    continue;
                }
                _ => {}
            }
        }
        let value = if little {
            u32::from_le_bytes(array)
        } else {
            u32::from_be_bytes(array)
        };
        out.push(char::from_u32(value).unwrap_or(char::REPLACEMENT_CHARACTER));
    }
    Some(out)
}

/// `bytes` in `charset` as text (unknown charsets as UTF-8, lossily).
fn decode_charset(charset: &str, bytes: &[u8]) -> String {
    if let Some(text) = utf32(charset, bytes) {
        return text;
    }
    match charset_decoder(charset.as_bytes()) {
        Some(decode) => decode(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// A header field value (the raw bytes after the colon) as a mail client
/// shows it: unfolded, RFC 2047 encoded words decoded, trimmed.
///
/// Decoding is lenient, as clients are: an encoded word is decoded where
/// it stands, even glued to other text; white space between two encoded
/// words is dropped (RFC 2047 section 6.2); adjacent words in the same
/// charset are decoded together (a character may be split between them);
/// base64 without padding is read; any charset `mail-parser` knows, and
/// UTF-32, is decoded; unknown charsets are read as UTF-8. Raw 8-bit
/// values are read as UTF-8 (lossily).
///
/// ```
/// use mail_message::shown_text::decode_header_value;
/// assert_eq!(decode_header_value(b" =?utf-8?B?W3ZlcnRy?=\r\n =?UTF-8?Q?aulich=5D_Akte?= "), "[vertraulich] Akte");
/// assert_eq!(decode_header_value(b" =?utf-16be?b?AFsAdgBl?=rtraulich]"), "[vertraulich]");
/// ```
pub fn decode_header_value(raw: &[u8]) -> String {
    let unfolded: String = String::from_utf8_lossy(raw)
        .chars()
        .filter(|c| *c != '\r' && *c != '\n')
        .collect();
    let mut out = String::with_capacity(unfolded.len());
    // Words waiting to be decoded together (same charset, only white space
    // between them).
    let mut pending: Option<EncodedWord> = None;
    let mut rest = unfolded.as_str();
    let mut terminated = true;
    let flush = |pending: &mut Option<EncodedWord>, out: &mut String| {
        if let Some(word) = pending.take() {
            out.push_str(&decode_charset(&word.charset, &word.bytes));
        }
    };
    while !rest.is_empty() {
        let start = rest.find("=?").filter(|_| terminated);
        let Some(start) = start else {
            flush(&mut pending, &mut out);
            out.push_str(rest);
            break;
        };
        let (before, candidate) = rest.split_at(start);
        let found = encoded_word(candidate);
        match found {
            Candidate::Word(word) => {
                let between_words = pending.is_some() && before.chars().all(char::is_whitespace);
                if !between_words {
                    flush(&mut pending, &mut out);
                    out.push_str(before);
                }
                rest = candidate.get(word.length..).unwrap_or_default();
                match &mut pending {
                    Some(held) if held.charset == word.charset => {
                        held.bytes.extend_from_slice(&word.bytes);
                    }
                    _ => {
                        flush(&mut pending, &mut out);
                        pending = Some(word);
                    }
                }
            }
            Candidate::Text | Candidate::Unterminated => {
                terminated = !matches!(found, Candidate::Unterminated);
                flush(&mut pending, &mut out);
                out.push_str(before);
                out.push_str("=?");
                rest = candidate.get(2..).unwrap_or_default();
            }
        }
    }
    flush(&mut pending, &mut out);
    out.trim().to_owned()
}

/// A header value with a marker removed, as [`strip_marker`] gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrippedValue {
    text: String,
    encode: bool,
}

/// How many times [`strip_marker`] removes a marker that removing one
/// revealed before it empties the value.
const MAX_STRIP_ROUNDS: usize = 8;

/// The longest text of one encoded word: 45 bytes are 60 base64
/// characters, and with `=?UTF-8?B?` and `?=` the word has 72 (RFC 2047
/// allows 75).
const WORD_BYTES: usize = 45;

impl StrippedValue {
    /// The text the reader will see.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The field value to write after the colon (with its leading space,
    /// without the final line break): the text as it is when the field had
    /// no encoded words, else UTF-8 encoded words (RFC 2047 B encoding)
    /// folded with `line_break` when the text is not plain ASCII; encoded
    /// words too whenever the text could be read as an encoded word itself.
    pub fn to_field_value(&self, line_break: &str) -> String {
        // Written as it is only when it cannot be read as an encoded word
        // (removing the marker can join `=` and `?`) and is either 8-bit
        // text as before or plain printable ASCII.
        let plain = !self.text.contains("=?")
            && (!self.encode || self.text.bytes().all(|b| (0x20..0x7F).contains(&b)));
        if plain {
            return if self.text.is_empty() {
                String::new()
            } else {
                format!(" {}", self.text)
            };
        }
        use base64::Engine as _;
        let mut words = Vec::new();
        let mut chunk = String::new();
        for c in self.text.chars() {
            if chunk.len() + c.len_utf8() > WORD_BYTES {
                words.push(std::mem::take(&mut chunk));
            }
            chunk.push(c);
        }
        if !chunk.is_empty() {
            words.push(chunk);
        }
        let mut value = String::new();
        for (index, word) in words.iter().enumerate() {
            if index > 0 {
                value.push_str(line_break);
            }
            value.push_str(" =?UTF-8?B?");
            value.push_str(&base64::engine::general_purpose::STANDARD.encode(word));
            value.push_str("?=");
        }
        value
    }
}

/// `raw_value` (a header field value after the colon) without every
/// occurrence of `marker` that a reader sees in it, or `None` when there is
/// none.
///
/// The marker is found as [`contains_marker`] finds it, in the decoded
/// text; what is removed is the text that shows it (encoded words decoded,
/// invisible characters inside the marker with it), white space is then
/// collapsed. When the value had encoded words, the result is written as
/// encoded words again where it needs to be ([`StrippedValue::to_field_value`]).
///
/// ```
/// use mail_message::shown_text::strip_marker;
/// let stripped = strip_marker(b" =?utf-8?q?=5BVERTR=C3=84ULICH=5D_=C3=84nderung?=", "[vertrÄulich]").unwrap();
/// assert_eq!(stripped.text(), "Änderung");
/// assert_eq!(stripped.to_field_value("\r\n"), " =?UTF-8?B?w4RuZGVydW5n?=");
/// assert!(strip_marker(b" Vertraulichkeit", "[vertraulich]").is_none());
/// ```
pub fn strip_marker(raw_value: &[u8], marker: &str) -> Option<StrippedValue> {
    let marker: Vec<char> = normalize(marker).chars().collect();
    let mut text = remove_marker(&decode_header_value(raw_value), &marker)?;
    // What is left can show the marker again (`[vert[vertraulich]raulich]`):
    // removed until it does not. A value nested deeper than a person
    // writes is emptied instead: its rest would still show the marker, and
    // peeling level by level takes time quadratic in its length.
    let mut rounds = 0;
    while let Some(shorter) = remove_marker(&text, &marker) {
        rounds += 1;
        if rounds > MAX_STRIP_ROUNDS {
            text.clear();
            break;
        }
        text = shorter;
    }
    let encode = raw_value.windows(2).any(|w| w == b"=?");
    Some(StrippedValue { text, encode })
}

/// `shown` without the text that shows each occurrence of `marker` (in
/// normal form) in it, white space collapsed; `None` when there is none.
fn remove_marker(shown: &str, marker: &[char]) -> Option<String> {
    if marker.is_empty() {
        return None;
    }
    let (chars, from) = normalize_mapped(shown);
    let mut remove: Vec<Range<usize>> = Vec::new();
    let mut at = 0;
    while let Some(window) = chars.get(at..at + marker.len()) {
        if window == marker {
            if let (Some(first), Some(last)) = (from.get(at), from.get(at + marker.len() - 1)) {
                let start = remove
                    .last()
                    .map_or(first.start, |r| first.start.max(r.end));
                remove.push(start..last.end.max(start));
            }
            at += marker.len();
        } else {
            at += 1;
        }
    }
    if remove.is_empty() {
        return None;
    }
    let mut kept = String::with_capacity(shown.len());
    let mut position = 0;
    for range in &remove {
        kept.push_str(shown.get(position..range.start).unwrap_or_default());
        position = range.end;
    }
    kept.push_str(shown.get(position..).unwrap_or_default());
    Some(kept.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn invisible_table_is_sorted_and_disjoint() {
        for pair in INVISIBLE.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
        }
        for c in [
            '\u{AD}',
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{E0041}',
        ] {
            assert!(is_invisible(c), "{c:?}");
        }
        for c in ['a', ' ', '\u{A0}', '[', '\u{FF3B}', '\u{307}'] {
            assert!(!is_invisible(c), "{c:?}");
        }
    }

    #[test]
    fn normal_form() {
        assert_eq!(normalize("[VERTRAUL\u{130}CH]"), "[vertraulich]");
        assert_eq!(normalize("[VERTRAULI\u{307}CH]"), "[vertraulich]");
        assert_eq!(normalize("[vertraul\u{131}ch]"), "[vertraulich]");
        assert_eq!(
            normalize("\u{FF3B}\u{FF36}ertraulich\u{FF3D}"),
            "[vertraulich]"
        );
        assert_eq!(
            normalize("[vertra\u{308}ulich]"),
            normalize("[vertr\u{E4}ulich]")
        );
        assert_eq!(normalize("a \t\u{3000} b"), "a b");
        assert_eq!(normalize("\u{200B}"), "");
        assert_eq!(normalize("\u{212A}"), "k");
    }

    proptest::proptest! {
        /// The streaming normal form (bodies) and the mapped one (marker
        /// stripping) are one form.
        #[test]
        fn streaming_and_mapped_normal_forms_agree(text in "(\\PC|[ \t\r\n\u{AD}\u{200B}\u{301}\u{307}İıßＡＺ])*") {
            let normal = normalize(&text);
            let (chars, from) = normalize_mapped(&text);
            proptest::prop_assert_eq!(&normal, &chars.iter().collect::<String>());
            proptest::prop_assert_eq!(chars.len(), from.len());
        }
    }

    #[test]
    fn decoding_takes_linear_time() {
        // Candidates without a terminator, and words that never close: each
        // was a scan to the end of a megabyte.
        let many = "=?a?q?x ".repeat(100_000);
        assert_eq!(decode_header_value(many.as_bytes()), many.trim());
        let started = std::time::Instant::now();
        let open = format!("=?utf-8?q?{}", "=?a ".repeat(200_000));
        assert_eq!(decode_header_value(open.as_bytes()), open.trim());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn decoding_is_lenient_as_clients_are() {
        let cases: [(&[u8], &str); 9] = [
            (b"=?utf-8?b?W3ZlcnRyYXVsaWNoXQ?=", "[vertraulich]"),
            (b"=?utf-8?q?[vertraulich] Akte?=", "[vertraulich] Akte"),
            (b"[vertr=?utf-8?q?aulich?=] Akte", "[vertraulich] Akte"),
            (
                b"=?utf-8?b?W3ZlcnRyYXVsaWNowg==?= =?utf-8?b?rV0=?=",
                "[vertraulich\u{AD}]",
            ),
            (b"=?utf-16le?b?WwB2AA==?= =?UTF-16LE?B?ZQByAA?=", "[ver"),
            (b"=?utf-32be?b?AAAAWwAAAHY=?=", "[v"),
            (b"=?iso-8859-9?q?VERTRAUL=DDCH?=", "VERTRAUL\u{130}CH"),
            (b"=?utf-8?q?a?= b =?utf-8?q?c?=", "a b c"),
            (b"=?bogus", "=?bogus"),
        ];
        for (raw, shown) in cases {
            assert_eq!(
                decode_header_value(raw),
                shown,
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn stripping_removes_what_the_reader_sees() {
        let strip = |raw: &str| {
            strip_marker(raw.as_bytes(), "[vertraulich]").map(|s| s.to_field_value("\r\n"))
        };
        assert_eq!(strip(" [vertraulich] Akte").as_deref(), Some(" Akte"));
        assert_eq!(strip(" Akte [VERTR\u{AD}AULICH]").as_deref(), Some(" Akte"));
        assert_eq!(
            strip(" =?utf-8?q?=5Bvertraulich=5D_Akte?=").as_deref(),
            Some(" Akte")
        );
        assert_eq!(
            strip(" =?utf-8?q?[vertraulich] =3D=3FAkte?=").as_deref(),
            Some(" =?UTF-8?B?PT9Ba3Rl?=")
        );
        assert_eq!(strip(" [vertraulich]").as_deref(), Some(""));
        assert_eq!(strip(" Vertraulichkeit der Akte"), None);
        assert_eq!(
            strip(" [vertraulich] a [VERTRAULICH] b").as_deref(),
            Some(" a b")
        );
        // Removing the tag cannot leave the tag, or an encoded word showing it.
        assert_eq!(
            strip(" [vert[vertraulich]raulich] x").as_deref(),
            Some(" x")
        );
        let mut nested = "[vertraulich]".to_owned();
        for _ in 0..20 {
            nested = format!("[vert{nested}raulich]");
        }
        assert_eq!(strip(&format!(" {nested} x")).as_deref(), Some(""));
        assert_eq!(
            strip(" =[vertraulich]?utf-8?q?=5Bvertraulich=5D?=").as_deref(),
            Some(" =?UTF-8?B?PT91dGYtOD9xPz01QnZlcnRyYXVsaWNoPTVEPz0=?=")
        );
        let long = format!(" =?utf-8?q?=5Bvertraulich=5D?= {}", "\u{C4}".repeat(40));
        let value = strip(&long).unwrap();
        assert!(value.split("\r\n").all(|line| line.len() <= 76), "{value}");
        assert_eq!(decode_header_value(value.as_bytes()), "\u{C4}".repeat(40));
    }
}
