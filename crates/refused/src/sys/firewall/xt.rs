//! iptables-nft's extensions, which nft's JSON leaves opaque.
//!
//! iptables-nft writes `-m conntrack --ctstate`, `-m addrtype`, `-m multiport`, `-j REJECT`,
//! `-j DNAT` and the like as xtables extensions inside nftables rules. `nft -j` prints them as
//! `{"xt": {"type": "match", "name": "conntrack"}}`, without their options; nft's text listing
//! (`nft -a -s list ruleset`) translates them (`ct state related,established`, `fib daddr type
//! local`, `reject with tcp reset`, `dnat to 172.17.0.2:80`). [`translate`] reads the listing
//! and puts the native expression in place of each extension it recognises, so that ufw's and
//! Docker's rules are evaluated rather than all "may match". What it cannot read stays `xt`:
//! a match that may hold.

use std::collections::HashMap;

use serde_json::{Value, json};

/// `(family, table, chain, handle)`.
type RuleKey = (String, String, String, u64);

/// Whether any rule of the ruleset has an xtables extension.
pub fn has_xt(ruleset: &Value) -> bool {
    rules(ruleset).any(|rule| exprs(rule).iter().any(|e| e.get("xt").is_some()))
}

fn rules(ruleset: &Value) -> impl Iterator<Item = &Value> {
    ruleset["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item.get("rule"))
}

fn exprs(rule: &Value) -> &[Value] {
    rule["expr"].as_array().map_or(&[][..], Vec::as_slice)
}

/// The rules of nft's text listing (`nft -a -s list ruleset`), by family, table, chain and
/// handle: the text of each rule, without its `# handle` comment.
pub fn parse_listing(listing: &str) -> HashMap<RuleKey, String> {
    enum Block {
        Table,
        Chain,
        Other,
    }
    let mut rules = HashMap::new();
    let mut stack: Vec<Block> = Vec::new();
    let (mut family, mut table, mut chain) = (String::new(), String::new(), String::new());
    for line in listing.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (body, handle) = match line.rsplit_once(" # handle ") {
            Some((body, handle)) => (body.trim(), handle.trim().parse::<u64>().ok()),
            None => (line, None),
        };
        if let Some(head) = body.strip_suffix('{') {
            let head = head.trim();
            if let Some((fam, name)) = head.strip_prefix("table ").and_then(|r| r.split_once(' ')) {
                fam.clone_into(&mut family);
                table = unquote(name);
                stack.push(Block::Table);
            } else if let Some(name) = head.strip_prefix("chain ") {
                chain = unquote(name);
                stack.push(Block::Chain);
            } else {
                stack.push(Block::Other);
            }
        } else if body == "}" {
            stack.pop();
        } else if let (Some(Block::Chain), Some(handle)) = (stack.last(), handle) {
            // `-s` leaves the word `counter` where a counter is: nothing to show.
            let text: Vec<&str> = body
                .split_whitespace()
                .filter(|w| *w != "counter")
                .collect();
            rules.insert(
                (family.clone(), table.clone(), chain.clone(), handle),
                text.join(" "),
            );
        }
    }
    rules
}

fn unquote(name: &str) -> String {
    name.trim().trim_matches('"').to_owned()
}

/// Replaces the xtables extensions of `ruleset`'s rules by native expressions, read from nft's
/// listing of the same ruleset; each such rule also gets its listed text as `"listing"`.
pub fn translate(ruleset: &mut Value, listing: &str) {
    let listed = parse_listing(listing);
    let Some(items) = ruleset.get_mut("nftables").and_then(Value::as_array_mut) else {
        return;
    };
    let rules = items
        .iter_mut()
        .filter_map(|item| item.get_mut("rule"))
        .filter_map(Value::as_object_mut);
    for rule in rules {
        let exprs = |rule: &serde_json::Map<String, Value>| {
            rule.get("expr")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice)
                .to_vec()
        };
        let field = |rule: &serde_json::Map<String, Value>, key: &str| {
            rule.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        // Most rules have none: not copied for nothing (kube-proxy's tens of thousands).
        let has_xt = rule
            .get("expr")
            .and_then(Value::as_array)
            .is_some_and(|exprs| exprs.iter().any(|e| e.get("xt").is_some()));
        if !has_xt {
            continue;
        }
        let native = exprs(rule);
        let key = (
            field(rule, "family"),
            field(rule, "table"),
            field(rule, "chain"),
            rule.get("handle")
                .and_then(Value::as_u64)
                .unwrap_or(u64::MAX),
        );
        let Some(text) = listed.get(&key) else {
            continue;
        };
        // What a comment or another quoted string says is never a clause of the rule.
        let bare = without_quoted(text);
        let mut translated = Vec::with_capacity(native.len());
        for expr in &native {
            match expr.get("xt") {
                Some(xt) => match native_of(xt, &bare, &native) {
                    Some(replacement) => translated.extend(replacement),
                    None => translated.push(expr.clone()),
                },
                None => translated.push(expr.clone()),
            }
        }
        rule.insert("expr".to_owned(), Value::Array(translated));
        rule.insert("listing".to_owned(), Value::String(text.clone()));
    }
}

