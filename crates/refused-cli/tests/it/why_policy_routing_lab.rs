//! `refused why --json` on a client whose traffic policy routing sends elsewhere than its main
//! table says: wg-quick's rules (`not fwmark 51820 table 51820`, the main table's default route
//! suppressed), a rule that selects on the TCP port, and rules whose own action rejects. The
//! client is a machine of its own; its second link, `wg0`, leads to a host of the lab that
//! plays the tunnel's far end and the server. Ports 46400-46499 and addresses 10.247.0.0/16 are
//! this file's.

use refused_lab::{Lab, Netns, SERVER_V4, Tool};
use serde_json::Value;

use crate::why_lab::{cause, evidence, why_alone as why};

/// The server behind the tunnel.
const SERVER: &str = "10.247.12.2";
/// The client's end of `wg0`, and the far end's.
const CLIENT_WG: &str = "10.247.14.2";
const PEER_WG: &str = "10.247.14.1";

/// The lab's client with wg-quick's routing: its main table's default route goes by `eth0`
/// (to the lab's server), and wg-quick's rules send everything else by `wg0`, a link to the
/// returned host, which holds [`SERVER`].
fn tunnelled(lab: &Lab) -> Netns {
    let far = lab.another('w').unwrap();
    lab.client.veth("wg0", &far, "eth0").unwrap();
    let c = &lab.client;
    c.ip(&["addr", "add", &format!("{CLIENT_WG}/24"), "dev", "wg0"])
        .unwrap();
    c.ip(&["link", "set", "wg0", "up"]).unwrap();
    c.ip(&["route", "add", "default", "via", &SERVER_V4.to_string()])
        .unwrap();
    c.ip(&[
        "route", "add", "default", "via", PEER_WG, "dev", "wg0", "table", "51820",
    ])
    .unwrap();
    // wg-quick's two rules, as `wg-quick up` adds them.
    c.ip(&["rule", "add", "not", "fwmark", "51820", "table", "51820"])
        .unwrap();
    c.ip(&["rule", "add", "table", "main", "suppress_prefixlength", "0"])
        .unwrap();
    far.ip(&["addr", "add", &format!("{PEER_WG}/24"), "dev", "eth0"])
        .unwrap();
    far.ip(&["addr", "add", &format!("{SERVER}/32"), "dev", "eth0"])
        .unwrap();
    far.ip(&["link", "set", "eth0", "up"]).unwrap();
    far
}

