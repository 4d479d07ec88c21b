//! SMTP TLS reporting (RFC 8460): what the relay saw of its TLS sessions,
//! aggregated per UTC day and recipient domain into the JSON report format.
//!
//! Every judged TLS session (a delivery the policy allows only over TLS) is
//! appended to `DIR/events-DAY.jsonl`; the day's report for the domain,
//! `DIR/DAY/DOMAIN.json`, is rewritten after each event (written aside,
//! then renamed), so it is complete when the day is over. Sending the
//! reports (to the `rua` of the domain's `_smtp._tls` record) is left to
//! the operator.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tls_policy::TlsReport;

/// One TLS session as RFC 8460 counts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Session {
    /// The recipient domain (the policy domain).
    pub(crate) domain: String,
    /// The host the relay connected to.
    pub(crate) mx: String,
    /// `None` for a successful session, else the RFC 8460 result type.
    pub(crate) failure: Option<String>,
    /// What the check said, for `additional-information`.
    pub(crate) detail: String,
}

/// Days as RFC 3339 dates (`2026-12-03`).
fn day_of(time: SystemTime) -> String {
    let date = mail_message::rfc5322_date(time);
    // "Thu, 03 Dec 2026 ..." -> 2026-12-03
    let parts: Vec<&str> = date.split_whitespace().collect();
    let month = match parts.get(2).copied() {
        Some("Jan") => 1,
        Some("Feb") => 2,
        Some("Mar") => 3,
        Some("Apr") => 4,
        Some("May") => 5,
        Some("Jun") => 6,
        Some("Jul") => 7,
        Some("Aug") => 8,
        Some("Sep") => 9,
        Some("Oct") => 10,
        Some("Nov") => 11,
        _ => 12,
    };
    format!(
        "{}-{month:02}-{}",
        parts.get(3).copied().unwrap_or("1970"),
        parts.get(1).copied().unwrap_or("01")
    )
}

/// The relay's TLS report book.
pub(crate) struct TlsReports {
    dir: PathBuf,
    organisation: String,
    contact: String,
    tallies: Mutex<BTreeMap<(String, String), TlsReport>>,
}

impl TlsReports {
    pub(crate) fn new(dir: &Path, organisation: &str, contact: &str) -> io::Result<TlsReports> {
        fs::create_dir_all(dir)?;
        Ok(TlsReports {
            dir: dir.to_owned(),
            organisation: organisation.to_owned(),
            contact: contact.to_owned(),
            tallies: Mutex::new(BTreeMap::new()),
        })
    }

    /// Records one session and rewrites that day's report for its domain.
    pub(crate) fn record(&self, session: &Session, now: SystemTime) -> io::Result<()> {
        let day = day_of(now);
        let mut tallies = self.tallies.lock().unwrap_or_else(|p| p.into_inner());
        let key = (day.clone(), session.domain.clone());
        if !tallies.contains_key(&key) {
            // First event of this day and domain since start: what an
            // earlier run recorded counts too.
            let earlier = self.replay(&day, &session.domain)?;
            tallies.insert(key.clone(), earlier);
        }
        let mut events = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("events-{day}.jsonl")))?;
        writeln!(events, "{}", serde_json::to_string(session)?)?;
        let tally = tallies
            .entry(key)
            .or_insert_with(|| TlsReport::new(&session.domain));
        add(tally, session);
        self.write_report(&day, &session.domain, tally, now)
    }

    fn replay(&self, day: &str, domain: &str) -> io::Result<TlsReport> {
        let mut tally = TlsReport::new(domain);
        let file = match fs::File::open(self.dir.join(format!("events-{day}.jsonl"))) {
            Ok(file) => file,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(tally),
            Err(error) => return Err(error),
        };
        for line in BufReader::new(file).lines() {
            // A line cut by a crash is skipped, not fatal.
            if let Ok(session) = serde_json::from_str::<Session>(&line?)
                && session.domain == domain
            {
                add(&mut tally, &session);
            }
        }
        Ok(tally)
    }

    fn write_report(
        &self,
        day: &str,
        domain: &str,
        tally: &TlsReport,
        now: SystemTime,
    ) -> io::Result<()> {
        let report_id = format!(
            "{day}_{domain}_{}",
            now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
        );
        let report = tally.to_json(&self.organisation, &self.contact, day, &report_id);
        let day_dir = self.dir.join(day);
        fs::create_dir_all(&day_dir)?;
        let target = day_dir.join(format!("{domain}.json"));
        let aside = day_dir.join(format!(".{domain}.json.tmp"));
        fs::write(&aside, report)?;
        fs::rename(&aside, &target)
    }
}

