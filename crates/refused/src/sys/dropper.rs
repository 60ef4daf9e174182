//! What may drop packets on an interface of this host outside the firewall's tables: a `tc`
//! qdisc that counted drops (a `clsact` one's filters with `action drop` or an eBPF program
//! that answers `TC_ACT_SHOT`, a `netem loss`, a policer, a full queue), the filters under it,
//! and an XDP program, which sees every packet that comes in before anything else does.
//!
//! Read after a timeout alone, for the interface the route uses, as `tc -s -j qdisc show` and
//! `tc -j filter show` (and `ip -j link show` for XDP) print it: a few milliseconds, and no
//! root needed (the kernel dumps qdiscs, filters and a link's XDP program to anyone). A qdisc's
//! drop counter covers every packet since it was added, of every flow: it says this host drops
//! packets there, not that ours were among them, so what is read here is a candidate.

use std::process::Command;

use serde::Serialize;
use serde_json::Value;

/// What it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DropperKind {
    /// A `tc` qdisc that counted drops.
    Qdisc,
    /// A `tc` filter under a `clsact` (or `ingress`) qdisc that counted drops.
    Filter,
    /// An XDP program attached to the interface.
    Xdp,
}

/// The way through the interface it works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Packets coming in (the server's replies).
    Ingress,
    /// Packets going out (our SYN).
    Egress,
}

impl Direction {
    /// tc's word for it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ingress => "ingress",
            Self::Egress => "egress",
        }
    }
}

/// One thing on an interface that may drop the packets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dropper {
    /// The interface (`eth0`).
    pub device: String,
    /// What it is.
    pub what: DropperKind,
    /// Its kind as `tc` names it (`clsact`, `netem`, `tbf`; a filter's `bpf`, `u32`), or an
    /// XDP program's mode (`native`, `generic`, `offload`).
    pub name: String,
    /// The way it works on: `None` for a `clsact` qdisc, which holds both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// A filter's preference, by which `tc filter del` names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pref: Option<u32>,
    /// The eBPF program's id (`bpftool prog show id N`), for an XDP program or a `bpf` filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub program: Option<u64>,
    /// A qdisc's drop counter since it was added (its filters' drops, for `clsact`); none for
    /// a filter or an XDP program, which keep none of their own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped: Option<u64>,
    /// The command that removes it.
    pub remove: String,
}

/// What may drop packets on `device`: its qdiscs that counted drops, the filters of a
/// `clsact` or `ingress` one among them, and its XDP program. Empty when `tc` and `ip` are
/// missing or fail: nothing is guessed.
pub fn on(device: &str) -> Vec<Dropper> {
    let mut found = Vec::new();
    if let Some(qdiscs) = json("tc", &["-s", "-j", "qdisc", "show", "dev", device]) {
        found = qdiscs_of(device, &qdiscs);
        let classifying: Vec<&str> = found
            .iter()
            .filter(|d| is_classifying(&d.name))
            .map(|d| d.name.as_str())
            .collect();
        let mut filters = Vec::new();
        for direction in directions(&classifying) {
            let listed = json(
                "tc",
                &["-j", "filter", "show", "dev", device, direction.as_str()],
            );
            if let Some(listed) = listed {
                filters.extend(filters_of(device, direction, &listed));
            }
        }
        found.extend(filters);
    }
    if let Some(link) = json("ip", &["-j", "link", "show", "dev", device]) {
        found.extend(xdp_of(device, &link));
    }
    found
}

/// The qdiscs whose filters decide the packets' fate before any queue: `clsact` (both ways)
/// and the older `ingress`.
fn is_classifying(kind: &str) -> bool {
    matches!(kind, "clsact" | "ingress")
}

/// The ways through the interface that the classifying qdiscs `kinds` hold filters for.
fn directions(kinds: &[&str]) -> Vec<Direction> {
    if kinds.contains(&"clsact") {
        vec![Direction::Ingress, Direction::Egress]
    } else if kinds.contains(&"ingress") {
        vec![Direction::Ingress]
    } else {
        Vec::new()
    }
}

fn json(program: &str, args: &[&str]) -> Option<Value> {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| serde_json::from_slice(&out.stdout).ok())
}

/// The qdiscs whose drops are chosen, not a queue's overflow: a `clsact` or `ingress` one's
/// are its filters' verdicts, a `netem`'s its configured loss.
fn drops_on_purpose(kind: &str) -> bool {
    matches!(kind, "clsact" | "ingress" | "netem")
}

