//! Limits on SMTP clients (issue 17, finding 3): connections in total and
//! per client, new connections per client and minute, a deadline for the
//! whole session, one for DATA and one for each command, and errors per
//! session.
//!
//! Deadlines, not only read timeouts: a timeout per read lets a client that
//! sends one byte now and then hold its session for ever. [`Guarded`], the
//! TCP stream under the session (and under TLS), gives every read and write
//! at most the time left until the nearest deadline. [`ReplyWatch`], over
//! the session's writer (above TLS), sees the server's replies: when the
//! client has the floor (since the last reply), whether that is DATA (the
//! last reply was 354), and how many errors (4xx and 5xx) it got.
//!
//! Eviction, not only refusal: sessions are threads, so their number is
//! bounded, and a full house used to lock every new client out. When all
//! slots are taken, a client that holds fewer sessions than the biggest
//! holder takes the slot of that holder's longest-idle session, so
//! connections from many addresses cannot lock out one more address.
//! Excess connections get `421 4.7.0` and are closed at once: a refused
//! client holds no slot and no thread.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::access::canonical_ip;

/// The limits, from [`crate::RelayConfig`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_connections: usize,
    pub(crate) max_connections_per_client: usize,
    pub(crate) max_connection_rate: u32,
    pub(crate) rate_window: Duration,
    pub(crate) timeout: Duration,
    pub(crate) session_deadline: Duration,
    pub(crate) data_deadline: Duration,
    pub(crate) hard_error_limit: u32,
}

/// Why a connection was refused (421) at accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// All slots are taken, by clients holding no more than this one.
    Total,
    /// This client holds its share of connections already.
    PerClient,
    /// This client opened too many connections within the rate window.
    Rate,
}

impl Refusal {
    pub(crate) fn reply(self, hostname: &str) -> String {
        let why = match self {
            Refusal::Total => "too many connections",
            Refusal::PerClient => "too many connections from your address",
            Refusal::Rate => "too many new connections from your address, slow down",
        };
        format!("421 4.7.0 {hostname} {why}; try again later\r\n")
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Refusal::Total => "total",
            Refusal::PerClient => "per_client",
            Refusal::Rate => "rate",
        }
    }
}

/// What ended a session, when a limit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Cut {
    /// The whole-session deadline passed.
    SessionDeadline = 1,
    /// The DATA deadline passed.
    DataDeadline = 2,
    /// A command took longer than the timeout, or the client was silent
    /// that long.
    Timeout = 3,
    /// Too many errors.
    HardErrors = 4,
    /// Its slot went to a client holding fewer sessions.
    Evicted = 5,
}

impl Cut {
    fn from_u8(value: u8) -> Option<Cut> {
        Some(match value {
            1 => Cut::SessionDeadline,
            2 => Cut::DataDeadline,
            3 => Cut::Timeout,
            4 => Cut::HardErrors,
            5 => Cut::Evicted,
            _ => return None,
        })
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Cut::SessionDeadline => "session_deadline",
            Cut::DataDeadline => "data_deadline",
            Cut::Timeout => "timeout",
            Cut::HardErrors => "hard_errors",
            Cut::Evicted => "evicted",
        }
    }
}

/// Counters of a session that the relay's metrics take at its end.
#[derive(Debug, Default)]
pub(crate) struct ReplyCounts {
    /// `554 5.7.1`: the client may not submit.
    pub(crate) client_refused: AtomicU32,
    /// `553 5.7.1`: the sender is not the authenticated client's.
    pub(crate) sender_refused: AtomicU32,
    /// `535 5.7.8`: authentication failed.
    pub(crate) auth_failed: AtomicU32,
}

