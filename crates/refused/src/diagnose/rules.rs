//! The inference: from facts to one cause, its evidence, and what to do. Plain code that reads
//! top to bottom; every rule is tested on facts made by hand (see the tests below), and the whole
//! in the lab (`crates/refused-cli/tests/it/why_lab.rs`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::outcome::Outcome;
use crate::probe::Readiness;
use crate::resolve::ResolveErrorKind;
use crate::sys::addresses::Ipv6State;
use crate::sys::host::{NameSource, Neighbour};
use crate::sys::netns::Namespace;
use crate::sys::resolv::{Nameserver, NameserverSource, is_resolved_stub};
use crate::sys::route::{RejectingRoute, RouteKind};
use crate::sys::services;
use crate::target::{Endpoint, Scheme};

use super::cause::Cause;
use crate::sys::unix_path::{Class, FileType, Permission};

use super::commands;
use super::evidence::{
    ContainerRuntime, Evidence, HeldListener, Ipv6Switch, LinkState, UnixSocketFacts,
};
use super::facts::{
    AddressFacts, Facts, ForeignReach, Gateway, Init, NamedContainer, OwnerBlocked, Resolution,
    RouteLookup,
};

/// An `EHOSTUNREACH` faster than this came from an ICMP reject, not from neighbour discovery
/// giving up (which takes about 3 s on Linux). Only a guess, for an attempt whose ICMP error was
/// not read (the diagnosis reads it: `diagnose::icmp`): a reject answered after lost SYNs is
/// slower, and a gateway's own host-unreachable can come at any time.
const FAST_UNREACHABLE: Duration = Duration::from_secs(2);

/// What the rules concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The cause.
    pub cause: Cause,
    /// One sentence.
    pub summary: String,
    /// The facts it rests on.
    pub evidence: Vec<Evidence>,
    /// What to do.
    pub suggestions: Vec<String>,
    /// Things that work now but may fail for other clients.
    pub warnings: Vec<String>,
}

impl Finding {
    pub(super) fn new(cause: Cause, summary: impl Into<String>) -> Self {
        Self {
            cause,
            summary: summary.into(),
            evidence: Vec::new(),
            suggestions: Vec::new(),
            warnings: Vec::new(),
        }
    }

    pub(super) fn evidence(mut self, evidence: impl IntoIterator<Item = Evidence>) -> Self {
        self.evidence.extend(evidence);
        self
    }

    pub(super) fn warn(mut self, warnings: impl IntoIterator<Item = String>) -> Self {
        self.warnings.extend(warnings);
        self
    }

    pub(super) fn suggest(mut self, suggestion: impl Into<String>) -> Self {
        self.suggestions.push(suggestion.into());
        self
    }
}

/// An outcome no rule explains (`EMFILE`, an errno we do not know): the caller's failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("connecting to {address} failed in a way `refused` cannot diagnose: {outcome}")]
pub struct Unexplained {
    /// Where.
    pub address: String,
    /// What happened.
    pub outcome: Outcome,
}

/// Names the cause; the suggested commands fit this host (no `sudo` for root, no `systemctl`
/// without systemd).
pub fn infer(facts: &Facts) -> Result<Finding, Unexplained> {
    let mut finding = cause_of(facts)?;
    for suggestion in &mut finding.suggestions {
        *suggestion = commands::fit(suggestion, facts.privilege, facts.init);
    }
    Ok(finding)
}

fn cause_of(facts: &Facts) -> Result<Finding, Unexplained> {
    if let Some((attempt, path)) = facts.unix.as_deref() {
        let name = attempt.address.to_string();
        // It connects, and the server behind it says it is not ready (PostgreSQL's socket,
        // Redis's, an HTTP server's).
        if let Some(readiness @ (Readiness::NotReady(_) | Readiness::Failed(_))) = &facts.probe {
            let protocol = match facts.target.scheme() {
                Scheme::Http => "HTTP",
                Scheme::Redis => "Redis",
                _ => "PostgreSQL",
            };
            let summary = match readiness {
                Readiness::NotReady(_) => format!(
                    "{name} accepts connections, but the {protocol} server behind it is {readiness}"
                ),
                _ => format!(
                    "{name} accepts connections, but the {protocol} exchange failed: {readiness}"
                ),
            };
            return Ok(Finding::new(Cause::NotReady, summary)
                .evidence([Evidence::UnixSocket(path.clone())])
                .suggest(not_ready_fix(facts, readiness)));
        }
        return unix(attempt.outcome, path, &name);
    }
    if let Resolution::Failed(err) = &facts.resolution {
        let mut finding = dns(&err.name, err.kind, &facts.nameservers, facts.init);
        if facts.hosts_has_it_undotted {
            // glibc's files lookup compares names as written: `localhost.` is not `localhost`.
            let undotted = err.name.trim_end_matches('.');
            finding.suggestions.insert(
                0,
                format!(
                    "write `{undotted}`, without the final dot: /etc/hosts has `{undotted}`, but the system resolver matches its names as written, so `{}` was asked of DNS alone",
                    err.name
                ),
            );
        }
        let port = match facts.target.endpoint() {
            Endpoint::Tcp { port, .. } => port.get(),
            Endpoint::Unix(_) => 0,
        };
        return Ok(inside_docker(
            finding,
            &err.name,
            port,
            &facts.named_containers,
        ));
    }
    let mut finding = match facts
        .addresses
        .iter()
        .position(|a| a.attempt.outcome.is_connected())
    {
        Some(connected) => reachable(facts, connected),
        None => most_specific(facts)?,
    };
    reverse_path_warning(facts, &mut finding);
    dad_failed_warning(facts, &mut finding);
    stranded_warning(facts, &mut finding);
    off_link_source_warning(facts, &mut finding);
    // What the name resolved to comes first: it is where every attempt started.
    let mut evidence = resolution_evidence(facts);
    evidence.append(&mut finding.evidence);
    finding.evidence = evidence;
    Ok(finding)
}

/// A remote address that this host routes through `lo` with a plain route: its packets come
/// back in on `lo`, are not for this host, and are dropped. `ip route add PREFIX dev lo` is
/// what a person types for "any IP", where `local` makes every address of it this host's.
fn looped_route(ip: IpAddr, route: &str) -> Finding {
    let six = if ip.is_ipv6() { " -6" } else { "" };
    Finding::new(
        Cause::NetworkUnreachable,
        format!(
            "this host routes {ip} through its loopback interface (`{route}`), yet {ip} is not one of its addresses: the packets never leave this host, and nothing here answers them"
        ),
    )
    .suggest(format!(
        "if every address of it should be this host's (AnyIP), make the route `local`: `sudo ip{six} route del {route}`, then `sudo ip{six} route add local {route}`"
    ))
    .suggest(format!(
        "else remove it, and the route it hid takes {ip} again: `sudo ip{six} route del {route}`"
    ))
}

/// Warns, behind a silence with nothing else to say, of a source address off the link the
/// packets leave by: the other side may have no route back to it (a route's `src`).
fn off_link_source_warning(facts: &Facts, finding: &mut Finding) {
    if finding.cause != Cause::Filtered {
        return;
    }
    // A namespace of this host that holds the address is read for its route back instead.
    for address in facts
        .addresses
        .iter()
        .filter(|a| a.attempt.outcome == Outcome::Timeout && a.holder.is_none())
    {
        if let Some((source, dev)) = &address.off_link_source {
            finding.warnings.push(format!(
                "this host sends to {} from {source}, which is not on {dev}'s network (the route's `src`, or an address of another interface): unless {} and the routers on the way route {source} back to this host, the replies never come; `ip route get {}` shows the source",
                address.addr.ip(),
                address.addr.ip(),
                address.addr.ip()
            ));
        }
    }
}

/// Warns of this host's listeners bound to the failed address, which this host does not have:
/// the program a person sees in `ss` listening there is not where the connection went.
fn stranded_warning(facts: &Facts, finding: &mut Finding) {
    for listener in &facts.stranded {
        let ip = listener.listener.address;
        let every = if ip.is_ipv4() { "0.0.0.0" } else { "::" };
        finding.warnings.push(format!(
            "{} listens on {} on this host, but no interface of this host has {ip} (removed after the program bound it, or bound before it came, with `IP_FREEBIND` or `ip_nonlocal_bind`): the connection went out to the network, and nothing reaches that listener; restart it or bind it to {every}, or bring {ip} back",
            listener.owner(),
            listener.endpoint()
        ));
    }
}

/// An IPv6 address of this host still tentative: until duplicate address detection ends
/// (about a second after it was added) the kernel does not count it as its own, so the connect
/// left the host, and nobody answered for it.
fn tentative(facts: &Facts, addr: SocketAddr) -> Finding {
    let ip = addr.ip();
    Finding::new(
        Cause::HostUnreachable,
        format!(
            "{ip} is being added to this host and is still tentative: until duplicate address detection ends (about a second after it was added), a connection to it leaves the host and nobody answers it"
        ),
    )
    .suggest(format!(
        "try again in a second: `{} why {}`",
        facts.program, facts.target
    ))
    .suggest(format!(
        "a program that tried to bind {ip} meanwhile failed (`Cannot assign requested address`) and must be started again; to have the address usable at once, add it with `nodad` (`ip -6 addr add ... nodad`)"
    ))
}

/// An IPv6 address this host has too, whose duplicate address detection failed: another host
/// on the link has it, and this host ignores that host's neighbour advertisements for an
/// address of its own, so neighbour discovery for it never ends.
fn dad_failed(addr: SocketAddr, dev: &str, prefix: u8) -> Finding {
    let ip = addr.ip();
    Finding::new(
        Cause::HostUnreachable,
        format!(
            "this host has {ip} too (on {dev}), but its duplicate address detection failed: another host on the link has it, and this host ignores that host's answers to neighbour discovery for an address of its own, so it cannot reach it"
        ),
    )
    .suggest(format!(
        "remove this host's copy, if {ip} is the other host's: `sudo ip -6 addr del {ip}/{prefix} dev {dev}`"
    ))
    .suggest("or give one of the two hosts another address; `ip -6 addr show` marks the failed copy `dadfailed`")
}

/// Whether this host's failed copy of the address explains the attempt: no answer, and no
/// neighbour entry that answered (one learned before still carries the packets, and then the
/// silence is the other host's).
fn dad_failure_explains(address: &AddressFacts) -> bool {
    matches!(address.ipv6_state, Some(Ipv6State::DadFailed { .. }))
        && matches!(
            address.attempt.outcome,
            Outcome::Timeout | Outcome::HostUnreachable
        )
        && address.neighbour != Some(Neighbour::Answered)
}

/// Warns of the addresses tried that this host has too, failed (`dadfailed`), when the attempt
/// went on to the other host that has it (its neighbour entry, learned before, still stands).
fn dad_failed_warning(facts: &Facts, finding: &mut Finding) {
    for address in &facts.addresses {
        if let Some(Ipv6State::DadFailed { dev, .. }) = &address.ipv6_state {
            // Its own finding says so (see `dad_failed`).
            if dad_failure_explains(address) {
                continue;
            }
            finding.warnings.push(format!(
                "this host has {} too (on {dev}), but its duplicate address detection failed (`dadfailed` in `ip -6 addr show`): another host on the link has it, and no program here can bind it; once this host's neighbour entry for it is gone, it cannot reach that host either",
                address.addr.ip()
            ));
        }
    }
}

/// Explains every failed address and keeps the finding that says the most. Between two that
/// say as much, one that sends the client to a listener it also tried and failed to reach
/// (`localhost`'s `::1` refused for a listener on 127.0.0.1, which timed out) loses to the
/// finding about that listener, and is kept as a warning.
fn most_specific(facts: &Facts) -> Result<Finding, Unexplained> {
    let rank = |f: &Finding| {
        (
            f.cause.specificity(),
            !points_at_a_failed_listener(facts, f),
        )
    };
    let mut best: Option<Finding> = None;
    let mut passed_over: Vec<Finding> = Vec::new();
    for address in &facts.addresses {
        let finding = hedged(explain(facts, address)?, facts, address);
        match &best {
            Some(b) if rank(&finding) <= rank(b) => passed_over.push(finding),
            _ => passed_over.extend(best.replace(finding)),
        }
    }
    let mut best = best.ok_or_else(|| Unexplained {
        address: facts.target.to_string(),
        outcome: Outcome::Other(None),
    })?;
    for other in passed_over {
        if points_at_a_failed_listener(facts, &other)
            && other.cause.specificity() == best.cause.specificity()
        {
            best.warnings.push(format!("also: {}", other.summary));
        }
    }
    Ok(best)
}

/// Whether `finding` names another address as the fix (a listener there) that the client tried
/// too, and failed: that listener is where the trouble is.
fn points_at_a_failed_listener(facts: &Facts, finding: &Finding) -> bool {
    if !matches!(
        finding.cause,
        Cause::ListeningOnOtherAddress | Cause::ListeningOnOtherFamily
    ) {
        return false;
    }
    finding.evidence.iter().any(|e| match e {
        Evidence::Listener(held) if held.netns.is_none() => facts.addresses.iter().any(|a| {
            !a.attempt.outcome.is_connected()
                && a.addr.port() == held.listener.port
                && held.listener.accepts(a.addr.ip())
        }),
        _ => false,
    })
}

/// A name that does not exist here, which Docker's embedded DNS gives a running container (its
/// name, or its compose service's) inside its networks only: from this host, the port it
/// publishes is the way in, first.
fn inside_docker(
    mut finding: Finding,
    name: &str,
    port: u16,
    containers: &[NamedContainer],
) -> Finding {
    let Some(container) = containers.first() else {
        return finding;
    };
    let what = match &container.service {
        Some(service) => format!(
            "the compose service `{service}` (container `{}`)",
            container.name
        ),
        None => format!("Docker's container `{}`", container.name),
    };
    let way_in = match container.published.as_slice() {
        [] => format!(
            "it publishes no port: publish it (`ports: [\"{port}:{port}\"]` in compose, `docker run -p {port}:{port}`), then connect to localhost:{port}, or run this client in a container on the same network"
        ),
        ports => {
            let ports: Vec<String> = ports
                .iter()
                .map(|published| format!("{published} (its {})", published.inside))
                .collect();
            format!("connect to {} instead", ports.join(" or "))
        }
    };
    finding.suggestions.insert(
        0,
        format!(
            "`{name}` is {what}: Docker's DNS answers that name inside its networks, for other containers, and not on this host; {way_in}"
        ),
    );
    // Several projects with a service of that name: which one was meant is not known.
    if let [_, others @ ..] = containers {
        if !others.is_empty() {
            let names: Vec<String> = others.iter().map(|c| format!("`{}`", c.name)).collect();
            finding.warnings.push(format!(
                "`{name}` also names {} (another compose project's, or another network's): check which one this client means",
                names.join(", ")
            ));
        }
    }
    finding
}

