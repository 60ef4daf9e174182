//! `refused why` to another namespace of this host that is reached across a path: behind the
//! lab's server as a router, or behind a DNAT of the server's (a Docker host seen from another
//! machine of this host). What that namespace's listeners say is not the whole answer.

use std::net::{Ipv4Addr, SocketAddr};

use refused_lab::{CLIENT_V4, Lab, ListenSpec, Netns, SERVER_V4, Tool};

use crate::why_lab::{cause, evidence, why};

/// A third host linked to the lab's server (which forwards), at an address of its own that the
/// client routes through the server: the address the holder holds, and the server's end.
pub(crate) fn behind_the_server(
    lab: &Lab,
    letter: char,
    subnet: u8,
) -> (Netns, Ipv4Addr, Ipv4Addr) {
    let pid = std::process::id();
    let (high, low) = ((pid >> 8) as u8, (pid & 0xff) as u8);
    let (own, gateway) = (
        Ipv4Addr::new(10, subnet, high, low),
        Ipv4Addr::new(10, subnet + 1, high, low),
    );
    let host = lab.another(letter).unwrap();
    let link = format!("{letter}0");
    lab.server.veth(&link, &host, "eth0").unwrap();
    lab.server
        .ip(&["addr", "add", &format!("{gateway}/32"), "dev", &link])
        .unwrap();
    lab.server.ip(&["link", "set", &link, "up"]).unwrap();
    lab.server
        .ip(&["route", "add", &format!("{own}/32"), "dev", &link])
        .unwrap();
    lab.server.sysctl("net.ipv4.ip_forward", "1").unwrap();
    host.ip(&["addr", "add", &format!("{own}/32"), "dev", "eth0"])
        .unwrap();
    host.ip(&["link", "set", "eth0", "up"]).unwrap();
    host.ip(&["route", "add", &format!("{gateway}/32"), "dev", "eth0"])
        .unwrap();
    host.ip(&["route", "add", "default", "via", &gateway.to_string()])
        .unwrap();
    (host, own, gateway)
}

/// The server as a Docker host: a namespace behind it (`behind_the_server(letter, subnet)`)
/// plays the container, the server gets an address of its own, `10.HOST_NET.x.y` (no other
/// lab's server holds it), and its nat PREROUTING sends `port` there to the container's port 80
/// (-> DOCKER -> DNAT, as Docker writes it). Returns the container, its address and the host's.
fn docker_host(
    lab: &Lab,
    letter: char,
    subnet: u8,
    host_net: u8,
    port: u16,
) -> (Netns, Ipv4Addr, Ipv4Addr) {
    let (container, inside, _) = behind_the_server(lab, letter, subnet);
    let pid = std::process::id();
    let host = Ipv4Addr::new(10, host_net, (pid >> 8) as u8, (pid & 0xff) as u8);
    lab.server
        .ip(&["addr", "add", &format!("{host}/32"), "dev", "eth0"])
        .unwrap();
    lab.client
        .ip(&["route", "add", &format!("{host}/32"), "dev", "eth0"])
        .unwrap();
    let dnat = format!(
        "-t nat -A DOCKER ! -i docker0 -p tcp -m tcp --dport {port} -j DNAT --to-destination {inside}:80"
    );
    for rule in [
        "-t nat -N DOCKER",
        "-t nat -A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
        &dnat,
    ] {
        lab.server
            .iptables(&rule.split(' ').collect::<Vec<_>>())
            .unwrap();
    }
    (container, inside, host)
}

pub(crate) fn listen_in(netns: &Netns, addr: SocketAddr) -> std::net::TcpListener {
    netns
        .run(|| ListenSpec::new(addr).listen())
        .unwrap()
        .unwrap()
}

