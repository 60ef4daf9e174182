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
        // A copy that failed duplicate address detection is not held: another host has it.
        IpAddr::V6(v6) => {
            if_inet6_entries(text).any(|(ip, flags)| ip == v6 && flags & IFA_F_DADFAILED == 0)
        }
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
    if_inet6_entries(text).map(|(ip, _)| ip).collect()
}

/// `IFA_F_TENTATIVE`: duplicate address detection is still running.
const IFA_F_TENTATIVE: u32 = 0x40;
/// `IFA_F_DADFAILED`: another host on the link has the address.
const IFA_F_DADFAILED: u32 = 0x08;
/// `IFA_F_OPTIMISTIC`: usable while tentative (RFC 4429).
const IFA_F_OPTIMISTIC: u32 = 0x04;

/// The addresses of `/proc/net/if_inet6` with their flags.
fn if_inet6_entries(text: &str) -> impl Iterator<Item = (Ipv6Addr, u32)> + '_ {
    if_inet6_lines(text).map(|(ip, _, flags, _)| (ip, flags))
}

/// The lines of `/proc/net/if_inet6`: address, prefix length, flags, interface.
fn if_inet6_lines(text: &str) -> impl Iterator<Item = (Ipv6Addr, u8, u32, &str)> + '_ {
    text.lines().filter_map(|line| {
        let mut fields = line.split_whitespace();
        let hex = fields.next().filter(|hex| hex.len() == 32)?;
        let ip = Ipv6Addr::from(u128::from_str_radix(hex, 16).ok()?);
        let prefix = u8::from_str_radix(fields.nth(1)?, 16).ok()?;
        let flags = u32::from_str_radix(fields.nth(1)?, 16).ok()?;
        Some((ip, prefix, flags, fields.next()?))
    })
}

/// Why an IPv6 address of this namespace takes no connection yet, or never will.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ipv6State {
    /// Duplicate address detection still runs (about a second after the address was added):
    /// no packet reaches it, and no program can bind it.
    Tentative,
    /// Duplicate address detection failed: another host on the link has the address. The
    /// kernel ignores the neighbour advertisements of an address it has itself, so that host
    /// is not reached from here either, once its neighbour entry is gone.
    DadFailed {
        /// The interface that has the failed copy.
        dev: String,
        /// Its prefix length.
        prefix: u8,
    },
}

/// The state of `ip` in the text of `/proc/net/if_inet6`, when every entry of it is tentative
/// or failed (an address that works on one interface works).
pub fn ipv6_state_in(text: &str, ip: Ipv6Addr) -> Option<Ipv6State> {
    let states: Vec<Option<Ipv6State>> = if_inet6_lines(text)
        .filter(|(found, ..)| *found == ip)
        .map(|(_, prefix, flags, dev)| {
            if flags & IFA_F_DADFAILED != 0 {
                Some(Ipv6State::DadFailed {
                    dev: dev.to_owned(),
                    prefix,
                })
            } else if flags & IFA_F_TENTATIVE != 0 && flags & IFA_F_OPTIMISTIC == 0 {
                Some(Ipv6State::Tentative)
            } else {
                None
            }
        })
        .collect();
    if states.iter().any(Option::is_none) {
        return None;
    }
    states.into_iter().flatten().next()
}

/// [`ipv6_state_in`] this namespace's addresses.
pub fn ipv6_state(ip: Ipv6Addr) -> Option<Ipv6State> {
    ipv6_state_in(
        &std::fs::read_to_string("/proc/thread-self/net/if_inet6").ok()?,
        ip,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_tentative_and_failed_ipv6_addresses() {
        // As a namespace listed them: fd28::50 being added, fd28::2 also held by another host
        // on the link, fd28::1 added with `nodad`, fd28::7 optimistic, fd28::9 on two links.
        let text = "00000000000000000000000000000001 01 80 10 80       lo\n\
                    fd280000000000000000000000000001 02 40 00 82    eth0\n\
                    fd280000000000000000000000000050 02 40 00 40    eth0\n\
                    fd280000000000000000000000000002 02 40 00 c8    eth0\n\
                    fd280000000000000000000000000007 02 40 00 44    eth0\n\
                    fd280000000000000000000000000009 02 40 00 c8    eth0\n\
                    fd280000000000000000000000000009 03 40 00 80    eth1\n";
        let state = |ip: &str| ipv6_state_in(text, ip.parse().unwrap());
        assert_eq!(state("fd28::50"), Some(Ipv6State::Tentative));
        assert_eq!(
            state("fd28::2"),
            Some(Ipv6State::DadFailed {
                dev: "eth0".to_owned(),
                prefix: 64
            })
        );
        assert_eq!(state("fd28::1"), None);
        assert_eq!(state("fd28::7"), None);
        assert_eq!(state("fd28::9"), None);
        assert_eq!(state("fd28::99"), None);
        assert_eq!(if_inet6_addresses(text).len(), 7);
    }

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
