//! The walk of one packet through the chains of one hook: base chains in priority order, the
//! chains they jump or go to, verdict maps, and the three-valued certainty of each step.
//!
//! Certainty travels two ways. Down: a chain entered by a rule that only *may* match is not
//! surely reached, so nothing found in it is certain. Along: once a rule that may end the chain
//! (accept, drop, a jump to a chain that may decide) has been passed, what comes after is not
//! surely reached either. Whatever the input, the walk is bounded (depth and rule budget).

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::Value;

use super::expr::{self, Sets, Truth};
use super::{
    Blocker, CtState, Dnat, Hook, Interface, NatHook, NatTo, Packet, Stops, Tool, Untracked,
    Verdict, legacy, render,
};

/// nft refuses rulesets that jump deeper than this.
const MAX_DEPTH: usize = 16;
/// Rules looked at in one walk, at most: a hostile ruleset (a chain jumped to from every rule of
/// a chain jumped to from every rule...) cannot make the walk exponential.
const BUDGET: usize = 200_000;

/// `(family, table, name)`.
type Key<'a> = (&'a str, &'a str, &'a str);

/// A ruleset (nft's and the iptables-legacy tables beside it) indexed once for the walks of
/// every packet asked about: kube-proxy's tables hold tens of thousands of rules.
pub struct Indexed<'a> {
    indexes: Vec<Index<'a>>,
}

impl std::fmt::Debug for Indexed<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Indexed")
            .field("rulesets", &self.indexes.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Indexed<'a> {
    /// Indexes `ruleset` (see [`super::with_legacy`]).
    pub fn new(ruleset: &'a Value) -> Self {
        Self {
            indexes: Index::all(ruleset),
        }
    }

    /// Whether some base chain is a `bridge` table's: only then is it worth asking whether
    /// the route's interface is a bridge.
    pub fn has_bridge_chains(&self) -> bool {
        self.indexes
            .iter()
            .any(|index| index.bases.iter().any(|c| str_of(c, "family") == "bridge"))
    }
}

/// The ruleset's chains, their rules in order, and its named sets and maps.
struct Index<'a> {
    /// The tool of a ruleset translated from iptables-save's text (see `legacy`: iptables-legacy's
    /// tables, or iptables-nft's of a big ruleset, see `big`); `None`: nft's, whose tool is told
    /// by the names of its tables and chains.
    legacy: Option<Tool>,
    chains: HashMap<Key<'a>, Chain<'a>>,
    sets: HashMap<Key<'a>, &'a [Value]>,
    /// Tables with ufw's chains: their builtin chains' policies are ufw's.
    ufw_tables: Vec<(&'a str, &'a str)>,
    /// iptables tables with the chains of firewalld's iptables backend (`INPUT_ZONES`): the
    /// chains its builtin chains jump to are firewalld's.
    firewalld_tables: Vec<(&'a str, &'a str)>,
    /// Base chains, in the ruleset's order: nft's as listed, iptables-save's made from their
    /// declarations.
    bases: Vec<Cow<'a, Value>>,
}

struct Chain<'a> {
    rules: Vec<Rule<'a>>,
}

/// A rule of a chain: nft's, or a line of iptables-save's text, translated when the walk meets
/// it and kept once it may match a packet (most rules of a big ruleset match none of those asked
/// about: a kube-proxy rule for another service's address).
enum Rule<'a> {
    Json(&'a Value),
    Line {
        line: &'a str,
        kept: OnceCell<Value>,
    },
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key].as_str().unwrap_or_default()
}

impl<'a> Index<'a> {
    /// nft's ruleset, then iptables-nft's tables when they were read apart (a big ruleset:
    /// see `big`), then each iptables-legacy ruleset beside it.
    fn all(ruleset: &'a Value) -> Vec<Self> {
        let mut all = vec![Self::new(ruleset, None)];
        let apart = ["iptables", "legacy"]
            .into_iter()
            .flat_map(|key| ruleset[key].as_array().into_iter().flatten())
            .filter_map(legacy::Saved::of);
        all.extend(apart.map(Self::saved));
        all
    }

    fn empty(legacy: Option<Tool>) -> Self {
        Index {
            legacy,
            chains: HashMap::new(),
            sets: HashMap::new(),
            ufw_tables: Vec::new(),
            firewalld_tables: Vec::new(),
            bases: Vec::new(),
        }
    }

    fn new(ruleset: &'a Value, legacy: Option<Tool>) -> Self {
        let items = ruleset["nftables"]
            .as_array()
            .map_or(&[][..], Vec::as_slice);
        let mut index = Self::empty(legacy);
        for item in items {
            if let Some(chain) = item.get("chain") {
                let key = (
                    str_of(chain, "family"),
                    str_of(chain, "table"),
                    str_of(chain, "name"),
                );
                let base = chain.get("hook").map(|_| Cow::Borrowed(chain));
                index.chain(key, base);
            } else if let Some(set) = item.get("set").or_else(|| item.get("map")) {
                let elements = set["elem"].as_array().map_or(&[][..], Vec::as_slice);
                index.sets.insert(
                    (
                        str_of(set, "family"),
                        str_of(set, "table"),
                        str_of(set, "name"),
                    ),
                    elements,
                );
            }
        }
        for rule in items.iter().filter_map(|item| item.get("rule")) {
            let key = (
                str_of(rule, "family"),
                str_of(rule, "table"),
                str_of(rule, "chain"),
            );
            if let Some(chain) = index.chains.get_mut(&key) {
                chain.rules.push(Rule::Json(rule));
            }
        }
        index
    }

