//! Hand-built ClientHellos and a parser for what the server answers, for
//! enumerating versions, suites and groups that rustls cannot or must not
//! negotiate (SSLv3, TLS 1.0/1.1, static RSA, DHE, CBC, CCM, ChaCha20,
//! CAMELLIA, ARIA, brainpool, X25519: any code point).
//!
//! Only the server's first flight is read (ServerHello, and in TLS 1.2 the
//! Certificate and ServerKeyExchange messages up to ServerHelloDone); no
//! handshake is ever completed, so no keys are needed. Formats from RFC 5246
//! section 7.4 and RFC 8446 section 4.1.

use crate::names::{CipherSuite, NamedGroup, SignatureScheme, TlsVersion};

const HANDSHAKE: u8 = 22;
const ALERT: u8 = 21;
const CHANGE_CIPHER_SPEC: u8 = 20;
const SERVER_HELLO: u8 = 2;
const CERTIFICATE: u8 = 11;
const SERVER_KEY_EXCHANGE: u8 = 12;
const SERVER_HELLO_DONE: u8 = 14;
/// The most bytes of a first flight we read (certificate chains included).
pub const MAX_FLIGHT: usize = 256 * 1024;

/// SHA-256("HelloRetryRequest"): the ServerHello random that marks a
/// HelloRetryRequest (RFC 8446 section 4.1.3).
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// What a crafted ClientHello offers.
#[derive(Debug, Clone)]
pub struct ClientHello {
    /// The highest version offered: TLS 1.3 is offered through the
    /// supported_versions extension, older ones in `client_version`.
    pub version: TlsVersion,
    /// The suites, in preference order.
    pub suites: Vec<CipherSuite>,
    /// The groups for supported_groups; with TLS 1.3 no key share is sent,
    /// so the server must name its choice in a HelloRetryRequest.
    pub groups: Vec<NamedGroup>,
    /// The server name for SNI (left out when empty or an IP address).
    pub server_name: String,
}

fn put_u16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_be_bytes());
}

fn put_u24(out: &mut Vec<u8>, value: usize) {
    let bytes = u32::try_from(value).unwrap_or(u32::MAX).to_be_bytes();
    out.extend_from_slice(bytes.get(1..).unwrap_or_default());
}

fn put_len16(out: &mut Vec<u8>, body: &[u8]) {
    put_u16(out, u16::try_from(body.len()).unwrap_or(u16::MAX));
    out.extend_from_slice(body);
}

fn extension(out: &mut Vec<u8>, kind: u16, body: &[u8]) {
    put_u16(out, kind);
    put_len16(out, body);
}

