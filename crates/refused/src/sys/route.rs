//! This host's routes to an address: the kernel's own lookup, the route that rejects, and the
//! interface a packet leaves by.
//!
//! A connected UDP socket makes the kernel look the route up without sending anything; the
//! lookup fails with the errno a route of type `unreachable` (`EHOSTUNREACH`), `prohibit`
//! (`EACCES`) or `blackhole` (`EINVAL`) gives, the same a TCP connect gets. Such an error was
//! made by this host, not by the network. Which route it was comes from
//! `ip -j route show table all` (the longest prefix of a rejecting type that holds the address).
//!
//! The interface, for the firewall's `oifname` and `iifname` matches, comes from the main
//! routing table (`/proc/net/route`, `/proc/net/ipv6_route`), longest prefix first. Policy
//! routing is not followed; an address of this host leaves by `lo`.
//!
//! The gateway a packet goes through comes from the kernel's own lookup, `ip -j route get`
//! (policy routing included; nothing is sent): a gateway that does not answer neighbour
//! discovery fails every connect through it with this host's own `EHOSTUNREACH`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Command;

use serde::Serialize;
use serde_json::Value;
use socket2::{Domain, Socket, Type};

use super::firewall::Interface;

/// What the kernel's route lookup for an address says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A route leads there.
    Routed,
    /// No route at all (`ENETUNREACH`): nothing matches, not even a default route.
    NoRoute,
    /// A route of a rejecting type matches.
    Rejected(RouteKind),
}

/// The types of route that stop packets on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    /// `unreachable`: connects fail with `EHOSTUNREACH`.
    Unreachable,
    /// `prohibit`: connects fail with `EACCES`.
    Prohibit,
    /// `blackhole`: connects fail with `EINVAL`.
    Blackhole,
}

impl RouteKind {
    /// The type as `ip route` writes it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unreachable => "unreachable",
            Self::Prohibit => "prohibit",
            Self::Blackhole => "blackhole",
        }
    }

    /// The errno a connect through such a route fails with.
    pub const fn errno(self) -> i32 {
        match self {
            Self::Unreachable => libc::EHOSTUNREACH,
            Self::Prohibit => libc::EACCES,
            Self::Blackhole => libc::EINVAL,
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        match name {
            "unreachable" => Some(Self::Unreachable),
            "prohibit" => Some(Self::Prohibit),
            "blackhole" => Some(Self::Blackhole),
            _ => None,
        }
    }
}

/// A route of this host that rejects an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectingRoute {
    /// Its type.
    #[serde(rename = "type")]
    pub kind: RouteKind,
    /// Its destination as `ip route` writes it (`10.99.0.0/16`, `default`); `None` when the
    /// routes could not be listed.
    pub destination: Option<String>,
    /// Its table, when not `main`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
}

impl RejectingRoute {
    /// The command that shows it or, with `del`, removes it.
    pub fn ip_route(&self, verb: &str, ip: IpAddr) -> String {
        let six = if ip.is_ipv6() { " -6" } else { "" };
        let destination = self.destination.as_deref().unwrap_or("...");
        let table = self
            .table
            .as_deref()
            .map_or_else(String::new, |t| format!(" table {t}"));
        format!(
            "ip{six} route {verb} {} {destination}{table}",
            self.kind.as_str()
        )
    }
}

/// Asks the kernel for the route to `ip` (nothing is sent).
pub fn lookup(ip: IpAddr) -> Lookup {
    let addr = SocketAddr::new(ip, 9);
    let Ok(socket) = Socket::new(Domain::for_address(addr), Type::DGRAM, None) else {
        return Lookup::Routed;
    };
    match socket.connect(&addr.into()) {
        Ok(()) => Lookup::Routed,
        Err(err) => match err.raw_os_error() {
            Some(libc::ENETUNREACH) => Lookup::NoRoute,
            Some(libc::EHOSTUNREACH) => Lookup::Rejected(RouteKind::Unreachable),
            Some(libc::EACCES) => Lookup::Rejected(RouteKind::Prohibit),
            Some(libc::EINVAL) => Lookup::Rejected(RouteKind::Blackhole),
            _ => Lookup::Routed,
        },
    }
}

