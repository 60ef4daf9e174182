//! A timeout that this host's firewall rules do not explain (or neighbour discovery that got
//! no answer), while something on the interface
//! the route uses drops packets outside them: a `tc` qdisc that counted drops (its filters,
//! a `netem loss`, a policer), or an XDP program. Named as a candidate, not as the cause: a
//! qdisc's counter covers every packet since it was added, of every connection, and an XDP
//! program counts its drops nowhere we can read, so neither proves that ours were among them.
//! The cause stays `filtered`; the evidence, a warning that says how to tell, and the command
//! that removes each are added, first among the suggestions, since they are on this host.

use std::fmt;

use super::cause::Cause;
use super::evidence::Evidence;
use super::facts::AddressFacts;
use super::rules::Finding;
use crate::sys::dropper::{Dropper, DropperKind};

/// `finding` (a `filtered` timeout) with what may drop the packets on this host's interface.
pub(super) fn named(finding: Finding, address: &AddressFacts) -> Finding {
    let droppers = &address.droppers;
    // No answer, or no neighbour answer: a drop on the way in takes ARP's replies too. A
    // `blocked-locally` that this host's unread rules were only guessed to explain (an address
    // of its own, no root) may be these as well.
    let guessed = finding.cause == Cause::BlockedLocally && address.blockers.is_none();
    if !(matches!(finding.cause, Cause::Filtered | Cause::HostUnreachable) || guessed)
        || droppers.is_empty()
    {
        return finding;
    }
    let device = &droppers[0].device;
    let things: Vec<String> = droppers.iter().map(short).collect();
    let mut fixes: Vec<String> = removable(droppers).map(fix).collect();
    let counted = droppers.iter().any(|d| d.dropped.is_some());
    let tell = if counted {
        format!(
            "a qdisc's drop counter counts every packet it dropped since it was added, of every connection: `tc -s qdisc show dev {device}` before and after `refused check {}` shows whether it rises with this one",
            address.addr
        )
    } else {
        format!(
            "an XDP program counts its drops nowhere `refused` can read: `sudo bpftool prog show` and its maps, or detaching it for a try, tell whether it drops the replies from {}",
            address.addr
        )
    };
    let mut finding = Finding {
        summary: if guessed {
            // The firewall was only a guess: both stand side by side.
            format!(
                "{} is this host's own address, yet the connection got no answer: this host drops it, by a rule of its firewall (its rules could not be read) or outside its tables, where {} on {device} {} packets",
                address.addr,
                things.join(", "),
                if counted { "drops" } else { "may drop" }
            )
        } else if counted {
            format!(
                "{}; but this host itself drops packets on {device} outside its firewall's tables ({}): these may be among them",
                finding.summary,
                things.join(", ")
            )
        } else {
            format!(
                "{}; but {} on {device} of this host itself may drop them, outside its firewall's tables",
                finding.summary,
                things.join(", ")
            )
        },
        ..finding
    }
    .evidence(droppers.iter().cloned().map(Evidence::Dropper))
    .warn([tell]);
    fixes.append(&mut finding.suggestions);
    finding.suggestions = fixes;
    finding
}

/// The command that removes it, said as a condition: it is only a candidate.
fn fix(dropper: &Dropper) -> String {
    let fix = format!(
        "if it is {} that drops them, remove it: `sudo {}`",
        short(dropper),
        dropper.remove
    );
    if dropper.what != DropperKind::Xdp {
        return fix;
    }
    // A program attached through a BPF link (Cilium's, libxdp's, a test's) refuses the netlink
    // detach; its link has to go.
    format!(
        "{fix} (\"Can't replace active BPF XDP link\": a BPF link holds it, `sudo bpftool link show` names the link and its program; the program that made it, or removing its pin under /sys/fs/bpf, detaches it)"
    )
}

/// The droppers whose removal a person would run: a filter rather than the `clsact` qdisc
/// that holds it (which would take every other filter with it), unless it shows none.
fn removable(droppers: &[Dropper]) -> impl Iterator<Item = &Dropper> {
    let has_filters = droppers.iter().any(|d| d.what == DropperKind::Filter);
    droppers.iter().filter(move |d| {
        !(has_filters
            && d.what == DropperKind::Qdisc
            && matches!(d.name.as_str(), "clsact" | "ingress"))
    })
}

/// A few words for it: "a `tc` filter `bpf` (pref 49152) at ingress".
fn short(dropper: &Dropper) -> String {
    let way = dropper
        .direction
        .map(|d| format!(" at {}", d.as_str()))
        .unwrap_or_default();
    match dropper.what {
        DropperKind::Qdisc => format!("the `tc` qdisc `{}`{way}", dropper.name),
        DropperKind::Filter => format!(
            "the `tc` filter `{}` (pref {}){way}",
            dropper.name,
            dropper.pref.unwrap_or_default()
        ),
        DropperKind::Xdp => {
            let id = dropper
                .program
                .map(|id| format!(" {id}"))
                .unwrap_or_default();
            format!("the XDP program{id} ({} mode)", dropper.name)
        }
    }
}

