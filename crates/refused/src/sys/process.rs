//! Which process holds a socket: socket inodes found in `/proc/PID/fd`.
//!
//! Without root, the `fd` folders of other users' processes cannot be read: those sockets stay
//! without an owner, and [`Owners::unreadable`] says how many processes could not be looked at.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
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
    /// Whether it is stopped, and how; `None` for one that runs (or sleeps). A listener's
    /// evidence shows it (`HeldListener::stopped`).
    #[serde(skip)]
    pub stopped: Option<Stopped>,
}

/// How a process is stopped (`/proc/PID/stat`'s state). A stopped program runs none of its
/// code, so it takes nothing off its listeners' accept queues while the kernel still completes
/// their handshakes: connects succeed until the queue is full, then time out, and waiting or a
/// larger backlog changes nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stopped {
    /// `T`: by a signal, SIGSTOP or SIGTSTP (Ctrl-Z in its terminal).
    Signal,
    /// `t`: by a debugger or tracer holding it at a stop (gdb, `strace -p` at its attach).
    Traced,
}

impl Stopped {
    /// From `/proc/PID/stat`'s text: the state is the field after the command's `)`.
    pub fn from_stat(stat: &str) -> Option<Self> {
        let (_, after) = stat.rsplit_once(')')?;
        match after.trim_start().chars().next()? {
            'T' => Some(Self::Signal),
            't' => Some(Self::Traced),
            _ => None,
        }
    }

    /// `pid`'s, read now.
    pub fn of(pid: u32) -> Option<Self> {
        Self::from_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }
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

/// The value of field `name` (`CapEff`, `Seccomp`) of a `/proc/PID/status` text, trimmed.
pub fn status_field<'a>(status: &'a str, name: &str) -> Option<&'a str> {
    status.lines().find_map(|line| {
        line.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::trim)
    })
}

/// Looks for the processes holding the sockets with these inodes. When several hold one socket
/// (a forked server), the lowest pid, usually the parent, is kept.
///
/// Processes with few open files are looked at first, and a process is skipped once every socket
/// has been found in a lower pid: the descriptors of a server with thousands of connections (tens
/// of milliseconds to list and read for 10,000) are read only when a socket may be its.
pub fn owners<S: std::hash::BuildHasher>(inodes: &HashSet<u64, S>) -> Owners {
    let mut owners = Owners::default();
    if inodes.is_empty() {
        return owners;
    }
    let Ok(entries) = fs::read_dir("/proc") else {
        return owners;
    };
    let mut pids: Vec<(u64, u32)> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .map(|pid| (open_files(pid), pid))
        .collect();
    pids.sort_unstable();
    // The highest pid among the owners found, once all are found.
    let mut settled_below = None;
    for (_, pid) in pids {
        if settled_below.is_some_and(|highest| pid > highest) {
            continue;
        }
        let Some(held) = sockets_of(pid) else {
            owners.unreadable += 1;
            continue;
        };
        for inode in held.into_iter().filter(|inode| inodes.contains(inode)) {
            if owners.found.get(&inode).is_none_or(|owner| owner.pid > pid) {
                owners.found.insert(inode, process(pid));
            }
        }
        if owners.found.len() == inodes.len() {
            settled_below = owners.found.values().map(|owner| owner.pid).max();
        }
    }
    owners
}

/// How many files a process has open: the size Linux (6.2 and later) gives `/proc/PID/fd`; 0
/// where it gives none, which keeps such processes in pid order.
fn open_files(pid: u32) -> u64 {
    fs::metadata(format!("/proc/{pid}/fd")).map_or(0, |meta| meta.size())
}

/// The socket inodes a process holds, `None` when its descriptors cannot be read (another
/// user's process, without root).
fn sockets_of(pid: u32) -> Option<Vec<u64>> {
    let path = format!("/proc/{pid}/fd");
    let fds = fs::read_dir(&path).ok()?;
    // Links read relative to the open folder: no path lookup from `/` for each descriptor.
    let dir = fs::File::open(&path).ok()?;
    Some(
        fds.filter_map(Result::ok)
            .filter_map(|fd| {
                let link = rustix::fs::readlinkat(&dir, fd.file_name(), Vec::new()).ok()?;
                socket_inode(Path::new(link.to_str().ok()?))
            })
            .collect(),
    )
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
        stopped: Stopped::of(pid),
    }
}

