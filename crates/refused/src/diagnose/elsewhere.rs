//! Rules for an address that another network namespace of this host holds (a container's own
//! IP), and for a port this host publishes elsewhere by DNAT: the listeners where the packets
//! really go decide, named with their namespace and fixes that work from outside it.

use std::net::{IpAddr, SocketAddr};

use crate::outcome::Outcome;
use crate::probe::Readiness;
use crate::sys::netns::Namespace;

use super::cause::Cause;
use super::evidence::{ContainerRuntime, Evidence, HeldListener};
use super::facts::{AddressFacts, Facts, Holder, Published};
use super::held_path;
use super::rules::{Finding, Unexplained, explain, full_queue, intended, listed, local, proxy_fix};

/// A port this host publishes by DNAT: explained where it is sent, with the rule as evidence.
pub(super) fn published(
    facts: &Facts,
    address: &AddressFacts,
    published: &Published,
) -> Result<Finding, Unexplained> {
    let to = published.to;
    // The same attempt, as if made to where the rule sends it.
    let there = AddressFacts {
        addr: to,
        local: published.to_local,
        published: None,
        ..address.clone()
    };
    let inner = match (&address.holder, published.to_local) {
        (_, true) => local(facts, &there)?,
        (Some(holder), false) => match held(facts, &there, to, holder, Sent::Published) {
            Some(finding) => finding,
            None => explain(facts, &there)?,
        },
        (None, false) => explain(facts, &there)?,
    };
    let mut finding = Finding {
        summary: format!(
            "{} is published to {to} by this host's DNAT rule (chain `{}`); there, {}",
            address.addr, published.rule.chain, inner.summary
        ),
        ..inner
    };
    suggest_publishing(
        facts,
        &mut finding,
        address.addr.port(),
        published.rule.chain == "DOCKER",
    );
    finding
        .evidence
        .insert(0, Evidence::Dnat(published.rule.clone()));
    Ok(finding)
}

/// A port Docker publishes (`by_docker`: its chain `DOCKER`, or its docker-proxy), or Podman
/// (the program there is in a container of Podman's: netavark's or CNI's DNAT rule), to one
/// where nothing listens, while the program listens on another: the fix is the publishing,
/// `-p PORT:THAT`, first, in the runtime's own words.
pub(super) fn suggest_publishing(facts: &Facts, finding: &mut Finding, port: u16, by_docker: bool) {
    if finding.cause != Cause::WrongPort {
        return;
    }
    let Some(Evidence::Listener(candidate)) = finding.evidence.first() else {
        return;
    };
    let inside = candidate.listener.port;
    let by_podman = candidate.container == Some(ContainerRuntime::Podman);
    let fix = if by_docker {
        format!(
            "publish the port the program listens on: `docker run -p {port}:{inside} ...` (compose: `ports: [\"{port}:{inside}\"]`)"
        )
    } else if by_podman {
        podman_publishing(facts, candidate, port, inside)
    } else {
        return;
    };
    // The runtime's way of sending the published port elsewhere, in place of the general one.
    finding
        .suggestions
        .retain(|s| !s.starts_with("send the published port to "));
    finding.suggestions.insert(0, fix);
}

/// Podman's fix for a port published to one where nothing listens, while `candidate` listens
/// on `inside`: the container re-created with `podman run -p PORT:INSIDE`, named by its
/// `conmon`, or its pod re-created with `podman pod create -p`, since a pod's containers
/// publish nothing of their own (`podman run --pod` refuses `-p`).
fn podman_publishing(facts: &Facts, candidate: &HeldListener, port: u16, inside: u16) -> String {
    let who = match candidate
        .pid
        .and_then(|pid| facts.podman_containers.iter().find(|c| c.pid == pid))
    {
        Some(c) if c.in_pod => PodmanWho::InPod(&c.name),
        Some(c) => PodmanWho::Container(&c.name),
        None => PodmanWho::Unknown,
    };
    podman_fix(&who, port, inside)
}

