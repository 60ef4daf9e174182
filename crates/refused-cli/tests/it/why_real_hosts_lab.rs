//! `refused why --json` against rules as real hosts have them, where the first reading of the
//! rules gave a wrong answer: a rate limit on the server that drops more than new connections,
//! a DNAT to a port alone, and an iptables-legacy rule whose value reads `-j`. A host of the
//! lab's own plays a container of the client's host, so its rules are read. Ports 42200-42299
//! are this file's.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use refused_lab::{Lab, ListenSpec, Netns, SERVER_V4};
use serde_json::Value;

use crate::why_lab::{first_evidence, why, why_alone};

/// A host of the lab linked to the client alone, at an address of its own (made of this
/// process's id: the lab's server address is held by every lab running at the time, and a
/// namespace is read only when it is the one that holds the address).
pub(crate) fn own_host(lab: &Lab) -> (Netns, Ipv4Addr) {
    let pid = std::process::id();
    let (high, low) = ((pid >> 8) as u8, (pid & 0xff) as u8);
    let (own, gateway) = (
        Ipv4Addr::new(10, 213, high, low),
        Ipv4Addr::new(10, 214, high, low),
    );
    let host = lab.another('r').unwrap();
    lab.client.veth("r0", &host, "eth0").unwrap();
    lab.client
        .ip(&["addr", "add", &format!("{gateway}/32"), "dev", "r0"])
        .unwrap();
    lab.client.ip(&["link", "set", "r0", "up"]).unwrap();
    lab.client
        .ip(&[
            "route",
            "add",
            &format!("{own}/32"),
            "dev",
            "r0",
            "src",
            &gateway.to_string(),
        ])
        .unwrap();
    host.ip(&["addr", "add", &format!("{own}/32"), "dev", "eth0"])
        .unwrap();
    host.ip(&["link", "set", "eth0", "up"]).unwrap();
    host.ip(&["route", "add", &format!("{gateway}/32"), "dev", "eth0"])
        .unwrap();
    (host, own)
}

fn listen_in(host: &Netns, ip: Ipv4Addr, port: u16) -> TcpListener {
    host.run(|| ListenSpec::new(SocketAddr::from((ip, port))).listen())
        .unwrap()
        .unwrap()
}

/// `iptables` arguments written as one line.
fn words(line: &str) -> Vec<&str> {
    line.split(' ').collect()
}

