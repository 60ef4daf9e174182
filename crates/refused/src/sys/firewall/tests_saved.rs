//! Rules of iptables-save's text (the iptables-legacy tables, a big host's iptables-nft ones)
//! translated only when the walk meets them, and kept only when they may match: what is left
//! could never have matched, and a big ruleset keeps few.

use super::*;

fn from_text(save: &str) -> Value {
    with_legacy(
        Value::Null,
        vec![legacy::translate(save, "ip", Tool::IptablesLegacy)],
    )
}

/// A SYN from 10.0.0.9 to `dst:dport`.
fn syn(dst: &str, dport: u16) -> Packet {
    Packet {
        dst_local: Some(false),
        ..Packet::outgoing(
            Some("10.0.0.9".parse().unwrap()),
            dst.parse().unwrap(),
            dport,
        )
    }
}

/// kube-proxy's tables (iptables mode) for `services` services of one endpoint each, in
/// `10.96.0.0/16`, their endpoints in `10.244.0.0/16`, and a REJECT in filter for each tenth
/// (no endpoints).
fn kube_proxy(services: usize) -> String {
    let mut filter = vec![
        "*filter".to_owned(),
        ":INPUT ACCEPT [0:0]".to_owned(),
        ":FORWARD ACCEPT [0:0]".to_owned(),
        ":OUTPUT ACCEPT [0:0]".to_owned(),
        ":KUBE-SERVICES - [0:0]".to_owned(),
        "-A OUTPUT -m conntrack --ctstate NEW -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES".to_owned(),
    ];
    let mut nat = vec![
        "*nat".to_owned(),
        ":PREROUTING ACCEPT [0:0]".to_owned(),
        ":INPUT ACCEPT [0:0]".to_owned(),
        ":OUTPUT ACCEPT [0:0]".to_owned(),
        ":POSTROUTING ACCEPT [0:0]".to_owned(),
        ":KUBE-SERVICES - [0:0]".to_owned(),
        ":KUBE-MARK-MASQ - [0:0]".to_owned(),
        "-A PREROUTING -j KUBE-SERVICES".to_owned(),
        "-A OUTPUT -j KUBE-SERVICES".to_owned(),
        "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000".to_owned(),
    ];
    let mut rules = Vec::new();
    for i in 0..services {
        let ip = format!("10.96.{}.{}", i / 250, i % 250 + 1);
        let endpoint = format!("10.244.{}.{}", i / 250, i % 250 + 1);
        if i % 10 == 9 {
            filter.push(format!("-A KUBE-SERVICES -d {ip}/32 -p tcp -m comment --comment \"svc-{i} has no endpoints\" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable"));
            continue;
        }
        nat.push(format!(":KUBE-SVC-{i} - [0:0]"));
        nat.push(format!(":KUBE-SEP-{i} - [0:0]"));
        rules.push(format!(
            "-A KUBE-SERVICES -d {ip}/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-{i}"
        ));
        rules.push(format!("-A KUBE-SVC-{i} -j KUBE-SEP-{i}"));
        rules.push(format!(
            "-A KUBE-SEP-{i} -s {endpoint}/32 -j KUBE-MARK-MASQ"
        ));
        rules.push(format!(
            "-A KUBE-SEP-{i} -p tcp -m tcp -j DNAT --to-destination {endpoint}:8080"
        ));
    }
    filter.push("COMMIT".to_owned());
    nat.extend(rules);
    nat.push("COMMIT".to_owned());
    filter.extend(nat);
    filter.join("\n") + "\n"
}

#[test]
fn a_rule_left_for_one_packet_still_stops_the_next() {
    let ruleset = from_text(
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
         -A OUTPUT -d 10.0.0.1/32 -p tcp -m tcp --dport 80 -j REJECT\n\
         -A OUTPUT -d 10.0.0.2/32 -p tcp -m tcp --dport 80 -j DROP\n\
         -A OUTPUT -p tcp -m tcp --dport 81 -m mark --mark 0x1 -j DROP\nCOMMIT\n",
    );
    let indexed = Indexed::new(&ruleset);
    let stops = |dst: &str, port| -> Vec<_> {
        let packet = syn(dst, port);
        indexed
            .blockers(Hook::Output, &packet, &packet)
            .iter()
            .map(|b| (b.position, b.verdict, b.certain))
            .collect()
    };
    // No rule can match: none is kept.
    assert_eq!(stops("10.0.0.3", 80), []);
    assert_eq!(indexed.kept(), 0);
    assert_eq!(stops("10.0.0.2", 80), [(Some(2), Verdict::Drop, true)]);
    assert_eq!(indexed.kept(), 1);
    assert_eq!(stops("10.0.0.1", 80), [(Some(1), Verdict::Reject, true)]);
    assert_eq!(indexed.kept(), 2);
    // Kept, they are judged again: neither stops another address.
    assert_eq!(stops("10.0.0.3", 80), []);
    assert_eq!(stops("10.0.0.2", 80), [(Some(2), Verdict::Drop, true)]);
    // A rule that may match (a mark we do not read) is kept as well.
    assert_eq!(stops("10.0.0.3", 81), [(Some(3), Verdict::Drop, false)]);
    assert_eq!(indexed.kept(), 3);
}

