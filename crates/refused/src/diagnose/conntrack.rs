//! The rule for a connection whose first packet this host's connection tracking dropped: its
//! table is full (`nf_conntrack: table full, dropping packet` in the kernel's log), so no entry
//! can be made for a new connection, and the SYN is dropped before any rule of the firewall
//! sees it, going out or, over loopback, coming in. The client times out, which looks like a
//! firewall anywhere on the way (`filtered`), and the rules, which drop nothing, do not
//! explain it. `blocked-locally`: this host's netfilter stops the packet, and the fix is here
//! (who holds the entries, the limit, the timeouts), never on the path or the server.
//!
//! The proof is conntrack's own counters, which anyone may read: its `drop` counter rose
//! while our attempts ran, with the table at its limit. Both are the namespace's, so other
//! connections' drops count too, but with the table full every new connection's first packet
//! is dropped, ours with them. A table that is full with nothing dropped (entries evicted to
//! make room: only connections not yet "assured" are) explains nothing.
//!
//! The namespace of this host that holds the address (a container that tracks its
//! connections, a gateway's namespace) fills its own table the same way: there only its table
//! now and its drops since it was made can be read (`full_there`).

use super::cause::Cause;
use super::evidence::{Evidence, HeldListener};
use super::facts::{AddressFacts, Facts, Holder};
use super::rules::Finding;
use crate::outcome::Outcome;
use crate::sys::conntrack::{ConntrackDrops, ConntrackStats};

/// What conntrack dropped since `before` (read ahead of the attempts), read when an attempt
/// timed out: the only outcome a dropped SYN gives.
pub(super) fn read_drops(
    before: Option<ConntrackStats>,
    addresses: &[AddressFacts],
) -> Option<ConntrackDrops> {
    addresses
        .iter()
        .any(|a| a.attempt.outcome == Outcome::Timeout)
        .then_some(before)
        .flatten()
        .and_then(ConntrackDrops::since)
}

/// `blocked-locally` for a timeout while this namespace's conntrack table was full and dropped
/// packets; `None` otherwise.
pub(super) fn full_table(facts: &Facts, address: &AddressFacts) -> Option<Finding> {
    let drops = facts.conntrack.filter(|d| d.dropped > 0 && d.is_full())?;
    if address.attempt.outcome != Outcome::Timeout {
        return None;
    }
    let addr = address.addr;
    let finding = Finding::new(
        Cause::BlockedLocally,
        format!(
            "this host's connection tracking table is full ({} of {} entries): conntrack drops the first packet of every new connection, the one to {addr} included, before any rule of the firewall sees it",
            drops.count, drops.max
        ),
    )
    .evidence([Evidence::ConntrackTable {
        count: drops.count,
        max: drops.max,
        dropped: drops.dropped,
        netns: None,
    }]);
    Some(fixes(finding, drops))
}

/// `blocked-locally` for a silence from a listener of another namespace of this host whose own
/// conntrack table is full and has dropped packets (its counters since it was made: the table
/// full now is what drops a new connection's SYN there); `None` otherwise. `enter` runs a
/// command in it.
pub(super) fn full_there(
    holder: &Holder,
    exact: &[&HeldListener],
    dest: std::net::SocketAddr,
    inside: &str,
    enter: &str,
) -> Option<Finding> {
    let table = holder.conntrack.filter(|t| t.dropped > 0 && t.is_full())?;
    let finding = Finding::new(
        Cause::BlockedLocally,
        format!(
            "{}: that namespace's connection tracking table is full ({} of {} entries), so its conntrack drops the first packet of every new connection, this one included, before any rule there sees it",
            super::held_path::no_answer(exact, inside, dest),
            table.count,
            table.max
        ),
    )
    .evidence([Evidence::ConntrackTable {
        count: table.count,
        max: table.max,
        dropped: table.dropped,
        netns: Some(holder.netns.clone()),
    }])
    .evidence(super::rules::listed(exact))
    .suggest(format!(
        "see who holds its entries, counted by source address: `{enter} conntrack -L | awk '{{ for (i = 1; i <= NF; i++) if ($i ~ /^src=/) {{ print $i; break }} }}' | sort | uniq -c | sort -rn | head` (Debian's `conntrack` package)"
    ))
    .suggest(format!(
        "raise the limit on the host: `sudo sysctl -w net.netfilter.nf_conntrack_max={}` (the first namespace's, which bounds every namespace's table), and in /etc/sysctl.d/ to keep it",
        table.max.saturating_mul(2)
    ))
    .suggest(format!(
        "let entries of connections gone silent go sooner there: `{enter} sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=86400` (five days by default)"
    ));
    Some(finding)
}

fn fixes(finding: Finding, drops: ConntrackDrops) -> Finding {
    finding
        .suggest(
            "see who holds the entries, counted by source address: `sudo conntrack -L | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^src=/) { print $i; break } }' | sort | uniq -c | sort -rn | head` (Debian's `conntrack` package); a program that opens connections without end, or a flood, is the thing to stop",
        )
        .suggest(format!(
            "raise the limit: `sudo sysctl -w net.netfilter.nf_conntrack_max={}` on the host (it is the first namespace's: read-only in a container's), and in /etc/sysctl.d/ to keep it",
            drops.max.saturating_mul(2)
        ))
        .suggest(
            "let entries of connections gone silent go sooner: `sudo sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=86400` (five days by default, for a connection whose end this host never saw)",
        )
}
