//! SMTP peers for tests: a line-by-line [`Client`] (from any
//! `127.0.0.LAST` address, [`connect_from`]), and for SMTP smuggling
//! (CVE-2023-51764/51765/51766) a hostile client that puts a second
//! transaction behind a non-standard end of data and a lenient next hop
//! that would fall for one.
//!
//! ```
//! use testkit::smtp::{LenientHop, SMUGGLING_ENDS, hostile_transaction, smuggling_payload};
//!
//! let hop = LenientHop::start();
//! let replies = hostile_transaction(hop.port, "alice@behoerde.example", "frank@behoerde.example",
//!     &smuggling_payload(SMUGGLING_ENDS[0], b"\n"));
//! // The lenient hop falls for it: two transactions.
//! hop.wait_for_sessions(1);
//! assert_eq!(hop.transactions().len(), 2);
//! # let _ = replies;
//! ```

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// End-of-data spellings some SMTP server has taken for the real
/// `CR LF . CR LF` (the published smuggling variants).
pub const SMUGGLING_ENDS: &[&[u8]] = &[
    b"\n.\n",
    b"\r\n.\n",
    b"\n.\r\n",
    b"\r.\r",
    b"\r.\r\n",
    b"\r\n.\r",
    b"\n.\r",
    b"\r\n\x00.\r\n",
    b"\r\n.\x00\r\n",
    b"\n\n.\n\n",
];

/// The sender of the smuggled transaction.
pub const SMUGGLED_SENDER: &str = "ceo@behoerde.example";
/// The recipient of the smuggled transaction.
pub const SMUGGLED_RECIPIENT: &str = "smuggled@behoerde.example";

/// A first message, then `end_of_data`, then a second transaction from
/// [`SMUGGLED_SENDER`] to [`SMUGGLED_RECIPIENT`] whose lines end in
/// `line_end`, then `end_of_data` again and a real `CR LF . CR LF`.
pub fn smuggling_payload(end_of_data: &[u8], line_end: &[u8]) -> Vec<u8> {
    let mut payload = b"From: alice@behoerde.example\r\nSubject: first\r\n\r\nfirst".to_vec();
    payload.extend_from_slice(end_of_data);
    let mail = format!("MAIL FROM:<{SMUGGLED_SENDER}>");
    let rcpt = format!("RCPT TO:<{SMUGGLED_RECIPIENT}>");
    for line in [
        mail.as_bytes(),
        rcpt.as_bytes(),
        b"DATA",
        b"From: ceo@behoerde.example\r\nSubject: smuggled\r\n\r\nsmuggled",
    ] {
        payload.extend_from_slice(line);
        payload.extend_from_slice(line_end);
    }
    payload.extend_from_slice(end_of_data);
    payload.extend_from_slice(b"\r\n.\r\n");
    payload
}

/// One client on `127.0.0.1:port`: EHLO, MAIL FROM `sender`, RCPT TO
/// `recipient` and DATA as a well-behaved client sends them (each waiting
/// for its reply), then `payload` in one write and QUIT. Returns every
/// reply line until the server closed. A server that closes with input
/// unread makes the kernel reset the connection, which may lose its last
/// reply on the way: a reset ends the list with `"reset"`.
pub fn hostile_transaction(
    port: u16,
    sender: &str,
    recipient: &str,
    payload: &[u8],
) -> Vec<String> {
    let mut replies = Vec::new();
    let Ok(stream) = TcpStream::connect(("127.0.0.1", port)) else {
        replies.push("reset".to_owned());
        return replies;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(mut writer) = stream.try_clone() else {
        return replies;
    };
    let mut reader = BufReader::new(stream);
    // One reply (all its lines); false once the server closed.
    let mut reply = |replies: &mut Vec<String>| loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(_) => {
                replies.push("reset".to_owned());
                return false;
            }
        }
        let last = line.as_bytes().get(3) != Some(&b'-');
        replies.push(line.trim_end().to_owned());
        if last {
            return true;
        }
    };
    reply(&mut replies);
    for command in [
        "EHLO attacker.test".to_owned(),
        format!("MAIL FROM:<{sender}>"),
        format!("RCPT TO:<{recipient}>"),
        "DATA".to_owned(),
    ] {
        if writer
            .write_all(format!("{command}\r\n").as_bytes())
            .is_err()
            || !reply(&mut replies)
        {
            return replies;
        }
    }
    if !replies.last().is_some_and(|r| r.starts_with("354")) {
        return replies;
    }
    // The server may close while this is still being written.
    let _ = writer.write_all(payload);
    let _ = writer.write_all(b"QUIT\r\n");
    while reply(&mut replies) {}
    replies
}