    /// A ruleset of iptables-save's text: its chains, and its rules left as lines.
    fn saved(saved: legacy::Saved<'a>) -> Self {
        let mut index = Self::empty(Some(saved.tool));
        let family = saved.family;
        // The chains first, as for nft's: a rule of a chain declared after it is kept.
        for line in saved.lines() {
            if let legacy::Line::Chain {
                table,
                name,
                policy,
            } = line
            {
                let base = legacy::base_chain_of(family, table, name, policy);
                index.chain((family, table, name), base.map(Cow::Owned));
            }
        }
        for line in saved.lines() {
            if let legacy::Line::Rule { table, chain, line } = line {
                if let Some(chain) = index.chains.get_mut(&(family, table, chain)) {
                    let kept = OnceCell::new();
                    chain.rules.push(Rule::Line { line, kept });
                }
            }
        }
        index
    }

    /// Adds a chain (`base`: the base chain's object, when it is one).
    fn chain(&mut self, key: Key<'a>, base: Option<Cow<'a, Value>>) {
        let (family, table, name) = key;
        self.chains
            .entry(key)
            .or_insert(Chain { rules: Vec::new() });
        self.bases.extend(base);
        if name.starts_with("ufw-") || name.starts_with("ufw6-") {
            self.ufw_tables.push((family, table));
        }
        if name == FIREWALLD_SIGN {
            self.firewalld_tables.push((family, table));
        }
    }

    /// `rule` of `chain` judged for `packet` (see [`judge`]); `None` when it surely does not
    /// match. A line of iptables-save's text is translated for it, and kept only then.
    fn judge(
        &'a self,
        rule: &'a Rule<'a>,
        (family, table, chain): Key<'a>,
        packet: &Packet,
        sets: &TableSets<'_, 'a>,
    ) -> Option<(&'a Value, Judged<'a>)> {
        let rule = match rule {
            Rule::Json(rule) => rule,
            Rule::Line { kept, .. } if kept.get().is_some() => kept.get()?,
            Rule::Line { line, kept } => {
                // A `-j NAME` of a chain its table declares is a jump.
                let declared = |name: &str| self.chains.contains_key(&(family, table, name));
                // An expression that fails makes the rule fail, whatever comes after it (see
                // `judge`): the rest of the line is not translated, and the rule not kept.
                let mut fails = |expr: &Value| fails(expr, packet, sets);
                let translated =
                    legacy::rule_unless(family, table, chain, line, &declared, &mut fails)?;
                kept.get_or_init(|| translated)
            }
        };
        let judged = judge(rule, packet, sets);
        (judged.0 != Truth::No).then_some((rule, judged))
    }

    /// How many rules of iptables-save's text were kept translated.
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.chains
            .values()
            .flat_map(|chain| &chain.rules)
            .filter(|rule| matches!(rule, Rule::Line { kept, .. } if kept.get().is_some()))
            .count()
    }
}

#[cfg(test)]
impl Indexed<'_> {
    /// How many rules of iptables-save's text the walks so far kept translated.
    pub(super) fn kept(&self) -> usize {
        self.indexes.iter().map(Index::kept).sum()
    }
}

/// The named sets of one table.
struct TableSets<'i, 'a> {
    index: &'i Index<'a>,
    family: &'a str,
    table: &'a str,
}

impl<'a> TableSets<'_, 'a> {
    fn named(&self, name: &str) -> Option<&'a [Value]> {
        self.index
            .sets
            .get(&(self.family, self.table, name))
            .copied()
    }
}

impl Sets for TableSets<'_, '_> {
    fn elements(&self, name: &str) -> Option<&[Value]> {
        self.named(name)
    }
}