/// `text` with what each quoted string says left out (`comment "reject with tcp reset"`
/// reads `comment ""`), `\"` within one included.
fn without_quoted(text: &str) -> String {
    let mut bare = String::with_capacity(text.len());
    let mut chars = text.chars();
    let mut quoting = false;
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoting = !quoting;
                bare.push(c);
            }
            '\\' if quoting => {
                chars.next();
            }
            _ if quoting => {}
            c => bare.push(c),
        }
    }
    bare
}

/// nft's `dnat` statement for a listed `dnat to ADDR:PORT` (`:PORT`: the packet's own address).
fn dnat_of(text: &str) -> Option<Value> {
    let (_, to) = single_clause(text, "dnat to ")?;
    let (addr, port) = split_address(&to)?;
    let mut dnat = json!({});
    if let Some(addr) = addr {
        dnat["addr"] = json!(addr);
    }
    if let Some(port) = port {
        dnat["port"] = json!(port);
    }
    Some(json!({"dnat": dnat}))
}

/// The native expressions one extension stands for, read from its rule's listed text; `None`
/// when the text does not say (the extension then stays).
fn native_of(xt: &Value, text: &str, rule: &[Value]) -> Option<Vec<Value>> {
    let has_native = |left_key: &str, detail: &str| {
        rule.iter().any(|e| {
            e.get("match").is_some_and(|m| {
                m["left"].get(left_key).is_some() && m.to_string().contains(detail)
            })
        })
    };
    match (xt["type"].as_str()?, xt["name"].as_str()?) {
        // A comment never decides anything.
        ("match", "comment") => Some(Vec::new()),
        ("match", "conntrack" | "state") => {
            // Only `--ctstate`: any other conntrack option leaves the match unknown.
            let others = [
                "ct status",
                "ct direction",
                "ct original",
                "ct reply",
                "ct expiration",
            ];
            if others.iter().any(|o| text.contains(o)) || has_native("ct", "state") {
                return None;
            }
            let (op, value) = single_clause(text, "ct state ")?;
            let words: Vec<Value> = value.split(',').map(|w| json!(w)).collect();
            Some(vec![match_expr(
                op,
                &json!({"ct": {"key": "state"}}),
                &Value::Array(words),
            )])
        }
        ("match", "addrtype") => {
            let mut found = Vec::new();
            for which in ["saddr", "daddr"] {
                let clause = format!("fib {which} type ");
                if let Some((op, value)) = single_clause(text, &clause) {
                    let left = json!({"fib": {"result": "type", "flags": [which]}});
                    found.push(match_expr(op, &left, &words_value(&value)));
                }
            }
            (!found.is_empty() && !text.contains(" . iif") && !text.contains(" . oif"))
                .then_some(found)
        }
        ("match", "multiport") => {
            if rule.iter().any(|e| {
                e.get("match").is_some_and(|m| {
                    m["left"].get("payload").is_some() && m.to_string().contains("port")
                })
            }) {
                return None;
            }
            let mut found = None;
            for protocol in ["tcp", "udp", "sctp", "dccp", "udplite"] {
                for field in ["dport", "sport"] {
                    let clause = format!("{protocol} {field} ");
                    if let Some((op, value)) = single_clause(text, &clause) {
                        if found.is_some() {
                            return None;
                        }
                        let left = json!({"payload": {"protocol": protocol, "field": field}});
                        found = Some(match_expr(op, &left, &ports_value(&value)?));
                    }
                }
            }
            found.map(|m| vec![m])
        }
        // `--uid-owner` / `--gid-owner` alone are listed as `skuid` / `skgid`; with another
        // option (`--suppl-groups`, `--socket-exists`, both ids) nft lists `xt match owner`.
        ("match", "owner") => {
            if text.contains("xt match owner") || text.contains("meta sk") {
                return None;
            }
            let mut found = Vec::new();
            for key in ["skuid", "skgid"] {
                if let Some((op, value)) = single_clause(text, &format!("{key} ")) {
                    let left = json!({"meta": {"key": key}});
                    found.push(match_expr(op, &left, &ids_value(&value)?));
                }
            }
            (found.len() == 1).then_some(found)
        }
        // `-p tcp -m tcp` with no option (kube-proxy's DNAT to an endpoint): nft lists only
        // the protocol, which a match of its own holds. An option nft kept in the extension
        // (`--tcp-flags`) shows in the listing as a clause of that protocol: left unknown.
        ("match", name @ ("tcp" | "udp")) => {
            let mut rest = text.to_owned();
            for protocol in ["meta l4proto", "ip protocol", "ip6 nexthdr"] {
                rest = rest.replace(&format!("{protocol} {name}"), "");
            }
            let said = rest.split_whitespace().any(|w| w == name || w == "xt");
            (!said).then(Vec::new)
        }
        ("match", "ip") => ebt_ip(text),
        ("target", name) => native_target(name, text),
        _ => None,
    }
}

