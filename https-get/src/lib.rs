#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// The largest response head (status line and header fields) accepted.
pub const MAX_HEAD: usize = 16 * 1024;

/// Why a `GET` gave no response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HttpsError {
    /// The host has no address, or refused or did not take the
    /// connection.
    #[error("{host}: unreachable: {reason}")]
    Unreachable {
        /// The host asked for.
        host: String,
        /// What failed.
        reason: String,
    },
    /// TLS (certificate, handshake) or the connection failed after it was
    /// made.
    #[error("{host}: {reason}")]
    Connection {
        /// The host asked for.
        host: String,
        /// What failed.
        reason: String,
    },
    /// The response is not well-formed HTTP/1.1.
    #[error("malformed HTTP response: {0}")]
    Malformed(String),
    /// The body exceeds the limit.
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
    /// The host or the client configuration is unusable.
    #[error("{0}")]
    Setup(String),
}

/// A response: its status, its media type, its body (unframed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` field, as sent.
    pub content_type: Option<String>,
    /// The body, with chunked framing removed.
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the media type (before any parameters) is `media_type`,
    /// compared case-insensitively.
    pub fn has_content_type(&self, media_type: &str) -> bool {
        self.content_type.as_deref().is_some_and(|value| {
            value
                .split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(media_type))
        })
    }
}

/// The client: a rustls configuration, time limits, a size limit.
#[derive(Debug, Clone)]
pub struct Client {
    config: Arc<ClientConfig>,
    timeout: Duration,
    max_body: usize,
    port: u16,
    connect_to: Option<SocketAddr>,
    user_agent: String,
}

impl Client {
    /// A client trusting `roots`, with rustls' ring provider and safe
    /// default protocol versions; 10 s timeouts, bodies up to 1 MiB.
    pub fn new(roots: Arc<RootCertStore>) -> Result<Client, HttpsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| HttpsError::Setup(error.to_string()))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Client::with_config(Arc::new(config)))
    }

    /// A client with a rustls configuration of the caller's.
    pub fn with_config(config: Arc<ClientConfig>) -> Client {
        Client {
            config,
            timeout: Duration::from_secs(10),
            max_body: 1024 * 1024,
            port: 443,
            connect_to: None,
            user_agent: "mailgate".to_owned(),
        }
    }

    /// Connect, read and write timeouts.
    pub fn with_timeout(mut self, timeout: Duration) -> Client {
        self.timeout = timeout;
        self
    }

    /// The largest body accepted.
    pub fn with_max_body(mut self, max_body: usize) -> Client {
        self.max_body = max_body;
        self
    }

    /// Another port than 443 (tests).
    pub fn with_port(mut self, port: u16) -> Client {
        self.port = port;
        self
    }

    /// The `User-Agent` sent.
    pub fn with_user_agent(mut self, user_agent: &str) -> Client {
        user_agent.clone_into(&mut self.user_agent);
        self
    }

    /// Connects to `address` whatever the host (whose name is still the
    /// one the certificate must carry): tests against a local server, or
    /// an address the caller resolved itself (through DNSSEC, say).
    pub fn connect_to(mut self, address: SocketAddr) -> Client {
        self.connect_to = Some(address);
        self
    }

    /// `GET https://HOST/PATH`, accepting `accept`.
    pub fn get(&self, host: &str, path: &str, accept: &str) -> Result<Response, HttpsError> {
        let unreachable = |reason: String| HttpsError::Unreachable {
            host: host.to_owned(),
            reason,
        };
        let failed = |reason: String| HttpsError::Connection {
            host: host.to_owned(),
            reason,
        };
        if !path.starts_with('/') || path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err(HttpsError::Setup(format!("'{path}' is not a request path")));
        }
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| HttpsError::Setup(format!("'{host}' is not a host name")))?;
        let address = match self.connect_to {
            Some(address) => address,
            None => (host, self.port)
                .to_socket_addrs()
                .map_err(|error| unreachable(error.to_string()))?
                .next()
                .ok_or_else(|| unreachable("no address".to_owned()))?,
        };
        let tcp = TcpStream::connect_timeout(&address, self.timeout)
            .map_err(|error| unreachable(format!("connecting to {address}: {error}")))?;
        tcp.set_read_timeout(Some(self.timeout))
            .and_then(|()| tcp.set_write_timeout(Some(self.timeout)))
            .map_err(|error| failed(error.to_string()))?;
        let connection = ClientConnection::new(Arc::clone(&self.config), name)
            .map_err(|error| failed(error.to_string()))?;
        let mut tls = StreamOwned::new(connection, tcp);
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: {}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n",
            self.user_agent
        );
        tls.write_all(request.as_bytes())
            .map_err(|error| failed(error.to_string()))?;
        let mut response = Vec::new();
        let mut buffer = [0u8; 8192];
        loop {
            match tls.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    response.extend_from_slice(buffer.get(..n).unwrap_or_default());
                    if response.len() > self.max_body.saturating_add(MAX_HEAD) {
                        return Err(HttpsError::TooLarge(self.max_body));
                    }
                }
                // A server that closes without close_notify: the framing
                // tells whether the body is complete.
                Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(error) => return Err(failed(error.to_string())),
            }
        }
        parse_response(&response, self.max_body)
    }
}

