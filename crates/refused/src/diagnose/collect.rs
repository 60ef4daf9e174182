//! Collecting the facts about one target: the I/O half of the diagnosis.

use std::collections::HashSet;
use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use futures_util::future::join_all;
use tokio::task::JoinHandle;

use crate::connect::{Address, Attempt, Dialer, RetryPolicy};
use crate::outcome::Outcome;
use crate::probe;
use crate::resolve;
use crate::sys::firewall::{self, FirewallError, Hook, Interface, NatHook, Packet, SocketOwner};
use crate::sys::route::{self, RejectingRoute};
use crate::sys::services::Service;
use crate::sys::tables::{self, Listener};
use crate::sys::unix_diag;
use crate::sys::unix_path::{self, FileType, Lookup, Mode, Owner};
use crate::sys::{self, addresses, forwarder, host, loopback, netns, process};
use crate::target::{Endpoint, Host, Scheme, Target};

use super::Options;
use super::budget::Budget;
use super::commands;
use super::evidence::{
    ConnectionsLeft, ContainerPort, EarlierListener, HeldBy, HeldListener, HeldUnixListener,
    UnixSocketFacts, Unseen,
};
use super::facts::{
    AddressFacts, Facts, ForeignReach, Forwarded, Gateway, Holder, Init, OwnerBlocked, Privilege,
    Proxied, Published, Resolution, ReversePath, RulesRead,
};
use super::rules;
use super::socket_only;

const AS_ROOT: &str = "run as root";

/// Facts with nothing collected yet.
pub(super) fn nothing_yet(target: &Target, options: &Options) -> Facts {
    Facts {
        target: target.clone(),
        resolution: Resolution::None,
        nameservers: Vec::new(),
        addresses: Vec::new(),
        listeners: None,
        absent_addresses: Vec::new(),
        stranded: Vec::new(),
        foreign: Vec::new(),
        foreign_reach: None,
        unix_listeners: Vec::new(),
        proxy_address: false,
        proxied: None,
        forwarder: None,
        stopped_containers: Vec::new(),
        named_containers: Vec::new(),
        container_ports: Vec::new(),
        podman_containers: Vec::new(),
        rootless: None,
        unpublished_containers: Vec::new(),
        udp_receivers: Vec::new(),
        bound_only: Vec::new(),
        connections_left: None,
        // Read with the rest of the host's evidence, only if something failed.
        ephemeral_ports: None,
        reserved_ports: None,
        reverse_path: None,
        conntrack: None,
        ipv6_usable: true,
        loopback: None,
        unix: None,
        unseen: Vec::new(),
        rules_read: RulesRead::default(),
        program: options.program.clone(),
        probe: None,
        speaks_tls: None,
        hosts_has_it_undotted: false,
        privilege: if host::is_root() {
            Privilege::Root
        } else {
            Privilege::User
        },
        init: if host::runs_systemd() {
            Init::Systemd
        } else {
            Init::Other
        },
    }
}

/// One attempt to each address, all bounded by what is left of the network's budget; a failed
/// one keeps the ICMP error behind it (who rejected it, and how), which the rules read before
/// guessing from the time it took.
fn dialer(left: std::time::Duration) -> Dialer {
    Dialer::new()
        .attempt_timeout(left)
        .deadline(left)
        .retry(RetryPolicy::never())
        .reading_icmp_errors()
}

