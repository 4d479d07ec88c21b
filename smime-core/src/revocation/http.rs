//! OCSP over plain HTTP (RFC 6960 appendix A): `POST` with
//! `application/ocsp-request`, as OpenSSL's responder and CA responders
//! speak it. OCSP responses are signed, so plain HTTP is the norm (and
//! `https:` responder URLs would need the very revocation checks they
//! serve). Requests go by POST only; RFC 6960's GET form is an
//! optimisation for caching proxies that a single gateway does not need.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::ocsp::{MAX_RESPONSE, OcspSource, OcspTransport, Responders};

/// OCSP through [`HttpTransport`].
pub type HttpOcsp = OcspSource<HttpTransport>;

impl HttpOcsp {
    /// An HTTP OCSP client asking `responders`, waiting at most `timeout`
    /// for connecting, sending and each read.
    pub fn http(responders: Responders, timeout: Duration) -> HttpOcsp {
        OcspSource::new(HttpTransport { timeout }, responders)
    }
}

/// HTTP/1.1 POST, one request per connection, response size bounded while
/// reading ([`MAX_RESPONSE`]), framing by `mailgate_https::parse_response`.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    timeout: Duration,
}

impl HttpTransport {
    /// A transport with this timeout.
    pub fn new(timeout: Duration) -> HttpTransport {
        HttpTransport { timeout }
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

impl OcspTransport for HttpTransport {
    fn send(&self, url: &str, request: &[u8]) -> Result<Vec<u8>, String> {
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
        let io = |error: std::io::Error| error.to_string();
        stream.set_read_timeout(Some(self.timeout)).map_err(io)?;
        stream.set_write_timeout(Some(self.timeout)).map_err(io)?;
        let host_field = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {host_field}\r\nContent-Type: application/ocsp-request\r\nAccept: application/ocsp-response\r\nContent-Length: {}\r\nConnection: close\r\nUser-Agent: mailgate\r\n\r\n",
            request.len()
        );
        stream.write_all(head.as_bytes()).map_err(io)?;
        stream.write_all(request).map_err(io)?;
        stream.flush().map_err(io)?;
        // Bounded while reading: a hostile responder cannot make us buffer
        // more than the head and MAX_RESPONSE.
        let limit = mailgate_https::MAX_HEAD + MAX_RESPONSE + 4;
        let mut response = Vec::new();
        (&mut stream)
            .take(limit as u64 + 1)
            .read_to_end(&mut response)
            .map_err(io)?;
        if response.len() > limit {
            return Err(format!("response larger than {MAX_RESPONSE} bytes"));
        }
        let parsed =
            mailgate_https::parse_response(&response, MAX_RESPONSE).map_err(|e| e.to_string())?;
        if parsed.status != 200 {
            return Err(format!("HTTP status {}", parsed.status));
        }
        if !parsed.has_content_type("application/ocsp-response") {
            return Err(format!(
                "content type {:?}, not application/ocsp-response",
                parsed.content_type.unwrap_or_default()
            ));
        }
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
