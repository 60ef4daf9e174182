//! `refused why` against a real server that is stopped (SIGSTOP, or Ctrl-Z in its terminal):
//! the kernel still completes handshakes into its accept queue, so connects succeed and nothing
//! answers, then, once the queue is full, connects time out. Waiting, or a larger backlog, which
//! the reports said, changes nothing: it must be resumed.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use refused_lab::{Lab, Tool};

use crate::why_lab::{REFUSED, cause, evidence, why};

/// The lab's client namespace's redis-server, killed (and first resumed) when dropped.
struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        signal(self.0.id(), "CONT");
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(pid: u32, name: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{name} {pid}");
}

#[test]
fn a_stopped_server_is_said_to_be_stopped_and_resumed() {
    let Some(lab) = Lab::or_skip_needing(
        "a_stopped_server_is_said_to_be_stopped_and_resumed",
        &[Tool::RedisServer],
    ) else {
        return;
    };
    let port = 43_985;
    let target = format!("redis://127.0.0.1:{port}");
    let child = lab
        .client
        .command("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--tcp-backlog", "2", "--save", "", "--appendonly", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let redis = Redis(child);
    let ready = lab
        .client
        .command(REFUSED)
        .args(["wait", "--quiet", "--timeout", "10s", &target])
        .status()
        .unwrap();
    assert!(ready.success(), "redis-server did not get ready");
    let pid = redis.0.id();
    signal(pid, "STOP");

    // Its queue has room: the connect works, PING gets no answer.
    let report = why(&lab, &["--timeout", "3s", &target]);
    assert_eq!(cause(&report), "not-ready", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(summary.contains("is stopped (state `T`"), "{summary}");
    let fixes = report["suggestions"].to_string();
    assert!(fixes.contains(&format!("`kill -CONT {pid}`")), "{report}");
    assert!(!fixes.contains("wait for it"), "{report}");
    let listener = evidence(&report, "listener")[0];
    assert_eq!(listener["stopped"], "signal", "{report}");
    assert_eq!(listener["pid"], pid, "{report}");

    // Filled past its backlog of 2: connects time out.
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let _waiting = lab
        .client
        .run(|| {
            (0..4)
                .filter_map(|_| TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok())
                .collect::<Vec<_>>()
        })
        .unwrap();
    let report = why(&lab, &["--timeout", "3s", &target]);
    assert_eq!(cause(&report), "listen-queue-full", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(summary.contains("is stopped (state `T`"), "{summary}");
    let fixes = report["suggestions"].to_string();
    assert!(fixes.contains(&format!("`kill -CONT {pid}`")), "{report}");
    assert!(!fixes.contains("backlog and"), "{report}");
}
