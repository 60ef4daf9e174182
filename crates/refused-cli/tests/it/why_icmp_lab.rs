//! `refused why` on a connect that an ICMP error ended: the error read from the socket names who
//! answered and what, where the time the connect took only hinted at it. The server namespace
//! plays a router (or a gateway that forwards a port), the client a machine of its own.

use std::net::Ipv4Addr;

use refused_lab::{Lab, SERVER_V4, Tool, UNUSED_V4};

use crate::why_lab::{cause, why_alone};

/// An address behind the server, which the client reaches through it as its router: the
/// router sends it back out of the link it came from (nothing is behind it), so its forward
/// chain sees the SYNs.
const BEHIND_ROUTER: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 5);

/// The server as the client's router toward [`BEHIND_ROUTER`], with `rules` in its forward
/// chain.
fn through_router(test: &str, rules: &[&str]) -> Option<Lab> {
    let lab = Lab::or_skip_needing(test, &[Tool::Nft])?;
    let server = SERVER_V4.to_string();
    let behind = format!("{BEHIND_ROUTER}/32");
    lab.client
        .ip(&["route", "add", &behind, "via", &server])
        .unwrap();
    lab.server
        .ip(&[
            "route",
            "add",
            &behind,
            "via",
            &Ipv4Addr::new(10, 77, 0, 1).to_string(),
        ])
        .unwrap();
    forwarding(&lab);
    lab.server.filter("forward", rules).unwrap();
    Some(lab)
}

/// The server forwards, without telling the client of a better route (its redirects would
/// change the client's routing while the test runs).
fn forwarding(lab: &Lab) {
    lab.server.sysctl("net.ipv4.ip_forward", "1").unwrap();
    for conf in ["all", "default", "eth0"] {
        lab.server
            .sysctl(&format!("net.ipv4.conf.{conf}.send_redirects"), "0")
            .unwrap();
    }
}

/// The attempt's `icmp` evidence: type 3, `code`, from `from`.
fn assert_icmp(report: &serde_json::Value, code: u8, from: Ipv4Addr) {
    let icmp = &report["attempts"][0]["icmp"];
    assert_eq!(icmp["type"], 3, "{report}");
    assert_eq!(icmp["code"], code, "{report}");
    assert_eq!(icmp["from"], from.to_string(), "{report}");
}

#[test]
fn a_routers_admin_prohibited_is_rejected_naming_the_router_even_after_lost_syns() {
    // The router drops the first three SYNs (its answers lost or rate limited, as on a busy
    // one), then rejects: the reject comes about 3 s after the start, as slow as neighbour
    // discovery giving up, which the timing took for "nobody has that address".
    let Some(lab) = through_router(
        "a_routers_admin_prohibited_is_rejected_naming_the_router_even_after_lost_syns",
        &[
            "tcp dport 22301 numgen inc mod 4 < 3 drop",
            "tcp dport 22301 reject with icmp type admin-prohibited",
            "tcp dport 22302 reject with icmp type admin-prohibited",
        ],
    ) else {
        return;
    };
    for port in ["22301", "22302"] {
        let target = format!("{BEHIND_ROUTER}:{port}");
        let report = why_alone(&lab, &["--timeout", "8s", &target]);
        assert_eq!(cause(&report), "rejected", "{report}");
        assert_eq!(
            report["attempts"][0]["outcome"], "host-unreachable",
            "{report}"
        );
        assert_icmp(&report, 13, SERVER_V4);
        if port == "22301" {
            // Past the timing's line between a reject and neighbour discovery giving up.
            assert!(
                report["attempts"][0]["elapsed_ms"].as_f64().unwrap() > 2500.0,
                "{report}"
            );
        }
        let summary = report["summary"].as_str().unwrap();
        assert!(
            summary.contains(&format!("rejected by the gateway {SERVER_V4}"))
                && summary.contains("admin-prohibited"),
            "{report}"
        );
        let fixes = report["suggestions"].to_string();
        assert!(fixes.contains(&format!("router {SERVER_V4}")), "{report}");
    }
}

#[test]
fn a_routers_host_unreachable_is_host_unreachable_naming_the_router_not_a_firewall() {
    // Answered at once: the timing took it for a firewall's reject.
    let Some(lab) = through_router(
        "a_routers_host_unreachable_is_host_unreachable_naming_the_router_not_a_firewall",
        &["tcp dport 22303 reject with icmp type host-unreachable"],
    ) else {
        return;
    };
    let report = why_alone(&lab, &[&format!("{BEHIND_ROUTER}:22303")]);
    assert_eq!(cause(&report), "host-unreachable", "{report}");
    assert_icmp(&report, 1, SERVER_V4);
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!(
            "gateway {SERVER_V4} answered with ICMP host-unreachable"
        )),
        "{report}"
    );
    assert!(!summary.contains("firewall"), "{report}");
}

#[test]
fn a_gateway_forwarding_the_port_to_a_dead_host_is_named_as_the_one_that_answered() {
    // The server forwards the port (DNAT) to an address of the link that nobody holds: its
    // own neighbour discovery gives up and it answers host-unreachable, while its entry in the
    // client's neighbour table stays reachable.
    let Some(lab) = Lab::or_skip_needing(
        "a_gateway_forwarding_the_port_to_a_dead_host_is_named_as_the_one_that_answered",
        &[Tool::Nft],
    ) else {
        return;
    };
    forwarding(&lab);
    lab.server
        .nft(&format!(
            "table ip lab_nat {{\n  chain prerouting {{\n    type nat hook prerouting priority -100;\n    tcp dport 22304 dnat to {UNUSED_V4}:80\n  }}\n}}\n"
        ))
        .unwrap();
    let report = why_alone(&lab, &[&format!("{SERVER_V4}:22304")]);
    assert_eq!(cause(&report), "host-unreachable", "{report}");
    assert_icmp(&report, 1, SERVER_V4);
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("{SERVER_V4} itself")) && summary.contains("forwards port 22304"),
        "{report}"
    );
    assert!(!summary.contains("neighbour discovery"), "{report}");
    assert!(!summary.contains("rejected"), "{report}");
}
