//! Rule tests of a full conntrack table (`conntrack`): the timeouts its drops explain, and
//! those they do not (audit h31).

use super::*;
use crate::sys::conntrack::ConntrackDrops;

fn drops(dropped: u64, count: u64) -> ConntrackDrops {
    ConntrackDrops {
        dropped,
        early_dropped: 0,
        count,
        max: 40,
    }
}

/// The finding for a timeout to `addr` with conntrack's `drops` read around it, and a listener
/// of this host on it when it is loopback.
fn timed_out(addr: &str, drops: Option<ConntrackDrops>) -> Finding {
    let f = Facts {
        conntrack: drops,
        listeners: Some(vec![listening("127.0.0.1:7002", "python3")]),
        ..one(addr, tried(addr, Outcome::Timeout, 2400))
    };
    infer(&f).unwrap()
}

#[test]
fn a_full_table_that_dropped_packets_blocks_a_timeout_locally() {
    for addr in ["10.131.0.2:7001", "127.0.0.1:7002"] {
        let finding = timed_out(addr, Some(drops(6, 40)));
        assert_eq!(finding.cause, Cause::BlockedLocally, "{finding:?}");
        assert!(
            finding.summary.contains("table is full (40 of 40 entries)"),
            "{finding:?}"
        );
        assert!(finding.evidence.contains(&Evidence::ConntrackTable {
            count: 40,
            max: 40,
            dropped: 6,
            netns: None,
        }));
        assert!(
            finding.suggestions[0].contains("conntrack -L")
                && finding.suggestions[1].contains("nf_conntrack_max=80"),
            "{finding:?}"
        );
    }
}

#[test]
fn a_table_not_full_or_that_dropped_nothing_explains_nothing() {
    for drops in [Some(drops(0, 40)), Some(drops(6, 20)), None] {
        let finding = timed_out("10.131.0.2:7001", drops);
        assert_eq!(finding.cause, Cause::Filtered, "{finding:?}");
        assert!(
            !finding
                .evidence
                .iter()
                .any(|e| matches!(e, Evidence::ConntrackTable { .. })),
            "{finding:?}"
        );
    }
}

#[test]
fn a_refusal_is_not_put_on_the_table() {
    let f = Facts {
        conntrack: Some(drops(6, 40)),
        ..one(
            "10.131.0.2:7001",
            tried("10.131.0.2:7001", Outcome::Refused, 1),
        )
    };
    assert_eq!(infer(&f).unwrap().cause, Cause::Closed);
}

#[test]
fn a_full_table_in_the_namespace_that_holds_the_address_is_named_there() {
    let mut address = tried("10.77.2.2:1100", Outcome::Timeout, 2400);
    let mut holder = held_by("gw", 1100);
    holder.conntrack = Some(drops(8, 40));
    address.holder = Some(holder.clone());
    let finding = infer(&one("10.77.2.2:1100", address.clone())).unwrap();
    assert_eq!(finding.cause, Cause::BlockedLocally, "{finding:?}");
    assert!(
        finding
            .summary
            .contains("that namespace's connection tracking table is full (40 of 40 entries)"),
        "{finding:?}"
    );
    assert!(finding.evidence.contains(&Evidence::ConntrackTable {
        count: 40,
        max: 40,
        dropped: 8,
        netns: Some(Namespace::Named("gw".to_owned())),
    }));
    assert!(
        finding.suggestions[0].contains("ip netns exec gw conntrack -L"),
        "{finding:?}"
    );
    // Not full there, or never dropped anything: not its table.
    for table in [drops(8, 20), drops(0, 40)] {
        holder.conntrack = Some(table);
        address.holder = Some(holder.clone());
        let finding = infer(&one("10.77.2.2:1100", address.clone())).unwrap();
        assert!(
            !finding.summary.contains("connection tracking"),
            "{finding:?}"
        );
    }
}
