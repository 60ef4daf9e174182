//! Rules for this namespace's loopback interface: down (`ip netns add` or `unshare -n` without
//! `ip link set lo up`, or a container runtime that forgot it), or without IPv6 (`disable_ipv6`
//! on `lo`, or on `all`). Every connection to the namespace's own addresses goes through `lo`,
//! so these come before any other rule about them; a route lookup or a missing `::1` would
//! otherwise read as "no route" or "IPv6 disabled on this host", with fixes that change nothing.

use std::net::{IpAddr, SocketAddr};

use crate::outcome::Outcome;

use super::cause::Cause;
use super::evidence::{Evidence, Ipv6Switch, Loopback};
use super::facts::{AddressFacts, Facts};
use super::rules::{Finding, on_port};

/// The finding for a failed address of this namespace that its loopback interface explains.
pub(super) fn explain(facts: &Facts, address: &AddressFacts) -> Option<Finding> {
    let loopback = facts.loopback.as_ref()?;
    let ip = address.addr.ip();
    if !address.local && !ip.is_loopback() {
        return None;
    }
    // Nothing was sent: no route (127.0.0.0/8's and ::1's local routes are gone with `lo`), or
    // no source address (no ::1).
    let unsent = matches!(
        address.attempt.outcome,
        Outcome::NetworkUnreachable | Outcome::AddressUnavailable
    );
    // Addresses that keep their local routes while `lo` is down (the namespace's others, and
    // 127.0.0.1 when `lo` was up once): the packets are queued on it, never delivered, and the
    // connect times out.
    let lost = address.attempt.outcome == Outcome::Timeout;
    if loopback.up == Some(false) && (unsent || lost) {
        let own = address.local && !ip.is_loopback();
        return Some(down(address.addr, own, loopback.netns.as_deref()));
    }
    if ip.is_ipv6() && ip.is_loopback() && unsent {
        return Some(no_ipv6_loopback(facts, loopback, address.addr));
    }
    None
}

/// `lo` is down.
fn down(addr: SocketAddr, own_beside_loopback: bool, netns: Option<&str>) -> Finding {
    let summary = if own_beside_loopback {
        format!(
            "{} is this host's own address, but the loopback interface `lo`, which carries every connection to this network namespace's own addresses, is down: the connection to {addr} went nowhere",
            addr.ip()
        )
    } else {
        format!(
            "the loopback interface `lo` of this network namespace is down, so {addr} cannot be reached: every connection to 127.0.0.1, ::1 and this namespace's own addresses goes through it"
        )
    };
    let finding =
        Finding::new(Cause::NetworkUnreachable, summary).evidence([Evidence::LoopbackDown]);
    let finding = if own_beside_loopback {
        finding.evidence([Evidence::LocalAddress { address: addr.ip() }])
    } else {
        finding
    };
    let outside = netns.unwrap_or("NAME");
    finding.suggest(format!(
        "bring it up: `sudo ip link set lo up` in this namespace, or `sudo ip netns exec {outside} ip link set lo up` from outside it (a namespace made by `ip netns add` or `unshare -n` starts with `lo` down)"
    ))
}

