//! Fetching Web Key Directory URLs over HTTPS with `mailgate-https` (rustls,
//! timeouts, a size limit), and what WKD makes of the answers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mailgate_https::{Client, HttpsError};
use rustls::{ClientConfig, RootCertStore};

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
    client: Client,
}

impl HttpsFetcher {
    /// A fetcher trusting `roots` (for example the system's or
    /// `webpki-roots`), with rustls's ring provider and safe defaults.
    pub fn new(roots: RootCertStore) -> Result<HttpsFetcher, Error> {
        let client = Client::new(Arc::new(roots)).map_err(|e| Error::Wkd {
            url: String::new(),
            reason: e.to_string(),
        })?;
        Ok(HttpsFetcher::from_client(client))
    }

    /// A fetcher with a rustls configuration of the caller's.
    pub fn with_config(config: Arc<ClientConfig>) -> HttpsFetcher {
        HttpsFetcher::from_client(Client::with_config(config))
    }

    fn from_client(client: Client) -> HttpsFetcher {
        HttpsFetcher {
            client: client
                .with_max_body(MAX_WKD_RESPONSE)
                .with_user_agent("mailgate-wkd"),
        }
    }

    /// Connect and read timeouts (default 10 seconds).
    pub fn with_timeout(mut self, timeout: Duration) -> HttpsFetcher {
        self.client = self.client.with_timeout(timeout);
        self
    }

    /// Connects to `address` for every host (the server's name is still
    /// checked against its certificate): for tests against a local server,
    /// or a fixed outbound relay.
    pub fn connect_to(mut self, address: SocketAddr) -> HttpsFetcher {
        self.client = self.client.connect_to(address);
        self
    }

    fn get(&self, url: &str) -> Result<Option<Vec<u8>>, String> {
        let rest = url.strip_prefix("https://").ok_or("not an https URL")?;
        let (host, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, "/"),
        };
        let response = match self.client.get(host, path, "application/octet-stream") {
            Ok(response) => response,
            Err(HttpsError::Unreachable { .. }) => return Ok(None),
            Err(error) => return Err(error.to_string()),
        };
        match response.status {
            200 => Ok(Some(response.body)),
            400..=499 => Ok(None),
            status => Err(format!("HTTP status {status}")),
        }
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
