//! Bounces: delivery status notifications (RFC 3464) in a
//! `multipart/report` (RFC 6522), sent to the envelope sender.

use std::time::{SystemTime, UNIX_EPOCH};

use mail_message::{Entity, one_line, rfc5322_date};

/// One recipient that could not be reached, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// The recipient.
    pub(crate) recipient: String,
    /// An RFC 3463 status code (`5.7.1`).
    pub(crate) status: String,
    /// What the remote server or the gateway said.
    pub(crate) diagnostic: String,
}

/// The bounce for `failures` of a message from `sender`, from
/// `postmaster`, reported by `reporting_mta`. The original's header fields
/// go with it (not its body: it may hold what the policy protects).
pub(crate) fn bounce(
    reporting_mta: &str,
    postmaster: &str,
    sender: &str,
    failures: &[Failure],
    original: &[u8],
    now: SystemTime,
) -> Vec<u8> {
    let stamp = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let boundary = format!("mailgate-dsn-{stamp:x}");
    let headers = Entity::parse(original)
        .map(|entity| {
            entity
                .fields()
                .iter()
                .flat_map(|f| f.raw().iter().copied())
                .collect::<Vec<u8>>()
        })
        .unwrap_or_default();
    let mut text = String::new();
    text.push_str(&format!(
        "From: Mail Delivery System <{}>\r\nTo: <{}>\r\n\
         Subject: Undelivered Mail Returned to Sender\r\nDate: {}\r\n\
         Message-ID: <{stamp:x}.dsn@{}>\r\nAuto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n",
        one_line(postmaster),
        one_line(sender),
        rfc5322_date(now),
        one_line(reporting_mta),
    ));
    text.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Your message could not be delivered to these recipients:\r\n\r\n"
    ));
    for failure in failures {
        text.push_str(&format!(
            "  {}: {}\r\n",
            one_line(&failure.recipient),
            one_line(&failure.diagnostic)
        ));
    }
    text.push_str(&format!(
        "\r\n--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n\
         Reporting-MTA: dns; {}\r\nArrival-Date: {}\r\n",
        one_line(reporting_mta),
        rfc5322_date(now)
    ));
    for failure in failures {
        text.push_str(&format!(
            "\r\nFinal-Recipient: rfc822; {}\r\nAction: failed\r\nStatus: {}\r\n\
             Diagnostic-Code: smtp; {}\r\n",
            one_line(&failure.recipient),
            one_line(&failure.status),
            one_line(&failure.diagnostic)
        ));
    }
    text.push_str(&format!(
        "\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    ));
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(&headers);
    bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_message::{ContentType, Multipart};

    #[test]
    fn a_bounce_is_a_delivery_status_report_without_the_original_body() {
        let original =
            b"From: alice@behoerde.example\r\nSubject: secret plans\r\n\r\nthe secret body\r\n";
        let report = bounce(
            "relay.behoerde.example",
            "postmaster@behoerde.example",
            "alice@behoerde.example",
            &[Failure {
                recipient: "erin@geheim.example".into(),
                status: "5.7.1".into(),
                diagnostic: "550 5.7.1 encryption required\r\nBcc: eve@evil.example".into(),
            }],
            original,
            UNIX_EPOCH,
        );
        let entity = Entity::parse(&report).unwrap();
        let content_type =
            ContentType::parse(&entity.field("content-type").unwrap().value()).unwrap();
        assert_eq!(content_type.mime_type(), "multipart/report");
        assert_eq!(
            content_type.parameter("report-type"),
            Some("delivery-status")
        );
        assert_eq!(entity.count("bcc"), 0);
        let parts =
            Multipart::split(entity.body(), content_type.parameter("boundary").unwrap()).unwrap();
        assert_eq!(parts.parts().len(), 3);
        let status = String::from_utf8_lossy(parts.parts()[1]);
        assert!(status.contains(
            "Final-Recipient: rfc822; erin@geheim.example\r\nAction: failed\r\nStatus: 5.7.1"
        ));
        let text = String::from_utf8_lossy(&report);
        assert!(text.contains("Subject: secret plans"));
        assert!(!text.contains("the secret body"));
        assert!(text.contains("Auto-Submitted: auto-replied"));
    }
}