/// `::1` cannot be used while `lo` is up: IPv6 is switched off on `lo` (by its own sysctl, or by
/// `all`'s), the kernel has no IPv6, or `::1` was taken off `lo`.
fn no_ipv6_loopback(facts: &Facts, loopback: &Loopback, addr: SocketAddr) -> Finding {
    let off = &loopback.ipv6_disabled_by;
    let evidence = Evidence::Ipv6Unusable {
        disabled_by: off.clone(),
    };
    let finding = if off.contains(&Ipv6Switch::All) || off.contains(&Ipv6Switch::Lo) {
        let names: Vec<String> = off
            .iter()
            .filter(|switch| **switch != Ipv6Switch::Default)
            .map(|switch| format!("`{}`", switch.sysctl()))
            .collect();
        Finding::new(
            Cause::NetworkUnreachable,
            format!(
                "IPv6 is switched off on the loopback interface ({} = 1), so it has no ::1 and {addr} cannot be reached",
                names.join(" and ")
            ),
        )
        .suggest(turn_on(off))
        .suggest("`grep -rs disable_ipv6 /etc/sysctl.conf /etc/sysctl.d` finds where it is set again at boot")
    } else if !facts.ipv6_usable {
        Finding::new(
            Cause::NetworkUnreachable,
            format!("this kernel runs without IPv6 (booted with `ipv6.disable=1`, or built without it), so {addr} cannot be reached"),
        )
        .suggest("IPv6 comes back only with a boot without `ipv6.disable=1` (`cat /proc/cmdline` shows the kernel's command line)")
    } else {
        Finding::new(
            Cause::NetworkUnreachable,
            format!("the loopback interface `lo` is up and IPv6 is on, but it has no ::1 (it was deleted), so {addr} cannot be reached"),
        )
        .suggest("put it back: `sudo ip -6 addr add ::1/128 dev lo`")
    };
    let finding = finding.evidence([evidence]);
    let default_off = off.contains(&Ipv6Switch::Default)
        && !off.contains(&Ipv6Switch::All)
        && off.contains(&Ipv6Switch::Lo);
    let finding = if default_off {
        finding.suggest("`net.ipv6.conf.default.disable_ipv6` is 1 too: interfaces made from now on start without IPv6 (`sudo sysctl -w net.ipv6.conf.default.disable_ipv6=0`)")
    } else {
        finding
    };
    match over_ipv4(facts, addr.port()) {
        Some(suggestion) => finding.suggest(suggestion),
        None => finding,
    }
}

/// The command that turns IPv6 back on for `lo`, given the switches that are on: `all`'s when
/// it is one (writing it writes every interface's own, `lo`'s included), else `lo`'s own.
fn turn_on(off: &[Ipv6Switch]) -> String {
    let switch = if off.contains(&Ipv6Switch::All) {
        Ipv6Switch::All
    } else {
        Ipv6Switch::Lo
    };
    format!("turn it back on: `sudo sysctl -w {}=0`", switch.sysctl())
}

/// Connect to 127.0.0.1 instead, when a listener of this host takes the port there.
fn over_ipv4(facts: &Facts, port: u16) -> Option<String> {
    let v4 = SocketAddr::from(([127, 0, 0, 1], port));
    let listeners = facts.listeners.as_deref()?;
    let (_, exact) = on_port(listeners, v4);
    let listener = exact.first()?;
    Some(format!(
        "or connect to {v4} instead: {} listens there",
        listener.owner()
    ))
}

/// Whether IPv6 cannot carry a connection to `ip` here: off on this host, or, for `::1`, off on
/// `lo`.
pub(super) fn is_ipv6_off_for(facts: &Facts, ip: IpAddr) -> bool {
    let off_on_lo = || {
        facts.loopback.as_ref().is_some_and(|l| {
            l.ipv6_disabled_by
                .iter()
                .any(|s| matches!(s, Ipv6Switch::All | Ipv6Switch::Lo))
        })
    };
    ip.is_ipv6() && (!facts.ipv6_usable || (ip.is_loopback() && off_on_lo()))
}

/// The sysctl to write 0 to for IPv6 to carry a connection to `ip` again: `all`'s, unless only
/// `lo`'s own is on and `ip` is `::1`.
pub(super) fn ipv6_switch_for(facts: &Facts, ip: IpAddr) -> Ipv6Switch {
    let only_lo = facts.loopback.as_ref().is_some_and(|l| {
        l.ipv6_disabled_by.contains(&Ipv6Switch::Lo)
            && !l.ipv6_disabled_by.contains(&Ipv6Switch::All)
    });
    if only_lo && ip.is_loopback() {
        Ipv6Switch::Lo
    } else {
        Ipv6Switch::All
    }
}