/// How many `250` replies to the end of a message `replies` holds (the
/// relay's `250 2.0.0 queued as` and Postfix's `250 2.0.0 Ok: queued as`).
pub fn queued(replies: &[String]) -> usize {
    replies
        .iter()
        .filter(|r| r.starts_with("250 2.0.0 queued") || r.starts_with("250 2.0.0 Ok: queued"))
        .count()
}

/// One transaction a next hop took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    /// The address in MAIL FROM.
    pub sender: String,
    /// The addresses in RCPT TO.
    pub recipients: Vec<String>,
    /// The message, dot-stuffing undone, each line ended by CR LF.
    pub message: Vec<u8>,
}

/// A next hop on loopback as lenient as SMTP servers have been: a line
/// ends at CR LF, at a lone CR or at a lone LF, NUL bytes are dropped, and
/// a line that is then `.` ends the message. It keeps every transaction.
pub struct LenientHop {
    /// Its port on 127.0.0.1.
    pub port: u16,
    transactions: Arc<Mutex<Vec<Transaction>>>,
    ended: Arc<Mutex<usize>>,
}

impl LenientHop {
    /// Listens on a free port of 127.0.0.1.
    ///
    /// # Panics
    ///
    /// When it cannot listen.
    #[allow(clippy::expect_used)]
    pub fn start() -> LenientHop {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("a local address").port();
        let transactions = Arc::new(Mutex::new(Vec::new()));
        let ended = Arc::new(Mutex::new(0));
        let (kept, count) = (Arc::clone(&transactions), Arc::clone(&ended));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (kept, count) = (Arc::clone(&kept), Arc::clone(&count));
                thread::spawn(move || {
                    let _ = lenient_session(stream, &kept);
                    *count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
                });
            }
        });
        LenientHop {
            port,
            transactions,
            ended,
        }
    }

    /// The transactions so far.
    pub fn transactions(&self) -> Vec<Transaction> {
        self.transactions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until `sessions` sessions have ended: whatever the hop made of
    /// the bytes of those sessions is recorded by then.
    ///
    /// # Panics
    ///
    /// After 60 seconds.
    #[allow(clippy::panic)]
    pub fn wait_for_sessions(&self, sessions: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while *self.ended.lock().unwrap_or_else(PoisonError::into_inner) < sessions {
            if Instant::now() > deadline {
                panic!("the next hop saw fewer than {sessions} sessions end");
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits until it has kept `count` transactions.
    ///
    /// # Panics
    ///
    /// After 60 seconds.
    #[allow(clippy::panic)]
    pub fn wait_for_transactions(&self, count: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.transactions().len() < count {
            if Instant::now() > deadline {
                panic!("the next hop kept {:?}, not {count}", self.transactions());
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The next lenient line; `None` at the end of the connection.
fn lenient_line(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    loop {
        let mut byte = [0u8];
        if reader.read(&mut byte)? == 0 {
            return Ok(None);
        }
        match byte {
            [b'\n'] => return Ok(Some(line)),
            [b'\r'] => {
                if reader.fill_buf()?.first() == Some(&b'\n') {
                    reader.consume(1);
                }
                return Ok(Some(line));
            }
            [0] => {}
            [other] => line.push(other),
        }
    }
}

/// The address between `<` and `>` of a MAIL or RCPT line.
fn path(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line);
    let start = text.find('<').map_or(0, |i| i + 1);
    let end = text.rfind('>').unwrap_or(text.len()).max(start);
    text.get(start..end).unwrap_or_default().to_owned()
}

fn lenient_session(stream: TcpStream, kept: &Mutex<Vec<Transaction>>) -> io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    writer.write_all(b"220 lenient.test\r\n")?;
    let (mut sender, mut recipients) = (String::new(), Vec::new());
    while let Some(line) = lenient_line(&mut reader)? {
        let upper = line.to_ascii_uppercase();
        let answer: &[u8] = if upper.starts_with(b"EHLO") {
            b"250-lenient.test\r\n250 8BITMIME\r\n"
        } else if upper.starts_with(b"MAIL FROM:") {
            sender = path(&line);
            b"250 ok\r\n"
        } else if upper.starts_with(b"RCPT TO:") {
            recipients.push(path(&line));
            b"250 ok\r\n"
        } else if upper.starts_with(b"DATA") {
            writer.write_all(b"354 go on\r\n")?;
            let mut message = Vec::new();
            loop {
                let Some(line) = lenient_line(&mut reader)? else {
                    return Ok(());
                };
                if line == b"." {
                    break;
                }
                message.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line));
                message.extend_from_slice(b"\r\n");
            }
            kept.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(Transaction {
                    sender: std::mem::take(&mut sender),
                    recipients: std::mem::take(&mut recipients),
                    message,
                });
            b"250 kept\r\n"
        } else if upper.starts_with(b"QUIT") {
            writer.write_all(b"221 bye\r\n")?;
            let _ = writer.shutdown(Shutdown::Write);
            return Ok(());
        } else {
            b"250 ok\r\n"
        };
        writer.write_all(answer)?;
    }
    Ok(())
}

/// A TCP connection to `port` on 127.0.0.1 from the local address
/// `127.0.0.LAST`, so that a server's per-client accounting tells test
/// clients apart (Linux routes all of 127.0.0.0/8 to the loopback
/// interface).
pub fn connect_from(last: u8, port: u16) -> io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)), 0);
    socket.bind(&local.into())?;
    let remote = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    socket.connect_timeout(&remote.into(), Duration::from_secs(10))?;
    Ok(socket.into())
}

