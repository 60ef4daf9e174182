//! The fixes for a listener in another network namespace of this host, by what made the
//! namespace: a container runtime's own way to let a port in (Docker's and Podman's `-p`,
//! nerdctl's for containerd, a Kubernetes Service or port-forward, LXD's proxy device).

use super::evidence::ContainerRuntime;

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
