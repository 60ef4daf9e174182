//! `refused why --json` where this host's connection tracking stops the packets: a full
//! conntrack table (`nf_conntrack: table full, dropping packet`, the busy NAT gateway's and
//! Kubernetes node's classic) drops the first packet of every new connection before any rule
//! sees it. Ports 43100-43199 are this file's.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use refused_lab::{Lab, ListenSpec, SERVER_V4, Tool};

use crate::why_lab::{cause, first_evidence, suggests, why};

const CONNTRACK_MAX: &str = "/proc/sys/net/netfilter/nf_conntrack_max";

/// The host's `nf_conntrack_max`, set low for a test and put back when dropped, panic or not.
/// On current kernels it is the first namespace's alone (read-only in the others) and bounds
/// every namespace's own table: the test that sets it runs alone (`.config/nextest.toml`), and
/// for a few seconds.
struct LowConntrackMax {
    was: String,
}

impl LowConntrackMax {
    fn set(max: u32) -> Self {
        let was = std::fs::read_to_string(CONNTRACK_MAX)
            .unwrap_or_else(|err| panic!("{CONNTRACK_MAX}: {err}"));
        std::fs::write(CONNTRACK_MAX, max.to_string()).unwrap();
        Self { was }
    }
}

impl Drop for LowConntrackMax {
    fn drop(&mut self) {
        if let Err(err) = std::fs::write(CONNTRACK_MAX, self.was.trim()) {
            eprintln!(
                "could not put back {CONNTRACK_MAX} ({}): {err}",
                self.was.trim()
            );
        }
    }
}

/// The client's table filled with established ("assured") connections to the server, which
/// conntrack may not evict for a new one (it evicts unassured ones, and drops the packet when
/// there are none): every new connection's SYN is dropped, going out to the server as over the
/// client's own loopback. It read as `filtered`, "a firewall of this host or of that namespace
/// drops it", and on loopback as a `tc` filter or an eBPF program; it is `blocked-locally`,
/// proved by conntrack's own counters, with who holds the entries and the limit to raise.
#[test]
fn a_full_conntrack_table_is_blocked_locally() {
    let test = "a_full_conntrack_table_is_blocked_locally";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Nft]) else {
        return;
    };
    // A rule that asks for conntrack makes it track this namespace (the usual first line of a
    // ruleset).
    lab.client
        .filter("input", &["ct state established,related accept"])
        .unwrap();
    let filled = lab
        .server
        .run(|| {
            ListenSpec::new(SocketAddr::from((SERVER_V4, 43100)))
                .backlog(512)
                .listen()
        })
        .unwrap()
        .unwrap();
    let _target = lab
        .server
        .run(|| ListenSpec::new(SocketAddr::from((SERVER_V4, 43101))).listen())
        .unwrap()
        .unwrap();
    let _own = lab
        .client
        .run(|| ListenSpec::new("127.0.0.1:43102".parse().unwrap()).listen())
        .unwrap()
        .unwrap();
    let max = LowConntrackMax::set(64);
    // Filled until a connect gets no answer: bounded, and quick (each connect is a round trip
    // on a veth; the last one waits 300 ms).
    let held = lab
        .client
        .run(|| {
            let to = SocketAddr::from((SERVER_V4, 43100));
            (0..128)
                .map_while(|_| TcpStream::connect_timeout(&to, Duration::from_millis(300)).ok())
                .collect::<Vec<_>>()
        })
        .unwrap();
    assert!(held.len() >= 32, "only {} connections", held.len());
    let reports = [format!("{SERVER_V4}:43101"), "127.0.0.1:43102".to_owned()]
        .map(|target| why(&lab, &["--timeout", "2s", &target]));
    drop(max);
    drop((held, filled));
    for report in reports {
        assert_eq!(cause(&report), "blocked-locally", "{report}");
        assert!(
            report["summary"]
                .as_str()
                .unwrap()
                .contains("connection tracking table is full"),
            "{report}"
        );
        let table = first_evidence(&report, "conntrack-table");
        assert_eq!(table["max"], 64, "{report}");
        assert!(table["count"].as_u64().unwrap() >= 61, "{report}");
        assert!(table["dropped"].as_u64().unwrap() >= 1, "{report}");
        assert!(suggests(&report, "conntrack -L"), "{report}");
        assert!(suggests(&report, "nf_conntrack_max=128"), "{report}");
    }
}

