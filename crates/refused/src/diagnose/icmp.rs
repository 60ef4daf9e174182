//! The rules for a connect that an ICMP error ended: the error names who answered (a router on
//! the path, or the target itself) and what it said, so no timing has to be guessed from. The
//! timing rules of `rules.rs` stay for an attempt with no ICMP error read (an unprivileged
//! `EHOSTUNREACH` from this host's own neighbour discovery, or an older record).

use std::net::{IpAddr, SocketAddr};

use crate::connect::{IcmpError, IcmpMeaning};
use crate::outcome::Outcome;

use super::cause::Cause;
use super::evidence::Evidence;
use super::facts::AddressFacts;
use super::rules::Finding;

/// Who sent the ICMP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sender {
    /// The target's own address: the host, or a gateway that forwards the port elsewhere.
    Target,
    /// The gateway of this host's route to the target.
    Gateway(IpAddr),
    /// Another router on the path.
    Router(IpAddr),
    /// The kernel gave no sender address.
    Unknown,
}

impl Sender {
    fn of(icmp: &IcmpError, address: &AddressFacts) -> Self {
        match icmp.from {
            Some(from) if from == address.addr.ip() => Self::Target,
            Some(from) if address.gateway.as_ref().is_some_and(|g| g.address == from) => {
                Self::Gateway(from)
            }
            Some(from) => Self::Router(from),
            None => Self::Unknown,
        }
    }

    /// How a sentence names it.
    fn name(self, host: IpAddr) -> String {
        match self {
            Self::Target => format!("{host} itself"),
            Self::Gateway(router) => format!("the gateway {router}"),
            Self::Router(router) => format!("the router {router} on the way"),
            Self::Unknown => "a router on the way or the host".to_owned(),
        }
    }
}

/// The finding for an attempt that an ICMP error ended, when it says something of the
/// destination; `None` sends the attempt to the timing rules.
pub(super) fn explain(address: &AddressFacts) -> Option<Finding> {
    let icmp = address.attempt.icmp.as_ref()?;
    if address.attempt.outcome == Outcome::Connected {
        return None;
    }
    let sender = Sender::of(icmp, address);
    let finding = match icmp.meaning() {
        IcmpMeaning::Prohibited | IcmpMeaning::PortUnreachable => {
            rejected(address.addr, icmp, sender)
        }
        IcmpMeaning::HostUnreachable => host_unreachable(address, icmp, sender),
        // The target's own net-unreachable is a firewall's `reject with icmp net-unreachable`
        // as often as a forward to a network it has no route to: the rules without the ICMP
        // error say both.
        IcmpMeaning::NetworkUnreachable if sender == Sender::Target => return None,
        IcmpMeaning::NetworkUnreachable => network_unreachable(address.addr, icmp, sender),
        IcmpMeaning::Other => return None,
    };
    Some(finding)
}

/// A firewall's reject: an admin-, host- or net-prohibited, or a port-unreachable, which no TCP
/// stack sends for a SYN of its own accord (a closed port answers with a reset).
fn rejected(addr: SocketAddr, icmp: &IcmpError, sender: Sender) -> Finding {
    let host = addr.ip();
    let port = addr.port();
    let finding = Finding::new(
        Cause::Rejected,
        format!(
            "{addr} was rejected by {}: it answered with {icmp}, a firewall's reject on purpose",
            sender.name(host)
        ),
    );
    match sender {
        Sender::Target if icmp.is_admin_prohibited() => finding
            .suggest(format!("open TCP port {port} in the firewall of {host}: there, `sudo nft list ruleset` or `sudo {} -S` shows the rule that rejects it", iptables(host)))
            .suggest(super::firewalld::admin_prohibited_hint(host, port)),
        // iptables' `REJECT` sends a port-unreachable by default, and so does ufw's `limit`
        // once an address made six connections in 30 s: an open port can get it too.
        Sender::Target => finding
            .suggest(format!("open TCP port {port} in the firewall of {host}: there, `sudo nft list ruleset` or `sudo {} -S` shows the rule that rejects it", iptables(host)))
            .suggest(format!("if port {port} took connections from here a moment ago, it is a rate limit (ufw's `limit`, `LIMIT` in `sudo ufw status` there, rejects an address's seventh connection within 30 s, and counts the rejected ones): stop trying for 30 s, or allow this client there ahead of the limit (`sudo ufw insert 1 allow from THIS-ADDRESS to any port {port} proto tcp`: an allow added after it is never reached)"))
            .suggest("or a ban of this client's address after failed logins (fail2ban's default action rejects so): there, `sudo fail2ban-client status` lists its jails, `sudo fail2ban-client status JAIL` the banned addresses, `sudo fail2ban-client set JAIL unbanip THIS-ADDRESS` lifts one"),
        Sender::Gateway(router) | Sender::Router(router) => finding
            .suggest(format!("open TCP port {port} to {host} in the firewall of the router {router} (its forward rules)"))
            .suggest(format!("`traceroute -T -p {port} {host}` shows the routers on the way")),
        Sender::Unknown => finding
            .suggest(format!("open TCP port {port} in the firewall of {host} or of the router that rejects it")),
    }
}

