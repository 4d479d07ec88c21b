//! SMTP TLS reports (RFC 8460 section 4): sessions to one policy domain on
//! one day, counted and written in the JSON report format. What a sender
//! does with the report (mail it to the `rua` of the domain's
//! [`crate::TlsRptRecord`], keep it) is the caller's.
//!
//! ```
//! use tls_policy::{TlsReport, rfc8460_result_type};
//!
//! let mut report = TlsReport::new("partner.example");
//! report.add_success();
//! let failure = rfc8460_result_type("TR-03108 tls.available: STARTTLS not offered");
//! report.add_failure(failure, "mx.partner.example", "STARTTLS not offered");
//! let json: serde_json::Value = serde_json::from_str(&report.to_json(
//!     "behoerde.example",
//!     "postmaster@behoerde.example",
//!     "2026-12-03",
//!     "2026-12-03_partner.example_1",
//! ))?;
//! assert_eq!(json["policies"][0]["summary"]["total-failure-session-count"], 1);
//! assert_eq!(json["policies"][0]["failure-details"][0]["result-type"], "starttls-not-supported");
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::BTreeMap;

use serde_json::json;

/// The RFC 8460 result type (section 4.3) for a refused session, from the
/// failed findings of a verdict as text (`REQUIREMENT CHECK: OBSERVED;
/// ...`, as the failed [`crate::Finding`]s of a [`crate::Report`] print).
pub fn rfc8460_result_type(findings: &str) -> &'static str {
    if findings.contains("STARTTLS not offered") {
        "starttls-not-supported"
    } else if findings.contains("certificate.name") {
        "certificate-host-mismatch"
    } else if findings.contains("certificate.") && findings.contains("expired") {
        "certificate-expired"
    } else if findings.contains("certificate.") {
        "certificate-not-trusted"
    } else if findings.contains("dane.") {
        "tlsa-invalid"
    } else {
        "validation-failure"
    }
}

/// The sessions to one policy domain in one reporting period.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsReport {
    policy_domain: String,
    successful: u64,
    /// (result type, receiving MX) -> (count, the last detail seen)
    failures: BTreeMap<(String, String), (u64, String)>,
}

impl TlsReport {
    /// An empty report for `policy_domain`.
    pub fn new(policy_domain: &str) -> TlsReport {
        TlsReport {
            policy_domain: policy_domain.to_owned(),
            ..TlsReport::default()
        }
    }

    /// Counts a successful session.
    pub fn add_success(&mut self) {
        self.successful += 1;
    }

    /// Counts a failed session to `mx` with an RFC 8460 `result_type` and
    /// what was observed (`additional-information` keeps the last one).
    pub fn add_failure(&mut self, result_type: &str, mx: &str, detail: &str) {
        let entry = self
            .failures
            .entry((result_type.to_owned(), mx.to_owned()))
            .or_default();
        entry.0 += 1;
        detail.clone_into(&mut entry.1);
    }

    /// Successful sessions counted.
    pub fn successful(&self) -> u64 {
        self.successful
    }

    /// Failed sessions counted.
    pub fn failed(&self) -> u64 {
        self.failures.values().map(|(count, _)| count).sum()
    }

    /// The report in RFC 8460 JSON for the UTC `day` (`2026-12-03`), by
    /// `organisation` with `contact`, under `report_id`. The policy type is
    /// `no-policy-found`: the sessions were judged by the sender's own
    /// profile, not by an MTA-STS or TLSA policy of the domain.
    pub fn to_json(&self, organisation: &str, contact: &str, day: &str, report_id: &str) -> String {
        let details: Vec<_> = self
            .failures
            .iter()
            .map(|((result_type, mx), (count, detail))| {
                json!({
                    "result-type": result_type,
                    "receiving-mx-hostname": mx,
                    "failed-session-count": count,
                    "additional-information": detail,
                })
            })
            .collect();
        let report = json!({
            "organization-name": organisation,
            "date-range": {
                "start-datetime": format!("{day}T00:00:00Z"),
                "end-datetime": format!("{day}T23:59:59Z"),
            },
            "contact-info": contact,
            "report-id": report_id,
            "policies": [{
                "policy": {
                    "policy-type": "no-policy-found",
                    "policy-domain": self.policy_domain,
                },
                "summary": {
                    "total-successful-session-count": self.successful,
                    "total-failure-session-count": self.failed(),
                },
                "failure-details": details,
            }],
        });
        // A `Value` built by `json!` always serialises.
        serde_json::to_string_pretty(&report).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn findings_map_to_rfc_8460_result_types() {
        assert_eq!(
            rfc8460_result_type("X certificate.name: mx.other.example"),
            "certificate-host-mismatch"
        );
        assert_eq!(
            rfc8460_result_type("X certificate.chain: expired"),
            "certificate-expired"
        );
        assert_eq!(
            rfc8460_result_type("X certificate.chain: unknown issuer"),
            "certificate-not-trusted"
        );
        assert_eq!(rfc8460_result_type("X dane.tlsa: no match"), "tlsa-invalid");
        assert_eq!(
            rfc8460_result_type("X tls.version: TLS 1.0"),
            "validation-failure"
        );
        assert_eq!(
            rfc8460_result_type("TR-03108 tls.available: STARTTLS not offered"),
            "starttls-not-supported"
        );
    }

    #[test]
    fn failures_are_counted_per_result_type_and_mx() {
        let mut report = TlsReport::new("d.example");
        report.add_success();
        report.add_failure("tlsa-invalid", "mx1.d.example", "first");
        report.add_failure("tlsa-invalid", "mx1.d.example", "second");
        report.add_failure("tlsa-invalid", "mx2.d.example", "other");
        assert_eq!((report.successful(), report.failed()), (1, 3));
        let json: serde_json::Value =
            serde_json::from_str(&report.to_json("o", "c", "2026-12-03", "id")).unwrap();
        let details = &json["policies"][0]["failure-details"];
        assert_eq!(details.as_array().unwrap().len(), 2);
        assert_eq!(details[0]["failed-session-count"], 2);
        assert_eq!(details[0]["additional-information"], "second");
        assert_eq!(json["date-range"]["end-datetime"], "2026-12-03T23:59:59Z");
        assert_eq!(json["report-id"], "id");
    }
}