/// The clock and counters of one session, shared by its [`Guarded`]
/// streams, its [`ReplyWatch`] and the [`Clients`] table (which reads the
/// last activity to choose whom to evict).
#[derive(Debug)]
pub(crate) struct SessionState {
    started: Instant,
    /// Milliseconds since `started`: the last byte from the client.
    last_input: AtomicU64,
    /// Milliseconds since `started`: the end of the last reply (since
    /// then, the client has the floor).
    floor_since: AtomicU64,
    /// The last reply was 354: the client is sending a message.
    in_data: AtomicBool,
    /// Errors (4xx, 5xx) since the session began or the last message was
    /// accepted.
    errors: AtomicU32,
    /// When the write to the client in progress began (milliseconds since
    /// `started`, plus one; 0: none). An evicted session stuck in a write
    /// (its client reads nothing) is shut down at once.
    writing_since: AtomicU64,
    /// What ended the session, if a limit did (0: nothing yet).
    cut: AtomicU8,
    pub(crate) counts: ReplyCounts,
}

impl SessionState {
    pub(crate) fn new() -> SessionState {
        SessionState {
            started: Instant::now(),
            last_input: AtomicU64::new(0),
            floor_since: AtomicU64::new(0),
            in_data: AtomicBool::new(false),
            errors: AtomicU32::new(0),
            writing_since: AtomicU64::new(0),
            cut: AtomicU8::new(0),
            counts: ReplyCounts::default(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// The limit that ended the session, if one did.
    pub(crate) fn cut(&self) -> Option<Cut> {
        Cut::from_u8(self.cut.load(Ordering::SeqCst))
    }

    fn set_cut(&self, cut: Cut) {
        // The first cause stays.
        let _ = self
            .cut
            .compare_exchange(0, cut as u8, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// A write to the client has been in progress for a second or more.
    fn stuck_writing(&self) -> bool {
        let since = self.writing_since.load(Ordering::SeqCst);
        since > 0 && self.now_ms().saturating_sub(since - 1) >= 1000
    }

    fn idle_ms(&self) -> u64 {
        self.now_ms()
            .saturating_sub(self.last_input.load(Ordering::Relaxed))
    }

    /// The time left for the client's next read: until the nearest of the
    /// session deadline, the deadline of what the client is sending now (a
    /// command, or a message after 354) and the silence timeout. `Err`
    /// once a deadline has passed (recorded as the cut).
    fn read_budget(&self, limits: &Limits) -> io::Result<Duration> {
        if self.cut().is_some() {
            return Err(cut_off());
        }
        let now = Duration::from_millis(self.now_ms());
        let Some(session_left) = limits.session_deadline.checked_sub(now) else {
            self.set_cut(Cut::SessionDeadline);
            return Err(cut_off());
        };
        let in_data = self.in_data.load(Ordering::Relaxed);
        let floor = Duration::from_millis(self.floor_since.load(Ordering::Relaxed));
        let record_limit = if in_data {
            limits.data_deadline
        } else {
            limits.timeout
        };
        let Some(record_left) = (floor + record_limit).checked_sub(now) else {
            self.set_cut(if in_data {
                Cut::DataDeadline
            } else {
                Cut::Timeout
            });
            return Err(cut_off());
        };
        Ok(session_left
            .min(record_left)
            .min(limits.timeout)
            .max(Duration::from_millis(1)))
    }

    /// The time left for a write: the session deadline and the timeout;
    /// for an evicted session, only [`EVICTED_WRITE`] (for its `421`).
    fn write_budget(&self, limits: &Limits) -> io::Result<Duration> {
        if self.cut() == Some(Cut::Evicted) {
            return Ok(EVICTED_WRITE);
        }
        let now = Duration::from_millis(self.now_ms());
        let Some(session_left) = limits.session_deadline.checked_sub(now) else {
            self.set_cut(Cut::SessionDeadline);
            return Err(cut_off());
        };
        Ok(session_left
            .min(limits.timeout)
            .max(Duration::from_millis(1)))
    }

    /// A reply ended (its last line was written). Returns whether the
    /// session has now had too many errors.
    fn reply_ended(&self, code: [u8; 3], limit: u32) -> bool {
        self.floor_since.store(self.now_ms(), Ordering::Relaxed);
        let was_data = self.in_data.swap(&code == b"354", Ordering::Relaxed);
        match code.first() {
            Some(b'2') if was_data => {
                // A message was accepted: Postfix counts errors "without
                // delivering mail".
                self.errors.store(0, Ordering::Relaxed);
                false
            }
            Some(b'4' | b'5') => {
                let errors = self.errors.fetch_add(1, Ordering::Relaxed) + 1;
                limit > 0 && errors >= limit
            }
            _ => false,
        }
    }
}

/// How long an evicted session may take to write its `421`.
const EVICTED_WRITE: Duration = Duration::from_secs(2);

fn cut_off() -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, "a deadline of the session passed")
}

/// The TCP stream of one session with its deadlines applied to every read
/// and write. Its handles share one file descriptor (with the [`Clients`]
/// table, too): a session costs one descriptor, not four.
pub(crate) struct Guarded {
    stream: Arc<TcpStream>,
    state: Arc<SessionState>,
    limits: Limits,
}

impl Guarded {
    pub(crate) fn new(stream: Arc<TcpStream>, state: Arc<SessionState>, limits: Limits) -> Guarded {
        Guarded {
            stream,
            state,
            limits,
        }
    }

    /// See [`TcpStream::set_nodelay`].
    pub(crate) fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.stream.set_nodelay(nodelay)
    }

    /// A second handle on the same connection and session.
    pub(crate) fn try_clone(&self) -> io::Result<Guarded> {
        Ok(Guarded {
            stream: Arc::clone(&self.stream),
            state: Arc::clone(&self.state),
            limits: self.limits,
        })
    }
}

/// Makes [`ReplyWatch`]es for one session.
pub(crate) struct Watcher {
    state: Arc<SessionState>,
    hard_error_limit: u32,
    hostname: String,
}

impl Watcher {
    pub(crate) fn wrap<W: Write>(&self, inner: W) -> ReplyWatch<W> {
        ReplyWatch::new(
            inner,
            Arc::clone(&self.state),
            self.hard_error_limit,
            &self.hostname,
        )
    }
}

impl Guarded {
    /// The watch over this session's replies (`hostname` for its 421).
    pub(crate) fn watcher(&self, hostname: &str) -> Watcher {
        Watcher {
            state: Arc::clone(&self.state),
            hard_error_limit: self.limits.hard_error_limit,
            hostname: hostname.to_owned(),
        }
    }
}

impl Read for Guarded {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.state.cut() == Some(Cut::HardErrors) {
            // The 421 has been sent: the client's further input is not read.
            return Ok(0);
        }
        let budget = self.state.read_budget(&self.limits)?;
        self.stream.set_read_timeout(Some(budget))?;
        match (&*self.stream).read(buf) {
            Ok(n) => {
                self.state
                    .last_input
                    .store(self.state.now_ms(), Ordering::Relaxed);
                Ok(n)
            }
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                // A deadline, or silence for the whole timeout.
                if self.state.read_budget(&self.limits).is_ok() {
                    self.state.set_cut(Cut::Timeout);
                }
                Err(cut_off())
            }
            Err(error) => Err(error),
        }
    }
}

