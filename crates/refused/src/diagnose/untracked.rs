//! A connection this host's own `notrack` rule leaves untracked on the way out (a raw `output`
//! chain: `tcp dport 7001 notrack`, often written for a busy service's traffic in one direction
//! only): conntrack never sees its SYN, so the server's SYN-ACK belongs to no connection it
//! knows and reads `ct state invalid`, which most rulesets drop (ufw's, Docker's, the usual
//! `ct state invalid drop`). The client times out. The reply was walked as `established` and
//! passed: "a firewall of this host or of that namespace drops it" named nothing. Now the drop
//! is named, with the `notrack` rule that causes it: deleting the `invalid` drop is not the fix.

use super::cause::Cause;
use super::evidence::Evidence;
use super::facts::{AddressFacts, Facts};
use super::rules::Finding;
use crate::outcome::Outcome;
use crate::sys::firewall::{self, Blocker, CtState, Hook, Packet, Stops, Tool, Untracked};

/// Our request left untracked by a `notrack` rule, and the rules that drop the reply it makes
/// invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UntrackedReply {
    /// The `notrack` rule our SYN meets on the way out.
    pub notrack: Untracked,
    /// The rules that stop the server's reply, which conntrack takes for invalid.
    pub dropped_by: Vec<Blocker>,
}

/// For our `packet` to a remote address (a connection to this host's own address goes through
/// `lo`, where what conntrack does with it is another matter): the `notrack` rule it meets on
/// the way out, and the rules of this host that stop the reply it makes invalid. `None` when
/// no such rule leaves it untracked, or when the reply is untracked too (`ct state untracked`
/// is not `invalid`), or nothing stops it.
pub(super) fn read(ruleset: &firewall::Indexed<'_>, packet: &Packet) -> Option<UntrackedReply> {
    if packet.dst_local == Some(true) {
        return None;
    }
    let notrack = ruleset.untracked_by(Hook::Output, packet)?;
    let reply = Packet {
        state: CtState::Invalid,
        ..packet.reply()?
    };
    if ruleset.untracked_by(Hook::Prerouting, &reply).is_some() {
        return None;
    }
    let mut dropped_by = ruleset.blockers(Hook::Prerouting, &reply, &reply);
    dropped_by.extend(ruleset.blockers(Hook::Input, &reply, &reply));
    dropped_by.retain(|b| b.certain);
    for blocker in &mut dropped_by {
        blocker.stops = Stops::Reply;
    }
    (!dropped_by.is_empty()).then_some(UntrackedReply {
        notrack,
        dropped_by,
    })
}

/// `blocked-locally` for a timeout whose reply this host drops as invalid, its request left
/// untracked by a rule of this host; `None` otherwise.
pub(super) fn finding(_facts: &Facts, address: &AddressFacts) -> Option<Finding> {
    let untracked = address.untracked_reply.as_deref()?;
    if address.attempt.outcome != Outcome::Timeout {
        return None;
    }
    let drop = untracked.dropped_by.first()?;
    let notrack = &untracked.notrack;
    let port = address.addr.port();
    let finding = Finding::new(
        Cause::BlockedLocally,
        format!(
            "this host's rule `{}` ({} {}) leaves the connection to {} untracked, so conntrack takes the server's reply for a packet of no connection (`ct state invalid`), and this host's rule `{}` ({} {}) drops it",
            notrack.rule,
            notrack.table,
            notrack.chain,
            address.addr,
            drop.rule,
            drop.table,
            drop.chain
        ),
    )
    .evidence(untracked.dropped_by.iter().map(Evidence::from))
    .suggest(format!(
        "untrack the replies too, before conntrack: `tcp sport {port} notrack` in a raw prerouting chain (iptables: `iptables -t raw -A PREROUTING -p tcp --sport {port} -j NOTRACK`), and accept them where the input's policy drops (`ct state untracked accept`)"
    ));
    Some(finding.suggest(remove_notrack(notrack)))
}

