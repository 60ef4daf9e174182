//! `refused why --json` where the client host drops the packets outside its `ip`, `ip6` and
//! `inet` tables' usual hooks: a `netdev` table's chains, attached to the interface the
//! connection leaves or its reply comes in by, and a `tc` qdisc there. The client runs as a
//! machine of its own (the server is a remote host), so a drop it does not see would be blamed
//! on the server. Ports 47300-47399 are this file's.

use refused_lab::{Family, Lab, ListenSpec, Tool};
use serde_json::Value;

use crate::why_lab::{first_evidence, suggests, why_alone};

/// The command of the report's suggestion that removes the rule, as the person would run it.
fn delete_command(report: &Value) -> String {
    command_with(report, "nft delete rule")
}

/// The first command of the report's suggestions that contains `needle`.
fn command_with(report: &Value, needle: &str) -> String {
    let fix = report["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|s| s.contains(needle))
        .unwrap_or_else(|| panic!("no `{needle}` in {report}"));
    fix.split('`')
        .find(|part| part.contains(needle))
        .unwrap()
        .to_owned()
}

/// Runs `command` (`nft ...`) in the client namespace.
fn run_on_client(lab: &Lab, command: &str) {
    let words: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(words[0], "nft", "{command}");
    lab.client.exec("nft", &words[1..]).unwrap();
}

/// A `netdev` chain on the client's interface that drops the server's replies (the SYN-ACK,
/// `tcp sport`): no rule of the tables read before stopped them, and the timeout was `filtered`
/// with the advice to check the server's firewall. It is this host's own rule, named with its
/// handle, and the `nft delete rule` it gives makes the port connect.
#[test]
fn a_netdev_ingress_rule_that_drops_the_replies_is_blocked_locally() {
    let Some(lab) = Lab::or_skip_needing(
        "a_netdev_ingress_rule_that_drops_the_replies_is_blocked_locally",
        &[Tool::Nft],
    ) else {
        return;
    };
    let _open = lab
        .server
        .run(|| ListenSpec::new(Lab::server_addr(Family::V4, 47301)).listen())
        .unwrap()
        .unwrap();
    lab.client
        .nft(
            "table netdev f {
                chain in { type filter hook ingress device eth0 priority 0; policy accept;
                    tcp sport 47301 drop
                }
            }",
        )
        .unwrap();
    let target = Lab::server_addr(Family::V4, 47301).to_string();
    let report = why_alone(&lab, &["--timeout", "2s", &target]);
    assert_eq!(report["cause"], "blocked-locally", "{report}");
    let rule = first_evidence(&report, "firewall-rule");
    assert_eq!(rule["table"], "netdev f", "{report}");
    assert_eq!(rule["hook"], "ingress", "{report}");
    assert_eq!(rule["stops"], "reply", "{report}");
    assert_eq!(rule["rule"], "tcp sport 47301 drop", "{report}");
    let handle = rule["handle"].as_u64().unwrap();
    let command = delete_command(&report);
    assert_eq!(
        command,
        format!("nft delete rule netdev f in handle {handle}")
    );
    run_on_client(&lab, &command);
    let report = why_alone(&lab, &["--timeout", "2s", &target]);
    assert_eq!(report["cause"], "reachable", "{report}");
}

/// The same at the `egress` hook (Linux 5.16 and later): the SYN never leaves the host.
/// A chain attached to another device (`lo`) is not met by it.
#[test]
fn a_netdev_egress_rule_that_drops_the_request_is_blocked_locally() {
    let Some(lab) = Lab::or_skip_needing(
        "a_netdev_egress_rule_that_drops_the_request_is_blocked_locally",
        &[Tool::Nft],
    ) else {
        return;
    };
    let _open = lab
        .server
        .run(|| ListenSpec::new(Lab::server_addr(Family::V4, 47302)).listen())
        .unwrap()
        .unwrap();
    lab.client
        .nft(
            "table netdev f {
                chain other { type filter hook egress device lo priority -10; policy drop; }
                chain out { type filter hook egress device eth0 priority 0; policy accept;
                    ip daddr 10.77.0.2 tcp dport 47302 drop
                }
            }",
        )
        .unwrap();
    let target = Lab::server_addr(Family::V4, 47302).to_string();
    let report = why_alone(&lab, &["--timeout", "2s", &target]);
    assert_eq!(report["cause"], "blocked-locally", "{report}");
    let rule = first_evidence(&report, "firewall-rule");
    assert_eq!(rule["hook"], "egress", "{report}");
    assert_eq!(rule["chain"], "out", "{report}");
    assert_eq!(rule["stops"], "request", "{report}");
    assert_eq!(rule["certain"], true, "{report}");
    let evidence = report["evidence"].as_array().unwrap();
    assert!(
        !evidence.iter().any(|e| e["chain"] == "other"),
        "a chain of `lo` named: {report}"
    );
    run_on_client(&lab, &delete_command(&report));
    let report = why_alone(&lab, &["--timeout", "2s", &target]);
    assert_eq!(report["cause"], "reachable", "{report}");
}

