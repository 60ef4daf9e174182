//! Listeners in the other network namespaces of this host: containers, `ip netns` namespaces.
//!
//! Namespaces are found through the processes in them (`/proc/PID/ns/net`) and through the names
//! under `/run/netns` and `/run/docker/netns` (a named namespace may have no process). Each is
//! asked once, for the port wanted only. As root, through `sock_diag` on a thread that entered the
//! namespace (`setns`, which needs `CAP_SYS_ADMIN`): the kernel answers from its listening hash, in
//! microseconds. Without root, through `/proc/PID/net/tcp{,6}`, which any user may read but which
//! walks every connection of the host on each read (milliseconds with an idle table, far more with
//! thousands of connections open); a named namespace with no process cannot be read then, and is
//! reported as not entered.
//!
//! A namespace is known by its inode where its link is readable (our own processes', or all as
//! root), and always by the inode of its `/proc/PID/net/tcp` entry, which is the same for every
//! process of one namespace and which anyone may `stat`: so each namespace is read once, the ones
//! of other users' processes included. Socket inodes are unique across the host, so a listener
//! whose inode is not in our own table lives in another namespace, even when the namespace itself
//! cannot be named.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Serialize, Serializer};

use super::sock_diag;
use super::tables::{Listener, read_tcp_listeners};

/// Folders where tools keep bind mounts of named network namespaces.
const NAMED_NETNS_DIRS: [&str; 2] = ["/run/netns", "/run/docker/netns"];
/// `statfs` type of the namespace filesystem (`NSFS_MAGIC` in `linux/magic.h`).
const NSFS_MAGIC: rustix::fs::FsWord = 0x6e73_6673;

/// Which network namespace a listener was found in, as well as it could be named. Serialized as
/// the text of its `Display`: the name, `net:[INODE]` or `pid PID`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Namespace {
    /// A namespace with a name: a bind mount under `/run/netns` (`ip netns add`) or
    /// `/run/docker/netns`. `ip netns exec NAME` enters it.
    Named(String),
    /// A namespace with no name, known by its inode (a container's, most often).
    Unnamed(u64),
    /// The namespace of process `PID`, whose namespace link could not be read (another user's
    /// process, without root): `nsenter -t PID -n` enters it.
    OfProcess(u32),
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Named(name) => f.write_str(name),
            Self::Unnamed(inode) => write!(f, "net:[{inode}]"),
            Self::OfProcess(pid) => write!(f, "pid {pid}"),
        }
    }
}

impl Serialize for Namespace {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A listener found in another network namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignListener {
    /// The socket.
    #[serde(flatten)]
    pub listener: Listener,
    /// The namespace it lives in.
    pub netns: Namespace,
    /// A process running in that namespace, when it was found through one.
    pub pid: Option<u32>,
}

/// What a search of the other namespaces found, and what it could not look at.
#[derive(Debug, Clone, Default)]
pub struct ForeignSearch {
    /// Listeners on the port asked for, in other namespaces.
    pub listeners: Vec<ForeignListener>,
    /// Named namespaces that could not be entered (entering needs root).
    pub not_entered: Vec<String>,
}

/// How a namespace's listeners are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// `sock_diag` from inside the namespace where `setns` is permitted (root), else
    /// `/proc/PID/net/tcp{,6}`.
    Fastest,
    /// `/proc/PID/net/tcp{,6}` only, as without root: named namespaces with no process are then
    /// not entered either. For comparing both ways on one host (the tests do).
    #[cfg_attr(not(test), expect(dead_code))]
    ProcOnly,
}

/// Finds listeners on `port` in network namespaces other than ours. `own` is our own table, whose
/// sockets are left out.
pub fn listeners_on_port(port: u16, own: &[Listener]) -> ForeignSearch {
    listeners_on_port_with(port, own, Reader::Fastest)
}