/// What a rule does when it matches.
enum Action<'a> {
    /// Nothing that ends it (counters, logs, marks): the next rule follows.
    Nothing,
    Accept,
    Stop(Verdict),
    /// A `dnat` or `redirect` statement (or iptables' untranslated DNAT/REDIRECT target).
    Nat(&'a Value),
    /// A rule whose only work is `notrack` (iptables' `NOTRACK` target): conntrack leaves the
    /// packet alone; the next rule follows.
    Untrack,
    /// Ends the chain in a way we do not follow (queue, snat, an unknown target).
    OtherEnd,
    /// Something we do not know: it may end the chain, or not.
    Unknown,
    Jump(&'a str),
    Goto(&'a str),
    Return,
    /// A verdict map: `(key, [(element key, verdict)])`.
    Vmap(&'a Value, Vec<(&'a Value, &'a Value)>),
}

/// Targets of iptables that do their work and let the packet go on to the next rule.
const XT_NON_TERMINAL: &[&str] = &[
    "LOG",
    "NFLOG",
    "ULOG",
    "MARK",
    "CONNMARK",
    "TCPMSS",
    "CT",
    "NOTRACK",
    "TRACE",
    "AUDIT",
    "CLASSIFY",
    "CHECKSUM",
    "DSCP",
    "TOS",
    "TTL",
    "HL",
    "SECMARK",
    "CONNSECMARK",
    "IDLETIMER",
    "LED",
    "TEE",
    "HMARK",
    "SET",
];

/// A verdict object (`{"accept": null}`, `{"jump": {"target": "X"}}`) as an action.
fn verdict_action(verdict: &Value) -> Action<'_> {
    let Some((key, value)) = verdict.as_object().and_then(|o| o.iter().next()) else {
        return Action::Unknown;
    };
    let target = || value["target"].as_str();
    match key.as_str() {
        "accept" => Action::Accept,
        "drop" => Action::Stop(Verdict::Drop),
        "reject" => Action::Stop(Verdict::Reject),
        "return" => Action::Return,
        "continue" => Action::Nothing,
        "jump" => target().map_or(Action::Unknown, Action::Jump),
        "goto" => target().map_or(Action::Unknown, Action::Goto),
        "queue" => Action::OtherEnd,
        _ => Action::Unknown,
    }
}

/// What a rule says of a packet: whether it matches, what it then does, and whether it is a
/// rate limit whose other matches all hold (see [`is_rate_limit`]).
type Judged<'a> = (Truth, Action<'a>, bool);

/// Judges `rule` for `packet`.
fn judge<'a>(rule: &'a Value, packet: &Packet, sets: &TableSets<'_, 'a>) -> Judged<'a> {
    let exprs = rule["expr"].as_array().map_or(&[][..], Vec::as_slice);
    let mut truth = Truth::Yes;
    // The matches other than rate limits, and whether there was one.
    let (mut rest, mut limited) = (Truth::Yes, false);
    let mut untrack = false;
    for expr in exprs {
        let Some((key, value)) = expr.as_object().and_then(|o| o.iter().next()) else {
            truth = truth.and(Truth::Maybe);
            rest = rest.and(Truth::Maybe);
            continue;
        };
        if is_rate_limit(key, value) {
            // Holds or not by how many packets came before: the rules do not tell.
            truth = truth.and(Truth::Maybe);
            limited = true;
            continue;
        }
        let action = match key.as_str() {
            "match" => {
                let hit = expr::matches(value, packet, sets);
                truth = truth.and(hit);
                rest = rest.and(hit);
                continue;
            }
            "notrack" => {
                untrack = true;
                continue;
            }
            "counter" | "log" | "mangle" | "set" | "map" | "dup" | "secmark" | "ct helper"
            | "ct timeout" | "ct expectation" | "continue" => continue,
            "accept" | "drop" | "reject" | "return" | "jump" | "goto" | "queue" => {
                let mut action = verdict_action(expr);
                // A reject statement carries its options, never a chain.
                if key == "reject" {
                    action = Action::Stop(Verdict::Reject);
                }
                action
            }
            // A source translation ends a nat chain as a destination's does (postrouting's).
            "dnat" | "redirect" | "snat" | "masquerade" => Action::Nat(expr),
            "tproxy" | "fwd" | "synproxy" => Action::OtherEnd,
            "vmap" => vmap(value, sets),
            "xt" => match (value["type"].as_str(), value["name"].as_str()) {
                (Some("target"), Some("REJECT")) => Action::Stop(Verdict::Reject),
                (Some("target"), Some("DNAT" | "REDIRECT" | "SNAT" | "MASQUERADE")) => {
                    Action::Nat(expr)
                }
                (Some("target"), Some("NOTRACK")) => {
                    untrack = true;
                    continue;
                }
                (Some("target"), Some(name)) if XT_NON_TERMINAL.contains(&name) => continue,
                (Some("target"), _) => Action::Unknown,
                _ if never_matches(value) => {
                    truth = Truth::No;
                    rest = Truth::No;
                    continue;
                }
                // An extension match we could not translate (see `xt`).
                _ => {
                    truth = truth.and(Truth::Maybe);
                    rest = rest.and(Truth::Maybe);
                    continue;
                }
            },
            // quota, connlimit and whatever else: a match we do not evaluate.
            _ => {
                truth = truth.and(Truth::Maybe);
                rest = rest.and(Truth::Maybe);
                continue;
            }
        };
        return (truth, action, limited && rest == Truth::Yes);
    }
    let action = if untrack {
        Action::Untrack
    } else {
        Action::Nothing
    };
    (truth, action, false)
}

/// Whether `expr` surely fails for `packet`: a match that does not hold, or an extension
/// match that never does (see [`never_matches`]). A rule with one matches nothing.
fn fails(expr: &Value, packet: &Packet, sets: &TableSets<'_, '_>) -> bool {
    if let Some(m) = expr.get("match") {
        return expr::matches(m, packet, sets) == Truth::No;
    }
    expr.get("xt").is_some_and(never_matches)
}

/// Whether an `xt` extension never matches a TCP packet of this host's stack: the IPv6
/// extension headers' matches (`-m rt`, ufw6's `--rt-type 0` drop), whose header it never
/// carries.
fn never_matches(xt: &Value) -> bool {
    xt["type"] == "match" && matches!(xt["name"].as_str(), Some("rt" | "frag" | "hbh" | "dst"))
}

