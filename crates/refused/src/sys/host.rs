//! Facts about this host: its own addresses, its IPv6, its neighbours, its hosts file.

use std::fs;
use std::net::{IpAddr, SocketAddr};

use serde::Serialize;
use socket2::{Domain, Socket, Type};

/// Whether `ip` is one of this host's own addresses (any interface, all of 127.0.0.0/8, `::1`,
/// the addresses of a `local` route such as `ip route add local 10.0.9.0/24 dev lo`).
///
/// Asked of the kernel itself: its route lookup for the address is of type `local` exactly
/// when a packet to it is delivered to this host, which is what a connect meets. A bind would
/// tell too, but not everywhere: with `net.ipv4.ip_nonlocal_bind=1` (keepalived's and HAProxy's
/// hosts, for an address that moves between them) it takes any address, and an IPv6 `local`
/// route's addresses ("any IP") take no bind; it is asked only where netlink cannot be.
pub fn is_local_address(ip: IpAddr) -> bool {
    // An IPv4-mapped address (`::ffff:10.0.0.1`) is IPv4 on the wire; IPv6's routes know it not.
    let ip = ip.to_canonical();
    if ip.is_loopback() || ip.is_unspecified() {
        return true;
    }
    match super::route::kernel::get(ip, 0, None, None) {
        Ok(answer) => answer.local,
        // A route or rule that rejects the packet: not delivered here.
        Err(err)
            if err.raw_os_error().is_some_and(|errno| {
                [
                    libc::ENETUNREACH,
                    libc::EHOSTUNREACH,
                    libc::EACCES,
                    libc::EINVAL,
                ]
                .contains(&errno)
            }) =>
        {
            false
        }
        Err(_) => binds_to(ip),
    }
}

/// Whether a socket can be bound to `ip`: for a local address only (`EADDRNOTAVAIL` otherwise),
/// unless `ip_nonlocal_bind` is on.
fn binds_to(ip: IpAddr) -> bool {
    let Ok(socket) = Socket::new(
        Domain::for_address(SocketAddr::new(ip, 0)),
        Type::DGRAM,
        None,
    ) else {
        return false;
    };
    socket.bind(&SocketAddr::new(ip, 0).into()).is_ok()
}

/// The address this host would send from to reach `ip` (a connected UDP socket: no packet is
/// sent).
pub fn source_address_for(ip: IpAddr) -> Option<IpAddr> {
    source_address_to(SocketAddr::new(ip, 9))
}

/// [`source_address_for`] an address with its scope: a link-local IPv6 address names no route
/// without the interface it is on.
pub fn source_address_to(addr: SocketAddr) -> Option<IpAddr> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, None).ok()?;
    socket.connect(&addr.into()).ok()?;
    Some(socket.local_addr().ok()?.as_socket()?.ip())
}

/// Whether this host's kernel has IPv6: an IPv6 socket can be made (not booted with
/// `ipv6.disable=1`). Whether it is switched off (`disable_ipv6`) is read with the loopback
/// interface: see [`super::loopback`].
pub fn has_ipv6() -> bool {
    Socket::new(Domain::IPV6, Type::DGRAM, None).is_ok()
}

/// Whether this process runs as root (effective uid 0).
pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Whether systemd manages this host's services: the test of `sd_booted(3)`, which is what
/// `systemctl` needs (containers and WSL 1 have unit files but no systemd running).
pub fn runs_systemd() -> bool {
    fs::symlink_metadata("/run/systemd/system").is_ok_and(|meta| meta.is_dir())
}

/// The kernel's default ephemeral port range (`net.ipv4.ip_local_port_range`).
pub const DEFAULT_EPHEMERAL_PORTS: (u16, u16) = (32768, 60999);

/// The ephemeral port range connects take their local port from.
pub fn ephemeral_ports() -> Option<(u16, u16)> {
    let text = fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok()?;
    let mut parts = text.split_whitespace().map(str::parse);
    Some((parts.next()?.ok()?, parts.next()?.ok()?))
}

