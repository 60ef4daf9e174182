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
    crate::schema::assert_valid(crate::schema::Schema::Check, &report);
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
    assert_eq!(reason(&lab, &format!("web.lab.test:{port}")), "reachable");
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

/// The server's link-local IPv6 address on its veth, once duplicate address detection is done.
pub(crate) fn server_link_local(lab: &Lab) -> std::net::Ipv6Addr {
    for _ in 0..200 {
        let output = lab
            .server
            .exec(
                "ip",
                &["-6", "-o", "addr", "show", "dev", "eth0", "scope", "link"],
            )
            .unwrap();
        let text = String::from_utf8(output.stdout).unwrap();
        // `2: eth0    inet6 fe80::.../64 scope link tentative ...` until DAD is over.
        if let Some(line) = text.lines().find(|l| !l.contains("tentative")) {
            let addr = line
                .split_whitespace()
                .skip_while(|w| *w != "inet6")
                .nth(1)
                .and_then(|a| a.split('/').next())
                .unwrap();
            return addr.parse().unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the server's eth0 got no usable link-local address");
}

#[test]
fn a_link_local_target_names_its_interface() {
    let Some(lab) = Lab::or_skip("a_link_local_target_names_its_interface") else {
        return;
    };
    let link_local = server_link_local(&lab);
    let _listener = lab
        .server
        .run(|| {
            refused_lab::ListenSpec::new((std::net::Ipv6Addr::UNSPECIFIED, 7011).into()).listen()
        })
        .unwrap()
        .unwrap();
    // Without the zone the kernel cannot know which link: the target is refused at parse time
    // only when the zone is wrong, and connects when it names the client's own veth.
    assert_eq!(
        reason(&lab, &format!("[{link_local}%eth0]:7011")),
        "reachable"
    );
    let output = lab
        .client
        .command(env!("CARGO_BIN_EXE_refused"))
        .args(["check", &format!("[{link_local}%eth9]:7011")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("`eth9`"));
}
