//! Facts: everything collected about one target, the input of the rules. Plain data, so each
//! rule can be tested on facts made by hand.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub use super::untracked::UntrackedReply;
use crate::connect::Attempt;
use crate::resolve::ResolveError;
pub use crate::sys::addresses::Ipv6State;
pub use crate::sys::conntrack::{ConntrackDrops, ConntrackStats};
pub use crate::sys::docker::{NamedContainer, PublishedPort};
use crate::sys::docker::{StoppedContainer, UnpublishedContainer};
use crate::sys::firewall::{Blocker, Dnat};
use crate::sys::forwarder::Forwarder;
use crate::sys::host::{NameSource, Neighbour};
pub use crate::sys::interfaces::DownLink;
use crate::sys::netns::Namespace;
pub use crate::sys::podman::PodmanContainer;
use crate::sys::process::PortProxy;
pub use crate::sys::route::Lookup as RouteLookup;
use crate::sys::route::RejectingRoute;
use crate::target::Target;

use super::evidence::{
    ConnectionsLeft, ContainerPort, HeldListener, HeldUnixListener, Loopback, UnixSocketFacts,
    Unseen,
};

/// What was collected about one target.
#[derive(Debug, Clone)]
pub struct Facts {
    /// The target as given.
    pub target: Target,
    /// What the name resolved to (empty for a literal or a unix socket).
    pub resolution: Resolution,
    /// After a lookup the resolver failed (not a name that does not exist): the nameservers
    /// it asks, and what this host knows of them.
    pub nameservers: Vec<crate::sys::resolv::Nameserver>,
    /// One per address, in the resolver's order.
    pub addresses: Vec<AddressFacts>,
    /// This namespace's TCP listeners, with their owners (`None`: could not be read).
    pub listeners: Option<Vec<HeldListener>>,
    /// The addresses some of those listeners (the ones a finding may name) are bound to that
    /// this host does not have: removed after the program bound them (a DHCP lease renewed with
    /// another address, a VPN gone down), or not come yet (bound with `IP_FREEBIND` or
    /// `ip_nonlocal_bind`: a virtual address another host holds now). No connect reaches them.
    pub absent_addresses: Vec<IpAddr>,
    /// For a target address that failed and is not this host's: this namespace's listeners
    /// bound to it all the same (the address was removed after they bound it, or they bound it
    /// with `IP_FREEBIND` before it came), with their owners. Nothing reaches them.
    pub stranded: Vec<HeldListener>,
    /// Listeners on the target's port in other namespaces of this host.
    pub foreign: Vec<HeldListener>,
    /// Where this namespace would reach the first of them: its namespace's own address (a
    /// container's IP) and the port, when it listens there too, and whether a link leads there.
    pub foreign_reach: Option<ForeignReach>,
    /// When nothing of this namespace listens on the target's port: the unix sockets that the
    /// server of the target's service listens on (PostgreSQL with `listen_addresses = ''`, Redis
    /// with `port 0`), with their owners.
    pub unix_listeners: Vec<HeldUnixListener>,
    /// When nothing of any namespace listens on the target's port: Docker's stopped containers
    /// that publish it (asked of its daemon; empty without one, or without access to it).
    pub stopped_containers: Vec<StoppedContainer>,
    /// When the name does not exist: Docker's running containers it names inside their
    /// networks (a container's or compose service's name), asked of its daemon.
    pub named_containers: Vec<NamedContainer>,
    /// Whether the target is the address of a proxy from the environment (`http_proxy`), not
    /// one the user typed: no listener on another port is offered as the one meant.
    pub proxy_address: bool,
    /// When nothing of any namespace listens on the target's port: Docker's running containers
    /// that ask for it (`-p`) while Docker publishes nothing (the host's network, an internal
    /// one, a binding not mapped).
    pub unpublished_containers: Vec<UnpublishedContainer>,
    /// When nothing of any namespace listens on the target's port: the unconnected UDP sockets
    /// of this namespace on it, with their owners (a service that speaks UDP: DNS, syslog,
    /// statsd, `WireGuard`), which no TCP connect reaches.
    pub udp_receivers: Vec<HeldListener>,
    /// When nothing of any namespace listens on the target's port: the TCP sockets of this
    /// namespace bound to it that neither listen nor connect (Linux 6.8 and later show them),
    /// with their owners: a program stopped between `bind()` and `listen()`, or holding it.
    pub bound_only: Vec<HeldListener>,
    /// When nothing of any namespace listens on the target's port: the connections of this
    /// namespace whose own end is on it, with the program holding the open ones.
    pub connections_left: Option<ConnectionsLeft>,
    /// The sockets on the target's port (TCP ones, of this namespace or of the one that holds a
    /// failed address; UDP ones of this namespace when no TCP one has the port) that a
    /// container runtime's helper holds for a published port, with the container behind each.
    pub container_ports: Vec<ContainerPort>,
    /// The containers of Podman's that the listeners read run in (their cgroup says Podman),
    /// named by their `conmon`'s command line: a fix in Podman's words names the container,
    /// or its pod.
    pub podman_containers: Vec<PodmanContainer>,
    /// Rootless Podman's `rootlessport` that holds the connected port and closed the
    /// connection: the container it forwards to, as the owner's podman lists it, and that
    /// container's namespace, read.
    pub rootless: Option<RootlessForward>,
    /// A port proxy of this host that accepted the connection and closed it (docker-proxy),
    /// with what it ran into where it sends the connection.
    pub proxied: Option<Proxied>,
    /// A port forwarder of this host (socat, ssh, kubectl) that holds the connected port,
    /// read when the service was not ready, or when it held a plain TCP connection open and
    /// silent and our connect to its backend failed: where it sends the connections, and what
    /// our own connect there met. Boxed: every diagnosis's futures hold the facts.
    pub forwarder: Option<Box<Forwarded>>,
    /// The ephemeral port range (read only when a connect failed).
    pub ephemeral_ports: Option<(u16, u16)>,
    /// How many ports of that range `ip_local_reserved_ports` reserves (`None`: not read, or
    /// none).
    pub reserved_ports: Option<u32>,
    /// Packets this namespace's reverse-path filter dropped while the attempts ran, and the
    /// interfaces where it is strict (`rp_filter` 1), read when it dropped any (`None`: the
    /// counter could not be read).
    pub reverse_path: Option<ReversePath>,
    /// What this namespace's conntrack dropped while the attempts ran, and how full its table
    /// was then (`None`: conntrack not loaded, or its counters unread).
    pub conntrack: Option<ConntrackDrops>,
    /// Whether IPv6 works on this host (read only when a connect failed).
    pub ipv6_usable: bool,
    /// This namespace's loopback interface: up or down, and the `disable_ipv6` sysctls that are
    /// on (`None`: not read; read when a connect failed).
    pub loopback: Option<Loopback>,
    /// For a unix target: the attempt and what the path is (boxed: most targets have none, and
    /// the diagnosis's futures hold facts in several copies).
    pub unix: Option<Box<(Attempt, UnixSocketFacts)>>,
    /// What could not be seen.
    pub unseen: Vec<Unseen>,
    /// What of this host's firewall rules was read, beyond each address's `blockers`.
    pub rules_read: RulesRead,
    /// For a scheme with a readiness probe (http, tls, postgres...) that connected: what the
    /// probe found.
    pub probe: Option<crate::probe::Readiness>,
    /// For an `http://` target whose server closed (or reset) the request without an answer:
    /// whether a TLS handshake with the address that connected got a TLS answer (`Some(true)`:
    /// the port speaks TLS, and wants `https://`). `None` where it was not asked.
    pub speaks_tls: Option<bool>,
    /// For a name written with a final dot (`localhost.`) that did not resolve: whether
    /// /etc/hosts has it without the dot, which glibc's files lookup does not match it to.
    pub hosts_has_it_undotted: bool,
    /// How suggestions name this program (`refused`, or the path it runs from).
    pub program: String,
    /// Who runs the diagnosis: commands suggested to root go without `sudo`.
    pub privilege: Privilege,
    /// What starts services here: `systemctl` is suggested only where systemd runs.
    pub init: Init,
}

