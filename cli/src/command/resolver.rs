//! The DNS resolver the `--dns-server` and `--dns-trust-anchor` options
//! describe (relay MX routing, `tls check --domain`).

use tls_policy::{HickoryDns, ResolverSetup};

use crate::args::DnsArgs;
use crate::command::display;
use crate::failure::Failure;

/// The validating resolver `--dns-server` and `--dns-trust-anchor` describe.
pub(crate) fn resolver(args: &DnsArgs) -> Result<HickoryDns, Failure> {
    let mut servers = Vec::new();
    for server in &args.servers {
        let address = server
            .parse::<std::net::SocketAddr>()
            .or_else(|_| server.parse::<std::net::IpAddr>().map(|ip| (ip, 53).into()))
            .map_err(|_| Failure::Input {
                input: "--dns-server".into(),
                message: format!("'{server}' is not IP or IP:PORT"),
            })?;
        servers.push(address);
    }
    let trust_anchors = match &args.trust_anchor {
        Some(file) => {
            Some(std::fs::read_to_string(file).map_err(|e| Failure::input(display(file), &e))?)
        }
        None => None,
    };
    HickoryDns::new(&ResolverSetup {
        servers,
        trust_anchors,
        timeout: None,
    })
    .map_err(|e| Failure::Input {
        input: "the DNS resolver".into(),
        message: e.to_string(),
    })
}
