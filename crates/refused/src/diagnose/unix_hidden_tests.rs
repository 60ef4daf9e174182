//! Rule tests of a unix socket path that does not exist while a socket bound to it listens
//! (`unix_hidden`): in its process's own file system, deleted, or not known (audit h31).

use super::*;
use crate::diagnose::evidence::{FileSeen, HiddenListener};

fn missing_with(file: Option<FileSeen>, pid: Option<u32>) -> Finding {
    let facts = UnixSocketFacts {
        listening_hidden: vec![HiddenListener {
            inode: 7,
            pid,
            process: pid.map(|_| "redis-server".to_owned()),
            netns: None,
            file,
        }],
        ..unix_facts(false, None)
    };
    let finding = unix_finding(Outcome::Other(Some(libc::ENOENT)), facts);
    assert_eq!(finding.cause, Cause::SocketMissing, "{finding:?}");
    assert!(!finding.summary.contains("not running"), "{finding:?}");
    finding
}

#[test]
fn a_socket_in_its_own_file_system_is_reached_through_its_root() {
    let finding = missing_with(Some(FileSeen::OwnFileSystem), Some(42));
    assert!(
        finding.summary.contains(
            "redis-server (pid 42) listens on a socket at that path in its own file system"
        ),
        "{finding:?}"
    );
    assert!(finding.suggestions[0].contains("volume"), "{finding:?}");
    assert!(
        finding.suggestions[1].contains("unix:///proc/42/root/run/app.sock"),
        "{finding:?}"
    );
}

#[test]
fn a_socket_whose_file_was_deleted_wants_a_restart() {
    let finding = missing_with(Some(FileSeen::Deleted), Some(42));
    assert!(
        finding
            .summary
            .contains("the file was deleted after it started"),
        "{finding:?}"
    );
    assert!(
        finding.suggestions[0].starts_with("restart redis-server (pid 42)"),
        "{finding:?}"
    );
}

#[test]
fn without_root_both_are_said_with_how_to_tell() {
    let finding = missing_with(None, None);
    assert!(
        finding
            .summary
            .contains("a process listens on a socket bound to that path"),
        "{finding:?}"
    );
    assert!(
        finding.suggestions[0].contains("/proc/PID/root/run/app.sock"),
        "{finding:?}"
    );
}
