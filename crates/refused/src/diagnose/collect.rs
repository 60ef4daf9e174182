//! Collecting the facts about one target: the I/O half of the diagnosis.

use std::collections::HashSet;
use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use futures_util::future::join_all;

use crate::connect::{Address, Attempt, Dialer, RetryPolicy};
use crate::probe;
use crate::resolve::{self, ResolveError, ResolveErrorKind};
use crate::sys::firewall::{self, FirewallError, Hook, Packet};
use crate::sys::route::{self, RejectingRoute};
use crate::sys::tables::{self, Listener};
use crate::sys::{self, addresses, host, netns, process};
use crate::target::{Endpoint, Host, Port, Target};

use super::Options;
use super::evidence::{HeldListener, UnixSocketFacts, Unseen};
use super::facts::{AddressFacts, Facts, Holder, Resolution};

const AS_ROOT: &str = "run as root";

pub async fn facts(target: &Target, options: &Options) -> Facts {
    let mut facts = Facts {
        target: target.clone(),
        resolution: Resolution::None,
        addresses: Vec::new(),
        listeners: None,
        foreign: Vec::new(),
        // Read with the rest of the host's evidence, only if something failed.
        ephemeral_ports: None,
        ipv6_usable: true,
        unix: None,
        unseen: Vec::new(),
        program: options.program.clone(),
        probe: None,
    };
    let dialer = Dialer::new()
        .attempt_timeout(options.timeout)
        .deadline(options.timeout)
        .retry(RetryPolicy::never());
    let (host, port) = match target.endpoint() {
        Endpoint::Unix(path) => {
            facts.unix = Some(unix(&dialer, path).await);
            return facts;
        }
        Endpoint::Tcp { host, port } => (host, *port),
    };

    let resolved = match target.pinned() {
        Some(addrs) => Ok(addrs.to_vec()),
        None => resolve_within(host, port, options).await,
    };
    let addrs = match resolved {
        Ok(addrs) => addrs,
        Err(err) => {
            facts.resolution = Resolution::Failed(err);
            return facts;
        }
    };
    if let Host::Name(name) = host {
        facts.resolution = Resolution::Resolved {
            name: name.clone(),
            addresses: addrs.iter().map(SocketAddr::ip).collect(),
            source: host::name_source(name),
        };
    }

    let tries = addrs.iter().map(|addr| {
        let dialer = &dialer;
        async move {
            match dialer.dial_addrs(std::slice::from_ref(addr)).await {
                Ok(connected) => connected.attempts,
                Err(err) => err.attempts().to_vec(),
            }
        }
    });
    let attempts: Vec<Vec<Attempt>> = join_all(tries).await;
    facts.addresses = addrs
        .iter()
        .zip(attempts)
        .filter_map(|(addr, attempts)| {
            Some(AddressFacts {
                attempt: attempts.into_iter().last()?,
                addr: *addr,
                local: host::is_local_address(addr.ip()),
                neighbour: None,
                blockers: None,
                route: None,
                holder: None,
            })
        })
        .collect();

    if facts
        .addresses
        .iter()
        .any(|a| a.attempt.outcome.is_connected())
    {
        // It connects: is the service behind it ready? For plain TCP, that the connection stays
        // open (a port proxy with no backend accepts and closes); else the protocol's answer.
        let report = probe::probe(target, &options.probe, options.timeout).await;
        let ready = report.readiness.is_ready();
        facts.probe = Some(report.readiness);
        // Who accepted and dropped it, when it is a program of this host (docker-proxy...).
        if !ready && facts.addresses.iter().any(|a| a.local) {
            if let Ok(own) = sys::own_tcp_listeners() {
                let own = own.into_iter().filter(|l| l.port == port.get()).collect();
                held(&mut facts, own, Vec::new());
            }
        }
        return facts;
    }
    look_at_this_host(&mut facts, port.get());
    facts
}