impl ClientHello {
    /// The ClientHello as one TLS record.
    pub fn to_record(&self) -> Vec<u8> {
        let tls13 = self.version >= TlsVersion::TLS13;
        let mut body = Vec::with_capacity(512);
        put_u16(
            &mut body,
            if tls13 {
                TlsVersion::TLS12.0
            } else {
                self.version.0
            },
        );
        // The random only has to be unpredictable for a real handshake; an
        // enumeration never completes one. A fixed pattern keeps it simple.
        body.extend_from_slice(&[0x5a; 32]);
        body.push(32);
        body.extend_from_slice(&[0xa5; 32]);
        let mut suites = Vec::new();
        for suite in &self.suites {
            put_u16(&mut suites, suite.0);
        }
        // TLS_EMPTY_RENEGOTIATION_INFO_SCSV: some servers refuse without it.
        put_u16(&mut suites, 0x00ff);
        put_len16(&mut body, &suites);
        body.extend_from_slice(&[1, 0]); // compression: null only

        let mut extensions = Vec::new();
        if !self.server_name.is_empty() && self.server_name.parse::<std::net::IpAddr>().is_err() {
            let mut entry = vec![0u8];
            put_len16(&mut entry, self.server_name.as_bytes());
            let mut list = Vec::new();
            put_len16(&mut list, &entry);
            extension(&mut extensions, 0, &list);
        }
        let mut groups = Vec::new();
        for group in &self.groups {
            put_u16(&mut groups, group.0);
        }
        let mut list = Vec::new();
        put_len16(&mut list, &groups);
        extension(&mut extensions, 10, &list);
        extension(&mut extensions, 11, &[1, 0]); // ec_point_formats: uncompressed
        let mut schemes = Vec::new();
        for scheme in SignatureScheme::known() {
            put_u16(&mut schemes, scheme.0);
        }
        let mut list = Vec::new();
        put_len16(&mut list, &schemes);
        extension(&mut extensions, 13, &list);
        extension(&mut extensions, 23, &[]); // extended_master_secret
        if tls13 {
            extension(&mut extensions, 43, &[2, 0x03, 0x04]); // supported_versions
            extension(&mut extensions, 45, &[1, 1]); // psk_key_exchange_modes: psk_dhe_ke
            extension(&mut extensions, 51, &[0, 0]); // key_share: no shares
        }
        put_len16(&mut body, &extensions);

        let mut handshake = vec![1u8]; // client_hello
        put_u24(&mut handshake, body.len());
        handshake.extend_from_slice(&body);
        // The record version: TLS 1.0 for everything from TLS 1.0 on (what
        // browsers send, and what old servers accept), SSL 3.0 for SSLv3.
        let record_version = self.version.0.min(TlsVersion::TLS10.0);
        let mut record = vec![HANDSHAKE];
        put_u16(&mut record, record_version);
        put_len16(&mut record, &handshake);
        record
    }
}

/// The server's ServerHello (or HelloRetryRequest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerHello {
    /// The negotiated version (from supported_versions when present).
    pub version: TlsVersion,
    /// The selected suite.
    pub suite: CipherSuite,
    /// The group of the TLS 1.3 key_share extension.
    pub group: Option<NamedGroup>,
    /// Whether this is a HelloRetryRequest.
    pub retry_request: bool,
}

/// The server's first flight, as far as it was read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerFlight {
    /// The ServerHello, once read.
    pub hello: Option<ServerHello>,
    /// The DER certificates of a TLS 1.2 Certificate message.
    pub certificates: Vec<Vec<u8>>,
    /// The curve of a TLS 1.2 ECDHE ServerKeyExchange.
    pub ecdhe_group: Option<NamedGroup>,
    /// The prime size of a TLS 1.2 DHE ServerKeyExchange, in bits.
    pub dh_bits: Option<u32>,
    /// An alert (level, description) instead of or after a hello.
    pub alert: Option<(u8, u8)>,
    /// Whether the flight is complete: nothing more needs reading.
    pub complete: bool,
}

/// A first flight that breaks the TLS format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HelloError {
    /// The bytes are not TLS records (an SMTP reply, HTTP, garbage).
    #[error("not a TLS record (content type {0})")]
    NotTls(u8),
    /// A handshake message is truncated or its lengths disagree.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The first handshake message is not a ServerHello.
    #[error("expected ServerHello, got handshake message type {0}")]
    Unexpected(u8),
    /// The flight exceeds [`MAX_FLIGHT`].
    #[error("first flight longer than {MAX_FLIGHT} bytes")]
    TooLong,
}