/// The server routes to a third namespace that listens, with no rules of its own: a reject of
/// the router (a reset, or ICMP port-unreachable) is the path's, not that namespace's firewall;
/// a reject of its own is named; and without a route back, the missing route is. Ports
/// 46541-46544 are this test's.
#[test]
fn a_namespace_behind_a_router_is_told_apart_from_its_own_firewall_and_routes() {
    let test = "a_namespace_behind_a_router_is_told_apart_from_its_own_firewall_and_routes";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Nft]) else {
        return;
    };
    let (host, own, _) = behind_the_server(&lab, 'h', 79);
    lab.client
        .ip(&[
            "route",
            "add",
            &format!("{own}/32"),
            "via",
            &SERVER_V4.to_string(),
        ])
        .unwrap();
    let listening: Vec<_> = (46_541..=46_544)
        .map(|port| listen_in(&host, SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), port)))
        .collect();
    lab.server
        .nft(
            "table inet lab_router {\n chain forward {\n  type filter hook forward priority 0;\n  tcp dport 46541 reject with tcp reset\n  tcp dport 46542 reject with icmp type port-unreachable\n }\n}\n",
        )
        .unwrap();
    host.filter("input", &["tcp dport 46543 reject with tcp reset"])
        .unwrap();
    let netns = host.name();

    // The router's ICMP reject says who rejected, and what listens behind it.
    let report = why(&lab, &[&format!("{own}:46542")]);
    assert_eq!(cause(&report), "rejected", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!(
            "was rejected by the router {SERVER_V4} on the way"
        )),
        "{summary}"
    );
    assert_eq!(evidence(&report, "listener").len(), 1, "{report}");
    // Its reset, in the target's name, looks like the target's own: the path or that host.
    let report = why(&lab, &[&format!("{own}:46541")]);
    assert_eq!(cause(&report), "closed", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!("in network namespace {netns}"))
            && summary.contains(&format!(
                "something on the path (via {SERVER_V4}) rejects it"
            )),
        "{summary}"
    );
    assert!(
        !summary.contains("a firewall of that namespace"),
        "{summary}"
    );

    let report = why(&lab, &[&format!("{own}:46543")]);
    assert_eq!(cause(&report), "blocked-locally", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains("that namespace's own firewall stops it: `tcp dport 46543 reject"),
        "{summary}"
    );
    let rules = evidence(&report, "firewall-rule");
    assert_eq!(rules.len(), 1, "{report}");
    // Whose rule it is, in the JSON as in the words.
    assert_eq!(rules[0]["netns"], netns, "{report}");
    assert!(
        report["suggestions"][0]
            .as_str()
            .unwrap()
            .contains(&format!(
                "ip netns exec {netns} nft delete rule inet lab_input input handle"
            )),
        "{report}"
    );

    // No route back to the client: the request arrives, the reply never leaves.
    host.ip(&["route", "del", "default"]).unwrap();
    let report = why(&lab, &["--timeout", "1s", &format!("{own}:46544")]);
    assert_eq!(cause(&report), "filtered", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!(
            "that namespace has no route back to {}",
            refused_lab::CLIENT_V4
        )),
        "{summary}"
    );
    assert!(
        report["suggestions"][0]
            .as_str()
            .unwrap()
            .contains(&format!("ip netns exec {netns} ip route add")),
        "{report}"
    );
    drop(listening);
    drop(host);
}

/// The server plays a Docker host that publishes its port 46551 to a container behind it
/// (nat PREROUTING -> DOCKER -> DNAT) whose program is down, seen from another namespace of this
/// machine: the answer is the container's, as on the Docker host itself, whether or not a
/// docker-proxy listens on the published port; and when its program listens on another port,
/// that port is offered with the publishing to change.
#[test]
fn a_port_another_namespace_publishes_by_dnat_is_followed_to_its_container() {
    let test = "a_port_another_namespace_publishes_by_dnat_is_followed_to_its_container";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Iptables]) else {
        return;
    };
    let (container, inside, host) = docker_host(&lab, 'k', 81, 83, 46_551);
    let to = format!("{inside}:80");
    let target = format!("{host}:46551");
    let expected = format!(
        "{target} is published to {to} by the DNAT rule (chain `DOCKER`) of network namespace {}, which holds {host}; there, nothing listens on port 80 in network namespace {}",
        lab.server.name(),
        container.name()
    );
    let check = |report: &serde_json::Value| {
        assert_eq!(cause(report), "no-listener", "{report}");
        assert!(
            report["summary"].as_str().unwrap().starts_with(&expected),
            "{report}"
        );
        assert_eq!(evidence(report, "dnat").len(), 1, "{report}");
        assert!(
            report["suggestions"][0]
                .as_str()
                .unwrap()
                .contains(&format!("ip netns exec {} ss -ltnp", container.name())),
            "{report}"
        );
    };
    check(&why(&lab, &[&target]));
    // docker-proxy on the published port: the DNAT takes the connection before it.
    let _proxy = listen_in(
        &lab.server,
        SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 46_551),
    );
    check(&why(&lab, &[&target]));
    // The container's program listens, on its own port, not the one published to: that port is
    // offered, with the publishing to change.
    let _program = listen_in(
        &container,
        SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 3000),
    );
    let report = why(&lab, &[&target]);
    assert_eq!(cause(&report), "wrong-port", "{report}");
    assert!(
        report["summary"].as_str().unwrap().ends_with(
            "listens on 0.0.0.0:3000 there (the only port anything listens on in that namespace)"
        ),
        "{report}"
    );
    assert_eq!(
        report["suggestions"][0].as_str().unwrap(),
        "publish the port the program listens on: `docker run -p 46551:3000 ...` (compose: `ports: [\"46551:3000\"]`)",
        "{report}"
    );
    drop(container);
}