/// The host-side evidence of a failed connect: listeners, owners, namespaces, rules, neighbours.
fn look_at_this_host(facts: &mut Facts, port: u16) {
    facts.ephemeral_ports = host::ephemeral_ports();
    facts.ipv6_usable = host::is_ipv6_usable();
    let any_local = facts.addresses.iter().any(|a| a.local);
    if any_local {
        let own = sys::own_tcp_listeners();
        match own {
            Ok(own) => {
                let foreign = if own.iter().any(|l| l.port == port) {
                    netns::ForeignSearch::default()
                } else {
                    netns::listeners_on_port(port, &own)
                };
                for name in &foreign.not_entered {
                    facts.unseen.push(Unseen {
                        what: format!("the listeners of network namespace {name}"),
                        how: AS_ROOT.to_owned(),
                        needs_root: true,
                    });
                }
                held(facts, own, foreign.listeners);
            }
            Err(err) => facts.unseen.push(Unseen {
                what: format!("this host's socket tables ({err})"),
                how: "check that /proc is mounted".to_owned(),
                needs_root: false,
            }),
        }
    }

    let ruleset = match firewall::read_ruleset() {
        Ok(ruleset) => Some(ruleset),
        Err(err) => {
            let (what, how) = match err {
                FirewallError::NotPermitted => (String::new(), AS_ROOT),
                FirewallError::NoTool => (format!(" ({err})"), "install nftables"),
                FirewallError::Failed(_) => (format!(" ({err})"), "`sudo nft list ruleset`"),
            };
            facts.unseen.push(Unseen {
                what: format!("this host's firewall rules{what}"),
                how: how.to_owned(),
                needs_root: true,
            });
            None
        }
    };
    for address in &mut facts.addresses {
        let ip = address.addr.ip();
        let packet = Packet {
            src: host::source_address_for(ip),
            dst: ip,
            sport: None,
            dport: address.addr.port(),
            established: false,
        };
        address.blockers = ruleset.as_ref().map(|ruleset| {
            let mut found = firewall::blockers(ruleset, Hook::Output, &packet);
            if address.local {
                found.extend(firewall::blockers(ruleset, Hook::Input, &packet));
            }
            found
        });
        if !address.local {
            address.neighbour = host::neighbour(ip);
        }
        address.route = rejected_by_route(&address.attempt);
        if !address.local && !address.attempt.outcome.is_connected() {
            let mut holders = addresses::holders_of(ip);
            if holders.len() > 1 {
                let names: Vec<&str> = holders.iter().map(|ns| ns.name.as_str()).collect();
                facts.unseen.push(Unseen {
                    what: format!(
                        "which of the network namespaces {} (each holds {ip}) answers here",
                        names.join(", ")
                    ),
                    how: "`ip route get` and `ip link` show the interface the packets leave by"
                        .to_owned(),
                    needs_root: false,
                });
            } else if let Some(ns) = holders.pop() {
                address.holder = Some(holder(ns, &mut facts.unseen));
            }
        }
    }
}

/// The route of this host that failed the attempt: the kernel's lookup fails the same way.
fn rejected_by_route(attempt: &Attempt) -> Option<RejectingRoute> {
    let ip = match &attempt.address {
        Address::Inet(addr) => addr.ip(),
        Address::Unix(_) => return None,
    };
    match route::lookup(ip) {
        route::Lookup::Rejected(kind) if attempt.errno == Some(kind.errno()) => {
            Some(route::rejecting_route(ip, kind))
        }
        _ => None,
    }
}

/// The namespace that holds an address, with its listeners and their owners.
fn holder(ns: netns::Namespace, unseen: &mut Vec<Unseen>) -> Holder {
    let listeners = netns::tcp_listeners_in(&ns).ok().map(|listeners| {
        let inodes: HashSet<u64> = listeners.iter().map(|l| l.inode).collect();
        let owners = process::owners(&inodes);
        listeners
            .into_iter()
            .map(|l| {
                let owner = owners
                    .get(l.inode)
                    .cloned()
                    .or_else(|| ns.pid.map(process::process));
                HeldListener::new(l, owner.as_ref(), Some(ns.name.clone()))
            })
            .collect()
    });
    if listeners.is_none() {
        unseen.push(Unseen {
            what: format!("the listeners of network namespace {}", ns.name),
            how: AS_ROOT.to_owned(),
            needs_root: true,
        });
    }
    Holder {
        netns: ns.name,
        named: ns.named,
        pid: ns.pid,
        listeners,
    }
}

