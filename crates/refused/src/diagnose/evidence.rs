//! Evidence: the facts a diagnosis rests on, as the report shows them (`kind` plus its facts).

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::Serialize;

// What the host collectors found, as the evidence and the facts carry it (`sys` itself is
// private: how the host is read is not part of the API).
pub use crate::sys::docker::{StoppedContainer, UnpublishedContainer};
pub use crate::sys::dropper::{Direction, Dropper, DropperKind};
pub use crate::sys::firewall::{
    Blocker, Dnat, Hook, NatHook, NatTo, Stops, Tool, Untracked, Verdict,
};
pub use crate::sys::host::{NameSource, Neighbour};
pub use crate::sys::loopback::{Ipv6Switch, Loopback};
pub use crate::sys::netns::Namespace;
pub use crate::sys::process::ContainerRuntime;
pub use crate::sys::process::{PortProxy, Process, Publisher, Stopped};
pub use crate::sys::resolv::{Nameserver, NameserverSource};
pub use crate::sys::route::{PolicyRule, RejectingRoute, RouteKind};
pub use crate::sys::tables::{BoundDevice, Listener};
pub use crate::sys::unix_hidden::FileSeen;
pub use crate::sys::unix_path::{Class, ClosedDirectory, FileType, Mode, Owner, Permission};

/// How an interface of this host is down ([`Evidence::LinkDown`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkState {
    /// Up, without a carrier: its routes stay, marked `linkdown`, and nothing goes through.
    NoCarrier,
    /// Set down (`ip link set NAME down`, or never brought up): its routes went with it.
    Down,
}