/// Parses a complete HTTP/1.1 response: the status line, the header
/// fields, and the body framed by `Content-Length`, chunked transfer coding
/// (RFC 9112 section 7.1) or the end of the input.
pub fn parse_response(response: &[u8], max_body: usize) -> Result<Response, HttpsError> {
    let malformed = |what: &str| HttpsError::Malformed(what.to_owned());
    let head_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .filter(|end| *end <= MAX_HEAD)
        .ok_or_else(|| malformed("no complete response head"))?;
    let head = String::from_utf8_lossy(response.get(..head_end).unwrap_or_default());
    let body = response.get(head_end + 4..).unwrap_or_default();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    if !status_line.starts_with("HTTP/1.") {
        return Err(malformed("not an HTTP/1.x status line"));
    }
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .filter(|code| code.len() == 3)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| malformed("no status code"))?;
    let mut content_type = None;
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-type") {
            content_type = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| malformed("bad Content-Length"))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let body = if chunked {
        dechunk(body, max_body)?
    } else if let Some(length) = length {
        if length > max_body {
            return Err(HttpsError::TooLarge(max_body));
        }
        body.get(..length)
            .ok_or_else(|| malformed("the body is shorter than its Content-Length"))?
            .to_vec()
    } else {
        body.to_vec()
    };
    if body.len() > max_body {
        return Err(HttpsError::TooLarge(max_body));
    }
    Ok(Response {
        status,
        content_type,
        body,
    })
}

/// Joins the chunks of a chunked body (extensions ignored, trailers not
/// read).
fn dechunk(mut body: &[u8], max_body: usize) -> Result<Vec<u8>, HttpsError> {
    let malformed = |what: &str| HttpsError::Malformed(what.to_owned());
    let mut out = Vec::new();
    loop {
        let line_end = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| malformed("a chunk size line is cut off"))?;
        let size_line = String::from_utf8_lossy(body.get(..line_end).unwrap_or_default());
        let size_hex = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| malformed("bad chunk size"))?;
        let data_start = line_end + 2;
        if size == 0 {
            return Ok(out);
        }
        if size > max_body.saturating_sub(out.len()) {
            return Err(HttpsError::TooLarge(max_body));
        }
        let chunk = body
            .get(data_start..data_start.saturating_add(size))
            .ok_or_else(|| malformed("a chunk is cut off"))?;
        out.extend_from_slice(chunk);
        body = body
            .get(data_start.saturating_add(size).saturating_add(2)..)
            .ok_or_else(|| malformed("a chunk is cut off"))?;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn responses_are_framed_by_length_chunks_or_end() {
        let ok = parse_response(
            b"HTTP/1.1 200 OK\r\nContent-Type: Text/Plain; charset=utf-8\r\nContent-Length: 3\r\n\r\nabcdef",
            100,
        )
        .unwrap();
        assert_eq!((ok.status, ok.body.as_slice()), (200, &b"abc"[..]));
        assert!(ok.has_content_type("text/plain"));
        assert!(!ok.has_content_type("text/html"));
        let chunked = parse_response(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n",
            100,
        )
        .unwrap();
        assert_eq!(chunked.body, b"abcde");
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\n\r\nall", 100)
                .unwrap()
                .body,
            b"all"
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n", 100)
                .unwrap()
                .status,
            404
        );
    }

    #[test]
    fn broken_or_oversized_responses_are_errors() {
        for bad in [
            &b"garbage"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\nabc",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"SMTP 220 hello\r\n\r\n",
        ] {
            assert!(
                matches!(parse_response(bad, 100), Err(HttpsError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n", 100),
            Err(HttpsError::TooLarge(100))
        );
        assert_eq!(
            parse_response(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n",
                100
            ),
            Err(HttpsError::TooLarge(100))
        );
        let long = [&b"HTTP/1.1 200 OK\r\n\r\n"[..], &[b'x'; 101]].concat();
        assert_eq!(parse_response(&long, 100), Err(HttpsError::TooLarge(100)));
    }

    proptest! {
        /// Any body, cut into any chunks, comes back whole.
        #[test]
        fn chunked_framing_round_trips(body in proptest::collection::vec(any::<u8>(), 0..600), cuts in proptest::collection::vec(1usize..64, 0..20)) {
            let mut framed = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
            let mut rest = body.as_slice();
            for cut in cuts.iter().copied().chain(std::iter::repeat(64)) {
                if rest.is_empty() {
                    break;
                }
                let (chunk, tail) = rest.split_at(cut.min(rest.len()));
                framed.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                framed.extend_from_slice(chunk);
                framed.extend_from_slice(b"\r\n");
                rest = tail;
            }
            framed.extend_from_slice(b"0\r\n\r\n");
            prop_assert_eq!(parse_response(&framed, 1000).unwrap().body, body);
        }
    }
}
