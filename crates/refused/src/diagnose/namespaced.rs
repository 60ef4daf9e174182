//! The fixes for a listener in another network namespace of this host, by what made the
//! namespace: a container runtime's own way to let a port in (Docker's and Podman's `-p`,
//! nerdctl's for containerd, a Kubernetes Service or port-forward, LXD's proxy device), and, for
//! a namespace no runtime made, the process to enter it through.

use super::evidence::{ContainerRuntime, HeldListener};

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

/// For a listener whose holder is not the process the namespace is entered through: that it
/// made the socket there from outside (`nsenter` through the holder would enter its own
/// namespace, not the socket's). Empty otherwise.
pub(super) fn held_from_outside(foreign: &HeldListener) -> String {
    match (foreign.netns_pid, foreign.pid) {
        (Some(inside), Some(holder)) if inside != holder => format!(
            " (pid {inside} is a process of that namespace; {}, which holds the socket, runs in another)",
            foreign.owner()
        ),
        _ => String::new(),
    }
}