impl Write for Guarded {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // Set before the budget is read, and the evicting thread sets the
        // cut before it reads this: either this write sees the eviction
        // (and a short budget) or the evicting thread sees the write (and
        // shuts the connection down).
        self.state
            .writing_since
            .store(self.state.now_ms().saturating_add(1), Ordering::SeqCst);
        let result = self.guarded_write(buf);
        self.state.writing_since.store(0, Ordering::SeqCst);
        result
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self.stream).flush()
    }
}

impl Guarded {
    fn guarded_write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let budget = self.state.write_budget(&self.limits)?;
        self.stream.set_write_timeout(Some(budget))?;
        match (&*self.stream).write(buf) {
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                // The client does not read its replies.
                self.state.set_cut(Cut::Timeout);
                Err(cut_off())
            }
            other => other,
        }
    }

    /// Whether the session was evicted (and owes its client a `421`).
    pub(crate) fn evicted(&self) -> bool {
        self.state.cut() == Some(Cut::Evicted)
    }

    /// After the last reply: no more writes (FIN after the reply, so a
    /// client that reads gets it before the end of the connection).
    pub(crate) fn finish(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Whether the client sent something before the greeting, waiting at
    /// most `pause` for it (zero: only what has arrived already). The end
    /// of the connection is not talking.
    pub(crate) fn talks_first(&self, pause: Duration) -> io::Result<bool> {
        let mut byte = [0u8; 1];
        let peeked = if pause.is_zero() {
            self.stream.set_nonblocking(true)?;
            let peeked = self.stream.peek(&mut byte);
            self.stream.set_nonblocking(false)?;
            peeked
        } else {
            let budget = self.state.read_budget(&self.limits)?;
            self.stream.set_read_timeout(Some(pause.min(budget)))?;
            self.stream.peek(&mut byte)
        };
        match peeked {
            Ok(n) => Ok(n > 0),
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }
}

/// The session's writer, watching the replies that pass (see the module
/// documentation); after too many errors it adds `421 4.7.0` and
/// discards what the session writes after it.
pub(crate) struct ReplyWatch<W: Write> {
    inner: W,
    state: Arc<SessionState>,
    hard_error_limit: u32,
    hostname: String,
    /// The first bytes of the current reply line.
    head: [u8; 12],
    head_len: usize,
}

impl<W: Write> ReplyWatch<W> {
    pub(crate) fn new(
        inner: W,
        state: Arc<SessionState>,
        hard_error_limit: u32,
        hostname: &str,
    ) -> ReplyWatch<W> {
        ReplyWatch {
            inner,
            state,
            hard_error_limit,
            hostname: hostname.to_owned(),
            head: [0; 12],
            head_len: 0,
        }
    }

    /// A reply line ended; whether the session must end now.
    fn line_ended(&mut self) -> bool {
        let head = self.head.get(..self.head_len).unwrap_or_default();
        self.head_len = 0;
        let (Some(code), separator) = (head.get(..3), head.get(3)) else {
            return false;
        };
        // `250-...` continues a reply; `250 ...` (or `250`) ends it.
        if separator == Some(&b'-') {
            return false;
        }
        let counts = &self.state.counts;
        if head.starts_with(b"554 5.7.1") {
            counts.client_refused.fetch_add(1, Ordering::Relaxed);
        } else if head.starts_with(b"553 5.7.1") {
            counts.sender_refused.fetch_add(1, Ordering::Relaxed);
        } else if head.starts_with(b"535 5.7.8") {
            counts.auth_failed.fetch_add(1, Ordering::Relaxed);
        }
        let mut triple = [0u8; 3];
        triple.copy_from_slice(code);
        self.state.reply_ended(triple, self.hard_error_limit)
    }
}

impl<W: Write> Write for ReplyWatch<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.state.cut() == Some(Cut::HardErrors) {
            return Ok(buf.len());
        }
        for (index, byte) in buf.iter().enumerate() {
            if let Some(slot) = self.head.get_mut(self.head_len) {
                *slot = *byte;
                self.head_len += 1;
            }
            if *byte == b'\n' && self.line_ended() {
                // Postfix: "421 4.7.0 host Error: too many errors", after
                // the reply that made the error too many.
                self.inner
                    .write_all(buf.get(..=index).unwrap_or_default())?;
                write!(
                    self.inner,
                    "421 4.7.0 {} too many errors, closing\r\n",
                    self.hostname
                )?;
                self.inner.flush()?;
                self.state.set_cut(Cut::HardErrors);
                return Ok(buf.len());
            }
        }
        self.inner.write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Which client a connection counts for: an IPv4 address, or the /64 of
/// an IPv6 address (one host usually holds a whole /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    V4(u32),
    V6(u64),
}