impl Facts {
    /// Whether `ip`, a listener's address, is one this host does not have (see
    /// [`Facts::absent_addresses`]).
    pub fn has_absent(&self, ip: IpAddr) -> bool {
        self.absent_addresses.contains(&ip.to_canonical())
    }

    /// Whether this host's firewall rules that would judge `address` could not be read (no
    /// root, or nft's ruleset failed): a local reject or drop then looks like a remote one.
    pub fn own_rules_unread(&self, address: &AddressFacts) -> bool {
        address.blockers.is_none() || self.rules_read.nft_unread
    }
}

/// What the reverse-path filter did while the attempts ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReversePath {
    /// Packets it dropped (the namespace's counter went up by that much).
    pub dropped: u64,
    /// The interfaces where it is strict, read only when it dropped any.
    pub strict: Vec<String>,
    /// The addresses that timed out whose reply conntrack saw (read only when it dropped
    /// any and is strict somewhere, as root): the reply came, and the filter dropped it.
    pub replied: Vec<SocketAddr>,
    /// Whether conntrack said anything of those addresses (root, and a namespace whose rules
    /// make conntrack track): without it, the drops are only a warning.
    pub conntrack_read: bool,
}

/// A port proxy of this host that accepted a connection and closed it, with our own connect to
/// where it sends it (the proxy's connect there failed the same way: a refused one means
/// nothing listens there), and the namespace that holds that address.
#[derive(Debug, Clone)]
pub struct Proxied {
    /// The proxy, from its command line.
    pub proxy: PortProxy,
    /// Our connect to [`PortProxy::to`].
    pub attempt: Attempt,
    /// The namespace of this host that holds [`PortProxy::to`] (a container's), read as a
    /// holder; `None` when none or several hold it.
    pub holder: Option<Holder>,
}