/// Whose publishing a Podman fix re-creates.
pub(super) enum PodmanWho<'a> {
    /// A container, by name.
    Container(&'a str),
    /// A pod's container, by name (the pod's name not known).
    InPod(&'a str),
    /// A pod, by name.
    Pod(&'a str),
    /// Not known.
    Unknown,
}

/// `-p PORT:INSIDE` in Podman's words, for `who`.
pub(super) fn podman_fix(who: &PodmanWho<'_>, port: u16, inside: u16) -> String {
    let publish = "publish the port the program listens on";
    match who {
        PodmanWho::Container(name) => format!(
            "{publish}: re-create container `{name}` with `podman run -p {port}:{inside} ...` (`podman port {name}` lists what it publishes now)"
        ),
        PodmanWho::InPod(name) => format!(
            "{publish}: container `{name}` is in a pod, whose ports are set when the pod is made: re-create the pod with `podman pod create -p {port}:{inside} ...` (`podman pod ps` lists the pods)"
        ),
        PodmanWho::Pod(pod) => format!(
            "{publish}: pod `{pod}`'s ports are set when it is made: re-create it with `podman pod create --name {pod} -p {port}:{inside} ...` (`podman pod inspect {pod}` lists them now)"
        ),
        PodmanWho::Unknown => format!(
            "{publish}: re-create the container with `podman run -p {port}:{inside} ...` (a pod's: `podman pod create -p {port}:{inside}`)"
        ),
    }
}

/// Rootless Podman's `rootlessport` that took the connection and closed it (or, for a protocol,
/// ended it before any answer): its child's own connect inside the container failed, which is
/// explained there from the container's listeners, as a published port is. `None` when none
/// took it, or when the probe's end is not a drop (a service's own answer came through).
pub(super) fn rootless(
    facts: &Facts,
    winner: &AddressFacts,
    readiness: &Readiness,
) -> Option<Finding> {
    let addr = winner.addr;
    let forward = facts
        .rootless
        .as_ref()
        .filter(|f| f.listens.port() == addr.port())?;
    if !super::forwarded::is_dropped(facts.target.scheme(), readiness) {
        return None;
    }
    let to = forward.to;
    // No connect of ours reaches `to` (the container's own address, behind slirp4netns or
    // pasta): what rootlessport's child met is read from the listeners there, as if refused,
    // the only failure that closes ours at once (a silence would hold it open).
    let mut attempt = winner.attempt.clone();
    attempt.outcome = Outcome::Refused;
    let there = AddressFacts::behind(attempt, to, Some(forward.holder.clone()));
    let inner = held(facts, &there, to, &forward.holder, Sent::Published)?;
    let (whose, who) = match &forward.pod {
        Some(pod) => (format!("pod `{pod}`'s"), PodmanWho::Pod(pod)),
        None => (
            format!("container `{}`'s", forward.container),
            PodmanWho::Container(&forward.container),
        ),
    };
    let mut finding = Finding {
        summary: format!(
            "{addr} is published to {whose} port {} by rootless Podman's rootlessport (pid {}), which accepts the connection and closes it when its own connect inside the container fails; there, {}",
            to.port(),
            forward.pid,
            inner.summary
        ),
        ..inner
    };
    match (finding.cause, finding.evidence.first()) {
        (Cause::WrongPort, Some(Evidence::Listener(candidate))) => {
            let fix = podman_fix(&who, addr.port(), candidate.listener.port);
            finding
                .suggestions
                .retain(|s| !s.starts_with("send the published port to "));
            finding.suggestions.insert(0, fix);
        }
        // The container's own user reads its listeners from `/proc`, which cannot say whether
        // one on `[::]` takes IPv4: its podman says what runs there.
        (Cause::NoListener, _) => {
            let port = addr.port();
            let (logs, again) = match &forward.pod {
                Some(pod) => (
                    format!("podman pod logs {pod}"),
                    format!("podman pod create --name {pod} -p {port}:PORT"),
                ),
                None => (
                    format!("podman logs {}", forward.container),
                    format!("podman run -p {port}:PORT"),
                ),
            };
            finding.suggestions.insert(
                0,
                format!(
                    "`{logs}` says whether its program started, and on which port: re-create it with `{again}` for that one"
                ),
            );
        }
        _ => {}
    }
    Some(finding)
}

/// The one port that anything reachable at `ip` listens on in another namespace, when there is
/// just one and it is not `port`: a container runs one program, and a port published to one
/// where nothing listens, while that program listens on its own port, is the usual mix-up
/// (`-p 8080:80` for a program on 3000). Only for a published port: straight to a namespace's
/// address, its one program (an sshd) need not be what was meant.
fn only_port(listeners: &[HeldListener], ip: IpAddr, port: u16) -> Option<&HeldListener> {
    let mut reachable = listeners
        .iter()
        .filter(|l| l.listener.port != port && l.listener.accepts(ip));
    let first = reachable.next()?;
    // A system daemon alone there (a container or VM's sshd, a metrics exporter) is not the
    // program meant: that one is down, or listens on nothing.
    let daemon = first
        .process
        .as_deref()
        .is_some_and(crate::sys::services::is_beside_the_app);
    (!daemon && reachable.all(|l| l.listener.port == first.listener.port)).then_some(first)
}

/// A port proxy of this host (docker-proxy) that took the connection and closed it, its own
/// connect to where it sends it having failed: explained there, as a published port is, from
/// our connect there and, as root, the listeners of the namespace that holds it. `None` when
/// that connect worked (the program there closed it: the proxy is not the story).
pub(super) fn proxied(facts: &Facts, addr: SocketAddr) -> Option<Finding> {
    let proxied = facts.proxied.as_ref().filter(|p| p.proxy.takes(addr))?;
    let outcome = proxied.attempt.outcome;
    // Refused or reset there: the proxy's own connect failed so, and it closed ours. No answer
    // there either, when ours met silence: the proxy waits on its own connect. Anything else
    // (it connects there) does not say what happened to ours.
    let silent = facts
        .probe
        .as_ref()
        .is_some_and(crate::probe::Readiness::is_silence);
    let fits = match outcome {
        Outcome::Refused | Outcome::Reset => !silent,
        Outcome::Timeout => silent,
        _ => false,
    };
    if !fits {
        return None;
    }
    let proxy = &proxied.proxy;
    let to = proxy.to;
    let there = AddressFacts::behind(proxied.attempt.clone(), to, proxied.holder.clone());
    let inner = proxied
        .holder
        .as_ref()
        .and_then(|holder| held(facts, &there, to, holder, Sent::Published));
    let inner = match (inner, outcome) {
        (Some(inner), _) => inner,
        // Its listeners unseen (no root): a refused connect there is still nothing on the port.
        (None, Outcome::Refused) => Finding::new(
            Cause::NoListener,
            format!("nothing listens on port {} at {}", to.port(), to.ip()),
        )
        .suggest(format!(
            "is the container running (`docker ps`), and what do its logs say (`docker logs`)? Its program must listen on 0.0.0.0:{} inside it; `sudo {} why {}` shows what it listens on",
            to.port(),
            facts.program,
            facts.target
        )),
        (None, _) => return None,
    };
    let does = if silent {
        "which accepts the connection and waits on its own to {to}, which gets no answer"
    } else {
        "which accepts the connection and closes it when its own to {to} fails"
    }
    .replace("{to}", &to.to_string());
    let mut finding = Finding {
        summary: format!(
            "{addr} is published to {to} by {} (pid {}), {does}; there, {}",
            proxy.process, proxy.pid, inner.summary
        ),
        ..inner
    };
    suggest_publishing(facts, &mut finding, addr.port(), true);
    finding.evidence.insert(
        0,
        Evidence::PortProxy {
            proxy: proxy.clone(),
            outcome,
        },
    );
    Some(finding)
}

/// The prefix that runs a command inside `holder`'s namespace (see [`enter_namespace`]).
pub(super) fn enter(holder: &Holder) -> String {
    enter_namespace(&holder.netns, holder.pid)
}

/// The prefix that runs a command inside `netns`: `sudo ip netns exec NAME` for a named one,
/// else `sudo nsenter -t PID -n` through a process of it (a container's).
pub(super) fn enter_namespace(netns: &Namespace, pid: Option<u32>) -> String {
    match pid {
        Some(pid) if !matches!(netns, Namespace::Named(_)) => format!("sudo nsenter -t {pid} -n"),
        _ => format!("sudo ip netns exec {netns}"),
    }
}

/// How the connection came to a namespace's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sent {
    /// Straight to it.
    Directly,
    /// Through a published port (a DNAT rule, a port proxy): whoever published it meant that
    /// namespace's program, so its only port is the one meant.
    Published,
}

/// Explains a failed connect to `dest`, held by `holder`; `None` when its listeners could not
/// be read or the outcome is not about listeners (the generic rules then speak).
pub(super) fn held(
    facts: &Facts,
    address: &AddressFacts,
    dest: SocketAddr,
    holder: &Holder,
    sent: Sent,
) -> Option<Finding> {
    if let Some(published) = &holder.published {
        // Its nat prerouting sends the port on before any listener of its own sees it.
        return held_path::published_there(facts, address, dest, holder, published);
    }
    let listeners = holder.listeners.as_deref()?;
    let (ip, port) = (dest.ip(), dest.port());
    let netns = &holder.netns;
    let (on_port, exact) = super::rules::on_port(listeners, dest);
    let inside = format!("network namespace {netns}, which holds {ip}");
    let enter = enter(holder);

    let finding = match (address.attempt.outcome, exact.first()) {
        (Outcome::Timeout, Some(_)) => silent(holder, &exact, dest, &inside, &enter),
        // Nothing on the port at all there: a listener on another of its addresses is not
        // "nothing listens".
        (Outcome::Timeout, None) if on_port.is_empty() => {
            held_path::dropped_unheld(holder, dest, &inside, &enter)?
        }
        (Outcome::Reset, Some(listener)) => Finding::new(
            Cause::NotReady,
            format!(
                "{} listens on {} in {inside}, but reset the connection as soon as it was made",
                listener.owner(),
                listener.endpoint()
            ),
        )
        .evidence(listed(&exact))
        .suggest(proxy_fix(Some(listener))),
        // An ICMP reject that the address itself sent: that namespace's rule, when one rejects.
        (Outcome::HostUnreachable | Outcome::PermissionDenied | Outcome::NetworkUnreachable, _) => {
            held_path::rejected(address, holder, &exact, &inside, &enter)?
        }
        (Outcome::Refused, Some(listener)) if facts.own_rules_unread(address) => {
            this_host_or_that_namespace(facts, listener, &exact, &inside, &enter)
        }
        (Outcome::Refused, Some(listener)) => {
            held_path::refused(facts, holder, dest, listener, &exact, &inside, &enter)
        }
        // A firewall's ICMP reject (no TCP stack answers a closed port so), and a listener on
        // `::` there that may take IPv4 too (whether it is IPV6_V6ONLY is not known without
        // root): a rule, not the family.
        (Outcome::Refused, None)
            if address.attempt.icmp.is_some() && maybe_dual_stack(&on_port, ip).is_some() =>
        {
            let listener = maybe_dual_stack(&on_port, ip)?;
            if facts.own_rules_unread(address) {
                this_host_or_that_namespace(facts, listener, &on_port, &inside, &enter)
            } else {
                held_path::refused(facts, holder, dest, listener, &on_port, &inside, &enter)
            }
        }
        (Outcome::Refused | Outcome::Reset, None) if !on_port.is_empty() => {
            bound_elsewhere(facts, &on_port, dest, netns, &inside)
        }
        (Outcome::Refused | Outcome::Reset, None) => {
            let candidate = intended(facts, ip, port, listeners).or_else(|| {
                only_port(listeners, ip, port)
                    .filter(|_| sent == Sent::Published)
                    .map(|l| {
                        (
                            l,
                            "the only port anything listens on in that namespace".to_owned(),
                        )
                    })
            });
            match candidate {
                Some((candidate, why)) => Finding::new(
                    Cause::WrongPort,
                    format!(
                        "nothing listens on port {port} in {inside}, but {} listens on {} there ({why})",
                        candidate.owner(),
                        candidate.endpoint()
                    ),
                )
                .evidence([Evidence::Listener(candidate.clone())])
                // Through a published port, the namespace's own address need not be reachable
                // from here (a container's, from another machine): the publishing is the fix.
                .suggest(match sent {
                    Sent::Directly => format!("connect to {} instead", candidate.reach_at(ip)),
                    Sent::Published => format!("send the published port to {} instead", candidate.reach_at(ip)),
                })
                .suggest(format!("or make the service listen on port {port}")),
                None => Finding::new(
                    Cause::NoListener,
                    format!("nothing listens on port {port} in {inside}"),
                )
                .suggest(format!(
                    "start the service in that namespace (a container: is its program running? its logs say why not); `{enter} ss -ltnp` lists what listens there"
                )),
            }
        }
        _ => return None,
    };
    Some(finding.evidence([Evidence::Namespace {
        netns: netns.to_string(),
        address: ip,
        pid: holder.pid,
    }]))
}

/// A listener on `::` whose `IPV6_V6ONLY` is not known (another namespace's, read without root),
/// which may take IPv4 `ip` too.
fn maybe_dual_stack<'a>(on_port: &[&'a HeldListener], ip: IpAddr) -> Option<&'a HeldListener> {
    on_port.iter().copied().find(|l| {
        ip.is_ipv4()
            && l.listener.address.is_ipv6()
            && l.listener.address.is_unspecified()
            && l.listener.v6only.is_none()
    })
}