/// The server plays a Docker host with its default userland proxy: Debian's real `docker-proxy`,
/// run alone, publishes 127.0.0.1:46561 to a namespace behind it, which plays the container
/// (at an address of this test's own: every lab's server holds the same one). The proxy
/// accepts and closes each connection when its own to the container fails, which alone reads
/// as a proxy with its backend down; the cause is where it sends it: the container's program
/// listens on 3000, not on 80 (`wrong-port`, with the `-p` to use). Without root, the
/// container's listeners are unseen, but a refused connect there still proves nothing listens
/// on 80. Port 46561 is this test's.
#[test]
fn a_docker_proxy_closing_connections_is_explained_where_it_sends_them() {
    let test = "a_docker_proxy_closing_connections_is_explained_where_it_sends_them";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::DockerProxy]) else {
        return;
    };
    let (container, inside, _) = behind_the_server(&lab, 'd', 87);
    let target = docker_proxy(&lab, 46_561, inside);
    let target = target.as_str();
    let _program = listen_in(
        &container,
        SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 3000),
    );
    let published = format!("{target} is published to {inside}:80 by docker-proxy (pid ");

    let report = crate::why_lab::diagnosis(
        lab.server.command(crate::why_lab::REFUSED),
        &["--timeout", "10s", target],
    );
    assert_eq!(cause(&report), "wrong-port", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(summary.starts_with(&published), "{report}");
    assert!(
        summary.ends_with(&format!(
            "there, nothing listens on port 80 in network namespace {}, which holds {inside}, but {} listens on 0.0.0.0:3000 there (the only port anything listens on in that namespace)",
            container.name(),
            // The listener is this test's own socket, made inside the server's namespace.
            report_owner(&report)
        )),
        "{report}"
    );
    assert_eq!(
        report["suggestions"][0].as_str().unwrap(),
        "publish the port the program listens on: `docker run -p 46561:3000 ...` (compose: `ports: [\"46561:3000\"]`)",
        "{report}"
    );
    let proxy = &evidence(&report, "port-proxy")[0];
    assert_eq!(proxy["process"], "docker-proxy", "{report}");
    assert_eq!(proxy["listens"], target, "{report}");
    assert_eq!(proxy["to"], format!("{inside}:80"), "{report}");
    assert_eq!(proxy["outcome"], "refused", "{report}");

    // Without root: the container's listeners cannot be read, the refused connect still tells.
    let mut as_nobody = lab.server.command("setpriv");
    as_nobody.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        crate::why_lab::REFUSED,
    ]);
    let report = crate::why_lab::diagnosis(as_nobody, &["--timeout", "10s", target]);
    assert_eq!(cause(&report), "no-listener", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(summary.starts_with(&published), "{report}");
    assert!(
        summary.ends_with(&format!("there, nothing listens on port 80 at {inside}")),
        "{report}"
    );
    assert_eq!(evidence(&report, "port-proxy").len(), 1, "{report}");
    drop(container);
}