/// Rootless Podman's `rootlessport` on a port of this host, and the container it forwards the
/// port to (see [`Facts::rootless`]). Its child connects to the container's port inside the
/// container's namespace, whose address (slirp4netns's, pasta's) is not reachable from here:
/// only that namespace's listeners say what it met.
#[derive(Debug, Clone)]
pub struct RootlessForward {
    /// The `rootlessport` process.
    pub pid: u32,
    /// Where it listens.
    pub listens: SocketAddr,
    /// The container's name, as its podman lists it.
    pub container: String,
    /// The pod whose infra container it is: the pod's port.
    pub pod: Option<String>,
    /// The container's address in its namespace, and its port the host's goes to.
    pub to: SocketAddr,
    /// The container's namespace, read.
    pub holder: Holder,
}

/// A port forwarder of this host that took the connection (see [`Facts::forwarder`]).
#[derive(Debug, Clone)]
pub struct Forwarded {
    /// The forwarder, and where its command line sends the connections.
    pub forwarder: Forwarder,
    /// Our own connect to its backend, when that is an address (socat's `TCP:10.0.0.5:80`);
    /// `None` for a name, a host that another host reaches (ssh), or a pod (kubectl).
    pub attempt: Option<Attempt>,
}

/// Where this namespace would reach a listener of another namespace, at that namespace's own
/// address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForeignReach {
    /// A route on a link of this namespace leads there (a bridge or a veth to it): connect to it.
    Linked(SocketAddr),
    /// No link of this namespace leads there: no route at all, or only one through a gateway,
    /// away from this host (the default route). Connecting to it from here cannot work.
    Unlinked(SocketAddr),
}

