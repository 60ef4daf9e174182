//! The evaluator on what real hosts have that the first fixtures did not: rate limits (ufw's
//! aside), DNAT to a port alone, and values that read `-j` (fixture `real_hosts`, made by
//! `make.sh` with iptables-nft, nft and iptables-legacy).

use super::tests::{arriving_by_eth0, legacy_made_by, made_by};
use serde_json::json;

use super::*;

/// `(rule, certain, matches, rate_limit)` of each blocker.
fn limits(found: &[Blocker]) -> Vec<(&str, bool, bool, bool)> {
    found
        .iter()
        .map(|b| (b.rule.as_str(), b.certain, b.matches, b.rate_limit))
        .collect()
}

/// A packet of a connection already made (the handshake's ACK, data) from 10.77.0.9.
fn made(dport: u16) -> Packet {
    Packet {
        state: CtState::Established,
        ..arriving_by_eth0(dport)
    }
}

#[test]
fn a_rate_limit_that_also_drops_made_connections_is_named_as_one() {
    let nft = made_by("real_hosts");
    let input = |packet: &Packet| blockers(&nft, Hook::Input, packet);
    // `-m hashlimit --hashlimit-above` without `--ctstate NEW`: new and made connections alike.
    let meter =
        "tcp dport 8080 meter c5 { ip saddr limit rate over 1/second burst 1 packets } drop";
    for packet in [arriving_by_eth0(8080), made(8080)] {
        assert_eq!(limits(&input(&packet)), [(meter, false, false, true)]);
    }
    // With `--ctstate NEW`, only new ones.
    assert_eq!(input(&made(8081)).len(), 0);
    assert!(input(&arriving_by_eth0(8081))[0].rate_limit);
    // `-m limit ... -j ACCEPT` then a drop: the drop stops what is over the accept's rate.
    for packet in [arriving_by_eth0(8082), made(8082)] {
        assert_eq!(
            limits(&input(&packet)),
            [("tcp dport 8082 drop", false, true, true)]
        );
    }
    // A drop after it that the limited accept does not apply to is none.
    assert!(input(&made(8083)).iter().all(|b| !b.rate_limit));
    // nft's own: `limit rate over`, a meter, a set that limits; and `ct state new` before one.
    for (port, rule) in [
        (
            9080,
            "tcp dport 9080 limit rate over 1/second burst 1 packets drop",
        ),
        // nft's listing leaves out the meter's burst; its JSON, which we write back, has it.
        (
            9081,
            "tcp dport 9081 meter perip { ip saddr limit rate over 10/second burst 5 packets } drop",
        ),
        (
            9082,
            "tcp dport 9082 update @seen { ip saddr limit rate over 1/second burst 1 packets } drop",
        ),
    ] {
        let found = input(&made(port));
        assert_eq!(found.len(), 1, "{port}: {found:?}");
        assert!(
            found[0].rate_limit && !found[0].certain,
            "{port}: {found:?}"
        );
        assert!(found[0].handle.is_some());
        // Written back whole: `nft replace rule` is given this text.
        assert_eq!(found[0].rule, rule, "{port}");
    }
    assert!(input(&made(9083)).is_empty());
    // A set statement without a limit only adds to the set: the drop after it is certain.
    assert_eq!(
        limits(&input(&made(9084))),
        [(
            "tcp dport 9084 update @seen { ip saddr } drop",
            true,
            true,
            false
        )]
    );
}

#[test]
fn legacy_rate_limits_read_as_nfts_do() {
    let legacy = legacy_made_by("real_hosts");
    let input = |packet: &Packet| blockers(&legacy, Hook::Input, packet);
    let hashlimit = &input(&made(8080));
    assert_eq!(hashlimit.len(), 1);
    assert!(hashlimit[0].rate_limit && !hashlimit[0].certain);
    assert_eq!(hashlimit[0].position, Some(1));
    assert!(input(&made(8081)).is_empty());
    let after_limit = &input(&arriving_by_eth0(8082));
    assert_eq!(
        (
            after_limit[0].position,
            after_limit[0].rate_limit,
            after_limit[0].matches
        ),
        (Some(4), true, true)
    );
}

