//! The C ABI of the mailgate gateway, for applications in other languages.
//!
//! ```c
//! #include "mailgate.h"
//!
//! mailgate_gateway *gw = mailgate_open("/etc/mailgate/mailgate.toml");
//! if (!gw) { fprintf(stderr, "%s\n", mailgate_last_error()); return 1; }
//! mailgate_result *r = mailgate_process(gw,
//!     "{\"direction\":\"outbound\",\"from\":\"alice@behoerde.example\",\"to\":[\"bob@partner.example\"]}",
//!     message, message_len);
//! if (!r) { fprintf(stderr, "%s\n", mailgate_last_error()); return 1; }
//! puts(mailgate_result_json(r));          /* dispositions, audit */
//! size_t len;
//! const uint8_t *out = mailgate_result_buffer(r, 0, &len);
//! mailgate_result_free(r);
//! mailgate_close(gw);
//! ```
//!
//! The result JSON is that of `mailgate process` (`result.json`), with the
//! `message` and `notification` of each disposition given as indices into the
//! result's buffers. No panic crosses the boundary: every entry point catches
//! it and reports it as an error. Errors are kept per thread and read with
//! [`mailgate_last_error`].

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use gateway_facade::{Envelope, Gateway};
use serde::Deserialize;
use serde_json::Value;

// The crate selects Sequoia's backend through its features.
use sequoia_openpgp as _;

/// An open gateway. Thread-safe: one handle may serve concurrent
/// [`mailgate_process`] calls.
pub struct MailgateGateway {
    gateway: Gateway,
}

/// The result of one [`mailgate_process`] call: JSON and message buffers.
pub struct MailgateResult {
    json: CString,
    buffers: Vec<Vec<u8>>,
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(message: &str) {
    // A NUL inside the message would end the C string early; replace it.
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|slot| *slot.borrow_mut() = text);
}

/// Runs `body`, turning an error or a panic into a recorded error and `None`.
fn guarded<T>(body: impl FnOnce() -> Result<T, String>) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => Some(value),
        Ok(Err(message)) => {
            set_error(&message);
            None
        }
        Err(_) => {
            set_error("internal error (a panic in mailgate; this is a bug)");
            None
        }
    }
}

/// # Safety
/// `text` is null or points to a NUL-terminated string valid for reads.
unsafe fn string_argument<'a>(text: *const c_char, what: &str) -> Result<&'a str, String> {
    if text.is_null() {
        return Err(format!("{what} is NULL"));
    }
    // SAFETY: not null, and the caller promises a NUL-terminated string.
    let text = unsafe { CStr::from_ptr(text) };
    text.to_str().map_err(|_| format!("{what} is not UTF-8"))
}

/// The message of the last failed call on this thread (an empty string if
/// none failed). Valid until the next mailgate call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn mailgate_last_error() -> *const c_char {
    LAST_ERROR.with(|slot| slot.borrow().as_ptr())
}

/// Opens a gateway from its configuration file (`mailgate.toml`). Returns
/// NULL on error (see [`mailgate_last_error`]).
///
/// # Safety
/// `config_path` is a NUL-terminated UTF-8 string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mailgate_open(config_path: *const c_char) -> *mut MailgateGateway {
    guarded(|| {
        // SAFETY: forwarded from this function's contract.
        let path = unsafe { string_argument(config_path, "config_path") }?;
        let gateway = Gateway::from_config_file(Path::new(path)).map_err(|e| e.to_string())?;
        Ok(Box::into_raw(Box::new(MailgateGateway { gateway })))
    })
    .unwrap_or(std::ptr::null_mut())
}

