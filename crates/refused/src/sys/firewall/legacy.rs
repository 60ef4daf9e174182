//! iptables-legacy: rules that live in the kernel's `x_tables`, which `nft` does not show.
//!
//! `/proc/net/ip_tables_names` and `ip6_tables_names` list the legacy tables that exist (with
//! iptables-nft only, they are empty: nftables does not register `x_tables` tables); reading them
//! needs root. Hosts whose `iptables` is the legacy one (Ubuntu 20.04, Amazon Linux 2, Red Hat
//! 7; Docker and ufw on them) keep every rule there.
//!
//! The tables are listed with `iptables-legacy-save` (`iptables-save` where iptables predates
//! the split, 1.6 and older) and [`translate`]d into the shape of nft's JSON: base chains at the
//! hooks and priorities `x_tables` registers them with, and rules made of nft's expressions for
//! the matches that decide where a TCP connection goes, each when the walk meets it. The walk
//! that evaluates nft's ruleset then evaluates them too. A match or target not translated
//! becomes an `xt` extension, as iptables-nft's untranslated ones are: a rule that may apply,
//! never one stated as the cause.

use std::collections::HashSet;
use std::io;
use std::process::Command;

use serde::Deserialize;
use serde_json::{Value, json};

use super::Tool;

/// The legacy tables of one family, listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LegacyTables {
    /// The command that lists and changes them: `iptables-legacy` or `ip6tables-legacy`
    /// (`iptables`, `ip6tables` before the split).
    pub command: &'static str,
    /// `ip` or `ip6`.
    pub family: &'static str,
    /// The tables (`filter`, `nat`).
    pub tables: Vec<String>,
    /// `COMMAND-save`'s output; `None` when it could not be run.
    pub save: Option<String>,
}

impl LegacyTables {
    /// The tables as a ruleset to evaluate beside nft's (see [`translate`]), their listing
    /// moved into it; themselves back when they could not be listed.
    pub fn into_ruleset(self) -> Result<Value, Self> {
        let tool = if self.command.ends_with("-legacy") {
            Tool::IptablesLegacy
        } else {
            Tool::Iptables
        };
        match self.save {
            Some(save) => Ok(translate(save, self.family, tool)),
            None => Err(self),
        }
    }

    /// Whether they hold something that may stop or translate a packet (a table can exist
    /// with nothing in it: `iptables-legacy -L` creates it).
    pub fn may_matter(&self) -> bool {
        !self.tables.is_empty()
            && self
                .save
                .as_deref()
                .is_none_or(|save| count_rules(save) > 0)
    }
}

/// The legacy tables of this namespace, both families (`Err`: not readable, as without root).
pub fn find() -> io::Result<Vec<LegacyTables>> {
    let mut found = Vec::new();
    for (file, family, command, before_split) in [
        (
            "/proc/net/ip_tables_names",
            "ip",
            "iptables-legacy",
            "iptables",
        ),
        (
            "/proc/net/ip6_tables_names",
            "ip6",
            "ip6tables-legacy",
            "ip6tables",
        ),
    ] {
        let tables = match std::fs::read_to_string(file) {
            Ok(text) => parse_names(&text),
            // No x_tables in this kernel: no legacy tables.
            Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err),
        };
        if tables.is_empty() {
            continue;
        }
        let (command, save) = match save(command) {
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                // iptables 1.6 and older have no `-legacy` commands: theirs are legacy, unless
                // this `iptables` is the nft one (its `-save` would list nft's rules, not
                // these) and the legacy tables were made otherwise.
                if version(before_split).is_some_and(|v| v.contains("nf_tables")) {
                    (command, None)
                } else {
                    (before_split, save(before_split).ok())
                }
            }
            result => (command, result.ok()),
        };
        found.push(LegacyTables {
            command,
            family,
            tables,
            save,
        });
    }
    Ok(found)
}

