//! `refused why` on setups shaped like real hosts, in the lab: routes of this host that reject,
//! port proxies, containers' own addresses, published ports.

use std::net::SocketAddr;

use refused_lab::{CLIENT_V4, Lab};

use crate::why_lab::{cause, evidence, listen_on_client, why};

#[test]
fn a_rejecting_route_of_this_host_is_named_with_how_to_remove_it() {
    let Some(lab) = Lab::or_skip("a_rejecting_route_of_this_host_is_named_with_how_to_remove_it")
    else {
        return;
    };
    let routes: [(&[&str], &str, &str, &str); 4] = [
        (
            &["route", "add", "unreachable", "10.91.0.0/16"],
            "10.91.3.4:80",
            "network-unreachable",
            "unreachable",
        ),
        (
            &["route", "add", "prohibit", "10.92.0.0/16"],
            "10.92.3.4:80",
            "blocked-locally",
            "prohibit",
        ),
        (
            &["route", "add", "blackhole", "10.93.0.0/16"],
            "10.93.3.4:80",
            "network-unreachable",
            "blackhole",
        ),
        (
            &["-6", "route", "add", "prohibit", "fd93::/32"],
            "[fd93::4]:80",
            "blocked-locally",
            "prohibit",
        ),
    ];
    for (add, target, expected, kind) in routes {
        lab.client.ip(add).unwrap();
        let report = why(&lab, &[target, "--timeout", "2s"]);
        assert_eq!(cause(&report), expected, "{target}: {report}");
        let route = evidence(&report, "route");
        assert_eq!(route.len(), 1, "{target}: {report}");
        assert_eq!(route[0]["type"], kind, "{report}");
        assert_eq!(route[0]["destination"], add[add.len() - 1], "{report}");
        let suggestions = report["suggestions"].to_string();
        assert!(suggestions.contains("route del"), "{report}");
        assert!(
            !report["summary"].as_str().unwrap().contains("remote"),
            "{report}"
        );
    }
}

#[test]
fn localhost_while_the_program_listens_on_the_lan_address_only_is_another_address() {
    let Some(lab) = Lab::or_skip(
        "localhost_while_the_program_listens_on_the_lan_address_only_is_another_address",
    ) else {
        return;
    };
    let listener = listen_on_client(&lab, SocketAddr::new(CLIENT_V4.into(), 46101));
    let report = why(&lab, &["localhost:46101"]);
    assert_eq!(cause(&report), "listening-on-other-address", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(summary.contains(&CLIENT_V4.to_string()), "{report}");
    let suggestions = report["suggestions"].to_string();
    assert!(
        suggestions.contains(&format!("{CLIENT_V4}:46101")),
        "{report}"
    );
    assert!(!suggestions.contains("`127.0.0.1`"), "{report}");
    drop(listener);
}