/// How many ports of the ephemeral range `low..=high` `net.ipv4.ip_local_reserved_ports`
/// reserves (IPv6 too): a connect never takes them. `None`: the list could not be read.
pub fn reserved_ports_in(low: u16, high: u16) -> Option<u32> {
    let text = fs::read_to_string("/proc/sys/net/ipv4/ip_local_reserved_ports").ok()?;
    Some(count_reserved(&text, low, high))
}

/// Counts the ports of `low..=high` in the text of `ip_local_reserved_ports`
/// (`40000-40009,50000`, as the kernel writes it: sorted, merged).
pub fn count_reserved(text: &str, low: u16, high: u16) -> u32 {
    text.trim()
        .split(',')
        .filter_map(|part| {
            let (from, to) = part.split_once('-').unwrap_or((part, part));
            let (from, to) = (
                from.trim().parse::<u16>().ok()?,
                to.trim().parse::<u16>().ok()?,
            );
            let (from, to) = (from.max(low), to.min(high));
            (from <= to).then(|| u32::from(to - from) + 1)
        })
        .sum()
}

/// What neighbour discovery knows of an address on a local link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Neighbour {
    /// It answered: a link-layer address is known.
    Answered,
    /// Asked, never answered (an incomplete or failed entry).
    NoAnswer,
}

/// The neighbour table's word on an address, if it has an entry: `/proc/net/arp` for IPv4,
/// `ip -6 neigh show ADDRESS` for IPv6 (the kernel has no `/proc` file for it).
pub fn neighbour(ip: IpAddr) -> Option<Neighbour> {
    neighbour_on(ip, None)
}

/// [`neighbour`] on one interface, when known: an IPv6 gateway is often link-local (`fe80::1`),
/// an address every link may have.
pub fn neighbour_on(ip: IpAddr, dev: Option<&str>) -> Option<Neighbour> {
    match ip {
        IpAddr::V4(_) => parse_arp(&fs::read_to_string("/proc/net/arp").ok()?, ip),
        IpAddr::V6(_) => {
            let ip = ip.to_string();
            let mut args = vec!["-6", "neigh", "show", &ip];
            if let Some(dev) = dev {
                args.extend(["dev", dev]);
            }
            let output = std::process::Command::new("ip").args(args).output().ok()?;
            parse_ip_neigh(&String::from_utf8_lossy(&output.stdout))
        }
    }
}

/// Reads `ip neigh show ADDRESS`: `... FAILED` or `... INCOMPLETE` never answered; an entry
/// with a link-layer address (`lladdr`) did.
pub fn parse_ip_neigh(text: &str) -> Option<Neighbour> {
    let line = text.lines().find(|l| !l.trim().is_empty())?;
    if line.contains("lladdr") {
        Some(Neighbour::Answered)
    } else if line.contains("FAILED") || line.contains("INCOMPLETE") {
        Some(Neighbour::NoAnswer)
    } else {
        None
    }
}

/// Finds `ip` in the text of `/proc/net/arp`: flags `0x2` (`ATF_COM`) mean it answered.
pub fn parse_arp(text: &str, ip: IpAddr) -> Option<Neighbour> {
    text.lines().skip(1).find_map(|line| {
        let mut fields = line.split_whitespace();
        let address: IpAddr = fields.next()?.parse().ok()?;
        let flags = u32::from_str_radix(fields.nth(1)?.trim_start_matches("0x"), 16).ok()?;
        (address == ip).then_some(if flags & 0x2 == 0 {
            Neighbour::NoAnswer
        } else {
            Neighbour::Answered
        })
    })
}

/// Where a name's addresses came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NameSource {
    /// `/etc/hosts`.
    Hosts,
    /// DNS (or another source `nsswitch.conf` names).
    Dns,
}

/// Whether `/etc/hosts` has `name` (the system resolver looks there first on Linux).
pub fn name_source(name: &str) -> NameSource {
    let hosts = fs::read_to_string("/etc/hosts").unwrap_or_default();
    if hosts_file_has(&hosts, name) {
        NameSource::Hosts
    } else {
        NameSource::Dns
    }
}

/// Whether a hosts file's text lists `name` (case-insensitive, comments ignored), as glibc's
/// files lookup matches it: as written, so `localhost.` (a final dot) is not `localhost`
/// (`getent ahosts localhost.` fails where only /etc/hosts has `localhost`; measured).
pub fn hosts_file_has(text: &str, name: &str) -> bool {
    text.lines().any(|line| {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        fields
            .next()
            .is_some_and(|addr| addr.parse::<IpAddr>().is_ok())
            && fields.any(|alias| alias.eq_ignore_ascii_case(name))
    })
}

