//! Sending the daily TLS reports (RFC 8460 section 3 and 5.3): the policy
//! domain's `_smtp._tls` TXT record names where reports go (`rua`); each
//! finished day's report goes by mail, gzip-compressed, as a
//! `multipart/report; report-type="tlsrpt"` message, queued in the spool like
//! any other delivery (so it is routed, retried and never lost).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flate2::Compression;
use flate2::write::GzEncoder;
use mail_message::{LineBreak, encode_base64, rfc5322_date};
use mailgate_spool::Delivery;
use tls_policy::{Dns, DnsError, TlsRptRecord};

use crate::Relay;

/// How often the relay looks for finished days to report.
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_secs(3600);

/// The report mail (RFC 8460 section 5.3).
pub(crate) fn report_mail(
    submitter: &str,
    from: &str,
    to: &[String],
    domain: &str,
    day: &str,
    report_json: &[u8],
    now: SystemTime,
) -> std::io::Result<Vec<u8>> {
    let mut gzip = GzEncoder::new(Vec::new(), Compression::default());
    gzip.write_all(report_json)?;
    let compressed = gzip.finish()?;
    let stamp = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let report_id = format!("{day}.{domain}.{stamp:x}@{submitter}");
    let boundary = format!("tlsrpt-{stamp:x}");
    let (begin, end) = day_range(day);
    let mut mail = format!(
        "From: {from}\r\nTo: {to}\r\nDate: {date}\r\n\
         Subject: Report Domain: {domain} Submitter: {submitter} Report-ID: <{report_id}>\r\n\
         Message-ID: <{report_id}>\r\nTLS-Report-Domain: {domain}\r\n\
         TLS-Report-Submitter: {submitter}\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n\
         This is an aggregate TLS report (RFC 8460) from {submitter} for {domain}, {day}.\r\n\r\n\
         --{boundary}\r\nContent-Type: application/tlsrpt+gzip\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"{submitter}!{domain}!{begin}!{end}.json.gz\"\r\n\r\n",
        to = to.join(", "),
        date = rfc5322_date(now),
    )
    .into_bytes();
    mail.extend_from_slice(&encode_base64(&compressed, LineBreak::Crlf));
    mail.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok(mail)
}

/// The day's first and last second as Unix times (for the file name).
/// `day` is a `YYYY-MM-DD` the report store wrote; a part that does not
/// read is taken as 1 (as 1970-01-01 when all are missing).
fn day_range(day: &str) -> (u64, u64) {
    let mut parts = day.split('-');
    let year = parts.next().map_or(1970, |p| p.parse::<i32>().unwrap_or(1));
    let mut next = || parts.next().map_or(1, |p| p.parse::<u8>().unwrap_or(1));
    let (month, date) = (next(), next());
    let days = mail_message::date::days_from_civil(year, month, date);
    let begin = u64::try_from(days * 86_400).unwrap_or(0);
    (begin, begin + 86_399)
}

impl Relay {
    /// Queues the reports of finished days for the domains that ask for
    /// them; notes the others as not wanted. A DNS failure leaves a report
    /// for the next round.
    pub(crate) fn send_due_tls_reports(&self, dns: &Arc<dyn Dns>) {
        let Some(reports) = &self.tls_reports else {
            return;
        };
        let now = SystemTime::now();
        let due = match reports.unsent(now) {
            Ok(due) => due,
            Err(error) => {
                tracing::error!(%error, "reading the TLS report directory");
                return;
            }
        };
        for (day, domain) in due {
            let name = format!("_smtp._tls.{domain}");
            let destinations = match dns.txt(&name) {
                Ok(answer) => TlsRptRecord::parse(&answer.records),
                Err(DnsError::NoSuchDomain { .. }) => None,
                Err(error) => {
                    tracing::warn!(%domain, %day, %error, "TLS report not sent yet: no TLSRPT answer");
                    continue;
                }
            };
            let outcome = match destinations {
                Some(destinations) if !destinations.mail.is_empty() => self
                    .queue_tls_report(&day, &domain, &destinations.mail, now)
                    .map(|()| format!("mailto:{}", destinations.mail.join(","))),
                Some(destinations) => Ok(format!(
                    "not sent: only https reporting ({}), which this relay does not do",
                    destinations.https.join(",")
                )),
                None => Ok(format!("not sent: {domain} publishes no TLSRPT record")),
            };
            match outcome.and_then(|what| {
                reports.mark_sent(&day, &domain, &what)?;
                Ok(what)
            }) {
                Ok(what) => tracing::info!(%domain, %day, destination = %what, "TLS report done"),
                Err(error) => tracing::error!(%domain, %day, %error, "TLS report not queued"),
            }
        }
    }

    fn queue_tls_report(
        &self,
        day: &str,
        domain: &str,
        to: &[String],
        now: SystemTime,
    ) -> std::io::Result<()> {
        let Some(reports) = &self.tls_reports else {
            return Ok(());
        };
        let json = reports.report(day, domain)?;
        let mail = report_mail(
            reports.organisation(),
            &self.config.postmaster,
            to,
            domain,
            day,
            &json,
            now,
        )?;
        // From the postmaster, so a failed report comes back to someone.
        let mut delivery = Delivery::new(&self.config.postmaster, to.to_vec());
        delivery.received_at = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        self.spool
            .add_delivery(&delivery, &mail)
            .map_err(std::io::Error::other)?;
        self.notify();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_days_are_named_by_their_unix_seconds() {
        assert_eq!(day_range("1970-01-01"), (0, 86_399));
        // 2026-12-03T00:00:00Z
        assert_eq!(day_range("2026-12-03").0, 1_796_256_000);
    }
}
