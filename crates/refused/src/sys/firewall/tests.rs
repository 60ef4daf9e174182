//! The evaluator on rulesets made by nft, iptables and ufw (fixtures in `tests/fixtures/`).

use super::*;

const RULESET: &str = include_str!("../../../tests/fixtures/nft_ruleset.json");

fn ruleset() -> Value {
    serde_json::from_str(RULESET).unwrap()
}

fn to(dst: &str, dport: u16) -> Packet {
    Packet::outgoing(None, dst.parse().unwrap(), dport)
}

fn rules(found: &[Blocker]) -> Vec<(&str, bool)> {
    found.iter().map(|b| (b.rule.as_str(), b.certain)).collect()
}

#[test]
fn a_port_drop_stops_that_port_only() {
    let found = blockers(&ruleset(), Hook::Output, &to("10.1.2.3", 7001));
    assert_eq!(rules(&found), [("tcp dport 7001 drop", true)]);
    assert_eq!(found[0].table, "inet t");
    assert_eq!(found[0].verdict, Verdict::Drop);
    assert!(blockers(&ruleset(), Hook::Output, &to("10.1.2.3", 7002)).is_empty());
}

#[test]
fn address_sets_and_ranges_are_evaluated() {
    let found = blockers(&ruleset(), Hook::Output, &to("10.77.0.2", 443));
    assert_eq!(
        rules(&found),
        [(
            "ip daddr 10.77.0.2 tcp dport { 80, 443 } reject with icmp host-prohibited",
            true
        )]
    );
    assert!(blockers(&ruleset(), Hook::Output, &to("10.77.0.3", 443)).is_empty());
    let found = blockers(&ruleset(), Hook::Output, &to("fd00:77::5", 1500));
    assert_eq!(
        rules(&found),
        [(
            "ip6 daddr fd00:77::/64 tcp dport 1000-2000 reject with tcp reset",
            true
        )]
    );
    // An IPv4 packet never matches an ip6 match.
    assert!(blockers(&ruleset(), Hook::Output, &to("10.9.9.9", 1500)).is_empty());
}

#[test]
fn an_unknown_match_makes_a_rule_uncertain_and_an_accept_ends_the_chain() {
    let found = blockers(&ruleset(), Hook::Output, &to("10.1.2.3", 9999));
    assert_eq!(
        rules(&found),
        [(r#"oifname "eth9" tcp dport 9999 drop"#, false)]
    );
    // `tcp dport 5555 accept` comes before `tcp dport 5555 drop`.
    assert!(blockers(&ruleset(), Hook::Output, &to("10.1.2.3", 5555)).is_empty());
}

#[test]
fn a_drop_policy_stops_what_no_rule_accepts() {
    let new = to("127.0.0.1", 8080);
    assert_eq!(
        rules(&blockers(&ruleset(), Hook::Input, &new)),
        [("policy drop", true)]
    );
    let reply = Packet {
        state: CtState::Established,
        ..new
    };
    assert!(blockers(&ruleset(), Hook::Input, &reply).is_empty());
}

#[test]
fn junk_is_no_rules() {
    for junk in [
        "{}",
        "[]",
        r#"{"nftables": 3}"#,
        r#"{"nftables": [{"chain": 1}]}"#,
    ] {
        let value: Value = serde_json::from_str(junk).unwrap();
        assert!(blockers(&value, Hook::Output, &to("::1", 1)).is_empty());
    }
}

/// A fixture made by `tests/fixtures/firewall/make.sh`, its xt extensions translated as
/// `read_ruleset` does.
pub(super) fn made_by(name: &str) -> Value {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/firewall/");
    let json = std::fs::read_to_string(format!("{dir}{name}.json")).unwrap();
    let listing = std::fs::read_to_string(format!("{dir}{name}.txt")).unwrap();
    let mut ruleset: Value = serde_json::from_str(&json).unwrap();
    assert!(xt::has_xt(&ruleset));
    xt::translate(&mut ruleset, &listing);
    ruleset
}

/// The SYN this host sends to `dst:dport` from 10.77.0.1 (or `fd00:77::1`) by `eth0`.
pub(super) fn syn(dst: &str, dport: u16) -> Packet {
    let dst: IpAddr = dst.parse().unwrap();
    let src = if dst.is_ipv4() {
        "10.77.0.1"
    } else {
        "fd00:77::1"
    };
    Packet {
        oif: Interface::Named("eth0".to_owned()),
        dst_local: Some(false),
        ..Packet::outgoing(Some(src.parse().unwrap()), dst, dport)
    }
}

/// A SYN from 10.77.0.9 arriving by `eth0` for this host's 10.77.0.1 (PREROUTING's view).
pub(super) fn arriving_by_eth0(dport: u16) -> Packet {
    Packet {
        src: Some("10.77.0.9".parse().unwrap()),
        iif: Interface::Named("eth0".to_owned()),
        oif: Interface::None,
        src_local: Some(false),
        dst_local: Some(true),
        ..syn("10.77.0.1", dport)
    }
}

fn found(found: &[Blocker]) -> Vec<(&str, &str, Option<u64>, Verdict, bool)> {
    found
        .iter()
        .map(|b| {
            (
                b.chain.as_str(),
                b.rule.as_str(),
                b.handle,
                b.verdict,
                b.certain,
            )
        })
        .collect()
}

#[test]
fn iptables_user_chains_are_followed_from_output() {
    let ruleset = made_by("iptables");
    let drop = blockers(&ruleset, Hook::Output, &syn("10.77.0.2", 7201));
    assert_eq!(
        found(&drop),
        [(
            "APP-OUT",
            "meta l4proto tcp tcp dport { 7201, 7211 } drop",
            Some(27),
            Verdict::Drop,
            true
        )]
    );
    let b = &drop[0];
    assert_eq!(b.table, "ip filter");
    assert_eq!(b.path, ["OUTPUT", "APP-OUT"]);
    assert_eq!(
        (b.position, b.tool, b.stops),
        (Some(1), Tool::Iptables, Stops::Request)
    );
    // multiport's other port; and a port no rule names.
    assert_eq!(
        blockers(&ruleset, Hook::Output, &syn("10.77.0.2", 7211)).len(),
        1
    );
    assert!(blockers(&ruleset, Hook::Output, &syn("10.77.0.2", 7299)).is_empty());

    // The comment match does not make the rule uncertain.
    let reset = blockers(&ruleset, Hook::Output, &syn("10.77.0.2", 7202));
    assert_eq!(
        found(&reset),
        [(
            "APP-OUT",
            "tcp dport 7202 reject with tcp reset",
            Some(28),
            Verdict::Reject,
            true
        )]
    );
    let icmp = blockers(&ruleset, Hook::Output, &syn("10.77.0.2", 7203));
    assert_eq!(found(&icmp)[0].1, "tcp dport 7203 reject");
    assert_eq!(icmp[0].position, Some(3));

    // The interface is evaluated: out by eth0 it matches, out by another it does not, and
    // unknown it may.
    assert!(blockers(&ruleset, Hook::Output, &syn("10.77.0.2", 7205))[0].certain);
    let by_eth1 = Packet {
        oif: Interface::Named("eth1".to_owned()),
        ..syn("10.77.0.2", 7205)
    };
    assert!(blockers(&ruleset, Hook::Output, &by_eth1).is_empty());
    let unknown = Packet {
        oif: Interface::Unknown,
        ..syn("10.77.0.2", 7205)
    };
    // `oifname "lo" accept` comes first: with the interface unknown, nothing is certain.
    assert_eq!(
        found(&blockers(&ruleset, Hook::Output, &unknown)),
        [(
            "APP-OUT",
            r#"oifname "eth0" ip daddr 10.77.0.0/24 tcp dport 7205 drop"#,
            Some(30),
            Verdict::Drop,
            false
        )]
    );
}

#[test]
fn ip6tables_rules_stop_ipv6_only() {
    let ruleset = made_by("iptables");
    let found = blockers(&ruleset, Hook::Output, &syn("fd00:77::2", 7202));
    assert_eq!(found.len(), 1);
    assert_eq!(
        (
            found[0].table.as_str(),
            found[0].chain.as_str(),
            found[0].handle
        ),
        ("ip6 filter", "APP-OUT", Some(7))
    );
    assert!(found[0].certain);
    // 7203 is rejected over IPv4 only.
    assert!(blockers(&ruleset, Hook::Output, &syn("fd00:77::2", 7203)).is_empty());
}

#[test]
fn a_rule_against_the_replies_is_found_in_input() {
    let ruleset = made_by("iptables");
    let reply = syn("10.77.0.2", 7204).reply().unwrap();
    assert_eq!(reply.state, CtState::Established);
    let found = blockers(&ruleset, Hook::Input, &reply);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].stops, Stops::Reply);
    assert_eq!(found[0].path, ["INPUT", "APP-IN"]);
    assert!(found[0].certain);
    // The request itself is not what it stops; nor replies from another port.
    assert!(blockers(&ruleset, Hook::Output, &syn("10.77.0.2", 7204)).is_empty());
    let other = syn("10.77.0.2", 7207).reply().unwrap();
    assert!(blockers(&ruleset, Hook::Input, &other).is_empty());
    // A rate limit is not evaluated: the rule may drop.
    let limited = syn("10.77.0.2", 7206).reply().unwrap();
    let found = blockers(&ruleset, Hook::Input, &limited);
    assert_eq!(found.len(), 1);
    assert!(!found[0].certain);
}