/// Attaches owners to our listeners and the foreign ones.
fn held(facts: &mut Facts, own: Vec<Listener>, foreign: Vec<netns::ForeignListener>) {
    let inodes: HashSet<u64> = own
        .iter()
        .map(|l| l.inode)
        .chain(foreign.iter().map(|f| f.listener.inode))
        .collect();
    let owners = process::owners(&inodes);
    let mut unowned = false;
    let mut hold = |listener: Listener, netns: Option<String>, pid: Option<u32>| {
        let found = owners.get(listener.inode).cloned();
        // A namespace found through a process: that process, if the socket's own was not seen.
        let owner = found.or_else(|| pid.map(process::process));
        unowned |= owner.is_none();
        HeldListener::new(listener, owner.as_ref(), netns)
    };
    let listeners = own.into_iter().map(|l| hold(l, None, None)).collect();
    facts.foreign = foreign
        .into_iter()
        .map(|f| hold(f.listener, Some(f.netns), f.pid))
        .collect();
    facts.listeners = Some(listeners);
    if unowned && owners.unreadable > 0 {
        facts.unseen.push(Unseen {
            what: format!(
                "which process holds some sockets ({} processes of other users could not be read)",
                owners.unreadable
            ),
            how: AS_ROOT.to_owned(),
            needs_root: true,
        });
    }
}

async fn resolve_within(
    host: &Host,
    port: Port,
    options: &Options,
) -> Result<Vec<SocketAddr>, ResolveError> {
    match tokio::time::timeout(options.timeout, resolve::resolve(host, port)).await {
        Ok(result) => result,
        Err(_) => Err(ResolveError {
            name: host.to_string(),
            kind: ResolveErrorKind::Timeout,
        }),
    }
}

async fn unix(dialer: &Dialer, path: &Path) -> (Attempt, UnixSocketFacts) {
    let attempt = match dialer.dial_unix(path).await {
        Ok(connected) => connected.attempts,
        Err(err) => err.attempts().to_vec(),
    }
    .into_iter()
    .last()
    .unwrap_or_else(|| Attempt {
        address: crate::connect::Address::Unix(path.to_owned()),
        outcome: crate::Outcome::Other(None),
        errno: None,
        started: std::time::Duration::ZERO,
        elapsed: std::time::Duration::ZERO,
        try_number: 1,
    });
    (attempt, unix_facts(path))
}

fn unix_facts(path: &Path) -> UnixSocketFacts {
    let meta = fs::metadata(path).ok();
    let file_type = meta.as_ref().map(|m| {
        let t = m.file_type();
        if t.is_socket() {
            "socket"
        } else if t.is_dir() {
            "directory"
        } else if t.is_fifo() {
            "fifo"
        } else if t.is_file() {
            "regular file"
        } else {
            "special file"
        }
    });
    let listening = (file_type == Some("socket"))
        .then(|| {
            let canonical = fs::canonicalize(path).ok();
            tables::read_unix_listeners().ok().map(|listeners| {
                listeners
                    .iter()
                    .any(|l| l.path == path || canonical.as_deref() == Some(l.path.as_path()))
            })
        })
        .flatten();
    UnixSocketFacts {
        path: path.to_owned(),
        exists: meta.is_some(),
        file_type,
        mode: meta.as_ref().map(|m| format!("{:04o}", m.mode() & 0o7777)),
        uid: meta.as_ref().map(MetadataExt::uid),
        gid: meta.as_ref().map(MetadataExt::gid),
        user: meta
            .as_ref()
            .and_then(|m| host::account_name("/etc/passwd", m.uid())),
        group: meta
            .as_ref()
            .and_then(|m| host::account_name("/etc/group", m.gid())),
        listening,
    }
}
