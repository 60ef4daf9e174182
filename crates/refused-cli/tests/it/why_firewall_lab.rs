//! `refused why --json` against firewalls made by the tools people run — iptables (user chains,
//! Docker's chains and DNAT), ip6tables, ufw, iptables-legacy and ufw on it — inside the lab's
//! client namespace. Each case checks the cause and that the evidence names the rule that
//! matched: its chain, the way there, and the handle nft gives it (the position, for a legacy
//! rule). Ports 41000-41999 are this file's.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use refused::internals::firewall::{self, Interface, NatHook, NatTo, Packet};
use refused_lab::{CLIENT_V4, Lab, ListenSpec, SERVER_V4, SERVER_V6, Tool};
use serde_json::Value;

/// This file's hosts are separate machines: the server is a remote host to the client.
use crate::why_lab::{REFUSED, blocked_by, diagnosis, suggests, why_alone as why};

/// The handle nft gives the rule of `table`'s `chain` whose text contains `needle`, as this
/// namespace's `nft -a` lists it: the rule the report must name.
fn handle(lab: &Lab, table: &str, chain: &str, needle: &str) -> u64 {
    let listing = chain_listing(lab, &["-a", "-s"], table, chain);
    let line = listing
        .lines()
        // Rules only, not the table's or chain's own line; `counter` is noise.
        .filter(|l| l.contains("# handle ") && !l.contains('{'))
        .find(|l| l.replace(" counter", "").contains(needle))
        .unwrap_or_else(|| panic!("no `{needle}` in {listing}"));
    line.rsplit_once("# handle ")
        .and_then(|(_, h)| h.trim().parse().ok())
        .unwrap()
}

