//! Which policy rule (`ip rule`) and which route stopped a packet the kernel would not route:
//! the rules walked in order of priority, as the kernel walks them, over `ip -j rule show` and
//! `ip -j route show table all`.
//!
//! The kernel's lookup gives only the errno. A rule whose own action is `prohibit`,
//! `unreachable` or `blackhole` is no route at all (`ip route show` lists nothing), and a route
//! of a table that only a rule selecting on the port or the mark chooses is one that the main
//! table's reader never sees: both are named with the rule. The walk reads the selectors our
//! connection's first packet can match (destination, source, protocol, ports, mark: none, uid,
//! `iif lo`); a rule with a selector it does not know (`tos`, `oif`, `l3mdev`) is taken not to
//! match, which is what it does for an unbound socket with no TOS.

use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;

use super::{RouteKind, prefix_holding};

/// The first packet of our connection, as the policy rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Flow {
    /// Where it goes.
    pub dst: IpAddr,
    /// Its destination port.
    pub dport: u16,
    /// The source address the kernel picks (`None`: not known; a `from` rule is then taken to
    /// match only `all`).
    pub src: Option<IpAddr>,
    /// The uid of the process that connects.
    pub uid: u32,
}

/// A policy routing rule of this host, as `ip rule` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyRule {
    /// Its priority (`ip rule`'s `pref`).
    pub priority: u32,
    /// What it selects, as `ip rule` writes it (`to 10.0.0.0/8`, `not fwmark 0xca6c`,
    /// `ipproto tcp dport 5432`); empty for every packet (`from all`).
    pub selector: String,
    /// What it does: `prohibit`, `unreachable`, `blackhole`, or `lookup TABLE`.
    pub action: String,
}

impl PolicyRule {
    /// Whether the rule itself rejects (its action is `prohibit`, `unreachable` or `blackhole`)
    /// rather than choosing a table.
    pub fn rejects(&self) -> bool {
        RouteKind::from_name(&self.action).is_some()
    }

    /// The rule as `ip rule` writes it: `to 10.0.0.0/8 prohibit`.
    pub fn text(&self) -> String {
        if self.selector.is_empty() {
            format!("from all {}", self.action)
        } else {
            format!("{} {}", self.selector, self.action)
        }
    }

    /// The command that removes it: its priority and selector, so that no other rule goes.
    pub fn ip_rule_del(&self, ip: IpAddr) -> String {
        let six = if ip.is_ipv6() { " -6" } else { "" };
        format!("ip{six} rule del pref {} {}", self.priority, self.text())
    }
}

/// What the walk found: the rule that rejects, or the route of the table a rule chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The rule: the one that rejects, or the one that chose the route's table (`None`: the
    /// main table's own rule, which every host has).
    pub rule: Option<PolicyRule>,
    /// The route of that table, when a route rejects: its destination and table.
    pub route: Option<(String, Option<String>)>,
}

/// Walks `rules` (`ip -j rule show`) for `flow`, looking each table up in `routes` (`ip -j
/// route show table all`), until a rule or route of `kind` stops it. `None` when the walk ends
/// elsewhere (a route that leads somewhere, no rule that fits): the caller keeps what it knew.
pub fn walk(rules: &Value, routes: &Value, flow: &Flow, kind: RouteKind) -> Option<Found> {
    let mut rules: Vec<&Value> = rules.as_array()?.iter().collect();
    rules.sort_by_key(|rule| rule["priority"].as_u64().unwrap_or(0));
    let mut skip_below = 0;
    for rule in rules {
        let priority = rule["priority"].as_u64().unwrap_or(0) as u32;
        if priority < skip_below || !matches(rule, flow) {
            continue;
        }
        if rule.get("nop").is_some() {
            continue;
        }
        if let Some(target) = rule["goto"].as_u64() {
            skip_below = target as u32;
            continue;
        }
        if let Some(action) = rule["action"].as_str() {
            // A rule of another action (`nat`, ...) ends nothing we know: leave it.
            let acted = RouteKind::from_name(action)?;
            return (acted == kind).then(|| Found {
                rule: Some(policy_rule(rule, priority, action.to_owned())),
                route: None,
            });
        }
        let Some(table) = rule["table"].as_str() else {
            continue;
        };
        let Some((length, route)) = best_in_table(routes, table, flow.dst) else {
            continue;
        };
        let suppressed = rule["suppress_prefixlen"]
            .as_u64()
            .is_some_and(|most| u64::from(length) <= most);
        let kind_here = route["type"].as_str().unwrap_or("unicast");
        if suppressed || kind_here == "throw" {
            continue;
        }
        if RouteKind::from_name(kind_here) != Some(kind) {
            // A route that leads somewhere (or rejects another way): not what the kernel said.
            return None;
        }
        let standard = is_standard(rule);
        return Some(Found {
            rule: (!standard).then(|| policy_rule(rule, priority, format!("lookup {table}"))),
            route: Some((
                route["dst"].as_str().unwrap_or("default").to_owned(),
                Some(table.to_owned()).filter(|t| t != "main"),
            )),
        });
    }
    None
}