/// The name of user `uid` (`/etc/passwd`) or group `gid` (`/etc/group`).
pub fn account_name(file: &str, id: u32) -> Option<String> {
    find_account(&fs::read_to_string(file).ok()?, id)
}

/// Finds `id` in the text of `/etc/passwd` or `/etc/group` (`name:x:id:...`).
pub fn find_account(text: &str, id: u32) -> Option<String> {
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let found: u32 = fields.nth(1)?.parse().ok()?;
        (found == id).then(|| name.to_owned())
    })
}

/// The primary gid of user `uid` in the text of `/etc/passwd` (`name:x:uid:gid:...`).
pub fn primary_gid(passwd: &str, uid: u32) -> Option<u32> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':').skip(2);
        let found: u32 = fields.next()?.parse().ok()?;
        (found == uid).then(|| fields.next()?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_local_and_documentation_addresses_are_not() {
        assert!(is_local_address("127.0.0.1".parse().unwrap()));
        assert!(is_local_address("127.3.2.1".parse().unwrap()));
        assert!(!is_local_address("192.0.2.77".parse().unwrap()));
        assert!(!is_local_address("2001:db8::77".parse().unwrap()));
        assert!(is_local_address("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_local_address("::ffff:192.0.2.77".parse().unwrap()));
    }

    #[test]
    fn counts_the_reserved_ports_of_the_range() {
        assert_eq!(count_reserved("\n", 32768, 60999), 0);
        assert_eq!(count_reserved("40000-40009\n", 40000, 40009), 10);
        assert_eq!(count_reserved("8080,39990-40004,40009\n", 40000, 40009), 6);
        assert_eq!(count_reserved("1-1000\n", 32768, 60999), 0);
    }

    #[test]
    fn reads_arp_entries() {
        let arp = "IP address       HW type     Flags       HW address            Mask     Device\n\
                   10.77.0.2        0x1         0x2         02:fc:00:00:00:05     *        eth0\n\
                   10.77.0.99       0x1         0x0         00:00:00:00:00:00     *        eth0\n";
        let ip = |s: &str| s.parse().unwrap();
        assert_eq!(parse_arp(arp, ip("10.77.0.2")), Some(Neighbour::Answered));
        assert_eq!(parse_arp(arp, ip("10.77.0.99")), Some(Neighbour::NoAnswer));
        assert_eq!(parse_arp(arp, ip("10.77.0.3")), None);
    }

    #[test]
    fn reads_ip_neigh_lines() {
        assert_eq!(
            parse_ip_neigh("fd00:77::99 dev eth0 FAILED\n"),
            Some(Neighbour::NoAnswer)
        );
        assert_eq!(
            parse_ip_neigh("fd00:77::99 dev eth0  INCOMPLETE\n"),
            Some(Neighbour::NoAnswer)
        );
        assert_eq!(
            parse_ip_neigh("fd00:77::2 dev eth0 lladdr 02:00:00:00:00:02 REACHABLE\n"),
            Some(Neighbour::Answered)
        );
        assert_eq!(parse_ip_neigh(""), None);
    }

    #[test]
    fn finds_account_names() {
        let group = "root:x:0:\ndocker:x:999:alice,bob\nbroken\n";
        assert_eq!(find_account(group, 999).as_deref(), Some("docker"));
        assert_eq!(find_account(group, 0).as_deref(), Some("root"));
        assert_eq!(find_account(group, 5), None);
    }

    #[test]
    fn finds_names_in_a_hosts_file() {
        let hosts = "127.0.0.1 localhost\n::1 localhost ip6-localhost # v6\n# 10.0.0.1 db\n";
        assert!(hosts_file_has(hosts, "LOCALHOST"));
        assert!(!hosts_file_has(hosts, "localhost."));
        assert!(hosts_file_has(hosts, "ip6-localhost"));
        assert!(!hosts_file_has(hosts, "db"));
        assert!(!hosts_file_has(hosts, "v6"));
    }
}