/// Whether an expression counts packets against a limit: nft's `limit`, a `meter` or a set
/// statement (`update @x { ip saddr limit rate over 10/second }`) that limits per key, nft's
/// `ct count`, and iptables' `-m limit`, `-m hashlimit`, `-m recent --hitcount` (ufw's
/// `limit`) and `-m connlimit` (translated by nft's listing into these, or left as extensions). A set
/// statement without a limit only adds to the set: it matches nothing.
fn is_rate_limit(key: &str, value: &Value) -> bool {
    // `update @perip { ip saddr limit rate over 10/second }`, `add @perip { ip saddr ct count
    // over 2 }`.
    let counts = |s: &Value| s.get("limit").is_some() || s.get("ct count").is_some();
    let limits = |stmt: &Value| match stmt {
        Value::Array(stmts) => stmts.iter().any(counts),
        stmt => counts(stmt),
    };
    match key {
        // nft's `ct count over N`: the connections already open from here count.
        "limit" | "ct count" => true,
        "meter" | "set" => limits(&value["stmt"]),
        // iptables' `-m connlimit` counts too, and `-m recent` with a `--hitcount` (ufw's
        // `limit`; read from iptables-save's text: nft's listing leaves a `recent` match's
        // options out, and one without a count is a port knock's or a ban's list).
        "xt" => {
            value["type"] == "match"
                && (matches!(
                    value["name"].as_str(),
                    Some("limit" | "hashlimit" | "connlimit")
                ) || (value["name"] == "recent" && value["hitcount"] == true))
        }
        _ => false,
    }
}

fn vmap<'a>(value: &'a Value, sets: &TableSets<'_, 'a>) -> Action<'a> {
    let data = &value["data"];
    let elements: &'a [Value] = if let Some(set) = data.get("set").and_then(Value::as_array) {
        set
    } else if let Some(name) = data.as_str().and_then(|d| d.strip_prefix('@')) {
        match sets.named(name) {
            Some(elements) => elements,
            None => return Action::Unknown,
        }
    } else {
        return Action::Unknown;
    };
    let pairs = elements
        .iter()
        .filter_map(|e| match e.as_array().map(Vec::as_slice) {
            Some([key, verdict]) => Some((key, verdict)),
            _ => None,
        })
        .collect();
    Action::Vmap(&value["key"], pairs)
}

/// What a walk looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Filter,
    Nat,
    /// The `notrack` rules of the chains before conntrack.
    Untrack,
}

/// Something found on the way.
struct Hit<'a> {
    family: &'a str,
    table: &'a str,
    path: Vec<&'a str>,
    /// `None`: the base chain's policy.
    rule: Option<(&'a Value, usize)>,
    what: Found<'a>,
    certain: bool,
    /// The rule's own matches surely hold (or the chain surely falls through to its policy):
    /// when not `certain`, only because the packet may not get there.
    matches: bool,
    /// The rule is a rate limit whose other matches surely hold.
    limited: bool,
    tool: Tool,
}

enum Found<'a> {
    Stop(Verdict),
    Nat(&'a Value),
    Untrack,
}

/// How a rule's action leaves the chain being walked.
enum Flow {
    /// The next rule follows, surely if it did so before.
    Next,
    /// The next rule follows, but perhaps the chain ended here.
    Unclear,
    /// The chain ends here: `Yes` with a verdict, `No` by returning to its caller, `Maybe`.
    End(Truth),
}

struct Walker<'i, 'a> {
    index: &'a Index<'a>,
    packet: &'i Packet,
    mode: Mode,
    budget: usize,
    hits: Vec<Hit<'a>>,
    /// A rule may have ended the packet's way (or we stopped looking): later base chains are
    /// not surely reached.
    unsure: bool,
    /// A rule surely ended it (dropped, rejected, translated): later base chains are not met.
    ended: bool,
    /// A rate-limited accept whose other matches hold was passed (`-m limit -j ACCEPT`, then
    /// a drop): what stops the packet after it does so once the rate is spent.
    limited_accept: bool,
}

impl<'i, 'a> Walker<'i, 'a> {
    /// Walks one base chain of `index` and, in filter mode, meets its drop policy.
    fn base(&mut self, index: &'a Index<'a>, chain: &'a Value, packet: &'i Packet) {
        if self.ended {
            return;
        }
        self.index = index;
        self.packet = packet;
        let (family, table, name) = (
            str_of(chain, "family"),
            str_of(chain, "table"),
            str_of(chain, "name"),
        );
        let sure = !self.unsure;
        let mut path = vec![name];
        let ends = self.walk(family, table, name, sure, &mut path);
        if ends != Truth::Yes && self.mode == Mode::Filter && chain["policy"] == "drop" {
            let matches = ends == Truth::No;
            let found = Found::Stop(Verdict::Drop);
            let sureness = (sure && matches, matches, false);
            self.hit(family, table, path, None, found, sureness);
        }
    }

    /// Walks base chains of one hook and priority whose order the ruleset does not tell (see
    /// [`newest_first`]): each is walked as if it came first. A rule that surely stops the
    /// packet stays certain: whichever runs first, the packet is stopped; every such rule is
    /// found, not only one, and each has to go before the packet gets through.
    fn tied(&mut self, chains: &[(&'a Index<'a>, &'a Value, &'i Packet)]) {
        if self.ended {
            return;
        }
        let unsure = self.unsure;
        let (mut ended, mut any_unsure) = (false, unsure);
        for &(index, chain, packet) in chains {
            self.ended = false;
            self.unsure = unsure;
            self.base(index, chain, packet);
            ended |= self.ended;
            any_unsure |= self.unsure;
        }
        self.ended = ended;
        self.unsure = any_unsure;
    }