/// One fact behind a diagnosis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Evidence {
    /// The name resolved to this address.
    Resolved {
        /// The name.
        name: String,
        /// One of its addresses.
        address: IpAddr,
        /// `ipv4` or `ipv6`.
        family: &'static str,
        /// `hosts` or `dns`.
        source: NameSource,
    },
    /// The name did not resolve.
    DnsError {
        /// The name.
        name: String,
        /// The cause label (`dns-not-found`, ...).
        error: &'static str,
        /// What the resolver said, in words.
        detail: String,
    },
    /// A nameserver the resolver asks (after a lookup that failed): its address, where it was
    /// found, whether it is this host's own and, if so, whether anything receives on its port
    /// 53, and which process.
    Nameserver(Nameserver),
    /// A socket listening on a port, with who holds it.
    Listener(HeldListener),
    /// A firewall rule (or policy) of this host that stops the connection: where it is
    /// (`table`, `chain`, the `path` of chains from the base chain), what it says and does,
    /// its `handle` and `position`, the `tool` that made it, and which packet it `stops`.
    FirewallRule(Blocker),
    /// What neighbour discovery (ARP) knows of an address: the target's own, on a link of this
    /// host, or the gateway the route to the target goes through.
    Neighbour {
        /// The address.
        address: IpAddr,
        /// Whether it answered.
        state: Neighbour,
        /// When `address` is a gateway: the target address whose route goes through it.
        #[serde(skip_serializing_if = "Option::is_none")]
        gateway_for: Option<IpAddr>,
    },
    /// The address is one of this host's own.
    LocalAddress {
        /// The address.
        address: IpAddr,
    },
    /// The range local ports are taken from.
    EphemeralPorts {
        /// Lowest port.
        low: u16,
        /// Highest port.
        high: u16,
        /// How many of them `net.ipv4.ip_local_reserved_ports` reserves (connects skip them);
        /// absent when none is, or the list could not be read.
        #[serde(skip_serializing_if = "Option::is_none")]
        reserved: Option<u32>,
    },
    /// IPv6 cannot be used on this host, or not on its loopback interface.
    Ipv6Unusable {
        /// The `disable_ipv6` sysctls that are on (`net.ipv6.conf.lo.disable_ipv6`...); none
        /// for a kernel without IPv6.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        disabled_by: Vec<Ipv6Switch>,
    },
    /// The loopback interface `lo` of this network namespace is down: it has no 127.0.0.1 and
    /// no `::1`, and connections to its own addresses go nowhere.
    LoopbackDown,
    /// The interface of this host that the route to the address leaves by is up without a
    /// carrier (a cable out, a veth's other end down, a bridge with no port up), or set down
    /// with its routes gone.
    LinkDown {
        /// Its name.
        interface: String,
        /// Which of the two.
        state: LinkState,
        /// Its kind, as `ip -d link` says it (`bridge`, `veth`, ...), for one without a carrier;
        /// absent for a device of its own (an Ethernet card, Wi-Fi) or when not known.
        #[serde(skip_serializing_if = "Option::is_none")]
        link_kind: Option<String>,
    },
    /// A route of this host that rejects the address: no packet left the host.
    Route(RejectingRoute),
    /// A DNAT rule of this host that publishes the port to another address.
    Dnat(Dnat),
    /// Another network namespace of this host holds the address (a container's own IP).
    Namespace {
        /// The namespace's name, or `net:[INODE]`.
        netns: String,
        /// The address it holds.
        address: IpAddr,
        /// A process in it.
        #[serde(skip_serializing_if = "Option::is_none")]
        pid: Option<u32>,
    },
    /// What the unix socket path is.
    UnixSocket(UnixSocketFacts),
    /// A container of Docker's that is not running and publishes the target's port when it
    /// runs: nothing of it is left in the kernel, Docker's daemon says so.
    StoppedContainer(StoppedContainer),
    /// A running container of Docker's that asks for the target's port (`-p`) while Docker
    /// publishes nothing: the host's network, where published ports are discarded, an internal
    /// network, or a binding the daemon did not map.
    UnpublishedContainer(UnpublishedContainer),
    /// A port proxy of this host (docker-proxy) that takes the connection and sends it to
    /// `to`: there, our own connect ended in `outcome`.
    PortProxy {
        /// The proxy.
        #[serde(flatten)]
        proxy: PortProxy,
        /// How our connect to `to` ended.
        outcome: crate::outcome::Outcome,
    },
    /// This namespace's reverse-path filter dropped packets while the connection was tried: a
    /// strict filter (`rp_filter` 1) drops a reply that comes in by another interface than the
    /// route to its sender leaves by.
    ReversePathFilter {
        /// Packets dropped meanwhile (`IPReversePathFilter` of `/proc/net/netstat`).
        dropped: u64,
        /// The interfaces where the filter is strict.
        strict_interfaces: Vec<String>,
    },
    /// This namespace's connection tracking table is full, and conntrack dropped packets while
    /// the connection was tried: a new connection's first packet gets no entry, and is dropped
    /// before any rule sees it.
    ConntrackTable {
        /// Entries in the table (`nf_conntrack_count`, the namespace's).
        count: u64,
        /// Its limit (`nf_conntrack_max`, the host's).
        max: u64,
        /// Packets conntrack dropped meanwhile (`drop` of `/proc/net/stat/nf_conntrack`); for
        /// another namespace's table, since it was made.
        dropped: u64,
        /// The namespace whose table it is, when not ours (the one that holds the address).
        #[serde(skip_serializing_if = "Option::is_none")]
        netns: Option<Namespace>,
    },
    /// A unix socket that the server of the target's service listens on, while nothing listens
    /// on the port (PostgreSQL with `listen_addresses = ''`).
    UnixListener(HeldUnixListener),
    /// Something on the interface the connection uses that may drop its packets outside the
    /// firewall's tables: a `tc` qdisc that counted drops, a filter under it, an XDP program.
    Dropper(Dropper),
    /// A port of this host that a container runtime publishes for a container (`docker run
    /// -p`): the socket on it is only the runtime's placeholder (docker-proxy, dockerd's own).
    ContainerPort(ContainerPort),
    /// An unconnected UDP socket on the target's port, with who holds it (the same facts as a
    /// listener's; `backlog` is `null`, `queue` what waits to be read): a service that speaks
    /// UDP, while nothing listens for TCP.
    UdpSocket(HeldListener),
    /// A TCP socket bound to the target's port that neither listens nor connects, with who
    /// holds it (a listener's fields; `backlog` is `null`): a program between `bind()` and
    /// `listen()`, or one that holds the port.
    BoundSocket(HeldListener),
    /// The connections left on a port of this host where nothing listens: a server's own ends,
    /// which outlive its listening socket.
    ConnectionsLeft(ConnectionsLeft),
}

