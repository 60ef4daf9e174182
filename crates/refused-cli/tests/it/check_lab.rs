//! `refused check` run inside the lab's client namespace: DNS failure kinds and remote outcomes,
//! as the built binary reports them in JSON.

use refused_lab::{Lab, NO_ROUTE_V4, SERVER_V4, SERVER_V6, Tool};

/// Runs `refused check --json --timeout 1s TARGET` in the client namespace; returns the reason.
fn reason(lab: &Lab, target: &str) -> String {
    let output = lab
        .client
        .command(env!("CARGO_BIN_EXE_refused"))
        .args(["check", "--json", "--timeout", "1s", target])
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|err| {
        panic!(
            "{err}: {stdout:?} {:?}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let expected_exit = i32::from(report["state"] != "up");
    assert_eq!(output.status.code(), Some(expected_exit), "{target}");
    report["reason"].as_str().unwrap().to_owned()
}

#[test]
fn dns_failures_are_told_apart() {
    let Some(lab) = Lab::or_skip_needing("dns_failures_are_told_apart", &[Tool::Dnsmasq]) else {
        return;
    };
    let listener = lab.half_working_names().unwrap();
    let port = listener.local_addr().unwrap().port();
    // Two addresses, the IPv6 one refused: happy eyeballs connects through IPv4.
    assert_eq!(reason(&lab, &format!("web.lab.test:{port}")), "connected");
    assert_eq!(reason(&lab, "missing.lab.test:80"), "dns-not-found");
    assert_eq!(reason(&lab, "txtonly.lab.test:80"), "dns-no-address");
}

#[test]
fn a_silent_resolver_is_a_dns_failure() {
    let Some(lab) = Lab::or_skip_needing("a_silent_resolver_is_a_dns_failure", &[Tool::Nft]) else {
        return;
    };
    lab.silent_dns().unwrap();
    assert_eq!(reason(&lab, "anything.lab.test:80"), "dns-failure");
}

#[test]
fn remote_outcomes() {
    let Some(lab) = Lab::or_skip_needing("remote_outcomes", &[Tool::Nft]) else {
        return;
    };
    lab.server
        .filter(
            "input",
            &[
                "tcp dport 7001 drop",
                "tcp dport 7002 reject with icmp type host-prohibited",
            ],
        )
        .unwrap();
    assert_eq!(reason(&lab, &format!("{SERVER_V4}:9")), "refused");
    assert_eq!(reason(&lab, &format!("[{SERVER_V6}]:9")), "refused");
    assert_eq!(reason(&lab, &format!("{SERVER_V4}:7001")), "timeout");
    assert_eq!(
        reason(&lab, &format!("{SERVER_V4}:7002")),
        "host-unreachable"
    );
    assert_eq!(
        reason(&lab, &format!("{NO_ROUTE_V4}:80")),
        "network-unreachable"
    );
}
