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