/// The qdiscs of `tc -s -j qdisc show dev DEVICE` that drop on purpose and counted drops, and
/// the others that dropped at least as many packets as they sent (a shaper with a bucket
/// smaller than a packet, a queue of no length). A busy link's `fq_codel` or `pfifo_fast`
/// drops a few packets in every burst: naming it at every timeout would send the person after
/// a queue that works.
pub fn qdiscs_of(device: &str, listed: &Value) -> Vec<Dropper> {
    let mut found = Vec::new();
    for qdisc in listed.as_array().into_iter().flatten() {
        let (Some(kind), Some(dropped)) = (qdisc["kind"].as_str(), qdisc["drops"].as_u64()) else {
            continue;
        };
        let sent = qdisc["packets"].as_u64().unwrap_or(u64::MAX);
        if dropped == 0 || !(drops_on_purpose(kind) || dropped >= sent) {
            continue;
        }
        let root = qdisc["root"].as_bool() == Some(true);
        let (direction, remove) = match kind {
            "clsact" | "ingress" => (
                (kind == "ingress").then_some(Direction::Ingress),
                format!("tc qdisc del dev {device} {kind}"),
            ),
            _ if root => (
                Some(Direction::Egress),
                format!("tc qdisc del dev {device} root"),
            ),
            _ => {
                let handle = qdisc["handle"].as_str().unwrap_or_default();
                let parent = qdisc["parent"].as_str().unwrap_or_default();
                (
                    Some(Direction::Egress),
                    format!("tc qdisc del dev {device} parent {parent} handle {handle}"),
                )
            }
        };
        found.push(Dropper {
            device: device.to_owned(),
            what: DropperKind::Qdisc,
            name: kind.to_owned(),
            direction,
            pref: None,
            program: None,
            dropped: Some(dropped),
            remove,
        });
    }
    found
}

/// The filters of `tc -j filter show dev DEVICE ingress|egress`, one each (tc lists a filter
/// twice: its chain's head, then with its options).
pub fn filters_of(device: &str, direction: Direction, listed: &Value) -> Vec<Dropper> {
    let mut found: Vec<Dropper> = Vec::new();
    for filter in listed.as_array().into_iter().flatten() {
        let (Some(kind), Some(pref)) = (filter["kind"].as_str(), filter["pref"].as_u64()) else {
            continue;
        };
        let Ok(pref) = u32::try_from(pref) else {
            continue;
        };
        let program = filter["options"]["prog"]["id"].as_u64();
        if let Some(same) = found
            .iter_mut()
            .find(|f| f.pref == Some(pref) && f.name == kind)
        {
            same.program = same.program.or(program);
            continue;
        }
        found.push(Dropper {
            device: device.to_owned(),
            what: DropperKind::Filter,
            name: kind.to_owned(),
            direction: Some(direction),
            pref: Some(pref),
            program,
            dropped: None,
            remove: format!(
                "tc filter del dev {device} {} pref {pref}",
                direction.as_str()
            ),
        });
    }
    found
}