/// The lowest pid of a process of this network namespace whose command name is `command`
/// (`/proc/PID/comm`, at most 15 bytes: `systemd-resolve`). A process whose namespace cannot be
/// read (another user's, without root) counts as this namespace's: most hosts have one.
pub fn find_command(command: &str) -> Option<u32> {
    let own_net = fs::read_link("/proc/self/ns/net").ok();
    pids_named(&[command])
        .into_iter()
        .find(|pid| is_in_namespace(*pid, own_net.as_deref()))
}

/// Whether process `pid` is in the network namespace `own` (`/proc/PID/ns/net`'s link); one
/// whose namespace cannot be read counts as in it.
fn is_in_namespace(pid: u32, own: Option<&Path>) -> bool {
    match (own, fs::read_link(format!("/proc/{pid}/ns/net"))) {
        (Some(own), Ok(theirs)) => own == theirs,
        _ => true,
    }
}

/// A userland port proxy of this network namespace: Docker's `docker-proxy`, one process a
/// published port (Docker's default, `"userland-proxy": true`), which accepts on the host's
/// port and connects to the container's for each connection, and closes the accepted one when
/// that connect fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortProxy {
    /// Its pid.
    pub pid: u32,
    /// Its command name.
    pub process: String,
    /// The address it listens on (`-host-ip`, `-host-port`).
    pub listens: SocketAddr,
    /// Where it sends each connection: the container's address (`-container-ip`,
    /// `-container-port`).
    pub to: SocketAddr,
}

impl PortProxy {
    /// Whether a connection to `addr` reaches this proxy.
    pub fn takes(&self, addr: SocketAddr) -> bool {
        // Docker runs one proxy a family (`0.0.0.0` and `::`).
        self.listens.port() == addr.port()
            && self.listens.is_ipv4() == addr.is_ipv4()
            && (self.listens.ip().is_unspecified() || self.listens.ip() == addr.ip())
    }
}

/// The TCP port proxies of this network namespace, from their command lines (readable by every
/// user, unlike the sockets in `/proc/PID/fd`).
pub fn port_proxies() -> Vec<PortProxy> {
    let own_net = fs::read_link("/proc/self/ns/net").ok();
    pids_named(&["docker-proxy"])
        .into_iter()
        .filter(|pid| is_in_namespace(*pid, own_net.as_deref()))
        .filter_map(|pid| {
            let (listens, to) = docker_proxy_ends(&command_line(pid)?)?;
            Some(PortProxy {
                pid,
                process: "docker-proxy".to_owned(),
                listens,
                to,
            })
        })
        .collect()
}

/// The arguments of process `pid`, its program's name first, from `/proc/PID/cmdline` (readable
/// by every user, unlike its descriptors): each ends in a NUL; empty ones say nothing to the
/// parsers that read them and are left out. `None` when it cannot be read (the process ended).
pub fn command_line(pid: u32) -> Option<Vec<String>> {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        raw.split(|b| *b == 0)
            .filter(|arg| !arg.is_empty())
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect(),
    )
}

/// Where the `docker-proxy` of pid `pid` (of any namespace), whose command name is `command`
/// (`/proc/PID/comm`, as its socket's owner was read), listens and sends, and whether for UDP
/// (`-proto udp`); `None` for another program, or SCTP.
pub fn docker_proxy(pid: u32, command: &str) -> Option<(bool, SocketAddr, SocketAddr)> {
    if command != "docker-proxy" {
        return None;
    }
    let (proto, listens, to) = docker_proxy_args(&command_line(pid)?)?;
    let udp = match proto.as_str() {
        "tcp" => false,
        "udp" => true,
        _ => return None,
    };
    Some((udp, listens, to))
}

/// Where a `docker-proxy` listens and sends, from its arguments (Go's flags: `-name value`,
/// `-name=value`, or with `--`): `-proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip
/// 172.17.0.2 -container-port 80` is (0.0.0.0:8080, 172.17.0.2:80). `None` for UDP or SCTP, or
/// when one is missing.
fn docker_proxy_ends(args: &[String]) -> Option<(SocketAddr, SocketAddr)> {
    let (proto, listens, to) = docker_proxy_args(args)?;
    (proto == "tcp").then_some((listens, to))
}