/// The client's `nft FLAGS list chain TABLE CHAIN`.
fn chain_listing(lab: &Lab, flags: &[&str], table: &str, chain: &str) -> String {
    let mut args = flags.to_vec();
    args.extend(["list", "chain"]);
    args.extend(table.split(' '));
    args.push(chain);
    let output = lab.client.exec("nft", &args).unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A listener on the server for each port: without the client's rules, every one connects.
fn listen_on_server(lab: &Lab, ports: &[u16]) -> Vec<TcpListener> {
    let mut listeners = Vec::new();
    for &port in ports {
        for addr in [
            SocketAddr::from((SERVER_V4, port)),
            SocketAddr::from((SERVER_V6, port)),
        ] {
            listeners.push(
                lab.server
                    .run(|| ListenSpec::new(addr).listen())
                    .unwrap()
                    .unwrap(),
            );
        }
    }
    listeners
}

#[test]
fn iptables_user_chains_reached_from_output_are_blocked_locally() {
    let Some(lab) = Lab::or_skip("iptables_user_chains_reached_from_output_are_blocked_locally")
    else {
        return;
    };
    let _open = listen_on_server(&lab, &[41001, 41002, 41003, 41004]);
    let c = &lab.client;
    c.iptables(&["-N", "APP-OUT"]).unwrap();
    c.iptables(&["-A", "OUTPUT", "-j", "APP-OUT"]).unwrap();
    let rule = |port: &str, target: &[&str]| {
        let mut args = vec!["-A", "APP-OUT", "-p", "tcp", "--dport", port, "-j"];
        args.extend(target);
        c.iptables(&args).unwrap();
    };
    rule("41001", &["DROP"]);
    rule("41002", &["REJECT", "--reject-with", "tcp-reset"]);
    rule("41003", &["REJECT"]);

    let cases = [
        ("41001", "tcp dport 41001 drop", "drop", 1),
        (
            "41002",
            "tcp dport 41002 reject with tcp reset",
            "reject",
            2,
        ),
        ("41003", "tcp dport 41003 reject", "reject", 3),
    ];
    for (port, text, verdict, position) in cases {
        let report = why(&lab, &["--timeout", "1s", &format!("{SERVER_V4}:{port}")]);
        let rule = blocked_by(&report);
        assert_eq!(rule["table"], "ip filter", "{report}");
        assert_eq!(rule["chain"], "APP-OUT", "{report}");
        assert_eq!(rule["path"], serde_json::json!(["OUTPUT", "APP-OUT"]));
        assert_eq!(rule["rule"], text, "{report}");
        assert_eq!(rule["verdict"], verdict);
        assert_eq!(rule["handle"], handle(&lab, "ip filter", "APP-OUT", text));
        assert_eq!(rule["position"], position);
        assert_eq!(rule["tool"], "iptables");
        assert_eq!(rule["certain"], true);
        // The lab runs as root: the command has no `sudo`.
        assert!(
            suggests(&report, &format!("`iptables -D APP-OUT {position}")),
            "{report}"
        );
    }
    // The REJECTs fail at once: the refusal was this host's own, not the server's.
    let report = why(&lab, &[&format!("{SERVER_V4}:41002")]);
    assert_eq!(report["attempts"][0]["outcome"], "refused");
    // A port no rule names connects.
    assert_eq!(
        why(&lab, &[&format!("{SERVER_V4}:41004")])["cause"],
        "reachable"
    );

    // ip6tables: the same shape, in `ip6 filter`.
    c.ip6tables(&["-N", "APP-OUT"]).unwrap();
    c.ip6tables(&["-A", "OUTPUT", "-j", "APP-OUT"]).unwrap();
    let reset = ["REJECT", "--reject-with", "tcp-reset"];
    let mut args = vec!["-A", "APP-OUT", "-p", "tcp", "--dport", "41002", "-j"];
    args.extend(reset);
    c.ip6tables(&args).unwrap();
    let report = why(&lab, &[&format!("[{SERVER_V6}]:41002")]);
    let rule = blocked_by(&report);
    assert_eq!(rule["table"], "ip6 filter", "{report}");
    assert_eq!(rule["chain"], "APP-OUT");
    let text = "tcp dport 41002 reject with tcp reset";
    assert_eq!(rule["handle"], handle(&lab, "ip6 filter", "APP-OUT", text));
    assert!(suggests(&report, "`ip6tables -D APP-OUT 1"), "{report}");
}

#[test]
fn ufw_rules_and_its_default_policy_are_blocked_locally() {
    let Some(lab) = Lab::or_skip("ufw_rules_and_its_default_policy_are_blocked_locally") else {
        return;
    };
    let _open = listen_on_server(&lab, &[41011, 41012, 41013, 41014]);
    let c = &lab.client;
    c.ufw(&["deny", "out", "41011/tcp"]).unwrap();
    c.ufw(&["reject", "out", "41012/tcp"]).unwrap();

    // Two jumps deep: OUTPUT -> ufw-before-output -> ufw-user-output (ufw6-* for IPv6).
    for (target, chain, before) in [
        (
            format!("{SERVER_V4}:41011"),
            "ufw-user-output",
            "ufw-before-output",
        ),
        (
            format!("[{SERVER_V6}]:41011"),
            "ufw6-user-output",
            "ufw6-before-output",
        ),
    ] {
        let report = why(&lab, &["--timeout", "1s", &target]);
        let rule = blocked_by(&report);
        assert_eq!(rule["chain"], chain, "{report}");
        assert_eq!(rule["path"], serde_json::json!(["OUTPUT", before, chain]));
        assert_eq!(rule["tool"], "ufw");
        assert_eq!(rule["verdict"], "drop");
        assert_eq!(rule["certain"], true);
        let table = if chain.starts_with("ufw6") {
            "ip6 filter"
        } else {
            "ip filter"
        };
        assert_eq!(rule["handle"], handle(&lab, table, chain, "dport 41011"));
        assert!(suggests(&report, "`ufw status numbered"), "{report}");
    }
    // `ufw reject out` fails at once with a refusal that ufw made.
    let report = why(&lab, &[&format!("{SERVER_V4}:41012")]);
    assert_eq!(report["attempts"][0]["outcome"], "refused");
    let rule = blocked_by(&report);
    assert_eq!(rule["chain"], "ufw-user-output");
    assert_eq!(rule["verdict"], "reject");
    assert_eq!(
        rule["handle"],
        handle(&lab, "ip filter", "ufw-user-output", "dport 41012")
    );
    assert_eq!(
        why(&lab, &[&format!("{SERVER_V4}:41013")])["cause"],
        "reachable"
    );

    // `ufw default reject outgoing`, with one port allowed: the others are rejected by
    // ufw-reject-output.
    c.ufw(&["allow", "out", "41013/tcp"]).unwrap();
    c.ufw(&["default", "reject", "outgoing"]).unwrap();
    assert_eq!(
        why(&lab, &[&format!("{SERVER_V4}:41013")])["cause"],
        "reachable"
    );
    let report = why(&lab, &[&format!("{SERVER_V4}:41014")]);
    let rule = blocked_by(&report);
    assert_eq!(rule["chain"], "ufw-reject-output", "{report}");
    assert_eq!(rule["verdict"], "reject");
    assert_eq!(rule["certain"], true);
    assert_eq!(
        rule["handle"],
        handle(&lab, "ip filter", "ufw-reject-output", "reject")
    );
    assert!(suggests(&report, "`ufw allow out 41014/tcp"), "{report}");
}

#[test]
fn a_tripped_ufw_limit_is_a_rate_limit_not_a_rule_to_delete() {
    let Some(lab) = Lab::or_skip("a_tripped_ufw_limit_is_a_rate_limit_not_a_rule_to_delete") else {
        return;
    };
    let _open = listen_on_server(&lab, &[41071]);
    let c = &lab.client;
    c.ufw(&["limit", "out", "41071/tcp"]).unwrap();
    let target = SocketAddr::from((SERVER_V4, 41071));
    // ufw counts the new connections from this host: the sixth within 30 s is rejected.
    let first_refused = c
        .run(|| {
            (1..=8).find(|_| TcpStream::connect_timeout(&target, Duration::from_secs(1)).is_err())
        })
        .unwrap();
    assert_eq!(first_refused, Some(6));

    let report = why(&lab, &[&target.to_string()]);
    assert_eq!(report["attempts"][0]["outcome"], "refused", "{report}");
    let rule = blocked_by(&report);
    assert_eq!(rule["chain"], "ufw-user-limit", "{report}");
    assert_eq!(
        rule["path"],
        serde_json::json!([
            "OUTPUT",
            "ufw-before-output",
            "ufw-user-output",
            "ufw-user-limit"
        ])
    );
    assert_eq!(rule["tool"], "ufw");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("ufw's rate limit (`ufw limit out 41071/tcp`)"),
        "{report}"
    );
    assert!(summary.ends_with("and clears by itself"), "{report}");
    assert!(!suggests(&report, "ufw delete"), "{report}");
    // The fix it gives works while the count is still over the limit: `allow` replaces it.
    let allow = "`ufw allow out 41071/tcp` replaces the limit";
    assert!(suggests(&report, allow), "{report}");
    c.ufw(&["allow", "out", "41071/tcp"]).unwrap();
    assert_eq!(why(&lab, &[&target.to_string()])["cause"], "reachable");
}

