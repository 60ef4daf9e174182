//! `refused why --json` run inside the lab's client namespace: every scenario of the contract's
//! cause table, as the built binary reports it.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use refused_lab::{
    CLIENT_V4, DnsZone, FullQueue, Lab, ListenSpec, NO_ROUTE_V4, NO_ROUTE_V6, SERVER_V4, SERVER_V6,
    Scratch, Tool, UNUSED_V4, UNUSED_V6,
};
use serde_json::Value;

pub(crate) const REFUSED: &str = env!("CARGO_BIN_EXE_refused");

/// Runs `refused why --json ARGS` through `command` and checks the exit status against the cause.
pub(crate) fn diagnosis(mut command: Command, args: &[&str]) -> Value {
    let output = command
        .arg("why")
        .arg("--json")
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|err| {
        panic!(
            "{args:?}: {err}: {stdout:?} {:?}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    crate::schema::assert_valid(crate::schema::Schema::Why, &report);
    let expected_exit = i32::from(report["cause"] != "reachable");
    assert_eq!(
        output.status.code(),
        Some(expected_exit),
        "{args:?}: {report}"
    );
    report
}

/// `refused why --json` in the client namespace, which sees the whole machine (the server
/// namespace can play a container of the client's host), with a generous `--timeout` unless the
/// test gives one (see [`ROOMY`]).
pub(crate) fn why(lab: &Lab, args: &[&str]) -> Value {
    diagnosis(lab.client.command(REFUSED), &roomy(args))
}

/// `refused why --json` in the client namespace as a machine of its own: the server is a remote
/// host (its namespace is not one of this host's).
pub(crate) fn why_alone(lab: &Lab, args: &[&str]) -> Value {
    diagnosis(lab.client.command_alone(REFUSED), &roomy(args))
}

/// The arguments, with `--timeout` [`ROOMY`] unless they give one.
fn roomy<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut args = args.to_vec();
    if !args.contains(&"--timeout") {
        args.splice(0..0, ["--timeout", ROOMY]);
    }
    args
}

/// `--timeout` bounds the whole diagnosis, reading this host's evidence included, and that read
/// walks every namespace and process of the host: seconds on a crowded machine during a full
/// test run. A test that does not wait for a timeout gives it room (a refusal ends the
/// diagnosis as soon as the evidence is read, whatever the limit).
const ROOMY: &str = "10s";

pub(crate) fn cause(report: &Value) -> &str {
    report["cause"].as_str().unwrap_or_default()
}

/// The firewall rule the report names (the first), after checking the cause.
pub(crate) fn blocked_by(report: &Value) -> &Value {
    assert_eq!(report["cause"], "blocked-locally", "{report}");
    first_evidence(report, "firewall-rule")
}

/// The report's first evidence item of one kind; a panic naming the report without one.
pub(crate) fn first_evidence<'a>(report: &'a Value, kind: &str) -> &'a Value {
    evidence(report, kind)
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no {kind} in {report}"))
}

/// Whether a suggestion of the report contains `needle`.
pub(crate) fn suggests(report: &Value, needle: &str) -> bool {
    report["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s.as_str().unwrap().contains(needle))
}

/// The evidence items of one kind.
pub(crate) fn evidence<'a>(report: &'a Value, kind: &str) -> Vec<&'a Value> {
    report["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

/// Waits (`refused wait`, from `netns`, at most 10 s) until `target` is ready.
pub(crate) fn wait_ready(netns: &refused_lab::Netns, target: &str) {
    let ready = netns
        .command(REFUSED)
        .args(["wait", "--quiet", "--timeout", "10s", target])
        .status()
        .unwrap();
    assert!(ready.success(), "{target} did not get ready");
}

/// Listens in the client namespace (where `refused` runs), as this test process.
pub(crate) fn listen_on_client(lab: &Lab, addr: SocketAddr) -> TcpListener {
    lab.client
        .run(|| ListenSpec::new(addr).listen())
        .unwrap()
        .unwrap()
}

#[test]
fn local_listeners_explain_a_refusal() {
    let Some(lab) = Lab::or_skip("local_listeners_explain_a_refusal") else {
        return;
    };
    // Ports no test listens on in any namespace (`why` looks at all of them).
    for port in ["1", "8080", "19123"] {
        let report = why(&lab, &[&format!("127.0.0.1:{port}")]);
        assert_eq!(cause(&report), "no-listener", "{report}");
    }
    let report = why(&lab, &["[::1]:8080"]);
    assert_eq!(cause(&report), "no-listener", "{report}");

    let _web = listen_on_client(&lab, "127.0.0.1:8000".parse().unwrap());
    let report = why(&lab, &["127.0.0.1:8080"]);
    assert_eq!(cause(&report), "wrong-port", "{report}");
    let listener = evidence(&report, "listener")[0];
    assert_eq!(listener["port"], 8000);
    assert_eq!(listener["pid"], std::process::id());
    assert!(listener["process"].is_string(), "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:8000")
    );

    // The scheme's default port: Postgres asked on 5433, listening on 5432.
    let _pg = listen_on_client(&lab, "127.0.0.1:5432".parse().unwrap());
    let report = why(&lab, &["postgres://127.0.0.1:5433/app"]);
    assert_eq!(cause(&report), "wrong-port", "{report}");
    assert_eq!(evidence(&report, "listener")[0]["port"], 5432);

    let _metrics = listen_on_client(&lab, "127.0.0.1:9090".parse().unwrap());
    let report = why(&lab, &[&format!("{CLIENT_V4}:9090")]);
    assert_eq!(cause(&report), "listening-on-other-address", "{report}");
    assert_eq!(evidence(&report, "listener")[0]["address"], "127.0.0.1");

    let _app = listen_on_client(&lab, "127.0.0.1:3000".parse().unwrap());
    let report = why(&lab, &["[::1]:3000"]);
    assert_eq!(cause(&report), "listening-on-other-family", "{report}");

    // A v6only listener does not take IPv4.
    let _v6 = lab
        .client
        .run(|| {
            ListenSpec::new(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 3100)))
                .v6only(true)
                .listen()
        })
        .unwrap()
        .unwrap();
    let report = why(&lab, &["127.0.0.1:3100"]);
    assert_eq!(cause(&report), "listening-on-other-family", "{report}");
    assert_eq!(evidence(&report, "listener")[0]["v6only"], true);
    // It is bound to `::` already: the fix is the option, and no name was given.
    let fixes = report["suggestions"].to_string();
    assert!(
        fixes.contains("IPV6_V6ONLY off") && !fixes.contains("localhost"),
        "{report}"
    );
}

