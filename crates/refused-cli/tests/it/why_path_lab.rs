//! `refused why` on the path out of this host: a default gateway that does not answer, an ICMP
//! net-unreachable from the server, IPv6 turned off; the client namespace as a machine of its
//! own, as a reviewer built them.

use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use refused_lab::{Lab, SERVER_V4, SERVER_V6, Tool};

use crate::why_lab::{cause, evidence, listen_on_client, why, why_alone};

/// A gateway on the lab link that nobody holds: neighbour discovery for it fails.
const DEAD_GATEWAY_V4: &str = "10.77.0.254";
const DEAD_GATEWAY_V6: &str = "fd00:77::fe";
/// Off-link addresses that only the default route leads to.
const REMOTE_V4: &str = "10.199.60.1";
const REMOTE_V6: &str = "fd00:199:60::1";

fn with_dead_gateway(test: &str) -> Option<Lab> {
    let lab = Lab::or_skip(test)?;
    lab.client
        .ip(&["route", "add", "default", "via", DEAD_GATEWAY_V4])
        .unwrap();
    lab.client
        .ip(&["-6", "route", "add", "default", "via", DEAD_GATEWAY_V6])
        .unwrap();
    Some(lab)
}

/// The report names the gateway, whose neighbour entry never answered, and says the SYN never
/// left: not a remote firewall.
fn blames_the_gateway(report: &serde_json::Value, gateway: &str, target: &str) {
    assert_eq!(cause(report), "host-unreachable", "{report}");
    let neighbours = evidence(report, "neighbour");
    let entry = neighbours
        .iter()
        .find(|n| n["address"] == gateway)
        .unwrap_or_else(|| panic!("no neighbour evidence for the gateway {gateway}: {report}"));
    assert_eq!(entry["state"], "no-answer", "{report}");
    assert_eq!(entry["gateway_for"], target, "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(summary.contains(gateway), "{report}");
    assert!(
        !summary.contains("nobody on the local network has"),
        "{report}"
    );
    let fixes = report["suggestions"].to_string();
    assert!(
        fixes.contains("gateway") && !fixes.contains("firewall of"),
        "{report}"
    );
}

#[test]
fn a_dead_default_gateway_is_host_unreachable_naming_the_gateway() {
    let Some(lab) =
        with_dead_gateway("a_dead_default_gateway_is_host_unreachable_naming_the_gateway")
    else {
        return;
    };
    for (gateway, remote) in [(DEAD_GATEWAY_V4, REMOTE_V4), (DEAD_GATEWAY_V6, REMOTE_V6)] {
        let target = SocketAddr::new(remote.parse().unwrap(), 22080).to_string();
        // Neighbour discovery for the gateway gives up after about 3 s: EHOSTUNREACH, made by
        // this host.
        let report = why_alone(&lab, &[&target]);
        assert_eq!(
            report["attempts"][0]["outcome"], "host-unreachable",
            "{report}"
        );
        blames_the_gateway(&report, gateway, remote);
        // A time limit shorter than that: a timeout, with the gateway's entry unanswered.
        let report = why_alone(&lab, &["--timeout", "1s", &target]);
        assert_eq!(report["attempts"][0]["outcome"], "timeout", "{report}");
        blames_the_gateway(&report, gateway, remote);
    }
}

#[test]
fn a_connect_joining_a_failing_gateway_lookup_is_not_a_rejection() {
    let Some(lab) =
        with_dead_gateway("a_connect_joining_a_failing_gateway_lookup_is_not_a_rejection")
    else {
        return;
    };
    let target: SocketAddr = SocketAddr::new(REMOTE_V4.parse().unwrap(), 22081);
    // Another program's connect started the gateway's lookup earlier: when it fails, every
    // packet queued on it fails at once, ours a fraction of a second after it was sent, as a
    // rejection from the network would.
    let earlier = thread::spawn({
        let client = lab.client.name().to_owned();
        move || {
            std::process::Command::new("ip")
                .args(["netns", "exec", &client, crate::why_lab::REFUSED])
                .args(["check", "--timeout", "10s", &target.to_string()])
                .output()
                .unwrap()
        }
    });
    // Let it get the lookup going (setup, not a measurement: the report must be the same
    // whenever `why` joins).
    thread::sleep(Duration::from_millis(2500));
    let report = why_alone(&lab, &[&target.to_string()]);
    earlier.join().unwrap();
    blames_the_gateway(&report, DEAD_GATEWAY_V4, REMOTE_V4);
}

#[test]
fn an_icmp_net_unreachable_from_the_server_is_rejected_not_no_route() {
    let Some(lab) = Lab::or_skip_needing(
        "an_icmp_net_unreachable_from_the_server_is_rejected_not_no_route",
        &[Tool::Iptables],
    ) else {
        return;
    };
    lab.server
        .iptables(&[
            "-A",
            "INPUT",
            "-p",
            "tcp",
            "--dport",
            "22010",
            "-j",
            "REJECT",
            "--reject-with",
            "icmp-net-unreachable",
        ])
        .unwrap();
    lab.server
        .ip6tables(&[
            "-A",
            "INPUT",
            "-p",
            "tcp",
            "--dport",
            "22010",
            "-j",
            "REJECT",
            "--reject-with",
            "icmp6-no-route",
        ])
        .unwrap();
    for target in [format!("{SERVER_V4}:22010"), format!("[{SERVER_V6}]:22010")] {
        let report = why_alone(&lab, &[&target]);
        assert_eq!(
            report["attempts"][0]["outcome"], "network-unreachable",
            "{report}"
        );
        assert_eq!(cause(&report), "rejected", "{report}");
        let summary = report["summary"].as_str().unwrap();
        assert!(summary.contains("network unreachable"), "{report}");
        assert!(!summary.contains("no route"), "{report}");
        let fixes = report["suggestions"].to_string();
        assert!(fixes.contains("routes of the routers"), "{report}");
    }
}

#[test]
fn localhost_with_ipv6_disabled_is_reachable_with_a_warning() {
    let Some(lab) = Lab::or_skip("localhost_with_ipv6_disabled_is_reachable_with_a_warning") else {
        return;
    };
    lab.client
        .sysctl("net.ipv6.conf.all.disable_ipv6", "1")
        .unwrap();
    lab.client
        .write_etc("hosts", "::1 localhost\n127.0.0.1 localhost\n")
        .unwrap();
    let _app = listen_on_client(&lab, "127.0.0.1:22020".parse().unwrap());
    let report = why(&lab, &["localhost:22020"]);
    assert_eq!(cause(&report), "reachable", "{report}");
    let failed = report["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["address"] == "[::1]:22020")
        .unwrap_or_else(|| panic!("no attempt to ::1: {report}"));
    assert_ne!(failed["outcome"], "connected", "{report}");
    let warnings = report["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("IPv6 is disabled")),
        "{report}"
    );
}

/// This host's own link: the other end of its veth set down (the cable out), so the route
/// stays, marked `linkdown`, and nothing reaches the server; or this host's interface itself set
/// down, its routes gone. The link is the cause, not "that namespace has no route back" nor a
/// route to add.
#[test]
fn a_link_without_carrier_or_set_down_is_named() {
    let Some(lab) = Lab::or_skip("a_link_without_carrier_or_set_down_is_named") else {
        return;
    };
    let _open = lab
        .server
        .run(|| std::net::TcpListener::bind((SERVER_V4, 7050)))
        .unwrap()
        .unwrap();
    let target = format!("{SERVER_V4}:7050");
    lab.server.ip(&["link", "set", "eth0", "down"]).unwrap();
    let report = why(&lab, &["--timeout", "2s", &target]);
    assert_eq!(cause(&report), "host-unreachable", "{report}");
    assert!(
        report["summary"].as_str().unwrap().starts_with(
            "this host's veth eth0, which the route to 10.77.0.2 leaves by, has no carrier (`NO-CARRIER`): its other end is down"
        ),
        "{report}"
    );
    let link = &evidence(&report, "link-down")[0];
    assert_eq!(
        (&link["interface"], &link["state"], &link["link_kind"]),
        (&"eth0".into(), &"no-carrier".into(), &"veth".into()),
        "{report}"
    );
    lab.server.ip(&["link", "set", "eth0", "up"]).unwrap();
    // A bridge whose last port went (docker0 once no container runs): no carrier, and nothing
    // on it has the address.
    for args in [
        &["link", "add", "br9", "type", "bridge"][..],
        &["addr", "add", "10.250.9.1/24", "dev", "br9"],
        &["link", "set", "br9", "up"],
        &["link", "add", "p9", "type", "veth", "peer", "name", "p9b"],
        &["link", "set", "p9", "master", "br9"],
        &["link", "set", "p9", "up"],
        &["link", "del", "p9"],
    ] {
        lab.client.ip(args).unwrap();
    }
    let report = why(&lab, &["--timeout", "2s", "10.250.9.5:80"]);
    assert_eq!(cause(&report), "host-unreachable", "{report}");
    assert!(
        report["summary"].as_str().unwrap().starts_with(
            "this host's bridge br9, which the route to 10.250.9.5 leaves by, has no port up"
        ),
        "{report}"
    );
    lab.client.ip(&["link", "set", "eth0", "down"]).unwrap();
    let report = why(&lab, &["--timeout", "2s", &target]);
    assert_eq!(cause(&report), "network-unreachable", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .starts_with("this host's interface eth0, whose network holds 10.77.0.2, is down"),
        "{report}"
    );
    let link = &evidence(&report, "link-down")[0];
    assert_eq!(link["state"], "down", "{report}");
    assert_eq!(link.get("link_kind"), None, "{report}");
    assert!(
        report["suggestions"][0]
            .as_str()
            .unwrap()
            .contains("ip link set eth0 up"),
        "{report}"
    );
}
