//! Dates and times, in one place for the workspace: the civil calendar
//! (days since 1970-01-01 to year, month and day and back), writing and
//! reading the `Date` field (RFC 5322 section 3.3, with the obsolete forms
//! of section 4.3 that real mail still carries), and RFC 3339 UTC
//! timestamps for reports.
//!
//! The calendar is the proleptic Gregorian one, in Howard Hinnant's
//! algorithms (<https://howardhinnant.github.io/date_algorithms.html>):
//! exact integer arithmetic, no tables, no time zone database. Everything
//! here is UTC.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds in a day (no leap seconds: Unix time does not count them).
const DAY: i64 = 86_400;

/// Days since 1970-01-01 of a date in the proleptic Gregorian calendar,
/// negative before it (Hinnant's `days_from_civil`). The date is not
/// checked: [`days_in_month`] says which exist; a month outside `1..=12`
/// counts on from March of the year as the algorithm does.
///
/// ```
/// use mail_message::date::days_from_civil;
/// assert_eq!(days_from_civil(1970, 1, 1), 0);
/// assert_eq!(days_from_civil(2000, 3, 1), 11_017);
/// assert_eq!(days_from_civil(1969, 12, 31), -1);
/// ```
pub fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let month = i64::from(month);
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    // Months counted from March, so that the leap day ends the year.
    let shifted_month = (month + 9) % 12;
    let day_of_year = (153 * shifted_month + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date (year, month `1..=12`, day) that is `days` days after
/// 1970-01-01, before it when negative (Hinnant's `civil_from_days`).
/// Defined for every `i64`: days beyond about ±2.5·10¹⁶ years saturate.
///
/// ```
/// use mail_message::date::civil_from_days;
/// assert_eq!(civil_from_days(0), (1970, 1, 1));
/// assert_eq!(civil_from_days(11_016), (2000, 2, 29));
/// assert_eq!(civil_from_days(-1), (1969, 12, 31));
/// ```
pub fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    // Both in range by construction (1..=31, 1..=12); the fallbacks are
    // never taken.
    let day = u8::try_from(day_of_year - (153 * shifted_month + 2) / 5 + 1).unwrap_or(1);
    let month = u8::try_from(if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    })
    .unwrap_or(1);
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Whether `year` has a 29 February.
pub fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// How many days `month` (`1..=12`) of `year` has; `None` for a month
/// that does not exist.
///
/// ```
/// use mail_message::date::days_in_month;
/// assert_eq!(days_in_month(2028, 2), Some(29));
/// assert_eq!(days_in_month(2100, 2), Some(28));
/// assert_eq!(days_in_month(2026, 13), None);
/// ```
pub fn days_in_month(year: i64, month: u8) -> Option<u8> {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => Some(31),
        4 | 6 | 9 | 11 => Some(30),
        2 if is_leap_year(year) => Some(29),
        2 => Some(28),
        _ => None,
    }
}

/// Seconds since the Unix epoch, negative before it (certificate dates
/// can be); saturating at the ends of `i64`.
pub fn unix_seconds(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_secs()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// An RFC 3339 UTC timestamp, `2026-11-22T13:52:13Z`, of `seconds` since
/// the Unix epoch (negative before it).
///
/// ```
/// assert_eq!(mail_message::date::rfc3339(1_893_456_000), "2030-01-01T00:00:00Z");
/// ```
pub fn rfc3339(seconds: i64) -> String {
    let (year, month, day) = civil_from_days(seconds.div_euclid(DAY));
    let rest = seconds.rem_euclid(DAY);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Reads an RFC 3339 timestamp, `YYYY-MM-DDTHH:MM:SS[.fraction]` with `Z`
/// or a `+HH:MM`/`-HH:MM` offset (a space or lower-case `t` and `z` are
/// accepted too, as section 5.6 allows); a date alone means midnight UTC.
/// Fractions of a second are dropped. Years 1970 to 9999 (the range of an
/// X.509 time); anything else, or a date that does not exist, is `None`.
///
/// ```
/// use mail_message::date::{parse_rfc3339, rfc3339, unix_seconds};
/// let noon = parse_rfc3339("2024-06-01T14:00:00+02:00").unwrap();
/// assert_eq!(rfc3339(unix_seconds(noon)), "2024-06-01T12:00:00Z");
/// assert_eq!(parse_rfc3339("2024-02-30"), None);
/// ```
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let digits = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (date, rest) = match text.find(['T', 't', ' ']) {
        Some(index) => (text.get(..index)?, Some(text.get(index + 1..)?)),
        None => (text, None),
    };
    let mut date_fields = date.split('-');
    let year = digits(date_fields.next()?)?;
    let month = u8::try_from(digits(date_fields.next()?)?).ok()?;
    let day = digits(date_fields.next()?)?;
    if date_fields.next().is_some() || !(1970..=9999).contains(&year) {
        return None;
    }
    let year = i32::try_from(year).ok()?;
    let last_day = days_in_month(i64::from(year), month)?;
    if day == 0 || day > u64::from(last_day) {
        return None;
    }
    let (clock, offset) = match rest {
        None => ("00:00:00", 0i64),
        Some(rest) => match rest.strip_suffix(['Z', 'z']) {
            Some(clock) => (clock, 0),
            None => {
                let (clock, offset) = rest.split_at(rest.rfind(['+', '-'])?);
                let sign = if offset.starts_with('-') { -1 } else { 1 };
                let (hours, minutes) = offset.get(1..)?.split_once(':')?;
                let (hours, minutes) = (digits(hours)?, digits(minutes)?);
                if hours > 23 || minutes > 59 {
                    return None;
                }
                (
                    clock,
                    sign * i64::try_from(hours * 3600 + minutes * 60).ok()?,
                )
            }
        },
    };
    let clock = clock.split('.').next()?;
    let mut clock_fields = clock.split(':');
    let hour = digits(clock_fields.next()?)?;
    let minute = digits(clock_fields.next()?)?;
    let second = digits(clock_fields.next()?)?;
    if clock_fields.next().is_some() || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let days = days_from_civil(year, month, u8::try_from(day).ok()?);
    let local = days * DAY + i64::try_from(hour * 3600 + minute * 60 + second).ok()?;
    let utc = u64::try_from(local - offset).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(utc))
}