/// A cursor over bytes that never panics.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize, what: &'static str) -> Result<&'a [u8], HelloError> {
        if self.bytes.len() < count {
            return Err(HelloError::Malformed(what));
        }
        let (head, rest) = self.bytes.split_at(count);
        self.bytes = rest;
        Ok(head)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, HelloError> {
        Ok(self.take(1, what)?.first().copied().unwrap_or_default())
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, HelloError> {
        let bytes = self.take(2, what)?;
        Ok(u16::from_be_bytes([
            bytes.first().copied().unwrap_or_default(),
            bytes.get(1).copied().unwrap_or_default(),
        ]))
    }

    fn u24(&mut self, what: &'static str) -> Result<usize, HelloError> {
        let bytes = self.take(3, what)?;
        Ok(bytes
            .iter()
            .fold(0usize, |value, byte| value << 8 | usize::from(*byte)))
    }

    fn vec8(&mut self, what: &'static str) -> Result<&'a [u8], HelloError> {
        let length = usize::from(self.u8(what)?);
        self.take(length, what)
    }

    fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], HelloError> {
        let length = usize::from(self.u16(what)?);
        self.take(length, what)
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// Parses the server's first flight from the bytes read so far.
///
/// Never fails for lack of bytes: the result says whether the flight is
/// `complete`. Fails on anything that is not TLS.
///
/// ```
/// use tls_policy::hello::parse_server_flight;
/// // An alert: fatal (2), handshake_failure (40).
/// let flight = parse_server_flight(&[21, 3, 3, 0, 2, 2, 40]).unwrap();
/// assert_eq!(flight.alert, Some((2, 40)));
/// assert!(flight.complete);
/// ```
pub fn parse_server_flight(input: &[u8]) -> Result<ServerFlight, HelloError> {
    if input.len() > MAX_FLIGHT {
        return Err(HelloError::TooLong);
    }
    let mut flight = ServerFlight::default();
    let mut handshake = Vec::new();
    let mut records = Reader { bytes: input };
    while records.bytes.len() >= 5 {
        let content_type = records.u8("record")?;
        let _version = records.u16("record")?;
        let length = usize::from(records.u16("record")?);
        if records.bytes.len() < length {
            break; // the rest of this record has not arrived yet
        }
        let payload = records.take(length, "record")?;
        match content_type {
            HANDSHAKE => handshake.extend_from_slice(payload),
            ALERT => {
                let mut alert = Reader { bytes: payload };
                flight.alert = Some((alert.u8("alert")?, alert.u8("alert")?));
                flight.complete = true;
                break;
            }
            // TLS 1.3 middlebox compatibility: after the ServerHello.
            CHANGE_CIPHER_SPEC => {}
            other => return Err(HelloError::NotTls(other)),
        }
    }
    if let Some(first) = input.first()
        && flight.alert.is_none()
        && ![HANDSHAKE, ALERT].contains(first)
    {
        return Err(HelloError::NotTls(*first));
    }
    let mut messages = Reader { bytes: &handshake };
    while messages.bytes.len() >= 4 {
        let kind = messages.u8("handshake")?;
        let length = messages.u24("handshake")?;
        if messages.bytes.len() < length {
            break;
        }
        let body = messages.take(length, "handshake")?;
        match (kind, &flight.hello) {
            (SERVER_HELLO, None) => {
                let hello = parse_server_hello(body)?;
                if hello.retry_request || hello.version >= TlsVersion::TLS13 {
                    flight.complete = true;
                }
                flight.hello = Some(hello);
            }
            (other, None) => return Err(HelloError::Unexpected(other)),
            (CERTIFICATE, Some(_)) => flight.certificates = parse_certificates(body)?,
            (SERVER_KEY_EXCHANGE, Some(hello)) => {
                let mut reader = Reader { bytes: body };
                // Finite-field DH parameters come first for DHE and DH_anon
                // (RFC 5246 section 7.4.3); ECDHE and ECDH_anon send a curve.
                if hello.suite.name().is_some_and(|name| {
                    name.starts_with("TLS_DHE_RSA")
                        || name.starts_with("TLS_DHE_DSS")
                        || name.starts_with("TLS_DH_anon")
                }) {
                    let prime = reader.vec16("DH parameters")?;
                    flight.dh_bits = prime_bits(prime);
                } else if reader.u8("ECDH parameters")? == 3 {
                    flight.ecdhe_group = Some(NamedGroup(reader.u16("ECDH parameters")?));
                }
            }
            (SERVER_HELLO_DONE, Some(_)) => flight.complete = true,
            _ => {}
        }
        if flight.complete {
            break;
        }
    }
    Ok(flight)
}

fn prime_bits(prime: &[u8]) -> Option<u32> {
    let start = prime.iter().position(|byte| *byte != 0)?;
    let significant = prime.get(start..)?;
    let first = significant.first()?;
    let length = u32::try_from(significant.len()).ok()?;
    Some(length * 8 - first.leading_zeros())
}

fn parse_server_hello(body: &[u8]) -> Result<ServerHello, HelloError> {
    let mut reader = Reader { bytes: body };
    let legacy_version = reader.u16("ServerHello")?;
    let random = reader.take(32, "ServerHello")?;
    let _session_id = reader.vec8("ServerHello")?;
    let suite = CipherSuite(reader.u16("ServerHello")?);
    let _compression = reader.u8("ServerHello")?;
    let mut hello = ServerHello {
        version: TlsVersion(legacy_version),
        suite,
        group: None,
        retry_request: random == HELLO_RETRY_RANDOM,
    };
    if reader.is_empty() {
        return Ok(hello);
    }
    let mut extensions = Reader {
        bytes: reader.vec16("ServerHello extensions")?,
    };
    while !extensions.is_empty() {
        let kind = extensions.u16("extension")?;
        let mut data = Reader {
            bytes: extensions.vec16("extension")?,
        };
        match kind {
            43 => hello.version = TlsVersion(data.u16("supported_versions")?),
            // key_share: the group (HRR: only the group; ServerHello: group and key).
            51 => hello.group = Some(NamedGroup(data.u16("key_share")?)),
            _ => {}
        }
    }
    Ok(hello)
}

fn parse_certificates(body: &[u8]) -> Result<Vec<Vec<u8>>, HelloError> {
    let mut reader = Reader { bytes: body };
    let length = reader.u24("Certificate")?;
    let mut list = Reader {
        bytes: reader.take(length, "Certificate")?,
    };
    let mut certificates = Vec::new();
    while !list.is_empty() {
        let length = list.u24("Certificate")?;
        certificates.push(list.take(length, "Certificate")?.to_vec());
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server_hello(version: u16, suite: u16, extensions: &[u8], random: [u8; 32]) -> Vec<u8> {
        let mut body = Vec::new();
        put_u16(&mut body, version);
        body.extend_from_slice(&random);
        body.push(0);
        put_u16(&mut body, suite);
        body.push(0);
        if !extensions.is_empty() {
            put_len16(&mut body, extensions);
        }
        let mut message = vec![SERVER_HELLO];
        put_u24(&mut message, body.len());
        message.extend_from_slice(&body);
        message
    }

    fn record(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![kind, 3, 3];
        put_len16(&mut out, payload);
        out
    }

    #[test]
    fn client_hello_lengths_are_consistent() {
        let hello = ClientHello {
            version: TlsVersion::TLS13,
            suites: CipherSuite::known_tls13().collect(),
            groups: vec![NamedGroup(0x17)],
            server_name: "mx.example.test".into(),
        }
        .to_record();
        assert_eq!(hello.first(), Some(&HANDSHAKE));
        let record_length = usize::from(u16::from_be_bytes([hello[3], hello[4]]));
        assert_eq!(record_length + 5, hello.len());
        assert_eq!(hello[5], 1);
        let handshake_length = usize::from(hello[7]) << 8 | usize::from(hello[8]);
        assert_eq!(handshake_length + 4, record_length);
        // supported_versions with TLS 1.3 is present.
        assert!(hello.windows(7).any(|w| w == [0, 43, 0, 3, 2, 3, 4]));
    }

    #[test]
    fn sslv3_hello_says_3_0_in_record_and_client_version() {
        let hello = |version| {
            ClientHello {
                version,
                suites: vec![CipherSuite(0x000a)],
                groups: vec![NamedGroup(0x17)],
                server_name: String::new(),
            }
            .to_record()
        };
        let sslv3 = hello(TlsVersion::SSL3);
        assert_eq!(&sslv3[..3], &[HANDSHAKE, 3, 0]);
        assert_eq!(&sslv3[9..11], &[3, 0]);
        let tls12 = hello(TlsVersion::TLS12);
        assert_eq!(&tls12[..3], &[HANDSHAKE, 3, 1]);
        assert_eq!(&tls12[9..11], &[3, 3]);
        // An unregistered code point goes on the wire as it is.
        let odd = ClientHello {
            version: TlsVersion::TLS12,
            suites: vec![CipherSuite(0xcc13)],
            groups: vec![],
            server_name: String::new(),
        }
        .to_record();
        assert!(odd.windows(6).any(|w| w == [0, 4, 0xcc, 0x13, 0x00, 0xff]));
    }

    #[test]
    fn tls12_flight_gives_suite_certificates_and_curve() {
        let hello = server_hello(0x0303, 0xc02f, &[], [1; 32]);
        let mut certificate = Vec::new();
        put_u24(&mut certificate, 3 + 2);
        put_u24(&mut certificate, 2);
        certificate.extend_from_slice(&[0x30, 0x00]);
        let mut certificate_message = vec![CERTIFICATE];
        put_u24(&mut certificate_message, certificate.len());
        certificate_message.extend_from_slice(&certificate);
        let ske = [SERVER_KEY_EXCHANGE, 0, 0, 3, 3, 0x00, 0x17];
        let done = [SERVER_HELLO_DONE, 0, 0, 0];
        let mut handshake = hello;
        handshake.extend_from_slice(&certificate_message);
        handshake.extend_from_slice(&ske);
        handshake.extend_from_slice(&done);
        // Split over two records to check reassembly.
        let (first, second) = handshake.split_at(20);
        let mut bytes = record(HANDSHAKE, first);
        let partial = parse_server_flight(&bytes).unwrap();
        assert!(!partial.complete && partial.hello.is_none());
        bytes.extend(record(HANDSHAKE, second));
        let flight = parse_server_flight(&bytes).unwrap();
        assert!(flight.complete);
        let hello = flight.hello.unwrap();
        assert_eq!(
            (hello.version, hello.suite),
            (TlsVersion::TLS12, CipherSuite(0xc02f))
        );
        assert_eq!(flight.certificates, vec![vec![0x30, 0x00]]);
        assert_eq!(flight.ecdhe_group, Some(NamedGroup(0x17)));
    }

    #[test]
    fn hello_retry_request_names_the_group() {
        let extensions = [0, 43, 0, 2, 3, 4, 0, 51, 0, 2, 0, 0x18];
        let bytes = record(
            HANDSHAKE,
            &server_hello(0x0303, 0x1302, &extensions, HELLO_RETRY_RANDOM),
        );
        let flight = parse_server_flight(&bytes).unwrap();
        assert!(flight.complete);
        let hello = flight.hello.unwrap();
        assert!(hello.retry_request);
        assert_eq!(hello.version, TlsVersion::TLS13);
        assert_eq!(hello.group, Some(NamedGroup(0x18)));
    }

    #[test]
    fn dhe_prime_size_is_measured() {
        assert_eq!(prime_bits(&[0, 0x80, 0, 0]), Some(24));
        assert_eq!(prime_bits(&[0x01, 0xff]), Some(9));
        assert_eq!(prime_bits(&[0, 0]), None);
    }

    #[test]
    fn non_tls_and_truncated_input_are_errors() {
        assert_eq!(
            parse_server_flight(b"220 mx.example.test ESMTP\r\n"),
            Err(HelloError::NotTls(b'2'))
        );
        let mut truncated = record(HANDSHAKE, &[SERVER_HELLO, 0, 0, 3, 3, 3, 0]);
        assert!(matches!(
            parse_server_flight(&truncated),
            Err(HelloError::Malformed(_))
        ));
        truncated = record(HANDSHAKE, &[CERTIFICATE, 0, 0, 0]);
        assert_eq!(
            parse_server_flight(&truncated),
            Err(HelloError::Unexpected(CERTIFICATE))
        );
        assert_eq!(parse_server_flight(&[]).unwrap(), ServerFlight::default());
    }
}