/// The connections whose own end is on a port of this host where nothing listens: still open
/// (accepted before the listening socket closed: a server shutting down or draining, or the
/// sessions a stopped server forked), or closing (a server that stopped within the last minute: the kernel finishes
/// the connections it closed alone, `TIME_WAIT` lasts 60 s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionsLeft {
    /// The port.
    pub port: u16,
    /// Connections a program still has open (established, or closed by their peer only).
    pub open: u32,
    /// The program holding them (the lowest pid of those seen), where it was seen.
    pub pid: Option<u32>,
    /// Its command name.
    pub process: Option<String>,
    /// How many programs were seen holding them: more than one are the sessions or workers a
    /// forking server made (sshd's sessions, which outlive it), or a draining server's workers.
    pub holders: u32,
    /// Connections this host's end closed, which no program holds (`FIN_WAIT`, `LAST_ACK`,
    /// `TIME_WAIT`): closed within about the last minute.
    pub closing: u32,
}

impl ConnectionsLeft {
    /// `python3 (pid 7)`, where the holder was seen.
    pub fn holder(&self) -> Option<String> {
        Some(format!("{} (pid {})", self.process.as_ref()?, self.pid?))
    }

    /// `python3 (pid 7)`, or `python3 (pid 7) and 2 other processes` where more hold them,
    /// with the verb's number: `has` or `have`.
    pub fn holders(&self) -> Option<(String, &'static str)> {
        let holder = self.holder()?;
        Some(match self.holders.saturating_sub(1) {
            0 => (holder, "has"),
            1 => (format!("{holder} and 1 other process"), "have"),
            others => (format!("{holder} and {others} other processes"), "have"),
        })
    }
}

/// `1 connection`, `2 connections`.
fn connections(count: u32) -> String {
    if count == 1 {
        "1 connection".to_owned()
    } else {
        format!("{count} connections")
    }
}

/// `python3 (pid 7) has 2 connections open on port 8080, and 3 more closed within the last
/// minute`.
impl fmt::Display for ConnectionsLeft {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let port = self.port;
        if self.open > 0 {
            match self.holders() {
                Some((holders, verb)) => write!(
                    f,
                    "{holders} {verb} {} open on port {port}",
                    connections(self.open)
                )?,
                None => write!(f, "{} open on port {port}", connections(self.open))?,
            }
            if self.closing > 0 {
                write!(
                    f,
                    ", and {} more closed by this host within the last minute",
                    self.closing
                )?;
            }
            return Ok(());
        }
        write!(
            f,
            "{} on port {port} closed by this host within the last minute, held by no program",
            connections(self.closing)
        )
    }
}

/// A port of this host that a container runtime publishes for a container, held by its helper
/// (docker-proxy, dockerd's reservation with the userland proxy off, rootlessport): the address
/// and family it is bound to are the publishing's (`-p 127.0.0.1:8080:80`), not a setting of
/// the helper's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ContainerPort {
    /// The runtime: `docker`, `podman`, `kubectl` or `other`.
    pub runtime: Publisher,
    /// The container's name, when the runtime's daemon says (Docker's, on its socket), or the
    /// helper itself (Podman's `conmon`, by its command line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The host's address it is published on (`0.0.0.0`, `::`, `127.0.0.1`).
    pub address: IpAddr,
    /// The host's port.
    pub port: u16,
    /// The container's own port, where docker-proxy's command line or the daemon says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_port: Option<u16>,
    /// `tcp` or `udp`.
    pub protocol: &'static str,
    /// The helper holding the host's socket.
    pub pid: Option<u32>,
    /// Its command name.
    pub process: Option<String>,
}

impl ContainerPort {
    /// Whether it is `held`'s: the same socket's address, port and holder.
    pub fn is_of(&self, held: &HeldListener) -> bool {
        self.address == held.listener.address
            && self.port == held.listener.port
            && self.pid == held.pid
    }

    /// The publishing as `-p` writes it, on `address`: `127.0.0.1:8080:80`, `'[::]:8086:80'`,
    /// `8080:80` for `None` (every address, both families), `/udp` for UDP.
    pub fn flag(&self, address: Option<IpAddr>, udp: bool) -> String {
        let inside = self
            .container_port
            .map_or_else(|| "CONTAINER_PORT".to_owned(), |p| p.to_string());
        let proto = if udp { "/udp" } else { "" };
        match address {
            None => format!("{}:{inside}{proto}", self.port),
            Some(IpAddr::V4(ip)) => format!("{ip}:{}:{inside}{proto}", self.port),
            Some(IpAddr::V6(ip)) => format!("'[{ip}]:{}:{inside}{proto}'", self.port),
        }
    }
}

