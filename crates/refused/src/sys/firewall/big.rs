//! A big ruleset (a Kubernetes node's, with kube-proxy in iptables mode: tens of thousands of
//! rules), read by parts.
//!
//! `nft -j list ruleset` of 20,000 iptables-nft rules takes nft a second and 200 MB, and our
//! parse of its 10 MB of JSON as much again; `iptables-nft-save` lists the same rules in a
//! tenth of the time, as text that the walk reads as it reads the legacy tables' (see
//! [`legacy::translate`]: each rule translated only when it is met). So when
//! iptables-nft's tables hold more than [`BIG`] rules, they are read with `iptables-nft-save`
//! and `ip6tables-nft-save` (their rules are `iptables`'s, deleted by position), and every
//! other table with `nft -j list table FAMILY NAME`. A table that iptables-nft-save says it
//! cannot show (its comment `` # Table `filter' is incompatible ``: nft made rules or chains
//! there that iptables cannot print) is read with nft too. The walk meets the base chains of both by
//! priority, as the kernel runs them.

use std::borrow::Cow;
use std::process::{Child, Command, Stdio};

use serde::Deserialize;
use serde_json::Value;

use super::{FirewallError, Tool, legacy, nft};

/// Rules in iptables-nft's tables (both families) from which the ruleset is read by parts.
/// Below, nft's JSON costs little (2,000 rules: about 0.1 s) and its listing is kept for the
/// rule's text and handle.
pub const BIG: usize = 2_000;

/// The tables iptables-nft makes: `ip` and `ip6` tables of these names.
const IPTABLES_TABLES: &[&str] = &["filter", "nat", "mangle", "raw", "security"];

/// What `iptables-nft-save` (or `ip6tables-nft-save`) listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Saved {
    /// `ip` or `ip6`.
    pub(super) family: &'static str,
    /// Its output.
    pub(super) text: String,
    /// The tables it says it cannot show (`` # Table `filter' is incompatible, use 'nft' tool. ``,
    /// `` # Table `nat' contains incompatible base-chains, ... ``): nft must list those. A table
    /// with incompatible base chains is listed all the same, without those chains.
    pub(super) incompatible: Vec<String>,
}

impl Saved {
    /// What `iptables-nft-save` of `family` printed; its text is read once for the tables it
    /// cannot show (megabytes on a Kubernetes node, asked of for every table nft lists).
    pub(super) fn new(family: &'static str, text: String) -> Self {
        let incompatible = text
            .lines()
            .filter_map(|line| line.strip_prefix("# Table `"))
            .filter_map(|rest| rest.split_once('\''))
            .filter(|(_, said)| said.contains("incompatible"))
            .map(|(table, _)| table.to_owned())
            .collect();
        Saved {
            family,
            text,
            incompatible,
        }
    }

    /// Whether it shows `table` whole.
    fn shows(&self, table: &str) -> bool {
        !self.incompatible.iter().any(|t| t == table)
    }

    /// Its text without the tables it could not show in full (not copied when it showed all).
    fn compatible(&self) -> Cow<'_, str> {
        if self.incompatible.is_empty() {
            return Cow::Borrowed(&self.text);
        }
        let mut kept = String::with_capacity(self.text.len());
        let mut skipping = false;
        for line in self.text.lines() {
            if let Some(table) = line.strip_prefix('*') {
                skipping = !self.shows(table.trim());
            }
            if !skipping {
                kept.push_str(line);
                kept.push('\n');
            }
            if line == "COMMIT" {
                skipping = false;
            }
        }
        Cow::Owned(kept)
    }

    /// [`Self::compatible`], its own text moved when it showed all.
    fn into_compatible(self) -> String {
        if self.incompatible.is_empty() {
            return self.text;
        }
        self.compatible().into_owned()
    }
}

/// Both families' iptables-nft tables, listed; `None` when either command is missing or failed
/// (the whole ruleset is then read with nft).
pub(super) fn save_both() -> Option<Vec<Saved>> {
    let spawn = |command: &str| {
        Command::new(command)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()
    };
    // Both at once: each takes a tenth of a second on a big host.
    let v4 = spawn("iptables-nft-save");
    let v6 = spawn("ip6tables-nft-save");
    let finish = |child: Option<Child>, family| {
        let output = child?.wait_with_output().ok()?;
        let text = String::from_utf8(output.stdout)
            .unwrap_or_else(|err| String::from_utf8_lossy(err.as_bytes()).into_owned());
        output.status.success().then(|| Saved::new(family, text))
    };
    let (v4, v6) = (finish(v4, "ip"), finish(v6, "ip6"));
    Some(vec![v4?, v6?])
}