/// The native statement an iptables target stands for, read from its rule's listed text.
fn native_target(name: &str, text: &str) -> Option<Vec<Value>> {
    match name {
        // `-j NOTRACK` is `-j CT --notrack`; CT's other uses (`--helper`, `--zone`) are listed
        // as `ct helper set`, `ct zone set`, and stay unknown.
        "CT" => has_word_unquoted(text, "notrack").then(|| vec![json!({"notrack": null})]),
        "REJECT" => Some(vec![reject_of(text)]),
        "DNAT" => Some(vec![dnat_of(text)?]),
        "REDIRECT" => {
            if !text.contains("redirect") {
                return None;
            }
            let port = match single_clause(text, "redirect to :") {
                Some((_, port)) => Some(port.parse::<u16>().ok()?),
                None => None,
            };
            Some(vec![json!({"redirect": port.map(|p| json!({"port": p}))})])
        }
        _ => None,
    }
}

/// ebtables' IPv4 match (`-p IPv4 --ip-src --ip-dst --ip-proto --ip-sport --ip-dport`, the
/// kernel's `ebt_ip`), which a `bridge` table's rule holds as `xt match ip` and nft lists as
/// native clauses; `None` when the listing says anything else of it (`ip dscp`, `icmp`).
fn ebt_ip(text: &str) -> Option<Vec<Value>> {
    if ["ip dscp", "icmp", "xt match"]
        .iter()
        .any(|o| text.contains(o))
    {
        return None;
    }
    let payload =
        |protocol: &str, field: &str| json!({"payload": {"protocol": protocol, "field": field}});
    let mut found = Vec::new();
    for field in ["saddr", "daddr"] {
        if let Some((op, value)) = single_clause(text, &format!("ip {field} ")) {
            found.push(match_expr(
                op,
                &payload("ip", field),
                &address_value(&value)?,
            ));
        }
    }
    if let Some((op, value)) = single_clause(text, "ip protocol ") {
        found.push(match_expr(
            op,
            &payload("ip", "protocol"),
            &words_value(&value),
        ));
    }
    for protocol in ["tcp", "udp", "sctp", "dccp", "udplite"] {
        for field in ["dport", "sport"] {
            if let Some((op, value)) = single_clause(text, &format!("{protocol} {field} ")) {
                found.push(match_expr(
                    op,
                    &payload(protocol, field),
                    &ports_value(&value)?,
                ));
            }
        }
    }
    (!found.is_empty()).then_some(found)
}

/// `10.0.0.1` or `10.0.0.0/24` as a JSON value.
fn address_value(value: &str) -> Option<Value> {
    match value.split_once('/') {
        Some((addr, len)) => {
            let len: u8 = len.parse().ok()?;
            Some(json!({"prefix": {"addr": addr, "len": len}}))
        }
        None => Some(json!(value)),
    }
}

/// Whether `word` is a word of `text` outside its quoted strings (a comment).
fn has_word_unquoted(text: &str, word: &str) -> bool {
    text.split('"')
        .step_by(2)
        .any(|outside| outside.split_whitespace().any(|w| w == word))
}