/// Without root, a reject rule of this host's own in front of another namespace's listener: the
/// rules that would tell whose it is could not be read, and the report says both.
#[test]
fn a_refusal_to_a_namespace_with_this_hosts_rules_unread_blames_neither_alone() {
    let Some(lab) = Lab::or_skip_needing(
        "a_refusal_to_a_namespace_with_this_hosts_rules_unread_blames_neither_alone",
        &[Tool::Iptables, Tool::RedisServer],
    ) else {
        return;
    };
    // A real server in the server namespace, which plays a container of the client's host:
    // without root its process is how that namespace is read.
    let port = "41072";
    lab.server
        .spawn(
            "redis-server",
            &[
                "--port",
                port,
                "--bind",
                "0.0.0.0",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
        )
        .unwrap();
    let target = SocketAddr::from((SERVER_V4, 41072));
    let deadline = Instant::now() + Duration::from_secs(10);
    while lab
        .client
        .run(|| TcpStream::connect_timeout(&target, Duration::from_millis(200)).is_err())
        .unwrap()
    {
        assert!(Instant::now() < deadline, "redis-server never listened");
        std::thread::sleep(Duration::from_millis(20));
    }
    let c = &lab.client;
    c.iptables(&[
        "-A",
        "OUTPUT",
        "-p",
        "tcp",
        "--dport",
        port,
        "-j",
        "REJECT",
        "--reject-with",
        "tcp-reset",
    ])
    .unwrap();

    let mut as_nobody = c.command("setpriv");
    as_nobody.args(["--reuid=65534", "--regid=65534", "--clear-groups", REFUSED]);
    let report = diagnosis(as_nobody, &["--timeout", "10s", &target.to_string()]);
    assert_eq!(report["cause"], "blocked-locally", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(summary.contains("redis-server"), "{report}");
    assert!(
        summary.ends_with(
            "a firewall rejects it: this host's (its rules could not be read) or that namespace's"
        ),
        "{report}"
    );
    assert!(
        suggests(&report, &format!("`sudo {REFUSED} why {target}`")),
        "{report}"
    );

    // As root, the same refusal is this host's rule, named.
    let report = diagnosis(
        c.command(REFUSED),
        &["--timeout", "10s", &target.to_string()],
    );
    let rule = blocked_by(&report);
    assert_eq!(rule["chain"], "OUTPUT", "{report}");
    assert_eq!(rule["rule"], "tcp dport 41072 reject with tcp reset");
}

/// The chains Docker makes for `docker run -p 41021:80` (written with iptables-restore, as
/// Docker's iptables backend does), the "container" being the lab's server.
const DOCKER_RULES: &str = "*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 10.77.0.0/24 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 41021 -j DNAT --to-destination 10.77.0.2:41022
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER -d 10.77.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 41022 -j ACCEPT
-A DOCKER-ISOLATION-STAGE-1 -i docker0 ! -o docker0 -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-1 -j RETURN
-A DOCKER-ISOLATION-STAGE-2 -o docker0 -j DROP
-A DOCKER-ISOLATION-STAGE-2 -j RETURN
-A DOCKER-USER -p tcp -m tcp --dport 41022 -j DROP
-A DOCKER-USER -j RETURN
COMMIT
";

#[test]
fn dockers_chains_are_followed_and_its_dnat_is_read() {
    let Some(lab) = Lab::or_skip("dockers_chains_are_followed_and_its_dnat_is_read") else {
        return;
    };
    let _open = listen_on_server(&lab, &[41022, 41025]);
    let c = &lab.client;
    let mut restore = c.command("iptables-restore");
    restore.stdin(std::process::Stdio::piped());
    let mut child = restore.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), DOCKER_RULES.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());

    // The published port, read from the live ruleset (through nft's listing of Docker's xt
    // rules): this host's address, port 41021, goes to 10.77.0.2:41022.
    let ruleset = c.run(firewall::read_ruleset).unwrap().unwrap();
    let packet = Packet {
        dst_local: Some(true),
        oif: Interface::Named("lo".to_owned()),
        ..Packet::outgoing(Some(CLIENT_V4.into()), CLIENT_V4.into(), 41021)
    };
    let found = firewall::dnat(&ruleset, NatHook::Output, &packet);
    assert_eq!(found.len(), 1, "{found:?}");
    let dnat = &found[0];
    assert_eq!(
        (dnat.table.as_str(), dnat.chain.as_str()),
        ("ip nat", "DOCKER")
    );
    assert_eq!(dnat.path, ["OUTPUT", "DOCKER"]);
    assert_eq!(
        dnat.to,
        NatTo::Address {
            address: SERVER_V4.into(),
            port: Some(41022)
        }
    );
    assert_eq!(
        dnat.handle,
        Some(handle(&lab, "ip nat", "DOCKER", "dport 41021"))
    );
    assert!(dnat.certain);

    // DOCKER-USER and DOCKER-ISOLATION-STAGE-2 drop, but only what Docker forwards: this
    // host's own connection to the "container" is not theirs to stop.
    assert_eq!(
        why(&lab, &[&format!("{SERVER_V4}:41022")])["cause"],
        "reachable"
    );
    let report = why(&lab, &["--timeout", "1s", &format!("{SERVER_V4}:41023")]);
    assert_ne!(report["cause"], "blocked-locally", "{report}");

    // A rule of OUTPUT sees the translated destination (the nat hook comes first): the
    // published port is rejected by a rule written for the container's address and port.
    c.iptables(&[
        "-I",
        "OUTPUT",
        "-d",
        "10.77.0.2",
        "-p",
        "tcp",
        "--dport",
        "41022",
        "-j",
        "REJECT",
        "--reject-with",
        "tcp-reset",
    ])
    .unwrap();
    let report = why(&lab, &[&format!("{CLIENT_V4}:41021")]);
    let rule = blocked_by(&report);
    assert_eq!(rule["chain"], "OUTPUT", "{report}");
    assert_eq!(
        rule["handle"],
        handle(&lab, "ip filter", "OUTPUT", "dport 41022")
    );
    assert_eq!(rule["tool"], "iptables");
}

