//! The fixes for a listener in another network namespace of this host, by what made the
//! namespace: a container runtime's own way to let a port in (Docker's and Podman's `-p`,
//! nerdctl's for containerd, a Kubernetes Service or port-forward, LXD's proxy device), and, for
//! a namespace no runtime made, the systemd service that has it (`PrivateNetwork=yes`) and the
//! process to enter it through.

use super::evidence::{ContainerRuntime, HeldListener, Namespace};
use super::rules::Finding;
use crate::sys::process;

/// How the runtime that made a container lets its port `port` in from this host.
pub(super) fn container_fix(runtime: ContainerRuntime, port: u16) -> String {
    match runtime {
        ContainerRuntime::Docker | ContainerRuntime::Podman => format!(
            "publish the port: `{runtime} run -p {port}:{port} ...` (compose: `ports: [\"{port}:{port}\"]`)"
        ),
        ContainerRuntime::Containerd => {
            format!("publish the port: `nerdctl run -p {port}:{port} ...`")
        }
        ContainerRuntime::Kubernetes => format!(
            "the pod's port is reached through a Service (`kubectl expose pod NAME --port {port}`), or from here for a test with `kubectl port-forward pod/NAME {port}:{port}`"
        ),
        ContainerRuntime::Lxc => format!(
            "forward the port into the container: LXD's proxy device, `lxc config device add NAME port{port} proxy listen=tcp:127.0.0.1:{port} connect=tcp:127.0.0.1:{port}` (or connect to the container's own address)"
        ),
    }
}

/// The fixes for a listener in an unnamed namespace that no container runtime made, entered
/// through process `pid` of it: a systemd service's own namespace first (`PrivateNetwork=yes`),
/// then how to look from inside.
pub(super) fn entered(
    finding: Finding,
    foreign: &HeldListener,
    pid: u32,
    program: &str,
    inside: &str,
) -> Finding {
    let check = format!(
        "connect from inside it: `sudo nsenter -t {pid} -n {program} check {inside}`{}",
        held_from_outside(foreign)
    );
    match &foreign.service_unit {
        Some(unit) => {
            let [off, proxy] = private_network(unit);
            finding.suggest(off).suggest(proxy).suggest(check)
        }
        None => finding
            .suggest(check)
            .suggest("or forward the port into it"),
    }
}

/// For a listener whose holder is not the process the namespace is entered through: that it
/// made the socket there from outside (`nsenter` through the holder would enter its own
/// namespace, not the socket's). Empty otherwise.
fn held_from_outside(foreign: &HeldListener) -> String {
    match (foreign.netns_pid, foreign.pid) {
        (Some(inside), Some(holder)) if inside != holder => format!(
            " (pid {inside} is a process of that namespace; {}, which holds the socket, runs in another)",
            foreign.owner()
        ),
        _ => String::new(),
    }
}

/// The systemd service the holder of a listener in an unnamed namespace runs as, when no
/// container runtime made it (read by collect, from `/proc/PID/cgroup`, which anyone may read).
pub(super) fn service_unit(held: &HeldListener) -> Option<String> {
    if held.container.is_some() || matches!(held.netns, None | Some(Namespace::Named(_))) {
        return None;
    }
    process::service_unit_of(held.pid?)
}

/// For a listener held by a systemd service in a namespace of its own: `PrivateNetwork=yes`
/// (a namespace with its own `lo` alone, which nothing outside reaches), and the ways in.
pub(super) fn private_network(unit: &str) -> [String; 2] {
    [
        format!(
            "{unit} runs in a network namespace of its own, most likely from `PrivateNetwork=yes` (its own `lo` alone, which nothing outside reaches): `systemctl show -p PrivateNetwork {unit}` says so; to serve this host, set `PrivateNetwork=no` (`sudo systemctl edit {unit}`, then `sudo systemctl restart {unit}`)"
        ),
        format!(
            "or keep it apart and let the port in: `systemd-socket-proxyd` in a unit with `JoinsNamespaceOf={unit}` and `PrivateNetwork=yes`, started by a `.socket` unit of this host (systemd-socket-proxyd(8))"
        ),
    ]
}
