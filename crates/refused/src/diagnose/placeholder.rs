//! Rules for a port a container runtime publishes (`docker run -p`), whose socket on this host
//! is only the runtime's placeholder: docker-proxy, dockerd's own reservation of the port (with
//! the userland proxy off), rootlessport. Bound to one address or family, it is the publishing
//! that chose it, so the fix is the publishing's (`-p 8080:80`), never a bind setting of the
//! helper: dockerd's `--host` is its API socket, and opening that on TCP hands out root.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::probe::Readiness;

use super::cause::Cause;
use super::evidence::{ContainerPort, Evidence, HeldListener, Publisher};
use super::facts::Facts;
use super::rules::Finding;

/// The published TCP port that `held`, a container runtime's helper, holds the socket of.
pub(super) fn of<'a>(facts: &'a Facts, held: &HeldListener) -> Option<&'a ContainerPort> {
    facts
        .container_ports
        .iter()
        .find(|p| p.protocol == "tcp" && p.is_of(held))
}

/// Where the failed connection came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Asked {
    /// This host, the placeholder's own: its other addresses are a way in.
    Here,
    /// Another namespace (another host, as far as the publishing goes).
    Outside,
}

/// `finding`, a listening-on-other-address or -family about `bound` (a helper's socket for
/// `published`) refusing `addr`, told as the publishing it is, with the publishing's fixes in
/// place of a bind setting of the helper's.
pub(super) fn bound_elsewhere(
    finding: Finding,
    addr: SocketAddr,
    bound: &HeldListener,
    published: &ContainerPort,
    asked: Asked,
) -> Finding {
    let ip = addr.ip();
    let at = bound.listener.address;
    let port = addr.port();
    let current = format!("-p {}", published.flag(Some(at), false));
    let who = who(published);
    let runtime = runtime(published);
    let inside = published
        .container_port
        .map_or_else(String::new, |p| format!(" {p}"));
    // dockerd holds the port itself when its userland proxy is off: its DNAT rules alone
    // publish it, and they send nothing from IPv6 (no `::1` at all) into a container.
    let dnat_alone = published.process.as_deref() == Some("dockerd");
    let dead = dnat_alone && at.is_ipv6();
    let alone = if at.is_unspecified() {
        format!("on {} alone", family(at))
    } else {
        format!("on {at} alone")
    };
    let summary = if dead {
        format!(
            "{}: {runtime} publishes {who}'s port{inside} {alone} (`{current}`), which {} only reserves: without its userland proxy, Docker forwards no connection to {at} into the container",
            finding.summary,
            bound.owner()
        )
    } else {
        format!(
            "{}: {runtime} publishes {who}'s port{inside} {alone} (`{current}`), and {} only holds the port for it",
            finding.summary,
            bound.owner()
        )
    };
    let mut fixed = Finding::new(finding.cause, summary)
        .evidence(finding.evidence)
        .evidence([Evidence::ContainerPort(published.clone())]);
    fixed.warnings = finding.warnings;
    if published.runtime == Publisher::Kubectl {
        return fixed.suggest(format!(
            "run `kubectl port-forward` with the address meant: `--address {}` (its own option: it forwards {alone} now)",
            if ip.is_ipv4() { "0.0.0.0" } else { "::" }
        ));
    }
    let loopbacks = ip.is_loopback() && at.is_loopback();
    if dead {
        // The one publishing that works from here: the asked family's loopback for loopback,
        // else every address.
        let wanted = loopbacks.then_some(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let to = if loopbacks {
            format!(", then connect to 127.0.0.1:{port}")
        } else {
            String::new()
        };
        return fixed.suggest(recreate(published, &who, wanted, &current, &to));
    }
    if asked == Asked::Here {
        fixed = fixed.suggest(format!("connect to {} instead", bound.reach_at(ip)));
    }
    if loopbacks && dnat_alone && ip.is_ipv6() {
        // `-p '[::1]:...'` would be reserved and never forwarded: IPv4 is the way.
        return fixed.suggest(format!(
            "without its userland proxy, Docker forwards no connection to {ip} into a container: use 127.0.0.1"
        ));
    }
    let fix = if loopbacks {
        // `::1` for 127.0.0.1 or the other way: the asked family's loopback beside it.
        let wanted = if ip.is_ipv4() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            IpAddr::V6(Ipv6Addr::LOCALHOST)
        };
        recreate(
            published,
            &who,
            Some(wanted),
            &current,
            "; both `-p` options together take either family",
        )
    } else {
        let only = if ip.is_loopback() || at.is_unspecified() {
            String::new()
        } else {
            format!(
                "; `-p {}` publishes it on {ip} alone",
                published.flag(Some(ip), false)
            )
        };
        recreate(published, &who, None, &current, &only)
    };
    let prefix = if asked == Asked::Here { "or " } else { "" };
    fixed.suggest(format!("{prefix}{fix}"))
}

