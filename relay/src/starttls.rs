//! SMTP over a TCP connection with STARTTLS on the receiving side
//! (RFC 3207), on rustls.

use std::cell::RefCell;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::rc::Rc;
use std::sync::Arc;

use mailgate_spool::{MessageId, Spool};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

use crate::limits::Guarded;
use crate::smtp_server::{Ending, ServerSettings, Tls, greet, session};

/// A rustls server configuration from PEM files' contents: the certificate
/// chain (leaf first) and its private key (PKCS#8, PKCS#1 or SEC 1).
/// rustls' defaults apply: TLS 1.2 and 1.3 with AEAD suites and
/// forward-secret key exchange only.
pub fn server_config(chain_pem: &[u8], key_pem: &[u8]) -> Result<ServerConfig, String> {
    let chain = CertificateDer::pem_slice_iter(chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate: {e}"))?;
    if chain.is_empty() {
        return Err("certificate: no certificate in the file".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| format!("private key: {e}"))?;
    ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("certificate and key: {e}"))
}

/// One half of a stream shared by a reader and a writer in one thread.
struct Shared<S>(Rc<RefCell<S>>);

impl<S: Read> Read for Shared<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

impl<S: Write> Write for Shared<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

/// Serves one SMTP client on `stream`, offering STARTTLS when `tls` is set.
/// The session's deadlines apply under TLS (to the TCP stream); its
/// replies are watched above it (see `limits`).
pub(crate) fn serve_connection(
    settings: &ServerSettings,
    spool: &Spool,
    stream: Guarded,
    tls: Option<&Arc<ServerConfig>>,
    spooled: &mut impl FnMut(&MessageId),
) -> io::Result<()> {
    // A client that talks before the greeting does not read replies (a
    // spam engine, or a pipelining attack on the session's state):
    // sendmail's greet_pause and Postfix's postscreen pregreet test.
    if settings.forbid_unauth_pipelining && stream.talks_first(settings.greet_pause)? {
        let mut writer = stream.watcher(&settings.hostname).wrap(stream.try_clone()?);
        write!(
            writer,
            "554 5.5.0 {} protocol synchronization error: you talked before the greeting\r\n",
            settings.hostname
        )?;
        writer.flush()?;
        stream.finish();
        return Ok(());
    }
    let control = stream.try_clone()?;
    let mut reader = BufReader::with_capacity(64 * 1024, stream.try_clone()?);
    let mut writer = BufWriter::new(stream.watcher(&settings.hostname).wrap(stream.try_clone()?));
    greet(settings, &mut writer)?;
    let offer = if tls.is_some() {
        Tls::Offered
    } else {
        Tls::NotOffered
    };
    let ending = session(settings, spool, &mut reader, &mut writer, offer, spooled);
    let ending = match ending {
        _ if control.evicted() => {
            evicted(settings, &mut writer);
            control.finish();
            return Ok(());
        }
        ending => ending?,
    };
    let (Ending::StartTls, Some(config)) = (ending, tls) else {
        return Ok(());
    };
    // Commands pipelined behind STARTTLS were sent in clear: a
    // man-in-the-middle could have put them there (CVE-2011-0411).
    if !reader.buffer().is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the client sent commands after STARTTLS before the handshake",
        ));
    }
    drop((reader, writer));
    let connection = ServerConnection::new(Arc::clone(config))
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let watcher = stream.watcher(&settings.hostname);
    let tls_stream = Rc::new(RefCell::new(StreamOwned::new(connection, stream)));
    let mut reader = BufReader::with_capacity(64 * 1024, Shared(Rc::clone(&tls_stream)));
    let mut writer = BufWriter::new(watcher.wrap(Shared(Rc::clone(&tls_stream))));
    // RFC 3207 section 4.2: the client starts over with EHLO; no greeting.
    let result = session(
        settings,
        spool,
        &mut reader,
        &mut writer,
        Tls::Active,
        spooled,
    );
    let evicted_now = control.evicted();
    if evicted_now {
        evicted(settings, &mut writer);
    }
    drop((reader, writer));
    // End TLS properly: without close_notify a client cannot tell the end
    // of the session from a truncation attack.
    let mut tls_stream = tls_stream.borrow_mut();
    tls_stream.conn.send_close_notify();
    let _ = tls_stream.flush();
    if evicted_now {
        control.finish();
        return Ok(());
    }
    result.map(|_| ())
}

/// Tells the client of an evicted session why it ends (RFC 5321 section
/// 3.8: a server that closes must send `421` first), in the middle of
/// whatever it was doing, DATA included; best effort, the connection is
/// going away.
fn evicted<W: Write>(settings: &ServerSettings, writer: &mut W) {
    let _ = write!(
        writer,
        "421 4.7.0 {} closing: all connections are taken and your address holds the most; \
         try again later\r\n",
        settings.hostname
    );
    let _ = writer.flush();
}
