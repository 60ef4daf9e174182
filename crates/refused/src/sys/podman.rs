//! Podman's own account of its containers: `podman ps --all --pod --format json` (`--pod`
//! fills in the pods' names), run as the user whose containers they are. A stopped container leaves nothing in the kernel (no DNAT rule,
//! no `conmon` or `rootlessport` holding the port), and a running one's host port, container
//! port and name are in libpod's database alone (a `BoltDB` file, not a format to read by hand):
//! neither `conmon`'s nor `rootlessport`'s command line says which port goes where.
//!
//! Podman has no daemon to ask (its Docker-compatible API socket runs only when `podman.socket`
//! is enabled, and then as one user's), and each user's containers are their own, rootful
//! root's and rootless each user's: so the command is run as the caller, or, as root, as the
//! owner of a rootless helper found on the port, with that helper's own environment (its
//! `XDG_RUNTIME_DIR` and `CONTAINERS_*` files, where its podman keeps the state). It takes
//! about 80 ms; it is given until a deadline and killed then.

use super::docker::clean;
use std::ffi::OsString;
use std::io::{self, Read};
use std::net::IpAddr;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

use super::docker::StoppedContainer;
use super::process::ContainerRuntime;

/// The most of `podman ps`'s answer that is read: thousands of containers stay far below.
const MOST_READ: u64 = 4 << 20;

/// A container as `podman ps --all --pod --format json` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Its name.
    pub name: String,
    /// Its id, short (12 characters), as `podman ps` prints it.
    pub id: String,
    /// Podman's state: `running`, `exited`, `created`, `stopped`, `paused`.
    pub state: String,
    /// Podman's status text: `Exited (3) 5 seconds ago`.
    pub status: String,
    /// The pod it belongs to, by name (`--pod` fills it in).
    pub pod: Option<String>,
    /// Whether it is its pod's infra container, which holds the pod's published ports.
    pub infra: bool,
    /// Its first process, while it runs (on this host's pid numbers).
    pub pid: Option<u32>,
    /// The ports it publishes on this host (also while it is stopped).
    pub ports: Vec<PortMapping>,
}

/// One `-p` of a container: `host_port` (and the `range - 1` after it) of `host_ip` to
/// `container_port` (and the ports after it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortMapping {
    /// The host's address it is bound to; `None`: every address.
    pub host_ip: Option<IpAddr>,
    /// The container's own port.
    pub container_port: u16,
    /// The host's port.
    pub host_port: u16,
    /// How many ports in a row (`-p 8080-8081:80-81` is 2).
    pub range: u16,
    /// Whether for UDP.
    pub udp: bool,
}

impl PortMapping {
    /// The container's port that TCP port `port` of this host goes to, if this publishes it.
    pub fn tcp_to(&self, port: u16) -> Option<u16> {
        let offset = port.checked_sub(self.host_port)?;
        (!self.udp && offset < self.range.max(1))
            .then(|| self.container_port.checked_add(offset))
            .flatten()
    }

    /// Whether a connection to `ip` reaches it: bound to every address, that family's
    /// wildcard, or `ip` itself.
    pub fn takes(&self, ip: IpAddr) -> bool {
        self.host_ip.is_none_or(|bound| {
            bound == ip || (bound.is_unspecified() && bound.is_ipv4() == ip.is_ipv4())
        })
    }
}

impl Container {
    /// Whether it runs.
    pub fn is_running(&self) -> bool {
        self.state == "running"
    }

    /// The container's port that TCP port `port` of this host, asked at `ip`, goes to.
    pub fn publishes(&self, ip: IpAddr, port: u16) -> Option<u16> {
        self.ports
            .iter()
            .filter(|p| p.takes(ip))
            .find_map(|p| p.tcp_to(port))
    }

    /// As a stopped container that publishes `port`, at one of `ips`.
    fn stopped_publishing(&self, port: u16, ips: &[IpAddr]) -> Option<StoppedContainer> {
        if self.is_running() {
            return None;
        }
        let container_port = ips.iter().find_map(|ip| self.publishes(*ip, port))?;
        Some(StoppedContainer {
            name: self.name.clone(),
            id: self.id.clone(),
            state: self.state.clone(),
            status: self.status.clone(),
            container_port,
            runtime: ContainerRuntime::Podman,
            pod: self.pod.clone().filter(|_| self.infra),
        })
    }
}

/// Whose containers are listed.
#[derive(Debug, Clone)]
pub enum Whose {
    /// The caller's: root's rootful ones, or a user's rootless ones.
    Caller,
    /// Another user's rootless ones, asked as root as that user, in the environment of one of
    /// their podman's helpers (read from `/proc/PID/environ`).
    Owner {
        /// The user.
        uid: u32,
        /// Their group.
        gid: u32,
        /// The helper's environment, its podman's settings alone.
        env: Vec<(OsString, OsString)>,
    },
}

