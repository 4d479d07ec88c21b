//! RFC 3339 timestamps on the command line (`--at 2024-06-01T12:00:00Z`) and
//! in output.

use std::time::{Duration, SystemTime};

use smime_core::der::DateTime;

/// Formats a time as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn format(time: SystemTime) -> String {
    DateTime::from_system_time(time).map_or_else(|_| "out of range".to_owned(), |t| t.to_string())
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`; a date alone
/// means midnight UTC.
pub(crate) fn parse(text: &str) -> Result<SystemTime, String> {
    let invalid = || format!("`{text}` is not an RFC 3339 time (like 2024-06-01T12:00:00Z)");
    let number = |s: Option<&str>| -> Result<u32, String> {
        s.filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .ok_or_else(invalid)
    };
    let (date, rest) = match text.find(['T', 't', ' ']) {
        Some(index) => (text.get(..index), text.get(index + 1..)),
        None => (Some(text), None),
    };
    let mut date_fields = date.unwrap_or_default().split('-');
    let year = number(date_fields.next())?;
    let month = number(date_fields.next())?;
    let day = number(date_fields.next())?;
    if date_fields.next().is_some() {
        return Err(invalid());
    }
    let (clock, offset_seconds) = match rest {
        None => ("00:00:00", 0i64),
        Some(rest) => {
            if let Some(clock) = rest.strip_suffix(['Z', 'z']) {
                (clock, 0)
            } else {
                let sign_at = rest.rfind(['+', '-']).ok_or_else(invalid)?;
                let (clock, offset) = rest.split_at(sign_at);
                let sign = if offset.starts_with('-') { -1 } else { 1 };
                let mut parts = offset.get(1..).unwrap_or_default().split(':');
                let hours = i64::from(number(parts.next())?);
                let minutes = i64::from(number(parts.next())?);
                if hours > 23 || minutes > 59 {
                    return Err(invalid());
                }
                (clock, sign * (hours * 3600 + minutes * 60))
            }
        }
    };
    // Fractions of a second do not matter for certificate validity.
    let clock = clock.split('.').next().unwrap_or_default();
    let mut clock_fields = clock.split(':');
    let hour = number(clock_fields.next())?;
    let minute = number(clock_fields.next())?;
    let second = number(clock_fields.next())?;
    let narrow = |v: u32| u8::try_from(v).map_err(|_| invalid());
    let year = u16::try_from(year).map_err(|_| invalid())?;
    let utc = DateTime::new(
        year,
        narrow(month)?,
        narrow(day)?,
        narrow(hour)?,
        narrow(minute)?,
        narrow(second)?,
    )
    .map_err(|_| invalid())?
    .to_system_time();
    let shift = Duration::from_secs(offset_seconds.unsigned_abs());
    // A positive offset means local time is ahead of UTC.
    let shifted = if offset_seconds >= 0 {
        utc.checked_sub(shift)
    } else {
        utc.checked_add(shift)
    };
    shifted.ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_utc_offsets_and_dates() {
        let noon = parse("2024-06-01T12:00:00Z").unwrap();
        assert_eq!(format(noon), "2024-06-01T12:00:00Z");
        assert_eq!(parse("2024-06-01T14:00:00+02:00").unwrap(), noon);
        assert_eq!(parse("2024-06-01T07:30:00.25-04:30").unwrap(), noon);
        assert_eq!(format(parse("2024-06-01").unwrap()), "2024-06-01T00:00:00Z");
        for bad in [
            "",
            "2024-13-01T00:00:00Z",
            "2024-06-01T25:00:00Z",
            "yesterday",
            "2024-06-01T12:00:00+2",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