/// The route of `kind` that holds `ip`, named from `ip route`'s list when it can be read.
pub fn rejecting_route(ip: IpAddr, kind: RouteKind) -> RejectingRoute {
    let family = if ip.is_ipv4() { "-4" } else { "-6" };
    let listed = Command::new("ip")
        .args([family, "-j", "route", "show", "table", "all"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| serde_json::from_slice::<Value>(&out.stdout).ok());
    listed
        .and_then(|routes| best_match(&routes, ip, kind))
        .unwrap_or(RejectingRoute {
            kind,
            destination: None,
            table: None,
        })
}

/// The most specific route of `kind` in `ip -j route show` output that holds `ip`.
pub fn best_match(routes: &Value, ip: IpAddr, kind: RouteKind) -> Option<RejectingRoute> {
    routes
        .as_array()?
        .iter()
        .filter(|route| route["type"].as_str().and_then(RouteKind::from_name) == Some(kind))
        .filter_map(|route| {
            let destination = route["dst"].as_str()?;
            let length = prefix_holding(destination, ip)?;
            let table = route["table"]
                .as_str()
                .filter(|t| *t != "main")
                .map(str::to_owned);
            Some((length, destination.to_owned(), table))
        })
        .max_by_key(|(length, _, _)| *length)
        .map(|(_, destination, table)| RejectingRoute {
            kind,
            destination: Some(destination),
            table,
        })
}

/// The prefix length of `destination` (`10.0.0.0/8`, `10.1.2.3`, `default`) if it holds `ip`.
fn prefix_holding(destination: &str, ip: IpAddr) -> Option<u32> {
    if destination == "default" {
        return Some(0);
    }
    let (network, length) = if let Some((network, length)) = destination.split_once('/') {
        (network.parse::<IpAddr>().ok()?, length.parse::<u32>().ok()?)
    } else {
        let network = destination.parse::<IpAddr>().ok()?;
        (network, if network.is_ipv4() { 32 } else { 128 })
    };
    let holds = match (network, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) if length <= 32 => {
            let mask = u32::MAX.checked_shl(32 - length).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) if length <= 128 => {
            let mask = u128::MAX.checked_shl(128 - length).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    };
    holds.then_some(length)
}

/// The gateway this host sends packets for `ip` to, with the interface it is on; `None` when
/// `ip` is on a link of this host (it is its own next hop) or the lookup could not be made.
pub fn gateway_to(ip: IpAddr) -> Option<Gateway> {
    let family = if ip.is_ipv4() { "-4" } else { "-6" };
    let output = Command::new("ip")
        .args([family, "-j", "route", "get", &ip.to_string()])
        .output()
        .ok()
        .filter(|out| out.status.success())?;
    gateway_in(&serde_json::from_slice(&output.stdout).ok()?)
}

/// A gateway: the next hop of a route that does not end on a link of this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    /// Its address (for IPv6 often link-local: `fe80::1`).
    pub address: IpAddr,
    /// The interface it is reached by.
    pub dev: Option<String>,
}

/// The gateway in `ip -j route get` output (`[{"dst":...,"gateway":"10.0.0.1","dev":"eth0"}]`).
pub fn gateway_in(routes: &Value) -> Option<Gateway> {
    let route = routes.as_array()?.first()?;
    Some(Gateway {
        address: route["gateway"].as_str()?.parse().ok()?,
        dev: route["dev"].as_str().map(str::to_owned),
    })
}

const RTF_UP: u32 = 0x1;
const RTF_REJECT: u32 = 0x200;

/// The interface a packet to `dst` leaves by: `lo` for an address of this host, else the main
/// table's route; [`Interface::NotLoopback`] when no route names one.
pub fn interface_to(dst: IpAddr, local: bool) -> Interface {
    if local {
        return Interface::Named("lo".to_owned());
    }
    route_device(dst).map_or(Interface::NotLoopback, Interface::Named)
}