#[test]
fn a_big_ruleset_keeps_only_the_rules_that_may_match() {
    let ruleset = from_text(&kube_proxy(5_000));
    let indexed = Indexed::new(&ruleset);
    // The 1,235th service: KUBE-SERVICES's jump, the service's chain, its endpoint's DNAT.
    let packet = syn("10.96.4.235", 80);
    let found = indexed.dnat(NatHook::Output, &packet);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].chain, "KUBE-SEP-1234");
    assert_eq!(
        found[0].destination(&packet),
        Some("10.244.4.235:8080".parse().unwrap())
    );
    assert!(found[0].certain);
    // The jumps on the way (nat OUTPUT's, KUBE-SERVICES's, the service's), the DNAT, of
    // 18,500 rules.
    assert_eq!(indexed.kept(), 4);
    // The 10th service has no endpoints: its REJECT.
    let packet = syn("10.96.0.10", 80);
    let stops = indexed.blockers(Hook::Output, &packet, &packet);
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(
        (stops[0].chain.as_str(), stops[0].position),
        ("KUBE-SERVICES", Some(1))
    );
    // Filter OUTPUT's jump and the REJECT.
    assert_eq!(indexed.kept(), 6);
}

#[test]
fn owner_matches_of_iptables_saves_text_are_found_and_no_others() {
    let save = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
        -A OUTPUT -p tcp -m comment --comment \"not an --uid-owner 5 match\" -j ACCEPT\n\
        -A OUTPUT -p tcp -m owner --gid-owner 27 -j DROP\n\
        -A OUTPUT -p tcp -m owner ! --uid-owner 0 -j DROP\n\
        -A OUTPUT -p tcp -m owner --uid-owner 1000 -j REJECT\nCOMMIT\n";
    let ruleset = from_text(save);
    assert!(has_owner_match(&ruleset));
    assert_eq!(owner_ids(&ruleset), (vec![1000], vec![27]));
    let without = from_text(&save.replace("-m owner", "-m mark"));
    assert!(!has_owner_match(&without));
    assert_eq!(owner_ids(&without), (vec![], vec![]));
}

#[test]
fn a_rule_whose_match_fails_is_left_untranslated_after_it() {
    let chains = std::collections::HashSet::from(["KUBE-SVC-1"]);
    let line = "-A KUBE-SERVICES -d 10.96.0.1/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-1";
    let whole = legacy::rule("ip", "nat", "KUBE-SERVICES", line, &|c| chains.contains(c));
    assert_eq!(whole["expr"].as_array().map(Vec::len), Some(4), "{whole}");
    assert_eq!(
        whole["expr"][3],
        serde_json::json!({"jump": {"target": "KUBE-SVC-1"}})
    );
    // Asked about each expression in turn, up to the first that fails.
    let mut asked = Vec::new();
    let mut fails = |expr: &Value| {
        asked.push(expr.clone());
        expr.to_string().contains("daddr")
    };
    let none = legacy::rule_unless(
        "ip",
        "nat",
        "KUBE-SERVICES",
        line,
        &|c| chains.contains(c),
        &mut fails,
    );
    assert_eq!(none, None);
    assert_eq!(asked, [whole["expr"][0].clone()]);
    // None fails: the whole rule, as `rule` translates it.
    let kept = legacy::rule_unless(
        "ip",
        "nat",
        "KUBE-SERVICES",
        line,
        &|c| chains.contains(c),
        &mut |_| false,
    );
    assert_eq!(kept.as_ref(), Some(&whole));
    // A rule without matches: nothing to ask.
    let bare = "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000";
    let kept = legacy::rule_unless(
        "ip",
        "nat",
        "KUBE-MARK-MASQ",
        bare,
        &|c| chains.contains(c),
        &mut |_| true,
    );
    assert!(kept.is_some());
}

/// The chains are read before the rules, as nft's are: a rule whose chain is declared after it
/// (a table listed twice) is in that chain.
#[test]
fn a_rule_before_its_chains_declaration_is_read() {
    let ruleset = from_text(
        "*filter\n-A OUTPUT -p tcp -m tcp --dport 5 -j DROP\nCOMMIT\n\
         *filter\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n",
    );
    let packet = syn("10.0.0.1", 5);
    let found = blockers(&ruleset, Hook::Output, &packet);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].rule, "-A OUTPUT -p tcp -m tcp --dport 5 -j DROP");
}