/// Whether a rule every host has chose the table: `from all lookup local|main|default`.
fn is_standard(rule: &Value) -> bool {
    let Some(fields) = rule.as_object() else {
        return false;
    };
    fields.len() == 3
        && rule["src"] == "all"
        && matches!(rule["table"].as_str(), Some("local" | "main" | "default"))
}

/// The most specific route of `table` that holds `dst`, with its prefix length.
fn best_in_table<'a>(routes: &'a Value, table: &str, dst: IpAddr) -> Option<(u32, &'a Value)> {
    routes
        .as_array()?
        .iter()
        .filter(|route| route["table"].as_str().unwrap_or("main") == table)
        .filter_map(|route| Some((prefix_holding(route["dst"].as_str()?, dst)?, route)))
        .max_by_key(|(length, _)| *length)
}

/// Whether the rule's selectors all match `flow` (then `not` turns it over).
fn matches(rule: &Value, flow: &Flow) -> bool {
    let fits = |(address, length): (&str, &str), ip: Option<IpAddr>| {
        if matches!(rule[address].as_str(), None | Some("all" | "default")) {
            return true;
        }
        let Some(ip) = ip else {
            return false;
        };
        let prefix = match rule[length].as_u64() {
            Some(len) => format!("{}/{len}", rule[address].as_str().unwrap_or_default()),
            None => rule[address].as_str().unwrap_or_default().to_owned(),
        };
        prefix_holding(&prefix, ip).is_some()
    };
    let in_range = |single: &str, start: &str, end: &str, value: u64| match (
        rule[single].as_u64(),
        rule[start].as_u64(),
        rule[end].as_u64(),
    ) {
        (Some(only), _, _) => only == value,
        (None, Some(low), Some(high)) => (low..=high).contains(&value),
        _ => true,
    };
    // Our socket carries no mark: `fwmark X/MASK` matches when X & MASK is 0.
    let mark = rule["fwmark"].as_str().is_none_or(|mark| {
        let hex = |s: &str| u32::from_str_radix(s.trim_start_matches("0x"), 16).ok();
        let mask = rule["fwmask"].as_str().and_then(hex).unwrap_or(u32::MAX);
        hex(mark).is_some_and(|m| m & mask == 0)
    });
    let known = ["tos", "oif", "l3mdev", "sport", "sport_start", "ipproto"]
        .iter()
        .all(|field| match *field {
            // Our socket's source port is not known yet: a rule on it is left unmatched.
            "sport" | "sport_start" => rule.get(*field).is_none(),
            "ipproto" => rule[*field].as_str().is_none_or(|p| p == "tcp" || p == "6"),
            // No TOS, no bound interface, no VRF: such a rule does not take our packet.
            _ => rule.get(*field).is_none() || rule[*field] == 0,
        });
    let iif = rule["iif"].as_str().is_none_or(|iif| iif == "lo");
    let uid = in_range("uid", "uid_start", "uid_end", u64::from(flow.uid));
    let dport = in_range("dport", "dport_start", "dport_end", u64::from(flow.dport));
    let all = fits(("dst", "dstlen"), Some(flow.dst))
        && fits(("src", "srclen"), flow.src)
        && mark
        && known
        && iif
        && uid
        && dport;
    all != rule.get("not").is_some()
}