/// The XDP program of `ip -j link show dev DEVICE`: its mode (`xdp.mode`: 1 native, 2 generic,
/// 3 offload, as the kernel's `XDP_ATTACHED_*`) and id.
pub fn xdp_of(device: &str, listed: &Value) -> Option<Dropper> {
    let link = listed.as_array()?.first()?;
    let xdp = link.get("xdp")?;
    let (name, word) = match xdp["mode"].as_u64()? {
        1 => ("native", "xdpdrv"),
        2 => ("generic", "xdpgeneric"),
        3 => ("offload", "xdpoffload"),
        // Several at once (4): `xdp off` of each mode; name the generic one's.
        _ => ("multiple", "xdp"),
    };
    let program = xdp["prog"]["id"].as_u64().or_else(|| {
        xdp["attached"]
            .as_array()?
            .iter()
            .find_map(|one| one["prog"]["id"].as_u64())
    });
    Some(Dropper {
        device: device.to_owned(),
        what: DropperKind::Xdp,
        name: name.to_owned(),
        direction: Some(Direction::Ingress),
        pref: None,
        program,
        dropped: None,
        remove: format!("ip link set dev {device} {word} off"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // As `tc` and `ip` of iproute2 6.1 printed them for a veth with a `clsact` qdisc whose
    // ingress `bpf` filter drops everything, and a generic XDP program.
    const QDISCS: &str = r#"[{"kind":"noqueue","handle":"0:","root":true,"refcnt":2,"options":{},"bytes":0,"packets":0,"drops":0,"overlimits":0,"requeues":0,"backlog":0,"qlen":0},{"kind":"clsact","handle":"ffff:","parent":"ffff:fff1","options":{},"bytes":240,"packets":4,"drops":4,"overlimits":0,"requeues":0,"backlog":0,"qlen":0}]"#;
    const FILTERS: &str = r#"[{"protocol":"all","pref":49152,"kind":"bpf","chain":0},{"protocol":"all","pref":49152,"kind":"bpf","chain":0,"options":{"handle":"0x1","bpf_name":"p:[*fsobj]","direct-action":true,"not_in_hw":true,"prog":{"id":1015,"name":"","tag":"614b434cd8324ecc","jited":1}}}]"#;
    const LINK: &str = r#"[{"ifindex":2,"link_index":2,"ifname":"h30c0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"xdp":{"mode":2,"prog":{"id":1016,"name":"","tag":"b11459a0e11ca14c","jited":1},"attached":[{"mode":2,"prog":{"id":1016,"name":"","tag":"b11459a0e11ca14c","jited":1}}]},"qdisc":"noqueue","operstate":"UP"}]"#;

    fn parsed(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn a_qdisc_that_counted_drops_is_named_with_its_removal() {
        let found = qdiscs_of("eth0", &parsed(QDISCS));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].name, "clsact");
        assert_eq!(found[0].dropped, Some(4));
        assert_eq!(found[0].direction, None);
        assert_eq!(found[0].remove, "tc qdisc del dev eth0 clsact");
        // A root qdisc (a `netem loss`, a shaper) that dropped: its own removal.
        let netem = parsed(
            r#"[{"kind":"netem","handle":"8001:","root":true,"options":{"limit":1000,"loss-random":{"loss":1}},"packets":900,"drops":12}]"#,
        );
        let found = qdiscs_of("eth0", &netem);
        assert_eq!(found[0].remove, "tc qdisc del dev eth0 root");
        assert_eq!(found[0].direction, Some(Direction::Egress));
        // Nothing dropped: nothing named.
        assert!(
            qdiscs_of(
                "eth0",
                &parsed(r#"[{"kind":"tbf","root":true,"packets":0,"drops":0}]"#)
            )
            .is_empty()
        );
        // A busy link's queue that overflowed now and then: not named. One that sends nothing
        // it is given (a bucket smaller than a packet): named, under `mq` by its handle.
        let queues = parsed(
            r#"[{"kind":"mq","handle":"0:","root":true,"packets":52000,"drops":12},{"kind":"fq_codel","handle":"0:","parent":":1","packets":52000,"drops":12},{"kind":"tbf","handle":"8002:","parent":":2","packets":0,"drops":3}]"#,
        );
        let found = qdiscs_of("eth0", &queues);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].name, "tbf");
        assert_eq!(
            found[0].remove,
            "tc qdisc del dev eth0 parent :2 handle 8002:"
        );
        assert!(qdiscs_of("eth0", &parsed("{}")).is_empty());
    }

    #[test]
    fn a_filter_listed_twice_is_one_with_its_program() {
        let found = filters_of("eth0", Direction::Ingress, &parsed(FILTERS));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].pref, Some(49152));
        assert_eq!(found[0].program, Some(1015));
        assert_eq!(found[0].remove, "tc filter del dev eth0 ingress pref 49152");
        assert_eq!(directions(&["clsact"]).len(), 2);
        assert_eq!(directions(&["ingress"]), [Direction::Ingress]);
        assert!(directions(&["netem"]).is_empty());
    }

    #[test]
    fn an_xdp_program_is_named_with_its_mode() {
        let found = xdp_of("h30c0", &parsed(LINK)).unwrap();
        assert_eq!(found.name, "generic");
        assert_eq!(found.program, Some(1016));
        assert_eq!(found.remove, "ip link set dev h30c0 xdpgeneric off");
        let none = r#"[{"ifindex":2,"ifname":"eth0","qdisc":"noqueue"}]"#;
        assert!(xdp_of("eth0", &parsed(none)).is_none());
    }
}
