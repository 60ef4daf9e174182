//! Which process holds a socket: socket inodes found in `/proc/PID/fd`.
//!
//! Without root, the `fd` folders of other users' processes cannot be read: those sockets stay
//! without an owner, and [`Owners::unreadable`] says how many processes could not be looked at.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::path::Path;

use serde::Serialize;

/// A process that holds a socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Process {
    /// Its pid.
    pub pid: u32,
    /// Its command name (`/proc/PID/comm`).
    pub command: String,
    /// The container runtime it runs under, if its cgroup says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerRuntime>,
}

/// A container runtime, as a process's cgroup path names it. Serialized in lowercase (`docker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ContainerRuntime {
    /// Docker (`docker-ID.scope`, `/docker/ID`).
    Docker,
    /// Podman (`libpod-ID.scope`).
    Podman,
    /// A Kubernetes pod (`kubepods`).
    Kubernetes,
    /// containerd without Kubernetes.
    Containerd,
    /// LXC or LXD.
    Lxc,
}

impl ContainerRuntime {
    /// Its name, also its command where it has one: `docker`, `podman`, `kubernetes`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Podman => "podman",
            Self::Kubernetes => "kubernetes",
            Self::Containerd => "containerd",
            Self::Lxc => "lxc",
        }
    }

    /// Whether its containers publish a port with `RUNTIME run -p HOST:CONTAINER`.
    pub fn has_run_publish(self) -> bool {
        matches!(self, Self::Docker | Self::Podman)
    }
}

impl fmt::Display for ContainerRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The owners found for a set of socket inodes.
#[derive(Debug, Clone, Default)]
pub struct Owners {
    found: HashMap<u64, Process>,
    /// How many processes' `fd` folders could not be read (other users' without root).
    pub unreadable: usize,
}

impl Owners {
    /// The process holding the socket with this inode, if it was found.
    pub fn get(&self, inode: u64) -> Option<&Process> {
        self.found.get(&inode)
    }
}

/// Looks for the processes holding the sockets with these inodes. When several hold one socket
/// (a forked server), the lowest pid, usually the parent, is kept.
pub fn owners<S: std::hash::BuildHasher>(inodes: &HashSet<u64, S>) -> Owners {
    let mut owners = Owners::default();
    if inodes.is_empty() {
        return owners;
    }
    let Ok(entries) = fs::read_dir("/proc") else {
        return owners;
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    for pid in pids {
        let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
            owners.unreadable += 1;
            continue;
        };
        for fd in fds.filter_map(Result::ok) {
            let Some(inode) = fs::read_link(fd.path()).ok().and_then(|l| socket_inode(&l)) else {
                continue;
            };
            if inodes.contains(&inode) && !owners.found.contains_key(&inode) {
                owners.found.insert(inode, process(pid));
            }
        }
        if owners.found.len() == inodes.len() {
            break;
        }
    }
    owners
}

/// What `/proc` says about one process.
pub fn process(pid: u32) -> Process {
    let command = fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim_end().to_owned())
        .unwrap_or_default();
    let container = fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .ok()
        .and_then(|cgroup| container_runtime(&cgroup));
    Process {
        pid,
        command,
        container,
    }
}

/// `socket:[12345]` -> 12345.
fn socket_inode(link: &Path) -> Option<u64> {
    link.to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The container runtime named in a process's cgroup path.
pub fn container_runtime(cgroup: &str) -> Option<ContainerRuntime> {
    [
        ("docker", ContainerRuntime::Docker),
        ("libpod", ContainerRuntime::Podman),
        ("kubepods", ContainerRuntime::Kubernetes),
        ("containerd", ContainerRuntime::Containerd),
        ("lxc", ContainerRuntime::Lxc),
    ]
    .into_iter()
    .find_map(|(needle, name)| cgroup.contains(needle).then_some(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn finds_this_process_as_the_owner_of_its_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let link = fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd())).unwrap();
        let inode = socket_inode(&link).unwrap();
        let owners = owners(&HashSet::from([inode]));
        let owner = owners.get(inode).unwrap();
        assert_eq!(owner.pid, std::process::id());
        assert!(!owner.command.is_empty());
    }

    #[test]
    fn reads_socket_links_and_cgroups() {
        assert_eq!(socket_inode(Path::new("socket:[4026]")), Some(4026));
        assert_eq!(socket_inode(Path::new("pipe:[4026]")), None);
        assert_eq!(
            container_runtime("0::/system.slice/docker-3f2a.scope"),
            Some(ContainerRuntime::Docker)
        );
        assert_eq!(container_runtime("0::/user.slice/session-1.scope"), None);
    }
}
