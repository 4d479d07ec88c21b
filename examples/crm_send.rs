//! A CRM sends invoices through the gateway, in-process.
//!
//! The application builds each invoice mail (text and a PDF attachment),
//! hands it with its envelope to [`Gateway::process`], and delivers what
//! comes back. Marked `[vertraulich]`, the policy wants the invoice
//! encrypted: the customer with an S/MIME certificate gets it encrypted (and
//! signed); the customer without any key gets the password-protected PDF
//! fallback, and the password goes to the CRM's sender in a separate
//! notification.
//!
//! ```sh
//! mailgate demo --dir /tmp/gw                     # a complete gateway
//! cargo run -p mailgate-examples --example crm_send -- /tmp/gw/mailgate.toml
//! ```
#![forbid(unsafe_code)]
// An example program reports on standard output.
#![allow(clippy::print_stdout)]

use std::error::Error;
use std::path::PathBuf;

use gateway_facade::audit::{Action, Audit};
use gateway_facade::{Disposition, Envelope, Gateway};
use mail_message::Entity;

// pgp-core selects no OpenPGP backend; the application does.
use sequoia_openpgp as _;

/// The CRM's sender (one of the organisation's keys in the demo).
const SENDER: &str = "alice@behoerde.example";

/// A tiny but valid PDF: what the CRM would render.
const INVOICE_PDF: &[u8] = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n\
2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n\
3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n\
trailer<</Root 1 0 R>>\n%%EOF\n";

/// Text that only the customer may read.
const SECRET_LINE: &str = "Rechnungsbetrag: 12.345,67 EUR";

fn invoice_mail(customer: &str, number: u32) -> Vec<u8> {
    let pdf = mail_message::encode_base64(INVOICE_PDF, mail_message::LineBreak::Crlf);
    let mut mail = format!(
        "From: CRM <{SENDER}>\r\nTo: {customer}\r\n\
         Subject: [vertraulich] Rechnung {number}\r\n\
         Date: Thu, 03 Dec 2026 10:00:00 +0100\r\n\
         Message-ID: <invoice-{number}@crm.behoerde.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"invoice\"\r\n\r\n\
         --invoice\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         Sehr geehrte Damen und Herren,\r\nanbei Ihre Rechnung {number}.\r\n{SECRET_LINE}\r\n\
         --invoice\r\nContent-Type: application/pdf; name=\"rechnung-{number}.pdf\"\r\n\
         Content-Disposition: attachment; filename=\"rechnung-{number}.pdf\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    mail.extend_from_slice(&pdf);
    mail.extend_from_slice(b"--invoice--\r\n");
    mail
}

/// The rule that decided for `recipient` and the actions, from the audit
/// record.
fn decision(audit: &Audit, recipient: &str) -> String {
    let Some(decision) = audit.decision_for(recipient) else {
        return "no decision recorded".to_owned();
    };
    let rule = decision.decided_by.as_deref().unwrap_or("no terminal rule");
    let actions: Vec<&str> = decision.actions.iter().map(|a| a.as_str()).collect();
    let mut text = format!("by {rule}: {}", actions.join(", "));
    // The typed actions say what the policy asked for, not only its words.
    if decision.actions.contains(&Action::Encrypt)
        && let Some(method) = decision.encryption_method
    {
        text.push_str(&format!("; encrypt with {}", method.as_str()));
    }
    text
}

/// The message's Content-Type on one line (folding whitespace collapsed).
fn content_type(message: &[u8]) -> Result<String, Box<dyn Error>> {
    let value = Entity::parse(message)?
        .field("content-type")
        .map(|f| f.value())
        .unwrap_or_else(|| "text/plain".to_owned());
    Ok(value.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn main() -> Result<(), Box<dyn Error>> {
    let config: PathBuf = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or("usage: crm_send DIR/mailgate.toml (make one with `mailgate demo --dir DIR`)")?;
    let gateway = Gateway::from_config_file(&config)?;

    let customers = [
        ("bob@partner.example", "has an S/MIME certificate"),
        ("dave@extern.example", "has no certificate and no key"),
    ];
    for (number, (customer, known)) in (1142..).zip(customers) {
        println!("Invoice {number} to {customer} ({known}):");
        let mail = invoice_mail(customer, number);
        let outcome = gateway.process(&Envelope::outbound(SENDER, [customer]), &mail);
        for disposition in &outcome.dispositions {
            match disposition {
                Disposition::Deliver {
                    recipients,
                    message,
                    transport,
                    notification,
                } => {
                    // Large messages come in a temporary file; an invoice
                    // mail is small, so reading it back is fine here.
                    let message = &message.to_vec()?;
                    println!(
                        "  deliver to {} ({})",
                        recipients.join(", "),
                        decision(&outcome.audit, customer)
                    );
                    println!("    Content-Type: {}", content_type(message)?);
                    if let Some(profile) = &transport.require_tls {
                        println!("    only over TLS meeting {profile}");
                    }
                    // What leaves the CRM must not show the invoice.
                    let leaves = String::from_utf8_lossy(message);
                    let pdf_as_sent = String::from_utf8_lossy(&mail_message::encode_base64(
                        INVOICE_PDF,
                        mail_message::LineBreak::Crlf,
                    ))
                    .into_owned();
                    let pdf_line = pdf_as_sent.lines().next().unwrap_or(SECRET_LINE);
                    if leaves.contains(SECRET_LINE) || leaves.contains(pdf_line) {
                        return Err("the invoice would leave readable".into());
                    }
                    println!("    the invoice is not readable in transit");
                    if let Some(notification) = notification {
                        println!(
                            "    and a notification to {SENDER} with the password ({} bytes): \
                             pass it to the customer by phone",
                            notification.len()
                        );
                    }
                }
                Disposition::Reject {
                    reason,
                    notification,
                    ..
                } => println!(
                    "  refused: {reason} (the CRM tells its user; {} byte notification)",
                    notification.len()
                ),
                Disposition::Defer { reason, .. } => {
                    println!("  try again later: {reason}");
                }
                Disposition::Quarantine { reason, .. } => println!("  held: {reason}"),
            }
        }
    }
    Ok(())
}