/// The fix that re-creates the container with `-p` on `wanted` (`None`: every address) in place
/// of `current`, followed by `then`.
fn recreate(
    published: &ContainerPort,
    who: &str,
    wanted: Option<IpAddr>,
    current: &str,
    then: &str,
) -> String {
    let flag = published.flag(wanted, false);
    let every = if wanted.is_none() {
        " (every address, both families)"
    } else {
        ""
    };
    let compose = compose(published, &[&flag]);
    format!(
        "publish it where it is asked: re-create {who} with `-p {flag}`{every} in place of `{current}`{compose}{then}"
    )
}

/// The `-p` flags as compose's `ports:` writes them (`8080:80` and `8080:80/udp` as
/// `ports: ["8080:80", "8080:80/udp"]`, in parentheses), for a runtime whose containers
/// compose publishes; else nothing.
fn compose(published: &ContainerPort, flags: &[&str]) -> String {
    if !published.runtime.has_run_publish() {
        return String::new();
    }
    let ports: Vec<String> = flags
        .iter()
        .map(|flag| format!("\"{}\"", flag.trim_matches('\'')))
        .collect();
    format!(" (compose: `ports: [{}]`)", ports.join(", "))
}

/// The container by its name (its runtime's daemon said it), else as "the container".
fn who(published: &ContainerPort) -> String {
    published.container.as_ref().map_or_else(
        || "the container".to_owned(),
        |name| format!("container `{name}`"),
    )
}

/// The runtime as a sentence names it.
fn runtime(published: &ContainerPort) -> &'static str {
    published.runtime.name().unwrap_or("its container runtime")
}

fn family(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() { "IPv4" } else { "IPv6" }
}

/// Nothing listens on TCP `port` of this host, but a container runtime publishes it for UDP
/// (`-p 8085:80/udp`): a TCP client meets nothing there.
pub(super) fn udp_only(facts: &Facts, ip: IpAddr, port: u16) -> Option<Finding> {
    let udp: Vec<&ContainerPort> = facts
        .container_ports
        .iter()
        .filter(|p| p.protocol == "udp" && p.port == port)
        .collect();
    let first = udp.first()?;
    // Docker lists `-p 8085:80/udp` once for each family's wildcard.
    let at = (!first.address.is_unspecified()).then_some(first.address);
    let udp_flag = first.flag(at, true);
    let tcp_flag = first.flag(at, false);
    let who = who(first);
    let compose = compose(first, &[&tcp_flag, &udp_flag]);
    Some(
        Finding::new(
            Cause::NoListener,
            format!(
                "nothing listens on TCP port {port} on this host ({ip} is local): {} publishes it for UDP only ({who}, `-p {udp_flag}`)",
                runtime(first)
            ),
        )
        .evidence(udp.iter().map(|p| Evidence::ContainerPort((*p).clone())))
        .evidence([Evidence::LocalAddress { address: ip }])
        .suggest(format!(
            "publish it for TCP too: re-create {who} with `-p {tcp_flag}` (TCP) beside `-p {udp_flag}`{compose}"
        ))
        .suggest("or, if the service speaks UDP, use a UDP client: no TCP connection reaches it"),
    )
}

/// A connection that only entered the queue of rootful Podman's `conmon`, which reserves a
/// port a container publishes and never accepts: netavark's DNAT rules of this host send the
/// published port's connections on before they reach it, so one that waits there met no rule
/// (a container on an `--internal` network gets none). `None` when no such holder has the port
/// with connections in its queue, or the probe met an answer (the DNAT rule's container's).
pub(super) fn reserved_only(
    facts: &Facts,
    addr: SocketAddr,
    readiness: &Readiness,
    holders: &[&HeldListener],
) -> Option<Finding> {
    if !super::unaccepted::is_unserved(facts.target.scheme(), readiness) {
        return None;
    }
    let held = holders
        .iter()
        .copied()
        .find(|h| h.process.as_deref() == Some("conmon") && h.listener.queue > 0)?;
    let published = of(facts, held);
    let port = addr.port();
    let who = published.map_or_else(|| "the container".to_owned(), who);
    let name = published
        .and_then(|p| p.container.as_deref())
        .unwrap_or("CONTAINER");
    Some(
        Finding::new(
            Cause::NotReady,
            format!(
                "{addr} accepts connections, but only into the queue of {}, which reserves port {port} for Podman's {who} and never accepts: Podman forwards the port by DNAT rules of this host, and none sent this connection on",
                held.owner()
            ),
        )
        .evidence(super::rules::listed(&[held]))
        .evidence(published.cloned().map(Evidence::ContainerPort))
        .suggest(format!(
            "a container on an `--internal` network gets no DNAT rule for its `-p`: `podman inspect {name} --format '{{{{.NetworkSettings.Networks}}}}'` lists its networks, `podman network inspect NETWORK` says whether one is internal; re-create {who} on a network that is not internal"
        ))
        .suggest("else this host's nat rules were changed or flushed since the container started (`iptables -t nat -S`, `nft list ruleset`): `podman network reload --all` makes Podman's again"),
    )
}
