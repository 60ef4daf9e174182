//! Fresh directories for tests, removed when dropped.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A fresh directory under the temp dir, named after its test, this process and a counter (so
/// tests run in one process, or in parallel processes, never share one), that any user may
/// search (a test may run a command as `nobody` in it); removed with its contents on drop.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// Makes the directory (one left by an earlier run with the same name is removed first).
    ///
    /// # Panics
    /// If it cannot be made: a test cannot go on without it.
    pub fn new(name: &str) -> Self {
        Self::try_new(name).unwrap_or_else(|err| panic!("cannot make a scratch directory: {err}"))
    }

    /// [`Scratch::new`], returning the error.
    pub fn try_new(name: &str) -> io::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "refused-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)
            .and_then(|()| fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)))
            .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", dir.display())))?;
        Ok(Self(dir))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A path in it.
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }

    /// A file in it with `text`, written; its path.
    ///
    /// # Panics
    /// If it cannot be written.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.join(name);
        fs::write(&path, text)
            .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}