#[test]
fn an_input_rule_that_drops_the_replies_is_blocked_locally() {
    let Some(lab) = Lab::or_skip("an_input_rule_that_drops_the_replies_is_blocked_locally") else {
        return;
    };
    let _open = listen_on_server(&lab, &[41031, 41032]);
    lab.client
        .iptables(&[
            "-A",
            "INPUT",
            "-s",
            "10.77.0.2",
            "-p",
            "tcp",
            "--sport",
            "41031",
            "-j",
            "DROP",
        ])
        .unwrap();
    let report = why(&lab, &["--timeout", "1s", &format!("{SERVER_V4}:41031")]);
    assert_eq!(report["attempts"][0]["outcome"], "timeout");
    let rule = blocked_by(&report);
    assert_eq!(rule["hook"], "input", "{report}");
    assert_eq!(rule["chain"], "INPUT");
    assert_eq!(rule["stops"], "reply");
    assert_eq!(
        rule["handle"],
        handle(&lab, "ip filter", "INPUT", "tcp sport 41031")
    );
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("drops the replies"),
        "{report}"
    );
    // Replies from another port pass.
    assert_eq!(
        why(&lab, &[&format!("{SERVER_V4}:41032")])["cause"],
        "reachable"
    );
}

/// A Kubernetes node's kubelet drops packets marked 0x8000 in `KUBE-FIREWALL`, reached from
/// OUTPUT: a rule whose match the rules alone cannot tell (nothing of ours is marked). A server
/// that drops the port is then `filtered`, the node's rule only a warning, never "delete it".
#[test]
fn a_general_rule_that_only_may_drop_is_no_cause_of_a_timeout() {
    let Some(lab) = Lab::or_skip("a_general_rule_that_only_may_drop_is_no_cause_of_a_timeout")
    else {
        return;
    };
    lab.client.iptables(&["-N", "KUBE-FIREWALL"]).unwrap();
    lab.client
        .iptables(&["-A", "OUTPUT", "-j", "KUBE-FIREWALL"])
        .unwrap();
    lab.client
        .iptables(&[
            "-A",
            "KUBE-FIREWALL",
            "-m",
            "comment",
            "--comment",
            "kubernetes firewall for dropping marked packets",
            "-m",
            "mark",
            "--mark",
            "0x8000/0x8000",
            "-j",
            "DROP",
        ])
        .unwrap();
    let server_drops = "add table inet t; add chain inet t in { type filter hook input priority 0; }; add rule inet t in tcp dport 41085 drop";
    lab.server.exec("nft", &[server_drops]).unwrap();
    let report = why(&lab, &["--timeout", "1s", &format!("{SERVER_V4}:41085")]);
    assert_eq!(report["attempts"][0]["outcome"], "timeout", "{report}");
    assert_eq!(report["cause"], "filtered", "{report}");
    assert!(
        report["warnings"].to_string().contains("KUBE-FIREWALL"),
        "{report}"
    );
    assert!(!suggests(&report, "iptables -D"), "{report}");
}

/// A port forward (a DNAT of nat PREROUTING, as for a VM or a container behind this host)
/// tried from the forwarding host itself: its own connections take nat OUTPUT and never meet
/// the rule. Nothing listens here, and the forward is named, with how to test it: not "start
/// the program that should listen".
#[test]
fn a_port_forward_tried_from_the_forwarding_host_is_named() {
    let Some(lab) = Lab::or_skip("a_port_forward_tried_from_the_forwarding_host_is_named") else {
        return;
    };
    let _open = listen_on_server(&lab, &[41087]);
    lab.client
        .iptables(&[
            "-t",
            "nat",
            "-A",
            "PREROUTING",
            "-p",
            "tcp",
            "--dport",
            "41086",
            "-j",
            "DNAT",
            "--to-destination",
            &format!("{SERVER_V4}:41087"),
        ])
        .unwrap();
    for target in [format!("{CLIENT_V4}:41086"), "127.0.0.1:41086".to_owned()] {
        let report = why(&lab, &["--timeout", "1s", &target]);
        assert_eq!(report["cause"], "no-listener", "{report}");
        let dnat = crate::why_lab::first_evidence(&report, "dnat");
        assert_eq!(dnat["hook"], "prerouting", "{report}");
        assert!(suggests(&report, "from another host"), "{report}");
        assert!(!suggests(&report, "start the program"), "{report}");
        // The nat OUTPUT rule for this host's address; never `route_localnet` for loopback,
        // which lets 127.0.0.0/8 in from the network.
        let output_rule = suggests(&report, "iptables -t nat -A OUTPUT");
        assert_eq!(output_rule, !target.starts_with("127."), "{report}");
        assert!(!suggests(&report, "route_localnet"), "{report}");
    }
}

