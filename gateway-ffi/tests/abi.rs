//! The C entry points called as C would call them, including with the
//! mistakes C callers make: NULL, stale handles (double free, use after
//! close), impossible lengths.
#![allow(
    unsafe_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::undocumented_unsafe_blocks
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::ffi::{CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use mailgate::*;
use proptest::strategy::Strategy as _;

/// The allocator of this test binary: while `WATCHING`, every block freed
/// is searched for `SECRET`, so a test sees whether plaintext is left in
/// memory that `mailgate_result_free` releases.
struct Watching;

static WATCHING: AtomicBool = AtomicBool::new(false);
static FREED_WITH_SECRET: AtomicUsize = AtomicUsize::new(0);
static FREED_WHILE_WATCHING: AtomicUsize = AtomicUsize::new(0);
const SECRET: &[u8] = b"Kontostand-7f3a9c-streng-vertraulich";

unsafe impl GlobalAlloc for Watching {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if WATCHING.load(Ordering::SeqCst) {
            FREED_WHILE_WATCHING.fetch_add(1, Ordering::SeqCst);
            // No allocation in here: a plain scan of the block.
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            if block.windows(SECRET.len()).any(|w| w == SECRET) {
                FREED_WITH_SECRET.fetch_add(1, Ordering::SeqCst);
            }
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Watching = Watching;

/// The handle tables are global: tests that reason about slot reuse, and
/// the allocator watch, must not interleave with other tests.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

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
         then = { quarantine = \"spam\" }\n\n[default]\nthen = { deliver = true }\n",
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

fn open(path: &CString) -> MailgateGateway {
    let mut gateway = MailgateGateway { id: 7 };
    let status = unsafe { mailgate_open(path.as_ptr(), &mut gateway) };
    assert_eq!(status, MailgateStatus::Ok, "{}", last_error());
    assert_ne!(gateway.id, 0);
    gateway
}

fn process(gateway: MailgateGateway, envelope: &str, message: &[u8]) -> MailgateResult {
    let envelope = CString::new(envelope).unwrap();
    let mut result = MailgateResult { id: 7 };
    let status = unsafe {
        mailgate_process(
            gateway,
            envelope.as_ptr(),
            message.as_ptr(),
            message.len(),
            &mut result,
        )
    };
    assert_eq!(status, MailgateStatus::Ok, "{}", last_error());
    result
}

const INBOUND: &str = r#"{"direction":"inbound","from":"a@ok.example","to":["u@x.example"]}"#;

#[test]
fn a_mail_goes_through_and_its_buffers_match_the_json() {
    let _serial = serial();
    let (_dir, path) = config();
    let message = b"From: a@spam.example\r\nSubject: Offer\r\n\r\nBuy\r\n";
    let gateway = open(&path);
    let result = process(
        gateway,
        r#"{"direction":"inbound","from":"a@spam.example","to":["u@x.example","v@x.example"]}"#,
        message,
    );
    let json: serde_json::Value = serde_json::from_str(
        unsafe { CStr::from_ptr(mailgate_result_json(result)) }
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
    let buffer = unsafe { mailgate_result_buffer(result, index, &mut len) };
    let held = unsafe { std::slice::from_raw_parts(buffer, len) };
    assert!(held.starts_with(b"X-Mailgate-Signature: none\r\n"));
    assert!(held.ends_with(b"Buy\r\n"));
    assert!(unsafe { mailgate_result_buffer(result, 7, &mut len) }.is_null());
    assert!(last_error().contains("no buffer 7"));
    assert_eq!(mailgate_result_free(result), MailgateStatus::Ok);

    for (envelope, error) in [
        (r#"{"direction":"sideways","from":"a","to":[]}"#, "sideways"),
        (
            r#"{"direction":"inbound","from":"a","to":[],"cc":[]}"#,
            "cc",
        ),
    ] {
        let envelope = CString::new(envelope).unwrap();
        let mut result = MailgateResult { id: 7 };
        let status = unsafe {
            mailgate_process(
                gateway,
                envelope.as_ptr(),
                message.as_ptr(),
                message.len(),
                &mut result,
            )
        };
        assert_eq!(status, MailgateStatus::InvalidArgument);
        assert_eq!(result.id, 0, "no handle on failure");
        assert!(last_error().contains(error), "{}", last_error());
    }
    assert_eq!(mailgate_close(gateway), MailgateStatus::Ok);
}

#[test]
fn one_gateway_serves_threads_at_once() {
    let _serial = serial();
    let (_dir, path) = config();
    let gateway = open(&path);
    let threads: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                let envelope = format!(
                    r#"{{"direction":"inbound","from":"a@ok.example","to":["u{i}@x.example"]}}"#
                );
                let message = format!("From: a@ok.example\r\n\r\nHello {i}\r\n");
                for _ in 0..20 {
                    let result = process(gateway, &envelope, message.as_bytes());
                    let json = unsafe { CStr::from_ptr(mailgate_result_json(result)) }
                        .to_string_lossy()
                        .into_owned();
                    assert!(json.contains(&format!("u{i}@x.example")), "{json}");
                    assert!(json.contains("\"kind\":\"deliver\""));
                    assert_eq!(mailgate_result_free(result), MailgateStatus::Ok);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(mailgate_close(gateway), MailgateStatus::Ok);
}

#[test]
fn null_and_malformed_arguments_are_errors_not_crashes() {
    let _serial = serial();
    let mut gateway = MailgateGateway { id: 7 };
    let status = unsafe { mailgate_open(std::ptr::null(), &mut gateway) };
    assert_eq!(status, MailgateStatus::InvalidArgument);
    assert_eq!(gateway.id, 0);
    assert!(last_error().contains("config_path is NULL"));
    let missing = CString::new("/nonexistent/mailgate.toml").unwrap();
    let status = unsafe { mailgate_open(missing.as_ptr(), &mut gateway) };
    assert_eq!(status, MailgateStatus::Failed);
    assert!(last_error().contains("/nonexistent/mailgate.toml"));
    assert_eq!(
        unsafe { mailgate_open(missing.as_ptr(), std::ptr::null_mut()) },
        MailgateStatus::InvalidArgument
    );

    let envelope = CString::new("{}").unwrap();
    let mut result = MailgateResult { id: 7 };
    let status = unsafe {
        mailgate_process(
            MailgateGateway { id: 0 },
            envelope.as_ptr(),
            std::ptr::null(),
            0,
            &mut result,
        )
    };
    assert_eq!(status, MailgateStatus::InvalidHandle);
    assert_eq!(result.id, 0);
    assert!(last_error().contains("gateway is not open"));
    let status = unsafe {
        mailgate_process(
            MailgateGateway { id: 0 },
            envelope.as_ptr(),
            std::ptr::null(),
            0,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(status, MailgateStatus::InvalidArgument);
    assert!(mailgate_result_json(MailgateResult { id: 0 }).is_null());
    assert_eq!(mailgate_result_buffer_count(MailgateResult { id: 0 }), 0);
    let mut len = 0;
    assert!(unsafe { mailgate_result_buffer(MailgateResult { id: 0 }, 0, &mut len) }.is_null());
    // The zero handle of a failed call may be released like free(NULL).
    assert_eq!(
        mailgate_result_free(MailgateResult { id: 0 }),
        MailgateStatus::Ok
    );
    assert_eq!(
        mailgate_close(MailgateGateway { id: 0 }),
        MailgateStatus::Ok
    );
    // Handles this library never returned.
    for id in [1, u64::MAX, 1 << 32, 0xdead_beef_0000_0001] {
        assert_eq!(
            mailgate_result_free(MailgateResult { id }),
            MailgateStatus::InvalidHandle
        );
        assert_eq!(
            mailgate_close(MailgateGateway { id }),
            MailgateStatus::InvalidHandle
        );
    }
}

#[test]
fn impossible_lengths_are_refused_before_the_message_is_read() {
    let _serial = serial();
    let (_dir, path) = config();
    let gateway = open(&path);
    let envelope = CString::new(INBOUND).unwrap();
    let byte = 0u8;
    // Lengths no object can have: above PTRDIFF_MAX (a negative ptrdiff_t
    // cast to size_t), or reaching past the end of the address space. The
    // pointer is valid for one byte only: reading more would be undefined
    // behaviour (and crash under ASan or Miri).
    for len in [
        usize::MAX,
        isize::MAX as usize + 1,
        (-5isize) as usize,
        usize::MAX - (&byte as *const u8 as usize) + 1,
    ] {
        let mut result = MailgateResult { id: 7 };
        let status =
            unsafe { mailgate_process(gateway, envelope.as_ptr(), &byte, len, &mut result) };
        assert_eq!(status, MailgateStatus::TooLong, "len {len}");
        assert_eq!(result.id, 0);
        assert!(last_error().contains("message_len"), "{}", last_error());
    }
    // NULL with a length is an error too; NULL with 0 is the empty message.
    let mut result = MailgateResult { id: 7 };
    let status = unsafe {
        mailgate_process(
            gateway,
            envelope.as_ptr(),
            std::ptr::null(),
            10,
            &mut result,
        )
    };
    assert_eq!(status, MailgateStatus::InvalidArgument);
    assert!(last_error().contains("message is NULL"));
    let status =
        unsafe { mailgate_process(gateway, envelope.as_ptr(), std::ptr::null(), 0, &mut result) };
    assert_eq!(status, MailgateStatus::Ok, "{}", last_error());
    assert_eq!(mailgate_result_free(result), MailgateStatus::Ok);
    assert_eq!(mailgate_close(gateway), MailgateStatus::Ok);
}

#[test]
fn double_free_and_use_after_free_or_close_are_detected() {
    let _serial = serial();
    let (_dir, path) = config();
    let gateway = open(&path);
    let message = b"From: a@ok.example\r\n\r\nHello\r\n";
    let first = process(gateway, INBOUND, message);
    assert_eq!(mailgate_result_free(first), MailgateStatus::Ok);
    // The freed result's slot is reused by the next one: the old handle
    // still does not reach it.
    let second = process(gateway, INBOUND, message);
    assert_eq!(first.id as u32, second.id as u32, "same slot");
    assert_eq!(mailgate_result_free(first), MailgateStatus::InvalidHandle);
    assert!(last_error().contains("result is not open"));
    assert!(mailgate_result_json(first).is_null());
    assert_eq!(mailgate_result_buffer_count(first), 0);
    let mut len = 0;
    assert!(unsafe { mailgate_result_buffer(first, 0, &mut len) }.is_null());
    assert!(
        !mailgate_result_json(second).is_null(),
        "the new result lives"
    );
    assert_eq!(mailgate_result_free(second), MailgateStatus::Ok);
    assert_eq!(mailgate_result_free(second), MailgateStatus::InvalidHandle);

    assert_eq!(mailgate_close(gateway), MailgateStatus::Ok);
    assert_eq!(mailgate_close(gateway), MailgateStatus::InvalidHandle);
    assert!(last_error().contains("gateway is not open"));
    let envelope = CString::new(INBOUND).unwrap();
    let mut result = MailgateResult { id: 7 };
    let status = unsafe {
        mailgate_process(
            gateway,
            envelope.as_ptr(),
            message.as_ptr(),
            message.len(),
            &mut result,
        )
    };
    assert_eq!(status, MailgateStatus::InvalidHandle);
    assert_eq!(result.id, 0);
    // A new gateway in the old one's slot is not reached by the old handle.
    let again = open(&path);
    assert_eq!(gateway.id as u32, again.id as u32, "same slot");
    assert_eq!(mailgate_close(gateway), MailgateStatus::InvalidHandle);
    assert_eq!(mailgate_close(again), MailgateStatus::Ok);
}

#[test]
fn a_gateway_closed_during_a_call_on_another_thread_finishes_that_call() {
    let _serial = serial();
    let (_dir, path) = config();
    let gateway = open(&path);
    let big = format!(
        "From: a@ok.example\r\n\r\n{}",
        "line of text\r\n".repeat(200_000)
    );
    let worker = std::thread::spawn(move || {
        let envelope = CString::new(INBOUND).unwrap();
        let mut result = MailgateResult { id: 0 };
        let status = unsafe {
            mailgate_process(
                gateway,
                envelope.as_ptr(),
                big.as_ptr(),
                big.len(),
                &mut result,
            )
        };
        // Either it started before the close (and completes) or after (and
        // is refused): never a crash.
        match status {
            MailgateStatus::Ok => assert_eq!(mailgate_result_free(result), MailgateStatus::Ok),
            other => assert_eq!(other, MailgateStatus::InvalidHandle),
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(mailgate_close(gateway), MailgateStatus::Ok);
    worker.join().unwrap();
}

#[test]
fn freeing_a_result_zeroizes_the_plaintext_it_held() {
    let _serial = serial();
    let (_dir, path) = config();
    let gateway = open(&path);
    let mut message = b"From: a@ok.example\r\nSubject: Konto\r\n\r\n".to_vec();
    message.extend_from_slice(SECRET);
    message.extend_from_slice(b"\r\n");
    let result = process(gateway, INBOUND, &message);
    let mut len = 0;
    let buffer = unsafe { mailgate_result_buffer(result, 0, &mut len) };
    let delivered = unsafe { std::slice::from_raw_parts(buffer, len) };
    assert!(
        delivered.windows(SECRET.len()).any(|w| w == SECRET),
        "the result holds the plaintext"
    );
    FREED_WITH_SECRET.store(0, Ordering::SeqCst);
    FREED_WHILE_WATCHING.store(0, Ordering::SeqCst);
    WATCHING.store(true, Ordering::SeqCst);
    let status = mailgate_result_free(result);
    WATCHING.store(false, Ordering::SeqCst);
    assert_eq!(status, MailgateStatus::Ok);
    assert!(
        FREED_WHILE_WATCHING.load(Ordering::SeqCst) >= 2,
        "the buffers were freed"
    );
    assert_eq!(
        FREED_WITH_SECRET.load(Ordering::SeqCst),
        0,
        "memory holding the plaintext went back to the allocator"
    );
    assert_eq!(mailgate_close(gateway), MailgateStatus::Ok);
}

/// What a C program may do with handles, in any order.
#[derive(Debug, Clone)]
enum Call {
    Open,
    Process { gateway: usize },
    Close { gateway: usize },
    Free { result: usize },
    Json { result: usize },
    Buffer { result: usize, index: usize },
    TooLong { len: usize },
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(24))]

    /// Any sequence of calls, with handles valid, closed, freed or made up
    /// and impossible lengths, behaves as a model of live handles says:
    /// a live handle works, anything else is `INVALID_HANDLE` (or NULL/0),
    /// never a crash.
    #[test]
    fn any_sequence_of_calls_matches_the_model_of_live_handles(
        calls in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::strategy::Just(Call::Open),
                (0..6usize).prop_map(|gateway| Call::Process { gateway }),
                (0..6usize).prop_map(|gateway| Call::Close { gateway }),
                (0..8usize).prop_map(|result| Call::Free { result }),
                (0..8usize).prop_map(|result| Call::Json { result }),
                (0..8usize, 0..3usize).prop_map(|(result, index)| Call::Buffer { result, index }),
                (isize::MAX as usize + 1..=usize::MAX).prop_map(|len| Call::TooLong { len }),
            ],
            1..40,
        ),
        made_up in proptest::prelude::any::<u64>(),
    ) {
        let _serial = serial();
        let (_dir, path) = config();
        let envelope = CString::new(INBOUND).unwrap();
        let message = b"From: a@ok.example\r\n\r\nHello\r\n";
        // Every handle ever returned, and whether it is still live.
        let mut gateways: Vec<(MailgateGateway, bool)> = Vec::new();
        let mut results: Vec<(MailgateResult, bool)> = Vec::new();
        let pick_gateway = |gateways: &[(MailgateGateway, bool)], i: usize| {
            gateways.get(i).copied().unwrap_or((MailgateGateway { id: made_up | 1 }, false))
        };
        let pick_result = |results: &[(MailgateResult, bool)], i: usize| {
            results.get(i).copied().unwrap_or((MailgateResult { id: made_up | 1 }, false))
        };
        let known = |id: u64| {
            gateways.iter().any(|(g, live)| *live && g.id == id)
                || results.iter().any(|(r, live)| *live && r.id == id)
        };
        // A made-up handle that happens to be live is not made up.
        proptest::prop_assume!(!known(made_up | 1));
        for call in calls {
            match call {
                Call::Open => gateways.push((open(&path), true)),
                Call::Process { gateway } => {
                    let (handle, live) = pick_gateway(&gateways, gateway);
                    let mut result = MailgateResult { id: 7 };
                    let status = unsafe {
                        mailgate_process(handle, envelope.as_ptr(), message.as_ptr(), message.len(), &mut result)
                    };
                    if live {
                        proptest::prop_assert_eq!(status, MailgateStatus::Ok);
                        results.push((result, true));
                    } else {
                        proptest::prop_assert_eq!(status, MailgateStatus::InvalidHandle);
                        proptest::prop_assert_eq!(result.id, 0);
                    }
                }
                Call::Close { gateway } => {
                    let (handle, live) = pick_gateway(&gateways, gateway);
                    let expected = if live { MailgateStatus::Ok } else { MailgateStatus::InvalidHandle };
                    proptest::prop_assert_eq!(mailgate_close(handle), expected);
                    if let Some(entry) = gateways.get_mut(gateway) {
                        entry.1 = false;
                    }
                }
                Call::Free { result } => {
                    let (handle, live) = pick_result(&results, result);
                    let expected = if live { MailgateStatus::Ok } else { MailgateStatus::InvalidHandle };
                    proptest::prop_assert_eq!(mailgate_result_free(handle), expected);
                    if let Some(entry) = results.get_mut(result) {
                        entry.1 = false;
                    }
                }
                Call::Json { result } => {
                    let (handle, live) = pick_result(&results, result);
                    proptest::prop_assert_eq!(!mailgate_result_json(handle).is_null(), live);
                    proptest::prop_assert_eq!(mailgate_result_buffer_count(handle) == 1, live);
                }
                Call::Buffer { result, index } => {
                    let (handle, live) = pick_result(&results, result);
                    let mut len = 0;
                    let buffer = unsafe { mailgate_result_buffer(handle, index, &mut len) };
                    proptest::prop_assert_eq!(!buffer.is_null(), live && index == 0);
                }
                Call::TooLong { len } => {
                    let (handle, _) = pick_gateway(&gateways, 0);
                    let mut result = MailgateResult { id: 7 };
                    let status = unsafe {
                        mailgate_process(handle, envelope.as_ptr(), message.as_ptr(), len, &mut result)
                    };
                    // Refused before the message is read, whichever check
                    // comes first.
                    proptest::prop_assert!(
                        status == MailgateStatus::TooLong || status == MailgateStatus::InvalidHandle,
                        "{status:?}"
                    );
                    proptest::prop_assert_eq!(result.id, 0);
                }
            }
        }
        for (result, live) in results {
            if live {
                proptest::prop_assert_eq!(mailgate_result_free(result), MailgateStatus::Ok);
            }
        }
        for (gateway, live) in gateways {
            if live {
                proptest::prop_assert_eq!(mailgate_close(gateway), MailgateStatus::Ok);
            }
        }
    }
}