/// Closes a gateway. NULL is ignored.
///
/// # Safety
/// `gateway` is NULL or a handle from [`mailgate_open`], not used afterwards
/// and not in use by another thread.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mailgate_close(gateway: *mut MailgateGateway) {
    if !gateway.is_null() {
        // SAFETY: the handle came from Box::into_raw in mailgate_open and is
        // closed once.
        drop(unsafe { Box::from_raw(gateway) });
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeJson {
    direction: String,
    from: String,
    to: Vec<String>,
}

/// Processes one mail. `envelope_json` is
/// `{"direction": "outbound"|"inbound", "from": "ADDR", "to": ["ADDR", ...]}`.
/// Returns NULL on error (bad arguments; see [`mailgate_last_error`]);
/// problems with the mail itself are dispositions in the result.
///
/// # Safety
/// `gateway` is a handle from [`mailgate_open`]; `envelope_json` is a
/// NUL-terminated UTF-8 string; `message` points to `message_len` readable
/// bytes (it may be NULL when `message_len` is 0).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mailgate_process(
    gateway: *const MailgateGateway,
    envelope_json: *const c_char,
    message: *const u8,
    message_len: usize,
) -> *mut MailgateResult {
    guarded(|| {
        if gateway.is_null() {
            return Err("gateway is NULL".into());
        }
        // SAFETY: not null; the caller promises a live handle.
        let gateway = unsafe { &(*gateway).gateway };
        // SAFETY: forwarded from this function's contract.
        let envelope = unsafe { string_argument(envelope_json, "envelope_json") }?;
        let envelope: EnvelopeJson =
            serde_json::from_str(envelope).map_err(|e| format!("envelope_json: {e}"))?;
        let direction = match envelope.direction.as_str() {
            "outbound" => rule_engine::Direction::Outbound,
            "inbound" => rule_engine::Direction::Inbound,
            other => {
                return Err(format!(
                    "envelope_json: direction {other:?}: expected outbound or inbound"
                ));
            }
        };
        let message: &[u8] = if message_len == 0 {
            &[]
        } else if message.is_null() {
            return Err("message is NULL".into());
        } else {
            // SAFETY: not null; the caller promises message_len readable bytes.
            unsafe { std::slice::from_raw_parts(message, message_len) }
        };
        let outcome = gateway.process(
            &Envelope {
                direction,
                sender: envelope.from,
                recipients: envelope.to,
            },
            message,
        );
        let mut buffers = Vec::new();
        let json = outcome.to_json_with(|_, _, bytes| {
            buffers.push(bytes.to_vec().map_err(|e| e.to_string())?);
            Ok::<Value, String>(Value::from(buffers.len() - 1))
        })?;
        let json = CString::new(json.to_string()).map_err(|e| e.to_string())?;
        Ok(Box::into_raw(Box::new(MailgateResult { json, buffers })))
    })
    .unwrap_or(std::ptr::null_mut())
}

/// The result as JSON (NUL-terminated UTF-8), owned by the result.
///
/// # Safety
/// `result` is a live result from [`mailgate_process`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mailgate_result_json(result: *const MailgateResult) -> *const c_char {
    if result.is_null() {
        set_error("result is NULL");
        return std::ptr::null();
    }
    // SAFETY: not null; the caller promises a live result.
    unsafe { (*result).json.as_ptr() }
}

/// The number of buffers (messages and notifications) in the result.
///
/// # Safety
/// `result` is a live result from [`mailgate_process`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mailgate_result_buffer_count(result: *const MailgateResult) -> usize {
    if result.is_null() {
        return 0;
    }
    // SAFETY: not null; the caller promises a live result.
    unsafe { (*result).buffers.len() }
}

/// Buffer `index` of the result (as the JSON's `message` and
/// `notification` indices name them); its length goes to `*len`. NULL if
/// there is no such buffer. Owned by the result.
///
/// # Safety
/// `result` is a live result from [`mailgate_process`]; `len` points to
/// writable memory for one `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mailgate_result_buffer(
    result: *const MailgateResult,
    index: usize,
    len: *mut usize,
) -> *const u8 {
    if result.is_null() || len.is_null() {
        set_error("result or len is NULL");
        return std::ptr::null();
    }
    // SAFETY: not null; the caller promises a live result.
    let buffers = unsafe { &(*result).buffers };
    match buffers.get(index) {
        Some(buffer) => {
            // SAFETY: not null; the caller promises writable memory.
            unsafe { *len = buffer.len() };
            buffer.as_ptr()
        }
        None => {
            set_error("no such buffer");
            std::ptr::null()
        }
    }
}

/// Frees a result. NULL is ignored.
///
/// # Safety
/// `result` is NULL or a result from [`mailgate_process`], not used
/// afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mailgate_result_free(result: *mut MailgateResult) {
    if !result.is_null() {
        // SAFETY: the result came from Box::into_raw and is freed once.
        drop(unsafe { Box::from_raw(result) });
    }
}