/// Whether the listed tables hold enough rules to read the ruleset by parts.
pub(super) fn is_big(saved: &[Saved]) -> bool {
    saved
        .iter()
        .map(|s| legacy::count_rules(&s.text))
        .sum::<usize>()
        >= BIG
}

/// The ruleset, read by parts: iptables-nft's tables from `saved`, every other table (and those
/// `saved` could not show) from nft, with its `xt` extensions translated by nft's listing of
/// that table.
pub(super) fn read(saved: Vec<Saved>) -> Result<Value, FirewallError> {
    // `list tables` would fetch every rule (nft 1.0.6: as long as the whole ruleset); `list
    // chains` does not, and a table without chains has nothing to walk.
    let listed = nft(&["-j", "list", "chains"])?;
    let tables = tables(&listed)?;
    drop(listed);
    let mut items = Vec::new();
    for (family, name) in tables.iter().filter(|(f, t)| !is_saved(&saved, f, t)) {
        let mut table: Value = super::parse_json(&nft(&["-j", "list", "table", family, name])?)?;
        super::with_listing(&mut table, &["-a", "-s", "list", "table", family, name]);
        if let Some(Value::Array(parts)) = table.get_mut("nftables").map(Value::take) {
            items.extend(parts);
        }
    }
    Ok(assemble(items, saved))
}

/// Whether `saved` shows the table `family name` whole: one of iptables' tables that it did
/// not call incompatible.
pub(super) fn is_saved(saved: &[Saved], family: &str, name: &str) -> bool {
    IPTABLES_TABLES.contains(&name) && saved.iter().any(|s| s.family == family && s.shows(name))
}

/// The ruleset of nft's `items` (the tables `saved` does not show) with iptables-nft's tables
/// of `saved`, translated, under the `iptables` key: the walk meets the base chains of both by
/// priority.
pub(super) fn assemble(items: Vec<Value>, saved: Vec<Saved>) -> Value {
    let items = items
        .into_iter()
        .filter(|item| item.get("metainfo").is_none())
        .collect();
    let iptables = saved
        .into_iter()
        .map(|s| {
            let family = s.family;
            legacy::translate(s.into_compatible(), family, Tool::Iptables)
        })
        .collect();
    let mut ruleset = serde_json::Map::new();
    ruleset.insert("nftables".to_owned(), Value::Array(items));
    ruleset.insert("iptables".to_owned(), Value::Array(iptables));
    Value::Object(ruleset)
}

/// `nft -j list chains`, as far as [`tables`] reads it: each chain's family and table, and
/// nothing of a kube-proxy node's 5,000 chains kept as `serde_json` values (9 MB).
#[derive(Deserialize)]
struct Listed<'a> {
    #[serde(borrow, default)]
    nftables: Vec<Item<'a>>,
}

/// An item of the listing: a chain, or what is not one (`metainfo`).
#[derive(Deserialize)]
struct Item<'a> {
    #[serde(borrow, default)]
    chain: Option<ChainOf<'a>>,
}

#[derive(Deserialize)]
struct ChainOf<'a> {
    #[serde(borrow, default)]
    family: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    table: Option<Cow<'a, str>>,
}