#[test]
fn dockers_forward_chains_do_not_stop_what_this_host_sends() {
    let ruleset = made_by("iptables");
    // DOCKER-USER drops port 80 and DOCKER-ISOLATION-STAGE-2 drops by docker0: both are
    // reached from FORWARD, never by a packet of this host.
    let to_container = Packet {
        oif: Interface::Named("docker0".to_owned()),
        ..syn("172.17.0.2", 80)
    };
    assert!(blockers(&ruleset, Hook::Output, &to_container).is_empty());
}

#[test]
fn dockers_published_port_is_translated_by_its_dnat_rule() {
    let ruleset = made_by("iptables");
    // This host connecting to its own address, port 8080 (`-t nat OUTPUT ! -d 127.0.0.0/8
    // -m addrtype --dst-type LOCAL -j DOCKER`).
    let packet = Packet {
        dst_local: Some(true),
        oif: Interface::Named("lo".to_owned()),
        ..syn("10.77.0.1", 8080)
    };
    let found = dnat(&ruleset, NatHook::Output, &packet);
    assert_eq!(found.len(), 1, "{found:?}");
    let d = &found[0];
    assert_eq!(
        d.to,
        NatTo::Address {
            address: "172.17.0.2".parse().unwrap(),
            port: Some(80)
        }
    );
    assert_eq!(
        d.destination(&packet),
        Some("172.17.0.2:80".parse().unwrap())
    );
    assert_eq!(
        (d.table.as_str(), d.chain.as_str(), d.handle),
        ("ip nat", "DOCKER", Some(11))
    );
    assert_eq!(d.path, ["OUTPUT", "DOCKER"]);
    assert_eq!(
        d.rule,
        r#"iifname != "docker0" tcp dport 8080 dnat to 172.17.0.2:80"#
    );
    assert_eq!((d.position, d.tool), (Some(2), Tool::Iptables));
    assert!(d.certain);

    // 127.0.0.1 is left alone by Docker's OUTPUT rule (docker-proxy handles it).
    let loopback = Packet {
        dst_local: Some(true),
        ..syn("127.0.0.1", 8080)
    };
    assert!(dnat(&ruleset, NatHook::Output, &loopback).is_empty());
    // Whether the address is local is what decides: unknown, it may apply.
    let unknown = Packet {
        dst_local: None,
        ..packet.clone()
    };
    let found = dnat(&ruleset, NatHook::Output, &unknown);
    assert_eq!(found.len(), 1);
    assert!(!found[0].certain);
    // Another port of the same host is not published.
    assert!(
        dnat(
            &ruleset,
            NatHook::Output,
            &Packet {
                dport: Some(8081),
                ..packet
            }
        )
        .is_empty()
    );

    // Arriving from elsewhere (PREROUTING), by eth0: published; from docker0 itself: not.
    let arriving = arriving_by_eth0(8443);
    let found = dnat(&ruleset, NatHook::Prerouting, &arriving);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].path, ["PREROUTING", "DOCKER"]);
    assert_eq!(
        found[0].destination(&arriving),
        Some("172.17.0.3:443".parse().unwrap())
    );
    assert!(found[0].certain);
    let from_bridge = Packet {
        iif: Interface::Named("docker0".to_owned()),
        ..arriving
    };
    assert!(dnat(&ruleset, NatHook::Prerouting, &from_bridge).is_empty());
}

#[test]
fn ufw_rules_two_jumps_deep_are_found() {
    let ruleset = made_by("ufw");
    let deny = blockers(&ruleset, Hook::Output, &syn("10.77.0.2", 5555));
    assert_eq!(
        found(&deny),
        [(
            "ufw-user-output",
            "tcp dport 5555 drop",
            deny[0].handle,
            Verdict::Drop,
            true
        )]
    );
    assert_eq!(
        deny[0].path,
        ["OUTPUT", "ufw-before-output", "ufw-user-output"]
    );
    assert_eq!(deny[0].tool, Tool::Ufw);
    let reject = blockers(&ruleset, Hook::Output, &syn("10.77.0.2", 5556));
    assert_eq!(reject[0].rule, "tcp dport 5556 reject with tcp reset");
    assert!(reject[0].certain);
    // IPv6: ufw6-user-output.
    let v6 = blockers(&ruleset, Hook::Output, &syn("fd00:77::2", 5555));
    assert_eq!(
        v6[0].path,
        ["OUTPUT", "ufw6-before-output", "ufw6-user-output"]
    );
    assert!(v6[0].certain);

    // `ufw default reject outgoing`: what no rule allows is rejected by ufw-reject-output
    // (and never reaches the OUTPUT policy); `ufw allow out 53` lets 53 through.
    let default = blockers(&ruleset, Hook::Output, &syn("10.77.0.2", 7000));
    assert_eq!(
        found(&default),
        [(
            "ufw-reject-output",
            "reject",
            default[0].handle,
            Verdict::Reject,
            true
        )]
    );
    assert_eq!(default[0].tool, Tool::Ufw);
    assert!(blockers(&ruleset, Hook::Output, &syn("10.77.0.2", 53)).is_empty());

    // The replies are accepted (`ct state related,established` in ufw-before-input), though
    // INPUT's policy is drop; and loopback is let through.
    let reply = syn("10.77.0.2", 5000).reply().unwrap();
    assert!(blockers(&ruleset, Hook::Input, &reply).is_empty());
    let local = Packet {
        oif: Interface::Named("lo".to_owned()),
        dst_local: Some(true),
        ..syn("127.0.0.1", 5555)
    };
    assert!(blockers(&ruleset, Hook::Output, &local).is_empty());
}