/// How to remove the `notrack` rule, in the words of the tool that made it.
fn remove_notrack(notrack: &Untracked) -> String {
    let table = notrack
        .table
        .split_once(' ')
        .map_or(notrack.table.as_str(), |(_, name)| name);
    let command = match (notrack.tool, notrack.handle) {
        (Tool::Iptables | Tool::Ufw | Tool::Firewalld, _) => format!(
            "`sudo {} -t {table} -D {} {}`",
            if notrack.table.starts_with("ip6 ") {
                "ip6tables"
            } else {
                "iptables"
            },
            notrack.chain,
            notrack.position
        ),
        (Tool::IptablesLegacy, _) => format!(
            "`sudo iptables-legacy -t {table} -D {} {}`",
            notrack.chain, notrack.position
        ),
        (Tool::Nft, Some(handle)) => format!(
            "`sudo nft delete rule {} {} handle {handle}`",
            notrack.table, notrack.chain
        ),
        (Tool::Nft, None) => format!(
            "`sudo nft -a list chain {} {}`",
            notrack.table, notrack.chain
        ),
    };
    format!(
        "or track this connection as every other: remove the `notrack` rule, {command} (it saves conntrack's work for a busy server's own traffic, not for its clients')"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// nft's JSON for: raw output `tcp dport 7001 notrack` (priority raw, before conntrack),
    /// `tcp dport 7002 notrack` at priority 0 (after it: no effect), and input's
    /// `ct state invalid drop`.
    const RULESET: &str = r#"{"nftables": [{"table": {"family": "inet", "name": "raw", "handle": 8}}, {"chain": {"family": "inet", "table": "raw", "name": "output", "handle": 1, "type": "filter", "hook": "output", "prio": -300, "policy": "accept"}}, {"chain": {"family": "inet", "table": "raw", "name": "late", "handle": 2, "type": "filter", "hook": "output", "prio": 0, "policy": "accept"}}, {"rule": {"family": "inet", "table": "raw", "chain": "output", "handle": 3, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 7001}}, {"notrack": null}]}}, {"rule": {"family": "inet", "table": "raw", "chain": "late", "handle": 4, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 7002}}, {"notrack": null}]}}, {"table": {"family": "inet", "name": "filter", "handle": 9}}, {"chain": {"family": "inet", "table": "filter", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}, {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 2, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "invalid"}}, {"drop": null}]}}, {"rule": {"family": "inet", "table": "filter", "chain": "input", "handle": 3, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}}]}"#;

    fn ours(dport: u16) -> Packet {
        let mut packet = Packet::outgoing(
            Some("10.131.0.1".parse().unwrap()),
            "10.131.0.2".parse().unwrap(),
            dport,
        );
        packet.sport = Some(40000);
        packet.dst_local = Some(false);
        packet.src_local = Some(true);
        packet
    }

    #[test]
    fn a_request_left_untracked_has_its_reply_dropped_as_invalid() {
        let ruleset: serde_json::Value = serde_json::from_str(RULESET).unwrap();
        let indexed = firewall::Indexed::new(&ruleset);
        let found = read(&indexed, &ours(7001)).unwrap();
        assert_eq!(found.notrack.rule, "tcp dport 7001 notrack");
        assert_eq!(found.notrack.handle, Some(3));
        assert_eq!(found.dropped_by.len(), 1, "{found:?}");
        assert_eq!(found.dropped_by[0].rule, "ct state invalid drop");
        assert_eq!(found.dropped_by[0].stops, Stops::Reply);
        // A `notrack` after conntrack does nothing; another port meets none.
        assert_eq!(read(&indexed, &ours(7002)), None);
        assert_eq!(read(&indexed, &ours(7003)), None);
        // To this host's own address, by `lo`: not this rule's to tell.
        let local = Packet {
            dst_local: Some(true),
            ..ours(7001)
        };
        assert_eq!(read(&indexed, &local), None);
    }
}
