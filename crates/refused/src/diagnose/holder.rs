//! Collecting what another namespace of this host does with a connection from here: its
//! listeners, and, read from inside it (root), its firewall rules, its DNAT of the port and its
//! route back. Without these, a refusal or a silence there was blamed on its firewall unread.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};

use crate::sys::firewall::{
    self, Blocker, CtState, Hook, Interface, NatHook, Packet, SocketOwner, Stops, Verdict,
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
/// route there goes through (`via`: the caller may have looked it up already), and what it does
/// with the connection arriving from here.
pub(super) fn holder(
    ns: &netns::Other,
    dest: SocketAddr,
    via: Option<IpAddr>,
    follow: Follow,
    unseen: &mut Vec<Unseen>,
) -> Holder {
    holder_from(ns, dest, Source::Ours, via, follow, unseen)
}

/// Where the connection a namespace sees comes from.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// Our source address toward it.
    Ours,
    /// This address: ours toward the address a DNAT followed translated, which keeps it.
    Kept(IpAddr),
    /// Not known: a source translation (`masquerade`, `snat`) on the way may have made it an
    /// address of the namespace that forwards it. Its inside (route back, rules) is not read.
    Unknown,
}

/// [`holder`], for a connection `from` there.
fn holder_from(
    ns: &netns::Other,
    dest: SocketAddr,
    from: Source,
    via: Option<IpAddr>,
    follow: Follow,
    unseen: &mut Vec<Unseen>,
) -> Holder {
    let read = Read::of(ns, dest, from, unseen);
    assess(ns, &read, dest, via, follow, unseen)
}

/// What is read of a namespace for a connection from here: each part once, whatever DNAT rule
/// of it is followed.
struct Read {
    listeners: Option<Vec<HeldListener>>,
    /// Our source address towards it, and what was read inside (`None`: not entered, so nothing
    /// of it is known).
    inside: Option<(IpAddr, Inside)>,
}

impl Read {
    fn of(ns: &netns::Other, dest: SocketAddr, from: Source, unseen: &mut Vec<Unseen>) -> Self {
        let listeners = listeners(ns);
        if listeners.is_none() {
            unseen.push(Unseen {
                what: format!("the listeners of network namespace {}", ns.netns),
                how: "run as root".to_owned(),
                needs_root: true,
            });
        }
        // Entering it needs root: without, nothing of this is known, and the rules say so.
        let src = match from {
            Source::Ours => host::source_address_to(dest),
            Source::Kept(src) => Some(src),
            Source::Unknown => None,
        };
        let inside = src.and_then(|src| {
            let inside = netns::within(ns, || Ok(read_inside(src))).ok()?;
            if inside.ruleset.is_none() {
                unseen.push(Unseen {
                    what: format!("the firewall rules of network namespace {}", ns.netns),
                    how: format!("`ip netns exec {} nft list ruleset`", ns.netns),
                    needs_root: true,
                });
            }
            Some((src, inside))
        });
        Self { listeners, inside }
    }
}