#[test]
fn verdict_maps_named_sets_and_goto_are_followed() {
    let ruleset: Value = serde_json::from_str(include_str!(
        "../../../tests/fixtures/firewall/nft_maps.json"
    ))
    .unwrap();
    // `ct state vmap { established : accept, ... }`: a new connection goes on.
    let to = |dst: &str, port| Packet {
        oif: Interface::Named("eth0".to_owned()),
        dst_local: Some(false),
        ..Packet::outgoing(
            Some("10.77.0.1".parse().unwrap()),
            dst.parse().unwrap(),
            port,
        )
    };
    // `tcp dport vmap @portv` (23 : drop), a named map.
    let found = blockers(&ruleset, Hook::Output, &to("10.1.1.1", 23));
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].certain);
    assert!(blockers(&ruleset, Hook::Output, &to("10.1.1.1", 22)).is_empty());
    // `ip daddr @blocked tcp dport 99 drop`, a named set with a prefix.
    assert!(blockers(&ruleset, Hook::Output, &to("10.2.3.4", 99))[0].certain);
    assert!(blockers(&ruleset, Hook::Output, &to("172.16.0.1", 99)).is_empty());
    // `tcp dport vmap { 5000 : jump sub, 5001 : goto sub }`: both reach `sub`'s reject of
    // 5000 / 5001, then `return`.
    for port in [5000, 5001] {
        let found = blockers(&ruleset, Hook::Output, &to("10.1.1.1", port));
        assert_eq!(found.len(), 1, "{port}: {found:?}");
        assert_eq!(found[0].path, ["out", "sub"]);
        assert_eq!(found[0].verdict, Verdict::Reject);
        assert!(found[0].certain);
    }
    // An established packet is accepted by the first map.
    let established = Packet {
        state: CtState::Established,
        ..to("10.1.1.1", 23)
    };
    assert!(blockers(&ruleset, Hook::Output, &established).is_empty());
    // `oifname "br-*" accept`: a wildcard.
    let bridge = Packet {
        oif: Interface::Named("br-1234".to_owned()),
        ..to("10.1.1.1", 23)
    };
    assert!(blockers(&ruleset, Hook::Output, &bridge).is_empty());
    // `fib daddr type local tcp dport 7 drop`: only when the address is local.
    let local = Packet {
        dst_local: Some(true),
        ..to("10.1.1.1", 7)
    };
    assert!(blockers(&ruleset, Hook::Output, &local)[0].certain);
    assert!(blockers(&ruleset, Hook::Output, &to("10.1.1.1", 7)).is_empty());
}