    /// Records what was found; `(certain, matches, limited)` as [`Hit`] has them.
    fn hit(
        &mut self,
        family: &'a str,
        table: &'a str,
        path: Vec<&'a str>,
        rule: Option<(&'a Value, usize)>,
        what: Found<'a>,
        (certain, matches, limited): (bool, bool, bool),
    ) {
        if certain {
            self.ended = true;
        } else {
            self.unsure = true;
        }
        let tool = tool(self.index, family, table, &path, rule.is_none());
        self.hits.push(Hit {
            family,
            table,
            path,
            rule,
            what,
            certain,
            matches,
            limited,
            tool,
        });
    }

    /// Walks one chain; `sure`: whether the packet surely gets here. Says whether the chain
    /// surely ends with a verdict (`Yes`), surely returns (`No`), or may do either.
    fn walk(
        &mut self,
        family: &'a str,
        table: &'a str,
        name: &'a str,
        sure: bool,
        path: &mut Vec<&'a str>,
    ) -> Truth {
        let index = self.index;
        let Some(chain) = index.chains.get(&(family, table, name)) else {
            self.unsure = true;
            return Truth::Maybe;
        };
        let sets = TableSets {
            index,
            family,
            table,
        };
        let mut clear = true;
        for (position, rule) in chain.rules.iter().enumerate() {
            if self.budget == 0 {
                self.unsure = true;
                return Truth::Maybe;
            }
            self.budget -= 1;
            let key = (family, table, name);
            let Some((rule, (truth, action, limited))) = index.judge(rule, key, self.packet, &sets)
            else {
                continue;
            };
            let step = Step {
                family,
                table,
                rule: (rule, position + 1),
                sets: &sets,
                limited,
            };
            match self.act(&step, truth, clear, sure, action, path) {
                Flow::Next => {}
                Flow::Unclear => clear = false,
                Flow::End(ends) => return ends,
            }
        }
        if clear { Truth::No } else { Truth::Maybe }
    }

    fn act(
        &mut self,
        step: &Step<'_, 'a>,
        truth: Truth,
        clear: bool,
        sure: bool,
        action: Action<'a>,
        path: &mut Vec<&'a str>,
    ) -> Flow {
        // This rule surely acts, if the chain is surely walked this far.
        let here = truth == Truth::Yes && clear;
        // A rule that surely matches ends the chain even after rules that may have acted
        // (firewalld's `ct status dnat accept`, then `iifname "lo" accept`): whether with its
        // verdict or an earlier rule's (or a `return`), nothing after it is met.
        let ends_here = |here: bool| {
            if here {
                Flow::End(Truth::Yes)
            } else if truth == Truth::Yes {
                Flow::End(Truth::Maybe)
            } else {
                Flow::Unclear
            }
        };
        match action {
            Action::Nothing => Flow::Next,
            Action::Untrack => {
                if self.mode == Mode::Untrack {
                    let sureness = (sure && here, truth == Truth::Yes, false);
                    let rule = Some(step.rule);
                    self.hit(
                        step.family,
                        step.table,
                        path.clone(),
                        rule,
                        Found::Untrack,
                        sureness,
                    );
                }
                Flow::Next
            }
            Action::Accept => {
                self.limited_accept |= step.limited;
                ends_here(here)
            }
            Action::Stop(verdict) => {
                if self.mode == Mode::Filter {
                    let after_limit = self.limited_accept && truth == Truth::Yes;
                    let sureness = (
                        sure && here,
                        truth == Truth::Yes,
                        step.limited || after_limit,
                    );
                    let rule = Some(step.rule);
                    let found = Found::Stop(verdict);
                    self.hit(step.family, step.table, path.clone(), rule, found, sureness);
                }
                ends_here(here)
            }
            Action::Nat(statement) => {
                if !family_fits(statement, self.packet.dst) {
                    return Flow::Next;
                }
                if self.mode == Mode::Nat {
                    let sureness = (sure && here, truth == Truth::Yes, false);
                    let rule = Some(step.rule);
                    let found = Found::Nat(statement);
                    self.hit(step.family, step.table, path.clone(), rule, found, sureness);
                }
                ends_here(here)
            }
            Action::OtherEnd => {
                self.unsure = true;
                ends_here(here)
            }
            Action::Unknown => {
                self.unsure = true;
                Flow::Unclear
            }
            Action::Return if here => Flow::End(Truth::No),
            Action::Return => Flow::Unclear,
            Action::Jump(target) => match self.enter(step, target, sure && here, path) {
                Truth::No => Flow::Next,
                Truth::Yes if here => Flow::End(Truth::Yes),
                Truth::Yes if truth == Truth::Yes => Flow::End(Truth::Maybe),
                _ => Flow::Unclear,
            },
            Action::Goto(target) => {
                let ends = self.enter(step, target, sure && here, path);
                if here { Flow::End(ends) } else { Flow::Unclear }
            }
            Action::Vmap(key, elements) => {
                // At most one key matches: the elements read as rules one after the other.
                let mut still_clear = clear;
                for (element, verdict) in elements {
                    let hit = expr::compare(key, "==", element, self.packet, step.sets);
                    let truth = truth.and(hit);
                    if truth == Truth::No {
                        continue;
                    }
                    let action = verdict_action(verdict);
                    match self.act(step, truth, still_clear, sure, action, path) {
                        Flow::Next => {}
                        Flow::Unclear => still_clear = false,
                        end @ Flow::End(_) => return end,
                    }
                }
                if still_clear == clear {
                    Flow::Next
                } else {
                    Flow::Unclear
                }
            }
        }
    }

    fn enter(
        &mut self,
        step: &Step<'_, 'a>,
        target: &'a str,
        sure: bool,
        path: &mut Vec<&'a str>,
    ) -> Truth {
        if path.len() >= MAX_DEPTH || path.contains(&target) {
            self.unsure = true;
            return Truth::Maybe;
        }
        path.push(target);
        let ends = self.walk(step.family, step.table, target, sure, path);
        path.pop();
        ends
    }
}

/// Where a rule is, for what it finds.
struct Step<'s, 'a> {
    family: &'a str,
    table: &'a str,
    rule: (&'a Value, usize),
    sets: &'s dyn Sets,
    /// The rule is a rate limit whose other matches hold.
    limited: bool,
}

/// A `dnat ip to ...` in an `inet` table translates IPv4 packets only.
fn family_fits(statement: &Value, dst: IpAddr) -> bool {
    let inner = statement
        .get("dnat")
        .or_else(|| statement.get("redirect"))
        .unwrap_or(&Value::Null);
    match inner["family"].as_str() {
        Some("ip") => dst.is_ipv4(),
        Some("ip6") => dst.is_ipv6(),
        _ => match inner["addr"]
            .as_str()
            .and_then(|a| a.parse::<IpAddr>().ok())
        {
            Some(addr) => addr.is_ipv4() == dst.is_ipv4(),
            None => true,
        },
    }
}

/// Where nat's output and prerouting chains translate the destination (`NF_IP_PRI_NAT_DST`):
/// output chains below it see the packet as it was sent.
const NAT_PRIORITY: i64 = -100;
/// Where conntrack looks the packet up (`NF_IP_PRI_CONNTRACK`): chains below it see no state,
/// which nft's `ct state` reads as `invalid`.
const CONNTRACK_PRIORITY: i64 = -200;

fn priority(chain: &Value) -> i64 {
    chain["prio"].as_i64().unwrap_or(0)
}

/// The packet a base chain of `hook` at `priority` sees: as sent, before the destination is
/// translated (and before conntrack, without a state), or as translated.
pub struct Seen<'p> {
    /// Before nat output's DNAT.
    pub sent: &'p Packet,
    /// After it.
    pub translated: &'p Packet,
}

/// Which families' base chains a walk meets.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Families {
    /// `ip`, `ip6`, `inet`, and `netdev` at the device hooks: what the host's own packets meet.
    Host,
    /// `bridge` alone: what a bridge of this host passes, when the route's interface is one.
    Bridge,
}

