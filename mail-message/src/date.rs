//! Reading the `Date` field (RFC 5322 section 3.3, with the obsolete forms of
//! section 4.3 that real mail still carries).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The instant a `Date` field value names, or `None` when it is not a date.
///
/// Accepted: an optional day of the week, `day month year`, `hh:mm[:ss]` and
/// a zone (`+hhmm`/`-hhmm`, or the obsolete `UT`, `GMT`, `EST`, `EDT`, `CST`,
/// `CDT`, `MST`, `MDT`, `PST`, `PDT`, and military letters, which RFC 5322
/// says to read as `-0000`); comments in parentheses are ignored; two- and
/// three-digit years are read as section 4.3 says (below 50: 20xx, else
/// 19xx; three digits: + 1900). Dates before 1970 are refused (a signing
/// time cannot be that old).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let date = mail_message::parse_rfc5322_date("Fri, 02 Jan 1970 01:00:00 +0100");
/// assert_eq!(date, Some(UNIX_EPOCH + Duration::from_secs(86_400)));
/// assert_eq!(mail_message::parse_rfc5322_date("yesterday"), None);
/// ```
pub fn parse_rfc5322_date(value: &str) -> Option<SystemTime> {
    let text = without_comments(value);
    let text = match text.split_once(',') {
        Some((weekday, rest)) if weekday.trim().chars().all(|c| c.is_ascii_alphabetic()) => {
            rest.to_owned()
        }
        Some(_) => return None,
        None => text,
    };
    let mut tokens = text.split_ascii_whitespace();
    let day: u64 = number(tokens.next()?, 1, 2)?;
    let month = month(tokens.next()?)?;
    let year_token = tokens.next()?;
    let year: u64 = number(year_token, 2, 4)?;
    let year = match year_token.len() {
        2 if year < 50 => 2000 + year,
        2 => 1900 + year,
        3 => 1900 + year,
        _ => year,
    };
    let time = tokens.next()?;
    let mut parts = time.split(':');
    let hour: u64 = number(parts.next()?, 2, 2)?;
    let minute: u64 = number(parts.next()?, 2, 2)?;
    let second: u64 = match parts.next() {
        Some(s) => number(s, 2, 2)?,
        None => 0,
    };
    if parts.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let offset = zone(tokens.next()?)?;
    if tokens.next().is_some() || year < 1970 || day == 0 || day > days_in(month, year) {
        return None;
    }
    let local = days_from_civil(year, month, day)? * 86_400 + hour * 3600 + minute * 60 + second;
    let utc = i128::from(local) - i128::from(offset);
    let utc = u64::try_from(utc).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(utc))
}

/// `value` with parenthesised comments (nested, with quoted pairs) removed.
fn without_comments(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut depth = 0usize;
    let mut escaped = false;
    for c in value.chars() {
        if depth > 0 {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
        } else if c == '(' {
            depth = 1;
            out.push(' ');
        } else {
            out.push(c);
        }
    }
    out
}

/// A decimal number of `min..=max` ASCII digits.
fn number(token: &str, min: usize, max: usize) -> Option<u64> {
    if token.len() < min || token.len() > max || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    token.parse().ok()
}

fn month(token: &str) -> Option<u64> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let lower = token.to_ascii_lowercase();
    MONTHS
        .iter()
        .position(|m| *m == lower)
        .map(|index| index as u64 + 1)
}

/// The zone's offset from UTC in seconds.
fn zone(token: &str) -> Option<i64> {
    let bytes = token.as_bytes();
    if let [sign @ (b'+' | b'-'), digits @ ..] = bytes {
        if digits.len() != 4 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let value: i64 = token.get(1..)?.parse().ok()?;
        let (hours, minutes) = (value / 100, value % 100);
        if minutes > 59 {
            return None;
        }
        let offset = hours * 3600 + minutes * 60;
        return Some(if *sign == b'-' { -offset } else { offset });
    }
    let hours = match token.to_ascii_uppercase().as_str() {
        "UT" | "GMT" | "Z" => 0,
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        // Military zones: RFC 5322 section 4.3 says their meaning is
        // unreliable and to read them as -0000.
        other if other.len() == 1 && other.bytes().all(|b| b.is_ascii_alphabetic()) => 0,
        _ => return None,
    };
    Some(hours * 3600)
}

fn is_leap(year: u64) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

fn days_in(month: u64, year: u64) -> u64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a date from 1970 on (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * 146_097 + day_of_era).checked_sub(719_468)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn at(seconds: u64) -> Option<SystemTime> {
        Some(UNIX_EPOCH + Duration::from_secs(seconds))
    }

    #[test]
    fn forms_real_mail_uses() {
        // 2026-12-07 17:00:00 UTC = 1_796_662_800.
        let expected = at(1_796_662_800);
        for value in [
            "Mon, 07 Dec 2026 17:00:00 +0000",
            "Mon, 7 Dec 2026 18:00:00 +0100",
            "7 Dec 2026 12:00 EST",
            "Mon, 07 Dec 2026 17:00:00 GMT (Coordinated Universal Time)",
            "Mon,07 Dec 26 17:00:00 UT",
            "mon, 07 DEC 2026 09:00:00 -0800",
        ] {
            assert_eq!(parse_rfc5322_date(value), expected, "{value}");
        }
    }

    #[test]
    fn non_dates_are_none() {
        for value in [
            "",
            "yesterday",
            "Mon, 32 Dec 2026 17:00:00 +0000",
            "Mon, 29 Feb 2026 17:00:00 +0000",
            "Mon, 07 Dec 2026 24:00:00 +0000",
            "Mon, 07 Dec 2026 17:00:00 +01",
            "Mon, 07 Dec 2026 17:00:00",
            "Mon, 07 Dec 1969 17:00:00 +0000",
            "Mon 07, Dec 2026 17:00:00 +0000",
        ] {
            assert_eq!(parse_rfc5322_date(value), None, "{value}");
        }
    }

    proptest! {
        /// Whatever the writer wrote, the reader reads the same instant.
        #[test]
        fn reads_what_rfc5322_date_writes(seconds in 0u64..8_000_000_000) {
            let time = UNIX_EPOCH + Duration::from_secs(seconds);
            prop_assert_eq!(parse_rfc5322_date(&crate::rfc5322_date(time)), Some(time));
        }

        /// No input panics.
        #[test]
        fn any_text_is_judged(text in ".{0,60}") {
            let _ = parse_rfc5322_date(&text);
        }
    }
}