/// A `bridge` table's chains are named input and output too, but see only what a bridge of
/// this host passes: on a client with no bridge, the server's own drop is `filtered`, and the
/// bridge rule that would stop the packets were it an `inet` one is not blamed.
#[test]
fn a_bridge_tables_rules_are_not_blamed_for_a_remote_drop() {
    let Some(lab) = Lab::or_skip_needing(
        "a_bridge_tables_rules_are_not_blamed_for_a_remote_drop",
        &[Tool::Nft],
    ) else {
        return;
    };
    let _open = lab
        .server
        .run(|| ListenSpec::new(Lab::server_addr(Family::V4, 47303)).listen())
        .unwrap()
        .unwrap();
    lab.server
        .filter("input", &["tcp dport 47303 drop"])
        .unwrap();
    lab.client
        .nft(
            "table bridge b {
                chain input { type filter hook input priority 0; tcp sport 47303 drop; }
                chain output { type filter hook output priority 0; tcp dport 47303 drop; }
            }",
        )
        .unwrap();
    let target = Lab::server_addr(Family::V4, 47303).to_string();
    let report = why_alone(&lab, &["--timeout", "2s", &target]);
    assert_eq!(report["cause"], "filtered", "{report}");
    assert!(
        !report["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "firewall-rule"),
        "{report}"
    );
    assert!(!suggests(&report, "bridge"), "{report}");
}