/// A Kubernetes node's kube-proxy (iptables mode) rejects a Service's cluster IP and port
/// while the Service has no ready endpoints, in `KUBE-SERVICES` reached from OUTPUT (the rules
/// as kube-proxy writes them, by the real iptables): the Service's endpoints are named as what
/// to fix, never `iptables -D`, which kube-proxy undoes. Port 41088 is this test's.
#[test]
fn kube_proxys_reject_of_a_service_without_endpoints_points_at_the_service() {
    let test = "kube_proxys_reject_of_a_service_without_endpoints_points_at_the_service";
    let Some(lab) = Lab::or_skip(test) else {
        return;
    };
    let cluster_ip = SERVER_V4.to_string();
    for rule in [
        vec!["-N", "KUBE-SERVICES"],
        vec![
            "-A",
            "OUTPUT",
            "-m",
            "conntrack",
            "--ctstate",
            "NEW",
            "-m",
            "comment",
            "--comment",
            "kubernetes service portals",
            "-j",
            "KUBE-SERVICES",
        ],
        vec![
            "-A",
            "KUBE-SERVICES",
            "-d",
            &cluster_ip,
            "-p",
            "tcp",
            "-m",
            "comment",
            "--comment",
            "default/web:http has no endpoints",
            "-m",
            "tcp",
            "--dport",
            "41088",
            "-j",
            "REJECT",
            "--reject-with",
            "icmp-port-unreachable",
        ],
    ] {
        lab.client.iptables(&rule).unwrap();
    }
    let report = why(&lab, &["--timeout", "1s", &format!("{SERVER_V4}:41088")]);
    let rule = blocked_by(&report);
    assert_eq!(rule["chain"], "KUBE-SERVICES", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .starts_with("kube-proxy's rule"),
        "{report}"
    );
    assert!(suggests(&report, "kubectl get endpointslices"), "{report}");
    assert!(!suggests(&report, "-D KUBE-SERVICES"), "{report}");
}

/// fail2ban bans the server's address for ssh alone: INPUT jumps to its chain on `--dports 22`,
/// which the replies of a connection to another port never meet (their destination port is
/// ours, which the diagnosis reads off its socket). The server's own drop is `filtered`, the ban
/// neither the cause nor a warning. Port 41089 is this test's.
#[test]
fn a_ban_for_another_port_is_not_met_by_the_replies() {
    let Some(lab) = Lab::or_skip("a_ban_for_another_port_is_not_met_by_the_replies") else {
        return;
    };
    let server = SERVER_V4.to_string();
    for rule in [
        vec!["-N", "f2b-sshd"],
        vec![
            "-A",
            "INPUT",
            "-p",
            "tcp",
            "-m",
            "multiport",
            "--dports",
            "22",
            "-j",
            "f2b-sshd",
        ],
        vec![
            "-A",
            "f2b-sshd",
            "-s",
            &server,
            "-j",
            "REJECT",
            "--reject-with",
            "icmp-port-unreachable",
        ],
        vec!["-A", "f2b-sshd", "-j", "RETURN"],
    ] {
        lab.client.iptables(&rule).unwrap();
    }
    let server_drops = "add table inet t; add chain inet t in { type filter hook input priority 0; }; add rule inet t in tcp dport 41089 drop";
    lab.server.exec("nft", &[server_drops]).unwrap();
    let report = why(&lab, &["--timeout", "1s", &format!("{SERVER_V4}:41089")]);
    assert_eq!(report["attempts"][0]["outcome"], "timeout", "{report}");
    assert_eq!(report["cause"], "filtered", "{report}");
    assert!(
        !report["warnings"].to_string().contains("f2b-sshd"),
        "{report}"
    );
}

/// A blocklist by source in iptables' raw PREROUTING (before conntrack: where ipset blocklists
/// often go) or in an nft chain at prerouting drops the server's replies before INPUT sees
/// them: this host's rule, named, not the server's firewall.
#[test]
fn a_prerouting_rule_that_drops_the_replies_is_blocked_locally() {
    let Some(lab) = Lab::or_skip("a_prerouting_rule_that_drops_the_replies_is_blocked_locally")
    else {
        return;
    };
    let _open = listen_on_server(&lab, &[41041, 41042, 41043]);
    let c = &lab.client;
    c.iptables(&[
        "-t",
        "raw",
        "-A",
        "PREROUTING",
        "-s",
        "10.77.0.2",
        "-p",
        "tcp",
        "--sport",
        "41041",
        "-j",
        "DROP",
    ])
    .unwrap();
    c.nft(
        "table inet blocklist {
            chain pre {
                type filter hook prerouting priority -300; policy accept;
                ip saddr 10.77.0.2 tcp sport 41042 drop
            }
        }",
    )
    .unwrap();
    for (port, table, chain) in [
        ("41041", "ip raw", "PREROUTING"),
        ("41042", "inet blocklist", "pre"),
    ] {
        let report = why(&lab, &["--timeout", "1s", &format!("{SERVER_V4}:{port}")]);
        assert_eq!(report["cause"], "blocked-locally", "{report}");
        let rule = blocked_by(&report);
        assert_eq!(rule["hook"], "prerouting", "{report}");
        assert_eq!(rule["table"], table, "{report}");
        assert_eq!(rule["chain"], chain, "{report}");
        assert_eq!(rule["stops"], "reply", "{report}");
        assert_eq!(rule["certain"], true, "{report}");
    }
    // Replies from another port pass.
    assert_eq!(
        why(&lab, &[&format!("{SERVER_V4}:41043")])["cause"],
        "reachable"
    );
}

