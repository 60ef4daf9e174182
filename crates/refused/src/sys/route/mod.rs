//! This host's routes to an address: the kernel's own lookup, the route or rule that rejects,
//! and the interface a packet leaves by.
//!
//! The kernel is asked for the route of our connection's first packet itself ([`path_to`]:
//! netlink's `RTM_GETROUTE` with the protocol, TCP, and the port, as `ip route get ADDR ipproto
//! tcp dport PORT` asks; nothing is sent), so that policy routing is followed as the connect
//! follows it: wg-quick's and Tailscale's tables, rules that select on the port. The answer
//! gives the interface (for the firewall's `oifname` and `iifname` matches), the gateway and
//! the source address. The lookup fails with the errno a route of type `unreachable`
//! (`EHOSTUNREACH`), `prohibit` (`EACCES`) or `blackhole` (`EINVAL`) gives, or a rule of those
//! actions (`ENETUNREACH` for `unreachable`), the same a TCP connect gets. Such an error was made
//! by this host, not by the network. Which rule or route it was comes from walking `ip -j rule
//! show` over `ip -j route show table all` ([`policy`]), else from the longest prefix of a
//! rejecting type that holds the address in any table.
//!
//! Where netlink cannot be asked, [`lookup`] connects a UDP socket (port 9: rules on the port
//! do not match it) and the interface comes from the main routing table (`/proc/net/route`,
//! `/proc/net/ipv6_route`), longest prefix first. An address of this host leaves by `lo`.
//!
//! A gateway that does not answer neighbour discovery fails every connect through it with this
//! host's own `EHOSTUNREACH`.

pub mod kernel;
pub mod policy;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Command;

use serde::Serialize;
use serde_json::Value;
use socket2::{Domain, Socket, Type};

use super::firewall::Interface;
pub use policy::PolicyRule;

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

    pub(crate) fn from_name(name: &str) -> Option<Self> {
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
    /// The policy rule (`ip rule`) behind it: the one that rejects by its own action (there is
    /// then no route: `destination` is `None`), or the one that chose the route's table
    /// (selecting on the port, the mark, the address); `None` for the main table's own rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<PolicyRule>,
}

impl RejectingRoute {
    /// Whether a policy rule rejects by its own action: no route is involved.
    pub fn is_rule(&self) -> bool {
        self.rule.as_ref().is_some_and(PolicyRule::rejects)
    }

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
        Err(err) => err.raw_os_error().map_or(Lookup::Routed, Lookup::of_errno),
    }
}

impl Lookup {
    /// What a lookup that failed with `errno` says.
    fn of_errno(errno: i32) -> Self {
        match errno {
            libc::ENETUNREACH => Self::NoRoute,
            libc::EHOSTUNREACH => Self::Rejected(RouteKind::Unreachable),
            libc::EACCES => Self::Rejected(RouteKind::Prohibit),
            libc::EINVAL => Self::Rejected(RouteKind::Blackhole),
            _ => Self::Routed,
        }
    }

    /// The errno a connect gets from this lookup's answer (`None`: routed).
    pub const fn errno(self) -> Option<i32> {
        match self {
            Self::Routed => None,
            Self::NoRoute => Some(libc::ENETUNREACH),
            Self::Rejected(kind) => Some(kind.errno()),
        }
    }
}

/// The kernel's route for the first packet of a TCP connection to an address and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// Whether it is routed, or what stops it.
    pub lookup: Lookup,
    /// The interface it leaves by (`lo` for an address of this host).
    pub dev: Option<String>,
    /// The gateway it is sent to; `None` on a link of this host, or when it is not routed.
    pub gateway: Option<Gateway>,
    /// The source address the kernel gives it.
    pub source: Option<IpAddr>,
}

/// Asks the kernel for the route of a TCP packet to `ip` port `port`, in the calling thread's
/// network namespace, policy rules included (see [`kernel`]). Where netlink cannot be asked,
/// the UDP socket's lookup, the main table's interface and `ip route get`'s gateway.
pub fn path_to(ip: IpAddr, port: u16) -> Path {
    path_by(ip, port, None)
}

/// [`path_to`] a socket address, an IPv6 one's scope included: the connect to
/// `[fe80::1%lo]:80` is bound to `lo`, whatever the main table says of `fe80::/64`.
pub fn path_to_socket(addr: std::net::SocketAddr) -> Path {
    let oif = match addr {
        std::net::SocketAddr::V6(v6) if v6.scope_id() != 0 => Some(v6.scope_id()),
        _ => None,
    };
    path_by(addr.ip(), addr.port(), oif)
}

