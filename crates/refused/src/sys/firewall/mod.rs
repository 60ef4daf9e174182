//! This host's firewall, read from the nftables ruleset (`nft -j list ruleset`; iptables-nft
//! and ufw rules show there too) and from the iptables-legacy tables beside it ([`legacy`]),
//! and the rules that would stop or translate a connection.
//!
//! Reading the ruleset needs `CAP_NET_ADMIN`. The evaluation is a pure function of the
//! ruleset's JSON and one packet, tested on fixtures made by the real tools: it follows the
//! chains a base chain jumps or goes to (`jump`, `goto`, `return`, verdict maps), understands
//! the matches that decide where a TCP connection goes (addresses, ports, protocol,
//! interfaces, `ct state`, `fib ... type`, named sets) and calls a rule with any other match one
//! that *may* apply, so an unknown rule is never stated as the cause.

mod big;
mod eval;
mod expr;
pub mod legacy;
mod netdev;
mod render;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_devices;
#[cfg(test)]
mod tests_firewalld;
#[cfg(test)]
mod tests_real_hosts;
#[cfg(test)]
mod tests_saved;
pub mod xt;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::Command;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::sys::netns::Namespace;

/// A packet of a TCP connection, as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// Source address, when known.
    pub src: Option<IpAddr>,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port, when known.
    pub sport: Option<u16>,
    /// Destination port, when known (a reply goes to an ephemeral port we do not know).
    pub dport: Option<u16>,
    /// What conntrack makes of it.
    pub state: CtState,
    /// The interface it came in by (`meta iifname`): none for a packet this host sends.
    pub iif: Interface,
    /// The interface it leaves by (`meta oifname`): none on the input hook.
    pub oif: Interface,
    /// Whether the source address is one of this host's (`fib saddr type local`), when known.
    pub src_local: Option<bool>,
    /// Whether the destination is one of this host's (`fib daddr type local`, iptables'
    /// `-m addrtype --dst-type LOCAL`), when known.
    pub dst_local: Option<bool>,
    /// Who owns the socket that sends it (`meta skuid` / `skgid`, iptables' `-m owner`), as far
    /// as known.
    pub owner: SocketOwner,
    /// Whether the connection's destination was translated by the time the filter sees it
    /// (`ct status dnat`, which firewalld's input chain accepts first), when known; read for a
    /// connection's first packet only.
    pub dnat: Option<bool>,
}

/// The owner of the socket a packet leaves from, as the output hook's owner matches see it
/// (the socket file's fsuid and fsgid). A part not known reads as "may match".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SocketOwner {
    /// `meta skuid`, `--uid-owner`.
    pub uid: Option<u32>,
    /// `meta skgid`, `--gid-owner` (without `--suppl-groups`).
    pub gid: Option<u32>,
}

impl SocketOwner {
    /// This process: its effective uid and gid (the fsuid and fsgid a socket it opens gets).
    pub fn this_process() -> Self {
        Self {
            uid: Some(rustix::process::geteuid().as_raw()),
            gid: Some(rustix::process::getegid().as_raw()),
        }
    }
}

impl Packet {
    /// The first packet (the SYN) of a connection this host opens to `dst`:`dport`, before the
    /// route is known (no input interface; output interface unknown).
    pub const fn outgoing(src: Option<IpAddr>, dst: IpAddr, dport: u16) -> Self {
        Self {
            src,
            dst,
            sport: None,
            dport: Some(dport),
            state: CtState::New,
            iif: Interface::None,
            oif: Interface::Unknown,
            src_local: Some(true),
            dst_local: None,
            owner: SocketOwner {
                uid: None,
                gid: None,
            },
            // Translated only by a DNAT of the nat output hook, which the caller follows.
            dnat: Some(false),
        }
    }

    /// The server's reply to this packet (the SYN-ACK): addresses and ports swapped, part of
    /// an established connection, coming in by the interface this one went out by.
    #[must_use]
    pub fn reply(&self) -> Option<Self> {
        Some(Self {
            src: Some(self.dst),
            dst: self.src?,
            sport: self.dport,
            dport: self.sport,
            state: CtState::Established,
            iif: self.oif.clone(),
            oif: Interface::None,
            src_local: self.dst_local,
            dst_local: self.src_local,
            // The server's socket, whoever owns it.
            owner: SocketOwner::default(),
            dnat: None,
        })
    }
}

