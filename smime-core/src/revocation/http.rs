//! OCSP and CRL downloads over plain HTTP.
//!
//! OCSP (RFC 6960 appendix A): `POST` with `application/ocsp-request`, as
//! OpenSSL's responder and CA responders speak it. OCSP responses and CRLs
//! are signed, so plain HTTP is the norm (and `https:` URLs would need the
//! very revocation checks they serve). Requests go by POST only; RFC
//! 6960's GET form is an optimisation for caching proxies that a single
//! gateway does not need.
//!
//! CRLs (RFC 5280 section 4.2.1.13): `GET` of the distribution point's URL,
//! the whole download within the timeout and at most the size limit
//! ([`super::crl_dp::MAX_CRL`] by default), both applied while reading.
//! Responses are framed by `mailgate_https::parse_response`.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::crl_dp::{CrlDpSource, CrlFetcher, MAX_CRL};
use super::ocsp::{MAX_RESPONSE, OcspSource, OcspTransport, Responders};

/// OCSP through [`HttpTransport`].
pub type HttpOcsp = OcspSource<HttpTransport>;

impl HttpOcsp {
    /// An HTTP OCSP client asking `responders`, waiting at most `timeout`
    /// for connecting, sending and each read.
    pub fn http(responders: Responders, timeout: Duration) -> HttpOcsp {
        OcspSource::new(HttpTransport::new(timeout), responders)
    }
}

/// CRL distribution points through [`HttpTransport`].
pub type HttpCrl = CrlDpSource<HttpTransport>;

impl HttpCrl {
    /// An HTTP client for the CRLs certificates name, giving each download
    /// at most `timeout` in all and [`MAX_CRL`] bytes.
    pub fn http(timeout: Duration) -> HttpCrl {
        CrlDpSource::new(HttpTransport::new(timeout))
    }

    /// The same with another size limit for CRLs.
    pub fn http_with_limit(timeout: Duration, max_crl: usize) -> HttpCrl {
        CrlDpSource::new(HttpTransport::new(timeout).with_max_crl(max_crl))
    }
}

/// HTTP/1.1, one request per connection: OCSP by POST (each operation
/// within the timeout, responses up to [`MAX_RESPONSE`]) and CRLs by GET
/// (the whole download within the timeout, up to [`MAX_CRL`] by default);
/// sizes bounded while reading, framing by `mailgate_https::parse_response`.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    timeout: Duration,
    max_crl: usize,
}

impl HttpTransport {
    /// A transport with this timeout.
    pub fn new(timeout: Duration) -> HttpTransport {
        HttpTransport {
            timeout,
            max_crl: MAX_CRL,
        }
    }

    /// The largest CRL downloaded (default [`MAX_CRL`]).
    pub fn with_max_crl(mut self, bytes: usize) -> HttpTransport {
        self.max_crl = bytes;
        self
    }
}

/// `http://host[:port][/path]` split into host (brackets kept off IPv6
/// literals), port and path.
fn split_url(url: &str) -> Result<(String, u16, String), String> {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("HTTP://"))
        .ok_or("only http:// responder URLs are supported")?;
    let (authority, path) = match rest.find('/') {
        Some(slash) => (
            rest.get(..slash).unwrap_or(""),
            rest.get(slash..).unwrap_or("/"),
        ),
        None => (rest, "/"),
    };
    if authority.contains('@') {
        return Err("user information in the URL".to_owned());
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("unterminated IPv6 literal")?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(port) => port.parse().map_err(|_| format!("bad port {port:?}"))?,
        None => 80,
    };
    if host.is_empty() {
        return Err("no host".to_owned());
    }
    Ok((host.to_owned(), port, path.to_owned()))
}

