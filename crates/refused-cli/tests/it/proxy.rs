//! A port proxy with nothing behind it (socat, as docker-proxy is when its container is down):
//! it accepts every connection and closes it at once. `why`, `check` and `wait` must agree that
//! the service is not ready, whatever the moment of the close.

use std::net::SocketAddr;
use std::process::{Child, Command};

use refused_lab::socket::RefusedPort;

use crate::common::{free_port, refused, started_on};

/// `socat` listening on a loopback port and forwarding to a port that refuses.
struct DeadProxy {
    child: Child,
    addr: SocketAddr,
    _backend: RefusedPort,
}

impl DeadProxy {
    fn start(test: &str) -> Option<Self> {
        if Command::new("socat").arg("-V").output().is_err() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: socat is missing (apt-get install socat)"
            );
            eprintln!("skipping {test}: socat is not installed (apt-get install socat)");
            return None;
        }
        let backend = RefusedPort::v4().unwrap();
        let addr = free_port();
        let child = started_on(
            Command::new("socat")
                .arg(format!(
                    "TCP-LISTEN:{},bind=127.0.0.1,reuseaddr,fork",
                    addr.port()
                ))
                .arg(format!("TCP:{}", backend.addr())),
            addr,
        );
        Some(Self {
            child,
            addr,
            _backend: backend,
        })
    }
}

impl Drop for DeadProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn why_says_not_ready_and_names_the_proxy() {
    let Some(proxy) = DeadProxy::start("why_says_not_ready_and_names_the_proxy") else {
        return;
    };
    let output = refused()
        .args(["why", "--json", &proxy.addr.to_string()])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["cause"], "not-ready", "{report}");
    assert_eq!(output.status.code(), Some(1));
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains("closed right after it was accepted"),
        "{summary}"
    );
    let holder = report["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "listener")
        .unwrap_or_else(|| panic!("no listener in {report}"));
    assert_eq!(holder["process"], "socat", "{report}");
    assert_eq!(holder["port"], proxy.addr.port());
}

#[test]
fn check_and_wait_agree_with_why() {
    let Some(proxy) = DeadProxy::start("check_and_wait_agree_with_why") else {
        return;
    };
    let target = proxy.addr.to_string();
    // socat closes from a child it forks after the accept: on a loaded machine that can take
    // longer than the default 5 ms settle, which this test is not about.
    let output = refused()
        .args(["check", "--json", "--settle", "100ms", &target])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let line: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(line["reason"], "not-ready", "{line}");

    let output = refused()
        .args(["wait", "--timeout", "700ms", "--settle", "100ms", &target])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{output:?}");
}