fn client_key(address: IpAddr) -> ClientKey {
    match canonical_ip(address) {
        IpAddr::V4(v4) => ClientKey::V4(u32::from(v4)),
        IpAddr::V6(v6) => ClientKey::V6(u64::try_from(u128::from(v6) >> 64).unwrap_or(0)),
    }
}

/// One admitted session.
struct Entry {
    client: ClientKey,
    /// Exempt from the per-client limits and never evicted (the
    /// configured networks, as Postfix's
    /// `smtpd_client_event_limit_exceptions = $mynetworks`).
    exempt: bool,
    state: Arc<SessionState>,
    /// To end the session from here when it is evicted.
    stream: Option<Arc<TcpStream>>,
}

#[derive(Default)]
struct Table {
    sessions: HashMap<u64, Entry>,
    per_client: HashMap<ClientKey, usize>,
    /// Per client: the start of its current rate window and the
    /// connections it opened in it (Postfix's anvil, a fixed window per
    /// client).
    rate: HashMap<ClientKey, (Instant, u32)>,
    /// Expired windows are swept when the rate table grows past this.
    sweep_at: usize,
    next_id: u64,
}

/// The sessions in progress, by client, and the clients' recent connection
/// rates.
#[derive(Default)]
pub(crate) struct Clients {
    table: Mutex<Table>,
}