fn dns(name: &str, kind: ResolveErrorKind, nameservers: &[Nameserver], init: Init) -> Finding {
    let evidence = Evidence::DnsError {
        name: name.to_owned(),
        error: kind.as_label(),
        detail: kind.to_string(),
    };
    let lookup = format!("`getent ahosts {name}` shows what this host resolves it to");
    let finding = match kind {
        // A hosts file without its `localhost` lines (a container image's, one written by a
        // script): the name every program expects is gone, and DNS rightly does not know it.
        ResolveErrorKind::NotFound if name.eq_ignore_ascii_case("localhost") => Finding::new(
            Cause::DnsNotFound,
            "`localhost` is not in /etc/hosts, and DNS does not know it".to_owned(),
        )
        .suggest("add the lines every system has to /etc/hosts: `127.0.0.1 localhost` and `::1 localhost ip6-localhost ip6-loopback`")
        .suggest(lookup),
        ResolveErrorKind::NotFound => Finding::new(
            Cause::DnsNotFound,
            format!("`{name}` does not exist: neither /etc/hosts nor DNS knows it"),
        )
        .suggest(format!(
            "check the spelling of `{name}`, or add it to DNS or /etc/hosts"
        ))
        .suggest(lookup),
        ResolveErrorKind::NoAddress => Finding::new(
            Cause::DnsNoAddress,
            format!("`{name}` exists but has no address (no A or AAAA record)"),
        )
        .suggest(format!(
            "add an A or AAAA record for `{name}`, or connect to its address"
        ))
        .suggest(lookup),
        ResolveErrorKind::Timeout
        | ResolveErrorKind::ServerFailure
        | ResolveErrorKind::Other(_) => {
            resolver_failed(name, kind, nameservers, init).suggest(lookup)
        }
    };
    finding.evidence([evidence]).evidence(
        nameservers
            .iter()
            .map(|server| Evidence::Nameserver(server.clone())),
    )
}

/// How to bring back a nameserver of this host that nothing answers for.
fn start_the_resolver(server: &Nameserver, init: Init) -> String {
    match (server.source, &server.dangling_link) {
        (NameserverSource::Default, Some(target)) => {
            return format!(
                "/etc/resolv.conf links to {target}, which does not exist (systemd-resolved writes it while it runs): start systemd-resolved, or make /etc/resolv.conf a file that names a working nameserver"
            );
        }
        (NameserverSource::Default, None) => {
            return "/etc/resolv.conf names no nameserver, so the resolver asks 127.0.0.1: add a `nameserver` line with a working DNS server".to_owned();
        }
        (NameserverSource::ResolvConf, _) => {}
    }
    match (is_resolved_stub(server.address), init) {
        (true, _) if server.resolved_pid.is_some() => format!(
            "systemd-resolved runs (pid {}) but does not receive on {}: its stub listener is off (`DNSStubListener=no` in /etc/systemd/resolved.conf or its resolved.conf.d): turn it back on and restart it, or link /etc/resolv.conf to /run/systemd/resolve/resolv.conf, which names the servers it asks",
            server.resolved_pid.unwrap_or_default(),
            server.address
        ),
        (true, Init::Systemd) => format!(
            "{} is systemd-resolved's stub: start it (`sudo systemctl start systemd-resolved`; `resolvectl status` shows its state)",
            server.address
        ),
        // A container's or pod's copy of its host's file: the stub is the host's, not here.
        (true, Init::Other) => format!(
            "{} is systemd-resolved's stub, and systemd does not run here (a container's copy of its host's /etc/resolv.conf?): name a DNS server this host reaches instead (the host's own are in its /run/systemd/resolve/resolv.conf)",
            server.address
        ),
        (false, _) => format!(
            "start the DNS server meant to listen on {}:53 (dnsmasq, unbound, named...), or point /etc/resolv.conf at a working nameserver",
            server.address
        ),
    }
}

/// `dns-failure`, said from what this host knows of its nameservers: every one of them on this
/// host with nothing receiving on its port (a stopped systemd-resolved or dnsmasq), or a local
/// one that runs but did not answer (its own upstream servers are what failed).
fn resolver_failed(
    name: &str,
    kind: ResolveErrorKind,
    nameservers: &[Nameserver],
    init: Init,
) -> Finding {
    let failed = format!("the resolver failed while looking up `{name}`: {kind}");
    let dead = |n: &Nameserver| n.local && n.listening == Some(false);
    if !nameservers.is_empty() && nameservers.iter().all(dead) {
        let addresses: Vec<String> = nameservers.iter().map(|n| n.address.to_string()).collect();
        let (it, them) = if addresses.len() == 1 {
            ("its nameserver", "nothing receives on its port 53")
        } else {
            ("its nameservers", "nothing receives on their port 53")
        };
        let mut finding = Finding::new(
            Cause::DnsFailure,
            format!(
                "`{name}` could not be looked up: {it} {} {} this host's own, and {them}",
                addresses.join(", "),
                if addresses.len() == 1 { "is" } else { "are" },
            ),
        );
        for server in nameservers {
            finding = finding.suggest(start_the_resolver(server, init));
        }
        return finding;
    }
    if let Some(server) = nameservers
        .iter()
        .find(|n| n.local && n.listening == Some(true))
    {
        let who = server.process.as_ref().map_or_else(
            || "a DNS server of this host".to_owned(),
            |process| format!("{process} (pid {})", server.pid.unwrap_or_default()),
        );
        let whose = server.process.as_ref().map_or_else(
            || "the DNS server's".to_owned(),
            |process| format!("{process}'s"),
        );
        let finding = Finding::new(
            Cause::DnsFailure,
            format!(
                "{failed}; its nameserver {} is {who}, which runs but did not resolve it: the servers it asks in turn may be unreachable",
                server.address
            ),
        );
        return if is_resolved_stub(server.address) {
            finding.suggest("`resolvectl status` shows the DNS servers systemd-resolved asks; `resolvectl query NAME` asks them")
        } else {
            finding.suggest(format!(
                "check the upstream servers in {whose} configuration, and its log"
            ))
        };
    }
    Finding::new(Cause::DnsFailure, failed)
        .suggest("check the nameservers in /etc/resolv.conf: are they up and reachable, and do they answer this host (a server that does not recurse for it answers REFUSED)? `dig NAME @SERVER` shows which")
}

fn reachable(facts: &Facts, connected: usize) -> Finding {
    let winner = &facts.addresses[connected];
    // A stuck member of an SO_REUSEPORT group fails its share of the connections, whichever
    // member ours was hashed to: the same answer every time.
    if winner.local {
        let (_, exact) = on_port(facts.listeners.as_deref().unwrap_or_default(), winner.addr);
        if let Some(mut stuck) = super::reuseport::stuck_member(&exact, winner.addr) {
            stuck
                .summary
                .push_str("; this try was handed to another member and connected");
            return stuck;
        }
    }
    if let Some(Readiness::Denied(reason)) = &facts.probe {
        return super::denied::denied(facts, winner, reason);
    }
    if let Some(readiness @ (Readiness::NotReady(_) | Readiness::Failed(_))) = &facts.probe {
        return not_ready(facts, winner, readiness);
    }
    // A forwarder holds the connection open while its own connect waits on a backend that
    // does not answer: the settle saw nothing wrong, our connect to that backend did.
    if let Some(readiness @ Readiness::Ready(_)) = &facts.probe {
        let (_, holders) = on_port(facts.listeners.as_deref().unwrap_or_default(), winner.addr);
        let summary = format!("{} accepts connections and holds them open", winner.addr);
        if let Some(forwarded) =
            super::forwarded::explain(facts, winner.addr, &summary, readiness, &holders)
        {
            return forwarded;
        }
    }
    let mut finding = Finding::new(
        Cause::Reachable,
        format!(
            "{} accepts connections (connected in {})",
            winner.addr,
            crate::connect::HumanDuration(winner.elapsed())
        ),
    );
    if let Some(Readiness::Ready(answer)) = &facts.probe {
        finding
            .warnings
            .extend(super::denied::pg_hba_rejected(facts, answer));
    }
    let name = match &facts.resolution {
        Resolution::Resolved { name, .. } => format!("`{name}`"),
        _ => "the target".to_owned(),
    };
    let ipv6_off = facts.addresses.iter().find(|a| {
        !a.attempt.outcome.is_connected() && super::loopback::is_ipv6_off_for(facts, a.addr.ip())
    });
    if let Some(failed) = ipv6_off {
        finding.warnings.push(format!(
            "IPv6 is disabled here, yet {name} also gives {}: {} was {}, and clients \
             that try {} first (or only) may fail; connect to {} or enable IPv6 \
             (`sudo sysctl -w {}=0`)",
            failed.addr.ip(),
            failed.addr,
            failed.attempt.outcome,
            failed.addr.ip(),
            winner.addr.ip(),
            super::loopback::ipv6_switch_for(facts, failed.addr.ip()).sysctl(),
        ));
    } else if let Some(first) = facts.addresses.first().filter(|_| connected > 0) {
        finding.warnings.push(format!(
            "{name} gives {} first, and {} was {}: clients that try only the first address \
             (without happy eyeballs, such as Node 17 to 19) fail here; {}",
            first.addr.ip(),
            first.addr,
            first.attempt.outcome,
            failed_too(facts, winner, first, false),
        ));
    } else if let Some(later) = facts.addresses[connected + 1..]
        .iter()
        .find(|a| !a.attempt.outcome.is_connected())
    {
        finding
            .warnings
            .push(later_failed(facts, &name, winner, later));
    }
    for other in &winner.blocked_for_others {
        finding
            .warnings
            .push(blocked_for_others(facts, winner, other));
        finding.evidence.push(Evidence::from(&other.blocker));
    }
    finding
}

/// The warning for an address the name also gives, tried after the one that connected, which
/// failed: clients that take the addresses in another order, or one family only, fail there.
/// Why it failed (who listens where) is what the rules say of it on its own.
fn later_failed(facts: &Facts, name: &str, winner: &AddressFacts, later: &AddressFacts) -> String {
    let ip = later.addr.ip();
    let clients = if ip.is_ipv4() == winner.addr.is_ipv4() {
        // Both of one family: the order, not the family, sends a client there.
        "clients that take the addresses in another order (a resolver that rotates them, a \
         program that takes the last one or picks one at random) fail here"
    } else if ip.is_ipv4() {
        "clients that use IPv4 only or try it first (`curl -4`, Node before 17, Java with \
         `java.net.preferIPv4Stack`, a program that takes the last address) fail here"
    } else {
        "clients that use IPv6 only or try it first (`curl -6`, a resolver set to prefer \
         IPv6, a program that takes the last address) fail here"
    };
    // The listeners are read when a local address failed: then the rules can say why.
    format!(
        "{name} also gives {ip}, and {} was {}: {clients}; {}",
        later.addr,
        later.attempt.outcome,
        failed_too(facts, winner, later, facts.listeners.is_some())
    )
}

/// Why `failed`, an address the name also gives, failed while `winner` connected, and the fix:
/// what the rules say of it alone, for a failure of this host's route (one that rejects it, or
/// none at all: the service has nothing to do with it), and for a reset when `resets_explained`
/// (this host's listeners were read); another failure (a drop, an ICMP error, a neighbour that
/// never answered) is left to `why` of that address, and a reset is the service's, which does
/// not listen there.
fn failed_too(
    facts: &Facts,
    winner: &AddressFacts,
    failed: &AddressFacts,
    resets_explained: bool,
) -> String {
    let ip = failed.addr.ip();
    let reset = matches!(failed.attempt.outcome, Outcome::Refused | Outcome::Reset)
        && failed.attempt.icmp.is_none();
    // Of a failure that is no reset, a target that connected has this host's route read (a
    // route that rejects it, or none at all), not its firewall nor its neighbour table: a
    // drop, an ICMP error or a silent neighbour explained without them would be guessed (a
    // neighbour that never answered said as a firewall's reject).
    let route_read =
        matches!(failed.attempt.outcome, Outcome::NetworkUnreachable) || failed.route.is_some();
    let why = (if reset { resets_explained } else { route_read })
        .then(|| explain(facts, failed).ok())
        .flatten()
        .filter(|f| f.cause != Cause::Reachable);
    let Some(why) = why else {
        return if reset {
            format!(
                "connect to {} or make the service listen on {ip} too",
                winner.addr.ip()
            )
        } else {
            format!(
                "connect to {}; `{} why {}` tells why {} fails",
                winner.addr.ip(),
                facts.program,
                failed.addr,
                failed.addr
            )
        };
    };
    let fixes: Vec<String> = why
        .suggestions
        .iter()
        .map(|s| commands::fit(s, facts.privilege, facts.init))
        .collect();
    if fixes.is_empty() {
        why.summary
    } else {
        format!("{}: {}", why.summary, fixes.join("; "))
    }
}

/// The warning for a rule that stops the connection for another user's programs, though not
/// for ours: `refused why` run as root (or as another user) connects where they are refused.
fn blocked_for_others(facts: &Facts, winner: &AddressFacts, other: &OwnerBlocked) -> String {
    let blocker = &other.blocker;
    let (does, so) = match blocker.verdict {
        crate::sys::firewall::Verdict::Reject => ("rejects", "are refused"),
        crate::sys::firewall::Verdict::Drop => ("drops", "time out"),
    };
    let how = if blocker.certain { "" } else { " probably" };
    let us = match facts.privilege {
        super::facts::Privilege::Root => "as root",
        super::facts::Privilege::User => "as this user",
    };
    let fix = blocked::fix(
        Finding::new(Cause::BlockedLocally, String::new()),
        blocker,
        winner.addr,
        "sudo",
    );
    let remove = fix.suggestions.first().map_or_else(String::new, |s| {
        format!("{}; or ", commands::fit(s, facts.privilege, facts.init))
    });
    format!(
        "this host's own firewall{how} {does} connections to {} from programs of {}: {}; this check ran {us}, which the rule does not match, so it connects while their programs {so}: {remove}run the program as a user it does not match",
        winner.addr,
        other.who(),
        blocked::placed(blocker),
    )
}