/// The interface of the main table's route to `dst` in the calling thread's network namespace
/// (`/proc/net` is the process's; a thread that entered another namespace reads its own under
/// `/proc/thread-self/net`).
pub fn route_device(dst: IpAddr) -> Option<String> {
    match dst {
        IpAddr::V4(ip) => std::fs::read_to_string("/proc/thread-self/net/route")
            .ok()
            .and_then(|text| via_v4(&text, ip)),
        IpAddr::V6(ip) => std::fs::read_to_string("/proc/thread-self/net/ipv6_route")
            .ok()
            .and_then(|text| via_v6(&text, ip)),
    }
}

/// The interface of the longest matching route of `/proc/net/route` (lowest metric on a tie).
pub fn via_v4(table: &str, ip: Ipv4Addr) -> Option<String> {
    let mut best: Option<(u32, u32, &str)> = None;
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [
            iface,
            dest,
            _gateway,
            flags,
            _refcnt,
            _use,
            metric,
            mask,
            ..,
        ] = fields.as_slice()
        else {
            continue;
        };
        let hex = |h: &str| u32::from_str_radix(h, 16).ok();
        let (Some(dest), Some(flags), Some(metric), Some(mask)) =
            (hex(dest), hex(flags), metric.parse::<u32>().ok(), hex(mask))
        else {
            continue;
        };
        // The kernel prints the addresses' bytes as a host-order number.
        let (dest, mask) = (u32::from_be(dest), u32::from_be(mask));
        if flags & RTF_UP == 0 || u32::from(ip) & mask != dest & mask {
            continue;
        }
        let len = mask.leading_ones();
        keep_better(&mut best, len, metric, flags, iface);
    }
    best.map(|(_, _, iface)| iface.to_owned())
        .filter(|iface| !iface.is_empty() && iface != "*")
}

/// Keeps the route that is more specific (then of lower metric) than `best`; a rejecting
/// route names no interface.
fn keep_better<'a>(
    best: &mut Option<(u32, u32, &'a str)>,
    len: u32,
    metric: u32,
    flags: u32,
    iface: &'a str,
) {
    if best.is_none_or(|(l, m, _)| len > l || (len == l && metric < m)) {
        *best = Some((
            len,
            metric,
            if flags & RTF_REJECT != 0 { "" } else { iface },
        ));
    }
}