/// Who runs the diagnosis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Privilege {
    /// Effective uid 0.
    Root,
    /// Anyone else: commands that need root are suggested with `sudo`.
    User,
}

/// What starts services on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Init {
    /// systemd runs (`/run/systemd/system` exists): `systemctl start UNIT`.
    Systemd,
    /// No systemd (a container, WSL 1, another init): `service UNIT start`, the init-script
    /// wrapper that Debian, Ubuntu and Red Hat ship.
    Other,
}

/// What of this host's firewall rules was read: nft's ruleset and the iptables-legacy tables.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RulesRead {
    /// iptables-legacy tables may hold rules that were not evaluated (nft does not show them,
    /// and `iptables-legacy-save` could not list them): a cause outside this host is then not
    /// certain.
    pub legacy_unlisted: bool,
    /// nft's ruleset could not be read while iptables-legacy tables were (and are evaluated
    /// alone): a rule of nft's could still explain what was seen.
    pub nft_unread: bool,
    /// The commands whose `-save` listed iptables-legacy tables with rules, evaluated beside
    /// nft's, by family (`ip`, `ip6`): `iptables-legacy`, `ip6tables-legacy`, or `iptables`,
    /// `ip6tables` on a host from before the split (which has no `-legacy` commands).
    pub legacy_read: [Option<&'static str>; 2],
}

/// What the name of the target resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// An address literal or a unix path: nothing to resolve.
    None,
    /// The name's addresses, each with where it came from.
    Resolved {
        /// The name.
        name: String,
        /// Its addresses in the resolver's order.
        addresses: Vec<IpAddr>,
        /// Where they came from.
        source: NameSource,
    },
    /// The name did not resolve.
    Failed(ResolveError),
}

/// What was found about one address of the target.
#[derive(Debug, Clone)]
pub struct AddressFacts {
    /// The connect attempt.
    pub attempt: Attempt,
    /// The socket address tried.
    pub addr: SocketAddr,
    /// Whether the address is one of this host's own.
    pub local: bool,
    /// ARP's word on it, for a remote IPv4 address that did not answer.
    pub neighbour: Option<Neighbour>,
    /// Rules of this host's firewall that stop this connection (`None`: could not be read).
    pub blockers: Option<Vec<Blocker>>,
    /// A route of this host that rejects the address (`unreachable`, `prohibit`, `blackhole`),
    /// when the attempt failed the way such a route fails it.
    pub route: Option<RejectingRoute>,
    /// What this host's route lookup for the address says (`None`: not asked).
    pub route_lookup: Option<RouteLookup>,
    /// For an IPv6 address this namespace has but that takes no connection: still tentative
    /// (duplicate address detection), or failed it (another host on the link has it). Read
    /// for a failed attempt.
    pub ipv6_state: Option<Ipv6State>,
    /// The interface of this host that keeps the address from being reached: the route's, up
    /// without a carrier, or one set down whose network holds it (read for a remote address
    /// that failed).
    pub down_link: Option<DownLink>,
    /// The gateway the route to a remote address goes through, with its neighbour entry (`None`:
    /// the address is on a link of this host, or the route could not be read). `neighbour` is
    /// then of no use: the packets are sent to the gateway, never to the address itself.
    pub gateway: Option<Gateway>,
    /// For a remote address that failed: the plain route that sends it through `lo` (`10.0.9.0/24
    /// dev lo`, where `local` was meant), so that its packets never leave this host.
    pub looped: Option<String>,
    /// For an address no route was found for: the `throw` route of this host that holds it
    /// (`throw 10.0.9.0/24`), which ended the lookup in its table.
    pub thrown: Option<String>,
    /// For a remote address that failed: the source address this host sends from, and the
    /// interface the packets leave by, when no network of that interface holds the source (a
    /// route's `src`, an address of another interface): the replies come back only if the
    /// other side has a route to it.
    pub off_link_source: Option<(IpAddr, String)>,
    /// For an attempt that timed out: what may drop packets on the interface the route uses,
    /// outside the firewall's tables (`tc` qdiscs that counted drops and their filters, an XDP
    /// program). Empty when nothing is there, or it was not read.
    pub droppers: Vec<crate::sys::dropper::Dropper>,
    /// Another network namespace of this host that holds the address the packets go to (a
    /// container's own IP, or where a DNAT rule sends a published port).
    pub holder: Option<Holder>,
    /// A DNAT rule of this host that publishes the port elsewhere: the packets go there.
    pub published: Option<Published>,
    /// For a loopback address the rules do not publish: the port as this host's other address
    /// publishes it (Docker's rules skip 127.0.0.0/8, where its proxy listens instead).
    pub published_beside: Option<(SocketAddr, Published)>,
    /// For an address of this host the rules publish neither way: a DNAT of the nat
    /// prerouting hook that forwards the port for connections from other hosts, which this
    /// host's own connections never meet (they take nat output): a port forward tried from
    /// the host that forwards it.
    pub forwarded: Option<Published>,
    /// For an address that connected: rules of this host's output path that stop the
    /// connection for programs of another user or group than ours (`meta skuid`, `-m owner`),
    /// which our own attempt did not meet (read only with root, when it connected).
    pub blocked_for_others: Vec<OwnerBlocked>,
    /// Rate limits of the server's side (this host's firewall, or the holder namespace's) that
    /// drop packets of connections already made: read after a connect that went silent.
    pub rate_limits: Option<RateLimits>,
    /// A `notrack` rule of this host that our request meets on the way out, with the rules
    /// that drop the reply it makes invalid (read with the rules, for a remote address; boxed:
    /// most addresses have none).
    pub untracked_reply: Option<Box<UntrackedReply>>,
}

