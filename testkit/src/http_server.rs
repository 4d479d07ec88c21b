//! A tiny HTTP/1.1 server on the loopback interface that serves fixed
//! bodies by path, for tests of clients that download things (CRL
//! distribution points): each response is set by the test and can be
//! replaced while the server runs, and requests are counted, so a test can
//! tell a cache hit from a download.
//!
//! ```no_run
//! let server = testkit::HttpServer::start();
//! server.serve("/ca.crl", "application/pkix-crl", b"...".to_vec());
//! println!("{} asked {} times", server.url("/ca.crl"), server.requests("/ca.crl"));
//! ```

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

#[derive(Debug, Default)]
struct State {
    /// Path → (content type, body).
    bodies: HashMap<String, (String, Vec<u8>)>,
    /// Path → requests seen.
    requests: HashMap<String, usize>,
}

/// The server; stopped when dropped.
#[derive(Debug)]
pub struct HttpServer {
    port: u16,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Starts listening on 127.0.0.1, a port the kernel picks.
    #[allow(clippy::expect_used)] // a test helper: the panic is the test failure
    pub fn start() -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
        let port = listener.local_addr().expect("bound address").port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let state = Arc::clone(&state);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        // One at a time: clients here are sequential.
                        let _ = answer(stream, &state);
                    }
                }
            })
        };
        HttpServer {
            port,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Serves `body` as `content_type` at `path` from now on (other paths
    /// get 404).
    pub fn serve(&self, path: &str, content_type: &str, body: Vec<u8>) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bodies
            .insert(path.to_owned(), (content_type.to_owned(), body));
    }

    /// How many requests for `path` arrived.
    pub fn requests(&self, path: &str) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .requests
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

fn answer(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // The header fields up to the empty line; bodies are not expected.
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let found = {
        let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
        *state.requests.entry(path.clone()).or_default() += 1;
        state.bodies.get(&path).cloned()
    };
    let mut stream = stream;
    match found {
        Some((content_type, body)) => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            // A client that stops reading (a size limit) ends the write.
            stream.write_all(&body)?;
        }
        None => stream.write_all(
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )?,
    }
    stream.flush()
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
