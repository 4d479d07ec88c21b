//! A scripted TLS server for enumeration tests: SMTP with STARTTLS, then
//! one ClientHello answered the way a server with the configured versions
//! and suites answers it (RFC 5246 appendix E.1: the highest version it has
//! up to the client's; the first of its suites, in its own order of
//! preference, that the client offers), with ServerHello, Certificate and
//! ServerHelloDone, or a fatal alert. It completes no handshake: it is for
//! what no OpenSSL here can serve (SSLv3, arbitrary code points).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use super::NAME;

/// The (record version, client version) of every ClientHello the stub saw.
pub(crate) type Seen = Arc<Mutex<Vec<(u16, u16)>>>;

/// A running stub (its threads end with the test process).
pub(crate) struct Stub {
    pub(crate) port: u16,
    pub(crate) seen: Seen,
}

/// Starts a stub serving `versions`: each a version (`0x0300`..`0x0303`)
/// with its suites in order of preference.
pub(crate) fn start(versions: Vec<(u16, Vec<u16>)>, certificate: Vec<u8>) -> Stub {
    start_with_limit(versions, certificate, None)
}

/// [`start`], for a server that closes the connection without a word when
/// a ClientHello lists more than `max_offered` suites (as some do above
/// 128).
pub(crate) fn start_with_limit(
    versions: Vec<(u16, Vec<u16>)>,
    certificate: Vec<u8>,
    max_offered: Option<usize>,
) -> Stub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let versions = Arc::new(versions);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let (log, certificate, versions) =
                (Arc::clone(&log), certificate.clone(), Arc::clone(&versions));
            std::thread::spawn(move || {
                let _ = serve(stream, &log, &certificate, &versions, max_offered);
            });
        }
    });
    Stub { port, seen }
}

fn serve(
    mut stream: TcpStream,
    log: &Mutex<Vec<(u16, u16)>>,
    certificate: &[u8],
    versions: &[(u16, Vec<u16>)],
    max_offered: Option<usize>,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    stream.write_all(format!("220 {NAME} ESMTP stub\r\n").as_bytes())?;
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let command = line.trim().to_ascii_uppercase();
        if command.starts_with("EHLO") {
            stream.write_all(format!("250-{NAME}\r\n250 STARTTLS\r\n").as_bytes())?;
        } else if command == "STARTTLS" {
            stream.write_all(b"220 go ahead\r\n")?;
            break;
        } else {
            stream.write_all(b"221 bye\r\n")?;
            return Ok(());
        }
    }
    // The ClientHello: one record (the probe sends it in one).
    let mut header = [0u8; 5];
    reader.read_exact(&mut header)?;
    let record_version = u16::from_be_bytes([header[1], header[2]]);
    let mut body = vec![0u8; usize::from(u16::from_be_bytes([header[3], header[4]]))];
    reader.read_exact(&mut body)?;
    if (header[0], body.first().copied()) != (22, Some(1)) {
        return Ok(()); // not a ClientHello record (rustls' is one too)
    }
    let client_version = u16::from_be_bytes([body[4], body[5]]);
    log.lock().unwrap().push((record_version, client_version));
    let session_id = usize::from(body[38]);
    let at = 39 + session_id;
    let length = usize::from(u16::from_be_bytes([body[at], body[at + 1]]));
    let offered: Vec<u16> = body[at + 2..at + 2 + length]
        .chunks(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect();
    if max_offered.is_some_and(|max| offered.len() > max) {
        return Ok(()); // dropped without an answer
    }
    let alert = |stream: &mut TcpStream, description: u8| {
        stream.write_all(&[21, 3, 1, 0, 2, 2, description])
    };
    let Some((version, suites)) = versions
        .iter()
        .filter(|(version, _)| *version <= client_version.min(0x0303))
        .max_by_key(|(version, _)| *version)
    else {
        return alert(&mut stream, 70); // protocol_version
    };
    let Some(suite) = suites.iter().find(|suite| offered.contains(suite)) else {
        return alert(&mut stream, 40); // handshake_failure
    };
    let mut handshake = Vec::new();
    let mut hello = version.to_be_bytes().to_vec();
    hello.extend_from_slice(&[7; 32]);
    hello.push(0);
    hello.extend_from_slice(&suite.to_be_bytes());
    hello.push(0);
    message(&mut handshake, 2, &hello);
    let mut list = Vec::new();
    list.extend_from_slice(&u24(certificate.len()));
    list.extend_from_slice(certificate);
    let mut certificates = u24(list.len()).to_vec();
    certificates.extend_from_slice(&list);
    message(&mut handshake, 11, &certificates);
    message(&mut handshake, 14, &[]); // ServerHelloDone
    for chunk in handshake.chunks(16_384) {
        let mut record = vec![22];
        record.extend_from_slice(&version.to_be_bytes());
        record.extend_from_slice(&u16::try_from(chunk.len()).unwrap().to_be_bytes());
        record.extend_from_slice(chunk);
        stream.write_all(&record)?;
    }
    // Wait for the client to give up (it never sends its key exchange).
    let mut rest = Vec::new();
    let _ = reader.read_to_end(&mut rest);
    Ok(())
}

fn u24(value: usize) -> [u8; 3] {
    let bytes = u32::try_from(value).unwrap().to_be_bytes();
    [bytes[1], bytes[2], bytes[3]]
}

fn message(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    out.push(kind);
    out.extend_from_slice(&u24(body.len()));
    out.extend_from_slice(body);
}