/// Walks the base chains of `hook` whose type is one of `types`, of every ruleset (nft's and
/// the iptables-legacy tables') together, lowest priority first, as the kernel runs them.
fn walk<'a>(
    indexes: &'a [Index<'a>],
    seen: &Seen<'_>,
    mode: Mode,
    (hook, families): (&str, Families),
    types: &[&str],
) -> Vec<Hit<'a>> {
    let v4 = seen.translated.dst.is_ipv4();
    let untracked = Packet {
        state: CtState::Invalid,
        ..seen.sent.clone()
    };
    // A bridge chain sees the bridge's port as the interface (`iifname`, `oifname`), which is
    // not known here; an arriving frame's conntrack state depends on `br_netfilter`.
    let bridged = Packet {
        iif: Interface::Unknown,
        oif: Interface::Unknown,
        state: if hook == "output" {
            seen.translated.state
        } else {
            CtState::Unknown
        },
        ..seen.translated.clone()
    };
    let bridge = families == Families::Bridge;
    let output = hook == "output";
    // Conntrack runs at -200 at output and at prerouting: a chain before it (raw) sees a packet
    // with no connection yet, whose `ct state` reads `invalid`. The ingress hook comes before
    // either, whatever its chain's priority; egress after both.
    let before_conntrack = output || hook == "prerouting";
    let ingress = hook == "ingress";
    let packet_at = |prio: i64| match prio {
        _ if bridge => &bridged,
        _ if ingress => &untracked,
        prio if before_conntrack && prio < CONNTRACK_PRIORITY => &untracked,
        prio if output && prio < NAT_PRIORITY => seen.sent,
        _ => seen.translated,
    };
    // A chain of a device hook sees the packets of its own devices alone.
    let device = match hook {
        "ingress" => Some(&seen.translated.iif),
        "egress" => Some(&seen.translated.oif),
        _ => None,
    };
    let mut bases: Vec<(usize, &Index<'a>, &'a Value)> = indexes
        .iter()
        .enumerate()
        .flat_map(|(source, index)| index.bases.iter().map(move |c| (source, index, &**c)))
        .filter(|(_, _, chain)| {
            chain["hook"] == hook
                && types.iter().any(|t| chain["type"] == *t)
                // A `notrack` after conntrack looked the packet up does nothing.
                && (mode != Mode::Untrack || priority(chain) < CONNTRACK_PRIORITY)
                && match str_of(chain, "family") {
                    _ if bridge => str_of(chain, "family") == "bridge",
                    "inet" => true,
                    "ip" => v4,
                    "ip6" => !v4,
                    // A netdev chain sees every packet of its device, of either family; a
                    // bridge table's (whose hooks are named input, output, forward too) sees
                    // only what a bridge of this host passes, walked apart.
                    "netdev" => device.is_some(),
                    _ => false,
                }
                && device.is_none_or(|device| is_attached(chain, device))
        })
        .collect();
    // Stable: within a priority and a ruleset, the ruleset's order.
    bases.sort_by_key(|(_, _, chain)| priority(chain));
    let Some(&(_, first, _)) = bases.first() else {
        return Vec::new();
    };
    let mut walker = Walker {
        index: first,
        packet: if bridge { &bridged } else { seen.translated },
        mode,
        budget: BUDGET,
        hits: Vec::new(),
        unsure: false,
        ended: false,
        limited_accept: false,
    };
    for same in bases.chunk_by(|a, b| priority(a.2) == priority(b.2)) {
        let chains: Vec<_> = newest_first(same)
            .into_iter()
            .map(|(index, chain)| (index, chain, packet_at(priority(chain))))
            .collect();
        match chains.as_slice() {
            [(index, chain, packet)] => walker.base(index, chain, packet),
            _ => walker.tied(&chains),
        }
    }
    walker.hits
}

