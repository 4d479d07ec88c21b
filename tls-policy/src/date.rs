//! Calendar dates for the "use until" columns of the guidelines, compared
//! against the check time.

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A calendar date (UTC), written `YYYY-MM-DD` in profiles and reports.
///
/// An item allowed `until` a date may be used up to the end of that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: i32,
    month: u8,
    day: u8,
}

/// A date that is not `YYYY-MM-DD` or not in the calendar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date '{0}' (expected YYYY-MM-DD)")]
pub struct InvalidDate(pub String);

impl Date {
    /// The date, if it exists in the calendar.
    pub fn new(year: i32, month: u8, day: u8) -> Option<Date> {
        let days_in_month = mail_message::date::days_in_month(i64::from(year), month)?;
        (1..=days_in_month)
            .contains(&day)
            .then_some(Date { year, month, day })
    }

    /// Days since 1970-01-01 (the workspace's one calendar,
    /// [`mail_message::date`]).
    fn days_since_epoch(self) -> i64 {
        mail_message::date::days_from_civil(self.year, self.month, self.day)
    }

    /// The first instant after this day (UTC): an item allowed until this
    /// date is no longer allowed from then on.
    pub fn end(self) -> SystemTime {
        let seconds = (self.days_since_epoch() + 1).saturating_mul(86_400);
        match u64::try_from(seconds) {
            Ok(seconds) => UNIX_EPOCH + Duration::from_secs(seconds),
            Err(_) => UNIX_EPOCH,
        }
    }

    /// Whether `time` falls on or before this day.
    pub fn covers(self, time: SystemTime) -> bool {
        time < self.end()
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

impl FromStr for Date {
    type Err = InvalidDate;
    fn from_str(text: &str) -> Result<Date, InvalidDate> {
        let invalid = || InvalidDate(text.to_owned());
        let mut parts = text.splitn(3, '-');
        let mut next = || parts.next().ok_or_else(invalid);
        let (year, month, day) = (next()?, next()?, next()?);
        if year.len() != 4 || month.len() != 2 || day.len() != 2 {
            return Err(invalid());
        }
        let year = year.parse().map_err(|_| invalid())?;
        let month = month.parse().map_err(|_| invalid())?;
        let day = day.parse().map_err(|_| invalid())?;
        Date::new(year, month, day).ok_or_else(invalid)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        // TOML has a native date type; accept it as well as a string.
        let value = toml::Value::deserialize(deserializer)?;
        let text = match value {
            toml::Value::String(text) => text,
            toml::Value::Datetime(datetime) => datetime.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected a date, got {other}"
                )));
            }
        };
        text.parse().map_err(serde::de::Error::custom)
    }
}

// Seconds since the epoch and RFC 3339 timestamps for reports and
// certificate dates: the workspace's one calendar.
pub(crate) use mail_message::date::{rfc3339, unix_seconds};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_parse_and_end_at_midnight_after_the_day() {
        let date: Date = "2029-12-31".parse().unwrap();
        assert_eq!(date.to_string(), "2029-12-31");
        // 2030-01-01T00:00:00Z
        assert_eq!(unix_seconds(date.end()), 1_893_456_000);
        assert!(date.covers(UNIX_EPOCH + Duration::from_secs(1_893_455_999)));
        assert!(!date.covers(UNIX_EPOCH + Duration::from_secs(1_893_456_000)));
        assert_eq!(rfc3339(1_893_456_000), "2030-01-01T00:00:00Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn invalid_dates_are_rejected() {
        for text in [
            "2029-02-30",
            "2029-13-01",
            "29-01-01",
            "2029-1-01",
            "",
            "2029-01-01-",
        ] {
            assert!(text.parse::<Date>().is_err(), "{text}");
        }
        assert!("2028-02-29".parse::<Date>().is_ok());
    }
}
