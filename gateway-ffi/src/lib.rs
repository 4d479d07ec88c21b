#![doc = include_str!("../README.md")]

use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use gateway_facade::{Envelope, Gateway};
use serde::Deserialize;
use serde_json::Value;
use zeroize::Zeroizing;

// The crate selects Sequoia's backend through its features.
use sequoia_openpgp as _;

/// A handle on an open gateway (see "Handles" in the crate documentation);
/// `{0}` is no gateway. Thread-safe: one gateway may serve concurrent
/// [`mailgate_process`] calls.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailgateGateway {
    /// Table index and generation; 0 is no handle.
    pub id: u64,
}

/// A handle on the result of one [`mailgate_process`] call: JSON and
/// message buffers; `{0}` is no result.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailgateResult {
    /// Table index and generation; 0 is no handle.
    pub id: u64,
}

/// What a call returns; anything but `MAILGATE_STATUS_OK` leaves a message for
/// [`mailgate_last_error`].
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailgateStatus {
    /// Done.
    Ok = 0,
    /// An argument is NULL where it must not be, not UTF-8, or malformed
    /// (the envelope JSON).
    InvalidArgument = 1,
    /// A handle that is not open: closed or freed already, or never
    /// returned by this library.
    InvalidHandle = 2,
    /// A length larger than any object can be (above `PTRDIFF_MAX`, or
    /// reaching past the end of the address space).
    TooLong = 3,
    /// The gateway could not be opened (configuration, stores, keys).
    Failed = 4,
    /// A bug in mailgate (a panic was caught).
    Internal = 5,
}

/// What a result holds. The buffers and the JSON are zeroized when it is
/// dropped: they are mail, in clear after an inbound decryption.
struct ResultData {
    /// NUL-terminated.
    json: Zeroizing<Vec<u8>>,
    buffers: Vec<Zeroizing<Vec<u8>>>,
}

/// Open objects behind handles. A handle is `generation << 32 | (index + 1)`,
/// so 0 never names a slot.
struct Table<T> {
    slots: Vec<Slot<T>>,
    free: Vec<usize>,
}

struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

impl<T> Table<T> {
    const fn new() -> Self {
        Table {
            slots: Vec::new(),
            free: Vec::new(),
        }
    }

    fn insert(&mut self, value: T) -> Result<u64, Failure> {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot {
                    generation: 1,
                    value: None,
                });
                self.slots.len() - 1
            }
        };
        let number = u32::try_from(index + 1)
            .map_err(|_| Failure::new(MailgateStatus::Failed, "too many open handles"))?;
        let slot = self
            .slots
            .get_mut(index)
            .ok_or_else(|| Failure::new(MailgateStatus::Internal, "handle table"))?;
        slot.value = Some(value);
        Ok(u64::from(slot.generation) << 32 | u64::from(number))
    }

    fn slot(&self, id: u64) -> Option<(usize, &Slot<T>)> {
        let (generation, number) = ((id >> 32) as u32, id as u32);
        let index = usize::try_from(number).ok()?.checked_sub(1)?;
        let slot = self.slots.get(index)?;
        (slot.generation == generation && slot.value.is_some()).then_some((index, slot))
    }

    fn get(&self, id: u64) -> Option<&T> {
        self.slot(id).and_then(|(_, slot)| slot.value.as_ref())
    }

    fn remove(&mut self, id: u64) -> Option<T> {
        let (index, _) = self.slot(id)?;
        let slot = self.slots.get_mut(index)?;
        let value = slot.value.take();
        // A new generation: the handle just removed never matches again.
        slot.generation = match slot.generation.wrapping_add(1) {
            0 => 1,
            next => next,
        };
        self.free.push(index);
        value
    }
}

static GATEWAYS: Mutex<Table<Arc<Gateway>>> = Mutex::new(Table::new());
static RESULTS: Mutex<Table<ResultData>> = Mutex::new(Table::new());