impl fmt::Display for ContainerPort {
    /// `Docker publishes container `web`'s port 80/tcp on 127.0.0.1:8080 (docker-proxy (pid
    /// 7) holds it)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let runtime = self.runtime.name().unwrap_or("a container runtime");
        write!(f, "{runtime} publishes ")?;
        match (&self.container, self.container_port) {
            (Some(name), Some(port)) => {
                write!(f, "container `{name}`'s port {port}/{}", self.protocol)?;
            }
            (Some(name), None) => write!(f, "a port of container `{name}`")?,
            (None, Some(port)) => write!(f, "a container's port {port}/{}", self.protocol)?,
            (None, None) => write!(f, "a container's port")?,
        }
        write!(
            f,
            " on {}",
            std::net::SocketAddr::new(self.address, self.port)
        )?;
        if let (Some(process), Some(pid)) = (&self.process, self.pid) {
            write!(f, " ({process} (pid {pid}) holds it)")?;
        }
        Ok(())
    }
}

/// A listener and, where it could be seen, the process and namespace it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldListener {
    /// The socket.
    #[serde(flatten)]
    pub listener: Listener,
    /// The process holding it (`None`: not found, not readable without root, or not looked up
    /// because no rule names it).
    pub pid: Option<u32>,
    /// Its command name.
    pub process: Option<String>,
    /// Its container runtime, when its cgroup names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerRuntime>,
    /// The process is stopped (`signal`: SIGSTOP or Ctrl-Z; `traced`: a debugger's stop).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stopped>,
    /// The network namespace: `None` for ours.
    pub netns: Option<Namespace>,
    /// A process running in that namespace, through which `nsenter -t PID -n` enters it: the
    /// holder may not be one (a program that made the socket there and went back to its own
    /// namespace, as some daemons and test harnesses do). Not part of the JSON.
    #[serde(skip)]
    pub netns_pid: Option<u32>,
    /// For a listener in an unnamed namespace of no container: the systemd service its holder
    /// runs as (a unit with `PrivateNetwork=yes` has a namespace of its own). Not part of the
    /// JSON.
    #[serde(skip)]
    pub service_unit: Option<String>,
}

impl HeldListener {
    /// A listener with what was found of its owner.
    pub fn new(listener: Listener, owner: Option<&Process>, netns: Option<Namespace>) -> Self {
        Self {
            listener,
            pid: owner.map(|p| p.pid),
            process: owner.map(|p| p.command.clone()),
            container: owner.and_then(|p| p.container),
            stopped: owner.and_then(|p| p.stopped),
            netns,
            netns_pid: None,
            service_unit: None,
        }
    }

    /// `python3 (pid 123)`, or `uid 1000's process` when the pid could not be seen.
    pub fn owner(&self) -> String {
        match (&self.process, self.pid) {
            (Some(process), Some(pid)) => format!("{process} (pid {pid})"),
            _ => format!("a process of uid {}", self.listener.uid),
        }
    }

    /// Where it listens: `127.0.0.1:8000`, `0.0.0.0:8000`.
    pub fn endpoint(&self) -> String {
        std::net::SocketAddr::new(self.listener.address, self.listener.port).to_string()
    }

    /// Where to connect to reach it from `via` (the address that was tried): a listener on every
    /// address is reached at `via` itself (an IPv6 one that is not IPv6-only takes IPv4 too), or,
    /// in our namespace, at loopback when `via` is of the other family. Another namespace's
    /// loopback is not ours: its listener is then named by its own address.
    pub fn reach_at(&self, via: IpAddr) -> String {
        let address = self.listener.address;
        let dual_stack = address.is_ipv6() && self.listener.v6only != Some(true);
        let ip = if !address.is_unspecified() {
            address
        } else if address.is_ipv4() == via.is_ipv4() || (dual_stack && via.is_ipv4()) {
            via
        } else if self.netns.is_some() {
            // Its own address of that family, which we do not know (`::` would be ours).
            let family = if address.is_ipv4() { "IPv4" } else { "IPv6" };
            return format!("its {family} address, port {}", self.listener.port);
        } else if address.is_ipv4() {
            IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        };
        std::net::SocketAddr::new(ip, self.listener.port).to_string()
    }
}

/// A unix socket that listens on a path, and the process holding it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldUnixListener {
    /// The path it is bound to.
    pub path: PathBuf,
    /// The socket's inode.
    pub inode: u64,
    /// The process holding it.
    pub pid: u32,
    /// Its command name.
    pub process: String,
    /// How the socket was tied to the process; serialized (`held_by`) only when not by its
    /// descriptors.
    #[serde(skip_serializing_if = "HeldBy::is_descriptors")]
    pub held_by: HeldBy,
}

