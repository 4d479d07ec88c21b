//! SSLv3 is probed with a raw ClientHello of version 0x0300.
//!
//! Debian's OpenSSL 3.0 is built without SSLv3 (`openssl s_server` has no
//! `-ssl3`, Python's `ssl.HAS_SSLv3` is false), so no real SSLv3 server can
//! run here: the peer is a stub that speaks SMTP and STARTTLS and answers a
//! ClientHello as an SSLv3-only server does (RFC 6101 section 5.6.1.2: a
//! ServerHello of version 3.0 whatever the client offered, the first of its
//! suites the client offers, its certificate), or refuses with a
//! handshake_failure alert.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use support::{NAME, prober};
use testkit::KeyKind;
use tls_policy::{CipherSuite, Handshake, Outcome, Profile, Target, TlsVersion};

/// The stub's suites in its order of preference.
const STUB_SUITES: [u16; 3] = [0x000a, 0x0005, 0x002f];

/// The (record version, client version) of every ClientHello the stub saw.
type Seen = Arc<Mutex<Vec<(u16, u16)>>>;

/// Starts the stub; returns its port and what it saw.
fn sslv3_stub() -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let certificate = testkit::pki()
        .tls_server(NAME, KeyKind::Rsa3072)
        .certificate_der()
        .to_vec();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let log = Arc::clone(&log);
            let certificate = certificate.clone();
            std::thread::spawn(move || {
                let _ = serve(stream, &log, &certificate);
            });
        }
    });
    (port, seen)
}

fn serve(
    mut stream: TcpStream,
    log: &Mutex<Vec<(u16, u16)>>,
    certificate: &[u8],
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    stream.write_all(format!("220 {NAME} ESMTP SSLv3 stub\r\n").as_bytes())?;
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
    assert_eq!((header[0], body[0]), (22, 1), "a ClientHello record");
    let client_version = u16::from_be_bytes([body[4], body[5]]);
    log.lock().unwrap().push((record_version, client_version));
    let session_id = usize::from(body[38]);
    let at = 39 + session_id;
    let length = usize::from(u16::from_be_bytes([body[at], body[at + 1]]));
    let offered: Vec<u16> = body[at + 2..at + 2 + length]
        .chunks(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect();
    let Some(suite) = STUB_SUITES.iter().find(|suite| offered.contains(suite)) else {
        stream.write_all(&[21, 3, 0, 0, 2, 2, 40])?; // fatal handshake_failure
        return Ok(());
    };
    let mut handshake = Vec::new();
    // ServerHello: version 3.0, random, no session id, suite, no compression.
    let mut hello = vec![3, 0];
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
        let mut record = vec![22, 3, 0];
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

#[test]
fn an_sslv3_server_is_found_with_its_suites_and_fails_tr_02102_2() {
    let (port, seen) = sslv3_stub();
    let target = Target::parse(&format!("127.0.0.1:{port}"), false)
        .unwrap()
        .with_name(NAME);
    let (observation, report) = prober(Profile::bsi_tr_03108()).check(&target).unwrap();

    // The probe said 3.0 in the record and in the ClientHello.
    assert!(
        seen.lock().unwrap().contains(&(0x0300, 0x0300)),
        "{:?}",
        seen.lock().unwrap()
    );
    let enumeration = observation.enumeration.as_ref().unwrap();
    assert!(
        enumeration.incomplete.is_empty(),
        "{:?}",
        enumeration.incomplete
    );
    // The stub answers every ClientHello with 3.0: only SSLv3 counts.
    assert_eq!(enumeration.versions, [TlsVersion::SSL3]);
    let suites: Vec<CipherSuite> = enumeration.suites_for(TlsVersion::SSL3).to_vec();
    assert_eq!(
        suites,
        STUB_SUITES.map(CipherSuite),
        "in the server's preference order"
    );
    // rustls cannot speak SSLv3; the certificate comes from the enumeration.
    assert!(matches!(observation.handshake, Handshake::Failed { .. }));
    assert_eq!(observation.certificates.len(), 1);

    // TR-02102-2 3.2 / RFC 7568: offering SSLv3 at all fails.
    let version: Vec<(&str, Outcome, &str)> = report
        .findings
        .iter()
        .filter(|f| f.check == "offered.version")
        .map(|f| (f.requirement.as_str(), f.outcome, f.observed.as_str()))
        .collect();
    assert_eq!(
        version,
        [(
            "TR-02102-2 3.2 / RFC 7568",
            Outcome::Fail,
            "SSLv3 offered (3 suite(s), for example TLS_RSA_WITH_3DES_EDE_CBC_SHA)"
        )]
    );
    assert!(!report.conforms);
    assert!(
        report.findings.iter().any(|f| f.check == "offered.suite"
            && f.observed == "TLS_RSA_WITH_RC4_128_SHA offered (SSLv3)"),
        "{report:#?}"
    );
    let weakest = report
        .findings
        .iter()
        .find(|f| f.check == "offer.weakest-suite")
        .unwrap();
    assert_eq!(
        weakest.observed,
        "TLS_RSA_WITH_RC4_128_SHA (insecure, SSLv3)"
    );
}
