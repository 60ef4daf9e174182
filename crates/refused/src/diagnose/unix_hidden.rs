//! The rule for a unix socket path that does not exist here while a socket bound to that very
//! path listens: "the service is not running" was wrong. Either its file is in the process's
//! own file system (a container's mount namespace, a chroot: the host does not see it unless a
//! volume shares the folder), or it was deleted after the socket was bound (a cleanup of
//! `/tmp`, a second instance that removed it on exit), and only a restart makes it again. The
//! cause stays `socket-missing`: the path is missing where it was asked.

use std::collections::HashSet;
use std::path::Path;

use super::cause::Cause;
use super::evidence::{FileSeen, HiddenListener};
use super::rules::Finding;
use crate::sys::{process, unix_hidden};

/// The listening sockets of this host bound to `path` (which does not exist here), with who
/// holds them and where each one's process has the file.
pub(super) fn listeners(path: &Path) -> Vec<HiddenListener> {
    let bound = unix_hidden::bound_to(path);
    if bound.is_empty() {
        return Vec::new();
    }
    let inodes: HashSet<u64> = bound.iter().map(|b| b.inode).collect();
    let owners = process::owners(&inodes);
    bound
        .into_iter()
        .map(|b| {
            let owner = owners.get(b.inode);
            HiddenListener {
                inode: b.inode,
                pid: owner.map(|p| p.pid),
                process: owner.map(|p| p.command.clone()),
                netns: b.netns,
                file: owner.and_then(|p| unix_hidden::file_seen(p.pid, path)),
            }
        })
        .collect()
}

/// `socket-missing` at `path`, said with `hidden`, a socket that listens bound to it.
pub(super) fn finding(hidden: &HiddenListener, path: &str) -> Finding {
    let owner = hidden.owner();
    let through_root = hidden.pid.map(|pid| format!("/proc/{pid}/root{path}"));
    match (hidden.file, through_root) {
        (Some(FileSeen::OwnFileSystem), Some(through_root)) => Finding::new(
            Cause::SocketMissing,
            format!(
                "{path} does not exist here, but {owner} listens on a socket at that path in its own file system (another mount namespace: a container's, or a chroot), which this one does not show"
            ),
        )
        .suggest(format!(
            "share the socket's folder between the two: a bind mount or a container's volume (`docker run -v HOST_DIR:{} ...`), and connect to the path this side sees",
            Path::new(path).parent().map_or_else(|| "/".to_owned(), |p| p.display().to_string())
        ))
        .suggest(format!(
            "as root it is reached through the process's own root: `sudo ls -l {through_root}` shows it, and a client run as root may connect to unix://{through_root} (the pid changes when the service restarts)"
        )),
        (Some(FileSeen::Deleted), _) => Finding::new(
            Cause::SocketMissing,
            format!(
                "{path} does not exist, but {owner} still listens on a socket bound to it: the file was deleted after it started, and nothing reaches the socket through the path any more"
            ),
        )
        .suggest(format!(
            "restart {owner} so that it binds {path} again"
        ))
        .suggest("find what deleted the file: a cleanup of its directory (`systemd-tmpfiles`, a cron job), or a second instance of the service that removed it on exit"),
        _ => Finding::new(
            Cause::SocketMissing,
            format!(
                "{path} does not exist here, but {owner} listens on a socket bound to that path: its file is in that process's own file system (a container's), or was deleted after it started"
            ),
        )
        .suggest(format!(
            "as root, `sudo ls -l /proc/{}/root{path}` tells which: a socket there is in its own file system (share the folder with a bind mount or a volume); nothing there, it was deleted (restart the service)",
            hidden.pid.map_or_else(|| "PID".to_owned(), |pid| pid.to_string())
        )),
    }
}