/// `COMMAND-save`'s output, when it ran and succeeded.
fn save(command: &str) -> io::Result<String> {
    let output = Command::new(format!("{command}-save")).output()?;
    if !output.status.success() {
        return Err(io::Error::other(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `COMMAND -V`: `iptables v1.8.9 (nf_tables)`.
fn version(command: &str) -> Option<String> {
    let output = Command::new(command).arg("-V").output().ok()?;
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The table names of `/proc/net/ip_tables_names`, one a line.
pub fn parse_names(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Rules (`-A` lines) and policies other than ACCEPT (`:CHAIN DROP [0:0]`) in
/// `iptables-save` output.
pub fn count_rules(save: &str) -> usize {
    save.lines()
        .filter(|line| {
            line.starts_with("-A ")
                || (line.starts_with(':')
                    && line
                        .split_whitespace()
                        .nth(1)
                        .is_some_and(|policy| policy != "ACCEPT" && policy != "-"))
        })
        .count()
}

/// The base chain an `x_tables` table registers for a builtin chain: `(type, hook, priority)`,
/// as nft names them (iptables' mangle OUTPUT reroutes: a `route` chain).
fn base_chain(table: &str, chain: &str) -> Option<(&'static str, &'static str, i64)> {
    let hook = match chain {
        "PREROUTING" => "prerouting",
        "INPUT" => "input",
        "FORWARD" => "forward",
        "OUTPUT" => "output",
        "POSTROUTING" => "postrouting",
        _ => return None,
    };
    match table {
        "raw" => Some(("filter", hook, -300)),
        "mangle" if chain == "OUTPUT" => Some(("route", hook, -150)),
        "mangle" => Some(("filter", hook, -150)),
        "nat" if matches!(chain, "PREROUTING" | "OUTPUT") => Some(("nat", hook, -100)),
        "nat" => Some(("nat", hook, 100)),
        "filter" => Some(("filter", hook, 0)),
        "security" => Some(("filter", hook, 50)),
        _ => None,
    }
}

/// The key under which a ruleset made by [`translate`] keeps `iptables-save`'s text.
const SAVE_KEY: &str = "iptables-save";

/// `iptables-save` output of `family` (`ip`, `ip6`) as a ruleset to walk beside nft's:
/// `{"tool": ..., "family": ..., "iptables-save": TEXT}`. Its builtin chains are base chains at
/// the hooks and priorities `x_tables` registers them with; each rule is translated into nft's
/// JSON shape only when the walk meets it, and kept only when it may match the packet (see the
/// walk's index): kube-proxy's tens of thousands of rules, all translated into `serde_json`
/// values at once, took 170 MB where their text takes 3. Each rule keeps its line as `listing`
/// (`-A APP -p tcp -m tcp --dport 7001 -j DROP`), the way it is shown and deleted.
pub fn translate(save: impl Into<String>, family: &str, tool: Tool) -> Value {
    object([
        ("tool", json!(tool)),
        ("family", json!(family)),
        (SAVE_KEY, Value::String(save.into())),
    ])
}

/// A ruleset made by [`translate`], read.
#[derive(Debug, Clone, Copy)]
pub(super) struct Saved<'a> {
    /// `ip` or `ip6`.
    pub(super) family: &'a str,
    pub(super) tool: Tool,
    /// `iptables-save`'s output.
    pub(super) text: &'a str,
}

/// One line of `iptables-save`'s output that the walk reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Line<'a> {
    /// `:NAME POLICY [0:0]`, a chain declared in `table`.
    Chain {
        table: &'a str,
        name: &'a str,
        policy: Option<&'a str>,
    },
    /// `-A CHAIN SPEC`, a rule of `chain` in `table`; `line` is the whole line.
    Rule {
        table: &'a str,
        chain: &'a str,
        line: &'a str,
    },
}

impl<'a> Saved<'a> {
    /// `ruleset`, when [`translate`] made it.
    pub(super) fn of(ruleset: &'a Value) -> Option<Self> {
        Some(Self {
            text: ruleset.get(SAVE_KEY)?.as_str()?,
            family: ruleset["family"].as_str().unwrap_or("ip"),
            tool: Tool::deserialize(&ruleset["tool"]).unwrap_or(Tool::IptablesLegacy),
        })
    }

    /// The chains each table declares: a `-j NAME` of one of them is a jump (kube-proxy
    /// declares thousands: a set, not a list). A table listed twice is read by its first list.
    pub(super) fn declared(&self) -> Vec<(&'a str, HashSet<&'a str>)> {
        let mut chains: Vec<(&str, HashSet<&str>)> = Vec::new();
        for line in self.text.lines() {
            if let Some(name) = line.strip_prefix('*') {
                chains.push((name.trim(), HashSet::new()));
            } else if let (Some((_, names)), Some(decl)) =
                (chains.last_mut(), line.strip_prefix(':'))
            {
                names.extend(decl.split_whitespace().next());
            }
        }
        chains
    }

    /// Its chains and rules, in order.
    pub(super) fn lines(self) -> impl Iterator<Item = Line<'a>> {
        let mut table = "";
        self.text.lines().filter_map(move |line| {
            let line = line.trim_end();
            if let Some(name) = line.strip_prefix('*') {
                table = name.trim();
                None
            } else if let Some(decl) = line.strip_prefix(':') {
                let mut words = decl.split_whitespace();
                let name = words.next()?;
                let policy = words.next();
                Some(Line::Chain {
                    table,
                    name,
                    policy,
                })
            } else {
                let rest = line.strip_prefix("-A ")?;
                let chain = rest.split_once(' ').map_or(rest, |(chain, _)| chain);
                Some(Line::Rule { table, chain, line })
            }
        })
    }

    /// Its rules that may match a socket's owner (`-m owner --uid-owner`, `--gid-owner`),
    /// translated: no other rule has an owner match.
    pub(super) fn owner_rules(self) -> impl Iterator<Item = Value> {
        // Most rulesets have none: the chains are not indexed for nothing.
        let declared = if self.text.contains("-owner") {
            self.declared()
        } else {
            Vec::new()
        };
        let family = self.family;
        let none = HashSet::new();
        self.lines().filter_map(move |line| match line {
            Line::Rule { table, chain, line } if line.contains("-owner") => {
                let chains = declared
                    .iter()
                    .find(|(t, _)| *t == table)
                    .map_or(&none, |(_, names)| names);
                Some(rule(family, table, chain, line, &|name| {
                    chains.contains(name)
                }))
            }
            _ => None,
        })
    }
}

/// The base chain object, in nft's JSON shape, of a chain `iptables-save` declares in `table`
/// (`:NAME POLICY`); `None` for a chain that is not builtin.
pub(super) fn base_chain_of(
    family: &str,
    table: &str,
    name: &str,
    policy: Option<&str>,
) -> Option<Value> {
    let (kind, hook, prio) = base_chain(table, name)?;
    Some(json!({
        "family": family,
        "table": table,
        "name": name,
        "type": kind,
        "hook": hook,
        "prio": prio,
        "policy": policy.unwrap_or("ACCEPT").to_ascii_lowercase(),
    }))
}

/// The rule of `line` (`-A CHAIN SPEC`, of `chain` in `table`) in nft's JSON shape: `family`,
/// `table`, `chain`, `expr` and `listing` (the line). `chains`: whether its table declares a
/// chain of that name.
pub(super) fn rule(
    family: &str,
    table: &str,
    chain: &str,
    line: &str,
    chains: &dyn Fn(&str) -> bool,
) -> Value {
    rule_unless(family, table, chain, line, chains, &mut |_| false).unwrap_or_default()
}

/// [`rule`], unless `fails` says of one of its expressions, as they are translated, that the
/// rule cannot match: `None` then, the rest of the line left untranslated (a kube-proxy rule
/// for another service's address ends at its `-d`).
pub(super) fn rule_unless(
    family: &str,
    table: &str,
    chain: &str,
    line: &str,
    chains: &dyn Fn(&str) -> bool,
    fails: &mut dyn FnMut(&Value) -> bool,
) -> Option<Value> {
    let spec = line
        .strip_prefix("-A ")
        .and_then(|rest| rest.split_once(' '))
        .map_or("", |(_, spec)| spec);
    Some(object([
        ("family", json!(family)),
        ("table", json!(table)),
        ("chain", json!(chain)),
        ("expr", Value::Array(expr(spec, family, chains, fails)?)),
        ("listing", json!(line)),
    ]))
}

/// An option of `-m recent` (`--update --seconds 30 --hitcount 6`, ufw's `limit`): a
/// `--hitcount` makes its match a count of the address's new connections, which the walk calls
/// a limit (a `recent` list without one is a port knock's or a ban's, no limit). Whether the
/// option takes a value.
fn recent_option(option: &str, exprs: &mut [Value]) -> bool {
    if option == "--hitcount" {
        if let Some(recent) = exprs.iter_mut().rev().find(|e| e["xt"]["name"] == "recent") {
            *recent = json!({"xt": {"type": "match", "name": "recent", "hitcount": true}});
        }
    }
    matches!(option, "--seconds" | "--hitcount" | "--name" | "--mask")
}

/// An extension we do not translate: a match that may hold (see the walk's `xt`).
fn unknown_match(name: &str) -> Value {
    json!({"xt": {"type": "match", "name": name}})
}

/// An object of `fields`, moved in (`json!` would copy a `Value` it is given).
fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    Value::Object(
        fields
            .into_iter()
            .map(|(key, value)| (key.to_owned(), value))
            .collect(),
    )
}

/// `left OP right`, nft's match.
fn matching(left: Value, op: &str, right: Value) -> Value {
    object([(
        "match",
        object([("op", Value::from(op)), ("left", left), ("right", right)]),
    )])
}

/// One word of a rule as `iptables-save` prints it, unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Word {
    pub(super) text: String,
    /// It was quoted (all or part): a value, never an option, whatever it says (`--string
    /// "-j"`, `--comment "-j DROP"`).
    pub(super) quoted: bool,
}

/// The words of a rule's specification, split as `iptables-save` quotes them: a value with
/// spaces or quotes in double quotes, `\"` and `\\` escaped within; `None` when a quote is
/// not closed.
pub(super) fn words(spec: &str) -> Option<Vec<Word>> {
    let mut words = Vec::new();
    let mut chars = spec.chars();
    let mut word: Option<Word> = None;
    let mut quoting = false;
    while let Some(c) = chars.next() {
        let current = word.get_or_insert_with(|| Word {
            text: String::new(),
            quoted: false,
        });
        match c {
            '"' => {
                quoting = !quoting;
                current.quoted = true;
            }
            '\\' if quoting => current.text.push(chars.next()?),
            c if c.is_whitespace() && !quoting => {
                // A run of blanks between words: the word ends once.
                if let Some(done) = word.take().filter(|w| w.quoted || !w.text.is_empty()) {
                    words.push(done);
                }
            }
            c => current.text.push(c),
        }
    }
    if quoting {
        return None;
    }
    words.extend(word.filter(|w| w.quoted || !w.text.is_empty()));
    Some(words)
}

/// The `-m` modules whose options [`module_option`] translates (some of them).
const TRANSLATED_MODULES: &[&str] = &[
    "tcp",
    "udp",
    "multiport",
    "conntrack",
    "state",
    "addrtype",
    "iprange",
    "owner",
    "comment",
];

/// The expressions of one rule's specification (what follows `-A CHAIN`); `None` as soon as
/// `fails` says so of one.
fn expr(
    spec: &str,
    family: &str,
    chains: &dyn Fn(&str) -> bool,
    fails: &mut dyn FnMut(&Value) -> bool,
) -> Option<Vec<Value>> {
    let Some(words) = words(spec) else {
        // Quoting we cannot read: a rule that may do anything.
        return Some(vec![
            unknown_match("?"),
            json!({"xt": {"type": "target", "name": "?"}}),
        ]);
    };
    let mut exprs = Vec::new();
    let mut words = words.iter().peekable();
    let mut negated = false;
    // The `-m` module whose options follow.
    let mut module = "";
    // The expressions `fails` was asked about.
    let mut asked = 0;
    while let Some(next) = words.next() {
        if exprs[asked..].iter().any(&mut *fails) {
            return None;
        }
        asked = exprs.len();
        if next.quoted {
            // A value where an option should be: the options before it were misread.
            exprs.push(unknown_match("?"));
            continue;
        }
        let word = next.text.as_str();
        if word == "!" {
            negated = true;
            continue;
        }
        let op = if std::mem::take(&mut negated) {
            "!="
        } else {
            "=="
        };
        let mut value = || words.next().map_or("", |w| w.text.as_str());
        match word {
            "-s" | "--source" | "-d" | "--destination" => {
                let field = if matches!(word, "-s" | "--source") {
                    "saddr"
                } else {
                    "daddr"
                };
                let left = json!({"payload": {"protocol": family, "field": field}});
                exprs.push(matching(left, op, address(value())));
            }
            "-p" | "--protocol" => {
                let protocol = value().to_ascii_lowercase();
                if protocol != "all" && protocol != "0" {
                    let right = protocol
                        .parse::<u64>()
                        .map_or(json!(protocol), |n| json!(n));
                    exprs.push(matching(json!({"meta": {"key": "l4proto"}}), op, right));
                }
            }
            "-i" | "--in-interface" | "-o" | "--out-interface" => {
                let key = if matches!(word, "-i" | "--in-interface") {
                    "iifname"
                } else {
                    "oifname"
                };
                let name = value();
                // iptables' `eth+` is nft's `eth*`.
                let pattern = name
                    .strip_suffix('+')
                    .map_or_else(|| name.to_owned(), |prefix| format!("{prefix}*"));
                exprs.push(matching(json!({"meta": {"key": key}}), op, json!(pattern)));
            }
            // A later fragment: never the first packet of a connection.
            "-f" | "--fragment" if op == "==" => exprs.push(unknown_match("frag")),
            "-f" | "--fragment" => {}
            "-m" | "--match" => {
                module = value();
                if !TRANSLATED_MODULES.contains(&module) {
                    exprs.push(unknown_match(module));
                }
            }
            "-j" | "--jump" => {
                let target = value();
                let options: Vec<&str> = words.map(|w| w.text.as_str()).collect();
                exprs.push(verdict(target, &options, family, chains));
                break;
            }
            "-g" | "--goto" => {
                exprs.push(json!({"goto": {"target": value()}}));
                break;
            }
            // `-m recent`'s options are the one match it made (see `recent_option`).
            option if module == "recent" => {
                if recent_option(option, &mut exprs) {
                    value();
                }
            }
            option if option.starts_with("--") => {
                let translated = module_option(module, option, op, family, &mut words);
                exprs.push(translated.unwrap_or_else(|| unknown_match(module)));
            }
            // Counters (`-c PKTS BYTES`) and the like: nothing that decides.
            "-c" | "--set-counters" => {
                words.next();
                words.next();
            }
            _ => exprs.push(unknown_match("?")),
        }
    }
    exprs.retain(|e| !e.is_null());
    Some(exprs)
}

/// One option of a `-m` module, as nft's match; `None`: one we do not evaluate (its values
/// are skipped). `Some(Null)`: one that decides nothing (a comment).
fn module_option<'w>(
    module: &str,
    option: &str,
    op: &str,
    family: &str,
    words: &mut std::iter::Peekable<impl Iterator<Item = &'w Word>>,
) -> Option<Value> {
    let th = |field: &str| json!({"payload": {"protocol": "th", "field": field}});
    let ip = |field: &str| json!({"payload": {"protocol": family, "field": field}});
    let list = |text: &str, each: fn(&str) -> Value| {
        object([("set", text.split(',').map(each).collect())])
    };
    let mut value = || words.next().map_or("", |w| w.text.as_str());
    let found = match (module, option) {
        ("tcp" | "udp", "--dport" | "--destination-port" | "--sport" | "--source-port") => {
            let field = if option.contains('d') {
                "dport"
            } else {
                "sport"
            };
            // `udp dport` cannot hold for a TCP packet.
            let left = json!({"payload": {"protocol": module, "field": field}});
            matching(left, op, ports(value()))
        }
        // `--syn` is `--tcp-flags FIN,SYN,RST,ACK SYN`, which iptables-save writes.
        ("tcp", "--syn") => tcp_flags(op, "FIN,SYN,RST,ACK", "SYN"),
        ("tcp", "--tcp-flags") => {
            let mask = value().to_owned();
            tcp_flags(op, &mask, value())
        }
        ("multiport", "--dports" | "--destination-ports") => {
            matching(th("dport"), op, list(value(), ports))
        }
        ("multiport", "--sports" | "--source-ports") => {
            matching(th("sport"), op, list(value(), ports))
        }
        ("conntrack", "--ctstate") | ("state", "--state") => {
            let states = value().to_ascii_lowercase();
            // SNAT and DNAT are conntrack's status bits, not states (nft's `ct status`).
            if states.split(',').any(|s| s == "snat" || s == "dnat") {
                return None;
            }
            let left = json!({"ct": {"key": "state"}});
            matching(left, op, list(&states, |s| json!(s)))
        }
        ("addrtype", "--dst-type" | "--src-type") => {
            let flag = address_field(option);
            let types = value().to_ascii_lowercase();
            let left = json!({"fib": {"flags": [flag], "result": "type"}});
            matching(left, op, list(&types, |t| json!(t)))
        }
        ("iprange", "--src-range" | "--dst-range") => {
            let field = address_field(option);
            let text = value();
            let right = text
                .split_once('-')
                .map_or_else(|| json!(text), |(lo, hi)| json!({"range": [lo, hi]}));
            matching(ip(field), op, right)
        }
        // A name (`--uid-owner www-data`) is not read: iptables-save prints the number.
        ("owner", "--uid-owner" | "--gid-owner") => {
            let key = if option == "--uid-owner" {
                "skuid"
            } else {
                "skgid"
            };
            matching(
                json!({"meta": {"key": key}}),
                op,
                super::xt::ids_value(value())?,
            )
        }
        ("comment", "--comment") => {
            value();
            Value::Null
        }
        _ => {
            // Skip its values: the words up to the next option. A quoted word is a value
            // whatever it reads (`-m string --string "-j"`), never the target.
            while words
                .peek()
                .is_some_and(|w| w.quoted || (!w.text.starts_with('-') && w.text != "!"))
            {
                words.next();
            }
            return None;
        }
    };
    Some(found)
}