fn path_by(ip: IpAddr, port: u16, oif: Option<u32>) -> Path {
    // As the connect does: a lookup from no address picks the source, then one from that
    // source gives the route the packet takes (a rule on the source can stop only this one).
    let first = kernel::get(ip, port, None, oif);
    let second = match &first {
        Ok(answer) if answer.source.is_some() && !answer.local => {
            Some(kernel::get(ip, port, answer.source, oif))
        }
        _ => None,
    };
    let source = first.as_ref().ok().and_then(|answer| answer.source);
    match second.unwrap_or(first) {
        Ok(answer) => {
            let dev = answer.oif.and_then(interface_name);
            Path {
                lookup: Lookup::Routed,
                gateway: answer.gateway.map(|address| Gateway {
                    address,
                    dev: dev.clone(),
                }),
                dev,
                source: answer.source.or(source),
            }
        }
        Err(err)
            if err
                .raw_os_error()
                .is_some_and(|e| Lookup::of_errno(e) != Lookup::Routed) =>
        {
            Path {
                lookup: err.raw_os_error().map_or(Lookup::Routed, Lookup::of_errno),
                dev: None,
                gateway: None,
                source,
            }
        }
        Err(_) => Path {
            lookup: lookup(ip),
            dev: route_device(ip),
            gateway: gateway_to(ip),
            source: super::host::source_address_for(ip),
        },
    }
}

/// The name of the interface of index `index` in the calling thread's namespace.
fn interface_name(index: u32) -> Option<String> {
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, None)
        .or_else(|_| Socket::new(Domain::IPV6, Type::DGRAM, None))
        .ok()?;
    rustix::net::netdevice::index_to_name(&socket, index).ok()
}

/// The rule or route of this host that stops a TCP packet to `ip` port `port` the way `lookup`
/// says (the kernel's answer for it): the policy rules walked over the routes, else the
/// longest route of that type in any table; `None` for a lookup that found no route at all and
/// no rule of action `unreachable` (the plain missing route).
pub fn rejecting(flow: &policy::Flow, lookup: Lookup) -> Option<RejectingRoute> {
    let ip = flow.dst;
    let (kind, rule_only) = match lookup {
        Lookup::Routed => return None,
        // A rule of action `unreachable` fails with `ENETUNREACH`, as no route does.
        Lookup::NoRoute => (RouteKind::Unreachable, true),
        Lookup::Rejected(kind) => (kind, false),
    };
    let rules = ip_json(ip, &["rule", "show"]);
    // No route at all: only a rule of action `unreachable` can be behind it, and without one
    // the routes (a full BGP table's, on a router) are not listed.
    let unreachable_rule = |rules: &Value| {
        rules
            .as_array()
            .is_some_and(|rules| rules.iter().any(|rule| rule["action"] == "unreachable"))
    };
    if rule_only && !rules.as_ref().is_some_and(unreachable_rule) {
        return None;
    }
    let routes = ip_json(ip, &["route", "show", "table", "all"]);
    let walked = rules
        .zip(routes.as_ref())
        .and_then(|(rules, routes)| policy::walk(&rules, routes, flow, kind));
    // A rule of action `unreachable` fails with `ENETUNREACH`, a route of that type with
    // `EHOSTUNREACH`: the walk's answer must be the one the kernel gave.
    let fits = |found: &policy::Found| {
        let by_rule = found.rule.as_ref().is_some_and(PolicyRule::rejects);
        by_rule == rule_only || (by_rule && kind != RouteKind::Unreachable)
    };
    match walked.filter(fits) {
        Some(policy::Found {
            rule: Some(rule),
            route: None,
        }) => Some(RejectingRoute {
            kind,
            destination: None,
            table: None,
            rule: Some(rule),
        }),
        Some(policy::Found {
            rule,
            route: Some((destination, table)),
        }) => Some(RejectingRoute {
            kind,
            destination: Some(destination),
            table,
            rule,
        }),
        // No route at all, and no rule that rejects: the missing route the caller names.
        _ if rule_only => None,
        _ => Some(
            routes
                .and_then(|routes| best_match(&routes, ip, kind))
                .unwrap_or(RejectingRoute {
                    kind,
                    destination: None,
                    table: None,
                    rule: None,
                }),
        ),
    }
}

/// The `throw` route of this host that holds `ip` (the longest, in any table), as `ip route`
/// writes it (`throw 10.0.9.0/24`, with its table when not `main`): read when no route was
/// found, which such a route causes when the tables after it have none, hiding the one it
/// overrides (a connected network's).
pub fn throw_route_to(ip: IpAddr) -> Option<String> {
    throw_route_in(
        &ip_json(ip, &["route", "show", "table", "all", "type", "throw"])?,
        ip,
    )
}

/// [`throw_route_to`] in `ip -j route show table all type throw`'s answer.
pub fn throw_route_in(routes: &Value, ip: IpAddr) -> Option<String> {
    routes
        .as_array()?
        .iter()
        .filter(|route| route["type"] == "throw")
        .filter_map(|route| {
            let destination = route["dst"].as_str()?;
            let length = prefix_holding(destination, ip)?;
            let table = route["table"].as_str().filter(|t| *t != "main");
            let text = match table {
                Some(table) => format!("throw {destination} table {table}"),
                None => format!("throw {destination}"),
            };
            Some((length, text))
        })
        .max_by_key(|(length, _)| *length)
        .map(|(_, text)| text)
}