impl HttpTransport {
    /// Connects to `url`'s host, sends a `method` request with the header
    /// `fields` (each ending in CRLF) and `body`, and reads the response,
    /// at most `max_body` bytes of body. Every connect, write and read waits
    /// at most the timeout; with `whole`, the exchange as a whole does too.
    fn exchange(
        &self,
        url: &str,
        method: &str,
        fields: &str,
        body: &[u8],
        max_body: usize,
        whole: bool,
    ) -> Result<mailgate_https::Response, String> {
        let deadline = whole.then(|| Instant::now() + self.timeout);
        let (host, port, path) = split_url(url)?;
        let addresses: Vec<SocketAddr> = (host.as_str(), port)
            .to_socket_addrs()
            .map_err(|error| format!("cannot resolve {host}: {error}"))?
            .collect();
        let mut stream = None;
        let mut failure = format!("{host} has no address");
        for address in addresses {
            match TcpStream::connect_timeout(&address, self.timeout) {
                Ok(connected) => {
                    stream = Some(connected);
                    break;
                }
                Err(error) => failure = format!("cannot connect to {address}: {error}"),
            }
        }
        let mut stream = stream.ok_or(failure)?;
        let io = |error: std::io::Error| match error.kind() {
            ErrorKind::WouldBlock | ErrorKind::TimedOut => {
                format!("no answer within {:?}", self.timeout)
            }
            _ => error.to_string(),
        };
        stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
        stream.set_write_timeout(Some(self.timeout)).map_err(io)?;
        let host_field = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {host_field}\r\n{fields}Connection: close\r\nUser-Agent: mailgate\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).map_err(io)?;
        stream.write_all(body).map_err(io)?;
        stream.flush().map_err(io)?;
        // Bounded while reading: a hostile server cannot make us buffer
        // more than the head and the body limit (with room for chunked
        // framing).
        let limit = mailgate_https::MAX_HEAD + max_body + max_body / 16 + 64;
        let mut response = Vec::new();
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            if let Some(deadline) = deadline {
                let left = deadline
                    .checked_duration_since(Instant::now())
                    .filter(|left| !left.is_zero())
                    .ok_or_else(|| format!("not complete within {:?}", self.timeout))?;
                stream.set_read_timeout(Some(left)).map_err(io)?;
            }
            match stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    response.extend_from_slice(buffer.get(..n).unwrap_or_default());
                    if response.len() > limit {
                        return Err(format!("response larger than {max_body} bytes"));
                    }
                }
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(io(error)),
            }
        }
        let parsed =
            mailgate_https::parse_response(&response, max_body).map_err(|error| match error {
                mailgate_https::HttpsError::TooLarge(_) => {
                    format!("response larger than {max_body} bytes")
                }
                other => other.to_string(),
            })?;
        if parsed.status != 200 {
            return Err(format!("HTTP status {}", parsed.status));
        }
        Ok(parsed)
    }
}

impl OcspTransport for HttpTransport {
    fn send(&self, url: &str, request: &[u8]) -> Result<Vec<u8>, String> {
        let fields = format!(
            "Content-Type: application/ocsp-request\r\nAccept: application/ocsp-response\r\nContent-Length: {}\r\n",
            request.len()
        );
        let parsed = self.exchange(url, "POST", &fields, request, MAX_RESPONSE, false)?;
        if !parsed.has_content_type("application/ocsp-response") {
            return Err(format!(
                "content type {:?}, not application/ocsp-response",
                parsed.content_type.unwrap_or_default()
            ));
        }
        Ok(parsed.body)
    }
}

impl CrlFetcher for HttpTransport {
    /// `GET` with the whole download bounded by the timeout and the body by
    /// the CRL size limit. The media type is not checked: CAs serve CRLs
    /// as `application/pkix-crl`, `application/x-pkcs7-crl`,
    /// `application/octet-stream` and worse; the CRL's signature decides.
    fn fetch(&self, url: &str) -> Result<Vec<u8>, String> {
        let fields = "Accept: application/pkix-crl, application/x-pkcs7-crl, */*;q=0.5\r\n";
        let parsed = self.exchange(url, "GET", fields, &[], self.max_crl, true)?;
        Ok(parsed.body)
    }
}
#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::split_url;

    #[test]
    fn urls_split() {
        assert_eq!(
            split_url("http://ocsp.example.net/").unwrap(),
            ("ocsp.example.net".into(), 80, "/".into())
        );
        assert_eq!(
            split_url("http://127.0.0.1:8080").unwrap(),
            ("127.0.0.1".into(), 8080, "/".into())
        );
        assert_eq!(
            split_url("http://[::1]:81/ocsp").unwrap(),
            ("::1".into(), 81, "/ocsp".into())
        );
        assert!(split_url("https://ocsp.example.net/").is_err());
        assert!(split_url("http://user@host/").is_err());
        assert!(split_url("http://:80/").is_err());
        assert!(split_url("http://host:99999/").is_err());
    }
}
