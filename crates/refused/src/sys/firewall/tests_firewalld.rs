//! The evaluator on firewalld's own rulesets (`tests/fixtures/firewall/firewalld*`, made by
//! the real firewalld in a namespace by `make.sh`): the nftables backend's table `inet
//! firewalld` and the iptables backend's chains, through iptables-nft and iptables-legacy.

use super::tests::{arriving_by_eth0, legacy_made_by, made_by};
use super::*;

fn nftables_backend() -> Value {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/firewall/");
    let json = std::fs::read_to_string(format!("{dir}firewalld.json")).unwrap();
    serde_json::from_str(&json).unwrap()
}

/// A SYN for this host's `dst`:`dport` from `src`, arriving by `eth0`.
fn from(src: &str, dst: &str, dport: u16) -> Packet {
    Packet {
        src: Some(src.parse().unwrap()),
        dst: dst.parse().unwrap(),
        ..arriving_by_eth0(dport)
    }
}

/// What the first blocker of a packet is: its tool, table, path and rule.
fn first(found: &[Blocker]) -> (Tool, &str, Vec<&str>, &str, Verdict) {
    let b = &found[0];
    let path = b.path.iter().map(String::as_str).collect();
    (b.tool, b.table.as_str(), path, b.rule.as_str(), b.verdict)
}

const ZONES: [&str; 2] = ["filter_INPUT", "filter_INPUT_ZONES"];

#[test]
fn the_nftables_backends_rules_are_firewallds_with_the_zone_in_the_chain() {
    let ruleset = nftables_backend();
    let at = |src, port| blockers(&ruleset, Hook::Input, &from(src, "10.77.0.1", port));
    // The default zone's target: what it does not open, it rejects.
    let default = at("10.77.0.9", 46110);
    assert_eq!(
        first(&default),
        (
            Tool::Firewalld,
            "inet firewalld",
            vec![ZONES[0], ZONES[1], "filter_IN_public"],
            "reject with icmpx admin-prohibited",
            Verdict::Reject
        )
    );
    // `ct status dnat accept` comes first: a packet whose destination was not translated
    // passes it, and the reject is certain.
    assert!(default[0].matches && default[0].certain, "{default:?}");
    assert_eq!(default[0].handle, Some(72));
    // A translated one is accepted there; one of unknown status may be, so the reject is
    // only probable.
    let translated = Packet {
        dnat: Some(true),
        ..from("10.77.0.9", "10.77.0.1", 46110)
    };
    assert!(blockers(&ruleset, Hook::Input, &translated).is_empty());
    let unknown = Packet {
        dnat: None,
        ..from("10.77.0.9", "10.77.0.1", 46110)
    };
    let unsure = blockers(&ruleset, Hook::Input, &unknown);
    assert!(unsure[0].matches && !unsure[0].certain, "{unsure:?}");
    // filter_INPUT's own last reject is never met: the zones' chains end the packet's way.
    assert_eq!(default.len(), 1, "{default:?}");
    // What the zone opens: a port, a service, ssh.
    for open in [46101, 5432, 22] {
        let found = at("10.77.0.9", open);
        assert!(found.is_empty(), "{open}: {found:?}");
    }
    // Rich rules: a reject from one network, a drop of a port.
    let rich = at("10.99.0.5", 46102);
    assert_eq!(
        first(&rich),
        (
            Tool::Firewalld,
            "inet firewalld",
            vec![
                ZONES[0],
                ZONES[1],
                "filter_IN_public",
                "filter_IN_public_deny"
            ],
            "ip saddr 10.99.0.0/24 tcp dport 46102 reject with icmp port-unreachable",
            Verdict::Reject
        )
    );
    assert_eq!(at("10.77.0.9", 46102)[0].chain, "filter_IN_public");
    let dropped = at("10.77.0.9", 46103);
    assert_eq!(
        (dropped[0].chain.as_str(), dropped[0].rule.as_str()),
        ("filter_IN_public_deny", "tcp dport 46103 drop")
    );
    // Sources in the zones `drop` (target DROP) and `block` (target REJECT).
    let drop = at("10.88.0.5", 22);
    assert_eq!(
        (
            drop[0].chain.as_str(),
            drop[0].rule.as_str(),
            drop[0].verdict
        ),
        ("filter_IN_drop", "drop", Verdict::Drop)
    );
    let block = at("10.66.0.5", 22);
    assert_eq!(
        (block[0].chain.as_str(), block[0].rule.as_str()),
        ("filter_IN_block", "reject with icmpx admin-prohibited")
    );
    // IPv6 goes the same way; loopback is accepted.
    let v6 = blockers(
        &ruleset,
        Hook::Input,
        &from("fd00:77::9", "fd00:77::1", 46110),
    );
    assert_eq!(v6[0].chain, "filter_IN_public");
    let lo = Packet {
        iif: Interface::Named("lo".to_owned()),
        ..from("10.77.0.1", "10.77.0.1", 46110)
    };
    assert!(blockers(&ruleset, Hook::Input, &lo).is_empty());
}