/// An SMTP client line by line: it writes what it is told and reads whole
/// (multi-line) replies, with a 30-second read timeout so a server that
/// says nothing fails the test instead of hanging it.
///
/// ```
/// use testkit::smtp::{Client, LenientHop};
///
/// let hop = LenientHop::start();
/// let mut client = Client::connect_from(1, hop.port)?;
/// assert!(client.reply().starts_with("220 "));
/// let reply = client.transaction("a@example.org", "b@example.org", b"Subject: x\r\n\r\nhi\r\n");
/// assert!(reply.starts_with("250"), "{reply}");
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

#[allow(clippy::expect_used)] // a test helper: the panic is the test failure
impl Client {
    /// A client on an open connection (the greeting not read yet).
    pub fn new(stream: TcpStream) -> Client {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("set a read timeout");
        Client {
            writer: stream.try_clone().expect("clone the connection"),
            reader: BufReader::new(stream),
        }
    }

    /// A client connected from `127.0.0.LAST` ([`connect_from`]).
    pub fn connect_from(last: u8, port: u16) -> io::Result<Client> {
        connect_from(last, port).map(Client::new)
    }

    /// The next whole reply (all its lines); empty at the end of the
    /// connection.
    pub fn reply(&mut self) -> String {
        let mut reply = String::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).unwrap_or(0) == 0 {
                return reply;
            }
            reply.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return reply;
            }
        }
    }

    /// How long [`Client::reply`] waits for a line (30 seconds unless set).
    pub fn set_read_timeout(&mut self, timeout: Duration) {
        self.reader
            .get_ref()
            .set_read_timeout(Some(timeout))
            .expect("set a read timeout");
    }

    /// Writes `bytes` as they are, reading nothing.
    pub fn write(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).expect("write to the server");
    }

    /// Writes `bytes` as they are, reading nothing; the error when the
    /// server has closed the connection (for clients that expect it to).
    pub fn try_write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.writer.write_all(bytes)
    }

    /// Reads what is left until the server closes the connection (after
    /// any replies not read yet) into `rest`.
    pub fn read_to_string(&mut self, rest: &mut String) -> io::Result<usize> {
        self.reader.read_to_string(rest)
    }

    /// The connection itself (for socket options, or to read past the
    /// buffered replies).
    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    /// Writes `line` and CR LF; the reply.
    pub fn command(&mut self, line: &str) -> String {
        self.write(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// EHLO (which must be accepted), MAIL, RCPT and DATA, each after the
    /// reply to the one before, then `message` and the final dot: the reply
    /// to the dot, or the first refusal of MAIL or RCPT.
    pub fn transaction(&mut self, from: &str, to: &str, message: &[u8]) -> String {
        let ehlo = self.command("EHLO client.test");
        assert!(ehlo.starts_with("250"), "{ehlo}");
        for command in [format!("MAIL FROM:<{from}>"), format!("RCPT TO:<{to}>")] {
            let reply = self.command(&command);
            if !reply.starts_with("250") {
                return reply;
            }
        }
        let data = self.command("DATA");
        assert!(data.starts_with("354"), "{data}");
        self.write(message);
        self.write(b".\r\n");
        self.reply()
    }

    /// Whether the server closed the connection (after any replies left).
    pub fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.reader.read_to_end(&mut rest).is_ok()
    }
}