/// What [`Clients::admit`] did besides admitting.
#[derive(Debug, Default)]
pub(crate) struct Admission {
    /// A session was evicted to make room.
    pub(crate) evicted: bool,
}

/// An admitted session's slot; freed when dropped.
pub(crate) struct Ticket {
    clients: Arc<Clients>,
    id: u64,
    pub(crate) state: Arc<SessionState>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.clients.release(self.id);
    }
}

impl Clients {
    /// The sessions in progress.
    pub(crate) fn active(&self) -> usize {
        self.lock().sessions.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a new connection from `peer` or says why not; `stream`
    /// (a handle on the connection) ends the session if it is evicted.
    pub(crate) fn admit(
        self: &Arc<Self>,
        peer: IpAddr,
        exempt: bool,
        stream: Option<Arc<TcpStream>>,
        limits: &Limits,
    ) -> Result<(Ticket, Admission), Refusal> {
        let client = client_key(peer);
        let mut table = self.lock();
        let now = Instant::now();
        if !exempt && limits.max_connection_rate > 0 {
            if table.rate.len() >= table.sweep_at {
                let window = limits.rate_window;
                table
                    .rate
                    .retain(|_, (start, _)| now.duration_since(*start) < window);
                table.sweep_at = (table.rate.len() * 2).max(1024);
            }
            let (start, count) = table.rate.entry(client).or_insert((now, 0));
            if now.duration_since(*start) >= limits.rate_window {
                *start = now;
                *count = 0;
            }
            // Refused attempts count too: a client that keeps hammering
            // stays refused until it slows down.
            *count = count.saturating_add(1);
            if *count > limits.max_connection_rate {
                return Err(Refusal::Rate);
            }
        }
        let held = table.per_client.get(&client).copied().unwrap_or(0);
        if !exempt && held >= limits.max_connections_per_client.max(1) {
            return Err(Refusal::PerClient);
        }
        let mut admission = Admission::default();
        if table.sessions.len() >= limits.max_connections.max(1) {
            let newcomer = if exempt { 0 } else { held };
            let victim = evictable(&table, newcomer).ok_or(Refusal::Total)?;
            if let Some(entry) = table.sessions.remove(&victim) {
                entry.state.set_cut(Cut::Evicted);
                // Wakes the session's thread: its next read sees the end,
                // and it tells its client `421 4.7.0` (RFC 5321 section
                // 3.8) before it closes. A session stuck writing to a
                // client that does not read is shut down at once (a write
                // that just began is left to end: its client may well be
                // reading).
                if let Some(stream) = &entry.stream {
                    let how = if entry.state.stuck_writing() {
                        Shutdown::Both
                    } else {
                        Shutdown::Read
                    };
                    let _ = stream.shutdown(how);
                }
                decrement(&mut table.per_client, entry.client);
            }
            admission.evicted = true;
        }
        let id = table.next_id;
        table.next_id = table.next_id.wrapping_add(1);
        let state = Arc::new(SessionState::new());
        table.sessions.insert(
            id,
            Entry {
                client,
                exempt,
                state: Arc::clone(&state),
                stream,
            },
        );
        *table.per_client.entry(client).or_insert(0) += 1;
        Ok((
            Ticket {
                clients: Arc::clone(self),
                id,
                state,
            },
            admission,
        ))
    }

    fn release(&self, id: u64) {
        let mut table = self.lock();
        // An evicted session was removed already.
        if let Some(entry) = table.sessions.remove(&id) {
            decrement(&mut table.per_client, entry.client);
        }
    }
}

/// The session to evict for a newcomer whose client holds `newcomer`
/// sessions: the longest-idle session of the client holding the most
/// (never an exempt one), if that client holds more than the newcomer.
/// A session in DATA is taken only when every candidate is in DATA: its
/// client is sending a message, which a cut would cost it in full.
fn evictable(table: &Table, newcomer: usize) -> Option<u64> {
    let mut held: HashMap<ClientKey, usize> = HashMap::new();
    for entry in table.sessions.values().filter(|e| !e.exempt) {
        *held.entry(entry.client).or_insert(0) += 1;
    }
    let most = held.values().copied().max()?;
    if most <= newcomer {
        return None;
    }
    table
        .sessions
        .iter()
        .filter(|(_, e)| !e.exempt && held.get(&e.client) == Some(&most))
        .max_by_key(|(_, e)| (!e.state.in_data.load(Ordering::Relaxed), e.state.idle_ms()))
        .map(|(id, _)| *id)
}

fn decrement(per_client: &mut HashMap<ClientKey, usize>, client: ClientKey) {
    if let Some(count) = per_client.get_mut(&client) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            per_client.remove(&client);
        }
    }
}