#[test]
fn the_server_of_the_ports_service_listening_elsewhere_is_the_wrong_port() {
    let test = "the_server_of_the_ports_service_listening_elsewhere_is_the_wrong_port";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::RedisServer]) else {
        return;
    };
    // A real Redis (`redis-server` from Debian) on 7777, while clients ask 6379.
    let args = refused_lab::servers::redis_args(7777);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    lab.client.spawn("redis-server", &args).unwrap();
    wait_ready(&lab.client, "redis://127.0.0.1:7777");
    let report = why(&lab, &["127.0.0.1:6379"]);
    assert_eq!(cause(&report), "wrong-port", "{report}");
    let listener = evidence(&report, "listener")[0];
    assert_eq!(listener["port"], 7777);
    assert_eq!(listener["process"], "redis-server");
    assert!(
        report["summary"].as_str().unwrap().contains("Redis"),
        "{report}"
    );
}

#[test]
fn localhost_that_gives_ipv6_first_is_reachable_with_a_warning() {
    let Some(lab) = Lab::or_skip("localhost_that_gives_ipv6_first_is_reachable_with_a_warning")
    else {
        return;
    };
    lab.client
        .write_etc("hosts", "::1 localhost\n127.0.0.1 localhost\n")
        .unwrap();
    let _app = listen_on_client(&lab, "127.0.0.1:3000".parse().unwrap());
    let report = why(&lab, &["localhost:3000"]);
    assert_eq!(cause(&report), "reachable", "{report}");
    let attempts = report["attempts"].as_array().unwrap();
    assert_eq!(attempts[0]["address"], "[::1]:3000");
    assert_eq!(attempts[0]["outcome"], "refused");
    assert_eq!(attempts[1]["outcome"], "connected");
    let warning = report["warnings"][0].as_str().unwrap();
    assert!(warning.contains("::1"), "{warning}");
    let resolved = evidence(&report, "resolved");
    assert_eq!(resolved.len(), 2);
    assert_eq!(resolved[0]["source"], "hosts");
}

#[test]
fn a_listener_in_another_namespace_is_found() {
    let Some(lab) = Lab::or_skip("a_listener_in_another_namespace_is_found") else {
        return;
    };
    // The server namespace plays the container: its port is not published to the client.
    for port in [8081, 18_081] {
        let _inside = lab
            .server
            .run(|| ListenSpec::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))).listen())
            .unwrap()
            .unwrap();
        let report = why(&lab, &[&format!("127.0.0.1:{port}")]);
        assert_eq!(cause(&report), "listener-in-other-namespace", "{report}");
        let listener = evidence(&report, "listener")[0];
        assert_eq!(listener["port"], port);
        assert_eq!(listener["netns"], lab.server.name(), "{report}");
        // Inside the namespace it is reached on loopback; from here, at the namespace's own
        // address, not at the address that was asked.
        let fixes = report["suggestions"].to_string();
        assert!(
            fixes.contains(&format!("check 127.0.0.1:{port}")),
            "{report}"
        );
        assert!(
            fixes.contains(&format!("check {SERVER_V4}:{port}")),
            "{report}"
        );
    }
}

#[test]
fn a_namespace_with_no_link_here_is_not_suggested_at_its_own_address() {
    let Some(lab) =
        Lab::or_skip("a_namespace_with_no_link_here_is_not_suggested_at_its_own_address")
    else {
        return;
    };
    // The server keeps an address, on a link of its own that leads nowhere near the client.
    lab.client.ip(&["link", "del", "eth0"]).unwrap();
    lab.server
        .ip(&["link", "add", "x0", "type", "veth", "peer", "name", "x1"])
        .unwrap();
    lab.server
        .ip(&["addr", "add", "10.98.7.1/24", "dev", "x0"])
        .unwrap();
    for dev in ["x0", "x1"] {
        lab.server.ip(&["link", "set", dev, "up"]).unwrap();
    }
    let port = 43_972;
    let _inside = lab
        .server
        .run(|| ListenSpec::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port))).listen())
        .unwrap()
        .unwrap();
    let report = why(&lab, &[&format!("127.0.0.1:{port}")]);
    assert_eq!(cause(&report), "listener-in-other-namespace", "{report}");
    let fixes = report["suggestions"].to_string();
    assert!(
        !fixes.contains(&format!("check 10.98.7.1:{port}")),
        "{report}"
    );
    assert!(fixes.contains("`ip route get 10.98.7.1`"), "{report}");
    assert!(
        fixes.contains(&format!("ip netns exec {}", lab.server.name())),
        "{report}"
    );
}

