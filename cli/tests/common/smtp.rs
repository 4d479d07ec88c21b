//! SMTP for tests: a sink server that accepts everything and keeps it (the
//! "internet", or the internal mail server, behind Postfix or the relay),
//! and a client that sends one message.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// One mail as the sink received it.
#[derive(Debug, Clone)]
pub(crate) struct Delivered {
    pub(crate) recipients: Vec<String>,
    pub(crate) data: Vec<u8>,
}

/// An SMTP server that accepts everything and keeps it: the "internet"
/// (or the internal mail server) behind Postfix or the relay.
pub(crate) struct Sink {
    pub(crate) port: u16,
    pub(crate) mail: Arc<Mutex<Vec<Delivered>>>,
}

impl Sink {
    pub(crate) fn start() -> Sink {
        Sink::start_on("127.0.0.1:0")
    }

    /// A sink listening on `address` (`IP:PORT`).
    pub(crate) fn start_on(address: &str) -> Sink {
        let listener = TcpListener::bind(address).unwrap();
        let port = listener.local_addr().unwrap().port();
        let mail = Arc::new(Mutex::new(Vec::new()));
        let store = Arc::clone(&mail);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let store = Arc::clone(&store);
                thread::spawn(move || {
                    let _ = sink_session(stream, &store);
                });
            }
        });
        Sink { port, mail }
    }

    /// Waits for the mail to `recipient`.
    pub(crate) fn wait_for(&self, recipient: &str) -> Delivered {
        self.wait_for_containing(recipient, "")
    }

    /// Waits for a mail to `recipient` whose text contains `text`.
    pub(crate) fn wait_for_containing(&self, recipient: &str, text: &str) -> Delivered {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(found) = self.mail.lock().unwrap().iter().find(|m| {
                m.recipients.iter().any(|r| r == recipient)
                    && String::from_utf8_lossy(&m.data).contains(text)
            }) {
                return found.clone();
            }
            thread::sleep(Duration::from_millis(100));
        }
        panic!("no mail for {recipient} containing {text:?} reached the sink");
    }

    pub(crate) fn count(&self) -> usize {
        self.mail.lock().unwrap().len()
    }
}

fn sink_session(stream: TcpStream, store: &Mutex<Vec<Delivered>>) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    writer.write_all(b"220 sink.example ESMTP\r\n")?;
    let mut recipients = Vec::new();
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&line).to_ascii_uppercase();
        if command.starts_with("EHLO") {
            writer.write_all(b"250-sink.example\r\n250 8BITMIME\r\n")?;
        } else if command.starts_with("RCPT TO:") {
            let text = String::from_utf8_lossy(&line);
            let address = text[text.find('<').unwrap() + 1..text.find('>').unwrap()].to_owned();
            recipients.push(address);
            writer.write_all(b"250 ok\r\n")?;
        } else if command.starts_with("DATA") {
            writer.write_all(b"354 go on\r\n")?;
            let mut data = Vec::new();
            loop {
                line.clear();
                if reader.read_until(b'\n', &mut line)? == 0 {
                    // The client went away mid-message: nothing was
                    // delivered, as with any real server.
                    return Ok(());
                }
                if line == b".\r\n" {
                    break;
                }
                data.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line));
            }
            store.lock().unwrap().push(Delivered {
                recipients: std::mem::take(&mut recipients),
                data,
            });
            writer.write_all(b"250 kept\r\n")?;
        } else if command.starts_with("QUIT") {
            writer.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else {
            // MAIL FROM, RSET, NOOP, HELO.
            if command.starts_with("RSET") {
                recipients.clear();
            }
            writer.write_all(b"250 ok\r\n")?;
        }
    }
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn wait_until_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} never listened on {port}");
        thread::sleep(Duration::from_millis(100));
    }
}

/// Sends one message; `Ok(reply)` with the final reply to DATA, `Err` when
/// the connection broke first.
pub(crate) fn send(port: u16, from: &str, to: &[&str], message: &[u8]) -> Result<String, String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream);
    let mut reply = || -> Result<String, String> {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err("closed".into());
            }
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(all);
            }
        }
    };
    reply()?;
    let mut commands = vec!["EHLO client.test".to_owned(), format!("MAIL FROM:<{from}>")];
    commands.extend(to.iter().map(|r| format!("RCPT TO:<{r}>")));
    commands.push("DATA".into());
    for command in commands {
        writer
            .write_all(format!("{command}\r\n").as_bytes())
            .map_err(|e| e.to_string())?;
        let answer = reply()?;
        if !answer.starts_with('2') && !answer.starts_with('3') {
            return Ok(answer);
        }
    }
    writer.write_all(message).map_err(|e| e.to_string())?;
    writer.write_all(b".\r\n").map_err(|e| e.to_string())?;
    let answer = reply()?;
    let _ = writer.write_all(b"QUIT\r\n");
    Ok(answer)
}

/// An SMTP session over STARTTLS with `openssl s_client -starttls smtp
/// ARGS` as the client, run in `dir`: each line of `script` is sent once
/// the reply to the one before has come (the message text after `354` in
/// one go), as a client must where RFC 2920 does not allow pipelining (the
/// relay disconnects clients that send ahead, as Postfix with
/// `smtpd_forbid_unauth_pipelining`). Returns what s_client printed.
pub(crate) fn paced_s_client(dir: &std::path::Path, args: &[&str], script: &[u8]) -> Vec<u8> {
    use std::process::{Command, Stdio};
    let mut child = Command::new("openssl")
        .args(["s_client", "-starttls", "smtp"])
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (lines, replies) = std::sync::mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    let reader = thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stdout).split(b'\n') {
            let Ok(line) = line else { break };
            all.extend_from_slice(&line);
            all.push(b'\n');
            let _ = lines.send(String::from_utf8_lossy(&line).into_owned());
        }
        all
    });
    let mut stdin = child.stdin.take().unwrap();
    // The last line of the next reply (`NNN text`); empty after 30 s.
    let wait_for_reply = || loop {
        match replies.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.as_bytes().get(3) == Some(&b' ') => return line,
            Ok(_) => {}
            Err(_) => return String::new(),
        }
    };
    let text = String::from_utf8_lossy(script).into_owned();
    let mut lines = text.split_inclusive('\n');
    while let Some(line) = lines.next() {
        stdin.write_all(line.as_bytes()).unwrap();
        let reply = wait_for_reply();
        if reply.starts_with("354") {
            for content in lines.by_ref() {
                stdin.write_all(content.as_bytes()).unwrap();
                if content.trim_end() == "." {
                    break;
                }
            }
            wait_for_reply();
        }
        if reply.is_empty() || reply.starts_with("221") {
            break;
        }
    }
    drop(stdin);
    let _ = child.wait();
    reader.join().unwrap()
}