/// It connects, but the service behind it is not ready: its protocol says so, or the
/// connection is closed or reset as soon as it is accepted.
fn not_ready(facts: &Facts, winner: &AddressFacts, readiness: &Readiness) -> Finding {
    let (addr, scheme) = (winner.addr, facts.target.scheme());
    let summary = match (scheme, readiness) {
        (Scheme::Tcp | Scheme::Unix, _) => format!("{addr} accepts connections, but {readiness}"),
        (_, Readiness::NotReady(_)) => format!(
            "{addr} accepts connections, but the {} service is {readiness}",
            scheme.as_str()
        ),
        // The certificate's fix is the finding's, not the summary's.
        _ => match certificate_problem(readiness) {
            Some((problem, _)) => format!(
                "{addr} accepts connections, but the {} exchange failed: {problem}",
                scheme.as_str()
            ),
            None => format!(
                "{addr} accepts connections, but the {} exchange failed: {readiness}",
                scheme.as_str()
            ),
        },
    };
    let (_, holders) = on_port(facts.listeners.as_deref().unwrap_or_default(), addr);
    // A hung program's queue takes one connection past its backlog: that connect "works".
    if let Some(full) = super::unaccepted::not_accepting(addr, scheme, readiness, &holders) {
        return full;
    }
    // A stopped program's queue still has room: each connect "works", nothing answers.
    if let Some(stopped) = super::unaccepted::stopped_listener(addr, scheme, readiness, &holders) {
        return stopped;
    }
    // Rootful Podman's conmon reserves a published port and never accepts.
    if let Some(reserved) = super::placeholder::reserved_only(facts, addr, readiness, &holders) {
        return reserved;
    }
    // A port proxy whose own connect failed closes ours: the cause is where it sends it.
    if let Some(proxied) = super::elsewhere::proxied(facts, addr) {
        return proxied;
    }
    // Rootless Podman's rootlessport, likewise: where its child connects inside the container.
    if let Some(rootless) = super::elsewhere::rootless(facts, winner, readiness) {
        return rootless;
    }
    // A forwarder (socat, ssh, kubectl) that ended it before the service answered, whatever
    // the protocol: where its command line sends it says why.
    if let Some(forwarded) = super::forwarded::explain(facts, addr, &summary, readiness, &holders) {
        return forwarded;
    }
    // A firewall's rate limit that drops the packets after the handshake's first.
    if let Some(limited) = super::rate_limit::explain(winner, &summary, readiness) {
        return limited.evidence(listed(&holders));
    }
    // An HTTP front end's own answer: no backend, a rate limit, a close on purpose.
    if let Some(front) =
        super::front_end::explain(facts, addr, &summary, readiness, holders.first().copied())
    {
        return front.evidence(listed(&holders));
    }
    let finding = Finding::new(Cause::NotReady, summary).evidence(listed(&holders));
    if matches!(scheme, Scheme::Tcp | Scheme::Unix) {
        // Closed as soon as accepted: waiting does not help a proxy whose backend is down or
        // unreachable (a container's program bound to its own loopback looks the same).
        return finding.suggest(proxy_fix(holders.first().copied()));
    }
    finding.suggest(not_ready_fix(facts, readiness))
}

/// A timeout to an IPv4 address whose reply conntrack saw while this host's strict
/// reverse-path filter dropped packets: the reply came back by another interface than the
/// route out (policy routing, a second interface, a VPN), and the filter dropped it before our
/// socket saw it. Only conntrack's word ties the namespace's counter to this connection.
fn reverse_path_drop(facts: &Facts, address: &AddressFacts) -> Option<Finding> {
    let reverse = facts.reverse_path.as_ref()?;
    if address.attempt.outcome != Outcome::Timeout || !reverse.replied.contains(&address.addr) {
        return None;
    }
    let addr = address.addr;
    let finding = Finding::new(
        Cause::BlockedLocally,
        format!(
            "this host's reverse-path filter drops the replies from {addr}: conntrack saw the reply, which never reached the connection, while the filter, strict here (`rp_filter` 1), dropped {} packet{}: the replies come in by another interface than the route to {} leaves by",
            reverse.dropped,
            if reverse.dropped == 1 { "" } else { "s" },
            addr.ip()
        ),
    );
    Some(reverse_path_fixes(finding, reverse, addr))
}

/// The evidence of the reverse-path filter's drops and how to stop them.
fn reverse_path_fixes(
    finding: Finding,
    reverse: &super::facts::ReversePath,
    addr: SocketAddr,
) -> Finding {
    let mut finding = finding.evidence([Evidence::ReversePathFilter {
        dropped: reverse.dropped,
        strict_interfaces: reverse.strict.clone(),
    }]);
    for interface in reverse.strict.iter().take(3) {
        finding = finding.suggest(format!(
            "if the replies come in by {interface}, make its filter loose: `sudo sysctl -w net.ipv4.conf.{interface}.rp_filter=2`"
        ));
    }
    finding.suggest(format!(
        "or make the way back the way out: `ip route get {}` shows the route out; the replies come in elsewhere (an `ip rule`, a VPN, a second interface with its own default route)",
        addr.ip()
    ))
}

/// A timeout that the finding does not put on the reverse-path filter, while the filter,
/// strict somewhere, dropped packets and conntrack could not say whose: a warning, with the
/// counter (namespace-wide: other traffic counts too).
fn reverse_path_warning(facts: &Facts, finding: &mut Finding) {
    let Some(reverse) = facts.reverse_path.as_ref() else {
        return;
    };
    if reverse.dropped == 0
        || reverse.strict.is_empty()
        || reverse.conntrack_read
        || finding.cause == Cause::BlockedLocally
    {
        return;
    }
    let Some(address) = facts
        .addresses
        .iter()
        .find(|a| a.addr.is_ipv4() && a.attempt.outcome == Outcome::Timeout)
    else {
        return;
    };
    finding.warnings.push(format!(
        "this host's reverse-path filter, strict on {}, dropped {} packet{} while the connection was tried (the namespace's counter: whose, it cannot tell without root and conntrack): if they were the replies from {}, they come in by another interface than the route out; `sudo sysctl -w net.ipv4.conf.IFACE.rp_filter=2` makes it loose",
        reverse.strict.join(", "),
        reverse.dropped,
        if reverse.dropped == 1 { "" } else { "s" },
        address.addr
    ));
}

/// Whether a rule's text matches `addr`'s port or address by name: a `dport` (`tcp dport
/// 5432`, `--dport 5432`, `--dports 22,5432`, a range `8000-8100` or `8000:8100`) or a
/// destination (`ip daddr 10.0.0.5`, `-d 10.0.0.0/24`) that holds it. A rule written for this
/// target, not a general one; a negated operand (`!=`, `!`) names nothing, and numbers
/// elsewhere (a mark, a comment, an octet) are not read.
fn names_target(rule: &crate::sys::firewall::Blocker, addr: SocketAddr) -> bool {
    let words: Vec<&str> = rule
        .rule
        .split(|c: char| c.is_whitespace() || matches!(c, ',' | '{' | '}'))
        .filter(|w| !w.is_empty())
        .collect();
    let port = addr.port();
    for (at, word) in words.iter().enumerate() {
        let operands = words[at + 1..].iter().skip_while(|w| **w == "==").copied();
        match *word {
            "dport" | "--dport" | "--dports" | "--destination-port" | "--destination-ports" => {
                if words.get(at + 1).is_some_and(|w| matches!(*w, "!=" | "!")) {
                    continue;
                }
                for operand in operands {
                    match port_range(operand) {
                        Some((low, high)) if (low..=high).contains(&port) => return true,
                        Some(_) => {}
                        None => break,
                    }
                }
            }
            "daddr" | "-d" | "--destination" | "--dst" => {
                if words.get(at + 1).is_some_and(|w| matches!(*w, "!=" | "!")) {
                    continue;
                }
                if operands
                    .take_while(|w| network_holds(w, addr.ip()).is_some())
                    .any(|w| network_holds(w, addr.ip()) == Some(true))
                {
                    return true;
                }
            }
            _ => {}
        }
    }
    false
}

/// A port or a range of them as rules write it (`80`, `8000-8100`, `8000:8100`).
fn port_range(word: &str) -> Option<(u16, u16)> {
    if let Some((low, high)) = word.split_once(['-', ':']) {
        return Some((low.parse().ok()?, high.parse().ok()?));
    }
    let port = word.parse().ok()?;
    Some((port, port))
}

/// Whether an address or network as rules write it (`10.0.0.5`, `10.0.0.0/24`) holds `ip`;
/// `None` when the word is neither.
fn network_holds(word: &str, ip: IpAddr) -> Option<bool> {
    let (network, length) = crate::sys::prefix::parse(word)?;
    Some(crate::sys::prefix::holds(network, length, ip))
}

/// The problem and the fix of a server's certificate that the TLS handshake rejected.
fn certificate_problem(readiness: &Readiness) -> Option<(&str, &str)> {
    match readiness {
        Readiness::Failed(crate::probe::ProbeFailure::Protocol(err))
            if err.kind == crate::probe::ProtocolErrorKind::Tls =>
        {
            crate::probe::certificate_problem(&err.detail)
        }
        _ => None,
    }
}

/// `target` asked in another scheme (`http://` to `https://`), at the port the server answered
/// on: an implicit one was the old scheme's default, which the new one would not use.
pub(super) fn other_scheme(target: &crate::Target, from: &str, to: &str) -> String {
    let url = target.to_string();
    let port = match target.endpoint() {
        Endpoint::Tcp { port, .. } => port.get(),
        Endpoint::Unix(_) => 0,
    };
    // `HTTP://` as typed: schemes are case-insensitive.
    let Some(rest) = url
        .get(..from.len())
        .filter(|scheme| scheme.eq_ignore_ascii_case(from))
        .map(|_| &url[from.len()..])
    else {
        return format!("{to}...");
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let explicit = authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok());
    if explicit {
        format!("{to}{rest}")
    } else {
        format!("{to}{authority}:{port}{tail}")
    }
}

/// The fix for a port (or a unix socket) whose program answered in another protocol than the
/// target's scheme (an SSH server's banner to `http://`, an SMTP greeting to `postgres://`): it
/// will never answer in the scheme's, so no wait; the service is on another port, or another
/// program has its.
fn another_service(facts: &Facts, answer: &str) -> String {
    let scheme = facts.target.scheme().as_str();
    // The greetings servers send first, by how they begin.
    let heard = [
        ("SSH-", "an SSH server"),
        ("220", "an SMTP or FTP server"),
        ("+OK", "a POP3 server"),
        ("* OK", "an IMAP server"),
        ("HTTP/", "an HTTP server"),
        ("-ERR", "a Redis server"),
    ]
    .iter()
    .find(|(start, _)| {
        answer.contains(&format!("`{start}")) || answer.contains(&format!("\"{start}"))
    })
    .map_or_else(String::new, |(_, what)| {
        format!(" (by its first words, {what})")
    });
    // Over a unix socket (`redis+unix://`, `http+unix://`) there is no port: its path.
    if let Endpoint::Unix(path) = facts.target.endpoint() {
        let path = path.display();
        return format!(
            "waiting does not help: the program on {path} speaks another protocol than {scheme}{heard}: the {scheme} server's socket is at another path (`ss -lxp` lists them), or this socket is another service's"
        );
    }
    let usual = facts
        .target
        .scheme()
        .default_port()
        .map_or_else(String::new, |port| {
            format!("; {scheme}'s usual port is {port}")
        });
    let port = facts.target.port().map_or(0, crate::Port::get);
    format!(
        "waiting does not help: the program on port {port} speaks another protocol than {scheme}{heard}: the {scheme} service listens on another port (`ss -ltnp` lists them{usual}), or this port is another service's"
    )
}