/// The route that sends a TCP packet to `addr` through the loopback interface as a plain
/// (unicast) route, as `ip route` writes it (`10.0.9.0/24 dev lo`, with its table when not
/// `main`): `ip route add PREFIX dev lo` where `ip route add local PREFIX dev lo` ("any IP") was
/// meant. `ip route get fibmatch`, which gives the route itself, not the address's cache entry.
pub fn through_loopback(addr: std::net::SocketAddr) -> Option<String> {
    let (ip, port) = (addr.ip().to_string(), addr.port().to_string());
    let found = ip_json(
        addr.ip(),
        &[
            "route", "get", "fibmatch", &ip, "ipproto", "tcp", "dport", &port,
        ],
    )?;
    through_loopback_in(&found)
}

/// [`through_loopback`] from `ip -j route get fibmatch`'s answer.
pub fn through_loopback_in(found: &Value) -> Option<String> {
    let route = found.as_array()?.first()?;
    let unicast = route["type"].as_str().is_none_or(|kind| kind == "unicast");
    if !unicast || route["dev"] != "lo" || route.get("gateway").is_some() {
        return None;
    }
    let mut text = format!("{} dev lo", route["dst"].as_str()?);
    if let Some(table) = route["table"].as_str().filter(|t| *t != "main") {
        text.push_str(" table ");
        text.push_str(table);
    }
    Some(text)
}

/// `ip -j -4|-6 ARGS`'s answer, for the family of `ip`.
fn ip_json(ip: IpAddr, args: &[&str]) -> Option<Value> {
    let family = if ip.is_ipv4() { "-4" } else { "-6" };
    Command::new("ip")
        .args([family, "-j"])
        .args(args)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| serde_json::from_slice::<Value>(&out.stdout).ok())
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
            rule: None,
        })
}

/// The prefix length of `destination` (`10.0.0.0/8`, `10.1.2.3`, `default`) if it holds `ip`.
fn prefix_holding(destination: &str, ip: IpAddr) -> Option<u32> {
    if destination == "default" {
        return Some(0);
    }
    let (network, length) = super::prefix::parse(destination)?;
    let holds = super::prefix::holds(network, length, ip);
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

/// The interface a packet leaves by, as the firewall's rules see it: `lo` for an address of
/// this host, else the one of its `path`; [`Interface::NotLoopback`] when no route names one.
pub fn interface_of(path: &Path, local: bool) -> Interface {
    if local {
        return Interface::Named("lo".to_owned());
    }
    path.dev
        .clone()
        .map_or(Interface::NotLoopback, Interface::Named)
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

    #[test]
    fn the_longest_throw_route_holding_the_address_is_found() {
        let routes: Value = serde_json::from_str(
            r#"[{"type":"throw","dst":"10.128.0.0/16","flags":[]},
                {"type":"throw","dst":"10.128.0.0/28","table":"100","flags":[]},
                {"type":"throw","dst":"10.129.0.0/28","flags":[]}]"#,
        )
        .unwrap();
        let ip = |s: &str| s.parse().unwrap();
        assert_eq!(
            throw_route_in(&routes, ip("10.128.0.2")).as_deref(),
            Some("throw 10.128.0.0/28 table 100")
        );
        assert_eq!(
            throw_route_in(&routes, ip("10.128.5.2")).as_deref(),
            Some("throw 10.128.0.0/16")
        );
        assert_eq!(throw_route_in(&routes, ip("10.130.0.2")), None);
    }

    #[test]
    fn a_plain_route_through_loopback_is_found_and_a_local_one_is_not() {
        let json = |text: &str| serde_json::from_str::<Value>(text).unwrap();
        assert_eq!(
            through_loopback_in(&json(
                r#"[{"dst":"10.128.44.0/24","dev":"lo","scope":"link","flags":[]}]"#
            ))
            .as_deref(),
            Some("10.128.44.0/24 dev lo")
        );
        assert_eq!(
            through_loopback_in(&json(
                r#"[{"dst":"fd28:44::/64","dev":"lo","table":"100","flags":[]}]"#
            ))
            .as_deref(),
            Some("fd28:44::/64 dev lo table 100")
        );
        let local = r#"[{"type":"local","dst":"10.128.9.0/24","dev":"lo","table":"local"}]"#;
        assert_eq!(through_loopback_in(&json(local)), None);
        let out = r#"[{"dst":"default","gateway":"10.0.0.1","dev":"eth0","flags":[]}]"#;
        assert_eq!(through_loopback_in(&json(out)), None);
    }

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