#[test]
fn a_full_accept_queue_is_named() {
    let Some(lab) = Lab::or_skip("a_full_accept_queue_is_named") else {
        return;
    };
    for backlog in [0, 1] {
        let full = lab
            .client
            .run(|| FullQueue::with_backlog("127.0.0.1:0".parse().unwrap(), backlog))
            .unwrap()
            .unwrap();
        let target = full.addr().unwrap().to_string();
        let report = why(&lab, &["--timeout", "1s", &target]);
        assert_eq!(cause(&report), "listen-queue-full", "{report}");
        let listener = evidence(&report, "listener")[0];
        assert_eq!(listener["backlog"], backlog);
        assert_eq!(listener["pid"], std::process::id());
    }
}

#[test]
fn a_hung_server_whose_queue_takes_one_more_is_a_full_queue() {
    let Some(lab) = Lab::or_skip("a_hung_server_whose_queue_takes_one_more_is_a_full_queue") else {
        return;
    };
    // `listen(1)`, never accepted, one client already waiting: the kernel still completes one
    // more handshake (the queue is full only past the backlog), so `why`'s connect succeeds and
    // its probe's next connect is dropped.
    let (hung, _waiting) = lab
        .client
        .run(|| {
            let hung = ListenSpec::new("127.0.0.1:0".parse().unwrap())
                .backlog(1)
                .listen()
                .unwrap();
            let waiting = TcpStream::connect(hung.local_addr().unwrap()).unwrap();
            (hung, waiting)
        })
        .unwrap();
    let target = hung.local_addr().unwrap().to_string();
    let report = why(&lab, &["--timeout", "2s", &target]);
    assert_eq!(report["attempts"][0]["outcome"], "connected", "{report}");
    assert_eq!(cause(&report), "listen-queue-full", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("the program is not accepting (hung, or too slow)"),
        "{report}"
    );
    let listener = evidence(&report, "listener")[0];
    assert_eq!(listener["backlog"], 1);
    assert_eq!(listener["queue"], 2, "{report}");
    assert_eq!(listener["pid"], std::process::id());
    assert!(
        !report["suggestions"].to_string().contains("backend"),
        "{report}"
    );
}

#[test]
fn remote_hosts_closed_filtered_rejected() {
    let Some(lab) = Lab::or_skip_needing("remote_hosts_closed_filtered_rejected", &[Tool::Nft])
    else {
        return;
    };
    lab.server
        .filter(
            "input",
            &[
                "tcp dport 7001 drop",
                "ip protocol tcp tcp dport 7002 reject with icmp type host-prohibited",
                "ip6 nexthdr tcp tcp dport 7002 reject with icmpv6 type admin-prohibited",
            ],
        )
        .unwrap();
    for target in [format!("{SERVER_V4}:9"), format!("[{SERVER_V6}]:4444")] {
        let report = why_alone(&lab, &[&target]);
        assert_eq!(cause(&report), "closed", "{report}");
        assert_eq!(report["attempts"][0]["outcome"], "refused");
    }
    for target in [format!("{SERVER_V4}:7001"), format!("[{SERVER_V6}]:7001")] {
        let report = why_alone(&lab, &["--timeout", "1s", &target]);
        assert_eq!(cause(&report), "filtered", "{report}");
    }
    // IPv4 host-prohibited fails at once; IPv6 admin-prohibited only at the first SYN
    // retransmit (~1 s), as EACCES.
    for target in [format!("{SERVER_V4}:7002"), format!("[{SERVER_V6}]:7002")] {
        let report = why_alone(&lab, &[&target]);
        assert_eq!(cause(&report), "rejected", "{report}");
    }
}

