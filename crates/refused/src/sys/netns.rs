//! Listeners in the other network namespaces of this host: containers, `ip netns` namespaces.
//!
//! Any user may read `/proc/PID/net/tcp{,6}`, the tables of the namespace `PID` runs in, so the
//! namespaces of running processes are seen without root. A named namespace with no process in it
//! (`ip netns add` under `/run/netns`) can only be entered with `setns`, which needs root.
//! Socket inodes are unique across the host, so a listener whose inode is not in our own table
//! lives in another namespace, even when the namespace itself cannot be named.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::tables::{Listener, read_tcp_listeners};

/// Folders where tools keep bind mounts of named network namespaces.
const NAMED_NETNS_DIRS: [&str; 2] = ["/run/netns", "/run/docker/netns"];
/// `statfs` type of the namespace filesystem (`NSFS_MAGIC` in `linux/magic.h`).
const NSFS_MAGIC: rustix::fs::FsWord = 0x6e73_6673;

/// A listener found in another network namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForeignListener {
    /// The socket.
    #[serde(flatten)]
    pub listener: Listener,
    /// The namespace: its name under `/run/netns` when it has one, else `net:[INODE]`, else
    /// `pid PID` when the namespace could not be read.
    pub netns: String,
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

/// Finds listeners on `port` in network namespaces other than ours. `own` is our own table, whose
/// sockets are left out.
pub fn listeners_on_port(port: u16, own: &[Listener]) -> ForeignSearch {
    let own_ns = namespace_id(Path::new("/proc/thread-self/ns/net"));
    let own_inodes: HashSet<u64> = own.iter().map(|l| l.inode).collect();
    let names = named_namespaces();
    let mut search = ForeignSearch::default();
    let mut seen_ns: HashSet<u64> = own_ns.into_iter().collect();
    let mut seen_sockets = own_inodes;
    let mut keep = |search: &mut ForeignSearch, listeners: Vec<Listener>, netns: &str, pid| {
        for listener in listeners {
            if listener.port == port && seen_sockets.insert(listener.inode) {
                search.listeners.push(ForeignListener {
                    listener,
                    netns: netns.to_owned(),
                    pid,
                });
            }
        }
    };

    for pid in pids() {
        let ns = namespace_id(Path::new(&format!("/proc/{pid}/ns/net")));
        if let Some(ns) = ns {
            if !seen_ns.insert(ns) {
                continue;
            }
        }
        let Ok(listeners) = read_tcp_listeners(Path::new(&format!("/proc/{pid}/net"))) else {
            continue;
        };
        let netns = match ns {
            Some(ns) => names
                .get(&ns)
                .cloned()
                .unwrap_or_else(|| format!("net:[{ns}]")),
            None => format!("pid {pid}"),
        };
        keep(&mut search, listeners, &netns, Some(pid));
    }

    // Named namespaces with no process in them.
    for (ns, name) in &names {
        if seen_ns.contains(ns) {
            continue;
        }
        match listeners_inside(&name_path(name)) {
            Ok(listeners) => keep(&mut search, listeners, name, None),
            // Entering needs CAP_SYS_ADMIN; any other failure is a namespace being deleted
            // while we looked (its file unmounted or gone): nothing to see there.
            Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
                search.not_entered.push(name.clone());
            }
            Err(_) => {}
        }
    }
    search
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

/// `net:[4026531833]` -> 4026531833, from a `/proc/.../ns/net` link (unreadable without the right
/// to ptrace the process).
fn namespace_id(link: &Path) -> Option<u64> {
    let target = fs::read_link(link).ok()?;
    target
        .to_str()?
        .strip_prefix("net:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
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

/// Reads the tables of a named namespace from a thread that entered it (needs root).
fn listeners_inside(path: &Path) -> io::Result<Vec<Listener>> {
    inside(path, || {
        read_tcp_listeners(Path::new("/proc/thread-self/net"))
    })
}

/// Another network namespace of this host, and how to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// Its name under `/run/netns` when it has one, else `net:[INODE]`.
    pub name: String,
    /// Whether `name` is a name (`ip netns exec NAME` enters it).
    pub named: bool,
    /// A process running in it, through whose `/proc/PID/net` it is read without root.
    pub pid: Option<u32>,
}

/// The network namespaces of this host other than ours: those of running processes, then the
/// named ones with no process in them.
pub fn others() -> Vec<Namespace> {
    let own = namespace_id(Path::new("/proc/thread-self/ns/net"));
    let names = named_namespaces();
    let mut seen: HashSet<u64> = own.into_iter().collect();
    let mut found = Vec::new();
    for pid in pids() {
        match namespace_id(Path::new(&format!("/proc/{pid}/ns/net"))) {
            Some(ns) if seen.insert(ns) => found.push(Namespace {
                name: names
                    .get(&ns)
                    .cloned()
                    .unwrap_or_else(|| format!("net:[{ns}]")),
                named: names.contains_key(&ns),
                pid: Some(pid),
            }),
            _ => {}
        }
    }
    for (ns, name) in &names {
        if seen.insert(*ns) {
            found.push(Namespace {
                name: name.clone(),
                named: true,
                pid: None,
            });
        }
    }
    found
}

/// A file of a namespace's `/proc/net` (`fib_trie`, `if_inet6`): through a process in it, or by
/// entering a named one (root).
pub fn read_net_file(ns: &Namespace, file: &str) -> io::Result<String> {
    match ns.pid {
        Some(pid) => fs::read_to_string(format!("/proc/{pid}/net/{file}")),
        None => inside(&name_path(&ns.name), || {
            fs::read_to_string(Path::new("/proc/thread-self/net").join(file))
        }),
    }
}

/// The TCP listeners of a namespace.
pub fn tcp_listeners_in(ns: &Namespace) -> io::Result<Vec<Listener>> {
    match ns.pid {
        Some(pid) => read_tcp_listeners(Path::new(&format!("/proc/{pid}/net"))),
        None => listeners_inside(&name_path(&ns.name)),
    }
}

/// Runs `work` on a thread that entered the namespace bound at `path` (needs root).
fn inside<T: Send>(path: &Path, work: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
    let file = fs::File::open(path)?;
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&file),
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

    #[test]
    fn our_own_listeners_are_not_foreign() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let own = read_tcp_listeners(Path::new("/proc/net")).unwrap();
        let search = listeners_on_port(port, &own);
        assert!(search.listeners.is_empty(), "{:?}", search.listeners);
    }

    #[test]
    fn reads_namespace_links() {
        assert!(namespace_id(Path::new("/proc/self/ns/net")).is_some());
        assert_eq!(namespace_id(Path::new("/nonexistent")), None);
    }
}
