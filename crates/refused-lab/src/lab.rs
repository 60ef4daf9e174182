//! The lab: a client host and a server host, each a network namespace, joined by a veth pair
//! with IPv4 and IPv6 (ULA) addresses. Every packet a lab test sends stays inside them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::LabError;
use crate::netns::{Netns, ip};
use crate::tools::{Tool, missing, skip};

/// The client's address on the lab link.
pub const CLIENT_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The server's address on the lab link.
pub const SERVER_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// An address on the lab link that nobody holds: neighbour discovery fails.
pub const UNUSED_V4: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 99);
/// An address no route leads to (the client has no default route).
pub const NO_ROUTE_V4: Ipv4Addr = Ipv4Addr::new(10, 78, 0, 1);
/// The client's IPv6 address on the lab link.
pub const CLIENT_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 0, 1);
/// The server's IPv6 address on the lab link.
pub const SERVER_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 0, 2);
/// An IPv6 address on the lab link that nobody holds.
pub const UNUSED_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x77, 0, 0, 0, 0, 0, 0x99);
/// An IPv6 address no route leads to.
pub const NO_ROUTE_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x78, 0, 0, 0, 0, 0, 1);

/// Numbers the labs of this process, for unique namespace names.
static NEXT: AtomicU32 = AtomicU32::new(0);

/// Every namespace of the lab starts with this, followed by the creating process's pid.
pub const PREFIX: &str = "rf";

/// A client and a server joined by a link. Dropped = gone, even when the test panics.
#[derive(Debug)]
pub struct Lab {
    /// Where the code under test runs.
    pub client: Netns,
    /// Where listeners, firewalls and the DNS server live.
    pub server: Netns,
}

