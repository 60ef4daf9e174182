//! Evidence: the facts a diagnosis rests on, as the report shows them (`kind` plus its facts).

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::Serialize;

use crate::sys::firewall::{Blocker, Hook};
use crate::sys::host::{NameSource, Neighbour};
use crate::sys::netns::Namespace;
use crate::sys::process::{ContainerRuntime, Process};
use crate::sys::tables::Listener;

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
    /// A socket listening on a port, with who holds it.
    Listener(HeldListener),
    /// A firewall rule (or policy) of this host that stops the connection.
    FirewallRule {
        /// `family table`.
        table: String,
        /// The chain.
        chain: String,
        /// `input` or `output`.
        hook: Hook,
        /// The rule as nft writes it.
        rule: String,
        /// `drop` or `reject`.
        verdict: &'static str,
        /// The rule's handle, for `nft delete rule`.
        #[serde(skip_serializing_if = "Option::is_none")]
        handle: Option<u64>,
        /// False when the rule has matches that were not evaluated.
        certain: bool,
    },
    /// What neighbour discovery (ARP) knows of an address.
    Neighbour {
        /// The address.
        address: IpAddr,
        /// Whether it answered.
        state: Neighbour,
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
    },
    /// IPv6 cannot be used on this host.
    Ipv6Unusable,
    /// What the unix socket path is.
    UnixSocket(UnixSocketFacts),
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
    /// The network namespace: `None` for ours.
    pub netns: Option<Namespace>,
}

impl HeldListener {
    /// A listener with what was found of its owner.
    pub fn new(listener: Listener, owner: Option<&Process>, netns: Option<Namespace>) -> Self {
        Self {
            listener,
            pid: owner.map(|p| p.pid),
            process: owner.map(|p| p.command.clone()),
            container: owner.and_then(|p| p.container),
            netns,
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
    /// address is reached at `via` itself, or at loopback when `via` is of the other family.
    pub fn reach_at(&self, via: IpAddr) -> String {
        let address = self.listener.address;
        let ip = match (address.is_unspecified(), address.is_ipv4() == via.is_ipv4()) {
            (false, _) => address,
            (true, true) => via,
            (true, false) if address.is_ipv4() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            (true, false) => IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        };
        std::net::SocketAddr::new(ip, self.listener.port).to_string()
    }
}

/// A unix socket path, as `stat` and `/proc/net/unix` see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnixSocketFacts {
    /// The path.
    pub path: PathBuf,
    /// Whether anything exists there.
    pub exists: bool,
    /// `socket`, `directory`, `file`, ... when it exists.
    pub file_type: Option<&'static str>,
    /// Permission bits, in octal (`0660`).
    pub mode: Option<String>,
    /// Owner uid and gid.
    pub uid: Option<u32>,
    /// Owner gid.
    pub gid: Option<u32>,
    /// The owner's user name.
    pub user: Option<String>,
    /// The owner's group name.
    pub group: Option<String>,
    /// Whether a socket of this namespace listens on the path (`/proc/net/unix`).
    pub listening: Option<bool>,
}

impl From<&Blocker> for Evidence {
    fn from(blocker: &Blocker) -> Self {
        Self::FirewallRule {
            table: blocker.table.clone(),
            chain: blocker.chain.clone(),
            hook: blocker.hook,
            rule: blocker.rule.clone(),
            verdict: blocker.verdict,
            handle: blocker.handle,
            certain: blocker.certain,
        }
    }
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
            Self::Listener(held) => {
                let l = &held.listener;
                write!(f, "{} listens on {}", held.owner(), held.endpoint())?;
                if l.v6only == Some(true) {
                    f.write_str(" (IPv6 only)")?;
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
            Self::FirewallRule {
                table,
                chain,
                rule,
                certain,
                ..
            } => {
                let how = if *certain { "matches" } else { "may match" };
                write!(
                    f,
                    "firewall rule `{rule}` in `{table}` chain `{chain}` {how}"
                )
            }
            Self::Neighbour { address, state } => match state {
                Neighbour::Answered => write!(f, "{address} answers neighbour discovery"),
                Neighbour::NoAnswer if address.is_ipv4() => {
                    write!(f, "nobody answered ARP for {address}")
                }
                Neighbour::NoAnswer => {
                    write!(f, "nobody answered neighbour discovery for {address}")
                }
            },
            Self::LocalAddress { address } => write!(f, "{address} is this host's own address"),
            Self::EphemeralPorts { low, high } => {
                write!(f, "local ports come from {low}-{high}")
            }
            Self::Ipv6Unusable => f.write_str("IPv6 is disabled or missing on this host"),
            Self::UnixSocket(facts) => {
                let path = facts.path.display();
                match (facts.exists, facts.file_type) {
                    (false, _) => write!(f, "{path} does not exist"),
                    (true, Some("socket")) => {
                        write!(f, "{path} is a socket")?;
                        if let (Some(mode), Some(uid), Some(gid)) =
                            (&facts.mode, facts.uid, facts.gid)
                        {
                            let user = facts.user.clone().unwrap_or_else(|| uid.to_string());
                            let group = facts.group.clone().unwrap_or_else(|| gid.to_string());
                            write!(f, " (mode {mode}, owner {user}, group {group})")?;
                        }
                        match facts.listening {
                            Some(true) => f.write_str(", and a process listens on it"),
                            Some(false) => f.write_str(", and no process listens on it"),
                            None => Ok(()),
                        }
                    }
                    (true, kind) => {
                        write!(f, "{path} is a {}, not a socket", kind.unwrap_or("file"))
                    }
                }
            }
        }
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