/// What to do about a service that answered but not as ready: wait, unless waiting cannot
/// change the answer (the wrong scheme for the port, a path the server does not have, a
/// request it refuses, a certificate this host does not accept).
fn not_ready_fix(facts: &Facts, readiness: &Readiness) -> String {
    let (program, target) = (&facts.program, &facts.target);
    let text = match readiness {
        Readiness::NotReady(text) => text.as_str(),
        Readiness::Failed(crate::probe::ProbeFailure::Protocol(err)) => err.detail.as_str(),
        _ => "",
    };
    if text.contains(crate::probe::SPEAKS_TLS) {
        // No URL names HTTPS over a unix socket (no `https+unix://`): curl asks it so.
        if let Endpoint::Unix(path) = target.endpoint() {
            let path = path.display();
            let request = Some(target.path()).filter(|p| !p.is_empty()).unwrap_or("/");
            return format!(
                "waiting does not help: the socket speaks TLS, which `{program}` does not ask over a unix socket: `curl --unix-socket {path} https://localhost{request}` asks it over TLS, and `{program} check unix://{path}` that it accepts"
            );
        }
        return format!(
            "the port speaks TLS: use `{}`",
            other_scheme(target, "http://", "https://")
        );
    }
    if text.contains(crate::probe::SPEAKS_HTTP2) {
        let port = other_scheme(target, "http://", "tcp://");
        let port = port
            .split(['/', '?', '#'])
            .take(3)
            .collect::<Vec<_>>()
            .join("/");
        return format!(
            "waiting does not help: the port speaks HTTP/2 alone, which `{program} check` asks in HTTP/1.1: `curl --http2-prior-knowledge {target}` asks it in HTTP/2, `grpc_health_probe -addr=...` a gRPC server's health, and `{program} check {port}` that the port accepts"
        );
    }
    if text.contains(crate::probe::PLAIN_NOT_TLS) {
        return if target.scheme() == Scheme::Https {
            format!(
                "the port speaks plain HTTP (or another protocol), not TLS: use `{}`, or the server's TLS port",
                other_scheme(target, "https://", "http://")
            )
        } else {
            "the port does not speak TLS: check the port, or use the service's TLS port".to_owned()
        };
    }
    if let Some((_, fix)) = certificate_problem(readiness) {
        return format!("waiting does not change the server's certificate: {fix}");
    }
    if let Some(fix) = connections_taken(facts, text) {
        return fix;
    }
    if let Readiness::Failed(crate::probe::ProbeFailure::Protocol(err)) = readiness {
        if err.kind == crate::probe::ProtocolErrorKind::NotTheProtocol {
            return another_service(facts, text);
        }
    }
    let status = text
        .strip_prefix("HTTP ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|_| matches!(target.scheme(), Scheme::Http | Scheme::Https));
    match status {
        Some(404 | 410) => format!(
            "the server answers that it has no such path: check the URL's path; a proxy (an ingress, Traefik) answers so too until its backend registers, so if one is starting, wait with `{program} wait {target} --status 200-499`, which takes any answer"
        ),
        Some(401 | 403 | 407) => format!(
            "the server is up and refuses this request without credentials: waiting does not change that; if an answer is enough, `{program} wait {target} --status 200-399,{}`",
            status.unwrap_or(401)
        ),
        Some(code @ 400..=499) if code != 408 && code != 429 => format!(
            "the server is up and rejects this request (HTTP {code}): check the URL; waiting does not change that"
        ),
        // A gateway's own answers: its upstream, not the server that answered, failed.
        Some(code @ (502 | 504)) => {
            let failed = if code == 502 {
                "refused, closed or garbled the connection"
            } else {
                "did not answer in time"
            };
            format!(
                "HTTP {code} comes from a proxy (nginx, HAProxy, a load balancer, an ingress) whose upstream {failed}: its error log names the upstream (nginx: `connect() failed (111: Connection refused) while connecting to upstream, ... upstream: \"http://HOST:PORT/\"`), and `{program} why HOST:PORT` says why; waiting helps only if the upstream is starting"
            )
        }
        _ => format!(
            "the service is up but not ready: wait for it (`{program} wait {target}`), or look at its logs"
        ),
    }
}

/// A database whose connections are all taken (MySQL's `Too many connections`, PostgreSQL's
/// `too many clients already`): its clients hold them, and waiting helps only when they let go.
fn connections_taken(facts: &Facts, text: &str) -> Option<String> {
    let (program, target) = (&facts.program, &facts.target);
    let who = match target.scheme() {
        Scheme::Mysql
            if text.ends_with(&format!("({})", crate::probe::mysql::TOO_MANY_CONNECTIONS)) =>
        {
            "`SHOW PROCESSLIST` on the server names them"
        }
        Scheme::Postgres if text.ends_with("(53300)") => {
            "`SELECT usename, application_name, client_addr, state FROM pg_stat_activity` on the server names them"
        }
        _ => return None,
    };
    Some(format!(
        "the server's connections are all taken (its `max_connections`): its clients hold them ({who}); a connection pool larger than the server allows, or a program that does not close its connections, does that; `{program} wait {target}` ends when some are closed; else raise `max_connections`, or make the pools smaller"
    ))
}

/// What to do about a listener that accepts and drops: the backend of a proxy is down.
pub(super) fn proxy_fix(holder: Option<&HeldListener>) -> String {
    match holder.and_then(|h| h.process.as_deref()) {
        Some("docker-proxy") => "docker-proxy publishes this port, but the container behind it \
            does not answer: `docker ps` (is it running?) and `docker logs` on it; a program in \
            the container must listen on 0.0.0.0, not on its own 127.0.0.1"
            .to_owned(),
        Some(process) => format!(
            "{process} accepts and drops the connection: if it is a proxy or load balancer, \
             the backend behind it is down or does not accept from it (a backend bound to its \
             own 127.0.0.1 in a container); else look at its logs for why it closes"
        ),
        None => "a port proxy or load balancer whose backend is down does this; else the \
            server closes connections on purpose (an allowlist, a limit): look at its logs"
            .to_owned(),
    }
}

/// The evidence of a resolved name: one line per address.
pub fn resolution_evidence(facts: &Facts) -> Vec<Evidence> {
    match &facts.resolution {
        Resolution::Resolved {
            name,
            addresses,
            source,
        } => addresses
            .iter()
            .map(|address| Evidence::Resolved {
                name: name.clone(),
                address: *address,
                family: if address.is_ipv4() { "ipv4" } else { "ipv6" },
                source: *source,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// A cause the unread part of this host's firewall could also explain, said so: without root
/// nft shows nothing, and iptables-legacy tables that could not be listed are not evaluated; a
/// local reject, drop or
/// DNAT rule among them would look the same.
fn hedged(mut finding: Finding, facts: &Facts, address: &AddressFacts) -> Finding {
    let unread = facts.own_rules_unread(address);
    let unsure = match finding.cause {
        Cause::Closed | Cause::Filtered => facts.rules_read.legacy_unlisted,
        // An ICMP error read from the socket names a sender other than this host: nothing of
        // ours looks the same.
        Cause::Rejected => {
            (unread || facts.rules_read.legacy_unlisted) && address.attempt.icmp.is_none()
        }
        Cause::NoListener => unread && address.local,
        _ => false,
    };
    if !unsure || finding.summary.contains("could not be read") {
        return finding;
    }
    let what = if finding.cause == Cause::NoListener {
        "a DNAT rule of this host that publishes the port elsewhere"
    } else {
        "a rule of this host's own firewall"
    };
    let which = if unread {
        "this host's firewall rules could not be read"
    } else {
        "this host's iptables-legacy rules were not evaluated"
    };
    finding.summary = format!(
        "{}; {which}, and {what} would look the same",
        finding.summary
    );
    finding.suggestions.push(if unread {
        to_read_rules(facts, "tells them apart")
    } else {
        "`sudo iptables-legacy-save` shows the legacy rules (and `sudo ip6tables-legacy-save`)"
            .to_owned()
    });
    finding
}

/// Explains one failed address.
pub(super) fn explain(facts: &Facts, address: &AddressFacts) -> Result<Finding, Unexplained> {
    let outcome = address.attempt.outcome;

    // This namespace's loopback carries every connection to its own addresses: down, or
    // without IPv6, nothing else about them matters.
    if let Some(finding) = super::loopback::explain(facts, address) {
        return Ok(finding);
    }
    match &address.ipv6_state {
        Some(Ipv6State::Tentative) => return Ok(tentative(facts, address.addr)),
        Some(Ipv6State::DadFailed { dev, prefix }) if dad_failure_explains(address) => {
            return Ok(dad_failed(address.addr, dev, *prefix));
        }
        _ => {}
    }
    // A route of this host failed it: nothing was sent.
    if let Some(route) = &address.route {
        return Ok(rejected_by_route(address.addr, route));
    }
    if let Some(route) = &address.looped {
        return Ok(looped_route(address.addr.ip(), route));
    }
    // No route found, nothing sent: a throw route ended the lookup.
    if let (Some(thrown), Outcome::NetworkUnreachable) = (&address.thrown, outcome) {
        return Ok(thrown_route(address.addr.ip(), thrown));
    }
    // This host's conntrack dropped the SYN, its table full: before any rule saw it.
    if let Some(finding) = super::conntrack::full_table(facts, address) {
        return Ok(finding);
    }
    // This host's `notrack` left the request untracked, and its rules drop the invalid reply.
    if let Some(finding) = super::untracked::finding(facts, address) {
        return Ok(finding);
    }
    // This host's own firewall, when its rules say so (and the outcome fits the verdict).
    let Some(by_rule) = blocked::by_rule(address) else {
        return beyond_the_rules(facts, address);
    };
    // An ICMP error kept on the socket came from another host (this host's own are left out):
    // the packet left, and that host answered. It outranks a rule here that only may match.
    let certain = by_rule.evidence.iter().any(|e| match e {
        Evidence::FirewallRule(rule) => rule.certain,
        _ => false,
    });
    if !certain {
        if let Some(finding) = super::icmp::explain(address) {
            return Ok(finding);
        }
    }
    let rule = by_rule.evidence.iter().find_map(|e| match e {
        Evidence::FirewallRule(rule) if !rule.certain => Some(rule),
        _ => None,
    });
    // A drop whose own matches were not all evaluated (a mark, an interface, the port of a
    // reply), and that does not name our port or address, may not apply at all: against a
    // timeout, which a firewall anywhere on the way explains as well (`filtered` says so), it
    // is no cause but a warning. (On a Kubernetes node, kubelet's `KUBE-FIREWALL` drop of
    // marked packets was blamed for every timeout, with `iptables -D`.) A rule written for
    // this port stays the likely cause; a refusal is another matter: see below.
    if let Some(rule) = rule.filter(|rule| {
        !rule.matches && outcome == Outcome::Timeout && !names_target(rule, address.addr)
    }) {
        if let Ok(mut finding) = beyond_the_rules(facts, address) {
            let does = match rule.verdict {
                crate::sys::firewall::Verdict::Drop => "drop",
                crate::sys::firewall::Verdict::Reject => "reject",
            };
            finding.warnings.push(format!(
                "a rule of this host's firewall may {does} it too, though it depends on what the rules alone cannot tell (a mark, an interface, a port of ours): {}",
                blocked::placed(rule)
            ));
            return Ok(finding);
        }
    }
    // A rule that only may reject, against a refusal that nothing listening where the packet
    // went explains for sure (the socket table read, and no socket there that could take it):
    // the kernel's own reset is the answer, and the rule a warning.
    if let (Some(rule), Outcome::Refused, Some(_)) = (rule, outcome, &facts.listeners) {
        if let Ok(mut finding) = beyond_the_rules(facts, address) {
            if matches!(
                finding.cause,
                Cause::NoListener
                    | Cause::WrongPort
                    | Cause::ListeningOnOtherAddress
                    | Cause::ListenerInOtherNamespace
            ) {
                finding.warnings.push(format!(
                    "a rule of this host's firewall may reject it too (it has matches that were not evaluated): `{}` (table `{}`, chain `{}`)",
                    rule.rule, rule.table, rule.chain
                ));
                return Ok(finding);
            }
        }
    }
    Ok(by_rule)
}

/// [`explain`] past this host's firewall rules: a published port, this host's listeners, a
/// namespace that holds the address, what the remote side answered.
fn beyond_the_rules(facts: &Facts, address: &AddressFacts) -> Result<Finding, Unexplained> {
    let addr = address.addr;
    let outcome = address.attempt.outcome;
    let took = crate::connect::HumanDuration(address.elapsed());
    if let Some(published) = &address.published {
        return super::elsewhere::published(facts, address, published);
    }
    if address.local {
        return local(facts, address);
    }
    // This host's own link is down: nothing left it, whatever holds the address.
    if let Some(finding) = link_down(address) {
        return Ok(finding);
    }
    // This host's reverse-path filter dropped packets while it was tried: the replies, which
    // never reach the socket (also when another namespace of this host holds the address).
    if let Some(finding) = reverse_path_drop(facts, address) {
        return Ok(finding);
    }
    // An ICMP error from a router on the way (a libvirt host's `LIBVIRT_FWI` reject): the
    // packet never reached the namespace that holds the address, whose listeners say nothing
    // of it.
    let from_router = address
        .attempt
        .icmp
        .as_ref()
        .is_some_and(|icmp| icmp.from.is_some_and(|from| from != addr.ip()));
    if let Some(finding) = from_router.then(|| super::icmp::explain(address)).flatten() {
        // What listens behind it, which the reject keeps the connection from.
        let listeners = address.holder.as_ref().and_then(|h| h.listeners.as_deref());
        let exact = listeners.map(|l| on_port(l, addr).1).unwrap_or_default();
        return Ok(finding.evidence(listed(&exact)));
    }
    if let Some(finding) = address.holder.as_ref().and_then(|holder| {
        super::elsewhere::held(
            facts,
            address,
            addr,
            holder,
            super::elsewhere::Sent::Directly,
        )
    }) {
        return Ok(super::dropper::named(finding, address));
    }
    // The ICMP error that ended the attempt says who answered and how: no guess from timing.
    if let Some(finding) = super::icmp::explain(address) {
        return Ok(finding);
    }
    let host = addr.ip();
    let port = addr.port();
    let finding = match outcome {
        Outcome::Refused | Outcome::Reset if address.blockers.is_none() => Finding::new(
            Cause::Closed,
            format!("{host} answered with a reset, or something did in its name: nothing listens on port {port} there, or a firewall rejects it; this host's own rules could not be read, and a local `reject with tcp reset` rule looks the same"),
        )
        .suggest(format!("start the service on {host}, or check its port: on that host, `ss -ltnp` lists what listens"))
        .suggest(to_read_rules(facts, "tells a local reject from a remote reset")),
        Outcome::Refused | Outcome::Reset => Finding::new(
            Cause::Closed,
            format!("{host} is up and answered with a reset: nothing listens on port {port} there"),
        )
        .suggest(format!("start the service on {host}, or check its port: on that host, `ss -ltnp` lists what listens"))
        .suggest(format!("if something does listen there, a firewall on {host} rejects port {port} with a reset")),
        Outcome::Timeout if is_next_hop_dead(address) => unreachable_host(address),
        Outcome::Timeout => unless_local_rules(facts, address, Finding::new(
            Cause::Filtered,
            if address.blockers.is_none() {
                format!("no answer from {addr} within {took}: a firewall drops the packets (this host's own included: its rules could not be read), or the path is broken")
            } else {
                format!("no answer from {addr} within {took}: a firewall drops the packets, or the path is broken")
            },
        )
        .suggest(format!("check the firewall of {host} and any security group or network ACL on the way for TCP port {port}"))
        .suggest("if the host is slow rather than filtered, try a longer `--timeout`")),
        // A dead next hop fails every packet queued on it at once: a connect that joined its
        // neighbour discovery late fails fast, as an ICMP reject would.
        Outcome::HostUnreachable if address.elapsed() < FAST_UNREACHABLE && !is_next_hop_dead(address) => {
            unless_local_rules(facts, address, Finding::new(
                Cause::Rejected,
                format!("{addr} was rejected within {took} (ICMP host or admin prohibited): a firewall on {host} or on the path rejects it on purpose"),
            )
            .suggest(format!("open TCP port {port} in the firewall of {host} (or of the router that rejects it)")))
        }
        Outcome::HostUnreachable => unreachable_host(address),
        Outcome::PermissionDenied => Finding::new(
            Cause::Rejected,
            format!("{addr} was rejected (permission denied: an ICMP admin-prohibited from the path, or a local policy such as SELinux)"),
        )
        .suggest(format!("open TCP port {port} in the firewall of {host} or of the router that rejects it"))
        .suggest(format!("if it is this host's policy: {} its firewall rules, or SELinux's audit log (`ausearch -m avc`)", rule_listings(facts))),
        Outcome::NetworkUnreachable | Outcome::AddressUnavailable
            if host.is_ipv6() && !facts.ipv6_usable =>
        {
            no_ipv6(facts, addr)
        }
        // This host has a route: the error came back from a router on the way or the host.
        Outcome::NetworkUnreachable if address.route_lookup == Some(RouteLookup::Routed) => {
            unless_local_rules(facts, address, Finding::new(
                Cause::Rejected,
                format!("{addr} was rejected: a router or the host answered network unreachable (ICMP), though this host has a route to {host}"),
            )
            .suggest(format!("check the routes of the routers on the way to {host}, and the firewall of {host} for TCP port {port} (a reject with ICMP net-unreachable looks the same)"))
            .suggest(format!("`ip route get {host}` shows the route this host takes, and its first router")))
        }
        Outcome::NetworkUnreachable => no_route(facts, host),
        Outcome::AddressUnavailable => ports_exhausted(facts, addr),
        Outcome::Connected | Outcome::TooManyOpenFiles | Outcome::Other(_) => {
            return Err(Unexplained { address: addr.to_string(), outcome });
        }
    };
    // No answer, or no neighbour answer: what drops packets on this host's interface.
    Ok(super::dropper::named(finding, address))
}

/// A route of type `unreachable`, `blackhole` (network-unreachable) or `prohibit`
/// (blocked-locally) of this host, or a policy rule of those actions: the kernel failed the
/// connect before sending anything.
fn rejected_by_route(addr: SocketAddr, route: &RejectingRoute) -> Finding {
    let ip = addr.ip();
    let (cause, what) = match route.kind {
        RouteKind::Prohibit => (Cause::BlockedLocally, "forbids"),
        RouteKind::Unreachable => (Cause::NetworkUnreachable, "marks as unreachable"),
        RouteKind::Blackhole => (Cause::NetworkUnreachable, "drops (blackhole)"),
    };
    let six = if ip.is_ipv6() { " -6" } else { "" };
    // The lookup the connect made: the port can choose the rule.
    let get = format!("`ip{six} route get {ip} ipproto tcp dport {}`", addr.port());
    if let Some(rule) = route.rule.as_ref().filter(|rule| rule.rejects()) {
        return Finding::new(
            cause,
            format!(
                "this host's policy rule `{}` (priority {}) {what} {ip}: the connection to {addr} never left this host",
                rule.text(),
                rule.priority
            ),
        )
        .evidence([Evidence::Route(route.clone())])
        .suggest(format!(
            "`ip{six} rule show` lists the rules, in order; {get} shows the lookup"
        ))
        .suggest(format!(
            "if it is not wanted, remove it: `sudo {}` (and from the network configuration that adds it); no route can help while it is there",
            rule.ip_rule_del(ip)
        ));
    }
    let named = route.destination.as_deref().map_or_else(
        || format!("a `{}` route of this host", route.kind.as_str()),
        |d| format!("this host's route `{} {d}`", route.kind.as_str()),
    );
    let chosen = match (&route.rule, &route.table) {
        (Some(rule), Some(table)) => format!(
            " (table {table}, chosen by the policy rule `{}`, priority {})",
            rule.text(),
            rule.priority
        ),
        (Some(rule), None) => format!(
            " (chosen by the policy rule `{}`, priority {})",
            rule.text(),
            rule.priority
        ),
        (None, _) => String::new(),
    };
    let finding = Finding::new(
        cause,
        format!("{named}{chosen} {what} {ip}: the connection to {addr} never left this host"),
    )
    .evidence([Evidence::Route(route.clone())])
    .suggest(format!(
        "`{}` shows the route; {get} shows the lookup",
        route.ip_route("show", ip)
    ));
    let finding = if route.destination.is_some() {
        finding.suggest(format!(
            "if it is not wanted, remove it: `sudo {}` (and from the network configuration that adds it)",
            route.ip_route("del", ip)
        ))
    } else {
        finding.suggest(format!(
            "`ip{six} route show table all type {}` lists such routes",
            route.kind.as_str()
        ))
    };
    match &route.rule {
        Some(rule) => finding.suggest(format!(
            "or, if the rule should not send it there: `sudo {}`",
            rule.ip_rule_del(ip)
        )),
        None => finding,
    }
}

/// Whether the next hop to the address never answered neighbour discovery: the gateway, when
/// the route goes through one, else the address itself on the link.
fn is_next_hop_dead(address: &AddressFacts) -> bool {
    let state = match &address.gateway {
        Some(gateway) => gateway.neighbour,
        None => address.neighbour,
    };
    state == Some(Neighbour::NoAnswer)
}

/// Adds how to tell this host's own rules apart, when they could not be read: a local drop or
/// reject looks the same as one on the way.
fn unless_local_rules(facts: &Facts, address: &AddressFacts, finding: Finding) -> Finding {
    if address.blockers.is_some() {
        return finding;
    }
    finding.suggest(to_read_rules(
        facts,
        "tells this host's own drop or reject from one on the way",
    ))
}

/// How to have this host's firewall rules read, when they were not, and what `refused why`
/// `tells` then. Without root, nft's dump is refused; as root, what stopped it (the time limit,
/// nft missing or failing) is listed under "not seen", and "run as root" would be wrong.
fn to_read_rules(facts: &Facts, tells: &str) -> String {
    match facts.privilege {
        super::facts::Privilege::User => {
            format!("run as root to read this host's firewall rules: as root `refused why` {tells}")
        }
        super::facts::Privilege::Root => format!(
            "once this host's firewall rules can be read (see \"not seen\" for why they were not), `refused why` {tells}"
        ),
    }
}

fn unreachable_host(address: &AddressFacts) -> Finding {
    let host = address.addr.ip();
    match &address.gateway {
        Some(gateway) if gateway.neighbour == Some(Neighbour::NoAnswer) => dead_gateway(address, gateway),
        Some(gateway) => Finding::new(
            Cause::HostUnreachable,
            format!("nobody answered for {host}: a router on the way (the route goes through {}) found nobody with that address on its network", gateway.address),
        )
        .evidence(gateway.neighbour.map(|state| Evidence::Neighbour {
            address: gateway.address,
            state,
            gateway_for: Some(host),
        }))
        .suggest(format!("check that the host is up and that {host} is its address; `ip route get {host}` shows the route this host takes")),
        // The kernel's `EHOSTUNREACH` on the link is neighbour discovery that failed; an entry
        // with an address now means the host answered since: it was away for a moment.
        None if address.neighbour == Some(Neighbour::Answered) => Finding::new(
            Cause::HostUnreachable,
            format!("{host} did not answer neighbour discovery during the connect, but it answers now: it was down, busy or off the link for a moment"),
        )
        .evidence([Evidence::Neighbour {
            address: host,
            state: Neighbour::Answered,
            gateway_for: None,
        }])
        .suggest("try again: if it keeps failing, the host or its link drops out now and then (a flapping link, a host under load, a duplicate address)"),
        None => Finding::new(
            Cause::HostUnreachable,
            format!("nobody on the local network has {host}: neighbour discovery got no answer"),
        )
        .evidence(address.neighbour.map(|state| Evidence::Neighbour {
            address: host,
            state,
            gateway_for: None,
        }))
        .suggest(format!("check that the host is up and that {host} is its address; `ip neigh show {host}` shows what this host learned")),
    }
}

/// The gateway of the route never answered neighbour discovery: this host made the
/// `EHOSTUNREACH` (or the connect timed out waiting), the SYN never left.
fn dead_gateway(address: &AddressFacts, gateway: &Gateway) -> Finding {
    let host = address.addr.ip();
    let via = gateway.address;
    Finding::new(
        Cause::HostUnreachable,
        format!("the gateway {via}, which the route to {host} goes through, does not answer neighbour discovery: the packets never left this host"),
    )
    .evidence([Evidence::Neighbour {
        address: via,
        state: Neighbour::NoAnswer,
        gateway_for: Some(host),
    }])
    .suggest(format!("check the gateway {via}: is it up, and on this host's link? `ip neigh show {via}` shows what this host learned"))
    .suggest(format!("or fix the route: `ip route get {host}` shows the route this host takes (the default route, when no other matches)"))
}

/// This host's interface toward `addr` is down: up without a carrier (the route stays, and
/// neighbour discovery fails on it), or set down with its routes gone.
fn link_down(address: &AddressFacts) -> Option<Finding> {
    let link = address.down_link.as_ref().filter(|_| {
        matches!(
            address.attempt.outcome,
            Outcome::Timeout | Outcome::HostUnreachable | Outcome::NetworkUnreachable
        )
    })?;
    let (name, addr) = (&link.name, address.addr);
    let ip = addr.ip();
    let evidence = Evidence::LinkDown {
        interface: name.clone(),
        state: if link.admin_down {
            LinkState::Down
        } else {
            LinkState::NoCarrier
        },
        link_kind: link.kind.clone(),
    };
    let finding = if link.admin_down {
        Finding::new(
            Cause::NetworkUnreachable,
            format!("this host's interface {name}, whose network holds {ip}, is down (set down, or never brought up): its routes went with it, so there is no route to {ip}"),
        )
        .suggest(format!("bring it up: `sudo ip link set {name} up` (and find what set it down: its network configuration, NetworkManager's `nmcli device status`)"))
    } else if link.kind.as_deref() == Some("bridge") {
        Finding::new(
            Cause::HostUnreachable,
            format!("this host's bridge {name}, which the route to {ip} leaves by, has no port up (`NO-CARRIER`): nothing attached to it runs (its containers or virtual machines are stopped, as docker0 is with no container running), so nothing on it has {ip}"),
        )
        .suggest(format!("start what should have {ip} on that bridge (`docker ps -a`, `podman ps -a`, `virsh list --all` show the stopped ones); `bridge link show master {name}` lists its ports"))
    } else if link.kind.as_deref() == Some("veth") {
        Finding::new(
            Cause::HostUnreachable,
            format!("this host's veth {name}, which the route to {ip} leaves by, has no carrier (`NO-CARRIER`): its other end is down (the container or namespace it leads into stopped, or its link there was set down), so nothing sent to {addr} reached it"),
        )
        .suggest(format!("bring up the other end where it is (`ip link set PEER up` in its namespace), or start its container; `ip link show {name}` names the peer's index (`@if...`) and says when it has a carrier"))
    } else {
        Finding::new(
            Cause::HostUnreachable,
            format!("this host's interface {name}, which the route to {ip} leaves by, has no carrier (`NO-CARRIER` in `ip link show {name}`): its link is down at the other end, so nothing sent to {addr} reached it"),
        )
        .suggest(format!("connect the link: the cable or switch port, Wi-Fi; `ip link show {name}` says when it has a carrier"))
    };
    Some(finding.evidence([evidence]))
}

/// No route to `host` at all. For a name with IPv6 addresses only, that is an IPv4-only host
/// or container asking for it: the name's missing A record, or this host's missing IPv6.
fn no_route(facts: &Facts, host: IpAddr) -> Finding {
    let ipv6_only = match &facts.resolution {
        Resolution::Resolved {
            name,
            addresses,
            source,
        } if addresses.iter().all(IpAddr::is_ipv6) => Some((name, source)),
        _ => None,
    };
    match ipv6_only {
        Some((name, source)) if host.is_ipv6() => {
            // `/etc/hosts` is read before DNS: a name there has no A record to lack, only a line.
            let (only, add) = match source {
                NameSource::Hosts => (
                    "in /etc/hosts (no IPv4 address)",
                    format!("add a line for it to /etc/hosts (`getent ahosts {name}` shows what the system resolver gives)"),
                ),
                NameSource::Dns => (
                    "(no IPv4 address: no A record)",
                    format!("its DNS lacks the A record: `dig A {name}` asks for it"),
                ),
            };
            Finding::new(
                Cause::NetworkUnreachable,
                format!("`{name}` has IPv6 addresses only {only}, and this host has no route to {host}: it reaches no IPv6 network there (an IPv4-only host or container)"),
            )
            .suggest(format!("if `{name}` should have an IPv4 address, {add}"))
            .suggest(format!("or give this host IPv6 to {host}: an address and a route (`ip -6 route` lists the routes; in Docker, a network with `enable_ipv6`)"))
        }
        _ => match facts.target.host() {
            // A link-local address is reached by the interface its zone names only: that one
            // has no route to it (no IPv6 link-local network: `lo`, a link without IPv6).
            Some(crate::target::Host::ScopedIpv6 { ip, zone, .. }) if IpAddr::V6(*ip) == host => {
                Finding::new(
                    Cause::NetworkUnreachable,
                    format!("this host has no route to {host} by `{zone}`, the interface the target's zone names: {host} is on no network of `{zone}` (`{zone}` has no link-local route: no IPv6 on it, or it is down)"),
                )
                .suggest(format!("name the interface {host} is on: `[{host}%eth0]` for eth0 (`ip -6 route show {}/64` lists the interfaces with a link-local network, `ip -6 neigh show {host}` the one that has heard from it)", link_local_prefix(*ip)))
                .suggest(format!("`ip route get {host} oif {zone}` shows this lookup"))
            }
            _ => Finding::new(
                Cause::NetworkUnreachable,
                format!("this host has no route to {host}"),
            )
            .suggest(format!("`ip route get {host}` shows the route this host would take; add one, or check the address")),
        },
    }
}

/// No route found, where a `throw` route of this host holds the address: it ends the lookup in
/// its table, and the tables after it have none (in `main`, it hides the route it overrides,
/// a connected network's). "Add a route" would miss it.
fn thrown_route(host: IpAddr, thrown: &str) -> Finding {
    let six = if host.is_ipv6() { " -6" } else { "" };
    Finding::new(
        Cause::NetworkUnreachable,
        format!(
            "this host's route `{thrown}` ends the lookup for {host} in its table, and no table after it has a route: the connection fails as if there were none"
        ),
    )
    .suggest(format!(
        "if it is not wanted, remove it: `sudo ip{six} route del {thrown}` (and from the network configuration that adds it)"
    ))
    .suggest(format!(
        "or give a table after it a route to {host}; `ip rule` lists the tables in their order, `ip route get {host}` shows the lookup"
    ))
}

/// `fe80::` for a link-local address (the network every link's route covers).
fn link_local_prefix(ip: std::net::Ipv6Addr) -> std::net::Ipv6Addr {
    let segments = ip.segments();
    std::net::Ipv6Addr::new(segments[0] & 0xffc0, 0, 0, 0, 0, 0, 0, 0)
}

/// IPv6 cannot be used on this host: `all`'s `disable_ipv6` is on, or the kernel has no IPv6.
/// IPv4 is suggested only when the target did not fail over IPv4 as well.
fn no_ipv6(facts: &Facts, addr: SocketAddr) -> Finding {
    let disabled_by = facts
        .loopback
        .as_ref()
        .map(|l| l.ipv6_disabled_by.clone())
        .unwrap_or_default();
    let switched_off = disabled_by.contains(&Ipv6Switch::All);
    let ipv4 = if facts.addresses.iter().any(|a| a.addr.is_ipv4()) {
        ""
    } else {
        "connect over IPv4, or "
    };
    let finding = if switched_off {
        Finding::new(
            Cause::NetworkUnreachable,
            format!("IPv6 is disabled on this host (`net.ipv6.conf.all.disable_ipv6` = 1), so {addr} cannot be reached"),
        )
        .suggest(format!("{ipv4}enable IPv6: `sudo sysctl -w net.ipv6.conf.all.disable_ipv6=0`"))
    } else {
        Finding::new(
            Cause::NetworkUnreachable,
            format!("IPv6 is disabled or missing on this host (an IPv6 socket cannot be made), so {addr} cannot be reached"),
        )
        .suggest(format!("{ipv4}boot without `ipv6.disable=1` (`cat /proc/cmdline` shows the kernel's command line)"))
    };
    finding.evidence([Evidence::Ipv6Unusable { disabled_by }])
}

fn ports_exhausted(facts: &Facts, addr: SocketAddr) -> Finding {
    let reserved = facts.reserved_ports;
    let all_reserved = facts
        .ephemeral_ports
        .zip(reserved)
        .is_some_and(|((low, high), reserved)| reserved > u32::from(high - low));
    let mut finding = if all_reserved {
        // No connection holds them: `ss` would show nothing, and a wider range may be
        // reserved as well.
        Finding::new(
            Cause::PortsExhausted,
            format!("no local port was free to connect to {addr}: every port of the ephemeral range is reserved (`net.ipv4.ip_local_reserved_ports`), and a connect never takes a reserved port"),
        )
        .suggest("make the reserved list leave some of the range free, or the range reach past it: `sysctl net.ipv4.ip_local_reserved_ports net.ipv4.ip_local_port_range` shows both")
    } else {
        let finding = Finding::new(
            Cause::PortsExhausted,
            format!("no local port was free to connect to {addr}: every ephemeral port is in use for connections to it"),
        )
        .suggest("count the connections holding them: `ss -tan state time-wait | wc -l` and `ss -tan | wc -l`")
        .suggest("widen the range: `sudo sysctl -w net.ipv4.ip_local_port_range=\"1024 65535\"`, and reuse connections (pooling, keep-alive)");
        match reserved {
            Some(reserved) => finding.warn(Some(format!(
                "{reserved} ports of the range are reserved (`net.ipv4.ip_local_reserved_ports`): connects take only the others"
            ))),
            None => finding,
        }
    };
    if let Some((low, high)) = facts.ephemeral_ports {
        finding.evidence.push(Evidence::EphemeralPorts {
            low,
            high,
            reserved,
        });
    }
    finding
}

/// The listeners on `addr`'s port, and those of them that take a connection to `addr`.
pub(super) fn on_port(
    listeners: &[HeldListener],
    addr: SocketAddr,
) -> (Vec<&HeldListener>, Vec<&HeldListener>) {
    let on_port: Vec<&HeldListener> = listeners
        .iter()
        .filter(|l| l.listener.port == addr.port())
        .collect();
    let exact = on_port
        .iter()
        .copied()
        .filter(|l| l.listener.accepts(addr.ip()))
        .collect();
    (on_port, exact)
}

/// A failed address of this very host: its socket tables say who listens where.
pub(super) fn local(facts: &Facts, address: &AddressFacts) -> Result<Finding, Unexplained> {
    let ip = address.addr.ip();
    let port = address.addr.port();
    let listeners = facts.listeners.as_deref().unwrap_or_default();
    let (on_port, exact) = on_port(listeners, address.addr);

    match address.attempt.outcome {
        Outcome::Timeout => return Ok(local_timeout(facts, address, &exact)),
        Outcome::HostUnreachable if became_local(facts, address) => {
            return Ok(became_local_finding(address));
        }
        Outcome::Refused | Outcome::Reset => {}
        Outcome::PermissionDenied => {
            return Ok(Finding::new(
                Cause::BlockedLocally,
                format!(
                    "connecting to {} was denied by a local policy (firewall or SELinux)",
                    address.addr
                ),
            )
            .evidence([Evidence::LocalAddress { address: ip }])
            .suggest(format!(
                "{} the firewall rules; SELinux's audit log: `ausearch -m avc`",
                rule_listings(facts)
            )));
        }
        _ => return explain_remote_like(facts, address),
    }
    if let Some(listener) = exact
        .first()
        .filter(|_| address.attempt.outcome == Outcome::Reset)
    {
        // The handshake completed and the program reset it: accepted, then dropped.
        return Ok(Finding::new(
            Cause::NotReady,
            format!(
                "{} listens on {}, but reset the connection as soon as it was made",
                listener.owner(),
                listener.endpoint()
            ),
        )
        .evidence(listed(&exact))
        .suggest(proxy_fix(Some(listener))));
    }
    if let Some(listener) = exact.first() {
        return Ok(refused_with_a_listener(facts, address, listener, &exact));
    }
    if !on_port.is_empty() {
        return Ok(listening_elsewhere(facts, address.addr, &on_port));
    }
    if let Some(finding) = super::elsewhere::published_beside_loopback(facts, address) {
        return Ok(finding);
    }
    if let Some(finding) = super::elsewhere::forwarded_from_outside(address) {
        return Ok(finding);
    }
    if let Some(foreign) = facts.foreign.first() {
        return Ok(other_namespace(
            facts,
            address.addr,
            foreign,
            &facts.foreign,
        ));
    }
    if let Some(finding) = super::placeholder::udp_only(facts, ip, port) {
        return Ok(finding);
    }
    if let Some(finding) = super::udp::udp_only(facts, ip, port) {
        return Ok(finding);
    }
    if let Some(finding) = stopped_container(facts, ip, port) {
        return Ok(finding);
    }
    if let Some(finding) = unpublished_container(facts, ip, port) {
        return Ok(finding);
    }
    if let Some((candidate, why)) = intended(facts, ip, port, listeners) {
        return Ok(Finding::new(
            Cause::WrongPort,
            format!(
                "nothing listens on port {port}, but {} listens on {} ({why})",
                candidate.owner(),
                candidate.endpoint()
            ),
        )
        .evidence([
            Evidence::Listener(candidate.clone()),
            Evidence::LocalAddress { address: ip },
        ])
        .suggest(format!("connect to {} instead", candidate.reach_at(ip)))
        .suggest(format!("or make the service listen on port {port}"))
        .warn(super::bound::bound_warning(facts, ip, port)));
    }
    // After the intended listener: a port held by a client that binds before it connects, or
    // by a test that keeps a port refusing, beside the service's real one, is not the story.
    if let Some(finding) = super::bound::bound_only(facts, ip, port) {
        return Ok(finding);
    }
    if let Some(finding) = super::socket_only::socket_only(facts, ip, port) {
        return Ok(finding);
    }
    if let Some(finding) = super::left::connections_left(facts, ip, port) {
        return Ok(finding);
    }
    Ok(no_listener(ip, port))
}

/// A refused connection to an address of this host where `listener` (first of `exact`) listens.
fn refused_with_a_listener(
    facts: &Facts,
    address: &AddressFacts,
    listener: &HeldListener,
    exact: &[&HeldListener],
) -> Finding {
    if rules_all_read(facts, address) {
        // Every rule was read and none stops it: no firewall of this host to blame.
        return started_after(
            facts,
            &format!(
                "{} listens on {} now, yet the connection was refused, and no rule of this host's firewall rejects it",
                listener.owner(),
                listener.endpoint()
            ),
            address.addr,
            exact,
        );
    }
    // Something listens right there and we were still refused: a reject rule of this
    // host, whose rules could not all be read.
    let finding = Finding::new(
        Cause::BlockedLocally,
        format!(
            "{} listens on {}, yet the connection was refused: this host's firewall rejects it, most likely (not all of its rules could be read)",
            listener.owner(),
            listener.endpoint()
        ),
    )
    .evidence(listed(exact));
    see_the_rules(finding, facts, address)
}

/// Refused by `addr` where `exact` listen, with every firewall rule on the way read and none
/// rejecting: what is left is time (the listener came after the attempt: a service that was
/// starting) or what the tables do not show (an eBPF socket lookup). `what` says where.
pub(super) fn started_after(
    facts: &Facts,
    what: &str,
    addr: SocketAddr,
    exact: &[&HeldListener],
) -> Finding {
    Finding::new(
        Cause::NotReady,
        format!("{what}: it may have started listening just after the attempt"),
    )
    .evidence(listed(exact))
    .suggest(format!(
        "try again, or wait for it: `{} wait {addr}`",
        facts.program
    ))
    .suggest("if it stays refused: an eBPF program (`bpftool prog show`, type sk_lookup) may steer its connections elsewhere")
}

pub(super) fn listed(listeners: &[&HeldListener]) -> Vec<Evidence> {
    listeners
        .iter()
        .map(|l| Evidence::Listener((*l).clone()))
        .collect()
}

fn see_the_rules(mut finding: Finding, facts: &Facts, address: &AddressFacts) -> Finding {
    if address.blockers.is_none() {
        finding = finding.suggest(
            "run as root to see which rule: as root `refused why` reads the firewall rules",
        );
    }
    finding.suggest(format!("{} the rules", rule_listings(facts)))
}

/// The commands that show this host's firewall rules, as a subject: `` `sudo nft list ruleset`
/// shows``, or, where the host's iptables is the legacy one (whose rules are where people look
/// first, and `nft` does not show), the `-save` commands that listed them first (no `-legacy`
/// ones before the split): `` `sudo iptables-legacy-save` and `sudo nft list ruleset` show``.
fn rule_listings(facts: &Facts) -> String {
    let mut commands: Vec<String> = facts
        .rules_read
        .legacy_read
        .iter()
        .flatten()
        .map(|command| format!("`sudo {command}-save`"))
        .collect();
    commands.push("`sudo nft list ruleset`".to_owned());
    let verb = if commands.len() == 1 { "shows" } else { "show" };
    let last = commands.pop().unwrap_or_default();
    if commands.is_empty() {
        format!("{last} {verb}")
    } else {
        format!("{} and {last} {verb}", commands.join(", "))
    }
}

/// A listener among `exact` whose accept queue is full: new connections are dropped.
pub(super) fn full_queue(exact: &[&HeldListener]) -> Option<Finding> {
    let full = exact.iter().find(|l| {
        l.listener.queue > 0 && (l.listener.is_queue_full() || l.listener.backlog.is_none())
    });
    full.map(|full| {
        let l = &full.listener;
        let limit = l
            .backlog
            .map_or_else(|| "its limit".to_owned(), |b| b.to_string());
        if let Some((why, resume)) = super::unaccepted::stopped(full) {
            return Finding::new(
                Cause::ListenQueueFull,
                format!(
                    "{} listens on {}, but {why}: its accept queue is full ({} waiting, limit {limit}), so new connections are dropped",
                    full.owner(),
                    full.endpoint(),
                    l.queue
                ),
            )
            .evidence(listed(&[full]))
            .suggest(resume);
        }
        Finding::new(
            Cause::ListenQueueFull,
            format!(
                "{} listens on {}, but its accept queue is full ({} waiting, limit {limit}): new connections are dropped",
                full.owner(),
                full.endpoint(),
                l.queue
            ),
        )
        .evidence(listed(&[full]))
        .suggest(format!(
            "{} does not accept connections fast enough: it is stuck, overloaded, or never calls accept()",
            full.owner()
        ))
        .suggest("raise its listen() backlog and `sudo sysctl -w net.core.somaxconn=4096`, or find what blocks it")
    })
}

/// No answer from an address of this host: a full accept queue, or this host's firewall (the
/// packets never leave the host, so a drop can only be its own).
fn local_timeout(facts: &Facts, address: &AddressFacts, exact: &[&HeldListener]) -> Finding {
    if let Some(finding) = super::reuseport::stuck_member(exact, address.addr) {
        return finding;
    }
    if let Some(finding) = full_queue(exact) {
        return finding;
    }
    if rules_all_read(facts, address) {
        // Every rule was read and none drops it: naming the firewall would send the person
        // after a rule that does not exist.
        let ip = address.addr.ip();
        let finding = Finding::new(
            Cause::Filtered,
            format!(
                "{} is this host's own address, yet the connection got no answer, and no rule of this host's firewall drops it",
                address.addr
            ),
        )
        .evidence([Evidence::LocalAddress { address: ip }])
        .evidence(listed(exact))
        .suggest(format!(
            "if {ip} was added to this host just now, try again: the connection was made before it was this host's (an IPv6 address takes none for about a second after it is added, while duplicate address detection runs)"
        ))
        .suggest(
            "else something beside the firewall drops it: a `tc` filter or qdisc (`tc qdisc show`, `tc filter show dev lo ingress`), or an eBPF program (`bpftool net show`)",
        );
        return super::dropper::named(finding, address);
    }
    let finding = Finding::new(
        Cause::BlockedLocally,
        format!(
            "{} is this host's own address, yet the connection got no answer: this host's firewall drops it",
            address.addr
        ),
    )
    .evidence([Evidence::LocalAddress {
        address: address.addr.ip(),
    }])
    .evidence(listed(exact));
    super::dropper::named(see_the_rules(finding, facts, address), address)
}

/// Whether every rule of this host's firewall was read, and none stops the connection.
fn rules_all_read(facts: &Facts, address: &AddressFacts) -> bool {
    !facts.own_rules_unread(address)
        && !facts.rules_read.legacy_unlisted
        && address.blockers.as_ref().is_some_and(Vec::is_empty)
}

/// Whether an address of this host whose connect failed with neighbour discovery unanswered
/// became this host's while the connect waited: the connect went out on a link, so the address
/// was not this host's then, and neither a rule of ours nor another host's ICMP made the error.
fn became_local(facts: &Facts, address: &AddressFacts) -> bool {
    address.attempt.outcome == Outcome::HostUnreachable
        && address.attempt.icmp.is_none()
        && rules_all_read(facts, address)
}

/// An address of this host whose connect failed the way one to another host on a link does
/// (see [`became_local`]): it was not this host's when the connect was made.
fn became_local_finding(address: &AddressFacts) -> Finding {
    let ip = address.addr.ip();
    Finding::new(
        Cause::HostUnreachable,
        format!(
            "{ip} is this host's own address now, but was not when the connection was made: it went out on a link, and nobody answered neighbour discovery for it"
        ),
    )
    .evidence([Evidence::LocalAddress { address: ip }])
    .suggest(format!(
        "try again: {ip} was added to this host just now (an IPv6 address takes no connection for about a second after it is added, while duplicate address detection runs)"
    ))
}

/// The name the target's addresses came from; `None` for an address literal.
fn resolved_name(facts: &Facts) -> Option<&str> {
    match &facts.resolution {
        Resolution::Resolved { name, .. } => Some(name),
        _ => None,
    }
}

/// Something has the port, but on an address or family the target does not reach. A container
/// runtime's helper (docker-proxy) is only the publishing's placeholder: the publishing is
/// fixed, not the helper's bind.
fn listening_elsewhere(facts: &Facts, addr: SocketAddr, on_port: &[&HeldListener]) -> Finding {
    let name = resolved_name(facts);
    // An IPv4-mapped address is IPv4 on the wire: said as such.
    let addr = SocketAddr::new(addr.ip().to_canonical(), addr.port());
    let ip = addr.ip();
    if let Some(finding) = bound_to_another_device(addr, on_port) {
        return finding;
    }
    let family = |v4: bool| if v4 { "IPv4" } else { "IPv6" };
    let bound = on_port[0];
    let v6only = on_port
        .iter()
        // The kernel sets the flag on a socket bound to one IPv6 address too (`[::1]`), where
        // it changes nothing: only on `::` is it why IPv4 is not taken.
        .find(|l| {
            l.listener.v6only == Some(true) && l.listener.address.is_unspecified() && ip.is_ipv4()
        });
    let (cause, summary) = if let Some(v6only) = v6only {
        (
            Cause::ListeningOnOtherFamily,
            format!(
                "{} listens on {} with IPV6_V6ONLY, so IPv4 {addr} is not taken",
                v6only.owner(),
                v6only.endpoint()
            ),
        )
    } else if on_port
        .iter()
        .all(|l| l.listener.address.is_ipv4() != ip.is_ipv4())
        && on_port
            .iter()
            .any(|l| is_counterpart(l.listener.address, ip))
    {
        // The listener's own family was tried too, at another address of this host, and
        // refused (`localhost` to a program bound to Debian's `127.0.1.1 HOSTNAME`): the
        // address is what is wrong, said of that one. Not an address of another host, nor one
        // that failed otherwise: no listener of this host explains that one.
        if let Some(same) = facts.addresses.iter().find(|a| {
            a.local
                && a.attempt.outcome == Outcome::Refused
                && a.attempt.icmp.is_none()
                && a.addr.port() == addr.port()
                && a.addr.ip().to_canonical().is_ipv4() == bound.listener.address.is_ipv4()
                && !on_port.iter().any(|l| l.listener.accepts(a.addr.ip()))
        }) {
            return listening_elsewhere(facts, same.addr, on_port);
        }
        (
            Cause::ListeningOnOtherFamily,
            format!(
                "{} listens on {} ({} only), and {addr} is {}",
                bound.owner(),
                bound.endpoint(),
                family(!ip.is_ipv4()),
                family(ip.is_ipv4())
            ),
        )
    } else if facts.has_absent(bound.listener.address) {
        return bound_to_an_absent_address(addr, bound, on_port);
    } else {
        (
            Cause::ListeningOnOtherAddress,
            format!(
                "{} listens on port {}, but only on {}, not on {ip}",
                bound.owner(),
                addr.port(),
                bound.listener.address
            ),
        )
    };
    let finding = Finding::new(cause, summary)
        .evidence(listed(on_port))
        .evidence([Evidence::LocalAddress { address: ip }]);
    let said = v6only.copied().unwrap_or(bound);
    if let Some(published) = super::placeholder::of(facts, said) {
        return super::placeholder::bound_elsewhere(
            finding,
            addr,
            said,
            published,
            super::placeholder::Asked::Here,
        );
    }
    let finding = finding.suggest(format!("connect to {} instead", bound.reach_at(ip)));
    if let Some(v6only) = v6only.filter(|l| l.listener.address.is_unspecified()) {
        // It is bound to `::` already: only the option keeps IPv4 out.
        finding.suggest(format!(
            "or let {} take IPv4 too: turn IPV6_V6ONLY off on its socket (its dual-stack or \
             ipv6only setting; `sysctl net.ipv6.bindv6only` is the default for sockets that do \
             not set it)",
            v6only.owner()
        ))
    } else if cause == Cause::ListeningOnOtherFamily {
        finding.suggest(both_families(bound.listener.address, ip, name))
    } else {
        let every = if ip.is_ipv4() { "0.0.0.0" } else { "::" };
        finding.suggest(format!(
            "or make the service listen on {ip} too: bind it to {every} (every address) or to {ip}"
        ))
    }
}

/// A listener bound to an address this host does not have (see [`Facts::absent_addresses`]):
/// no connect reaches it, so "connect to it instead" would fail too. The program binds again,
/// or the address comes back.
fn bound_to_an_absent_address(
    addr: SocketAddr,
    bound: &HeldListener,
    on_port: &[&HeldListener],
) -> Finding {
    let ip = addr.ip();
    let gone = bound.listener.address;
    let every = if gone.is_ipv4() { "0.0.0.0" } else { "::" };
    Finding::new(
        Cause::ListeningOnOtherAddress,
        format!(
            "{} listens on port {}, but only on {gone}, an address no interface of this host has, not on {ip}: it was removed after the program bound it (a DHCP lease renewed with another address, a VPN gone down), or the program bound it before it came (`IP_FREEBIND`, `ip_nonlocal_bind`)",
            bound.owner(),
            addr.port(),
        ),
    )
    .evidence(listed(on_port))
    .evidence([Evidence::LocalAddress { address: ip }])
    .suggest(format!(
        "restart {} so that it binds an address this host has, or bind it to {every} (every address, those that come and go included)",
        bound.owner()
    ))
    .suggest(format!(
        "or, if {gone} should be this host's (a virtual address that fails over between hosts: keepalived, another VRRP daemon), bring it back here; `ip addr show` lists the addresses this host has now"
    ))
}

/// The fix of a service that listens on `bound`, of the other family than the `ip` asked:
/// bound to both, the address it has and the one asked (every address of both families when
/// it listens on every one: binding it to two loopback addresses would cut other hosts off);
/// and, for a name, the address to use instead, when one is known to reach it.
fn both_families(bound: IpAddr, ip: IpAddr, name: Option<&str>) -> String {
    let (v4, v6) = match (bound.is_unspecified(), bound.is_ipv4()) {
        (true, _) => ("0.0.0.0".to_owned(), "::".to_owned()),
        (false, true) => (bound.to_string(), ip.to_string()),
        (false, false) => (ip.to_string(), bound.to_string()),
    };
    let both = format!(
        "or make the service listen on both families: bind it to `::` (dual stack), or to both {v4} and {v6}"
    );
    let literal = if !bound.is_unspecified() {
        Some(bound)
    } else if ip.is_loopback() {
        // Every address of its family, loopback's among them.
        Some(if bound.is_ipv4() {
            IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        })
    } else {
        None
    };
    match (name, literal) {
        (Some(name), Some(literal)) => format!("{both}; instead of `{name}`, use `{literal}`"),
        _ => both,
    }
}

/// A listener whose address holds `addr` but that is bound to an interface (`SO_BINDTODEVICE`)
/// that a connection from this host to `addr` does not come in through: the kernel refuses it
/// as if nothing listened.
fn bound_to_another_device(addr: SocketAddr, on_port: &[&HeldListener]) -> Option<Finding> {
    let ip = addr.ip();
    let (held, device) = on_port.iter().find_map(|l| {
        let device = l.listener.device.as_ref()?;
        (l.listener.holds(ip) && !device.takes(ip)).then_some((*l, device))
    })?;
    let mut finding = Finding::new(
        Cause::ListeningOnOtherAddress,
        format!(
            "{} listens on {} bound to interface {device} (SO_BINDTODEVICE): it takes only connections that come in through {device}, and {ip} is not one of its addresses",
            held.owner(),
            held.endpoint()
        ),
    )
    .evidence(listed(on_port))
    .evidence([Evidence::LocalAddress { address: ip }]);
    // One of the interface's own addresses, of the family tried where it has one, and one a
    // client can use (not link-local, which needs the interface named).
    let usable = |a: &&IpAddr| match a {
        IpAddr::V4(_) => true,
        IpAddr::V6(v6) => !v6.is_unicast_link_local(),
    };
    let reach = device
        .addresses
        .iter()
        .filter(usable)
        .filter(|a| held.listener.holds(**a))
        .min_by_key(|a| a.is_ipv4() != ip.is_ipv4());
    if let Some(reach) = reach {
        finding = finding.suggest(format!(
            "connect to {} instead (an address of {device})",
            SocketAddr::new(*reach, addr.port())
        ));
    }
    Some(finding.suggest(format!(
        "or make the service listen without binding to {device} (its bind-to-device or interface setting), to take connections through every interface"
    )))
}

/// Whether `bound`, of the other family, is where a client of `ip` meant to go: the wildcard, or
/// loopback for loopback (`::1` and `127.0.0.1` are both `localhost`). A listener on a LAN
/// address is another address, whatever its family.
fn is_counterpart(bound: IpAddr, ip: IpAddr) -> bool {
    bound.is_unspecified() || (bound.is_loopback() && ip.is_loopback()) || !ip.is_loopback()
}

/// Nothing listens on the port, and a container of Docker's or Podman's that publishes it is
/// not running: it exited (or never started), and took its DNAT rule and port helper
/// (docker-proxy, conmon, rootlessport) with it. Each runtime's own commands fix it.
fn stopped_container(facts: &Facts, ip: IpAddr, port: u16) -> Option<Finding> {
    let first = facts.stopped_containers.first()?;
    let (runtime, command) = match first.runtime {
        ContainerRuntime::Podman => ("Podman", "podman"),
        _ => ("Docker", "docker"),
    };
    let running = if first.state == "restarting" {
        format!("its program keeps exiting, and {runtime} restarts it")
    } else {
        "is not running".to_owned()
    };
    let whose = match &first.pod {
        Some(pod) => format!("pod `{pod}` (its infra container `{}`)", first.name),
        None => format!("container `{}`", first.name),
    };
    let finding = Finding::new(
        Cause::NoListener,
        format!(
            "nothing listens on port {port} on this host ({ip} is local): {runtime}'s {whose} publishes it (`-p {port}:{}`) but {running} ({})",
            first.container_port, first.status
        ),
    )
    .evidence(
        facts
            .stopped_containers
            .iter()
            .cloned()
            .map(Evidence::StoppedContainer),
    )
    .evidence([Evidence::LocalAddress { address: ip }]);
    let compose = if first.runtime == ContainerRuntime::Podman {
        ""
    } else {
        " (compose: `docker compose up -d`)"
    };
    let mut finding = finding.suggest(if let Some(pod) = &first.pod {
        format!(
            "`podman pod start {pod}` starts the pod; `podman pod logs {pod}` says why its containers stopped"
        )
    } else if first.state == "created" || first.state == "configured" {
        format!(
            "`{command} start {0}` starts it: it was made and never started{compose}",
            first.name
        )
    } else if first.state == "restarting" {
        // Its restart policy starts it again and again: `docker start` changes nothing.
        format!(
            "its program keeps exiting and {runtime} keeps restarting it: `{command} logs {0}` says why, `{command} inspect -f '{{{{.State.ExitCode}}}}' {0}` gives its exit code",
            first.name
        )
    } else {
        format!(
            "`{command} logs {0}` says why it stopped; `{command} start {0}` starts it again{compose}",
            first.name
        )
    })
    // It may be an old container, and the program meant another one.
    .suggest(format!(
        "if another program should listen on port {port}, start it: the container only says who published the port last"
    ));
    if let [_, others @ ..] = facts.stopped_containers.as_slice() {
        if !others.is_empty() {
            let names: Vec<String> = others.iter().map(|c| format!("`{}`", c.name)).collect();
            let verb = if others.len() == 1 {
                "publishes"
            } else {
                "publish"
            };
            finding.warnings.push(format!(
                "{} {verb} port {port} too: only one of them can run at a time",
                names.join(", ")
            ));
        }
    }
    Some(finding)
}

/// Nothing listens on the port, and a running container of Docker's asks for it (`-p`), but
/// Docker publishes nothing: its program is not where the user looks.
fn unpublished_container(facts: &Facts, ip: IpAddr, port: u16) -> Option<Finding> {
    let first = facts.unpublished_containers.first()?;
    let (name, inside) = (&first.name, first.container_port);
    let flag = match first.host_ip.as_deref() {
        Some(host_ip) if host_ip.contains(':') => format!("-p '[{host_ip}]:{port}:{inside}'"),
        Some(host_ip) => format!("-p {host_ip}:{port}:{inside}"),
        None => format!("-p {port}:{inside}"),
    };
    let (why, fix) = match (first.reason, &first.network) {
        ("host-network", _) => (
            "runs in the host's network (`--network host`), where Docker discards published ports"
                .to_owned(),
            format!(
                "with `--network host` its program listens on this host's ports itself, on the port it is set to (not {port}): connect to that one (`sudo ss -ltnp` lists them), or re-create `{name}` without `--network host` for `{flag}` to publish its port {inside}"
            ),
        ),
        (_, Some(network)) => (
            format!(
                "its network `{network}` is internal (`docker network create --internal`): Docker publishes no port of it"
            ),
            format!(
                "re-create `{name}` on a network that is not internal (the default bridge, or one made without `--internal`), where `{flag}` publishes its port {inside}"
            ),
        ),
        _ => (
            "the daemon made no mapping for it (`docker port` lists none)".to_owned(),
            if first.host_ip.as_deref().is_some_and(|ip| ip.contains(':')) {
                format!(
                    "publish it on IPv4 instead: re-create `{name}` with `-p 127.0.0.1:{port}:{inside}` (or `-p {port}:{inside}`): Docker maps no IPv6 binding without its userland proxy or IPv6 turned on"
                )
            } else {
                format!(
                    "`docker port {name}` lists what it publishes; dockerd's log says why it did not map `{flag}`"
                )
            },
        ),
    };
    Some(
        Finding::new(
            Cause::NoListener,
            format!(
                "nothing listens on port {port} on this host ({ip} is local): Docker's container `{name}` asks for it (`{flag}`), but {why}"
            ),
        )
        .evidence(
            facts
                .unpublished_containers
                .iter()
                .cloned()
                .map(Evidence::UnpublishedContainer),
        )
        .evidence([Evidence::LocalAddress { address: ip }])
        .suggest(fix),
    )
}

fn no_listener(ip: IpAddr, port: u16) -> Finding {
    let finding = Finding::new(
        Cause::NoListener,
        format!(
            "nothing listens on port {port} on this host ({ip} is local), and nothing near it looks meant"
        ),
    )
    .evidence([Evidence::LocalAddress { address: ip }]);
    let finding = match services::by_port(port) {
        Some(service) => match service.installed_unit() {
            Some(unit) => finding.suggest(format!(
                "start {}: `sudo systemctl start {unit}`",
                service.name
            )),
            None => finding.suggest(format!(
                "start {} (it usually listens on port {port})",
                service.name
            )),
        },
        None => finding.suggest(format!(
            "start the program that should listen on port {port}, and check the address and port it says it uses"
        )),
    };
    finding.suggest("`ss -ltnp` lists what listens on this host")
}

/// Outcomes on a local address that are not about listeners.
fn explain_remote_like(facts: &Facts, address: &AddressFacts) -> Result<Finding, Unexplained> {
    let remote = AddressFacts {
        local: false,
        ..address.clone()
    };
    explain(facts, &remote)
}

fn other_namespace(
    facts: &Facts,
    addr: SocketAddr,
    foreign: &HeldListener,
    all: &[HeldListener],
) -> Finding {
    let program = &facts.program;
    let port = addr.port();
    let netns = foreign
        .netns
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default();
    let finding = Finding::new(
        Cause::ListenerInOtherNamespace,
        format!("nothing listens on port {port} here, but {} listens on {} in another network namespace ({netns})", foreign.owner(), foreign.endpoint()),
    )
    .evidence(all.iter().map(|l| Evidence::Listener(l.clone())));
    // Inside its namespace, the listener is reached where it is bound (loopback for every
    // address); from here, at its namespace's own address, when it has one.
    let inside = if foreign.listener.address.is_unspecified() {
        let loopback = if foreign.listener.address.is_ipv4() {
            IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)
        };
        SocketAddr::new(loopback, foreign.listener.port).to_string()
    } else {
        foreign.endpoint()
    };
    // `nsenter` enters the namespace of a process in it: the holder may be outside it.
    let finding = match (
        foreign.container,
        &foreign.netns,
        foreign.netns_pid.or(foreign.pid),
    ) {
        (Some(runtime), _, _) => finding.suggest(super::namespaced::container_fix(runtime, port)),
        (None, Some(Namespace::Named(name)), _) => finding
            .suggest(format!(
                "connect from inside it: `sudo ip netns exec {name} {program} check {inside}`"
            ))
            .suggest("or forward the port into it (a veth and a route, or `socat`)"),
        (None, _, Some(pid)) => super::namespaced::entered(finding, foreign, pid, program, &inside),
        (None, _, None) => {
            finding.suggest("connect from inside that namespace, or forward the port into it")
        }
    };
    match facts.foreign_reach {
        Some(ForeignReach::Linked(reach)) => finding.suggest(format!(
            "from this host it is reached at its namespace's own address: `{program} check {reach}`"
        )),
        // Its address is no way in from here: suggesting it would fail the same way.
        Some(ForeignReach::Unlinked(reach)) => finding.suggest(format!(
            "its namespace's own address {ip} is no way in from here: no link of this namespace leads there (`ip route get {ip}` finds no route, or only one through a gateway away from this host); join the two namespaces (a veth pair or a bridge) to connect to it",
            ip = reach.ip(),
        )),
        None => finding,
    }
}

/// The listener a person most likely meant: the scheme's default port, the server of the
/// port's well-known service, or a near port (one digit off, or two apart).
pub(super) fn intended<'a>(
    facts: &Facts,
    ip: IpAddr,
    port: u16,
    listeners: &'a [HeldListener],
) -> Option<(&'a HeldListener, String)> {
    // A proxy's address comes from the environment, not from a slip of the user's.
    if facts.proxy_address {
        return None;
    }
    let reachable = || {
        listeners
            .iter()
            .filter(|l| l.listener.port != port && l.listener.accepts(ip))
    };
    let scheme = facts.target.scheme();
    if let Some(default) = scheme
        .default_port()
        .map(crate::target::Port::get)
        .filter(|d| *d != port)
    {
        if let Some(l) = reachable().find(|l| l.listener.port == default) {
            return Some((l, format!("the default port of {}://", scheme.as_str())));
        }
    }
    // A well-known service's port: its own server is meant, wherever it listens, and no other
    // program it can be told from (PgBouncer on 6432 is no PostgreSQL moved: it is the
    // pooler in front of the one that is down). One whose program is not seen (another
    // user's, without root) may still be a near port's.
    let service = services::by_port(port);
    if let Some(service) = service {
        if let Some(l) =
            reachable().find(|l| l.process.as_deref().is_some_and(|p| service.is_command(p)))
        {
            return Some((l, format!("port {port} is usually {}'s", service.name)));
        }
    }
    // A scheme that names the service (`postgres://`): its server is meant, the nearest, and no
    // other program it can be told from (Redis near a port asked in `postgres://` is not it).
    let service = service.or_else(|| scheme_service(scheme));
    if let Some(named) = scheme_service(scheme).filter(|_| services::by_port(port).is_none()) {
        if let Some(l) = reachable()
            .filter(|l| l.process.as_deref().is_some_and(|p| named.is_command(p)))
            .min_by_key(|l| l.listener.port.abs_diff(port))
        {
            return Some((
                l,
                format!("{}:// is {}'s scheme", scheme.as_str(), named.name),
            ));
        }
    }
    // A near port's program may be the one meant, unless it is a system daemon.
    reachable()
        .filter(|l| is_near(port, l.listener.port))
        .filter(|l| match l.process.as_deref() {
            Some(p) => service.is_none() && !services::is_beside_the_app(p),
            None => true,
        })
        .min_by_key(|l| l.listener.port.abs_diff(port))
        .map(|l| (l, "a port near the one asked for".to_owned()))
}

/// Whether the rules may name the process holding a listener on `listener_port` when `port` was
/// asked for: a listener on that port, on the scheme's default port or a near one, and any
/// listener when the port is a well-known service's (its server is looked for among them; see
/// [`intended`]). The collector looks up the owners of these only: reading `/proc/PID/fd` of a
/// process with thousands of connections costs tens of milliseconds.
pub(super) fn may_name_owner(scheme: Scheme, port: u16, listener_port: u16) -> bool {
    listener_port == port
        || scheme
            .default_port()
            .is_some_and(|d| d.get() == listener_port)
        || is_near(port, listener_port)
        || services::by_port(port).is_some()
        || scheme_service(scheme).is_some()
}

/// The service a scheme names, whatever the port: PostgreSQL, Redis, MySQL (not HTTP's, whose
/// servers are every program).
fn scheme_service(scheme: Scheme) -> Option<&'static services::Service> {
    match scheme {
        Scheme::Postgres | Scheme::Redis | Scheme::Mysql => {
            services::by_port(scheme.default_port()?.get())
        }
        _ => None,
    }
}

/// Ports a person might mix up: two apart, or the same number of digits with one digit changed,
/// not the first (8080 and 8000 or 8081; 3000 and 8000 are two ranges people pick apart).
fn is_near(a: u16, b: u16) -> bool {
    if a.abs_diff(b) <= 2 {
        return true;
    }
    let (a, b) = (a.to_string(), b.to_string());
    a.len() == b.len()
        && a.chars().next() == b.chars().next()
        && a.chars().zip(b.chars()).filter(|(x, y)| x != y).count() == 1
}

/// A unix socket path that does not exist, while a socket of its name listens in another
/// folder: the service runs, and puts its socket there (PostgreSQL's `unix_socket_directories`).
fn socket_elsewhere(facts: &UnixSocketFacts, path: &str) -> Finding {
    let there = &facts.listening_elsewhere[0];
    let finding = Finding::new(
        Cause::SocketMissing,
        format!(
            "{path} does not exist, but a socket of that name listens at {}: the service runs, with its socket in another folder",
            there.display()
        ),
    )
    .suggest(format!("connect to unix://{} instead", there.display()));
    let folder = there
        .parent()
        .map_or_else(String::new, |p| p.display().to_string());
    if facts
        .path
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(".s.PGSQL."))
    {
        finding.suggest(format!(
            "PostgreSQL's clients take the folder as the host: `psql -h {folder}`, `host={folder}` (libpq, psycopg), or set `PGHOST={folder}`; or make the server put its socket where clients look (`unix_socket_directories` in postgresql.conf)"
        ))
    } else {
        finding.suggest(format!(
            "or configure the client (or the service) so that both use the same folder, {folder}"
        ))
    }
}

/// Explains a unix socket target.
fn unix(outcome: Outcome, facts: &UnixSocketFacts, path: &str) -> Result<Finding, Unexplained> {
    let evidence = Evidence::UnixSocket(facts.clone());
    // A path that is a link names the file it leads to: that file is the one to look at.
    let file = facts.link_target.as_ref().map_or_else(
        || path.to_owned(),
        |target| format!("{path} (a link to {})", target.display()),
    );
    let finding = match outcome {
        Outcome::Connected => Finding::new(Cause::Reachable, format!("{path} accepts connections")),
        _ if facts.exists.is_none() => hidden(facts, path),
        // A socket bound to that very path listens: its file is elsewhere, or gone.
        _ if facts.exists == Some(false) && !facts.listening_hidden.is_empty() => {
            super::unix_hidden::finding(&facts.listening_hidden[0], path)
        }
        _ if facts.exists == Some(false) && !facts.listening_elsewhere.is_empty() => {
            socket_elsewhere(facts, path)
        }
        _ if facts.exists == Some(false) => Finding::new(Cause::SocketMissing, match &facts.link_target {
            Some(target) => format!("{path} is a link to {}, which does not exist: the service is not running, or it uses another path", target.display()),
            None => format!("{path} does not exist: the service is not running, or it uses another path"),
        })
            .suggest("start the service; `ss -lxp` lists the unix sockets that listen, and their paths"),
        _ if !facts.is_socket() => Finding::new(
            Cause::SocketMissing,
            format!("{file} is a {}, not a socket", facts.file_type.map_or("file", FileType::as_str)),
        )
        .suggest("check the socket path the service is configured with; `ss -lxp` lists the unix sockets that listen"),
        // Nobody listens on that very file: whether this user may write it does not matter.
        Outcome::PermissionDenied if facts.listening == Some(false) => stale(facts, path, outcome),
        Outcome::PermissionDenied => Finding::new(
            Cause::SocketPermissionDenied,
            format!("{file} exists, but this user may not connect to it"),
        )
        .suggest(permission_fix(facts)),
        Outcome::Refused => stale(facts, path, outcome),
        Outcome::Other(Some(libc::EAGAIN)) => Finding::new(
            Cause::ListenQueueFull,
            format!("a process listens on {path}, but its accept queue is full"),
        )
        .suggest("the server does not accept connections fast enough: it is stuck or overloaded"),
        Outcome::Timeout => Finding::new(Cause::ListenQueueFull, format!("{path} did not accept within the timeout: its server does not call accept()")),
        Outcome::Other(Some(libc::EPROTOTYPE)) => Finding::new(
            Cause::SocketMissing,
            format!("{file} is a socket of another type (datagram or seqpacket): a stream connection cannot reach it"),
        )
        .suggest("check the socket path the service is configured with; `ss -lxp` lists the unix stream sockets that listen"),
        other => return Err(Unexplained { address: path.to_owned(), outcome: other }),
    };
    Ok(finding.evidence([evidence]))
}

/// A socket file nobody listens on: left by a server that is gone, or replaced while its server
/// still listens on the earlier file (deleted or overwritten by another instance or a cleanup).
/// A connect denied by the file's mode (`outcome`) is said too: the new server's file may have
/// the same mode. Through a link, the socket file is the link's target: removing the link
/// leaves it.
fn stale(facts: &UnixSocketFacts, path: &str, outcome: Outcome) -> Finding {
    let denied = match (outcome, facts.mode) {
        (Outcome::PermissionDenied, Some(mode)) => {
            format!(" (and its mode {mode} would not let this user connect)")
        }
        (Outcome::PermissionDenied, None) => " (and this user may not connect to it)".to_owned(),
        _ => String::new(),
    };
    let socket = facts
        .link_target
        .as_ref()
        .map_or_else(|| path.to_owned(), |t| t.display().to_string());
    let Some(earlier) = facts.earlier_listeners.first() else {
        let (what, remove) = match &facts.link_target {
            Some(target) => (
                format!("{path} is a link to {}, a socket file,", target.display()),
                format!(
                    "remove the socket file {socket} first (removing the link {path} leaves it)"
                ),
            ),
            None => (
                format!("{path} is a socket file,"),
                "remove the file first".to_owned(),
            ),
        };
        return Finding::new(
            Cause::SocketStale,
            format!("{what} but no process listens on it{denied}: it was left by a server that is gone"),
        )
        .suggest(format!("start the service again (it replaces the file); if it refuses to start because the file exists, {remove}"));
    };
    let owner = earlier.owner();
    let through = facts
        .link_target
        .as_ref()
        .map_or_else(String::new, |_| format!(" (which {path} leads to)"));
    Finding::new(
        Cause::SocketStale,
        format!(
            "no process listens on the socket file at {socket}{through}{denied}, but {owner} still listens on an earlier file of that name: the file was deleted or replaced after it started"
        ),
    )
    .suggest(format!(
        "restart {owner} so that it binds {socket} again; until then nothing can reach it through that path"
    ))
    .suggest("find what replaced the file: a second instance of the service, or a cleanup of its directory (`systemd-tmpfiles`, a startup script)")
}

/// A path that a directory on the way hides from this user: the kernel denies the connect (and
/// even a look at whether the socket exists) before the socket's own mode counts. The directory
/// is found as the kernel walks the path, through its links.
fn hidden(facts: &UnixSocketFacts, path: &str) -> Finding {
    let Some(dir) = &facts.closed_directory else {
        return Finding::new(
            Cause::SocketPermissionDenied,
            format!("this user may not look at {path}: a directory on the way may not be searched"),
        )
        .suggest(format!(
            "`namei -l {path}` shows the mode and owner of each directory on the way"
        ));
    };
    let shown = dir.path.display();
    let user = dir.owner.user_name();
    let through = dir.through_link.as_ref().map_or_else(String::new, |link| {
        format!(", where the link {} leads", link.display())
    });
    let finding = Finding::new(
        Cause::SocketPermissionDenied,
        format!(
            "this user may not search directory {shown} (mode {}, owner {user}){through}, so it cannot reach {path}, nor tell whether it exists",
            dir.mode
        ),
    );
    let group_may_search = dir.mode.grants(Class::Group, Permission::Search);
    let finding = match &dir.owner.group {
        Some(group) if group_may_search && !dir.owner.has_admin_group() => finding.suggest(format!(
            "join its group `{group}`: `sudo usermod -aG {group} $USER`, then log in again (or {})",
            run_as(&user)
        )),
        _ => finding.suggest(format!(
            "{}, or let the service create {shown} with a mode others may search (`sudo chmod o+x {shown}`; the socket's own mode still decides who may connect)",
            run_as(&user)
        )),
    };
    finding.suggest(format!(
        "`sudo ls -l {shown}` shows whether the socket is there"
    ))
}

/// How to get the right to connect to a unix socket: through its group when the group may
/// write, unless the group makes administrators (`root`, `sudo`): then a group of the service's
/// own, as Docker's `docker` group for docker.sock.
fn permission_fix(facts: &UnixSocketFacts) -> String {
    let group_may_write = facts
        .mode
        .is_some_and(|m| m.grants(Class::Group, Permission::Write));
    let user = facts.user.as_deref().unwrap_or("its owner");
    let mode = facts
        .mode
        .map_or_else(|| "unknown".to_owned(), |m| m.to_string());
    let admin_group = facts
        .gid
        .is_some_and(|gid| crate::sys::unix_path::is_admin_group(gid, facts.group.as_deref()));
    let own_group = "have the service give the socket a group of its own that may write (as Docker's `docker` group for docker.sock; `SocketGroup=` in a systemd socket unit) and join that group";
    match facts.group.as_deref() {
        Some(group) if group_may_write && !admin_group => format!(
            "join its group `{group}`: `sudo usermod -aG {group} $USER`, then log in again (or {})",
            run_as(user)
        ),
        Some(group) if group_may_write => format!(
            "only {user} and the group `{group}` may connect (mode {mode}), and joining `{group}` would make this user an administrator: {}, or {own_group}",
            run_as(user)
        ),
        _ => format!(
            "only {user} may connect (mode {mode}): {}, or {own_group} (or give it a wider mode)",
            run_as(user)
        ),
    }
}

/// `run as root (`sudo ...`)`, or as another user with `sudo -u`.
fn run_as(user: &str) -> String {
    if user == "root" {
        "run as root (`sudo ...`)".to_owned()
    } else {
        format!("run as {user} (`sudo -u {user} ...`)")
    }
}

#[path = "blocked.rs"]
pub(in crate::diagnose) mod blocked;
#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
