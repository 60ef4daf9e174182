//! `refused why` against the real firewalld (Debian's package), run in the lab's server
//! namespace alone ([`refused_lab::Netns::firewalld`]: its own configuration copy, D-Bus and
//! `/run`, so the machine's firewall is never touched) with its default zone, `public`, which
//! rejects every port it does not open with `icmpx admin-prohibited`. Ports 46100-46199 are
//! this file's.

use std::net::{Ipv4Addr, TcpListener};

use refused_lab::{Lab, Tool};

use crate::why_hosts_lab::server_only_address;
use crate::why_lab::{REFUSED, cause, diagnosis, evidence, suggests, why, why_alone};

#[test]
fn a_port_firewalld_does_not_open_is_opened_with_firewall_cmd() {
    let test = "a_port_firewalld_does_not_open_is_opened_with_firewall_cmd";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Firewalld]) else {
        return;
    };
    let (port, unused) = (46_110, 46_111);
    // An address of this lab's server alone: other labs' servers hold the lab's usual one.
    let own = server_only_address(&lab);
    let _listener = lab
        .server
        .run(|| TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)))
        .unwrap()
        .unwrap();
    lab.server.firewalld().unwrap();
    let netns = lab.server.name();
    let target = format!("{own}:{port}");

    // From the client, which sees the server as a namespace of its host: the admin-prohibited
    // came from that namespace's rules, firewalld's, named by its zone and opened with
    // firewall-cmd (root: no sudo).
    let report = why(&lab, &[&target]);
    assert_eq!(cause(&report), "blocked-locally", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("in network namespace {netns}"))
            && summary.contains("yet the connection was rejected: that namespace's own firewall stops it: `reject with icmpx admin-prohibited` (table `inet firewalld`, chain `filter_IN_public`, reached by filter_INPUT -> filter_INPUT_ZONES -> filter_IN_public)"),
        "{summary}"
    );
    let rules = evidence(&report, "firewall-rule");
    assert_eq!(rules[0]["tool"], "firewalld", "{report}");
    assert!(
        suggests(
            &report,
            &format!(
                "`ip netns exec {netns} env DBUS_SYSTEM_BUS_ADDRESS=BUS firewall-cmd --zone=public --add-port={port}/tcp` opens port {port} now"
            )
        ),
        "{report}"
    );
    assert!(!suggests(&report, "nft delete"), "{report}");

    // As a machine of its own, the server a remote host: its ICMP admin-prohibited, and
    // firewalld named as the likely source.
    let report = why_alone(&lab, &[&target]);
    assert_eq!(cause(&report), "rejected", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("ICMP admin-prohibited (type 3, code 13)"),
        "{report}"
    );
    assert!(
        suggests(
            &report,
            &format!(
                "if {own} runs firewalld, open the port there with `firewall-cmd --add-port={port}/tcp`"
            )
        ),
        "{report}"
    );

    // On the firewalld host itself, its own address: loopback is accepted, and a port nothing
    // listens on is that (beside the one that listens), not firewalld's reject.
    let report = diagnosis(
        lab.server.command(REFUSED),
        &["--timeout", "10s", &format!("{own}:{unused}")],
    );
    assert_eq!(cause(&report), "wrong-port", "{report}");
    assert!(evidence(&report, "firewall-rule").is_empty(), "{report}");

    // Opened as suggested: it connects.
    lab.server
        .firewall_cmd(&["--zone=public", &format!("--add-port={port}/tcp")])
        .unwrap();
    assert_eq!(cause(&why(&lab, &[&target])), "reachable");
    assert_eq!(cause(&why_alone(&lab, &[&target])), "reachable");

    // A port the zone opens, where nothing listens: refused by that namespace's kernel, not by
    // firewalld (whose `filter_INPUT` ends with a reject that the zone's accept never lets the
    // packet reach).
    let opened = 46_112;
    lab.server
        .firewall_cmd(&["--zone=public", &format!("--add-port={opened}/tcp")])
        .unwrap();
    let report = why(&lab, &[&format!("{own}:{opened}")]);
    assert_eq!(cause(&report), "wrong-port", "{report}");
    assert!(evidence(&report, "firewall-rule").is_empty(), "{report}");
}
