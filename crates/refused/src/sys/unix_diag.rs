//! Listening unix sockets of this network namespace through netlink `sock_diag`, with the file
//! each is bound to (`UNIX_DIAG_VFS`: the file's inode and device).
//!
//! `/proc/net/unix` shows a listener's path and its socket inode, not which file it is bound
//! to, so it cannot tell a server still bound to a deleted or replaced file from one bound to the
//! file at that path now. The socket inode there is the socket's own (sockfs), not the `st_ino`
//! of the file, so matching the two never works; the file's identity comes only from here.

use std::ffi::OsString;
use std::fs::Metadata;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use netlink_packet_core::{Emitable, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_sock_diag::SockDiagMessage;

use super::sock_diag;
use netlink_packet_sock_diag::unix::nlas::{Nla, UnixDiagName, Vfs};
use netlink_packet_sock_diag::unix::{ShowFlags, StateFlags, UnixRequest, UnixResponse};

/// Which file: device and inode, as `stat` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FileId {
    /// `st_dev`.
    pub device: u64,
    /// The low 32 bits of `st_ino` (all that `sock_diag` reports).
    pub inode: u32,
}

impl FileId {
    /// The file `metadata` describes.
    pub fn of(metadata: &Metadata) -> Self {
        Self {
            device: metadata.dev(),
            // The kernel's `udiag_vfs_ino` is 32 bits wide: compare what it can hold.
            #[expect(clippy::cast_possible_truncation, reason = "sock_diag keeps 32 bits")]
            inode: metadata.ino() as u32,
        }
    }

    /// From `UNIX_DIAG_VFS`, whose device is the kernel's own `dev_t` (major in the top 12
    /// bits, minor in the low 20), not the encoding `stat` returns.
    fn from_kernel(device: u32, inode: u32) -> Self {
        Self {
            device: libc::makedev(device >> 20, device & 0xf_ffff),
            inode,
        }
    }
}

/// A unix socket that listens, with the file it is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundListener {
    /// The socket's own inode (as in `/proc/net/unix` and `/proc/PID/fd`).
    pub inode: u64,
    /// The path it was bound with (`None` for an abstract or unnamed socket).
    pub path: Option<PathBuf>,
    /// The file it is bound to, if it is bound to one.
    pub file: Option<FileId>,
}

impl BoundListener {
    /// Whether it listens on the file `file` at `path`. The inode must match; the device
    /// must too, or the path must be the one it was bound with (overlayfs gives `stat` the
    /// device of the layer below, the kernel here the overlay's).
    pub fn listens_on(&self, file: FileId, path: &Path, canonical: Option<&Path>) -> bool {
        self.file.is_some_and(|own| {
            own.inode == file.inode && (own.device == file.device || self.has_path(path, canonical))
        })
    }

    /// Whether it was bound with this path (as given or as canonicalized).
    pub fn has_path(&self, path: &Path, canonical: Option<&Path>) -> bool {
        self.path
            .as_deref()
            .is_some_and(|own| own == path || Some(own) == canonical)
    }
}

/// The listening unix sockets of this network namespace.
pub fn unix_listeners() -> io::Result<Vec<BoundListener>> {
    unix_sockets(StateFlags::LISTEN)
}

/// Whether any unix socket of this namespace, listening or not yet, is bound to the file `file`
/// at `path`. None is: the file is stale for good, since no socket can bind to a file that
/// exists (a server that starts again removes it and binds anew, a new file); one is: it may
/// call `listen()` at any moment, and nothing on the file system would tell.
pub fn is_file_bound(file: FileId, path: &Path) -> io::Result<bool> {
    // Every state: the crate names only LISTEN and ESTABLISHED, and a socket bound and not yet
    // listening is in TCP_CLOSE.
    Ok(unix_sockets(StateFlags::from_bits_retain(u32::MAX))?
        .iter()
        .any(|socket| socket.listens_on(file, path, None)))
}

fn unix_sockets(states: StateFlags) -> io::Result<Vec<BoundListener>> {
    let socket = sock_diag::open()?;
    let request = SockDiagMessage::UnixRequest(UnixRequest {
        state_flags: states,
        inode: 0,
        show_flags: ShowFlags::NAME | ShowFlags::VFS,
        cookie: [0; 8],
    });
    let answers = sock_diag::exchange(&socket, request, NLM_F_REQUEST | NLM_F_DUMP)?;
    Ok(answers
        .iter()
        .filter_map(|answer| match answer {
            SockDiagMessage::UnixResponse(response) => Some(listener(response)),
            _ => None,
        })
        .collect())
}

fn listener(response: &UnixResponse) -> BoundListener {
    let path = match response.name() {
        Some(UnixDiagName::Pathname(path)) => Some(PathBuf::from(OsString::clone(path))),
        _ => None,
    };
    let file = response.nlas.iter().find_map(|nla| match nla {
        Nla::Vfs(vfs) => Some(vfs_file(vfs)),
        _ => None,
    });
    BoundListener {
        inode: u64::from(response.header.inode),
        path,
        file,
    }
}

/// The crate keeps `Vfs`'s fields private; its wire form (two native-endian `u32`s, inode
/// then device: `struct unix_diag_vfs`) is public through `Emitable`.
fn vfs_file(vfs: &Vfs) -> FileId {
    let mut raw = [0u8; 8];
    if vfs.buffer_len() == raw.len() {
        vfs.emit(&mut raw);
    }
    let [i0, i1, i2, i3, d0, d1, d2, d3] = raw;
    FileId::from_kernel(
        u32::from_ne_bytes([d0, d1, d2, d3]),
        u32::from_ne_bytes([i0, i1, i2, i3]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_our_listener_by_the_file_it_is_bound_to_and_not_a_replacement() {
        let dir = refused_lab::Scratch::new("unix-diag");
        let path = dir.join("app.sock");
        let live = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let file = FileId::of(&std::fs::metadata(&path).unwrap());

        let listeners = unix_listeners().unwrap();
        let ours: Vec<&BoundListener> = listeners
            .iter()
            .filter(|l| l.listens_on(file, &path, None))
            .collect();
        assert_eq!(
            ours.len(),
            1,
            "{path:?} ({file:?}) not once among {listeners:?}"
        );
        assert_eq!(ours[0].path.as_deref(), Some(path.as_path()));
        // The kernel's device number, converted, is the one `stat` gives.
        assert_eq!(ours[0].file, Some(file));

        // The file replaced by another socket that does not listen: the server still listens
        // under the same name, but not on the file there now.
        std::fs::remove_file(&path).unwrap();
        let replacement = std::os::unix::net::UnixDatagram::bind(&path).unwrap();
        let now = FileId::of(&std::fs::metadata(&path).unwrap());
        assert_ne!(now, file);
        let listeners = unix_listeners().unwrap();
        assert!(!listeners.iter().any(|l| l.listens_on(now, &path, None)));
        assert!(listeners.iter().any(|l| l.has_path(&path, None)));
        // Bound, though not listening: the datagram socket holds the file.
        assert!(is_file_bound(now, &path).unwrap());
        drop(replacement);
        assert!(
            !is_file_bound(now, &path).unwrap(),
            "stale: nothing holds it"
        );
        drop(live);
    }
}
