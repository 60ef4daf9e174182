//! A rate limit of the server's own firewall that drops every packet over its rate, not only
//! those of new connections (`-m hashlimit --hashlimit-above 1/sec -j DROP` without
//! `--ctstate NEW`, nft's `limit rate over` or `meter`): a connection whose SYN got through
//! within the burst then loses its last handshake packet and its data, and looks like a
//! service that accepts and never answers. Read, when the address is this host's or another
//! namespace's of this host, after a connect that went silent.

use std::net::{IpAddr, SocketAddr};

use crate::sys::firewall::{
    self, Blocker, CtState, Hook, Interface, Packet, SocketOwner, Stops, Tool,
};
use crate::sys::netns;
use crate::sys::{addresses, host};

use super::cause::Cause;
use super::evidence::Evidence;
use super::facts::{AddressFacts, RateLimits};
use super::rules::Finding;

/// The rate limits that the connection to `address` meets where it arrives, when the rules
/// there can be read: this host's (`own`, read by the caller) for an address of its own, else
/// those of the one namespace of this host that holds it (read from inside it: root).
pub(super) fn read(address: &AddressFacts, own: Option<&serde_json::Value>) -> Option<RateLimits> {
    let ip = address.addr.ip();
    let src = host::source_address_for(ip)?;
    if address.local {
        let ruleset = own?;
        // A packet to this host itself comes in by `lo`.
        let lo = Interface::Named("lo".to_owned());
        let (established, new) = both(ruleset, src, address.addr, &lo, true);
        return Some(RateLimits {
            netns: None,
            established,
            new,
        });
    }
    let holders = addresses::holders_of(ip);
    let [ns] = holders.as_slice() else {
        return None;
    };
    let inside = netns::within(ns, || Ok(super::holder::read_inside(src))).ok()?;
    let ruleset = inside.ruleset?;
    let iif = inside.back_dev.map_or(Interface::Unknown, Interface::Named);
    let (established, new) = both(&ruleset, src, address.addr, &iif, false);
    Some(RateLimits {
        netns: Some((ns.netns.clone(), ns.pid)),
        established,
        new,
    })
}

/// The rate limits a made connection's packets meet, and those a new one's SYN meets.
fn both(
    ruleset: &serde_json::Value,
    src: IpAddr,
    dest: SocketAddr,
    iif: &Interface,
    src_local: bool,
) -> (Vec<Blocker>, Vec<Blocker>) {
    let ruleset = firewall::Indexed::new(ruleset);
    let packet = |state| Packet {
        src: Some(src),
        dst: dest.ip(),
        sport: None,
        dport: Some(dest.port()),
        state,
        iif: iif.clone(),
        oif: Interface::None,
        src_local: Some(src_local),
        dst_local: Some(true),
        // Arriving: the server's rules cannot see the client's socket.
        owner: SocketOwner::default(),
        // A port its DNAT sends on is read where it goes.
        dnat: Some(false),
    };
    (
        limits(&ruleset, &packet(CtState::Established)),
        limits(&ruleset, &packet(CtState::New)),
    )
}

/// The rate-limit rules that stop `packet` where it arrives, named as stopping the client's
/// packets (a made connection's read as a reply otherwise).
fn limits(ruleset: &firewall::Indexed<'_>, packet: &Packet) -> Vec<Blocker> {
    let mut found = ruleset.blockers(Hook::Prerouting, packet, packet);
    found.extend(ruleset.blockers(Hook::Input, packet, packet));
    found
        .into_iter()
        .filter(|b| b.rate_limit)
        .map(|b| Blocker {
            stops: Stops::Request,
            ..b
        })
        .collect()
}