#[test]
fn loops_and_deep_or_missing_chains_end_uncertain() {
    let ruleset = serde_json::json!({"nftables": [
        {"chain": {"family": "inet", "table": "t", "name": "out", "type": "filter", "hook": "output", "prio": 0, "policy": "drop"}},
        {"chain": {"family": "inet", "table": "t", "name": "a"}},
        {"rule": {"family": "inet", "table": "t", "chain": "out", "handle": 1, "expr": [{"jump": {"target": "a"}}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "a", "handle": 2, "expr": [{"jump": {"target": "a"}}]}},
        {"rule": {"family": "inet", "table": "t", "chain": "a", "handle": 3, "expr": [{"goto": {"target": "missing"}}]}},
    ]});
    let found = blockers(&ruleset, Hook::Output, &to("10.0.0.1", 1));
    assert_eq!(rules(&found), [("policy drop", false)]);
}

#[test]
fn capabilities_come_from_the_status_file() {
    let status = "Name:\tnft\nCapInh:\t0000000000000000\nCapEff:\t000001ffffffffff\n";
    assert_eq!(effective_caps(status), Some(0x01ff_ffff_ffff));
    assert!(effective_caps("Name: x\n").is_none());
    let nobody = effective_caps("CapEff:\t0000000000000000\n").unwrap();
    assert_eq!(nobody & (1 << CAP_NET_ADMIN), 0);
}

#[test]
fn legacy_tables_and_their_rules_are_counted() {
    assert_eq!(legacy::parse_names("nat\nfilter\n"), ["nat", "filter"]);
    assert!(legacy::parse_names("").is_empty());
    let save = "# Generated by iptables-save\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p tcp -m tcp --dport 5000 -j DROP\nCOMMIT\n";
    assert_eq!(legacy::count_rules(save), 2);
    let empty =
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";
    assert_eq!(legacy::count_rules(empty), 0);
}

#[test]
fn routes_name_the_interface() {
    let v4 = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
              eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n\
              eth1\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
    assert_eq!(
        crate::sys::route::via_v4(v4, "192.0.2.7".parse().unwrap()).as_deref(),
        Some("eth1")
    );
    assert_eq!(
        crate::sys::route::via_v4(v4, "8.8.8.8".parse().unwrap()).as_deref(),
        Some("eth0")
    );
    let v6 = "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth2\n";
    assert_eq!(
        crate::sys::route::via_v6(v6, "fd00::5".parse().unwrap()).as_deref(),
        Some("eth2")
    );
    assert_eq!(
        crate::sys::route::via_v6(v6, "fe80::5".parse().unwrap()),
        None
    );
}

#[test]
fn the_listing_is_read_by_table_chain_and_handle() {
    let listing = "table ip filter { # handle 2\n\tset s { # handle 9\n\t\ttype ipv4_addr\n\t}\n\tchain \"A B\" { # handle 4\n\t\ttcp dport 1 counter drop # handle 7\n\t}\n}\n";
    let rules = xt::parse_listing(listing);
    assert_eq!(
        rules
            .get(&("ip".into(), "filter".into(), "A B".into(), 7))
            .map(String::as_str),
        Some("tcp dport 1 drop")
    );
    assert_eq!(rules.len(), 1);
}

/// The fixture `NAME`'s rules as iptables-legacy keeps them (`NAME.legacy4`, `NAME.legacy6`,
/// listed by `iptables-legacy-save`), translated as a host with legacy tables reads them.
pub(super) fn legacy_made_by(name: &str) -> Value {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/firewall/");
    let read = |ext: &str| std::fs::read_to_string(format!("{dir}{name}.{ext}")).unwrap();
    let tables = vec![
        legacy::translate(read("legacy4"), "ip", Tool::IptablesLegacy),
        legacy::translate(read("legacy6"), "ip6", Tool::IptablesLegacy),
    ];
    with_legacy(Value::Null, tables)
}

/// What a blocker says, but for how the rule is written and which tool keeps it.
type Stop = (String, Vec<String>, Verdict, Option<usize>, Stops, bool);

fn stops(found: &[Blocker]) -> Vec<Stop> {
    found
        .iter()
        .map(|b| {
            let path = b.path.clone();
            (
                b.table.clone(),
                path,
                b.verdict,
                b.position,
                b.stops,
                b.certain,
            )
        })
        .collect()
}

/// Packets that meet every rule of the `iptables` and `ufw` fixtures: requests out by eth0,
/// another interface, an unknown one and `lo`, both families, their replies, to a local address
/// and to a container's.
fn packets() -> Vec<(Hook, Packet)> {
    let mut packets = Vec::new();
    for dst in ["10.77.0.2", "fd00:77::2", "172.17.0.2"] {
        for port in [
            22, 53, 80, 443, 5000, 5555, 5556, 7000, 7201, 7202, 7203, 7204, 7205, 7206, 7207,
            7211, 7299, 8080,
        ] {
            let syn = syn(dst, port);
            for oif in [
                Interface::Named("eth1".to_owned()),
                Interface::Named("docker0".to_owned()),
                Interface::Unknown,
            ] {
                let out = Packet { oif, ..syn.clone() };
                packets.push((Hook::Output, out));
            }
            packets.push((Hook::Input, syn.reply().unwrap()));
            packets.push((Hook::Output, syn));
        }
    }
    for dst in ["127.0.0.1", "::1", "10.77.0.1"] {
        let local = Packet {
            oif: Interface::Named("lo".to_owned()),
            dst_local: Some(true),
            ..syn(dst, 8080)
        };
        let arriving = Packet {
            iif: Interface::Named("lo".to_owned()),
            oif: Interface::None,
            ..local.clone()
        };
        packets.push((Hook::Input, arriving));
        packets.push((Hook::Output, local));
    }
    packets
}

#[test]
fn legacy_tables_stop_what_the_same_rules_in_nftables_stop() {
    for name in ["iptables", "ufw"] {
        let (nft, legacy) = (made_by(name), legacy_made_by(name));
        let mut stopped = 0;
        for (hook, packet) in packets() {
            let (by_nft, by_legacy) = (
                blockers(&nft, hook, &packet),
                blockers(&legacy, hook, &packet),
            );
            assert_eq!(
                stops(&by_nft),
                stops(&by_legacy),
                "{name}, {hook:?}: {packet:?}\n{by_nft:#?}\n{by_legacy:#?}"
            );
            stopped += by_nft.len();
            for (nft, legacy) in by_nft.iter().zip(&by_legacy) {
                let tool = match nft.tool {
                    Tool::Iptables => Tool::IptablesLegacy,
                    other => other,
                };
                assert_eq!(legacy.tool, tool, "{legacy:?}");
                assert_eq!(legacy.handle, None);
            }
        }
        // The packets do meet the rules.
        assert!(stopped > 20, "{name}: {stopped}");
    }
}

/// The rules of iptables-save's text are translated when the walk meets them, and kept once one
/// may match: one index, asked about every packet in turn, answers each as a new index does (a
/// rule left for one packet is met again for the next).
#[test]
fn one_index_of_iptables_saves_text_answers_every_packet_as_a_new_one() {
    for name in ["iptables", "ufw"] {
        let (legacy, parts) = (legacy_made_by(name), read_by_parts(name, Vec::new()));
        for ruleset in [&legacy, &parts] {
            let indexed = Indexed::new(ruleset);
            let mut stopped = 0;
            for (hook, packet) in packets().into_iter().chain(packets().into_iter().rev()) {
                let (once, fresh) = (
                    indexed.blockers(hook, &packet, &packet),
                    blockers(ruleset, hook, &packet),
                );
                assert_eq!(once, fresh, "{name}, {hook:?}: {packet:?}");
                stopped += once.len();
            }
            assert!(stopped > 40, "{name}: {stopped}");
            assert!(indexed.kept() > 0);
        }
    }
}

#[test]
fn legacy_rules_are_shown_as_iptables_saves_them() {
    let ruleset = legacy_made_by("iptables");
    let found = blockers(&ruleset, Hook::Output, &syn("10.77.0.2", 7202));
    assert_eq!(
        rules(&found),
        [(
            r#"-A APP-OUT -p tcp -m tcp --dport 7202 -m comment --comment "no app" -j REJECT --reject-with tcp-reset"#,
            true
        )]
    );
    assert_eq!(found[0].iptables_command(), "iptables-legacy");
    let v6 = blockers(&ruleset, Hook::Output, &syn("fd00:77::2", 7202));
    assert_eq!(v6[0].iptables_command(), "ip6tables-legacy");
    assert_eq!(v6[0].table, "ip6 filter");
}

#[test]
fn legacy_dnat_publishes_as_nfts_does() {
    let (nft, legacy) = (made_by("iptables"), legacy_made_by("iptables"));
    let local = Packet {
        dst_local: Some(true),
        oif: Interface::Named("lo".to_owned()),
        ..syn("10.77.0.1", 8080)
    };
    let arriving = arriving_by_eth0(8443);
    let unknown = Packet {
        dst_local: None,
        ..local.clone()
    };
    let cases = [
        (NatHook::Output, local.clone()),
        (NatHook::Output, unknown),
        (NatHook::Output, syn("127.0.0.1", 8080)),
        (NatHook::Prerouting, arriving.clone()),
        (
            NatHook::Prerouting,
            Packet {
                iif: Interface::Named("docker0".to_owned()),
                ..arriving
            },
        ),
    ];
    let seen = |found: Vec<Dnat>| -> Vec<_> {
        found
            .into_iter()
            .map(|d| (d.to, d.table, d.path, d.position, d.certain))
            .collect()
    };
    for (hook, packet) in cases {
        let by_legacy = dnat(&legacy, hook, &packet);
        assert!(by_legacy.iter().all(|d| d.tool == Tool::IptablesLegacy));
        assert_eq!(
            seen(dnat(&nft, hook, &packet)),
            seen(by_legacy),
            "{packet:?}"
        );
    }
    let found = dnat(&legacy, NatHook::Output, &local);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].rule,
        "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"
    );
}