/// Conntrack's state of a packet (`ct state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CtState {
    /// The first packet of a connection.
    New,
    /// Part of a connection already seen both ways (a reply, the SYN-ACK included).
    Established,
    /// Related to a connection: the reset or ICMP error that a reject sends back (conntrack
    /// attaches it to the connection it rejects).
    Related,
    /// Not looked up by conntrack yet (a chain of the output hook under priority -200, such as
    /// iptables' raw table): nft's `ct state` reads `invalid`.
    Invalid,
    /// Not known: a `bridge` chain's frame arriving, which conntrack has seen only where
    /// `br_netfilter` and its sysctls make it look.
    Unknown,
}

impl CtState {
    /// nft's word for it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Established => "established",
            Self::Related => "related",
            Self::Invalid => "invalid",
            Self::Unknown => "unknown",
        }
    }
}

/// A network interface, as `meta iifname` / `oifname` see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interface {
    /// No interface (the input interface of a packet this host sends): nft sees `""`.
    None,
    /// This one.
    Named(String),
    /// Some interface that is not loopback (the route to a remote address), name unknown.
    NotLoopback,
    /// Not known.
    Unknown,
}

/// The filter hook a chain is attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    /// Packets this host sends.
    Output,
    /// Packets arriving at this host, before routing says they are for it (iptables' raw and
    /// mangle PREROUTING, nft filter chains there: where blocklists by source often live).
    /// A packet this host sends itself arrives here again, through `lo`.
    Prerouting,
    /// Packets for this host.
    Input,
    /// Packets this host routes on to another (a DNAT to a container: Docker's `DOCKER-USER`
    /// and `FORWARD`).
    Forward,
    /// Packets as they arrive by one interface, before anything else of this host sees them
    /// (a `netdev` table's chain, or an `inet` one's, attached to that device).
    Ingress,
    /// Packets as they leave by one interface, after routing and the output hook (a `netdev`
    /// table's chain attached to that device; Linux 5.16 and later).
    Egress,
    /// A `bridge` table's input chain: frames a bridge of this host delivers to the host
    /// itself, when the route's interface is that bridge (ebtables' `INPUT`). nft names it
    /// `input`, as the table's family tells apart.
    #[serde(rename = "input")]
    BridgeInput,
    /// A `bridge` table's output chain: frames this host sends out through a bridge (ebtables'
    /// `OUTPUT`).
    #[serde(rename = "output")]
    BridgeOutput,
}

impl Hook {
    /// nft's name for it: `output`, `input` (a bridge table's too).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Output | Self::BridgeOutput => "output",
            Self::Prerouting => "prerouting",
            Self::Input | Self::BridgeInput => "input",
            Self::Forward => "forward",
            Self::Ingress => "ingress",
            Self::Egress => "egress",
        }
    }
}

/// The nat hook a DNAT rule works at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NatHook {
    /// Packets this host sends (iptables' `-t nat OUTPUT`).
    Output,
    /// Packets arriving from elsewhere, before routing (`-t nat PREROUTING`).
    Prerouting,
}

impl NatHook {
    /// nft's name for it: `output`, `prerouting`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Output => "output",
            Self::Prerouting => "prerouting",
        }
    }
}

/// What a rule that stops a packet does with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Silently: the sender sees a timeout.
    Drop,
    /// With a TCP reset or an ICMP error: the sender sees a refusal or an unreachable.
    Reject,
}

impl Verdict {
    /// `drop`, `reject`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Drop => "drop",
            Self::Reject => "reject",
        }
    }
}

