//! The evaluator on chains attached to devices (`netdev` tables, an `inet` table's ingress)
//! and on a `bridge` table, whose chains never see our packets.

use super::tests::syn;
use super::*;

/// The chains attached to devices of `tests/fixtures/firewall/nft_devices.json`, their
/// devices read from the listing as `read_ruleset` does (nft 1.0.6's JSON leaves them out).
fn devices() -> Value {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/firewall/");
    let json = std::fs::read_to_string(format!("{dir}nft_devices.json")).unwrap();
    let listing = std::fs::read_to_string(format!("{dir}nft_devices.txt")).unwrap();
    let mut ruleset: Value = serde_json::from_str(&json).unwrap();
    assert!(netdev::lacks_devices(&ruleset));
    netdev::add_devices(&mut ruleset, &listing);
    ruleset
}

#[test]
fn a_netdev_chain_stops_the_packets_of_its_own_devices() {
    let ruleset = devices();
    // The SYN leaves by eth0: the egress chain of eth0 drops it.
    let found = blockers(&ruleset, Hook::Egress, &syn("10.77.0.2", 81));
    assert_eq!(
        rules(&found),
        [("ip daddr 10.77.0.2 tcp dport 81 drop", true)]
    );
    assert_eq!(found[0].table, "netdev f");
    assert_eq!(found[0].hook, Hook::Egress);
    assert_eq!(found[0].handle, Some(4));
    assert_eq!(found[0].tool, Tool::Nft);
    assert!(blockers(&ruleset, Hook::Egress, &syn("10.77.0.3", 81)).is_empty());
    // Leaving by another interface, or one not known: not that chain's.
    let by = |oif| Packet {
        oif,
        ..syn("10.77.0.2", 81)
    };
    assert!(blockers(&ruleset, Hook::Egress, &by(Interface::Named("eth1".into()))).is_empty());
    assert!(blockers(&ruleset, Hook::Egress, &by(Interface::Unknown)).is_empty());
    // The reply comes in by eth0: the netdev chain of eth0 and lo, and the inet one of eth0.
    let reply = |sport| syn("10.77.0.2", sport).reply().unwrap();
    let found = blockers(&ruleset, Hook::Ingress, &reply(80));
    assert_eq!(rules(&found), [("tcp sport 80 drop", true)]);
    assert_eq!(found[0].stops, Stops::Reply);
    let found = blockers(&ruleset, Hook::Ingress, &reply(82));
    assert_eq!(rules(&found), [("tcp sport 82 drop", true)]);
    assert_eq!(found[0].table, "inet i");
    // An IPv6 reply meets the netdev chain too: it sees both families.
    let six = syn("fd00:77::2", 80).reply().unwrap();
    assert_eq!(
        rules(&blockers(&ruleset, Hook::Ingress, &six)),
        [("tcp sport 80 drop", true)]
    );
}

#[test]
fn a_bridge_tables_chains_never_stop_our_packets() {
    // `table bridge b` drops tcp port 83 at its input and output hooks, which see only what a
    // bridge of this host passes, never a packet this host sends or receives itself.
    let ruleset = devices();
    for hook in [Hook::Output, Hook::Egress] {
        assert!(blockers(&ruleset, hook, &syn("10.77.0.2", 83)).is_empty());
    }
    let reply = syn("10.77.0.2", 83).reply().unwrap();
    for hook in [Hook::Ingress, Hook::Prerouting, Hook::Input] {
        assert!(blockers(&ruleset, hook, &reply).is_empty());
    }
    // Nor do the device chains at the hooks of the inet tables.
    assert!(blockers(&ruleset, Hook::Output, &syn("10.77.0.2", 81)).is_empty());
    assert!(
        blockers(
            &ruleset,
            Hook::Input,
            &syn("10.77.0.2", 80).reply().unwrap()
        )
        .is_empty()
    );
}

fn rules(found: &[Blocker]) -> Vec<(&str, bool)> {
    found.iter().map(|b| (b.rule.as_str(), b.certain)).collect()
}

