//! Pieces of messages the gateway writes itself (notifications, bounces):
//! dates (RFC 5322 section 3.3) and text that must stay on one line.

use std::time::{SystemTime, UNIX_EPOCH};

/// A date as RFC 5322 section 3.3 writes it, in UTC:
/// `Sun, 22 Nov 2026 13:46:24 +0000`.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// let date = mail_message::rfc5322_date(UNIX_EPOCH + Duration::from_secs(86_400));
/// assert_eq!(date, "Fri, 02 Jan 1970 00:00:00 +0000");
/// ```
pub fn rfc5322_date(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let days = seconds / 86_400;
    let (year, month, day) = civil_from_days(days);
    let weekdays = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    let weekday = weekdays.get((days % 7) as usize).copied().unwrap_or("Thu");
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month_name = months.get(month as usize - 1).copied().unwrap_or("Jan");
    let rest = seconds % 86_400;
    format!(
        "{weekday}, {day:02} {month_name} {year} {:02}:{:02}:{:02} +0000",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Text for a header field or one line of a generated message: control
/// characters, line breaks included, become spaces, so that text from a
/// mail or a remote server (a subject, a reason) cannot add header fields.
///
/// ```
/// assert_eq!(mail_message::one_line("Hi\r\nBcc: eve@evil.example"), "Hi  Bcc: eve@evil.example");
/// ```
pub fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_rfc5322() {
        let time = UNIX_EPOCH + Duration::from_secs(1_795_355_184);
        assert_eq!(rfc5322_date(time), "Sun, 22 Nov 2026 13:46:24 +0000");
        assert_eq!(rfc5322_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 +0000");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc5322_date(leap), "Tue, 29 Feb 2000 00:00:00 +0000");
    }
}