/// How a unix listener was tied to the process named as holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HeldBy {
    /// The process's descriptors hold the socket (read as root, or as the process's user).
    Descriptors,
    /// Its descriptors could not be read (another user's process, without root): the socket
    /// file bears the service's name, belongs to the process's user, the kernel lists a
    /// listener on its path, and a connect to it was not refused.
    FileOwner,
}

impl HeldBy {
    /// Whether the process's descriptors were read (the default, not serialized).
    pub fn is_descriptors(&self) -> bool {
        matches!(self, Self::Descriptors)
    }
}

impl HeldUnixListener {
    /// `postgres (pid 123)`.
    pub fn owner(&self) -> String {
        format!("{} (pid {})", self.process, self.pid)
    }
}

impl fmt::Display for HeldUnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.held_by {
            HeldBy::Descriptors => write!(
                f,
                "{} listens on unix socket {}",
                self.owner(),
                self.path.display()
            ),
            HeldBy::FileOwner => write!(
                f,
                "unix socket {} takes connections, a file of the user of {} (which process holds it takes root to read)",
                self.path.display(),
                self.owner()
            ),
        }
    }
}

/// A unix socket path, as `stat` and the kernel's unix socket table see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnixSocketFacts {
    /// The path.
    pub path: PathBuf,
    /// When the path is itself a symbolic link: the file at the end of its links, which the
    /// other facts describe (absent when it is not a link).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub link_target: Option<PathBuf>,
    /// Whether anything exists there; `None` when a directory on the way hides it from this
    /// user ([`Self::closed_directory`]).
    pub exists: Option<bool>,
    /// What kind of file it is, when it exists.
    pub file_type: Option<FileType>,
    /// Permission bits (`0660` in JSON).
    pub mode: Option<Mode>,
    /// Owner uid.
    pub uid: Option<u32>,
    /// Owner gid.
    pub gid: Option<u32>,
    /// The owner's user name.
    pub user: Option<String>,
    /// The owner's group name.
    pub group: Option<String>,
    /// Whether a socket listens on the very file at the path (matched by inode and device
    /// through `sock_diag`, not by name: a replaced file keeps the name); `None` when unknown.
    pub listening: Option<bool>,
    /// The directory on the way that this user may not search.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_directory: Option<ClosedDirectory>,
    /// Sockets that listen under this path but on an earlier file there (deleted or replaced
    /// since they bound it): their server runs, yet cannot be reached through the path.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub earlier_listeners: Vec<EarlierListener>,
    /// When the path does not exist: sockets of the same file name that listen in other
    /// folders (PostgreSQL's `.s.PGSQL.5432` in `/tmp` while the client looks in
    /// `/var/run/postgresql`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listening_elsewhere: Vec<PathBuf>,
    /// When the path does not exist: sockets that listen bound to that very path, whose file
    /// this process's file system does not show (it is in their process's own file system: a
    /// container's; or it was deleted since), with who holds them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub listening_hidden: Vec<HiddenListener>,
}

/// A socket that listens bound to a unix socket path that does not exist here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HiddenListener {
    /// The socket's inode.
    pub inode: u64,
    /// The process holding it (`None`: not found, or not readable without root).
    pub pid: Option<u32>,
    /// Its command name.
    pub process: Option<String>,
    /// Its network namespace, when it is not ours.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<Namespace>,
    /// Where its file is, as its process sees the path (`None`: its root could not be read,
    /// which needs root for another user's process).
    pub file: Option<FileSeen>,
}

impl HiddenListener {
    /// `nginx (pid 123)`, or `a process` when it could not be seen.
    pub fn owner(&self) -> String {
        match (&self.process, self.pid) {
            (Some(process), Some(pid)) => format!("{process} (pid {pid})"),
            _ => "a process".to_owned(),
        }
    }
}

/// A socket still bound to a file that was at the path once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EarlierListener {
    /// The socket's inode.
    pub inode: u64,
    /// The process holding it (`None`: not found, or not readable without root).
    pub pid: Option<u32>,
    /// Its command name.
    pub process: Option<String>,
}

impl EarlierListener {
    /// `nginx (pid 123)`, or `a process` when it could not be seen.
    pub fn owner(&self) -> String {
        match (&self.process, self.pid) {
            (Some(process), Some(pid)) => format!("{process} (pid {pid})"),
            _ => "a process".to_owned(),
        }
    }
}