#[test]
fn arp_matches_never_hold_for_our_packets_and_the_ethertype_is_ip() {
    // A netdev allow-list (nft's JSON for `policy drop; arp operation reply accept; meta
    // protocol arp accept; ether type arp accept; tcp sport 22 accept`): a reply from port 80
    // meets the policy, for sure; one from port 22 is accepted.
    let rule = |expr: Value| serde_json::json!({"rule": {"family": "netdev", "table": "f", "chain": "in", "handle": 9, "expr": expr}});
    let ruleset = serde_json::json!({"nftables": [
        {"chain": {"family": "netdev", "table": "f", "name": "in", "handle": 1, "type": "filter", "hook": "ingress", "prio": 0, "policy": "drop", "dev": "eth0"}},
        rule(serde_json::json!([{"match": {"op": "==", "left": {"payload": {"protocol": "arp", "field": "operation"}}, "right": "reply"}}, {"accept": null}])),
        rule(serde_json::json!([{"match": {"op": "==", "left": {"meta": {"key": "protocol"}}, "right": "arp"}}, {"accept": null}])),
        rule(serde_json::json!([{"match": {"op": "==", "left": {"payload": {"protocol": "ether", "field": "type"}}, "right": "arp"}}, {"accept": null}])),
        rule(serde_json::json!([{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "sport"}}, "right": 22}}, {"accept": null}])),
    ]});
    let reply = |sport| syn("10.77.0.2", sport).reply().unwrap();
    assert_eq!(
        rules(&blockers(&ruleset, Hook::Ingress, &reply(80))),
        [("policy drop", true)]
    );
    assert!(blockers(&ruleset, Hook::Ingress, &reply(22)).is_empty());
}

#[test]
fn a_bridge_tables_chains_stop_what_goes_through_a_bridge() {
    // When the route's interface is a bridge (the caller asks), `table bridge b`'s input and
    // output chains see the reply and the SYN.
    let ruleset = devices();
    let found = blockers(&ruleset, Hook::BridgeOutput, &syn("10.77.0.2", 83));
    assert_eq!(rules(&found), [("tcp dport 83 drop", true)]);
    assert_eq!(found[0].table, "bridge b");
    assert_eq!(found[0].hook, Hook::BridgeOutput);
    let reply = syn("10.77.0.2", 83).reply().unwrap();
    let found = blockers(&ruleset, Hook::BridgeInput, &reply);
    assert_eq!(rules(&found), [("tcp sport 83 drop", true)]);
    assert_eq!(found[0].stops, Stops::Reply);
    // Its JSON names the hook as nft does; the table's family tells it is a bridge's.
    assert_eq!(serde_json::to_value(found[0].hook).unwrap(), "input");
    // The host's own chains are not walked again there.
    assert!(
        blockers(
            &ruleset,
            Hook::BridgeInput,
            &syn("10.77.0.2", 80).reply().unwrap()
        )
        .is_empty()
    );
    assert!(Indexed::new(&ruleset).has_bridge_chains());
}

#[test]
fn a_bridge_chains_ct_state_and_ports_are_not_known() {
    // Whether conntrack saw an arriving frame depends on `br_netfilter`; which port of the
    // bridge it came by is not known: neither decides.
    let rule = |expr: Value| serde_json::json!({"rule": {"family": "bridge", "table": "b", "chain": "input", "handle": 3, "expr": expr}});
    let ruleset = serde_json::json!({"nftables": [
        {"chain": {"family": "bridge", "table": "b", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
        rule(serde_json::json!([{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established"]}}, {"accept": null}])),
        rule(serde_json::json!([{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth0"}}, {"drop": null}])),
    ]});
    let reply = syn("10.77.0.2", 80).reply().unwrap();
    let found = blockers(&ruleset, Hook::BridgeInput, &reply);
    assert_eq!(rules(&found), [(r#"iifname "eth0" drop"#, false)]);
}

#[test]
fn ebtables_ip_match_is_read_from_the_listing() {
    // `ebtables -A INPUT -p IPv4 --ip-src 10.130.0.0/28 --ip-proto tcp --ip-sport 80 -j DROP`,
    // as ebtables-nft makes it and nft 1.0.6 lists it.
    let mut ruleset = serde_json::json!({"nftables": [
        {"chain": {"family": "bridge", "table": "filter", "name": "INPUT", "handle": 1, "type": "filter", "hook": "input", "prio": -200, "policy": "accept"}},
        {"rule": {"family": "bridge", "table": "filter", "chain": "INPUT", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ether", "field": "type"}}, "right": "ip"}}, {"xt": {"type": "match", "name": "ip"}}, {"counter": {"packets": 0, "bytes": 0}}, {"drop": null}]}},
    ]});
    let listing = "table bridge filter { # handle 20
	chain INPUT { # handle 1
		type filter hook input priority filter; policy accept;
		ether type ip ip saddr 10.130.0.0/28 tcp sport 80 counter drop # handle 2
	}
}
";
    assert!(xt::has_xt(&ruleset));
    xt::translate(&mut ruleset, listing);
    let reply = |src: &str, sport| Packet {
        src: Some(src.parse().unwrap()),
        sport: Some(sport),
        ..syn("10.77.0.1", 40000).reply().unwrap()
    };
    let found = blockers(&ruleset, Hook::BridgeInput, &reply("10.130.0.2", 80));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].certain);
    assert!(blockers(&ruleset, Hook::BridgeInput, &reply("10.130.0.99", 80)).is_empty());
    assert!(blockers(&ruleset, Hook::BridgeInput, &reply("10.130.0.2", 81)).is_empty());
}