/// Which tool made a rule, and so which tool should change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tool {
    /// nftables itself (`nft`), or a tool we do not recognise.
    Nft,
    /// `iptables` / `ip6tables` (iptables-nft: an `ip`/`ip6` table named as iptables names
    /// them, with chains hooked as `INPUT`, `OUTPUT`...).
    Iptables,
    /// ufw (its `ufw-*` / `ufw6-*` chains of an iptables table).
    Ufw,
    /// `iptables-legacy` / `ip6tables-legacy`: a rule of the kernel's `x_tables`, which nft
    /// does not show (see [`legacy`]).
    IptablesLegacy,
    /// firewalld (RHEL, Fedora, openSUSE): its table `inet firewalld` (the nftables backend),
    /// or the chains its iptables backend adds to iptables' tables (`INPUT_ZONES`,
    /// `IN_public`...). firewalld rewrites them on every reload: they are changed with
    /// `firewall-cmd`, never with nft or iptables.
    Firewalld,
}

/// Which packet of the connection a rule stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stops {
    /// The connection request (the SYN).
    Request,
    /// The server's reply (the SYN-ACK).
    Reply,
}

/// A rule (or a chain's policy) that stops the packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Blocker {
    /// `family table` (`inet filter`, `ip filter`).
    pub table: String,
    /// The chain the rule is in.
    pub chain: String,
    /// The chains from the base chain to `chain`, both included: how the packet got there
    /// (`["OUTPUT", "ufw-before-output", "ufw-user-output"]`).
    pub path: Vec<String>,
    /// The base chain's hook.
    pub hook: Hook,
    /// The rule, written as nft would (`tcp dport 7001 drop`), or `policy drop`.
    pub rule: String,
    /// What it does.
    pub verdict: Verdict,
    /// The rule's handle (`nft delete rule ... handle N`); absent for a policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<u64>,
    /// Its place in its chain, from 1 (iptables' rule number: `iptables -D CHAIN N`); absent
    /// for a policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    /// The tool that made it.
    pub tool: Tool,
    /// The packet it stops.
    pub stops: Stops,
    /// False when the rule, or one before it on the way, has matches we do not evaluate
    /// (marks, rate limits, unknown interfaces...): it may stop the packet, or may not.
    pub certain: bool,
    /// True when the rule's own matches all hold for the packet (for a policy: nothing in its
    /// chain surely ends the packet's way before it), so that a rule that is not `certain` is
    /// so only because one before it may have stopped or accepted the packet first.
    pub matches: bool,
    /// True when the rule is a limit (nft's `limit`, a `meter` or set that limits per source,
    /// `ct count`; iptables' `-m limit`, `-m hashlimit`, `-m recent`, `-m connlimit`) and its
    /// other matches all hold, or its
    /// matches all hold after a rate-limited accept (`-m limit -j ACCEPT`, then `-j DROP`): it
    /// stops the packet once the rate is spent, which the rules alone cannot tell.
    #[serde(skip)]
    pub rate_limit: bool,
    /// The network namespace whose rule it is, when not ours (a container's own firewall, or
    /// the namespace a port is forwarded to); absent for this namespace's rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<Namespace>,
}

impl Blocker {
    /// The iptables command for its table's family and its tool: `iptables`, `ip6tables`,
    /// `iptables-legacy` or `ip6tables-legacy`.
    pub fn iptables_command(&self) -> &'static str {
        match (self.table.starts_with("ip6 "), self.tool) {
            (false, Tool::IptablesLegacy) => "iptables-legacy",
            (true, Tool::IptablesLegacy) => "ip6tables-legacy",
            (false, _) => "iptables",
            (true, _) => "ip6tables",
        }
    }

    /// The table's name without its family (`filter`).
    pub fn table_name(&self) -> &str {
        self.table
            .split_once(' ')
            .map_or(self.table.as_str(), |(_, name)| name)
    }
}

/// Where a DNAT or redirect rule sends a packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum NatTo {
    /// `dnat to ADDRESS[:PORT]` (iptables' `-j DNAT --to-destination`).
    Address {
        /// The new destination address.
        address: IpAddr,
        /// The new port; absent: the port is kept.
        #[serde(skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
    },
    /// `redirect [to :PORT]` (`-j REDIRECT`): this host itself (loopback for a packet it
    /// sends; the address it arrived at otherwise).
    ThisHost {
        /// The new port; absent: the port is kept.
        #[serde(skip_serializing_if = "Option::is_none")]
        port: Option<u16>,
    },
    /// `dnat to :PORT` (iptables' `--to-destination :PORT`): the packet's own destination
    /// address, that port.
    SameAddress {
        /// The new port.
        port: u16,
    },
    /// A translation we cannot read (a map, a range of addresses or ports).
    Unknown,
}