/// A host-unreachable: its sender looked for the host on its own network and found nobody.
fn host_unreachable(address: &AddressFacts, icmp: &IcmpError, sender: Sender) -> Finding {
    let addr = address.addr;
    let host = addr.ip();
    let port = addr.port();
    match sender {
        // The target has the address yet cannot reach it: it passes the port on to another
        // host (a DNAT, a port forward, a load balancer), and that one does not answer. A
        // firewall there that rejects with this message looks the same.
        Sender::Target => Finding::new(
            Cause::HostUnreachable,
            format!("{host} itself answered {addr} with {icmp}: it forwards port {port} to another host (a DNAT or port forward), which does not answer, or its firewall rejects the port with that message"),
        )
        .suggest(format!("on {host}, find where port {port} goes (`sudo nft list ruleset`, `sudo {} -t nat -S`) and check that the host it forwards to is up", iptables(host)))
        .suggest(format!("or, if {host} should serve port {port} itself, remove the forward or the reject")),
        Sender::Gateway(router) | Sender::Router(router) => Finding::new(
            Cause::HostUnreachable,
            format!("{} answered with {icmp}: it found nobody with {host} on its network", sender.name(host)),
        )
        .evidence(address.gateway.as_ref().filter(|g| g.address == router).and_then(|g| {
            g.neighbour.map(|state| Evidence::Neighbour {
                address: router,
                state,
                gateway_for: Some(host),
            })
        }))
        .suggest(format!("check that the host is up, on the network of the router {router}, and that {host} is its address"))
        .suggest(format!("`traceroute -T -p {port} {host}` shows the routers on the way")),
        Sender::Unknown => Finding::new(
            Cause::HostUnreachable,
            format!("a router on the way answered with {icmp}: it found nobody with {host}"),
        )
        .suggest(format!("check that the host is up and that {host} is its address")),
    }
}

/// A net-unreachable: its sender has no route to the address.
fn network_unreachable(addr: SocketAddr, icmp: &IcmpError, sender: Sender) -> Finding {
    let host = addr.ip();
    match sender {
        Sender::Gateway(router) | Sender::Router(router) => Finding::new(
            Cause::NetworkUnreachable,
            format!(
                "{} answered with {icmp}: it has no route to {host}",
                sender.name(host)
            ),
        )
        .suggest(format!(
            "check the routes of the router {router} toward {host}, or the address"
        ))
        .suggest(format!(
            "`ip route get {host}` shows the route this host takes, and its first router"
        )),
        Sender::Target | Sender::Unknown => Finding::new(
            Cause::NetworkUnreachable,
            format!("a router on the way answered with {icmp}: it has no route to {host}"),
        )
        .suggest(format!(
            "check the routes of the routers on the way to {host}, or the address"
        )),
    }
}

/// The iptables of the address's family, for commands run on that host.
fn iptables(host: IpAddr) -> &'static str {
    if host.is_ipv6() {
        "ip6tables"
    } else {
        "iptables"
    }
}
