//! This host's firewall, read from the nftables ruleset (`nft -j list ruleset`; iptables-nft
//! rules show there too), and the rules that would stop a connection.
//!
//! Reading the ruleset needs root (`CAP_NET_ADMIN`). The evaluation is a pure function of the
//! ruleset's JSON and one packet, tested on fixtures: it understands the matches that decide
//! where a TCP connection goes (addresses, ports, protocol, `ct state`) and calls a rule with any
//! other match one that *may* apply, so an unknown rule is never stated as the cause.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::process::Command;

use serde::Serialize;
use serde_json::Value;

/// A packet of a TCP connection, as the firewall sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet {
    /// Source address, when known.
    pub src: Option<IpAddr>,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port, when known.
    pub sport: Option<u16>,
    /// Destination port.
    pub dport: u16,
    /// Whether conntrack sees it as part of an established connection (a reply).
    pub established: bool,
}

/// The netfilter hook a chain is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    /// Packets this host sends.
    Output,
    /// Packets for this host.
    Input,
}

/// A rule (or a chain's policy) that stops the packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// `family table` (`inet filter`).
    pub table: String,
    /// The chain's name.
    pub chain: String,
    /// Its hook.
    pub hook: Hook,
    /// The rule, written as nft would (`tcp dport 7001 drop`), or `policy drop`.
    pub rule: String,
    /// `drop` or `reject`.
    pub verdict: &'static str,
    /// The rule's handle (`nft delete rule ... handle N`); `None` for a policy.
    pub handle: Option<u64>,
    /// False when the rule has matches we do not evaluate (interfaces, marks, named sets...):
    /// it may stop the packet, or may not.
    pub certain: bool,
}

impl Hook {
    /// nft's name for it: `output`, `input`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Output => "output",
            Self::Input => "input",
        }
    }
}

/// Why the ruleset could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FirewallError {
    /// `nft` is not installed.
    #[error("`nft` is not installed")]
    NoTool,
    /// Reading the ruleset needs root.
    #[error("reading the firewall rules needs root")]
    NotPermitted,
    /// `nft` failed otherwise, or printed something we could not read.
    #[error("`nft` failed: {0}")]
    Failed(String),
}

/// The nftables ruleset of this network namespace, as JSON.
pub fn read_ruleset() -> Result<Value, FirewallError> {
    let output = Command::new("nft")
        .args(["-j", "list", "ruleset"])
        .output()
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => FirewallError::NoTool,
            _ => FirewallError::Failed(err.to_string()),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        if stderr.contains("Operation not permitted") || stderr.contains("Permission denied") {
            return Err(FirewallError::NotPermitted);
        }
        return Err(FirewallError::Failed(stderr.trim().to_owned()));
    }
    serde_json::from_slice(&output.stdout).map_err(|err| FirewallError::Failed(err.to_string()))
}