/// Whether the report says some iptables-legacy tables could not be read.
fn legacy_unseen(report: &Value) -> bool {
    report["unseen"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["what"].as_str().unwrap().contains("legacy"))
}

/// Rules of the kernel's `x_tables`, which nft does not show, are read with
/// `iptables-legacy-save` and evaluated: the rule is named as iptables wrote it, with the
/// command that removes it.
#[test]
fn iptables_legacy_rules_are_evaluated() {
    let Some(lab) = Lab::or_skip("iptables_legacy_rules_are_evaluated") else {
        return;
    };
    let _open = listen_on_server(&lab, &[41041, 41042]);
    let c = &lab.client;
    let legacy = |command: &str, rule: &str| {
        c.exec(command, &rule.split(' ').collect::<Vec<_>>())
            .unwrap();
    };
    legacy("iptables-legacy", "-N APP-OUT");
    legacy("iptables-legacy", "-A OUTPUT -j APP-OUT");
    legacy(
        "iptables-legacy",
        "-A APP-OUT -p tcp --dport 41040 -j ACCEPT",
    );
    legacy("iptables-legacy", "-A APP-OUT -p tcp --dport 41041 -j DROP");
    let report = why(&lab, &["--timeout", "1s", &format!("{SERVER_V4}:41041")]);
    let rule = blocked_by(&report);
    assert_eq!(rule["table"], "ip filter", "{report}");
    assert_eq!(rule["chain"], "APP-OUT");
    assert_eq!(rule["path"], serde_json::json!(["OUTPUT", "APP-OUT"]));
    assert_eq!(
        rule["rule"],
        "-A APP-OUT -p tcp -m tcp --dport 41041 -j DROP"
    );
    assert_eq!(rule["position"], 2);
    assert_eq!(rule["tool"], "iptables-legacy");
    assert_eq!(rule["certain"], true);
    assert!(rule.get("handle").is_none(), "{report}");
    assert!(
        suggests(&report, "`iptables-legacy -D APP-OUT 2"),
        "{report}"
    );
    assert!(!legacy_unseen(&report), "{report}");
    // A port no legacy rule stops connects.
    assert_eq!(
        why(&lab, &[&format!("{SERVER_V4}:41042")])["cause"],
        "reachable"
    );

    // ip6tables-legacy: a reset made by this host, IPv6 only.
    legacy(
        "ip6tables-legacy",
        "-A OUTPUT -p tcp --dport 41042 -j REJECT --reject-with tcp-reset",
    );
    let report = why(&lab, &[&format!("[{SERVER_V6}]:41042")]);
    assert_eq!(report["attempts"][0]["outcome"], "refused");
    let rule = blocked_by(&report);
    assert_eq!(rule["table"], "ip6 filter", "{report}");
    assert_eq!(rule["verdict"], "reject");
    assert!(
        suggests(&report, "`ip6tables-legacy -D OUTPUT 1"),
        "{report}"
    );
    assert_eq!(
        why(&lab, &[&format!("{SERVER_V4}:41042")])["cause"],
        "reachable"
    );
}

/// ufw on a host whose `iptables` is the legacy one (Ubuntu 20.04's default): its rules and its
/// default policy live in the legacy tables, and are found there as they are in nftables.
#[test]
fn ufw_on_legacy_iptables_is_blocked_locally() {
    let Some(lab) = Lab::or_skip("ufw_on_legacy_iptables_is_blocked_locally") else {
        return;
    };
    let _open = listen_on_server(&lab, &[41061, 41062, 41063]);
    let c = &lab.client;
    c.use_legacy_iptables().unwrap();
    c.ufw(&["deny", "out", "41061/tcp"]).unwrap();
    c.ufw(&["allow", "out", "41062/tcp"]).unwrap();
    c.ufw(&["default", "reject", "outgoing"]).unwrap();
    // ufw wrote to the legacy tables, not to nftables.
    let save = c.exec("iptables-legacy-save", &[]).unwrap();
    assert!(String::from_utf8_lossy(&save.stdout).contains("ufw-user-output"));
    let nft = c.exec("nft", &["list", "ruleset"]).unwrap();
    assert!(!String::from_utf8_lossy(&nft.stdout).contains("ufw"));

    let report = why(&lab, &["--timeout", "1s", &format!("{SERVER_V4}:41061")]);
    let rule = blocked_by(&report);
    assert_eq!(rule["chain"], "ufw-user-output", "{report}");
    assert_eq!(
        rule["path"],
        serde_json::json!(["OUTPUT", "ufw-before-output", "ufw-user-output"])
    );
    assert_eq!(rule["tool"], "ufw");
    assert_eq!(rule["verdict"], "drop");
    assert_eq!(rule["certain"], true);
    assert!(suggests(&report, "`ufw status numbered"), "{report}");
    let report = why(&lab, &["--timeout", "1s", &format!("[{SERVER_V6}]:41061")]);
    assert_eq!(blocked_by(&report)["chain"], "ufw6-user-output", "{report}");

    assert_eq!(
        why(&lab, &[&format!("{SERVER_V4}:41062")])["cause"],
        "reachable"
    );
    let report = why(&lab, &[&format!("{SERVER_V4}:41063")]);
    let rule = blocked_by(&report);
    assert_eq!(rule["chain"], "ufw-reject-output", "{report}");
    assert_eq!(rule["verdict"], "reject");
    assert!(suggests(&report, "`ufw allow out 41063/tcp"), "{report}");
    assert!(!legacy_unseen(&report), "{report}");
}

