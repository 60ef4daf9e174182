//! The firewall's evaluation on a kube-proxy-sized iptables-legacy ruleset (5,000 services:
//! about 20,000 rules in 5,000 chains): reading `iptables-legacy-save`'s text into a ruleset
//! (it is kept as text), indexing it (its chains, each rule a line), and the walks `why` makes
//! for one address (the DNAT of nat output, filter output), which translate the rules they meet
//! (up to a match that fails) and keep those that may match. A Kubernetes node whose iptables is
//! the legacy one holds such tables.
//!
//! Run: `cargo bench -p refused --bench firewall`

use refused::internals::firewall::{self, Hook, Indexed, NatHook, Packet, Tool, legacy};
use serde_json::Value;

fn main() {
    divan::main();
}

const SERVICES: usize = 5_000;

/// What kube-proxy's iptables mode writes for `SERVICES` cluster IP services of two endpoints
/// each, and the filter table's KUBE-FIREWALL.
fn kube_proxy_save() -> String {
    let mut lines = vec![
        "*nat".to_owned(),
        ":PREROUTING ACCEPT [0:0]".to_owned(),
        ":INPUT ACCEPT [0:0]".to_owned(),
        ":OUTPUT ACCEPT [0:0]".to_owned(),
        ":POSTROUTING ACCEPT [0:0]".to_owned(),
        ":KUBE-SERVICES - [0:0]".to_owned(),
    ];
    lines.extend((0..SERVICES).map(|i| format!(":KUBE-SVC-{i:08X} - [0:0]")));
    for hook in ["PREROUTING", "OUTPUT"] {
        lines.push(format!(
            "-A {hook} -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES"
        ));
    }
    for i in 0..SERVICES {
        let (hi, lo) = (i / 250, i % 250 + 1);
        lines.push(format!(
            "-A KUBE-SERVICES -d 10.96.{hi}.{lo}/32 -p tcp -m comment --comment \"ns/svc{i}:http cluster IP\" -m tcp --dport 80 -j KUBE-SVC-{i:08X}"
        ));
    }
    for i in 0..SERVICES {
        let (hi, lo) = (i / 250, i % 250 + 1);
        lines.push(format!(
            "-A KUBE-SVC-{i:08X} -m comment --comment \"ns/svc{i}:http\" -m statistic --mode random --probability 0.5 -j DNAT --to-destination 10.244.{hi}.{lo}:8080"
        ));
        lines.push(format!(
            "-A KUBE-SVC-{i:08X} -m comment --comment \"ns/svc{i}:http\" -j DNAT --to-destination 10.244.{hi}.{}:8080",
            lo + 1
        ));
    }
    lines.push("COMMIT".to_owned());
    lines.extend(
        [
            "*filter",
            ":INPUT ACCEPT [0:0]",
            ":FORWARD DROP [0:0]",
            ":OUTPUT ACCEPT [0:0]",
            ":KUBE-FIREWALL - [0:0]",
            "-A INPUT -j KUBE-FIREWALL",
            "-A OUTPUT -j KUBE-FIREWALL",
            "-A KUBE-FIREWALL -m mark --mark 0x8000/0x8000 -j DROP",
            "COMMIT",
        ]
        .map(str::to_owned),
    );
    lines.join("\n") + "\n"
}

fn ruleset(save: &str) -> Value {
    let legacy = legacy::translate(save, "ip", Tool::IptablesLegacy);
    firewall::with_legacy(Value::Null, vec![legacy])
}

/// A SYN to the last service's cluster IP: the walk passes every KUBE-SERVICES rule.
fn to_the_last_service() -> Packet {
    let i = SERVICES - 1;
    let dst = format!("10.96.{}.{}", i / 250, i % 250 + 1);
    Packet {
        dst_local: Some(false),
        ..Packet::outgoing(
            Some("10.0.0.1".parse().expect("an address")),
            dst.parse().expect("an address"),
            80,
        )
    }
}

#[divan::bench(sample_count = 20)]
fn translate(bencher: divan::Bencher) {
    let save = kube_proxy_save();
    bencher.bench_local(|| ruleset(&save));
}

#[divan::bench(sample_count = 20)]
fn index(bencher: divan::Bencher) {
    let ruleset = ruleset(&kube_proxy_save());
    bencher.bench_local(|| Indexed::new(&ruleset));
}

/// What `why` asks of the rules for one remote address: the DNAT of nat output, then filter
/// output (with the translated packet), prerouting and input (the reply), on one index.
#[divan::bench(sample_count = 20)]
fn walks_of_one_address(bencher: divan::Bencher) {
    let ruleset = ruleset(&kube_proxy_save());
    let indexed = Indexed::new(&ruleset);
    let packet = to_the_last_service();
    bencher.bench_local(|| {
        let dnat = indexed.dnat(NatHook::Output, &packet);
        let out = indexed.blockers(Hook::Output, &packet, &packet);
        let reply = packet.reply().expect("a reply");
        let early = indexed.blockers(Hook::Prerouting, &reply, &reply);
        let back = indexed.blockers(Hook::Input, &reply, &reply);
        (dnat, out, early, back)
    });
}