#[test]
fn legacy_rules_translate_each_match() {
    let save = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT DROP [0:0]\n:X - [0:0]\n\
        -A OUTPUT -o eth+ -p tcp -m tcp --dport 20000:30000 -g X\n\
        -A OUTPUT -d 10.0.0.0/255.255.0.0 -p 6 -m multiport --dports 80,8000:8100 -j REJECT\n\
        -A OUTPUT -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m tcp --dport 7 -j DROP\n\
        -A OUTPUT -f -j DROP\n\
        -A OUTPUT -p udp -m udp --dport 9 -j DROP\n\
        -A OUTPUT -m state --state NEW -m addrtype --dst-type LOCAL -j DROP\n\
        -A OUTPUT -p tcp -m tcp --dport 11 -m comment --comment \"an \\\"odd\\\" one\" -j LOG\n\
        -A OUTPUT -m iprange --dst-range 10.9.0.1-10.9.0.9 -j REJECT\n\
        -A OUTPUT -p tcp -m tcp ! --dport 11:13 -j ACCEPT\n\
        -A X -p tcp -m tcp --dport 25000 -j DROP\n\
        COMMIT\n";
    let ruleset = with_legacy(
        Value::Null,
        vec![legacy::translate(save, "ip", Tool::IptablesLegacy)],
    );
    let seen = |packet: &Packet| {
        blockers(&ruleset, Hook::Output, packet)
            .iter()
            .map(|b| (b.chain.clone(), b.position, b.certain))
            .collect::<Vec<_>>()
    };
    let out = |dst: &str, port| seen(&syn(dst, port));
    let at = |chain: &str, position, certain| (chain.to_owned(), position, certain);
    let policy = |certain| at("OUTPUT", None, certain);
    // `-o eth+` (eth0 is in), a port range, `-g X`: X's drop; or, X ending, OUTPUT's policy.
    assert_eq!(out("10.77.0.2", 25000), [at("X", Some(1), true)]);
    assert_eq!(out("10.77.0.2", 26000), [policy(true)]);
    // Out by wlan0, the goto does not apply, and `! --dport 11:13` accepts.
    let by_wlan = Packet {
        oif: Interface::Named("wlan0".to_owned()),
        ..syn("10.77.0.2", 25000)
    };
    assert_eq!(seen(&by_wlan), []);
    // A prefix written as a mask, the protocol as a number, multiport's list and range.
    assert_eq!(out("10.0.0.5", 80), [at("OUTPUT", Some(2), true)]);
    assert_eq!(out("10.0.0.5", 8050), [at("OUTPUT", Some(2), true)]);
    assert_eq!(out("10.1.0.5", 80), []);
    // `--tcp-flags FIN,SYN,RST,ACK SYN` (`--syn`) holds for a connection's first packet.
    assert_eq!(out("10.1.0.5", 7), [at("OUTPUT", Some(3), true)]);
    // A later fragment, a UDP port: never this connection's first packet.
    assert_eq!(out("10.1.0.5", 9), []);
    // `-m state --state NEW -m addrtype --dst-type LOCAL`.
    let local = Packet {
        dst_local: Some(true),
        ..syn("10.77.0.1", 12)
    };
    assert_eq!(seen(&local), [at("OUTPUT", Some(6), true)]);
    // iprange.
    assert_eq!(out("10.9.0.5", 80), [at("OUTPUT", Some(8), true)]);
    assert_eq!(out("10.9.0.10", 80), []);
    // The quoted comment is read, the LOG goes on, `! --dport 11:13` does not accept 11: the
    // policy drops it.
    assert_eq!(out("10.1.0.5", 11), [policy(true)]);
}

fn legacy4(save: &str) -> Value {
    legacy::translate(save, "ip", Tool::IptablesLegacy)
}

/// nft's chains and the legacy tables' run interleaved by priority: a legacy filter chain (0)
/// before an nft chain at 100; at the same priority, their order is not known.
#[test]
fn nft_and_legacy_chains_are_met_by_priority() {
    let nft = |prio: i64| {
        serde_json::json!({"nftables": [
            {"chain": {"family": "ip", "table": "t", "name": "out", "type": "filter",
                       "hook": "output", "prio": prio, "policy": "accept"}},
            {"rule": {"family": "ip", "table": "t", "chain": "out", "handle": 2, "expr": [
                {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}},
                {"drop": null}]}}
        ]})
    };
    let save = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A OUTPUT -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset\nCOMMIT\n";
    let seen = |prio| {
        let ruleset = with_legacy(nft(prio), vec![legacy4(save)]);
        blockers(&ruleset, Hook::Output, &syn("10.77.0.2", 80))
            .iter()
            .map(|b| (b.tool, b.certain))
            .collect::<Vec<_>>()
    };
    // The legacy REJECT comes first and surely ends the packet's way.
    assert_eq!(seen(100), [(Tool::IptablesLegacy, true)]);
    // The nft drop comes first.
    assert_eq!(seen(-10), [(Tool::Nft, true)]);
    // Either may come first: both are named, and both surely stop it.
    assert_eq!(seen(0), [(Tool::Nft, true), (Tool::IptablesLegacy, true)]);
}

/// `--ctstate DNAT` is conntrack's status bit, not a state: it may hold or not.
#[test]
fn a_ctstate_of_dnat_is_not_read_as_a_state() {
    let save = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A OUTPUT -p tcp -m tcp --dport 80 -m conntrack ! --ctstate DNAT -j DROP\nCOMMIT\n";
    let ruleset = with_legacy(Value::Null, vec![legacy4(save)]);
    let found = blockers(&ruleset, Hook::Output, &syn("172.17.0.2", 80));
    assert!(!rules(&found)[0].1, "{found:?}");
}

/// Output chains under priority -200 (the raw table) run before conntrack, and under -100
/// (raw, mangle) before the destination is translated.
#[test]
fn raw_and_mangle_see_the_packet_as_sent() {
    let save = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A OUTPUT -p tcp -m tcp --dport 80 -m conntrack --ctstate NEW -j DROP\n\
        -A OUTPUT -p tcp -m tcp --dport 81 -m conntrack --ctstate INVALID -j DROP\n\
        COMMIT\n\
        *mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n\
        -A OUTPUT -p tcp -m tcp --dport 9000 -j DROP\n\
        -A OUTPUT -p tcp -m tcp --dport 8080 -m conntrack --ctstate NEW -j DROP\n\
        COMMIT\n";
    let ruleset = with_legacy(Value::Null, vec![legacy4(save)]);
    let chains = |found: Vec<Blocker>| -> Vec<(String, Option<usize>)> {
        found.into_iter().map(|b| (b.table, b.position)).collect()
    };
    // No state yet in raw: NEW does not hold, INVALID does.
    assert_eq!(
        chains(blockers(&ruleset, Hook::Output, &syn("10.77.0.2", 80))),
        []
    );
    assert_eq!(
        chains(blockers(&ruleset, Hook::Output, &syn("10.77.0.2", 81))),
        [("ip raw".to_owned(), Some(2))]
    );
    // Sent to 8080, translated to 9000: mangle sees 8080, and by then conntrack's NEW.
    let sent = syn("10.77.0.1", 8080);
    let translated = syn("10.99.0.1", 9000);
    assert_eq!(
        chains(Indexed::new(&ruleset).blockers(Hook::Output, &sent, &translated)),
        [("ip mangle".to_owned(), Some(2))]
    );
}