/// The interface of the longest matching route of `/proc/net/ipv6_route`.
pub fn via_v6(table: &str, ip: Ipv6Addr) -> Option<String> {
    let mut best: Option<(u32, u32, &str)> = None;
    for line in table.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [
            dest,
            len,
            _src,
            _src_len,
            _next,
            metric,
            _refcnt,
            _use,
            flags,
            iface,
        ] = fields.as_slice()
        else {
            continue;
        };
        let (Ok(dest), Ok(len), Ok(metric), Ok(flags)) = (
            u128::from_str_radix(dest, 16),
            u32::from_str_radix(len, 16),
            u32::from_str_radix(metric, 16),
            u32::from_str_radix(flags, 16),
        ) else {
            continue;
        };
        let mask = u128::MAX.checked_shl(128 - len.min(128)).unwrap_or(0);
        if flags & RTF_UP == 0 || u128::from(ip) & mask != dest & mask {
            continue;
        }
        keep_better(&mut best, len, metric, flags, iface);
    }
    best.map(|(_, _, iface)| iface.to_owned())
        .filter(|iface| !iface.is_empty() && iface != "lo")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Value {
        serde_json::json!([
            {"type": "unicast", "dst": "default", "gateway": "10.0.0.1", "dev": "eth0"},
            {"type": "unreachable", "dst": "10.0.0.0/8", "flags": []},
            {"type": "unreachable", "dst": "10.99.0.0/16", "flags": []},
            {"type": "prohibit", "dst": "10.98.0.0/16", "table": "100", "flags": []},
            {"type": "blackhole", "dst": "fd97::/32", "dev": "lo", "flags": []},
            {"type": "blackhole", "dst": "default", "table": "main"},
            {"type": "local", "dst": "127.0.0.1", "table": "local"}
        ])
    }

    #[test]
    fn the_longest_prefix_of_the_kind_wins() {
        let found = best_match(
            &routes(),
            "10.99.1.2".parse().unwrap(),
            RouteKind::Unreachable,
        );
        assert_eq!(found.unwrap().destination.as_deref(), Some("10.99.0.0/16"));
        let found = best_match(
            &routes(),
            "10.1.2.3".parse().unwrap(),
            RouteKind::Unreachable,
        );
        assert_eq!(found.unwrap().destination.as_deref(), Some("10.0.0.0/8"));
        let found =
            best_match(&routes(), "10.98.0.1".parse().unwrap(), RouteKind::Prohibit).unwrap();
        assert_eq!(found.table.as_deref(), Some("100"));
        assert_eq!(
            found.ip_route("del", "10.98.0.1".parse().unwrap()),
            "ip route del prohibit 10.98.0.0/16 table 100"
        );
        let found =
            best_match(&routes(), "fd97::5".parse().unwrap(), RouteKind::Blackhole).unwrap();
        assert_eq!(found.destination.as_deref(), Some("fd97::/32"));
        assert_eq!(
            found.ip_route("show", "fd97::5".parse().unwrap()),
            "ip -6 route show blackhole fd97::/32"
        );
        // `default` holds everything of its family; a `main` table is not named.
        let found = best_match(
            &routes(),
            "192.0.2.1".parse().unwrap(),
            RouteKind::Blackhole,
        )
        .unwrap();
        assert_eq!(
            (found.destination.as_deref(), found.table),
            (Some("default"), None)
        );
        assert!(best_match(&routes(), "192.0.2.1".parse().unwrap(), RouteKind::Prohibit).is_none());
    }

    #[test]
    fn prefixes() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(prefix_holding("10.0.0.0/8", ip("10.255.0.1")), Some(8));
        assert_eq!(prefix_holding("10.0.0.0/8", ip("11.0.0.1")), None);
        assert_eq!(prefix_holding("0.0.0.0/0", ip("11.0.0.1")), Some(0));
        assert_eq!(prefix_holding("10.1.2.3", ip("10.1.2.3")), Some(32));
        assert_eq!(prefix_holding("10.0.0.0/8", ip("::1")), None);
        assert_eq!(prefix_holding("10.0.0.0/99", ip("10.0.0.1")), None);
        assert_eq!(prefix_holding("garbage", ip("10.0.0.1")), None);
        assert_eq!(prefix_holding("fd00::/8", ip("fd12::1")), Some(8));
    }

    #[test]
    fn the_gateway_of_a_route_lookup() {
        let routed = serde_json::json!([{"dst": "10.199.60.1", "gateway": "10.77.0.254",
            "dev": "eth0", "prefsrc": "10.77.0.1", "flags": [], "uid": 0, "cache": []}]);
        assert_eq!(
            gateway_in(&routed),
            Some(Gateway {
                address: "10.77.0.254".parse().unwrap(),
                dev: Some("eth0".to_owned())
            })
        );
        let six = serde_json::json!([{"dst": "2001:db8::1", "gateway": "fe80::1", "dev": "wlan0"}]);
        assert_eq!(
            gateway_in(&six).map(|g| g.address),
            Some("fe80::1".parse().unwrap())
        );
        // On a link of this host: no gateway.
        let on_link =
            serde_json::json!([{"dst": "10.77.0.2", "dev": "eth0", "prefsrc": "10.77.0.1"}]);
        assert_eq!(gateway_in(&on_link), None);
        assert_eq!(gateway_in(&serde_json::json!([])), None);
    }

    #[test]
    fn loopback_is_routed() {
        assert_eq!(lookup("127.0.0.1".parse().unwrap()), Lookup::Routed);
    }
}
