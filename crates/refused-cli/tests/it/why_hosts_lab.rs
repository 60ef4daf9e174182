//! `refused why` on setups shaped like real hosts, in the lab: routes of this host that reject,
//! port proxies, containers' own addresses, published ports.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use refused_lab::{CLIENT_V4, FullQueue, Lab, ListenSpec, Tool};

use crate::why_lab::{cause, evidence, listen_on_client, why};

#[test]
fn a_rejecting_route_of_this_host_is_named_with_how_to_remove_it() {
    let Some(lab) = Lab::or_skip("a_rejecting_route_of_this_host_is_named_with_how_to_remove_it")
    else {
        return;
    };
    let routes: [(&[&str], &str, &str, &str); 4] = [
        (
            &["route", "add", "unreachable", "10.91.0.0/16"],
            "10.91.3.4:80",
            "network-unreachable",
            "unreachable",
        ),
        (
            &["route", "add", "prohibit", "10.92.0.0/16"],
            "10.92.3.4:80",
            "blocked-locally",
            "prohibit",
        ),
        (
            &["route", "add", "blackhole", "10.93.0.0/16"],
            "10.93.3.4:80",
            "network-unreachable",
            "blackhole",
        ),
        (
            &["-6", "route", "add", "prohibit", "fd93::/32"],
            "[fd93::4]:80",
            "blocked-locally",
            "prohibit",
        ),
    ];
    for (add, target, expected, kind) in routes {
        lab.client.ip(add).unwrap();
        let report = why(&lab, &[target, "--timeout", "2s"]);
        assert_eq!(cause(&report), expected, "{target}: {report}");
        let route = evidence(&report, "route");
        assert_eq!(route.len(), 1, "{target}: {report}");
        assert_eq!(route[0]["type"], kind, "{report}");
        assert_eq!(route[0]["destination"], add[add.len() - 1], "{report}");
        let suggestions = report["suggestions"].to_string();
        assert!(suggestions.contains("route del"), "{report}");
        assert!(
            !report["summary"].as_str().unwrap().contains("remote"),
            "{report}"
        );
    }
}

#[test]
fn localhost_while_the_program_listens_on_the_lan_address_only_is_another_address() {
    let Some(lab) = Lab::or_skip(
        "localhost_while_the_program_listens_on_the_lan_address_only_is_another_address",
    ) else {
        return;
    };
    let listener = listen_on_client(&lab, SocketAddr::new(CLIENT_V4.into(), 46101));
    let report = why(&lab, &["localhost:46101"]);
    assert_eq!(cause(&report), "listening-on-other-address", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(summary.contains(&CLIENT_V4.to_string()), "{report}");
    let suggestions = report["suggestions"].to_string();
    assert!(
        suggestions.contains(&format!("{CLIENT_V4}:46101")),
        "{report}"
    );
    assert!(!suggestions.contains("`127.0.0.1`"), "{report}");
    drop(listener);
}

/// The server namespace plays a container of the client's host: its own address is local
/// evidence, read from its tables like this host's.
#[test]
fn a_containers_own_address_is_explained_from_its_listeners() {
    let Some(lab) = Lab::or_skip("a_containers_own_address_is_explained_from_its_listeners") else {
        return;
    };
    let own = server_only_address(&lab);
    let in_server = |addr: SocketAddr| {
        lab.server
            .run(|| ListenSpec::new(addr).listen())
            .unwrap()
            .unwrap()
    };
    let namespace = |report: &serde_json::Value| {
        let found = evidence(report, "namespace");
        assert_eq!(found.len(), 1, "{report}");
        assert_eq!(found[0]["netns"], lab.server.name(), "{report}");
    };

    // Its accept queue is full: the SYNs are dropped, and the queue says why.
    let full = lab
        .server
        .run(|| FullQueue::with_backlog(SocketAddr::new(own.into(), 46201), 0))
        .unwrap()
        .unwrap();
    let report = why(&lab, &["--timeout", "1s", &format!("{own}:46201")]);
    assert_eq!(cause(&report), "listen-queue-full", "{report}");
    assert_eq!(evidence(&report, "listener")[0]["port"], 46201);
    namespace(&report);
    drop(full);

    // The program inside listens on its own loopback only (the classic `127.0.0.1` in a
    // container): another address, and the fix is inside it.
    let _loopback = in_server(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 46202));
    let report = why(&lab, &[&format!("{own}:46202")]);
    assert_eq!(cause(&report), "listening-on-other-address", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains("only programs inside"),
        "{report}"
    );
    assert!(
        report["suggestions"].to_string().contains("0.0.0.0"),
        "{report}"
    );
    namespace(&report);

    // A near port there is the wrong port; nothing at all is no listener, in that namespace.
    let _near = in_server(SocketAddr::new(own.into(), 46213));
    let report = why(&lab, &[&format!("{own}:46203")]);
    assert_eq!(cause(&report), "wrong-port", "{report}");
    assert_eq!(evidence(&report, "listener")[0]["port"], 46213);
    let report = why(&lab, &[&format!("{own}:46299")]);
    assert_eq!(cause(&report), "no-listener", "{report}");
    assert!(
        report["summary"]
            .as_str()
            .unwrap()
            .contains(lab.server.name()),
        "{report}"
    );
    namespace(&report);

    // Seen from a machine of its own, the same address is a remote host's.
    let report = crate::why_lab::why_alone(&lab, &[&format!("{own}:46299")]);
    assert_eq!(cause(&report), "closed", "{report}");
}