/// The evidence line.
pub(super) fn describe(f: &mut fmt::Formatter<'_>, dropper: &Dropper) -> fmt::Result {
    let device = &dropper.device;
    match dropper.what {
        DropperKind::Qdisc => {
            let count = dropper.dropped.unwrap_or_default();
            write!(
                f,
                "{} on {device} has dropped {count} packet{} since it was added (`tc -s qdisc show dev {device}`)",
                short(dropper),
                if count == 1 { "" } else { "s" }
            )?;
            if matches!(dropper.name.as_str(), "clsact" | "ingress") {
                f.write_str(": its filters' drops")?;
            }
            Ok(())
        }
        DropperKind::Filter => {
            write!(f, "{} on {device}", short(dropper))?;
            if let Some(id) = dropper.program {
                write!(f, ", eBPF program {id}")?;
            }
            let way = dropper.direction.map_or("", |d| d.as_str());
            write!(f, " (`tc filter show dev {device} {way}`)")
        }
        DropperKind::Xdp => write!(
            f,
            "{} is attached to {device}: it sees every packet that comes in by {device} before anything else of this host (`ip link show dev {device}`)",
            short(dropper)
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::connect::{Address, Attempt};
    use crate::outcome::Outcome;
    use crate::sys::dropper::Direction;

    fn timed_out(droppers: Vec<Dropper>) -> AddressFacts {
        let addr = "10.130.0.2:80".parse().unwrap();
        let attempt = Attempt {
            address: Address::Inet(addr),
            outcome: Outcome::Timeout,
            errno: None,
            started: Duration::ZERO,
            elapsed: Duration::from_millis(1600),
            try_number: 1,
            icmp: None,
            local_port: None,
        };
        AddressFacts {
            droppers,
            ..AddressFacts::behind(attempt, addr, None)
        }
    }

    fn clsact_and_filter() -> Vec<Dropper> {
        let qdisc = Dropper {
            device: "eth0".into(),
            what: DropperKind::Qdisc,
            name: "clsact".into(),
            direction: None,
            pref: None,
            program: None,
            dropped: Some(4),
            remove: "tc qdisc del dev eth0 clsact".into(),
        };
        let filter = Dropper {
            what: DropperKind::Filter,
            name: "bpf".into(),
            direction: Some(Direction::Ingress),
            pref: Some(49152),
            program: Some(7),
            dropped: None,
            remove: "tc filter del dev eth0 ingress pref 49152".into(),
            ..qdisc.clone()
        };
        vec![qdisc, filter]
    }

    fn filtered() -> Finding {
        Finding::new(Cause::Filtered, "no answer from 10.130.0.2:80")
            .suggest("check the firewall of 10.130.0.2")
    }

    #[test]
    fn a_filtered_timeout_names_the_filter_first_and_keeps_its_cause() {
        let finding = named(filtered(), &timed_out(clsact_and_filter()));
        assert_eq!(finding.cause, Cause::Filtered);
        assert!(
            finding
                .summary
                .contains("this host itself drops packets on eth0 outside its firewall's tables"),
            "{}",
            finding.summary
        );
        assert_eq!(finding.evidence.len(), 2);
        // The filter's removal, not the qdisc's, which would take every other filter with it.
        assert!(
            finding.suggestions[0].contains("`sudo tc filter del dev eth0 ingress pref 49152`"),
            "{:?}",
            finding.suggestions
        );
        assert!(!finding.suggestions.iter().any(|s| s.contains("clsact`")));
        assert_eq!(
            finding.suggestions.last().unwrap(),
            "check the firewall of 10.130.0.2"
        );
        assert!(finding.warnings[0].contains("tc -s qdisc show dev eth0"));
        let shown = finding.evidence[0].to_string();
        assert!(shown.contains("has dropped 4 packets"), "{shown}");
    }

    #[test]
    fn a_guessed_local_firewall_is_put_beside_the_dropper() {
        // An address of this host, no root: the firewall was a guess, the qdisc is read.
        let guessed = Finding::new(Cause::BlockedLocally, "this host's firewall drops it");
        let address = timed_out(clsact_and_filter());
        let finding = named(guessed.clone(), &address);
        assert_eq!(finding.cause, Cause::BlockedLocally);
        assert!(
            finding.summary.contains(
                "by a rule of its firewall (its rules could not be read) or outside its tables"
            ),
            "{}",
            finding.summary
        );
        // A rule that was read and stops it is not a guess: left alone.
        let read = AddressFacts {
            blockers: Some(Vec::new()),
            ..address
        };
        assert_eq!(named(guessed.clone(), &read), guessed);
    }

    #[test]
    fn other_causes_and_nothing_on_the_interface_are_left_alone() {
        let closed = Finding::new(Cause::Closed, "reset");
        assert_eq!(
            named(closed.clone(), &timed_out(clsact_and_filter())),
            closed
        );
        assert_eq!(named(filtered(), &timed_out(Vec::new())), filtered());
        // Neighbour discovery unanswered: a drop on the way in takes its replies too.
        let unreachable = Finding::new(Cause::HostUnreachable, "nobody has it");
        let xdp = Dropper {
            what: DropperKind::Xdp,
            name: "generic".into(),
            direction: Some(Direction::Ingress),
            program: Some(9),
            dropped: None,
            remove: "ip link set dev eth0 xdpgeneric off".into(),
            ..clsact_and_filter().remove(0)
        };
        let finding = named(unreachable, &timed_out(vec![xdp]));
        assert!(
            finding
                .summary
                .contains("the XDP program 9 (generic mode) on eth0")
        );
        assert!(finding.warnings[0].contains("counts its drops nowhere"));
        assert!(finding.suggestions[0].contains("`sudo ip link set dev eth0 xdpgeneric off`"));
    }
}