#[test]
fn dnat_to_a_port_alone_keeps_the_packets_address() {
    let (nft, legacy) = (made_by("real_hosts"), legacy_made_by("real_hosts"));
    let arriving = arriving_by_eth0(8090);
    let sent = Packet {
        dst_local: Some(true),
        oif: Interface::Named("lo".to_owned()),
        ..Packet::outgoing(None, "10.77.0.1".parse().unwrap(), 8090)
    };
    for (ruleset, hook, packet, rule) in [
        (
            &nft,
            NatHook::Prerouting,
            &arriving,
            "tcp dport 8090 dnat to :8091",
        ),
        (&nft, NatHook::Output, &sent, "tcp dport 8090 dnat to :8091"),
        (
            &legacy,
            NatHook::Prerouting,
            &arriving,
            "-A PREROUTING -p tcp -m tcp --dport 8090 -j DNAT --to-destination :8091",
        ),
    ] {
        let found = dnat(ruleset, hook, packet);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].to, NatTo::SameAddress { port: 8091 });
        assert!(found[0].certain);
        assert_eq!(found[0].rule, rule);
        assert_eq!(
            found[0].destination(packet),
            Some("10.77.0.1:8091".parse().unwrap())
        );
    }
    // nft's JSON of `dnat to :PORT` has no address: rendered as nft writes it.
    let rule = json!([{"dnat": {"port": 8091}}]);
    assert_eq!(render::render(rule.as_array().unwrap()), "dnat to :8091");
}

