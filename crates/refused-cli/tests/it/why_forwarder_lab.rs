//! `refused why` to a port forwarder whose backend is down or silent (the real socat, in the
//! lab's client, forwarding to the server), asked in a protocol or as plain TCP: the backend is
//! the answer, read from socat's command line and tried, not "wait for it" nor "reachable".

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use refused_lab::{Lab, ListenSpec, SERVER_V4, Tool};
use serde_json::Value;

use crate::why_lab::{cause, first_evidence, suggests, why};

/// Whether socat can run; outside CI its absence is a skip, in CI a failure.
fn has_socat(test: &str) -> bool {
    if Command::new("socat").arg("-V").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: socat is missing (apt-get install socat)"
    );
    eprintln!("skipping {test}: socat is not installed (apt-get install socat)");
    false
}

/// socat in the lab's client on 127.0.0.1:`port`, forwarding each connection to the server's
/// `backend` port, as `socat TCP-LISTEN:9000,fork,reuseaddr,bind=127.0.0.1 TCP:HOST:PORT`.
fn forward(lab: &Lab, port: u16, backend: u16) {
    lab.client
        .spawn(
            "socat",
            &[
                &format!("TCP-LISTEN:{port},fork,reuseaddr,bind=127.0.0.1"),
                &format!("TCP:{SERVER_V4}:{backend}"),
            ],
        )
        .unwrap();
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let started = Instant::now();
    while lab
        .client
        .run(|| TcpStream::connect_timeout(&addr, Duration::from_millis(200)))
        .unwrap()
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "socat did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The report's `port-proxy` item: socat, sending to the server's `backend` port.
fn socat_sends_to(report: &Value, backend: u16) -> &Value {
    let proxy = first_evidence(report, "port-proxy");
    assert_eq!(proxy["process"], "socat", "{report}");
    assert_eq!(
        proxy["to"],
        format!("{SERVER_V4}:{backend}").as_str(),
        "{report}"
    );
    proxy
}

/// Checks that `report` is socat's backend, the server's `backend` port: `not-ready`, the
/// summary saying `said` of it, our connect there ending in `outcome`, and a fix that says
/// `fix`, not "wait for it".
fn is_the_backend(report: &Value, backend: u16, said: &str, outcome: &str, fix: &str) {
    assert_eq!(cause(report), "not-ready", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("forwards it to {SERVER_V4}:{backend}, {said}")),
        "{summary}"
    );
    assert_eq!(socat_sends_to(report, backend)["outcome"], outcome);
    assert!(suggests(report, fix), "{report}");
    assert!(!suggests(report, "wait for it"), "{report}");
}

#[test]
fn a_forwarder_whose_backend_refuses_is_its_backend_in_every_scheme() {
    let test = "a_forwarder_whose_backend_refuses_is_its_backend_in_every_scheme";
    let Some(lab) = Lab::or_skip(test) else {
        return;
    };
    if !has_socat(test) {
        return;
    }
    // Nothing listens on the server's 46641.
    forward(&lab, 46640, 46641);
    for target in [
        "http://127.0.0.1:46640/",
        "redis://127.0.0.1:46640",
        "127.0.0.1:46640",
    ] {
        let report = why(&lab, &[target]);
        is_the_backend(
            &report,
            46641,
            "which refuses connections (tried from here)",
            "refused",
            &format!("socat forwards port 46640 to {SERVER_V4}:46641, where nothing accepts"),
        );
    }
}

#[test]
fn a_forwarder_whose_backend_is_silent_says_it_does_not_answer() {
    let test = "a_forwarder_whose_backend_is_silent_says_it_does_not_answer";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Nft]) else {
        return;
    };
    if !has_socat(test) {
        return;
    }
    // The server drops what comes to its 46642: socat's own connect hangs, and so does ours.
    // Asked as plain TCP, socat holds our connection open meanwhile: the settle alone sees a
    // service.
    lab.server
        .filter("input", &["tcp dport 46642 drop"])
        .unwrap();
    forward(&lab, 46643, 46642);
    for target in [
        "http://127.0.0.1:46643/",
        "127.0.0.1:46643",
        "tcp://127.0.0.1:46643",
    ] {
        let report = why(&lab, &["--timeout", "4s", target]);
        is_the_backend(
            &report,
            46642,
            "which does not answer",
            "timeout",
            &format!("{SERVER_V4}:46642, which does not answer"),
        );
    }
}

#[test]
fn a_forwarder_whose_backend_accepts_stays_reachable_as_plain_tcp() {
    let test = "a_forwarder_whose_backend_accepts_stays_reachable_as_plain_tcp";
    let Some(lab) = Lab::or_skip(test) else {
        return;
    };
    if !has_socat(test) {
        return;
    }
    // A server that accepts and says nothing (the kernel completes the handshake): socat holds
    // ours open as it does for a silent backend, but its backend is there.
    let _backend = lab
        .server
        .run(|| ListenSpec::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 48302))).listen())
        .unwrap()
        .unwrap();
    forward(&lab, 48303, 48302);
    for target in ["127.0.0.1:48303", "tcp://127.0.0.1:48303"] {
        let report = why(&lab, &[target]);
        assert_eq!(cause(&report), "reachable", "{target}: {report}");
        assert!(
            report["warnings"].as_array().is_none_or(Vec::is_empty),
            "{target}: {report}"
        );
    }
}