/// `--tcp-flags MASK COMP` as nft's masked comparison of the flags: `tcp flags & (fin | syn |
/// rst | ack) == syn`. The names are iptables' (`ALL`, `NONE` included).
fn tcp_flags(op: &str, mask: &str, comp: &str) -> Value {
    let names = |text: &str| -> Value {
        let mut names = Vec::new();
        for name in text.split(',').map(str::to_ascii_lowercase) {
            match name.as_str() {
                "all" => names.extend(["fin", "syn", "rst", "psh", "ack", "urg"].map(Value::from)),
                "none" => {}
                _ => names.push(Value::from(name)),
            }
        }
        if names.is_empty() {
            json!(0)
        } else {
            Value::Array(names)
        }
    };
    let flags = json!({"payload": {"protocol": "tcp", "field": "flags"}});
    matching(json!({"&": [flags, names(mask)]}), op, names(comp))
}

/// The address an option of `addrtype` or `iprange` looks at: `--src-*` the source's.
fn address_field(option: &str) -> &'static str {
    if option.starts_with("--src") {
        "saddr"
    } else {
        "daddr"
    }
}

/// What `-j TARGET OPTIONS...` does.
fn verdict(target: &str, options: &[&str], family: &str, chains: &dyn Fn(&str) -> bool) -> Value {
    let option = |name: &str| {
        options
            .iter()
            .position(|o| *o == name)
            .and_then(|i| options.get(i + 1).copied())
    };
    match target {
        "ACCEPT" => json!({"accept": null}),
        "DROP" => json!({"drop": null}),
        "REJECT" => json!({"reject": null}),
        "RETURN" => json!({"return": null}),
        "QUEUE" | "NFQUEUE" => json!({"queue": null}),
        "SNAT" => json!({"snat": null}),
        "MASQUERADE" => json!({"masquerade": null}),
        "DNAT" => {
            let Some(to) = option("--to-destination") else {
                return json!({"dnat": {}});
            };
            let (addr, port) = split_destination(to, family);
            let mut dnat = json!({"family": family});
            // `:PORT` keeps the packet's address: no `addr`, as nft's JSON has none.
            if let Some(addr) = addr {
                dnat["addr"] = json!(addr);
            }
            if let Some(port) = port {
                dnat["port"] = port;
            }
            object([("dnat", dnat)])
        }
        "REDIRECT" => match option("--to-ports") {
            Some(port) => json!({"redirect": {"port": port_value(port)}}),
            None => json!({"redirect": null}),
        },
        chain if chains(chain) => json!({"jump": {"target": chain}}),
        other => json!({"xt": {"type": "target", "name": other}}),
    }
}