/// Whether a chain of a device hook sees the packets of `device`: only when it is named, and
/// the chain names it.
fn is_attached(chain: &Value, device: &Interface) -> bool {
    match device {
        Interface::Named(name) => super::netdev::is_attached(chain, name),
        _ => false,
    }
}

/// Base chains of one hook and priority (each with its ruleset's number, in the ruleset's
/// order), in the order the kernel most likely runs them: nft's, newest first, then
/// iptables-nft's when they were read apart (a big ruleset), then the iptables-legacy tables'. The kernel puts a hook before those of equal priority already
/// there (`nf_hook_entries_grow`), so the chain registered last runs first; nft lists tables
/// in the order they were made, and a table's chains in theirs, but a chain added later to an
/// older table runs before a newer table's, and when `x_tables` registered its hooks is not
/// shown at all. Only a guess, then: [`Walker::tied`] walks them as if each came first.
fn newest_first<'a>(same: &[(usize, &'a Index<'a>, &'a Value)]) -> Vec<(&'a Index<'a>, &'a Value)> {
    let mut ordered: Vec<_> = same.iter().enumerate().collect();
    ordered.sort_by_key(|&(listed, &(source, ..))| (source, std::cmp::Reverse(listed)));
    ordered
        .into_iter()
        .map(|(_, &(_, index, chain))| (index, chain))
        .collect()
}

const IPTABLES_TABLES: &[&str] = &["filter", "nat", "mangle", "raw", "security"];
const IPTABLES_CHAINS: &[&str] = &["INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"];

/// Which tool made a rule (`policy`: the base chain's policy): iptables names its tables and
/// builtin chains its own way; ufw's chains are `ufw-*` / `ufw6-*`, and it sets the builtin
/// chains' policies of its tables. In the legacy tables, what is not ufw's is iptables'.
/// The chain that firewalld's iptables backend makes in every table it fills (the builtin
/// `INPUT` jumps to it, and it goes to each zone's chain).
const FIREWALLD_SIGN: &str = "INPUT_ZONES";

/// Whether a chain of an iptables table is one firewalld's iptables backend makes: its
/// `*_ZONES`, `*_direct` and policy chains, and each zone's (`IN_public`, `FWDI_`, `FWDO_`,
/// `PRE_`, `POST_`... with their `_allow`, `_deny`, `_log` parts).
fn is_firewalld_chain(chain: &str) -> bool {
    const ZONE_PREFIXES: [&str; 7] = ["IN_", "FWD_", "FWDI_", "FWDO_", "PRE_", "POST_", "OUT_"];
    chain.ends_with("_ZONES")
        || chain.ends_with("_direct")
        || chain.contains("_POLICIES")
        || ZONE_PREFIXES.iter().any(|prefix| chain.starts_with(prefix))
}

fn tool(index: &Index<'_>, family: &str, table: &str, path: &[&str], policy: bool) -> Tool {
    // `inet firewalld`, and `inet firewalld_policy_drop`, which it loads while it starts.
    if family == "inet" && table.starts_with("firewalld") {
        return Tool::Firewalld;
    }
    let base = path.first().copied().unwrap_or_default();
    let chain = path.last().copied().unwrap_or_default();
    let iptables = matches!(family, "ip" | "ip6")
        && IPTABLES_TABLES.contains(&table)
        && IPTABLES_CHAINS.contains(&base);
    if !iptables {
        return Tool::Nft;
    }
    let ufw_chain = chain.starts_with("ufw-") || chain.starts_with("ufw6-");
    let ufw_policy = policy && index.ufw_tables.contains(&(family, table));
    // The rules firewalld's iptables backend puts in the builtin chains themselves are few
    // (conntrack, `lo`, the jumps, a last reject): a rule there may as well be the user's own
    // `iptables -I INPUT`, so only the chains they jump to are said to be firewalld's.
    // And only its own chains, by name: a user's chain, Docker's or kube-proxy's, jumped to
    // from the same builtin chain, is not firewalld's to change.
    let firewalld = path.len() > 1
        && index.firewalld_tables.contains(&(family, table))
        && path[1..].iter().all(|chain| is_firewalld_chain(chain));
    if ufw_chain || ufw_policy {
        Tool::Ufw
    } else if firewalld {
        Tool::Firewalld
    } else {
        index.legacy.unwrap_or(Tool::Iptables)
    }
}

fn rule_text(rule: &Value) -> String {
    match rule["listing"].as_str() {
        Some(listing) => listing.to_owned(),
        None => render::render(rule["expr"].as_array().map_or(&[][..], Vec::as_slice)),
    }
}

