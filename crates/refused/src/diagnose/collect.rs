//! Collecting the facts about one target: the I/O half of the diagnosis.

use std::collections::HashSet;
use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use futures_util::future::join_all;
use tokio::task::JoinHandle;

use crate::connect::{Attempt, Dialer, RetryPolicy};
use crate::probe::{self, ProbeOptions};
use crate::resolve;
use crate::sys::firewall::{self, FirewallError, Hook, Packet};
use crate::sys::tables::{self, Listener};
use crate::sys::{self, host, netns, process};
use crate::target::{Endpoint, Host, Scheme, Target};

use super::Options;
use super::budget::Budget;
use super::evidence::{HeldListener, UnixSocketFacts, Unseen};
use super::facts::{AddressFacts, Facts, Resolution};

const AS_ROOT: &str = "run as root";

/// Facts with nothing collected yet.
pub(super) fn nothing_yet(target: &Target, options: &Options) -> Facts {
    Facts {
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
    }
}

/// One attempt to each address, all bounded by what is left of the network's budget.
fn dialer(left: std::time::Duration) -> Dialer {
    Dialer::new()
        .attempt_timeout(left)
        .deadline(left)
        .retry(RetryPolicy::never())
}

pub async fn facts(target: &Target, options: &Options) -> Facts {
    let budget = Budget::starting_now(options.timeout);
    let mut facts = nothing_yet(target, options);
    let (host, port) = match target.endpoint() {
        Endpoint::Unix(path) => {
            facts.unix = Some(unix(&dialer(budget.network_left()), path).await);
            return facts;
        }
        Endpoint::Tcp { host, port } => (host, *port),
    };

    let addrs = match resolve::resolve_until(host, port, budget.network_until()).await {
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

    let dialer = dialer(budget.network_left());
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
            })
        })
        .collect();

    if facts
        .addresses
        .iter()
        .any(|a| a.attempt.outcome.is_connected())
    {
        // It connects: is the service behind it ready? (`not-ready` is about the protocol.)
        if !matches!(target.scheme(), Scheme::Tcp | Scheme::Unix) {
            let report = probe::probe(target, &ProbeOptions::new(), budget.last_left()).await;
            facts.probe = Some(report.readiness);
        }
        return facts;
    }
    host_evidence(facts, port.get(), budget.last_until()).await
}

/// Reads this host's evidence on the blocking pool (it reads `/proc` and runs `nft`), giving up
/// at `until`: the read is then abandoned, and what it would have shown is listed as unseen.
pub(super) async fn host_evidence(facts: Facts, port: u16, until: tokio::time::Instant) -> Facts {
    let reading = start_reading_host(facts.clone(), port);
    host_evidence_read(facts, reading, until).await
}

/// Starts reading this host's evidence into a copy of `facts`, in the background.
pub(super) fn start_reading_host(mut facts: Facts, port: u16) -> JoinHandle<Facts> {
    tokio::task::spawn_blocking(move || {
        look_at_this_host(&mut facts, port);
        facts
    })
}

/// The facts a read started by [`start_reading_host`] gave by `until`; else `facts` with the
/// host's evidence listed as unseen (the read is abandoned).
pub(super) async fn host_evidence_read(
    facts: Facts,
    reading: JoinHandle<Facts>,
    until: tokio::time::Instant,
) -> Facts {
    match tokio::time::timeout_at(until, reading).await {
        Ok(Ok(read)) => read,
        Ok(Err(failed)) => std::panic::resume_unwind(failed.into_panic()),
        Err(_) => out_of_time(facts),
    }
}

/// `facts` with this host's evidence listed as unseen: its read did not end in time.
pub(super) fn out_of_time(mut facts: Facts) -> Facts {
    facts.unseen.push(Unseen {
        what: "this host's listeners, processes and firewall rules (the time limit ran out while \
               they were read)"
            .to_owned(),
        how: "allow a longer time limit".to_owned(),
        needs_root: false,
    });
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

pub(super) fn unix_facts(path: &Path) -> UnixSocketFacts {
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