impl UnixSocketFacts {
    /// Whether the path is a socket file.
    pub fn is_socket(&self) -> bool {
        self.file_type == Some(FileType::Socket)
    }
}

impl From<&Blocker> for Evidence {
    fn from(blocker: &Blocker) -> Self {
        Self::FirewallRule(blocker.clone())
    }
}

/// The reverse-path filter's drops, and where it is strict.
fn reverse_path(f: &mut fmt::Formatter<'_>, dropped: u64, strict: &[String]) -> fmt::Result {
    write!(
        f,
        "this host's reverse-path filter dropped {dropped} packet{} while the connection was tried (`IPReversePathFilter` in /proc/net/netstat)",
        if dropped == 1 { "" } else { "s" }
    )?;
    if !strict.is_empty() {
        write!(f, "; it is strict on {}", strict.join(", "))?;
    }
    Ok(())
}

fn conntrack_table(f: &mut fmt::Formatter<'_>, table: &Evidence) -> fmt::Result {
    let Evidence::ConntrackTable {
        count,
        max,
        dropped,
        netns,
    } = table
    else {
        return Ok(());
    };
    let (whose, when) = match netns {
        Some(netns) => (format!("network namespace {netns}'s"), "since it was made"),
        None => (
            "this namespace's".to_owned(),
            "while the connection was tried",
        ),
    };
    write!(
        f,
        "{whose} conntrack table holds {count} entries of its limit of {max} (`nf_conntrack_count`, `nf_conntrack_max`), and conntrack dropped {dropped} packet{} for want of room {when} (`drop` in /proc/net/stat/nf_conntrack)",
        if *dropped == 1 { "" } else { "s" }
    )
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Resolved {
                name,
                address,
                source,
                ..
            } => {
                let from = match source {
                    NameSource::Hosts => "/etc/hosts",
                    NameSource::Dns => "DNS",
                };
                write!(f, "`{name}` resolves to {address} ({from})")
            }
            Self::DnsError { name, detail, .. } => write!(f, "`{name}`: {detail}"),
            Self::Nameserver(server) => server.fmt(f),
            Self::Listener(held) => listener(f, held),
            Self::FirewallRule(blocker) => firewall_rule(f, blocker),
            Self::Neighbour {
                address,
                state,
                gateway_for,
            } => neighbour(f, *address, *state, *gateway_for),
            Self::LocalAddress { address } => write!(f, "{address} is this host's own address"),
            Self::EphemeralPorts {
                low,
                high,
                reserved,
            } => {
                write!(f, "local ports come from {low}-{high}")?;
                match reserved {
                    Some(reserved) => write!(f, ", {reserved} of them reserved"),
                    None => Ok(()),
                }
            }
            Self::Ipv6Unusable { disabled_by } => ipv6_unusable(f, disabled_by),
            Self::ReversePathFilter {
                dropped,
                strict_interfaces,
            } => reverse_path(f, *dropped, strict_interfaces),
            Self::Dropper(dropper) => super::dropper::describe(f, dropper),
            Self::ConntrackTable { .. } => conntrack_table(f, self),
            Self::LoopbackDown => f.write_str(
                "the loopback interface `lo` of this network namespace is down (`ip link show lo`)",
            ),
            Self::LinkDown {
                interface,
                state,
                link_kind,
            } => link_down(f, interface, *state, link_kind.as_deref()),
            Self::Namespace { netns, address, .. } => {
                write!(
                    f,
                    "{address} belongs to network namespace {netns} of this host"
                )
            }
            Self::Dnat(dnat) => dnat_rule(f, dnat),
            Self::Route(route) => match &route.rule {
                Some(rule) if rule.rejects() => write!(
                    f,
                    "this host's policy rule `{}` (priority {}) rejects it",
                    rule.text(),
                    rule.priority
                ),
                rule => {
                    write!(
                        f,
                        "this host's route `{} {}`",
                        route.kind.as_str(),
                        route.destination.as_deref().unwrap_or("(not listed)")
                    )?;
                    if let Some(table) = &route.table {
                        write!(f, " in table {table}")?;
                    }
                    if let Some(rule) = rule {
                        write!(
                            f,
                            ", which the policy rule `{}` (priority {}) chooses,",
                            rule.text(),
                            rule.priority
                        )?;
                    }
                    write!(f, " rejects it")
                }
            },
            Self::UnixSocket(facts) => unix_socket(f, facts),
            Self::UnixListener(held) => held.fmt(f),
            Self::StoppedContainer(container) => container.fmt(f),
            Self::ContainerPort(port) => port.fmt(f),
            Self::UdpSocket(held) => udp_socket(f, held),
            Self::BoundSocket(held) => bound_socket(f, held),
            Self::ConnectionsLeft(left) => left.fmt(f),
            Self::UnpublishedContainer(container) => container.fmt(f),
            Self::PortProxy { proxy, outcome } => write!(
                f,
                "{} (pid {}) listens on {} and sends each connection to {}; a connect from here to {} was {outcome}",
                proxy.process, proxy.pid, proxy.listens, proxy.to, proxy.to
            ),
        }
    }
}

