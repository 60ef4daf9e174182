//! The nameservers this host's resolver asks (`/etc/resolv.conf`), and, for those on this host,
//! whether anything receives on their port 53: a stopped systemd-resolved (127.0.0.53) or
//! dnsmasq (127.0.0.1) is the commonest reason names stop resolving on a machine whose network
//! is fine.
//!
//! Nothing is sent to any nameserver: what they answered is what the lookup itself got.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use super::{process, tables};

/// glibc's `MAXNS`: the resolver asks the first three nameservers only.
const MAX_NAMESERVERS: usize = 3;

/// The DNS port.
const DNS_PORT: u16 = 53;

/// systemd-resolved's command name (`/proc/PID/comm` keeps 15 bytes).
const RESOLVED_COMMAND: &str = "systemd-resolve";

/// Docker's embedded DNS server, in containers of user-defined networks.
const DOCKER_DNS: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 11));

/// Where the resolver found a nameserver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NameserverSource {
    /// A `nameserver` line of `/etc/resolv.conf`.
    ResolvConf,
    /// `/etc/resolv.conf` names none (or is missing): glibc and musl then ask 127.0.0.1.
    Default,
}

/// One nameserver the resolver asks, and what this host knows of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Nameserver {
    /// Its address.
    pub address: IpAddr,
    /// Where the resolver found it.
    pub source: NameserverSource,
    /// Whether the address is one of this host's own (loopback included).
    pub local: bool,
    /// For a local nameserver, whether a UDP socket receives on its port 53 (`None`: not
    /// local, the socket table could not be read, or only a dual-stack `[::]` socket might).
    pub listening: Option<bool>,
    /// The pid of the process that holds that socket, when found.
    pub pid: Option<u32>,
    /// Its command name (`systemd-resolve`, `dnsmasq`).
    pub process: Option<String>,
    /// For the default (none named): where `/etc/resolv.conf` links to when that is missing
    /// (Ubuntu's link to systemd-resolved's file, which it writes only while it runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dangling_link: Option<String>,
    /// For systemd-resolved's stub address with nothing receiving there: the pid of a
    /// systemd-resolved that runs all the same (its stub listener is off:
    /// `DNSStubListener=no`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolved_pid: Option<u32>,
}

/// Whether an address is systemd-resolved's: its stub (127.0.0.53) or its proxy stub
/// (127.0.0.54).
pub fn is_resolved_stub(address: IpAddr) -> bool {
    address == IpAddr::V4(Ipv4Addr::new(127, 0, 0, 53))
        || address == IpAddr::V4(Ipv4Addr::new(127, 0, 0, 54))
}

impl std::fmt::Display for Nameserver {
    /// `nameserver 127.0.0.53 (from /etc/resolv.conf) is this host's, and nothing receives on
    /// its port 53`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let from = match self.source {
            NameserverSource::ResolvConf => "from /etc/resolv.conf",
            NameserverSource::Default => "none in /etc/resolv.conf: the default",
        };
        write!(f, "nameserver {} ({from})", self.address)?;
        match (self.local, self.listening, &self.process) {
            (true, Some(false), _) => {
                f.write_str(" is this host's, and nothing receives on its port 53")
            }
            (true, Some(true), Some(process)) => write!(
                f,
                " is this host's: {process} (pid {}) receives on port 53",
                self.pid.unwrap_or_default()
            ),
            (true, Some(true), None) => {
                f.write_str(" is this host's: a socket receives on port 53")
            }
            (true, None, _) => f.write_str(" is this host's"),
            (false, ..) => Ok(()),
        }
    }
}

/// The nameservers of a `resolv.conf`, in order, at most three; none named: 127.0.0.1.
pub fn parse(text: &str) -> Vec<(IpAddr, NameserverSource)> {
    let named: Vec<(IpAddr, NameserverSource)> = text
        .lines()
        .filter_map(|line| {
            // glibc matches the keyword at the start of the line only.
            let mut words = line.split_whitespace();
            (line.starts_with("nameserver") && words.next()? == "nameserver").then_some(())?;
            // A link-local IPv6 server carries its interface: `fe80::1%eth0`.
            let address = words.next()?.split('%').next()?;
            Some((address.parse().ok()?, NameserverSource::ResolvConf))
        })
        .take(MAX_NAMESERVERS)
        .collect();
    if named.is_empty() {
        return vec![(IpAddr::V4(Ipv4Addr::LOCALHOST), NameserverSource::Default)];
    }
    named
}

