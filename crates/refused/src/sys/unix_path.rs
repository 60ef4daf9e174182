//! What is at a unix socket path: the file's type, mode and owner, or the directory on the way
//! that this user may not search (then the kernel hides whether the path exists at all).

use std::fmt;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

/// What kind of file a path names. JSON and the report show [`FileType::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    /// A unix socket file: the only kind a connect can reach.
    Socket,
    /// A directory.
    Directory,
    /// A named pipe (`mkfifo`).
    Fifo,
    /// A regular file.
    RegularFile,
    /// A device or anything else.
    Special,
}

impl FileType {
    /// The type of what `metadata` describes (a symbolic link is followed by `fs::metadata`).
    pub fn of(metadata: &Metadata) -> Self {
        let t = metadata.file_type();
        if t.is_socket() {
            Self::Socket
        } else if t.is_dir() {
            Self::Directory
        } else if t.is_fifo() {
            Self::Fifo
        } else if t.is_file() {
            Self::RegularFile
        } else {
            Self::Special
        }
    }

    /// `socket`, `directory`, `fifo`, `regular file` or `special file`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Socket => "socket",
            Self::Directory => "directory",
            Self::Fifo => "fifo",
            Self::RegularFile => "regular file",
            Self::Special => "special file",
        }
    }
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for FileType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The permission bits of a file (`st_mode & 0o7777`); shown and serialized in octal (`0660`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Mode(u32);

/// Whom a permission bit is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The file's owner.
    Owner,
    /// Members of the file's group.
    Group,
    /// Everyone else.
    Others,
}

/// One permission: on a socket, write is what a connect needs; on a directory, search (the `x`
/// bit) is what reaching anything inside needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// `r`.
    Read,
    /// `w`.
    Write,
    /// `x`: search, for a directory.
    Search,
}

impl Mode {
    /// The permission bits of `st_mode` (the file type bits are dropped).
    pub const fn from_st_mode(st_mode: u32) -> Self {
        Self(st_mode & 0o7777)
    }

    /// The bits, `0o0660`.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether the mode grants `permission` to `class`.
    pub const fn grants(self, class: Class, permission: Permission) -> bool {
        let shift = match class {
            Class::Owner => 6,
            Class::Group => 3,
            Class::Others => 0,
        };
        let bit = match permission {
            Permission::Read => 4,
            Permission::Write => 2,
            Permission::Search => 1,
        };
        self.0 & (bit << shift) != 0
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

impl Serialize for Mode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The owner of a file, with names where `/etc/passwd` and `/etc/group` have them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Owner {
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// The owner's user name.
    pub user: Option<String>,
    /// The group's name.
    pub group: Option<String>,
}

impl Owner {
    /// The owner of what `metadata` describes.
    pub fn of(metadata: &Metadata) -> Self {
        Self {
            uid: metadata.uid(),
            gid: metadata.gid(),
            user: super::host::account_name("/etc/passwd", metadata.uid()),
            group: super::host::account_name("/etc/group", metadata.gid()),
        }
    }

    /// The user's name, else its uid.
    pub fn user_name(&self) -> String {
        self.user.clone().unwrap_or_else(|| self.uid.to_string())
    }

    /// The group's name, else its gid.
    pub fn group_name(&self) -> String {
        self.group.clone().unwrap_or_else(|| self.gid.to_string())
    }
}

/// A directory that this user may not search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClosedDirectory {
    /// The directory.
    pub path: PathBuf,
    /// Its permission bits.
    pub mode: Mode,
    /// Its owner.
    #[serde(flatten)]
    pub owner: Owner,
}

/// What `stat` found at a path.
#[derive(Debug)]
pub enum Lookup {
    /// Something is there.
    Found(Metadata),
    /// Nothing is there (or a part of the path is not a directory).
    Missing,
    /// A directory on the way may not be searched by this user (`EACCES`): whether anything is
    /// there cannot be told. The directory, when the walk down the path found it.
    Hidden(Option<ClosedDirectory>),
}

/// Looks at `path` (following symbolic links, as a connect does).
pub fn lookup(path: &Path) -> Lookup {
    match fs::metadata(path) {
        Ok(metadata) => Lookup::Found(metadata),
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
            Lookup::Hidden(closed_directory(path))
        }
        Err(_) => Lookup::Missing,
    }
}

/// The directory on the way to `path` that may not be searched: walking down from `/`, the
/// parent of the first part whose `stat` is denied (its parent could be looked at, its inside
/// could not).
fn closed_directory(path: &Path) -> Option<ClosedDirectory> {
    let mut parts: Vec<&Path> = path.ancestors().collect();
    parts.reverse();
    for pair in parts.windows(2) {
        let [parent, child] = pair else { continue };
        match fs::metadata(child) {
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::PermissionDenied => {
                let metadata = fs::metadata(parent).ok()?;
                return Some(ClosedDirectory {
                    path: parent.to_path_buf(),
                    mode: Mode::from_st_mode(metadata.mode()),
                    owner: Owner::of(&metadata),
                });
            }
            Err(_) => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_show_in_octal_and_grant_by_class() {
        let mode = Mode::from_st_mode(0o140_660);
        assert_eq!(mode.bits(), 0o660);
        assert_eq!(mode.to_string(), "0660");
        assert_eq!(serde_json::to_value(mode).unwrap(), "0660");
        assert!(mode.grants(Class::Group, Permission::Write));
        assert!(!mode.grants(Class::Others, Permission::Write));
        let dir = Mode::from_st_mode(0o040_750);
        assert!(dir.grants(Class::Group, Permission::Search));
        assert!(!dir.grants(Class::Others, Permission::Search));
        assert!(dir.grants(Class::Owner, Permission::Read));
        assert_eq!(Mode::from_st_mode(0o4755).to_string(), "4755");
    }

    #[test]
    fn file_types_keep_their_json_names() {
        let names: Vec<serde_json::Value> = [
            FileType::Socket,
            FileType::Directory,
            FileType::Fifo,
            FileType::RegularFile,
            FileType::Special,
        ]
        .iter()
        .map(|t| serde_json::to_value(t).unwrap())
        .collect();
        assert_eq!(
            names,
            [
                "socket",
                "directory",
                "fifo",
                "regular file",
                "special file"
            ]
        );
    }

    #[test]
    fn looks_up_what_is_there() {
        let dir = std::env::temp_dir();
        let Lookup::Found(found) = lookup(&dir) else {
            panic!("{} not found", dir.display());
        };
        assert_eq!(FileType::of(&found), FileType::Directory);
        assert!(matches!(
            lookup(&dir.join(format!("refused-none-{}", std::process::id()))),
            Lookup::Missing
        ));
    }
}
