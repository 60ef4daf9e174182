//! Collecting what another namespace of this host does with a connection from here: its
//! listeners, and, read from inside it (root), its firewall rules, its DNAT of the port and its
//! route back. Without these, a refusal or a silence there was blamed on its firewall unread.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use crate::sys::firewall::{
    self, Blocker, CtState, Hook, Interface, NatHook, Packet, Stops, Verdict,
};
use crate::sys::{addresses, host, netns, process, route};

use super::evidence::{HeldListener, Unseen};
use super::facts::{HeldPublished, Holder, RouteBack};

/// Whether a DNAT rule of the namespace is followed to where it sends the connection: once, so
/// that two namespaces that send a port to each other end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Follow {
    /// Follow it, and read the namespace there.
    Dnat,
    /// Read the namespace alone.
    No,
}

/// The namespace `ns` that holds `dest`, with its listeners and their owners, the gateway our
/// route there goes through, and what it does with the connection arriving from here.
pub(super) fn holder(
    ns: &netns::Other,
    dest: SocketAddr,
    follow: Follow,
    unseen: &mut Vec<Unseen>,
) -> Holder {
    let listeners = listeners(ns);
    if listeners.is_none() {
        unseen.push(Unseen {
            what: format!("the listeners of network namespace {}", ns.netns),
            how: "run as root".to_owned(),
            needs_root: true,
        });
    }
    let mut holder = Holder::new(ns.netns.clone(), ns.pid, listeners);
    holder.via = route::gateway_to(dest.ip()).map(|hop| hop.address);
    let Some(src) = host::source_address_for(dest.ip()) else {
        return holder;
    };
    // Entering it needs root: without, nothing of this is known, and the rules say so.
    let Ok(inside) = netns::within(ns, || Ok(read_inside(src))) else {
        return holder;
    };
    holder.route_back = Some(RouteBack {
        to: src,
        lookup: inside.back,
    });
    let Some(ruleset) = inside.ruleset else {
        unseen.push(Unseen {
            what: format!("the firewall rules of network namespace {}", ns.netns),
            how: format!("`ip netns exec {} nft list ruleset`", ns.netns),
            needs_root: true,
        });
        return holder;
    };
    let ruleset = firewall::Indexed::new(&ruleset);
    let arriving = Packet {
        src: Some(src),
        dst: dest.ip(),
        sport: None,
        dport: Some(dest.port()),
        state: CtState::New,
        // It comes in by the interface its replies leave by (the route back), as a
        // symmetric path does.
        iif: inside
            .back_dev
            .clone()
            .map_or(Interface::Unknown, Interface::Named),
        oif: Interface::None,
        src_local: Some(false),
        dst_local: Some(true),
    };
    let mut blockers = ruleset.blockers(Hook::Prerouting, &arriving, &arriving);
    let published = ruleset
        .dnat(NatHook::Prerouting, &arriving)
        .into_iter()
        .find(|d| d.certain)
        .and_then(|rule| Some((rule.destination(&arriving)?, rule)))
        .filter(|(to, _)| *to != dest);
    if let Some((to, rule)) = published {
        // Sent on: the input hook never sees it, the namespace there decides.
        let there = match (follow, addresses::holders_of(to.ip()).as_slice()) {
            (Follow::Dnat, [one]) => Some(holder_there(one, ns, to, unseen)),
            _ => None,
        };
        holder.published = Some(Box::new(HeldPublished { rule, to, there }));
    } else {
        blockers.extend(ruleset.blockers(Hook::Input, &arriving, &arriving));
        let reply = Packet {
            src: Some(dest.ip()),
            dst: src,
            sport: Some(dest.port()),
            dport: None,
            state: CtState::Established,
            iif: Interface::None,
            oif: arriving.iif.clone(),
            src_local: Some(true),
            dst_local: Some(false),
        };
        blockers.extend(ruleset.blockers(Hook::Output, &reply, &reply));
        if blockers.iter().any(is_certain_reset) {
            // The reset that reject sends back leaves by its output hook too.
            let reset = Packet {
                state: CtState::Related,
                ..reply
            };
            holder.reset_dropped = ruleset
                .blockers(Hook::Output, &reset, &reset)
                .into_iter()
                .find(|b| b.verdict == Verdict::Drop && (b.certain || b.matches));
        }
    }
    holder.blockers = Some(blockers);
    holder
}

/// A reject that surely answers the connection request with a TCP reset.
pub(super) fn is_certain_reset(blocker: &Blocker) -> bool {
    blocker.certain
        && blocker.stops == Stops::Request
        && blocker.verdict == Verdict::Reject
        && (blocker.rule.contains("tcp reset") || blocker.rule.contains("tcp-reset"))
}

/// The namespace a DNAT rule of `from` sends the connection to: `from` itself for a redirect.
fn holder_there(
    there: &netns::Other,
    from: &netns::Other,
    to: SocketAddr,
    unseen: &mut Vec<Unseen>,
) -> Holder {
    let ns = if there.netns == from.netns {
        from
    } else {
        there
    };
    holder(ns, to, Follow::No, unseen)
}

/// The TCP listeners of `ns`, with their owners (`None`: could not be read).
fn listeners(ns: &netns::Other) -> Option<Vec<HeldListener>> {
    let listeners = netns::tcp_listeners_in(ns).ok()?;
    let inodes: HashSet<u64> = listeners.iter().map(|l| l.inode).collect();
    let owners = process::owners(&inodes);
    Some(
        listeners
            .into_iter()
            .map(|l| {
                let owner = owners
                    .get(l.inode)
                    .cloned()
                    .or_else(|| ns.pid.map(process::process));
                HeldListener::new(l, owner.as_ref(), Some(ns.netns.clone()))
            })
            .collect(),
    )
}

/// What is read on a thread inside the namespace.
pub(super) struct Inside {
    /// Its route lookup for our source address.
    back: route::Lookup,
    /// The interface that route leaves by.
    pub(super) back_dev: Option<String>,
    /// Its nft ruleset (`None`: could not be read).
    pub(super) ruleset: Option<serde_json::Value>,
}

/// Runs inside the namespace: a socket made here, and `nft` started from here, are its own.
pub(super) fn read_inside(src: IpAddr) -> Inside {
    let back = route::lookup(src);
    // `/proc/net` is the process's namespace; the thread's own is under `thread-self`.
    let back_dev = match src {
        IpAddr::V4(ip) => std::fs::read_to_string("/proc/thread-self/net/route")
            .ok()
            .and_then(|text| route::via_v4(&text, ip)),
        IpAddr::V6(ip) => std::fs::read_to_string("/proc/thread-self/net/ipv6_route")
            .ok()
            .and_then(|text| route::via_v6(&text, ip)),
    };
    Inside {
        back,
        back_dev,
        ruleset: firewall::read_ruleset().ok(),
    }
}