/// The firewall rules the report names.
fn rules_named(report: &Value) -> Vec<String> {
    evidence(report, "firewall-rule")
        .iter()
        .map(|rule| rule["rule"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The egress interface of the firewall's packet is the one the kernel's lookup gives, policy
/// rules included: a rule on `wg0` drops what goes by `wg0`, and one on `eth0` (the main table's
/// default route, which wg-quick's rules bypass) drops nothing of it.
#[test]
fn rules_on_the_tunnels_interface_are_judged_by_the_route_policy_routing_takes() {
    let Some(lab) = Lab::or_skip_needing(
        "rules_on_the_tunnels_interface_are_judged_by_the_route_policy_routing_takes",
        &[Tool::Nft],
    ) else {
        return;
    };
    let far = tunnelled(&lab);
    lab.client
        .filter(
            "output",
            &[
                "oifname \"wg0\" tcp dport 46401 drop",
                "oifname \"eth0\" tcp dport 46402 drop",
            ],
        )
        .unwrap();
    // The server drops 46402 itself: its silence is the path's, not this host's.
    far.filter("input", &["tcp dport 46402 drop"]).unwrap();

    let report = why(&lab, &["--timeout", "2s", &format!("{SERVER}:46401")]);
    assert_eq!(cause(&report), "blocked-locally", "{report}");
    let named = rules_named(&report);
    assert!(
        named.iter().any(|r| r.contains("oifname \"wg0\"")),
        "{report}"
    );
    assert!(!named.iter().any(|r| r.contains("eth0")), "{report}");

    let report = why(&lab, &["--timeout", "2s", &format!("{SERVER}:46402")]);
    assert_eq!(cause(&report), "filtered", "{report}");
    assert!(
        !rules_named(&report).iter().any(|r| r.contains("eth0")),
        "{report}"
    );
    drop(far);
}

/// The route lookup is the connection's: a rule that selects on the TCP port sends it to a
/// table whose route is `unreachable`. This host's own error (no ICMP came back), named with
/// the route and the rule, not a firewall on the server.
#[test]
fn a_rule_on_the_port_that_chooses_an_unreachable_route_is_named() {
    let Some(lab) = Lab::or_skip("a_rule_on_the_port_that_chooses_an_unreachable_route_is_named")
    else {
        return;
    };
    let far = tunnelled(&lab);
    let c = &lab.client;
    c.ip(&[
        "rule", "add", "pref", "100", "ipproto", "tcp", "dport", "46410", "table", "100",
    ])
    .unwrap();
    c.ip(&[
        "route",
        "add",
        "unreachable",
        "10.247.0.0/16",
        "table",
        "100",
    ])
    .unwrap();
    let report = why(&lab, &["--timeout", "2s", &format!("{SERVER}:46410")]);
    assert_eq!(cause(&report), "network-unreachable", "{report}");
    let route = evidence(&report, "route");
    assert_eq!(route.len(), 1, "{report}");
    assert_eq!(route[0]["type"], "unreachable", "{report}");
    assert_eq!(route[0]["destination"], "10.247.0.0/16", "{report}");
    assert_eq!(route[0]["table"], "100", "{report}");
    assert_eq!(
        route[0]["rule"],
        serde_json::json!({"priority": 100, "selector": "ipproto tcp dport 46410",
            "action": "lookup 100"}),
        "{report}"
    );
    let suggestions = report["suggestions"].to_string();
    assert!(
        suggestions.contains("ip route del unreachable 10.247.0.0/16 table 100"),
        "{report}"
    );
    // Another port is not chosen by the rule: it connects through the tunnel as before.
    let report = why(&lab, &["--timeout", "2s", &format!("{SERVER}:46411")]);
    assert_ne!(cause(&report), "network-unreachable", "{report}");
    assert!(evidence(&report, "route").is_empty(), "{report}");
    drop(far);
}

/// Rules of action `prohibit`, `unreachable` and `blackhole` are named as rules, with `ip rule
/// del`, one on the source address the connect picks included: no route is involved, and
/// adding one cannot help.
#[test]
fn policy_rules_that_reject_are_named_with_how_to_remove_them() {
    let Some(lab) = Lab::or_skip("policy_rules_that_reject_are_named_with_how_to_remove_them")
    else {
        return;
    };
    let far = tunnelled(&lab);
    let c = &lab.client;
    let rules = [
        (
            "10.247.9.0/24",
            "prohibit",
            "10.247.9.2:46420",
            "blocked-locally",
        ),
        (
            "10.247.8.0/24",
            "unreachable",
            "10.247.8.2:46421",
            "network-unreachable",
        ),
        (
            "10.247.7.0/24",
            "blackhole",
            "10.247.7.2:46422",
            "network-unreachable",
        ),
    ];
    for (pref, (to, action, target, expected)) in (200..).zip(rules) {
        c.ip(&["rule", "add", "pref", &pref.to_string(), "to", to, action])
            .unwrap();
        let report = why(&lab, &["--timeout", "2s", target]);
        assert_eq!(cause(&report), expected, "{target}: {report}");
        let route = evidence(&report, "route");
        assert_eq!(route.len(), 1, "{target}: {report}");
        assert_eq!(route[0]["type"], action, "{report}");
        assert_eq!(route[0]["destination"], Value::Null, "{report}");
        assert_eq!(
            route[0]["rule"],
            serde_json::json!({"priority": pref, "selector": format!("to {to}"),
                "action": action}),
            "{report}"
        );
        let suggestions = report["suggestions"].to_string();
        assert!(
            suggestions.contains(&format!("`ip rule del pref {pref} to {to} {action}`")),
            "{report}"
        );
        assert!(!suggestions.contains("ip route show"), "{report}");
        assert!(!suggestions.contains("add one"), "{report}");
        let summary = report["summary"].as_str().unwrap();
        assert!(
            summary.contains(&format!("policy rule `to {to} {action}`")),
            "{report}"
        );
    }

    // A rule on the source stops only the connect's second lookup, from the source the first
    // one picked (the tunnel's address): the kernel's own EACCES, not a rejection from the path.
    c.ip(&[
        "rule",
        "add",
        "pref",
        "300",
        "from",
        CLIENT_WG,
        "to",
        "10.247.12.0/24",
        "prohibit",
    ])
    .unwrap();
    let report = why(&lab, &["--timeout", "2s", &format!("{SERVER}:46430")]);
    assert_eq!(cause(&report), "blocked-locally", "{report}");
    let route = evidence(&report, "route");
    assert_eq!(route.len(), 1, "{report}");
    assert_eq!(
        route[0]["rule"]["selector"],
        format!("from {CLIENT_WG} to 10.247.12.0/24"),
        "{report}"
    );
    assert!(
        report["suggestions"].to_string().contains(&format!(
            "`ip rule del pref 300 from {CLIENT_WG} to 10.247.12.0/24 prohibit`"
        )),
        "{report}"
    );
    drop(far);
}