/// The client's own `notrack` for a port on the way out (written for one direction only) with
/// the usual `ct state invalid drop`: conntrack never saw the SYN, so the server's SYN-ACK is
/// invalid, and dropped. It read as `filtered`, "a firewall of this host or of that namespace
/// drops it"; it is `blocked-locally`, the drop named with the `notrack` behind it, and the
/// first fix (untrack the replies too) is checked to work.
#[test]
fn a_reply_left_invalid_by_our_own_notrack_is_blocked_locally() {
    let test = "a_reply_left_invalid_by_our_own_notrack_is_blocked_locally";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Nft]) else {
        return;
    };
    let _listener = lab
        .server
        .run(|| ListenSpec::new(SocketAddr::from((SERVER_V4, 43110))).listen())
        .unwrap()
        .unwrap();
    lab.client
        .nft(
            "table inet raw {
               chain output { type filter hook output priority raw; tcp dport 43110 notrack; }
             }
             table inet filter {
               chain input { type filter hook input priority 0; ct state invalid drop; ct state established,related accept; }
             }",
        )
        .unwrap();
    let target = format!("{SERVER_V4}:43110");
    let report = why(&lab, &["--timeout", "2s", &target]);
    assert_eq!(cause(&report), "blocked-locally", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains("`tcp dport 43110 notrack` (inet raw output)")
            && summary.contains("`ct state invalid drop` (inet filter input)"),
        "{report}"
    );
    let rule = first_evidence(&report, "firewall-rule");
    assert_eq!(rule["stops"], "reply", "{report}");
    assert!(suggests(&report, "tcp sport 43110 notrack"), "{report}");
    assert!(
        suggests(&report, "nft delete rule inet raw output handle"),
        "{report}"
    );
    // The first fix: the replies untracked too, before conntrack.
    lab.client
        .nft(
            "table inet raw {
               chain prerouting { type filter hook prerouting priority raw; tcp sport 43110 notrack; }
             }",
        )
        .unwrap();
    let report = why(&lab, &["--timeout", "2s", &target]);
    assert_eq!(cause(&report), "reachable", "{report}");
}

/// The table full in the namespace that holds the address (a container of this host that
/// tracks its connections, a NAT gateway's namespace), not in ours: the SYN leaves, and is
/// dropped there. It read as `filtered`, "a firewall of this host or of that namespace drops
/// it"; it is named as that namespace's full table, with the commands to run there.
#[test]
fn a_full_conntrack_table_in_the_holders_namespace_is_named_there() {
    let test = "a_full_conntrack_table_in_the_holders_namespace_is_named_there";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Nft]) else {
        return;
    };
    // A host of this test's own address: the lab's server address may be held by other labs.
    let (host, own) = crate::why_real_hosts_lab::own_host(&lab);
    host.filter("input", &["ct state established,related accept"])
        .unwrap();
    let listen = |port: u16| {
        host.run(|| {
            ListenSpec::new(SocketAddr::from((own, port)))
                .backlog(512)
                .listen()
        })
        .unwrap()
        .unwrap()
    };
    let (filled, _target) = (listen(43120), listen(43121));
    let max = LowConntrackMax::set(64);
    let held = lab
        .client
        .run(|| {
            let to = SocketAddr::from((own, 43120));
            (0..128)
                .map_while(|_| TcpStream::connect_timeout(&to, Duration::from_millis(300)).ok())
                .collect::<Vec<_>>()
        })
        .unwrap();
    assert!(held.len() >= 32, "only {} connections", held.len());
    let report = why(&lab, &["--timeout", "2s", &format!("{own}:43121")]);
    drop(max);
    drop((held, filled));
    assert_eq!(cause(&report), "blocked-locally", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("that namespace's connection tracking table is full"),
        "{report}"
    );
    let table = first_evidence(&report, "conntrack-table");
    assert_eq!(table["netns"], host.name(), "{report}");
    assert_eq!(table["max"], 64, "{report}");
    assert!(
        suggests(
            &report,
            &format!("ip netns exec {} conntrack -L", host.name())
        ),
        "{report}"
    );
}

/// The same made by iptables-nft: `-t raw -j NOTRACK` (which nft's JSON shows as a bare `CT`
/// target, and its listing as `notrack`) and `--ctstate INVALID -j DROP`.
#[test]
fn a_reply_left_invalid_by_iptables_notrack_is_blocked_locally() {
    let test = "a_reply_left_invalid_by_iptables_notrack_is_blocked_locally";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Nft, Tool::Iptables]) else {
        return;
    };
    let _listener = lab
        .server
        .run(|| ListenSpec::new(SocketAddr::from((SERVER_V4, 43111))).listen())
        .unwrap()
        .unwrap();
    for rule in [
        "-t raw -A OUTPUT -p tcp --dport 43111 -j NOTRACK",
        "-A INPUT -m conntrack --ctstate INVALID -j DROP",
        "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    ] {
        lab.client
            .iptables(&rule.split(' ').collect::<Vec<_>>())
            .unwrap();
    }
    let report = why(&lab, &["--timeout", "2s", &format!("{SERVER_V4}:43111")]);
    assert_eq!(cause(&report), "blocked-locally", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("(ip raw OUTPUT) leaves the connection"),
        "{report}"
    );
    assert_eq!(
        first_evidence(&report, "firewall-rule")["stops"],
        "reply",
        "{report}"
    );
    assert!(suggests(&report, "iptables -t raw -D OUTPUT 1"), "{report}");
}