#[test]
fn a_reset_seen_without_the_rules_says_it_may_be_local() {
    let Some(lab) = Lab::or_skip("a_reset_seen_without_the_rules_says_it_may_be_local") else {
        return;
    };
    lab.client
        .iptables(&[
            "-A",
            "OUTPUT",
            "-p",
            "tcp",
            "--dport",
            "41051",
            "-j",
            "REJECT",
            "--reject-with",
            "tcp-reset",
        ])
        .unwrap();
    let mut as_nobody = lab.client.command_alone("setpriv");
    as_nobody.args(["--reuid=65534", "--regid=65534", "--clear-groups", REFUSED]);
    let report = diagnosis(as_nobody, &[&format!("{SERVER_V4}:41051")]);
    assert_eq!(report["cause"], "closed", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(summary.contains("reject with tcp reset"), "{report}");
    assert!(!summary.contains("is up"), "{report}");
    // As root, the rule is read and named.
    let report = why(&lab, &[&format!("{SERVER_V4}:41051")]);
    assert_eq!(blocked_by(&report)["chain"], "OUTPUT");
}

/// The packets `table`'s `chain` counted for its rule whose text contains `needle`.
fn counted(lab: &Lab, table: &str, chain: &str, needle: &str) -> u64 {
    let listing = chain_listing(lab, &[], table, chain);
    let line = listing
        .lines()
        .find(|l| l.contains(needle) && l.contains("counter packets "))
        .unwrap_or_else(|| panic!("no counted `{needle}` in {listing}"));
    line.split_once("counter packets ")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap()
}

/// A blocklist of address-and-port pairs (`ip daddr . tcp dport @blocked`) stops only the
/// pairs it holds: with the server's own firewall dropping the port, the cause is `filtered`,
/// and a certain rule after the blocklist is named, not the blocklist.
#[test]
fn a_concatenation_set_stops_only_the_pairs_it_holds() {
    let Some(lab) = Lab::or_skip("a_concatenation_set_stops_only_the_pairs_it_holds") else {
        return;
    };
    let _open = listen_on_server(&lab, &[41081, 41082, 41083]);
    lab.server
        .filter("input", &["tcp dport 41081 counter drop"])
        .unwrap();
    lab.client
        .nft(&format!(
            "table inet block {{
              set blocked {{ type ipv4_addr . inet_service; flags interval;
                elements = {{ 192.0.2.10 . 8080, {SERVER_V4} . 41083 }} }}
              chain output {{ type filter hook output priority 0; policy accept;
                ip daddr . tcp dport @blocked counter drop
                tcp dport 41082 counter drop
              }}
            }}"
        ))
        .unwrap();
    let report = why(&lab, &["--timeout", "1s", &format!("{SERVER_V4}:41081")]);
    assert_eq!(report["cause"], "filtered", "{report}");
    // The server's rule dropped the SYNs; the client's blocklist let them go.
    assert_eq!(counted(&lab, "inet block", "output", "@blocked"), 0);

    let report = why(&lab, &["--timeout", "1s", &format!("{SERVER_V4}:41082")]);
    let rule = blocked_by(&report);
    assert_eq!(rule["rule"], "tcp dport 41082 drop", "{report}");
    assert_eq!(rule["certain"], true, "{report}");

    let report = why(&lab, &["--timeout", "1s", &format!("{SERVER_V4}:41083")]);
    let rule = blocked_by(&report);
    assert_eq!(
        rule["rule"], "ip daddr . tcp dport @blocked drop",
        "{report}"
    );
    assert_eq!(rule["certain"], true, "{report}");
    assert_eq!(
        rule["handle"],
        handle(&lab, "inet block", "output", "@blocked drop")
    );
    // The pair goes from the set; deleting the rule would let every pair through.
    assert!(
        suggests(
            &report,
            &format!("`nft delete element inet block blocked {{ {SERVER_V4} . 41083 }}`")
        ),
        "{report}"
    );
}