/// A `notrack` rule that leaves a packet untracked by conntrack (raw `output` or `prerouting`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Untracked {
    /// `family table` (`inet raw`, `ip raw`).
    pub table: String,
    /// The chain the rule is in.
    pub chain: String,
    /// The rule, written as nft would (`tcp dport 7001 notrack`).
    pub rule: String,
    /// Its handle (`nft delete rule ... handle N`).
    pub handle: Option<u64>,
    /// Its place in its chain, from 1 (`iptables -t raw -D CHAIN N`).
    pub position: usize,
    /// The tool that made it.
    pub tool: Tool,
}

/// A rule that translates the destination of a packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dnat {
    /// Where it sends the packet.
    pub to: NatTo,
    /// `family table` (`ip nat`).
    pub table: String,
    /// The chain the rule is in (`DOCKER`).
    pub chain: String,
    /// The chains from the base chain to `chain`, both included (`["OUTPUT", "DOCKER"]`).
    pub path: Vec<String>,
    /// The base chain's hook.
    pub hook: NatHook,
    /// The rule, written as nft would (`iifname != "docker0" tcp dport 8080 dnat to
    /// 172.17.0.2:80`).
    pub rule: String,
    /// The rule's handle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handle: Option<u64>,
    /// Its place in its chain, from 1 (iptables' rule number).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<usize>,
    /// The tool that made it.
    pub tool: Tool,
    /// False when the rule, or one before it on the way, has matches we do not evaluate
    /// (Docker's `-m addrtype --dst-type LOCAL` without knowing whether the address is local,
    /// say): it may translate the packet, or may not.
    pub certain: bool,
    /// The network namespace whose rule it is, when not ours (the namespace a port is
    /// forwarded to); absent for this namespace's rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub netns: Option<Namespace>,
}

impl Dnat {
    /// Where `packet` goes after this translation, when that can be told.
    pub fn destination(&self, packet: &Packet) -> Option<SocketAddr> {
        let (address, port) = match self.to {
            NatTo::Address { address, port } => (address, port),
            NatTo::ThisHost { port } => {
                let address = match (self.hook, packet.dst) {
                    (NatHook::Prerouting, dst) => dst,
                    (NatHook::Output, IpAddr::V4(_)) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                    (NatHook::Output, IpAddr::V6(_)) => IpAddr::V6(Ipv6Addr::LOCALHOST),
                };
                (address, port)
            }
            NatTo::SameAddress { port } => (packet.dst, Some(port)),
            NatTo::Unknown => return None,
        };
        Some(SocketAddr::new(address, port.or(packet.dport)?))
    }
}

/// Why the ruleset could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FirewallError {
    /// `nft` is not installed.
    #[error("`nft` is not installed")]
    NoTool,
    /// Reading the ruleset needs `CAP_NET_ADMIN` (root).
    #[error("reading the firewall rules needs root")]
    NotPermitted,
    /// `nft` failed otherwise, or printed something we could not read.
    #[error("`nft` failed: {0}")]
    Failed(String),
}

/// The nftables ruleset of this network namespace, as JSON, with the iptables extensions
/// that nft's JSON leaves opaque (`xt`) replaced by what nft's listing says they do (see
/// [`xt`]). A big ruleset (a Kubernetes node's) is read by parts (see [`BIG`]): iptables-nft's
/// tables with `iptables-nft-save`, under the `iptables` key, the others with nft.
pub fn read_ruleset() -> Result<Value, FirewallError> {
    // Asked of the kernel, not read from nft's error text: without CAP_NET_ADMIN the netlink
    // dump is refused.
    if !has_net_admin() {
        return Err(FirewallError::NotPermitted);
    }
    // iptables-nft's tables first: their count says whether the ruleset is big. Not beside
    // nft's listing: on a big host nft would have taken its 200 MB before being stopped, and
    // on a small one the count costs a few milliseconds.
    if let Some(saved) = big::save_both().filter(|saved| big::is_big(saved)) {
        return big::read(saved);
    }
    let output = nft(&["-j", "list", "ruleset"])?;
    let mut ruleset: Value = parse_json(&output)?;
    // Not held beside its parse and the listing below.
    drop(output);
    with_listing(&mut ruleset, &["-a", "-s", "list", "ruleset"]);
    Ok(ruleset)
}