impl Whose {
    /// The owner of process `pid`, with the podman settings of its environment, when that is
    /// not the caller (then [`Whose::Caller`]). `None` when it cannot be read.
    pub fn of_process(pid: u32) -> Option<Self> {
        let meta = std::fs::metadata(format!("/proc/{pid}")).ok()?;
        let uid = std::os::unix::fs::MetadataExt::uid(&meta);
        let gid = std::os::unix::fs::MetadataExt::gid(&meta);
        if uid == rustix::process::geteuid().as_raw() {
            return Some(Self::Caller);
        }
        let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
        Some(Self::Owner {
            uid,
            gid,
            env: podman_settings(&environ),
        })
    }
}

/// The variables of an environment (`/proc/PID/environ`'s NUL-separated `NAME=value`) that
/// say where a user's podman keeps its state and settings.
fn podman_settings(environ: &[u8]) -> Vec<(OsString, OsString)> {
    use std::os::unix::ffi::OsStrExt;
    const KEPT: [&str; 8] = [
        "HOME",
        "USER",
        "XDG_RUNTIME_DIR",
        "XDG_CONFIG_HOME",
        "XDG_DATA_HOME",
        "CONTAINERS_CONF",
        "CONTAINERS_STORAGE_CONF",
        "CONTAINER_HOST",
    ];
    environ
        .split(|b| *b == 0)
        .filter_map(|pair| {
            let at = pair.iter().position(|b| *b == b'=')?;
            let (name, value) = (&pair[..at], &pair[at + 1..]);
            let name = std::str::from_utf8(name).ok()?;
            (KEPT.contains(&name) && !value.is_empty()).then(|| {
                (
                    OsString::from(name),
                    std::ffi::OsStr::from_bytes(value).to_owned(),
                )
            })
        })
        .collect()
}

/// Podman's containers of `whose`, running or not, by `until`. An error when podman is not
/// installed, fails, or does not answer in time (it is killed then).
pub fn containers(whose: &Whose, until: Instant) -> io::Result<Vec<Container>> {
    // The caller's podman makes its storage when first run: a host where it was never used is
    // left as it is (nothing of it can publish a port anyway).
    if matches!(whose, Whose::Caller) && !callers_state_exists() {
        return Err(io::ErrorKind::NotFound.into());
    }
    let mut command = Command::new("podman");
    command
        .args(["ps", "--all", "--pod", "--format", "json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Whose::Owner { uid, gid, env } = whose {
        // As root, as the user: their storage, their settings, a folder they may enter.
        command.uid(*uid).gid(*gid).current_dir("/").env_clear();
        if let Some(path) = std::env::var_os("PATH") {
            command.env("PATH", path);
        }
        // The default, which the owner's own environment overrides when it has one.
        command.env("XDG_RUNTIME_DIR", format!("/run/user/{uid}"));
        command.envs(env.iter().map(|(name, value)| (name, value)));
    }
    let mut child = command.spawn()?;
    let stdout = child.stdout.take().ok_or(io::ErrorKind::BrokenPipe)?;
    let read = super::docker::in_time(until, move || {
        let mut text = String::new();
        stdout
            .take(MOST_READ)
            .read_to_string(&mut text)
            .map(|_| text)
    });
    let text = match read {
        Ok(text) => text,
        Err(err) => {
            // Ours to end: it was given until the deadline.
            let _ = child.kill();
            let _ = child.wait();
            return Err(err);
        }
    };
    let status = child.wait()?;
    if !status.success() {
        return Err(io::Error::other(format!("podman ps ended with {status}")));
    }
    Ok(parse(&text))
}

/// Whether the caller's podman has state to list: its settings name a storage of their own
/// (`CONTAINERS_STORAGE_CONF`), or libpod's folder is in the default storage (root's under
/// `/var/lib/containers`, a user's under `XDG_DATA_HOME` or `~/.local/share`).
fn callers_state_exists() -> bool {
    if std::env::var_os("CONTAINERS_STORAGE_CONF").is_some() {
        return true;
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|dir| !dir.is_empty())
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".local/share"))
        });
    default_storage(super::host::is_root(), data.as_deref())
        .is_some_and(|dir| dir.join("libpod").is_dir())
}

/// The default storage of podman: root's, or a user's under their data folder.
fn default_storage(root: bool, data: Option<&std::path::Path>) -> Option<std::path::PathBuf> {
    if root {
        Some(std::path::PathBuf::from("/var/lib/containers/storage"))
    } else {
        Some(data?.join("containers/storage"))
    }
}

