//! What is at a unix socket path: the file's type, mode and owner, or the directory on the way
//! that this user may not search (then the kernel hides whether the path exists at all). Symbolic
//! links are followed as the kernel follows them for a connect.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

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

    /// Whether the file's group makes its members administrators (`is_admin_group`).
    pub fn has_admin_group(&self) -> bool {
        is_admin_group(self.gid, self.group.as_deref())
    }
}

/// Whether a group makes its members administrators (gid 0, `root`, `sudo`, `wheel`, `admin`,
/// `adm`): joining it to reach one file gives far more than the file, so it is never the fix.
pub fn is_admin_group(gid: u32, name: Option<&str>) -> bool {
    gid == 0 || name.is_some_and(|g| matches!(g, "root" | "sudo" | "wheel" | "admin" | "adm"))
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
    /// The symbolic link whose target leads into the directory (the last one followed before
    /// it), when the walk followed one: the directory is then not on the path as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub through_link: Option<PathBuf>,
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

/// Links a walk follows at most, as the kernel's (`ELOOP` past 40).
const MAX_LINKS: usize = 40;

/// The directory on the way to `path` that may not be searched, with the link that led into it.
fn closed_directory(path: &Path) -> Option<ClosedDirectory> {
    let start = if path.is_absolute() {
        PathBuf::from("/")
    } else {
        std::env::current_dir().ok()?
    };
    let (dir, through_link) = denied_in(path, start, |part| match fs::symlink_metadata(part) {
        Ok(metadata) if metadata.file_type().is_symlink() => {
            fs::read_link(part).map_or(Step::Unknown, Step::Link)
        }
        Ok(_) => Step::Found,
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => Step::Denied,
        Err(_) => Step::Unknown,
    })?;
    let metadata = fs::metadata(&dir).ok()?;
    Some(ClosedDirectory {
        path: dir,
        mode: Mode::from_st_mode(metadata.mode()),
        owner: Owner::of(&metadata),
        through_link,
    })
}

/// What a walk finds at one part of a path (`lstat`, and `readlink` for a link).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    /// Something that is not a link: a directory to go on in, or the end.
    Found,
    /// A symbolic link, and its target as written.
    Link(PathBuf),
    /// `EACCES`: the directory it is in may not be searched.
    Denied,
    /// Missing, or not readable for another reason: the walk stops without an answer.
    Unknown,
}

/// Walks `path` as the kernel does for a connect: one part at a time from `start`, a symbolic
/// link's target read in its place (from `/` when absolute, else from the link's directory),
/// `..` from the directory reached. The directory whose part `look` finds denied, and the last
/// link followed before it.
fn denied_in(
    path: &Path,
    start: PathBuf,
    look: impl Fn(&Path) -> Step,
) -> Option<(PathBuf, Option<PathBuf>)> {
    let mut dir = start;
    let mut parts = parts_of(path);
    let (mut link, mut links) = (None, 0);
    while let Some(part) = parts.pop_front() {
        if part == ".." {
            dir.pop();
            continue;
        }
        let next = dir.join(&part);
        match look(&next) {
            Step::Found => dir = next,
            Step::Link(target) => {
                links += 1;
                if links > MAX_LINKS {
                    return None;
                }
                if target.is_absolute() {
                    dir = PathBuf::from("/");
                }
                for part in parts_of(&target).into_iter().rev() {
                    parts.push_front(part);
                }
                link = Some(next);
            }
            Step::Denied => return Some((dir, link)),
            Step::Unknown => return None,
        }
    }
    None
}

/// The names and `..` of a path, in order (`/` and `.` say nothing to a walk).
fn parts_of(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|part| match part {
            Component::Normal(name) => Some(name.to_owned()),
            Component::ParentDir => Some("..".into()),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// Where `path` leads when it is itself a symbolic link: the file at the end of its links
/// (which may not exist: a dangling link names what is missing). `None` for a path that is not
/// a link (a link among its directories, as `/var/run`, changes no file's name that matters:
/// removing or replacing the path acts on the file itself).
pub fn link_target(path: &Path) -> Option<PathBuf> {
    if !fs::symlink_metadata(path).ok()?.file_type().is_symlink() {
        return None;
    }
    if let Ok(real) = fs::canonicalize(path) {
        return Some(real);
    }
    // Dangling: follow the links by hand, to the first name that is not one (its directory
    // resolved where it exists, so that `../app.sock` reads as a path).
    let mut at = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let target = fs::read_link(&at).ok()?;
        let joined = match at.parent() {
            Some(dir) if target.is_relative() => dir.join(target),
            _ => target,
        };
        at = match (joined.parent().map(fs::canonicalize), joined.file_name()) {
            (Some(Ok(dir)), Some(name)) => dir.join(name),
            _ => joined,
        };
        if !fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
            return Some(at);
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

    /// A walk follows links as the kernel does: the closed directory is the link target's
    /// (`/srv/private`), not the link's own (`/srv/pub`, which anyone may search), whether the
    /// link is absolute, relative, or a directory's on the way.
    #[test]
    fn a_walk_follows_links_to_the_directory_that_stops_it() {
        let look = |part: &Path| match part.to_str().unwrap() {
            "/srv/pub/abs.sock" => Step::Link("/srv/private/app.sock".into()),
            "/srv/pub/rel.sock" => Step::Link("../private/app.sock".into()),
            "/srv/pub/dir" => Step::Link("../private".into()),
            "/srv/pub/loop" => Step::Link("loop".into()),
            "/srv/private/app.sock" => Step::Denied,
            "/srv/gone/x" => Step::Unknown,
            _ => Step::Found,
        };
        let walk = |path: &str| denied_in(Path::new(path), PathBuf::from("/"), look);
        for (path, link) in [
            ("/srv/pub/abs.sock", "/srv/pub/abs.sock"),
            ("/srv/pub/rel.sock", "/srv/pub/rel.sock"),
            ("/srv/pub/dir/app.sock", "/srv/pub/dir"),
        ] {
            assert_eq!(
                walk(path),
                Some((PathBuf::from("/srv/private"), Some(PathBuf::from(link)))),
                "{path}"
            );
        }
        assert_eq!(
            walk("/srv/pub/../private/app.sock"),
            Some((PathBuf::from("/srv/private"), None))
        );
        assert_eq!(walk("/srv/pub/open.sock"), None);
        assert_eq!(walk("/srv/gone/x"), None);
        assert_eq!(walk("/srv/pub/loop"), None);
    }

    #[test]
    fn a_link_leads_to_the_file_at_the_end_of_its_links() {
        let dir = std::env::temp_dir().join(format!("refused-links-{}", std::process::id()));
        fs::create_dir_all(dir.join("real")).unwrap();
        let real = fs::canonicalize(dir.join("real")).unwrap();
        fs::write(real.join("app.sock"), "").unwrap();
        let link = |name: &str, to: &str| {
            let at = dir.join(name);
            std::os::unix::fs::symlink(to, &at).unwrap();
            at
        };
        let to_file = link("file.sock", "real/app.sock");
        let chained = link("chained.sock", "file.sock");
        let dangling = link("gone.sock", "real/../real/gone.sock");
        assert_eq!(link_target(&to_file), Some(real.join("app.sock")));
        assert_eq!(link_target(&chained), Some(real.join("app.sock")));
        assert_eq!(link_target(&dangling), Some(real.join("gone.sock")));
        assert_eq!(link_target(&real.join("app.sock")), None);
        fs::remove_dir_all(&dir).unwrap();
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