#[test]
fn a_value_that_reads_dash_j_is_not_the_target() {
    let legacy = legacy_made_by("real_hosts");
    let input = |dport| blockers(&legacy, Hook::Input, &arriving_by_eth0(dport));
    // `--comment -j` (iptables-save leaves it unquoted): a comment, then the real target.
    assert_eq!(
        limits(&input(8083)),
        [(
            "-A INPUT -p tcp -m tcp --dport 8083 -m comment --comment -j -j DROP",
            true,
            true,
            false
        )]
    );
    // `--string "-j"`: the string match's value, not a target `--algo`; the rule may drop.
    let found = input(8084);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].verdict, found[0].certain), (Verdict::Drop, false));

    let words =
        legacy::words(r#"-m comment --comment "a \"b\" -j c" -m string --string "-j" -j DROP"#)
            .unwrap();
    let texts: Vec<(&str, bool)> = words.iter().map(|w| (w.text.as_str(), w.quoted)).collect();
    assert_eq!(
        texts,
        [
            ("-m", false),
            ("comment", false),
            ("--comment", false),
            (r#"a "b" -j c"#, true),
            ("-m", false),
            ("string", false),
            ("--string", false),
            ("-j", true),
            ("-j", false),
            ("DROP", false),
        ]
    );
    assert!(legacy::words(r#"--comment "open"#).is_none());
}

/// nft lists a rule's comment after its statements (iptables-nft 1.8.10 and later keep
/// `-m comment` so): what it says is no part of the rule.
#[test]
fn a_comment_in_nfts_listing_is_not_read_as_the_rule() {
    let rule = |handle: u64, target: &str| {
        json!({"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "handle": handle,
            "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}},
                     {"xt": {"type": "target", "name": target}}]}})
    };
    let mut ruleset = json!({"nftables": [
        {"chain": {"family": "ip", "table": "filter", "name": "INPUT", "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}},
        rule(2, "REJECT"),
        rule(3, "DNAT"),
    ]});
    let listing = "table ip filter { # handle 1\n\tchain INPUT { # handle 1\n\
        \t\ttcp dport 80 counter reject with tcp reset comment \"was: reject with icmp type host-prohibited\" # handle 2\n\
        \t\ttcp dport 80 counter dnat to 10.0.0.2:80 comment \"\\\"dnat to 10.9.9.9:1\\\"\" # handle 3\n\
        \t}\n}\n";
    xt::translate(&mut ruleset, listing);
    let exprs = |i: usize| ruleset["nftables"][i]["rule"]["expr"].clone();
    assert_eq!(exprs(1)[1], json!({"reject": {"type": "tcp reset"}}));
    assert_eq!(
        exprs(2)[1],
        json!({"dnat": {"addr": "10.0.0.2", "port": 80}})
    );
}

/// The reset a reject sends back is related to the connection it rejects: an egress allow-list
/// that accepts established packets only drops it; one that accepts related ones too does not.
#[test]
fn a_rejects_reset_is_related_to_the_connection() {
    let reset = Packet {
        src: Some("10.77.0.1".parse().unwrap()),
        dst: "10.77.0.9".parse().unwrap(),
        sport: Some(8080),
        dport: None,
        state: CtState::Related,
        iif: Interface::None,
        oif: Interface::Named("eth0".to_owned()),
        src_local: Some(true),
        dst_local: Some(false),
        // The kernel's own reset belongs to no socket.
        owner: SocketOwner::default(),
        dnat: None,
    };
    let out = |accept: &str| {
        let save = format!(
            "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT DROP [0:0]\n\
             -A OUTPUT -m conntrack --ctstate {accept} -j ACCEPT\n-A OUTPUT -p tcp -m tcp --sport 22 -j ACCEPT\nCOMMIT\n"
        );
        let ruleset = with_legacy(
            Value::Null,
            vec![legacy::translate(&save, "ip", Tool::IptablesLegacy)],
        );
        blockers(&ruleset, Hook::Output, &reset)
            .iter()
            .map(|b| (b.rule.clone(), b.stops, b.certain))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        out("ESTABLISHED"),
        [("policy drop".to_owned(), Stops::Reply, true)]
    );
    assert!(out("RELATED,ESTABLISHED").is_empty());
}

/// Counts that are limits: nft's `ct count` in a rule or in a set's statement (`add @perip {
/// ip saddr ct count over 2 }`), iptables' `-m recent --hitcount` (ufw's `limit`) and
/// `-m connlimit`; a `recent` list without a count (a port knock's, a ban's) is no limit.
#[test]
fn connection_counts_are_limits_and_a_recent_list_is_not() {
    let nft = json!({"nftables": [
        {"chain": {"family": "inet", "table": "t", "name": "in", "type": "filter",
                   "hook": "input", "prio": 0, "policy": "accept"}},
        {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 3, "expr": [
            {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 9}},
            {"set": {"op": "add", "elem": {"payload": {"protocol": "ip", "field": "saddr"}},
                     "set": "@perip", "stmt": [{"ct count": {"val": 2, "inv": true}}]}},
            {"reject": null}]}},
    ]});
    let found = blockers(&nft, Hook::Input, &arriving_by_eth0(9));
    assert!(found[0].rate_limit, "{found:?}");
    assert!(!found[0].certain, "{found:?}");
    let save = "*filter\n:INPUT ACCEPT [0:0]\n\
        -A INPUT -p tcp -m tcp --dport 22 -m recent --update --seconds 30 --hitcount 6 --name DEFAULT -j REJECT\n\
        -A INPUT -p tcp -m tcp --dport 23 -m recent --rcheck --name KNOCK -j ACCEPT\n\
        -A INPUT -p tcp -m tcp --dport 23 -j DROP\n\
        -A INPUT -p tcp -m tcp --dport 24 -m connlimit --connlimit-above 2 -j REJECT\nCOMMIT\n";
    let saved = legacy::translate(save, "ip", Tool::Iptables);
    let ruleset = json!({"nftables": [], "legacy": [saved]});
    let limit = |port| blockers(&ruleset, Hook::Input, &arriving_by_eth0(port))[0].rate_limit;
    assert!(limit(22));
    assert!(!limit(23), "a port knock's list is no limit");
    assert!(limit(24));
}