/// `ip daddr . tcp dport @set` (see `nft_concat.json`): each element is compared field by
/// field, prefixes and ranges inside it included, in named and anonymous sets and in verdict
/// maps; a rule whose set does not hold the packet's pair is no rule of its.
#[test]
fn concatenations_are_compared_field_by_field() {
    let ruleset: Value = serde_json::from_str(include_str!(
        "../../../tests/fixtures/firewall/nft_concat.json"
    ))
    .unwrap();
    let found = |dst: &str, port| {
        let found = blockers(&ruleset, Hook::Output, &syn(dst, port));
        found
            .iter()
            .map(|b| (b.rule.clone(), b.certain, b.matches))
            .collect::<Vec<_>>()
    };
    let certain = |rule: &str| vec![(rule.to_owned(), true, true)];
    let blocked = "ip daddr . tcp dport @blocked drop";
    assert_eq!(found("192.0.2.10", 8080), certain(blocked));
    assert_eq!(found("10.9.3.4", 7005), certain(blocked));
    assert_eq!(
        found("192.0.2.11", 8081),
        certain("ip daddr . tcp dport @pairs drop")
    );
    let anonymous = "ip daddr . tcp dport { 10.5.0.1 . 80, 10.5.0.0/24 . 90-99 } reject \
        with icmp port-unreachable";
    assert_eq!(found("10.5.0.1", 80), certain(anonymous));
    assert_eq!(found("10.5.0.50", 95), certain(anonymous));
    assert_eq!(
        found("10.1.0.1", 22),
        certain("ip daddr . tcp dport vmap @pv")
    );
    assert_eq!(
        found("10.6.0.1", 443),
        certain("ip daddr . tcp dport vmap { 10.6.0.1 . 443 : drop }")
    );
    assert_eq!(
        found("10.7.0.2", 6000),
        certain("ip daddr . tcp dport != { 10.7.0.1 . 1 } tcp dport 6000 drop")
    );
    assert_eq!(
        found("fd00:77::2", 80),
        certain("ip6 daddr . tcp dport { fd00:77::2 . 80 } drop")
    );
    // One field right and the other wrong, or both wrong: no element holds the pair.
    for (dst, port) in [
        ("192.0.2.10", 8081),
        ("192.0.2.11", 8080),
        ("10.9.3.4", 7011),
        ("10.8.0.1", 7005),
        ("10.5.0.50", 80),
        ("10.1.0.1", 23),
        ("10.77.0.2", 47017),
        ("fd00:77::2", 8080),
        ("10.7.0.1", 1),
    ] {
        assert_eq!(found(dst, port), [], "{dst} {port}");
    }
    // `accept` in the map ends the chain before `tcp dport 5000 drop`... not for this port.
    assert_eq!(found("10.1.0.2", 23), []);
    // An unknown field leaves its element uncertain, not the whole set: the mark's rule may
    // match port 5000 only; the plain rule after it surely matches, if reached.
    assert_eq!(
        found("10.2.0.1", 5000),
        [
            (
                "meta mark . tcp dport { 0x00000001 . 5000 } drop".to_owned(),
                false,
                false
            ),
            ("tcp dport 5000 drop".to_owned(), false, true),
        ]
    );
    assert_eq!(found("10.2.0.1", 5001), []);
}

/// nft's `inet filter` and, made after it, iptables' `ip filter`, both at output priority 0
/// (see `nft_same_priority.json`): the kernel runs the newer first, but which chain is newer
/// is not always told by the listing, so each is walked as if it came first: both drops are
/// certain, the newer's named first.
#[test]
fn base_chains_of_one_priority_each_stop_the_packet() {
    let ruleset = made_by("nft_same_priority");
    let found = |port| {
        blockers(&ruleset, Hook::Output, &syn("10.77.0.2", port))
            .into_iter()
            .map(|b| (b.table, b.rule, b.certain))
            .collect::<Vec<_>>()
    };
    let hit = |table: &str, rule: &str, certain| (table.to_owned(), rule.to_owned(), certain);
    assert_eq!(
        found(47016),
        [
            hit("ip filter", "tcp dport 47016 drop", true),
            hit("inet filter", "tcp dport 47016 drop", true),
        ]
    );
    // The newer chain's certain reject is not made uncertain by the older one's rule that may
    // drop, nor the other way.
    assert_eq!(
        found(47019),
        [
            hit("ip filter", "tcp dport 47019 reject with tcp reset", true),
            hit(
                "inet filter",
                "meta mark 0x00000001 tcp dport 47019 drop",
                false
            ),
        ]
    );
}

#[test]
fn a_chain_before_conntrack_at_prerouting_sees_no_connection() {
    // `nft -j list ruleset` of a raw prerouting chain (nft 1.0.6): before conntrack (-200) a
    // reply has no connection yet, so `ct state established accept` lets nothing through there
    // and the drop after it stops the reply.
    let ruleset: Value = serde_json::from_str(
        r#"{"nftables": [{"table": {"family": "ip", "name": "raw", "handle": 1}},
        {"chain": {"family": "ip", "table": "raw", "name": "pre", "handle": 1, "type": "filter",
          "hook": "prerouting", "prio": -300, "policy": "accept"}},
        {"rule": {"family": "ip", "table": "raw", "chain": "pre", "handle": 2, "expr": [
          {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "established"}},
          {"accept": null}]}},
        {"rule": {"family": "ip", "table": "raw", "chain": "pre", "handle": 3, "expr": [
          {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
            "right": "10.77.0.2"}},
          {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "sport"}},
            "right": 7301}},
          {"drop": null}]}}]}"#,
    )
    .unwrap();
    let reply = syn("10.77.0.2", 7301).reply().unwrap();
    assert_eq!(reply.state, CtState::Established);
    let found = blockers(&ruleset, Hook::Prerouting, &reply);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].handle, Some(3));
    assert!(found[0].certain);
}

/// A SYN from a program of `uid` (group `gid`) to 127.0.0.1:`dport`.
fn owned(dport: u16, uid: Option<u32>, gid: Option<u32>) -> Packet {
    Packet {
        owner: SocketOwner { uid, gid },
        dst_local: Some(true),
        oif: Interface::Named("lo".to_owned()),
        ..Packet::outgoing(
            Some("127.0.0.1".parse().unwrap()),
            "127.0.0.1".parse().unwrap(),
            dport,
        )
    }
}

/// What stops a program of `uid` / `gid`: each rule, certain or not.
fn owner_stops(
    ruleset: &Value,
    dport: u16,
    uid: Option<u32>,
    gid: Option<u32>,
) -> Vec<(String, bool)> {
    blockers(ruleset, Hook::Output, &owned(dport, uid, gid))
        .into_iter()
        .map(|b| (b.rule, b.certain))
        .collect()
}

#[test]
fn owner_matches_stop_only_the_programs_they_name() {
    let nft: Value = serde_json::from_str(include_str!(
        "../../../tests/fixtures/firewall/nft_owner.json"
    ))
    .unwrap();
    for (ruleset, legacy) in [(made_by("owner"), false), (legacy_made_by("owner"), true)] {
        // `--uid-owner 1000 -j REJECT`: root's own attempt goes through, uid 1000's is refused,
        // and an owner not known may be.
        assert!(owner_stops(&ruleset, 8080, Some(0), Some(0)).is_empty());
        assert_eq!(owner_stops(&ruleset, 8080, Some(1000), Some(1000)).len(), 1);
        assert!(owner_stops(&ruleset, 8080, Some(1000), Some(1000))[0].1);
        assert!(!owner_stops(&ruleset, 8080, None, None)[0].1);
        // `--gid-owner 1000 -j DROP`, by the socket's group.
        assert!(owner_stops(&ruleset, 8081, Some(1000), Some(0)).is_empty());
        assert!(owner_stops(&ruleset, 8081, None, Some(1000))[0].1);
        // `! --uid-owner 0`: everyone but root.
        assert!(owner_stops(&ruleset, 8082, Some(0), Some(0)).is_empty());
        assert!(owner_stops(&ruleset, 8082, Some(33), Some(33))[0].1);
        // `--uid-owner 1000-1999`.
        assert!(owner_stops(&ruleset, 8083, Some(1500), None)[0].1);
        assert!(owner_stops(&ruleset, 8083, Some(2000), None).is_empty());
        // Two owner options at once: nft lists an extension we do not read (it may match);
        // iptables-legacy-save lists both, and both must hold.
        if legacy {
            assert!(owner_stops(&ruleset, 8084, Some(0), Some(1000)).is_empty());
            assert!(owner_stops(&ruleset, 8084, Some(1000), Some(1000))[0].1);
        } else {
            assert!(!owner_stops(&ruleset, 8084, Some(0), Some(0))[0].1);
        }
        assert_eq!(owner_ids(&ruleset), (vec![1000], vec![1000]));
    }
    // nft's own: `meta skuid 1001 ... accept` before `meta skuid { 1000, 1001 } ... reject`.
    assert!(owner_stops(&nft, 8085, Some(1001), Some(1001)).is_empty());
    assert!(owner_stops(&nft, 8085, Some(1000), Some(1000))[0].1);
    assert!(owner_stops(&nft, 8085, Some(0), Some(0)).is_empty());
    assert!(owner_stops(&nft, 8086, Some(0), Some(1000))[0].1);
    assert_eq!(owner_ids(&nft), (vec![1001, 1000], vec![1000]));
    // A reply has no socket of ours: whoever owns it, an owner match is not known to hold.
    let reply = owned(8080, Some(1000), Some(1000)).reply();
    assert_eq!(reply.map(|r| r.owner), Some(SocketOwner::default()));
}