#[test]
fn the_iptables_backends_zone_chains_are_firewallds_its_builtin_chains_are_not() {
    for (ruleset, tool) in [
        (made_by("firewalld_iptables"), Tool::Iptables),
        (legacy_made_by("firewalld_iptables"), Tool::IptablesLegacy),
    ] {
        // A rule in INPUT itself may be the user's `iptables -I INPUT`: iptables' own. (The
        // `lo` packet's way ends at INPUT's `-i lo -j ACCEPT`, before any.)
        let lo = Packet {
            iif: Interface::Named("lo".to_owned()),
            ..from("10.77.0.1", "10.77.0.1", 46110)
        };
        assert!(blockers(&ruleset, Hook::Input, &lo).is_empty());
        let invalid = Packet {
            state: CtState::Invalid,
            ..from("10.77.0.9", "10.77.0.1", 46110)
        };
        let found = blockers(&ruleset, Hook::Input, &invalid);
        assert_eq!((found[0].chain.as_str(), found[0].tool), ("INPUT", tool));
        let at = |src, port| blockers(&ruleset, Hook::Input, &from(src, "10.77.0.1", port));
        let default = at("10.77.0.9", 46110);
        let (found_tool, table, path, _, verdict) = first(&default);
        assert_eq!(
            (found_tool, table, path, verdict),
            (
                Tool::Firewalld,
                "ip filter",
                vec!["INPUT", "INPUT_ZONES", "IN_public"],
                Verdict::Reject
            )
        );
        assert_eq!(default.len(), 1, "{default:?}");
        let rich = at("10.99.0.5", 46102);
        assert_eq!(
            (rich[0].chain.as_str(), rich[0].tool, rich[0].position),
            ("IN_public_deny", Tool::Firewalld, Some(1))
        );
        let drop = at("10.88.0.5", 22);
        assert_eq!(
            (drop[0].chain.as_str(), drop[0].tool, drop[0].verdict),
            ("IN_drop", Tool::Firewalld, Verdict::Drop)
        );
        assert!(at("10.77.0.9", 46101).is_empty());
        let v6 = blockers(
            &ruleset,
            Hook::Input,
            &from("fd00:77::9", "fd00:77::1", 46110),
        );
        assert_eq!(
            (v6[0].table.as_str(), v6[0].chain.as_str(), v6[0].tool),
            ("ip6 filter", "IN_public", Tool::Firewalld)
        );
    }
}

#[test]
fn a_chain_named_like_firewallds_without_its_tables_is_not_firewallds() {
    // `IN_public` in a table without firewalld's INPUT_ZONES: a user's chain.
    let save = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        :IN_public - [0:0]\n-A INPUT -j IN_public\n-A IN_public -p tcp -m tcp --dport 80 -j DROP\n\
        COMMIT\n";
    let ruleset = with_legacy(
        Value::Null,
        vec![legacy::translate(save, "ip", Tool::IptablesLegacy)],
    );
    let found = blockers(&ruleset, Hook::Input, &arriving_by_eth0(80));
    assert_eq!(found[0].tool, Tool::IptablesLegacy);
    // An nft table of another name is nft's.
    let nft = serde_json::json!({"nftables": [
        {"chain": {"family": "inet", "table": "filter", "name": "filter_IN_public", "type": "filter",
                   "hook": "input", "prio": 0, "policy": "accept"}},
        {"rule": {"family": "inet", "table": "filter", "chain": "filter_IN_public", "handle": 2,
                  "expr": [{"drop": null}]}}
    ]});
    assert_eq!(
        blockers(&nft, Hook::Input, &arriving_by_eth0(80))[0].tool,
        Tool::Nft
    );
}

/// A chain of the user's (or Docker's, kube-proxy's) jumped to from INPUT in a table of
/// firewalld's iptables backend is not firewalld's: changed with iptables, not firewall-cmd.
#[test]
fn a_users_chain_beside_firewallds_iptables_backend_is_not_firewallds() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/firewall/");
    let save = std::fs::read_to_string(format!("{dir}firewalld_iptables.legacy4")).unwrap();
    let first = save.find("\n-A INPUT ").unwrap() + 1;
    let mine =
        ":MYCHAIN - [0:0]\n-A INPUT -j MYCHAIN\n-A MYCHAIN -p tcp -m tcp --dport 5432 -j DROP\n";
    let save = format!("{}{mine}{}", &save[..first], &save[first..]);
    let ruleset = with_legacy(
        Value::Null,
        vec![legacy::translate(&save, "ip", Tool::IptablesLegacy)],
    );
    let found = blockers(&ruleset, Hook::Input, &from("10.77.0.9", "10.77.0.1", 5432));
    assert_eq!(
        (found[0].chain.as_str(), found[0].tool),
        ("MYCHAIN", Tool::IptablesLegacy),
        "{found:?}"
    );
    // firewalld's own zone chains stay its own.
    let zone = blockers(
        &ruleset,
        Hook::Input,
        &from("10.77.0.9", "10.77.0.1", 46110),
    );
    assert_eq!(zone[0].tool, Tool::Firewalld, "{zone:?}");
}