/// This host's nameservers, with whether those on this host receive on port 53.
pub fn nameservers() -> Vec<Nameserver> {
    const RESOLV_CONF: &str = "/etc/resolv.conf";
    let text = std::fs::read_to_string(RESOLV_CONF).unwrap_or_default();
    let dangling_link = std::fs::read_link(RESOLV_CONF)
        .ok()
        .filter(|_| std::fs::metadata(RESOLV_CONF).is_err())
        .map(|target| target.display().to_string());
    let servers = parse(&text);
    // On this host: loopback only. A bind() test would call any address local where
    // `ip_nonlocal_bind` is set, and a cluster DNS address that IPVS holds has no socket.
    let local: Vec<bool> = servers
        .iter()
        .map(|(address, _)| address.is_loopback())
        .collect();
    // This namespace's UDP receivers, when a nameserver is local and the table could be read.
    let receivers: Option<Vec<tables::Listener>> = local
        .contains(&true)
        .then(|| tables::read_udp_receivers().ok())
        .flatten();
    let inodes: HashSet<u64> = receivers
        .iter()
        .flatten()
        .filter(|r| r.port == DNS_PORT)
        .map(|r| r.inode)
        .collect();
    let owners = process::owners(&inodes);
    let mut servers: Vec<Nameserver> = servers
        .into_iter()
        .zip(local)
        .map(|((address, source), local)| {
            let (listening, process) = match &receivers {
                Some(receivers) if local => receiving(receivers, address, &owners),
                _ => (None, None),
            };
            Nameserver {
                address,
                source,
                local,
                listening,
                pid: process.as_ref().map(|p| p.pid),
                process: process.map(|p| p.command),
                dangling_link: dangling_link
                    .clone()
                    .filter(|_| source == NameserverSource::Default),
                resolved_pid: None,
            }
        })
        .collect();
    // A stub nothing receives on, with systemd-resolved running: its stub listener is off, and
    // starting it is not the fix.
    let silent_stub = |n: &Nameserver| is_resolved_stub(n.address) && n.listening == Some(false);
    if servers.iter().any(silent_stub) {
        let resolved = process::find_command(RESOLVED_COMMAND);
        for server in servers.iter_mut().filter(|n| silent_stub(n)) {
            server.resolved_pid = resolved;
        }
    }
    servers
}

/// Whether a datagram to `address`, port 53, reaches one of `receivers` (this namespace's UDP
/// sockets), and who holds it.
fn receiving(
    receivers: &[tables::Listener],
    address: IpAddr,
    owners: &process::Owners,
) -> (Option<bool>, Option<process::Process>) {
    let on_port = || receivers.iter().filter(|r| r.port == DNS_PORT);
    if let Some(found) = on_port().find(|r| r.accepts(address)) {
        return (Some(true), owners.get(found.inode).cloned());
    }
    // A `[::]` socket may be dual-stack: `/proc` does not say. Docker's embedded DNS (127.0.0.11
    // in a container of a user-defined network) listens on a random port, where a DNAT rule
    // sends port 53.
    let dual_stack = address.is_ipv4()
        && on_port().any(|r| r.address == IpAddr::V6(Ipv6Addr::UNSPECIFIED) && r.v6only.is_none());
    let redirected = address == DOCKER_DNS && receivers.iter().any(|r| r.address == address);
    if dual_stack || redirected {
        return (None, None);
    }
    (Some(false), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_three_nameservers_are_asked() {
        let text = "# made by hand\nsearch lab\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\n\
                    nameserver  10.0.0.1 \nnameserver 10.0.0.2\nnameserver 10.0.0.3\n";
        let servers: Vec<String> = parse(text).iter().map(|(a, _)| a.to_string()).collect();
        assert_eq!(servers, ["127.0.0.53", "fe80::1", "10.0.0.1"]);
        assert!(
            parse(text)
                .iter()
                .all(|(_, s)| *s == NameserverSource::ResolvConf)
        );
    }

    #[test]
    fn none_named_is_loopback() {
        for text in [
            "",
            "search lab\n",
            "nameserver not-an-address\n",
            // glibc reads the keyword at the start of the line only.
            " nameserver 10.0.0.1\n",
        ] {
            assert_eq!(
                parse(text),
                [(IpAddr::V4(Ipv4Addr::LOCALHOST), NameserverSource::Default)]
            );
        }
    }

    #[test]
    fn a_receiver_is_matched_by_address_and_a_dual_stack_one_is_unknown() {
        let receiver = |address: &str, v6only| tables::Listener {
            address: address.parse().unwrap(),
            port: DNS_PORT,
            v6only,
            queue: 0,
            backlog: None,
            uid: 0,
            inode: 1,
            device: None,
        };
        let owners = process::Owners::default();
        let stub: IpAddr = "127.0.0.53".parse().unwrap();
        let at = |receivers: &[tables::Listener]| receiving(receivers, stub, &owners).0;
        assert_eq!(at(&[receiver("127.0.0.53", None)]), Some(true));
        assert_eq!(at(&[receiver("0.0.0.0", None)]), Some(true));
        assert_eq!(at(&[receiver("127.0.0.1", None)]), Some(false));
        assert_eq!(at(&[]), Some(false));
        assert_eq!(at(&[receiver("::", None)]), None);
        // Docker's embedded DNS: its socket on another port, where a DNAT rule sends 53.
        let docker: IpAddr = "127.0.0.11".parse().unwrap();
        let elsewhere = tables::Listener {
            port: 41_234,
            ..receiver("127.0.0.11", None)
        };
        assert_eq!(
            receiving(std::slice::from_ref(&elsewhere), docker, &owners).0,
            None
        );
        assert_eq!(receiving(&[elsewhere], stub, &owners).0, Some(false));
        // chronyd's command socket on 127.0.0.1:323 says nothing of port 53 there.
        let chrony = tables::Listener {
            port: 323,
            ..receiver("127.0.0.1", None)
        };
        let dnsmasq: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(receiving(&[chrony], dnsmasq, &owners).0, Some(false));
    }
}