/// Refused by a namespace where something has the port, on an address or family that `dest`
/// is not: the family when every listener is of the other one, or only on `::` with
/// `IPV6_V6ONLY`. A container runtime's helper there (docker-proxy) is only the publishing's
/// placeholder: the publishing is fixed, not the helper's bind.
fn bound_elsewhere(
    facts: &Facts,
    on_port: &[&HeldListener],
    dest: SocketAddr,
    netns: &Namespace,
    inside: &str,
) -> Finding {
    let (ip, port) = (dest.ip(), dest.port());
    let every = if ip.is_ipv4() { "0.0.0.0" } else { "::" };
    let v6only = on_port.iter().copied().find(|l| {
        l.listener.v6only == Some(true) && l.listener.address.is_unspecified() && ip.is_ipv4()
    });
    let other_family = on_port
        .iter()
        .all(|l| l.listener.address.is_ipv4() != ip.is_ipv4())
        && on_port.iter().any(|l| l.listener.address.is_unspecified());
    let bound = v6only.unwrap_or(on_port[0]);
    let finding = if v6only.is_some() || other_family {
        let (family, other) = if ip.is_ipv4() {
            ("IPv4", "IPv6")
        } else {
            ("IPv6", "IPv4")
        };
        // `::` whose IPV6_V6ONLY is not known: it may take IPv4, and refused all the same.
        let only = match maybe_dual_stack(on_port, ip) {
            Some(_) => format!(
                "{other} only, unless it takes IPv4 too: whether it is IPV6_V6ONLY is not known without root"
            ),
            None => format!("{other} only"),
        };
        Finding::new(
            Cause::ListeningOnOtherFamily,
            format!(
                "{} listens on {} ({only}) in {inside}, and {dest} is {family}",
                bound.owner(),
                bound.endpoint()
            ),
        )
        .evidence(listed(on_port))
        .suggest(format!(
            "make the program take {family} too inside the namespace: bind it to {every}, or to `::` with IPV6_V6ONLY off (its dual-stack or ipv6only setting)"
        ))
    } else {
        let only_inside = if bound.listener.address.is_loopback() {
            format!(", which only programs inside {netns} can reach")
        } else {
            String::new()
        };
        Finding::new(
            Cause::ListeningOnOtherAddress,
            format!(
                "{} listens on port {port} in {inside}, but only on {}{only_inside}",
                bound.owner(),
                bound.listener.address
            ),
        )
        .evidence(listed(on_port))
        .suggest(format!(
            "make the program listen on {every} (every address) inside the namespace: its bind or host setting (`--host {every}`, `--bind {every}`, `listen_addresses = '*'`)"
        ))
    };
    match super::placeholder::of(facts, bound) {
        Some(published) => super::placeholder::bound_elsewhere(
            finding,
            dest,
            bound,
            published,
            super::placeholder::Asked::Outside,
        ),
        None => finding,
    }
}