fn suggestions(report: &Value) -> String {
    let all: Vec<&str> = report["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    all.join("\n")
}

/// A rate limit without `--ctstate NEW` on the server (iptables' hashlimit, nft's `limit rate
/// over`): the first SYN gets through on the burst, every packet after it is dropped, so the
/// connect succeeds and the check's second connection gets no answer. It read as a port proxy
/// whose backend is down (`not-ready`); it is the server's rule, named with its fix. One per
/// minute: nothing refills the burst while the test runs.
#[test]
fn a_rate_limit_that_drops_made_connections_is_named_not_a_dead_backend() {
    let Some(lab) =
        Lab::or_skip("a_rate_limit_that_drops_made_connections_is_named_not_a_dead_backend")
    else {
        return;
    };
    let (host, ip) = own_host(&lab);
    let _open = [42201, 42203, 42204].map(|port| listen_in(&host, ip, port));
    let s = &host;
    s.iptables(&words("-A INPUT -p tcp --dport 42201 -m hashlimit --hashlimit-above 1/min --hashlimit-burst 1 --hashlimit-mode srcip --hashlimit-name c5 -j DROP"))
    .unwrap();
    s.iptables(&words("-A INPUT -p tcp --dport 42203 -m conntrack --ctstate NEW -m hashlimit --hashlimit-above 1/min --hashlimit-burst 1 --hashlimit-mode srcip --hashlimit-name new -j DROP"))
    .unwrap();
    // The plain `-m limit` shape: a limited accept, then a drop of the rest.
    s.iptables(&words(
        "-A INPUT -p tcp --dport 42204 -m limit --limit 1/min --limit-burst 1 -j ACCEPT",
    ))
    .unwrap();
    s.iptables(&words("-A INPUT -p tcp --dport 42204 -j DROP"))
        .unwrap();
    let netns = s.name();

    let report = why(&lab, &["--timeout", "2s", &format!("{ip}:42201")]);
    assert_eq!(report["attempts"][0]["outcome"], "connected", "{report}");
    assert_eq!(report["cause"], "blocked-locally", "{report}");
    let rule = first_evidence(&report, "firewall-rule");
    // nft's listing of iptables-nft's hashlimit (its `timeout` is the table's expiry).
    let text = rule["rule"].as_str().unwrap();
    assert!(
        text.starts_with("tcp dport 42201 meter c5 { ip saddr ")
            && text.ends_with("limit rate over 1/minute burst 1 packets } drop"),
        "{report}"
    );
    assert_eq!(
        (&rule["table"], &rule["chain"]),
        (&"ip filter".into(), &"INPUT".into())
    );
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!(
            "a rate limit of network namespace {netns}'s firewall"
        )) && summary.contains("those of connections already made included"),
        "{report}"
    );
    let fixes = suggestions(&report);
    assert!(
        fixes.contains(&format!(
            "`ip netns exec {netns} iptables -I INPUT 1 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`"
        )) && !fixes.contains("backend"),
        "{fixes}"
    );

    let report = why(&lab, &["--timeout", "2s", &format!("{ip}:42204")]);
    assert_eq!(report["cause"], "blocked-locally", "{report}");
    assert_eq!(
        first_evidence(&report, "firewall-rule")["rule"],
        "tcp dport 42204 drop",
        "{report}"
    );
    assert!(
        suggestions(&report).contains("--ctstate ESTABLISHED,RELATED -j ACCEPT"),
        "{report}"
    );

    // Limited to new connections: the check's second connection was over the rate, and the
    // rule is named as a limit that works as meant.
    let report = why(&lab, &["--timeout", "2s", &format!("{ip}:42203")]);
    assert_eq!(report["cause"], "blocked-locally", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("drops new connections over its rate"),
        "{report}"
    );
}

/// nft's `limit rate over` without `ct state new`: the same, named with nft's fix.
#[test]
fn an_nft_limit_over_that_drops_made_connections_is_named_with_its_fix() {
    let Some(lab) =
        Lab::or_skip("an_nft_limit_over_that_drops_made_connections_is_named_with_its_fix")
    else {
        return;
    };
    let (host, ip) = own_host(&lab);
    let _open = listen_in(&host, ip, 42202);
    let s = &host;
    s.nft(
        "table inet limits {
            chain input { type filter hook input priority 10; policy accept;
                tcp dport 42202 limit rate over 1/minute burst 1 packets drop
            }
        }",
    )
    .unwrap();
    let netns = s.name();

    let report = why(&lab, &["--timeout", "2s", &format!("{ip}:42202")]);
    assert_eq!(report["cause"], "blocked-locally", "{report}");
    let rule = first_evidence(&report, "firewall-rule");
    let text = "tcp dport 42202 limit rate over 1/minute burst 1 packets drop";
    assert_eq!(rule["rule"], text, "{report}");
    let handle = rule["handle"].as_u64().unwrap();
    let fixes = suggestions(&report);
    assert!(
        fixes.contains(&format!(
            "`ip netns exec {netns} nft replace rule inet limits input handle {handle} ct state new {text}`"
        )),
        "{fixes}"
    );
}

/// iptables' `--to-destination :PORT` (nft lists `dnat to :PORT`): the packet keeps its
/// address and goes to that port. It read as a translation we cannot follow, and the refusal
/// was blamed on a listener that started after the attempt.
#[test]
fn a_dnat_to_a_port_alone_is_followed_to_that_port() {
    let Some(lab) = Lab::or_skip("a_dnat_to_a_port_alone_is_followed_to_that_port") else {
        return;
    };
    let (host, ip) = own_host(&lab);
    let _open = [42210, 42212].map(|port| listen_in(&host, ip, port));
    lab.client
        .iptables(&[
            "-t",
            "nat",
            "-A",
            "OUTPUT",
            "-p",
            "tcp",
            "-d",
            &ip.to_string(),
            "--dport",
            "42210",
            "-j",
            "DNAT",
            "--to-destination",
            ":42211",
        ])
        .unwrap();
    let report = why(&lab, &["--timeout", "2s", &format!("{ip}:42210")]);
    assert_eq!(report["attempts"][0]["outcome"], "refused", "{report}");
    let dnat = first_evidence(&report, "dnat");
    assert_eq!(
        dnat["to"],
        serde_json::json!({"type": "same-address", "port": 42211}),
        "{report}"
    );
    assert_eq!(report["cause"], "wrong-port", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains(&format!("is published to {ip}:42211")),
        "{report}"
    );
}

