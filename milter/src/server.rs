//! Accepting MTA connections: one thread per connection, at most
//! `max_connections` at a time.

use std::io::{self, BufReader, BufWriter};
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use crate::decision::Filter;
use crate::error::Error;
use crate::session::{Limits, serve_connection};

/// Where a milter listens.
#[derive(Debug)]
pub enum Listener {
    /// TCP (Postfix: `inet:127.0.0.1:8891`).
    Tcp(TcpListener),
    /// A Unix-domain socket (Postfix: `unix:/path`).
    Unix(UnixListener),
}

/// A milter server: accepts MTA connections and runs a session for each.
///
/// ```no_run
/// use std::net::TcpListener;
/// use std::sync::Arc;
/// use mailgate_milter::{Decision, Filter, Listener, Mail, Server};
///
/// struct PassAll;
/// impl Filter for PassAll {
///     fn end_of_message(&self, _mail: &Mail) -> Decision {
///         Decision::Accept
///     }
/// }
///
/// let server = Server::new(Arc::new(PassAll));
/// server.serve(Listener::Tcp(TcpListener::bind("127.0.0.1:8891")?))?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Server<F: Filter + 'static> {
    filter: Arc<F>,
    limits: Limits,
    max_connections: usize,
    timeout: Duration,
}

impl<F: Filter + 'static> Server<F> {
    /// A server with default limits: 64 connections, 64 MiB per mail, and
    /// a 10-minute silence timeout (longer than Postfix's
    /// `milter_content_timeout` of 300 s, so the MTA gives up first).
    pub fn new(filter: Arc<F>) -> Server<F> {
        Server {
            filter,
            limits: Limits::default(),
            max_connections: 64,
            timeout: Duration::from_secs(600),
        }
    }

    /// Sets the per-mail limits.
    pub fn limits(mut self, limits: Limits) -> Server<F> {
        self.limits = limits;
        self
    }

    /// Sets how many MTA connections are served at once; more wait in the
    /// listen backlog (the MTA's connect timeout then applies).
    pub fn max_connections(mut self, max: usize) -> Server<F> {
        self.max_connections = max.max(1);
        self
    }

    /// Sets how long a connection may stay silent.
    pub fn timeout(mut self, timeout: Duration) -> Server<F> {
        self.timeout = timeout;
        self
    }

    /// Accepts connections until accepting fails.
    pub fn serve(&self, listener: Listener) -> io::Result<()> {
        let slots = Arc::new((Mutex::new(0usize), Condvar::new()));
        loop {
            wait_for_slot(&slots, self.max_connections);
            let connection: io::Result<StreamHalves> = match &listener {
                Listener::Tcp(listener) => listener.accept().and_then(|(stream, _)| {
                    stream.set_read_timeout(Some(self.timeout))?;
                    stream.set_write_timeout(Some(self.timeout))?;
                    stream.set_nodelay(true)?;
                    let reader = stream.try_clone()?;
                    Ok((
                        Box::new(reader) as Box<dyn ReadWrite>,
                        Box::new(stream) as _,
                    ))
                }),
                Listener::Unix(listener) => listener.accept().and_then(|(stream, _)| {
                    stream.set_read_timeout(Some(self.timeout))?;
                    stream.set_write_timeout(Some(self.timeout))?;
                    let reader = stream.try_clone()?;
                    Ok((
                        Box::new(reader) as Box<dyn ReadWrite>,
                        Box::new(stream) as _,
                    ))
                }),
            };
            let (reader, writer) = match connection {
                Ok(pair) => pair,
                Err(error) => {
                    release_slot(&slots);
                    if is_per_connection(&error) {
                        continue;
                    }
                    return Err(error);
                }
            };
            let filter = Arc::clone(&self.filter);
            let limits = self.limits;
            let slots_for_thread = Arc::clone(&slots);
            let spawned = thread::Builder::new().name("milter".into()).spawn(move || {
                let mut reader = BufReader::with_capacity(64 * 1024, reader);
                let mut writer = BufWriter::with_capacity(64 * 1024, writer);
                // A panic in the filter ends this conversation only (the MTA
                // applies milter_default_action), not the server.
                let served = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    serve_connection(filter.as_ref(), limits, &mut reader, &mut writer)
                }))
                .unwrap_or_else(|_| Err(Error::Io(io::Error::other("the filter panicked"))));
                if let Err(error) = served {
                    filter.conversation_failed(&error);
                }
                release_slot(&slots_for_thread);
            });
            if spawned.is_err() {
                release_slot(&slots);
            }
        }
    }
}

/// A stream half (boxed so TCP and Unix sockets share one code path).
trait ReadWrite: io::Read + io::Write + Send {}
impl<T: io::Read + io::Write + Send> ReadWrite for T {}

/// The reading and the writing half of one connection.
type StreamHalves = (Box<dyn ReadWrite>, Box<dyn ReadWrite>);

/// Errors of `accept` that concern one client only.
fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
            | io::ErrorKind::TimedOut
    )
}

fn wait_for_slot(slots: &(Mutex<usize>, Condvar), max: usize) {
    let (count, freed) = slots;
    let mut active = count
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    while *active >= max {
        active = freed
            .wait(active)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
    }
    *active += 1;
}

fn release_slot(slots: &(Mutex<usize>, Condvar)) {
    let (count, freed) = slots;
    let mut active = count
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    *active = active.saturating_sub(1);
    freed.notify_one();
}