/// An address of this lab's server alone (every lab's server holds `SERVER_V4`, and other
/// tests' labs run beside this one), routed from the client: one namespace of the machine
/// holds it.
pub(crate) fn server_only_address(lab: &Lab) -> Ipv4Addr {
    let pid = std::process::id();
    let own = Ipv4Addr::new(10, 78, (pid >> 8) as u8, (pid & 0xff) as u8);
    lab.server
        .ip(&["addr", "add", &format!("{own}/32"), "dev", "eth0"])
        .unwrap();
    lab.client
        .ip(&["route", "add", &format!("{own}/32"), "dev", "eth0"])
        .unwrap();
    own
}

/// A port of the client published into the server by the nat rules Docker writes for
/// `docker run -p 46301:46302` (the DOCKER chain, reached from nat OUTPUT for local addresses):
/// the listener behind the rule decides, and the fix is not "publish the port".
#[test]
fn a_published_port_is_followed_to_the_container_behind_it() {
    let Some(lab) = Lab::or_skip_needing(
        "a_published_port_is_followed_to_the_container_behind_it",
        &[Tool::Iptables],
    ) else {
        return;
    };
    published_port_is_followed(&lab);
}

/// The same, on a host whose `iptables` is the legacy one (Docker then writes its rules to the
/// `x_tables`, which nft does not show): the legacy rules are read and followed.
#[test]
fn a_port_published_by_legacy_rules_is_followed_too() {
    let Some(lab) = Lab::or_skip_needing(
        "a_port_published_by_legacy_rules_is_followed_too",
        &[Tool::Iptables],
    ) else {
        return;
    };
    lab.client.use_legacy_iptables().unwrap();
    published_port_is_followed(&lab);
    let output = lab.client.exec("iptables-legacy-save", &[]).unwrap();
    assert!(String::from_utf8_lossy(&output.stdout).contains("-j DNAT"));
    let report = why(&lab, &[&format!("{CLIENT_V4}:46301")]);
    let dnat = &evidence(&report, "dnat")[0];
    assert_eq!(dnat["tool"], "iptables-legacy", "{report}");
    assert!(dnat.get("handle").is_none(), "{report}");
    assert!(
        dnat["rule"]
            .as_str()
            .unwrap()
            .starts_with("-A DOCKER ! -i docker0 -p tcp -m tcp --dport 46301 -j DNAT"),
        "{report}"
    );
}

fn published_port_is_followed(lab: &Lab) {
    let own = server_only_address(lab);
    docker_publishes(lab, 46301, SocketAddr::new(own.into(), 46302));
    let target = format!("{CLIENT_V4}:46301");
    let dnat = |report: &serde_json::Value| {
        let found = evidence(report, "dnat");
        assert_eq!(found.len(), 1, "{report}");
        assert_eq!(found[0]["chain"], "DOCKER", "{report}");
        assert!(
            report["summary"]
                .as_str()
                .unwrap()
                .contains("is published to"),
            "{report}"
        );
    };

    // Nothing listens behind it: the container's program is not running.
    let report = why(lab, &[&target]);
    assert_eq!(cause(&report), "no-listener", "{report}");
    dnat(&report);

    // The program in the container listens on its loopback only.
    let in_server = |addr: SocketAddr| {
        lab.server
            .run(|| ListenSpec::new(addr).listen())
            .unwrap()
            .unwrap()
    };
    let loopback = in_server(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 46302));
    let report = why(lab, &[&target]);
    assert_eq!(cause(&report), "listening-on-other-address", "{report}");
    dnat(&report);
    assert!(
        !report["suggestions"].to_string().contains("publish"),
        "{report}"
    );
    drop(loopback);

    // It listens on another port than the one published: publish that one.
    let _near = in_server(SocketAddr::new(own.into(), 46303));
    let report = why(lab, &[&target]);
    assert_eq!(cause(&report), "wrong-port", "{report}");
    dnat(&report);
    assert!(
        report["suggestions"][0]
            .as_str()
            .unwrap()
            .contains("docker run -p 46301:46303"),
        "{report}"
    );

    // With the program listening where the rule sends it, the published port works, but not on
    // loopback: Docker's rules skip 127.0.0.0/8 (its proxy listens there, when it runs).
    let _right = in_server(SocketAddr::new(own.into(), 46302));
    assert_eq!(cause(&why(lab, &[&target])), "reachable");
    let report = why(lab, &["127.0.0.1:46301"]);
    assert_eq!(cause(&report), "listening-on-other-address", "{report}");
    assert_eq!(evidence(&report, "dnat").len(), 1, "{report}");
    assert!(
        report["suggestions"][0]
            .as_str()
            .unwrap()
            .contains(&format!("{CLIENT_V4}:46301")),
        "{report}"
    );
}

