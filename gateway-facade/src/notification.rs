//! Mails the gateway writes itself: notifications to the sender.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::certificates::hex;

/// What a notification is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Notice<'a> {
    pub(crate) postmaster: &'a str,
    pub(crate) sender: &'a str,
    pub(crate) subject: Option<&'a str>,
    pub(crate) recipients: &'a [String],
    pub(crate) headline: &'a str,
    pub(crate) reason: &'a str,
    pub(crate) template: Option<&'a str>,
    /// Extra paragraphs (for example how to pass a password on).
    pub(crate) details: &'a [String],
}

impl Notice<'_> {
    /// The notification as an RFC 5322 message (UTF-8 text, CRLF).
    pub(crate) fn render(&self, now: SystemTime) -> Vec<u8> {
        let subject = self.subject.unwrap_or("(no subject)");
        let domain = self
            .postmaster
            .rsplit_once('@')
            .map_or("localhost", |(_, d)| d);
        let mut id = [0u8; 12];
        // A message id only has to be unique; a clock-based fallback is
        // enough if the system RNG is unavailable.
        if getrandom::fill(&mut id).is_err() {
            let nanos = now
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos();
            id.copy_from_slice(&nanos.to_be_bytes()[4..]);
        }
        let mut text = String::new();
        text.push_str(&format!("From: Mail gateway <{}>\r\n", self.postmaster));
        text.push_str(&format!("To: <{}>\r\n", self.sender));
        text.push_str(&format!(
            "Subject: {}: {}\r\n",
            self.headline,
            one_line(subject)
        ));
        text.push_str(&format!("Date: {}\r\n", rfc5322_date(now)));
        text.push_str(&format!("Message-ID: <{}@{domain}>\r\n", hex(&id)));
        text.push_str("Auto-Submitted: auto-replied\r\n");
        text.push_str("MIME-Version: 1.0\r\n");
        text.push_str("Content-Type: text/plain; charset=utf-8\r\n");
        text.push_str("Content-Transfer-Encoding: 8bit\r\n\r\n");
        text.push_str(&format!(
            "{}: your message \"{}\"\r\nto\r\n",
            self.headline,
            one_line(subject)
        ));
        for recipient in self.recipients {
            text.push_str(&format!("    {recipient}\r\n"));
        }
        text.push_str(&format!("\r\nReason: {}\r\n", one_line(self.reason)));
        for detail in self.details {
            text.push_str(&format!("\r\n{detail}\r\n"));
        }
        if let Some(template) = self.template {
            text.push_str(&format!("\r\n(notice: {template})\r\n"));
        }
        text.into_bytes()
    }
}

fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `Sun, 22 Nov 2026 13:46:24 +0000`.
pub(crate) fn rfc5322_date(time: SystemTime) -> String {
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

    #[test]
    fn notices_cannot_inject_header_fields() {
        let recipients = vec!["bob@x.example".to_owned()];
        let notice = Notice {
            postmaster: "postmaster@behoerde.example",
            sender: "alice@behoerde.example",
            subject: Some("Hi\r\nBcc: eve@evil.example"),
            recipients: &recipients,
            headline: "Not delivered",
            reason: "no key",
            template: Some("no-key"),
            details: &[],
        };
        let text = String::from_utf8(notice.render(SystemTime::now())).unwrap_or_default();
        let header = text.split("\r\n\r\n").next().unwrap_or_default();
        assert!(!header.contains("\r\nBcc:"), "{header}");
        assert!(text.contains("    bob@x.example\r\n"));
        assert!(text.contains("Reason: no key"));
    }
}