impl TlsReports {
    /// Reports of days before `now`'s that were not sent yet: (day,
    /// domain), oldest first.
    pub(crate) fn unsent(&self, now: SystemTime) -> io::Result<Vec<(String, String)>> {
        let today = day_of(now);
        let mut due = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let entry = entry?;
            let day = entry.file_name().to_string_lossy().into_owned();
            // Day directories only (`2026-12-03`); the event files sit beside them.
            if !entry.file_type()?.is_dir() || day.len() != 10 || day >= today {
                continue;
            }
            for report in fs::read_dir(entry.path())? {
                let name = report?.file_name().to_string_lossy().into_owned();
                if let Some(domain) = name.strip_suffix(".json")
                    && !domain.starts_with('.')
                    && !entry.path().join(format!("{name}.sent")).exists()
                {
                    due.push((day.clone(), domain.to_owned()));
                }
            }
        }
        due.sort();
        Ok(due)
    }

    /// The report of `domain` on `day` as written.
    pub(crate) fn report(&self, day: &str, domain: &str) -> io::Result<Vec<u8>> {
        fs::read(self.dir.join(day).join(format!("{domain}.json")))
    }

    /// Notes that the report was dealt with (`what`: where it went, or why
    /// it went nowhere), so it is not sent again.
    pub(crate) fn mark_sent(&self, day: &str, domain: &str, what: &str) -> io::Result<()> {
        fs::write(
            self.dir.join(day).join(format!("{domain}.json.sent")),
            format!("{what}\n"),
        )
    }

    /// The organisation named in the reports.
    pub(crate) fn organisation(&self) -> &str {
        &self.organisation
    }
}

fn add(tally: &mut TlsReport, session: &Session) {
    match &session.failure {
        None => tally.add_success(),
        Some(result_type) => tally.add_failure(result_type, &session.mx, &session.detail),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sessions_add_up_per_day_and_domain_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_796_256_000 + 3_600); // 2026-12-03 01:00
        let failed = Session {
            domain: "secure.example".into(),
            mx: "mx.secure.example".into(),
            failure: Some(
                tls_policy::rfc8460_result_type("TR-03108 tls.available: STARTTLS not offered")
                    .into(),
            ),
            detail: "STARTTLS not offered".into(),
        };
        let ok = Session {
            failure: None,
            ..failed.clone()
        };
        let first = TlsReports::new(
            dir.path(),
            "behoerde.example",
            "postmaster@behoerde.example",
        )
        .unwrap();
        first.record(&failed, now).unwrap();
        first.record(&failed, now).unwrap();
        // A restart: the new book counts on from what is on disk.
        let second = TlsReports::new(
            dir.path(),
            "behoerde.example",
            "postmaster@behoerde.example",
        )
        .unwrap();
        second.record(&ok, now).unwrap();
        let report: serde_json::Value = serde_json::from_slice(
            &fs::read(dir.path().join("2026-12-03/secure.example.json")).unwrap(),
        )
        .unwrap();
        let policy = &report["policies"][0];
        assert_eq!(policy["policy"]["policy-domain"], "secure.example");
        assert_eq!(policy["summary"]["total-successful-session-count"], 1);
        assert_eq!(policy["summary"]["total-failure-session-count"], 2);
        assert_eq!(
            policy["failure-details"][0]["result-type"],
            "starttls-not-supported"
        );
        assert_eq!(policy["failure-details"][0]["failed-session-count"], 2);
        assert_eq!(
            report["date-range"]["start-datetime"],
            "2026-12-03T00:00:00Z"
        );
    }
}