/// Locks a table. A panic while it was locked (caught at the boundary)
/// leaves it consistent: every change is one assignment.
fn lock<T>(table: &Mutex<Table<T>>) -> std::sync::MutexGuard<'_, Table<T>> {
    table.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A failed call: its status and message.
struct Failure {
    status: MailgateStatus,
    message: String,
}

impl Failure {
    fn new(status: MailgateStatus, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
        }
    }

    fn argument(message: impl Into<String>) -> Failure {
        Failure::new(MailgateStatus::InvalidArgument, message)
    }

    fn handle(what: &str) -> Failure {
        Failure::new(
            MailgateStatus::InvalidHandle,
            format!("{what} is not open (closed or freed already, or never opened)"),
        )
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

fn set_error(message: &str) {
    // A NUL inside the message would end the C string early; replace it.
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    LAST_ERROR.with(|slot| *slot.borrow_mut() = text);
}

/// Runs `body`, turning an error or a panic into a recorded error and its
/// status.
fn guarded<T>(body: impl FnOnce() -> Result<T, Failure>) -> Result<T, MailgateStatus> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(failure)) => {
            set_error(&failure.message);
            Err(failure.status)
        }
        Err(_) => {
            set_error("internal error (a panic in mailgate; this is a bug)");
            Err(MailgateStatus::Internal)
        }
    }
}

/// The status of a call that returns nothing else.
fn status(outcome: Result<(), MailgateStatus>) -> MailgateStatus {
    outcome.err().unwrap_or(MailgateStatus::Ok)
}

/// # Safety
/// `text` is null or points to a NUL-terminated string valid for reads.
unsafe fn string_argument<'a>(text: *const c_char, what: &str) -> Result<&'a str, Failure> {
    if text.is_null() {
        return Err(Failure::argument(format!("{what} is NULL")));
    }
    // SAFETY: not null, and the caller promises a NUL-terminated string.
    let text = unsafe { CStr::from_ptr(text) };
    text.to_str()
        .map_err(|_| Failure::argument(format!("{what} is not UTF-8")))
}

/// `len` bytes at `data` as a slice, after the checks `from_raw_parts`
/// requires and a caller can get wrong in a detectable way: a length above
/// `isize::MAX` or one that runs past the end of the address space (a
/// negative `ptrdiff_t` cast to `size_t`, say) is refused, not undefined
/// behaviour.
///
/// # Safety
/// If `data` is not NULL and `len` passes those checks, `data` points to
/// `len` bytes valid for reads and not written during `'a`.
unsafe fn bytes_argument<'a>(data: *const u8, len: usize, what: &str) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Failure::argument(format!("{what} is NULL")));
    }
    if isize::try_from(len).is_err() || (data as usize).checked_add(len).is_none() {
        return Err(Failure::new(
            MailgateStatus::TooLong,
            format!("{what}_len {len} is larger than any object can be"),
        ));
    }
    // SAFETY: not null, a u8 pointer is always aligned, the length fits in
    // isize and does not wrap the address space (checked above); the caller
    // promises that many readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// The message of the last failed call on this thread (an empty string if
/// none failed). Valid until the next mailgate call on this thread.
#[unsafe(no_mangle)]
pub extern "C" fn mailgate_last_error() -> *const c_char {
    LAST_ERROR.with(|slot| slot.borrow().as_ptr())
}

/// Opens a gateway from its configuration file (`mailgate.toml`) and
/// stores its handle in `*gateway` (`{0}` on error; see
/// [`mailgate_last_error`]).
///
/// # Safety
/// `config_path` is NULL or a NUL-terminated string; `gateway` is NULL or
/// points to writable memory for one `mailgate_gateway`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mailgate_open(
    config_path: *const c_char,
    gateway: *mut MailgateGateway,
) -> MailgateStatus {
    status(guarded(|| {
        if gateway.is_null() {
            return Err(Failure::argument("gateway is NULL"));
        }
        // SAFETY: not null; the caller promises writable memory.
        unsafe { gateway.write(MailgateGateway { id: 0 }) };
        // SAFETY: forwarded from this function's contract.
        let path = unsafe { string_argument(config_path, "config_path") }?;
        let opened = Gateway::from_config_file(Path::new(path))
            .map_err(|e| Failure::new(MailgateStatus::Failed, e.to_string()))?;
        let id = lock(&GATEWAYS).insert(Arc::new(opened))?;
        // SAFETY: as above.
        unsafe { gateway.write(MailgateGateway { id }) };
        Ok(())
    }))
}