fn match_expr(op: &str, left: &Value, right: &Value) -> Value {
    json!({"match": {"op": op, "left": left, "right": right}})
}

/// The value after `clause` in `text` (`!= ` read as the operator), when the clause occurs
/// exactly once: a word, or a `{ ... }` set.
fn single_clause<'t>(text: &'t str, clause: &str) -> Option<(&'static str, String)> {
    let mut at = text.match_indices(clause);
    let (start, _) = at.next()?;
    if at.next().is_some() {
        return None;
    }
    // `tcp dport` must not be the tail of another word (`th dport` is not `tcp dport`).
    if start > 0 && !text[..start].ends_with(' ') {
        return None;
    }
    let rest: &'t str = &text[start + clause.len()..];
    let (op, rest) = match rest.strip_prefix("!= ") {
        Some(rest) => ("!=", rest),
        None => ("==", rest),
    };
    if let Some(set) = rest.strip_prefix('{') {
        let end = set.find('}')?;
        return Some((op, format!("{{{}}}", &set[..end])));
    }
    let word = rest.split_whitespace().next()?;
    Some((op, word.to_owned()))
}

/// `local` or `{ local, multicast }` as a JSON value.
fn words_value(value: &str) -> Value {
    match value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
        Some(inner) => {
            json!({"set": inner.split(',').map(str::trim).filter(|w| !w.is_empty()).collect::<Vec<_>>()})
        }
        None => json!(value),
    }
}

/// `80`, `1000-2000` or `{ 80, 443 }` as a JSON value.
fn ports_value(value: &str) -> Option<Value> {
    let one = |port: &str| -> Option<Value> {
        match port.split_once('-') {
            Some((lo, hi)) => {
                Some(json!({"range": [lo.parse::<u16>().ok()?, hi.parse::<u16>().ok()?]}))
            }
            None => Some(json!(port.parse::<u16>().ok()?)),
        }
    };
    match value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
        Some(inner) => {
            let items: Option<Vec<Value>> = inner
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(one)
                .collect();
            Some(json!({"set": items?}))
        }
        None => one(value),
    }
}

/// `1000` or `1000-2000` (a uid or gid, or a range of them) as a JSON value; `None` for a
/// name.
pub(super) fn ids_value(value: &str) -> Option<Value> {
    match value.split_once('-') {
        Some((lo, hi)) => {
            Some(json!({"range": [lo.parse::<u32>().ok()?, hi.parse::<u32>().ok()?]}))
        }
        None => Some(json!(value.parse::<u32>().ok()?)),
    }
}

/// `172.17.0.2:80`, `[fd00::2]:80`, `172.17.0.2`: a single address, and a single port if any;
/// `:80` (the packet's own address, that port): no address.
fn split_address(to: &str) -> Option<(Option<String>, Option<u16>)> {
    if let Some(port) = to.strip_prefix(':').filter(|p| !p.starts_with(':')) {
        return Some((None, Some(port.parse::<u16>().ok()?)));
    }
    let (addr, port) = if let Some(rest) = to.strip_prefix('[') {
        let (addr, rest) = rest.split_once(']')?;
        (addr, rest.strip_prefix(':'))
    } else if to.matches(':').count() == 1 {
        let (addr, port) = to.split_once(':')?;
        (addr, Some(port))
    } else {
        (to, None)
    };
    addr.parse::<std::net::IpAddr>().ok()?;
    let port = match port {
        Some(port) => Some(port.parse::<u16>().ok()?),
        None => None,
    };
    Some((Some(addr.to_owned()), port))
}

/// The reject statement of a listed rule: `reject`, `reject with tcp reset`, `reject with icmp
/// type host-prohibited`.
fn reject_of(text: &str) -> Value {
    let Some((_, with)) = text.rsplit_once("reject with ") else {
        return json!({"reject": null});
    };
    let words: Vec<&str> = with.split_whitespace().filter(|w| *w != "type").collect();
    match words.as_slice() {
        ["tcp", "reset", ..] => json!({"reject": {"type": "tcp reset"}}),
        [kind @ ("icmp" | "icmpv6" | "icmpx"), code, ..] => {
            json!({"reject": {"type": kind, "expr": code}})
        }
        _ => json!({"reject": null}),
    }
}