/// Debian's real `docker-proxy` in front of a container whose own firewall drops the port its
/// program listens on: the proxy accepts, and waits on its own connect, which gets no answer;
/// an HTTP probe meets silence. The cause is the container's rule, not "wait for it" (a
/// silence was not followed to where the proxy sends it). Port 46562 is this test's.
#[test]
fn a_docker_proxy_waiting_on_a_silent_container_is_explained_there() {
    let test = "a_docker_proxy_waiting_on_a_silent_container_is_explained_there";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::DockerProxy]) else {
        return;
    };
    let (container, inside, _) = behind_the_server(&lab, 'y', 95);
    let _program = listen_in(
        &container,
        SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 80),
    );
    container
        .nft("add table inet c; add chain inet c in { type filter hook input priority 0; }; add rule inet c in tcp dport 80 drop")
        .unwrap();
    let target = docker_proxy(&lab, 46_562, inside);
    let target = target.as_str();
    let report = crate::why_lab::diagnosis(
        lab.server.command(crate::why_lab::REFUSED),
        &["--timeout", "4s", &format!("http://{target}/")],
    );
    assert_eq!(cause(&report), "blocked-locally", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(&format!(
            "{target} is published to {inside}:80 by docker-proxy (pid "
        )) && summary.contains("waits on its own"),
        "{report}"
    );
    assert_eq!(
        evidence(&report, "port-proxy")[0]["outcome"],
        "timeout",
        "{report}"
    );
    assert!(
        !report["suggestions"].to_string().contains("wait for it"),
        "{report}"
    );
    drop(container);
}

/// Debian's real `docker-proxy` in the server's namespace, publishing 127.0.0.1:`port` to
/// `inside`:80, as Docker starts it; returns the published address once the proxy listens.
fn docker_proxy(lab: &Lab, port: u16, inside: Ipv4Addr) -> String {
    // Docker hands it a pipe as fd 3 to say it started; without one, the fd it writes to and
    // closes is its own listening socket's.
    let proxy = format!(
        "exec docker-proxy -proto tcp -host-ip 127.0.0.1 -host-port {port} -container-ip {inside} -container-port 80 3>/dev/null"
    );
    lab.server.spawn("sh", &["-c", &proxy]).unwrap();
    let target = format!("127.0.0.1:{port}");
    // The proxy binds its port once it has started.
    for _ in 0..100 {
        if lab
            .server
            .run(|| std::net::TcpStream::connect(&target).is_ok())
            .unwrap()
        {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    target
}

/// Who a listener of the report's evidence belongs to, as the summary names it.
fn report_owner(report: &serde_json::Value) -> String {
    let listener = &evidence(report, "listener")[0];
    match (listener["process"].as_str(), listener["pid"].as_u64()) {
        (Some(process), Some(pid)) => format!("{process} (pid {pid})"),
        _ => "a process".to_owned(),
    }
}

/// The server plays a Docker host whose own rule in DOCKER-USER (reached from FORWARD, where
/// Docker tells its users to put theirs) drops the port its DNAT sends to a container that
/// listens as it should: seen from another namespace, that rule is named, with how to delete it
/// in the host's namespace; once deleted, the port connects. Port 46571 is this test's.
#[test]
fn a_docker_hosts_forward_rule_dropping_a_published_port_is_named() {
    let test = "a_docker_hosts_forward_rule_dropping_a_published_port_is_named";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Iptables]) else {
        return;
    };
    let (container, _, host) = docker_host(&lab, 'f', 89, 91, 46_571);
    for rule in [
        "-N DOCKER-USER",
        "-A FORWARD -j DOCKER-USER",
        "-A DOCKER-USER -p tcp -m tcp --dport 80 -j DROP",
        "-A DOCKER-USER -j RETURN",
    ] {
        lab.server
            .iptables(&rule.split(' ').collect::<Vec<_>>())
            .unwrap();
    }
    let _program = listen_in(
        &container,
        SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 80),
    );
    let target = format!("{host}:46571");
    let report = why(&lab, &["--timeout", "3s", &target]);
    assert_eq!(cause(&report), "blocked-locally", "{report}");
    assert!(
        report["summary"].as_str().unwrap().ends_with(
            "that namespace's own firewall stops it: `tcp dport 80 drop` (table `ip filter`, chain `DOCKER-USER`, reached by FORWARD -> DOCKER-USER)"
        ),
        "{report}"
    );
    let rule = &evidence(&report, "firewall-rule")[0];
    assert_eq!(rule["hook"], "forward", "{report}");
    assert_eq!(rule["netns"], lab.server.name(), "{report}");
    assert_eq!(
        evidence(&report, "dnat")[0]["netns"],
        lab.server.name(),
        "{report}"
    );
    assert!(
        report["suggestions"][0]
            .as_str()
            .unwrap()
            .contains(&format!(
                "ip netns exec {} iptables -D DOCKER-USER 1",
                lab.server.name()
            )),
        "{report}"
    );
    lab.server.iptables(&["-D", "DOCKER-USER", "1"]).unwrap();
    assert_eq!(cause(&why(&lab, &[&target])), "reachable");
    drop(container);
}

