//! `refused why` in a namespace whose loopback interface is down (`ip netns add` without
//! `ip link set lo up`) or has IPv6 switched off: the interface and the sysctl that is set are
//! named, not "no route" or "IPv6 is disabled on this host".

use std::process::Command;

use refused_lab::{CLIENT_V4, Lab};
use serde_json::Value;

use super::why_lab::{REFUSED, cause, diagnosis, evidence, why, why_alone};

// A port of these tests only: other tests' `why` look at every namespace of the host.
const PORT: u16 = 43_970;

fn suggestions(report: &Value) -> String {
    report["suggestions"].to_string()
}

#[test]
fn a_loopback_left_down_is_named_with_the_command_that_brings_it_up() {
    let Some(lab) =
        Lab::or_skip("a_loopback_left_down_is_named_with_the_command_that_brings_it_up")
    else {
        return;
    };
    // The classic: a namespace whose `lo` was never brought up. ::1 has no source address,
    // 127.0.0.1 no route.
    for target in [format!("[::1]:{PORT}"), format!("127.0.0.1:{PORT}")] {
        let mut fresh = Command::new("unshare");
        fresh.args(["--net", "--", REFUSED]);
        let report = diagnosis(fresh, &[&target]);
        assert_eq!(cause(&report), "network-unreachable", "{report}");
        assert_ne!(report["attempts"][0]["outcome"], "timeout", "{report}");
        assert_is_loopback_down(&report);
    }

    // Brought down after it was up: ::1 is gone, while 127.0.0.1 and the namespace's own
    // address keep their local routes, and the packets wait on `lo` until the connect gives
    // up. Alone, the namespace's evidence is read quickly after the short timeout.
    lab.client
        .write_etc("hosts", "127.0.0.1 localhost\n::1 localhost\n")
        .unwrap();
    lab.client.ip(&["link", "set", "lo", "down"]).unwrap();
    let report = why(&lab, &[&format!("[::1]:{PORT}")]);
    assert_is_loopback_down(&report);
    let from_outside = format!("ip netns exec {} ip link set lo up", lab.client.name());
    assert!(suggestions(&report).contains(&from_outside), "{report}");
    for target in [format!("localhost:{PORT}"), format!("{CLIENT_V4}:{PORT}")] {
        let report = why_alone(&lab, &["--timeout", "2s", &target]);
        assert_is_loopback_down(&report);
    }
}

/// `network-unreachable` said of `lo`, with the command that brings it up, and nothing of IPv6
/// or routes: neither is what is missing.
fn assert_is_loopback_down(report: &Value) {
    assert_eq!(cause(report), "network-unreachable", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(summary.contains("loopback interface `lo`"), "{report}");
    assert_eq!(evidence(report, "loopback-down").len(), 1, "{report}");
    assert!(evidence(report, "ipv6-unusable").is_empty(), "{report}");
    let fixes = suggestions(report);
    assert!(fixes.contains("`ip link set lo up`"), "{report}");
    assert!(
        !fixes.contains("disable_ipv6") && !fixes.contains("add one"),
        "{report}"
    );
}

#[test]
fn ipv6_switched_off_on_loopback_alone_names_its_own_sysctl() {
    let Some(lab) = Lab::or_skip("ipv6_switched_off_on_loopback_alone_names_its_own_sysctl") else {
        return;
    };
    lab.client
        .sysctl("net.ipv6.conf.lo.disable_ipv6", "1")
        .unwrap();
    let report = why(&lab, &[&format!("[::1]:{PORT}")]);
    assert_eq!(cause(&report), "network-unreachable", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains("`net.ipv6.conf.lo.disable_ipv6` = 1") && !summary.contains(".all."),
        "{report}"
    );
    assert_eq!(
        report["suggestions"][0], "turn it back on: `sysctl -w net.ipv6.conf.lo.disable_ipv6=0`",
        "{report}"
    );
    let unusable = evidence(&report, "ipv6-unusable");
    assert_eq!(
        unusable[0]["disabled_by"],
        serde_json::json!(["net.ipv6.conf.lo.disable_ipv6"]),
        "{report}"
    );

    // `all` switched off too: writing it 0 is what turns every interface's back on.
    lab.client
        .sysctl("net.ipv6.conf.all.disable_ipv6", "1")
        .unwrap();
    let report = why(&lab, &[&format!("[::1]:{PORT}")]);
    assert_eq!(cause(&report), "network-unreachable", "{report}");
    assert_eq!(
        report["suggestions"][0], "turn it back on: `sysctl -w net.ipv6.conf.all.disable_ipv6=0`",
        "{report}"
    );
}
