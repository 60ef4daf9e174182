//! A port forwarder of this host (socat, ssh `-L`, sshd for an `ssh -R`, `kubectl port-forward`) that took the
//! connection and then closed it or said nothing: its backend is down, refuses it, or does not
//! answer, whatever the protocol asked. The backend comes from the forwarder's command line and,
//! when it is an address, our own connect there says what the forwarder met. Waiting helps only
//! if that backend is starting.

use std::net::SocketAddr;

use crate::outcome::Outcome;
use crate::probe::{ProbeFailure, ProtocolErrorKind, Readiness};
use crate::sys::forwarder::Backend;
use crate::sys::process::PortProxy;
use crate::target::Scheme;

use super::cause::Cause;
use super::evidence::{Evidence, HeldListener};
use super::facts::Facts;
use super::rules::{Finding, listed};

/// `not-ready` with the forwarder's fix, for a target at `addr` whose listener is a forwarder
/// read in [`Facts::forwarder`]: when our connect to its backend failed (also after a `ready`
/// plain TCP connection, which the forwarder held open while its own connect waited), or, for a
/// backend we cannot try (a name, another host's, a pod), when the connection ended before the
/// service said anything. `None` when the service answered (an HTTP 503 came from the backend),
/// or the backend accepts from here and the probe's end does not say the forwarder dropped it.
pub(super) fn explain(
    facts: &Facts,
    addr: SocketAddr,
    summary: &str,
    readiness: &Readiness,
    holders: &[&HeldListener],
) -> Option<Finding> {
    let read = facts.forwarder.as_ref()?;
    let forwarder = &read.forwarder;
    let holder = holders
        .iter()
        .copied()
        .find(|h| h.pid == Some(forwarder.pid))?;
    let scheme = facts.target.scheme();
    let outcome = read.attempt.as_ref().map(|a| a.outcome);
    let failed_there = outcome.is_some_and(|o| !o.is_connected());
    if !failed_there && !is_dropped(scheme, readiness) {
        return None;
    }
    let owner = holder.owner();
    let to = &forwarder.to;
    let said = match (&read.attempt, to) {
        (Some(attempt), _) => match attempt.outcome {
            Outcome::Refused => "which refuses connections (tried from here)".to_owned(),
            Outcome::Reset => "which resets connections (tried from here)".to_owned(),
            Outcome::Timeout => format!(
                "which does not answer (tried from here: no answer in {})",
                crate::connect::HumanDuration(attempt.elapsed)
            ),
            Outcome::Connected => "which accepts connections from here".to_owned(),
            other => format!("which could not be reached from here ({other})"),
        },
        (None, Backend::Kubernetes { .. }) => {
            "a pod's port, which cannot be tried from here".to_owned()
        }
        (None, Backend::Remote { .. }) => {
            "which the ssh client connects to on its own machine: it cannot be tried from here"
                .to_owned()
        }
        (None, _) => "which cannot be tried from here".to_owned(),
    };
    let mut finding = Finding::new(
        Cause::NotReady,
        format!("{summary}; {owner} forwards it to {to}, {said}"),
    )
    .evidence(listed(&[holder]));
    if let (Some(outcome), Backend::Address(to)) = (outcome, to) {
        finding = finding.evidence([Evidence::PortProxy {
            proxy: PortProxy {
                pid: forwarder.pid,
                process: forwarder.process.clone(),
                listens: SocketAddr::new(holder.listener.address, holder.listener.port),
                to: *to,
            },
            outcome,
        }]);
    }
    Some(finding.suggest(fix(
        &facts.program,
        &forwarder.process,
        addr.port(),
        to,
        outcome,
    )))
}

/// Whether the probe's end is what a forwarder does when its own connect fails or hangs: the
/// connection closed, reset or silent before the service said anything. An answer of the
/// service's own (an HTTP status, Postgres's "starting up", a TLS certificate) came through
/// the forwarder from a backend that is up.
pub(super) fn is_dropped(scheme: Scheme, readiness: &Readiness) -> bool {
    match readiness {
        Readiness::NotReady(_) => matches!(scheme, Scheme::Tcp | Scheme::Unix),
        Readiness::Failed(ProbeFailure::Protocol(err)) => matches!(
            err.kind,
            ProtocolErrorKind::NoAnswer | ProtocolErrorKind::Closed | ProtocolErrorKind::Io
        ),
        Readiness::Ready(_)
        | Readiness::Denied(_)
        | Readiness::Failed(ProbeFailure::Connect(_)) => false,
    }
}

/// What to do about a forwarder whose backend `to` failed it, said honestly: waiting helps
/// only if that backend is starting.
fn fix(program: &str, process: &str, port: u16, to: &Backend, outcome: Option<Outcome>) -> String {
    let only_if = "waiting helps only if the backend is starting";
    match (to, outcome) {
        (Backend::Address(to), Some(Outcome::Refused)) => format!(
            "{process} forwards port {port} to {to}, where nothing accepts: start the backend there, or point {process} at the port it listens on; {only_if} (`{program} wait {to}` waits for it)"
        ),
        (Backend::Address(to), Some(Outcome::Timeout)) => format!(
            "{process} forwards port {port} to {to}, which does not answer: it is down or a firewall drops the packets on the way (`{program} why {to}` says which); {only_if}"
        ),
        (Backend::Address(to), Some(Outcome::Connected)) => format!(
            "{process} forwards port {port} to {to}, which accepts connections from here: the backend ends them itself, or does not take them from {process} (an allowlist, a limit): look at the logs of both"
        ),
        (Backend::Address(to), _) => format!(
            "{process} forwards port {port} to {to}, which cannot be reached from here: `{program} why {to}` says why; {only_if}"
        ),
        (
            Backend::Name {
                host,
                port: to_port,
            },
            _,
        ) => format!(
            "{process} forwards port {port} to {host}:{to_port} and ends the connection when its own there fails: `{program} why {host}:{to_port}` says why; {only_if}"
        ),
        (
            Backend::Through {
                via,
                host,
                port: to_port,
            },
            _,
        ) => format!(
            "ssh forwards port {port} through `{via}`, which connects to {to}: that connect fails (ssh prints `open failed: connect failed`), so check on `{via}` that something listens on port {to_port} of {host} (`{program} why {host}:{to_port}` run there); {only_if}"
        ),
        (Backend::Remote { user }, _) => format!(
            "sshd forwards port {port} back through an ssh session of `{user}` (its `ssh -R {port}:HOST:HOSTPORT`): the ssh client connects to HOST:HOSTPORT on its own machine, and ends the connection when that fails (it prints `connect_to HOST port HOSTPORT: failed`): start the service there or fix the `-R`'s target (`{program} why HOST:HOSTPORT` run on the client's machine); {only_if}"
        ),
        (
            Backend::Kubernetes {
                namespace,
                port: to_port,
                ..
            },
            _,
        ) => {
            let in_namespace = namespace
                .as_ref()
                .map_or_else(String::new, |n| format!(" -n {n}"));
            format!(
                "kubectl port-forward forwards port {port} to {to}, which names a pod, not an address: kubectl closes the connection when nothing in the pod listens on port {to_port} or the pod is gone (its output says `error forwarding port`): `kubectl get pods{in_namespace}` and `kubectl logs{in_namespace}` on it; {only_if}, and a pod that was replaced needs a new port-forward"
            )
        }
    }
}