/// `python3 (pid 7) listens on 0.0.0.0:8000 (bound to interface eth0), 3 waiting in a queue of 5`.
fn listener(f: &mut fmt::Formatter<'_>, held: &HeldListener) -> fmt::Result {
    let l = &held.listener;
    write!(f, "{} listens on {}", held.owner(), held.endpoint())?;
    if l.v6only == Some(true) {
        f.write_str(" (IPv6 only)")?;
    }
    if let Some(device) = &l.device {
        write!(f, " (bound to interface {device})")?;
    }
    if let Some(netns) = &held.netns {
        write!(f, " in network namespace {netns}")?;
    }
    if let Some(container) = held.container {
        write!(f, " ({container} container)")?;
    }
    match l.backlog {
        Some(backlog) if l.queue > 0 => {
            write!(f, ", {} waiting in a queue of {backlog}", l.queue)
        }
        None if l.queue > 0 => write!(f, ", {} waiting to be accepted", l.queue),
        _ => Ok(()),
    }
}

/// [`Evidence::Neighbour`] in words.
fn neighbour(
    f: &mut fmt::Formatter<'_>,
    address: IpAddr,
    state: Neighbour,
    gateway_for: Option<IpAddr>,
) -> fmt::Result {
    let who = gateway_for.map_or_else(
        || address.to_string(),
        |to| format!("the gateway {address} (the route to {to} goes through it)"),
    );
    match state {
        Neighbour::Answered => write!(f, "{who} answers neighbour discovery"),
        Neighbour::NoAnswer if address.is_ipv4() => write!(f, "nobody answered ARP for {who}"),
        Neighbour::NoAnswer => write!(f, "nobody answered neighbour discovery for {who}"),
    }
}

/// [`Evidence::LinkDown`] in words.
fn link_down(
    f: &mut fmt::Formatter<'_>,
    interface: &str,
    state: LinkState,
    link_kind: Option<&str>,
) -> fmt::Result {
    match state {
        LinkState::Down => write!(
            f,
            "this host's interface {interface} is down (`ip link show {interface}`)"
        ),
        LinkState::NoCarrier => {
            let kind = link_kind.map_or_else(String::new, |kind| format!(" ({kind})"));
            write!(
                f,
                "this host's interface {interface}{kind} has no carrier (`NO-CARRIER` in `ip link show {interface}`)"
            )
        }
    }
}

/// `python3 (pid 7) has 127.0.0.1:8000 bound, and does not listen on it`.
fn bound_socket(f: &mut fmt::Formatter<'_>, held: &HeldListener) -> fmt::Result {
    write!(
        f,
        "{} has {} bound, and does not listen on it",
        held.owner(),
        held.endpoint()
    )
}

/// `statsd (pid 7) receives UDP on 0.0.0.0:8125`.
fn udp_socket(f: &mut fmt::Formatter<'_>, held: &HeldListener) -> fmt::Result {
    write!(f, "{} receives UDP on {}", held.owner(), held.endpoint())?;
    if held.listener.v6only == Some(true) {
        f.write_str(" (IPv6 only)")?;
    }
    if let Some(container) = held.container {
        write!(f, " ({container} container)")?;
    }
    Ok(())
}

/// `` firewall rule `tcp dport 7001 drop` in `inet filter` chain `output` matches ``.
fn firewall_rule(f: &mut fmt::Formatter<'_>, blocker: &Blocker) -> fmt::Result {
    let how = if blocker.certain {
        "matches"
    } else {
        "may match"
    };
    write!(
        f,
        "firewall rule `{}` in `{}` chain `{}`",
        blocker.rule, blocker.table, blocker.chain
    )?;
    if let Some(netns) = &blocker.netns {
        write!(f, " of network namespace {netns}")?;
    }
    if blocker.path.len() > 1 {
        write!(f, " (reached by {})", blocker.path.join(" -> "))?;
    }
    match blocker.stops {
        Stops::Request => write!(f, " {how}"),
        Stops::Reply => write!(f, " {how} the replies"),
    }
}