/// A `tc` qdisc on the client's interface that drops everything it is given (a token bucket
/// smaller than any packet): the SYN never leaves. It said `filtered`, sending the person to
/// the server's firewall alone; the qdisc and its drop counter are named now, with the command
/// that removes it, first among the fixes. The cause stays `filtered`: the counter covers
/// every connection's packets, so it names a candidate.
#[test]
fn a_tc_qdisc_that_drops_on_the_routes_interface_is_named() {
    let Some(lab) = Lab::or_skip("a_tc_qdisc_that_drops_on_the_routes_interface_is_named") else {
        return;
    };
    let _open = lab
        .server
        .run(|| ListenSpec::new(Lab::server_addr(Family::V4, 47310)).listen())
        .unwrap()
        .unwrap();
    // A bucket of 40 bytes: every frame is larger, and tbf drops it.
    lab.client
        .exec(
            "tc",
            &[
                "qdisc", "add", "dev", "eth0", "root", "tbf", "rate", "8bit", "burst", "40",
                "limit", "1",
            ],
        )
        .unwrap();
    let target = Lab::server_addr(Family::V4, 47310).to_string();
    let report = why_alone(&lab, &["--timeout", "2s", &target]);
    assert_eq!(report["cause"], "filtered", "{report}");
    let dropper = first_evidence(&report, "dropper");
    assert_eq!(dropper["device"], "eth0", "{report}");
    assert_eq!(dropper["what"], "qdisc", "{report}");
    assert_eq!(dropper["name"], "tbf", "{report}");
    assert_eq!(dropper["direction"], "egress", "{report}");
    assert!(dropper["dropped"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(dropper["remove"], "tc qdisc del dev eth0 root", "{report}");
    let first = report["suggestions"][0].as_str().unwrap();
    assert!(first.contains("`tc qdisc del dev eth0 root`"), "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("this host itself drops packets on eth0"),
        "{report}"
    );
    // The fix it gives works.
    let words: Vec<&str> = "qdisc del dev eth0 root".split(' ').collect();
    lab.client.exec("tc", &words).unwrap();
    let report = why_alone(&lab, &["--timeout", "2s", &target]);
    assert_eq!(report["cause"], "reachable", "{report}");
}

/// A refusal reads no `tc` state (it is never the cause there), and a timeout with nothing on
/// the interface names nothing.
#[test]
fn a_timeout_with_nothing_on_the_interface_names_no_dropper() {
    let Some(lab) = Lab::or_skip_needing(
        "a_timeout_with_nothing_on_the_interface_names_no_dropper",
        &[Tool::Nft],
    ) else {
        return;
    };
    lab.server
        .filter("input", &["tcp dport 47311 drop"])
        .unwrap();
    let target = Lab::server_addr(Family::V4, 47311).to_string();
    let report = why_alone(&lab, &["--timeout", "2s", &target]);
    assert_eq!(report["cause"], "filtered", "{report}");
    assert!(
        !report["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "dropper"),
        "{report}"
    );
}

/// An XDP program on the client's interface that drops every packet coming in: the server's
/// replies, ARP's included, never reach the host. It said `filtered` or `host-unreachable`
/// ("nobody on the local network has it"), both about the other side; the program is named
/// now (XDP counts its drops nowhere we read: a candidate, with the command that detaches it).
#[test]
fn an_xdp_program_on_the_routes_interface_is_named() {
    let Some(lab) = Lab::or_skip("an_xdp_program_on_the_routes_interface_is_named") else {
        return;
    };
    let _open = lab
        .server
        .run(|| ListenSpec::new(Lab::server_addr(Family::V4, 47320)).listen())
        .unwrap()
        .unwrap();
    let xdp = lab.client.xdp_drop("eth0").unwrap();
    let target = Lab::server_addr(Family::V4, 47320).to_string();
    let report = why_alone(&lab, &["--timeout", "2s", &target]);
    let cause = report["cause"].as_str().unwrap();
    assert!(matches!(cause, "filtered" | "host-unreachable"), "{report}");
    let dropper = first_evidence(&report, "dropper");
    assert_eq!(dropper["what"], "xdp", "{report}");
    assert_eq!(dropper["name"], "generic", "{report}");
    assert_eq!(dropper["device"], "eth0", "{report}");
    assert!(dropper["program"].as_u64().is_some(), "{report}");
    assert!(
        suggests(&report, "`ip link set dev eth0 xdpgeneric off`"),
        "{report}"
    );
    // Detached, the port connects.
    drop(xdp);
    let report = why_alone(&lab, &["--timeout", "2s", &target]);
    assert_eq!(report["cause"], "reachable", "{report}");
}

/// A netdev allow-list on the client's interface (`policy drop`, ARP and ssh let in): the
/// replies from port 47304 meet the policy. Its `arp` line read as "may match", so the policy
/// was only a warning on `filtered`; and the fix offered, `ct state established,related
/// accept`, is refused by nft in a netdev table (no conntrack before ingress). It is
/// `blocked-locally` now, with a fix by source address and port that works.
#[test]
fn a_netdev_allow_list_that_drops_the_replies_gets_a_fix_that_works() {
    let Some(lab) = Lab::or_skip_needing(
        "a_netdev_allow_list_that_drops_the_replies_gets_a_fix_that_works",
        &[Tool::Nft],
    ) else {
        return;
    };
    let _open = lab
        .server
        .run(|| ListenSpec::new(Lab::server_addr(Family::V4, 47304)).listen())
        .unwrap()
        .unwrap();
    lab.client
        .nft(
            "table netdev f {
                chain in { type filter hook ingress device eth0 priority 0; policy drop;
                    arp operation reply accept
                    tcp sport 22 accept
                }
            }",
        )
        .unwrap();
    let target = Lab::server_addr(Family::V4, 47304).to_string();
    let report = why_alone(&lab, &["--timeout", "2s", &target]);
    assert_eq!(report["cause"], "blocked-locally", "{report}");
    let rule = first_evidence(&report, "firewall-rule");
    assert_eq!(rule["rule"], "policy drop", "{report}");
    assert_eq!(rule["certain"], true, "{report}");
    let command = command_with(&report, "nft insert rule");
    assert_eq!(
        command,
        "nft insert rule netdev f in ip saddr 10.77.0.2 tcp sport 47304 accept"
    );
    run_on_client(&lab, &command);
    let report = why_alone(&lab, &["--timeout", "2s", &target]);
    assert_eq!(report["cause"], "reachable", "{report}");
}

/// The client's address on a bridge that holds its interface (a Proxmox or libvirt host's
/// `vmbr0`), and a `bridge` table whose input chain drops the server's replies (ebtables'
/// `INPUT`): frames the bridge delivers to the host meet it. It was never read, and the
/// timeout was `filtered`, blamed on the server; it is this host's rule now. The same table
/// on a host without a bridge is never blamed (above).
#[test]
fn a_bridge_tables_rule_on_the_routes_bridge_is_blocked_locally() {
    let Some(lab) = Lab::or_skip_needing(
        "a_bridge_tables_rule_on_the_routes_bridge_is_blocked_locally",
        &[Tool::Nft],
    ) else {
        return;
    };
    let _open = lab
        .server
        .run(|| ListenSpec::new(Lab::server_addr(Family::V4, 47305)).listen())
        .unwrap()
        .unwrap();
    let c = &lab.client;
    c.ip(&["link", "add", "br0", "type", "bridge"]).unwrap();
    c.ip(&["link", "set", "eth0", "master", "br0"]).unwrap();
    c.ip(&["addr", "flush", "dev", "eth0"]).unwrap();
    c.ip(&["addr", "add", "10.77.0.1/24", "dev", "br0"])
        .unwrap();
    c.ip(&["link", "set", "br0", "up"]).unwrap();
    c.nft(
        "table bridge b {
            chain input { type filter hook input priority 0; policy accept;
                ip saddr 10.77.0.2 tcp sport 47305 drop
            }
        }",
    )
    .unwrap();
    let target = Lab::server_addr(Family::V4, 47305).to_string();
    let report = why_alone(&lab, &["--timeout", "2s", &target]);
    assert_eq!(report["cause"], "blocked-locally", "{report}");
    let rule = first_evidence(&report, "firewall-rule");
    assert_eq!(rule["table"], "bridge b", "{report}");
    assert_eq!(rule["hook"], "input", "{report}");
    assert_eq!(rule["stops"], "reply", "{report}");
    assert_eq!(rule["certain"], true, "{report}");
    run_on_client(&lab, &delete_command(&report));
    let report = why_alone(&lab, &["--timeout", "2s", &target]);
    assert_eq!(report["cause"], "reachable", "{report}");
}
