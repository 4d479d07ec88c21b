//! A real authoritative DNS server for tests: zones signed by
//! `ldns-signzone` (keys from `ldns-keygen`) and served by NSD on
//! 127.0.0.1, with the signing key as the test's only DNSSEC trust anchor.
//! Needs the Debian packages `nsd` and `ldnsutils`.

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::peer::run_peer;

/// A zone to serve: its origin (`dane.test`, no final dot) and its records
/// in zone-file syntax relative to the origin (SOA and NS are added).
#[derive(Debug, Clone, Copy)]
pub struct Zone<'a> {
    /// The zone's name.
    pub origin: &'a str,
    /// The records (zone-file lines, `$ORIGIN` is the zone's name).
    pub records: &'a str,
}

/// NSD on 127.0.0.1 serving one signed zone and any number of unsigned ones
/// (delegate to them from the signed zone with an NS record and no DS, so
/// a validator can prove them insecure); stopped when dropped.
///
/// ```no_run
/// use testkit::nsd::{Nsd, Zone};
///
/// let nsd = Nsd::start(
///     Zone { origin: "dane.test", records: "mx IN A 127.0.0.1\n@ IN MX 10 mx\n" },
///     &[],
///     |signed| signed,
/// );
/// println!("ask {} with trust anchor {}", nsd.address, nsd.anchor);
/// ```
#[derive(Debug)]
pub struct Nsd {
    child: Child,
    /// Where it answers (UDP and TCP).
    pub address: SocketAddr,
    /// The signed zone's key as a DNSKEY record in zone-file format: the
    /// trust anchor to give the resolver.
    pub anchor: String,
    dir: tempfile::TempDir,
}

impl Drop for Nsd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Nsd {
    /// Signs `signed`, passes the signed zone text through `tamper` (to
    /// break records after signing; give `|text| text` to leave it), and
    /// serves it and `unsigned` until dropped.
    #[allow(clippy::expect_used, clippy::panic)] // a test helper: the panic is the test failure
    pub fn start(
        signed: Zone<'_>,
        unsigned: &[Zone<'_>],
        tamper: impl FnOnce(String) -> String,
    ) -> Nsd {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path();
        let write = |name: &str, contents: &str| {
            std::fs::write(path.join(name), contents).expect("write to temporary directory");
        };
        let key = run_peer(
            "ldns-keygen",
            &["-a", "ECDSAP256SHA256", "-k", signed.origin],
            path,
        );
        let key = String::from_utf8_lossy(&key).trim().to_owned();
        let anchor =
            std::fs::read_to_string(path.join(format!("{key}.key"))).expect("the key file");
        let zone_file = |zone: &Zone<'_>| {
            format!(
                "$ORIGIN {origin}.\n$TTL 300\n\
                 @ IN SOA ns.{signed}. hostmaster.{signed}. 1 3600 600 86400 300\n\
                 @ IN NS ns.{signed}.\n{records}\n",
                origin = zone.origin,
                signed = signed.origin,
                records = zone.records,
            )
        };
        let mut records = zone_file(&signed);
        records.push_str("ns IN A 127.0.0.1\n");
        write(&format!("{}.zone", signed.origin), &records);
        run_peer(
            "ldns-signzone",
            &[&format!("{}.zone", signed.origin), &key],
            path,
        );
        let signed_name = format!("{}.zone.signed", signed.origin);
        let text = std::fs::read_to_string(path.join(&signed_name)).expect("the signed zone");
        write(&signed_name, &tamper(text));
        let mut zones = format!(
            "zone:\n  name: \"{}\"\n  zonefile: \"{signed_name}\"\n",
            signed.origin
        );
        for zone in unsigned {
            let name = format!("{}.zone", zone.origin);
            write(&name, &zone_file(zone));
            zones.push_str(&format!(
                "zone:\n  name: \"{}\"\n  zonefile: \"{name}\"\n",
                zone.origin
            ));
        }
        // A free port (NSD binds UDP and TCP on the same number).
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|socket| socket.local_addr())
            .expect("a free UDP port")
            .port();
        let p = path.display();
        write(
            "nsd.conf",
            &format!(
                "server:\n  ip-address: 127.0.0.1@{port}\n  port: {port}\n  zonesdir: \"{p}\"\n  \
                 database: \"\"\n  username: \"\"\n  chroot: \"\"\n  pidfile: \"{p}/nsd.pid\"\n  \
                 xfrdfile: \"{p}/xfrd.state\"\n  xfrdir: \"{p}\"\n  zonelistfile: \"{p}/zone.list\"\n  \
                 logfile: \"{p}/nsd.log\"\n\
                 remote-control:\n  control-enable: no\n{zones}"
            ),
        );
        let program = ["/usr/sbin/nsd", "nsd"]
            .into_iter()
            .find(|candidate| Path::new(candidate).exists())
            .unwrap_or("nsd");
        let child = Command::new(program)
            .args(["-d", "-c"])
            .arg(path.join("nsd.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot run nsd (is it installed?): {error}"));
        let server = Nsd {
            child,
            address: SocketAddr::from(([127, 0, 0, 1], port)),
            anchor,
            dir,
        };
        server.wait_until_answering(signed.origin);
        server
    }

    /// The directory with the zone files and NSD's log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    #[allow(clippy::panic)] // a test helper: the panic is the test failure
    fn wait_until_answering(&self, origin: &str) {
        // A minimal query: id 1, RD, one question ORIGIN/SOA/IN.
        let mut query = vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in origin.split('.') {
            query.push(u8::try_from(label.len()).unwrap_or(63));
            query.extend_from_slice(label.as_bytes());
        }
        query.extend_from_slice(&[0, 0, 6, 0, 1]);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(socket) = UdpSocket::bind("127.0.0.1:0") {
                let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
                let _ = socket.send_to(&query, self.address);
                let mut buffer = [0u8; 512];
                if socket.recv_from(&mut buffer).is_ok() {
                    return;
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "nsd did not answer; its log: {}",
                    std::fs::read_to_string(self.dir.path().join("nsd.log")).unwrap_or_default()
                );
            }
        }
    }
}