/// The fixture `NAME`'s rules as a big host's are read (see `big`): its iptables tables
/// listed by iptables-save (`NAME.legacy4`, `NAME.legacy6`: the same text iptables-nft-save
/// prints), nft's other tables beside them.
fn read_by_parts(name: &str, others: Vec<Value>) -> Value {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/firewall/");
    let read = |ext: &str| std::fs::read_to_string(format!("{dir}{name}.{ext}")).unwrap();
    let saved = vec![
        big::Saved::new("ip", read("legacy4")),
        big::Saved::new("ip6", read("legacy6")),
    ];
    big::assemble(others, saved)
}

#[test]
fn a_big_hosts_iptables_tables_read_by_parts_stop_what_nfts_json_stops() {
    for name in ["iptables", "ufw"] {
        let (nft, parts) = (made_by(name), read_by_parts(name, Vec::new()));
        let mut stopped = 0;
        for (hook, packet) in packets() {
            let (by_nft, by_parts) = (
                blockers(&nft, hook, &packet),
                blockers(&parts, hook, &packet),
            );
            assert_eq!(
                stops(&by_nft),
                stops(&by_parts),
                "{name}, {hook:?}: {packet:?}\n{by_nft:#?}\n{by_parts:#?}"
            );
            stopped += by_nft.len();
            for (nft, part) in by_nft.iter().zip(&by_parts) {
                // Still iptables' (or ufw's) rules, deleted with `iptables`.
                assert_eq!(part.tool, nft.tool, "{part:?}");
                assert_eq!(part.iptables_command(), nft.iptables_command());
                assert!(part.rule.starts_with("-A ") || part.rule == "policy drop");
            }
        }
        assert!(stopped > 20, "{name}: {stopped}");
    }
    // Docker's DNAT, from this host and arriving.
    let (nft, parts) = (made_by("iptables"), read_by_parts("iptables", Vec::new()));
    let local = Packet {
        dst_local: Some(true),
        oif: Interface::Named("lo".to_owned()),
        ..syn("10.77.0.1", 8080)
    };
    for (hook, packet) in [
        (NatHook::Output, local),
        (NatHook::Prerouting, arriving_by_eth0(8443)),
    ] {
        let seen = |found: Vec<Dnat>| -> Vec<_> {
            found
                .into_iter()
                .map(|d| (d.to, d.chain, d.path, d.position, d.tool, d.certain))
                .collect()
        };
        let by_parts = seen(dnat(&parts, hook, &packet));
        assert_eq!(seen(dnat(&nft, hook, &packet)), by_parts, "{packet:?}");
        assert_eq!(by_parts.len(), 1, "{by_parts:?}");
    }
}

/// An nft table's base chain and iptables-nft's, one hook: whichever has the lower priority
/// stops the packet first, whichever way each was read.
#[test]
fn nfts_tables_and_iptables_tables_read_by_parts_meet_by_priority() {
    let nft_table = |prio: i64| {
        vec![
            serde_json::json!({"table": {"family": "inet", "name": "mine"}}),
            serde_json::json!({"chain": {"family": "inet", "table": "mine", "name": "out",
                "type": "filter", "hook": "output", "prio": prio, "policy": "accept"}}),
            serde_json::json!({"rule": {"family": "inet", "table": "mine", "chain": "out",
                "handle": 3, "expr": [
                    {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
                        "right": 7201}},
                    {"drop": null}]}}),
        ]
    };
    let saved = [big::Saved::new(
        "ip",
        "*filter\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p tcp -m tcp --dport 7201 -j REJECT\nCOMMIT\n"
            .to_owned(),
    )];
    let packet = syn("10.77.0.2", 7201);
    let first = |prio: i64| {
        let found = blockers(
            &big::assemble(nft_table(prio), saved.to_vec()),
            Hook::Output,
            &packet,
        );
        assert!(found[0].certain, "{found:#?}");
        (found[0].table.clone(), found[0].tool, found.len())
    };
    // Before iptables' filter (priority 0): nft's drop ends the packet's way there.
    assert_eq!(first(-10), ("inet mine".to_owned(), Tool::Nft, 1));
    // After it: iptables' reject comes first.
    assert_eq!(first(10), ("ip filter".to_owned(), Tool::Iptables, 1));
}

/// kube-proxy's DNAT to an endpoint, `-p tcp -m comment --comment ... -m tcp -j DNAT
/// --to-destination 10.244.1.2:46302`, as iptables-nft 1.8.9 writes it: an option-less `tcp`
/// extension beside nft's own `meta l4proto tcp`, listed as the protocol alone. Read as
/// nothing more, the DNAT is certain; `--tcp-flags`, kept in the extension, is still unknown.
#[test]
fn an_option_less_tcp_extension_is_the_protocol_alone() {
    let ruleset = |flags: &str| {
        let mut ruleset = serde_json::json!({"nftables": [
            {"table": {"family": "ip", "name": "nat", "handle": 1}},
            {"chain": {"family": "ip", "table": "nat", "name": "OUTPUT", "handle": 3,
                "type": "nat", "hook": "output", "prio": -100, "policy": "accept"}},
            {"rule": {"family": "ip", "table": "nat", "chain": "OUTPUT", "handle": 58, "expr": [
                {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": "tcp"}},
                {"xt": {"type": "match", "name": "comment"}},
                {"xt": {"type": "match", "name": "tcp"}},
                {"counter": {"packets": 0, "bytes": 0}},
                {"xt": {"type": "target", "name": "DNAT"}}]}}
        ]});
        let listing = format!(
            "table ip nat {{ # handle 1\n\tchain OUTPUT {{ # handle 3\n\t\ttype nat hook output priority -100; policy accept;\n\t\tmeta l4proto tcp {flags}  counter dnat to 10.244.1.2:46302 # handle 58\n\t}}\n}}\n"
        );
        xt::translate(&mut ruleset, &listing);
        ruleset
    };
    let packet = syn("10.96.0.3", 80);
    let found = dnat(&ruleset(""), NatHook::Output, &packet);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].certain, "{found:?}");
    assert_eq!(
        found[0].destination(&packet),
        Some("10.244.1.2:46302".parse().unwrap())
    );
    let flagged = dnat(
        &ruleset("tcp flags syn / syn,ack"),
        NatHook::Output,
        &packet,
    );
    assert!(!flagged[0].certain, "{flagged:?}");
}