/// A date as RFC 5322 section 3.3 writes it, in UTC:
/// `Sun, 22 Nov 2026 13:46:24 +0000`. A time before 1970 is written as
/// 1970-01-01 00:00:00 (the gateway dates what it writes now).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let date = mail_message::rfc5322_date(UNIX_EPOCH + Duration::from_secs(86_400));
/// assert_eq!(date, "Fri, 02 Jan 1970 00:00:00 +0000");
/// ```
pub fn rfc5322_date(time: SystemTime) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let seconds = unix_seconds(time).max(0);
    let days = seconds / DAY;
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = WEEKDAYS
        .get(usize::try_from(days % 7).unwrap_or(0))
        .copied()
        .unwrap_or("Thu");
    let month_name = MONTHS.get(usize::from(month) - 1).copied().unwrap_or("Jan");
    let rest = seconds % DAY;
    format!(
        "{weekday}, {day:02} {month_name} {year} {:02}:{:02}:{:02} +0000",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The month names of RFC 5322 section 3.3, as written (read in any
/// case).
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

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
    let days_in_month = days_in_month(i64::try_from(year).ok()?, month)?;
    if tokens.next().is_some() || year < 1970 || day == 0 || day > u64::from(days_in_month) {
        return None;
    }
    // The year has at most four digits and the day is checked, so both fit.
    let days = days_from_civil(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?);
    let local = i128::from(days) * 86_400 + i128::from(hour * 3600 + minute * 60 + second);
    let utc = local - i128::from(offset);
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

fn month(token: &str) -> Option<u8> {
    let index = MONTHS.iter().position(|m| m.eq_ignore_ascii_case(token))?;
    u8::try_from(index + 1).ok()
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc3339_reads_offsets_dates_and_refuses_what_is_not_a_time() {
        let noon = parse_rfc3339("2024-06-01T12:00:00Z").unwrap();
        assert_eq!(rfc3339(unix_seconds(noon)), "2024-06-01T12:00:00Z");
        assert_eq!(parse_rfc3339("2024-06-01T14:00:00+02:00"), Some(noon));
        assert_eq!(parse_rfc3339("2024-06-01T07:30:00.25-04:30"), Some(noon));
        assert_eq!(parse_rfc3339("2024-06-01 12:00:00z"), Some(noon));
        let midnight = parse_rfc3339("2024-06-01").unwrap();
        assert_eq!(rfc3339(unix_seconds(midnight)), "2024-06-01T00:00:00Z");
        for bad in [
            "",
            "2024-13-01T00:00:00Z",
            "2024-02-30",
            "2023-02-29",
            "2024-06-01T25:00:00Z",
            "2024-06-01T12:00:60Z",
            "yesterday",
            "2024-06-01T12:00:00+2",
            "2024-06-01T12:00:00+24:00",
            "1969-12-31T23:59:59Z",
            "10000-01-01",
            "2024-06-01T12:00Z",
            "2024-06-01T12:00:00:00Z",
            "+2024-06-01",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    proptest! {
        /// What `rfc3339` writes, `parse_rfc3339` reads back to the second.
        #[test]
        fn rfc3339_round_trips(seconds in 0i64..253_402_300_800) {
            let text = rfc3339(seconds);
            let read = parse_rfc3339(&text).unwrap();
            prop_assert_eq!(unix_seconds(read), seconds);
        }
    }

    fn at(seconds: u64) -> Option<SystemTime> {
        Some(UNIX_EPOCH + Duration::from_secs(seconds))
    }

    #[test]
    fn dates_are_rfc5322() {
        let time = UNIX_EPOCH + Duration::from_secs(1_795_355_184);
        assert_eq!(rfc5322_date(time), "Sun, 22 Nov 2026 13:46:24 +0000");
        assert_eq!(rfc5322_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 +0000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc5322_date(leap), "Tue, 29 Feb 2000 00:00:00 +0000");
        let before = UNIX_EPOCH - Duration::from_secs(1);
        assert_eq!(rfc5322_date(before), "Thu, 01 Jan 1970 00:00:00 +0000");
    }

    #[test]
    fn rfc3339_timestamps() {
        assert_eq!(rfc3339(1_893_456_000), "2030-01-01T00:00:00Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(1_795_355_184), "2026-11-22T13:46:24Z");
    }

    /// The RFC 5322 writer as it was before the calendar moved here
    /// (unsigned arithmetic, its own names): the reference the shared
    /// calendar must match byte for byte.
    fn rfc5322_date_reference(seconds: u64) -> String {
        let days = seconds / 86_400;
        let z = days + 719_468;
        let era = z / 146_097;
        let doe = z % 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + u64::from(month <= 2);
        let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
        let months = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        let rest = seconds % 86_400;
        format!(
            "{}, {day:02} {} {year} {:02}:{:02}:{:02} +0000",
            weekdays[(days % 7) as usize],
            months[month as usize - 1],
            rest / 3600,
            rest % 3600 / 60,
            rest % 60
        )
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
            prop_assert_eq!(parse_rfc5322_date(&rfc5322_date(time)), Some(time));
        }

        /// The writer is byte for byte the one the gateway had before the
        /// calendar was shared.
        #[test]
        fn rfc5322_date_is_unchanged(seconds in 0u64..1_000_000_000_000) {
            let time = UNIX_EPOCH + Duration::from_secs(seconds);
            prop_assert_eq!(rfc5322_date(time), rfc5322_date_reference(seconds));
        }

        /// days -> civil -> days is the identity, and the date is one
        /// that exists, for any day from far before to far after today.
        #[test]
        fn days_civil_days_round_trips(days in -1_000_000_000i64..1_000_000_000) {
            let (year, month, day) = civil_from_days(days);
            prop_assert!((1..=12).contains(&month));
            prop_assert!(day >= 1 && Some(day) <= days_in_month(year, month));
            let year = i32::try_from(year).unwrap();
            prop_assert_eq!(days_from_civil(year, month, day), days);
        }

        /// civil -> days -> civil is the identity for every date that
        /// exists, and the next date is the next day.
        #[test]
        fn civil_days_civil_round_trips(year in -100_000i32..100_000, month in 1u8..=12, day in 1u8..=31) {
            prop_assume!(Some(day) <= days_in_month(i64::from(year), month));
            let days = days_from_civil(year, month, day);
            prop_assert_eq!(civil_from_days(days), (i64::from(year), month, day));
            let (next_year, next_month, next_day) = civil_from_days(days + 1);
            let expected = if Some(day) < days_in_month(i64::from(year), month) {
                (i64::from(year), month, day + 1)
            } else if month < 12 {
                (i64::from(year), month + 1, 1)
            } else {
                (i64::from(year) + 1, 1, 1)
            };
            prop_assert_eq!((next_year, next_month, next_day), expected);
        }

        /// An RFC 3339 timestamp names the day and time it was made from.
        #[test]
        fn rfc3339_names_its_day(seconds in -100_000_000_000i64..100_000_000_000) {
            let text = rfc3339(seconds);
            let (year, month, day) = civil_from_days(seconds.div_euclid(86_400));
            let prefix = format!("{year:04}-{month:02}-{day:02}T");
            prop_assert!(text.starts_with(&prefix), "{} {}", text, prefix);
            let clock = seconds.rem_euclid(86_400);
            let suffix = format!("{:02}:{:02}:{:02}Z", clock / 3600, clock % 3600 / 60, clock % 60);
            prop_assert!(text.ends_with(&suffix));
        }

        /// No civil_from_days input panics, however far out.
        #[test]
        fn any_day_count_is_a_date(days in any::<i64>()) {
            let (_, month, day) = civil_from_days(days);
            prop_assert!((1..=12).contains(&month) && (1..=31).contains(&day));
        }

        /// No input panics.
        #[test]
        fn any_text_is_judged(text in ".{0,60}") {
            let _ = parse_rfc5322_date(&text);
        }
    }
}