pub async fn facts(target: &Target, options: &Options) -> Facts {
    let budget = Budget::starting_now(options.timeout);
    let mut facts = nothing_yet(target, options);
    let (host, port) = match target.endpoint() {
        Endpoint::Unix(path) => {
            let unix = unix(&dialer(budget.network_left()), path).await;
            // PostgreSQL's socket, or one named with a protocol (`redis+unix://`,
            // `http+unix://`): is the server behind it ready?
            let checked =
                target.scheme() != Scheme::Unix || crate::probe::is_postgres_socket(target);
            if unix.0.outcome.is_connected() && checked {
                let report = probe::probe(target, &options.probe, budget.probe_left()).await;
                facts.probe = Some(report.readiness);
            }
            facts.unix = Some(Box::new(unix));
            return facts;
        }
        Endpoint::Tcp { host, port } => (host, *port),
    };

    let resolved = match target.pinned() {
        Some(addrs) => Ok(addrs.to_vec()),
        None => resolve::resolve_until(host, port, budget.network_until()).await,
    };
    let addrs = match resolved {
        Ok(addrs) => addrs,
        Err(err) => {
            if !matches!(
                err.kind,
                resolve::ResolveErrorKind::NotFound | resolve::ResolveErrorKind::NoAddress
            ) {
                facts.nameservers = crate::sys::resolv::nameservers();
            }
            if let (resolve::ResolveErrorKind::NotFound, Host::Name(name)) = (err.kind, host) {
                // A container's or compose service's name: Docker's DNS answers it inside its
                // networks alone.
                let until = (std::time::Instant::now() + DOCKER_ASKED_FOR)
                    .min(budget.last_until().into_std());
                facts.named_containers =
                    sys::docker::running_named(name, until).unwrap_or_default();
            }
            if let Host::Name(name) = host {
                facts.hosts_has_it_undotted = name.ends_with('.')
                    && host::name_source(name.trim_end_matches('.')) == host::NameSource::Hosts;
            }
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

    // The reverse-path filter's drops are counted for the whole namespace: read around the
    // attempts, an increase is most likely theirs (the replies came back by another interface
    // than the route out).
    // (IPv4's alone, and never met on loopback.)
    let reverse_path_before = addrs
        .iter()
        .any(|a| a.is_ipv4() && !a.ip().is_loopback())
        .then(|| sys::netstat::reverse_path_drops().ok())
        .flatten();
    // conntrack's drops too (a full table drops every new connection's first packet).
    let conntrack_before = sys::conntrack::stats();
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
        .filter_map(|(addr, attempts)| Some(AddressFacts::new(attempts.into_iter().last()?, *addr)))
        .collect();
    facts.reverse_path = reverse_path_before
        .and_then(|before| {
            Some(
                sys::netstat::reverse_path_drops()
                    .ok()?
                    .saturating_sub(before),
            )
        })
        .map(|dropped| reverse_path(dropped, &facts.addresses));
    facts.conntrack = super::conntrack::read_drops(conntrack_before, &facts.addresses);

    if facts
        .addresses
        .iter()
        .any(|a| a.attempt.outcome.is_connected())
    {
        return connected(facts, target, options, &budget, port.get()).await;
    }
    host_evidence(facts, port.get(), budget.last_until()).await
}

/// The longest our own connect waits on the container behind a port proxy that met silence.
const SILENT_BACKEND_DIAL: std::time::Duration = std::time::Duration::from_millis(1500);

/// The facts of a target that connected: is the service behind it ready? And what of this host
/// explains a failure of the probe, or of another address, or warns of other users' programs.
async fn connected(
    mut facts: Facts,
    target: &Target,
    options: &Options,
    budget: &Budget,
    port: u16,
) -> Facts {
    // It connects: is the service behind it ready? For plain TCP, that the connection stays
    // open (a port proxy with no backend accepts and closes); else the protocol's answer.
    // An IPv6 address that failed while another connected: because IPv6 is off here?
    if facts
        .addresses
        .iter()
        .any(|a| a.addr.is_ipv6() && !a.attempt.outcome.is_connected())
    {
        read_loopback(&mut facts);
    }
    // An address that failed short of the server's reset (a route of this host, an ICMP
    // error): the kernel's route for it, for the warning to say why (a netlink question; `ip`
    // only for a route that rejects).
    for address in facts.addresses.iter_mut().filter(|a| {
        matches!(
            a.attempt.outcome,
            Outcome::NetworkUnreachable | Outcome::HostUnreachable | Outcome::PermissionDenied
        )
    }) {
        read_route(address);
    }
    // Our attempt met none of the rules that name a socket's owner: do they stop other
    // users' programs? Read beside the probe, and only where the rules can be read at all.
    let others = firewall::has_net_admin().then(|| {
        let mut read = facts.clone();
        tokio::task::spawn_blocking(move || {
            blocked_for_others(&mut read);
            read.addresses
        })
    });
    let report = probe::probe(target, &options.probe, budget.probe_left()).await;
    let ready = report.readiness.is_ready();
    let silence = report.readiness.is_silence();
    let held_open_by = report.held_open;
    facts.probe = Some(report.readiness);
    // Every step from here ends by one deadline (each `last_until` would be later than the one
    // before, and the steps' overruns would add up).
    let until = budget.last_until();
    if super::front_end::is_unanswered(target.scheme(), facts.probe.as_ref()) {
        facts.speaks_tls = speaks_tls(&facts, options, until).await;
    }
    // Who accepted and dropped it, when it is a program of this host (docker-proxy...); who
    // listens, when another address of this host failed (`localhost`'s other family).
    // Only a local address after one that connected is warned of with its listeners (an
    // earlier one's warning needs none).
    let local_failed = facts
        .addresses
        .iter()
        .skip_while(|a| !a.attempt.outcome.is_connected())
        .any(|a| a.local && !a.attempt.outcome.is_connected());
    if facts.addresses.iter().any(|a| a.local) {
        // The port's listeners alone, picked by the kernel: read for every local target that
        // connects, so a stuck member of an SO_REUSEPORT group, which fails its share of the
        // connections whichever member ours met, is seen every time.
        // Read, but their owners not looked up (a walk of `/proc`) unless something needs them.
        let mut unowned = None;
        if let Ok(own) = sys::own_tcp_listeners_on(port) {
            let wanted = !ready || local_failed;
            if wanted || super::reuseport::has_stuck_member(&own) {
                held(&mut facts, port, own, Vec::new());
            } else {
                unowned = Some(own);
            }
            // Docker's daemon, only for what goes wrong here (a stuck group needs none of it).
            if wanted {
                let docker_until =
                    (std::time::Instant::now() + DOCKER_ASKED_FOR).min(until.into_std());
                read_container_ports(&mut facts, port, &[], None, docker_until);
            }
        }
        if !ready {
            // A proxy closes or resets what it cannot send on, and waits in silence on what
            // does not answer it (docker-proxy's own connect to a container that drops it, or
            // whose program's queue is full): either way, where it sends the connection says
            // why.
            facts.proxied = proxied(&mut facts, backend_dial(until, silence)).await;
            if facts.proxied.is_none() {
                facts.rootless = rootless(&mut facts, until.into_std());
            }
            if facts.proxied.is_none() && facts.rootless.is_none() {
                // Boxed: its dial would make every diagnosis's future larger.
                facts.forwarder = Box::pin(forwarded(&facts, backend_dial(until, silence))).await;
            }
        } else if let Some(acceptor) = held_open_by {
            // A plain TCP connection that stayed open in silence: proof of a service, not of a
            // forwarder's backend. (Another scheme's answer came from the backend.)
            facts.forwarder = Box::pin(held_open(&mut facts, port, unowned, acceptor, until)).await;
        }
    }
    // Its warnings go with a target that is ready alone: otherwise not waited for.
    if let Some(reading) = others.filter(|_| ready) {
        // Out of time: nothing to warn of, rather than a diagnosis late.
        if let Ok(Ok(addresses)) = tokio::time::timeout_at(until, reading).await {
            facts.addresses = addresses;
        }
    }
    // Silence, not a close or a reset (an answer of the server's): a rate limit may drop it.
    let silent = facts
        .probe
        .as_ref()
        .is_some_and(probe::Readiness::is_silence);
    if silent {
        facts = rate_limits(facts, until).await;
    }
    facts
}

/// How long our own connect to a proxy's backend may take: what is left, or after a silence,
/// three quarters of it up to [`SILENT_BACKEND_DIAL`]. A quarter is kept for reading the
/// namespace there, and a backend on this host answers in far less than the cap, or not at all.
fn backend_dial(until: tokio::time::Instant, silence: bool) -> std::time::Duration {
    let left = until.saturating_duration_since(tokio::time::Instant::now());
    if silence {
        (left * 3 / 4).min(SILENT_BACKEND_DIAL)
    } else {
        left
    }
}

/// The forwarder of this host (socat, ssh, kubectl) that holds the connected local address's
/// port, from its command line, and our own connect to its backend when that is an address.
async fn forwarded(facts: &Facts, left: std::time::Duration) -> Option<Box<Forwarded>> {
    let forwarder = listening_forwarder(facts)?;
    let attempt = match forwarder.to {
        forwarder::Backend::Address(to) => try_backend(to, left).await,
        _ => None,
    };
    Some(Box::new(Forwarded { forwarder, attempt }))
}

/// A forwarder of this host (socat, ssh, kubectl) that took a `tcp://` connection which stayed
/// open and silent for the whole settle, and our own connect to its backend when that failed: a
/// forwarder holds the connection open while its own connect waits on a backend that does not
/// answer (or one that refuses a round trip later), and only that connect tells it from a
/// service. Who accepted is the settle's look-up (`acceptor`), read again (the listeners'
/// owners, `unowned`) only when it did not end in time; a program that is no forwarder costs
/// nothing more, a forwarder whose backend accepts one connect there.
async fn held_open(
    facts: &mut Facts,
    port: u16,
    mut unowned: Option<Vec<Listener>>,
    acceptor: probe::Acceptor,
    until: tokio::time::Instant,
) -> Option<Box<Forwarded>> {
    // `listening`: found among the listeners' owners already, the evidence's forwarder.
    let (accepted, listening) = match acceptor {
        probe::Acceptor::Program(program) => (
            forwarder::forwarder(program.pid, &program.command, port)?,
            false,
        ),
        probe::Acceptor::Hidden => return None,
        probe::Acceptor::Unknown => {
            if let Some(own) = unowned.take() {
                held(facts, port, own, Vec::new());
            }
            (listening_forwarder(facts)?, true)
        }
    };
    let forwarder::Backend::Address(to) = accepted.to else {
        return None;
    };
    // It held ours in silence for the whole settle: the cap of a silence.
    let attempt = try_backend(to, backend_dial(until, true)).await?;
    if attempt.outcome.is_connected() {
        return None;
    }
    // The listener and its owner, for the evidence: the forwarder that accepted may be a child
    // of the one that listens (socat's `fork`).
    let forwarder = if listening {
        accepted
    } else {
        if let Some(own) = unowned {
            held(facts, port, own, Vec::new());
        }
        listening_forwarder(facts).unwrap_or(accepted)
    };
    Some(Box::new(Forwarded {
        forwarder,
        attempt: Some(attempt),
    }))
}

/// The local address that connected, and this host's listeners that take it.
fn connected_listeners(facts: &Facts) -> Option<(SocketAddr, Vec<&HeldListener>)> {
    let addr = facts
        .addresses
        .iter()
        .find(|a| a.local && a.attempt.outcome.is_connected())?
        .addr;
    let (_, exact) = rules::on_port(facts.listeners.as_deref()?, addr);
    Some((addr, exact))
}

/// The forwarder among the owners of the listeners that the connected local address reached,
/// read from its command line.
fn listening_forwarder(facts: &Facts) -> Option<forwarder::Forwarder> {
    let (addr, exact) = connected_listeners(facts)?;
    exact
        .into_iter()
        .find_map(|held| forwarder::forwarder(held.pid?, held.process.as_deref()?, addr.port()))
}

/// Our own connect to `to`, where a proxy or forwarder of this host sends what it accepts: what
/// it met there, as far as this host can tell.
async fn try_backend(to: SocketAddr, left: std::time::Duration) -> Option<Attempt> {
    match dialer(left).dial_addrs(&[to]).await {
        Ok(connected) => connected.attempts,
        Err(err) => err.attempts().to_vec(),
    }
    .pop()
}

/// The port proxy of this host that took a local connection and closed it (docker-proxy), and
/// what it ran into: where it sends the connection, tried from here, and the namespace that
/// holds that address, read. `None` when no proxy takes the connected address.
async fn proxied(facts: &mut Facts, left: std::time::Duration) -> Option<Proxied> {
    let addr = facts
        .addresses
        .iter()
        .find(|a| a.local && a.attempt.outcome.is_connected())?
        .addr;
    let proxy = process::port_proxies()
        .into_iter()
        .find(|proxy| proxy.takes(addr))?;
    // The listener's owner, where it was seen, must be that proxy (or dockerd, which makes the
    // socket and hands it over): a proxy of another namespace can look like ours without root.
    let other_owner = facts
        .listeners
        .iter()
        .flatten()
        .filter(|l| l.listener.port == addr.port())
        .filter_map(|l| Some((l.pid?, l.process.as_deref()?)))
        .any(|(pid, process)| pid != proxy.pid && !matches!(process, "docker-proxy" | "dockerd"));
    if other_owner {
        return None;
    }
    let to = proxy.to;
    let attempt = try_backend(to, left).await?;
    let holder = match addresses::holders_of(to.ip()).as_slice() {
        [ns] if !host::is_local_address(to.ip()) => Some(super::holder::holder(
            ns,
            to,
            route::path_to(to.ip(), to.port())
                .gateway
                .map(|hop| hop.address),
            super::holder::Follow::No,
            &mut facts.unseen,
        )),
        _ => None,
    };
    Some(Proxied {
        proxy,
        attempt,
        holder,
    })
}

/// Rootless Podman's `rootlessport` that holds the connected local port (see
/// [`Facts::rootless`]): its command line says nothing of where it forwards, so its owner's
/// podman is asked which running container publishes the port (`podman ps`, run as that user:
/// Podman has no daemon, and a user's containers are theirs alone), and that container's
/// namespace is read through its first process.
fn rootless(facts: &mut Facts, until: std::time::Instant) -> Option<super::facts::RootlessForward> {
    let (addr, exact) = connected_listeners(facts)?;
    let held = exact
        .into_iter()
        .find(|l| l.process.as_deref() == Some("rootlessport"))?;
    let pid = held.pid?;
    let listens = SocketAddr::new(held.listener.address, held.listener.port);
    let whose = sys::podman::Whose::of_process(pid)?;
    if matches!(whose, sys::podman::Whose::Owner { .. }) && !host::is_root() {
        // Another user's: only root may run their podman as them.
        facts.unseen.push(Unseen {
            what: format!(
                "which container rootlessport (pid {pid}) forwards port {} to",
                addr.port()
            ),
            how: AS_ROOT.to_owned(),
            needs_root: true,
        });
        return None;
    }
    let asked = (std::time::Instant::now() + PODMAN_ASKED_FOR).min(until);
    let listed = sys::podman::containers(&whose, asked).ok()?;
    let (container, inside, first) = listed
        .iter()
        .filter(|c| c.is_running())
        .find_map(|c| Some((c, c.publishes(addr.ip(), addr.port())?, c.pid?)))?;
    let ns = netns::of_process(first);
    let ip = addresses::of_namespace_beside_loopback(&ns, true)
        .or_else(|| addresses::of_namespace_beside_loopback(&ns, false))?;
    let to = SocketAddr::new(ip, inside);
    let holder = super::holder::holder(&ns, to, None, super::holder::Follow::No, &mut facts.unseen);
    Some(super::facts::RootlessForward {
        pid,
        listens,
        container: container.name.clone(),
        pod: container.pod.clone(),
        to,
        holder,
    })
}

/// The rate limits on the server's side of each connected address (see [`super::rate_limit`]),
/// read on the blocking pool (it runs `nft`) until `until`: unread after that.
async fn rate_limits(facts: Facts, until: tokio::time::Instant) -> Facts {
    let mut read = facts.clone();
    let reading = tokio::task::spawn_blocking(move || {
        // This host's rules, read as everywhere else (nft's and the legacy tables, what could
        // not be read listed as unseen), when one of its own addresses connected.
        let own = read
            .addresses
            .iter()
            .any(|a| a.local && a.attempt.outcome.is_connected())
            .then(|| read_rules(&mut read))
            .flatten();
        for address in &mut read.addresses {
            if address.attempt.outcome.is_connected() {
                address.rate_limits = super::rate_limit::read(address, own.as_ref());
            }
        }
        read
    });
    match tokio::time::timeout_at(until, reading).await {
        Ok(Ok(read)) => read,
        Ok(Err(failed)) => std::panic::resume_unwind(failed.into_panic()),
        Err(_) => facts,
    }
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

/// This namespace's loopback interface, and whether IPv6 can be used at all: a kernel with IPv6,
/// and `all`'s `disable_ipv6` off.
fn read_loopback(facts: &mut Facts) {
    let lo = loopback::loopback();
    facts.ipv6_usable =
        !lo.ipv6_disabled_by.contains(&loopback::Ipv6Switch::All) && host::has_ipv6();
    facts.loopback = Some(lo);
}

/// The longest Docker's daemon is asked about stopped containers (a list, then each stopped
/// one's bindings: milliseconds when it answers).
const DOCKER_ASKED_FOR: std::time::Duration = std::time::Duration::from_millis(300);

/// What this host's own addresses and routes say of an address that failed: an IPv6 address
/// of ours that takes no connection, and, for a remote one, a route through `lo`, a link down,
/// a source address off the link the packets leave by.
fn read_failed_path(
    address: &mut AddressFacts,
    path: &route::Path,
    interfaces: &std::cell::OnceCell<Vec<sys::interfaces::Interface>>,
) {
    let ip = address.addr.ip();
    if let std::net::IpAddr::V6(v6) = ip {
        address.ipv6_state = sys::addresses::ipv6_state(v6);
    }
    if address.local {
        return;
    }
    let dev = path
        .dev
        .as_deref()
        .filter(|_| path.lookup == route::Lookup::Routed);
    if dev == Some("lo") {
        address.looped = route::through_loopback(address.addr);
    }
    if path.lookup == route::Lookup::NoRoute && address.route.is_none() {
        address.thrown = route::throw_route_to(ip);
    }
    let interfaces = interfaces.get_or_init(sys::interfaces::interfaces);
    address.down_link = sys::interfaces::down_link_in(interfaces, ip, dev);
    // A source off the link (a route's `src`, an address of another interface): the replies
    // come back only if the other side routes that address to us.
    let link = dev.and_then(|dev| interfaces.iter().find(|i| i.name == dev));
    address.off_link_source = path.source.zip(link).and_then(|(source, link)| {
        let on_link = link
            .networks
            .iter()
            .any(|(network, length)| sys::prefix::holds(*network, *length, source));
        (!on_link && !link.networks.is_empty() && dev != Some("lo"))
            .then(|| (source, link.name.clone()))
    });
}

/// After a timeout no certain rule explains, or this host's own neighbour discovery
/// unanswered (a drop on the way in takes its replies too): what drops packets on the route's
/// interface outside the firewall's tables. Only then: `tc` and `ip` cost a few milliseconds.
fn read_droppers(address: &mut AddressFacts, path: &route::Path) {
    let ruled = address
        .blockers
        .as_ref()
        .is_some_and(|found| found.iter().any(|b| b.certain));
    let unanswered = match address.attempt.outcome {
        Outcome::Timeout => true,
        Outcome::HostUnreachable => address.attempt.icmp.is_none(),
        _ => false,
    };
    if !unanswered || ruled {
        return;
    }
    let device = if address.local {
        Some("lo")
    } else {
        path.dev.as_deref()
    };
    address.droppers = device.map(sys::dropper::on).unwrap_or_default();
}

/// This namespace's listeners bound to a failed target address that is not this host's (one
/// dump of the port's listeners), with their owners.
fn stranded(facts: &Facts, port: u16) -> Vec<HeldListener> {
    let failed: Vec<std::net::IpAddr> = facts
        .addresses
        .iter()
        .filter(|a| !a.local && !a.attempt.outcome.is_connected())
        .map(|a| a.addr.ip().to_canonical())
        .collect();
    let Ok(on_port) = sys::own_tcp_listeners_on(port) else {
        return Vec::new();
    };
    let bound: Vec<Listener> = on_port
        .into_iter()
        .filter(|l| failed.contains(&l.address.to_canonical()))
        .collect();
    let inodes: HashSet<u64> = bound.iter().map(|l| l.inode).collect();
    let owners = process::owners(&inodes);
    bound
        .into_iter()
        .map(|l| {
            let owner = owners.get(l.inode).cloned();
            HeldListener::new(l, owner.as_ref(), None)
        })
        .collect()
}

/// The range local ports come from, and how many of them are reserved.
fn read_ephemeral_ports(facts: &mut Facts) {
    facts.ephemeral_ports = host::ephemeral_ports();
    facts.reserved_ports = facts
        .ephemeral_ports
        .and_then(|(low, high)| host::reserved_ports_in(low, high))
        .filter(|reserved| *reserved > 0);
}

/// The host-side evidence of a failed connect: listeners, owners, namespaces, rules, neighbours.
fn look_at_this_host(facts: &mut Facts, port: u16) {
    read_ephemeral_ports(facts);
    read_loopback(facts);
    let any_local = facts.addresses.iter().any(|a| a.local);
    // UDP sockets on the port, read when no TCP socket of any namespace has it: a port
    // published for UDP alone.
    let mut udp = Vec::new();
    // Docker's running containers on the port, when its list was asked already.
    let mut docker_running = None;
    let mut not_listening = None;
    if any_local {
        let own = sys::own_tcp_listeners();
        match own {
            Ok(own) => {
                let port_taken = own.iter().any(|l| l.port == port);
                let foreign = if port_taken {
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
                held(facts, port, own, foreign.listeners);
                facts.foreign_reach = facts
                    .foreign
                    .first()
                    .and_then(reach_from_here)
                    .map(linked_or_not);
                if !port_taken && facts.foreign.is_empty() {
                    let unheld = look_past_listeners(facts, port);
                    (udp, not_listening) = (unheld.udp, unheld.not_listening);
                    docker_running = Some(unheld.docker_running);
                }
            }
            Err(err) => facts.unseen.push(Unseen {
                what: format!("this host's socket tables ({err})"),
                how: "check that /proc is mounted".to_owned(),
                needs_root: false,
            }),
        }
    }

    if !any_local {
        facts.stranded = stranded(facts, port);
    }
    let read = read_rules(facts);
    // Indexed once for every address and packet asked about.
    let ruleset = read.as_ref().map(firewall::Indexed::new);
    // This namespace's interfaces, listed once, when a remote address failed.
    let interfaces = std::cell::OnceCell::new();
    for address in &mut facts.addresses {
        let ip = address.addr.ip();
        // The kernel's route for this very connection (policy rules on the port included):
        // asked once, for the rules' packet, the gateway and what rejects it.
        let path = read_route(address);
        if let Some(ruleset) = &ruleset {
            let packet = our_packet(address, &path);
            address.published = published(ruleset, &packet);
            address.blockers = Some(blockers(ruleset, &packet, address.published.as_ref()));
            address.untracked_reply = super::untracked::read(ruleset, &packet).map(Box::new);
            if address.published.is_none() && ip.is_loopback() {
                address.published_beside = published_beside(ruleset, address.addr);
            }
            if address.local && address.published.is_none() && address.published_beside.is_none() {
                address.forwarded = forwarded_from_outside(ruleset, address.addr);
            }
        }
        if !address.local {
            address.neighbour = host::neighbour(ip);
            if gateway_wanted(address) {
                // The gateway, and whether it answers neighbour discovery: a dead one fails
                // the connect the way a dead host on the link does.
                address.gateway = path.gateway.as_ref().map(|hop| Gateway {
                    address: hop.address,
                    neighbour: host::neighbour_on(hop.address, hop.dev.as_deref()),
                });
            }
        }
        if !address.attempt.outcome.is_connected() {
            read_failed_path(address, &path, &interfaces);
        }
        // A timeout no certain rule explains: what drops packets on the route's interface outside
        // the firewall's tables. Only then: `tc` and `ip` cost a few milliseconds.
        read_droppers(address, &path);
        address.holder = holder_of(address, &mut facts.unseen);
    }
    let until = std::time::Instant::now() + DOCKER_ASKED_FOR;
    read_container_ports(facts, port, &udp, docker_running, until);
    facts.udp_receivers = udp;
    facts.podman_containers = podman_containers(facts);
    if let Some(reading) = not_listening {
        reading
            .join()
            .unwrap_or_else(|failed| std::panic::resume_unwind(failed))
            .store(facts);
    }
}

/// The sockets of this namespace on a port where nothing listens, with their owners.
struct NotListening {
    bound_only: Vec<HeldListener>,
    connections_left: Option<ConnectionsLeft>,
    /// Where the kernel could not be asked (a seccomp filter that forbids netlink).
    unseen: Option<Unseen>,
}

impl NotListening {
    fn store(self, facts: &mut Facts) {
        facts.bound_only = self.bound_only;
        facts.connections_left = self.connections_left;
        facts.unseen.extend(self.unseen);
    }
}

/// The lowest port of the other systems' ephemeral ranges (Linux's default 32768-60999;
/// Windows', macOS's and the BSDs' 49152-65535).
const EPHEMERAL_ELSEWHERE: u16 = 32768;

/// The sockets of this namespace on `port` that do not listen, their owners looked up in one
/// walk of `/proc`. A connection counts as a server's end when its peer's port is a client's:
/// in `ephemeral` (this host's range) or in another system's. One whose peer's port is a
/// service's is a client's own, from a port it chose (an NFS mount's, from a reserved port
/// below 1024, to 2049). On a port of `ephemeral` none counts: there every client of this host
/// may have its own end (the rule says nothing of them), and their owners would cost a walk of
/// every descriptor of the host (0.3 s with 100,000 connections open).
fn not_listening(port: u16, ephemeral: (u16, u16)) -> NotListening {
    not_listening_in(port, ephemeral, sys::own_port_sockets(port))
}

/// [`not_listening`] with what the kernel answered: what it could not answer is unseen.
fn not_listening_in(
    port: u16,
    ephemeral: (u16, u16),
    read: std::io::Result<sys::sock_diag::PortSockets>,
) -> NotListening {
    let mut sockets = match read {
        Ok(sockets) => sockets,
        Err(err) => {
            return NotListening {
                bound_only: Vec::new(),
                connections_left: None,
                unseen: Some(Unseen {
                    what: format!(
                        "sockets bound to port {port} without listening, and connections left on it (sock_diag: {err})"
                    ),
                    how: format!("`ss -tanpB sport = :{port}` lists them"),
                    needs_root: false,
                }),
            };
        }
    };
    let range = ephemeral.0..=ephemeral.1;
    if range.contains(&port) {
        sockets.connections.clear();
    }
    sockets.connections.retain(|c| {
        let peer = c.remote.port();
        peer >= EPHEMERAL_ELSEWHERE || range.contains(&peer)
    });
    let open = || {
        sockets
            .connections
            .iter()
            .filter(|c| c.state == sys::sock_diag::ConnectionState::Open)
    };
    let inodes: HashSet<u64> = sockets
        .bound
        .iter()
        .map(|b| b.inode)
        .chain(open().map(|c| c.inode))
        .filter(|inode| *inode != 0)
        .collect();
    let owners = process::owners(&inodes);
    let holder = open()
        .filter_map(|c| owners.get(c.inode))
        .min_by_key(|p| p.pid);
    let holders: HashSet<u32> = open()
        .filter_map(|c| owners.get(c.inode))
        .map(|p| p.pid)
        .collect();
    let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
    let closing = sockets.connections.len() - open().count();
    let connections_left = (!sockets.connections.is_empty()).then(|| ConnectionsLeft {
        port,
        open: count(open().count()),
        pid: holder.map(|p| p.pid),
        process: holder.map(|p| p.command.clone()),
        holders: count(holders.len()),
        closing: count(closing),
    });
    let bound_only = sockets
        .bound
        .into_iter()
        .map(|b| {
            let owner = owners.get(b.inode).cloned();
            HeldListener::new(b, owner.as_ref(), None)
        })
        .collect();
    NotListening {
        bound_only,
        connections_left,
        unseen: None,
    }
}

/// What [`look_past_listeners`] found of a port no listener of any namespace has.
struct Unheld {
    /// UDP sockets on the port: a port published for UDP alone.
    udp: Vec<HeldListener>,
    /// The sockets on the port that do not listen, still being read (see
    /// [`sys::own_port_sockets`]) beside the rest of this host's evidence: the kernel walks its
    /// whole tables for them, about 1 ms whatever the port.
    not_listening: Option<std::thread::JoinHandle<NotListening>>,
    /// Docker's running containers on the port (none when its daemon did not answer).
    docker_running: Vec<sys::docker::Publishing>,
}

/// Where no listener of any namespace has `port`: what else holds it or would: UDP sockets,
/// sockets bound without listening, service sockets, stopped containers.
fn look_past_listeners(facts: &mut Facts, port: u16) -> Unheld {
    let udp = udp_receivers(port);
    let ephemeral = facts
        .ephemeral_ports
        .unwrap_or(host::DEFAULT_EPHEMERAL_PORTS);
    let read = move || not_listening(port, ephemeral);
    let spawned = std::thread::Builder::new()
        .name("not-listening".to_owned())
        .spawn(read);
    if spawned.is_err() {
        read().store(facts);
    }
    service_sockets(facts, port);
    // A stopped container publishes nothing the kernel shows: Docker knows.
    let local_ips: Vec<std::net::IpAddr> = facts
        .addresses
        .iter()
        .filter(|a| a.local)
        .map(|a| a.addr.ip())
        .collect();
    let until = std::time::Instant::now() + DOCKER_ASKED_FOR;
    let docker = sys::docker::stopped_publishing(port, &local_ips, until).unwrap_or_default();
    facts.stopped_containers = docker.stopped;
    facts.unpublished_containers = docker.unpublished;
    if facts.stopped_containers.is_empty() {
        facts.stopped_containers = podman_stopped(port, &local_ips);
    }
    Unheld {
        udp,
        not_listening: spawned.ok(),
        // From the same list (none from a daemon that did not answer, which is not asked
        // again).
        docker_running: docker.running,
    }
}

/// The containers of Podman's that the listeners read run in, from their `conmon`.
fn podman_containers(facts: &Facts) -> Vec<sys::podman::PodmanContainer> {
    let mut pids: Vec<u32> = facts
        .listeners
        .iter()
        .flatten()
        .chain(&facts.foreign)
        .chain(
            facts
                .addresses
                .iter()
                .filter_map(|a| a.holder.as_ref()?.listeners.as_ref())
                .flatten(),
        )
        .filter(|l| l.container == Some(process::ContainerRuntime::Podman))
        .filter_map(|l| l.pid)
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids.into_iter()
        .filter_map(sys::podman::monitored)
        .collect()
}

/// The longest `podman ps` is given: it takes about 80 ms.
const PODMAN_ASKED_FOR: std::time::Duration = std::time::Duration::from_millis(500);

/// The caller's stopped containers of Podman's that publish TCP `port` at one of `ips` (its
/// rootful ones for root, a user's rootless ones): nothing of them is left in the kernel.
fn podman_stopped(port: u16, ips: &[std::net::IpAddr]) -> Vec<sys::docker::StoppedContainer> {
    let until = std::time::Instant::now() + PODMAN_ASKED_FOR;
    let listed = sys::podman::containers(&sys::podman::Whose::Caller, until).unwrap_or_default();
    sys::podman::stopped_publishing(&listed, port, ips)
}

/// Whether the address that connected answers a TLS handshake (certificates not checked: any
/// TLS answer, an alert included, proves the port speaks TLS; plain text or a close does not).
/// `None` when there was no time for it.
async fn speaks_tls(facts: &Facts, options: &Options, until: tokio::time::Instant) -> Option<bool> {
    let addr = facts
        .addresses
        .iter()
        .find(|a| a.attempt.outcome.is_connected())?
        .addr;
    let tls: Target = format!("tls://{addr}").parse().ok()?;
    let probe_options = probe::ProbeOptions {
        insecure: true,
        ..options.probe.clone()
    };
    let left = until.saturating_duration_since(tokio::time::Instant::now());
    // A handshake on loopback or a LAN takes milliseconds: a server that does not answer in a
    // second would not answer the user's client either.
    let timeout = left.min(std::time::Duration::from_secs(1));
    if timeout.is_zero() {
        return None;
    }
    let report = probe::probe(&tls.pin(vec![addr]), &probe_options, timeout).await;
    Some(match report.readiness {
        probe::Readiness::Ready(_) => true,
        // Not any TLS error: a plain server's answer to the ClientHello (nginx's 400) is one.
        probe::Readiness::Failed(probe::ProbeFailure::Protocol(err)) => {
            err.kind == probe::ProtocolErrorKind::Tls && probe::is_tls_answer(&err.detail)
        }
        _ => false,
    })
}

/// The unconnected UDP sockets of this namespace on `port`, with their owners.
fn udp_receivers(port: u16) -> Vec<HeldListener> {
    owned(
        tables::read_udp_receivers()
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.port == port)
            .collect(),
    )
}

/// Sockets of this namespace with their owners, looked up in one walk of `/proc`.
fn owned(receivers: Vec<Listener>) -> Vec<HeldListener> {
    if receivers.is_empty() {
        return Vec::new();
    }
    let inodes: HashSet<u64> = receivers.iter().map(|l| l.inode).collect();
    let owners = process::owners(&inodes);
    receivers
        .into_iter()
        .map(|l| {
            let owner = owners.get(l.inode).cloned();
            HeldListener::new(l, owner.as_ref(), None)
        })
        .collect()
}

/// The sockets on `port` that a container runtime's helper holds for a published port (see
/// [`Facts::container_ports`]): TCP ones of this namespace and of the namespaces that hold a
/// failed address, and `udp`. Where each sends comes from docker-proxy's command line, which
/// container that is from Docker's daemon (one list, asked only for a helper of Docker's, by
/// `until`, unless `docker_running` is its answer already).
fn read_container_ports(
    facts: &mut Facts,
    port: u16,
    udp: &[HeldListener],
    docker_running: Option<Vec<sys::docker::Publishing>>,
    until: std::time::Instant,
) {
    let tcp = facts
        .listeners
        .iter()
        .flatten()
        .chain(
            facts
                .addresses
                .iter()
                .filter_map(|a| a.holder.as_ref()?.listeners.as_ref())
                .flatten(),
        )
        .filter(|l| l.listener.port == port);
    let held: Vec<(HeldListener, bool, process::Publisher)> = tcp
        .map(|l| (l, false))
        .chain(udp.iter().map(|l| (l, true)))
        .filter_map(|(l, udp)| {
            let publisher = process::Publisher::of(l.process.as_deref()?)?;
            Some((l.clone(), udp, publisher))
        })
        .collect();
    if held.is_empty() {
        return;
    }
    let by_docker = if held
        .iter()
        .any(|(_, _, publisher)| *publisher == process::Publisher::Docker)
    {
        docker_running
            .unwrap_or_else(|| sys::docker::running_publishing(port, until).unwrap_or_default())
    } else {
        Vec::new()
    };
    for (held, udp, publisher) in held {
        // docker-proxy's own word: the container's address and port it sends to.
        let to = held
            .pid
            .zip(held.process.as_deref())
            .and_then(|(pid, command)| process::docker_proxy(pid, command))
            .filter(|(proxy_udp, listens, _)| *proxy_udp == udp && listens.port() == port)
            .map(|(_, _, to)| to);
        let listed = by_docker.iter().find(|p| {
            p.udp == udp
                && p.ip == held.listener.address
                && to.is_none_or(|to| {
                    p.container_ips.is_empty() || p.container_ips.contains(&to.ip())
                })
        });
        // Rootful Podman's conmon holds the port itself: its command line names the container.
        let conmon = held
            .pid
            .filter(|_| held.process.as_deref() == Some("conmon"))
            .and_then(sys::podman::conmon_container)
            .map(|(_, name)| name);
        let container_port = ContainerPort {
            runtime: publisher,
            container: listed.map(|p| p.name.clone()).or(conmon),
            address: held.listener.address,
            port,
            container_port: to.map(|to| to.port()).or(listed.map(|p| p.inside)),
            protocol: if udp { "udp" } else { "tcp" },
            pid: held.pid,
            process: held.process.clone(),
        };
        if !facts.container_ports.contains(&container_port) {
            facts.container_ports.push(container_port);
        }
    }
}

/// Whether the gateway of the route to a remote address is looked up: when the attempt found
/// nobody or nothing answered, which a dead gateway does.
fn gateway_wanted(address: &AddressFacts) -> bool {
    !address.local
        && matches!(
            address.attempt.outcome,
            Outcome::HostUnreachable | Outcome::Timeout
        )
}

/// The namespace of this host that holds where the packets of a failed attempt really go (the
/// published port's destination, or the address), read as a holder.
fn holder_of(address: &AddressFacts, unseen: &mut Vec<Unseen>) -> Option<Holder> {
    let (dest, dest_local) = address
        .published
        .as_ref()
        .or(address.published_beside.as_ref().map(|(_, p)| p))
        .map_or((address.addr, address.local), |p| (p.to, p.to_local));
    if dest_local || address.attempt.outcome.is_connected() {
        return None;
    }
    let ip = dest.ip();
    let mut holders = addresses::holders_of(ip);
    if holders.len() > 1 {
        let names: Vec<String> = holders.iter().map(|ns| ns.netns.to_string()).collect();
        unseen.push(Unseen {
            what: format!(
                "which of the network namespaces {} (each holds {ip}) answers here",
                names.join(", ")
            ),
            how: "`ip route get` and `ip link` show the interface the packets leave by".to_owned(),
            needs_root: false,
        });
        return None;
    }
    let ns = holders.pop()?;
    // The gateway, unless looked up already.
    let via = if ip == address.addr.ip() && gateway_wanted(address) {
        address.gateway.as_ref().map(|gateway| gateway.address)
    } else {
        route::path_to(ip, dest.port())
            .gateway
            .map(|hop| hop.address)
    };
    Some(super::holder::holder(
        &ns,
        dest,
        via,
        super::holder::Follow::Dnat,
        unseen,
    ))
}

/// What the reverse-path filter's `dropped` packets were: where it is strict and, for each IPv4
/// address that timed out, whether conntrack saw its reply (which then never reached us).
fn reverse_path(dropped: u64, addresses: &[AddressFacts]) -> ReversePath {
    let mut found = ReversePath {
        dropped,
        ..ReversePath::default()
    };
    if dropped == 0 {
        return found;
    }
    found.strict = sys::netstat::strict_reverse_path();
    if found.strict.is_empty() {
        return found;
    }
    let Some(table) = sys::netstat::conntrack_table() else {
        return found;
    };
    for address in addresses
        .iter()
        .filter(|a| a.addr.is_ipv4() && a.attempt.outcome == Outcome::Timeout)
    {
        match sys::netstat::reply_seen(&table, address.addr) {
            Some(true) => {
                found.conntrack_read = true;
                found.replied.push(address.addr);
            }
            Some(false) => found.conntrack_read = true,
            None => {}
        }
    }
    found
}

/// The first packet of our connection to `address`, as this host's rules see it: leaving by
/// the interface, from the source, that the kernel's lookup for it gives.
fn our_packet(address: &AddressFacts, path: &route::Path) -> Packet {
    let ip = address.addr.ip();
    let source = path.source.or_else(|| host::source_address_for(ip));
    let mut packet = Packet::outgoing(source, ip, address.addr.port());
    packet.dst_local = Some(address.local);
    packet.oif = route::interface_of(path, address.local);
    packet.owner = SocketOwner::this_process();
    // Our end of the attempt: the replies' destination port, which rules on the way in (a
    // jump on `dport 22`, fail2ban's) are judged by.
    packet.sport = address.attempt.local_port.filter(|port| *port != 0);
    packet
}

/// Owner matches name this many uids and gids at most before the rest are left out: each is
/// one more walk of the output path.
const OWNERS_ASKED: usize = 16;

/// Whom a walk asks about, as [`OwnerBlocked`] names them: a uid, or a gid alone, and its name.
type Asked = (Option<u32>, Option<u32>, Option<String>);

/// For each address that connected: the rules of this host's output path that stop the
/// connection for the programs of a user or group the rules name (and of the user who ran
/// `sudo`), though not for ours.
fn blocked_for_others(facts: &mut Facts) {
    let Some(ruleset) = read_rules(facts) else {
        return;
    };
    // No rule matches an owner: nothing can stop another user's programs and not ours.
    if !firewall::has_owner_match(&ruleset) {
        return;
    }
    let (mut uids, gids) = firewall::owner_ids(&ruleset);
    // `meta skuid != 0` names only root; the user who ran `sudo refused why` is the one
    // most likely to run the program, asked about first.
    if let Some(uid) = std::env::var("SUDO_UID").ok().and_then(|u| u.parse().ok()) {
        uids.retain(|&u| u != uid);
        uids.insert(0, uid);
    }
    let ours = SocketOwner::this_process();
    let passwd = fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = fs::read_to_string("/etc/group").unwrap_or_default();
    // Who is asked about: the socket owner of their programs, and how they are named.
    let mut asked: Vec<(SocketOwner, Asked)> = Vec::new();
    // Groups first: a rule on a group is said to be about the group, not about the first
    // user whose primary group it is.
    for gid in gids.into_iter().filter(|&g| Some(g) != ours.gid) {
        let owner = SocketOwner {
            uid: None,
            gid: Some(gid),
        };
        asked.push((owner, (None, Some(gid), host::find_account(&group, gid))));
    }
    let mut seen = std::collections::HashSet::new();
    let users: Vec<_> = uids
        .into_iter()
        .filter(|&u| Some(u) != ours.uid && seen.insert(u))
        .map(|uid| {
            let owner = SocketOwner {
                uid: Some(uid),
                gid: host::primary_gid(&passwd, uid),
            };
            (owner, (Some(uid), None, host::find_account(&passwd, uid)))
        })
        .collect();
    // Room for `sudo`'s user (first of `users`), the one not to leave out.
    asked.truncate(OWNERS_ASKED - 1);
    asked.extend(users);
    asked.truncate(OWNERS_ASKED);
    let indexed = firewall::Indexed::new(&ruleset);
    for address in facts
        .addresses
        .iter_mut()
        .filter(|a| a.attempt.outcome.is_connected())
    {
        let path = route::path_to_socket(address.addr);
        let packet = our_packet(address, &path);
        let published = published(&indexed, &packet);
        // Our own request's: a rule that may stop the server's reply (whose owner matches
        // read the listener's owner, not known here) is not told apart by who connects.
        let stops_request =
            |b: &firewall::Blocker| b.hook == Hook::Output && b.stops == firewall::Stops::Request;
        let met: Vec<_> = blockers(&indexed, &packet, published.as_ref())
            .into_iter()
            .filter(stops_request)
            .collect();
        for (owner, (uid, gid, name)) in &asked {
            let theirs = Packet {
                owner: *owner,
                ..packet.clone()
            };
            for blocker in blockers(&indexed, &theirs, published.as_ref()) {
                let stops_theirs = stops_request(&blocker) && blocker.matches;
                let known = |b: &firewall::Blocker| {
                    (&b.table, &b.chain, b.handle, b.position, &b.rule)
                        == (
                            &blocker.table,
                            &blocker.chain,
                            blocker.handle,
                            blocker.position,
                            &blocker.rule,
                        )
                };
                if stops_theirs
                    && !met.iter().any(known)
                    && !address.blocked_for_others.iter().any(|o| known(&o.blocker))
                {
                    address.blocked_for_others.push(OwnerBlocked {
                        blocker,
                        uid: *uid,
                        gid: *gid,
                        name: name.clone(),
                    });
                }
            }
        }
    }
}

/// The unix sockets that the server of the target's service listens on, when nothing listens on
/// its port: a server configured for its socket alone runs, and is not to be started.
fn service_sockets(facts: &mut Facts, port: u16) {
    let Some(service) = socket_only::service(facts.target.scheme(), port) else {
        return;
    };
    let servers = process::servers(service.commands);
    if servers.is_empty() {
        return;
    }
    let table = tables::read_unix_listeners().unwrap_or_default();
    for listener in &table {
        // The lowest pid that holds it: the parent of a forked server.
        let holder = servers.iter().find(|server| {
            server
                .sockets
                .as_ref()
                .is_some_and(|held| held.contains(&listener.inode))
        });
        if let Some(server) = holder {
            facts.unix_listeners.push(HeldUnixListener {
                path: listener.path.clone(),
                inode: listener.inode,
                pid: server.process.pid,
                process: server.process.command.clone(),
                held_by: HeldBy::Descriptors,
            });
        }
    }
    if facts.unix_listeners.is_empty() {
        facts.unix_listeners = by_file_owner(service, &servers, &table);
    }
    if facts.unix_listeners.is_empty() {
        if let Some(hidden) = servers.iter().find(|server| server.sockets.is_none()) {
            facts.unseen.push(Unseen {
                what: format!(
                    "which sockets {} (pid {}) listens on: {} may listen on a unix socket alone",
                    hidden.process.command, hidden.process.pid, service.name
                ),
                how: AS_ROOT.to_owned(),
                needs_root: true,
            });
        }
    }
}

/// Without root, the descriptors of a server run by another user cannot be read, but its unix
/// socket file can be seen: a listening socket of the kernel's table whose file bears the
/// service's name, belongs to the user the server runs as, and takes a connect (which needs no
/// root) is that server's. The lowest pid of that user stands for it (a forked server's parent).
fn by_file_owner(
    service: &Service,
    servers: &[process::Server],
    table: &[tables::UnixListener],
) -> Vec<HeldUnixListener> {
    let hidden: Vec<(&process::Server, u32)> = servers
        .iter()
        .filter(|server| server.sockets.is_none())
        .filter_map(|server| {
            let uid = fs::metadata(format!("/proc/{}", server.process.pid))
                .ok()?
                .uid();
            Some((server, uid))
        })
        .collect();
    if hidden.is_empty() {
        return Vec::new();
    }
    let mut found: Vec<HeldUnixListener> = Vec::new();
    for listener in table {
        if !socket_only::named_for(service, &listener.path)
            || found.iter().any(|held| held.path == listener.path)
        {
            continue;
        }
        let Ok(metadata) = fs::symlink_metadata(&listener.path) else {
            continue;
        };
        let Some((server, _)) = hidden.iter().find(|(_, uid)| *uid == metadata.uid()) else {
            continue;
        };
        if metadata.file_type().is_socket() && takes_connections(&listener.path, &metadata) {
            found.push(HeldUnixListener {
                path: listener.path.clone(),
                inode: listener.inode,
                pid: server.process.pid,
                process: server.process.command.clone(),
                held_by: HeldBy::FileOwner,
            });
        }
    }
    found
}

/// Whether a server listens on the socket file at `path`: a non-blocking connect is accepted,
/// or waits in a full queue. A connect this user may not make (the file's mode) leaves it to
/// `sock_diag`, which knows the file each listener is bound to.
fn takes_connections(path: &Path, metadata: &fs::Metadata) -> bool {
    let Ok(address) = socket2::SockAddr::unix(path) else {
        return false;
    };
    let Ok(socket) = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)
    else {
        return false;
    };
    if socket.set_nonblocking(true).is_err() {
        return false;
    }
    match socket.connect(&address) {
        Ok(()) => true,
        Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => true,
        Err(err) if err.raw_os_error() == Some(libc::EACCES) => {
            let file = unix_diag::FileId::of(metadata);
            let canonical = fs::canonicalize(path).ok();
            unix_diag::unix_listeners().is_ok_and(|listeners| {
                listeners
                    .iter()
                    .any(|l| l.listens_on(file, path, canonical.as_deref()))
            })
        }
        Err(_) => false,
    }
}

/// This host's firewall rules: nft's ruleset and the iptables-legacy tables beside it; what
/// could not be read is listed as unseen.
fn read_rules(facts: &mut Facts) -> Option<serde_json::Value> {
    let nft = match firewall::read_ruleset() {
        Ok(ruleset) => Some(ruleset),
        Err(err) => {
            let (what, how) = match err {
                FirewallError::NotPermitted => (String::new(), AS_ROOT),
                FirewallError::NoTool => (format!(" ({err})"), "install nftables"),
                FirewallError::Failed(_) => (format!(" ({err})"), "`sudo nft list ruleset`"),
            };
            facts.unseen.push(Unseen {
                what: format!("this host's firewall rules{what}"),
                how: commands::fit(how, facts.privilege, facts.init),
                needs_root: true,
            });
            None
        }
    };
    // Reading them needs root too: without, nft's unseen entry says so for both.
    let legacy = if firewall::has_net_admin() {
        legacy_tables(facts)
    } else {
        Vec::new()
    };
    match (nft, legacy.is_empty()) {
        (None, true) => None,
        (nft, _) => {
            facts.rules_read.nft_unread = nft.is_none();
            Some(firewall::with_legacy(nft.unwrap_or_default(), legacy))
        }
    }
}

/// Where this namespace reaches a listener of another namespace: the address it is bound to,
/// or, bound to every address, its namespace's own.
fn reach_from_here(foreign: &HeldListener) -> Option<SocketAddr> {
    let bound = foreign.listener.address;
    let ip = if bound.is_unspecified() {
        // The socket's owner may live in another namespace than the socket (it entered this
        // one to make it): a named namespace is read by its name.
        let netns = foreign.netns.clone()?;
        let pid = match netns {
            netns::Namespace::Named(_) => None,
            _ => foreign.pid,
        };
        let ns = netns::Other { netns, pid };
        addresses::of_namespace_beside_loopback(&ns, bound.is_ipv4())?
    } else if bound.is_loopback() {
        return None;
    } else {
        bound
    };
    Some(SocketAddr::new(ip, foreign.listener.port))
}

/// Whether a link of this namespace leads to `addr`: a route there that goes through no gateway
/// (a bridge or a veth to the other namespace). A namespace of this host with no link to ours
/// has no route from here, or only the default route, through a gateway away from this host.
fn linked_or_not(addr: SocketAddr) -> ForeignReach {
    let ip = addr.ip();
    let path = route::path_to(ip, addr.port());
    if path.lookup == route::Lookup::Routed && path.gateway.is_none() {
        ForeignReach::Linked(addr)
    } else {
        ForeignReach::Unlinked(addr)
    }
}

/// The route or policy rule of this host that failed the attempt: the kernel's lookup for the
/// same packet fails the same way.
/// The kernel's route for `address` (its lookup, and the route of this host that rejects it),
/// recorded in it; the path, for what else the caller reads of it.
fn read_route(address: &mut AddressFacts) -> route::Path {
    let path = route::path_to_socket(address.addr);
    address.route_lookup = Some(path.lookup);
    address.route = rejected_by_route(&address.attempt, &path);
    path
}

fn rejected_by_route(attempt: &Attempt, path: &route::Path) -> Option<RejectingRoute> {
    let addr = match &attempt.address {
        Address::Inet(addr) => *addr,
        Address::Unix(_) => return None,
    };
    if attempt.errno.is_none() || attempt.errno != path.lookup.errno() {
        return None;
    }
    let flow = route::policy::Flow {
        dst: addr.ip().to_canonical(),
        dport: addr.port(),
        src: path.source,
        uid: rustix::process::geteuid().as_raw(),
    };
    route::rejecting(&flow, path.lookup)
}

/// The DNAT rule of this host's nat output hook that certainly sends the connection elsewhere.
fn published(ruleset: &firewall::Indexed<'_>, packet: &Packet) -> Option<Published> {
    let rule = ruleset
        .dnat(NatHook::Output, packet)
        .into_iter()
        .find(|d| d.certain)?;
    let to = rule.destination(packet)?;
    (to != SocketAddr::new(packet.dst, packet.dport?)).then(|| Published {
        to_local: host::is_local_address(to.ip()),
        rule,
        to,
    })
}

/// The port as the DNAT rules publish it on this host's other address, for a loopback address
/// they skip.
fn published_beside(
    ruleset: &firewall::Indexed<'_>,
    addr: SocketAddr,
) -> Option<(SocketAddr, Published)> {
    let other = addresses::own_beside_loopback(addr.is_ipv4())?;
    let mut packet = Packet::outgoing(Some(other), other, addr.port());
    packet.dst_local = Some(true);
    packet.oif = Interface::Named("lo".to_owned());
    let found = published(ruleset, &packet)?;
    Some((SocketAddr::new(other, addr.port()), found))
}

/// The DNAT of this host's nat prerouting hook that forwards `addr`'s port for a connection
/// arriving from another host (to this host's other address, for a loopback one): the first
/// that surely applies, else the first that may (`-i vmbr0`: an interface such a connection may
/// come in by).
fn forwarded_from_outside(ruleset: &firewall::Indexed<'_>, addr: SocketAddr) -> Option<Published> {
    let dst = if addr.ip().is_loopback() {
        addresses::own_beside_loopback(addr.is_ipv4())?
    } else {
        addr.ip()
    };
    let mut packet = Packet::outgoing(None, dst, addr.port());
    packet.iif = Interface::NotLoopback;
    packet.oif = Interface::None;
    packet.src_local = Some(false);
    packet.dst_local = Some(true);
    packet.owner = SocketOwner::default();
    let rules = ruleset.dnat(NatHook::Prerouting, &packet);
    let rule = rules
        .iter()
        .find(|d| d.certain)
        .or_else(|| rules.first())?
        .clone();
    let to = rule.destination(&packet)?;
    (to != SocketAddr::new(dst, addr.port())).then(|| Published {
        to_local: host::is_local_address(to.ip()),
        rule,
        to,
    })
}

/// The rules of this host that stop a connection: its request on the way out (and, to an
/// address of this host, on the way in), and the server's reply on the way in.
fn blockers(
    ruleset: &firewall::Indexed<'_>,
    packet: &Packet,
    published: Option<&Published>,
) -> Vec<firewall::Blocker> {
    // The nat output hook comes before the filter's: the filter sees a translated destination.
    let mut out = packet.clone();
    if let Some(published) = published {
        let (to, local) = (published.to, published.to_local);
        out.dst = to.ip();
        out.dport = Some(to.port());
        out.dst_local = Some(local);
        out.oif = route::interface_of(&route::path_to(to.ip(), to.port()), local);
        out.dnat = Some(true);
    }
    let mut found = leaving_blockers(ruleset, packet, &out);
    // Sent through a bridge of this host (its address on the bridge, the ports enslaved): the
    // bridge's own tables see the SYN going out and the replies coming in (ebtables' `OUTPUT`
    // and `INPUT`). Asked only when there are such tables.
    let bridged = match &out.oif {
        Interface::Named(dev) if dev != "lo" && ruleset.has_bridge_chains() => {
            sys::interfaces::is_bridge(dev)
        }
        _ => false,
    };
    if bridged {
        found.extend(ruleset.blockers(Hook::BridgeOutput, packet, &out));
    }
    let local = out.dst_local == Some(true);
    if local {
        // A packet to this host itself comes back in by `lo`.
        // Handed to the server's end, it has no owner of ours any more (`lo` orphans it).
        let arriving = Packet {
            iif: Interface::Named("lo".to_owned()),
            oif: Interface::None,
            owner: SocketOwner::default(),
            ..out.clone()
        };
        found.extend(arriving_blockers(ruleset, &arriving));
    }
    if let Some(reply) = out.reply() {
        if local {
            let leaving = Packet {
                iif: Interface::None,
                oif: Interface::Named("lo".to_owned()),
                ..reply.clone()
            };
            found.extend(leaving_blockers(ruleset, &leaving, &leaving));
        }
        found.extend(arriving_blockers(ruleset, &reply));
        if bridged {
            found.extend(ruleset.blockers(Hook::BridgeInput, &reply, &reply));
        }
    }
    found
}

/// The rules that stop a packet this host sends: at output, then at its interface's egress.
fn leaving_blockers(
    ruleset: &firewall::Indexed<'_>,
    sent: &Packet,
    translated: &Packet,
) -> Vec<firewall::Blocker> {
    let mut found = ruleset.blockers(Hook::Output, sent, translated);
    found.extend(ruleset.blockers(Hook::Egress, sent, translated));
    found
}

/// The rules that stop a packet arriving at this host: at its interface's ingress first, then
/// at prerouting, then at input.
fn arriving_blockers(ruleset: &firewall::Indexed<'_>, packet: &Packet) -> Vec<firewall::Blocker> {
    let mut found = ruleset.blockers(Hook::Ingress, packet, packet);
    found.extend(ruleset.blockers(Hook::Prerouting, packet, packet));
    found.extend(ruleset.blockers(Hook::Input, packet, packet));
    found
}

/// The iptables-legacy tables that hold rules (`nft` does not show them), as rulesets to
/// evaluate beside nft's; those that could not be listed are said to be unseen.
fn legacy_tables(facts: &mut Facts) -> Vec<serde_json::Value> {
    let Ok(found) = firewall::legacy::find() else {
        return Vec::new();
    };
    let mut rulesets = Vec::new();
    for legacy in found
        .into_iter()
        .filter(firewall::legacy::LegacyTables::may_matter)
    {
        let (family, command) = (usize::from(legacy.family == "ip6"), legacy.command);
        let legacy = match legacy.into_ruleset() {
            Ok(ruleset) => {
                rulesets.push(ruleset);
                facts.rules_read.legacy_read[family] = Some(command);
                continue;
            }
            Err(unlisted) => unlisted,
        };
        facts.rules_read.legacy_unlisted = true;
        facts.unseen.push(Unseen {
            what: format!(
                "this host's {} tables {}: nftables does not show them, and `{}-save` could not list them",
                legacy.command,
                legacy.tables.join(", "),
                legacy.command,
            ),
            how: format!("`sudo {}-save`", legacy.command),
            needs_root: true,
        });
    }
    rulesets
}

/// Attaches owners to the foreign listeners and to ours that the rules may name.
fn held(facts: &mut Facts, port: u16, own: Vec<Listener>, foreign: Vec<netns::ForeignListener>) {
    let scheme = facts.target.scheme();
    let inodes: HashSet<u64> = own
        .iter()
        .filter(|l| rules::may_name_owner(scheme, port, l.port))
        .map(|l| l.inode)
        .chain(foreign.iter().map(|f| f.listener.inode))
        .collect();
    let owners = process::owners(&inodes);
    let mut unowned = false;
    let mut hold = |listener: Listener, netns: Option<netns::Namespace>, pid: Option<u32>| {
        let found = owners.get(listener.inode).cloned();
        // A namespace found through a process: that process, if the socket's own was not seen.
        let owner = found.or_else(|| pid.map(process::process));
        unowned |= owner.is_none() && inodes.contains(&listener.inode);
        HeldListener::new(listener, owner.as_ref(), netns)
    };
    // Of the listeners a finding may name, those on a specific address: is it still ours?
    let mut asked = HashSet::new();
    facts.absent_addresses = own
        .iter()
        .filter(|l| inodes.contains(&l.inode) && !l.address.is_unspecified())
        .map(|l| l.address.to_canonical())
        .filter(|ip| asked.insert(*ip) && !host::is_local_address(*ip))
        .collect();
    let listeners = own.into_iter().map(|l| hold(l, None, None)).collect();
    facts.foreign = foreign
        .into_iter()
        .map(|f| {
            let listener = hold(f.listener, Some(f.netns), f.pid);
            HeldListener {
                netns_pid: f.pid,
                service_unit: super::namespaced::service_unit(&listener),
                ..listener
            }
        })
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
        icmp: None,
        local_port: None,
    });
    let facts = unix_facts(path, attempt.outcome);
    (attempt, facts)
}