/// See [`super::blockers`].
pub fn blockers(indexed: &Indexed<'_>, hook: Hook, seen: &Seen<'_>) -> Vec<Blocker> {
    let types: &[&str] = match hook {
        // iptables' mangle OUTPUT is a `route` chain, and may drop too.
        Hook::Output => &["filter", "route"],
        Hook::Prerouting
        | Hook::Input
        | Hook::Forward
        | Hook::Ingress
        | Hook::Egress
        | Hook::BridgeInput
        | Hook::BridgeOutput => &["filter"],
    };
    let families = match hook {
        Hook::BridgeInput | Hook::BridgeOutput => Families::Bridge,
        _ => Families::Host,
    };
    let hits = walk(
        &indexed.indexes,
        seen,
        Mode::Filter,
        (hook.as_str(), families),
        types,
    );
    let stops = match seen.translated.state {
        CtState::Established | CtState::Related => Stops::Reply,
        CtState::New | CtState::Invalid | CtState::Unknown => Stops::Request,
    };
    hits.iter()
        .filter_map(|hit| {
            let Found::Stop(verdict) = hit.what else {
                return None;
            };
            Some(Blocker {
                table: format!("{} {}", hit.family, hit.table),
                chain: hit.path.last().copied().unwrap_or_default().to_owned(),
                path: hit.path.iter().map(|c| (*c).to_owned()).collect(),
                hook,
                rule: hit
                    .rule
                    .map_or_else(|| "policy drop".to_owned(), |(rule, _)| rule_text(rule)),
                verdict,
                handle: hit.rule.and_then(|(rule, _)| rule["handle"].as_u64()),
                position: hit.rule.map(|(_, position)| position),
                tool: hit.tool,
                stops,
                certain: hit.certain,
                matches: hit.matches,
                rate_limit: hit.limited,
                netns: None,
            })
        })
        .collect()
}

/// See [`super::dnat`].
pub fn dnat(indexed: &Indexed<'_>, hook: NatHook, packet: &Packet) -> Vec<Dnat> {
    let seen = Seen {
        sent: packet,
        translated: packet,
    };
    let hits = walk(
        &indexed.indexes,
        &seen,
        Mode::Nat,
        (hook.as_str(), Families::Host),
        &["nat"],
    );
    hits.iter()
        .filter_map(|hit| {
            let (Found::Nat(statement), Some((rule, position))) = (&hit.what, hit.rule) else {
                return None;
            };
            if translates_source(statement) {
                return None;
            }
            Some(Dnat {
                to: nat_to(statement),
                table: format!("{} {}", hit.family, hit.table),
                chain: hit.path.last().copied().unwrap_or_default().to_owned(),
                path: hit.path.iter().map(|c| (*c).to_owned()).collect(),
                hook,
                rule: rule_text(rule),
                handle: rule["handle"].as_u64(),
                position: Some(position),
                tool: hit.tool,
                certain: hit.certain,
                netns: None,
            })
        })
        .collect()
}

/// Whether a statement of a nat chain translates the source (`snat`, `masquerade`, iptables'
/// `SNAT` and `MASQUERADE` targets), not the destination.
fn translates_source(statement: &Value) -> bool {
    statement.get("snat").is_some()
        || statement.get("masquerade").is_some()
        || statement
            .get("xt")
            .is_some_and(|xt| matches!(xt["name"].as_str(), Some("SNAT" | "MASQUERADE")))
}

/// Whether a rule of nat postrouting may translate the source of `packet` (`snat`,
/// `masquerade`): then where it goes sees this host's address, not the packet's own source.
pub fn source_translated(indexed: &Indexed<'_>, packet: &Packet) -> bool {
    let seen = Seen {
        sent: packet,
        translated: packet,
    };
    walk(
        &indexed.indexes,
        &seen,
        Mode::Nat,
        ("postrouting", Families::Host),
        &["nat"],
    )
    .iter()
    .any(|hit| matches!(&hit.what, Found::Nat(statement) if translates_source(statement)))
}

/// The `notrack` rule that surely leaves `seen` untracked at `hook` (`output` or `prerouting`,
/// in a chain before conntrack): the rule as nft writes it, with its table and handle.
pub fn untracked_by(indexed: &Indexed<'_>, hook: Hook, seen: &Seen<'_>) -> Option<Untracked> {
    walk(
        &indexed.indexes,
        seen,
        Mode::Untrack,
        (hook.as_str(), Families::Host),
        &["filter"],
    )
    .iter()
    .find(|hit| hit.certain && matches!(hit.what, Found::Untrack))
    .and_then(|hit| {
        let (rule, position) = hit.rule?;
        Some(Untracked {
            table: format!("{} {}", hit.family, hit.table),
            chain: hit.path.last().copied().unwrap_or_default().to_owned(),
            rule: rule_text(rule),
            handle: rule["handle"].as_u64(),
            position,
            tool: hit.tool,
        })
    })
}

/// Where a `dnat` / `redirect` statement sends the packet.
fn nat_to(statement: &Value) -> NatTo {
    let port = |value: &Value| match value.get("port") {
        None | Some(Value::Null) => Some(None),
        Some(port) => port.as_u64().and_then(|p| u16::try_from(p).ok()).map(Some),
    };
    if let Some(dnat) = statement.get("dnat") {
        let address = dnat["addr"].as_str().and_then(|a| a.parse::<IpAddr>().ok());
        return match (address, port(dnat)) {
            (Some(address), Some(port)) => NatTo::Address { address, port },
            // `dnat to :PORT`: no address, the packet keeps its own.
            (None, Some(Some(port))) if dnat.get("addr").is_none() => NatTo::SameAddress { port },
            _ => NatTo::Unknown,
        };
    }
    if let Some(redirect) = statement.get("redirect") {
        return match port(redirect) {
            Some(port) => NatTo::ThisHost { port },
            None => NatTo::Unknown,
        };
    }
    NatTo::Unknown
}