#[test]
fn this_hosts_own_firewall_is_blocked_locally() {
    let Some(lab) =
        Lab::or_skip_needing("this_hosts_own_firewall_is_blocked_locally", &[Tool::Nft])
    else {
        return;
    };
    let _open = lab
        .server
        .run(|| ListenSpec::new(SocketAddr::from((SERVER_V4, 7100))).listen())
        .unwrap()
        .unwrap();
    lab.client
        .filter(
            "output",
            &[
                "tcp dport 7100 drop",
                "tcp dport 7101 reject with tcp reset",
            ],
        )
        .unwrap();
    let report = why_alone(&lab, &["--timeout", "1s", &format!("{SERVER_V4}:7100")]);
    assert_eq!(cause(&report), "blocked-locally", "{report}");
    let rule = evidence(&report, "firewall-rule")[0];
    assert_eq!(rule["rule"], "tcp dport 7100 drop");
    assert_eq!(rule["hook"], "output");
    // Run as root (as the lab is), the fix is the command itself, without `sudo`.
    let fixes = report["suggestions"].to_string();
    assert!(
        fixes.contains("`nft delete rule") && !fixes.contains("sudo"),
        "{report}"
    );
    // A local reject looks exactly like a closed port; the rule tells them apart.
    let report = why_alone(&lab, &[&format!("{SERVER_V4}:7101")]);
    assert_eq!(cause(&report), "blocked-locally", "{report}");
    // Other ports are not blocked: the rule is read, not assumed.
    let report = why_alone(&lab, &[&format!("{SERVER_V4}:7102")]);
    assert_eq!(cause(&report), "closed", "{report}");

    // Without root the rules cannot be read: the best the evidence supports, and a plain word
    // on what was not seen.
    let mut as_nobody = lab.client.command_alone("setpriv");
    as_nobody.args(["--reuid=65534", "--regid=65534", "--clear-groups", REFUSED]);
    let report = diagnosis(
        as_nobody,
        &["--timeout", "1s", &format!("{SERVER_V4}:7100")],
    );
    assert_eq!(cause(&report), "filtered", "{report}");
    assert!(
        report["suggestions"]
            .to_string()
            .contains("run as root to read this host's firewall rules"),
        "{report}"
    );
    let unseen = report["unseen"].as_array().unwrap();
    assert!(
        unseen
            .iter()
            .any(|u| u["what"].as_str().unwrap().contains("firewall rules")
                && u["needs_root"] == true),
        "{report}"
    );
}

#[test]
fn unreachable_hosts_and_networks() {
    let Some(lab) = Lab::or_skip("unreachable_hosts_and_networks") else {
        return;
    };
    // Neighbour discovery gives up after about 3 s: within the default timeout or just after it,
    // the ARP table says nobody answered.
    let report = why(&lab, &[&format!("{UNUSED_V4}:80")]);
    assert_eq!(cause(&report), "host-unreachable", "{report}");
    let report = why(&lab, &[&format!("[{UNUSED_V6}]:80")]);
    assert_eq!(cause(&report), "host-unreachable", "{report}");
    for target in [format!("{NO_ROUTE_V4}:80"), format!("[{NO_ROUTE_V6}]:80")] {
        let report = why(&lab, &[&target]);
        assert_eq!(cause(&report), "network-unreachable", "{report}");
    }
}