impl Lab {
    /// Builds a lab. Needs root (network namespaces); fails with [`LabError::NotRoot`] otherwise.
    pub fn new() -> Result<Self, LabError> {
        if !rustix::process::geteuid().is_root() {
            return Err(LabError::NotRoot);
        }
        sweep_stale();
        let id = format!(
            "{PREFIX}{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let client = Netns::create(format!("{id}c"))?;
        let server = Netns::create(format!("{id}s"))?;
        for netns in [&client, &server] {
            // No duplicate address detection, link-local addresses included: without this the
            // first IPv6 exchanges of a fresh link are lost and retried a second later.
            netns.sysctl("net.ipv6.conf.all.accept_dad", "0")?;
            netns.sysctl("net.ipv6.conf.default.accept_dad", "0")?;
        }
        client.veth("eth0", &server, "eth0")?;
        for (netns, v4, v6) in [
            (&client, CLIENT_V4, CLIENT_V6),
            (&server, SERVER_V4, SERVER_V6),
        ] {
            netns.ip(&["addr", "add", &format!("{v4}/24"), "dev", "eth0"])?;
            // nodad: the address is usable at once, not after duplicate address detection.
            netns.ip(&["addr", "add", &format!("{v6}/64"), "dev", "eth0", "nodad"])?;
            netns.ip(&["link", "set", "eth0", "up"])?;
        }
        for netns in [&client, &server] {
            wait_for_link(netns)?;
        }
        wait_for_neighbours(&client)?;
        Ok(Self { client, server })
    }

    /// One more host of this lab, named on its scheme (`rf{pid}x{n}{letter}`, swept like the
    /// others when a test dies), with nothing but its loopback: the test links it where it
    /// needs it (behind the server as a router, or as a container of the server). Deleted when
    /// dropped; drop it before the lab.
    pub fn another(&self, letter: char) -> Result<Netns, LabError> {
        let id = self
            .client
            .name()
            .strip_suffix('c')
            .unwrap_or(self.client.name());
        Netns::create(format!("{id}{letter}"))
    }

    /// Builds a lab, or says why not: outside CI a test without root (or without `ip`) prints
    /// one line and gets `None` (skip); under CI (`CI` set) a lab that cannot be built is a
    /// failure.
    ///
    /// # Panics
    ///
    /// Under CI, when the lab cannot be built.
    pub fn or_skip(test: &str) -> Option<Self> {
        Self::or_skip_needing(test, &[])
    }

    /// [`Lab::or_skip`] for a test that also needs `tools` (`&[Tool::Nft]` for
    /// [`Netns::filter`], [`Lab::loss`] and [`Lab::silent_dns`]; `Tool::Dnsmasq` for
    /// [`Lab::start_dns`]): a missing one is a skip naming its package outside CI, a failure in
    /// CI.
    ///
    /// # Panics
    ///
    /// Under CI, when the lab cannot be built or a tool is missing.
    pub fn or_skip_needing(test: &str, tools: &[Tool]) -> Option<Self> {
        if !Self::root_or_skip(test) {
            return None;
        }
        let mut needed = vec![Tool::Ip];
        needed.extend_from_slice(tools);
        if let Some(reason) = missing(&needed) {
            skip(test, &reason);
            return None;
        }
        Self::new().map_err(|err| skip(test, &err)).ok()
    }

    /// Whether the test runs as root; like [`Lab::or_skip`], it skips outside CI and fails in it.
    ///
    /// # Panics
    ///
    /// Under CI, without root.
    pub fn root_or_skip(test: &str) -> bool {
        let root = rustix::process::geteuid().is_root();
        if !root {
            skip(test, &LabError::NotRoot);
        }
        root
    }

    /// The DNS tests' standard setup: a listener on the server's IPv4 address (returned, keep it)
    /// and the zone `web.lab.test` -> [`SERVER_V6`], [`SERVER_V4`] (IPv6 first, and refused: the
    /// listener is IPv4 only), `txtonly.lab.test` with a TXT record and no address.
    pub fn half_working_names(&self) -> Result<std::net::TcpListener, LabError> {
        let listener = self
            .server
            .run(|| std::net::TcpListener::bind((SERVER_V4, 0)))?
            .map_err(|err| LabError::Io("a listener on the server".into(), err))?;
        self.start_dns(
            &DnsZone::new()
                .host(
                    "web.lab.test",
                    &[IpAddr::V6(SERVER_V6), IpAddr::V4(SERVER_V4)],
                )
                .txt("txtonly.lab.test", "no address"),
        )?;
        Ok(listener)
    }

    /// Starts dnsmasq on the server as the client's only resolver, for the zone `lab.test`:
    /// names it does not know get NXDOMAIN, and nothing is ever forwarded.
    pub fn start_dns(&self, zone: &DnsZone) -> Result<(), LabError> {
        let mut args = vec![
            "--keep-in-foreground".to_owned(),
            "--conf-file=/dev/null".to_owned(),
            "--no-resolv".to_owned(),
            "--no-hosts".to_owned(),
            "--no-poll".to_owned(),
            "--bind-interfaces".to_owned(),
            format!("--listen-address={SERVER_V4}"),
            "--local=/lab.test/".to_owned(),
            "--user=root".to_owned(),
            "--pid-file=".to_owned(),
            "--log-facility=-".to_owned(),
        ];
        for (name, addrs) in &zone.hosts {
            let list: Vec<String> = addrs.iter().map(ToString::to_string).collect();
            args.push(format!("--host-record={name},{}", list.join(",")));
        }
        for (name, text) in &zone.txt {
            args.push(format!("--txt-record={name},{text}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.server.spawn("dnsmasq", &args)?;
        self.use_lab_resolver()?;
        self.wait_for_udp(53)
    }

    /// Points the client's resolver at the server and makes the server drop DNS: every lookup of
    /// a name outside the client's hosts file times out.
    pub fn silent_dns(&self) -> Result<(), LabError> {
        self.server
            .filter("input", &["udp dport 53 drop", "tcp dport 53 drop"])?;
        self.use_lab_resolver()
    }

    fn use_lab_resolver(&self) -> Result<(), LabError> {
        self.client.write_etc(
            "resolv.conf",
            &format!("nameserver {SERVER_V4}\noptions timeout:1 attempts:1\n"),
        )?;
        self.client.write_etc(
            "hosts",
            "127.0.0.1 localhost\n::1 localhost ip6-localhost\n",
        )
    }

    fn wait_for_udp(&self, port: u16) -> Result<(), LabError> {
        let needle = format!(":{port:04X} ");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            let table = self
                .server
                .run(|| std::fs::read_to_string("/proc/thread-self/net/udp"))?
                .map_err(|err| LabError::Io("/proc/thread-self/net/udp".into(), err))?;
            if table.lines().any(|line| {
                line.split_whitespace()
                    .nth(1)
                    .is_some_and(|l| l.ends_with(needle.trim()))
            }) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(LabError::Tool {
            tool: "dnsmasq".into(),
            message: format!("nothing listened on udp port {port} within 5 s"),
        })
    }

    /// Delays every packet the server sends by `delay` (tc netem), so a round trip takes at least
    /// that long. Fails with [`LabError::Unsupported`] on kernels built without `sch_netem`.
    pub fn delay(&self, delay: Duration) -> Result<(), LabError> {
        let ms = format!("{}ms", delay.as_millis());
        self.server
            .exec(
                "tc",
                &["qdisc", "add", "dev", "eth0", "root", "netem", "delay", &ms],
            )
            .map(drop)
            .map_err(netem_unsupported)
    }

    /// Drops `percent` of the packets the server sends, at random. nftables (`numgen random`)
    /// rather than netem, so it works on kernels without `sch_netem`.
    pub fn loss(&self, percent: u8) -> Result<(), LabError> {
        let rule = format!("numgen random mod 100 < {} drop", percent.min(100));
        self.server.filter("output", &[&rule])
    }

    /// The server's address of a family, with a port.
    pub fn server_addr(family: Family, port: u16) -> SocketAddr {
        match family {
            Family::V4 => SocketAddr::new(IpAddr::V4(SERVER_V4), port),
            Family::V6 => SocketAddr::new(IpAddr::V6(SERVER_V6), port),
        }
    }
}

/// Waits until the namespace's `eth0` is up with its carrier: a SYN sent before that is lost
/// and retransmitted a second later, which would look like a slow host.
fn wait_for_link(netns: &Netns) -> Result<(), LabError> {
    let start = Instant::now();
    loop {
        let output = netns.exec("ip", &["-o", "link", "show", "eth0"])?;
        if String::from_utf8_lossy(&output.stdout).contains("state UP") {
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(5) {
            return Err(LabError::Tool {
                tool: "ip link".into(),
                message: format!("eth0 of {} did not come up within 5 s", netns.name()),
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until the server answers the client on both families: a connect to its discard port
/// (nothing listens on a fresh server) is refused once neighbour discovery resolved it. A link
/// that is up can still lose the first ARP or neighbour solicitation while a loaded machine
/// sets up the namespaces, and a test's first connect would then fail with `EHOSTUNREACH`
/// after neighbour discovery's retries, as if the host were gone. Each side learns the other's
/// link-layer address, as hosts that have talked do.
fn wait_for_neighbours(client: &Netns) -> Result<(), LabError> {
    let start = Instant::now();
    for server in [IpAddr::V4(SERVER_V4), IpAddr::V6(SERVER_V6)] {
        let addr = SocketAddr::new(server, 9);
        loop {
            let answer =
                client.run(|| TcpStream::connect_timeout(&addr, Duration::from_secs(1)))?;
            match answer {
                Ok(_) => break,
                Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => break,
                Err(err) if start.elapsed() > Duration::from_secs(10) => {
                    return Err(LabError::Tool {
                        tool: "lab link".into(),
                        message: format!(
                            "the server did not answer the client at {addr} within 10 s: {err}"
                        ),
                    });
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
    Ok(())
}

/// An address family, for tests that run over both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

fn netem_unsupported(err: LabError) -> LabError {
    match err {
        LabError::Tool { message, .. } if message.contains("qdisc kind is unknown") => {
            LabError::Unsupported("tc netem (this kernel has no sch_netem)")
        }
        other => other,
    }
}

/// The records the lab's DNS server answers for.
#[derive(Debug, Clone, Default)]
pub struct DnsZone {
    hosts: Vec<(String, Vec<IpAddr>)>,
    txt: Vec<(String, String)>,
}

impl DnsZone {
    /// An empty zone: every name in `lab.test` is NXDOMAIN.
    pub fn new() -> Self {
        Self::default()
    }

    /// A name with A and AAAA records.
    #[must_use]
    pub fn host(mut self, name: &str, addrs: &[IpAddr]) -> Self {
        self.hosts.push((name.to_owned(), addrs.to_vec()));
        self
    }

    /// A name with only a TXT record: it exists, with no address (NODATA).
    #[must_use]
    pub fn txt(mut self, name: &str, text: &str) -> Self {
        self.txt.push((name.to_owned(), text.to_owned()));
        self
    }
}

/// Deletes namespaces left by lab processes that died without dropping them (a test killed by
/// nextest's timeout, say): their name carries the pid, and that pid no longer runs.
fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split_once('x'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = ip(&["netns", "del", &name]);
            let _ = std::fs::remove_dir_all(format!("/etc/netns/{name}"));
        }
    }
}
