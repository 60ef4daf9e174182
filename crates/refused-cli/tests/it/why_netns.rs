//! `refused why` finding listeners in the other namespaces of the host, as root (each namespace
//! entered, asked through `sock_diag`) and as an unprivileged user (`/proc/PID/net/tcp`, and named
//! namespaces with no process reported as not seen).

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use refused_lab::{Lab, ListenSpec};
use serde_json::Value;

use super::why_lab::{cause, diagnosis, evidence};

const REFUSED: &str = env!("CARGO_BIN_EXE_refused");
// Ports of these tests only: other tests' `why` look at every namespace of the host.
const IN_CONTAINER: u16 = 43_960;
const IN_NAMED: u16 = 43_961;
const HELD_FROM_OUTSIDE: u16 = 43_962;

/// A process in a namespace of its own, like a container's; killed when dropped.
struct Container(Child);

impl Container {
    /// `redis-server` on `0.0.0.0:PORT` in a new unnamed network namespace, once it listens.
    fn redis(port: u16) -> Self {
        let script = format!(
            "ip link set lo up && exec redis-server --port {port} --bind 0.0.0.0 --save '' --appendonly no"
        );
        let child = Command::new("unshare")
            .args(["--net", "--", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let container = Self(child);
        let listening = format!(":{port:04X} 00000000:0000 0A");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !std::fs::read_to_string(format!("/proc/{}/net/tcp", container.0.id()))
            .is_ok_and(|table| table.contains(&listening))
        {
            assert!(Instant::now() < deadline, "redis-server never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        container
    }

    fn netns_inode(&self) -> u64 {
        std::fs::metadata(format!("/proc/{}/ns/net", self.0.id()))
            .unwrap()
            .ino()
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn as_root(target: &str) -> Value {
    diagnosis(Command::new(REFUSED), &[target])
}

fn as_nobody(target: &str) -> Value {
    let mut command = Command::new("setpriv");
    command.args(["--reuid=65534", "--regid=65534", "--clear-groups", REFUSED]);
    diagnosis(command, &[target])
}

#[test]
fn listeners_in_other_namespaces_with_and_without_root() {
    let Some(lab) = Lab::or_skip("listeners_in_other_namespaces_with_and_without_root") else {
        return;
    };
    let container = Container::redis(IN_CONTAINER);
    // A named namespace with no process in it: the socket is this test's.
    let _named = lab
        .server
        .run(|| ListenSpec::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, IN_NAMED))).listen())
        .unwrap()
        .unwrap();
    let in_container = format!("127.0.0.1:{IN_CONTAINER}");
    let in_named = format!("127.0.0.1:{IN_NAMED}");

    // Root enters every namespace: named by inode, the backlog read by sock_diag.
    let report = as_root(&in_container);
    assert_eq!(cause(&report), "listener-in-other-namespace", "{report}");
    let listener = evidence(&report, "listener")[0];
    let netns = format!("net:[{}]", container.netns_inode());
    assert_eq!(listener["netns"], netns.as_str(), "{report}");
    assert_eq!(listener["pid"], container.0.id(), "{report}");
    assert_eq!(listener["process"], "redis-server", "{report}");
    assert_eq!(listener["backlog"], 511, "{report}");
    let report = as_root(&in_named);
    assert_eq!(cause(&report), "listener-in-other-namespace", "{report}");
    assert_eq!(
        evidence(&report, "listener")[0]["netns"],
        lab.server.name(),
        "{report}"
    );

    // Without root: the container through its process's /proc/PID/net/tcp (its namespace link
    // is not readable, so it is named by that process), the named namespace not seen.
    let report = as_nobody(&in_container);
    assert_eq!(cause(&report), "listener-in-other-namespace", "{report}");
    let listener = evidence(&report, "listener")[0];
    let by_process = format!("pid {}", container.0.id());
    assert_eq!(listener["netns"], by_process.as_str(), "{report}");
    assert_eq!(listener["pid"], container.0.id(), "{report}");
    assert_eq!(listener["backlog"], Value::Null, "{report}");
    let report = as_nobody(&in_named);
    assert_eq!(cause(&report), "no-listener", "{report}");
    let not_seen = format!("network namespace {}", lab.server.name());
    let unseen = report["unseen"].as_array().unwrap();
    assert!(
        unseen
            .iter()
            .any(|u| u["what"].as_str().unwrap().ends_with(&not_seen) && u["needs_root"] == true),
        "{report}"
    );
}

/// A socket made in an unnamed namespace by a process that then went back to its own (as some
/// daemons and this test do): `nsenter` through its holder entered the holder's namespace, not
/// the socket's. The namespace is entered through a process in it, named as such.
#[test]
fn a_listener_held_from_outside_its_namespace_is_entered_through_a_process_in_it() {
    let test = "a_listener_held_from_outside_its_namespace_is_entered_through_a_process_in_it";
    if !Lab::root_or_skip(test) {
        return;
    }
    let inside = Container(
        Command::new("unshare")
            .args(["--net", "--", "sleep", "60"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let ours = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(format!("/proc/{}/ns/net", inside.0.id()))
        .map(|m| m.ino())
        .is_ok_and(|ns| ns == ours)
    {
        assert!(
            Instant::now() < deadline,
            "unshare never made its namespace"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let there = std::fs::File::open(format!("/proc/{}/ns/net", inside.0.id())).unwrap();
    // A thread of ours enters it, listens (on every address: its `lo` is down) and ends.
    let _listener = std::thread::scope(|scope| {
        scope
            .spawn(|| {
                rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&there),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .unwrap();
                ListenSpec::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, HELD_FROM_OUTSIDE)))
                    .listen()
                    .unwrap()
            })
            .join()
            .unwrap()
    });
    let report = as_root(&format!("127.0.0.1:{HELD_FROM_OUTSIDE}"));
    assert_eq!(cause(&report), "listener-in-other-namespace", "{report}");
    let listener = evidence(&report, "listener")[0];
    assert_eq!(listener["pid"], std::process::id(), "{report}");
    assert_eq!(
        listener["netns"],
        format!("net:[{}]", inside.netns_inode()).as_str(),
        "{report}"
    );
    let enter = format!("nsenter -t {} -n", inside.0.id());
    assert!(
        super::why_lab::suggests(&report, &enter),
        "{enter}: {report}"
    );
}