pub(super) fn unix_facts(path: &Path, outcome: crate::Outcome) -> UnixSocketFacts {
    let mut facts = UnixSocketFacts {
        path: path.to_owned(),
        link_target: unix_path::link_target(path),
        exists: Some(false),
        file_type: None,
        mode: None,
        uid: None,
        gid: None,
        user: None,
        group: None,
        listening: None,
        closed_directory: None,
        earlier_listeners: Vec::new(),
        listening_elsewhere: Vec::new(),
        listening_hidden: Vec::new(),
    };
    let metadata = match unix_path::lookup(path) {
        Lookup::Found(metadata) => metadata,
        Lookup::Missing => {
            facts.listening_elsewhere = same_name_elsewhere(path);
            facts.listening_hidden = super::unix_hidden::listeners(path);
            return facts;
        }
        Lookup::Hidden(closed) => {
            facts.exists = None;
            facts.closed_directory = closed;
            return facts;
        }
    };
    let owner = Owner::of(&metadata);
    facts.exists = Some(true);
    facts.file_type = Some(FileType::of(&metadata));
    facts.mode = Some(Mode::from_st_mode(metadata.mode()));
    facts.uid = Some(owner.uid);
    facts.gid = Some(owner.gid);
    facts.user = owner.user;
    facts.group = owner.group;
    if facts.is_socket() {
        let (listening, earlier) = listeners_of(path, &metadata, outcome);
        facts.listening = listening;
        facts.earlier_listeners = earlier_listeners(&earlier);
    }
    facts
}