/// Refused though `listener` listens right there, with this host's rules unread: a reject rule
/// of this host (an `OUTPUT` reject with a reset) looks the same as one of that namespace's.
fn this_host_or_that_namespace(
    facts: &Facts,
    listener: &HeldListener,
    exact: &[&HeldListener],
    inside: &str,
    enter: &str,
) -> Finding {
    Finding::new(
        Cause::BlockedLocally,
        format!(
            "{} listens on {} in {inside}, yet the connection was refused: a firewall rejects it: this host's (its rules could not be read) or that namespace's",
            listener.owner(),
            listener.endpoint()
        ),
    )
    .evidence(listed(exact))
    .suggest(format!(
        "run as root to read this host's rules: `sudo {} why {}` names the rule of this host that rejects it, if one does",
        facts.program, facts.target
    ))
    .suggest(format!("`{enter} nft list ruleset` shows the namespace's rules"))
}

/// No answer from a listener's address in another namespace: its full queue, its missing route
/// back, a firewall, or the path. The listener is named by its own endpoint (`[::]:8000`), the
/// connection by the address asked.
fn silent(
    holder: &Holder,
    exact: &[&HeldListener],
    dest: SocketAddr,
    inside: &str,
    enter: &str,
) -> Finding {
    let beyond = || held_path::silent(holder, exact, dest, inside, enter);
    let dropped = || held_path::dropped(holder, exact, dest, inside, enter);
    let table_full = || super::conntrack::full_there(holder, exact, dest, inside, enter);
    let reset_dropped = || held_path::reset_dropped(holder, exact, dest, inside, enter);
    full_queue(exact)
        .or_else(table_full)
        .or_else(beyond)
        .or_else(reset_dropped)
        .or_else(dropped)
        .unwrap_or_else(|| {
        Finding::new(
            Cause::Filtered,
            format!(
                "{}: {}",
                held_path::no_answer(exact, inside, dest),
                held_path::path(holder)
            ),
        )
        .evidence(listed(exact))
        .suggest(format!("`{enter} nft list ruleset` shows the namespace's rules; `sudo nft list ruleset` this host's"))
    })
}