/// A rule that stops a connection for the programs of one user or group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnerBlocked {
    /// The rule.
    pub blocker: Blocker,
    /// The uid whose programs it stops, when it was asked about a uid.
    pub uid: Option<u32>,
    /// The gid whose programs it stops, when it was asked about a group alone.
    pub gid: Option<u32>,
    /// The name `/etc/passwd` (for a uid) or `/etc/group` (for a gid) gives it.
    pub name: Option<String>,
}

impl OwnerBlocked {
    /// `uid 1000 (alice)`, `gid 27 (sudo)`.
    pub fn who(&self) -> String {
        let (kind, id) = match (self.uid, self.gid) {
            (Some(uid), _) => ("uid", uid),
            (None, gid) => ("gid", gid.unwrap_or_default()),
        };
        match &self.name {
            Some(name) => format!("{kind} {id} ({name})"),
            None => format!("{kind} {id}"),
        }
    }
}

/// The rate limits that packets from here to an address meet on the server's side.
#[derive(Debug, Clone)]
pub struct RateLimits {
    /// The namespace whose rules they are, and a process of it; `None`: this host's own.
    pub netns: Option<(Namespace, Option<u32>)>,
    /// Rules that a packet of a connection already made (the handshake's ACK, its data)
    /// meets: each drops them once the rate is spent.
    pub established: Vec<Blocker>,
    /// Rules that a new connection's SYN meets (those of `established` too, most often).
    pub new: Vec<Blocker>,
}

/// The gateway to an address, and what neighbour discovery knows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gateway {
    /// Its address.
    pub address: IpAddr,
    /// Its neighbour entry, if there is one.
    pub neighbour: Option<Neighbour>,
}

/// A port this host publishes to another address by DNAT (Docker's `-p`, a port forward).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    /// The rule.
    pub rule: Dnat,
    /// Where it sends the connection.
    pub to: SocketAddr,
    /// Whether `to` is an address of our own namespace (a redirect, a local port forward).
    pub to_local: bool,
}

