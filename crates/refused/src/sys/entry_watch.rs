//! Waiting, at no cost, for a name in a directory to change: inotify on the directory, read
//! through tokio's reactor (`AsyncFd`), so a wait sleeps in `epoll` until the kernel has news.
//!
//! The directory is watched, not the file: a socket that does not exist yet has no inode to
//! watch, and a server that starts again replaces its socket file (it removes the old one and
//! binds anew), which only the directory sees. Events name the entry they are about, so a busy
//! directory (`/run`, `/tmp`) wakes nobody for its other files.

use std::ffi::{OsStr, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::inotify::{self, CreateFlags, ReadFlags, WatchFlags};
use tokio::io::unix::AsyncFd;

/// What changes an entry: created (`bind()` makes a socket file), removed, renamed in or out
/// (a socket bound elsewhere and moved into place), and the directory itself going.
const CHANGES: WatchFlags = WatchFlags::CREATE
    .union(WatchFlags::DELETE)
    .union(WatchFlags::MOVED_FROM)
    .union(WatchFlags::MOVED_TO)
    .union(WatchFlags::DELETE_SELF)
    .union(WatchFlags::MOVE_SELF)
    .union(WatchFlags::ONLYDIR);

/// A watch on one entry of one directory.
#[derive(Debug)]
pub struct EntryWatch {
    fd: AsyncFd<OwnedFd>,
    name: OsString,
}

impl EntryWatch {
    /// Watches the entry `name` of the directory `dir`. Must be called within a tokio runtime
    /// (the descriptor is registered with its reactor). Fails if `dir` is not a directory, or
    /// inotify is not available (no more watches or instances allowed: `ENOSPC`, `EMFILE`).
    pub fn new(dir: &Path, name: &OsStr) -> io::Result<Self> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
        inotify::add_watch(&fd, dir, CHANGES)?;
        Ok(Self {
            fd: super::register(fd)?,
            name: name.to_owned(),
        })
    }

    /// Watches the entry of `path` that exists or comes next: the path's own name in its
    /// directory, or, when that directory does not exist yet, the missing directory's name in
    /// the nearest one that does (its creation is the first step towards the path).
    pub fn nearest(path: &Path) -> io::Result<Self> {
        let mut entry = path;
        loop {
            let (Some(dir), Some(name)) = (entry.parent(), entry.file_name()) else {
                return Err(io::ErrorKind::NotFound.into());
            };
            // `.` for a bare name: the working directory.
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            match Self::new(dir, name) {
                Err(err) if matches!(err.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                    entry = dir;
                }
                other => return other,
            }
        }
    }

    /// The entry watched in its directory.
    #[cfg(test)]
    fn name(&self) -> &OsStr {
        &self.name
    }

    /// Returns when the entry changed (or the directory went, or events were lost): whatever
    /// waits for the entry looks again. Events about other entries are read and dropped.
    pub async fn changed(&mut self) -> io::Result<()> {
        loop {
            let mut ready = self.fd.readable().await?;
            match self.drain() {
                Ok(true) => return Ok(()),
                Ok(false) => ready.clear_ready(),
                Err(err) => return Err(err),
            }
        }
    }

    /// Reads every queued event; whether one was about the entry (or the directory itself).
    fn drain(&self) -> io::Result<bool> {
        let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(self.fd.get_ref(), &mut buf);
        let mut ours = false;
        loop {
            let event = match reader.next() {
                Ok(event) => event,
                Err(rustix::io::Errno::AGAIN) => return Ok(ours),
                Err(err) => return Err(err.into()),
            };
            ours |= match event.file_name() {
                Some(name) => OsStr::from_bytes(name.to_bytes()) == self.name,
                // No name: about the directory itself (removed, moved, unmounted: the watch
                // is gone), or the queue overflowed and events were lost.
                None => event.events().intersects(
                    ReadFlags::DELETE_SELF
                        | ReadFlags::MOVE_SELF
                        | ReadFlags::IGNORED
                        | ReadFlags::UNMOUNT
                        | ReadFlags::QUEUE_OVERFLOW,
                ),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use refused_lab::Scratch;

    /// Other entries of the directory wake nobody; the entry's creation does.
    /// A wait that would never end fails the test instead.
    async fn changed(watch: &mut EntryWatch) {
        tokio::time::timeout(std::time::Duration::from_secs(10), watch.changed())
            .await
            .expect("no event within 10 s")
            .unwrap();
    }

    #[tokio::test]
    async fn wakes_for_its_entry_only() {
        let dir = Scratch::new("entry-watch");
        let path = dir.join("app.sock");
        let mut watch = EntryWatch::nearest(&path).unwrap();
        assert_eq!(watch.name(), "app.sock");
        std::fs::write(dir.join("other"), "").unwrap();
        assert!(!watch.drain().unwrap(), "another entry is not news");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        changed(&mut watch).await;
    }

    /// A path under directories that do not exist yet: the nearest one is watched, for the
    /// first missing one's name.
    #[tokio::test]
    async fn watches_the_nearest_directory_that_exists() {
        let dir = Scratch::new("entry-watch-nearest");
        let path = dir.join("run/app/app.sock");
        let mut watch = EntryWatch::nearest(&path).unwrap();
        assert_eq!(watch.name(), "run");
        std::fs::create_dir_all(dir.join("run/app")).unwrap();
        changed(&mut watch).await;
        let mut watch = EntryWatch::nearest(&path).unwrap();
        assert_eq!(watch.name(), "app.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        changed(&mut watch).await;
    }
}