/// [`listeners_on_port`], reading the namespaces the way `reader` says.
pub fn listeners_on_port_with(port: u16, own: &[Listener], reader: Reader) -> ForeignSearch {
    // `setns` moves the calling thread: the search runs on a thread of its own, which ends with it
    // (and which starts in our namespace, as its creator is).
    std::thread::scope(|scope| {
        scope
            .spawn(|| Search::new(port, own, reader).run())
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// One search, on a thread that may enter the namespaces it reads.
struct Search {
    port: u16,
    found: ForeignSearch,
    /// Namespace inodes already read (ours first).
    seen_ns: HashSet<u64>,
    /// Inodes of `/proc/PID/net/tcp` already read: one a namespace, readable by anyone.
    seen_tables: HashSet<u64>,
    /// Socket inodes already reported, or ours.
    seen_sockets: HashSet<u64>,
    /// Whether `setns` is still worth trying: not after the kernel refused it once.
    may_enter: bool,
}

impl Search {
    fn new(port: u16, own: &[Listener], reader: Reader) -> Self {
        let this = Path::new("/proc/thread-self");
        Self {
            port,
            found: ForeignSearch::default(),
            seen_ns: namespace_inode(&this.join("ns/net")).into_iter().collect(),
            seen_tables: table_id(&this.join("net")).into_iter().collect(),
            seen_sockets: own.iter().map(|l| l.inode).collect(),
            may_enter: reader == Reader::Fastest,
        }
    }

    fn run(mut self) -> ForeignSearch {
        let names = named_namespaces();
        for pid in pids() {
            let process = PathBuf::from(format!("/proc/{pid}"));
            // The namespace file, held open: its inode names the namespace, and entering it
            // enters that one, even if the process moves or ends meanwhile.
            let ns_file = fs::File::open(process.join("ns/net")).ok();
            let ns = ns_file
                .as_ref()
                .and_then(|file| file.metadata().ok())
                .map(|m| m.ino());
            if ns.is_some_and(|ns| !self.seen_ns.insert(ns)) {
                continue;
            }
            let net = process.join("net");
            if table_id(&net).is_some_and(|table| !self.seen_tables.insert(table)) {
                continue;
            }
            let entered = ns_file.and_then(|file| self.enter(&file));
            let listeners = match entered {
                Some(Ok(listeners)) => listeners,
                _ => match read_tcp_listeners(&net) {
                    Ok(listeners) => listeners,
                    // The process ended while we looked.
                    Err(_) => continue,
                },
            };
            let netns = match ns {
                Some(ns) => names.get(&ns).map_or(Namespace::Unnamed(ns), |name| {
                    Namespace::Named(name.clone())
                }),
                None => Namespace::OfProcess(pid),
            };
            self.keep(listeners, &netns, Some(pid));
        }

        // Named namespaces with no process in them: only entering shows them.
        for (ns, name) in &names {
            if self.seen_ns.contains(ns) {
                continue;
            }
            let entered = match fs::File::open(name_path(name)) {
                Ok(file) => self.enter(&file),
                Err(err) if err.kind() == io::ErrorKind::PermissionDenied => None,
                Err(err) => Some(Err(err)),
            };
            match entered {
                Some(Ok(listeners)) => self.keep(listeners, &Namespace::Named(name.clone()), None),
                // Entering needs CAP_SYS_ADMIN.
                None => self.found.not_entered.push(name.clone()),
                // Any other failure is a namespace being deleted while we looked (its file
                // unmounted or gone): nothing to see there.
                Some(Err(_)) => {}
            }
        }
        self.found
    }

    /// Moves this thread into the namespace `file` is open on, and asks it for the listeners on
    /// the port. `None` when entering is not permitted (now or before).
    fn enter(&mut self, file: &fs::File) -> Option<io::Result<Vec<Listener>>> {
        if !self.may_enter {
            return None;
        }
        let entered = rustix::thread::move_into_link_name_space(
            file.as_fd(),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .map_err(io::Error::from);
        match entered {
            Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
                self.may_enter = false;
                None
            }
            Err(err) => Some(Err(err)),
            // Netlink may be refused where /proc is not (a seccomp filter): the thread's own
            // table is that namespace's now.
            Ok(()) => Some(
                sock_diag::tcp_listeners_on(self.port)
                    .or_else(|_| read_tcp_listeners(Path::new("/proc/thread-self/net"))),
            ),
        }
    }

    fn keep(&mut self, listeners: Vec<Listener>, netns: &Namespace, pid: Option<u32>) {
        for listener in listeners {
            if listener.port == self.port && self.seen_sockets.insert(listener.inode) {
                self.found.listeners.push(ForeignListener {
                    listener,
                    netns: netns.clone(),
                    pid,
                });
            }
        }
    }
}

fn pids() -> Vec<u32> {
    let mut pids: Vec<u32> = fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    pids
}

/// Whether `pid` is the only process of its network namespace (told by its table, which any
/// user may `stat`): then it holds every socket of that namespace, and is their owner where
/// `/proc/PID/fd` cannot be read (another user's process, without root).
pub fn sole_process(pid: u32) -> bool {
    let Some(table) = table_id(Path::new(&format!("/proc/{pid}/net"))) else {
        return false;
    };
    !pids().into_iter().any(|other| {
        other != pid && table_id(Path::new(&format!("/proc/{other}/net"))) == Some(table)
    })
}

/// A namespace's inode (the `INODE` of `net:[INODE]`), through a `/proc/.../ns/net` file, which
/// only those allowed to ptrace the process may follow.
fn namespace_inode(path: &Path) -> Option<u64> {
    fs::metadata(path).ok().map(|meta| meta.ino())
}

/// The inode of a namespace's `/proc/.../net/tcp` entry: each namespace has its own, the same for
/// all its processes, and any user may `stat` it, though not read the namespace link.
fn table_id(net: &Path) -> Option<u64> {
    fs::metadata(net.join("tcp")).ok().map(|meta| meta.ino())
}

/// The name `ip netns add` gave the calling thread's own namespace (under `/run/netns`, where
/// `ip netns exec NAME` finds it), if it has one.
pub fn own_name() -> Option<String> {
    let inode = namespace_inode(Path::new("/proc/thread-self/ns/net"))?;
    let name = named_namespaces().remove(&inode)?;
    name_path(&name)
        .starts_with(NAMED_NETNS_DIRS[0])
        .then_some(name)
}

/// Named namespaces by namespace inode: a bind mount of a namespace has the namespace's inode.
fn named_namespaces() -> HashMap<u64, String> {
    let mut names = HashMap::new();
    for dir in NAMED_NETNS_DIRS {
        let Ok(entries) = fs::read_dir(dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let file_name = entry.file_name();
            let (Ok(meta), Some(name)) = (fs::metadata(&path), file_name.to_str()) else {
                continue;
            };
            // A file whose bind mount is gone is an empty file on tmpfs, not a namespace.
            let is_nsfs = rustix::fs::statfs(&path).is_ok_and(|fs| fs.f_type == NSFS_MAGIC);
            if is_nsfs {
                names.entry(meta.ino()).or_insert_with(|| name.to_owned());
            }
        }
    }
    names
}

fn name_path(name: &str) -> PathBuf {
    NAMED_NETNS_DIRS
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| Path::new(NAMED_NETNS_DIRS[0]).join(name))
}

/// Another network namespace of this host, found by [`others`], and how to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Other {
    /// Which namespace.
    pub netns: Namespace,
    /// A process running in it, through whose `/proc/PID/net` it is read without root.
    pub pid: Option<u32>,
}

/// The network namespaces of this host other than ours: those of running processes (each once,
/// known by its namespace inode or its table's), then the named ones with no process in them.
pub fn others() -> Vec<Other> {
    let this = Path::new("/proc/thread-self");
    let names = named_namespaces();
    let mut seen_ns: HashSet<u64> = namespace_inode(&this.join("ns/net")).into_iter().collect();
    let mut seen_tables: HashSet<u64> = table_id(&this.join("net")).into_iter().collect();
    let mut found = Vec::new();
    for pid in pids() {
        let process = PathBuf::from(format!("/proc/{pid}"));
        let ns = namespace_inode(&process.join("ns/net"));
        if ns.is_some_and(|ns| !seen_ns.insert(ns)) {
            continue;
        }
        if table_id(&process.join("net")).is_none_or(|table| !seen_tables.insert(table)) {
            continue;
        }
        let netns = match ns {
            Some(ns) => names.get(&ns).map_or(Namespace::Unnamed(ns), |name| {
                Namespace::Named(name.clone())
            }),
            None => Namespace::OfProcess(pid),
        };
        found.push(Other {
            netns,
            pid: Some(pid),
        });
    }
    for (ns, name) in &names {
        if seen_ns.insert(*ns) {
            found.push(Other {
                netns: Namespace::Named(name.clone()),
                pid: None,
            });
        }
    }
    found
}

/// The namespace of process `pid` (a container's first process), named by its inode where its
/// link is readable.
pub fn of_process(pid: u32) -> Other {
    let netns = namespace_inode(Path::new(&format!("/proc/{pid}/ns/net")))
        .map_or(Namespace::OfProcess(pid), Namespace::Unnamed);
    Other {
        netns,
        pid: Some(pid),
    }
}

/// A file of a namespace's `/proc/net` (`fib_trie`, `if_inet6`): through a process in it, or by
/// entering a named one (root).
pub fn read_net_file(ns: &Other, file: &str) -> io::Result<String> {
    match (ns.pid, &ns.netns) {
        (Some(pid), _) => fs::read_to_string(format!("/proc/{pid}/net/{file}")),
        (None, Namespace::Named(name)) => inside(&name_path(name), || {
            fs::read_to_string(Path::new("/proc/thread-self/net").join(file))
        }),
        (None, _) => Err(io::Error::from(io::ErrorKind::NotFound)),
    }
}

/// The TCP listeners of a namespace: `sock_diag` from inside it where entering is permitted
/// (root), else its `/proc` tables.
pub fn tcp_listeners_in(ns: &Other) -> io::Result<Vec<Listener>> {
    within(ns, sock_diag::tcp_listeners).or_else(|err| match ns.pid {
        Some(pid) => read_tcp_listeners(Path::new(&format!("/proc/{pid}/net"))),
        None => Err(err),
    })
}

/// Runs `work` on a thread that entered the namespace `ns` (needs root): sockets it opens and
/// programs it starts (`nft`, `ip`) are that namespace's.
pub fn within<T: Send>(ns: &Other, work: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    let path = match (ns.pid, &ns.netns) {
        (Some(pid), _) => PathBuf::from(format!("/proc/{pid}/ns/net")),
        (None, Namespace::Named(name)) => name_path(name),
        (None, _) => return Err(io::Error::from(io::ErrorKind::NotFound)),
    };
    inside(&path, work)
}

/// Runs `work` on a thread that entered the namespace bound at `path` (needs root).
fn inside<T: Send>(path: &Path, work: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    let file = fs::File::open(path)?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                rustix::thread::move_into_link_name_space(
                    file.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )?;
                work()
            })
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the namespace reader thread panicked")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use refused_lab::{Lab, ListenSpec};

    #[test]
    fn our_own_listeners_are_not_foreign() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let own = read_tcp_listeners(Path::new("/proc/net")).unwrap();
        for reader in [Reader::Fastest, Reader::ProcOnly] {
            let search = listeners_on_port_with(port, &own, reader);
            assert!(search.listeners.is_empty(), "{reader:?}: {search:?}");
        }
    }

    #[test]
    fn reads_namespace_links_and_table_ids() {
        let ours = namespace_inode(Path::new("/proc/self/ns/net")).unwrap();
        let link = fs::read_link("/proc/self/ns/net").unwrap();
        assert_eq!(link.to_str(), Some(format!("net:[{ours}]").as_str()));
        assert_eq!(namespace_inode(Path::new("/nonexistent")), None);
        // One namespace, one table, whichever process or thread it is read through.
        let ours = table_id(Path::new("/proc/thread-self/net"));
        assert!(ours.is_some());
        assert_eq!(table_id(Path::new("/proc/self/net")), ours);
        assert_eq!(table_id(Path::new("/proc/nonexistent/net")), None);
    }

    #[test]
    fn namespaces_read_as_their_json_text() {
        for (netns, text) in [
            (Namespace::Named("blue".into()), "blue"),
            (Namespace::Unnamed(4_026_532_999), "net:[4026532999]"),
            (Namespace::OfProcess(77), "pid 77"),
        ] {
            assert_eq!(netns.to_string(), text);
            assert_eq!(serde_json::to_value(&netns).unwrap(), text);
        }
    }

    /// A process killed when dropped.
    struct Running(Child);

    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    /// The facts both ways must agree on (`sock_diag` adds the backlog and v6only).
    fn seen(listeners: &[ForeignListener], lab: &Lab) -> Vec<(Listener, Namespace, Option<u32>)> {
        listeners
            .iter()
            .filter(|f| f.netns != Namespace::Named(lab.server.name().to_owned()))
            .map(|f| {
                let listener = Listener {
                    v6only: None,
                    backlog: None,
                    ..f.listener.clone()
                };
                (listener, f.netns.clone(), f.pid)
            })
            .collect()
    }

    #[test]
    fn sock_diag_inside_each_namespace_finds_what_proc_finds() {
        // Ports of this test only: `why` tests elsewhere look at every namespace.
        const PORT: u16 = 43_950;
        const OTHER_PORT: u16 = 43_951;
        let Some(lab) = Lab::or_skip("sock_diag_inside_each_namespace_finds_what_proc_finds")
        else {
            return;
        };
        let redis = |port: u16| {
            let port = port.to_string();
            [
                "--port",
                &port,
                "--bind",
                "127.0.0.1 ::1",
                "--save",
                "",
                "--appendonly",
                "no",
            ]
            .map(str::to_owned)
        };
        // A named namespace with no process: its sockets are held by this test, out here.
        let held = lab
            .server
            .run(|| {
                [
                    SocketAddr::from((Ipv4Addr::UNSPECIFIED, PORT)),
                    SocketAddr::from((Ipv6Addr::UNSPECIFIED, PORT)),
                    SocketAddr::from((Ipv4Addr::UNSPECIFIED, OTHER_PORT)),
                ]
                .map(|addr| ListenSpec::new(addr).backlog(7).listen().unwrap())
            })
            .unwrap();
        // A named namespace with a process that listens (IPv4 and IPv6).
        lab.client
            .spawn("redis-server", &redis(PORT).each_ref().map(String::as_str))
            .unwrap();
        // An unnamed namespace with a process in it, like a container.
        let mut unshare = Command::new("unshare");
        let script = format!(
            "ip link set lo up && exec redis-server {}",
            redis(PORT).map(|a| format!("'{a}'")).join(" ")
        );
        unshare.args(["--net", "--", "sh", "-c", &script]);
        let container = Running(
            unshare
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .unwrap(),
        );

        let own = read_tcp_listeners(Path::new("/proc/net")).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let fast = loop {
            let fast = listeners_on_port(PORT, &own);
            // Two redis servers with two sockets each, and two of ours.
            if fast.listeners.len() >= 6 || Instant::now() > deadline {
                break fast;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Read once it listens: `unshare` runs in our namespace until it has made its own.
        let container_ns = Namespace::Unnamed(
            namespace_inode(Path::new(&format!("/proc/{}/ns/net", container.0.id()))).unwrap(),
        );
        let slow = listeners_on_port_with(PORT, &own, Reader::ProcOnly);

        // The same listeners, namespaces and processes, both ways, where both can look.
        assert_eq!(
            seen(&fast.listeners, &lab),
            seen(&slow.listeners, &lab),
            "{fast:#?}\n{slow:#?}"
        );
        let client = Namespace::Named(lab.client.name().to_owned());
        for netns in [&client, &container_ns] {
            let found: Vec<_> = fast
                .listeners
                .iter()
                .filter(|f| &f.netns == netns)
                .collect();
            assert_eq!(found.len(), 2, "{netns}: {fast:#?}");
            for foreign in found {
                assert_eq!(foreign.listener.port, PORT);
                assert!(foreign.pid.is_some());
                // Only sock_diag knows these.
                assert_eq!(foreign.listener.backlog, Some(511), "{foreign:?}");
                assert_eq!(
                    foreign.listener.v6only,
                    foreign.listener.address.is_ipv6().then_some(true)
                );
            }
        }
        // The namespace with no process: only entering it shows its listeners, on the port asked.
        let server = Namespace::Named(lab.server.name().to_owned());
        let mut inside: Vec<_> = fast
            .listeners
            .iter()
            .filter(|f| f.netns == server)
            .map(|f| (f.listener.inode, f.listener.backlog, f.pid))
            .collect();
        inside.sort_unstable();
        let mut expected: Vec<_> = held[..2]
            .iter()
            .map(|l| (socket_inode(l), Some(7), None))
            .collect();
        expected.sort_unstable();
        assert_eq!(inside, expected);
        assert!(!fast.not_entered.contains(&lab.server.name().to_owned()));
        assert!(slow.not_entered.contains(&lab.server.name().to_owned()));
        assert!(!slow.not_entered.contains(&lab.client.name().to_owned()));
    }

    fn socket_inode(listener: &TcpListener) -> u64 {
        use std::os::fd::AsRawFd;
        let link = fs::read_link(format!("/proc/self/fd/{}", listener.as_raw_fd())).unwrap();
        link.to_str()
            .and_then(|l| l.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok())
            .unwrap()
    }
}