/// Two base chains at the output hook and priority 0, nft's and then iptables' (as Docker or
/// ufw add theirs at boot), each dropping the port: the kernel runs the newer chain first (its
/// counter counts the SYNs, the older one's stays at 0), and deleting either rule alone leaves
/// the other. Both are named, the newer first, each with its fix.
#[test]
fn base_chains_of_one_priority_are_each_named() {
    let Some(lab) = Lab::or_skip("base_chains_of_one_priority_are_each_named") else {
        return;
    };
    let _open = listen_on_server(&lab, &[41084]);
    lab.client
        .nft(
            "table inet filter {
              chain output { type filter hook output priority 0; policy accept;
                tcp dport 41084 counter drop
              }
            }",
        )
        .unwrap();
    lab.client
        .iptables(&[
            "-A", "OUTPUT", "-p", "tcp", "--dport", "41084", "-j", "DROP",
        ])
        .unwrap();
    let report = why(&lab, &["--timeout", "1s", &format!("{SERVER_V4}:41084")]);
    assert_eq!(report["cause"], "blocked-locally", "{report}");
    assert!(counted(&lab, "ip filter", "OUTPUT", "41084") > 0);
    assert_eq!(counted(&lab, "inet filter", "output", "41084"), 0);

    let rules: Vec<(&Value, &Value, &Value)> = report["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "firewall-rule")
        .map(|e| (&e["table"], &e["tool"], &e["certain"]))
        .collect();
    assert_eq!(
        serde_json::json!(rules),
        serde_json::json!([
            ["ip filter", "iptables", true],
            ["inet filter", "nft", true]
        ]),
        "{report}"
    );
    let summary = report["summary"].as_str().unwrap();
    assert!(summary.contains("stops it too"), "{report}");
    assert!(suggests(&report, "`iptables -D OUTPUT 1"), "{report}");
    let nft = handle(&lab, "inet filter", "output", "tcp dport 41084 drop");
    assert!(
        suggests(
            &report,
            &format!("`nft delete rule inet filter output handle {nft}`")
        ),
        "{report}"
    );
}

/// iptables' `--syn` (nft's `tcp flags syn / fin,syn,rst,ack`), in most hand-written rulesets:
/// a connection's first packet is a SYN, so the rule is decided. An egress allow list that
/// accepts `--syn` under a drop policy lets the connection out (no "policy drop may drop it");
/// a `--syn` drop is the cause, surely, and written as nft writes it.
#[test]
fn iptables_syn_rules_are_decided() {
    let Some(lab) = Lab::or_skip("iptables_syn_rules_are_decided") else {
        return;
    };
    #[rustfmt::skip]
    let rules: [&[&str]; 4] = [
        &["-A", "OUTPUT", "-o", "lo", "-j", "ACCEPT"],
        &["-A", "OUTPUT", "-m", "conntrack", "--ctstate", "ESTABLISHED,RELATED", "-j", "ACCEPT"],
        &["-A", "OUTPUT", "-p", "tcp", "--dport", "41090", "--syn", "-m", "conntrack", "--ctstate", "NEW", "-j", "ACCEPT"],
        &["-A", "OUTPUT", "-p", "tcp", "--dport", "41091", "--syn", "-j", "DROP"],
    ];
    for rule in rules {
        lab.client.iptables(rule).unwrap();
    }
    lab.client.iptables(&["-P", "OUTPUT", "DROP"]).unwrap();
    // The server drops 41090: a remote host's silence, and the allow list is none of it.
    let server_drops = "add table inet t; add chain inet t in { type filter hook input priority 0; }; add rule inet t in tcp dport 41090 drop";
    lab.server.exec("nft", &[server_drops]).unwrap();
    let report = why(&lab, &["--timeout", "1s", &format!("{SERVER_V4}:41090")]);
    assert_eq!(report["cause"], "filtered", "{report}");
    assert!(
        !report["warnings"].to_string().contains("policy drop"),
        "{report}"
    );
    // Let out by the rule for 41090 only: 41092 meets the policy.
    let report = why(&lab, &["--timeout", "1s", &format!("{SERVER_V4}:41092")]);
    assert!(
        blocked_by(&report)["rule"]
            .as_str()
            .unwrap()
            .contains("policy drop"),
        "{report}"
    );
    let report = why(&lab, &["--timeout", "1s", &format!("{SERVER_V4}:41091")]);
    let rule = blocked_by(&report);
    assert!(
        rule["rule"]
            .as_str()
            .unwrap()
            .starts_with("tcp flags syn / fin,syn,rst,ack tcp dport 41091"),
        "{report}"
    );
    assert_eq!(rule["certain"], true, "{report}");
}

/// An allow list of iptables' (`-m set ! --match-set allowed dst -j REJECT`, with real ipset):
/// what stops the connection is the address's absence from the set, so the fix adds it
/// (`ipset add`), where `ipset del` of an address not in the set changes nothing (review h22).
/// Port 48512 is this test's.
#[test]
fn an_ipset_allow_list_is_fixed_by_adding_the_address() {
    let test = "an_ipset_allow_list_is_fixed_by_adding_the_address";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Iptables, Tool::Ipset]) else {
        return;
    };
    let _open = listen_on_server(&lab, &[48512]);
    lab.client
        .exec("ipset", &["create", "allowed", "hash:ip"])
        .unwrap();
    lab.client
        .exec("ipset", &["add", "allowed", "10.77.0.50"])
        .unwrap();
    lab.client
        .iptables(&[
            "-A",
            "OUTPUT",
            "-p",
            "tcp",
            "--dport",
            "48512",
            "-m",
            "set",
            "!",
            "--match-set",
            "allowed",
            "dst",
            "-j",
            "REJECT",
        ])
        .unwrap();
    let report = why(&lab, &["--timeout", "2s", &format!("{SERVER_V4}:48512")]);
    assert_eq!(report["cause"], "blocked-locally", "{report}");
    assert!(suggests(&report, "ipset add"), "{report}");
}