/// A port of this host nothing listens on, which a DNAT of the nat prerouting hook forwards
/// elsewhere: for connections from other hosts only. This host's own connections take the nat
/// output hook, so a port forward tried from the host that forwards it (a VM's or a
/// container's, on Proxmox, LXC, a router) meets nothing: the forward may well work.
pub(super) fn forwarded_from_outside(address: &AddressFacts) -> Option<Finding> {
    let forwarded = address.forwarded.as_ref()?;
    let (addr, to) = (address.addr, forwarded.to);
    let port = addr.port();
    let rule = &forwarded.rule;
    let finding = Finding::new(
        Cause::NoListener,
        format!(
            "nothing listens on port {port} on this host: a DNAT rule of its nat prerouting hook (chain `{}`) forwards the port to {to}, but only for connections arriving from other hosts; this host's own connections do not pass through it",
            rule.chain
        ),
    )
    .evidence([Evidence::Dnat(rule.clone())])
    .suggest(format!(
        "test the forward from another host, or connect to {to} directly from here"
    ));
    // Through loopback the kernel routes no DNAT elsewhere unless `route_localnet` lets
    // 127.0.0.0/8 onto the wire, which also lets packets for it in from the network
    // (CVE-2020-8558): not a fix to hand out. IPv6 has no such switch for `::1`.
    if addr.ip().is_loopback() {
        return Some(finding.suggest(format!(
            "from this host, the forward is tried at this host's own address on another interface, or at {to} itself"
        )));
    }
    let to_rule = match (rule.tool, addr.is_ipv4()) {
        (crate::sys::firewall::Tool::Iptables, true) => format!(
            "`sudo iptables -t nat -A OUTPUT -p tcp -d {} --dport {port} -j DNAT --to-destination {to}`",
            addr.ip()
        ),
        (crate::sys::firewall::Tool::Iptables, false) => format!(
            "`sudo ip6tables -t nat -A OUTPUT -p tcp -d {} --dport {port} -j DNAT --to-destination {to}`",
            addr.ip()
        ),
        // nft, firewalld (its forward-port is for other hosts too), the legacy tables: in
        // their own terms.
        _ => {
            "a rule like it in a chain of `type nat hook output`, with the tool that made this one"
                .to_owned()
        }
    };
    Some(finding.suggest(format!(
        "to reach it through this port from this host too, the same DNAT in the nat output hook: {to_rule}"
    )))
}

