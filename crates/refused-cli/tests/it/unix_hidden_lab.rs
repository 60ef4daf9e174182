//! A unix socket path that does not exist here while a socket bound to that very path listens:
//! its file is in another mount namespace (a container's file system), or was deleted after the
//! socket was bound. Both read as "the service is not running".

use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use refused_lab::{Lab, Scratch, Tool, require};
use serde_json::Value;

/// `refused why --json PATH`, validated against the schema.
fn why(path: &Path) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_refused"))
        .args(["why", "--json"])
        .arg(format!("unix://{}", path.display()))
        .env_remove("REFUSED_TIMEOUT")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|err| {
        panic!(
            "{err}: {stdout:?} {:?}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    crate::schema::assert_valid(crate::schema::Schema::Why, &report);
    assert_eq!(output.status.code(), Some(1), "{report}");
    report
}

fn hidden(report: &Value) -> &Value {
    let unix = report["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "unix-socket")
        .unwrap_or_else(|| panic!("no unix-socket evidence: {report}"));
    &unix["listening_hidden"][0]
}

/// A server's socket file deleted under it (a cleanup of `/tmp`): it still listens, bound to
/// the path, and nothing reaches it there. It read as "the service is not running".
#[test]
fn a_socket_whose_file_was_deleted_is_said_to_listen_still() {
    let scratch = Scratch::new("hidden-deleted");
    let path = scratch.join("app.sock");
    let server = UnixListener::bind(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let report = why(&path);
    drop(server);
    assert_eq!(report["cause"], "socket-missing", "{report}");
    let listener = hidden(&report);
    assert_eq!(listener["pid"], std::process::id(), "{report}");
    assert_eq!(listener["file"], "deleted", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("still listens on a socket bound to it"),
        "{report}"
    );
    assert!(
        report["suggestions"][0]
            .as_str()
            .unwrap()
            .starts_with("restart "),
        "{report}"
    );
}

/// Ends the child when dropped, panic or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether a socket bound to `path` listens in this network namespace.
fn listens(path: &Path) -> bool {
    std::fs::read_to_string("/proc/net/unix")
        .unwrap()
        .lines()
        .any(|line| line.ends_with(&format!(" {}", path.display())))
}

/// A server in a mount namespace of its own (a container's file system, as nspawn's or LXC's
/// without a shared folder): its socket's folder is a tmpfs there, empty here. It read as "the
/// service is not running"; it is named with the process, and the path through its root (which
/// root may connect to) is checked to work.
#[test]
fn a_socket_in_another_mount_namespace_is_found_there() {
    let test = "a_socket_in_another_mount_namespace_is_found_there";
    if !Lab::root_or_skip(test) || !require(test, &[Tool::RedisServer]) {
        return;
    }
    let scratch = Scratch::new("hidden-mount-ns");
    let folder = scratch.join("run");
    std::fs::create_dir(&folder).unwrap();
    let path = folder.join("redis.sock");
    let server = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs none "$1" && shift && exec "$@""#)
        .arg("sh")
        .arg(&folder)
        .args([
            "redis-server",
            "--port",
            "0",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--unixsocket")
        .arg(&path)
        .arg("--dir")
        .arg(scratch.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = server.id();
    let _server = Killed(server);
    let started = Instant::now();
    while !listens(&path) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "redis-server did not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!path.exists());
    let report = why(&path);
    assert_eq!(report["cause"], "socket-missing", "{report}");
    let listener = hidden(&report);
    assert_eq!(listener["pid"], pid, "{report}");
    assert_eq!(listener["process"], "redis-server", "{report}");
    assert_eq!(listener["file"], "own-file-system", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("in its own file system"),
        "{report}"
    );
    let through_root = format!("/proc/{pid}/root{}", path.display());
    assert!(
        crate::why_lab::suggests(&report, &format!("unix://{through_root}")),
        "{report}"
    );
    let check = Command::new(env!("CARGO_BIN_EXE_refused"))
        .args(["check", &format!("unix://{through_root}")])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(0), "{check:?}");
}