/// A link-local address with its interface, held by another namespace whose own firewall
/// rejects the port: its rules are read and the rule named, as for its global address (the
/// way in was looked up without the interface, found none, and said its rules could not be
/// read). Port 46546 is this test's.
#[test]
fn a_link_local_address_of_another_namespace_has_its_rules_read() {
    let test = "a_link_local_address_of_another_namespace_has_its_rules_read";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Nft]) else {
        return;
    };
    let address = crate::check_lab::server_link_local(&lab);
    let _listening = listen_in(
        &lab.server,
        SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), 46_546),
    );
    lab.server
        .filter("input", &["tcp dport 46546 reject with tcp reset"])
        .unwrap();
    let report = why(&lab, &[&format!("[{address}%eth0]:46546")]);
    assert_eq!(cause(&report), "blocked-locally", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains("that namespace's own firewall stops it: `tcp dport 46546 reject"),
        "{summary}"
    );
    assert_eq!(
        evidence(&report, "firewall-rule")[0]["netns"],
        lab.server.name(),
        "{report}"
    );
}

/// Nothing listens on the port in another namespace of this host, and that namespace's own
/// firewall drops it (a container's own ufw, default deny): the rule is named, the missing
/// listener after it; it was `filtered` with a cloud's security groups as the fix.
#[test]
fn a_namespaces_own_drop_is_named_when_nothing_listens_there() {
    let test = "a_namespaces_own_drop_is_named_when_nothing_listens_there";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Nft]) else {
        return;
    };
    let own = crate::why_hosts_lab::server_only_address(&lab);
    lab.server
        .filter("input", &["tcp dport 7035 drop"])
        .unwrap();
    let report = why(&lab, &["--timeout", "3s", &format!("{own}:7035")]);
    assert_eq!(cause(&report), "blocked-locally", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("nothing listens on port 7035 in network namespace"),
        "{report}"
    );
    assert!(summary.contains("tcp dport 7035 drop"), "{report}");
    let fixes = report["suggestions"].as_array().unwrap();
    assert!(
        fixes
            .last()
            .unwrap()
            .as_str()
            .unwrap()
            .starts_with("then start the service there"),
        "{report}"
    );
    assert_eq!(evidence(&report, "firewall-rule").len(), 1, "{report}");
}

/// A port the server publishes by DNAT to a namespace behind it whose program listens, but
/// which has no route back to the client (no default route: the request arrives, the reply is
/// never sent). The inner namespace sees the client's own address, not the server's: its
/// missing route is the cause, not "a firewall drops it". Port 46581 is this test's.
#[test]
fn a_published_port_to_a_namespace_without_a_route_back_names_the_route() {
    let test = "a_published_port_to_a_namespace_without_a_route_back_names_the_route";
    let Some(lab) = Lab::or_skip_needing(test, &[Tool::Iptables]) else {
        return;
    };
    let (container, _, host) = docker_host(&lab, 'r', 101, 103, 46_581);
    container.ip(&["route", "del", "default"]).unwrap();
    let _program = listen_in(
        &container,
        SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 80),
    );
    let report = why(&lab, &["--timeout", "2s", &format!("{host}:46581")]);
    assert_eq!(cause(&report), "filtered", "{report}");
    let summary = report["summary"].as_str().unwrap();
    assert!(
        summary.contains(&format!(
            "that namespace has no route back to {CLIENT_V4}, this host's address"
        )),
        "{report}"
    );
    // The server masquerades what it forwards there (the container then sees the server's own
    // address, which it reaches), and the container drops that address: no route back is
    // missing, and none is said to be (review h22).
    let pid = std::process::id();
    let gateway = Ipv4Addr::new(10, 102, (pid >> 8) as u8, (pid & 0xff) as u8);
    lab.server
        .iptables(&[
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            "r0",
            "-j",
            "MASQUERADE",
        ])
        .unwrap();
    #[rustfmt::skip]
    container
        .iptables(&["-A", "INPUT", "-s", &gateway.to_string(), "-p", "tcp", "--dport", "80", "-j", "DROP"])
        .unwrap();
    let report = why(&lab, &["--timeout", "2s", &format!("{host}:46581")]);
    assert_eq!(cause(&report), "filtered", "{report}");
    assert!(
        !report["summary"]
            .as_str()
            .unwrap()
            .contains("no route back"),
        "{report}"
    );
    drop(container);
}