/// The rule as evidence: its priority, its selectors as `ip rule` writes them, its action.
fn policy_rule(rule: &Value, priority: u32, action: String) -> PolicyRule {
    let mut words: Vec<String> = Vec::new();
    if rule.get("not").is_some() {
        words.push("not".to_owned());
    }
    let prefix = |address: &str, length: &str| {
        let at = rule[address].as_str().filter(|a| *a != "all")?;
        Some(match rule[length].as_u64() {
            Some(len) => format!("{at}/{len}"),
            None => at.to_owned(),
        })
    };
    if let Some(from) = prefix("src", "srclen") {
        words.push(format!("from {from}"));
    }
    if let Some(to) = prefix("dst", "dstlen") {
        words.push(format!("to {to}"));
    }
    if let Some(mark) = rule["fwmark"].as_str() {
        match rule["fwmask"].as_str() {
            Some(mask) => words.push(format!("fwmark {mark}/{mask}")),
            None => words.push(format!("fwmark {mark}")),
        }
    }
    if let Some(iif) = rule["iif"].as_str() {
        words.push(format!("iif {iif}"));
    }
    if let (Some(low), Some(high)) = (rule["uid_start"].as_u64(), rule["uid_end"].as_u64()) {
        words.push(format!("uidrange {low}-{high}"));
    }
    if let Some(proto) = rule["ipproto"].as_str() {
        words.push(format!("ipproto {proto}"));
    }
    if let Some(port) = rule["dport"].as_u64() {
        words.push(format!("dport {port}"));
    } else if let (Some(low), Some(high)) =
        (rule["dport_start"].as_u64(), rule["dport_end"].as_u64())
    {
        words.push(format!("dport {low}-{high}"));
    }
    PolicyRule {
        priority,
        selector: words.join(" "),
        action,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ip -j rule show` of a host with wg-quick's rules, a rule on a port, and rejecting rules.
    fn rules() -> Value {
        serde_json::json!([
            {"priority": 0, "src": "all", "table": "local"},
            {"priority": 32757, "src": "all", "sport": 1000, "nop": null},
            {"priority": 32758, "src": "all", "ipproto": "tcp", "dport": 46400, "table": "100"},
            {"priority": 32759, "src": "all", "ipproto": "udp", "dport": 46401, "table": "100"},
            {"priority": 32760, "src": "all", "iif": "lo", "uid_start": 0, "uid_end": 100,
             "ipproto": "tcp", "dport_start": 46402, "dport_end": 46405, "table": "101"},
            {"priority": 32761, "src": "all", "dst": "10.247.7.0", "dstlen": 24,
             "action": "blackhole"},
            {"priority": 32762, "src": "all", "dst": "10.247.8.0", "dstlen": 24,
             "action": "unreachable"},
            {"priority": 32763, "src": "all", "dst": "10.247.9.0", "dstlen": 24,
             "action": "prohibit"},
            {"priority": 32764, "src": "all", "table": "main", "suppress_prefixlen": 0},
            {"priority": 32765, "not": null, "src": "all", "fwmark": "0xca6c",
             "table": "51820"},
            {"priority": 32766, "src": "all", "table": "main"},
            {"priority": 32767, "src": "all", "table": "default"}
        ])
    }

    fn routes() -> Value {
        serde_json::json!([
            {"type": "unreachable", "dst": "10.247.0.0/16", "table": "100", "flags": []},
            {"type": "throw", "dst": "10.247.1.0/24", "table": "100", "flags": []},
            {"type": "prohibit", "dst": "10.247.0.0/16", "table": "101", "flags": []},
            {"type": "blackhole", "dst": "default", "table": "51820", "flags": []},
            {"dst": "default", "gateway": "10.247.0.1", "dev": "eth0", "flags": []},
            {"type": "unreachable", "dst": "10.247.5.0/24", "flags": []},
            {"type": "local", "dst": "127.0.0.1", "dev": "lo", "table": "local"}
        ])
    }

    fn flow(dst: &str, dport: u16) -> Flow {
        Flow {
            dst: dst.parse().unwrap(),
            dport,
            src: None,
            uid: 0,
        }
    }

    #[test]
    fn a_rule_on_the_port_chooses_the_table_whose_route_rejects() {
        let found = walk(
            &rules(),
            &routes(),
            &flow("10.247.3.4", 46400),
            RouteKind::Unreachable,
        )
        .unwrap();
        let rule = found.rule.unwrap();
        assert_eq!(rule.text(), "ipproto tcp dport 46400 lookup 100");
        assert_eq!(rule.priority, 32758);
        assert!(!rule.rejects());
        assert_eq!(
            found.route,
            Some(("10.247.0.0/16".to_owned(), Some("100".to_owned())))
        );
        // A UDP rule on the next port is not ours; a throw route goes on to the next rule.
        for (dst, port) in [("10.247.3.4", 46401), ("10.247.1.4", 46400)] {
            let found = walk(&rules(), &routes(), &flow(dst, port), RouteKind::Blackhole);
            // wg-quick's table: the main table's default route is suppressed (length 0).
            let found = found.unwrap();
            assert_eq!(found.rule.unwrap().text(), "not fwmark 0xca6c lookup 51820");
            assert_eq!(
                found.route,
                Some(("default".to_owned(), Some("51820".to_owned())))
            );
        }
        // A port range, an owner range and `iif lo`, all ours.
        let found = walk(
            &rules(),
            &routes(),
            &flow("10.247.3.4", 46403),
            RouteKind::Prohibit,
        );
        assert_eq!(
            found.unwrap().rule.unwrap().text(),
            "iif lo uidrange 0-100 ipproto tcp dport 46402-46405 lookup 101"
        );
        let mut other_user = flow("10.247.3.4", 46403);
        other_user.uid = 1000;
        assert!(walk(&rules(), &routes(), &other_user, RouteKind::Prohibit).is_none());
    }

    #[test]
    fn a_rule_that_rejects_is_named_as_a_rule() {
        for (dst, kind, text) in [
            (
                "10.247.7.1",
                RouteKind::Blackhole,
                "to 10.247.7.0/24 blackhole",
            ),
            (
                "10.247.8.1",
                RouteKind::Unreachable,
                "to 10.247.8.0/24 unreachable",
            ),
            (
                "10.247.9.1",
                RouteKind::Prohibit,
                "to 10.247.9.0/24 prohibit",
            ),
        ] {
            let found = walk(&rules(), &routes(), &flow(dst, 80), kind).unwrap();
            assert_eq!(found.route, None);
            let rule = found.rule.unwrap();
            assert!(rule.rejects());
            assert_eq!(rule.text(), text);
            assert_eq!(
                rule.ip_rule_del(dst.parse().unwrap()),
                format!("ip rule del pref {} {text}", rule.priority)
            );
        }
        // The kernel said prohibit; the rule that matches says unreachable: not this walk's.
        assert!(
            walk(
                &rules(),
                &routes(),
                &flow("10.247.8.1", 80),
                RouteKind::Prohibit
            )
            .is_none()
        );
    }

    #[test]
    fn the_main_tables_route_is_named_without_a_rule() {
        let rules = serde_json::json!([
            {"priority": 0, "src": "all", "table": "local"},
            {"priority": 32766, "src": "all", "table": "main"},
            {"priority": 32767, "src": "all", "table": "default"}
        ]);
        let found = walk(
            &rules,
            &routes(),
            &flow("10.247.5.5", 80),
            RouteKind::Unreachable,
        )
        .unwrap();
        assert_eq!(found.rule, None);
        assert_eq!(found.route, Some(("10.247.5.0/24".to_owned(), None)));
        // A route that leads somewhere: the walk does not contradict the kernel.
        assert!(
            walk(
                &rules,
                &routes(),
                &flow("192.0.2.1", 80),
                RouteKind::Unreachable
            )
            .is_none()
        );
    }

    #[test]
    fn selectors() {
        let rule = serde_json::json!({"priority": 5, "src": "10.247.1.0", "srclen": 24,
            "fwmark": "0x10", "fwmask": "0xff", "table": "7"});
        let mut ours = flow("10.247.9.9", 80);
        // The source is not known: a `from` prefix is not taken to match.
        assert!(!matches(&rule, &ours));
        ours.src = Some("10.247.1.5".parse().unwrap());
        // Mark 0x10 under mask 0xff: our unmarked packet does not carry it.
        assert!(!matches(&rule, &ours));
        let mut unmarked = rule.clone();
        unmarked["fwmark"] = "0x100".into();
        assert!(matches(&unmarked, &ours));
        assert_eq!(
            policy_rule(&rule, 5, "lookup 7".to_owned()).text(),
            "from 10.247.1.0/24 fwmark 0x10/0xff lookup 7"
        );
        let tos = serde_json::json!({"priority": 5, "src": "all", "tos": "0x10", "table": "7"});
        assert!(!matches(&tos, &ours));
        let six = serde_json::json!({"priority": 5, "src": "all", "dst": "fd47::", "dstlen": 16,
            "action": "prohibit"});
        assert!(matches(&six, &flow("fd47:1::1", 80)));
        assert!(!matches(&six, &flow("fd48::1", 80)));
        assert_eq!(
            policy_rule(&six, 5, "prohibit".to_owned()).ip_rule_del("fd47::1".parse().unwrap()),
            "ip -6 rule del pref 5 to fd47::/16 prohibit"
        );
    }
}