/// The rules and policies of `ruleset` that stop `packet` at `hook`.
pub fn blockers(ruleset: &Value, hook: Hook, packet: &Packet) -> Vec<Blocker> {
    let items = ruleset["nftables"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    let mut found = Vec::new();
    for chain in items.iter().filter_map(|item| item.get("chain")) {
        if chain["hook"] != hook.as_str() || chain["type"] != "filter" {
            continue;
        }
        let family = chain["family"].as_str().unwrap_or_default();
        let applies = match family {
            "inet" => true,
            "ip" => packet.dst.is_ipv4(),
            "ip6" => packet.dst.is_ipv6(),
            _ => false,
        };
        if !applies {
            continue;
        }
        let table = chain["table"].as_str().unwrap_or_default();
        let name = chain["name"].as_str().unwrap_or_default();
        let rules = items
            .iter()
            .filter_map(|item| item.get("rule"))
            .filter(|rule| {
                rule["family"] == family && rule["table"] == table && rule["chain"] == name
            });
        let at = |rule: String, handle, verdict, certain| Blocker {
            table: format!("{family} {table}"),
            chain: name.to_owned(),
            hook,
            rule,
            verdict,
            handle,
            certain,
        };
        // Once a rule that may accept has been passed, nothing later is certain.
        let mut sure = true;
        let mut decided = false;
        for rule in rules {
            let exprs = rule["expr"].as_array().map_or(&[][..], Vec::as_slice);
            let verdict = exprs.iter().find_map(verdict_of);
            let matched = exprs
                .iter()
                .map(|e| matches(e, packet))
                .fold(Some(true), and);
            match (matched, verdict) {
                (Some(false), _) | (_, None) => {}
                (Some(true), Some(Verdict::Accept)) => {
                    decided = true;
                    break;
                }
                (None, Some(Verdict::Accept | Verdict::Other))
                | (Some(true), Some(Verdict::Other)) => sure = false,
                (matched, Some(Verdict::Stop(kind))) => {
                    let certain = sure && matched == Some(true);
                    found.push(at(render(exprs), rule["handle"].as_u64(), kind, certain));
                    if certain {
                        decided = true;
                        break;
                    }
                }
            }
        }
        if !decided && chain["policy"] == "drop" {
            found.push(at("policy drop".to_owned(), None, "drop", sure));
        }
    }
    found
}

enum Verdict {
    Accept,
    Stop(&'static str),
    /// jump, goto, return, queue...: where the packet ends is decided elsewhere.
    Other,
}

fn verdict_of(expr: &Value) -> Option<Verdict> {
    let object = expr.as_object()?;
    let (key, _) = object.iter().next()?;
    Some(match key.as_str() {
        "accept" => Verdict::Accept,
        "drop" => Verdict::Stop("drop"),
        "reject" => Verdict::Stop("reject"),
        "jump" | "goto" | "return" | "queue" | "continue" => Verdict::Other,
        _ => return None,
    })
}

/// `Some(true)` and `Some(true)` is `Some(true)`; any `Some(false)` wins; else unknown.
fn and(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

/// Whether one expression of a rule matches the packet: `Some(true)` for verdicts, counters and
/// other statements; `None` for a match we do not evaluate.
fn matches(expr: &Value, packet: &Packet) -> Option<bool> {
    let Some(m) = expr.get("match") else {
        return Some(true);
    };
    let op = m["op"].as_str().unwrap_or("==");
    let right = &m["right"];
    let left = &m["left"];
    let hit = if let Some(payload) = left.get("payload") {
        let protocol = payload["protocol"].as_str()?;
        let field = payload["field"].as_str()?;
        match (protocol, field) {
            ("ip", "daddr") if packet.dst.is_ipv4() => address_in(packet.dst, right)?,
            ("ip6", "daddr") if packet.dst.is_ipv6() => address_in(packet.dst, right)?,
            ("ip", "saddr") if packet.dst.is_ipv4() => address_in(packet.src?, right)?,
            ("ip6", "saddr") if packet.dst.is_ipv6() => address_in(packet.src?, right)?,
            ("tcp" | "th", "dport") => port_in(packet.dport, right)?,
            ("tcp" | "th", "sport") => port_in(packet.sport?, right)?,
            // An `ip` match never matches an IPv6 packet, and the other way round.
            ("ip" | "ip6" | "udp" | "sctp" | "icmp" | "icmpv6", _) => return Some(false),
            _ => return None,
        }
    } else if let Some(meta) = left.get("meta") {
        match meta["key"].as_str()? {
            "l4proto" => named_in("tcp", right)?,
            "nfproto" => named_in(if packet.dst.is_ipv4() { "ipv4" } else { "ipv6" }, right)?,
            _ => return None,
        }
    } else if left.get("ct").is_some_and(|ct| ct["key"] == "state") {
        let state = if packet.established {
            "established"
        } else {
            "new"
        };
        named_in(state, right)?
    } else {
        return None;
    };
    match op {
        "==" | "in" => Some(hit),
        "!=" => Some(!hit),
        _ => None,
    }
}

fn values(right: &Value) -> Vec<&Value> {
    match right.get("set").and_then(Value::as_array) {
        Some(set) => set.iter().collect(),
        None => match right.as_array() {
            Some(list) => list.iter().collect(),
            None => vec![right],
        },
    }
}

fn port_in(port: u16, right: &Value) -> Option<bool> {
    let mut hit = false;
    for value in values(right) {
        if let Some(n) = value.as_u64() {
            hit |= n == u64::from(port);
        } else if let Some([lo, hi]) = value
            .get("range")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            hit |= (lo.as_u64()?..=hi.as_u64()?).contains(&u64::from(port));
        } else {
            return None;
        }
    }
    Some(hit)
}

fn address_in(ip: IpAddr, right: &Value) -> Option<bool> {
    let mut hit = false;
    for value in values(right) {
        if let Some(text) = value.as_str() {
            hit |= text.parse::<IpAddr>().ok()? == ip;
        } else if let Some(prefix) = value.get("prefix") {
            let net: IpAddr = prefix["addr"].as_str()?.parse().ok()?;
            let len = u32::try_from(prefix["len"].as_u64()?).ok()?;
            hit |= in_prefix(ip, net, len);
        } else {
            return None;
        }
    }
    Some(hit)
}

fn in_prefix(ip: IpAddr, net: IpAddr, len: u32) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - len.min(32)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - len.min(128)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

fn named_in(name: &str, right: &Value) -> Option<bool> {
    let mut hit = false;
    for value in values(right) {
        hit |= value.as_str()? == name;
    }
    Some(hit)
}

/// Writes a rule back in nft's own syntax, as far as the common expressions go.
fn render(exprs: &[Value]) -> String {
    let mut text = String::new();
    for expr in exprs {
        let part = render_one(expr);
        if !part.is_empty() {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&part);
        }
    }
    text
}

fn render_one(expr: &Value) -> String {
    if let Some(m) = expr.get("match") {
        let left = &m["left"];
        let subject = if let Some(p) = left.get("payload") {
            format!("{} {}", plain(&p["protocol"]), plain(&p["field"]))
        } else if let Some(meta) = left.get("meta") {
            let key = plain(&meta["key"]);
            if key.ends_with("ifname") {
                // nft writes interface names quoted and without `meta`.
                return format!("{key} \"{}\"", plain(&m["right"]));
            }
            format!("meta {key}")
        } else if let Some(ct) = left.get("ct") {
            format!("ct {}", plain(&ct["key"]))
        } else {
            left.to_string()
        };
        let op = match m["op"].as_str() {
            Some("==" | "in") | None => String::new(),
            Some(op) => format!(" {op}"),
        };
        return format!("{subject}{op} {}", render_value(&m["right"]));
    }
    let Some((key, value)) = expr.as_object().and_then(|o| o.iter().next()) else {
        return String::new();
    };
    match key.as_str() {
        "counter" => String::new(),
        "reject" => {
            let mut text = "reject".to_owned();
            if let (Some(kind), Some(code)) = (value["type"].as_str(), value["expr"].as_str()) {
                let _ = write!(text, " with {kind} {code}");
            } else if let Some(kind) = value["type"].as_str() {
                let _ = write!(text, " with {}", kind.replace('_', " "));
            }
            text
        }
        "jump" | "goto" => format!("{key} {}", plain(&value["target"])),
        other => other.to_owned(),
    }
}

fn render_value(value: &Value) -> String {
    if let Some(set) = value.get("set").and_then(Value::as_array) {
        let items: Vec<String> = set.iter().map(render_value).collect();
        return format!("{{ {} }}", items.join(", "));
    }
    if let Some([lo, hi]) = value
        .get("range")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    {
        return format!("{}-{}", plain(lo), plain(hi));
    }
    if let Some(prefix) = value.get("prefix") {
        return format!("{}/{}", plain(&prefix["addr"]), plain(&prefix["len"]));
    }
    if let Some(list) = value.as_array() {
        let items: Vec<String> = list.iter().map(render_value).collect();
        return items.join(",");
    }
    plain(value)
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULESET: &str = include_str!("../../tests/fixtures/nft_ruleset.json");

    fn ruleset() -> Value {
        serde_json::from_str(RULESET).unwrap()
    }

    fn to(dst: &str, dport: u16) -> Packet {
        Packet {
            src: None,
            dst: dst.parse().unwrap(),
            sport: None,
            dport,
            established: false,
        }
    }

    fn rules(found: &[Blocker]) -> Vec<(&str, bool)> {
        found.iter().map(|b| (b.rule.as_str(), b.certain)).collect()
    }

    #[test]
    fn a_port_drop_stops_that_port_only() {
        let found = blockers(&ruleset(), Hook::Output, &to("10.1.2.3", 7001));
        assert_eq!(rules(&found), [("tcp dport 7001 drop", true)]);
        assert_eq!(found[0].table, "inet t");
        assert_eq!(found[0].verdict, "drop");
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
            established: true,
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
}