/// Refuses a connection: `421 4.7.0` and close, from the accepting thread,
/// without waiting for anything (a fresh socket's send buffer takes the
/// line).
pub(crate) fn refuse(stream: &TcpStream, reply: &str) {
    let _ = stream.set_nonblocking(true);
    let mut writer = stream;
    let _ = writer.write_all(reply.as_bytes());
    let _ = stream.shutdown(Shutdown::Write);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_move_the_floor_and_count_errors() {
        let state = Arc::new(SessionState::new());
        let mut out = Vec::new();
        {
            let mut watch = ReplyWatch::new(&mut out, Arc::clone(&state), 3, "relay.test");
            watch.write_all(b"250-relay\r\n250 SIZE 1\r\n").unwrap();
            assert_eq!(state.errors.load(Ordering::Relaxed), 0);
            // Split across writes.
            watch.write_all(b"35").unwrap();
            watch.write_all(b"4 go on\r\n").unwrap();
            assert!(state.in_data.load(Ordering::Relaxed));
            watch
                .write_all(b"550 5.7.1 no\r\n500 5.5.2 what\r\n")
                .unwrap();
            assert!(!state.in_data.load(Ordering::Relaxed));
            assert_eq!(state.errors.load(Ordering::Relaxed), 2);
            watch
                .write_all(b"354 go on\r\n250 2.0.0 queued\r\n")
                .unwrap();
            assert_eq!(state.errors.load(Ordering::Relaxed), 0, "mail accepted");
            watch
                .write_all(b"501 a\r\n502 b\r\n503 c\r\n250 after\r\n")
                .unwrap();
            watch.write_all(b"250 more\r\n").unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with("503 c\r\n421 4.7.0 relay.test too many errors, closing\r\n"),
            "{text}"
        );
        assert_eq!(state.cut(), Some(Cut::HardErrors));
    }

    fn limits(total: usize, per_client: usize, rate: u32) -> Limits {
        Limits {
            max_connections: total,
            max_connections_per_client: per_client,
            max_connection_rate: rate,
            rate_window: Duration::from_secs(60),
            timeout: Duration::from_secs(300),
            session_deadline: Duration::from_secs(600),
            data_deadline: Duration::from_secs(300),
            hard_error_limit: 20,
        }
    }

    fn ip(n: u8) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, n))
    }

    #[test]
    fn per_client_rate_and_total_limits_refuse_and_free() {
        let clients = Arc::new(Clients::default());
        let limits = limits(4, 2, 3);
        let a1 = clients.admit(ip(2), false, None, &limits).unwrap();
        let (a2, _) = clients.admit(ip(2), false, None, &limits).unwrap();
        assert_eq!(
            clients.admit(ip(2), false, None, &limits).err(),
            Some(Refusal::PerClient)
        );
        // The refused attempt counted: the fourth in the minute is too many.
        drop(a1);
        assert_eq!(
            clients.admit(ip(2), false, None, &limits).err(),
            Some(Refusal::Rate)
        );
        // A trusted client is exempt from both.
        let trusted: Vec<_> = (0..3)
            .map(|_| clients.admit(ip(2), true, None, &limits).unwrap())
            .collect();
        assert_eq!(clients.active(), 4);
        // Full: a client holding nothing takes the slot of the biggest
        // holder (never a trusted one).
        let (a3, admission) = clients.admit(ip(3), false, None, &limits).unwrap();
        assert!(admission.evicted);
        assert_eq!(a2.state.cut(), Some(Cut::Evicted));
        assert_eq!(clients.active(), 4);
        drop(a2);
        assert_eq!(clients.active(), 4, "an evicted ticket frees nothing twice");
        // A client that would then hold as many as the biggest holder: no.
        assert_eq!(
            clients.admit(ip(3), false, None, &limits).err(),
            Some(Refusal::Total)
        );
        drop((trusted, a3));
        assert_eq!(clients.active(), 0);
    }

    proptest::proptest! {
        /// Finding 3 as a class: whatever a crowd of clients did before, a
        /// client from an address holding no session gets one as long as
        /// some other client holds two or more; and the total and
        /// per-client bounds hold throughout.
        #[test]
        fn a_new_address_is_never_locked_out_by_a_crowd(
            steps in proptest::collection::vec((0u8..12, proptest::bool::ANY), 1..400),
            total in 2usize..40,
            per_client in 1usize..10,
        ) {
            let clients = Arc::new(Clients::default());
            let limits = limits(total, per_client, 0);
            let mut held: Vec<(u8, Ticket)> = Vec::new();
            for (client, open) in steps {
                if open {
                    let holding = held.iter().filter(|(c, t)| *c == client && t.state.cut().is_none()).count();
                    let mut counts = HashMap::new();
                    for (c, t) in &held {
                        if t.state.cut().is_none() {
                            *counts.entry(*c).or_insert(0usize) += 1;
                        }
                    }
                    let most = counts.values().copied().max().unwrap_or(0);
                    match clients.admit(ip(client + 2), false, None, &limits) {
                        Ok((ticket, _)) => held.push((client, ticket)),
                        Err(Refusal::PerClient) => proptest::prop_assert!(holding >= per_client),
                        Err(Refusal::Total) => {
                            proptest::prop_assert!(most <= holding, "locked out: holds {holding}, another holds {most}");
                        }
                        Err(Refusal::Rate) => proptest::prop_assert!(false, "no rate limit set"),
                    }
                } else if let Some(index) = held.iter().position(|(c, _)| *c == client) {
                    held.remove(index);
                }
                // Evicted sessions' threads would end and drop their tickets.
                held.retain(|(_, t)| t.state.cut().is_none());
                proptest::prop_assert!(clients.active() <= total);
                proptest::prop_assert_eq!(clients.active(), held.len());
                let table = clients.lock();
                proptest::prop_assert!(table.per_client.values().all(|n| *n <= per_client));
            }
        }
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        let a = client_key("2001:db8:1:2::1".parse().unwrap());
        let b = client_key("2001:db8:1:2:ffff::9".parse().unwrap());
        let c = client_key("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            client_key("::ffff:192.0.2.1".parse().unwrap()),
            client_key("192.0.2.1".parse().unwrap())
        );
    }
}