/// `10.0.0.2:80`, `10.0.0.2`, `[::1]:80`, `::1`: the address and the port; `:80` (the packet's
/// own address, that port): no address. A range of either stays text, which reads as a
/// translation we cannot follow.
fn split_destination(to: &str, family: &str) -> (Option<String>, Option<Value>) {
    if let Some(port) = to.strip_prefix(':').filter(|p| !p.starts_with(':')) {
        return (None, Some(port_value(port)));
    }
    let (addr, port) = if let Some(rest) = to.strip_prefix('[') {
        match rest.split_once(']') {
            Some((addr, tail)) => (addr, tail.strip_prefix(':')),
            None => (to, None),
        }
    } else if family == "ip" {
        to.split_once(':').map_or((to, None), |(a, p)| (a, Some(p)))
    } else {
        (to, None)
    };
    (Some(addr.to_owned()), port.map(port_value))
}

/// A port as nft writes it: a number, or the text when it is a range.
fn port_value(text: &str) -> Value {
    text.parse::<u16>()
        .map_or_else(|_| json!(text), |p| json!(p))
}

/// `80`, `1:1023`, `:1023`, `1024:` as nft's value or range.
fn ports(text: &str) -> Value {
    let Some((lo, hi)) = text.split_once(':') else {
        return port_value(text);
    };
    let lo = if lo.is_empty() {
        Ok(0)
    } else {
        lo.parse::<u16>()
    };
    let hi = if hi.is_empty() {
        Ok(u16::MAX)
    } else {
        hi.parse::<u16>()
    };
    match (lo, hi) {
        (Ok(lo), Ok(hi)) => json!({"range": [lo, hi]}),
        _ => json!(text),
    }
}

/// `10.0.0.0/16`, `10.1.2.3/32`, `10.0.0.0/255.255.0.0`, `::1/128` as nft's value or prefix.
fn address(text: &str) -> Value {
    let Some((addr, mask)) = text.split_once('/') else {
        return json!(text);
    };
    let len = mask.parse::<u32>().ok().or_else(|| {
        // A mask written out: only a contiguous one is a prefix.
        let mask: std::net::IpAddr = mask.parse().ok()?;
        let bits = match mask {
            std::net::IpAddr::V4(m) => u128::from(u32::from(m)) << 96,
            std::net::IpAddr::V6(m) => u128::from(m),
        };
        (bits.leading_ones() + bits.trailing_zeros() == 128).then(|| bits.leading_ones())
    });
    match len {
        Some(len) => json!({"prefix": {"addr": addr, "len": len}}),
        None => json!(text),
    }
}