/// The protocol (`tcp` when not given), listening and sending ends of a `docker-proxy`'s
/// arguments.
fn docker_proxy_args(args: &[String]) -> Option<(String, SocketAddr, SocketAddr)> {
    const VALUED: [&str; 5] = [
        "proto",
        "host-ip",
        "host-port",
        "container-ip",
        "container-port",
    ];
    let mut flags: HashMap<&str, &str> = HashMap::new();
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let Some(name) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            continue;
        };
        match name.split_once('=') {
            Some((name, value)) => {
                flags.insert(name, value);
            }
            // Others (`-use-listen-fd`) take no value.
            None if VALUED.contains(&name) => {
                flags.insert(name, rest.next()?);
            }
            None => {}
        }
    }
    let proto = flags.get("proto").copied().unwrap_or("tcp").to_owned();
    let end = |ip: &str, port: &str| -> Option<SocketAddr> {
        Some(SocketAddr::new(
            flags.get(ip)?.parse().ok()?,
            flags.get(port)?.parse().ok()?,
        ))
    };
    Some((
        proto,
        end("host-ip", "host-port")?,
        end("container-ip", "container-port")?,
    ))
}

/// Whose placeholder a socket of a container runtime's helper is: the program that holds a
/// published port of this host for a container. Its address and family are the publishing's
/// (`-p 127.0.0.1:8080:80`), never a setting of its own: dockerd's `--host` is its API socket.
/// Serialized in lowercase (`docker`, `podman`, `kubectl`, `other`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Publisher {
    /// Docker's: `docker-proxy`, or `dockerd` itself (its reservation of the port, with the
    /// userland proxy off, which its DNAT rules publish).
    Docker,
    /// Podman's: `rootlessport`, `conmon`, or the rootless network's `slirp4netns` or `pasta`.
    Podman,
    /// `kubectl port-forward`.
    Kubectl,
    /// Another runtime's (`containerd`, `rootlesskit`).
    Other,
}

impl Publisher {
    /// The publisher whose helper `command` (`/proc/PID/comm`) is, if it is one.
    pub fn of(command: &str) -> Option<Self> {
        Some(match command {
            "docker-proxy" | "dockerd" => Self::Docker,
            "rootlessport" | "conmon" | "slirp4netns" | "pasta" | "pasta.avx2" => Self::Podman,
            "kubectl" => Self::Kubectl,
            "containerd" | "rootlesskit" | "containerd-shim" => Self::Other,
            _ => return None,
        })
    }

    /// The runtime as a sentence names it (`Docker`, `kubectl port-forward`); `None` for
    /// another runtime's.
    pub fn name(self) -> Option<&'static str> {
        match self {
            Self::Docker => Some("Docker"),
            Self::Podman => Some("Podman"),
            Self::Kubectl => Some("kubectl port-forward"),
            Self::Other => None,
        }
    }

    /// Whether it publishes a container's port with `-p`, which compose writes as `ports:`.
    pub fn has_run_publish(self) -> bool {
        matches!(self, Self::Docker | Self::Podman)
    }
}

/// The pids whose command name (`/proc/PID/comm`) is one of `commands`, lowest first.
fn pids_named(commands: &[&str]) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| commands.contains(&comm.trim_end()))
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// A running server program and the sockets it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// The process.
    pub process: Process,
    /// The inodes of the sockets it holds; `None` when its descriptors cannot be read (another
    /// user's process, without root).
    pub sockets: Option<Vec<u64>>,
}

/// The processes whose command name (`/proc/PID/comm`) is one of `commands`, in pid order, with
/// the sockets each holds. Only their descriptors are read: cheaper than [`owners`] for every
/// socket of a table, when the program is known.
pub fn servers(commands: &[&str]) -> Vec<Server> {
    pids_named(commands)
        .into_iter()
        .map(|pid| Server {
            process: process(pid),
            sockets: sockets_of(pid),
        })
        .collect()
}

