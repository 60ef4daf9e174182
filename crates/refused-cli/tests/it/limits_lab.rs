//! Firewall limits, which stop a port only past a count: ufw's `limit` (the `recent` module),
//! iptables' `connlimit`, nft's `ct count`. A waiter must not keep one tripped, and `why` names
//! them as limits rather than telling a person to wait for a service that is up.

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use refused_lab::{Lab, ListenSpec, SERVER_V4, Tool};

use crate::why_lab::{REFUSED, cause, why};

/// `ufw limit`: the waiter's fast polls of a port not yet listening trip it (six new
/// connections within 30 s from one address), and its rejects count too, so polls that go on
/// keep it tripped for ever. After the firewall's reject (an ICMP port-unreachable) the waiter
/// polls 31 s apart, the limit clears, and the wait ends.
#[test]
fn a_wait_does_not_keep_ufws_limit_tripped() {
    let test = "a_wait_does_not_keep_ufws_limit_tripped";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Ufw]) else {
        return;
    };
    lab.server.ufw(&["limit", "7031/tcp"]).unwrap();
    let addr = SocketAddr::from((SERVER_V4, 7031));
    let start = Instant::now();
    let waiter = lab
        .client
        .command(REFUSED)
        .args(["wait", "--timeout", "50s", &addr.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let _listener = lab
        .server
        .run(|| ListenSpec::new(addr).listen())
        .unwrap()
        .unwrap();
    let output = waiter.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}");
    assert!(
        said.contains(
            "(a firewall rejected it: ICMP port-unreachable (type 3, code 3) from 10.77.0.2)"
        ),
        "{said}"
    );
    // Refused by a reset first, then rejected: a limit these polls tripped.
    assert!(said.contains("trying again in 31 s"), "{said}");
    // One pause of 31 s after the reject, not a timeout.
    assert!(start.elapsed() < Duration::from_secs(45), "{said}");
}

/// `ufw limit` tripped before the wait, by a person's own tries (the port listens: six
/// connections, then rejects): every probe is rejected from the first, as kube-proxy's reject
/// of a Service without endpoints is, and a poll a second would keep the limit tripped for
/// ever. After 30 rejects the waiter rests 31 s once, the limit clears, and the wait ends.
#[test]
fn a_wait_outlasts_a_ufw_limit_tripped_before_it() {
    let test = "a_wait_outlasts_a_ufw_limit_tripped_before_it";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Ufw]) else {
        return;
    };
    let (addr, _listener) = limit_tripped(&lab, 7034);
    let start = Instant::now();
    let output = lab
        .client
        .command(REFUSED)
        .args(["wait", "--timeout", "90s", &addr.to_string()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{said}");
    assert!(said.contains("trying again every 1 s"), "{said}");
    assert!(
        said.contains("rejected 30 times in a row: resting 31 s"),
        "{said}"
    );
    // About 30 polls a second apart, one rest of 31 s: not the timeout.
    assert!(start.elapsed() < Duration::from_secs(80), "{said}");
}

/// The same rest, as `wait --json` says it: a `rest` line, after the first probe's. The wait
/// is ended once it has said so (the rest itself is the test above's).
#[test]
fn a_wait_json_says_when_it_rests() {
    let test = "a_wait_json_says_when_it_rests";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Ufw]) else {
        return;
    };
    let (addr, _listener) = limit_tripped(&lab, 7035);
    let mut waiter = lab
        .client
        .command(REFUSED)
        .args(["wait", "--json", "--timeout", "45s", &addr.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(waiter.stdout.take().unwrap());
    let mut lines = Vec::new();
    for line in std::io::BufRead::lines(stdout) {
        let line: serde_json::Value = serde_json::from_str(&line.unwrap()).unwrap();
        crate::schema::assert_valid(crate::schema::Schema::Wait, &line);
        let rests = line["kind"] == "rest";
        lines.push(line);
        if rests {
            break;
        }
    }
    let _ = waiter.kill();
    let _ = waiter.wait();
    let kinds: Vec<&str> = lines.iter().filter_map(|l| l["kind"].as_str()).collect();
    assert_eq!(kinds, ["probe", "rest"], "{lines:?}");
    assert_eq!(lines[0]["reason"], "refused", "{lines:?}");
    assert_eq!(lines[1]["pause_ms"], 31_000.0, "{lines:?}");
    assert!(lines[1]["at_ms"].as_f64().unwrap() >= 29_000.0, "{lines:?}");
}

/// `ufw limit PORT/tcp` in the server namespace, a listener on the port, and 8 tries from the
/// client, the last rejected: the limit tripped before any wait.
fn limit_tripped(lab: &Lab, port: u16) -> (SocketAddr, std::net::TcpListener) {
    lab.server.ufw(&["limit", &format!("{port}/tcp")]).unwrap();
    let addr = SocketAddr::from((SERVER_V4, port));
    let listener = lab
        .server
        .run(|| ListenSpec::new(addr).listen())
        .unwrap()
        .unwrap();
    let tries: Vec<bool> = lab
        .client
        .run(|| (0..8).map(|_| TcpStream::connect(addr).is_ok()).collect())
        .unwrap();
    assert_eq!(
        tries.last(),
        Some(&false),
        "the limit did not trip: {tries:?}"
    );
    (addr, listener)
}

/// `connlimit` and `ct count` in another namespace of this host, over their count: the SYN is
/// reset by the rule while the program listens. A limit of that namespace's firewall, named
/// with its rule, not "no rule rejects it: wait for it".
#[test]
fn a_connection_limit_is_named_as_a_limit() {
    let test = "a_connection_limit_is_named_as_a_limit";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Iptables, Tool::Nft]) else {
        return;
    };
    let (iptables_port, nft_port) = (7032, 7033);
    let port = iptables_port.to_string();
    #[rustfmt::skip]
    lab.server.iptables(&[
        "-I", "INPUT", "-p", "tcp", "--dport", &port, "-m", "connlimit", "--connlimit-above", "2",
        "-j", "REJECT", "--reject-with", "tcp-reset",
    ]).unwrap();
    lab.server
        .nft(&format!(
            "table inet limits {{\n chain input {{\n type filter hook input priority -10;\n tcp dport {nft_port} ct count over 2 reject with tcp reset\n }}\n}}\n"
        ))
        .unwrap();
    // An address of the server's own: `why` asks which of this host's namespaces holds it,
    // and must find one.
    let own = crate::why_hosts_lab::server_only_address(&lab);
    for port in [iptables_port, nft_port] {
        let addr = SocketAddr::from((own, port));
        let _listener = lab
            .server
            .run(|| ListenSpec::new(addr).listen())
            .unwrap()
            .unwrap();
        // Two connections open from the client: the count's limit.
        let _held = lab
            .client
            .run(|| {
                [
                    TcpStream::connect(addr).unwrap(),
                    TcpStream::connect(addr).unwrap(),
                ]
            })
            .unwrap();
        let report = why(&lab, &[&addr.to_string()]);
        assert_eq!(cause(&report), "blocked-locally", "{report}");
        let summary = report["summary"].as_str().unwrap();
        let rule = if port == nft_port {
            format!("tcp dport {port} ct count over 2 reject with tcp reset")
        } else {
            format!("tcp dport {port} xt match connlimit")
        };
        assert!(summary.contains(&rule), "{report}");
        let fix = report["suggestions"][0].as_str().unwrap();
        assert!(fix.starts_with("the rule is a limit"), "{report}");
    }
}