/// A DNAT rule that publishes the port; whose, when another namespace's.
fn dnat_rule(f: &mut fmt::Formatter<'_>, dnat: &Dnat) -> fmt::Result {
    write!(
        f,
        "the DNAT rule `{}` (table `{}`, chain `{}`",
        dnat.rule, dnat.table, dnat.chain
    )?;
    if let Some(netns) = &dnat.netns {
        write!(f, " of network namespace {netns}")?;
    }
    f.write_str(") publishes the port")
}

/// IPv6 that cannot be used: the sysctls that switch it off, when they do.
fn ipv6_unusable(f: &mut fmt::Formatter<'_>, disabled_by: &[Ipv6Switch]) -> fmt::Result {
    if disabled_by.is_empty() {
        return f.write_str("IPv6 is disabled or missing on this host");
    }
    let names: Vec<String> = disabled_by
        .iter()
        .map(|switch| format!("`{}`", switch.sysctl()))
        .collect();
    write!(f, "IPv6 is switched off: {} = 1", names.join(", "))
}

fn unix_socket(f: &mut fmt::Formatter<'_>, facts: &UnixSocketFacts) -> fmt::Result {
    let path = facts.path.display();
    if let Some(dir) = &facts.closed_directory {
        write!(
            f,
            "directory {} (mode {}, owner {}, group {}) may not be searched by this user",
            dir.path.display(),
            dir.mode,
            dir.owner.user_name(),
            dir.owner.group_name()
        )?;
        if let Some(link) = &dir.through_link {
            write!(f, " (the link {} leads into it)", link.display())?;
        }
        return Ok(());
    }
    // A link is named with the file it leads to, which the facts describe.
    let path = match &facts.link_target {
        Some(target) => format!("{path} (a link to {})", target.display()),
        None => path.to_string(),
    };
    match (facts.exists, facts.file_type) {
        (None, _) => write!(f, "{path} cannot be looked at by this user"),
        (Some(false), _) => {
            match &facts.link_target {
                Some(target) => write!(
                    f,
                    "{} is a link to {}, which does not exist",
                    facts.path.display(),
                    target.display()
                ),
                None => write!(f, "{path} does not exist"),
            }?;
            hidden_listener(f, facts.listening_hidden.first())
        }
        (Some(true), Some(FileType::Socket)) => {
            write!(f, "{path} is a socket")?;
            if let (Some(mode), Some(uid), Some(gid)) = (facts.mode, facts.uid, facts.gid) {
                let user = facts.user.clone().unwrap_or_else(|| uid.to_string());
                let group = facts.group.clone().unwrap_or_else(|| gid.to_string());
                write!(f, " (mode {mode}, owner {user}, group {group})")?;
            }
            match facts.listening {
                Some(true) => f.write_str(", and a process listens on it")?,
                Some(false) => f.write_str(", and no process listens on it")?,
                None => {}
            }
            if let Some(earlier) = facts.earlier_listeners.first() {
                write!(
                    f,
                    "; {} listens on an earlier file of that name, deleted or replaced since",
                    earlier.owner()
                )?;
            }
            Ok(())
        }
        (Some(true), kind) => write!(
            f,
            "{path} is a {}, not a socket",
            kind.map_or("file", FileType::as_str)
        ),
    }
}

/// The socket that listens bound to a path that does not exist, and where its file is.
fn hidden_listener(f: &mut fmt::Formatter<'_>, hidden: Option<&HiddenListener>) -> fmt::Result {
    let Some(hidden) = hidden else {
        return Ok(());
    };
    let owner = hidden.owner();
    match hidden.file {
        Some(FileSeen::OwnFileSystem) => write!(
            f,
            " here; {owner} listens on a socket at that path in its own file system"
        ),
        Some(FileSeen::Deleted) => write!(
            f,
            "; {owner} listens on a socket bound to it, whose file was deleted"
        ),
        None => write!(f, "; {owner} listens on a socket bound to it"),
    }?;
    match &hidden.netns {
        Some(netns) => write!(f, " (network namespace {netns})"),
        None => Ok(()),
    }
}

/// Something the diagnosis could not look at, and how to let it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unseen {
    /// What could not be seen.
    pub what: String,
    /// How to see it.
    pub how: String,
    /// Whether running as root would show it.
    pub needs_root: bool,
}