#[test]
fn names_that_do_not_resolve_and_names_that_half_work() {
    let Some(lab) = Lab::or_skip_needing(
        "names_that_do_not_resolve_and_names_that_half_work",
        &[Tool::Dnsmasq],
    ) else {
        return;
    };
    let listener = lab.half_working_names().unwrap();
    let port = listener.local_addr().unwrap().port();
    let report = why(&lab, &["missing.lab.test:80"]);
    assert_eq!(cause(&report), "dns-not-found", "{report}");
    let report = why(&lab, &["txtonly.lab.test:80"]);
    assert_eq!(cause(&report), "dns-no-address", "{report}");

    // Two addresses, the IPv6 one refused: reachable, with a warning and both attempts.
    let report = why(&lab, &[&format!("web.lab.test:{port}")]);
    assert_eq!(cause(&report), "reachable", "{report}");
    let outcomes: Vec<&str> = report["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["refused", "connected"]);
    assert_eq!(evidence(&report, "resolved")[0]["source"], "dns");

    let report = why(&lab, &[&format!("{SERVER_V4}:{port}")]);
    assert_eq!(cause(&report), "reachable", "{report}");
    assert!(report["warnings"].as_array().unwrap().is_empty());
}

#[test]
fn a_silent_resolver_is_a_dns_failure() {
    let Some(lab) = Lab::or_skip_needing("why_a_silent_resolver_is_a_dns_failure", &[Tool::Nft])
    else {
        return;
    };
    lab.silent_dns().unwrap();
    let report = why(&lab, &["--timeout", "1s", "anything.lab.test:80"]);
    assert_eq!(cause(&report), "dns-failure", "{report}");
}

/// The resolver's only nameserver is this host's own 127.0.0.53 (systemd-resolved's stub): with
/// nothing receiving there, the report names the stopped stub and how to start it; with a socket
/// there that never answers (a stub whose own servers are unreachable), the program holding it.
#[test]
fn a_stopped_local_resolver_is_named() {
    let Some(lab) = Lab::or_skip("a_stopped_local_resolver_is_named") else {
        return;
    };
    let c = &lab.client;
    c.write_etc(
        "resolv.conf",
        "nameserver 127.0.0.53\noptions timeout:1 attempts:1\n",
    )
    .unwrap();
    c.write_etc("hosts", "127.0.0.1 localhost\n").unwrap();
    let nameserver = |report: &Value| {
        let found = evidence(report, "nameserver");
        assert_eq!(found.len(), 1, "{report}");
        assert_eq!(found[0]["address"], "127.0.0.53", "{report}");
        assert_eq!(found[0]["source"], "resolv-conf");
        assert_eq!(found[0]["local"], true);
        found[0].clone()
    };

    let report = why(&lab, &["--timeout", "3s", "db.lab.test:5432"]);
    assert_eq!(cause(&report), "dns-failure", "{report}");
    assert_eq!(nameserver(&report)["listening"], false, "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains("nothing receives on its port 53"),
        "{report}"
    );
    // Where systemd runs, start the stub; where it does not (a container's copy of its host's
    // file), name another server.
    let advice = if std::path::Path::new("/run/systemd/system").is_dir() {
        "systemd-resolved's stub: start it"
    } else {
        "systemd does not run here"
    };
    assert!(
        report["suggestions"][0].as_str().unwrap().contains(advice),
        "{report}"
    );

    // systemd-resolved runs with its stub listener off (`DNSStubListener=no`): nothing receives
    // there though it runs, and starting it is not the fix. A process of its name stands for it
    // (the real one needs systemd and D-Bus; its name is what is read): `sleep` through a link
    // named `systemd-resolved`, whose `comm` the kernel cuts to `systemd-resolve`.
    let dir = std::env::temp_dir().join(format!("refused-lab-resolved-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let resolved = dir.join("systemd-resolved");
    let _ = std::fs::remove_file(&resolved);
    std::os::unix::fs::symlink("/bin/sleep", &resolved).unwrap();
    let mut running = c.command(&resolved).arg("60").spawn().unwrap();
    let report = why(&lab, &["--timeout", "3s", "db.lab.test:5432"]);
    running.kill().unwrap();
    running.wait().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(cause(&report), "dns-failure", "{report}");
    assert_eq!(
        nameserver(&report)["resolved_pid"],
        running.id(),
        "{report}"
    );
    let advice = report["suggestions"][0].as_str().unwrap();
    assert!(
        advice.contains(&format!("systemd-resolved runs (pid {})", running.id()))
            && advice.contains("stub listener is off"),
        "{report}"
    );

    // Something receives there, and never answers.
    let _silent = c
        .run(|| std::net::UdpSocket::bind("127.0.0.53:53"))
        .unwrap()
        .unwrap();
    let report = why(&lab, &["--timeout", "3s", "db.lab.test:5432"]);
    assert_eq!(cause(&report), "dns-failure", "{report}");
    let server = nameserver(&report);
    assert_eq!(server["listening"], true, "{report}");
    assert_eq!(server["pid"], std::process::id(), "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains("which runs but did not resolve it"),
        "{report}"
    );

    // Docker's embedded DNS in a container of a user-defined network: 127.0.0.11, its socket on
    // a random port that a DNAT rule sends 53 to. Nothing on port 53 there, but it is not said
    // to be stopped.
    c.write_etc(
        "resolv.conf",
        "nameserver 127.0.0.11\noptions timeout:1 attempts:1\n",
    )
    .unwrap();
    let _embedded = c
        .run(|| std::net::UdpSocket::bind("127.0.0.11:0"))
        .unwrap()
        .unwrap();
    let report = why(&lab, &["--timeout", "3s", "db.lab.test:5432"]);
    assert_eq!(cause(&report), "dns-failure", "{report}");
    let found = evidence(&report, "nameserver");
    assert_eq!(found[0]["listening"], Value::Null, "{report}");
    assert!(
        !report["summary"]
            .as_str()
            .unwrap()
            .contains("nothing receives"),
        "{report}"
    );

    // A name that does not exist is the name's fault: no nameserver is examined.
    c.write_etc("hosts", "127.0.0.1 localhost\n").unwrap();
    let report = why(&lab, &["--timeout", "3s", "localhost:1"]);
    assert!(evidence(&report, "nameserver").is_empty(), "{report}");
}

#[test]
fn ephemeral_ports_run_out() {
    let Some(lab) = Lab::or_skip("ephemeral_ports_run_out") else {
        return;
    };
    lab.client
        .sysctl("net.ipv4.ip_local_port_range", "40000 40001")
        .unwrap();
    let listener = lab
        .server
        .run(|| ListenSpec::new(SocketAddr::from((SERVER_V4, 0))).listen())
        .unwrap()
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let _held: Vec<TcpStream> = lab
        .client
        .run(|| {
            (0..2)
                .map(|_| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap())
                .collect()
        })
        .unwrap();
    let report = why(&lab, &[&addr.to_string()]);
    assert_eq!(cause(&report), "ports-exhausted", "{report}");
    assert_eq!(evidence(&report, "ephemeral-ports")[0]["low"], 40000);
}

/// The range reserved whole (`ip_local_reserved_ports`): no connection holds a port, and the
/// fix "count the connections holding them" found none. It names the reserved list.
#[test]
fn ephemeral_ports_all_reserved() {
    let Some(lab) = Lab::or_skip("ephemeral_ports_all_reserved") else {
        return;
    };
    let c = &lab.client;
    c.sysctl("net.ipv4.ip_local_port_range", "40000 40009")
        .unwrap();
    c.sysctl("net.ipv4.ip_local_reserved_ports", "39000-40009")
        .unwrap();
    let report = why(&lab, &[&SocketAddr::from((SERVER_V4, 22_810)).to_string()]);
    assert_eq!(cause(&report), "ports-exhausted", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains("every port of the ephemeral range is reserved"),
        "{report}"
    );
    assert_eq!(evidence(&report, "ephemeral-ports")[0]["reserved"], 10);
    assert!(
        !report["suggestions"].to_string().contains("ss -tan"),
        "{report}"
    );
}

/// Where the ephemeral range is the target's port alone, every connect to it with nothing
/// listening is connected to itself by the kernel (TCP simultaneous open): a plain client gets a
/// stream that echoes its own bytes. Nothing serves the port: `why` says so, `check` says down,
/// `wait` never calls it ready.
#[test]
fn a_port_the_kernel_connects_to_itself_is_not_reachable() {
    let Some(lab) = Lab::or_skip("a_port_the_kernel_connects_to_itself_is_not_reachable") else {
        return;
    };
    lab.client
        .sysctl("net.ipv4.ip_local_port_range", "40000 40000")
        .unwrap();
    let report = why(&lab, &["127.0.0.1:40000"]);
    assert_eq!(cause(&report), "no-listener", "{report}");
    assert_eq!(report["attempts"][0]["outcome"], "refused", "{report}");

    let check = lab
        .client
        .command(REFUSED)
        .args(["check", "127.0.0.1:40000"])
        .output()
        .unwrap();
    assert_eq!(check.status.code(), Some(1), "{check:?}");
    let wait = lab
        .client
        .command(REFUSED)
        .args(["wait", "--timeout", "1500ms", "127.0.0.1:40000"])
        .output()
        .unwrap();
    assert_eq!(wait.status.code(), Some(1), "{wait:?}");
}

#[test]
fn unix_sockets_missing_stale_and_forbidden() {
    if !Lab::root_or_skip("unix_sockets_missing_stale_and_forbidden") {
        return;
    }
    let dir = Scratch::new("why-unix");
    let target = |name: &str| format!("unix://{}", dir.join(name).display());
    let plain = || Command::new(REFUSED);

    let report = diagnosis(plain(), &[&target("missing.sock")]);
    assert_eq!(cause(&report), "socket-missing", "{report}");

    let stale = std::os::unix::net::UnixListener::bind(dir.join("stale.sock")).unwrap();
    drop(stale);
    let report = diagnosis(plain(), &[&target("stale.sock")]);
    assert_eq!(cause(&report), "socket-stale", "{report}");
    assert_eq!(evidence(&report, "unix-socket")[0]["listening"], false);

    let _private = std::os::unix::net::UnixListener::bind(dir.join("private.sock")).unwrap();
    std::fs::set_permissions(
        dir.join("private.sock"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let report = diagnosis(plain(), &[&target("private.sock")]);
    assert_eq!(cause(&report), "reachable", "{report}");
    // Another user (root may open anything).
    let mut as_nobody = Command::new("setpriv");
    as_nobody.args(["--reuid=65534", "--regid=65534", "--clear-groups", REFUSED]);
    let report = diagnosis(as_nobody, &[&target("private.sock")]);
    assert_eq!(cause(&report), "socket-permission-denied", "{report}");
    assert_eq!(evidence(&report, "unix-socket")[0]["mode"], "0600");
}

/// The human output, as a person reads it in a terminal (colours off).
#[test]
fn human_output_puts_the_cause_first() {
    let Some(lab) = Lab::or_skip_needing("human_output_puts_the_cause_first", &[Tool::Nft]) else {
        return;
    };
    let _web = listen_on_client(&lab, "127.0.0.1:8000".parse().unwrap());
    lab.client
        .filter("output", &["ip daddr 10.77.0.2 tcp dport 7100 drop"])
        .unwrap();
    let pid = std::process::id().to_string();
    let program = std::env::current_exe().unwrap();
    let program = program.file_name().unwrap().to_str().unwrap();
    // `/proc/PID/comm` keeps 15 bytes of the name.
    let comm = &program[..program.len().min(15)];
    let filters = [
        (pid.as_str(), "[PID]"),
        (comm, "[TEST]"),
        (r"\d+(\.\d+)? (ms|s)\b", "[TIME]"),
        (r"handle \d+", "handle [N]"),
    ];
    for (name, args) in [
        (
            "why_no_listener",
            vec!["--timeout", ROOMY, "127.0.0.1:8093"],
        ),
        ("why_wrong_port", vec!["--timeout", ROOMY, "127.0.0.1:8080"]),
        (
            "why_blocked_locally",
            vec!["--timeout", "1s", "10.77.0.2:7100"],
        ),
        ("why_closed", vec!["--timeout", ROOMY, "10.77.0.2:7101"]),
    ] {
        // The server is a remote host for the last two: nothing of its namespace is seen.
        let remote = args.iter().any(|a| a.starts_with("10.77.0.2"));
        let mut command = if remote {
            lab.client.command_alone(REFUSED)
        } else {
            lab.client.command(REFUSED)
        };
        let output = command
            .env("NO_COLOR", "1")
            .arg("why")
            .args(&args)
            .output()
            .unwrap();
        insta::with_settings!({ filters => filters.to_vec() }, {
            insta::assert_snapshot!(name, crate::common::render(&output));
        });
    }
}

/// A listener bound to an interface (`SO_BINDTODEVICE`: socat's `so-bindtodevice`, a server's
/// "interface" setting) takes only what comes in through it: a connection from this host to
/// 127.0.0.1 comes in through `lo` and is refused as if nothing listened. No firewall is there
/// to blame; the interface's own address is where it is reached.
#[test]
fn a_listener_bound_to_an_interface_is_named_with_its_address() {
    let Some(lab) = Lab::or_skip("a_listener_bound_to_an_interface_is_named_with_its_address")
    else {
        return;
    };
    let listener = lab
        .client
        .run(|| {
            ListenSpec::new(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))
                .device("eth0")
                .listen()
        })
        .unwrap()
        .unwrap();
    let port = listener.local_addr().unwrap().port();

    let report = why(&lab, &[&format!("127.0.0.1:{port}")]);
    assert_eq!(cause(&report), "listening-on-other-address", "{report}");
    let listeners = evidence(&report, "listener");
    assert_eq!(listeners[0]["device"], "eth0", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("bound to interface eth0 (SO_BINDTODEVICE)"),
        "{report}"
    );
    assert_eq!(
        report["suggestions"][0],
        format!("connect to {CLIENT_V4}:{port} instead (an address of eth0)"),
        "{report}"
    );

    // Through the interface's own address it connects.
    let report = why(&lab, &[&format!("{CLIENT_V4}:{port}")]);
    assert_eq!(cause(&report), "reachable", "{report}");
}

/// A name with IPv6 addresses only, asked from a namespace without IPv6 (its addresses
/// flushed, as an IPv4-only container is): no route, and the reason is the name's missing A
/// record or this host's missing IPv6, not a route to add by hand.
#[test]
fn an_ipv6_only_name_from_an_ipv4_only_host() {
    let Some(lab) =
        Lab::or_skip_needing("an_ipv6_only_name_from_an_ipv4_only_host", &[Tool::Dnsmasq])
    else {
        return;
    };
    let _listener = lab
        .server
        .run(|| TcpListener::bind((SERVER_V6, 7040)))
        .unwrap()
        .unwrap();
    lab.start_dns(&DnsZone::new().host("v6only.lab.test", &[SERVER_V6.into()]))
        .unwrap();
    lab.client
        .exec("ip", &["-6", "addr", "flush", "dev", "eth0"])
        .unwrap();
    let report = why(&lab, &["v6only.lab.test:7040"]);
    assert_eq!(cause(&report), "network-unreachable", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(
            "`v6only.lab.test` has IPv6 addresses only (no IPv4 address: no A record)"
        ),
        "{report}"
    );
    assert!(
        report["suggestions"][0]
            .as_str()
            .unwrap()
            .contains("`dig A v6only.lab.test`"),
        "{report}"
    );
}

/// The same from /etc/hosts, which has the name with an IPv6 address only (one no route of the
/// lab reaches): the line to add, not "its DNS lacks the A record" nor `dig`, which never reads
/// /etc/hosts (review h22).
#[test]
fn an_ipv6_only_name_of_etc_hosts_is_not_blamed_on_dns() {
    let Some(lab) = Lab::or_skip("an_ipv6_only_name_of_etc_hosts_is_not_blamed_on_dns") else {
        return;
    };
    lab.client
        .write_etc(
            "hosts",
            &format!("127.0.0.1 localhost\n{NO_ROUTE_V6} v6hosts.lab.test\n"),
        )
        .unwrap();
    let report = why(&lab, &["v6hosts.lab.test:48506"]);
    assert_eq!(cause(&report), "network-unreachable", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("`v6hosts.lab.test` has IPv6 addresses only in /etc/hosts"),
        "{report}"
    );
    let said = format!("{summary} {}", report["suggestions"]);
    assert!(
        !said.contains("A record") && !said.contains("dig"),
        "{report}"
    );
}

/// Debian's `127.0.1.1 HOSTNAME` line: a program bound to the host name's address, asked as
/// `localhost`. IPv4 was tried at 127.0.0.1 and refused too: the address is what is wrong, not
/// the family (it said "listens on 127.0.1.1 (IPv4 only), and `[::1]` is IPv6").
#[test]
fn a_program_bound_to_the_host_names_address_is_on_another_address() {
    let Some(lab) = Lab::or_skip("a_program_bound_to_the_host_names_address_is_on_another_address")
    else {
        return;
    };
    lab.client
        .write_etc(
            "hosts",
            "::1 localhost\n127.0.0.1 localhost\n127.0.1.1 labhost\n",
        )
        .unwrap();
    let _app = listen_on_client(&lab, "127.0.1.1:3001".parse().unwrap());
    let report = why(&lab, &["localhost:3001"]);
    assert_eq!(cause(&report), "listening-on-other-address", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.ends_with("listens on port 3001, but only on 127.0.1.1, not on 127.0.0.1"),
        "{report}"
    );
    assert_eq!(
        report["suggestions"][0], "connect to 127.0.1.1:3001 instead",
        "{report}"
    );
}

/// A name that gives `::1` and an address of another host that nobody answers for, and a
/// program on 127.0.0.1 only: the family is what is wrong, not "make the service listen on
/// 10.77.0.99 too", which this host does not have (review h22). Port 48504 is this test's.
#[test]
fn the_listeners_family_is_not_redirected_to_another_hosts_address() {
    let Some(lab) = Lab::or_skip("the_listeners_family_is_not_redirected_to_another_hosts_address")
    else {
        return;
    };
    lab.client
        .write_etc(
            "hosts",
            &format!("127.0.0.1 localhost\n::1 app.lab.test\n{UNUSED_V4} app.lab.test\n"),
        )
        .unwrap();
    let _app = listen_on_client(&lab, "127.0.0.1:48504".parse().unwrap());
    let report = why(&lab, &["--timeout", "4s", "app.lab.test:48504"]);
    assert_eq!(cause(&report), "listening-on-other-family", "{report}");
    let said = format!("{} {}", report["summary"], report["suggestions"]);
    assert!(!said.contains(&UNUSED_V4.to_string()), "{report}");
}

/// A name with both families, a dual-stack server, and this host's route that rejects the IPv6
/// address: the warning names the route, not "make the service listen on it too" (it does).
#[test]
fn a_failed_family_is_explained_by_its_own_cause() {
    let Some(lab) = Lab::or_skip("a_failed_family_is_explained_by_its_own_cause") else {
        return;
    };
    lab.client
        .write_etc(
            "hosts",
            &format!("127.0.0.1 localhost\n{SERVER_V6} both.lab.test\n{SERVER_V4} both.lab.test\n"),
        )
        .unwrap();
    let _dual = lab
        .server
        .run(|| {
            ListenSpec::new(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 3002)))
                .v6only(false)
                .listen()
        })
        .unwrap()
        .unwrap();
    lab.client
        .exec(
            "ip",
            &[
                "-6",
                "route",
                "add",
                "unreachable",
                &format!("{SERVER_V6}/128"),
            ],
        )
        .unwrap();
    let report = why_alone(&lab, &["both.lab.test:3002"]);
    assert_eq!(cause(&report), "reachable", "{report}");
    let warnings = report["warnings"].to_string();
    assert!(
        warnings.contains(
            "`both.lab.test` also gives fd00:77::2, and [fd00:77::2]:3002 was host-unreachable"
        ),
        "{report}"
    );
    assert!(
        warnings.contains(&format!("ip -6 route del unreachable {SERVER_V6}")),
        "{report}"
    );
    assert!(!warnings.contains("make the service listen"), "{report}");
}

/// A name with the server's address and one nobody on the link has: the server connects, and
/// the other address's warning is not guessed from rules and neighbours the connected path never
/// read ("rejected ... (ICMP host or admin prohibited): a firewall ... rejects it", "see \"not
/// seen\"" with nothing unseen): `why` of that address tells it. Port 48501 is this test's.
#[test]
fn a_silent_other_address_is_not_blamed_on_a_firewall() {
    let Some(lab) = Lab::or_skip("a_silent_other_address_is_not_blamed_on_a_firewall") else {
        return;
    };
    lab.client
        .write_etc(
            "hosts",
            &format!("127.0.0.1 localhost\n{SERVER_V4} two.lab.test\n{UNUSED_V4} two.lab.test\n"),
        )
        .unwrap();
    let _server = lab
        .server
        .run(|| ListenSpec::new(SocketAddr::from((SERVER_V4, 48_501))).listen())
        .unwrap()
        .unwrap();
    // Twice: ARP's first failure is a timeout, the next a fast EHOSTUNREACH.
    for _ in 0..2 {
        let report = why(&lab, &["--timeout", "4s", "two.lab.test:48501"]);
        assert_eq!(cause(&report), "reachable", "{report}");
        let warnings = report["warnings"].to_string();
        assert!(
            warnings.contains(&format!("connect to {SERVER_V4}; `"))
                && warnings.contains(&format!(" why {UNUSED_V4}:48501` tells why")),
            "{report}"
        );
        for guessed in ["firewall", "rejected", "not seen"] {
            assert!(!warnings.contains(guessed), "{guessed}: {report}");
        }
    }
}

/// Without root, another namespace's `::` listener, whose `IPV6_V6ONLY` cannot be read, and a
/// firewall's ICMP reject of IPv4 there: no TCP stack answers so, it is a rule, not the family
/// (it said "(IPv6 only)"). Nor is the namespace's first process named as the owner when it is
/// not its only one.
#[test]
fn without_root_a_reject_by_a_dual_stack_namespace_is_a_firewalls() {
    let test = "without_root_a_reject_by_a_dual_stack_namespace_is_a_firewalls";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Iptables]) else {
        return;
    };
    // Two processes of the namespace's own, neither the listener's owner.
    lab.server.spawn("sleep", &["60"]).unwrap();
    lab.server.spawn("sleep", &["61"]).unwrap();
    let _dual = lab
        .server
        .run(|| {
            ListenSpec::new(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 3003)))
                .v6only(false)
                .listen()
        })
        .unwrap()
        .unwrap();
    lab.server
        .iptables(&[
            "-A", "INPUT", "-p", "tcp", "--dport", "3003", "-j", "REJECT",
        ])
        .unwrap();
    let own = crate::why_hosts_lab::server_only_address(&lab);
    let target = format!("{own}:3003");
    let mut as_nobody = lab.client.command("setpriv");
    as_nobody.args(["--reuid=65534", "--regid=65534", "--clear-groups", REFUSED]);
    let report = diagnosis(as_nobody, &["--timeout", "10s", &target]);
    assert_ne!(cause(&report), "listening-on-other-family", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(summary.contains("a firewall rejects it"), "{report}");
    assert!(!summary.contains("sleep"), "{report}");
    assert!(summary.contains("a process of uid 0"), "{report}");
}