/// The stopped containers among `listed` that publish TCP `port` at one of `ips`.
pub fn stopped_publishing(
    listed: &[Container],
    port: u16,
    ips: &[IpAddr],
) -> Vec<StoppedContainer> {
    listed
        .iter()
        .filter_map(|c| c.stopped_publishing(port, ips))
        .collect()
}

/// The containers of `podman ps --all --pod --format json`'s answer; entries it cannot read are
/// left out.
pub fn parse(json: &str) -> Vec<Container> {
    let Ok(Value::Array(listed)) = serde_json::from_str::<Value>(json) else {
        return Vec::new();
    };
    listed.iter().filter_map(container).collect()
}

fn container(listed: &Value) -> Option<Container> {
    let ports = listed["Ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|port| {
            let number = |key: &str| u16::try_from(port[key].as_u64()?).ok();
            Some(PortMapping {
                host_ip: port["host_ip"]
                    .as_str()
                    .and_then(|ip| ip.parse().ok())
                    .filter(|ip: &IpAddr| !(ip.is_unspecified() && ip.is_ipv4())),
                container_port: number("container_port")?,
                host_port: number("host_port")?,
                range: number("range").unwrap_or(1),
                udp: port["protocol"].as_str() == Some("udp"),
            })
        })
        .collect();
    let pod = listed["PodName"]
        .as_str()
        .filter(|pod| !pod.is_empty())
        .map(clean);
    Some(Container {
        name: clean(listed["Names"][0].as_str()?),
        id: clean(&listed["Id"].as_str()?.chars().take(12).collect::<String>()),
        state: clean(listed["State"].as_str().unwrap_or_default()),
        status: clean(listed["Status"].as_str().unwrap_or_default()),
        pod,
        infra: listed["IsInfra"].as_bool().unwrap_or(false),
        pid: listed["Pid"]
            .as_u64()
            .and_then(|pid| u32::try_from(pid).ok())
            .filter(|pid| *pid > 0),
        ports,
    })
}

/// A running container of Podman's, as the `conmon` that watches it names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodmanContainer {
    /// A process of the container (a listener's owner).
    pub pid: u32,
    /// The container's name (`conmon -n`).
    pub name: String,
    /// Its id, short (`conmon -c`).
    pub id: String,
    /// Whether it is in a pod, whose ports are the pod's (its cgroup is under the pod's).
    pub in_pod: bool,
}

/// The container of Podman's that process `pid` runs in, from the `conmon` above it: each
/// container's monitor is its first process's parent, and its command line (readable by every
/// user) names the container (`-c ID`, `-n NAME`). No podman is run for this.
pub fn monitored(pid: u32) -> Option<PodmanContainer> {
    let mut at = pid;
    // The program may be a child of the container's first process (a shell's, a server's
    // worker): a few steps up at most.
    for _ in 0..8 {
        let parent = parent_of(at)?;
        if parent <= 1 {
            return None;
        }
        let comm = std::fs::read_to_string(format!("/proc/{parent}/comm")).ok()?;
        if comm.trim_end() == "conmon" {
            let (id, name) = conmon_container(parent)?;
            let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
            return Some(PodmanContainer {
                pid,
                name,
                id,
                in_pod: is_in_pod(&cgroup),
            });
        }
        at = parent;
    }
    None
}

/// The container's short id and name that `conmon` of pid `pid` watches, from its command line.
pub fn conmon_container(pid: u32) -> Option<(String, String)> {
    conmon_names(&super::process::command_line(pid)?)
}

/// The parent pid of `pid`, from `/proc/PID/stat` (after the command name's parenthesis).
fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The container's id (short) and name of a `conmon`'s arguments: `-c ID` (`--cid`) and `-n
/// NAME` (`--name`).
fn conmon_names(args: &[String]) -> Option<(String, String)> {
    let mut id = None;
    let mut name = None;
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            // The first of each: podman's own arguments for its exit command come later.
            "-c" | "--cid" => id = id.or(rest.next()),
            "-n" | "--name" => name = name.or(rest.next()),
            // Values that are arguments of another program (`--exit-command-arg --name`).
            "--exit-command-arg" | "--runtime-arg" | "--exit-command" | "--runtime-opt" => {
                rest.next();
            }
            _ => {}
        }
    }
    Some((
        clean(&id?.chars().take(12).collect::<String>()),
        clean(name?),
    ))
}