/// The nat rules Docker writes for a published port: the DOCKER chain, reached from nat OUTPUT
/// for this host's own addresses but not loopback, with a DNAT of `port` to `to`.
fn docker_publishes(lab: &Lab, port: u16, to: SocketAddr) {
    let (port, to) = (port.to_string(), to.to_string());
    let client = &lab.client;
    client.iptables(&["-t", "nat", "-N", "DOCKER"]).unwrap();
    let jump = "-t nat -A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER";
    client
        .iptables(&jump.split(' ').collect::<Vec<_>>())
        .unwrap();
    let dnat =
        "-t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport PORT -j DNAT --to-destination TO";
    let dnat = dnat.replace("PORT", &port).replace("TO", &to);
    client
        .iptables(&dnat.split(' ').collect::<Vec<_>>())
        .unwrap();
}

/// The server namespace plays a container of the client's host, with its own firewall (ufw
/// inside it) that rejects one port and drops the others (ufw's default deny incoming). The
/// client host's own ufw rejects the same port coming in, which a connection going out never
/// meets: no rule of this host is to blame; the container's reject and its default drop are
/// each named as the container's. Ports 22510-22519 are this test's.
#[test]
fn a_firewall_inside_a_container_of_this_host_is_named_as_the_containers() {
    let test = "a_firewall_inside_a_container_of_this_host_is_named_as_the_containers";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Ufw]) else {
        return;
    };
    let own = server_only_address(&lab);
    let (rejected, dropped) = (22_510, 22_511);
    // `[::]`, dual-stack: the listener's own address is not the one asked.
    let _open: Vec<_> = [rejected, dropped]
        .iter()
        .map(|&port| {
            lab.server
                .run(|| {
                    ListenSpec::new(SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)))
                        .v6only(false)
                        .listen()
                })
                .unwrap()
                .unwrap()
        })
        .collect();
    lab.server
        .ufw(&["reject", &format!("{rejected}/tcp")])
        .unwrap();
    lab.client
        .ufw(&["reject", &format!("{rejected}/tcp")])
        .unwrap();
    let netns = lab.server.name();
    let suggests = |report: &serde_json::Value, needle: &str| {
        report["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().unwrap().contains(needle))
    };

    let report = why(&lab, &[&format!("{own}:{rejected}")]);
    assert_eq!(cause(&report), "blocked-locally", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!(
            "listens on [::]:{rejected} in network namespace {netns}"
        )) && summary.contains("that namespace's own firewall stops it: `tcp dport 22510 reject"),
        "{summary}"
    );
    assert!(!summary.contains("this host's"), "{summary}");
    assert!(
        suggests(
            &report,
            &format!("`ip netns exec {netns} ufw status numbered`")
        ),
        "{report}"
    );
    assert!(!suggests(&report, "`sudo ufw"), "{report}");
    let rules = evidence(&report, "firewall-rule");
    assert_eq!(rules.len(), 1, "{report}");
    assert_eq!(rules[0]["chain"], "ufw-user-input", "{report}");

    // The other ports meet ufw's default policy of the container: its own drop, named.
    let asked = format!("{own}:{dropped}");
    let report = why(&lab, &["--timeout", "1s", &asked]);
    assert_eq!(cause(&report), "blocked-locally", "{report}");
    assert!(suggests(&report, "ufw allow 22511/tcp"), "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!(
            "listens on [::]:{dropped} in network namespace {netns}"
        )) && summary.contains(&format!("the connection to {asked} got no answer")),
        "the listener's own endpoint and the address asked: {summary}"
    );
    assert!(
        suggests(&report, &format!("ip netns exec {netns} ufw")),
        "{report}"
    );
}