/// What `ns`, as `read`, does with a connection from here to `dest`.
fn assess(
    ns: &netns::Other,
    read: &Read,
    dest: SocketAddr,
    via: Option<IpAddr>,
    follow: Follow,
    unseen: &mut Vec<Unseen>,
) -> Holder {
    let mut held = Holder::new(ns.netns.clone(), ns.pid, read.listeners.clone());
    held.via = via;
    // A full table there drops our SYN as ours drops it here (readable through a process of
    // it without root).
    held.conntrack = crate::sys::conntrack::table_in(ns);
    let Some((src, inside)) = &read.inside else {
        return held;
    };
    let src = *src;
    held.route_back = Some(RouteBack {
        to: src,
        lookup: inside.back,
    });
    let Some(ruleset) = &inside.ruleset else {
        return held;
    };
    let ruleset = firewall::Indexed::new(ruleset);
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
        owner: SocketOwner::default(),
        dnat: Some(false),
    };
    // A chain attached to the interface it comes in by sees it first.
    let mut blockers = ruleset.blockers(Hook::Ingress, &arriving, &arriving);
    blockers.extend(ruleset.blockers(Hook::Prerouting, &arriving, &arriving));
    let published = ruleset
        .dnat(NatHook::Prerouting, &arriving)
        .into_iter()
        .find(|d| d.certain)
        .and_then(|rule| Some((rule.destination(&arriving)?, rule)))
        .filter(|(to, _)| *to != dest);
    if let Some((to, rule)) = published {
        // Sent on: the input hook never sees it, the namespace there decides.
        let holders = addresses::holders_of(to.ip());
        // Routed on to another namespace (a container): this one's forward chains see it,
        // translated (Docker's DOCKER-USER, FORWARD). Which interface it leaves by is not
        // read: a rule on it may match.
        let forwarded = Packet {
            dst: to.ip(),
            dport: Some(to.port()),
            oif: Interface::Unknown,
            dst_local: Some(false),
            dnat: Some(true),
            ..arriving.clone()
        };
        if !holders.iter().any(|one| one.netns == ns.netns) {
            blockers.extend(ruleset.blockers(Hook::Forward, &forwarded, &forwarded));
        }
        let there = match (follow, holders.as_slice()) {
            // A redirect: this namespace again, as read, when our route to `to` leaves from
            // the same source (the packets come back to it by the same route).
            (Follow::Dnat, [one])
                if one.netns == ns.netns && host::source_address_for(to.ip()) == Some(src) =>
            {
                let via = if to.ip() == dest.ip() {
                    via
                } else {
                    route::path_to(to.ip(), to.port())
                        .gateway
                        .map(|hop| hop.address)
                };
                Some(assess(ns, read, to, via, Follow::No, unseen))
            }
            (Follow::Dnat, [one]) => {
                // A redirect is read as `ns` (the same namespace, found by address).
                let there = if one.netns == ns.netns { ns } else { one };
                let via = route::path_to(to.ip(), to.port())
                    .gateway
                    .map(|hop| hop.address);
                // The DNAT keeps the source, our address toward `dest`, unless a source
                // translation on the way may change it.
                let from = if ruleset.source_translated(&forwarded) {
                    Source::Unknown
                } else {
                    Source::Kept(src)
                };
                Some(holder_from(there, to, from, via, Follow::No, unseen))
            }
            _ => None,
        };
        held.published = Some(Box::new(HeldPublished { rule, to, there }));
    } else {
        blockers.extend(ruleset.blockers(Hook::Input, &arriving, &arriving));
        let reply = reply_to(&arriving);
        blockers.extend(ruleset.blockers(Hook::Output, &reply, &reply));
        blockers.extend(ruleset.blockers(Hook::Egress, &reply, &reply));
        if blockers.iter().any(is_certain_reset) {
            // The reset that reject sends back leaves by its output hook too.
            let reset = Packet {
                state: CtState::Related,
                ..reply
            };
            held.reset_dropped = ruleset
                .blockers(Hook::Output, &reset, &reset)
                .into_iter()
                .find(|b| b.verdict == Verdict::Drop && b.certain);
        }
    }
    held.blockers = Some(blockers);
    theirs(held)
}

/// The holder's rules marked as its own, not ours: the evidence says whose.
fn theirs(mut held: Holder) -> Holder {
    let netns = Some(held.netns.clone());
    let blockers = held.blockers.iter_mut().flatten();
    for blocker in blockers.chain(held.reset_dropped.as_mut()) {
        blocker.netns.clone_from(&netns);
    }
    if let Some(published) = held.published.as_mut() {
        published.rule.netns = netns;
    }
    held
}

/// The server's reply to `arriving` in the namespace that holds its destination: leaving by the
/// interface the request came in by.
fn reply_to(arriving: &Packet) -> Packet {
    Packet {
        src: Some(arriving.dst),
        dst: arriving.src.unwrap_or(arriving.dst),
        sport: arriving.dport,
        dport: None,
        state: CtState::Established,
        iif: Interface::None,
        oif: arriving.iif.clone(),
        src_local: Some(true),
        dst_local: Some(false),
        owner: SocketOwner::default(),
        dnat: None,
    }
}

/// A reject that surely answers the connection request with a TCP reset.
pub(super) fn is_certain_reset(blocker: &Blocker) -> bool {
    blocker.certain
        && blocker.stops == Stops::Request
        && blocker.verdict == Verdict::Reject
        && (blocker.rule.contains("tcp reset") || blocker.rule.contains("tcp-reset"))
}

/// The TCP listeners of `ns`, with their owners (`None`: could not be read).
fn listeners(ns: &netns::Other) -> Option<Vec<HeldListener>> {
    let listeners = netns::tcp_listeners_in(ns).ok()?;
    let inodes: HashSet<u64> = listeners.iter().map(|l| l.inode).collect();
    let owners = process::owners(&inodes);
    let sole = std::cell::OnceCell::new();
    Some(
        listeners
            .into_iter()
            // An owner not found (another user's process, without root) is the namespace's
            // process only when it is the only one there (a container's one program).
            .map(|l| {
                let owner = owners.get(l.inode).cloned().or_else(|| {
                    let pid = ns
                        .pid
                        .filter(|&pid| *sole.get_or_init(|| netns::sole_process(pid)))?;
                    Some(process::process(pid))
                });
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
    // The reply's own lookup, policy rules included; its port (our ephemeral one) is not known.
    let back = route::path_to(src, 0);
    Inside {
        back: back.lookup,
        back_dev: back.dev,
        ruleset: firewall::read_ruleset().ok(),
    }
}