/// A loopback port nothing listens on, which this host's other address publishes by DNAT to a
/// program that does listen: the rules skip loopback (Docker's do, leaving it to its proxy).
pub(super) fn published_beside_loopback(facts: &Facts, address: &AddressFacts) -> Option<Finding> {
    let (via, published) = address.published_beside.as_ref()?;
    let to = published.to;
    let listeners = if published.to_local {
        facts.listeners.as_deref()?
    } else {
        address.holder.as_ref()?.listeners.as_deref()?
    };
    let (_, exact) = super::rules::on_port(listeners, to);
    let listener = exact.first()?;
    let finding = Finding::new(
        Cause::ListeningOnOtherAddress,
        format!(
            "nothing listens on {}, but {via} is published to {to} by this host's DNAT rule (chain `{}`), where {} listens: the rule skips loopback, and no proxy listens there",
            address.addr,
            published.rule.chain,
            listener.owner()
        ),
    )
    .evidence([Evidence::Dnat(published.rule.clone())])
    .evidence(listed(&exact))
    .suggest(format!("connect to {via} (or to {to}) instead"));
    Some(if published.rule.chain == "DOCKER" {
        finding.suggest("or let Docker listen on loopback again: its userland proxy (`\"userland-proxy\": true` in /etc/docker/daemon.json, the default), then restart the container")
    } else {
        finding.suggest(format!(
            "or publish the port on loopback too: a DNAT rule without `ip daddr != 127.0.0.0/8` (and `sysctl net.ipv4.conf.all.route_localnet=1`), or a proxy such as `socat TCP-LISTEN:{},bind=127.0.0.1,fork TCP:{to}`",
            address.addr.port()
        ))
    })
}
