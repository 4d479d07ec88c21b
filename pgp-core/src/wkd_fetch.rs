//! Fetching Web Key Directory URLs over HTTPS with rustls: a small HTTP/1.1
//! `GET` client, enough for WKD (`Content-Length`, chunked, or read to the
//! end), with timeouts and a size limit.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use crate::error::Error;
use crate::wkd::WkdFetcher;

/// The largest WKD answer accepted (certificates are a few KB; a
/// directory serving megabytes is broken or hostile).
pub const MAX_WKD_RESPONSE: usize = 1024 * 1024;

/// Fetches WKD URLs over HTTPS, validating the server against the
/// caller's roots.
///
/// A host that does not resolve, does not accept connections, or answers
/// 4xx counts as "not there" (the advanced method's subdomain usually does
/// not exist); TLS failures, timeouts and 5xx are errors.
#[derive(Debug, Clone)]
pub struct HttpsFetcher {
    config: Arc<ClientConfig>,
    timeout: Duration,
    connect_to: Option<SocketAddr>,
}

impl HttpsFetcher {
    /// A fetcher trusting `roots` (for example the system's or
    /// `webpki-roots`), with rustls's ring provider and safe defaults.
    pub fn new(roots: RootCertStore) -> Result<HttpsFetcher, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Wkd {
                url: String::new(),
                reason: e.to_string(),
            })?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(HttpsFetcher::with_config(Arc::new(config)))
    }

    /// A fetcher with a rustls configuration of the caller's.
    pub fn with_config(config: Arc<ClientConfig>) -> HttpsFetcher {
        HttpsFetcher {
            config,
            timeout: Duration::from_secs(10),
            connect_to: None,
        }
    }

    /// Connect and read timeouts (default 10 seconds).
    pub fn with_timeout(mut self, timeout: Duration) -> HttpsFetcher {
        self.timeout = timeout;
        self
    }

    /// Connects to `address` for every host (the server's name is still
    /// checked against its certificate): for tests against a local server,
    /// or a fixed outbound relay.
    pub fn connect_to(mut self, address: SocketAddr) -> HttpsFetcher {
        self.connect_to = Some(address);
        self
    }

    fn get(&self, url: &str) -> Result<Option<Vec<u8>>, String> {
        let rest = url.strip_prefix("https://").ok_or("not an https URL")?;
        let (host, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, "/"),
        };
        let address = match self.connect_to {
            Some(address) => address,
            None => match (host, 443)
                .to_socket_addrs()
                .ok()
                .and_then(|mut a| a.next())
            {
                Some(address) => address,
                None => return Ok(None),
            },
        };
        let Ok(tcp) = TcpStream::connect_timeout(&address, self.timeout) else {
            return Ok(None);
        };
        tcp.set_read_timeout(Some(self.timeout))
            .and_then(|()| tcp.set_write_timeout(Some(self.timeout)))
            .map_err(|e| e.to_string())?;
        let name = ServerName::try_from(host.to_owned()).map_err(|e| e.to_string())?;
        let connection =
            ClientConnection::new(Arc::clone(&self.config), name).map_err(|e| e.to_string())?;
        let mut tls = StreamOwned::new(connection, tcp);
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: mailgate-wkd\r\nAccept: application/octet-stream\r\nConnection: close\r\n\r\n"
        );
        tls.write_all(request.as_bytes())
            .map_err(|e| e.to_string())?;
        let mut response = Vec::new();
        let mut buffer = [0u8; 8192];
        loop {
            match tls.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    response.extend_from_slice(buffer.get(..n).unwrap_or_default());
                    if response.len() > MAX_WKD_RESPONSE + 16 * 1024 {
                        return Err(format!("answer larger than {MAX_WKD_RESPONSE} bytes"));
                    }
                }
                // Servers that close without close_notify: the framing
                // below tells whether the body is complete.
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e.to_string()),
            }
        }
        parse_response(&response)
    }
}

impl WkdFetcher for HttpsFetcher {
    fn fetch(&self, url: &str) -> Result<Option<Vec<u8>>, Error> {
        self.get(url).map_err(|reason| Error::Wkd {
            url: url.to_owned(),
            reason,
        })
    }
}

/// Status, headers and body of an HTTP/1.1 response.
fn parse_response(response: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no complete HTTP header")?;
    let head = String::from_utf8_lossy(response.get(..head_end).unwrap_or_default());
    let body = response.get(head_end + 4..).unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("malformed HTTP status line")?;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| "bad Content-Length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    match status {
        200 => {}
        400..=499 => return Ok(None),
        _ => return Err(format!("HTTP status {status}")),
    }
    let body = if chunked {
        dechunk(body)?
    } else if let Some(length) = length {
        body.get(..length)
            .ok_or("body shorter than Content-Length")?
            .to_vec()
    } else {
        body.to_vec()
    };
    if body.len() > MAX_WKD_RESPONSE {
        return Err(format!("answer larger than {MAX_WKD_RESPONSE} bytes"));
    }
    Ok(Some(body))
}

/// Decodes `Transfer-Encoding: chunked` (RFC 9112 section 7.1).
fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("truncated chunk size")?;
        let size_line = String::from_utf8_lossy(body.get(..line_end).unwrap_or_default());
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| "bad chunk size")?;
        let data_start = line_end + 2;
        if size == 0 {
            return Ok(out);
        }
        let chunk = body
            .get(data_start..data_start.saturating_add(size))
            .ok_or("truncated chunk")?;
        out.extend_from_slice(chunk);
        if out.len() > MAX_WKD_RESPONSE {
            return Err(format!("answer larger than {MAX_WKD_RESPONSE} bytes"));
        }
        body = body.get(data_start + size + 2..).ok_or("truncated chunk")?;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn responses_are_framed_by_length_chunks_or_end() {
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef").unwrap(),
            Some(b"abc".to_vec())
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n")
                .unwrap(),
            Some(b"abcde".to_vec())
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\n\r\nall").unwrap(),
            Some(b"all".to_vec())
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n").unwrap(),
            None
        );
        assert!(parse_response(b"HTTP/1.1 503 Busy\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc").is_err());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nff\r\nabc")
                .is_err()
        );
        assert!(parse_response(b"garbage").is_err());
    }
}