/// Closes a gateway. The zero handle is ignored (`MAILGATE_STATUS_OK`); a handle
/// closed already is `MAILGATE_STATUS_INVALID_HANDLE`. Calls running with it on
/// other threads finish first (the gateway is released after the last).
///
/// # Safety
/// Safe with any value: the handle is checked.
#[unsafe(no_mangle)]
pub extern "C" fn mailgate_close(gateway: MailgateGateway) -> MailgateStatus {
    status(guarded(|| {
        if gateway.id == 0 {
            return Ok(());
        }
        let removed = lock(&GATEWAYS).remove(gateway.id);
        // Dropped here, outside the lock (closing stores takes time).
        removed.map(drop).ok_or_else(|| Failure::handle("gateway"))
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeJson {
    direction: String,
    from: String,
    to: Vec<String>,
}

/// Processes one mail and stores the result's handle in `*result` (`{0}`
/// unless `MAILGATE_STATUS_OK`). `envelope_json` is
/// `{"direction": "outbound"|"inbound", "from": "ADDR", "to": ["ADDR", ...]}`.
/// A status other than `MAILGATE_STATUS_OK` means bad arguments (see
/// [`mailgate_last_error`]); problems with the mail itself are dispositions
/// in the result.
///
/// # Safety
/// `envelope_json` is NULL or a NUL-terminated string; `message` is NULL or
/// points to `message_len` readable bytes (a length above `PTRDIFF_MAX` is
/// refused before `message` is read); `result` is NULL or points to
/// writable memory for one `mailgate_result`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mailgate_process(
    gateway: MailgateGateway,
    envelope_json: *const c_char,
    message: *const u8,
    message_len: usize,
    result: *mut MailgateResult,
) -> MailgateStatus {
    status(guarded(|| {
        if result.is_null() {
            return Err(Failure::argument("result is NULL"));
        }
        // SAFETY: not null; the caller promises writable memory.
        unsafe { result.write(MailgateResult { id: 0 }) };
        // Our own reference: a concurrent close cannot free it under us.
        let opened = lock(&GATEWAYS)
            .get(gateway.id)
            .cloned()
            .ok_or_else(|| Failure::handle("gateway"))?;
        // SAFETY: forwarded from this function's contract.
        let envelope = unsafe { string_argument(envelope_json, "envelope_json") }?;
        let envelope: EnvelopeJson = serde_json::from_str(envelope)
            .map_err(|e| Failure::argument(format!("envelope_json: {e}")))?;
        let direction = match envelope.direction.as_str() {
            "outbound" => rule_engine::Direction::Outbound,
            "inbound" => rule_engine::Direction::Inbound,
            other => {
                return Err(Failure::argument(format!(
                    "envelope_json: direction {other:?}: expected outbound or inbound"
                )));
            }
        };
        // SAFETY: forwarded from this function's contract.
        let message = unsafe { bytes_argument(message, message_len, "message") }?;
        let outcome = opened.process(
            &Envelope {
                direction,
                sender: envelope.from,
                recipients: envelope.to,
            },
            message,
        );
        let mut buffers = Vec::new();
        let json = outcome
            .to_json_with(|_, _, bytes| {
                buffers.push(Zeroizing::new(bytes.to_vec().map_err(|e| e.to_string())?));
                Ok::<Value, String>(Value::from(buffers.len() - 1))
            })
            .map_err(|e| Failure::new(MailgateStatus::Internal, e))?;
        let json = CString::new(json.to_string())
            .map_err(|e| Failure::new(MailgateStatus::Internal, e.to_string()))?;
        let data = ResultData {
            json: Zeroizing::new(json.into_bytes_with_nul()),
            buffers,
        };
        let id = lock(&RESULTS).insert(data)?;
        // SAFETY: as above.
        unsafe { result.write(MailgateResult { id }) };
        Ok(())
    }))
}

/// The result as JSON (NUL-terminated UTF-8), owned by the result; NULL
/// for a handle that is not open.
///
/// # Safety
/// Safe with any value: the handle is checked. The string is valid
/// until the result is freed.
#[unsafe(no_mangle)]
pub extern "C" fn mailgate_result_json(result: MailgateResult) -> *const c_char {
    guarded(|| {
        lock(&RESULTS)
            .get(result.id)
            // The bytes live on the heap: they stay where they are when the
            // table grows, until the result is freed.
            .map(|data| data.json.as_ptr().cast::<c_char>())
            .ok_or_else(|| Failure::handle("result"))
    })
    .unwrap_or(std::ptr::null())
}

/// The number of buffers (messages and notifications) in the result; 0 for
/// a handle that is not open.
///
/// # Safety
/// Safe with any value: the handle is checked.
#[unsafe(no_mangle)]
pub extern "C" fn mailgate_result_buffer_count(result: MailgateResult) -> usize {
    guarded(|| {
        lock(&RESULTS)
            .get(result.id)
            .map(|data| data.buffers.len())
            .ok_or_else(|| Failure::handle("result"))
    })
    .unwrap_or(0)
}

/// Buffer `index` of the result (as the JSON's `message` and
/// `notification` indices name them); its length goes to `*len`. NULL if
/// there is no such buffer or the handle is not open. Owned by the result:
/// valid until it is freed.
///
/// # Safety
/// `len` is NULL or points to writable memory for one `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mailgate_result_buffer(
    result: MailgateResult,
    index: usize,
    len: *mut usize,
) -> *const u8 {
    guarded(|| {
        if len.is_null() {
            return Err(Failure::argument("len is NULL"));
        }
        let results = lock(&RESULTS);
        let data = results
            .get(result.id)
            .ok_or_else(|| Failure::handle("result"))?;
        let buffer = data
            .buffers
            .get(index)
            .ok_or_else(|| Failure::argument(format!("no buffer {index}")))?;
        // SAFETY: not null; the caller promises writable memory.
        unsafe { len.write(buffer.len()) };
        Ok(buffer.as_ptr())
    })
    .unwrap_or(std::ptr::null())
}

/// Frees a result, overwriting its buffers and JSON with zeros first. The
/// zero handle is ignored (`MAILGATE_STATUS_OK`); a result freed already is
/// `MAILGATE_STATUS_INVALID_HANDLE`.
///
/// # Safety
/// Safe with any value: the handle is checked. Pointers obtained
/// from the result must not be used afterwards.
#[unsafe(no_mangle)]
pub extern "C" fn mailgate_result_free(result: MailgateResult) -> MailgateStatus {
    status(guarded(|| {
        if result.id == 0 {
            return Ok(());
        }
        let removed = lock(&RESULTS).remove(result.id);
        // Zeroized as it is dropped, outside the lock.
        removed.map(drop).ok_or_else(|| Failure::handle("result"))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removed_handle_never_matches_again_even_when_its_slot_is_reused() {
        let mut table = Table::new();
        let first = table.insert("a").unwrap_or_default();
        assert_ne!(first, 0);
        assert_eq!(table.remove(first), Some("a"));
        let second = table.insert("b").unwrap_or_default();
        assert_eq!(first as u32, second as u32, "same slot");
        assert_ne!(first, second, "new generation");
        assert_eq!(table.get(first), None);
        assert_eq!(table.remove(first), None);
        assert_eq!(table.get(second), Some(&"b"));
        assert_eq!(table.get(0), None);
        assert_eq!(table.get(u64::MAX), None);
    }
}