/// TCP's flags, as iptables-nft writes `--syn` (`tcp flags & (fin | syn | rst | ack) == syn`)
/// and nft its own forms (`tcp flags syn`, `== syn`, `{ syn, syn | ack }`): a connection's
/// first packet is a SYN alone, so each is decided for it, and left open for a reply (a SYN-ACK
/// or a reset). iptables-save's `--tcp-flags FIN,SYN,RST,ACK SYN` reads the same.
#[test]
fn tcp_flags_are_decided_for_a_connections_first_packet() {
    let flags = serde_json::json!({"payload": {"protocol": "tcp", "field": "flags"}});
    let masked = |mask: serde_json::Value| serde_json::json!({"&": [flags.clone(), mask]});
    let ruleset = |op: &str,
                   left: &serde_json::Value,
                   right: serde_json::Value,
                   policy: &str,
                   verdict: &str| {
        serde_json::json!({"nftables": [
            {"chain": {"family": "ip", "table": "filter", "name": "OUTPUT", "type": "filter",
                       "hook": "output", "prio": 0, "policy": policy}},
            {"rule": {"family": "ip", "table": "filter", "chain": "OUTPUT", "handle": 2, "expr": [
                {"match": {"op": op, "left": left, "right": right}},
                {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}},
                {verdict: null}]}}
        ]})
    };
    let syn_mask = masked(serde_json::json!(["fin", "syn", "rst", "ack"]));
    let first = syn("10.77.0.2", 80);
    // `--syn -j DROP`: the SYN is dropped, surely, and the rule is written as nft writes it.
    let dropped = blockers(
        &ruleset("==", &syn_mask, "syn".into(), "accept", "drop"),
        Hook::Output,
        &first,
    );
    assert_eq!(
        rules(&dropped),
        [("tcp flags syn / fin,syn,rst,ack tcp dport 80 drop", true)]
    );
    // `! --syn`, a reset's `tcp flags & rst == rst`, `tcp flags ack`: never a SYN.
    for (op, left, right) in [
        ("!=", &syn_mask, serde_json::json!("syn")),
        ("==", &masked("rst".into()), serde_json::json!("rst")),
        ("in", &flags, serde_json::json!("ack")),
    ] {
        let found = blockers(
            &ruleset(op, left, right.clone(), "accept", "drop"),
            Hook::Output,
            &first,
        );
        assert!(found.is_empty(), "{op} {left} {right}: {found:?}");
    }
    // nft's `tcp flags syn`, `== syn` and a set holding `syn`: a SYN.
    for (op, right) in [
        ("in", serde_json::json!("syn")),
        ("==", serde_json::json!("syn")),
        (
            "==",
            serde_json::json!({"set": [{"|": ["syn", "ack"]}, "syn"]}),
        ),
    ] {
        let found = blockers(
            &ruleset(op, &flags, right.clone(), "accept", "drop"),
            Hook::Output,
            &first,
        );
        assert_eq!(found.len(), 1, "{op} {right}: {found:?}");
        assert!(found[0].certain, "{op} {right}: {found:?}");
    }
    // An egress allow list: `--syn ... -j ACCEPT` under a drop policy lets the SYN out.
    let allowed = blockers(
        &ruleset("==", &syn_mask, "syn".into(), "drop", "accept"),
        Hook::Output,
        &first,
    );
    assert!(allowed.is_empty(), "{allowed:?}");
    // A reply's flags are not known: the rule may stop it.
    let reply = first.reply().unwrap();
    let ruleset_in = serde_json::json!({"nftables": [
        {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "type": "filter",
                   "hook": "input", "prio": 0, "policy": "accept"}},
        {"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "handle": 2, "expr": [
            {"match": {"op": "==", "left": masked("rst".into()), "right": "rst"}},
            {"drop": null}]}}
    ]});
    let found = blockers(&ruleset_in, Hook::Input, &reply);
    assert_eq!(rules(&found), [("tcp flags rst / rst drop", false)]);
    // iptables-save's text, legacy tables: the same answers.
    let save = |rule: &str| {
        let save = format!(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{rule}\nCOMMIT\n"
        );
        with_legacy(Value::Null, vec![legacy4(&save)])
    };
    let dropped = blockers(
        &save("-A OUTPUT -p tcp -m tcp --dport 80 --tcp-flags FIN,SYN,RST,ACK SYN -j DROP"),
        Hook::Output,
        &first,
    );
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert!(dropped[0].certain, "{dropped:?}");
    for rule in [
        "-A OUTPUT -p tcp -m tcp --dport 80 ! --tcp-flags FIN,SYN,RST,ACK SYN -j DROP",
        "-A OUTPUT -p tcp -m tcp --tcp-flags RST RST -j DROP",
        "-A OUTPUT -p tcp -m tcp --tcp-flags ALL NONE -j DROP",
    ] {
        let found = blockers(&save(rule), Hook::Output, &first);
        assert!(found.is_empty(), "{rule}: {found:?}");
    }
}

/// nat postrouting's source translations (nft's `masquerade`, `snat`, iptables' targets) are
/// found for a forwarded packet, and never taken for a DNAT.
#[test]
fn source_translations_are_found_and_are_no_dnat() {
    let ruleset = |statement: serde_json::Value, oif: &str| {
        serde_json::json!({"nftables": [
            {"chain": {"family": "ip", "table": "nat", "name": "POSTROUTING", "type": "nat",
                       "hook": "postrouting", "prio": 100, "policy": "accept"}},
            {"rule": {"family": "ip", "table": "nat", "chain": "POSTROUTING", "handle": 2, "expr": [
                {"match": {"op": "==", "left": {"meta": {"key": "oifname"}}, "right": oif}},
                statement]}}
        ]})
    };
    let forwarded = Packet {
        oif: Interface::Unknown,
        ..syn("10.99.0.2", 80)
    };
    let on_eth0 = syn("10.99.0.2", 80);
    for statement in [
        serde_json::json!({"masquerade": null}),
        serde_json::json!({"snat": {"addr": "10.0.0.1"}}),
        serde_json::json!({"xt": {"type": "target", "name": "MASQUERADE"}}),
    ] {
        let indexed =
            |oif| Indexed::new(&ruleset(statement.clone(), oif)).source_translated(&forwarded);
        assert!(
            indexed("docker0"),
            "{statement}: an unknown interface may be docker0"
        );
        let ruleset = ruleset(statement.clone(), "wlan0");
        let indexed = Indexed::new(&ruleset);
        // The packet leaves by eth0: a rule for wlan0 is not met.
        assert!(!indexed.source_translated(&on_eth0), "{statement}");
        assert!(indexed.dnat(NatHook::Prerouting, &on_eth0).is_empty());
    }
    assert!(!Indexed::new(&serde_json::json!({"nftables": []})).source_translated(&forwarded));
}