/// A network namespace of this host, other than ours, that holds an address, and who listens in
/// it: such an address is as local as our own, only its tables are another namespace's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The namespace.
    pub netns: Namespace,
    /// A process in it.
    pub pid: Option<u32>,
    /// Its TCP listeners with their owners (`None`: could not be read).
    pub listeners: Option<Vec<HeldListener>>,
    /// The gateway this namespace's route to the address goes through: the packets cross a
    /// router of their own (`None`: a link of ours leads there, or the route was not read).
    pub via: Option<IpAddr>,
    /// Its rules that stop the connection arriving from here (the SYN at prerouting and input,
    /// its reply at output; `None`: could not be read, which needs root).
    pub blockers: Option<Vec<Blocker>>,
    /// A DNAT rule of its nat prerouting hook that certainly sends the connection on elsewhere
    /// (a Docker host's published port): its own listeners never see it.
    pub published: Option<Box<HeldPublished>>,
    /// Its route back to this namespace's source address (`None`: not asked, which needs root).
    pub route_back: Option<RouteBack>,
    /// A rule of its output that drops the reset its own reject sends back (an egress
    /// allow-list without `ct state related`): the client sees a silence, not a refusal.
    pub reset_dropped: Option<Blocker>,
    /// Its conntrack table, read after our attempts, with every drop since it was made
    /// (`None`: conntrack not loaded, or not readable).
    pub conntrack: Option<ConntrackDrops>,
}

impl Holder {
    /// `netns`, with its listeners, before anything else of it is read.
    pub fn new(netns: Namespace, pid: Option<u32>, listeners: Option<Vec<HeldListener>>) -> Self {
        Self {
            netns,
            pid,
            listeners,
            via: None,
            blockers: None,
            published: None,
            route_back: None,
            reset_dropped: None,
            conntrack: None,
        }
    }
}

/// Where a DNAT rule of another namespace sends a connection arriving there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPublished {
    /// The rule.
    pub rule: Dnat,
    /// Where it sends the connection.
    pub to: SocketAddr,
    /// The namespace that holds `to` (the same one, for a redirect), read as a holder; `None`
    /// when no namespace of this host, or more than one, holds it.
    pub there: Option<Holder>,
}

/// What another namespace's route lookup says of the address its replies go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteBack {
    /// This namespace's source address for the connection.
    pub to: IpAddr,
    /// The lookup, made inside that namespace.
    pub lookup: RouteLookup,
}

impl AddressFacts {
    /// An attempt to `addr`, with nothing of the host read yet. An IPv4-mapped address
    /// (`[::ffff:10.0.0.5]:80`, pasted from a dual-stack server's log) is the IPv4 one on the
    /// wire: this host's routes, neighbours and firewall rules are asked about that one.
    pub fn new(attempt: Attempt, addr: SocketAddr) -> Self {
        // Only then: a new socket address would lose an IPv6 one's scope (`%eth0`).
        let addr = match addr.ip().to_canonical() {
            IpAddr::V4(v4) if addr.is_ipv6() => SocketAddr::new(IpAddr::V4(v4), addr.port()),
            _ => addr,
        };
        Self {
            local: crate::sys::host::is_local_address(addr.ip()),
            ..Self::behind(attempt, addr, None)
        }
    }

    /// An address behind a port proxy of this host (where docker-proxy or rootlessport sends
    /// the port), as `attempt` met it, held by `holder`: nothing else of it read.
    pub fn behind(attempt: Attempt, addr: SocketAddr, holder: Option<Holder>) -> Self {
        Self {
            attempt,
            addr,
            local: false,
            neighbour: None,
            blockers: None,
            route: None,
            route_lookup: None,
            ipv6_state: None,
            down_link: None,
            gateway: None,
            looped: None,
            thrown: None,
            off_link_source: None,
            droppers: Vec::new(),
            holder,
            published: None,
            published_beside: None,
            forwarded: None,
            blocked_for_others: Vec::new(),
            rate_limits: None,
            untracked_reply: None,
        }
    }

    /// How long the attempt took.
    pub const fn elapsed(&self) -> Duration {
        self.attempt.elapsed
    }
}