/// What nft's text listing (`nft ARGS`, of the ruleset or of one table) adds to its JSON, read
/// only when needed: the native expressions of iptables' extensions (`xt`), and the devices of
/// the chains of the `ingress` and `egress` hooks (see [`netdev`]). The listing is only a help:
/// without it the xt matches stay "may match", and those chains are not walked.
pub(super) fn with_listing(ruleset: &mut Value, args: &[&str]) {
    let (has_xt, lacks_devices) = (xt::has_xt(ruleset), netdev::lacks_devices(ruleset));
    if !has_xt && !lacks_devices {
        return;
    }
    let Ok(listing) = nft(args) else {
        return;
    };
    let listing = String::from_utf8_lossy(&listing);
    if has_xt {
        xt::translate(ruleset, &listing);
    }
    if lacks_devices {
        netdev::add_devices(ruleset, &listing);
    }
}

/// nft's JSON output, parsed.
fn parse_json<'de, T: serde::Deserialize<'de>>(json: &'de [u8]) -> Result<T, FirewallError> {
    serde_json::from_slice(json)
        .map_err(|err| FirewallError::Failed(format!("unreadable JSON: {err}")))
}

fn nft(args: &[&str]) -> Result<Vec<u8>, FirewallError> {
    let output = Command::new("nft")
        .args(args)
        .output()
        .map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => FirewallError::NoTool,
            _ => FirewallError::Failed(err.to_string()),
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(FirewallError::Failed(stderr.trim().to_owned()));
    }
    Ok(output.stdout)
}

/// `CAP_NET_ADMIN`'s bit in the capability sets.
const CAP_NET_ADMIN: u32 = 12;

/// Whether this thread has `CAP_NET_ADMIN` in its effective set (`/proc/thread-self/status`).
pub fn has_net_admin() -> bool {
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|status| effective_caps(&status))
        .is_some_and(|caps| caps & (1 << CAP_NET_ADMIN) != 0)
}

/// The `CapEff:` line of a `/proc/PID/status`.
fn effective_caps(status: &str) -> Option<u64> {
    u64::from_str_radix(crate::sys::process::status_field(status, "CapEff")?, 16).ok()
}

/// `ruleset` (nft's, or an empty one) with the iptables-legacy tables `legacy` (each made by
/// [`legacy::LegacyTables::into_ruleset`]) beside it: the walks evaluate both, nft's chains first
/// (the kernel's order between an nft chain and an `x_tables` one of the same priority is not
/// known).
pub fn with_legacy(mut ruleset: Value, legacy: Vec<Value>) -> Value {
    if legacy.is_empty() {
        return ruleset;
    }
    if !ruleset.is_object() {
        ruleset = Value::Object(serde_json::Map::new());
    }
    ruleset["legacy"] = Value::Array(legacy);
    ruleset
}

pub use big::BIG;
pub use eval::Indexed;

/// Whether any rule of `ruleset` matches a socket's owner (`meta skuid` / `skgid`, whatever
/// the operator: `!= 0` too).
pub fn has_owner_match(ruleset: &Value) -> bool {
    if let Some(saved) = legacy::Saved::of(ruleset) {
        return saved.owner_rules().any(|rule| has_owner_match(&rule));
    }
    match ruleset {
        Value::Array(items) => items.iter().any(has_owner_match),
        Value::Object(object) => {
            matches!(
                object
                    .get("meta")
                    .and_then(|m| m.get("key"))
                    .and_then(Value::as_str),
                Some("skuid" | "skgid")
            ) || object.values().any(has_owner_match)
        }
        _ => false,
    }
}