/// An iptables-legacy rule whose string match's value reads `-j` (iptables-save quotes it):
/// the value was taken for the target (`--algo`), the rule for one that may do anything, and
/// the silence blamed on some firewall. It is the rule, named.
#[test]
fn a_legacy_rule_whose_value_reads_dash_j_is_named() {
    let Some(lab) = Lab::or_skip("a_legacy_rule_whose_value_reads_dash_j_is_named") else {
        return;
    };
    let _open = lab
        .server
        .run(|| ListenSpec::new(SocketAddr::from((SERVER_V4, 42220))).listen())
        .unwrap()
        .unwrap();
    let rule = "-A OUTPUT -p tcp -m tcp --dport 42220 -m string ! --string -j --algo bm -j DROP";
    lab.client.exec("iptables-legacy", &words(rule)).unwrap();
    let report = why_alone(&lab, &["--timeout", "1s", &format!("{SERVER_V4}:42220")]);
    assert_eq!(report["attempts"][0]["outcome"], "timeout", "{report}");
    assert_eq!(report["cause"], "blocked-locally", "{report}");
    let named = first_evidence(&report, "firewall-rule");
    assert_eq!(
        named["rule"],
        r#"-A OUTPUT -p tcp -m tcp --dport 42220 -m string ! --string "-j" --algo bm -j DROP"#,
        "{report}"
    );
    assert_eq!(named["tool"], "iptables-legacy", "{report}");
}

/// C8: a reject with a reset on the server, whose reset the server's own egress allow-list
/// (OUTPUT policy drop, only port 22 let out) drops: the client sees a timeout, which was blamed
/// on some firewall or the path. Both rules are named, and the fix that lets the reset out
/// makes it a refusal.
#[test]
fn a_reset_dropped_by_the_servers_egress_rules_is_named() {
    let Some(lab) = Lab::or_skip("a_reset_dropped_by_the_servers_egress_rules_is_named") else {
        return;
    };
    let (host, ip) = own_host(&lab);
    let _open = listen_in(&host, ip, 42230);
    host.iptables(&words(
        "-A INPUT -p tcp --dport 42230 -j REJECT --reject-with tcp-reset",
    ))
    .unwrap();
    host.iptables(&words("-P OUTPUT DROP")).unwrap();
    host.iptables(&words("-A OUTPUT -p tcp --sport 22 -j ACCEPT"))
        .unwrap();
    let target = format!("{ip}:42230");
    let report = why(&lab, &["--timeout", "2s", &target]);
    assert_eq!(report["attempts"][0]["outcome"], "timeout", "{report}");
    assert_eq!(report["cause"], "blocked-locally", "{report}");
    assert!(
        report["summary"].as_str().unwrap().contains(
            "rejects it with a reset, `tcp dport 42230 reject with tcp reset` (table `ip filter`, chain `INPUT`), and its output rules drop that reset, `policy drop` (table `ip filter`, chain `OUTPUT`)"
        ),
        "{report}"
    );
    let netns = host.name();
    let fix = format!(
        "ip netns exec {netns} iptables -I OUTPUT 1 -m conntrack --ctstate RELATED -j ACCEPT"
    );
    assert!(
        suggestions(&report).contains(&format!("`{fix}`")),
        "{report}"
    );
    // The fix it gives: the reset gets out, the client is refused at once.
    host.iptables(&words(fix.split_once(" iptables ").unwrap().1))
        .unwrap();
    let report = why(&lab, &["--timeout", "2s", &target]);
    assert_eq!(report["attempts"][0]["outcome"], "refused", "{report}");
}