/// The rate limit that explains a connection that was made and then went silent, named with
/// how to make it count new connections only; `None` when no such rule was read.
pub(super) fn explain(
    address: &AddressFacts,
    what: &str,
    readiness: &crate::probe::Readiness,
) -> Option<Finding> {
    // A close or a reset is the server's answer: no limit dropped it.
    if !readiness.is_silence() {
        return None;
    }
    let limits = address.rate_limits.as_ref()?;
    // A limit of new connections alone explains only the check's own connect timing out.
    let check_connect_timed_out = matches!(
        readiness,
        crate::probe::Readiness::Failed(crate::probe::ProbeFailure::Connect(err))
            if err.outcome() == Some(crate::outcome::Outcome::Timeout)
    );
    let (blocker, made_too) = match (limits.established.first(), limits.new.first()) {
        (Some(blocker), _) => (blocker, true),
        (None, Some(blocker)) if check_connect_timed_out => (blocker, false),
        _ => return None,
    };
    let (whose, run) = match &limits.netns {
        None => ("this host's own firewall".to_owned(), "sudo".to_owned()),
        Some((netns, pid)) => {
            let run = super::elsewhere::enter_namespace(netns, *pid);
            let ip = address.addr.ip();
            (
                format!("network namespace {netns}'s firewall (it holds {ip})"),
                run,
            )
        }
    };
    let placed = super::rules::blocked::placed(blocker);
    // The rules cannot show that the rate was spent: certain only when the rule surely applies.
    let likely = if blocker.certain { "" } else { "most likely " };
    let summary = if made_too {
        format!(
            "{what}: {likely}a rate limit of {whose} drops the connection's packets once its rate is spent, those of connections already made included (the handshake's last packet, the data), not only new connections: {placed}"
        )
    } else {
        format!(
            "{what}: {likely}a rate limit of {whose} drops new connections over its rate, and the check's second connection was one: {placed}"
        )
    };
    let finding = Finding::new(Cause::BlockedLocally, summary).evidence([Evidence::from(blocker)]);
    if made_too {
        return Some(fix(finding, blocker, &run));
    }
    Some(finding.suggest(
        "raise its rate and burst if clients rightly connect this often; else it works as meant: connect less often",
    ))
}

/// Make the limit count new connections only (or let the packets of made ones through before
/// it), or raise it.
fn fix(finding: Finding, blocker: &Blocker, run: &str) -> Finding {
    let (table, chain) = (&blocker.table, &blocker.chain);
    let finding = match (blocker.tool, blocker.handle) {
        (Tool::Nft, Some(handle)) => finding.suggest(format!(
            "make it count new connections only: `{run} nft replace rule {table} {chain} handle {handle} ct state new {}`",
            blocker.rule
        )),
        (Tool::Nft, None) => finding,
        (Tool::Firewalld, _) => {
            let cmd = super::firewalld::firewall_cmd(run);
            finding.suggest(format!(
                "it is firewalld's, most likely a rich rule's `limit value=...` (`{cmd} --list-rich-rules` lists a zone's): change it with `{cmd} --remove-rich-rule` and `--add-rich-rule`, not with nft or iptables: firewalld rewrites its rules on every reload"
            ))
        }
        _ => {
            let command = blocker.iptables_command();
            let t = match blocker.table_name() {
                "filter" => String::new(),
                other => format!(" -t {other}"),
            };
            let at = blocker
                .position
                .map_or_else(String::new, |p| format!(" (rule {p} of {chain})"));
            finding.suggest(format!(
                "make it count new connections only: add `-m conntrack --ctstate NEW` to the rule{at}, as `{run} {command}{t} -S {chain}` shows it, with `{command}{t} -R {chain} N ...`; or let the packets of made connections through before it: `{run} {command}{t} -I {chain} 1 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`"
            ))
        }
    };
    let finding = if blocker.tool == Tool::Nft {
        finding.suggest(format!(
            "or let the packets of made connections through before it: `{run} nft insert rule {table} {chain} ct state established,related accept`"
        ))
    } else {
        finding
    };
    finding.suggest("or raise its rate and burst, if clients rightly connect this often")
}