/// The `(family, name)` of each table that has chains, as `nft -j list chains` lists them (its
/// JSON), in its order (the tables' own).
pub(super) fn tables(json: &[u8]) -> Result<Vec<(String, String)>, FirewallError> {
    let listed: Listed<'_> = super::parse_json(json)?;
    let mut tables: Vec<(String, String)> = Vec::new();
    for chain in listed.nftables.into_iter().filter_map(|item| item.chain) {
        let (Some(family), Some(table)) = (chain.family, chain.table) else {
            continue;
        };
        if !tables.iter().any(|(f, t)| *f == family && *t == table) {
            tables.push((family.into_owned(), table.into_owned()));
        }
    }
    Ok(tables)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What iptables-nft-save 1.8.9 prints of an `ip filter` table where nft added a base chain
    /// of its own (`type filter hook output priority 10`) and of one where nft added a rule
    /// iptables cannot print (a verdict map).
    const WITH_NFT_CHAIN: &str =
        "# Table `filter' contains incompatible base-chains, use 'nft' tool to list them.
# Generated by iptables-nft-save v1.8.9 (nf_tables) on Wed Dec  2 06:25:30 2026
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A OUTPUT -p tcp -m tcp --dport 5 -j REJECT --reject-with icmp-port-unreachable
COMMIT
# Completed on Wed Dec  2 06:25:30 2026
*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A OUTPUT -d 10.96.0.3/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.2:8080
COMMIT
";
    const WITH_NFT_RULE: &str = "# Table `filter' is incompatible, use 'nft' tool.
";

    fn saved(family: &'static str, text: &str) -> Saved {
        Saved::new(family, text.to_owned())
    }

    #[test]
    fn tables_iptables_cannot_show_are_left_to_nft() {
        let both = [saved("ip", WITH_NFT_CHAIN), saved("ip6", WITH_NFT_RULE)];
        assert_eq!(both[0].incompatible, ["filter"]);
        assert_eq!(both[1].incompatible, ["filter"]);
        // The filter table goes, whole; nat stays.
        let kept = both[0].compatible();
        assert!(
            !kept.contains("*filter") && !kept.contains("--dport 5"),
            "{kept}"
        );
        assert!(
            kept.contains("*nat\n") && kept.contains("-j DNAT"),
            "{kept}"
        );
        assert!(!is_saved(&both, "ip", "filter"));
        assert!(is_saved(&both, "ip", "nat"));
        assert!(!is_saved(&both, "ip6", "filter"));
        // Not one of iptables' tables, or not of its families: nft's.
        assert!(!is_saved(&both, "ip", "docker"));
        assert!(!is_saved(&both, "inet", "nat"));
        // A comment that is not iptables-save's warning is not one.
        let plain = saved("ip", "# Table `filter' was read\n*filter\nCOMMIT\n");
        assert!(plain.incompatible.is_empty());
        assert_eq!(plain.compatible(), plain.text);
    }

    #[test]
    fn the_tables_are_named_by_their_chains() {
        let listed = serde_json::json!({"nftables": [
            {"metainfo": {"version": "1.0.6"}},
            {"chain": {"family": "ip", "table": "filter", "name": "INPUT"}},
            {"chain": {"family": "inet", "table": "firewalld", "name": "filter_INPUT"}},
            {"chain": {"family": "ip", "table": "filter", "name": "OUTPUT"}},
            {"chain": {"family": "ip6", "table": "filter", "name": "OUTPUT"}},
            {"chain": {"family": "ip6"}},
        ]});
        let tables = tables(&serde_json::to_vec(&listed).unwrap()).unwrap();
        let named: Vec<(&str, &str)> = tables
            .iter()
            .map(|(f, t)| (f.as_str(), t.as_str()))
            .collect();
        assert_eq!(
            named,
            [("ip", "filter"), ("inet", "firewalld"), ("ip6", "filter")]
        );
        // A name with an escape in it is read whole.
        let escaped =
            br#"{"nftables": [{"chain": {"family": "inet", "table": "a\"b", "name": "c"}}]}"#;
        assert_eq!(
            super::tables(escaped).unwrap(),
            [("inet".to_owned(), "a\"b".to_owned())]
        );
        assert!(super::tables(br#"{"nftables": []}"#).unwrap().is_empty());
        assert!(super::tables(b"not json").is_err());
    }

    #[test]
    fn big_is_counted_in_both_families() {
        let rules = |n: usize| {
            let rules: Vec<String> = (0..n)
                .map(|port| format!("-A OUTPUT -p tcp --dport {port} -j REJECT\n"))
                .collect();
            format!("*filter\n:OUTPUT DROP [0:0]\n{}COMMIT\n", rules.concat())
        };
        // The policy counts as a rule, as for the legacy tables.
        let half = BIG / 2;
        assert!(!is_big(&[
            saved("ip", &rules(half)),
            saved("ip6", &rules(half - 3))
        ]));
        assert!(is_big(&[
            saved("ip", &rules(half)),
            saved("ip6", &rules(half - 2))
        ]));
        assert!(!is_big(&[]));
    }
}