/// The listening sockets of this namespace whose file has `path`'s name in another folder.
fn same_name_elsewhere(path: &Path) -> Vec<PathBuf> {
    let Some(name) = path.file_name() else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = sys::tables::read_unix_listeners()
        .unwrap_or_default()
        .into_iter()
        .map(|l| l.path)
        .filter(|other| other.file_name() == Some(name) && other != path)
        .collect();
    found.sort();
    found.dedup();
    found
}

/// Whether a socket listens on the very file at `path`, and the socket inodes of those that
/// listen under its name on an earlier file. `sock_diag` knows the file each listener is bound
/// to; without it, the connect's own answer decides, and a refused connect to a socket whose
/// path `/proc/net/unix` lists as listening means that listener holds an earlier file.
fn listeners_of(
    path: &Path,
    metadata: &fs::Metadata,
    outcome: crate::Outcome,
) -> (Option<bool>, Vec<u64>) {
    let canonical = fs::canonicalize(path).ok();
    let canonical = canonical.as_deref();
    if let Ok(listeners) = unix_diag::unix_listeners() {
        let file = unix_diag::FileId::of(metadata);
        let listening = listeners
            .iter()
            .any(|l| l.listens_on(file, path, canonical));
        let earlier = listeners
            .iter()
            .filter(|l| l.has_path(path, canonical) && !l.listens_on(file, path, canonical))
            .map(|l| l.inode)
            .collect();
        return (Some(listening), earlier);
    }
    let table = tables::read_unix_listeners().unwrap_or_default();
    by_outcome(outcome, &table, path, canonical)
}

