//! The C entry points called as C would call them, including with the
//! mistakes C callers make.
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::undocumented_unsafe_blocks
)]

use std::ffi::{CStr, CString};

use mailgate::*;

fn last_error() -> String {
    unsafe { CStr::from_ptr(mailgate_last_error()) }
        .to_string_lossy()
        .into_owned()
}

/// A gateway without keys whose policy quarantines mail from spam.example.
fn config() -> (tempfile::TempDir, CString) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[[rules]]\nid = \"spam\"\nwhen = { direction = \"inbound\", sender_domain = \"spam.example\" }\n\
         then = { quarantine = \"spam\" }\n",
    )
    .unwrap();
    let config = dir.path().join("mailgate.toml");
    std::fs::write(
        &config,
        "[gateway]\npolicy = \"policy.toml\"\ndata_dir = \"data\"\npostmaster = \"postmaster@x.example\"\n",
    )
    .unwrap();
    let path = CString::new(config.to_str().unwrap()).unwrap();
    (dir, path)
}

#[test]
fn a_mail_goes_through_and_its_buffers_match_the_json() {
    let (_dir, path) = config();
    let message = b"From: a@spam.example\r\nSubject: Offer\r\n\r\nBuy\r\n";
    unsafe {
        let gateway = mailgate_open(path.as_ptr());
        assert!(!gateway.is_null(), "{}", last_error());
        let envelope = CString::new(
            r#"{"direction":"inbound","from":"a@spam.example","to":["u@x.example","v@x.example"]}"#,
        )
        .unwrap();
        let result = mailgate_process(gateway, envelope.as_ptr(), message.as_ptr(), message.len());
        assert!(!result.is_null(), "{}", last_error());
        let json: serde_json::Value = serde_json::from_str(
            CStr::from_ptr(mailgate_result_json(result))
                .to_str()
                .unwrap(),
        )
        .unwrap();
        let disposition = &json["dispositions"][0];
        assert_eq!(disposition["kind"], "quarantine");
        assert_eq!(
            disposition["recipients"],
            serde_json::json!(["u@x.example", "v@x.example"])
        );
        let index = disposition["message"].as_u64().unwrap() as usize;
        assert_eq!(mailgate_result_buffer_count(result), 1);
        let mut len = 0usize;
        let buffer = mailgate_result_buffer(result, index, &mut len);
        let held = std::slice::from_raw_parts(buffer, len);
        assert!(held.starts_with(b"X-Mailgate-Signature: none\r\n"));
        assert!(held.ends_with(b"Buy\r\n"));
        assert!(mailgate_result_buffer(result, 7, &mut len).is_null());
        mailgate_result_free(result);

        let bad = CString::new(r#"{"direction":"sideways","from":"a","to":[]}"#).unwrap();
        assert!(mailgate_process(gateway, bad.as_ptr(), message.as_ptr(), message.len()).is_null());
        assert!(last_error().contains("sideways"));
        let unknown =
            CString::new(r#"{"direction":"inbound","from":"a","to":[],"cc":[]}"#).unwrap();
        assert!(
            mailgate_process(gateway, unknown.as_ptr(), message.as_ptr(), message.len()).is_null()
        );
        assert!(last_error().contains("cc"));
        mailgate_close(gateway);
    }
}

#[test]
fn one_gateway_serves_threads_at_once() {
    let (_dir, path) = config();
    let gateway = unsafe { mailgate_open(path.as_ptr()) } as usize;
    assert_ne!(gateway, 0, "{}", last_error());
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let envelope = CString::new(format!(
                    r#"{{"direction":"inbound","from":"a@ok.example","to":["u{i}@x.example"]}}"#
                ))
                .unwrap();
                let message = format!("From: a@ok.example\r\n\r\nHello {i}\r\n");
                for _ in 0..20 {
                    unsafe {
                        let result = mailgate_process(
                            gateway as *const MailgateGateway,
                            envelope.as_ptr(),
                            message.as_ptr(),
                            message.len(),
                        );
                        assert!(!result.is_null());
                        let json = CStr::from_ptr(mailgate_result_json(result))
                            .to_string_lossy()
                            .into_owned();
                        assert!(json.contains(&format!("u{i}@x.example")), "{json}");
                        assert!(json.contains("\"kind\":\"deliver\""));
                        mailgate_result_free(result);
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    unsafe { mailgate_close(gateway as *mut MailgateGateway) };
}

#[test]
fn null_and_malformed_arguments_are_errors_not_crashes() {
    unsafe {
        assert!(mailgate_open(std::ptr::null()).is_null());
        assert!(last_error().contains("config_path is NULL"));
        let missing = CString::new("/nonexistent/mailgate.toml").unwrap();
        assert!(mailgate_open(missing.as_ptr()).is_null());
        assert!(last_error().contains("/nonexistent/mailgate.toml"));
        let envelope = CString::new("{}").unwrap();
        assert!(
            mailgate_process(std::ptr::null(), envelope.as_ptr(), std::ptr::null(), 0).is_null()
        );
        assert_eq!(last_error(), "gateway is NULL");
        assert!(mailgate_result_json(std::ptr::null()).is_null());
        assert_eq!(mailgate_result_buffer_count(std::ptr::null()), 0);
        mailgate_result_free(std::ptr::null_mut());
        mailgate_close(std::ptr::null_mut());
    }
}