/// The server sends its replies back by a second link (its own route to the client's address
/// goes there), and the client's reverse-path filter is strict: the replies come in by another
/// interface than the route out leaves by, and the client drops them. With conntrack's word
/// that the reply came, this host's filter is named, with the counter that rose and how to
/// make it loose; without it, a warning only; loose, the port connects.
/// (The server announces its second link's own address in ARP, as a router would: else the
/// client's filter drops the ARP request too, and no reply is ever sent.) Port 22520 is this
/// test's.
#[test]
fn replies_a_strict_reverse_path_filter_drops_are_this_hosts() {
    let Some(lab) = Lab::or_skip("replies_a_strict_reverse_path_filter_drops_are_this_hosts")
    else {
        return;
    };
    let server = SocketAddr::from((refused_lab::SERVER_V4, 22_520));
    let _open = lab
        .server
        .run(|| ListenSpec::new(server).listen())
        .unwrap()
        .unwrap();
    lab.client.veth("rp0", &lab.server, "rp1").unwrap();
    for (netns, link, address) in [
        (&lab.client, "rp0", "10.79.0.1/24"),
        (&lab.server, "rp1", "10.79.0.2/24"),
    ] {
        netns.ip(&["addr", "add", address, "dev", link]).unwrap();
        netns.ip(&["link", "set", link, "up"]).unwrap();
    }
    lab.server
        .sysctl("net.ipv4.conf.rp1.arp_announce", "2")
        .unwrap();
    lab.server
        .ip(&[
            "route",
            "add",
            &format!("{CLIENT_V4}/32"),
            "via",
            "10.79.0.1",
            "dev",
            "rp1",
        ])
        .unwrap();
    lab.client
        .sysctl("net.ipv4.conf.all.rp_filter", "1")
        .unwrap();
    lab.client
        .sysctl("net.ipv4.conf.rp0.rp_filter", "1")
        .unwrap();

    // No rule of the client asks conntrack to track: the namespace's counter rose, but whose
    // packets it counted, nothing says. `filtered`, and the filter a warning.
    let report = why(&lab, &["--timeout", "2s", &server.to_string()]);
    assert_eq!(cause(&report), "filtered", "{report}");
    assert!(
        report["warnings"]
            .to_string()
            .contains("reverse-path filter"),
        "{report}"
    );
    // A stateful rule (as any stateful firewall has) makes conntrack track: it saw the reply,
    // which never reached the socket.
    lab.client
        .nft("add table inet stateful; add chain inet stateful in { type filter hook input priority 0; policy accept; }; add rule inet stateful in ct state established accept")
        .unwrap();
    let report = why(&lab, &["--timeout", "2s", &server.to_string()]);
    assert_eq!(cause(&report), "blocked-locally", "{report}");
    let filter = &evidence(&report, "reverse-path-filter")[0];
    assert!(filter["dropped"].as_u64().unwrap() >= 1, "{report}");
    assert!(
        filter["strict_interfaces"]
            .as_array()
            .unwrap()
            .contains(&"rp0".into()),
        "{report}"
    );
    assert!(
        report["suggestions"]
            .to_string()
            .contains("net.ipv4.conf.rp0.rp_filter=2"),
        "{report}"
    );

    lab.client
        .sysctl("net.ipv4.conf.rp0.rp_filter", "2")
        .unwrap();
    assert_eq!(cause(&why(&lab, &[&server.to_string()])), "reachable");
}

/// `localhost.:8080`, pasted with its final dot: glibc's files lookup matches names as written,
/// so /etc/hosts's `localhost` is not it, and DNS is asked (here a nameserver of the client's
/// own with nothing on port 53). The report said only that the resolver failed; it now says to
/// drop the dot first.
#[test]
fn localhost_with_a_final_dot_is_told_to_drop_it() {
    let Some(lab) = Lab::or_skip("localhost_with_a_final_dot_is_told_to_drop_it") else {
        return;
    };
    let c = &lab.client;
    c.write_etc(
        "resolv.conf",
        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    )
    .unwrap();
    c.write_etc("hosts", "127.0.0.1 localhost\n::1 localhost\n")
        .unwrap();
    let report = why(&lab, &["--timeout", "3s", "localhost.:8080"]);
    assert!(cause(&report).starts_with("dns-"), "{report}");
    assert!(
        report["suggestions"][0]
            .as_str()
            .unwrap()
            .starts_with("write `localhost`, without the final dot"),
        "{report}"
    );
    // Without the dot, /etc/hosts answers.
    let report = why(&lab, &["--timeout", "3s", "localhost:8080"]);
    assert_eq!(cause(&report), "no-listener", "{report}");
}