/// Without `sock_diag`: the connect answered for the file itself (a refusal means nothing
/// listens on it), and a listener that `/proc/net/unix` shows under the same path after a
/// refusal is bound to an earlier file.
fn by_outcome(
    outcome: crate::Outcome,
    table: &[tables::UnixListener],
    path: &Path,
    canonical: Option<&Path>,
) -> (Option<bool>, Vec<u64>) {
    match outcome {
        crate::Outcome::Connected => (Some(true), Vec::new()),
        crate::Outcome::Refused => {
            let earlier = table
                .iter()
                .filter(|l| l.path == path || Some(l.path.as_path()) == canonical)
                .map(|l| l.inode)
                .collect();
            (Some(false), earlier)
        }
        _ => (None, Vec::new()),
    }
}

/// The processes holding sockets that listen on an earlier file of the path.
fn earlier_listeners(inodes: &[u64]) -> Vec<EarlierListener> {
    if inodes.is_empty() {
        return Vec::new();
    }
    let owners = process::owners(&inodes.iter().copied().collect::<HashSet<u64>>());
    inodes
        .iter()
        .map(|&inode| {
            let owner = owners.get(inode);
            EarlierListener {
                inode,
                pid: owner.map(|p| p.pid),
                process: owner.map(|p| p.command.clone()),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Outcome;
    use crate::sys::tables::UnixListener;

    /// A server's end left on a port (its listener closed): counted outside the ephemeral
    /// range, with its holder; on a port of the range, not even read (its owner is not looked
    /// for), as the rule says nothing there.
    #[test]
    fn connections_left_are_not_read_on_an_ephemeral_port() {
        let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (_server_end, _) = listener.accept().unwrap();
        drop(listener);
        let peer = client.local_addr().unwrap().port();
        // The client's port as the whole range: the server's end counts, held by this process.
        let left = not_listening(port, (peer, peer)).connections_left.unwrap();
        assert_eq!((left.port, left.open), (port, 1), "{left:?}");
        assert_eq!(
            (left.pid, left.holders),
            (Some(std::process::id()), 1),
            "{left:?}"
        );
        // The port inside the range: nothing.
        let range = (port.min(peer), port.max(peer));
        assert_eq!(not_listening(port, range).connections_left, None);
    }

    /// Where netlink cannot be asked (a seccomp filter), the sockets on the port are said to
    /// be unseen, not silently none.
    #[test]
    fn sockets_sock_diag_cannot_give_are_unseen() {
        let refused = std::io::Error::from_raw_os_error(libc::EPERM);
        let read = not_listening_in(8080, (32768, 60999), Err(refused));
        assert!(read.bound_only.is_empty() && read.connections_left.is_none());
        let unseen = read.unseen.unwrap();
        assert!(unseen.what.contains("port 8080"), "{unseen:?}");
        assert!(unseen.how.contains("sport = :8080"), "{unseen:?}");
    }

    #[test]
    fn without_sock_diag_the_connect_answers_for_the_file() {
        let path = Path::new("/run/app.sock");
        let table = [
            UnixListener {
                path: path.to_owned(),
                inode: 7,
            },
            UnixListener {
                path: "/run/other.sock".into(),
                inode: 8,
            },
        ];
        assert_eq!(
            by_outcome(Outcome::Refused, &table, path, None),
            (Some(false), vec![7])
        );
        assert_eq!(
            by_outcome(Outcome::Refused, &table[1..], path, None),
            (Some(false), vec![])
        );
        assert_eq!(
            by_outcome(Outcome::Connected, &table, path, None),
            (Some(true), vec![])
        );
        assert_eq!(
            by_outcome(Outcome::PermissionDenied, &table, path, None),
            (None, vec![])
        );
    }
}