/// `socket:[12345]` -> 12345.
fn socket_inode(link: &Path) -> Option<u64> {
    link.to_str()?
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The systemd service a process runs as, from its cgroup (`0::/system.slice/NAME.service`;
/// a user's, `.../user@1000.service/app.slice/NAME.service`, is its last `.service`); `None`
/// outside one (a scope, a container, no systemd).
pub fn service_unit(cgroup: &str) -> Option<String> {
    // The unified hierarchy's line, or systemd's own of cgroup v1 (a hybrid host has both).
    cgroup
        .lines()
        .filter(|line| line.starts_with("0::") || line.contains(":name=systemd:"))
        .filter_map(|line| line.splitn(3, ':').nth(2))
        .find_map(|path| {
            path.rsplit('/')
                .find(|part| part.ends_with(".service") && !part.starts_with("user@"))
        })
        .map(str::to_owned)
}

/// [`service_unit`] of process `pid`.
pub fn service_unit_of(pid: u32) -> Option<String> {
    service_unit(&fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?)
}

/// The container runtime named in a process's cgroup path. Containers run in scopes or plain
/// folders (`docker-ID.scope`, `/docker/ID`, `libpod-ID.scope`, `kubepods.slice/...`,
/// `lxc.payload.NAME`); a `.service` is a program of the host, the runtimes' own daemons
/// included: `docker.service` holds dockerd and its docker-proxy, which listen on the host's
/// ports, and `lxcfs.service` or a user's `docker-compose-app.service` are no containers.
pub fn container_runtime(cgroup: &str) -> Option<ContainerRuntime> {
    let parts: Vec<&str> = cgroup
        .lines()
        .filter_map(|line| line.splitn(3, ':').nth(2))
        .flat_map(|path| path.split('/'))
        .filter(|part| !part.ends_with(".service"))
        .collect();
    [
        ("docker", ContainerRuntime::Docker),
        ("libpod", ContainerRuntime::Podman),
        ("kubepods", ContainerRuntime::Kubernetes),
        ("containerd", ContainerRuntime::Containerd),
        ("lxc", ContainerRuntime::Lxc),
    ]
    .into_iter()
    .find_map(|(needle, name)| parts.iter().any(|p| p.contains(needle)).then_some(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_service_is_read_from_its_cgroup() {
        assert_eq!(
            service_unit("0::/system.slice/app.service\n").as_deref(),
            Some("app.service")
        );
        assert_eq!(
            service_unit(
                "0::/user.slice/user-1000.slice/user@1000.service/app.slice/web.service\n"
            )
            .as_deref(),
            Some("web.service")
        );
        assert_eq!(
            service_unit("12:pids:/\n1:name=systemd:/system.slice/app.service\n0::/\n").as_deref(),
            Some("app.service")
        );
        assert_eq!(
            service_unit("1:name=systemd:/system.slice/app.service\n").as_deref(),
            Some("app.service")
        );
        for outside in [
            "0::/\n",
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-x.scope\n",
            "0::/system.slice/docker-0123.scope\n",
            "",
        ] {
            assert_eq!(service_unit(outside), None, "{outside}");
        }
    }

    #[test]
    fn a_stopped_process_is_read_from_its_stat() {
        use super::Stopped;
        // The command may hold `)` and spaces: the state follows the last `)`.
        assert_eq!(
            Stopped::from_stat("42 (a) b) T 1 42"),
            Some(Stopped::Signal)
        );
        assert_eq!(
            Stopped::from_stat("42 (gdb me) t 1 42"),
            Some(Stopped::Traced)
        );
        assert_eq!(Stopped::from_stat("42 (redis-server) S 1 42"), None);
        assert_eq!(Stopped::from_stat(""), None);
        assert_eq!(Stopped::of(std::process::id()), None);
    }

    #[test]
    fn a_publisher_is_written_in_json_as_the_contract_names_it() {
        for (publisher, name) in [
            (Publisher::Docker, "docker"),
            (Publisher::Podman, "podman"),
            (Publisher::Kubectl, "kubectl"),
            (Publisher::Other, "other"),
        ] {
            assert_eq!(serde_json::to_value(publisher).unwrap(), name);
        }
    }

    #[test]
    fn a_command_line_is_the_arguments_the_process_was_given() {
        let args: Vec<String> = std::env::args().filter(|a| !a.is_empty()).collect();
        assert_eq!(command_line(std::process::id()), Some(args));
        assert_eq!(command_line(u32::MAX), None);
    }

    #[test]
    fn a_docker_proxys_command_line_says_where_it_sends_the_port() {
        let args = |line: &str| -> Vec<String> { line.split(' ').map(str::to_owned).collect() };
        let ends = |line: &str| docker_proxy_ends(&args(line));
        let expected = Some((
            "0.0.0.0:8080".parse().unwrap(),
            "172.17.0.2:80".parse().unwrap(),
        ));
        // Docker 20.10 (Debian's docker.io), and 28 with its listening socket handed over.
        assert_eq!(
            ends(
                "/usr/sbin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 -container-port 80"
            ),
            expected
        );
        assert_eq!(
            ends(
                "/usr/bin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8080 -container-ip 172.17.0.2 -container-port 80 -use-listen-fd"
            ),
            expected
        );
        assert_eq!(
            ends(
                "docker-proxy -use-listen-fd --host-ip=0.0.0.0 -host-port=8080 -container-ip 172.17.0.2 -container-port 80"
            ),
            expected
        );
        assert_eq!(
            ends(
                "docker-proxy -proto tcp -host-ip :: -host-port 8080 -container-ip fd00::2 -container-port 80"
            ),
            Some((
                "[::]:8080".parse().unwrap(),
                "[fd00::2]:80".parse().unwrap()
            ))
        );
        // UDP is not a connection; a line cut short or garbled says nothing.
        assert_eq!(
            ends(
                "docker-proxy -proto udp -host-ip 0.0.0.0 -host-port 53 -container-ip 172.17.0.2 -container-port 53"
            ),
            None
        );
        // Though its UDP publish is read for what it publishes.
        assert_eq!(
            docker_proxy_args(&args(
                "docker-proxy -proto udp -host-ip 0.0.0.0 -host-port 8085 -container-ip 172.17.0.2 -container-port 80"
            )),
            Some((
                "udp".to_owned(),
                "0.0.0.0:8085".parse().unwrap(),
                "172.17.0.2:80".parse().unwrap()
            ))
        );
        assert_eq!(
            ends("docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port"),
            None
        );
        assert_eq!(
            ends(
                "docker-proxy -host-ip 0.0.0.0 -host-port x -container-ip 172.17.0.2 -container-port 80"
            ),
            None
        );
    }

    #[test]
    fn a_process_is_found_by_its_command_name() {
        let comm = fs::read_to_string("/proc/self/comm").unwrap();
        let found = find_command(comm.trim_end()).unwrap();
        // This test's process, or a lower pid of the same name (another test binary's run).
        assert!(found <= std::process::id());
        assert_eq!(process(found).command, comm.trim_end());
        assert_eq!(find_command("no such command"), None);
    }

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
    fn the_lowest_pid_holding_a_socket_owns_it_though_it_has_more_files_open() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let link = fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd())).unwrap();
        let inode = socket_inode(&link).unwrap();
        // More open files here than in the child, which is looked at first.
        let _files: Vec<fs::File> = (0..64)
            .map(|_| fs::File::open("/proc/self/stat").unwrap())
            .collect();
        let shared = std::os::fd::OwnedFd::from(listener.try_clone().unwrap());
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .stdin(std::process::Stdio::from(shared))
            .spawn()
            .unwrap();
        let owners = owners(&HashSet::from([inode]));
        let _ = child.kill();
        let _ = child.wait();
        let lowest = std::process::id().min(child.id());
        assert_eq!(owners.get(inode).map(|p| p.pid), Some(lowest));
    }

    #[test]
    fn a_server_is_found_by_its_command_name_with_its_sockets() {
        let listener = std::os::unix::net::UnixListener::bind(
            std::env::temp_dir().join(format!("refused-servers-{}.sock", std::process::id())),
        )
        .unwrap();
        let link = fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd())).unwrap();
        let inode = socket_inode(&link).unwrap();
        let comm = fs::read_to_string("/proc/self/comm").unwrap();
        let found = servers(&["no such command", comm.trim_end()]);
        let me = found
            .iter()
            .find(|s| s.process.pid == std::process::id())
            .unwrap();
        assert!(me.sockets.as_ref().unwrap().contains(&inode));
        let _ = fs::remove_file(listener.local_addr().unwrap().as_pathname().unwrap());
        assert!(servers(&["no such command"]).is_empty());
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
        // cgroupfs's driver, cgroup v1's lines, a Kubernetes pod, an LXC container.
        assert_eq!(
            container_runtime("12:pids:/docker/3f2a\n0::/docker/3f2a\n"),
            Some(ContainerRuntime::Docker)
        );
        assert_eq!(
            container_runtime(
                "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-3f2a.scope"
            ),
            Some(ContainerRuntime::Kubernetes)
        );
        assert_eq!(
            container_runtime("0::/lxc.payload.c1/init.scope"),
            Some(ContainerRuntime::Lxc)
        );
        // The runtimes' daemons, and units that only bear a runtime's name, are the host's:
        // docker-proxy in docker.service listens on the host's own ports.
        for host in [
            "0::/system.slice/docker.service\n",
            "12:pids:/system.slice/docker.service\n0::/system.slice/docker.service\n",
            "0::/system.slice/containerd.service\n",
            "0::/system.slice/lxcfs.service\n",
            "0::/user.slice/user-1000.slice/user@1000.service/app.slice/docker-compose-app.service\n",
        ] {
            assert_eq!(container_runtime(host), None, "{host}");
        }
    }
}
