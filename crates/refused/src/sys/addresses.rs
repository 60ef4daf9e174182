//! Which network namespace of this host holds an address: a container's own IP is a local
//! address too, only of another namespace, and its socket tables say who listens there.
//!
//! Read from each namespace's `/proc/.../net/fib_trie` (the IPv4 `LOCAL` routes the kernel keeps
//! for every address of the namespace) and `if_inet6` (its IPv6 addresses): any user may read
//! them for a process's namespace; a named namespace with no process needs root to enter.

use std::net::{IpAddr, Ipv6Addr};

use super::netns::{self, Other};

/// The namespaces of this host, other than ours, that hold `ip` (never loopback: each namespace
/// has its own, and ours is the one a client reaches). More than one is possible (isolated
/// networks may reuse addresses); then which one answers is not known.
pub fn holders_of(ip: IpAddr) -> Vec<Other> {
    if ip.is_loopback() || ip.is_unspecified() {
        return Vec::new();
    }
    let file = if ip.is_ipv4() { "fib_trie" } else { "if_inet6" };
    netns::others()
        .into_iter()
        .filter(|ns| netns::read_net_file(ns, file).is_ok_and(|text| holds(&text, ip)))
        .collect()
}

/// An address of our own namespace in that family that is neither loopback nor link-local
/// (the one a published port is reached at from this host), if it has one.
pub fn own_beside_loopback(v4: bool) -> Option<IpAddr> {
    let file = if v4 { "fib_trie" } else { "if_inet6" };
    let text = std::fs::read_to_string(format!("/proc/thread-self/net/{file}")).ok()?;
    beside_loopback(&text, v4)
}

/// The same for another namespace of this host: where it is reached from ours.
pub fn of_namespace_beside_loopback(ns: &Other, v4: bool) -> Option<IpAddr> {
    let file = if v4 { "fib_trie" } else { "if_inet6" };
    beside_loopback(&netns::read_net_file(ns, file).ok()?, v4)
}

/// The first address of `fib_trie` (IPv4) or `if_inet6` text that is neither loopback nor
/// link-local.
fn beside_loopback(text: &str, v4: bool) -> Option<IpAddr> {
    if v4 {
        fib_trie_locals(text)
            .into_iter()
            .find(|(ip, length)| *length == 32 && !ip.is_loopback() && !ip.is_link_local())
            .map(|(ip, _)| IpAddr::V4(ip))
    } else {
        if_inet6_addresses(text)
            .into_iter()
            .find(|ip| !ip.is_loopback() && !ip.is_unicast_link_local())
            .map(IpAddr::V6)
    }
}

/// Whether the text of `fib_trie` (IPv4) or `if_inet6` (IPv6) holds `ip` as a local address.
pub fn holds(text: &str, ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => fib_trie_locals(text).iter().any(|(network, length)| {
            let mask = u32::MAX.checked_shl(32 - u32::from(*length)).unwrap_or(0);
            u32::from(*network) & mask == u32::from(v4) & mask
        }),
        IpAddr::V6(v6) => if_inet6_addresses(text).contains(&v6),
    }
}

/// The `LOCAL` prefixes of `/proc/net/fib_trie`: each leaf (`|-- 10.0.0.2`) is followed by its
/// routes (`/32 host LOCAL`).
pub fn fib_trie_locals(text: &str) -> Vec<(std::net::Ipv4Addr, u8)> {
    let mut locals = Vec::new();
    let mut leaf = None;
    for line in text.lines() {
        let line = line.trim();
        if let Some(address) = line.strip_prefix("|-- ") {
            leaf = address.trim().parse().ok();
        } else if let Some(route) = line.strip_prefix('/') {
            let mut words = route.split_whitespace();
            let length = words.next().and_then(|l| l.parse::<u8>().ok());
            let local = words.nth(1) == Some("LOCAL");
            if let (Some(network), Some(length), true) = (leaf, length, local) {
                if length <= 32 && !locals.contains(&(network, length)) {
                    locals.push((network, length));
                }
            }
        }
    }
    locals
}

/// The addresses of `/proc/net/if_inet6` (32 hex digits, then index, prefix, scope, flags, name).
pub fn if_inet6_addresses(text: &str) -> Vec<Ipv6Addr> {
    text.lines()
        .filter_map(|line| {
            let hex = line.split_whitespace().next()?;
            (hex.len() == 32)
                .then(|| u128::from_str_radix(hex, 16).ok())
                .flatten()
                .map(Ipv6Addr::from)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIB_TRIE: &str = "Main:
  +-- 0.0.0.0/0 3 0 5
     +-- 10.77.0.0/24 2 0 2
        +-- 10.77.0.0/30 2 0 2
           |-- 10.77.0.0
              /24 link UNICAST
           |-- 10.77.0.2
              /32 host LOCAL
        |-- 10.77.0.255
           /32 link BROADCAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
Local:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
";

    const IF_INET6: &str = "fd000000000000000000000000000002 04 40 00 82     eth0
fe8000000000000000fc00fffe000001 04 40 20 80     eth0
00000000000000000000000000000001 01 80 10 80       lo
garbage
";

    #[test]
    fn local_routes_are_the_namespaces_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(holds(FIB_TRIE, ip("10.77.0.2")));
        assert!(!holds(FIB_TRIE, ip("10.77.0.1")), "on the link, not held");
        assert!(
            !holds(FIB_TRIE, ip("10.77.0.255")),
            "broadcast is not an address"
        );
        assert!(holds(FIB_TRIE, ip("127.3.4.5")), "127/8 is local");
        assert!(holds(IF_INET6, ip("fd00::2")));
        assert!(holds(IF_INET6, ip("fe80::fc:ff:fe00:1")));
        assert!(!holds(IF_INET6, ip("fd00::3")));
        assert!(!holds("", ip("10.0.0.1")));
        assert_eq!(beside_loopback(FIB_TRIE, true), Some(ip("10.77.0.2")));
        assert_eq!(beside_loopback(IF_INET6, false), Some(ip("fd00::2")));
        assert_eq!(beside_loopback("", true), None);
    }

    #[test]
    fn loopback_is_never_another_namespaces() {
        assert!(holders_of("127.0.0.1".parse().unwrap()).is_empty());
        assert!(holders_of("::1".parse().unwrap()).is_empty());
    }
}
