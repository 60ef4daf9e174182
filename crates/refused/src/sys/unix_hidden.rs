//! Listening unix sockets bound to a path that this process's file system does not show: the
//! socket was bound in another file system (a container's mount namespace, a chroot), or its
//! file was deleted after it was bound (a cleanup of `/tmp`, a second instance that removed it
//! on exit). The kernel's tables (`/proc/net/unix`, one per network namespace) keep the path the
//! socket was bound to; the process's own root (`/proc/PID/root`, which only root may read for
//! another user's process) says which of the two it is.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::netns::{self, Namespace};
use super::tables;

/// A listening socket bound to a path, in this network namespace or another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundTo {
    /// The socket's inode.
    pub inode: u64,
    /// Its network namespace (`None`: ours).
    pub netns: Option<Namespace>,
}

/// Where the file of a socket bound to a path is, for the process holding it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileSeen {
    /// In the process's own file system (`/proc/PID/root/PATH` exists): another mount
    /// namespace, a container's, or a chroot.
    OwnFileSystem,
    /// Nowhere: the process sees the path as we do, and the file is gone, deleted or renamed
    /// after the socket was bound.
    Deleted,
}

/// The listening unix sockets of this host bound to `path`: of our network namespace, and of
/// every other one (read through a process of it, or, for a named one with none, from inside
/// it as root).
pub fn bound_to(path: &Path) -> Vec<BoundTo> {
    let matching = |text: &str| -> Vec<u64> {
        tables::parse_unix_listeners(text)
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.path == path)
            .map(|l| l.inode)
            .collect()
    };
    let mut found: Vec<BoundTo> = std::fs::read_to_string("/proc/thread-self/net/unix")
        .map(|text| matching(&text))
        .unwrap_or_default()
        .into_iter()
        .map(|inode| BoundTo { inode, netns: None })
        .collect();
    for ns in netns::others() {
        let Ok(text) = netns::read_net_file(&ns, "unix") else {
            continue;
        };
        found.extend(matching(&text).into_iter().map(|inode| BoundTo {
            inode,
            netns: Some(ns.netns.clone()),
        }));
    }
    found
}

/// Where process `pid` has the file at `path`; `None` where its root cannot be read (another
/// user's process, without root).
pub fn file_seen(pid: u32, path: &Path) -> Option<FileSeen> {
    let root = PathBuf::from(format!("/proc/{pid}/root"));
    // Its root must be readable for the answer to mean anything.
    std::fs::read_dir(&root).ok()?;
    let inside = root.join(path.strip_prefix("/").unwrap_or(path));
    Some(if std::fs::symlink_metadata(inside).is_ok() {
        FileSeen::OwnFileSystem
    } else {
        FileSeen::Deleted
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_in_our_own_root_is_seen_as_ours() {
        let pid = std::process::id();
        let here = std::env::temp_dir().join(format!("refused-unix-hidden-{pid}"));
        std::fs::write(&here, "").unwrap();
        // Our own root is this file system: the file there, then gone.
        let seen = file_seen(pid, &here);
        std::fs::remove_file(&here).unwrap();
        assert_eq!(seen, Some(FileSeen::OwnFileSystem));
        assert_eq!(file_seen(pid, &here), Some(FileSeen::Deleted));
        assert_eq!(file_seen(u32::MAX, &here), None);
    }

    #[test]
    fn a_listener_of_ours_is_found_by_its_path() {
        let pid = std::process::id();
        let path = std::env::temp_dir().join(format!("refused-unix-hidden-{pid}.sock"));
        let _ = std::fs::remove_file(&path);
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let found = bound_to(&path);
        drop(listener);
        assert!(
            found.iter().any(|b| b.netns.is_none()),
            "{path:?}: {found:?}"
        );
    }
}