/// The uids and gids that the owner matches of `ruleset` name (`meta skuid 1000`, `skgid {
/// 27, 100 }`, a range by its first id), each once, in order: whose programs a rule may treat
/// apart from ours. An id named only by `!=` is not listed (everyone else is meant).
pub fn owner_ids(ruleset: &Value) -> (Vec<u32>, Vec<u32>) {
    fn ids(right: &Value, found: &mut Vec<u32>) {
        let id = right
            .as_u64()
            .or_else(|| right.get("range")?.get(0)?.as_u64());
        if let Some(id) = id.and_then(|id| u32::try_from(id).ok()) {
            found.push(id);
        } else if let Some(set) = right.get("set").and_then(Value::as_array) {
            for element in set {
                ids(element, found);
            }
        }
    }
    fn visit(value: &Value, uids: &mut Vec<u32>, gids: &mut Vec<u32>) {
        if let Some(saved) = legacy::Saved::of(value) {
            saved
                .owner_rules()
                .for_each(|rule| visit(&rule, uids, gids));
            return;
        }
        match value {
            Value::Array(items) => items.iter().for_each(|v| visit(v, uids, gids)),
            Value::Object(object) => {
                if let Some(m) = object.get("match") {
                    let found = match m["left"]["meta"]["key"].as_str() {
                        Some("skuid") => Some(&mut *uids),
                        Some("skgid") => Some(&mut *gids),
                        _ => None,
                    };
                    if let Some(found) = found.filter(|_| m["op"] != "!=") {
                        ids(&m["right"], found);
                        return;
                    }
                }
                object.values().for_each(|v| visit(v, uids, gids));
            }
            _ => {}
        }
    }
    let (mut uids, mut gids) = (Vec::new(), Vec::new());
    visit(ruleset, &mut uids, &mut gids);
    for found in [&mut uids, &mut gids] {
        let mut seen = std::collections::HashSet::new();
        found.retain(|id| seen.insert(*id));
    }
    (uids, gids)
}

/// The rules and policies of `ruleset` that stop `packet` at `hook`, in the order the packet
/// meets them, following the chains the base chains jump or go to.
pub fn blockers(ruleset: &Value, hook: Hook, packet: &Packet) -> Vec<Blocker> {
    Indexed::new(ruleset).blockers(hook, packet, packet)
}

/// The DNAT and redirect rules of `ruleset` that translate `packet` at `hook` (the nat
/// `output` hook for a packet this host sends, `prerouting` for one arriving), in the order the
/// packet meets them: where each sends it, the rule, and whether it certainly applies. At most
/// one applies; the first certain one is where the packet goes.
pub fn dnat(ruleset: &Value, hook: NatHook, packet: &Packet) -> Vec<Dnat> {
    Indexed::new(ruleset).dnat(hook, packet)
}

impl Indexed<'_> {
    /// [`blockers`] of a packet, once indexed; `sent` and `translated` differ when nat output
    /// translated its destination: output chains that come before the translation (raw,
    /// mangle: priority under -100) see it as `sent`, the others as `translated`.
    pub fn blockers(&self, hook: Hook, sent: &Packet, translated: &Packet) -> Vec<Blocker> {
        eval::blockers(self, hook, &eval::Seen { sent, translated })
    }

    /// The `notrack` rule that surely leaves `packet` untracked at `hook`, as it is sent (a
    /// chain before conntrack sees it before any translation): see [`eval::untracked_by`].
    pub fn untracked_by(&self, hook: Hook, packet: &Packet) -> Option<Untracked> {
        let seen = eval::Seen {
            sent: packet,
            translated: packet,
        };
        eval::untracked_by(self, hook, &seen)
    }

    /// [`dnat`], once indexed.
    pub fn dnat(&self, hook: NatHook, packet: &Packet) -> Vec<Dnat> {
        eval::dnat(self, hook, packet)
    }

    /// Whether a rule of nat postrouting may translate the source of `packet` (`snat`,
    /// `masquerade`): where it goes then sees an address of this host, not the packet's source.
    pub fn source_translated(&self, packet: &Packet) -> bool {
        eval::source_translated(self, packet)
    }
}