/// Whether a container's cgroup (`/proc/PID/cgroup`) is a pod's: systemd's
/// `machine-libpod_pod_ID.slice`, or cgroupfs's `/libpod_parent/POD_ID/libpod-ID`.
fn is_in_pod(cgroup: &str) -> bool {
    cgroup.lines().any(|line| {
        line.contains("libpod_pod_")
            || line.split('/').collect::<Vec<_>>().windows(3).any(|w| {
                w[0] == "libpod_parent"
                    && w[1].len() == 64
                    && w[1].chars().all(|c| c.is_ascii_hexdigit())
                    && w[2].starts_with("libpod-")
            })
    })
}

/// Text podman printed, without control characters (a terminal's escapes).
#[cfg(test)]
mod tests {
    use super::*;

    /// `podman ps --all --pod --format json` of podman 4.3.1 (Debian 12), rootful, cut to the fields
    /// read: a running container, one whose program exited at once, a pod's infra container
    /// (stopped) and one published on 127.0.0.1 for a range of ports.
    const LISTED: &str = r#"[
      {"Exited": false, "ExitCode": 0, "Id": "4c9dfbc388ca2f19ead94bc82c010cbf0044222762951a9a220d92281fefda42",
       "IsInfra": false, "Names": ["web"], "Pid": 12624, "Pod": "", "PodName": "",
       "Ports": [{"host_ip": "", "container_port": 80, "host_port": 8080, "range": 1, "protocol": "tcp"}],
       "State": "running", "Status": "Up 5 minutes ago"},
      {"Exited": true, "ExitCode": 3, "Id": "719ae3283ad11e11f45a9e9852fda090b29786eeed3aabdb7b2210146c1f62a7",
       "IsInfra": false, "Names": ["gone"], "Pid": 0, "Pod": "", "PodName": "",
       "Ports": [{"host_ip": "", "container_port": 80, "host_port": 8083, "range": 1, "protocol": "tcp"}],
       "State": "exited", "Status": "Exited (3) 5 minutes ago"},
      {"Exited": true, "ExitCode": 0, "Id": "04d1e9e0d8a72f1e33f5579e517fd0db07ff76fd8115d31f67bf7104f520ecbe",
       "IsInfra": true, "Names": ["1d0ff4fe20a3-infra"], "Pid": 0, "Pod": "1d0ff4fe20a3", "PodName": "pod1",
       "Ports": [{"host_ip": "", "container_port": 80, "host_port": 8085, "range": 1, "protocol": "tcp"}],
       "State": "exited", "Status": "Exited (0) 2 seconds ago"},
      {"Exited": false, "ExitCode": 0, "Id": "e09df6ecfbd002482d27c8d036778775c4b7bf92b7805fe8d047617864ec07c3",
       "IsInfra": false, "Names": ["\u001b[31mlocal"], "Pid": 0, "Pod": "", "PodName": "",
       "Ports": [{"host_ip": "127.0.0.1", "container_port": 80, "host_port": 9000, "range": 2, "protocol": "tcp"},
                 {"host_ip": "", "container_port": 53, "host_port": 5353, "range": 1, "protocol": "udp"}],
       "State": "created", "Status": "Created"}
    ]"#;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn podman_ps_is_read_as_containers_with_their_ports() {
        let listed = parse(LISTED);
        assert_eq!(listed.len(), 4);
        assert_eq!(listed[0].name, "web");
        assert_eq!(listed[0].id, "4c9dfbc388ca");
        assert!(listed[0].is_running());
        assert_eq!(listed[0].publishes(ip("127.0.0.1"), 8080), Some(80));
        assert_eq!(listed[0].publishes(ip("::1"), 8080), Some(80));
        assert_eq!(listed[0].pid, Some(12624));
        assert_eq!(listed[1].pid, None);
        assert_eq!(listed[2].pod.as_deref(), Some("pod1"));
        assert!(listed[2].infra);
        // A control character in a name is not printed.
        assert_eq!(listed[3].name, "[31mlocal");
        // `-p 127.0.0.1:9000-9001:80-81`: the second port to 81, on 127.0.0.1 alone.
        assert_eq!(listed[3].publishes(ip("127.0.0.1"), 9001), Some(81));
        assert_eq!(listed[3].publishes(ip("10.0.0.5"), 9001), None);
        assert_eq!(listed[3].publishes(ip("127.0.0.1"), 9002), None);
        // UDP is no TCP port.
        assert_eq!(listed[3].publishes(ip("127.0.0.1"), 5353), None);
        assert!(parse("not json").is_empty());
        assert!(parse("{}").is_empty());
    }

    #[test]
    fn a_stopped_container_is_found_by_the_port_it_publishes() {
        let listed = parse(LISTED);
        let local = [ip("127.0.0.1")];
        let gone = stopped_publishing(&listed, 8083, &local);
        assert_eq!(
            gone,
            [StoppedContainer {
                name: "gone".into(),
                id: "719ae3283ad1".into(),
                state: "exited".into(),
                status: "Exited (3) 5 minutes ago".into(),
                container_port: 80,
                runtime: ContainerRuntime::Podman,
                pod: None,
            }]
        );
        // A running container's port is not a stopped one's.
        assert!(stopped_publishing(&listed, 8080, &local).is_empty());
        // A pod's ports are its infra container's: the pod is named.
        let pod = stopped_publishing(&listed, 8085, &local);
        assert_eq!(pod[0].pod.as_deref(), Some("pod1"));
        // Created and never started, published on 127.0.0.1 alone.
        assert_eq!(
            stopped_publishing(&listed, 9000, &local)[0].state,
            "created"
        );
        assert!(stopped_publishing(&listed, 9000, &[ip("10.0.0.5")]).is_empty());
    }

    #[test]
    fn a_conmons_command_line_names_its_container() {
        let args = |line: &str| -> Vec<String> { line.split(' ').map(str::to_owned).collect() };
        // podman 4.3.1's, cut.
        assert_eq!(
            conmon_names(&args(
                "/usr/bin/conmon --api-version 1 -c 4c9dfbc388ca2f19ead94bc82c010cbf0044222762951a9a220d92281fefda42 -u 4c9dfbc388ca2f19ead94bc82c010cbf0044222762951a9a220d92281fefda42 -r /usr/bin/runc -b /var/lib/containers/storage/overlay-containers/4c9d/userdata -n web --exit-dir /run/libpod/exits --exit-command-arg --name --exit-command-arg x"
            )),
            Some(("4c9dfbc388ca".to_owned(), "web".to_owned()))
        );
        assert_eq!(conmon_names(&args("conmon -c abc")), None);
    }

    #[test]
    fn a_pods_container_is_told_by_its_cgroup() {
        // cgroupfs (podman 4.3.1, cgroups v1), and systemd's slices.
        assert!(is_in_pod(
            "9:name=systemd:/libpod_parent/1d0ff4fe20a357412c86a138807589735bf456d928d9961b6370dea472065783/libpod-2032688fc25d6e5f714cf59d7c454543becab1d71dacfd645b511b2ae752b65e"
        ));
        assert!(is_in_pod(
            "0::/machine.slice/machine-libpod_pod_1d0ff4fe20a3.slice/libpod-2032688fc25d.scope/container"
        ));
        assert!(!is_in_pod(
            "9:name=systemd:/libpod_parent/libpod-4c9dfbc388ca2f19ead94bc82c010cbf0044222762951a9a220d92281fefda42"
        ));
        assert!(!is_in_pod(
            "0::/machine.slice/libpod-4c9dfbc388ca.scope/container"
        ));
    }

    #[test]
    fn a_process_outside_any_container_has_no_monitor() {
        assert_eq!(monitored(std::process::id()), None);
        assert_eq!(monitored(u32::MAX), None);
        assert_eq!(
            parent_of(std::process::id()),
            Some(std::os::unix::process::parent_id())
        );
    }
    #[test]
    fn a_helpers_environment_gives_its_podmans_settings_alone() {
        let environ = b"PATH=/usr/bin\0HOME=/home/pd\0XDG_RUNTIME_DIR=/run/user/1001\0CONTAINERS_CONF=/tmp/c.conf\0SECRET=x\0XDG_CONFIG_HOME=\0=odd\0";
        let kept = podman_settings(environ);
        assert_eq!(
            kept,
            [
                ("HOME".into(), "/home/pd".into()),
                ("XDG_RUNTIME_DIR".into(), "/run/user/1001".into()),
                ("CONTAINERS_CONF".into(), "/tmp/c.conf".into()),
            ]
        );
    }

    #[test]
    fn this_process_is_its_callers() {
        assert!(matches!(
            Whose::of_process(std::process::id()),
            Some(Whose::Caller)
        ));
        assert!(Whose::of_process(u32::MAX).is_none());
    }

    #[test]
    fn podmans_default_storage_is_roots_or_the_users_data_folders() {
        assert_eq!(
            default_storage(true, None).unwrap(),
            std::path::Path::new("/var/lib/containers/storage")
        );
        assert_eq!(
            default_storage(false, Some(std::path::Path::new("/home/pd/.local/share"))).unwrap(),
            std::path::Path::new("/home/pd/.local/share/containers/storage")
        );
        assert_eq!(default_storage(false, None), None);
    }
}
