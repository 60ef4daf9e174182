//! The interfaces a chain of the `ingress` and `egress` hooks is attached to: a `netdev`
//! table's base chains (and an `inet` one's `ingress`) see only the packets of the devices they
//! name, before routing and conntrack on the way in, after them on the way out.
//!
//! nft's JSON names the devices as a chain's `dev` (a name, or a list of names) from nftables
//! 1.0.7 on; 1.0.6 (Debian 12's) leaves them out, so they are read from its text listing then,
//! where each such chain's first line says `device "eth0"` or `devices = { eth0, lo }`.

use std::collections::HashMap;

use serde_json::Value;

/// The hooks whose chains are attached to devices.
const DEVICE_HOOKS: [&str; 2] = ["ingress", "egress"];

/// Whether `chain` is a base chain of a device hook.
fn is_device_chain(chain: &Value) -> bool {
    chain["hook"]
        .as_str()
        .is_some_and(|hook| DEVICE_HOOKS.contains(&hook))
}

/// Whether some base chain of a device hook in `ruleset` (nft's JSON) does not name its
/// devices: nft's listing is needed to tell them.
pub fn lacks_devices(ruleset: &Value) -> bool {
    chains(ruleset).any(|chain| is_device_chain(chain) && chain.get("dev").is_none())
}

fn chains(ruleset: &Value) -> impl Iterator<Item = &Value> {
    ruleset["nftables"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|item| item.get("chain"))
}

/// Gives each base chain of a device hook in `ruleset` that does not name its devices the
/// `dev` that nft's `listing` (`nft list ruleset`, or a table's) says.
pub fn add_devices(ruleset: &mut Value, listing: &str) {
    let devices = parse_listing(listing);
    let Some(items) = ruleset["nftables"].as_array_mut() else {
        return;
    };
    for chain in items.iter_mut().filter_map(|item| item.get_mut("chain")) {
        if !is_device_chain(chain) || chain.get("dev").is_some() {
            continue;
        }
        let key = (
            chain["family"].as_str().unwrap_or_default().to_owned(),
            chain["table"].as_str().unwrap_or_default().to_owned(),
            chain["name"].as_str().unwrap_or_default().to_owned(),
        );
        if let (Some(names), Some(chain)) = (devices.get(&key), chain.as_object_mut()) {
            let names = names.iter().cloned().map(Value::String).collect();
            chain.insert("dev".to_owned(), Value::Array(names));
        }
    }
}

/// `(family, table, chain)` of the listing's device chains, with the devices each names.
fn parse_listing(listing: &str) -> HashMap<(String, String, String), Vec<String>> {
    let mut found = HashMap::new();
    let (mut family, mut table, mut chain) = (String::new(), String::new(), String::new());
    for line in listing.lines() {
        let line = line.split(" # ").next().unwrap_or_default().trim();
        if let Some(head) = line.strip_suffix('{').map(str::trim) {
            if let Some((fam, name)) = head.strip_prefix("table ").and_then(|r| r.split_once(' ')) {
                fam.clone_into(&mut family);
                table = unquote(name);
            } else if let Some(name) = head.strip_prefix("chain ") {
                chain = unquote(name);
            }
            continue;
        }
        if !line.starts_with("type ") {
            continue;
        }
        if let Some(devices) = devices_of(line) {
            found.insert((family.clone(), table.clone(), chain.clone()), devices);
        }
    }
    found
}

/// The devices a chain's `type ... hook ingress device "eth0" priority ...` line names
/// (`devices = { eth0, lo }` for several).
fn devices_of(line: &str) -> Option<Vec<String>> {
    if let Some((_, rest)) = line.split_once(" devices = {") {
        let (list, _) = rest.split_once('}')?;
        return Some(
            list.split(',')
                .map(unquote)
                .filter(|d| !d.is_empty())
                .collect(),
        );
    }
    let (_, rest) = line.split_once(" device ")?;
    let name = rest.split_whitespace().next()?;
    Some(vec![unquote(name.trim_end_matches(';'))])
}

fn unquote(name: &str) -> String {
    name.trim().trim_matches('"').to_owned()
}

/// Whether `chain` (a base chain of a device hook) sees the packets of `device`. A chain whose
/// devices are not known is not walked: blaming its rules would be a guess.
pub fn is_attached(chain: &Value, device: &str) -> bool {
    match &chain["dev"] {
        Value::String(name) => name == device,
        Value::Array(names) => names.iter().any(|name| name == device),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTING: &str = r#"table netdev f { # handle 2
	chain in { # handle 1
		type filter hook ingress devices = { h30c0, lo } priority filter; policy accept;
		tcp sport 80 drop # handle 3
	}

	chain out { # handle 2
		type filter hook egress device "h30c0" priority filter; policy accept;
		ip daddr 10.130.0.2 tcp dport 81 drop # handle 4
	}
}
table inet filter { # handle 3
	chain input { # handle 1
		type filter hook input priority filter; policy accept;
	}
}
"#;

    #[test]
    fn the_listing_names_each_chains_devices() {
        let found = parse_listing(LISTING);
        let key = |chain: &str| ("netdev".to_owned(), "f".to_owned(), chain.to_owned());
        assert_eq!(found[&key("in")], ["h30c0", "lo"]);
        assert_eq!(found[&key("out")], ["h30c0"]);
        assert_eq!(found.len(), 2, "{found:?}");
    }

    #[test]
    fn chains_without_devices_get_the_listings() {
        let mut ruleset = serde_json::json!({"nftables": [
            {"chain": {"family": "netdev", "table": "f", "name": "in", "hook": "ingress", "type": "filter", "prio": 0}},
            {"chain": {"family": "netdev", "table": "f", "name": "out", "hook": "egress", "type": "filter", "prio": 0}},
            {"chain": {"family": "inet", "table": "filter", "name": "input", "hook": "input", "type": "filter", "prio": 0}},
        ]});
        assert!(lacks_devices(&ruleset));
        add_devices(&mut ruleset, LISTING);
        assert!(!lacks_devices(&ruleset));
        let chain = |n: usize| ruleset["nftables"][n]["chain"].clone();
        assert!(is_attached(&chain(0), "lo"));
        assert!(is_attached(&chain(0), "h30c0"));
        assert!(is_attached(&chain(1), "h30c0"));
        assert!(!is_attached(&chain(1), "lo"));
        assert!(chain(2).get("dev").is_none());
        // nft 1.0.7's own JSON: a name, or a list.
        let named = serde_json::json!({"hook": "ingress", "dev": "eth0"});
        assert!(is_attached(&named, "eth0") && !is_attached(&named, "eth1"));
    }
}
